/* SPDX-License-Identifier: Apache-2.0 */
/* vx_event: names, ids, content hashing, validation and the JSON form. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vx_event.h"
#include "vx_wire.h"

static vx_event_t *
s_from(const char *json, vx_arena_t *a, char *err, size_t errlen, enum vx_drop_reason *reason)
{
    json_error_t je;
    json_t *j = json_loads(json, 0, &je);
    ck_assert_msg(j != NULL, "test JSON invalid: %s", je.text);
    vx_event_t *e = NULL;
    int rc = vx_event_from_json(j, a, &e, err, errlen, reason);
    json_decref(j);
    return rc == 0 ? e : NULL;
}

START_TEST(t_names_round_trip)
{
    for (int t = 1; t <= VEXFS__V1__EVENT_TYPE__CUSTOM; t++) {
        const char *n = vx_event_type_name(t);
        ck_assert_ptr_nonnull(n);
        int back = 0;
        ck_assert_int_eq(vx_event_type_parse(n, &back), 0);
        ck_assert_int_eq(back, t);
    }
    ck_assert_ptr_null(vx_event_type_name(0));
    ck_assert_ptr_null(vx_event_type_name(999));
    int b;
    ck_assert_int_eq(vx_boundary_parse("kernel_module", &b), 0);
    ck_assert_int_eq(b, VEXFS__V1__BOUNDARY__KERNEL_MODULE);
    ck_assert_int_eq(vx_boundary_parse("mars", &b), -EINVAL);
    ck_assert(vx_event_type_is_filesystem(VEXFS__V1__EVENT_TYPE__FILESYSTEM_RMDIR));
    ck_assert(!vx_event_type_is_filesystem(VEXFS__V1__EVENT_TYPE__USER_ACTION));
}
END_TEST

START_TEST(t_ids)
{
    uint8_t a[16], b[16], c[16];
    vx_event_id_new(a);
    vx_event_id_new(b);
    ck_assert(memcmp(a, b, 16) != 0);
    ck_assert_int_eq(a[6] >> 4, 7);
    ck_assert_int_eq(a[8] >> 6, 2);
    char s[VX_EVENT_ID_STR];
    vx_event_id_format(a, s);
    ck_assert_int_eq(strlen(s), 36);
    ck_assert_int_eq(vx_event_id_parse(s, c), 0);
    ck_assert(memcmp(a, c, 16) == 0);
    ck_assert_int_eq(vx_event_id_parse("0123456789abcdef0123456789ABCDEF", c), 0);
    ck_assert_int_eq(c[15], 0xef);
    ck_assert_int_eq(vx_event_id_parse("0123", c), -EINVAL);
    ck_assert_int_eq(vx_event_id_parse("0123456789abcdef0123456789abcdeg", c), -EINVAL);
    ck_assert_int_eq(vx_event_id_parse("01234567x89ab-cdef-0123-456789abcdef", c), -EINVAL);
    char t1[33], t2[33];
    vx_trace_id_new(t1);
    vx_trace_id_new(t2);
    ck_assert_int_eq(strlen(t1), 32);
    ck_assert_uint_eq(strspn(t1, "0123456789abcdef"), 32);
    ck_assert_str_ne(t1, t2);
}
END_TEST

START_TEST(t_hash_ignores_stamps_and_map_order)
{
    vx_arena_t *a = vx_arena_new(4096, 0);
    char err[256];
    enum vx_drop_reason reason = VX_DROP_N;
    vx_event_t *e1 = s_from("{\"type\":\"filesystem_write\",\"path\":\"/a\",\"content\":{\"x\":\"1\","
                            "\"y\":\"2\"},\"sequence\":5,\"timestamp_ns\":10}",
                            a, err, sizeof err, &reason);
    vx_event_t *e2 = s_from("{\"type\":\"filesystem_write\",\"path\":\"/a\",\"content\":{\"y\":\"2\","
                            "\"x\":\"1\"},\"sequence\":6,\"timestamp_ns\":99,"
                            "\"id\":\"00000000-0000-7000-8000-000000000001\"}",
                            a, err, sizeof err, &reason);
    vx_event_t *e3 = s_from("{\"type\":\"filesystem_write\",\"path\":\"/a\",\"content\":{\"x\":\"1\","
                            "\"y\":\"3\"}}",
                            a, err, sizeof err, &reason);
    vx_event_t *e4 = s_from("{\"type\":\"filesystem_write\",\"path\":\"/a\",\"content\":{\"x\":\"1\"},"
                            "\"metadata\":{\"y\":\"2\"}}",
                            a, err, sizeof err, &reason);
    vx_event_t *e5 = s_from("{\"type\":\"filesystem_read\",\"path\":\"/a\",\"content\":{\"x\":\"1\","
                            "\"y\":\"2\"}}",
                            a, err, sizeof err, &reason);
    ck_assert_ptr_nonnull(e1);
    ck_assert_ptr_nonnull(e5);
    ck_assert_uint_eq(vx_event_content_hash(e1), vx_event_content_hash(e2));
    ck_assert_uint_ne(vx_event_content_hash(e1), vx_event_content_hash(e3));
    ck_assert_uint_ne(vx_event_content_hash(e1), vx_event_content_hash(e4));
    ck_assert_uint_ne(vx_event_content_hash(e1), vx_event_content_hash(e5));
    /* vx_event_validate_hash gives the same hash, from the lengths its checks measured. */
    vx_event_t *e6 = s_from("{\"type\":\"custom\",\"custom_type\":\"deploy\",\"tenant\":\"acme\","
                            "\"path\":\"/srv/data/project-1/file-1.txt\",\"content\":{\"k\":\"\","
                            "\"long-key-of-some-length\":\"a value longer than sixteen bytes\"},"
                            "\"metadata\":{\"user_id\":\"1001\"}}",
                            a, err, sizeof err, &reason);
    ck_assert_ptr_nonnull(e6);
    vx_event_t *all[] = {e1, e2, e3, e4, e5, e6};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        uint64_t h = 0;
        ck_assert_int_eq(vx_event_validate_hash(all[i], false, err, sizeof err, &reason, &h), 0);
        ck_assert_uint_eq(h, vx_event_content_hash(all[i]));
    }
    vx_arena_destroy(&a);
}
END_TEST

