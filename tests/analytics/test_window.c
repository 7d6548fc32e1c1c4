/* SPDX-License-Identifier: Apache-2.0 */
/* an_query, an_agg, an_window, an_anomaly: query validation, every window kind, lateness
 * inside and outside the allowance, every aggregation, group-by, the group bound, replay and
 * anomalies. Expected results are computed in the test from the events it generated. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "an_anomaly.h"
#include "an_query.h"
#include "an_window.h"

#define MS 1000000ULL
#define MAXR 4096

/* ---- events built by hand --------------------------------------------------------------- */

struct tev {
    vx_event_t e;
    Vexfs__V1__Event__MetadataEntry me;
    Vexfs__V1__Event__MetadataEntry *mp[1];
    Vexfs__V1__Event__ContentEntry ce;
    Vexfs__V1__Event__ContentEntry *cp[1];
    char size[32];
};

static vx_event_t *
s_ev(struct tev *t, uint64_t ts_ms, const char *user, double size)
{
    vexfs__v1__event__init(&t->e);
    t->e.type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE;
    t->e.path = (char *)"/data/a";
    t->e.timestamp_ns = ts_ms * MS;
    if (user) {
        vexfs__v1__event__metadata_entry__init(&t->me);
        t->me.key = (char *)"user_id";
        t->me.value = (char *)user;
        t->mp[0] = &t->me;
        t->e.metadata = t->mp;
        t->e.n_metadata = 1;
    }
    if (!isnan(size)) {
        snprintf(t->size, sizeof t->size, "%g", size);
        vexfs__v1__event__content_entry__init(&t->ce);
        t->ce.key = (char *)"size";
        t->ce.value = t->size;
        t->cp[0] = &t->ce;
        t->e.content = t->cp;
        t->e.n_content = 1;
    }
    return &t->e;
}

static void
s_feed(an_engine_t *e, uint64_t ts_ms, const char *user, double size)
{
    struct tev t;
    an_engine_process(e, s_ev(&t, ts_ms, user, size));
}

/* ---- a sink for results ----------------------------------------------------------------- */

struct res {
    char group[64];
    uint64_t start_ms, end_ms, events;
    double v[8];
    bool has[8];
    bool evicted;
};

static struct res s_res[MAXR];
static size_t s_nres;

static void
cb_sink(const struct an_result *r, void *arg)
{
    (void)arg;
    ck_assert_uint_lt(s_nres, MAXR);
    struct res *x = &s_res[s_nres++];
    memset(x, 0, sizeof *x);
    json_t *u = json_object_get(r->group, "metadata.user_id");
    snprintf(x->group, sizeof x->group, "%s", u && json_is_string(u) ? json_string_value(u) : "-");
    x->start_ms = r->start_ns / MS;
    x->end_ms = r->end_ns / MS;
    x->events = r->events;
    for (size_t i = 0; i < r->query->n_aggs && i < 8; i++) {
        x->v[i] = r->values[i];
        x->has[i] = r->has_value[i];
    }
    x->evicted = r->evicted;
    ck_assert(r->final);
}

static const struct res *
s_find(const char *group, uint64_t start_ms)
{
    for (size_t i = 0; i < s_nres; i++) {
        if (strcmp(s_res[i].group, group) == 0 && s_res[i].start_ms == start_ms) {
            return &s_res[i];
        }
    }
    return NULL;
}

static struct an_query *
s_query(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    ck_assert_msg(j != NULL, "bad test JSON: %s", je.text);
    struct an_query *q = NULL;
    char err[300];
    int rc = an_query_parse(j, &q, err, sizeof err);
    json_decref(j);
    ck_assert_msg(rc == 0, "query refused: %s", err);
    return q;
}

static an_engine_t *
s_engine(const struct an_query *q, size_t max_groups)
{
    s_nres = 0;
    an_engine_t *e = an_engine_new(3, max_groups, cb_sink, NULL);
    ck_assert_int_eq(an_engine_add_query(e, q), 0);
    return e;
}

