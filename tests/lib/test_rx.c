/* SPDX-License-Identifier: Apache-2.0 */
/* vx_rx: the one receive path, over real ZeroMQ sockets from the factory: well-formed batches,
 * wrong topics and frame counts, malformed bytes, oversized batches, the decode bound, and
 * per-sender sequence tracking, each drop counted under its reason. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vx_rx.h"
#include "vx_sock.h"

struct s_fix {
    vx_socks_t *socks;
    zsock_t *push, *pull;
    vx_metrics_t *m;
    struct vx_drops drops;
    vx_counter_t *batches, *events, *gaps, *replayed, *refused;
};

static void
s_fix_init(struct s_fix *f, int64_t max_message)
{
    char err[256], bound[256];
    struct vx_transport_config tc = {.hwm = 1000, .linger_ms = 0, .max_message_bytes = max_message};
    f->socks = vx_socks_new(&tc, NULL, "test", NULL, err, sizeof err);
    ck_assert_msg(f->socks != NULL, "%s", err);
    struct vx_sock_spec in = {.type = ZMQ_PULL, .endpoint = "tcp://127.0.0.1:*", .bind = true,
                              .rcvtimeo_ms = 5000};
    f->pull = vx_sock_open(f->socks, &in, bound, sizeof bound, err, sizeof err);
    ck_assert_msg(f->pull != NULL, "%s", err);
    struct vx_sock_spec out = {.type = ZMQ_PUSH, .endpoint = bound};
    f->push = vx_sock_open(f->socks, &out, NULL, 0, err, sizeof err);
    ck_assert_msg(f->push != NULL, "%s", err);
    f->m = vx_metrics_new();
    vx_drops_init(&f->drops, f->m, "vexfs_events_dropped_total", "Drops.", VX_DROP_MASK_RX);
    f->batches = vx_metrics_counter(f->m, "vexfs_batches_received_total", "b", NULL);
    f->events = vx_metrics_counter(f->m, "vexfs_events_received_total", "e", NULL);
    f->gaps = vx_metrics_counter(f->m, "vexfs_sequence_gaps_total", "g", NULL);
    f->replayed = vx_metrics_counter(f->m, "vexfs_batches_replayed_total", "r", NULL);
    f->refused = vx_metrics_counter(f->m, "vexfs_batches_refused_total", "x", NULL);
}

static void
s_fix_fini(struct s_fix *f)
{
    zsock_destroy(&f->push);
    zsock_destroy(&f->pull);
    vx_metrics_destroy(&f->m);
    vx_socks_destroy(&f->socks);
}

static vx_rx_t *
s_rx(struct s_fix *f, const struct vx_rx_opts *o)
{
    struct vx_rx_counters c = {&f->drops, f->batches, f->events, f->gaps, f->replayed, f->refused};
    return vx_rx_new("test", o, &c);
}

/* Sends a batch of n events under sender/seq. */
static void
s_send(struct s_fix *f, const char *topic, size_t n, const char *sender, uint64_t seq)
{
    vx_event_t e = VEXFS__V1__EVENT__INIT;
    e.type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE;
    e.path = (char *)"/data/a.txt";
    vx_event_t **evs = calloc(n ? n : 1, sizeof *evs);
    for (size_t i = 0; i < n; i++) {
        evs[i] = &e;
    }
    vx_batch_t b = VEXFS__V1__EVENT_BATCH__INIT;
    b.events = evs;
    b.n_events = n;
    b.sender = (char *)sender;
    b.batch_sequence = seq;
    ck_assert_int_eq(vx_wire_send(f->push, topic, &b, 0), 0);
    free(evs);
}

