/* SPDX-License-Identifier: Apache-2.0 */
/* an_decode: the plan of fields the queries read, and the decoder that reads only those from a
 * packed Event. Every field a query can name must read the same through the partial decode as
 * through protobuf-c's full unpack of the same bytes, for ordinary events, repeated fields
 * (the last counts), duplicate map keys (the first counts), keys with a NUL, unknown fields and
 * numbers of every width; malformed bytes are refused. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "an_decode.h"
#include "vx_wire.h"

/* ---- helpers ----------------------------------------------------------------------------- */

static struct an_query *
s_query(const char *json)
{
    json_t *j = json_loads(json, 0, NULL);
    ck_assert_ptr_nonnull(j);
    struct an_query *q = NULL;
    char err[256];
    ck_assert_msg(an_query_parse(j, &q, err, sizeof err) == 0, "%s", err);
    json_decref(j);
    return q;
}

/* A decoder reading every plain field, content.size, content.k, metadata.user_id and
 * metadata.tag. */
static an_decoder_t *
s_dec_all(void)
{
    struct an_query *q;
    q = s_query("{\"id\":\"all\",\"filters\":[{\"field\":\"path\",\"op\":\"prefix\",\"value\":\"/\"},"
                 "{\"field\":\"tenant\",\"op\":\"ne\",\"value\":\"x\"},"
                 "{\"field\":\"type\",\"op\":\"ne\",\"value\":\"x\"},"
                 "{\"field\":\"content.k\",\"op\":\"ne\",\"value\":\"x\"},"
                 "{\"field\":\"metadata.tag\",\"op\":\"ne\",\"value\":\"x\"}],"
                 "\"window\":{\"kind\":\"tumbling\",\"size_ms\":1000},"
                 "\"group_by\":[\"metadata.user_id\",\"priority\"],"
                 "\"aggregations\":[{\"fn\":\"sum\",\"field\":\"content.size\"}]}");
    an_decoder_t *d = an_decoder_new();
    an_decoder_plan(d, &q, 1);
    an_query_destroy(&q); /* the plan keeps copies of what it needs */
    return d;
}

static const char *const s_fields[] = {"path",          "tenant",      "type",
                                       "priority",      "content.size", "content.k",
                                       "metadata.user_id", "metadata.tag"};

/* Decodes bytes both ways and compares every field above, the times and the type. */
static void
s_same(const uint8_t *buf, size_t len)
{
    an_decoder_t *d = s_dec_all();
    vx_event_t *full = vexfs__v1__event__unpack(NULL, len, buf);
    ck_assert_ptr_nonnull(full);
    vx_event_t part;
    ck_assert_int_eq(an_decoder_decode(d, buf, len, &part), 0);
    ck_assert_int_eq(part.type, full->type);
    ck_assert_uint_eq(part.timestamp_ns, full->timestamp_ns);
    ck_assert_uint_eq(part.ingest_ns, full->ingest_ns);
    ck_assert_uint_eq(part.priority, full->priority);
    for (size_t i = 0; i < sizeof s_fields / sizeof s_fields[0]; i++) {
        struct an_field f;
        char err[128], b1[32], b2[32];
        ck_assert_int_eq(an_field_parse(s_fields[i], &f, err, sizeof err), 0);
        const char *x = an_field_text(&f, full, b1, sizeof b1);
        const char *y = an_field_text(&f, &part, b2, sizeof b2);
        ck_assert_msg((x == NULL) == (y == NULL) && (!x || strcmp(x, y) == 0),
                      "%s: full decode \"%s\", partial \"%s\"", s_fields[i], x ? x : "(none)",
                      y ? y : "(none)");
        an_field_fini(&f);
    }
    vexfs__v1__event__free_unpacked(full, NULL);
    an_decoder_destroy(&d);
}

struct s_ev {
    vx_event_t e;
    Vexfs__V1__Event__ContentEntry ce[3], *cp[3];
    Vexfs__V1__Event__MetadataEntry me[3], *mp[3];
};

static void
s_event(struct s_ev *x)
{
    vexfs__v1__event__init(&x->e);
    static uint8_t id[16] = {1, 2, 3};
    x->e.id.data = id;
    x->e.id.len = 16;
    x->e.type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE;
    x->e.source = VEXFS__V1__BOUNDARY__FUSE;
    x->e.timestamp_ns = 1700000000123456789ULL;
    x->e.ingest_ns = 1700000000223456789ULL;
    x->e.path = (char *)"/data/a.txt";
    x->e.tenant = (char *)"acme";
    x->e.priority = 200;
    x->e.producer_id = (char *)"fuse-1";
    x->e.sequence = 77;
    x->e.trace_id = (char *)"4bf92f35";
    static const char *ck[] = {"size", "mode", "k"}, *cv[] = {"4096", "0644", "v"};
    static const char *mk[] = {"user_id", "tag", "host"}, *mv[] = {"42", "red", "h1"};
    for (int i = 0; i < 3; i++) {
        vexfs__v1__event__content_entry__init(&x->ce[i]);
        x->ce[i].key = (char *)ck[i];
        x->ce[i].value = (char *)cv[i];
        x->cp[i] = &x->ce[i];
        vexfs__v1__event__metadata_entry__init(&x->me[i]);
        x->me[i].key = (char *)mk[i];
        x->me[i].value = (char *)mv[i];
        x->mp[i] = &x->me[i];
    }
    x->e.content = x->cp;
    x->e.n_content = 3;
    x->e.metadata = x->mp;
    x->e.n_metadata = 3;
}

