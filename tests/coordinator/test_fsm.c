/* SPDX-License-Identifier: Apache-2.0 */
/* The replicated state machine on its own: group entries (a result per part), conditional
 * writes on revision, content, absence and existence (a refused one records nothing, so a
 * retry is judged again), deduplication, revisions, snapshots that restore to the same state
 * (and a version 2 JSON snapshot still read), and refusals of damaged entries and snapshots
 * that leave the state empty rather than half-restored. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_fsm.h"
#include "vx_arena.h"
#include "vx_event.h"

struct s_part {
    int kind;
    uint8_t *data;
    size_t len;
};

static coord_fsm_t *
s_fsm(size_t log_memory)
{
    struct coord_fsm_opts o = {.log_memory = log_memory};
    char err[128];
    ck_assert_int_eq(coord_strategies_parse(&o.strategies, "", "last_writer_wins", err,
                                            sizeof err),
                     0);
    return coord_fsm_new(&o);
}

/* A packed batch of one event writing {"v": value} to path, with event id number idn. */
static uint8_t *
s_batch(const char *path, const char *value, unsigned idn, size_t *len)
{
    vx_arena_t *a = vx_arena_new(4096, 1 << 20);
    char json[512];
    snprintf(json, sizeof json,
             "{\"id\":\"00000000-0000-7000-8000-%012x\",\"type\":\"filesystem_write\","
             "\"path\":\"%s\",\"content\":{\"v\":\"%s\"}}",
             idn, path, value);
    json_error_t jerr;
    json_t *j = json_loads(json, 0, &jerr);
    vx_event_t *e = NULL;
    char err[256];
    enum vx_drop_reason reason = VX_DROP_N;
    ck_assert_int_eq(vx_event_from_json(j, a, &e, err, sizeof err, &reason), 0);
    vx_batch_t b = VEXFS__V1__EVENT_BATCH__INIT;
    b.events = &e;
    b.n_events = 1;
    *len = vexfs__v1__event_batch__get_packed_size(&b);
    uint8_t *out = malloc(*len);
    vexfs__v1__event_batch__pack(&b, out);
    json_decref(j);
    vx_arena_destroy(&a);
    return out;
}

static struct s_part
s_write(const char *path, const char *value, unsigned idn)
{
    struct s_part p = {.kind = COORD_ENTRY_EVENTS};
    p.data = s_batch(path, value, idn, &p.len);
    return p;
}

static struct s_part
s_cas(const struct coord_cond *c, const char *path, const char *value, unsigned idn)
{
    size_t blen;
    uint8_t *batch = s_batch(path, value, idn, &blen);
    struct s_part p = {.kind = COORD_ENTRY_CAS};
    p.data = coord_cas_payload(c, batch, blen, &p.len);
    free(batch);
    return p;
}

/* Applies one group entry of the parts (which it frees) at index. */
static const struct coord_apply_results *
s_apply(coord_fsm_t *f, uint64_t index, struct s_part *parts, size_t n)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        bytes += coord_part_size(parts[i].len);
    }
    uint8_t *e = calloc(1, COORD_ENTRY_HDR + bytes);
    coord_entry_header(e, COORD_ENTRY_GROUP, 1, bytes);
    uint8_t *p = e + COORD_ENTRY_HDR;
    for (size_t i = 0; i < n; i++) {
        coord_part_write(p, parts[i].kind, parts[i].data, parts[i].len);
        p += coord_part_size(parts[i].len);
        free(parts[i].data);
    }
    const struct coord_apply_results *r = coord_fsm_apply(f, e, COORD_ENTRY_HDR + bytes, index);
    free(e);
    return r;
}

static const char *
s_value(coord_fsm_t *f, const char *key, long long *rev)
{
    static char out[64];
    json_t *k = coord_fsm_key(f, key);
    if (!k) {
        *rev = 0;
        return NULL;
    }
    *rev = json_integer_value(json_object_get(k, "revision"));
    const char *v = json_string_value(json_object_get(
        json_object_get(json_object_get(json_object_get(k, "register"), "value"), "content"),
        "v"));
    snprintf(out, sizeof out, "%s", v ? v : "");
    json_decref(k);
    return out;
}

