/* SPDX-License-Identifier: Apache-2.0 */
/* Test support: real HTTP requests (libcurl), free loopback ports, real daemon processes. */
#ifndef VX_TEST_H
#define VX_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct vt_http_result {
    long status;      /* HTTP status, or 0 when the request failed at transport level */
    char *body;       /* NUL-terminated, caller frees with vt_http_result_fini */
    size_t len;
    char *content_type;
};

/* Performs one request against https://127.0.0.1:port<path> (the test's authority verifies
 * the server; the client certificate "test", an admin of every tenant, is presented; token,
 * when given, is sent as the bearer token and takes precedence), or http:// when the process
 * has no security material or after vt_http_plain(true). body may be NULL.
 * token: when non-NULL sends "Authorization: Bearer <token>". Returns 0 on transport success. */
int vt_http(const char *method, uint16_t port, const char *path, const char *body, size_t body_len,
            const char *token, struct vt_http_result *out);
/* The same against a whole URL (http:// or https://host:port/path), for servers off
 * loopback; an https URL gets the test's authority and client certificate as above. */
int vt_http_url(const char *method, const char *url, const char *body, size_t body_len,
                const char *token, struct vt_http_result *out);
void vt_http_result_fini(struct vt_http_result *r);
/* The same request as a stranger: verifying the server, but with no token and no client
 * certificate (only /health and /ready answer it). */
int vt_http_anon(const char *method, uint16_t port, const char *path, const char *body,
                 struct vt_http_result *out);
/* vt_http_anon's HTTP status (0 when no answer came). */
long vt_http_anon_status(const char *method, uint16_t port, const char *path, const char *body);
/* Makes vt_http (and the helpers built on it) speak plain HTTP in this process: for tests of
 * servers started without TLS (the plain mode, the HTTP library itself). */
void vt_http_plain(bool plain);
/* Makes vt_http in the calling thread reuse one connection (HTTP keep-alive, one TLS handshake)
 * for the requests that follow, as a long-lived client does; false closes it. */
void vt_http_keep_alive(bool on);

/* The value of one sample of GET /metrics on port, e.g. series
 * `vexfs_events_dropped_total{reason="duplicate"}` (exactly as printed); -1 when absent or the
 * server did not answer. */
double vt_metric(uint16_t port, const char *series);
/* The sum of every series of metric `name` (all labels) on port's GET /metrics, or in a text
 * already fetched; -1 when there is none or the server did not answer. */
double vt_metric_sum(uint16_t port, const char *name);
double vt_metric_text_sum(const char *text, const char *name);

/* A TCP port on 127.0.0.1 that was free a moment ago. */
uint16_t vt_free_port(void);

/* Sleeps ms milliseconds (signals do not cut it short). For pacing a load or letting a fault
 * last; never to wait for a condition: poll it with vt_wait_until. */
void vt_sleep_ms(int ms);
/* Milliseconds on the monotonic clock, for deadlines. */
uint64_t vt_now_ms(void);

/* Polls fn until it returns true or timeout_ms passes; returns the last result. */
bool vt_wait_until(bool (*fn)(void *arg), void *arg, int timeout_ms);
/* Waits until GET /ready on port answers 200. */
bool vt_wait_ready(uint16_t port, int timeout_ms);

/* Starts argv[0] (a path) with argv and extra environment entries "K=V" (NULL-terminated,
 * may be NULL); stderr goes to log_path when non-NULL. Returns the pid or -1. */
pid_t vt_spawn(char *const argv[], char *const env[], const char *log_path);
/* Sends sig and waits up to timeout_ms; returns the exit status as from waitpid, or -1. */
int vt_stop(pid_t pid, int sig, int timeout_ms);

/* Starts argv[0] like vt_spawn, connected by pipes: *in_fd receives the write end of its
 * stdin (in_fd NULL: stdin is /dev/null), *out_fd and *err_fd the read ends of its stdout and
 * stderr (NULL: inherited). The caller closes the descriptors. Returns the pid or -1. */
pid_t vt_spawn_pipes(char *const argv[], char *const env[], int *in_fd, int *out_fd, int *err_fd);
/* Waits up to timeout_ms for pid to exit; returns the status as from waitpid, or -1 after
 * killing it with SIGKILL when it did not exit in time. */
int vt_wait_exit(pid_t pid, int timeout_ms);

/* The outcome of vt_run. */
struct vt_run_result {
    pid_t pid;
    int status;      /* as from waitpid; -1 when it was killed at the timeout */
    char *out;       /* stdout, NUL-terminated; free with vt_run_result_fini */
    size_t out_len;
    char *err;       /* stderr, NUL-terminated */
    size_t err_len;
};

/* Runs argv to completion with stdin_text on its stdin (NULL: empty stdin), capturing stdout
 * and stderr; kills it after timeout_ms. Returns 0 when it exited by itself, -ETIMEDOUT when
 * it was killed, -errno when it could not be started. out is filled in every case. */
