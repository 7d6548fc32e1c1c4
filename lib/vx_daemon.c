/* SPDX-License-Identifier: Apache-2.0 */
/* The common start and end of every daemon: command line, configuration, signals, REST. */
#include "vx_daemon.h"

#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vx_log.h"
#include "vx_mem.h"
#include "vx_tls.h"

volatile sig_atomic_t vx_daemon_stop;
volatile sig_atomic_t vx_daemon_reload;

struct s_priv {
    pthread_mutex_t mu;
    vx_config_t *current; /* effective configuration after live patches; guarded by mu */
    vx_daemon_apply_fn *apply;
    void *apply_arg;
    const char *section;
};

static void
cb_stop(int sig)
{
    (void)sig;
    vx_daemon_stop = 1;
}

static void
cb_reload(int sig)
{
    (void)sig;
    vx_daemon_reload = 1;
}

static void
s_usage(const struct vx_daemon *d, FILE *f)
{
    fprintf(f, "usage: %s [--config FILE] [--check] [--print-config] [--help] [--version]\n\n%s\n\n"
               "  --check         validate the configuration (file, environment, token file) and exit\n"
               "  --print-config  validate it, print the effective configuration as JSON (secrets\n"
               "                  masked) and exit\n\n"
               "Configuration keys (file sections; environment VEXFS_<SECTION>_<KEY> overrides):\n",
            d->name, d->summary);
    vx_config_print_help(f, d->sections, d->n_sections);
}

/* The socket factory from the transport section; a program that does not list the section
 * gets its defaults (and the environment's overrides). */
static int
s_make_socks(struct vx_daemon *d, char *err, size_t errlen)
{
    const vx_config_t *from = d->cfg;
    vx_config_t *defaults = NULL;
    bool listed = false;
    for (size_t i = 0; i < d->n_sections; i++) {
        listed = listed || d->sections[i] == &vx_cfg_transport_section;
    }
    if (!listed) {
        static const struct vx_cfg_section *const only[] = {&vx_cfg_transport_section};
        if (vx_config_load(&defaults, NULL, only, 1, err, errlen) < 0) {
            return -EINVAL;
        }
        from = defaults;
    }
    struct vx_transport_config tc;
    int rc = vx_config_bind(from, &vx_cfg_transport_section, &tc);
    vx_config_destroy(&defaults);
    if (rc < 0) {
        snprintf(err, errlen, "transport: the section does not fit its table");
        return rc;
    }
    struct vx_security_config sc;
    bool secured = false;
    for (size_t i = 0; i < d->n_sections; i++) {
        secured = secured || d->sections[i] == &vx_cfg_security_section;
    }
    if (secured && vx_config_bind(d->cfg, &vx_cfg_security_section, &sc) < 0) {
        snprintf(err, errlen, "security: the section does not fit its table");
        return -EINVAL;
    }
    const char *program = strncmp(d->name, "vexfs-", 6) == 0 ? d->name + 6 : d->name;
    d->socks = vx_socks_new(&tc, secured ? &sc : NULL, program, d->metrics, err, errlen);
    if (d->socks && secured) {
        if (vx_socks_curve(d->socks)) {
            vx_info("DAEMON-CURVE", "ZeroMQ links use CURVE: keys in %s, identity %s",
                    sc.keys_dir, sc.identity[0] ? sc.identity : program);
        } else {
            vx_warn("DAEMON-PLAIN", "security.curve is off: plain ZeroMQ links, allowed on "
                                    "loopback and ipc:// endpoints only");
        }
    }
    return d->socks ? 0 : -EINVAL;
}

/* The admin server's TLS material, read from the security section's tls_dir. */
struct s_tls {
    char *cert, *key, *client_ca; /* PEM text; NULL: plain HTTP / no client check */
};

static void
s_tls_fini(struct s_tls *t)
{
    free(t->cert);
    free(t->key);
    free(t->client_ca);
    *t = (struct s_tls){0};
}

static bool
s_loopback(const char *ipv4)
{
    return strncmp(ipv4, "127.", 4) == 0;
}

/* Reads server.crt, server.key and, for mutual TLS, ca.crt from security.tls_dir, refusing a
 * start with a precise message when one is missing, unreadable, malformed or not a pair; with
 * security.tls off, refuses a REST bind off loopback. Fills the client-side paths too. */
