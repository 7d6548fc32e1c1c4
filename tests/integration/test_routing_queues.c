/* SPDX-License-Identifier: Apache-2.0 */
/* vexfs-routing as a real process behind a real vexfs-propagation, with real consumers on
 * real sockets, one boundary's consumer absent: the other boundaries receive everything; a
 * drop-policy boundary counts exactly what it dropped; the blocked boundary is named on /ready,
 * in the metrics and by vexfsctl status; a reader that arrives later receives the queued
 * events; a full block-policy queue holds routing until its reader comes, losing nothing; and
 * shutdown ends within shutdown_timeout_ms, counting what could not be delivered; vexfsctl tail
 * reads a boundary from routing's tap without taking anything from its consumer. */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "prop_harness.h"
#include "rt_harness.h"
#include "vx_test.h"

/* Events under /a/ go to automation, /c/ to coordinator, /g/ to graph. */
static const char *const s_rules =
    "{\"rules\":["
    "{\"id\":\"a\",\"conditions\":{\"patterns\":[{\"kind\":\"prefix\",\"pattern\":\"/a/\"}]},"
    " \"target_boundaries\":[\"automation\"]},"
    "{\"id\":\"c\",\"conditions\":{\"patterns\":[{\"kind\":\"prefix\",\"pattern\":\"/c/\"}]},"
    " \"target_boundaries\":[\"coordinator\"]},"
    "{\"id\":\"g\",\"conditions\":{\"patterns\":[{\"kind\":\"prefix\",\"pattern\":\"/g/\"}]},"
    " \"target_boundaries\":[\"graph\"]}]}";

#define S_MAX 3000

static struct rh_event s_ev[S_MAX];
static char s_paths[S_MAX][32];

/* n events, i going to boundary dirs[i % n_dirs] ("a", "c" or "g"), content n = i. */
static void
s_events(size_t n, const char *const *dirs, size_t n_dirs)
{
    ck_assert_uint_le(n, S_MAX);
    for (size_t i = 0; i < n; i++) {
        snprintf(s_paths[i], sizeof s_paths[i], "/%s/f%zu", dirs[i % n_dirs], i);
        s_ev[i] = (struct rh_event){"filesystem_write", s_paths[i], (long)i};
    }
}

static double
s_metric(const struct rh_daemon *rt, const char *name, const char *boundary)
{
    char series[160];
    snprintf(series, sizeof series, "%s{boundary=\"%s\"}", name, boundary);
    return rh_metric(rt, series);
}

/* Polls /ready until detail.degraded is exactly [want] (want NULL: empty); fails after
 * timeout_ms. Checks the answer stays 200 throughout. */
