/* SPDX-License-Identifier: Apache-2.0 */
/* vexfs-coordinator: a raft-replicated event log with vector clocks and CRDT state. */
#include <stdlib.h>
#include <unistd.h>

#include "coord_config.h"
#include "coord_fsm.h"
#include "coord_http.h"
#include "coord_raft.h"
#include "vx_daemon.h"
#include "vx_log.h"

#define S "distributed_coordination"

static const struct vx_cfg_section *const s_sections[] = {
    &coord_cfg_section,
    &vx_cfg_admin_section,
    &vx_cfg_logging_section,
    &vx_cfg_transport_section,
    &vx_cfg_security_section,
};

static void
cb_apply(const vx_config_t *cfg, void *arg)
{
    coord_raft_set_max_latency(arg, (unsigned)vx_config_int(cfg, S, "max_consensus_latency_ms"));
}

/* Reads the section into the state machine's and the raft node's options. */
static int
s_options(const vx_config_t *cfg, struct coord_fsm_opts *fo, struct coord_raft_opts *ro,
          char *err, size_t errlen)
{
    if (coord_strategies_parse(&fo->strategies, vx_config_str(cfg, S, "conflict_strategies"),
                               vx_config_str(cfg, S, "default_strategy"), err, errlen) < 0) {
        return -1;
    }
    fo->resolve_conflicts = vx_config_bool(cfg, S, "enable_conflict_resolution");
    fo->log_memory = (size_t)vx_config_int(cfg, S, "log_memory_entries");
    ro->node_id = (uint64_t)vx_config_int(cfg, S, "node_id");
    if (coord_members_parse(vx_config_str(cfg, S, "members"), ro->members, COORD_MAX_MEMBERS,
                            &ro->n_members, err, errlen) < 0) {
        return -1;
    }
    ro->bootstrap = vx_config_bool(cfg, S, "bootstrap");
    if (!vx_config_bool(cfg, S, "enable_raft_consensus")) {
        /* A cluster of one: keep only this node's own entry. */
        for (size_t i = 0; i < ro->n_members; i++) {
            if (ro->members[i].id == ro->node_id) {
                ro->members[0] = ro->members[i];
                ro->n_members = 1;
            }
        }
    }
    ro->data_dir = vx_config_str(cfg, S, "data_dir");
    ro->raft_bind = vx_config_str(cfg, S, "raft_bind");
    ro->election_ms = (unsigned)vx_config_int(cfg, S, "election_timeout_ms");
    ro->heartbeat_ms = (unsigned)vx_config_int(cfg, S, "heartbeat_ms");
    ro->connect_retry_ms = (unsigned)vx_config_int(cfg, S, "connect_retry_ms");
    ro->snapshot_threshold = (unsigned)vx_config_int(cfg, S, "snapshot_threshold");
    ro->snapshot_trailing = (unsigned)vx_config_int(cfg, S, "snapshot_trailing");
    ro->pre_vote = vx_config_bool(cfg, S, "enable_partition_tolerance");
    ro->cluster_size = (unsigned)vx_config_int(cfg, S, "cluster_size");
    ro->input_endpoint = vx_config_str(cfg, S, "input_endpoint");
    ro->max_latency_ms = (unsigned)vx_config_int(cfg, S, "max_consensus_latency_ms");
    if (ro->heartbeat_ms >= ro->election_ms) {
        snprintf(err, errlen, "heartbeat_ms (%u) must be below election_timeout_ms (%u)",
                 ro->heartbeat_ms, ro->election_ms);
        return -1;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    struct vx_daemon d = {
        .name = "vexfs-coordinator",
        .summary = "Replicates committed event batches over raft (libraft), keeps per-key CRDT\n"
                   "state ordered by vector clocks, resolves conflicts and administers the cluster.",
        .section = COORD_SECTION,
        .sections = s_sections,
        .n_sections = sizeof s_sections / sizeof s_sections[0],
    };
    int code;
    if (vx_daemon_init(&d, argc, argv, &code) < 0) {
        vx_daemon_fini(&d);
        return code;
    }
    int rc = 1;
    char err[1024];
    struct coord_fsm_opts fo = {.metrics = d.metrics};
    struct coord_raft_opts ro = {0};
    coord_fsm_t *fsm = NULL;
    coord_raft_t *raft = NULL;
    coord_http_t *routes = NULL;
    if (s_options(d.cfg, &fo, &ro, err, sizeof err) < 0) {
        vx_error("COORD-CONFIG", "%s", err);
        rc = 2;
        goto out;
    }
    fsm = coord_fsm_new(&fo);
    ro.socks = d.socks;
    raft = coord_raft_new(&ro, fsm, d.metrics, err, sizeof err);
    if (!raft) {
        vx_error("COORD-START", "%s", err);
        goto out;
    }
    int apply_ms = (int)vx_config_int(d.cfg, S, "apply_timeout_ms");
    struct coord_http_opts ho = {
        .node_id = ro.node_id,
        .apply_timeout_ms = apply_ms,
        .transfer_timeout_ms = 4 * (int)ro.election_ms + 1000,
        .member_timeout_ms = apply_ms * 4,
    };
    routes = coord_http_new(d.http, raft, fsm, d.metrics, &ho);
    vx_daemon_config_routes(&d, cb_apply, raft);
    if (vx_daemon_serve(&d) < 0) {
        goto out;
    }
    vx_info("COORD-START", "node %llu with %zu members, data in %s",
            (unsigned long long)ro.node_id, ro.n_members, ro.data_dir);
    while (!vx_daemon_stop) {
        usleep(50 * 1000);
    }
    rc = 0;
out:
    /* Order: REST handlers end before raft stops, raft before the state machine, all before
     * the metrics registry. */
    if (d.http) {
        vx_http_stop(d.http);
    }
    coord_http_destroy(&routes);
    coord_raft_destroy(&raft);
    coord_fsm_destroy(&fsm);
    vx_daemon_fini(&d);
    vx_info("COORD-EXIT", "exit %d", rc);
    return rc;
}