static size_t
s_pack(const vx_event_t *e, uint8_t *buf)
{
    ck_assert_uint_lt(vexfs__v1__event__get_packed_size(e), 4096);
    return vexfs__v1__event__pack(e, buf);
}

/* ---- tests ------------------------------------------------------------------------------------ */

START_TEST(t_plan)
{
    struct an_query *qs[2] = {
        s_query("{\"id\":\"a\",\"window\":{\"kind\":\"tumbling\",\"size_ms\":1000},"
                "\"group_by\":[\"metadata.user_id\"],"
                "\"aggregations\":[{\"fn\":\"count\"},{\"fn\":\"sum\",\"field\":\"content.size\"}]}"),
        s_query("{\"id\":\"b\",\"filters\":[{\"field\":\"path\",\"op\":\"prefix\",\"value\":\"/d\"}],"
                "\"window\":{\"kind\":\"tumbling\",\"size_ms\":1000},"
                "\"aggregations\":[{\"fn\":\"max\",\"field\":\"content.size\"},"
                "{\"fn\":\"p50\",\"field\":\"metadata.user_id\"}]}"),
    };
    an_decoder_t *d = an_decoder_new();
    an_decoder_plan(d, qs, 2);
    const struct an_plan *p = an_decoder_get_plan(d);
    ck_assert(p->path);
    ck_assert(!p->tenant && !p->priority && !p->custom_type);
    ck_assert_uint_eq(p->n_content, 1); /* content.size once, though two queries read it */
    ck_assert_str_eq(p->content_keys[0], "size");
    ck_assert_uint_eq(p->n_metadata, 1);
    ck_assert_str_eq(p->metadata_keys[0], "user_id");
    an_decoder_plan(d, qs, 1); /* rebuilt when the queries change: b's path is gone */
    ck_assert(!p->path);
    an_decoder_plan(d, NULL, 0);
    ck_assert_uint_eq(p->n_content + p->n_metadata, 0);
    an_decoder_destroy(&d);
    an_query_destroy(&qs[0]);
    an_query_destroy(&qs[1]);
}
END_TEST

START_TEST(t_ordinary_event)
{
    struct s_ev x;
    s_event(&x);
    uint8_t buf[4096];
    s_same(buf, s_pack(&x.e, buf));
    /* a custom event's type reads as its custom_type */
    x.e.type = VEXFS__V1__EVENT_TYPE__CUSTOM;
    x.e.custom_type = (char *)"backup_done";
    s_same(buf, s_pack(&x.e, buf));
    /* absent and empty fields */
    x.e.n_content = 0;
    x.e.n_metadata = 1;
    x.e.path = (char *)"";
    x.e.tenant = (char *)"";
    x.e.priority = 0;
    s_same(buf, s_pack(&x.e, buf));
    /* a long path: the decoder's memory grows */
    char path[3001];
    memset(path, 'p', 3000);
    path[0] = '/';
    path[3000] = '\0';
    x.e.path = path;
    s_same(buf, s_pack(&x.e, buf));
    vexfs__v1__event__init(&x.e);
    s_same(buf, s_pack(&x.e, buf)); /* the empty message */
}
END_TEST

/* Two events packed back to back are one message to protobuf: singular fields take the last
 * value, map entries of both are kept in order (the first of a key is the one read). */
START_TEST(t_repeated_fields)
{
    struct s_ev a, b;
    s_event(&a);
    s_event(&b);
    b.e.path = (char *)"/other";
    b.e.timestamp_ns = 5;
    b.e.priority = 1;
    b.e.type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_DELETE;
    b.ce[0].value = (char *)"1"; /* a later content.size: the first entry is the one read */
    b.me[1].key = (char *)"tag2";
    uint8_t buf[8192];
    size_t n = s_pack(&a.e, buf);
    n += s_pack(&b.e, buf + n);
    s_same(buf, n);
}
END_TEST