START_TEST(t_group_parts_and_conditions)
{
    coord_fsm_t *f = s_fsm(100);
    struct coord_cond absent = {.type = COORD_IF_ABSENT};
    struct s_part p1[] = {s_write("/a", "1", 1), s_cas(&absent, "/b", "x", 2),
                          s_cas(&absent, "/a", "2", 3)};
    const struct coord_apply_results *r = s_apply(f, 5, p1, 3);
    ck_assert_uint_eq(r->n, 3);
    ck_assert_int_eq(r->r[0].status, 0);
    ck_assert_uint_eq(r->r[0].accepted, 1);
    ck_assert_uint_eq(r->r[0].revision, 1);
    ck_assert_int_eq(r->r[1].status, 0);
    ck_assert_uint_eq(r->r[1].revision, 2);
    ck_assert_int_eq(r->r[2].status, -ECANCELED);
    ck_assert_ptr_nonnull(r->r[2].current); /* /a's state when checked */
    ck_assert_int_eq(json_integer_value(json_object_get(r->r[2].current, "revision")), 1);
    long long rev;
    ck_assert_str_eq(s_value(f, "/a", &rev), "1");
    ck_assert_int_eq(rev, 1);

    /* On the revision: the stale one is refused, the current one taken. */
    struct coord_cond stale = {.type = COORD_IF_REVISION, .revision = 7};
    struct coord_cond fresh = {.type = COORD_IF_REVISION, .revision = 1};
    struct s_part p2[] = {s_cas(&stale, "/a", "3", 4), s_cas(&fresh, "/a", "4", 5)};
    r = s_apply(f, 6, p2, 2);
    ck_assert_int_eq(r->r[0].status, -ECANCELED);
    ck_assert_int_eq(r->r[1].status, 0);
    ck_assert_str_eq(s_value(f, "/a", &rev), "4");
    ck_assert_int_eq(rev, 3);

    /* The refused write's id was not recorded: a retry is judged again and now holds. */
    struct coord_cond now = {.type = COORD_IF_REVISION, .revision = 3};
    struct s_part p3[] = {s_cas(&now, "/a", "3", 4)};
    r = s_apply(f, 7, p3, 1);
    ck_assert_int_eq(r->r[0].status, 0);
    ck_assert_uint_eq(r->r[0].accepted, 1);
    /* A retry of a write that took effect is a duplicate, whatever the condition says. */
    struct s_part p4[] = {s_cas(&now, "/a", "3", 4)};
    r = s_apply(f, 8, p4, 1);
    ck_assert_int_eq(r->r[0].status, 0);
    ck_assert_uint_eq(r->r[0].duplicates, 1);

    /* On the content, and on existence. */
    const char *want = "{\"v\":\"3\"}";
    struct coord_cond byval = {.type = COORD_IF_VALUE, .value = want, .value_len = strlen(want)};
    struct coord_cond exists = {.type = COORD_IF_EXISTS};
    struct s_part p5[] = {s_cas(&byval, "/a", "5", 6), s_cas(&byval, "/a", "6", 7),
                          s_cas(&exists, "/nope", "1", 8)};
    r = s_apply(f, 9, p5, 3);
    ck_assert_int_eq(r->r[0].status, 0);
    ck_assert_int_eq(r->r[1].status, -ECANCELED);
    ck_assert_int_eq(r->r[2].status, -ECANCELED);
    ck_assert_ptr_null(r->r[2].current);
    ck_assert_str_eq(s_value(f, "/a", &rev), "5");
    ck_assert_ptr_null(s_value(f, "/nope", &rev));
    ck_assert_uint_eq(coord_fsm_revision(f), 5);
    coord_fsm_destroy(&f);
}
END_TEST

START_TEST(t_damaged_entries)
{
    coord_fsm_t *f = s_fsm(100);
    /* A part whose length runs past the entry: refused with the parts after it. */
    struct s_part p[] = {s_write("/a", "1", 1)};
    size_t bytes = coord_part_size(p[0].len);
    uint8_t *e = calloc(1, COORD_ENTRY_HDR + bytes);
    coord_entry_header(e, COORD_ENTRY_GROUP, 1, bytes);
    coord_part_write(e + COORD_ENTRY_HDR, p[0].kind, p[0].data, p[0].len);
    e[COORD_ENTRY_HDR + 4] = 0xff; /* length low byte */
    e[COORD_ENTRY_HDR + 6] = 0x10;
    const struct coord_apply_results *r = coord_fsm_apply(f, e, COORD_ENTRY_HDR + bytes, 3);
    ck_assert_uint_eq(r->n, 1);
    ck_assert_int_eq(r->r[0].status, -EPROTO);
    ck_assert_ptr_nonnull(strstr(r->r[0].message, "overruns"));
    /* Not an entry at all; a CAS part too short for its condition. */
    r = coord_fsm_apply(f, "garbage", 7, 4);
    ck_assert_int_eq(r->r[0].status, -EPROTO);
    uint8_t cas[COORD_ENTRY_HDR + 8 + 8] = {0};
    coord_entry_header(cas, COORD_ENTRY_GROUP, 1, 16);
    coord_part_write(cas + COORD_ENTRY_HDR, COORD_ENTRY_CAS, "\x01\0\0\0\0\0\0\0", 8);
    r = coord_fsm_apply(f, cas, sizeof cas, 5);
    ck_assert_int_eq(r->r[0].status, -EPROTO);
    ck_assert_uint_eq(coord_fsm_events(f), 0);
    free(e);
    free(p[0].data);
    coord_fsm_destroy(&f);
}
END_TEST

