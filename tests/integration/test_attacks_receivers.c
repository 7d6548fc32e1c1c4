/* SPDX-License-Identifier: Apache-2.0 */
/* The attack battery, downstream receivers: an authenticated upstream sends a frame one byte
 * over transport.max_message_bytes to each daemon whose ZeroMQ input connects to its upstream
 * (automation, analytics without Kafka, the coordinator's leader). libzmq 4.3 ends that
 * connection on the over-limit frame and never reconnects it; each daemon's socket monitor
 * reports it, the daemon opens its input again (vexfs_zmq_reopened_total) and the events sent
 * after the frame are still processed. Routing's input, the same case, is in test_attacks.c. */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "an_harness.h"
#include "coord_harness.h"
#include "vx_test.h"
#include "vx_wire.h"

/* transport.max_message_bytes' default: the largest frame a receiving socket accepts. */
#define S_MAX_MSG 67112960u
#define S_TOKEN "automation-token"

/* The upstream of one receiver: a PUSH bound by the test with the suite's server key (as
 * routing's boundaries bind theirs), which the daemon's input connects to. */
struct s_upstream {
    zsock_t *push;
    char connect[64]; /* the daemon's input_endpoint */
    uint64_t seq, next_id;
};

static void
s_upstream_open(struct s_upstream *u)
{
    memset(u, 0, sizeof *u);
    int port = -1;
    u->push = vt_sock_ex(&(struct vt_sock_opts){.type = ZMQ_PUSH, .endpoint = "tcp://127.0.0.1:*",
                                                .bind = true, .port = &port});
    ck_assert_ptr_nonnull(u->push);
    snprintf(u->connect, sizeof u->connect, ">tcp://127.0.0.1:%d", port);
}

/* Sends one batch of two events with fresh ids (the coordinator keeps one of each id). */
static void
s_upstream_send(struct s_upstream *u)
{
    vx_event_t e[2];
    vx_event_t *ptrs[2];
    uint8_t ids[2][16];
    char paths[2][64];
    for (size_t i = 0; i < 2; i++) {
        vexfs__v1__event__init(&e[i]);
        e[i].type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE;
        e[i].source = VEXFS__V1__BOUNDARY__USERSPACE_API;
        uint64_t id = ++u->next_id;
        memset(ids[i], 0xa5, sizeof ids[i]);
        memcpy(ids[i], &id, sizeof id);
        e[i].id = (ProtobufCBinaryData){sizeof ids[i], ids[i]};
        snprintf(paths[i], sizeof paths[i], "/receivers/%llu", (unsigned long long)id);
        e[i].path = paths[i];
        e[i].tenant = (char *)"acme";
        e[i].timestamp_ns = (uint64_t)vt_now_ms() * 1000000u;
        ptrs[i] = &e[i];
    }
    vx_batch_t b = VEXFS__V1__EVENT_BATCH__INIT;
    b.events = ptrs;
    b.n_events = 2;
    b.sender = (char *)"attacks-upstream";
    b.batch_sequence = ++u->seq;
    int rc = vx_wire_send(u->push, VX_WIRE_TOPIC, &b, ZMQ_DONTWAIT);
    ck_assert_msg(rc == 0 || rc == -EAGAIN, "send: expected 0 or -EAGAIN, got %d", rc);
}

/* libzmq's free function for a mapped frame: its I/O thread encrypts the frame after
 * zmq_msg_send returned, so the pages are unmapped only when libzmq is done with them. */
static void
cb_unmap(void *data, void *hint)
{
    munmap(data, (size_t)(uintptr_t)hint);
}

/* Sends one frame of len bytes (pages of /dev/zero, mapped without reserving memory) after the
 * topic. */
static void
s_upstream_send_big(struct s_upstream *u, size_t len)
{
    int zero = open("/dev/zero", O_RDWR);
    ck_assert_int_ge(zero, 0);
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, zero, 0);
    close(zero);
    ck_assert_msg(p != MAP_FAILED, "mmap %zu: %s", len, strerror(errno));
    void *s = zsock_resolve(u->push);
    ck_assert_int_eq(zmq_send(s, VX_WIRE_TOPIC, strlen(VX_WIRE_TOPIC), ZMQ_SNDMORE),
                     (int)strlen(VX_WIRE_TOPIC));
    zmq_msg_t m;
    zmq_msg_init_data(&m, p, len, cb_unmap, (void *)(uintptr_t)len);
    int rc = zmq_msg_send(&m, s, 0);
    ck_assert_msg(rc == (int)len, "send %zu bytes: expected %zu, got %d (%s)", len, len, rc,
                  zmq_strerror(zmq_errno()));
}

/* One receiver under attack: its REST port, the series that counts what it processed, and
 * where its log is. */
struct s_receiver {
    const char *name;
    uint16_t rest_port;
    const char *processed;
    const char *log;
};

/* Sends batches (one every 500 ms) until the receiver's processed series grew. */
static void
s_serves(const struct s_receiver *r, struct s_upstream *u, const char *when)
{
    double before = vt_metric(r->rest_port, r->processed);
    double v = before;
    for (int waited = 0; v <= before && waited < 30000; waited += 50) {
        if (waited % 500 == 0) {
            s_upstream_send(u);
        }
        vt_sleep_ms(50);
        v = vt_metric(r->rest_port, r->processed);
    }
    ck_assert_msg(v > before, "%s %s: expected %s above %.0f, got %.0f; log in %s", r->name, when,
                  r->processed, before, v, r->log);
}