START_TEST(t_batch_received)
{
    struct s_fix f;
    s_fix_init(&f, 1 << 20);
    struct vx_rx_opts o = {.decode = true};
    vx_rx_t *rx = s_rx(&f, &o);
    s_send(&f, VX_WIRE_TOPIC, 3, "unit", 1);
    struct vx_rx_batch b;
    ck_assert_int_eq(vx_rx_recv(rx, f.pull, &b, 0), 0);
    ck_assert_uint_eq(b.n_events, 3);
    ck_assert_ptr_nonnull(b.batch);
    ck_assert_uint_eq(b.batch->n_events, 3);
    ck_assert_str_eq(b.batch->events[1]->path, "/data/a.txt");
    ck_assert_str_eq(b.sender, "unit");
    ck_assert_uint_eq(b.batch_seq, 1);
    ck_assert(b.seq.new_sender);
    /* Each span decodes on its own to the same event. */
    Vexfs__V1__Event *one = vexfs__v1__event__unpack(NULL, b.events[2].len, b.events[2].data);
    ck_assert_ptr_nonnull(one);
    ck_assert_str_eq(one->path, "/data/a.txt");
    vexfs__v1__event__free_unpacked(one, NULL);
    ck_assert_uint_eq(vx_counter_value(f.batches), 1);
    ck_assert_uint_eq(vx_counter_value(f.events), 3);
    vx_rx_destroy(&rx);
    ck_assert_ptr_null(rx);
    s_fix_fini(&f);
}
END_TEST

START_TEST(t_spans_only)
{
    struct s_fix f;
    s_fix_init(&f, 1 << 20);
    struct vx_rx_opts o = {.decode = false};
    vx_rx_t *rx = s_rx(&f, &o);
    s_send(&f, VX_WIRE_TOPIC, 2, "", 0);
    struct vx_rx_batch b;
    ck_assert_int_eq(vx_rx_recv(rx, f.pull, &b, 0), 0);
    ck_assert_ptr_null(b.batch);
    ck_assert_uint_eq(b.n_events, 2);
    ck_assert_str_eq(b.sender, "");
    ck_assert_uint_eq(b.batch_seq, 0);
    ck_assert(!b.seq.new_sender && !b.seq.duplicate && b.seq.missing == 0);
    vx_rx_destroy(&rx);
    s_fix_fini(&f);
}
END_TEST

START_TEST(t_wrong_topic_dropped)
{
    struct s_fix f;
    s_fix_init(&f, 1 << 20);
    struct vx_rx_opts o = {.decode = true};
    vx_rx_t *rx = s_rx(&f, &o);
    s_send(&f, "automation", 1, "unit", 1);
    s_send(&f, "", 1, "unit", 2);
    s_send(&f, VX_WIRE_TOPIC, 1, "unit", 3);
    struct vx_rx_batch b;
    ck_assert_int_eq(vx_rx_recv(rx, f.pull, &b, 0), -EPROTO);
    ck_assert_int_eq(vx_rx_recv(rx, f.pull, &b, 0), -EPROTO);
    ck_assert_int_eq(vx_rx_recv(rx, f.pull, &b, 0), 0);
    ck_assert_uint_eq(b.batch_seq, 3);
    ck_assert_uint_eq(vx_drops_value(&f.drops, VX_DROP_BAD_FRAME), 2);
    ck_assert_uint_eq(vx_counter_value(f.refused), 2);
    vx_rx_destroy(&rx);
    /* A tap subscriber may accept any topic. */
    struct vx_rx_opts any = {.any_topic = true};
    rx = s_rx(&f, &any);
    s_send(&f, "automation", 1, "unit", 4);
    ck_assert_int_eq(vx_rx_recv(rx, f.pull, &b, 0), 0);
    vx_rx_destroy(&rx);
    s_fix_fini(&f);
}
END_TEST

START_TEST(t_frame_count_dropped)
{
    struct s_fix f;
    s_fix_init(&f, 1 << 20);
    struct vx_rx_opts o = {.decode = true};
    vx_rx_t *rx = s_rx(&f, &o);
    zstr_send(f.push, "events");                             /* one frame */
    zstr_sendx(f.push, "events", "a", "b", NULL);            /* three frames */
    s_send(&f, VX_WIRE_TOPIC, 1, "unit", 1);
    struct vx_rx_batch b;
    ck_assert_int_eq(vx_rx_recv(rx, f.pull, &b, 0), -EPROTO);
    ck_assert_int_eq(vx_rx_recv(rx, f.pull, &b, 0), -EPROTO);
    ck_assert_int_eq(vx_rx_recv(rx, f.pull, &b, 0), 0);
    ck_assert_uint_eq(vx_drops_value(&f.drops, VX_DROP_BAD_FRAME), 2);
    ck_assert_int_eq(vx_rx_recv(rx, f.pull, &b, ZMQ_DONTWAIT), -EAGAIN);
    vx_rx_destroy(&rx);
    s_fix_fini(&f);
}
END_TEST

