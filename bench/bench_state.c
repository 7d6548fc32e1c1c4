/* SPDX-License-Identifier: Apache-2.0 */
/* Automation's durable state:
 *   - state commit latency, p50/p99, of executions writing 1, 10 and 100 keys: the commit that
 *     finishes an execution (its writes with the conflict check, its record into the history,
 *     its journal entry removed), sealed, fsynced, on this machine's disk; its limit is one
 *     fsync of a small write in the same folder, measured in the same run;
 *   - workflow throughput through the daemon: executions of a workflow with three set_state
 *     steps started over REST, until all succeeded, with today's LMDB store (fsynced, over
 *     HTTPS) and with today's code in memory ($VX_BASELINE_BIN_DIR, built by
 *     scripts/bench-baseline.sh from the commit in bench/BASELINE; it predates security, so it
 *     is spoken to in plain HTTP, as its figure says) in the same run.
 *   The executions are posted by as many clients at once as the run lets run at once (one,
 *   then eight), so that concurrent submissions and commits can share a group commit.
 * Usage: bench_state [EXECUTIONS] (default 2,000). */
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "au_store.h"
#include "vx_clock.h"
#include "vx_log.h"
#include "vx_mem.h"
#include "vx_seal.h"
#include "vx_test.h"

#define S_MAX_CLIENTS 16

static int
cb_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void
s_pct(double *v, size_t n, double *p50, double *p99)
{
    qsort(v, n, sizeof *v, cb_cmp);
    *p50 = v[n / 2];
    *p99 = v[(n * 99) / 100];
}

/* One fsync of a 4 KiB write in dir, p50 over n: the floor of a durable commit. */
static double
s_fsync_us(const char *dir, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/fsync.probe", dir);
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    if (fd < 0) {
        return -1;
    }
    char buf[4096];
    memset(buf, 'x', sizeof buf);
    double *v = calloc(n, sizeof *v);
    for (size_t i = 0; i < n; i++) {
        uint64_t t0 = vx_mono_ns();
        if (pwrite(fd, buf, sizeof buf, 0) != (ssize_t)sizeof buf || fdatasync(fd) < 0) {
            break;
        }
        v[i] = (double)(vx_mono_ns() - t0) / 1e3;
    }
    close(fd);
    unlink(path);
    double p50 = 0, p99 = 0;
    s_pct(v, n, &p50, &p99);
    free(v);
    return p50;
}

/* Commits of executions writing k keys each: p50/p99 in us. */
static int
s_commits(const char *dir, vx_sealer_t *sealer, int k, size_t n, double *p50, double *p99)
{
    struct au_store_sealer se = au_store_vx_sealer(sealer);
    struct au_store_opts o = {.dir = dir, .map_bytes = 1ull << 30, .max_history = 1000,
                              .sealer = &se};
    au_store_t *s = NULL;
    char err[512];
    if (au_store_open(&s, &o, err, sizeof err) < 0) {
        fprintf(stderr, "bench_state: %s\n", err);
        return -1;
    }
    double *v = calloc(n, sizeof *v);
    json_t *entry = json_pack("{s:s, s:[]}", "tenant", "t", "completed");
    for (size_t i = 0; i < n; i++) {
        char id[64];
        snprintf(id, sizeof id, "exec-%d-%zu", k, i);
        au_store_journal_put(s, id, entry, err, sizeof err); /* as at submission */
        json_t *writes = json_array();
        for (int j = 0; j < k; j++) {
            char p[64];
            snprintf(p, sizeof p, "bench.k%d", j);
            json_array_append_new(writes, json_pack("[s, I]", p, (json_int_t)i));
        }
        json_t *rec = json_pack("{s:s, s:s, s:s, s:s}", "id", id, "tenant", "t", "workflow",
                                "w", "status", "succeeded");
        struct au_store_commit c = {.tenant = "t", .snap_seq = au_store_seq(s), .writes = writes,
                                    .journal_del = id, .hist_id = id, .hist_rec = rec,
                                    .hist_ns = vx_wall_ns()};
        uint64_t t0 = vx_mono_ns();
        int rc = au_store_commit(s, &c, err, sizeof err);
        v[i] = (double)(vx_mono_ns() - t0) / 1e3;
        json_decref(writes);
        json_decref(rec);
        if (rc < 0) {
            fprintf(stderr, "bench_state: %s\n", err);
            break;
        }
    }
    json_decref(entry);
    s_pct(v, n, p50, p99);
    free(v);
    au_store_close(&s);
    return 0;
}

