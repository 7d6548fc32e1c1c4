/* SPDX-License-Identifier: Apache-2.0 */
/* vexfs-watch's loop: the watches, their emitter, and the wait on the watch descriptor. */
#ifndef WT_SERVER_H
#define WT_SERVER_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "vx_metrics.h"
#include "vx_sock.h"
#include "wt_config.h"

typedef struct wt_server wt_server_t;

/* Starts the emitter and watches dirs[0..n) (borrowed). Blocks the stop signals in the calling
 * thread (see vx_daemon_block_stops). cfg is read here only; socks and metrics are borrowed
 * and must outlive the server. Returns NULL with a message in err; *usage is set when the
 * fault is the command line's (a directory that is not one). */
wt_server_t *wt_server_new(const struct wt_config *cfg, const vx_socks_t *socks,
                           vx_metrics_t *metrics, char *const *dirs, size_t n, bool *usage,
                           char *err, size_t errlen);
/* Removes the watches, then delivers what is queued (at most shutdown_timeout_ms). */
void wt_server_destroy(wt_server_t **s);

/* Handles file activity until *stop. Returns 0, or -EIO when reading the events failed. */
int wt_server_run(wt_server_t *s, volatile sig_atomic_t *stop);

/* The /ready callback: ready while watching. arg is the server. */
bool wt_server_ready(void *arg, json_t *detail);

#endif
