/* SPDX-License-Identifier: Apache-2.0 */
/* vexfs-analytics as the suite's monitor, against a real HTTP server started here
 * (libmicrohttpd on loopback) that plays a service — its /metrics, /health and /ready are set
 * by the test — and a webhook receiver. An alert rule goes pending when its condition starts
 * to hold, fires to the webhook only after holding for its for_ms (never before: no webhook
 * while it is pending, and the daemon reports having held it at least that long), and is
 * resolved when the condition stops. Bad rules get a 400 naming the member. System health
 * follows the services' answers: degraded, critical, degraded.
 *
 * Email actions go to a real SMTP server started here (smtp_harness.c): the envelope and the
 * message name the rule, metric, value and severity; a recipient refused with 550 makes the
 * delivery count as failed and logged, and the rule's next action still runs.
 *
 * Anomaly alerts: a spike in one group fires an alert (listed as active, sent to the anomaly
 * webhook) that stays firing while other groups' windows are normal, and is resolved by the
 * next normal window of its own group: listed as resolved with its time, and sent again. */
#include <check.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "an_harness.h"
#include "smtp_harness.h"
#include "vx_test.h"
#include "vx_wire.h"

#define S_MAX_HOOKS 16

static struct {
    pthread_mutex_t lock;
    double value;         /* test_value{kind="a"} */
    unsigned a_health, a_ready, b_health, b_ready;
    char *hooks[S_MAX_HOOKS];
    int n_hooks;
} s_svc = {.lock = PTHREAD_MUTEX_INITIALIZER};

struct s_upload {
    char *data;
    size_t len;
};

static enum MHD_Result
s_reply(struct MHD_Connection *c, unsigned status, const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result
cb_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
           const char *version, const char *data, size_t *size, void **con_cls)
{
    (void)cls;
    (void)version;
    if (strcmp(method, "POST") == 0) {
        struct s_upload *u = *con_cls;
        if (!u) {
            *con_cls = calloc(1, sizeof *u);
            return *con_cls ? MHD_YES : MHD_NO;
        }
        if (*size) {
            u->data = realloc(u->data, u->len + *size + 1);
            memcpy(u->data + u->len, data, *size);
            u->len += *size;
            u->data[u->len] = '\0';
            *size = 0;
            return MHD_YES;
        }
        pthread_mutex_lock(&s_svc.lock);
        if (strcmp(url, "/hook") == 0 && s_svc.n_hooks < S_MAX_HOOKS) {
            s_svc.hooks[s_svc.n_hooks++] = u->data ? u->data : strdup("");
            u->data = NULL;
        }
        pthread_mutex_unlock(&s_svc.lock);
        free(u->data);
        free(u);
        *con_cls = NULL;
        return s_reply(c, 200, "{}");
    }
    char text[256];
    unsigned status = 404;
    pthread_mutex_lock(&s_svc.lock);
    if (strcmp(url, "/metrics") == 0) {
        snprintf(text, sizeof text,
                 "# TYPE test_value gauge\ntest_value{kind=\"a\"} %g\ntest_value{kind=\"b\"} 100\n"
                 "test_value_other 100\n",
                 s_svc.value);
        status = 200;
    } else {
        snprintf(text, sizeof text, "{}");
        status = strcmp(url, "/a/health") == 0   ? s_svc.a_health
                 : strcmp(url, "/a/ready") == 0  ? s_svc.a_ready
                 : strcmp(url, "/b/health") == 0 ? s_svc.b_health
                 : strcmp(url, "/b/ready") == 0  ? s_svc.b_ready
                                                 : 404;
    }
    pthread_mutex_unlock(&s_svc.lock);
    return s_reply(c, status, text);
}

static struct MHD_Daemon *
s_serve(uint16_t port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, port, NULL, NULL,
        cb_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_END);
    ck_assert_ptr_nonnull(d);
    return d;
}

static void
s_set(double value)
{
    pthread_mutex_lock(&s_svc.lock);
    s_svc.value = value;
    pthread_mutex_unlock(&s_svc.lock);
}

static int
s_hooks(void)
{
    pthread_mutex_lock(&s_svc.lock);
    int n = s_svc.n_hooks;
    pthread_mutex_unlock(&s_svc.lock);
    return n;
}

static json_t *
s_hook(int i)
{
    pthread_mutex_lock(&s_svc.lock);
    json_t *j = json_loads(s_svc.hooks[i], 0, NULL);
    pthread_mutex_unlock(&s_svc.lock);
    ck_assert_ptr_nonnull(j);
    return j;
}

