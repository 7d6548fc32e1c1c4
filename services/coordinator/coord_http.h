/* SPDX-License-Identifier: Apache-2.0 */
/* REST routes of the coordinator (configuration routes come from vx_daemon).
 *
 * Writes (POST /v1/events, conflict resolution, membership, leadership) go to the leader: a
 * follower answers 421 with {"error":..., "leader":{"id":N,"rest":"ip:port"}} so the client
 * can retry there (only a leader heard from within a few heartbeats is named; otherwise 503
 * no_leader with Retry-After), and a node cut off from the majority answers 503
 * "partitioned". Reads of the replicated state (/v1/state, /v1/log, /v1/conflicts,
 * /v1/stats) take ?consistency=linearizable (default: the leader, after a read index
 * round), leader (the leader's applied state) or any (this node's applied state, which may
 * lag). /v1/cluster is this node's own view and always answered locally. */
#ifndef COORD_HTTP_H
#define COORD_HTTP_H

#include "coord_fsm.h"
#include "coord_raft.h"
#include "vx_http.h"

typedef struct coord_http coord_http_t;

struct coord_http_opts {
    uint64_t node_id;
    int apply_timeout_ms;     /* also the longest a read waits for its read index */
    int transfer_timeout_ms;
    int member_timeout_ms;
};

/* Registers the route table on http (before it starts) and the /ready callback. raft, fsm and
 * metrics are borrowed and must outlive the routes. Returns NULL with a message in err when the
 * table is refused (a programming error, caught by the tests). */
coord_http_t *coord_http_new(vx_http_t *http, coord_raft_t *raft, coord_fsm_t *fsm,
                             vx_metrics_t *metrics, const struct coord_http_opts *opts, char *err,
                             size_t errlen);
void coord_http_destroy(coord_http_t **h);

/* The route table (static, n rows), for the test that checks every route's role. */
const struct vx_http_route_def *coord_http_route_table(size_t *n);

#endif