static int
s_load_tls(struct vx_daemon *d, struct s_tls *t, char *err, size_t errlen)
{
    bool secured = false;
    for (size_t i = 0; i < d->n_sections; i++) {
        secured = secured || d->sections[i] == &vx_cfg_security_section;
    }
    if (!secured) {
        return 0;
    }
    struct vx_security_config sc;
    if (vx_config_bind(d->cfg, &vx_cfg_security_section, &sc) < 0) {
        snprintf(err, errlen, "security: the section does not fit its table");
        return -EINVAL;
    }
    const char *bind = vx_config_str(d->cfg, d->section, "rest_bind");
    if (strcmp(sc.tls, "off") == 0) {
        if (!s_loopback(bind)) {
            snprintf(err, errlen,
                     "security.tls is off, so rest_bind must be a loopback address, not %s",
                     bind);
            return -EPERM;
        }
        vx_warn("DAEMON-PLAIN-HTTP", "security.tls is off: plain HTTP on %s only", bind);
        return 0;
    }
    char path[4200], perr[4400];
    snprintf(path, sizeof path, "%s/server.crt", sc.tls_dir);
    t->cert = vx_tls_read_pem(path, false, NULL, perr, sizeof perr);
    if (t->cert) {
        snprintf(path, sizeof path, "%s/server.key", sc.tls_dir);
        t->key = vx_tls_read_pem(path, true, NULL, perr, sizeof perr);
    }
    if (t->key && vx_tls_check_pair(t->cert, t->key, perr, sizeof perr) < 0) {
        char why[300];
        snprintf(why, sizeof why, "%s", perr);
        snprintf(perr, sizeof perr, "%s/server.crt and server.key: %s", sc.tls_dir, why);
        vx_free(&t->key);
    }
    if (t->key && sc.tls_client_auth) {
        snprintf(path, sizeof path, "%s/ca.crt", sc.tls_dir);
        t->client_ca = vx_tls_read_pem(path, false, NULL, perr, sizeof perr);
        if (!t->client_ca) {
            vx_free(&t->key);
        }
    }
    if (!t->key) {
        snprintf(err, errlen, "security.tls is required: %s", perr);
        return -EINVAL;
    }
    snprintf(d->tls_ca_file, sizeof d->tls_ca_file, "%s/ca.crt", sc.tls_dir);
    const char *who = sc.identity[0] ? sc.identity
                      : strncmp(d->name, "vexfs-", 6) == 0 ? d->name + 6 : d->name;
    snprintf(d->tls_client_cert_file, sizeof d->tls_client_cert_file, "%s/%s.crt", sc.tls_dir,
             who);
    snprintf(d->tls_client_key_file, sizeof d->tls_client_key_file, "%s/%s.key", sc.tls_dir, who);
    return 0;
}

