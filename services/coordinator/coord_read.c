/* SPDX-License-Identifier: Apache-2.0 */
/* The read index: when may the leader answer a read from its state machine.
 *
 * A linearizable read must reflect every write acknowledged before it arrived, by this
 * leader or an earlier one. The leader (raft thesis §6.4):
 *  1. answers no read before an entry of its own term was applied: only then does its commit
 *     index cover everything its predecessors acknowledged (libraft 0.15 appends no entry when
 *     elected, so a barrier is proposed as soon as leadership is seen);
 *  2. notes its commit index as the read's index when the read reaches the loop;
 *  3. proves it still leads: a round of probes (coord_raft_io.c) sent after the read arrived,
 *     answered in its own term by a majority of voters (itself included). Each answer was
 *     written after the read arrived by a node that had not moved to a later term, so no
 *     later leader can have acknowledged anything before the read arrived;
 *  4. answers once its state machine applied the read index.
 * Reads arriving while a round is in flight wait for the next one, so under load one round
 * serves many reads. A lost probe is sent again every heartbeat; losing leadership fails the
 * waiting reads (-ENOTCONN), and the client is sent to the new leader. `leader` reads stop
 * after step 1. */
#include <errno.h>
#include <inttypes.h>

#include "coord_raft_priv.h"
#include "vx_log.h"

static void
s_push(struct coord_op **list, struct coord_op *op)
{
    op->next = *list;
    *list = op;
}

static void
s_fail_list(struct coord_op **list, int status, const char *why)
{
    while (*list) {
        struct coord_op *op = *list;
        *list = op->next;
        op->next = NULL;
        coord_op_finish(op, status, "%s", why);
    }
}

void
coord_read_fail_all(coord_raft_t *r, int status, const char *why)
{
    struct coord_reads *rs = &r->reads;
    s_fail_list(&rs->wait_ready, status, why);
    s_fail_list(&rs->next, status, why);
    s_fail_list(&rs->round, status, why);
    s_fail_list(&rs->wait_apply, status, why);
    rs->round_active = false;
}

static bool
s_is_voter(const struct raft *raft, raft_id id, const char **address)
{
    for (unsigned i = 0; i < raft->configuration.n; i++) {
        const struct raft_server *s = &raft->configuration.servers[i];
        if (s->id == id && s->role == RAFT_VOTER) {
            if (address) {
                *address = s->address;
            }
            return true;
        }
    }
    return false;
}

static bool
s_acked(const struct coord_reads *rs, raft_id id)
{
    for (unsigned i = 0; i < rs->n_acked; i++) {
        if (rs->acked[i] == id) {
            return true;
        }
    }
    return false;
}

/* Probes every voter that has not answered this round yet. */
static void
s_send_probes(coord_raft_t *r)
{
    struct coord_reads *rs = &r->reads;
    const struct raft *raft = &r->raft;
    for (unsigned i = 0; i < raft->configuration.n; i++) {
        const struct raft_server *s = &raft->configuration.servers[i];
        if (s->role == RAFT_VOTER && s->id != raft->id && !s_acked(rs, s->id)) {
            coord_io_send_probe(r, s->id, s->address, rs->round_term, rs->cookie);
        }
    }
    rs->round_sent_ms = r->iow.outer.time(&r->iow.outer);
}

/* The round is confirmed: reads whose index is applied are answered, the others wait. */
static void
s_round_done(coord_raft_t *r)
{
    struct coord_reads *rs = &r->reads;
    rs->round_active = false;
    uint64_t applied = r->raft.last_applied;
    while (rs->round) {
        struct coord_op *op = rs->round;
        rs->round = op->next;
        op->next = NULL;
        if (op->read_index <= applied) {
            op->res.index = op->read_index;
            coord_op_finish(op, 0, NULL);
        } else {
            s_push(&rs->wait_apply, op);
        }
    }
}

static void
s_maybe_start_round(coord_raft_t *r)
{
    struct coord_reads *rs = &r->reads;
    if (rs->round_active || !rs->next) {
        return;
    }
    rs->round = rs->next;
    rs->next = NULL;
    rs->round_active = true;
    rs->cookie++;
    rs->round_term = r->raft.current_term;
    rs->n_acked = 0;
    unsigned voters = 0;
    for (unsigned i = 0; i < r->raft.configuration.n; i++) {
        voters += r->raft.configuration.servers[i].role == RAFT_VOTER;
    }
    rs->needed = voters / 2 + 1;
    if (s_is_voter(&r->raft, r->raft.id, NULL)) {
        rs->acked[rs->n_acked++] = r->raft.id;
    }
    vx_counter_add(r->m_rounds, 1);
    if (rs->n_acked >= rs->needed) {
        s_round_done(r);
        return;
    }
    s_send_probes(r);
}

