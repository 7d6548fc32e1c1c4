/* SPDX-License-Identifier: Apache-2.0 */
/* vx_etag: a set's tag depends on its content and not on its order, moves with any change,
 * and If-Match holds for an absent header, "*", the tag itself or a list holding it (weak
 * prefix ignored), and for nothing else. */
#include <check.h>
#include <jansson.h>
#include <string.h>

#include "vx_etag.h"

static void
s_tag(const char *json, char out[VX_ETAG_LEN])
{
    json_t *set = json_loads(json, 0, NULL);
    ck_assert_msg(set != NULL, "bad JSON in the test: %s", json);
    vx_etag_of(set, "id", out);
    json_decref(set);
}

START_TEST(t_content_not_order)
{
    char a[VX_ETAG_LEN], b[VX_ETAG_LEN], c[VX_ETAG_LEN], e[VX_ETAG_LEN], f[VX_ETAG_LEN];
    s_tag("[{\"id\":\"x\",\"n\":1},{\"id\":\"y\",\"n\":2}]", a);
    s_tag("[{\"n\":2,\"id\":\"y\"},{\"id\":\"x\",\"n\":1}]", b);
    s_tag("[{\"id\":\"x\",\"n\":1},{\"id\":\"y\",\"n\":3}]", c);
    s_tag("[]", e);
    s_tag("[{\"id\":\"x\",\"n\":1}]", f);
    ck_assert_msg(strcmp(a, b) == 0, "the same set in another order: %s and %s", a, b);
    ck_assert_msg(strcmp(a, c) != 0, "a changed member kept the tag %s", a);
    ck_assert_msg(strcmp(a, e) != 0 && strcmp(a, f) != 0 && strcmp(e, f) != 0,
                  "a removed object kept the tag: %s %s %s", a, e, f);
    ck_assert_int_eq(a[0], '"');
    ck_assert_int_eq(a[strlen(a) - 1], '"');
}
END_TEST

START_TEST(t_if_match)
{
    char t[VX_ETAG_LEN];
    vx_etag_version(7, t);
    ck_assert_str_eq(t, "\"v7\"");
    ck_assert(vx_etag_matches(NULL, t));
    ck_assert(vx_etag_matches("*", t));
    ck_assert(vx_etag_matches("\"v7\"", t));
    ck_assert(vx_etag_matches(" \"v1\" ,W/\"v7\" ", t));
    ck_assert(!vx_etag_matches("\"v70\"", t));
    ck_assert(!vx_etag_matches("v7", t));
    ck_assert(!vx_etag_matches("\"v6\", \"v8\"", t));
    ck_assert(!vx_etag_matches("", t));
    ck_assert(!vx_etag_matches("**", t));
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("etag");
    TCase *tc = tcase_create("etag");
    tcase_add_test(tc, t_content_not_order);
    tcase_add_test(tc, t_if_match);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
