/* SPDX-License-Identifier: Apache-2.0 */
/* The reactive_automation section: every row bound to a field of struct au_config, the
 * defaults and each shipped profile (config/development.yaml, production.yaml, docker.yaml and
 * the Kubernetes ConfigMap's k8s/base/config/vexfs.yaml) binding to the values they state,
 * and the rules across keys refused with a message naming them. Run from the repository
 * root (scripts/run-tests.sh). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "au_config.h"
#include "vx_test.h"

static const struct vx_cfg_section *const s_secs[] = {&au_cfg_section};

/* Loads path (NULL: defaults) and binds it into c; the config is returned for the strings. */
static vx_config_t *
s_bind(const char *path, struct au_config *c)
{
    void *const out[] = {c};
    char err[512];
    vx_config_t *cfg = vt_config_bind(path, s_secs, out, 1, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s: expected to load: %s", path ? path : "(defaults)", err);
    return cfg;
}

START_TEST(t_table)
{
    char err[512];
    ck_assert_msg(vx_config_check_table(&au_cfg_section, err, sizeof err) == 0, "%s", err);
}
END_TEST

START_TEST(t_defaults)
{
    struct au_config c;
    vx_config_t *cfg = s_bind(NULL, &c);
    ck_assert_int_eq(c.max_automation_latency_ms, 500);
    ck_assert_int_eq(c.target_throughput_events_per_sec, 10000);
    ck_assert_int_eq(c.max_concurrent_workflows, 100);
    ck_assert_int_eq(c.max_queued_workflows, 10000);
    ck_assert_int_eq(c.tenant_max_concurrent, 10);
    ck_assert_int_eq(c.tenant_rate_per_sec, 0);
    ck_assert_int_eq(c.tenant_burst, 10);
    ck_assert_int_eq(c.max_executions, 1000);
    ck_assert_int_eq(c.history_max_age_s, 604800);
    ck_assert_int_eq(c.state_map_bytes, 1073741824LL);
    ck_assert(c.state_sync);
    ck_assert(c.enable_fault_tolerance);
    ck_assert(c.enable_compensation);
    ck_assert_int_eq(c.breaker_failure_threshold, 5);
    ck_assert_int_eq(c.breaker_cooldown_ms, 30000);
    ck_assert_str_eq(c.workflows_path, "");
    ck_assert_str_eq(c.state_dir, "");
    ck_assert_str_eq(c.emit_endpoint, "");
    ck_assert_str_eq(c.input_endpoint, "tcp://127.0.0.1:5554");
    ck_assert_str_eq(c.replay_endpoint, "");
    ck_assert_int_eq(c.queue_hwm, 1000);
    ck_assert_str_eq(c.time_mode, "processing");
    ck_assert_int_eq(c.allowed_lateness_ms, 1000);
    ck_assert_int_eq(c.idle_timeout_ms, 30000);
    ck_assert_int_eq(c.max_reorder_bytes, 67108864LL);
    ck_assert_int_eq(c.max_partial_matches, 10000);
    ck_assert_int_eq(c.max_match_events, 16);
    ck_assert_int_eq(c.max_match_event_bytes, 67108864LL);
    ck_assert_int_eq(c.max_alerts, 1000);
    ck_assert_str_eq(c.patterns_file, "");
    ck_assert_str_eq(c.scripts_dir, "");
    ck_assert(!c.allow_inline_scripts);
    ck_assert_str_eq(c.script_user, "");
    ck_assert_str_eq(c.script_group, "");
    ck_assert_int_eq(c.script_cpu_seconds, 60);
    ck_assert_int_eq(c.script_memory_mb, 1024);
    ck_assert_int_eq(c.script_open_files, 256);
    ck_assert_int_eq(c.script_processes, 256);
    ck_assert_str_eq(c.outbound_allow, "");
    ck_assert_str_eq(c.rest_bind, "127.0.0.1");
    ck_assert_int_eq(c.rest_port, 8083);
    vx_config_destroy(&cfg);
}
END_TEST

START_TEST(t_development)
{
    struct au_config c;
    vx_config_t *cfg = s_bind("config/development.yaml", &c);
    ck_assert_int_eq(c.max_automation_latency_ms, 500);
    ck_assert_int_eq(c.target_throughput_events_per_sec, 10000);
    ck_assert_int_eq(c.max_concurrent_workflows, 100);
    ck_assert_int_eq(c.max_queued_workflows, 10000);
    ck_assert_int_eq(c.tenant_max_concurrent, 10);
    ck_assert_int_eq(c.breaker_failure_threshold, 5);
    ck_assert_int_eq(c.breaker_cooldown_ms, 30000);
    ck_assert_int_eq(c.max_match_events, 16);
    ck_assert_int_eq(c.max_match_event_bytes, 67108864LL);
    ck_assert_str_eq(c.emit_endpoint, "tcp://127.0.0.1:5550");
    ck_assert_str_eq(c.input_endpoint, "tcp://127.0.0.1:5554"); /* the default */
    ck_assert_int_eq(c.rest_port, 8083);
    vx_config_destroy(&cfg);
}
END_TEST

START_TEST(t_production)
{
    struct au_config c;
    vx_config_t *cfg = s_bind("config/production.yaml", &c);
    ck_assert_int_eq(c.max_automation_latency_ms, 100);
    ck_assert_int_eq(c.target_throughput_events_per_sec, 100000);
    ck_assert_int_eq(c.max_concurrent_workflows, 10000);
    ck_assert_int_eq(c.max_queued_workflows, 100000);
    ck_assert_int_eq(c.tenant_max_concurrent, 500);
    ck_assert_int_eq(c.tenant_rate_per_sec, 200);
    ck_assert_int_eq(c.tenant_burst, 400);
    ck_assert_int_eq(c.max_executions, 10000);
    ck_assert(c.enable_fault_tolerance);
    ck_assert(c.enable_compensation);
    ck_assert_int_eq(c.max_match_event_bytes, 268435456LL);
    ck_assert_str_eq(c.state_dir, "/var/lib/vexfs/automation");
    ck_assert_str_eq(c.emit_endpoint, "tcp://127.0.0.1:5550");
    ck_assert_str_eq(c.scripts_dir, "/etc/vexfs/scripts");
    ck_assert(!c.allow_inline_scripts);
    ck_assert_str_eq(c.script_user, "");
    ck_assert_int_eq(c.script_cpu_seconds, 60);
    ck_assert_int_eq(c.script_memory_mb, 1024);
    ck_assert_int_eq(c.script_open_files, 256);
    ck_assert_str_eq(c.outbound_allow, "");
    vx_config_destroy(&cfg);
}
END_TEST

START_TEST(t_docker)
{
    struct au_config c;
    vx_config_t *cfg = s_bind("config/docker.yaml", &c);
    ck_assert_str_eq(c.input_endpoint, "tcp://routing:5554");
    ck_assert_str_eq(c.emit_endpoint, "tcp://propagation:5550");
    ck_assert_str_eq(c.patterns_file, "/etc/vexfs/demo/patterns.json");
    ck_assert_str_eq(c.workflows_path, "/etc/vexfs/demo/workflows.json");
    ck_assert_str_eq(c.scripts_dir, "/etc/vexfs/demo/scripts");
    ck_assert_str_eq(c.state_dir, "/var/lib/vexfs/automation");
    ck_assert_str_eq(c.rest_bind, "0.0.0.0");
    ck_assert_int_eq(c.rest_port, 8083);
    ck_assert_int_eq(c.max_concurrent_workflows, 100); /* the default */
    vx_config_destroy(&cfg);
}
END_TEST

START_TEST(t_k8s_configmap)
{
    struct au_config c;
    vx_config_t *cfg = s_bind("k8s/base/config/vexfs.yaml", &c);
    ck_assert_str_eq(c.input_endpoint, "tcp://vexfs-routing:5554");
    ck_assert_str_eq(c.emit_endpoint, "tcp://vexfs-propagation:5550");
    ck_assert_str_eq(c.rest_bind, "0.0.0.0");
    ck_assert_int_eq(c.rest_port, 8083);
    ck_assert_str_eq(c.time_mode, "processing"); /* the default */
    vx_config_destroy(&cfg);
}
END_TEST

/* Loads {"reactive_automation": body}; returns 0 or the error in err. */
static int
s_load(const char *body, char *err, size_t errlen)
{
    char text[1024];
    snprintf(text, sizeof text, "{\"reactive_automation\": %s}", body);
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    ck_assert_msg(doc != NULL, "%s: %s", text, jerr.text);
    vx_config_t *cfg = NULL;
    int rc = vx_config_from_json(&cfg, doc, s_secs, 1, err, errlen);
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
        {"{\"time_mode\": \"wall\"}",
         "reactive_automation.time_mode: expected processing or event, not \"wall\""},
        {"{\"scripts_dir\": \"scripts\"}",
         "reactive_automation.scripts_dir: expected an absolute path, not \"scripts\""},
        {"{\"outbound_allow\": \"10.0.0.0/33\"}", "reactive_automation.outbound_allow"},
        {"{\"replay_endpoint\": \"tcp://127.0.0.1:5554\"}",
         "reactive_automation.replay_endpoint and input_endpoint: both are "
         "'tcp://127.0.0.1:5554'"},
        {"{\"input_endpoint\": \"tcp://h:1\", \"emit_endpoint\": \"tcp://h:1\"}",
         "reactive_automation.emit_endpoint and input_endpoint: both are 'tcp://h:1'"},
    };
    char err[512];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        int rc = s_load(bad[i].body, err, sizeof err);
        ck_assert_msg(rc == -EINVAL, "%s: expected -EINVAL, got %d", bad[i].body, rc);
        ck_assert_msg(strstr(err, bad[i].needle) != NULL, "%s: expected '%s' in '%s'",
                      bad[i].body, bad[i].needle, err);
    }
    /* The same keys, consistent, are accepted. */
    static const char *const good[] = {
        "{\"time_mode\": \"event\", \"scripts_dir\": \"/srv/scripts\"}",
        "{\"replay_endpoint\": \"tcp://127.0.0.1:5558\", \"emit_endpoint\": "
        "\"tcp://127.0.0.1:5550\", \"outbound_allow\": \"127.0.0.1,10.0.0.0/8\"}",
        "{\"emit_endpoint\": \"tcp://127.0.0.1:5558\", \"replay_endpoint\": "
        "\"tcp://127.0.0.1:5558\"}",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        ck_assert_msg(s_load(good[i], err, sizeof err) == 0, "%s: refused: %s", good[i], err);
    }
}
END_TEST

/* au_config_check on a bound struct, and the section carrying it (vx_config_load and
 * vx_config_patch run the section's check). */
START_TEST(t_check_direct)
{
    struct au_config c;
    vx_config_t *cfg = s_bind(NULL, &c);
    char err[512];
    ck_assert_int_eq(au_config_check(&c, err, sizeof err), 0);
    c.replay_endpoint = c.input_endpoint;
    ck_assert_int_eq(au_config_check(&c, err, sizeof err), -EINVAL);
    ck_assert_msg(strstr(err, "replay_endpoint and input_endpoint") != NULL, "got '%s'", err);
    ck_assert(au_cfg_section.check != NULL);
    vx_config_destroy(&cfg);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("automation_config");
    TCase *tc = tcase_create("section");
    tcase_add_test(tc, t_table);
    tcase_add_test(tc, t_defaults);
    tcase_add_test(tc, t_development);
    tcase_add_test(tc, t_production);
    tcase_add_test(tc, t_docker);
    tcase_add_test(tc, t_k8s_configmap);
    tcase_add_test(tc, t_cross_key_rules);
    tcase_add_test(tc, t_check_direct);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