START_TEST(t_json_round_trip)
{
    vx_arena_t *a = vx_arena_new(4096, 0);
    char err[256];
    enum vx_drop_reason reason = VX_DROP_N;
    const char *in =
        "{\"id\":\"0193b2c4-1111-7222-8333-444455556666\",\"type\":\"custom\",\"custom_type\":"
        "\"backup_done\",\"source\":\"fuse\",\"timestamp_ns\":1732543200000000000,\"path\":"
        "\"/data/a.txt\",\"content\":{\"size\":\"4096\"},\"metadata\":{\"user_id\":\"42\"},"
        "\"tenant\":\"acme\",\"priority\":7,\"producer_id\":\"fuse-1\",\"sequence\":9,"
        "\"trace_id\":\"abc\",\"ingest_ns\":5,\"causality\":{\"parent_ids\":["
        "\"0193b2c4-1111-7222-8333-444455556667\"],\"vector_clock\":{\"n1\":3,\"n2\":4}}}";
    vx_event_t *e = s_from(in, a, err, sizeof err, &reason);
    ck_assert_msg(e != NULL, "decode: %s", err);
    ck_assert_int_eq(vx_event_validate(e, err, sizeof err, &reason), 0);
    /* Through the wire and back. */
    size_t len = vexfs__v1__event__get_packed_size(e);
    uint8_t *buf = malloc(len);
    vexfs__v1__event__pack(e, buf);
    vx_event_t *u = vexfs__v1__event__unpack(NULL, len, buf);
    ck_assert_ptr_nonnull(u);
    json_t *expect = json_loads(in, 0, NULL);
    json_t *got = vx_event_to_json(u);
    char *gs = json_dumps(got, JSON_SORT_KEYS);
    ck_assert_msg(json_equal(expect, got), "round trip differs: %s", gs);
    free(gs);
    json_decref(expect);
    json_decref(got);
    vexfs__v1__event__free_unpacked(u, NULL);
    free(buf);
    vx_arena_destroy(&a);
}
END_TEST

