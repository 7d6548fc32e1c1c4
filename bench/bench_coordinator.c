/* SPDX-License-Identifier: Apache-2.0 */
/* The coordinator beside etcd, measured in the same run by the same load generator.
 *
 * Method. A 3-node vexfs-coordinator cluster and a 3-member etcd cluster (Debian's
 * etcd-server 3.4) run side by side on loopback for the whole run, data on disk under
 * $VX_BENCH_DIR (default /tmp) with fsync on in both: libraft writes its log with O_DIRECT and
 * a sync per append, etcd fsyncs its WAL (its default). Both are driven by this program over
 * the same transport, HTTP/1.1 with JSON and kept-alive libcurl connections, sent to each
 * cluster's leader: the coordinator's REST API, and etcd's JSON gateway (/v3/kv/put,
 * /v3/kv/txn, /v3/kv/range). Request bodies are built before the clock starts. Each value is
 * the same small document in both ({"n": serial, "size": "4096"}), on 1000 keys. Runs are
 * interleaved: coordinator then etcd, three times, so that load on the shared machine falls
 * on both alike; each figure is the median of the three runs, with min and max, and the ratio
 * of the medians.
 *   1. commit latency: sequential single writes from one client, p50 and p99;
 *   2. batched write throughput: 4 clients each sending batches of 100 writes, one request
 *      per batch (coordinator: an array of 100 events, one raft entry or part of a group
 *      entry; etcd: one transaction of 100 puts, one raft entry), events per second and the
 *      p99 of the batch requests;
 *   3. linearizable reads (the coordinator's default, read index; etcd's default range, also
 *      read index): latency from one client (p50, p99) and throughput from 8 clients;
 *   4. leader-local reads (?consistency=leader) beside etcd's serializable reads
 *      ("serializable": true, answered from the member's local state), the same figures.
 * The coordinator runs as deployed by default: HTTPS with the client certificate, raft peers
 * on the authenticated and encrypted transport, entries and snapshots sealed at rest. Beside
 * it, running the whole time and measured interleaved with it in every run, two more clusters
 * of the same coordinator, each with one thing turned off, and their write figures (1 and 2)
 * with the ratio to the deployed one: libraft's plain TCP transport (raft_security: off), and
 * entries and snapshots in plaintext (at_rest.encryption: off). Then the same comparisons
 * paired, finer than runs: sequential writes alternate request by request between the two
 * clusters and batched writers alternate in slices (s_run_paired), beside a control pair of
 * two identical deployed clusters (its ratios are the noise floor), and the CPU of sealing one
 * entry and opening it on every member, measured in-process (s_seal_cpu).
 * Usage: bench_coordinator [SEQUENTIAL] [BATCHES_PER_CLIENT] [READS_PER_CLIENT]
 * (defaults 1000, 100, 1000); programs from $VX_BIN_DIR. Without etcd installed the
 * coordinator is measured alone and the missing peer is said. */
#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coord_seal.h"
#include "vx_clock.h"
#include "vx_seal.h"
#include "vx_test.h"

#define N_NODES 3
#define BATCH 100
#define WRITERS 4
#define READERS 8
#define REPS 3
#define KEYS 1000
#define TOKEN "bench-token"

/* ---- HTTP --------------------------------------------------------------------------------- */

static size_t
cb_discard(char *ptr, size_t size, size_t nmemb, void *arg)
{
    (void)ptr;
    (void)arg;
    return size * nmemb;
}

/* One client connection (kept alive across requests, as a real client would). */
struct client {
    CURL *curl;
    struct curl_slist *headers;
};

static void
s_client_init(struct client *c, bool token, bool https)
{
    c->curl = curl_easy_init();
    if (https) {
        char ca[600], cert[600], key[600];
        snprintf(ca, sizeof ca, "%s/ca.crt", vt_tls_dir());
        snprintf(cert, sizeof cert, "%s/test.crt", vt_tls_dir());
        snprintf(key, sizeof key, "%s/test.key", vt_tls_dir());
        curl_easy_setopt(c->curl, CURLOPT_CAINFO, ca);
        curl_easy_setopt(c->curl, CURLOPT_SSLCERT, cert);
        curl_easy_setopt(c->curl, CURLOPT_SSLKEY, key);
    }
    c->headers = curl_slist_append(NULL, "Content-Type: application/json");
    c->headers = curl_slist_append(c->headers, "Expect:");
    if (token) {
        c->headers = curl_slist_append(c->headers, "Authorization: Bearer " TOKEN);
    }
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, cb_discard);
    curl_easy_setopt(c->curl, CURLOPT_TCP_NODELAY, 1L);
}

static void
s_client_fini(struct client *c)
{
    curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->headers);
}

