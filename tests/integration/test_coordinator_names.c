/* SPDX-License-Identifier: Apache-2.0 */
/* The deployment shape of a coordinator cluster (docker compose, Kubernetes): members named
 * by host name rather than IPv4 literal, raft listening on 0.0.0.0 (raft_bind). Three real
 * nodes elect a leader, commit, send clients to the leader by name, and a node killed with
 * kill -9 catches up after its restart. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "coord_harness.h"
#include "vx_test.h"

static const char s_event[] =
    "[{\"id\":\"00000000-0000-7000-8000-000000000001\",\"type\":\"filesystem_write\","
    "\"path\":\"/data/a\",\"content\":{\"n\":\"1\"}},"
    "{\"id\":\"00000000-0000-7000-8000-000000000002\",\"type\":\"filesystem_write\","
    "\"path\":\"/data/b\",\"content\":{\"n\":\"2\"}}]";

START_TEST(t_named_members_and_raft_bind)
{
    struct ch_cluster c;
    ch_start_host(&c, 3, "  raft_bind: 0.0.0.0\n", "localhost");
    int leader = ch_leader(&c, 20000, 0);
    ck_assert_int_ge(leader, 0);

    /* Addresses are the resolved ones; clients are sent to the name. */
    json_t *o = NULL;
    ck_assert_int_eq(ch_req(&c, (size_t)leader, "GET", "/v1/cluster", NULL, &o), 200);
    json_t *ms = json_object_get(o, "members");
    ck_assert_uint_eq(json_array_size(ms), 3);
    for (size_t i = 0; i < 3; i++) {
        const char *addr = json_string_value(json_object_get(json_array_get(ms, i), "address"));
        ck_assert_ptr_nonnull(addr);
        ck_assert_msg(strncmp(addr, "127.0.0.1:", 10) == 0, "member address %s", addr);
    }
    json_decref(o);

    size_t follower = (size_t)(leader + 1) % 3;
    ck_assert_int_eq(ch_req(&c, follower, "POST", "/v1/events", s_event, &o), 421);
    char want[64];
    snprintf(want, sizeof want, "localhost:%u", (unsigned)c.node[leader].rest_port);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(o, "leader"), "rest")),
                     want);
    json_decref(o);

    ck_assert_int_eq(ch_req(&c, (size_t)leader, "POST", "/v1/events", s_event, &o), 200);
    json_decref(o);
    long long committed = ch_int(&c, (size_t)leader, "/v1/cluster", "commit_index");
    ck_assert_int_gt(committed, 0);

    /* kill -9 of a follower; it restarts from its data dir and catches up by name. */
    ch_kill9(&c, follower);
    ck_assert_int_eq(ch_req(&c, (size_t)leader, "POST", "/v1/events",
                            "{\"id\":\"00000000-0000-7000-8000-000000000003\","
                            "\"type\":\"filesystem_write\",\"path\":\"/data/c\"}",
                            &o),
                     200);
    json_decref(o);
    committed = ch_int(&c, (size_t)leader, "/v1/cluster", "commit_index");
    ch_start_node(&c, follower);
    ck_assert(ch_wait_ready(&c, follower, 20000));
    long long got = -1;
    for (int waited = 0; waited < 20000 && got < committed; waited += 50) {
        got = ch_int(&c, follower, "/v1/cluster", "commit_index");
        vt_sleep_ms(50);
    }
    ck_assert_int_ge(got, committed);
    ch_stop_all(&c);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("coordinator_names");
    TCase *tc = tcase_create("deployment");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_named_members_and_raft_bind);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
