/* SPDX-License-Identifier: Apache-2.0 */
/* au_engine in event time: the two repros of issue 16 (a B that arrives late in processing
 * time but early in event time; an A and a B sent together with event times far apart), the
 * same stream fed in order and shuffled within the lateness giving the same matches for every
 * kind, late events and events without a time counted, the idle watermark, the bound on held
 * events, tenants on their own clocks, and the pattern keys' validation. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "au_test.h"

#define T0 1700000000000000000ULL /* an event time (Unix ns) */

/* Feeds an event with event time T0 + ts_ms at engine time now_ms. */
static void
s_at(au_engine_t *e, const char *type, const char *path, const char *tenant, uint64_t ts_ms,
     uint64_t now_ms)
{
    struct vt_tev t;
    vt_tev_init(&t, type, path);
    t.ev.timestamp_ns = T0 + MS(ts_ms);
    if (tenant != NULL) {
        t.ev.tenant = (char *)tenant;
    }
    au_engine_on_event(e, &t.ev, MS(now_ms));
}

static au_engine_t *
s_engine(const char *text, const struct au_engine_opts *base, struct au_rec *rec)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    ck_assert_msg(j != NULL, "test JSON: %s: %s", je.text, text);
    memset(rec, 0, sizeof *rec);
    struct au_engine_opts o = *base;
    o.on_alert = au_rec_cb;
    o.arg = rec;
    au_engine_t *e = NULL;
    char err[512] = "";
    int rc = au_engine_new(j, &o, &e, err, sizeof err);
    json_decref(j);
    ck_assert_msg(rc == 0, "engine failed (%d): %s", rc, err);
    return e;
}

static int
s_count(const struct au_rec *r, const char *what)
{
    int n = 0;
    for (int i = 0; i < r->n; i++) {
        n += strcmp(r->what[i], what) == 0;
    }
    return n;
}

/* The same absence twice: written, not read within 1 s; one per time mode. */
static const char *const s_gaps =
    "[{\"id\":\"gap-ev\",\"kind\":\"absence\",\"window_ms\":1000,\"partition_by\":\"path\","
    "\"time_mode\":\"event\",\"elements\":[{\"event_type\":\"filesystem_write\"},"
    "{\"event_type\":\"filesystem_read\"}],\"actions\":[{\"kind\":\"alert\",\"message\":\"m\"}]},"
    "{\"id\":\"gap-pt\",\"kind\":\"absence\",\"window_ms\":1000,\"partition_by\":\"path\","
    "\"time_mode\":\"processing\",\"elements\":[{\"event_type\":\"filesystem_write\"},"
    "{\"event_type\":\"filesystem_read\"}],\"actions\":[{\"kind\":\"alert\",\"message\":\"m\"}]}]";

/* Issue 16, first repro: A, then 2 s later B whose event time is 100 ms after A's. In
 * processing time the absence fires; in event time B followed within the second. */
START_TEST(t_repro_late_arrival)
{
    struct au_rec r;
    struct au_engine_opts o = {.allowed_lateness_ns = MS(500)};
    au_engine_t *e = s_engine(s_gaps, &o, &r);
    s_at(e, "filesystem_write", "/r1", NULL, 0, 0);
    au_engine_advance(e, MS(2000));
    ck_assert_int_eq(s_count(&r, "gap-pt//r1/1"), 1);
    s_at(e, "filesystem_read", "/r1", NULL, 100, 2000);
    /* Event time moves on (another file, 5 s later): the event-time absence is settled. */
    s_at(e, "filesystem_read", "/other", NULL, 5000, 2001);
    ck_assert_msg(s_count(&r, "gap-ev//r1/1") == 0, "event-time absence fired (%d alerts)",
                  r.n);
    struct au_pattern_stats ps;
    ck_assert_int_eq(au_engine_pattern_stats(e, 0, &ps), 0);
    ck_assert(ps.event_time);
    ck_assert_uint_eq(ps.watermark_ns, T0 + MS(4500));
    ck_assert_uint_eq(ps.partials, 0);
    ck_assert_int_eq(au_engine_pattern_stats(e, 1, &ps), 0);
    ck_assert(!ps.event_time);
    au_engine_destroy(&e);
}
END_TEST

/* Issue 16, second repro: A and B sent together, event times 5 s apart. In processing time
 * B cleared the absence at once; in event time A went 5 s without a read. */
