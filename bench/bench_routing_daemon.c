/* SPDX-License-Identifier: Apache-2.0 */
/* End-to-end throughput of the real vexfs-routing process over loopback: a PUSH socket plays
 * propagation's output (routing's input connects to it), 100 prefix rules send each event to
 * one of two boundaries, and a PULL consumer on each boundary counts what arrives. Beside it,
 * in the same run, raw ZeroMQ PUSH/PULL of the same packed batches to two consumers: the
 * floor under any daemon on this link. Median of 3 runs with min and max, the ratio, and
 * whether the 1,000,000 events/s target is met.
 * Every link is secured as in production: routing runs with the test support's key set and
 * certificates (CURVE on every ZeroMQ link, HTTPS), this program's sockets are opened through
 * the suite's factory (vt_sock_ex, CURVE), so the raw peer is a CURVE link too.
 * Usage: bench_routing_daemon [EVENTS] (default 2,000,000); programs from $VX_BIN_DIR. */
#include <czmq.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vx_clock.h"
#include "vx_test.h"
#include "vx_wire.h"

#define BATCH 100
#define N_TEMPLATES 64 /* distinct packed batches; template t holds paths of project t */
#define N_RULES 100
#define REPS 3
#define TOKEN "bench-token"

struct packed {
    unsigned char *data;
    size_t len;
};

static struct packed s_batches[N_TEMPLATES];

/* Events as propagation publishes them: a path, content, metadata, tenant, priority. */
static void
s_make_batches(void)
{
    static char paths[BATCH][64];
    for (int t = 0; t < N_TEMPLATES; t++) {
        vx_event_t ev[BATCH];
        vx_event_t *ptrs[BATCH];
        Vexfs__V1__Event__ContentEntry c1[BATCH];
        Vexfs__V1__Event__ContentEntry *cp[BATCH][1];
        Vexfs__V1__Event__MetadataEntry m1[BATCH];
        Vexfs__V1__Event__MetadataEntry *mp[BATCH][1];
        for (int k = 0; k < BATCH; k++) {
            vx_event_t init = VEXFS__V1__EVENT__INIT;
            Vexfs__V1__Event__ContentEntry ci = VEXFS__V1__EVENT__CONTENT_ENTRY__INIT;
            Vexfs__V1__Event__MetadataEntry mi = VEXFS__V1__EVENT__METADATA_ENTRY__INIT;
            ev[k] = init;
            c1[k] = ci;
            m1[k] = mi;
            snprintf(paths[k], sizeof paths[k], "/srv/data/project-%d/file-%d.txt", t, k);
            c1[k].key = (char *)"size";
            c1[k].value = (char *)"4096";
            cp[k][0] = &c1[k];
            m1[k].key = (char *)"user_id";
            m1[k].value = (char *)"1001";
            mp[k][0] = &m1[k];
            ev[k].type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE;
            ev[k].source = VEXFS__V1__BOUNDARY__FUSE;
            ev[k].path = paths[k];
            ev[k].n_content = 1;
            ev[k].content = cp[k];
            ev[k].n_metadata = 1;
            ev[k].metadata = mp[k];
            ev[k].tenant = (char *)"acme";
            ev[k].priority = 5;
            ptrs[k] = &ev[k];
        }
        vx_batch_t b = VEXFS__V1__EVENT_BATCH__INIT;
        b.events = ptrs;
        b.n_events = BATCH;
        s_batches[t].len = vexfs__v1__event_batch__get_packed_size(&b);
        s_batches[t].data = malloc(s_batches[t].len);
        vexfs__v1__event_batch__pack(&b, s_batches[t].data);
    }
}

/* Counts the events of a packed EventBatch by walking its top-level fields, without decoding
 * them: the receiver must stay cheaper than the daemon it measures. */
static uint64_t
s_count_events(const void *data, size_t len)
{
    size_t n = 0;
    return vx_wire_event_spans(data, len, NULL, 0, &n) == 0 ? n : 0;
}

/* ---- consumers -------------------------------------------------------------------------- */

/* One run's consumers share the total; each stops once all events arrived or its socket was
 * quiet for 10 s. */
struct run {
    uint64_t expect;
    atomic_uint_fast64_t got;
    atomic_uint_fast64_t last_ns;
};

struct consumer {
    char endpoint[64];
    struct run *run;
    atomic_bool ready;
    pthread_t thread;
};

