/* SPDX-License-Identifier: Apache-2.0 */
/* vexfsctl patterns | workflows | executions | alerts against the real vexfs-automation:
 * apply, list, get, run, delete as two tenants; the daemon's refusal printed with the field;
 * usage errors exit 2. */
#include <check.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vx_test.h"

#define S_TOKEN "ctl-token"

struct s_env {
    pid_t pid;
    uint16_t port;
    char dir[256];
    char url[64];
    char tok[300];
    char log[300];
};

static void
s_start(struct s_env *e)
{
    memset(e, 0, sizeof *e);
    char *dir = vt_tmpdir();
    ck_assert_ptr_nonnull(dir);
    snprintf(e->dir, sizeof e->dir, "%s", dir);
    free(dir);
    e->port = vt_free_port();
    snprintf(e->url, sizeof e->url, "https://127.0.0.1:%u", (unsigned)e->port);
    char cfgpath[300], cfg[2048];
    snprintf(e->tok, sizeof e->tok, "%s/token", e->dir);
    snprintf(cfgpath, sizeof cfgpath, "%s/vexfs.yaml", e->dir);
    snprintf(e->log, sizeof e->log, "%s/automation.log", e->dir);
    ck_assert_int_eq(vt_write_file(e->tok, S_TOKEN "\n"), 0);
    snprintf(cfg, sizeof cfg,
             "reactive_automation:\n  rest_port: %u\n  input_endpoint: tcp://127.0.0.1:%u\n"
             "  allow_inline_scripts: true\n"
             "admin:\n  token_file: %s\nlogging:\n  level: warn\n",
             (unsigned)e->port, (unsigned)vt_free_port(), e->tok);
    ck_assert_int_eq(vt_write_file(cfgpath, cfg), 0);
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-automation", vt_bin_dir());
    char *argv[] = {bin, (char *)"--config", cfgpath, NULL};
    e->pid = vt_spawn(argv, NULL, e->log);
    ck_assert_int_gt(e->pid, 0);
    ck_assert_msg(vt_wait_ready(e->port, 20000), "automation not ready; log in %s", e->log);
}

/* Runs vexfsctl CMD --url .. --token-file .. [--tenant T] ARGS...; returns the exit status. */
static int
s_ctl(struct s_env *e, const char *tenant, struct vt_run_result *r, const char *cmd, ...)
{
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfsctl", vt_bin_dir());
    char *argv[32];
    int n = 0;
    argv[n++] = bin;
    argv[n++] = (char *)cmd;
    argv[n++] = (char *)"--url";
    argv[n++] = e->url;
    argv[n++] = (char *)"--token-file";
    argv[n++] = e->tok;
    if (tenant != NULL) {
        argv[n++] = (char *)"--tenant";
        argv[n++] = (char *)tenant;
    }
    va_list ap;
    va_start(ap, cmd);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 31) {
        argv[n++] = (char *)a;
    }
    va_end(ap);
    argv[n] = NULL;
    ck_assert_int_eq(vt_run(argv, NULL, NULL, 30000, r), 0);
    return WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
}

