/* SPDX-License-Identifier: Apache-2.0 */
/* Rule and filter set validation: every rejection names the entry, its id, the field and the
 * reason; nothing is built and an engine already in use is untouched. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "rt_test.h"

/* Expects the rule set to be rejected with exactly this message and code. */
static void
s_rules_fail(const char *rules, int code, const char *msg)
{
    char err[512];
    int rc = rt_engine_fail(rules, NULL, NULL, err, sizeof err);
    ck_assert_msg(rc == code, "rc %d for %s (%s)", rc, rules, err);
    ck_assert_str_eq(err, msg);
}

static void
s_filters_fail(const char *filters, const char *msg)
{
    char err[512];
    int rc = rt_engine_fail(NULL, filters, NULL, err, sizeof err);
    ck_assert_int_eq(rc, -EINVAL);
    ck_assert_str_eq(err, msg);
}

START_TEST(t_invalid_regex)
{
    s_rules_fail("[{\"id\":\"ok\"},{\"id\":\"a\"},{\"id\":\"b\"},{\"id\":\"logs\",\"conditions\":"
                 "{\"content_patterns\":[{\"kind\":\"regex\",\"pattern\":\"(\"}]}}]",
                 -EINVAL,
                 "rules[3] (id \"logs\"): conditions.content_patterns[0]: regex \"(\": Missing "
                 "close parenthesis for group started at index 0.");
    s_rules_fail("[{\"id\":\"br\",\"conditions\":{\"patterns\":[{\"kind\":\"literal\","
                 "\"pattern\":\"x\"},{\"kind\":\"regex\",\"pattern\":\"(a)\\\\1\"}]}}]",
                 -EINVAL,
                 "rules[0] (id \"br\"): conditions.patterns[1]: regex \"(a)\\1\": "
                 "Back-references are unsupported.");
    s_rules_fail("[{\"id\":\"la\",\"conditions\":{\"patterns\":[{\"kind\":\"regex\","
                 "\"pattern\":\"(?<=a)b\"}]}}]",
                 -EINVAL,
                 "rules[0] (id \"la\"): conditions.patterns[0]: regex \"(?<=a)b\": Zero-width "
                 "assertions are not supported.");
    /* A disabled rule is validated too, so enabling it later cannot fail. */
    s_rules_fail("[{\"id\":\"off\",\"enabled\":false,\"conditions\":{\"patterns\":[{\"kind\":"
                 "\"regex\",\"pattern\":\"a[\"}]}}]",
                 -EINVAL,
                 "rules[0] (id \"off\"): conditions.patterns[0]: regex \"a[\": Unterminated "
                 "character class starting at index 1.");
    /* Errors are reported by input position, not evaluation order. */
    s_rules_fail("[{\"id\":\"low\",\"priority\":1},{\"id\":\"hi\",\"priority\":9,\"conditions\":"
                 "{\"patterns\":[{\"kind\":\"regex\",\"pattern\":\"x{2,1}\",\"field\":"
                 "\"content.body\"}]}}]",
                 -EINVAL,
                 "rules[1] (id \"hi\"): conditions.patterns[0]: regex \"x{2,1}\": Invalid "
                 "repeat at index 1.");
}
END_TEST