static void cb_barrier(struct raft_barrier *req, int status);

/* Proposes the barrier that makes a new leader ready for reads. */
static void
s_ensure_barrier(coord_raft_t *r)
{
    struct coord_reads *rs = &r->reads;
    if (rs->barrier_busy || r->closing || raft_state(&r->raft) != RAFT_LEADER ||
        rs->ready_term == r->raft.current_term || coord_disk_blocked(r)) {
        return;
    }
    rs->barrier.data = r;
    rs->barrier_term = r->raft.current_term;
    if (raft_barrier(&r->raft, &rs->barrier, cb_barrier) == 0) {
        rs->barrier_busy = true;
    }
    /* else (a leadership transfer is under way): the tick tries again */
}

/* Reads that may be served now: `leader` ones are answered, linearizable ones join the next
 * round. */
static void
s_admit(coord_raft_t *r, struct coord_op *op)
{
    struct coord_reads *rs = &r->reads;
    if (op->read_mode == COORD_READ_LEADER) {
        op->res.index = r->raft.last_applied;
        coord_op_finish(op, 0, NULL);
        return;
    }
    op->read_index = r->raft.commit_index;
    s_push(&rs->next, op);
}

static void
cb_barrier(struct raft_barrier *req, int status)
{
    coord_raft_t *r = req->data;
    struct coord_reads *rs = &r->reads;
    rs->barrier_busy = false;
    if (status != 0 || r->closing || raft_state(&r->raft) != RAFT_LEADER ||
        r->raft.current_term != rs->barrier_term) {
        return; /* the tick fails the waiting reads or proposes another barrier */
    }
    rs->ready_term = rs->barrier_term;
    vx_info("COORD-READ", "leader of term %" PRIu64 " serves reads (its first entry applied)",
            rs->ready_term);
    while (rs->wait_ready) {
        struct coord_op *op = rs->wait_ready;
        rs->wait_ready = op->next;
        op->next = NULL;
        s_admit(r, op);
    }
    s_maybe_start_round(r);
}

void
coord_read_add(coord_raft_t *r, struct coord_op *op)
{
    struct coord_reads *rs = &r->reads;
    op->owner = r;
    op->next = NULL;
    if (r->closing) {
        coord_op_finish(op, -ESHUTDOWN, "shutting down");
        return;
    }
    if (raft_state(&r->raft) != RAFT_LEADER) {
        coord_op_finish(op, -ENOTCONN, "this node is not the leader");
        return;
    }
    if (rs->ready_term != r->raft.current_term) {
        s_push(&rs->wait_ready, op);
        s_ensure_barrier(r);
        return;
    }
    s_admit(r, op);
    s_maybe_start_round(r);
}

void
coord_read_probe_answer(coord_raft_t *r, raft_id from, uint64_t term, uint64_t cookie)
{
    struct coord_reads *rs = &r->reads;
    if (!rs->round_active || cookie != rs->cookie || term != rs->round_term ||
        raft_state(&r->raft) != RAFT_LEADER || r->raft.current_term != term ||
        !s_is_voter(&r->raft, from, NULL) || s_acked(rs, from) ||
        rs->n_acked >= sizeof rs->acked / sizeof rs->acked[0]) {
        return;
    }
    rs->acked[rs->n_acked++] = from;
    if (rs->n_acked >= rs->needed) {
        s_round_done(r);
        s_maybe_start_round(r);
    }
}

void
coord_read_applied(coord_raft_t *r, uint64_t index)
{
    struct coord_reads *rs = &r->reads;
    struct coord_op **pp = &rs->wait_apply;
    while (*pp) {
        struct coord_op *op = *pp;
        if (op->read_index <= index) {
            *pp = op->next;
            op->next = NULL;
            op->res.index = op->read_index;
            coord_op_finish(op, 0, NULL);
        } else {
            pp = &op->next;
        }
    }
}

void
coord_read_tick(coord_raft_t *r)
{
    struct coord_reads *rs = &r->reads;
    if (raft_state(&r->raft) != RAFT_LEADER ||
        (rs->round_active && r->raft.current_term != rs->round_term)) {
        coord_read_fail_all(r, -ENOTCONN, "this node is no longer the leader");
        return;
    }
    s_ensure_barrier(r);
    if (rs->round_active &&
        r->iow.outer.time(&r->iow.outer) - rs->round_sent_ms >= r->opts.heartbeat_ms) {
        s_send_probes(r);
    }
}
