/* SPDX-License-Identifier: Apache-2.0 */
/* Alert rules cannot be used as a port scanner: a real vexfs-analytics scrapes targets started
 * here that fail in every way a port can — nothing listening (connection refused), a listener
 * that never answers (timeout), one that accepts and hangs up (empty reply), an HTTP server
 * answering 404, and one answering 200 with a page that is not Prometheus text — and every
 * such rule shows the same status: state, evaluations, series -1 and the one error text
 * "target unreachable or did not answer with a metrics page", with the same members. The
 * reason of each is in the daemon's log (AN-ALERT-SCRAPE), once per rule while it does not
 * change. A rule whose target serves metrics shows its value and no error. */
#include <check.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "an_harness.h"
#include "vx_test.h"

#define S_NEUTRAL "target unreachable or did not answer with a metrics page"

static enum MHD_Result
cb_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
           const char *version, const char *data, size_t *size, void **con_cls)
{
    (void)cls, (void)method, (void)version, (void)data, (void)size, (void)con_cls;
    const char *text = "<html><body>not found</body></html>\n";
    unsigned status = 404;
    if (strcmp(url, "/metrics") == 0) {
        text = "# TYPE test_value gauge\ntest_value 7\n";
        status = 200;
    } else if (strcmp(url, "/page") == 0) {
        text = "<html><body>hello</body></html>\n";
        status = 200;
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

/* A TCP listener on 127.0.0.1:port (backlog 16); the caller accepts or not. */
static int
s_listen(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(fd, 16), 0);
    return fd;
}

static atomic_bool s_stop;

/* Accepts every connection and closes it at once. */
static void *
s_hangup_main(void *arg)
{
    int fd = *(int *)arg;
    while (!atomic_load(&s_stop)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) == 1) {
            int c = accept(fd, NULL, NULL);
            if (c >= 0) {
                close(c);
            }
        }
    }
    return NULL;
}

static json_t *
s_status(const struct ah_daemon *d, const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/alert-rules/%s", name);
    json_t *r = NULL;
    ck_assert_int_eq(ah_call(d, "GET", path, NULL, false, &r), 200);
    json_t *st = json_incref(json_object_get(r, "status"));
    json_decref(r);
    return st;
}

/* How many lines of the log contain both a and b. */
static int
s_log_lines(const char *log, const char *a, const char *b)
{
    FILE *f = fopen(log, "r");
    int n = 0;
    char line[4096];
    while (f && fgets(line, sizeof line, f)) {
        n += strstr(line, a) && strstr(line, b);
    }
    if (f) {
        fclose(f);
    }
    return n;
}

START_TEST(t_scrape_failures_look_alike)
{
    uint16_t http = vt_free_port(), closed = vt_free_port(), silent = vt_free_port(),
             hangup = vt_free_port();
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(http),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct MHD_Daemon *srv = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, http, NULL, NULL,
        cb_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_END);
    ck_assert_ptr_nonnull(srv);
    int silent_fd = s_listen(silent), hangup_fd = s_listen(hangup);
    atomic_store(&s_stop, false);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, s_hangup_main, &hangup_fd), 0);

    struct ah_daemon d;
    ah_start(&d, "monitoring:\n"
                 "  metrics_collection_interval_ms: 100\n"
                 "  scrape_timeout_ms: 300\n",
             NULL);
    struct {
        const char *name;
        uint16_t port;
        const char *path;
        const char *why; /* in the log line of this rule */
        bool once;       /* the reason stays the same, so it is logged once */
    } targets[] = {
        {"r-closed", closed, "/metrics", "Couldn't connect", true},
        {"r-silent", silent, "/metrics", "Timeout", true},
        /* "returned nothing" or "Failure when receiving", as the hang-up races the request:
         * logged again at each change */
        {"r-hangup", hangup, "/metrics", "failed: ", false},
        {"r-missing", http, "/missing", "HTTP 404", true},
        {"r-html", http, "/page", "no Prometheus text", true},
        {"r-working", http, "/metrics", NULL, false},
    };
    size_t n = sizeof targets / sizeof targets[0];
    for (size_t i = 0; i < n; i++) {
        char body[512];
        snprintf(body, sizeof body,
                 "{\"name\":\"%s\",\"target\":\"http://127.0.0.1:%u%s\",\"metric\":\"test_value\","
                 "\"condition\":\">\",\"threshold\":100}",
                 targets[i].name, (unsigned)targets[i].port, targets[i].path);
        ck_assert_int_eq(ah_call(&d, "POST", "/v1/alert-rules", body, true, NULL), 201);
    }
    /* Every rule evaluated at least three times. */
    time_t deadline = time(NULL) + 60;
    bool all = false;
    while (!all && time(NULL) < deadline) {
        all = true;
        for (size_t i = 0; i < n && all; i++) {
            json_t *st = s_status(&d, targets[i].name);
            all = json_integer_value(json_object_get(st, "evaluations")) >= 3;
            json_decref(st);
        }
        if (!all) {
            vt_sleep_ms(50);
        }
    }
    ck_assert_msg(all, "rules not evaluated three times in 60 s");

    json_t *first = NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *st = s_status(&d, targets[i].name);
        char *text = json_dumps(st, JSON_COMPACT | JSON_SORT_KEYS);
        if (!targets[i].why) {
            ck_assert_msg(!json_object_get(st, "error") &&
                              json_real_value(json_object_get(st, "value")) == 7,
                          "%s: %s", targets[i].name, text);
        } else {
            const char *err = json_string_value(json_object_get(st, "error"));
            ck_assert_msg(err && strcmp(err, S_NEUTRAL) == 0, "%s: error '%s', expected '%s'",
                          targets[i].name, err ? err : "(none)", S_NEUTRAL);
            ck_assert_int_eq(json_integer_value(json_object_get(st, "series")), -1);
            ck_assert_str_eq(json_string_value(json_object_get(st, "state")), "inactive");
            /* The same members in the same shape as the first failure's: nothing else to
             * tell them apart. */
            json_object_del(st, "evaluations");
            if (!first) {
                first = json_incref(st);
            }
            ck_assert_msg(json_equal(st, first), "%s differs from the other failures: %s",
                          targets[i].name, text);
            /* The reason, once, in the log. */
            char tag[64];
            snprintf(tag, sizeof tag, "AN-ALERT-SCRAPE %s: ", targets[i].name);
            int lines = s_log_lines(d.log, tag, "");
            ck_assert_msg(s_log_lines(d.log, tag, targets[i].why) >= 1 &&
                              (targets[i].once ? lines == 1 : lines >= 1),
                          "%s: expected %s AN-ALERT-SCRAPE line with '%s' in %s (%d)",
                          targets[i].name, targets[i].once ? "one" : "a", targets[i].why, d.log,
                          lines);
        }
        free(text);
        json_decref(st);
    }
    json_decref(first);
    ck_assert_double_ge(ah_metric(&d, "vexfs_analytics_alert_scrape_errors_total"), 15);
    ah_stop(&d);
    atomic_store(&s_stop, true);
    pthread_join(th, NULL);
    close(silent_fd);
    close(hangup_fd);
    MHD_stop_daemon(srv);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("analytics-probe");
    TCase *tc = tcase_create("probe");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_scrape_failures_look_alike);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