START_TEST(t_malformed_bytes_dropped)
{
    struct s_fix f;
    s_fix_init(&f, 1 << 20);
    struct vx_rx_opts o = {.decode = true};
    vx_rx_t *rx = s_rx(&f, &o);
    struct vx_rx_batch b;
    /* A length past the end, a group wire type, field number 0, a bad varint. */
    static const uint8_t bad[][12] = {{0x0a, 0x09, 'x'}, {0x0b}, {0x02, 0x00},
                                      {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                       0xff, 0xff, 0xff}};
    static const size_t len[] = {3, 1, 2, 12};
    for (size_t i = 0; i < 4; i++) {
        ck_assert_int_eq(vx_rx_bytes(rx, bad[i], len[i], true, NULL, &b), -EPROTO);
    }
    ck_assert_uint_eq(vx_drops_value(&f.drops, VX_DROP_BAD_PROTOBUF), 4);
    /* An event whose own bytes do not decode: the batch is well-formed, the event is not. */
    static const uint8_t inner[] = {0x0a, 0x02, 0x0a, 0x05};
    ck_assert_int_eq(vx_rx_bytes(rx, inner, sizeof inner, true, NULL, &b), -EPROTO);
    ck_assert_uint_eq(vx_drops_value(&f.drops, VX_DROP_BAD_PROTOBUF), 5);
    ck_assert_uint_eq(vx_counter_value(f.batches), 0);
    ck_assert_uint_eq(vx_counter_value(f.refused), 5); /* one per message dropped */
    vx_rx_destroy(&rx);
    s_fix_fini(&f);
}
END_TEST

START_TEST(t_too_many_events)
{
    struct s_fix f;
    s_fix_init(&f, 1 << 22);
    struct vx_rx_opts o = {.max_events = 100, .decode = true};
    vx_rx_t *rx = s_rx(&f, &o);
    s_send(&f, VX_WIRE_TOPIC, 101, "unit", 1);
    s_send(&f, VX_WIRE_TOPIC, 100, "unit", 2);
    struct vx_rx_batch b;
    ck_assert_int_eq(vx_rx_recv(rx, f.pull, &b, 0), -EPROTO);
    ck_assert_uint_eq(vx_drops_value(&f.drops, VX_DROP_TOO_LARGE), 101);
    ck_assert_int_eq(vx_rx_recv(rx, f.pull, &b, 0), 0);
    ck_assert_uint_eq(b.n_events, 100);
    vx_rx_destroy(&rx);
    s_fix_fini(&f);
}
END_TEST

/* Empty events are 2 bytes on the wire and hundreds decoded: the arena bound stops a batch of
 * them before it reaches the heap. */
START_TEST(t_decode_bound)
{
    struct s_fix f;
    s_fix_init(&f, 1 << 22);
    struct vx_rx_opts o = {.max_events = 1000000, .decode = true, .arena_limit = 1 << 20};
    vx_rx_t *rx = s_rx(&f, &o);
    size_t n = 100000;
    uint8_t *bytes = malloc(2 * n);
    for (size_t i = 0; i < n; i++) {
        bytes[2 * i] = 0x0a;
        bytes[2 * i + 1] = 0x00;
    }
    struct vx_rx_batch b;
    ck_assert_int_eq(vx_rx_bytes(rx, bytes, 2 * n, true, NULL, &b), -EPROTO);
    ck_assert_uint_eq(vx_drops_value(&f.drops, VX_DROP_TOO_LARGE), n);
    /* The same without decoding passes: spans cost nothing per event beyond the array. */
    struct vx_rx_opts spans = {.max_events = 1000000};
    vx_rx_t *rx2 = s_rx(&f, &spans);
    ck_assert_int_eq(vx_rx_bytes(rx2, bytes, 2 * n, true, NULL, &b), 0);
    ck_assert_uint_eq(b.n_events, n);
    free(bytes);
    vx_rx_destroy(&rx);
    vx_rx_destroy(&rx2);
    s_fix_fini(&f);
}
END_TEST