START_TEST(t_repro_sent_together)
{
    struct au_rec r;
    struct au_engine_opts o = {.allowed_lateness_ns = MS(500)};
    au_engine_t *e = s_engine(s_gaps, &o, &r);
    s_at(e, "filesystem_write", "/r2", NULL, 0, 0);
    s_at(e, "filesystem_read", "/r2", NULL, 5000, 0);
    ck_assert_int_eq(r.n, 1);
    ck_assert_str_eq(r.what[0], "gap-ev//r2/1");
    /* The deadline is the time: 1 s after A, plus the nanosecond that makes it "after". */
    ck_assert_uint_eq(r.time_ns[0], T0 + MS(1000) + 1);
    au_engine_advance(e, MS(10000));
    ck_assert_int_eq(s_count(&r, "gap-pt//r2/1"), 0);
    au_engine_destroy(&e);
}
END_TEST

/* A sequence whose events arrive in reverse order within the lateness matches; with no
 * lateness the earlier one is late, not matched, and counted. */
START_TEST(t_out_of_order)
{
    static const char *const seq =
        "[{\"id\":\"cw\",\"kind\":\"sequence\",\"window_ms\":1000,\"time_mode\":\"event\","
        "\"partition_by\":\"path\",\"elements\":[{\"event_type\":\"filesystem_create\"},"
        "{\"event_type\":\"filesystem_write\"}],\"actions\":[{\"kind\":\"alert\","
        "\"message\":\"m\"}]}]";
    struct au_rec r;
    struct au_engine_opts o = {.allowed_lateness_ns = MS(300)};
    au_engine_t *e = s_engine(seq, &o, &r);
    s_at(e, "filesystem_write", "/a", NULL, 200, 0);
    s_at(e, "filesystem_create", "/a", NULL, 100, 0);
    ck_assert_int_eq(r.n, 0); /* held: the watermark is at -100 ms */
    struct au_engine_stats st;
    au_engine_stats(e, &st);
    ck_assert_uint_eq(st.held_events, 2);
    s_at(e, "filesystem_read", "/b", NULL, 600, 0); /* watermark 300 ms: both released */
    ck_assert_int_eq(r.n, 1);
    ck_assert_str_eq(r.what[0], "cw//a/2");
    ck_assert_uint_eq(r.time_ns[0], T0 + MS(200));
    au_engine_stats(e, &st);
    ck_assert_uint_eq(st.held_events, 0);
    ck_assert_uint_eq(st.events_late, 0);
    au_engine_destroy(&e);

    o.allowed_lateness_ns = 0;
    e = s_engine(seq, &o, &r);
    s_at(e, "filesystem_write", "/a", NULL, 200, 0);
    s_at(e, "filesystem_create", "/a", NULL, 100, 0);
    s_at(e, "filesystem_read", "/b", NULL, 600, 0);
    ck_assert_int_eq(r.n, 0);
    au_engine_stats(e, &st);
    ck_assert_uint_eq(st.events_late, 1);
    /* An event of a type no pattern wants is never late. */
    s_at(e, "filesystem_read", "/b", NULL, 0, 0);
    au_engine_stats(e, &st);
    ck_assert_uint_eq(st.events_late, 1);
    au_engine_destroy(&e);
}
END_TEST

/* One of each kind, partitioned by user, in event time. */
static const char *const s_kinds =
    "[{\"id\":\"seq\",\"kind\":\"sequence\",\"window_ms\":400,\"partition_by\":"
    "\"metadata.user_id\",\"elements\":[{\"event_type\":\"filesystem_create\"},"
    "{\"event_type\":\"filesystem_write\",\"within_ms\":200},{\"event_type\":"
    "\"filesystem_delete\"}],\"actions\":[{\"kind\":\"alert\",\"message\":\"m\"}]},"
    "{\"id\":\"conj\",\"kind\":\"conjunction\",\"window_ms\":300,\"partition_by\":"
    "\"metadata.user_id\",\"skip\":\"skip_to_next\",\"elements\":[{\"event_type\":"
    "\"filesystem_read\"},{\"event_type\":\"filesystem_chmod\"}],\"actions\":[{\"kind\":"
    "\"alert\",\"message\":\"m\"}]},"
    "{\"id\":\"abs\",\"kind\":\"absence\",\"window_ms\":250,\"partition_by\":"
    "\"metadata.user_id\",\"elements\":[{\"event_type\":\"filesystem_write\"},{\"event_type\":"
    "\"filesystem_read\"}],\"actions\":[{\"kind\":\"alert\",\"message\":\"m\"}]},"
    "{\"id\":\"thr\",\"kind\":\"threshold\",\"window_ms\":500,\"partition_by\":"
    "\"metadata.user_id\",\"elements\":[{\"event_type\":\"filesystem_delete\","
    "\"min_occurrences\":2}],\"actions\":[{\"kind\":\"alert\",\"message\":\"m\"}]}]";

