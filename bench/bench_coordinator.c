/* SPDX-License-Identifier: Apache-2.0 */
/* Benchmarks of a real 3-node vexfs-coordinator cluster on loopback, data on disk with
 * libraft's fsync on every append, beside a 3-member etcd cluster measured the same way in the
 * same run (when etcd is installed):
 *   1. commit latency p50/p99: sequential single-event POSTs to the leader, each answered
 *      only after the entry is committed and applied;
 *   2. throughput: batches of 100 events from 4 client threads, one raft entry per batch (for
 *      etcd: one transaction of 100 puts through the JSON gateway, also one raft entry).
 * Each figure is the median of 3 runs with min and max.
 * Usage: bench_coordinator [SEQUENTIAL] [BATCHES_PER_THREAD] (defaults 1000 and 100);
 * programs from $VX_BIN_DIR; data under $VX_BENCH_DIR (default /tmp). */
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

#include "vx_clock.h"
#include "vx_test.h"

#define N_NODES 3
#define BATCH 100
#define THREADS 4
#define REPS 3
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
s_client_init(struct client *c, bool token)
{
    c->curl = curl_easy_init();
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

/* POSTs body to url; returns the HTTP status (0 on transport failure). */
static long
s_post(struct client *c, const char *url, const char *body)
{
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    if (curl_easy_perform(c->curl) != CURLE_OK) {
        return 0;
    }
    long code = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

/* ---- the two systems ---------------------------------------------------------------------- */

/* What a workload needs from a system: where to send, and how to build a request body of n
 * events (n == 1: a single write; n > 1: one batch) numbered from serial. */
struct target {
    const char *name;
    char url[128];
    bool token;
    char *(*body)(uint64_t serial, size_t n);
};

static char *
s_coord_body(uint64_t serial, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        char path[64], v[32];
        snprintf(path, sizeof path, "/bench/f%llu", (unsigned long long)((serial + i) % 1000));
        snprintf(v, sizeof v, "%llu", (unsigned long long)(serial + i));
        /* Explicit ids make a retried batch idempotent: the copy that committed is skipped. */
        char id[40];
        snprintf(id, sizeof id, "00000000-0000-7000-8000-%012llx",
                 (unsigned long long)(serial + i));
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "id", id, "type",
                                           "filesystem_write", "path", path, "content", "n", v,
                                           "size", "4096"));
    }
    json_t *doc = n == 1 ? json_incref(json_array_get(a, 0)) : json_incref(a);
    char *s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    json_decref(a);
    return s;
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

/* The same content as a coordinator event: key = path, value = a small JSON document. */
static json_t *
s_etcd_put(uint64_t serial)
{
    char key[64], val[128], k64[128], v64[200];
    snprintf(key, sizeof key, "/bench/f%llu", (unsigned long long)(serial % 1000));
    snprintf(val, sizeof val, "{\"type\":\"filesystem_write\",\"n\":\"%llu\",\"size\":\"4096\"}",
             (unsigned long long)serial);
    s_b64(key, k64);
    s_b64(val, v64);
    return json_pack("{s:s, s:s}", "key", k64, "value", v64);
}

static char *
s_etcd_body(uint64_t serial, size_t n)
{
    json_t *doc;
    if (n == 1) {
        doc = s_etcd_put(serial);
    } else {
        json_t *ops = json_array();
        for (size_t i = 0; i < n; i++) {
            json_array_append_new(ops, json_pack("{s:o}", "request_put", s_etcd_put(serial + i)));
        }
        doc = json_pack("{s:o}", "success", ops);
    }
    char *s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return s;
}

/* ---- workloads ---------------------------------------------------------------------------- */

static int
cb_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static uint64_t s_serial = 1;

/* Sequential single writes; fills p50 and p99 in ms. Returns 0, or -1 when a write failed. */
static int
s_latency(const struct target *t, const char *path, size_t n, double *p50, double *p99)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", t->url, path);
    struct client c;
    s_client_init(&c, t->token);
    double *lat = calloc(n, sizeof *lat);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char *body = t->body(s_serial++, 1);
        uint64_t t0 = vx_mono_ns();
        long st = s_post(&c, url, body);
        lat[i] = (double)(vx_mono_ns() - t0) / 1e6;
        free(body);
        if (st != 200) {
            fprintf(stderr, "bench: %s: single write answered %ld\n", t->name, st);
            rc = -1;
            break;
        }
    }
    qsort(lat, n, sizeof *lat, cb_cmp);
    *p50 = lat[n / 2];
    *p99 = lat[(size_t)(0.99 * (double)(n - 1))];
    free(lat);
    s_client_fini(&c);
    return rc;
}

