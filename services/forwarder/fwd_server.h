/* SPDX-License-Identifier: Apache-2.0 */
/* The forwarder loop: reads kernel records, translates them, batches the events and hands
 * the batches to the link to propagation (vx_link.h: acknowledged and resent with
 * ack_endpoint, plain PUSH without).
 *
 * Batches are packed when they close and kept in the link's bounded buffer until propagation
 * took them, so propagation may restart (or be killed) at will: while it is unreachable the
 * buffer fills, and when it is full the input is no longer read (counted in
 * vexfs_forwarder_backpressure_total; the kernel ring then drops, and the module and the
 * kernel sequence gaps count it). One thread owns everything; REST threads read atomics
 * only. */
#ifndef FWD_SERVER_H
#define FWD_SERVER_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "fwd_config.h"
#include "vx_config.h"
#include "vx_metrics.h"
#include "vx_sock.h"

typedef struct fwd_server fwd_server_t;

/* device: the record source (NULL: the configured one). cfg is read here only; socks and
 * metrics are borrowed and must outlive the server. Returns NULL with a message in err. */
fwd_server_t *fwd_server_new(const struct fwd_config *cfg, const vx_socks_t *socks,
                             const char *device, vx_metrics_t *metrics, char *err,
                             size_t errlen);
void fwd_server_destroy(fwd_server_t **s);

/* Runs until *stop, then delivers buffered batches for at most shutdown_timeout_ms (the rest
 * are counted as dropped with reason shutdown). Returns 0, or -ETIMEDOUT when some were. */
int fwd_server_run(fwd_server_t *s, volatile sig_atomic_t *stop);

/* For /ready: true once the input is open. Thread-safe. */
bool fwd_server_ready(fwd_server_t *s, json_t *detail);

#endif
