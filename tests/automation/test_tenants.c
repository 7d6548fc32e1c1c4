/* SPDX-License-Identifier: Apache-2.0 */
/* vexfs-automation with credentials, over real HTTPS: the tenant comes from the credential,
 * not from a header, and inline script content is stored only from an admin credential where
 * allow_inline_scripts is set.
 *
 * Credentials: "alice" operator of acme and "bob" operator of globex (bearer tokens), "test"
 * admin of every tenant (the client certificate of the test support). */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "vt_https.h"
#include "vx_creds.h"
#include "vx_test.h"

#define S_ALICE "alice-token-0123456789"
#define S_BOB "bob-token-0123456789"
#define S_ADMIN NULL /* the client certificate */

struct s_daemon {
    char *dir;
    uint16_t port;
    pid_t pid;
    char log[400];
};

static void
s_start(struct s_daemon *d, bool allow_inline)
{
    d->dir = vt_tmpdir();
    ck_assert_ptr_nonnull(d->dir);
    d->port = vt_free_port();
    char ah[65], bh[65], creds[300], text[1024], cfg[2048], cfgpath[300], env[400], bin[400];
    vx_sha256_hex(S_ALICE, strlen(S_ALICE), ah);
    vx_sha256_hex(S_BOB, strlen(S_BOB), bh);
    snprintf(creds, sizeof creds, "%s/credentials.yaml", d->dir);
    snprintf(text, sizeof text,
             "credentials:\n"
             "  - {name: test, role: admin, tenants: [\"*\"], certificate_cn: test}\n"
             "  - {name: alice, role: operator, tenants: [acme], token_sha256: %s}\n"
             "  - {name: bob, role: operator, tenants: [globex], token_sha256: %s}\n",
             ah, bh);
    ck_assert_int_eq(vt_write_file(creds, text), 0);
    snprintf(cfg, sizeof cfg,
             "reactive_automation:\n"
             "  rest_port: %u\n"
             "  input_endpoint: tcp://127.0.0.1:%u\n"
             "  emit_endpoint: tcp://127.0.0.1:%u\n"
             "  state_dir: %s/state\n"
             "  scripts_dir: %s\n"
             "  allow_inline_scripts: %s\n",
             (unsigned)d->port, (unsigned)vt_free_port(), (unsigned)vt_free_port(), d->dir,
             d->dir, allow_inline ? "true" : "false");
    snprintf(cfgpath, sizeof cfgpath, "%s/vexfs.yaml", d->dir);
    ck_assert_int_eq(vt_write_file(cfgpath, cfg), 0);
    snprintf(env, sizeof env, "VEXFS_SECURITY_CREDENTIALS_FILE=%s", creds);
    snprintf(bin, sizeof bin, "%s/vexfs-automation", vt_bin_dir());
    snprintf(d->log, sizeof d->log, "%s/automation.log", d->dir);
    char *argv[] = {bin, (char *)"--config", cfgpath, NULL};
    char *envp[] = {env, NULL};
    d->pid = vt_spawn(argv, envp, d->log);
    ck_assert_msg(d->pid > 0 && vt_wait_ready(d->port, 20000), "not ready; log in %s", d->log);
}

static void
s_stop(struct s_daemon *d)
{
    int status = vt_stop(d->pid, SIGTERM, 20000);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status %d; log in %s",
                  status, d->log);
    free(d->dir);
}

/* One request with token (S_ADMIN: the admin certificate) and tenant (NULL: no header); the
 * body into out. Returns the status. */
static long
s_call(const struct s_daemon *d, const char *method, const char *path, const char *body,
       const char *token, const char *tenant, char *out, size_t outlen)
{
    char ca[400], cert[400], key[400];
    snprintf(ca, sizeof ca, "%s/ca.crt", vt_tls_dir());
    snprintf(cert, sizeof cert, "%s/test.crt", vt_tls_dir());
    snprintf(key, sizeof key, "%s/test.key", vt_tls_dir());
    struct vt_https_req rq = {.method = method, .port = d->port, .path = path, .body = body,
                              .token = token, .tenant = tenant, .ca_file = ca,
                              .cert_file = token ? NULL : cert, .key_file = token ? NULL : key};
    struct vt_http_result r;
    ck_assert_int_eq(vt_https(&rq, &r), 0);
    snprintf(out, outlen, "%s", r.body ? r.body : "");
    long st = r.status;
    vt_http_result_fini(&r);
    return st;
}

#define S_NAMED                                                                                    \
    "{\"id\":\"w1\",\"kind\":\"linear\",\"steps\":[{\"id\":\"s\",\"action\":{\"kind\":\"script\"," \
    "\"interpreter\":\"bash\",\"script\":\"ok.sh\"}}]}"
#define S_INLINE                                                                                   \
    "{\"id\":\"w2\",\"kind\":\"linear\",\"steps\":[{\"id\":\"s\",\"action\":{\"kind\":\"script\"," \
    "\"interpreter\":\"bash\",\"content\":\"echo 1\"}}]}"

