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

#include "coord_harness.h"
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
    size_t counted_paths; /* >0: paths /coord/f<n % this>, each event counter.n += 1 */
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
    Vexfs__V1__Event__MetadataEntry me[S_BATCH];
    Vexfs__V1__Event__MetadataEntry *mep[S_BATCH];
    size_t k = p->limit - p->next < S_BATCH ? p->limit - p->next : S_BATCH;
    for (size_t j = 0; j < k; j++) {
        size_t n = p->next + j;
        vexfs__v1__event__init(&e[j]);
        vexfs__v1__event__metadata_entry__init(&me[j]);
        vexfs__v1__event__content_entry__init(&ce[j]);
        e[j].type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE;
        e[j].source = VEXFS__V1__BOUNDARY__FUSE;
        snprintf(path[j], sizeof path[j], "/acked/f%zu", n % 97);
        if (p->counted_paths) {
            snprintf(path[j], sizeof path[j], "/coord/f%zu", n % p->counted_paths);
            me[j].key = (char *)"counter.n";
            me[j].value = (char *)"1";
            mep[j] = &me[j];
            e[j].n_metadata = 1;
            e[j].metadata = &mep[j];
        }
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
    /* The boundary acknowledged too: over a plain PUSH, a batch routing had queued (and so
     * acknowledged to propagation) dies with it, as the README says of plain boundaries. No
     * resends of routing's own (its timeout is long), so every copy at the boundary comes
     * from propagation's. */
    rh_start(&rt, prop.output,
             "  input_acked: true\n  boundary_acked: \"automation\"\n"
             "  boundary_ack_timeout_ms: 600000\n");
    rh_expect(&rt, "PUT", "/v1/rules", s_rules, 200);
    struct rh_collector col;
    rh_collect_start_acked(&col, rh_out(&rt, "automation"), S_N);
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

/* ---- acknowledged boundaries (routing boundary_acked) ------------------------------------ */

#define S_AU_TOKEN "automation-token"

/* A real vexfs-automation on routing's acknowledged automation boundary (input_acked), its
 * senders record in its state folder. */
struct s_au {
    pid_t pid;
    uint16_t port;
    char dir[256], cfgpath[300], log[300];
};

static void
s_au_spawn(struct s_au *d)
{
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-automation", vt_bin_dir());
    char *argv[] = {bin, (char *)"--config", d->cfgpath, NULL};
    d->pid = vt_spawn(argv, NULL, d->log);
    ck_assert_int_gt(d->pid, 0);
    ck_assert_msg(vt_wait_ready(d->port, 30000), "automation not ready; log in %s", d->log);
}

static void
s_au_start(struct s_au *d, const char *input)
{
    memset(d, 0, sizeof *d);
    char *dir = vt_tmpdir();
    ck_assert_ptr_nonnull(dir);
    snprintf(d->dir, sizeof d->dir, "%s", dir);
    free(dir);
    d->port = vt_free_port();
    char tok[300], cfg[4096];
    snprintf(tok, sizeof tok, "%s/token", d->dir);
    snprintf(d->cfgpath, sizeof d->cfgpath, "%s/vexfs.yaml", d->dir);
    snprintf(d->log, sizeof d->log, "%s/automation.log", d->dir);
    ck_assert_int_eq(vt_write_file(tok, S_AU_TOKEN "\n"), 0);
    snprintf(cfg, sizeof cfg,
             "reactive_automation:\n  rest_port: %u\n  input_endpoint: %s\n"
             "  input_acked: true\n  state_dir: %s/state\n"
             "admin:\n  token_file: %s\nlogging:\n  level: info\n",
             (unsigned)d->port, input, d->dir, tok);
    ck_assert_int_eq(vt_write_file(d->cfgpath, cfg), 0);
    s_au_spawn(d);
}

static double
s_au_metric(const struct s_au *d, const char *series)
{
    return vt_metric(d->port, series);
}

static void
s_au_stop(struct s_au *d)
{
    int status = vt_stop(d->pid, SIGTERM, 30000);
    d->pid = 0;
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "automation did not exit cleanly (status %d); log in %s", status, d->log);
}

/* Waits until the automation run counted at least n events. */
struct s_au_wait {
    const struct s_au *d;
    double n;
};

