/* SPDX-License-Identifier: Apache-2.0 */
/* au_engine's kept matching events: for every pattern kind a completed match hands over
 * exactly its events, in the order they came (other partitions and non-matching events left
 * out); longer matches keep their most recent max_match_events and count the others; the byte
 * budget holds; kept events are released when a partial match completes, expires or is
 * evicted (the engine's counts go back to zero; LeakSanitizer checks the frees). */
#include <check.h>
#include <stdlib.h>

#include "au_test.h"

#define S_MAX 16

/* Per alert: the paths of its kept events ("/a,/b"), and its counts. */
struct s_rec {
    int n;
    char paths[S_MAX][256];
    uint32_t n_events[S_MAX];
    uint32_t truncated[S_MAX];
    uint32_t over[S_MAX];
};

static void
cb_rec(const struct au_alert *a, void *arg)
{
    struct s_rec *r = arg;
    ck_assert_int_lt(r->n, S_MAX);
    json_t *evs = au_alert_events_json(a);
    ck_assert_uint_eq(json_array_size(evs), a->n_kept);
    char *p = r->paths[r->n];
    p[0] = '\0';
    size_t i;
    json_t *ev;
    json_array_foreach(evs, i, ev) {
        const char *path = json_string_value(json_object_get(ev, "path"));
        ck_assert_ptr_nonnull(path);
        size_t len = strlen(p);
        snprintf(p + len, sizeof r->paths[0] - len, "%s%s", i ? "," : "", path);
    }
    json_decref(evs);
    r->n_events[r->n] = a->n_events;
    r->truncated[r->n] = a->n_truncated;
    r->over[r->n] = a->n_over_budget;
    r->n++;
}

static au_engine_t *
s_engine(const char *text, uint32_t max_partials, uint32_t max_ev, uint64_t max_bytes,
         struct s_rec *r)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    ck_assert_msg(j != NULL, "test JSON: %s", je.text);
    json_t *arr = json_array();
    json_array_append_new(arr, j);
    memset(r, 0, sizeof *r);
    struct au_engine_opts o = {.max_partials = max_partials,
                               .on_alert = cb_rec,
                               .arg = r,
                               .max_match_events = max_ev,
                               .max_match_event_bytes = max_bytes};
    au_engine_t *e = NULL;
    char err[512];
    ck_assert_msg(au_engine_new(arr, &o, &e, err, sizeof err) == 0, "%s", err);
    json_decref(arr);
    return e;
}

static void
s_assert_kept(au_engine_t *e, uint64_t events)
{
    struct au_engine_stats st;
    au_engine_stats(e, &st);
    ck_assert_uint_eq(st.kept_events, events);
    if (events == 0) {
        ck_assert_uint_eq(st.kept_bytes, 0);
    } else {
        ck_assert_uint_gt(st.kept_bytes, 0);
    }
}

static const char *const s_seq =
    "{\"id\":\"cwd\",\"kind\":\"sequence\",\"window_ms\":1000,\"partition_by\":\"metadata.user_id\","
    "\"skip\":\"skip_to_next\",\"elements\":[{\"event_type\":\"filesystem_create\"},"
    "{\"event_type\":\"filesystem_write\"},{\"event_type\":\"filesystem_delete\"}],"
    "\"actions\":[{\"kind\":\"alert\",\"message\":\"m\"}]}";

START_TEST(t_sequence)
{
    struct s_rec r;
    au_engine_t *e = s_engine(s_seq, 0, AU_DEFAULT_MATCH_EVENTS, 0, &r);
    au_feed(e, "filesystem_create", "/c1", "u1", 0);
    au_feed(e, "filesystem_create", "/x1", "u2", 1);  /* another partition */
    au_feed(e, "filesystem_read", "/r1", "u1", 2);    /* matches nothing */
    au_feed(e, "filesystem_create", "/c2", "u1", 3);  /* a second partial match */
    au_feed(e, "filesystem_write", "/w1", "u1", 4);   /* advances both */
    au_feed(e, "filesystem_write", "/x2", "u2", 5);
    s_assert_kept(e, 5); /* c1 c2 w1 x1 x2: each once, however many matches keep it */
    au_feed(e, "filesystem_delete", "/d1", "u1", 6);
    ck_assert_int_eq(r.n, 2);
    /* Newest partial match first (the partition's order); each has exactly its events. */
    ck_assert_str_eq(r.paths[0], "/c2,/w1,/d1");
    ck_assert_str_eq(r.paths[1], "/c1,/w1,/d1");
    ck_assert_uint_eq(r.truncated[0], 0);
    ck_assert_uint_eq(r.n_events[0], 3);
    s_assert_kept(e, 2); /* u2's create and write */
    /* Expiry releases them. */
    au_engine_advance(e, MS(2000));
    s_assert_kept(e, 0);
    au_engine_destroy(&e);
}
END_TEST

