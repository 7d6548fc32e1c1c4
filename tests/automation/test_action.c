/* SPDX-License-Identifier: Apache-2.0 */
/* Script and HTTP step actions under the daemon's policy (au_action.h), with real processes
 * and real HTTP over loopback.
 *
 * Scripts: a step runs as the unprivileged user (nobody; these tests run as root, so the drop
 * is real), with no supplementary groups, no_new_privs, its resource limits and an environment
 * of PATH and the VX_ variables only, in "/"; it cannot pass its memory or CPU limit; inline
 * content runs only when allowed, and a named script only from the scripts directory.
 *
 * HTTP: the outbound address policy refuses loopback unless allowed, and counts the refusal;
 * an allowed request reaches a real listener; the body is kept only with keep_body; a closed
 * port and an open port that does not speak HTTP give one error text. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "au_action.h"
#include "au_workflow.h"
#include "vx_http.h"
#include "vx_metrics.h"
#include "vx_netpolicy.h"
#include "vx_test.h"

static const volatile int s_no_stop = 0;

/* A workflow of one step with action (JSON text) of tenant "t"; the caller unrefs it. */
static struct au_workflow *
s_wf(const char *action)
{
    char text[4096];
    snprintf(text, sizeof text,
             "{\"id\":\"w\",\"kind\":\"linear\",\"steps\":[{\"id\":\"s\",\"action\":%s}]}",
             action);
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    ck_assert_msg(j != NULL, "test JSON: %s: %s", je.text, text);
    struct au_workflow *w = NULL;
    char err[1024] = "";
    int rc = au_workflow_parse(j, "t", &w, err, sizeof err);
    json_decref(j);
    ck_assert_msg(rc == 0, "refused: %s", err);
    return w;
}

/* A scripts directory nobody can read, with file name holding text. */
static char *
s_scripts(const char *name, const char *text)
{
    char *dir = vt_tmpdir();
    ck_assert_ptr_nonnull(dir);
    ck_assert_int_eq(chmod(dir, 0755), 0);
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ck_assert_int_eq(vt_write_file(path, text), 0);
    ck_assert_int_eq(chmod(path, 0644), 0);
    return dir;
}

/* The policy of these tests: run as nobody:nogroup with small limits. */
static struct au_act_policy
s_policy(const char *dir)
{
    struct passwd *pw = getpwnam("nobody");
    ck_assert_msg(pw != NULL, "no user nobody");
    struct group *gr = getgrnam("nogroup");
    struct au_act_policy p = {
        .scripts_dir = dir,
        .drop = true,
        .uid = pw->pw_uid,
        .gid = gr ? gr->gr_gid : pw->pw_gid,
        .cpu_s = 1,
        .memory_bytes = 256u << 20,
        .open_files = 32,
        .processes = 64,
    };
    return p;
}

/* Runs the step of w; returns rc, out filled (result freed by the caller). */
static int
s_run_script(struct au_workflow *w, const struct au_act_policy *pol, struct au_act_out *out)
{
    json_t *ctx = json_pack("{s:{s:i}}", "input", "n", 7);
    memset(out, 0, sizeof *out);
    int rc = au_script_run(&w->steps.v[0].act, pol, ctx, 20000, &s_no_stop, "e1", "s", out);
    json_decref(ctx);
    return rc;
}

#define S_PROBE                                                                                    \
    "import os, json, resource\n"                                                                  \
    "st = open('/proc/self/status').read().splitlines()\n"                                         \
    "nnp = [l.split()[1] for l in st if l.startswith('NoNewPrivs')][0]\n"                          \
    "env = open('/proc/self/environ', 'rb').read().split(b'\\0')\n"                                \
    "names = sorted(e.split(b'=')[0].decode() for e in env if e)\n"                                \
    "lim = lambda r: resource.getrlimit(r)[1]\n"                                                   \
    "print(json.dumps({'uid': os.getuid(), 'euid': os.geteuid(), 'gid': os.getgid(),\n"            \
    "  'groups': os.getgroups(), 'nnp': int(nnp), 'cpu': lim(resource.RLIMIT_CPU),\n"              \
    "  'as': lim(resource.RLIMIT_AS), 'nofile': lim(resource.RLIMIT_NOFILE),\n"                    \
    "  'nproc': lim(resource.RLIMIT_NPROC), 'env': names, 'cwd': os.getcwd(),\n"                   \
    "  'input': os.environ.get('VX_INPUT'), 'arg': __import__('sys').argv[1]}))\n"

