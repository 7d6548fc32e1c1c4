/* SPDX-License-Identifier: Apache-2.0 */
/* Filters: each kind and action, ordering, time-window and rate-limiter edges with injected
 * time, deterministic sampling, per-filter counters, and explain leaving no trace. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "rt_test.h"

#define NS 1000000000ULL
#define MS 1000000ULL
/* 2024-01-01 00:00:00 UTC, a Monday. */
#define MONDAY (1704067200ULL * NS)
#define DAY (86400ULL * NS)
#define HOUR (3600ULL * NS)
#define MIN (60ULL * NS)

static const char *const s_route_all = "[{\"id\":\"all\",\"target_boundaries\":[\"analytics\"]}]";

struct fx {
    rt_engine_t *e;
    rt_scratch_t *s;
    struct vt_tev t;
    struct rt_decision d;
};

static void
fx_init(struct fx *f, const char *filters)
{
    f->e = rt_engine_from(s_route_all, filters, NULL);
    f->s = rt_scratch_new(f->e);
    ck_assert_ptr_nonnull(f->s);
    vt_tev_init(&f->t, "filesystem_write", "/data/a.txt");
}

static void
fx_fini(struct fx *f)
{
    rt_scratch_destroy(&f->s);
    rt_engine_destroy(&f->e);
}

static struct rt_decision *
fx_decide(struct fx *f, uint64_t wall)
{
    rt_engine_decide(f->e, f->s, &f->t.ev, wall, false, &f->d);
    return &f->d;
}

static bool
fx_passes(struct fx *f, uint64_t wall)
{
    return !fx_decide(f, wall)->dropped;
}

START_TEST(t_content_block)
{
    struct fx f;
    fx_init(&f, "[{\"id\":\"secrets\",\"kind\":\"content\",\"conditions\":{\"patterns\":["
                "{\"kind\":\"regex\",\"pattern\":\"(password|secret|token)\","
                "\"case_sensitive\":false,\"field\":\"content.body\"}]},\"action\":\"block\"}]");
    ck_assert(fx_passes(&f, 0));
    vt_tev_content(&f.t, "body", "the Password is hunter2");
    struct rt_decision *d = fx_decide(&f, 0);
    ck_assert(d->dropped && d->blocked && !d->sampled_out);
    ck_assert_int_eq(d->drop_filter, 0);
    ck_assert_uint_eq(d->targets, 0);
    ck_assert_uint_eq(d->n_rules, 0); /* rules are not evaluated for a dropped event */
    ck_assert(!d->unrouted);
    ck_assert_uint_eq(d->n_filters, 1);
    ck_assert_int_eq(d->filters[0].outcome, RT_OUTCOME_BLOCKED);
    ck_assert_uint_eq(rt_engine_filter_matches(f.e, 0), 1);
    ck_assert_uint_eq(rt_engine_filter_drops(f.e, 0), 1);
    struct rt_engine_stats st;
    rt_engine_stats(f.e, &st);
    ck_assert_uint_eq(st.blocked, 1);
    ck_assert_uint_eq(st.routed, 1);
    ck_assert_uint_eq(st.decisions, 2);
    fx_fini(&f);
}
END_TEST

START_TEST(t_path_allow_then_block)
{
    struct fx f;
    fx_init(&f, "[{\"id\":\"block-all\",\"order\":10,\"kind\":\"priority\",\"conditions\":"
                "{\"min_priority\":0},\"action\":\"block\"},"
                " {\"id\":\"public\",\"order\":1,\"kind\":\"path\",\"conditions\":{\"patterns\":"
                "[{\"kind\":\"glob\",\"pattern\":\"/public/**\"}]},\"action\":\"allow\","
                "\"add_tags\":{\"zone\":\"public\"}}]");
    ck_assert_str_eq(rt_engine_filter_id(f.e, 0), "public");
    f.t.ev.path = "/public/x/y";
    struct rt_decision *d = fx_decide(&f, 0);
    ck_assert(!d->dropped);
    ck_assert_uint_eq(d->n_filters, 1);
    ck_assert_int_eq(d->filters[0].outcome, RT_OUTCOME_ALLOWED);
    ck_assert_str_eq(rt_tag_value(d, "zone"), "public");
    ck_assert_uint_eq(d->n_rules, 1); /* allow skips later filters, not the rules */
    f.t.ev.path = "/private/x";
    d = fx_decide(&f, 0);
    ck_assert(d->blocked);
    ck_assert_int_eq(d->drop_filter, 1);
    ck_assert_uint_eq(rt_engine_filter_drops(f.e, 1), 1);
    ck_assert_uint_eq(rt_engine_filter_drops(f.e, 0), 0);
    ck_assert_uint_eq(rt_engine_filter_matches(f.e, 0), 1);
    fx_fini(&f);
}
END_TEST

