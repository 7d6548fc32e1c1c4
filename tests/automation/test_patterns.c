/* SPDX-License-Identifier: Apache-2.0 */
/* Pattern validation: every rejection names the pattern, its id, the field and the reason, and
 * nothing is built. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "au_test.h"

/* A valid pattern of kind with the elements and extra members given as JSON fragments. */
static char *
s_pat(const char *kind, const char *elements, const char *extra)
{
    char *s = NULL;
    int n = asprintf(&s,
                     "{\"id\":\"k\",\"kind\":\"%s\",\"window_ms\":5,\"elements\":[%s],"
                     "\"actions\":[{\"kind\":\"alert\",\"message\":\"m\"}]%s}",
                     kind, elements, extra);
    ck_assert_int_gt(n, 0);
    return s;
}

static void
s_fail(const char *text, const char *msg)
{
    char err[512];
    int rc = au_engine_fail(text, err, sizeof err);
    ck_assert_msg(rc == -EINVAL, "rc %d for %s", rc, text);
    ck_assert_str_eq(err, msg);
}

/* A condition on element 0 of a sequence, expected to fail with msg after the prefix. */
static void
s_cond_fail(const char *cond, const char *msg)
{
    char el[512];
    snprintf(el, sizeof el, "{\"event_type\":\"filesystem_write\",\"conditions\":[%s]}", cond);
    char *p = s_pat("sequence", el, "");
    char want[512];
    snprintf(want, sizeof want, "patterns[0] (id \"k\"): elements[0].conditions[0]%s", msg);
    s_fail(p, want);
    free(p);
}

START_TEST(t_bad_regex)
{
    s_cond_fail("{\"field\":\"path\",\"op\":\"regex\",\"value\":\"(\"}",
                ".value: regex \"(\": Unmatched ( or \\(");
    s_cond_fail("{\"field\":\"content.body\",\"op\":\"regex\",\"value\":\"a{2,1}\"}",
                ".value: regex \"a{2,1}\": Invalid content of \\{\\}");
}
END_TEST

START_TEST(t_bad_conditions)
{
    s_cond_fail("{\"field\":\"owner\",\"op\":\"eq\",\"value\":\"x\"}",
                ".field: expected path, tenant, priority, content.<name> or metadata.<name>");
    s_cond_fail("{\"field\":\"content.\",\"op\":\"eq\",\"value\":\"x\"}",
                ".field: expected path, tenant, priority, content.<name> or metadata.<name>");
    s_cond_fail("{\"field\":\"path\",\"op\":\"like\",\"value\":\"x\"}",
                ".op: expected eq, ne, prefix, contains, regex, gt, ge, lt or le");
    s_cond_fail("{\"field\":\"path\",\"value\":\"x\"}", ".op: missing");
    s_cond_fail("{\"field\":\"path\",\"op\":\"gt\",\"value\":\"x\"}",
                ".value: expected a number for op gt");
    s_cond_fail("{\"field\":\"path\",\"op\":\"prefix\",\"value\":3}",
                ".value: expected a string for op prefix");
    s_cond_fail("{\"field\":\"path\",\"op\":\"eq\",\"value\":[1]}",
                ".value: expected a string or number for op eq");
    s_cond_fail("{\"field\":\"path\",\"op\":\"eq\"}", ".value: missing");
    s_cond_fail("{\"field\":\"path\",\"op\":\"eq\",\"value\":\"x\",\"case\":1}",
                ": unknown key \"case\"");
    s_cond_fail("\"path\"", ": expected an object");
}
END_TEST

