/* SPDX-License-Identifier: Apache-2.0 */
/* vx_arena: alignment, the limit (and its report), large one-off blocks, reset keeping one
 * chunk, and protobuf-c unpacking into it. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vx_arena.h"
#include "vx_event.h"

START_TEST(t_alignment_and_use)
{
    vx_arena_t *a = vx_arena_new(1024, 0);
    for (size_t n = 1; n < 100; n += 7) {
        void *p = vx_arena_alloc(a, n);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq((uintptr_t)p % 16, 0);
        memset(p, 0x5a, n);
    }
    ck_assert_uint_gt(vx_arena_used(a), 0);
    char *s = vx_arena_strndup(a, "abcdef", 3);
    ck_assert_str_eq(s, "abc");
    vx_arena_reset(a);
    ck_assert_uint_eq(vx_arena_used(a), 0);
    vx_arena_destroy(&a);
    ck_assert_ptr_null(a);
    vx_arena_destroy(&a); /* NULL is accepted */
}
END_TEST

START_TEST(t_limit)
{
    vx_arena_t *a = vx_arena_new(256, 1000);
    ck_assert(!vx_arena_refused(a));
    ck_assert_ptr_nonnull(vx_arena_alloc(a, 900));
    ck_assert_ptr_null(vx_arena_alloc(a, 200));
    ck_assert(vx_arena_refused(a));
    ck_assert_ptr_null(vx_arena_strndup(a, "x", 200));
    /* Sizes that would wrap are refused, not rounded into small blocks. */
    ck_assert_ptr_null(vx_arena_alloc(a, SIZE_MAX));
    ck_assert_ptr_null(vx_arena_alloc(a, SIZE_MAX - 8));
    vx_arena_reset(a);
    ck_assert(!vx_arena_refused(a));
    ck_assert_ptr_nonnull(vx_arena_alloc(a, 200));
    vx_arena_destroy(&a);
}
END_TEST

START_TEST(t_large_blocks)
{
    vx_arena_t *a = vx_arena_new(256, 0);
    char *small = vx_arena_alloc(a, 16);
    strcpy(small, "keep");
    char *big = vx_arena_alloc(a, 10000); /* its own block; the small chunk stays current */
    memset(big, 1, 10000);
    char *after = vx_arena_alloc(a, 16);
    ck_assert_ptr_nonnull(after);
    ck_assert_str_eq(small, "keep");
    ck_assert_uint_ge(vx_arena_used(a), 10032);
    for (int round = 0; round < 100; round++) {
        vx_arena_reset(a);
        ck_assert_ptr_nonnull(vx_arena_alloc(a, 100000));
    }
    vx_arena_destroy(&a); /* LeakSanitizer: every block freed */
}
END_TEST

START_TEST(t_protobuf_unpack)
{
    vx_event_t e = VEXFS__V1__EVENT__INIT;
    e.type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE;
    e.path = (char *)"/a/b";
    uint8_t buf[64];
    size_t len = vexfs__v1__event__pack(&e, buf);
    vx_arena_t *a = vx_arena_new(4096, 0);
    vx_event_t *got = vexfs__v1__event__unpack(vx_arena_pb(a), len, buf);
    ck_assert_ptr_nonnull(got);
    ck_assert_str_eq(got->path, "/a/b");
    vx_arena_reset(a); /* releases the tree: no free_unpacked */
    vx_arena_t *tiny = vx_arena_new(256, 64);
    ck_assert_ptr_null(vexfs__v1__event__unpack(vx_arena_pb(tiny), len, buf));
    ck_assert(vx_arena_refused(tiny));
    vx_arena_destroy(&tiny);
    vx_arena_destroy(&a);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("arena");
    TCase *tc = tcase_create("alloc");
    tcase_add_test(tc, t_alignment_and_use);
    tcase_add_test(tc, t_limit);
    tcase_add_test(tc, t_large_blocks);
    tcase_add_test(tc, t_protobuf_unpack);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
