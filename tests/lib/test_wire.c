/* SPDX-License-Identifier: Apache-2.0 */
/* vx_wire: two-frame messages over real ZeroMQ sockets, decoding, and gap detection. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vx_wire.h"

struct s_pair {
    zsock_t *push;
    zsock_t *pull;
};

static struct s_pair
s_pair_new(void)
{
    struct s_pair p;
    p.pull = zsock_new(ZMQ_PULL);
    int port = zsock_bind(p.pull, "tcp://127.0.0.1:*");
    ck_assert_int_gt(port, 0);
    p.push = zsock_new(ZMQ_PUSH);
    ck_assert_int_eq(zsock_connect(p.push, "tcp://127.0.0.1:%d", port), 0);
    zsock_set_rcvtimeo(p.pull, 5000);
    return p;
}

static void
s_pair_destroy(struct s_pair *p)
{
    zsock_destroy(&p->push);
    zsock_destroy(&p->pull);
}

START_TEST(t_send_recv_batch)
{
    struct s_pair p = s_pair_new();
    vx_event_t e = VEXFS__V1__EVENT__INIT;
    e.type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE;
    e.path = (char *)"/a/b";
    vx_event_t *evs[3] = {&e, &e, &e};
    vx_batch_t b = VEXFS__V1__EVENT_BATCH__INIT;
    b.events = evs;
    b.n_events = 3;
    b.sender = (char *)"unit";
    b.batch_sequence = 42;
    ck_assert_int_eq(vx_wire_send(p.push, "events", &b, 0), 0);
    struct vx_wire_msg m;
    ck_assert_int_eq(vx_wire_recv(p.pull, &m, 0), 0);
    ck_assert_str_eq(m.topic, "events");
    vx_arena_t *a = vx_arena_new(4096, 0);
    vx_batch_t *got = vx_wire_decode(zmq_msg_data(&m.body), zmq_msg_size(&m.body), a);
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(got->n_events, 3);
    ck_assert_str_eq(got->sender, "unit");
    ck_assert_uint_eq(got->batch_sequence, 42);
    ck_assert_str_eq(got->events[2]->path, "/a/b");
    vx_wire_msg_fini(&m);
    vx_arena_destroy(&a);
    s_pair_destroy(&p);
}
END_TEST

START_TEST(t_wrong_frame_count_is_eproto)
{
    struct s_pair p = s_pair_new();
    zstr_send(p.push, "only-one-frame");
    zstr_sendx(p.push, "a", "b", "c", NULL);
    zsock_send(p.push, "ss", "events", "ok"); /* a valid two-frame message after the bad ones */
    struct vx_wire_msg m;
    ck_assert_int_eq(vx_wire_recv(p.pull, &m, 0), -EPROTO);
    ck_assert_int_eq(vx_wire_recv(p.pull, &m, 0), -EPROTO);
    ck_assert_int_eq(vx_wire_recv(p.pull, &m, 0), 0);
    ck_assert_uint_eq(zmq_msg_size(&m.body), 2);
    vx_wire_msg_fini(&m);
    ck_assert_int_eq(vx_wire_recv(p.pull, &m, ZMQ_DONTWAIT), -EAGAIN);
    s_pair_destroy(&p);
}
END_TEST

