/* SPDX-License-Identifier: Apache-2.0 */
/* The whole pipeline producer -> vexfs-propagation -> vexfs-routing -> a ZeroMQ boundary,
 * real processes on loopback, with the propagation -> routing hop acknowledged
 * (output_acked / input_acked) and as today (PUSH/PULL), in the same run. The producer is the
 * producers' acknowledged link (vx_link to ingest_acked_endpoint, as vexfs-watch uses it) in
 * both, so the difference is the internal hop: with it acknowledged, propagation also answers
 * the producer only once routing answered.
 *
 * Two figures per pipeline, each the median of 3 runs with min and max:
 *   - throughput: EVENTS events (batches of 100) as fast as the producer's window allows,
 *     from the first put to the last event counted at the boundary;
 *   - latency at 50,000 events/s: a paced stream for 3 s; each event carries its send time,
 *     the consumer (this process, the same clock) takes the p50 and p99 of arrival - send.
 * Then the ratio acked / today and the targets: throughput >= 80% of today's, p99 < 5 ms.
 *
 * Today's daemons: $VX_PIPELINE_TODAY_BIN_DIR when set (scripts/bench-baseline.sh COMMIT
 * prints a build folder whose bin/ holds them, e.g. the commit before the acknowledged hop),
 * else this build's, configured as today (output_acked and input_acked off).
 * Every ZeroMQ link uses CURVE as in production (the test support's keys). Routing has a
 * state_dir (its senders file is written each loop turn that acknowledges), unless
 * VX_PIPELINE_NO_STATE=1.
 * VX_PIPELINE_BOUNDARY_ACKED=1 compares the boundary hop instead: both pipelines have the
 * acknowledged internal hops, the first with a plain boundary (PUSH to a PULL consumer), the
 * second with routing's boundary_acked (a DEALER to a ROUTER consumer that answers each batch
 * as it is counted).
 * Usage: bench_pipeline [EVENTS] (default 300,000); programs from $VX_BIN_DIR. */
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

#include "vx_ackrx.h"
#include "vx_clock.h"
#include "vx_link.h"
#include "vx_metrics.h"
#include "vx_test.h"
#include "vx_wire.h"

#define BATCH 100
#define REPS 3
#define RATE 50000
#define RATE_SECONDS 3
#define TOKEN "bench-token"
#define LAT_MAX (RATE * RATE_SECONDS + 1000)

static bool s_no_state; /* VX_PIPELINE_NO_STATE=1: routing without state_dir (no senders file) */

struct pipeline {
    bool acked;
    bool boundary_acked; /* routing's boundary_acked: automation, consumer a ROUTER */
    const char *bin_dir;
    char dir[256];
    pid_t prop, rt;
    uint16_t prop_rest, rt_rest;
    char ingest[64], acked_ep[64], out[64], boundary[64];
};

static int
s_spawn(const char *bin_dir, const char *name, const char *cfg, const char *log, uint16_t rest,
        pid_t *pid)
{
    char bin[512];
    snprintf(bin, sizeof bin, "%s/%s", bin_dir, name);
    char *argv[] = {bin, (char *)"--config", (char *)cfg, NULL};
    *pid = vt_spawn(argv, NULL, log);
    if (*pid <= 0 || !vt_wait_ready(rest, 30000)) {
        fprintf(stderr, "bench: %s did not start; see %s\n", name, log);
        return -1;
    }
    return 0;
}

