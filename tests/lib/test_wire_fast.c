/* SPDX-License-Identifier: Apache-2.0 */
/* vx_wire_decode_fast: the same batch and event spans as protobuf-c (vx_wire_decode and
 * vx_wire_event_spans) for batches of the common shape (every field of an event, maps,
 * causality, repeated and last-wins fields, long varints) and for those it leaves to
 * protobuf-c (unknown fields, a second causality, a long tag); the same refusal of bytes that
 * are not a batch. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "vx_event.h"
#include "vx_wire_fast.h"

/* A small protobuf writer for the test's batches. */
struct s_buf {
    uint8_t b[4096];
    size_t n;
};

static void
s_varint(struct s_buf *o, uint64_t v)
{
    o->n += vx_pb_varint(o->b + o->n, v);
}

static void
s_ld(struct s_buf *o, uint32_t field, const void *p, size_t len)
{
    o->n += vx_pb_bytes(o->b + o->n, field, p, len);
}

static void
s_vi(struct s_buf *o, uint32_t field, uint64_t v)
{
    o->n += vx_pb_uint(o->b + o->n, field, v);
}

static void
s_sub(struct s_buf *o, uint32_t field, const struct s_buf *m)
{
    s_ld(o, field, m->b, m->n);
}

/* Decodes bytes both ways and compares everything; returns what vx_wire_decode_checked said
 * of the batch (VX_WIRE_CHECKED_* bits). */
static unsigned
s_same(const struct s_buf *in, bool valid)
{
    unsigned checked = 0;
    vx_arena_t *a1 = vx_arena_new(1u << 16, 0);
    vx_arena_t *a2 = vx_arena_new(1u << 16, 0);
    struct vx_span s1[16], s2[16];
    size_t n1 = 99, n2 = 0;
    vx_batch_t *mine = vx_wire_decode_fast(in->b, in->n, a1, s1, 16, &n1);
    vx_batch_t *ref = vx_wire_decode(in->b, in->n, a2);
    ck_assert_msg((ref != NULL) == valid, "protobuf-c %s it", ref ? "accepted" : "refused");
    ck_assert_msg((mine != NULL) == (ref != NULL), "vx_wire_decode_fast %s what protobuf-c %s",
                  mine ? "accepted" : "refused", ref ? "accepted" : "refused");
    if (ref != NULL) {
        ck_assert_int_eq(vx_wire_event_spans(in->b, in->n, s2, 16, &n2), 0);
        ck_assert_uint_eq(n1, n2);
        for (size_t i = 0; i < n1; i++) {
            ck_assert_ptr_eq(s1[i].data, s2[i].data);
            ck_assert_uint_eq(s1[i].len, s2[i].len);
        }
        size_t l1 = vexfs__v1__event_batch__get_packed_size(mine);
        size_t l2 = vexfs__v1__event_batch__get_packed_size(ref);
        ck_assert_uint_eq(l1, l2);
        uint8_t *p1 = malloc(l1 + 1), *p2 = malloc(l2 + 1);
        vexfs__v1__event_batch__pack(mine, p1);
        vexfs__v1__event_batch__pack(ref, p2);
        ck_assert_msg(memcmp(p1, p2, l1) == 0, "the batches differ");
        free(p1);
        /* vx_wire_decode_checked: the same batch; checked means every event passes
         * vx_event_check_bytes (what propagation then skips). */
        vx_arena_t *a3 = vx_arena_new(1u << 16, 0);
        vx_batch_t *c = vx_wire_decode_checked(in->b, in->n, a3, &checked);
        ck_assert_ptr_nonnull(c);
        uint8_t *p3 = malloc(l2 + 1);
        ck_assert_uint_eq(vexfs__v1__event_batch__get_packed_size(c), l2);
        vexfs__v1__event_batch__pack(c, p3);
        ck_assert_msg(memcmp(p3, p2, l2) == 0, "vx_wire_decode_checked's batch differs");
        free(p3);
        for (size_t i = 0; (checked & VX_WIRE_CHECKED_BYTES) && i < n2; i++) {
            char err[256];
            enum vx_drop_reason why;
            ck_assert_msg(vx_event_check_bytes(s2[i].data, s2[i].len, err, sizeof err, &why) == 0,
                          "a checked batch's event %zu fails vx_event_check_bytes: %s", i, err);
        }
        /* ASCII: skipping the UTF-8 checks decides exactly as making them. */
        for (size_t i = 0; (checked & VX_WIRE_CHECKED_ASCII) && i < c->n_events; i++) {
            char e1[256] = "", e2[256] = "";
            enum vx_drop_reason r1 = VX_DROP_N, r2 = VX_DROP_N;
            uint64_t h1 = 0, h2 = 0;
            int rc1 = vx_event_validate_hash(c->events[i], false, e1, sizeof e1, &r1, &h1);
            int rc2 = vx_event_validate_hash(c->events[i], true, e2, sizeof e2, &r2, &h2);
            ck_assert_int_eq(rc1, rc2);
            ck_assert_uint_eq(h1, h2);
            ck_assert_str_eq(e1, e2);
        }
        vx_arena_destroy(&a3);
        free(p2);
        /* The fields the engine reads, directly. */
        for (size_t i = 0; i < ref->n_events; i++) {
            ck_assert_int_eq(mine->events[i]->type, ref->events[i]->type);
            ck_assert_str_eq(mine->events[i]->path, ref->events[i]->path);
            ck_assert_str_eq(mine->events[i]->tenant, ref->events[i]->tenant);
            ck_assert_uint_eq(mine->events[i]->n_metadata, ref->events[i]->n_metadata);
        }
    }
    vx_arena_destroy(&a1);
    vx_arena_destroy(&a2);
    return checked;
}

