/* SPDX-License-Identifier: Apache-2.0 */
/* au_exec with real processes: retries counted and spaced per policy (the recorded delays, not
 * wall times), compensation in reverse order of completion, a hanging script killed with its
 * whole process group at the timeout, parameters with shell metacharacters reaching scripts
 * verbatim, parallel fan-out and join, conditional branches, state machines driven by events,
 * circuit breakers opening and recovering, queueing by priority and per tenant instead of
 * dropping, a full queue refusing and counting, and the journal after an interruption. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "au_exec.h"
#include "au_test.h"
#include "vx_clock.h"
#include "vx_test.h"

struct s_env {
    au_breakers_t *br;
    au_exec_t *x;
    au_store_t *st;
    char *dir;
};

/* A store of the test's own in dir/store (not fsynced: the tests kill no machine). */
static au_store_t *
s_store(const char *dir, uint32_t max_history)
{
    char path[512];
    snprintf(path, sizeof path, "%s/store", dir);
    struct au_store_opts so = {.dir = path, .map_bytes = 64u << 20, .no_sync = true,
                               .max_history = max_history};
    au_store_t *st = NULL;
    char err[512] = "";
    ck_assert_msg(au_store_open(&st, &so, err, sizeof err) == 0, "store: %s", err);
    return st;
}

static json_t *
s_list(au_exec_t *x, const char *tenant)
{
    struct au_store_query q = {.tenant = tenant, .limit = 100};
    char err[256];
    json_t *l = au_exec_list(x, &q, err, sizeof err);
    ck_assert_msg(l != NULL, "%s", err);
    return l;
}

static json_t *
s_json(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
    ck_assert_msg(j != NULL, "test JSON: %s: %s", je.text, text);
    return j;
}

static struct au_workflow *
s_wf(const char *tenant, const char *text)
{
    json_t *j = s_json(text);
    struct au_workflow *w = NULL;
    char err[1024] = "";
    int rc = au_workflow_parse(j, tenant, &w, err, sizeof err);
    json_decref(j);
    ck_assert_msg(rc == 0, "refused: %s", err);
    return w;
}

/* Breakers open after 3 failures in a row (1000 with many_failures) and cool down in 2 s:
 * long enough that a loaded machine does not reach half-open between two quick retries. */
static void
s_start_br(struct s_env *env, struct au_exec_opts o, bool many_failures)
{
    env->dir = vt_tmpdir();
    env->br = au_breakers_new(many_failures ? 1000 : 3, 2000, NULL);
    o.breakers = env->br;
    if (o.max_concurrent == 0) {
        o.max_concurrent = 4;
    }
    if (o.max_queue == 0) {
        o.max_queue = 100;
    }
    if (o.tenant_concurrency == 0) {
        o.tenant_concurrency = 4;
    }
    if (o.max_history == 0) {
        o.max_history = 100;
    }
    env->st = s_store(env->dir, o.max_history);
    o.store = env->st;
    env->x = au_exec_new(&o);
}

static void
s_start(struct s_env *env, struct au_exec_opts o)
{
    s_start_br(env, o, true);
}

static void
s_stop(struct s_env *env)
{
    au_exec_destroy(&env->x);
    au_breakers_destroy(&env->br);
    au_store_close(&env->st);
    free(env->dir);
}

static struct au_exec_opts
s_opts(void)
{
    struct au_exec_opts o = {.retries = true, .compensation = true};
    return o;
}

/* Submits and waits for the execution to finish; returns its record. */
static json_t *
s_run(struct s_env *env, struct au_workflow *w, const char *input)
{
    json_t *in = input ? s_json(input) : NULL;
    char id[AU_EXEC_ID_LEN];
    ck_assert_int_eq(au_exec_submit(env->x, w, in, NULL, id), 0);
    json_decref(in);
    ck_assert(au_exec_idle(env->x, 60000));
    json_t *r = au_exec_get(env->x, w->tenant, id);
    ck_assert_ptr_nonnull(r);
    return r;
}

static const char *
s_status(json_t *r)
{
    return json_string_value(json_object_get(r, "status"));
}

static json_t *
s_step_rec(json_t *r, const char *id)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(r, "steps"), i, s) {
        if (strcmp(json_string_value(json_object_get(s, "id")), id) == 0) {
            return s;
        }
    }
    ck_abort_msg("no step %s in the record", id);
    return NULL;
}

static char *
s_read(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return strdup("");
    }
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* ---- retries ---------------------------------------------------------------------------------- */

static void
s_check_delays(struct s_env *env, const char *backoff, const long long *want, size_t n)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"id\":\"r\",\"kind\":\"linear\",\"steps\":[{\"id\":\"s\",\"retry\":{\"max_retries\":"
             "%zu,\"backoff\":\"%s\",\"base_delay_ms\":10,\"max_delay_ms\":35},\"action\":{\"kind\":"
             "\"script\",\"interpreter\":\"bash\",\"content\":\"echo \\\"try $VX_STEP_ID\\\" >&2; "
             "exit 4\"}}]}",
             n - 1, backoff);
    struct au_workflow *w = s_wf("t", text);
    json_t *r = s_run(env, w, NULL);
    ck_assert_str_eq(s_status(r), "failed");
    json_t *att = json_object_get(s_step_rec(r, "s"), "attempts");
    ck_assert_uint_eq(json_array_size(att), n);
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_array_get(att, i);
        ck_assert_int_eq(json_integer_value(json_object_get(a, "attempt")), (long long)i + 1);
        ck_assert_int_eq(json_integer_value(json_object_get(a, "delay_ms")), want[i]);
        ck_assert_str_eq(json_string_value(json_object_get(a, "status")), "failed");
        ck_assert_str_eq(json_string_value(json_object_get(a, "error")), "exit status 4: try s ");
    }
    ck_assert_str_eq(json_string_value(json_object_get(r, "error")),
                     "step s: exit status 4: try s ");
    json_decref(r);
    au_workflow_unref(&w);
}

