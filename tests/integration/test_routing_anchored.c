/* SPDX-License-Identifier: Apache-2.0 */
/* vexfs-routing as a real process behind a real vexfs-propagation: the shapes Vectorscan 5.4.9
 * gets wrong (a literal and a 2-byte suffix in one rule set, paths of every length from 4 to 80
 * bytes, the reported event /a/b/c/d/e/f/g/h/i.LOG) reach exactly their boundaries, rules given
 * over REST, events in through propagation, real consumers out; the start-up self-test of the
 * pattern library shows on /v1/stats, /ready and /metrics. */
#include <check.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prop_harness.h"
#include "rt_harness.h"
#include "vx_test.h"

#define S_MIN_LEN 4
#define S_MAX_LEN 80
#define S_N (5 + 2 * (S_MAX_LEN - S_MIN_LEN + 1))

static const char *const s_rules =
    "{\"rules\":["
    "{\"id\":\"zzz\",\"priority\":4,\"conditions\":{\"patterns\":"
    "  [{\"kind\":\"literal\",\"pattern\":\"zzz\"}]},\"target_boundaries\":[\"graph\"]},"
    "{\"id\":\"og\",\"priority\":3,\"conditions\":{\"patterns\":"
    "  [{\"kind\":\"suffix\",\"pattern\":\"OG\"}]},\"target_boundaries\":[\"automation\"]},"
    "{\"id\":\"main\",\"priority\":2,\"conditions\":{\"patterns\":"
    "  [{\"kind\":\"literal\",\"pattern\":\"main\"}]},\"target_boundaries\":[\"coordinator\"]},"
    "{\"id\":\"c-files\",\"priority\":1,\"conditions\":{\"patterns\":"
    "  [{\"kind\":\"suffix\",\"pattern\":\".c\"}]},\"target_boundaries\":[\"analytics\"]}"
    "]}";

enum { B_ANALYTICS = 1, B_AUTOMATION = 2, B_COORDINATOR = 4, B_GRAPH = 8, B_VECTOR = 16 };

/* Event i's path and the boundaries (bits in rh_std_boundaries order) it must reach. */
static unsigned
s_event(size_t i, char *path, size_t cap)
{
    static const char *const fixed[] = {"/a/b/c/d/e/f/g/h/i.LOG", "/x.LOG",
                                        "/src/lib/module/helper.c", "/src/main.c",
                                        "/src/lib/module/helper.h"};
    static const unsigned want[] = {B_AUTOMATION, B_AUTOMATION, B_ANALYTICS,
                                    B_COORDINATOR | B_ANALYTICS, B_VECTOR};
    if (i < 5) {
        snprintf(path, cap, "%s", fixed[i]);
        return want[i];
    }
    size_t k = i - 5;
    size_t len = S_MIN_LEN + k / 2;
    const char *tail = k % 2 ? ".c" : "OG";
    for (size_t j = 0; j < len - 2; j++) {
        path[j] = j % 3 == 0 ? '/' : (char)('a' + j % 5);
    }
    memcpy(path + len - 2, tail, 3);
    return k % 2 ? B_ANALYTICS : B_AUTOMATION;
}

