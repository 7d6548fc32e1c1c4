/* SPDX-License-Identifier: Apache-2.0 */
/* The acknowledged hops producer -> propagation -> routing -> boundary, with real processes
 * killed with kill -9 mid-stream: a producer's acknowledged link (vx_link, as vexfs-watch
 * uses it) sends a steady numbered stream to propagation's acknowledged ingest; propagation
 * (output_acked) hands it to routing (input_acked), which routes it to the automation
 * boundary that the test reads. Every event the producer had acknowledged must reach the
 * boundary at least once; the copies are bounded by what was resent; routing's counters after
 * its restart say what happened (no gap where nothing was lost). */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "prop_harness.h"
#include "rt_harness.h"
#include "vx_clock.h"
#include "vx_link.h"
#include "vx_metrics.h"
#include "vx_test.h"

#define S_N 30000      /* events in the stream */
#define S_BATCH 50     /* events per producer batch */
#define S_DEADLINE_MS 180000

static const char *const s_rules =
    "{\"rules\":[{\"id\":\"all\",\"conditions\":{\"event_types\":[\"filesystem_write\"]},"
    "\"target_boundaries\":[\"automation\"]}],\"filters\":[]}";

/* The producer: an acknowledged link to propagation's acknowledged ingest. */
struct s_producer {
    vx_metrics_t *metrics;
    vx_link_t *link;
    size_t next;  /* next event number to put */
    size_t limit; /* put events below this (S_N unless a test says less) */
};

static void
s_producer_init(struct s_producer *p, const struct ph_daemon *prop)
{
    char err[512];
    p->metrics = vx_metrics_new();
    struct vx_link_config lc = {
        .ingest_endpoint = prop->ingest,
        .ack_endpoint = prop->acked,
        .ack_window_batches = 32,
        .ack_timeout_ms = 3000,
        .buffer_max_batches = 256,
        .retry_interval_ms = 10,
    };
    p->link = vx_link_new(&lc, vt_socks(false), "test_producer", "dropped", p->metrics, err,
                          sizeof err);
    ck_assert_msg(p->link != NULL, "producer link: %s", err);
    p->next = 0;
    p->limit = S_N;
}

static void
s_producer_fini(struct s_producer *p)
{
    vx_link_destroy(&p->link);
    vx_metrics_destroy(&p->metrics);
}

/* Puts the next batch of the stream when the link has room. */
static void
s_producer_put(struct s_producer *p)
{
    if (p->next >= p->limit || vx_link_room(p->link) == 0) {
        return;
    }
    vx_event_t e[S_BATCH];
    vx_event_t *ptrs[S_BATCH];
    Vexfs__V1__Event__ContentEntry ce[S_BATCH];
    Vexfs__V1__Event__ContentEntry *cep[S_BATCH];
    char val[S_BATCH][24], path[S_BATCH][48];
    size_t k = p->limit - p->next < S_BATCH ? p->limit - p->next : S_BATCH;
    for (size_t j = 0; j < k; j++) {
        size_t n = p->next + j;
        vexfs__v1__event__init(&e[j]);
        vexfs__v1__event__content_entry__init(&ce[j]);
        e[j].type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE;
        e[j].source = VEXFS__V1__BOUNDARY__FUSE;
        snprintf(path[j], sizeof path[j], "/acked/f%zu", n % 97);
        e[j].path = path[j];
        snprintf(val[j], sizeof val[j], "%zu", n);
        ce[j].key = (char *)"n";
        ce[j].value = val[j];
        cep[j] = &ce[j];
        e[j].n_content = 1;
        e[j].content = &cep[j];
        ptrs[j] = &e[j];
    }
    vx_link_put(p->link, ptrs, k, "acked-hops-producer");
    p->next += k;
}

/* Pumps the producer for up to ms: puts, sends, reads acknowledgements. */
static void
s_producer_run(struct s_producer *p, int ms)
{
    uint64_t end = vx_mono_ns() + (uint64_t)ms * VX_NS_PER_MS;
    do {
        s_producer_put(p);
        vx_link_pump(p->link, vx_mono_ns());
        zmq_pollitem_t it[2];
        size_t k = vx_link_pollitems(p->link, it);
        zmq_poll(it, (int)k, 5);
    } while (vx_mono_ns() < end);
}

static bool
s_producer_done(const struct s_producer *p)
{
    struct vx_link_stats st;
    vx_link_stats(p->link, &st);
    return p->next >= S_N && st.held == 0;
}