START_TEST(t_retry_policies)
{
    struct s_env env;
    s_start(&env, s_opts());
    const long long fixed[] = {0, 10, 10, 10};
    const long long linear[] = {0, 10, 20, 30, 35}; /* capped at max_delay_ms */
    const long long expo[] = {0, 10, 20, 35};
    s_check_delays(&env, "fixed", fixed, 4);
    s_check_delays(&env, "linear", linear, 5);
    s_check_delays(&env, "exponential", expo, 4);
    s_stop(&env);
}
END_TEST

START_TEST(t_retry_until_success_and_jitter)
{
    struct s_env env;
    s_start(&env, s_opts());
    char text[2048];
    /* Fails twice, then succeeds: a counter in a file the script owns. */
    snprintf(text, sizeof text,
             "{\"id\":\"r\",\"kind\":\"linear\",\"steps\":[{\"id\":\"s\",\"retry\":{\"max_retries\":"
             "5,\"backoff\":\"exponential\",\"base_delay_ms\":40,\"jitter\":0.5},\"action\":"
             "{\"kind\":\"script\",\"interpreter\":\"bash\",\"args\":[\"%s/count\"],\"content\":"
             "\"n=$(cat \\\"$1\\\" 2>/dev/null || echo 0); n=$((n+1)); echo $n > \\\"$1\\\"; "
             "[ $n -ge 3 ] || exit 1; echo '{\\\"tries\\\":'$n'}'\"}}]}",
             env.dir);
    struct au_workflow *w = s_wf("t", text);
    json_t *r = s_run(&env, w, NULL);
    ck_assert_str_eq(s_status(r), "succeeded");
    json_t *s = s_step_rec(r, "s");
    json_t *att = json_object_get(s, "attempts");
    ck_assert_uint_eq(json_array_size(att), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(s, "result"), "tries")),
                     3);
    /* jitter 0.5: retry n waits base*2^(n-1) scaled into (1-0.5, 1]. */
    long long d1 = json_integer_value(json_object_get(json_array_get(att, 1), "delay_ms"));
    long long d2 = json_integer_value(json_object_get(json_array_get(att, 2), "delay_ms"));
    ck_assert(d1 >= 20 && d1 <= 40);
    ck_assert(d2 >= 40 && d2 <= 80);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(att, 2), "status")),
                     "succeeded");
    json_decref(r);
    au_workflow_unref(&w);
    s_stop(&env);
}
END_TEST

START_TEST(t_retries_disabled)
{
    struct s_env env;
    struct au_exec_opts o = s_opts();
    o.retries = false;
    s_start(&env, o);
    struct au_workflow *w =
        s_wf("t", "{\"id\":\"r\",\"kind\":\"linear\",\"steps\":[{\"id\":\"s\",\"retry\":"
                  "{\"max_retries\":3,\"base_delay_ms\":1},\"action\":{\"kind\":\"script\","
                  "\"interpreter\":\"bash\",\"content\":\"exit 1\"}}]}");
    json_t *r = s_run(&env, w, NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(s_step_rec(r, "s"), "attempts")), 1);
    json_decref(r);
    au_workflow_unref(&w);
    s_stop(&env);
}
END_TEST

/* ---- compensation ------------------------------------------------------------------------------ */

START_TEST(t_compensation_reverse)
{
    struct s_env env;
    s_start(&env, s_opts());
    char text[4096];
#define COMP(n)                                                                                    \
    "{\"id\":\"" n "\",\"action\":{\"kind\":\"script\",\"interpreter\":\"bash\",\"content\":"      \
    "\"echo do-" n " >> \\\"$1\\\"\",\"args\":[\"{{input.log}}\"]},\"compensate\":{\"kind\":"     \
    "\"script\",\"interpreter\":\"bash\",\"content\":\"echo undo-" n " >> \\\"$1\\\"\",\"args\":"  \
    "[\"{{input.log}}\"]}}"
    snprintf(text, sizeof text,
             "{\"id\":\"c\",\"kind\":\"linear\",\"steps\":[" COMP("a") "," COMP("b")
             ",{\"id\":\"plain\",\"action\":{\"kind\":\"delay\",\"ms\":1}}," COMP("c")
             ",{\"id\":\"boom\",\"action\":{\"kind\":\"script\",\"interpreter\":\"python\","
             "\"content\":\"import sys; sys.exit(2)\"}}," COMP("never") "]}");
    struct au_workflow *w = s_wf("t", text);
    char input[600];
    snprintf(input, sizeof input, "{\"log\":\"%s/log\"}", env.dir);
    json_t *r = s_run(&env, w, input);
    ck_assert_str_eq(s_status(r), "failed");
    char path[512];
    snprintf(path, sizeof path, "%s/log", env.dir);
    char *log = s_read(path);
    ck_assert_str_eq(log, "do-a\ndo-b\ndo-c\nundo-c\nundo-b\nundo-a\n");
    free(log);
    json_t *comp = json_object_get(r, "compensations");
    ck_assert_uint_eq(json_array_size(comp), 3);
    const char *order[] = {"c", "b", "a"};
    for (size_t i = 0; i < 3; i++) {
        json_t *c = json_array_get(comp, i);
        ck_assert_str_eq(json_string_value(json_object_get(c, "step")), order[i]);
        ck_assert_str_eq(json_string_value(json_object_get(c, "status")), "succeeded");
    }
    ck_assert_str_eq(json_string_value(json_object_get(s_step_rec(r, "boom"), "status")),
                     "failed");
    /* the step after the failure never ran */
    ck_assert_uint_eq(json_array_size(json_object_get(r, "steps")), 5);
    json_decref(r);
    au_workflow_unref(&w);
    s_stop(&env);
}
END_TEST

