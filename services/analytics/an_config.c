/* SPDX-License-Identifier: Apache-2.0 */
/* The stream_analytics and monitoring sections: every key the daemon reads, with bounds and
 * help, and the rules across keys. */
#include "an_config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vx_netpolicy.h"

static const struct vx_cfg_key s_keys[] = {
    {"target_throughput_events_per_sec", VX_CFG_INT, "1200000", 1, 1000000000, false,
     "expected load, exported as vexfs_analytics_target_throughput_events_per_second for alert "
     "rules (compare with rate(vexfs_analytics_events_total))",
     VX_CFG_AT(struct an_config, target_throughput_events_per_sec)},
    {"processing_latency_target_ns", VX_CFG_INT, "1000000", 1, 60000000000LL, false,
     "budget for decoding one event and running it through every query; slower events are "
     "counted in vexfs_analytics_slow_events_total",
     VX_CFG_AT(struct an_config, processing_latency_target_ns)},
    {"enable_real_time_processing", VX_CFG_BOOL, "true", 0, 0, false,
     "true: Kafka fetches tuned for latency (fetch.wait.max.ms=10); false: for throughput "
     "(fetch.wait.max.ms=500, fetch.min.bytes=65536)",
     VX_CFG_AT(struct an_config, enable_real_time_processing)},
    {"enable_pattern_discovery", VX_CFG_BOOL, "false", 0, 0, false,
     "not implemented in this version; exported as vexfs_analytics_feature_enabled"
     "{feature=\"pattern_discovery\"} for alerts and dashboards",
     VX_CFG_AT(struct an_config, enable_pattern_discovery)},
    {"enable_anomaly_detection", VX_CFG_BOOL, "true", 0, 0, false,
     "judge every final window value against its series' EWMA mean and variance; anomalies at "
     "GET /v1/anomalies and in vexfs_analytics_anomalies_total",
     VX_CFG_AT(struct an_config, enable_anomaly_detection)},
    {"enable_predictive_analytics", VX_CFG_BOOL, "false", 0, 0, false,
     "not implemented in this version; exported as vexfs_analytics_feature_enabled"
     "{feature=\"predictive_analytics\"} for alerts and dashboards",
     VX_CFG_AT(struct an_config, enable_predictive_analytics)},
    {"rest_bind", VX_CFG_STRING, "127.0.0.1", 0, 64, false, "address of the REST server",
     VX_CFG_AT(struct an_config, rest_bind)},
    {"rest_port", VX_CFG_INT, "8084", 0, 65535, false, "port of the REST server (0: any)",
     VX_CFG_AT(struct an_config, rest_port)},
    {"kafka_brokers", VX_CFG_STRING, "", 0, 1024, false,
     "Kafka bootstrap servers (host:port,...); empty: read input_endpoint (ZeroMQ) instead",
     VX_CFG_AT(struct an_config, kafka_brokers)},
    {"topic", VX_CFG_STRING, "vexfs.routed.analytics", 1, 249, false,
     "Kafka topic of routed events (one packed Event per message)",
     VX_CFG_AT(struct an_config, topic)},
    {"group_id", VX_CFG_STRING, "vexfs-analytics", 1, 255, false,
     "Kafka consumer group: instances in one group share the topic's partitions",
     VX_CFG_AT(struct an_config, group_id)},
    {"results_topic", VX_CFG_STRING, "vexfs.analytics.results", 0, 249, false,
     "Kafka topic where every instance publishes its final windows per partition and reads the "
     "whole group's, so GET /v1/queries/{id}/results answers for the group; use a compacted "
     "topic; empty: results of this instance only",
     VX_CFG_AT(struct an_config, results_topic)},
    {"idle_timeout_ms", VX_CFG_INT, "30000", 0, 86400000, false,
     "a partition that delivered nothing for this long is idle: its clock follows the lowest "
     "clock of the group's active partitions so its windows close; 0: never",
     VX_CFG_AT(struct an_config, idle_timeout_ms)},
    {"replay_max_events_per_sec", VX_CFG_INT, "0", 0, 1000000000, false,
     "POST /v1/replay consumes at most this many events per second (spares the brokers and the "
     "live load); 0: as fast as possible",
     VX_CFG_AT(struct an_config, replay_max_events_per_sec)},
    {"commit_interval_ms", VX_CFG_INT, "1000", 10, 3600000, false,
     "how often offsets are committed (up to the oldest event an open window still needs)",
     VX_CFG_AT(struct an_config, commit_interval_ms)},
    {"input_endpoint", VX_CFG_STRING, ">tcp://127.0.0.1:5555", 0, 1024, false,
     "ZeroMQ PULL endpoint used without Kafka ('>' connects, '@' or none binds); routing's "
     "output_analytics by default",
     VX_CFG_AT(struct an_config, input_endpoint)},
    {"input_acked", VX_CFG_BOOL, "false", 0, 0, false,
     "without Kafka: a ROUTER at input_endpoint instead of a PULL, for routing's acknowledged "
     "analytics boundary (boundary_acked; use '>' to connect): each batch is acknowledged once "
     "its events are in the windows (not durable across a restart), a resend is acknowledged "
     "again and not counted twice (vexfs_analytics_input_duplicates_total)",
     VX_CFG_AT(struct an_config, input_acked)},
    {"input_senders_max", VX_CFG_INT, "1024", 1, 1000000, false,
     "input_acked: senders whose batch sequences are remembered",
     VX_CFG_AT(struct an_config, input_senders_max)},
    {"input_senders_save_ms", VX_CFG_INT, "1000", 10, 60000, false,
     "input_acked: how often the remembered senders are saved to <state_dir>/senders.json "
     "while they change (state_dir empty: not saved)",
     VX_CFG_AT(struct an_config, input_senders_save_ms)},
    {"results_endpoint", VX_CFG_STRING, "tcp://127.0.0.1:5559", 0, 1024, false,
     "ZeroMQ PUB endpoint (bound) streaming every final window as JSON, topic "
     "analytics.<query id>; may drop; empty: off",
     VX_CFG_AT(struct an_config, results_endpoint)},
    {"queries_file", VX_CFG_STRING, "", 0, 4096, false,
     "JSON file with an array of queries, loaded at start when state_dir holds none",
     VX_CFG_AT(struct an_config, queries_file)},
    {"state_dir", VX_CFG_STRING, "", 0, 4096, false,
     "directory where queries defined over REST are kept (queries.json); empty: not kept",
     VX_CFG_AT(struct an_config, state_dir)},
    {"max_groups_per_query", VX_CFG_INT, "100000", 1, 100000000, false,
     "groups with open windows per query and partition; a new group beyond evicts the oldest "
     "(emitted early, counted)",
     VX_CFG_AT(struct an_config, max_groups_per_query)},
    {"max_results_per_query", VX_CFG_INT, "1000", 1, 1000000, false,
     "final windows kept per query for GET /v1/queries/{id}/results",
     VX_CFG_AT(struct an_config, max_results_per_query)},
    {"max_queries", VX_CFG_INT, "256", 1, 100000, false, "queries the daemon accepts",
     VX_CFG_AT(struct an_config, max_queries)},
    {"max_exported_series", VX_CFG_INT, "1000", 0, 1000000, false,
     "per query with export_metrics: groups exported as vexfs_analytics_window_value series; "
     "further groups are not exported (counted)",
     VX_CFG_AT(struct an_config, max_exported_series)},
};

