/* SPDX-License-Identifier: Apache-2.0 */
/* The disk guard: what this node does when a write to its own raft log fails (a full disk),
 * so that libraft 0.15 never sees a failed log write: a failed write is held and written again
 * until it succeeds, and libraft only ever sees a slow disk.
 *
 * Why: libraft 0.15 mishandles a failed log write in both roles.
 *  - As leader (replication.c appendLeaderCb) it fails the one request at the write's first
 *    index and cuts its in-memory log there. Every later write of the same batch fails too
 *    (libuv's backend fails all queued appends, uv_append.c uvAliveSegmentPrepareCb), and each
 *    cuts again past the end of the log just cut: log.c removeSuffix computes (last - index) + 1,
 *    which wraps around and walks freed memory (the glibc "free(): invalid pointer" abort and
 *    the SIGSEGV seen on a full disk). The next entry then reuses the cut index in the same
 *    term, and heartbeats to followers past the cut send a snapshot that does not exist.
 *  - As follower (appendFollowerCb) it keeps the entries it could not write in memory and
 *    rejects the leader's message; the leader sends them again, libraft finds them in memory
 *    and never writes them. Its next writes land on disk where the unwritten ones belong
 *    (libuv's backend rolled its next index back), and last_stored, a count added to on each
 *    write, no longer names the last index on disk. Such a node answers with a stale match
 *    index and, once elected leader, never counts itself towards a majority: with one other
 *    member behind, the cluster accepted no write at all (the flake of the full-disk test).
 * So every log append goes through one ordered queue here. While nothing has failed an append
 * goes straight to the inner I/O. A failed append is not reported: it is held and submitted
 * again (with every append, truncation and snapshot behind it, in their order) every
 * S_RETRY_MS until it succeeds; callbacks reach libraft in submission order and only with
 * success (or RAFT_CANCELED when the node closes). libuv's backend rolls its next index back
 * for each failed append, so the writes again land where they belong. Truncations and
 * snapshot writes (barriers in libuv's backend) wait in the queue until everything ahead of
 * them is done, so the disk sees the same order libraft asked for.
 *
 * A leader whose own write failed also leaves leadership at once (an answer of the next term
 * from another voter, as libraft would get from a newer leader: it steps down and fails every
 * request it held, "leadership lost"), so a member with a working disk leads meanwhile; its
 * unwritten entries are written when space returns, or replaced by the new leader's. Until it
 * has left (a one-node cluster has no one to hand over to) and until a write succeeds again,
 * it proposes nothing more: writes, barriers and membership changes are refused with -ENOSPC.
 *
 * Assumption: a failed append fails every append queued behind it in libuv's backend (true of
 * a segment that cannot be created, the full-disk case: segments are preallocated, so writes
 * into one do not fail for space).
 *
 * An episode starts with a failed local write (logged once, every failed attempt counted) and
 * ends with the first successful one (logged once). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_raft_priv.h"
#include "vx_log.h"
#include "vx_mem.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define S_LSAN_IGNORE_BEGIN() __lsan_disable()
#define S_LSAN_IGNORE_END() __lsan_enable()
#else
#define S_LSAN_IGNORE_BEGIN() ((void)0)
#define S_LSAN_IGNORE_END() ((void)0)
#endif

/* How long a failed write waits before it is submitted again. */
#define S_RETRY_MS 100

enum s_kind { S_APPEND, S_TRUNCATE, S_PUT };
enum s_state {
    S_WAITING,  /* not submitted yet: something ahead of it is held */
    S_INFLIGHT, /* submitted to the inner I/O */
    S_FAILED,   /* the inner I/O failed it: submitted again after S_RETRY_MS */
    S_DONE,     /* written; its callback waits for those ahead of it */
};

