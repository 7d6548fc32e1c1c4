/* SPDX-License-Identifier: Apache-2.0 */
/* The soak's independent checker: receivers of its own on the hops' far ends, counting every
 * copy of every event of the run by its number (soak.h). It trusts no daemon's counters:
 *
 *  - the Kafka journal (propagation's topic), every partition read from its beginning by a
 *    consumer of its own (assigned, not in a group), as any outside reader of the record would;
 *  - routing's `console` ZeroMQ boundary, connected with a CURVE identity of its own ("test"),
 *    as an outside consumer of a boundary would. It is also the slow consumer of the fault
 *    injector: soak_check_stall stops it reading for a while, so routing's push backs up.
 *
 * One byte per event and hop (saturating at 255 copies) bounds memory by the run's size. */
#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_harness.h"
#include "soak.h"
#include "vx_arena.h"
#include "vx_clock.h"
#include "vx_sock.h"
#include "vx_test.h"
#include "vx_wire.h"

struct soak_check {
    const struct sh_suite *suite;
    uint64_t tag, max;
    uint8_t *seen[SOAK_HOP_N];
    atomic_uint_fast64_t copies[SOAK_HOP_N];
    atomic_uint_fast64_t foreign[SOAK_HOP_N]; /* events of other producers (the watcher) */
    atomic_bool stop;
    atomic_uint_fast64_t stall_until_ns;
    pthread_t journal_thread, console_thread;
};

static const char *const s_hop_names[SOAK_HOP_N] = {"journal", "console"};

const char *
soak_hop_name(enum soak_hop h)
{
    return s_hop_names[h];
}

/* Counts one copy of the event with this id on hop h. */
static void
s_count(struct soak_check *c, enum soak_hop h, const uint8_t *id, size_t len)
{
    uint64_t tag, n;
    if (len != 16) {
        atomic_fetch_add(&c->foreign[h], 1);
        return;
    }
    memcpy(&tag, id, 8);
    memcpy(&n, id + 8, 8);
    if (tag != c->tag || n >= c->max) {
        atomic_fetch_add(&c->foreign[h], 1);
        return;
    }
    uint8_t v = __atomic_load_n(&c->seen[h][n], __ATOMIC_RELAXED);
    if (v < 255) {
        __atomic_store_n(&c->seen[h][n], (uint8_t)(v + 1), __ATOMIC_RELAXED);
    }
    atomic_fetch_add(&c->copies[h], 1);
}

/* The consumer's own log lines: a broker killed by the injector makes librdkafka report every
 * refused reconnection, which would bury the timeline; the checker's counts say what matters. */
static void
cb_quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    (void)level;
    (void)fac;
    (void)buf;
}

/* The number of partitions of topic (which exists: the harness made it). */
static int
s_partitions(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    int n = 0;
    for (int i = 0; i < 100 && n == 0; i++) {
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(rk, 0, t, &md, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                n = md->topics[0].partition_cnt;
            }
            rd_kafka_metadata_destroy(md);
        }
    }
    rd_kafka_topic_destroy(t);
    if (n == 0) {
        fprintf(stderr, "soak checker: no metadata for topic %s\n", topic);
        exit(2);
    }
    return n;
}