static void
s_wait_degraded(const struct rh_daemon *rt, const char *want, int timeout_ms)
{
    char *last = NULL;
    for (int waited = 0;; waited += 50) {
        json_t *r = NULL;
        long st = rh_call(rt, "GET", "/ready", NULL, &r);
        ck_assert_msg(st == 200, "/ready answered %ld", st);
        json_t *d = json_object_get(r, "detail");
        json_t *list = json_object_get(d, "degraded");
        const char *state = json_string_value(json_object_get(d, "boundaries"));
        bool ok = want ? json_array_size(list) == 1 &&
                             strcmp(json_string_value(json_array_get(list, 0)), want) == 0 &&
                             state && strcmp(state, "degraded") == 0 &&
                             json_is_object(json_object_get(json_object_get(d, "blocked"), want))
                       : json_array_size(list) == 0 && state && strcmp(state, "ok") == 0;
        free(last);
        last = json_dumps(r, JSON_COMPACT);
        json_decref(r);
        if (ok) {
            free(last);
            return;
        }
        ck_assert_msg(waited < timeout_ms, "/ready never showed degraded = [%s]; last: %s",
                      want ? want : "", last);
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* Polls a metric until it reaches at least want. */
static void
s_wait_metric(const struct rh_daemon *rt, const char *name, const char *boundary, double want,
              int timeout_ms)
{
    double v = -1;
    for (int waited = 0; waited < timeout_ms; waited += 50) {
        v = s_metric(rt, name, boundary);
        if (v >= want) {
            return;
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    ck_abort_msg("%s{boundary=\"%s\"} is %.0f, expected at least %.0f", name, boundary, v, want);
}

/* Polls a gauge until it equals want (gauges follow the loop's turns, a moment behind the
 * counters); fails with the last value after timeout_ms. */
static void
s_wait_gauge(const struct rh_daemon *rt, const char *name, const char *boundary, double want,
             int timeout_ms)
{
    double v = -1;
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        v = s_metric(rt, name, boundary);
        if (v == want) {
            return;
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    ck_abort_msg("%s{boundary=\"%s\"} is %.0f, expected %.0f", name, boundary, v, want);
}

static void
s_expect_each_once(struct rh_collector *c, size_t n, const char *dir, const char *boundary)
{
    for (size_t i = 0; i < n; i++) {
        unsigned want = strncmp(s_paths[i] + 1, dir, strlen(dir)) == 0 ? 1u : 0u;
        unsigned got = atomic_load(&c->counts[i]);
        ck_assert_msg(got == want, "%s received event %zu (%s) %u times, expected %u", boundary,
                      i, s_paths[i], got, want);
    }
}

START_TEST(t_absent_consumer_others_receive_everything)
{
    struct ph_daemon prop;
    ph_start(&prop, NULL, NULL);
    struct rh_daemon rt;
    rh_start(&rt, prop.output, NULL); /* defaults: block, 10000 events per consumer */
    rh_expect(&rt, "PUT", "/v1/rules", s_rules, 200);
    struct rh_collector coord, graph, late;
    rh_collect_start(&coord, rh_out(&rt, "coordinator"), S_MAX);
    rh_collect_start(&graph, rh_out(&rt, "graph"), S_MAX);
    static const char *const dirs[] = {"a", "c", "g"};
    size_t n = 3000, per = n / 3;
    s_events(n, dirs, 3);
    zsock_t *push = ph_push(&prop);
    uint64_t bseq = 0;
    rh_send(push, s_ev, n, &bseq);

    /* Nobody reads automation; coordinator and graph receive every one of theirs. */
    ck_assert_uint_eq(rh_collect_wait(&coord, per, 30000), per);
    ck_assert_uint_eq(rh_collect_wait(&graph, per, 30000), per);
    rh_wait_decided(&rt, (double)n, 30000);
    s_expect_each_once(&coord, n, "c/", "coordinator");
    s_expect_each_once(&graph, n, "g/", "graph");

    /* The blocked boundary is named: /ready (200, degraded), metrics, /v1/stats, vexfsctl. */
    s_wait_degraded(&rt, "automation", 10000);
    s_wait_gauge(&rt, "vexfs_routing_boundary_queued_events", "automation", (double)per, 5000);
    /* Gauges follow the loop's turns (at most 100 ms behind /ready, which reads live). */
    s_wait_metric(&rt, "vexfs_routing_boundary_blocked", "automation", 1, 5000);
    ck_assert_double_eq(s_metric(&rt, "vexfs_routing_boundary_blocked", "coordinator"), 0);
    s_wait_gauge(&rt, "vexfs_routing_boundary_queued_events", "coordinator", 0, 5000);
    s_wait_metric(&rt, "vexfs_routing_boundary_blocked_seconds_total", "automation", 1, 10000);
    ck_assert_double_eq(s_metric(&rt, "vexfs_routing_boundary_blocked_seconds_total", "graph"),
                        0);
    json_t *stats = NULL;
    ck_assert_int_eq(rh_call(&rt, "GET", "/v1/stats", NULL, &stats), 200);
    json_t *ab = json_object_get(json_object_get(stats, "boundaries"), "automation");
    ck_assert_str_eq(json_string_value(json_object_get(ab, "policy")), "block");
    ck_assert_int_eq(json_integer_value(json_object_get(ab, "queued")), (json_int_t)per);
    ck_assert_int_eq(json_integer_value(json_object_get(ab, "queue_capacity")), 10000);
    ck_assert(json_is_true(json_object_get(ab, "blocked")));
    ck_assert(json_number_value(json_object_get(ab, "blocked_s")) >= 1.0);
    json_decref(stats);
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%u", (unsigned)rt.rest_port);
    char ctl[512];
    snprintf(ctl, sizeof ctl, "%s/vexfsctl", vt_bin_dir());
    char *argv[] = {ctl, "status", "--only", "routing", "--routing", url, "--interval", "0", NULL};
    struct vt_run_result r;
    ck_assert_int_eq(vt_run(argv, NULL, NULL, 20000, &r), 0);
    ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "status exit %d: %s%s",
                  r.status, r.out, r.err);
    ck_assert_msg(strstr(r.out, "degraded") && strstr(r.out, "boundary automation blocked"),
                  "vexfsctl status does not name the blocked boundary:\n%s", r.out);
    vt_run_result_fini(&r);

    /* A reader that arrives later receives every queued event, once; then all is well. */
    rh_collect_start(&late, rh_out(&rt, "automation"), S_MAX);
    ck_assert_uint_eq(rh_collect_wait(&late, per, 30000), per);
    s_expect_each_once(&late, n, "a/", "automation");
    s_wait_degraded(&rt, NULL, 10000);
    s_wait_gauge(&rt, "vexfs_routing_boundary_queued_events", "automation", 0, 5000);
    ck_assert_double_eq(rh_metric(&rt, "vexfs_events_dropped_total{reason=\"boundary_full\"}"),
                        0);
    rh_stop(&rt);
    ck_assert_uint_eq(atomic_load(&late.total), per);
    rh_collect_stop(&coord);
    rh_collect_stop(&graph);
    rh_collect_stop(&late);
    zsock_destroy(&push);
    ph_stop(&prop);
}
END_TEST

/* vexfsctl tail never takes events away: it reads routing's tap (topic events.<boundary>)
 * while the boundary's PULL consumer still receives every event, exactly once; the lossless
 * link cannot be tailed (--pull is refused). */
struct s_tail_run {
    char *argv[12];
    struct vt_run_result r;
    int rc;
    atomic_bool done;
};

static void *
s_tail_thread(void *arg)
{
    struct s_tail_run *t = arg;
    t->rc = vt_run(t->argv, NULL, NULL, 90000, &t->r);
    atomic_store(&t->done, true);
    return NULL;
}

START_TEST(t_tail_reads_the_tap_and_takes_nothing)
{
    struct ph_daemon prop;
    ph_start(&prop, NULL, NULL);
    uint16_t tap_port = vt_free_port();
    char yaml[128], tap[64];
    snprintf(tap, sizeof tap, "tcp://127.0.0.1:%u", (unsigned)tap_port);
    snprintf(yaml, sizeof yaml, "  tap_endpoint: %s\n", tap);
    struct rh_daemon rt;
    rh_start(&rt, prop.output, yaml);
    rh_expect(&rt, "PUT", "/v1/rules", s_rules, 200);
    struct rh_collector coord, graph, autom;
    rh_collect_start(&coord, rh_out(&rt, "coordinator"), S_MAX);
    rh_collect_start(&graph, rh_out(&rt, "graph"), S_MAX);
    rh_collect_start(&autom, rh_out(&rt, "automation"), S_MAX);

    char ctl[512];
    snprintf(ctl, sizeof ctl, "%s/vexfsctl", vt_bin_dir());
    struct s_tail_run t = {.argv = {ctl, "tail", "--boundary", "automation", "--endpoint", tap,
                                    "--count", "5", NULL}};
    atomic_init(&t.done, false);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, s_tail_thread, &t), 0);

    /* Rounds of events until tail has its five (a subscriber misses what was published
     * before it joined): the consumer of automation must still see every one. */
    static const char *const dirs[] = {"a", "c", "g"};
    s_events(S_MAX, dirs, 3);
    zsock_t *push = ph_push(&prop);
    uint64_t bseq = 0;
    size_t sent = 0;
    while (!atomic_load(&t.done) && sent + 6 <= S_MAX) {
        rh_send(push, s_ev + sent, 6, &bseq);
        sent += 6;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    pthread_join(th, NULL);
    ck_assert_int_eq(t.rc, 0);
    ck_assert_msg(WIFEXITED(t.r.status) && WEXITSTATUS(t.r.status) == 0,
                  "tail exit %d after %zu events sent: %s%s", t.r.status, sent, t.r.out,
                  t.r.err);
    size_t lines = 0;
    for (const char *p = t.r.out; (p = strchr(p, '\n')) != NULL; p++) {
        lines++;
    }
    ck_assert_msg(lines == 5, "tail printed %zu lines, expected 5:\n%s", lines, t.r.out);
    ck_assert_msg(strstr(t.r.out, "\"/a/f") != NULL && strstr(t.r.out, "\"/c/f") == NULL &&
                      strstr(t.r.out, "\"/g/f") == NULL,
                  "tail --boundary automation printed events of other boundaries:\n%s", t.r.out);
    vt_run_result_fini(&t.r);

    size_t per = sent / 3;
    ck_assert_uint_eq(rh_collect_wait(&autom, per, 30000), per);
    ck_assert_uint_eq(rh_collect_wait(&coord, per, 30000), per);
    ck_assert_uint_eq(rh_collect_wait(&graph, per, 30000), per);
    s_expect_each_once(&autom, sent, "a/", "automation");
    ck_assert_msg(rh_metric(&rt, "vexfs_routing_tap_batches_total") > 0,
                  "vexfs_routing_tap_batches_total stayed 0");

    /* The lossless link is not for observers. */
    char *pull[] = {ctl, "tail", "--pull", "--endpoint", (char *)rh_out(&rt, "automation"),
                    NULL};
    struct vt_run_result r;
    ck_assert_int_eq(vt_run(pull, NULL, NULL, 20000, &r), 0);
    ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 2 &&
                      strstr(r.err, "--pull is gone") != NULL,
                  "tail --pull: exit %d, stderr %s", r.status, r.err);
    vt_run_result_fini(&r);

    rh_stop(&rt);
    rh_collect_stop(&coord);
    rh_collect_stop(&graph);
    rh_collect_stop(&autom);
    zsock_destroy(&push);
    ph_stop(&prop);
}
END_TEST

START_TEST(t_drop_policy_counts_exactly_what_it_dropped)
{
    struct ph_daemon prop;
    ph_start(&prop, NULL, NULL);
    struct rh_daemon rt;
    rh_start(&rt, prop.output, "  boundary_policies: \"automation=drop:100\"\n");
    rh_expect(&rt, "PUT", "/v1/rules", s_rules, 200);
    struct rh_collector coord, late;
    rh_collect_start(&coord, rh_out(&rt, "coordinator"), S_MAX);
    static const char *const dirs[] = {"a", "c"};
    size_t n = 2000, per = n / 2, cap = 100;
    s_events(n, dirs, 2);
    zsock_t *push = ph_push(&prop);
    uint64_t bseq = 0;
    rh_send(push, s_ev, n, &bseq);
    ck_assert_uint_eq(rh_collect_wait(&coord, per, 30000), per);
    rh_wait_decided(&rt, (double)n, 30000);
    s_expect_each_once(&coord, n, "c/", "coordinator");
    /* Automation took its first 100 (its queue) and dropped the rest, every one counted. */
    ck_assert_double_eq(s_metric(&rt, "vexfs_routing_boundary_dropped_total", "automation"),
                        (double)(per - cap));
    ck_assert_double_eq(rh_metric(&rt, "vexfs_events_dropped_total{reason=\"boundary_full\"}"),
                        (double)(per - cap));
    ck_assert_double_eq(s_metric(&rt, "vexfs_routing_boundary_dropped_total", "coordinator"), 0);
    s_wait_gauge(&rt, "vexfs_routing_boundary_queued_events", "automation", (double)cap, 5000);
    ck_assert_double_eq(s_metric(&rt, "vexfs_routing_boundary_queue_capacity", "automation"),
                        (double)cap);
    ck_assert_double_eq(s_metric(&rt, "vexfs_events_routed_total", "automation"), (double)cap);
    s_wait_degraded(&rt, "automation", 10000);
    json_t *ready = NULL;
    ck_assert_int_eq(rh_call(&rt, "GET", "/ready", NULL, &ready), 200);
    json_t *b = json_object_get(json_object_get(json_object_get(ready, "detail"), "blocked"),
                                "automation");
    ck_assert_str_eq(json_string_value(json_object_get(b, "policy")), "drop");
    ck_assert_int_eq(json_integer_value(json_object_get(b, "dropped")), (json_int_t)(per - cap));
    json_decref(ready);
    /* The reader that arrives receives exactly the queued ones: the first 100 of its events. */
    rh_collect_start(&late, rh_out(&rt, "automation"), S_MAX);
    ck_assert_uint_eq(rh_collect_wait(&late, cap, 30000), cap);
    s_wait_degraded(&rt, NULL, 10000);
    rh_stop(&rt);
    ck_assert_uint_eq(atomic_load(&late.total), cap);
    for (size_t i = 0; i < n; i++) {
        unsigned want = i % 2 == 0 && i / 2 < cap ? 1u : 0u;
        ck_assert_msg(atomic_load(&late.counts[i]) == want, "automation received %s %u times",
                      s_paths[i], atomic_load(&late.counts[i]));
    }
    rh_collect_stop(&coord);
    rh_collect_stop(&late);
    zsock_destroy(&push);
    ph_stop(&prop);
}
END_TEST

START_TEST(t_full_block_queue_holds_routing_and_loses_nothing)
{
    struct ph_daemon prop;
    ph_start(&prop, NULL, NULL);
    struct rh_daemon rt;
    rh_start(&rt, prop.output,
             "  boundary_policy: block\n  boundary_queue_events: 100\n  batch_max_events: 10\n");
    rh_expect(&rt, "PUT", "/v1/rules", s_rules, 200);
    struct rh_collector coord, late;
    rh_collect_start(&coord, rh_out(&rt, "coordinator"), S_MAX);
    static const char *const dirs[] = {"a", "c"};
    size_t n = 1000, per = n / 2;
    s_events(n, dirs, 2);
    zsock_t *push = ph_push(&prop);
    uint64_t bseq = 0;
    rh_send(push, s_ev, n, &bseq);
    /* Automation's queue fills after 100 of its events: routing waits for it (lossless), so
     * coordinator gets about as many and then nothing more until automation is read. */
    s_wait_degraded(&rt, "automation", 20000);
    s_wait_gauge(&rt, "vexfs_routing_boundary_queued_events", "automation", 100, 5000);
    ck_assert_uint_lt(atomic_load(&coord.total), per);
    rh_collect_start(&late, rh_out(&rt, "automation"), S_MAX);
    ck_assert_uint_eq(rh_collect_wait(&late, per, 30000), per);
    ck_assert_uint_eq(rh_collect_wait(&coord, per, 30000), per);
    rh_wait_decided(&rt, (double)n, 30000);
    s_expect_each_once(&late, n, "a/", "automation");
    s_expect_each_once(&coord, n, "c/", "coordinator");
    ck_assert_uint_eq(atomic_load(&late.out_of_order), 0);
    ck_assert_double_eq(rh_metric(&rt, "vexfs_events_dropped_total{reason=\"boundary_full\"}"),
                        0);
    ck_assert_double_eq(rh_metric(&rt, "vexfs_events_dropped_total{reason=\"shutdown\"}"), 0);
    s_wait_degraded(&rt, NULL, 10000);
    rh_stop(&rt);
    rh_collect_stop(&coord);
    rh_collect_stop(&late);
    zsock_destroy(&push);
    ph_stop(&prop);
}
END_TEST

/* Whether the log holds line with both texts. */
static bool
s_log_has(const char *path, const char *a, const char *b)
{
    FILE *f = fopen(path, "r");
    char line[2048];
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f)) {
        found = strstr(line, a) != NULL && strstr(line, b) != NULL;
    }
    if (f) {
        fclose(f);
    }
    return found;
}