static bool
cb_au_events(void *arg)
{
    const struct s_au_wait *w = arg;
    return s_au_metric(w->d, "vexfs_automation_events_total") >= w->n;
}

/* Runs the producer until the automation run counted n events. */
static void
s_run_until_au(struct s_producer *p, const struct s_au *au, double n)
{
    uint64_t end = vt_now_ms() + S_DEADLINE_MS;
    struct s_au_wait w = {au, n};
    while (!cb_au_events(&w) && vt_now_ms() < end) {
        s_producer_run(p, 50);
    }
    ck_assert_msg(cb_au_events(&w), "automation counted %.0f events, expected %.0f",
                  s_au_metric(au, "vexfs_automation_events_total"), n);
}

/* A routing counter that stopped moving: read until the same value comes 5 times in a row,
 * 100 ms apart (the consumer is stopped, so only acknowledgements already on the way can
 * still arrive). */
static double
s_settled(const struct rh_daemon *rt, const char *series)
{
    double last = -2;
    int same = 0;
    uint64_t end = vt_now_ms() + 30000;
    while (same < 5 && vt_now_ms() < end) {
        double v = rh_metric(rt, series);
        same = v == last ? same + 1 : 0;
        last = v;
        vt_sleep_ms(100);
    }
    ck_assert_msg(same >= 5, "%s never settled (last %.0f)", series, last);
    return last;
}

#define S_RT_ACKED_YAML                                                                       \
    "  input_acked: true\n  boundary_acked: \"automation\"\n"                                \
    "  boundary_ack_timeout_ms: 1000\n"
#define S_AU_ACKED "vexfs_routing_boundary_acked_events_total{boundary=\"automation\"}"
#define S_AU_RESENT "vexfs_routing_boundary_resent_events_total{boundary=\"automation\"}"
#define S_LOST_RT "vexfs_events_lost_total{hop=\"routing_to_boundary\",reason=\"shutdown\"}"

/* The chain the restart tests share: propagation (acknowledged output) -> routing
 * (acknowledged input, automation's boundary acknowledged) -> automation, with the producer
 * run until automation counted a third of the stream. */
struct s_chain {
    struct ph_daemon prop;
    struct rh_daemon rt;
    struct s_au au;
    struct s_producer p;
};

static void
s_chain_start(struct s_chain *c)
{
    ph_start(&c->prop, "  output_acked: true\n  output_ack_timeout_ms: 2000\n", NULL);
    rh_start(&c->rt, c->prop.output, S_RT_ACKED_YAML);
    rh_expect(&c->rt, "PUT", "/v1/rules", s_rules, 200);
    s_au_start(&c->au, rh_out(&c->rt, "automation"));
    s_producer_init(&c->p, &c->prop);
    s_run_until_au(&c->p, &c->au, S_N / 3);
}

/* Runs the producer until propagation acknowledged every event it put. */
static void
s_chain_put_all(struct s_chain *c)
{
    uint64_t end = vt_now_ms() + S_DEADLINE_MS;
    while (!s_producer_done(&c->p) && vt_now_ms() < end) {
        s_producer_run(&c->p, 20);
    }
    ck_assert_msg(s_producer_done(&c->p), "the producer's events were not all acknowledged");
}

static void
s_chain_stop(struct s_chain *c)
{
    s_producer_fini(&c->p);
    s_au_stop(&c->au);
    rh_stop(&c->rt);
    ph_stop(&c->prop);
}

/* The consumer killed with kill -9 mid-stream and started again: routing keeps what it had
 * not acknowledged and sends it again, so every event the killed run had not acknowledged is
 * taken by the new run, and the new run's copies of what the old one had acknowledged are
 * refused as duplicates (its senders record survived in its state folder). */
