/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of vx_metrics: values, labels, quantiles, name rules, exposition, concurrency. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vx_metrics.h"

#define PROMTOOL "/usr/bin/promtool"

START_TEST(t_counter)
{
    vx_metrics_t *m = vx_metrics_new();
    vx_counter_t *c = vx_metrics_counter(m, "t_events_total", "Events.", NULL);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(vx_counter_value(c), 0);
    vx_counter_add(c, 1);
    vx_counter_add(c, 41);
    ck_assert_uint_eq(vx_counter_value(c), 42);
    /* A second lookup returns the same series. */
    ck_assert_ptr_eq(vx_metrics_counter(m, "t_events_total", "Events.", NULL), c);
    vx_counter_add(c, UINT64_C(1) << 40);
    ck_assert_uint_eq(vx_counter_value(c), (UINT64_C(1) << 40) + 42);
    vx_metrics_destroy(&m);
    ck_assert_ptr_null(m);
    vx_metrics_destroy(&m);
    vx_metrics_destroy(NULL);
}
END_TEST

START_TEST(t_gauge)
{
    vx_metrics_t *m = vx_metrics_new();
    vx_gauge_t *g = vx_metrics_gauge(m, "t_queue_depth", "Depth.", NULL);
    ck_assert_ptr_nonnull(g);
    ck_assert_double_eq(vx_gauge_value(g), 0.0);
    vx_gauge_set(g, 2.5);
    ck_assert_double_eq(vx_gauge_value(g), 2.5);
    vx_gauge_add(g, -4.0);
    ck_assert_double_eq(vx_gauge_value(g), -1.5);
    vx_gauge_add(g, 0.25);
    ck_assert_double_eq(vx_gauge_value(g), -1.25);
    vx_metrics_destroy(&m);
}
END_TEST

START_TEST(t_histogram)
{
    vx_metrics_t *m = vx_metrics_new();
    double bounds[3];
    ck_assert_uint_eq(vx_metrics_exp_bounds(bounds, 3, 0.25, 4.0), 3);
    ck_assert_double_eq(bounds[0], 0.25);
    ck_assert_double_eq(bounds[1], 1.0);
    ck_assert_double_eq(bounds[2], 4.0);
    vx_histogram_t *h = vx_metrics_histogram(m, "t_size_bytes", "Sizes.", bounds, 3, NULL);
    ck_assert_ptr_nonnull(h);
    ck_assert_uint_eq(vx_histogram_count(h), 0);
    ck_assert_double_eq(vx_histogram_sum(h), 0.0);
    vx_histogram_observe(h, 0.25); /* on a bound: counts in that bucket (le) */
    vx_histogram_observe(h, 0.5);
    vx_histogram_observe(h, 3.0);
    vx_histogram_observe(h, 100.0);
    ck_assert_uint_eq(vx_histogram_count(h), 4);
    ck_assert_double_eq(vx_histogram_sum(h), 103.75);
    char *text = vx_metrics_render(m, NULL);
    ck_assert_ptr_nonnull(strstr(text, "t_size_bytes_bucket{le=\"0.25\"} 1\n"
                                       "t_size_bytes_bucket{le=\"1\"} 2\n"
                                       "t_size_bytes_bucket{le=\"4\"} 3\n"
                                       "t_size_bytes_bucket{le=\"+Inf\"} 4\n"
                                       "t_size_bytes_sum 103.75\n"
                                       "t_size_bytes_count 4\n"));
    free(text);
    vx_metrics_destroy(&m);
}
END_TEST

