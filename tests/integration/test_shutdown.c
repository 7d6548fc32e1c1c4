/* SPDX-License-Identifier: Apache-2.0 */
/* Every daemon stops within shutdown_timeout_ms whatever its downstream does, and accounts for
 * what it could not deliver; propagation's dedup window survives its restarts.
 *
 * Real processes throughout: a downstream is either absent (nothing ever connects) or a real
 * daemon stalled with SIGSTOP. Each stop is timed from SIGTERM to exit and compared with the
 * configured timeout plus a margin for a loaded machine; the count of lost events is read
 * from the line the daemon logs when it stops (its metrics are gone with it) and checked
 * against what was sent and what arrived. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <jansson.h>

#include "an_harness.h"
#include "coord_harness.h"
#include "kafka_harness.h"
#include "prop_harness.h"
#include "rt_harness.h"
#include "vx_test.h"
#include "vx_wire.h"

#define S_TIMEOUT_MS 5000
/* SIGTERM to exit may take the timeout plus this on a shared, loaded machine: the stop path
 * itself (sockets closed, files written, sanitizer's leak check) takes well under a second.
 * Less than the timeout, so a deadline started twice (a stop taking twice the timeout) fails. */
#define S_MARGIN_MS 4000

/* ---- helpers ------------------------------------------------------------------------------ */

/* Copies into line the last line of the log at path holding text; false when there is none. */
static bool
s_log_line(const char *path, const char *text, char *line, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        return false;
    }
    char buf[4096];
    bool found = false;
    while (fgets(buf, sizeof buf, f)) {
        if (strstr(buf, text)) {
            snprintf(line, len, "%s", buf);
            found = true;
        }
    }
    fclose(f);
    return found;
}

struct s_logwait {
    const char *path, *text;
};

static bool
cb_log_has(void *arg)
{
    struct s_logwait *w = arg;
    char line[4096];
    return s_log_line(w->path, w->text, line, sizeof line);
}

static void
s_wait_log(const char *path, const char *text, int timeout_ms)
{
    struct s_logwait w = {path, text};
    ck_assert_msg(vt_wait_until(cb_log_has, &w, timeout_ms), "no \"%s\" in %s within %d ms",
                  text, path, timeout_ms);
}

/* The number after "after" in the last log line holding id; fails the test when absent. */
static unsigned long long
s_log_number(const char *path, const char *id, const char *after)
{
    char line[4096];
    ck_assert_msg(s_log_line(path, id, line, sizeof line), "no %s line in %s", id, path);
    const char *p = strstr(line, after);
    ck_assert_msg(p != NULL, "no \"%s\" in the %s line: %s", after, id, line);
    return strtoull(p + strlen(after), NULL, 10);
}

/* SIGTERM, then waits for the exit; returns the status and the time it took. */
static int
s_term_timed(pid_t pid, uint64_t *elapsed_ms)
{
    uint64_t t0 = vt_now_ms();
    int status = vt_stop(pid, SIGTERM, S_TIMEOUT_MS + 60000);
    *elapsed_ms = vt_now_ms() - t0;
    return status;
}

static void
s_assert_in_time(const char *who, uint64_t elapsed_ms, const char *log)
{
    ck_assert_msg(elapsed_ms <= S_TIMEOUT_MS + S_MARGIN_MS,
                  "%s took %llu ms to stop, expected at most %d + %d ms; log in %s", who,
                  (unsigned long long)elapsed_ms, S_TIMEOUT_MS, S_MARGIN_MS, log);
}

/* Sends up to n distinct events (content n = first..first+n-1) in batches of 50 without
 * waiting: stops at the first batch the socket does not take within 200 ms (the receiver is
 * blocked). Returns the number of events sent. */
