/* SPDX-License-Identifier: Apache-2.0 */
/* The reactive_automation configuration section, bound to struct au_config. */
#ifndef AU_CONFIG_H
#define AU_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_config.h"

#define AU_SECTION "reactive_automation"

/* Every key of the section, bound by au_cfg_section's table (vx_config_bind). Strings are
 * borrowed from the vx_config_t they were bound from. Members are named as their keys. */
struct au_config {
    int32_t max_automation_latency_ms;
    int64_t target_throughput_events_per_sec;
    int32_t max_concurrent_workflows;
    int32_t max_queued_workflows;
    int32_t tenant_max_concurrent;
    int32_t tenant_rate_per_sec;
    int32_t tenant_burst;
    int32_t max_executions;
    int64_t history_max_age_s;
    int64_t state_map_bytes;
    bool state_sync;
    bool enable_fault_tolerance;
    bool enable_compensation;
    int32_t breaker_failure_threshold;
    int32_t breaker_cooldown_ms;
    const char *workflows_path;
    const char *state_dir;
    const char *emit_endpoint;
    const char *emit_ack_endpoint;
    int32_t emit_ack_window_batches;
    int32_t emit_ack_timeout_ms;
    int32_t emit_buffer_max_batches;
    const char *input_endpoint;
    bool input_acked;
    int32_t input_senders_max;
    int32_t input_senders_save_ms;
    const char *replay_endpoint;
    int32_t queue_hwm;
    const char *time_mode;
    int32_t allowed_lateness_ms;
    int32_t idle_timeout_ms;
    int64_t max_reorder_bytes;
    int32_t max_partial_matches;
    int32_t max_match_events;
    int64_t max_match_event_bytes;
    int32_t max_alerts;
    const char *patterns_file;
    const char *scripts_dir;
    bool allow_inline_scripts;
    const char *script_user;
    const char *script_group;
    int32_t script_cpu_seconds;
    int32_t script_memory_mb;
    int32_t script_open_files;
    int32_t script_processes;
    const char *outbound_allow;
    const char *rest_bind;
    int32_t rest_port;
};

extern const struct vx_cfg_section au_cfg_section;

/* The rules no single row can state: time_mode one of processing or event, scripts_dir
 * absolute, outbound_allow a list of addresses or CIDR blocks, and the daemon's endpoints
 * distinct (neither replay_endpoint nor emit_endpoint is input_endpoint). Run by
 * vx_config_load (so --check) and by PUT /v1/config through the section's check. Returns 0,
 * or -EINVAL with a message naming the keys in err. */
int au_config_check(const struct au_config *c, char *err, size_t errlen);

#endif
