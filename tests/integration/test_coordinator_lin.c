/* SPDX-License-Identifier: Apache-2.0 */
/* Linearizability of the coordinator on real 3-node clusters (real processes, loopback TCP):
 * five client threads read (consistency=linearizable), write and compare-and-set three keys
 * (coord_workload.c) while the leader is killed with kill -9 and restarted, or stopped with
 * SIGSTOP and resumed; every history must pass the checker (lin_check.c). The checker itself
 * is tested first on histories known to be linearizable or not. Partitions made with network
 * namespaces are in test_coordinator_partition.c. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coord_harness.h"
#include "coord_workload.h"
#include "lin_check.h"
#include "vx_test.h"

#define S_CLIENTS 5
#define S_KEYS 3

/* ---- the checker ---------------------------------------------------------------------- */

#define R(k, v, c, r) {k, 0, LC_READ, LC_OK, v, 0, LC_UNSEEN, c, r}
#define W(k, v, c, r) {k, 0, LC_WRITE, LC_OK, v, 0, LC_UNSEEN, c, r}
#define WU(k, v, c) {k, 0, LC_WRITE, LC_UNKNOWN, v, 0, LC_UNSEEN, c, LC_NEVER}
#define CAS(k, e, v, c, r) {k, 0, LC_CAS, LC_OK, v, e, LC_UNSEEN, c, r}
#define CASF(k, e, v, seen, c, r) {k, 0, LC_CAS, LC_FAIL, v, e, seen, c, r}
#define CASU(k, e, v, c) {k, 0, LC_CAS, LC_UNKNOWN, v, e, LC_UNSEEN, c, LC_NEVER}

static bool
s_lin(const struct lc_op *ops, size_t n)
{
    struct lc_report rep;
    bool ok = lc_check(ops, n, 0, &rep);
    ck_assert_msg(!rep.gave_up, "checker gave up");
    return ok;
}

#define S_N(a) (sizeof(a) / sizeof((a)[0]))

START_TEST(t_checker_accepts_linearizable_histories)
{
    const struct lc_op seq[] = {R(0, 0, 0, 5), W(0, 1, 10, 20), R(0, 1, 30, 40),
                                CAS(0, 1, 2, 50, 60), R(0, 2, 70, 80)};
    ck_assert(s_lin(seq, S_N(seq)));
    /* Overlapping writes: reads overlapping both may see them in either order. */
    const struct lc_op overlap[] = {W(0, 1, 0, 100), W(0, 2, 10, 90), R(0, 2, 20, 30),
                                    R(0, 1, 40, 50), R(0, 1, 110, 120)};
    ck_assert(s_lin(overlap, S_N(overlap)));
    /* Two concurrent cas on the same value: one wins, the other fails seeing the winner. */
    const struct lc_op race[] = {W(0, 1, 0, 10), CAS(0, 1, 2, 20, 40), CASF(0, 1, 3, 2, 20, 40),
                                 R(0, 2, 50, 60)};
    ck_assert(s_lin(race, S_N(race)));
    /* Unknown operations may take effect late, or never. */
    const struct lc_op late[] = {W(0, 1, 0, 10), WU(0, 2, 5), R(0, 1, 20, 30), R(0, 2, 40, 50)};
    ck_assert(s_lin(late, S_N(late)));
    const struct lc_op never[] = {W(0, 1, 0, 10), WU(0, 2, 5), R(0, 1, 20, 30),
                                  R(0, 1, 40, 50)};
    ck_assert(s_lin(never, S_N(never)));
    const struct lc_op casu[] = {W(0, 1, 0, 10), CASU(0, 1, 5, 15), R(0, 5, 30, 40)};
    ck_assert(s_lin(casu, S_N(casu)));
    /* An absent key reads 0; a cas on 0 creates it. */
    const struct lc_op create[] = {R(0, 0, 0, 5), CAS(0, 0, 7, 10, 20), CASF(0, 0, 8, 7, 30, 40),
                                   R(0, 7, 50, 60)};
    ck_assert(s_lin(create, S_N(create)));
    /* Keys are independent: each is linearizable on its own. */
    const struct lc_op keys[] = {W(0, 1, 0, 10), W(1, 5, 0, 10), R(1, 5, 20, 30),
                                 R(0, 1, 20, 30)};
    ck_assert(s_lin(keys, S_N(keys)));
}
END_TEST

