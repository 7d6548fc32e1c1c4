/* SPDX-License-Identifier: Apache-2.0 */
/* prop_stamp: fills what is absent, keeps every field that came in. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "prop_stamp.h"

START_TEST(t_fills_absent_fields)
{
    struct prop_stamper st = {"prop-1", 0, true};
    vx_event_t in = VEXFS__V1__EVENT__INIT;
    in.type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_CREATE;
    in.path = (char *)"/x";
    vx_event_t out;
    struct prop_stamp_store store;
    prop_stamp(&st, &in, &out, &store, 1234, VEXFS__V1__BOUNDARY__USERSPACE_API);
    ck_assert_uint_eq(out.id.len, 16);
    ck_assert_ptr_eq(out.id.data, store.id);
    ck_assert_str_eq(out.producer_id, "prop-1");
    ck_assert_uint_eq(out.sequence, 1);
    ck_assert_uint_eq(out.timestamp_ns, 1234);
    ck_assert_uint_eq(out.ingest_ns, 1234);
    ck_assert_int_eq(strlen(out.trace_id), 32);
    ck_assert_int_eq(out.source, VEXFS__V1__BOUNDARY__USERSPACE_API);
    ck_assert_str_eq(out.path, "/x");
    /* Sequences are contiguous per producer. */
    prop_stamp(&st, &in, &out, &store, 1235, 0);
    ck_assert_uint_eq(out.sequence, 2);
    ck_assert_int_eq(out.source, 0);
    /* The input was not touched. */
    ck_assert_uint_eq(in.id.len, 0);
    ck_assert_ptr_null(in.trace_id == protobuf_c_empty_string ? NULL : in.trace_id);
}
END_TEST

START_TEST(t_keeps_given_fields)
{
    struct prop_stamper st = {"prop-1", 10, true};
    uint8_t id[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    Vexfs__V1__Causality cz = VEXFS__V1__CAUSALITY__INIT;
    ProtobufCBinaryData parent = {16, id};
    cz.n_parent_ids = 1;
    cz.parent_ids = &parent;
    vx_event_t in = VEXFS__V1__EVENT__INIT;
    in.type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE;
    in.id.data = id;
    in.id.len = 16;
    in.producer_id = (char *)"fuse-7";
    in.sequence = 99;
    in.timestamp_ns = 5;
    in.ingest_ns = 6;
    in.trace_id = (char *)"trace-given";
    in.source = VEXFS__V1__BOUNDARY__FUSE;
    in.causality = &cz;
    vx_event_t out;
    struct prop_stamp_store store;
    prop_stamp(&st, &in, &out, &store, 1234, VEXFS__V1__BOUNDARY__USERSPACE_API);
    ck_assert_ptr_eq(out.id.data, id);
    ck_assert_str_eq(out.producer_id, "fuse-7");
    ck_assert_uint_eq(out.sequence, 99);
    ck_assert_uint_eq(out.timestamp_ns, 5);
    ck_assert_uint_eq(out.ingest_ns, 6);
    ck_assert_str_eq(out.trace_id, "trace-given");
    ck_assert_int_eq(out.source, VEXFS__V1__BOUNDARY__FUSE);
    ck_assert_ptr_eq(out.causality, &cz);
    ck_assert_uint_eq(st.sequence, 10); /* our own counter did not move */
}
END_TEST

START_TEST(t_unknown_fields_follow_context_preservation)
{
    ProtobufCMessageUnknownField uf = {99, PROTOBUF_C_WIRE_TYPE_VARINT, 1, (uint8_t *)"\x01"};
    vx_event_t in = VEXFS__V1__EVENT__INIT;
    in.type = VEXFS__V1__EVENT_TYPE__SYSTEM;
    in.base.n_unknown_fields = 1;
    in.base.unknown_fields = &uf;
    vx_event_t out;
    struct prop_stamp_store store;
    struct prop_stamper keep = {"p", 0, true};
    prop_stamp(&keep, &in, &out, &store, 1, 0);
    ck_assert_uint_eq(out.base.n_unknown_fields, 1);
    struct prop_stamper strip = {"p", 0, false};
    prop_stamp(&strip, &in, &out, &store, 1, 0);
    ck_assert_uint_eq(out.base.n_unknown_fields, 0);
    ck_assert_uint_eq(in.base.n_unknown_fields, 1);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("stamp");
    TCase *tc = tcase_create("stamp");
    tcase_add_test(tc, t_fills_absent_fields);
    tcase_add_test(tc, t_keeps_given_fields);
    tcase_add_test(tc, t_unknown_fields_follow_context_preservation);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
