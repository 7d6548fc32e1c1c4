/* SPDX-License-Identifier: Apache-2.0 */
/* The cost of Kafka security on propagation's journal: the real vexfs-propagation process
 * journals the same stream to the same broker over SASL_SSL (SCRAM-SHA-512, TLS; what the suite
 * uses) and over the broker's bench-only plaintext listener, runs alternating, each figure
 * the events Kafka acknowledged per second from the first event sent to the last
 * acknowledgement (vexfs_kafka_delivered_total). Prints each run, the medians with their
 * spread, and the ratio SASL_SSL / plaintext of the same run.
 *
 * Needs VEXFS_KAFKA_BOOTSTRAP and the settings of `scripts/kafka.sh env` (bench.sh exports
 * them); the plaintext peer needs VEXFS_KAFKA_PLAIN_BOOTSTRAP, a listener scripts/kafka.sh opens
 * only when started with VEXFS_KAFKA_BENCH_PLAIN_PORT (bench.sh does when it starts the broker).
 * Usage: bench_kafka_journal [EVENTS] (default 500,000 per run); programs from $VX_BIN_DIR. */
#include <czmq.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vt_kafka.h"
#include "vx_clock.h"
#include "vx_test.h"
#include "vx_wire.h"

#define BATCH 100
#define REPS 3

static int
cb_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- propagation ---------------------------------------------------------------------------- */

struct daemon {
    pid_t pid;
    uint16_t rest;
    char ingest[64], output[64], dir[256], log[300];
};

/* Starts propagation journaling to topic on brokers; protocol overrides kafka_security.protocol
 * (NULL: the environment's, SASL_SSL). */
static int
s_start(struct daemon *d, const char *brokers, const char *topic, const char *protocol)
{
    memset(d, 0, sizeof *d);
    char *dir = vt_tmpdir();
    snprintf(d->dir, sizeof d->dir, "%s", dir);
    free(dir);
    d->rest = vt_free_port();
    snprintf(d->ingest, sizeof d->ingest, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    snprintf(d->output, sizeof d->output, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    snprintf(d->log, sizeof d->log, "%s/propagation.log", d->dir);
    char cfg[300], ids[300], text[2048];
    snprintf(cfg, sizeof cfg, "%s/bench.yaml", d->dir);
    snprintf(ids, sizeof ids, "%s/identities.yaml", d->dir);
    /* The bench's CURVE identity ("ctl", vt_sock's) may claim any source and tenant. */
    vt_write_file(ids, "producers:\n  ctl: {sources: [\"*\"], tenants: [\"*\"]}\n");
    snprintf(text, sizeof text,
             "event_propagation:\n  rest_port: %u\n  ingest_endpoint: %s\n  output_endpoint: %s\n"
             "  tap_endpoint: \"\"\n  enable_deduplication: false\n  producer_identities_file: %s\n"
             "  kafka_brokers: \"%s\"\n  kafka_topic: \"%s\"\nlogging:\n  level: warn\n",
             (unsigned)d->rest, d->ingest, d->output, ids, brokers, topic);
    vt_write_file(cfg, text);
    char bin[512], env0[64];
    snprintf(bin, sizeof bin, "%s/vexfs-propagation", vt_bin_dir());
    snprintf(env0, sizeof env0, "VEXFS_KAFKA_SECURITY_PROTOCOL=%s", protocol ? protocol : "");
    char *argv[] = {bin, (char *)"--config", cfg, NULL};
    char *env[] = {env0, NULL};
    d->pid = vt_spawn(argv, protocol ? env : NULL, d->log);
    if (!vt_wait_ready(d->rest, 30000)) {
        fprintf(stderr, "bench: propagation did not start; see %s\n", d->log);
        return -1;
    }
    return 0;
}

/* ---- drain of the output (routing's place) ------------------------------------------------ */

struct drain {
    const char *endpoint;
    atomic_bool stop;
    pthread_t thread;
};

static void *
s_drain_main(void *arg)
{
    struct drain *d = arg;
    zsock_t *pull = vt_sock(ZMQ_PULL, d->endpoint, false);
    if (!pull) {
        return NULL;
    }
    zsock_set_rcvtimeo(pull, 100);
    while (!atomic_load(&d->stop)) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, zsock_resolve(pull), 0) >= 0) {
            while (zmq_msg_more(&m)) {
                zmq_msg_close(&m);
                zmq_msg_init(&m);
                zmq_msg_recv(&m, zsock_resolve(pull), 0);
            }
        }
        zmq_msg_close(&m);
    }
    zsock_destroy(&pull);
    return NULL;
}

/* ---- one run ------------------------------------------------------------------------------ */

/* Packed batches of BATCH realistic events with distinct paths (Kafka keys). */
static unsigned char *s_batch[16];
static size_t s_batch_len[16];

static void
s_make_batches(void)
{
    for (int t = 0; t < 16; t++) {
        vx_event_t ev[BATCH];
        vx_event_t *ptrs[BATCH];
        Vexfs__V1__Event__ContentEntry c[BATCH], *cp[BATCH];
        char paths[BATCH][64];
        for (int k = 0; k < BATCH; k++) {
            vexfs__v1__event__init(&ev[k]);
            vexfs__v1__event__content_entry__init(&c[k]);
            snprintf(paths[k], sizeof paths[k], "/srv/data/project-%d/file-%d.txt", t, k);
            c[k].key = (char *)"size";
            c[k].value = (char *)"4096";
            cp[k] = &c[k];
            ev[k].type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE;
            ev[k].source = VEXFS__V1__BOUNDARY__FUSE;
            ev[k].path = paths[k];
            ev[k].n_content = 1;
            ev[k].content = &cp[k];
            ev[k].tenant = (char *)"acme";
            ptrs[k] = &ev[k];
        }
        vx_batch_t b = VEXFS__V1__EVENT_BATCH__INIT;
        b.events = ptrs;
        b.n_events = BATCH;
        s_batch_len[t] = vexfs__v1__event_batch__get_packed_size(&b);
        s_batch[t] = malloc(s_batch_len[t]);
        vexfs__v1__event_batch__pack(&b, s_batch[t]);
    }
}

