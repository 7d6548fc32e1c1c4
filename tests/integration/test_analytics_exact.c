/* SPDX-License-Identifier: Apache-2.0 */
/* vexfs-analytics from Kafka on a stream with out-of-order and late events: the final windows
 * equal those computed here, independently, from the events and the rules in the README (the
 * watermark is a partition's highest event time minus allowed_lateness_ms; a window is final
 * when the watermark reaches its end; an event whose windows are all final is dropped and
 * counted as late). Three partitions, events written to each explicitly, so the test knows
 * every partition's order; a tumbling query grouped by user with count, sum and max, and a
 * sliding one; type and path filters; events with more entries than the queries read, a
 * repeated key (the first counts), and undecodable messages (counted, never in a window). */
#include <check.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "an_harness.h"
#include "kafka_harness.h"
#include "vx_test.h"

#define PARTS 3
#define PER_PART 500
#define USERS 4
#define MS 1000000ULL
#define LATENESS_MS 300
#define MAX_WIN 64 /* windows of 1 s over the stream's span */

static uint64_t s_base_ms; /* a whole second ten minutes ago: inside the broker's retention */

/* What the test expects, per window start (seconds after the base). */
struct s_expect {
    long cnt[USERS][MAX_WIN], sum[USERS][MAX_WIN], max[USERS][MAX_WIN];
    long slide[MAX_WIN]; /* sliding window [k s, k s + 2 s) */
    long late_tumbling, late_sliding;
};

static const char *s_queries =
    "[{\"id\":\"tum\",\"event_types\":[\"filesystem_write\"],"
    "\"filters\":[{\"field\":\"path\",\"op\":\"prefix\",\"value\":\"/data/\"}],"
    "\"window\":{\"kind\":\"tumbling\",\"size_ms\":1000,\"allowed_lateness_ms\":300},"
    "\"group_by\":[\"metadata.user_id\"],"
    "\"aggregations\":[{\"fn\":\"count\",\"as\":\"n\"},"
    "{\"fn\":\"sum\",\"field\":\"content.size\",\"as\":\"bytes\"},"
    "{\"fn\":\"max\",\"field\":\"content.size\",\"as\":\"max\"}]},"
    "{\"id\":\"sld\",\"event_types\":[\"filesystem_write\"],"
    "\"filters\":[{\"field\":\"path\",\"op\":\"prefix\",\"value\":\"/data/\"}],"
    "\"window\":{\"kind\":\"sliding\",\"size_ms\":2000,\"slide_ms\":1000,"
    "\"allowed_lateness_ms\":300},"
    "\"aggregations\":[{\"fn\":\"count\",\"as\":\"n\"}]}]";

static uint32_t
s_rand(uint32_t *state)
{
    *state = *state * 1103515245u + 12345u;
    return *state >> 8;
}

/* One event: metadata host, user_id, tag; content mode, size (twice: the second is ignored
 * by both decoders), so the queries' fields sit among others. */
static void
s_send(rd_kafka_t *p, const char *topic, int32_t part, int type, uint64_t t_ms, const char *path,
       int user, long size)
{
    vx_event_t e;
    vexfs__v1__event__init(&e);
    Vexfs__V1__Event__MetadataEntry me[3], *mp[3];
    Vexfs__V1__Event__ContentEntry ce[3], *cp[3];
    char u[16], sz[24];
    snprintf(u, sizeof u, "u%d", user);
    snprintf(sz, sizeof sz, "%ld", size);
    const char *mk[] = {"host", "user_id", "tag"}, *mv[] = {"h1", u, "x"};
    const char *ck[] = {"mode", "size", "size"}, *cv[] = {"0644", sz, "999999"};
    for (int i = 0; i < 3; i++) {
        vexfs__v1__event__metadata_entry__init(&me[i]);
        me[i].key = (char *)mk[i];
        me[i].value = (char *)mv[i];
        mp[i] = &me[i];
        vexfs__v1__event__content_entry__init(&ce[i]);
        ce[i].key = (char *)ck[i];
        ce[i].value = (char *)cv[i];
        cp[i] = &ce[i];
    }
    e.type = type;
    e.timestamp_ns = t_ms * MS;
    e.ingest_ns = t_ms * MS;
    e.path = (char *)path;
    e.tenant = (char *)"acme";
    e.metadata = mp;
    e.n_metadata = 3;
    e.content = cp;
    e.n_content = 3;
    ah_produce(p, topic, part, &e, (int64_t)t_ms);
}

/* The README's rules, applied to one partition's events in order. */
struct s_sim {
    uint64_t clock_ms;
};