/* ---- validation --------------------------------------------------------------------------- */

static const struct {
    const char *json;
    const char *msg;
} s_bad[] = {
    {"{\"id\":\"q\",\"window\":{\"kind\":\"tumbling\",\"size_ms\":10},\"aggregations\":[{\"fn\":"
     "\"sum\",\"field\":\"content\"}]}",
     "unknown field 'content'"},
    {"{\"id\":\"q\",\"window\":{\"kind\":\"hopping\",\"size_ms\":10},\"aggregations\":[{\"fn\":"
     "\"count\"}]}",
     "unknown window kind 'hopping'"},
    {"{\"id\":\"q\",\"window\":{\"kind\":\"tumbling\",\"size_ms\":0},\"aggregations\":[{\"fn\":"
     "\"count\"}]}",
     "window.size_ms: 0 is out of range"},
    {"{\"id\":\"q\",\"window\":{\"kind\":\"tumbling\",\"size_ms\":-5},\"aggregations\":[{\"fn\":"
     "\"count\"}]}",
     "window.size_ms: -5 is out of range"},
    {"{\"id\":\"q\",\"window\":{\"kind\":\"sliding\",\"size_ms\":10,\"slide_ms\":20},"
     "\"aggregations\":[{\"fn\":\"count\"}]}",
     "window.slide_ms: must not exceed size_ms"},
    {"{\"id\":\"q\",\"window\":{\"kind\":\"session\"},\"aggregations\":[{\"fn\":\"count\"}]}",
     "window.gap_ms: required"},
    {"{\"id\":\"q\",\"window\":{\"kind\":\"tumbling\",\"size_ms\":10}}", "aggregations: required"},
    {"{\"id\":\"q\",\"window\":{\"kind\":\"tumbling\",\"size_ms\":10},\"aggregations\":[{\"fn\":"
     "\"median\",\"field\":\"content.size\"}]}",
     "unknown function 'median'"},
    {"{\"id\":\"q\",\"window\":{\"kind\":\"tumbling\",\"size_ms\":10},\"aggregations\":[{\"fn\":"
     "\"count\"}],\"filters\":[{\"field\":\"path\",\"op\":\"like\",\"value\":\"x\"}]}",
     "filters[0].op: unknown operator 'like'"},
    {"{\"id\":\"q\",\"window\":{\"kind\":\"tumbling\",\"size_ms\":10},\"aggregations\":[{\"fn\":"
     "\"count\"}],\"filters\":[{\"field\":\"priority\",\"op\":\"gt\",\"value\":\"high\"}]}",
     "filters[0].value: 'gt' needs a number"},
    {"{\"id\":\"q\",\"window\":{\"kind\":\"tumbling\",\"size_ms\":10},\"aggregations\":[{\"fn\":"
     "\"count\"}],\"group_by\":[\"user\"]}",
     "group_by[0]: unknown field 'user'"},
    {"{\"id\":\"q\",\"window\":{\"kind\":\"tumbling\",\"size_ms\":10},\"aggregations\":[{\"fn\":"
     "\"count\"}],\"colour\":1}",
     "unknown member 'colour'"},
    {"{\"id\":\"q\",\"event_types\":[\"filesystem_explode\"],\"window\":{\"kind\":\"tumbling\","
     "\"size_ms\":10},\"aggregations\":[{\"fn\":\"count\"}]}",
     "event_types[0]: unknown event type 'filesystem_explode'"},
    {"{\"id\":\"a b\",\"window\":{\"kind\":\"tumbling\",\"size_ms\":10},\"aggregations\":[{\"fn\":"
     "\"count\"}]}",
     "id: 'a b' may only hold"},
    {"{\"id\":\"q\",\"window\":{\"kind\":\"tumbling\",\"size_ms\":10},\"aggregations\":[{\"fn\":"
     "\"count\"},{\"fn\":\"count\"}]}",
     "aggregations[1].as: 'count' is already used"},
};

