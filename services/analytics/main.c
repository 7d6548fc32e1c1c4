/* SPDX-License-Identifier: Apache-2.0 */
/* vexfs-analytics: windowed aggregations, anomalies and metrics over the routed event stream. */
#include <stdlib.h>

#include "an_config.h"
#include "an_http.h"
#include "an_mon_http.h"
#include "an_monitor.h"
#include "an_notify.h"
#include "an_server.h"
#include "vx_daemon.h"
#include "vx_kafka_conf.h"
#include "vx_log.h"
#include "vx_seal.h"

static const struct vx_cfg_section *const s_sections[] = {
    &an_cfg_section,
    &an_mon_cfg_section,
    &vx_cfg_kafka_security_section,
    &vx_cfg_admin_section,
    &vx_cfg_logging_section,
    &vx_cfg_transport_section,
    &vx_cfg_security_section,
    &vx_cfg_at_rest_section,
};

int
main(int argc, char **argv)
{
    struct vx_daemon d = {
        .name = "vexfs-analytics",
        .summary = "Consumes routed events (a Kafka consumer group, or ZeroMQ), computes tumbling,\n"
                   "sliding and session windows with group-by aggregations, detects anomalies\n"
                   "and serves the results over REST, ZeroMQ and /metrics. Also monitors the\n"
                   "suite: alert rules on any service's metrics (webhook, email) and system health.",
        .section = AN_SECTION,
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
    an_http_t *routes = NULL;
    an_server_t *server = NULL;
    an_monitor_t *monitor = NULL;
    struct an_config cfg;
    struct an_mon_config mon_cfg;
    struct vx_kafka_security_config kafka_security;
    if (vx_config_bind(d.cfg, &an_cfg_section, &cfg) < 0 ||
        vx_config_bind(d.cfg, &an_mon_cfg_section, &mon_cfg) < 0 ||
        vx_config_bind(d.cfg, &vx_cfg_kafka_security_section, &kafka_security) < 0) {
        vx_error("AN-START", "the configuration does not fit its table");
        goto out;
    }
    cfg.kafka_security = &kafka_security;
    an_fetch_set_tls(d.tls_ca_file, d.tls_client_cert_file, d.tls_client_key_file);
    monitor = an_monitor_new(&mon_cfg, d.metrics, cfg.state_dir, d.sealer, err, sizeof err);
    if (!monitor) {
        vx_error("AN-START", "%s", err);
        goto out;
    }
    server = an_server_new(&cfg, d.socks, d.metrics, d.sealer, err, sizeof err);
    if (!server) {
        vx_error("AN-START", "%s", err);
        goto out;
    }
    an_server_set_monitor(server, monitor);
    routes = an_http_new(d.http, server, err, sizeof err);
    if (!routes || an_mon_http_routes(d.http, monitor, err, sizeof err) < 0) {
        vx_error("AN-START", "%s", err);
        goto out;
    }
    vx_daemon_config_routes(&d, NULL, NULL);
    if (vx_daemon_serve(&d) < 0) {
        goto out;
    }
    rc = an_server_run(server, &vx_daemon_stop) < 0 ? 1 : 0;
out:
    /* Order: REST handlers end before the server goes, the server before its metrics. */
    if (d.http) {
        vx_http_stop(d.http);
    }
    an_http_destroy(&routes);
    an_server_destroy(&server);
    an_monitor_destroy(&monitor);
    vx_daemon_fini(&d);
    vx_info("AN-EXIT", "exit %d", rc);
    return rc;
}