START_TEST(t_decode_garbage)
{
    vx_arena_t *a = vx_arena_new(4096, 1 << 20);
    const uint8_t garbage[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
    ck_assert_ptr_null(vx_wire_decode(garbage, sizeof garbage, a));
    const uint8_t truncated[] = {0x0a, 0x05, 0x10, 0x02};
    ck_assert_ptr_null(vx_wire_decode(truncated, sizeof truncated, a));
    /* An empty message is a valid empty batch. */
    vx_batch_t *b = vx_wire_decode("", 0, a);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(b->n_events, 0);
    vx_arena_destroy(&a);
}
END_TEST

START_TEST(t_decode_respects_arena_limit)
{
    vx_event_t e = VEXFS__V1__EVENT__INIT;
    e.type = VEXFS__V1__EVENT_TYPE__USER_ACTION;
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    e.path = big;
    vx_event_t *evs[4] = {&e, &e, &e, &e};
    vx_batch_t b = VEXFS__V1__EVENT_BATCH__INIT;
    b.events = evs;
    b.n_events = 4;
    size_t len = vexfs__v1__event_batch__get_packed_size(&b);
    uint8_t *buf = malloc(len);
    vexfs__v1__event_batch__pack(&b, buf);
    vx_arena_t *a = vx_arena_new(1024, 8192);
    ck_assert_ptr_null(vx_wire_decode(buf, len, a));
    vx_arena_destroy(&a);
    free(buf);
}
END_TEST

START_TEST(t_seqtrack)
{
    vx_seqtrack_t *t = vx_seqtrack_new(2);
    struct vx_seq_result r = vx_seqtrack_observe(t, "a", 5);
    ck_assert(r.new_sender);
    r = vx_seqtrack_observe(t, "a", 6);
    ck_assert_uint_eq(r.missing, 0);
    ck_assert(!r.duplicate);
    r = vx_seqtrack_observe(t, "a", 10);
    ck_assert_uint_eq(r.missing, 3);
    r = vx_seqtrack_observe(t, "a", 9);
    ck_assert(r.duplicate);
    ck_assert_uint_eq(vx_seqtrack_last(t, "a"), 10);
    r = vx_seqtrack_observe(t, "a", 1); /* restart */
    ck_assert(r.duplicate);
    ck_assert_uint_eq(vx_seqtrack_last(t, "a"), 1);
    /* Bounded: a third sender evicts the least recently seen. */
    vx_seqtrack_observe(t, "b", 1);
    vx_seqtrack_observe(t, "a", 2);
    vx_seqtrack_observe(t, "c", 1);
    ck_assert_uint_eq(vx_seqtrack_last(t, "b"), 0);
    ck_assert_uint_eq(vx_seqtrack_last(t, "a"), 2);
    ck_assert_uint_eq(vx_seqtrack_last(t, "c"), 1);
    vx_seqtrack_destroy(&t);
    ck_assert_ptr_null(t);
}
END_TEST

START_TEST(t_event_spans)
{
    vx_event_t a = VEXFS__V1__EVENT__INIT, b = VEXFS__V1__EVENT__INIT;
    a.type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE;
    a.path = (char *)"/a";
    b.type = VEXFS__V1__EVENT_TYPE__SYSTEM;
    vx_event_t *evs[2] = {&a, &b};
    vx_batch_t batch = VEXFS__V1__EVENT_BATCH__INIT;
    batch.events = evs;
    batch.n_events = 2;
    batch.sender = (char *)"s";
    batch.batch_sequence = 9;
    uint8_t buf[256];
    size_t len = vexfs__v1__event_batch__pack(&batch, buf);
    struct vx_span spans[4];
    size_t n = 0;
    ck_assert_int_eq(vx_wire_event_spans(buf, len, spans, 4, &n), 0);
    ck_assert_uint_eq(n, 2);
    for (size_t i = 0; i < 2; i++) {
        uint8_t want[64];
        size_t wl = vexfs__v1__event__pack(evs[i], want);
        ck_assert_uint_eq(spans[i].len, wl);
        ck_assert(memcmp(spans[i].data, want, wl) == 0);
    }
    ck_assert_int_eq(vx_wire_event_spans(buf, len, spans, 1, &n), -E2BIG);
    size_t counted = 0;
    ck_assert_int_eq(vx_wire_event_spans(buf, len, NULL, 0, &counted), 0);
    ck_assert_uint_eq(counted, 2);
    ck_assert_int_eq(vx_wire_event_spans(buf, len - 1, spans, 4, &n), -EPROTO);
    const uint8_t bad_wire_type[] = {0x0f, 0x00};
    ck_assert_int_eq(vx_wire_event_spans(bad_wire_type, 2, spans, 4, &n), -EPROTO);
    const uint8_t overlong[] = {0x0a, 0x7f, 0x00};
    ck_assert_int_eq(vx_wire_event_spans(overlong, 3, spans, 4, &n), -EPROTO);
    /* Hand-encoded fields read back as protobuf-c encodes them. */
    uint8_t hand[64];
    size_t hl = vx_pb_bytes(hand, 5, "/a", 2);
    hl += vx_pb_uint(hand + hl, 2, VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE);
    vx_event_t *e = vexfs__v1__event__unpack(NULL, hl, hand);
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->path, "/a");
    ck_assert_int_eq(e->type, VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE);
    vexfs__v1__event__free_unpacked(e, NULL);
    ck_assert_uint_eq(vx_pb_varint(hand, 300), 2);
    ck_assert_uint_eq(hand[0], 0xac);
    ck_assert_uint_eq(hand[1], 0x02);
}
END_TEST

int
main(void)
{
    zsys_handler_set(NULL);
    Suite *s = suite_create("wire");
    TCase *tc = tcase_create("zeromq");
    tcase_add_test(tc, t_send_recv_batch);
    tcase_add_test(tc, t_wrong_frame_count_is_eproto);
    suite_add_tcase(s, tc);
    tc = tcase_create("decode");
    tcase_add_test(tc, t_decode_garbage);
    tcase_add_test(tc, t_decode_respects_arena_limit);
    tcase_add_test(tc, t_event_spans);
    suite_add_tcase(s, tc);
    tc = tcase_create("sequence");
    tcase_add_test(tc, t_seqtrack);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
