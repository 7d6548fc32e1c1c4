/* SPDX-License-Identifier: Apache-2.0 */
/* Trigger-to-first-step latency of workflows: the time from an execution's submission (what a
 * pattern match, an event, a state change or POST .../execute does) until its first step
 * starts, as each execution records it (start_latency_us), p50 and p99.
 *
 * In-process: au_exec with 4 workers, one execution at a time (the pool idle in between), and
 * bursts of 100 submitted at once (queueing included), on a store that is not fsynced and on
 * one that is (the journal entry written at each submission is an fsynced LMDB commit).
 * Through the daemon: a real vexfs-automation whose threshold pattern (one event) starts the
 * workflow; events sent one at a time over ZeroMQ. The daemon is secured as in production (the
 * test support's key set and certificates: CURVE on its input, HTTPS), and the sender's socket
 * is opened through the suite's factory (vt_sock_ex).
 * Usage: bench_workflows [EXECUTIONS] (default 2,000). */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "au_exec.h"
#include "vx_clock.h"
#include "vx_log.h"
#include "vx_test.h"
#include "vx_wire.h"

static const char *const s_wf =
    "{\"id\":\"w\",\"kind\":\"linear\",\"steps\":[{\"id\":\"s\",\"action\":{\"kind\":"
    "\"delay\",\"ms\":0}}]}";

static int
cb_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void
s_print(const char *what, double *v, size_t n)
{
    qsort(v, n, sizeof *v, cb_cmp);
    printf("  %-44s p50 %8.1f us  p99 %8.1f us  max %8.1f us  (%zu executions)\n", what,
           v[n / 2], v[(n * 99) / 100], v[n - 1], n);
}

static double
s_latency(au_exec_t *x, const char *id)
{
    json_t *r = au_exec_get(x, "t", id);
    double us = json_real_value(json_object_get(r, "start_latency_us"));
    json_decref(r);
    return us;
}

static int
s_inproc(size_t n, bool sync, bool burst)
{
    char *dir = vt_tmpdir();
    au_breakers_t *br = au_breakers_new(5, 1000, NULL);
    struct au_store_opts so = {.dir = dir, .map_bytes = 1ull << 30, .no_sync = !sync,
                               .max_history = (uint32_t)n + 10};
    au_store_t *st = NULL;
    char serr[512];
    if (au_store_open(&st, &so, serr, sizeof serr) < 0) {
        fprintf(stderr, "bench: %s\n", serr);
        free(dir);
        return -1;
    }
    struct au_exec_opts o = {.max_concurrent = 4, .max_queue = 100000, .tenant_concurrency = 4,
                             .max_history = (uint32_t)n + 10, .retries = true,
                             .compensation = true, .store = st, .breakers = br};
    au_exec_t *x = au_exec_new(&o);
    json_t *j = json_loads(s_wf, 0, NULL);
    struct au_workflow *w = NULL;
    char err[256];
    if (au_workflow_parse(j, "t", &w, err, sizeof err) < 0) {
        fprintf(stderr, "bench: %s\n", err);
        return -1;
    }
    json_decref(j);
    char (*ids)[AU_EXEC_ID_LEN] = calloc(n, AU_EXEC_ID_LEN);
    double *lat = calloc(n, sizeof *lat);
    /* warm the pool up */
    au_exec_submit(x, w, NULL, NULL, ids[0]);
    au_exec_idle(x, 10000);
    for (size_t i = 0; i < n; i++) {
        au_exec_submit(x, w, NULL, NULL, ids[i]);
        if (!burst || i % 100 == 99) {
            au_exec_idle(x, 10000);
        }
    }
    au_exec_idle(x, 60000);
    for (size_t i = 0; i < n; i++) {
        lat[i] = s_latency(x, ids[i]);
    }
    char what[128];
    snprintf(what, sizeof what, "in-process, %s, %s:", burst ? "bursts of 100" : "one at a time",
             sync ? "store fsynced" : "store not fsynced");
    s_print(what, lat, n);
    free(ids);
    free(lat);
    au_workflow_unref(&w);
    au_exec_destroy(&x);
    au_breakers_destroy(&br);
    au_store_close(&st);
    free(dir);
    return 0;
}

