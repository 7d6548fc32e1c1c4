/* SPDX-License-Identifier: Apache-2.0 */
/* Vector clocks kept bounded in the state machine: names vclock_nodes does not list are folded
 * into one entry (the sum of their counters), an event that would give its key more producer
 * entries than vclock_max_entries is refused and changes nothing (not even its id, so a retry
 * with a smaller clock is judged again), the REST pre-check says the same before anything is
 * proposed, and the flood of the issue (400 writes of 256 invented names each) leaves the key
 * with at most the cap. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_fsm.h"
#include "coord_vclock.h"
#include "vx_arena.h"
#include "vx_event.h"

static coord_fsm_t *
s_fsm(const char *nodes, size_t max)
{
    struct coord_fsm_opts o = {.log_memory = 1024, .vclock_nodes = nodes,
                               .vclock_max_entries = max};
    char err[128];
    ck_assert_int_eq(coord_strategies_parse(&o.strategies, "", "last_writer_wins", err,
                                            sizeof err),
                     0);
    return coord_fsm_new(&o);
}

/* One event for path with id number idn and a clock of n names prefix0..prefix{n-1}, each at
 * counter c; decoded into arena a. */
static vx_event_t *
s_event(vx_arena_t *a, const char *path, unsigned idn, const char *prefix, size_t n,
        unsigned c)
{
    json_t *clock = json_object();
    for (size_t i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s%zu", prefix, i);
        json_object_set_new(clock, name, json_integer(c));
    }
    char id[40];
    snprintf(id, sizeof id, "00000000-0000-7000-8000-%012x", idn);
    json_t *j = json_pack("{s:s, s:s, s:s, s:{s:s}, s:{s:o}}", "id", id, "type",
                          "filesystem_write", "path", path, "content", "v", "x", "causality",
                          "vector_clock", clock);
    vx_event_t *e = NULL;
    char err[256];
    enum vx_drop_reason reason = VX_DROP_N;
    ck_assert_msg(vx_event_from_json(j, a, &e, err, sizeof err, &reason) == 0, "%s", err);
    json_decref(j);
    return e;
}

/* Applies one EVENTS entry holding the event; returns its result. */
static const struct coord_apply_result *
s_apply(coord_fsm_t *f, uint64_t index, vx_event_t *e)
{
    vx_batch_t b = VEXFS__V1__EVENT_BATCH__INIT;
    b.events = &e;
    b.n_events = 1;
    size_t len = vexfs__v1__event_batch__get_packed_size(&b);
    uint8_t *entry = calloc(1, COORD_ENTRY_HDR + len);
    coord_entry_header(entry, COORD_ENTRY_EVENTS, 1, len);
    vexfs__v1__event_batch__pack(&b, entry + COORD_ENTRY_HDR);
    const struct coord_apply_results *r = coord_fsm_apply(f, entry, COORD_ENTRY_HDR + len, index);
    free(entry);
    ck_assert_uint_eq(r->n, 1);
    return &r->r[0];
}

/* The key's clock as JSON (a new reference) and its producer entries (not node-<id>). */
static json_t *
s_clock(coord_fsm_t *f, const char *key, size_t *producer)
{
    json_t *k = coord_fsm_key(f, key);
    ck_assert_ptr_nonnull(k);
    json_t *c = json_incref(json_object_get(k, "vector_clock"));
    ck_assert_ptr_nonnull(c);
    json_decref(k);
    *producer = 0;
    const char *name;
    json_t *v;
    json_object_foreach(c, name, v) {
        *producer += strncmp(name, "node-", 5) != 0;
    }
    return c;
}

START_TEST(t_fold_unlisted_names)
{
    coord_fsm_t *f = s_fsm("app-*,fixed", 16);
    vx_arena_t *a = vx_arena_new(4096, 1 << 20);
    /* app-0, app-1 kept; x0..x2 (counters 5 each) folded into one entry of 15. */
    vx_event_t *e = s_event(a, "/k", 1, "app-", 2, 3);
    vx_event_t *e2 = s_event(a, "/k", 2, "x", 3, 5);
    ck_assert_int_eq(s_apply(f, 1, e)->status, 0);
    const struct coord_apply_result *r = s_apply(f, 2, e2);
    ck_assert_int_eq(r->status, 0);
    ck_assert_uint_eq(r->accepted, 1);
    size_t producer;
    json_t *c = s_clock(f, "/k", &producer);
    ck_assert_int_eq(json_integer_value(json_object_get(c, "app-0")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(c, COORD_VCLOCK_FOLDED)), 15);
    ck_assert_ptr_null(json_object_get(c, "x0"));
    ck_assert_uint_eq(producer, 3);
    json_decref(c);
    /* A producer's node-<id> entries are the cluster's: dropped. */
    vx_event_t *e3 = s_event(a, "/k", 3, "node-", 4, 9);
    ck_assert_int_eq(s_apply(f, 3, e3)->status, 0);
    c = s_clock(f, "/k", &producer);
    ck_assert_ptr_null(json_object_get(c, "node-0"));
    ck_assert_ptr_nonnull(json_object_get(c, "node-1")); /* the cluster's own stamp */
    json_decref(c);
    vx_arena_destroy(&a);
    coord_fsm_destroy(&f);
}
END_TEST

