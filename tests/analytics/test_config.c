/* SPDX-License-Identifier: Apache-2.0 */
/* The stream_analytics and monitoring sections: every row bound to a field of struct
 * an_config or struct an_mon_config, the defaults and each shipped profile
 * (config/development.yaml, production.yaml, docker.yaml and the Kubernetes ConfigMap's
 * k8s/base/config/vexfs.yaml) binding to the values they state, and the rules across keys
 * refused with a message naming them. Run from the repository root (scripts/run-tests.sh). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "an_config.h"
#include "vx_test.h"

static const struct vx_cfg_section *const s_secs[] = {&an_cfg_section, &an_mon_cfg_section};
#define S_N_SECS (sizeof s_secs / sizeof s_secs[0])

/* Loads path (NULL: defaults) and binds both sections; the config is returned for the
 * strings. */
static vx_config_t *
s_bind(const char *path, struct an_config *c, struct an_mon_config *m)
{
    void *const out[] = {c, m};
    char err[512];
    vx_config_t *cfg = vt_config_bind(path, s_secs, out, S_N_SECS, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s: expected to load: %s", path ? path : "(defaults)", err);
    return cfg;
}

START_TEST(t_table)
{
    char err[512];
    ck_assert_msg(vx_config_check_table(&an_cfg_section, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(vx_config_check_table(&an_mon_cfg_section, err, sizeof err) == 0, "%s", err);
}
END_TEST

START_TEST(t_defaults)
{
    struct an_config c;
    struct an_mon_config m;
    vx_config_t *cfg = s_bind(NULL, &c, &m);
    ck_assert_int_eq(c.target_throughput_events_per_sec, 1200000);
    ck_assert_int_eq(c.processing_latency_target_ns, 1000000);
    ck_assert(c.enable_real_time_processing);
    ck_assert(!c.enable_pattern_discovery);
    ck_assert(c.enable_anomaly_detection);
    ck_assert(!c.enable_predictive_analytics);
    ck_assert_str_eq(c.rest_bind, "127.0.0.1");
    ck_assert_int_eq(c.rest_port, 8084);
    ck_assert_str_eq(c.kafka_brokers, "");
    ck_assert_str_eq(c.topic, "vexfs.routed.analytics");
    ck_assert_str_eq(c.group_id, "vexfs-analytics");
    ck_assert_str_eq(c.results_topic, "vexfs.analytics.results");
    ck_assert_int_eq(c.idle_timeout_ms, 30000);
    ck_assert_int_eq(c.replay_max_events_per_sec, 0);
    ck_assert_int_eq(c.commit_interval_ms, 1000);
    ck_assert_str_eq(c.input_endpoint, ">tcp://127.0.0.1:5555");
    ck_assert_str_eq(c.results_endpoint, "tcp://127.0.0.1:5559");
    ck_assert_str_eq(c.queries_file, "");
    ck_assert_str_eq(c.state_dir, "");
    ck_assert_int_eq(c.max_groups_per_query, 100000);
    ck_assert_int_eq(c.max_results_per_query, 1000);
    ck_assert_int_eq(c.max_queries, 256);
    ck_assert_int_eq(c.max_exported_series, 1000);

    ck_assert_int_eq(m.metrics_collection_interval_ms, 5000);
    ck_assert(m.enable_prometheus_export);
    ck_assert(m.enable_real_time_alerts);
    ck_assert(m.enable_performance_monitoring);
    ck_assert(m.enable_health_monitoring);
    ck_assert_str_eq(m.services, "");
    ck_assert_int_eq(m.health_timeout_ms, 2000);
    ck_assert_int_eq(m.scrape_timeout_ms, 3000);
    ck_assert_str_eq(m.alert_rules_file, "");
    ck_assert_int_eq(m.max_alert_rules, 256);
    ck_assert_int_eq(m.alert_history, 1000);
    ck_assert_str_eq(m.anomaly_webhook_url, "");
    ck_assert_int_eq(m.anomaly_resolve_after_ms, 3600000);
    ck_assert_int_eq(m.max_active_anomaly_alerts, 1000);
    ck_assert_str_eq(m.smtp_url, "");
    ck_assert_str_eq(m.smtp_from, "vexfs@localhost");
    ck_assert_str_eq(m.smtp_to, "");
    ck_assert_str_eq(m.outbound_allow, "");
    vx_config_destroy(&cfg);
}
END_TEST

START_TEST(t_development)
{
    struct an_config c;
    struct an_mon_config m;
    vx_config_t *cfg = s_bind("config/development.yaml", &c, &m);
    ck_assert_int_eq(c.target_throughput_events_per_sec, 100000);
    ck_assert_int_eq(c.processing_latency_target_ns, 10000000);
    ck_assert(c.enable_real_time_processing);
    ck_assert(!c.enable_pattern_discovery);
    ck_assert(c.enable_anomaly_detection);
    ck_assert(!c.enable_predictive_analytics);
    ck_assert_str_eq(c.results_topic, "vexfs.analytics.results");
    ck_assert_int_eq(c.idle_timeout_ms, 5000);
    ck_assert_int_eq(c.replay_max_events_per_sec, 0);
    ck_assert_str_eq(c.kafka_brokers, "");
    ck_assert_str_eq(c.input_endpoint, ">tcp://127.0.0.1:5555"); /* the default */
    ck_assert_int_eq(m.metrics_collection_interval_ms, 5000);
    ck_assert(!m.enable_real_time_alerts);
    ck_assert(m.enable_health_monitoring);
    ck_assert_str_eq(m.services,
                     "propagation=https://127.0.0.1:8080,routing=https://127.0.0.1:8081,"
                     "coordinator=https://127.0.0.1:8082,automation=https://127.0.0.1:8083,"
                     "analytics=https://127.0.0.1:8084");
    ck_assert_int_eq(m.anomaly_resolve_after_ms, 600000);
    ck_assert_str_eq(m.smtp_url, "");
    vx_config_destroy(&cfg);
}
END_TEST

START_TEST(t_production)
{
    struct an_config c;
    struct an_mon_config m;
    vx_config_t *cfg = s_bind("config/production.yaml", &c, &m);
    ck_assert_int_eq(c.target_throughput_events_per_sec, 1000000);
    ck_assert_int_eq(c.processing_latency_target_ns, 1000000);
    ck_assert(c.enable_real_time_processing);
    ck_assert(c.enable_pattern_discovery);
    ck_assert(c.enable_anomaly_detection);
    ck_assert(c.enable_predictive_analytics);
    ck_assert_str_eq(c.results_topic, "vexfs.analytics.results");
    ck_assert_int_eq(c.idle_timeout_ms, 30000);
    ck_assert_int_eq(c.replay_max_events_per_sec, 200000);
    ck_assert_str_eq(c.state_dir, "/var/lib/vexfs/analytics");
    ck_assert_int_eq(m.metrics_collection_interval_ms, 1000);
    ck_assert(m.enable_real_time_alerts);
    ck_assert(m.enable_health_monitoring);
    ck_assert_ptr_nonnull(strstr(m.services, ",forwarder=https://127.0.0.1:8085"));
    ck_assert_str_eq(m.alert_rules_file, "");
    ck_assert_int_eq(m.anomaly_resolve_after_ms, 3600000);
    ck_assert_int_eq(m.max_active_anomaly_alerts, 1000);
    ck_assert_str_eq(m.smtp_from, "vexfs@localhost");
    vx_config_destroy(&cfg);
}
END_TEST

START_TEST(t_docker)
{
    struct an_config c;
    struct an_mon_config m;
    vx_config_t *cfg = s_bind("config/docker.yaml", &c, &m);
    ck_assert_str_eq(c.kafka_brokers, "kafka:9092");
    ck_assert_str_eq(c.topic, "vexfs.routed.analytics");
    ck_assert_str_eq(c.group_id, "vexfs-analytics");
    ck_assert_str_eq(c.results_endpoint, "tcp://0.0.0.0:5559");
    ck_assert_str_eq(c.queries_file, "/etc/vexfs/demo/queries.json");
    ck_assert_str_eq(c.state_dir, "/var/lib/vexfs/analytics");
    ck_assert_int_eq(c.idle_timeout_ms, 5000);
    ck_assert_str_eq(c.rest_bind, "0.0.0.0");
    ck_assert_int_eq(c.rest_port, 8084);
    ck_assert_int_eq(m.metrics_collection_interval_ms, 5000);
    ck_assert_ptr_nonnull(strstr(m.services, "propagation=https://propagation:8080,"));
    ck_assert_ptr_nonnull(strstr(m.services, ",watch=https://watch:8087"));
    vx_config_destroy(&cfg);
}
END_TEST

START_TEST(t_k8s_configmap)
{
    struct an_config c;
    struct an_mon_config m;
    vx_config_t *cfg = s_bind("k8s/base/config/vexfs.yaml", &c, &m);
    ck_assert_str_eq(c.kafka_brokers, "vexfs-kafka-bootstrap.kafka.svc:9092");
    ck_assert_str_eq(c.topic, "vexfs.routed.analytics");
    ck_assert_str_eq(c.group_id, "vexfs-analytics");
    ck_assert_str_eq(c.results_topic, "vexfs.analytics.results"); /* the default */
    ck_assert_str_eq(c.results_endpoint, "tcp://0.0.0.0:5559");
    ck_assert_str_eq(c.rest_bind, "0.0.0.0");
    ck_assert_int_eq(c.rest_port, 8084);
    ck_assert_int_eq(m.metrics_collection_interval_ms, 5000);
    ck_assert_ptr_nonnull(strstr(m.services, "propagation=https://vexfs-propagation:8080,"));
    vx_config_destroy(&cfg);
}
END_TEST

/* Loads a JSON document of both sections; returns 0 or the error in err. */
static int
s_load(const char *text, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    ck_assert_msg(doc != NULL, "%s: %s", text, jerr.text);
    vx_config_t *cfg = NULL;
    int rc = vx_config_from_json(&cfg, doc, s_secs, S_N_SECS, err, errlen);
    vx_config_destroy(&cfg);
    json_decref(doc);
    return rc;
}

START_TEST(t_cross_key_rules)
{
    static const struct {
        const char *doc;
        const char *needle;
    } bad[] = {
        {"{\"stream_analytics\": {\"kafka_brokers\": \"k:9092\", \"topic\": \"t\", "
         "\"results_topic\": \"t\"}}",
         "stream_analytics.results_topic and topic: both are 't'"},
        {"{\"stream_analytics\": {\"input_endpoint\": \"\"}}",
         "stream_analytics.input_endpoint: empty while kafka_brokers is empty"},
        {"{\"monitoring\": {\"smtp_url\": \"http://user:secret@mail:25\"}}",
         "monitoring.smtp_url: 'http://***@mail:25': expected smtp://host:port or "
         "smtps://host:port"},
        {"{\"monitoring\": {\"outbound_allow\": \"10.0.0.0/33\"}}", "monitoring.outbound_allow"},
    };
    char err[512];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        int rc = s_load(bad[i].doc, err, sizeof err);
        ck_assert_msg(rc == -EINVAL, "%s: expected -EINVAL, got %d", bad[i].doc, rc);
        ck_assert_msg(strstr(err, bad[i].needle) != NULL, "%s: expected '%s' in '%s'",
                      bad[i].doc, bad[i].needle, err);
        ck_assert_msg(strstr(err, "secret") == NULL, "the password shows in '%s'", err);
    }
    /* The same keys, consistent, are accepted: results_topic may equal topic without Kafka
     * (it is not read then), the input may be empty with Kafka. */
    static const char *const good[] = {
        "{\"stream_analytics\": {\"topic\": \"t\", \"results_topic\": \"t\"}}",
        "{\"stream_analytics\": {\"kafka_brokers\": \"k:9092\", \"input_endpoint\": \"\", "
        "\"results_topic\": \"\"}}",
        "{\"monitoring\": {\"smtp_url\": \"smtps://mail:465\", \"outbound_allow\": "
        "\"127.0.0.1\"}}",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        ck_assert_msg(s_load(good[i], err, sizeof err) == 0, "%s: refused: %s", good[i], err);
    }
}
END_TEST

/* The check functions on bound structs, and the sections carrying them (vx_config_load and
 * vx_config_patch run a section's check). */
START_TEST(t_check_direct)
{
    struct an_config c;
    struct an_mon_config m;
    vx_config_t *cfg = s_bind(NULL, &c, &m);
    char err[512];
    ck_assert_int_eq(an_config_check(&c, err, sizeof err), 0);
    ck_assert_int_eq(an_mon_config_check(&m, err, sizeof err), 0);
    c.kafka_brokers = "k:9092";
    c.results_topic = c.topic;
    ck_assert_int_eq(an_config_check(&c, err, sizeof err), -EINVAL);
    ck_assert_msg(strstr(err, "results_topic and topic") != NULL, "got '%s'", err);
    ck_assert(an_cfg_section.check != NULL);
    ck_assert(an_mon_cfg_section.check != NULL);
    vx_config_destroy(&cfg);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("analytics_config");
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