static const struct vx_cfg_key s_mon_keys[] = {
    {"metrics_collection_interval_ms", VX_CFG_INT, "5000", 10, 3600000, false,
     "how often alert rules scrape their target and are evaluated",
     VX_CFG_AT(struct an_mon_config, metrics_collection_interval_ms)},
    {"enable_prometheus_export", VX_CFG_BOOL, "true", 0, 0, false,
     "every daemon serves /metrics; exported as vexfs_monitoring_feature_enabled",
     VX_CFG_AT(struct an_mon_config, enable_prometheus_export)},
    {"enable_real_time_alerts", VX_CFG_BOOL, "true", 0, 0, false,
     "send alert actions (webhooks, emails); false: alerts are evaluated and listed only "
     "(notifications counted as suppressed)",
     VX_CFG_AT(struct an_mon_config, enable_real_time_alerts)},
    {"enable_performance_monitoring", VX_CFG_BOOL, "true", 0, 0, false,
     "exported as vexfs_monitoring_feature_enabled for dashboards",
     VX_CFG_AT(struct an_mon_config, enable_performance_monitoring)},
    {"enable_health_monitoring", VX_CFG_BOOL, "true", 0, 0, false,
     "serve GET /v1/health/system (probes of every service in services)",
     VX_CFG_AT(struct an_mon_config, enable_health_monitoring)},
    {"services", VX_CFG_STRING, "", 0, 8192, false,
     "services whose /health and /ready make up the system health: name=base URL, comma "
     "separated (propagation=https://127.0.0.1:8080,routing=https://127.0.0.1:8081); https "
     "URLs are verified against the suite's CA (security.tls_dir) and analytics presents its "
     "client certificate",
     VX_CFG_AT(struct an_mon_config, services)},
    {"health_timeout_ms", VX_CFG_INT, "2000", 10, 60000, false,
     "timeout of one /health or /ready probe",
     VX_CFG_AT(struct an_mon_config, health_timeout_ms)},
    {"scrape_timeout_ms", VX_CFG_INT, "3000", 10, 60000, false,
     "timeout of one alert-rule scrape and of one webhook or email",
     VX_CFG_AT(struct an_mon_config, scrape_timeout_ms)},
    {"alert_rules_file", VX_CFG_STRING, "", 0, 4096, false,
     "JSON file with an array of alert rules, loaded at start when state_dir holds none",
     VX_CFG_AT(struct an_mon_config, alert_rules_file)},
    {"max_alert_rules", VX_CFG_INT, "256", 1, 100000, false, "alert rules accepted",
     VX_CFG_AT(struct an_mon_config, max_alert_rules)},
    {"alert_history", VX_CFG_INT, "1000", 1, 1000000, false,
     "firing/resolved transitions and anomaly alerts kept for GET /v1/alerts",
     VX_CFG_AT(struct an_mon_config, alert_history)},
    {"anomaly_webhook_url", VX_CFG_STRING, "", 0, 2048, false,
     "webhook notified of every anomaly (as an alert, source anomaly); empty: none",
     VX_CFG_AT(struct an_mon_config, anomaly_webhook_url)},
    {"anomaly_resolve_after_ms", VX_CFG_INT, "3600000", 0, 604800000, false,
     "an anomaly alert is resolved when the next final window of its query and group is not "
     "anomalous, or after this long without one (0: only by a normal window)",
     VX_CFG_AT(struct an_mon_config, anomaly_resolve_after_ms)},
    {"max_active_anomaly_alerts", VX_CFG_INT, "1000", 1, 1000000, false,
     "anomaly alerts firing at once; beyond, the oldest is resolved (reason evicted, counted)",
     VX_CFG_AT(struct an_mon_config, max_active_anomaly_alerts)},
    {"smtp_url", VX_CFG_STRING, "", 0, 2048, false,
     "SMTP server of email actions (smtp://host:25, smtps://host:465); empty: email off",
     VX_CFG_AT(struct an_mon_config, smtp_url)},
    {"smtp_from", VX_CFG_STRING, "vexfs@localhost", 0, 254, false, "sender of alert emails",
     VX_CFG_AT(struct an_mon_config, smtp_from)},
    {"smtp_to", VX_CFG_STRING, "", 0, 4096, false,
     "recipients (comma separated) of email actions that name none",
     VX_CFG_AT(struct an_mon_config, smtp_to)},
    {"outbound_allow", VX_CFG_STRING, "", 0, 4096, false,
     "addresses or CIDR blocks (comma-separated) alert webhooks and mail may connect to "
     "although they are loopback, link-local, cloud metadata or unspecified, which are "
     "refused otherwise (counted in vexfs_outbound_refused_total); empty: none",
     VX_CFG_AT(struct an_mon_config, outbound_allow)},
};