START_TEST(t_tag_continues)
{
    struct fx f;
    fx_init(&f, "[{\"id\":\"tag1\",\"order\":1,\"kind\":\"path\",\"conditions\":{\"patterns\":"
                "[{\"kind\":\"prefix\",\"pattern\":\"/data/\"}]},\"action\":\"tag\","
                "\"add_tags\":{\"area\":\"data\",\"k\":\"first\"}},"
                " {\"id\":\"tag2\",\"order\":1,\"kind\":\"path\",\"conditions\":{\"patterns\":"
                "[{\"kind\":\"suffix\",\"pattern\":\".txt\"}]},\"action\":\"tag\","
                "\"add_tags\":{\"k\":\"second\",\"ext\":\"txt\"}},"
                " {\"id\":\"no-txt\",\"order\":2,\"kind\":\"path\",\"conditions\":{\"patterns\":"
                "[{\"kind\":\"suffix\",\"pattern\":\".tmp\"}]},\"action\":\"block\"}]");
    struct rt_decision *d = fx_decide(&f, 0);
    ck_assert(!d->dropped);
    ck_assert_uint_eq(d->n_filters, 2);
    ck_assert_uint_eq(d->filters[0].index, 0);
    ck_assert_uint_eq(d->filters[1].index, 1);
    ck_assert_uint_eq(d->n_tags, 3);
    ck_assert_str_eq(rt_tag_value(d, "k"), "first");
    ck_assert_str_eq(rt_tag_value(d, "ext"), "txt");
    f.t.ev.path = "/data/a.tmp";
    d = fx_decide(&f, 0);
    ck_assert(d->blocked);
    ck_assert_uint_eq(d->n_filters, 2); /* tag1 then the block */
    ck_assert_int_eq(d->drop_filter, 2);
    fx_fini(&f);
}
END_TEST

START_TEST(t_priority_range)
{
    struct fx f;
    fx_init(&f, "[{\"id\":\"mid\",\"kind\":\"priority\",\"conditions\":{\"min_priority\":3,"
                "\"max_priority\":5},\"action\":\"block\"}]");
    bool expect[] = {true, true, true, false, false, false, true, true};
    for (uint32_t p = 0; p < 8; p++) {
        f.t.ev.priority = p;
        ck_assert_msg(fx_passes(&f, 0) == expect[p], "priority %u", p);
    }
    fx_fini(&f);
    fx_init(&f, "[{\"id\":\"low\",\"kind\":\"priority\",\"conditions\":{\"max_priority\":0},"
                "\"action\":\"block\"}]");
    f.t.ev.priority = 0;
    ck_assert(!fx_passes(&f, 0));
    f.t.ev.priority = 1;
    ck_assert(fx_passes(&f, 0));
    fx_fini(&f);
}
END_TEST

START_TEST(t_scoping)
{
    struct fx f;
    fx_init(&f, "[{\"id\":\"acme-writes\",\"kind\":\"priority\",\"conditions\":{"
                "\"event_types\":[\"filesystem_write\"],\"tenant\":\"acme\",\"min_priority\":0},"
                "\"action\":\"block\"},"
                " {\"id\":\"off\",\"enabled\":false,\"kind\":\"priority\",\"conditions\":"
                "{\"min_priority\":0},\"action\":\"block\"}]");
    ck_assert(fx_passes(&f, 0));
    f.t.ev.tenant = "acme";
    ck_assert(!fx_passes(&f, 0));
    f.t.ev.type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_READ;
    ck_assert(fx_passes(&f, 0));
    fx_fini(&f);
}
END_TEST