struct s_ev {
    int type;
    char user[8];
    uint64_t ts_ms;
    uint64_t seq;
};

static const char *const s_types[] = {"filesystem_create", "filesystem_write",
                                      "filesystem_read", "filesystem_delete",
                                      "filesystem_chmod"};

/* Feeds evs[0..n) (each at engine time now_ms[i]) and returns the alerts, sorted, as text. */
static void
s_run(const struct s_ev *evs, size_t n, const uint64_t *now_ms, enum au_time_mode mode,
      struct au_rec *r)
{
    struct au_engine_opts o = {.time_mode = mode,
                               .allowed_lateness_ns = MS(100),
                               .idle_timeout_ns = MS(1000)};
    au_engine_t *e = s_engine(s_kinds, &o, r);
    uint64_t last = 0;
    for (size_t i = 0; i < n; i++) {
        struct vt_tev t;
        vt_tev_init(&t, s_types[evs[i].type], "/p");
        vt_tev_meta(&t, "user_id", evs[i].user);
        t.ev.timestamp_ns = T0 + MS(evs[i].ts_ms);
        au_engine_on_event(e, &t.ev, MS(now_ms[i]));
        last = now_ms[i];
    }
    /* Silence: the idle watermark releases and fires everything still pending. */
    au_engine_advance(e, MS(last + 10000));
    struct au_engine_stats st;
    au_engine_stats(e, &st);
    ck_assert_uint_eq(st.events_late, 0);
    ck_assert_uint_eq(st.held_events, 0);
    au_engine_destroy(&e);
}

