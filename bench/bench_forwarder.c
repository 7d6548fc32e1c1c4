/* SPDX-License-Identifier: Apache-2.0 */
/* Throughput of the real vexfs-forwarder in front of the real vexfs-propagation over loopback:
 * kernel records written into a FIFO the forwarder reads (its event_forwarder.device) ->
 * forwarder (parse, translate, batch, send over the acknowledged ingest: DEALER to
 * propagation's ROUTER, a window of unacknowledged batches) -> propagation (validate, dedup,
 * stamp, publish, acknowledge) -> a PULL receiver here. Events per second from the first write to the last receipt.
 * Beside it, in the same run, the same forwarder over plain PUSH, and its peer: the same number of events as pre-packed batches of
 * 100 (the same translation, done beforehand) PUSHed straight into propagation's ingest.
 * Records are made from the recorded ones (tests/forwarder/data/kernel_v1.bin), each with its
 * own path and kernel sequence, so propagation's deduplication keeps every one.
 * Every link is secured as in production: the daemons run with the test support's key set and
 * certificates (CURVE on every ZeroMQ link, HTTPS), and this program's sockets are opened
 * through the suite's factory (vt_sock_ex, CURVE as the identity "ctl").
 * Usage: bench_forwarder [EVENTS] (default 1,000,000); programs from $VX_BIN_DIR. */
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fwd_translate.h"
#include "vx_arena.h"
#include "vx_clock.h"
#include "vx_test.h"
#include "vx_wire.h"

#define S_DATA "tests/forwarder/data/kernel_v1.bin"
#define BATCH 100
#define MAX_TEMPLATES 64

/* ---- records ---------------------------------------------------------------------------- */

struct tmpl {
    struct vexfs_event_record h;
    char path[256], path2[256];
};

static struct tmpl s_tmpl[MAX_TEMPLATES];
static size_t s_n_tmpl;
static uint64_t s_serial; /* distinct paths, across runs and between the two sides */
static uint64_t s_kseq[2]; /* each forwarder's kernel sequence: contiguous, never restarts */

static int
s_load_templates(void)
{
    FILE *in = fopen(S_DATA, "rb");
    if (!in) {
        fprintf(stderr, "bench: cannot open %s (run from the project root)\n", S_DATA);
        return -1;
    }
    static uint8_t buf[1 << 16];
    size_t len = fread(buf, 1, sizeof buf, in);
    fclose(in);
    for (size_t off = 0; off < len && s_n_tmpl < MAX_TEMPLATES;) {
        struct fwd_record r;
        size_t used = 0;
        const char *reason = NULL;
        if (fwd_record_parse(buf + off, len - off, &r, &used, &reason) == 0 &&
            strlen(r.path) < 200 && (!r.path2 || strlen(r.path2) < 200)) {
            struct tmpl *t = &s_tmpl[s_n_tmpl++];
            t->h = r.h;
            snprintf(t->path, sizeof t->path, "%s", r.path);
            snprintf(t->path2, sizeof t->path2, "%s", r.path2 ? r.path2 : "");
        }
        off += used ? used : 1;
    }
    if (!s_n_tmpl) {
        fprintf(stderr, "bench: no records in %s\n", S_DATA);
        return -1;
    }
    return 0;
}

/* Appends the record for event i (template i % templates, a fresh serial in its paths) to
 * out; returns its length. */
static size_t
s_make_record(uint8_t *out, uint64_t i, uint64_t kseq)
{
    const struct tmpl *t = &s_tmpl[i % s_n_tmpl];
    uint64_t serial = ++s_serial;
    char p1[300], p2[300] = "";
    int l1 = snprintf(p1, sizeof p1, "/bench/%010llu%s", (unsigned long long)serial, t->path);
    int l2 = 0;
    if (t->path2[0]) {
        l2 = snprintf(p2, sizeof p2, "/bench/%010llu%s", (unsigned long long)serial, t->path2);
    }
    struct vexfs_event_record h = t->h;
    h.header_len = sizeof h;
    h.path_len = (__u16)l1;
    h.path2_len = (__u16)l2;
    h.seq = kseq;
    size_t len = sizeof h + (size_t)l1 + 1 + (size_t)l2 + 1;
    len = (len + VEXFS_EV_ALIGN - 1) / VEXFS_EV_ALIGN * VEXFS_EV_ALIGN;
    h.record_len = (__u32)len;
    memset(out, 0, len);
    memcpy(out, &h, sizeof h);
    memcpy(out + sizeof h, p1, (size_t)l1);
    memcpy(out + sizeof h + (size_t)l1 + 1, p2, (size_t)l2);
    return len;
}