/* The rule's status object (state, evaluations, ...); caller decrefs. */
static json_t *
s_rule_status(const struct ah_daemon *d, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/alert-rules/%s", name);
    json_t *r = NULL;
    ck_assert_int_eq(ah_call(d, "GET", path, NULL, false, &r), 200);
    json_t *st = json_incref(json_object_get(r, "status"));
    json_decref(r);
    return st;
}

static long
s_post_bad(const struct ah_daemon *d, const char *body, const char *want)
{
    json_t *out = NULL;
    long st = ah_call(d, "POST", "/v1/alert-rules", body, true, &out);
    const char *msg = json_string_value(json_object_get(json_object_get(out, "error"), "message"));
    ck_assert_msg(msg && strstr(msg, want), "body %s: got '%s', expected '%s'", body,
                  msg ? msg : "(none)", want);
    json_decref(out);
    return st;
}

static const char *
s_health(const struct ah_daemon *d, json_t **out)
{
    ck_assert_int_eq(ah_call(d, "GET", "/v1/health/system", NULL, false, out), 200);
    return json_string_value(json_object_get(*out, "status"));
}

static const char *
s_service_status(json_t *h, const char *name)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(h, "services"), i, s) {
        if (strcmp(json_string_value(json_object_get(s, "name")), name) == 0) {
            return json_string_value(json_object_get(s, "status"));
        }
    }
    return "(absent)";
}

