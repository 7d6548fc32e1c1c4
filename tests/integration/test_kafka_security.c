/* SPDX-License-Identifier: Apache-2.0 */
/* Kafka security against the real test broker (scripts/kafka.sh: SASL_SSL with SCRAM-SHA-512,
 * a mutual-TLS SSL listener, no plaintext listener):
 *   - the broker refuses a client without credentials, with a wrong password, an unknown user,
 *     plaintext, or no client certificate on the mutual-TLS listener; a client that does not
 *     trust the broker's CA fails TLS; each is sorted by vx_kafka_classify as the operator
 *     needs it; with the right credentials (SCRAM, a PEM key with its passphrase, a PKCS#12
 *     keystore) the broker answers;
 *   - vexfs-propagation without credentials, or with a wrong password, says so precisely
 *     (KAFKA-REFUSED with librdkafka's reason and its settings), turns not ready and journals
 *     nothing;
 *   - every daemon that uses Kafka (propagation, routing, analytics) refuses to start with a
 *     precise message for a missing or shared password file, a missing user, plaintext off
 *     loopback; --print-config masks the secret keys;
 *   - with the credentials everything works: propagation journals over SASL_SSL (and over the
 *     mutual-TLS listener with a passphrase-protected key), analytics consumes that journal in
 *     its consumer group and replays it.
 * The broker and its client settings come from the environment run-tests.sh exports
 * (VEXFS_KAFKA_BOOTSTRAP, scripts/kafka.sh env); the tests fail, never skip, without them. */
#include <check.h>
#include <czmq.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "an_harness.h"
#include "kafka_harness.h"
#include "vt_kafka.h"
#include "vx_kafka_conf.h"
#include "vx_test.h"
#include "vx_wire.h"

#define S_TOKEN "kafka-security-token"

/* The test broker's client material (scripts/kafka.sh env). */
struct s_material {
    const char *bootstrap, *ssl_bootstrap, *client_dir;
    char ca[600], password_file[600], p12[600], p12_password[600], crt[600], key[600],
        key_password[600];
};

static void
s_material(struct s_material *m)
{
    m->bootstrap = kh_bootstrap();
    m->ssl_bootstrap = vt_kafka_env("VEXFS_KAFKA_SSL_BOOTSTRAP");
    m->client_dir = vt_kafka_env("VEXFS_KAFKA_CLIENT_DIR");
    ck_assert_msg(m->ssl_bootstrap && m->client_dir, "the broker's settings are not exported");
    snprintf(m->ca, sizeof m->ca, "%s/ca.crt", m->client_dir);
    snprintf(m->password_file, sizeof m->password_file, "%s/sasl.password", m->client_dir);
    snprintf(m->p12, sizeof m->p12, "%s/client.p12", m->client_dir);
    snprintf(m->p12_password, sizeof m->p12_password, "%s/client.p12.password", m->client_dir);
    snprintf(m->crt, sizeof m->crt, "%s/client.crt", m->client_dir);
    snprintf(m->key, sizeof m->key, "%s/client.key", m->client_dir);
    snprintf(m->key_password, sizeof m->key_password, "%s/client.key.password", m->client_dir);
}

/* Settings written out field by field: the configuration loader would let the environment's
 * overrides (the right credentials) win. */
static struct vx_kafka_security_config
s_sec(const char *protocol)
{
    return (struct vx_kafka_security_config){
        .protocol = protocol,
        .sasl_mechanism = "SCRAM-SHA-512",
        .sasl_username = "",
        .sasl_password_file = "",
        .ssl_ca_file = "",
        .ssl_certificate_file = "",
        .ssl_key_file = "",
        .ssl_key_password_file = "",
        .ssl_keystore_file = "",
        .ssl_keystore_password_file = "",
        .ssl_verify_hostname = true,
    };
}

/* What a client's error callback saw: the first problem that was not transient. */
struct s_seen {
    atomic_int problem; /* -1: none yet */
    char reason[1024];
};

static void
cb_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    struct s_seen *s = opaque;
    int p = (int)vx_kafka_classify(err, reason);
    if (p != VX_KAFKA_TRANSIENT && atomic_load(&s->problem) < 0) {
        snprintf(s->reason, sizeof s->reason, "%s", reason);
        atomic_store(&s->problem, p);
    }
}