/* n records for the forwarder, back to back, as the device would hand them out. */
static uint8_t *
s_make_stream(uint64_t n, size_t *len, uint64_t *kseq)
{
    uint8_t *buf = malloc(n * 1024);
    size_t off = 0;
    for (uint64_t i = 0; i < n; i++) {
        off += s_make_record(buf + off, i, ++*kseq);
    }
    *len = off;
    return buf;
}

struct packed {
    uint8_t *data;
    size_t len;
};

/* The peer's input: n events from records like the forwarder's (own serials), translated by
 * the forwarder's own code and packed into batches of BATCH before the clock starts. */
static struct packed *
s_make_packed(uint64_t n, size_t *n_batches)
{
    static uint64_t batch_seq, event_seq;
    size_t nb = (size_t)((n + BATCH - 1) / BATCH);
    struct packed *out = calloc(nb, sizeof *out);
    vx_arena_t *a = vx_arena_new(1 << 20, 0);
    static uint8_t rec[VEXFS_EV_RECORD_MAX];
    for (size_t b = 0; b < nb; b++) {
        vx_event_t *ev[BATCH];
        size_t k = 0;
        for (; k < BATCH && b * BATCH + k < n; k++) {
            size_t len = s_make_record(rec, b * BATCH + k, b * BATCH + k + 1);
            struct fwd_record r;
            size_t used = 0;
            const char *reason = NULL;
            if (fwd_record_parse(rec, len, &r, &used, &reason) < 0 ||
                fwd_record_translate(&r, a, &ev[k], &reason) < 0) {
                fprintf(stderr, "bench: own record rejected: %s\n", reason ? reason : "?");
                exit(1);
            }
            ev[k]->producer_id = (char *)"bench-peer";
            ev[k]->sequence = ++event_seq;
        }
        vx_batch_t bt = VEXFS__V1__EVENT_BATCH__INIT;
        bt.events = ev;
        bt.n_events = k;
        bt.sender = (char *)"bench-peer";
        bt.batch_sequence = ++batch_seq;
        out[b].len = vexfs__v1__event_batch__get_packed_size(&bt);
        out[b].data = malloc(out[b].len);
        vexfs__v1__event_batch__pack(&bt, out[b].data);
        vx_arena_reset(a);
    }
    vx_arena_destroy(&a);
    *n_batches = nb;
    return out;
}

/* ---- receiver thread: counts events of propagation's output batches ---------------------- */

/* Counts the events of a packed EventBatch by walking its top-level fields, without decoding
 * them: the receiver must stay cheaper than the daemon it measures. */
static uint64_t
s_count_events(const void *data, size_t len)
{
    size_t n = 0;
    return vx_wire_event_spans(data, len, NULL, 0, &n) == 0 ? n : 0;
}

struct receiver {
    char endpoint[128];
    uint64_t expect_events;
    uint64_t got_events;
    uint64_t last_ns;
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
    while (pull != NULL && r->got_events < r->expect_events) {
        struct vx_wire_msg m;
        if (vx_wire_recv(pull, &m, 0) < 0) {
            break;
        }
        r->got_events += s_count_events(zmq_msg_data(&m.body), zmq_msg_size(&m.body));
        r->last_ns = vx_wall_ns();
        vx_wire_msg_fini(&m);
    }
    zsock_destroy(&pull);
    return NULL;
}

static void
s_receiver_start(struct receiver *r, const char *endpoint, uint64_t expect)
{
    snprintf(r->endpoint, sizeof r->endpoint, "%s", endpoint);
    r->expect_events = expect;
    r->got_events = 0;
    r->last_ns = 0;
    atomic_init(&r->ready, false);
    pthread_create(&r->thread, NULL, s_receiver_main, r);
    while (!atomic_load(&r->ready)) {
        usleep(1000);
    }
    usleep(100 * 1000); /* let the connection come up before the clock starts */
}

static double
s_rate(const struct receiver *r, uint64_t n, uint64_t t0, const char *what)
{
    if (r->got_events < n) {
        fprintf(stderr, "bench: %s: only %llu of %llu events arrived\n", what,
                (unsigned long long)r->got_events, (unsigned long long)n);
        return NAN;
    }
    return (double)n / ((double)(r->last_ns - t0) / 1e9);
}