/* One operation libraft asked for, from its call until its callback. */
struct coord_disk_op {
    struct coord_disk_op *next;
    enum s_kind kind;
    enum s_state state;
    int status;             /* S_DONE: what libraft is told */
    struct s_attempt *cur;  /* S_INFLIGHT: the inner request */
    /* S_APPEND */
    struct raft_io_append *append;
    raft_io_append_cb append_cb;
    const struct raft_entry *entries;
    unsigned n;
    /* S_TRUNCATE */
    raft_index index;
    /* S_PUT */
    struct raft_io_snapshot_put *put;
    raft_io_snapshot_put_cb put_cb;
    unsigned trailing;
    const struct raft_snapshot *snapshot;
};

/* One submission of an op to the inner I/O (each attempt has its own request: libuv's backend
 * may still hold a request whose submission it refused). op NULL: forgotten. */
struct s_attempt {
    union {
        struct raft_io_append append;
        struct raft_io_snapshot_put put;
    } req;
    struct coord_disk_op *op;
    coord_raft_t *r;
};

static void s_pump(coord_raft_t *r);

/* what: "log" or "snapshot"; errmsg: the inner I/O's message for a call that failed at once,
 * NULL for a failure reported by a callback (libuv's backend leaves errmsg stale then). */
static void
s_episode_start(coord_raft_t *r, const char *what, int status, const char *errmsg)
{
    struct coord_disk *d = &r->disk;
    vx_counter_add(r->m_disk_failures[what[0] == 's'], 1);
    if (d->full) {
        return;
    }
    d->full = true;
    if (errmsg && errmsg[0]) {
        snprintf(d->why, sizeof d->why, "%s", errmsg);
    } else {
        snprintf(d->why, sizeof d->why, "%s, status %d", raft_strerror(status), status);
    }
    vx_gauge_set(r->m_disk_full, 1);
    char then[80];
    if (what[0] == 's') {
        snprintf(then, sizeof then, "the snapshot is dropped and taken again later");
    } else {
        snprintf(then, sizeof then, "held and written again every %d ms", S_RETRY_MS);
    }
    vx_warn("COORD-DISK-FULL",
            "a %s write in %s failed as %s (%s): %s; failures counted until a write succeeds",
            what, r->data_dir, raft_state(&r->raft) == RAFT_LEADER ? "leader" : "follower", d->why,
            then);
}

/* True while a failed write is held. */
static bool
s_any_failed(const struct coord_disk *d)
{
    for (const struct coord_disk_op *op = d->head; op; op = op->next) {
        if (op->state == S_FAILED) {
            return true;
        }
    }
    return false;
}

/* A write succeeded: the episode ends unless an earlier failed write is still held (a write
 * into an older segment may finish after a later one failed). */
static void
s_episode_end(coord_raft_t *r)
{
    struct coord_disk *d = &r->disk;
    if (s_any_failed(d)) {
        return;
    }
    d->blocked_term = 0;
    if (!d->full) {
        return;
    }
    d->full = false;
    vx_gauge_set(r->m_disk_full, 0);
    vx_info("COORD-DISK-OK", "writes in %s succeed again", r->data_dir);
}

/* Makes libraft leave leadership now: an answer from another voter carrying the next term
 * (what a leader that missed an election would hear). libraft then saves the new term, steps
 * down and fails every request it held (each callback once, "leadership lost"). Returns false
 * when there is no other voter to name. */
static bool
s_step_down(coord_raft_t *r)
{
    struct raft *raft = &r->raft;
    const struct raft_server *peer = NULL;
    for (unsigned i = 0; i < raft->configuration.n; i++) {
        if (raft->configuration.servers[i].id != raft->id &&
            raft->configuration.servers[i].role == RAFT_VOTER) {
            peer = &raft->configuration.servers[i];
            break;
        }
    }
    if (!peer) {
        return false;
    }
    struct raft_message m;
    memset(&m, 0, sizeof m);
    m.type = RAFT_IO_APPEND_ENTRIES_RESULT;
    m.server_id = peer->id;
    m.server_address = peer->address;
    m.append_entries_result.term = raft->current_term + 1;
    m.append_entries_result.rejected = 0;
    m.append_entries_result.last_log_index = 0;
    r->iow.recv_cb(&r->iow.outer, &m);
    return raft_state(raft) != RAFT_LEADER;
}

