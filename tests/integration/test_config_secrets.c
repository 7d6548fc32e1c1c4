/* SPDX-License-Identifier: Apache-2.0 */
/* Secrets never shown, on real daemons: the user-info of a configured URL (analytics'
 * monitoring.smtp_url, routing's event_routing.kafka_brokers) reads "***" in GET /v1/config,
 * in --print-config, in the refusal of an invalid value and in the daemon's log (where
 * librdkafka's own messages quote the broker), while the daemon still uses the full value. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "an_harness.h"
#include "rt_harness.h"
#include "vx_test.h"

#define S_MAIL_PW "S3cretMailPw"
#define S_BROKER_PW "BrokerPw9"

/* The whole file as a string (caller frees), "" when absent. */
static char *
s_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = calloc(1, 1 << 22);
    ck_assert_ptr_nonnull(buf);
    if (f) {
        size_t n = fread(buf, 1, (1 << 22) - 1, f);
        buf[n] = '\0';
        fclose(f);
    }
    return buf;
}

/* Runs program with --config cfg and one more option (may be NULL); returns the result
 * (caller finis). */
static void
s_run(const char *program, const char *cfg, const char *option, struct vt_run_result *r)
{
    char bin[512];
    snprintf(bin, sizeof bin, "%s/%s", vt_bin_dir(), program);
    char *argv[] = {bin, (char *)"--config", (char *)cfg, (char *)option, NULL};
    ck_assert_int_eq(vt_run(argv, NULL, NULL, 30000, r), 0);
}

/* The value of section.key in a JSON configuration text. */
static char *
s_key(const char *text, const char *section, const char *key)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    ck_assert_msg(j != NULL, "not JSON (%s): %.300s", je.text, text);
    const char *v = json_string_value(json_object_get(json_object_get(j, section), key));
    char *out = strdup(v ? v : "(absent)");
    json_decref(j);
    return out;
}

START_TEST(t_analytics_smtp_url_masked)
{
    uint16_t smtp_port = vt_free_port();
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "monitoring:\n"
             "  smtp_url: smtp://alice:" S_MAIL_PW "@127.0.0.1:%u\n"
             "  smtp_to: ops@example.org\n",
             (unsigned)smtp_port);
    struct ah_daemon d;
    ah_start(&d, yaml, NULL);
    char want[128];
    snprintf(want, sizeof want, "smtp://***@127.0.0.1:%u", (unsigned)smtp_port);

    /* GET /v1/config */
    struct vt_http_result r;
    ck_assert_int_eq(vt_http("GET", d.rest_port, "/v1/config", NULL, 0, NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(!strstr(r.body, S_MAIL_PW) && !strstr(r.body, "alice"),
                  "GET /v1/config shows the password: %s", r.body);
    char *got = s_key(r.body, "monitoring", "smtp_url");
    ck_assert_str_eq(got, want);
    free(got);
    vt_http_result_fini(&r);

    /* --print-config of the same file */
    char cfg[400];
    snprintf(cfg, sizeof cfg, "%s/vexfs.yaml", d.dir);
    struct vt_run_result pr;
    s_run("vexfs-analytics", cfg, "--print-config", &pr);
    ck_assert_msg(WIFEXITED(pr.status) && WEXITSTATUS(pr.status) == 0, "exit %d: %s", pr.status,
                  pr.err);
    ck_assert_msg(!strstr(pr.out, S_MAIL_PW) && !strstr(pr.err, S_MAIL_PW),
                  "--print-config shows the password: %s", pr.out);
    got = s_key(pr.out, "monitoring", "smtp_url");
    ck_assert_str_eq(got, want);
    free(got);
    vt_run_result_fini(&pr);
    ah_stop(&d);

    /* A refused value is named without its password. */
    char bad[400], text[1024];
    snprintf(bad, sizeof bad, "%s/bad.yaml", d.dir);
    snprintf(text, sizeof text,
             "stream_analytics:\n"
             "  rest_port: %u\n"
             "  state_dir: %s\n"
             "monitoring:\n"
             "  smtp_url: http://alice:" S_MAIL_PW "@127.0.0.1:25\n",
             (unsigned)vt_free_port(), d.dir);
    ck_assert_int_eq(vt_write_file(bad, text), 0);
    /* The scheme is checked with the section (an_mon_config_check) when the file loads. */
    s_run("vexfs-analytics", bad, NULL, &pr);
    ck_assert_msg(WIFEXITED(pr.status) && WEXITSTATUS(pr.status) != 0, "an http smtp_url passed");
    ck_assert_msg(strstr(pr.err, "monitoring.smtp_url: 'http://***@127.0.0.1:25'"),
                  "refusal not as expected: %s", pr.err);
    ck_assert_msg(!strstr(pr.err, S_MAIL_PW) && !strstr(pr.out, S_MAIL_PW),
                  "the refusal shows the password: %s", pr.err);
    vt_run_result_fini(&pr);

    char *log = s_slurp(d.log);
    ck_assert_msg(!strstr(log, S_MAIL_PW), "the log shows the password: %s", log);
    free(log);
}
END_TEST

START_TEST(t_routing_kafka_brokers_masked)
{
    /* A broker URL with user-info: librdkafka refuses it as a broker name and says so in a
     * log line that quotes it. */
    struct rh_daemon d;
    char input[64];
    snprintf(input, sizeof input, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    rh_start(&d, input, "  kafka_brokers: \"sasl_ssl://bob:" S_BROKER_PW "@127.0.0.1:1\"\n");
    struct vt_http_result r;
    ck_assert_int_eq(vt_http("GET", d.rest_port, "/v1/config", NULL, 0, NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(!strstr(r.body, S_BROKER_PW), "GET /v1/config shows the password: %s", r.body);
    char *got = s_key(r.body, "event_routing", "kafka_brokers");
    ck_assert_str_eq(got, "sasl_ssl://***@127.0.0.1:1");
    free(got);
    vt_http_result_fini(&r);

    struct vt_run_result pr;
    s_run("vexfs-routing", d.cfgpath, "--print-config", &pr);
    ck_assert_msg(WIFEXITED(pr.status) && WEXITSTATUS(pr.status) == 0, "exit %d: %s", pr.status,
                  pr.err);
    got = s_key(pr.out, "event_routing", "kafka_brokers");
    ck_assert_str_eq(got, "sasl_ssl://***@127.0.0.1:1");
    free(got);
    ck_assert_msg(!strstr(pr.out, S_BROKER_PW) && !strstr(pr.err, S_BROKER_PW),
                  "--print-config shows the password: %s", pr.out);
    vt_run_result_fini(&pr);
    rh_stop(&d);

    char *log = s_slurp(d.log);
    ck_assert_msg(strstr(log, "sasl_ssl://***@127.0.0.1:1"),
                  "librdkafka's refusal of the broker name is not logged (masked): %.2000s", log);
    ck_assert_msg(!strstr(log, S_BROKER_PW), "the log shows the password: %s", log);
    free(log);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("config_secrets");
    TCase *tc = tcase_create("secrets");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_analytics_smtp_url_masked);
    tcase_add_test(tc, t_routing_kafka_brokers_masked);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