static size_t
s_send_until_blocked(zsock_t *push, size_t first, size_t n, uint64_t *bseq)
{
    enum { BATCH = 50 };
    char val[BATCH][24];
    char path[BATCH][48];
    zsock_set_sndtimeo(push, 200);
    size_t sent = 0;
    while (sent < n) {
        vx_event_t e[BATCH];
        vx_event_t *ptrs[BATCH];
        Vexfs__V1__Event__ContentEntry ce[BATCH];
        Vexfs__V1__Event__ContentEntry *cep[BATCH];
        size_t k = n - sent < BATCH ? n - sent : BATCH;
        for (size_t j = 0; j < k; j++) {
            vexfs__v1__event__init(&e[j]);
            vexfs__v1__event__content_entry__init(&ce[j]);
            e[j].type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE;
            e[j].source = VEXFS__V1__BOUNDARY__FUSE;
            snprintf(path[j], sizeof path[j], "/c/f%zu", first + sent + j);
            e[j].path = path[j];
            snprintf(val[j], sizeof val[j], "%zu", first + sent + j);
            ce[j].key = (char *)"n";
            ce[j].value = val[j];
            cep[j] = &ce[j];
            e[j].n_content = 1;
            e[j].content = &cep[j];
            ptrs[j] = &e[j];
        }
        vx_batch_t b = VEXFS__V1__EVENT_BATCH__INIT;
        b.events = ptrs;
        b.n_events = k;
        b.sender = (char *)"shutdown-test-sender";
        b.batch_sequence = *bseq + 1;
        if (vx_wire_send(push, "events", &b, 0) < 0) {
            break;
        }
        ++*bseq;
        sent += k;
    }
    return sent;
}

/* A routing metric once it stopped changing: polled every 100 ms until it holds for a
 * second (at most 60 s). */
static double
s_settled(const struct rh_daemon *d, const char *series)
{
    double last = rh_metric(d, series);
    uint64_t since = vt_now_ms(), t0 = since;
    while (vt_now_ms() - since < 1000 && vt_now_ms() - t0 < 60000) {
        vt_sleep_ms(100);
        double v = rh_metric(d, series);
        if (v != last) {
            last = v;
            since = vt_now_ms();
        }
    }
    return last;
}

/* ---- propagation -------------------------------------------------------------------------- */

/* The case: config/production.yaml with its ports and token overridden and Kafka off,
 * one event pushed, no routing ever connected. Propagation must stop within
 * shutdown_timeout_ms, log the event as lost, and exit 0 (it stopped as asked). */
