/* SPDX-License-Identifier: Apache-2.0 */
/* vexfs-propagation against a real Kafka broker: every accepted event is journaled exactly
 * once, SIGTERM flushes the journal, and an acknowledged durable REST ingest survives kill -9.
 * The broker's address comes from VEXFS_KAFKA_BOOTSTRAP (scripts/run-tests.sh starts it); the
 * tests fail, never skip, without it. */
#include <check.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kafka_harness.h"
#include "prop_harness.h"
#include "vx_test.h"
#include "vx_wire.h"

/* Drains propagation's output so the pipeline never backs up. */
struct s_drain {
    const char *endpoint;
    atomic_bool stop;
    atomic_size_t events;
    pthread_t thread;
};

static void *
s_drain_main(void *arg)
{
    struct s_drain *d = arg;
    zsock_t *pull = vt_sock_ex(&(struct vt_sock_opts){.type = ZMQ_PULL, .endpoint = d->endpoint,
                                                      .rcvtimeo_ms = 100});
    ck_assert_ptr_nonnull(pull);
    vx_arena_t *a = vx_arena_new(1 << 20, 0);
    while (!atomic_load(&d->stop)) {
        struct vx_wire_msg m;
        if (vx_wire_recv(pull, &m, 0) < 0) {
            continue;
        }
        vx_batch_t *b = vx_wire_decode(zmq_msg_data(&m.body), zmq_msg_size(&m.body), a);
        if (b) {
            atomic_fetch_add(&d->events, b->n_events);
        }
        vx_wire_msg_fini(&m);
        vx_arena_reset(a);
    }
    vx_arena_destroy(&a);
    zsock_destroy(&pull);
    return NULL;
}

static void
s_drain_start(struct s_drain *d, const char *endpoint)
{
    d->endpoint = endpoint;
    atomic_init(&d->stop, false);
    atomic_init(&d->events, 0);
    /* CZMQ creates its context at the first socket; two threads doing that at once race. */
    zsys_init();
    pthread_create(&d->thread, NULL, s_drain_main, d);
}

static void
s_drain_stop(struct s_drain *d)
{
    atomic_store(&d->stop, true);
    pthread_join(d->thread, NULL);
}


START_TEST(t_every_event_journaled_once_and_sigterm_flushes)
{
    char topic[200], yaml[512];
    kh_topic(topic, sizeof topic, "once");
    snprintf(yaml, sizeof yaml, "  kafka_brokers: \"%s\"\n  kafka_topic: \"%s\"\n", kh_bootstrap(),
             topic);
    struct ph_daemon d;
    ph_start(&d, yaml, NULL);
    struct s_drain drain;
    s_drain_start(&drain, d.output);
    zsock_t *push = ph_push(&d);
    enum { TOTAL = 20000, BATCH = 100 };
    vx_event_t ev[BATCH];
    vx_event_t *ptrs[BATCH];
    Vexfs__V1__Event__ContentEntry ce[BATCH];
    Vexfs__V1__Event__ContentEntry *cep[BATCH];
    char val[BATCH][16], path[BATCH][32];
    for (int sent = 0, bs = 1; sent < TOTAL; bs++) {
        for (int k = 0; k < BATCH; k++, sent++) {
            vx_event_t init = VEXFS__V1__EVENT__INIT;
            Vexfs__V1__Event__ContentEntry cinit = VEXFS__V1__EVENT__CONTENT_ENTRY__INIT;
            ev[k] = init;
            ce[k] = cinit;
            snprintf(val[k], sizeof val[k], "%d", sent);
            snprintf(path[k], sizeof path[k], "/k/%d", sent % 97);
            ce[k].key = (char *)"n";
            ce[k].value = val[k];
            cep[k] = &ce[k];
            ev[k].type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE;
            ev[k].path = path[k];
            ev[k].n_content = 1;
            ev[k].content = &cep[k];
            ptrs[k] = &ev[k];
        }
        vx_batch_t b = VEXFS__V1__EVENT_BATCH__INIT;
        b.events = ptrs;
        b.n_events = BATCH;
        b.sender = (char *)"kafka-test";
        b.batch_sequence = (uint64_t)bs;
        ck_assert_int_eq(vx_wire_send(push, "events", &b, 0), 0);
    }
    /* Stop as soon as the daemon has received everything: SIGTERM must flush the journal. */
    for (int i = 0; i < 1000 && ph_metric(&d, "vexfs_events_received_total{channel=\"zmq\"}") <
                                   TOTAL;
         i++) {
        usleep(10 * 1000);
    }
    int st = ph_stop(&d);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
    s_drain_stop(&drain);
    zsock_destroy(&push);
    ck_assert_uint_eq(atomic_load(&drain.events), TOTAL);

    size_t total = 0;
    json_t *ids = kh_read_topic(topic, TOTAL, &total);
    ck_assert_msg(total == TOTAL, "expected %d events in %s, found %zu", TOTAL, topic, total);
    ck_assert_uint_eq(json_object_size(ids), TOTAL); /* no id twice */
    json_decref(ids);
}
END_TEST

