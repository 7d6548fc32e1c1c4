/* SPDX-License-Identifier: Apache-2.0 */
/* rt_engine: every pattern kind, case folding, fields, priorities, stop, type/tenant/priority
 * conditions, tags, boost, default boundary, unrouted events, counters and reloads. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "rt_test.h"

/* Does a single rule with one pattern of kind on field match value? */
static bool
s_match_field(const char *kind, const char *pattern, bool cs, const char *field,
              const char *value)
{
    json_t *rules = json_pack("[{s:s, s:{s:[{s:s, s:s, s:b, s:s}]}, s:[s]}]", "id", "r",
                              "conditions", "patterns", "kind", kind, "pattern", pattern,
                              "case_sensitive", cs, "field", field, "target_boundaries",
                              "graph");
    ck_assert_ptr_nonnull(rules);
    rt_engine_t *e = NULL;
    char err[512];
    int rc = rt_engine_build(rules, NULL, NULL, &e, err, sizeof err);
    json_decref(rules);
    ck_assert_msg(rc == 0, "%s", err);
    rt_scratch_t *s = rt_scratch_new(e);
    struct vt_tev t;
    if (strcmp(field, "path") == 0) {
        vt_tev_init(&t, "filesystem_write", value);
    } else {
        vt_tev_init(&t, "filesystem_write", "/x");
        if (strncmp(field, "content.", 8) == 0) {
            vt_tev_content(&t, field + 8, value);
        } else {
            vt_tev_meta(&t, field + 9, value);
        }
    }
    struct rt_decision d;
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    bool m = d.n_rules == 1;
    rt_scratch_destroy(&s);
    rt_engine_destroy(&e);
    return m;
}

static bool
s_match(const char *kind, const char *pattern, bool cs, const char *path)
{
    return s_match_field(kind, pattern, cs, "path", path);
}

START_TEST(t_literal)
{
    ck_assert(s_match("literal", "secret", true, "/a/secret/b"));
    ck_assert(s_match("literal", "secret", true, "secret"));
    ck_assert(!s_match("literal", "secret", true, "/a/SECRET/b"));
    ck_assert(s_match("literal", "secret", false, "/a/SECRET/b"));
    ck_assert(!s_match("literal", "secret", true, "/a/secre"));
    /* Metacharacters in a literal are plain text. */
    ck_assert(s_match("literal", "a.b*(c)", true, "x/a.b*(c)/y"));
    ck_assert(!s_match("literal", "a.b", true, "axb"));
    ck_assert(s_match("literal", "[x]\\", true, "/[x]\\"));
}
END_TEST

START_TEST(t_prefix_suffix_exact)
{
    ck_assert(s_match("prefix", "/data/", true, "/data/a.txt"));
    ck_assert(!s_match("prefix", "/data/", true, "/x/data/a.txt"));
    ck_assert(s_match("prefix", "/DATA/", false, "/data/a"));
    ck_assert(s_match("suffix", ".log", true, "/var/a.log"));
    ck_assert(!s_match("suffix", ".log", true, "/var/a.log.1"));
    ck_assert(!s_match("suffix", ".log", true, "/var/a.log\n"));
    ck_assert(s_match("suffix", ".LOG", false, "/var/a.log"));
    ck_assert(s_match("exact", "/etc/passwd", true, "/etc/passwd"));
    ck_assert(!s_match("exact", "/etc/passwd", true, "/etc/passwd2"));
    ck_assert(!s_match("exact", "/etc/passwd", true, "/x/etc/passwd"));
    ck_assert(s_match("exact", "/ETC/Passwd", false, "/etc/passwd"));
}
END_TEST

START_TEST(t_glob)
{
    ck_assert(s_match("glob", "/data/*.log", true, "/data/a.log"));
    ck_assert(!s_match("glob", "/data/*.log", true, "/data/sub/a.log"));
    ck_assert(s_match("glob", "/data/**.log", true, "/data/sub/a.log"));
    ck_assert(s_match("glob", "/data/**/*.log", true, "/data/s/t/a.log"));
    ck_assert(s_match("glob", "/data/*", true, "/data/"));
    ck_assert(!s_match("glob", "/data/*.log", true, "/data/a.log.gz"));
    ck_assert(s_match("glob", "/d/?.txt", true, "/d/a.txt"));
    ck_assert(!s_match("glob", "/d/?.txt", true, "/d/ab.txt"));
    ck_assert(!s_match("glob", "/d?x", true, "/d/x"));
    ck_assert(s_match("glob", "/d/[abc].txt", true, "/d/b.txt"));
    ck_assert(!s_match("glob", "/d/[abc].txt", true, "/d/d.txt"));
    ck_assert(s_match("glob", "/d/[a-c][0-9]", true, "/d/c7"));
    ck_assert(s_match("glob", "/d/[!a-c]", true, "/d/z"));
    ck_assert(!s_match("glob", "/d/[!a-c]", true, "/d/b"));
    ck_assert(!s_match("glob", "/d[!a]x", true, "/d/x"));
    ck_assert(s_match("glob", "/d/[]]", true, "/d/]"));
    ck_assert(s_match("glob", "/d/\\*", true, "/d/*"));
    ck_assert(!s_match("glob", "/d/\\*", true, "/d/a"));
    ck_assert(s_match("glob", "/D/*.LOG", false, "/d/x.log"));
    ck_assert(!s_match("glob", "/D/*.LOG", true, "/d/x.log"));
    ck_assert(s_match("glob", "*", true, "anything-without-slash"));
    ck_assert(s_match("glob", "a.b", true, "a.b"));
    ck_assert(!s_match("glob", "a.b", true, "axb"));
}
END_TEST