START_TEST(t_bad_patterns)
{
    s_rules_fail("[{\"id\":\"g\",\"conditions\":{\"patterns\":[{\"kind\":\"glob\",\"pattern\":"
                 "\"/a/[bc\"}]}}]",
                 -EINVAL, "rules[0] (id \"g\"): conditions.patterns[0]: glob \"/a/[bc\": "
                          "unterminated [");
    s_rules_fail("[{\"id\":\"g\",\"conditions\":{\"patterns\":[{\"kind\":\"glob\",\"pattern\":"
                 "\"[z-a]\"}]}}]",
                 -EINVAL, "rules[0] (id \"g\"): conditions.patterns[0]: glob \"[z-a]\": range "
                          "out of order in [...]");
    s_rules_fail("[{\"id\":\"k\",\"conditions\":{\"patterns\":[{\"kind\":\"fuzzy\",\"pattern\":"
                 "\"x\"}]}}]",
                 -EINVAL, "rules[0] (id \"k\"): conditions.patterns[0].kind: expected literal, "
                          "prefix, suffix, exact, glob or regex");
    s_rules_fail("[{\"id\":\"e\",\"conditions\":{\"patterns\":[{\"pattern\":\"\"}]}}]", -EINVAL,
                 "rules[0] (id \"e\"): conditions.patterns[0].pattern: must not be empty");
    s_rules_fail("[{\"id\":\"e\",\"conditions\":{\"patterns\":[{\"kind\":\"regex\"}]}}]", -EINVAL,
                 "rules[0] (id \"e\"): conditions.patterns[0].pattern: missing");
    s_rules_fail("[{\"id\":\"e\",\"conditions\":{\"patterns\":[{\"pattern\":\"a\\u0000b\"}]}}]",
                 -EINVAL, "rules[0] (id \"e\"): conditions.patterns[0].pattern: contains a NUL "
                          "byte");
    char big[RT_MAX_PATTERN_LEN + 200];
    int n = snprintf(big, sizeof big, "[{\"id\":\"big\",\"conditions\":{\"patterns\":[{"
                                      "\"pattern\":\"");
    memset(big + n, 'a', RT_MAX_PATTERN_LEN + 1);
    snprintf(big + n + RT_MAX_PATTERN_LEN + 1, sizeof big - (size_t)n - RT_MAX_PATTERN_LEN - 1,
             "\"}]}}]");
    s_rules_fail(big, -EINVAL,
                 "rules[0] (id \"big\"): conditions.patterns[0].pattern: longer than 4096 bytes");
}
END_TEST

START_TEST(t_unknown_field)
{
    s_rules_fail("[{\"id\":\"f\",\"conditions\":{\"patterns\":[{\"pattern\":\"x\",\"field\":"
                 "\"contents.body\"}]}}]",
                 -EINVAL, "rules[0] (id \"f\"): conditions.patterns[0].field: \"contents.body\" "
                          "is not path, content.<name> or metadata.<name>");
    s_rules_fail("[{\"id\":\"f\",\"conditions\":{\"patterns\":[{\"pattern\":\"x\",\"field\":"
                 "\"content.\"}]}}]",
                 -EINVAL, "rules[0] (id \"f\"): conditions.patterns[0].field: \"content.\" is "
                          "not path, content.<name> or metadata.<name>");
}
END_TEST

START_TEST(t_unknown_keys)
{
    s_rules_fail("[{\"id\":\"u\",\"priorty\":3}]", -EINVAL,
                 "rules[0] (id \"u\"): unknown key \"priorty\"");
    s_rules_fail("[{\"id\":\"u\",\"conditions\":{\"types\":[]}}]", -EINVAL,
                 "rules[0] (id \"u\"): conditions: unknown key \"types\"");
    s_rules_fail("[{\"id\":\"u\",\"actions\":{\"boost\":1}}]", -EINVAL,
                 "rules[0] (id \"u\"): actions: unknown key \"boost\"");
    s_rules_fail("[{\"id\":\"u\",\"conditions\":{\"patterns\":[{\"pattern\":\"x\",\"flags\":1}]}}]",
                 -EINVAL, "rules[0] (id \"u\"): conditions.patterns[0]: unknown key \"flags\"");
    /* max_priority belongs to filters only. */
    s_rules_fail("[{\"id\":\"u\",\"conditions\":{\"max_priority\":3}}]", -EINVAL,
                 "rules[0] (id \"u\"): conditions: unknown key \"max_priority\"");
}
END_TEST