struct s_poster {
    uint16_t port;
    atomic_bool stop;
    atomic_int acked_requests;
    json_t *acked_ids; /* only the poster thread writes it until joined */
    int failures_before_kill;
    pthread_t thread;
};

static void *
s_poster_main(void *arg)
{
    struct s_poster *p = arg;
    for (int req = 0; !atomic_load(&p->stop); req++) {
        char body[2048];
        size_t n = 0;
        n += (size_t)snprintf(body + n, sizeof body - n, "[");
        for (int k = 0; k < 10; k++) {
            n += (size_t)snprintf(body + n, sizeof body - n,
                                  "%s{\"type\":\"filesystem_write\",\"path\":\"/d/%d\","
                                  "\"content\":{\"req\":\"%d\",\"k\":\"%d\"}}",
                                  k ? "," : "", k, req, k);
        }
        snprintf(body + n, sizeof body - n, "]");
        struct vt_http_result r;
        int rc = vt_http("POST", p->port, "/v1/events?durable=true", body, strlen(body), PH_TOKEN,
                         &r);
        if (rc == 0 && r.status == 200) {
            json_t *j = json_loads(r.body, 0, NULL);
            size_t i;
            json_t *id;
            json_array_foreach(json_object_get(j, "ids"), i, id) {
                json_array_append(p->acked_ids, id);
            }
            json_decref(j);
            atomic_fetch_add(&p->acked_requests, 1);
        } else if (rc != 0) {
            vt_http_result_fini(&r);
            break; /* the daemon is gone */
        } else {
            p->failures_before_kill++;
        }
        vt_http_result_fini(&r);
    }
    return NULL;
}

START_TEST(t_durable_ack_survives_kill9)
{
    char topic[200], yaml[512];
    kh_topic(topic, sizeof topic, "durable");
    snprintf(yaml, sizeof yaml, "  kafka_brokers: \"%s\"\n  kafka_topic: \"%s\"\n", kh_bootstrap(),
             topic);
    struct ph_daemon d;
    ph_start(&d, yaml, NULL);
    struct s_drain drain;
    s_drain_start(&drain, d.output);
    struct s_poster p = {.port = d.rest_port, .acked_ids = json_array()};
    atomic_init(&p.stop, false);
    atomic_init(&p.acked_requests, 0);
    pthread_create(&p.thread, NULL, s_poster_main, &p);
    for (int i = 0; i < 3000 && atomic_load(&p.acked_requests) < 40; i++) {
        usleep(10 * 1000);
    }
    ck_assert_msg(atomic_load(&p.acked_requests) >= 40, "only %d durable requests acknowledged",
                  atomic_load(&p.acked_requests));
    ph_kill9(&d); /* in the middle of the stream */
    atomic_store(&p.stop, true);
    pthread_join(p.thread, NULL);
    s_drain_stop(&drain);
    ck_assert_int_eq(p.failures_before_kill, 0);

    size_t acked = json_array_size(p.acked_ids);
    size_t total = 0;
    json_t *ids = kh_read_topic(topic, acked, &total);
    size_t missing = 0;
    size_t i;
    json_t *id;
    json_array_foreach(p.acked_ids, i, id) {
        if (!json_object_get(ids, json_string_value(id))) {
            missing++;
        }
    }
    ck_assert_msg(missing == 0, "%zu of %zu acknowledged events missing from %s", missing, acked,
                  topic);
    ck_assert_uint_ge(total, acked);
    json_decref(ids);
    json_decref(p.acked_ids);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("kafka");
    TCase *tc = tcase_create("journal");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, t_every_event_journaled_once_and_sigterm_flushes);
    tcase_add_test(tc, t_durable_ack_survives_kill9);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
