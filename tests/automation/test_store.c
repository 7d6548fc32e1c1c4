/* SPDX-License-Identifier: Apache-2.0 */
/* au_store on a real LMDB environment: the nested state view with its overwrite rules, commits
 * that are all-or-nothing, first-committer-wins conflicts (on the key, below it and above it),
 * the outbox of committed changes (superseded writes left out), a full map refused with a
 * precise error and nothing changed, definitions and journal across a reopen, the history's
 * count and age bounds and its pages and filters, and, with a sealer (a real AEAD), files that
 * hold nothing in clear and a changed byte detected, not applied. */
#include <check.h>
#include <sodium.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "au_store.h"
#include "au_test.h"
#include "vx_clock.h"
#include "vx_test.h"

static json_t *
s_json(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
    ck_assert_msg(j != NULL, "test JSON: %s: %s", je.text, text);
    return j;
}

static au_store_t *
s_open(const char *dir, uint64_t map, uint32_t max_hist, uint64_t age_ns)
{
    struct au_store_opts o = {.dir = dir, .map_bytes = map, .max_history = max_hist,
                              .history_age_ns = age_ns, .no_sync = true};
    au_store_t *s = NULL;
    char err[512] = "";
    ck_assert_msg(au_store_open(&s, &o, err, sizeof err) == 0, "open: %s", err);
    return s;
}

/* Commits writes (JSON text) for tenant "t" with snapshot snap; returns the result. */
static int
s_commit(au_store_t *s, uint64_t snap, const char *writes, struct au_store_commit *c, char *err)
{
    json_t *w = s_json(writes);
    memset(c, 0, sizeof *c);
    c->tenant = "t";
    c->snap_seq = snap;
    c->writes = w;
    int rc = au_store_commit(s, c, err, 512);
    json_decref(w);
    return rc;
}

static void
s_expect_state(au_store_t *s, const char *tenant, const char *expected)
{
    char err[512] = "";
    json_t *v = au_store_state_json(s, tenant, NULL, err, sizeof err);
    ck_assert_msg(v != NULL, "%s", err);
    json_t *e = s_json(expected);
    char *got = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    char *want = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_msg(json_equal(v, e), "state of %s: expected %s, got %s", tenant, want, got);
    free(got);
    free(want);
    json_decref(e);
    json_decref(v);
}

START_TEST(t_state_view)
{
    char *dir = vt_tmpdir();
    au_store_t *s = s_open(dir, 16u << 20, 100, 0);
    struct au_store_commit c;
    char err[512] = "";
    ck_assert_int_eq(s_commit(s, UINT64_MAX, "[[\"a.b\",1],[\"a.c\",{\"x\":2}],[\"d\",\"v\"]]",
                              &c, err),
                     0);
    ck_assert_uint_eq(c.seq, 1);
    s_expect_state(s, "t", "{\"a\":{\"b\":1,\"c\":{\"x\":2}},\"d\":\"v\"}");
    /* a child of an object value adds to it; a parent replaces what is below it */
    ck_assert_int_eq(s_commit(s, UINT64_MAX, "[[\"a.c.y\",3]]", &c, err), 0);
    s_expect_state(s, "t", "{\"a\":{\"b\":1,\"c\":{\"x\":2,\"y\":3}},\"d\":\"v\"}");
    ck_assert_int_eq(s_commit(s, UINT64_MAX, "[[\"a\",5]]", &c, err), 0);
    s_expect_state(s, "t", "{\"a\":5,\"d\":\"v\"}");
    /* a child of a scalar replaces the scalar by an object */
    ck_assert_int_eq(s_commit(s, UINT64_MAX, "[[\"a.z\",true]]", &c, err), 0);
    s_expect_state(s, "t", "{\"a\":{\"z\":true},\"d\":\"v\"}");
    s_expect_state(s, "other", "{}");
    ck_assert_uint_eq(au_store_seq(s), 4);
    au_store_close(&s);
    /* durable: the same after a reopen */
    s = s_open(dir, 16u << 20, 100, 0);
    s_expect_state(s, "t", "{\"a\":{\"z\":true},\"d\":\"v\"}");
    ck_assert_uint_eq(au_store_seq(s), 4);
    au_store_close(&s);
    free(dir);
}
END_TEST

