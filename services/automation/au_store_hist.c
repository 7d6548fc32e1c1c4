/* SPDX-License-Identifier: Apache-2.0 */
/* The history of finished executions in the automation store (see au_store.h): added in the
 * commit that finishes an execution, bounded by count and age, read by id or in pages.
 *
 * exec holds each record under its id; hist orders them by finishing time (key: 8 bytes of
 * wall-clock ns, big-endian, then the id) with a small sealed summary {"t":tenant,"s":status,
 * "w":workflow} as value, so a page filters without opening every record. */
#include "au_store_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vx_clock.h"

#define S_HIST_KEY (8 + 64)

/* Removes the oldest history entry (cursor at it). An LMDB result. */
static int
s_drop(au_store_t *s, MDB_txn *txn, MDB_cursor *cur, const MDB_val *k)
{
    MDB_val id = {k->mv_size - 8, (uint8_t *)k->mv_data + 8};
    int rc = mdb_del(txn, s->dbi[AU_DBI_EXEC], &id, NULL);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        return rc;
    }
    rc = mdb_cursor_del(cur, 0);
    if (rc == 0) {
        __atomic_add_fetch(&s->hist_evicted, 1, __ATOMIC_RELAXED);
    }
    return rc;
}

/* Drops the entries beyond max_history and older than history_age_ns (txn). */
static int
s_prune(au_store_t *s, MDB_txn *txn, uint64_t now_ns)
{
    MDB_stat st;
    int rc = mdb_stat(txn, s->dbi[AU_DBI_HIST], &st);
    if (rc != 0) {
        return rc;
    }
    size_t n = st.ms_entries;
    uint64_t oldest_ok = s->history_age_ns > 0 && now_ns > s->history_age_ns
                             ? now_ns - s->history_age_ns
                             : 0;
    MDB_cursor *cur = NULL;
    rc = mdb_cursor_open(txn, s->dbi[AU_DBI_HIST], &cur);
    while (rc == 0 && n > 0) {
        MDB_val k, v;
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        if (rc != 0 || k.mv_size < 8) {
            break;
        }
        if (n <= s->max_history && au_store_be64(k.mv_data) >= oldest_ok) {
            break;
        }
        rc = s_drop(s, txn, cur, &k);
        n--;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int
au_store_hist_add(au_store_t *s, MDB_txn *txn, const char *id, json_t *rec, uint64_t ns)
{
    size_t idl = strlen(id);
    if (idl == 0 || idl > S_HIST_KEY - 8) {
        return EINVAL;
    }
    uint8_t key[S_HIST_KEY];
    au_store_put_be64(key, ns);
    memcpy(key + 8, id, idl); // NOLINT(bugprone-not-null-terminated-result): a key of bytes

    int rc = au_store_put_json(s, txn, s->dbi[AU_DBI_EXEC], id, idl, rec, 0);
    if (rc == 0) {
        const char *t = json_string_value(json_object_get(rec, "tenant"));
        const char *st = json_string_value(json_object_get(rec, "status"));
        const char *w = json_string_value(json_object_get(rec, "workflow"));
        json_t *sum = json_pack("{s:s, s:s, s:s}", "t", t ? t : "", "s", st ? st : "", "w",
                                w ? w : "");
        rc = au_store_put_json(s, txn, s->dbi[AU_DBI_HIST], key, 8 + idl, sum, 0);
        json_decref(sum);
    }
    if (rc == 0) {
        rc = s_prune(s, txn, vx_wall_ns());
    }
    return rc;
}

static int
cb_prune(au_store_t *s, MDB_txn *txn, void *arg, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    uint64_t now_ns = *(const uint64_t *)arg;
    return s_prune(s, txn, now_ns ? now_ns : vx_wall_ns());
}

int
au_store_hist_prune(au_store_t *s, uint64_t now_ns)
{
    char err[256];
    return au_store_errno(au_store_write(s, cb_prune, &now_ns, err, sizeof err));
}

size_t
au_store_hist_count(au_store_t *s)
{
    MDB_txn *txn = NULL;
    MDB_stat st = {0};
    if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) == 0) {
        mdb_stat(txn, s->dbi[AU_DBI_HIST], &st);
        mdb_txn_abort(txn);
    }
    return st.ms_entries;
}

uint64_t
au_store_hist_evicted(au_store_t *s)
{
    return __atomic_load_n(&s->hist_evicted, __ATOMIC_RELAXED);
}

