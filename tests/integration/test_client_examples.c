/* SPDX-License-Identifier: Apache-2.0 */
/* Every example of examples/ (C and Python), built against libvexfs, run against the real
 * daemons they talk to: vexfs-propagation, vexfs-routing, vexfs-automation and
 * vexfs-analytics, started as processes on free loopback ports, with what each example prints
 * checked. The examples read their settings from the environment, as a user's program would.
 *
 * The daemons run with the suite's security when they carry the `security` section (the
 * switch-over to required CURVE and TLS); the examples then use the test's CURVE identity and
 * authority. Without it (a daemon's --help shows no [security] section) they use plain links
 * on loopback. The assertions are the same either way. */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vx_test.h"

#define S_TOKEN "examples-token"

enum { S_PROP, S_ROUTING, S_AUTOMATION, S_ANALYTICS, S_N };
static const char *const s_names[S_N] = {"propagation", "routing", "automation", "analytics"};

struct s_suite {
    char dir[256];
    pid_t pid[S_N];
    uint16_t rest[S_N];
    uint16_t acked, ingest, out, tap, to_auto, to_an, results;
    bool secure;
    char *env[24]; /* for the examples: "K=V", NULL-terminated */
    char envbuf[24][600];
    size_t n_env;
};

static struct s_suite s_s;

/* The repository's examples and data (tests run from its root). */
static void
s_repo_path(char *out, size_t len, const char *rel)
{
    char cwd[PATH_MAX];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    snprintf(out, len, "%s/%s", cwd, rel);
    ck_assert_msg(access(out, R_OK) == 0, "%s is missing (run from the repository root)", out);
}

/* Where the built examples are: beside build/bin. */
static void
s_example(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/../examples/%s", vt_bin_dir(), name);
    ck_assert_msg(access(out, X_OK) == 0, "%s is not built (make all)", out);
}

static void
s_env(struct s_suite *s, const char *fmt, const char *value)
{
    ck_assert_uint_lt(s->n_env, 23);
    snprintf(s->envbuf[s->n_env], sizeof s->envbuf[0], fmt, value);
    s->env[s->n_env] = s->envbuf[s->n_env];
    s->env[++s->n_env] = NULL;
}

/* Whether the daemons carry the security section (the switch-over to CURVE and TLS). */
static bool
s_daemons_secure(void)
{
    char bin[PATH_MAX];
    snprintf(bin, sizeof bin, "%s/vexfs-propagation", vt_bin_dir());
    char *argv[] = {bin, "--help", NULL};
    struct vt_run_result r;
    ck_assert_int_eq(vt_run(argv, NULL, NULL, 10000, &r), 0);
    bool secure = strstr(r.out, "[security]") != NULL;
    vt_run_result_fini(&r);
    return secure;
}

static void
s_write_config(struct s_suite *s)
{
    char path[400], yaml[4096], ids[400], idline[500] = "";
    if (s->secure) {
        /* The examples' CURVE identity may claim any source and tenant. */
        snprintf(ids, sizeof ids, "%s/identities.yaml", s->dir);
        ck_assert_int_eq(vt_write_file(ids, "producers:\n"
                                            "  test: {sources: [\"*\"], tenants: [\"*\"]}\n"),
                         0);
        snprintf(idline, sizeof idline, "  producer_identities_file: %s\n", ids);
    }
    snprintf(yaml, sizeof yaml,
             "event_propagation:\n"
             "  ingest_endpoint: tcp://127.0.0.1:%u\n"
             "  ingest_acked_endpoint: tcp://127.0.0.1:%u\n"
             "  output_endpoint: tcp://127.0.0.1:%u\n"
             "  tap_endpoint: tcp://127.0.0.1:%u\n"
             "  rest_port: %u\n"
             "%s"
             "event_routing:\n"
             "  input_endpoint: tcp://127.0.0.1:%u\n"
             "  output_coordinator: \"\"\n"
             "  output_automation: tcp://127.0.0.1:%u\n"
             "  output_analytics: tcp://127.0.0.1:%u\n"
             "  output_graph: \"\"\n"
             "  output_vector: \"\"\n"
             "  state_dir: %s/routing\n"
             "  rest_port: %u\n"
             "reactive_automation:\n"
             "  input_endpoint: tcp://127.0.0.1:%u\n"
             "  emit_endpoint: tcp://127.0.0.1:%u\n"
             "  state_dir: %s/automation\n"
             "  rest_port: %u\n"
             "stream_analytics:\n"
             "  input_endpoint: \">tcp://127.0.0.1:%u\"\n"
             "  results_endpoint: tcp://127.0.0.1:%u\n"
             "  state_dir: %s/analytics\n"
             "  rest_port: %u\n"
             "admin:\n"
             "  token_file: %s/token\n",
             s->ingest, s->acked, s->out, s->tap, s->rest[S_PROP], idline, s->out, s->to_auto,
             s->to_an, s->dir, s->rest[S_ROUTING], s->to_auto, s->ingest, s->dir,
             s->rest[S_AUTOMATION], s->to_an, s->results, s->dir, s->rest[S_ANALYTICS], s->dir);
    snprintf(path, sizeof path, "%s/suite.yaml", s->dir);
    ck_assert_int_eq(vt_write_file(path, yaml), 0);
}