static int
cb_cmp_alert(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* The alerts of r as sorted "what@time" lines. */
static void
s_alerts_text(const struct au_rec *r, char out[][200])
{
    for (int i = 0; i < r->n; i++) {
        snprintf(out[i], 200, "%s@%llu", r->what[i], (unsigned long long)(r->time_ns[i] - T0));
    }
    qsort(out, (size_t)r->n, 200, cb_cmp_alert);
}

/* The same stream in time order, paced, and shuffled within the lateness, all at one engine
 * time: every kind matches the same way at the same event times. */
START_TEST(t_order_independent)
{
    enum { N = 40 };
    struct s_ev evs[N], shuf[N];
    uint64_t paced[N], burst[N];
    uint32_t seed = 42;
    uint64_t ts = 0;
    for (int i = 0; i < N; i++) {
        seed = seed * 1103515245u + 12345u;
        /* Mostly create, write, read, delete, chmod in turn (one user per turn), so that every
         * kind has something to match; one in four at random. */
        evs[i].type = (seed >> 8) % 4 == 0 ? (int)((seed >> 12) % 5) : i % 5;
        snprintf(evs[i].user, sizeof evs[i].user, "u%d", (i / 5) % 2);
        ts += 10 + (seed >> 20) % 60;
        evs[i].ts_ms = ts;
        paced[i] = ts + 5; /* each arrives 5 ms after it happened */
        burst[i] = 0;
    }
    memcpy(shuf, evs, sizeof evs);
    /* Swap neighbours whose times are within 80 ms (under the 100 ms lateness). */
    for (int i = 0; i + 1 < N; i += 2) {
        if (shuf[i + 1].ts_ms - shuf[i].ts_ms < 80) {
            struct s_ev x = shuf[i];
            shuf[i] = shuf[i + 1];
            shuf[i + 1] = x;
        }
    }
    struct au_rec a, b;
    static char ta[AU_TEST_MAX_ALERTS][200], tb[AU_TEST_MAX_ALERTS][200];
    /* The control: in processing time the two runs differ (else this test proves nothing). */
    s_run(evs, N, paced, AU_TIME_PROCESSING, &a);
    s_run(shuf, N, burst, AU_TIME_PROCESSING, &b);
    ck_assert_msg(a.n != b.n, "processing time: %d and %d alerts", a.n, b.n);
    s_run(evs, N, paced, AU_TIME_EVENT, &a);
    s_run(shuf, N, burst, AU_TIME_EVENT, &b);
    ck_assert_int_gt(a.n, 4);
    ck_assert_int_eq(a.n, b.n);
    s_alerts_text(&a, ta);
    s_alerts_text(&b, tb);
    bool kinds[4] = {false};
    for (int i = 0; i < a.n; i++) {
        ck_assert_msg(strcmp(ta[i], tb[i]) == 0, "alert %d: in order %s, shuffled %s", i, ta[i],
                      tb[i]);
        kinds[0] = kinds[0] || strncmp(ta[i], "seq/", 4) == 0;
        kinds[1] = kinds[1] || strncmp(ta[i], "conj/", 5) == 0;
        kinds[2] = kinds[2] || strncmp(ta[i], "abs/", 4) == 0;
        kinds[3] = kinds[3] || strncmp(ta[i], "thr/", 4) == 0;
    }
    ck_assert_msg(kinds[0] && kinds[1] && kinds[2] && kinds[3],
                  "the stream should match every kind: seq %d conj %d abs %d thr %d", kinds[0],
                  kinds[1], kinds[2], kinds[3]);
}
END_TEST

/* Without events, the watermark moves only after idle_timeout; then at the engine's pace. An
 * event behind it is late. */
START_TEST(t_idle_watermark)
{
    static const char *const abs =
        "[{\"id\":\"abs\",\"kind\":\"absence\",\"window_ms\":300,\"time_mode\":\"event\","
        "\"allowed_lateness_ms\":200,\"elements\":[{\"event_type\":\"filesystem_write\"},"
        "{\"event_type\":\"filesystem_read\"}],\"actions\":[{\"kind\":\"alert\","
        "\"message\":\"m\"}]}]";
    struct au_rec r;
    struct au_engine_opts o = {.idle_timeout_ns = MS(1000)};
    au_engine_t *e = s_engine(abs, &o, &r);
    s_at(e, "filesystem_write", "/a", NULL, 0, 0);
    au_engine_advance(e, MS(999));
    ck_assert_int_eq(r.n, 0);
    /* Silent for 1 s: watermark = 0 - 200 + 1000 = 800 ms, past the deadline at 300 ms. */
    au_engine_advance(e, MS(1000));
    ck_assert_int_eq(r.n, 1);
    ck_assert_uint_eq(r.time_ns[0], T0 + MS(300) + 1);
    struct au_pattern_stats ps;
    au_engine_pattern_stats(e, 0, &ps);
    ck_assert_uint_eq(ps.watermark_ns, T0 + MS(800));
    s_at(e, "filesystem_write", "/a", NULL, 700, 1001);
    struct au_engine_stats st;
    au_engine_stats(e, &st);
    ck_assert_uint_eq(st.events_late, 1);
    au_engine_destroy(&e);
}
END_TEST

/* Held events stay within max_reorder_bytes: the oldest go early (counted). */
START_TEST(t_reorder_bound)
{
    static const char *const thr =
        "[{\"id\":\"thr\",\"kind\":\"threshold\",\"window_ms\":100000,\"time_mode\":\"event\","
        "\"elements\":[{\"event_type\":\"filesystem_write\",\"min_occurrences\":1000}],"
        "\"actions\":[{\"kind\":\"alert\",\"message\":\"m\"}]}]";
    struct au_rec r;
    struct au_engine_opts o = {.allowed_lateness_ns = MS(100000), .max_reorder_bytes = 4096};
    au_engine_t *e = s_engine(thr, &o, &r);
    struct au_engine_stats st;
    for (uint64_t i = 0; i < 500; i++) {
        s_at(e, "filesystem_write", "/some/path/of/a/file", NULL, i, 0);
        au_engine_stats(e, &st);
        ck_assert_msg(st.held_bytes <= 4096, "held %llu bytes",
                      (unsigned long long)st.held_bytes);
    }
    ck_assert_uint_gt(st.forced_releases, 0);
    ck_assert_uint_gt(st.held_events, 0);
    au_engine_destroy(&e);
}
END_TEST

/* An event without timestamp_ns and ingest_ns cannot be placed; ingest_ns stands in for a
 * missing timestamp. */
START_TEST(t_no_time)
{
    struct au_rec r;
    struct au_engine_opts o = {0};
    au_engine_t *e = s_engine(s_gaps, &o, &r);
    struct vt_tev t;
    vt_tev_init(&t, "filesystem_write", "/n");
    au_engine_on_event(e, &t.ev, 0);
    struct au_engine_stats st;
    au_engine_stats(e, &st);
    ck_assert_uint_eq(st.events_no_time, 1);
    t.ev.ingest_ns = T0;
    au_engine_on_event(e, &t.ev, 0);
    s_at(e, "filesystem_read", "/x", NULL, 2000, 0);
    ck_assert_int_eq(s_count(&r, "gap-ev//n/1"), 1);
    au_engine_stats(e, &st);
    ck_assert_uint_eq(st.events_no_time, 1);
    au_engine_destroy(&e);
}
END_TEST

/* Each tenant has its own clock: one tenant's events far in the future do not make another's
 * late. */
START_TEST(t_tenant_clocks)
{
    static const char *const two =
        "[{\"id\":\"a\",\"tenant\":\"ta\",\"kind\":\"absence\",\"window_ms\":100,"
        "\"time_mode\":\"event\",\"elements\":[{\"event_type\":\"filesystem_write\"},"
        "{\"event_type\":\"filesystem_read\"}],\"actions\":[{\"kind\":\"alert\","
        "\"message\":\"m\"}]},"
        "{\"id\":\"b\",\"tenant\":\"tb\",\"kind\":\"absence\",\"window_ms\":100,"
        "\"time_mode\":\"event\",\"elements\":[{\"event_type\":\"filesystem_write\"},"
        "{\"event_type\":\"filesystem_read\"}],\"actions\":[{\"kind\":\"alert\","
        "\"message\":\"m\"}]}]";
    struct au_rec r;
    struct au_engine_opts o = {0};
    au_engine_t *e = s_engine(two, &o, &r);
    s_at(e, "filesystem_write", "/x", "ta", 1000000, 0);
    s_at(e, "filesystem_write", "/y", "tb", 0, 0);
    s_at(e, "filesystem_read", "/y", "tb", 50, 0);
    s_at(e, "filesystem_read", "/z", "tb", 1000, 0);
    struct au_engine_stats st;
    au_engine_stats(e, &st);
    ck_assert_uint_eq(st.events_late, 0);
    ck_assert_int_eq(r.n, 0); /* tb's write was read in time; ta's deadline not reached */
    s_at(e, "filesystem_read", "/q", "ta", 1000200, 0);
    ck_assert_int_eq(r.n, 1);
    ck_assert_str_eq(r.what[0], "a//1");
    au_engine_destroy(&e);
}
END_TEST

/* The keys are validated like every other: precise messages, nothing built. */
START_TEST(t_keys_checked)
{
    char err[512];
    ck_assert_int_eq(au_engine_fail("{\"id\":\"x\",\"kind\":\"threshold\",\"window_ms\":5,"
                                    "\"time_mode\":\"wall\",\"elements\":[{\"event_type\":"
                                    "\"filesystem_write\"}],\"actions\":[{\"kind\":\"alert\","
                                    "\"message\":\"m\"}]}",
                                    err, sizeof err),
                     -EINVAL);
    ck_assert_str_eq(err, "patterns[0] (id \"x\"): time_mode: expected processing or event");
    ck_assert_int_eq(au_engine_fail("{\"id\":\"x\",\"kind\":\"threshold\",\"window_ms\":5,"
                                    "\"time_mode\":\"processing\",\"allowed_lateness_ms\":10,"
                                    "\"elements\":[{\"event_type\":\"filesystem_write\"}],"
                                    "\"actions\":[{\"kind\":\"alert\",\"message\":\"m\"}]}",
                                    err, sizeof err),
                     -EINVAL);
    ck_assert_str_eq(err,
                     "patterns[0] (id \"x\"): allowed_lateness_ms: only with time_mode event");
    ck_assert_int_eq(au_engine_fail("{\"id\":\"x\",\"kind\":\"threshold\",\"window_ms\":5,"
                                    "\"allowed_lateness_ms\":-1,\"elements\":[{\"event_type\":"
                                    "\"filesystem_write\"}],\"actions\":[{\"kind\":\"alert\","
                                    "\"message\":\"m\"}]}",
                                    err, sizeof err),
                     -EINVAL);
    ck_assert_str_eq(err, "patterns[0] (id \"x\"): allowed_lateness_ms: expected an integer "
                          "0..86400000");
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("au_event_time");
    TCase *tc = tcase_create("repros");
    tcase_add_test(tc, t_repro_late_arrival);
    tcase_add_test(tc, t_repro_sent_together);
    suite_add_tcase(s, tc);
    tc = tcase_create("order");
    tcase_add_test(tc, t_out_of_order);
    tcase_add_test(tc, t_order_independent);
    suite_add_tcase(s, tc);
    tc = tcase_create("clocks");
    tcase_add_test(tc, t_idle_watermark);
    tcase_add_test(tc, t_reorder_bound);
    tcase_add_test(tc, t_no_time);
    tcase_add_test(tc, t_tenant_clocks);
    suite_add_tcase(s, tc);
    tc = tcase_create("validation");
    tcase_add_test(tc, t_keys_checked);
    suite_add_tcase(s, tc);
    return au_run_suite(s);
}