START_TEST(t_temporal_edges)
{
    struct fx f;
    fx_init(&f, "[{\"id\":\"office\",\"kind\":\"temporal\",\"conditions\":{\"time_windows\":"
                "[{\"start\":\"09:00\",\"end\":\"17:00\",\"days\":[\"mon\",\"tue\",\"wed\","
                "\"thu\",\"fri\"]}]},\"action\":\"block\"}]");
    ck_assert(fx_passes(&f, MONDAY + 9 * HOUR - 1));
    ck_assert(fx_passes(&f, MONDAY + 9 * HOUR - NS)); /* 08:59:59 */
    ck_assert(!fx_passes(&f, MONDAY + 9 * HOUR));     /* start is inclusive */
    ck_assert(!fx_passes(&f, MONDAY + 17 * HOUR - 1));
    ck_assert(fx_passes(&f, MONDAY + 17 * HOUR));     /* end is exclusive */
    ck_assert(!fx_passes(&f, MONDAY + 4 * DAY + 12 * HOUR)); /* friday */
    ck_assert(fx_passes(&f, MONDAY + 5 * DAY + 12 * HOUR));  /* saturday */
    ck_assert(fx_passes(&f, MONDAY + 6 * DAY + 12 * HOUR));  /* sunday */
    ck_assert(!fx_passes(&f, MONDAY + 7 * DAY + 12 * HOUR)); /* next monday */
    ck_assert(!fx_passes(&f, MONDAY - 7 * DAY + 10 * HOUR)); /* the monday before */
    fx_fini(&f);

    /* Across midnight: the window belongs to the day it starts on. */
    fx_init(&f, "[{\"id\":\"night\",\"kind\":\"temporal\",\"conditions\":{\"time_windows\":"
                "[{\"start\":\"22:00\",\"end\":\"06:00\",\"days\":[\"fri\"]}]},"
                "\"action\":\"block\"}]");
    uint64_t fri = MONDAY + 4 * DAY;
    ck_assert(fx_passes(&f, fri + 22 * HOUR - 1));
    ck_assert(!fx_passes(&f, fri + 22 * HOUR));
    ck_assert(!fx_passes(&f, fri + DAY - 1));
    ck_assert(!fx_passes(&f, fri + DAY));               /* saturday 00:00 */
    ck_assert(!fx_passes(&f, fri + DAY + 6 * HOUR - 1)); /* saturday 05:59:59.999 */
    ck_assert(fx_passes(&f, fri + DAY + 6 * HOUR));
    ck_assert(fx_passes(&f, fri + DAY + 23 * HOUR));    /* saturday night: not listed */
    ck_assert(fx_passes(&f, fri + 2 * HOUR));           /* friday early: thursday's night */
    fx_fini(&f);

    /* Offsets: local 09:00-10:00 at UTC+2 is 07:00-08:00 UTC; at UTC-1 monday 00:30 UTC is
     * sunday 23:30 local. "24:00" closes a window at midnight. */
    fx_init(&f, "[{\"id\":\"east\",\"kind\":\"temporal\",\"conditions\":{\"time_windows\":"
                "[{\"start\":\"09:00\",\"end\":\"10:00\",\"utc_offset_minutes\":120}]},"
                "\"action\":\"block\"},"
                " {\"id\":\"west\",\"kind\":\"temporal\",\"conditions\":{\"time_windows\":"
                "[{\"start\":\"23:00\",\"end\":\"24:00\",\"days\":[\"sun\"],"
                "\"utc_offset_minutes\":-60}]},\"action\":\"block\"}]");
    ck_assert(fx_passes(&f, MONDAY + 7 * HOUR - 1));
    ck_assert(!fx_passes(&f, MONDAY + 7 * HOUR));
    ck_assert(fx_passes(&f, MONDAY + 8 * HOUR));
    ck_assert(!fx_passes(&f, MONDAY + 30 * MIN));
    ck_assert_int_eq(f.d.drop_filter, 1);
    ck_assert(fx_passes(&f, MONDAY + HOUR)); /* local monday 00:00 */
    ck_assert(fx_passes(&f, MONDAY - 1));    /* local sunday 22:59:59 */
    fx_fini(&f);

    /* The event clock reads timestamp_ns, and the wall clock when it is zero. */
    fx_init(&f, "[{\"id\":\"ev\",\"kind\":\"temporal\",\"conditions\":{\"time_windows\":"
                "[{\"start\":\"00:00\",\"end\":\"01:00\"}],\"clock\":\"event\"},"
                "\"action\":\"block\"}]");
    f.t.ev.timestamp_ns = MONDAY + 30 * MIN;
    ck_assert(!fx_passes(&f, MONDAY + 12 * HOUR));
    f.t.ev.timestamp_ns = MONDAY + 2 * HOUR;
    ck_assert(fx_passes(&f, MONDAY + 30 * MIN));
    f.t.ev.timestamp_ns = 0;
    ck_assert(!fx_passes(&f, MONDAY + 30 * MIN));
    fx_fini(&f);
}
END_TEST

