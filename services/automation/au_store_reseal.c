/* SPDX-License-Identifier: Apache-2.0 */
/* Re-sealing the automation store in the background after a data key rotation (see
 * au_store.h).
 *
 * Why in the background: a store holds up to state_map_bytes of records; re-sealing them all
 * in one transaction at start would hold the start (and the writer) for as long as that takes.
 * Instead one thread walks every database in key order and re-seals, in changes of at most
 * S_BATCH records each (through au_store_write, so they share group commits with the daemon's
 * own writes and never hold the writer for long), every record whose key id is not the newest:
 * opened with the key it names, sealed again under the newest with the same associated data.
 * Old records stay readable meanwhile (every loaded key opens the records naming it), records
 * written meanwhile are sealed under the newest already, and a crash loses nothing: each batch
 * is a transaction, and the next start walks again from the first record. */
#include "au_store_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "vx_log.h"
#include "vx_mem.h"
#include "vx_seal.h"

#define S_BATCH 128
#define S_STATE_HDR 9 /* state values: version and object flag in clear (au_store_state.c) */

/* Where a record's sealed part starts (*hdr) in db, and its key id; false when the value
 * holds no sealed record (meta's plain entries). */
static bool
s_record_key(int db, const MDB_val *v, size_t *hdr, uint32_t *id)
{
    *hdr = db == AU_DBI_STATE ? S_STATE_HDR : 0;
    if (v->mv_size < *hdr) {
        return false;
    }
    return vx_seal_record_key_id((const uint8_t *)v->mv_data + *hdr, v->mv_size - *hdr, id) == 0;
}

/* Re-seals the record at cur under the newest key. An LMDB result. */
static int
s_reseal_one(au_store_t *s, MDB_cursor *cur, int db, const MDB_val *k, const MDB_val *v,
             size_t hdr)
{
    uint8_t kb[AU_STORE_MAX_KEY + S_STATE_HDR];
    if (k->mv_size > AU_STORE_MAX_KEY) {
        return MDB_BAD_VALSIZE;
    }
    memcpy(kb, k->mv_data, k->mv_size);
    memcpy(kb + k->mv_size, v->mv_data, hdr); /* associated data: key, then the clear header */
    size_t adlen = k->mv_size + hdr;
    void *plain = NULL, *sealed = NULL;
    size_t plen = 0, slen = 0;
    int rc = -s->sealer.open(s->sealer.arg, kb, adlen, (const uint8_t *)v->mv_data + hdr,
                             v->mv_size - hdr, &plain, &plen);
    if (rc == 0) {
        rc = -s->sealer.seal(s->sealer.arg, kb, adlen, plain, plen, &sealed, &slen);
    }
    if (plain != NULL) {
        sodium_memzero(plain, plen);
        free(plain);
    }
    if (rc != 0) {
        return rc;
    }
    uint8_t *buf = vx_malloc(hdr + slen);
    memcpy(buf, kb + k->mv_size, hdr);
    memcpy(buf + hdr, sealed, slen);
    free(sealed);
    MDB_val kc = {k->mv_size, kb};
    MDB_val nv = {hdr + slen, buf};
    rc = mdb_cursor_put(cur, &kc, &nv, MDB_CURRENT);
    free(buf);
    (void)db;
    return rc;
}

/* The walk's place: the database and the last key handled there. */
struct s_walk {
    int db;
    uint8_t key[AU_STORE_MAX_KEY + 8];
    size_t klen;
    bool started; /* key is valid: continue after it */
    size_t resealed;
    size_t failed;   /* records that did not open: left as they are (reported) */
    bool done;
};

/* One batch: up to S_BATCH records re-sealed, from the walk's place on (a change for
 * au_store_write). */
static int
cb_batch(au_store_t *s, MDB_txn *txn, void *arg, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct s_walk *w = arg;
    size_t n = 0, scanned = 0;
    while (w->db < AU_DBI_N && n < S_BATCH && scanned < 64 * S_BATCH) {
        MDB_cursor *cur = NULL;
        int rc = mdb_cursor_open(txn, s->dbi[w->db], &cur);
        if (rc != 0) {
            return rc;
        }
        MDB_val k = {w->klen, w->key}, v;
        rc = w->started ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)
                        : mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        if (rc == 0 && w->started && k.mv_size == w->klen &&
            memcmp(k.mv_data, w->key, w->klen) == 0) {
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT); /* handled in the last batch */
        }
        for (; rc == 0 && n < S_BATCH && scanned < 64 * S_BATCH;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            scanned++;
            size_t hdr = 0;
            uint32_t id = 0;
            if (k.mv_size <= sizeof w->key) {
                memcpy(w->key, k.mv_data, k.mv_size);
                w->klen = k.mv_size;
                w->started = true;
            }
            if (!s_record_key(w->db, &v, &hdr, &id) || id == s->sealer.key_id) {
                continue;
            }
            int r1 = s_reseal_one(s, cur, w->db, &k, &v, hdr);
            if (r1 == MDB_MAP_FULL || r1 == MDB_TXN_FULL) {
                mdb_cursor_close(cur);
                return r1;
            }
            if (r1 != 0) {
                w->failed++; /* a record that does not open stays as it is; reads report it */
            } else {
                n++;
            }
        }
        mdb_cursor_close(cur);
        if (rc == MDB_NOTFOUND) { /* this database is done: the next one */
            w->db++;
            w->klen = 0;
            w->started = false;
        } else if (rc != 0) {
            return rc;
        }
    }
    w->resealed += n;
    w->done = w->db >= AU_DBI_N;
    return 0;
}

