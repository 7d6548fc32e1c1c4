/* SPDX-License-Identifier: Apache-2.0 */
/* The stream_analytics section: every key the daemon reads, with bounds and help. */
/* Rows not yet bound to a struct (VX_CFG_AT) leave offset and size zero. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include "an_config.h"

static const struct vx_cfg_key s_keys[] = {
    {"target_throughput_events_per_sec", VX_CFG_INT, "1200000", 1, 1000000000, false,
     "expected load, exported as vexfs_analytics_target_throughput_events_per_second for alert "
     "rules (compare with rate(vexfs_analytics_events_total))"},
    {"processing_latency_target_ns", VX_CFG_INT, "1000000", 1, 60000000000LL, false,
     "budget for decoding one event and running it through every query; slower events are "
     "counted in vexfs_analytics_slow_events_total"},
    {"enable_real_time_processing", VX_CFG_BOOL, "true", 0, 0, false,
     "true: Kafka fetches tuned for latency (fetch.wait.max.ms=10); false: for throughput "
     "(fetch.wait.max.ms=500, fetch.min.bytes=65536)"},
    {"enable_pattern_discovery", VX_CFG_BOOL, "false", 0, 0, false,
     "not implemented in this version; exported as vexfs_analytics_feature_enabled"
     "{feature=\"pattern_discovery\"} for alerts and dashboards"},
    {"enable_anomaly_detection", VX_CFG_BOOL, "true", 0, 0, false,
     "judge every final window value against its series' EWMA mean and variance; anomalies at "
     "GET /v1/anomalies and in vexfs_analytics_anomalies_total"},
    {"enable_predictive_analytics", VX_CFG_BOOL, "false", 0, 0, false,
     "not implemented in this version; exported as vexfs_analytics_feature_enabled"
     "{feature=\"predictive_analytics\"} for alerts and dashboards"},
    {"rest_bind", VX_CFG_STRING, "127.0.0.1", 0, 64, false, "address of the REST server"},
    {"rest_port", VX_CFG_INT, "8084", 0, 65535, false, "port of the REST server (0: any)"},
    {"kafka_brokers", VX_CFG_STRING, "", 0, 1024, false,
     "Kafka bootstrap servers (host:port,...); empty: read input_endpoint (ZeroMQ) instead"},
    {"topic", VX_CFG_STRING, "vexfs.routed.analytics", 1, 249, false,
     "Kafka topic of routed events (one packed Event per message)"},
    {"group_id", VX_CFG_STRING, "vexfs-analytics", 1, 255, false,
     "Kafka consumer group: instances in one group share the topic's partitions"},
    {"results_topic", VX_CFG_STRING, "vexfs.analytics.results", 0, 249, false,
     "Kafka topic where every instance publishes its final windows per partition and reads the "
     "whole group's, so GET /v1/queries/{id}/results answers for the group; use a compacted "
     "topic; empty: results of this instance only"},
    {"idle_timeout_ms", VX_CFG_INT, "30000", 0, 86400000, false,
     "a partition that delivered nothing for this long is idle: its clock follows the lowest "
     "clock of the group's active partitions so its windows close; 0: never"},
    {"replay_max_events_per_sec", VX_CFG_INT, "0", 0, 1000000000, false,
     "POST /v1/replay consumes at most this many events per second (spares the brokers and the "
     "live load); 0: as fast as possible"},
    {"commit_interval_ms", VX_CFG_INT, "1000", 10, 3600000, false,
     "how often offsets are committed (up to the oldest event an open window still needs)"},
    {"input_endpoint", VX_CFG_STRING, ">tcp://127.0.0.1:5555", 0, 1024, false,
     "ZeroMQ PULL endpoint used without Kafka ('>' connects, '@' or none binds); routing's "
     "output_analytics by default"},
    {"results_endpoint", VX_CFG_STRING, "tcp://127.0.0.1:5559", 0, 1024, false,
     "ZeroMQ PUB endpoint (bound) streaming every final window as JSON, topic "
     "analytics.<query id>; may drop; empty: off"},
    {"queries_file", VX_CFG_STRING, "", 0, 4096, false,
     "JSON file with an array of queries, loaded at start when state_dir holds none"},
    {"state_dir", VX_CFG_STRING, "", 0, 4096, false,
     "directory where queries defined over REST are kept (queries.json); empty: not kept"},
    {"max_groups_per_query", VX_CFG_INT, "100000", 1, 100000000, false,
     "groups with open windows per query and partition; a new group beyond evicts the oldest "
     "(emitted early, counted)"},
    {"max_results_per_query", VX_CFG_INT, "1000", 1, 1000000, false,
     "final windows kept per query for GET /v1/queries/{id}/results"},
    {"max_queries", VX_CFG_INT, "256", 1, 100000, false, "queries the daemon accepts"},
    {"max_exported_series", VX_CFG_INT, "1000", 0, 1000000, false,
     "per query with export_metrics: groups exported as vexfs_analytics_window_value series; "
     "further groups are not exported (counted)"},
};

const struct vx_cfg_section an_cfg_section = {AN_SECTION, s_keys,
                                              sizeof s_keys / sizeof s_keys[0]};

/* Throughput: the fetch waits for 64 KiB or 500 ms; latency: it answers after 10 ms with
 * whatever there is. Both prefetch deep enough that the loop never waits for a fetch round
 * trip; the bytes limit (one consumer queue for all partitions) bounds the memory it takes.
 * The daemon stores and commits offsets itself (the oldest an open window needs), so
 * librdkafka's per-message offset store is off. See the README for the measurements. */
static const struct an_kafka_kv s_fetch_tput[] = {
    {"fetch.wait.max.ms", "500"},
    {"fetch.min.bytes", "65536"},
    {"max.partition.fetch.bytes", "8388608"},
    {"queued.min.messages", "1000000"},
    {"queued.max.messages.kbytes", "65536"},
    {"enable.auto.offset.store", "false"},
};
static const struct an_kafka_kv s_fetch_rt[] = {
    {"fetch.wait.max.ms", "10"},
    {"fetch.min.bytes", "1"},
    {"max.partition.fetch.bytes", "8388608"},
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