struct s_bad {
    const char *json;
    const char *reason;
    const char *message;
};

static const struct s_bad s_bad_json[] = {
    {"{\"type\":\"filesystem_explode\",\"path\":\"/a\"}", "unknown_type",
     "field 'type': unknown event type 'filesystem_explode'"},
    {"{\"path\":\"/a\"}", "unknown_type", "field 'type': required"},
    {"{\"type\":\"filesystem_write\",\"priority\":\"high\"}", "bad_json",
     "field 'priority': expected an integer 0..255"},
    {"{\"type\":\"filesystem_write\",\"priority\":256}", "bad_json",
     "field 'priority': expected an integer 0..255"},
    {"{\"type\":\"filesystem_write\",\"colour\":\"red\"}", "bad_json",
     "field 'colour': unknown field"},
    {"{\"type\":\"filesystem_write\",\"content\":{\"a\":1}}", "bad_json",
     "field 'content.a': expected a string value"},
    {"{\"type\":\"filesystem_write\",\"id\":\"nope\"}", "bad_id",
     "field 'id': not a 16-byte id in UUID form: 'nope'"},
    {"{\"type\":\"filesystem_write\",\"source\":\"mars\"}", "bad_field",
     "field 'source': unknown boundary 'mars'"},
    {"{\"type\":\"user_action\",\"causality\":{\"clock\":{}}}", "bad_json",
     "field 'causality.clock': unknown field"},
    {"[1,2]", "bad_json", "an event must be a JSON object"},
};

START_TEST(t_json_errors)
{
    const struct s_bad *b = &s_bad_json[_i];
    vx_arena_t *a = vx_arena_new(4096, 0);
    char err[256];
    enum vx_drop_reason reason = VX_DROP_N;
    vx_event_t *e = s_from(b->json, a, err, sizeof err, &reason);
    ck_assert_ptr_null(e);
    ck_assert_str_eq(vx_drop_names[reason], b->reason);
    ck_assert_msg(strncmp(err, b->message, strlen(b->message)) == 0, "expected '%s', got '%s'",
                  b->message, err);
    vx_arena_destroy(&a);
}
END_TEST

static const struct s_bad s_invalid[] = {
    {"{\"type\":\"filesystem_write\"}", "missing_path",
     "field 'path': required for filesystem_write events"},
    {"{\"type\":\"filesystem_write\",\"path\":\"rel/a\"}", "bad_path",
     "field 'path': must be absolute"},
    {"{\"type\":\"custom\"}", "bad_field", "field 'custom_type': required for custom events"},
    {"{\"type\":\"user_action\",\"path\":\"/\\u00e9\\ud83d\\ude00\"}", NULL, NULL},
    {"{\"type\":\"filesystem_write\",\"path\":\"/\"}", NULL, NULL},
    {"{\"type\":\"filesystem_write\",\"path\":\"/a/./b\"}", "bad_path",
     "field 'path': must be canonical"},
    {"{\"type\":\"filesystem_write\",\"path\":\"/a/../etc/passwd\"}", "bad_path",
     "field 'path': must be canonical"},
    {"{\"type\":\"filesystem_write\",\"path\":\"/a//b\"}", "bad_path",
     "field 'path': must be canonical"},
    {"{\"type\":\"filesystem_write\",\"path\":\"/a/b/\"}", "bad_path",
     "field 'path': must be canonical"},
    {"{\"type\":\"filesystem_write\",\"path\":\"/a/..\"}", "bad_path",
     "field 'path': must be canonical"},
    {"{\"type\":\"filesystem_write\",\"path\":\"/a/.hidden/..x/...\"}", NULL, NULL},
    {"{\"type\":\"system\",\"timestamp_ns\":\"18446744073709551615\",\"sequence\":"
     "9223372036854775807,\"ingest_ns\":\"9223372036854775808\"}",
     NULL, NULL},
};