START_TEST(t_script_runs_unprivileged_with_limits)
{
    char *dir = s_scripts("probe.py", S_PROBE);
    struct au_act_policy pol = s_policy(dir);
    setenv("VEXFS_SECRET_FOR_TEST", "must-not-reach-the-script", 1);
    struct au_workflow *w = s_wf("{\"kind\":\"script\",\"interpreter\":\"python\",\"script\":"
                                 "\"probe.py\",\"args\":[\"{{input.n}}\"],"
                                 "\"env\":{\"MINE\":\"x\"}}");
    struct au_act_out out;
    int rc = s_run_script(w, &pol, &out);
    ck_assert_msg(rc == 0, "rc %d: %s", rc, out.err);
    char *got = json_dumps(out.result, JSON_COMPACT | JSON_SORT_KEYS);
    json_t *r = out.result;
#define S_INT(k) json_integer_value(json_object_get(r, k))
    ck_assert_msg(S_INT("uid") == (json_int_t)pol.uid && S_INT("euid") == (json_int_t)pol.uid,
                  "expected uid %u, got %s", (unsigned)pol.uid, got);
    ck_assert_msg(S_INT("gid") == (json_int_t)pol.gid, "expected gid %u, got %s",
                  (unsigned)pol.gid, got);
    json_t *groups = json_object_get(r, "groups");
    ck_assert_msg(json_array_size(groups) == 0 ||
                      (json_array_size(groups) == 1 &&
                       json_integer_value(json_array_get(groups, 0)) == (json_int_t)pol.gid),
                  "expected no supplementary groups, got %s", got);
    ck_assert_msg(S_INT("nnp") == 1, "expected NoNewPrivs 1, got %s", got);
    ck_assert_msg(S_INT("cpu") == 1 && S_INT("as") == 256 << 20 && S_INT("nofile") == 32 &&
                      S_INT("nproc") == 64,
                  "expected limits cpu 1, as 256 MiB, nofile 32, nproc 64; got %s", got);
    const char *want_env = "[\"MINE\",\"PATH\",\"VX_EXECUTION_ID\",\"VX_INPUT\",\"VX_STEP_ID\"]";
    char *env = json_dumps(json_object_get(r, "env"), JSON_COMPACT);
    ck_assert_msg(strcmp(env, want_env) == 0, "expected environment %s, got %s", want_env, env);
    ck_assert_str_eq(json_string_value(json_object_get(r, "cwd")), "/");
    ck_assert_str_eq(json_string_value(json_object_get(r, "input")), "{\"n\":7}");
    ck_assert_str_eq(json_string_value(json_object_get(r, "arg")), "7");
#undef S_INT
    free(env);
    free(got);
    json_decref(out.result);
    au_workflow_unref(&w);
    free(dir);
}
END_TEST

START_TEST(t_script_cannot_pass_memory_limit)
{
    char *dir = s_scripts("hog.py", "x = bytearray(512 * 1024 * 1024)\nprint('{}')\n");
    struct au_act_policy pol = s_policy(dir);
    struct au_workflow *w =
        s_wf("{\"kind\":\"script\",\"interpreter\":\"python\",\"script\":\"hog.py\"}");
    struct au_act_out out;
    int rc = s_run_script(w, &pol, &out);
    ck_assert_msg(rc == -EIO && strstr(out.err, "MemoryError") != NULL,
                  "expected -EIO with MemoryError, got %d: %s", rc, out.err);
    json_decref(out.result);
    /* the same script without the limit gets its memory: the limit is what stopped it */
    pol.memory_bytes = 0;
    rc = s_run_script(w, &pol, &out);
    ck_assert_msg(rc == 0, "without the limit: expected 0, got %d: %s", rc, out.err);
    json_decref(out.result);
    au_workflow_unref(&w);
    free(dir);
}
END_TEST

START_TEST(t_script_cannot_pass_cpu_or_file_limits)
{
    char *dir = s_scripts("spin.sh", "while :; do :; done\n");
    struct au_act_policy pol = s_policy(dir);
    struct au_workflow *w =
        s_wf("{\"kind\":\"script\",\"interpreter\":\"bash\",\"script\":\"spin.sh\"}");
    struct au_act_out out;
    int rc = s_run_script(w, &pol, &out); /* 1 s of CPU, then SIGXCPU (timeout 20 s) */
    ck_assert_msg(rc == -EIO && !out.timed_out && strstr(out.err, "killed by signal") != NULL,
                  "expected the CPU limit to kill it, got %d: %s", rc, out.err);
    au_workflow_unref(&w);
    free(dir);

    dir = s_scripts("files.py", "fs = [open('/dev/null') for _ in range(100)]\n");
    pol = s_policy(dir);
    w = s_wf("{\"kind\":\"script\",\"interpreter\":\"python\",\"script\":\"files.py\"}");
    rc = s_run_script(w, &pol, &out);
    ck_assert_msg(rc == -EIO && strstr(out.err, "Too many open files") != NULL,
                  "expected EMFILE past 32 open files, got %d: %s", rc, out.err);
    au_workflow_unref(&w);
    free(dir);
}
END_TEST