START_TEST(t_prop_production_routing_absent)
{
    char *dir = vt_tmpdir();
    struct ph_daemon d = {0};
    d.rest_port = vt_free_port();
    snprintf(d.ingest, sizeof d.ingest, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    snprintf(d.output, sizeof d.output, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    snprintf(d.log, sizeof d.log, "%s/propagation.log", dir);
    char tok[300];
    snprintf(tok, sizeof tok, "%s/token", dir);
    ck_assert_int_eq(vt_write_file(tok, PH_TOKEN "\n"), 0);
    static char env[11][400];
    snprintf(env[0], sizeof env[0], "VEXFS_ADMIN_TOKEN_FILE=%s", tok);
    snprintf(env[1], sizeof env[1], "VEXFS_EVENT_PROPAGATION_KAFKA_BROKERS=");
    snprintf(env[2], sizeof env[2], "VEXFS_EVENT_PROPAGATION_REST_PORT=%u", (unsigned)d.rest_port);
    snprintf(env[3], sizeof env[3], "VEXFS_EVENT_PROPAGATION_REST_BIND=127.0.0.1");
    snprintf(env[4], sizeof env[4], "VEXFS_EVENT_PROPAGATION_INGEST_ENDPOINT=%s", d.ingest);
    snprintf(env[5], sizeof env[5], "VEXFS_EVENT_PROPAGATION_INGEST_ACKED_ENDPOINT=tcp://127.0.0.1:%u",
             (unsigned)vt_free_port());
    snprintf(env[6], sizeof env[6], "VEXFS_EVENT_PROPAGATION_OUTPUT_ENDPOINT=%s", d.output);
    snprintf(env[7], sizeof env[7], "VEXFS_EVENT_PROPAGATION_TAP_ENDPOINT=tcp://127.0.0.1:%u",
             (unsigned)vt_free_port());
    snprintf(env[8], sizeof env[8], "VEXFS_EVENT_PROPAGATION_SHUTDOWN_TIMEOUT_MS=%d",
             S_TIMEOUT_MS);
    snprintf(env[9], sizeof env[9], "VEXFS_EVENT_PROPAGATION_STATE_DIR=%s/state", dir);
    char *envp[] = {env[0], env[1], env[2], env[3], env[4], env[5],
                    env[6], env[7], env[8], env[9], NULL};
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-propagation", vt_bin_dir());
    char *argv[] = {bin, (char *)"--config", (char *)"config/production.yaml", NULL};
    d.pid = vt_spawn(argv, envp, d.log);
    ck_assert_int_gt(d.pid, 0);
    ck_assert_msg(vt_wait_ready(d.rest_port, 20000), "propagation not ready; log in %s", d.log);

    zsock_t *push = ph_push(&d);
    static const struct rh_event one[] = {{"filesystem_write", "/c/one", 1}};
    uint64_t bseq = 0;
    rh_send(push, one, 1, &bseq);
    ck_assert_double_eq(ph_wait_metric(&d, "vexfs_events_received_total{channel=\"zmq\"}", 1, 20000),
                        1);
    /* The event now waits for a routing that never comes: in the acknowledged output's buffer
     * (production.yaml's output_acked) or in a publish that blocks. */
    uint64_t ms;
    int status = s_term_timed(d.pid, &ms);
    d.pid = 0;
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "propagation exit status %d, expected exit 0; log in %s", status, d.log);
    s_assert_in_time("propagation", ms, d.log);
    /* Handed to the acknowledged output (counted published there) or not, it never reached a
     * routing: it is counted lost. */
    ck_assert_uint_eq(s_log_number(d.log, "PROP-STOPPED", "published in total; lost: "), 1);
    ck_assert_uint_le(s_log_number(d.log, "PROP-STOPPED", "flushed; "), 1);
    zsock_destroy(&push);
    free(dir);
}
END_TEST

/* Routing connected, then stalled with SIGSTOP while propagation keeps publishing: propagation
 * blocks, and on SIGTERM gives up at its deadline. Every event it received is either
 * published or counted lost; routing, resumed, receives no more than was published. */
START_TEST(t_prop_routing_stalled)
{
    struct ph_daemon prop;
    char yaml[256];
    snprintf(yaml, sizeof yaml, "  shutdown_timeout_ms: %d\n  queue_hwm: 10\n", S_TIMEOUT_MS);
    ph_start(&prop, yaml, NULL);
    struct rh_daemon rt;
    rh_start(&rt, prop.output, NULL);
    zsock_t *push = ph_push(&prop);
    uint64_t bseq = 0;
    /* Flowing first: routing takes what it is given. */
    size_t sent = s_send_until_blocked(push, 0, 200, &bseq);
    ck_assert_uint_eq(sent, 200);
    rh_wait_decided(&rt, 200, 30000);
    kill(rt.pid, SIGSTOP);
    /* Stalled: publish until propagation's output, TCP and routing's input are full and the
     * loop waits (it says so after 2 s). */
    uint64_t t0 = vt_now_ms();
    while (!cb_log_has(&(struct s_logwait){prop.log, "PROP-OUTPUT-BLOCKED"})) {
        sent += s_send_until_blocked(push, sent, 2000, &bseq);
        ck_assert_msg(vt_now_ms() - t0 < 120000, "propagation never blocked; log in %s",
                      prop.log);
    }
    double received = ph_metric(&prop, "vexfs_events_received_total{channel=\"zmq\"}");
    uint64_t ms;
    int status = s_term_timed(prop.pid, &ms);
    prop.pid = 0;
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "propagation exit status %d; log in %s", status, prop.log);
    s_assert_in_time("propagation", ms, prop.log);
    unsigned long long published =
        s_log_number(prop.log, "PROP-STOPPED", "flushed; ");
    unsigned long long lost = s_log_number(prop.log, "PROP-STOPPED", "lost: ");
    ck_assert_msg(lost > 0, "nothing counted lost although routing was stopped; log in %s",
                  prop.log);
    /* Nothing received is unaccounted for (events still arriving after the metric was read
     * can only add to received, so published + lost is at least the value read). */
    ck_assert_msg((double)(published + lost) >= received && published + lost <= sent,
                  "published %llu + lost %llu, received %.0f of %zu sent", published, lost,
                  received, sent);
    kill(rt.pid, SIGCONT);
    /* Routing, resumed, drains what reached it (until its count holds still for a second);
     * never more than was published. */
    double decided = s_settled(&rt, "vexfs_events_processed_total");
    ck_assert_msg(decided <= (double)published, "routing decided %.0f, propagation published %llu",
                  decided, published);
    fprintf(stderr,
            "propagation stalled: sent %zu, published %llu, lost %llu (counted), routing decided "
            "%.0f, stop took %llu ms\n",
            sent, published, lost, decided, (unsigned long long)ms);
    rh_stop(&rt);
    zsock_destroy(&push);
}
END_TEST

/* ---- routing ------------------------------------------------------------------------------ */

static const char *const s_to_coordinator =
    "{\"rules\":[{\"id\":\"c\",\"conditions\":{\"patterns\":"
    "[{\"kind\":\"prefix\",\"pattern\":\"/c/\"}]},\"target_boundaries\":[\"coordinator\"]}]}";

/* Routing's coordinator boundary consumed by a second, real routing, which is then stopped
 * with SIGSTOP: routing stops within its timeout, exits 1 (something was not delivered) and
 * counts what it still held; nothing is counted that the consumer received. */
