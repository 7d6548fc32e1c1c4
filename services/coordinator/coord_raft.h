/* SPDX-License-Identifier: Apache-2.0 */
/* The raft node: libraft with its libuv backend on a thread of its own, driving the state
 * machine, and the ZeroMQ input served inside the same loop.
 *
 * Every raft_* and uv_* call happens on that thread. Other threads (REST handlers) hand it
 * work through a locked queue and a uv_async; because uv_async coalesces wake-ups, the loop
 * drains the whole queue each time. The caller then waits on the operation's condition
 * variable with a timeout; an operation the caller gave up on is finished and freed by the
 * loop (two references, the last one frees).
 *
 * A status snapshot (role, leader, term, indexes, members and their last contact, partition
 * state) is refreshed by a timer on the loop and read by other threads under a mutex. */
#ifndef COORD_RAFT_H
#define COORD_RAFT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord_config.h"
#include "coord_fsm.h"
#include "vx_metrics.h"

typedef struct coord_raft coord_raft_t;

struct coord_raft_opts {
    uint64_t node_id;
    struct coord_member members[COORD_MAX_MEMBERS];
    size_t n_members;
    bool bootstrap;           /* bootstrap from members when the data dir is empty */
    const char *data_dir;
    const char *raft_bind;    /* "" or NULL: listen on the member address */
    unsigned election_ms, heartbeat_ms, connect_retry_ms;
    unsigned snapshot_threshold, snapshot_trailing;
    bool pre_vote;            /* and immediate partition reporting */
    unsigned cluster_size;
    const char *input_endpoint; /* "" for none */
    unsigned max_latency_ms;
};

/* The outcome of an operation. */
struct coord_op_result {
    int status;               /* 0; -ENOTCONN not the leader (see leader); -ETIMEDOUT;
                               * -ESHUTDOWN; -EAGAIN leadership lost (may still commit);
                               * -EBUSY a membership change is in progress; -ENOENT unknown
                               * member; -EINVAL; -EIO other raft errors */
    char message[256];
    uint64_t index, term;
    double latency_s;
    uint64_t leader;          /* known leader id, 0 when none */
    struct coord_apply_result apply;
};

/* Starts the raft thread and waits until raft runs (or failed: NULL with err set). The FSM is
 * borrowed and must outlive the node. */
coord_raft_t *coord_raft_new(const struct coord_raft_opts *opts, coord_fsm_t *fsm,
                             vx_metrics_t *metrics, char *err, size_t errlen);
/* Closes raft cleanly and joins the thread. Accepts NULL. */
void coord_raft_destroy(coord_raft_t **r);

/* Proposes one entry (header and payload, see coord_fsm.h) and waits for it to be applied. */
int coord_raft_submit(coord_raft_t *r, int kind, const void *payload, size_t len, int timeout_ms,
                      struct coord_op_result *res);
/* Leadership transfer to id (0: raft picks). */
int coord_raft_transfer(coord_raft_t *r, uint64_t id, int timeout_ms, struct coord_op_result *res);
/* Adds a member (as voter, after it caught up) / removes one. */
int coord_raft_add(coord_raft_t *r, const struct coord_member *m, int timeout_ms,
                   struct coord_op_result *res);
int coord_raft_remove(coord_raft_t *r, uint64_t id, int timeout_ms, struct coord_op_result *res);

/* GET /v1/cluster's body (new reference). */
json_t *coord_raft_status(coord_raft_t *r);
/* Ready: a leader is known and this node is not partitioned. Adds reasons to detail. */
bool coord_raft_ready(coord_raft_t *r, json_t *detail);
/* The leader's member entry (REST port 0 when unknown); false when no leader is known. */
bool coord_raft_leader(coord_raft_t *r, struct coord_member *out);
/* True when this node cannot reach a majority. */
bool coord_raft_partitioned(coord_raft_t *r);
/* A known member by id (from the configuration or added later). */
bool coord_raft_member(coord_raft_t *r, uint64_t id, struct coord_member *out);
void coord_raft_set_max_latency(coord_raft_t *r, unsigned ms);

#endif