/* The factory's frame limit: a frame over max_message_bytes never arrives; a smaller one
 * sent after it on a new connection does. */
START_TEST(t_frame_over_limit_refused)
{
    struct s_fix f;
    s_fix_init(&f, 64 * 1024);
    struct vx_rx_opts o = {.decode = true};
    vx_rx_t *rx = s_rx(&f, &o);
    size_t big = 256 * 1024;
    uint8_t *junk = calloc(1, big);
    ck_assert_int_eq(vx_wire_send_packed(f.push, VX_WIRE_TOPIC, junk, big, 0), 0);
    free(junk);
    zsock_set_rcvtimeo(f.pull, 300);
    struct vx_rx_batch b;
    ck_assert_int_eq(vx_rx_recv(rx, f.pull, &b, 0), -EAGAIN);
    /* The sender reconnects by itself; a legal batch then arrives. */
    zsock_set_rcvtimeo(f.pull, 5000);
    s_send(&f, VX_WIRE_TOPIC, 1, "unit", 1);
    ck_assert_int_eq(vx_rx_recv(rx, f.pull, &b, 0), 0);
    ck_assert_uint_eq(b.n_events, 1);
    vx_rx_destroy(&rx);
    s_fix_fini(&f);
}
END_TEST

START_TEST(t_sequences)
{
    struct s_fix f;
    s_fix_init(&f, 1 << 20);
    struct vx_rx_opts o = {.decode = false};
    vx_rx_t *rx = s_rx(&f, &o);
    uint64_t seqs[] = {1, 2, 5, 5, 3, 6, 1};
    struct vx_rx_batch b;
    for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
        s_send(&f, VX_WIRE_TOPIC, 1, "p", seqs[i]);
        ck_assert_int_eq(vx_rx_recv(rx, f.pull, &b, 0), 0);
    }
    ck_assert_uint_eq(vx_counter_value(f.gaps), 2);     /* 3 and 4 before 5 */
    ck_assert_uint_eq(vx_counter_value(f.replayed), 3); /* 5 again, 3, then 1 (a restart) */
    ck_assert_uint_eq(vx_rx_last_seq(rx, "p"), 1);
    /* Bytes that came another way without tracking leave the tracker alone. */
    s_send(&f, VX_WIRE_TOPIC, 1, "p", 9);
    zmsg_t *m = zmsg_recv(f.pull);
    zframe_t *body = zmsg_last(m);
    ck_assert_int_eq(vx_rx_bytes(rx, zframe_data(body), zframe_size(body), false, NULL, &b), 0);
    ck_assert_uint_eq(b.batch_seq, 9);
    ck_assert_uint_eq(vx_rx_last_seq(rx, "p"), 1);
    zmsg_destroy(&m);
    vx_rx_destroy(&rx);
    s_fix_fini(&f);
}
END_TEST

START_TEST(t_sender_too_long)
{
    struct s_fix f;
    s_fix_init(&f, 1 << 20);
    struct vx_rx_opts o = {.decode = false};
    vx_rx_t *rx = s_rx(&f, &o);
    char name[300];
    memset(name, 'x', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    s_send(&f, VX_WIRE_TOPIC, 2, name, 1);
    struct vx_rx_batch b;
    ck_assert_int_eq(vx_rx_recv(rx, f.pull, &b, 0), -EPROTO);
    ck_assert_uint_eq(vx_drops_value(&f.drops, VX_DROP_BAD_FIELD), 2);
    vx_rx_destroy(&rx);
    s_fix_fini(&f);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("rx");
    TCase *tc = tcase_create("receive");
    tcase_add_test(tc, t_batch_received);
    tcase_add_test(tc, t_spans_only);
    tcase_add_test(tc, t_sequences);
    suite_add_tcase(s, tc);
    tc = tcase_create("drops");
    tcase_add_test(tc, t_wrong_topic_dropped);
    tcase_add_test(tc, t_frame_count_dropped);
    tcase_add_test(tc, t_malformed_bytes_dropped);
    tcase_add_test(tc, t_too_many_events);
    tcase_add_test(tc, t_decode_bound);
    tcase_add_test(tc, t_frame_over_limit_refused);
    tcase_add_test(tc, t_sender_too_long);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