/* Asks brokers for metadata with sec. Returns VX_KAFKA_TRANSIENT when the broker answered,
 * else the problem its error callback reported within 20 s (reason copied to why). */
static int
s_try(const char *brokers, const struct vx_kafka_security_config *sec, char *why, size_t whylen)
{
    char err[1024];
    rd_kafka_conf_t *c = vx_kafka_conf_new(brokers, sec, err, sizeof err);
    ck_assert_msg(c != NULL, "configuration refused: %s", err);
    struct s_seen *seen = calloc(1, sizeof *seen);
    atomic_init(&seen->problem, -1);
    rd_kafka_conf_set_opaque(c, seen);
    rd_kafka_conf_set_error_cb(c, cb_error);
    vx_kafka_conf_set(c, "reconnect.backoff.ms", "100", err, sizeof err);
    rd_kafka_conf_set_log_cb(c, NULL);
    vx_kafka_conf_set(c, "log_level", "0", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    ck_assert_msg(rk != NULL, "client: %s", err);
    int result = -1;
    for (int i = 0; i < 10 && result < 0; i++) {
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(rk, 1, NULL, &md, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            rd_kafka_metadata_destroy(md);
            result = VX_KAFKA_TRANSIENT;
        }
        rd_kafka_poll(rk, 0);
        if (result < 0 && atomic_load(&seen->problem) >= 0) {
            result = atomic_load(&seen->problem);
        }
    }
    snprintf(why, whylen, "%s", seen->reason);
    rd_kafka_destroy(rk);
    free(seen);
    return result;
}

START_TEST(t_broker_refuses_without_credentials)
{
    struct s_material m;
    s_material(&m);
    char why[1024], wrong[700], suite_ca[700];
    char *dir = vt_tmpdir();
    snprintf(wrong, sizeof wrong, "%s/wrong.password", dir);
    ck_assert_int_eq(vt_write_file(wrong, "not-the-password\n"), 0);
    ck_assert_int_eq(chmod(wrong, 0600), 0);
    snprintf(suite_ca, sizeof suite_ca, "%s/ca.crt", vt_tls_dir()); /* another authority */

    /* TLS without SASL: the SASL_SSL listener drops the client after the handshake. */
    struct vx_kafka_security_config s = s_sec("ssl");
    s.ssl_ca_file = m.ca;
    ck_assert_int_eq(s_try(m.bootstrap, &s, why, sizeof why), VX_KAFKA_REFUSED);
    ck_assert_msg(strstr(why, "SASL"), "reason: %s", why);

    /* Plaintext (allowed by us on loopback) meets a TLS listener. */
    s = s_sec("plaintext");
    ck_assert_int_eq(s_try(m.bootstrap, &s, why, sizeof why), VX_KAFKA_REFUSED);
    ck_assert_msg(strstr(why, "security.protocol"), "reason: %s", why);

    /* The right user, a wrong password; an unknown user. */
    s = s_sec("sasl_ssl");
    s.ssl_ca_file = m.ca;
    s.sasl_username = "vexfs";
    s.sasl_password_file = wrong;
    ck_assert_int_eq(s_try(m.bootstrap, &s, why, sizeof why), VX_KAFKA_REFUSED);
    ck_assert_msg(strstr(why, "invalid credentials"), "reason: %s", why);
    s.sasl_username = "mallory";
    s.sasl_password_file = m.password_file;
    ck_assert_int_eq(s_try(m.bootstrap, &s, why, sizeof why), VX_KAFKA_REFUSED);
    ck_assert_msg(strstr(why, "SASL authentication error"), "reason: %s", why);

    /* The right credentials, but the broker's certificate is checked against another CA. */
    s.sasl_username = "vexfs";
    s.ssl_ca_file = suite_ca;
    ck_assert_int_eq(s_try(m.bootstrap, &s, why, sizeof why), VX_KAFKA_TLS);
    ck_assert_msg(strstr(why, "certificate verify failed"), "reason: %s", why);

    /* The mutual-TLS listener without a client certificate. */
    s = s_sec("ssl");
    s.ssl_ca_file = m.ca;
    ck_assert_int_eq(s_try(m.ssl_bootstrap, &s, why, sizeof why), VX_KAFKA_REFUSED);

    /* With credentials the broker answers: SCRAM, a PEM key with its passphrase, PKCS#12. */
    s = s_sec("sasl_ssl");
    s.ssl_ca_file = m.ca;
    s.sasl_username = "vexfs";
    s.sasl_password_file = m.password_file;
    ck_assert_msg(s_try(m.bootstrap, &s, why, sizeof why) == VX_KAFKA_TRANSIENT, "refused: %s",
                  why);
    s = s_sec("ssl");
    s.ssl_ca_file = m.ca;
    s.ssl_certificate_file = m.crt;
    s.ssl_key_file = m.key;
    s.ssl_key_password_file = m.key_password;
    ck_assert_msg(s_try(m.ssl_bootstrap, &s, why, sizeof why) == VX_KAFKA_TRANSIENT,
                  "refused: %s", why);
    s = s_sec("ssl");
    s.ssl_ca_file = m.ca;
    s.ssl_keystore_file = m.p12;
    s.ssl_keystore_password_file = m.p12_password;
    ck_assert_msg(s_try(m.ssl_bootstrap, &s, why, sizeof why) == VX_KAFKA_TRANSIENT,
                  "refused: %s", why);

    /* A wrong passphrase or keystore password, or none for the encrypted key: refused before
     * any client is made, naming the key at fault. */
    char err[1024];
    s = s_sec("ssl");
    s.ssl_ca_file = m.ca;
    s.ssl_certificate_file = m.crt;
    s.ssl_key_file = m.key;
    s.ssl_key_password_file = wrong;
    ck_assert_ptr_null(vx_kafka_conf_new(m.ssl_bootstrap, &s, err, sizeof err));
    ck_assert_msg(strstr(err, "kafka_security.ssl_key_password_file: the passphrase does not "
                              "open ") &&
                      strstr(err, m.key),
                  "got: %s", err);
    s.ssl_key_password_file = "";
    ck_assert_ptr_null(vx_kafka_conf_new(m.ssl_bootstrap, &s, err, sizeof err));
    ck_assert_msg(strstr(err, "kafka_security.ssl_key_file: ") &&
                      strstr(err, "encrypted and no ssl_key_password_file"),
                  "got: %s", err);
    s = s_sec("ssl");
    s.ssl_ca_file = m.ca;
    s.ssl_keystore_file = m.p12;
    s.ssl_keystore_password_file = wrong;
    ck_assert_ptr_null(vx_kafka_conf_new(m.ssl_bootstrap, &s, err, sizeof err));
    ck_assert_msg(strstr(err, "kafka_security.ssl_keystore_password_file: the password does not "
                              "open ") &&
                      strstr(err, m.p12),
                  "got: %s", err);
    s.ssl_keystore_password_file = "";
    ck_assert_ptr_null(vx_kafka_conf_new(m.ssl_bootstrap, &s, err, sizeof err));
    ck_assert_msg(strstr(err, "kafka_security.ssl_keystore_password_file: needed: ") &&
                      strstr(err, m.p12) && strstr(err, "does not open without a password"),
                  "got: %s", err);
    free(dir);
}
END_TEST

/* ---- daemons ----------------------------------------------------------------------------- */

struct s_daemon {
    const char *program; /* "propagation", "routing", "analytics" */
    pid_t pid;
    uint16_t port;       /* REST */
    char dir[256], cfg[300], log[300];
    char output[64];     /* propagation's output endpoint */
};

/* A folder, a REST port and the paths for program; nothing started. */
static void
s_init(struct s_daemon *d, const char *program)
{
    memset(d, 0, sizeof *d);
    d->program = program;
    char *dir = vt_tmpdir();
    snprintf(d->dir, sizeof d->dir, "%s", dir);
    free(dir);
    d->port = vt_free_port();
    snprintf(d->cfg, sizeof d->cfg, "%s/vexfs.yaml", d->dir);
    snprintf(d->log, sizeof d->log, "%s/%s.log", d->dir, program);
}

/* Writes the configuration: the given sections, then admin (token) and logging. */
static void
s_config(struct s_daemon *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
s_config(struct s_daemon *d, const char *fmt, ...)
{
    char tok[300], text[4096], full[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    snprintf(tok, sizeof tok, "%s/token", d->dir);
    ck_assert_int_eq(vt_write_file(tok, S_TOKEN "\n"), 0);
    snprintf(full, sizeof full, "%sadmin:\n  token_file: %s\nlogging:\n  level: info\n", text,
             tok);
    ck_assert_int_eq(vt_write_file(d->cfg, full), 0);
}

/* propagation's section for a journal to topic (REST on d->port, fresh ZeroMQ ports). */
static void
s_prop_config(struct s_daemon *d, const char *brokers, const char *topic)
{
    snprintf(d->output, sizeof d->output, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    s_config(d,
             "event_propagation:\n  rest_port: %u\n  ingest_endpoint: tcp://127.0.0.1:%u\n"
             "  output_endpoint: %s\n  tap_endpoint: \"\"\n"
             "  kafka_brokers: \"%s\"\n  kafka_topic: \"%s\"\n  durable_timeout_ms: 5000\n"
             "  kafka_message_timeout_ms: 5000\n  shutdown_timeout_ms: 3000\n",
             (unsigned)d->port, (unsigned)vt_free_port(), d->output, brokers, topic);
}

static bool
cb_healthy(void *arg)
{
    struct s_daemon *d = arg;
    struct vt_http_result r;
    bool ok = vt_http("GET", d->port, "/health", NULL, 0, NULL, &r) == 0 && r.status == 200;
    vt_http_result_fini(&r);
    return ok;
}

/* Starts the daemon; waits for /health (not /ready: a refused producer is not ready). */
static void
s_spawn(struct s_daemon *d)
{
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-%s", vt_bin_dir(), d->program);
    char *argv[] = {bin, (char *)"--config", d->cfg, NULL};
    d->pid = vt_spawn(argv, NULL, d->log);
    ck_assert_int_gt(d->pid, 0);
    ck_assert_msg(vt_wait_until(cb_healthy, d, 20000), "%s did not start; log in %s", d->program,
                  d->log);
}

/* SIGTERM; fails the test unless the daemon exits by itself within 60 s. */
static int
s_stop(struct s_daemon *d)
{
    int st = vt_stop(d->pid, SIGTERM, 60000);
    ck_assert_msg(st != -1, "%s did not stop within 60 s; log in %s", d->program, d->log);
    d->pid = 0;
    return st;
}

/* Runs the daemon (with extra_arg, may be NULL) until it exits by itself, as a refused start
 * does; returns its exit status and its stderr then stdout in *out (caller frees). */
static int
s_run(struct s_daemon *d, const char *extra_arg, char **out)
{
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-%s", vt_bin_dir(), d->program);
    char *argv[] = {bin, (char *)"--config", d->cfg, (char *)extra_arg, NULL};
    struct vt_run_result r;
    int rc = vt_run(argv, NULL, NULL, 30000, &r);
    ck_assert_msg(rc == 0, "%s did not exit by itself within 30 s (rc %d): %s", d->program, rc,
                  r.err ? r.err : "");
    int status = WIFEXITED(r.status) ? WEXITSTATUS(r.status) : -1;
    size_t n = r.err_len + r.out_len + 2;
    *out = malloc(n);
    snprintf(*out, n, "%s\n%s", r.err, r.out);
    vt_run_result_fini(&r);
    return status;
}

struct s_log_wait {
    const char *path, *needle;
    char line[4096];
};

static bool
cb_log_has(void *arg)
{
    struct s_log_wait *w = arg;
    FILE *f = fopen(w->path, "r");
    bool found = false;
    while (f && !found && fgets(w->line, sizeof w->line, f)) {
        found = strstr(w->line, w->needle) != NULL;
    }
    if (f) {
        fclose(f);
    }
    return found;
}

struct s_ready_wait {
    uint16_t port;
    long want;
    char body[2048];
};

static bool
cb_ready_is(void *arg)
{
    struct s_ready_wait *w = arg;
    struct vt_http_result r;
    bool ok = vt_http("GET", w->port, "/ready", NULL, 0, NULL, &r) == 0 && r.status == w->want;
    snprintf(w->body, sizeof w->body, "%s", r.body ? r.body : "");
    vt_http_result_fini(&r);
    return ok;
}

/* POST /v1/events?durable=true with n events; returns the HTTP status (-1: no answer). */
static long
s_post_durable(uint16_t port, int first, int n)
{
    static char body[1 << 17];
    size_t len = 0;
    len += (size_t)snprintf(body + len, sizeof body - len, "[");
    for (int i = 0; i < n; i++) {
        len += (size_t)snprintf(body + len, sizeof body - len,
                                "%s{\"type\":\"filesystem_write\",\"path\":\"/sec/f%d\","
                                "\"content\":{\"n\":\"%d\"}}",
                                i ? "," : "", (first + i) % 13, first + i);
    }
    len += (size_t)snprintf(body + len, sizeof body - len, "]");
    struct vt_http_result r;
    long status = -1;
    if (vt_http("POST", port, "/v1/events?durable=true", body, len, S_TOKEN, &r) == 0) {
        status = r.status;
    }
    vt_http_result_fini(&r);
    return status;
}

/* Takes whatever propagation publishes, so its output never blocks (routing's place). */
struct s_drain {
    char endpoint[64];
    atomic_bool stop;
    atomic_size_t events;
    pthread_t thread;
};

static void *
s_drain_main(void *arg)
{
    struct s_drain *d = arg;
    zsock_t *pull = vt_sock(ZMQ_PULL, d->endpoint, false);
    if (!pull) {
        return NULL;
    }
    zsock_set_rcvtimeo(pull, 100);
    vx_arena_t *a = vx_arena_new(1 << 20, 0);
    while (!atomic_load(&d->stop)) {
        struct vx_wire_msg m;
        if (vx_wire_recv(pull, &m, 0) < 0) {
            continue;
        }
        vx_batch_t *b = vx_wire_decode(zmq_msg_data(&m.body), zmq_msg_size(&m.body), a);
        if (b) {
            atomic_fetch_add(&d->events, b->n_events);
        }
        vx_wire_msg_fini(&m);
        vx_arena_reset(a);
    }
    vx_arena_destroy(&a);
    zsock_destroy(&pull);
    return NULL;
}

static void
s_drain_start(struct s_drain *d, const char *endpoint)
{
    snprintf(d->endpoint, sizeof d->endpoint, "%s", endpoint);
    atomic_init(&d->stop, false);
    atomic_init(&d->events, 0);
    zsys_init(); /* CZMQ's context before a second thread makes a socket */
    ck_assert_int_eq(pthread_create(&d->thread, NULL, s_drain_main, d), 0);
}

static size_t
s_drain_stop(struct s_drain *d)
{
    atomic_store(&d->stop, true);
    pthread_join(d->thread, NULL);
    return atomic_load(&d->events);
}

/* Propagation whose journal the broker refuses: it says so (KAFKA-REFUSED with expect and its
 * settings), turns not ready, does not acknowledge durable ingest and journals nothing. */
static void
s_refused_journal(const char *what, const char *env_name, const char *env_value,
                  const char *expect)
{
    char topic[200];
    kh_topic(topic, sizeof topic, what);
    kh_create_topic(topic, 1); /* with the right settings, before the daemon's are changed */
    char *saved = getenv(env_name) ? strdup(getenv(env_name)) : NULL;
    setenv(env_name, env_value, 1);
    struct s_daemon d;
    s_init(&d, "propagation");
    s_prop_config(&d, kh_bootstrap(), topic);
    s_spawn(&d);
    struct s_drain drain;
    s_drain_start(&drain, d.output);
    long st = s_post_durable(d.port, 0, 10);
    ck_assert_msg(st != 200 && st > 0, "a durable ingest was acknowledged (%ld) by a journal the "
                                       "broker refuses",
                  st);
    struct s_log_wait w = {.path = d.log, .needle = "KAFKA-REFUSED"};
    ck_assert_msg(vt_wait_until(cb_log_has, &w, 20000), "no KAFKA-REFUSED line; log in %s", d.log);
    ck_assert_msg(strstr(w.line, expect) && strstr(w.line, "kafka_security: "),
                  "expected \"%s\" and the settings in: %s", expect, w.line);
    ck_assert_msg(!strstr(w.line, "not-the-password"), "the password was logged: %s", w.line);
    struct s_ready_wait r = {.port = d.port, .want = 503};
    ck_assert_msg(vt_wait_until(cb_ready_is, &r, 20000), "still ready: %s", r.body);
    ck_assert_msg(strstr(r.body, "\"kafka\"") && strstr(r.body, "failed"), "ready: %s", r.body);
    s_stop(&d);
    s_drain_stop(&drain);
    if (saved) {
        setenv(env_name, saved, 1); /* the reader below needs the right settings */
        free(saved);
    } else {
        unsetenv(env_name);
    }
    size_t total = 0;
    json_t *ids = kh_read_topic(topic, 0, &total);
    ck_assert_msg(total == 0, "%zu events reached %s", total, topic);
    json_decref(ids);
}

START_TEST(t_propagation_without_credentials_says_so)
{
    /* TLS with the right CA and no SASL user: the broker takes no request. */
    s_refused_journal("nocreds", "VEXFS_KAFKA_SECURITY_PROTOCOL", "ssl",
                      "broker might require SASL authentication");
}
END_TEST

START_TEST(t_propagation_wrong_password_says_so)
{
    char *dir = vt_tmpdir(), wrong[700];
    snprintf(wrong, sizeof wrong, "%s/wrong.password", dir);
    ck_assert_int_eq(vt_write_file(wrong, "not-the-password\n"), 0);
    ck_assert_int_eq(chmod(wrong, 0600), 0);
    s_refused_journal("wrongpw", "VEXFS_KAFKA_SECURITY_SASL_PASSWORD_FILE", wrong,
                      "invalid credentials");
    free(dir);
}
END_TEST

/* Every daemon that uses Kafka refuses to start on settings it cannot use, naming the key and
 * the file; nothing quotes a secret; --print-config masks the secret keys. */
START_TEST(t_start_errors_are_precise)
{
    char *dir = vt_tmpdir(), shared[700], missing[700], *out = NULL;
    char *password_file = strdup(getenv("VEXFS_KAFKA_SECURITY_SASL_PASSWORD_FILE"));
    snprintf(shared, sizeof shared, "%s/shared.password", dir);
    snprintf(missing, sizeof missing, "%s/none.password", dir);
    ck_assert_int_eq(vt_write_file(shared, "hunter2\n"), 0);
    ck_assert_int_eq(chmod(shared, 0644), 0);
    const char *b = kh_bootstrap();
    struct s_daemon d;

    setenv("VEXFS_KAFKA_SECURITY_SASL_PASSWORD_FILE", missing, 1);
    s_init(&d, "propagation");
    s_prop_config(&d, b, "t");
    ck_assert_int_eq(s_run(&d, NULL, &out), 1);
    ck_assert_msg(strstr(out, "kafka_security.sasl_password_file: ") && strstr(out, missing) &&
                      strstr(out, "No such file or directory"),
                  "propagation said: %s", out);
    free(out);

    s_init(&d, "routing");
    s_config(&d, "event_routing:\n  rest_port: %u\n  input_endpoint: tcp://127.0.0.1:%u\n"
                 "  state_dir: %s\n  kafka_brokers: \"%s\"\n",
             (unsigned)d.port, (unsigned)vt_free_port(), d.dir, b);
    ck_assert_int_eq(s_run(&d, NULL, &out), 1);
    ck_assert_msg(strstr(out, "kafka_security.sasl_password_file: ") && strstr(out, missing),
                  "routing said: %s", out);
    free(out);

    setenv("VEXFS_KAFKA_SECURITY_SASL_PASSWORD_FILE", shared, 1);
    s_init(&d, "analytics");
    s_config(&d, "stream_analytics:\n  rest_port: %u\n  kafka_brokers: \"%s\"\n"
                 "  results_topic: \"\"\n  results_endpoint: \"\"\n",
             (unsigned)d.port, b);
    ck_assert_int_eq(s_run(&d, NULL, &out), 1);
    ck_assert_msg(strstr(out, "kafka_security.sasl_password_file: ") && strstr(out, shared) &&
                      strstr(out, "readable by its owner only (mode 644; chmod 600)"),
                  "analytics said: %s", out);
    ck_assert_msg(!strstr(out, "hunter2"), "the password was quoted: %s", out);
    free(out);
    setenv("VEXFS_KAFKA_SECURITY_SASL_PASSWORD_FILE", password_file, 1);
    free(password_file);

    char *user = strdup(getenv("VEXFS_KAFKA_SECURITY_SASL_USERNAME"));
    setenv("VEXFS_KAFKA_SECURITY_SASL_USERNAME", "", 1);
    s_init(&d, "propagation");
    s_prop_config(&d, b, "t");
    ck_assert_int_eq(s_run(&d, NULL, &out), 1);
    ck_assert_msg(strstr(out, "kafka_security.sasl_username: needed with protocol sasl_ssl"),
                  "propagation said: %s", out);
    free(out);
    setenv("VEXFS_KAFKA_SECURITY_SASL_USERNAME", user, 1);
    free(user);

    setenv("VEXFS_KAFKA_SECURITY_PROTOCOL", "plaintext", 1);
    s_init(&d, "propagation");
    s_prop_config(&d, "kafka.example:9092", "t");
    ck_assert_int_eq(s_run(&d, NULL, &out), 1);
    ck_assert_msg(strstr(out, "kafka_security.protocol plaintext sends events without TLS") &&
                      strstr(out, "kafka.example:9092"),
                  "propagation said: %s", out);
    free(out);

    /* A bad value is a configuration error: --check says so, exit 2. */
    setenv("VEXFS_KAFKA_SECURITY_PROTOCOL", "tls", 1);
    s_init(&d, "propagation");
    s_prop_config(&d, b, "t");
    ck_assert_int_eq(s_run(&d, "--check", &out), 2);
    ck_assert_msg(strstr(out, "kafka_security.protocol: expected sasl_ssl, ssl, sasl_plaintext or "
                              "plaintext, got \"tls\""),
                  "propagation said: %s", out);
    free(out);
    unsetenv("VEXFS_KAFKA_SECURITY_PROTOCOL");

    /* --print-config: the secret keys masked, the others as configured. */
    s_init(&d, "propagation");
    s_prop_config(&d, b, "t");
    ck_assert_int_eq(s_run(&d, "--print-config", &out), 0);
    json_t *cfg = json_loads(strchr(out, '{'), JSON_DISABLE_EOF_CHECK, NULL);
    ck_assert_msg(cfg != NULL, "not JSON: %s", out);
    json_t *ks = json_object_get(cfg, "kafka_security");
    ck_assert_str_eq(json_string_value(json_object_get(ks, "protocol")), "sasl_ssl");
    ck_assert_str_eq(json_string_value(json_object_get(ks, "sasl_username")), "vexfs");
    ck_assert_str_eq(json_string_value(json_object_get(ks, "sasl_password_file")), "***");
    ck_assert_str_eq(json_string_value(json_object_get(ks, "ssl_ca_file")),
                     getenv("VEXFS_KAFKA_SECURITY_SSL_CA_FILE"));
    json_decref(cfg);
    ck_assert_msg(!strstr(out, "sasl.password"), "got: %s", out);
    free(out);
    free(dir);
}
END_TEST

struct s_metric_wait {
    uint16_t port;
    const char *series;
    double want;
};

static bool
cb_metric_at_least(void *arg)
{
    struct s_metric_wait *w = arg;
    return vt_metric(w->port, w->series) >= w->want;
}

/* With the credentials: propagation journals over SASL_SSL, analytics consumes the journal in
 * its consumer group over SASL_SSL and replays it; a second propagation journals over the
 * mutual-TLS listener with a passphrase-protected PEM key. */
START_TEST(t_secured_pipeline)
{
    enum { REQUESTS = 10, PER = 100, N = REQUESTS * PER };
    char topic[200];
    kh_topic(topic, sizeof topic, "secured");
    kh_create_topic(topic, 3);
    struct s_daemon p;
    s_init(&p, "propagation");
    s_prop_config(&p, kh_bootstrap(), topic);
    s_spawn(&p);
    struct s_drain drain;
    s_drain_start(&drain, p.output);
    struct s_ready_wait r = {.port = p.port, .want = 200};
    ck_assert_msg(vt_wait_until(cb_ready_is, &r, 20000), "not ready: %s", r.body);
    for (int i = 0; i < REQUESTS; i++) {
        long st = s_post_durable(p.port, i * PER, PER);
        ck_assert_msg(st == 200, "durable request %d: %ld; log in %s", i, st, p.log);
    }
    ck_assert_double_eq(vt_metric(p.port, "vexfs_kafka_delivered_total"), N);
    static const char *const problems[] = {"KAFKA-REFUSED", "KAFKA-TLS", "KAFKA-ERROR",
                                           "KAFKA-FATAL", "KAFKA-PLAIN"};
    for (size_t i = 0; i < sizeof problems / sizeof problems[0]; i++) {
        struct s_log_wait w = {.path = p.log, .needle = problems[i]};
        ck_assert_msg(!cb_log_has(&w), "a Kafka problem was logged: %s", w.line);
    }
    /* The settings in use are said once at start, without the password file. */
    struct s_log_wait w = {.path = p.log, .needle = "KAFKA-SECURITY"};
    ck_assert_msg(cb_log_has(&w), "no KAFKA-SECURITY line; log in %s", p.log);
    ck_assert_msg(strstr(w.line, "sasl_ssl, SCRAM-SHA-512 user \"vexfs\", CA ") &&
                      !strstr(w.line, "sasl.password"),
                  "got: %s", w.line);
    ck_assert_int_eq(s_stop(&p), 0);
    ck_assert_uint_eq(s_drain_stop(&drain), N);

    size_t total = 0;
    json_t *ids = kh_read_topic(topic, N, &total);
    ck_assert_msg(total == N && json_object_size(ids) == N, "journal: %zu messages, %zu ids",
                  total, json_object_size(ids));
    json_decref(ids);

    /* analytics: the journal in a consumer group, then a replay from the earliest offset */
    struct ah_daemon a;
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "  kafka_brokers: \"%s\"\n  topic: \"%s\"\n  group_id: \"%s\"\n"
             "  results_topic: \"\"\n",
             kh_bootstrap(), topic, topic);
    ah_start(&a, yaml, NULL);
    struct s_metric_wait mw = {a.rest_port, "vexfs_analytics_events_total", N};
    ck_assert_msg(vt_wait_until(cb_metric_at_least, &mw, 60000), "analytics consumed %.0f of %d",
                  vt_metric(a.rest_port, mw.series), N);
    ck_assert_int_eq(ah_call(&a, "POST", "/v1/replay", "{\"from\":\"earliest\"}", true, NULL), 202);
    json_t *st = ah_wait_member(&a, "/v1/replay", "state", "done", 120);
    ck_assert_str_eq(json_string_value(json_object_get(st, "state")), "done");
    ck_assert_int_eq(json_integer_value(json_object_get(st, "events_total")), N);
    ck_assert_int_eq(json_integer_value(json_object_get(st, "events_done")), N);
    json_decref(st);
    ck_assert_double_eq(vt_metric(a.rest_port, "vexfs_analytics_events_total"), 2.0 * N);
    struct s_log_wait aw = {.path = a.log, .needle = "KAFKA-REFUSED"};
    ck_assert_msg(!cb_log_has(&aw), "analytics: %s", aw.line);
    ah_stop(&a);

    /* mutual TLS: a client certificate whose key is encrypted, its passphrase from a file */
    struct s_material m;
    s_material(&m);
    char topic2[200];
    kh_topic(topic2, sizeof topic2, "mtls");
    kh_create_topic(topic2, 1);
    char *protocol = strdup(getenv("VEXFS_KAFKA_SECURITY_PROTOCOL"));
    setenv("VEXFS_KAFKA_SECURITY_PROTOCOL", "ssl", 1);
    setenv("VEXFS_KAFKA_SECURITY_SSL_CERTIFICATE_FILE", m.crt, 1);
    setenv("VEXFS_KAFKA_SECURITY_SSL_KEY_FILE", m.key, 1);
    setenv("VEXFS_KAFKA_SECURITY_SSL_KEY_PASSWORD_FILE", m.key_password, 1);
    struct s_daemon q;
    s_init(&q, "propagation");
    s_prop_config(&q, m.ssl_bootstrap, topic2);
    s_spawn(&q);
    s_drain_start(&drain, q.output);
    ck_assert_int_eq(s_post_durable(q.port, 0, PER), 200);
    ck_assert_int_eq(s_stop(&q), 0);
    ck_assert_uint_eq(s_drain_stop(&drain), PER);
    setenv("VEXFS_KAFKA_SECURITY_PROTOCOL", protocol, 1);
    free(protocol);
    unsetenv("VEXFS_KAFKA_SECURITY_SSL_CERTIFICATE_FILE");
    unsetenv("VEXFS_KAFKA_SECURITY_SSL_KEY_FILE");
    unsetenv("VEXFS_KAFKA_SECURITY_SSL_KEY_PASSWORD_FILE");
    total = 0;
    ids = kh_read_topic(topic2, PER, &total);
    ck_assert_uint_eq(total, PER);
    json_decref(ids);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("kafka_security");
    TCase *tc = tcase_create("broker");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, t_broker_refuses_without_credentials);
    tcase_add_test(tc, t_propagation_without_credentials_says_so);
    tcase_add_test(tc, t_propagation_wrong_password_says_so);
    tcase_add_test(tc, t_start_errors_are_precise);
    tcase_add_test(tc, t_secured_pipeline);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
