/* SPDX-License-Identifier: Apache-2.0 */
/* The automation daemon's LMDB store (see au_store.h): the environment, sealed values, the
 * definitions, the journal and the outbox. The state's commit and views are in
 * au_store_state.c, the history in au_store_hist.c. */
#include "au_store_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vx_jsonfile.h"
#include "vx_mem.h"

static const char *const s_dbi_names[AU_DBI_N] = {"meta", "state", "defs", "journal",
                                                  "exec", "hist", "outbox"};

/* ---- errors and values -------------------------------------------------------------------- */

int
au_store_errno(int mdb_rc)
{
    switch (mdb_rc) {
    case 0:
        return 0;
    case MDB_MAP_FULL:
        return -ENOSPC;
    case MDB_NOTFOUND:
        return -ENOENT;
    case MDB_READERS_FULL:
        return -EAGAIN;
    case MDB_BAD_VALSIZE:
        return -EINVAL;
    default:
        return mdb_rc > 0 ? -mdb_rc : -EIO;
    }
}

int
au_store_fail(au_store_t *s, int mdb_rc, const char *what, char *err, size_t errlen)
{
    int rc = au_store_errno(mdb_rc);
    if (rc == -ENOSPC) {
        snprintf(err, errlen,
                 "%s: the state store is full (state_map_bytes = %llu in %s); nothing was "
                 "written",
                 what, (unsigned long long)s->map_bytes, s->dir);
    } else {
        snprintf(err, errlen, "%s: state store %s: %s", what, s->dir, mdb_strerror(mdb_rc));
    }
    return rc;
}

int
au_store_put_json(au_store_t *s, MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
                  json_t *j, unsigned flags)
{
    char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text == NULL) {
        return EINVAL; /* an LMDB-style positive code: au_store_errno turns it into -EINVAL */
    }
    void *buf = text;
    size_t len = strlen(text);
    void *sealed = NULL;
    if (s->has_sealer) {
        size_t slen = 0;
        int rc = s->sealer.seal(s->sealer.arg, key, klen, text, len, &sealed, &slen);
        free(text);
        if (rc < 0) {
            return -rc;
        }
        buf = sealed;
        len = slen;
        text = NULL;
    }
    MDB_val k = {klen, (void *)key};
    MDB_val v = {len, buf};
    int rc = mdb_put(txn, dbi, &k, &v, flags);
    free(text);
    free(sealed);
    return rc;
}

json_t *
au_store_get_json(au_store_t *s, const MDB_val *k, const MDB_val *v, int *rc)
{
    const char *text = v->mv_data;
    size_t len = v->mv_size;
    void *plain = NULL;
    *rc = 0;
    if (s->has_sealer) {
        size_t plen = 0;
        int orc = s->sealer.open(s->sealer.arg, k->mv_data, k->mv_size, v->mv_data, v->mv_size,
                                 &plain, &plen);
        if (orc < 0) {
            *rc = orc;
            return NULL;
        }
        text = plain;
        len = plen;
    }
    json_t *j = json_loadb(text, len, JSON_DECODE_ANY, NULL);
    free(plain);
    if (j == NULL) {
        *rc = -EBADMSG;
    }
    return j;
}

/* ---- the environment ---------------------------------------------------------------------- */

