/* SPDX-License-Identifier: Apache-2.0 */
/* vexfs-analytics as a real process: windows over a real Kafka topic equal the ones computed
 * here from the produced events; two instances in one consumer group, with a rebalance in
 * the middle of the stream, give the same merged windows, none twice; the REST query API
 * validates, persists across a restart and deletes; anomalies are found over the ZeroMQ
 * input; SIGTERM exits 0. The broker's address comes from VEXFS_KAFKA_BOOTSTRAP (set by
 * scripts/run-tests.sh); the Kafka tests fail, never skip, without it. */
#include <check.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "an_harness.h"
#include "vx_test.h"
#include "vx_wire.h"

#define USERS 5
#define WINDOWS 4
/* Event time of the first event: ten minutes ago, on a whole second. Events carry it as their
 * Kafka timestamp too (replay by timestamp reads those), so it must stay within the broker's
 * retention: a fixed date in the past gets the test's messages deleted under it. */
static uint64_t s_base_ms;
#define BASE_MS s_base_ms

/* The stream: n filesystem_write events over WINDOWS seconds for USERS users, keyed by path
 * over 10 files; what each (user, window) must hold is added to cnt/sum. */
struct s_expect {
    long cnt[USERS][WINDOWS];
    long sum[USERS][WINDOWS];
};

static void
s_produce_range(rd_kafka_t *p, const char *topic, int from, int to, int n, struct s_expect *x)
{
    for (int i = from; i < to; i++) {
        vx_event_t e;
        struct ah_ev_storage st;
        char path[32], user[16];
        uint64_t t = BASE_MS + (uint64_t)i * (WINDOWS * 1000ULL) / (uint64_t)n;
        int u = (i * 7) % USERS;
        long size = (i * 37) % 1000;
        snprintf(path, sizeof path, "/data/f%d", i % 10);
        snprintf(user, sizeof user, "u%d", u);
        ah_event(&e, &st, VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE, t, path, user, size);
        ah_produce(p, topic, RD_KAFKA_PARTITION_UA, &e, (int64_t)t);
        x->cnt[u][(t - BASE_MS) / 1000]++;
        x->sum[u][(t - BASE_MS) / 1000] += size;
    }
}

/* One event far ahead in time in every partition, of a type the query ignores: moves every
 * partition's watermark past all windows. */
static void
s_produce_flush(rd_kafka_t *p, const char *topic, int parts)
{
    for (int32_t k = 0; k < parts; k++) {
        vx_event_t e;
        struct ah_ev_storage st;
        ah_event(&e, &st, VEXFS__V1__EVENT_TYPE__SYSTEM, BASE_MS + 3600 * 1000, "/flush", "none",
                 0);
        ah_produce(p, topic, k, &e, (int64_t)(BASE_MS + 3600 * 1000));
    }
    ck_assert_int_eq(rd_kafka_flush(p, 30000), 0);
}

static const char *s_query_json =
    "[{\"id\":\"per-user\",\"event_types\":[\"filesystem_write\"],"
    "\"window\":{\"kind\":\"tumbling\",\"size_ms\":1000},\"group_by\":[\"metadata.user_id\"],"
    "\"aggregations\":[{\"fn\":\"count\",\"as\":\"n\"},{\"fn\":\"sum\",\"field\":\"content.size\","
    "\"as\":\"bytes\"}],\"export_metrics\":true}]";

/* results: the results topic ("" for results per instance and partition). */
static void
s_config(char *yaml, size_t len, const char *topic, const char *group, const char *qfile,
         const char *results)
{
    snprintf(yaml, len,
             "  kafka_brokers: %s\n"
             "  topic: %s\n"
             "  group_id: %s\n"
             "  queries_file: %s\n"
             "  results_topic: \"%s\"\n",
             ah_bootstrap(), topic, group, qfile, results);
}

/* Adds the final windows of d's query to merged[user][window] (count, sum); returns how many
 * final windows there were. Partial windows of one (user, window) from several partitions or
 * instances add up. */