/* Runs the producer until it put n events or the collector saw `seen` of them. */
static void
s_run_until(struct s_producer *p, struct rh_collector *c, size_t seen)
{
    uint64_t end = vt_now_ms() + S_DEADLINE_MS;
    while (atomic_load(&c->total) < seen && vt_now_ms() < end) {
        s_producer_run(p, 20);
    }
    ck_assert_msg(atomic_load(&c->total) >= seen, "the boundary saw %zu events, expected %zu",
                  (size_t)atomic_load(&c->total), seen);
}

/* Runs the producer until every event was put and acknowledged, then waits for the boundary
 * to hold every event once; returns the boundary's duplicates. */
static size_t
s_finish(struct s_producer *p, struct rh_collector *c)
{
    uint64_t end = vt_now_ms() + S_DEADLINE_MS;
    while (!s_producer_done(p) && vt_now_ms() < end) {
        s_producer_run(p, 20);
    }
    struct vx_link_stats st;
    vx_link_stats(p->link, &st);
    ck_assert_msg(s_producer_done(p), "producer: %zu of %d events put, %zu batches held "
                  "(unacknowledged) after %d ms",
                  p->next, S_N, st.held, S_DEADLINE_MS);
    ck_assert_uint_eq(st.acked_events, S_N);
    ck_assert_uint_eq(st.dropped_events, 0);
    /* Every acknowledged event reaches the boundary: wait until each number was seen. */
    size_t missing = 0, first_missing = 0;
    for (;;) {
        missing = 0;
        for (size_t i = 0; i < S_N; i++) {
            if (atomic_load(&c->counts[i]) == 0 && missing++ == 0) {
                first_missing = i;
            }
        }
        if (missing == 0 || vt_now_ms() >= end) {
            break;
        }
        vt_sleep_ms(50);
    }
    ck_assert_msg(missing == 0, "%zu acknowledged events never reached the boundary (first: "
                  "%zu)", missing, first_missing);
    return atomic_load(&c->total) - S_N;
}

/* Sends the stream on up to event `upto` and waits until every event below it arrived. */
static void
s_finish_more(struct s_producer *p, struct rh_collector *c, size_t upto)
{
    uint64_t end = vt_now_ms() + S_DEADLINE_MS;
    p->limit = upto;
    while ((p->next < upto || vx_link_held(p->link) > 0) && vt_now_ms() < end) {
        s_producer_run(p, 20);
    }
    ck_assert_uint_eq(vx_link_held(p->link), 0);
    size_t missing = 1;
    while (missing && vt_now_ms() < end) {
        missing = 0;
        for (size_t i = 0; i < upto; i++) {
            missing += atomic_load(&c->counts[i]) == 0;
        }
        if (missing) {
            vt_sleep_ms(50);
        }
    }
    ck_assert_msg(missing == 0, "%zu events below %zu never arrived", missing, upto);
}

static void
s_kill9(pid_t *pid)
{
    ck_assert_int_eq(kill(*pid, SIGKILL), 0);
    int status = 0;
    ck_assert_int_eq(waitpid(*pid, &status, 0), *pid);
    *pid = 0;
}