/* POSTs body to url (body NULL: GET); returns the HTTP status (0 on transport failure). */
static long
s_send(struct client *c, const char *url, const char *body)
{
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    if (body) {
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    } else {
        curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
    }
    if (curl_easy_perform(c->curl) != CURLE_OK) {
        return 0;
    }
    long code = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

/* ---- the two systems ---------------------------------------------------------------------- */

/* A request: a URL (relative to the system's leader) and a body (NULL for a GET). */
struct req {
    char *path;
    char *body;
};

/* What a workload needs from a system: where to send, and how to build each request. */
struct target {
    const char *name;
    char url[128];
    bool token;
    bool https;           /* verify with the test authority, present the client certificate */
    const char *label;    /* coordinator: names its files in the work folder */
    const char *extra;    /* coordinator: YAML lines for distributed_coordination */
    const char *sections; /* coordinator: more YAML sections (at_rest) */
    const char *off;      /* a variant: the protection it turns off */
    /* n == 1: a single write; n > 1: a batch of n. */
    struct req (*write)(uint64_t serial, size_t n);
    /* consistent: linearizable; else leader-local (coordinator) / serializable (etcd). */
    struct req (*read)(uint64_t serial, bool consistent);
    const char *consistent_name, *local_name;
};

static char *
s_dump(json_t *doc)
{
    char *s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return s;
}

static struct req
s_coord_write(uint64_t serial, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        char path[64], v[32], id[40];
        snprintf(path, sizeof path, "/bench/f%llu", (unsigned long long)((serial + i) % KEYS));
        snprintf(v, sizeof v, "%llu", (unsigned long long)(serial + i));
        /* Explicit ids make a retried batch idempotent: the copy that committed is skipped. */
        snprintf(id, sizeof id, "00000000-0000-7000-8000-%012llx",
                 (unsigned long long)(serial + i));
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "id", id, "type",
                                           "filesystem_write", "path", path, "content", "n", v,
                                           "size", "4096"));
    }
    json_t *doc = n == 1 ? json_incref(json_array_get(a, 0)) : json_incref(a);
    json_decref(a);
    return (struct req){strdup("/v1/events"), s_dump(doc)};
}

static struct req
s_coord_read(uint64_t serial, bool consistent)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/state/bench/f%llu%s", (unsigned long long)(serial % KEYS),
             consistent ? "" : "?consistency=leader");
    return (struct req){strdup(path), NULL};
}

/* etcd's gateway takes base64 keys and values. */
static void
s_b64(const char *in, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(in), o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)in[i] << 16;
        if (i + 1 < n) {
            v |= (uint32_t)(unsigned char)in[i + 1] << 8;
        }
        if (i + 2 < n) {
            v |= (uint32_t)(unsigned char)in[i + 2];
        }
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = '\0';
}

static void
s_etcd_key(uint64_t serial, char *k64)
{
    char key[64];
    snprintf(key, sizeof key, "/bench/f%llu", (unsigned long long)(serial % KEYS));
    s_b64(key, k64);
}

/* The same content as a coordinator event: key = path, value = a small JSON document. */
static json_t *
s_etcd_put(uint64_t serial)
{
    char val[128], k64[128], v64[200];
    s_etcd_key(serial, k64);
    snprintf(val, sizeof val, "{\"type\":\"filesystem_write\",\"n\":\"%llu\",\"size\":\"4096\"}",
             (unsigned long long)serial);
    s_b64(val, v64);
    return json_pack("{s:s, s:s}", "key", k64, "value", v64);
}

static struct req
s_etcd_write(uint64_t serial, size_t n)
{
    if (n == 1) {
        return (struct req){strdup("/v3/kv/put"), s_dump(s_etcd_put(serial))};
    }
    json_t *ops = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(ops, json_pack("{s:o}", "request_put", s_etcd_put(serial + i)));
    }
    return (struct req){strdup("/v3/kv/txn"), s_dump(json_pack("{s:o}", "success", ops))};
}

static struct req
s_etcd_read(uint64_t serial, bool consistent)
{
    char k64[128];
    s_etcd_key(serial, k64);
    json_t *doc = json_pack("{s:s}", "key", k64);
    if (!consistent) {
        json_object_set_new(doc, "serializable", json_true());
    }
    return (struct req){strdup("/v3/kv/range"), s_dump(doc)};
}

static void
s_req_fini(struct req *r)
{
    free(r->path);
    free(r->body);
}

/* ---- workloads ---------------------------------------------------------------------------- */

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

static uint64_t s_serial = 1;

/* Sequential requests from one client; p50 and p99 in ms. Returns 0, or -1 when one failed. */
static int
s_latency(const struct target *t, struct req *reqs, size_t n, double *p50, double *p99)
{
    struct client c;
    s_client_init(&c, t->token, t->https);
    double *lat = calloc(n, sizeof *lat);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char url[256];
        snprintf(url, sizeof url, "%s%s", t->url, reqs[i].path);
        uint64_t t0 = vx_mono_ns();
        long st = s_send(&c, url, reqs[i].body);
        lat[i] = (double)(vx_mono_ns() - t0) / 1e6;
        if (st != 200) {
            fprintf(stderr, "bench: %s: %s answered %ld\n", t->name, reqs[i].path, st);
            rc = -1;
            break;
        }
    }
    *p99 = s_pct(lat, n, 0.99);
    *p50 = s_pct(lat, n, 0.50);
    free(lat);
    s_client_fini(&c);
    return rc;
}

struct worker {
    const struct target *t;
    struct req *reqs;
    size_t n;
    double *lat;
    size_t failed, retried;
    long last_refusal; /* HTTP status of the last refused request */
    pthread_t thread;
};

