/* SPDX-License-Identifier: Apache-2.0 */
/* an_partial, an_prom, an_rule: merging partition states equals one accumulator over all the
 * values while every partition is exact, and stays close (and says "approximate") beyond;
 * reading one metric from a Prometheus page; alert rules' conditions. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "an_agg.h"
#include "an_partial.h"
#include "an_prom.h"
#include "an_rule.h"

static struct an_agg_spec
s_spec(enum an_fn fn)
{
    struct an_agg_spec sp;
    memset(&sp, 0, sizeof sp);
    sp.fn = fn;
    sp.has_field = true;
    char err[128];
    ck_assert_int_eq(an_field_parse("content.v", &sp.field, err, sizeof err), 0);
    return sp;
}

/* Adds v as an event's content.v, the way the engine does. */
static void
s_add(const struct an_agg_spec *sp, struct an_acc *acc, double v)
{
    vx_event_t e;
    Vexfs__V1__Event__ContentEntry ce, *cp[1] = {&ce};
    char text[64];
    snprintf(text, sizeof text, "%.17g", v);
    vexfs__v1__event__init(&e);
    vexfs__v1__event__content_entry__init(&ce);
    ce.key = (char *)"v";
    ce.value = text;
    e.content = cp;
    e.n_content = 1;
    an_acc_add(sp, acc, &e);
}

/* n values split over parts partitions (value i -> partition i % parts); returns the merged
 * value and sets *approx; *whole gets the value of one accumulator over everything. */
static double
s_merge(enum an_fn fn, size_t n, size_t parts, double (*val)(size_t), double *whole, bool *approx)
{
    struct an_agg_spec sp = s_spec(fn);
    struct an_acc all, *p = calloc(parts, sizeof *p);
    an_acc_init(&all);
    for (size_t k = 0; k < parts; k++) {
        an_acc_init(&p[k]);
    }
    for (size_t i = 0; i < n; i++) {
        s_add(&sp, &all, val(i));
        s_add(&sp, &p[i % parts], val(i));
    }
    json_t **st = calloc(parts, sizeof *st);
    for (size_t k = 0; k < parts; k++) {
        st[k] = an_partial_state(&sp, &p[k]);
        /* through text, as through the results topic */
        char *text = json_dumps(st[k], JSON_COMPACT);
        json_decref(st[k]);
        st[k] = json_loads(text, 0, NULL);
        free(text);
        an_acc_fini(&p[k]);
    }
    double out = -1;
    *approx = false;
    ck_assert(an_partial_merge(&sp, st, parts, &out, approx));
    ck_assert(an_acc_value(&sp, &all, whole));
    for (size_t k = 0; k < parts; k++) {
        json_decref(st[k]);
    }
    free(st);
    free(p);
    an_acc_fini(&all);
    an_field_fini(&sp.field);
    return out;
}

static double
cb_val_small(size_t i)
{
    return (double)((i * 37) % 1000);
}

static double
cb_val_unique(size_t i)
{
    return (double)i * 3.0 + 0.5;
}

START_TEST(t_exact_merges)
{
    static const enum an_fn fns[] = {AN_FN_COUNT, AN_FN_SUM, AN_FN_AVG, AN_FN_MIN, AN_FN_MAX,
                                     AN_FN_DISTINCT, AN_FN_P50, AN_FN_P90, AN_FN_P99};
    for (size_t f = 0; f < sizeof fns / sizeof fns[0]; f++) {
        for (size_t parts = 1; parts <= 5; parts++) {
            double whole = 0;
            bool approx = true;
            double got = s_merge(fns[f], 3000, parts, cb_val_small, &whole, &approx);
            ck_assert_msg(fabs(got - whole) <= 1e-9 * fabs(whole), "fn %d parts %zu: %g vs %g",
                          (int)fns[f], parts, got, whole);
            ck_assert(!approx);
        }
    }
}
END_TEST