START_TEST(t_routing_consumer_stalled)
{
    struct ph_daemon prop;
    ph_start(&prop, NULL, NULL);
    struct rh_daemon rt;
    char yaml[256];
    snprintf(yaml, sizeof yaml,
             "  shutdown_timeout_ms: %d\n  boundary_queue_events: 1000\n  queue_hwm: 10\n",
             S_TIMEOUT_MS);
    rh_start(&rt, prop.output, yaml);
    rh_expect(&rt, "PUT", "/v1/rules", s_to_coordinator, 200);
    struct rh_daemon consumer;
    rh_start(&consumer, rh_out(&rt, "coordinator"), NULL);
    zsock_t *push = ph_push(&prop);
    uint64_t bseq = 0;
    size_t sent = s_send_until_blocked(push, 0, 200, &bseq);
    rh_wait_decided(&consumer, (double)sent, 30000);
    kill(consumer.pid, SIGSTOP);
    /* Until routing's queue for the stalled consumer is full and routing waits on it. */
    uint64_t t0 = vt_now_ms();
    while (rh_metric(&rt, "vexfs_routing_boundary_blocked{boundary=\"coordinator\"}") < 1) {
        sent += s_send_until_blocked(push, sent, 2000, &bseq);
        ck_assert_msg(vt_now_ms() - t0 < 120000, "routing never blocked; log in %s", rt.log);
    }
    /* What routing holds for the stalled consumer now: it can only grow while routing drains
     * its input at stop, and all of it must be counted. */
    double queued = rh_metric(&rt, "vexfs_routing_boundary_queued_events{boundary=\"coordinator\"}");
    uint64_t ms;
    int status = s_term_timed(rt.pid, &ms);
    rt.pid = 0;
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1,
                  "routing exit status %d, expected exit 1; log in %s", status, rt.log);
    s_assert_in_time("routing", ms, rt.log);
    unsigned long long lost =
        s_log_number(rt.log, "RT-STOP-UNDELIVERED", "boundary coordinator: ");
    ck_assert_msg(queued > 0 && (double)lost >= queued,
                  "%llu counted undelivered, %.0f were queued at SIGTERM; log in %s", lost, queued,
                  rt.log);
    kill(consumer.pid, SIGCONT);
    double got = s_settled(&consumer, "vexfs_events_processed_total");
    ck_assert_msg(got + (double)lost <= (double)sent,
                  "the consumer decided %.0f and %llu were counted lost, of %zu sent", got,
                  lost, sent);
    fprintf(stderr,
            "routing stalled: sent %zu, queued at SIGTERM %.0f, lost %llu (counted), consumer "
            "decided %.0f, stop took %llu ms\n",
            sent, queued, lost, got, (unsigned long long)ms);
    rh_stop(&consumer);
    zsock_destroy(&push);
    ph_stop(&prop);
}
END_TEST

/* ---- automation ---------------------------------------------------------------------------- */

struct s_auto {
    pid_t pid;
    uint16_t port;
    char cfg[300], log[300], dir[256];
};

/* Starts vexfs-automation emitting into emit (its state in a folder of its own). */
static void
s_auto_start(struct s_auto *a, const char *emit)
{
    memset(a, 0, sizeof *a);
    char *dir = vt_tmpdir();
    snprintf(a->dir, sizeof a->dir, "%s", dir);
    free(dir);
    a->port = vt_free_port();
    char tok[300], cfg[2048];
    snprintf(tok, sizeof tok, "%s/token", a->dir);
    snprintf(a->cfg, sizeof a->cfg, "%s/vexfs.yaml", a->dir);
    snprintf(a->log, sizeof a->log, "%s/automation.log", a->dir);
    ck_assert_int_eq(vt_write_file(tok, "auto-token\n"), 0);
    snprintf(cfg, sizeof cfg,
             "reactive_automation:\n  rest_port: %u\n  input_endpoint: tcp://127.0.0.1:%u\n"
             "  emit_endpoint: %s\n  state_dir: %s/state\n"
             "admin:\n  token_file: %s\nlogging:\n  level: info\n",
             (unsigned)a->port, (unsigned)vt_free_port(), emit, a->dir, tok);
    ck_assert_int_eq(vt_write_file(a->cfg, cfg), 0);
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-automation", vt_bin_dir());
    char *argv[] = {bin, (char *)"--config", a->cfg, NULL};
    a->pid = vt_spawn(argv, NULL, a->log);
    ck_assert_int_gt(a->pid, 0);
    ck_assert_msg(vt_wait_ready(a->port, 20000), "automation not ready; log in %s", a->log);
}