json_t *
au_store_exec_get(au_store_t *s, const char *tenant, const char *id)
{
    MDB_txn *txn = NULL;
    if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) != 0) {
        return NULL;
    }
    MDB_val k = {strlen(id), (void *)id}, v;
    json_t *rec = NULL;
    if (mdb_get(txn, s->dbi[AU_DBI_EXEC], &k, &v) == 0) {
        int rc = 0;
        rec = au_store_get_json(s, &k, &v, &rc);
        const char *t = json_string_value(json_object_get(rec, "tenant"));
        if (t == NULL || strcmp(t, tenant) != 0) {
            json_decref(rec);
            rec = NULL;
        }
    }
    mdb_txn_abort(txn);
    return rec;
}

static void
s_hex(const uint8_t *p, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * n] = '\0';
}

/* The value of one hexadecimal digit, -1 for anything else. */
static int
s_hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static int
s_unhex(const char *h, uint8_t *out, size_t max)
{
    size_t n = strlen(h);
    if (n % 2 != 0 || n / 2 > max || n / 2 < 9) {
        return -1;
    }
    for (size_t i = 0; i < n / 2; i++) {
        int hi = s_hexval(h[2 * i]), lo = s_hexval(h[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return -1;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return (int)(n / 2);
}

/* The summary-level filters of q on an entry. */
static bool
s_match(const struct au_store_query *q, json_t *sum)
{
    const char *t = json_string_value(json_object_get(sum, "t"));
    const char *st = json_string_value(json_object_get(sum, "s"));
    const char *w = json_string_value(json_object_get(sum, "w"));
    return t != NULL && strcmp(t, q->tenant) == 0 &&
           (q->status == NULL || (st != NULL && strcmp(st, q->status) == 0)) &&
           (q->workflow == NULL || (w != NULL && strcmp(w, q->workflow) == 0));
}

/* The listed form of a record: without input, steps and compensations, with steps_run. */
static json_t *
s_listed(json_t *rec)
{
    json_t *r = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(rec, k, v) {
        if (strcmp(k, "input") != 0 && strcmp(k, "steps") != 0 &&
            strcmp(k, "compensations") != 0) {
            json_object_set(r, k, v);
        }
    }
    json_object_set_new(r, "steps_run",
                        json_integer((json_int_t)json_array_size(json_object_get(rec, "steps"))));
    return r;
}

/* Walks hist from the newest entry (or from before the cursor) towards older ones, stopping
 * at since_ns, and lists up to limit matching records. */
json_t *
au_store_exec_query(au_store_t *s, const struct au_store_query *q, char *err, size_t errlen)
{
    uint8_t start[S_HIST_KEY];
    int slen = 0;
    if (q->cursor != NULL && q->cursor[0] != '\0') {
        slen = s_unhex(q->cursor, start, sizeof start);
        if (slen < 0) {
            snprintf(err, errlen, "cursor: not one this server gave (use next_cursor as given)");
            return NULL;
        }
    } else if (q->until_ns > 0) {
        au_store_put_be64(start, q->until_ns);
        slen = 8;
    }
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc == 0) {
        rc = mdb_cursor_open(txn, s->dbi[AU_DBI_HIST], &cur);
    }
    if (rc != 0) {
        au_store_fail(s, rc, "executions", err, errlen);
        if (txn != NULL) {
            mdb_txn_abort(txn);
        }
        return NULL;
    }
    MDB_val k, v;
    if (slen > 0) {
        /* the first entry at or after start, then one back: strictly before start */
        k = (MDB_val){(size_t)slen, start};
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        rc = rc == 0 ? mdb_cursor_get(cur, &k, &v, MDB_PREV)
                     : mdb_cursor_get(cur, &k, &v, MDB_LAST);
    } else {
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    }
    json_t *arr = json_array();
    char next[2 * S_HIST_KEY + 1] = "";
    bool more = false;
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_PREV)) {
        if (k.mv_size < 9 || k.mv_size > S_HIST_KEY) {
            continue;
        }
        if (q->since_ns > 0 && au_store_be64(k.mv_data) < q->since_ns) {
            break;
        }
        if (json_array_size(arr) >= q->limit) {
            more = true; /* one more exists: the cursor names the last one listed */
            break;
        }
        int orc = 0;
        json_t *sum = au_store_get_json(s, &k, &v, &orc);
        if (sum != NULL && s_match(q, sum)) {
            MDB_val ik = {k.mv_size - 8, (uint8_t *)k.mv_data + 8}, iv;
            if (mdb_get(txn, s->dbi[AU_DBI_EXEC], &ik, &iv) == 0) {
                json_t *rec = au_store_get_json(s, &ik, &iv, &orc);
                if (rec != NULL) {
                    json_array_append_new(arr, s_listed(rec));
                    s_hex(k.mv_data, k.mv_size, next);
                }
                json_decref(rec);
            }
        }
        json_decref(sum);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    json_t *out = json_pack("{s:o}", "executions", arr);
    if (more) {
        json_object_set_new(out, "next_cursor", json_string(next));
    }
    return out;
}
