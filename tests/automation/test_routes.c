/* SPDX-License-Identifier: Apache-2.0 */
/* Every REST route of vexfs-automation, walked from its route table against the real daemon
 * over HTTPS (tests/support/vt_roles.h): 401 without a credential, 403 forbidden below the
 * route's role, admitted with it; the built-ins and the configuration routes too. A route
 * added to automation without a role in its table fails here. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "au_http.h"
#include "vt_roles.h"
#include "vx_test.h"

START_TEST(t_every_route_checks_its_role)
{
    char *dir = vt_tmpdir();
    ck_assert_ptr_nonnull(dir);
    char cfg[2048];
    uint16_t port = vt_free_port();
    snprintf(cfg, sizeof cfg,
             "reactive_automation:\n"
             "  rest_port: %u\n"
             "  input_endpoint: tcp://127.0.0.1:%u\n"
             "  emit_endpoint: tcp://127.0.0.1:%u\n"
             "  state_dir: %s/state\n",
             (unsigned)port, (unsigned)vt_free_port(), (unsigned)vt_free_port(), dir);
    size_t n = 0;
    const struct vx_http_route_def *t = au_http_route_table(&n);
    ck_assert_uint_eq(n, 22);
    const struct vt_route_table tables[] = {{t, n}};
    char err[1024] = "";
    size_t n_tables = sizeof tables / sizeof tables[0];
    int rc = vt_roles_run(dir, "vexfs-automation", cfg, port, tables, n_tables, err, sizeof err);
    ck_assert_msg(rc == 0,
                  "%s", err);
    free(dir);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("automation_routes");
    TCase *tc = tcase_create("roles");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_every_route_checks_its_role);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