static void
s_expect_event(struct s_expect *x, struct s_sim *sim, bool matches, uint64_t t_ms, int user,
               long size)
{
    sim->clock_ms = t_ms > sim->clock_ms ? t_ms : sim->clock_ms;
    if (!matches) {
        return; /* moves the clock, counts nowhere */
    }
    uint64_t wm = sim->clock_ms > LATENESS_MS ? sim->clock_ms - LATENESS_MS : 0;
    uint64_t start = t_ms - t_ms % 1000;
    int w = (int)((start - s_base_ms) / 1000);
    ck_assert(w >= 1 && w < MAX_WIN);
    if (start + 1000 > wm) {
        x->cnt[user][w]++;
        x->sum[user][w] += size;
        x->max[user][w] = size > x->max[user][w] ? size : x->max[user][w];
    } else {
        x->late_tumbling++;
    }
    /* sliding: [start, start + 2 s) and [start - 1 s, start + 1 s) hold t */
    bool used = false;
    for (int k = 0; k < 2; k++) {
        if (start - (uint64_t)k * 1000 + 2000 > wm) {
            x->slide[w - k]++;
            used = true;
        }
    }
    x->late_sliding += !used;
}

static void
s_produce(rd_kafka_t *p, const char *topic, struct s_expect *x)
{
    for (int part = 0; part < PARTS; part++) {
        struct s_sim sim = {0};
        uint32_t rs = 7u + (uint32_t)part;
        for (int i = 0; i < PER_PART; i++) {
            /* 10 ms apart, a fifth up to 400 ms early (mostly inside the lateness), one in 25
             * 0.7 to 1.3 s behind (late for the tumbling windows, not for the 2 s sliding
             * ones), one in 33 2.5 to 3.5 s behind (late for both) */
            int64_t t = (int64_t)s_base_ms + 5000 + (int64_t)i * 10;
            uint32_t r = s_rand(&rs) % 100;
            if (r < 20) {
                t -= (int64_t)(s_rand(&rs) % 400);
            } else if (r < 24) {
                t -= 700 + (int64_t)(s_rand(&rs) % 600);
            } else if (r < 27) {
                t -= 2500 + (int64_t)(s_rand(&rs) % 1000);
            }
            int user = (int)(s_rand(&rs) % USERS);
            long size = (long)(s_rand(&rs) % 5000);
            int type = s_rand(&rs) % 10 == 0 ? VEXFS__V1__EVENT_TYPE__FILESYSTEM_READ
                                             : VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE;
            const char *path = s_rand(&rs) % 10 == 0 ? "/other/f" : "/data/f";
            s_send(p, topic, part, type, (uint64_t)t, path, user, size);
            s_expect_event(x, &sim, type == VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE &&
                                        strcmp(path, "/data/f") == 0,
                           (uint64_t)t, user, size);
        }
        /* far ahead, filtered out: closes every window of the partition */
        s_send(p, topic, part, VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE, s_base_ms + 600000,
               "/other/flush", 0, 1);
    }
    /* undecodable messages: an unterminated varint, a type with the wrong wire type */
    static const uint8_t bad1[] = {0xff, 0xff, 0xff}, bad2[] = {2 << 3 | 2, 1, 0};
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(1),
                                           RD_KAFKA_V_VALUE((void *)(i ? bad2 : bad1),
                                                            i ? sizeof bad2 : sizeof bad1),
                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                           RD_KAFKA_V_END),
                         0);
    }
    ck_assert_int_eq(rd_kafka_flush(p, 30000), 0);
}