START_TEST(t_boundary_consumer_kill9_delivers_at_least_once)
{
    struct s_chain c;
    s_chain_start(&c);
    struct s_au *au = &c.au;
    /* Stopped first: batches pile up unacknowledged in routing's window towards it. */
    ck_assert_int_eq(kill(au->pid, SIGSTOP), 0);
    s_producer_run(&c.p, 500);
    double acked_before = s_settled(&c.rt, S_AU_ACKED);
    ck_assert_int_eq(kill(au->pid, SIGKILL), 0);
    int status = 0;
    ck_assert_int_eq(waitpid(au->pid, &status, 0), au->pid);
    s_producer_run(&c.p, 300);
    s_au_spawn(au);

    /* Everything put reaches routing (propagation's acknowledgements) ... */
    s_chain_put_all(&c);
    /* ... and every event the killed run had not acknowledged reaches the new run. */
    double want = (double)S_N - acked_before;
    struct s_au_wait w = {au, want};
    ck_assert_msg(vt_wait_until(cb_au_events, &w, S_DEADLINE_MS),
                  "the restarted automation counted %.0f events, expected at least %.0f (%d "
                  "routed, %.0f acknowledged by the killed run)",
                  s_au_metric(au, "vexfs_automation_events_total"), want, S_N, acked_before);
    /* Routing finishes: every event it routed to automation was acknowledged. */
    uint64_t end = vt_now_ms() + S_DEADLINE_MS;
    double acked = 0;
    while ((acked = rh_metric(&c.rt, S_AU_ACKED)) < S_N && vt_now_ms() < end) {
        vt_sleep_ms(50);
    }
    ck_assert_msg(acked >= S_N, "routing has %.0f of %d events acknowledged by automation",
                  acked, S_N);
    double resent = rh_metric(&c.rt, S_AU_RESENT);
    ck_assert_msg(resent > 0, "routing resent nothing to the restarted automation");
    double got = s_au_metric(au, "vexfs_automation_events_total");
    double dups = s_au_metric(au, "vexfs_automation_input_duplicate_events_total");
    /* The new run's events are what the old one had not acknowledged, plus at most the
     * resent events it could not know as taken. */
    ck_assert_msg(got <= want + resent, "the restarted automation counted %.0f events, more "
                  "than %.0f unacknowledged plus %.0f resent", got, want, resent);
    ck_assert_msg(dups >= 0, "vexfs_automation_input_duplicate_events_total is missing");
    ck_assert_double_eq(s_au_metric(au, "vexfs_automation_lost_batches_total"), 0);
    ck_assert_double_eq(rh_metric(&c.rt, S_LOST_RT), 0);
    fprintf(stderr, "automation kill -9: %.0f acknowledged by the killed run, %.0f taken by the "
            "new one, %.0f resent by routing, %.0f refused as duplicates\n", acked_before, got,
            resent, dups);
    s_chain_stop(&c);
}
END_TEST

/* Resends to an acknowledged boundary are refused by its consumer, not processed: with a
 * 1 ms acknowledgement timeout routing sends batches again whenever automation is slower
 * (certainly while it is stopped), and the duplicates automation counts equal what routing
 * resent; its events count stays exactly the number routed. */
START_TEST(t_boundary_resends_are_counted_not_processed)
{
    enum { N = 5000 };
    struct ph_daemon prop;
    ph_start(&prop, "  output_acked: true\n", NULL);
    struct rh_daemon rt;
    rh_start(&rt, prop.output,
             "  input_acked: true\n  boundary_acked: \"automation\"\n"
             "  boundary_ack_timeout_ms: 1\n");
    rh_expect(&rt, "PUT", "/v1/rules", s_rules, 200);
    struct s_au au;
    s_au_start(&au, rh_out(&rt, "automation"));
    struct s_producer p;
    s_producer_init(&p, &prop);
    p.limit = N;
    s_run_until_au(&p, &au, N / 2);
    kill(au.pid, SIGSTOP);
    s_producer_run(&p, 300);
    kill(au.pid, SIGCONT);
    uint64_t end = vt_now_ms() + S_DEADLINE_MS;
    while ((p.next < N || vx_link_held(p.link) > 0) && vt_now_ms() < end) {
        s_producer_run(&p, 20);
    }
    while (rh_metric(&rt, S_AU_ACKED) < N && vt_now_ms() < end) {
        vt_sleep_ms(50);
    }
    ck_assert_double_eq(rh_metric(&rt, S_AU_ACKED), N);
    /* Quiet: every resend reached automation (routing holds nothing; a resend already on its
     * way is refused within the settle time). */
    double resent = s_settled(&rt, S_AU_RESENT);
    double refused = 0;
    end = vt_now_ms() + 30000;
    while ((refused = s_au_metric(&au, "vexfs_automation_input_duplicate_events_total")) <
               resent &&
           vt_now_ms() < end) {
        vt_sleep_ms(50);
    }
    ck_assert_msg(resent > 0, "no batch was resent with a 1 ms timeout");
    ck_assert_msg(refused == resent, "automation refused %.0f events as copies, routing resent "
                  "%.0f", refused, resent);
    ck_assert_double_eq(s_au_metric(&au, "vexfs_automation_events_total"), N);
    ck_assert_double_eq(s_au_metric(&au, "vexfs_automation_lost_batches_total"), 0);
    s_producer_fini(&p);
    s_au_stop(&au);
    rh_stop(&rt);
    ph_stop(&prop);
}
END_TEST