START_TEST(t_checker_rejects_violations)
{
    /* A stale read after a completed write. */
    const struct lc_op stale[] = {W(0, 1, 0, 10), W(0, 2, 20, 30), R(0, 1, 40, 50)};
    ck_assert(!s_lin(stale, S_N(stale)));
    /* New then old: once a read saw the concurrent write, a later read cannot miss it. */
    const struct lc_op inversion[] = {W(0, 1, 0, 100), R(0, 1, 10, 20), R(0, 0, 30, 40)};
    ck_assert(!s_lin(inversion, S_N(inversion)));
    /* A value nobody wrote. */
    const struct lc_op phantom[] = {W(0, 1, 0, 10), R(0, 7, 20, 30)};
    ck_assert(!s_lin(phantom, S_N(phantom)));
    /* An unknown write cannot take effect before it was invoked, and once seen it stays. */
    const struct lc_op early[] = {W(0, 1, 0, 10), R(0, 2, 20, 30), WU(0, 2, 40)};
    ck_assert(!s_lin(early, S_N(early)));
    const struct lc_op flicker[] = {W(0, 1, 0, 10), WU(0, 2, 5), R(0, 2, 20, 30),
                                    R(0, 1, 40, 50)};
    ck_assert(!s_lin(flicker, S_N(flicker)));
    /* Two cas on the same value both succeeding (a lost update). */
    const struct lc_op lost[] = {W(0, 1, 0, 10), CAS(0, 1, 2, 20, 40), CAS(0, 1, 3, 20, 40)};
    ck_assert(!s_lin(lost, S_N(lost)));
    /* A cas that failed although the value it expected was certainly held. */
    const struct lc_op wrongfail[] = {W(0, 1, 0, 10), CASF(0, 1, 2, LC_UNSEEN, 20, 30)};
    ck_assert(!s_lin(wrongfail, S_N(wrongfail)));
    /* A failed cas reporting a value that was never there at the time. */
    const struct lc_op badseen[] = {W(0, 1, 0, 10), W(0, 2, 20, 30), CASF(0, 5, 6, 1, 40, 50)};
    ck_assert(!s_lin(badseen, S_N(badseen)));
    /* A cas succeeding on a value that was overwritten before it started. */
    const struct lc_op stalecas[] = {W(0, 1, 0, 10), W(0, 2, 20, 30), CAS(0, 1, 3, 40, 50)};
    ck_assert(!s_lin(stalecas, S_N(stalecas)));
    /* Writes read back out of the only order their reads allow. */
    const struct lc_op order[] = {W(0, 1, 0, 100), W(0, 2, 0, 100), W(0, 3, 0, 100),
                                  W(0, 4, 0, 100), R(0, 1, 110, 120), R(0, 2, 130, 140)};
    ck_assert(!s_lin(order, S_N(order)));
    /* One bad key among good ones is found. */
    const struct lc_op mixed[] = {W(0, 1, 0, 10), R(0, 1, 20, 30), W(1, 1, 0, 10),
                                  W(1, 2, 20, 30), R(1, 1, 40, 50)};
    struct lc_report rep;
    ck_assert(!lc_check(mixed, S_N(mixed), 0, &rep));
    ck_assert_uint_eq(rep.key, 1);
    ck_assert_msg(strstr(rep.why, "read") != NULL, "the report names the read: %s", rep.why);
}
END_TEST

/* A long sequential history with a stale read spliced in near the end is rejected, and the
 * same history without it accepted: the search scales to histories of the size the cluster
 * tests make. */
START_TEST(t_checker_scales)
{
    enum { N = 3000 };
    struct lc_op *ops = calloc(N + 1, sizeof *ops);
    uint64_t t = 0;
    for (size_t i = 0; i < N; i++) {
        /* Bursts of 5 overlapping writes, each followed by a read of the last one. */
        if (i % 6 < 5) {
            ops[i] = (struct lc_op)W(0, i + 1, t, t + 50);
            t += 2;
        } else {
            t += 60;
            ops[i] = (struct lc_op)R(0, i, t, t + 5);
            t += 10;
        }
    }
    ck_assert(s_lin(ops, N));
    ops[N] = (struct lc_op)R(0, N - 12, t + 10, t + 20);
    ck_assert(!s_lin(ops, N + 1));
    free(ops);
}
END_TEST