/* Committers at once on one store, each finishing executions of 3 keys of its own. */
struct s_committer {
    au_store_t *s;
    int who;
    size_t n;
    int failed;
};

static void *
cb_committer(void *arg)
{
    struct s_committer *c = arg;
    char err[512];
    for (size_t i = 0; i < c->n; i++) {
        char id[64];
        snprintf(id, sizeof id, "exec-c%d-%zu", c->who, i);
        json_t *writes = json_array();
        for (int j = 0; j < 3; j++) {
            char p[64];
            snprintf(p, sizeof p, "c%d.k%d", c->who, j);
            json_array_append_new(writes, json_pack("[s, I]", p, (json_int_t)i));
        }
        json_t *rec = json_pack("{s:s, s:s, s:s, s:s}", "id", id, "tenant", "t", "workflow",
                                "w", "status", "succeeded");
        struct au_store_commit cm = {.tenant = "t", .snap_seq = au_store_seq(c->s),
                                     .writes = writes, .journal_del = id, .hist_id = id,
                                     .hist_rec = rec, .hist_ns = vx_wall_ns()};
        c->failed += au_store_commit(c->s, &cm, err, sizeof err) < 0;
        json_decref(writes);
        json_decref(rec);
    }
    return NULL;
}

/* Commits per second with nth committers at once, and the transactions (fsyncs) they took. */
static double
s_commit_rate(const char *dir, vx_sealer_t *sealer, int nth, size_t n, double *per_txn)
{
    struct au_store_sealer se = au_store_vx_sealer(sealer);
    struct au_store_opts o = {.dir = dir, .map_bytes = 1ull << 30, .max_history = 1000,
                              .sealer = &se};
    au_store_t *s = NULL;
    char err[512];
    if (au_store_open(&s, &o, err, sizeof err) < 0) {
        fprintf(stderr, "bench_state: %s\n", err);
        return -1;
    }
    pthread_t th[S_MAX_CLIENTS];
    struct s_committer cs[S_MAX_CLIENTS];
    uint64_t t0 = vx_mono_ns();
    for (int i = 0; i < nth; i++) {
        cs[i] = (struct s_committer){s, i, n / (size_t)nth, 0};
        pthread_create(&th[i], NULL, cb_committer, &cs[i]);
    }
    int failed = 0;
    for (int i = 0; i < nth; i++) {
        pthread_join(th[i], NULL);
        failed += cs[i].failed;
    }
    double secs = (double)(vx_mono_ns() - t0) / 1e9;
    json_t *g = au_store_group_stats(s);
    double commits = (double)json_integer_value(json_object_get(g, "commits"));
    double txns = (double)json_integer_value(json_object_get(g, "transactions"));
    *per_txn = txns > 0 ? commits / txns : 0;
    json_decref(g);
    au_store_close(&s);
    if (failed > 0) {
        fprintf(stderr, "bench_state: %d commits failed\n", failed);
        return -1;
    }
    return (double)(n / (size_t)nth * (size_t)nth) / secs;
}

/* Workflow wk writes keys b<k>.a, b<k>.b, b<k>.c: executions of different workflows never
 * conflict; with the store, executions of one workflow that overlap are run again (the
 * in-memory code has no conflicts to detect, and no on_conflict key). */
static char *
s_wf(int k, bool store)
{
    char *t = vx_malloc(1024);
    snprintf(t, 1024,
             "{\"id\":\"w%d\",\"kind\":\"linear\",%s\"steps\":["
             "{\"id\":\"a\",\"action\":{\"kind\":\"set_state\",\"path\":\"b%d.a\",\"value\":"
             "\"{{input.i}}\"}},{\"id\":\"b\",\"action\":{\"kind\":\"set_state\",\"path\":"
             "\"b%d.b\",\"value\":\"{{input.i}}\"}},{\"id\":\"c\",\"action\":{\"kind\":"
             "\"set_state\",\"path\":\"b%d.c\",\"value\":\"{{input.i}}\"}}]}",
             k, store ? "\"on_conflict\":\"retry\",\"conflict_retries\":100," : "", k, k, k);
    return t;
}

/* One client posting executions i = first, first + step, ... of n. */
struct s_client {
    uint16_t port;
    size_t n;
    int nwf;
    size_t first, step;
    size_t refused; /* out: answers other than 202 */
};

