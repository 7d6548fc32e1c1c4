/* SPDX-License-Identifier: Apache-2.0 */
/* What credentials and the audit log cost a REST request, and what one audit line costs.
 *
 * REST: one vx_http server per variant over HTTPS on loopback, a keep-alive client (one TLS
 * session) sending POST /v1/echo with a 100-byte JSON body one at a time:
 *   plain   the admin-token rule, no credential set, no audit log (the peer);
 *   creds   a set of 100 credentials (the token is looked up among all of them), role and
 *           tenant checks;
 *   audit   the same plus the audit log (a line per request, on /tmp's file system).
 * Also GET /health (answered on the I/O thread) against GET /v1/echo (handed to a worker), so
 * the worker hop is visible. Each variant runs 3 times, interleaved so they share the noise;
 * printed: the median of the 3 runs' p50 (and p99) with the runs' min and max, and the ratio
 * to the peer measured in the same run.
 *
 * Audit append: vx_audit_append of a typical record, per call, against write() of a line of
 * the same length to a file (the system call every append makes), medians of 3.
 * Usage: bench_http [REQUESTS] (per run and variant, default 2,000). */
#include <curl/curl.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vx_audit.h"
#include "vx_clock.h"
#include "vx_creds.h"
#include "vx_http.h"
#include "vx_log.h"
#include "vx_test.h"
#include "vx_tls.h"

#define N_RUNS 3
#define N_CREDS 100
#define TOKEN "bench-operator-token-0050"
#define BODY                                                                                       \
    "{\"id\":\"rule-0001\",\"match\":{\"path\":\"/srv/data/*\",\"type\":\"filesystem_write\"},"  \
    "\"to\":\"analytics\"}"

enum variant { V_PLAIN, V_CREDS, V_AUDIT, V_N };
static const char *const s_variant_names[] = {"plain (token rule)", "credentials (100)",
                                              "credentials + audit log"};

static void
h_echo(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    (void)arg;
    size_t n = 0;
    vx_http_req_body(req, &n);
    resp->json = json_pack("{s:I}", "bytes", (json_int_t)n);
}

static const struct vx_http_route_def s_routes[] = {
    {"GET", "/v1/echo", VX_ROLE_VIEWER, h_echo},
    {"POST", "/v1/echo", VX_ROLE_OPERATOR, h_echo},
};

static int
cb_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double
s_pct(double *v, size_t n, double q)
{
    qsort(v, n, sizeof *v, cb_cmp);
    return v[(size_t)(q * (double)(n - 1))];
}

/* 100 credentials, the benchmark's token the 50th. */
static vx_creds_t *
s_creds(void)
{
    json_t *list = json_array();
    for (int i = 0; i < N_CREDS; i++) {
        char name[32], tok[64], hex[65];
        snprintf(name, sizeof name, "user-%04d", i);
        snprintf(tok, sizeof tok, "bench-operator-token-%04d", i);
        vx_sha256_hex(tok, strlen(tok), hex);
        json_array_append_new(list, json_pack("{s:s, s:s, s:[s, s], s:s}", "name", name, "role",
                                              i % 3 == 0 ? "viewer" : "operator", "tenants",
                                              "acme", "globex", "token_sha256", hex));
    }
    json_t *doc = json_pack("{s:o}", "credentials", list);
    char err[256];
    vx_creds_t *c = vx_creds_from_json(doc, "bench", err, sizeof err);
    json_decref(doc);
    if (!c) {
        fprintf(stderr, "bench: %s\n", err);
    }
    return c;
}

struct server {
    vx_http_t *http;
    vx_audit_t *audit;
    uint16_t port;
};

