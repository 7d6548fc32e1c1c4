/* SPDX-License-Identifier: Apache-2.0 */
/* Executions as transactions over the state, with au_exec on a real LMDB store and real
 * processes: writes invisible until the execution succeeds and then all visible in one commit,
 * read-your-own-writes over a snapshot that others' later commits do not change, writes of a
 * failed execution discarded, two executions writing one key (first committer wins; the other
 * fails and is compensated, or runs again with on_conflict retry), and an interrupted
 * execution of idempotent steps resumed after its last completed step with its writes. */
#include <check.h>
#include <sys/stat.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "au_exec.h"
#include "au_test.h"
#include "vx_test.h"

struct s_env {
    au_breakers_t *br;
    au_exec_t *x;
    au_store_t *st;
    struct au_exec_opts o;
    char *dir;
};

static json_t *
s_json(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
    ck_assert_msg(j != NULL, "test JSON: %s: %s", je.text, text);
    return j;
}

static struct au_workflow *
s_wf(const char *text)
{
    json_t *j = s_json(text);
    struct au_workflow *w = NULL;
    char err[1024] = "";
    int rc = au_workflow_parse(j, "t", &w, err, sizeof err);
    json_decref(j);
    ck_assert_msg(rc == 0, "refused: %s", err);
    return w;
}

static void
s_start(struct s_env *env)
{
    memset(env, 0, sizeof *env);
    env->dir = vt_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/store", env->dir);
    struct au_store_opts so = {.dir = path, .map_bytes = 64u << 20, .max_history = 100};
    char err[512] = "";
    ck_assert_msg(au_store_open(&env->st, &so, err, sizeof err) == 0, "%s", err);
    env->br = au_breakers_new(1000, 2000, NULL);
    env->o = (struct au_exec_opts){.max_concurrent = 4, .max_queue = 100,
                                   .tenant_concurrency = 4, .max_history = 100,
                                   .retries = true, .compensation = true, .store = env->st,
                                   .breakers = env->br};
    env->x = au_exec_new(&env->o);
}

static void
s_stop(struct s_env *env)
{
    au_exec_destroy(&env->x);
    au_breakers_destroy(&env->br);
    au_store_close(&env->st);
    free(env->dir);
}

static void
s_expect_state(struct s_env *env, const char *expected)
{
    char err[512] = "";
    json_t *v = au_store_state_json(env->st, "t", NULL, err, sizeof err);
    ck_assert_msg(v != NULL, "%s", err);
    json_t *e = s_json(expected);
    char *got = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_msg(json_equal(v, e), "state: expected %s, got %s", expected, got);
    free(got);
    json_decref(e);
    json_decref(v);
}

static json_t *
s_rec(struct s_env *env, const char *id)
{
    json_t *r = au_exec_get(env->x, "t", id);
    ck_assert_msg(r != NULL, "no record of %s", id);
    return r;
}

static const char *
s_status(json_t *r)
{
    return json_string_value(json_object_get(r, "status"));
}

struct s_wait_step {
    au_exec_t *x;
    const char *id;
    const char *step;
};

