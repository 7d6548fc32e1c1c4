/* SPDX-License-Identifier: Apache-2.0 */
/* vexfs-fuse: a passthrough FUSE filesystem that reports its operations to propagation. */
#include "fu_config.h"
#include "fu_server.h"
#include "vx_daemon.h"
#include "vx_log.h"

static const struct vx_cfg_section *const s_sections[] = {
    &fu_cfg_section,
    &vx_cfg_transport_section,
    &vx_cfg_admin_section,
    &vx_cfg_logging_section,
    &vx_cfg_security_section,
};

int
main(int argc, char **argv)
{
    struct vx_daemon d = {
        .name = "vexfs-fuse",
        .summary = "Usage: vexfs-fuse SOURCE MOUNTPOINT [--config FILE]\n"
                   "Mounts SOURCE at MOUNTPOINT as a passthrough FUSE filesystem and pushes an\n"
                   "event (source fuse) for every create, write burst, unlink, rename, mkdir,\n"
                   "rmdir, chmod, chown and truncate served (reads with capture_reads) to\n"
                   "propagation in batches. SIGTERM unmounts and exits.",
        .section = FU_SECTION,
        .sections = s_sections,
        .n_sections = sizeof s_sections / sizeof s_sections[0],
        .max_args = 2,
    };
    int code;
    if (vx_daemon_init(&d, argc, argv, &code) < 0) {
        vx_daemon_fini(&d);
        return code;
    }
    int rc = 2;
    fu_server_t *server = NULL;
    struct fu_config cfg;
    char err[1024];
    if (d.n_args != 2) {
        vx_error("FU-ARGS", "expected SOURCE and MOUNTPOINT (see --help), got %d arguments",
                 d.n_args);
        goto out;
    }
    if (vx_config_bind(d.cfg, &fu_cfg_section, &cfg) < 0) {
        vx_error("FU-START", "the configuration does not fit its table");
        goto out;
    }
    server = fu_server_new(&cfg, d.socks, d.metrics, d.args[0], d.args[1], err, sizeof err);
    if (!server) {
        vx_error("FU-START", "%s", err);
        rc = 1;
        goto out;
    }
    rc = 1;
    vx_http_set_ready(d.http, fu_server_ready, server);
    vx_daemon_config_routes(&d, NULL, NULL);
    if (vx_daemon_serve(&d) == 0 && fu_server_run(server, &vx_daemon_stop) == 0) {
        rc = 0;
    }
out:
    /* REST handlers (readiness) end before the server goes. */
    if (d.http) {
        vx_http_stop(d.http);
    }
    fu_server_destroy(&server);
    vx_daemon_fini(&d);
    vx_info("FU-EXIT", "exit %d", rc);
    return rc;
}