START_TEST(t_vectorscan_shapes_route_exactly)
{
    struct ph_daemon prop;
    ph_start(&prop, NULL, NULL);
    struct rh_daemon rt;
    rh_start(&rt, prop.output, "  default_boundary: vector\n");
    rh_expect(&rt, "PUT", "/v1/rules", s_rules, 200);
    struct rh_collector col[RH_N_STD];
    for (int b = 0; b < RH_N_STD; b++) {
        rh_collect_start(&col[b], rt.out[b], S_N);
    }
    static struct rh_event ev[S_N];
    static char paths[S_N][S_MAX_LEN + 1];
    unsigned want[S_N];
    size_t per_b[RH_N_STD] = {0};
    for (size_t i = 0; i < S_N; i++) {
        want[i] = s_event(i, paths[i], sizeof paths[i]);
        ev[i] = (struct rh_event){"filesystem_write", paths[i], (long)i};
        for (int b = 0; b < RH_N_STD; b++) {
            per_b[b] += (want[i] >> b) & 1;
        }
    }
    /* The reported event, explained first: the suffix rule, not the default boundary. */
    json_t *d = NULL;
    ck_assert_int_eq(rh_call(&rt, "POST", "/v1/route/test",
                             "{\"type\":\"filesystem_write\",\"path\":\"/a/b/c/d/e/f/g/h/i.LOG\"}",
                             &d),
                     200);
    ck_assert(json_is_false(json_object_get(d, "unrouted")));
    ck_assert_int_eq(json_array_size(json_object_get(d, "targets")), 1);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(d, "targets"), 0)),
                     "automation");
    json_decref(d);

    zsock_t *push = ph_push(&prop);
    uint64_t bseq = 0;
    rh_send(push, ev, S_N, &bseq);
    rh_wait_decided(&rt, S_N, 30000);
    ck_assert_double_eq(rh_metric(&rt, "vexfs_events_default_routed_total"), 1);
    for (int b = 0; b < RH_N_STD; b++) {
        ck_assert_uint_eq(rh_collect_wait(&col[b], per_b[b], 10000), per_b[b]);
    }
    rh_stop(&rt);
    for (int b = 0; b < RH_N_STD; b++) {
        for (size_t i = 0; i < S_N; i++) {
            unsigned got = atomic_load(&col[b].counts[i]);
            ck_assert_msg(got == ((want[i] >> b) & 1),
                          "%s received \"%s\" (%zu bytes) %u times, expected %u",
                          rh_std_boundaries[b], paths[i], strlen(paths[i]), got,
                          (want[i] >> b) & 1);
        }
        ck_assert_uint_eq(atomic_load(&col[b].total), per_b[b]);
        rh_collect_stop(&col[b]);
    }
    zsock_destroy(&push);
    ph_stop(&prop);
}
END_TEST

static bool
s_log_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[2048];
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f)) {
        found = strstr(line, needle) != NULL;
    }
    if (f) {
        fclose(f);
    }
    return found;
}

START_TEST(t_library_selftest_is_reported)
{
    struct ph_daemon prop;
    ph_start(&prop, NULL, NULL);
    struct rh_daemon rt;
    rh_start(&rt, prop.output, NULL);
    json_t *stats = NULL, *ready = NULL;
    ck_assert_int_eq(rh_call(&rt, "GET", "/v1/stats", NULL, &stats), 200);
    ck_assert_int_eq(rh_call(&rt, "GET", "/ready", NULL, &ready), 200);
    json_t *lib = json_object_get(stats, "pattern_library");
    const char *verdict = json_string_value(json_object_get(lib, "selftest"));
    ck_assert_ptr_nonnull(verdict);
    ck_assert_msg(strcmp(verdict, "ok") == 0 || strcmp(verdict, "affected") == 0,
                  "selftest: %s", verdict);
    ck_assert_int_gt(strlen(json_string_value(json_object_get(lib, "version"))), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(lib, "checked")), 395);
    bool affected = strcmp(verdict, "affected") == 0;
    ck_assert(affected == (json_integer_value(json_object_get(lib, "missed")) > 0));
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(ready, "detail"),
                                                       "pattern_library")),
                     verdict);
    ck_assert_double_eq(rh_metric(&rt, "vexfs_routing_pattern_library_affected"),
                        affected ? 1 : 0);
    /* The log names the library version, as a warning when it is affected. */
    char want[200];
    snprintf(want, sizeof want, "RT-HS-SELFTEST pattern library %s %s",
             json_string_value(json_object_get(lib, "version")), affected ? "misses" : "passed");
    ck_assert_msg(s_log_has(rt.log, want), "no \"%s\" in %s", want, rt.log);
    json_decref(stats);
    json_decref(ready);
    rh_stop(&rt);
    ph_stop(&prop);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("routing_anchored");
    TCase *tc = tcase_create("anchored");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_vectorscan_shapes_route_exactly);
    tcase_add_test(tc, t_library_selftest_is_reported);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