static long
s_auto_post(const struct s_auto *a, const char *path, const char *body)
{
    struct vt_http_result r;
    ck_assert_int_eq(vt_http("POST", a->port, path, body, strlen(body), NULL, &r), 0);
    long st = r.status;
    ck_assert_msg(st == 201 || st == 202, "POST %s: %ld %s", path, st, r.body ? r.body : "");
    vt_http_result_fini(&r);
    return st;
}

/* A workflow whose one step emits an event, retried for long: with propagation absent every
 * attempt waits 1 s for ZeroMQ and fails. */
static const char *const s_emit_wf =
    "{\"id\":\"tell\",\"kind\":\"linear\",\"steps\":[{\"id\":\"e\",\"timeout_ms\":600000,"
    "\"retry\":{\"max_retries\":100,\"backoff\":\"fixed\",\"base_delay_ms\":10},"
    "\"action\":{\"kind\":\"emit\",\"event\":{\"type\":\"custom\",\"custom_type\":\"x\","
    "\"path\":\"/c/emitted\"}}}]}";

/* Automation with emit steps failing against an absent propagation: it stops within the
 * timeout, each emit ZeroMQ did not take is counted lost on its hop, and the executions in
 * flight are journaled (the next start reports them interrupted), not lost. */
START_TEST(t_automation_emit_absent)
{
    char emit[64];
    snprintf(emit, sizeof emit, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    struct s_auto a;
    s_auto_start(&a, emit);
    s_auto_post(&a, "/v1/workflows", s_emit_wf);
    for (int i = 0; i < 3; i++) {
        s_auto_post(&a, "/v1/workflows/tell/execute", "{}");
    }
    const char *lost =
        "vexfs_events_lost_total{hop=\"automation_to_propagation\",reason=\"send_failed\"}";
    uint64_t t0 = vt_now_ms();
    while (vt_metric(a.port, lost) < 3) {
        ck_assert_msg(vt_now_ms() - t0 < 60000, "no emit counted lost; log in %s", a.log);
        vt_sleep_ms(50);
    }
    double failures = vt_metric(a.port, "vexfs_automation_emit_failures_total");
    ck_assert_msg(vt_metric(a.port, lost) <= failures, "lost %.0f > emit failures %.0f",
                  vt_metric(a.port, lost), failures);
    uint64_t ms;
    int status = s_term_timed(a.pid, &ms);
    a.pid = 0;
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "automation exit status %d; log in %s", status, a.log);
    s_assert_in_time("automation", ms, a.log);
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-automation", vt_bin_dir());
    char *argv[] = {bin, (char *)"--config", a.cfg, NULL};
    a.pid = vt_spawn(argv, NULL, a.log);
    ck_assert_msg(vt_wait_ready(a.port, 20000), "automation not ready; log in %s", a.log);
    s_wait_log(a.log, "3 interrupted executions", 10000);
    status = vt_stop(a.pid, SIGTERM, 60000);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "automation exit status %d",
                  status);
}
END_TEST

/* Emitting into a real propagation stalled with SIGSTOP: automation still stops in time, and
 * what it emitted reaches propagation once it resumes (ZeroMQ had taken it). */
START_TEST(t_automation_emit_propagation_stalled)
{
    struct ph_daemon p;
    ph_start(&p, NULL, NULL);
    struct s_auto a;
    s_auto_start(&a, p.ingest);
    s_auto_post(&a, "/v1/workflows", s_emit_wf);
    kill(p.pid, SIGSTOP);
    for (int i = 0; i < 3; i++) {
        s_auto_post(&a, "/v1/workflows/tell/execute", "{}");
    }
    uint64_t t0 = vt_now_ms();
    while (vt_metric(a.port, "vexfs_automation_emitted_total") < 3) {
        ck_assert_msg(vt_now_ms() - t0 < 60000, "the emits were not sent; log in %s", a.log);
        vt_sleep_ms(50);
    }
    uint64_t ms;
    int status = s_term_timed(a.pid, &ms);
    a.pid = 0;
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "automation exit status %d; log in %s", status, a.log);
    s_assert_in_time("automation", ms, a.log);
    kill(p.pid, SIGCONT);
    ck_assert_double_eq(ph_wait_metric(&p, "vexfs_events_received_total{channel=\"zmq\"}", 3, 20000),
                        3);
    ph_stop(&p);
}
END_TEST

/* ---- coordinator and analytics ---------------------------------------------------------------- */