static void
s_start(struct s_suite *s)
{
    memset(s, 0, sizeof *s);
    char *dir = vt_tmpdir();
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    free(dir);
    for (int d = 0; d < S_N; d++) {
        s->rest[d] = vt_free_port();
        char sub[400];
        snprintf(sub, sizeof sub, "%s/%s", s->dir, s_names[d]);
        ck_assert_int_eq(mkdir(sub, 0700), 0);
    }
    s->ingest = vt_free_port();
    s->acked = vt_free_port();
    s->out = vt_free_port();
    s->tap = vt_free_port();
    s->to_auto = vt_free_port();
    s->to_an = vt_free_port();
    s->results = vt_free_port();
    s->secure = s_daemons_secure();
    char tok[400];
    snprintf(tok, sizeof tok, "%s/token", s->dir);
    ck_assert_int_eq(vt_write_file(tok, S_TOKEN "\n"), 0);
    s_write_config(s);
    for (int d = 0; d < S_N; d++) {
        char bin[PATH_MAX], cfg[400], log[400];
        snprintf(bin, sizeof bin, "%s/vexfs-%s", vt_bin_dir(), s_names[d]);
        snprintf(cfg, sizeof cfg, "%s/suite.yaml", s->dir);
        snprintf(log, sizeof log, "%s/%s.log", s->dir, s_names[d]);
        char *argv[] = {bin, "--config", cfg, NULL};
        s->pid[d] = vt_spawn(argv, NULL, log);
        ck_assert_int_gt(s->pid[d], 0);
    }
    for (int d = 0; d < S_N; d++) {
        ck_assert_msg(vt_wait_ready(s->rest[d], 30000), "%s not ready; log in %s/%s.log",
                      s_names[d], s->dir, s_names[d]);
    }

    /* The examples' environment: what a user sets for a program of their own. */
    char v[300];
    const char *scheme = s->secure ? "https" : "http";
    snprintf(v, sizeof v, "tcp://127.0.0.1:%u", s->acked);
    s_env(s, "VEXFS_CLIENT_INGEST_ENDPOINT=%s", v);
    snprintf(v, sizeof v, "tcp://127.0.0.1:%u", s->tap);
    s_env(s, "VEXFS_CLIENT_TAP_ENDPOINT=%s", v);
    const char *vars[S_N] = {"VEXFS_PROPAGATION_URL=%s", "VEXFS_ROUTING_URL=%s",
                             "VEXFS_AUTOMATION_URL=%s", "VEXFS_ANALYTICS_URL=%s"};
    for (int d = 0; d < S_N; d++) {
        snprintf(v, sizeof v, "%s://127.0.0.1:%u", scheme, s->rest[d]);
        s_env(s, vars[d], v);
    }
    s_env(s, "VEXFS_TOKEN_FILE=%s", tok);
    if (s->secure) {
        s_env(s, "VEXFS_SECURITY_IDENTITY=%s", "test"); /* keys and CA: the test's own */
    } else {
        s_env(s, "VEXFS_SECURITY_CURVE=%s", "off");
        s_env(s, "VEXFS_SECURITY_TLS=%s", "off");
    }
    snprintf(v, sizeof v, "%s/../lib/libvexfs.so", vt_bin_dir());
    s_env(s, "VEXFS_LIB=%s", v);
}

