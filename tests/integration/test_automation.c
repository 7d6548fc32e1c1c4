/* SPDX-License-Identifier: Apache-2.0 */
/* The real vexfs-automation process over loopback: patterns over REST (with a refused change
 * that changes nothing), events from a real ZeroMQ PUSH sender, threshold and absence alerts
 * listed at /v1/alerts, per-pattern metrics, and a clean exit on SIGTERM. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "vx_test.h"
#include "vx_wire.h"

#define S_TOKEN "automation-token"

struct s_daemon {
    pid_t pid;
    uint16_t port;
    char input[64];
    char dir[256];
    char log[300];
};

/* Binds the sender first (the daemon connects to it), then starts the daemon. */
static zsock_t *
s_start(struct s_daemon *d)
{
    memset(d, 0, sizeof *d);
    char *dir = vt_tmpdir();
    ck_assert_ptr_nonnull(dir);
    snprintf(d->dir, sizeof d->dir, "%s", dir);
    free(dir);
    d->port = vt_free_port();
    snprintf(d->input, sizeof d->input, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    zsock_t *push = zsock_new(ZMQ_PUSH);
    ck_assert_int_ge(zsock_bind(push, "%s", d->input), 0);
    zsock_set_linger(push, 1000);
    char tok[300], cfgpath[300], cfg[2048];
    snprintf(tok, sizeof tok, "%s/token", d->dir);
    snprintf(cfgpath, sizeof cfgpath, "%s/vexfs.yaml", d->dir);
    snprintf(d->log, sizeof d->log, "%s/automation.log", d->dir);
    ck_assert_int_eq(vt_write_file(tok, S_TOKEN "\n"), 0);
    snprintf(cfg, sizeof cfg,
             "reactive_automation:\n  rest_port: %u\n  input_endpoint: %s\n"
             "  max_partial_matches: 100\n  max_alerts: 50\n"
             "admin:\n  token_file: %s\nlogging:\n  level: info\n",
             (unsigned)d->port, d->input, tok);
    ck_assert_int_eq(vt_write_file(cfgpath, cfg), 0);
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-automation", vt_bin_dir());
    char *argv[] = {bin, (char *)"--config", cfgpath, NULL};
    d->pid = vt_spawn(argv, NULL, d->log);
    ck_assert_int_gt(d->pid, 0);
    ck_assert_msg(vt_wait_ready(d->port, 20000), "automation not ready; log in %s", d->log);
    return push;
}

static void
s_stop(struct s_daemon *d)
{
    int status = vt_stop(d->pid, SIGTERM, 30000);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "automation did not exit cleanly on SIGTERM (status %d); log in %s", status,
                  d->log);
}

static long
s_call(const struct s_daemon *d, const char *method, const char *path, const char *body,
       char *out, size_t outlen)
{
    struct vt_http_result r;
    ck_assert_int_eq(vt_http(method, d->port, path, body, body ? strlen(body) : 0, S_TOKEN, &r),
                     0);
    long status = r.status;
    if (out != NULL) {
        snprintf(out, outlen, "%s", r.body ? r.body : "");
    }
    vt_http_result_fini(&r);
    return status;
}

/* Sends one batch of n events of type with paths path and the user in metadata. */
static void
s_send(zsock_t *push, int type, const char *const *paths, size_t n, const char *user,
       uint64_t seq)
{
    vx_event_t ev[8];
    vx_event_t *evp[8];
    Vexfs__V1__Event__MetadataEntry me[8];
    Vexfs__V1__Event__MetadataEntry *mp[8];
    ck_assert_uint_le(n, 8);
    for (size_t i = 0; i < n; i++) {
        vexfs__v1__event__init(&ev[i]);
        ev[i].type = (Vexfs__V1__EventType)type;
        ev[i].path = (char *)paths[i];
        vexfs__v1__event__metadata_entry__init(&me[i]);
        me[i].key = (char *)"user_id";
        me[i].value = (char *)user;
        mp[i] = &me[i];
        ev[i].metadata = &mp[i];
        ev[i].n_metadata = 1;
        evp[i] = &ev[i];
    }
    vx_batch_t b;
    vexfs__v1__event_batch__init(&b);
    b.events = evp;
    b.n_events = n;
    b.sender = (char *)"routing-test";
    b.batch_sequence = seq;
    ck_assert_int_eq(vx_wire_send(push, "automation", &b, 0), 0);
}

struct s_wait {
    const struct s_daemon *d;
    const char *needle;
};

static bool
cb_alert_seen(void *arg)
{
    struct s_wait *w = arg;
    char body[16384];
    return s_call(w->d, "GET", "/v1/alerts", NULL, body, sizeof body) == 200 &&
           strstr(body, w->needle) != NULL;
}

static double
s_metric(const struct s_daemon *d, const char *series)
{
    char body[65536];
    ck_assert_int_eq(s_call(d, "GET", "/metrics", NULL, body, sizeof body), 200);
    const char *p = strstr(body, series);
    while (p != NULL && p != body && p[-1] != '\n') {
        p = strstr(p + 1, series);
    }
    return p ? strtod(p + strlen(series) + 1, NULL) : -1;
}

