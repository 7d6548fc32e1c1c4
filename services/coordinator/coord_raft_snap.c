/* SPDX-License-Identifier: Apache-2.0 */
/* Raft snapshots of the state machine: taken, sealed, written, restored.
 *
 * Why this shape: libraft takes a snapshot on its loop thread, and commits wait meanwhile. Only
 * the copy of the state must happen there (the state machine may not move while it is read);
 * sealing the copy (a pass of AES-GCM or XChaCha20 over every byte, and a second buffer of the
 * same size) needs nothing of the loop. With libuv's raft I/O (which runs work on its thread
 * pool) the FSM is libraft's version 3: `snapshot` copies the state on the loop thread,
 * `snapshot_async` seals the copy on the thread pool while commits go on, and
 * `snapshot_finalize` (loop thread, once the snapshot was written or failed) frees the buffers
 * we own, records the time commits waited and the time sealing took, and starts a re-seal scan
 * of the data folder (coord_reseal.c). Without a thread pool the same steps run in `snapshot`.
 *
 * Plain snapshots are handed over as the state machine wrote them, without the copy libraft's
 * ownership rules of version 1 required. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_raft_priv.h"
#include "coord_seal.h"
#include "vx_clock.h"
#include "vx_log.h"
#include "vx_mem.h"

/* Seals the one plain buffer of a snapshot in place of it. Any thread. */
static int
s_seal(coord_raft_t *r, struct raft_buffer *b)
{
    uint64_t t0 = vx_mono_ns();
    size_t out_len = coord_seal_size(b->len);
    uint8_t *out = vx_malloc(out_len);
    if (coord_seal_wrap(r->snap_sealer, COORD_SEAL_SNAPSHOT, r->opts.node_id, b->base, b->len,
                        out) < 0) {
        free(out);
        return RAFT_NOMEM;
    }
    free(b->base);
    b->base = out;
    b->len = out_len;
    atomic_store(&r->snap_seal_ns, vx_mono_ns() - t0);
    return 0;
}

static int
cb_fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n)
{
    coord_raft_t *r = fsm->data;
    uint64_t t0 = vx_mono_ns();
    void *data = NULL;
    size_t len = 0;
    int rc = coord_fsm_snapshot(r->fsm, &data, &len);
    if (rc < 0) {
        return RAFT_NOMEM;
    }
    *bufs = vx_malloc(sizeof **bufs);
    (*bufs)[0] = (struct raft_buffer){.base = data, .len = len};
    *n = 1;
    r->snap_plain_len = len;
    r->snap_sealer = r->opts.sealer; /* the thread pool seals with it, whatever the loop loads */
    r->snap_index = r->raft.last_applied;
    atomic_store(&r->snap_seal_ns, 0);
    if (r->opts.sealer && !r->snap_async) {
        rc = s_seal(r, &(*bufs)[0]);
        if (rc != 0) {
            free(data);
            free(*bufs);
            *bufs = NULL;
            *n = 0;
            return rc;
        }
    }
    r->snap_loop_ns = vx_mono_ns() - t0;
    return 0;
}

/* Thread pool: the copy taken on the loop thread is sealed here. */
static int
cb_fsm_snapshot_async(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n)
{
    coord_raft_t *r = fsm->data;
    if (!r->snap_sealer || *n != 1) {
        return 0;
    }
    return s_seal(r, &(*bufs)[0]);
}

/* Loop thread, after the snapshot was written (or failed): the buffers are ours to free. */
static int
cb_fsm_snapshot_finalize(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n)
{
    coord_raft_t *r = fsm->data;
    for (unsigned i = 0; i < *n; i++) {
        free((*bufs)[i].base);
    }
    free(*bufs);
    *bufs = NULL;
    *n = 0;
    double loop_s = (double)r->snap_loop_ns / (double)VX_NS_PER_S;
    double seal_s = (double)atomic_load(&r->snap_seal_ns) / (double)VX_NS_PER_S;
    vx_histogram_observe(r->m_snapshot, loop_s);
    if (r->opts.sealer) {
        vx_histogram_observe(r->m_snapshot_seal, seal_s);
    }
    char sealed[96] = "";
    if (r->opts.sealer) {
        snprintf(sealed, sizeof sealed, ", sealed on the %s in %.1f ms",
                 r->snap_async ? "thread pool" : "loop thread", seal_s * 1000.0);
    }
    vx_info("COORD-SNAPSHOT", "state of %zu bytes taken at index %" PRIu64 " in %.1f ms%s",
            r->snap_plain_len, r->snap_index, loop_s * 1000.0, sealed);
    coord_reseal_scan_start(r);
    return 0;
}

/* Version 1 (no thread pool): libraft frees the buffers with raft_free, so they are its; ours
 * are finalized at once (the re-seal scan this starts may run before libraft wrote the file:
 * the next snapshot's scan sees it). */
static int
cb_fsm_snapshot_v1(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n)
{
    struct raft_buffer *ours = NULL;
    unsigned n_ours = 0;
    int rc = cb_fsm_snapshot(fsm, &ours, &n_ours);
    if (rc != 0) {
        return rc;
    }
    *bufs = raft_malloc(sizeof **bufs);
    if (!*bufs) {
        vx_oom(sizeof **bufs);
    }
    size_t len = ours[0].len;
    (*bufs)[0].base = raft_malloc(len ? len : 1);
    if (!(*bufs)[0].base) {
        vx_oom(len);
    }
    memcpy((*bufs)[0].base, ours[0].base, len);
    (*bufs)[0].len = len;
    *n = 1;
    return cb_fsm_snapshot_finalize(fsm, &ours, &n_ours);
}

static int
cb_fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    coord_raft_t *r = fsm->data;
    const void *data = buf->base;
    size_t len = buf->len;
    uint8_t *plain = NULL;
    if (coord_seal_is_sealed(data, len)) {
        char err[300];
        int rc = coord_seal_open(r->opts.sealer, COORD_SEAL_SNAPSHOT, data, len, &plain, &len,
                                 err, sizeof err);
        if (rc == -ENOKEY && coord_raft_keys_reload(r)) {
            len = buf->len;
            rc = coord_seal_open(r->opts.sealer, COORD_SEAL_SNAPSHOT, data, len, &plain, &len,
                                 err, sizeof err);
        }
        if (rc < 0) {
            coord_raft_fatal(r, "snapshot", err);
            return RAFT_CORRUPT;
        }
        data = plain;
    }
    int rc = coord_fsm_restore(r->fsm, data, len);
    free(plain);
    if (rc < 0) {
        vx_error("COORD-RESTORE", "snapshot of %zu bytes is not a coordinator state", len);
        return RAFT_MALFORMED;
    }
    raft_free(buf->base);
    return 0;
}

void
coord_snap_fsm_init(coord_raft_t *r, struct raft_fsm *fsm,
                    int (*apply)(struct raft_fsm *, const struct raft_buffer *, void **))
{
    r->snap_async = r->iow.outer.async_work != NULL;
    *fsm = (struct raft_fsm){.version = r->snap_async ? 3 : 1,
                             .data = r,
                             .apply = apply,
                             .snapshot = r->snap_async ? cb_fsm_snapshot : cb_fsm_snapshot_v1,
                             .restore = cb_fsm_restore};
    if (r->snap_async) {
        fsm->snapshot_finalize = cb_fsm_snapshot_finalize;
        fsm->snapshot_async = cb_fsm_snapshot_async;
    }
}