static int
s_server(struct server *s, enum variant v, const char *dir, const char *cert, const char *key)
{
    struct vx_http_opts opts = {.service = "bench", .bind = "127.0.0.1", .token = TOKEN,
                                .tls_cert = cert, .tls_key = key};
    const char *err = NULL;
    s->http = vx_http_new(&opts, NULL, &err);
    char rerr[256];
    if (!s->http || vx_http_routes(s->http, s_routes, 2, NULL, rerr, sizeof rerr) < 0) {
        fprintf(stderr, "bench: server: %s\n", s->http ? rerr : err);
        return -1;
    }
    if (v != V_PLAIN) {
        vx_http_set_creds(s->http, s_creds());
    }
    if (v == V_AUDIT) {
        char path[600], keyf[600], aerr[512];
        snprintf(path, sizeof path, "%s/bench-%d.audit.jsonl", dir, (int)vx_mono_ns());
        snprintf(keyf, sizeof keyf, "%s/audit.key", dir);
        struct vx_audit_opts ao = {.path = path, .key_file = keyf, .service = "bench"};
        s->audit = vx_audit_open(&ao, aerr, sizeof aerr);
        if (!s->audit) {
            fprintf(stderr, "bench: %s\n", aerr);
            return -1;
        }
        vx_http_set_audit(s->http, s->audit);
    }
    if (vx_http_start(s->http) < 0) {
        return -1;
    }
    s->port = vx_http_port(s->http);
    return 0;
}

static void
s_server_stop(struct server *s)
{
    vx_http_destroy(&s->http);
    vx_audit_close(&s->audit);
}

static size_t
cb_sink(char *p, size_t sz, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return sz * n;
}

/* n requests over one keep-alive HTTPS connection; fills lat (microseconds). */
static int
s_requests(uint16_t port, const char *ca, const char *method, const char *path, size_t n,
           double *lat)
{
    CURL *c = curl_easy_init();
    char url[256];
    snprintf(url, sizeof url, "https://127.0.0.1:%u%s", (unsigned)port, path);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Authorization: Bearer " TOKEN);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, cb_sink);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, BODY);
    }
    int rc = 0;
    for (size_t i = 0; i < n + 20 && rc == 0; i++) { /* 20 to warm up */
        uint64_t t0 = vx_mono_ns();
        long status = 0;
        if (curl_easy_perform(c) != CURLE_OK ||
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status != 200) {
            fprintf(stderr, "bench: %s %s answered %ld\n", method, path, status);
            rc = -1;
        }
        if (i >= 20) {
            lat[i - 20] = (double)(vx_mono_ns() - t0) / 1e3;
        }
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return rc;
}

static void
s_row(const char *what, const double *p50, const double *p99, const double *peer50)
{
    double a[N_RUNS], b[N_RUNS], r[N_RUNS];
    for (int i = 0; i < N_RUNS; i++) {
        a[i] = p50[i];
        b[i] = p99[i];
        r[i] = peer50 ? p50[i] / peer50[i] : 1.0;
    }
    qsort(a, N_RUNS, sizeof a[0], cb_cmp);
    qsort(b, N_RUNS, sizeof b[0], cb_cmp);
    qsort(r, N_RUNS, sizeof r[0], cb_cmp);
    printf("  %-42s p50 %7.1f us (%.1f..%.1f)  p99 %7.1f us (%.1f..%.1f)", what, a[1], a[0],
           a[N_RUNS - 1], b[1], b[0], b[N_RUNS - 1]);
    if (peer50) {
        printf("  x%.3f of the peer (%.3f..%.3f)", r[1], r[0], r[N_RUNS - 1]);
    }
    printf("\n");
}