START_TEST(t_unknown_names)
{
    s_rules_fail("[{\"id\":\"b\",\"target_boundaries\":[\"analytics\",\"kafka\"]}]", -EINVAL,
                 "rules[0] (id \"b\"): target_boundaries[1]: unknown boundary \"kafka\"");
    s_rules_fail("[{\"id\":\"b\",\"actions\":{\"route_to_boundaries\":[\"nowhere\"]}}]", -EINVAL,
                 "rules[0] (id \"b\"): actions.route_to_boundaries[0]: unknown boundary "
                 "\"nowhere\"");
    s_rules_fail("[{\"id\":\"t\",\"conditions\":{\"event_types\":[\"filesystem_write\","
                 "\"file_write\"]}}]",
                 -EINVAL, "rules[0] (id \"t\"): conditions.event_types[1]: unknown event type "
                          "\"file_write\"");
    struct rt_engine_opts o = {.default_boundary = "kafka"};
    char err[256];
    ck_assert_int_eq(rt_engine_fail("[]", NULL, &o, err, sizeof err), -EINVAL);
    ck_assert_str_eq(err, "default_boundary: unknown boundary \"kafka\"");
    static const char *const dup[] = {"a", "b", "a"};
    struct rt_engine_opts o2 = {.boundaries = dup, .n_boundaries = 3};
    ck_assert_int_eq(rt_engine_fail("[]", NULL, &o2, err, sizeof err), -EINVAL);
    ck_assert_str_eq(err, "boundaries[2]: duplicate \"a\"");
    const char *many[RT_MAX_BOUNDARIES + 1];
    char names[RT_MAX_BOUNDARIES + 1][8];
    for (int i = 0; i <= RT_MAX_BOUNDARIES; i++) {
        snprintf(names[i], sizeof names[i], "b%d", i);
        many[i] = names[i];
    }
    struct rt_engine_opts o3 = {.boundaries = many, .n_boundaries = RT_MAX_BOUNDARIES + 1};
    ck_assert_int_eq(rt_engine_fail("[]", NULL, &o3, err, sizeof err), -E2BIG);
    ck_assert_str_eq(err, "boundaries: 65 exceed the limit of 64");
}
END_TEST

START_TEST(t_duplicate_id)
{
    s_rules_fail("[{\"id\":\"a\"},{\"id\":\"b\"},{\"id\":\"c\"},{\"id\":\"b\",\"priority\":9},"
                 "{\"id\":\"a\"}]",
                 -EINVAL, "rules[3] (id \"b\"): id: duplicate of rules[1]");
    s_filters_fail("[{\"id\":\"f\",\"kind\":\"priority\",\"conditions\":{\"min_priority\":1},"
                   "\"action\":\"block\"},{\"id\":\"f\",\"kind\":\"priority\",\"conditions\":"
                   "{\"min_priority\":2},\"action\":\"block\"}]",
                   "filters[1] (id \"f\"): id: duplicate of filters[0]");
    /* Rules and filters are separate namespaces. */
    rt_engine_t *e = rt_engine_from(
        "[{\"id\":\"x\"}]", "[{\"id\":\"x\",\"kind\":\"sample\",\"sample_ratio\":1}]", NULL);
    rt_engine_destroy(&e);
}
END_TEST

