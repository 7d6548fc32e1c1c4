/* SPDX-License-Identifier: Apache-2.0 */
/* The ZeroMQ input: batches from routing's coordinator boundary, proposed as raft entries.
 *
 * Only the leader attaches its socket (connects or binds input_endpoint); a node that loses
 * leadership detaches it, so a follower never holds batches it cannot commit.
 *
 * Plain: a PULL fed by routing's PUSH. Batches in flight when leadership moves are lost,
 * counted in vexfs_consensus_failures_total{reason="commit"}.
 *
 * Acknowledged (input_acked): a ROUTER connected to routing's bound DEALER (boundary_acked),
 * read through vx_ackin. Each batch proposed gets an epoch, the count of the input's
 * proposals; `reached` is the last epoch up to which every proposal was committed and
 * applied, and a batch is acknowledged once reached passes its epoch (flushed from the raft
 * loop after each applied entry). A proposal that fails (leadership lost, disk full, not
 * leader) is never acknowledged, nor is any after it: the receiver is made anew (queued
 * acknowledgements dropped, the batches it took forgotten), so routing's resends are taken
 * again, by the next leader or by this one. A receiver is also made anew at every attach. So
 * every batch routing sent reaches the replicated log at least once; an entry committed whose
 * acknowledgement was lost (leader killed) is committed again by the next leader, and the
 * state machine skips events whose id it applied before (coord_fsm_id_seen). The senders
 * record (batches acknowledged) is kept in data_dir, sealed with the node's sealer.
 *
 * The socket is served inside the raft loop: ZMQ_FD is
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
/* The outcome of the input's proposal `epoch` (coord_op.input_epoch): status 0 applied. */
void coord_input_finished(coord_input_t *in, uint64_t epoch, int status);
/* Sends the acknowledgements that the applied proposals allow (acknowledged input). */
void coord_input_flush(coord_input_t *in);
void coord_input_destroy(coord_input_t **in);

#endif