START_TEST(t_shutdown_ends_in_time_and_counts_undelivered)
{
    struct ph_daemon prop;
    ph_start(&prop, NULL, NULL);
    struct rh_daemon rt;
    rh_start(&rt, prop.output, "  shutdown_timeout_ms: 1500\n");
    rh_expect(&rt, "PUT", "/v1/rules", s_rules, 200);
    struct rh_collector coord;
    rh_collect_start(&coord, rh_out(&rt, "coordinator"), S_MAX);
    static const char *const dirs[] = {"a", "c"};
    size_t n = 1000, per = n / 2;
    s_events(n, dirs, 2);
    zsock_t *push = ph_push(&prop);
    uint64_t bseq = 0;
    rh_send(push, s_ev, n, &bseq);
    ck_assert_uint_eq(rh_collect_wait(&coord, per, 30000), per);
    rh_wait_decided(&rt, (double)n, 30000);
    s_wait_degraded(&rt, "automation", 10000);
    /* SIGTERM: nobody will ever read automation; routing gives up at its deadline, exits 1
     * (something was not delivered) and says how many, per boundary. The generous wait only
     * guards against a hang. */
    int status = vt_stop(rt.pid, SIGTERM, 20000);
    rt.pid = 0;
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1,
                  "routing exit status %d, expected exit 1; log in %s", status, rt.log);
    char want[64];
    snprintf(want, sizeof want, "boundary automation: %zu events", per);
    ck_assert_msg(s_log_has(rt.log, "RT-STOP-UNDELIVERED", want), "no \"%s\" in %s", want,
                  rt.log);
    rh_collect_stop(&coord);
    zsock_destroy(&push);
    ph_stop(&prop);
}
END_TEST