static void *
s_worker_main(void *arg)
{
    struct worker *w = arg;
    struct client c;
    s_client_init(&c, w->t->token, w->t->https);
    /* A refused request (a 503 while leadership is checked, a 504) is sent again, as a client
     * would, for up to 10 s; the time spent counts against the throughput. */
    for (size_t i = 0; i < w->n; i++) {
        char url[256];
        snprintf(url, sizeof url, "%s%s", w->t->url, w->reqs[i].path);
        uint64_t t0 = vx_mono_ns(), deadline = t0 + 10 * VX_NS_PER_S;
        long st;
        while ((st = s_send(&c, url, w->reqs[i].body)) != 200 && vx_mono_ns() < deadline) {
            w->retried++;
            w->last_refusal = st;
            usleep(1000);
        }
        w->lat[i] = (double)(vx_mono_ns() - t0) / 1e6;
        w->failed += st != 200;
    }
    s_client_fini(&c);
    return NULL;
}

/* k clients, each sending its share of reqs; fills the rate (requests/s) and the p99 of the
 * requests in ms, and copies each request's latency into keep (k * per; may be NULL). Returns
 * 0 or -1 when a request failed. */
static int
s_concurrent(const struct target *t, struct req *reqs, size_t k, size_t per, double *rate,
             double *p99, double *keep)
{
    struct worker *w = calloc(k, sizeof *w);
    double *lat = calloc(k * per, sizeof *lat);
    for (size_t i = 0; i < k; i++) {
        w[i] = (struct worker){.t = t, .reqs = reqs + i * per, .n = per, .lat = lat + i * per};
    }
    uint64_t t0 = vx_mono_ns();
    for (size_t i = 0; i < k; i++) {
        pthread_create(&w[i].thread, NULL, s_worker_main, &w[i]);
    }
    size_t failed = 0, retried = 0;
    long refusal = 0;
    for (size_t i = 0; i < k; i++) {
        pthread_join(w[i].thread, NULL);
        failed += w[i].failed;
        retried += w[i].retried;
        refusal = w[i].last_refusal ? w[i].last_refusal : refusal;
    }
    double secs = (double)(vx_mono_ns() - t0) / 1e9;
    if (retried) {
        printf("  (%s: %zu sends refused and retried, last with HTTP %ld)\n", t->name, retried,
               refusal);
    }
    *rate = (double)(k * per) / secs;
    if (keep) {
        memcpy(keep, lat, k * per * sizeof *lat);
    }
    *p99 = s_pct(lat, k * per, 0.99);
    free(lat);
    free(w);
    if (failed) {
        fprintf(stderr, "bench: %s: %zu requests failed\n", t->name, failed);
        return -1;
    }
    return 0;
}

/* ---- one run of every workload ------------------------------------------------------------- */

enum {
    F_W_P50,
    F_W_P99,
    F_TPUT,
    F_TPUT_P99,
    F_LR_P50,
    F_LR_P99,
    F_LR_RATE,
    F_SR_P50,
    F_SR_P99,
    F_SR_RATE,
    F_N,
};

struct figures {
    double v[F_N][REPS];
};

struct sizes {
    size_t seq, per_writer, per_reader;
};

static struct req *
s_build(size_t n, struct req (*fn)(uint64_t, size_t), size_t batch)
{
    struct req *r = calloc(n, sizeof *r);
    for (size_t i = 0; i < n; i++) {
        r[i] = fn(s_serial, batch);
        s_serial += batch;
    }
    return r;
}

static struct req *
s_build_reads(const struct target *t, size_t n, bool consistent)
{
    struct req *r = calloc(n, sizeof *r);
    for (size_t i = 0; i < n; i++) {
        r[i] = t->read((uint64_t)(i * 7919u), consistent);
    }
    return r;
}

static void
s_free_reqs(struct req *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        s_req_fini(&r[i]);
    }
    free(r);
}

/* The write workloads (1 and 2): commit latency, then batched throughput. */
static int
s_run_writes(const struct target *t, const struct sizes *z, struct figures *f, int rep)
{
    int rc = 0;
    struct req *r = s_build(z->seq, t->write, 1);
    rc |= s_latency(t, r, z->seq, &f->v[F_W_P50][rep], &f->v[F_W_P99][rep]);
    s_free_reqs(r, z->seq);
    r = s_build(WRITERS * z->per_writer, t->write, BATCH);
    double reqs_per_s = 0;
    rc |= s_concurrent(t, r, WRITERS, z->per_writer, &reqs_per_s, &f->v[F_TPUT_P99][rep], NULL);
    f->v[F_TPUT][rep] = reqs_per_s * BATCH;
    s_free_reqs(r, WRITERS * z->per_writer);
    printf("  run %d: %-11s write p50 %.2f p99 %.2f ms | %.0f events/s batched (p99 %.1f ms)\n",
           rep + 1, t->name, f->v[F_W_P50][rep], f->v[F_W_P99][rep], f->v[F_TPUT][rep],
           f->v[F_TPUT_P99][rep]);
    fflush(stdout);
    return rc ? -1 : 0;
}