static void
s_stop(struct s_suite *s)
{
    for (int d = S_N - 1; d >= 0; d--) {
        int st = vt_stop(s->pid[d], SIGTERM, 30000);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s exit status %d; log in %s",
                      s_names[d], st, s->dir);
    }
}

/* Runs an example with args; fails the test unless it exits with `status`. The caller frees
 * r with vt_run_result_fini. */
static void
s_run(struct vt_run_result *r, int status, const char *name, const char *a1, const char *a2,
      const char *a3)
{
    char bin[PATH_MAX];
    s_example(bin, sizeof bin, name);
    char *argv[] = {bin, (char *)a1, (char *)a2, (char *)a3, NULL};
    int rc = vt_run(argv, s_s.env, NULL, 60000, r);
    ck_assert_msg(rc == 0, "%s did not finish", name);
    ck_assert_msg(WIFEXITED(r->status) && WEXITSTATUS(r->status) == status,
                  "%s %s: exit status %d, expected %d\nstdout: %s\nstderr: %s", name,
                  a1 ? a1 : "", r->status, status, r->out, r->err);
}

static void
s_expect(const char *name, const char *a1, const char *a2, const char *a3, const char *want)
{
    struct vt_run_result r;
    s_run(&r, 0, name, a1, a2, a3);
    ck_assert_msg(strstr(r.out, want), "%s %s: expected \"%s\" in:\n%s\nstderr: %s", name,
                  a1 ? a1 : "", want, r.out, r.err);
    vt_run_result_fini(&r);
}

/* An example run again until its output holds every string of want: for what the daemons
 * compute after the call returned (alerts, windows). */
struct s_until {
    const char *name, *a1, *a2;
    const char *const *want;
    char last[4096];
};

static bool
cb_prints_all(void *arg)
{
    struct s_until *u = arg;
    struct vt_run_result r;
    s_run(&r, 0, u->name, u->a1, u->a2, NULL);
    bool all = true;
    for (size_t i = 0; u->want[i]; i++) {
        all = all && strstr(r.out, u->want[i]) != NULL;
    }
    snprintf(u->last, sizeof u->last, "%s", r.out);
    vt_run_result_fini(&r);
    return all;
}

static void
s_expect_eventually(const char *name, const char *a1, const char *a2, const char *const *want,
                    int timeout_ms)
{
    struct s_until u = {name, a1, a2, want, ""};
    ck_assert_msg(vt_wait_until(cb_prints_all, &u, timeout_ms),
                  "%s %s: never printed what was expected; last output:\n%s", name, a1, u.last);
}

static void
s_data(char *out, size_t len, const char *file)
{
    char rel[200];
    snprintf(rel, sizeof rel, "examples/data/%s", file);
    s_repo_path(out, len, rel);
}

/* ---- the tests: one suite of daemons, the examples in the order of the usage guide --------- */

START_TEST(t_admin_objects)
{
    char f[PATH_MAX];
    s_data(f, sizeof f, "rules.json");
    s_expect("rules", "apply", f, NULL, "applied 1 rule: version ");
    s_expect("rules", "list", NULL, NULL,
             "examples-to-analytics priority 100 -> analytics automation");
    s_data(f, sizeof f, "patterns.json");
    s_expect("patterns", "apply", f, NULL, "pattern examples-delete-burst created");
    s_expect("patterns", "apply", f, NULL, "pattern examples-delete-burst updated");
    s_expect("patterns", "list", NULL, NULL, "examples-delete-burst (threshold)");
    s_data(f, sizeof f, "workflow.json");
    s_expect("workflows", "apply", f, NULL, "workflow examples-record created");
    s_expect("workflows", "apply", f, NULL, "workflow examples-record updated");
    s_data(f, sizeof f, "query.json");
    s_expect("queries", "apply", f, NULL, "query examples-by-type created");
    s_expect("queries", "apply", f, NULL, "query examples-by-type updated");

    /* A refusal of the daemon reaches the program as status and JSON. */
    struct vt_run_result r;
    s_run(&r, 1, "rules", "delete", "no-such-rule", NULL);
    ck_assert_msg(strstr(r.err, "HTTP 404") && strstr(r.err, "not_found"), "%s", r.err);
    vt_run_result_fini(&r);
}
END_TEST