START_TEST(t_conflicts)
{
    char *dir = vt_tmpdir();
    au_store_t *s = s_open(dir, 16u << 20, 100, 0);
    struct au_store_commit c;
    char err[512] = "";
    ck_assert_int_eq(s_commit(s, 0, "[[\"x\",1],[\"p.q\",1]]", &c, err), 0); /* seq 1 */
    uint64_t snap = 1;
    ck_assert_int_eq(s_commit(s, snap, "[[\"x\",2]]", &c, err), 0); /* seq 2: first wins */
    /* the same key, written after snapshot 1 */
    ck_assert_int_eq(s_commit(s, snap, "[[\"y\",9],[\"x\",3]]", &c, err), -EBUSY);
    ck_assert_str_eq(c.conflict, "x");
    ck_assert_uint_eq(c.conflict_seq, 2);
    ck_assert_msg(strstr(err, "\"x\"") != NULL, "message: %s", err);
    /* nothing of the refused commit is visible, y included */
    s_expect_state(s, "t", "{\"x\":2,\"p\":{\"q\":1}}");
    ck_assert_uint_eq(au_store_seq(s), 2);
    /* a key below the one written */
    ck_assert_int_eq(s_commit(s, 2, "[[\"p.q\",2]]", &c, err), 0); /* seq 3 */
    ck_assert_int_eq(s_commit(s, 2, "[[\"p\",0]]", &c, err), -EBUSY);
    ck_assert_str_eq(c.conflict, "p.q");
    /* a key above the one written */
    ck_assert_int_eq(s_commit(s, 3, "[[\"p\",{\"r\":1}]]", &c, err), 0); /* seq 4 */
    ck_assert_int_eq(s_commit(s, 3, "[[\"p.q\",7]]", &c, err), -EBUSY);
    ck_assert_str_eq(c.conflict, "p");
    /* a fresh snapshot commits; other tenants never conflict */
    ck_assert_int_eq(s_commit(s, 4, "[[\"p.q\",7]]", &c, err), 0);
    s_expect_state(s, "t", "{\"x\":2,\"p\":{\"r\":1,\"q\":7}}");
    au_store_close(&s);
    free(dir);
}
END_TEST

START_TEST(t_outbox)
{
    char *dir = vt_tmpdir();
    au_store_t *s = s_open(dir, 16u << 20, 100, 0);
    struct au_store_commit c;
    char err[512] = "";
    /* a.b=1 is superseded by a=2, k=1 by k=3: only a=2 and k=3 are changes */
    ck_assert_int_eq(s_commit(s, UINT64_MAX, "[[\"a.b\",1],[\"k\",1],[\"a\",2],[\"k\",3]]", &c,
                              err),
                     0);
    char key[12];
    const char *want[][2] = {{"a", "2"}, {"k", "3"}};
    for (int i = 0; i < 2; i++) {
        json_t *ch = au_store_outbox_first(s, key);
        ck_assert_ptr_nonnull(ch);
        ck_assert_str_eq(json_string_value(json_object_get(ch, "path")), want[i][0]);
        ck_assert_int_eq(json_integer_value(json_object_get(ch, "value")), atoi(want[i][1]));
        ck_assert_str_eq(json_string_value(json_object_get(ch, "tenant")), "t");
        json_decref(ch);
        ck_assert_int_eq(au_store_outbox_del(s, key), 0);
    }
    ck_assert_ptr_null(au_store_outbox_first(s, key));
    /* a refused commit leaves nothing in the outbox */
    ck_assert_int_eq(s_commit(s, 0, "[[\"k\",4]]", &c, err), -EBUSY);
    ck_assert_ptr_null(au_store_outbox_first(s, key));
    au_store_close(&s);
    free(dir);
}
END_TEST

START_TEST(t_map_full)
{
    char *dir = vt_tmpdir();
    au_store_t *s = s_open(dir, 256u << 10, 100, 0); /* 256 KiB */
    struct au_store_commit c;
    char err[512] = "";
    ck_assert_int_eq(s_commit(s, UINT64_MAX, "[[\"keep\",1]]", &c, err), 0);
    char *big = malloc(600000);
    memset(big, 'x', 599990);
    snprintf(big + 599990, 10, "\"]]");
    char *w = malloc(600100);
    snprintf(w, 600100, "[[\"big\",\"%s", big);
    int rc = s_commit(s, UINT64_MAX, w, &c, err);
    ck_assert_msg(rc == -ENOSPC, "expected -ENOSPC, got %d (%s)", rc, err);
    ck_assert_msg(strstr(err, "state_map_bytes") != NULL, "message: %s", err);
    s_expect_state(s, "t", "{\"keep\":1}");
    /* still usable */
    ck_assert_int_eq(s_commit(s, UINT64_MAX, "[[\"after\",2]]", &c, err), 0);
    s_expect_state(s, "t", "{\"keep\":1,\"after\":2}");
    free(big);
    free(w);
    au_store_close(&s);
    free(dir);
}
END_TEST