int
an_config_check(const struct an_config *c, char *err, size_t errlen)
{
    if (c->kafka_brokers[0] != '\0' && strcmp(c->results_topic, c->topic) == 0) {
        snprintf(err, errlen,
                 AN_SECTION ".results_topic and topic: both are '%.249s'; the group would read "
                            "its own results as events",
                 c->topic);
        return -EINVAL;
    }
    if (c->kafka_brokers[0] == '\0' && c->input_endpoint[0] == '\0') {
        snprintf(err, errlen,
                 AN_SECTION ".input_endpoint: empty while kafka_brokers is empty; the daemon "
                            "would have no input");
        return -EINVAL;
    }
    return 0;
}

int
an_mon_config_check(const struct an_mon_config *c, char *err, size_t errlen)
{
    if (c->smtp_url[0] != '\0' && strncmp(c->smtp_url, "smtp://", 7) != 0 &&
        strncmp(c->smtp_url, "smtps://", 8) != 0) {
        char shown[2100];
        vx_mask_urls(c->smtp_url, shown, sizeof shown);
        snprintf(err, errlen,
                 AN_MON_SECTION ".smtp_url: '%s': expected smtp://host:port or smtps://host:port",
                 shown);
        return -EINVAL;
    }
    char why[256];
    vx_netpolicy_t *np = vx_netpolicy_new(c->outbound_allow, NULL, why, sizeof why);
    if (np == NULL) {
        snprintf(err, errlen, AN_MON_SECTION ".%s", why);
        return -EINVAL;
    }
    vx_netpolicy_destroy(&np);
    return 0;
}