START_TEST(t_rule_fires_and_resolves)
{
    uint16_t port = vt_free_port(), dead = vt_free_port();
    s_svc.value = 1;
    s_svc.a_health = s_svc.a_ready = s_svc.b_health = 200;
    s_svc.b_ready = 503;
    struct MHD_Daemon *srv = s_serve(port);
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "monitoring:\n"
             "  metrics_collection_interval_ms: 100\n"
             "  enable_real_time_alerts: true\n"
             "  services: a=http://127.0.0.1:%u/a, b=http://127.0.0.1:%u/b/,"
             "ghost=http://127.0.0.1:%u\n"
             "  health_timeout_ms: 2000\n"
             "  outbound_allow: 127.0.0.1\n",
             (unsigned)port, (unsigned)port, (unsigned)dead);
    struct ah_daemon d;
    ah_start(&d, yaml, NULL);

    /* bad rules: 400 naming the member, nothing installed */
    char base[256];
    snprintf(base, sizeof base, "\"target\":\"http://127.0.0.1:%u/metrics\",\"metric\":\"test_value\"",
             (unsigned)port);
    char body[2048];
    snprintf(body, sizeof body, "{\"name\":\"x\",%s,\"condition\":\"=>\",\"threshold\":1}", base);
    ck_assert_int_eq(s_post_bad(&d, body, "condition: expected one of"), 400);
    snprintf(body, sizeof body, "{\"name\":\"x\",%s,\"condition\":\">\",\"threshold\":1,"
                                "\"for_ms\":-1}", base);
    ck_assert_int_eq(s_post_bad(&d, body, "for_ms: expected"), 400);
    snprintf(body, sizeof body, "{\"name\":\"x\",%s,\"condition\":\">\",\"threshold\":\"1\"}", base);
    ck_assert_int_eq(s_post_bad(&d, body, "threshold: expected a number"), 400);
    snprintf(body, sizeof body, "{\"name\":\"x\",%s,\"condition\":\">\",\"threshold\":1,"
                                "\"severity\":\"panic\"}", base);
    ck_assert_int_eq(s_post_bad(&d, body, "severity: expected"), 400);
    snprintf(body, sizeof body, "{\"name\":\"x\",%s,\"condition\":\">\",\"threshold\":1,"
                                "\"colour\":1}", base);
    ck_assert_int_eq(s_post_bad(&d, body, "unknown member 'colour'"), 400);
    snprintf(body, sizeof body, "{\"name\":\"x\",%s,\"condition\":\">\",\"threshold\":1,"
                                "\"actions\":[{\"type\":\"email\"}]}", base);
    ck_assert_int_eq(s_post_bad(&d, body, "email needs monitoring.smtp_url"), 400);
    snprintf(body, sizeof body, "{\"name\":\"x\",%s,\"condition\":\">\",\"threshold\":1,"
                                "\"actions\":[{\"type\":\"webhook\",\"url\":\"ftp://h/\"}]}", base);
    ck_assert_int_eq(s_post_bad(&d, body, "actions[0].url"), 400);
    ck_assert_int_eq(s_post_bad(&d, "{\"name\":\"x\",\"target\":\"file:///etc/passwd\"}",
                                "target: expected"),
                     400);
    ck_assert_int_eq(s_post_bad(&d, "[]", "expected a rule object"), 400);
    json_t *list = NULL;
    ck_assert_int_eq(ah_call(&d, "GET", "/v1/alert-rules", NULL, false, &list), 200);
    ck_assert_uint_eq(json_array_size(json_object_get(list, "rules")), 0);
    json_decref(list);

    snprintf(body, sizeof body,
             "{\"name\":\"high\",%s,\"labels\":{\"kind\":\"a\"},\"condition\":\">\","
             "\"threshold\":5,\"for_ms\":1500,\"severity\":\"critical\","
             "\"actions\":[{\"type\":\"webhook\",\"url\":\"http://127.0.0.1:%u/hook\"}]}",
             base, (unsigned)port);
    ck_assert_int_eq(vt_http_anon_status("POST", d.rest_port, "/v1/alert-rules", body), 401);
    ck_assert_int_eq(ah_call(&d, "POST", "/v1/alert-rules", body, true, NULL), 201);
    ck_assert_int_eq(ah_call(&d, "POST", "/v1/alert-rules", body, true, NULL), 409);

    /* below the threshold: evaluated, inactive, nothing sent */
    time_t deadline = time(NULL) + 60;
    json_t *st = NULL;
    for (;;) {
        json_decref(st);
        st = s_rule_status(&d, "high");
        if (json_integer_value(json_object_get(st, "evaluations")) >= 3 || time(NULL) > deadline) {
            break;
        }
        usleep(50000);
    }
    ck_assert_int_ge(json_integer_value(json_object_get(st, "evaluations")), 3);
    ck_assert_str_eq(json_string_value(json_object_get(st, "state")), "inactive");
    ck_assert_double_eq(json_number_value(json_object_get(st, "value")), 1);
    json_decref(st);
    ck_assert_int_eq(s_hooks(), 0);

    /* above: pending first, with no webhook yet; firing only after for_ms */
    s_set(10);
    bool saw_pending = false;
    int hooks_while_pending = -1;
    deadline = time(NULL) + 60;
    while (s_hooks() == 0 && time(NULL) < deadline) {
        /* The webhooks counted before the state is read: the rule turns firing before its
         * webhook goes, so a webhook counted here was sent by a rule the read then shows as
         * firing, while one counted after a "pending" read may belong to a rule that fired in
         * between. */
        int h = s_hooks();
        st = s_rule_status(&d, "high");
        const char *state = json_string_value(json_object_get(st, "state"));
        if (strcmp(state, "pending") == 0) {
            saw_pending = true;
            hooks_while_pending = hooks_while_pending < h ? h : hooks_while_pending;
        }
        json_decref(st);
        usleep(20000);
    }
    ck_assert_msg(saw_pending, "the rule never showed as pending");
    ck_assert_int_eq(hooks_while_pending, 0);
    ck_assert_int_eq(s_hooks(), 1);
    json_t *h = s_hook(0);
    ck_assert_str_eq(json_string_value(json_object_get(h, "status")), "firing");
    ck_assert_str_eq(json_string_value(json_object_get(h, "rule")), "high");
    ck_assert_str_eq(json_string_value(json_object_get(h, "severity")), "critical");
    ck_assert_double_eq(json_number_value(json_object_get(h, "value")), 10);
    ck_assert_int_ge(json_integer_value(json_object_get(h, "held_ms")), 1500);
    ck_assert_int_le(json_integer_value(json_object_get(h, "pending_since_ms")),
                     json_integer_value(json_object_get(h, "fired_at_ms")));
    json_decref(h);
    json_t *al = NULL;
    ck_assert_int_eq(ah_call(&d, "GET", "/v1/alerts", NULL, false, &al), 200);
    ck_assert_uint_eq(json_array_size(json_object_get(al, "active")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(al, "active"), 0), "status")),
                     "firing");
    json_decref(al);
    /* The gauge is set at the end of the evaluation that fired, which may be a moment after
     * the webhook went. */
    deadline = time(NULL) + 30;
    while (ah_metric(&d, "vexfs_analytics_alerts_firing") != 1 && time(NULL) < deadline) {
        usleep(20000);
    }
    ck_assert_double_eq(ah_metric(&d, "vexfs_analytics_alerts_firing"), 1);

    /* back below: resolved, notified once more */
    s_set(0);
    deadline = time(NULL) + 60;
    while (s_hooks() < 2 && time(NULL) < deadline) {
        usleep(50000);
    }
    ck_assert_int_eq(s_hooks(), 2);
    h = s_hook(1);
    ck_assert_str_eq(json_string_value(json_object_get(h, "status")), "resolved");
    json_decref(h);
    ck_assert_int_eq(ah_call(&d, "GET", "/v1/alerts", NULL, false, &al), 200);
    ck_assert_uint_eq(json_array_size(json_object_get(al, "active")), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(al, "recent")), 2);
    json_decref(al);
    /* Counted once the webhook answered, which may be a moment after the test's server
     * counted the request. */
    const char *sent = "vexfs_analytics_alert_notifications_total{action=\"webhook\",result=\"sent\"}";
    deadline = time(NULL) + 30;
    while (ah_metric(&d, sent) < 2 && time(NULL) < deadline) {
        usleep(20000);
    }
    ck_assert_double_eq(ah_metric(&d, sent), 2);

    /* system health */
    json_t *hl = NULL;
    ck_assert_str_eq(s_health(&d, &hl), "degraded");
    ck_assert_str_eq(s_service_status(hl, "a"), "up");
    ck_assert_str_eq(s_service_status(hl, "b"), "not_ready");
    ck_assert_str_eq(s_service_status(hl, "ghost"), "down");
    json_decref(hl);
    pthread_mutex_lock(&s_svc.lock);
    s_svc.b_health = 500;
    pthread_mutex_unlock(&s_svc.lock);
    ck_assert_str_eq(s_health(&d, &hl), "critical");
    ck_assert_str_eq(s_service_status(hl, "b"), "down");
    json_decref(hl);
    pthread_mutex_lock(&s_svc.lock);
    s_svc.b_health = 200;
    s_svc.b_ready = 200;
    pthread_mutex_unlock(&s_svc.lock);
    ck_assert_str_eq(s_health(&d, &hl), "degraded");
    ck_assert_int_eq(json_integer_value(json_object_get(hl, "services_up")), 2);
    json_decref(hl);

    /* the same through vexfsctl */
    char *out = NULL;
    ck_assert_int_eq(ah_ctl(&d, &out, "health", NULL), 1); /* not healthy */
    ck_assert_ptr_nonnull(strstr(out, "degraded (2 of 3 services up)"));
    ck_assert_ptr_nonnull(strstr(out, "ghost"));
    free(out);
    ck_assert_int_eq(ah_ctl(&d, &out, "alerts", "metrics", NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "resolved  critical high: test_value > 5"));
    free(out);
    ck_assert_int_eq(ah_ctl(&d, &out, "alerts", "metrics", "rules", NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "high"));
    ck_assert_ptr_nonnull(strstr(out, "inactive"));
    free(out);

    /* replace and delete; the rule survives a restart until deleted */
    ck_assert_int_eq(ah_call(&d, "PUT", "/v1/alert-rules/high", body, true, NULL), 200);
    ah_stop(&d);
    char dir[256];
    snprintf(dir, sizeof dir, "%s", d.dir);
    ah_start(&d, yaml, dir);
    ck_assert_int_eq(ah_call(&d, "GET", "/v1/alert-rules/high", NULL, false, NULL), 200);
    ck_assert_int_eq(ah_ctl(&d, NULL, "alerts", "metrics", "delete", "high", NULL), 0);
    ck_assert_int_eq(ah_call(&d, "DELETE", "/v1/alert-rules/high", NULL, true, NULL), 404);
    ck_assert_int_eq(ah_call(&d, "GET", "/v1/alert-rules/high", NULL, false, NULL), 404);
    ah_stop(&d);
    MHD_stop_daemon(srv);
    for (int i = 0; i < s_svc.n_hooks; i++) {
        free(s_svc.hooks[i]);
    }
}
END_TEST