/* The reduced reproducer of Vectorscan 5.4.9's missed end-anchored matches: a literal and a
 * 2-byte suffix in one set miss the suffix at the end of inputs of 18 to 32 bytes (to 64 with
 * AVX-512) when the regex engine decides it. The engine must decide them all. */
static rt_engine_t *
s_pair(const char *lit_kind, const char *lit, const char *kind, const char *pattern, bool cs)
{
    char rules[1024];
    snprintf(rules, sizeof rules,
             "[{\"id\":\"lit\",\"priority\":2,\"conditions\":{\"patterns\":"
             "[{\"kind\":\"%s\",\"pattern\":\"%s\"}]},\"target_boundaries\":[\"graph\"]},"
             "{\"id\":\"anchored\",\"priority\":1,\"conditions\":{\"patterns\":"
             "[{\"kind\":\"%s\",\"pattern\":\"%s\",\"case_sensitive\":%s}]},"
             "\"target_boundaries\":[\"analytics\"]}]",
             lit_kind, lit, kind, pattern, cs ? "true" : "false");
    return rt_engine_from(rules, NULL, "vector");
}

/* The rules of e that match path, as "id,id". */
static const char *
s_matched(rt_engine_t *e, rt_scratch_t *s, const char *path, char *buf, size_t cap)
{
    struct vt_tev t;
    vt_tev_init(&t, "filesystem_write", path);
    struct rt_decision d;
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    buf[0] = '\0';
    for (uint32_t i = 0; i < d.n_rules; i++) {
        size_t n = strlen(buf);
        snprintf(buf + n, cap - n, "%s%s", i ? "," : "", rt_engine_rule_id(e, d.rules[i]));
    }
    return buf;
}

START_TEST(t_vectorscan_suffix_reproducer)
{
    char got[128];
    /* zzz + OG: every input of 1..80 bytes ending in OG, the failing 18..32 among them. */
    for (int cs = 0; cs < 2; cs++) {
        rt_engine_t *e = s_pair("literal", "zzz", "suffix", cs ? "OG" : "og", cs);
        rt_scratch_t *s = rt_scratch_new(e);
        for (size_t len = 2; len <= 80; len++) {
            char in[81];
            memset(in, 'a', len);
            for (size_t i = 0; i < len; i += 3) {
                in[i] = '/';
            }
            memcpy(in + len - 2, "OG", 2);
            in[len] = '\0';
            ck_assert_msg(strcmp(s_matched(e, s, in, got, sizeof got), "anchored") == 0,
                          "zzz + suffix %s: input of %zu bytes \"%s\" matched \"%s\", expected "
                          "\"anchored\"",
                          cs ? "OG" : "og (caseless)", len, in, got);
            in[len - 1] = 'X';
            ck_assert_msg(strcmp(s_matched(e, s, in, got, sizeof got), "") == 0,
                          "input \"%s\" matched \"%s\", expected nothing", in, got);
        }
        rt_scratch_destroy(&s);
        rt_engine_destroy(&e);
    }
    /* The report's event, and its realistic form. */
    rt_engine_t *e = s_pair("literal", "zzz", "suffix", "OG", true);
    rt_scratch_t *s = rt_scratch_new(e);
    ck_assert_str_eq(s_matched(e, s, "/a/b/c/d/e/f/g/h/i.LOG", got, sizeof got), "anchored");
    ck_assert_str_eq(s_matched(e, s, "/x.LOG", got, sizeof got), "anchored");
    struct vt_tev t;
    vt_tev_init(&t, "filesystem_write", "/a/b/c/d/e/f/g/h/i.LOG");
    struct rt_decision d;
    rt_engine_decide(e, s, &t.ev, 0, true, &d);
    ck_assert(!d.unrouted && !d.to_default);
    ck_assert_uint_eq(d.targets, 1ULL << rt_engine_boundary_index(e, "analytics"));
    rt_scratch_destroy(&s);
    rt_engine_destroy(&e);
    e = s_pair("literal", "main", "suffix", ".c", true);
    s = rt_scratch_new(e);
    ck_assert_str_eq(s_matched(e, s, "/src/lib/module/helper.c", got, sizeof got), "anchored");
    ck_assert_str_eq(s_matched(e, s, "/src/main.c", got, sizeof got), "lit,anchored");
    ck_assert_str_eq(s_matched(e, s, "/src/lib/module/helper.h", got, sizeof got), "");
    rt_scratch_destroy(&s);
    rt_engine_destroy(&e);
    /* The same shape as a glob, and as an exact pattern of that length. */
    e = s_pair("literal", "main", "glob", "**.c", true);
    s = rt_scratch_new(e);
    ck_assert_str_eq(s_matched(e, s, "/src/lib/module/helper.c", got, sizeof got), "anchored");
    rt_scratch_destroy(&s);
    rt_engine_destroy(&e);
    e = s_pair("literal", "zzz", "exact", "/src/lib/module/helper.c", true);
    s = rt_scratch_new(e);
    ck_assert_str_eq(s_matched(e, s, "/src/lib/module/helper.c", got, sizeof got), "anchored");
    rt_scratch_destroy(&s);
    rt_engine_destroy(&e);
}
END_TEST

