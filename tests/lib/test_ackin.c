/* SPDX-License-Identifier: Apache-2.0 */
/* vx_ackin: the acknowledged input over a real ROUTER and DEALER: acknowledgements held until
 * their epoch is reached and sent in order, resends answered again and refused, and the saved
 * senders record holding only what was acknowledged, so a restarted receiver takes again a
 * batch it had taken but not answered and refuses one it had answered. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vx_ackin.h"
#include "vx_metrics.h"
#include "vx_sock.h"
#include "vx_test.h"
#include "vx_wire.h"

struct s_fix {
    vx_socks_t *socks;
    zsock_t *router, *dealer;
    vx_metrics_t *metrics;
    vx_rx_t *rx;
    vx_counter_t *gaps;
    vx_ackin_t *in;
    char dir[256];
};

static void
s_open_in(struct s_fix *f, const char *state_dir)
{
    char err[512];
    struct vx_ackin_opts o = {.acked = true, .senders_max = 16, .save_ms = 1000,
                              .state_dir = state_dir, .rx = f->rx, .gaps = f->gaps,
                              .prefix = "vexfs_test_input", .where = "test.state_dir"};
    f->in = vx_ackin_new(&o, f->metrics, err, sizeof err);
    ck_assert_msg(f->in != NULL, "%s", err);
}

static void
s_fix_init(struct s_fix *f, bool state)
{
    memset(f, 0, sizeof *f);
    char err[256], bound[256];
    struct vx_transport_config tc = {1000, 0, 1 << 20, 0};
    f->socks = vx_socks_new(&tc, NULL, "test", NULL, err, sizeof err);
    struct vx_sock_spec r = {.type = ZMQ_ROUTER, .endpoint = "tcp://127.0.0.1:*", .bind = true};
    f->router = vx_sock_open(f->socks, &r, bound, sizeof bound, err, sizeof err);
    ck_assert_msg(f->router != NULL, "%s", err);
    struct vx_sock_spec d = {.type = ZMQ_DEALER, .endpoint = bound, .rcvtimeo_ms = 300};
    f->dealer = vx_sock_open(f->socks, &d, NULL, 0, err, sizeof err);
    ck_assert_ptr_nonnull(f->dealer);
    f->metrics = vx_metrics_new();
    f->gaps = vx_metrics_counter(f->metrics, "vexfs_test_gaps_total", "gaps", NULL);
    struct vx_rx_opts ro = {.decode = true};
    struct vx_rx_counters rc = {0};
    f->rx = vx_rx_new("test", &ro, &rc);
    if (state) {
        char *dir = vt_tmpdir();
        snprintf(f->dir, sizeof f->dir, "%s", dir);
        free(dir);
    }
    s_open_in(f, f->dir);
}

static void
s_fix_fini(struct s_fix *f)
{
    vx_ackin_destroy(&f->in);
    vx_rx_destroy(&f->rx);
    vx_metrics_destroy(&f->metrics);
    zsock_destroy(&f->dealer);
    zsock_destroy(&f->router);
    vx_socks_destroy(&f->socks);
}

/* The sender's side: one batch of one event, sender "s1", sequence seq. */
static void
s_send(struct s_fix *f, uint64_t seq)
{
    vx_event_t e;
    vexfs__v1__event__init(&e);
    e.type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE;
    e.path = (char *)"/a";
    uint8_t ev[256];
    size_t len = vexfs__v1__event__pack(&e, ev);
    struct vx_batchbuf b = {0};
    vx_batchbuf_add(&b, ev, len, NULL, 0);
    size_t n = vx_batchbuf_seal(&b, "s1", 2, seq);
    ck_assert_int_eq(vx_wire_send_packed(f->dealer, VX_WIRE_TOPIC, b.buf, n, 0), 0);
    vx_batchbuf_fini(&b);
}

/* Receives the next batch at the input (waiting for it); returns vx_ackin_recv's result. */
static int
s_recv(struct s_fix *f)
{
    zmq_pollitem_t it = {zsock_resolve(f->router), 0, ZMQ_POLLIN, 0};
    ck_assert_int_eq(zmq_poll(&it, 1, 3000), 1);
    struct vx_rx_batch b;
    return vx_ackin_recv(f->in, f->router, &b);
}

/* A counter's value (the registry returns the series the input registered). */
static uint64_t
s_count(struct s_fix *f, const char *name)
{
    return vx_counter_value(vx_metrics_counter(f->metrics, name, "x", NULL));
}

/* The sequence of the next acknowledgement the sender receives, 0 when none within 300 ms. */
static uint64_t
s_ack(struct s_fix *f)
{
    zmsg_t *m = zmsg_recv(f->dealer);
    if (!m) {
        return 0;
    }
    ck_assert_uint_eq(zmsg_size(m), 2);
    zframe_destroy(&(zframe_t *){zmsg_pop(m)});
    zframe_t *fr = zmsg_pop(m);
    ck_assert_uint_eq(zframe_size(fr), 8);
    uint64_t seq = 0;
    for (int i = 0; i < 8; i++) {
        seq |= (uint64_t)zframe_data(fr)[i] << (8 * i);
    }
    zframe_destroy(&fr);
    zmsg_destroy(&m);
    return seq;
}

