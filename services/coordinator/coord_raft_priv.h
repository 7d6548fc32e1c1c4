/* SPDX-License-Identifier: Apache-2.0 */
/* The raft node's internals, shared by the loop (coord_raft.c), group commit (coord_group.c),
 * the read index (coord_read.c), the I/O wrapper (coord_raft_io.c), its status and metrics
 * (coord_raft_status.c) and the ZeroMQ input (coord_input.c). Loop-thread fields are marked. */
#ifndef COORD_RAFT_PRIV_H
#define COORD_RAFT_PRIV_H

#include <pthread.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <uv.h>

#include "coord_raft.h"
#include "coord_reseal.h"
#include "vx_drop.h"

typedef struct coord_input coord_input_t;

/* Leadership probes carry prev_log_index = COORD_PROBE_BASE + cookie (see coord_raft_io.c). */
#define COORD_PROBE_BASE (UINT64_C(1) << 62)
/* Group commit: entries proposed but not applied yet, and the most requests one entry holds.
 * One entry in flight measured best (bench_coordinator, 4 clients with batches of 100: about
 * twice the events/s of two in flight, the same commit latency): everything that arrives
 * during one replication round and fsync goes out in the next entry. */
#define COORD_GROUP_MAX_INFLIGHT 1
#define COORD_GROUP_MAX_OPS 1024
#define COORD_GROUP_MAX_BYTES (16u << 20)

enum {
    COORD_OP_APPLY = 1,
    COORD_OP_TRANSFER,
    COORD_OP_ADD,
    COORD_OP_REMOVE,
    COORD_OP_READ,
};

/* libraft talks to `outer`; every call goes on to libuv's `inner` (coord_raft_io.c). */
struct coord_io {
    struct raft_io outer;
    struct raft_io *inner;
    coord_raft_t *r;
    raft_io_tick_cb tick_cb;
    raft_io_recv_cb recv_cb;
    raft_io_close_cb close_cb;
};

/* The read index's state (coord_read.c), loop thread. Reads wait in one of four lists: for an
 * entry of the leader's own term to commit, for the next leadership round, in the round in
 * flight, or (confirmed) for the state machine to reach their read index. */
struct coord_reads {
    uint64_t ready_term;       /* an entry of this term was applied: reads may be served */
    bool barrier_busy;
    uint64_t barrier_term;
    struct raft_barrier barrier;
    struct coord_op *wait_ready, *next, *round, *wait_apply;
    bool round_active;
    uint64_t cookie, round_term;
    raft_time round_sent_ms;
    raft_id acked[COORD_MAX_MEMBERS * 2];
    unsigned n_acked, needed;
};

/* An operation travelling to the loop and back; two references (caller's, loop's). */
struct coord_op {
    atomic_int refs;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int kind;
    uint64_t start_ns;
    struct coord_op *next;
    coord_raft_t *owner;
    int part_kind;             /* APPLY: the request's part of a group entry */
    uint8_t *part;             /* malloc'd, owned */
    size_t part_len;
    int read_mode;             /* READ: enum coord_consistency */
    uint64_t read_index;       /* READ: commit index when the read reached the loop */
    uint64_t id;               /* TRANSFER, ADD, REMOVE */
    struct coord_member member;
    bool assigned;
    bool fire_and_forget;      /* ZeroMQ input: nobody waits */
    uint64_t input_epoch;      /* ZeroMQ input: the proposal's epoch (coord_input.h); 0 none */
    struct raft_change change;
    struct raft_transfer transfer;
    struct coord_op_result res;
};

/* The disk guard's state (coord_raft_disk.c), loop thread. */
struct coord_disk_op;
struct coord_disk {
    struct coord_disk_op *head, *tail; /* log writes, truncations, snapshot writes not yet
                                          answered to libraft, in libraft's order (owned) */
    uint64_t retry_at;     /* raft time (ms) when held writes go again */
    uint64_t blocked_term; /* a leader write of this term failed: nothing more is proposed in it */
    bool full;             /* an episode is open: the last local write failed */
    bool closing, pumping, delivering, order_warned;
    char why[256];         /* the first failure's message */
};

struct coord_status_member {
    uint64_t id;
    char addr[64];
    int role;
    int64_t last_contact_ms; /* -1: unknown */
    int64_t lag;             /* entries behind the leader's last index; -1: unknown */
    bool healthy;
    bool known;              /* this node can tell the member's health (else: the leader's view) */
};

