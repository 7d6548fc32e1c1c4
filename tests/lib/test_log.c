/* SPDX-License-Identifier: Apache-2.0 */
/* vx_log: one line per record on stderr with time, level, service[pid], id, message; levels
 * below the threshold cost nothing and write nothing. Also the clock helpers. */
#include <check.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vx_clock.h"
#include "vx_log.h"

/* Runs fn with stderr redirected into a buffer; returns what was written. */
static char *
s_capture(void (*fn)(void))
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    int saved = dup(STDERR_FILENO);
    dup2(fds[1], STDERR_FILENO);
    close(fds[1]);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    char *buf = calloc(1, 65536);
    size_t len = 0;
    ssize_t n;
    while ((n = read(fds[0], buf + len, 65535 - len)) > 0) {
        len += (size_t)n;
    }
    close(fds[0]);
    return buf;
}

static int s_evaluated;

static int
s_side_effect(void)
{
    return ++s_evaluated;
}

static void
s_write_some(void)
{
    vx_log_init("vexfs-test", VX_LOG_INFO);
    vx_debug("TEST-DEBUG", "hidden %d", s_side_effect());
    vx_info("TEST-INFO", "shown %d", 42);
    vx_warn("TEST-WARN", "two\nlines");
    vx_error("TEST-ERROR", "%s", "last");
}

START_TEST(t_format_and_levels)
{
    s_evaluated = 0;
    char *out = s_capture(s_write_some);
    ck_assert_msg(strstr(out, "hidden") == NULL, "debug record written: %s", out);
    ck_assert_int_eq(s_evaluated, 0); /* arguments of a disabled level are not evaluated */
    regex_t re;
    ck_assert_int_eq(regcomp(&re,
                             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
                             "INFO vexfs-test\\[[0-9]+\\] TEST-INFO shown 42$",
                             REG_EXTENDED | REG_NEWLINE),
                     0);
    ck_assert_msg(regexec(&re, out, 0, NULL, 0) == 0, "no well-formed INFO line in: %s", out);
    regfree(&re);
    ck_assert_msg(strstr(out, "WARN vexfs-test[") && strstr(out, "TEST-WARN two lines\n"),
                  "newline not folded: %s", out);
    ck_assert_msg(strstr(out, "ERROR vexfs-test[") && strstr(out, "TEST-ERROR last\n"), "%s", out);
    int lines = 0;
    for (char *p = out; *p; p++) {
        lines += *p == '\n';
    }
    ck_assert_int_eq(lines, 3);
    free(out);
}
END_TEST

static void
s_write_long(void)
{
    vx_log_init("vexfs-test", VX_LOG_DEBUG);
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    vx_debug("TEST-LONG", "%s", big);
}

START_TEST(t_long_record_truncated_to_one_line)
{
    char *out = s_capture(s_write_long);
    size_t len = strlen(out);
    ck_assert_uint_gt(len, 100);
    ck_assert_uint_le(len, 2048);
    ck_assert_int_eq(out[len - 1], '\n');
    ck_assert_ptr_eq(strchr(out, '\n'), out + len - 1);
    free(out);
}
END_TEST

static void
s_write_urls(void)
{
    vx_log_init("vexfs-test", VX_LOG_INFO);
    vx_warn("TEST-URL", "Broker name \"sasl_ssl://bob:BrokerPw9@10.0.0.1:9093\" parse error");
    vx_info("TEST-URL", "email via smtp://alice:S3cretMailPw@mail.example:25 and http://h/p");
}

START_TEST(t_url_user_info_masked)
{
    char *out = s_capture(s_write_urls);
    ck_assert_msg(!strstr(out, "BrokerPw9") && !strstr(out, "S3cretMailPw") &&
                      !strstr(out, "bob") && !strstr(out, "alice"),
                  "a password shows: %s", out);
    ck_assert_msg(strstr(out, "TEST-URL Broker name \"sasl_ssl://***@10.0.0.1:9093\" parse "
                              "error\n") &&
                      strstr(out, "TEST-URL email via smtp://***@mail.example:25 and http://h/p\n"),
                  "masked lines not as expected: %s", out);
    free(out);
}
END_TEST

START_TEST(t_level_parse)
{
    enum vx_log_level l;
    ck_assert_int_eq(vx_log_level_parse("warn", &l), 0);
    ck_assert_int_eq(l, VX_LOG_WARN);
    ck_assert_int_eq(vx_log_level_parse("DEBUG", &l), 0);
    ck_assert_int_eq(l, VX_LOG_DEBUG);
    ck_assert_int_lt(vx_log_level_parse("verbose", &l), 0);
}
END_TEST

START_TEST(t_clocks)
{
    uint64_t m1 = vx_mono_ns();
    usleep(2000);
    uint64_t m2 = vx_mono_ns();
    ck_assert_uint_ge(m2 - m1, 2 * VX_NS_PER_MS);
    uint64_t w = vx_wall_ns();
    ck_assert_uint_gt(w, 1700000000ULL * VX_NS_PER_S); /* after November 2023 */
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("log");
    tcase_add_test(tc, t_format_and_levels);
    tcase_add_test(tc, t_long_record_truncated_to_one_line);
    tcase_add_test(tc, t_level_parse);
    tcase_add_test(tc, t_url_user_info_masked);
    suite_add_tcase(s, tc);
    tc = tcase_create("clock");
    tcase_add_test(tc, t_clocks);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
