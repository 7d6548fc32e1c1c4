/* SPDX-License-Identifier: Apache-2.0 */
/* vexfs-watch: file activity under directories, seen from userspace, to propagation. */
#include "vx_daemon.h"
#include "vx_log.h"
#include "wt_config.h"
#include "wt_server.h"

static const struct vx_cfg_section *const s_sections[] = {
    &wt_cfg_section,
    &vx_cfg_transport_section,
    &vx_cfg_admin_section,
    &vx_cfg_logging_section,
    &vx_cfg_security_section,
};

int
main(int argc, char **argv)
{
    struct vx_daemon d = {
        .name = "vexfs-watch",
        .summary = "Usage: vexfs-watch DIR... [--config FILE]\n"
                   "Watches the trees under each DIR from userspace (fanotify where permitted,\n"
                   "else recursive inotify) and pushes an event (source userspace_api) for every\n"
                   "create, write (on close), delete, rename, mkdir, rmdir and attribute change to\n"
                   "propagation in batches: for machines where vexfs_events.ko cannot be loaded.",
        .section = WT_SECTION,
        .sections = s_sections,
        .n_sections = sizeof s_sections / sizeof s_sections[0],
        .max_args = 4096,
    };
    int code;
    if (vx_daemon_init(&d, argc, argv, &code) < 0) {
        vx_daemon_fini(&d);
        return code;
    }
    int rc = 2;
    wt_server_t *server = NULL;
    struct wt_config cfg;
    char err[1024];
    bool usage = false;
    if (d.n_args == 0) {
        vx_error("WT-ARGS", "expected at least one directory (see --help)");
        goto out;
    }
    if (vx_config_bind(d.cfg, &wt_cfg_section, &cfg) < 0) {
        vx_error("WT-START", "the configuration does not fit its table");
        goto out;
    }
    server = wt_server_new(&cfg, d.socks, d.metrics, d.args, (size_t)d.n_args, &usage, err,
                           sizeof err);
    if (!server) {
        vx_error("WT-START", "%s", err);
        rc = usage ? 2 : 1;
        goto out;
    }
    rc = 1;
    vx_http_set_ready(d.http, wt_server_ready, server);
    vx_daemon_config_routes(&d, NULL, NULL);
    if (vx_daemon_serve(&d) == 0 && wt_server_run(server, &vx_daemon_stop) == 0) {
        rc = 0;
    }
out:
    /* REST handlers (readiness) end before the server goes. */
    if (d.http) {
        vx_http_stop(d.http);
    }
    wt_server_destroy(&server);
    vx_daemon_fini(&d);
    vx_info("WT-EXIT", "exit %d", rc);
    return rc;
}