/* Values counted by the caller into buckets and added at once read as if observed one by one. */
START_TEST(t_histogram_add)
{
    vx_metrics_t *m = vx_metrics_new();
    static const double bounds[] = {0.25, 1.0, 4.0};
    vx_histogram_t *one = vx_metrics_histogram(m, "t_one_seconds", "One.", bounds, 3, NULL);
    vx_histogram_t *many = vx_metrics_histogram(m, "t_many_seconds", "Many.", bounds, 3, NULL);
    static const double vals[] = {0.25, 0.5, 3.0, 100.0, 0.1, NAN};
    uint64_t counts[4] = {0};
    double sum = 0;
    for (size_t i = 0; i < 5; i++) {
        vx_histogram_observe(one, vals[i]);
        counts[vx_histogram_bucket(many, vals[i])]++;
        sum += vals[i];
    }
    ck_assert_uint_eq(vx_histogram_bucket(many, vals[5]), 3); /* NaN: +Inf */
    ck_assert_uint_eq(vx_histogram_bucket(many, 0.25), 0);    /* on a bound: that bucket */
    vx_histogram_add(many, counts, sum);
    ck_assert_uint_eq(vx_histogram_count(many), vx_histogram_count(one));
    ck_assert_double_eq(vx_histogram_sum(many), vx_histogram_sum(one));
    for (double q = 0.1; q < 1.0; q += 0.2) {
        ck_assert_double_eq(vx_histogram_quantile(many, q), vx_histogram_quantile(one, q));
    }
    vx_metrics_destroy(&m);
}
END_TEST

START_TEST(t_labels)
{
    vx_metrics_t *m = vx_metrics_new();
    vx_counter_t *a = vx_metrics_counter(m, "t_drop_total", "Drops.", "reason", "dup", "src",
                                         "fan", NULL);
    vx_counter_t *b = vx_metrics_counter(m, "t_drop_total", "Drops.", "reason", "full", "src",
                                         "fan", NULL);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_ne(a, b);
    ck_assert_ptr_eq(vx_metrics_counter(m, "t_drop_total", "Drops.", "reason", "dup", "src",
                                        "fan", NULL),
                     a);
    vx_counter_add(a, 2);
    vx_counter_add(b, 5);
    ck_assert_uint_eq(vx_counter_value(a), 2);
    ck_assert_uint_eq(vx_counter_value(b), 5);
    /* Label names must match the family's: same names, same order. */
    ck_assert_ptr_null(vx_metrics_counter(m, "t_drop_total", "Drops.", "src", "fan", "reason",
                                          "dup", NULL));
    ck_assert_ptr_null(vx_metrics_counter(m, "t_drop_total", "Drops.", "reason", "dup", NULL));
    ck_assert_ptr_null(vx_metrics_counter(m, "t_drop_total", "Drops.", NULL));
    /* Empty label values are legal. */
    ck_assert_ptr_nonnull(vx_metrics_counter(m, "t_drop_total", "Drops.", "reason", "", "src",
                                             "", NULL));
    vx_metrics_destroy(&m);
}
END_TEST

START_TEST(t_quantile)
{
    vx_metrics_t *m = vx_metrics_new();
    const double bounds[] = {1, 2, 4, 8};
    vx_histogram_t *h = vx_metrics_histogram(m, "t_lat_seconds", "Latency.", bounds, 4, NULL);
    ck_assert_double_eq(vx_histogram_quantile(h, 0.5), 0.0); /* empty */
    for (int i = 0; i < 10; i++) {
        vx_histogram_observe(h, 0.5);
        vx_histogram_observe(h, 1.5);
        vx_histogram_observe(h, 3.0);
        vx_histogram_observe(h, 3.0);
    }
    /* 10 in (0,1], 10 in (1,2], 20 in (2,4]: linear inside the bucket holding the rank. */
    ck_assert_double_eq_tol(vx_histogram_quantile(h, 0.25), 1.0, 1e-9);
    ck_assert_double_eq_tol(vx_histogram_quantile(h, 0.125), 0.5, 1e-9);
    ck_assert_double_eq_tol(vx_histogram_quantile(h, 0.5), 2.0, 1e-9);
    ck_assert_double_eq_tol(vx_histogram_quantile(h, 0.75), 3.0, 1e-9);
    ck_assert_double_eq_tol(vx_histogram_quantile(h, 0.99), 3.96, 1e-9);
    /* A rank in +Inf reports the highest finite bound. */
    vx_histogram_observe(h, 1000.0);
    ck_assert_double_eq_tol(vx_histogram_quantile(h, 0.999), 8.0, 1e-9);
    ck_assert(isnan(vx_histogram_quantile(h, 0.0)));
    ck_assert(isnan(vx_histogram_quantile(h, 1.0)));
    vx_metrics_destroy(&m);
}
END_TEST

