/* SPDX-License-Identifier: Apache-2.0 */
/* au_engine: each pattern kind fires exactly when it should (window edges with injected time),
 * partitions stay apart, absences fire on expiry, thresholds count, the cap evicts and counts,
 * conditions and skip policies, counters and expiry of idle partial matches. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "au_test.h"

/* create then write then delete within 1 s, per user. */
static const char *const s_seq =
    "{\"id\":\"cwd\",\"kind\":\"sequence\",\"window_ms\":1000,\"partition_by\":\"metadata.user_id\","
    "\"elements\":[{\"event_type\":\"filesystem_create\"},{\"event_type\":\"filesystem_write\"},"
    "{\"event_type\":\"filesystem_delete\"}],"
    "\"actions\":[{\"kind\":\"alert\",\"severity\":\"critical\",\"message\":\"churn\"}]}";

START_TEST(t_sequence_in_order)
{
    struct au_rec r;
    au_engine_t *e = au_engine_from(s_seq, 0, &r);
    au_feed(e, "filesystem_create", "/a", "u1", 0);
    au_feed(e, "filesystem_read", "/a", "u1", 10); /* skipped: matches nothing expected */
    au_feed(e, "filesystem_write", "/a", "u1", 20);
    ck_assert_int_eq(r.n, 0);
    au_feed(e, "filesystem_delete", "/a", "u1", 30);
    ck_assert_int_eq(r.n, 1);
    ck_assert_str_eq(r.what[0], "cwd/u1/3");
    ck_assert_uint_eq(r.time_ns[0], MS(30));
    ck_assert_int_eq(r.severity[0], AU_SEV_CRITICAL);
    /* past_last: the match consumed the partition; a lone delete does nothing. */
    au_feed(e, "filesystem_delete", "/a", "u1", 40);
    ck_assert_int_eq(r.n, 1);
    struct au_engine_stats st;
    au_engine_stats(e, &st);
    ck_assert_uint_eq(st.partials, 0);
    ck_assert_uint_eq(st.matches, 1);
    au_engine_destroy(&e);
}
END_TEST

START_TEST(t_sequence_wrong_order)
{
    struct au_rec r;
    au_engine_t *e = au_engine_from(s_seq, 0, &r);
    au_feed(e, "filesystem_write", "/a", "u1", 0);
    au_feed(e, "filesystem_create", "/a", "u1", 10);
    au_feed(e, "filesystem_delete", "/a", "u1", 20);
    ck_assert_int_eq(r.n, 0);
    au_feed(e, "filesystem_write", "/a", "u1", 30);
    ck_assert_int_eq(r.n, 0);
    au_feed(e, "filesystem_delete", "/a", "u1", 40);
    ck_assert_int_eq(r.n, 1);
    au_engine_destroy(&e);
}
END_TEST

START_TEST(t_sequence_window_edge)
{
    struct au_rec r;
    au_engine_t *e = au_engine_from(s_seq, 0, &r);
    /* Last event exactly window_ms after the first: inside. */
    au_feed(e, "filesystem_create", "/a", "u1", 1000);
    au_feed(e, "filesystem_write", "/a", "u1", 1500);
    au_engine_on_event(e, &(vx_event_t){0}, 0); /* an unknown event changes nothing */
    au_feed(e, "filesystem_delete", "/a", "u1", 2000);
    ck_assert_int_eq(r.n, 1);
    /* One nanosecond later: outside, and the partial match has expired. */
    au_feed(e, "filesystem_create", "/a", "u2", 3000);
    au_feed(e, "filesystem_write", "/a", "u2", 3500);
    struct vt_tev t;
    vt_tev_init(&t, "filesystem_delete", "/a");
    vt_tev_meta(&t, "user_id", "u2");
    au_engine_on_event(e, &t.ev, MS(4000) + 1);
    ck_assert_int_eq(r.n, 1);
    struct au_pattern_stats ps;
    ck_assert_int_eq(au_engine_pattern_stats(e, 0, &ps), 0);
    ck_assert_uint_eq(ps.expired, 1);
    ck_assert_uint_eq(ps.partials, 0);
    au_engine_destroy(&e);
}
END_TEST

