/* SPDX-License-Identifier: Apache-2.0 */
/* What security costs, each secured figure beside its plain peer measured in the same run.
 *
 * ZeroMQ: one PUSH -> PULL link over loopback TCP opened through the suite's socket factory
 * (lib/vx_sock), once from a factory with security.curve required (CURVE: the bound PULL
 * presents the server key and admits the authorized keys through the ZAP handler, the PUSH
 * presents the identity "ctl") and once from a factory with security.curve off (plain), both
 * in this process. Batches of 100 packed events (about 100 bytes each, as propagation
 * receives them) are sent as fast as the link takes them; events/s and MB/s of batch bytes
 * from the first send to the last receipt. The runs alternate CURVE, plain, CURVE, ... so a
 * burst of other work on the machine falls on both.
 *
 * REST: a real vexfs-propagation started twice: secured as in production (HTTPS with the test
 * support's certificates; this client presents the certificate "test", an admin) and with
 * security.tls off (plain HTTP on loopback; the client sends an admin bearer token, the only
 * credential plain HTTP can carry). GET /v1/stats one request at a time, in two ways: a new
 * connection per request (TCP, and for HTTPS a full handshake: the client keeps no TLS
 * session to resume) and one keep-alive connection. Requests/s of wall time and p50/p99
 * latency per run; the daemons run side by side and the runs alternate between them. A third
 * client, HTTPS with the bearer token and no client certificate, shows what checking the
 * certificate costs (the server verifies a presented certificate's chain on every request).
 *
 * Printed: every run, then per figure the median over the runs with their spread (min..max),
 * and the ratio secured/plain (per run, its median and spread).
 * Usage: bench_security [RUNS] [EVENTS] [REQUESTS] (defaults 5, 1,000,000 events per ZeroMQ
 * run, 2,000 requests per REST run and way; new-connection runs make a quarter as many);
 * programs from $VX_BIN_DIR. */
#include <curl/curl.h>
#include <czmq.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vx_clock.h"
#include "vx_sock.h"
#include "vx_test.h"
#include "vx_wire.h"

#define BATCH 100
#define N_TEMPLATES 16
#define MAX_RUNS 21
#define TOKEN "bench-security-token"

/* ---- statistics --------------------------------------------------------------------------- */

static int
cb_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median and spread of v[0..n) (v is left unchanged). */
struct stat3 {
    double med, lo, hi;
};

static struct stat3
s_stat(const double *v, int n)
{
    double s[MAX_RUNS];
    memcpy(s, v, (size_t)n * sizeof *v);
    qsort(s, (size_t)n, sizeof *s, cb_cmp);
    struct stat3 r = {n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2, s[0], s[n - 1]};
    return r;
}

/* Prints "label  median (min..max) unit" for the secured and the plain figure and the ratio
 * secured/plain per run. */
static void
s_pair(const char *label, const double *sec, const double *plain, int n, const char *unit,
       const char *sec_name, const char *plain_name)
{
    double ratio[MAX_RUNS];
    for (int i = 0; i < n; i++) {
        ratio[i] = sec[i] / plain[i];
    }
    struct stat3 a = s_stat(sec, n), b = s_stat(plain, n), r = s_stat(ratio, n);
    printf("  %-36s %-6s %12.1f %s (%.1f..%.1f)\n", label, sec_name, a.med, unit, a.lo, a.hi);
    printf("  %-36s %-6s %12.1f %s (%.1f..%.1f)\n", "", plain_name, b.med, unit, b.lo, b.hi);
    printf("  %-36s ratio %s/%s = %.3f (%.3f..%.3f, per run)\n", "", sec_name, plain_name, r.med,
           r.lo, r.hi);
}

/* ---- ZeroMQ: one link, CURVE or plain ------------------------------------------------------ */

struct packed {
    uint8_t *data;
    size_t len;
};
static struct packed s_batches[N_TEMPLATES];

