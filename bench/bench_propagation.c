/* SPDX-License-Identifier: Apache-2.0 */
/* Benchmarks of the real vexfs-propagation process over loopback, each beside its peer
 * measured in the same run:
 *   1. throughput, batches of 100, ingest -> publish, and the daemon's CPU time per event;
 *      peer: raw ZeroMQ PUSH/PULL of the same packed batches on the same kind of link;
 *   2. latency per event (p50/p99) at 10% of the measured throughput; peer: raw ZeroMQ at the
 *      same rate;
 *   3. throughput with the Kafka journal on (when VEXFS_KAFKA_BOOTSTRAP is set): until Kafka
 *      acknowledged every event;
 *   4. the daemon and its links with CURVE against the same without (plain loopback links),
 *      alternating runs: throughput ratio, the daemon's CPU time per event (user + system,
 *      from /proc: what CURVE costs the daemon whatever else the machine runs; split into its
 *      ZeroMQ I/O threads, where CURVE's cryptography runs, and the rest) and p99 ratio
 *      at 10% of the plain throughput. The daemon runs with transport.io_threads
 *      VX_BENCH_DAEMON_IO_THREADS (0: its default, 2), this program with VX_BENCH_IO_THREADS
 *      (2) I/O threads.
 * Every link is secured as in production: the daemon runs with the test support's key set and
 * certificates (CURVE on every ZeroMQ link, HTTPS), this program's sockets are opened through
 * the suite's factory (vt_sock_ex, CURVE as the identity "ctl"), so the raw peer is a CURVE
 * link too (bench_security sets CURVE against plain links).
 * Usage: bench_propagation [EVENTS] (default 2,000,000); programs from $VX_BIN_DIR.
 * VX_BENCH_SECTION=curve runs section 4 alone (profiling CURVE against plain). */
#include <czmq.h>
#include <dirent.h>
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
#include "vx_test.h"
#include "vx_wire.h"

#define BATCH 100
#define N_TEMPLATES 64 /* distinct packed batches, so dedup sees distinct content */

struct packed {
    unsigned char *data;
    size_t len;
    size_t digits[BATCH]; /* offset of each event's 12-digit serial inside data */
    size_t sent_at[BATCH]; /* offset of each event's 19-digit send time inside data */
};

#define SERIAL_DIGITS 12
#define TIME_DIGITS 19
static uint64_t s_serial; /* makes every sent event distinct, across runs too */

static struct packed s_batches[N_TEMPLATES];
static bool s_plain; /* section 4: this program's links and the daemon's without CURVE */
static int s_daemon_io_threads = 0; /* the daemon's transport.io_threads (0: its default) */