START_TEST(t_sequence_within)
{
    struct au_rec r;
    au_engine_t *e = au_engine_from(
        "{\"id\":\"cw\",\"kind\":\"sequence\",\"window_ms\":10000,\"elements\":["
        "{\"event_type\":\"filesystem_create\"},"
        "{\"event_type\":\"filesystem_write\",\"within_ms\":100}],"
        "\"actions\":[{\"kind\":\"alert\",\"message\":\"m\"}]}",
        0, &r);
    au_feed(e, "filesystem_create", "/a", NULL, 0);
    au_feed(e, "filesystem_write", "/a", NULL, 101);
    ck_assert_int_eq(r.n, 0);
    au_feed(e, "filesystem_create", "/a", NULL, 200);
    au_feed(e, "filesystem_write", "/a", NULL, 300);
    ck_assert_int_eq(r.n, 1);
    ck_assert_str_eq(r.what[0], "cw//2");
    au_engine_destroy(&e);
}
END_TEST

START_TEST(t_sequence_skip_to_next)
{
    struct au_rec r;
    au_engine_t *e = au_engine_from(
        "{\"id\":\"cw\",\"kind\":\"sequence\",\"window_ms\":1000,\"skip\":\"skip_to_next\","
        "\"elements\":[{\"event_type\":\"filesystem_create\"},{\"event_type\":"
        "\"filesystem_write\"}],\"actions\":[{\"kind\":\"alert\",\"message\":\"m\"}]}",
        0, &r);
    au_feed(e, "filesystem_create", "/a", NULL, 0);
    au_feed(e, "filesystem_create", "/b", NULL, 10);
    au_feed(e, "filesystem_write", "/a", NULL, 20);
    ck_assert_int_eq(r.n, 2); /* both starts are completed by the one write */
    au_engine_destroy(&e);
    e = au_engine_from("{\"id\":\"cw\",\"kind\":\"sequence\",\"window_ms\":1000,\"elements\":["
                       "{\"event_type\":\"filesystem_create\"},{\"event_type\":"
                       "\"filesystem_write\"}],\"actions\":[{\"kind\":\"alert\",\"message\":"
                       "\"m\"}]}",
                       0, &r);
    au_feed(e, "filesystem_create", "/a", NULL, 0);
    au_feed(e, "filesystem_create", "/b", NULL, 10);
    au_feed(e, "filesystem_write", "/a", NULL, 20);
    ck_assert_int_eq(r.n, 1); /* past_last: the other start is dropped */
    au_engine_destroy(&e);
}
END_TEST

START_TEST(t_partitions_apart)
{
    struct au_rec r;
    au_engine_t *e = au_engine_from(s_seq, 0, &r);
    au_feed(e, "filesystem_create", "/a", "alice", 0);
    au_feed(e, "filesystem_write", "/a", "bob", 10);
    au_feed(e, "filesystem_delete", "/a", "alice", 20);
    ck_assert_int_eq(r.n, 0);
    au_feed(e, "filesystem_create", "/a", "bob", 30);
    au_feed(e, "filesystem_write", "/a", "alice", 40);
    au_feed(e, "filesystem_delete", "/a", "alice", 50);
    ck_assert_int_eq(r.n, 1);
    ck_assert_str_eq(r.what[0], "cwd/alice/3");
    /* An event without the partition field is ignored by the pattern. */
    au_feed(e, "filesystem_write", "/a", NULL, 60);
    au_feed(e, "filesystem_delete", "/a", "bob", 70);
    ck_assert_int_eq(r.n, 1);
    au_feed(e, "filesystem_write", "/a", "bob", 80);
    au_feed(e, "filesystem_delete", "/a", "bob", 90);
    ck_assert_int_eq(r.n, 2);
    ck_assert_str_eq(r.what[1], "cwd/bob/3");
    au_engine_destroy(&e);
}
END_TEST

static const char *const s_conj =
    "{\"id\":\"cj\",\"kind\":\"conjunction\",\"window_ms\":100,\"partition_by\":\"path\","
    "\"elements\":[{\"event_type\":\"filesystem_chmod\"},{\"event_type\":\"filesystem_rename\"}],"
    "\"actions\":[{\"kind\":\"alert\",\"message\":\"m\"}]}";