/* Re-writes every value of the plain store sealed (txn): the migration to sealing. */
static int
s_seal_all(au_store_t *s, MDB_txn *txn)
{
    for (int d = AU_DBI_STATE; d < AU_DBI_N; d++) {
        MDB_cursor *cur = NULL;
        int rc = mdb_cursor_open(txn, s->dbi[d], &cur);
        MDB_val k, v;
        for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            if (d == AU_DBI_STATE) {
                rc = au_store_state_reseal(s, txn, cur, &k, &v);
            } else {
                uint8_t kb[AU_STORE_MAX_KEY];
                memcpy(kb, k.mv_data, k.mv_size);
                MDB_val kc = {k.mv_size, kb};
                void *sealed = NULL;
                size_t slen = 0;
                rc = -s->sealer.seal(s->sealer.arg, kb, kc.mv_size, v.mv_data, v.mv_size,
                                     &sealed, &slen);
                if (rc == 0) {
                    MDB_val nv = {slen, sealed};
                    rc = mdb_cursor_put(cur, &kc, &nv, MDB_CURRENT);
                }
                free(sealed);
            }
            if (rc != 0) {
                break;
            }
        }
        mdb_cursor_close(cur);
        if (rc != 0 && rc != MDB_NOTFOUND) {
            return rc;
        }
    }
    MDB_val k = {6, (void *)"sealed"}, v = {1, (void *)"1"};
    return mdb_put(txn, s->dbi[AU_DBI_META], &k, &v, 0);
}

/* After sealing a plaintext store, its freed pages still hold the plaintext: the file is
 * replaced by a compacted copy (live pages only) and the environment opened again. */
static int
s_compact(au_store_t *s, char *err, size_t errlen)
{
    char tmp[4200], from[4300], to[4300];
    snprintf(tmp, sizeof tmp, "%s/compact.tmp", s->dir);
    snprintf(from, sizeof from, "%s/data.mdb", tmp);
    snprintf(to, sizeof to, "%s/data.mdb", s->dir);
    unlink(from);
    rmdir(tmp);
    if (mkdir(tmp, 0700) < 0) {
        snprintf(err, errlen, "state store %s: %s: %s", s->dir, tmp, strerror(errno));
        return -errno;
    }
    int rc = mdb_env_copy2(s->env, tmp, MDB_CP_COMPACT);
    if (rc != 0) {
        unlink(from);
        rmdir(tmp);
        return au_store_fail(s, rc, "compacting", err, errlen);
    }
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    unsigned flags = 0;
    mdb_env_get_flags(s->env, &flags);
    mdb_env_close(s->env);
    s->env = NULL;
    if (rename(from, to) < 0) {
        snprintf(err, errlen, "state store %s: %s: %s", s->dir, to, strerror(errno));
        return -errno;
    }
    rmdir(tmp);
    rc = mdb_env_create(&s->env);
    if (rc == 0) {
        mdb_env_set_mapsize(s->env, (size_t)s->map_bytes);
        mdb_env_set_maxdbs(s->env, AU_DBI_N);
        mdb_env_set_maxreaders(s->env, AU_STORE_READERS);
        rc = mdb_env_open(s->env, s->dir, flags, 0600);
    }
    MDB_txn *txn = NULL;
    if (rc == 0) {
        rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    }
    for (int i = 0; i < AU_DBI_N && rc == 0; i++) {
        rc = mdb_dbi_open(txn, s_dbi_names[i], 0, &s->dbi[i]);
    }
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
    } else if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return rc ? au_store_fail(s, rc, "reopening after compaction", err, errlen) : 0;
}

/* The key of the state keys' hashes: read (opened) from meta, or made and stored; with a
 * sealer, a plaintext store is sealed first. Refuses a sealed store without a sealer, and a
 * key record the sealer cannot open (another data key), before anything is written. */
