/* SPDX-License-Identifier: Apache-2.0 */
/* Starting a real vexfs-routing process for integration tests, and its consumers. */
#include "rt_harness.h"

#include <check.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "vt_kafka.h"
#include "vx_ackrx.h"
#include "vx_test.h"
#include "vx_wire.h"

const char *const rh_std_boundaries[RH_N_STD] = {"analytics", "automation", "coordinator", "graph",
                                                 "vector"};

/* Starts the daemon and waits for /ready. Returns false, having reaped it, when it exited
 * because a port was taken meanwhile by another process of this machine; fails the test on
 * any other failure. */
static bool
s_spawn(struct rh_daemon *d, bool may_retry)
{
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-routing", vt_bin_dir());
    char *argv[] = {bin, (char *)"--config", d->cfgpath, NULL};
    d->pid = vt_spawn(argv, NULL, d->log);
    ck_assert_int_gt(d->pid, 0);
    if (vt_wait_ready(d->rest_port, 20000)) {
        return true;
    }
    int status = 0;
    if (may_retry && waitpid(d->pid, &status, WNOHANG) == d->pid) {
        FILE *f = fopen(d->log, "r");
        char line[1024];
        bool taken = false;
        while (f && fgets(line, sizeof line, f)) {
            taken = taken || strstr(line, "Address already in use") != NULL;
        }
        if (f) {
            fclose(f);
        }
        if (taken) {
            d->pid = 0;
            return false;
        }
    }
    ck_abort_msg("routing not ready; log in %s", d->log);
    return false;
}

