/* SPDX-License-Identifier: Apache-2.0 */
/* vexfsctl's security commands, run as a user would: keys init and generate, certs init and
 * generate, creds add/list/revoke, audit keygen and verify. */
#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vx_audit.h"
#include "vx_creds.h"
#include "vx_keys.h"
#include "vx_test.h"
#include "vx_tls.h"

/* Runs vexfsctl with the arguments up to NULL; returns its exit status and keeps its output. */
static int
s_ctl(struct vt_run_result *r, ...)
{
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfsctl", vt_bin_dir());
    char *argv[16] = {bin};
    va_list ap;
    va_start(ap, r);
    for (int i = 1; i < 15 && (argv[i] = va_arg(ap, char *)); i++) {
    }
    va_end(ap);
    ck_assert_int_eq(vt_run(argv, NULL, NULL, 30000, r), 0);
    return WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
}

START_TEST(t_keys)
{
    char *dir = vt_tmpdir();
    char set[600], path[700], err[512];
    snprintf(set, sizeof set, "%s/keys", dir);
    struct vt_run_result r;
    ck_assert_int_eq(s_ctl(&r, "keys", "init", set, "--identities", "routing,acme-app", NULL),
                     0);
    ck_assert_msg(strstr(r.out, "2 identities"), "out: %s", r.out);
    vt_run_result_fini(&r);
    struct vx_keypair kp;
    snprintf(path, sizeof path, "%s/acme-app.key", set);
    ck_assert_msg(vx_keys_load_secret(path, &kp, err, sizeof err) == 0, "%s", err);
    snprintf(path, sizeof path, "%s/authorized", set);
    vx_keyring_t *ring = vx_keyring_load(path, err, sizeof err);
    ck_assert_ptr_nonnull(ring);
    ck_assert_str_eq(vx_keyring_name(ring, kp.public_txt), "acme-app");
    vx_keyring_destroy(&ring);
    snprintf(path, sizeof path, "%s/audit.key", set);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    /* A second init into the same folder refuses rather than replace keys. */
    ck_assert_int_eq(s_ctl(&r, "keys", "init", set, NULL), 1);
    ck_assert_msg(strstr(r.err, "exists"), "err: %s", r.err);
    vt_run_result_fini(&r);
    ck_assert_int_eq(s_ctl(&r, "keys", "generate", "bob", "--dir", set, NULL), 0);
    vt_run_result_fini(&r);
    ck_assert_int_eq(s_ctl(&r, "keys", "frobnicate", NULL), 2);
    vt_run_result_fini(&r);
    free(dir);
}
END_TEST

START_TEST(t_certs)
{
    char *dir = vt_tmpdir();
    char set[600], err[512];
    snprintf(set, sizeof set, "%s/tls", dir);
    struct vt_run_result r;
    ck_assert_int_eq(s_ctl(&r, "certs", "init", set, "--hosts", "vexfs.example,10.1.2.3",
                           "--clients", "ctl", NULL),
                     0);
    vt_run_result_fini(&r);
    char path[700];
    snprintf(path, sizeof path, "%s/server.crt", set);
    char *cert = vx_tls_read_pem(path, false, NULL, err, sizeof err);
    snprintf(path, sizeof path, "%s/ca.crt", set);
    char *ca = vx_tls_read_pem(path, false, NULL, err, sizeof err);
    ck_assert_int_eq(vx_tls_verify(cert, ca, "vexfs.example", err, sizeof err), 0);
    ck_assert_int_eq(vx_tls_verify(cert, ca, "10.1.2.3", err, sizeof err), 0);
    ck_assert_int_eq(vx_tls_verify(cert, ca, "other.example", err, sizeof err), -EINVAL);
    free(cert);
    ck_assert_int_eq(s_ctl(&r, "certs", "generate", "web", "--dir", set, "--hosts", "web.example",
                           NULL),
                     0);
    vt_run_result_fini(&r);
    snprintf(path, sizeof path, "%s/web.crt", set);
    cert = vx_tls_read_pem(path, false, NULL, err, sizeof err);
    ck_assert_int_eq(vx_tls_verify(cert, ca, "web.example", err, sizeof err), 0);
    free(cert);
    free(ca);
    free(dir);
}
END_TEST

