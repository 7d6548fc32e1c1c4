/* SPDX-License-Identifier: Apache-2.0 */
/* What every daemon of the suite does the same way before and after its own loop: the command
 * line (--config, --help, --version), configuration and logging, the admin token, signals,
 * the metrics registry and the admin REST server, and the GET/PUT /v1/config routes.
 *
 *     struct vx_daemon d = {.name = "vexfs-routing", .summary = "...", .section = "event_routing",
 *                           .sections = s_sections, .n_sections = 3};
 *     int code;
 *     if (vx_daemon_init(&d, argc, argv, &code) < 0) return code;   // --help, bad config, ...
 *     ... build the service with d.cfg and d.metrics, add routes to d.http ...
 *     vx_daemon_serve(&d);            // starts REST; its port is in the log
 *     while (!vx_daemon_stop) ...     // the service's loop
 *     vx_daemon_fini(&d);
 */
#ifndef VX_DAEMON_H
#define VX_DAEMON_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "vx_config.h"
#include "vx_http.h"
#include "vx_metrics.h"
#include "vx_seal.h"
#include "vx_sock.h"

/* Set by SIGTERM/SIGINT and by SIGHUP; the loop polls them. */
extern volatile sig_atomic_t vx_daemon_stop;
extern volatile sig_atomic_t vx_daemon_reload;

/* Called with the new configuration after PUT /v1/config validated a patch; runs on a REST
 * thread and must apply the reloadable keys thread-safely (atomics). */
typedef void(vx_daemon_apply_fn)(const vx_config_t *cfg, void *arg);

struct vx_daemon {
    /* filled by the caller */
    const char *name;     /* "vexfs-propagation": log, /health, --version */
    const char *summary;  /* one paragraph for --help */
    const char *section;  /* the service's own section: holds rest_bind and rest_port */
    const struct vx_cfg_section *const *sections; /* the service's, admin and logging */
    size_t n_sections;
    int max_args;         /* positional arguments accepted (directories, ...); 0: none */
    int io_threads;       /* ZeroMQ I/O threads when transport.io_threads is 0 (its default);
                             0: libzmq's 1 */
    /* filled by vx_daemon_init */
    const char *config_path; /* NULL: defaults and environment only */
    char **args;          /* the positional arguments (borrowed from argv) */
    int n_args;
    vx_config_t *cfg;
    char *token;          /* admin bearer token, NULL when none is configured */
    vx_metrics_t *metrics;
    vx_http_t *http;      /* routes may be added until vx_daemon_serve */
    vx_socks_t *socks;    /* the socket factory (vx_sock.h), from the transport section */
    /* Seals what the program writes (vx_seal.h): set when it lists the at_rest section with
     * encryption required (a missing or bad key stops the start, --check included); NULL
     * otherwise, and then files are plaintext. */
    vx_sealer_t *sealer;
    /* For the program's own HTTPS clients (calls to other services of the suite): the
     * authority that verifies them and the client certificate to present (mutual TLS); ""
     * when the program runs without the security section or with security.tls off. */
    char tls_ca_file[4200];
    char tls_client_cert_file[4200];
    char tls_client_key_file[4200];
    /* private */
    void *priv;
};

/* Parses the command line (--config FILE, --check, --print-config, --help, --version), loads and validates the configuration, sets up logging, reads the
 * token, takes the signals (SIGPIPE ignored; CZMQ's handlers off) and creates the metrics
 * registry, the socket factory (from the transport section when the program lists it, else
 * its defaults) and the REST server. Returns 0 to go on, or -1 with *exit_code set: 0 after
 * --help/--version/--check of a valid configuration, 2 for a bad command line or configuration (already logged).
 *
 * When the program lists the security section, the REST server also gets: HTTPS (tls,
 * tls_dir; client certificates always asked for, required with tls_client_auth), the
 * credentials of security.credentials_file (admin.token_file's token added as the admin
 * credential "admin"; a missing or malformed file stops the start, --check included), the
 * audit log <audit_dir>/<identity>.audit.jsonl signed with audit_key_file (default
 * <keys_dir>/audit.key; an empty audit_dir turns it off with a warning), and /metrics open
 * only with metrics_open. vx_daemon_serve then starts a thread that rereads the credentials
 * on SIGHUP and when the file changes (polled every 500 ms), keeping the previous set when the
 * new file is invalid, and writes an audit line for each reload. */
int vx_daemon_init(struct vx_daemon *d, int argc, char **argv, int *exit_code);

/* Adds GET /v1/config (operator role; effective configuration, secrets masked) and
 * PUT /v1/config (admin role; validates
 * a patch of reloadable keys of d->section, given flat or as {"<section>": {...}}; 422 and no
 * change when refused; apply(new, arg) on success). Call before vx_daemon_serve. */
void vx_daemon_config_routes(struct vx_daemon *d, vx_daemon_apply_fn *apply, void *arg);

/* For a loop that waits in ppoll: blocks SIGTERM, SIGINT and SIGHUP in the calling thread
 * (threads started afterwards inherit it) and fills *waitmask with the mask that lets them in
 * during ppoll only, so a signal never slips in between the check of the stop flag and the
 * wait. */
void vx_daemon_block_stops(sigset_t *waitmask);

/* Starts the REST server (and the credentials watcher). Returns 0 or -errno (logged). */
int vx_daemon_serve(struct vx_daemon *d);

/* Stops the credentials watcher and the REST server (if the caller has not yet: vx_http_stop
 * is idempotent), closes the audit log (a last signed checkpoint) and frees
 * everything vx_daemon_init made, the metrics registry last: destroy whatever holds series of
 * it before. */
void vx_daemon_fini(struct vx_daemon *d);

#endif