static int
s_rest(size_t n, const char *dir, const char *ca, const char *cert, const char *key)
{
    double p50[V_N + 2][N_RUNS], p99[V_N + 2][N_RUNS];
    double *lat = calloc(n, sizeof *lat);
    for (int run = 0; run < N_RUNS; run++) {
        for (int v = 0; v < V_N; v++) {
            struct server s = {0};
            if (s_server(&s, (enum variant)v, dir, cert, key) < 0 ||
                s_requests(s.port, ca, "POST", "/v1/echo", n, lat) < 0) {
                s_server_stop(&s);
                free(lat);
                return -1;
            }
            p50[v][run] = s_pct(lat, n, 0.5);
            p99[v][run] = s_pct(lat, n, 0.99);
            if (v == V_PLAIN) { /* the worker hop: a routed GET against the inline /health */
                if (s_requests(s.port, ca, "GET", "/health", n, lat) < 0) {
                    s_server_stop(&s);
                    free(lat);
                    return -1;
                }
                p50[V_N][run] = s_pct(lat, n, 0.5);
                p99[V_N][run] = s_pct(lat, n, 0.99);
                if (s_requests(s.port, ca, "GET", "/v1/echo", n, lat) < 0) {
                    s_server_stop(&s);
                    free(lat);
                    return -1;
                }
                p50[V_N + 1][run] = s_pct(lat, n, 0.5);
                p99[V_N + 1][run] = s_pct(lat, n, 0.99);
            }
            s_server_stop(&s);
        }
    }
    free(lat);
    printf("REST over HTTPS (keep-alive, one request at a time, %zu per run, %d runs: median "
           "(min..max))\n",
           n, N_RUNS);
    for (int v = 0; v < V_N; v++) {
        char what[96];
        snprintf(what, sizeof what, "POST /v1/echo, %s:", s_variant_names[v]);
        s_row(what, p50[v], p99[v], v == V_PLAIN ? NULL : p50[V_PLAIN]);
    }
    s_row("GET /health (I/O thread, the peer):", p50[V_N], p99[V_N], NULL);
    s_row("GET /v1/echo (a worker):", p50[V_N + 1], p99[V_N + 1], p50[V_N]);
    return 0;
}

/* ns per call of vx_audit_append (with its default checkpoints, and with none, which shows
 * what a signed and fdatasync'ed checkpoint every 100 lines costs), and of write() of a line of
 * the same length. */
