/* SPDX-License-Identifier: Apache-2.0 */
/* vexfs-forwarder: kernel records from /dev/vexfs_events to propagation. */
#include <stdlib.h>
#include <string.h>

#include "fwd_config.h"
#include "fwd_server.h"
#include "vx_daemon.h"
#include "vx_log.h"

static const struct vx_cfg_section *const s_sections[] = {
    &fwd_cfg_section,
    &vx_cfg_transport_section,
    &vx_cfg_admin_section,
    &vx_cfg_logging_section,
    &vx_cfg_security_section,
};

static bool
cb_ready(void *arg, json_t *detail)
{
    return fwd_server_ready(arg, detail);
}

/* Takes --device PATH (or --device=PATH) out of argv: the common options parser knows only
 * --config, --help and --version. Returns the path or NULL. */
static const char *
s_take_device(int *argc, char **argv)
{
    const char *dev = NULL;
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--device") == 0 && i + 1 < *argc) {
            dev = argv[++i];
        } else if (strncmp(argv[i], "--device=", 9) == 0) {
            dev = argv[i] + 9;
        } else {
            argv[out++] = argv[i];
        }
    }
    *argc = out;
    argv[out] = NULL;
    return dev;
}

int
main(int argc, char **argv)
{
    struct vx_daemon d = {
        .name = "vexfs-forwarder",
        .summary = "Reads kernel records from /dev/vexfs_events (vexfs_events.ko), translates them\n"
                   "into events (source kernel_module) and pushes them to propagation in batches.\n"
                   "--device PATH reads another device, file or FIFO of the same records.",
        .section = FWD_SECTION,
        .sections = s_sections,
        .n_sections = sizeof s_sections / sizeof s_sections[0],
    };
    const char *device = s_take_device(&argc, argv);
    int code;
    if (vx_daemon_init(&d, argc, argv, &code) < 0) {
        vx_daemon_fini(&d);
        return code;
    }
    int rc = 1;
    char err[1024];
    fwd_server_t *server = NULL;
    struct fwd_config cfg;
    if (vx_config_bind(d.cfg, &fwd_cfg_section, &cfg) == 0) {
        server = fwd_server_new(&cfg, d.socks, device, d.metrics, err, sizeof err);
    } else {
        snprintf(err, sizeof err, "the configuration does not fit its table");
    }
    if (!server) {
        vx_error("FWD-START", "%s", err);
        goto out;
    }
    vx_http_set_ready(d.http, cb_ready, server);
    vx_daemon_config_routes(&d, NULL, NULL);
    if (vx_daemon_serve(&d) < 0) {
        goto out;
    }
    /* Undelivered events at the shutdown timeout are counted, not an error of the process. */
    fwd_server_run(server, &vx_daemon_stop);
    rc = 0;
out:
    /* REST handlers end before the server (its readiness) goes. */
    if (d.http) {
        vx_http_stop(d.http);
    }
    fwd_server_destroy(&server);
    vx_daemon_fini(&d);
    vx_info("FWD-EXIT", "exit %d", rc);
    return rc;
}
