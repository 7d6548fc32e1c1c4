/* SPDX-License-Identifier: Apache-2.0 */
/* Throughput of a program emitting through libvexfs into the real vexfs-propagation over
 * loopback, acknowledged: events built as C structs, validated and packed by the library,
 * batched, sent over propagation's acknowledged ingest (DEALER to its ROUTER, a window of
 * unacknowledged batches, resends on timeout), published by propagation to a PULL receiver
 * here. Events per second from the first emit to the last receipt, for:
 *   - one event per vexfs_client_emit call (the library batches them itself);
 *   - vexfs_client_emit_batch of 100 events per call;
 * and, in the same run, their peer: the same events as pre-packed batches of 100 PUSHed
 * straight into propagation's ingest (no validation or packing in the sender, no
 * acknowledgements) — what propagation takes at most on this machine.
 * Every link is secured as in production: propagation runs with the test support's key set and
 * certificates (CURVE on every ZeroMQ socket, HTTPS), the library emits with CURVE as the
 * identity "ctl", and this program's own sockets are opened through the suite's factory
 * (vt_sock_ex, CURVE).
 * Usage: bench_client [EVENTS] (default 300,000 per run); programs from $VX_BIN_DIR. */
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

#include "vexfs/client.h"
#include "vx_clock.h"
#include "vx_event.h"
#include "vx_test.h"
#include "vx_wire.h"

#define BATCH 100

static uint64_t s_serial; /* every event of every run has its own path: dedup keeps them all */
static pid_t s_prop;      /* stopped at exit, also when a run fails */

static void
cb_stop_propagation(void)
{
    if (s_prop > 0) {
        vt_stop(s_prop, SIGTERM, 30000);
        s_prop = 0;
    }
}

/* ---- receiver: counts the events of propagation's output ----------------------------------- */

struct receiver {
    char endpoint[128];
    uint64_t expect, got, last_ns;
    atomic_bool ready;
    pthread_t thread;
};

static void *
s_receiver_main(void *arg)
{
    struct receiver *r = arg;
    zsock_t *pull = vt_sock_ex(&(struct vt_sock_opts){.type = ZMQ_PULL, .endpoint = r->endpoint,
                                                      .hwm = 10000, .rcvtimeo_ms = 10000});
    atomic_store(&r->ready, true);
    while (pull != NULL && r->got < r->expect) {
        struct vx_wire_msg m;
        if (vx_wire_recv(pull, &m, 0) < 0) {
            break;
        }
        size_t n = 0;
        vx_wire_event_spans(zmq_msg_data(&m.body), zmq_msg_size(&m.body), NULL, 0, &n);
        r->got += n;
        r->last_ns = vx_mono_ns();
        vx_wire_msg_fini(&m);
    }
    zsock_destroy(&pull);
    return NULL;
}

static void
s_receiver_start(struct receiver *r, const char *endpoint, uint64_t expect)
{
    memset(r, 0, sizeof *r);
    snprintf(r->endpoint, sizeof r->endpoint, "%s", endpoint);
    r->expect = expect;
    pthread_create(&r->thread, NULL, s_receiver_main, r);
    while (!atomic_load(&r->ready)) {
        usleep(1000);
    }
    usleep(100 * 1000); /* let the connection come up before the clock starts */
}

static double
s_rate(struct receiver *r, uint64_t t0, const char *what)
{
    pthread_join(r->thread, NULL);
    if (r->got < r->expect) {
        fprintf(stderr, "bench: %s: only %llu of %llu events arrived\n", what,
                (unsigned long long)r->got, (unsigned long long)r->expect);
        return NAN;
    }
    return (double)r->expect / ((double)(r->last_ns - t0) / 1e9);
}

/* ---- the events: one shape for the three senders ------------------------------------------ */

struct ev {
    struct vexfs_event e;
    struct vexfs_kv kv[2];
    char path[64], n[24];
};