START_TEST(t_bad_ids_and_types)
{
    s_rules_fail("[{\"priority\":1}]", -EINVAL, "rules[0]: id: missing");
    s_rules_fail("[{\"id\":\"has space\"}]", -EINVAL,
                 "rules[0]: id: \"has space\" is not 1..128 characters of [A-Za-z0-9_.:-]");
    s_rules_fail("[{\"id\":7}]", -EINVAL, "rules[0]: id: expected a string");
    s_rules_fail("[{\"id\":\"p\",\"priority\":\"high\"}]", -EINVAL,
                 "rules[0] (id \"p\"): priority: expected an integer -1000000..1000000");
    s_rules_fail("[{\"id\":\"p\",\"enabled\":1}]", -EINVAL,
                 "rules[0] (id \"p\"): enabled: expected true or false");
    s_rules_fail("[{\"id\":\"p\",\"conditions\":{\"min_priority\":256}}]", -EINVAL,
                 "rules[0] (id \"p\"): conditions.min_priority: expected an integer 0..255");
    s_rules_fail("[{\"id\":\"p\",\"actions\":{\"priority_boost\":-1}}]", -EINVAL,
                 "rules[0] (id \"p\"): actions.priority_boost: expected an integer 0..255");
    s_rules_fail("[{\"id\":\"p\",\"actions\":{\"add_tags\":{\"k\":5}}}]", -EINVAL,
                 "rules[0] (id \"p\"): actions.add_tags.k: expected a string");
    s_rules_fail("[{\"id\":\"p\",\"conditions\":{\"pattern_match\":\"most\"}}]", -EINVAL,
                 "rules[0] (id \"p\"): conditions.pattern_match: expected \"any\" or \"all\"");
    s_rules_fail("[{\"id\":\"p\",\"conditions\":{\"patterns\":[],\"content_patterns\":[]}}]",
                 -EINVAL, "rules[0] (id \"p\"): conditions: give patterns or content_patterns, "
                          "not both");
    s_rules_fail("[\"rule\"]", -EINVAL, "rules[0]: expected an object");
    s_rules_fail("{\"id\":\"x\"}", -EINVAL, "rules: expected an array");
}
END_TEST

START_TEST(t_oversized)
{
    struct rt_engine_opts o = {.max_rules = 2, .max_filters = 1};
    char err[256];
    ck_assert_int_eq(rt_engine_fail("[{\"id\":\"a\"},{\"id\":\"b\"},{\"id\":\"c\"}]", NULL, &o,
                                    err, sizeof err),
                     -E2BIG);
    ck_assert_str_eq(err, "rules: 3 rules exceed the limit of 2");
    ck_assert_int_eq(rt_engine_fail(NULL,
                                    "[{\"id\":\"a\",\"kind\":\"sample\",\"sample_ratio\":1},"
                                    "{\"id\":\"b\",\"kind\":\"sample\",\"sample_ratio\":1}]",
                                    &o, err, sizeof err),
                     -E2BIG);
    ck_assert_str_eq(err, "filters: 2 filters exceed the limit of 1");
    /* Too many patterns or tags in one rule. */
    json_t *pats = json_array();
    for (int i = 0; i <= RT_MAX_PATTERNS_PER_RULE; i++) {
        json_array_append_new(pats, json_pack("{s:s}", "pattern", "x"));
    }
    json_t *rules = json_pack("[{s:s, s:{s:o}}]", "id", "p", "conditions", "patterns", pats);
    rt_engine_t *e = NULL;
    ck_assert_int_eq(rt_engine_build(rules, NULL, NULL, &e, err, sizeof err), -EINVAL);
    ck_assert_ptr_null(e);
    ck_assert_str_eq(err, "rules[0] (id \"p\"): conditions.patterns: more than 64 patterns");
    json_decref(rules);
    json_t *tags = json_object();
    for (int i = 0; i <= RT_MAX_TAGS_PER_RULE; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        json_object_set_new(tags, k, json_string("v"));
    }
    rules = json_pack("[{s:s, s:{s:o}}]", "id", "t", "actions", "add_tags", tags);
    ck_assert_int_eq(rt_engine_build(rules, NULL, NULL, &e, err, sizeof err), -EINVAL);
    ck_assert_str_eq(err, "rules[0] (id \"t\"): actions.add_tags: more than 32 tags");
    json_decref(rules);
}
END_TEST

