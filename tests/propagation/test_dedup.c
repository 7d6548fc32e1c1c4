/* SPDX-License-Identifier: Apache-2.0 */
/* prop_dedup: window edges, bounded memory, eviction, deletion keeping probe chains intact. */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "prop_dedup.h"
#include "prop_dedup_store.h"

#define MS 1000000ULL

START_TEST(t_window_edges)
{
    prop_dedup_t *d = prop_dedup_new(100, 100 * MS);
    ck_assert(!prop_dedup_check(d, 42, 1000 * MS));       /* first sight */
    ck_assert(prop_dedup_check(d, 42, 1000 * MS));        /* same instant */
    ck_assert(prop_dedup_check(d, 42, 1099 * MS));        /* inside the window */
    ck_assert(prop_dedup_check(d, 42, 1100 * MS - 1));    /* one ns before its end */
    ck_assert(!prop_dedup_check(d, 42, 1100 * MS));       /* exactly at the end: new */
    ck_assert(prop_dedup_check(d, 42, 1150 * MS));        /* the new window started at 1100 */
    ck_assert(!prop_dedup_check(d, 42, 1200 * MS));
    prop_dedup_destroy(&d);
    ck_assert_ptr_null(d);
}
END_TEST

START_TEST(t_duplicate_does_not_extend_window)
{
    prop_dedup_t *d = prop_dedup_new(100, 100 * MS);
    ck_assert(!prop_dedup_check(d, 7, 0 + 1));
    ck_assert(prop_dedup_check(d, 7, 90 * MS));
    ck_assert(!prop_dedup_check(d, 7, 100 * MS + 1));
    prop_dedup_destroy(&d);
}
END_TEST

START_TEST(t_bounded_with_evictions)
{
    prop_dedup_t *d = prop_dedup_new(64, 1000000 * MS);
    for (uint64_t h = 1; h <= 1000; h++) {
        ck_assert(!prop_dedup_check(d, h * 0x9e3779b97f4a7c15ULL, 1));
        ck_assert_uint_le(prop_dedup_size(d), 64);
    }
    ck_assert_uint_eq(prop_dedup_size(d), 64);
    ck_assert_uint_eq(prop_dedup_evictions(d), 1000 - 64);
    /* The 64 most recent are remembered, older ones were forgotten. */
    for (uint64_t h = 937; h <= 1000; h++) {
        ck_assert_msg(prop_dedup_check(d, h * 0x9e3779b97f4a7c15ULL, 2), "hash %llu forgotten",
                      (unsigned long long)h);
    }
    ck_assert(!prop_dedup_check(d, 1 * 0x9e3779b97f4a7c15ULL, 2));
    prop_dedup_destroy(&d);
}
END_TEST

START_TEST(t_colliding_slots_survive_expiry)
{
    /* Hashes that land in the same table slot form one probe chain; expiring the first must
     * not hide the others. Table of 16 slots: hashes differing only above bit 40 collide
     * (s_index folds bits 29.. in, so keep those equal too). */
    prop_dedup_t *d = prop_dedup_new(8, 100 * MS);
    uint64_t a = 5, b = 5 | (1ULL << 60), c = 5 | (1ULL << 61);
    ck_assert(!prop_dedup_check(d, a, 0));
    ck_assert(!prop_dedup_check(d, b, 50 * MS));
    ck_assert(!prop_dedup_check(d, c, 60 * MS));
    /* a expires at 100 ms; b and c must still be found. */
    ck_assert(prop_dedup_check(d, b, 120 * MS));
    ck_assert(prop_dedup_check(d, c, 120 * MS));
    ck_assert(!prop_dedup_check(d, a, 120 * MS));
    ck_assert_uint_eq(prop_dedup_size(d), 3);
    prop_dedup_destroy(&d);
}
END_TEST

START_TEST(t_window_change)
{
    prop_dedup_t *d = prop_dedup_new(16, 1000 * MS);
    ck_assert(!prop_dedup_check(d, 9, 0));
    prop_dedup_set_window(d, 10 * MS);
    ck_assert(!prop_dedup_check(d, 9, 20 * MS));
    ck_assert(prop_dedup_check(d, 9, 25 * MS));
    prop_dedup_destroy(&d);
}
END_TEST