static void *
cb_client(void *arg)
{
    struct s_client *c = arg;
    vt_http_keep_alive(true); /* as a long-lived client: one connection, one handshake */
    for (size_t i = c->first; i < c->n; i += c->step) {
        char body[64], path[64];
        struct vt_http_result r = {0};
        snprintf(body, sizeof body, "{\"i\":%zu}", i);
        snprintf(path, sizeof path, "/v1/workflows/w%d/execute", (int)(i % (size_t)c->nwf));
        if (vt_http("POST", c->port, path, body, strlen(body), "bench", &r) < 0 ||
            r.status != 202) {
            c->refused++;
        }
        vt_http_result_fini(&r);
    }
    vt_http_keep_alive(false);
    return NULL;
}

/* Executions per second of bin (a vexfs-automation) for n executions over nwf workflows
 * round-robin, conc at once; state_dir when durable. Today's code (durable false) predates the
 * secured suite and serves plain HTTP: the requests to it are plain. -1 when it could not run. */
static double
s_daemon(const char *bin_dir, bool durable, size_t n, int nwf, int conc)
{
    vt_http_plain(!durable);
    char *dir = vt_tmpdir();
    char cfg[300], log[300], tok[300], text[2048];
    snprintf(cfg, sizeof cfg, "%s/automation.yaml", dir);
    snprintf(log, sizeof log, "%s/automation.log", dir);
    snprintf(tok, sizeof tok, "%s/token", dir);
    vt_write_file(tok, "bench\n");
    uint16_t port = vt_free_port();
    char sd[400] = "";
    if (durable) {
        snprintf(sd, sizeof sd, "  state_dir: %s/state\n", dir);
    }
    snprintf(text, sizeof text,
             "reactive_automation:\n  rest_port: %u\n  input_endpoint: tcp://127.0.0.1:%u\n"
             "  max_executions: %zu\n  max_queued_workflows: %zu\n  max_concurrent_workflows: %d\n"
             "  tenant_max_concurrent: %d\n%sadmin:\n  token_file: %s\nlogging:\n  level: warn\n",
             (unsigned)port, (unsigned)vt_free_port(), n + 10, n + 10, conc, conc, sd, tok);
    vt_write_file(cfg, text);
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-automation", bin_dir);
    char *argv[] = {bin, (char *)"--config", cfg, NULL};
    pid_t pid = vt_spawn(argv, NULL, log);
    double rate = -1;
    struct vt_http_result r = {0};
    if (pid <= 0 || !vt_wait_ready(port, 30000)) {
        fprintf(stderr, "bench_state: %s did not start; see %s\n", bin, log);
        goto out;
    }
    for (int k = 0; k < nwf; k++) {
        char *wf = s_wf(k, durable);
        vt_http("POST", port, "/v1/workflows", wf, strlen(wf), "bench", &r);
        if (r.status != 201) {
            fprintf(stderr, "bench_state: POST /v1/workflows: %ld %s\n", r.status,
                    r.body ? r.body : "");
        }
        vt_http_result_fini(&r);
        free(wf);
    }
    uint64_t t0 = vx_mono_ns();
    pthread_t th[S_MAX_CLIENTS];
    struct s_client cl[S_MAX_CLIENTS];
    int nc = conc < S_MAX_CLIENTS ? conc : S_MAX_CLIENTS;
    for (int c = 0; c < nc; c++) {
        cl[c] = (struct s_client){port, n, nwf, (size_t)c, (size_t)nc, 0};
        pthread_create(&th[c], NULL, cb_client, &cl[c]);
    }
    size_t refused = 0;
    for (int c = 0; c < nc; c++) {
        pthread_join(th[c], NULL);
        refused += cl[c].refused;
    }
    if (refused > 0) {
        fprintf(stderr, "bench_state: %zu executions were not accepted\n", refused);
    }
    vt_http_keep_alive(true); /* the polls below take no handshake each */
    uint64_t deadline = vx_mono_ns() + 300 * VX_NS_PER_S;
    const char *ok = "vexfs_automation_executions_total{status=\"succeeded\"}";
    while (vt_metric(port, ok) < (double)n && vx_mono_ns() < deadline) {
        usleep(1000);
    }
    double secs = (double)(vx_mono_ns() - t0) / 1e9;
    if (vt_metric(port, ok) >= (double)n) {
        rate = (double)n / secs;
    } else {
        fprintf(stderr, "bench_state: %.0f of %zu succeeded in 300 s; see %s\n",
                vt_metric(port, ok), n, log);
    }
    double conflicts = vt_metric(port, "vexfs_automation_state_conflicts_total");
    if (conflicts >= 0) {
        printf("  (%.0f commits refused by a conflict and run again)\n", conflicts);
    }
    vt_http_keep_alive(false);
out:
    if (pid > 0) {
        vt_stop(pid, SIGTERM, 30000);
    }
    vt_http_plain(false);
    free(dir);
    return rate;
}