/* Batches of 100 writes with a path, two content entries and a user, ~100 bytes each. */
static void
s_make_batches(void)
{
    struct vx_batchbuf b = {0};
    for (int t = 0; t < N_TEMPLATES; t++) {
        for (int k = 0; k < BATCH; k++) {
            char path[64], n[24], user[16];
            snprintf(path, sizeof path, "/srv/data/project-%d/file-%06d.dat", t, k);
            snprintf(n, sizeof n, "%d", t * BATCH + k);
            snprintf(user, sizeof user, "u%d", k % 64);
            vx_event_t e;
            vexfs__v1__event__init(&e);
            Vexfs__V1__Event__ContentEntry ce[2], *cp[2] = {&ce[0], &ce[1]};
            Vexfs__V1__Event__MetadataEntry me, *mp = &me;
            vexfs__v1__event__content_entry__init(&ce[0]);
            vexfs__v1__event__content_entry__init(&ce[1]);
            vexfs__v1__event__metadata_entry__init(&me);
            ce[0].key = (char *)"size";
            ce[0].value = (char *)"4096";
            ce[1].key = (char *)"n";
            ce[1].value = n;
            me.key = (char *)"user_id";
            me.value = user;
            e.type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE;
            e.source = VEXFS__V1__BOUNDARY__USERSPACE_API;
            e.path = path;
            e.timestamp_ns = 1700000000000000000ULL + (uint64_t)k;
            e.n_content = 2;
            e.content = cp;
            e.n_metadata = 1;
            e.metadata = &mp;
            uint8_t buf[512];
            size_t l = vexfs__v1__event__pack(&e, buf);
            vx_batchbuf_add(&b, buf, l, NULL, 0);
        }
        s_batches[t].len = vx_batchbuf_seal(&b, "bench-security", 14, (uint64_t)t + 1);
        s_batches[t].data = malloc(s_batches[t].len);
        memcpy(s_batches[t].data, b.buf, s_batches[t].len);
        vx_batchbuf_clear(&b);
    }
    vx_batchbuf_fini(&b);
}

struct link_rx {
    const vx_socks_t *socks;
    char endpoint[128];
    uint64_t expect_msgs, got_bytes, last_ns;
    atomic_uint_fast64_t got_msgs;
    atomic_int ready; /* 1 bound, -1 failed */
    pthread_t thread;
};

/* The receiving end: binds a PULL on a free loopback port and counts batches and bytes. */
static void *
s_rx_main(void *arg)
{
    struct link_rx *r = arg;
    char err[512], bound[128];
    struct vx_sock_spec spec = {.type = ZMQ_PULL, .endpoint = "tcp://127.0.0.1:*", .bind = true,
                                .rcvhwm = 1000, .rcvtimeo_ms = 10000};
    zsock_t *pull = vx_sock_open(r->socks, &spec, bound, sizeof bound, err, sizeof err);
    if (pull == NULL) {
        fprintf(stderr, "bench: PULL: %s\n", err);
        atomic_store(&r->ready, -1);
        return NULL;
    }
    snprintf(r->endpoint, sizeof r->endpoint, "%s", bound);
    atomic_store(&r->ready, 1);
    while (atomic_load(&r->got_msgs) < r->expect_msgs) {
        struct vx_wire_msg m;
        if (vx_wire_recv(pull, &m, 0) < 0) {
            break;
        }
        r->got_bytes += zmq_msg_size(&m.body);
        r->last_ns = vx_mono_ns();
        vx_wire_msg_fini(&m);
        atomic_fetch_add(&r->got_msgs, 1);
    }
    zsock_destroy(&pull);
    return NULL;
}

/* One run over a fresh link from socks: n events; fills events/s and MB/s. Returns 0 or -1. */
static int
s_link_run(const vx_socks_t *socks, uint64_t n, double *ev_s, double *mb_s)
{
    struct link_rx r = {.socks = socks, .expect_msgs = n / BATCH};
    atomic_init(&r.got_msgs, 0);
    atomic_init(&r.ready, 0);
    pthread_create(&r.thread, NULL, s_rx_main, &r);
    while (atomic_load(&r.ready) == 0) {
        usleep(1000);
    }
    if (atomic_load(&r.ready) < 0) {
        pthread_join(r.thread, NULL);
        return -1;
    }
    char err[512];
    struct vx_sock_spec spec = {.type = ZMQ_PUSH, .endpoint = r.endpoint, .sndhwm = 1000};
    zsock_t *push = vx_sock_open(socks, &spec, NULL, 0, err, sizeof err);
    if (push == NULL) {
        fprintf(stderr, "bench: PUSH: %s\n", err);
        /* the receiver ends at its receive timeout */
        pthread_join(r.thread, NULL);
        return -1;
    }
    /* One batch first, so the connection (and CURVE's handshake) is up before the clock
     * starts: what is measured is the link's steady throughput. */
    vx_wire_send_packed(push, VX_WIRE_TOPIC, s_batches[0].data, s_batches[0].len, 0);
    uint64_t deadline = vx_mono_ns() + 20 * VX_NS_PER_S;
    while (atomic_load(&r.got_msgs) == 0 && vx_mono_ns() < deadline) {
        usleep(1000);
    }
    uint64_t t0 = vx_mono_ns();
    uint64_t bytes0 = s_batches[0].len;
    for (uint64_t i = 1; i < r.expect_msgs; i++) {
        struct packed *p = &s_batches[i % N_TEMPLATES];
        vx_wire_send_packed(push, VX_WIRE_TOPIC, p->data, p->len, 0);
    }
    pthread_join(r.thread, NULL);
    zsock_destroy(&push);
    uint64_t got = atomic_load(&r.got_msgs);
    if (got < r.expect_msgs) {
        fprintf(stderr, "bench: only %llu of %llu batches arrived\n", (unsigned long long)got,
                (unsigned long long)r.expect_msgs);
        return -1;
    }
    double secs = (double)(r.last_ns - t0) / 1e9;
    *ev_s = (double)((r.expect_msgs - 1) * BATCH) / secs;
    *mb_s = (double)(r.got_bytes - bytes0) / secs / 1e6;
    return 0;
}