static double
s_one(void *arg)
{
    (void)arg;
    return 1.0;
}

START_TEST(t_invalid)
{
    vx_metrics_t *m = vx_metrics_new();
    const double bounds[] = {1, 2};
    const double unsorted[] = {2, 1};
    const double inf[] = {1, INFINITY};
    /* Metric names. */
    ck_assert_ptr_null(vx_metrics_gauge(m, "", "x", NULL));
    ck_assert_ptr_null(vx_metrics_gauge(m, "9lives", "x", NULL));
    ck_assert_ptr_null(vx_metrics_gauge(m, "has-dash", "x", NULL));
    ck_assert_ptr_null(vx_metrics_gauge(m, "sp ace", "x", NULL));
    ck_assert_ptr_null(vx_metrics_gauge(m, NULL, "x", NULL));
    ck_assert_ptr_nonnull(vx_metrics_gauge(m, "ns:sub_ok", "x", NULL));
    /* Counters must end in _total. */
    ck_assert_ptr_null(vx_metrics_counter(m, "t_events", "x", NULL));
    ck_assert_ptr_null(vx_metrics_counter(m, "t_total_events", "x", NULL));
    /* Label names. */
    ck_assert_ptr_null(vx_metrics_gauge(m, "t_g", "x", "__reserved", "v", NULL));
    ck_assert_ptr_null(vx_metrics_gauge(m, "t_g", "x", "1st", "v", NULL));
    ck_assert_ptr_null(vx_metrics_gauge(m, "t_g", "x", "a:b", "v", NULL));
    ck_assert_ptr_null(vx_metrics_gauge(m, "t_g", "x", "a", "v", "a", "w", NULL));
    ck_assert_ptr_null(vx_metrics_histogram(m, "t_h", "x", bounds, 2, "le", "1", NULL));
    /* Bounds. */
    ck_assert_ptr_null(vx_metrics_histogram(m, "t_h", "x", unsorted, 2, NULL));
    ck_assert_ptr_null(vx_metrics_histogram(m, "t_h", "x", inf, 2, NULL));
    ck_assert_ptr_nonnull(vx_metrics_histogram(m, "t_h", "x", bounds, 2, NULL));
    ck_assert_ptr_null(vx_metrics_histogram(m, "t_h", "x", bounds, 1, NULL));
    /* One name, two types. */
    ck_assert_ptr_nonnull(vx_metrics_gauge(m, "t_twice", "x", NULL));
    ck_assert_ptr_null(vx_metrics_histogram(m, "t_twice", "x", bounds, 2, NULL));
    ck_assert_int_eq(vx_metrics_gauge_fn(m, "t_twice", "x", s_one, NULL), -EINVAL);
    ck_assert_int_eq(vx_metrics_gauge_fn(m, "t-bad", "x", s_one, NULL), -EINVAL);
    ck_assert_int_eq(vx_metrics_gauge_fn(m, "t_fn", "x", NULL, NULL), -EINVAL);
    ck_assert_int_eq(vx_metrics_gauge_fn(m, "t_fn", "x", s_one, NULL), 0);
    ck_assert_int_eq(vx_metrics_gauge_fn(m, "t_fn", "x", s_one, NULL), -EINVAL);
    ck_assert_ptr_null(vx_metrics_gauge(m, "t_fn", "x", NULL));
    /* Nothing was created by the failed calls. */
    char *text = vx_metrics_render(m, NULL);
    ck_assert_ptr_null(strstr(text, "t_g"));
    ck_assert_ptr_null(strstr(text, "t_events"));
    free(text);
    vx_metrics_destroy(&m);
}
END_TEST

