/* SPDX-License-Identifier: Apache-2.0 */
/* The reactive_automation section: every key the daemon reads, with bounds and help. */
#include "au_config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vx_netpolicy.h"

static const struct vx_cfg_key s_keys[] = {
    {"max_automation_latency_ms", VX_CFG_INT, "500", 1, 3600000, false,
     "latency budget for one input batch, receipt to last alert; slower batches are counted "
     "in vexfs_automation_slow_batches_total",
     VX_CFG_AT(struct au_config, max_automation_latency_ms)},
    {"target_throughput_events_per_sec", VX_CFG_INT, "10000", 1, 100000000, false,
     "expected load, exported as vexfs_target_throughput_events_per_second for alert rules",
     VX_CFG_AT(struct au_config, target_throughput_events_per_sec)},
    {"max_concurrent_workflows", VX_CFG_INT, "100", 1, 1000000, false,
     "workflow executions running at once, all tenants (one worker thread each, started on "
     "demand); more wait in the queue",
     VX_CFG_AT(struct au_config, max_concurrent_workflows)},
    {"max_queued_workflows", VX_CFG_INT, "10000", 1, 1000000, false,
     "executions waiting to start; a trigger beyond this is refused and counted in "
     "vexfs_automation_queue_rejected_total",
     VX_CFG_AT(struct au_config, max_queued_workflows)},
    {"tenant_max_concurrent", VX_CFG_INT, "10", 1, 1000000, false,
     "executions of one tenant running at once; its further work waits in the queue",
     VX_CFG_AT(struct au_config, tenant_max_concurrent)},
    {"tenant_rate_per_sec", VX_CFG_INT, "0", 0, 1000000, false,
     "executions one tenant may start per second (token bucket); 0: no limit",
     VX_CFG_AT(struct au_config, tenant_rate_per_sec)},
    {"tenant_burst", VX_CFG_INT, "10", 1, 1000000, false,
     "depth of a tenant's token bucket (starts allowed at once after a quiet period)",
     VX_CFG_AT(struct au_config, tenant_burst)},
    {"max_executions", VX_CFG_INT, "1000", 1, 1000000, false,
     "finished executions kept in the history (GET /v1/executions), all tenants; older ones "
     "are evicted (counted in vexfs_automation_executions_evicted_total)",
     VX_CFG_AT(struct au_config, max_executions)},
    {"history_max_age_s", VX_CFG_INT, "604800", 0, 315360000, false,
     "finished executions older than this leave the history; 0: no age bound",
     VX_CFG_AT(struct au_config, history_max_age_s)},
    {"state_map_bytes", VX_CFG_INT, "1073741824", 1048576, 1099511627776LL, false,
     "the most the state store (state, definitions, journal, history) may hold; a commit "
     "beyond it is refused with a store_full error and changes nothing",
     VX_CFG_AT(struct au_config, state_map_bytes)},
    {"state_sync", VX_CFG_BOOL, "true", 0, 0, false,
     "fsync every store commit (false: a power loss may lose the last commits; a process "
     "crash never does)",
     VX_CFG_AT(struct au_config, state_sync)},
    {"enable_fault_tolerance", VX_CFG_BOOL, "true", 0, 0, false,
     "retry failed steps per their retry policy (false: one attempt each)",
     VX_CFG_AT(struct au_config, enable_fault_tolerance)},
    {"enable_compensation", VX_CFG_BOOL, "true", 0, 0, false,
     "run the compensation actions of completed steps when a workflow fails or was "
     "interrupted",
     VX_CFG_AT(struct au_config, enable_compensation)},
    {"breaker_failure_threshold", VX_CFG_INT, "5", 1, 1000000, false,
     "failures in a row that open the circuit breaker of an action target",
     VX_CFG_AT(struct au_config, breaker_failure_threshold)},
    {"breaker_cooldown_ms", VX_CFG_INT, "30000", 1, 86400000, false,
     "time an open breaker refuses calls before letting one probe through (half-open)",
     VX_CFG_AT(struct au_config, breaker_cooldown_ms)},
    {"workflows_path", VX_CFG_STRING, "", 0, 4096, false,
     "JSON file, or directory of *.json files, with workflows loaded at start when state_dir "
     "holds none; empty: none",
     VX_CFG_AT(struct au_config, workflows_path)},
    {"state_dir", VX_CFG_STRING, "", 0, 4096, false,
     "directory of the state store (LMDB: data.mdb, lock.mdb): state, patterns, workflows, "
     "the journal of unfinished executions and their history; empty: a temporary store that "
     "is removed at exit (nothing persists)",
     VX_CFG_AT(struct au_config, state_dir)},
    {"emit_endpoint", VX_CFG_STRING, "", 0, 1024, false,
     "ZeroMQ PUSH endpoint (connected) of propagation's ingest, for emit actions; empty: "
     "emit actions fail",
     VX_CFG_AT(struct au_config, emit_endpoint)},
    {"emit_ack_endpoint", VX_CFG_STRING, "", 0, 1024, false,
     "ZeroMQ endpoint (connected) of propagation's ingest_acked_endpoint: emitted events are "
     "kept until propagation acknowledges them and resent after emit_ack_timeout_ms or a lost "
     "connection; set, it is used instead of emit_endpoint; empty: off",
     VX_CFG_AT(struct au_config, emit_ack_endpoint)},
    {"emit_ack_window_batches", VX_CFG_INT, "64", 1, 100000, false,
     "emit_ack_endpoint: batches (one event each) sent and not yet acknowledged at once",
     VX_CFG_AT(struct au_config, emit_ack_window_batches)},
    {"emit_ack_timeout_ms", VX_CFG_INT, "2000", 1, 600000, false,
     "emit_ack_endpoint: a batch unacknowledged this long is sent again",
     VX_CFG_AT(struct au_config, emit_ack_timeout_ms)},
    {"emit_buffer_max_batches", VX_CFG_INT, "4096", 1, 1000000, false,
     "emit_ack_endpoint: batches held (waiting or unacknowledged); when full an emit waits up "
     "to 1 s, then fails",
     VX_CFG_AT(struct au_config, emit_buffer_max_batches)},
    {"input_endpoint", VX_CFG_STRING, "tcp://127.0.0.1:5554", 0, 1024, false,
     "ZeroMQ PULL endpoint (connected) of routing's automation boundary",
     VX_CFG_AT(struct au_config, input_endpoint)},
    {"input_acked", VX_CFG_BOOL, "false", 0, 0, false,
     "connect a ROUTER to input_endpoint instead of a PULL, for routing's acknowledged "
     "automation boundary (boundary_acked): each batch is acknowledged once its events are in "
     "the engine, a resend is acknowledged again and not processed "
     "(vexfs_automation_input_duplicates_total)",
     VX_CFG_AT(struct au_config, input_acked)},
    {"input_senders_max", VX_CFG_INT, "1024", 1, 1000000, false,
     "input_acked: senders whose batch sequences are remembered (the least recently heard is "
     "forgotten first)",
     VX_CFG_AT(struct au_config, input_senders_max)},
    {"input_senders_save_ms", VX_CFG_INT, "1000", 10, 60000, false,
     "input_acked: how often the remembered senders are saved to <state_dir>/senders.json "
     "while they change (state_dir empty: not saved)",
     VX_CFG_AT(struct au_config, input_senders_save_ms)},
    {"replay_endpoint", VX_CFG_STRING, "", 0, 1024, false,
     "ZeroMQ PULL endpoint (bound) for replays: recorded events sent again go to a replay "
     "engine with the same patterns, in event time unless a pattern says otherwise; empty: "
     "off",
     VX_CFG_AT(struct au_config, replay_endpoint)},
    {"queue_hwm", VX_CFG_INT, "1000", 1, 1000000, false,
     "ZeroMQ high-water mark in batches for each input socket",
     VX_CFG_AT(struct au_config, queue_hwm)},
    {"time_mode", VX_CFG_STRING, "processing", 0, 16, false,
     "clock of live patterns without their own time_mode: processing (the daemon's clock when "
     "an event arrives) or event (the events' timestamp_ns, in order, as the watermark "
     "passes them)",
     VX_CFG_AT(struct au_config, time_mode)},
    {"allowed_lateness_ms", VX_CFG_INT, "1000", 0, 86400000, false,
     "event time: how far behind the newest event time of its tenant an event may come and "
     "still be matched (patterns without their own); later ones are counted in "
     "vexfs_automation_events_dropped_total{reason=\"late\"}",
     VX_CFG_AT(struct au_config, allowed_lateness_ms)},
    {"idle_timeout_ms", VX_CFG_INT, "30000", 0, 86400000, false,
     "event time: a tenant silent for this long has its watermark move on with the daemon's "
     "clock, so pending absences fire; 0: only events move it",
     VX_CFG_AT(struct au_config, idle_timeout_ms)},
    {"max_reorder_bytes", VX_CFG_INT, "67108864", 1024, 68719476736LL, false,
     "event time: bytes of events held until their watermark, all tenants; beyond it the "
     "oldest are released early (vexfs_automation_watermark_forced_total)",
     VX_CFG_AT(struct au_config, max_reorder_bytes)},
    {"max_partial_matches", VX_CFG_INT, "10000", 1, 10000000, false,
     "partial matches held per pattern; a new one beyond this evicts the oldest (counted in "
     "vexfs_automation_evictions_total)",
     VX_CFG_AT(struct au_config, max_partial_matches)},
    {"max_match_events", VX_CFG_INT, "16", 0, 1024, false,
     "matching events a partial match keeps for the input of the workflows it triggers; a "
     "longer match keeps its most recent ones (the others counted in "
     "vexfs_automation_match_events_truncated_total); 0: none",
     VX_CFG_AT(struct au_config, max_match_events)},
    {"max_match_event_bytes", VX_CFG_INT, "67108864", 1024, 68719476736LL, false,
     "bytes of kept matching events (packed), all patterns together; an event beyond this "
     "is not kept (counted in vexfs_automation_match_events_truncated_total)",
     VX_CFG_AT(struct au_config, max_match_event_bytes)},
    {"max_alerts", VX_CFG_INT, "1000", 1, 1000000, false,
     "alerts kept for GET /v1/alerts; older ones are dropped first",
     VX_CFG_AT(struct au_config, max_alerts)},
    {"patterns_file", VX_CFG_STRING, "", 0, 4096, false,
     "JSON file with the pattern set ([...] or {\"patterns\":[...]}) loaded at start; empty: "
     "none",
     VX_CFG_AT(struct au_config, patterns_file)},
    {"scripts_dir", VX_CFG_STRING, "", 0, 4096, false,
     "absolute path of the operator's scripts directory: a script step names one of its "
     "files (\"script\": \"name\"); empty: steps naming a script fail",
     VX_CFG_AT(struct au_config, scripts_dir)},
    {"allow_inline_scripts", VX_CFG_BOOL, "false", 0, 0, false,
     "accept script steps with inline \"content\" (stored only from an admin credential) and "
     "run them; false: refused when stored (403 inline_script_forbidden) and when run",
     VX_CFG_AT(struct au_config, allow_inline_scripts)},
    {"script_user", VX_CFG_STRING, "", 0, 256, false,
     "user script steps run as (its uid and primary group, no supplementary groups); empty: "
     "the daemon's own user (a warning at start when that is root)",
     VX_CFG_AT(struct au_config, script_user)},
    {"script_group", VX_CFG_STRING, "", 0, 256, false,
     "group script steps run as; empty: script_user's primary group",
     VX_CFG_AT(struct au_config, script_group)},
    {"script_cpu_seconds", VX_CFG_INT, "60", 0, 86400, false,
     "CPU time limit of a script step's processes (RLIMIT_CPU); 0: none",
     VX_CFG_AT(struct au_config, script_cpu_seconds)},
    {"script_memory_mb", VX_CFG_INT, "1024", 0, 1048576, false,
     "address-space limit of each script step process in MiB (RLIMIT_AS); 0: none",
     VX_CFG_AT(struct au_config, script_memory_mb)},
    {"script_open_files", VX_CFG_INT, "256", 0, 1048576, false,
     "open files limit of a script step's processes (RLIMIT_NOFILE); 0: none",
     VX_CFG_AT(struct au_config, script_open_files)},
    {"script_processes", VX_CFG_INT, "256", 0, 1048576, false,
     "processes limit of script_user (RLIMIT_NPROC, counted over all of that user's "
     "processes and threads); 0: none",
     VX_CFG_AT(struct au_config, script_processes)},
    {"outbound_allow", VX_CFG_STRING, "", 0, 4096, false,
     "addresses or CIDR blocks (comma-separated) HTTP steps may connect to although they are "
     "loopback, link-local, cloud metadata or unspecified, which are refused otherwise "
     "(counted in vexfs_outbound_refused_total); empty: none",
     VX_CFG_AT(struct au_config, outbound_allow)},
    {"rest_bind", VX_CFG_STRING, "127.0.0.1", 0, 64, false, "address of the REST server",
     VX_CFG_AT(struct au_config, rest_bind)},
    {"rest_port", VX_CFG_INT, "8083", 0, 65535, false, "port of the REST server (0: any)",
     VX_CFG_AT(struct au_config, rest_port)},
};