/* A failed build leaves the caller's pointer, and an engine in use, untouched. */
START_TEST(t_nothing_changed)
{
    rt_engine_t *live = rt_engine_from("[{\"id\":\"live\",\"target_boundaries\":[\"graph\"]}]",
                                       NULL, NULL);
    rt_engine_t *keep = live;
    json_t *bad = rt_json("[{\"id\":\"live\"},{\"id\":\"x\",\"conditions\":{\"patterns\":["
                          "{\"kind\":\"regex\",\"pattern\":\"(\"}]}}]");
    json_t *before = json_deep_copy(bad);
    char err[256];
    ck_assert_int_lt(rt_engine_build(bad, NULL, NULL, &live, err, sizeof err), 0);
    ck_assert_ptr_eq(live, keep);
    ck_assert(json_equal(bad, before)); /* input not modified */
    rt_scratch_t *s = rt_scratch_new(live);
    struct vt_tev t;
    struct rt_decision d;
    vt_tev_init(&t, "system", "");
    rt_engine_decide(live, s, &t.ev, 0, false, &d);
    ck_assert_uint_eq(d.targets, rt_bit(live, "graph"));
    json_decref(bad);
    json_decref(before);
    rt_scratch_destroy(&s);
    rt_engine_destroy(&live);
    /* A NULL or short error buffer is fine. */
    json_t *j = rt_json("[{\"id\":\"\"}]");
    ck_assert_int_eq(rt_engine_build(j, NULL, NULL, &live, NULL, 0), -EINVAL);
    ck_assert_int_eq(rt_engine_build(j, NULL, NULL, &live, err, 5), -EINVAL);
    ck_assert_str_eq(err, "rule");
    json_decref(j);
}
END_TEST