static size_t
s_collect(const struct ah_daemon *d, struct s_expect *merged)
{
    json_t *res = NULL;
    long status = ah_call(d, "GET", "/v1/queries/per-user/results?limit=1000000", NULL, false, &res);
    ck_assert_int_eq(status, 200);
    json_t *closed = json_object_get(res, "closed");
    size_t i, n = json_array_size(closed);
    json_t *w;
    json_array_foreach(closed, i, w) {
        const char *user = json_string_value(json_object_get(json_object_get(w, "group"),
                                                             "metadata.user_id"));
        ck_assert_ptr_nonnull(user);
        ck_assert(json_is_true(json_object_get(w, "final")));
        int u = atoi(user + 1);
        uint64_t start = (uint64_t)json_integer_value(json_object_get(w, "start_ns"));
        long win = (long)((start / 1000000ULL - BASE_MS) / 1000);
        ck_assert(u >= 0 && u < USERS && win >= 0 && win < WINDOWS);
        json_t *vals = json_object_get(w, "values");
        merged->cnt[u][win] += (long)json_integer_value(json_object_get(vals, "n"));
        merged->sum[u][win] += (long)json_real_value(json_object_get(vals, "bytes"));
    }
    json_decref(res);
    return n;
}

static size_t
s_expected_windows(const struct s_expect *x)
{
    size_t n = 0;
    for (int u = 0; u < USERS; u++) {
        for (int w = 0; w < WINDOWS; w++) {
            n += x->cnt[u][w] > 0;
        }
    }
    return n;
}

static void
s_unique(char *out, size_t len, const char *what)
{
    snprintf(out, len, "vexfs.test.analytics.%s.%d.%ld", what, (int)getpid(), (long)time(NULL));
}

/* Waits until the merged windows of the daemons hold every expected event (or 60 s), then
 * checks they equal the expected ones exactly. parts: partial windows per (user, window) allowed
 * (the input partitions; 1 when results are merged for the group). */
static void
s_check(struct ah_daemon *const *ds, size_t nd, const struct s_expect *x, size_t parts)
{
    long total = 0;
    for (int u = 0; u < USERS; u++) {
        for (int w = 0; w < WINDOWS; w++) {
            total += x->cnt[u][w];
        }
    }
    struct s_expect got;
    size_t windows = 0;
    time_t deadline = time(NULL) + 60;
    for (;;) {
        memset(&got, 0, sizeof got);
        windows = 0;
        for (size_t k = 0; k < nd; k++) {
            windows += s_collect(ds[k], &got);
        }
        long seen = 0;
        for (int u = 0; u < USERS; u++) {
            for (int w = 0; w < WINDOWS; w++) {
                seen += got.cnt[u][w];
            }
        }
        if (seen >= total || time(NULL) > deadline) {
            break;
        }
        usleep(200000);
    }
    for (int u = 0; u < USERS; u++) {
        for (int w = 0; w < WINDOWS; w++) {
            ck_assert_msg(got.cnt[u][w] == x->cnt[u][w], "u%d window %d: count %ld, expected %ld",
                          u, w, got.cnt[u][w], x->cnt[u][w]);
            ck_assert_msg(got.sum[u][w] == x->sum[u][w], "u%d window %d: sum %ld, expected %ld", u,
                          w, got.sum[u][w], x->sum[u][w]);
        }
    }
    /* at most one partial window per (user, window, partition): nothing emitted twice */
    ck_assert_uint_ge(windows, s_expected_windows(x));
    if (parts == 1) {
        /* merged for the group: each (user, window) exactly once, whatever the instances */
        struct s_expect one;
        memset(&one, 0, sizeof one);
        ck_assert_uint_eq(s_collect(ds[0], &one), s_expected_windows(x));
    }
    ck_assert_uint_le(windows, s_expected_windows(x) * parts);
}