/* Routing killed with kill -9 mid-stream while its acknowledged boundary's consumer is stalled
 * (reads nothing), so routing holds routed batches in its queue and window for it: routing
 * acknowledges propagation's batches only once the consumer acknowledged their events, so
 * propagation sends again everything routing held, and every event reaches the consumer (an
 * acknowledging consumer counting each event). */
START_TEST(t_routing_kill9_acked_boundary_loses_nothing)
{
    struct ph_daemon prop;
    ph_start(&prop, "  output_acked: true\n  output_ack_timeout_ms: 2000\n", NULL);
    struct rh_daemon rt;
    /* Routing's own resends would add copies while the consumer stalls: not within this test. */
    rh_start(&rt, prop.output,
             "  input_acked: true\n  boundary_acked: \"automation\"\n"
             "  boundary_ack_timeout_ms: 600000\n");
    rh_expect(&rt, "PUT", "/v1/rules", s_rules, 200);
    struct rh_collector col;
    rh_collect_start_acked(&col, rh_out(&rt, "automation"), S_N);
    struct s_producer p;
    s_producer_init(&p, &prop);

    s_run_until(&p, &col, S_N / 3);
    atomic_store(&col.paused, true);
    /* Routing routes on into the stalled consumer's queue until its window and queue are
     * full. */
    s_producer_run(&p, 1000);
    double held = rh_metric(&rt, "vexfs_routing_boundary_queued_events{boundary=\"automation\"}");
    ck_assert_msg(held > 0, "routing holds nothing for the stalled consumer");
    s_kill9(&rt.pid);
    s_producer_run(&p, 300);
    rh_restart(&rt);
    atomic_store(&col.paused, false);
    size_t dups = s_finish(&p, &col);
    double resent = ph_metric(&prop, "vexfs_propagation_output_events_resent_total");
    ck_assert_msg((double)dups <= resent, "%zu copies at the boundary, only %.0f events resent "
                  "by propagation", dups, resent);
    ck_assert_msg(resent >= held, "propagation resent %.0f events; routing held %.0f for the "
                  "consumer when it was killed", resent, held);
    ck_assert_msg(atomic_load(&col.acks) > 0, "the consumer acknowledged nothing");
    fprintf(stderr, "routing kill -9 (acknowledged boundary): %.0f events held for the stalled "
            "consumer, %zu copies, %.0f resent by propagation\n", held, dups, resent);
    s_producer_fini(&p);
    rh_collect_stop(&col);
    rh_stop(&rt);
    ph_stop(&prop);
}
END_TEST

/* Routing stopped and started again mid-stream with the same producer_id (as a container
 * restarted in place keeps its hostname and pid 1): the new run numbers its boundary batches
 * from 1 again. The consumer remembers what it took from the old run (its senders record), so
 * unless the new run's sender differs, its batches look like resends and are refused: events
 * lost without a count. Every event must reach the consumer. */