START_TEST(t_beyond_the_bound)
{
    /* 60,000 distinct values over 3 partitions: each holds 20,000 > 4096 */
    double whole = 0;
    bool approx = false;
    double got = s_merge(AN_FN_DISTINCT, 60000, 3, cb_val_unique, &whole, &approx);
    ck_assert(approx);
    ck_assert_double_eq(whole, 60000);
    ck_assert_msg(fabs(got - whole) / whole < 0.05, "distinct estimate %g of %g", got, whole);
    double p90 = s_merge(AN_FN_P90, 60000, 3, cb_val_unique, &whole, &approx);
    ck_assert(approx);
    /* within 1% of the range: the summaries keep 4096 order statistics per partition */
    ck_assert_msg(fabs(p90 - whole) < 0.01 * 180000, "p90 %g vs %g", p90, whole);
}
END_TEST

START_TEST(t_prom)
{
    const char *page = "# HELP x_total help with x_total{a=\"1\"} 5 inside\n"
                       "# TYPE x_total counter\n"
                       "x_total{a=\"1\",b=\"q\\\"uote\"} 2\n"
                       "x_total{a=\"2\"} 3 1700000000000\n"
                       "x_total_other{a=\"1\"} 100\n"
                       "x_total 7\n"
                       "x_total{a=\"1\" 9\n"; /* malformed: skipped */
    char *k = (char *)"a", *v1 = (char *)"1", *kb = (char *)"b", *vb = (char *)"q\"uote";
    double out = -1;
    ck_assert_int_eq(an_prom_sum(page, strlen(page), "x_total", NULL, NULL, 0, &out), 3);
    ck_assert_double_eq(out, 12);
    ck_assert_int_eq(an_prom_sum(page, strlen(page), "x_total", &k, &v1, 1, &out), 1);
    ck_assert_double_eq(out, 2);
    char *keys[] = {k, kb}, *vals[] = {v1, vb};
    ck_assert_int_eq(an_prom_sum(page, strlen(page), "x_total", keys, vals, 2, &out), 1);
    ck_assert_int_eq(an_prom_sum(page, strlen(page), "absent", NULL, NULL, 0, &out), 0);
    ck_assert_double_eq(out, 0);
    /* What counts as a metrics page (a scrape of anything else is a failed scrape). */
    ck_assert(an_prom_is_exposition(page, strlen(page)));
    const char *pages[] = {"up 1\n", "x{a=\"b c\"} 2.5e3 17\n", "<html>\n", "# TYPE x gauge"};
    const bool want[] = {true, true, false, true};
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        ck_assert_msg(an_prom_is_exposition(pages[i], strlen(pages[i])) == want[i],
                      "page %zu: expected %d", i, want[i]);
    }
    const char *not_pages[] = {"", "hello world\n", "{\"a\":1}\n", "# comment\n", "x{a=\"1\" 2\n",
                               "SSH-2.0-OpenSSH_9.6\r\n", "HTTP/1.1 400 Bad Request\r\n"};
    for (size_t i = 0; i < sizeof not_pages / sizeof not_pages[0]; i++) {
        ck_assert_msg(!an_prom_is_exposition(not_pages[i], strlen(not_pages[i])),
                      "'%s' taken for a metrics page", not_pages[i]);
    }
}
END_TEST

START_TEST(t_rule_conditions)
{
    static const char *const conds[] = {">", ">=", "<", "<=", "==", "!="};
    static const bool at[] = {false, true, false, true, true, false};   /* value == threshold */
    static const bool above[] = {true, true, false, false, false, true}; /* value > threshold */
    for (size_t i = 0; i < 6; i++) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:f}", "name", "r", "target",
                              "http://127.0.0.1:1/metrics", "metric", "m", "condition", conds[i],
                              "threshold", 5.0);
        struct an_rule *r = NULL;
        char err[256];
        ck_assert_int_eq(an_rule_parse(j, &r, err, sizeof err), 0);
        ck_assert(an_rule_holds(r, 5) == at[i]);
        ck_assert(an_rule_holds(r, 6) == above[i]);
        ck_assert_str_eq(r->severity, "warning");
        ck_assert_uint_eq(r->for_ms, 0);
        an_rule_destroy(&r);
        json_decref(j);
    }
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("an_partial");
    TCase *tc = tcase_create("merge");
    tcase_add_test(tc, t_exact_merges);
    tcase_add_test(tc, t_beyond_the_bound);
    suite_add_tcase(s, tc);
    tc = tcase_create("monitor");
    tcase_add_test(tc, t_prom);
    tcase_add_test(tc, t_rule_conditions);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
