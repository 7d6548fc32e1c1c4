/* SPDX-License-Identifier: Apache-2.0 */
/* vexfs-automation's durable, transactional state with the real daemon over loopback, killed
 * with kill -9:
 *   - executions killed at random points, many times, while others run: the state is exactly
 *     that of the executions that committed (checked against a model of their commits), no
 *     state a reader saw ever held a write of an execution that did not commit, every
 *     acknowledged execution ends (idempotent ones resumed and succeeded, others compensated);
 *   - state triggers fire exactly once per committed change, across a kill -9;
 *   - the execution history survives restarts and pages (REST and vexfsctl executions
 *     --status failed --since 1h);
 *   - nothing written in the state folder holds state values, script text or paths in clear;
 *     every sealed record changed makes the start fail, saying why, and touches nothing; a
 *     wrong data key is refused at start. */
#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vx_clock.h"
#include "vx_test.h"

#define S_TOKEN "state-token"

struct s_daemon {
    pid_t pid;
    uint16_t port;
    char dir[256];     /* the test's folder */
    char state[300];   /* state_dir */
    char cfg[300];
    char log[300];
    char tok[300];
};

/* Writes the config (once) and starts the daemon on it; env: extra environment (may be
 * NULL). Returns false when it did not become ready (ready_expected false: expects that). */
static bool
s_launch(struct s_daemon *d, char *const env[], bool ready_expected)
{
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-automation", vt_bin_dir());
    char *argv[] = {bin, (char *)"--config", d->cfg, NULL};
    d->pid = vt_spawn(argv, env, d->log);
    ck_assert_int_gt(d->pid, 0);
    if (!ready_expected) {
        return false;
    }
    bool ok = vt_wait_ready(d->port, 30000);
    ck_assert_msg(ok, "automation not ready; log in %s", d->log);
    return ok;
}

static void
s_init(struct s_daemon *d, const char *extra)
{
    memset(d, 0, sizeof *d);
    char *dir = vt_tmpdir();
    snprintf(d->dir, sizeof d->dir, "%s", dir);
    free(dir);
    snprintf(d->state, sizeof d->state, "%s/state", d->dir);
    snprintf(d->cfg, sizeof d->cfg, "%s/vexfs.yaml", d->dir);
    snprintf(d->log, sizeof d->log, "%s/automation.log", d->dir);
    snprintf(d->tok, sizeof d->tok, "%s/token", d->dir);
    d->port = vt_free_port();
    ck_assert_int_eq(vt_write_file(d->tok, S_TOKEN "\n"), 0);
    char cfg[4096];
    snprintf(cfg, sizeof cfg,
             "reactive_automation:\n  rest_port: %u\n  input_endpoint: tcp://127.0.0.1:%u\n"
             "  state_dir: %s\n  max_concurrent_workflows: 8\n  tenant_max_concurrent: 8\n"
             "  allow_inline_scripts: true\n%s"
             "admin:\n  token_file: %s\nlogging:\n  level: info\n",
             (unsigned)d->port, (unsigned)vt_free_port(), d->state, extra, d->tok);
    ck_assert_int_eq(vt_write_file(d->cfg, cfg), 0);
}

static void
s_kill9(struct s_daemon *d)
{
    kill(d->pid, SIGKILL);
    vt_wait_exit(d->pid, 30000);
    d->pid = 0;
}

static void
s_stop(struct s_daemon *d)
{
    int status = vt_stop(d->pid, SIGTERM, 30000);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "automation did not exit cleanly (status %d); log in %s", status, d->log);
    d->pid = 0;
}

/* One request; the body parsed when it is JSON (new reference in *out, may be NULL). */
static long
s_call(const struct s_daemon *d, const char *method, const char *path, const char *body,
       json_t **out)
{
    struct vt_http_result r;
    if (vt_http(method, d->port, path, body, body ? strlen(body) : 0, S_TOKEN, &r) != 0) {
        vt_http_result_fini(&r);
        if (out) {
            *out = NULL;
        }
        return 0;
    }
    long status = r.status;
    if (out != NULL) {
        *out = r.body ? json_loads(r.body, 0, NULL) : NULL;
    }
    vt_http_result_fini(&r);
    return status;
}