/* The read workloads (3 and 4), each with its requests built first. */
static int
s_run_reads(const struct target *t, const struct sizes *z, struct figures *f, int rep)
{
    int rc = 0;
    for (int consistent = 1; consistent >= 0; consistent--) {
        int base = consistent ? F_LR_P50 : F_SR_P50;
        struct req *r = s_build_reads(t, z->per_reader, consistent);
        rc |= s_latency(t, r, z->per_reader, &f->v[base][rep], &f->v[base + 1][rep]);
        s_free_reqs(r, z->per_reader);
        r = s_build_reads(t, READERS * z->per_reader, consistent);
        double p99;
        rc |= s_concurrent(t, r, READERS, z->per_reader, &f->v[base + 2][rep], &p99, NULL);
        s_free_reqs(r, READERS * z->per_reader);
    }
    printf("  run %d: %-11s %s read p50 %.2f p99 %.2f ms, %.0f/s | %s read p50 %.2f p99 %.2f "
           "ms, %.0f/s\n",
           rep + 1, t->name, t->consistent_name, f->v[F_LR_P50][rep], f->v[F_LR_P99][rep],
           f->v[F_LR_RATE][rep], t->local_name, f->v[F_SR_P50][rep], f->v[F_SR_P99][rep],
           f->v[F_SR_RATE][rep]);
    fflush(stdout);
    return rc ? -1 : 0;
}

/* ---- starting the clusters ---------------------------------------------------------------- */

static pid_t s_pids[5 * N_NODES]; /* four coordinator clusters and etcd */
static size_t s_npids;

static void
s_stop_all(void)
{
    for (size_t i = 0; i < s_npids; i++) {
        vt_stop(s_pids[i], SIGTERM, 30000);
    }
    s_npids = 0;
}