/* True once step has an attempt running or done. */
static bool
cb_step_seen(void *arg)
{
    struct s_wait_step *w = arg;
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

/* A step that waits for dir/<name> to exist. */
#define S_GATE(id, name)                                                                           \
    "{\"id\":\"" id "\",\"action\":{\"kind\":\"script\",\"interpreter\":\"bash\",\"args\":["    \
    "\"{{input.dir}}\"],\"content\":\"while [ ! -f \\\"$1/" name "\\\" ]; do sleep 0.01; done\"}}"

START_TEST(t_visible_on_commit)
{
    struct s_env env;
    s_start(&env);
    struct au_workflow *w =
        s_wf("{\"id\":\"w\",\"kind\":\"linear\",\"steps\":["
             "{\"id\":\"a\",\"action\":{\"kind\":\"set_state\",\"path\":\"x.a\",\"value\":1}},"
             S_GATE("g", "go") ","
             "{\"id\":\"b\",\"action\":{\"kind\":\"set_state\",\"path\":\"x.b\","
             "\"value\":\"{{state.x.a}}\"}},"
             "{\"id\":\"c\",\"action\":{\"kind\":\"set_state\",\"path\":\"x.other\","
             "\"value\":\"{{state.other}}\"}}]}");
    char input[600], id[AU_EXEC_ID_LEN];
    snprintf(input, sizeof input, "{\"dir\":\"%s\"}", env.dir);
    json_t *in = s_json(input);
    ck_assert_int_eq(au_exec_submit(env.x, w, in, NULL, id), 0);
    struct s_wait_step ws = {env.x, id, "g"};
    ck_assert(vt_wait_until(cb_step_seen, &ws, 30000));
    /* a written, not visible; another writer commits "other" after the snapshot */
    s_expect_state(&env, "{}");
    json_t *wr = s_json("[[\"other\",5]]");
    struct au_store_commit c = {.tenant = "t", .snap_seq = UINT64_MAX, .writes = wr};
    char err[512];
    ck_assert_int_eq(au_store_commit(env.st, &c, err, sizeof err), 0);
    json_decref(wr);
    s_expect_state(&env, "{\"other\":5}");
    char go[600];
    snprintf(go, sizeof go, "%s/go", env.dir);
    ck_assert_int_eq(vt_write_file(go, ""), 0);
    ck_assert(au_exec_idle(env.x, 60000));
    json_t *r = s_rec(&env, id);
    ck_assert_msg(strcmp(s_status(r), "succeeded") == 0, "status %s: %s", s_status(r),
                  json_string_value(json_object_get(r, "error")));
    ck_assert_int_eq(json_integer_value(json_object_get(r, "state_writes")), 3);
    json_decref(r);
    /* its own write read back (b = a); its snapshot predates "other" (null) */
    s_expect_state(&env, "{\"other\":5,\"x\":{\"a\":1,\"b\":1,\"other\":null}}");
    json_decref(in);
    au_workflow_unref(&w);
    s_stop(&env);
}
END_TEST

START_TEST(t_failed_discards)
{
    struct s_env env;
    s_start(&env);
    struct au_workflow *w =
        s_wf("{\"id\":\"f\",\"kind\":\"linear\",\"steps\":["
             "{\"id\":\"a\",\"action\":{\"kind\":\"set_state\",\"path\":\"k\",\"value\":1},"
             "\"compensate\":{\"kind\":\"set_state\",\"path\":\"undone\",\"value\":true}},"
             "{\"id\":\"b\",\"action\":{\"kind\":\"script\",\"interpreter\":\"bash\","
             "\"content\":\"exit 3\"}}]}");
    char id[AU_EXEC_ID_LEN];
    ck_assert_int_eq(au_exec_submit(env.x, w, NULL, NULL, id), 0);
    ck_assert(au_exec_idle(env.x, 60000));
    json_t *r = s_rec(&env, id);
    ck_assert_str_eq(s_status(r), "failed");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "state_writes_discarded")), 2);
    json_decref(r);
    s_expect_state(&env, "{}");
    ck_assert_uint_eq(au_store_seq(env.st), 0);
    au_workflow_unref(&w);
    s_stop(&env);
}
END_TEST

struct s_wait_done {
    au_exec_t *x;
    const char *id;
};

static bool
cb_done(void *arg)
{
    struct s_wait_done *w = arg;
    json_t *r = au_exec_get(w->x, "t", w->id);
    bool done = r != NULL && strcmp(s_status(r), "succeeded") == 0;
    json_decref(r);
    return done;
}

/* Two executions of wf write k; each waits at its gate after writing, so both hold a
 * snapshot before either commits. A is released first and commits; then B. */
