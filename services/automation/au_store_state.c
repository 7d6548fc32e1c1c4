/* SPDX-License-Identifier: Apache-2.0 */
/* The state in the automation store (see au_store.h): nested views and transactional commits
 * with first-committer-wins conflict detection.
 *
 * Keys. A state path is stored under H(tenant) H(part1) H(part2) ..., 8 bytes of a keyed
 * BLAKE2b hash per dotted part, so neither tenants nor paths appear in the file, and the
 * paths below a path are exactly the keys it prefixes (at 8-byte boundaries), its parents the
 * keys that prefix it. The path itself is kept in the value.
 *
 * Values. 9 bytes in clear — the version (the commit that wrote it, big-endian) and 1 when the
 * value is an object — then {"path":..., "value":...} as JSON, sealed when the store seals,
 * with the key and those 9 bytes as additional data (so neither can be changed unnoticed). */
#include "au_store_priv.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vx_mem.h"

#define S_HASH 8
#define S_MAX_PARTS ((AU_STORE_MAX_KEY / S_HASH) - 1)
#define S_HDR 9

static void
s_hash(const au_store_t *s, const char *p, size_t n, uint8_t out[S_HASH])
{
    crypto_generichash(out, S_HASH, (const unsigned char *)p, n, s->index_key,
                       sizeof s->index_key);
}

/* The key of tenant's path; returns its length, or 0 when the path has too many parts or an
 * empty one ("", ".a", "a..b", "a."). */
static size_t
s_key(const au_store_t *s, const char *tenant, const char *path, uint8_t *key)
{
    size_t pl = strlen(path);
    if (pl == 0 || path[0] == '.' || path[pl - 1] == '.' || strstr(path, "..") != NULL) {
        return 0;
    }
    s_hash(s, tenant, strlen(tenant), key);
    size_t len = S_HASH;
    const char *p = path;
    while (*p != '\0') {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (len + S_HASH > AU_STORE_MAX_KEY) {
            return 0;
        }
        s_hash(s, p, n, key + len);
        len += S_HASH;
        p += n + (dot ? 1 : 0);
    }
    return len;
}

/* Opens a state value: its JSON {"path","value"} (new reference) or NULL with *rc. */
static json_t *
s_open(au_store_t *s, const MDB_val *k, const MDB_val *v, int *rc)
{
    if (v->mv_size < S_HDR) {
        *rc = -EBADMSG;
        return NULL;
    }
    uint8_t ad[AU_STORE_MAX_KEY + S_HDR];
    memcpy(ad, k->mv_data, k->mv_size);
    memcpy(ad + k->mv_size, v->mv_data, S_HDR);
    MDB_val ak = {k->mv_size + S_HDR, ad};
    MDB_val body = {v->mv_size - S_HDR, (uint8_t *)v->mv_data + S_HDR};
    return au_store_get_json(s, &ak, &body, rc);
}

static uint64_t
s_version(const MDB_val *v)
{
    return v->mv_size >= S_HDR ? au_store_be64(v->mv_data) : UINT64_MAX;
}

static bool
s_is_object(const MDB_val *v)
{
    return v->mv_size >= S_HDR && ((const uint8_t *)v->mv_data)[8] == 1;
}

/* Stores path = value (borrowed) under key at version. An LMDB result. */
static int
s_put(au_store_t *s, MDB_txn *txn, const uint8_t *key, size_t klen, const char *path,
      json_t *value, uint64_t version)
{
    uint8_t hdr[S_HDR];
    au_store_put_be64(hdr, version);
    hdr[8] = json_is_object(value) ? 1 : 0;
    json_t *j = json_pack("{s:s, s:O}", "path", path, "value", value);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (text == NULL) {
        return EINVAL;
    }
    uint8_t *body = (uint8_t *)text;
    size_t blen = strlen(text);
    void *sealed = NULL;
    if (s->has_sealer) {
        uint8_t ad[AU_STORE_MAX_KEY + S_HDR];
        memcpy(ad, key, klen);
        memcpy(ad + klen, hdr, S_HDR);
        int rc = s->sealer.seal(s->sealer.arg, ad, klen + S_HDR, text, blen, &sealed, &blen);
        if (rc < 0) {
            free(text);
            return -rc;
        }
        body = sealed;
    }
    MDB_val k = {klen, (void *)key};
    MDB_val v = {S_HDR + blen, NULL};
    int mrc = mdb_put(txn, s->dbi[AU_DBI_STATE], &k, &v, MDB_RESERVE);
    if (mrc == 0) {
        memcpy(v.mv_data, hdr, S_HDR);
        memcpy((uint8_t *)v.mv_data + S_HDR, body, blen);
    }
    sodium_memzero(text, strlen(text));
    free(text);
    free(sealed);
    return mrc;
}

