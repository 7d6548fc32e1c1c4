/* SPDX-License-Identifier: Apache-2.0 */
/* au_workflow and au_expr: every kind of workflow is accepted in its documented shape; bad
 * definitions are refused with the field and the reason (unknown step kinds, missing fields,
 * state machines whose cycles have no exit); conditions and templates evaluate as documented
 * and templates only ever produce data. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "au_action.h"
#include "au_expr.h"
#include "au_test.h"
#include "au_workflow.h"

static json_t *
s_json(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    ck_assert_msg(j != NULL, "test JSON: %s: %s", je.text, text);
    return j;
}

static struct au_workflow *
s_ok(const char *text)
{
    json_t *j = s_json(text);
    struct au_workflow *w = NULL;
    char err[1024] = "";
    int rc = au_workflow_parse(j, "t1", &w, err, sizeof err);
    json_decref(j);
    ck_assert_msg(rc == 0, "refused: %s\n  %s", err, text);
    ck_assert_str_eq(w->tenant, "t1");
    return w;
}

static void
s_fail(const char *text, const char *want)
{
    json_t *j = s_json(text);
    struct au_workflow *w = NULL;
    char err[1024] = "";
    int rc = au_workflow_parse(j, "t1", &w, err, sizeof err);
    json_decref(j);
    ck_assert_msg(rc == -EINVAL, "accepted: %s", text);
    ck_assert_ptr_null(w);
    ck_assert_msg(strstr(err, want) != NULL, "error \"%s\" lacks \"%s\"", err, want);
}

#define STEP(id) "{\"id\":\"" id "\",\"action\":{\"kind\":\"delay\",\"ms\":1}}"

START_TEST(t_kinds_accepted)
{
    struct au_workflow *w = s_ok(
        "{\"id\":\"lin\",\"kind\":\"linear\",\"priority\":7,\"steps\":[" STEP("a") "," STEP("b")
        "],\"triggers\":[{\"kind\":\"pattern\",\"pattern\":\"burst\"},{\"kind\":\"manual\"},"
        "{\"kind\":\"event\",\"event_type\":\"custom\",\"when\":{\"path\":\"event.path\","
        "\"op\":\"prefix\",\"value\":\"/x\"}},{\"kind\":\"state\",\"state_path\":\"disk.usage\","
        "\"op\":\"gt\",\"value\":80,\"tolerance\":5}]}");
    ck_assert_int_eq(w->kind, AU_WF_LINEAR);
    ck_assert_int_eq(w->priority, 7);
    ck_assert_uint_eq(w->steps.n, 2);
    ck_assert_uint_eq(w->n_triggers, 4);
    ck_assert_int_eq(w->triggers[3].kind, AU_TRIG_STATE);
    ck_assert(w->triggers[3].tolerance == 5.0);
    ck_assert_ptr_nonnull(au_workflow_step(w, "b"));
    ck_assert_ptr_null(au_workflow_step(w, "zz"));
    au_workflow_unref(&w);
    ck_assert_ptr_null(w);

    w = s_ok("{\"id\":\"par\",\"kind\":\"parallel\",\"steps\":[" STEP("a") "," STEP("b")
             "],\"join\":[" STEP("j") "]}");
    ck_assert_uint_eq(w->join.n, 1);
    au_workflow_unref(&w);

    w = s_ok("{\"id\":\"cond\",\"kind\":\"conditional\",\"steps\":[" STEP("a") "],"
             "\"branches\":[{\"when\":{\"path\":\"steps.a.status\",\"op\":\"eq\","
             "\"value\":\"succeeded\"},\"steps\":[" STEP("b") "]},{\"steps\":[" STEP("c") "]}]}");
    ck_assert_uint_eq(w->n_branches, 2);
    ck_assert_ptr_null(w->branches[1].when);
    au_workflow_unref(&w);

    w = s_ok("{\"id\":\"sm\",\"kind\":\"state_machine\",\"initial\":\"s0\",\"states\":{"
             "\"s0\":{\"steps\":[" STEP("a") "],\"transitions\":[{\"on\":\"success\",\"to\":\"s1\"},"
             "{\"on\":\"failure\",\"to\":\"bad\"}]},"
             "\"s1\":{\"wait_ms\":100,\"transitions\":[{\"on\":\"event\",\"event_type\":\"custom\","
             "\"custom_type\":\"go\",\"to\":\"s0\"},{\"on\":\"timeout\",\"to\":\"done\"}]},"
             "\"done\":{\"terminal\":true},\"bad\":{\"terminal\":true,\"outcome\":\"failed\"}}}");
    ck_assert_uint_eq(w->n_states, 4);
    ck_assert(w->states[1].waits);
    au_workflow_unref(&w);

    w = s_ok("{\"id\":\"acts\",\"kind\":\"linear\",\"steps\":["
             "{\"id\":\"s\",\"timeout_ms\":500,\"retry\":{\"max_retries\":3,\"backoff\":\"linear\","
             "\"base_delay_ms\":5,\"jitter\":0.5},\"action\":{\"kind\":\"script\",\"interpreter\":"
             "\"python\",\"content\":\"print(1)\",\"args\":[\"{{input.a}}\"],\"env\":{\"X_1\":\"v\"}},"
             "\"compensate\":{\"kind\":\"script\",\"interpreter\":\"bash\",\"script\":\"true.sh\"}},"
             "{\"id\":\"h\",\"action\":{\"kind\":\"http\",\"method\":\"POST\",\"url\":"
             "\"http://127.0.0.1:1/x\",\"headers\":{\"X-A\":\"{{input.a}}\"},\"body\":{\"k\":"
             "\"{{input.a}}\"},\"expect_status\":[200,201]}},"
             "{\"id\":\"e\",\"action\":{\"kind\":\"emit\",\"event\":{\"type\":\"custom\"}}},"
             "{\"id\":\"st\",\"action\":{\"kind\":\"set_state\",\"path\":\"a.b\",\"value\":1}}]}");
    ck_assert(w->steps.v[0].act.python);
    ck_assert_uint_eq(w->steps.v[0].retry.max_retries, 3);
    ck_assert_int_eq(w->steps.v[0].retry.backoff, AU_BACKOFF_LINEAR);
    ck_assert(w->steps.v[0].has_comp);
    ck_assert_uint_eq(w->steps.v[1].act.n_expect, 2);
    au_workflow_unref(&w);
}
END_TEST

START_TEST(t_bad_definitions)
{
    s_fail("[]", "expected a workflow object");
    s_fail("{\"kind\":\"linear\"}", "id: missing");
    s_fail("{\"id\":\"a b\",\"kind\":\"linear\"}", "id: expected");
    s_fail("{\"id\":\"w\",\"kind\":\"linear\",\"steps\":[" STEP("a") "],\"color\":1}",
           "workflow \"w\": unknown key \"color\"");
    s_fail("{\"id\":\"w\",\"steps\":[" STEP("a") "]}", "workflow \"w\": kind: missing");
    s_fail("{\"id\":\"w\",\"kind\":\"loop\"}", "kind: expected linear, parallel");
    s_fail("{\"id\":\"w\",\"kind\":\"linear\"}", "workflow \"w\": steps: missing");
    s_fail("{\"id\":\"w\",\"kind\":\"linear\",\"steps\":[]}", "steps: expected an array of 1..64");
    s_fail("{\"id\":\"w\",\"kind\":\"linear\",\"steps\":[{\"id\":\"a\",\"action\":{\"kind\":"
           "\"shell\"}}]}",
           "steps[0].action.kind: unknown step kind \"shell\" (expected script, http, emit, "
           "set_state or delay)");
    s_fail("{\"id\":\"w\",\"kind\":\"linear\",\"steps\":[{\"id\":\"a\"}]}",
           "steps[0].action: missing");
    s_fail("{\"id\":\"w\",\"kind\":\"linear\",\"steps\":[{\"action\":{\"kind\":\"delay\","
           "\"ms\":1}}]}",
           "steps[0].id: missing");
    s_fail("{\"id\":\"w\",\"kind\":\"linear\",\"steps\":[" STEP("a") "," STEP("a") "]}",
           "steps[1].id: duplicate step id \"a\"");
    s_fail("{\"id\":\"w\",\"kind\":\"linear\",\"steps\":[{\"id\":\"a\",\"action\":{\"kind\":"
           "\"script\",\"interpreter\":\"perl\",\"content\":\"1\"}}]}",
           "steps[0].action.interpreter: expected \"bash\" or \"python\"");
    s_fail("{\"id\":\"w\",\"kind\":\"linear\",\"steps\":[{\"id\":\"a\",\"action\":{\"kind\":"
           "\"script\",\"interpreter\":\"bash\"}}]}",
           "exactly one of \"script\" (a file of scripts_dir) or \"content\"");
    s_fail("{\"id\":\"w\",\"kind\":\"linear\",\"steps\":[{\"id\":\"a\",\"action\":{\"kind\":"
           "\"script\",\"interpreter\":\"bash\",\"content\":\"x\",\"env\":{\"1A\":\"v\"}}}]}",
           "is not a variable name");
    s_fail("{\"id\":\"w\",\"kind\":\"linear\",\"steps\":[{\"id\":\"a\",\"action\":{\"kind\":"
           "\"http\"}}]}",
           "steps[0].action.url: missing");
    s_fail("{\"id\":\"w\",\"kind\":\"linear\",\"steps\":[{\"id\":\"a\",\"action\":{\"kind\":"
           "\"http\",\"url\":\"ftp://x\"}}]}",
           "url: expected an http:// or https:// URL");
    s_fail("{\"id\":\"w\",\"kind\":\"linear\",\"steps\":[{\"id\":\"a\",\"action\":{\"kind\":"
           "\"http\",\"url\":\"http://x/{{input.a\"}}]}",
           "\"{{\" without a closing \"}}\"");
    s_fail("{\"id\":\"w\",\"kind\":\"linear\",\"steps\":[{\"id\":\"a\",\"action\":{\"kind\":"
           "\"http\",\"url\":\"http://x/{{a b}}\"}}]}",
           "is not a path");
    s_fail("{\"id\":\"w\",\"kind\":\"linear\",\"steps\":[{\"id\":\"a\",\"action\":{\"kind\":"
           "\"delay\"}}]}",
           "steps[0].action.ms: missing");
    s_fail("{\"id\":\"w\",\"kind\":\"linear\",\"steps\":[{\"id\":\"a\",\"timeout_ms\":0,"
           "\"action\":{\"kind\":\"delay\",\"ms\":1}}]}",
           "steps[0].timeout_ms: expected an integer 1..86400000");
    s_fail("{\"id\":\"w\",\"kind\":\"linear\",\"steps\":[{\"id\":\"a\",\"retry\":{\"backoff\":"
           "\"random\"},\"action\":{\"kind\":\"delay\",\"ms\":1}}]}",
           "steps[0].retry.backoff: expected fixed, linear or exponential");
    s_fail("{\"id\":\"w\",\"kind\":\"linear\",\"steps\":[{\"id\":\"a\",\"retry\":{\"jitter\":2},"
           "\"action\":{\"kind\":\"delay\",\"ms\":1}}]}",
           "steps[0].retry.jitter: expected a number 0..1");
    s_fail("{\"id\":\"w\",\"kind\":\"linear\",\"steps\":[{\"id\":\"a\",\"action\":{\"kind\":"
           "\"emit\",\"event\":{\"path\":\"/x\"}}}]}",
           "steps[0].action.event: expected an event object with a \"type\"");
    s_fail("{\"id\":\"w\",\"kind\":\"linear\",\"steps\":[" STEP("a") "],\"join\":[" STEP("b")
           "]}",
           "join: only a parallel workflow has one");
    s_fail("{\"id\":\"w\",\"kind\":\"conditional\",\"steps\":[" STEP("a") "]}",
           "branches: missing");
    s_fail("{\"id\":\"w\",\"kind\":\"conditional\",\"branches\":[{\"steps\":[" STEP("a")
           "]},{\"steps\":[" STEP("b") "]}]}",
           "branches[0].when: missing (only the last branch may omit it)");
    s_fail("{\"id\":\"w\",\"kind\":\"conditional\",\"branches\":[{\"when\":{\"path\":\"input.x\","
           "\"op\":\"like\",\"value\":1},\"steps\":[" STEP("a") "]}]}",
           "branches[0].when.op: expected eq, ne");
    s_fail("{\"id\":\"w\",\"kind\":\"conditional\",\"branches\":[{\"when\":{\"path\":\"input.x\","
           "\"op\":\"gt\",\"value\":\"big\"},\"steps\":[" STEP("a") "]}]}",
           "branches[0].when.value: expected a number for gt");
    s_fail("{\"id\":\"w\",\"kind\":\"linear\",\"steps\":[" STEP("a") "],\"triggers\":[{\"kind\":"
           "\"cron\"}]}",
           "triggers[0].kind: expected pattern, event, state or manual");
    s_fail("{\"id\":\"w\",\"kind\":\"linear\",\"steps\":[" STEP("a") "],\"triggers\":[{\"kind\":"
           "\"state\",\"state_path\":\"d\",\"op\":\"gt\",\"value\":1,\"tolerance\":-1}]}",
           "triggers[0].tolerance: expected a number >= 0");
    s_fail("{\"id\":\"w\",\"kind\":\"linear\",\"steps\":[" STEP("a") "],\"triggers\":[{\"kind\":"
           "\"event\",\"event_type\":\"nope\"}]}",
           "triggers[0].event_type: missing or unknown event type");
}
END_TEST

START_TEST(t_state_machine_checks)
{
    /* a <-> b loop with no way out, though a terminal state exists */
    s_fail("{\"id\":\"w\",\"kind\":\"state_machine\",\"initial\":\"a\",\"states\":{"
           "\"a\":{\"steps\":[" STEP("x") "],\"transitions\":[{\"on\":\"success\",\"to\":\"b\"}]},"
           "\"b\":{\"transitions\":[{\"on\":\"success\",\"to\":\"a\"}]},"
           "\"done\":{\"terminal\":true}}}",
           "states: no terminal state is reachable from \"a\", \"b\" (a cycle or dead end "
           "without an exit)");
    /* a cycle with an exit is fine */
    struct au_workflow *w =
        s_ok("{\"id\":\"w\",\"kind\":\"state_machine\",\"initial\":\"a\",\"states\":{"
             "\"a\":{\"transitions\":[{\"on\":\"success\",\"to\":\"b\"}]},"
             "\"b\":{\"transitions\":[{\"on\":\"success\",\"to\":\"a\"},"
             "{\"on\":\"failure\",\"to\":\"done\"}]},"
             "\"done\":{\"terminal\":true}}}");
    au_workflow_unref(&w);
    s_fail("{\"id\":\"w\",\"kind\":\"state_machine\",\"initial\":\"a\",\"states\":{"
           "\"a\":{\"transitions\":[{\"on\":\"success\",\"to\":\"a\"}]}}}",
           "states: no terminal state");
    s_fail("{\"id\":\"w\",\"kind\":\"state_machine\",\"initial\":\"zz\",\"states\":{"
           "\"a\":{\"terminal\":true}}}",
           "initial: expected the name of a state");
    s_fail("{\"id\":\"w\",\"kind\":\"state_machine\",\"initial\":\"a\",\"states\":{"
           "\"a\":{\"transitions\":[{\"on\":\"success\",\"to\":\"nowhere\"}]},"
           "\"d\":{\"terminal\":true}}}",
           "states.a.transitions[0].to: expected the name of a state");
    s_fail("{\"id\":\"w\",\"kind\":\"state_machine\",\"initial\":\"a\",\"states\":{"
           "\"a\":{\"steps\":[" STEP("x") "]},\"d\":{\"terminal\":true}}}",
           "states.a.transitions: missing");
    s_fail("{\"id\":\"w\",\"kind\":\"state_machine\",\"initial\":\"a\",\"states\":{"
           "\"a\":{\"transitions\":[{\"on\":\"bored\",\"to\":\"d\"}]},\"d\":{\"terminal\":true}}}",
           "states.a.transitions[0].on: expected success, failure, event or timeout");
    s_fail("{\"id\":\"w\",\"kind\":\"state_machine\",\"initial\":\"a\",\"states\":{"
           "\"a\":{\"steps\":[" STEP("x") "],\"transitions\":[{\"on\":\"success\",\"to\":\"d\"}]},"
           "\"d\":{\"terminal\":true,\"steps\":[" STEP("x") "]}}}",
           "duplicate step id \"x\"");
    s_fail("{\"id\":\"w\",\"kind\":\"state_machine\",\"steps\":[" STEP("a") "]}",
           "steps: a state_machine workflow has its steps inside its states");
}
END_TEST