/* Reads what a child printed so far into buf (appending). */
static void
s_drain(int fd, char *buf, size_t cap, size_t *len, int timeout_ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    while (*len < cap - 1 && poll(&p, 1, timeout_ms) > 0) {
        ssize_t n = read(fd, buf + *len, cap - 1 - *len);
        if (n <= 0) {
            break;
        }
        *len += (size_t)n;
        buf[*len] = '\0';
        timeout_ms = 0;
    }
}

START_TEST(t_emit_and_tail)
{
    char tail[PATH_MAX];
    s_example(tail, sizeof tail, "tail_tap");
    char *argv[] = {tail, "1000", "3000", NULL};
    int out_fd = -1, err_fd = -1;
    pid_t pid = vt_spawn_pipes(argv, s_s.env, NULL, &out_fd, &err_fd);
    ck_assert_int_gt(pid, 0);
    static char out[1 << 20], err[4096];
    size_t out_len = 0, err_len = 0;
    for (int i = 0; i < 100 && !strstr(err, "subscribed"); i++) {
        s_drain(err_fd, err, sizeof err, &err_len, 100);
    }
    ck_assert_msg(strstr(err, "tail_tap: subscribed"), "%s", err);

    /* The subscription joins in the background: emit probes until the tap shows one. */
    bool joined = false;
    for (int i = 0; i < 50 && !joined; i++) {
        char path[64];
        snprintf(path, sizeof path, "/examples/probe-%d", i);
        s_expect("emit_event", path, NULL, NULL, "acknowledged 1 event");
        s_drain(out_fd, out, sizeof out, &out_len, 200);
        joined = strstr(out, "/examples/probe-") != NULL;
    }
    ck_assert_msg(joined, "the tap example showed no probe: %s", err);

    s_expect("emit_event", "/examples/a.txt", "123", NULL,
             "acknowledged 1 event: filesystem_write /examples/a.txt");
    s_expect("emit_batch", "10", NULL, NULL,
             "emitted 12 events, acknowledged 12 (resent 0, lost 0)");
    s_expect("emit_batch", "3", "filesystem_delete", "/examples/del",
             "emitted 5 events, acknowledged 5 (resent 0, lost 0)");

    /* tail_tap ends 3 s after the last event. */
    int st = vt_wait_exit(pid, 30000);
    s_drain(out_fd, out, sizeof out, &out_len, 0);
    s_drain(err_fd, err, sizeof err, &err_len, 0);
    close(out_fd);
    close(err_fd);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "tail_tap status %d: %s", st, err);
    const char *want[] = {
        "\"path\":\"/examples/a.txt\",\"content\":{\"size\":\"123\"}",
        "\"path\":\"/examples/batch/file-0\"",
        "\"path\":\"/examples/batch/file-9\"",
        "\"path\":\"/examples/batch/from-json-2\",\"content\":{\"size\":\"2\"}",
        "\"type\":\"filesystem_delete\",",
        "\"path\":\"/examples/del/file-2\"",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        ck_assert_msg(strstr(out, want[i]), "tail_tap did not print %s:\n%s", want[i], out);
    }
    ck_assert_msg(strstr(err, "(0 batches missed, 0 undecodable)"), "%s", err);

    /* The deletions complete the pattern; analytics counts the routed events. */
    const char *alert[] = {"alert examples-delete-burst: burst of deletions (3 events)", NULL};
    s_expect_eventually("patterns", "alerts", NULL, alert, 20000);
    const char *windows[] = {"group {\"type\":\"filesystem_create\"} {\"events\":10}",
                             "group {\"type\":\"filesystem_delete\"} {\"events\":3}", NULL};
    s_expect_eventually("queries", "results", "examples-by-type", windows, 20000);

    struct vt_run_result r;
    s_run(&r, 0, "stats", NULL, NULL, NULL);
    long received = -1;
    const char *p = strstr(r.out, "propagation: received ");
    ck_assert_msg(p, "%s", r.out);
    received = strtol(p + strlen("propagation: received "), NULL, 10);
    ck_assert_msg(received >= 18, "propagation received %ld events: %s", received, r.out);
    ck_assert_msg(strstr(r.out, "routing: decided "), "%s", r.out);
    vt_run_result_fini(&r);

    /* An invalid event never leaves the program. */
    s_run(&r, 1, "emit_event", "relative/path", NULL, NULL);
    ck_assert_msg(strstr(r.err, "field 'path': must be absolute"), "%s", r.err);
    vt_run_result_fini(&r);
}
END_TEST