START_TEST(t_common_shape)
{
    struct s_buf clock = {0}, caus = {0}, meta = {0}, meta2 = {0}, content = {0}, ev = {0},
                 ev2 = {0}, b = {0};
    s_ld(&clock, 1, "n1", 2);
    s_vi(&clock, 2, 3);
    s_ld(&caus, 1, "0123456789abcdef", 16);
    s_sub(&caus, 2, &clock);
    s_sub(&caus, 2, &clock);
    s_ld(&meta, 1, "user_id", 7);
    s_ld(&meta, 2, "u1", 2);
    s_ld(&meta2, 1, "k", 1);
    s_ld(&meta2, 2, "first", 5);
    s_ld(&meta2, 2, "v", 1); /* the last value wins */
    s_ld(&content, 1, "size", 4);
    s_ld(&content, 2, "12", 2);
    s_ld(&ev, 1, "0123456789abcdef", 16);
    s_vi(&ev, 2, 2);
    s_vi(&ev, 3, 2);
    s_vi(&ev, 4, 1700000000000000000ULL);
    s_ld(&ev, 5, "/first", 6);
    s_ld(&ev, 5, "/data/a.txt", 11); /* the last path wins */
    s_sub(&ev, 6, &content);
    s_sub(&ev, 7, &meta);
    s_sub(&ev, 7, &meta2);
    s_ld(&ev, 8, "acme", 4);
    s_vi(&ev, 9, 7);
    s_ld(&ev, 10, "producer", 8);
    s_vi(&ev, 11, 42);
    s_sub(&ev, 12, &caus);
    s_ld(&ev, 13, "trace", 5);
    s_vi(&ev, 14, 1700000000000000001ULL);
    s_ld(&ev, 15, "kind", 4);
    s_ld(&ev, 1, "", 0); /* empty bytes */
    s_vi(&ev2, 2, 3);
    s_ld(&ev2, 5, "", 0);
    s_sub(&b, 1, &ev);
    s_sub(&b, 1, &ev2);
    s_ld(&b, 1, "", 0); /* an empty event */
    s_ld(&b, 2, "routing", 7);
    s_vi(&b, 3, 9);
    ck_assert_msg(s_same(&b, true) == (VX_WIRE_CHECKED_BYTES | VX_WIRE_CHECKED_ASCII),
                  "a batch of the common shape (ASCII) is not checked");
    /* Long varints: a 10-byte timestamp and a 6-byte priority keep their low bits. */
    struct s_buf ev3 = {0}, b3 = {0};
    ev3.b[ev3.n++] = 0x20;
    for (int i = 0; i < 9; i++) {
        ev3.b[ev3.n++] = 0xff;
    }
    ev3.b[ev3.n++] = 0x01;
    ev3.b[ev3.n++] = 0x48;
    for (int i = 0; i < 5; i++) {
        ev3.b[ev3.n++] = 0xff;
    }
    ev3.b[ev3.n++] = 0x7f;
    s_sub(&b3, 1, &ev3);
    s_same(&b3, true);
}
END_TEST

/* Shapes left to protobuf-c decode as protobuf-c decodes them. */
START_TEST(t_left_to_protobuf_c)
{
    struct s_buf clock = {0}, c1 = {0}, c2 = {0}, ev = {0}, b = {0};
    s_ld(&clock, 1, "n", 1);
    s_ld(&c1, 1, "aaaaaaaaaaaaaaaa", 16);
    s_sub(&c2, 2, &clock);
    s_vi(&ev, 2, 2);
    s_sub(&ev, 12, &c1);
    s_sub(&ev, 12, &c2); /* merged by protobuf-c */
    s_ld(&ev, 20, "unknown", 7);
    s_sub(&b, 1, &ev);
    s_same(&b, true);
    struct s_buf ev2 = {0}, b2 = {0};
    ev2.b[ev2.n++] = 0xaa; /* field 5 in a two-byte tag */
    ev2.b[ev2.n++] = 0x00;
    s_varint(&ev2, 2);
    memcpy(ev2.b + ev2.n, "/r", 2);
    ev2.n += 2;
    s_sub(&b2, 1, &ev2);
    s_same(&b2, true);
}
END_TEST