/* A write of this node failed: a leader stops proposing in this term and hands over. */
static void
s_write_failed(coord_raft_t *r)
{
    struct coord_disk *d = &r->disk;
    d->retry_at = r->iow.inner->time(r->iow.inner) + S_RETRY_MS;
    if (raft_state(&r->raft) != RAFT_LEADER) {
        return;
    }
    d->blocked_term = r->raft.current_term;
    if (s_step_down(r)) {
        vx_warn("COORD-DISK-STEP-DOWN",
                "this leader could not write its log (%s): it left leadership in term %llu",
                d->why, (unsigned long long)d->blocked_term);
        char why[400];
        snprintf(why, sizeof why,
                 "this node's disk is full (%s): nothing was written; it left leadership",
                 d->why);
        coord_group_fail_pending(r, -ENOSPC, why);
    }
}

static void
s_unlink(coord_raft_t *r, struct coord_disk_op *op)
{
    struct coord_disk *d = &r->disk;
    struct coord_disk_op **p = &d->head;
    while (*p && *p != op) {
        p = &(*p)->next;
    }
    if (*p) {
        *p = op->next;
    }
    if (d->tail == op) {
        d->tail = NULL;
        for (struct coord_disk_op *o = d->head; o; o = o->next) {
            d->tail = o;
        }
    }
    op->next = NULL;
}

/* Hands op's result to libraft and frees it (op already unlinked). libraft may call back into
 * the guard from its callback. */
static void
s_finish(coord_raft_t *r, struct coord_disk_op *op, int status)
{
    if (op->kind == S_APPEND && r->disk.closing) {
        /* libraft is closing (its state is unavailable): told of a failure, appendLeaderCb
         * would still cut its log at the write's index, which may lie past the log's end by
         * now (the wrap-around in the file comment); "done" only releases the entries. */
        status = 0;
    }
    if (op->kind == S_APPEND) {
        op->append_cb(op->append, status);
    } else if (op->kind == S_PUT) {
        op->put_cb(op->put, status);
    }
    free(op);
}

/* Delivers, in order, the done operations at the head of the queue (all done ones when the node
 * is closing: libuv's backend cancels its requests in an order of its own). */
static void
s_deliver(coord_raft_t *r)
{
    struct coord_disk *d = &r->disk;
    if (d->delivering) {
        return; /* called back from a delivery: the loop below goes on */
    }
    d->delivering = true;
    for (;;) {
        struct coord_disk_op *op = d->head;
        if (d->closing) {
            while (op && op->state != S_DONE) {
                op = op->next;
            }
        }
        if (!op || op->state != S_DONE) {
            break;
        }
        s_unlink(r, op);
        s_finish(r, op, op->status);
    }
    d->delivering = false;
}

static void
cb_inner_appended(struct raft_io_append *req, int status)
{
    struct s_attempt *a = req->data;
    coord_raft_t *r = a->r;
    struct coord_disk_op *op = a->op;
    free(a);
    if (!op) {
        return; /* its submission was refused; the op was submitted again */
    }
    op->cur = NULL;
    bool failed_ahead = false;
    for (struct coord_disk_op *o = r->disk.head; o && o != op; o = o->next) {
        failed_ahead = failed_ahead || o->state == S_FAILED;
    }
    if (status == 0 && failed_ahead && !r->disk.order_warned) {
        /* Not the full-disk case (see the file comment): the disk's order is libuv's now. */
        r->disk.order_warned = true;
        vx_error("COORD-DISK-ORDER",
                 "a log write succeeded after an earlier one failed in %s: the held write is "
                 "written after it",
                 r->data_dir);
    }
    if (status == 0) {
        s_episode_end(r);
    } else if (status != RAFT_CANCELED && !r->disk.closing) {
        s_episode_start(r, "log", status, NULL);
        op->state = S_FAILED;
        s_write_failed(r);
        return; /* held: s_pump submits it again */
    }
    op->state = S_DONE;
    op->status = status;
    s_deliver(r);
    s_pump(r);
}