static void
s_ev(struct ev *x)
{
    uint64_t i = ++s_serial;
    struct vexfs_event init = VEXFS_EVENT_INIT;
    x->e = init;
    snprintf(x->path, sizeof x->path, "/bench/client/%llu.dat", (unsigned long long)i);
    snprintf(x->n, sizeof x->n, "%llu", (unsigned long long)i);
    x->kv[0] = (struct vexfs_kv){"size", "4096"};
    x->kv[1] = (struct vexfs_kv){"n", x->n};
    x->e.type = "filesystem_write";
    x->e.source = "userspace_api";
    x->e.path = x->path;
    x->e.content = x->kv;
    x->e.n_content = 2;
}

/* ---- the measurements --------------------------------------------------------------------- */

static vexfs_client_t *
s_client(const char *acked)
{
    vexfs_config_t *cfg = vexfs_config_new();
    /* CURVE as "ctl" (authorized, and a producer of any source by propagation's policy). */
    vexfs_config_set(cfg, "security.keys_dir", vt_keys_dir());
    vexfs_config_set(cfg, "security.identity", "ctl");
    vexfs_config_set(cfg, "security.tls_dir", vt_tls_dir());
    vexfs_config_set(cfg, "ingest_endpoint", acked);
    vexfs_client_t *c = vexfs_client_new(cfg);
    vexfs_config_destroy(&cfg);
    if (!c) {
        fprintf(stderr, "bench: %s\n", vexfs_last_error());
        exit(1);
    }
    if (vexfs_client_connect(c) < 0) {
        fprintf(stderr, "bench: %s\n", vexfs_last_error());
        exit(1);
    }
    return c;
}

static double
s_run_library(const char *acked, const char *output, uint64_t n, bool batched)
{
    vexfs_client_t *c = s_client(acked);
    struct receiver r;
    s_receiver_start(&r, output, n);
    static struct ev evs[BATCH];
    static struct vexfs_event arr[BATCH];
    uint64_t t0 = vx_mono_ns();
    for (uint64_t i = 0; i < n;) {
        size_t k = batched ? (n - i < BATCH ? (size_t)(n - i) : BATCH) : 1;
        for (size_t j = 0; j < k; j++) {
            s_ev(&evs[j]);
            arr[j] = evs[j].e;
        }
        int rc = batched ? vexfs_client_emit_batch(c, arr, k, -1)
                         : vexfs_client_emit(c, &evs[0].e, -1);
        if (rc < 0) {
            fprintf(stderr, "bench: emit: %s\n", vexfs_last_error());
            exit(1);
        }
        i += k;
    }
    if (vexfs_client_flush(c, 60000) < 0) {
        fprintf(stderr, "bench: flush: %s\n", vexfs_last_error());
    }
    double rate = s_rate(&r, t0, batched ? "emit_batch" : "emit");
    vexfs_client_close(&c, 1000, NULL);
    return rate;
}