/* ---- timeouts ---------------------------------------------------------------------------------- */

/* Gone: no such process, or a zombie nobody has reaped yet. */
static bool
s_gone(pid_t pid)
{
    if (kill(pid, 0) < 0) {
        return errno == ESRCH;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    char *st = s_read(path);
    const char *p = strrchr(st, ')');
    bool zombie = p != NULL && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
    free(st);
    return zombie;
}

START_TEST(t_timeout_kills_group)
{
    struct s_env env;
    s_start(&env, s_opts());
    struct au_workflow *w =
        s_wf("t", "{\"id\":\"h\",\"kind\":\"linear\",\"steps\":[{\"id\":\"hang\",\"timeout_ms\":"
                  "2000,\"action\":{\"kind\":\"script\",\"interpreter\":\"bash\",\"args\":"
                  "[\"{{input.dir}}\"],\"content\":\"echo $$ > \\\"$1/leader\\\"; sleep 600 & "
                  "echo $! > \\\"$1/child\\\"; wait\"}}]}");
    char input[600];
    snprintf(input, sizeof input, "{\"dir\":\"%s\"}", env.dir);
    json_t *r = s_run(&env, w, input);
    ck_assert_str_eq(s_status(r), "failed");
    json_t *a = json_array_get(json_object_get(s_step_rec(r, "hang"), "attempts"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(a, "status")), "timed_out");
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(a, "error")),
                                 "timed out after 2000 ms; process group"));
    char path[512];
    snprintf(path, sizeof path, "%s/leader", env.dir);
    char *leader = s_read(path);
    snprintf(path, sizeof path, "%s/child", env.dir);
    char *child = s_read(path);
    pid_t lp = (pid_t)atoi(leader), cp = (pid_t)atoi(child);
    ck_assert_int_gt(lp, 1);
    ck_assert_int_gt(cp, 1);
    ck_assert_int_eq(lp, json_integer_value(json_object_get(a, "pid")));
    /* The leader was reaped by the executor; the background child went with its group. */
    for (int i = 0; i < 500 && !(s_gone(lp) && s_gone(cp)); i++) {
        usleep(10000);
    }
    ck_assert_msg(s_gone(lp), "script %d still runs", (int)lp);
    ck_assert_msg(s_gone(cp), "child %d of the script still runs", (int)cp);
    free(leader);
    free(child);
    json_decref(r);
    au_workflow_unref(&w);
    s_stop(&env);
}
END_TEST

/* ---- parameters -------------------------------------------------------------------------------- */

START_TEST(t_metacharacters_verbatim)
{
    struct s_env env;
    s_start(&env, s_opts());
    char input[2048];
    snprintf(input, sizeof input,
             "{\"evil\":\"$(touch %s/pwned1); `touch %s/pwned2`; rm -rf /nonexistent || echo \\\"'"
             "\\n* ?  \\\\ ${HOME} $1 && exit 9 |\",\"tail\":\"%s/pwned3\"}",
             env.dir, env.dir, env.dir);
    struct au_workflow *w = s_wf(
        "t", "{\"id\":\"m\",\"kind\":\"linear\",\"steps\":["
             "{\"id\":\"sh\",\"action\":{\"kind\":\"script\",\"interpreter\":\"bash\",\"args\":"
             "[\"{{input.evil}}\",\"x;touch {{input.tail}}\"],\"env\":{\"EVIL\":\"{{input.evil}}\"},"
             "\"content\":\"python3 -c 'import json,os,sys; print(json.dumps({\\\"a1\\\":sys.argv[1],"
             "\\\"a2\\\":sys.argv[2],\\\"env\\\":os.environ[\\\"EVIL\\\"],\\\"in\\\":json.loads("
             "os.environ[\\\"VX_INPUT\\\"])[\\\"evil\\\"]}))' \\\"$1\\\" \\\"$2\\\"\"}},"
             "{\"id\":\"py\",\"action\":{\"kind\":\"script\",\"interpreter\":\"python\",\"args\":"
             "[\"{{input.evil}}\"],\"content\":\"import json,sys; print(json.dumps({'a1': "
             "sys.argv[1]}))\"}}]}");
    json_t *r = s_run(&env, w, input);
    ck_assert_msg(strcmp(s_status(r), "succeeded") == 0, "status %s: %s", s_status(r),
                  json_string_value(json_object_get(r, "error")));
    json_t *in = s_json(input);
    const char *evil = json_string_value(json_object_get(in, "evil"));
    json_t *res = json_object_get(s_step_rec(r, "sh"), "result");
    ck_assert_str_eq(json_string_value(json_object_get(res, "a1")), evil);
    ck_assert_str_eq(json_string_value(json_object_get(res, "env")), evil);
    ck_assert_str_eq(json_string_value(json_object_get(res, "in")), evil);
    char want2[600];
    snprintf(want2, sizeof want2, "x;touch %s/pwned3", env.dir);
    ck_assert_str_eq(json_string_value(json_object_get(res, "a2")), want2);
    res = json_object_get(s_step_rec(r, "py"), "result");
    ck_assert_str_eq(json_string_value(json_object_get(res, "a1")), evil);
    for (int i = 1; i <= 3; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/pwned%d", env.dir, i);
        ck_assert_msg(access(p, F_OK) != 0, "%s exists: a parameter was executed", p);
    }
    json_decref(in);
    json_decref(r);
    au_workflow_unref(&w);
    s_stop(&env);
}
END_TEST