START_TEST(t_conditions)
{
    json_t *ctx = s_json("{\"input\":{\"size\":42,\"name\":\"report.pdf\",\"n\":\"7\","
                         "\"tags\":[\"a\",\"b\"],\"nil\":null},"
                         "\"steps\":{\"s1\":{\"status\":\"succeeded\",\"result\":{\"ok\":true}}}}");
    struct {
        const char *cond;
        bool want;
    } cases[] = {
        {"{\"path\":\"input.size\",\"op\":\"gt\",\"value\":40}", true},
        {"{\"path\":\"input.size\",\"op\":\"gt\",\"value\":42}", false},
        {"{\"path\":\"input.size\",\"op\":\"ge\",\"value\":42}", true},
        {"{\"path\":\"input.n\",\"op\":\"lt\",\"value\":8}", true},
        {"{\"path\":\"input.size\",\"op\":\"eq\",\"value\":42.0}", true},
        {"{\"path\":\"input.name\",\"op\":\"prefix\",\"value\":\"rep\"}", true},
        {"{\"path\":\"input.name\",\"op\":\"contains\",\"value\":\".pdf\"}", true},
        {"{\"path\":\"input.tags\",\"op\":\"contains\",\"value\":\"b\"}", true},
        {"{\"path\":\"input.tags.1\",\"op\":\"eq\",\"value\":\"b\"}", true},
        {"{\"path\":\"input.missing\",\"op\":\"ne\",\"value\":1}", true},
        {"{\"path\":\"input.missing\",\"op\":\"eq\",\"value\":1}", false},
        {"{\"path\":\"input.nil\",\"op\":\"exists\"}", false},
        {"{\"path\":\"steps.s1.result.ok\",\"op\":\"eq\",\"value\":true}", true},
        {"{\"all\":[{\"path\":\"input.size\",\"op\":\"gt\",\"value\":1},"
         "{\"not\":{\"path\":\"input.name\",\"op\":\"eq\",\"value\":\"x\"}}]}",
         true},
        {"{\"any\":[{\"path\":\"input.size\",\"op\":\"lt\",\"value\":1},"
         "{\"path\":\"input.name\",\"op\":\"eq\",\"value\":\"x\"}]}",
         false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *c = s_json(cases[i].cond);
        char err[256];
        ck_assert_msg(au_cond_check(c, "when", err, sizeof err) == 0, "%s: %s", cases[i].cond,
                      err);
        ck_assert_msg(au_cond_eval(c, ctx) == cases[i].want, "case %zu: %s", i, cases[i].cond);
        json_decref(c);
    }
    json_decref(ctx);
}
END_TEST

START_TEST(t_templates)
{
    json_t *ctx = s_json("{\"input\":{\"size\":42,\"cmd\":\"$(rm -rf /); `id` \\\"q\\\"\","
                         "\"obj\":{\"a\":[1,2]}}}");
    json_t *t = s_json("{\"whole\":\"{{input.size}}\",\"mixed\":\"n={{input.size}} c={{input.cmd}}"
                       "\",\"obj\":\"{{input.obj}}\",\"gone\":\"{{input.nothing}}\","
                       "\"text\":\"o={{input.obj}}|{{input.nothing}}|\",\"list\":[\"{{input.size}}\"]}");
    char err[256];
    ck_assert_int_eq(au_template_check(t, "body", err, sizeof err), 0);
    json_t *v = au_template_eval(t, ctx);
    ck_assert(json_is_integer(json_object_get(v, "whole")));
    ck_assert_int_eq(json_integer_value(json_object_get(v, "whole")), 42);
    ck_assert_str_eq(json_string_value(json_object_get(v, "mixed")),
                     "n=42 c=$(rm -rf /); `id` \"q\"");
    ck_assert(json_is_object(json_object_get(v, "obj")));
    ck_assert(json_is_null(json_object_get(v, "gone")));
    ck_assert_str_eq(json_string_value(json_object_get(v, "text")), "o={\"a\":[1,2]}||");
    ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(v, "list"), 0)), 42);
    json_decref(v);
    json_decref(t);
    json_decref(ctx);
}
END_TEST