START_TEST(t_epochs_hold_acks_in_order)
{
    struct s_fix f;
    s_fix_init(&f, false);
    s_send(&f, 1);
    ck_assert_int_eq(s_recv(&f), 0);
    vx_ackin_done(f.in, 1);
    s_send(&f, 2);
    ck_assert_int_eq(s_recv(&f), 0);
    vx_ackin_done(f.in, 2);
    vx_ackin_flush(f.in, f.router, 0);
    ck_assert_uint_eq(vx_ackin_pending(f.in), 2);
    ck_assert_uint_eq(s_ack(&f), 0); /* nothing reached yet */
    vx_ackin_flush(f.in, f.router, 1);
    ck_assert_uint_eq(s_ack(&f), 1);
    ck_assert_uint_eq(s_ack(&f), 0);
    vx_ackin_flush(f.in, f.router, 5);
    ck_assert_uint_eq(s_ack(&f), 2);
    ck_assert_uint_eq(vx_ackin_pending(f.in), 0);
    ck_assert_uint_eq(s_count(&f, "vexfs_test_input_acks_total"), 2);
    s_fix_fini(&f);
}
END_TEST

START_TEST(t_resend_answered_again_not_handed_on)
{
    struct s_fix f;
    s_fix_init(&f, false);
    s_send(&f, 1);
    ck_assert_int_eq(s_recv(&f), 0);
    vx_ackin_done(f.in, 0);
    vx_ackin_flush(f.in, f.router, UINT64_MAX);
    ck_assert_uint_eq(s_ack(&f), 1);
    s_send(&f, 1);
    ck_assert_int_eq(s_recv(&f), -EALREADY);
    vx_ackin_flush(f.in, f.router, UINT64_MAX);
    ck_assert_uint_eq(s_ack(&f), 1);
    ck_assert_uint_eq(s_count(&f, "vexfs_test_input_duplicates_total"), 1);
    ck_assert_uint_eq(s_count(&f, "vexfs_test_input_duplicate_events_total"), 1);
    /* A gap: sequence 4 after 1 misses 2. */
    s_send(&f, 4);
    ck_assert_int_eq(s_recv(&f), 0);
    ck_assert_uint_eq(vx_counter_value(f.gaps), 2);
    s_fix_fini(&f);
}
END_TEST

START_TEST(t_saved_record_holds_only_acknowledged)
{
    struct s_fix f;
    s_fix_init(&f, true);
    s_send(&f, 1);
    ck_assert_int_eq(s_recv(&f), 0);
    vx_ackin_done(f.in, 0);
    s_send(&f, 2);
    ck_assert_int_eq(s_recv(&f), 0);
    vx_ackin_done(f.in, 7); /* its epoch is never reached before the "crash" */
    vx_ackin_flush(f.in, f.router, 0);
    ck_assert_uint_eq(s_ack(&f), 1);
    ck_assert_uint_eq(s_ack(&f), 0);
    /* Restarted: the record knows 1 (answered), not 2 (taken, unanswered). */
    vx_ackin_destroy(&f.in);
    s_open_in(&f, f.dir);
    s_send(&f, 2);
    ck_assert_int_eq(s_recv(&f), 0); /* taken again: at least once */
    s_send(&f, 1);
    ck_assert_int_eq(s_recv(&f), -EALREADY);
    ck_assert_uint_eq(vx_counter_value(f.gaps), 0);
    s_fix_fini(&f);
}
END_TEST

START_TEST(t_plain_reads_a_pull)
{
    struct s_fix f;
    s_fix_init(&f, false);
    vx_ackin_destroy(&f.in);
    char err[256];
    struct vx_ackin_opts o = {.rx = f.rx, .prefix = "vexfs_test_plain"};
    f.in = vx_ackin_new(&o, f.metrics, err, sizeof err);
    ck_assert_ptr_nonnull(f.in);
    ck_assert_int_eq(vx_ackin_socket_type(f.in), ZMQ_PULL);
    ck_assert(!vx_ackin_acked(f.in));
    ck_assert(!vx_ackin_full(f.in));
    ck_assert_uint_eq(vx_ackin_pending(f.in), 0);
    s_fix_fini(&f);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("vx_ackin");
    TCase *tc = tcase_create("ackin");
    tcase_add_test(tc, t_epochs_hold_acks_in_order);
    tcase_add_test(tc, t_resend_answered_again_not_handed_on);
    tcase_add_test(tc, t_saved_record_holds_only_acknowledged);
    tcase_add_test(tc, t_plain_reads_a_pull);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