static char *
s_workdir(void)
{
    const char *base = getenv("VX_BENCH_DIR");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/vexfs-bench.XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

/* Starts the coordinators; fills the leader's REST URL. */
static int
s_coord_start(const char *dir, struct target *t)
{
    uint16_t rest[N_NODES], raft[N_NODES], input[N_NODES];
    char members[512] = "", tok[600];
    size_t off = 0;
    for (int i = 0; i < N_NODES; i++) {
        rest[i] = vt_free_port();
        raft[i] = vt_free_port();
        input[i] = vt_free_port();
        off += (size_t)snprintf(members + off, sizeof members - off, "%s%d@127.0.0.1:%u/%u/%u",
                                i ? "," : "", i + 1, (unsigned)raft[i], (unsigned)rest[i],
                                (unsigned)input[i]);
    }
    snprintf(tok, sizeof tok, "%s/token", dir);
    vt_write_file(tok, TOKEN "\n");
    for (int i = 0; i < N_NODES; i++) {
        char cfg[600], log[600], text[2048];
        snprintf(cfg, sizeof cfg, "%s/%s%d.yaml", dir, t->label, i + 1);
        snprintf(log, sizeof log, "%s/%s%d.log", dir, t->label, i + 1);
        /* The latency budget is raised so the slow-commit counter does not log every write;
         * the log window is small so /v1/log memory stays flat over a long run. */
        snprintf(text, sizeof text,
                 "distributed_coordination:\n  node_id: %d\n  members: \"%s\"\n"
                 "  data_dir: %s/%s%d\n  rest_port: %u\n  input_endpoint: \"\"\n"
                 "  max_consensus_latency_ms: 10000\n  log_memory_entries: 10000\n%s"
                 "%sadmin:\n  token_file: %s\nlogging:\n  level: warn\n",
                 i + 1, members, dir, t->label, i + 1, (unsigned)rest[i],
                 t->extra ? t->extra : "", t->sections ? t->sections : "", tok);
        vt_write_file(cfg, text);
        char bin[512];
        snprintf(bin, sizeof bin, "%s/vexfs-coordinator", vt_bin_dir());
        char *argv[] = {bin, (char *)"--config", cfg, NULL};
        s_pids[s_npids++] = vt_spawn(argv, NULL, log);
    }
    for (int i = 0; i < N_NODES; i++) {
        if (!vt_wait_ready(rest[i], 30000)) {
            fprintf(stderr, "bench: %s %d not ready; logs in %s\n", t->name, i + 1, dir);
            return -1;
        }
    }
    struct vt_http_result r;
    int rc = -1;
    if (vt_http("GET", rest[0], "/v1/cluster", NULL, 0, NULL, &r) == 0 && r.status == 200) {
        json_t *o = json_loads(r.body, 0, NULL);
        const char *lrest =
            json_string_value(json_object_get(json_object_get(o, "leader"), "rest"));
        if (lrest) {
            snprintf(t->url, sizeof t->url, "%s://%s", t->https ? "https" : "http", lrest);
            rc = 0;
        }
        json_decref(o);
    }
    vt_http_result_fini(&r);
    return rc;
}

static bool
s_etcd_installed(void)
{
    return access("/usr/bin/etcd", X_OK) == 0;
}

/* Starts 3 etcd members on loopback and finds the leader's client URL. */
static int
s_etcd_start(const char *dir, struct target *t)
{
    uint16_t client[N_NODES], peer[N_NODES];
    char cluster[512] = "";
    size_t off = 0;
    for (int i = 0; i < N_NODES; i++) {
        client[i] = vt_free_port();
        peer[i] = vt_free_port();
        off += (size_t)snprintf(cluster + off, sizeof cluster - off, "%se%d=http://127.0.0.1:%u",
                                i ? "," : "", i + 1, (unsigned)peer[i]);
    }
    for (int i = 0; i < N_NODES; i++) {
        char name[8], data[600], curl_[64], purl[64], log[600];
        snprintf(name, sizeof name, "e%d", i + 1);
        snprintf(data, sizeof data, "%s/etcd%d", dir, i + 1);
        snprintf(curl_, sizeof curl_, "http://127.0.0.1:%u", (unsigned)client[i]);
        snprintf(purl, sizeof purl, "http://127.0.0.1:%u", (unsigned)peer[i]);
        snprintf(log, sizeof log, "%s/etcd%d.log", dir, i + 1);
        char *argv[] = {(char *)"/usr/bin/etcd",
                        (char *)"--name", name,
                        (char *)"--data-dir", data,
                        (char *)"--listen-client-urls", curl_,
                        (char *)"--advertise-client-urls", curl_,
                        (char *)"--listen-peer-urls", purl,
                        (char *)"--initial-advertise-peer-urls", purl,
                        (char *)"--initial-cluster", cluster,
                        (char *)"--initial-cluster-state", (char *)"new",
                        (char *)"--initial-cluster-token", (char *)"vexfs-bench",
                        (char *)"--log-level", (char *)"error",
                        NULL};
        s_pids[s_npids++] = vt_spawn(argv, NULL, log);
    }
    /* Ready when a write through member 1 commits; then find the leader's client URL. */
    snprintf(t->url, sizeof t->url, "http://127.0.0.1:%u", (unsigned)client[0]);
    struct client c;
    s_client_init(&c, false, false);
    char url[256];
    snprintf(url, sizeof url, "%s/v3/kv/put", t->url);
    struct req probe = s_etcd_write(0, 1);
    bool up = false;
    for (int i = 0; i < 300 && !up; i++) {
        up = s_send(&c, url, probe.body) == 200;
        if (!up) {
            usleep(100 * 1000);
        }
    }
    s_req_fini(&probe);
    s_client_fini(&c);
    if (!up) {
        fprintf(stderr, "bench: etcd did not start; logs in %s\n", dir);
        return -1;
    }
    for (int i = 0; i < N_NODES; i++) {
        struct vt_http_result r;
        if (vt_http("POST", client[i], "/v3/maintenance/status", "{}", 2, NULL, &r) == 0 &&
            r.status == 200) {
            json_t *o = json_loads(r.body, 0, NULL);
            const char *leader = json_string_value(json_object_get(o, "leader"));
            const char *me = json_string_value(json_object_get(json_object_get(o, "header"),
                                                               "member_id"));
            if (leader && me && strcmp(leader, me) == 0) {
                snprintf(t->url, sizeof t->url, "http://127.0.0.1:%u", (unsigned)client[i]);
            }
            json_decref(o);
        }
        vt_http_result_fini(&r);
    }
    return 0;
}

/* Writes every key once, so that reads find them. */
static int
s_prefill(const struct target *t)
{
    struct req *r = s_build(KEYS / BATCH, t->write, BATCH);
    double rate, p99;
    int rc = s_concurrent(t, r, 1, KEYS / BATCH, &rate, &p99, NULL);
    s_free_reqs(r, KEYS / BATCH);
    return rc;
}

/* ---- report ------------------------------------------------------------------------------- */

static double
s_med(struct figures *f, int k, double *lo, double *hi)
{
    qsort(f->v[k], REPS, sizeof(double), cb_cmp);
    *lo = f->v[k][0];
    *hi = f->v[k][REPS - 1];
    return f->v[k][REPS / 2];
}

static void
s_line(const char *what, const char *unit, struct figures *c, struct figures *e, int k,
       bool higher_better)
{
    double clo, chi, elo, ehi;
    double cm = s_med(c, k, &clo, &chi);
    if (!e) {
        printf("%-44s coordinator %9.2f %s (min %.2f, max %.2f); etcd not measured\n", what, cm,
               unit, clo, chi);
        return;
    }
    double em = s_med(e, k, &elo, &ehi);
    printf("%-44s coordinator %9.2f %s (min %.2f, max %.2f)  etcd %9.2f %s (min %.2f, max %.2f)"
           "  ratio %.2f (%s is better)\n",
           what, cm, unit, clo, chi, em, unit, elo, ehi, cm / em,
           higher_better ? "higher" : "lower");
}

static void
s_report(struct figures *c, struct figures *e)
{
    printf("== medians of %d runs (coordinator / etcd = ratio)\n", REPS);
    s_line("commit latency p50 (sequential writes)", "ms", c, e, F_W_P50, false);
    s_line("commit latency p99 (sequential writes)", "ms", c, e, F_W_P99, false);
    s_line("batched write throughput (4 x 100)", "ev/s", c, e, F_TPUT, true);
    s_line("batched write request p99", "ms", c, e, F_TPUT_P99, false);
    s_line("linearizable read p50 (one client)", "ms", c, e, F_LR_P50, false);
    s_line("linearizable read p99 (one client)", "ms", c, e, F_LR_P99, false);
    s_line("linearizable reads/s (8 clients)", "r/s", c, e, F_LR_RATE, true);
    s_line("leader / serializable read p50", "ms", c, e, F_SR_P50, false);
    s_line("leader / serializable read p99", "ms", c, e, F_SR_P99, false);
    s_line("leader / serializable reads/s (8 clients)", "r/s", c, e, F_SR_RATE, true);
}

/* The deployed coordinator beside a variant with one protection turned off: the ratio is
 * what the protection costs (deployed / variant). */
static void
s_cost(const char *what, const char *unit, struct figures *c, const char *vname,
       struct figures *v, int k, bool higher_better)
{
    double clo, chi, vlo, vhi;
    double cm = s_med(c, k, &clo, &chi);
    double vm = s_med(v, k, &vlo, &vhi);
    printf("%-44s deployed %9.2f %s (min %.2f, max %.2f)  %s %9.2f %s (min %.2f, max %.2f)"
           "  ratio %.3f (%s is better)\n",
           what, cm, unit, clo, chi, vname, vm, unit, vlo, vhi, cm / vm,
           higher_better ? "higher" : "lower");
}

static void
s_report_variant(struct figures *c, const struct target *t, struct figures *v, bool paired)
{
    printf("== what %s costs%s: medians of %d runs (deployed / %s = ratio)\n", t->off,
           paired ? ", paired (request by request, slice by slice)" : "", REPS, t->name);
    s_cost("commit latency p50 (sequential writes)", "ms", c, t->name, v, F_W_P50, false);
    s_cost("commit latency p99 (sequential writes)", "ms", c, t->name, v, F_W_P99, false);
    s_cost("batched write throughput (4 x 100)", "ev/s", c, t->name, v, F_TPUT, true);
    s_cost("batched write request p99", "ms", c, t->name, v, F_TPUT_P99, false);
}

/* ---- a protection's cost, paired ----------------------------------------------------------- */

/* The interleaved runs above put seconds between the deployed cluster's writes and a
 * variant's, and on a shared machine the fsync latency of the disk drifts more than that in
 * seconds: their ratios swing both ways by more than the effect. So the write workloads run
 * again paired: sequential writes alternate request by request between the two clusters (the
 * first of each pair alternates too), and the batched writers alternate in slices of
 * PAIR_SLICE batches per writer, so both meet the machine in the same instant. */
#define PAIR_SLICE 10

/* A growing list of figures over every run of a pair: each slice's throughput ratio (a / b)
 * against its neighbour of the other cluster (their median is the paired estimate, which a
 * slow second on the machine moves far less than the summed rates), and every sequential
 * write's latency per cluster (their percentiles pooled over the runs rest on REPS times more
 * samples than one run's). */
struct dvec {
    double *v;
    size_t n, cap;
};

struct pair_pool {
    struct dvec ratios, lat[2];
};

static void
s_dvec_add(struct dvec *sr, double v)
{
    if (sr->n == sr->cap) {
        sr->cap = sr->cap ? 2 * sr->cap : 64;
        sr->v = realloc(sr->v, sr->cap * sizeof *sr->v);
    }
    sr->v[sr->n++] = v;
}

static int
s_paired_latency(const struct target *a, const struct target *b, size_t n, double *out_a,
                 double *out_b, struct dvec pool[2])
{
    const struct target *t[2] = {a, b};
    struct client c[2];
    struct req *r[2];
    double *lat[2];
    for (int k = 0; k < 2; k++) {
        s_client_init(&c[k], t[k]->token, t[k]->https);
        r[k] = s_build(n, t[k]->write, 1);
        lat[k] = calloc(n, sizeof(double));
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        for (int step = 0; step < 2; step++) {
            int k = (int)((i + (size_t)step) % 2);
            char url[256];
            snprintf(url, sizeof url, "%s%s", t[k]->url, r[k][i].path);
            uint64_t t0 = vx_mono_ns();
            long st = s_send(&c[k], url, r[k][i].body);
            lat[k][i] = (double)(vx_mono_ns() - t0) / 1e6;
            if (st != 200) {
                fprintf(stderr, "bench: %s: %s answered %ld\n", t[k]->name, r[k][i].path, st);
                rc = -1;
                break;
            }
        }
    }
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; rc == 0 && i < n; i++) {
            s_dvec_add(&pool[k], lat[k][i]);
        }
    }
    out_a[0] = s_pct(lat[0], n, 0.50);
    out_a[1] = s_pct(lat[0], n, 0.99);
    out_b[0] = s_pct(lat[1], n, 0.50);
    out_b[1] = s_pct(lat[1], n, 0.99);
    for (int k = 0; k < 2; k++) {
        s_free_reqs(r[k], n);
        free(lat[k]);
        s_client_fini(&c[k]);
    }
    return rc;
}

