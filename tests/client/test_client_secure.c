/* SPDX-License-Identifier: Apache-2.0 */
/* libvexfs with security.curve and security.tls required, against propagation's own loop and
 * REST routes run in this process with the suite's socket factory (CURVE with the ZAP
 * allow-list), producer identities and the admin server over HTTPS, mutual TLS included: the
 * daemon's code as vx_daemon wires it once the security section is on, with the test process's
 * key set and certificate authority (tests/support/vt_secure.c).
 *
 * An identity that is authorized emits, is acknowledged and reads the tap; a key that is not
 * authorized, or a wrong server key, gets nothing through (and the client says its events are
 * still unacknowledged, never delivered); a secret key readable by others is refused with the
 * file named; REST calls verify the server against the suite's CA and present the identity's
 * client certificate where mutual TLS asks for one. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prop_config.h"
#include "prop_http.h"
#include "prop_server.h"
#include "vexfs/client.h"
#include "vx_arena.h"
#include "vx_config.h"
#include "vx_http.h"
#include "vx_keys.h"
#include "vx_sock.h"
#include "vx_test.h"
#include "vx_tls.h"
#include "vx_wire.h"

#define S_TOKEN "secure-token"

/* Propagation's loop and REST routes, secured. */
struct s_prop {
    char dir[256];
    vx_config_t *cfg;
    struct prop_config pc;
    vx_metrics_t *metrics;
    vx_socks_t *socks;
    prop_server_t *server;
    vx_http_t *http;
    prop_http_t *routes;
    pthread_t thread;
    volatile sig_atomic_t stop;
    char acked[64], output[64], tap[64];
    char url[64];
};

static void *
s_prop_main(void *arg)
{
    struct s_prop *p = arg;
    prop_server_run(p->server, &p->stop);
    return NULL;
}

