/* SPDX-License-Identifier: Apache-2.0 */
/* The reactive_automation section: every key the daemon reads, with bounds and help. */
#include "au_config.h"

static const struct vx_cfg_key s_keys[] = {
    {"max_automation_latency_ms", VX_CFG_INT, "500", 1, 3600000, false,
     "latency budget for one input batch, receipt to last alert; slower batches are counted "
     "in vexfs_automation_slow_batches_total"},
    {"target_throughput_events_per_sec", VX_CFG_INT, "10000", 1, 100000000, false,
     "expected load, exported as vexfs_target_throughput_events_per_second for alert rules"},
    {"max_concurrent_workflows", VX_CFG_INT, "100", 1, 1000000, false,
     "workflows run at once (workflows are not in this version; kept for the seed files)"},
    {"enable_fault_tolerance", VX_CFG_BOOL, "true", 0, 0, false,
     "workflow retries (workflows are not in this version; kept for the seed files)"},
    {"enable_compensation", VX_CFG_BOOL, "true", 0, 0, false,
     "workflow compensation (workflows are not in this version; kept for the seed files)"},
    {"input_endpoint", VX_CFG_STRING, "tcp://127.0.0.1:5554", 0, 1024, false,
     "ZeroMQ PULL endpoint (connected) of routing's automation boundary"},
    {"queue_hwm", VX_CFG_INT, "1000", 1, 1000000, false,
     "ZeroMQ high-water mark in batches for the input socket"},
    {"max_partial_matches", VX_CFG_INT, "10000", 1, 10000000, false,
     "partial matches held per pattern; a new one beyond this evicts the oldest (counted in "
     "vexfs_automation_evictions_total)"},
    {"max_alerts", VX_CFG_INT, "1000", 1, 1000000, false,
     "alerts kept for GET /v1/alerts; older ones are dropped first"},
    {"patterns_file", VX_CFG_STRING, "", 0, 4096, false,
     "JSON file with the pattern set ([...] or {\"patterns\":[...]}) loaded at start; empty: "
     "none"},
    {"rest_bind", VX_CFG_STRING, "127.0.0.1", 0, 64, false, "address of the REST server"},
    {"rest_port", VX_CFG_INT, "8083", 0, 65535, false, "port of the REST server (0: any)"},
};

const struct vx_cfg_section au_cfg_section = {AU_SECTION, s_keys,
                                              sizeof s_keys / sizeof s_keys[0]};