START_TEST(t_routing_kill9_midstream_loses_nothing)
{
    struct ph_daemon prop;
    ph_start(&prop, "  output_acked: true\n  output_ack_timeout_ms: 2000\n", NULL);
    struct rh_daemon rt;
    rh_start(&rt, prop.output, "  input_acked: true\n");
    rh_expect(&rt, "PUT", "/v1/rules", s_rules, 200);
    struct rh_collector col;
    rh_collect_start(&col, rh_out(&rt, "automation"), S_N);
    struct s_producer p;
    s_producer_init(&p, &prop);

    s_run_until(&p, &col, S_N / 3);
    /* Stopped first, so propagation's window fills with batches routing has in its queue or
     * never read: the kill -9 then takes unacknowledged batches with it. */
    ck_assert_int_eq(kill(rt.pid, SIGSTOP), 0);
    s_producer_run(&p, 300);
    s_kill9(&rt.pid);
    /* Propagation holds what routing had not acknowledged; the producer keeps sending. */
    s_producer_run(&p, 300);
    rh_restart(&rt);
    size_t dups = s_finish(&p, &col);

    /* Propagation saw the connection go (not only a timeout), and sent what it took again. */
    ck_assert_msg(ph_metric(&prop, "vexfs_propagation_output_link_resets_total") >= 1,
                  "propagation did not notice routing's connection drop");
    /* Copies come only from resends: bounded by what propagation sent again. */
    double resent = ph_metric(&prop, "vexfs_propagation_output_events_resent_total");
    ck_assert_msg((double)dups <= resent, "%zu copies at the boundary, only %.0f events resent",
                  dups, resent);
    /* The restarted routing remembered propagation's sequence: no batch was lost, so no gap;
     * resends of batches it had taken are counted as duplicates, not routed. */
    double gaps = rh_metric(&rt, "vexfs_sequence_gaps_total{link=\"propagation\"}");
    ck_assert_msg(gaps == 0, "routing counted %.0f missing batches; nothing was lost", gaps);
    double rdup = rh_metric(&rt, "vexfs_routing_input_duplicate_events_total");
    double decided = rh_metric(&rt, "vexfs_events_processed_total");
    ck_assert_msg(rdup >= 0 && decided >= 0, "routing's input counters are missing");
    /* What the restarted routing took as new plus what it refused as copies is what
     * propagation sent it: nothing it routed is counted twice. */
    ck_assert_msg(decided + rdup <= (double)S_N + resent, "routing decided %.0f and refused "
                  "%.0f copies of %d events (%.0f resent)", decided, rdup, S_N, resent);
    fprintf(stderr, "routing kill -9: %zu copies at the boundary, %.0f events resent by "
            "propagation, %.0f refused by the restarted routing as duplicates\n", dups, resent,
            rdup);
    s_producer_fini(&p);
    rh_collect_stop(&col);
    rh_stop(&rt);
    ph_stop(&prop);
}
END_TEST

START_TEST(t_propagation_kill9_with_journal_loses_nothing)
{
    char yaml[512], topic[128];
    snprintf(topic, sizeof topic, "vexfs.test.acked%d.%ld", (int)getpid(), (long)time(NULL));
    snprintf(yaml, sizeof yaml,
             "  output_acked: true\n  kafka_brokers: \"%s\"\n  kafka_topic: \"%s\"\n",
             rh_bootstrap(), topic);
    struct ph_daemon prop;
    ph_start(&prop, yaml, NULL);
    struct rh_daemon rt;
    rh_start(&rt, prop.output, "  input_acked: true\n");
    rh_expect(&rt, "PUT", "/v1/rules", s_rules, 200);
    struct rh_collector col;
    rh_collect_start(&col, rh_out(&rt, "automation"), S_N);
    struct s_producer p;
    s_producer_init(&p, &prop);

    s_run_until(&p, &col, S_N / 3);
    ph_kill9(&prop);
    s_producer_run(&p, 300);
    ph_restart(&prop);
    size_t dups = s_finish(&p, &col);

    struct vx_link_stats st;
    vx_link_stats(p.link, &st);
    ck_assert_msg(dups <= st.resent_events, "%zu copies at the boundary, only %llu events "
                  "resent by the producer",
                  dups, (unsigned long long)st.resent_events);
    /* The restarted propagation is a new sender to routing (its numbering starts again):
     * no gap, and nothing taken for a copy of the old run's batches. */
    double gaps = rh_metric(&rt, "vexfs_sequence_gaps_total{link=\"propagation\"}");
    ck_assert_msg(gaps == 0, "routing counted %.0f missing batches; nothing was lost", gaps);
    fprintf(stderr, "propagation kill -9: %zu copies at the boundary, %llu events resent by "
            "the producer\n", dups, (unsigned long long)st.resent_events);
    s_producer_fini(&p);
    rh_collect_stop(&col);
    rh_stop(&rt);
    ph_stop(&prop);
}
END_TEST

/* Resends that reach routing after their original are acknowledged again and never routed:
 * with a 1 ms acknowledgement timeout propagation sends a batch again whenever routing is
 * slower than that (and certainly while routing is stopped for a moment mid-stream), and the
 * boundary still sees each event exactly once. Routing's record of the sender survives its
 * kill -9. */
