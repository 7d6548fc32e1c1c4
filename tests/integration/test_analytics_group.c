/* SPDX-License-Identifier: Apache-2.0 */
/* vexfs-analytics scaled out: one topic read by one instance (its own consumer group) and by
 * three instances of another group, one of which is killed with SIGKILL in the middle of the
 * stream. Every surviving instance answers GET /v1/queries/{id}/results for its whole group,
 * merged from the results topic, and the answers equal the windows computed here from the
 * produced events: counts and sums per user, and for the whole stream count, distinct count,
 * p50, p90, min, max and avg — no event missed or counted twice. Only partition 0 receives the
 * final far-ahead event: the other partitions' windows close through the idle timeout. */
#include <check.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "an_harness.h"
#include "vx_test.h"

#define USERS 5
#define WINDOWS 4
#define N_EVENTS 6000
/* Event time of the first event: ten minutes ago, on a whole second. Events carry it as their
 * Kafka timestamp too (replay by timestamp reads those), so it must stay within the broker's
 * retention: a fixed date in the past gets the test's messages deleted under it. */
static uint64_t s_base_ms;
#define BASE_MS s_base_ms

struct s_expect {
    long cnt[USERS][WINDOWS];
    long sum[USERS][WINDOWS];
    long sizes[WINDOWS][N_EVENTS];
    size_t n_sizes[WINDOWS];
};

static const char *s_queries =
    "[{\"id\":\"per-user\",\"event_types\":[\"filesystem_write\"],"
    "\"window\":{\"kind\":\"tumbling\",\"size_ms\":1000},\"group_by\":[\"metadata.user_id\"],"
    "\"aggregations\":[{\"fn\":\"count\",\"as\":\"n\"},{\"fn\":\"sum\",\"field\":\"content.size\","
    "\"as\":\"bytes\"}]},"
    "{\"id\":\"sizes\",\"event_types\":[\"filesystem_write\"],"
    "\"window\":{\"kind\":\"tumbling\",\"size_ms\":1000},"
    "\"aggregations\":[{\"fn\":\"count\",\"as\":\"n\"},"
    "{\"fn\":\"distinct_count\",\"field\":\"content.size\",\"as\":\"distinct\"},"
    "{\"fn\":\"p50\",\"field\":\"content.size\",\"as\":\"p50\"},"
    "{\"fn\":\"p90\",\"field\":\"content.size\",\"as\":\"p90\"},"
    "{\"fn\":\"min\",\"field\":\"content.size\",\"as\":\"min\"},"
    "{\"fn\":\"max\",\"field\":\"content.size\",\"as\":\"max\"},"
    "{\"fn\":\"avg\",\"field\":\"content.size\",\"as\":\"avg\"}]}]";

static void
s_produce_range(rd_kafka_t *p, const char *topic, int from, int to, struct s_expect *x)
{
    for (int i = from; i < to; i++) {
        vx_event_t e;
        struct ah_ev_storage st;
        char path[32], user[16];
        uint64_t t = BASE_MS + (uint64_t)i * (WINDOWS * 1000ULL) / N_EVENTS;
        int u = (i * 7) % USERS;
        long size = (i * 37) % 1000 + (i % 3) * 1000;
        snprintf(path, sizeof path, "/data/f%d", i % 10);
        snprintf(user, sizeof user, "u%d", u);
        ah_event(&e, &st, VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE, t, path, user, size);
        ah_produce(p, topic, RD_KAFKA_PARTITION_UA, &e, (int64_t)t);
        int w = (int)((t - BASE_MS) / 1000);
        x->cnt[u][w]++;
        x->sum[u][w] += size;
        x->sizes[w][x->n_sizes[w]++] = size;
    }
    ck_assert_int_eq(rd_kafka_flush(p, 30000), 0);
}

static int
cb_cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}

/* The expected "sizes" values of window w, computed from the produced sizes. */
static void
s_stats(const struct s_expect *x, int w, double out[7])
{
    size_t n = x->n_sizes[w];
    long *v = malloc(n * sizeof *v);
    ck_assert_ptr_nonnull(v);
    memcpy(v, x->sizes[w], n * sizeof *v);
    qsort(v, n, sizeof *v, cb_cmp_long);
    size_t distinct = 0;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        distinct += i == 0 || v[i] != v[i - 1];
        sum += (double)v[i];
    }
    /* nearest rank: the ceil(q * n)-th smallest value */
    size_t r50 = (n + 1) / 2, r90 = (9 * n + 9) / 10;
    out[0] = (double)n;
    out[1] = (double)distinct;
    out[2] = (double)v[r50 - 1];
    out[3] = (double)v[r90 - 1];
    out[4] = (double)v[0];
    out[5] = (double)v[n - 1];
    out[6] = sum / (double)n;
    free(v);
}

