/* SPDX-License-Identifier: Apache-2.0 */
/* vexfs-propagation: ingest, validate, deduplicate, stamp, publish and journal events. */
#include <stdlib.h>

#include "prop_config.h"
#include "prop_http.h"
#include "prop_server.h"
#include "vx_daemon.h"
#include "vx_log.h"
#include "vx_seal.h"

static const struct vx_cfg_section *const s_sections[] = {
    &prop_cfg_section,
    &vx_cfg_kafka_security_section,
    &vx_cfg_transport_section,
    &vx_cfg_admin_section,
    &vx_cfg_logging_section,
    &vx_cfg_security_section,
    &vx_cfg_at_rest_section,
};

/* PUT /v1/config validated a patch: the reloadable keys go to the loop through atomics. */
static void
cb_apply(const vx_config_t *cfg, void *arg)
{
    struct prop_config c;
    if (vx_config_bind(cfg, &prop_cfg_section, &c) == 0) {
        prop_live_load(prop_server_live(arg), &c);
    }
}

int
main(int argc, char **argv)
{
    struct vx_daemon d = {
        .name = "vexfs-propagation",
        .summary = "Ingests semantic filesystem events (ZeroMQ and REST), validates, deduplicates\n"
                   "and stamps them, publishes them to routing and journals them to Kafka.",
        .section = PROP_SECTION,
        .sections = s_sections,
        .n_sections = sizeof s_sections / sizeof s_sections[0],
        /* Two: the ingest and the output are both busy CURVE links, and with one I/O thread
         * the decryption of the one and the encryption of the other take turns. In
         * bench_propagation's curve section (2 cores, 8 paired rounds, medians) CURVE's p99 at
         * 10% load fell from 1.47 to 1.13 ms with two, its throughput unchanged within the
         * noise. */
        .io_threads = 2,
    };
    int code;
    if (vx_daemon_init(&d, argc, argv, &code) < 0) {
        vx_daemon_fini(&d);
        return code;
    }
    int rc = 1;
    char err[1024];
    prop_http_t *routes = NULL;
    prop_server_t *server = NULL;
    struct prop_config cfg;
    struct vx_kafka_security_config kafka_security;
    if (vx_config_bind(d.cfg, &prop_cfg_section, &cfg) < 0 ||
        vx_config_bind(d.cfg, &vx_cfg_kafka_security_section, &kafka_security) < 0) {
        vx_error("PROP-START", "the configuration does not fit its table");
        goto out;
    }
    cfg.kafka_security = &kafka_security;
    cfg.sealer = d.sealer;
    server = prop_server_new(&cfg, d.socks, d.metrics, err, sizeof err);
    if (!server) {
        vx_error("PROP-START", "%s", err);
        goto out;
    }
    routes = prop_http_new(d.http, server, err, sizeof err);
    if (!routes) {
        vx_error("PROP-START", "%s", err);
        goto out;
    }
    vx_daemon_config_routes(&d, cb_apply, server);
    if (vx_daemon_serve(&d) < 0) {
        goto out;
    }
    rc = prop_server_run(server, &vx_daemon_stop) < 0 ? 1 : 0;
out:
    /* Order: REST handlers end before the server goes, the server before its metrics. */
    if (d.http) {
        vx_http_stop(d.http);
    }
    prop_http_destroy(&routes);
    prop_server_destroy(&server);
    vx_daemon_fini(&d);
    vx_info("PROP-EXIT", "exit %d", rc);
    return rc;
}
