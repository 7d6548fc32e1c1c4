/* SPDX-License-Identifier: Apache-2.0 */
/* The raft node's internals, shared by the loop (coord_raft.c), its status and metrics
 * (coord_raft_status.c) and the ZeroMQ input (coord_input.c). Loop-thread fields are marked. */
#ifndef COORD_RAFT_INT_H
#define COORD_RAFT_INT_H

#include <pthread.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <uv.h>

#include "coord_raft.h"

typedef struct coord_input coord_input_t;

enum {
    COORD_OP_APPLY = 1,
    COORD_OP_TRANSFER,
    COORD_OP_ADD,
    COORD_OP_REMOVE,
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
    struct raft_buffer buf;    /* APPLY: raft_malloc'd entry until raft takes it */
    uint64_t id;               /* TRANSFER, ADD, REMOVE */
    struct coord_member member;
    bool assigned;
    bool fire_and_forget;      /* ZeroMQ input: nobody waits */
    struct raft_apply apply;
    struct raft_change change;
    struct raft_transfer transfer;
    struct coord_op_result res;
};

struct coord_status_member {
    uint64_t id;
    char addr[64];
    int role;
    int64_t last_contact_ms; /* -1: unknown */
    bool healthy;
};

struct coord_raft {
    struct coord_raft_opts opts;
    char data_dir[1024];
    char input_ep[1024];
    coord_fsm_t *fsm;
    pthread_t thread;
    bool thread_started;

    /* loop thread */
    uv_loop_t loop;
    struct raft_uv_transport transport;
    struct raft_io io;
    struct raft_fsm fsm_iface;
    struct raft raft;
    uv_async_t async;
    uv_timer_t timer;
    bool loop_ready, transport_ready, io_ready, raft_ready, handles_ready, closing;
    unsigned inflight;
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

    /* metrics */
    vx_histogram_t *m_latency;
    vx_counter_t *m_slow, *m_failures, *m_leader_changes, *m_partitions;
    vx_counter_t *m_input_batches, *m_input_dropped, *m_input_events;
    vx_gauge_t *m_term, *m_commit, *m_leader, *m_healthy, *m_members, *m_partitioned;
};

void coord_op_release(struct coord_op *op);
void coord_op_finish(struct coord_op *op, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void coord_raft_propose(coord_raft_t *r, struct coord_op *op);
void coord_raft_close(coord_raft_t *r);
void coord_raft_cb_tick(uv_timer_t *t);
void coord_raft_metrics_init(coord_raft_t *r, vx_metrics_t *m);
/* Records a member's REST/input ports (under st_mu). */
void coord_raft_remember(coord_raft_t *r, const struct coord_member *m);
bool coord_raft_has_voter(coord_raft_t *r, uint64_t id);

#endif