struct coord_raft {
    struct coord_raft_opts opts;
    vx_metrics_t *metrics;
    char data_dir[1024];
    char input_ep[1024];
    coord_fsm_t *fsm;
    pthread_t thread;
    bool thread_started;

    /* loop thread */
    uv_loop_t loop;
    struct raft_uv_transport transport;
    struct raft_io io;         /* libuv's */
    struct coord_io iow;       /* what libraft uses */
    struct raft_fsm fsm_iface;
    struct raft raft;
    uv_async_t async;
    uv_timer_t timer;
    bool loop_ready, transport_ready, io_ready, raft_ready, handles_ready, closing;
    unsigned inflight;         /* APPLY operations queued here or proposed */
    struct coord_op *pend_head, *pend_tail; /* APPLY operations not proposed yet */
    size_t pend_n, pend_bytes;
    unsigned groups_inflight;  /* group entries proposed, not applied */
    struct coord_reads reads;
    struct coord_disk disk;
    unsigned leader_stale_ms;  /* a follower vouches for a leader heard from this recently */
    uint64_t no_leader_since_ns;
    uint64_t leader_alone_since_ns; /* first tick the leader lacked a majority, 0: has one */
    int last_state;
    uint64_t last_leader;
    coord_input_t *input;

    /* queue and start handshake, under q_mu */
    pthread_mutex_t q_mu;
    pthread_cond_t start_cv;
    struct coord_op *q_head, *q_tail;
    bool stop_requested, started;
    int start_rc;
    char start_err[512];

    /* status, under st_mu (written by the loop) */
    pthread_mutex_t st_mu;
    int state;
    bool partitioned;
    uint64_t term, commit_index, last_applied, last_index;
    struct coord_status_member st_members[COORD_MAX_MEMBERS];
    size_t st_n;
    struct coord_member known[COORD_MAX_MEMBERS * 2]; /* REST ports by id */
    size_t n_known;
    atomic_uint_fast64_t leader_id;
    atomic_uint max_latency_ms;
    atomic_bool failed;        /* a sealed entry or snapshot did not open */
    /* The leader's view of the members, as its last view frame said (coord_peer.h), under
     * st_mu: what a follower shows for members it cannot observe itself. */
    json_t *view;
    uint64_t view_from, view_ns;
    uint64_t view_sent_ns;     /* loop thread: when this node last sent its view as leader */

    /* data keys read again (coord_raft_keys.c), loop thread; the metrics read seal_key_id */
    char keys_dir[1024], seal_alg[32];
    vx_sealer_t *reloaded[8];  /* sealers loaded since start, newest last, freed at destroy */
    size_t n_reloaded;
    atomic_uint_fast32_t seal_key_id;
    const vx_sealer_t *snap_sealer; /* the sealer a snapshot in progress is sealed with */
    /* snapshots (coord_raft_snap.c), loop thread but snap_seal_ns (the thread pool) */
    bool snap_async;           /* libraft's FSM version 3: sealed on the thread pool */
    size_t snap_plain_len;
    uint64_t snap_index, snap_loop_ns;
    atomic_uint_fast64_t snap_seal_ns;
    /* re-seal scans (coord_reseal.c): loop thread, `last` and `scans` under st_mu */
    struct {
        uv_work_t work;
        bool running, again, behind;
        uint32_t key_id;
        struct coord_reseal_counts last;
        uint64_t scans;
    } reseal;

    /* metrics */
    vx_histogram_t *m_snapshot_seal;
    vx_histogram_t *m_latency;
    vx_counter_t *m_slow, *m_failures, *m_leader_changes, *m_partitions;
    vx_counter_t *m_input_batches, *m_input_events;
    struct vx_drops m_input_drops; /* batches the input refused, by reason */
    vx_counter_t *m_entries, *m_grouped, *m_rounds, *m_reads[3];
    vx_histogram_t *m_read_latency, *m_snapshot;
    vx_counter_t *m_disk_failures[2]; /* log, snapshot */
    vx_gauge_t *m_disk_full;
    vx_gauge_t *m_term, *m_commit, *m_leader, *m_healthy, *m_members, *m_partitioned;
};