/* The whole file (caller frees), "" when it cannot be read. */
static char *
s_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *text = calloc(1, 1 << 20);
    ck_assert_ptr_nonnull(text);
    if (f) {
        size_t n = fread(text, 1, (1 << 20) - 1, f);
        text[n] = '\0';
        fclose(f);
    }
    return text;
}

static void
s_wait_mails(sh_smtp_t *smtp, size_t want)
{
    time_t deadline = time(NULL) + 60;
    while (sh_smtp_count(smtp) < want && time(NULL) < deadline) {
        usleep(50000);
    }
    ck_assert_uint_eq(sh_smtp_count(smtp), want);
}

static void
s_assert_mail(sh_smtp_t *smtp, size_t i, const char *status, const char *value)
{
    struct sh_mail m;
    ck_assert_int_eq(sh_smtp_get(smtp, i, &m), 0);
    ck_assert_str_eq(m.from, "alerts@vexfs.test");
    ck_assert_uint_eq(m.n_rcpt, 2);
    ck_assert_str_eq(m.rcpt[0], "ops@example.com");
    ck_assert_str_eq(m.rcpt[1], "dev@example.com");
    ck_assert_msg(m.helo[0] != '\0', "EHLO without a domain");
    char want[256];
    snprintf(want, sizeof want,
             "\r\nSubject: [vexfs critical] mailhigh %s: test_value > 5 (value %s)\r\n", status,
             value);
    ck_assert_msg(strstr(m.data, want), "no '%s' in:\n%s", want, m.data);
    ck_assert_ptr_nonnull(strstr(m.data, "\r\nFrom: <alerts@vexfs.test>\r\n"));
    ck_assert_ptr_nonnull(strstr(m.data, "\r\nTo: <ops@example.com>, <dev@example.com>\r\n"));
    ck_assert_ptr_nonnull(strstr(m.data, "\r\n\r\nAlert:      mailhigh\r\n"));
    snprintf(want, sizeof want, "\r\nStatus:     %s\r\n", status);
    ck_assert_msg(strstr(m.data, want), "no '%s' in:\n%s", want, m.data);
    ck_assert_ptr_nonnull(strstr(m.data, "\r\nSeverity:   critical\r\n"));
    ck_assert_ptr_nonnull(strstr(m.data, "\r\nMetric:     test_value\r\n"));
    ck_assert_ptr_nonnull(strstr(m.data, "\r\nLabels:     {\"kind\":\"a\"}\r\n"));
    snprintf(want, sizeof want, "\r\nValue:      %s\r\n", value);
    ck_assert_msg(strstr(m.data, want), "no '%s' in:\n%s", want, m.data);
    /* no bare LF anywhere: SMTP lines end with CRLF */
    for (const char *p = strchr(m.data, '\n'); p; p = strchr(p + 1, '\n')) {
        ck_assert_msg(p > m.data && p[-1] == '\r', "bare LF in the message");
    }
    sh_mail_free(&m);
}