/* A coordinator leader whose two peers are gone (_i 0: stopped) or stalled (_i 1: SIGSTOP)
 * still stops in time and cleanly: nothing of its stop waits on a peer. */
START_TEST(t_coordinator_peers_gone)
{
    struct ch_cluster c;
    ch_start(&c, 3, NULL);
    int l = ch_leader(&c, 30000, 0);
    ck_assert_int_ge(l, 0);
    for (size_t i = 0; i < 3; i++) {
        if ((int)i == l) {
            continue;
        }
        if (_i == 0) {
            ch_stop_node(&c, i);
        } else {
            kill(c.node[i].pid, SIGSTOP);
        }
    }
    uint64_t ms;
    int status = s_term_timed(c.node[l].pid, &ms);
    c.node[l].pid = 0;
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "coordinator exit status %d; log in %s", status, c.node[l].log);
    s_assert_in_time("coordinator", ms, c.node[l].log);
    fprintf(stderr, "coordinator, peers %s: stop took %llu ms\n", _i == 0 ? "absent" : "stalled",
            (unsigned long long)ms);
    for (size_t i = 0; i < 3; i++) {
        if (c.node[i].pid > 0) {
            kill(c.node[i].pid, SIGCONT);
        }
    }
    ch_stop_all(&c);
}
END_TEST

/* Analytics fed and then left without its upstream, and with no reader of its results:
 * it stops in time and cleanly (its outputs, PUB and REST, never wait on a reader). */
START_TEST(t_analytics_upstream_gone)
{
    struct ah_daemon d;
    ah_start(&d, NULL, NULL);
    zsock_t *push = vt_sock_ex(&(struct vt_sock_opts){.type = ZMQ_PUSH, .endpoint = d.input,
                                                      .linger_ms = 5000});
    ck_assert_ptr_nonnull(push);
    enum { N = 100 };
    for (int i = 0; i < N; i++) {
        vx_event_t e;
        struct ah_ev_storage st;
        ah_event(&e, &st, VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE, 1000 + (uint64_t)i, "/a/x",
                 "u", 10);
        vx_event_t *ev = &e;
        vx_batch_t b;
        vexfs__v1__event_batch__init(&b);
        b.events = &ev;
        b.n_events = 1;
        ck_assert_int_eq(vx_wire_send(push, VX_WIRE_TOPIC, &b, 0), 0);
    }
    double got = 0;
    uint64_t t0 = vt_now_ms();
    while ((got = ah_metric(&d, "vexfs_analytics_events_total")) < N && vt_now_ms() - t0 < 30000) {
        vt_sleep_ms(50);
    }
    ck_assert_msg(got == N, "analytics took %.0f of %d events; log in %s", got, N, d.log);
    zsock_destroy(&push);
    uint64_t ms;
    int status = s_term_timed(d.pid, &ms);
    d.pid = 0;
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "analytics exit status %d; log in %s",
                  status, d.log);
    s_assert_in_time("analytics", ms, d.log);
}
END_TEST

/* ---- vexfsctl status ------------------------------------------------------------------------ */

/* Losses counted while running (a drop-policy boundary nobody reads) show in vexfsctl status,
 * summed per hop across the daemons it asks, in the table and in --json. */