START_TEST(t_invalid_queries)
{
    json_t *j = json_loads(s_bad[_i].json, 0, NULL);
    ck_assert_ptr_nonnull(j);
    struct an_query *q = NULL;
    char err[300] = "";
    ck_assert_int_eq(an_query_parse(j, &q, err, sizeof err), -EINVAL);
    ck_assert_ptr_null(q);
    ck_assert_msg(strstr(err, s_bad[_i].msg) != NULL, "got '%s', expected '%s'", err,
                  s_bad[_i].msg);
    json_decref(j);
}
END_TEST

START_TEST(t_filters)
{
    struct an_query *q = s_query(
        "{\"id\":\"f\",\"event_types\":[\"filesystem_write\"],\"filters\":["
        "{\"field\":\"path\",\"op\":\"prefix\",\"value\":\"/data/\"},"
        "{\"field\":\"content.size\",\"op\":\"ge\",\"value\":100},"
        "{\"field\":\"metadata.user_id\",\"op\":\"ne\",\"value\":\"root\"}],"
        "\"window\":{\"kind\":\"tumbling\",\"size_ms\":10},\"aggregations\":[{\"fn\":\"count\"}]}");
    struct tev t;
    ck_assert(an_query_match(q, s_ev(&t, 1, "u1", 100)));
    ck_assert(!an_query_match(q, s_ev(&t, 1, "u1", 99.5)));
    ck_assert(!an_query_match(q, s_ev(&t, 1, "root", 500)));
    ck_assert(!an_query_match(q, s_ev(&t, 1, "u1", NAN))); /* no size: no comparison passes */
    vx_event_t *e = s_ev(&t, 1, "u1", 200);
    e->path = (char *)"/etc/passwd";
    ck_assert(!an_query_match(q, e));
    e = s_ev(&t, 1, "u1", 200);
    e->type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_READ;
    ck_assert(!an_query_match(q, e));
    an_query_destroy(&q);
    ck_assert_ptr_null(q);
}
END_TEST

/* ---- tumbling with group-by: a randomised stream against an independent count ----------- */

START_TEST(t_tumbling_group_by)
{
    struct an_query *q = s_query(
        "{\"id\":\"t\",\"window\":{\"kind\":\"tumbling\",\"size_ms\":100,\"allowed_lateness_ms\":"
        "50},\"group_by\":[\"metadata.user_id\"],\"aggregations\":[{\"fn\":\"count\",\"as\":\"n\"},"
        "{\"fn\":\"sum\",\"field\":\"content.size\",\"as\":\"bytes\"}]}");
    an_engine_t *e = s_engine(q, 1000);
    enum { USERS = 5, WINDOWS = 20 };
    uint64_t cnt[USERS][WINDOWS] = {{0}};
    double sum[USERS][WINDOWS] = {{0}};
    unsigned seed = 7;
    uint64_t maxt = 0;
    for (int i = 0; i < 3000; i++) {
        /* time moves forward with jitter of up to 40 ms backwards: always within lateness */
        uint64_t t = 1000 + (uint64_t)i * 600 / 1000;
        uint64_t j = (uint64_t)(rand_r(&seed) % 40);
        t = t > j + 1000 ? t - j : t;
        t = t + 40 < maxt ? maxt - 40 : t;
        maxt = t > maxt ? t : maxt;
        int u = rand_r(&seed) % USERS;
        double size = (double)(rand_r(&seed) % 1000);
        char user[8];
        snprintf(user, sizeof user, "u%d", u);
        s_feed(e, t, user, size);
        cnt[u][(t - 1000) / 100]++;
        sum[u][(t - 1000) / 100] += size;
    }
    s_feed(e, 1000000, "flush", 0); /* moves the watermark past every window */
    struct an_query_stats st = {0};
    ck_assert_int_eq(an_engine_stats(e, "t", &st), 0);
    ck_assert_uint_eq(st.dropped_late, 0);
    size_t expected = 0;
    for (int u = 0; u < USERS; u++) {
        for (int w = 0; w < WINDOWS; w++) {
            if (!cnt[u][w]) {
                continue;
            }
            expected++;
            char user[8];
            snprintf(user, sizeof user, "u%d", u);
            const struct res *r = s_find(user, 1000 + (uint64_t)w * 100);
            ck_assert_msg(r != NULL, "missing window %s/%d", user, w);
            ck_assert_uint_eq(r->end_ms, r->start_ms + 100);
            ck_assert_uint_eq(r->events, cnt[u][w]);
            ck_assert_double_eq(r->v[0], (double)cnt[u][w]);
            ck_assert_double_eq(r->v[1], sum[u][w]);
        }
    }
    ck_assert_uint_eq(s_nres, expected);
    ck_assert_uint_eq(st.emitted, expected);
    an_engine_destroy(&e);
    an_query_destroy(&q);
}
END_TEST