/* ---- daemons ---------------------------------------------------------------------------- */

/* Two forwarders: [0] over the acknowledged ingest, [1] plain PUSH (the path before
 * acknowledgements), measured in the same run. */
struct daemons {
    pid_t prop, fwd[2];
    uint16_t prop_rest, fwd_rest[2];
    char ingest[64], acked[64], output[64];
    char fifo[2][300];
    char dir[256];
};

static int
s_daemons_start(struct daemons *d)
{
    char *dir = vt_tmpdir();
    snprintf(d->dir, sizeof d->dir, "%s", dir);
    free(dir);
    d->prop_rest = vt_free_port();
    snprintf(d->ingest, sizeof d->ingest, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    snprintf(d->acked, sizeof d->acked, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    snprintf(d->output, sizeof d->output, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    char cfg[300], text[2048], log[300], bin[512];

    snprintf(cfg, sizeof cfg, "%s/propagation.yaml", d->dir);
    snprintf(log, sizeof log, "%s/propagation.log", d->dir);
    snprintf(text, sizeof text,
             "event_propagation:\n  rest_port: %u\n  ingest_endpoint: %s\n"
             "  ingest_acked_endpoint: %s\n  output_endpoint: %s\n"
             "  tap_endpoint: \"\"\n  queue_hwm: 1000\n  dedup_window_ms: 1000\n"
             "  kafka_brokers: \"\"\nlogging:\n  level: warn\n",
             (unsigned)d->prop_rest, d->ingest, d->acked, d->output);
    vt_write_file(cfg, text);
    snprintf(bin, sizeof bin, "%s/vexfs-propagation", vt_bin_dir());
    char *pargv[] = {bin, (char *)"--config", cfg, NULL};
    d->prop = vt_spawn(pargv, NULL, log);
    if (d->prop < 0 || !vt_wait_ready(d->prop_rest, 20000)) {
        fprintf(stderr, "bench: propagation did not start; see %s\n", log);
        return -1;
    }

    for (int k = 0; k < 2; k++) {
        d->fwd_rest[k] = vt_free_port();
        snprintf(d->fifo[k], sizeof d->fifo[k], "%s/records%d.fifo", d->dir, k);
        if (mkfifo(d->fifo[k], 0600) < 0) {
            fprintf(stderr, "bench: mkfifo %s: %s\n", d->fifo[k], strerror(errno));
            return -1;
        }
        snprintf(cfg, sizeof cfg, "%s/forwarder%d.yaml", d->dir, k);
        snprintf(log, sizeof log, "%s/forwarder%d.log", d->dir, k);
        snprintf(text, sizeof text,
                 "event_forwarder:\n  device: %s\n  %s: %s\n  rest_port: %u\n"
                 "  producer_id: bench-forwarder-%d\nlogging:\n  level: warn\n",
                 d->fifo[k], k == 0 ? "ack_endpoint" : "ingest_endpoint",
                 k == 0 ? d->acked : d->ingest, (unsigned)d->fwd_rest[k], k);
        vt_write_file(cfg, text);
        snprintf(bin, sizeof bin, "%s/vexfs-forwarder", vt_bin_dir());
        char *fargv[] = {bin, (char *)"--config", cfg, NULL};
        d->fwd[k] = vt_spawn(fargv, NULL, log);
        if (d->fwd[k] < 0 || !vt_wait_ready(d->fwd_rest[k], 20000)) {
            fprintf(stderr, "bench: forwarder did not start; see %s\n", log);
            return -1;
        }
    }
    return 0;
}

static double
s_metric(uint16_t port, const char *series)
{
    return vt_metric(port, series);
}

/* ---- the two measurements --------------------------------------------------------------- */

static double
s_run_forwarder(const struct daemons *d, int k, uint64_t n)
{
    size_t len = 0;
    uint8_t *stream = s_make_stream(n, &len, &s_kseq[k]);
    struct receiver r;
    s_receiver_start(&r, d->output, n);
    /* The forwarder holds the FIFO open for reading, so this open does not block. */
    int fd = open(d->fifo[k], O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "bench: open %s: %s\n", d->fifo[k], strerror(errno));
        exit(1);
    }
    uint64_t t0 = vx_wall_ns();
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, stream + off, len - off);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            fprintf(stderr, "bench: write %s: %s\n", d->fifo[k], strerror(errno));
            break;
        }
        off += (size_t)w;
    }
    close(fd);
    pthread_join(r.thread, NULL);
    free(stream);
    return s_rate(&r, n, t0, k == 0 ? "forwarder (acknowledged)" : "forwarder (PUSH)");
}