/* Globs are matched without backtracking: a pattern that makes a backtracking matcher
 * exponential still decides at once, and correctly. */
START_TEST(t_glob_no_backtracking)
{
    ck_assert(!s_match("glob", "*a*a*a*a*a*a*a*a*a*a*a*a*b", true,
                       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    ck_assert(s_match("glob", "**a**a**a**a**a**a**a**a**b", true,
                      "a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/ab"));
    /* '**' then '*': the leftmost placement of the middle part is not the one that works. */
    ck_assert(s_match("glob", "**/x*", true, "a/xb/xc"));
    ck_assert(!s_match("glob", "*/x*", true, "a/xb/xc"));
    /* Head and tail literals with wildcards between, caseless classes. */
    ck_assert(s_match("glob", "/Data/[a-c]?/**.LOG", false, "/data/B7/x/y.log"));
    ck_assert(!s_match("glob", "/Data/[!a-c]?/**.LOG", false, "/data/B7/x/y.log"));
    ck_assert(s_match("glob", "*.c", true, ".c"));
    ck_assert(s_match_field("glob", "**", true, "content.body", ""));
    ck_assert(s_match_field("glob", "*", true, "content.body", ""));
    ck_assert(!s_match_field("glob", "?", true, "content.body", ""));
}
END_TEST

START_TEST(t_regex)
{
    ck_assert(s_match("regex", ".*\\.(log|txt)$", true, "/var/a.txt"));
    ck_assert(!s_match("regex", ".*\\.(log|txt)$", true, "/var/a.TXT"));
    ck_assert(s_match("regex", ".*\\.(log|txt)$", false, "/var/a.TXT"));
    ck_assert(s_match("regex", "tmp/[0-9]+/", true, "/var/tmp/123/x"));
    ck_assert(!s_match("regex", "^tmp", true, "/tmp"));
    ck_assert(s_match("regex", "^/tmp", true, "/tmp"));
    /* '$' also matches before a final newline, as in PCRE. */
    ck_assert(s_match("regex", "x$", true, "/ax\n"));
    ck_assert(s_match("regex", "(?i)secret", true, "/SeCrEt"));
    ck_assert(s_match("regex", "a*", true, "/zzz")); /* matches empty: any present value */
}
END_TEST

START_TEST(t_fields)
{
    ck_assert(s_match_field("literal", "password", true, "content.body", "my password is"));
    ck_assert(!s_match_field("literal", "password", true, "content.other", "nope"));
    ck_assert(s_match_field("exact", "42", true, "metadata.user_id", "42"));
    ck_assert(!s_match_field("exact", "42", true, "metadata.user_id", "420"));
    /* Missing field: no match, even for a pattern matching the empty string. */
    rt_engine_t *e = rt_engine_from(
        "[{\"id\":\"m\",\"conditions\":{\"patterns\":[{\"kind\":\"regex\",\"pattern\":\"a*\","
        "\"field\":\"metadata.k\"}]},\"target_boundaries\":[\"graph\"]},"
        " {\"id\":\"c\",\"conditions\":{\"patterns\":[{\"kind\":\"literal\",\"pattern\":\"v2\","
        "\"field\":\"content.k\"}]},\"target_boundaries\":[\"vector\"]}]",
        NULL, NULL);
    rt_scratch_t *s = rt_scratch_new(e);
    struct vt_tev t;
    struct rt_decision d;
    vt_tev_init(&t, "system", "");
    vt_tev_content(&t, "k", "zzz");
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    ck_assert_uint_eq(d.n_rules, 0);
    vt_tev_meta(&t, "k", "");
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    ck_assert_uint_eq(d.n_rules, 1); /* present but empty */
    /* A repeated map key: the last entry counts, as protobuf decoding keeps the last. */
    vt_tev_init(&t, "system", "");
    vt_tev_content(&t, "k", "v2");
    vt_tev_content(&t, "k", "v1");
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    ck_assert_uint_eq(d.n_rules, 0);
    vt_tev_init(&t, "system", "");
    vt_tev_content(&t, "k", "v1");
    vt_tev_content(&t, "k", "v2");
    vt_tev_content(&t, "other", "v2");
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    ck_assert_uint_eq(d.n_rules, 1);
    ck_assert_uint_eq(d.targets, rt_bit(e, "vector"));
    rt_scratch_destroy(&s);
    rt_engine_destroy(&e);
}
END_TEST

START_TEST(t_any_all)
{
    const char *pats = "[{\"kind\":\"prefix\",\"pattern\":\"/data\"},"
                       "{\"kind\":\"literal\",\"pattern\":\"alice\",\"field\":\"metadata.user\"}]";
    char rules[1024];
    snprintf(rules, sizeof rules,
             "[{\"id\":\"any\",\"conditions\":{\"patterns\":%s}},"
             " {\"id\":\"all\",\"conditions\":{\"patterns\":%s,\"pattern_match\":\"all\"}}]",
             pats, pats);
    rt_engine_t *e = rt_engine_from(rules, NULL, NULL);
    rt_scratch_t *s = rt_scratch_new(e);
    struct vt_tev t;
    struct rt_decision d;
    char buf[128];
    vt_tev_init(&t, "filesystem_write", "/data/x");
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    ck_assert_str_eq(rt_rules_str(e, &d, buf, sizeof buf), "any");
    vt_tev_meta(&t, "user", "alice");
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    ck_assert_str_eq(rt_rules_str(e, &d, buf, sizeof buf), "any,all");
    vt_tev_init(&t, "filesystem_write", "/other");
    vt_tev_meta(&t, "user", "alice");
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    ck_assert_str_eq(rt_rules_str(e, &d, buf, sizeof buf), "any");
    vt_tev_init(&t, "filesystem_write", "/other");
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    ck_assert_str_eq(rt_rules_str(e, &d, buf, sizeof buf), "");
    rt_scratch_destroy(&s);
    rt_engine_destroy(&e);
}
END_TEST

/* One expression shared by many rules (compiled once) still reaches every rule, and the same
 * text with another case flag or on another field stays distinct. */
START_TEST(t_shared_expressions)
{
    const char *p = "{\"kind\":\"regex\",\"pattern\":\"log$\"}";
    const char *pi = "{\"kind\":\"regex\",\"pattern\":\"log$\",\"case_sensitive\":false}";
    const char *pc = "{\"kind\":\"regex\",\"pattern\":\"log$\",\"field\":\"content.f\"}";
    char rules[2048];
    snprintf(rules, sizeof rules,
             "[{\"id\":\"a\",\"conditions\":{\"patterns\":[%s]}},"
             " {\"id\":\"b\",\"conditions\":{\"patterns\":[%s]}},"
             " {\"id\":\"twice\",\"conditions\":{\"patterns\":[%s,%s],\"pattern_match\":\"all\"}},"
             " {\"id\":\"caseless\",\"conditions\":{\"patterns\":[%s]}},"
             " {\"id\":\"content\",\"conditions\":{\"patterns\":[%s]}}]",
             p, p, p, p, pi, pc);
    rt_engine_t *e = rt_engine_from(rules, NULL, NULL);
    rt_scratch_t *s = rt_scratch_new(e);
    struct vt_tev t;
    struct rt_decision d;
    char buf[128];
    vt_tev_init(&t, "system", "/a.log");
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    ck_assert_str_eq(rt_rules_str(e, &d, buf, sizeof buf), "a,b,twice,caseless");
    vt_tev_init(&t, "system", "/a.LOG");
    vt_tev_content(&t, "f", "x.log");
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    ck_assert_str_eq(rt_rules_str(e, &d, buf, sizeof buf), "caseless,content");
    rt_scratch_destroy(&s);
    rt_engine_destroy(&e);
}
END_TEST

START_TEST(t_priorities_and_order)
{
    rt_engine_t *e = rt_engine_from("[{\"id\":\"low\",\"priority\":1},"
                                    " {\"id\":\"high\",\"priority\":100},"
                                    " {\"id\":\"mid-a\",\"priority\":50},"
                                    " {\"id\":\"neg\",\"priority\":-5},"
                                    " {\"id\":\"mid-b\",\"priority\":50}]",
                                    NULL, NULL);
    ck_assert_uint_eq(rt_engine_rule_count(e), 5);
    ck_assert_str_eq(rt_engine_rule_id(e, 0), "high");
    ck_assert_str_eq(rt_engine_rule_id(e, 1), "mid-a");
    ck_assert_str_eq(rt_engine_rule_id(e, 2), "mid-b");
    ck_assert_str_eq(rt_engine_rule_id(e, 3), "low");
    ck_assert_str_eq(rt_engine_rule_id(e, 4), "neg");
    ck_assert_ptr_null(rt_engine_rule_id(e, 5));
    ck_assert_int_eq(rt_engine_rule_index(e, "mid-b"), 2);
    ck_assert_int_eq(rt_engine_rule_index(e, "nope"), -1);
    rt_scratch_t *s = rt_scratch_new(e);
    struct vt_tev t;
    struct rt_decision d;
    char buf[128];
    vt_tev_init(&t, "system", "");
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    ck_assert_str_eq(rt_rules_str(e, &d, buf, sizeof buf), "high,mid-a,mid-b,low,neg");
    json_t *j = rt_engine_rules_json(e);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(j, 0), "id")), "high");
    json_decref(j);
    rt_scratch_destroy(&s);
    rt_engine_destroy(&e);
}
END_TEST

