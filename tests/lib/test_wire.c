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

/* The field numbers of vx_wire.h are those of the generated code. */
START_TEST(t_field_numbers)
{
    static const struct {
        const char *name;
        int number;
    } ev[] = {
        {"id", VX_PB_EVENT_ID},
        {"type", VX_PB_EVENT_TYPE},
        {"source", VX_PB_EVENT_SOURCE},
        {"timestamp_ns", VX_PB_EVENT_TIMESTAMP_NS},
        {"path", VX_PB_EVENT_PATH},
        {"content", VX_PB_EVENT_CONTENT},
        {"metadata", VX_PB_EVENT_METADATA},
        {"tenant", VX_PB_EVENT_TENANT},
        {"priority", VX_PB_EVENT_PRIORITY},
        {"producer_id", VX_PB_EVENT_PRODUCER_ID},
        {"sequence", VX_PB_EVENT_SEQUENCE},
        {"causality", VX_PB_EVENT_CAUSALITY},
        {"trace_id", VX_PB_EVENT_TRACE_ID},
        {"ingest_ns", VX_PB_EVENT_INGEST_NS},
        {"custom_type", VX_PB_EVENT_CUSTOM_TYPE},
    };
    const ProtobufCMessageDescriptor *d = &vexfs__v1__event__descriptor;
    ck_assert_uint_eq(d->n_fields, sizeof ev / sizeof ev[0]);
    for (size_t i = 0; i < sizeof ev / sizeof ev[0]; i++) {
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d,
                                                                                         ev[i].name);
        ck_assert_msg(f && (int)f->id == ev[i].number, "Event.%s: enum %d, proto %d", ev[i].name,
                      ev[i].number, f ? (int)f->id : -1);
    }
    const ProtobufCMessageDescriptor *b = &vexfs__v1__event_batch__descriptor;
    ck_assert_int_eq(protobuf_c_message_descriptor_get_field_by_name(b, "events")->id,
                     VX_PB_BATCH_EVENTS);
    ck_assert_int_eq(protobuf_c_message_descriptor_get_field_by_name(b, "sender")->id,
                     VX_PB_BATCH_SENDER);
    ck_assert_int_eq(protobuf_c_message_descriptor_get_field_by_name(b, "batch_sequence")->id,
                     VX_PB_BATCH_SEQUENCE);
    ck_assert_uint_eq(b->n_fields, 3);
}
END_TEST