/* Journals n events through a fresh daemon; returns the events Kafka acknowledged per second
 * from the first send to the last acknowledgement, or -1. */
static double
s_run(const char *brokers, const char *protocol, uint64_t n)
{
    char topic[160];
    static int seq;
    snprintf(topic, sizeof topic, "vexfs.bench.journal.%s.%d.%ld.%d",
             protocol ? protocol : "sasl_ssl", (int)getpid(), (long)time(NULL), ++seq);
    struct daemon d;
    if (s_start(&d, brokers, topic, protocol) < 0) {
        return -1;
    }
    struct drain dr = {.endpoint = d.output};
    atomic_init(&dr.stop, false);
    pthread_create(&dr.thread, NULL, s_drain_main, &dr);
    zsock_t *push = vt_sock(ZMQ_PUSH, d.ingest, false);
    if (!push) {
        return -1;
    }
    zsock_set_sndhwm(push, 1000);
    uint64_t t0 = vx_wall_ns();
    for (uint64_t sent = 0, i = 0; sent < n; sent += BATCH, i++) {
        vx_wire_send_packed(push, "events", s_batch[i % 16], s_batch_len[i % 16], 0);
    }
    double delivered = 0;
    uint64_t deadline = t0 + 600 * VX_NS_PER_S;
    while ((delivered = vt_metric(d.rest, "vexfs_kafka_delivered_total")) < (double)n &&
           vx_wall_ns() < deadline) {
        vt_sleep_ms(5);
    }
    double secs = (double)(vx_wall_ns() - t0) / 1e9;
    double failed = vt_metric(d.rest, "vexfs_kafka_failed_total");
    zsock_destroy(&push);
    vt_stop(d.pid, SIGTERM, 60000);
    atomic_store(&dr.stop, true);
    pthread_join(dr.thread, NULL);
    if (delivered < (double)n) {
        fprintf(stderr, "bench: only %.0f of %llu events acknowledged (%.0f failed); see %s\n",
                delivered, (unsigned long long)n, failed, d.log);
        return -1;
    }
    return delivered / secs;
}

int
main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 500000;
    n -= n % BATCH;
    zsys_handler_set(NULL);
    signal(SIGPIPE, SIG_IGN);
    const char *secured = getenv("VEXFS_KAFKA_BOOTSTRAP");
    const char *plain = getenv("VEXFS_KAFKA_PLAIN_BOOTSTRAP");
    const char *protocol = getenv("VEXFS_KAFKA_SECURITY_PROTOCOL");
    printf("== kafka journal: propagation -> Kafka, %llu events per run, batches of %d\n",
           (unsigned long long)n, BATCH);
    if (!secured || !*secured || !protocol || !*protocol) {
        printf("kafka       not measured: VEXFS_KAFKA_BOOTSTRAP or the settings of "
               "scripts/kafka.sh env are not exported\n");
        return 0;
    }
    s_make_batches();
    double sec[REPS], pl[REPS], ratio[REPS];
    int np = 0;
    for (int i = 0; i < REPS; i++) {
        /* Alternating, so drift on a shared machine falls on both alike. */
        if (plain && *plain) {
            pl[i] = s_run(plain, "plaintext", n);
            if (pl[i] < 0) {
                return 1;
            }
            np++;
        }
        sec[i] = s_run(secured, NULL, n);
        if (sec[i] < 0) {
            return 1;
        }
        if (np) {
            ratio[i] = sec[i] / pl[i];
            printf("  run %d: %s %.0f ev/s, plaintext %.0f ev/s, ratio %.2f\n", i + 1, protocol,
                   sec[i], pl[i], ratio[i]);
        } else {
            printf("  run %d: %s %.0f ev/s\n", i + 1, protocol, sec[i]);
        }
    }
    qsort(sec, REPS, sizeof(double), cb_cmp);
    printf("journal     %s (%s): %.0f events/s acknowledged (median of %d; min %.0f, max %.0f)\n",
           protocol, secured, sec[1], REPS, sec[0], sec[2]);
    if (np == REPS) {
        qsort(pl, REPS, sizeof(double), cb_cmp);
        qsort(ratio, REPS, sizeof(double), cb_cmp);
        printf("journal     plaintext (%s, bench-only listener): %.0f events/s (median; min %.0f, "
               "max %.0f)\n",
               plain, pl[1], pl[0], pl[2]);
        printf("ratio       %s / plaintext = %.2f (median of the runs' ratios; min %.2f, max "
               "%.2f)\n",
               protocol, ratio[1], ratio[0], ratio[2]);
    } else {
        printf("journal     plaintext peer not measured: the broker has no bench-only plaintext "
               "listener (start it with VEXFS_KAFKA_BENCH_PLAIN_PORT, as scripts/bench.sh does)\n");
    }
    for (int t = 0; t < 16; t++) {
        free(s_batch[t]);
    }
    return 0;
}