static vx_socks_t *
s_factory(bool curve)
{
    static const struct vx_transport_config tc = {1000, 0, 64 * 1024 * 1024 + 4096, 0};
    struct vx_security_config sc = {.curve = curve ? "required" : "off",
                                    .keys_dir = vt_keys_dir(), .identity = "ctl",
                                    .tls = "required", .tls_dir = vt_tls_dir(),
                                    .credentials_file = "", .audit_dir = "",
                                    .audit_key_file = ""};
    char err[512];
    vx_socks_t *s = vx_socks_new(&tc, &sc, "ctl", NULL, err, sizeof err);
    if (s == NULL) {
        fprintf(stderr, "bench: socket factory (curve %s): %s\n", sc.curve, err);
    }
    return s;
}

static int
s_zmq(int runs, uint64_t n)
{
    vx_socks_t *curve = s_factory(true), *plain = s_factory(false);
    int rc = -1;
    if (curve == NULL || plain == NULL || !vx_socks_curve(curve) || vx_socks_curve(plain)) {
        goto out;
    }
    s_make_batches();
    size_t bytes = 0;
    for (int t = 0; t < N_TEMPLATES; t++) {
        bytes += s_batches[t].len;
    }
    printf("== ZeroMQ: one PUSH -> PULL link over loopback TCP through lib/vx_sock, CURVE vs "
           "security.curve off,\n   batches of %d events (%zu bytes on average), %llu events "
           "per run, %d runs alternating\n",
           BATCH, bytes / N_TEMPLATES, (unsigned long long)n, runs);
    double ev[2][MAX_RUNS], mb[2][MAX_RUNS];
    for (int i = 0; i < runs; i++) {
        if (s_link_run(curve, n, &ev[0][i], &mb[0][i]) < 0 ||
            s_link_run(plain, n, &ev[1][i], &mb[1][i]) < 0) {
            goto out;
        }
        printf("  run %d: CURVE %.0f events/s %.1f MB/s, plain %.0f events/s %.1f MB/s\n", i + 1,
               ev[0][i], mb[0][i], ev[1][i], mb[1][i]);
        fflush(stdout);
    }
    printf("summary over %d runs: median (min..max)\n", runs);
    s_pair("ZeroMQ link throughput", ev[0], ev[1], runs, "events/s", "CURVE", "plain");
    s_pair("ZeroMQ link throughput", mb[0], mb[1], runs, "MB/s", "CURVE", "plain");
    rc = 0;
out:
    vx_socks_destroy(&curve);
    vx_socks_destroy(&plain);
    for (int t = 0; t < N_TEMPLATES; t++) {
        free(s_batches[t].data);
        s_batches[t].data = NULL;
    }
    return rc;
}

/* ---- REST: propagation over HTTPS vs security.tls off --------------------------------------- */

struct daemon {
    pid_t pid;
    uint16_t rest;
    bool tls;
    char log[300];
};