/* A Kafka boundary's queue is its events not yet acknowledged: with the broker unreachable
 * nothing is, so a drop policy of 50 keeps 50 and counts every other one. */
START_TEST(t_kafka_boundary_queue_and_drop_policy)
{
    struct ph_daemon prop;
    ph_start(&prop, NULL, NULL);
    struct rh_daemon rt;
    rh_start(&rt, prop.output,
             "  kafka_brokers: \"127.0.0.1:1\"\n  kafka_boundaries: analytics\n"
             "  kafka_message_timeout_ms: 600000\n  shutdown_timeout_ms: 1000\n"
             "  boundary_policies: \"analytics=drop:50\"\n");
    rh_expect(&rt, "PUT", "/v1/rules",
              "{\"rules\":[{\"id\":\"k\",\"conditions\":{\"patterns\":"
              "[{\"kind\":\"prefix\",\"pattern\":\"/k/\"}]},"
              "\"target_boundaries\":[\"analytics\"]},"
              "{\"id\":\"c\",\"conditions\":{\"patterns\":"
              "[{\"kind\":\"prefix\",\"pattern\":\"/c/\"}]},"
              "\"target_boundaries\":[\"coordinator\"]}]}",
              200);
    struct rh_collector coord;
    rh_collect_start(&coord, rh_out(&rt, "coordinator"), S_MAX);
    static const char *const dirs[] = {"k", "c"};
    size_t n = 400, per = n / 2, cap = 50;
    s_events(n, dirs, 2);
    zsock_t *push = ph_push(&prop);
    uint64_t bseq = 0;
    rh_send(push, s_ev, n, &bseq);
    ck_assert_uint_eq(rh_collect_wait(&coord, per, 30000), per);
    rh_wait_decided(&rt, (double)n, 30000);
    ck_assert_double_eq(s_metric(&rt, "vexfs_routing_boundary_dropped_total", "analytics"),
                        (double)(per - cap));
    ck_assert_double_eq(rh_metric(&rt, "vexfs_events_dropped_total{reason=\"boundary_full\"}"),
                        (double)(per - cap));
    s_wait_gauge(&rt, "vexfs_routing_boundary_queued_events", "analytics", (double)cap, 5000);
    s_wait_degraded(&rt, "analytics", 10000);
    json_t *stats = NULL;
    ck_assert_int_eq(rh_call(&rt, "GET", "/v1/stats", NULL, &stats), 200);
    json_t *ab = json_object_get(json_object_get(stats, "boundaries"), "analytics");
    ck_assert_str_eq(json_string_value(json_object_get(ab, "kind")), "kafka");
    ck_assert_str_eq(json_string_value(json_object_get(ab, "policy")), "drop");
    ck_assert_int_eq(json_integer_value(json_object_get(ab, "queued")), (json_int_t)cap);
    json_decref(stats);
    /* Nothing will be acknowledged: shutdown gives up at its deadline and says so. */
    int status = vt_stop(rt.pid, SIGTERM, 20000);
    rt.pid = 0;
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1,
                  "routing exit status %d, expected exit 1; log in %s", status, rt.log);
    ck_assert_msg(s_log_has(rt.log, "RT-STOP-KAFKA", "50 events not acknowledged"),
                  "no RT-STOP-KAFKA line in %s", rt.log);
    rh_collect_stop(&coord);
    zsock_destroy(&push);
    ph_stop(&prop);
}
END_TEST