static int
s_start(struct pipeline *p)
{
    char *dir = vt_tmpdir();
    snprintf(p->dir, sizeof p->dir, "%s", dir);
    free(dir);
    p->prop_rest = vt_free_port();
    p->rt_rest = vt_free_port();
    snprintf(p->ingest, sizeof p->ingest, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    snprintf(p->acked_ep, sizeof p->acked_ep, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    snprintf(p->out, sizeof p->out, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    snprintf(p->boundary, sizeof p->boundary, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    char tok[300], cfg[300], log[300], text[4096];
    snprintf(tok, sizeof tok, "%s/token", p->dir);
    vt_write_file(tok, TOKEN "\n");
    snprintf(cfg, sizeof cfg, "%s/vexfs.yaml", p->dir);
    snprintf(text, sizeof text,
             "event_propagation:\n  rest_port: %u\n  ingest_endpoint: %s\n"
             "  ingest_acked_endpoint: %s\n  output_endpoint: %s\n  tap_endpoint: \"\"\n"
             "  producer_id: bench-prop\n%s"
             "event_routing:\n  rest_port: %u\n  input_endpoint: %s\n"
             "  output_automation: %s\n  output_analytics: \"\"\n  output_coordinator: \"\"\n"
             "  output_graph: \"\"\n  output_vector: \"\"\n  state_dir: \"%s%s\"\n"
             "  batch_max_events: %d\n  producer_id: bench-routing\n%s"
             "admin:\n  token_file: %s\nlogging:\n  level: warn\n",
             (unsigned)p->prop_rest, p->ingest, p->acked_ep, p->out,
             p->acked ? "  output_acked: true\n" : "", (unsigned)p->rt_rest, p->out,
             p->boundary, s_no_state ? "" : p->dir, s_no_state ? "" : "/routing", BATCH,
             p->acked ? (p->boundary_acked ? "  input_acked: true\n  boundary_acked: automation\n"
                                           : "  input_acked: true\n")
                      : "",
             tok);
    vt_write_file(cfg, text);
    snprintf(log, sizeof log, "%s/propagation.log", p->dir);
    if (s_spawn(p->bin_dir, "vexfs-propagation", cfg, log, p->prop_rest, &p->prop) < 0) {
        return -1;
    }
    snprintf(log, sizeof log, "%s/routing.log", p->dir);
    if (s_spawn(p->bin_dir, "vexfs-routing", cfg, log, p->rt_rest, &p->rt) < 0) {
        return -1;
    }
    static const char rules[] =
        "{\"rules\":[{\"id\":\"all\",\"conditions\":{\"event_types\":[\"filesystem_write\"]},"
        "\"target_boundaries\":[\"automation\"]}],\"filters\":[]}";
    struct vt_http_result r;
    int rc = vt_http("PUT", p->rt_rest, "/v1/rules", rules, strlen(rules), TOKEN, &r);
    long status = r.status;
    vt_http_result_fini(&r);
    if (rc != 0 || status != 200) {
        fprintf(stderr, "bench: PUT /v1/rules answered %ld\n", status);
        return -1;
    }
    return 0;
}

static void
s_stop(struct pipeline *p)
{
    if (p->rt > 0) {
        vt_stop(p->rt, SIGTERM, 30000);
    }
    if (p->prop > 0) {
        vt_stop(p->prop, SIGTERM, 30000);
    }
    p->rt = p->prop = 0;
}

/* ---- the consumer: counts events and records each one's latency ------------------------- */

struct consumer {
    char endpoint[64];
    bool acked; /* a ROUTER that answers each batch (boundary_acked) */
    atomic_bool stop;
    atomic_ulong events;
    atomic_ulong last_ns; /* arrival of the last event */
    bool record;          /* latency phase: keep arrival - send per event */
    double *lat;          /* [LAT_MAX] seconds */
    atomic_ulong n_lat;
    pthread_t thread;
};

static uint64_t
s_sent_ns(const vx_event_t *e)
{
    for (size_t i = 0; i < e->n_content; i++) {
        if (strcmp(e->content[i]->key, "t") == 0) {
            return strtoull(e->content[i]->value, NULL, 10);
        }
    }
    return 0;
}

static void *
s_consume(void *arg)
{
    struct consumer *c = arg;
    struct vt_sock_opts o = {.type = c->acked ? ZMQ_ROUTER : ZMQ_PULL, .endpoint = c->endpoint,
                             .rcvtimeo_ms = 100, .hwm = 1000};
    zsock_t *pull = vt_sock_ex(&o);
    while (!atomic_load(&c->stop)) {
        zmsg_t *m = zmsg_recv(pull);
        if (!m) {
            continue;
        }
        uint64_t now = vx_mono_ns();
        zframe_t *f = zmsg_last(m);
        vx_batch_t *b = f ? vexfs__v1__event_batch__unpack(NULL, zframe_size(f),
                                                           zframe_data(f))
                          : NULL;
        zframe_t *id = zmsg_first(m);
        if (b && c->acked && id && b->batch_sequence) {
            vx_acks_send(pull, zframe_data(id), zframe_size(id), b->batch_sequence);
        }
        if (b) {
            if (c->record) {
                for (size_t i = 0; i < b->n_events; i++) {
                    uint64_t sent = s_sent_ns(b->events[i]);
                    unsigned long k = atomic_fetch_add(&c->n_lat, 1);
                    if (sent && k < LAT_MAX) {
                        c->lat[k] = (double)(now - sent) * 1e-9;
                    }
                }
            }
            atomic_fetch_add(&c->events, b->n_events);
            atomic_store(&c->last_ns, now);
            vexfs__v1__event_batch__free_unpacked(b, NULL);
        }
        zmsg_destroy(&m);
    }
    zsock_destroy(&pull);
    return NULL;
}

/* ---- the producer ---------------------------------------------------------------------- */

static vx_link_t *
s_producer(const struct pipeline *p, vx_metrics_t *m)
{
    char err[512];
    struct vx_link_config lc = {.ingest_endpoint = p->ingest, .ack_endpoint = p->acked_ep,
                                .ack_window_batches = 64, .ack_timeout_ms = 5000,
                                .buffer_max_batches = 1024, .retry_interval_ms = 1};
    vx_link_t *l = vx_link_new(&lc, vt_socks(false), "bench_producer", "dropped", m, err,
                               sizeof err);
    if (!l) {
        fprintf(stderr, "bench: producer link: %s\n", err);
    }
    return l;
}

static void
s_put(vx_link_t *l, uint64_t first, bool stamp)
{
    vx_event_t e[BATCH];
    vx_event_t *ptrs[BATCH];
    Vexfs__V1__Event__ContentEntry ce[BATCH][2];
    Vexfs__V1__Event__ContentEntry *cep[BATCH][2];
    char n[BATCH][24], t[24], path[BATCH][48];
    snprintf(t, sizeof t, "%llu", (unsigned long long)vx_mono_ns());
    for (int j = 0; j < BATCH; j++) {
        vexfs__v1__event__init(&e[j]);
        e[j].type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE;
        e[j].source = VEXFS__V1__BOUNDARY__FUSE;
        snprintf(path[j], sizeof path[j], "/srv/bench/f%d", j);
        e[j].path = path[j];
        snprintf(n[j], sizeof n[j], "%llu", (unsigned long long)(first + (uint64_t)j));
        for (int k = 0; k < 2; k++) {
            vexfs__v1__event__content_entry__init(&ce[j][k]);
            cep[j][k] = &ce[j][k];
        }
        ce[j][0].key = (char *)"n";
        ce[j][0].value = n[j];
        ce[j][1].key = (char *)"t";
        ce[j][1].value = t;
        e[j].content = cep[j];
        e[j].n_content = stamp ? 2 : 1;
        ptrs[j] = &e[j];
    }
    vx_link_put(l, ptrs, BATCH, "bench-producer");
}

static void
s_pump(vx_link_t *l, long ms)
{
    vx_link_pump(l, vx_mono_ns());
    zmq_pollitem_t it[2];
    size_t k = vx_link_pollitems(l, it);
    zmq_poll(it, (int)k, ms);
    vx_link_pump(l, vx_mono_ns());
}

/* Events/s from the first put to the last arrival; NAN when not everything arrived. */
static double
s_throughput(const struct pipeline *p, uint64_t n, uint64_t *seq)
{
    vx_metrics_t *m = vx_metrics_new();
    vx_link_t *l = s_producer(p, m);
    struct consumer c = {.acked = p->boundary_acked};
    snprintf(c.endpoint, sizeof c.endpoint, "%s", p->boundary);
    pthread_create(&c.thread, NULL, s_consume, &c);
    vt_sleep_ms(300); /* the consumer connects */
    uint64_t start = vx_mono_ns(), put = 0;
    uint64_t deadline = start + 120 * VX_NS_PER_S;
    while (atomic_load(&c.events) < n && vx_mono_ns() < deadline) {
        while (put < n && vx_link_room(l) > 0) {
            s_put(l, *seq, false);
            *seq += BATCH;
            put += BATCH;
        }
        s_pump(l, 1);
    }
    double r = atomic_load(&c.events) >= n
                   ? (double)n / ((double)(atomic_load(&c.last_ns) - start) * 1e-9)
                   : NAN;
    atomic_store(&c.stop, true);
    pthread_join(c.thread, NULL);
    vx_link_destroy(&l);
    vx_metrics_destroy(&m);
    return r;
}

static int
cb_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* A paced stream at RATE for RATE_SECONDS: p50 and p99 of the events' latency (seconds);
 * returns false when not every event arrived. */
static bool
s_latency(const struct pipeline *p, uint64_t *seq, double *p50, double *p99)
{
    vx_metrics_t *m = vx_metrics_new();
    vx_link_t *l = s_producer(p, m);
    struct consumer c = {.record = true, .acked = p->boundary_acked};
    c.lat = calloc(LAT_MAX, sizeof *c.lat);
    snprintf(c.endpoint, sizeof c.endpoint, "%s", p->boundary);
    pthread_create(&c.thread, NULL, s_consume, &c);
    vt_sleep_ms(300);
    uint64_t total = (uint64_t)RATE * RATE_SECONDS;
    uint64_t start = vx_mono_ns(), put = 0;
    uint64_t period = VX_NS_PER_S / (RATE / BATCH);
    while (put < total) {
        uint64_t due = start + (put / BATCH) * period;
        uint64_t now = vx_mono_ns();
        if (now >= due && vx_link_room(l) > 0) {
            s_put(l, *seq, true);
            *seq += BATCH;
            put += BATCH;
            vx_link_pump(l, vx_mono_ns());
            continue;
        }
        long wait = now >= due ? 1 : (long)((due - now) / VX_NS_PER_MS);
        s_pump(l, wait);
    }
    uint64_t end = vx_mono_ns() + 30 * VX_NS_PER_S;
    while (atomic_load(&c.events) < total && vx_mono_ns() < end) {
        s_pump(l, 5);
    }
    bool all = atomic_load(&c.events) >= total;
    atomic_store(&c.stop, true);
    pthread_join(c.thread, NULL);
    size_t k = atomic_load(&c.n_lat) < LAT_MAX ? atomic_load(&c.n_lat) : LAT_MAX;
    qsort(c.lat, k, sizeof *c.lat, cb_cmp);
    *p50 = k ? c.lat[k / 2] : NAN;
    *p99 = k ? c.lat[(size_t)((double)k * 0.99)] : NAN;
    free(c.lat);
    vx_link_destroy(&l);
    vx_metrics_destroy(&m);
    return all;
}

static void
s_stats(double *v, int n, double *med, double *lo, double *hi)
{
    qsort(v, (size_t)n, sizeof *v, cb_cmp);
    *med = v[n / 2];
    *lo = v[0];
    *hi = v[n - 1];
}

int
main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 300000;
    n -= n % BATCH;
    if (n == 0) {
        fprintf(stderr, "usage: bench_pipeline [EVENTS >= %d]\n", BATCH);
        return 2;
    }
    zsys_handler_set(NULL);
    signal(SIGPIPE, SIG_IGN);
    const char *today_bin = getenv("VX_PIPELINE_TODAY_BIN_DIR");
    s_no_state = getenv("VX_PIPELINE_NO_STATE") && atoi(getenv("VX_PIPELINE_NO_STATE")) == 1;
    bool bnd = getenv("VX_PIPELINE_BOUNDARY_ACKED") &&
               atoi(getenv("VX_PIPELINE_BOUNDARY_ACKED")) == 1;
    struct pipeline pl[2] = {
        {.acked = bnd, .bin_dir = !bnd && today_bin && *today_bin ? today_bin : vt_bin_dir()},
        {.acked = true, .boundary_acked = bnd, .bin_dir = vt_bin_dir()},
    };
    const char *names[2] = {"today (PUSH/PULL hop)", "acknowledged hops"};
    if (bnd) {
        names[0] = "plain boundary";
        names[1] = "acknowledged boundary";
    }
    double tput[2][REPS], p50[2][REPS], p99[2][REPS];
    bool ok = true;
    printf("bench_pipeline: producer -> propagation -> routing -> boundary, %llu events per "
           "throughput run, %d events/s for %d s per latency run; today's daemons from %s\n",
           (unsigned long long)n, RATE, RATE_SECONDS, pl[0].bin_dir);
    for (int rep = 0; rep < REPS; rep++) {
        for (int k = 0; k < 2; k++) {
            struct pipeline *p = &pl[k];
            uint64_t seq = 0;
            if (s_start(p) < 0) {
                s_stop(p);
                return 1;
            }
            tput[k][rep] = s_throughput(p, n, &seq);
            bool all = s_latency(p, &seq, &p50[k][rep], &p99[k][rep]);
            s_stop(p);
            if (isnan(tput[k][rep]) || !all) {
                fprintf(stderr, "bench: %s run %d: not every event arrived (see %s)\n",
                        names[k], rep + 1, p->dir);
                ok = false;
            }
            printf("  run %d %-24s %10.0f events/s   p50 %.3f ms  p99 %.3f ms\n", rep + 1,
                   names[k], tput[k][rep], p50[k][rep] * 1e3, p99[k][rep] * 1e3);
            fflush(stdout);
        }
    }
    double tm[2], tl[2], th[2], pm[2], pl99[2], ph[2], m50[2], l50[2], h50[2];
    for (int k = 0; k < 2; k++) {
        s_stats(tput[k], REPS, &tm[k], &tl[k], &th[k]);
        s_stats(p99[k], REPS, &pm[k], &pl99[k], &ph[k]);
        s_stats(p50[k], REPS, &m50[k], &l50[k], &h50[k]);
        printf("%-24s throughput median %.0f events/s (min %.0f, max %.0f); at %d events/s "
               "p50 %.3f ms, p99 median %.3f ms (min %.3f, max %.3f)\n",
               names[k], tm[k], tl[k], th[k], RATE, m50[k] * 1e3, pm[k] * 1e3, pl99[k] * 1e3,
               ph[k] * 1e3);
    }
    double ratio = tm[1] / tm[0];
    printf("%s: throughput %.2f (target >= 0.80: %s); p99 at %d events/s "
           "%.3f ms vs %.3f ms (target < 5 ms: %s)\n",
           bnd ? "acknowledged boundary / plain boundary" : "acknowledged / today", ratio,
           ratio >= 0.8 ? "met" : "NOT met", RATE, pm[1] * 1e3, pm[0] * 1e3,
           pm[1] < 0.005 ? "met" : "NOT met");
    return ok ? 0 : 1;
}
