/* SPDX-License-Identifier: Apache-2.0 */
/* The event_routing configuration section, the output plan derived from it, and the
 * settings that may change while events flow. */
#ifndef RT_CONFIG_H
#define RT_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_config.h"
#include "vx_kafka_conf.h"

#define RT_SECTION "event_routing"
#define RT_BOUNDARY_MAX 64     /* a boundary name and its NUL */
#define RT_MAX_OUTPUTS 64      /* boundaries one daemon serves */
#define RT_MAX_ENDPOINTS 16    /* ZeroMQ consumers of one boundary */
#define RT_ENDPOINT_MAX 256

/* Every key of the section, bound by rt_cfg_section's table. Strings are borrowed from the
 * vx_config_t they were bound from. */
struct rt_config {
    int64_t max_decision_ns;
    bool reconfigurable;
    bool load_balance;
    bool caching;
    int32_t max_rules;
    const char *input_endpoint;
    bool input_acked;
    int32_t senders_max;
    int32_t senders_save_ms;
    const char *output_coordinator;
    const char *output_automation;
    const char *output_analytics;
    const char *output_graph;
    const char *output_vector;
    const char *outputs;
    const char *tap_endpoint;
    const char *default_boundary;
    const char *kafka_brokers;
    const char *kafka_boundaries;
    const char *kafka_topic_prefix;
    int32_t kafka_message_timeout_ms;
    int32_t queue_hwm;
    const char *boundary_policy;
    int32_t boundary_queue_events;
    const char *boundary_policies;
    const char *boundary_acked;
    int32_t boundary_ack_window_batches;
    int32_t boundary_ack_timeout_ms;
    int32_t batch_max_events;
    int32_t batch_max_delay_us;
    const char *producer_id;
    const char *rules_file;
    int32_t rules_poll_ms;
    const char *state_dir;
    int32_t apply_timeout_ms;
    const char *rest_bind;
    int32_t rest_port;
    int32_t shutdown_timeout_ms;
    /* Not a key of this section: main.c binds the kafka_security section (vx_kafka_conf.h)
     * for the boundaries' producer (borrowed; NULL: that section's defaults). */
    const struct vx_kafka_security_config *kafka_security;
};

extern const struct vx_cfg_section rt_cfg_section;

/* What a boundary does when its queue is full. */
enum rt_policy {
    RT_POLICY_BLOCK = 0, /* lossless: routing waits for that boundary's consumer */
    RT_POLICY_DROP,      /* the event is not given to that boundary; counted (boundary_full) */
};

/* One target boundary and where its events go: a Kafka topic, or one ZeroMQ PUSH socket per
 * endpoint (bound); its own bounded queue and what happens when that queue is full. */
struct rt_output_spec {
    char name[RT_BOUNDARY_MAX];
    bool kafka;
    bool tap_only;          /* endpoint "tap": no consumer socket, only the routing tap */
    size_t n_endpoints;
    char endpoints[RT_MAX_ENDPOINTS][RT_ENDPOINT_MAX];
    enum rt_policy policy;
    uint32_t queue_events;  /* most events waiting in routing for this boundary */
    bool acked;             /* boundary_acked: each consumer gets an acknowledged link */
};

/* Every boundary of this daemon, in a fixed order: the five of the suite that are
 * configured, then the extra ones of `outputs` and `kafka_boundaries` in the order given. */
struct rt_output_plan {
    struct rt_output_spec outputs[RT_MAX_OUTPUTS];
    size_t n;
    int default_index; /* boundary of unrouted events, -1 when none */
};

/* Builds the plan from output_<boundary>, outputs, kafka_brokers, kafka_boundaries,
 * default_boundary, boundary_policy, boundary_queue_events, boundary_policies and
 * boundary_acked. Returns 0,
 * or -EINVAL with a message naming the key in err. */
int rt_config_plan(const struct rt_config *c, struct rt_output_plan *plan, char *err,
                   size_t errlen);

/* "block" or "drop". */
const char *rt_policy_name(enum rt_policy p);

/* True when name is acceptable as a boundary name: 1..63 of [a-z0-9_.-]. */
bool rt_boundary_name_valid(const char *name);

/* Settings that PUT /v1/config may change: written by a REST thread, read by the loop once
 * per batch (or by the REST thread for the next rule set). */
struct rt_live {
    _Atomic uint64_t max_decision_ns;
    _Atomic uint32_t batch_max_events;
    _Atomic uint32_t batch_max_delay_us;
    _Atomic uint32_t max_rules;
};

/* Copies the reloadable keys into live. */
void rt_live_load(struct rt_live *live, const struct rt_config *c);

#endif
