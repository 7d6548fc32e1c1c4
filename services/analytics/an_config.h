/* SPDX-License-Identifier: Apache-2.0 */
/* The stream_analytics and monitoring configuration sections, bound to struct an_config and
 * struct an_mon_config. */
#ifndef AN_CONFIG_H
#define AN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_config.h"
#include "vx_kafka_conf.h"

#define AN_SECTION "stream_analytics"
#define AN_MON_SECTION "monitoring"

/* Every key of stream_analytics, bound by an_cfg_section's table (vx_config_bind). Strings
 * are borrowed from the vx_config_t they were bound from. Members are named as their keys. */
struct an_config {
    int64_t target_throughput_events_per_sec;
    int64_t processing_latency_target_ns;
    bool enable_real_time_processing;
    bool enable_pattern_discovery;
    bool enable_anomaly_detection;
    bool enable_predictive_analytics;
    const char *rest_bind;
    int32_t rest_port;
    const char *kafka_brokers;
    const char *topic;
    const char *group_id;
    const char *results_topic;
    int32_t idle_timeout_ms;
    int64_t replay_max_events_per_sec;
    int32_t commit_interval_ms;
    const char *input_endpoint;
    bool input_acked;
    int32_t input_senders_max;
    int32_t input_senders_save_ms;
    const char *results_endpoint;
    const char *queries_file;
    const char *state_dir;
    int32_t max_groups_per_query;
    int32_t max_results_per_query;
    int32_t max_queries;
    int32_t max_exported_series;
    /* Not a key of this section: main.c binds the kafka_security section (vx_kafka_conf.h)
     * for the consumer and the results topic (borrowed; NULL: that section's defaults). */
    const struct vx_kafka_security_config *kafka_security;
};

/* Every key of monitoring (alert rules, notifications, system health), bound by
 * an_mon_cfg_section's table; strings borrowed as above. */
struct an_mon_config {
    int32_t metrics_collection_interval_ms;
    bool enable_prometheus_export;
    bool enable_real_time_alerts;
    bool enable_performance_monitoring;
    bool enable_health_monitoring;
    const char *services;
    int32_t health_timeout_ms;
    int32_t scrape_timeout_ms;
    const char *alert_rules_file;
    int32_t max_alert_rules;
    int32_t alert_history;
    const char *anomaly_webhook_url;
    int32_t anomaly_resolve_after_ms;
    int32_t max_active_anomaly_alerts;
    const char *smtp_url;
    const char *smtp_from;
    const char *smtp_to;
    const char *outbound_allow;
};

extern const struct vx_cfg_section an_cfg_section;
extern const struct vx_cfg_section an_mon_cfg_section;

/* The rules of stream_analytics no single row can state: with kafka_brokers, results_topic
 * is not topic (the group would read its own results as events); without it, input_endpoint
 * is set (the daemon would have no input). Run by vx_config_load (so --check) and by
 * PUT /v1/config through the section's check. Returns 0, or -EINVAL with a message naming
 * the keys in err. */
int an_config_check(const struct an_config *c, char *err, size_t errlen);

/* The rules of monitoring: smtp_url an smtp:// or smtps:// URL, outbound_allow a list of
 * addresses or CIDR blocks. Returns 0, or -EINVAL with a message naming the key in err. */
int an_mon_config_check(const struct an_mon_config *c, char *err, size_t errlen);

/* A librdkafka setting of the input consumer. */
struct an_kafka_kv {
    const char *key, *value;
};

/* The input consumer's fetch and queue settings (enable_real_time_processing: real_time), the
 * same for the daemon and for the benchmark's bare consumer. Static; *n set to the count. */
const struct an_kafka_kv *an_kafka_fetch_conf(bool real_time, size_t *n);

#endif
