/* SPDX-License-Identifier: Apache-2.0 */
/* an_offsets: which offset of a partition analytics may commit. The committable offset must
 * never pass a message an open window still needs (else a restart loses it from the window),
 * and must move on once windows close (else a restart replays without end). */
#include <check.h>
#include <stdint.h>

#include "an_offsets.h"

/* Consumes messages first..first+n-1, all with event time t, in runs of `run`. */
static void
s_consume(struct an_offsets *o, int64_t first, uint32_t n, uint32_t run, uint64_t t)
{
    for (uint32_t done = 0; done < n; done += run) {
        uint32_t k = n - done < run ? n - done : run;
        an_offsets_track(o, first + done, k, t);
    }
}

START_TEST(t_empty_commits_next)
{
    struct an_offsets o = {0};
    ck_assert_int_eq(an_offsets_safe(&o, 0, 42), 42);
    ck_assert_int_eq(an_offsets_safe(&o, UINT64_MAX, -1), -1);
    an_offsets_fini(&o);
}
END_TEST

START_TEST(t_open_window_holds_the_commit)
{
    struct an_offsets o = {0};
    /* Three blocks: times 100, 200, 300. */
    s_consume(&o, 0, AN_BLOCK_EVENTS, 100, 100);
    s_consume(&o, AN_BLOCK_EVENTS, AN_BLOCK_EVENTS, 100, 200);
    s_consume(&o, 2 * AN_BLOCK_EVENTS, AN_BLOCK_EVENTS, 100, 300);
    int64_t next = 3 * AN_BLOCK_EVENTS;
    ck_assert_uint_eq(an_offsets_blocks(&o), 3);
    /* A window open since time 100 needs the first block: commit at 0. */
    ck_assert_int_eq(an_offsets_safe(&o, 100, next), 0);
    ck_assert_uint_eq(an_offsets_blocks(&o), 3);
    /* Windows before 150 closed: the first block is done with. */
    ck_assert_int_eq(an_offsets_safe(&o, 150, next), AN_BLOCK_EVENTS);
    ck_assert_uint_eq(an_offsets_blocks(&o), 2);
    /* The low time never goes back, and an earlier low changes nothing now. */
    ck_assert_int_eq(an_offsets_safe(&o, 0, next), AN_BLOCK_EVENTS);
    /* Everything closed: commit after the last message. */
    ck_assert_int_eq(an_offsets_safe(&o, 301, next), next);
    ck_assert_uint_eq(an_offsets_blocks(&o), 0);
    an_offsets_fini(&o);
}
END_TEST

START_TEST(t_block_keeps_its_newest_time)
{
    struct an_offsets o = {0};
    /* One block whose events go back in time: its newest (500) decides. */
    an_offsets_track(&o, 10, 1, 500);
    an_offsets_track(&o, 11, 1, 50);
    ck_assert_uint_eq(an_offsets_blocks(&o), 1);
    ck_assert_int_eq(an_offsets_safe(&o, 400, 12), 10);
    ck_assert_int_eq(an_offsets_safe(&o, 501, 12), 12);
    an_offsets_fini(&o);
}
END_TEST

START_TEST(t_ring_grows_and_wraps)
{
    struct an_offsets o = {0};
    int64_t off = 0;
    uint64_t t = 1;
    /* Fill and drain over and over so the ring wraps and grows past its 16 first blocks;
     * the committable offset is always the first offset of the oldest live block. */
    for (int round = 0; round < 5; round++) {
        int64_t round_start = off;
        for (int b = 0; b < 40; b++, t++) {
            s_consume(&o, off, AN_BLOCK_EVENTS, 256, t);
            off += AN_BLOCK_EVENTS;
        }
        ck_assert_uint_eq(an_offsets_blocks(&o), 40);
        ck_assert_int_eq(an_offsets_safe(&o, t - 40, off), round_start);
        /* Half the blocks done with. */
        ck_assert_int_eq(an_offsets_safe(&o, t - 20, off), round_start + 20 * AN_BLOCK_EVENTS);
        ck_assert_uint_eq(an_offsets_blocks(&o), 20);
        ck_assert_int_eq(an_offsets_safe(&o, t, off), off);
        ck_assert_uint_eq(an_offsets_blocks(&o), 0);
    }
    an_offsets_fini(&o);
    ck_assert_ptr_null(o.blocks);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("an_offsets");
    TCase *tc = tcase_create("offsets");
    tcase_add_test(tc, t_empty_commits_next);
    tcase_add_test(tc, t_open_window_holds_the_commit);
    tcase_add_test(tc, t_block_keeps_its_newest_time);
    tcase_add_test(tc, t_ring_grows_and_wraps);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
