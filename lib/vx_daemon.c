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
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "vx_audit.h"
#include "vx_clock.h"
#include "vx_creds.h"
#include "vx_log.h"
#include "vx_mem.h"
#include "vx_tls.h"
#include "vx_yaml.h"

#define S_WATCH_PERIOD_MS 500

volatile sig_atomic_t vx_daemon_stop;
volatile sig_atomic_t vx_daemon_reload;
/* Counts SIGHUPs for the credentials watcher, which must not consume vx_daemon_reload: the
 * service's own loop reads that one. */
static volatile sig_atomic_t s_hups;

/* What identifies a version of the credentials file without reading it. */
struct s_filesig {
    bool present;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

/* The REST API's credentials and audit log, for a program that lists the security section. */
struct s_security {
    struct vx_security_config sc; /* strings borrowed from the daemon's configuration */
    const char *token;            /* admin.token_file's token (borrowed), or NULL */
    vx_audit_t *audit;            /* NULL when audit_dir is empty */
    char audit_path[VX_PATH_MAX];
    struct s_filesig sig;         /* of the file last loaded */
    sig_atomic_t hups_seen;
    pthread_t watcher;
    bool watching;
    pthread_mutex_t mu;           /* guards stop */
    pthread_cond_t wake;
    bool stop;
};

struct s_priv {
    pthread_mutex_t mu;
    vx_config_t *current; /* effective configuration after live patches; guarded by mu */
    vx_daemon_apply_fn *apply;
    void *apply_arg;
    const char *section;
    struct s_security *sec; /* NULL without the security section */
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
    s_hups++;
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

static bool
s_lists_security(const struct vx_daemon *d)
{
    for (size_t i = 0; i < d->n_sections; i++) {
        if (d->sections[i] == &vx_cfg_security_section) {
            return true;
        }
    }
    return false;
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
    bool secured = s_lists_security(d);
    if (secured && vx_config_bind(d->cfg, &vx_cfg_security_section, &sc) < 0) {
        snprintf(err, errlen, "security: the section does not fit its table");
        return -EINVAL;
    }
    if (tc.io_threads == 0) {
        tc.io_threads = d->io_threads;
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
    char *cert, *key; /* PEM text; NULL: plain HTTP */
    char *ca;         /* the authority client certificates are checked against, or NULL */
    bool required;    /* mutual TLS: a client certificate is required */
};

static void
s_tls_fini(struct s_tls *t)
{
    free(t->cert);
    free(t->key);
    free(t->ca);
    *t = (struct s_tls){0};
}

static bool
s_loopback(const char *ipv4)
{
    return strncmp(ipv4, "127.", 4) == 0;
}

/* Reads server.crt, server.key and ca.crt from security.tls_dir, refusing a start with a
 * precise message when one is missing, unreadable, malformed or not a pair (ca.crt only
 * matters for mutual TLS: without it, client certificates are not asked for); with
 * security.tls off, refuses a REST bind off loopback. Fills the client-side paths too. */
static int
s_load_tls(struct vx_daemon *d, struct s_tls *t, char *err, size_t errlen)
{
    if (!s_lists_security(d)) {
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
    char path[VX_PATH_MAX], perr[4400];
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
    if (t->key) {
        /* Client certificates are always asked for (they may be credentials); mutual TLS
         * makes them mandatory. */
        snprintf(path, sizeof path, "%s/ca.crt", sc.tls_dir);
        t->ca = vx_tls_read_pem(path, false, NULL, perr, sizeof perr);
        t->required = sc.tls_client_auth;
        if (!t->ca && sc.tls_client_auth) {
            vx_free(&t->key);
        } else if (!t->ca) {
            vx_warn("DAEMON-TLS-CA", "%s: client certificates are not asked for", perr);
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

/* --- credentials and the audit log (the security section) ----------------------------- */

static void
s_filesig_read(const char *path, struct s_filesig *sig)
{
    struct stat st;
    *sig = (struct s_filesig){0};
    if (stat(path, &st) == 0) {
        *sig = (struct s_filesig){true, st.st_dev, st.st_ino, st.st_size, st.st_mtim};
    }
}

static bool
s_filesig_eq(const struct s_filesig *a, const struct s_filesig *b)
{
    return a->present == b->present && a->dev == b->dev && a->ino == b->ino &&
           a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
           a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* Loads the credentials file and adds the admin token (admin.token_file), when there is one,
 * as an admin credential for every tenant named "admin" ("admin-token" when the file has an
 * "admin"), unless the file lists that token already. */
static vx_creds_t *
s_creds_load(const char *path, const char *token, char *err, size_t errlen)
{
    char lerr[1024];
    if (!path[0]) {
        snprintf(err, errlen, "security.credentials_file: empty: the REST API needs a "
                              "credentials file (see Credentials in the README)");
        return NULL;
    }
    json_t *doc = vx_yaml_load_file(path, lerr, sizeof lerr);
    if (!doc) {
        snprintf(err, errlen, "security.credentials_file: %s%s%s",
                 strncmp(lerr, path, strlen(path)) == 0 ? "" : path,
                 strncmp(lerr, path, strlen(path)) == 0 ? "" : ": ", lerr);
        return NULL;
    }
    json_t *list = json_object_get(doc, "credentials");
    if (token && json_is_array(list)) {
        char hex[65];
        vx_sha256_hex(token, strlen(token), hex);
        bool listed = false, named = false;
        size_t i;
        json_t *e;
        json_array_foreach(list, i, e) {
            const char *h = json_string_value(json_object_get(e, "token_sha256"));
            const char *n = json_string_value(json_object_get(e, "name"));
            listed = listed || (h && strcasecmp(h, hex) == 0);
            named = named || (n && strcmp(n, "admin") == 0);
        }
        if (!listed) {
            json_array_append_new(list, json_pack("{s:s, s:s, s:[s], s:s}", "name",
                                                  named ? "admin-token" : "admin", "role",
                                                  "admin", "tenants", "*", "token_sha256", hex));
        }
    }
    vx_creds_t *c = vx_creds_from_json(doc, path, lerr, sizeof lerr);
    json_decref(doc);
    if (!c) {
        snprintf(err, errlen, "security.credentials_file: %s", lerr);
    }
    return c;
}

/* Binds the security section and loads the credentials, for a program that lists the
 * section; the set waits in *creds until the REST server exists. */
static int
s_security_init(struct vx_daemon *d, struct s_priv *p, vx_creds_t **creds, char *err,
                size_t errlen)
{
    if (!s_lists_security(d)) {
        return 0;
    }
    struct s_security *sec = vx_calloc(1, sizeof *sec);
    pthread_mutex_init(&sec->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sec->wake, &ca);
    pthread_condattr_destroy(&ca);
    p->sec = sec;
    if (vx_config_bind(d->cfg, &vx_cfg_security_section, &sec->sc) < 0) {
        snprintf(err, errlen, "security: the section does not fit its table");
        return -EINVAL;
    }
    sec->token = d->token;
    sec->hups_seen = s_hups;
    /* The file's identity is taken before it is read: a change while reading is seen later. */
    s_filesig_read(sec->sc.credentials_file, &sec->sig);
    *creds = s_creds_load(sec->sc.credentials_file, sec->token, err, errlen);
    return *creds ? 0 : -EINVAL;
}

/* Loads the data keys when the program lists the at_rest section and encryption is
 * required; says at start which algorithm seals, or that nothing is sealed. */
static int
s_at_rest_init(struct vx_daemon *d, char *err, size_t errlen)
{
    bool listed = false;
    for (size_t i = 0; i < d->n_sections; i++) {
        listed = listed || d->sections[i] == &vx_cfg_at_rest_section;
    }
    if (!listed) {
        return 0;
    }
    struct vx_at_rest_config ar;
    if (vx_config_bind(d->cfg, &vx_cfg_at_rest_section, &ar) < 0) {
        snprintf(err, errlen, "at_rest: the section does not fit its table");
        return -EINVAL;
    }
    if (strcmp(ar.encryption, "off") == 0) {
        vx_warn("DAEMON-AT-REST-OFF", "at_rest.encryption is off: files and stored records are "
                                      "written in plaintext");
        return 0;
    }
    d->sealer = vx_sealer_load(ar.data_keys_dir, ar.algorithm, err, errlen);
    if (!d->sealer) {
        return -EINVAL;
    }
    vx_info("DAEMON-AT-REST", "sealing at rest with %s under data key %u (%zu key%s loaded)",
            vx_sealer_algorithm(d->sealer), (unsigned)vx_sealer_key_id(d->sealer),
            vx_sealer_key_count(d->sealer), vx_sealer_key_count(d->sealer) == 1 ? "" : "s");
    return 0;
}

/* mkdir -p with mode 0700 for what it creates. */
static int
s_mkdirs(const char *dir)
{
    char path[VX_PATH_MAX];
    snprintf(path, sizeof path, "%s", dir);
    for (char *s = path + 1; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            if (mkdir(path, 0700) < 0 && errno != EEXIST) {
                return -errno;
            }
            *s = '/';
        }
    }
    return mkdir(path, 0700) < 0 && errno != EEXIST ? -errno : 0;
}

static void
s_audit_note(struct s_security *sec, const char *outcome, const char *detail)
{
    if (sec->audit) {
        struct vx_audit_record r = {.path = sec->sc.credentials_file, .outcome = outcome,
                                    .detail = detail};
        vx_audit_append(sec->audit, &r);
    }
}

/* Opens <audit_dir>/<identity>.audit.jsonl, signed with audit_key_file (default
 * <keys_dir>/audit.key); an empty audit_dir means no audit log, said at start. */
static int
s_audit_open(struct vx_daemon *d, struct s_security *sec, size_t n_creds, char *err,
             size_t errlen)
{
    const struct vx_security_config *sc = &sec->sc;
    if (!sc->audit_dir[0]) {
        vx_warn("DAEMON-AUDIT-OFF", "security.audit_dir is empty: REST calls are not audited");
        return 0;
    }
    char key[VX_PATH_MAX], aerr[1200];
    if (sc->audit_key_file[0]) {
        snprintf(key, sizeof key, "%s", sc->audit_key_file);
    } else if (sc->keys_dir[0]) {
        snprintf(key, sizeof key, "%s/audit.key", sc->keys_dir);
    } else {
        snprintf(err, errlen, "security.audit_key_file: empty, and so is security.keys_dir");
        return -EINVAL;
    }
    int rc = s_mkdirs(sc->audit_dir);
    if (rc < 0) {
        snprintf(err, errlen, "security.audit_dir: %s: %s", sc->audit_dir, strerror(-rc));
        return rc;
    }
    const char *who = sc->identity[0] ? sc->identity
                      : strncmp(d->name, "vexfs-", 6) == 0 ? d->name + 6 : d->name;
    snprintf(sec->audit_path, sizeof sec->audit_path, "%s/%s.audit.jsonl", sc->audit_dir, who);
    struct vx_audit_opts o = {.path = sec->audit_path, .key_file = key, .service = d->name};
    aerr[0] = '\0';
    sec->audit = vx_audit_open(&o, aerr, sizeof aerr);
    if (!sec->audit) {
        snprintf(err, errlen, "audit log: %s", aerr);
        return -EINVAL;
    }
    char detail[4400];
    snprintf(detail, sizeof detail, "started with %zu credentials from %s", n_creds,
             sc->credentials_file);
    s_audit_note(sec, "ok", detail);
    return 0;
}

/* Rereads the credentials: a valid file replaces the set (requests in flight keep theirs); an
 * invalid one changes nothing. Either way the log and the audit log say so. */
static void
s_creds_reload(struct vx_daemon *d, struct s_security *sec, const char *why)
{
    char err[1200], detail[1600];
    vx_creds_t *c = s_creds_load(sec->sc.credentials_file, sec->token, err, sizeof err);
    if (c) {
        size_t n = vx_creds_count(c);
        vx_http_set_creds(d->http, c);
        snprintf(detail, sizeof detail, "credentials reloaded (%s): %zu credentials from %s", why,
                 n, sec->sc.credentials_file);
        vx_info("DAEMON-CREDS-RELOAD", "%s", detail);
    } else {
        snprintf(detail, sizeof detail, "credentials not reloaded (%s), the previous ones stay: %s",
                 why, err);
        vx_warn("DAEMON-CREDS-RELOAD", "%s", detail);
    }
    s_audit_note(sec, c ? "ok" : "error", detail);
}

/* Polls the credentials file's identity (device, inode, size, modification time) and the
 * SIGHUP count every S_WATCH_PERIOD_MS and reloads on either. Polling needs nothing of the
 * file system (inotify misses a file replaced through a symlink swap, as Kubernetes mounts
 * Secrets) and costs one stat a period. */
static void *
s_watch(void *arg)
{
    struct vx_daemon *d = arg;
    struct s_security *sec = ((struct s_priv *)d->priv)->sec;
    pthread_mutex_lock(&sec->mu);
    while (!sec->stop) {
        struct timespec until = vx_mono_timespec(vx_deadline_ms(S_WATCH_PERIOD_MS));
        pthread_cond_timedwait(&sec->wake, &sec->mu, &until);
        if (sec->stop) {
            break;
        }
        pthread_mutex_unlock(&sec->mu);
        sig_atomic_t hups = s_hups;
        struct s_filesig now;
        s_filesig_read(sec->sc.credentials_file, &now);
        bool hup = hups != sec->hups_seen;
        if (hup || !s_filesig_eq(&now, &sec->sig)) {
            sec->hups_seen = hups;
            sec->sig = now;
            s_creds_reload(d, sec, hup ? "SIGHUP" : "the file changed");
        }
        pthread_mutex_lock(&sec->mu);
    }
    pthread_mutex_unlock(&sec->mu);
    return NULL;
}

/* What the command line asks for besides running: --check and --print-config stop after the
 * configuration is validated. */
struct s_cmdline {
    bool check_only;
    bool print_config;
};

/* Parses the options and the positional arguments. Returns 0 to go on, -1 to exit with
 * *exit_code (0 after --help or --version, 2 after a usage error). */
static int
s_parse_args(struct vx_daemon *d, int argc, char **argv, struct s_cmdline *cl, int *exit_code)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check", no_argument, NULL, 'C'},
        {"print-config", no_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            d->config_path = optarg;
            break;
        case 'C':
            cl->check_only = true;
            break;
        case 'P':
            cl->print_config = true;
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
    return 0;
}

/* Loads and validates the configuration, switches logging to its level and reads the admin
 * token; fills *admin for the REST server. Logs why and returns -1 on a bad configuration. */
static int
s_load_config(struct vx_daemon *d, struct vx_admin_config *admin)
{
    char err[1024];
    if (vx_config_load(&d->cfg, d->config_path, d->sections, d->n_sections, err, sizeof err) < 0) {
        vx_error("DAEMON-CONFIG", "%s", err);
        return -1;
    }
    struct vx_logging_config logging;
    if (vx_config_bind(d->cfg, &vx_cfg_logging_section, &logging) < 0 ||
        vx_config_bind(d->cfg, &vx_cfg_admin_section, admin) < 0) {
        vx_error("DAEMON-CONFIG", "the admin and logging sections are not in this program's tables");
        return -1;
    }
    enum vx_log_level level = VX_LOG_INFO;
    vx_log_level_parse(logging.level, &level); /* checked when the configuration loaded */
    vx_log_init(d->name, level);
    if (admin->connection_limit_per_ip > admin->connection_limit) {
        vx_error("DAEMON-CONFIG", "admin.connection_limit_per_ip: %d exceeds "
                                  "admin.connection_limit %d",
                 (int)admin->connection_limit_per_ip, (int)admin->connection_limit);
        return -1;
    }
    d->token = vx_config_read_secret(admin->token_file, err, sizeof err);
    if (!d->token && err[0]) {
        vx_error("DAEMON-CONFIG", "admin.token_file: %s", err);
        return -1;
    }
    return 0;
}

/* --print-config and --check: the configuration was valid, say so and exit. */
static void
s_report_config(const struct vx_daemon *d, const struct s_cmdline *cl, int *exit_code)
{
    if (cl->print_config) {
        json_t *eff = vx_config_to_json(d->cfg);
        char *text = json_dumps(eff, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("%s\n", text ? text : "{}");
        free(text);
        json_decref(eff);
        *exit_code = text ? 0 : 1;
        return;
    }
    printf("%s: configuration %s is valid\n", d->name,
           d->config_path ? d->config_path : "(defaults)");
    *exit_code = 0;
}

/* The daemon owns the signals: CZMQ must not install its own at the first socket. */
static void
s_signals_install(void)
{
    zsys_handler_set(NULL);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction stop = {.sa_handler = cb_stop};
    struct sigaction reload = {.sa_handler = cb_reload};
    sigaction(SIGTERM, &stop, NULL);
    sigaction(SIGINT, &stop, NULL);
    sigaction(SIGHUP, &reload, NULL);
}

/* Starts the REST server with the admin limits, the TLS files and the credentials; takes
 * ownership of *creds (handed to the server, or destroyed) and sets it to NULL. Opens the
 * audit log when the daemon is secured. Logs why and returns -1 on failure. */
static int
s_http_start(struct vx_daemon *d, const struct vx_admin_config *admin, vx_creds_t **creds)
{
    struct s_priv *p = d->priv;
    char err[1024];
    struct s_tls tls = {0};
    if (s_load_tls(d, &tls, err, sizeof err) < 0) {
        vx_error("DAEMON-CONFIG", "%s", err);
        s_tls_fini(&tls);
        vx_creds_destroy(creds);
        return -1;
    }
    struct vx_http_opts hopts = {
        .service = d->name,
        .version = VX_VERSION,
        .bind = vx_config_str(d->cfg, d->section, "rest_bind"),
        .port = (uint16_t)vx_config_int(d->cfg, d->section, "rest_port"),
        .body_limit = (size_t)admin->body_limit_bytes,
        .conn_limit = (unsigned)admin->connection_limit,
        .conn_limit_per_ip = (unsigned)admin->connection_limit_per_ip,
        .timeout_s = (unsigned)admin->request_timeout_s,
        .workers = (unsigned)admin->worker_threads,
        .metrics_open = p->sec && p->sec->sc.metrics_open,
        .token = d->token,
        .tls_cert = tls.cert,
        .tls_key = tls.key,
        .tls_client_ca = tls.required ? tls.ca : NULL,
        .tls_request_ca = tls.ca,
    };
    const char *herr = NULL;
    d->http = vx_http_new(&hopts, d->metrics, &herr);
    s_tls_fini(&tls); /* the server keeps copies */
    if (!d->http) {
        vx_error("DAEMON-CONFIG", "REST server: %s", herr);
        vx_creds_destroy(creds);
        return -1;
    }
    if (p->sec) {
        size_t n = vx_creds_count(*creds);
        vx_http_set_creds(d->http, *creds);
        *creds = NULL;
        if (s_audit_open(d, p->sec, n, err, sizeof err) < 0) {
            vx_error("DAEMON-CONFIG", "%s", err);
            return -1;
        }
        vx_http_set_audit(d->http, p->sec->audit);
    }
    return 0;
}

/* The start every daemon shares, in the order a failure must be reported: the command line,
 * the configuration (logging switches to its level as soon as it is read), security and
 * encryption at rest (so --check and --print-config see every key checked), then the
 * signals, the sockets and the REST server, which only a run needs. */
int
vx_daemon_init(struct vx_daemon *d, int argc, char **argv, int *exit_code)
{
    *exit_code = 2;
    struct s_cmdline cl = {0};
    if (s_parse_args(d, argc, argv, &cl, exit_code) < 0) {
        return -1;
    }
    vx_log_init(d->name, VX_LOG_INFO);
    struct vx_admin_config admin;
    if (s_load_config(d, &admin) < 0) {
        return -1;
    }
    struct s_priv *p = vx_calloc(1, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    d->priv = p;
    char err[1024];
    vx_creds_t *creds = NULL;
    if (s_security_init(d, p, &creds, err, sizeof err) < 0) {
        vx_error("DAEMON-CONFIG", "%s", err);
        return -1;
    }
    if (s_at_rest_init(d, err, sizeof err) < 0) {
        vx_error("DAEMON-CONFIG", "%s", err);
        vx_creds_destroy(&creds);
        return -1;
    }
    if (cl.print_config || cl.check_only) {
        vx_creds_destroy(&creds);
        s_report_config(d, &cl, exit_code);
        return -1;
    }
    s_signals_install();
    d->metrics = vx_metrics_new();
    if (s_make_socks(d, err, sizeof err) < 0) {
        vx_error("DAEMON-CONFIG", "%s", err);
        vx_creds_destroy(&creds);
        return -1;
    }
    if (s_http_start(d, &admin, &creds) < 0) {
        return -1;
    }
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
    /* The configuration shows every key (secrets masked): operators read it; changing it is
     * for admins. */
    static const struct vx_http_route_def routes[] = {
        {"GET", "/v1/config", VX_ROLE_OPERATOR, cb_get_config},
        {"PUT", "/v1/config", VX_ROLE_ADMIN, cb_put_config},
    };
    char err[256];
    if (vx_http_routes(d->http, routes, sizeof routes / sizeof routes[0], p, err, sizeof err) <
        0) {
        vx_error("DAEMON-ROUTES", "%s", err);
    }
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

/* Starts the credentials watcher with the stop signals blocked, so they keep going to the
 * service's own threads. */
static int
s_watch_start(struct vx_daemon *d, struct s_security *sec)
{
    sigset_t stops, old;
    sigemptyset(&stops);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGINT);
    sigaddset(&stops, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stops, &old);
    int rc = pthread_create(&sec->watcher, NULL, s_watch, d);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    sec->watching = rc == 0;
    return -rc;
}

int
vx_daemon_serve(struct vx_daemon *d)
{
    struct s_priv *p = d->priv;
    struct s_security *sec = p ? p->sec : NULL;
    int rc = vx_http_start(d->http);
    if (rc < 0) {
        vx_error("DAEMON-START", "REST server on %s:%lld: %s",
                 vx_config_str(d->cfg, d->section, "rest_bind"),
                 vx_config_int(d->cfg, d->section, "rest_port"), strerror(-rc));
        return rc;
    }
    if (sec && !sec->watching) {
        rc = s_watch_start(d, sec);
        if (rc < 0) {
            vx_error("DAEMON-START", "credentials watcher: %s", strerror(-rc));
            return rc;
        }
    }
    if (sec) {
        vx_info("DAEMON-START", "%s %s: rest %s:%u, credentials %s, audit log %s", d->name,
                VX_VERSION, vx_config_str(d->cfg, d->section, "rest_bind"),
                (unsigned)vx_http_port(d->http), sec->sc.credentials_file,
                sec->audit ? sec->audit_path : "off");
    } else {
        vx_info("DAEMON-START", "%s %s: rest %s:%u%s", d->name, VX_VERSION,
                vx_config_str(d->cfg, d->section, "rest_bind"), (unsigned)vx_http_port(d->http),
                d->token ? "" : " (no admin token: mutating REST calls are refused)");
    }
    return 0;
}

void
vx_daemon_fini(struct vx_daemon *d)
{
    struct s_priv *p = d->priv;
    struct s_security *sec = p ? p->sec : NULL;
    if (sec && sec->watching) { /* it swaps the server's credentials: stopped first */
        pthread_mutex_lock(&sec->mu);
        sec->stop = true;
        pthread_cond_signal(&sec->wake);
        pthread_mutex_unlock(&sec->mu);
        pthread_join(sec->watcher, NULL);
        sec->watching = false;
    }
    if (d->http) {
        vx_http_stop(d->http);
    }
    vx_http_destroy(&d->http);
    if (sec) { /* after the server: its last requests may still append */
        vx_audit_close(&sec->audit);
        pthread_cond_destroy(&sec->wake);
        pthread_mutex_destroy(&sec->mu);
        free(sec);
    }
    if (p) {
        vx_config_destroy(&p->current);
        pthread_mutex_destroy(&p->mu);
        vx_free(&d->priv);
    }
    vx_socks_destroy(&d->socks); /* its ZAP handler counts into the registry */
    vx_sealer_destroy(&d->sealer);
    vx_metrics_destroy(&d->metrics);
    vx_config_destroy(&d->cfg);
    vx_free(&d->token);
}