START_TEST(t_tenant_from_credential)
{
    struct s_daemon d;
    s_start(&d, true);
    char out[65536];
    long st = s_call(&d, "POST", "/v1/workflows", S_NAMED, S_ALICE, NULL, out, sizeof out);
    ck_assert_msg(st == 201, "alice stores w1: expected 201, got %ld %s", st, out);
    /* alice sees it (acme is her only tenant); bob does not, and may not name acme */
    st = s_call(&d, "GET", "/v1/workflows/w1", NULL, S_ALICE, NULL, out, sizeof out);
    ck_assert_msg(st == 200, "alice reads w1: expected 200, got %ld %s", st, out);
    st = s_call(&d, "GET", "/v1/workflows/w1", NULL, S_BOB, NULL, out, sizeof out);
    ck_assert_msg(st == 404, "bob reads w1: expected 404, got %ld %s", st, out);
    st = s_call(&d, "GET", "/v1/workflows", NULL, S_BOB, NULL, out, sizeof out);
    ck_assert_msg(st == 200 && strstr(out, "w1") == NULL, "bob's list shows w1: %ld %s", st,
                  out);
    st = s_call(&d, "GET", "/v1/workflows/w1", NULL, S_BOB, "acme", out, sizeof out);
    ck_assert_msg(st == 403 && strstr(out, "tenant_forbidden") != NULL,
                  "bob naming acme: expected 403 tenant_forbidden, got %ld %s", st, out);
    st = s_call(&d, "DELETE", "/v1/workflows/w1", NULL, S_BOB, "acme", out, sizeof out);
    ck_assert_msg(st == 403, "bob deleting acme's w1: expected 403, got %ld %s", st, out);
    /* the admin acts for acme on its behalf (header), and sees w1 there only */
    st = s_call(&d, "GET", "/v1/workflows/w1", NULL, S_ADMIN, "acme", out, sizeof out);
    ck_assert_msg(st == 200, "admin for acme: expected 200, got %ld %s", st, out);
    st = s_call(&d, "GET", "/v1/workflows/w1", NULL, S_ADMIN, "globex", out, sizeof out);
    ck_assert_msg(st == 404, "admin for globex: expected 404, got %ld %s", st, out);
    /* stats: a tenant's own counts for a credential of some tenants, totals for every tenant */
    st = s_call(&d, "GET", "/v1/stats", NULL, S_ALICE, NULL, out, sizeof out);
    ck_assert_msg(st == 200 &&
                      strcmp(out, "{\"tenant\":\"acme\",\"patterns\":0,\"workflows\":1}") == 0,
                  "alice's stats: expected acme's counts, got %ld %s", st, out);
    st = s_call(&d, "GET", "/v1/stats", NULL, S_BOB, NULL, out, sizeof out);
    ck_assert_msg(st == 200 && strstr(out, "\"workflows\":0") != NULL &&
                      strstr(out, "\"events\"") == NULL,
                  "bob's stats: expected globex's counts only, got %ld %s", st, out);
    st = s_call(&d, "GET", "/v1/stats", NULL, S_ADMIN, NULL, out, sizeof out);
    ck_assert_msg(st == 200 && strstr(out, "\"events\"") != NULL &&
                      strstr(out, "\"workflows\":1") != NULL,
                  "admin's stats: expected the totals, got %ld %s", st, out);
    st = s_call(&d, "GET", "/v1/breakers", NULL, S_BOB, NULL, out, sizeof out);
    ck_assert_msg(st == 200 && strstr(out, "\"breakers\":[]") != NULL, "bob's breakers: %ld %s",
                  st, out);
    s_stop(&d);
}
END_TEST

START_TEST(t_inline_scripts_need_admin)
{
    struct s_daemon d;
    s_start(&d, true);
    char out[65536];
    long st = s_call(&d, "POST", "/v1/workflows", S_INLINE, S_ALICE, NULL, out, sizeof out);
    ck_assert_msg(st == 403 && strstr(out, "inline_script_forbidden") != NULL &&
                      strstr(out, "admin") != NULL,
                  "operator storing inline content: expected 403 inline_script_forbidden, got "
                  "%ld %s",
                  st, out);
    st = s_call(&d, "PUT", "/v1/workflows/w2", S_INLINE, S_ALICE, NULL, out, sizeof out);
    ck_assert_msg(st == 403, "operator replacing with inline content: expected 403, got %ld %s",
                  st, out);
    st = s_call(&d, "GET", "/v1/workflows/w2", NULL, S_ALICE, NULL, out, sizeof out);
    ck_assert_msg(st == 404, "a refused definition was stored: %ld %s", st, out);
    st = s_call(&d, "POST", "/v1/workflows", S_INLINE, S_ADMIN, "acme", out, sizeof out);
    ck_assert_msg(st == 201, "admin storing inline content: expected 201, got %ld %s", st, out);
    s_stop(&d);

    s_start(&d, false);
    st = s_call(&d, "POST", "/v1/workflows", S_INLINE, S_ADMIN, "acme", out, sizeof out);
    ck_assert_msg(st == 403 && strstr(out, "allow_inline_scripts") != NULL,
                  "inline content with allow_inline_scripts off: expected 403, got %ld %s", st,
                  out);
    st = s_call(&d, "POST", "/v1/workflows", S_NAMED, S_ALICE, NULL, out, sizeof out);
    ck_assert_msg(st == 201, "a named script needs no admin: expected 201, got %ld %s", st, out);
    s_stop(&d);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("automation_tenants");
    TCase *tc = tcase_create("tenants");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_tenant_from_credential);
    tcase_add_test(tc, t_inline_scripts_need_admin);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