static void
s_put_def(const struct s_daemon *d, const char *def)
{
    json_t *j = json_loads(def, 0, NULL);
    ck_assert_ptr_nonnull(j);
    char path[256];
    snprintf(path, sizeof path, "/v1/workflows/%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    json_t *r = NULL;
    long st = s_call(d, "PUT", path, def, &r);
    char *txt = r ? json_dumps(r, 0) : NULL;
    ck_assert_msg(st == 200 || st == 201, "PUT %s: %ld %s", path, st, txt ? txt : "");
    free(txt);
    json_decref(r);
}

/* ---- crashes at random points, against a model ------------------------------------------- */

/* m: not idempotent (an interrupted one is compensated); r: idempotent (resumed). Each writes
 * its input i to three keys with a delay and a real process in between. */
static const char *const s_wf_m =
    "{\"id\":\"m\",\"kind\":\"linear\",\"on_conflict\":\"retry\",\"conflict_retries\":100,"
    "\"steps\":[{\"id\":\"a\",\"action\":{\"kind\":\"set_state\",\"path\":\"m.a\",\"value\":"
    "\"{{input.i}}\"}},{\"id\":\"d\",\"action\":{\"kind\":\"delay\",\"ms\":5}},"
    "{\"id\":\"b\",\"action\":{\"kind\":\"set_state\",\"path\":\"m.b\",\"value\":"
    "\"{{input.i}}\"}},{\"id\":\"p\",\"action\":{\"kind\":\"script\",\"interpreter\":\"bash\","
    "\"content\":\"true\"}},{\"id\":\"c\",\"action\":{\"kind\":\"set_state\",\"path\":\"m.c\","
    "\"value\":\"{{input.i}}\"}}]}";
static const char *const s_wf_r =
    "{\"id\":\"r\",\"kind\":\"linear\",\"on_conflict\":\"retry\",\"conflict_retries\":100,"
    "\"steps\":[{\"id\":\"x\",\"idempotent\":true,\"action\":{\"kind\":\"set_state\",\"path\":"
    "\"r.x\",\"value\":\"{{input.i}}\"}},{\"id\":\"d\",\"idempotent\":true,\"action\":{\"kind\":"
    "\"delay\",\"ms\":5}},{\"id\":\"y\",\"idempotent\":true,\"action\":{\"kind\":\"set_state\","
    "\"path\":\"r.y\",\"value\":\"{{input.i}}\"}},{\"id\":\"p\",\"idempotent\":true,\"action\":"
    "{\"kind\":\"script\",\"interpreter\":\"bash\",\"content\":\"true\"}},{\"id\":\"w\","
    "\"idempotent\":true,\"action\":{\"kind\":\"set_state\",\"path\":\"r.w\",\"value\":"
    "\"{{input.i}}\"}}]}";

#define S_MAX_SEEN 4096

struct s_model {
    json_int_t seen[S_MAX_SEEN]; /* every value a reader saw in m.* or r.* */
    size_t n_seen;
};

/* Reads the state; checks that each group's keys hold one value (a commit is all or nothing)
 * and remembers the values seen. */
static void
s_observe(const struct s_daemon *d, struct s_model *m)
{
    json_t *r = NULL;
    if (s_call(d, "GET", "/v1/state", NULL, &r) != 200) {
        json_decref(r);
        return; /* killed meanwhile */
    }
    json_t *st = json_object_get(r, "state");
    const char *groups[][4] = {{"m", "a", "b", "c"}, {"r", "x", "y", "w"}};
    for (int g = 0; g < 2; g++) {
        json_t *o = json_object_get(st, groups[g][0]);
        if (o == NULL) {
            continue;
        }
        json_t *v0 = json_object_get(o, groups[g][1]);
        for (int k = 2; k < 4; k++) {
            json_t *v = json_object_get(o, groups[g][k]);
            char *txt = json_dumps(o, 0);
            ck_assert_msg(json_equal(v0, v), "a torn commit is visible in %s: %s", groups[g][0],
                          txt);
            free(txt);
        }
        if (m->n_seen < S_MAX_SEEN) {
            m->seen[m->n_seen++] = json_integer_value(v0);
        }
    }
    json_decref(r);
}

/* Every execution the daemon knows (all pages), with full records. */
static json_t *
s_all_records(const struct s_daemon *d)
{
    json_t *all = json_array();
    char cursor[256] = "";
    for (int page = 0; page < 100; page++) {
        char path[512];
        snprintf(path, sizeof path, "/v1/executions?limit=500%s%s", cursor[0] ? "&cursor=" : "",
                 cursor);
        json_t *r = NULL;
        ck_assert_int_eq(s_call(d, "GET", path, NULL, &r), 200);
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(r, "executions"), i, x) {
            char p2[200];
            snprintf(p2, sizeof p2, "/v1/executions/%s",
                     json_string_value(json_object_get(x, "id")));
            json_t *full = NULL;
            ck_assert_int_eq(s_call(d, "GET", p2, NULL, &full), 200);
            json_array_append_new(all, full);
        }
        const char *nc = json_string_value(json_object_get(r, "next_cursor"));
        snprintf(cursor, sizeof cursor, "%s", nc ? nc : "");
        json_decref(r);
        if (nc == NULL) {
            break;
        }
    }
    return all;
}