/* ---- the cluster under faults ------------------------------------------------------------ */

static struct cw_opts
s_opts(const char *prefix)
{
    return (struct cw_opts){.clients = S_CLIENTS,
                            .keys = S_KEYS,
                            .consistency = "linearizable",
                            .prefix = prefix,
                            .op_timeout_ms = 4000,
                            .request_timeout_ms = 1000};
}

/* Waits for a leader other than skip; fails the test after 15 s. */
static int
s_new_leader(struct ch_cluster *c, unsigned skip)
{
    int l = ch_leader(c, 15000, skip);
    ck_assert_msg(l >= 0, "no leader elected");
    return l;
}

START_TEST(t_linearizable_without_faults)
{
    struct ch_cluster c;
    ch_start(&c, 3, NULL);
    struct cw_opts o = s_opts("/lin/calm");
    cw_run_t *w = cw_start(&c, &o);
    vt_sleep_ms(3000);
    cw_stop(w);
    struct cw_stats st = cw_stats(w);
    ck_assert_msg(st.reads >= 30 && st.writes >= 20 && st.cas_ok + st.cas_fail >= 10,
                  "too little work: %u reads, %u writes, %u cas", st.reads, st.writes,
                  st.cas_ok + st.cas_fail);
    ck_assert_msg(st.redirects > 0, "no request was redirected by a follower");
    cw_assert_linearizable(w, "no faults");
    cw_destroy(&w);
    ch_stop_all(&c);
}
END_TEST

START_TEST(t_linearizable_leader_kill9)
{
    struct ch_cluster c;
    ch_start(&c, 3, NULL);
    struct cw_opts o = s_opts("/lin/kill9");
    cw_run_t *w = cw_start(&c, &o);
    for (int round = 0; round < 3; round++) {
        vt_sleep_ms(1500);
        int l = s_new_leader(&c, 0);
        ch_kill9(&c, (size_t)l);
        s_new_leader(&c, 1u << l);
        vt_sleep_ms(1000);
        ch_start_node(&c, (size_t)l);
    }
    vt_sleep_ms(1500);
    cw_stop(w);
    struct cw_stats st = cw_stats(w);
    ck_assert_msg(st.reads >= 30 && st.writes >= 20, "too little work: %u reads, %u writes",
                  st.reads, st.writes);
    cw_assert_linearizable(w, "leader kill -9");
    cw_destroy(&w);
    ch_stop_all(&c);
}
END_TEST

START_TEST(t_linearizable_leader_sigstop)
{
    struct ch_cluster c;
    ch_start(&c, 3, NULL);
    struct cw_opts o = s_opts("/lin/sigstop");
    cw_run_t *w = cw_start(&c, &o);
    for (int round = 0; round < 3; round++) {
        vt_sleep_ms(1500);
        int l = s_new_leader(&c, 0);
        kill(c.node[l].pid, SIGSTOP);
        /* Paused well past the election timeout: the others elect a leader and go on. */
        s_new_leader(&c, 1u << l);
        vt_sleep_ms(800);
        kill(c.node[l].pid, SIGCONT);
    }
    vt_sleep_ms(1500);
    cw_stop(w);
    struct cw_stats st = cw_stats(w);
    ck_assert_msg(st.reads >= 30 && st.writes >= 20, "too little work: %u reads, %u writes",
                  st.reads, st.writes);
    cw_assert_linearizable(w, "leader SIGSTOP/SIGCONT");
    cw_destroy(&w);
    ch_stop_all(&c);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("coordinator_lin");
    TCase *tc = tcase_create("checker");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, t_checker_accepts_linearizable_histories);
    tcase_add_test(tc, t_checker_rejects_violations);
    tcase_add_test(tc, t_checker_scales);
    suite_add_tcase(s, tc);
    tc = tcase_create("cluster");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, t_linearizable_without_faults);
    tcase_add_test(tc, t_linearizable_leader_kill9);
    tcase_add_test(tc, t_linearizable_leader_sigstop);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