START_TEST(t_bad_stdout)
{
    struct s_env env;
    s_start(&env, s_opts());
    struct au_workflow *w =
        s_wf("t", "{\"id\":\"b\",\"kind\":\"linear\",\"steps\":[{\"id\":\"s\",\"action\":"
                  "{\"kind\":\"script\",\"interpreter\":\"bash\",\"content\":\"echo not json\"}}]}");
    json_t *r = s_run(&env, w, NULL);
    ck_assert_str_eq(s_status(r), "failed");
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(r, "error")),
                                 "stdout is not JSON"));
    json_decref(r);
    au_workflow_unref(&w);
    s_stop(&env);
}
END_TEST

/* ---- kinds ------------------------------------------------------------------------------------- */

START_TEST(t_parallel_join)
{
    struct s_env env;
    s_start(&env, s_opts());
    char text[4096];
#define TOUCH(n)                                                                                   \
    "{\"id\":\"" n "\",\"action\":{\"kind\":\"script\",\"interpreter\":\"bash\",\"args\":"         \
    "[\"{{input.dir}}\"],\"content\":\"sleep 0.2; touch \\\"$1/" n "\\\"; echo '\\\"" n "\\\"'\"}}"
    snprintf(text, sizeof text,
             "{\"id\":\"p\",\"kind\":\"parallel\",\"steps\":[" TOUCH("x") "," TOUCH("y") ","
             TOUCH("z") "],\"join\":[{\"id\":\"j\",\"action\":{\"kind\":\"script\",\"interpreter\":"
             "\"bash\",\"args\":[\"{{input.dir}}\",\"{{steps.x.result}}{{steps.y.result}}"
             "{{steps.z.result}}\"],\"content\":\"test -e \\\"$1/x\\\" -a -e \\\"$1/y\\\" -a -e "
             "\\\"$1/z\\\" && echo \\\"\\\\\\\"$2\\\\\\\"\\\"\"}}]}");
    struct au_workflow *w = s_wf("t", text);
    char input[600];
    snprintf(input, sizeof input, "{\"dir\":\"%s\"}", env.dir);
    json_t *r = s_run(&env, w, input);
    ck_assert_msg(strcmp(s_status(r), "succeeded") == 0, "%s",
                  json_string_value(json_object_get(r, "error")));
    ck_assert_str_eq(json_string_value(json_object_get(s_step_rec(r, "j"), "result")), "xyz");
    json_decref(r);
    au_workflow_unref(&w);
    s_stop(&env);
}
END_TEST

START_TEST(t_conditional_branches)
{
    struct s_env env;
    s_start(&env, s_opts());
    struct au_workflow *w = s_wf(
        "t", "{\"id\":\"c\",\"kind\":\"conditional\",\"steps\":[{\"id\":\"probe\",\"action\":"
             "{\"kind\":\"script\",\"interpreter\":\"bash\",\"args\":[\"{{input.usage}}\"],"
             "\"content\":\"echo \\\"{\\\\\\\"usage\\\\\\\": $1}\\\"\"}}],\"branches\":["
             "{\"when\":{\"path\":\"steps.probe.result.usage\",\"op\":\"gt\",\"value\":80},"
             "\"steps\":[{\"id\":\"clean\",\"action\":{\"kind\":\"set_state\",\"path\":\"x\","
             "\"value\":1}}]},{\"steps\":[{\"id\":\"idle\",\"action\":{\"kind\":\"delay\","
             "\"ms\":1}}]}]}");
    json_t *r = s_run(&env, w, "{\"usage\":93}");
    ck_assert_str_eq(s_status(r), "succeeded");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "branch")), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(r, "steps")), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(r, "steps"), 1),
                                                       "id")),
                     "clean");
    json_decref(r);
    r = s_run(&env, w, "{\"usage\":12}");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "branch")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(r, "steps"), 1),
                                                       "id")),
                     "idle");
    json_decref(r);
    au_workflow_unref(&w);
    s_stop(&env);
}
END_TEST

