/* SPDX-License-Identifier: Apache-2.0 */
/* vx_yaml: YAML documents to jansson trees, typing of scalars, and precise errors. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "vx_yaml.h"

static json_t *
s_parse(const char *text, char *err, size_t errlen)
{
    return vx_yaml_parse(text, strlen(text), err, errlen);
}

START_TEST(t_mapping_and_types)
{
    char err[256];
    json_t *d = s_parse("a: 1\nb: 100_000\nc: true\nd: ~\ne: \"42\"\nf: 1.5\ng: hello\n"
                        "h: [1, two]\ni:\n  j: false\n",
                        err, sizeof err);
    ck_assert_msg(d != NULL, "parse failed: %s", err);
    ck_assert_int_eq(json_integer_value(json_object_get(d, "a")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(d, "b")), 100000);
    ck_assert(json_is_true(json_object_get(d, "c")));
    ck_assert(json_is_null(json_object_get(d, "d")));
    ck_assert_str_eq(json_string_value(json_object_get(d, "e")), "42");
    ck_assert(json_is_real(json_object_get(d, "f")));
    ck_assert_str_eq(json_string_value(json_object_get(d, "g")), "hello");
    ck_assert_int_eq(json_array_size(json_object_get(d, "h")), 2);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(d, "h"), 1)), "two");
    ck_assert(json_is_false(json_object_get(json_object_get(d, "i"), "j")));
    json_decref(d);
}
END_TEST

START_TEST(t_json_is_yaml)
{
    char err[256];
    json_t *d = s_parse("{\"x\": [1, 2, {\"y\": \"z\"}]}", err, sizeof err);
    ck_assert_msg(d != NULL, "parse failed: %s", err);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(d, "x"), 2),
                                                       "y")),
                     "z");
    json_decref(d);
}
END_TEST

START_TEST(t_empty_document)
{
    char err[256];
    json_t *d = s_parse("", err, sizeof err);
    ck_assert_ptr_nonnull(d);
    ck_assert(json_is_object(d));
    ck_assert_int_eq(json_object_size(d), 0);
    json_decref(d);
}
END_TEST

START_TEST(t_duplicate_key)
{
    char err[256];
    json_t *d = s_parse("a: 1\nb: 2\na: 3\n", err, sizeof err);
    ck_assert_ptr_null(d);
    ck_assert_msg(strstr(err, "line 3") && strstr(err, "duplicate key 'a'"), "got: %s", err);
}
END_TEST

START_TEST(t_syntax_error_has_position)
{
    char err[256];
    json_t *d = s_parse("a: [1, 2\nb: 3\n", err, sizeof err);
    ck_assert_ptr_null(d);
    ck_assert_msg(strstr(err, "line ") && strstr(err, "column "), "got: %s", err);
}
END_TEST

START_TEST(t_alias_rejected)
{
    char err[256];
    json_t *d = s_parse("a: &x 1\nb: *x\n", err, sizeof err);
    ck_assert_ptr_null(d);
    ck_assert_msg(strstr(err, "aliases are not supported"), "got: %s", err);
}
END_TEST

START_TEST(t_depth_limit)
{
    char err[256];
    char buf[1024] = "";
    for (int i = 0; i < 100; i++) {
        strcat(buf, "[");
    }
    json_t *d = s_parse(buf, err, sizeof err);
    ck_assert_ptr_null(d);
    ck_assert_msg(strstr(err, "nesting deeper"), "got: %s", err);
}
END_TEST

START_TEST(t_two_documents_rejected)
{
    char err[256];
    json_t *d = s_parse("a: 1\n---\nb: 2\n", err, sizeof err);
    ck_assert_ptr_null(d);
    ck_assert_msg(strstr(err, "one YAML document"), "got: %s", err);
}
END_TEST

START_TEST(t_load_missing_file)
{
    char err[256];
    json_t *d = vx_yaml_load_file("/nonexistent/x.yaml", err, sizeof err);
    ck_assert_ptr_null(d);
    ck_assert_msg(strstr(err, "/nonexistent/x.yaml") && strstr(err, "No such file"), "got: %s",
                  err);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("yaml");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, t_mapping_and_types);
    tcase_add_test(tc, t_json_is_yaml);
    tcase_add_test(tc, t_empty_document);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_test(tc, t_duplicate_key);
    tcase_add_test(tc, t_syntax_error_has_position);
    tcase_add_test(tc, t_alias_rejected);
    tcase_add_test(tc, t_depth_limit);
    tcase_add_test(tc, t_two_documents_rejected);
    tcase_add_test(tc, t_load_missing_file);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