START_TEST(t_stop)
{
    rt_engine_t *e = rt_engine_from(
        "[{\"id\":\"a\",\"priority\":30,\"target_boundaries\":[\"graph\"]},"
        " {\"id\":\"stopper\",\"priority\":20,\"stop\":true,\"target_boundaries\":[\"vector\"],"
        "  \"conditions\":{\"patterns\":[{\"kind\":\"prefix\",\"pattern\":\"/s/\"}]}},"
        " {\"id\":\"same\",\"priority\":20,\"target_boundaries\":[\"automation\"]},"
        " {\"id\":\"c\",\"priority\":10,\"target_boundaries\":[\"analytics\"]}]",
        NULL, NULL);
    rt_scratch_t *s = rt_scratch_new(e);
    struct vt_tev t;
    struct rt_decision d;
    char buf[128];
    vt_tev_init(&t, "filesystem_create", "/s/x");
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    ck_assert_str_eq(rt_rules_str(e, &d, buf, sizeof buf), "a,stopper");
    ck_assert_uint_eq(d.targets, rt_bit(e, "graph") | rt_bit(e, "vector"));
    /* The stop rule did not match: evaluation goes on. */
    vt_tev_init(&t, "filesystem_create", "/t/x");
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    ck_assert_str_eq(rt_rules_str(e, &d, buf, sizeof buf), "a,same,c");
    rt_scratch_destroy(&s);
    rt_engine_destroy(&e);
}
END_TEST