static bool
cb_waiting(void *arg)
{
    struct s_env *env = ((void **)arg)[0];
    const char *id = ((void **)arg)[1];
    json_t *r = au_exec_get(env->x, "t", id);
    const char *w = json_string_value(json_object_get(r, "waiting_in"));
    bool ok = w != NULL && strcmp(w, "await") == 0; /* set once events are listened for */
    json_decref(r);
    return ok;
}

START_TEST(t_state_machine_events)
{
    struct s_env env;
    s_start(&env, s_opts());
    struct au_workflow *w = s_wf(
        "t", "{\"id\":\"sm\",\"kind\":\"state_machine\",\"initial\":\"check\",\"states\":{"
             "\"check\":{\"steps\":[{\"id\":\"c\",\"action\":{\"kind\":\"script\",\"interpreter\":"
             "\"bash\",\"args\":[\"{{input.ok}}\"],\"content\":\"[ \\\"$1\\\" = yes ]\"}}],"
             "\"transitions\":[{\"on\":\"success\",\"to\":\"await\"},{\"on\":\"failure\",\"to\":"
             "\"rejected\"}]},"
             "\"await\":{\"wait_ms\":60000,\"transitions\":[{\"on\":\"event\",\"event_type\":"
             "\"custom\",\"custom_type\":\"approved\",\"to\":\"done\"},{\"on\":\"event\","
             "\"event_type\":\"custom\",\"custom_type\":\"denied\",\"to\":\"rejected\"}]},"
             "\"done\":{\"terminal\":true},\"rejected\":{\"terminal\":true,\"outcome\":\"failed\"}}}");
    /* a failed step takes the failure transition */
    json_t *r = s_run(&env, w, "{\"ok\":\"no\"}");
    ck_assert_str_eq(s_status(r), "failed");
    json_t *st = json_object_get(r, "states");
    ck_assert_uint_eq(json_array_size(st), 2);
    ck_assert_str_eq(json_string_value(json_array_get(st, 1)), "rejected");
    json_decref(r);
    /* success waits for an event; an unrelated one does nothing, "approved" moves on */
    json_t *in = s_json("{\"ok\":\"yes\"}");
    char id[AU_EXEC_ID_LEN];
    ck_assert_int_eq(au_exec_submit(env.x, w, in, NULL, id), 0);
    json_decref(in);
    void *args[2] = {&env, id};
    ck_assert(vt_wait_until(cb_waiting, args, 30000));
    struct vt_tev ev;
    vt_tev_init(&ev, "custom", "/x");
    ev.ev.custom_type = (char *)"other";
    au_exec_event(env.x, &ev.ev);
    ev.ev.custom_type = (char *)"approved";
    au_exec_event(env.x, &ev.ev);
    ck_assert(au_exec_idle(env.x, 30000));
    r = au_exec_get(env.x, "t", id);
    ck_assert_str_eq(s_status(r), "succeeded");
    st = json_object_get(r, "states");
    ck_assert_uint_eq(json_array_size(st), 3);
    ck_assert_str_eq(json_string_value(json_array_get(st, 2)), "done");
    json_decref(r);
    au_workflow_unref(&w);
    s_stop(&env);
}
END_TEST

/* ---- circuit breakers -------------------------------------------------------------------------- */

START_TEST(t_breaker_states)
{
    au_breakers_t *b = au_breakers_new(3, 1000, NULL);
    const char *t = "http:127.0.0.1:9";
    uint64_t now = MS(1);
    for (int i = 0; i < 3; i++) {
        ck_assert(au_breaker_allow(b, t, now));
        ck_assert_int_eq(au_breaker_state(b, t, now), AU_BREAKER_CLOSED);
        au_breaker_done(b, t, false, now);
    }
    ck_assert_int_eq(au_breaker_state(b, t, now), AU_BREAKER_OPEN);
    ck_assert(!au_breaker_allow(b, t, now + MS(999)));
    /* after the cool-down: one probe at a time */
    ck_assert_int_eq(au_breaker_state(b, t, now + MS(1000)), AU_BREAKER_HALF_OPEN);
    ck_assert(au_breaker_allow(b, t, now + MS(1000)));
    ck_assert(!au_breaker_allow(b, t, now + MS(1001)));
    au_breaker_done(b, t, false, now + MS(1002)); /* the probe fails: open again */
    ck_assert_int_eq(au_breaker_state(b, t, now + MS(1500)), AU_BREAKER_OPEN);
    ck_assert(au_breaker_allow(b, t, now + MS(2002)));
    au_breaker_done(b, t, true, now + MS(2003)); /* the probe succeeds: closed */
    ck_assert_int_eq(au_breaker_state(b, t, now + MS(2003)), AU_BREAKER_CLOSED);
    /* a success resets the count of failures in a row */
    au_breaker_done(b, t, false, now + MS(2004));
    au_breaker_done(b, t, false, now + MS(2005));
    au_breaker_done(b, t, true, now + MS(2006));
    au_breaker_done(b, t, false, now + MS(2007));
    ck_assert_int_eq(au_breaker_state(b, t, now + MS(2008)), AU_BREAKER_CLOSED);
    json_t *j = au_breakers_json(b, now + MS(2008));
    json_t *e = json_array_get(json_object_get(j, "breakers"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(e, "target")), t);
    ck_assert_int_eq(json_integer_value(json_object_get(e, "opens")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(e, "rejected")), 2);
    json_decref(j);
    au_breakers_destroy(&b);
    ck_assert_ptr_null(b);
}
END_TEST