START_TEST(t_email_actions)
{
    uint16_t port = vt_free_port(), smtp_port = 0;
    s_svc.value = 1;
    struct MHD_Daemon *srv = s_serve(port);
    sh_smtp_t *smtp = sh_smtp_start(&smtp_port);
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "monitoring:\n"
             "  metrics_collection_interval_ms: 100\n"
             "  smtp_url: smtp://127.0.0.1:%u\n"
             "  smtp_from: alerts@vexfs.test\n"
             "  outbound_allow: 127.0.0.1/32\n",
             (unsigned)smtp_port);
    struct ah_daemon d;
    ah_start(&d, yaml, NULL);
    char body[2048];
    /* the email first, then a webhook: a failed email must not stop the webhook */
    snprintf(body, sizeof body,
             "{\"name\":\"mailhigh\",\"target\":\"http://127.0.0.1:%u/metrics\","
             "\"metric\":\"test_value\",\"labels\":{\"kind\":\"a\"},\"condition\":\">\","
             "\"threshold\":5,\"severity\":\"critical\","
             "\"actions\":[{\"type\":\"email\",\"to\":[\"ops@example.com\",\"dev@example.com\"]},"
             "{\"type\":\"webhook\",\"url\":\"http://127.0.0.1:%u/hook\"}]}",
             (unsigned)port, (unsigned)port);
    ck_assert_int_eq(ah_call(&d, "POST", "/v1/alert-rules", body, true, NULL), 201);

    /* fires: one mail; resolves: a second one */
    s_set(10);
    s_wait_mails(smtp, 1);
    s_assert_mail(smtp, 0, "firing", "10");
    s_set(0);
    s_wait_mails(smtp, 2);
    s_assert_mail(smtp, 1, "resolved", "0");
    time_t deadline = time(NULL) + 60;
    while (s_hooks() < 2 && time(NULL) < deadline) {
        usleep(50000);
    }
    ck_assert_int_eq(s_hooks(), 2);
    ck_assert_double_eq(
        ah_metric(&d, "vexfs_analytics_alert_notifications_total{action=\"email\",result=\"sent\"}"),
        2);
    ck_assert_double_eq(
        ah_metric(&d,
                  "vexfs_analytics_alert_notifications_total{action=\"email\",result=\"failed\"}"),
        0);

    /* a refused recipient: the delivery fails, is counted and logged; the webhook still goes */
    sh_smtp_refuse(smtp, "dev@example.com");
    s_set(20);
    deadline = time(NULL) + 60;
    while (s_hooks() < 3 && time(NULL) < deadline) {
        usleep(50000);
    }
    ck_assert_int_eq(s_hooks(), 3);
    json_t *h = s_hook(2);
    ck_assert_str_eq(json_string_value(json_object_get(h, "status")), "firing");
    ck_assert_double_eq(json_number_value(json_object_get(h, "value")), 20);
    json_decref(h);
    ck_assert_uint_eq(sh_smtp_refused(smtp), 1);
    ck_assert_uint_eq(sh_smtp_count(smtp), 2); /* nothing delivered to the other recipient */
    ck_assert_double_eq(
        ah_metric(&d,
                  "vexfs_analytics_alert_notifications_total{action=\"email\",result=\"failed\"}"),
        1);
    ck_assert_double_eq(
        ah_metric(&d, "vexfs_analytics_alert_notifications_total{action=\"email\",result=\"sent\"}"),
        2);
    ck_assert_double_eq(
        ah_metric(&d, "vexfs_analytics_alert_notifications_total{action=\"webhook\",result=\"sent\"}"),
        3);
    char *log = s_slurp(d.log);
    ck_assert_msg(strstr(log, "AN-ALERT-NOTIFY") &&
                      strstr(log, "mailhigh: email to ops@example.com and others") &&
                      strstr(log, "SMTP reply 550"),
                  "the failed email is not logged in %s", d.log);
    free(log);
    ah_stop(&d);
    sh_smtp_stop(&smtp);
    MHD_stop_daemon(srv);
    for (int i = 0; i < s_svc.n_hooks; i++) {
        free(s_svc.hooks[i]);
    }
}
END_TEST