struct s_idle {
    const struct s_daemon *d;
};

static bool
cb_idle(void *arg)
{
    struct s_idle *w = arg;
    json_t *r = NULL;
    bool idle = false;
    if (s_call(w->d, "GET", "/v1/executions?limit=10000", NULL, &r) == 200) {
        idle = true;
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(r, "executions"), i, x) {
            const char *st = json_string_value(json_object_get(x, "status"));
            idle = idle && strcmp(st, "queued") != 0 && strcmp(st, "running") != 0;
        }
    }
    json_decref(r);
    return idle;
}

START_TEST(t_crash_model)
{
    struct s_daemon d;
    s_init(&d, "");
    s_launch(&d, NULL, true);
    s_put_def(&d, s_wf_m);
    s_put_def(&d, s_wf_r);
    struct s_model *model = calloc(1, sizeof *model);
    json_t *acked = json_array(); /* [[id, i, wf], ...] */
    int next = 1;
    unsigned seed = (unsigned)vx_mono_ns();
    fprintf(stderr, "t_crash_model: seed %u\n", seed);
    srandom(seed);
    const int rounds = 25;
    for (int round = 0; round < rounds; round++) {
        if (round > 0) {
            s_launch(&d, NULL, true);
        }
        /* a burst of executions, readers in between, then kill -9 at a random moment */
        int n = 6 + (int)(random() % 6);
        uint64_t kill_at = vx_mono_ns() + (uint64_t)(random() % 150) * VX_NS_PER_MS;
        for (int k = 0; k < n; k++) {
            const char *wf = (next % 2) ? "m" : "r";
            char path[64], body[64];
            snprintf(path, sizeof path, "/v1/workflows/%s/execute", wf);
            snprintf(body, sizeof body, "{\"i\":%d}", next);
            json_t *r = NULL;
            if (s_call(&d, "POST", path, body, &r) == 202) {
                json_array_append_new(acked, json_pack("[O, i, s]", json_object_get(r, "execution"),
                                                       next, wf));
            }
            json_decref(r);
            next++;
            s_observe(&d, model);
        }
        while (vx_mono_ns() < kill_at) {
            s_observe(&d, model);
        }
        s_kill9(&d);
    }
    /* the last start: every acknowledged execution comes to an end */
    s_launch(&d, NULL, true);
    struct s_idle wi = {&d};
    ck_assert_msg(vt_wait_until(cb_idle, &wi, 120000), "executions did not end; log in %s",
                  d.log);
    s_observe(&d, model);
    json_t *recs = s_all_records(&d);
    /* the model: per group, the committed executions by commit */
    json_int_t last_i[2] = {0, 0}, last_commit[2] = {0, 0};
    json_t *committed = json_object(); /* i -> true */
    size_t i, resumed = 0, interrupted = 0;
    json_t *rec;
    json_array_foreach(recs, i, rec) {
        const char *wf = json_string_value(json_object_get(rec, "workflow"));
        const char *st = json_string_value(json_object_get(rec, "status"));
        int g = strcmp(wf, "m") == 0 ? 0 : 1;
        json_int_t in = json_integer_value(json_object_get(json_object_get(rec, "input"), "i"));
        resumed += json_is_true(json_object_get(rec, "resumed"));
        interrupted += strcmp(st, "interrupted") == 0;
        if (strcmp(st, "succeeded") == 0) {
            json_int_t c = json_integer_value(json_object_get(rec, "state_commit"));
            ck_assert_msg(c > 0, "execution %s succeeded without a commit",
                          json_string_value(json_object_get(rec, "id")));
            char key[32];
            snprintf(key, sizeof key, "%lld", (long long)in);
            json_object_set_new(committed, key, json_true());
            if (c > last_commit[g]) {
                last_commit[g] = c;
                last_i[g] = in;
            }
        } else {
            ck_assert_msg(g == 0 && strcmp(st, "interrupted") == 0,
                          "execution %s of %s ended %s: %s",
                          json_string_value(json_object_get(rec, "id")), wf, st,
                          json_string_value(json_object_get(rec, "error")));
        }
    }
    /* every acknowledged execution has its record and ended */
    json_t *a;
    json_array_foreach(acked, i, a) {
        const char *id = json_string_value(json_array_get(a, 0));
        bool found = false;
        size_t j;
        json_array_foreach(recs, j, rec) {
            found = found || strcmp(json_string_value(json_object_get(rec, "id")), id) == 0;
        }
        ck_assert_msg(found, "acknowledged execution %s is lost", id);
    }
    /* the state is that of the last commit of each group */
    json_t *r = NULL;
    ck_assert_int_eq(s_call(&d, "GET", "/v1/state", NULL, &r), 200);
    json_t *st = json_object_get(r, "state");
    const char *grp[2][2] = {{"m", "a"}, {"r", "x"}};
    for (int g = 0; g < 2; g++) {
        json_t *v = json_object_get(json_object_get(st, grp[g][0]), grp[g][1]);
        if (last_commit[g] == 0) {
            ck_assert_msg(v == NULL, "group %s holds a value no execution committed", grp[g][0]);
        } else {
            ck_assert_msg(json_integer_value(v) == last_i[g],
                          "group %s: expected %lld (commit %lld), found %lld", grp[g][0],
                          (long long)last_i[g], (long long)last_commit[g],
                          (long long)json_integer_value(v));
        }
    }
    json_decref(r);
    /* no reader ever saw a value of an execution that did not commit */
    for (size_t k = 0; k < model->n_seen; k++) {
        char key[32];
        snprintf(key, sizeof key, "%lld", (long long)model->seen[k]);
        ck_assert_msg(json_object_get(committed, key) != NULL,
                      "value %s was visible but its execution never committed", key);
    }
    fprintf(stderr,
            "t_crash_model: %zu acknowledged, %zu records, %zu committed, %zu resumed, %zu "
            "interrupted, %zu reads\n",
            json_array_size(acked), json_array_size(recs), json_object_size(committed), resumed,
            interrupted, model->n_seen);
    ck_assert_uint_gt(json_object_size(committed), 0);
    /* the kills did land inside executions, of both kinds */
    ck_assert_uint_gt(resumed, 0);
    ck_assert_uint_gt(interrupted, 0);
    json_decref(committed);
    json_decref(recs);
    json_decref(acked);
    free(model);
    s_stop(&d);
}
END_TEST