START_TEST(t_lateness)
{
    struct an_query *q = s_query("{\"id\":\"l\",\"window\":{\"kind\":\"tumbling\",\"size_ms\":10,"
                                 "\"allowed_lateness_ms\":5},\"aggregations\":[{\"fn\":\"count\"}]}");
    an_engine_t *e = s_engine(q, 10);
    s_feed(e, 101, NULL, NAN);
    s_feed(e, 112, NULL, NAN); /* watermark 107: [100,110) still open */
    ck_assert_uint_eq(s_nres, 0);
    s_feed(e, 103, NULL, NAN); /* late but inside the allowance: counts */
    s_feed(e, 114, NULL, NAN); /* watermark 109 */
    ck_assert_uint_eq(s_nres, 0);
    s_feed(e, 115, NULL, NAN); /* watermark 110: [100,110) is final */
    ck_assert_uint_eq(s_nres, 1);
    ck_assert_uint_eq(s_res[0].start_ms, 100);
    ck_assert_double_eq(s_res[0].v[0], 2);
    s_feed(e, 104, NULL, NAN); /* beyond the allowance: dropped */
    struct an_query_stats st = {0};
    an_engine_stats(e, "l", &st);
    ck_assert_uint_eq(st.dropped_late, 1);
    ck_assert_uint_eq(st.matched, 6);
    ck_assert_uint_eq(s_nres, 1);
    ck_assert_uint_eq(an_engine_low_time(e), 110 * MS);
    an_engine_destroy(&e);
    an_query_destroy(&q);
}
END_TEST

START_TEST(t_sliding)
{
    struct an_query *q = s_query("{\"id\":\"s\",\"window\":{\"kind\":\"sliding\",\"size_ms\":30,"
                                 "\"slide_ms\":10},\"aggregations\":[{\"fn\":\"count\"},{\"fn\":"
                                 "\"sum\",\"field\":\"content.size\"}]}");
    an_engine_t *e = s_engine(q, 10);
    const uint64_t ts[] = {1000, 1005, 1012, 1019, 1020, 1031, 1047, 1050, 1062};
    const size_t n = sizeof ts / sizeof ts[0];
    for (size_t i = 0; i < n; i++) {
        s_feed(e, ts[i], NULL, (double)(i + 1));
    }
    s_feed(e, 5000, NULL, 0);
    /* every window [s, s+30) with s a multiple of 10 holding at least one event */
    size_t expected = 0;
    for (uint64_t s = 970; s <= 1070; s += 10) {
        uint64_t c = 0;
        double sum = 0;
        for (size_t i = 0; i < n; i++) {
            if (ts[i] >= s && ts[i] < s + 30) {
                c++;
                sum += (double)(i + 1);
            }
        }
        if (!c) {
            continue;
        }
        expected++;
        const struct res *r = s_find("-", s);
        ck_assert_msg(r != NULL, "missing window at %llu", (unsigned long long)s);
        ck_assert_uint_eq(r->end_ms, s + 30);
        ck_assert_double_eq(r->v[0], (double)c);
        ck_assert_double_eq(r->v[1], sum);
    }
    ck_assert_uint_eq(s_nres, expected + 0); /* the flush event's own windows stay open */
    an_engine_destroy(&e);
    an_query_destroy(&q);
}
END_TEST