START_TEST(t_odd_bytes)
{
    uint8_t buf[4096];
    size_t n = 0;
    /* a key with a NUL: "size\0x" reads as "size" in C, in both decodes */
    uint8_t entry[64];
    size_t el = vx_pb_bytes(entry, 1, "size\0x", 6);
    el += vx_pb_bytes(entry + el, 2, "12", 2);
    n += vx_pb_bytes(buf + n, 6, entry, el);
    /* an entry without a value, then one without a key */
    el = vx_pb_bytes(entry, 1, "k", 1);
    n += vx_pb_bytes(buf + n, 6, entry, el);
    el = vx_pb_bytes(entry, 2, "v", 1);
    n += vx_pb_bytes(buf + n, 7, entry, el);
    /* unknown fields of every wire type, also inside an entry */
    n += vx_pb_uint(buf + n, 40, 1ULL << 62);
    n += vx_pb_bytes(buf + n, 41, "xyz", 3);
    n += vx_pb_varint(buf + n, 42 << 3 | 1);
    memset(buf + n, 0xab, 8);
    n += 8;
    n += vx_pb_varint(buf + n, 43 << 3 | 5);
    memset(buf + n, 0xcd, 4);
    n += 4;
    el = vx_pb_uint(entry, 9, 3);
    el += vx_pb_bytes(entry + el, 1, "user_id", 7);
    el += vx_pb_bytes(entry + el, 2, "u9", 2);
    n += vx_pb_bytes(buf + n, 7, entry, el);
    /* numbers: a negative enum (10 bytes), a priority beyond 32 bits, the largest timestamp */
    n += vx_pb_uint(buf + n, 2, (uint64_t)-3);
    n += vx_pb_uint(buf + n, 9, (1ULL << 33) + 7);
    n += vx_pb_uint(buf + n, 4, UINT64_MAX);
    n += vx_pb_uint(buf + n, 14, 1);
    s_same(buf, n);
}
END_TEST

/* Malformed bytes are refused, as protobuf-c refuses them; only the insides of fields no query
 * reads are not checked (a broken causality). */
START_TEST(t_malformed)
{
    an_decoder_t *d = s_dec_all();
    vx_event_t ev;
    struct s_ev x;
    s_event(&x);
    uint8_t buf[4096];
    size_t n = s_pack(&x.e, buf);
    for (size_t cut = 1; cut < n; cut++) {
        vx_event_t *full = vexfs__v1__event__unpack(NULL, n - cut, buf);
        int rc = an_decoder_decode(d, buf, n - cut, &ev);
        if (full) {
            ck_assert_msg(rc == 0, "cut %zu: protobuf-c accepts, the decoder refuses", cut);
            vexfs__v1__event__free_unpacked(full, NULL);
        } else {
            /* Every cut here breaks a field the decoder reads or the top level. */
            ck_assert_msg(rc == -EPROTO, "cut %zu: protobuf-c refuses, the decoder gives %d",
                          cut, rc);
        }
    }
    static const uint8_t wrong_wire[] = {2 << 3 | 2, 1, 0};      /* type as bytes */
    static const uint8_t group[] = {20 << 3 | 3};                /* a group */
    static const uint8_t zero_field[] = {0 << 3 | 0, 1};          /* field 0 */
    static const uint8_t long_varint[] = {4 << 3, 0xff, 0xff, 0xff, 0xff, 0xff,
                                          0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    static const uint8_t long_tag[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0};
    static const uint8_t bad_entry[] = {6 << 3 | 2, 2, 1 << 3 | 0, 5}; /* key as a varint */
    static const uint8_t past_end[] = {5 << 3 | 2, 9, 'a'};
    const struct {
        const uint8_t *b;
        size_t n;
    } bad[] = {{wrong_wire, sizeof wrong_wire}, {group, sizeof group},
               {zero_field, sizeof zero_field}, {long_varint, sizeof long_varint},
               {long_tag, sizeof long_tag},     {bad_entry, sizeof bad_entry},
               {past_end, sizeof past_end}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(vexfs__v1__event__unpack(NULL, bad[i].n, bad[i].b) == NULL,
                      "case %zu: protobuf-c accepts it", i);
        ck_assert_int_eq(an_decoder_decode(d, bad[i].b, bad[i].n, &ev), -EPROTO);
    }
    /* causality (12) holding a field 1 with a varint where bytes belong */
    n = vx_pb_uint(buf, 4, 9);
    uint8_t inner[4];
    size_t il = vx_pb_uint(inner, 1, 3);
    n += vx_pb_bytes(buf + n, 12, inner, il);
    ck_assert_ptr_null(vexfs__v1__event__unpack(NULL, n, buf));
    ck_assert_int_eq(an_decoder_decode(d, buf, n, &ev), 0);
    ck_assert_uint_eq(ev.timestamp_ns, 9);
    an_decoder_destroy(&d);
}
END_TEST


static Suite *
s_suite(void)
{
    Suite *s = suite_create("an_decode");
    TCase *tc = tcase_create("decode");
    tcase_add_test(tc, t_plan);
    tcase_add_test(tc, t_ordinary_event);
    tcase_add_test(tc, t_repeated_fields);
    tcase_add_test(tc, t_odd_bytes);
    tcase_add_test(tc, t_malformed);
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
    return failed ? 1 : 0;
}