static void
s_race(struct s_env *env, const char *policy, json_t **ra, json_t **rb)
{
    char text[2048];
    snprintf(text, sizeof text,
             "{\"id\":\"r\",\"kind\":\"linear\",\"on_conflict\":\"%s\",\"conflict_retries\":2,"
             "\"steps\":[{\"id\":\"w\",\"action\":{\"kind\":\"set_state\",\"path\":\"k\","
             "\"value\":\"{{input.who}}\"},\"compensate\":{\"kind\":\"script\",\"interpreter\":"
             "\"bash\",\"args\":[\"{{input.dir}}\",\"{{input.who}}\"],\"content\":\"echo undo-$2 "
             ">> $1/log\"}},{\"id\":\"g\",\"action\":{\"kind\":\"script\",\"interpreter\":"
             "\"bash\",\"args\":[\"{{input.dir}}\",\"{{input.who}}\"],\"content\":\"while [ ! -f "
             "$1/go-$2 ]; do sleep 0.01; done\"}}]}",
             policy);
    struct au_workflow *w = s_wf(text);
    char ia[AU_EXEC_ID_LEN], ib[AU_EXEC_ID_LEN], in[600];
    snprintf(in, sizeof in, "{\"dir\":\"%s\",\"who\":\"A\"}", env->dir);
    json_t *ja = s_json(in);
    snprintf(in, sizeof in, "{\"dir\":\"%s\",\"who\":\"B\"}", env->dir);
    json_t *jb = s_json(in);
    ck_assert_int_eq(au_exec_submit(env->x, w, ja, NULL, ia), 0);
    ck_assert_int_eq(au_exec_submit(env->x, w, jb, NULL, ib), 0);
    struct s_wait_step wa = {env->x, ia, "g"}, wb = {env->x, ib, "g"};
    ck_assert(vt_wait_until(cb_step_seen, &wa, 30000));
    ck_assert(vt_wait_until(cb_step_seen, &wb, 30000));
    char go[600];
    snprintf(go, sizeof go, "%s/go-A", env->dir);
    ck_assert_int_eq(vt_write_file(go, ""), 0);
    /* A commits before B is let go */
    struct s_wait_done wd = {env->x, ia};
    ck_assert(vt_wait_until(cb_done, &wd, 30000));
    snprintf(go, sizeof go, "%s/go-B", env->dir);
    ck_assert_int_eq(vt_write_file(go, ""), 0);
    ck_assert(au_exec_idle(env->x, 60000));
    *ra = s_rec(env, ia);
    *rb = s_rec(env, ib);
    json_decref(ja);
    json_decref(jb);
    au_workflow_unref(&w);
}

START_TEST(t_conflict_fail)
{
    struct s_env env;
    s_start(&env);
    json_t *ra = NULL, *rb = NULL;
    s_race(&env, "fail", &ra, &rb);
    ck_assert_str_eq(s_status(ra), "succeeded");
    ck_assert_str_eq(s_status(rb), "failed");
    json_t *cf = json_object_get(rb, "conflict");
    ck_assert_ptr_nonnull(cf);
    ck_assert_str_eq(json_string_value(json_object_get(cf, "key")), "k");
    ck_assert_msg(strstr(json_string_value(json_object_get(rb, "error")), "\"k\"") != NULL,
                  "error: %s", json_string_value(json_object_get(rb, "error")));
    s_expect_state(&env, "{\"k\":\"A\"}");
    char path[600];
    snprintf(path, sizeof path, "%s/log", env.dir);
    char *log = s_read(path);
    ck_assert_str_eq(log, "undo-B\n"); /* the loser's completed step compensated */
    free(log);
    json_decref(ra);
    json_decref(rb);
    s_stop(&env);
}
END_TEST

START_TEST(t_conflict_retry)
{
    struct s_env env;
    s_start(&env);
    json_t *ra = NULL, *rb = NULL;
    s_race(&env, "retry", &ra, &rb);
    ck_assert_str_eq(s_status(ra), "succeeded");
    ck_assert_msg(strcmp(s_status(rb), "succeeded") == 0, "B: %s (%s)", s_status(rb),
                  json_string_value(json_object_get(rb, "error")));
    json_t *cf = json_object_get(rb, "conflict");
    ck_assert_int_eq(json_integer_value(json_object_get(cf, "runs")), 1);
    s_expect_state(&env, "{\"k\":\"B\"}"); /* B ran again on A's result and committed */
    json_decref(ra);
    json_decref(rb);
    s_stop(&env);
}
END_TEST

static bool
cb_file_nonempty(void *arg)
{
    struct stat st;
    return stat((const char *)arg, &st) == 0 && st.st_size > 0;
}