START_TEST(t_defs_journal)
{
    char *dir = vt_tmpdir();
    au_store_t *s = s_open(dir, 16u << 20, 100, 0);
    char err[512] = "";
    int rc = 1;
    ck_assert_ptr_null(au_store_def_get(s, "workflows", &rc, err, sizeof err));
    ck_assert_int_eq(rc, 0);
    json_t *d = s_json("{\"workflows\":[{\"id\":\"w\"}]}");
    ck_assert_int_eq(au_store_def_put(s, "workflows", d, err, sizeof err), 0);
    json_t *e = s_json("{\"n\":1}");
    ck_assert_int_eq(au_store_journal_put(s, "e1", e, err, sizeof err), 0);
    ck_assert_int_eq(au_store_journal_put(s, "e2", e, err, sizeof err), 0);
    ck_assert(au_store_exec_known(s, "e1"));
    ck_assert(!au_store_exec_known(s, "e3"));
    au_store_close(&s);
    s = s_open(dir, 16u << 20, 100, 0);
    json_t *got = au_store_def_get(s, "workflows", &rc, err, sizeof err);
    ck_assert(json_equal(got, d));
    json_decref(got);
    json_t *j = au_store_journal_list(s, err, sizeof err);
    ck_assert_uint_eq(json_array_size(j), 2);
    json_decref(j);
    /* finishing e1 removes its entry and adds its record in one commit */
    json_t *rec = s_json("{\"id\":\"e1\",\"tenant\":\"t\",\"workflow\":\"w\",\"status\":"
                         "\"failed\",\"steps\":[1,2]}");
    struct au_store_commit c = {.journal_del = "e1", .hist_id = "e1", .hist_rec = rec,
                                .hist_ns = vx_wall_ns(), .snap_seq = UINT64_MAX};
    ck_assert_int_eq(au_store_commit(s, &c, err, sizeof err), 0);
    j = au_store_journal_list(s, err, sizeof err);
    ck_assert_uint_eq(json_array_size(j), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(j, 0), "id")), "e2");
    json_decref(j);
    json_t *r = au_store_exec_get(s, "t", "e1");
    ck_assert(json_equal(r, rec));
    json_decref(r);
    ck_assert_ptr_null(au_store_exec_get(s, "other", "e1")); /* another tenant's */
    ck_assert(au_store_exec_known(s, "e1"));
    json_decref(rec);
    json_decref(e);
    json_decref(d);
    au_store_close(&s);
    free(dir);
}
END_TEST

static void
s_add(au_store_t *s, const char *id, const char *tenant, const char *status, uint64_t ns)
{
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:[i]}", "id", id, "tenant", tenant,
                            "workflow", strcmp(status, "failed") == 0 ? "wf" : "wo", "status",
                            status, "steps", 1);
    struct au_store_commit c = {.hist_id = id, .hist_rec = rec, .hist_ns = ns,
                                .snap_seq = UINT64_MAX};
    char err[512];
    ck_assert_msg(au_store_commit(s, &c, err, sizeof err) == 0, "%s", err);
    json_decref(rec);
}

