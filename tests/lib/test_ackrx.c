/* SPDX-License-Identifier: Apache-2.0 */
/* vx_ackrx: the acknowledged receiver's bookkeeping over a real ROUTER and DEALERs: framing
 * checks, acknowledgements released in arrival order once published and journaled, the
 * pending bound, and entries recognised as Kafka opaques. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vx_ackrx.h"
#include "vx_sock.h"
#include "vx_wire.h"

struct s_fix {
    vx_socks_t *socks;
    zsock_t *router;
    zsock_t *dealer[2];
};

static void
s_fix_init(struct s_fix *f)
{
    char err[256], bound[256];
    struct vx_transport_config tc = {1000, 0, 1 << 20, 0};
    f->socks = vx_socks_new(&tc, NULL, "test", NULL, err, sizeof err);
    struct vx_sock_spec r = {.type = ZMQ_ROUTER, .endpoint = "tcp://127.0.0.1:*", .bind = true};
    f->router = vx_sock_open(f->socks, &r, bound, sizeof bound, err, sizeof err);
    ck_assert_msg(f->router != NULL, "%s", err);
    for (int i = 0; i < 2; i++) {
        struct vx_sock_spec d = {.type = ZMQ_DEALER, .endpoint = bound, .rcvtimeo_ms = 3000};
        f->dealer[i] = vx_sock_open(f->socks, &d, NULL, 0, err, sizeof err);
        ck_assert_ptr_nonnull(f->dealer[i]);
    }
}

static void
s_fix_fini(struct s_fix *f)
{
    zsock_destroy(&f->dealer[0]);
    zsock_destroy(&f->dealer[1]);
    zsock_destroy(&f->router);
    vx_socks_destroy(&f->socks);
}

/* Waits for the next message on the ROUTER. */
static int
s_recv(struct s_fix *f, uint8_t *id, size_t *id_len, zmq_msg_t *body)
{
    zmq_pollitem_t it = {zsock_resolve(f->router), 0, ZMQ_POLLIN, 0};
    ck_assert_int_eq(zmq_poll(&it, 1, 3000), 1);
    return vx_acks_recv(f->router, id, id_len, body);
}

/* The sequence of the acknowledgement a dealer receives, or 0 when none within the timeout. */
static uint64_t
s_ack_of(zsock_t *dealer)
{
    zmsg_t *m = zmsg_recv(dealer);
    if (!m) {
        return 0;
    }
    ck_assert_uint_eq(zmsg_size(m), 2);
    char *kind = zmsg_popstr(m);
    ck_assert_str_eq(kind, "ack");
    free(kind);
    zframe_t *f = zmsg_pop(m);
    ck_assert_uint_eq(zframe_size(f), 8);
    uint64_t seq = 0;
    for (int i = 0; i < 8; i++) {
        seq |= (uint64_t)zframe_data(f)[i] << (8 * i);
    }
    zframe_destroy(&f);
    zmsg_destroy(&m);
    return seq;
}

START_TEST(t_framing)
{
    struct s_fix f;
    s_fix_init(&f);
    uint8_t id[VX_ACK_ID_MAX];
    size_t id_len = 0;
    zmq_msg_t body;
    ck_assert_int_eq(vx_acks_recv(f.router, id, &id_len, &body), -EAGAIN);
    zstr_sendx(f.dealer[0], "events", "batch-bytes", NULL);
    ck_assert_int_eq(s_recv(&f, id, &id_len, &body), 0);
    ck_assert_uint_eq(zmq_msg_size(&body), 11);
    ck_assert(memcmp(zmq_msg_data(&body), "batch-bytes", 11) == 0);
    ck_assert_uint_gt(id_len, 0);
    zmq_msg_close(&body);
    zstr_send(f.dealer[0], "events");                          /* no batch */
    ck_assert_int_eq(s_recv(&f, id, &id_len, &body), -EPROTO);
    zstr_sendx(f.dealer[0], "events", "a", "b", NULL);          /* one frame too many */
    ck_assert_int_eq(s_recv(&f, id, &id_len, &body), -EPROTO);
    zstr_sendx(f.dealer[0], "automation", "a", NULL);           /* another topic */
    ck_assert_int_eq(s_recv(&f, id, &id_len, &body), -EPROTO);
    s_fix_fini(&f);
}
END_TEST

START_TEST(t_release_in_order)
{
    struct s_fix f;
    s_fix_init(&f);
    uint8_t id[2][VX_ACK_ID_MAX];
    size_t id_len[2];
    zmq_msg_t body;
    for (int i = 0; i < 2; i++) {
        zstr_sendx(f.dealer[i], "events", "x", NULL);
        ck_assert_int_eq(s_recv(&f, id[i], &id_len[i], &body), 0);
        zmq_msg_close(&body);
    }
    vx_acks_t *a = vx_acks_new(4);
    struct vx_ack *p1 = vx_acks_push(a, id[0], id_len[0], 11, 1);
    struct vx_ack *p2 = vx_acks_push(a, id[1], id_len[1], 21, 1);
    struct vx_ack *p3 = vx_acks_push(a, id[0], id_len[0], 12, 2);
    ck_assert_uint_eq(vx_acks_pending(a), 3);
    ck_assert_ptr_eq(vx_acks_entry(a, p2), p2);
    ck_assert_ptr_null(vx_acks_entry(a, (char *)p2 + 1));
    ck_assert_ptr_null(vx_acks_entry(a, &body));
    /* Nothing is due before the first publish. */
    ck_assert_uint_eq(vx_acks_release(a, 0, f.router), 0);
    /* The first is waiting for Kafka: it holds back the ones behind it. */
    p1->kafka_pending = 1;
    ck_assert_uint_eq(vx_acks_release(a, 2, f.router), 0);
    p1->kafka_pending = 0;
    ck_assert_uint_eq(vx_acks_release(a, 1, f.router), 2); /* p3 needs epoch 2 */
    ck_assert_uint_eq(s_ack_of(f.dealer[0]), 11);
    ck_assert_uint_eq(s_ack_of(f.dealer[1]), 21);
    ck_assert_uint_eq(vx_acks_release(a, 2, f.router), 1);
    ck_assert_uint_eq(s_ack_of(f.dealer[0]), 12);
    ck_assert_uint_eq(vx_acks_pending(a), 0);
    (void)p3;
    vx_acks_destroy(&a);
    ck_assert_ptr_null(a);
    s_fix_fini(&f);
}
END_TEST

START_TEST(t_bound_and_wrap)
{
    struct s_fix f;
    s_fix_init(&f);
    vx_acks_t *a = vx_acks_new(3);
    const uint8_t gone[] = "no-such-connection";
    for (uint64_t round = 0; round < 5; round++) {
        for (uint64_t k = 1; k <= 3; k++) {
            ck_assert(!vx_acks_full(a));
            vx_acks_push(a, gone, sizeof gone - 1, round * 3 + k, round + 1);
        }
        ck_assert(vx_acks_full(a));
        /* An acknowledgement for a connection that went away is dropped, and counted as
         * released: the producer resends on its new connection. */
        ck_assert_uint_eq(vx_acks_release(a, round + 1, f.router), 3);
    }
    vx_acks_destroy(&a);
    s_fix_fini(&f);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("ack");
    TCase *tc = tcase_create("acks");
    tcase_add_test(tc, t_framing);
    tcase_add_test(tc, t_release_in_order);
    tcase_add_test(tc, t_bound_and_wrap);
    tcase_set_timeout(tc, 20);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