START_TEST(t_type_tenant_priority)
{
    rt_engine_t *e = rt_engine_from(
        "[{\"id\":\"writes\",\"conditions\":{\"event_types\":[\"filesystem_write\","
        "\"filesystem_create\"]}},"
        " {\"id\":\"acme\",\"conditions\":{\"tenant\":\"acme\"}},"
        " {\"id\":\"globex\",\"conditions\":{\"tenant\":\"globex\"}},"
        " {\"id\":\"urgent\",\"conditions\":{\"min_priority\":5}},"
        " {\"id\":\"all3\",\"conditions\":{\"event_types\":[\"vector_insert\"],"
        "\"tenant\":\"acme\",\"min_priority\":3}}]",
        NULL, NULL);
    rt_scratch_t *s = rt_scratch_new(e);
    struct vt_tev t;
    struct rt_decision d;
    char buf[128];
    vt_tev_init(&t, "filesystem_write", "/a");
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    ck_assert_str_eq(rt_rules_str(e, &d, buf, sizeof buf), "writes");
    t.ev.tenant = "acme";
    t.ev.priority = 4;
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    ck_assert_str_eq(rt_rules_str(e, &d, buf, sizeof buf), "writes,acme");
    t.ev.priority = 5;
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    ck_assert_str_eq(rt_rules_str(e, &d, buf, sizeof buf), "writes,acme,urgent");
    vt_tev_init(&t, "vector_insert", "");
    t.ev.tenant = "acme";
    t.ev.priority = 3;
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    ck_assert_str_eq(rt_rules_str(e, &d, buf, sizeof buf), "acme,all3");
    t.ev.tenant = "acme2";
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    ck_assert_str_eq(rt_rules_str(e, &d, buf, sizeof buf), "");
    t.ev.tenant = "globex";
    t.ev.priority = 2;
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    ck_assert_str_eq(rt_rules_str(e, &d, buf, sizeof buf), "globex");
    /* A type value unknown to this build matches only rules without a type condition. */
    vt_tev_init(&t, NULL, "");
    t.ev.type = (Vexfs__V1__EventType)77;
    t.ev.priority = 9;
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    ck_assert_str_eq(rt_rules_str(e, &d, buf, sizeof buf), "urgent");
    rt_scratch_destroy(&s);
    rt_engine_destroy(&e);
}
END_TEST

START_TEST(t_tags_boost)
{
    rt_engine_t *e = rt_engine_from(
        "[{\"id\":\"a\",\"priority\":2,\"actions\":{\"priority_boost\":200,"
        "\"add_tags\":{\"k\":\"from-a\",\"x\":\"1\"},\"log_match\":true}},"
        " {\"id\":\"b\",\"priority\":1,\"actions\":{\"priority_boost\":100,"
        "\"add_tags\":{\"k\":\"from-b\",\"y\":\"2\"}}}]",
        NULL, NULL);
    rt_scratch_t *s = rt_scratch_new(e);
    struct vt_tev t;
    struct rt_decision d;
    vt_tev_init(&t, "system", "");
    t.ev.priority = 10;
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    ck_assert_uint_eq(d.priority_boost, 300);
    ck_assert_uint_eq(d.priority, 255);
    ck_assert(d.log_match);
    ck_assert_uint_eq(d.n_tags, 3);
    ck_assert_str_eq(rt_tag_value(&d, "k"), "from-a"); /* the first (higher) rule wins */
    ck_assert_str_eq(rt_tag_value(&d, "x"), "1");
    ck_assert_str_eq(rt_tag_value(&d, "y"), "2");
    rt_scratch_destroy(&s);
    rt_engine_destroy(&e);
    e = rt_engine_from("[{\"id\":\"a\",\"actions\":{\"priority_boost\":2}}]", NULL, NULL);
    s = rt_scratch_new(e);
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    ck_assert_uint_eq(d.priority, 12);
    ck_assert(!d.log_match);
    rt_scratch_destroy(&s);
    rt_engine_destroy(&e);
}
END_TEST

