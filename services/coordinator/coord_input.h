/* SPDX-License-Identifier: Apache-2.0 */
/* The ZeroMQ input: batches from routing's coordinator boundary, proposed as raft entries.
 *
 * Only the leader attaches its PULL socket (connects or binds input_endpoint); a node that
 * loses leadership detaches it. Routing's PUSH therefore delivers to the leader alone, and a
 * follower never holds batches it cannot commit. Batches in flight when leadership moves are
 * counted in vexfs_consensus_failures_total{reason="commit"}; producers that need every event
 * acknowledged use POST /v1/events. The socket is served inside the raft loop: ZMQ_FD is
 * edge-triggered, so every wake-up drains until ZMQ_EVENTS shows nothing, and the status timer
 * drains too in case an edge was missed. At most S_MAX_INFLIGHT proposals are outstanding;
 * beyond that the socket is left to fill, which pushes back on routing. Loop thread only. */
#ifndef COORD_INPUT_H
#define COORD_INPUT_H

#include <stdbool.h>

#include "coord_raft_priv.h"

coord_input_t *coord_input_new(coord_raft_t *r, const vx_socks_t *socks, const char *endpoint);
/* Attaches the socket when leader is true, detaches it otherwise; drains what is waiting. */
void coord_input_update(coord_input_t *in, bool leader);
void coord_input_destroy(coord_input_t **in);

#endif