/* ---- state triggers: exactly once per committed change -------------------------------------- */

static size_t
s_count_wf(const struct s_daemon *d, const char *wf, json_t *commits)
{
    json_t *recs = s_all_records(d);
    size_t n = 0, i;
    json_t *rec;
    json_array_foreach(recs, i, rec) {
        if (strcmp(json_string_value(json_object_get(rec, "workflow")), wf) == 0) {
            n++;
            json_t *c = json_object_get(json_object_get(rec, "trigger"), "commit");
            char key[32];
            snprintf(key, sizeof key, "%lld", (long long)json_integer_value(c));
            ck_assert_msg(json_object_get(commits, key) == NULL,
                          "two executions for the change of commit %s", key);
            json_object_set_new(commits, key, json_true());
        }
    }
    json_decref(recs);
    return n;
}

struct s_count_wait {
    const struct s_daemon *d;
    size_t want;
};

static bool
cb_count(void *arg)
{
    struct s_count_wait *w = arg;
    json_t *commits = json_object();
    size_t n = s_count_wf(w->d, "hi", commits);
    json_decref(commits);
    return n >= w->want && cb_idle(&(struct s_idle){w->d});
}

START_TEST(t_triggers_once)
{
    struct s_daemon d;
    s_init(&d, "");
    s_launch(&d, NULL, true);
    s_put_def(&d, "{\"id\":\"hi\",\"kind\":\"linear\",\"triggers\":[{\"kind\":\"state\","
                  "\"state_path\":\"level\",\"op\":\"gt\",\"value\":10}],\"steps\":[{\"id\":\"s\","
                  "\"idempotent\":true,\"action\":{\"kind\":\"delay\",\"ms\":1}}]}");
    const int n = 12;
    for (int k = 0; k < n; k++) {
        ck_assert_int_eq(s_call(&d, "PUT", "/v1/state/level", "{\"value\":20}", NULL), 204);
        if (k == n / 2) {
            s_kill9(&d); /* right after a committed change: its trigger may not have run */
            s_launch(&d, NULL, true);
        }
        ck_assert_int_eq(s_call(&d, "PUT", "/v1/state/level", "{\"value\":0}", NULL), 204);
    }
    struct s_count_wait w = {&d, (size_t)n};
    ck_assert_msg(vt_wait_until(cb_count, &w, 60000), "fewer than %d executions of hi", n);
    json_t *commits = json_object();
    size_t got = s_count_wf(&d, "hi", commits);
    json_decref(commits);
    ck_assert_msg(got == (size_t)n, "expected %d executions of hi (one per change to 20), got %zu",
                  n, got);
    s_stop(&d);
}
END_TEST