static void
cb_inner_put(struct raft_io_snapshot_put *req, int status)
{
    struct s_attempt *a = req->data;
    coord_raft_t *r = a->r;
    struct coord_disk_op *op = a->op;
    free(a);
    if (!op) {
        return;
    }
    op->cur = NULL;
    /* A snapshot that could not be written is dropped by libraft and taken again later. */
    if (status != 0 && status != RAFT_CANCELED) {
        s_episode_start(r, "snapshot", status, NULL);
    } else if (status == 0) {
        s_episode_end(r);
    }
    op->state = S_DONE;
    op->status = status;
    s_deliver(r);
    s_pump(r);
}

/* Submits op to the inner I/O. Returns the inner I/O's refusal (its message copied to the
 * outer errmsg), 0 once submitted; a truncation is done when submitted. */
static int
s_submit(coord_raft_t *r, struct coord_disk_op *op)
{
    struct raft_io *inner = r->iow.inner;
    int rv = 0;
    if (op->kind == S_TRUNCATE) {
        /* libraft 0.15's UvTruncate may drop its own request unfreed (coord_raft_io.c says
         * when): that allocation is left out of the leak report. */
        S_LSAN_IGNORE_BEGIN();
        rv = inner->truncate(inner, op->index);
        S_LSAN_IGNORE_END();
        op->state = S_DONE;
        op->status = rv;
    } else {
        struct s_attempt *a = vx_calloc(1, sizeof *a);
        a->op = op;
        a->r = r;
        op->cur = a;
        op->state = S_INFLIGHT;
        if (op->kind == S_APPEND) {
            a->req.append.data = a;
            rv = inner->append(inner, &a->req.append, op->entries, op->n, cb_inner_appended);
        } else {
            a->req.put.data = a;
            rv = inner->snapshot_put(inner, op->trailing, &a->req.put, op->snapshot, cb_inner_put);
        }
        if (rv != 0) {
            /* libuv's backend may have queued the request before it failed to start the write
             * (uv_append.c UvAppend): if its callback still comes, it finds nothing. */
            a->op = NULL;
            op->cur = NULL;
        }
    }
    if (rv != 0) {
        memcpy(r->iow.outer.errmsg, inner->errmsg, sizeof r->iow.outer.errmsg);
    }
    return rv;
}

/* Submits, in order, what can go now: an append once nothing ahead of it waits, a truncation
 * or snapshot write once everything ahead of it is done; a held write once its retry is due. */
static void
s_pump(coord_raft_t *r)
{
    struct coord_disk *d = &r->disk;
    if (d->closing || d->pumping) {
        return;
    }
    bool failed = false, inflight = false;
    for (struct coord_disk_op *op = d->head; op; op = op->next) {
        failed = failed || op->state == S_FAILED;
        inflight = inflight || op->state == S_INFLIGHT;
    }
    if (failed && inflight) {
        return; /* held writes go again once every write behind them has come back */
    }
    d->pumping = true;
    bool ahead = false; /* an op ahead is not done */
    for (struct coord_disk_op *op = d->head; op; op = op->next) {
        if (op->state == S_INFLIGHT) {
            ahead = true;
            continue;
        }
        if (op->state == S_DONE) {
            continue;
        }
        if (op->state == S_FAILED &&
            r->iow.inner->time(r->iow.inner) < d->retry_at) {
            break;
        }
        if (op->kind != S_APPEND && ahead) {
            break;
        }
        int rv = s_submit(r, op);
        if (rv != 0 && op->kind == S_TRUNCATE) {
            /* libraft was told it was done: the next leader's entries overwrite the suffix. */
            vx_error("COORD-DISK-TRUNCATE", "truncating the log at %llu failed: %s",
                     (unsigned long long)op->index, r->iow.outer.errmsg);
        } else if (rv != 0 && op->kind == S_PUT) {
            /* libraft drops a snapshot it could not write and takes (or is sent) another. */
            s_episode_start(r, "snapshot", rv, r->iow.outer.errmsg);
            op->state = S_DONE;
            op->status = rv;
        } else if (rv != 0) {
            s_episode_start(r, "log", rv, r->iow.outer.errmsg);
            op->state = S_FAILED;
            s_write_failed(r);
            break;
        }
        ahead = ahead || op->state != S_DONE;
    }
    d->pumping = false;
    s_deliver(r);
}