struct worker {
    const struct target *t;
    const char *url;
    char **bodies;
    size_t n;
    size_t failed;
    size_t retried;
    long last_refusal; /* HTTP status of the last refused batch */
    pthread_t thread;
};

static void *
s_worker_main(void *arg)
{
    struct worker *w = arg;
    struct client c;
    s_client_init(&c, w->t->token);
    /* A refused batch (503 while the leader believes itself cut off, 504) is sent again, as
     * a client would, for up to 10 s; the time spent counts against the throughput. */
    for (size_t i = 0; i < w->n; i++) {
        uint64_t deadline = vx_mono_ns() + 10 * VX_NS_PER_S;
        long st;
        while ((st = s_post(&c, w->url, w->bodies[i])) != 200 && vx_mono_ns() < deadline) {
            w->retried++;
            w->last_refusal = st;
            usleep(1000);
        }
        if (st != 200) {
            w->failed++;
        }
    }
    s_client_fini(&c);
    return NULL;
}

/* Batches of BATCH from THREADS clients; events per second, NAN when a batch failed. Bodies
 * are built before the clock starts, so only the servers are timed. */
static double
s_throughput(const struct target *t, const char *path, size_t per_thread)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", t->url, path);
    struct worker w[THREADS];
    for (int k = 0; k < THREADS; k++) {
        w[k] = (struct worker){.t = t, .url = url, .n = per_thread};
        w[k].bodies = calloc(per_thread, sizeof(char *));
        for (size_t i = 0; i < per_thread; i++) {
            w[k].bodies[i] = t->body(s_serial, BATCH);
            s_serial += BATCH;
        }
    }
    uint64_t t0 = vx_mono_ns();
    for (int k = 0; k < THREADS; k++) {
        pthread_create(&w[k].thread, NULL, s_worker_main, &w[k]);
    }
    size_t failed = 0, retried = 0;
    long refusal = 0;
    for (int k = 0; k < THREADS; k++) {
        pthread_join(w[k].thread, NULL);
        failed += w[k].failed;
        retried += w[k].retried;
        refusal = w[k].last_refusal ? w[k].last_refusal : refusal;
    }
    if (retried) {
        printf("  (%s: %zu batch sends refused and retried, last with HTTP %ld)\n", t->name,
               retried, refusal);
    }
    double secs = (double)(vx_mono_ns() - t0) / 1e9;
    for (int k = 0; k < THREADS; k++) {
        for (size_t i = 0; i < per_thread; i++) {
            free(w[k].bodies[i]);
        }
        free(w[k].bodies);
    }
    if (failed) {
        fprintf(stderr, "bench: %s: %zu batches failed\n", t->name, failed);
        return NAN;
    }
    return (double)(THREADS * per_thread * BATCH) / secs;
}

struct figures {
    double p50[REPS], p99[REPS], tput[REPS];
};

static int
s_measure(const struct target *t, const char *single_path, const char *batch_path, size_t seq,
          size_t per_thread, struct figures *f)
{
    for (int r = 0; r < REPS; r++) {
        if (s_latency(t, single_path, seq, &f->p50[r], &f->p99[r]) < 0) {
            return -1;
        }
        f->tput[r] = s_throughput(t, batch_path, per_thread);
        printf("  run %d: %-11s p50 %.2f ms, p99 %.2f ms, %.0f events/s in batches\n", r + 1,
               t->name, f->p50[r], f->p99[r], f->tput[r]);
        fflush(stdout);
    }
    qsort(f->p50, REPS, sizeof(double), cb_cmp);
    qsort(f->p99, REPS, sizeof(double), cb_cmp);
    qsort(f->tput, REPS, sizeof(double), cb_cmp);
    return 0;
}

static void
s_report(const char *name, const struct figures *f)
{
    printf("latency     %-11s p50 %.2f ms (min %.2f, max %.2f), p99 %.2f ms (min %.2f, max "
           "%.2f), median of %d\n",
           name, f->p50[1], f->p50[0], f->p50[2], f->p99[1], f->p99[0], f->p99[2], REPS);
    printf("throughput  %-11s %.0f events/s (min %.0f, max %.0f), batches of %d from %d "
           "clients, median of %d\n",
           name, f->tput[1], f->tput[0], f->tput[2], BATCH, THREADS, REPS);
}