static int
s_append(size_t n, const char *dir)
{
    double audit_ns[N_RUNS], bare_ns[N_RUNS], write_ns[N_RUNS];
    char keyf[600], err[512];
    snprintf(keyf, sizeof keyf, "%s/audit.key", dir);
    size_t line_len = 0;
    for (int run = 0; run < N_RUNS; run++) {
        char path[600];
        snprintf(path, sizeof path, "%s/append-%d.audit.jsonl", dir, run);
        struct vx_audit_opts ao = {.path = path, .key_file = keyf, .service = "vexfs-bench"};
        vx_audit_t *a = vx_audit_open(&ao, err, sizeof err);
        if (!a) {
            fprintf(stderr, "bench: %s\n", err);
            return -1;
        }
        struct vx_audit_record r = {.credential = "user-0050", .role = "operator",
                                    .tenant = "acme", .method = "POST", .route = "/v1/rules",
                                    .path = "/v1/rules", .body = BODY, .body_len = strlen(BODY),
                                    .status = 201, .outcome = "ok"};
        uint64_t t0 = vx_mono_ns();
        for (size_t i = 0; i < n; i++) {
            if (vx_audit_append(a, &r) < 0) {
                fprintf(stderr, "bench: audit append failed\n");
                vx_audit_close(&a);
                return -1;
            }
        }
        audit_ns[run] = (double)(vx_mono_ns() - t0) / (double)n;
        vx_audit_close(&a);
        char bare[640];
        snprintf(bare, sizeof bare, "%s.bare", path);
        struct vx_audit_opts bo = {.path = bare, .key_file = keyf, .service = "vexfs-bench",
                                   .checkpoint_lines = UINT32_MAX, .checkpoint_ms = UINT32_MAX};
        vx_audit_t *b = vx_audit_open(&bo, err, sizeof err);
        if (!b) {
            fprintf(stderr, "bench: %s\n", err);
            return -1;
        }
        t0 = vx_mono_ns();
        for (size_t i = 0; i < n; i++) {
            vx_audit_append(b, &r);
        }
        bare_ns[run] = (double)(vx_mono_ns() - t0) / (double)n;
        vx_audit_close(&b);
        /* The peer: one write() of a line as long as the audit's average line. */
        FILE *fp = fopen(path, "r");
        char line[4096];
        line_len = fp && fgets(line, sizeof line, fp) ? strlen(line) : 300;
        if (fp) {
            fclose(fp);
        }
        memset(line, 'x', line_len);
        line[line_len - 1] = '\n';
        snprintf(path, sizeof path, "%s/append-%d.raw", dir, run);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
        t0 = vx_mono_ns();
        for (size_t i = 0; i < n; i++) {
            if (write(fd, line, line_len) != (ssize_t)line_len) {
                fprintf(stderr, "bench: write failed\n");
                close(fd);
                return -1;
            }
        }
        write_ns[run] = (double)(vx_mono_ns() - t0) / (double)n;
        close(fd);
    }
    double ratio[N_RUNS], bare_ratio[N_RUNS];
    for (int i = 0; i < N_RUNS; i++) {
        ratio[i] = audit_ns[i] / write_ns[i];
        bare_ratio[i] = bare_ns[i] / write_ns[i];
    }
    qsort(audit_ns, N_RUNS, sizeof audit_ns[0], cb_cmp);
    qsort(bare_ns, N_RUNS, sizeof bare_ns[0], cb_cmp);
    qsort(bare_ratio, N_RUNS, sizeof bare_ratio[0], cb_cmp);
    qsort(write_ns, N_RUNS, sizeof write_ns[0], cb_cmp);
    qsort(ratio, N_RUNS, sizeof ratio[0], cb_cmp);
    printf("audit append, %zu calls per run, %d runs: median (min..max)\n", n, N_RUNS);
    printf("  %-44s %8.0f ns/call (%.0f..%.0f)  x%.1f of the peer (%.1f..%.1f)\n",
           "vx_audit_append, checkpoint every 100 lines:", audit_ns[1], audit_ns[0],
           audit_ns[N_RUNS - 1], ratio[1], ratio[0], ratio[N_RUNS - 1]);
    printf("  %-44s %8.0f ns/call (%.0f..%.0f)  x%.1f of the peer (%.1f..%.1f)\n",
           "vx_audit_append, no checkpoints:", bare_ns[1], bare_ns[0], bare_ns[N_RUNS - 1],
           bare_ratio[1], bare_ratio[0], bare_ratio[N_RUNS - 1]);
    printf("  %-44s %8.0f ns/call (%.0f..%.0f)\n", "write() of a line as long (the peer):",
           write_ns[1], write_ns[0], write_ns[N_RUNS - 1]);
    return 0;
}

static char *
s_read(const char *dir, const char *file, bool secret)
{
    char path[600], err[700];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    char *pem = vx_tls_read_pem(path, secret, NULL, err, sizeof err);
    if (!pem) {
        fprintf(stderr, "bench: %s\n", err);
    }
    return pem;
}

int
main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000;
    if (n < 100 || n > 1000000) {
        n = 2000;
    }
    vx_log_init("bench_http", VX_LOG_WARN);
    curl_global_init(CURL_GLOBAL_ALL);
    char *dir = vt_tmpdir();
    char err[512], ca[600];
    const char *hosts[] = {"127.0.0.1"};
    if (vx_tls_make_ca(dir, "ca", err, sizeof err) < 0 ||
        vx_tls_make_cert(dir, "server", "ca", hosts, 1, true, err, sizeof err) < 0 ||
        vx_audit_keygen(dir, "audit", err, sizeof err) < 0) {
        fprintf(stderr, "bench: %s\n", err);
        return 1;
    }
    snprintf(ca, sizeof ca, "%s/ca.crt", dir);
    char *cert = s_read(dir, "server.crt", false);
    char *key = s_read(dir, "server.key", true);
    int rc = cert && key && s_rest(n, dir, ca, cert, key) == 0 && s_append(20 * n, dir) == 0
                 ? 0
                 : 1;
    free(cert);
    free(key);
    free(dir);
    curl_global_cleanup();
    return rc;
}
