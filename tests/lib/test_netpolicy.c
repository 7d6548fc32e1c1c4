/* SPDX-License-Identifier: Apache-2.0 */
/* vx_netpolicy: which addresses outgoing calls may connect to, and the allow list's parse. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "vx_netpolicy.h"

/* The reason addr is refused under p, or "admitted". */
static const char *
s_judge(const vx_netpolicy_t *p, const char *addr)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    if (strchr(addr, ':') != NULL) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        ck_assert_int_eq(inet_pton(AF_INET6, addr, &s6->sin6_addr), 1);
        len = sizeof *s6;
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        ck_assert_int_eq(inet_pton(AF_INET, addr, &s4->sin_addr), 1);
        len = sizeof *s4;
    }
    const char *reason = NULL;
    int rc = vx_netpolicy_check(p, (struct sockaddr *)&ss, len, &reason);
    return rc == 0 ? "admitted" : reason;
}

START_TEST(t_default_denies)
{
    char err[256];
    vx_netpolicy_t *p = vx_netpolicy_new("", NULL, err, sizeof err);
    ck_assert_ptr_nonnull(p);
    static const char *const cases[][2] = {
        {"127.0.0.1", "loopback"},        {"127.255.0.9", "loopback"},
        {"::1", "loopback"},              {"::ffff:127.0.0.1", "loopback"},
        {"169.254.169.254", "metadata"},  {"fd00:ec2::254", "metadata"},
        {"::ffff:169.254.169.254", "metadata"},
        {"169.254.1.1", "link-local"},    {"fe80::1", "link-local"},
        {"febf::1", "link-local"},        {"0.0.0.0", "unspecified"},
        {"::", "unspecified"},            {"10.1.2.3", "admitted"},
        {"192.168.0.1", "admitted"},      {"8.8.8.8", "admitted"},
        {"2001:db8::1", "admitted"},      {"fec0::1", "admitted"},
        {"128.0.0.1", "admitted"},        {"169.253.255.255", "admitted"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = s_judge(p, cases[i][0]);
        ck_assert_msg(strcmp(got, cases[i][1]) == 0, "%s: expected %s, got %s", cases[i][0],
                      cases[i][1], got);
    }
    vx_netpolicy_destroy(&p);
    ck_assert_ptr_null(p);
}
END_TEST

START_TEST(t_allow_list)
{
    char err[256];
    vx_netpolicy_t *p =
        vx_netpolicy_new(" 127.0.0.1/32, 169.254.169.254 ::1,fe80::/16", NULL, err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    ck_assert_str_eq(s_judge(p, "127.0.0.1"), "admitted");
    ck_assert_str_eq(s_judge(p, "::ffff:127.0.0.1"), "admitted");
    ck_assert_str_eq(s_judge(p, "127.0.0.2"), "loopback");
    ck_assert_str_eq(s_judge(p, "169.254.169.254"), "admitted");
    ck_assert_str_eq(s_judge(p, "169.254.169.253"), "link-local");
    ck_assert_str_eq(s_judge(p, "::1"), "admitted");
    ck_assert_str_eq(s_judge(p, "fe80::1"), "admitted");
    ck_assert_str_eq(s_judge(p, "fe81::1"), "link-local");
    vx_netpolicy_destroy(&p);
}
END_TEST

START_TEST(t_bad_entries)
{
    static const char *const cases[][2] = {
        {"10.0.0.0/33", "prefix length must be 0..32"},
        {"::1/129", "prefix length must be 0..128"},
        {"10.0.0.0/x", "prefix length must be 0..32"},
        {"10.0.0.0/", "prefix length must be 0..32"},
        {"localhost", "\"localhost\" is not an IPv4 or IPv6 address"},
        {"/8", "expected an address or a CIDR block"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "";
        vx_netpolicy_t *p = vx_netpolicy_new(cases[i][0], NULL, err, sizeof err);
        ck_assert_msg(p == NULL && strstr(err, cases[i][1]) != NULL,
                      "\"%s\": expected an error with \"%s\", got \"%s\"", cases[i][0],
                      cases[i][1], err);
    }
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("vx_netpolicy");
    TCase *tc = tcase_create("policy");
    tcase_add_test(tc, t_default_denies);
    tcase_add_test(tc, t_allow_list);
    tcase_add_test(tc, t_bad_entries);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