/* Realistic events: a path, two content fields, one metadata field, tenant, priority. */
static void
s_make_batches(uint64_t salt)
{
    static char paths[BATCH][64], vals[BATCH][32];
    for (int t = 0; t < N_TEMPLATES; t++) {
        vx_event_t ev[BATCH];
        vx_event_t *ptrs[BATCH];
        Vexfs__V1__Event__ContentEntry c1[BATCH], c2[BATCH], c3[BATCH];
        Vexfs__V1__Event__ContentEntry *cp[BATCH][3];
        static char times[BATCH][32];
        Vexfs__V1__Event__MetadataEntry m1[BATCH];
        Vexfs__V1__Event__MetadataEntry *mp[BATCH][1];
        for (int k = 0; k < BATCH; k++) {
            vx_event_t init = VEXFS__V1__EVENT__INIT;
            Vexfs__V1__Event__ContentEntry ci = VEXFS__V1__EVENT__CONTENT_ENTRY__INIT;
            Vexfs__V1__Event__MetadataEntry mi = VEXFS__V1__EVENT__METADATA_ENTRY__INIT;
            ev[k] = init;
            c1[k] = ci;
            c2[k] = ci;
            c3[k] = ci;
            snprintf(times[k], sizeof times[k], "T%0*d", TIME_DIGITS - 1, t * BATCH + k);
            c3[k].key = (char *)"sent_ns";
            c3[k].value = times[k];
            m1[k] = mi;
            snprintf(paths[k], sizeof paths[k], "/srv/data/project-%d/file-%d.txt", t, k);
            snprintf(vals[k], sizeof vals[k], "S%0*llu", SERIAL_DIGITS,
                     (unsigned long long)(salt * 100000 + (uint64_t)t * BATCH + (uint64_t)k));
            c1[k].key = (char *)"size";
            c1[k].value = (char *)"4096";
            c2[k].key = (char *)"seq";
            c2[k].value = vals[k];
            cp[k][0] = &c1[k];
            cp[k][1] = &c2[k];
            cp[k][2] = &c3[k];
            m1[k].key = (char *)"user_id";
            m1[k].value = (char *)"1001";
            mp[k][0] = &m1[k];
            ev[k].type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE;
            ev[k].source = VEXFS__V1__BOUNDARY__FUSE;
            ev[k].path = paths[k];
            ev[k].n_content = 3;
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
        free(s_batches[t].data);
        s_batches[t].len = vexfs__v1__event_batch__get_packed_size(&b);
        s_batches[t].data = malloc(s_batches[t].len);
        vexfs__v1__event_batch__pack(&b, s_batches[t].data);
        for (int k = 0; k < BATCH; k++) {
            unsigned char *at = memmem(s_batches[t].data, s_batches[t].len, vals[k],
                                       strlen(vals[k]));
            s_batches[t].digits[k] = (size_t)(at - s_batches[t].data) + 1;
            at = memmem(s_batches[t].data, s_batches[t].len, times[k], strlen(times[k]));
            s_batches[t].sent_at[k] = (size_t)(at - s_batches[t].data);
        }
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

/* ---- receiver thread: counts events and per-event latency from timestamp_ns ------------- */

struct receiver {
    char endpoint[128];
    bool bind;
    bool decode;           /* decode batches (propagation output) or only count (raw) */
    uint64_t expect_events;
    uint64_t got_events;
    uint64_t first_ns, last_ns;
    double *lat_us;        /* per batch latency samples (decode mode, latency runs) */
    size_t n_lat, cap_lat;
    atomic_bool ready;     /* set once the socket is bound or connected */
    pthread_t thread;
};

static void *
s_receiver_main(void *arg)
{
    struct receiver *r = arg;
    int port = -1;
    zsock_t *pull = vt_sock_ex(&(struct vt_sock_opts){.plain = s_plain, 
        .type = ZMQ_PULL, .endpoint = r->bind ? "tcp://127.0.0.1:*" : r->endpoint,
        .bind = r->bind, .hwm = 10000, .rcvtimeo_ms = 10000, .port = r->bind ? &port : NULL});
    if (r->bind) {
        snprintf(r->endpoint, sizeof r->endpoint, "tcp://127.0.0.1:%d", port);
    }
    atomic_store(&r->ready, true);
    vx_arena_t *a = vx_arena_new(1 << 20, 0);
    while (pull != NULL && r->got_events < r->expect_events) {
        struct vx_wire_msg m;
        if (vx_wire_recv(pull, &m, 0) < 0) {
            break;
        }
        uint64_t now = vx_wall_ns();
        if (!r->first_ns) {
            r->first_ns = now;
        }
        if (r->decode && r->lat_us) {
            vx_batch_t *b = vx_wire_decode(zmq_msg_data(&m.body), zmq_msg_size(&m.body), a);
            if (b) {
                r->got_events += b->n_events;
                for (size_t i = 0; i < b->n_events && r->n_lat < r->cap_lat; i++) {
                    const vx_event_t *e = b->events[i];
                    for (size_t c = 0; c < e->n_content; c++) {
                        if (strcmp(e->content[c]->key, "sent_ns") == 0) {
                            uint64_t sent = strtoull(e->content[c]->value, NULL, 10);
                            r->lat_us[r->n_lat++] = (double)(now - sent) / 1e3;
                        }
                    }
                }
            }
            vx_arena_reset(a);
        } else if (r->decode) {
            r->got_events += s_count_events(zmq_msg_data(&m.body), zmq_msg_size(&m.body));
        } else {
            /* Raw peer: the sender put its send time in the topic frame. */
            r->got_events += BATCH;
            if (r->lat_us && r->n_lat < r->cap_lat) {
                uint64_t sent = strtoull(m.topic, NULL, 10);
                for (int i = 0; i < BATCH && r->n_lat < r->cap_lat; i++) {
                    r->lat_us[r->n_lat++] = (double)(now - sent) / 1e3;
                }
            }
        }
        r->last_ns = now;
        vx_wire_msg_fini(&m);
    }
    vx_arena_destroy(&a);
    zsock_destroy(&pull);
    return NULL;
}

static void
s_receiver_start(struct receiver *r)
{
    atomic_init(&r->ready, false);
    pthread_create(&r->thread, NULL, s_receiver_main, r);
    while (!atomic_load(&r->ready)) {
        usleep(1000);
    }
}

static void
s_receiver_join(struct receiver *r)
{
    pthread_join(r->thread, NULL);
}

/* ---- sending ---------------------------------------------------------------------------- */

/* Sends n events in batches; rate 0 = as fast as possible, else events per second.
 * stamp: rewrite each batch with the send time (latency runs). raw: topic carries send time. */
static void
s_send(zsock_t *push, uint64_t n, double rate, bool stamp, bool raw, uint64_t *seq)
{
    uint64_t start = vx_mono_ns();
    (void)seq;
    for (uint64_t sent = 0, i = 0; sent < n; sent += BATCH, i++) {
        if (rate > 0) {
            /* Pace by sleeping, not spinning: a spinning sender would take a core from the
             * daemon on a 2-core machine and inflate its latency. */
            uint64_t due = start + (uint64_t)((double)sent / rate * 1e9);
            uint64_t now = vx_mono_ns();
            if (due > now) {
                struct timespec ts = {(time_t)((due - now) / VX_NS_PER_S),
                                      (long)((due - now) % VX_NS_PER_S)};
                nanosleep(&ts, NULL);
            }
        }
        struct packed *p = &s_batches[i % N_TEMPLATES];
        for (int k = 0; k < BATCH; k++) {
            uint64_t v = ++s_serial;
            unsigned char *d = p->data + p->digits[k];
            for (int j = SERIAL_DIGITS - 1; j >= 0; j--, v /= 10) {
                d[j] = (unsigned char)('0' + v % 10);
            }
        }
        char topic[32] = "events";
        if (raw) {
            snprintf(topic, sizeof topic, "%llu", (unsigned long long)vx_wall_ns());
        } else if (stamp) {
            /* The send time goes into each event in place (fixed width), so no re-encoding
             * sits between taking the time and sending. */
            uint64_t now = vx_wall_ns();
            for (int k = 0; k < BATCH; k++) {
                uint64_t v = now;
                unsigned char *d = p->data + p->sent_at[k];
                for (int j = TIME_DIGITS - 1; j >= 0; j--, v /= 10) {
                    d[j] = (unsigned char)('0' + v % 10);
                }
            }
        }
        vx_wire_send_packed(push, topic, p->data, p->len, 0);
    }
}

static int
cb_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double
s_pct(double *v, size_t n, double q)
{
    if (!n) {
        return NAN;
    }
    size_t i = (size_t)(q * (double)(n - 1));
    return v[i];
}

/* ---- the daemon -------------------------------------------------------------------------- */

struct daemon {
    pid_t pid;
    uint16_t rest;
    char ingest[64], output[64];
};

static int
s_daemon_start(struct daemon *d, const char *kafka, const char *topic)
{
    d->rest = vt_free_port();
    snprintf(d->ingest, sizeof d->ingest, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    snprintf(d->output, sizeof d->output, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    char *dir = vt_tmpdir();
    char cfg[300], text[2048], log[300];
    snprintf(cfg, sizeof cfg, "%s/bench.yaml", dir);
    snprintf(log, sizeof log, "%s/propagation.log", dir);
    snprintf(text, sizeof text,
             "event_propagation:\n  rest_port: %u\n  ingest_endpoint: %s\n  output_endpoint: %s\n"
             "  tap_endpoint: \"\"\n  queue_hwm: 1000\n  dedup_window_ms: 1000\n"
             "  kafka_brokers: \"%s\"\n  kafka_topic: \"%s\"\nlogging:\n  level: warn\n%s"
             "transport:\n  io_threads: %d\n",
             (unsigned)d->rest, d->ingest, d->output, kafka ? kafka : "", topic ? topic : "x",
             s_plain ? "security:\n  curve: \"off\"\n" : "", s_daemon_io_threads);
    vt_write_file(cfg, text);
    free(dir);
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-propagation", vt_bin_dir());
    char *argv[] = {bin, (char *)"--config", cfg, NULL};
    d->pid = vt_spawn(argv, NULL, log);
    if (!vt_wait_ready(d->rest, 20000)) {
        fprintf(stderr, "bench: propagation did not start; see %s\n", log);
        return -1;
    }
    return 0;
}

static double
s_metric(uint16_t port, const char *series)
{
    return vt_metric(port, series);
}

/* Throughput of one configuration: events per second from first send to last receipt. */
static double
s_run_throughput(const char *to, bool bind_receiver, const char *from, uint64_t n, bool raw)
{
    struct receiver r = {.decode = !raw, .expect_events = n, .bind = bind_receiver};
    if (!bind_receiver) {
        snprintf(r.endpoint, sizeof r.endpoint, "%s", from);
    }
    s_receiver_start(&r);
    zsock_t *push = vt_sock_ex(&(struct vt_sock_opts){.plain = s_plain, 
        .type = ZMQ_PUSH, .endpoint = bind_receiver ? r.endpoint : to, .hwm = 1000});
    uint64_t t0 = vx_wall_ns();
    uint64_t seq = 0;
    if (push != NULL) {
        s_send(push, n, 0, false, raw, &seq);
    }
    s_receiver_join(&r);
    zsock_destroy(&push);
    if (r.got_events < n) {
        fprintf(stderr, "bench: only %llu of %llu events arrived\n",
                (unsigned long long)r.got_events, (unsigned long long)n);
        return NAN;
    }
    return (double)n / ((double)(r.last_ns - t0) / 1e9);
}

static void
s_run_latency(const char *to, bool bind_receiver, const char *from, uint64_t n, double rate,
              bool raw, double *p50, double *p99)
{
    struct receiver r = {.decode = !raw, .expect_events = n, .bind = bind_receiver};
    r.cap_lat = n;
    r.lat_us = calloc(n, sizeof(double));
    if (!bind_receiver) {
        snprintf(r.endpoint, sizeof r.endpoint, "%s", from);
    }
    s_receiver_start(&r);
    zsock_t *push = vt_sock_ex(&(struct vt_sock_opts){.plain = s_plain, 
        .type = ZMQ_PUSH, .endpoint = bind_receiver ? r.endpoint : to});
    usleep(100 * 1000);
    static uint64_t seq = 1;
    if (push != NULL) {
        s_send(push, n, rate, !raw, raw, &seq);
    }
    s_receiver_join(&r);
    zsock_destroy(&push);
    qsort(r.lat_us, r.n_lat, sizeof(double), cb_cmp);
    *p50 = s_pct(r.lat_us, r.n_lat, 0.50);
    *p99 = s_pct(r.lat_us, r.n_lat, 0.99);
    free(r.lat_us);
}

/* CPU seconds (user + system, every thread) process pid has used; NAN when unreadable. */
static double
s_cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    size_t len = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) {
        fclose(f);
    }
    buf[len] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) {
        return NAN;
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU seconds of process pid's libzmq I/O threads (named ZMQbg/IO/N: where CURVE encrypts and
 * decrypts); NAN when unreadable. With s_cpu_seconds, splits the daemon's CPU into its own
 * loop and the I/O threads. */
static double
s_io_cpu_seconds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *dir = opendir(path);
    if (!dir) {
        return NAN;
    }
    unsigned long total = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }
        char tpath[128], buf[1024];
        snprintf(tpath, sizeof tpath, "/proc/%d/task/%s/stat", (int)pid, de->d_name);
        FILE *f = fopen(tpath, "r");
        size_t len = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f) {
            fclose(f);
        }
        buf[len] = '\0';
        char *open = strchr(buf, '('), *close = strrchr(buf, ')');
        unsigned long ut = 0, st = 0;
        if (!open || !close || strncmp(open + 1, "ZMQbg/IO/", 9) != 0 ||
            sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) {
            continue;
        }
        total += ut + st;
    }
    closedir(dir);
    return (double)total / (double)sysconf(_SC_CLK_TCK);
}