START_TEST(t_rate_limit_edges)
{
    struct fx f;
    fx_init(&f, "[{\"id\":\"rl\",\"kind\":\"rate_limit\",\"rate_per_sec\":10,\"burst\":3,"
                "\"action\":\"block\"}]");
    uint64_t t0 = MONDAY;
    /* The burst passes at one instant, the next is over the limit. */
    ck_assert(fx_passes(&f, t0));
    ck_assert(fx_passes(&f, t0));
    ck_assert(fx_passes(&f, t0));
    ck_assert(!fx_passes(&f, t0));
    ck_assert_int_eq(f.d.drop_filter, 0);
    /* One token per 100 ms: not a nanosecond earlier. */
    ck_assert(!fx_passes(&f, t0 + 100 * MS - 1));
    ck_assert(fx_passes(&f, t0 + 100 * MS));
    ck_assert(!fx_passes(&f, t0 + 100 * MS));
    ck_assert(fx_passes(&f, t0 + 200 * MS));
    /* A long idle period refills to the burst, no more. */
    uint64_t t1 = t0 + 3600 * NS;
    int passed = 0;
    for (int i = 0; i < 10; i++) {
        passed += fx_passes(&f, t1);
    }
    ck_assert_int_eq(passed, 3);
    ck_assert_uint_eq(rt_engine_filter_drops(f.e, 0), 3 + 7);
    ck_assert_uint_eq(rt_engine_filter_matches(f.e, 0), 10); /* matches = events over the limit */
    /* A clock stepping back makes the limiter stricter, never looser. */
    ck_assert(!fx_passes(&f, t1 - 10 * NS));
    fx_fini(&f);

    /* Fractional rate; burst 1; sustained one per interval. */
    fx_init(&f, "[{\"id\":\"slow\",\"kind\":\"rate_limit\",\"rate_per_sec\":0.5,\"burst\":1,"
                "\"action\":\"tag\",\"add_tags\":{\"over\":\"yes\"}}]");
    ck_assert_ptr_null(rt_tag_value(fx_decide(&f, t0), "over"));
    ck_assert_str_eq(rt_tag_value(fx_decide(&f, t0 + 2 * NS - 1), "over"), "yes");
    ck_assert(!f.d.dropped); /* tag, not block */
    for (int i = 1; i <= 5; i++) {
        ck_assert_ptr_null(rt_tag_value(fx_decide(&f, t0 + (uint64_t)i * 2 * NS), "over"));
    }
    fx_fini(&f);

    /* Only events within the filter's scope take tokens. */
    fx_init(&f, "[{\"id\":\"acme\",\"kind\":\"rate_limit\",\"conditions\":{\"tenant\":\"acme\"},"
                "\"rate_per_sec\":1,\"burst\":1,\"action\":\"block\"}]");
    for (int i = 0; i < 5; i++) {
        ck_assert(fx_passes(&f, t0));
    }
    f.t.ev.tenant = "acme";
    ck_assert(fx_passes(&f, t0));
    ck_assert(!fx_passes(&f, t0));
    fx_fini(&f);
}
END_TEST

START_TEST(t_rate_over_limit_sampled)
{
    /* A rate_limit filter with action sample keeps a fraction of the excess. */
    struct fx f;
    fx_init(&f, "[{\"id\":\"rs\",\"kind\":\"rate_limit\",\"rate_per_sec\":1,\"burst\":1,"
                "\"action\":\"sample\",\"sample_ratio\":0}]");
    ck_assert(fx_passes(&f, MONDAY));
    ck_assert(!fx_passes(&f, MONDAY));
    ck_assert(f.d.sampled_out);
    ck_assert_int_eq(f.d.filters[0].outcome, RT_OUTCOME_SAMPLED_OUT);
    struct rt_engine_stats st;
    rt_engine_stats(f.e, &st);
    ck_assert_uint_eq(st.sampled_out, 1);
    fx_fini(&f);
}
END_TEST