static int
s_keys_init(au_store_t *s, char *err, size_t errlen)
{
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != 0) {
        return au_store_fail(s, rc, "opening", err, errlen);
    }
    MDB_val k = {6, (void *)"sealed"}, v;
    bool sealed = mdb_get(txn, s->dbi[AU_DBI_META], &k, &v) == 0;
    bool migrated = false;
    if (sealed && !s->has_sealer) {
        mdb_txn_abort(txn);
        snprintf(err, errlen,
                 "state store %s is sealed: it opens only with its data keys "
                 "(at_rest.encryption is off here)",
                 s->dir);
        return -EPERM;
    }
    if (!sealed && s->has_sealer) {
        rc = s_seal_all(s, txn);
        migrated = rc == 0;
    }
    MDB_val ik = {4, (void *)"ikey"};
    if (rc == 0 && mdb_get(txn, s->dbi[AU_DBI_META], &ik, &v) == 0) {
        const uint8_t *p = v.mv_data;
        size_t n = v.mv_size;
        void *plain = NULL;
        size_t plen = n;
        if (s->has_sealer && sealed) {
            int orc = s->sealer.open(s->sealer.arg, "ikey", 4, p, n, &plain, &plen);
            if (orc < 0) {
                mdb_txn_abort(txn);
                snprintf(err, errlen,
                         "state store %s: its key record cannot be opened with these data keys "
                         "(%s): a wrong or missing key",
                         s->dir, strerror(-orc));
                return orc;
            }
            p = plain;
        }
        if (plen == sizeof s->index_key) {
            memcpy(s->index_key, p, sizeof s->index_key);
        } else {
            rc = EBADMSG;
        }
        free(plain);
        if (rc == 0 && migrated) { /* the plain key record, sealed now */
            void *sk = NULL;
            size_t sl = 0;
            rc = -s->sealer.seal(s->sealer.arg, "ikey", 4, s->index_key, sizeof s->index_key,
                                 &sk, &sl);
            if (rc == 0) {
                MDB_val nv = {sl, sk};
                rc = mdb_put(txn, s->dbi[AU_DBI_META], &ik, &nv, 0);
            }
            free(sk);
        }
    } else if (rc == 0) {
        randombytes_buf(s->index_key, sizeof s->index_key);
        void *sealed_key = NULL;
        size_t slen = sizeof s->index_key;
        const void *val = s->index_key;
        if (s->has_sealer) {
            rc = -s->sealer.seal(s->sealer.arg, "ikey", 4, s->index_key, sizeof s->index_key,
                                 &sealed_key, &slen);
            val = sealed_key;
        }
        if (rc == 0) {
            MDB_val nv = {slen, (void *)val};
            rc = mdb_put(txn, s->dbi[AU_DBI_META], &ik, &nv, 0);
        }
        free(sealed_key);
    }
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
    } else {
        mdb_txn_abort(txn);
    }
    if (rc != 0) {
        return au_store_fail(s, rc, "opening", err, errlen);
    }
    s->migrated = migrated;
    return 0;
}


/* Opens the LMDB environment step by step, remembering which step failed so the message
 * names it; reader slots left by a killed process are cleared before the databases are
 * opened, and the keys are set up (a migrated store compacted) before the store is returned,
 * so a store that returns is fully usable. */