START_TEST(t_bad_elements)
{
    char *p = s_pat("sequence", "{\"event_type\":\"filesystem_scribble\"}", "");
    s_fail(p, "patterns[0] (id \"k\"): elements[0].event_type: unknown event type "
              "\"filesystem_scribble\"");
    free(p);
    p = s_pat("sequence", "{\"event_type\":\"filesystem_write\",\"within_ms\":3}", "");
    s_fail(p, "patterns[0] (id \"k\"): elements[0].within_ms: only allowed after the first "
              "element of a sequence or on the second element of an absence");
    free(p);
    p = s_pat("sequence", "{\"event_type\":\"filesystem_write\"},{\"event_type\":"
                          "\"filesystem_read\",\"within_ms\":0}", "");
    s_fail(p, "patterns[0] (id \"k\"): elements[1].within_ms: expected an integer 1..86400000");
    free(p);
    p = s_pat("sequence", "{\"event_type\":\"filesystem_write\",\"min_occurrences\":3}", "");
    s_fail(p, "patterns[0] (id \"k\"): elements[0].min_occurrences: only allowed in a threshold "
              "pattern");
    free(p);
    p = s_pat("threshold", "{\"event_type\":\"filesystem_write\",\"min_occurrences\":10001}", "");
    s_fail(p, "patterns[0] (id \"k\"): elements[0].min_occurrences: expected an integer "
              "1..10000");
    free(p);
    p = s_pat("absence", "{\"event_type\":\"filesystem_write\"}", "");
    s_fail(p, "patterns[0] (id \"k\"): elements: an absence pattern has exactly 2 elements");
    free(p);
    p = s_pat("threshold", "{\"event_type\":\"filesystem_write\"},{\"event_type\":"
                           "\"filesystem_read\"}", "");
    s_fail(p, "patterns[0] (id \"k\"): elements: a threshold pattern has exactly 1 element");
    free(p);
    p = s_pat("conjunction", "", "");
    s_fail(p, "patterns[0] (id \"k\"): elements: expected an array of 1..16 elements");
    free(p);
    p = s_pat("sequence", "{\"event_type\":\"filesystem_write\",\"when\":1}", "");
    s_fail(p, "patterns[0] (id \"k\"): elements[0]: unknown key \"when\"");
    free(p);
}
END_TEST

START_TEST(t_bad_pattern_fields)
{
    const char *el = "{\"event_type\":\"filesystem_write\"}";
    char *p = s_pat("sometimes", el, "");
    s_fail(p, "patterns[0] (id \"k\"): kind: expected sequence, conjunction, absence or "
              "threshold");
    free(p);
    p = s_pat("sequence", el, ",\"partition_by\":\"user\"");
    s_fail(p, "patterns[0] (id \"k\"): partition_by: expected path, tenant, priority, "
              "content.<name> or metadata.<name>");
    free(p);
    p = s_pat("sequence", el, ",\"skip\":\"never\"");
    s_fail(p, "patterns[0] (id \"k\"): skip: expected past_last or skip_to_next");
    free(p);
    p = s_pat("sequence", el, ",\"colour\":\"red\"");
    s_fail(p, "patterns[0] (id \"k\"): unknown key \"colour\"");
    free(p);
    p = s_pat("sequence", el, ",\"enabled\":1");
    s_fail(p, "patterns[0] (id \"k\"): enabled: expected true or false");
    free(p);
    s_fail("{\"id\":\"k\",\"kind\":\"sequence\",\"elements\":[{\"event_type\":"
           "\"filesystem_write\"}],\"actions\":[{\"kind\":\"alert\",\"message\":\"m\"}]}",
           "patterns[0] (id \"k\"): window_ms: missing");
    s_fail("{\"id\":\"k\",\"kind\":\"sequence\",\"window_ms\":86400001}",
           "patterns[0] (id \"k\"): window_ms: expected an integer 1..86400000");
    s_fail("{\"id\":\"bad id\"}",
           "patterns[0]: id: expected 1..128 characters of [A-Za-z0-9_.:-]");
    s_fail("{\"kind\":\"sequence\"}", "patterns[0]: id: missing");
    s_fail("[3]", "patterns[0]: expected an object");
}
END_TEST