START_TEST(t_sample)
{
    struct fx f;
    fx_init(&f, "[{\"id\":\"none\",\"kind\":\"sample\",\"sample_ratio\":0,"
                "\"conditions\":{\"tenant\":\"zero\"}},"
                " {\"id\":\"quarter\",\"kind\":\"sample\",\"sample_ratio\":0.25,"
                "\"add_tags\":{\"sampled\":\"1\"}}]");
    int kept = 0;
    const int n = 40000;
    for (int i = 0; i < n; i++) {
        vt_tev_id(&f.t, (uint64_t)i * 7919 + 1);
        struct rt_decision *d = fx_decide(&f, 0);
        bool k = !d->dropped;
        kept += k;
        ck_assert(k ? rt_tag_value(d, "sampled") != NULL : d->sampled_out);
        /* The choice is a function of the event: explain and a repeat agree. */
        rt_engine_decide(f.e, f.s, &f.t.ev, 0, true, &f.d);
        ck_assert(f.d.dropped == !k);
        ck_assert(fx_passes(&f, 0) == k);
    }
    ck_assert_msg(kept > n / 4 - 600 && kept < n / 4 + 600, "kept %d of %d", kept, n);
    ck_assert_uint_eq(rt_engine_filter_drops(f.e, 1), 2 * (uint64_t)(n - kept));
    /* Ratio 0 drops everything in scope. */
    f.t.ev.tenant = "zero";
    ck_assert(!fx_passes(&f, 0));
    ck_assert_int_eq(f.d.drop_filter, 0);
    fx_fini(&f);

    /* Without an id: producer and sequence decide; ratio 1 keeps all. */
    fx_init(&f, "[{\"id\":\"half\",\"kind\":\"sample\",\"sample_ratio\":0.5},"
                " {\"id\":\"all\",\"kind\":\"sample\",\"sample_ratio\":1}]");
    f.t.ev.producer_id = "fuse-1";
    kept = 0;
    for (int i = 1; i <= 2000; i++) {
        f.t.ev.sequence = (uint64_t)i;
        bool k = fx_passes(&f, 0);
        kept += k;
        ck_assert(fx_passes(&f, 0) == k);
        if (k) {
            ck_assert_uint_eq(f.d.n_filters, 2);
            ck_assert_int_eq(f.d.filters[1].outcome, RT_OUTCOME_SAMPLED_IN);
        }
    }
    ck_assert_msg(kept > 850 && kept < 1150, "kept %d of 2000", kept);
    fx_fini(&f);
}
END_TEST

START_TEST(t_explain_no_side_effects)
{
    struct fx f;
    fx_init(&f, "[{\"id\":\"tagger\",\"order\":0,\"kind\":\"path\",\"conditions\":{\"patterns\":"
                "[{\"kind\":\"prefix\",\"pattern\":\"/data\"}]},\"action\":\"tag\","
                "\"add_tags\":{\"a\":\"b\"}},"
                " {\"id\":\"rl\",\"order\":1,\"kind\":\"rate_limit\",\"rate_per_sec\":1,"
                "\"burst\":2,\"action\":\"block\"}]");
    struct rt_engine_stats st;
    for (int i = 0; i < 50; i++) {
        rt_engine_decide(f.e, f.s, &f.t.ev, MONDAY, true, &f.d);
        ck_assert(!f.d.dropped);
        ck_assert_uint_eq(f.d.n_rules, 1);
        ck_assert_uint_eq(f.d.n_filters, 1);
    }
    ck_assert_uint_eq(rt_engine_filter_matches(f.e, 0), 0);
    ck_assert_uint_eq(rt_engine_rule_matches(f.e, 0), 0);
    rt_engine_stats(f.e, &st);
    ck_assert_uint_eq(st.decisions, 0);
    /* Tokens were not consumed: the full burst is still there. */
    ck_assert(fx_passes(&f, MONDAY));
    ck_assert(fx_passes(&f, MONDAY));
    /* Explain now reports what the next event would meet, and still takes nothing. */
    rt_engine_decide(f.e, f.s, &f.t.ev, MONDAY + NS, true, &f.d);
    ck_assert(!f.d.dropped);
    rt_engine_decide(f.e, f.s, &f.t.ev, MONDAY, true, &f.d);
    ck_assert(f.d.blocked);
    json_t *x = rt_decision_explain(f.e, &f.d);
    ck_assert_str_eq(json_string_value(json_object_get(x, "blocked_by")), "rl");
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(x, "filters"), 1), "outcome")),
                     "blocked");
    json_decref(x);
    ck_assert(fx_passes(&f, MONDAY + NS));
    ck_assert(!fx_passes(&f, MONDAY + NS));
    ck_assert_uint_eq(rt_engine_filter_matches(f.e, 0), 4);
    ck_assert_uint_eq(rt_engine_filter_drops(f.e, 1), 1);
    rt_engine_stats(f.e, &st);
    ck_assert_uint_eq(st.decisions, 4);
    ck_assert_uint_eq(st.blocked, 1);
    fx_fini(&f);
}
END_TEST