/* Compares the daemon's closed windows of both queries with x; the first difference in why. */
static bool
s_matches(const struct ah_daemon *d, const struct s_expect *x, char *why, size_t len)
{
    long cnt[USERS][MAX_WIN] = {{0}}, sum[USERS][MAX_WIN] = {{0}}, max[USERS][MAX_WIN] = {{0}};
    long slide[MAX_WIN] = {0};
    size_t got_tum = 0, got_sld = 0, want_tum = 0, want_sld = 0;
    json_t *res = NULL, *w;
    size_t i;
    if (ah_call(d, "GET", "/v1/queries/tum/results?limit=1000", NULL, false, &res) != 200) {
        snprintf(why, len, "tum: no answer");
        return false;
    }
    json_array_foreach(json_object_get(res, "closed"), i, w) {
        const char *user = json_string_value(
            json_object_get(json_object_get(w, "group"), "metadata.user_id"));
        int u = user ? atoi(user + 1) : -1;
        uint64_t start_ms = (uint64_t)json_integer_value(json_object_get(w, "start_ns")) / MS;
        int k = (int)((start_ms - s_base_ms) / 1000);
        if (u < 0 || u >= USERS || start_ms < s_base_ms || k >= MAX_WIN) {
            snprintf(why, len, "tum: a window nobody expects (user %s, start %llu)",
                     user ? user : "?", (unsigned long long)start_ms);
            json_decref(res);
            return false;
        }
        json_t *v = json_object_get(w, "values");
        cnt[u][k] = (long)json_integer_value(json_object_get(v, "n"));
        sum[u][k] = (long)json_number_value(json_object_get(v, "bytes"));
        max[u][k] = (long)json_number_value(json_object_get(v, "max"));
        got_tum++;
    }
    json_decref(res);
    for (int u = 0; u < USERS; u++) {
        for (int k = 0; k < MAX_WIN; k++) {
            want_tum += x->cnt[u][k] > 0;
            if (cnt[u][k] != x->cnt[u][k] || sum[u][k] != x->sum[u][k] ||
                max[u][k] != x->max[u][k]) {
                snprintf(why, len,
                         "tum u%d window %d: count %ld sum %ld max %ld, expected %ld %ld %ld", u,
                         k, cnt[u][k], sum[u][k], max[u][k], x->cnt[u][k], x->sum[u][k],
                         x->max[u][k]);
                return false;
            }
        }
    }
    if (got_tum != want_tum) {
        snprintf(why, len, "tum: %zu windows, expected %zu", got_tum, want_tum);
        return false;
    }
    if (ah_call(d, "GET", "/v1/queries/sld/results?limit=1000", NULL, false, &res) != 200) {
        snprintf(why, len, "sld: no answer");
        return false;
    }
    json_array_foreach(json_object_get(res, "closed"), i, w) {
        uint64_t start_ms = (uint64_t)json_integer_value(json_object_get(w, "start_ns")) / MS;
        int k = (int)((start_ms - s_base_ms) / 1000);
        if (start_ms < s_base_ms || k >= MAX_WIN) {
            snprintf(why, len, "sld: a window nobody expects (start %llu)",
                     (unsigned long long)start_ms);
            json_decref(res);
            return false;
        }
        slide[k] = (long)json_integer_value(json_object_get(json_object_get(w, "values"), "n"));
        got_sld++;
    }
    json_decref(res);
    for (int k = 0; k < MAX_WIN; k++) {
        want_sld += x->slide[k] > 0;
        if (slide[k] != x->slide[k]) {
            snprintf(why, len, "sld window %d: count %ld, expected %ld", k, slide[k],
                     x->slide[k]);
            return false;
        }
    }
    if (got_sld != want_sld) {
        snprintf(why, len, "sld: %zu windows, expected %zu", got_sld, want_sld);
        return false;
    }
    double late_t = ah_metric(d, "vexfs_analytics_query_dropped_total{query=\"tum\",reason=\"late\",tenant=\"\"}");
    double late_s = ah_metric(d, "vexfs_analytics_query_dropped_total{query=\"sld\",reason=\"late\",tenant=\"\"}");
    double bad = ah_metric(d, "vexfs_analytics_dropped_total{reason=\"decode\"}");
    if (late_t != (double)x->late_tumbling || late_s != (double)x->late_sliding || bad != 2) {
        snprintf(why, len, "dropped: late %.0f and %.0f, decode %.0f; expected %ld, %ld and 2",
                 late_t, late_s, bad, x->late_tumbling, x->late_sliding);
        return false;
    }
    return true;
}

START_TEST(t_late_and_out_of_order)
{
    static struct s_expect x;
    memset(&x, 0, sizeof x);
    char topic[128], yaml[2048], qfile[300];
    kh_topic(topic, sizeof topic, "analytics-exact");
    kh_create_topic(topic, PARTS);
    rd_kafka_t *p = ah_producer();
    s_produce(p, topic, &x);
    /* the stream holds what the test is about: late events, and windows with many events */
    ck_assert_int_gt(x.late_tumbling, 10);
    ck_assert_int_gt(x.late_sliding, 5);
    ck_assert_int_lt(x.late_sliding, x.late_tumbling);

    char *dir = vt_tmpdir();
    snprintf(qfile, sizeof qfile, "%s/queries.seed.json", dir);
    ck_assert_int_eq(vt_write_file(qfile, s_queries), 0);
    snprintf(yaml, sizeof yaml,
             "  kafka_brokers: %s\n  topic: %s\n  group_id: %s.g\n  results_topic: %s.results\n"
             "  queries_file: %s\n  idle_timeout_ms: 0\n",
             ah_bootstrap(), topic, topic, topic, qfile);
    struct ah_daemon d;
    ah_start(&d, yaml, dir);
    char why[1024] = "";
    time_t deadline = time(NULL) + 120;
    while (!s_matches(&d, &x, why, sizeof why) && time(NULL) < deadline) {
        usleep(250000);
    }
    ck_assert_msg(s_matches(&d, &x, why, sizeof why), "%s (log %s)", why, d.log);
    ck_assert_double_eq(ah_metric(&d, "vexfs_analytics_events_total"), PARTS * (PER_PART + 1) + 2);
    ah_stop(&d);
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
    Suite *s = suite_create("analytics-exact");
    TCase *tc = tcase_create("windows");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, t_late_and_out_of_order);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
