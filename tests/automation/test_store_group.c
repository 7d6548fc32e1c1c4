/* SPDX-License-Identifier: Apache-2.0 */
/* au_store's group commit on a real, fsynced LMDB environment: committers at once share
 * transactions (fewer fsynced transactions than commits), and yet every commit behaves as if
 * it had been committed alone — sequence numbers 1..N without gaps, first committer wins on a
 * shared key (a commit succeeds exactly when no commit came between its snapshot and it), a
 * refused or invalid change in a batch leaves the others of that batch committed, one outbox
 * change per committed write, journal entries and history records of every caller kept, and
 * everything there after a reopen. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "au_store.h"
#include "vx_clock.h"
#include "vx_test.h"

#define S_THREADS 8
#define S_PER_THREAD 40

struct s_worker {
    au_store_t *s;
    int who;
    int ok, busy, invalid, other;
    int bad_seq;           /* successes whose seq is not snapshot + 1 */
    int bad_conflict;      /* refusals naming a commit not after the snapshot */
    uint64_t seqs[S_PER_THREAD];
    char first_err[512];
};

static void *
cb_worker(void *arg)
{
    struct s_worker *w = arg;
    for (int i = 0; i < S_PER_THREAD; i++) {
        char id[64], path[64], err[512] = "";
        snprintf(id, sizeof id, "x%d-%d", w->who, i);
        snprintf(path, sizeof path, "own%d.n", w->who);
        json_t *entry = json_pack("{s:s}", "tenant", "t");
        if (au_store_journal_put(w->s, id, entry, err, sizeof err) < 0) {
            w->other++;
            snprintf(w->first_err, sizeof w->first_err, "journal: %s", err);
        }
        json_decref(entry);
        /* every fifth commit of thread 0 has an invalid path: refused alone */
        bool invalid = w->who == 0 && i % 5 == 4;
        json_t *writes = json_pack("[[s, i], [s, i]]", invalid ? "bad..path" : "shared.k",
                                   w->who * 1000 + i, path, i);
        json_t *rec = json_pack("{s:s, s:s, s:s, s:s}", "id", id, "tenant", "t", "workflow",
                                "w", "status", "succeeded");
        uint64_t snap = au_store_seq(w->s);
        struct au_store_commit c = {.tenant = "t", .snap_seq = snap, .writes = writes,
                                    .journal_del = id, .hist_id = id, .hist_rec = rec,
                                    .hist_ns = vx_wall_ns()};
        int rc = au_store_commit(w->s, &c, err, sizeof err);
        if (rc == 0) {
            w->seqs[w->ok++] = c.seq;
            w->bad_seq += c.seq != snap + 1;
        } else if (rc == -EBUSY) {
            w->busy++;
            w->bad_conflict += c.conflict_seq <= snap || strcmp(c.conflict, "shared.k") != 0;
        } else if (rc == -EINVAL && invalid) {
            w->invalid++;
        } else {
            w->other++;
            snprintf(w->first_err, sizeof w->first_err, "commit %d: %s", rc, err);
        }
        json_decref(writes);
        json_decref(rec);
    }
    return NULL;
}

static int
cb_u64cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

