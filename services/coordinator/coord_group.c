/* SPDX-License-Identifier: Apache-2.0 */
/* Group commit: the write requests that reach the raft loop while earlier entries are still
 * in flight go out together as one GROUP entry (see coord_fsm.h), one part per request.
 *
 * Why: every raft entry costs a disk write with fsync on each node, a replication message and
 * an apply callback. Holding requests back while COORD_GROUP_MAX_INFLIGHT entries are
 * unacknowledged lets a busy leader fold the requests of that time into the next entry, while
 * an idle leader proposes a lone request at once (no added latency). libraft writes the
 * leader's copy while it sends the entry to the followers, so the disk writes of one round
 * overlap. Each request then gets its own part of the entry's results, and the entry's
 * index; the whole entry is applied under one lock of the state machine. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "coord_input.h"
#include "coord_raft_priv.h"
#include "coord_seal.h"
#include "vx_log.h"
#include "vx_mem.h"

/* One proposed entry and the requests it carries (ops[i] is part i). */
struct s_group {
    struct raft_apply req;
    coord_raft_t *r;
    uint64_t term; /* the leader's term when proposed */
    size_t n;
    struct coord_op *ops[];
};

void
coord_group_add(coord_raft_t *r, struct coord_op *op)
{
    op->owner = r;
    r->inflight++;
    if (r->closing) {
        coord_op_finish(op, -ESHUTDOWN, "shutting down");
        return;
    }
    op->next = NULL;
    if (r->pend_tail) {
        r->pend_tail->next = op;
    } else {
        r->pend_head = op;
    }
    r->pend_tail = op;
    r->pend_n++;
    r->pend_bytes += coord_part_size(op->part_len);
}

void
coord_group_fail_pending(coord_raft_t *r, int status, const char *why)
{
    while (r->pend_head) {
        struct coord_op *op = r->pend_head;
        r->pend_head = op->next;
        coord_op_finish(op, status, "%s", why);
    }
    r->pend_tail = NULL;
    r->pend_n = 0;
    r->pend_bytes = 0;
}

static void
cb_group_applied(struct raft_apply *req, int status, void *result)
{
    struct s_group *g = req->data;
    coord_raft_t *r = g->r;
    r->groups_inflight--;
    const struct coord_apply_results *res = result;
    for (size_t i = 0; i < g->n; i++) {
        struct coord_op *op = g->ops[i];
        op->res.index = req->index;
        if (status != 0 && r->disk.blocked_term == g->term) {
            /* The leader could not write the entry: the followers may still hold it. */
            coord_op_finish(op, -ENOSPC, "this node could not write entry %llu to its disk (%s)",
                            (unsigned long long)req->index, coord_disk_why(r));
        } else if (status != 0) {
            coord_op_finish(op, coord_raft_errno(status), "%s", raft_strerror(status));
        } else if (!res || i >= res->n) {
            coord_op_finish(op, -EIO, "entry %llu has no result for part %zu",
                            (unsigned long long)req->index, i);
        } else {
            op->res.apply = res->r[i];
            json_incref(op->res.apply.current);
            coord_op_finish(op, 0, NULL);
        }
    }
    free(g);
    if (r->input) {
        coord_input_flush(r->input); /* the batches this entry committed may be answered */
    }
    /* Not from inside libraft's callback (it may be failing requests while stepping down):
     * the next loop iteration proposes what waited. */
    uv_async_send(&r->async);
}

/* Takes up to COORD_GROUP_MAX_OPS queued requests (at least one, whatever its size) into one
 * entry and proposes it. */
static void
s_propose_one(coord_raft_t *r)
{
    size_t n = 0, bytes = 0;
    for (struct coord_op *op = r->pend_head; op && n < COORD_GROUP_MAX_OPS; op = op->next) {
        size_t sz = coord_part_size(op->part_len);
        if (n > 0 && bytes + sz > COORD_GROUP_MAX_BYTES) {
            break;
        }
        bytes += sz;
        n++;
    }
    struct s_group *g = vx_calloc(1, sizeof *g + n * sizeof g->ops[0]);
    g->r = r;
    g->term = r->raft.current_term;
    g->n = n;
    g->req.data = g;
    /* Whole 8-byte words (parts are padded): entries of other lengths did not read back
     * correctly from raft 0.15's segments after a restart. */
    uint8_t *base = raft_malloc(COORD_ENTRY_HDR + bytes);
    if (!base) {
        vx_oom(COORD_ENTRY_HDR + bytes);
    }
    struct raft_buffer buf = {.len = COORD_ENTRY_HDR + bytes, .base = base};
    coord_entry_header(base, COORD_ENTRY_GROUP, r->opts.node_id, bytes);
    uint8_t *p = base + COORD_ENTRY_HDR;
    for (size_t i = 0; i < n; i++) {
        struct coord_op *op = r->pend_head;
        r->pend_head = op->next;
        op->next = NULL;
        r->pend_n--;
        r->pend_bytes -= coord_part_size(op->part_len);
        coord_part_write(p, op->part_kind, op->part, op->part_len);
        p += coord_part_size(op->part_len);
        g->ops[i] = op;
    }
    if (!r->pend_head) {
        r->pend_tail = NULL;
    }
    if (r->opts.sealer) {
        /* Sealed before raft sees it: the log on every node holds only the record. */
        size_t slen = coord_seal_size(buf.len);
        uint8_t *sealed = raft_malloc(slen);
        if (!sealed) {
            vx_oom(slen);
        }
        if (coord_seal_wrap(r->opts.sealer, COORD_SEAL_ENTRY, r->opts.node_id, buf.base, buf.len,
                            sealed) < 0) {
            vx_oom(slen); /* the capacity is computed for it: a programming error */
        }
        raft_free(buf.base);
        buf = (struct raft_buffer){.len = slen, .base = sealed};
    }
    int rv = raft_apply(&r->raft, &g->req, &buf, 1, cb_group_applied);
    if (rv != 0) {
        raft_free(buf.base);
        int status = coord_raft_errno(rv);
        for (size_t i = 0; i < n; i++) {
            coord_op_finish(g->ops[i], status, "%s", raft_errmsg(&r->raft));
        }
        free(g);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        g->ops[i]->res.proposed = true;
    }
    r->groups_inflight++;
    vx_counter_add(r->m_entries, 1);
    vx_counter_add(r->m_grouped, n);
}

void
coord_group_flush(coord_raft_t *r)
{
    if (r->closing) {
        coord_group_fail_pending(r, -ESHUTDOWN, "shutting down");
        return;
    }
    if (r->pend_head && raft_state(&r->raft) != RAFT_LEADER) {
        /* Nothing was proposed: certainly not done, the client may go to the leader. */
        coord_group_fail_pending(r, -ENOTCONN, "this node is not the leader");
        return;
    }
    if (r->pend_head && coord_disk_blocked(r)) {
        /* Not proposed (see coord_raft_disk.c): certainly not done. */
        char why[400];
        snprintf(why, sizeof why,
                 "this node's disk is full (%s): nothing was written; leadership is being "
                 "handed to another member",
                 coord_disk_why(r));
        coord_group_fail_pending(r, -ENOSPC, why);
        return;
    }
    while (r->pend_head && r->groups_inflight < COORD_GROUP_MAX_INFLIGHT) {
        s_propose_one(r);
    }
}
