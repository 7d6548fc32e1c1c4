/* SPDX-License-Identifier: Apache-2.0 */
/* The event_propagation section: every key the daemon reads, with bounds and help. */
#include "prop_config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const struct vx_cfg_key s_keys[] = {
    {"max_propagation_latency_ns", VX_CFG_INT, "1000000", 1, 60000000000LL, true,
     "latency budget per event, ingest to publish; slower events are counted in "
     "vexfs_events_slow_total",
     VX_CFG_AT(struct prop_config, max_latency_ns)},
    {"target_throughput_events_per_sec", VX_CFG_INT, "100000", 1, 100000000, false,
     "expected load, exported as vexfs_target_throughput_events_per_second for alert rules",
     VX_CFG_AT(struct prop_config, target_throughput)},
    {"enable_context_preservation", VX_CFG_BOOL, "true", 0, 0, false,
     "forward fields this version does not know (unknown protobuf fields) unchanged",
     VX_CFG_AT(struct prop_config, keep_unknown_fields)},
    {"enable_deduplication", VX_CFG_BOOL, "true", 0, 0, true,
     "drop events whose content hash was seen within dedup_window_ms",
     VX_CFG_AT(struct prop_config, dedup_enabled)},
    {"enable_performance_optimization", VX_CFG_BOOL, "true", 0, 0, false,
     "coalesce input into output batches of batch_max_events; off forwards each input "
     "batch on its own",
     VX_CFG_AT(struct prop_config, coalesce)},
    {"dedup_window_ms", VX_CFG_INT, "1000", 1, 86400000, true,
     "how long a content hash is remembered",
     VX_CFG_AT(struct prop_config, dedup_window_ms)},
    {"dedup_max_entries", VX_CFG_INT, "1048576", 16, 67108864, false,
     "most hashes remembered at once (bounds memory: 48 bytes each); older ones are "
     "forgotten early and counted",
     VX_CFG_AT(struct prop_config, dedup_max_entries)},
    {"batch_max_events", VX_CFG_INT, "100", 1, 10000, true, "events per output batch",
     VX_CFG_AT(struct prop_config, batch_max_events)},
    {"batch_max_delay_us", VX_CFG_INT, "1000", 0, 1000000, true,
     "longest an accepted event waits for its batch to fill while input keeps coming",
     VX_CFG_AT(struct prop_config, batch_max_delay_us)},
    {"ingest_endpoint", VX_CFG_STRING, "tcp://127.0.0.1:5550", 0, 1024, false,
     "ZeroMQ PULL endpoint (bound) producers send batches to",
     VX_CFG_AT(struct prop_config, ingest_endpoint)},
    {"ingest_acked_endpoint", VX_CFG_STRING, "", 0, 1024, false,
     "ZeroMQ ROUTER endpoint (bound) for producers that want each batch acknowledged once "
     "handed on (their ack_endpoint); empty: off",
     VX_CFG_AT(struct prop_config, ingest_acked_endpoint)},
    {"ingest_ack_durable", VX_CFG_BOOL, "true", 0, 0, false,
     "with Kafka, acknowledge an acknowledged-ingest batch only after Kafka reported on each "
     "of its events",
     VX_CFG_AT(struct prop_config, ingest_ack_durable)},
    {"output_endpoint", VX_CFG_STRING, "tcp://127.0.0.1:5551", 0, 1024, false,
     "ZeroMQ PUSH endpoint (bound) routing pulls from; lossless, blocks when full",
     VX_CFG_AT(struct prop_config, output_endpoint)},
    {"output_acked", VX_CFG_BOOL, "false", 0, 0, false,
     "output_endpoint binds a DEALER instead of a PUSH: each batch is kept until a routing "
     "(input_acked: true, a ROUTER) acknowledges it, resent after output_ack_timeout_ms or a "
     "lost connection; an acknowledged-ingest batch is acknowledged only after routing "
     "acknowledged every output batch holding its events",
     VX_CFG_AT(struct prop_config, output_acked)},
    {"output_ack_window_batches", VX_CFG_INT, "64", 1, 1000, false,
     "output_acked: batches sent to routing and not yet acknowledged at once",
     VX_CFG_AT(struct prop_config, output_ack_window_batches)},
    {"output_ack_timeout_ms", VX_CFG_INT, "2000", 1, 600000, false,
     "output_acked: a batch unacknowledged this long is sent again (routing counts and "
     "drops the copy)",
     VX_CFG_AT(struct prop_config, output_ack_timeout_ms)},
    {"output_buffer_max_batches", VX_CFG_INT, "256", 1, 100000, false,
     "output_acked: output batches held (waiting or unacknowledged); when full, ingest waits",
     VX_CFG_AT(struct prop_config, output_buffer_max_batches)},
    {"tap_endpoint", VX_CFG_STRING, "tcp://127.0.0.1:5553", 0, 1024, false,
     "ZeroMQ PUB endpoint (bound) for observers such as vexfsctl tail; may drop; empty: off",
     VX_CFG_AT(struct prop_config, tap_endpoint)},
    {"queue_hwm", VX_CFG_INT, "1000", 1, 1000000, false,
     "ZeroMQ high-water mark in batches for ingest and output sockets",
     VX_CFG_AT(struct prop_config, queue_hwm)},
    {"producer_id", VX_CFG_STRING, "", 0, 256, false,
     "id stamped on events that come without one; empty: propagation-<hostname>",
     VX_CFG_AT(struct prop_config, producer_id)},
    {"rest_bind", VX_CFG_STRING, "127.0.0.1", 0, 64, false, "address of the REST server",
     VX_CFG_AT(struct prop_config, rest_bind)},
    {"rest_port", VX_CFG_INT, "8080", 0, 65535, false, "port of the REST server (0: any)",
     VX_CFG_AT(struct prop_config, rest_port)},
    {"kafka_brokers", VX_CFG_STRING, "", 0, 1024, false,
     "Kafka bootstrap servers (host:port,...); empty: no journal",
     VX_CFG_AT(struct prop_config, kafka_brokers)},
    {"kafka_topic", VX_CFG_STRING, "vexfs.events", 0, 249, false,
     "topic every accepted event is journaled to, keyed by path",
     VX_CFG_AT(struct prop_config, kafka_topic)},
    {"kafka_message_timeout_ms", VX_CFG_INT, "300000", 1000, 3600000, false,
     "how long the producer retries one event before reporting it failed",
     VX_CFG_AT(struct prop_config, kafka_message_timeout_ms)},
    {"durable_timeout_ms", VX_CFG_INT, "30000", 100, 600000, false,
     "longest a REST ingest with ?durable=true waits for Kafka's acknowledgement",
     VX_CFG_AT(struct prop_config, durable_timeout_ms)},
    {"shutdown_timeout_ms", VX_CFG_INT, "30000", 0, 600000, false,
     "on SIGTERM, how long to keep flushing to routing and Kafka before giving up",
     VX_CFG_AT(struct prop_config, shutdown_timeout_ms)},
    {"producer_identities_file", VX_CFG_STRING, "", 0, 4096, false,
     "YAML or JSON file mapping each producer's CURVE identity to the sources and tenants it "
     "may claim and the tenant stamped where an event names none (README, \"Producer "
     "identities\"); empty: the suite's own producers with their own source and any tenant",
     VX_CFG_AT(struct prop_config, producer_identities_file)},
    {"state_dir", VX_CFG_STRING, "", 0, 4096, false,
     "directory where the dedup window is kept across restarts (dedup.bin, sealed with "
     "at_rest): written at stop and every dedup_checkpoint_ms, read at start; empty: the "
     "window starts empty after a restart",
     VX_CFG_AT(struct prop_config, state_dir)},
    {"dedup_checkpoint_ms", VX_CFG_INT, "1000", 0, 3600000, false,
     "with state_dir, how often the dedup window is written while events arrive (what a kill "
     "-9 forgets of it); 0: only at stop",
     VX_CFG_AT(struct prop_config, dedup_checkpoint_ms)},
};