struct s_half {
    au_breakers_t *b;
    const char *t;
};

static bool
cb_half_open(void *arg)
{
    struct s_half *h = arg;
    return au_breaker_state(h->b, h->t, vx_mono_ns()) == AU_BREAKER_HALF_OPEN;
}

START_TEST(t_breaker_in_executor)
{
    struct s_env env;
    struct au_exec_opts o = s_opts();
    s_start_br(&env, o, false); /* threshold 3, cool-down 2 s */
    char text[2048];
    snprintf(text, sizeof text,
             "{\"id\":\"b\",\"kind\":\"linear\",\"steps\":[{\"id\":\"s\",\"retry\":{\"max_retries\":"
             "4,\"base_delay_ms\":1},\"action\":{\"kind\":\"script\",\"interpreter\":\"bash\","
             "\"path\":\"%s/step.sh\"}}]}",
             env.dir);
    char path[512], open_err[600];
    snprintf(path, sizeof path, "%s/step.sh", env.dir);
    snprintf(open_err, sizeof open_err, "circuit open for script:%s", path);
    ck_assert_int_eq(vt_write_file(path, "exit 1\n"), 0);
    struct au_workflow *w = s_wf("t", text);
    json_t *r = s_run(&env, w, NULL);
    json_t *att = json_object_get(s_step_rec(r, "s"), "attempts");
    ck_assert_uint_eq(json_array_size(att), 5);
    for (size_t i = 0; i < 5; i++) {
        const char *err = json_string_value(json_object_get(json_array_get(att, i), "error"));
        if (i < 3) {
            ck_assert_str_eq(err, "exit status 1: ");
        } else {
            ck_assert_str_eq(err, open_err);
        }
    }
    json_decref(r);
    /* the target recovers; after the cool-down the probe closes the breaker */
    ck_assert_int_eq(vt_write_file(path, "echo '{\"ok\":1}'\n"), 0);
    char target[600];
    snprintf(target, sizeof target, "script:%s", path);
    struct s_half h = {env.br, target};
    ck_assert(vt_wait_until(cb_half_open, &h, 30000));
    r = s_run(&env, w, NULL);
    ck_assert_str_eq(s_status(r), "succeeded");
    ck_assert_int_eq(au_breaker_state(env.br, target, vx_mono_ns()), AU_BREAKER_CLOSED);
    json_decref(r);
    au_workflow_unref(&w);
    s_stop(&env);
}
END_TEST

/* ---- limits ------------------------------------------------------------------------------------ */

static struct au_workflow *
s_blocker(const char *tenant, const char *id, int priority, const char *dir)
{
    char text[2048];
    snprintf(text, sizeof text,
             "{\"id\":\"%s\",\"kind\":\"linear\",\"priority\":%d,\"steps\":[{\"id\":\"s\","
             "\"action\":{\"kind\":\"script\",\"interpreter\":\"bash\",\"args\":[\"%s\"],"
             "\"content\":\"while [ ! -e \\\"$1/go\\\" ]; do sleep 0.02; done; "
             "echo %s >> \\\"$1/order\\\"\"}}]}",
             id, priority, dir, id);
    return s_wf(tenant, text);
}

struct s_wait_status {
    au_exec_t *x;
    const char *tenant;
    const char *id;
    const char *status;
};

static bool
cb_status(void *arg)
{
    struct s_wait_status *w = arg;
    json_t *r = au_exec_get(w->x, w->tenant, w->id);
    bool ok = r && strcmp(s_status(r), w->status) == 0;
    json_decref(r);
    return ok;
}

static const char *
s_status_of(au_exec_t *x, const char *tenant, const char *id, char *buf, size_t len)
{
    json_t *r = au_exec_get(x, tenant, id);
    snprintf(buf, len, "%s", r ? s_status(r) : "(none)");
    json_decref(r);
    return buf;
}

START_TEST(t_queue_priority_and_bound)
{
    struct s_env env;
    struct au_exec_opts o = s_opts();
    o.max_concurrent = 1;
    o.max_queue = 3;
    s_start(&env, o);
    struct au_workflow *first = s_blocker("t", "first", 5, env.dir);
    struct au_workflow *low = s_blocker("t", "low", 1, env.dir);
    struct au_workflow *high = s_blocker("t", "high", 9, env.dir);
    char id0[AU_EXEC_ID_LEN], id1[AU_EXEC_ID_LEN], id2[AU_EXEC_ID_LEN], id3[AU_EXEC_ID_LEN],
        id4[AU_EXEC_ID_LEN];
    ck_assert_int_eq(au_exec_submit(env.x, first, NULL, NULL, id0), 0);
    struct s_wait_status ws = {env.x, "t", id0, "running"};
    ck_assert(vt_wait_until(cb_status, &ws, 30000));
    ck_assert_int_eq(au_exec_submit(env.x, low, NULL, NULL, id1), 0);
    ck_assert_int_eq(au_exec_submit(env.x, low, NULL, NULL, id2), 0);
    ck_assert_int_eq(au_exec_submit(env.x, high, NULL, NULL, id3), 0);
    /* the queue holds 3: the fourth waiting one is refused and counted */
    ck_assert_int_eq(au_exec_submit(env.x, high, NULL, NULL, id4), -EAGAIN);
    json_t *st = au_exec_stats(env.x);
    ck_assert_int_eq(json_integer_value(json_object_get(st, "rejected")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(st, "queued")), 3);
    json_decref(st);
    char b[32];
    ck_assert_str_eq(s_status_of(env.x, "t", id3, b, sizeof b), "queued");
    char go[512];
    snprintf(go, sizeof go, "%s/go", env.dir);
    ck_assert_int_eq(vt_write_file(go, ""), 0);
    ck_assert(au_exec_idle(env.x, 60000));
    char path[512];
    snprintf(path, sizeof path, "%s/order", env.dir);
    char *order = s_read(path);
    ck_assert_str_eq(order, "first\nhigh\nlow\nlow\n"); /* queued, not dropped; by priority */
    free(order);
    const char *ids[] = {id0, id1, id2, id3};
    for (int i = 0; i < 4; i++) {
        ck_assert_str_eq(s_status_of(env.x, "t", ids[i], b, sizeof b), "succeeded");
    }
    au_workflow_unref(&first);
    au_workflow_unref(&low);
    au_workflow_unref(&high);
    s_stop(&env);
}
END_TEST