START_TEST(t_kafka_tumbling)
{
    char topic[128], qfile[300], yaml[2048];
    s_unique(topic, sizeof topic, "one");
    rd_kafka_t *p = ah_producer();
    struct s_expect x;
    memset(&x, 0, sizeof x);
    const int n = 4000;
    s_produce_range(p, topic, 0, n, n, &x);
    int parts = ah_partitions(p, topic);
    s_produce_flush(p, topic, parts);

    char *dir = vt_tmpdir();
    snprintf(qfile, sizeof qfile, "%s/queries.seed.json", dir);
    ck_assert_int_eq(vt_write_file(qfile, s_query_json), 0);
    s_config(yaml, sizeof yaml, topic, topic, qfile, "");
    struct ah_daemon d;
    ah_start(&d, yaml, dir);
    struct ah_daemon *ds[] = {&d};
    s_check(ds, 1, &x, (size_t)parts);
    json_t *res = NULL;
    ah_call(&d, "GET", "/v1/queries/per-user/results", NULL, false, &res);
    ck_assert_str_eq(json_string_value(json_object_get(res, "scope")), "instance");
    json_decref(res);
    /* every message consumed once; results exported for the query with export_metrics */
    ck_assert_double_eq(ah_metric(&d, "vexfs_analytics_events_total"), n + parts);
    ck_assert_double_eq(ah_metric(&d, "vexfs_analytics_query_events_total{query=\"per-user\",tenant=\"\"}"),
                        n);
    ck_assert_double_eq(
        ah_metric(&d, "vexfs_analytics_query_dropped_total{query=\"per-user\",reason=\"late\",tenant=\"\"}"),
        0);
    struct vt_http_result m;
    ck_assert_int_eq(vt_http("GET", d.rest_port, "/metrics", NULL, 0, NULL, &m), 0);
    ck_assert_ptr_nonnull(strstr(m.body, "vexfs_analytics_window_value{query=\"per-user\","
                                         "group=\"{\\\"metadata.user_id\\\":\\\"u0\\\"}\","));
    vt_http_result_fini(&m);
    ah_stop(&d);
    free(dir);
    rd_kafka_destroy(p);
}
END_TEST

START_TEST(t_kafka_two_instances)
{
    char topic[128], qfile[300], yaml[2048];
    s_unique(topic, sizeof topic, "two");
    rd_kafka_t *p = ah_producer();
    struct s_expect x;
    memset(&x, 0, sizeof x);
    const int n = 6000;
    s_produce_range(p, topic, 0, n / 2, n, &x);
    ck_assert_int_eq(rd_kafka_flush(p, 30000), 0);
    int parts = ah_partitions(p, topic);

    char *dir1 = vt_tmpdir(), *dir2 = vt_tmpdir();
    snprintf(qfile, sizeof qfile, "%s/queries.seed.json", dir1);
    ck_assert_int_eq(vt_write_file(qfile, s_query_json), 0);
    char results[160];
    s_unique(results, sizeof results, "two-results");
    s_config(yaml, sizeof yaml, topic, topic, qfile, results);
    struct ah_daemon a, b;
    ah_start(&a, yaml, dir1);
    /* wait until the first instance has consumed part of the stream, then let the second
     * join: the group rebalances with windows open */
    time_t deadline = time(NULL) + 60;
    while (ah_metric(&a, "vexfs_analytics_events_total") < 1 && time(NULL) < deadline) {
        usleep(100000);
    }
    ck_assert_double_gt(ah_metric(&a, "vexfs_analytics_events_total"), 0);
    ah_start(&b, yaml, dir2);
    deadline = time(NULL) + 60;
    while (ah_metric(&b, "vexfs_analytics_rebalances_total{kind=\"assign\"}") < 1 &&
           time(NULL) < deadline) {
        usleep(100000);
    }
    ck_assert_double_gt(ah_metric(&b, "vexfs_analytics_rebalances_total{kind=\"assign\"}"), 0);
    ck_assert_double_gt(ah_metric(&a, "vexfs_analytics_rebalances_total{kind=\"revoke\"}"), 0);
    s_produce_range(p, topic, n / 2, n, n, &x);
    s_produce_flush(p, topic, parts);
    /* results merged for the group through the results topic: each instance alone answers
     * for both, every window once */
    struct ah_daemon *da[] = {&a}, *db[] = {&b};
    s_check(da, 1, &x, 1);
    s_check(db, 1, &x, 1);
    ah_stop(&b);
    ah_stop(&a);
    free(dir1);
    free(dir2);
    rd_kafka_destroy(p);
}
END_TEST

/* POST /v1/replay with body; returns the status and checks the error message holds want. */
static long
s_replay_bad(const struct ah_daemon *d, const char *body, const char *want)
{
    json_t *out = NULL;
    long st = ah_call(d, "POST", "/v1/replay", body, true, &out);
    const char *msg =
        json_string_value(json_object_get(json_object_get(out, "error"), "message"));
    ck_assert_msg(msg && strstr(msg, want), "body %s: got '%s', expected '%s'", body,
                  msg ? msg : "(none)", want);
    json_decref(out);
    return st;
}