/* Batched writes in alternating slices; out_*[0] events/s over the slices' summed time,
 * out_*[1] the p99 of every batch request of the slices. */
static int
s_paired_batched(const struct target *a, const struct target *b, size_t per_writer,
                 double *out_a, double *out_b, struct dvec *sr)
{
    const struct target *t[2] = {a, b};
    size_t slices = (per_writer + PAIR_SLICE - 1) / PAIR_SLICE;
    double secs[2] = {0, 0};
    double *lat[2] = {calloc(WRITERS * per_writer, sizeof(double)),
                      calloc(WRITERS * per_writer, sizeof(double))};
    size_t done[2] = {0, 0};
    int rc = 0;
    for (size_t s = 0; s < slices && rc == 0; s++) {
        size_t left = per_writer - s * PAIR_SLICE, per = left < PAIR_SLICE ? left : PAIR_SLICE;
        double rates[2] = {0, 0};
        for (int step = 0; step < 2 && rc == 0; step++) {
            int k = (int)((s + (size_t)step) % 2);
            struct req *r = s_build(WRITERS * per, t[k]->write, BATCH);
            double p99 = 0;
            rc = s_concurrent(t[k], r, WRITERS, per, &rates[k], &p99, lat[k] + done[k]);
            s_free_reqs(r, WRITERS * per);
            secs[k] += rates[k] > 0 ? (double)(WRITERS * per) / rates[k] : 0;
            done[k] += WRITERS * per;
        }
        if (rc == 0 && rates[1] > 0) {
            s_dvec_add(sr, rates[0] / rates[1]);
        }
    }
    for (int k = 0; k < 2; k++) {
        double *o = k ? out_b : out_a;
        o[0] = secs[k] > 0 ? (double)(done[k] * BATCH) / secs[k] : 0;
        o[1] = done[k] ? s_pct(lat[k], done[k], 0.99) : 0;
        free(lat[k]);
    }
    return rc;
}