START_TEST(t_routing_restart_batches_not_taken_for_resends)
{
    struct s_chain c;
    s_chain_start(&c);
    rh_stop(&c.rt);
    double before = s_au_metric(&c.au, "vexfs_automation_events_total");
    s_producer_run(&c.p, 300);
    rh_restart(&c.rt);
    rh_expect(&c.rt, "PUT", "/v1/rules", s_rules, 200);
    s_chain_put_all(&c);
    struct s_au_wait w = {&c.au, S_N};
    bool all = vt_wait_until(cb_au_events, &w, S_DEADLINE_MS);
    double got = s_au_metric(&c.au, "vexfs_automation_events_total");
    double dups = s_au_metric(&c.au, "vexfs_automation_input_duplicate_events_total");
    ck_assert_msg(all, "automation counted %.0f events, expected at least %d (%.0f before "
                  "routing's restart; %.0f refused as duplicates)",
                  got, S_N, before, dups);
    ck_assert_double_eq(s_au_metric(&c.au, "vexfs_automation_lost_batches_total"), 0);
    fprintf(stderr, "routing restart: %.0f events before, %.0f in all, %.0f refused as "
            "duplicates\n", before, got, dups);
    s_chain_stop(&c);
}
END_TEST

/* Analytics on routing's acknowledged analytics boundary (input_acked): resends while it is
 * stopped are answered again and refused, so its events count stays exactly what was routed
 * and the copies it refused equal what routing resent. */
START_TEST(t_boundary_analytics_resends_counted_not_windowed)
{
    enum { N = 5000 };
    static const char *const rules =
        "{\"rules\":[{\"id\":\"all\",\"conditions\":{\"event_types\":[\"filesystem_write\"]},"
        "\"target_boundaries\":[\"analytics\"]}],\"filters\":[]}";
    struct ph_daemon prop;
    ph_start(&prop, "  output_acked: true\n", NULL);
    struct rh_daemon rt;
    rh_start(&rt, prop.output,
             "  input_acked: true\n  boundary_acked: \"analytics\"\n"
             "  boundary_ack_timeout_ms: 1\n");
    rh_expect(&rt, "PUT", "/v1/rules", rules, 200);
    struct s_au an; /* the same fields: pid, REST port, folder, configuration, log */
    memset(&an, 0, sizeof an);
    char *dir = vt_tmpdir();
    snprintf(an.dir, sizeof an.dir, "%s", dir);
    free(dir);
    an.port = vt_free_port();
    char tok[300], cfg[4096];
    snprintf(tok, sizeof tok, "%s/token", an.dir);
    snprintf(an.cfgpath, sizeof an.cfgpath, "%s/vexfs.yaml", an.dir);
    snprintf(an.log, sizeof an.log, "%s/analytics.log", an.dir);
    ck_assert_int_eq(vt_write_file(tok, S_AU_TOKEN "\n"), 0);
    snprintf(cfg, sizeof cfg,
             "stream_analytics:\n  rest_port: %u\n  input_endpoint: \">%s\"\n"
             "  input_acked: true\n  state_dir: %s/state\n  results_endpoint: \"\"\n"
             "admin:\n  token_file: %s\nlogging:\n  level: info\n",
             (unsigned)an.port, rh_out(&rt, "analytics"), an.dir, tok);
    ck_assert_int_eq(vt_write_file(an.cfgpath, cfg), 0);
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-analytics", vt_bin_dir());
    char *argv[] = {bin, (char *)"--config", an.cfgpath, NULL};
    an.pid = vt_spawn(argv, NULL, an.log);
    ck_assert_msg(vt_wait_ready(an.port, 30000), "analytics not ready; log in %s", an.log);

    struct s_producer p;
    s_producer_init(&p, &prop);
    p.limit = N;
    uint64_t end = vt_now_ms() + S_DEADLINE_MS;
    while (vt_metric(an.port, "vexfs_analytics_events_total") < N / 2 && vt_now_ms() < end) {
        s_producer_run(&p, 50);
    }
    kill(an.pid, SIGSTOP);
    s_producer_run(&p, 300);
    kill(an.pid, SIGCONT);
    while ((p.next < N || vx_link_held(p.link) > 0) && vt_now_ms() < end) {
        s_producer_run(&p, 20);
    }
    const char *acked = "vexfs_routing_boundary_acked_events_total{boundary=\"analytics\"}";
    while (rh_metric(&rt, acked) < N && vt_now_ms() < end) {
        vt_sleep_ms(50);
    }
    ck_assert_double_eq(rh_metric(&rt, acked), N);
    double resent =
        s_settled(&rt, "vexfs_routing_boundary_resent_events_total{boundary=\"analytics\"}");
    double refused = 0;
    end = vt_now_ms() + 30000;
    while ((refused = vt_metric(an.port, "vexfs_analytics_input_duplicate_events_total")) <
               resent &&
           vt_now_ms() < end) {
        vt_sleep_ms(50);
    }
    ck_assert_msg(resent > 0, "no batch was resent with a 1 ms timeout");
    ck_assert_msg(refused == resent, "analytics refused %.0f events as copies, routing resent "
                  "%.0f", refused, resent);
    ck_assert_double_eq(vt_metric(an.port, "vexfs_analytics_events_total"), N);
    ck_assert_double_eq(vt_metric(an.port, "vexfs_sequence_gaps_total{link=\"routing\"}"), 0);
    s_producer_fini(&p);
    int status = vt_stop(an.pid, SIGTERM, 30000);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "analytics did not exit cleanly (status %d); log in %s", status, an.log);
    rh_stop(&rt);
    ph_stop(&prop);
}
END_TEST