static void
s_push(zsock_t *push, uint64_t ts_ms, const char *user)
{
    vx_event_t e;
    struct ah_ev_storage st;
    ah_event(&e, &st, 2, ts_ms, "/data/x", user, 10);
    vx_event_t *ev = &e;
    vx_batch_t b;
    vexfs__v1__event_batch__init(&b);
    b.events = &ev;
    b.n_events = 1;
    ck_assert_int_eq(vx_wire_send(push, VX_WIRE_TOPIC, &b, 0), 0);
}

static void
s_push_n(zsock_t *push, uint64_t from_ms, int n, const char *user)
{
    for (int i = 0; i < n; i++) {
        s_push(push, from_ms + (uint64_t)i, user);
    }
}

/* The members of GET /v1/alerts whose source is anomaly (new array; caller decrefs). */
static json_t *
s_anomaly_alerts(const struct ah_daemon *d, const char *list)
{
    json_t *al = NULL, *out = json_array();
    ck_assert_int_eq(ah_call(d, "GET", "/v1/alerts", NULL, false, &al), 200);
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(al, list), i, a) {
        if (strcmp(json_string_value(json_object_get(a, "source")), "anomaly") == 0) {
            json_array_append(out, a);
        }
    }
    json_decref(al);
    return out;
}

static const char *
s_group_user(json_t *alert)
{
    json_t *g = json_object_get(json_object_get(alert, "anomaly"), "group");
    return json_string_value(json_object_get(g, "metadata.user_id"));
}