/* In-process: what sealing one entry on the leader and opening it on the three members costs
 * in CPU, for a single write's entry and for a batch of BATCH; the bound of sealing's share of
 * a commit on an idle machine. */
static void
s_seal_cpu(double commit_p50_ms)
{
    uint8_t key[VX_SEAL_KEY_BYTES];
    for (size_t i = 0; i < sizeof key; i++) {
        key[i] = (uint8_t)(i * 37 + 11);
    }
    char err[256];
    vx_sealer_t *sl = vx_sealer_from_key(1, key, VX_SEAL_AES256GCM, err, sizeof err);
    if (!sl) {
        sl = vx_sealer_from_key(1, key, VX_SEAL_XCHACHA20POLY1305, err, sizeof err);
    }
    if (!sl) {
        printf("sealing CPU: not measured: %s\n", err);
        return;
    }
    for (int batch = 0; batch < 2; batch++) {
        struct req r = s_coord_write(1, batch ? BATCH : 1);
        size_t len = strlen(r.body) + 16, reps = batch ? 2000 : 50000;
        uint8_t *plain = calloc(1, len), *sealed = malloc(coord_seal_size(len));
        memcpy(plain + 16, r.body, len - 16);
        uint64_t t0 = vx_mono_ns();
        for (size_t i = 0; i < reps; i++) {
            coord_seal_wrap(sl, COORD_SEAL_ENTRY, 1, plain, len, sealed);
            for (int node = 0; node < N_NODES; node++) {
                uint8_t *back = NULL;
                size_t blen = 0;
                if (coord_seal_open(sl, COORD_SEAL_ENTRY, sealed, coord_seal_size(len), &back,
                                    &blen, err, sizeof err) < 0) {
                    printf("sealing CPU: open failed: %s\n", err);
                    reps = i + 1;
                    break;
                }
                free(back);
            }
        }
        double us = (double)(vx_mono_ns() - t0) / 1e3 / (double)reps;
        printf("sealing CPU (%s, %s entry of %zu bytes: seal once, open on %d members): "
               "%.2f us",
               vx_sealer_algorithm(sl), batch ? "a batch's" : "a single write's", len, N_NODES,
               us);
        if (!batch && commit_p50_ms > 0) {
            printf(" = %.3f%% of the deployed commit p50 (limit 10%%)", us / 10.0 / commit_p50_ms);
        }
        printf("\n");
        free(plain);
        free(sealed);
        s_req_fini(&r);
    }
    vx_sealer_destroy(&sl);
}

static int
s_run_paired(const struct target *a, const struct target *b, const struct sizes *z,
             struct figures *fa, struct figures *fb, struct pair_pool *pp, int rep)
{
    double la[2], lb[2], ta[2], tb[2];
    if (s_paired_latency(a, b, z->seq, la, lb, pp->lat) < 0 ||
        s_paired_batched(a, b, z->per_writer, ta, tb, &pp->ratios) < 0) {
        return -1;
    }
    fa->v[F_W_P50][rep] = la[0];
    fa->v[F_W_P99][rep] = la[1];
    fb->v[F_W_P50][rep] = lb[0];
    fb->v[F_W_P99][rep] = lb[1];
    fa->v[F_TPUT][rep] = ta[0];
    fa->v[F_TPUT_P99][rep] = ta[1];
    fb->v[F_TPUT][rep] = tb[0];
    fb->v[F_TPUT_P99][rep] = tb[1];
    printf("  paired run %d: %s p50 %.2f p99 %.2f ms, %.0f ev/s | %s p50 %.2f p99 %.2f ms, "
           "%.0f ev/s\n",
           rep + 1, a->name, la[0], la[1], ta[0], b->name, lb[0], lb[1], tb[0]);
    fflush(stdout);
    return 0;
}

