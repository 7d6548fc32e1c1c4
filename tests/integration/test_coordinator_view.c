/* SPDX-License-Identifier: Apache-2.0 */
/* The cluster view is right whichever member is asked (a real 3-node cluster): every member
 * listed with role, health and lag, a follower showing what the leader sees of the others
 * (sent over the authenticated peer links) and marking where each row comes from; a member
 * killed with -9 shows as unhealthy from the other follower too; a leadership transfer to the
 * current leader says so with 200 already_leader instead of 404. With libraft's plain
 * transport a follower has no such view: members it cannot observe are shown as unknown
 * (healthy null), never as unhealthy. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_harness.h"
#include "vx_test.h"

/* Whether node i's view lists the 3 members as voters, every one healthy but `down` (0: none),
 * with an integer lag for each healthy one, the leader flagged, and the rows' source as
 * said. */
static bool
s_view_ok(struct ch_cluster *c, size_t i, long long down, long long leader, const char *source)
{
    json_t *o = NULL;
    bool ok = ch_req(c, i, "GET", "/v1/cluster", NULL, &o) == 200;
    json_t *members = json_object_get(o, "members");
    ok = ok && json_array_size(members) == 3;
    ok = ok && strcmp(json_string_value(json_object_get(json_object_get(o, "member_view"),
                                                        "from")) ?: "",
                      source) == 0;
    size_t k;
    json_t *m;
    unsigned healthy = 0;
    json_array_foreach(members, k, m) {
        long long id = json_integer_value(json_object_get(m, "id"));
        bool h = json_is_true(json_object_get(m, "healthy"));
        ok = ok && json_is_boolean(json_object_get(m, "healthy"));
        ok = ok && strcmp(json_string_value(json_object_get(m, "role")) ?: "", "voter") == 0;
        ok = ok && h == (id != down);
        ok = ok && (!h || json_is_integer(json_object_get(m, "lag")));
        ok = ok && json_is_true(json_object_get(m, "leader")) == (id == leader);
        healthy += h;
    }
    ok = ok && json_integer_value(json_object_get(o, "healthy")) == (down ? 2 : 3);
    json_decref(o);
    return ok && healthy == (down ? 2u : 3u);
}

static bool
s_wait_view(struct ch_cluster *c, size_t i, long long down, long long leader, const char *source)
{
    for (int k = 0; k < 200; k++) {
        if (s_view_ok(c, i, down, leader, source)) {
            return true;
        }
        vt_sleep_ms(50);
    }
    return false;
}

START_TEST(t_view_from_every_member)
{
    struct ch_cluster c;
    ch_start(&c, 3, NULL);
    int l = ch_leader(&c, 10000, 0);
    ck_assert_int_ge(l, 0);
    size_t L = (size_t)l, F1 = (L + 1) % 3, F2 = (L + 2) % 3;
    long long lid = (long long)c.node[L].id;
    ck_assert_msg(s_wait_view(&c, L, 0, lid, "self"), "the leader's view");
    ck_assert_msg(s_wait_view(&c, F1, 0, lid, "leader"), "follower %zu's view", F1 + 1);
    ck_assert_msg(s_wait_view(&c, F2, 0, lid, "leader"), "follower %zu's view", F2 + 1);
    /* A follower marks the rows it takes from the leader. */
    json_t *o = NULL;
    ck_assert_int_eq(ch_req(&c, F1, "GET", "/v1/cluster", NULL, &o), 200);
    size_t k;
    json_t *m;
    json_array_foreach(json_object_get(o, "members"), k, m) {
        long long id = json_integer_value(json_object_get(m, "id"));
        const char *seen = json_string_value(json_object_get(m, "seen_by"));
        ck_assert_str_eq(seen, id == (long long)c.node[F2].id ? "leader" : "self");
    }
    json_decref(o);
    /* F2 dies: the other follower learns it from the leader. */
    ch_kill9(&c, F2);
    ck_assert_msg(s_wait_view(&c, F1, (long long)c.node[F2].id, lid, "leader"),
                  "follower %zu never showed node %zu down", F1 + 1, F2 + 1);
    ck_assert_msg(s_wait_view(&c, L, (long long)c.node[F2].id, lid, "self"), "the leader's");
    ch_start_node(&c, F2);
    ck_assert(ch_wait_ready(&c, F2, 20000));
    ck_assert_msg(s_wait_view(&c, F1, 0, lid, "leader"), "node %zu back", F2 + 1);
    ch_stop_all(&c);
}
END_TEST

START_TEST(t_transfer_to_current_leader)
{
    struct ch_cluster c;
    ch_start(&c, 3, NULL);
    int l = ch_leader(&c, 10000, 0);
    ck_assert_int_ge(l, 0);
    long long term = ch_int(&c, (size_t)l, "/v1/cluster", "term");
    char body[32];
    snprintf(body, sizeof body, "{\"id\":%llu}", (unsigned long long)c.node[l].id);
    json_t *o = NULL;
    ck_assert_int_eq(ch_req(&c, (size_t)l, "POST", "/v1/leadership/transfer", body, &o), 200);
    ck_assert(json_is_true(json_object_get(o, "already_leader")));
    ck_assert_int_eq(json_integer_value(json_object_get(o, "leader")), (json_int_t)c.node[l].id);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "term")), term);
    const char *msg = json_string_value(json_object_get(o, "message"));
    ck_assert_msg(msg && strstr(msg, "is the leader already"), "%s", msg ? msg : "(none)");
    json_decref(o);
    /* Asked of a follower, it names the leader (421) as for every change. */
    size_t F = ((size_t)l + 1) % 3;
    ck_assert_int_eq(ch_req(&c, F, "POST", "/v1/leadership/transfer", body, NULL), 421);
    ck_assert_int_eq(ch_leader(&c, 5000, 0), l);
    ch_stop_all(&c);
}
END_TEST

START_TEST(t_plain_transport_says_unknown)
{
    struct ch_cluster c;
    ch_start(&c, 3, "  raft_security: off\n");
    int l = ch_leader(&c, 10000, 0);
    ck_assert_int_ge(l, 0);
    size_t F1 = ((size_t)l + 1) % 3, F2 = ((size_t)l + 2) % 3;
    bool seen = false;
    for (int k = 0; k < 200 && !seen; k++) {
        json_t *o = NULL;
        ck_assert_int_eq(ch_req(&c, F1, "GET", "/v1/cluster", NULL, &o), 200);
        size_t i;
        json_t *m;
        seen = json_array_size(json_object_get(o, "members")) == 3;
        json_array_foreach(json_object_get(o, "members"), i, m) {
            long long id = json_integer_value(json_object_get(m, "id"));
            json_t *h = json_object_get(m, "healthy");
            if (id == (long long)c.node[F2].id) {
                seen = seen && json_is_null(h) &&
                       strcmp(json_string_value(json_object_get(m, "seen_by")), "nobody") == 0;
            } else {
                seen = seen && json_is_true(h);
            }
        }
        json_decref(o);
        if (!seen) {
            vt_sleep_ms(50);
        }
    }
    ck_assert_msg(seen, "a follower on the plain transport should show the other follower as "
                        "unknown");
    ch_stop_all(&c);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("coordinator_view");
    TCase *tc = tcase_create("view");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, t_view_from_every_member);
    tcase_add_test(tc, t_transfer_to_current_leader);
    tcase_add_test(tc, t_plain_transport_says_unknown);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