START_TEST(t_ctl)
{
    struct s_env e;
    s_start(&e);
    char wf[600], pat[600], bad[600];
    snprintf(wf, sizeof wf, "%s/wf.json", e.dir);
    snprintf(pat, sizeof pat, "%s/pat.json", e.dir);
    snprintf(bad, sizeof bad, "%s/bad.json", e.dir);
    ck_assert_int_eq(
        vt_write_file(wf, "{\"workflows\":[{\"id\":\"hello\",\"kind\":\"linear\",\"steps\":[{\"id\":"
                          "\"s\",\"action\":{\"kind\":\"script\",\"interpreter\":\"bash\","
                          "\"args\":[\"{{input.name}}\"],\"content\":\"echo \\\"{\\\\\\\"hi\\\\\\\""
                          ": \\\\\\\"$1\\\\\\\"}\\\"\"}}]},{\"id\":\"other\",\"kind\":\"linear\","
                          "\"steps\":[{\"id\":\"d\",\"action\":{\"kind\":\"delay\",\"ms\":1}}]}]}"),
        0);
    ck_assert_int_eq(vt_write_file(pat, "[{\"id\":\"dels\",\"kind\":\"threshold\",\"window_ms\":"
                                        "1000,\"elements\":[{\"event_type\":\"filesystem_delete\"}],"
                                        "\"actions\":[{\"kind\":\"alert\",\"message\":\"m\"}]}]"),
                     0);
    ck_assert_int_eq(vt_write_file(bad, "{\"id\":\"b\",\"kind\":\"linear\",\"steps\":[{\"id\":\"s\","
                                        "\"action\":{\"kind\":\"shell\"}}]}"),
                     0);
    struct vt_run_result r;
    ck_assert_int_eq(s_ctl(&e, "acme", &r, "workflows", "apply", wf, NULL), 0);
    vt_run_result_fini(&r);
    ck_assert_int_eq(s_ctl(&e, "acme", &r, "workflows", "list", NULL), 0);
    ck_assert_ptr_nonnull(strstr(r.out, "hello"));
    ck_assert_ptr_nonnull(strstr(r.out, "other"));
    vt_run_result_fini(&r);
    ck_assert_int_eq(s_ctl(&e, "other-tenant", &r, "workflows", "list", NULL), 0);
    ck_assert_str_eq(r.out, "none\n");
    vt_run_result_fini(&r);
    ck_assert_int_eq(s_ctl(&e, "acme", &r, "workflows", "apply", bad, NULL), 1);
    ck_assert_msg(strstr(r.err, "steps[0].action.kind: unknown step kind") != NULL, "%s", r.err);
    vt_run_result_fini(&r);

    char input[600];
    snprintf(input, sizeof input, "%s/in.json", e.dir);
    ck_assert_int_eq(vt_write_file(input, "{\"name\":\"a; rm -rf /\"}"), 0);
    ck_assert_int_eq(s_ctl(&e, "acme", &r, "workflows", "run", "hello", input, NULL), 0);
    char id[64];
    snprintf(id, sizeof id, "%.*s", (int)strcspn(r.out, "\n"), r.out);
    vt_run_result_fini(&r);
    ck_assert_uint_eq(strlen(id), 36);
    bool done = false;
    for (int i = 0; i < 600 && !done; i++) {
        ck_assert_int_eq(s_ctl(&e, "acme", &r, "executions", "get", id, NULL), 0);
        done = strstr(r.out, "\"status\": \"succeeded\"") != NULL;
        if (done) {
            ck_assert_ptr_nonnull(strstr(r.out, "\"hi\": \"a; rm -rf /\""));
        }
        vt_run_result_fini(&r);
        if (!done) {
            usleep(50000);
        }
    }
    ck_assert(done);
    ck_assert_int_eq(s_ctl(&e, "acme", &r, "executions", "--status", "succeeded", "list", NULL),
                     0);
    ck_assert_ptr_nonnull(strstr(r.out, id));
    vt_run_result_fini(&r);
    ck_assert_int_eq(s_ctl(&e, "nobody", &r, "executions", "get", id, NULL), 1);
    ck_assert_ptr_nonnull(strstr(r.err, "HTTP 404"));
    vt_run_result_fini(&r);

    ck_assert_int_eq(s_ctl(&e, "acme", &r, "patterns", "apply", pat, NULL), 0);
    vt_run_result_fini(&r);
    ck_assert_int_eq(s_ctl(&e, "acme", &r, "patterns", "list", NULL), 0);
    ck_assert_ptr_nonnull(strstr(r.out, "dels"));
    vt_run_result_fini(&r);
    ck_assert_int_eq(s_ctl(&e, "acme", &r, "patterns", "get", "dels", NULL), 0);
    ck_assert_ptr_nonnull(strstr(r.out, "\"stats\""));
    vt_run_result_fini(&r);
    ck_assert_int_eq(s_ctl(&e, "acme", &r, "alerts", "--since", "0", NULL), 0);
    ck_assert_msg(strcmp(r.out, "none\n") == 0 || strncmp(r.out, "SEQ  ", 5) == 0,
                  "alerts: expected \"none\" or an aligned table, got:\n%s", r.out);
    vt_run_result_fini(&r);
    ck_assert_int_eq(s_ctl(&e, "acme", &r, "patterns", "delete", "dels", NULL), 0);
    vt_run_result_fini(&r);
    ck_assert_int_eq(s_ctl(&e, "acme", &r, "workflows", "delete", "other", NULL), 0);
    vt_run_result_fini(&r);
    ck_assert_int_eq(s_ctl(&e, "acme", &r, "workflows", "get", "other", NULL), 1);
    vt_run_result_fini(&r);
    ck_assert_int_eq(s_ctl(&e, "acme", &r, "workflows", "launch", NULL), 2);
    vt_run_result_fini(&r);
    ck_assert_int_eq(s_ctl(&e, "acme", &r, "executions", "get", NULL), 2);
    vt_run_result_fini(&r);
    int status = vt_stop(e.pid, SIGTERM, 30000);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("workflows_ctl");
    TCase *tc = tcase_create("ctl");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_ctl);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