/* Compares d's merged results with x; writes the first difference into why. */
static bool
s_matches(const struct ah_daemon *d, const struct s_expect *x, char *why, size_t len)
{
    json_t *res = NULL;
    bool ok = true;
    long got_cnt[USERS][WINDOWS], got_sum[USERS][WINDOWS];
    memset(got_cnt, 0, sizeof got_cnt);
    memset(got_sum, 0, sizeof got_sum);
    if (ah_call(d, "GET", "/v1/queries/per-user/results?limit=1000", NULL, false, &res) != 200) {
        snprintf(why, len, "per-user results: no answer");
        return false;
    }
    json_t *closed = json_object_get(res, "closed"), *w;
    size_t i, windows = 0;
    json_array_foreach(closed, i, w) {
        const char *user = json_string_value(
            json_object_get(json_object_get(w, "group"), "metadata.user_id"));
        int u = user ? atoi(user + 1) : -1;
        long win = (long)(((uint64_t)json_integer_value(json_object_get(w, "start_ns")) /
                               1000000ULL - BASE_MS) / 1000);
        if (u < 0 || u >= USERS || win < 0 || win >= WINDOWS) {
            continue;
        }
        json_t *vals = json_object_get(w, "values");
        got_cnt[u][win] += (long)json_integer_value(json_object_get(vals, "n"));
        got_sum[u][win] += (long)json_number_value(json_object_get(vals, "bytes"));
        windows++;
    }
    size_t expected_windows = 0;
    for (int u = 0; u < USERS && ok; u++) {
        for (int k = 0; k < WINDOWS && ok; k++) {
            expected_windows += x->cnt[u][k] > 0;
            if (got_cnt[u][k] != x->cnt[u][k] || got_sum[u][k] != x->sum[u][k]) {
                char *text = json_dumps(closed, JSON_COMPACT);
                snprintf(why, len, "u%d window %d: count %ld sum %ld, expected %ld %ld; got %s", u,
                         k, got_cnt[u][k], got_sum[u][k], x->cnt[u][k], x->sum[u][k], text);
                free(text);
                ok = false;
            }
        }
    }
    if (ok && windows != expected_windows) {
        snprintf(why, len, "per-user: %zu windows, expected %zu", windows, expected_windows);
        ok = false;
    }
    json_decref(res);
    if (!ok) {
        return false;
    }
    if (ah_call(d, "GET", "/v1/queries/sizes/results", NULL, false, &res) != 200) {
        snprintf(why, len, "sizes results: no answer");
        return false;
    }
    closed = json_object_get(res, "closed");
    if (json_array_size(closed) != WINDOWS) {
        snprintf(why, len, "sizes: %zu windows, expected %d", json_array_size(closed), WINDOWS);
        json_decref(res);
        return false;
    }
    static const char *const names[] = {"n", "distinct", "p50", "p90", "min", "max", "avg"};
    json_array_foreach(closed, i, w) {
        double want[7];
        s_stats(x, (int)i, want);
        json_t *vals = json_object_get(w, "values");
        for (int k = 0; k < 7 && ok; k++) {
            double got = json_number_value(json_object_get(vals, names[k]));
            if (fabs(got - want[k]) > 1e-9 * fabs(want[k])) {
                snprintf(why, len, "sizes window %zu: %s %.17g, expected %.17g", i, names[k], got,
                         want[k]);
                ok = false;
            }
        }
        if (ok && json_object_get(w, "approximate")) {
            snprintf(why, len, "sizes window %zu: approximate", i);
            ok = false;
        }
    }
    json_decref(res);
    return ok;
}

static void
s_wait_matches(const struct ah_daemon *d, const struct s_expect *x, const char *name)
{
    char why[16384] = "";
    time_t deadline = time(NULL) + 150;
    while (!s_matches(d, x, why, sizeof why) && time(NULL) < deadline) {
        usleep(250000);
    }
    if (!s_matches(d, x, why, sizeof why)) {
        json_t *q = NULL;
        ah_call(d, "GET", "/v1/queries/per-user", NULL, false, &q);
        char *stats = json_dumps(json_object_get(q, "stats"), JSON_COMPACT);
        fprintf(stderr, "%s: stats %s\n", name, stats ? stats : "?");
        free(stats);
        json_decref(q);
    }
    ck_assert_msg(s_matches(d, x, why, sizeof why), "%s: %s (log %s)", name, why, d->log);
}

static bool
s_owns_partition(const struct ah_daemon *d)
{
    json_t *r = NULL;
    ah_call(d, "GET", "/ready", NULL, false, &r);
    json_t *parts = json_object_get(r, "partitions");
    if (!parts) {
        parts = json_object_get(json_object_get(r, "detail"), "partitions");
    }
    bool owns = json_array_size(parts) > 0;
    json_decref(r);
    return owns;
}