START_TEST(t_history)
{
    char *dir = vt_tmpdir();
    au_store_t *s = s_open(dir, 16u << 20, 50, 0);
    uint64_t now = vx_wall_ns();
    for (int i = 0; i < 60; i++) {
        char id[32];
        snprintf(id, sizeof id, "e%02d", i);
        s_add(s, id, i % 3 == 2 ? "u" : "t", i % 2 ? "failed" : "succeeded",
              now - (uint64_t)(60 - i) * VX_NS_PER_S);
    }
    /* count bound: the 10 oldest went */
    ck_assert_uint_eq(au_store_hist_count(s), 50);
    ck_assert_uint_eq(au_store_hist_evicted(s), 10);
    char err[512] = "";
    ck_assert_ptr_null(au_store_exec_get(s, "t", "e00"));
    /* pages of tenant t's failed executions, newest first, 5 at a time */
    struct au_store_query q = {.tenant = "t", .status = "failed", .limit = 5};
    json_t *all = json_array();
    char cursor[200] = "";
    for (int page = 0; page < 10; page++) {
        q.cursor = cursor[0] ? cursor : NULL;
        json_t *p = au_store_exec_query(s, &q, err, sizeof err);
        ck_assert_msg(p != NULL, "%s", err);
        json_array_extend(all, json_object_get(p, "executions"));
        const char *nc = json_string_value(json_object_get(p, "next_cursor"));
        snprintf(cursor, sizeof cursor, "%s", nc ? nc : "");
        json_decref(p);
        if (nc == NULL) {
            break;
        }
    }
    /* ids 10..59, odd (failed), i % 3 != 2: newest first */
    int expect[60], n = 0;
    for (int i = 59; i >= 10; i--) {
        if (i % 2 == 1 && i % 3 != 2) {
            expect[n++] = i;
        }
    }
    ck_assert_uint_eq(json_array_size(all), (size_t)n);
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "e%02d", expect[i]);
        json_t *r = json_array_get(all, (size_t)i);
        ck_assert_str_eq(json_string_value(json_object_get(r, "id")), id);
        ck_assert_ptr_null(json_object_get(r, "steps"));
        ck_assert_int_eq(json_integer_value(json_object_get(r, "steps_run")), 1);
    }
    json_decref(all);
    /* since: the last 20 s only */
    struct au_store_query q2 = {.tenant = "u", .since_ns = now - 20 * VX_NS_PER_S,
                                .limit = 100};
    json_t *p = au_store_exec_query(s, &q2, err, sizeof err);
    size_t i;
    json_t *r;
    size_t nu = 0;
    json_array_foreach(json_object_get(p, "executions"), i, r) {
        int k = atoi(json_string_value(json_object_get(r, "id")) + 1);
        ck_assert_int_ge(k, 40);
        ck_assert_int_eq(k % 3, 2);
        nu++;
    }
    ck_assert_uint_eq(nu, 7); /* 41 44 47 50 53 56 59 */
    json_decref(p);
    /* a cursor this server never gave */
    q.cursor = "zz";
    ck_assert_ptr_null(au_store_exec_query(s, &q, err, sizeof err));
    ck_assert_msg(strstr(err, "cursor") != NULL, "%s", err);
    /* age bound: reopened with 30 s, the older records go */
    au_store_close(&s);
    s = s_open(dir, 16u << 20, 50, 30 * VX_NS_PER_S);
    ck_assert_uint_le(au_store_hist_count(s), 30);
    ck_assert_uint_ge(au_store_hist_count(s), 29);
    ck_assert_ptr_null(au_store_exec_get(s, "t", "e25"));
    au_store_close(&s);
    free(dir);
}
END_TEST

/* A real AEAD for the tests (XChaCha20-Poly1305 under a random key): a record is the key id,
 * the nonce and the ciphertext, the key id and the LMDB key authenticated with it. The last
 * record sealed for a given additional data is kept, so a test can find it in the file. */
struct s_sealer {
    uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
    size_t watch_adlen;  /* records sealed with additional data of this length are kept */
    uint8_t last[4096];
    size_t last_len;
};

static int
cb_seal(void *arg, const void *ad, size_t adlen, const void *plain, size_t len, void **out,
        size_t *outlen)
{
    struct s_sealer *t = arg;
    size_t n = 4 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + len +
               crypto_aead_xchacha20poly1305_ietf_ABYTES;
    uint8_t *r = malloc(n);
    memcpy(r, "k001", 4);
    randombytes_buf(r + 4, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    uint8_t *a = malloc(adlen + 4);
    memcpy(a, "k001", 4);
    memcpy(a + 4, ad, adlen);
    unsigned long long cl = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(
        r + 4 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, &cl, plain, len, a, adlen + 4,
        NULL, r + 4, t->key);
    free(a);
    if (adlen == t->watch_adlen && n <= sizeof t->last) {
        memcpy(t->last, r, n);
        t->last_len = n;
    }
    *out = r;
    *outlen = n;
    return 0;
}

static int
cb_open(void *arg, const void *ad, size_t adlen, const void *sealed, size_t len, void **out,
        size_t *outlen)
{
    struct s_sealer *t = arg;
    size_t h = 4 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    if (len < h + crypto_aead_xchacha20poly1305_ietf_ABYTES || memcmp(sealed, "k001", 4) != 0) {
        return -EBADMSG;
    }
    uint8_t *a = malloc(adlen + 4);
    memcpy(a, "k001", 4);
    memcpy(a + 4, ad, adlen);
    uint8_t *p = malloc(len);
    unsigned long long pl = 0;
    int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
        p, &pl, NULL, (const uint8_t *)sealed + h, len - h, a, adlen + 4,
        (const uint8_t *)sealed + 4, t->key);
    free(a);
    if (rc != 0) {
        free(p);
        return -EBADMSG;
    }
    *out = p;
    *outlen = pl;
    return 0;
}