START_TEST(t_validate)
{
    const struct s_bad *b = &s_invalid[_i];
    vx_arena_t *a = vx_arena_new(4096, 0);
    char err[256];
    enum vx_drop_reason reason = VX_DROP_N;
    vx_event_t *e = s_from(b->json, a, err, sizeof err, &reason);
    ck_assert_msg(e != NULL, "decode: %s", err);
    int rc = vx_event_validate(e, err, sizeof err, &reason);
    /* The validating hasher decides and says exactly the same. */
    char err2[256] = "";
    enum vx_drop_reason reason2 = VX_DROP_N;
    uint64_t h = 0;
    ck_assert_int_eq(vx_event_validate_hash(e, false, err2, sizeof err2, &reason2, &h), rc);
    if (rc == 0) {
        ck_assert_uint_eq(h, vx_event_content_hash(e));
    } else {
        ck_assert_str_eq(err2, err);
        ck_assert_int_eq(reason2, reason);
    }
    if (!b->reason) {
        ck_assert_msg(rc == 0, "unexpected error: %s", err);
    } else {
        ck_assert_int_eq(rc, -EINVAL);
        ck_assert_str_eq(vx_drop_names[reason], b->reason);
        ck_assert_msg(strncmp(err, b->message, strlen(b->message)) == 0,
                      "expected '%s', got '%s'", b->message, err);
    }
    vx_arena_destroy(&a);
}
END_TEST

START_TEST(t_validate_binary_fields)
{
    vx_event_t e = VEXFS__V1__EVENT__INIT;
    char err[256];
    enum vx_drop_reason reason = VX_DROP_N;
    e.type = 77;
    ck_assert_int_eq(vx_event_validate(&e, err, sizeof err, &reason), -EINVAL);
    ck_assert_str_eq(vx_drop_names[reason], "unknown_type");
    ck_assert_str_eq(err, "field 'type': unknown event type 77");
    e.type = VEXFS__V1__EVENT_TYPE__USER_ACTION;
    uint8_t id[5] = {1, 2, 3, 4, 5};
    e.id.data = id;
    e.id.len = 5;
    ck_assert_int_eq(vx_event_validate(&e, err, sizeof err, &reason), -EINVAL);
    ck_assert_str_eq(vx_drop_names[reason], "bad_id");
    e.id.len = 0;
    char bad[] = {'/', (char)0xc3, (char)0x28, 0};
    e.path = bad;
    ck_assert_int_eq(vx_event_validate(&e, err, sizeof err, &reason), -EINVAL);
    ck_assert_str_eq(vx_drop_names[reason], "bad_utf8");
    e.path = (char *)"/ok";
    e.priority = 300;
    ck_assert_int_eq(vx_event_validate(&e, err, sizeof err, &reason), -EINVAL);
    ck_assert_str_eq(err, "field 'priority': must be 0..255, got 300");
}
END_TEST

