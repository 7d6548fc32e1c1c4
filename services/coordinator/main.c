/* SPDX-License-Identifier: Apache-2.0 */
/* vexfs-coordinator: a raft-replicated event log with vector clocks and CRDT state. */
#include <errno.h>
#include <stdlib.h>

#include "coord_config.h"
#include "coord_server.h"
#include "vx_daemon.h"
#include "vx_log.h"
#include "vx_seal.h"

static const struct vx_cfg_section *const s_sections[] = {
    &coord_cfg_section,     &vx_cfg_transport_section, &vx_cfg_security_section,
    &vx_cfg_at_rest_section, &vx_cfg_admin_section,    &vx_cfg_logging_section,
};

/* PUT /v1/config validated a patch: the reloadable keys go to the server. */
static void
cb_apply(const vx_config_t *cfg, void *arg)
{
    struct coord_config c;
    if (vx_config_bind(cfg, &coord_cfg_section, &c) == 0) {
        coord_server_apply(arg, &c);
    }
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
    coord_server_t *server = NULL;
    struct coord_config cfg;
    struct vx_security_config sec;
    if (vx_config_bind(d.cfg, &coord_cfg_section, &cfg) < 0 ||
        vx_config_bind(d.cfg, &vx_cfg_security_section, &sec) < 0) {
        vx_error("COORD-START", "the configuration does not fit its table");
        goto out;
    }
    struct vx_at_rest_config ar = {0};
    if (d.sealer && vx_config_bind(d.cfg, &vx_cfg_at_rest_section, &ar) < 0) {
        vx_error("COORD-START", "the configuration does not fit its table");
        goto out;
    }
    struct coord_server_deps deps = {.metrics = d.metrics, .http = d.http, .socks = d.socks,
                                     .security = &sec, .sealer = d.sealer,
                                     .data_keys_dir = ar.data_keys_dir,
                                     .seal_algorithm = ar.algorithm};
    int src = coord_server_alloc(&server, &cfg, &deps, err, sizeof err);
    if (src < 0) {
        vx_error("COORD-START", "%s", err);
        rc = src == -EINVAL ? 2 : 1; /* 2: the configuration, as for vx_daemon_init */
        goto out;
    }
    vx_daemon_config_routes(&d, cb_apply, server);
    if (vx_daemon_serve(&d) < 0) {
        goto out;
    }
    rc = coord_server_run(server, &vx_daemon_stop) < 0 ? 1 : 0;
out:
    /* Order: REST handlers end before the server stops raft, all before the metrics. */
    if (d.http) {
        vx_http_stop(d.http);
    }
    coord_server_destroy(&server);
    vx_daemon_fini(&d);
    vx_info("COORD-EXIT", "exit %d", rc);
    return rc;
}