int
au_store_state_reseal(au_store_t *s, MDB_txn *txn, MDB_cursor *cur, const MDB_val *k,
                       const MDB_val *v)
{
    if (v->mv_size < S_HDR) {
        return EBADMSG;
    }
    uint8_t ad[AU_STORE_MAX_KEY + S_HDR];
    memcpy(ad, k->mv_data, k->mv_size);
    memcpy(ad + k->mv_size, v->mv_data, S_HDR);
    size_t adlen = k->mv_size + S_HDR;
    void *sealed = NULL;
    size_t slen = 0;
    int rc = -s->sealer.seal(s->sealer.arg, ad, adlen, (const uint8_t *)v->mv_data + S_HDR,
                             v->mv_size - S_HDR, &sealed, &slen);
    if (rc != 0) {
        return rc;
    }
    uint8_t *buf = vx_malloc(S_HDR + slen);
    memcpy(buf, ad + k->mv_size, S_HDR);
    memcpy(buf + S_HDR, sealed, slen);
    MDB_val kc = {k->mv_size, ad};
    MDB_val nv = {S_HDR + slen, buf};
    rc = mdb_cursor_put(cur, &kc, &nv, MDB_CURRENT);
    (void)txn;
    free(buf);
    free(sealed);
    return rc;
}

/* Sets value at the dotted path under root, creating (or replacing non-object values by)
 * the objects on the way. value: one reference, taken. */
static void
s_set_path(json_t *root, const char *path, json_t *value)
{
    json_t *cur = root;
    char *copy = vx_strdup(path);
    char *save = NULL;
    char *part = strtok_r(copy, ".", &save);
    while (part != NULL) {
        char *next = strtok_r(NULL, ".", &save);
        if (next == NULL) {
            json_object_set(cur, part, value);
        } else {
            json_t *sub = json_object_get(cur, part);
            if (!json_is_object(sub)) {
                sub = json_object();
                json_object_set_new(cur, part, sub);
            }
            cur = sub;
        }
        part = next;
    }
    free(copy);
    json_decref(value);
}

void
au_store_view_set(json_t *root, const char *path, json_t *value)
{
    s_set_path(root, path, json_incref(value));
}

/* The view of tenant's state in txn (new reference) or NULL with *rc. */
static json_t *
s_view(au_store_t *s, MDB_txn *txn, const char *tenant, int *rc)
{
    uint8_t prefix[S_HASH];
    s_hash(s, tenant, strlen(tenant), prefix);
    MDB_cursor *cur = NULL;
    int mrc = mdb_cursor_open(txn, s->dbi[AU_DBI_STATE], &cur);
    if (mrc != 0) {
        *rc = au_store_errno(mrc);
        return NULL;
    }
    json_t *root = json_object();
    MDB_val k = {S_HASH, prefix}, v;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
         mrc == 0 && k.mv_size >= S_HASH && memcmp(k.mv_data, prefix, S_HASH) == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        json_t *j = s_open(s, &k, &v, rc);
        const char *path = json_string_value(json_object_get(j, "path"));
        json_t *val = json_object_get(j, "value");
        if (path == NULL || val == NULL) {
            if (*rc == 0) {
                *rc = -EBADMSG;
            }
            json_decref(j);
            json_decref(root);
            mdb_cursor_close(cur);
            return NULL;
        }
        s_set_path(root, path, json_incref(val));
        json_decref(j);
    }
    mdb_cursor_close(cur);
    *rc = 0;
    return root;
}

json_t *
au_store_state_json(au_store_t *s, const char *tenant, uint64_t *seq, char *err, size_t errlen)
{
    MDB_txn *txn = NULL;
    int mrc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (mrc != 0) {
        au_store_fail(s, mrc, "state", err, errlen);
        return NULL;
    }
    if (seq != NULL) {
        MDB_val k = {3, (void *)"seq"}, v;
        *seq = mdb_get(txn, s->dbi[AU_DBI_META], &k, &v) == 0 && v.mv_size == 8
                   ? au_store_be64(v.mv_data)
                   : 0;
    }
    int rc = 0;
    json_t *view = s_view(s, txn, tenant, &rc);
    mdb_txn_abort(txn);
    if (view == NULL) {
        snprintf(err, errlen,
                 "state store %s: a state record of tenant %s cannot be read (%s): it was "
                 "changed on disk or sealed with another key",
                 s->dir, tenant, strerror(-rc));
    }
    return view;
}

