/* SPDX-License-Identifier: Apache-2.0 */
/* vexfs-routing: decides where each event goes (rules, filters) and forwards it there. */
#include <stdlib.h>

#include "rt_config.h"
#include "rt_http.h"
#include "rt_server.h"
#include "vx_daemon.h"
#include "vx_kafka_conf.h"
#include "vx_log.h"

static const struct vx_cfg_section *const s_sections[] = {
    &rt_cfg_section,
    &vx_cfg_kafka_security_section,
    &vx_cfg_admin_section,
    &vx_cfg_logging_section,
    &vx_cfg_transport_section,
    &vx_cfg_security_section,
};

/* PUT /v1/config validated a patch: the reloadable keys go to the loop through atomics. */
static void
cb_apply(const vx_config_t *cfg, void *arg)
{
    struct rt_config c;
    if (vx_config_bind(cfg, &rt_cfg_section, &c) == 0) {
        rt_live_load(rt_server_live(arg), &c);
    }
}

int
main(int argc, char **argv)
{
    struct vx_daemon d = {
        .name = "vexfs-routing",
        .summary = "Pulls events from vexfs-propagation, decides with routing rules and filters\n"
                   "where each goes, and forwards it to the outputs of its target boundaries\n"
                   "(ZeroMQ or Kafka). SIGHUP rereads the rules file; SIGTERM flushes and exits.",
        .section = RT_SECTION,
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
    rt_http_t *routes = NULL;
    rt_server_t *server = NULL;
    struct rt_config cfg;
    struct vx_kafka_security_config kafka_security;
    if (vx_config_bind(d.cfg, &rt_cfg_section, &cfg) < 0 ||
        vx_config_bind(d.cfg, &vx_cfg_kafka_security_section, &kafka_security) < 0) {
        vx_error("RT-START", "the configuration does not fit its table");
        goto out;
    }
    cfg.kafka_security = &kafka_security;
    server = rt_server_new(&cfg, d.socks, d.metrics, err, sizeof err);
    if (!server) {
        vx_error("RT-START", "%s", err);
        goto out;
    }
    routes = rt_http_new(d.http, server, err, sizeof err);
    if (!routes) {
        vx_error("RT-START", "%s", err);
        goto out;
    }
    vx_daemon_config_routes(&d, cb_apply, server);
    if (vx_daemon_serve(&d) < 0) {
        goto out;
    }
    rc = rt_server_run(server, &vx_daemon_stop, &vx_daemon_reload) < 0 ? 1 : 0;
out:
    /* Order: REST handlers end before the server goes, the server before its metrics. */
    if (d.http) {
        vx_http_stop(d.http);
    }
    rt_http_destroy(&routes);
    rt_server_destroy(&server);
    vx_daemon_fini(&d);
    vx_info("RT-EXIT", "exit %d", rc);
    return rc;
}