int
au_store_open(au_store_t **out, const struct au_store_opts *o, char *err, size_t errlen)
{
    *out = NULL;
    int rc = vx_jsonfile_mkdir(o->dir);
    if (rc < 0) {
        snprintf(err, errlen, "state store %s: %s", o->dir, strerror(-rc));
        return rc;
    }
    au_store_t *s = vx_calloc(1, sizeof *s);
    au_store_group_init(s);
    s->dir = vx_strdup(o->dir);
    s->map_bytes = o->map_bytes;
    s->max_history = o->max_history ? o->max_history : 1;
    s->history_age_ns = o->history_age_ns;
    s->c_changes = o->changes_total;
    s->c_txns = o->transactions_total;
    s->c_resealed = o->resealed_total;
    if (o->sealer != NULL) {
        s->sealer = *o->sealer;
        s->has_sealer = true;
    }
    if (sodium_init() < 0) {
        snprintf(err, errlen, "state store %s: libsodium cannot start", o->dir);
        au_store_close(&s);
        return -EIO;
    }
    const char *step = "mdb_env_create";
    int mrc = mdb_env_create(&s->env);
    if (mrc == 0) {
        step = "mdb_env_set_mapsize";
        mrc = mdb_env_set_mapsize(s->env, (size_t)o->map_bytes);
    }
    if (mrc == 0) {
        step = "mdb_env_set_maxdbs";
        mrc = mdb_env_set_maxdbs(s->env, AU_DBI_N);
    }
    if (mrc == 0) {
        step = "mdb_env_set_maxreaders";
        mrc = mdb_env_set_maxreaders(s->env, AU_STORE_READERS);
    }
    if (mrc == 0) {
        step = "mdb_env_open";
        mrc = mdb_env_open(s->env, o->dir, MDB_NOTLS | (o->no_sync ? MDB_NOSYNC : 0), 0600);
    }
    if (mrc == 0) {
        int dead = 0;
        mdb_reader_check(s->env, &dead); /* slots of a killed process */
        MDB_txn *txn = NULL;
        step = "opening its databases";
        mrc = mdb_txn_begin(s->env, NULL, 0, &txn);
        for (int i = 0; i < AU_DBI_N && mrc == 0; i++) {
            mrc = mdb_dbi_open(txn, s_dbi_names[i], MDB_CREATE, &s->dbi[i]);
        }
        if (mrc == 0) {
            mrc = mdb_txn_commit(txn);
        } else if (txn != NULL) {
            mdb_txn_abort(txn);
        }
    }
    if (mrc != 0) {
        snprintf(err, errlen, "state store %s: %s: %s", o->dir, step, mdb_strerror(mrc));
        rc = au_store_errno(mrc);
        au_store_close(&s);
        return rc;
    }
    rc = s_keys_init(s, err, errlen);
    if (rc == 0 && s->migrated) {
        rc = s_compact(s, err, errlen);
    }
    if (rc < 0) {
        au_store_close(&s);
        return rc;
    }
    s->seq = au_store_read_seq(s);
    au_store_hist_prune(s, 0);
    *out = s;
    return 0;
}

void
au_store_close(au_store_t **sp)
{
    if (sp == NULL || *sp == NULL) {
        return;
    }
    au_store_t *s = *sp;
    au_store_reseal_stop(s); /* it writes through the environment */
    if (s->env != NULL) {
        mdb_env_close(s->env);
    }
    au_store_group_fini(s);
    free(s->dir);
    vx_free(sp);
}

const char *
au_store_dir(const au_store_t *s)
{
    return s->dir;
}

uint64_t
au_store_be64(const void *p)
{
    const uint8_t *b = p;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | b[i];
    }
    return v;
}

void
au_store_put_be64(void *p, uint64_t v)
{
    uint8_t *b = p;
    for (int i = 7; i >= 0; i--) {
        b[i] = (uint8_t)v;
        v >>= 8;
    }
}

uint64_t
au_store_read_seq(au_store_t *s)
{
    MDB_txn *txn = NULL;
    uint64_t seq = 0;
    if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) != 0) {
        return 0;
    }
    MDB_val k = {3, (void *)"seq"}, v;
    if (mdb_get(txn, s->dbi[AU_DBI_META], &k, &v) == 0 && v.mv_size == 8) {
        seq = au_store_be64(v.mv_data);
    }
    mdb_txn_abort(txn);
    return seq;
}

uint64_t
au_store_seq(au_store_t *s)
{
    return __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
}

/* ---- definitions -------------------------------------------------------------------------- */

/* One JSON value put under a key of one database: a change for au_store_write. */
struct s_put_arg {
    enum au_dbi dbi;
    const char *key;
    json_t *doc;
};

static int
cb_put(au_store_t *s, MDB_txn *txn, void *arg, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct s_put_arg *a = arg;
    return au_store_put_json(s, txn, s->dbi[a->dbi], a->key, strlen(a->key), a->doc, 0);
}

int
au_store_def_put(au_store_t *s, const char *name, json_t *doc, char *err, size_t errlen)
{
    struct s_put_arg a = {AU_DBI_DEFS, name, doc};
    int mrc = au_store_write(s, cb_put, &a, err, errlen);
    return mrc ? au_store_fail(s, mrc, name, err, errlen) : 0;
}

