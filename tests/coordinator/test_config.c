/* SPDX-License-Identifier: Apache-2.0 */
/* The distributed_coordination section: every row bound to a field of struct coord_config,
 * defaults that load and bind, and the rules across keys refused with a message naming them
 * (heartbeat below the election timeout, raft_security's values, name lists, strategies). */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "coord_config.h"

START_TEST(t_table)
{
    char err[512];
    ck_assert_msg(vx_config_check_table(&coord_cfg_section, err, sizeof err) == 0, "%s", err);
    const struct vx_cfg_section *const secs[] = {&coord_cfg_section};
    vx_config_t *cfg = NULL;
    ck_assert_msg(vx_config_load(&cfg, NULL, secs, 1, err, sizeof err) == 0, "%s", err);
    struct coord_config c;
    ck_assert_int_eq(vx_config_bind(cfg, &coord_cfg_section, &c), 0);
    ck_assert_int_eq(c.heartbeat_ms, 100);
    ck_assert_int_eq(c.election_timeout_ms, 1000);
    ck_assert_str_eq(c.raft_security, "required");
    ck_assert_str_eq(c.raft_peer_keys, "coordinator");
    ck_assert_str_eq(c.vclock_nodes, "*");
    ck_assert_int_eq(c.vclock_max_entries, 64);
    ck_assert_str_eq(c.input_endpoint, ">tcp://127.0.0.1:5552");
    ck_assert(!c.input_acked);
    ck_assert_int_eq(c.input_senders_max, 1024);
    ck_assert_int_eq(c.input_senders_save_ms, 1000);
    vx_config_destroy(&cfg);
}
END_TEST

/* Loads {"distributed_coordination": {key: value}}; returns 0 or the error in err. */
static int
s_load(const char *json, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *doc = json_loads(json, 0, &jerr);
    ck_assert_ptr_nonnull(doc);
    const struct vx_cfg_section *const secs[] = {&coord_cfg_section};
    vx_config_t *cfg = NULL;
    int rc = vx_config_from_json(&cfg, doc, secs, 1, err, errlen);
    vx_config_destroy(&cfg);
    json_decref(doc);
    return rc;
}

START_TEST(t_cross_key_rules)
{
    static const struct {
        const char *body;
        const char *needle;
    } bad[] = {
        {"{\"heartbeat_ms\": 1000, \"election_timeout_ms\": 1000}",
         "heartbeat_ms (1000) must be below election_timeout_ms (1000)"},
        {"{\"raft_security\": \"maybe\"}", "raft_security: expected required or off"},
        {"{\"raft_peer_keys\": \"\"}", "raft_peer_keys: needs at least one name"},
        {"{\"raft_peer_keys\": \"a,,b\"}", "raft_peer_keys: '' is not a name"},
        {"{\"raft_peer_keys\": \"co*rd\"}", "raft_peer_keys: 'co*rd' is not a name"},
        {"{\"vclock_nodes\": \"a b\"}", "vclock_nodes: 'a b' is not a name"},
        {"{\"vclock_nodes\": \"a,\"}", "vclock_nodes: ends with a comma"},
        {"{\"default_strategy\": \"coin_flip\"}", "default_strategy: unknown strategy"},
        {"{\"conflict_strategies\": \"/a=coin\"}", "conflict_strategies: unknown strategy"},
        {"{\"vclock_max_entries\": 1}", "vclock_max_entries"},
        {"{\"input_acked\": \"sometimes\"}", "input_acked"},
        {"{\"input_senders_max\": 0}", "input_senders_max"},
        {"{\"input_senders_save_ms\": 5}", "input_senders_save_ms"},
    };
    char doc[512], err[512];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(doc, sizeof doc, "{\"distributed_coordination\": %s}", bad[i].body);
        ck_assert_msg(s_load(doc, err, sizeof err) < 0, "accepted %s", bad[i].body);
        ck_assert_msg(strstr(err, bad[i].needle), "%s: expected '%s' in '%s'", bad[i].body,
                      bad[i].needle, err);
    }
    /* off needs no peer keys; names with a trailing * are fine. */
    ck_assert_int_eq(s_load("{\"distributed_coordination\": {\"raft_security\": \"off\", "
                            "\"raft_peer_keys\": \"\", \"vclock_nodes\": \"app-*,b\"}}",
                            err, sizeof err),
                     0);
}
END_TEST

START_TEST(t_name_lists)
{
    ck_assert(coord_name_matches("*", "anything"));
    ck_assert(coord_name_matches("coordinator", "coordinator"));
    ck_assert(!coord_name_matches("coordinator", "coordinator-2"));
    ck_assert(coord_name_matches("a,coordinator-*", "coordinator-2"));
    ck_assert(coord_name_matches("a,coordinator-*", "coordinator-"));
    ck_assert(!coord_name_matches("a,coordinator-*", "coordinator"));
    ck_assert(!coord_name_matches("", "x"));
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("coordinator_config");
    TCase *tc = tcase_create("section");
    tcase_add_test(tc, t_table);
    tcase_add_test(tc, t_cross_key_rules);
    tcase_add_test(tc, t_name_lists);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