/* A filter and a rule on the same field share its one scan. */
START_TEST(t_shared_field)
{
    rt_engine_t *e = rt_engine_from(
        "[{\"id\":\"r\",\"conditions\":{\"patterns\":[{\"kind\":\"literal\",\"pattern\":\"beta\","
        "\"field\":\"content.body\"}]},\"target_boundaries\":[\"graph\"]}]",
        "[{\"id\":\"f\",\"kind\":\"content\",\"conditions\":{\"patterns\":[{\"kind\":\"literal\","
        "\"pattern\":\"alpha\",\"field\":\"content.body\"}]},\"action\":\"tag\","
        "\"add_tags\":{\"alpha\":\"1\"}}]",
        NULL);
    rt_scratch_t *s = rt_scratch_new(e);
    struct vt_tev t;
    struct rt_decision d;
    vt_tev_init(&t, "system", "");
    vt_tev_content(&t, "body", "alpha beta");
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    ck_assert_str_eq(rt_tag_value(&d, "alpha"), "1");
    ck_assert_uint_eq(d.targets, rt_bit(e, "graph"));
    vt_tev_init(&t, "system", "");
    vt_tev_content(&t, "body", "beta");
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    ck_assert_ptr_null(rt_tag_value(&d, "alpha"));
    ck_assert_uint_eq(d.n_filters, 0);
    ck_assert_uint_eq(d.targets, rt_bit(e, "graph"));
    rt_scratch_destroy(&s);
    rt_engine_destroy(&e);
}
END_TEST

/* Rate-limit state survives a reload for a filter with the same id. */
START_TEST(t_inherit_bucket)
{
    const char *filters = "[{\"id\":\"rl\",\"kind\":\"rate_limit\",\"rate_per_sec\":1,"
                          "\"burst\":1,\"action\":\"block\"}]";
    struct fx f;
    fx_init(&f, filters);
    ck_assert(fx_passes(&f, MONDAY));
    rt_engine_t *e2 = rt_engine_from(s_route_all, filters, NULL);
    rt_engine_inherit(e2, f.e);
    struct rt_decision d;
    rt_engine_decide(e2, f.s, &f.t.ev, MONDAY, false, &d);
    ck_assert(d.blocked);
    ck_assert_uint_eq(rt_engine_filter_drops(e2, 0), 1);
    rt_engine_destroy(&e2);
    fx_fini(&f);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("rt_filter");
    struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"content_block", t_content_block},
        {"path_allow_then_block", t_path_allow_then_block},
        {"tag_continues", t_tag_continues},
        {"priority_range", t_priority_range},
        {"scoping", t_scoping},
        {"temporal_edges", t_temporal_edges},
        {"rate_limit_edges", t_rate_limit_edges},
        {"rate_over_limit_sampled", t_rate_over_limit_sampled},
        {"sample", t_sample},
        {"explain_no_side_effects", t_explain_no_side_effects},
        {"shared_field", t_shared_field},
        {"inherit_bucket", t_inherit_bucket},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_test(tc, cases[i].test);
        suite_add_tcase(s, tc);
    }
    return rt_run_suite(s);
}