/* ---- starting the clusters ---------------------------------------------------------------- */

static pid_t s_pids[2 * N_NODES];
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
        snprintf(cfg, sizeof cfg, "%s/coord%d.yaml", dir, i + 1);
        snprintf(log, sizeof log, "%s/coord%d.log", dir, i + 1);
        /* The latency budget is raised so the slow-commit counter does not log every write;
         * the log window is small so /v1/log memory stays flat over a long run. */
        snprintf(text, sizeof text,
                 "distributed_coordination:\n  node_id: %d\n  members: \"%s\"\n"
                 "  data_dir: %s/coord%d\n  rest_port: %u\n  input_endpoint: \"\"\n"
                 "  max_consensus_latency_ms: 10000\n  log_memory_entries: 10000\n"
                 "admin:\n  token_file: %s\nlogging:\n  level: warn\n",
                 i + 1, members, dir, i + 1, (unsigned)rest[i], tok);
        vt_write_file(cfg, text);
        char bin[512];
        snprintf(bin, sizeof bin, "%s/vexfs-coordinator", vt_bin_dir());
        char *argv[] = {bin, (char *)"--config", cfg, NULL};
        s_pids[s_npids++] = vt_spawn(argv, NULL, log);
    }
    for (int i = 0; i < N_NODES; i++) {
        if (!vt_wait_ready(rest[i], 30000)) {
            fprintf(stderr, "bench: coordinator %d not ready; logs in %s\n", i + 1, dir);
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
            snprintf(t->url, sizeof t->url, "http://%s", lrest);
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

/* Starts 3 etcd members on loopback; the client URL of member 1 (any member forwards a write
 * to the leader, as a coordinator follower does not: the URL of the leader is found below). */
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
    struct target probe = *t;
    snprintf(probe.url, sizeof probe.url, "http://127.0.0.1:%u", (unsigned)client[0]);
    struct client c;
    s_client_init(&c, false);
    char url[256];
    snprintf(url, sizeof url, "%s/v3/kv/put", probe.url);
    char *body = s_etcd_body(0, 1);
    bool up = false;
    for (int i = 0; i < 300 && !up; i++) {
        up = s_post(&c, url, body) == 200;
        if (!up) {
            usleep(100 * 1000);
        }
    }
    free(body);
    s_client_fini(&c);
    if (!up) {
        fprintf(stderr, "bench: etcd did not start; logs in %s\n", dir);
        return -1;
    }
    *t = probe;
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

int
main(int argc, char **argv)
{
    size_t seq = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000;
    size_t per_thread = argc > 2 ? strtoull(argv[2], NULL, 10) : 100;
    if (seq < 10 || per_thread < 1) {
        fprintf(stderr, "usage: bench_coordinator [SEQUENTIAL >= 10] [BATCHES_PER_THREAD >= 1]\n");
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
    printf("== coordinator: 3 nodes on loopback, data in %s (%s), %zu sequential writes and "
           "%d x %zu batches of %d per run\n",
           dir, fs, seq, THREADS, per_thread, BATCH);

    struct target coord = {.name = "coordinator", .token = true, .body = s_coord_body};
    struct figures fc, fe;
    if (s_coord_start(dir, &coord) < 0) {
        s_stop_all();
        return 1;
    }
    int rc = s_measure(&coord, "/v1/events", "/v1/events", seq, per_thread, &fc);
    s_stop_all();
    if (rc < 0) {
        return 1;
    }
    s_report("coordinator", &fc);

    if (!s_etcd_installed()) {
        printf("etcd        not measured: etcd-server is not installed (apt-get install -y "
               "--no-install-recommends etcd-server etcd-client)\n");
        free(dir);
        return 0;
    }
    struct target etcd = {.name = "etcd", .token = false, .body = s_etcd_body};
    if (s_etcd_start(dir, &etcd) < 0) {
        s_stop_all();
        free(dir);
        return 1;
    }
    rc = s_measure(&etcd, "/v3/kv/put", "/v3/kv/txn", seq, per_thread, &fe);
    s_stop_all();
    if (rc < 0) {
        free(dir);
        return 1;
    }
    s_report("etcd", &fe);
    printf("ratio       coordinator / etcd: p50 latency %.2f, p99 latency %.2f (lower is "
           "faster), batched throughput %.2f (higher is faster)\n",
           fc.p50[1] / fe.p50[1], fc.p99[1] / fe.p99[1], fc.tput[1] / fe.tput[1]);
    free(dir);
    curl_global_cleanup();
    return 0;
}