START_TEST(t_session)
{
    struct an_query *q = s_query("{\"id\":\"ss\",\"window\":{\"kind\":\"session\",\"gap_ms\":10,"
                                 "\"allowed_lateness_ms\":20},"
                                 "\"group_by\":[\"metadata.user_id\"],\"aggregations\":[{\"fn\":"
                                 "\"count\"}]}");
    an_engine_t *e = s_engine(q, 10);
    s_feed(e, 100, "a", NAN);
    s_feed(e, 105, "a", NAN);
    s_feed(e, 108, "a", NAN); /* a: [100,118) */
    s_feed(e, 100, "b", NAN);
    s_feed(e, 118, "b", NAN); /* b: two sessions [100,110) and [118,128) ... */
    ck_assert_uint_eq(s_nres, 0);
    s_feed(e, 109, "b", NAN); /* ... bridged into [100,128) */
    s_feed(e, 130, "a", NAN); /* a: second session [130,140); watermark 110 */
    ck_assert_uint_eq(s_nres, 0);
    s_feed(e, 140, "z", NAN); /* watermark 120 closes a's [100,118) */
    ck_assert_uint_eq(s_nres, 1);
    ck_assert_str_eq(s_res[0].group, "a");
    ck_assert_uint_eq(s_res[0].start_ms, 100);
    ck_assert_uint_eq(s_res[0].end_ms, 118);
    ck_assert_double_eq(s_res[0].v[0], 3);
    s_feed(e, 105, "c", NAN); /* its session would end at 115 <= watermark 120: late */
    s_feed(e, 500, "z", NAN);
    const struct res *b = s_find("b", 100);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(b->end_ms, 128);
    ck_assert_double_eq(b->v[0], 3);
    const struct res *a2 = s_find("a", 130);
    ck_assert_ptr_nonnull(a2);
    ck_assert_uint_eq(a2->end_ms, 140);
    ck_assert_uint_eq(s_nres, 4); /* and z's [140,150) */
    struct an_query_stats st = {0};
    an_engine_stats(e, "ss", &st);
    ck_assert_uint_eq(st.dropped_late, 1);
    an_engine_destroy(&e);
    an_query_destroy(&q);
}
END_TEST

static int
cb_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