START_TEST(t_targets_union)
{
    rt_engine_t *e = rt_engine_from("[{\"id\":\"a\",\"target_boundaries\":[\"analytics\"],"
                                    "\"actions\":{\"route_to_boundaries\":[\"graph\"]}}]",
                                    NULL, NULL);
    rt_scratch_t *s = rt_scratch_new(e);
    struct vt_tev t;
    struct rt_decision d;
    vt_tev_init(&t, "system", "");
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    ck_assert_uint_eq(d.targets, rt_bit(e, "analytics") | rt_bit(e, "graph"));
    ck_assert(!d.unrouted);
    struct rt_rule_info ri;
    ck_assert_int_eq(rt_engine_rule_info(e, 0, &ri), 0);
    ck_assert_uint_eq(ri.targets, d.targets);
    ck_assert_int_eq(rt_engine_rule_info(e, 1, &ri), -ERANGE);
    rt_scratch_destroy(&s);
    rt_engine_destroy(&e);
}
END_TEST

START_TEST(t_default_and_unrouted)
{
    const char *rules = "[{\"id\":\"logs\",\"conditions\":{\"patterns\":[{\"kind\":\"suffix\","
                        "\"pattern\":\".log\"}]},\"target_boundaries\":[\"analytics\"]},"
                        " {\"id\":\"tagger\",\"actions\":{\"add_tags\":{\"seen\":\"1\"}}}]";
    rt_engine_t *e = rt_engine_from(rules, NULL, "coordinator");
    ck_assert_int_eq(rt_engine_default_boundary(e), rt_engine_boundary_index(e, "coordinator"));
    rt_scratch_t *s = rt_scratch_new(e);
    struct vt_tev t;
    struct rt_decision d;
    vt_tev_init(&t, "filesystem_write", "/a.txt");
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    /* Matched a rule that names no boundary: still unrouted. */
    ck_assert_uint_eq(d.n_rules, 1);
    ck_assert(d.unrouted && d.to_default);
    ck_assert_uint_eq(d.targets, rt_bit(e, "coordinator"));
    vt_tev_init(&t, "filesystem_write", "/a.log");
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    ck_assert(!d.unrouted && !d.to_default);
    ck_assert_uint_eq(d.targets, rt_bit(e, "analytics"));
    struct rt_engine_stats st;
    rt_engine_stats(e, &st);
    ck_assert_uint_eq(st.decisions, 2);
    ck_assert_uint_eq(st.routed, 1);
    ck_assert_uint_eq(st.unrouted, 1);
    ck_assert_uint_eq(st.to_default, 1);
    rt_scratch_destroy(&s);
    rt_engine_destroy(&e);
    /* Without a default boundary an unrouted event goes nowhere. */
    e = rt_engine_from(rules, NULL, NULL);
    s = rt_scratch_new(e);
    vt_tev_init(&t, "filesystem_write", "/a.txt");
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    ck_assert(d.unrouted && !d.to_default);
    ck_assert_uint_eq(d.targets, 0);
    rt_engine_stats(e, &st);
    ck_assert_uint_eq(st.unrouted, 1);
    ck_assert_uint_eq(st.to_default, 0);
    rt_scratch_destroy(&s);
    rt_engine_destroy(&e);
    /* An empty engine routes nothing. */
    e = rt_engine_from(NULL, NULL, "graph");
    s = rt_scratch_new(e);
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    ck_assert(d.unrouted && d.to_default);
    rt_scratch_destroy(&s);
    rt_engine_destroy(&e);
}
END_TEST

START_TEST(t_disabled)
{
    rt_engine_t *e = rt_engine_from(
        "[{\"id\":\"off\",\"enabled\":false,\"target_boundaries\":[\"graph\"]},"
        " {\"id\":\"offp\",\"enabled\":false,\"conditions\":{\"patterns\":[{\"pattern\":\"a\"}]}}]",
        NULL, NULL);
    rt_scratch_t *s = rt_scratch_new(e);
    struct vt_tev t;
    struct rt_decision d;
    vt_tev_init(&t, "system", "/a");
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    ck_assert_uint_eq(d.n_rules, 0);
    ck_assert(d.unrouted);
    rt_scratch_destroy(&s);
    rt_engine_destroy(&e);
}
END_TEST