START_TEST(t_script_inline_and_names)
{
    char *dir = s_scripts("ok.sh", "echo '{\"ok\":true}'\n");
    struct au_act_policy pol = s_policy(dir);
    struct au_workflow *w =
        s_wf("{\"kind\":\"script\",\"interpreter\":\"bash\",\"content\":\"echo 1\"}");
    struct au_act_out out;
    int rc = s_run_script(w, &pol, &out);
    ck_assert_msg(rc == -EPERM && strstr(out.err, "allow_inline_scripts") != NULL,
                  "inline without allow_inline: expected -EPERM, got %d: %s", rc, out.err);
    pol.allow_inline = true;
    rc = s_run_script(w, &pol, &out);
    ck_assert_msg(rc == 0 && json_integer_value(out.result) == 1, "allowed inline: %d: %s", rc,
                  out.err);
    json_decref(out.result);
    au_workflow_unref(&w);

    w = s_wf("{\"kind\":\"script\",\"interpreter\":\"bash\",\"script\":\"missing.sh\"}");
    rc = s_run_script(w, &pol, &out);
    ck_assert_msg(rc == -ENOENT && strstr(out.err, "no such file in scripts_dir") != NULL,
                  "missing script: expected -ENOENT, got %d: %s", rc, out.err);
    pol.scripts_dir = "";
    rc = s_run_script(w, &pol, &out);
    ck_assert_msg(rc == -ENOENT && strstr(out.err, "no scripts directory") != NULL,
                  "no scripts_dir: expected -ENOENT, got %d: %s", rc, out.err);
    au_workflow_unref(&w);
    pol.scripts_dir = dir;
    w = s_wf("{\"kind\":\"script\",\"interpreter\":\"bash\",\"script\":\"ok.sh\"}");
    rc = s_run_script(w, &pol, &out);
    ck_assert_msg(rc == 0 && json_is_true(json_object_get(out.result, "ok")), "ok.sh: %d: %s",
                  rc, out.err);
    json_decref(out.result);
    au_workflow_unref(&w);

    /* a name is never a path */
    const char *bad[] = {"../ok.sh", "/bin/true", ".hidden", "a/b", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(!au_script_name_ok(bad[i]), "\"%s\" accepted as a script name", bad[i]);
    }
    free(dir);
}
END_TEST

/* ---- HTTP ------------------------------------------------------------------------------- */

static void
cb_hello(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    (void)req;
    (void)arg;
    resp->json = json_pack("{s:s}", "hello", "world");
}

/* A listener that accepts and closes at once (open port, no HTTP). */
struct s_mute {
    int fd;
    uint16_t port;
    pthread_t th;
};

static void *
cb_mute(void *arg)
{
    struct s_mute *m = arg;
    for (;;) {
        int c = accept(m->fd, NULL, NULL);
        if (c < 0) {
            return NULL;
        }
        (void)write(c, "SSH-2.0-not-http\r\n", 18);
        close(c);
    }
}

static void
s_mute_start(struct s_mute *m)
{
    m->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(m->fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(m->fd, 16), 0);
    socklen_t len = sizeof a;
    getsockname(m->fd, (struct sockaddr *)&a, &len);
    m->port = ntohs(a.sin_port);
    pthread_create(&m->th, NULL, cb_mute, m);
}

static int
s_run_http(const char *action, const struct au_act_policy *pol, struct au_act_out *out)
{
    struct au_workflow *w = s_wf(action);
    json_t *ctx = json_object();
    char *url = NULL, target[600], err[512];
    int rc = au_http_resolve(&w->steps.v[0].act, ctx, &url, target, sizeof target, err,
                             sizeof err);
    ck_assert_msg(rc == 0, "resolve: %s", err);
    memset(out, 0, sizeof *out);
    rc = au_http_run(&w->steps.v[0].act, pol, ctx, url, 3000, &s_no_stop, out);
    free(url);
    json_decref(ctx);
    au_workflow_unref(&w);
    return rc;
}