START_TEST(t_kafka_replay)
{
    char topic[128], qfile[300], yaml[2048];
    s_unique(topic, sizeof topic, "replay");
    rd_kafka_t *p = ah_producer();
    struct s_expect x;
    memset(&x, 0, sizeof x);
    const int n = 4000;
    s_produce_range(p, topic, 0, n, n, &x);
    int parts = ah_partitions(p, topic);
    s_produce_flush(p, topic, parts);
    const uint64_t from_ms = BASE_MS + 2500;
    long after = parts; /* the flush events are after from_ms */
    for (int i = 0; i < n; i++) {
        after += BASE_MS + (uint64_t)i * (WINDOWS * 1000ULL) / (uint64_t)n >= from_ms;
    }

    char *dir = vt_tmpdir();
    snprintf(qfile, sizeof qfile, "%s/queries.seed.json", dir);
    ck_assert_int_eq(vt_write_file(qfile, s_query_json), 0);
    s_config(yaml, sizeof yaml, topic, topic, qfile, "");
    /* slowed down, so the replay is certainly still running when the second one is asked */
    strcat(yaml, "  replay_max_events_per_sec: 2000\n");
    struct ah_daemon d;
    ah_start(&d, yaml, dir);
    struct ah_daemon *ds[] = {&d};
    s_check(ds, 1, &x, (size_t)parts);

    /* bad bodies: 400 naming the member, nothing started */
    ck_assert_int_eq(s_replay_bad(&d, "{\"from\":\"latest\"}", "from: expected \"earliest\""), 400);
    ck_assert_int_eq(s_replay_bad(&d, "{\"from_timestamp_ms\":-5}", "from_timestamp_ms: expected"),
                     400);
    ck_assert_int_eq(s_replay_bad(&d, "{\"from_timestamp_ms\":\"today\"}",
                                  "from_timestamp_ms: expected"),
                     400);
    ck_assert_int_eq(s_replay_bad(&d, "{\"from\":\"earliest\",\"from_timestamp_ms\":1}",
                                  "not both"),
                     400);
    ck_assert_int_eq(s_replay_bad(&d, "{\"form\":\"earliest\"}", "unknown member 'form'"), 400);
    ck_assert_int_eq(s_replay_bad(&d, "[1]", "expected a JSON object"), 400);
    ck_assert_int_eq(s_replay_bad(&d, NULL, "expected a body"), 400);
    json_t *st = NULL;
    ck_assert_int_eq(ah_call(&d, "GET", "/v1/replay", NULL, false, &st), 200);
    ck_assert_str_eq(json_string_value(json_object_get(st, "state")), "idle");
    json_decref(st);
    double events0 = ah_metric(&d, "vexfs_analytics_events_total");

    /* from the earliest offset: every message again, the same windows */
    ck_assert_int_eq(vt_http_anon_status("POST", d.rest_port, "/v1/replay",
                                         "{\"from\":\"earliest\"}"),
                     401);
    ck_assert_int_eq(ah_call(&d, "POST", "/v1/replay", "{\"from\":\"earliest\"}", true, NULL),
                     202);
    ck_assert_int_eq(s_replay_bad(&d, "{\"from\":\"earliest\"}", "a replay is running"), 409);
    st = ah_wait_member(&d, "/v1/replay", "state", "done", 120);
    ck_assert_str_eq(json_string_value(json_object_get(st, "state")), "done");
    ck_assert_int_eq(json_integer_value(json_object_get(st, "events_total")), n + parts);
    ck_assert_int_eq(json_integer_value(json_object_get(st, "events_done")), n + parts);
    ck_assert_int_eq(json_integer_value(json_object_get(st, "events_remaining")), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(st, "partitions")), (size_t)parts);
    json_decref(st);
    ck_assert_double_eq(ah_metric(&d, "vexfs_analytics_events_total"), events0 + n + parts);
    ck_assert_double_eq(ah_metric(&d, "vexfs_analytics_replays_total{result=\"done\"}"), 1);
    s_check(ds, 1, &x, (size_t)parts);

    /* vexfsctl replay: a progress bar (one line per state when not on a terminal) to done */
    char *out = NULL;
    ck_assert_int_eq(ah_ctl(&d, &out, "replay", "--earliest", NULL), 0);
    ck_assert_msg(strstr(out, "100%") && strstr(out, "done"), "vexfsctl replay printed: %s", out);
    free(out);
    ck_assert_int_eq(ah_ctl(&d, &out, "replay", NULL), 2);
    free(out);
    s_check(ds, 1, &x, (size_t)parts);
    ck_assert_int_eq(ah_ctl(&d, &out, "results", "per-user", NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "{\"metadata.user_id\":\"u0\"}"));
    free(out);
    ck_assert_int_eq(ah_ctl(&d, &out, "queries", NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "per-user"));
    free(out);

    /* from a timestamp inside window 2: the messages from there on; window 2, seen only in
     * part, keeps its earlier result, window 3 is computed again */
    char body[128];
    snprintf(body, sizeof body, "{\"from_timestamp_ms\":%llu}", (unsigned long long)from_ms);
    ck_assert_int_eq(ah_call(&d, "POST", "/v1/replay", body, true, NULL), 202);
    st = ah_wait_member(&d, "/v1/replay", "state", "done", 120);
    ck_assert_str_eq(json_string_value(json_object_get(st, "state")), "done");
    ck_assert_int_eq(json_integer_value(json_object_get(st, "events_done")), after);
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_object_get(st, "from"), "timestamp_ms")),
                     (json_int_t)from_ms);
    json_decref(st);
    s_check(ds, 1, &x, (size_t)parts);
    json_t *q = NULL;
    ck_assert_int_eq(ah_call(&d, "GET", "/v1/queries/per-user", NULL, false, &q), 200);
    ck_assert_int_gt(json_integer_value(json_object_get(json_object_get(q, "stats"),
                                                        "windows_skipped")),
                     0);
    json_decref(q);
    ah_stop(&d);
    free(dir);
    rd_kafka_destroy(p);
}
END_TEST

