/* SPDX-License-Identifier: Apache-2.0 */
/* vx_link: the producers' acknowledged link is watched by its socket factory's one monitor, so a
 * handshake propagation refuses is counted in vexfs_zmq_handshake_failed_total{reason} on the
 * producer's metrics, and a dropped connection still makes the link send its unacknowledged
 * batches again, in a factory with metrics (the producers) or without (the client library). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vx_arena.h"
#include "vx_clock.h"
#include "vx_keys.h"
#include "vx_link.h"
#include "vx_metrics.h"
#include "vx_rx.h"
#include "vx_sock.h"
#include "vx_test.h"

/* A keys folder: the server pair, alice's pair, alice listed in authorized/. */
static char *
s_keys(void)
{
    char *dir = vt_tmpdir();
    char auth[600], err[512], src[700], dst[700];
    snprintf(auth, sizeof auth, "%s/authorized", dir);
    ck_assert_int_eq(mkdir(auth, 0700), 0);
    ck_assert_msg(vx_keys_generate(dir, "server", err, sizeof err) == 0, "%s", err);
    ck_assert_msg(vx_keys_generate(dir, "alice", err, sizeof err) == 0, "%s", err);
    snprintf(src, sizeof src, "%s/alice.pub", dir);
    snprintf(dst, sizeof dst, "%s/alice.pub", auth);
    ck_assert_int_eq(link(src, dst), 0);
    return dir;
}

