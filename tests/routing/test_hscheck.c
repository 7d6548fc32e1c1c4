/* SPDX-License-Identifier: Apache-2.0 */
/* rt_hscheck: the start-up self-test of the linked pattern library agrees with what the
 * library does on the reported shape, whichever library is linked. */
#include <check.h>
#include <hs/hs.h>
#include <string.h>

#include "rt_hscheck.h"
#include "rt_test.h"

static int
cb_seen(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags,
        void *arg)
{
    (void)from;
    (void)to;
    (void)flags;
    if (id == 1) {
        *(bool *)arg = true;
    }
    return 0;
}

/* Does the linked library miss OG at the end of this 18-byte input beside zzz? Computed here,
 * independently of the self-test. */
static bool
s_library_misses(void)
{
    const char *ex[2] = {"zzz", "OG\\z"};
    unsigned fl[2] = {HS_FLAG_SINGLEMATCH, HS_FLAG_SINGLEMATCH};
    unsigned ids[2] = {0, 1};
    hs_database_t *db = NULL;
    hs_compile_error_t *ce = NULL;
    ck_assert_int_eq(hs_compile_multi(ex, fl, ids, 2, HS_MODE_BLOCK, NULL, &db, &ce), HS_SUCCESS);
    hs_scratch_t *s = NULL;
    ck_assert_int_eq(hs_alloc_scratch(db, &s), HS_SUCCESS);
    const char *in = "/a/b/c/d/e/f/g/hOG";
    ck_assert_uint_eq(strlen(in), 18);
    bool seen = false;
    ck_assert_int_eq(hs_scan(db, in, 18, 0, s, cb_seen, &seen), HS_SUCCESS);
    hs_free_scratch(s);
    hs_free_database(db);
    return !seen;
}

START_TEST(t_selftest_matches_the_library)
{
    struct rt_hscheck h;
    ck_assert_int_eq(rt_hscheck_run(&h), 0);
    ck_assert(h.ran);
    ck_assert_uint_eq(h.shapes, 5);
    ck_assert_uint_eq(h.checked, 5 * 79);
    ck_assert_uint_le(h.missed, h.checked);
    ck_assert(h.affected == (h.missed > 0));
    ck_assert(strncmp(h.version, hs_version(), strlen(h.version)) == 0);
    bool misses = s_library_misses();
    ck_assert_msg(!misses || h.affected,
                  "the library %s misses OG at 18 bytes but the self-test says it is fine",
                  h.version);
    if (h.affected) {
        ck_assert_msg(strstr(h.example, "-byte input") != NULL, "example: %s", h.example);
    }
    json_t *j = rt_hscheck_json(&h);
    ck_assert_str_eq(json_string_value(json_object_get(j, "selftest")),
                     h.affected ? "affected" : "ok");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "missed")), h.missed);
    ck_assert_str_eq(json_string_value(json_object_get(j, "version")), h.version);
    json_decref(j);
    printf("pattern library %s: %s, %u of %u known matches missed, %.2f ms\n", h.version,
           h.affected ? "affected" : "ok", h.missed, h.checked, h.elapsed_ms);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("rt_hscheck");
    TCase *tc = tcase_create("selftest");
    tcase_add_test(tc, t_selftest_matches_the_library);
    suite_add_tcase(s, tc);
    return rt_run_suite(s);
}