/* ---- the coordinator boundary (routing boundary_acked, coordinator input_acked) --------- */

#define S_CO_N 20000
#define S_CO_PATHS 7
#define S_CO_ACKED "vexfs_routing_boundary_acked_events_total{boundary=\"coordinator\"}"
#define S_CO_RESENT "vexfs_routing_boundary_resent_events_total{boundary=\"coordinator\"}"

static const char *const s_co_rules =
    "{\"rules\":[{\"id\":\"all\",\"conditions\":{\"event_types\":[\"filesystem_write\"]},"
    "\"target_boundaries\":[\"coordinator\"]}],\"filters\":[]}";

/* The replicated state as node i reads it (linearizable): the sum over the stream's paths of
 * counter n, to which every event adds 1; -1 when a read failed. */
static long long
s_co_state(struct ch_cluster *c, size_t i)
{
    long long sum = 0;
    for (size_t k = 0; k < S_CO_PATHS; k++) {
        char path[64];
        snprintf(path, sizeof path, "/v1/state/coord/f%zu", k);
        json_t *o = NULL;
        long st = ch_req(c, i, "GET", path, NULL, &o);
        if (st == 200) {
            sum += json_integer_value(json_object_get(json_object_get(o, "counters"), "n"));
        }
        json_decref(o);
        if (st != 200 && st != 404) {
            return -1;
        }
    }
    return sum;
}

struct s_co_wait {
    struct ch_cluster *c;
    size_t node;
    double n;
};

static bool
cb_co_applied(void *arg)
{
    struct s_co_wait *w = arg;
    return ch_metric(w->c, w->node, "vexfs_consensus_events_applied_total") >= w->n;
}

static bool
cb_co_state(void *arg)
{
    struct s_co_wait *w = arg;
    return (double)s_co_state(w->c, w->node) >= w->n;
}

/* Routing's coordinator boundary acknowledged by a real 3-node cluster (input_acked). The
 * leader is stopped mid-stream: the others elect a leader, which attaches its ROUTER while
 * the stopped one is still connected, so routing's DEALER hands batches to both (the stopped
 * one answers none: they are sent again); then it is killed with kill -9, losing what it took
 * and had not answered, and entries it had committed whose answers never left. Every event
 * routed must reach the replicated state, and since the state machine skips an event id it
 * applied before, every counter holds exactly what was sent, whatever was committed twice.
 * (With the PULL input of before, what ZeroMQ had delivered to the killed leader was lost.) */
