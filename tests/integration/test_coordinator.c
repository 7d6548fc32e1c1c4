/* SPDX-License-Identifier: Apache-2.0 */
/* Real vexfs-coordinator clusters over loopback: election, ordered replication at volume,
 * kill -9 of the leader under load and restart from the data dir, partition by SIGSTOP
 * (the stopped processes cannot answer: to the others they are cut off), conflicts and bad
 * input. Every node must exit 0 on SIGTERM. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coord_events.h"
#include "coord_harness.h"
#include "vx_test.h"

/* Submits events first..first+count-1 (paths /data/f0../data/f96) through node via. */
static bool
s_submit(struct ch_cluster *c, size_t via, uint64_t first, size_t count, int timeout_ms)
{
    char *body = ch_events_body("/data/f", 97, first, count);
    bool ok = ch_submit(c, via, body, count, timeout_ms, 0);
    free(body);
    return ok;
}

START_TEST(t_three_nodes_10k_events_same_order)
{
    struct ch_cluster c;
    ch_start(&c, 3, NULL);
    int leader = ch_leader(&c, 10000, 0);
    ck_assert_int_ge(leader, 0);
    json_t *o = NULL;
    ck_assert_int_eq(ch_req(&c, (size_t)(leader + 1) % 3, "GET", "/v1/cluster", NULL, &o), 200);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "total")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(o, "leader"), "id")),
                     leader + 1);
    json_decref(o);
    enum { TOTAL = 10000, BATCH = 100 };
    for (uint64_t first = 1; first <= TOTAL; first += BATCH) {
        size_t via = (size_t)(first / BATCH) % 3; /* through any node */
        ck_assert_msg(s_submit(&c, via, first, BATCH, 20000), "batch at %llu not committed",
                      (unsigned long long)first);
    }
    /* Re-sending a batch commits nothing new. */
    ck_assert(s_submit(&c, 0, 1, BATCH, 20000));
    ck_assert_msg(ch_all_totals(&c, TOTAL, 10000, 0), "not every node applied %d events", TOTAL);
    ch_check_logs(&c, TOTAL);
    ch_stop_all(&c);
}
END_TEST

START_TEST(t_kill9_leader_under_load)
{
    struct ch_cluster c;
    ch_start(&c, 3, NULL);
    int leader = ch_leader(&c, 10000, 0);
    ck_assert_int_ge(leader, 0);
    enum { BATCH = 50, BEFORE = 20, AFTER = 20 };
    uint64_t next = 1;
    for (int b = 0; b < BEFORE; b++, next += BATCH) {
        ck_assert(s_submit(&c, (size_t)leader, next, BATCH, 20000));
    }
    ch_kill9(&c, (size_t)leader);
    uint64_t t0 = vt_now_ms();
    int nl = ch_leader(&c, 20 * CH_ELECTION_MS, 1u << leader);
    uint64_t took = vt_now_ms() - t0;
    ck_assert_msg(nl >= 0 && nl != leader, "no new leader after kill -9");
    ck_assert_msg(took < 10 * CH_ELECTION_MS, "new leader took %llu ms",
                  (unsigned long long)took);
    for (int b = 0; b < AFTER; b++, next += BATCH) {
        ck_assert(s_submit(&c, (size_t)nl, next, BATCH, 20000));
    }
    long long total = (long long)next - 1;
    ck_assert(ch_all_totals(&c, total, 10000, 1u << leader));
    /* The killed node restarts from its data dir and catches up. */
    ch_start_node(&c, (size_t)leader);
    ck_assert(ch_wait_ready(&c, leader, 20000));
    if (!ch_all_totals(&c, total, 20000, 0)) {
        json_t *dbg = NULL;
        ch_req(&c, (size_t)leader, "GET", "/v1/cluster", NULL, &dbg);
        char *t = json_dumps(dbg, 0);
        fprintf(stderr, "restarted: %s\n", t);
        free(t);
        json_decref(dbg);
        ch_req(&c, (size_t)nl, "GET", "/v1/cluster", NULL, &dbg);
        t = json_dumps(dbg, 0);
        fprintf(stderr, "leader: %s\n", t);
        free(t);
        json_decref(dbg);
    }
    ck_assert_msg(ch_all_totals(&c, total, 20000, 0),
                  "restarted node did not catch up: totals %lld %lld %lld, want %lld",
                  ch_int(&c, 0, "/v1/log?limit=0&consistency=any", "total"),
                  ch_int(&c, 1, "/v1/log?limit=0&consistency=any", "total"),
                  ch_int(&c, 2, "/v1/log?limit=0&consistency=any", "total"), total);
    ch_check_logs(&c, total);
    ch_stop_all(&c);
}
END_TEST

