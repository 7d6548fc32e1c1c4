/* SPDX-License-Identifier: Apache-2.0 */
/* The event_propagation configuration section and the settings the daemon runs with. */
#ifndef PROP_CONFIG_H
#define PROP_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vx_config.h"
#include "vx_kafka_conf.h"
#include "vx_seal.h"

#define PROP_SECTION "event_propagation"

/* Every key of the section, bound by prop_cfg_section's table. Strings are borrowed from the
 * vx_config_t they were bound from. */
struct prop_config {
    int64_t max_latency_ns;
    int64_t target_throughput;
    bool keep_unknown_fields;
    bool dedup_enabled;
    bool coalesce;
    int64_t dedup_window_ms;
    int64_t dedup_max_entries;
    int32_t batch_max_events;
    int32_t batch_max_delay_us;
    const char *ingest_endpoint;
    const char *ingest_acked_endpoint;
    bool ingest_ack_durable;
    const char *output_endpoint;
    bool output_acked;
    int32_t output_ack_window_batches;
    int32_t output_ack_timeout_ms;
    int32_t output_buffer_max_batches;
    const char *tap_endpoint;
    int32_t queue_hwm;
    const char *producer_id;
    const char *rest_bind;
    int32_t rest_port;
    const char *kafka_brokers;
    const char *kafka_topic;
    int32_t kafka_message_timeout_ms;
    int32_t durable_timeout_ms;
    int32_t shutdown_timeout_ms;
    const char *producer_identities_file;
    const char *state_dir;
    int32_t dedup_checkpoint_ms;
    /* Not a key of this section: main.c sets it from the at_rest section (borrowed; NULL:
     * state files are written in plaintext). */
    const vx_sealer_t *sealer;
    /* Not a key of this section: main.c binds the kafka_security section (vx_kafka_conf.h)
     * for the journal's producer (borrowed; NULL: that section's defaults). */
    const struct vx_kafka_security_config *kafka_security;
};

extern const struct vx_cfg_section prop_cfg_section;

/* Settings that PUT /v1/config may change while events flow: written by the REST thread,
 * read by the loop once per batch. */
struct prop_live {
    _Atomic uint64_t dedup_window_ms;
    _Atomic bool dedup_enabled;
    _Atomic uint32_t batch_max_events;
    _Atomic uint32_t batch_max_delay_us;
    _Atomic uint64_t max_latency_ns;
};

/* Copies the reloadable keys into live. */
void prop_live_load(struct prop_live *live, const struct prop_config *c);

#endif