START_TEST(t_conjunction)
{
    struct au_rec r;
    au_engine_t *e = au_engine_from(s_conj, 0, &r);
    au_feed(e, "filesystem_rename", "/x", NULL, 0);
    au_feed(e, "filesystem_rename", "/x", NULL, 50);
    ck_assert_int_eq(r.n, 0);
    au_feed(e, "filesystem_chmod", "/y", NULL, 60); /* other partition */
    ck_assert_int_eq(r.n, 0);
    au_feed(e, "filesystem_chmod", "/x", NULL, 150); /* 100 after the latest rename: inside */
    ck_assert_int_eq(r.n, 1);
    ck_assert_str_eq(r.what[0], "cj//x/2");
    /* Any order; one ns past the window is outside. */
    au_feed(e, "filesystem_chmod", "/z", NULL, 1000);
    struct vt_tev t;
    vt_tev_init(&t, "filesystem_rename", "/z");
    au_engine_on_event(e, &t.ev, MS(1100) + 1);
    ck_assert_int_eq(r.n, 1);
    au_feed(e, "filesystem_chmod", "/z", NULL, 1150);
    ck_assert_int_eq(r.n, 2);
    au_engine_advance(e, MS(5000));
    struct au_engine_stats st;
    au_engine_stats(e, &st);
    ck_assert_uint_eq(st.partials, 0);
    au_engine_destroy(&e);
}
END_TEST

static const char *const s_abs =
    "{\"id\":\"nobak\",\"kind\":\"absence\",\"window_ms\":500,\"partition_by\":\"path\","
    "\"elements\":[{\"event_type\":\"filesystem_write\"},{\"event_type\":\"filesystem_read\","
    "\"within_ms\":200}],"
    "\"actions\":[{\"kind\":\"alert\",\"severity\":\"info\",\"message\":\"unread\"}]}";

START_TEST(t_absence)
{
    struct au_rec r;
    au_engine_t *e = au_engine_from(s_abs, 0, &r);
    au_feed(e, "filesystem_write", "/a", NULL, 0);
    au_feed(e, "filesystem_write", "/b", NULL, 0);
    au_feed(e, "filesystem_read", "/b", NULL, 200); /* exactly at the end: cancels /b */
    au_engine_advance(e, MS(200));
    ck_assert_int_eq(r.n, 0);
    au_engine_advance(e, MS(200) + 1);
    ck_assert_int_eq(r.n, 1);
    ck_assert_str_eq(r.what[0], "nobak//a/1");
    ck_assert_uint_eq(r.time_ns[0], MS(200) + 1);
    ck_assert_int_eq(r.severity[0], AU_SEV_INFO);
    au_engine_advance(e, MS(10000));
    ck_assert_int_eq(r.n, 1);
    /* A read one ns late does not cancel: the absence fires first. */
    au_feed(e, "filesystem_write", "/c", NULL, 20000);
    struct vt_tev t;
    vt_tev_init(&t, "filesystem_read", "/c");
    au_engine_on_event(e, &t.ev, MS(20200) + 1);
    ck_assert_int_eq(r.n, 2);
    /* Long silences (beyond one turn of the wheel) fire too. */
    au_engine_destroy(&e);
    e = au_engine_from("{\"id\":\"long\",\"kind\":\"absence\",\"window_ms\":3600000,\"elements\":"
                       "[{\"event_type\":\"filesystem_write\"},{\"event_type\":"
                       "\"filesystem_read\"}],\"actions\":[{\"kind\":\"alert\",\"message\":"
                       "\"m\"}]}",
                       0, &r);
    au_feed(e, "filesystem_write", "/a", NULL, 5);
    for (uint64_t ms = 1000; ms <= 3600005; ms += 1000) {
        au_engine_advance(e, MS(ms));
    }
    ck_assert_int_eq(r.n, 0);
    au_engine_advance(e, MS(3600005) + 1);
    ck_assert_int_eq(r.n, 1);
    au_engine_destroy(&e);
}
END_TEST

static const char *const s_thr =
    "{\"id\":\"burst\",\"kind\":\"threshold\",\"window_ms\":1000,\"partition_by\":"
    "\"metadata.user_id\",\"elements\":[{\"event_type\":\"filesystem_delete\","
    "\"min_occurrences\":3}],\"actions\":[{\"kind\":\"alert\",\"message\":\"mass delete\"}]}";