START_TEST(t_filter_errors)
{
    s_filters_fail("[{\"id\":\"k\",\"kind\":\"magic\",\"action\":\"block\"}]",
                   "filters[0] (id \"k\"): kind: expected content, path, temporal, priority, "
                   "rate_limit or sample");
    s_filters_fail("[{\"id\":\"k\",\"kind\":\"priority\",\"conditions\":{\"min_priority\":1},"
                   "\"action\":\"drop\"}]",
                   "filters[0] (id \"k\"): action: expected block, allow, tag or sample");
    s_filters_fail("[{\"id\":\"c\",\"kind\":\"content\",\"action\":\"block\"}]",
                   "filters[0] (id \"c\"): conditions.patterns: a content filter needs at least "
                   "one pattern");
    s_filters_fail("[{\"id\":\"p\",\"kind\":\"path\",\"action\":\"block\",\"conditions\":"
                   "{\"patterns\":[{\"pattern\":\"x\",\"field\":\"content.a\"}]}}]",
                   "filters[0] (id \"p\"): conditions.patterns[0].field: a path filter matches "
                   "the path only");
    s_filters_fail("[{\"id\":\"c\",\"kind\":\"content\",\"action\":\"block\",\"conditions\":"
                   "{\"patterns\":[{\"kind\":\"regex\",\"pattern\":\"(?=x)\"}]}}]",
                   "filters[0] (id \"c\"): conditions.patterns[0]: regex \"(?=x)\": Zero-width "
                   "assertions are not supported.");
    s_filters_fail("[{\"id\":\"t\",\"kind\":\"temporal\",\"action\":\"block\"}]",
                   "filters[0] (id \"t\"): conditions.time_windows: a temporal filter needs at "
                   "least one window");
    s_filters_fail("[{\"id\":\"t\",\"kind\":\"temporal\",\"action\":\"block\",\"conditions\":"
                   "{\"time_windows\":[{\"start\":\"9:00\",\"end\":\"17:00\"}]}}]",
                   "filters[0] (id \"t\"): conditions.time_windows[0].start: expected \"HH:MM\" "
                   "or \"HH:MM:SS\" (00:00..23:59:59)");
    s_filters_fail("[{\"id\":\"t\",\"kind\":\"temporal\",\"action\":\"block\",\"conditions\":"
                   "{\"time_windows\":[{\"start\":\"09:00\",\"end\":\"24:01\"}]}}]",
                   "filters[0] (id \"t\"): conditions.time_windows[0].end: expected \"HH:MM\" or "
                   "\"HH:MM:SS\" (00:00..24:00)");
    s_filters_fail("[{\"id\":\"t\",\"kind\":\"temporal\",\"action\":\"block\",\"conditions\":"
                   "{\"time_windows\":[{\"start\":\"09:00\",\"end\":\"09:00\"}]}}]",
                   "filters[0] (id \"t\"): conditions.time_windows[0]: start equals end; use "
                   "00:00..24:00 for a whole day");
    s_filters_fail("[{\"id\":\"t\",\"kind\":\"temporal\",\"action\":\"block\",\"conditions\":"
                   "{\"time_windows\":[{\"start\":\"09:00\",\"end\":\"10:00\",\"days\":[\"mon\","
                   "\"funday\"]}]}}]",
                   "filters[0] (id \"t\"): conditions.time_windows[0].days[1]: expected one of "
                   "sun, mon, tue, wed, thu, fri, sat");
    s_filters_fail("[{\"id\":\"p\",\"kind\":\"priority\",\"action\":\"block\"}]",
                   "filters[0] (id \"p\"): conditions: a priority filter needs min_priority or "
                   "max_priority");
    s_filters_fail("[{\"id\":\"p\",\"kind\":\"priority\",\"action\":\"block\",\"conditions\":"
                   "{\"min_priority\":5,\"max_priority\":4}}]",
                   "filters[0] (id \"p\"): conditions.max_priority: 4 is below min_priority 5");
    s_filters_fail("[{\"id\":\"r\",\"kind\":\"rate_limit\",\"action\":\"block\",\"burst\":1}]",
                   "filters[0] (id \"r\"): rate_per_sec: expected a number > 0 and <= 1e9");
    s_filters_fail("[{\"id\":\"r\",\"kind\":\"rate_limit\",\"action\":\"block\","
                   "\"rate_per_sec\":10,\"burst\":0}]",
                   "filters[0] (id \"r\"): burst: expected an integer 1..1000000000");
    s_filters_fail("[{\"id\":\"r\",\"kind\":\"rate_limit\",\"action\":\"allow\","
                   "\"rate_per_sec\":10,\"burst\":1}]",
                   "filters[0] (id \"r\"): action: a rate_limit filter acts on the excess: "
                   "block, tag or sample");
    s_filters_fail("[{\"id\":\"r\",\"kind\":\"priority\",\"action\":\"block\",\"conditions\":"
                   "{\"min_priority\":1},\"burst\":3}]",
                   "filters[0] (id \"r\"): burst: only for kind rate_limit");
    s_filters_fail("[{\"id\":\"s\",\"kind\":\"sample\",\"sample_ratio\":1.5}]",
                   "filters[0] (id \"s\"): sample_ratio: expected a number 0..1");
    s_filters_fail("[{\"id\":\"s\",\"kind\":\"sample\",\"action\":\"block\"}]",
                   "filters[0] (id \"s\"): action: a sample filter needs action \"sample\"");
    s_filters_fail("[{\"id\":\"s\",\"kind\":\"priority\",\"action\":\"tag\",\"conditions\":"
                   "{\"min_priority\":1}}]",
                   "filters[0] (id \"s\"): add_tags: action tag needs at least one tag");
    s_filters_fail("[{\"id\":\"s\",\"kind\":\"priority\",\"action\":\"block\",\"conditions\":"
                   "{\"min_priority\":1},\"add_tags\":{\"a\":\"b\"}}]",
                   "filters[0] (id \"s\"): add_tags: a blocked event is not tagged");
    s_filters_fail("[{\"id\":\"s\",\"kind\":\"priority\",\"action\":\"block\",\"conditions\":"
                   "{\"min_priority\":1,\"clock\":\"utc\"}}]",
                   "filters[0] (id \"s\"): conditions.clock: expected \"wall\" or \"event\"");
    s_filters_fail("[{\"id\":\"s\",\"kind\":\"priority\",\"action\":\"block\",\"conditions\":"
                   "{\"min_priority\":1},\"extra\":1}]",
                   "filters[0] (id \"s\"): unknown key \"extra\"");
    char err[256];
    ck_assert_int_eq(rt_engine_fail(NULL, "{}", NULL, err, sizeof err), -EINVAL);
    ck_assert_str_eq(err, "filters: expected an array");
}
END_TEST

