/* SPDX-License-Identifier: Apache-2.0 */
/* prop_identity: the built-in policy, policy files and their errors, and which claims each
 * identity may make. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prop_identity.h"
#include "vx_test.h"

static vx_event_t
s_event(int source, const char *tenant)
{
    vx_event_t e = VEXFS__V1__EVENT__INIT;
    e.type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE;
    e.path = (char *)"/a";
    e.source = (Vexfs__V1__Boundary)source;
    e.tenant = (char *)tenant;
    return e;
}

START_TEST(t_builtin)
{
    char err[512], why[128];
    prop_identities_t *p = prop_identities_load("", err, sizeof err);
    ck_assert_ptr_nonnull(p);
    const struct prop_identity *fwd = prop_identities_find(p, "forwarder");
    ck_assert_ptr_nonnull(fwd);
    vx_event_t k = s_event(VEXFS__V1__BOUNDARY__KERNEL_MODULE, "acme");
    ck_assert(prop_identity_allows(fwd, &k, why, sizeof why));
    vx_event_t f = s_event(VEXFS__V1__BOUNDARY__FUSE, "");
    ck_assert(!prop_identity_allows(fwd, &f, why, sizeof why));
    ck_assert_str_eq(why, "source fuse");
    vx_event_t none = s_event(0, ""); /* no source: propagation stamps the channel's */
    ck_assert(prop_identity_allows(fwd, &none, why, sizeof why));
    const struct prop_identity *ctl = prop_identities_find(p, "ctl");
    ck_assert(prop_identity_allows(ctl, &f, why, sizeof why));
    ck_assert_ptr_null(prop_identities_find(p, "mallory"));
    ck_assert_ptr_null(prop_identities_find(p, "routing")); /* not a producer */
    prop_identities_destroy(&p);
    ck_assert_ptr_null(p);
}
END_TEST

START_TEST(t_file)
{
    char *dir = vt_tmpdir();
    char path[600], err[800], why[128];
    snprintf(path, sizeof path, "%s/ids.yaml", dir);
    ck_assert_int_eq(vt_write_file(path,
                                   "producers:\n"
                                   "  acme-app:\n"
                                   "    sources: [userspace_api]\n"
                                   "    tenants: [acme, acme-eu]\n"
                                   "    default_tenant: acme\n"
                                   "  any:\n"
                                   "    sources: ['*']\n"
                                   "    tenants: ['*']\n"),
                     0);
    prop_identities_t *p = prop_identities_load(path, err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    const struct prop_identity *a = prop_identities_find(p, "acme-app");
    ck_assert_str_eq(prop_identity_default_tenant(a), "acme");
    vx_event_t ok = s_event(VEXFS__V1__BOUNDARY__USERSPACE_API, "acme-eu");
    ck_assert(prop_identity_allows(a, &ok, why, sizeof why));
    vx_event_t dflt = s_event(VEXFS__V1__BOUNDARY__USERSPACE_API, "");
    ck_assert(prop_identity_allows(a, &dflt, why, sizeof why)); /* gets acme */
    vx_event_t other = s_event(VEXFS__V1__BOUNDARY__USERSPACE_API, "globex");
    ck_assert(!prop_identity_allows(a, &other, why, sizeof why));
    ck_assert_str_eq(why, "tenant globex");
    vx_event_t src = s_event(VEXFS__V1__BOUNDARY__KERNEL_MODULE, "acme");
    ck_assert(!prop_identity_allows(a, &src, why, sizeof why));
    ck_assert_str_eq(why, "source kernel_module");
    ck_assert(prop_identity_allows(prop_identities_find(p, "any"), &src, why, sizeof why));
    /* A file lists everyone: the built-in producers are not added. */
    ck_assert_ptr_null(prop_identities_find(p, "forwarder"));
    prop_identities_destroy(&p);
    free(dir);
}
END_TEST

START_TEST(t_tenantless_when_restricted)
{
    char *dir = vt_tmpdir();
    char path[600], err[800], why[128];
    snprintf(path, sizeof path, "%s/ids.json", dir);
    ck_assert_int_eq(vt_write_file(path, "{\"producers\": {\"app\": {\"sources\": [\"*\"], "
                                         "\"tenants\": [\"acme\"]}}}"),
                     0);
    prop_identities_t *p = prop_identities_load(path, err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    vx_event_t none = s_event(0, "");
    ck_assert(!prop_identity_allows(prop_identities_find(p, "app"), &none, why, sizeof why));
    ck_assert_str_eq(why, "tenant (none)");
    prop_identities_destroy(&p);
    free(dir);
}
END_TEST

START_TEST(t_file_errors)
{
    char *dir = vt_tmpdir();
    char path[600], err[800];
    snprintf(path, sizeof path, "%s/ids.yaml", dir);
    static const struct {
        const char *text;
        const char *says;
    } bad[] = {
        {"producers: []\n", "expected one key, producers"},
        {"producer: {}\n", "expected one key, producers"},
        {"producers:\n  a: {sources: [fuse]}\n", "producers.a.tenants: expected a list"},
        {"producers:\n  a: {sources: [floppy], tenants: ['*']}\n", "unknown source \"floppy\""},
        {"producers:\n  a: {sources: ['*'], tenants: [x], default_tenant: y}\n",
         "\"y\" is not one of its tenants"},
        {"producers:\n  a: {sources: ['*'], tenants: ['*'], role: admin}\n",
         "producers.a.role: unknown key"},
        {"producers:\n  a: {sources: ['*'], tenants: ['']}\n", "tenants[0]"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(vt_write_file(path, bad[i].text), 0);
        ck_assert_ptr_null(prop_identities_load(path, err, sizeof err));
        ck_assert_msg(strstr(err, bad[i].says) && strstr(err, "ids.yaml"),
                      "case %zu: expected \"%s\", got \"%s\"", i, bad[i].says, err);
    }
    snprintf(path, sizeof path, "%s/none.yaml", dir);
    ck_assert_ptr_null(prop_identities_load(path, err, sizeof err));
    free(dir);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("identity");
    TCase *tc = tcase_create("policy");
    tcase_add_test(tc, t_builtin);
    tcase_add_test(tc, t_file);
    tcase_add_test(tc, t_tenantless_when_restricted);
    tcase_add_test(tc, t_file_errors);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