static au_store_t *
s_open_sealed(const char *dir, struct s_sealer *t)
{
    struct au_store_sealer se = {cb_seal, cb_open, t, 0};
    struct au_store_opts o = {.dir = dir, .map_bytes = 16u << 20, .max_history = 10,
                              .sealer = &se};
    au_store_t *s = NULL;
    char err[512] = "";
    ck_assert_msg(au_store_open(&s, &o, err, sizeof err) == 0, "open: %s", err);
    return s;
}

/* Returns true when needle occurs in any file of dir. */
static bool
s_dir_has(const char *dir, const char *needle)
{
    const char *files[] = {"data.mdb", "lock.mdb"};
    bool found = false;
    for (size_t i = 0; i < 2 && !found; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        FILE *f = fopen(path, "rb");
        if (f == NULL) {
            continue;
        }
        size_t cap = 64u << 20;
        char *buf = malloc(cap);
        size_t n = fread(buf, 1, cap, f);
        fclose(f);
        found = memmem(buf, n, needle, strlen(needle)) != NULL;
        free(buf);
    }
    return found;
}

/* With a sealer every value goes through it and keys are keyed hashes: the files hold none of
 * the tenant, the paths, the values, the definitions, the journal or the history in clear. A
 * byte changed in a sealed state record is detected and reported, and the record is not used. */
START_TEST(t_sealed)
{
    char *dir = vt_tmpdir();
    struct s_sealer t = {.watch_adlen = 0};
    randombytes_buf(t.key, sizeof t.key);
    au_store_t *s = s_open_sealed(dir, &t);
    char err[512] = "";
    struct au_store_commit c;
    json_t *w = s_json("[[\"pathmarker.inner\",\"valuemarker\"],[\"other\",1]]");
    memset(&c, 0, sizeof c);
    c.tenant = "tenantmarker";
    c.snap_seq = UINT64_MAX;
    c.writes = w;
    ck_assert_int_eq(au_store_commit(s, &c, err, sizeof err), 0);
    json_t *d = s_json("{\"workflows\":[{\"id\":\"defmarker\"}]}");
    ck_assert_int_eq(au_store_def_put(s, "workflows", d, err, sizeof err), 0);
    json_t *j = s_json("{\"script\":\"scriptmarker\"}");
    ck_assert_int_eq(au_store_journal_put(s, "e1", j, err, sizeof err), 0);
    json_t *rec = s_json("{\"id\":\"e2\",\"tenant\":\"tenantmarker\",\"status\":"
                         "\"historymarker\"}");
    struct au_store_commit h = {.hist_id = "e2", .hist_rec = rec, .hist_ns = vx_wall_ns(),
                                .snap_seq = UINT64_MAX};
    ck_assert_int_eq(au_store_commit(s, &h, err, sizeof err), 0);
    s_expect_state(s, "tenantmarker", "{\"pathmarker\":{\"inner\":\"valuemarker\"},"
                                      "\"other\":1}");
    au_store_close(&s);
    const char *markers[] = {"tenantmarker", "pathmarker", "valuemarker", "defmarker",
                             "scriptmarker", "historymarker"};
    for (size_t i = 0; i < sizeof markers / sizeof markers[0]; i++) {
        ck_assert_msg(!s_dir_has(dir, markers[i]), "%s found in clear in %s", markers[i], dir);
    }
    /* flip one byte of a sealed state record in the file */
    s = s_open_sealed(dir, &t);
    t.watch_adlen = 16 + 9; /* a state record of a one-part path: two hashes and the header */
    json_t *w2 = s_json("[[\"other\",2]]");
    c.writes = w2;
    ck_assert_int_eq(au_store_commit(s, &c, err, sizeof err), 0);
    ck_assert_uint_gt(t.last_len, 40);
    uint8_t sealed[4096];
    size_t sl = t.last_len;
    memcpy(sealed, t.last, sl);
    au_store_close(&s);
    char path[600];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    size_t cap = 64u << 20;
    uint8_t *buf = malloc(cap);
    size_t n = fread(buf, 1, cap, f);
    uint8_t *at = memmem(buf, n, sealed, sl);
    ck_assert_msg(at != NULL, "the sealed record is not in the file");
    size_t off = (size_t)(at - buf) + sl / 2;
    buf[off] ^= 0x20;
    fseek(f, (long)off, SEEK_SET);
    fputc(buf[off], f);
    fclose(f);
    free(buf);
    s = s_open_sealed(dir, &t);
    json_t *v = au_store_state_json(s, "tenantmarker", NULL, err, sizeof err);
    ck_assert_msg(v == NULL, "a changed record was read");
    ck_assert_msg(strstr(err, "cannot be read") != NULL, "message: %s", err);
    /* other tenants still read */
    json_decref(au_store_state_json(s, "nobody", NULL, err, sizeof err));
    au_store_close(&s);
    json_decref(w);
    json_decref(w2);
    json_decref(d);
    json_decref(j);
    json_decref(rec);
    free(dir);
}
END_TEST

