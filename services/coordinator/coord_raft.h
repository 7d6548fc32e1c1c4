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
 * Writes are committed in groups: the requests that reach the loop while entries are in
 * flight go out together as one raft entry (one disk write and one replication round for
 * all of them), and each request gets its own part of the result.
 *
 * Reads are linearizable by default: the leader notes its commit index when the read
 * arrives, proves it still leads with a round of probes a majority answers (coord_raft_io.c),
 * and answers once its state machine has applied that index; a new leader answers no read
 * before an entry of its own term was applied. `leader` reads skip the round, `any` reads do
 * not involve raft at all.
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
#include "vx_seal.h"
#include "vx_sock.h"

typedef struct coord_raft coord_raft_t;
struct coord_peer_keys;

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
    bool input_acked;             /* a ROUTER acknowledging applied batches (coord_input.h) */
    size_t input_senders_max;     /* input_acked: senders remembered */
    int input_senders_save_ms;    /* input_acked: fsynced save of the senders record */
    const vx_socks_t *socks;      /* opens the input socket; borrowed, outlives the node */
    unsigned max_latency_ms;
    /* The peer transport (coord_peer.h): NULL is libraft's plain TCP transport; else peers
     * authenticate with these keys (borrowed, outlive the node) within handshake_timeout_ms
     * and the stream is encrypted. */
    const struct coord_peer_keys *peer_keys;
    unsigned handshake_timeout_ms;
    /* Seals entries before they are proposed and snapshots before they are stored (borrowed;
     * NULL: plaintext on disk). */
    const vx_sealer_t *sealer;
    /* Where sealer's keys came from (at_rest.data_keys_dir, at_rest.algorithm; copied): read
     * again when a record names a key this node has not loaded, as a member restarted after a
     * key rotation seals under the new key before the others were restarted. */
    const char *data_keys_dir, *seal_algorithm;
};

/* Retry-After for answers given without a leader: an election's worth, in whole seconds. */
unsigned coord_raft_retry_after_s(const coord_raft_t *r);

/* How current a read must be (the `consistency` query parameter). */
enum coord_consistency {
    COORD_READ_ANY = 0,          /* this node's applied state, whatever its role */
    COORD_READ_LEADER = 1,       /* the leader's applied state, without a leadership round */
    COORD_READ_LINEARIZABLE = 2, /* read index: reflects every write acknowledged before */
};

/* The outcome of an operation. */
struct coord_op_result {
    int status;               /* 0; -ENOTCONN not the leader (see leader); -ETIMEDOUT;
                               * -ESHUTDOWN; -EAGAIN leadership lost (may still commit);
                               * -EBUSY a membership change is in progress; -ENOENT unknown
                               * member; -EINVAL; -EIO other raft errors */
    bool proposed;            /* raft took the entry: a failure may still commit */
    char message[256];
    uint64_t index, term;     /* APPLY: the entry's index; READ: the read index */
    double latency_s;
    uint64_t leader;          /* a leader this node can vouch for, 0 when none */
    bool already_leader;      /* TRANSFER: the target leads already; nothing was done */
    struct coord_apply_result apply; /* APPLY: this request's part (apply.current is owned) */
};

/* Releases what a result holds (apply.current). */
void coord_op_result_fini(struct coord_op_result *res);

/* Starts the raft thread and waits until raft runs (or failed: NULL with err set). The FSM is
 * borrowed and must outlive the node. */
coord_raft_t *coord_raft_new(const struct coord_raft_opts *opts, coord_fsm_t *fsm,
                             vx_metrics_t *metrics, char *err, size_t errlen);
/* Closes raft cleanly and joins the thread. Accepts NULL. */
void coord_raft_destroy(coord_raft_t **r);

/* Proposes one request (a part of kind COORD_ENTRY_EVENTS, _RESOLVE or _CAS, see coord_fsm.h;
 * payload copied) and waits for it to be applied. The caller finis res. */
int coord_raft_submit(coord_raft_t *r, int kind, const void *payload, size_t len, int timeout_ms,
                      struct coord_op_result *res);
/* Waits until this node may answer a read of the given consistency from its state machine
 * (at once for COORD_READ_ANY). 0, or -ENOTCONN (not the leader), -ETIMEDOUT, -ESHUTDOWN. */
int coord_raft_read(coord_raft_t *r, enum coord_consistency mode, int timeout_ms,
                    struct coord_op_result *res);
/* Leadership transfer to id (0: raft picks). */
int coord_raft_transfer(coord_raft_t *r, uint64_t id, int timeout_ms, struct coord_op_result *res);
/* Adds a member (as voter, after it caught up) / removes one. */
int coord_raft_add(coord_raft_t *r, const struct coord_member *m, int timeout_ms,
                   struct coord_op_result *res);
int coord_raft_remove(coord_raft_t *r, uint64_t id, int timeout_ms, struct coord_op_result *res);

/* Counts a read answered with this consistency (vexfs_consensus_reads_total). */
void coord_raft_count_read(coord_raft_t *r, enum coord_consistency mode);

/* GET /v1/cluster's body (new reference). */
json_t *coord_raft_status(coord_raft_t *r);
/* Ready: a leader is known and this node is not partitioned. Adds reasons to detail. */
bool coord_raft_ready(coord_raft_t *r, json_t *detail);
/* The leader's member entry (REST port 0 when unknown); false when no leader is known or the
 * one known has not been heard from for a few heartbeats. */
bool coord_raft_leader(coord_raft_t *r, struct coord_member *out);
/* True when this node cannot reach a majority. */
bool coord_raft_partitioned(coord_raft_t *r);
/* A known member by id (from the configuration or added later). */
bool coord_raft_member(coord_raft_t *r, uint64_t id, struct coord_member *out);
void coord_raft_set_max_latency(coord_raft_t *r, unsigned ms);
/* True once the node stopped applying because a sealed entry or snapshot did not open (it
 * then sent the process SIGTERM). */
bool coord_raft_failed(const coord_raft_t *r);

#endif
