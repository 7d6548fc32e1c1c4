/* SPDX-License-Identifier: Apache-2.0 */
/* vx_creds: credentials files, lookups by token and certificate, tenants, and precise errors. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vx_creds.h"
#include "vx_test.h"
#include "vx_yaml.h"

static vx_creds_t *
s_parse(const char *yaml, char *err, size_t errlen)
{
    json_t *doc = vx_yaml_parse(yaml, strlen(yaml), err, errlen);
    ck_assert_msg(doc != NULL, "%s", err);
    vx_creds_t *c = vx_creds_from_json(doc, "creds.yaml", err, errlen);
    json_decref(doc);
    return c;
}

START_TEST(t_lookup)
{
    char err[512], alice[65], bob[65];
    vx_sha256_hex("alice-token", 11, alice);
    vx_sha256_hex("bob-token", 9, bob);
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "credentials:\n"
             "  - {name: alice, role: operator, tenants: [acme, acme-eu], token_sha256: %s}\n"
             "  - {name: bob, role: viewer, tenants: ['*'], token_sha256: %s,\n"
             "     certificate_cn: bob-laptop}\n"
             "  - {name: ops, role: admin, tenants: ['*'], certificate_cn: ops}\n",
             alice, bob);
    vx_creds_t *c = s_parse(yaml, err, sizeof err);
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_uint_eq(vx_creds_count(c), 3);
    const struct vx_cred *a = vx_creds_by_token(c, "alice-token");
    ck_assert_str_eq(a->name, "alice");
    ck_assert_int_eq(a->role, VX_ROLE_OPERATOR);
    ck_assert(vx_cred_allows_tenant(a, "acme-eu"));
    ck_assert(!vx_cred_allows_tenant(a, "globex"));
    ck_assert_ptr_null(vx_creds_by_token(c, "alice-token "));
    ck_assert_ptr_null(vx_creds_by_token(c, ""));
    ck_assert_str_eq(vx_creds_by_cn(c, "bob-laptop")->name, "bob");
    ck_assert_ptr_null(vx_creds_by_cn(c, "mallory"));
    ck_assert(vx_cred_allows_tenant(vx_creds_by_cn(c, "ops"), "anything"));
    vx_creds_destroy(&c);
    ck_assert_ptr_null(c);
    vx_creds_t *one = vx_creds_single_admin("t0ken");
    ck_assert_str_eq(vx_creds_by_token(one, "t0ken")->name, "admin");
    ck_assert_int_eq(vx_creds_by_token(one, "t0ken")->role, VX_ROLE_ADMIN);
    vx_creds_destroy(&one);
}
END_TEST

START_TEST(t_errors)
{
    static const struct {
        const char *yaml;
        const char *says;
    } bad[] = {
        {"credentials: {}\n", "expected one key, credentials"},
        {"credentials:\n  - {name: a, role: boss, tenants: ['*'], certificate_cn: a}\n",
         "credentials[0]: role: viewer, operator or admin"},
        {"credentials:\n  - {name: a, role: admin, tenants: [], certificate_cn: a}\n",
         "credentials[0]: tenants"},
        {"credentials:\n  - {name: a, role: admin, tenants: ['*']}\n",
         "needs token_sha256, certificate_cn or both"},
        {"credentials:\n  - {name: a, role: admin, tenants: ['*'], token_sha256: abc}\n",
         "token_sha256: 64 hex digits"},
        {"credentials:\n  - {name: a, role: admin, tenants: ['*'], certificate_cn: a, pw: x}\n",
         "pw: unknown key"},
        {"credentials:\n  - {name: a, role: admin, tenants: ['*'], certificate_cn: a}\n"
         "  - {name: b, role: viewer, tenants: ['*'], certificate_cn: a}\n",
         "credentials[1]: the same name, token or certificate"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[512];
        ck_assert_ptr_null(s_parse(bad[i].yaml, err, sizeof err));
        ck_assert_msg(strstr(err, bad[i].says) && strstr(err, "creds.yaml"),
                      "case %zu: expected \"%s\", got \"%s\"", i, bad[i].says, err);
    }
}
END_TEST

START_TEST(t_roles)
{
    enum vx_role r;
    ck_assert_int_eq(vx_role_parse("viewer", &r), 0);
    ck_assert_int_eq(r, VX_ROLE_VIEWER);
    ck_assert_int_eq(vx_role_parse("open", &r), -EINVAL);
    ck_assert_str_eq(vx_role_name(VX_ROLE_ADMIN), "admin");
    ck_assert_ptr_null(vx_role_name(VX_ROLE_OPEN));
    ck_assert(VX_ROLE_VIEWER < VX_ROLE_OPERATOR && VX_ROLE_OPERATOR < VX_ROLE_ADMIN);
    char h[65];
    vx_sha256_hex("abc", 3, h);
    ck_assert_str_eq(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("creds");
    TCase *tc = tcase_create("creds");
    tcase_add_test(tc, t_lookup);
    tcase_add_test(tc, t_errors);
    tcase_add_test(tc, t_roles);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
