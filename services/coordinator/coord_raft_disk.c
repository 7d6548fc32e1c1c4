/* SPDX-License-Identifier: Apache-2.0 */
/* The disk guard: what this node does when a write to its own raft log fails (a full disk),
 * so that libraft 0.15 never sees a failure it mishandles.
 *
 * Why: libraft 0.15 handles a failed leader write in replication.c appendLeaderCb: it fails the
 * one request at the write's first index and truncates its in-memory log from that index. Two
 * things then go wrong inside the library:
 *  - every later leader write already in flight fails too (libuv's backend fails the whole
 *    batch, uv_append.c uvAppendFinishRequestsInQueue), and appendLeaderCb truncates again from
 *    an index past the end of the log it has just cut: log.c removeSuffix computes the number
 *    of entries to drop as (last - index) + 1, which wraps around, and walks freed and foreign
 *    memory (the glibc "free(): invalid pointer" abort and the SIGSEGV seen on a full disk);
 *  - the next entry proposed reuses the truncated index in the same term, while the followers
 *    may hold the old entry there with that same term: the log matching property no longer
 *    holds, and libraft's reference counts (keyed by term and index) mix the two entries up.
 * So this wrapper tells libraft of the first failed leader write only. Later leader writes of
 * the same episode, whose entries libraft has already dropped, are reported as done (libraft
 * then finds no entry of theirs left and only releases their memory: updateLastStored stops at
 * the first index it no longer holds). And a leader whose write failed proposes nothing more
 * in that term (group commit, barriers and membership changes are refused with -ENOSPC) and
 * hands leadership to another voter; it proposes again only in a later term. Writes as a
 * follower are passed through unchanged (libraft rejects the entries and the leader resends).
 *
 * An episode starts with a failed local write (logged once, counted each time) and ends with
 * the first successful one (logged once). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_raft_priv.h"
#include "vx_log.h"
#include "vx_mem.h"

/* One append on its way through the inner I/O. */
struct s_append {
    struct raft_io_append req; /* what the inner I/O sees; req.data points back here */
    struct raft_io_append *outer;
    raft_io_append_cb cb;
    coord_raft_t *r;
    uint64_t gen;  /* the guard's generation when submitted */
    bool leader;   /* submitted by a leader (libraft's appendLeaderCb answers it) */
    bool orphan;   /* the inner append returned an error: libraft has forgotten it */
};

static void
s_episode_start(coord_raft_t *r, int status, const char *errmsg)
{
    struct coord_disk *d = &r->disk;
    vx_counter_add(r->m_disk_failures, 1);
    if (d->full) {
        return;
    }
    d->full = true;
    snprintf(d->why, sizeof d->why, "%s", errmsg && errmsg[0] ? errmsg : raft_strerror(status));
    vx_gauge_set(r->m_disk_full, 1);
    vx_warn("COORD-DISK-FULL",
            "a write to the raft log in %s failed (%s): writes refused here until it succeeds "
            "again%s",
            r->data_dir, d->why,
            raft_state(&r->raft) == RAFT_LEADER ? "; leadership handed to another voter" : "");
}

static void
s_episode_end(coord_raft_t *r)
{
    struct coord_disk *d = &r->disk;
    if (!d->full) {
        return;
    }
    d->full = false;
    vx_gauge_set(r->m_disk_full, 0);
    vx_info("COORD-DISK-OK", "writes to the raft log in %s succeed again", r->data_dir);
}

static void
cb_inner_appended(struct raft_io_append *req, int status)
{
    struct s_append *a = req->data;
    coord_raft_t *r = a->r;
    struct coord_disk *d = &r->disk;
    struct raft_io_append *outer = a->outer;
    raft_io_append_cb cb = a->cb;
    bool leader = a->leader, stale = a->gen != d->gen, orphan = a->orphan;
    free(a);
    if (status != 0) {
        s_episode_start(r, status, r->iow.inner->errmsg);
    }
    if (orphan) {
        return; /* libraft freed its request when the append was refused */
    }
    if (leader && stale) {
        /* libraft already dropped these entries when told of the episode's first failure:
         * "done" makes it release them and nothing else (see the file comment). */
        status = 0;
    } else if (status != 0 && leader) {
        d->gen++;
        d->blocked_term = r->raft.current_term;
        memcpy(r->iow.outer.errmsg, r->iow.inner->errmsg, sizeof r->iow.outer.errmsg);
    } else if (status == 0) {
        s_episode_end(r);
    } else {
        memcpy(r->iow.outer.errmsg, r->iow.inner->errmsg, sizeof r->iow.outer.errmsg);
    }
    cb(outer, status);
}

int
coord_disk_append(coord_raft_t *r, struct raft_io_append *req, const struct raft_entry entries[],
                  unsigned n, raft_io_append_cb cb)
{
    struct s_append *a = vx_calloc(1, sizeof *a);
    a->req.data = a;
    a->outer = req;
    a->cb = cb;
    a->r = r;
    a->gen = r->disk.gen;
    a->leader = raft_state(&r->raft) == RAFT_LEADER;
    struct raft_io *inner = r->iow.inner;
    int rv = inner->append(inner, &a->req, entries, n, cb_inner_appended);
    if (rv != 0) {
        memcpy(r->iow.outer.errmsg, inner->errmsg, sizeof r->iow.outer.errmsg);
        /* libuv's backend may have queued the append before it failed to start the write
         * (uv_append.c UvAppend): if its callback still comes, it must find this. */
        a->orphan = true;
        s_episode_start(r, rv, inner->errmsg);
        if (a->leader) {
            r->disk.blocked_term = r->raft.current_term;
        }
    }
    return rv;
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

static void
cb_disk_transferred(struct raft_transfer *req)
{
    coord_raft_t *r = req->data;
    r->disk.transfer_busy = false;
}

void
coord_disk_tick(coord_raft_t *r)
{
    struct coord_disk *d = &r->disk;
    if (!coord_disk_blocked(r) || d->transfer_busy || r->closing) {
        return;
    }
    /* Any voter that is up to date (0: libraft picks the one with the longest log). */
    d->transfer.data = r;
    if (raft_transfer(&r->raft, &d->transfer, 0, cb_disk_transferred) == 0) {
        d->transfer_busy = true;
    }
    /* else (no other voter, or a transfer under way): the next tick tries again */
}