/* The whole uint64 range survives protobuf, validation and JSON both ways. */
START_TEST(t_uint64_range)
{
    static const uint64_t values[] = {0, 1, (UINT64_C(1) << 53), (UINT64_C(1) << 53) + 1,
                                      (uint64_t)INT64_MAX, (uint64_t)INT64_MAX + 1, UINT64_MAX};
    vx_arena_t *a = vx_arena_new(4096, 0);
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        Vexfs__V1__ClockEntry ce = VEXFS__V1__CLOCK_ENTRY__INIT, *cep = &ce;
        ce.node = (char *)"n";
        ce.counter = values[i];
        Vexfs__V1__Causality cz = VEXFS__V1__CAUSALITY__INIT;
        cz.n_vector_clock = 1;
        cz.vector_clock = &cep;
        vx_event_t e = VEXFS__V1__EVENT__INIT;
        e.type = VEXFS__V1__EVENT_TYPE__SYSTEM;
        e.timestamp_ns = e.ingest_ns = e.sequence = values[i];
        e.causality = &cz;
        char err[256];
        enum vx_drop_reason reason = VX_DROP_N;
        ck_assert_msg(vx_event_validate(&e, err, sizeof err, &reason) == 0, "%s", err);
        for (unsigned flags = 0; flags <= VX_EVENT_JSON_SAFE_INTEGERS; flags++) {
            json_t *j = vx_event_to_json_flags(&e, flags);
            json_t *ts = json_object_get(j, "timestamp_ns");
            uint64_t limit = flags ? (UINT64_C(1) << 53) : (uint64_t)INT64_MAX;
            ck_assert_msg(values[i] > limit ? json_is_string(ts) : json_is_integer(ts),
                          "value %llu, flags %u", (unsigned long long)values[i], flags);
            vx_event_t *back = NULL;
            ck_assert_msg(vx_event_from_json(j, a, &back, err, sizeof err, &reason) == 0, "%s",
                          err);
            ck_assert(back->timestamp_ns == values[i] && back->ingest_ns == values[i] &&
                      back->sequence == values[i]);
            ck_assert(back->causality->vector_clock[0]->counter == values[i]);
            json_decref(j);
        }
    }
    /* Strings must be plain digits within range. */
    const char *bad[] = {"\"-1\"", "\"18446744073709551616\"", "\"12a\"", "\"\"", "\" 1\"", "1.5",
                         "-3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char doc[128], err[256];
        snprintf(doc, sizeof doc, "{\"type\":\"system\",\"sequence\":%s}", bad[i]);
        enum vx_drop_reason reason = VX_DROP_N;
        ck_assert_msg(s_from(doc, a, err, sizeof err, &reason) == NULL, "%s accepted", bad[i]);
        ck_assert_msg(strstr(err, "field 'sequence': expected an integer 0..18446744073709551615"),
                      "%s: %s", bad[i], err);
    }
    vx_arena_destroy(&a);
}
END_TEST

/* A NUL inside a packed string field is what decoding would hide: the bytes check finds it. */
START_TEST(t_nul_in_bytes)
{
    uint8_t buf[256];
    size_t n = vx_pb_uint(buf, VX_PB_EVENT_TYPE, VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE);
    size_t clean = n + vx_pb_bytes(buf + n, VX_PB_EVENT_PATH, "/a/b", 4);
    char err[256];
    enum vx_drop_reason reason = VX_DROP_N;
    ck_assert_int_eq(vx_event_check_bytes(buf, clean, err, sizeof err, &reason), 0);
    size_t len = n + vx_pb_bytes(buf + n, VX_PB_EVENT_PATH, "/a\0b", 4);
    ck_assert_int_eq(vx_event_check_bytes(buf, len, err, sizeof err, &reason), -EINVAL);
    ck_assert_str_eq(vx_drop_names[reason], "bad_path");
    ck_assert_str_eq(err, "field 'path': holds a NUL character");
    /* The decoded event would look clean. */
    vx_event_t *e = vexfs__v1__event__unpack(NULL, len, buf);
    ck_assert_str_eq(e->path, "/a");
    vexfs__v1__event__free_unpacked(e, NULL);
    /* In a map value and a clock node. */
    clean = n + vx_pb_bytes(buf + n, VX_PB_EVENT_PATH, "/a/b", 4);
    uint8_t ent[32];
    size_t el = vx_pb_bytes(ent, VX_PB_MAP_KEY, "k", 1);
    el += vx_pb_bytes(ent + el, VX_PB_MAP_VALUE, "v\0", 2);
    len = clean + vx_pb_bytes(buf + clean, VX_PB_EVENT_METADATA, ent, el);
    ck_assert_int_eq(vx_event_check_bytes(buf, len, err, sizeof err, &reason), -EINVAL);
    ck_assert_str_eq(err, "field 'metadata': holds a NUL character");
    uint8_t node[16], cz[32];
    size_t nl = vx_pb_bytes(node, 1, "n\0", 2);
    size_t cl = vx_pb_bytes(cz, 2, node, nl);
    len = clean + vx_pb_bytes(buf + clean, VX_PB_EVENT_CAUSALITY, cz, cl);
    ck_assert_int_eq(vx_event_check_bytes(buf, len, err, sizeof err, &reason), -EINVAL);
    ck_assert_str_eq(err, "field 'causality.vector_clock': holds a NUL character");
    ck_assert_int_eq(vx_event_check_bytes(buf, len - 1, err, sizeof err, &reason), -EINVAL);
    ck_assert_str_eq(vx_drop_names[reason], "bad_protobuf");
}
END_TEST