static void
s_yaml(char *out, size_t len, const char *topic, const char *group, const char *results,
       const char *qfile)
{
    snprintf(out, len,
             "  kafka_brokers: %s\n"
             "  topic: %s\n"
             "  group_id: %s\n"
             "  results_topic: %s\n"
             "  queries_file: %s\n"
             "  idle_timeout_ms: 1000\n",
             ah_bootstrap(), topic, group, results, qfile);
}

START_TEST(t_one_and_three_with_kill)
{
    static struct s_expect x;
    memset(&x, 0, sizeof x);
    char topic[160], ga[200], gb[200], ra[200], rb[200], qfile[300], ya[2048], yb[2048];
    snprintf(topic, sizeof topic, "vexfs.test.analytics.group.%d.%ld", (int)getpid(),
             (long)time(NULL));
    snprintf(ga, sizeof ga, "%s.one", topic);
    snprintf(gb, sizeof gb, "%s.three", topic);
    snprintf(ra, sizeof ra, "%s.results-one", topic);
    snprintf(rb, sizeof rb, "%s.results-three", topic);
    rd_kafka_t *p = ah_producer();
    s_produce_range(p, topic, 0, N_EVENTS / 2, &x);
    int parts = ah_partitions(p, topic);
    ck_assert_int_ge(parts, 3);

    char *dir = vt_tmpdir();
    snprintf(qfile, sizeof qfile, "%s/queries.seed.json", dir);
    ck_assert_int_eq(vt_write_file(qfile, s_queries), 0);
    s_yaml(ya, sizeof ya, topic, ga, ra, qfile);
    s_yaml(yb, sizeof yb, topic, gb, rb, qfile);
    struct ah_daemon a, b[3];
    ah_start(&a, ya, NULL);
    for (int i = 0; i < 3; i++) {
        ah_start(&b[i], yb, NULL);
    }
    /* the three share the partitions, and have read the first half, before one dies */
    time_t deadline = time(NULL) + 90;
    for (;;) {
        double consumed = 0;
        bool all_own = true;
        for (int i = 0; i < 3; i++) {
            consumed += ah_metric(&b[i], "vexfs_analytics_events_total");
            all_own &= s_owns_partition(&b[i]);
        }
        if ((all_own && consumed >= N_EVENTS / 2) || time(NULL) > deadline) {
            ck_assert_msg(all_own, "the three instances do not all own a partition");
            ck_assert_double_ge(consumed, N_EVENTS / 2);
            break;
        }
        usleep(200000);
    }
    int status = vt_stop(b[1].pid, SIGKILL, 10000);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    b[1].pid = 0;

    s_produce_range(p, topic, N_EVENTS / 2, N_EVENTS, &x);
    /* far ahead in time, into partition 0 only: partitions 1.. go idle and follow it */
    vx_event_t e;
    struct ah_ev_storage st;
    ah_event(&e, &st, VEXFS__V1__EVENT_TYPE__SYSTEM, BASE_MS + 3600 * 1000, "/flush", "none", 0);
    ah_produce(p, topic, 0, &e, (int64_t)(BASE_MS + 3600 * 1000));
    ck_assert_int_eq(rd_kafka_flush(p, 30000), 0);

    s_wait_matches(&a, &x, "one instance");
    s_wait_matches(&b[0], &x, "first of three");
    s_wait_matches(&b[2], &x, "third of three");
    /* the idle partitions' windows were closed by the idle timeout, not by an event */
    ck_assert_double_gt(ah_metric(&a, "vexfs_analytics_idle_advances_total"), 0);
    ck_assert_double_eq(
        ah_metric(&a, "vexfs_analytics_query_dropped_total{query=\"per-user\",reason=\"late\",tenant=\"\"}"), 0);
    json_t *r = NULL;
    ck_assert_int_eq(ah_call(&b[0], "GET", "/v1/queries/sizes/results", NULL, false, &r), 200);
    ck_assert_str_eq(json_string_value(json_object_get(r, "scope")), "group");
    json_decref(r);
    ah_stop(&b[2]);
    ah_stop(&b[0]);
    ah_stop(&a);
    free(dir);
    rd_kafka_destroy(p);
}
END_TEST

int
main(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    s_base_ms = ((uint64_t)now.tv_sec - 600) * 1000ULL;
    Suite *s = suite_create("analytics-group");
    TCase *tc = tcase_create("scaling");
    tcase_set_timeout(tc, 400);
    tcase_add_test(tc, t_one_and_three_with_kill);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