START_TEST(t_resume_idempotent)
{
    struct s_env env;
    s_start(&env);
    char text[2048];
    snprintf(text, sizeof text,
             "{\"id\":\"i\",\"kind\":\"linear\",\"steps\":["
             "{\"id\":\"a\",\"idempotent\":true,\"action\":{\"kind\":\"set_state\",\"path\":"
             "\"r.a\",\"value\":1}},"
             "{\"id\":\"n\",\"idempotent\":true,\"action\":{\"kind\":\"script\",\"interpreter\":"
             "\"bash\",\"args\":[\"%s\"],\"content\":\"echo n >> $1/log; [ -f $1/go ] || sleep "
             "600\"}},"
             "{\"id\":\"b\",\"idempotent\":true,\"action\":{\"kind\":\"set_state\",\"path\":"
             "\"r.b\",\"value\":\"{{state.r.a}}\"}}]}",
             env.dir);
    struct au_workflow *w = s_wf(text);
    ck_assert(w->resumable);
    char id[AU_EXEC_ID_LEN];
    ck_assert_int_eq(au_exec_submit(env.x, w, NULL, NULL, id), 0);
    struct s_wait_step ws = {env.x, id, "n"};
    ck_assert(vt_wait_until(cb_step_seen, &ws, 30000));
    char path[600];
    snprintf(path, sizeof path, "%s/log", env.dir);
    /* n's script has written its line (seen running is not yet that far) */
    ck_assert_msg(vt_wait_until(cb_file_nonempty, path, 30000), "%s stayed empty", path);
    au_exec_destroy(&env.x); /* a shutdown: n is killed, the journal entry stays */
    s_expect_state(&env, "{}");
    char go[600];
    snprintf(go, sizeof go, "%s/go", env.dir);
    ck_assert_int_eq(vt_write_file(go, ""), 0);
    env.x = au_exec_new(&env.o);
    ck_assert_int_eq(au_exec_recover(env.x), 1);
    ck_assert(au_exec_idle(env.x, 60000));
    json_t *r = s_rec(&env, id);
    ck_assert_msg(strcmp(s_status(r), "succeeded") == 0, "status %s: %s", s_status(r),
                  json_string_value(json_object_get(r, "error")));
    ck_assert(json_is_true(json_object_get(r, "resumed")));
    json_decref(r);
    /* a's write is there (journaled or run again: a set_state step is), n ran again (it had not
     * completed), b read a's write */
    s_expect_state(&env, "{\"r\":{\"a\":1,\"b\":1}}");
    char *log = s_read(path);
    ck_assert_str_eq(log, "n\nn\n");
    free(log);
    au_workflow_unref(&w);
    s_stop(&env);
}
END_TEST

START_TEST(t_policy_refused)
{
    const char *bad[][2] = {
        {"{\"id\":\"p\",\"kind\":\"linear\",\"on_conflict\":\"maybe\",\"steps\":[{\"id\":\"s\","
         "\"action\":{\"kind\":\"delay\",\"ms\":0}}]}",
         "on_conflict: expected fail or retry"},
        {"{\"id\":\"p\",\"kind\":\"linear\",\"conflict_retries\":101,\"steps\":[{\"id\":\"s\","
         "\"action\":{\"kind\":\"delay\",\"ms\":0}}]}",
         "conflict_retries: expected an integer 0..100"},
        {"{\"id\":\"p\",\"kind\":\"linear\",\"steps\":[{\"id\":\"s\",\"idempotent\":1,"
         "\"action\":{\"kind\":\"delay\",\"ms\":0}}]}",
         "steps[0].idempotent: expected true or false"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j = s_json(bad[i][0]);
        struct au_workflow *w = NULL;
        char err[1024] = "";
        ck_assert_int_eq(au_workflow_parse(j, "t", &w, err, sizeof err), -EINVAL);
        ck_assert_msg(strstr(err, bad[i][1]) != NULL, "expected \"%s\" in \"%s\"", bad[i][1],
                      err);
        json_decref(j);
    }
    /* one step without the declaration: not resumable */
    struct au_workflow *w = s_wf("{\"id\":\"p\",\"kind\":\"linear\",\"steps\":[{\"id\":\"s\","
                                 "\"idempotent\":true,\"action\":{\"kind\":\"delay\",\"ms\":0}},"
                                 "{\"id\":\"u\",\"action\":{\"kind\":\"delay\",\"ms\":0}}]}");
    ck_assert(!w->resumable);
    ck_assert_int_eq(w->on_conflict, AU_CONFLICT_FAIL);
    ck_assert_uint_eq(w->conflict_retries, 3);
    au_workflow_unref(&w);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("au_txn");
    struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"visible_on_commit", t_visible_on_commit}, {"failed_discards", t_failed_discards},
        {"conflict_fail", t_conflict_fail},         {"conflict_retry", t_conflict_retry},
        {"resume_idempotent", t_resume_idempotent}, {"policy_refused", t_policy_refused},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_test(tc, cases[i].test);
        tcase_set_timeout(tc, 120);
        suite_add_tcase(s, tc);
    }
    return au_run_suite(s);
}