/* One run on a fresh daemon, CURVE (k 0) or plain (k 1): throughput of n events, or with
 * rate > 0 the latency of n events at that rate; cpu_us (may be NULL) receives the daemon's CPU
 * time per event over the run (its figure does not depend on what else the machine runs), io_us
 * (may be NULL) the part of it in the daemon's ZeroMQ I/O threads.
 * Returns false when the daemon did not start. */
static bool
s_curve_run(int k, int seed, uint64_t n, double rate, double *thr, double *p50, double *p99,
            double *cpu_us, double *io_us)
{
    s_plain = k == 1;
    struct daemon d;
    bool ok = s_daemon_start(&d, NULL, NULL) == 0;
    if (ok) {
        s_make_batches((uint64_t)seed);
        double c0 = s_cpu_seconds(d.pid), io0 = s_io_cpu_seconds(d.pid);
        if (rate > 0) {
            s_run_latency(d.ingest, false, d.output, n, rate, false, p50, p99);
        } else {
            *thr = s_run_throughput(d.ingest, false, d.output, n, false);
        }
        if (cpu_us) {
            *cpu_us = (s_cpu_seconds(d.pid) - c0) * 1e6 / (double)n;
        }
        if (io_us) {
            *io_us = (s_io_cpu_seconds(d.pid) - io0) * 1e6 / (double)n;
        }
        vt_stop(d.pid, SIGTERM, 30000);
    }
    s_plain = false;
    return ok;
}