int
vx_daemon_init(struct vx_daemon *d, int argc, char **argv, int *exit_code)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check", no_argument, NULL, 'C'},
        {"print-config", no_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    *exit_code = 2;
    bool check_only = false;
    bool print_config = false;
    int c;
    while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            d->config_path = optarg;
            break;
        case 'C':
            check_only = true;
            break;
        case 'P':
            print_config = true;
            break;
        case 'h':
            s_usage(d, stdout);
            *exit_code = 0;
            return -1;
        case 'V':
            printf("%s %s\n", d->name, VX_VERSION);
            *exit_code = 0;
            return -1;
        default:
            s_usage(d, stderr);
            return -1;
        }
    }
    d->args = argv + optind;
    d->n_args = argc - optind;
    if (d->n_args > d->max_args) {
        fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n", d->name,
                argv[optind + d->max_args]);
        return -1;
    }
    vx_log_init(d->name, VX_LOG_INFO);

    char err[1024];
    if (vx_config_load(&d->cfg, d->config_path, d->sections, d->n_sections, err, sizeof err) < 0) {
        vx_error("DAEMON-CONFIG", "%s", err);
        return -1;
    }
    struct vx_logging_config logging;
    struct vx_admin_config admin;
    if (vx_config_bind(d->cfg, &vx_cfg_logging_section, &logging) < 0 ||
        vx_config_bind(d->cfg, &vx_cfg_admin_section, &admin) < 0) {
        vx_error("DAEMON-CONFIG", "the admin and logging sections are not in this program's tables");
        return -1;
    }
    enum vx_log_level level = VX_LOG_INFO;
    vx_log_level_parse(logging.level, &level); /* checked when the configuration loaded */
    vx_log_init(d->name, level);
    d->token = vx_config_read_secret(admin.token_file, err, sizeof err);
    if (!d->token && err[0]) {
        vx_error("DAEMON-CONFIG", "admin.token_file: %s", err);
        return -1;
    }
    if (print_config) {
        json_t *eff = vx_config_to_json(d->cfg);
        char *text = json_dumps(eff, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("%s\n", text ? text : "{}");
        free(text);
        json_decref(eff);
        *exit_code = text ? 0 : 1;
        return -1;
    }
    if (check_only) {
        printf("%s: configuration %s is valid\n", d->name,
               d->config_path ? d->config_path : "(defaults)");
        *exit_code = 0;
        return -1;
    }

    /* The daemon owns the signals: CZMQ must not install its own at the first socket. */
    zsys_handler_set(NULL);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction stop = {.sa_handler = cb_stop};
    struct sigaction reload = {.sa_handler = cb_reload};
    sigaction(SIGTERM, &stop, NULL);
    sigaction(SIGINT, &stop, NULL);
    sigaction(SIGHUP, &reload, NULL);

    d->metrics = vx_metrics_new();
    if (s_make_socks(d, err, sizeof err) < 0) {
        vx_error("DAEMON-CONFIG", "%s", err);
        return -1;
    }
    struct s_tls tls = {0};
    if (s_load_tls(d, &tls, err, sizeof err) < 0) {
        vx_error("DAEMON-CONFIG", "%s", err);
        s_tls_fini(&tls);
        return -1;
    }
    struct vx_http_opts hopts = {
        .service = d->name,
        .version = VX_VERSION,
        .bind = vx_config_str(d->cfg, d->section, "rest_bind"),
        .port = (uint16_t)vx_config_int(d->cfg, d->section, "rest_port"),
        .body_limit = (size_t)admin.body_limit_bytes,
        .conn_limit = (unsigned)admin.connection_limit,
        .timeout_s = (unsigned)admin.request_timeout_s,
        .token = d->token,
        .tls_cert = tls.cert,
        .tls_key = tls.key,
        .tls_client_ca = tls.client_ca,
    };
    const char *herr = NULL;
    d->http = vx_http_new(&hopts, d->metrics, &herr);
    s_tls_fini(&tls); /* the server keeps copies */
    if (!d->http) {
        vx_error("DAEMON-CONFIG", "REST server: %s", herr);
        return -1;
    }
    struct s_priv *p = vx_calloc(1, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    d->priv = p;
    *exit_code = 0;
    return 0;
}

static void
cb_get_config(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    (void)req;
    struct s_priv *p = arg;
    pthread_mutex_lock(&p->mu);
    resp->json = vx_config_to_json(p->current);
    pthread_mutex_unlock(&p->mu);
}

static void
cb_put_config(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    struct s_priv *p = arg;
    json_t *body = vx_http_req_json(req);
    json_t *patch = body;
    if (json_is_object(body) && json_object_size(body) == 1 &&
        json_object_get(body, p->section)) {
        patch = json_object_get(body, p->section);
    }
    char err[512];
    vx_config_t *next = NULL;
    pthread_mutex_lock(&p->mu);
    int rc = vx_config_patch(p->current, p->section, patch, &next, err, sizeof err);
    if (rc == 0) {
        vx_config_destroy(&p->current);
        p->current = next;
        if (p->apply) {
            p->apply(next, p->apply_arg);
        }
        resp->json = vx_config_to_json(next);
    }
    pthread_mutex_unlock(&p->mu);
    if (rc < 0) {
        vx_http_error(resp, 422, "invalid_config", "%s", err);
    } else {
        vx_info("DAEMON-CONFIG-PATCH", "configuration changed live");
    }
}

void
vx_daemon_config_routes(struct vx_daemon *d, vx_daemon_apply_fn *apply, void *arg)
{
    struct s_priv *p = d->priv;
    /* A private copy, so live patches never touch the configuration the service was built
     * from. */
    p->current = vx_config_dup(d->cfg);
    p->apply = apply;
    p->apply_arg = arg;
    p->section = d->section;
    vx_http_route(d->http, "GET", "/v1/config", cb_get_config, p);
    vx_http_route(d->http, "PUT", "/v1/config", cb_put_config, p);
}

void
vx_daemon_block_stops(sigset_t *waitmask)
{
    sigset_t stops;
    sigemptyset(&stops);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGINT);
    sigaddset(&stops, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stops, waitmask);
    sigdelset(waitmask, SIGTERM);
    sigdelset(waitmask, SIGINT);
    sigdelset(waitmask, SIGHUP);
}

int
vx_daemon_serve(struct vx_daemon *d)
{
    int rc = vx_http_start(d->http);
    if (rc < 0) {
        vx_error("DAEMON-START", "REST server on %s:%lld: %s",
                 vx_config_str(d->cfg, d->section, "rest_bind"),
                 vx_config_int(d->cfg, d->section, "rest_port"), strerror(-rc));
        return rc;
    }
    vx_info("DAEMON-START", "%s %s: rest %s:%u%s", d->name, VX_VERSION,
            vx_config_str(d->cfg, d->section, "rest_bind"), (unsigned)vx_http_port(d->http),
            d->token ? "" : " (no admin token: mutating REST calls are refused)");
    return 0;
}

void
vx_daemon_fini(struct vx_daemon *d)
{
    if (d->http) {
        vx_http_stop(d->http);
    }
    vx_http_destroy(&d->http);
    struct s_priv *p = d->priv;
    if (p) {
        vx_config_destroy(&p->current);
        pthread_mutex_destroy(&p->mu);
        vx_free(&d->priv);
    }
    vx_socks_destroy(&d->socks); /* its ZAP handler counts into the registry */
    vx_metrics_destroy(&d->metrics);
    vx_config_destroy(&d->cfg);
    vx_free(&d->token);
}
