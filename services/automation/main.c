/* SPDX-License-Identifier: Apache-2.0 */
/* vexfs-automation: complex event processing over routing's automation boundary, and the
 * reactive workflows its matches, events, state changes and REST calls start. */
#include <curl/curl.h>
#include <stdlib.h>

#include "au_config.h"
#include "au_http.h"
#include "au_server.h"
#include "vx_daemon.h"
#include "vx_log.h"
#include "vx_seal.h"

static const struct vx_cfg_section *const s_sections[] = {
    &au_cfg_section,
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
        .name = "vexfs-automation",
        .summary = "Matches complex event patterns (sequence, conjunction, absence, threshold)\n"
                   "over the events routing sends to the automation boundary, raises alerts and\n"
                   "runs reactive workflows (scripts, HTTP calls, events, state) with retries,\n"
                   "compensation, circuit breakers and per-tenant limits.",
        .section = AU_SECTION,
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
    /* Before any thread starts: libcurl's global state is not thread-safe to set up. */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    au_server_t *server = NULL;
    struct au_config cfg;
    if (vx_config_bind(d.cfg, &au_cfg_section, &cfg) < 0) {
        vx_error("AU-START", "the configuration does not fit its table");
        goto out;
    }
    server = au_server_new(&cfg, d.socks, d.metrics, d.sealer, err, sizeof err);
    if (server == NULL) {
        vx_error("AU-START", "%s", err);
        goto out;
    }
    if (au_http_routes(d.http, server, err, sizeof err) < 0) {
        vx_error("AU-START", "%s", err);
        goto out;
    }
    vx_daemon_config_routes(&d, NULL, NULL);
    if (vx_daemon_serve(&d) < 0) {
        goto out;
    }
    rc = au_server_run(server, &vx_daemon_stop) < 0 ? 1 : 0;
out:
    /* Order: REST handlers end before the server goes, the server before its metrics. */
    if (d.http) {
        vx_http_stop(d.http);
    }
    au_server_destroy(&server);
    vx_daemon_fini(&d);
    curl_global_cleanup();
    vx_info("AU-EXIT", "exit %d", rc);
    return rc;
}