START_TEST(t_sequence_cap)
{
    struct s_rec r;
    au_engine_t *e = s_engine(s_seq, 0, 2, 0, &r);
    au_feed(e, "filesystem_create", "/c", "u", 0);
    au_feed(e, "filesystem_write", "/w", "u", 1);
    au_feed(e, "filesystem_delete", "/d", "u", 2);
    ck_assert_int_eq(r.n, 1);
    ck_assert_str_eq(r.paths[0], "/w,/d"); /* the most recent two */
    ck_assert_uint_eq(r.truncated[0], 1);
    struct au_engine_stats st;
    au_engine_stats(e, &st);
    ck_assert_uint_eq(st.events_truncated, 1);
    s_assert_kept(e, 0);
    au_engine_destroy(&e);
    /* 0 keeps none: the match still fires, every event counted as left out. */
    e = s_engine(s_seq, 0, 0, 0, &r);
    au_feed(e, "filesystem_create", "/c", "u", 0);
    s_assert_kept(e, 0);
    au_feed(e, "filesystem_write", "/w", "u", 1);
    au_feed(e, "filesystem_delete", "/d", "u", 2);
    ck_assert_int_eq(r.n, 1);
    ck_assert_str_eq(r.paths[0], "");
    ck_assert_uint_eq(r.truncated[0], 3);
    au_engine_destroy(&e);
}
END_TEST

START_TEST(t_sequence_eviction)
{
    struct s_rec r;
    au_engine_t *e = s_engine(s_seq, 2, AU_DEFAULT_MATCH_EVENTS, 0, &r);
    au_feed(e, "filesystem_create", "/a", "u0", 0);
    au_feed(e, "filesystem_create", "/b", "u1", 1);
    au_feed(e, "filesystem_create", "/c", "u2", 2); /* evicts u0's */
    struct au_engine_stats st;
    au_engine_stats(e, &st);
    ck_assert_uint_eq(st.evictions, 1);
    s_assert_kept(e, 2);
    au_feed(e, "filesystem_create", "/d", "u3", 3);
    au_feed(e, "filesystem_create", "/e", "u4", 4);
    s_assert_kept(e, 2);
    au_engine_destroy(&e);
}
END_TEST

static const char *const s_conj =
    "{\"id\":\"cj\",\"kind\":\"conjunction\",\"window_ms\":1000,\"partition_by\":\"path\","
    "\"elements\":[{\"event_type\":\"filesystem_rename\"},{\"event_type\":\"filesystem_chmod\"},"
    "{\"event_type\":\"filesystem_write\",\"conditions\":[{\"field\":\"content.k\",\"op\":\"eq\","
    "\"value\":\"v\"}]}],"
    "\"actions\":[{\"kind\":\"alert\",\"message\":\"m\"}]}";

static void
s_feed_content(au_engine_t *e, const char *type, const char *path, const char *k, uint64_t ms)
{
    struct vt_tev t;
    vt_tev_init(&t, type, path);
    vt_tev_meta(&t, "name", k);
    vt_tev_content(&t, "k", "v");
    au_engine_on_event(e, &t.ev, MS(ms));
}

START_TEST(t_conjunction)
{
    struct s_rec r;
    au_engine_t *e = s_engine(s_conj, 0, AU_DEFAULT_MATCH_EVENTS, 0, &r);
    s_feed_content(e, "filesystem_chmod", "/x", "chmod1", 0);
    s_feed_content(e, "filesystem_rename", "/x", "rename1", 10);
    s_feed_content(e, "filesystem_chmod", "/x", "chmod2", 20); /* the latest counts */
    s_feed_content(e, "filesystem_rename", "/y", "other", 25);
    s_assert_kept(e, 3); /* chmod1 was replaced and released */
    s_feed_content(e, "filesystem_write", "/x", "write1", 30);
    ck_assert_int_eq(r.n, 1);
    /* In arrival order: the rename came before the latest chmod. */
    ck_assert_uint_eq(r.n_events[0], 3);
    ck_assert_uint_eq(r.truncated[0], 0);
    ck_assert_str_eq(r.paths[0], "/x,/x,/x");
    s_assert_kept(e, 1); /* /y's rename */
    au_engine_advance(e, MS(2000));
    s_assert_kept(e, 0);
    au_engine_destroy(&e);
}
END_TEST