/* The registry used by the exposition and promtool tests. */
static vx_metrics_t *
s_sample_registry(void)
{
    vx_metrics_t *m = vx_metrics_new();
    vx_counter_t *a = vx_metrics_counter(m, "t_events_total", "Events seen.", "kind", "create",
                                         NULL);
    vx_counter_t *b = vx_metrics_counter(m, "t_events_total", "Events seen.", "kind", "unlink",
                                         NULL);
    vx_gauge_t *g = vx_metrics_gauge(m, "t_queue_depth", "Queue depth.", NULL);
    const double bounds[] = {0.1, 0.5};
    vx_histogram_t *h = vx_metrics_histogram(m, "t_latency_seconds", "Latency.", bounds, 2,
                                             "stage", "send", NULL);
    vx_metrics_gauge_fn(m, "t_up", "Always 1.", s_one, NULL);
    vx_counter_add(a, 3);
    vx_counter_add(b, 1);
    vx_gauge_set(g, 2.5);
    vx_histogram_observe(h, 0.0625);
    vx_histogram_observe(h, 0.25);
    vx_histogram_observe(h, 0.25);
    vx_histogram_observe(h, 7.0);
    return m;
}

START_TEST(t_exposition)
{
    vx_metrics_t *m = s_sample_registry();
    size_t len = 0;
    char *text = vx_metrics_render(m, &len);
    const char *want = "# HELP t_events_total Events seen.\n"
                       "# TYPE t_events_total counter\n"
                       "t_events_total{kind=\"create\"} 3\n"
                       "t_events_total{kind=\"unlink\"} 1\n"
                       "# HELP t_queue_depth Queue depth.\n"
                       "# TYPE t_queue_depth gauge\n"
                       "t_queue_depth 2.5\n"
                       "# HELP t_latency_seconds Latency.\n"
                       "# TYPE t_latency_seconds histogram\n"
                       "t_latency_seconds_bucket{stage=\"send\",le=\"0.1\"} 1\n"
                       "t_latency_seconds_bucket{stage=\"send\",le=\"0.5\"} 3\n"
                       "t_latency_seconds_bucket{stage=\"send\",le=\"+Inf\"} 4\n"
                       "t_latency_seconds_sum{stage=\"send\"} 7.5625\n"
                       "t_latency_seconds_count{stage=\"send\"} 4\n"
                       "# HELP t_up Always 1.\n"
                       "# TYPE t_up gauge\n"
                       "t_up 1\n";
    ck_assert_str_eq(text, want);
    ck_assert_uint_eq(len, strlen(want));
    free(text);
    vx_metrics_destroy(&m);

    /* An empty registry renders an empty string, not NULL. */
    m = vx_metrics_new();
    text = vx_metrics_render(m, &len);
    ck_assert_str_eq(text, "");
    ck_assert_uint_eq(len, 0);
    free(text);
    vx_metrics_destroy(&m);
}
END_TEST

START_TEST(t_escaping)
{
    vx_metrics_t *m = vx_metrics_new();
    vx_gauge_t *g = vx_metrics_gauge(m, "t_path_info", "Paths with \\ and \"quotes\"\nsecond line.",
                                     "path", "C:\\dir\\\"x\"\nnext", NULL);
    vx_gauge_set(g, 0.1);
    char *text = vx_metrics_render(m, NULL);
    ck_assert_str_eq(text, "# HELP t_path_info Paths with \\\\ and \"quotes\"\\nsecond line.\n"
                           "# TYPE t_path_info gauge\n"
                           "t_path_info{path=\"C:\\\\dir\\\\\\\"x\\\"\\nnext\"} 0.1\n");
    free(text);
    vx_metrics_destroy(&m);
}
END_TEST

#define N_THREADS 4
#define N_PER_THREAD 250000