START_TEST(t_bad_policies_are_refused)
{
    /* A bad output plan (policy, default boundary, tap-only boundary) stops the daemon at start
     * with a message naming the key, and --check finds it first. */
    static const char *const bad[][2] = {
        {"  boundary_policy: maybe\n", "event_routing.boundary_policy: expected block or drop"},
        {"  boundary_policies: \"nosuch=drop\"\n",
         "event_routing.boundary_policies: 'nosuch' is not a configured boundary"},
        {"  boundary_policies: \"automation=lossy\"\n", "boundary 'automation': expected block"},
        {"  boundary_policies: \"automation=drop:0\"\n", "queue size '0' is not 1..10000000"},
        {"  boundary_policies: \"automation\"\n", "expected name=block|drop[:events]"},
        {"  default_boundary: nowhere\n",
         "event_routing.default_boundary: 'nowhere' is not a configured boundary"},
        {"  outputs: \"extra=tap\"\n", "boundary 'extra' is \"tap\" but tap_endpoint is empty"},
    };
    char *dir = vt_tmpdir();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char cfg[512], text[1024];
        snprintf(cfg, sizeof cfg, "%s/bad%zu.yaml", dir, i);
        snprintf(text, sizeof text,
                 "event_routing:\n  rest_port: 0\n  input_endpoint: tcp://127.0.0.1:1\n"
                 "  output_automation: tcp://127.0.0.1:*\n  output_coordinator: \"\"\n"
                 "  output_analytics: \"\"\n  output_graph: \"\"\n  output_vector: \"\"\n%s",
                 bad[i][0]);
        ck_assert_int_eq(vt_write_file(cfg, text), 0);
        char bin[512];
        snprintf(bin, sizeof bin, "%s/vexfs-routing", vt_bin_dir());
        char *argv[] = {bin, "--config", cfg, NULL};
        struct vt_run_result r;
        ck_assert_int_eq(vt_run(argv, NULL, NULL, 20000, &r), 0);
        ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) != 0,
                      "started with %s", bad[i][0]);
        ck_assert_msg(strstr(r.err, bad[i][1]) != NULL, "expected \"%s\" in: %s", bad[i][1],
                      r.err);
        vt_run_result_fini(&r);
        /* --check refuses it too, as a configuration error (exit 2), before anything starts. */
        char *check_argv[] = {bin, "--config", cfg, "--check", NULL};
        ck_assert_int_eq(vt_run(check_argv, NULL, NULL, 20000, &r), 0);
        ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 2,
                      "--check with %s: expected exit 2, got status %d", bad[i][0], r.status);
        ck_assert_msg(strstr(r.err, bad[i][1]) != NULL, "--check: expected \"%s\" in: %s",
                      bad[i][1], r.err);
        vt_run_result_fini(&r);
    }
    free(dir);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("routing_queues");
    TCase *tc = tcase_create("queues");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, t_absent_consumer_others_receive_everything);
    tcase_add_test(tc, t_drop_policy_counts_exactly_what_it_dropped);
    tcase_add_test(tc, t_full_block_queue_holds_routing_and_loses_nothing);
    tcase_add_test(tc, t_shutdown_ends_in_time_and_counts_undelivered);
    tcase_add_test(tc, t_kafka_boundary_queue_and_drop_policy);
    tcase_add_test(tc, t_bad_policies_are_refused);
    tcase_add_test(tc, t_tail_reads_the_tap_and_takes_nothing);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
