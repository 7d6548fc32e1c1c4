/* SPDX-License-Identifier: Apache-2.0 */
/* The disk guard: what this node does when a write to its own raft log fails (a full disk),
 * so that libraft 0.15 never sees a failure it mishandles.
 *
 * Why: libraft 0.15 handles a failed leader write in replication.c appendLeaderCb: it fails the
 * one request at the write's first index and truncates its in-memory log from that index. Three
 * things then go wrong inside the library:
 *  - every later leader write already in flight fails too (libuv's backend fails the whole
 *    batch, uv_append.c uvAppendFinishRequestsInQueue), and appendLeaderCb truncates again from
 *    an index past the end of the log it has just cut: log.c removeSuffix computes the number
 *    of entries to drop as (last - index) + 1, which wraps around, and walks freed and foreign
 *    memory (the glibc "free(): invalid pointer" abort and the SIGSEGV seen on a full disk);
 *  - the next entry proposed reuses the truncated index in the same term, while the followers
 *    may hold the old entry there with that same term: the log matching property no longer
 *    holds, and libraft's reference counts (keyed by term and index) mix the two entries up;
 *  - a leader that keeps leading over its cut log sends heartbeats to followers whose next
 *    index lies past its new end: replicationProgress finds no term there and sends a snapshot,
 *    and with none taken yet sendSnapshotGetCb reads snapshot->bufs[0] of an empty snapshot
 *    (SIGSEGV, seen under ASan in libraft.so.2+0xd4d4 from the snapshot-get callback).
 * So on the first failed leader write this wrapper first makes the node leave leadership (an
 * answer of the next term from another voter, as libraft would get from a newer leader:
 * libraft saves the term, steps down, and fails every request it held exactly once), and only
 * then tells libraft of the failure (a follower's getRequest finds nothing; the log is cut at
 * the failed index and the next leader sends the entries again). Later leader writes of the
 * same episode, whose entries libraft has already dropped, are reported as done: libraft then
 * finds no entry of theirs left (updateLastStored stops at the first index it no longer holds)
 * and only releases their memory. Until the node has left leadership (no other voter to name,
 * e.g. a one-node cluster) it proposes nothing more in that term: writes, barriers and
 * membership changes are refused with -ENOSPC. Writes as a follower are passed through
 * unchanged (libraft rejects the entries and the leader sends them again).
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
    vx_warn("COORD-DISK-FULL",
            "a %s write in %s failed as %s (%s); counted until a write succeeds again", what,
            r->data_dir, raft_state(&r->raft) == RAFT_LEADER ? "leader" : "follower", d->why);
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
    vx_info("COORD-DISK-OK", "writes in %s succeed again", r->data_dir);
}

/* Makes libraft leave leadership now, before it learns of the failed write: an answer from
 * another voter carrying the next term (what a leader that missed an election would hear).
 * libraft then saves the new term, steps down and fails every request it held (each callback
 * once, "leadership lost"). Returns false when there is no other voter to name. */
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
        s_episode_start(r, "log", status, NULL);
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
        if (raft_state(&r->raft) == RAFT_LEADER && s_step_down(r)) {
            vx_warn("COORD-DISK-STEP-DOWN",
                    "this leader could not write its log (%s): it left leadership in term %llu",
                    d->why, (unsigned long long)d->blocked_term);
            char why[400];
            snprintf(why, sizeof why,
                     "this node's disk is full (%s): nothing was written; it left leadership",
                     d->why);
            coord_group_fail_pending(r, -ENOSPC, why);
        }
    } else if (status == 0) {
        s_episode_end(r);
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
        s_episode_start(r, "log", rv, inner->errmsg);
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

/* One snapshot write on its way through the inner I/O: its failure opens an episode too
 * (libraft itself only drops the snapshot and tries again later). */
struct s_put {
    struct raft_io_snapshot_put req;
    struct raft_io_snapshot_put *outer;
    raft_io_snapshot_put_cb cb;
    coord_raft_t *r;
};

static void
cb_inner_put(struct raft_io_snapshot_put *req, int status)
{
    struct s_put *p = req->data;
    coord_raft_t *r = p->r;
    struct raft_io_snapshot_put *outer = p->outer;
    raft_io_snapshot_put_cb cb = p->cb;
    free(p);
    if (status != 0) {
        s_episode_start(r, "snapshot", status, NULL);
    } else {
        s_episode_end(r);
    }
    cb(outer, status);
}

int
coord_disk_snapshot_put(coord_raft_t *r, unsigned trailing, struct raft_io_snapshot_put *req,
                        const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb)
{
    struct s_put *p = vx_calloc(1, sizeof *p);
    p->req.data = p;
    p->outer = req;
    p->cb = cb;
    p->r = r;
    struct raft_io *inner = r->iow.inner;
    int rv = inner->snapshot_put(inner, trailing, &p->req, snapshot, cb_inner_put);
    if (rv != 0) {
        memcpy(r->iow.outer.errmsg, inner->errmsg, sizeof r->iow.outer.errmsg);
        free(p);
    }
    return rv;
}