START_TEST(t_anomaly_alert_resolves)
{
    uint16_t port = vt_free_port();
    struct MHD_Daemon *srv = s_serve(port);
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "monitoring:\n"
             "  metrics_collection_interval_ms: 100\n"
             "  anomaly_webhook_url: http://127.0.0.1:%u/hook\n"
             "  outbound_allow: 127.0.0.1\n",
             (unsigned)port);
    struct ah_daemon d;
    ah_start(&d, yaml, NULL);
    const char *q = "{\"id\":\"q1\",\"window\":{\"kind\":\"tumbling\",\"size_ms\":1000},"
                    "\"group_by\":[\"metadata.user_id\"],"
                    "\"aggregations\":[{\"fn\":\"count\",\"as\":\"n\"}],"
                    "\"anomaly\":{\"min_windows\":5,\"z_threshold\":3}}";
    ck_assert_int_eq(ah_call(&d, "POST", "/v1/queries", q, true, NULL), 201);
    zsock_t *push = vt_sock_ex(&(struct vt_sock_opts){.type = ZMQ_PUSH, .endpoint = d.input,
                                                      .linger_ms = 5000});
    ck_assert_ptr_nonnull(push);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t base = ((uint64_t)now.tv_sec - 600) * 1000ULL;

    /* 8 steady windows for u and v, then a spike of u; v's window 9 closes window 8 */
    for (int w = 0; w < 9; w++) {
        s_push_n(push, base + (uint64_t)w * 1000, w == 8 ? 50 : 5, "u");
        s_push_n(push, base + (uint64_t)w * 1000 + 100, 5, "v");
    }
    s_push_n(push, base + 9000 + 100, 5, "v");
    time_t deadline = time(NULL) + 60;
    while (s_hooks() < 1 && time(NULL) < deadline) {
        usleep(50000);
    }
    ck_assert_int_eq(s_hooks(), 1);
    json_t *h = s_hook(0);
    ck_assert_str_eq(json_string_value(json_object_get(h, "source")), "anomaly");
    ck_assert_str_eq(json_string_value(json_object_get(h, "status")), "firing");
    ck_assert_str_eq(s_group_user(h), "u");
    json_decref(h);
    /* window 8 of v was normal: u's alert stays firing */
    json_t *active = s_anomaly_alerts(&d, "active");
    ck_assert_uint_eq(json_array_size(active), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(active, 0), "status")),
                     "firing");
    ck_assert_str_eq(s_group_user(json_array_get(active, 0)), "u");
    ck_assert_double_eq(json_real_value(json_object_get(
                            json_object_get(json_array_get(active, 0), "anomaly"), "value")),
                        50);
    json_decref(active);
    json_t *recent = s_anomaly_alerts(&d, "recent");
    ck_assert_uint_eq(json_array_size(recent), 1);
    json_decref(recent);
    ck_assert_double_eq(ah_metric(&d, "vexfs_analytics_anomaly_alerts_resolved_total"), 0);

    /* u back to normal in window 9; a far event closes it */
    s_push_n(push, base + 9000 + 200, 5, "u");
    s_push(push, base + 100000, "w");
    deadline = time(NULL) + 60;
    while (s_hooks() < 2 && time(NULL) < deadline) {
        usleep(50000);
    }
    ck_assert_int_eq(s_hooks(), 2);
    h = s_hook(1);
    ck_assert_str_eq(json_string_value(json_object_get(h, "source")), "anomaly");
    ck_assert_str_eq(json_string_value(json_object_get(h, "status")), "resolved");
    ck_assert_str_eq(json_string_value(json_object_get(h, "reason")), "normal_window");
    ck_assert_str_eq(s_group_user(h), "u");
    json_decref(h);
    active = s_anomaly_alerts(&d, "active");
    ck_assert_uint_eq(json_array_size(active), 0);
    json_decref(active);
    recent = s_anomaly_alerts(&d, "recent");
    ck_assert_uint_eq(json_array_size(recent), 2);
    json_t *fired = json_array_get(recent, 0), *res = json_array_get(recent, 1);
    ck_assert_str_eq(json_string_value(json_object_get(fired, "status")), "firing");
    ck_assert_str_eq(json_string_value(json_object_get(res, "status")), "resolved");
    ck_assert_str_eq(s_group_user(res), "u");
    ck_assert_int_ge(json_integer_value(json_object_get(res, "resolved_at_ms")),
                     json_integer_value(json_object_get(fired, "fired_at_ms")));
    ck_assert_int_eq(json_integer_value(json_object_get(res, "fired_at_ms")),
                     json_integer_value(json_object_get(fired, "fired_at_ms")));
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_object_get(res, "resolved_by_window"), "start_ns")),
                     (json_int_t)((base + 9000) * 1000000ULL));
    json_decref(recent);
    ck_assert_double_eq(ah_metric(&d, "vexfs_analytics_anomaly_alerts_resolved_total"), 1);
    ck_assert_double_eq(ah_metric(&d, "vexfs_analytics_anomaly_alerts_total"), 1);
    /* Counted once the webhook answered, which may be a moment after the test's server
     * counted the request. */
    const char *sent = "vexfs_analytics_alert_notifications_total{action=\"webhook\",result=\"sent\"}";
    deadline = time(NULL) + 30;
    while (ah_metric(&d, sent) < 2 && time(NULL) < deadline) {
        usleep(20000);
    }
    ck_assert_double_eq(ah_metric(&d, sent), 2);
    zsock_destroy(&push);
    ah_stop(&d);
    MHD_stop_daemon(srv);
    for (int i = 0; i < s_svc.n_hooks; i++) {
        free(s_svc.hooks[i]);
    }
}
END_TEST