START_TEST(t_resends_are_refused_not_routed)
{
    enum { N = 5000 };
    struct ph_daemon prop;
    ph_start(&prop, "  output_acked: true\n  output_ack_timeout_ms: 1\n", NULL);
    struct rh_daemon rt;
    rh_start(&rt, prop.output, "  input_acked: true\n");
    rh_expect(&rt, "PUT", "/v1/rules", s_rules, 200);
    struct rh_collector col;
    rh_collect_start(&col, rh_out(&rt, "automation"), S_N);
    struct s_producer p;
    s_producer_init(&p, &prop);
    p.limit = N;
    s_run_until(&p, &col, N / 2);
    /* Routing stopped for a moment with batches on their way: every one outlives the 1 ms
     * timeout, so propagation sends it again however fast routing is otherwise. */
    kill(rt.pid, SIGSTOP);
    s_producer_run(&p, 300);
    kill(rt.pid, SIGCONT);
    s_finish_more(&p, &col, N);
    /* Quiet now: every resend has reached routing; nothing more may arrive. */
    vt_sleep_ms(1000);
    ck_assert_uint_eq(atomic_load(&col.total), N);
    for (size_t i = 0; i < N; i++) {
        ck_assert_msg(atomic_load(&col.counts[i]) == 1, "event %zu arrived %u times", i,
                      atomic_load(&col.counts[i]));
    }
    double resent = ph_metric(&prop, "vexfs_propagation_output_batches_resent_total");
    double dups = rh_metric(&rt, "vexfs_routing_input_duplicates_total");
    ck_assert_msg(resent > 0, "no batch was resent with a 1 ms timeout");
    ck_assert_msg(dups == resent, "routing refused %.0f copies, propagation resent %.0f", dups,
                  resent);
    ck_assert_double_eq(rh_metric(&rt, "vexfs_sequence_gaps_total{link=\"propagation\"}"), 0);

    /* Restarted after kill -9, routing still knows propagation's sender. */
    s_kill9(&rt.pid);
    rh_restart(&rt);
    ck_assert_double_eq(rh_metric(&rt, "vexfs_routing_input_senders"), 1);
    s_finish_more(&p, &col, N + 1000);
    ck_assert_double_eq(rh_metric(&rt, "vexfs_sequence_gaps_total{link=\"propagation\"}"), 0);
    s_producer_fini(&p);
    rh_collect_stop(&col);
    rh_stop(&rt);
    ph_stop(&prop);
}
END_TEST

/* Two routing instances on one propagation (each its own boundary socket; the consumer reads
 * both): the DEALER shares the batches between them, and when one is killed with kill -9
 * mid-stream, what it had not answered goes to the other; every acknowledged event still
 * reaches a boundary. */
START_TEST(t_two_routings_share_the_output)
{
    struct ph_daemon prop;
    ph_start(&prop, "  output_acked: true\n  output_ack_timeout_ms: 2000\n", NULL);
    struct rh_daemon a, b;
    rh_start(&a, prop.output, "  input_acked: true\n");
    rh_start(&b, prop.output, "  input_acked: true\n");
    rh_expect(&a, "PUT", "/v1/rules", s_rules, 200);
    rh_expect(&b, "PUT", "/v1/rules", s_rules, 200);
    char both[160];
    snprintf(both, sizeof both, "%s,%s", rh_out(&a, "automation"), rh_out(&b, "automation"));
    struct rh_collector col;
    rh_collect_start(&col, both, S_N);
    struct s_producer p;
    s_producer_init(&p, &prop);

    s_run_until(&p, &col, S_N / 3);
    double took_a = rh_metric(&a, "vexfs_events_processed_total");
    double took_b = rh_metric(&b, "vexfs_events_processed_total");
    ck_assert_msg(took_a > 0 && took_b > 0, "the output was not shared: routing A decided %.0f "
                  "events, B %.0f", took_a, took_b);
    ck_assert_int_eq(kill(a.pid, SIGSTOP), 0);
    s_producer_run(&p, 300);
    s_kill9(&a.pid);
    size_t dups = s_finish(&p, &col);
    double resent = ph_metric(&prop, "vexfs_propagation_output_events_resent_total");
    ck_assert_msg(resent > 0, "nothing was resent after routing A was killed");
    ck_assert_msg((double)dups <= resent, "%zu copies at the boundaries, only %.0f events resent",
                  dups, resent);
    fprintf(stderr, "two routings: A decided %.0f and B %.0f events before the kill; %zu copies, "
            "%.0f events resent\n", took_a, took_b, dups, resent);
    s_producer_fini(&p);
    rh_collect_stop(&col);
    rh_stop(&b);
    ph_stop(&prop);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("acked_hops");
    TCase *tc = tcase_create("kill9");
    tcase_set_timeout(tc, 400);
    tcase_add_test(tc, t_routing_kill9_midstream_loses_nothing);
    tcase_add_test(tc, t_propagation_kill9_with_journal_loses_nothing);
    tcase_add_test(tc, t_resends_are_refused_not_routed);
    tcase_add_test(tc, t_two_routings_share_the_output);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