START_TEST(t_workflow_run)
{
    char f[PATH_MAX], in[PATH_MAX];
    s_data(f, sizeof f, "workflow.json");
    s_data(in, sizeof in, "input.json");
    s_expect("workflows", "apply", f, NULL, "workflow examples-record ");
    struct vt_run_result r;
    s_run(&r, 0, "workflows", "run", "examples-record", in);
    ck_assert_msg(strstr(r.out, " started\n") && strstr(r.out, " succeeded\n") &&
                      strstr(r.out, "  step record: succeeded\n") &&
                      strstr(r.out, "  step pause: succeeded\n") &&
                      strstr(r.out, "  step done: succeeded\n"),
                  "%s", r.out);
    vt_run_result_fini(&r);
}
END_TEST

/* Python through ctypes, with the same library. Under the sanitizers the interpreter gets the
 * sanitizer's runtime first (the library was built with it) and does not check its own
 * leaks. */
static void
s_python(struct vt_run_result *r, const char *script, const char *arg)
{
    char path[PATH_MAX], rel[200];
    snprintf(rel, sizeof rel, "examples/python/%s", script);
    s_repo_path(path, sizeof path, rel);
    char *env[40];
    size_t n = 0;
    for (; s_s.env[n]; n++) {
        env[n] = s_s.env[n];
    }
    char preload[PATH_MAX + 16] = "";
    if (getenv("VX_SANITIZE") && strcmp(getenv("VX_SANITIZE"), "1") == 0) {
        char *cc[] = {"/usr/bin/env", "cc", "-print-file-name=libasan.so", NULL};
        struct vt_run_result a;
        ck_assert_int_eq(vt_run(cc, NULL, NULL, 10000, &a), 0);
        a.out[strcspn(a.out, "\n")] = '\0';
        snprintf(preload, sizeof preload, "LD_PRELOAD=%s", a.out);
        vt_run_result_fini(&a);
        env[n++] = preload;
        env[n++] = "ASAN_OPTIONS=detect_leaks=0";
    }
    env[n] = NULL;
    char *argv[] = {"/usr/bin/env", "python3", path, (char *)arg, NULL};
    ck_assert_int_eq(vt_run(argv, env, NULL, 60000, r), 0);
    ck_assert_msg(WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0,
                  "%s: status %d\nstdout: %s\nstderr: %s", script, r->status, r->out, r->err);
}

START_TEST(t_python)
{
    struct vt_run_result r;
    s_python(&r, "emit_and_tail.py", "5");
    ck_assert_msg(strstr(r.out, "emitted 5 events, acknowledged ") &&
                      strstr(r.out, "tap: saw 5 of 5 events"),
                  "%s", r.out);
    vt_run_result_fini(&r);
    s_python(&r, "admin.py", NULL);
    ck_assert_msg(strstr(r.out, "propagation: received ") &&
                      strstr(r.out, "routing: version ") &&
                      strstr(r.out, "examples-to-analytics"),
                  "%s", r.out);
    vt_run_result_fini(&r);
}
END_TEST

/* One suite for the whole program: the tests run in order, without forking, on its state. */
static void
cb_setup(void)
{
    s_start(&s_s);
}

static void
cb_teardown(void)
{
    s_stop(&s_s);
}

static Suite *
s_suite(void)
{
    Suite *s = suite_create("client_examples");
    TCase *tc = tcase_create("examples");
    tcase_set_timeout(tc, 240);
    tcase_add_unchecked_fixture(tc, cb_setup, cb_teardown);
    tcase_add_test(tc, t_admin_objects);
    tcase_add_test(tc, t_emit_and_tail);
    tcase_add_test(tc, t_workflow_run);
    tcase_add_test(tc, t_python);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(s_suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