static void
s_push(zsock_t *push, uint64_t ts_ms, const char *user, int type)
{
    vx_event_t e;
    struct ah_ev_storage st;
    ah_event(&e, &st, type, ts_ms, "/data/x", user, 10);
    vx_event_t *ev = &e;
    vx_batch_t b;
    vexfs__v1__event_batch__init(&b);
    b.events = &ev;
    b.n_events = 1;
    ck_assert_int_eq(vx_wire_send(push, VX_WIRE_TOPIC, &b, 0), 0);
}

START_TEST(t_rest_queries_and_anomalies)
{
    struct ah_daemon d;
    ah_start(&d, NULL, NULL);
    json_t *out = NULL;
    /* no Kafka input, no replay */
    ck_assert_int_eq(s_replay_bad(&d, "{\"from\":\"earliest\"}", "needs the Kafka input"), 409);
    /* bad queries: a precise 422, nothing installed */
    long st = ah_call(&d, "POST", "/v1/queries",
                      "{\"id\":\"q1\",\"window\":{\"kind\":\"hopping\",\"size_ms\":10},"
                      "\"aggregations\":[{\"fn\":\"count\"}]}",
                      true, &out);
    ck_assert_int_eq(st, 422);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(json_object_get(out, "error"),
                                                                   "message")),
                                 "unknown window kind 'hopping'"));
    json_decref(out);
    const char *q = "{\"id\":\"q1\",\"window\":{\"kind\":\"tumbling\",\"size_ms\":1000},"
                    "\"aggregations\":[{\"fn\":\"count\",\"as\":\"n\"}],"
                    "\"anomaly\":{\"min_windows\":5,\"z_threshold\":3}}";
    ck_assert_int_eq(vt_http_anon_status("POST", d.rest_port, "/v1/queries", q), 401);
    ck_assert_int_eq(ah_call(&d, "GET", "/v1/queries/q1", NULL, false, NULL), 404);
    ck_assert_int_eq(ah_call(&d, "POST", "/v1/queries", q, true, NULL), 201);
    ck_assert_int_eq(ah_call(&d, "POST", "/v1/queries", q, true, NULL), 409);
    ck_assert_int_eq(ah_call(&d, "PUT", "/v1/queries/q1", q, true, NULL), 200);
    /* the same count in 8 windows, then ten times as many: one anomaly */
    /* final windows are streamed on the PUB socket as well */
    zsock_t *sub = vt_sock_ex(&(struct vt_sock_opts){.type = ZMQ_SUB, .endpoint = d.results,
                                                     .subscribe = "analytics.q1",
                                                     .rcvtimeo_ms = 10000,
                                                     .wait_connected_ms = 10000});
    ck_assert_ptr_nonnull(sub);
    zsock_t *push = vt_sock_ex(&(struct vt_sock_opts){.type = ZMQ_PUSH, .endpoint = d.input,
                                                      .linger_ms = 5000});
    ck_assert_ptr_nonnull(push);
    for (int w = 0; w < 9; w++) {
        int n = w == 8 ? 50 : 5;
        for (int i = 0; i < n; i++) {
            s_push(push, BASE_MS + (uint64_t)w * 1000 + (uint64_t)i, "u", 2);
        }
    }
    s_push(push, BASE_MS + 100000, "u", 2);
    json_t *an = NULL;
    time_t deadline = time(NULL) + 30;
    while (time(NULL) < deadline) {
        json_decref(an);
        ah_call(&d, "GET", "/v1/anomalies?query=q1", NULL, false, &an);
        if (json_array_size(json_object_get(an, "anomalies")) > 0) {
            break;
        }
        usleep(100000);
    }
    json_t *list = json_object_get(an, "anomalies");
    ck_assert_uint_eq(json_array_size(list), 1);
    ck_assert_double_eq(json_real_value(json_object_get(json_array_get(list, 0), "value")), 50);
    json_decref(an);
    /* raised as an alert too */
    ck_assert_int_eq(ah_call(&d, "GET", "/v1/alerts", NULL, false, &out), 200);
    json_t *recent = json_object_get(out, "recent");
    ck_assert_uint_eq(json_array_size(recent), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(recent, 0), "source")),
                     "anomaly");
    ck_assert_double_eq(json_real_value(json_object_get(
                            json_object_get(json_array_get(recent, 0), "anomaly"), "value")),
                        50);
    json_decref(out);
    ck_assert_int_eq(ah_call(&d, "GET", "/v1/queries/q1/results", NULL, false, &out), 200);
    ck_assert_uint_eq(json_array_size(json_object_get(out, "closed")), 9);
    ck_assert_uint_eq(json_array_size(json_object_get(out, "open")), 1);
    json_decref(out);
    char *topic = NULL, *text = NULL;
    ck_assert_int_eq(zstr_recvx(sub, &topic, &text, NULL), 2);
    ck_assert_str_eq(topic, "analytics.q1");
    json_t *w = json_loads(text, 0, NULL);
    ck_assert(json_is_true(json_object_get(w, "final")));
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(w, "values"), "n")), 5);
    json_decref(w);
    zstr_free(&topic);
    zstr_free(&text);
    zsock_destroy(&sub);
    zsock_destroy(&push);
    ah_stop(&d);
    /* the query survives a restart; DELETE removes it */
    char dir[256];
    snprintf(dir, sizeof dir, "%s", d.dir);
    ah_start(&d, NULL, dir);
    ck_assert_int_eq(ah_call(&d, "GET", "/v1/queries/q1", NULL, false, &out), 200);
    ck_assert_str_eq(json_string_value(json_object_get(out, "id")), "q1");
    json_decref(out);
    ck_assert_int_eq(ah_call(&d, "DELETE", "/v1/queries/q1", NULL, true, NULL), 200);
    ck_assert_int_eq(ah_call(&d, "DELETE", "/v1/queries/q1", NULL, true, NULL), 404);
    ah_stop(&d);
    ah_start(&d, NULL, dir);
    ck_assert_int_eq(ah_call(&d, "GET", "/v1/queries/q1", NULL, false, NULL), 404);
    ah_stop(&d);
}
END_TEST

int
main(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    s_base_ms = ((uint64_t)now.tv_sec - 600) * 1000ULL;
    Suite *s = suite_create("analytics");
    TCase *tc = tcase_create("kafka");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, t_kafka_tumbling);
    tcase_add_test(tc, t_kafka_two_instances);
    tcase_add_test(tc, t_kafka_replay);
    suite_add_tcase(s, tc);
    tc = tcase_create("rest");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, t_rest_queries_and_anomalies);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