int
main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000;
    if (n < 100 || n > 1000000) {
        n = 2000;
    }
    vx_log_init("bench_state", VX_LOG_WARN);
    uint8_t key[VX_SEAL_KEY_BYTES];
    memset(key, 7, sizeof key);
    char err[256];
    /* as at_rest.algorithm auto: AES-256-GCM where the CPU has AES-NI */
    vx_sealer_t *sealer = vx_sealer_from_key(1, key, VX_SEAL_AES256GCM, err, sizeof err);
    if (sealer == NULL) {
        sealer = vx_sealer_from_key(1, key, VX_SEAL_XCHACHA20POLY1305, err, sizeof err);
    }
    if (sealer == NULL) {
        fprintf(stderr, "bench_state: %s\n", err);
        return 1;
    }
    char *dir = vt_tmpdir();
    double fs = s_fsync_us(dir, 200);
    printf("state commit, sealed (%s), fsynced, in %s (limit: one fdatasync of 4 KiB there, "
           "p50 %.1f us)\n",
           vx_sealer_algorithm(sealer), dir, fs);
    const int keys[] = {1, 10, 100};
    for (int i = 0; i < 3; i++) {
        char sub[600];
        snprintf(sub, sizeof sub, "%s/k%d", dir, keys[i]);
        double p50 = 0, p99 = 0;
        size_t runs = keys[i] == 100 ? n / 4 : n / 2;
        if (s_commits(sub, sealer, keys[i], runs, &p50, &p99) < 0) {
            return 1;
        }
        printf("  %3d keys per execution: p50 %8.1f us  p99 %8.1f us  (%zu commits; p50 = "
               "%.2fx one fsync)\n",
               keys[i], p50, p99, runs, fs > 0 ? p50 / fs : 0);
    }
    /* Group commit: committers at once share transactions (and fsyncs). */
    double one_rate = 0;
    const int nths[] = {1, 8};
    for (int i = 0; i < 2; i++) {
        char sub[600];
        snprintf(sub, sizeof sub, "%s/g%d", dir, nths[i]);
        double per = 0;
        double rate = s_commit_rate(sub, sealer, nths[i], n / 4, &per);
        if (rate < 0) {
            return 1;
        }
        one_rate = i == 0 ? rate : one_rate;
        printf("  %d committer%s at once, 3 keys each: %8.0f commits/s  (%.1f commits per "
               "fsynced transaction; %.2fx one committer; limit of one fsync per commit: "
               "%.0f/s, ratio %.2f)\n",
               nths[i], nths[i] == 1 ? " " : "s", rate, per, one_rate > 0 ? rate / one_rate : 0,
               fs > 0 ? 1e6 / fs : 0, fs > 0 ? rate / (1e6 / fs) : 0);
    }
    vx_sealer_destroy(&sealer);
    free(dir);
    const char *base = getenv("VX_BASELINE_BIN_DIR");
    const struct {
        const char *what;
        int nwf, conc;
    } runs[] = {{"one at a time", 1, 1}, {"8 at once, 8 workflows on their own keys", 8, 8}};
    int rc = 0;
    for (int k = 0; k < 2; k++) {
        printf("workflow throughput, 3 set_state steps per execution, %zu executions over REST, "
               "%s\n",
               n, runs[k].what);
        double lmdb = s_daemon(vt_bin_dir(), true, n, runs[k].nwf, runs[k].conc);
        printf("  LMDB store (sealed, fsynced, HTTPS): %10.0f executions/s\n", lmdb);
        if (base == NULL || base[0] == '\0') {
            printf("  today's code (in memory): not measured (VX_BASELINE_BIN_DIR unset; "
                   "scripts/bench-baseline.sh builds it)\n");
        } else {
            double mem = s_daemon(base, false, n, runs[k].nwf, runs[k].conc);
            printf("  today's code (in memory, plain HTTP): %8.0f executions/s\n", mem);
            if (mem > 0 && lmdb > 0) {
                printf("  ratio LMDB / in memory: %.2f\n", lmdb / mem);
            }
        }
        rc = lmdb > 0 ? rc : 1;
    }
    return rc;
}