int
au_config_check(const struct au_config *c, char *err, size_t errlen)
{
    if (strcmp(c->time_mode, "processing") != 0 && strcmp(c->time_mode, "event") != 0) {
        snprintf(err, errlen, AU_SECTION ".time_mode: expected processing or event, not \"%.64s\"",
                 c->time_mode);
        return -EINVAL;
    }
    if (c->scripts_dir[0] != '\0' && c->scripts_dir[0] != '/') {
        snprintf(err, errlen, AU_SECTION ".scripts_dir: expected an absolute path, not \"%.64s\"",
                 c->scripts_dir);
        return -EINVAL;
    }
    char why[256];
    vx_netpolicy_t *np = vx_netpolicy_new(c->outbound_allow, NULL, why, sizeof why);
    if (np == NULL) {
        snprintf(err, errlen, AU_SECTION ".%s", why);
        return -EINVAL;
    }
    vx_netpolicy_destroy(&np);
    /* The live input connects to routing's boundary; the replay input binds its own endpoint
     * and the emit socket connects to propagation's ingest. One address for two of them would
     * wire the daemon to itself (or fail to bind) instead of to its peers. */
    if (c->replay_endpoint[0] != '\0' && strcmp(c->replay_endpoint, c->input_endpoint) == 0) {
        snprintf(err, errlen,
                 AU_SECTION ".replay_endpoint and input_endpoint: both are '%.256s'; replays need "
                            "an endpoint of their own",
                 c->input_endpoint);
        return -EINVAL;
    }
    if (c->emit_endpoint[0] != '\0' && strcmp(c->emit_endpoint, c->input_endpoint) == 0) {
        snprintf(err, errlen,
                 AU_SECTION ".emit_endpoint and input_endpoint: both are '%.256s'; emitted events "
                            "go to propagation's ingest, not to routing's automation boundary",
                 c->input_endpoint);
        return -EINVAL;
    }
    return 0;
}

static int
cb_check(const void *bound, char *err, size_t errlen)
{
    return au_config_check(bound, err, errlen);
}

const struct vx_cfg_section au_cfg_section =
    VX_CFG_SECTION(AU_SECTION, s_keys, struct au_config, cb_check);