/* The order of a conjunction's events, by a metadata name, checked through the JSON. */
static char s_names[256];

static void
cb_names(const struct au_alert *a, void *arg)
{
    (void)arg;
    json_t *evs = au_alert_events_json(a);
    s_names[0] = '\0';
    size_t i;
    json_t *ev;
    json_array_foreach(evs, i, ev) {
        const char *n = json_string_value(json_object_get(json_object_get(ev, "metadata"), "name"));
        size_t len = strlen(s_names);
        snprintf(s_names + len, sizeof s_names - len, "%s%s", i ? "," : "", n ? n : "?");
    }
    json_decref(evs);
}

START_TEST(t_conjunction_order_and_cap)
{
    json_t *arr = json_pack("[o]", json_loads(s_conj, 0, NULL));
    for (uint32_t cap = 2; cap <= 3; cap++) {
        struct au_engine_opts o = {.on_alert = cb_names, .max_match_events = cap};
        au_engine_t *e = NULL;
        char err[256];
        ck_assert_int_eq(au_engine_new(arr, &o, &e, err, sizeof err), 0);
        s_feed_content(e, "filesystem_chmod", "/x", "chmod1", 0);
        s_feed_content(e, "filesystem_rename", "/x", "rename1", 10);
        s_feed_content(e, "filesystem_chmod", "/x", "chmod2", 20);
        s_assert_kept(e, 2);
        s_names[0] = '\0';
        s_feed_content(e, "filesystem_write", "/x", "write1", 30);
        ck_assert_str_eq(s_names, cap == 2 ? "chmod2,write1" : "rename1,chmod2,write1");
        struct au_engine_stats st;
        au_engine_stats(e, &st);
        ck_assert_uint_eq(st.events_truncated, cap == 2 ? 1 : 0);
        s_assert_kept(e, 0);
        au_engine_destroy(&e);
    }
    json_decref(arr);
}
END_TEST

START_TEST(t_threshold_truncated)
{
    struct s_rec r;
    au_engine_t *e = s_engine(
        "{\"id\":\"t\",\"kind\":\"threshold\",\"window_ms\":1000,\"elements\":[{\"event_type\":"
        "\"filesystem_delete\",\"min_occurrences\":5}],\"actions\":[{\"kind\":\"alert\","
        "\"message\":\"m\"}]}",
        0, 3, 0, &r);
    const char *paths[] = {"/t1", "/t2", "/t3", "/t4"};
    for (int i = 0; i < 4; i++) {
        au_feed(e, "filesystem_delete", paths[i], NULL, (uint64_t)i);
    }
    s_assert_kept(e, 3); /* at most max_match_events per partial match */
    au_feed(e, "filesystem_delete", "/t5", NULL, 4);
    ck_assert_int_eq(r.n, 1);
    ck_assert_str_eq(r.paths[0], "/t3,/t4,/t5");
    ck_assert_uint_eq(r.n_events[0], 5);
    ck_assert_uint_eq(r.truncated[0], 2);
    s_assert_kept(e, 0);
    au_engine_destroy(&e);
}
END_TEST

START_TEST(t_threshold_window_slides)
{
    static const char *const thr =
        "{\"id\":\"t\",\"kind\":\"threshold\",\"window_ms\":1000,\"skip\":\"skip_to_next\","
        "\"elements\":[{\"event_type\":\"filesystem_delete\",\"min_occurrences\":3}],"
        "\"actions\":[{\"kind\":\"alert\",\"message\":\"m\"}]}";
    struct s_rec r;
    au_engine_t *e = s_engine(thr, 0, AU_DEFAULT_MATCH_EVENTS, 0, &r);
    au_feed(e, "filesystem_delete", "/o", NULL, 0);
    au_feed(e, "filesystem_delete", "/p", NULL, 600);
    au_feed(e, "filesystem_delete", "/q", NULL, 1200); /* /o fell out */
    ck_assert_int_eq(r.n, 0);
    au_feed(e, "filesystem_delete", "/r", NULL, 1300);
    au_feed(e, "filesystem_delete", "/s", NULL, 1400); /* skip_to_next: /p dropped */
    ck_assert_int_eq(r.n, 2);
    ck_assert_str_eq(r.paths[0], "/p,/q,/r");
    ck_assert_str_eq(r.paths[1], "/q,/r,/s");
    s_assert_kept(e, 2);
    au_engine_advance(e, MS(5000));
    s_assert_kept(e, 0);
    au_engine_destroy(&e);
    /* The same with a cap of 2: the most recent two, the ring following the window. */
    e = s_engine(thr, 0, 2, 0, &r);
    au_feed(e, "filesystem_delete", "/o", NULL, 0);
    au_feed(e, "filesystem_delete", "/p", NULL, 600);
    au_feed(e, "filesystem_delete", "/q", NULL, 1200);
    au_feed(e, "filesystem_delete", "/r", NULL, 1300);
    ck_assert_int_eq(r.n, 1);
    ck_assert_str_eq(r.paths[0], "/q,/r");
    ck_assert_uint_eq(r.truncated[0], 1);
    au_engine_destroy(&e);
}
END_TEST

