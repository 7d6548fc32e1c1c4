/* SPDX-License-Identifier: Apache-2.0 */
/* The real vexfs-automation process over loopback: patterns over REST (with a refused change
 * that changes nothing), events from a real ZeroMQ PUSH sender, threshold and absence alerts
 * listed at /v1/alerts, per-pattern metrics, and a clean exit on SIGTERM.
 *
 * Event time: the two repros of issue 16 through the daemon (each pattern in both time
 * modes), and a stream sent live (paced, reordered within the lateness) then replayed from a
 * real Kafka topic into the replay input: both runs raise the same alerts at the same event
 * times. */
#include <check.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "kafka_harness.h"
#include "vx_clock.h"
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

/* Binds the sender first (the daemon connects to it), then starts the daemon with extra
 * lines of its section (may be ""). */
static zsock_t *
s_start_with(struct s_daemon *d, const char *extra)
{
    memset(d, 0, sizeof *d);
    char *dir = vt_tmpdir();
    ck_assert_ptr_nonnull(dir);
    snprintf(d->dir, sizeof d->dir, "%s", dir);
    free(dir);
    d->port = vt_free_port();
    snprintf(d->input, sizeof d->input, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    zsock_t *push = vt_sock_ex(&(struct vt_sock_opts){.type = ZMQ_PUSH, .endpoint = d->input,
                                                      .bind = true, .linger_ms = 1000});
    ck_assert_ptr_nonnull(push);
    char tok[300], cfgpath[300], cfg[4096];
    snprintf(tok, sizeof tok, "%s/token", d->dir);
    snprintf(cfgpath, sizeof cfgpath, "%s/vexfs.yaml", d->dir);
    snprintf(d->log, sizeof d->log, "%s/automation.log", d->dir);
    ck_assert_int_eq(vt_write_file(tok, S_TOKEN "\n"), 0);
    snprintf(cfg, sizeof cfg,
             "reactive_automation:\n  rest_port: %u\n  input_endpoint: %s\n"
             "  max_partial_matches: 100\n%s"
             "admin:\n  token_file: %s\nlogging:\n  level: info\n",
             (unsigned)d->port, d->input, extra, tok);
    ck_assert_int_eq(vt_write_file(cfgpath, cfg), 0);
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-automation", vt_bin_dir());
    char *argv[] = {bin, (char *)"--config", cfgpath, NULL};
    d->pid = vt_spawn(argv, NULL, d->log);
    ck_assert_int_gt(d->pid, 0);
    ck_assert_msg(vt_wait_ready(d->port, 20000), "automation not ready; log in %s", d->log);
    return push;
}

static zsock_t *
s_start(struct s_daemon *d)
{
    return s_start_with(d, "  max_alerts: 50\n");
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
    ck_assert_int_eq(vx_wire_send(push, VX_WIRE_TOPIC, &b, 0), 0);
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

struct s_metric_wait {
    const struct s_daemon *d;
    const char *series;
    double want;
};

static bool
cb_metric_reached(void *arg)
{
    const struct s_metric_wait *w = arg;
    return s_metric(w->d, w->series) >= w->want;
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

/* ---- event time ----------------------------------------------------------------------------- */

/* One event to send: type, path, user and event time. */
struct s_tev {
    int type;
    char path[32];
    char user[8];
    uint64_t ts_ns;
};

/* Sends evs[0..n) as one batch (at most 64) with the given sender and sequence. */
static void
s_send_timed(zsock_t *push, const struct s_tev *evs, size_t n, const char *sender, uint64_t seq)
{
    vx_event_t ev[64];
    vx_event_t *evp[64];
    Vexfs__V1__Event__MetadataEntry me[64];
    Vexfs__V1__Event__MetadataEntry *mp[64];
    ck_assert_uint_le(n, 64);
    for (size_t i = 0; i < n; i++) {
        vexfs__v1__event__init(&ev[i]);
        ev[i].type = (Vexfs__V1__EventType)evs[i].type;
        ev[i].path = (char *)evs[i].path;
        ev[i].timestamp_ns = evs[i].ts_ns;
        vexfs__v1__event__metadata_entry__init(&me[i]);
        me[i].key = (char *)"user_id";
        me[i].value = (char *)evs[i].user;
        mp[i] = &me[i];
        ev[i].metadata = &mp[i];
        ev[i].n_metadata = 1;
        evp[i] = &ev[i];
    }
    vx_batch_t b;
    vexfs__v1__event_batch__init(&b);
    b.events = evp;
    b.n_events = n;
    b.sender = (char *)sender;
    b.batch_sequence = seq;
    ck_assert_int_eq(vx_wire_send(push, VX_WIRE_TOPIC, &b, 0), 0);
}

static struct s_tev
s_tev(int type, const char *path, uint64_t ts_ns)
{
    struct s_tev t = {.type = type, .ts_ns = ts_ns};
    snprintf(t.path, sizeof t.path, "%s", path);
    snprintf(t.user, sizeof t.user, "u0");
    return t;
}

/* True when /v1/alerts holds an alert of pattern for partition. */
static bool
s_has_alert(const struct s_daemon *d, const char *pattern, const char *partition)
{
    char body[65536];
    ck_assert_int_eq(s_call(d, "GET", "/v1/alerts?limit=10000", NULL, body, sizeof body), 200);
    json_t *j = json_loads(body, 0, NULL);
    ck_assert_ptr_nonnull(j);
    bool found = false;
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(j, "alerts"), i, a) {
        found = found ||
                (strcmp(json_string_value(json_object_get(a, "pattern")), pattern) == 0 &&
                 strcmp(json_string_value(json_object_get(a, "partition")), partition) == 0);
    }
    json_decref(j);
    return found;
}

struct s_alert_wait {
    const struct s_daemon *d;
    const char *pattern, *partition;
};

static bool
cb_has_alert(void *arg)
{
    struct s_alert_wait *w = arg;
    return s_has_alert(w->d, w->pattern, w->partition);
}

static const char *const s_gap_patterns =
    "[{\"id\":\"gap-ev\",\"kind\":\"absence\",\"window_ms\":1000,\"partition_by\":\"path\","
    "\"time_mode\":\"event\",\"elements\":[{\"event_type\":\"filesystem_write\"},"
    "{\"event_type\":\"filesystem_read\"}],\"actions\":[{\"kind\":\"alert\",\"message\":\"m\"}]},"
    "{\"id\":\"gap-pt\",\"kind\":\"absence\",\"window_ms\":1000,\"partition_by\":\"path\","
    "\"time_mode\":\"processing\",\"elements\":[{\"event_type\":\"filesystem_write\"},"
    "{\"event_type\":\"filesystem_read\"}],\"actions\":[{\"kind\":\"alert\",\"message\":\"m\"}]}]";

#define W VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE
#define R VEXFS__V1__EVENT_TYPE__FILESYSTEM_READ

/* Issue 16's repros through the daemon, with an absence "written, not read within 1 s" in
 * each time mode: (1) A, then more than a second later B whose event time is 100 ms after
 * A's: the processing-time absence fires, the event-time one does not; (2) A and B sent
 * together with event times 5 s apart: the event-time absence fires, the processing-time one
 * does not. */
START_TEST(t_event_time_repros)
{
    struct s_daemon d;
    zsock_t *push = s_start_with(&d, "  allowed_lateness_ms: 500\n  idle_timeout_ms: 0\n");
    char body[16384];
    ck_assert_int_eq(s_call(&d, "PUT", "/v1/patterns", s_gap_patterns, body, sizeof body), 200);
    uint64_t t = vx_wall_ns();
    uint64_t seq = 0;

    /* (1) */
    struct s_tev a = s_tev(W, "/r1", t);
    s_send_timed(push, &a, 1, "live", ++seq);
    struct s_alert_wait w = {&d, "gap-pt", "/r1"};
    ck_assert_msg(vt_wait_until(cb_has_alert, &w, 10000), "no processing-time absence for /r1");
    struct s_tev b = s_tev(R, "/r1", t + 100 * VX_NS_PER_MS);
    s_send_timed(push, &b, 1, "live", ++seq);
    /* Event time moves to t + 5 s: /s1 (written at t + 2 s, never read) must fire, and /r1
     * would have fired before it. */
    struct s_tev more[2] = {s_tev(W, "/s1", t + 2 * VX_NS_PER_S),
                            s_tev(R, "/other", t + 5 * VX_NS_PER_S)};
    s_send_timed(push, more, 2, "live", ++seq);
    w = (struct s_alert_wait){&d, "gap-ev", "/s1"};
    ck_assert_msg(vt_wait_until(cb_has_alert, &w, 10000), "no event-time absence for /s1");
    ck_assert_msg(!s_has_alert(&d, "gap-ev", "/r1"),
                  "event-time absence fired for /r1, whose read came 100 ms after the write");

    /* (2) */
    uint64_t u = t + 20 * VX_NS_PER_S;
    struct s_tev two[2] = {s_tev(W, "/r2", u), s_tev(R, "/r2", u + 5 * VX_NS_PER_S)};
    s_send_timed(push, two, 2, "live", ++seq);
    w = (struct s_alert_wait){&d, "gap-ev", "/r2"};
    ck_assert_msg(vt_wait_until(cb_has_alert, &w, 10000),
                  "no event-time absence for /r2, read 5 s after the write");
    /* A lone write sent after: once its processing-time absence fired, /r2's would have. */
    struct s_tev lone = s_tev(W, "/s2", u + 6 * VX_NS_PER_S);
    s_send_timed(push, &lone, 1, "live", ++seq);
    w = (struct s_alert_wait){&d, "gap-pt", "/s2"};
    ck_assert_msg(vt_wait_until(cb_has_alert, &w, 10000), "no processing-time absence for /s2");
    ck_assert_msg(!s_has_alert(&d, "gap-pt", "/r2"),
                  "processing-time absence fired for /r2, read in the same batch");

    /* The event-time alert carries its time in event time: the deadline, 1 s after A. */
    ck_assert_int_eq(s_call(&d, "GET", "/v1/alerts?limit=10000", NULL, body, sizeof body), 200);
    char want[128];
    snprintf(want, sizeof want, "\"event_time_ns\":%llu",
             (unsigned long long)(u + VX_NS_PER_S + 1));
    ck_assert_msg(strstr(body, want) != NULL, "%s not in %s", want, body);
    ck_assert_int_eq(s_call(&d, "GET", "/v1/patterns/gap-ev", NULL, body, sizeof body), 200);
    ck_assert_msg(strstr(body, "\"time_mode\":\"event\"") != NULL, "%s", body);
    ck_assert_int_eq(s_call(&d, "GET", "/v1/patterns/gap-pt", NULL, body, sizeof body), 200);
    ck_assert_msg(strstr(body, "\"time_mode\":\"processing\"") != NULL, "%s", body);
    ck_assert_double_eq(
        s_metric(&d, "vexfs_automation_events_dropped_total{reason=\"late\"}"), 0);
    zsock_destroy(&push);
    s_stop(&d);
}
END_TEST

/* Every kind, partitioned by user, without a time_mode (so: the daemon's time_mode on the
 * live input, event time on the replay input), and one absence pinned to processing time as a
 * control. */
static const char *const s_mix_patterns =
    "[{\"id\":\"seq\",\"kind\":\"sequence\",\"window_ms\":400,\"partition_by\":"
    "\"metadata.user_id\",\"elements\":[{\"event_type\":\"filesystem_create\"},"
    "{\"event_type\":\"filesystem_write\",\"within_ms\":200},{\"event_type\":"
    "\"filesystem_delete\"}],\"actions\":[{\"kind\":\"alert\",\"message\":\"m\"}]},"
    "{\"id\":\"conj\",\"kind\":\"conjunction\",\"window_ms\":300,\"partition_by\":"
    "\"metadata.user_id\",\"skip\":\"skip_to_next\",\"elements\":[{\"event_type\":"
    "\"filesystem_read\"},{\"event_type\":\"filesystem_chmod\"}],\"actions\":[{\"kind\":"
    "\"alert\",\"message\":\"m\"}]},"
    "{\"id\":\"abs\",\"kind\":\"absence\",\"window_ms\":250,\"partition_by\":"
    "\"metadata.user_id\",\"elements\":[{\"event_type\":\"filesystem_write\"},{\"event_type\":"
    "\"filesystem_read\"}],\"actions\":[{\"kind\":\"alert\",\"message\":\"m\"}]},"
    "{\"id\":\"thr\",\"kind\":\"threshold\",\"window_ms\":500,\"partition_by\":"
    "\"metadata.user_id\",\"elements\":[{\"event_type\":\"filesystem_delete\","
    "\"min_occurrences\":2}],\"actions\":[{\"kind\":\"alert\",\"message\":\"m\"}]},"
    "{\"id\":\"abs-pt\",\"kind\":\"absence\",\"window_ms\":250,\"time_mode\":\"processing\","
    "\"partition_by\":\"metadata.user_id\",\"elements\":[{\"event_type\":\"filesystem_write\"},"
    "{\"event_type\":\"filesystem_read\"}],\"actions\":[{\"kind\":\"alert\",\"message\":"
    "\"m\"}]}]";

#define S_STREAM 240
#define S_LIVE_BATCH 8

/* The stream: mostly create, write, read, delete, chmod in turn (one of 3 users per turn), one
 * in four at random, 10..60 ms apart in event time from t. */
static void
s_stream(struct s_tev *evs, uint64_t t)
{
    static const int types[] = {VEXFS__V1__EVENT_TYPE__FILESYSTEM_CREATE, W, R,
                                VEXFS__V1__EVENT_TYPE__FILESYSTEM_DELETE,
                                VEXFS__V1__EVENT_TYPE__FILESYSTEM_CHMOD};
    uint32_t seed = 7;
    uint64_t off = 0;
    for (int i = 0; i < S_STREAM; i++) {
        seed = seed * 1103515245u + 12345u;
        int k = (seed >> 8) % 4 == 0 ? (int)((seed >> 12) % 5) : i % 5;
        off += (10 + (seed >> 20) % 50) * VX_NS_PER_MS;
        evs[i] = s_tev(types[k], "/stream", t + off);
        snprintf(evs[i].user, sizeof evs[i].user, "u%d", (i / 5) % 3);
    }
}

struct s_stats_wait {
    const struct s_daemon *d;
    const char *engine; /* NULL: the live engine's totals at the top, else "replay" */
    double events;
};

/* The engine has seen every event, holds none and has no partial match left. */
static bool
cb_engine_settled(void *arg)
{
    struct s_stats_wait *w = arg;
    char body[16384];
    if (s_call(w->d, "GET", "/v1/stats", NULL, body, sizeof body) != 200) {
        return false;
    }
    json_t *j = json_loads(body, 0, NULL);
    json_t *e = w->engine ? json_object_get(j, w->engine) : j;
    bool done = json_integer_value(json_object_get(e, "events")) == (json_int_t)w->events &&
                json_integer_value(json_object_get(e, "held")) == 0 &&
                json_integer_value(json_object_get(e, "partials")) == 0;
    json_decref(j);
    return done;
}

struct s_wall_wait {
    uint64_t at;
};

static bool
cb_wall_reached(void *arg)
{
    return vx_wall_ns() >= ((struct s_wall_wait *)arg)->at;
}

/* Writes evs to a new single-partition topic (keyed by path, as propagation journals) and
 * reads them back in offset order into out. */
static void
s_kafka_round_trip(const struct s_tev *evs, size_t n, struct s_tev *out)
{
    char topic[200], err[512];
    kh_topic(topic, sizeof topic, "automation-replay");
    kh_create_topic(topic, 1);
    rd_kafka_conf_t *pc = kh_conf();
    rd_kafka_conf_set(pc, "enable.idempotence", "true", err, sizeof err);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof err);
    ck_assert_msg(p != NULL, "producer: %s", err);
    for (size_t i = 0; i < n; i++) {
        vx_event_t ev;
        vexfs__v1__event__init(&ev);
        Vexfs__V1__Event__MetadataEntry me, *mp = &me;
        vexfs__v1__event__metadata_entry__init(&me);
        me.key = (char *)"user_id";
        me.value = (char *)evs[i].user;
        ev.type = (Vexfs__V1__EventType)evs[i].type;
        ev.path = (char *)evs[i].path;
        ev.timestamp_ns = evs[i].ts_ns;
        ev.metadata = &mp;
        ev.n_metadata = 1;
        uint8_t buf[256];
        size_t len = vexfs__v1__event__pack(&ev, buf);
        ck_assert_int_eq(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic),
                                           RD_KAFKA_V_KEY(ev.path, strlen(ev.path)),
                                           RD_KAFKA_V_VALUE(buf, len),
                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                           RD_KAFKA_V_END),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    ck_assert_int_eq(rd_kafka_flush(p, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(p);

    rd_kafka_conf_t *cc = kh_conf();
    rd_kafka_conf_set(cc, "group.id", topic, err, sizeof err);
    rd_kafka_conf_set(cc, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, sizeof err);
    ck_assert_msg(c != NULL, "consumer: %s", err);
    rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tp, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    ck_assert_int_eq(rd_kafka_assign(c, tp), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(tp);
    size_t got = 0;
    uint64_t deadline = vx_mono_ns() + 60 * VX_NS_PER_S;
    while (got < n && vx_mono_ns() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 500);
        if (m == NULL) {
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            vx_event_t *ev = vexfs__v1__event__unpack(NULL, m->len, m->payload);
            ck_assert_ptr_nonnull(ev);
            out[got] = s_tev((int)ev->type, ev->path, ev->timestamp_ns);
            snprintf(out[got].user, sizeof out[got].user, "%s", ev->metadata[0]->value);
            got++;
            vexfs__v1__event__free_unpacked(ev, NULL);
        }
        rd_kafka_message_destroy(m);
    }
    ck_assert_uint_eq(got, n);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
}

/* The alerts of one input as sorted lines "pattern partition events span event_time". */
static json_t *
s_alert_lines(const struct s_daemon *d, const char *input, const char *only_pattern)
{
    static char body[4 << 20];
    ck_assert_int_eq(s_call(d, "GET", "/v1/alerts?limit=10000", NULL, body, sizeof body), 200);
    json_t *j = json_loads(body, 0, NULL);
    ck_assert_ptr_nonnull(j);
    json_t *lines = json_array();
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(j, "alerts"), i, a) {
        const char *pat = json_string_value(json_object_get(a, "pattern"));
        if (strcmp(json_string_value(json_object_get(a, "input")), input) != 0 ||
            (only_pattern != NULL && strcmp(pat, only_pattern) != 0) ||
            (only_pattern == NULL && strcmp(pat, "abs-pt") == 0)) {
            continue;
        }
        json_array_append_new(
            lines, json_sprintf("%s %s %lld %lld %lld", pat,
                                json_string_value(json_object_get(a, "partition")),
                                json_integer_value(json_object_get(a, "events")),
                                json_integer_value(json_object_get(a, "span_ns")),
                                json_integer_value(json_object_get(a, "event_time_ns"))));
    }
    json_decref(j);
    /* sort */
    size_t n = json_array_size(lines);
    for (size_t x = 1; x < n; x++) {
        for (size_t y = x; y > 0 && strcmp(json_string_value(json_array_get(lines, y - 1)),
                                           json_string_value(json_array_get(lines, y))) > 0;
             y--) {
            json_t *tmp = json_incref(json_array_get(lines, y));
            json_array_set(lines, y, json_array_get(lines, y - 1));
            json_array_set_new(lines, y - 1, tmp);
        }
    }
    return lines;
}

/* The same stream live (paced at its event times, each batch shuffled within the lateness)
 * and replayed from Kafka (all at once, in journal order) raises the same alerts, at the same
 * event times, for every kind; the processing-time control differs. */
START_TEST(t_live_and_replay_agree)
{
    struct s_daemon d;
    uint16_t rport = vt_free_port();
    char extra[512];
    snprintf(extra, sizeof extra,
             "  time_mode: event\n  allowed_lateness_ms: 2000\n  idle_timeout_ms: 300\n"
             "  replay_endpoint: tcp://127.0.0.1:%u\n  max_alerts: 5000\n",
             (unsigned)rport);
    zsock_t *push = s_start_with(&d, extra);
    char body[16384];
    ck_assert_int_eq(s_call(&d, "PUT", "/v1/patterns", s_mix_patterns, body, sizeof body), 200);
    static struct s_tev evs[S_STREAM], back[S_STREAM];
    uint64_t t = vx_wall_ns();
    s_stream(evs, t);

    /* Live: each batch when its first event happens; reversed, as if from several senders. */
    uint64_t seq = 0;
    for (int i = 0; i < S_STREAM; i += S_LIVE_BATCH) {
        struct s_tev batch[S_LIVE_BATCH];
        for (int k = 0; k < S_LIVE_BATCH; k++) {
            batch[k] = evs[i + S_LIVE_BATCH - 1 - k];
        }
        struct s_wall_wait ww = {evs[i].ts_ns};
        ck_assert(vt_wait_until(cb_wall_reached, &ww, 60000));
        s_send_timed(push, batch, S_LIVE_BATCH, "live", ++seq);
    }
    struct s_stats_wait sw = {&d, NULL, S_STREAM};
    ck_assert_msg(vt_wait_until(cb_engine_settled, &sw, 30000), "live engine did not settle");

    /* Replay: through a real Kafka topic, then into the replay input at once. */
    s_kafka_round_trip(evs, S_STREAM, back);
    char rep_ep[64];
    snprintf(rep_ep, sizeof rep_ep, "tcp://127.0.0.1:%u", (unsigned)rport);
    zsock_t *rpush = vt_sock_ex(&(struct vt_sock_opts){.type = ZMQ_PUSH, .endpoint = rep_ep,
                                                       .linger_ms = 1000});
    ck_assert_ptr_nonnull(rpush);
    seq = 0;
    for (int i = 0; i < S_STREAM; i += 60) {
        s_send_timed(rpush, back + i, 60, "replay-test", ++seq);
    }
    sw = (struct s_stats_wait){&d, "replay", S_STREAM};
    ck_assert_msg(vt_wait_until(cb_engine_settled, &sw, 30000), "replay engine did not settle");

    json_t *live = s_alert_lines(&d, "live", NULL);
    json_t *replay = s_alert_lines(&d, "replay", NULL);
    char *ls = json_dumps(live, 0), *rs = json_dumps(replay, 0);
    ck_assert_msg(json_array_size(live) >= 8, "too few alerts to compare: %s", ls);
    ck_assert_msg(json_equal(live, replay), "live and replay differ:\nlive   %s\nreplay %s", ls,
                  rs);
    static const char *const kinds[] = {"seq ", "conj ", "abs ", "thr "};
    for (int k = 0; k < 4; k++) {
        ck_assert_msg(strstr(ls, kinds[k]) != NULL, "no %salert in %s", kinds[k], ls);
    }
    free(ls);
    free(rs);
    json_decref(live);
    json_decref(replay);
    /* The control in processing time: paced live and a replay burst do not agree. */
    live = s_alert_lines(&d, "live", "abs-pt");
    replay = s_alert_lines(&d, "replay", "abs-pt");
    ck_assert_msg(json_array_size(live) != json_array_size(replay),
                  "processing time agreed too: %zu alerts each", json_array_size(live));
    json_decref(live);
    json_decref(replay);
    ck_assert_double_eq(vt_metric_sum(d.port, "vexfs_automation_events_dropped_total"), 0);
    zsock_destroy(&rpush);
    zsock_destroy(&push);
    s_stop(&d);
}
END_TEST

/* The alert ring keeps the newest max_alerts alerts and counts what it pushed out; a long
 * partition is kept whole; the loop's time per stage is exported. */
START_TEST(t_alert_ring)
{
    struct s_daemon d;
    zsock_t *push = s_start_with(&d, "  max_alerts: 3\n");
    char body[16384];
    const char *one = "[{\"id\":\"w\",\"kind\":\"threshold\",\"window_ms\":60000,"
                      "\"partition_by\":\"path\",\"elements\":[{\"event_type\":"
                      "\"filesystem_write\"}],\"actions\":[{\"kind\":\"alert\","
                      "\"message\":\"written\"}]}]";
    ck_assert_int_eq(s_call(&d, "PUT", "/v1/patterns", one, body, sizeof body), 200);
    static const char long_path[] =
        "/a/path/long/enough/not/to/fit/the/inline/buffer/of/an/alert/record/x";
    const char *const paths[] = {"/p1", "/p2", "/p3", "/p4", long_path};
    s_send(push, VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE, paths, 5, "u", 1);
    struct s_alert_wait w = {&d, "w", long_path};
    ck_assert_msg(vt_wait_until(cb_has_alert, &w, 5000), "no alert for the long path");
    ck_assert_int_eq(s_call(&d, "GET", "/v1/alerts", NULL, body, sizeof body), 200);
    json_t *j = json_loads(body, 0, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "dropped")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "last_seq")), 5);
    json_t *alerts = json_object_get(j, "alerts");
    ck_assert_uint_eq(json_array_size(alerts), 3);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(alerts, 0), "partition")),
                     "/p3");
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(alerts, 0), "seq")), 3);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(alerts, 2), "message")),
                     "written");
    json_decref(j);
    /* A replaced set leaves earlier alerts as they were. */
    ck_assert_int_eq(s_call(&d, "PUT", "/v1/patterns", "[]", body, sizeof body), 200);
    ck_assert_int_eq(s_call(&d, "GET", "/v1/alerts", NULL, body, sizeof body), 200);
    ck_assert_msg(strstr(body, "\"message\":\"written\"") != NULL, "%s", body);
    ck_assert_double_gt(
        s_metric(&d, "vexfs_automation_stage_nanoseconds_total{stage=\"match\"}"), 0);
    ck_assert_double_gt(
        s_metric(&d, "vexfs_automation_stage_nanoseconds_total{stage=\"receive\"}"), 0);

    /* A batch under another topic and bytes that are not a batch are refused and counted; the
     * input goes on with the next batch. */
    ck_assert_double_eq(s_metric(&d, "vexfs_automation_bad_batches_total"), 0);
    vx_batch_t other = VEXFS__V1__EVENT_BATCH__INIT;
    ck_assert_int_eq(vx_wire_send(push, "not-events", &other, 0), 0);
    ck_assert_int_eq(zstr_sendx(push, VX_WIRE_TOPIC, "\x0b", NULL), 0);
    s_send(push, VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE, paths, 1, "u", 2);
    struct s_metric_wait mw = {&d, "vexfs_automation_batches_total", 2};
    ck_assert_msg(vt_wait_until(cb_metric_reached, &mw, 5000),
                  "the batch after the refused messages was not taken");
    ck_assert_double_eq(s_metric(&d, "vexfs_automation_bad_batches_total"), 2);
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
    tcase_add_test(tc, t_alert_ring);
    suite_add_tcase(s, tc);
    tc = tcase_create("event_time");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_event_time_repros);
    tcase_add_test(tc, t_live_and_replay_agree);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