int
main(int argc, char **argv)
{
    struct sizes z = {
        .seq = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000,
        .per_writer = argc > 2 ? strtoull(argv[2], NULL, 10) : 100,
        .per_reader = argc > 3 ? strtoull(argv[3], NULL, 10) : 1000,
    };
    if (z.seq < 10 || z.per_writer < 1 || z.per_reader < 10) {
        fprintf(stderr, "usage: bench_coordinator [SEQUENTIAL >= 10] [BATCHES_PER_CLIENT >= 1] "
                        "[READS_PER_CLIENT >= 10]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char *dir = s_workdir();
    if (!dir) {
        perror("bench: mkdtemp");
        return 1;
    }
    struct statfs sfs;
    const char *fs = "unknown";
    if (statfs(dir, &sfs) == 0) {
        fs = sfs.f_type == 0x01021994 ? "tmpfs (fsync costs nothing)" : "disk";
    }
    bool with_etcd = s_etcd_installed();
    printf("== coordinator%s: 3 nodes each on loopback, data in %s (%s); per run %zu sequential "
           "writes, %d x %zu batches of %d, %zu sequential and %d x %zu concurrent reads of "
           "each kind\n",
           with_etcd ? " and etcd" : "", dir, fs, z.seq, WRITERS, z.per_writer, BATCH,
           z.per_reader, READERS, z.per_reader);
    struct target coord = {.name = "coordinator", .token = true, .https = true,
                           .label = "coord", .write = s_coord_write, .read = s_coord_read,
                           .consistent_name = "linearizable", .local_name = "leader"};
    /* The same coordinator with one protection off in each. */
    struct target variant[2] = {coord, coord};
    variant[0].name = "plain-raft";
    variant[0].label = "plainraft";
    variant[0].off = "the raft transport's authentication and encryption";
    variant[0].extra = "  raft_security: \"off\"\n";
    variant[1].name = "plaintext";
    variant[1].label = "plaintext";
    variant[1].off = "sealing entries and snapshots";
    variant[1].sections = "at_rest:\n  encryption: \"off\"\n";
    struct target etcd = {.name = "etcd", .token = false, .write = s_etcd_write,
                          .read = s_etcd_read, .consistent_name = "linearizable",
                          .local_name = "serializable"};
    int rc = 1;
    /* The control: a second deployed cluster, paired with the first like a variant. Their
     * ratio, which should be 1, is how far two identical clusters differ here: the floor
     * under which a variant's ratio says nothing. */
    struct target twin = coord;
    twin.name = "twin";
    twin.label = "twin";
    twin.off = "nothing (a second deployed cluster: the noise floor)";
    struct figures fc = {0}, fe = {0}, fv[2] = {{{{0}}}}, pc[3] = {{{{0}}}}, pv[3] = {{{{0}}}};
    struct pair_pool pp[3];
    memset(pp, 0, sizeof pp);
    if (s_coord_start(dir, &coord) < 0 || s_prefill(&coord) < 0) {
        goto out;
    }
    for (int i = 0; i < 2; i++) {
        if (s_coord_start(dir, &variant[i]) < 0) {
            goto out;
        }
    }
    if (s_coord_start(dir, &twin) < 0 || s_prefill(&twin) < 0) {
        goto out;
    }
    if (with_etcd && (s_etcd_start(dir, &etcd) < 0 || s_prefill(&etcd) < 0)) {
        goto out;
    }
    for (int rep = 0; rep < REPS; rep++) {
        /* The three coordinator clusters write in a rotated order (whoever goes first meets
         * the machine as the previous system left it), then the deployed one reads, then
         * etcd does everything. */
        struct target *order[3] = {&coord, &variant[0], &variant[1]};
        struct figures *into[3] = {&fc, &fv[0], &fv[1]};
        for (int k = 0; k < 3; k++) {
            int j = (k + rep) % 3;
            if (s_run_writes(order[j], &z, into[j], rep) < 0) {
                goto out;
            }
        }
        if (s_run_reads(&coord, &z, &fc, rep) < 0 ||
            (with_etcd && (s_run_writes(&etcd, &z, &fe, rep) < 0 ||
                           s_run_reads(&etcd, &z, &fe, rep) < 0))) {
            goto out;
        }
    }
    const struct target *against[3] = {&variant[0], &variant[1], &twin};
    for (int rep = 0; rep < REPS; rep++) {
        for (int i = 0; i < 3; i++) {
            if (s_run_paired(&coord, against[i], &z, &pc[i], &pv[i], &pp[i], rep) < 0) {
                goto out;
            }
        }
    }
    s_report(&fc, with_etcd ? &fe : NULL);
    for (int i = 0; i < 2; i++) {
        s_report_variant(&fc, &variant[i], &fv[i], false);
    }
    for (int i = 0; i < 3; i++) {
        s_report_variant(&pc[i], against[i], &pv[i], true);
        struct dvec *sr = &pp[i].ratios, *la = &pp[i].lat[0], *lb = &pp[i].lat[1];
        if (la->n && lb->n) {
            double a50 = s_pct(la->v, la->n, 0.50), a99 = s_pct(la->v, la->n, 0.99);
            double b50 = s_pct(lb->v, lb->n, 0.50), b99 = s_pct(lb->v, lb->n, 0.99);
            printf("%-44s p50 %.2f / %.2f ms = %.3f, p99 %.2f / %.2f ms = %.3f (%zu writes "
                   "each)\n",
                   "commit latency pooled over the runs", a50, b50, a50 / b50, a99, b99,
                   a99 / b99, la->n);
        }
        if (sr->n) {
            qsort(sr->v, sr->n, sizeof(double), cb_cmp);
            printf("%-44s median of %zu slice pairs %.3f (quartiles %.3f, %.3f)\n",
                   "batched throughput, per slice pair", sr->n, sr->v[sr->n / 2],
                   sr->v[sr->n / 4], sr->v[(3 * sr->n) / 4]);
        }
    }
    double lo, hi;
    s_seal_cpu(s_med(&pc[1], F_W_P50, &lo, &hi));
    if (!with_etcd) {
        printf("etcd: not measured, etcd-server is not installed (scripts/install-deps.sh "
               "installs it)\n");
    }
    rc = 0;
out:
    for (int i = 0; i < 3; i++) {
        free(pp[i].ratios.v);
        free(pp[i].lat[0].v);
        free(pp[i].lat[1].v);
    }
    s_stop_all();
    free(dir);
    curl_global_cleanup();
    return rc;
}