static const char *const s_patterns =
    "[{\"id\":\"burst\",\"kind\":\"threshold\",\"window_ms\":10000,\"partition_by\":"
    "\"metadata.user_id\",\"elements\":[{\"event_type\":\"filesystem_delete\","
    "\"min_occurrences\":3}],\"actions\":[{\"kind\":\"alert\",\"severity\":\"critical\","
    "\"message\":\"mass delete\"}]},"
    "{\"id\":\"unread\",\"kind\":\"absence\",\"window_ms\":300,\"partition_by\":\"path\","
    "\"elements\":[{\"event_type\":\"filesystem_write\"},{\"event_type\":\"filesystem_read\"}],"
    "\"actions\":[{\"kind\":\"alert\",\"message\":\"written, never read\"}]}]";

START_TEST(t_end_to_end)
{
    struct s_daemon d;
    zsock_t *push = s_start(&d);
    char body[16384];
    ck_assert_int_eq(s_call(&d, "PUT", "/v1/patterns", s_patterns, body, sizeof body), 200);

    /* A bad set is refused with the precise reason and changes nothing. */
    const char *bad = "[{\"id\":\"x\",\"kind\":\"threshold\",\"window_ms\":5,\"elements\":[{"
                      "\"event_type\":\"filesystem_write\",\"conditions\":[{\"field\":"
                      "\"path\",\"op\":\"regex\",\"value\":\"(\"}]}],\"actions\":[{\"kind\":"
                      "\"alert\",\"message\":\"m\"}]}]";
    ck_assert_int_eq(s_call(&d, "PUT", "/v1/patterns", bad, body, sizeof body), 422);
    ck_assert_msg(strstr(body, "patterns[0] (id \\\"x\\\"): elements[0].conditions[0].value: "
                               "regex \\\"(\\\": Unmatched ( or \\\\(") != NULL,
                  "%s", body);
    ck_assert_int_eq(s_call(&d, "GET", "/v1/patterns", NULL, body, sizeof body), 200);
    ck_assert_ptr_nonnull(strstr(body, "\"burst\""));
    ck_assert_ptr_nonnull(strstr(body, "\"unread\""));

    /* Threshold: three deletes by one user; two by another do not fire. */
    const char *const dels[] = {"/a", "/b", "/c"};
    s_send(push, VEXFS__V1__EVENT_TYPE__FILESYSTEM_DELETE, dels, 2, "bob", 1);
    s_send(push, VEXFS__V1__EVENT_TYPE__FILESYSTEM_DELETE, dels, 3, "alice", 2);
    struct s_wait w = {&d, "\"partition\":\"alice\""};
    ck_assert_msg(vt_wait_until(cb_alert_seen, &w, 5000), "no threshold alert");
    ck_assert_int_eq(s_call(&d, "GET", "/v1/alerts", NULL, body, sizeof body), 200);
    ck_assert_ptr_null(strstr(body, "\"bob\""));
    ck_assert_ptr_nonnull(strstr(body, "\"mass delete\""));

    /* Absence: /w1 is read in time, /w2 is not; only /w2 fires, after the 300 ms. */
    const char *const w1[] = {"/w1", "/w2"};
    s_send(push, VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE, w1, 2, "carol", 3);
    s_send(push, VEXFS__V1__EVENT_TYPE__FILESYSTEM_READ, w1, 1, "carol", 4);
    w.needle = "\"partition\":\"/w2\"";
    ck_assert_msg(vt_wait_until(cb_alert_seen, &w, 5000), "no absence alert");
    ck_assert_int_eq(s_call(&d, "GET", "/v1/alerts?since=1", NULL, body, sizeof body), 200);
    ck_assert_ptr_null(strstr(body, "\"/w1\""));
    ck_assert_ptr_null(strstr(body, "\"alice\"")); /* seq 1, before since */

    ck_assert_double_eq(s_metric(&d, "vexfs_automation_matches_total{pattern=\"burst\"}"), 1);
    ck_assert_double_eq(s_metric(&d, "vexfs_automation_matches_total{pattern=\"unread\"}"), 1);
    ck_assert_double_eq(s_metric(&d, "vexfs_automation_events_total"), 8);

    /* Single-pattern routes. */
    ck_assert_int_eq(s_call(&d, "GET", "/v1/patterns/burst", NULL, body, sizeof body), 200);
    ck_assert_ptr_nonnull(strstr(body, "\"matches\":1"));
    const char *one = "{\"id\":\"burst\",\"kind\":\"threshold\",\"window_ms\":5,\"elements\":[{"
                      "\"event_type\":\"filesystem_write\"}],\"actions\":[{\"kind\":\"alert\","
                      "\"message\":\"m\"}]}";
    ck_assert_int_eq(s_call(&d, "POST", "/v1/patterns", one, body, sizeof body), 409);
    ck_assert_int_eq(s_call(&d, "PUT", "/v1/patterns/burst", one, body, sizeof body), 200);
    ck_assert_int_eq(s_call(&d, "PUT", "/v1/patterns/other", one, body, sizeof body), 400);
    ck_assert_int_eq(s_call(&d, "DELETE", "/v1/patterns/burst", NULL, body, sizeof body), 204);
    ck_assert_int_eq(s_call(&d, "GET", "/v1/patterns/burst", NULL, body, sizeof body), 404);
    ck_assert_int_eq(s_call(&d, "DELETE", "/v1/patterns/burst", NULL, body, sizeof body), 404);
    ck_assert_int_eq(s_call(&d, "GET", "/v1/alerts?limit=0", NULL, body, sizeof body), 400);

    zsock_destroy(&push);
    s_stop(&d);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("automation");
    TCase *tc = tcase_create("end_to_end");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, t_end_to_end);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
