/* SPDX-License-Identifier: Apache-2.0 */
/* The event_propagation section: every key the daemon reads, with bounds and help. */
#include "prop_config.h"

static const struct vx_cfg_key s_keys[] = {
    {"max_propagation_latency_ns", VX_CFG_INT, "1000000", 1, 60000000000LL, true,
     "latency budget per event, ingest to publish; slower events are counted in "
     "vexfs_events_slow_total"},
    {"target_throughput_events_per_sec", VX_CFG_INT, "100000", 1, 100000000, false,
     "expected load, exported as vexfs_target_throughput_events_per_second for alert rules"},
    {"enable_context_preservation", VX_CFG_BOOL, "true", 0, 0, false,
     "forward fields this version does not know (unknown protobuf fields) unchanged"},
    {"enable_deduplication", VX_CFG_BOOL, "true", 0, 0, true,
     "drop events whose content hash was seen within dedup_window_ms"},
    {"enable_performance_optimization", VX_CFG_BOOL, "true", 0, 0, false,
     "coalesce input into output batches of batch_max_events; off forwards each input "
     "batch on its own"},
    {"dedup_window_ms", VX_CFG_INT, "1000", 1, 86400000, true,
     "how long a content hash is remembered"},
    {"dedup_max_entries", VX_CFG_INT, "1048576", 16, 67108864, false,
     "most hashes remembered at once (bounds memory: 48 bytes each); older ones are "
     "forgotten early and counted"},
    {"batch_max_events", VX_CFG_INT, "100", 1, 10000, true, "events per output batch"},
    {"batch_max_delay_us", VX_CFG_INT, "1000", 0, 1000000, true,
     "longest an accepted event waits for its batch to fill while input keeps coming"},
    {"ingest_endpoint", VX_CFG_STRING, "tcp://127.0.0.1:5550", 0, 1024, false,
     "ZeroMQ PULL endpoint (bound) producers send batches to"},
    {"ingest_acked_endpoint", VX_CFG_STRING, "", 0, 1024, false,
     "ZeroMQ ROUTER endpoint (bound) for producers that want each batch acknowledged once "
     "handed on (their ack_endpoint); empty: off"},
    {"ingest_ack_durable", VX_CFG_BOOL, "true", 0, 0, false,
     "with Kafka, acknowledge an acknowledged-ingest batch only after Kafka reported on each "
     "of its events"},
    {"output_endpoint", VX_CFG_STRING, "tcp://127.0.0.1:5551", 0, 1024, false,
     "ZeroMQ PUSH endpoint (bound) routing pulls from; lossless, blocks when full"},
    {"tap_endpoint", VX_CFG_STRING, "tcp://127.0.0.1:5553", 0, 1024, false,
     "ZeroMQ PUB endpoint (bound) for observers such as vexfsctl tail; may drop; empty: off"},
    {"queue_hwm", VX_CFG_INT, "1000", 1, 1000000, false,
     "ZeroMQ high-water mark in batches for ingest and output sockets"},
    {"producer_id", VX_CFG_STRING, "", 0, 256, false,
     "id stamped on events that come without one; empty: propagation-<hostname>"},
    {"rest_bind", VX_CFG_STRING, "127.0.0.1", 0, 64, false, "address of the REST server"},
    {"rest_port", VX_CFG_INT, "8080", 0, 65535, false, "port of the REST server (0: any)"},
    {"kafka_brokers", VX_CFG_STRING, "", 0, 1024, false,
     "Kafka bootstrap servers (host:port,...); empty: no journal"},
    {"kafka_topic", VX_CFG_STRING, "vexfs.events", 0, 249, false,
     "topic every accepted event is journaled to, keyed by path"},
    {"kafka_message_timeout_ms", VX_CFG_INT, "300000", 1000, 3600000, false,
     "how long the producer retries one event before reporting it failed"},
    {"durable_timeout_ms", VX_CFG_INT, "30000", 100, 600000, false,
     "longest a REST ingest with ?durable=true waits for Kafka's acknowledgement"},
    {"shutdown_timeout_ms", VX_CFG_INT, "30000", 0, 600000, false,
     "on SIGTERM, how long to keep flushing to routing and Kafka before giving up"},
};

const struct vx_cfg_section prop_cfg_section = {PROP_SECTION, s_keys,
                                                sizeof s_keys / sizeof s_keys[0]};

void
prop_live_load(struct prop_live *live, const vx_config_t *cfg)
{
    atomic_store(&live->dedup_window_ms,
                 (uint64_t)vx_config_int(cfg, PROP_SECTION, "dedup_window_ms"));
    atomic_store(&live->dedup_enabled, vx_config_bool(cfg, PROP_SECTION, "enable_deduplication"));
    atomic_store(&live->batch_max_events,
                 (uint32_t)vx_config_int(cfg, PROP_SECTION, "batch_max_events"));
    atomic_store(&live->batch_max_delay_us,
                 (uint32_t)vx_config_int(cfg, PROP_SECTION, "batch_max_delay_us"));
    atomic_store(&live->max_latency_ns,
                 (uint64_t)vx_config_int(cfg, PROP_SECTION, "max_propagation_latency_ns"));
}
