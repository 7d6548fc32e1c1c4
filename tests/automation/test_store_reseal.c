/* SPDX-License-Identifier: Apache-2.0 */
/* au_store's background re-seal after a data key rotation, on a real LMDB environment with
 * real data keys (vx_seal): a store written under key 1 is opened with keys 1 and 2; while
 * committers keep writing and readers keep reading (old records stay readable), every record
 * of every database is re-sealed under key 2 in the background, with its progress visible;
 * then a walk of the raw databases finds no record under key 1, the state is exactly what was
 * committed, and the store opens and reads with key 2 alone. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "au_store_priv.h"
#include "vx_clock.h"
#include "vx_seal.h"
#include "vx_test.h"

static au_store_t *
s_open(const char *dir, vx_sealer_t *sealer)
{
    struct au_store_sealer se = au_store_vx_sealer(sealer);
    struct au_store_opts o = {.dir = dir, .map_bytes = 64u << 20, .max_history = 100000,
                              .no_sync = true, .sealer = &se};
    au_store_t *s = NULL;
    char err[512] = "";
    ck_assert_msg(au_store_open(&s, &o, err, sizeof err) == 0, "open: %s", err);
    return s;
}

static vx_sealer_t *
s_sealer(const char *keys)
{
    char err[512] = "";
    vx_sealer_t *v = vx_sealer_load(keys, "auto", err, sizeof err);
    ck_assert_msg(v != NULL, "%s", err);
    return v;
}

/* One execution's commit: writes "<prefix>.k<j>" = i, its journal entry, its history record. */
static int
s_exec(au_store_t *s, const char *prefix, int i, char *err)
{
    char id[64];
    snprintf(id, sizeof id, "%s-%d", prefix, i);
    json_t *entry = json_pack("{s:s, s:i}", "tenant", "t", "i", i);
    int rc = au_store_journal_put(s, id, entry, err, 512);
    json_decref(entry);
    if (rc < 0) {
        return rc;
    }
    json_t *writes = json_array();
    for (int j = 0; j < 3; j++) {
        char p[64];
        snprintf(p, sizeof p, "%s.k%d", prefix, j);
        json_array_append_new(writes, json_pack("[s, i]", p, i));
    }
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s}", "id", id, "tenant", "t", "workflow", "w",
                            "status", "succeeded");
    struct au_store_commit c = {.tenant = "t", .snap_seq = UINT64_MAX, .writes = writes,
                                .journal_del = i % 2 ? id : NULL, .hist_id = id,
                                .hist_rec = rec, .hist_ns = vx_wall_ns()};
    rc = au_store_commit(s, &c, err, 512);
    json_decref(writes);
    json_decref(rec);
    return rc;
}

/* Counts, over every database, the values sealed under each key id (ids 0..3). */
static void
s_census(au_store_t *s, size_t by_id[4], size_t *plain)
{
    memset(by_id, 0, 4 * sizeof *by_id);
    *plain = 0;
    MDB_txn *txn = NULL;
    ck_assert_int_eq(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn), 0);
    for (int db = 0; db < AU_DBI_N; db++) {
        MDB_cursor *cur = NULL;
        ck_assert_int_eq(mdb_cursor_open(txn, s->dbi[db], &cur), 0);
        MDB_val k, v;
        for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            size_t hdr = db == AU_DBI_STATE ? 9 : 0;
            uint32_t id = 0;
            if (v.mv_size >= hdr &&
                vx_seal_record_key_id((uint8_t *)v.mv_data + hdr, v.mv_size - hdr, &id) == 0) {
                by_id[id < 4 ? id : 3]++;
            } else {
                (*plain)++;
                ck_assert_msg(db == AU_DBI_META, "an unsealed value in database %d", db);
            }
        }
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
}

struct s_load {
    au_store_t *s;
    volatile bool stop;
    int commits, reads, failures;
    char err[512];
};

static void *
cb_load(void *arg)
{
    struct s_load *l = arg;
    for (int i = 0; !l->stop; i++) {
        if (s_exec(l->s, "live", i, l->err) < 0) {
            l->failures++;
        } else {
            l->commits++;
        }
        char err[512];
        json_t *v = au_store_state_json(l->s, "t", NULL, err, sizeof err);
        if (v == NULL) { /* an old record that did not open: never while re-sealing */
            snprintf(l->err, sizeof l->err, "read: %s", err);
            l->failures++;
        } else {
            l->reads++;
        }
        json_decref(v);
    }
    return NULL;
}