START_TEST(t_matches_reference_model)
{
    /* A long run with expiry and reinsertion against a plain array model of the same rule:
     * a hash is a duplicate while now - start < window, where start is when its current window
     * began. Capacity exceeds what one window holds, so nothing is evicted. */
    enum { N = 4096, WINDOW = 50 };
    prop_dedup_t *d = prop_dedup_new(1024, WINDOW);
    static uint64_t start[N + 1];
    static bool seen[N + 1];
    uint64_t x = 88172645463325252ULL;
    for (uint64_t now = 1; now < 300000; now++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t h = (x % N) + 1;
        bool expect = seen[h] && now - start[h] < WINDOW;
        if (!expect) {
            seen[h] = true;
            start[h] = now;
        }
        bool got = prop_dedup_check(d, h, now);
        ck_assert_msg(got == expect, "hash %llu at %llu: expected %s, got %s",
                      (unsigned long long)h, (unsigned long long)now,
                      expect ? "duplicate" : "new", got ? "duplicate" : "new");
        ck_assert_uint_le(prop_dedup_size(d), 1024);
    }
    ck_assert_uint_eq(prop_dedup_evictions(d), 0);
    prop_dedup_destroy(&d);
}
END_TEST

/* The state file keeps each hash with its age: restored at a later wall-clock time, the ages
 * grew by the time that passed, so what expired meanwhile is left out and the rest expires
 * when it would have. */
START_TEST(t_file_round_trip_ages)
{
    const uint64_t s = 1000000000ull;
    prop_dedup_t *a = prop_dedup_new(100, 10 * s);
    ck_assert(!prop_dedup_check(a, 11, 100 * s)); /* age 5 s at 105 */
    ck_assert(!prop_dedup_check(a, 22, 103 * s)); /* age 2 s */
    ck_assert(!prop_dedup_check(a, 33, 104 * s)); /* age 1 s, then forgotten */
    prop_dedup_forget(a, 33, 104 * s);
    uint8_t *buf;
    size_t len;
    prop_dedup_encode(a, 105 * s, 1000 * s, &buf, &len);
    ck_assert_uint_eq(len, 24 + 2 * 16);
    /* 6 s later on the wall clock, on a fresh monotonic clock: 11 is 11 s old (gone), 22 is
     * 8 s old (kept: a duplicate for 2 s more), 33 was never written. */
    prop_dedup_t *b = prop_dedup_new(100, 10 * s);
    char err[128];
    ck_assert_int_eq(prop_dedup_decode(b, buf, len, 50 * s, 1006 * s, err, sizeof err), 1);
    ck_assert(prop_dedup_check(b, 22, 51 * s));
    ck_assert(!prop_dedup_check(b, 11, 50 * s));
    ck_assert(!prop_dedup_check(b, 33, 50 * s));
    ck_assert(!prop_dedup_check(b, 22, 52 * s)); /* 10 s after it was first seen: new again */
    /* A truncated file and a foreign one are refused and change nothing. */
    prop_dedup_t *c = prop_dedup_new(100, 10 * s);
    ck_assert_int_eq(prop_dedup_decode(c, buf, len - 1, 50 * s, 1006 * s, err, sizeof err),
                     -EPROTO);
    ck_assert_ptr_nonnull(strstr(err, "entries"));
    ck_assert_int_eq(prop_dedup_decode(c, (const uint8_t *)"garbage", 7, 50 * s, 1006 * s, err,
                                       sizeof err),
                     -EPROTO);
    ck_assert_ptr_nonnull(strstr(err, "VXDEDUP1"));
    ck_assert_uint_eq(prop_dedup_size(c), 0);
    free(buf);
    prop_dedup_destroy(&a);
    prop_dedup_destroy(&b);
    prop_dedup_destroy(&c);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("dedup");
    TCase *tc = tcase_create("window");
    tcase_add_test(tc, t_window_edges);
    tcase_add_test(tc, t_duplicate_does_not_extend_window);
    tcase_add_test(tc, t_window_change);
    tcase_add_test(tc, t_file_round_trip_ages);
    suite_add_tcase(s, tc);
    tc = tcase_create("memory");
    tcase_add_test(tc, t_bounded_with_evictions);
    tcase_add_test(tc, t_colliding_slots_survive_expiry);
    tcase_add_test(tc, t_matches_reference_model);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