static void
s_curve_vs_plain(uint64_t n, int reps)
{
    double thr[2][3], p50[2][3], p99[2][3], cpu[2][3], io[2][3];
    for (int i = 0; i < reps; i++) {
        for (int k = 0; k < 2; k++) {
            if (!s_curve_run(k, 300 + i * 2 + k, n, 0, &thr[k][i], NULL, NULL, &cpu[k][i],
                             &io[k][i])) {
                return;
            }
            printf("  run %d: %s %.0f events/s, daemon CPU %.2f us per event (ZeroMQ I/O threads "
                   "%.2f, the rest %.2f)\n", i + 1, k ? "plain" : "CURVE", thr[k][i], cpu[k][i],
                   io[k][i], cpu[k][i] - io[k][i]);
        }
    }
    for (int k = 0; k < 2; k++) {
        qsort(thr[k], (size_t)reps, sizeof(double), cb_cmp);
        qsort(cpu[k], (size_t)reps, sizeof(double), cb_cmp);
        qsort(io[k], (size_t)reps, sizeof(double), cb_cmp);
    }
    double rate = thr[1][1] * 0.10;
    uint64_t ln = (uint64_t)(rate * 3);
    ln -= ln % BATCH;
    for (int i = 0; i < reps; i++) {
        for (int k = 0; k < 2; k++) {
            if (!s_curve_run(k, 400 + i * 2 + k, ln, rate, NULL, &p50[k][i], &p99[k][i], NULL,
                             NULL)) {
                return;
            }
        }
    }
    for (int k = 0; k < 2; k++) {
        qsort(p50[k], (size_t)reps, sizeof(double), cb_cmp);
        qsort(p99[k], (size_t)reps, sizeof(double), cb_cmp);
    }
    printf("curve       propagation with CURVE %.0f events/s (min %.0f, max %.0f), plain %.0f "
           "(min %.0f, max %.0f): ratio %.2f; target >= 0.80: %s\n",
           thr[0][1], thr[0][0], thr[0][2], thr[1][1], thr[1][0], thr[1][2], thr[0][1] / thr[1][1],
           thr[0][1] / thr[1][1] >= 0.80 ? "met" : "NOT met");
    printf("curve       daemon CPU per event: CURVE %.2f us (min %.2f, max %.2f), plain %.2f us "
           "(min %.2f, max %.2f): plain/CURVE %.2f (the throughput ratio a daemon bound by its "
           "own CPU reaches)\n",
           cpu[0][1], cpu[0][0], cpu[0][2], cpu[1][1], cpu[1][0], cpu[1][2], cpu[1][1] / cpu[0][1]);
    printf("curve       of which the daemon's ZeroMQ I/O threads (where CURVE encrypts and decrypts): "
           "CURVE %.2f us (min %.2f, max %.2f), plain %.2f us (min %.2f, max %.2f)\n",
           io[0][1], io[0][0], io[0][2], io[1][1], io[1][0], io[1][2]);
    printf("curve       latency at %.0f events/s: CURVE p50 %.1f us, p99 %.1f us; plain p50 %.1f "
           "us, p99 %.1f us: p99 ratio %.2f; target <= 1.20: %s\n",
           rate, p50[0][1], p99[0][1], p50[1][1], p99[1][1], p99[0][1] / p99[1][1],
           p99[0][1] / p99[1][1] <= 1.20 ? "met" : "NOT met");
}