json_t *
au_store_def_get(au_store_t *s, const char *name, int *rc, char *err, size_t errlen)
{
    MDB_txn *txn = NULL;
    *rc = 0;
    int mrc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (mrc != 0) {
        *rc = au_store_fail(s, mrc, name, err, errlen);
        return NULL;
    }
    MDB_val k = {strlen(name), (void *)name}, v;
    json_t *doc = NULL;
    mrc = mdb_get(txn, s->dbi[AU_DBI_DEFS], &k, &v);
    if (mrc == 0) {
        doc = au_store_get_json(s, &k, &v, rc);
        if (doc == NULL) {
            snprintf(err, errlen, "state store %s: the stored %s cannot be read: %s", s->dir,
                     name, strerror(-*rc));
        }
    } else if (mrc != MDB_NOTFOUND) {
        *rc = au_store_fail(s, mrc, name, err, errlen);
    }
    mdb_txn_abort(txn);
    return doc;
}

/* ---- journal ------------------------------------------------------------------------------ */

int
au_store_journal_put(au_store_t *s, const char *id, json_t *entry, char *err, size_t errlen)
{
    struct s_put_arg a = {AU_DBI_JOURNAL, id, entry};
    int mrc = au_store_write(s, cb_put, &a, err, errlen);
    return mrc ? au_store_fail(s, mrc, "journal", err, errlen) : 0;
}

json_t *
au_store_journal_list(au_store_t *s, char *err, size_t errlen)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    int mrc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (mrc == 0) {
        mrc = mdb_cursor_open(txn, s->dbi[AU_DBI_JOURNAL], &cur);
    }
    if (mrc != 0) {
        au_store_fail(s, mrc, "journal", err, errlen);
        if (txn != NULL) {
            mdb_txn_abort(txn);
        }
        return NULL;
    }
    json_t *arr = json_array();
    MDB_val k, v;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        json_t *id = json_stringn_nocheck(k.mv_data, k.mv_size);
        int rc = 0;
        json_t *e = au_store_get_json(s, &k, &v, &rc);
        if (e == NULL) {
            json_array_append_new(arr, json_pack("{s:o, s:s}", "id", id, "error",
                                                 strerror(-rc)));
        } else {
            json_array_append_new(arr, json_pack("{s:o, s:o}", "id", id, "entry", e));
        }
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return arr;
}

bool
au_store_exec_known(au_store_t *s, const char *id)
{
    MDB_txn *txn = NULL;
    if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) != 0) {
        return false;
    }
    MDB_val k = {strlen(id), (void *)id}, v;
    bool known = mdb_get(txn, s->dbi[AU_DBI_JOURNAL], &k, &v) == 0 ||
                 mdb_get(txn, s->dbi[AU_DBI_EXEC], &k, &v) == 0;
    mdb_txn_abort(txn);
    return known;
}

/* ---- outbox ------------------------------------------------------------------------------- */

json_t *
au_store_outbox_first(au_store_t *s, char key[12])
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) != 0) {
        return NULL;
    }
    json_t *j = NULL;
    MDB_val k, v;
    if (mdb_cursor_open(txn, s->dbi[AU_DBI_OUTBOX], &cur) == 0 &&
        mdb_cursor_get(cur, &k, &v, MDB_FIRST) == 0 && k.mv_size == 12) {
        int rc = 0;
        memcpy(key, k.mv_data, 12);
        j = au_store_get_json(s, &k, &v, &rc);
        if (j == NULL) {
            j = json_pack("{s:s}", "error", strerror(-rc)); /* removed by the caller */
        }
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return j;
}

static int
cb_outbox_del(au_store_t *s, MDB_txn *txn, void *arg, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    MDB_val k = {12, arg};
    int mrc = mdb_del(txn, s->dbi[AU_DBI_OUTBOX], &k, NULL);
    return mrc == MDB_NOTFOUND ? 0 : mrc;
}