START_TEST(t_status_sums_lost_per_hop)
{
    enum { N = 200, CAP = 50 };
    struct ph_daemon prop;
    ph_start(&prop, NULL, NULL);
    struct rh_daemon rt;
    rh_start(&rt, prop.output, "  boundary_policies: \"coordinator=drop:50\"\n");
    rh_expect(&rt, "PUT", "/v1/rules", s_to_coordinator, 200);
    zsock_t *push = ph_push(&prop);
    uint64_t bseq = 0;
    ck_assert_uint_eq(s_send_until_blocked(push, 0, N, &bseq), N);
    rh_wait_decided(&rt, N, 30000);
    char pu[64], ru[64], bin[512];
    snprintf(pu, sizeof pu, "https://127.0.0.1:%u", (unsigned)prop.rest_port);
    snprintf(ru, sizeof ru, "https://127.0.0.1:%u", (unsigned)rt.rest_port);
    snprintf(bin, sizeof bin, "%s/vexfsctl", vt_bin_dir());
    char *argv[] = {bin, (char *)"status", (char *)"--only", (char *)"propagation,routing",
                    (char *)"--interval", (char *)"0", (char *)"--propagation", pu,
                    (char *)"--routing", ru, NULL};
    struct vt_run_result r;
    ck_assert_int_eq(vt_run(argv, NULL, NULL, 30000, &r), 0);
    char want[128];
    snprintf(want, sizeof want, "lost routing_to_boundary: %d (boundary_full %d)\n", N - CAP,
             N - CAP);
    ck_assert_msg(strstr(r.out, want), "expected \"%s\" in: %s", want, r.out);
    ck_assert_msg(strstr(r.out, "lost propagation_to_routing: 0\n"),
                  "expected propagation_to_routing: 0 in: %s", r.out);
    vt_run_result_fini(&r);
    char *jargv[] = {bin, (char *)"status", (char *)"--json", (char *)"--only",
                     (char *)"propagation,routing", (char *)"--interval", (char *)"0",
                     (char *)"--propagation", pu, (char *)"--routing", ru, NULL};
    ck_assert_int_eq(vt_run(jargv, NULL, NULL, 30000, &r), 0);
    json_t *doc = json_loads(r.out, 0, NULL);
    ck_assert_msg(doc != NULL, "not JSON: %s", r.out);
    json_t *hop = json_object_get(json_object_get(doc, "lost"), "routing_to_boundary");
    ck_assert_int_eq(json_integer_value(json_object_get(hop, "total")), N - CAP);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_object_get(hop, "reasons"), "boundary_full")),
        N - CAP);
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_object_get(json_object_get(doc, "lost"), "propagation_to_routing"),
                         "total")),
                     0);
    json_decref(doc);
    vt_run_result_fini(&r);
    zsock_destroy(&push);
    /* The 50 queued for nobody are lost at stop: exit 1, and counted. */
    int status = vt_stop(rt.pid, SIGTERM, 60000);
    rt.pid = 0;
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "routing exit status %d; log in %s",
                  status, rt.log);
    ck_assert_uint_eq(s_log_number(rt.log, "RT-STOP-UNDELIVERED", "boundary coordinator: "), CAP);
    ph_stop(&prop);
}
END_TEST

/* ---- dedup across restarts ---------------------------------------------------------------- */

static void
s_batch(struct rh_event *ev, size_t n, char paths[][32])
{
    for (size_t i = 0; i < n; i++) {
        snprintf(paths[i], sizeof paths[i], "/d/file%zu", i);
        ev[i] = (struct rh_event){"filesystem_write", paths[i], (long)i};
    }
}

/* A batch published, propagation stopped (SIGTERM) and started again, the same batch sent
 * again: every event is a duplicate, none is published twice. */
START_TEST(t_dedup_survives_sigterm)
{
    enum { N = 300 };
    static struct rh_event ev[N];
    static char paths[N][32];
    s_batch(ev, N, paths);
    struct ph_daemon d;
    char yaml[600];
    char *state = vt_tmpdir();
    snprintf(yaml, sizeof yaml, "  dedup_window_ms: 600000\n  state_dir: %s/prop\n", state);
    ph_start(&d, yaml, NULL);
    zsock_t *pull = ph_pull(&d);
    zsock_t *push = ph_push(&d);
    uint64_t bseq = 0;
    rh_send(push, ev, N, &bseq);
    ck_assert_uint_eq(ph_receive(pull, N, 20000, NULL, NULL), N);
    zsock_destroy(&push);
    ph_stop(&d);
    char line[4096];
    ck_assert_msg(s_log_line(d.log, "PROP-DEDUP-SAVED", line, sizeof line), "no save in %s",
                  d.log);
    ph_restart(&d);
    ck_assert_msg(s_log_line(d.log, "dedup window: 300 content hashes restored", line,
                             sizeof line),
                  "window not restored; log in %s", d.log);
    push = ph_push(&d);
    rh_send(push, ev, N, &bseq);
    double dup = ph_wait_metric(&d, "vexfs_events_dropped_total{reason=\"duplicate\"}", N, 20000);
    ck_assert_msg(dup == N, "%.0f of %d resent events taken for duplicates", dup, N);
    ck_assert_double_eq(ph_metric(&d, "vexfs_events_processed_total"), 0);
    /* And nothing reached the output. */
    ck_assert_uint_eq(ph_receive(pull, 1, 500, NULL, NULL), 0);
    zsock_destroy(&push);
    zsock_destroy(&pull);
    ph_stop(&d);
    free(state);
}
END_TEST

/* The same after kill -9, with Kafka on: the window checkpointed while running
 * (dedup_checkpoint_ms) is what the next instance starts with. The test waits for a checkpoint
 * made after the batch and for Kafka's acknowledgements, kills, restarts, sends the batch again:
 * every copy is a duplicate, and the journal holds each event once. */