/* ---- history: durable, paged, filtered; vexfsctl executions ---------------------------------- */

START_TEST(t_history)
{
    struct s_daemon d;
    s_init(&d, "  max_executions: 25\n");
    s_launch(&d, NULL, true);
    s_put_def(&d, "{\"id\":\"ok\",\"kind\":\"linear\",\"steps\":[{\"id\":\"s\",\"action\":{"
                  "\"kind\":\"delay\",\"ms\":0}}]}");
    s_put_def(&d, "{\"id\":\"bad\",\"kind\":\"linear\",\"steps\":[{\"id\":\"s\",\"action\":{"
                  "\"kind\":\"script\",\"interpreter\":\"bash\",\"content\":\"exit 4\"}}]}");
    for (int k = 0; k < 30; k++) {
        ck_assert_int_eq(s_call(&d, "POST", k % 3 ? "/v1/workflows/ok/execute"
                                                  : "/v1/workflows/bad/execute",
                                "{}", NULL),
                         202);
    }
    struct s_idle wi = {&d};
    ck_assert(vt_wait_until(cb_idle, &wi, 60000));
    /* survives a kill -9; bounded to 25 (5 evicted) */
    s_kill9(&d);
    s_launch(&d, NULL, true);
    json_t *recs = s_all_records(&d);
    ck_assert_uint_eq(json_array_size(recs), 25);
    json_decref(recs);
    json_t *r = NULL;
    ck_assert_int_eq(s_call(&d, "GET", "/v1/executions?limit=1", NULL, &r), 200);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "evicted")), 0); /* counted per run */
    ck_assert_ptr_nonnull(json_object_get(r, "next_cursor"));
    json_decref(r);
    /* pages of failed ones, 3 at a time */
    size_t failed = 0;
    char cursor[256] = "";
    for (int page = 0; page < 20; page++) {
        char path[512];
        snprintf(path, sizeof path, "/v1/executions?status=failed&since=1h&limit=3%s%s",
                 cursor[0] ? "&cursor=" : "", cursor);
        ck_assert_int_eq(s_call(&d, "GET", path, NULL, &r), 200);
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(r, "executions"), i, x) {
            ck_assert_str_eq(json_string_value(json_object_get(x, "status")), "failed");
            ck_assert_str_eq(json_string_value(json_object_get(x, "workflow")), "bad");
            failed++;
        }
        const char *nc = json_string_value(json_object_get(r, "next_cursor"));
        snprintf(cursor, sizeof cursor, "%s", nc ? nc : "");
        json_decref(r);
        if (nc == NULL) {
            break;
        }
    }
    ck_assert_uint_ge(failed, 7); /* 10 failed of 30; at most 5 of the oldest evicted */
    ck_assert_uint_le(failed, 10);
    /* a future since finds nothing; a bad one is refused with the reason */
    ck_assert_int_eq(s_call(&d, "GET", "/v1/executions?until=1", NULL, &r), 200);
    ck_assert_uint_eq(json_array_size(json_object_get(r, "executions")), 0);
    json_decref(r);
    ck_assert_int_eq(s_call(&d, "GET", "/v1/executions?since=soon", NULL, &r), 400);
    ck_assert_msg(strstr(json_string_value(json_object_get(json_object_get(r, "error"), "message")),
                         "since: expected a duration") != NULL,
                  "message");
    json_decref(r);
    /* vexfsctl executions --status failed --since 1h */
    char bin[512], url[64];
    snprintf(bin, sizeof bin, "%s/vexfsctl", vt_bin_dir());
    snprintf(url, sizeof url, "https://127.0.0.1:%u", (unsigned)d.port);
    char *argv[] = {bin, (char *)"executions", (char *)"--url", url, (char *)"--token-file",
                    d.tok, (char *)"--status", (char *)"failed", (char *)"--since",
                    (char *)"1h", NULL};
    struct vt_run_result out;
    ck_assert_int_eq(vt_run(argv, NULL, NULL, 30000, &out), 0);
    ck_assert_msg(WIFEXITED(out.status) && WEXITSTATUS(out.status) == 0, "vexfsctl: %s",
                  out.err);
    size_t lines = 0;
    for (const char *p = out.out; (p = strstr(p, " bad ")) != NULL; p++) {
        lines++;
    }
    ck_assert_msg(lines == failed, "vexfsctl listed %zu failed, REST %zu:\n%s", lines, failed,
                  out.out);
    ck_assert_ptr_null(strstr(out.out, "succeeded"));
    vt_run_result_fini(&out);
    s_stop(&d);
}
END_TEST