START_TEST(t_cap_refuses_and_changes_nothing)
{
    coord_fsm_t *f = s_fsm("*", 4);
    vx_arena_t *a = vx_arena_new(4096, 1 << 20);
    ck_assert_int_eq(s_apply(f, 1, s_event(a, "/k", 1, "a", 3, 1))->status, 0);
    json_t *before = coord_fsm_stats(f);
    long long rev = json_integer_value(json_object_get(before, "revision"));
    json_decref(before);
    /* Two new names would make five producer entries: refused, nothing applied. */
    vx_event_t *big = s_event(a, "/k", 2, "b", 2, 1);
    char err[400];
    ck_assert_int_eq(coord_fsm_clock_check(f, &big, 1, err, sizeof err), -E2BIG);
    ck_assert_msg(strstr(err, "'/k'") && strstr(err, "vclock_max_entries (4)"), "%s", err);
    const struct coord_apply_result *r = s_apply(f, 2, big);
    ck_assert_int_eq(r->status, -E2BIG);
    ck_assert_uint_eq(r->refused, 1);
    ck_assert_uint_eq(r->accepted, 0);
    ck_assert_msg(strstr(r->message, "vclock_max_entries (4)"), "%s", r->message);
    json_t *after = coord_fsm_stats(f);
    ck_assert_int_eq(json_integer_value(json_object_get(after, "revision")), rev);
    ck_assert_int_eq(json_integer_value(json_object_get(after, "events")), 1);
    json_decref(after);
    /* The same id with a clock that fits is judged again, and accepted. */
    vx_event_t *fits = s_event(a, "/k", 2, "b", 1, 1);
    ck_assert_int_eq(coord_fsm_clock_check(f, &fits, 1, err, sizeof err), 0);
    r = s_apply(f, 3, fits);
    ck_assert_int_eq(r->status, 0);
    ck_assert_uint_eq(r->accepted, 1);
    /* Another key starts from nothing: its own budget. */
    ck_assert_int_eq(s_apply(f, 4, s_event(a, "/other", 3, "z", 4, 1))->status, 0);
    vx_arena_destroy(&a);
    coord_fsm_destroy(&f);
}
END_TEST

START_TEST(t_flood_bounded)
{
    /* The flood: 400 writes of 256 invented names each to one key. */
    coord_fsm_t *f = s_fsm("*", 64);
    coord_fsm_t *folding = s_fsm("app-*", 64);
    size_t refused = 0, accepted = 0;
    for (unsigned w = 0; w < 400; w++) {
        vx_arena_t *a = vx_arena_new(64 * 1024, 16 << 20);
        char prefix[32];
        snprintf(prefix, sizeof prefix, "invented-%u-", w);
        vx_event_t *e = s_event(a, "/flood", w + 1, prefix, 256, 1);
        const struct coord_apply_result *r = s_apply(f, w + 1, e);
        refused += r->refused;
        ck_assert_int_eq(s_apply(folding, w + 1, e)->status, 0);
        accepted++;
        vx_arena_destroy(&a);
    }
    ck_assert_uint_eq(refused, 400); /* each one alone is over the cap */
    ck_assert_ptr_null(coord_fsm_key(f, "/flood"));
    size_t producer;
    json_t *c = s_clock(folding, "/flood", &producer);
    ck_assert_uint_eq(producer, 1); /* everything folded into one entry */
    ck_assert_int_eq(json_integer_value(json_object_get(c, COORD_VCLOCK_FOLDED)), 256);
    json_decref(c);
    ck_assert_uint_eq(accepted, 400);
    coord_fsm_destroy(&f);
    coord_fsm_destroy(&folding);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("coordinator_clock");
    TCase *tc = tcase_create("bounds");
    tcase_add_test(tc, t_fold_unlisted_names);
    tcase_add_test(tc, t_cap_refuses_and_changes_nothing);
    tcase_add_test(tc, t_flood_bounded);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