/* Rules spread over several bitset words, patterns and static rules mixed. */
START_TEST(t_many_rules)
{
    json_t *rules = json_array();
    for (int i = 0; i < 300; i++) {
        char id[32], pat[32];
        snprintf(id, sizeof id, "r%03d", i);
        snprintf(pat, sizeof pat, "/p%d/", i);
        json_t *r = json_pack("{s:s, s:i}", "id", id, "priority", -i);
        if (i % 3 != 0) {
            json_object_set_new(r, "conditions",
                                json_pack("{s:[{s:s, s:s}]}", "patterns", "kind", "literal",
                                          "pattern", pat));
        }
        if (i % 7 == 0) {
            json_object_set_new(r, "enabled", json_false());
        }
        json_array_append_new(rules, r);
    }
    rt_engine_t *e = NULL;
    char err[256];
    ck_assert_int_eq(rt_engine_build(rules, NULL, NULL, &e, err, sizeof err), 0);
    json_decref(rules);
    rt_scratch_t *s = rt_scratch_new(e);
    struct vt_tev t;
    struct rt_decision d;
    vt_tev_init(&t, "system", "/p250/p131/");
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    /* Static rules (i % 3 == 0, not i % 7 == 0), plus r131 and r250, in order. */
    uint32_t expect = 0;
    int last = -1;
    for (uint32_t k = 0; k < d.n_rules; k++) {
        int i = atoi(rt_engine_rule_id(e, d.rules[k]) + 1);
        ck_assert_int_gt(i, last);
        last = i;
        ck_assert_msg((i % 3 == 0 || i == 131 || i == 250) && i % 7 != 0, "r%d matched", i);
    }
    for (int i = 0; i < 300; i++) {
        expect += (i % 3 == 0 || i == 131 || i == 250) && i % 7 != 0;
    }
    ck_assert_uint_eq(d.n_rules, expect);
    rt_scratch_destroy(&s);
    rt_engine_destroy(&e);
}
END_TEST

START_TEST(t_counters)
{
    rt_engine_t *e = rt_engine_from("[{\"id\":\"a\",\"conditions\":{\"patterns\":["
                                    "{\"pattern\":\"x\"}]},\"actions\":{\"emit_metrics\":true}},"
                                    " {\"id\":\"b\"}]",
                                    NULL, NULL);
    rt_scratch_t *s = rt_scratch_new(e);
    struct vt_tev t;
    struct rt_decision d;
    for (int i = 0; i < 5; i++) {
        vt_tev_init(&t, "system", i < 2 ? "/x" : "/y");
        rt_engine_decide(e, s, &t.ev, 0, false, &d);
    }
    rt_engine_decide(e, s, &t.ev, 0, true, &d); /* explain: not counted */
    ck_assert_uint_eq(rt_engine_rule_matches(e, 0), 2);
    ck_assert_uint_eq(rt_engine_rule_matches(e, 1), 5);
    ck_assert_uint_eq(rt_engine_rule_matches(e, 9), 0);
    struct rt_rule_info ri;
    rt_engine_rule_info(e, 0, &ri);
    ck_assert(ri.emit_metrics);
    /* A reload carries counters of entries with the same id. */
    rt_engine_t *e2 = rt_engine_from("[{\"id\":\"new\"}, {\"id\":\"b\",\"priority\":-1}]", NULL,
                                     NULL);
    rt_engine_inherit(e2, e);
    ck_assert_uint_eq(rt_engine_rule_matches(e2, rt_engine_rule_index(e2, "b")), 5);
    ck_assert_uint_eq(rt_engine_rule_matches(e2, rt_engine_rule_index(e2, "new")), 0);
    struct rt_engine_stats st;
    rt_engine_stats(e2, &st);
    ck_assert_uint_eq(st.decisions, 5);
    /* The same scratch serves the new engine after it refits itself. */
    rt_engine_decide(e2, s, &t.ev, 0, false, &d);
    ck_assert_uint_eq(d.n_rules, 2);
    rt_engine_decide(e, s, &t.ev, 0, false, &d);
    ck_assert_uint_eq(d.n_rules, 1);
    ck_assert_int_eq(rt_scratch_fit(s, e2), 0);
    rt_engine_decide(e2, s, &t.ev, 0, false, &d);
    ck_assert_uint_eq(d.n_rules, 2);
    rt_scratch_destroy(&s);
    rt_engine_destroy(&e);
    rt_engine_destroy(&e2);
    ck_assert_ptr_null(e2);
    rt_engine_destroy(&e2);
}
END_TEST

START_TEST(t_normalized_roundtrip)
{
    const char *rules =
        "[{\"id\":\"logs\",\"priority\":100,\"conditions\":{\"event_types\":[\"filesystem_write\"],"
        "\"content_patterns\":[{\"kind\":\"regex\",\"pattern\":\".*\\\\.(log|txt)$\","
        "\"case_sensitive\":false}],\"tenant\":\"acme\",\"min_priority\":3},"
        "\"target_boundaries\":[\"analytics\"],\"actions\":{\"priority_boost\":2,"
        "\"log_match\":true,\"emit_metrics\":true,\"add_tags\":{\"k\":\"v\"}},\"stop\":true},"
        " {\"id\":\"m\",\"description\":\"meta\",\"conditions\":{\"patterns\":[{\"kind\":\"glob\","
        "\"pattern\":\"a*\",\"field\":\"metadata.user\"}],\"pattern_match\":\"all\"}}]";
    rt_engine_t *e = rt_engine_from(rules, NULL, NULL);
    json_t *j1 = rt_engine_rules_json(e);
    json_t *r0 = json_array_get(j1, 0);
    json_t *c0 = json_object_get(r0, "conditions");
    ck_assert_ptr_nonnull(json_object_get(c0, "patterns"));
    ck_assert_ptr_null(json_object_get(c0, "content_patterns"));
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(c0, "patterns"), 0), "field")),
                     "path");
    ck_assert(json_is_null(json_object_get(json_object_get(json_array_get(j1, 1), "conditions"),
                                           "tenant")));
    rt_engine_t *e2 = NULL;
    char err[256];
    ck_assert_int_eq(rt_engine_build(j1, NULL, NULL, &e2, err, sizeof err), 0);
    json_t *j2 = rt_engine_rules_json(e2);
    ck_assert(json_equal(j1, j2));
    json_decref(j1);
    json_decref(j2);
    rt_engine_destroy(&e);
    rt_engine_destroy(&e2);
}
END_TEST