static void
s_write_config(struct rh_daemon *d, const char *routing_yaml)
{
    d->rest_port = vt_free_port();
    for (int i = 0; i < RH_N_STD; i++) {
        snprintf(d->out[i], sizeof d->out[i], "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    }
    char tokpath[300], cfg[8192];
    snprintf(tokpath, sizeof tokpath, "%s/token", d->dir);
    ck_assert_int_eq(vt_write_file(tokpath, RH_TOKEN "\n"), 0);
    snprintf(cfg, sizeof cfg,
             "event_routing:\n"
             "  rest_port: %u\n"
             "  input_endpoint: %s\n"
             "  output_analytics: %s\n"
             "  output_automation: %s\n"
             "  output_coordinator: %s\n"
             "  output_graph: %s\n"
             "  output_vector: %s\n"
             "  state_dir: %s\n"
             "  producer_id: routing-test\n"
             "%s"
             "admin:\n"
             "  token_file: %s\n"
             "logging:\n"
             "  level: info\n",
             (unsigned)d->rest_port, d->input, d->out[0], d->out[1], d->out[2], d->out[3],
             d->out[4], d->state_dir, routing_yaml ? routing_yaml : "", tokpath);
    ck_assert_int_eq(vt_write_file(d->cfgpath, cfg), 0);
}

void
rh_start(struct rh_daemon *d, const char *input, const char *routing_yaml)
{
    memset(d, 0, sizeof *d);
    char *dir = vt_tmpdir();
    ck_assert_ptr_nonnull(dir);
    snprintf(d->dir, sizeof d->dir, "%s", dir);
    free(dir);
    snprintf(d->input, sizeof d->input, "%s", input);
    snprintf(d->cfgpath, sizeof d->cfgpath, "%s/vexfs.yaml", d->dir);
    snprintf(d->state_dir, sizeof d->state_dir, "%s/state", d->dir);
    snprintf(d->log, sizeof d->log, "%s/routing.log", d->dir);
    /* Free ports are picked ahead of the daemon binding them; another process may take one
     * in between, so a start that fails on exactly that is retried with new ports. */
    for (int attempt = 0;; attempt++) {
        s_write_config(d, routing_yaml);
        if (s_spawn(d, attempt < 4)) {
            return;
        }
    }
}

void
rh_restart(struct rh_daemon *d)
{
    s_spawn(d, false);
}

void
rh_stop(struct rh_daemon *d)
{
    int status = vt_stop(d->pid, SIGTERM, 60000);
    d->pid = 0;
    /* A clean exit is part of every test: under the sanitizers it also means no leak. */
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "routing did not exit cleanly on SIGTERM (status %d); log in %s", status,
                  d->log);
}

const char *
rh_out(const struct rh_daemon *d, const char *boundary)
{
    for (int i = 0; i < RH_N_STD; i++) {
        if (strcmp(rh_std_boundaries[i], boundary) == 0) {
            return d->out[i];
        }
    }
    ck_abort_msg("no boundary %s", boundary);
    return NULL;
}

long
rh_call(const struct rh_daemon *d, const char *method, const char *path, const char *body,
        json_t **out)
{
    struct vt_http_result r;
    int rc = vt_http(method, d->rest_port, path, body, body ? strlen(body) : 0, RH_TOKEN, &r);
    ck_assert_msg(rc == 0, "%s %s: no answer", method, path);
    long status = r.status;
    if (out) {
        *out = r.body ? json_loads(r.body, 0, NULL) : NULL;
    }
    vt_http_result_fini(&r);
    return status;
}

double
rh_metric(const struct rh_daemon *d, const char *series)
{
    return vt_metric(d->rest_port, series);
}

void
rh_wait_decided(const struct rh_daemon *d, double n, int timeout_ms)
{
    double v = 0;
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        v = rh_metric(d, "vexfs_events_processed_total");
        if (v >= n) {
            return;
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    ck_abort_msg("routing decided %.0f of %.0f events; log in %s", v, n, d->log);
}

void
rh_expect(const struct rh_daemon *d, const char *method, const char *path, const char *body,
          long want)
{
    json_t *j = NULL;
    long st = rh_call(d, method, path, body, &j);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    ck_assert_msg(st == want, "%s %s: %ld, expected %ld: %s", method, path, st, want,
                  text ? text : "");
    free(text);
    json_decref(j);
}

/* ---- collectors ----------------------------------------------------------------------- */

static long
s_event_n(const vx_event_t *e)
{
    for (size_t i = 0; i < e->n_content; i++) {
        if (strcmp(e->content[i]->key, "n") == 0) {
            char *end = NULL;
            long v = strtol(e->content[i]->value, &end, 10);
            return end && *end == '\0' ? v : -1;
        }
    }
    return -1;
}

static void *
s_collect_main(void *arg)
{
    struct rh_collector *c = arg;
    zsock_t *pull = vt_sock_ex(&(struct vt_sock_opts){
        .type = c->acked ? ZMQ_ROUTER : ZMQ_PULL, .endpoint = c->endpoint, .hwm = 100000,
        .rcvtimeo_ms = 50});
    ck_assert_ptr_nonnull(pull);
    vx_arena_t *a = vx_arena_new(1 << 20, 0);
    while (!atomic_load(&c->stop)) {
        if (atomic_load(&c->paused)) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
            continue;
        }
        struct vx_wire_msg m;
        uint8_t id[VX_ACK_ID_MAX];
        size_t id_len = 0;
        if (c->acked) {
            zmq_msg_init(&m.body);
            if (vx_acks_recv(pull, id, &id_len, &m.body) < 0) {
                zmq_pollitem_t it = {zsock_resolve(pull), 0, ZMQ_POLLIN, 0};
                zmq_poll(&it, 1, 50);
                continue;
            }
        } else if (vx_wire_recv(pull, &m, 0) < 0) {
            continue;
        }
        vx_batch_t *b = vx_wire_decode(zmq_msg_data(&m.body), zmq_msg_size(&m.body), a);
        if (b && c->acked && b->batch_sequence) {
            vx_acks_send(pull, id, id_len, b->batch_sequence);
            atomic_fetch_add(&c->acks, 1);
        }
        if (b) {
            for (size_t i = 0; i < b->n_events; i++) {
                const vx_event_t *e = b->events[i];
                long n = s_event_n(e);
                if (n >= 0 && (size_t)n < c->max_n) {
                    atomic_fetch_add(&c->counts[n], 1);
                } else {
                    atomic_fetch_add(&c->other, 1);
                }
                pthread_mutex_lock(&c->mu);
                const char *path = e->path ? e->path : "";
                json_t *last = json_object_get(c->paths, path);
                if (last && n >= 0 && json_integer_value(last) >= n) {
                    atomic_fetch_add(&c->out_of_order, 1);
                }
                json_object_set_new(c->paths, path, json_integer(n));
                if (json_array_size(c->samples) < 256) {
                    json_array_append_new(c->samples, vx_event_to_json(e));
                }
                pthread_mutex_unlock(&c->mu);
                atomic_fetch_add(&c->total, 1);
            }
        } else {
            atomic_fetch_add(&c->other, 1);
        }
        if (c->acked) {
            zmq_msg_close(&m.body);
        } else {
            vx_wire_msg_fini(&m);
        }
        vx_arena_reset(a);
    }
    vx_arena_destroy(&a);
    zsock_destroy(&pull);
    return NULL;
}

static void
s_collect_start(struct rh_collector *c, const char *endpoint, size_t max_n, bool acked)
{
    memset(c, 0, sizeof *c);
    c->acked = acked;
    atomic_init(&c->acks, 0);
    atomic_init(&c->paused, false);
    snprintf(c->endpoint, sizeof c->endpoint, "%s", endpoint);
    c->max_n = max_n;
    c->counts = calloc(max_n ? max_n : 1, sizeof *c->counts);
    atomic_init(&c->total, 0);
    atomic_init(&c->other, 0);
    atomic_init(&c->out_of_order, 0);
    atomic_init(&c->stop, false);
    pthread_mutex_init(&c->mu, NULL);
    c->paths = json_object();
    c->samples = json_array();
    /* CZMQ's global state is set up by the first socket; two threads creating their first
     * sockets at once race on it, so it is set up here, before any consumer thread. */
    zsys_init();
    ck_assert_int_eq(pthread_create(&c->thread, NULL, s_collect_main, c), 0);
}

void
rh_collect_start(struct rh_collector *c, const char *endpoint, size_t max_n)
{
    s_collect_start(c, endpoint, max_n, false);
}

void
rh_collect_start_acked(struct rh_collector *c, const char *endpoint, size_t max_n)
{
    s_collect_start(c, endpoint, max_n, true);
}

void
rh_collect_stop(struct rh_collector *c)
{
    atomic_store(&c->stop, true);
    pthread_join(c->thread, NULL);
    free(c->counts);
    c->counts = NULL;
    json_decref(c->paths);
    json_decref(c->samples);
    pthread_mutex_destroy(&c->mu);
}

size_t
rh_collect_wait(struct rh_collector *c, size_t n, int timeout_ms)
{
    for (int waited = 0; atomic_load(&c->total) < n && waited < timeout_ms; waited += 10) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return atomic_load(&c->total);
}

json_t *
rh_collect_sample(struct rh_collector *c, const char *path)
{
    json_t *found = NULL;
    pthread_mutex_lock(&c->mu);
    size_t i;
    json_t *e;
    json_array_foreach(c->samples, i, e) {
        const char *p = json_string_value(json_object_get(e, "path"));
        if (p && strcmp(p, path) == 0) {
            found = json_incref(e);
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return found;
}

/* ---- sending -------------------------------------------------------------------------- */

void
rh_send(zsock_t *push, const struct rh_event *ev, size_t n, uint64_t *bseq)
{
    enum { BATCH = 100 };
    vx_event_t e[BATCH];
    vx_event_t *ptrs[BATCH];
    Vexfs__V1__Event__ContentEntry ce[BATCH];
    Vexfs__V1__Event__ContentEntry *cep[BATCH];
    char val[BATCH][24];
    for (size_t off = 0; off < n; off += BATCH) {
        size_t k = n - off < BATCH ? n - off : BATCH;
        for (size_t j = 0; j < k; j++) {
            const struct rh_event *x = &ev[off + j];
            vexfs__v1__event__init(&e[j]);
            vexfs__v1__event__content_entry__init(&ce[j]);
            int type = 0;
            ck_assert_int_eq(vx_event_type_parse(x->type, &type), 0);
            e[j].type = (Vexfs__V1__EventType)type;
            e[j].source = VEXFS__V1__BOUNDARY__FUSE;
            if (x->path) {
                e[j].path = (char *)x->path;
            }
            if (x->n >= 0) {
                snprintf(val[j], sizeof val[j], "%ld", x->n);
                ce[j].key = (char *)"n";
                ce[j].value = val[j];
                cep[j] = &ce[j];
                e[j].n_content = 1;
                e[j].content = &cep[j];
            }
            ptrs[j] = &e[j];
        }
        vx_batch_t b = VEXFS__V1__EVENT_BATCH__INIT;
        b.events = ptrs;
        b.n_events = k;
        b.sender = (char *)"routing-test-sender";
        b.batch_sequence = ++*bseq;
        ck_assert_int_eq(vx_wire_send(push, "events", &b, 0), 0);
    }
}

/* ---- Kafka ---------------------------------------------------------------------------- */

const char *
rh_bootstrap(void)
{
    const char *b = getenv("VEXFS_KAFKA_BOOTSTRAP");
    ck_assert_msg(b && *b, "VEXFS_KAFKA_BOOTSTRAP is not set: run through scripts/run-tests.sh, "
                           "which starts the broker");
    return b;
}

size_t
rh_read_topic(const char *topic, size_t expect, unsigned *counts, size_t max_n, size_t *other,
              json_t *samples)
{
    char err[512];
    char group[128];
    snprintf(group, sizeof group, "vexfs-rt-test-%d-%ld", (int)getpid(), (long)random());
    rd_kafka_conf_t *c = vt_kafka_conf(rh_bootstrap());
    ck_assert_msg(c != NULL, "no Kafka client settings (reason above)");
    rd_kafka_conf_set(c, "group.id", group, err, sizeof err);
    rd_kafka_conf_set(c, "auto.offset.reset", "earliest", err, sizeof err);
    rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    ck_assert_msg(rk != NULL, "consumer: %s", err);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
    ck_assert_int_eq(rd_kafka_subscribe(rk, topics), 0);
    rd_kafka_topic_partition_list_destroy(topics);
    size_t total = 0;
    *other = 0;
    time_t deadline = time(NULL) + 60;
    int idle = 0;
    while (time(NULL) < deadline && !(total >= expect && idle >= 20)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            idle++;
            continue;
        }
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        idle = 0;
        vx_event_t *e = vexfs__v1__event__unpack(NULL, m->len, m->payload);
        ck_assert_msg(e != NULL, "topic %s holds an undecodable event at offset %lld", topic,
                      (long long)m->offset);
        ck_assert_msg(m->key_len == strlen(e->path) && memcmp(m->key, e->path, m->key_len) == 0,
                      "message key is not the event's path");
        long n = s_event_n(e);
        if (n >= 0 && (size_t)n < max_n) {
            counts[n]++;
        } else {
            (*other)++;
        }
        if (samples && json_array_size(samples) < 64) {
            json_array_append_new(samples, vx_event_to_json(e));
        }
        total++;
        vexfs__v1__event__free_unpacked(e, NULL);
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return total;
}