static int
s_daemon(size_t n)
{
    char *dir = vt_tmpdir();
    char cfg[300], log[300], tok[300], text[2048], input[64];
    snprintf(cfg, sizeof cfg, "%s/automation.yaml", dir);
    snprintf(log, sizeof log, "%s/automation.log", dir);
    snprintf(tok, sizeof tok, "%s/token", dir);
    vt_write_file(tok, "bench\n");
    uint16_t port = vt_free_port();
    snprintf(input, sizeof input, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    zsock_t *push = vt_sock(ZMQ_PUSH, input, true);
    if (push == NULL) {
        free(dir);
        return -1;
    }
    snprintf(text, sizeof text,
             "reactive_automation:\n  rest_port: %u\n  input_endpoint: %s\n"
             "  max_executions: %zu\nadmin:\n  token_file: %s\nlogging:\n  level: warn\n",
             (unsigned)port, input, n + 10, tok);
    vt_write_file(cfg, text);
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-automation", vt_bin_dir());
    char *argv[] = {bin, (char *)"--config", cfg, NULL};
    pid_t pid = vt_spawn(argv, NULL, log);
    int rc = -1;
    struct vt_http_result r = {0};
    if (pid <= 0 || !vt_wait_ready(port, 20000)) {
        fprintf(stderr, "bench: vexfs-automation did not start; see %s\n", log);
        goto out;
    }
    const char *wf = "{\"id\":\"w\",\"kind\":\"linear\",\"triggers\":[{\"kind\":\"pattern\","
                     "\"pattern\":\"one\"}],\"steps\":[{\"id\":\"s\",\"action\":{\"kind\":"
                     "\"delay\",\"ms\":0}}]}";
    const char *pat = "{\"id\":\"one\",\"kind\":\"threshold\",\"window_ms\":1000,\"elements\":"
                      "[{\"event_type\":\"filesystem_write\",\"min_occurrences\":1}],"
                      "\"actions\":[{\"kind\":\"alert\",\"message\":\"w\"}]}";
    const char *posts[2][2] = {{"/v1/workflows", wf}, {"/v1/patterns", pat}};
    for (int i = 0; i < 2; i++) {
        if (vt_http("POST", port, posts[i][0], posts[i][1], strlen(posts[i][1]), "bench", &r) !=
                0 ||
            r.status < 200 || r.status > 299) {
            fprintf(stderr, "bench: POST %s answered %ld: %s\n", posts[i][0], r.status,
                    r.body ? r.body : "");
            goto out;
        }
        vt_http_result_fini(&r);
    }
    vx_event_t ev;
    vexfs__v1__event__init(&ev);
    ev.type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE;
    ev.path = (char *)"/bench";
    vx_event_t *evp = &ev;
    vx_batch_t b;
    vexfs__v1__event_batch__init(&b);
    b.events = &evp;
    b.n_events = 1;
    b.sender = (char *)"bench-workflows";
    for (size_t i = 0; i < n; i++) {
        b.batch_sequence = i + 1;
        vx_wire_send(push, VX_WIRE_TOPIC, &b, 0);
        /* one at a time: wait for this execution to finish before the next event */
        uint64_t deadline = vx_mono_ns() + 10 * VX_NS_PER_S;
        while (vt_metric(port, "vexfs_automation_executions_total{status=\"succeeded\"}") <
                   (double)(i + 1) &&
               vx_mono_ns() < deadline) {
            usleep(200);
        }
    }
    char path[64];
    snprintf(path, sizeof path, "/v1/executions?limit=%zu", n);
    if (vt_http("GET", port, path, NULL, 0, NULL, &r) != 0 || r.status != 200) {
        goto out;
    }
    json_t *doc = json_loads(r.body, 0, NULL);
    json_t *arr = json_object_get(doc, "executions");
    size_t m = json_array_size(arr);
    double *lat = calloc(m ? m : 1, sizeof *lat);
    for (size_t i = 0; i < m; i++) {
        lat[i] = json_real_value(json_object_get(json_array_get(arr, i), "start_latency_us"));
    }
    if (m > 0) {
        s_print("daemon, pattern match -> first step:", lat, m);
    }
    free(lat);
    json_decref(doc);
    rc = 0;
out:
    vt_http_result_fini(&r);
    if (pid > 0) {
        vt_stop(pid, SIGTERM, 30000);
    }
    zsock_destroy(&push);
    free(dir);
    return rc;
}

int
main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000;
    if (n < 100 || n > 1000000) {
        n = 2000;
    }
    vx_log_init("bench_workflows", VX_LOG_WARN);
    printf("workflow trigger -> first step start (submission to the first step's start)\n");
    if (s_inproc(n, false, false) < 0 || s_inproc(n, false, true) < 0 ||
        s_inproc(n, true, false) < 0) {
        return 1;
    }
    return s_daemon(n < 1000 ? n : 1000) < 0 ? 1 : 0;
}