static int
s_daemon_start(struct daemon *d, const char *dir, bool tls)
{
    char cfg[300], tok[300], text[1024], bin[512];
    d->tls = tls;
    d->rest = vt_free_port();
    snprintf(cfg, sizeof cfg, "%s/propagation-%s.yaml", dir, tls ? "tls" : "plain");
    snprintf(d->log, sizeof d->log, "%s/propagation-%s.log", dir, tls ? "tls" : "plain");
    snprintf(tok, sizeof tok, "%s/token", dir);
    vt_write_file(tok, TOKEN "\n");
    snprintf(text, sizeof text,
             "event_propagation:\n  rest_port: %u\n  ingest_endpoint: tcp://127.0.0.1:%u\n"
             "  output_endpoint: tcp://127.0.0.1:%u\n  tap_endpoint: \"\"\n"
             "  kafka_brokers: \"\"\nadmin:\n  token_file: %s\n%slogging:\n  level: warn\n",
             (unsigned)d->rest, (unsigned)vt_free_port(), (unsigned)vt_free_port(), tok,
             tls ? "" : "security:\n  tls: \"off\"\n");
    vt_write_file(cfg, text);
    snprintf(bin, sizeof bin, "%s/vexfs-propagation", vt_bin_dir());
    char *argv[] = {bin, (char *)"--config", cfg, NULL};
    d->pid = vt_spawn(argv, NULL, d->log);
    if (d->pid <= 0) {
        return -1;
    }
    /* vt_wait_ready speaks HTTPS; the plain daemon is asked over plain HTTP. */
    vt_http_plain(!tls);
    bool ok = vt_wait_ready(d->rest, 30000);
    vt_http_plain(false);
    if (!ok) {
        fprintf(stderr, "bench: vexfs-propagation (tls %s) did not start; see %s\n",
                tls ? "required" : "off", d->log);
        return -1;
    }
    return 0;
}

static size_t
cb_sink(char *p, size_t sz, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return sz * n;
}

/* n GET /v1/stats, one at a time: over one keep-alive connection, or each on a new one (and
 * then, over HTTPS, with a full handshake: no TLS session is kept). Over HTTPS the client
 * presents the certificate "test" when cert, else the bearer token. Fills lat (microseconds),
 * *rate (requests per second of wall time) and *conns (connections opened for the measured
 * requests). Returns 0 or -1. */
static int
s_requests(const struct daemon *d, bool cert, bool keepalive, size_t n, double *lat,
           double *rate, long *conns)
{
    char url[128], ca[400], certf[400], key[400];
    snprintf(url, sizeof url, "%s://127.0.0.1:%u/v1/stats", d->tls ? "https" : "http",
             (unsigned)d->rest);
    snprintf(ca, sizeof ca, "%s/ca.crt", vt_tls_dir());
    snprintf(certf, sizeof certf, "%s/test.crt", vt_tls_dir());
    snprintf(key, sizeof key, "%s/test.key", vt_tls_dir());
    CURL *c = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, cb_sink);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    if (d->tls) {
        curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    }
    if (d->tls && cert) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, certf);
        curl_easy_setopt(c, CURLOPT_SSLKEY, key);
    } else {
        hdrs = curl_slist_append(hdrs, "Authorization: Bearer " TOKEN);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    }
    if (!keepalive) {
        curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
        curl_easy_setopt(c, CURLOPT_SSL_SESSIONID_CACHE, 0L);
    }
    int rc = 0;
    uint64_t t0 = 0;
    *conns = 0;
    for (size_t i = 0; i < n + 20 && rc == 0; i++) { /* 20 to warm up */
        if (i == 20) {
            t0 = vx_mono_ns();
        }
        uint64_t t = vx_mono_ns();
        long status = 0;
        CURLcode cr = curl_easy_perform(c);
        if (cr != CURLE_OK ||
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status != 200) {
            fprintf(stderr, "bench: GET %s answered %ld (%s)\n", url, status,
                    curl_easy_strerror(cr));
            rc = -1;
        }
        if (i >= 20) {
            lat[i - 20] = (double)(vx_mono_ns() - t) / 1e3;
            long k = 0;
            curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &k);
            *conns += k;
        }
    }
    *rate = rc == 0 ? (double)n / ((double)(vx_mono_ns() - t0) / 1e9) : NAN;
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return rc;
}

static double
s_pct(const double *sorted, size_t n, double q)
{
    return sorted[(size_t)(q * (double)(n - 1))];
}

/* The clients: HTTPS with the client certificate, plain HTTP with the token, HTTPS with the
 * token and no certificate. */
enum { C_TLS, C_PLAIN, C_TLS_TOKEN, C_N };

/* Figures of one way (new connection or keep-alive) over the runs, per client. */
struct rest_way {
    double rate[C_N][MAX_RUNS], p50[C_N][MAX_RUNS], p99[C_N][MAX_RUNS];
    long conns[C_N][MAX_RUNS]; /* connections opened for the measured requests */
};

static int
s_rest_run(const struct daemon *d, int k, bool keepalive, size_t n, double *lat,
           struct rest_way *w, int run)
{
    if (s_requests(d, k == C_TLS, keepalive, n, lat, &w->rate[k][run], &w->conns[k][run]) < 0) {
        return -1;
    }
    qsort(lat, n, sizeof *lat, cb_cmp);
    w->p50[k][run] = s_pct(lat, n, 0.50);
    w->p99[k][run] = s_pct(lat, n, 0.99);
    return 0;
}