START_TEST(t_tenant_concurrency)
{
    struct s_env env;
    struct au_exec_opts o = s_opts();
    o.max_concurrent = 4;
    o.tenant_concurrency = 1;
    s_start(&env, o);
    struct au_workflow *a = s_blocker("A", "a", 5, env.dir);
    struct au_workflow *bw = s_wf("B", "{\"id\":\"b\",\"kind\":\"linear\",\"steps\":[{\"id\":\"s\","
                                       "\"action\":{\"kind\":\"delay\",\"ms\":1}}]}");
    char a1[AU_EXEC_ID_LEN], a2[AU_EXEC_ID_LEN], b1[AU_EXEC_ID_LEN];
    ck_assert_int_eq(au_exec_submit(env.x, a, NULL, NULL, a1), 0);
    struct s_wait_status ws = {env.x, "A", a1, "running"};
    ck_assert(vt_wait_until(cb_status, &ws, 30000));
    ck_assert_int_eq(au_exec_submit(env.x, a, NULL, NULL, a2), 0);
    ck_assert_int_eq(au_exec_submit(env.x, bw, NULL, NULL, b1), 0);
    /* B is not held up by A's limit; A's second waits for its first */
    struct s_wait_status wb = {env.x, "B", b1, "succeeded"};
    ck_assert(vt_wait_until(cb_status, &wb, 30000));
    char b[32];
    ck_assert_str_eq(s_status_of(env.x, "A", a2, b, sizeof b), "queued");
    /* tenants see only their own executions */
    ck_assert_ptr_null(au_exec_get(env.x, "B", a1));
    json_t *l = s_list(env.x, "B");
    ck_assert_uint_eq(json_array_size(json_object_get(l, "executions")), 1);
    json_decref(l);
    char go[512];
    snprintf(go, sizeof go, "%s/go", env.dir);
    ck_assert_int_eq(vt_write_file(go, ""), 0);
    ck_assert(au_exec_idle(env.x, 60000));
    ck_assert_str_eq(s_status_of(env.x, "A", a2, b, sizeof b), "succeeded");
    au_workflow_unref(&a);
    au_workflow_unref(&bw);
    s_stop(&env);
}
END_TEST

START_TEST(t_tenant_rate_queues)
{
    struct s_env env;
    struct au_exec_opts o = s_opts();
    o.tenant_rate = 20; /* per second */
    o.tenant_burst = 1;
    s_start(&env, o);
    struct au_workflow *w = s_wf("t", "{\"id\":\"r\",\"kind\":\"linear\",\"steps\":[{\"id\":\"s\","
                                      "\"action\":{\"kind\":\"delay\",\"ms\":0}}]}");
    char ids[10][AU_EXEC_ID_LEN];
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(au_exec_submit(env.x, w, NULL, NULL, ids[i]), 0);
    }
    ck_assert(au_exec_idle(env.x, 60000));
    char b[32];
    for (int i = 0; i < 10; i++) {
        ck_assert_str_eq(s_status_of(env.x, "t", ids[i], b, sizeof b), "succeeded");
    }
    json_t *st = au_exec_stats(env.x);
    ck_assert_int_eq(json_integer_value(json_object_get(st, "rejected")), 0);
    json_decref(st);
    au_workflow_unref(&w);
    s_stop(&env);
}
END_TEST

START_TEST(t_history_bound)
{
    struct s_env env;
    struct au_exec_opts o = s_opts();
    o.max_history = 3;
    s_start(&env, o);
    struct au_workflow *w = s_wf("t", "{\"id\":\"h\",\"kind\":\"linear\",\"steps\":[{\"id\":\"s\","
                                      "\"action\":{\"kind\":\"delay\",\"ms\":0}}]}");
    for (int i = 0; i < 5; i++) {
        json_t *r = s_run(&env, w, NULL);
        json_decref(r);
    }
    json_t *l = s_list(env.x, "t");
    ck_assert_uint_eq(json_array_size(json_object_get(l, "executions")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(l, "evicted")), 2);
    json_decref(l);
    au_workflow_unref(&w);
    s_stop(&env);
}
END_TEST

/* ---- journal ----------------------------------------------------------------------------------- */