START_TEST(t_group_commit)
{
    char *dir = vt_tmpdir();
    struct au_store_opts o = {.dir = dir, .map_bytes = 64u << 20, .max_history = 100000};
    au_store_t *s = NULL;
    char err[512] = "";
    ck_assert_msg(au_store_open(&s, &o, err, sizeof err) == 0, "open: %s", err);
    pthread_t th[S_THREADS];
    struct s_worker ws[S_THREADS];
    for (int i = 0; i < S_THREADS; i++) {
        ws[i] = (struct s_worker){.s = s, .who = i};
        pthread_create(&th[i], NULL, cb_worker, &ws[i]);
    }
    int ok = 0, busy = 0, invalid = 0;
    uint64_t *all = calloc(S_THREADS * S_PER_THREAD, sizeof *all);
    for (int i = 0; i < S_THREADS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(ws[i].other == 0, "thread %d: %d unexpected results, first: %s", i,
                      ws[i].other, ws[i].first_err);
        ck_assert_msg(ws[i].bad_seq == 0,
                      "thread %d: %d commits succeeded although another committed between "
                      "their snapshot and them (expected seq = snapshot + 1)",
                      i, ws[i].bad_seq);
        ck_assert_msg(ws[i].bad_conflict == 0,
                      "thread %d: %d refusals named a commit not after their snapshot", i,
                      ws[i].bad_conflict);
        memcpy(all + ok, ws[i].seqs, (size_t)ws[i].ok * sizeof *all);
        ok += ws[i].ok;
        busy += ws[i].busy;
        invalid += ws[i].invalid;
    }
    ck_assert_int_eq(invalid, S_PER_THREAD / 5);
    ck_assert_int_eq(ok + busy + invalid, S_THREADS * S_PER_THREAD);
    ck_assert_msg(ok > 0, "no commit succeeded");
    /* sequence numbers 1..ok, each once */
    qsort(all, (size_t)ok, sizeof *all, cb_u64cmp);
    for (int i = 0; i < ok; i++) {
        ck_assert_msg(all[i] == (uint64_t)i + 1, "commit sequence %d: expected %d, got %llu",
                      i, i + 1, (unsigned long long)all[i]);
    }
    ck_assert_uint_eq(au_store_seq(s), (uint64_t)ok);
    /* shared: fewer transactions than changes (each caller's journal entry and commit) */
    json_t *g = au_store_group_stats(s);
    json_int_t commits = json_integer_value(json_object_get(g, "commits"));
    json_int_t txns = json_integer_value(json_object_get(g, "transactions"));
    /* every journal entry, every successful commit and the history's pruning at open */
    json_int_t changes = S_THREADS * S_PER_THREAD + ok + 1;
    ck_assert_msg(commits == changes,
                  "changes committed: expected %lld (journal entries, successful commits, the "
                  "pruning at open), got %lld", (long long)changes, (long long)commits);
    ck_assert_msg(txns > 0 && txns < commits,
                  "group commit: %lld changes took %lld transactions (expected fewer)",
                  (long long)commits, (long long)txns);
    printf("group commit: %lld changes in %lld transactions (largest %lld); %d committed, %d "
           "refused by a conflict, %d invalid\n",
           (long long)commits, (long long)txns,
           (long long)json_integer_value(json_object_get(g, "largest_batch")), ok, busy,
           invalid);
    json_decref(g);
    /* one outbox change per committed write: 2 per successful commit, taken in commit order
     * 64 at a time and removed together */
    size_t outbox = 0, n;
    struct au_store_change batch[64];
    uint64_t last_seq = 0;
    while ((n = au_store_outbox_take(s, batch, 64)) > 0) {
        for (size_t i = 0; i < n; i++) {
            json_t *ch = batch[i].change;
            ck_assert_msg(json_object_get(ch, "error") == NULL, "an outbox change does not open");
            uint64_t seq = (uint64_t)json_integer_value(json_object_get(ch, "seq"));
            ck_assert_msg(seq >= last_seq, "outbox out of commit order: %llu after %llu",
                          (unsigned long long)seq, (unsigned long long)last_seq);
            last_seq = seq;
        }
        ck_assert_int_eq(au_store_outbox_del_n(s, batch, n), 0);
        for (size_t i = 0; i < n; i++) {
            json_decref(batch[i].change);
        }
        outbox += n;
    }
    ck_assert_uint_eq(outbox, (size_t)ok * 2);
    au_store_close(&s);
    /* after a reopen: every commit is there, the refused ones' journal entries too */
    ck_assert_msg(au_store_open(&s, &o, err, sizeof err) == 0, "reopen: %s", err);
    ck_assert_uint_eq(au_store_seq(s), (uint64_t)ok);
    ck_assert_uint_eq(au_store_hist_count(s), (size_t)ok);
    json_t *j = au_store_journal_list(s, err, sizeof err);
    ck_assert_msg(j != NULL, "%s", err);
    ck_assert_uint_eq(json_array_size(j), (size_t)(busy + invalid));
    json_decref(j);
    json_t *st = au_store_state_json(s, "t", NULL, err, sizeof err);
    ck_assert_msg(st != NULL, "%s", err);
    for (int i = 0; i < S_THREADS; i++) {
        char p[32];
        snprintf(p, sizeof p, "own%d", i);
        json_t *own = json_object_get(st, p);
        if (ws[i].ok > 0) {
            ck_assert_msg(json_is_integer(json_object_get(own, "n")),
                          "thread %d committed %d times but own%d.n is missing", i, ws[i].ok, i);
        }
    }
    json_decref(st);
    au_store_close(&s);
    free(all);
    free(dir);
}
END_TEST