START_TEST(t_bad_actions)
{
    const char *el = "{\"event_type\":\"filesystem_write\"}";
    char text[512];
    const struct {
        const char *actions;
        const char *msg;
    } cases[] = {
        {"", "actions: missing"},
        {",\"actions\":[]", "actions: expected an array of 1..8 actions"},
        {",\"actions\":[{\"kind\":\"email\",\"message\":\"m\"}]", "actions[0].kind: expected "
                                                               "alert, workflow or emit"},
        {",\"actions\":[{\"kind\":\"workflow\"}]", "actions[0].workflow: expected the id of a "
                                                  "workflow"},
        {",\"actions\":[{\"kind\":\"emit\",\"event\":{\"type\":\"custom\",\"path\":\"{{x\"}}]",
         "actions[0].event.path: \"{{\" without a closing \"}}\""},
        {",\"actions\":[{\"kind\":\"alert\",\"severity\":\"panic\",\"message\":\"m\"}]",
         "actions[0].severity: expected info, warning or critical"},
        {",\"actions\":[{\"kind\":\"alert\",\"message\":\"\"}]",
         "actions[0].message: expected a string of 1..1024 bytes"},
        {",\"actions\":[{\"kind\":\"alert\",\"message\":\"m\",\"to\":\"x\"}]",
         "actions[0]: unknown key \"to\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(text, sizeof text,
                 "{\"id\":\"a1\",\"kind\":\"sequence\",\"window_ms\":5,\"elements\":[%s]%s}", el,
                 cases[i].actions);
        char want[256];
        snprintf(want, sizeof want, "patterns[0] (id \"a1\"): %s", cases[i].msg);
        s_fail(text, want);
    }
}
END_TEST

START_TEST(t_duplicate_and_position)
{
    const char *ok = "{\"id\":\"ok\",\"kind\":\"threshold\",\"window_ms\":10,\"elements\":[{"
                     "\"event_type\":\"filesystem_write\"}],\"actions\":[{\"kind\":\"alert\","
                     "\"message\":\"m\"}]}";
    char text[1024];
    snprintf(text, sizeof text, "[%s,%s]", ok, ok);
    s_fail(text, "patterns[1] (id \"ok\"): id: duplicate of patterns[0]");
    /* The error names the position of the bad pattern in the input. */
    snprintf(text, sizeof text, "[%s,{\"id\":\"x\",\"kind\":\"nope\"}]", ok);
    s_fail(text, "patterns[1] (id \"x\"): kind: expected sequence, conjunction, absence or "
                 "threshold");
}
END_TEST

START_TEST(t_nothing_built)
{
    json_t *j = json_loads("[{\"id\":\"x\"}]", 0, NULL);
    au_engine_t *sentinel = (au_engine_t *)&j;
    au_engine_t *e = sentinel;
    char err[256];
    ck_assert_int_eq(au_engine_new(j, NULL, &e, err, sizeof err), -EINVAL);
    ck_assert_ptr_eq(e, sentinel);
    json_decref(j);
    j = json_object();
    e = sentinel;
    ck_assert_int_eq(au_engine_new(j, NULL, &e, err, sizeof err), -EINVAL);
    ck_assert_str_eq(err, "patterns: expected an array");
    ck_assert_ptr_eq(e, sentinel);
    json_decref(j);
    /* No patterns is a valid, empty engine. */
    e = NULL;
    ck_assert_int_eq(au_engine_new(NULL, NULL, &e, err, sizeof err), 0);
    ck_assert_uint_eq(au_engine_pattern_count(e), 0);
    au_engine_destroy(&e);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("au_patterns");
    struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"bad_regex", t_bad_regex},
        {"bad_conditions", t_bad_conditions},
        {"bad_elements", t_bad_elements},
        {"bad_pattern_fields", t_bad_pattern_fields},
        {"bad_actions", t_bad_actions},
        {"duplicate_and_position", t_duplicate_and_position},
        {"nothing_built", t_nothing_built},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_test(tc, cases[i].test);
        suite_add_tcase(s, tc);
    }
    return au_run_suite(s);
}