struct s_step_wait {
    au_exec_t *x;
    const char *id;
    const char *step;
};

static bool
cb_step_started(void *arg)
{
    struct s_step_wait *w = arg;
    json_t *r = au_exec_get(w->x, "t", w->id);
    bool ok = false;
    size_t i;
    json_t *st;
    json_array_foreach(json_object_get(r, "steps"), i, st) {
        ok = ok || strcmp(json_string_value(json_object_get(st, "id")), w->step) == 0;
    }
    json_decref(r);
    return ok;
}

START_TEST(t_journal_interrupted)
{
    struct s_env env;
    struct au_exec_opts o = s_opts();
    s_start(&env, o);
    au_exec_destroy(&env.x);
    o.breakers = env.br;
    o.max_concurrent = 2;
    o.max_queue = 10;
    o.tenant_concurrency = 2;
    o.max_history = 10;
    o.store = env.st;
    env.x = au_exec_new(&o);
    char text[2048];
    snprintf(text, sizeof text,
             "{\"id\":\"j\",\"kind\":\"linear\",\"steps\":[{\"id\":\"a\",\"action\":{\"kind\":"
             "\"delay\",\"ms\":0},\"compensate\":{\"kind\":\"script\",\"interpreter\":\"bash\","
             "\"content\":\"echo undo-a >> %s/log\"}},{\"id\":\"b\",\"action\":{\"kind\":\"script\","
             "\"interpreter\":\"bash\",\"content\":\"sleep 600\"}}]}",
             env.dir);
    struct au_workflow *w = s_wf("t", text);
    char id[AU_EXEC_ID_LEN];
    ck_assert_int_eq(au_exec_submit(env.x, w, NULL, NULL, id), 0);
    struct s_step_wait sw = {env.x, id, "b"};
    ck_assert(vt_wait_until(cb_step_started, &sw, 30000)); /* a completed, b runs */
    au_exec_destroy(&env.x); /* a shutdown: b is killed, the journal stays */
    env.x = au_exec_new(&o);
    ck_assert_int_eq(au_exec_recover(env.x), 1);
    ck_assert(au_exec_idle(env.x, 60000));
    json_t *r = au_exec_get(env.x, "t", id);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(s_status(r), "interrupted");
    ck_assert(json_is_true(json_object_get(r, "recovered")));
    json_t *comp = json_object_get(r, "compensations");
    ck_assert_uint_eq(json_array_size(comp), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(comp, 0), "step")), "a");
    char path[512];
    snprintf(path, sizeof path, "%s/log", env.dir);
    char *log = s_read(path);
    ck_assert_str_eq(log, "undo-a\n");
    free(log);
    json_decref(r);
    /* the entry is gone: a second start recovers nothing */
    au_exec_destroy(&env.x);
    env.x = au_exec_new(&o);
    ck_assert_int_eq(au_exec_recover(env.x), 0);
    au_workflow_unref(&w);
    s_stop(&env);
}
END_TEST

/* Finished executions leave no journal entry, however fast they finish. */
START_TEST(t_journal_clean)
{
    struct s_env env;
    struct au_exec_opts o = s_opts();
    s_start(&env, o);
    au_exec_destroy(&env.x);
    o.breakers = env.br;
    o.max_concurrent = 4;
    o.max_queue = 1000;
    o.tenant_concurrency = 4;
    o.max_history = 1000;
    o.store = env.st;
    env.x = au_exec_new(&o);
    struct au_workflow *w = s_wf("t", "{\"id\":\"f\",\"kind\":\"linear\",\"steps\":[{\"id\":\"s\","
                                      "\"action\":{\"kind\":\"delay\",\"ms\":0}}]}");
    for (int i = 0; i < 300; i++) {
        char id[AU_EXEC_ID_LEN];
        ck_assert_int_eq(au_exec_submit(env.x, w, NULL, NULL, id), 0);
    }
    ck_assert(au_exec_idle(env.x, 60000));
    au_exec_destroy(&env.x);
    env.x = au_exec_new(&o);
    ck_assert_int_eq(au_exec_recover(env.x), 0);
    au_workflow_unref(&w);
    s_stop(&env);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("au_exec");
    struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"retry_policies", t_retry_policies},
        {"retry_until_success_and_jitter", t_retry_until_success_and_jitter},
        {"retries_disabled", t_retries_disabled},
        {"compensation_reverse", t_compensation_reverse},
        {"timeout_kills_group", t_timeout_kills_group},
        {"metacharacters_verbatim", t_metacharacters_verbatim},
        {"bad_stdout", t_bad_stdout},
        {"parallel_join", t_parallel_join},
        {"conditional_branches", t_conditional_branches},
        {"state_machine_events", t_state_machine_events},
        {"breaker_states", t_breaker_states},
        {"breaker_in_executor", t_breaker_in_executor},
        {"queue_priority_and_bound", t_queue_priority_and_bound},
        {"tenant_concurrency", t_tenant_concurrency},
        {"tenant_rate_queues", t_tenant_rate_queues},
        {"history_bound", t_history_bound},
        {"journal_interrupted", t_journal_interrupted},
        {"journal_clean", t_journal_clean},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_test(tc, cases[i].test);
        tcase_set_timeout(tc, 120);
        suite_add_tcase(s, tc);
    }
    return au_run_suite(s);
}