/* The path of a stored record, for conflict messages (into out). */
static void
s_path_of(au_store_t *s, const MDB_val *k, const MDB_val *v, char *out, size_t len)
{
    int rc = 0;
    json_t *j = s_open(s, k, v, &rc);
    const char *p = json_string_value(json_object_get(j, "path"));
    snprintf(out, len, "%s", p ? p : "?");
    json_decref(j);
}

/* Whether writing key conflicts with a commit after snap (*hit): the key itself, a key below
 * it or one above it was written later. An LMDB result. */
static int
s_conflict(au_store_t *s, MDB_txn *txn, MDB_cursor *cur, const uint8_t *key, size_t klen,
           struct au_store_commit *c, bool *hit)
{
    *hit = true;
    MDB_val k, v;
    for (size_t n = 2 * S_HASH; n < klen; n += S_HASH) { /* parents */
        k = (MDB_val){n, (void *)key};
        if (mdb_get(txn, s->dbi[AU_DBI_STATE], &k, &v) == 0 && s_version(&v) > c->snap_seq) {
            c->conflict_seq = s_version(&v);
            s_path_of(s, &k, &v, c->conflict, sizeof c->conflict);
            return 0;
        }
    }
    k = (MDB_val){klen, (void *)key};
    int mrc;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
         mrc == 0 && k.mv_size >= klen && memcmp(k.mv_data, key, klen) == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) { /* itself and below */
        if (s_version(&v) > c->snap_seq) {
            c->conflict_seq = s_version(&v);
            s_path_of(s, &k, &v, c->conflict, sizeof c->conflict);
            return 0;
        }
    }
    *hit = false;
    return mrc == MDB_NOTFOUND ? 0 : mrc;
}

/* Writes key = value: removes what lies below it and the non-object values above it. */
static int
s_apply(au_store_t *s, MDB_txn *txn, MDB_cursor *cur, const uint8_t *key, size_t klen,
        const char *path, json_t *value, uint64_t seq)
{
    MDB_val k, v;
    for (size_t n = 2 * S_HASH; n < klen; n += S_HASH) {
        k = (MDB_val){n, (void *)key};
        if (mdb_get(txn, s->dbi[AU_DBI_STATE], &k, &v) == 0 && !s_is_object(&v)) {
            int mrc = mdb_del(txn, s->dbi[AU_DBI_STATE], &k, NULL);
            if (mrc != 0) {
                return mrc;
            }
        }
    }
    int mrc;
    for (;;) { /* sought again after each delete: the cursor's place is not kept by it */
        k = (MDB_val){klen, (void *)key};
        mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (mrc != 0 || k.mv_size < klen || memcmp(k.mv_data, key, klen) != 0) {
            break;
        }
        mrc = mdb_cursor_del(cur, 0);
        if (mrc != 0) {
            return mrc;
        }
    }
    if (mrc != 0 && mrc != MDB_NOTFOUND) {
        return mrc;
    }
    return s_put(s, txn, key, klen, path, value, seq);
}

/* True when write i is superseded by a later write of the same path or of a parent: its value
 * is never visible, so it is no change of its own for the triggers. */
static bool
s_superseded(json_t *writes, size_t i)
{
    const char *p = json_string_value(json_array_get(json_array_get(writes, i), 0));
    size_t pl = strlen(p);
    for (size_t j = i + 1; j < json_array_size(writes); j++) {
        const char *q = json_string_value(json_array_get(json_array_get(writes, j), 0));
        size_t ql = strlen(q);
        if (ql <= pl && strncmp(p, q, ql) == 0 && (ql == pl || p[ql] == '.')) {
            return true;
        }
    }
    return false;
}

/* The state writes of c in txn: all checked before any is applied, so a conflict leaves txn
 * unchanged. Returns an LMDB result, or -EBUSY / -EINVAL (negative errno). */