/* The attack: events flow, the over-limit frame, the input opened again, events flow. */
static void
s_attack(const struct s_receiver *r, struct s_upstream *u)
{
    s_serves(r, u, "before the over-limit frame");
    const char *reopened = "vexfs_zmq_reopened_total";
    double before = vt_metric(r->rest_port, reopened);
    ck_assert_msg(before >= 0, "%s: expected %s on /metrics, got none", r->name, reopened);
    s_upstream_send_big(u, S_MAX_MSG + 1);
    double v = before;
    for (uint64_t end = vt_now_ms() + 30000; v < before + 1 && vt_now_ms() < end;) {
        vt_sleep_ms(50);
        v = vt_metric(r->rest_port, reopened);
    }
    ck_assert_msg(v >= before + 1, "%s: expected %s at least %.0f after the over-limit frame, got "
                                   "%.0f; log in %s", r->name, reopened, before + 1, v, r->log);
    s_serves(r, u, "after the over-limit frame");
    fprintf(stderr, "attacks: %s opened its input again after an over-limit frame (%s %.0f) and "
                    "processes events\n", r->name, reopened, v);
}

START_TEST(t_automation_reopens)
{
    struct s_upstream u;
    s_upstream_open(&u);
    char *dir = vt_tmpdir();
    ck_assert_ptr_nonnull(dir);
    char tok[300], cfgpath[300], log[300], cfg[2048];
    snprintf(tok, sizeof tok, "%s/token", dir);
    snprintf(cfgpath, sizeof cfgpath, "%s/vexfs.yaml", dir);
    snprintf(log, sizeof log, "%s/automation.log", dir);
    ck_assert_int_eq(vt_write_file(tok, S_TOKEN "\n"), 0);
    uint16_t port = vt_free_port();
    snprintf(cfg, sizeof cfg,
             "reactive_automation:\n  rest_port: %u\n  input_endpoint: \"%s\"\n"
             "admin:\n  token_file: %s\nlogging:\n  level: info\n",
             (unsigned)port, u.connect, tok);
    ck_assert_int_eq(vt_write_file(cfgpath, cfg), 0);
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-automation", vt_bin_dir());
    char *argv[] = {bin, (char *)"--config", cfgpath, NULL};
    pid_t pid = vt_spawn(argv, NULL, log);
    ck_assert_int_gt(pid, 0);
    ck_assert_msg(vt_wait_ready(port, 20000), "automation not ready; log in %s", log);

    struct s_receiver r = {"automation", port, "vexfs_automation_events_total", log};
    s_attack(&r, &u);

    int status = vt_stop(pid, SIGTERM, 30000);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "automation: expected exit 0 on SIGTERM, got status %d; log in %s", status, log);
    zsock_destroy(&u.push);
    free(dir);
}
END_TEST

START_TEST(t_analytics_reopens)
{
    struct s_upstream u;
    s_upstream_open(&u);
    /* ah_start's configuration names an input the daemon binds; the environment overrides it
     * (this test runs in a process of its own). */
    setenv("VEXFS_STREAM_ANALYTICS_INPUT_ENDPOINT", u.connect, 1);
    struct ah_daemon d;
    ah_start(&d, NULL, NULL);
    struct s_receiver r = {"analytics", d.rest_port, "vexfs_analytics_events_total", d.log};
    s_attack(&r, &u);
    ah_stop(&d);
    zsock_destroy(&u.push);
}
END_TEST

START_TEST(t_coordinator_reopens)
{
    struct s_upstream u;
    s_upstream_open(&u);
    char extra[128];
    snprintf(extra, sizeof extra, "  input_endpoint: \"%s\"\n", u.connect);
    struct ch_cluster c;
    ch_start(&c, 1, extra);
    ck_assert_int_eq(ch_leader(&c, 20000, 0), 0);
    struct s_receiver r = {"coordinator", c.node[0].rest_port,
                           "vexfs_events_received_total{channel=\"zmq\"}", c.node[0].log};
    long long committed = ch_int(&c, 0, "/v1/log?limit=0&consistency=any", "total");
    s_attack(&r, &u);
    /* What the leader received after the frame went into its log too. */
    double received = vt_metric(r.rest_port, r.processed);
    long long total = committed;
    for (uint64_t end = vt_now_ms() + 20000; total < (long long)received && vt_now_ms() < end;) {
        vt_sleep_ms(50);
        total = ch_int(&c, 0, "/v1/log?limit=0&consistency=any", "total");
    }
    ck_assert_msg(total >= (long long)received, "coordinator log: expected at least %.0f events "
                                                "committed, got %lld; log in %s",
                  received, total, c.node[0].log);
    ch_stop_all(&c);
    zsock_destroy(&u.push);
}
END_TEST

static Suite *
s_suite(void)
{
    Suite *s = suite_create("attacks_receivers");
    TCase *tc = tcase_create("over_limit_frame");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_automation_reopens);
    tcase_add_test(tc, t_analytics_reopens);
    tcase_add_test(tc, t_coordinator_reopens);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    signal(SIGPIPE, SIG_IGN);
    SRunner *sr = srunner_create(s_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