/* A string holding a NUL (protobuf-c cuts it there) is left to protobuf-c, so the batch is not
 * checked and its event fails vx_event_check_bytes; bytes fields (ids) may hold NULs. */
START_TEST(t_nul_strings)
{
    static const uint32_t fields[] = {5, 8, 10, 13, 15};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        struct s_buf ev = {0}, b = {0};
        s_vi(&ev, 2, 2);
        s_ld(&ev, fields[i], "/a\0b", 4);
        s_sub(&b, 1, &ev);
        ck_assert_msg(s_same(&b, true) == 0, "field %u with a NUL: checked", fields[i]);
    }
    struct s_buf entry = {0}, ev = {0}, b = {0};
    s_ld(&entry, 1, "k", 1);
    s_ld(&entry, 2, "v\0", 2);
    s_vi(&ev, 2, 2);
    s_sub(&ev, 6, &entry);
    s_sub(&b, 1, &ev);
    ck_assert_msg(s_same(&b, true) == 0, "a content value with a NUL: checked");
    struct s_buf clock = {0}, caus = {0}, ev2 = {0}, b2 = {0};
    s_ld(&clock, 1, "n\0", 2);
    s_sub(&caus, 2, &clock);
    s_vi(&ev2, 2, 2);
    s_sub(&ev2, 12, &caus);
    s_sub(&b2, 1, &ev2);
    ck_assert_msg(s_same(&b2, true) == 0, "a clock node with a NUL: checked");
    struct s_buf ev3 = {0}, b3 = {0};
    s_ld(&ev3, 1, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
    s_vi(&ev3, 2, 2);
    s_sub(&b3, 1, &ev3);
    ck_assert_msg(s_same(&b3, true) & VX_WIRE_CHECKED_BYTES, "an id of NUL bytes: not checked");
}
END_TEST

/* A byte above 0x7f in any string clears VX_WIRE_CHECKED_ASCII (the UTF-8 checks then run),
 * whatever its position; a binary id does not. */
START_TEST(t_not_ascii)
{
    static const char *const bad[] = {"/\xc3\xa9", "/abcdefghijklmno\xff", "/abcdefgh\xe2\x82"};
    static const uint32_t fields[] = {5, 8, 10, 13, 15};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
            struct s_buf ev = {0}, b = {0};
            s_vi(&ev, 2, 2);
            s_ld(&ev, fields[i], bad[k], strlen(bad[k]));
            s_sub(&b, 1, &ev);
            ck_assert_msg(s_same(&b, true) == VX_WIRE_CHECKED_BYTES,
                          "field %u holding byte 0x%02x: not the BYTES bit alone", fields[i],
                          (unsigned char)bad[k][strlen(bad[k]) - 1]);
        }
    }
    struct s_buf entry = {0}, ev = {0}, b = {0};
    s_ld(&entry, 1, "k\x80", 2);
    s_vi(&ev, 2, 2);
    s_sub(&ev, 7, &entry);
    s_sub(&b, 1, &ev);
    ck_assert_uint_eq(s_same(&b, true), VX_WIRE_CHECKED_BYTES);
    struct s_buf clock = {0}, caus = {0}, ev2 = {0}, b2 = {0};
    s_ld(&clock, 1, "n\xc3\xa9", 3);
    s_sub(&caus, 2, &clock);
    s_vi(&ev2, 2, 2);
    s_sub(&ev2, 12, &caus);
    s_sub(&b2, 1, &ev2);
    ck_assert_uint_eq(s_same(&b2, true), VX_WIRE_CHECKED_BYTES);
    struct s_buf ev3 = {0}, b3 = {0};
    s_ld(&ev3, 1, "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5\xf4\xf3\xf2\xf1\xf0", 16);
    s_vi(&ev3, 2, 2);
    s_sub(&b3, 1, &ev3);
    ck_assert_uint_eq(s_same(&b3, true), VX_WIRE_CHECKED_BYTES | VX_WIRE_CHECKED_ASCII);
}
END_TEST

/* Not a batch: refused both ways. */
START_TEST(t_refused)
{
    struct s_buf b = {0};
    b.b[b.n++] = 0x0a;
    b.b[b.n++] = 0x10; /* 16 bytes announced, 1 there */
    b.b[b.n++] = 0x10;
    s_same(&b, false);
    struct s_buf w = {0}, ev = {0};
    s_ld(&ev, 2, "x", 1); /* type as bytes: the wrong wire type */
    s_sub(&w, 1, &ev);
    s_same(&w, false);
    struct s_buf z = {0};
    z.b[z.n++] = 0x00; /* field 0 */
    z.b[z.n++] = 0x00;
    s_same(&z, false);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("vx_wire_fast");
    TCase *tc = tcase_create("decode");
    tcase_add_test(tc, t_common_shape);
    tcase_add_test(tc, t_left_to_protobuf_c);
    tcase_add_test(tc, t_refused);
    tcase_add_test(tc, t_nul_strings);
    tcase_add_test(tc, t_not_ascii);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
