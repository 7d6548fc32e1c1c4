/* SPDX-License-Identifier: Apache-2.0 */
/* The shipped profiles (config/development.yaml, config/production.yaml, config/docker.yaml)
 * are accepted by every daemon, a typo in a key is refused with its name, and --print-config
 * shows what the daemon reads, environment overrides included. Runs the real programs. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <jansson.h>

#include "vx_test.h"

static const char *const s_daemons[] = {"propagation", "routing", "coordinator", "forwarder",
                                        "analytics",   "automation"};
static const char *const s_profiles[] = {"config/development.yaml", "config/production.yaml",
                                         "config/docker.yaml"};
#define N_PROFILES (sizeof s_profiles / sizeof s_profiles[0])

static int
s_check(const char *daemon, const char *config, struct vt_run_result *r)
{
    static char token_env[600];
    char *dir = vt_tmpdir();
    char tok[512];
    snprintf(tok, sizeof tok, "%s/token", dir);
    ck_assert_int_eq(vt_write_file(tok, "t0ken\n"), 0);
    /* Production reads its token from a secret mount; point it at a real file. */
    snprintf(token_env, sizeof token_env, "VEXFS_ADMIN_TOKEN_FILE=%s", tok);
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-%s", vt_bin_dir(), daemon);
    char *argv[] = {bin, (char *)"--check", (char *)"--config", (char *)config, NULL};
    char *env[] = {token_env, NULL};
    int rc = vt_run(argv, env, NULL, 10000, r);
    free(dir);
    return rc;
}

START_TEST(t_profiles_accepted)
{
    const char *daemon = s_daemons[(size_t)_i / N_PROFILES];
    const char *profile = s_profiles[(size_t)_i % N_PROFILES];
    struct vt_run_result r;
    ck_assert_int_eq(s_check(daemon, profile, &r), 0);
    ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0,
                  "vexfs-%s refused %s (status %d): %s", daemon, profile, r.status, r.err);
    ck_assert_msg(strstr(r.out, "is valid"), "vexfs-%s --check said: %s", daemon, r.out);
    vt_run_result_fini(&r);
}
END_TEST

START_TEST(t_typo_named)
{
    char *dir = vt_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/typo.yaml", dir);
    ck_assert_int_eq(vt_write_file(path, "event_propagation:\n  dedup_windw_ms: 5\n"), 0);
    struct vt_run_result r;
    ck_assert_int_eq(s_check("propagation", path, &r), 0);
    ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 2, "status %d", r.status);
    ck_assert_msg(strstr(r.err, "event_propagation.dedup_windw_ms: unknown key"), "stderr: %s",
                  r.err);
    vt_run_result_fini(&r);
    free(dir);
}
END_TEST

START_TEST(t_print_config)
{
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-coordinator", vt_bin_dir());
    char *argv[] = {bin, (char *)"--print-config", (char *)"--config",
                    (char *)"config/docker.yaml", NULL};
    char *env[] = {(char *)"VEXFS_DISTRIBUTED_COORDINATION_NODE_ID=3",
                   (char *)"VEXFS_DISTRIBUTED_COORDINATION_NODEID=7", NULL};
    struct vt_run_result r;
    ck_assert_int_eq(vt_run(argv, env, NULL, 10000, &r), 0);
    ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "status %d: %s", r.status,
                  r.err);
    json_error_t e;
    json_t *o = json_loads(r.out, 0, &e);
    ck_assert_msg(o != NULL, "not JSON: %s", r.out);
    json_t *dc = json_object_get(o, "distributed_coordination");
    /* The override is applied, the misspelt variable is not, the file's keys are there. */
    ck_assert_int_eq(json_integer_value(json_object_get(dc, "node_id")), 3);
    ck_assert_str_eq(json_string_value(json_object_get(dc, "rest_bind")), "0.0.0.0");
    ck_assert_ptr_null(json_object_get(dc, "nodeid"));
    ck_assert_ptr_nonnull(json_object_get(o, "admin"));
    ck_assert_ptr_null(json_object_get(o, "event_propagation")); /* not this daemon's */
    json_decref(o);
    vt_run_result_fini(&r);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("configs");
    TCase *tc = tcase_create("profiles");
    tcase_add_loop_test(tc, t_profiles_accepted, 0,
                        (int)(sizeof s_daemons / sizeof s_daemons[0] * N_PROFILES));
    tcase_add_test(tc, t_typo_named);
    tcase_add_test(tc, t_print_config);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