/* Rules across keys: a journal needs a topic, and two sockets cannot bind one endpoint (the
 * second bind would fail at start with a less precise message). */
static int
cb_check(const void *bound, char *err, size_t errlen)
{
    const struct prop_config *c = bound;
    if (c->kafka_brokers[0] && !c->kafka_topic[0]) {
        snprintf(err, errlen, PROP_SECTION ".kafka_topic: must be set when kafka_brokers is");
        return -EINVAL;
    }
    if (c->ingest_acked_endpoint[0] && strcmp(c->ingest_acked_endpoint, c->ingest_endpoint) == 0) {
        snprintf(err, errlen,
                 PROP_SECTION ".ingest_acked_endpoint: must differ from ingest_endpoint (%s)",
                 c->ingest_endpoint);
        return -EINVAL;
    }
    if (c->output_acked && c->output_buffer_max_batches < c->output_ack_window_batches) {
        snprintf(err, errlen,
                 PROP_SECTION ".output_buffer_max_batches: must be at least "
                              "output_ack_window_batches (%d)",
                 (int)c->output_ack_window_batches);
        return -EINVAL;
    }
    if (c->tap_endpoint[0] && strcmp(c->tap_endpoint, c->output_endpoint) == 0) {
        snprintf(err, errlen, PROP_SECTION ".tap_endpoint: must differ from output_endpoint (%s)",
                 c->output_endpoint);
        return -EINVAL;
    }
    return 0;
}

const struct vx_cfg_section prop_cfg_section =
    VX_CFG_SECTION(PROP_SECTION, s_keys, struct prop_config, cb_check);

void
prop_live_load(struct prop_live *live, const struct prop_config *c)
{
    atomic_store(&live->dedup_window_ms, (uint64_t)c->dedup_window_ms);
    atomic_store(&live->dedup_enabled, c->dedup_enabled);
    atomic_store(&live->batch_max_events, (uint32_t)c->batch_max_events);
    atomic_store(&live->batch_max_delay_us, (uint32_t)c->batch_max_delay_us);
    atomic_store(&live->max_latency_ns, (uint64_t)c->max_latency_ns);
}