START_TEST(t_partition_by_sigstop)
{
    struct ch_cluster c;
    ch_start(&c, 3, NULL);
    int leader = ch_leader(&c, 10000, 0);
    ck_assert_int_ge(leader, 0);
    size_t f1 = (size_t)(leader + 1) % 3, f2 = (size_t)(leader + 2) % 3;
    /* One follower cut off: the majority goes on. */
    kill(c.node[f1].pid, SIGSTOP);
    ck_assert(s_submit(&c, (size_t)leader, 1, 100, 10000));
    kill(c.node[f1].pid, SIGCONT);
    ck_assert(ch_all_totals(&c, 100, 10000, 0));
    /* Now f1 alone: stop the two others. f1 is the minority and must say so. */
    kill(c.node[leader].pid, SIGSTOP);
    kill(c.node[f2].pid, SIGSTOP);
    bool reported = false;
    for (int waited = 0; waited < 20 * CH_ELECTION_MS && !reported; waited += 50) {
        json_t *o = NULL;
        if (ch_req(&c, f1, "GET", "/v1/cluster", NULL, &o) == 200) {
            reported = strcmp(json_string_value(json_object_get(o, "status")) ?: "",
                              "partitioned") == 0;
        }
        json_decref(o);
        vt_sleep_ms(50);
    }
    ck_assert_msg(reported, "isolated node did not report a partition");
    json_t *o = NULL;
    ck_assert_int_eq(ch_req(&c, f1, "GET", "/ready", NULL, &o), 503);
    json_decref(o);
    char *body = ch_events_body("/data/f", 97, 1000, 1);
    ck_assert_int_eq(ch_req(&c, f1, "POST", "/v1/events", body, &o), 503);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(o, "error"), "code")),
                     "partitioned");
    json_decref(o);
    free(body);
    char metric[64];
    (void)metric;
    /* Heal: everyone comes back, a leader is agreed and writes converge everywhere. */
    kill(c.node[leader].pid, SIGCONT);
    kill(c.node[f2].pid, SIGCONT);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_msg(ch_wait_ready(&c, i, 20000), "node %zu not ready after heal",
                      i + 1);
    }
    ck_assert(s_submit(&c, f1, 101, 100, 20000));
    ck_assert(ch_all_totals(&c, 200, 10000, 0));
    ch_check_logs(&c, 200);
    ch_stop_all(&c);
}
END_TEST

START_TEST(t_conflicts_and_strategies)
{
    struct ch_cluster c;
    ch_start(&c, 3, "  conflict_strategies: \"/shared/=user_intervention,/merge/=merge\"\n");
    int l = ch_leader(&c, 10000, 0);
    ck_assert_int_ge(l, 0);
    /* Two writes with concurrent producer clocks on each key. */
    const char *tmpl =
        "[{\"id\":\"00000000-0000-7000-8000-00000000000%d\",\"type\":\"filesystem_write\","
        "\"path\":\"%s\",\"content\":{\"%s\":\"1\"},\"causality\":{\"vector_clock\":{\"a\":1}},"
        "\"metadata\":{\"tag.hot\":\"+\",\"counter.size\":\"10\"}},"
        "{\"id\":\"00000000-0000-7000-8000-00000000000%d\",\"type\":\"filesystem_write\","
        "\"path\":\"%s\",\"content\":{\"%s\":\"2\"},\"causality\":{\"vector_clock\":{\"b\":1}},"
        "\"metadata\":{\"counter.size\":\"-3\"}}]";
    const char *paths[] = {"/shared/doc", "/merge/doc", "/plain/doc"};
    for (int k = 0; k < 3; k++) {
        char body[1024];
        snprintf(body, sizeof body, tmpl, 2 * k + 1, paths[k], "x", 2 * k + 2, paths[k], "y");
        json_t *o = NULL;
        ck_assert_int_eq(ch_req(&c, (size_t)l, "POST", "/v1/events", body, &o), 200);
        ck_assert_int_eq(json_integer_value(json_object_get(o, "conflicts")), 1);
        json_decref(o);
    }
    json_t *o = NULL;
    ck_assert_int_eq(ch_req(&c, (size_t)l, "GET", "/v1/conflicts", NULL, &o), 200);
    json_t *list = json_object_get(o, "conflicts");
    ck_assert_uint_eq(json_array_size(list), 1);
    json_int_t cid = json_integer_value(json_object_get(json_array_get(list, 0), "id"));
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "key")),
                     "/shared/doc");
    json_decref(o);
    /* merge: both fields; counters and tags merged everywhere. */
    ck_assert_int_eq(ch_req(&c, (size_t)l, "GET", "/v1/state/merge/doc", NULL, &o), 200);
    json_t *content = json_object_get(
        json_object_get(json_object_get(o, "register"), "value"), "content");
    ck_assert_ptr_nonnull(json_object_get(content, "x"));
    ck_assert_ptr_nonnull(json_object_get(content, "y"));
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(o, "counters"), "size")),
                     7);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(o, "tags"), 0)), "hot");
    json_decref(o);
    /* Resolve the open conflict by choosing the second write. */
    char path[64];
    snprintf(path, sizeof path, "/v1/conflicts/%lld/resolve", (long long)cid);
    ck_assert_int_eq(ch_req(&c, (size_t)l, "POST", path,
                            "{\"choose\":\"00000000-0000-7000-8000-000000000002\"}", &o),
                     200);
    json_decref(o);
    ck_assert_int_eq(ch_req(&c, (size_t)l, "POST", path,
                            "{\"choose\":\"00000000-0000-7000-8000-000000000002\"}", &o),
                     404);
    json_decref(o);
    ck_assert_int_eq(ch_req(&c, (size_t)l, "GET", "/v1/state?key=%2Fshared%2Fdoc", NULL, &o),
                     200);
    content = json_object_get(json_object_get(json_object_get(o, "register"), "value"),
                              "content");
    ck_assert_str_eq(json_string_value(json_object_get(content, "y")), "2");
    json_decref(o);
    ck_assert_int_eq(ch_req(&c, (size_t)l, "GET", "/v1/conflicts", NULL, &o), 200);
    ck_assert_uint_eq(json_array_size(json_object_get(o, "conflicts")), 0);
    json_decref(o);
    ck_assert_int_eq(ch_req(&c, (size_t)l, "GET", "/v1/stats", NULL, &o), 200);
    json_t *by = json_object_get(o, "conflicts");
    ck_assert_int_eq(json_integer_value(json_object_get(by, "last_writer_wins")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(by, "merge")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(by, "user_intervention")), 1);
    json_decref(o);
    ch_stop_all(&c);
}
END_TEST