static void
s_rest_print(const char *way, const struct rest_way *w, int runs)
{
    char label[96];
    snprintf(label, sizeof label, "GET /v1/stats, %s", way);
    s_pair(label, w->rate[C_TLS], w->rate[C_PLAIN], runs, "requests/s", "HTTPS", "plain");
    s_pair("  latency p50", w->p50[C_TLS], w->p50[C_PLAIN], runs, "us", "HTTPS", "plain");
    s_pair("  latency p99", w->p99[C_TLS], w->p99[C_PLAIN], runs, "us", "HTTPS", "plain");
    s_pair("  HTTPS, token, no client cert", w->rate[C_TLS_TOKEN], w->rate[C_PLAIN], runs,
           "requests/s", "HTTPS", "plain");
    s_pair("  latency p50", w->p50[C_TLS_TOKEN], w->p50[C_PLAIN], runs, "us", "HTTPS", "plain");
}

static int
s_rest(int runs, size_t n)
{
    char *dir = vt_tmpdir();
    struct daemon d[2] = {{0}, {0}};
    size_t fresh_n = n / 4 < 100 ? 100 : n / 4;
    double *lat = calloc(n > fresh_n ? n : fresh_n, sizeof *lat);
    static struct rest_way ka, fresh;
    int rc = -1;
    if (s_daemon_start(&d[0], dir, true) < 0 || s_daemon_start(&d[1], dir, false) < 0) {
        goto out;
    }
    printf("== REST: GET /v1/stats of a real vexfs-propagation, HTTPS with the client certificate "
           "\"test\" vs\n   the same daemon with security.tls off (plain HTTP, bearer token), one "
           "request at a time,\n   %zu per keep-alive run, %zu per new-connection run (full TLS "
           "handshake each), %d runs alternating\n",
           n, fresh_n, runs);
    for (int i = 0; i < runs; i++) {
        for (int k = 0; k < C_N; k++) {
            const struct daemon *dk = &d[k == C_PLAIN ? 1 : 0];
            if (s_rest_run(dk, k, true, n, lat, &ka, i) < 0 ||
                s_rest_run(dk, k, false, fresh_n, lat, &fresh, i) < 0) {
                goto out;
            }
        }
        for (int w = 0; w < 2; w++) {
            const struct rest_way *x = w == 0 ? &ka : &fresh;
            printf("  run %d, %-15s HTTPS %6.0f req/s (p50 %5.0f us), plain %6.0f req/s (p50 "
                   "%5.0f us), HTTPS token %6.0f req/s (p50 %5.0f us); connections opened "
                   "%ld, %ld, %ld\n",
                   i + 1, w == 0 ? "keep-alive:" : "new connection:", x->rate[C_TLS][i],
                   x->p50[C_TLS][i], x->rate[C_PLAIN][i], x->p50[C_PLAIN][i],
                   x->rate[C_TLS_TOKEN][i], x->p50[C_TLS_TOKEN][i], x->conns[C_TLS][i],
                   x->conns[C_PLAIN][i], x->conns[C_TLS_TOKEN][i]);
        }
        fflush(stdout);
    }
    printf("summary over %d runs: median (min..max)\n", runs);
    s_rest_print("keep-alive", &ka, runs);
    s_rest_print("new connection each", &fresh, runs);
    rc = 0;
out:
    for (int k = 0; k < 2; k++) {
        if (d[k].pid > 0) {
            int st = vt_stop(d[k].pid, SIGTERM, 30000);
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                fprintf(stderr, "bench: propagation exit status %d; see %s\n", st, d[k].log);
            }
        }
    }
    free(lat);
    free(dir);
    return rc;
}

int
main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 5;
    uint64_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000;
    size_t reqs = argc > 3 ? strtoul(argv[3], NULL, 10) : 2000;
    if (runs < 1 || runs > MAX_RUNS || n < 10 * BATCH || reqs < 100 || reqs > 1000000) {
        fprintf(stderr, "usage: bench_security [RUNS 1..%d] [EVENTS >= %d] [REQUESTS 100..1e6]\n",
                MAX_RUNS, 10 * BATCH);
        return 2;
    }
    n -= n % BATCH;
    zsys_handler_set(NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_ALL);
    int rc = s_zmq(runs, n) == 0 ? 0 : 1;
    printf("\n");
    if (s_rest(runs, reqs) < 0) {
        rc = 1;
    }
    curl_global_cleanup();
    return rc;
}
