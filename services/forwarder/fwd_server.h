/* SPDX-License-Identifier: Apache-2.0 */
/* The forwarder loop: reads kernel records, translates them, batches the events and pushes
 * the batches to propagation over ZeroMQ.
 *
 * Batches are packed when they close and kept in a bounded queue until ZeroMQ takes them, so
 * propagation may restart at will: while it is unreachable the queue fills, and when the
 * queue is full the input is no longer read (the kernel ring drops then, and the module and
 * the sequence gaps count it). One thread owns everything; REST threads read atomics only. */
#ifndef FWD_SERVER_H
#define FWD_SERVER_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "vx_config.h"
#include "vx_metrics.h"

typedef struct fwd_server fwd_server_t;

/* device: the record source (NULL: the configured one). cfg and metrics are borrowed and
 * must outlive the server. Returns NULL with a message in err. */
fwd_server_t *fwd_server_new(const vx_config_t *cfg, const char *device, vx_metrics_t *metrics,
                             char *err, size_t errlen);
void fwd_server_destroy(fwd_server_t **s);

/* Runs until *stop, then delivers buffered batches for at most shutdown_timeout_ms (the rest
 * are counted as dropped with reason shutdown). Returns 0, or -ETIMEDOUT when some were. */
int fwd_server_run(fwd_server_t *s, volatile sig_atomic_t *stop);

/* For /ready: true once the input is open. Thread-safe. */
bool fwd_server_ready(fwd_server_t *s, json_t *detail);

#endif