/* Reads the journal topic from its beginning until stopped. */
static void *
s_journal_main(void *arg)
{
    struct soak_check *c = arg;
    char err[512], group[128];
    snprintf(group, sizeof group, "vexfs-soak-%d-%" PRIx64, (int)getpid(), c->tag);
    rd_kafka_conf_t *conf = kh_conf();
    rd_kafka_conf_set_log_cb(conf, cb_quiet_log);
    if (rd_kafka_conf_set(conf, "group.id", group, err, sizeof err) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err) !=
            RD_KAFKA_CONF_OK) {
        fprintf(stderr, "soak checker: consumer configuration: %s\n", err);
        exit(2);
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "soak checker: consumer: %s\n", err);
        exit(2);
    }
    rd_kafka_poll_set_consumer(rk);
    /* Assigned partitions, not a group subscription: no group coordinator to lose and rejoin
     * when the broker is killed, so the position survives every broker restart. */
    int parts = s_partitions(rk, c->suite->journal);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(parts);
    for (int p = 0; p < parts; p++) {
        rd_kafka_topic_partition_list_add(topics, c->suite->journal, p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    }
    if (rd_kafka_assign(rk, topics) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "soak checker: cannot assign the partitions of %s\n", c->suite->journal);
        exit(2);
    }
    rd_kafka_topic_partition_list_destroy(topics);
    while (!atomic_load(&c->stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            continue;
        }
        if (!m->err) {
            vx_event_t *e = vexfs__v1__event__unpack(NULL, m->len, m->payload);
            if (e) {
                s_count(c, SOAK_HOP_JOURNAL, e->id.data, e->id.len);
                vexfs__v1__event__free_unpacked(e, NULL);
            } else {
                atomic_fetch_add(&c->foreign[SOAK_HOP_JOURNAL], 1);
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return NULL;
}

/* Pulls routing's console boundary with the checker's own identity until stopped; sleeps
 * instead while a stall (the slow consumer) lasts. */
static void *
s_console_main(void *arg)
{
    struct soak_check *c = arg;
    char err[512], ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%u", c->suite->out_console);
    struct vx_transport_config tc = {1000, 0, 64 * 1024 * 1024 + 4096, 0};
    struct vx_security_config sc = {"required", vt_keys_dir(), "test", "required", vt_tls_dir(),
                                    false, "", "", "", false};
    vx_socks_t *socks = vx_socks_new(&tc, &sc, "test", NULL, err, sizeof err);
    if (!socks) {
        fprintf(stderr, "soak checker: socket factory: %s\n", err);
        exit(2);
    }
    struct vx_sock_spec spec = {.type = ZMQ_PULL, .endpoint = ep, .rcvtimeo_ms = 100};
    zsock_t *pull = vx_sock_open(socks, &spec, NULL, 0, err, sizeof err);
    if (!pull) {
        fprintf(stderr, "soak checker: %s\n", err);
        exit(2);
    }
    vx_arena_t *a = vx_arena_new(1 << 20, 0);
    while (!atomic_load(&c->stop)) {
        if (vx_mono_ns() < atomic_load(&c->stall_until_ns)) {
            vt_sleep_ms(20); /* the slow consumer reads nothing while the stall lasts */
            continue;
        }
        struct vx_wire_msg m;
        if (vx_wire_recv(pull, &m, 0) < 0) {
            continue;
        }
        vx_batch_t *b = vx_wire_decode(zmq_msg_data(&m.body), zmq_msg_size(&m.body), a);
        if (b) {
            for (size_t i = 0; i < b->n_events; i++) {
                s_count(c, SOAK_HOP_CONSOLE, b->events[i]->id.data, b->events[i]->id.len);
            }
        }
        vx_wire_msg_fini(&m);
        vx_arena_reset(a);
    }
    vx_arena_destroy(&a);
    zsock_destroy(&pull);
    vx_socks_destroy(&socks);
    return NULL;
}

struct soak_check *
soak_check_start(const struct sh_suite *s, uint64_t tag, uint64_t max_events)
{
    struct soak_check *c = calloc(1, sizeof *c);
    if (!c) {
        abort();
    }
    c->suite = s;
    c->tag = tag;
    c->max = max_events;
    for (int h = 0; h < SOAK_HOP_N; h++) {
        c->seen[h] = calloc(max_events ? max_events : 1, 1);
        if (!c->seen[h]) {
            abort();
        }
        atomic_init(&c->copies[h], 0);
        atomic_init(&c->foreign[h], 0);
    }
    atomic_init(&c->stop, false);
    atomic_init(&c->stall_until_ns, 0);
    if (pthread_create(&c->journal_thread, NULL, s_journal_main, c) != 0 ||
        pthread_create(&c->console_thread, NULL, s_console_main, c) != 0) {
        abort();
    }
    return c;
}

void
soak_check_stall(struct soak_check *c, int ms)
{
    atomic_store(&c->stall_until_ns, vx_mono_ns() + (uint64_t)ms * 1000000ull);
}

void
soak_check_count(struct soak_check *c, enum soak_hop h, uint64_t upto, uint64_t *distinct,
                 uint64_t *copies)
{
    uint64_t d = 0, k = 0;
    if (upto > c->max) {
        upto = c->max;
    }
    for (uint64_t i = 0; i < upto; i++) {
        uint8_t v = __atomic_load_n(&c->seen[h][i], __ATOMIC_RELAXED);
        d += v > 0;
        k += v;
    }
    *distinct = d;
    *copies = k;
}

void
soak_check_missing(struct soak_check *c, enum soak_hop h, uint64_t upto, char *buf, size_t len)
{
    size_t off = 0;
    int shown = 0;
    buf[0] = '\0';
    if (upto > c->max) {
        upto = c->max;
    }
    for (uint64_t i = 0; i < upto && shown < 8 && off + 24 < len; i++) {
        if (__atomic_load_n(&c->seen[h][i], __ATOMIC_RELAXED) == 0) {
            off += (size_t)snprintf(buf + off, len - off, "%s%" PRIu64, shown ? "," : "", i);
            shown++;
        }
    }
}

void
soak_check_stop(struct soak_check **cp)
{
    struct soak_check *c = *cp;
    if (!c) {
        return;
    }
    atomic_store(&c->stop, true);
    pthread_join(c->journal_thread, NULL);
    pthread_join(c->console_thread, NULL);
    for (int h = 0; h < SOAK_HOP_N; h++) {
        free(c->seen[h]);
    }
    free(c);
    *cp = NULL;
}
