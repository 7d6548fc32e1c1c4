/* SPDX-License-Identifier: Apache-2.0 */
/* REST routes of the coordinator (configuration routes come from vx_daemon).
 *
 * Writes (POST /v1/events, conflict resolution, membership, leadership) go to the leader: a
 * follower answers 421 with {"error":..., "leader":{"id":N,"rest":"ip:port"}} so the client
 * can retry there, and a node cut off from the majority answers 503 "partitioned". Reads
 * (/v1/cluster, /v1/state, /v1/log, /v1/conflicts) are served by any node from its own
 * applied state, which may lag the leader by a heartbeat. */
#ifndef COORD_HTTP_H
#define COORD_HTTP_H

#include "coord_fsm.h"
#include "coord_raft.h"
#include "vx_http.h"

typedef struct coord_http coord_http_t;

struct coord_http_opts {
    int apply_timeout_ms;
    int transfer_timeout_ms;
    int member_timeout_ms;
};

coord_http_t *coord_http_new(vx_http_t *http, coord_raft_t *raft, coord_fsm_t *fsm,
                             vx_metrics_t *metrics, const struct coord_http_opts *opts);
void coord_http_destroy(coord_http_t **h);

#endif