START_TEST(t_aggregations)
{
    struct an_query *q = s_query(
        "{\"id\":\"a\",\"window\":{\"kind\":\"tumbling\",\"size_ms\":1000},\"aggregations\":["
        "{\"fn\":\"count\"},{\"fn\":\"sum\",\"field\":\"content.size\"},{\"fn\":\"avg\",\"field\":"
        "\"content.size\"},{\"fn\":\"min\",\"field\":\"content.size\"},{\"fn\":\"max\",\"field\":"
        "\"content.size\"},{\"fn\":\"distinct_count\",\"field\":\"metadata.user_id\"},{\"fn\":"
        "\"p50\",\"field\":\"content.size\"},{\"fn\":\"p90\",\"field\":\"content.size\"}]}");
    struct an_query *q99 = s_query("{\"id\":\"b\",\"window\":{\"kind\":\"tumbling\",\"size_ms\":"
                                   "1000},\"aggregations\":[{\"fn\":\"p99\",\"field\":\"content."
                                   "size\"},{\"fn\":\"avg\",\"field\":\"content.nothing\"}]}");
    an_engine_t *e = s_engine(q, 10);
    ck_assert_int_eq(an_engine_add_query(e, q99), 0);
    ck_assert_int_eq(an_engine_add_query(e, q99), -EEXIST);
    unsigned seed = 3;
    double vals[250];
    size_t n = 0;
    double sum = 0, mn = INFINITY, mx = -INFINITY;
    bool seen[17] = {false};
    size_t distinct = 0;
    for (int i = 0; i < 250; i++) {
        double v = (double)(rand_r(&seed) % 10000) - 3000;
        int u = rand_r(&seed) % 17;
        char user[8];
        snprintf(user, sizeof user, "%d", u);
        if (i % 10 == 9) {
            s_feed(e, 2000 + (uint64_t)i, user, NAN); /* no size: counted, no value */
        } else {
            s_feed(e, 2000 + (uint64_t)i, user, v);
            vals[n++] = v;
            sum += v;
            mn = v < mn ? v : mn;
            mx = v > mx ? v : mx;
        }
        distinct += !seen[u];
        seen[u] = true;
    }
    s_feed(e, 9000, NULL, NAN);
    ck_assert_uint_eq(s_nres, 2);
    qsort(vals, n, sizeof vals[0], cb_cmp);
    const struct res *r = s_res[0].v[0] == 250 ? &s_res[0] : &s_res[1];
    const struct res *r99 = r == &s_res[0] ? &s_res[1] : &s_res[0];
    ck_assert_double_eq(r->v[0], 250);
    ck_assert_double_eq_tol(r->v[1], sum, 1e-6);
    ck_assert_double_eq_tol(r->v[2], sum / (double)n, 1e-9);
    ck_assert_double_eq(r->v[3], mn);
    ck_assert_double_eq(r->v[4], mx);
    ck_assert_double_eq(r->v[5], (double)distinct);
    /* nearest rank: the ceil(q*n)-th smallest value */
    ck_assert_double_eq(r->v[6], vals[(size_t)ceil(0.5 * (double)n) - 1]);
    ck_assert_double_eq(r->v[7], vals[(size_t)ceil(0.9 * (double)n) - 1]);
    ck_assert_double_eq(r99->v[0], vals[(size_t)ceil(0.99 * (double)n) - 1]);
    ck_assert(!r99->has[1]); /* avg of nothing has no value */
    ck_assert_int_eq(an_engine_remove_query(e, "b"), 0);
    ck_assert_int_eq(an_engine_remove_query(e, "b"), -ENOENT);
    an_engine_destroy(&e);
    an_query_destroy(&q);
    an_query_destroy(&q99);
}
END_TEST

START_TEST(t_group_bound)
{
    struct an_query *q = s_query("{\"id\":\"g\",\"window\":{\"kind\":\"tumbling\",\"size_ms\":100},"
                                 "\"group_by\":[\"metadata.user_id\"],\"aggregations\":[{\"fn\":"
                                 "\"count\"}]}");
    an_engine_t *e = s_engine(q, 2);
    s_feed(e, 10, "a", NAN);
    s_feed(e, 20, "b", NAN);
    s_feed(e, 21, "b", NAN);
    s_feed(e, 30, "c", NAN); /* a third group: the one with the oldest window goes */
    ck_assert_uint_eq(s_nres, 1);
    ck_assert(s_res[0].evicted);
    struct an_query_stats st = {0};
    an_engine_stats(e, "g", &st);
    ck_assert_uint_eq(st.evicted_groups, 1);
    ck_assert_uint_eq(st.open_groups, 2);
    s_feed(e, 1000, "b", NAN);
    ck_assert_uint_eq(s_nres, 3);
    ck_assert_ptr_nonnull(s_find("b", 0));
    ck_assert_double_eq(s_find("b", 0)->v[0], 2);
    an_engine_destroy(&e);
    an_query_destroy(&q);
}
END_TEST