static int
s_commit_writes(au_store_t *s, MDB_txn *txn, struct au_store_commit *c, char *err,
                size_t errlen)
{
    size_t n = json_array_size(c->writes);
    uint8_t(*keys)[AU_STORE_MAX_KEY] = vx_calloc(n ? n : 1, AU_STORE_MAX_KEY);
    size_t *lens = vx_calloc(n ? n : 1, sizeof *lens);
    MDB_cursor *cur = NULL;
    int rc = mdb_cursor_open(txn, s->dbi[AU_DBI_STATE], &cur);
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *w = json_array_get(c->writes, i);
        const char *path = json_string_value(json_array_get(w, 0));
        if (path == NULL || json_array_get(w, 1) == NULL ||
            (lens[i] = s_key(s, c->tenant, path, keys[i])) == 0) {
            snprintf(err, errlen,
                     "state write %zu: expected [path, value], a dotted path of at most %d "
                     "non-empty parts",
                     i, (int)S_MAX_PARTS);
            rc = -EINVAL;
        } else if (c->snap_seq != UINT64_MAX) {
            bool hit = false;
            rc = s_conflict(s, txn, cur, keys[i], lens[i], c, &hit);
            if (rc == 0 && hit) {
                snprintf(err, errlen,
                         "state key \"%s\" was committed by another writer (commit %llu) after "
                         "this one's snapshot (commit %llu)",
                         c->conflict, (unsigned long long)c->conflict_seq,
                         (unsigned long long)c->snap_seq);
                rc = -EBUSY;
            }
        }
    }
    uint64_t seq = au_store_read_seq_txn(s, txn) + 1;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *w = json_array_get(c->writes, i);
        const char *path = json_string_value(json_array_get(w, 0));
        rc = s_apply(s, txn, cur, keys[i], lens[i], path, json_array_get(w, 1), seq);
        if (rc == 0 && !s_superseded(c->writes, i)) {
            uint8_t ok[12];
            au_store_put_be64(ok, seq);
            ok[8] = (uint8_t)(i >> 24);
            ok[9] = (uint8_t)(i >> 16);
            ok[10] = (uint8_t)(i >> 8);
            ok[11] = (uint8_t)i;
            json_t *ch = json_pack("{s:s, s:s, s:O, s:I}", "tenant", c->tenant, "path", path,
                                   "value", json_array_get(w, 1), "seq", (json_int_t)seq);
            rc = au_store_put_json(s, txn, s->dbi[AU_DBI_OUTBOX], ok, sizeof ok, ch, 0);
            json_decref(ch);
        }
    }
    if (rc == 0 && n > 0) {
        uint8_t b[8];
        au_store_put_be64(b, seq);
        MDB_val k = {3, (void *)"seq"}, v = {8, b};
        rc = mdb_put(txn, s->dbi[AU_DBI_META], &k, &v, 0);
        c->seq = seq;
    }
    mdb_cursor_close(cur);
    free(keys);
    free(lens);
    return rc;
}

uint64_t
au_store_read_seq_txn(au_store_t *s, MDB_txn *txn)
{
    MDB_val k = {3, (void *)"seq"}, v;
    return mdb_get(txn, s->dbi[AU_DBI_META], &k, &v) == 0 && v.mv_size == 8
               ? au_store_be64(v.mv_data)
               : 0;
}

/* Everything c asks, as one change of a write transaction (au_store_write), so that a crash
 * leaves all of it or none: the state writes of a succeeded execution become visible in the
 * same commit that removes its journal entry and adds its record to the history. */
static int
cb_commit(au_store_t *s, MDB_txn *txn, void *arg, char *err, size_t errlen)
{
    struct au_store_commit *c = arg;
    c->seq = 0;
    int rc = 0;
    if (c->writes != NULL && json_array_size(c->writes) > 0) {
        rc = s_commit_writes(s, txn, c, err, errlen);
    }
    if (rc == 0 && c->journal_del != NULL) {
        MDB_val k = {strlen(c->journal_del), (void *)c->journal_del};
        rc = mdb_del(txn, s->dbi[AU_DBI_JOURNAL], &k, NULL);
        rc = rc == MDB_NOTFOUND ? 0 : rc;
    }
    if (rc == 0 && c->hist_id != NULL) {
        if (c->seq > 0) {
            json_object_set_new(c->hist_rec, "state_commit", json_integer((json_int_t)c->seq));
        }
        rc = au_store_hist_add(s, txn, c->hist_id, c->hist_rec, c->hist_ns);
    }
    return rc;
}

int
au_store_commit(au_store_t *s, struct au_store_commit *c, char *err, size_t errlen)
{
    c->seq = 0;
    c->conflict[0] = '\0';
    c->conflict_seq = 0;
    int rc = au_store_write(s, cb_commit, c, err, errlen);
    if (rc == 0) {
        return 0;
    }
    c->seq = 0;
    if (rc < 0 && rc > -4096) { /* our -errno (-EBUSY, -EINVAL): err is set */
        return rc;
    }
    return au_store_fail(s, rc, "commit", err, errlen);
}