static char *
s_dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return s;
}

/* Everything a reader can see of the state, as one string. */
static char *
s_view(coord_fsm_t *f)
{
    json_t *all = json_pack("{s:o, s:o, s:o, s:o}", "log", coord_fsm_log(f, 1, 1000), "stats",
                            coord_fsm_stats(f), "a", coord_fsm_key(f, "/a") ?: json_null(), "k7",
                            coord_fsm_key(f, "/k7") ?: json_null());
    return s_dump(all);
}

START_TEST(t_snapshot_round_trip)
{
    coord_fsm_t *f = s_fsm(50); /* fewer than the events: the window is cut */
    uint64_t index = 1;
    for (unsigned i = 1; i <= 80; i++) {
        char key[16], v[16];
        snprintf(key, sizeof key, "/k%u", i % 10);
        snprintf(v, sizeof v, "%u", i);
        struct s_part p[] = {s_write(key, v, i)};
        s_apply(f, ++index, p, 1);
    }
    struct coord_cond absent = {.type = COORD_IF_ABSENT};
    struct s_part p[] = {s_cas(&absent, "/a", "x", 1000)};
    s_apply(f, ++index, p, 1);
    void *data;
    size_t len;
    ck_assert_int_eq(coord_fsm_snapshot(f, &data, &len), 0);
    ck_assert_int_eq(memcmp(data, "VCS\x03", 4), 0);
    coord_fsm_t *g = s_fsm(50);
    ck_assert_int_eq(coord_fsm_restore(g, data, len), 0);
    char *a = s_view(f), *b = s_view(g);
    ck_assert_str_eq(a, b);
    free(a);
    free(b);
    /* Deduplication survives: a repeated id is a duplicate on the restored state. */
    struct s_part again[] = {s_write("/k0", "80", 80)};
    ck_assert_uint_eq(s_apply(g, ++index, again, 1)->r[0].duplicates, 1);
    /* Any cut of the snapshot is refused, and leaves nothing behind. */
    for (size_t cut = 0; cut < len; cut += 97) {
        ck_assert_int_eq(coord_fsm_restore(g, data, cut), -EPROTO);
        ck_assert_uint_eq(coord_fsm_events(g), 0);
    }
    free(data);
    coord_fsm_destroy(&f);
    coord_fsm_destroy(&g);
}
END_TEST

/* A snapshot written by the previous version (one JSON document) is still read. */
START_TEST(t_snapshot_version_2)
{
    const char *v2 =
        "{\"v\":2,\"revision\":1,\"n_events\":1,\"last_index\":3,\"conflict_seq\":0,"
        "\"resolved\":0,\"stale\":0,\"counts\":[0,0,0],\"cluster\":{\"node-1\":1},\"cur\":0,"
        "\"ids\":[\"000000000000700080000000000000aa\",\"\"],"
        "\"log\":[[1,3,1,\"000000000000700080000000000000aa\",3,\"/a\",\"{\\\"node-1\\\":1}\","
        "\"first\"]],"
        "\"keys\":[{\"path\":\"/a\",\"reg\":{\"clock\":{\"node-1\":1},\"node\":1,"
        "\"event_id\":\"00000000-0000-7000-8000-0000000000aa\",\"value\":{\"content\":"
        "{\"v\":\"1\"}}},\"clock\":{\"node-1\":1},\"tags\":{\"adds\":[],\"removed\":[]},"
        "\"counters\":{},\"events\":1,\"last_seq\":1,\"open\":0,\"rev\":1}],"
        "\"conflicts\":[],\"ring_n\":1}";
    coord_fsm_t *f = s_fsm(50);
    ck_assert_int_eq(coord_fsm_restore(f, v2, strlen(v2)), 0);
    long long rev;
    ck_assert_str_eq(s_value(f, "/a", &rev), "1");
    ck_assert_int_eq(rev, 1);
    json_t *log = coord_fsm_log(f, 1, 10);
    json_t *e = json_array_get(json_object_get(log, "events"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(e, "path")), "/a");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(e, "vector_clock"),
                                                        "node-1")),
                     1);
    json_decref(log);
    coord_fsm_destroy(&f);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("coordinator_fsm");
    TCase *tc = tcase_create("apply");
    tcase_add_test(tc, t_group_parts_and_conditions);
    tcase_add_test(tc, t_damaged_entries);
    suite_add_tcase(s, tc);
    tc = tcase_create("snapshot");
    tcase_add_test(tc, t_snapshot_round_trip);
    tcase_add_test(tc, t_snapshot_version_2);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
