/* SPDX-License-Identifier: Apache-2.0 */
/* prop_stamp: the stamp appended to an event's own bytes fills what is absent and keeps every
 * field that came in, unknown fields included. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "prop_stamp.h"

/* Packs in, appends its stamp, and decodes the result as a receiver would. */
static vx_event_t *
s_stamped(struct prop_stamper *st, const vx_event_t *in, uint64_t now, int source, uint8_t id[16])
{
    size_t len = vexfs__v1__event__get_packed_size(in);
    uint8_t *buf = malloc(len + PROP_STAMP_MAX);
    vexfs__v1__event__pack(in, buf);
    size_t slen = prop_stamp_encode(st, in, buf + len, id, now, source, NULL);
    ck_assert_uint_le(slen, PROP_STAMP_MAX);
    vx_event_t *out = vexfs__v1__event__unpack(NULL, len + slen, buf);
    ck_assert_ptr_nonnull(out);
    free(buf);
    return out;
}

/* The default tenant of the sender's identity fills an absent tenant and never replaces one. */
START_TEST(t_default_tenant)
{
    struct prop_stamper st = {"prop-1", 0};
    vx_event_t in = VEXFS__V1__EVENT__INIT;
    in.type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_CREATE;
    in.path = (char *)"/x";
    uint8_t buf[1024], id[16];
    size_t len = vexfs__v1__event__pack(&in, buf);
    len += prop_stamp_encode(&st, &in, buf + len, id, 1, 0, "acme");
    vx_event_t *out = vexfs__v1__event__unpack(NULL, len, buf);
    ck_assert_str_eq(out->tenant, "acme");
    vexfs__v1__event__free_unpacked(out, NULL);
    in.tenant = (char *)"globex";
    len = vexfs__v1__event__pack(&in, buf);
    len += prop_stamp_encode(&st, &in, buf + len, id, 1, 0, "acme");
    out = vexfs__v1__event__unpack(NULL, len, buf);
    ck_assert_str_eq(out->tenant, "globex");
    vexfs__v1__event__free_unpacked(out, NULL);
}
END_TEST

START_TEST(t_fills_absent_fields)
{
    struct prop_stamper st = {"prop-1", 0};
    vx_event_t in = VEXFS__V1__EVENT__INIT;
    in.type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_CREATE;
    in.path = (char *)"/x";
    uint8_t id[16];
    vx_event_t *out = s_stamped(&st, &in, 1234, VEXFS__V1__BOUNDARY__USERSPACE_API, id);
    ck_assert_uint_eq(out->id.len, 16);
    ck_assert(memcmp(out->id.data, id, 16) == 0);
    ck_assert_str_eq(out->producer_id, "prop-1");
    ck_assert_uint_eq(out->sequence, 1);
    ck_assert_uint_eq(out->timestamp_ns, 1234);
    ck_assert_uint_eq(out->ingest_ns, 1234);
    ck_assert_int_eq(strlen(out->trace_id), 32);
    ck_assert_int_eq(out->source, VEXFS__V1__BOUNDARY__USERSPACE_API);
    ck_assert_str_eq(out->path, "/x");
    ck_assert_int_eq(out->type, VEXFS__V1__EVENT_TYPE__FILESYSTEM_CREATE);
    vexfs__v1__event__free_unpacked(out, NULL);
    /* Sequences are contiguous per producer; source 0 leaves it unspecified. */
    out = s_stamped(&st, &in, 1235, 0, id);
    ck_assert_uint_eq(out->sequence, 2);
    ck_assert_int_eq(out->source, 0);
    vexfs__v1__event__free_unpacked(out, NULL);
}
END_TEST

START_TEST(t_keeps_given_fields)
{
    struct prop_stamper st = {"prop-1", 10};
    uint8_t given[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    Vexfs__V1__Causality cz = VEXFS__V1__CAUSALITY__INIT;
    ProtobufCBinaryData parent = {16, given};
    cz.n_parent_ids = 1;
    cz.parent_ids = &parent;
    vx_event_t in = VEXFS__V1__EVENT__INIT;
    in.type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE;
    in.id.data = given;
    in.id.len = 16;
    in.producer_id = (char *)"fuse-7";
    in.sequence = 99;
    in.timestamp_ns = 5;
    in.ingest_ns = 6;
    in.trace_id = (char *)"trace-given";
    in.source = VEXFS__V1__BOUNDARY__FUSE;
    in.causality = &cz;
    uint8_t out_stamp[PROP_STAMP_MAX];
    uint8_t id[16];
    /* Nothing is absent: the stamp is empty and the event goes out byte for byte. */
    ck_assert_uint_eq(prop_stamp_encode(&st, &in, out_stamp, id, 1234, 3, NULL), 0);
    ck_assert(memcmp(id, given, 16) == 0);
    vx_event_t *out = s_stamped(&st, &in, 1234, VEXFS__V1__BOUNDARY__USERSPACE_API, id);
    ck_assert_str_eq(out->producer_id, "fuse-7");
    ck_assert_uint_eq(out->sequence, 99);
    ck_assert_uint_eq(out->timestamp_ns, 5);
    ck_assert_uint_eq(out->ingest_ns, 6);
    ck_assert_str_eq(out->trace_id, "trace-given");
    ck_assert_int_eq(out->source, VEXFS__V1__BOUNDARY__FUSE);
    ck_assert_uint_eq(out->causality->n_parent_ids, 1);
    ck_assert(memcmp(out->causality->parent_ids[0].data, given, 16) == 0);
    ck_assert_uint_eq(st.sequence, 10); /* our own counter did not move */
    vexfs__v1__event__free_unpacked(out, NULL);
}
END_TEST

START_TEST(t_unknown_fields_survive)
{
    /* Field 99 (unknown to this schema) followed by the stamp: still there after decoding. */
    vx_event_t in = VEXFS__V1__EVENT__INIT;
    in.type = VEXFS__V1__EVENT_TYPE__SYSTEM;
    size_t len = vexfs__v1__event__get_packed_size(&in);
    uint8_t buf[64 + PROP_STAMP_MAX];
    vexfs__v1__event__pack(&in, buf);
    uint8_t tag[4];
    size_t t = 0;
    for (uint32_t v = 99u << 3; ; v >>= 7) {
        tag[t++] = (uint8_t)(v >= 0x80 ? (v & 0x7f) | 0x80 : v);
        if (v < 0x80) {
            break;
        }
    }
    memcpy(buf + len, tag, t);
    len += t;
    buf[len++] = 42;
    struct prop_stamper st = {"p", 0};
    uint8_t id[16];
    len += prop_stamp_encode(&st, &in, buf + len, id, 1, 0, NULL);
    vx_event_t *out = vexfs__v1__event__unpack(NULL, len, buf);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(out->base.n_unknown_fields, 1);
    ck_assert_uint_eq(out->base.unknown_fields[0].tag, 99);
    ck_assert_str_eq(out->producer_id, "p");
    vexfs__v1__event__free_unpacked(out, NULL);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("stamp");
    TCase *tc = tcase_create("stamp");
    tcase_add_test(tc, t_fills_absent_fields);
    tcase_add_test(tc, t_keeps_given_fields);
    tcase_add_test(tc, t_unknown_fields_survive);
    tcase_add_test(tc, t_default_tenant);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