int
au_store_outbox_del(au_store_t *s, const char key[12])
{
    char err[256];
    return au_store_errno(au_store_write(s, cb_outbox_del, (void *)key, err, sizeof err));
}

size_t
au_store_outbox_take(au_store_t *s, struct au_store_change *out, size_t max)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) != 0) {
        return 0;
    }
    size_t n = 0;
    MDB_val k, v;
    if (mdb_cursor_open(txn, s->dbi[AU_DBI_OUTBOX], &cur) == 0) {
        for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && n < max;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            if (k.mv_size != 12) {
                continue;
            }
            int orc = 0;
            memcpy(out[n].key, k.mv_data, 12);
            out[n].change = au_store_get_json(s, &k, &v, &orc);
            if (out[n].change == NULL) {
                out[n].change = json_pack("{s:s}", "error", strerror(-orc));
            }
            n++;
        }
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    return n;
}

struct s_del_n {
    const struct au_store_change *c;
    size_t n;
};

static int
cb_outbox_del_n(au_store_t *s, MDB_txn *txn, void *arg, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct s_del_n *d = arg;
    for (size_t i = 0; i < d->n; i++) {
        MDB_val k = {12, (void *)d->c[i].key};
        int mrc = mdb_del(txn, s->dbi[AU_DBI_OUTBOX], &k, NULL);
        if (mrc != 0 && mrc != MDB_NOTFOUND) {
            return mrc;
        }
    }
    return 0;
}

int
au_store_outbox_del_n(au_store_t *s, const struct au_store_change *c, size_t n)
{
    char err[256];
    struct s_del_n d = {c, n};
    return n == 0 ? 0 : au_store_errno(au_store_write(s, cb_outbox_del_n, &d, err, sizeof err));
}

json_t *
au_store_stats(au_store_t *s)
{
    MDB_envinfo info;
    MDB_stat st;
    mdb_env_info(s->env, &info);
    mdb_env_stat(s->env, &st);
    json_t *entries = json_object();
    MDB_txn *txn = NULL;
    if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) == 0) {
        for (int i = 0; i < AU_DBI_N; i++) {
            MDB_stat ds;
            if (mdb_stat(txn, s->dbi[i], &ds) == 0) {
                json_object_set_new(entries, s_dbi_names[i],
                                    json_integer((json_int_t)ds.ms_entries));
            }
        }
        mdb_txn_abort(txn);
    }
    return json_pack("{s:I, s:I, s:I, s:o}", "map_bytes", (json_int_t)s->map_bytes,
                     "used_bytes", ((json_int_t)info.me_last_pgno + 1) * (json_int_t)st.ms_psize, "seq",
                     (json_int_t)au_store_seq(s), "entries", entries);
}

/* ---- the suite's sealer ---- */

static int
cb_vx_seal(void *arg, const void *ad, size_t adlen, const void *plain, size_t len, void **out,
           size_t *outlen)
{
    size_t cap = len + VX_SEAL_OVERHEAD;
    uint8_t *buf = vx_malloc(cap);
    int rc = vx_seal(arg, ad, adlen, plain, len, buf, cap, outlen);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    return 0;
}

static int
cb_vx_open(void *arg, const void *ad, size_t adlen, const void *sealed, size_t len, void **out,
           size_t *outlen)
{
    uint8_t *buf = vx_malloc(len ? len : 1);
    char err[256];
    int rc = vx_unseal(arg, ad, adlen, sealed, len, buf, len, outlen, err, sizeof err);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    return 0;
}

struct au_store_sealer
au_store_vx_sealer(const vx_sealer_t *sealer)
{
    return (struct au_store_sealer){cb_vx_seal, cb_vx_open, (void *)sealer,
                                    vx_sealer_key_id(sealer)};
}