#define HTTP_STEP(url)                                                                             \
    "{\"id\":\"w\",\"kind\":\"linear\",\"steps\":[{\"id\":\"h\",\"action\":{\"kind\":\"http\","    \
    "\"method\":\"GET\",\"url\":\"" url "\"}}]}"

/* An HTTP step goes where its definition says: templates may not fill the scheme, user, host
 * or port, and a resolved URL whose target moved (an event's "@host:port" turning the pinned
 * host into user information) is refused at run time. */
START_TEST(t_http_target_pinned)
{
    s_fail(HTTP_STEP("{{input.url}}"), "expected an http:// or https:// URL");
    s_fail(HTTP_STEP("http://{{input.host}}/x"), "not the host or port");
    s_fail(HTTP_STEP("http://127.0.0.1:{{input.port}}/x"), "not the host or port");
    s_fail(HTTP_STEP("http://alice:pw@127.0.0.1:1/x"), "user information");

    /* The repro: a template right after the port could become user information. */
    s_fail(HTTP_STEP("http://127.0.0.1:18584{{input.q}}"), "not the host or port");

    /* The run-time check stands on its own too (an action built without the parser). */
    struct au_act raw = {.kind = AU_ACT_HTTP, .method = "GET",
                         .url = "http://127.0.0.1:18584{{input.q}}"};
    char *url = NULL, target[256], err[512];
    json_t *ctx = s_json("{\"input\":{\"q\":\"@127.0.0.1:18580/v1/stats\"}}");
    int rc = au_http_resolve(&raw, ctx, &url, target, sizeof target, err, sizeof err);
    ck_assert_msg(rc == -EPERM || rc == -EINVAL, "expected a refusal, got %d", rc);
    ck_assert_ptr_null(url);
    json_decref(ctx);
    /* the run-time pin itself: a resolved URL whose host moved is refused */
    struct au_act moved = {.kind = AU_ACT_HTTP, .method = "GET", .url = "http://{{input.h}}/"};
    ctx = s_json("{\"input\":{\"h\":\"a\"}}");
    ck_assert_int_eq(au_http_resolve(&moved, ctx, &url, target, sizeof target, err, sizeof err),
                     -EPERM);
    ck_assert_msg(strstr(err, "changed where the request goes") != NULL, "error: %s", err);
    ck_assert_ptr_null(url);
    json_decref(ctx);

    struct au_workflow *w = s_ok(HTTP_STEP("http://127.0.0.1:18584/v1/{{input.q}}"));
    const struct au_act *a = &w->steps.v[0].act;
    /* values are percent-encoded: one segment, never a new path, query or user part */
    ctx = s_json("{\"input\":{\"q\":\"items?id=7&a=../b c\"}}");
    ck_assert_int_eq(au_http_resolve(a, ctx, &url, target, sizeof target, err, sizeof err), 0);
    ck_assert_str_eq(url, "http://127.0.0.1:18584/v1/items%3Fid%3D7%26a%3D..%2Fb%20c");
    free(url);
    json_decref(ctx);
    ctx = s_json("{\"input\":{\"q\":\"@127.0.0.1:18580/v1/stats\"}}"); /* a path, same host */
    ck_assert_int_eq(au_http_resolve(a, ctx, &url, target, sizeof target, err, sizeof err), 0);
    ck_assert_str_eq(target, "http:127.0.0.1:18584");
    ck_assert_str_eq(url, "http://127.0.0.1:18584/v1/%40127.0.0.1%3A18580%2Fv1%2Fstats");
    free(url);
    json_decref(ctx);
    au_workflow_unref(&w);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("au_workflow");
    struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"kinds_accepted", t_kinds_accepted},
        {"bad_definitions", t_bad_definitions},
        {"state_machine_checks", t_state_machine_checks},
        {"conditions", t_conditions},
        {"templates", t_templates},
        {"http_target_pinned", t_http_target_pinned},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_test(tc, cases[i].test);
        suite_add_tcase(s, tc);
    }
    return au_run_suite(s);
}