static int
cb_check(const void *bound, char *err, size_t errlen)
{
    return an_config_check(bound, err, errlen);
}

static int
cb_mon_check(const void *bound, char *err, size_t errlen)
{
    return an_mon_config_check(bound, err, errlen);
}

const struct vx_cfg_section an_cfg_section =
    VX_CFG_SECTION(AN_SECTION, s_keys, struct an_config, cb_check);
const struct vx_cfg_section an_mon_cfg_section =
    VX_CFG_SECTION(AN_MON_SECTION, s_mon_keys, struct an_mon_config, cb_mon_check);

/* Throughput: the fetch waits for 64 KiB or 500 ms; latency: it answers after 10 ms with
 * whatever there is. Both prefetch deep enough that the loop never waits for a fetch round
 * trip; the bytes limit (one consumer queue for all partitions) bounds the memory it takes.
 * The daemon stores and commits offsets itself (the oldest an open window needs), so
 * librdkafka's per-message offset store is off. 256 KiB per partition: each fetch response is
 * read into a buffer of its own, and buffers that small are reused from the heap where 8 MiB
 * ones kept landing on fresh pages the kernel had to zero (in the same run the daemon's system
 * time fell from 33% to 13% of its CPU over SASL_SSL, 41% to 24% over plaintext). See the
 * README for the measurements. */
static const struct an_kafka_kv s_fetch_tput[] = {
    {"fetch.wait.max.ms", "500"},
    {"fetch.min.bytes", "65536"},
    {"max.partition.fetch.bytes", "262144"},
    {"queued.min.messages", "1000000"},
    {"queued.max.messages.kbytes", "65536"},
    {"enable.auto.offset.store", "false"},
};
static const struct an_kafka_kv s_fetch_rt[] = {
    {"fetch.wait.max.ms", "10"},
    {"fetch.min.bytes", "1"},
    {"max.partition.fetch.bytes", "262144"},
    {"queued.min.messages", "1000000"},
    {"queued.max.messages.kbytes", "65536"},
    {"enable.auto.offset.store", "false"},
};

const struct an_kafka_kv *
an_kafka_fetch_conf(bool real_time, size_t *n)
{
    *n = real_time ? sizeof s_fetch_rt / sizeof s_fetch_rt[0]
                   : sizeof s_fetch_tput / sizeof s_fetch_tput[0];
    return real_time ? s_fetch_rt : s_fetch_tput;
}