/* The peer: the same events packed beforehand into batches of 100, PUSHed into the ingest. */
static double
s_run_peer(const char *ingest, const char *output, uint64_t n)
{
    size_t nb = (size_t)((n + BATCH - 1) / BATCH);
    uint8_t **data = calloc(nb, sizeof *data);
    size_t *len = calloc(nb, sizeof *len);
    struct vx_batchbuf b = {0};
    for (size_t bi = 0; bi < nb; bi++) {
        for (size_t j = 0; j < BATCH && bi * BATCH + j < n; j++) {
            struct ev x;
            s_ev(&x);
            vx_event_t e;
            vexfs__v1__event__init(&e);
            Vexfs__V1__Event__ContentEntry ce[2], *cp[2] = {&ce[0], &ce[1]};
            for (int q = 0; q < 2; q++) {
                vexfs__v1__event__content_entry__init(&ce[q]);
                ce[q].key = (char *)x.kv[q].key;
                ce[q].value = (char *)x.kv[q].value;
            }
            e.type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE;
            e.source = VEXFS__V1__BOUNDARY__USERSPACE_API;
            e.path = x.path;
            e.n_content = 2;
            e.content = cp;
            uint8_t buf[512];
            size_t l = vexfs__v1__event__pack(&e, buf);
            vx_batchbuf_add(&b, buf, l, NULL, 0);
        }
        len[bi] = vx_batchbuf_seal(&b, "bench-peer", 10, 0);
        data[bi] = malloc(len[bi]);
        memcpy(data[bi], b.buf, len[bi]);
        vx_batchbuf_clear(&b);
    }
    vx_batchbuf_fini(&b);
    struct receiver r;
    s_receiver_start(&r, output, n);
    zsock_t *push = vt_sock_ex(&(struct vt_sock_opts){.type = ZMQ_PUSH, .endpoint = ingest,
                                                      .hwm = 1000});
    if (push == NULL) {
        exit(1);
    }
    usleep(100 * 1000);
    uint64_t t0 = vx_mono_ns();
    for (size_t bi = 0; bi < nb; bi++) {
        vx_wire_send_packed(push, VX_WIRE_TOPIC, data[bi], len[bi], 0);
    }
    double rate = s_rate(&r, t0, "direct PUSH");
    zsock_destroy(&push);
    for (size_t bi = 0; bi < nb; bi++) {
        free(data[bi]);
    }
    free(data);
    free(len);
    return rate;
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
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 300000;
    if (n == 0) {
        fprintf(stderr, "usage: bench_client [EVENTS]\n");
        return 2;
    }
    zsys_handler_set(NULL);
    signal(SIGPIPE, SIG_IGN);
    char *dir = vt_tmpdir();
    uint16_t rest = vt_free_port();
    char ingest[64], acked[64], output[64], cfg[300], log[300], text[1024], bin[512];
    snprintf(ingest, sizeof ingest, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    snprintf(acked, sizeof acked, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    snprintf(output, sizeof output, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    snprintf(cfg, sizeof cfg, "%s/propagation.yaml", dir);
    snprintf(log, sizeof log, "%s/propagation.log", dir);
    snprintf(text, sizeof text,
             "event_propagation:\n  rest_port: %u\n  ingest_endpoint: %s\n"
             "  ingest_acked_endpoint: %s\n  output_endpoint: %s\n  tap_endpoint: \"\"\n"
             "  kafka_brokers: \"\"\nlogging:\n  level: warn\n",
             (unsigned)rest, ingest, acked, output);
    vt_write_file(cfg, text);
    snprintf(bin, sizeof bin, "%s/vexfs-propagation", vt_bin_dir());
    char *pargv[] = {bin, (char *)"--config", cfg, NULL};
    s_prop = vt_spawn(pargv, NULL, log);
    atexit(cb_stop_propagation);
    if (s_prop < 0 || !vt_wait_ready(rest, 20000)) {
        fprintf(stderr, "bench: propagation did not start; see %s\n", log);
        return 1;
    }
    enum { reps = 3 };
    double one[reps], batch[reps], peer[reps];
    printf("== client library: program -> libvexfs (acknowledged ingest) -> vexfs-propagation -> "
           "PULL, %llu events per run, CURVE on every link\n",
           (unsigned long long)n);
    for (int i = 0; i < reps; i++) {
        one[i] = s_run_library(acked, output, n, false);
        batch[i] = s_run_library(acked, output, n, true);
        peer[i] = s_run_peer(ingest, output, n);
        printf("  run %d: emit %.0f ev/s, emit_batch(100) %.0f ev/s, direct PUSH %.0f ev/s\n",
               i + 1, one[i], batch[i], peer[i]);
    }
    qsort(one, reps, sizeof(double), cb_cmp);
    qsort(batch, reps, sizeof(double), cb_cmp);
    qsort(peer, reps, sizeof(double), cb_cmp);
    printf("throughput  libvexfs emit, one event per call, acknowledged %.0f events/s (median of "
           "%d; min %.0f, max %.0f)\n",
           one[1], reps, one[0], one[2]);
    printf("throughput  libvexfs emit_batch, 100 events per call, acknowledged %.0f events/s "
           "(median; min %.0f, max %.0f)\n",
           batch[1], batch[0], batch[2]);
    printf("throughput  pre-packed batches of %d PUSHed into propagation %.0f events/s (median; "
           "min %.0f, max %.0f)\n",
           BATCH, peer[1], peer[0], peer[2]);
    printf("ratio       emit / direct PUSH = %.2f\n", one[1] / peer[1]);
    printf("ratio       emit_batch / direct PUSH = %.2f\n", batch[1] / peer[1]);
    int st = vt_stop(s_prop, SIGTERM, 30000);
    s_prop = 0;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench: propagation exit status %d; see %s\n", st, log);
    }
    free(dir);
    return 0;
}