START_TEST(t_filters_roundtrip)
{
    const char *filters =
        "[{\"id\":\"secrets\",\"order\":1,\"kind\":\"content\",\"conditions\":{\"patterns\":"
        "[{\"kind\":\"regex\",\"pattern\":\"(password|secret)\",\"case_sensitive\":false,"
        "\"field\":\"content.body\"}]},\"action\":\"block\"},"
        " {\"id\":\"hours\",\"order\":0,\"kind\":\"temporal\",\"conditions\":{\"time_windows\":"
        "[{\"start\":\"09:00\",\"end\":\"17:30:15\",\"days\":[\"mon\",\"fri\"],"
        "\"utc_offset_minutes\":-300}],\"clock\":\"event\"},\"action\":\"tag\","
        "\"add_tags\":{\"hours\":\"office\"}},"
        " {\"id\":\"rl\",\"kind\":\"rate_limit\",\"rate_per_sec\":2.5,\"burst\":4,"
        "\"action\":\"sample\",\"sample_ratio\":0.25},"
        " {\"id\":\"s\",\"kind\":\"sample\",\"enabled\":false,\"sample_ratio\":0.5}]";
    rt_engine_t *e = rt_engine_from(NULL, filters, NULL);
    ck_assert_uint_eq(rt_engine_filter_count(e), 4);
    ck_assert_str_eq(rt_engine_filter_id(e, 0), "hours");
    ck_assert_str_eq(rt_engine_filter_id(e, 1), "rl");
    ck_assert_str_eq(rt_engine_filter_id(e, 2), "s");
    ck_assert_str_eq(rt_engine_filter_id(e, 3), "secrets");
    ck_assert_int_eq(rt_engine_filter_index(e, "secrets"), 3);
    struct rt_filter_info fi;
    ck_assert_int_eq(rt_engine_filter_info(e, 1, &fi), 0);
    ck_assert_int_eq(fi.kind, RT_FILTER_RATE_LIMIT);
    ck_assert_int_eq(fi.action, RT_ACTION_SAMPLE);
    ck_assert_int_eq(rt_engine_filter_info(e, 4, &fi), -ERANGE);
    json_t *j1 = rt_engine_filters_json(e);
    json_t *w = json_array_get(json_object_get(json_object_get(json_array_get(j1, 0),
                                                               "conditions"),
                                               "time_windows"),
                               0);
    ck_assert_str_eq(json_string_value(json_object_get(w, "end")), "17:30:15");
    ck_assert_str_eq(json_string_value(json_object_get(w, "start")), "09:00");
    rt_engine_t *e2 = NULL;
    char err[256];
    ck_assert_msg(rt_engine_build(NULL, j1, NULL, &e2, err, sizeof err) == 0, "%s", err);
    json_t *j2 = rt_engine_filters_json(e2);
    ck_assert(json_equal(j1, j2));
    json_decref(j1);
    json_decref(j2);
    rt_engine_destroy(&e);
    rt_engine_destroy(&e2);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("rt_rules");
    struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"invalid_regex", t_invalid_regex},   {"bad_patterns", t_bad_patterns},
        {"unknown_field", t_unknown_field},   {"unknown_keys", t_unknown_keys},
        {"unknown_names", t_unknown_names},   {"duplicate_id", t_duplicate_id},
        {"bad_ids_types", t_bad_ids_and_types}, {"oversized", t_oversized},
        {"nothing_changed", t_nothing_changed}, {"filter_errors", t_filter_errors},
        {"filters_roundtrip", t_filters_roundtrip},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_test(tc, cases[i].test);
        suite_add_tcase(s, tc);
    }
    return rt_run_suite(s);
}