static double
s_run_peer(const struct daemons *d, uint64_t n)
{
    size_t nb = 0;
    struct packed *batches = s_make_packed(n, &nb);
    struct receiver r;
    s_receiver_start(&r, d->output, n);
    zsock_t *push = vt_sock_ex(&(struct vt_sock_opts){.type = ZMQ_PUSH, .endpoint = d->ingest,
                                                      .hwm = 1000});
    usleep(100 * 1000);
    uint64_t t0 = vx_wall_ns();
    for (size_t b = 0; push != NULL && b < nb; b++) {
        vx_wire_send_packed(push, "events", batches[b].data, batches[b].len, 0);
    }
    pthread_join(r.thread, NULL);
    zsock_destroy(&push);
    for (size_t b = 0; b < nb; b++) {
        free(batches[b].data);
    }
    free(batches);
    return s_rate(&r, n, t0, "direct PUSH");
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
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    if (n == 0) {
        fprintf(stderr, "usage: bench_forwarder [EVENTS]\n");
        return 2;
    }
    zsys_handler_set(NULL);
    signal(SIGPIPE, SIG_IGN);
    if (s_load_templates() < 0) {
        return 1;
    }
    enum { reps = 3 };
    struct daemons d;
    if (s_daemons_start(&d) < 0) {
        return 1;
    }
    printf("== forwarder: FIFO of kernel records -> vexfs-forwarder -> vexfs-propagation -> PULL,"
           " %llu events per run (from %zu recorded records), CURVE on every link\n",
           (unsigned long long)n, s_n_tmpl);
    double fwd[reps], plain[reps], peer[reps];
    for (int i = 0; i < reps; i++) {
        fwd[i] = s_run_forwarder(&d, 0, n);
        plain[i] = s_run_forwarder(&d, 1, n);
        peer[i] = s_run_peer(&d, n);
        printf("  run %d: forwarder acknowledged %.0f ev/s, forwarder PUSH %.0f ev/s, direct PUSH "
               "into propagation %.0f ev/s\n",
               i + 1, fwd[i], plain[i], peer[i]);
    }
    qsort(fwd, reps, sizeof(double), cb_cmp);
    qsort(plain, reps, sizeof(double), cb_cmp);
    qsort(peer, reps, sizeof(double), cb_cmp);
    printf("throughput  forwarder -> propagation (acknowledged) %.0f events/s (median of %d; "
           "min %.0f, max %.0f)\n",
           fwd[1], reps, fwd[0], fwd[2]);
    printf("throughput  pre-packed batches of %d PUSHed into propagation %.0f events/s (median; "
           "min %.0f, max %.0f)\n",
           BATCH, peer[1], peer[0], peer[2]);
    printf("throughput  forwarder -> propagation (PUSH, no acknowledgements) %.0f events/s "
           "(median; min %.0f, max %.0f)\n",
           plain[1], plain[0], plain[2]);
    printf("ratio       forwarder path / direct PUSH = %.2f\n", fwd[1] / peer[1]);
    printf("ratio       acknowledged / PUSH forwarder = %.2f\n", fwd[1] / plain[1]);
    /* Each retry is a batch propagation could not take yet; the forwarder then waits its
     * retry_interval_ms (config default) before offering it again. */
    printf("forwarder   %.0f send retries (propagation full) over the %d runs, at the default "
           "retry_interval_ms; %.0f events acknowledged, %.0f resent\n",
           s_metric(d.fwd_rest[0], "vexfs_forwarder_send_retries_total"), reps,
           s_metric(d.fwd_rest[0], "vexfs_forwarder_events_acked_total"),
           s_metric(d.fwd_rest[0], "vexfs_forwarder_events_resent_total"));
    for (int k = 0; k < 2; k++) {
        int st = vt_stop(d.fwd[k], SIGTERM, 30000);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "bench: forwarder exit status %d; see %s/forwarder%d.log\n", st,
                    d.dir, k);
        }
    }
    vt_stop(d.prop, SIGTERM, 30000);
    return 0;
}
