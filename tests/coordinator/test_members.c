/* SPDX-License-Identifier: Apache-2.0 */
/* Member addresses: IPv4 literals, host names resolved once (containers, Kubernetes Services),
 * and precise refusals. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "coord_config.h"

START_TEST(t_literal)
{
    struct coord_member m;
    char err[256];
    ck_assert_int_eq(coord_member_parse("2@10.0.0.7:5561/8092/5552", &m, err, sizeof err), 0);
    ck_assert_uint_eq(m.id, 2);
    ck_assert_str_eq(m.raft_addr, "10.0.0.7:5561");
    ck_assert_str_eq(m.host, "10.0.0.7");
    ck_assert_uint_eq(m.rest_port, 8092);
    ck_assert_uint_eq(m.input_port, 5552);
}
END_TEST

START_TEST(t_name_resolved)
{
    struct coord_member m;
    char err[256];
    ck_assert_int_eq(coord_member_parse("3@localhost:5562/8102", &m, err, sizeof err), 0);
    ck_assert_str_eq(m.raft_addr, "127.0.0.1:5562");
    ck_assert_str_eq(m.host, "localhost"); /* clients are sent to the name */
    ck_assert_uint_eq(m.rest_port, 8102);
}
END_TEST

START_TEST(t_refusals)
{
    struct coord_member m;
    char err[256];
    ck_assert_int_eq(coord_member_parse("1@no-such-host.invalid:5560", &m, err, sizeof err),
                     -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "cannot resolve 'no-such-host.invalid'"));
    ck_assert_int_eq(coord_member_parse("1@bad_host!:5560", &m, err, sizeof err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "neither an IPv4 address nor a host name"));
    ck_assert_int_eq(coord_member_parse("1@localhost:0", &m, err, sizeof err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "bad raft port"));
}
END_TEST

START_TEST(t_list_names_and_literals)
{
    struct coord_member ms[COORD_MAX_MEMBERS];
    size_t n = 0;
    char err[256];
    ck_assert_int_eq(coord_members_parse("1@localhost:5560/8082,2@127.0.0.1:5561/8092", ms,
                                         COORD_MAX_MEMBERS, &n, err, sizeof err),
                     0);
    ck_assert_uint_eq(n, 2);
    /* The same resolved address twice is a repeat, however it was written. */
    ck_assert_int_eq(coord_members_parse("1@localhost:5560,2@127.0.0.1:5560", ms,
                                         COORD_MAX_MEMBERS, &n, err, sizeof err),
                     -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "repeats an id or address"));
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("coordinator_members");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, t_literal);
    tcase_add_test(tc, t_name_resolved);
    tcase_add_test(tc, t_refusals);
    tcase_add_test(tc, t_list_names_and_literals);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