static vx_socks_t *
s_socks(const char *dir, const char *curve, const char *identity, vx_metrics_t *m)
{
    char err[512];
    struct vx_transport_config tc = {1000, 0, 1 << 20, 0};
    struct vx_security_config sc = {curve, dir, identity, "off", "", false, "", "", "", false};
    vx_socks_t *s = vx_socks_new(&tc, &sc, "test", m, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    return s;
}

/* Propagation's acknowledged ingest, as the test plays it: a ROUTER bound at endpoint
 * (again at the same endpoint after it was closed, which libzmq may hold a moment). */
static zsock_t *
s_router(vx_socks_t *socks, char *endpoint, size_t len)
{
    struct vx_sock_spec spec = {.type = ZMQ_ROUTER, .endpoint = endpoint, .bind = true};
    char bound[256], err[512] = "";
    zsock_t *z = NULL;
    for (uint64_t end = vt_now_ms() + 10000; !z && vt_now_ms() < end;) {
        z = vx_sock_open(socks, &spec, bound, sizeof bound, err, sizeof err);
        if (!z) {
            vt_sleep_ms(50);
        }
    }
    ck_assert_msg(z != NULL, "bind %s: %s", endpoint, err);
    snprintf(endpoint, len, "%s", bound);
    return z;
}

static vx_link_t *
s_link(vx_socks_t *socks, const char *endpoint, vx_metrics_t *m)
{
    struct vx_link_config cfg = {.ingest_endpoint = "", .ack_endpoint = endpoint,
                                 .ack_window_batches = 8, .ack_timeout_ms = 600000,
                                 .buffer_max_batches = 16, .retry_interval_ms = 20};
    char err[512];
    vx_link_t *l = vx_link_new(&cfg, socks, "vexfs_test", "Events dropped.", m, err, sizeof err);
    ck_assert_msg(l != NULL, "%s", err);
    return l;
}

static void
s_put_one(vx_link_t *l, const char *path)
{
    vx_event_t e;
    vexfs__v1__event__init(&e);
    e.type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE;
    e.path = (char *)path;
    vx_event_t *p = &e;
    vx_link_put(l, &p, 1, "link-test");
}

/* Pumps the link as a producer's loop does until the ROUTER received one batch or timeout_ms
 * passed; returns the batch's sequence (0: none) and the sender's routing id in *id. */
static uint64_t
s_pump_until_batch(vx_link_t *l, zsock_t *router, zframe_t **id, int timeout_ms)
{
    for (uint64_t end = vt_now_ms() + (uint64_t)timeout_ms; vt_now_ms() < end;) {
        vx_link_pump(l, vx_mono_ns());
        zmq_pollitem_t items[2];
        size_t n = vx_link_pollitems(l, items);
        items[n++] = (zmq_pollitem_t){zsock_resolve(router), 0, ZMQ_POLLIN, 0};
        zmq_poll(items, (int)n, 20);
        if (!(items[n - 1].revents & ZMQ_POLLIN)) {
            continue;
        }
        zmsg_t *m = zmsg_recv(router);
        ck_assert_ptr_nonnull(m);
        ck_assert_int_eq((int)zmsg_size(m), 3); /* routing id, topic, batch */
        *id = zmsg_pop(m);
        zframe_t *body = zmsg_last(m);
        vx_arena_t *arena = vx_arena_new(4096, 0);
        vx_batch_t *b = vx_wire_decode(zframe_data(body), zframe_size(body), arena);
        ck_assert_ptr_nonnull(b);
        uint64_t seq = b->batch_sequence;
        vx_arena_destroy(&arena);
        zmsg_destroy(&m);
        return seq;
    }
    return 0;
}

static void
s_ack(zsock_t *router, zframe_t **id, uint64_t seq)
{
    uint8_t le[8];
    for (int i = 0; i < 8; i++) {
        le[i] = (uint8_t)(seq >> (8 * i));
    }
    zmsg_t *m = zmsg_new();
    zmsg_append(m, id);
    zmsg_addstr(m, "ack");
    zmsg_addmem(m, le, sizeof le);
    ck_assert_int_eq(zmsg_send(&m, router), 0);
}

/* The text of metrics' sample series (e.g. name{label="v"}), or -1 when absent. */
static double
s_series(vx_metrics_t *m, const char *series)
{
    size_t len;
    char *text = vx_metrics_render(m, &len);
    char line[256];
    snprintf(line, sizeof line, "\n%s ", series);
    char *p = strstr(text, line);
    double v = p ? strtod(p + strlen(line), NULL) : -1;
    free(text);
    return v;
}

/* A propagation without CURVE: the producer's CURVE handshake fails at the greeting, and the
 * producer's own metrics count it (libzmq keeps it to the link's socket monitor). */
/* A run's sender id: the base, "@" and hex digits, within what a receiver takes, and another
 * for another run (a later start time, in ns). */
START_TEST(t_run_sender)
{
    char a[300], b[300], long_base[400];
    vx_link_run_sender(a, sizeof a, "routing-test");
    ck_assert_msg(strncmp(a, "routing-test@", 13) == 0 && strlen(a) > 13 &&
                      strspn(a + 13, "0123456789abcdef") == strlen(a + 13),
                  "sender id \"%s\", expected routing-test@<hex>", a);
    vx_link_run_sender(b, sizeof b, "routing-test");
    ck_assert_msg(strcmp(a, b) != 0, "two runs share the sender id %s", a);
    memset(long_base, 'p', sizeof long_base - 1);
    long_base[sizeof long_base - 1] = '\0';
    vx_link_run_sender(a, sizeof a, long_base);
    ck_assert_msg(strlen(a) <= VX_RX_SENDER_MAX && strchr(a, '@'),
                  "a sender id of %zu bytes from a 399-byte base (at most %d, with its run)",
                  strlen(a), VX_RX_SENDER_MAX);
}
END_TEST

START_TEST(t_refused_handshake_counted)
{
    char *dir = s_keys();
    vx_metrics_t *m = vx_metrics_new();
    vx_socks_t *prod = s_socks(dir, "required", "alice", m);
    vx_socks_t *plain = s_socks(dir, "off", "", NULL);
    char ep[256] = "tcp://127.0.0.1:*";
    zsock_t *router = s_router(plain, ep, sizeof ep);
    vx_link_t *l = s_link(prod, ep, m);
    s_put_one(l, "/refused");
    const char *series = "vexfs_zmq_handshake_failed_total{reason=\"not_curve\"}";
    double v = 0;
    for (uint64_t end = vt_now_ms() + 10000; v < 1 && vt_now_ms() < end;) {
        vx_link_pump(l, vx_mono_ns());
        vt_sleep_ms(20);
        v = s_series(m, series);
    }
    ck_assert_msg(v >= 1, "%s: expected at least 1, got %.0f", series, v);
    ck_assert_uint_ge(vx_socks_handshakes_failed(prod), 1);
    /* Nothing got through the refused handshake. */
    zsock_set_rcvtimeo(router, 0);
    zmsg_t *got = zmsg_recv(router);
    ck_assert_msg(got == NULL, "a batch crossed a refused handshake");
    struct vx_link_stats st;
    vx_link_stats(l, &st);
    ck_assert_uint_eq(st.acked_events, 0);
    vx_link_destroy(&l);
    zsock_destroy(&router);
    vx_socks_destroy(&plain);
    vx_socks_destroy(&prod);
    vx_metrics_destroy(&m);
    free(dir);
}
END_TEST

/* The batch propagation took but did not acknowledge before its connection dropped is sent
 * again to the propagation that comes back, and acknowledged there. with_metrics: a producer's
 * factory, or the client library's, made without metrics (its monitor starts for the link). */
static void
s_resend_after_drop(bool with_metrics)
{
    char *dir = s_keys();
    vx_metrics_t *m = vx_metrics_new(); /* the link's own counters, as the client library's */
    vx_socks_t *prod = s_socks(dir, "required", "alice", with_metrics ? m : NULL);
    vx_socks_t *srv = s_socks(dir, "required", "propagation", NULL);
    /* A port the kernel picked, not CZMQ's wildcard search (which starts at 49152 in every
     * process): while this router is away, another program's wildcard bind would take it. */
    char ep[256];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    zsock_t *router = s_router(srv, ep, sizeof ep);
    vx_link_t *l = s_link(prod, ep, m);
    s_put_one(l, "/kept");
    zframe_t *id = NULL;
    uint64_t seq = s_pump_until_batch(l, router, &id, 10000);
    ck_assert_msg(seq == 1, "first batch: expected sequence 1, got %llu",
                  (unsigned long long)seq);
    zframe_destroy(&id);

    /* Propagation goes away without answering and comes back at the same address. */
    zsock_destroy(&router);
    router = s_router(srv, ep, sizeof ep);
    seq = s_pump_until_batch(l, router, &id, 15000);
    ck_assert_msg(seq == 1, "after the drop: expected batch 1 sent again, got %llu",
                  (unsigned long long)seq);
    struct vx_link_stats st;
    vx_link_stats(l, &st);
    ck_assert_msg(st.resets >= 1 && st.resent_batches >= 1,
                  "expected a reset and a resend, got resets %llu resent_batches %llu",
                  (unsigned long long)st.resets, (unsigned long long)st.resent_batches);
    s_ack(router, &id, seq);
    for (uint64_t end = vt_now_ms() + 10000; vx_link_held(l) > 0 && vt_now_ms() < end;) {
        zmq_pollitem_t items[1];
        size_t n = vx_link_pollitems(l, items);
        zmq_poll(items, (int)n, 20);
        vx_link_pump(l, vx_mono_ns());
    }
    ck_assert_msg(vx_link_held(l) == 0, "expected the batch acknowledged, %zu held",
                  vx_link_held(l));
    vx_link_destroy(&l);
    zsock_destroy(&router);
    vx_socks_destroy(&srv);
    vx_socks_destroy(&prod);
    vx_metrics_destroy(&m);
    free(dir);
}

START_TEST(t_resend_after_drop)
{
    s_resend_after_drop(true);
}
END_TEST

START_TEST(t_resend_after_drop_without_metrics)
{
    s_resend_after_drop(false);
}
END_TEST

static Suite *
s_suite(void)
{
    Suite *s = suite_create("link");
    TCase *tc = tcase_create("monitor");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, t_run_sender);
    tcase_add_test(tc, t_refused_handshake_counted);
    tcase_add_test(tc, t_resend_after_drop);
    tcase_add_test(tc, t_resend_after_drop_without_metrics);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(s_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