int vt_run(char *const argv[], char *const env[], const char *stdin_text, int timeout_ms,
           struct vt_run_result *out);
void vt_run_result_fini(struct vt_run_result *r);

/* The test process's security material (tests/support/vt_secure.c), made before main: a CURVE
 * key folder (security.keys_dir layout, identities of every program plus "test", and the audit
 * key audit.key), a TLS folder (security.tls_dir layout, client certificates "test" and "ctl"),
 * a credentials file in which both certificates are admins of every tenant, and an audit
 * folder. The environment points VEXFS_SECURITY_KEYS_DIR, VEXFS_SECURITY_TLS_DIR,
 * VEXFS_SECURITY_CREDENTIALS_FILE and VEXFS_SECURITY_AUDIT_DIR at them, so every daemon a test
 * starts is secured as in production. */
const char *vt_keys_dir(void);
const char *vt_tls_dir(void);
/* The client certificate's name in vt_tls_dir() that https requests present ("test"). */
const char *vt_tls_client(void);
/* Points this process at a deployment's own material instead (a benchmark measuring a suite
 * started elsewhere, as scripts/deploy-secrets.sh lays it out): keys_dir for CURVE (identity
 * "ctl", server.pub), tls_dir for HTTPS (ca.crt and the client certificate client.crt/.key).
 * Call before the first socket or request; the strings are copied. */
void vt_secure_use(const char *keys_dir, const char *tls_dir, const char *client);
/* Name resolution of https requests to a suite whose certificates name its hosts: entries
 * "host:port:address[,host:port:address...]" (curl's --resolve), or NULL for none. Borrowed:
 * valid while requests are made. */
void vt_http_resolve(const char *entries);
/* Requests by port (vt_http, vt_http_anon, vt_metric, vt_wait_ready, ...) to port go to addr
 * instead of 127.0.0.1: a server in a network namespace of its own. Over https the URL names
 * "localhost", which the suite's server certificate names, resolved to addr, so the server is
 * verified as on loopback. addr NULL forgets the port. At most 16 ports. */
void vt_http_route(uint16_t port, const char *addr);
/* A socket of the test's own, through the suite's factory with CURVE identity "ctl" (the
 * operator tool's, which may send events of any source and tenant; bound:
 * presents the server key and admits the authorized keys). NULL (reason on stderr) on error.
 * The caller destroys it. */
#include <czmq.h>
zsock_t *vt_sock(int type, const char *endpoint, bool bind);
/* The same with options: high-water marks (0: the default), linger and receive timeout, and
 * the port actually bound (for "tcp://127.0.0.1:*") in *port when port is not NULL. */
struct vt_sock_opts {
    int type;
    const char *endpoint;
    bool bind;
    int hwm;
    int linger_ms;
    int rcvtimeo_ms;
    int sndtimeo_ms;
    bool immediate;
    int reconnect_ivl_ms;
    const char *subscribe; /* SUB: NULL subscribes to everything */
    int *port;
    int wait_connected_ms; /* connecting: wait up to this long for a completed handshake (a
                              SUB whose subscription must reach the publisher before it
                              sends); NULL is returned when none came */
    bool plain; /* a plain link (security.curve off, loopback endpoints only), for benchmarks
                   that set CURVE against plain */
};
zsock_t *vt_sock_ex(const struct vt_sock_opts *o);
/* The factory vt_sock_ex opens its sockets through (CURVE identity "ctl", or plain), for a
 * test that hands it to a lib class (vx_link). Borrowed: closed at exit. */
#include "vx_sock.h"
vx_socks_t *vt_socks(bool plain);

/* Loads the configuration file path (NULL: the defaults) for the n sections secs and binds
 * each into out[i] (filled with 0x5a first, so a field the bind leaves alone shows). Returns
 * the configuration, which holds the bound strings (the caller destroys it), or NULL with the
 * reason in err. */
#include "vx_config.h"
vx_config_t *vt_config_bind(const char *path, const struct vx_cfg_section *const *secs,
                            void *const *out, size_t n, char *err, size_t errlen);

/* Directory of built programs: $VX_BIN_DIR or "build/bin". */
const char *vt_bin_dir(void);
/* Where tests make their temporary directories: $VX_TEST_TMP (scripts/run-tests.sh sets one
 * per run and removes it when every test passed) or "/tmp". */
const char *vt_tmp_root(void);
/* A fresh temporary directory under vt_tmp_root() (caller frees the string). */
char *vt_tmpdir(void);
/* Writes text to path; returns 0 or -errno. */
int vt_write_file(const char *path, const char *text);

/* A test runs in a forked child: the processes it starts are recorded in dir/pids so that the
 * parent's teardown ends them whatever happened in it. vt_pids_note appends pid (0 or
 * -errno); vt_pids_kill sends SIGKILL to every recorded process that still runs. */
int vt_pids_note(const char *dir, pid_t pid);
void vt_pids_kill(const char *dir);

#endif