START_TEST(t_absence)
{
    struct s_rec r;
    au_engine_t *e = s_engine(
        "{\"id\":\"nobak\",\"kind\":\"absence\",\"window_ms\":500,\"partition_by\":\"path\","
        "\"elements\":[{\"event_type\":\"filesystem_write\"},{\"event_type\":"
        "\"filesystem_read\",\"within_ms\":200}],\"actions\":[{\"kind\":\"alert\","
        "\"message\":\"m\"}]}",
        0, AU_DEFAULT_MATCH_EVENTS, 0, &r);
    au_feed(e, "filesystem_write", "/a", NULL, 0);
    au_feed(e, "filesystem_write", "/b", NULL, 10);
    au_feed(e, "filesystem_read", "/b", NULL, 100); /* cancels /b: released */
    s_assert_kept(e, 1);
    au_engine_advance(e, MS(201));
    ck_assert_int_eq(r.n, 1);
    ck_assert_str_eq(r.paths[0], "/a");
    ck_assert_uint_eq(r.n_events[0], 1);
    s_assert_kept(e, 0);
    au_engine_destroy(&e);
}
END_TEST

START_TEST(t_byte_budget)
{
    struct s_rec r;
    /* Room for about one small event: the second is not kept, the match goes on. */
    au_engine_t *e = s_engine(s_seq, 0, AU_DEFAULT_MATCH_EVENTS, 80, &r);
    au_feed(e, "filesystem_create", "/c", "u", 0);
    s_assert_kept(e, 1);
    au_feed(e, "filesystem_write", "/a-longer-path-that-does-not-fit-in-the-budget", "u", 1);
    s_assert_kept(e, 1);
    au_feed(e, "filesystem_delete", "/d", "u", 2);
    ck_assert_int_eq(r.n, 1);
    ck_assert_uint_eq(r.over[0], 1);
    ck_assert_uint_eq(r.truncated[0], 0);
    ck_assert_str_eq(r.paths[0], "/c,/d");
    struct au_engine_stats st;
    au_engine_stats(e, &st);
    ck_assert_uint_eq(st.events_over_budget, 1);
    s_assert_kept(e, 0);
    au_engine_destroy(&e);
}
END_TEST

START_TEST(t_packed_input)
{
    /* Packed bytes given by the caller are what is kept. */
    struct s_rec r;
    au_engine_t *e = s_engine(s_seq, 0, AU_DEFAULT_MATCH_EVENTS, 0, &r);
    const char *paths[] = {"/c", "/w", "/d"};
    const char *types[] = {"filesystem_create", "filesystem_write", "filesystem_delete"};
    for (int i = 0; i < 3; i++) {
        struct vt_tev t;
        vt_tev_init(&t, types[i], paths[i]);
        vt_tev_meta(&t, "user_id", "u");
        uint8_t buf[256];
        size_t len = vexfs__v1__event__pack(&t.ev, buf);
        au_engine_on_event_packed(e, &t.ev, buf, len, MS(i));
        memset(buf, 0, sizeof buf); /* borrowed for the call only */
    }
    ck_assert_int_eq(r.n, 1);
    ck_assert_str_eq(r.paths[0], "/c,/w,/d");
    au_engine_destroy(&e);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("au_match_events");
    struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"sequence", t_sequence},
        {"sequence_cap", t_sequence_cap},
        {"sequence_eviction", t_sequence_eviction},
        {"conjunction", t_conjunction},
        {"conjunction_order_and_cap", t_conjunction_order_and_cap},
        {"threshold_truncated", t_threshold_truncated},
        {"threshold_window_slides", t_threshold_window_slides},
        {"absence", t_absence},
        {"byte_budget", t_byte_budget},
        {"packed_input", t_packed_input},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_test(tc, cases[i].test);
        suite_add_tcase(s, tc);
    }
    return au_run_suite(s);
}