static void *
s_hammer(void *arg)
{
    vx_metrics_t *m = arg;
    const double bounds[] = {0.5, 2};
    /* Each thread does its own lookups, so the registry lock is contended too. */
    vx_counter_t *c = vx_metrics_counter(m, "t_hits_total", "Hits.", "k", "v", NULL);
    vx_gauge_t *g = vx_metrics_gauge(m, "t_level", "Level.", NULL);
    vx_histogram_t *h = vx_metrics_histogram(m, "t_obs", "Obs.", bounds, 2, NULL);
    if (!c || !g || !h) {
        return NULL;
    }
    for (int i = 0; i < N_PER_THREAD; i++) {
        vx_counter_add(c, 1);
        vx_gauge_add(g, 1.0);
        vx_histogram_observe(h, 1.0);
    }
    return m;
}

START_TEST(t_concurrent)
{
    vx_metrics_t *m = vx_metrics_new();
    pthread_t th[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        ck_assert_int_eq(pthread_create(&th[i], NULL, s_hammer, m), 0);
    }
    for (int i = 0; i < N_THREADS; i++) {
        void *ret = NULL;
        pthread_join(th[i], &ret);
        ck_assert_ptr_eq(ret, m);
    }
    const double bounds[] = {0.5, 2};
    const uint64_t total = (uint64_t)N_THREADS * N_PER_THREAD;
    ck_assert_uint_eq(vx_counter_value(vx_metrics_counter(m, "t_hits_total", "Hits.", "k", "v",
                                                          NULL)),
                      total);
    ck_assert_double_eq(vx_gauge_value(vx_metrics_gauge(m, "t_level", "Level.", NULL)),
                        (double)total);
    vx_histogram_t *h = vx_metrics_histogram(m, "t_obs", "Obs.", bounds, 2, NULL);
    ck_assert_uint_eq(vx_histogram_count(h), total);
    ck_assert_double_eq(vx_histogram_sum(h), (double)total);
    vx_metrics_destroy(&m);
}
END_TEST

START_TEST(t_promtool)
{
    ck_assert_msg(access(PROMTOOL, X_OK) == 0,
                  PROMTOOL " is missing: install Debian's prometheus package");
    vx_metrics_t *m = s_sample_registry();
    vx_gauge_t *g = vx_metrics_gauge(m, "t_path_info", "Paths with \\ and \"quotes\"\nsecond.",
                                     "path", "C:\\dir\\\"x\"\nnext", NULL);
    vx_gauge_set(g, -0.1);
    vx_gauge_t *nan = vx_metrics_gauge(m, "t_ratio", "A ratio that can be undefined.", NULL);
    vx_gauge_set(nan, NAN);
    char *text = vx_metrics_render(m, NULL);
    vx_metrics_destroy(&m);

    char in[] = "/tmp/vx-metrics-XXXXXX";
    char out[] = "/tmp/vx-promtool-XXXXXX";
    int fd_in = mkstemp(in);
    int fd_out = mkstemp(out);
    ck_assert_int_ge(fd_in, 0);
    ck_assert_int_ge(fd_out, 0);
    size_t len = strlen(text);
    ck_assert_int_eq(write(fd_in, text, len), (ssize_t)len);
    close(fd_in);
    close(fd_out);
    free(text);

    char cmd[256];
    snprintf(cmd, sizeof cmd, PROMTOOL " check metrics < %s > %s 2>&1", in, out);
    int status = system(cmd);
    char report[2048] = "";
    FILE *f = fopen(out, "r");
    if (f) {
        size_t n = fread(report, 1, sizeof report - 1, f);
        report[n] = '\0';
        fclose(f);
    }
    unlink(in);
    unlink(out);
    ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "promtool rejected the exposition (status %d): %s", status, report);
}
END_TEST

static Suite *
s_suite(void)
{
    Suite *s = suite_create("vx_metrics");
    struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"counter", t_counter},     {"gauge", t_gauge},           {"histogram", t_histogram},
        {"labels", t_labels},       {"quantile", t_quantile},     {"invalid", t_invalid},
        {"exposition", t_exposition}, {"escaping", t_escaping},   {"concurrent", t_concurrent},
        {"promtool", t_promtool},   {"histogram_add", t_histogram_add},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, cases[i].test);
        suite_add_tcase(s, tc);
    }
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(s_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
