/* SPDX-License-Identifier: Apache-2.0 */
/* Every REST route of vexfs-propagation, walked from its route table against the real daemon
 * over HTTPS (tests/support/vt_roles.h): 401 without a credential, 403 forbidden below the
 * route's role, admitted with it; the built-ins and the configuration routes too. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "prop_http.h"
#include "vt_roles.h"
#include "vx_test.h"

START_TEST(t_every_route_checks_its_role)
{
    char *dir = vt_tmpdir();
    ck_assert_ptr_nonnull(dir);
    char cfg[2048];
    uint16_t port = vt_free_port();
    snprintf(cfg, sizeof cfg,
             "event_propagation:\n"
             "  rest_port: %u\n"
             "  ingest_endpoint: tcp://127.0.0.1:%u\n"
             "  ingest_acked_endpoint: tcp://127.0.0.1:%u\n"
             "  output_endpoint: tcp://127.0.0.1:%u\n"
             "  tap_endpoint: tcp://127.0.0.1:%u\n"
             "  producer_id: prop-roles\n",
             (unsigned)port, (unsigned)vt_free_port(), (unsigned)vt_free_port(),
             (unsigned)vt_free_port(), (unsigned)vt_free_port());
    size_t n = 0;
    const struct vx_http_route_def *t = prop_http_route_table(&n);
    ck_assert_uint_eq(n, 2);
    const struct vt_route_table tables[] = {{t, n}};
    char err[1024] = "";
    size_t n_tables = sizeof tables / sizeof tables[0];
    int rc = vt_roles_run(dir, "vexfs-propagation", cfg, port, tables, n_tables, err, sizeof err);
    ck_assert_msg(rc == 0,
                  "%s", err);
    free(dir);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("propagation_routes");
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