/* ---- sealed at rest ---------------------------------------------------------------------------- */

/* True when any file under dir holds needle. */
static bool
s_tree_has(const char *dir, const char *needle)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "grep -rqaF -- '%s' '%s'", needle, dir);
    int rc = system(cmd);
    return WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
}

START_TEST(t_sealed_at_rest)
{
    struct s_daemon d;
    s_init(&d, "");
    s_launch(&d, NULL, true);
    /* known plaintext: a state value, a state path, script text, a file path in an input */
    s_put_def(&d, "{\"id\":\"w\",\"kind\":\"linear\",\"steps\":[{\"id\":\"s\",\"action\":{"
                  "\"kind\":\"script\",\"interpreter\":\"bash\",\"content\":\"echo "
                  "scriptmarker4471 >/dev/null; echo '{}'\"}},{\"id\":\"t\",\"action\":{\"kind\":"
                  "\"set_state\",\"path\":\"statepathmarker.k\",\"value\":\"{{input.file}}\"}}]}");
    ck_assert_int_eq(s_call(&d, "PUT", "/v1/state/other", "{\"value\":\"statevaluemarker8812\"}",
                            NULL),
                     204);
    ck_assert_int_eq(s_call(&d, "POST", "/v1/workflows/w/execute",
                            "{\"file\":\"/data/filepathmarker/x.txt\"}", NULL),
                     202);
    struct s_idle wi = {&d};
    ck_assert(vt_wait_until(cb_idle, &wi, 60000));
    json_t *r = NULL;
    ck_assert_int_eq(s_call(&d, "GET", "/v1/state", NULL, &r), 200);
    char *txt = json_dumps(r, 0);
    ck_assert_msg(strstr(txt, "filepathmarker") && strstr(txt, "statevaluemarker8812"), "%s",
                  txt);
    free(txt);
    json_decref(r);
    s_stop(&d);
    const char *markers[] = {"scriptmarker4471", "statepathmarker", "statevaluemarker8812",
                             "filepathmarker"};
    for (size_t i = 0; i < sizeof markers / sizeof markers[0]; i++) {
        ck_assert_msg(!s_tree_has(d.state, markers[i]), "\"%s\" is in clear under %s",
                      markers[i], d.state);
    }
    /* a wrong data key: refused at start, saying so */
    char keys[400];
    snprintf(keys, sizeof keys, "%s/other-keys", d.dir);
    char genbin[512];
    snprintf(genbin, sizeof genbin, "%s/vexfsctl", vt_bin_dir());
    char *gen[] = {genbin, (char *)"keys", (char *)"rotate-data", keys, NULL};
    struct vt_run_result out;
    ck_assert_int_eq(vt_run(gen, NULL, NULL, 30000, &out), 0);
    ck_assert_msg(WIFEXITED(out.status) && WEXITSTATUS(out.status) == 0, "keys: %s", out.err);
    vt_run_result_fini(&out);
    char envk[500];
    snprintf(envk, sizeof envk, "VEXFS_AT_REST_DATA_KEYS_DIR=%s", keys);
    char *env[] = {envk, NULL};
    s_launch(&d, env, false);
    int status = vt_wait_exit(d.pid, 30000);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0, "started with a wrong key");
    char *log = NULL;
    FILE *f = fopen(d.log, "r");
    ck_assert_ptr_nonnull(f);
    log = calloc(1, 1 << 20);
    size_t n = fread(log, 1, (1 << 20) - 1, f);
    log[n] = '\0';
    fclose(f);
    ck_assert_msg(strstr(log, "wrong or missing key") != NULL, "log: %s", log);
    free(log);
    /* every sealed record changed: refused at start, the file untouched */
    char data[400];
    snprintf(data, sizeof data, "%s/data.mdb", d.state);
    f = fopen(data, "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)size);
    ck_assert_int_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
    size_t flipped = 0;
    for (long k = 0; k + 40 < size; k++) {
        if (memcmp(buf + k, "VXS1", 4) == 0) {
            buf[k + 30] ^= 0x01;
            flipped++;
        }
    }
    ck_assert_uint_gt(flipped, 0);
    fseek(f, 0, SEEK_SET);
    ck_assert_int_eq(fwrite(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    s_launch(&d, NULL, false);
    status = vt_wait_exit(d.pid, 30000);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0, "started on changed records");
    f = fopen(data, "rb");
    uint8_t *after = malloc((size_t)size);
    ck_assert_int_eq(fread(after, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    ck_assert_msg(memcmp(buf, after, (size_t)size) == 0, "the refused start changed data.mdb");
    free(buf);
    free(after);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("automation_state");
    struct {
        const char *name;
        const TTest *test;
        int timeout;
    } cases[] = {
        {"crash_model", t_crash_model, 300},
        {"triggers_once", t_triggers_once, 180},
        {"history", t_history, 180},
        {"sealed_at_rest", t_sealed_at_rest, 180},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_test(tc, cases[i].test);
        tcase_set_timeout(tc, cases[i].timeout);
        suite_add_tcase(s, tc);
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
