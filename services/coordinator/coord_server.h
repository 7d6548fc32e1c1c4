/* SPDX-License-Identifier: Apache-2.0 */
/* The coordinator as one object: its state machine, its raft node (with the peer transport and
 * the ZeroMQ input, on the raft thread) and its REST routes, built from the bound configuration
 * and run until the daemon is asked to stop.
 *
 *     coord_server_t *s;
 *     coord_server_alloc(&s, &cfg, &deps, err, sizeof err);
 *     vx_daemon_serve(&d);                          // REST starts answering
 *     coord_server_run(s, &vx_daemon_stop);         // until SIGTERM
 *     vx_http_stop(d.http);                         // no handler runs any more
 *     coord_server_destroy(&s);
 *
 * The work happens on the raft thread and on the REST workers; the thread that calls
 * coord_server_run only waits for a stop signal (signals are let in during that wait alone, see
 * vx_daemon_block_stops). */
#ifndef COORD_SERVER_H
#define COORD_SERVER_H

#include <signal.h>
#include <stddef.h>

#include "coord_config.h"
#include "vx_http.h"
#include "vx_metrics.h"
#include "vx_seal.h"
#include "vx_sock.h"

typedef struct coord_server coord_server_t;

/* What the server borrows from the daemon; everything must outlive it. */
struct coord_server_deps {
    vx_metrics_t *metrics;
    vx_http_t *http;                     /* routes are added to it: before it starts */
    const vx_socks_t *socks;             /* opens the ZeroMQ input */
    const struct vx_security_config *security; /* keys_dir and identity of the raft keys */
    const vx_sealer_t *sealer;           /* seals raft entries and snapshots; NULL: plaintext */
    const char *data_keys_dir, *seal_algorithm; /* where sealer's keys came from */
};

/* Builds and starts everything but the REST server (raft runs when this returns). cfg's
 * strings are copied where kept. Returns 0 and *out (caller owns), or with a message in err
 * -EINVAL (the configuration: members, keys) or -EIO (raft could not start). */
int coord_server_alloc(coord_server_t **out, const struct coord_config *cfg,
                       const struct coord_server_deps *deps, char *err, size_t errlen);
/* Waits until *stop is set. Returns 0. */
int coord_server_run(coord_server_t *s, volatile sig_atomic_t *stop);
/* Applies the reloadable keys of a new configuration (PUT /v1/config, any thread). */
void coord_server_apply(coord_server_t *s, const struct coord_config *cfg);
/* Stops raft (after the REST server stopped: handlers use the node) and frees everything.
 * Accepts NULL. */
void coord_server_destroy(coord_server_t **s);

#endif