/* A full map in the middle of shared transactions: the commits that do not fit are refused
 * (-ENOSPC) alone, the others of their batch commit, and the store stays consistent. */
struct s_filler {
    au_store_t *s;
    int who;
    int ok, full, other;
    char first_err[512];
};

static void *
cb_filler(void *arg)
{
    struct s_filler *f = arg;
    char big[6000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    for (int i = 0; i < 200; i++) {
        char path[64], err[512] = "";
        snprintf(path, sizeof path, "f%d.k%d", f->who, i);
        /* every other commit is small: they keep fitting while the big ones no longer do */
        json_t *writes = json_pack("[[s, s]]", path, i % 2 ? "small" : big);
        struct au_store_commit c = {.tenant = "t", .snap_seq = UINT64_MAX, .writes = writes};
        int rc = au_store_commit(f->s, &c, err, sizeof err);
        json_decref(writes);
        if (rc == 0) {
            f->ok++;
        } else if (rc == -ENOSPC) {
            f->full++;
        } else {
            f->other++;
            snprintf(f->first_err, sizeof f->first_err, "%d: %s", rc, err);
        }
    }
    return NULL;
}

START_TEST(t_group_map_full)
{
    char *dir = vt_tmpdir();
    struct au_store_opts o = {.dir = dir, .map_bytes = 2u << 20, .max_history = 10};
    au_store_t *s = NULL;
    char err[512] = "";
    ck_assert_msg(au_store_open(&s, &o, err, sizeof err) == 0, "open: %s", err);
    pthread_t th[4];
    struct s_filler fs[4];
    for (int i = 0; i < 4; i++) {
        fs[i] = (struct s_filler){.s = s, .who = i};
        pthread_create(&th[i], NULL, cb_filler, &fs[i]);
    }
    int ok = 0, full = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(fs[i].other == 0, "thread %d: %s", i, fs[i].first_err);
        ok += fs[i].ok;
        full += fs[i].full;
    }
    ck_assert_msg(full > 0, "the map never filled (%d commits)", ok);
    ck_assert_msg(ok > 0, "nothing committed");
    ck_assert_uint_eq(au_store_seq(s), (uint64_t)ok);
    json_t *st = au_store_state_json(s, "t", NULL, err, sizeof err);
    ck_assert_msg(st != NULL, "%s", err);
    size_t keys = 0;
    const char *k;
    json_t *v;
    json_object_foreach(st, k, v) {
        keys += json_object_size(v);
    }
    ck_assert_uint_eq(keys, (size_t)ok);
    json_decref(st);
    au_store_close(&s);
    ck_assert_msg(au_store_open(&s, &o, err, sizeof err) == 0, "reopen: %s", err);
    ck_assert_uint_eq(au_store_seq(s), (uint64_t)ok);
    au_store_close(&s);
    free(dir);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("au_store_group");
    TCase *tc = tcase_create("group_commit");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_group_commit);
    tcase_add_test(tc, t_group_map_full);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
