/* SPDX-License-Identifier: Apache-2.0 */
/* vexfs-propagation: ingest, validate, deduplicate, stamp, publish and journal events. */
#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prop_config.h"
#include "prop_http.h"
#include "prop_server.h"
#include "vx_config.h"
#include "vx_http.h"
#include "vx_log.h"
#include "vx_metrics.h"

static volatile sig_atomic_t s_stop;

static void
cb_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static const struct vx_cfg_section *const s_sections[] = {
    &prop_cfg_section,
    &vx_cfg_admin_section,
    &vx_cfg_logging_section,
};
#define S_N_SECTIONS (sizeof s_sections / sizeof s_sections[0])

static void
s_usage(FILE *f)
{
    fprintf(f,
            "usage: vexfs-propagation [--config FILE] [--help] [--version]\n\n"
            "Ingests semantic filesystem events (ZeroMQ and REST), validates, deduplicates and\n"
            "stamps them, publishes them to routing and journals them to Kafka.\n\n"
            "Configuration keys (file sections; environment VEXFS_<SECTION>_<KEY> overrides):\n");
    vx_config_print_help(f, s_sections, S_N_SECTIONS);
}

int
main(int argc, char **argv)
{
    const char *config_path = NULL;
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'h':
            s_usage(stdout);
            return 0;
        case 'V':
            printf("vexfs-propagation %s\n", VX_VERSION);
            return 0;
        default:
            s_usage(stderr);
            return 2;
        }
    }
    vx_log_init("vexfs-propagation", VX_LOG_INFO);

    char err[1024];
    vx_config_t *cfg = NULL;
    if (vx_config_load(&cfg, config_path, s_sections, S_N_SECTIONS, err, sizeof err) < 0) {
        vx_error("PROP-CONFIG", "%s", err);
        return 2;
    }
    enum vx_log_level level;
    if (vx_log_level_parse(vx_config_str(cfg, "logging", "level"), &level) < 0) {
        vx_error("PROP-CONFIG", "logging.level: expected debug, info, warn or error, got '%s'",
                 vx_config_str(cfg, "logging", "level"));
        vx_config_destroy(&cfg);
        return 2;
    }
    vx_log_init("vexfs-propagation", level);
    char *token = vx_config_read_secret(vx_config_str(cfg, "admin", "token_file"), err, sizeof err);
    if (!token && err[0]) {
        vx_error("PROP-CONFIG", "admin.token_file: %s", err);
        vx_config_destroy(&cfg);
        return 2;
    }

    /* We own the signals: CZMQ must not install its own before the first socket. */
    zsys_handler_set(NULL);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = cb_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    int rc = 1;
    vx_metrics_t *metrics = vx_metrics_new();
    vx_http_t *http = NULL;
    prop_http_t *routes = NULL;
    prop_server_t *server = prop_server_new(cfg, metrics, err, sizeof err);
    if (!server) {
        vx_error("PROP-START", "%s", err);
        goto out;
    }
    struct vx_http_opts hopts = {
        .service = "vexfs-propagation",
        .version = VX_VERSION,
        .bind = vx_config_str(cfg, PROP_SECTION, "rest_bind"),
        .port = (uint16_t)vx_config_int(cfg, PROP_SECTION, "rest_port"),
        .body_limit = (size_t)vx_config_int(cfg, "admin", "body_limit_bytes"),
        .conn_limit = (unsigned)vx_config_int(cfg, "admin", "connection_limit"),
        .timeout_s = (unsigned)vx_config_int(cfg, "admin", "request_timeout_s"),
        .token = token,
    };
    const char *herr = NULL;
    http = vx_http_new(&hopts, metrics, &herr);
    if (!http) {
        vx_error("PROP-START", "REST server: %s", herr);
        goto out;
    }
    routes = prop_http_new(http, server, cfg);
    int hrc = vx_http_start(http);
    if (hrc < 0) {
        vx_error("PROP-START", "REST server on %s:%u: %s", hopts.bind, (unsigned)hopts.port,
                 strerror(-hrc));
        goto out;
    }
    vx_info("PROP-START", "vexfs-propagation %s ready: rest %s:%u%s", VX_VERSION, hopts.bind,
            (unsigned)vx_http_port(http),
            token ? "" : " (no admin token: mutating REST calls are refused)");
    rc = prop_server_run(server, &s_stop) < 0 ? 1 : 0;
    vx_http_stop(http);
out:
    vx_http_destroy(&http);
    prop_http_destroy(&routes);
    prop_server_destroy(&server);
    vx_metrics_destroy(&metrics);
    vx_config_destroy(&cfg);
    free(token);
    vx_info("PROP-EXIT", "exit %d", rc);
    return rc;
}