START_TEST(t_bad_input)
{
    struct ch_cluster c;
    ch_start(&c, 3, NULL);
    int l = ch_leader(&c, 10000, 0);
    ck_assert_int_ge(l, 0);
    size_t L = (size_t)l, F = (L + 1) % 3;
    json_t *o = NULL;
    ck_assert_int_eq(ch_req(&c, L, "POST", "/v1/events", "{\"type\":", &o), 400);
    json_decref(o);
    ck_assert_int_eq(ch_req(&c, L, "POST", "/v1/events", "{\"type\":\"nope\",\"path\":\"/a\"}",
                            &o),
                     422);
    json_decref(o);
    ck_assert_int_eq(ch_req(&c, L, "POST", "/v1/events", "[]", &o), 400);
    json_decref(o);
    /* A follower points at the leader. */
    ck_assert_int_eq(ch_req(&c, F, "POST", "/v1/events",
                            "{\"type\":\"filesystem_write\",\"path\":\"/a\"}", &o),
                     421);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(o, "leader"), "id")),
                     l + 1);
    json_decref(o);
    ck_assert_int_eq(ch_req(&c, L, "DELETE", "/v1/members/42", NULL, &o), 404);
    json_decref(o);
    ck_assert_int_eq(ch_req(&c, L, "POST", "/v1/members", "{\"member\":\"x@nowhere\"}", &o), 422);
    json_decref(o);
    ck_assert_int_eq(ch_req(&c, L, "POST", "/v1/leadership/transfer", "{\"id\":42}", &o), 404);
    json_decref(o);
    ck_assert_int_eq(ch_req(&c, L, "POST", "/v1/leadership/transfer", "{\"id\":\"x\"}", &o), 400);
    json_decref(o);
    ck_assert_int_eq(ch_req(&c, L, "POST", "/v1/conflicts/7/resolve", "{\"choose\":\"x\"}", &o),
                     404);
    json_decref(o);
    ck_assert_int_eq(ch_req(&c, L, "GET", "/v1/log?from=abc", NULL, &o), 400);
    json_decref(o);
    ck_assert_int_eq(ch_req(&c, L, "GET", "/v1/state/nothing/here", NULL, &o), 404);
    json_decref(o);
    /* Transfer to a dead node fails clearly and leaves the leader in place. */
    ch_kill9(&c, F);
    char body[32];
    snprintf(body, sizeof body, "{\"id\":%zu}", F + 1);
    long st = ch_req(&c, L, "POST", "/v1/leadership/transfer", body, &o);
    ck_assert_msg(st == 504, "transfer to a dead node gave %ld", st);
    json_decref(o);
    ck_assert_int_eq(ch_leader(&c, 5000, 1u << F), l);
    /* A live transfer works. */
    size_t T = (L + 2) % 3;
    snprintf(body, sizeof body, "{\"id\":%zu}", T + 1);
    ck_assert_int_eq(ch_req(&c, L, "POST", "/v1/leadership/transfer", body, &o), 200);
    json_decref(o);
    /* The old leader learns of its successor with the next message: ask T itself. */
    ck_assert_int_eq(ch_leader(&c, 5000, (1u << F) | (1u << L)), (int)T);
    ch_stop_node(&c, L);
    ch_stop_node(&c, T);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("coordinator");
    TCase *tc = tcase_create("replication");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, t_three_nodes_10k_events_same_order);
    tcase_add_test(tc, t_kill9_leader_under_load);
    suite_add_tcase(s, tc);
    tc = tcase_create("partition");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_partition_by_sigstop);
    suite_add_tcase(s, tc);
    tc = tcase_create("state");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, t_conflicts_and_strategies);
    tcase_add_test(tc, t_bad_input);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