START_TEST(t_creds)
{
    char *dir = vt_tmpdir();
    char file[600], tokfile[600], err[512];
    snprintf(file, sizeof file, "%s/creds.yaml", dir);
    snprintf(tokfile, sizeof tokfile, "%s/ops.token", dir);
    struct vt_run_result r;
    ck_assert_int_eq(s_ctl(&r, "creds", "add", "alice", "--role", "operator", "--tenants", "acme",
                           "--file", file, NULL),
                     0);
    char token[80];
    ck_assert_int_eq(sscanf(r.out, "%79s", token), 1);
    vt_run_result_fini(&r);
    ck_assert_int_eq(s_ctl(&r, "creds", "add", "ops", "--role", "admin", "--token-file", tokfile,
                           "--file", file, NULL),
                     0);
    ck_assert_str_eq(r.out, ""); /* the token went to the file only */
    vt_run_result_fini(&r);
    vx_creds_t *c = vx_creds_load(file, err, sizeof err);
    ck_assert_msg(c != NULL, "%s", err);
    const struct vx_cred *a = vx_creds_by_token(c, token);
    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(a->name, "alice");
    ck_assert(vx_cred_allows_tenant(a, "acme") && !vx_cred_allows_tenant(a, "globex"));
    vx_creds_destroy(&c);
    /* The file never holds a token in clear. */
    FILE *f = fopen(file, "r");
    char text[4096] = "";
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    ck_assert_ptr_null(strstr(text, token));
    ck_assert_int_eq(s_ctl(&r, "creds", "list", "--file", file, NULL), 0);
    ck_assert_msg(strstr(r.out, "alice") && strstr(r.out, "operator") && strstr(r.out, "ops"),
                  "out: %s", r.out);
    vt_run_result_fini(&r);
    ck_assert_int_eq(s_ctl(&r, "creds", "add", "alice", "--role", "viewer", "--file", file, NULL),
                     2); /* a second alice */
    ck_assert_msg(strstr(r.err, "the same name"), "err: %s", r.err);
    vt_run_result_fini(&r);
    ck_assert_int_eq(s_ctl(&r, "creds", "revoke", "alice", "--file", file, NULL), 0);
    vt_run_result_fini(&r);
    c = vx_creds_load(file, err, sizeof err);
    ck_assert_ptr_null(vx_creds_by_token(c, token));
    vx_creds_destroy(&c);
    free(dir);
}
END_TEST

START_TEST(t_audit)
{
    char *dir = vt_tmpdir();
    char log[600], key[600], pub[600], err[512];
    struct vt_run_result r;
    ck_assert_int_eq(s_ctl(&r, "audit", "keygen", dir, NULL), 0);
    vt_run_result_fini(&r);
    snprintf(log, sizeof log, "%s/a.jsonl", dir);
    snprintf(key, sizeof key, "%s/audit.key", dir);
    snprintf(pub, sizeof pub, "%s/audit.pub", dir);
    struct vx_audit_opts o = {.path = log, .key_file = key, .service = "vexfs-test"};
    vx_audit_t *a = vx_audit_open(&o, err, sizeof err);
    ck_assert_msg(a != NULL, "%s", err);
    for (int i = 0; i < 5; i++) {
        struct vx_audit_record rec = {.credential = "alice", .method = "PUT", .status = 200};
        vx_audit_append(a, &rec);
    }
    vx_audit_close(&a);
    ck_assert_int_eq(s_ctl(&r, "audit", "verify", log, "--public-key", pub, NULL), 0);
    ck_assert_msg(strstr(r.out, "6 lines, chain and signatures intact"), "out: %s", r.out);
    vt_run_result_fini(&r);
    /* One byte changed in line 3. */
    FILE *f = fopen(log, "r+");
    char line[1024];
    for (int i = 0; i < 2; i++) {
        ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    }
    long at = ftell(f);
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    char *p = strstr(line, "alice");
    fseek(f, at + (p - line), SEEK_SET);
    fputc('A', f);
    fclose(f);
    ck_assert_int_eq(s_ctl(&r, "audit", "verify", log, "--public-key", pub, NULL), 1);
    ck_assert_msg(strstr(r.err, "line 3: changed"), "err: %s", r.err);
    vt_run_result_fini(&r);
    free(dir);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("ctl_security");
    TCase *tc = tcase_create("commands");
    tcase_add_test(tc, t_keys);
    tcase_add_test(tc, t_certs);
    tcase_add_test(tc, t_creds);
    tcase_add_test(tc, t_audit);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