START_TEST(t_explain_json)
{
    rt_engine_t *e = rt_engine_from(
        "[{\"id\":\"logs\",\"priority\":5,\"target_boundaries\":[\"analytics\"],"
        "\"actions\":{\"priority_boost\":1,\"add_tags\":{\"k\":\"v\"}}}]",
        "[{\"id\":\"t\",\"kind\":\"priority\",\"conditions\":{\"min_priority\":0},"
        "\"action\":\"tag\",\"add_tags\":{\"f\":\"1\"}}]",
        NULL);
    rt_scratch_t *s = rt_scratch_new(e);
    struct vt_tev t;
    struct rt_decision d;
    vt_tev_init(&t, "system", "");
    t.ev.priority = 4;
    rt_engine_decide(e, s, &t.ev, 0, true, &d);
    json_t *x = rt_decision_explain(e, &d);
    json_t *want = rt_json(
        "{\"dropped\":false,\"blocked_by\":null,\"sampled_out_by\":null,\"unrouted\":false,"
        "\"default_boundary\":false,\"targets\":[\"analytics\"],\"priority\":5,"
        "\"priority_boost\":1,\"log_match\":false,\"tags\":{\"f\":\"1\",\"k\":\"v\"},"
        "\"filters\":[{\"index\":0,\"id\":\"t\",\"kind\":\"priority\",\"action\":\"tag\","
        "\"outcome\":\"tagged\"}],"
        "\"rules\":[{\"index\":0,\"id\":\"logs\",\"priority\":5,\"stop\":false,"
        "\"targets\":[\"analytics\"]}]}");
    char *got = json_dumps(x, JSON_SORT_KEYS);
    ck_assert_msg(json_equal(x, want), "explain: %s", got);
    free(got);
    json_decref(x);
    json_decref(want);
    rt_scratch_destroy(&s);
    rt_engine_destroy(&e);
}
END_TEST

START_TEST(t_boundaries)
{
    static const char *const names[] = {"alpha", "beta", "gamma"};
    struct rt_engine_opts o = {.boundaries = names, .n_boundaries = 3, .default_boundary = "beta"};
    json_t *r = rt_json("[{\"id\":\"a\",\"target_boundaries\":[\"gamma\"]}]");
    rt_engine_t *e = NULL;
    char err[256];
    ck_assert_int_eq(rt_engine_build(r, NULL, &o, &e, err, sizeof err), 0);
    ck_assert_uint_eq(rt_engine_boundary_count(e), 3);
    ck_assert_str_eq(rt_engine_boundary_name(e, 2), "gamma");
    ck_assert_ptr_null(rt_engine_boundary_name(e, 3));
    ck_assert_int_eq(rt_engine_boundary_index(e, "beta"), 1);
    ck_assert_int_eq(rt_engine_boundary_index(e, "analytics"), -1);
    ck_assert_int_eq(rt_engine_default_boundary(e), 1);
    rt_engine_destroy(&e);
    json_decref(r);
    /* Defaults: the five internal boundaries. */
    e = rt_engine_from(NULL, NULL, NULL);
    ck_assert_uint_eq(rt_engine_boundary_count(e), 5);
    ck_assert_int_ge(rt_engine_boundary_index(e, "coordinator"), 0);
    ck_assert_int_eq(rt_engine_default_boundary(e), -1);
    rt_engine_destroy(&e);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("rt_engine");
    struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"literal", t_literal},
        {"prefix_suffix_exact", t_prefix_suffix_exact},
        {"glob", t_glob},
        {"regex", t_regex},
        {"vectorscan_suffix_reproducer", t_vectorscan_suffix_reproducer},
        {"glob_no_backtracking", t_glob_no_backtracking},
        {"fields", t_fields},
        {"any_all", t_any_all},
        {"shared_expressions", t_shared_expressions},
        {"priorities", t_priorities_and_order},
        {"stop", t_stop},
        {"type_tenant_priority", t_type_tenant_priority},
        {"tags_boost", t_tags_boost},
        {"targets_union", t_targets_union},
        {"default_unrouted", t_default_and_unrouted},
        {"disabled", t_disabled},
        {"many_rules", t_many_rules},
        {"counters_reload", t_counters},
        {"normalized_roundtrip", t_normalized_roundtrip},
        {"explain_json", t_explain_json},
        {"boundaries", t_boundaries},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_test(tc, cases[i].test);
        suite_add_tcase(s, tc);
    }
    return rt_run_suite(s);
}