/* A plaintext store opened with a sealer is sealed in place (its data readable, nothing left
 * in clear, the freed pages included); then it opens neither without a sealer nor with another
 * data key, each refusal saying why and changing nothing. */
START_TEST(t_migration_and_keys)
{
    char *dir = vt_tmpdir();
    au_store_t *s = s_open(dir, 16u << 20, 10, 0);
    struct au_store_commit c;
    char err[512] = "";
    ck_assert_int_eq(s_commit(s, UINT64_MAX, "[[\"plainpath\",\"plainvalue\"]]", &c, err), 0);
    ck_assert_int_eq(s_commit(s, UINT64_MAX, "[[\"plainpath\",\"plainvalue2\"]]", &c, err), 0);
    json_t *j = s_json("{\"script\":\"plainscript\"}");
    ck_assert_int_eq(au_store_journal_put(s, "e1", j, err, sizeof err), 0);
    json_decref(j);
    au_store_close(&s);
    ck_assert(s_dir_has(dir, "plainvalue"));
    struct s_sealer t = {.watch_adlen = 0};
    randombytes_buf(t.key, sizeof t.key);
    s = s_open_sealed(dir, &t);
    s_expect_state(s, "t", "{\"plainpath\":\"plainvalue2\"}");
    json_t *l = au_store_journal_list(s, err, sizeof err);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(json_array_get(l, 0), "entry"), "script")),
                     "plainscript");
    json_decref(l);
    au_store_close(&s);
    ck_assert_msg(!s_dir_has(dir, "plainvalue"), "plaintext left after sealing");
    ck_assert(!s_dir_has(dir, "plainscript"));
    /* no sealer: refused */
    struct au_store_opts o = {.dir = dir, .map_bytes = 16u << 20, .max_history = 10};
    au_store_t *x = NULL;
    ck_assert_int_eq(au_store_open(&x, &o, err, sizeof err), -EPERM);
    ck_assert_msg(strstr(err, "is sealed") != NULL, "message: %s", err);
    /* another data key: refused */
    struct s_sealer other = {.watch_adlen = 0};
    randombytes_buf(other.key, sizeof other.key);
    struct au_store_sealer se = {cb_seal, cb_open, &other, 0};
    o.sealer = &se;
    ck_assert_int_eq(au_store_open(&x, &o, err, sizeof err), -EBADMSG);
    ck_assert_msg(strstr(err, "wrong or missing key") != NULL, "message: %s", err);
    /* the right key still opens it, unchanged */
    s = s_open_sealed(dir, &t);
    s_expect_state(s, "t", "{\"plainpath\":\"plainvalue2\"}");
    au_store_close(&s);
    free(dir);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("au_store");
    struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"state_view", t_state_view}, {"conflicts", t_conflicts},
        {"outbox", t_outbox},         {"map_full", t_map_full},
        {"defs_journal", t_defs_journal}, {"history", t_history},
        {"sealed", t_sealed}, {"migration_and_keys", t_migration_and_keys},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_test(tc, cases[i].test);
        tcase_set_timeout(tc, 60);
        suite_add_tcase(s, tc);
    }
    return au_run_suite(s);
}