START_TEST(t_threshold)
{
    struct au_rec r;
    au_engine_t *e = au_engine_from(s_thr, 0, &r);
    au_feed(e, "filesystem_delete", "/a", "u", 0);
    au_feed(e, "filesystem_delete", "/b", "u", 500);
    au_feed(e, "filesystem_delete", "/c", "v", 600);
    ck_assert_int_eq(r.n, 0);
    au_feed(e, "filesystem_delete", "/c", "u", 1000); /* 3 within exactly 1000 ms */
    ck_assert_int_eq(r.n, 1);
    ck_assert_str_eq(r.what[0], "burst/u/3");
    /* past_last: counting starts again. */
    au_feed(e, "filesystem_delete", "/d", "u", 1001);
    au_feed(e, "filesystem_delete", "/e", "u", 1002);
    ck_assert_int_eq(r.n, 1);
    /* The first of three falls out of the window one ns before the third. */
    au_feed(e, "filesystem_delete", "/f", "w", 0 + 5000);
    au_feed(e, "filesystem_delete", "/f", "w", 5500);
    struct vt_tev t;
    vt_tev_init(&t, "filesystem_delete", "/f");
    vt_tev_meta(&t, "user_id", "w");
    au_engine_on_event(e, &t.ev, MS(6000) + 1);
    ck_assert_int_eq(r.n, 1);
    au_feed(e, "filesystem_delete", "/f", "w", 6100);
    ck_assert_int_eq(r.n, 2);
    au_engine_destroy(&e);
}
END_TEST

START_TEST(t_threshold_skip_to_next)
{
    struct au_rec r;
    au_engine_t *e = au_engine_from(
        "{\"id\":\"t\",\"kind\":\"threshold\",\"window_ms\":1000,\"skip\":\"skip_to_next\","
        "\"elements\":[{\"event_type\":\"filesystem_delete\",\"min_occurrences\":2}],"
        "\"actions\":[{\"kind\":\"alert\",\"message\":\"m\"}]}",
        0, &r);
    for (uint64_t i = 0; i < 5; i++) {
        au_feed(e, "filesystem_delete", "/a", NULL, i * 10);
    }
    ck_assert_int_eq(r.n, 4); /* every event after the first keeps it at 2 */
    au_engine_destroy(&e);
}
END_TEST

START_TEST(t_eviction_cap)
{
    struct au_rec r;
    au_engine_t *e = au_engine_from(s_seq, 3, &r);
    const char *users[] = {"u0", "u1", "u2", "u3", "u4"};
    for (int i = 0; i < 5; i++) {
        au_feed(e, "filesystem_create", "/a", users[i], (uint64_t)i);
    }
    struct au_pattern_stats ps;
    au_engine_pattern_stats(e, 0, &ps);
    ck_assert_uint_eq(ps.partials, 3);
    ck_assert_uint_eq(ps.evictions, 2);
    /* The oldest (u0, u1) were evicted; u2 still completes. */
    au_feed(e, "filesystem_write", "/a", "u0", 10);
    au_feed(e, "filesystem_delete", "/a", "u0", 11);
    au_feed(e, "filesystem_write", "/a", "u2", 12);
    au_feed(e, "filesystem_delete", "/a", "u2", 13);
    ck_assert_int_eq(r.n, 1);
    ck_assert_str_eq(r.what[0], "cwd/u2/3");
    struct au_engine_stats st;
    au_engine_stats(e, &st);
    ck_assert_uint_eq(st.evictions, 2);
    ck_assert_uint_eq(st.partials, 2);
    au_engine_destroy(&e);
}
END_TEST