/* Without monitoring.services there is nothing to probe: the rollup refuses to call that
 * healthy (it used to answer "healthy, 0 of 0 services up"). */
/* Without an outbound_allow entry, webhooks to loopback and to the cloud metadata address are
 * refused before connecting: counted by reason, counted as failed notifications, and the
 * local receiver gets nothing. */
START_TEST(t_webhook_targets_refused)
{
    uint16_t port = vt_free_port();
    s_svc.value = 10;
    struct MHD_Daemon *srv = s_serve(port);
    int hooks0 = s_hooks();
    struct ah_daemon d;
    ah_start(&d, "monitoring:\n  metrics_collection_interval_ms: 100\n", NULL);
    char body[2048];
    snprintf(body, sizeof body,
             "{\"name\":\"ssrf\",\"target\":\"http://127.0.0.1:%u/metrics\",\"metric\":"
             "\"test_value\",\"condition\":\">\",\"threshold\":5,\"actions\":["
             "{\"type\":\"webhook\",\"url\":\"http://127.0.0.1:%u/hook\"},"
             "{\"type\":\"webhook\",\"url\":\"http://169.254.169.254/latest/meta-data/\"}]}",
             (unsigned)port, (unsigned)port);
    ck_assert_int_eq(ah_call(&d, "POST", "/v1/alert-rules", body, true, NULL), 201);
    time_t deadline = time(NULL) + 60;
    double lo = 0, md = 0;
    while (time(NULL) < deadline) {
        lo = ah_metric(&d, "vexfs_outbound_refused_total{reason=\"loopback\"}");
        md = ah_metric(&d, "vexfs_outbound_refused_total{reason=\"metadata\"}");
        if (lo >= 1 && md >= 1) {
            break;
        }
        usleep(50000);
    }
    ck_assert_msg(lo >= 1 && md >= 1, "refusals: loopback %g, metadata %g (expected >= 1 each)",
                  lo, md);
    ck_assert_double_ge(ah_metric(&d, "vexfs_analytics_alert_notifications_total"
                                      "{action=\"webhook\",result=\"failed\"}"),
                        2);
    ck_assert_double_eq(ah_metric(&d, "vexfs_analytics_alert_notifications_total"
                                      "{action=\"webhook\",result=\"sent\"}"),
                        0);
    ck_assert_int_eq(s_hooks(), hooks0);
    ah_stop(&d);
    MHD_stop_daemon(srv);
}
END_TEST

START_TEST(t_health_without_services)
{
    struct ah_daemon d;
    ah_start(&d, "monitoring:\n  services: \"\"\n", NULL);
    json_t *out = NULL;
    long st = ah_call(&d, "GET", "/v1/health/system", NULL, false, &out);
    const char *code =
        json_string_value(json_object_get(json_object_get(out, "error"), "code"));
    ck_assert_msg(st == 409 && code && strcmp(code, "no_services") == 0,
                  "GET /v1/health/system without services: expected 409 no_services, got %ld %s",
                  st, code ? code : "(no error code)");
    json_decref(out);
    ah_stop(&d);
}
END_TEST

/* The rollup probes the suite's HTTPS servers trusting the deployment's authority
 * (security.tls_dir's ca.crt), as a deployment with TLS on every REST server needs: another
 * analytics over HTTPS is "up" and the rollup "healthy". */
START_TEST(t_health_over_https)
{
    struct ah_daemon peer, d;
    ah_start(&peer, "monitoring:\n  services: \"\"\n", NULL);
    char yaml[256];
    snprintf(yaml, sizeof yaml, "monitoring:\n  services: peer=https://127.0.0.1:%u\n",
             (unsigned)peer.rest_port);
    ah_start(&d, yaml, NULL);
    json_t *h = NULL;
    const char *status = s_health(&d, &h);
    ck_assert_msg(strcmp(s_service_status(h, "peer"), "up") == 0 && strcmp(status, "healthy") == 0,
                  "rollup of an HTTPS peer: expected peer up and healthy, got peer %s, %s",
                  s_service_status(h, "peer"), status);
    json_decref(h);
    ah_stop(&d);
    ah_stop(&peer);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("analytics-alerts");
    TCase *tc = tcase_create("alerts");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, t_rule_fires_and_resolves);
    tcase_add_test(tc, t_email_actions);
    tcase_add_test(tc, t_anomaly_alert_resolves);
    tcase_add_test(tc, t_webhook_targets_refused);
    tcase_add_test(tc, t_health_without_services);
    tcase_add_test(tc, t_health_over_https);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