int
main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 2000000;
    n -= n % BATCH;
    zsys_handler_set(NULL);
    signal(SIGPIPE, SIG_IGN);
    const int reps = 3;
    /* The producer and the consumer are two programs in production, each with its own I/O
     * thread doing its link's encryption; here they share one process, so it gets two. */
    const char *bio = getenv("VX_BENCH_IO_THREADS");
    zmq_ctx_set(zsys_init(), ZMQ_IO_THREADS, bio ? atoi(bio) : 2);
    const char *dio = getenv("VX_BENCH_DAEMON_IO_THREADS");
    s_daemon_io_threads = dio ? atoi(dio) : 0;
    const char *only = getenv("VX_BENCH_SECTION");
    if (only && strcmp(only, "curve") == 0) {
        printf("== propagation: CURVE against plain links, batches of %d, %llu events per run\n",
               BATCH, (unsigned long long)n);
        s_curve_vs_plain(n, reps);
        return 0;
    }

    printf("== propagation: ingest -> publish over loopback, batches of %d, %llu events per run, "
           "CURVE on every link (the raw peer's too)\n",
           BATCH, (unsigned long long)n);
    double raw[3], prop[3], cpu[3];
    struct daemon d;
    if (s_daemon_start(&d, NULL, NULL) < 0) {
        return 1;
    }
    for (int i = 0; i < reps; i++) {
        s_make_batches((uint64_t)i + 1);
        raw[i] = s_run_throughput(NULL, true, NULL, n, true);
        s_make_batches((uint64_t)i + 100);
        double c0 = s_cpu_seconds(d.pid);
        prop[i] = s_run_throughput(d.ingest, false, d.output, n, false);
        cpu[i] = (s_cpu_seconds(d.pid) - c0) * 1e6 / (double)n;
        printf("  run %d: raw ZeroMQ %.0f ev/s, propagation %.0f ev/s (daemon CPU %.2f us per "
               "event)\n", i + 1, raw[i], prop[i], cpu[i]);
    }
    qsort(raw, reps, sizeof(double), cb_cmp);
    qsort(prop, reps, sizeof(double), cb_cmp);
    qsort(cpu, reps, sizeof(double), cb_cmp);
    printf("throughput  propagation %.0f events/s (median of %d; min %.0f, max %.0f)\n", prop[1],
           reps, prop[0], prop[2]);
    printf("throughput  raw ZeroMQ PUSH/PULL (CURVE) %.0f events/s (median; min %.0f, max %.0f)\n",
           raw[1], raw[0], raw[2]);
    printf("ratio       propagation / raw ZeroMQ = %.2f; target >= 1,000,000 events/s: %s\n",
           prop[1] / raw[1], prop[1] >= 1e6 ? "met" : "NOT met");
    printf("cpu         the daemon's CPU time per event (user + system, all its threads; what the "
           "machine's other load does not change much): %.2f us (median; min %.2f, max %.2f)\n",
           cpu[1], cpu[0], cpu[2]);

    /* Latency on a fresh daemon, so its own receipt-to-publish histogram holds only these. */
    vt_stop(d.pid, SIGTERM, 30000);
    if (s_daemon_start(&d, NULL, NULL) < 0) {
        return 1;
    }
    double rate = prop[1] * 0.10;
    uint64_t ln = (uint64_t)(rate * 3);
    ln -= ln % BATCH;
    double p50r, p99r, p50p[3], p99p[3];
    s_run_latency(NULL, true, NULL, ln, rate, true, &p50r, &p99r);
    for (int i = 0; i < reps; i++) {
        s_make_batches((uint64_t)i + 200);
        s_run_latency(d.ingest, false, d.output, ln, rate, false, &p50p[i], &p99p[i]);
    }
    qsort(p50p, reps, sizeof(double), cb_cmp);
    qsort(p99p, reps, sizeof(double), cb_cmp);
    printf("latency     at %.0f events/s (10%%): propagation p50 %.1f us, p99 %.1f us (median of "
           "%d; p99 range %.1f..%.1f)\n",
           rate, p50p[1], p99p[1], reps, p99p[0], p99p[2]);
    printf("latency     raw ZeroMQ at the same rate: p50 %.1f us, p99 %.1f us; target p99 < 50 us: "
           "%s\n",
           p50r, p99r, p99p[1] < 50 ? "met" : "NOT met");
    struct vt_http_result st;
    if (vt_http("GET", d.rest, "/v1/stats", NULL, 0, NULL, &st) == 0) {
        json_t *j = json_loads(st.body, 0, NULL);
        json_t *lat = json_object_get(j, "latency");
        printf("latency     inside the daemon (receipt to publish, its own histogram): p50 %.1f us, "
               "p99 %.1f us\n",
               json_real_value(json_object_get(lat, "p50_us")),
               json_real_value(json_object_get(lat, "p99_us")));
        json_decref(j);
    }
    vt_http_result_fini(&st);
    vt_stop(d.pid, SIGTERM, 30000);

    s_curve_vs_plain(n, reps);

    const char *kafka = getenv("VEXFS_KAFKA_BOOTSTRAP");
    if (kafka && *kafka) {
        char topic[128];
        snprintf(topic, sizeof topic, "vexfs.bench.%d.%ld", (int)getpid(), (long)time(NULL));
        if (s_daemon_start(&d, kafka, topic) < 0) {
            return 1;
        }
        uint64_t kn = n / 2 - (n / 2) % BATCH;
        s_make_batches(999);
        uint64_t t0 = vx_wall_ns();
        double zt = s_run_throughput(d.ingest, false, d.output, kn, false);
        double delivered = 0;
        while ((delivered = s_metric(d.rest, "vexfs_kafka_delivered_total")) < (double)kn) {
            if (vx_wall_ns() - t0 > 300 * VX_NS_PER_S) {
                break;
            }
            usleep(5000);
        }
        double secs = (double)(vx_wall_ns() - t0) / 1e9;
        printf("kafka       journal on: %.0f events/s acknowledged by Kafka (%.0f of %llu in "
               "%.2f s); publish rate meanwhile %.0f events/s\n",
               delivered / secs, delivered, (unsigned long long)kn, secs, zt);
        vt_stop(d.pid, SIGTERM, 60000);
    } else {
        printf("kafka       not measured: VEXFS_KAFKA_BOOTSTRAP unset\n");
    }
    return 0;
}