START_TEST(t_coordinator_leader_kill9_loses_nothing)
{
    struct ph_daemon prop;
    ph_start(&prop, "  output_acked: true\n  output_ack_timeout_ms: 2000\n", NULL);
    struct rh_daemon rt;
    rh_start(&rt, prop.output,
             "  input_acked: true\n  boundary_acked: \"coordinator\"\n"
             "  boundary_ack_timeout_ms: 1000\n");
    rh_expect(&rt, "PUT", "/v1/rules", s_co_rules, 200);
    char extra[256];
    snprintf(extra, sizeof extra, "  input_acked: true\n  input_endpoint: \">%s\"\n",
             rh_out(&rt, "coordinator"));
    struct ch_cluster c;
    ch_start(&c, 3, extra);
    int leader = ch_leader(&c, 20000, 0);
    ck_assert_int_ge(leader, 0);
    struct s_producer p;
    s_producer_init(&p, &prop);
    p.limit = S_CO_N;
    p.counted_paths = S_CO_PATHS;

    struct s_co_wait w = {&c, (size_t)leader, S_CO_N / 3};
    uint64_t end = vt_now_ms() + S_DEADLINE_MS;
    while (!cb_co_applied(&w) && vt_now_ms() < end) {
        s_producer_run(&p, 50);
    }
    ck_assert_msg(cb_co_applied(&w), "the leader applied %.0f events, expected %.0f",
                  ch_metric(&c, (size_t)leader, "vexfs_consensus_events_applied_total"), w.n);
    ck_assert_int_eq(kill(c.node[leader].pid, SIGSTOP), 0);
    int next = ch_leader(&c, 30000, 1u << leader);
    ck_assert_msg(next >= 0, "no new leader while node %d is stopped", leader + 1);
    s_producer_run(&p, 1500);
    ch_kill9(&c, (size_t)leader);

    /* Everything put reaches routing (propagation's acknowledgements) ... */
    end = vt_now_ms() + S_DEADLINE_MS;
    while ((p.next < p.limit || vx_link_held(p.link) > 0) && vt_now_ms() < end) {
        s_producer_run(&p, 20);
    }
    ck_assert_msg(p.next >= p.limit && vx_link_held(p.link) == 0,
                  "producer: %zu of %d events put, %zu batches unacknowledged", p.next, S_CO_N,
                  vx_link_held(p.link));
    /* ... the replicated state holds each event once (read from the new leader) ... */
    w = (struct s_co_wait){&c, (size_t)next, S_CO_N};
    vt_wait_until(cb_co_state, &w, 60000);
    long long got = s_co_state(&c, (size_t)next);
    ck_assert_msg(got == S_CO_N, "the replicated state counts %lld events, expected %d", got,
                  S_CO_N);
    /* ... and routing had every event it routed to the coordinator acknowledged. */
    double acked = 0;
    while ((acked = rh_metric(&rt, S_CO_ACKED)) < S_CO_N && vt_now_ms() < end) {
        vt_sleep_ms(50);
    }
    ck_assert_msg(acked >= S_CO_N, "routing has %.0f of %d events acknowledged by the "
                  "coordinator", acked, S_CO_N);
    double resent = rh_metric(&rt, S_CO_RESENT);
    double dup_in = ch_metric(&c, (size_t)next, "vexfs_coordinator_input_duplicate_events_total");
    double dup_log = ch_metric(&c, (size_t)next, "vexfs_consensus_events_duplicate_total");
    ck_assert_msg(resent > 0, "routing resent nothing after the leader was stopped and killed");
    ck_assert_msg(dup_in >= 0 && dup_log >= 0, "duplicate counters missing (%.0f, %.0f)",
                  dup_in, dup_log);
    ck_assert_msg(dup_in + dup_log <= resent, "%.0f copies refused by the input and %.0f "
                  "skipped in the log, only %.0f events resent", dup_in, dup_log, resent);
    ck_assert_double_eq(rh_metric(&rt, S_LOST_RT), 0);
    fprintf(stderr, "coordinator leader kill -9: %.0f events resent by routing, %.0f refused "
            "by the new leader's input, %.0f committed again and skipped by the state "
            "machine\n", resent, dup_in, dup_log);
    s_producer_fini(&p);
    ch_stop_all(&c);
    rh_stop(&rt);
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
    TCase *tb = tcase_create("boundary");
    tcase_set_timeout(tb, 400);
    tcase_add_test(tb, t_boundary_consumer_kill9_delivers_at_least_once);
    tcase_add_test(tb, t_boundary_resends_are_counted_not_processed);
    tcase_add_test(tb, t_routing_kill9_acked_boundary_loses_nothing);
    tcase_add_test(tb, t_routing_restart_batches_not_taken_for_resends);
    tcase_add_test(tb, t_boundary_analytics_resends_counted_not_windowed);
    suite_add_tcase(s, tb);
    TCase *tco = tcase_create("coordinator");
    tcase_set_timeout(tco, 400);
    tcase_add_test(tco, t_coordinator_leader_kill9_loses_nothing);
    suite_add_tcase(s, tco);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