START_TEST(t_reseal)
{
    char *dir = vt_tmpdir();
    char keys[600], store[600], err[512] = "";
    snprintf(keys, sizeof keys, "%s/keys", dir);
    snprintf(store, sizeof store, "%s/store", dir);
    uint32_t id = 0;
    ck_assert_int_eq(vx_seal_key_generate(keys, &id, err, sizeof err), 0);
    ck_assert_uint_eq(id, 1);
    vx_sealer_t *k1 = s_sealer(keys);
    au_store_t *s = s_open(store, k1);
    json_t *defs = json_pack("{s:s}", "workflow", "definition");
    ck_assert_int_eq(au_store_def_put(s, "workflows", defs, err, sizeof err), 0);
    json_decref(defs);
    for (int p = 0; p < 20; p++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "old%d", p);
        for (int i = 0; i < 20; i++) {
            ck_assert_msg(s_exec(s, prefix, i, err) == 0, "%s", err);
        }
    }
    size_t by[4], plain = 0;
    s_census(s, by, &plain);
    size_t under1 = by[1];
    ck_assert_uint_gt(under1, 400);
    ck_assert_uint_eq(by[2], 0);
    struct au_store_reseal p;
    au_store_reseal_start(s); /* nothing older than key 1: done at once */
    au_store_reseal_progress(s, &p);
    ck_assert_str_eq(p.state, "done");
    ck_assert_uint_eq(p.total, 0);
    au_store_close(&s);
    json_t *before = NULL;

    /* rotation: key 2 added; the store opened with both */
    ck_assert_int_eq(vx_seal_key_generate(keys, &id, err, sizeof err), 0);
    ck_assert_uint_eq(id, 2);
    vx_sealer_t *k12 = s_sealer(keys);
    ck_assert_uint_eq(vx_sealer_key_id(k12), 2);
    s = s_open(store, k12);
    before = au_store_state_json(s, "t", NULL, err, sizeof err);
    ck_assert_msg(before != NULL, "%s", err);
    struct s_load load = {.s = s};
    pthread_t th;
    pthread_create(&th, NULL, cb_load, &load);
    au_store_reseal_start(s);
    uint64_t deadline = vx_mono_ns() + 60 * VX_NS_PER_S;
    bool seen_running = false;
    for (;;) {
        au_store_reseal_progress(s, &p);
        seen_running = seen_running || strcmp(p.state, "running") == 0;
        if (strcmp(p.state, "running") != 0 || vx_mono_ns() > deadline) {
            break;
        }
        usleep(1000);
    }
    load.stop = true;
    pthread_join(th, NULL);
    ck_assert_msg(strcmp(p.state, "done") == 0, "re-seal: state %s, %llu of %llu", p.state,
                  (unsigned long long)p.resealed, (unsigned long long)p.total);
    ck_assert_uint_eq(p.key_id, 2);
    ck_assert_uint_eq(p.remaining, 0);
    ck_assert_uint_eq(p.unreadable, 0);
    ck_assert_uint_ge(p.total, under1 - 5); /* key 1's records when it started */
    ck_assert_uint_ge(p.resealed, p.total > 10 ? p.total - 10 : 0);
    ck_assert_msg(load.failures == 0, "%d failures under load, last: %s", load.failures,
                  load.err);
    ck_assert_int_gt(load.commits, 0);
    ck_assert_int_gt(load.reads, 0);
    printf("re-seal: %llu of %llu records re-sealed while %d commits and %d reads ran (%s "
           "seen running)\n",
           (unsigned long long)p.resealed, (unsigned long long)p.total, load.commits, load.reads,
           seen_running ? "was" : "not");
    s_census(s, by, &plain);
    ck_assert_msg(by[1] == 0, "%zu records still under key 1 (%zu under key 2)", by[1], by[2]);
    ck_assert_uint_gt(by[2], under1);
    /* the data is what was committed: the old keys as before, the live ones present */
    json_t *after = au_store_state_json(s, "t", NULL, err, sizeof err);
    ck_assert_msg(after != NULL, "%s", err);
    for (int q = 0; q < 20; q++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "old%d", q);
        ck_assert_msg(json_equal(json_object_get(before, prefix), json_object_get(after, prefix)),
                      "%s changed by the re-seal", prefix);
    }
    ck_assert_ptr_nonnull(json_object_get(after, "live"));
    json_decref(before);
    json_decref(after);
    au_store_close(&s);

    /* key 1 gone: the store needs only key 2 now */
    char k1path[700];
    snprintf(k1path, sizeof k1path, "%s/data-1.key", keys);
    ck_assert_int_eq(unlink(k1path), 0);
    vx_sealer_t *k2 = s_sealer(keys);
    s = s_open(store, k2);
    json_t *v = au_store_state_json(s, "t", NULL, err, sizeof err);
    ck_assert_msg(v != NULL, "read with key 2 alone: %s", err);
    json_decref(v);
    int rc = 0;
    json_t *d = au_store_def_get(s, "workflows", &rc, err, sizeof err);
    ck_assert_msg(d != NULL, "definitions with key 2 alone: %s", err);
    json_decref(d);
    json_t *j = au_store_journal_list(s, err, sizeof err);
    size_t i;
    json_t *e;
    json_array_foreach(j, i, e) {
        ck_assert_msg(json_object_get(e, "error") == NULL, "journal entry %zu does not open", i);
    }
    json_decref(j);
    au_store_close(&s);
    vx_sealer_destroy(&k1);
    vx_sealer_destroy(&k12);
    vx_sealer_destroy(&k2);
    free(dir);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("au_store_reseal");
    TCase *tc = tcase_create("reseal");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_reseal);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