START_TEST(t_utf8)
{
    ck_assert(vx_utf8_valid("plain", 5));
    ck_assert(vx_utf8_valid("\xc3\xa9", 2));
    ck_assert(vx_utf8_valid("\xf0\x9f\x98\x80", 4));
    ck_assert(!vx_utf8_valid("\xc0\xaf", 2));         /* overlong */
    ck_assert(!vx_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    ck_assert(!vx_utf8_valid("\xf4\x90\x80\x80", 4)); /* beyond U+10FFFF */
    ck_assert(!vx_utf8_valid("\xe2\x82", 2));         /* truncated */
    /* Past the eight-bytes-at-a-time ASCII stretch. */
    ck_assert(vx_utf8_valid("abcdefgh\xc3\xa9", 10));
    ck_assert(vx_utf8_valid("abcdefghijklmnopq\xf0\x9f\x98\x80xyz", 24));
    ck_assert(!vx_utf8_valid("abcdefghij\xc0\xaf", 12));
    ck_assert(!vx_utf8_valid("abcdefghijklmnopqrs\xed\xa0\x80", 22));
    ck_assert(!vx_utf8_valid("abcdefgh\xe2\x82", 10));
    ck_assert(!vx_utf8_valid("abcdefgh\xff", 9));
}
END_TEST

START_TEST(t_arena_limit)
{
    vx_arena_t *a = vx_arena_new(256, 1024);
    ck_assert_ptr_nonnull(vx_arena_alloc(a, 500));
    ck_assert_ptr_nonnull(vx_arena_alloc(a, 500));
    ck_assert_ptr_null(vx_arena_alloc(a, 100));
    ck_assert_ptr_null(vx_arena_alloc(a, SIZE_MAX - 3)); /* would wrap when rounded */
    vx_arena_reset(a);
    ck_assert_uint_eq(vx_arena_used(a), 0);
    void *p = vx_arena_alloc(a, 3);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq((uintptr_t)p % 16, 0);
    vx_arena_destroy(&a);
    ck_assert_ptr_null(a);
    vx_arena_t *unlimited = vx_arena_new(256, 0);
    ck_assert_ptr_null(vx_arena_alloc(unlimited, SIZE_MAX - 100));
    vx_arena_destroy(&unlimited);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("event");
    TCase *tc = tcase_create("names_ids");
    tcase_add_test(tc, t_names_round_trip);
    tcase_add_test(tc, t_ids);
    tcase_add_test(tc, t_utf8);
    tcase_add_test(tc, t_arena_limit);
    suite_add_tcase(s, tc);
    tc = tcase_create("hash");
    tcase_add_test(tc, t_hash_ignores_stamps_and_map_order);
    suite_add_tcase(s, tc);
    tc = tcase_create("json");
    tcase_add_test(tc, t_json_round_trip);
    tcase_add_loop_test(tc, t_json_errors, 0, (int)(sizeof s_bad_json / sizeof s_bad_json[0]));
    suite_add_tcase(s, tc);
    tc = tcase_create("validate");
    tcase_add_loop_test(tc, t_validate, 0, (int)(sizeof s_invalid / sizeof s_invalid[0]));
    tcase_add_test(tc, t_validate_binary_fields);
    tcase_add_test(tc, t_uint64_range);
    tcase_add_test(tc, t_nul_in_bytes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