static void
s_prop_start(struct s_prop *p, bool client_auth)
{
    memset(p, 0, sizeof *p);
    char *dir = vt_tmpdir();
    snprintf(p->dir, sizeof p->dir, "%s", dir);
    free(dir);
    snprintf(p->acked, sizeof p->acked, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    snprintf(p->output, sizeof p->output, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    snprintf(p->tap, sizeof p->tap, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    char ids[300], path[300], yaml[2048];
    snprintf(ids, sizeof ids, "%s/identities.yaml", p->dir);
    ck_assert_int_eq(vt_write_file(ids, "producers:\n"
                                        "  test: {sources: [\"*\"], tenants: [\"*\"]}\n"),
                     0);
    snprintf(path, sizeof path, "%s/vexfs.yaml", p->dir);
    snprintf(yaml, sizeof yaml,
             "event_propagation:\n"
             "  ingest_endpoint: tcp://127.0.0.1:%u\n"
             "  ingest_acked_endpoint: %s\n"
             "  output_endpoint: %s\n"
             "  tap_endpoint: %s\n"
             "  producer_identities_file: %s\n"
             "  shutdown_timeout_ms: 2000\n",
             (unsigned)vt_free_port(), p->acked, p->output, p->tap, ids);
    ck_assert_int_eq(vt_write_file(path, yaml), 0);
    static const struct vx_cfg_section *const secs[] = {&prop_cfg_section,
                                                        &vx_cfg_transport_section};
    char err[1024];
    ck_assert_msg(vx_config_load(&p->cfg, path, secs, 2, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(vx_config_bind(p->cfg, &prop_cfg_section, &p->pc), 0);
    struct vx_transport_config tc;
    ck_assert_int_eq(vx_config_bind(p->cfg, &vx_cfg_transport_section, &tc), 0);
    struct vx_security_config sc = {.curve = "required", .keys_dir = vt_keys_dir(),
                                    .identity = "propagation", .tls = "required",
                                    .tls_dir = vt_tls_dir(), .tls_client_auth = client_auth};
    p->metrics = vx_metrics_new();
    p->socks = vx_socks_new(&tc, &sc, "propagation", p->metrics, err, sizeof err);
    ck_assert_msg(p->socks != NULL, "%s", err);
    p->server = prop_server_new(&p->pc, p->socks, p->metrics, err, sizeof err);
    ck_assert_msg(p->server != NULL, "%s", err);

    char crt[400], key[400], ca[400];
    snprintf(crt, sizeof crt, "%s/server.crt", vt_tls_dir());
    snprintf(key, sizeof key, "%s/server.key", vt_tls_dir());
    snprintf(ca, sizeof ca, "%s/ca.crt", vt_tls_dir());
    char *crt_pem = vx_tls_read_pem(crt, false, NULL, err, sizeof err);
    char *key_pem = vx_tls_read_pem(key, true, NULL, err, sizeof err);
    char *ca_pem = vx_tls_read_pem(ca, false, NULL, err, sizeof err);
    ck_assert_msg(crt_pem && key_pem && ca_pem, "%s", err);
    struct vx_http_opts ho = {.service = "vexfs-propagation", .version = "test",
                              .bind = "127.0.0.1", .token = S_TOKEN, .tls_cert = crt_pem,
                              .tls_key = key_pem, .tls_client_ca = client_auth ? ca_pem : NULL};
    const char *herr = NULL;
    p->http = vx_http_new(&ho, p->metrics, &herr);
    free(crt_pem);
    free(key_pem);
    free(ca_pem);
    ck_assert_msg(p->http != NULL, "%s", herr);
    p->routes = prop_http_new(p->http, p->server, err, sizeof err);
    ck_assert_msg(p->routes != NULL, "%s", err);
    ck_assert_int_eq(vx_http_start(p->http), 0);
    snprintf(p->url, sizeof p->url, "https://127.0.0.1:%u", (unsigned)vx_http_port(p->http));
    ck_assert_int_eq(pthread_create(&p->thread, NULL, s_prop_main, p), 0);
}

static void
s_prop_stop(struct s_prop *p)
{
    p->stop = 1;
    pthread_join(p->thread, NULL);
    vx_http_stop(p->http);
    prop_http_destroy(&p->routes);
    prop_server_destroy(&p->server);
    vx_http_destroy(&p->http);
    vx_socks_destroy(&p->socks);
    vx_metrics_destroy(&p->metrics);
    vx_config_destroy(&p->cfg);
}

static double
s_prop_metric(struct s_prop *p, const char *series)
{
    size_t len = 0;
    char *text = vx_metrics_render(p->metrics, &len);
    double v = -1;
    const char *at = strstr(text, series);
    while (at && at > text && at[-1] != '\n') {
        at = strstr(at + 1, series);
    }
    if (at) {
        v = strtod(at + strlen(series), NULL);
    }
    free(text);
    return v;
}

static void
s_set(vexfs_config_t *cfg, const char *key, const char *value)
{
    int rc = vexfs_config_set(cfg, key, value);
    ck_assert_msg(rc == 0, "set %s=%s: %d %s", key, value, rc, vexfs_last_error());
}

/* A client with the suite's default security (curve and tls required) and the test's key
 * folder and authority; extra: more "key", "value" pairs, NULL-terminated. */
static vexfs_client_t *
s_client(const struct s_prop *p, const char *const *extra)
{
    vexfs_config_t *cfg = vexfs_config_new();
    s_set(cfg, "security.keys_dir", vt_keys_dir());
    s_set(cfg, "security.tls_dir", vt_tls_dir());
    s_set(cfg, "security.identity", "test");
    s_set(cfg, "ingest_endpoint", p->acked);
    s_set(cfg, "tap_endpoint", p->tap);
    s_set(cfg, "propagation_url", p->url);
    s_set(cfg, "token", S_TOKEN);
    s_set(cfg, "ack_timeout_ms", "300");
    s_set(cfg, "log_level", "error");
    for (size_t i = 0; extra && extra[i]; i += 2) {
        s_set(cfg, extra[i], extra[i + 1]);
    }
    vexfs_client_t *c = vexfs_client_new(cfg);
    vexfs_config_destroy(&cfg);
    ck_assert_msg(c != NULL, "vexfs_client_new: %s", vexfs_last_error());
    return c;
}

static int
s_emit(vexfs_client_t *c, const char *path)
{
    struct vexfs_event ev = VEXFS_EVENT_INIT;
    ev.type = "filesystem_create";
    ev.path = path;
    return vexfs_client_emit(c, &ev, 1000);
}

/* Receives from the output over CURVE (identity "test") until path arrives or timeout_ms. */
static bool
s_arrives(zsock_t *pull, const char *path, int timeout_ms)
{
    zsock_set_rcvtimeo(pull, timeout_ms);
    vx_arena_t *a = vx_arena_new(1 << 16, 0);
    bool found = false;
    struct vx_wire_msg m;
    while (!found && vx_wire_recv(pull, &m, 0) == 0) {
        vx_batch_t *b = vx_wire_decode(zmq_msg_data(&m.body), zmq_msg_size(&m.body), a);
        for (size_t i = 0; b && i < b->n_events; i++) {
            found = found || strcmp(b->events[i]->path, path) == 0;
        }
        vx_wire_msg_fini(&m);
        vx_arena_reset(a);
    }
    vx_arena_destroy(&a);
    return found;
}

START_TEST(t_curve_identity_emits_and_taps)
{
    struct s_prop p;
    s_prop_start(&p, false);
    zsock_t *pull = vt_sock(ZMQ_PULL, p.output, false);
    ck_assert_ptr_nonnull(pull);
    vexfs_client_t *c = s_client(&p, NULL);
    ck_assert_msg(vexfs_client_connect(c) == 0, "%s", vexfs_last_error());
    vexfs_tap_t *tap = vexfs_tap_open(c, NULL);
    ck_assert_msg(tap != NULL, "%s", vexfs_last_error());

    ck_assert_int_eq(s_emit(c, "/secure/a"), 0);
    ck_assert_msg(vexfs_client_flush(c, 10000) == 0, "%s", vexfs_last_error());
    ck_assert(s_arrives(pull, "/secure/a", 10000));
    /* The batch came from the identity its key is authorized as. */
    ck_assert(s_prop_metric(&p, "vexfs_zmq_auth_admitted_total") >= 1);
    ck_assert(s_prop_metric(&p, "vexfs_events_dropped_total{reason=\"identity\"}") <= 0);

    /* The tap over CURVE: probes until the subscription is in, then the events. */
    bool seen = false;
    for (int i = 0; i < 100 && !seen; i++) {
        char path[64];
        snprintf(path, sizeof path, "/secure/probe-%d", i);
        ck_assert_int_eq(s_emit(c, path), 0);
        ck_assert_int_eq(vexfs_client_flush(c, 5000), 0);
        char *json = NULL;
        while (!seen && vexfs_tap_next(tap, 100, &json) == 0) {
            seen = strstr(json, "/secure/probe-") != NULL;
            vexfs_free(json);
        }
    }
    ck_assert_msg(seen, "the tap showed nothing over CURVE");
    vexfs_tap_close(&tap);

    /* HTTPS verified against the suite's authority. */
    long status = 0;
    char *answer = NULL;
    ck_assert_msg(vexfs_client_call(c, "propagation", "GET", "/v1/stats", NULL, &status,
                                    &answer) == 0,
                  "%s", vexfs_last_error());
    ck_assert_int_eq(status, 200);
    ck_assert_msg(strstr(answer, "\"propagated\""), "%s", answer);
    vexfs_free(answer);
    ck_assert_int_eq(vexfs_client_call(c, "propagation", "POST", "/v1/events",
                                       "{\"type\":\"system\"}", &status, &answer),
                     0);
    ck_assert_msg(status == 202, "HTTP %ld %s", status, answer);
    vexfs_free(answer);
    ck_assert_int_eq(vexfs_client_close(&c, 1000, NULL), 0);
    zsock_destroy(&pull);
    s_prop_stop(&p);
}
END_TEST

START_TEST(t_unlisted_key_gets_nothing_through)
{
    struct s_prop p;
    s_prop_start(&p, false);
    zsock_t *pull = vt_sock(ZMQ_PULL, p.output, false);
    /* A key pair the daemon does not list in authorized/. */
    char *dir = vt_tmpdir();
    char err[512], key[300];
    ck_assert_int_eq(vx_keys_generate(dir, "stranger", err, sizeof err), 0);
    snprintf(key, sizeof key, "%s/stranger.key", dir);
    const char *extra[] = {"secret_key_file", key, NULL};
    vexfs_client_t *c = s_client(&p, extra);
    ck_assert_int_eq(s_emit(c, "/secure/stranger"), 0);
    ck_assert_int_eq(vexfs_client_flush(c, 1500), -ETIMEDOUT);
    ck_assert_msg(strstr(vexfs_last_error(), "still delivered"), "%s", vexfs_last_error());
    struct vexfs_stats st = VEXFS_STATS_INIT;
    vexfs_client_stats(c, &st);
    ck_assert_uint_eq(st.acked_events, 0);
    ck_assert_uint_eq(st.buffered_batches, 1);
    ck_assert(s_prop_metric(&p, "vexfs_zmq_auth_refused_total{reason=\"unknown_key\"}") >= 1);
    uint64_t abandoned = 0;
    ck_assert_int_eq(vexfs_client_close(&c, 0, &abandoned), -ETIMEDOUT);
    ck_assert_uint_eq(abandoned, 1);

    /* A client that trusts another server key never talks to this daemon either. */
    ck_assert_int_eq(vx_keys_generate(dir, "impostor", err, sizeof err), 0);
    snprintf(key, sizeof key, "%s/impostor.pub", dir);
    const char *wrong_server[] = {"server_key_file", key, NULL};
    c = s_client(&p, wrong_server);
    ck_assert_int_eq(s_emit(c, "/secure/impostor"), 0);
    ck_assert_int_eq(vexfs_client_flush(c, 1000), -ETIMEDOUT);
    vexfs_client_close(&c, 0, NULL);
    ck_assert(!s_arrives(pull, "/secure/stranger", 300));

    /* A secret key readable by others is refused, the file named. */
    snprintf(key, sizeof key, "%s/stranger.key", dir);
    ck_assert_int_eq(chmod(key, 0644), 0);
    vexfs_config_t *cfg = vexfs_config_new();
    s_set(cfg, "security.keys_dir", vt_keys_dir());
    s_set(cfg, "secret_key_file", key);
    s_set(cfg, "ingest_endpoint", p.acked);
    ck_assert_ptr_null(vexfs_client_new(cfg));
    ck_assert_msg(strstr(vexfs_last_error(), key) && strstr(vexfs_last_error(), "security.curve"),
                  "%s", vexfs_last_error());
    /* The default layout: a missing identity's key is named at the first socket. */
    s_set(cfg, "secret_key_file", "");
    s_set(cfg, "security.identity", "nobody");
    vexfs_client_t *nobody = vexfs_client_new(cfg);
    ck_assert_ptr_nonnull(nobody);
    ck_assert_int_lt(vexfs_client_connect(nobody), 0);
    ck_assert_msg(strstr(vexfs_last_error(), "nobody.key"), "%s", vexfs_last_error());
    ck_assert_ptr_null(vexfs_tap_open(nobody, NULL));
    ck_assert_msg(strstr(vexfs_last_error(), "nobody.key"), "%s", vexfs_last_error());
    vexfs_client_close(&nobody, 0, NULL);
    vexfs_config_destroy(&cfg);
    free(dir);
    zsock_destroy(&pull);
    s_prop_stop(&p);
}
END_TEST

START_TEST(t_mutual_tls)
{
    struct s_prop p;
    s_prop_start(&p, true);
    /* Identity "test" has a client certificate in tls_dir: presented by itself. */
    vexfs_client_t *c = s_client(&p, NULL);
    long status = 0;
    char *answer = NULL;
    ck_assert_msg(vexfs_client_call(c, "propagation", "GET", "/v1/stats", NULL, &status,
                                    &answer) == 0,
                  "%s", vexfs_last_error());
    ck_assert_int_eq(status, 200);
    vexfs_free(answer);
    vexfs_client_close(&c, 0, NULL);

    /* An identity without a certificate: the daemon refuses the route (401). */
    const char *nocert[] = {"security.identity", "propagation", NULL};
    c = s_client(&p, nocert);
    ck_assert_int_eq(vexfs_client_call(c, "propagation", "GET", "/v1/stats", NULL, &status,
                                       &answer),
                     0);
    ck_assert_msg(status == 401 && strstr(answer, "client_certificate_required"), "HTTP %ld %s",
                  status, answer);
    vexfs_free(answer);
    vexfs_client_close(&c, 0, NULL);

    /* Another authority: the server does not verify, nothing is sent. */
    char *dir = vt_tmpdir();
    char err[512], ca[300];
    ck_assert_int_eq(vx_tls_make_ca(dir, "other", err, sizeof err), 0);
    snprintf(ca, sizeof ca, "%s/other.crt", dir);
    const char *other_ca[] = {"ca_file", ca, NULL};
    c = s_client(&p, other_ca);
    ck_assert_int_eq(vexfs_client_call(c, "propagation", "GET", "/v1/stats", NULL, &status,
                                       &answer),
                     -EACCES);
    ck_assert_msg(strstr(vexfs_last_error(), "nothing was sent"), "%s", vexfs_last_error());
    vexfs_client_close(&c, 0, NULL);

    /* A CA file that is missing is named at the first call. */
    const char *no_ca[] = {"ca_file", "/nonexistent/ca.crt", NULL};
    c = s_client(&p, no_ca);
    ck_assert_int_eq(vexfs_client_call(c, "propagation", "GET", "/v1/stats", NULL, &status,
                                       NULL),
                     -EACCES);
    ck_assert_msg(strstr(vexfs_last_error(), "/nonexistent/ca.crt"), "%s", vexfs_last_error());
    vexfs_client_close(&c, 0, NULL);
    free(dir);
    s_prop_stop(&p);
}
END_TEST

static Suite *
s_suite(void)
{
    Suite *s = suite_create("client_secure");
    TCase *tc = tcase_create("curve");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, t_curve_identity_emits_and_taps);
    tcase_add_test(tc, t_unlisted_key_gets_nothing_through);
    suite_add_tcase(s, tc);
    tc = tcase_create("tls");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, t_mutual_tls);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(s_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