struct coord_op *coord_op_new(int kind, int refs);
void coord_op_release(struct coord_op *op);
void coord_op_finish(struct coord_op *op, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Maps a libraft status onto our negative errno. */
int coord_raft_errno(int rv);
void coord_raft_close(coord_raft_t *r);
/* Loop thread: the leader this node can vouch for (itself while leading, else the leader it
 * heard from within leader_stale_ms), 0 when none. */
uint64_t coord_raft_live_leader(coord_raft_t *r);

/* Group commit (coord_group.c), loop thread: queue an APPLY operation (takes the loop's
 * reference), propose what is queued while fewer than COORD_GROUP_MAX_INFLIGHT entries are in
 * flight, fail what is queued. */
void coord_group_add(coord_raft_t *r, struct coord_op *op);
void coord_group_flush(coord_raft_t *r);
void coord_group_fail_pending(coord_raft_t *r, int status, const char *why);

/* The read index (coord_read.c), loop thread. */
void coord_read_add(coord_raft_t *r, struct coord_op *op);
void coord_read_probe_answer(coord_raft_t *r, raft_id from, uint64_t term, uint64_t cookie);
void coord_read_applied(coord_raft_t *r, uint64_t index);
void coord_read_tick(coord_raft_t *r);
void coord_read_fail_all(coord_raft_t *r, int status, const char *why);

/* The disk guard (coord_raft_disk.c), loop thread: the I/O wrapper's append goes through it;
 * blocked: this leader's term saw a failed local write, so nothing more may be proposed in it
 * (callers refuse with -ENOSPC and coord_disk_why). */
int coord_disk_append(coord_raft_t *r, struct raft_io_append *req, const struct raft_entry entries[],
                      unsigned n, raft_io_append_cb cb);
int coord_disk_truncate(coord_raft_t *r, raft_index index);
int coord_disk_snapshot_put(coord_raft_t *r, unsigned trailing, struct raft_io_snapshot_put *req,
                            const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb);
/* tick: submits held writes whose retry is due; close: before the inner I/O closes, answers
 * RAFT_CANCELED to what it never saw. */
void coord_disk_tick(coord_raft_t *r);
void coord_disk_close(coord_raft_t *r);
bool coord_disk_blocked(coord_raft_t *r);
const char *coord_disk_why(coord_raft_t *r);

/* The I/O wrapper (coord_raft_io.c). */
void coord_io_wrap(struct coord_io *w, struct raft_io *inner, coord_raft_t *r);
/* Sends one leadership probe; 0 or -EIO. */
int coord_io_send_probe(coord_raft_t *r, raft_id id, const char *address, uint64_t term,
                        uint64_t cookie);

void coord_raft_cb_tick(uv_timer_t *t);
/* A sealed record names a key this node has not loaded (-ENOKEY from coord_seal_open): reads
 * the data keys again (coord_raft_keys.c). Returns true when they now include a key they did
 * not before, and r->opts.sealer is the new sealer (new records are sealed with its newest
 * key); the earlier sealer stays valid until coord_raft_keys_fini. Loop thread. */
bool coord_raft_keys_reload(coord_raft_t *r);
void coord_raft_keys_fini(coord_raft_t *r);

/* A sealed entry or snapshot that does not open: logs what and why, marks the node failed and
 * stops it. Loop thread. */
void coord_raft_fatal(coord_raft_t *r, const char *what, const char *err);

/* Snapshots (coord_raft_snap.c): fills fsm with apply and the snapshot callbacks (libraft's
 * version 3, sealing on the thread pool, when the I/O has one). Loop thread, before raft_init. */
void coord_snap_fsm_init(coord_raft_t *r, struct raft_fsm *fsm,
                         int (*apply)(struct raft_fsm *, const struct raft_buffer *, void **));

/* Re-seal progress (coord_reseal.c). Loop thread: scans data_dir on the thread pool (again after the running scan, if one runs);
 * nothing when encryption is off. */
void coord_reseal_scan_start(coord_raft_t *r);
void coord_reseal_metrics_init(coord_raft_t *r, vx_metrics_t *m);
/* A view frame from node `from` (coord_peer_view_fn), loop thread. */
void coord_raft_on_view(void *arg, uint64_t from, const uint8_t *data, size_t len);
void coord_raft_metrics_init(coord_raft_t *r, vx_metrics_t *m);
/* Records a member's REST/input ports (under st_mu). */
void coord_raft_remember(coord_raft_t *r, const struct coord_member *m);
bool coord_raft_has_voter(coord_raft_t *r, uint64_t id);

#endif