START_TEST(t_conditions)
{
    struct au_rec r;
    au_engine_t *e = au_engine_from(
        "{\"id\":\"c\",\"kind\":\"threshold\",\"window_ms\":1000,\"elements\":[{\"event_type\":"
        "\"filesystem_write\",\"conditions\":[{\"field\":\"path\",\"op\":\"regex\",\"value\":"
        "\"\\\\.(log|txt)$\"},{\"field\":\"content.size\",\"op\":\"gt\",\"value\":1000},"
        "{\"field\":\"path\",\"op\":\"prefix\",\"value\":\"/data/\"},{\"field\":\"priority\","
        "\"op\":\"ge\",\"value\":3},{\"field\":\"path\",\"op\":\"ne\",\"value\":\"/data/x.txt\"}]}],"
        "\"actions\":[{\"kind\":\"alert\",\"message\":\"m\"}]}",
        0, &r);
    struct {
        const char *path;
        const char *size;
        uint32_t prio;
        int fires;
    } cases[] = {
        {"/data/a.log", "2000", 3, 1}, {"/data/a.bin", "2000", 3, 0}, {"/data/a.log", "10", 3, 0},
        {"/data/a.log", "big", 3, 0},  {"/tmp/a.log", "2000", 3, 0},  {"/data/a.log", "2000", 2, 0},
        {"/data/x.txt", "2000", 9, 0}, {"/data/y.txt", "1e4", 9, 1},  {"/data/a.log", NULL, 3, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct vt_tev t;
        vt_tev_init(&t, "filesystem_write", cases[i].path);
        if (cases[i].size != NULL) {
            vt_tev_content(&t, "size", cases[i].size);
        }
        t.ev.priority = cases[i].prio;
        int before = r.n;
        au_engine_on_event(e, &t.ev, MS(i));
        ck_assert_msg(r.n - before == cases[i].fires, "case %zu", i);
    }
    au_engine_destroy(&e);
}
END_TEST

START_TEST(t_inherit_and_json)
{
    struct au_rec r;
    au_engine_t *e = au_engine_from(s_thr, 0, &r);
    for (int i = 0; i < 3; i++) {
        au_feed(e, "filesystem_delete", "/a", "u", (uint64_t)i);
    }
    struct au_rec r2;
    au_engine_t *e2 = au_engine_from(s_thr, 0, &r2);
    au_engine_inherit(e2, e);
    struct au_pattern_stats ps;
    au_engine_pattern_stats(e2, 0, &ps);
    ck_assert_uint_eq(ps.matches, 1);
    ck_assert_int_eq(au_engine_pattern_stats(e2, 1, &ps), -ERANGE);
    json_t *j = au_engine_patterns_json(e2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(j, 0), "id")), "burst");
    json_decref(j);
    ck_assert_int_eq(au_engine_pattern_index(e2, "burst"), 0);
    ck_assert_int_eq(au_engine_pattern_index(e2, "nope"), -1);
    au_engine_destroy(&e);
    au_engine_destroy(&e2);
    au_engine_destroy(&e2);
}
END_TEST

START_TEST(t_conjunction_skip_and_disabled)
{
    struct au_rec r;
    au_engine_t *e = au_engine_from(
        "[{\"id\":\"cj\",\"kind\":\"conjunction\",\"window_ms\":100,\"skip\":"
        "\"skip_to_next\",\"elements\":[{\"event_type\":\"filesystem_chmod\"},{\"event_type\":"
        "\"filesystem_rename\"}],\"actions\":[{\"kind\":\"alert\",\"message\":\"m\"},"
        "{\"kind\":\"alert\",\"severity\":\"critical\",\"message\":\"n\"}]},"
        "{\"id\":\"off\",\"enabled\":false,\"kind\":\"threshold\",\"window_ms\":100,"
        "\"elements\":[{\"event_type\":\"filesystem_chmod\"}],\"actions\":[{\"kind\":"
        "\"alert\",\"message\":\"m\"}]}]",
        0, &r);
    au_feed(e, "filesystem_chmod", "/x", NULL, 0);
    au_feed(e, "filesystem_rename", "/x", NULL, 10);
    ck_assert_int_eq(r.n, 2); /* one match, two actions */
    ck_assert_int_eq(r.severity[1], AU_SEV_CRITICAL);
    /* The chmod (oldest) was dropped; the rename stays and a new chmod completes again. */
    au_feed(e, "filesystem_chmod", "/x", NULL, 20);
    ck_assert_int_eq(r.n, 4);
    struct au_pattern_stats ps;
    au_engine_pattern_stats(e, 0, &ps);
    ck_assert_uint_eq(ps.matches, 2);
    au_engine_pattern_stats(e, 1, &ps);
    ck_assert_uint_eq(ps.matches, 0);
    au_engine_destroy(&e);
}
END_TEST

/* A pattern sees only the events of its tenant; an event without one is the default
 * tenant's. */