static void *
s_consumer_main(void *arg)
{
    struct consumer *c = arg;
    zsock_t *pull = vt_sock_ex(&(struct vt_sock_opts){.type = ZMQ_PULL, .endpoint = c->endpoint,
                                                      .hwm = 10000, .rcvtimeo_ms = 10000});
    atomic_store(&c->ready, true);
    while (pull != NULL && atomic_load(&c->run->got) < c->run->expect) {
        struct vx_wire_msg m;
        if (vx_wire_recv(pull, &m, 0) < 0) {
            break;
        }
        uint64_t n = s_count_events(zmq_msg_data(&m.body), zmq_msg_size(&m.body));
        atomic_fetch_add(&c->run->got, n);
        atomic_store(&c->run->last_ns, vx_mono_ns());
        vx_wire_msg_fini(&m);
    }
    zsock_destroy(&pull);
    return NULL;
}

/* Sends n events from a bound PUSH at `bind` to two consumers on `out[0]`, `out[1]`; returns
 * events per second from the first send to the last receipt, NAN when some were lost. The
 * PUSH is bound before the run so the daemon's input (or the raw consumers) connect to it. */
static double
s_run(zsock_t *push, const char *out0, const char *out1, uint64_t n)
{
    struct run run = {.expect = n};
    atomic_init(&run.got, 0);
    atomic_init(&run.last_ns, 0);
    struct consumer c[2];
    const char *outs[2] = {out0, out1};
    for (int i = 0; i < 2; i++) {
        snprintf(c[i].endpoint, sizeof c[i].endpoint, "%s", outs[i]);
        c[i].run = &run;
        atomic_init(&c[i].ready, false);
        pthread_create(&c[i].thread, NULL, s_consumer_main, &c[i]);
    }
    for (int i = 0; i < 2; i++) {
        while (!atomic_load(&c[i].ready)) {
            usleep(1000);
        }
    }
    usleep(200 * 1000); /* both connections established before the clock starts */
    uint64_t t0 = vx_mono_ns();
    for (uint64_t sent = 0, i = 0; sent < n; sent += BATCH, i++) {
        struct packed *p = &s_batches[i % N_TEMPLATES];
        vx_wire_send_packed(push, "events", p->data, p->len, 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(c[i].thread, NULL);
    }
    uint64_t got = atomic_load(&run.got);
    if (got < n) {
        fprintf(stderr, "bench: only %llu of %llu events arrived\n", (unsigned long long)got,
                (unsigned long long)n);
        return NAN;
    }
    return (double)n / ((double)(atomic_load(&run.last_ns) - t0) / 1e9);
}

/* ---- the daemon -------------------------------------------------------------------------- */

struct daemon {
    pid_t pid;
    uint16_t rest;
    char input[64], analytics[64], automation[64];
    char dir[256];
};

static int
s_daemon_start(struct daemon *d)
{
    char *dir = vt_tmpdir();
    snprintf(d->dir, sizeof d->dir, "%s", dir);
    free(dir);
    d->rest = vt_free_port();
    snprintf(d->analytics, sizeof d->analytics, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    snprintf(d->automation, sizeof d->automation, "tcp://127.0.0.1:%u",
             (unsigned)vt_free_port());
    char cfg[300], text[2048], log[300], tok[300];
    snprintf(cfg, sizeof cfg, "%s/routing.yaml", d->dir);
    snprintf(log, sizeof log, "%s/routing.log", d->dir);
    snprintf(tok, sizeof tok, "%s/token", d->dir);
    vt_write_file(tok, TOKEN "\n");
    /* Boundaries not under test have no endpoint; outputs batch 100 events as propagation
     * does, so both sides move the same batch size. */
    snprintf(text, sizeof text,
             "event_routing:\n  rest_port: %u\n  input_endpoint: %s\n"
             "  output_analytics: %s\n  output_automation: %s\n  output_coordinator: \"\"\n"
             "  output_graph: \"\"\n  output_vector: \"\"\n  queue_hwm: 1000\n"
             "  batch_max_events: %d\n  producer_id: bench-routing\n"
             "admin:\n  token_file: %s\nlogging:\n  level: warn\n",
             (unsigned)d->rest, d->input, d->analytics, d->automation, BATCH, tok);
    vt_write_file(cfg, text);
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-routing", vt_bin_dir());
    char *argv[] = {bin, (char *)"--config", cfg, NULL};
    d->pid = vt_spawn(argv, NULL, log);
    if (!vt_wait_ready(d->rest, 20000)) {
        fprintf(stderr, "bench: routing did not start; see %s\n", log);
        return -1;
    }
    /* 100 rules, one per project prefix: even projects to analytics, odd to automation, so
     * every event matches exactly one rule and reaches exactly one boundary. */
    json_t *rules = json_array();
    for (int i = 0; i < N_RULES; i++) {
        char id[16], prefix[64];
        snprintf(id, sizeof id, "project-%d", i);
        snprintf(prefix, sizeof prefix, "/srv/data/project-%d/", i);
        json_array_append_new(
            rules, json_pack("{s:s, s:i, s:{s:[{s:s, s:s}]}, s:[s]}", "id", id, "priority",
                             N_RULES - i, "conditions", "patterns", "kind", "prefix", "pattern",
                             prefix, "target_boundaries", i % 2 ? "automation" : "analytics"));
    }
    json_t *doc = json_pack("{s:o}", "rules", rules);
    char *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    struct vt_http_result r;
    int rc = vt_http("PUT", d->rest, "/v1/rules", body, strlen(body), TOKEN, &r);
    free(body);
    if (rc != 0 || r.status != 200) {
        fprintf(stderr, "bench: PUT /v1/rules answered %ld: %s\n", r.status,
                r.body ? r.body : "");
        vt_http_result_fini(&r);
        return -1;
    }
    vt_http_result_fini(&r);
    return 0;
}

static int
cb_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 2000000;
    n -= n % BATCH;
    if (n == 0) {
        fprintf(stderr, "usage: bench_routing_daemon [EVENTS >= %d]\n", BATCH);
        return 2;
    }
    zsys_handler_set(NULL);
    signal(SIGPIPE, SIG_IGN);
    s_make_batches();
    printf("== routing: PUSH -> vexfs-routing (%d prefix rules) -> 2 boundaries over loopback, "
           "batches of %d, %llu events per run, CURVE on every link (the raw peer's too)\n",
           N_RULES, BATCH, (unsigned long long)n);

    /* The sender's PUSH stays bound for the daemon's lifetime: routing connects its input. */
    int port = -1;
    zsock_t *push = vt_sock_ex(&(struct vt_sock_opts){.type = ZMQ_PUSH,
                                                      .endpoint = "tcp://127.0.0.1:*",
                                                      .bind = true, .hwm = 1000, .port = &port});
    struct daemon d = {0};
    snprintf(d.input, sizeof d.input, "tcp://127.0.0.1:%d", port);
    if (push == NULL || port < 0 || s_daemon_start(&d) < 0) {
        if (d.pid > 0) {
            vt_stop(d.pid, SIGTERM, 30000);
        }
        zsock_destroy(&push);
        return 1;
    }

    double raw[REPS], rt[REPS];
    for (int i = 0; i < REPS; i++) {
        /* Raw peer: a fresh bound PUSH with the two consumers connected straight to it. */
        int rport = -1;
        zsock_t *rpush = vt_sock_ex(&(struct vt_sock_opts){.type = ZMQ_PUSH,
                                                           .endpoint = "tcp://127.0.0.1:*",
                                                           .bind = true, .hwm = 1000,
                                                           .port = &rport});
        char rep[64];
        snprintf(rep, sizeof rep, "tcp://127.0.0.1:%d", rport);
        raw[i] = rpush != NULL ? s_run(rpush, rep, rep, n) : NAN;
        zsock_destroy(&rpush);
        rt[i] = s_run(push, d.analytics, d.automation, n);
        printf("  run %d: raw ZeroMQ %.0f ev/s, routing %.0f ev/s\n", i + 1, raw[i], rt[i]);
        fflush(stdout);
    }
    vt_stop(d.pid, SIGTERM, 30000);
    zsock_destroy(&push);
    qsort(raw, REPS, sizeof(double), cb_cmp);
    qsort(rt, REPS, sizeof(double), cb_cmp);
    printf("throughput  routing %.0f events/s (median of %d; min %.0f, max %.0f)\n", rt[1], REPS,
           rt[0], rt[2]);
    printf("throughput  raw ZeroMQ PUSH/PULL (CURVE) %.0f events/s (median; min %.0f, max %.0f)\n",
           raw[1], raw[0], raw[2]);
    printf("ratio       routing / raw ZeroMQ = %.2f; target >= 1,000,000 events/s: %s\n",
           rt[1] / raw[1], rt[1] >= 1e6 ? "met" : "NOT met");
    return 0;
}