START_TEST(t_pb_reader)
{
    uint8_t buf[128];
    size_t n = vx_pb_uint(buf, 2, 300);
    n += vx_pb_bytes(buf + n, 5, "/x", 2);
    buf[n++] = (uint8_t)(9 << 3 | VX_PB_FIXED32);
    memcpy(buf + n, "\x01\x02\x03\x04", 4);
    n += 4;
    buf[n++] = (uint8_t)(10 << 3 | VX_PB_FIXED64);
    memcpy(buf + n, "\x01\x00\x00\x00\x00\x00\x00\x80", 8);
    n += 8;
    n += vx_pb_bytes(buf + n, 5, "/last", 5);
    struct vx_pb_reader r = {buf, buf + n};
    struct vx_pb_field f;
    ck_assert_int_eq(vx_pb_next(&r, &f), 1);
    ck_assert(f.number == 2 && f.wire == VX_PB_VARINT && f.value == 300);
    ck_assert_int_eq(vx_pb_next(&r, &f), 1);
    ck_assert(f.number == 5 && f.wire == VX_PB_LEN && f.bytes.len == 2);
    ck_assert(memcmp(f.bytes.data, "/x", 2) == 0);
    ck_assert_int_eq(vx_pb_next(&r, &f), 1);
    ck_assert(f.number == 9 && f.value == 0x04030201);
    ck_assert_int_eq(vx_pb_next(&r, &f), 1);
    ck_assert(f.number == 10 && f.value == 0x8000000000000001ULL);
    ck_assert_int_eq(vx_pb_next(&r, &f), 1);
    ck_assert_int_eq(vx_pb_next(&r, &f), 0);
    /* The last occurrence of a field wins, as in protobuf-c. */
    struct vx_span path;
    ck_assert_int_eq(vx_pb_find_bytes(buf, n, 5, &path), 1);
    ck_assert(path.len == 5 && memcmp(path.data, "/last", 5) == 0);
    ck_assert_int_eq(vx_pb_find_bytes(buf, n, 13, &path), 0);
    /* Truncations are -EPROTO at every cut that splits a field. */
    for (size_t cut = 1; cut < n; cut++) {
        struct vx_pb_reader t = {buf, buf + cut};
        int rc;
        while ((rc = vx_pb_next(&t, &f)) > 0) {
        }
        bool boundary = cut == 3 || cut == 7 || cut == 12 || cut == 21;
        ck_assert_msg(rc == (boundary ? 0 : -EPROTO), "cut %zu: %d", cut, rc);
    }
    /* Field number 0: refused in a one-byte tag, read as unknown in a longer one, exactly as
     * protobuf-c judges both. */
    static const uint8_t zero_short[] = {0x00, 0x05};
    static const uint8_t zero_long[] = {0x80, 0x00, 0x05};
    struct vx_pb_reader zs = {zero_short, zero_short + sizeof zero_short};
    ck_assert_int_eq(vx_pb_next(&zs, &f), -EPROTO);
    ck_assert_ptr_null(vexfs__v1__event__unpack(NULL, sizeof zero_short, zero_short));
    struct vx_pb_reader zl = {zero_long, zero_long + sizeof zero_long};
    ck_assert_int_eq(vx_pb_next(&zl, &f), 1);
    ck_assert(f.number == 0 && f.value == 5);
    vx_event_t *e = vexfs__v1__event__unpack(NULL, sizeof zero_long, zero_long);
    ck_assert_ptr_nonnull(e);
    vexfs__v1__event__free_unpacked(e, NULL);
}
END_TEST

/* A batch built from packed events and appended stamps decodes with protobuf-c as the same
 * events with the stamp's fields overriding. */
START_TEST(t_batchbuf)
{
    struct vx_batchbuf b = {0};
    uint8_t ev[64], stamp[32];
    vx_event_t e = VEXFS__V1__EVENT__INIT;
    e.type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE;
    e.path = (char *)"/a";
    e.priority = 3;
    size_t el = vexfs__v1__event__pack(&e, ev);
    size_t sl = vx_pb_uint(stamp, VX_PB_EVENT_PRIORITY, 9);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 1000; i++) {
            size_t at = vx_batchbuf_add(&b, ev, el, i % 2 ? stamp : NULL, i % 2 ? sl : 0);
            ck_assert(memcmp(b.buf + at, ev, el) == 0);
        }
        size_t len = vx_batchbuf_seal(&b, "hop-1", 5, 77);
        vx_batch_t *got = vexfs__v1__event_batch__unpack(NULL, len, b.buf);
        ck_assert_ptr_nonnull(got);
        ck_assert_uint_eq(got->n_events, 1000);
        ck_assert_str_eq(got->sender, "hop-1");
        ck_assert_uint_eq(got->batch_sequence, 77);
        ck_assert_uint_eq(got->events[0]->priority, 3);
        ck_assert_uint_eq(got->events[1]->priority, 9);
        ck_assert_str_eq(got->events[999]->path, "/a");
        vexfs__v1__event_batch__free_unpacked(got, NULL);
        ck_assert_uint_eq(b.n, 1000);
        vx_batchbuf_clear(&b);
        ck_assert_uint_eq(b.n, 0);
    }
    /* Without sender and sequence the trailer is empty. */
    vx_batchbuf_add(&b, ev, el, NULL, 0);
    size_t len = vx_batchbuf_seal(&b, "", 0, 0);
    ck_assert_uint_eq(len, b.len);
    vx_batchbuf_fini(&b);
    ck_assert_ptr_null(b.buf);
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
    tcase_add_test(tc, t_field_numbers);
    tcase_add_test(tc, t_pb_reader);
    tcase_add_test(tc, t_batchbuf);
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