/* Queues op, or submits it at once when nothing ahead of it waits (the usual case). A refusal
 * of a direct submission is returned to libraft, which handles a refused call itself. */
static int
s_add(coord_raft_t *r, struct coord_disk_op *op)
{
    struct coord_disk *d = &r->disk;
    bool direct = true;
    for (struct coord_disk_op *o = d->head; o && direct; o = o->next) {
        direct = o->state == S_INFLIGHT ? op->kind == S_APPEND : o->state == S_DONE;
    }
    if (direct && !d->pumping) {
        int rv = s_submit(r, op);
        if (rv != 0) {
            if (op->kind == S_APPEND) {
                s_episode_start(r, "log", rv, r->iow.outer.errmsg);
                if (raft_state(&r->raft) == RAFT_LEADER) {
                    r->disk.blocked_term = r->raft.current_term;
                }
            } else if (op->kind == S_PUT) {
                s_episode_start(r, "snapshot", rv, r->iow.outer.errmsg);
            }
            free(op);
            return rv;
        }
        if (op->kind == S_TRUNCATE && !d->head) {
            free(op);
            return 0;
        }
    } else {
        op->state = S_WAITING;
    }
    if (d->tail) {
        d->tail->next = op;
    } else {
        d->head = op;
    }
    d->tail = op;
    s_deliver(r);
    return 0;
}

int
coord_disk_append(coord_raft_t *r, struct raft_io_append *req, const struct raft_entry entries[],
                  unsigned n, raft_io_append_cb cb)
{
    struct coord_disk_op *op = vx_calloc(1, sizeof *op);
    op->kind = S_APPEND;
    op->append = req;
    op->append_cb = cb;
    op->entries = entries;
    op->n = n;
    return s_add(r, op);
}

int
coord_disk_truncate(coord_raft_t *r, raft_index index)
{
    struct coord_disk_op *op = vx_calloc(1, sizeof *op);
    op->kind = S_TRUNCATE;
    op->index = index;
    return s_add(r, op);
}

int
coord_disk_snapshot_put(coord_raft_t *r, unsigned trailing, struct raft_io_snapshot_put *req,
                        const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb)
{
    struct coord_disk_op *op = vx_calloc(1, sizeof *op);
    op->kind = S_PUT;
    op->put = req;
    op->put_cb = cb;
    op->trailing = trailing;
    op->snapshot = snapshot;
    return s_add(r, op);
}

void
coord_disk_tick(coord_raft_t *r)
{
    if (r->disk.head) {
        s_pump(r);
    }
}

void
coord_disk_close(coord_raft_t *r)
{
    struct coord_disk *d = &r->disk;
    d->closing = true;
    /* What the inner I/O never saw is cancelled here; what it holds, by its own close. */
    for (;;) {
        struct coord_disk_op *op = d->head;
        while (op && op->state == S_INFLIGHT) {
            op = op->next;
        }
        if (!op) {
            return;
        }
        s_unlink(r, op);
        s_finish(r, op, op->state == S_DONE ? op->status : RAFT_CANCELED);
    }
}

bool
coord_disk_blocked(coord_raft_t *r)
{
    return r->disk.blocked_term != 0 && r->disk.blocked_term == r->raft.current_term &&
           raft_state(&r->raft) == RAFT_LEADER;
}

const char *
coord_disk_why(coord_raft_t *r)
{
    return r->disk.why[0] ? r->disk.why : "a write to the raft log failed";
}