/* Counts the records sealed under another key than the newest (read transaction). */
static uint64_t
s_count_stale(au_store_t *s)
{
    MDB_txn *txn = NULL;
    uint64_t n = 0;
    if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) != 0) {
        return 0;
    }
    for (int db = 0; db < AU_DBI_N; db++) {
        MDB_cursor *cur = NULL;
        if (mdb_cursor_open(txn, s->dbi[db], &cur) != 0) {
            continue;
        }
        MDB_val k, v;
        for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            size_t hdr = 0;
            uint32_t id = 0;
            n += s_record_key(db, &v, &hdr, &id) && id != s->sealer.key_id;
        }
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    return n;
}

static void *
cb_reseal_thread(void *arg)
{
    au_store_t *s = arg;
    struct s_walk *w = vx_calloc(1, sizeof *w);
    char err[512];
    int rc = 0;
    while (!__atomic_load_n(&s->reseal_stop, __ATOMIC_ACQUIRE) && !w->done) {
        size_t before = w->resealed;
        rc = au_store_write(s, cb_batch, w, err, sizeof err);
        if (rc != 0) {
            break;
        }
        __atomic_add_fetch(&s->reseal_done, (uint64_t)(w->resealed - before), __ATOMIC_RELAXED);
        if (s->c_resealed != NULL) {
            vx_counter_add(s->c_resealed, (uint64_t)(w->resealed - before));
        }
    }
    if (rc != 0) {
        au_store_fail(s, rc, "re-sealing", err, sizeof err);
        vx_error("AU-RESEAL", "%s; %zu records re-sealed so far, the rest at the next start",
                 err, w->resealed);
        __atomic_store_n(&s->reseal_state, AU_RESEAL_FAILED, __ATOMIC_RELEASE);
    } else if (w->done) {
        if (w->failed > 0) {
            vx_error("AU-RESEAL", "state store %s: %zu records could not be opened and keep "
                     "their old key", s->dir, w->failed);
        }
        vx_info("AU-RESEAL", "state store %s: %zu records re-sealed under data key %u", s->dir,
                w->resealed, (unsigned)s->sealer.key_id);
        __atomic_store_n(&s->reseal_failed, (uint64_t)w->failed, __ATOMIC_RELAXED);
        __atomic_store_n(&s->reseal_state, AU_RESEAL_DONE, __ATOMIC_RELEASE);
    }
    free(w);
    return NULL;
}

void
au_store_reseal_start(au_store_t *s)
{
    if (!s->has_sealer || s->sealer.key_id == 0 || s->reseal_running) {
        return;
    }
    uint64_t stale = s_count_stale(s);
    __atomic_store_n(&s->reseal_total, stale, __ATOMIC_RELAXED);
    if (stale == 0) {
        __atomic_store_n(&s->reseal_state, AU_RESEAL_DONE, __ATOMIC_RELEASE);
        return;
    }
    vx_info("AU-RESEAL", "state store %s: %llu records sealed under older data keys; "
            "re-sealing them under data key %u in the background",
            s->dir, (unsigned long long)stale, (unsigned)s->sealer.key_id);
    __atomic_store_n(&s->reseal_state, AU_RESEAL_RUNNING, __ATOMIC_RELEASE);
    if (pthread_create(&s->reseal_thread, NULL, cb_reseal_thread, s) == 0) {
        s->reseal_running = true;
    } else {
        __atomic_store_n(&s->reseal_state, AU_RESEAL_FAILED, __ATOMIC_RELEASE);
    }
}

void
au_store_reseal_stop(au_store_t *s)
{
    if (!s->reseal_running) {
        return;
    }
    __atomic_store_n(&s->reseal_stop, true, __ATOMIC_RELEASE);
    pthread_join(s->reseal_thread, NULL);
    s->reseal_running = false;
}

void
au_store_reseal_progress(au_store_t *s, struct au_store_reseal *p)
{
    static const char *const names[] = {"idle", "running", "done", "failed"};
    int st = __atomic_load_n(&s->reseal_state, __ATOMIC_ACQUIRE);
    p->state = names[st];
    p->key_id = s->has_sealer ? s->sealer.key_id : 0;
    p->total = __atomic_load_n(&s->reseal_total, __ATOMIC_RELAXED);
    p->resealed = __atomic_load_n(&s->reseal_done, __ATOMIC_RELAXED);
    p->unreadable = __atomic_load_n(&s->reseal_failed, __ATOMIC_RELAXED);
    /* records deleted meanwhile (history bounds) were never re-sealed: done is done */
    p->remaining = st == AU_RESEAL_DONE || p->resealed >= p->total ? 0 : p->total - p->resealed;
}