START_TEST(t_replay_clock)
{
    struct an_query *q = s_query("{\"id\":\"r\",\"window\":{\"kind\":\"tumbling\",\"size_ms\":10},"
                                 "\"aggregations\":[{\"fn\":\"count\"}]}");
    an_engine_t *e = s_engine(q, 10);
    an_engine_set_clock(e, 25 * MS);
    an_engine_set_replaying(e, true);
    s_feed(e, 12, NULL, NAN); /* the previous owner closed [10,20): not counted again */
    s_feed(e, 21, NULL, NAN);
    an_engine_set_replaying(e, false);
    s_feed(e, 22, NULL, NAN);
    s_feed(e, 5, NULL, NAN);
    s_feed(e, 30, NULL, NAN);
    ck_assert_uint_eq(s_nres, 1);
    ck_assert_uint_eq(s_res[0].start_ms, 20);
    ck_assert_double_eq(s_res[0].v[0], 2);
    struct an_query_stats st = {0};
    an_engine_stats(e, "r", &st);
    ck_assert_uint_eq(st.dropped_replay, 1);
    ck_assert_uint_eq(st.dropped_late, 1);
    ck_assert_uint_eq(an_engine_clock(e), 30 * MS);
    an_engine_destroy(&e);
    an_query_destroy(&q);
}
END_TEST

START_TEST(t_anomaly)
{
    struct an_query *q = s_query("{\"id\":\"an\",\"window\":{\"kind\":\"tumbling\",\"size_ms\":10},"
                                 "\"aggregations\":[{\"fn\":\"count\"}],\"anomaly\":{\"alpha\":0.5,"
                                 "\"z_threshold\":3,\"min_windows\":4}}");
    an_anomaly_t *a = an_anomaly_new(100, 10);
    const double series[] = {10, 12, 10, 12, 11, 30, 11};
    double mean = 0, var = 0;
    json_t *group = json_object();
    for (size_t i = 0; i < sizeof series / sizeof series[0]; i++) {
        double v = series[i];
        bool has = true;
        struct an_result r = {.query = q, .partition = 0, .group = group,
                              .start_ns = i * 10 * MS, .end_ns = (i + 1) * 10 * MS, .events = 1,
                              .values = &v, .has_value = &has, .final = true};
        /* the expected verdict, from the same recurrence written out here */
        bool expect = i >= 4 && fabs(v - mean) / sqrt(var) > 3;
        ck_assert_int_eq(an_anomaly_observe(a, &r), expect ? 1 : 0);
        if (i == 0) {
            mean = v;
        } else {
            double d = v - mean;
            mean += 0.5 * d;
            var = 0.5 * (var + d * 0.5 * d);
        }
    }
    ck_assert_uint_eq(an_anomaly_total(a), 1);
    json_t *list = an_anomaly_list(a, "an");
    ck_assert_uint_eq(json_array_size(list), 1);
    ck_assert_double_eq(json_real_value(json_object_get(json_array_get(list, 0), "value")), 30);
    json_decref(list);
    an_anomaly_forget(a, "an");
    list = an_anomaly_list(a, NULL);
    ck_assert_uint_eq(json_array_size(list), 0);
    json_decref(list);
    json_decref(group);
    an_anomaly_destroy(&a);
    an_query_destroy(&q);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("an_window");
    TCase *tc = tcase_create("query");
    tcase_add_loop_test(tc, t_invalid_queries, 0, sizeof s_bad / sizeof s_bad[0]);
    tcase_add_test(tc, t_filters);
    suite_add_tcase(s, tc);
    tc = tcase_create("windows");
    tcase_add_test(tc, t_tumbling_group_by);
    tcase_add_test(tc, t_lateness);
    tcase_add_test(tc, t_sliding);
    tcase_add_test(tc, t_session);
    tcase_add_test(tc, t_group_bound);
    tcase_add_test(tc, t_replay_clock);
    suite_add_tcase(s, tc);
    tc = tcase_create("aggregations");
    tcase_add_test(tc, t_aggregations);
    suite_add_tcase(s, tc);
    tc = tcase_create("anomaly");
    tcase_add_test(tc, t_anomaly);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