START_TEST(t_tenants)
{
    struct au_rec r;
    au_engine_t *e = au_engine_from(
        "[{\"id\":\"a\",\"tenant\":\"acme\",\"kind\":\"threshold\",\"window_ms\":1000,"
        "\"elements\":[{\"event_type\":\"filesystem_write\"}],\"actions\":[{\"kind\":"
        "\"alert\",\"message\":\"m\"}]},"
        "{\"id\":\"d\",\"kind\":\"threshold\",\"window_ms\":1000,"
        "\"elements\":[{\"event_type\":\"filesystem_write\"}],\"actions\":[{\"kind\":"
        "\"alert\",\"message\":\"m\"}]}]",
        0, &r);
    struct vt_tev t;
    vt_tev_init(&t, "filesystem_write", "/x");
    au_engine_on_event(e, &t.ev, MS(1));
    ck_assert_int_eq(r.n, 1);
    ck_assert_str_eq(r.what[0], "d//1");
    t.ev.tenant = (char *)"acme";
    au_engine_on_event(e, &t.ev, MS(2));
    ck_assert_int_eq(r.n, 2);
    ck_assert_str_eq(r.what[1], "a//1");
    t.ev.tenant = (char *)"other";
    au_engine_on_event(e, &t.ev, MS(3));
    ck_assert_int_eq(r.n, 2);
    au_engine_destroy(&e);
}
END_TEST

/* Shared conditions: the engine tests a condition that several patterns hold once per event
 * and shares field lookups and partition keys. Every pattern of a set built to overlap (the
 * same condition in many patterns, the same value under other operators, on other fields, as
 * a number and as a string; tenants; disabled patterns) must match exactly as it does alone. */
struct s_log {
    char (*lines)[96];
    size_t n, cap;
};

static void
cb_log(const struct au_alert *a, void *arg)
{
    struct s_log *l = arg;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->lines = realloc(l->lines, l->cap * sizeof *l->lines);
        ck_assert_ptr_nonnull(l->lines);
    }
    snprintf(l->lines[l->n++], sizeof l->lines[0], "%s/%s/%u@%llu", a->pattern_id, a->partition,
             a->n_events, (unsigned long long)a->time_ns);
}

static au_engine_t *
s_engine_log(json_t *set, struct s_log *l)
{
    struct au_engine_opts o = {.on_alert = cb_log, .arg = l, .max_match_events = 4};
    au_engine_t *e = NULL;
    char err[512] = "";
    ck_assert_msg(au_engine_new(set, &o, &e, err, sizeof err) == 0, "%s", err);
    return e;
}