START_TEST(t_dedup_survives_kill9)
{
    enum { N = 300 };
    static struct rh_event ev[N];
    static char paths[N][32];
    s_batch(ev, N, paths);
    char topic[200];
    kh_topic(topic, sizeof topic, "dedup");
    struct ph_daemon d;
    char yaml[1200];
    char *state = vt_tmpdir();
    snprintf(yaml, sizeof yaml,
             "  dedup_window_ms: 600000\n  state_dir: %s/prop\n  dedup_checkpoint_ms: 200\n"
             "  kafka_brokers: \"%s\"\n  kafka_topic: \"%s\"\n",
             state, kh_bootstrap(), topic);
    ph_start(&d, yaml, NULL);
    zsock_t *pull = ph_pull(&d);
    zsock_t *push = ph_push(&d);
    uint64_t bseq = 0;
    rh_send(push, ev, N, &bseq);
    ck_assert_uint_eq(ph_receive(pull, N, 20000, NULL, NULL), N);
    ck_assert_double_eq(ph_wait_metric(&d, "vexfs_kafka_delivered_total", N, 60000), N);
    double entries = ph_wait_metric(&d, "vexfs_dedup_checkpoint_entries", N, 20000);
    ck_assert_msg(entries == N, "the last checkpoint holds %.0f entries, expected %d", entries,
                  N);
    ph_kill9(&d);
    ph_restart(&d);
    char line[4096];
    ck_assert_msg(s_log_line(d.log, "dedup window: 300 content hashes restored", line,
                             sizeof line),
                  "window not restored after kill -9; log in %s", d.log);
    zsock_destroy(&push);
    push = ph_push(&d);
    rh_send(push, ev, N, &bseq);
    double dup = ph_wait_metric(&d, "vexfs_events_dropped_total{reason=\"duplicate\"}", N, 20000);
    ck_assert_msg(dup == N, "%.0f of %d resent events taken for duplicates", dup, N);
    ck_assert_double_eq(ph_metric(&d, "vexfs_events_processed_total"), 0);
    ck_assert_uint_eq(ph_receive(pull, 1, 500, NULL, NULL), 0);
    size_t total = 0;
    json_t *ids = kh_read_topic(topic, N, &total);
    ck_assert_msg(total == N && json_object_size(ids) == N,
                  "the journal holds %zu messages of %zu events, expected %d once each", total,
                  json_object_size(ids), N);
    json_decref(ids);
    zsock_destroy(&push);
    zsock_destroy(&pull);
    ph_stop(&d);
    free(state);
}
END_TEST

/* A dedup file that is not ours is refused with its name, and the daemon starts with an empty
 * window (it is a guard against copies, not data). */
START_TEST(t_dedup_bad_file_named)
{
    char *state = vt_tmpdir();
    char yaml[600], path[600];
    snprintf(yaml, sizeof yaml, "  state_dir: %s/prop\n", state);
    struct ph_daemon d;
    ph_start(&d, yaml, NULL);
    ph_stop(&d);
    snprintf(path, sizeof path, "%s/prop/dedup.bin", state);
    ck_assert_int_eq(vt_write_file(path, "garbage"), 0);
    ph_restart(&d);
    char line[4096];
    ck_assert_msg(s_log_line(d.log, "PROP-DEDUP-LOAD", line, sizeof line), "no PROP-DEDUP-LOAD");
    ck_assert_msg(strstr(line, "dedup.bin"), "the error does not name the file: %s", line);
    ph_stop(&d);
    free(state);
}
END_TEST

static Suite *
s_suite(void)
{
    Suite *s = suite_create("shutdown");
    TCase *tc = tcase_create("stop");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, t_prop_production_routing_absent);
    tcase_add_test(tc, t_prop_routing_stalled);
    tcase_add_test(tc, t_routing_consumer_stalled);
    tcase_add_test(tc, t_status_sums_lost_per_hop);
    tcase_add_test(tc, t_automation_emit_absent);
    tcase_add_test(tc, t_automation_emit_propagation_stalled);
    tcase_add_loop_test(tc, t_coordinator_peers_gone, 0, 2);
    tcase_add_test(tc, t_analytics_upstream_gone);
    suite_add_tcase(s, tc);
    TCase *dd = tcase_create("dedup");
    tcase_set_timeout(dd, 300);
    tcase_add_test(dd, t_dedup_survives_sigterm);
    tcase_add_test(dd, t_dedup_survives_kill9);
    tcase_add_test(dd, t_dedup_bad_file_named);
    suite_add_tcase(s, dd);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(s_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