START_TEST(t_http_policy)
{
    vx_metrics_t *metrics = vx_metrics_new();
    struct vx_http_opts ho = {.service = "target", .version = "0", .bind = "127.0.0.1"};
    const char *herr = NULL;
    vx_http_t *h = vx_http_new(&ho, metrics, &herr);
    ck_assert_msg(h != NULL, "%s", herr);
    static const struct vx_http_route_def routes[] = {
        {"GET", "/hello", VX_ROLE_VIEWER, cb_hello}};
    char rerr[256];
    ck_assert_int_eq(vx_http_routes(h, routes, 1, NULL, rerr, sizeof rerr), 0);
    ck_assert_int_eq(vx_http_start(h), 0);
    char action[512];
    snprintf(action, sizeof action,
             "{\"kind\":\"http\",\"url\":\"http://127.0.0.1:%u/hello\"}", vx_http_port(h));

    /* without an allow entry: refused before connecting, and counted */
    char err[256];
    vx_netpolicy_t *deny = vx_netpolicy_new("", metrics, err, sizeof err);
    ck_assert_ptr_nonnull(deny);
    struct au_act_policy pol = {.net = deny};
    struct au_act_out out;
    int rc = s_run_http(action, &pol, &out);
    ck_assert_msg(rc == -EACCES && strstr(out.err, "loopback") != NULL,
                  "expected -EACCES naming loopback, got %d: %s", rc, out.err);
    vx_counter_t *c = vx_metrics_counter(metrics, "vexfs_outbound_refused_total", "",
                                         "reason", "loopback", NULL);
    ck_assert_uint_eq(vx_counter_value(c), 1);
    /* a host name is judged by the address it resolves to, when connecting */
    char named[512];
    snprintf(named, sizeof named, "{\"kind\":\"http\",\"url\":\"http://localhost:%u/hello\"}",
             vx_http_port(h));
    rc = s_run_http(named, &pol, &out);
    ck_assert_msg(rc == -EACCES && strstr(out.err, "loopback") != NULL,
                  "localhost: expected -EACCES naming loopback, got %d: %s", rc, out.err);
    ck_assert_uint_ge(vx_counter_value(c), 2);

    /* allowed: the request reaches the listener; the body only with keep_body */
    vx_netpolicy_t *allow = vx_netpolicy_new("127.0.0.1/32", NULL, err, sizeof err);
    ck_assert_ptr_nonnull(allow);
    pol.net = allow;
    rc = s_run_http(action, &pol, &out);
    ck_assert_msg(rc == 0, "allowed: expected 0, got %d: %s", rc, out.err);
    char *got = json_dumps(out.result, JSON_COMPACT);
    ck_assert_msg(strcmp(got, "{\"status\":200}") == 0, "expected no body, got %s", got);
    free(got);
    json_decref(out.result);
    snprintf(action, sizeof action,
             "{\"kind\":\"http\",\"url\":\"http://127.0.0.1:%u/hello\",\"keep_body\":true}",
             vx_http_port(h));
    rc = s_run_http(action, &pol, &out);
    ck_assert_msg(rc == 0, "keep_body: %d: %s", rc, out.err);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(out.result, "body"),
                                                       "hello")),
                     "world");
    json_decref(out.result);

    /* a closed port and an open one that is not HTTP: the same text */
    struct s_mute m;
    s_mute_start(&m);
    uint16_t closed = vt_free_port();
    char e_closed[512], e_open[512];
    snprintf(action, sizeof action, "{\"kind\":\"http\",\"url\":\"http://127.0.0.1:%u/x\"}",
             closed);
    rc = s_run_http(action, &pol, &out);
    ck_assert_msg(rc == -EIO, "closed port: expected -EIO, got %d: %s", rc, out.err);
    snprintf(e_closed, sizeof e_closed, "%s", out.err);
    snprintf(action, sizeof action, "{\"kind\":\"http\",\"url\":\"http://127.0.0.1:%u/x\"}",
             m.port);
    rc = s_run_http(action, &pol, &out);
    ck_assert_msg(rc == -EIO, "open port: expected -EIO, got %d: %s", rc, out.err);
    json_decref(out.result);
    /* the texts differ only by the port number */
    char want[512];
    snprintf(want, sizeof want, "%s", e_closed);
    char cp[16], op[16];
    snprintf(cp, sizeof cp, ":%u/", closed);
    snprintf(op, sizeof op, ":%u/", m.port);
    char *at = strstr(want, cp);
    ck_assert_ptr_nonnull(at);
    snprintf(e_open, sizeof e_open, "%.*s%s%s", (int)(at - want), want, op, at + strlen(cp));
    ck_assert_msg(strcmp(e_open, out.err) == 0, "closed port said \"%s\", open port \"%s\"",
                  e_closed, out.err);
    shutdown(m.fd, SHUT_RDWR);
    close(m.fd);
    pthread_join(m.th, NULL);

    vx_netpolicy_destroy(&deny);
    vx_netpolicy_destroy(&allow);
    vx_http_stop(h);
    vx_http_destroy(&h);
    vx_metrics_destroy(&metrics);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("au_action");
    TCase *tc = tcase_create("scripts");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, t_script_runs_unprivileged_with_limits);
    tcase_add_test(tc, t_script_cannot_pass_memory_limit);
    tcase_add_test(tc, t_script_cannot_pass_cpu_or_file_limits);
    tcase_add_test(tc, t_script_inline_and_names);
    suite_add_tcase(s, tc);
    TCase *th = tcase_create("http");
    tcase_set_timeout(th, 60);
    tcase_add_test(th, t_http_policy);
    suite_add_tcase(s, th);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