START_TEST(t_shared_conditions)
{
    static const char *const conds[] = {
        "{\"field\":\"path\",\"op\":\"prefix\",\"value\":\"/a\"}",
        "{\"field\":\"path\",\"op\":\"contains\",\"value\":\"/a\"}",
        "{\"field\":\"path\",\"op\":\"regex\",\"value\":\"/a\"}",
        "{\"field\":\"path\",\"op\":\"eq\",\"value\":\"/a/1\"}",
        "{\"field\":\"path\",\"op\":\"ne\",\"value\":\"/a/1\"}",
        "{\"field\":\"metadata.k\",\"op\":\"eq\",\"value\":\"1\"}",
        "{\"field\":\"metadata.k\",\"op\":\"eq\",\"value\":1}",
        "{\"field\":\"content.k\",\"op\":\"eq\",\"value\":1}",
        "{\"field\":\"metadata.k\",\"op\":\"gt\",\"value\":1}",
        "{\"field\":\"metadata.k\",\"op\":\"ge\",\"value\":1}",
        "{\"field\":\"priority\",\"op\":\"lt\",\"value\":2}",
        "{\"field\":\"tenant\",\"op\":\"eq\",\"value\":\"t1\"}",
    };
    static const char *const kinds[] = {"sequence", "conjunction", "absence", "threshold"};
    static const char *const types[] = {"filesystem_write", "filesystem_read"};
    static const char *const parts[] = {"path", "metadata.k", "content.k", NULL};
    json_t *set = json_array();
    uint32_t seed = 99;
    for (int i = 0; i < 40; i++) {
        json_t *els = json_array();
        const char *kind = kinds[i % 4];
        int n_el = i % 4 == 3 ? 1 : 2;
        for (int k = 0; k < n_el; k++) {
            json_t *cs = json_array();
            for (int c = 0; c < 1 + (i + k) % 2; c++) {
                seed = seed * 1103515245u + 12345u;
                json_array_append_new(cs, json_loads(conds[(seed >> 8) % 12], 0, NULL));
            }
            json_t *el = json_pack("{s:s, s:o}", "event_type", types[(i + k) % 2], "conditions",
                                   cs);
            if (i % 4 == 3) {
                json_object_set_new(el, "min_occurrences", json_integer(2));
            }
            json_array_append_new(els, el);
        }
        char id[16];
        snprintf(id, sizeof id, "p%d", i);
        json_t *p = json_pack("{s:s, s:s, s:i, s:o, s:[{s:s, s:s}]}", "id", id, "kind", kind,
                              "window_ms", 30 + i % 5 * 20, "elements", els, "actions", "kind",
                              "alert", "message", "m");
        if (parts[i % 4] != NULL) {
            json_object_set_new(p, "partition_by", json_string(parts[i % 4]));
        }
        if (i % 7 == 5) {
            json_object_set_new(p, "tenant", json_string("t1"));
        }
        if (i % 11 == 10) {
            json_object_set_new(p, "enabled", json_false());
        }
        json_array_append_new(set, p);
    }
    struct s_log all = {0};
    au_engine_t *e = s_engine_log(set, &all);
    struct s_log one[40];
    au_engine_t *alone[40];
    memset(one, 0, sizeof one);
    for (int i = 0; i < 40; i++) {
        json_t *single = json_array();
        json_array_append(single, json_array_get(set, (size_t)i));
        alone[i] = s_engine_log(single, &one[i]);
        json_decref(single);
    }
    static const char *const paths[] = {"/a/1", "/a/2", "/b/a", "/c"};
    static const char *const vals[] = {"1", "2", "1.0", "x"};
    for (int n = 0; n < 3000; n++) {
        seed = seed * 1103515245u + 12345u;
        struct vt_tev t;
        vt_tev_init(&t, types[(seed >> 4) % 2], paths[(seed >> 8) % 4]);
        vt_tev_meta(&t, "k", vals[(seed >> 12) % 4]);
        vt_tev_content(&t, "k", vals[(seed >> 16) % 4]);
        t.ev.priority = (seed >> 20) % 4;
        t.ev.tenant = (char *)((seed >> 24) % 3 == 0 ? "t1" : "");
        uint64_t now = MS(n * 3);
        au_engine_on_event(e, &t.ev, now);
        for (int i = 0; i < 40; i++) {
            au_engine_on_event(alone[i], &t.ev, now);
        }
    }
    au_engine_advance(e, MS(100000));
    size_t total = 0;
    for (int i = 0; i < 40; i++) {
        au_engine_advance(alone[i], MS(100000));
        char id[16];
        snprintf(id, sizeof id, "p%d/", i);
        size_t k = 0;
        for (size_t j = 0; j < all.n; j++) {
            if (strncmp(all.lines[j], id, strlen(id)) != 0) {
                continue;
            }
            ck_assert_msg(k < one[i].n, "pattern %d: more alerts together than alone", i);
            ck_assert_msg(strcmp(all.lines[j], one[i].lines[k]) == 0,
                          "pattern %d, alert %zu: together %s, alone %s", i, k, all.lines[j],
                          one[i].lines[k]);
            k++;
        }
        ck_assert_msg(k == one[i].n, "pattern %d: %zu alerts together, %zu alone", i, k,
                      one[i].n);
        total += k;
        au_engine_destroy(&alone[i]);
        free(one[i].lines);
    }
    ck_assert_msg(total > 200, "too few alerts (%zu) for the comparison to mean much", total);
    free(all.lines);
    au_engine_destroy(&e);
    json_decref(set);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("au_engine");
    struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"sequence_in_order", t_sequence_in_order},
        {"sequence_wrong_order", t_sequence_wrong_order},
        {"sequence_window_edge", t_sequence_window_edge},
        {"sequence_within", t_sequence_within},
        {"sequence_skip_to_next", t_sequence_skip_to_next},
        {"partitions_apart", t_partitions_apart},
        {"conjunction", t_conjunction},
        {"conjunction_skip_and_disabled", t_conjunction_skip_and_disabled},
        {"absence", t_absence},
        {"threshold", t_threshold},
        {"threshold_skip_to_next", t_threshold_skip_to_next},
        {"eviction_cap", t_eviction_cap},
        {"conditions", t_conditions},
        {"inherit_and_json", t_inherit_and_json},
        {"tenants", t_tenants},
        {"shared_conditions", t_shared_conditions},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_test(tc, cases[i].test);
        suite_add_tcase(s, tc);
    }
    return au_run_suite(s);
}
