/* SPDX-License-Identifier: Apache-2.0 */
/* vx_senders: new, duplicate, late and missing sequences; the window's edge; the bound on
 * senders; the record saved and read back (plaintext and sealed), and bad records refused. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vx_senders.h"
#include "vx_test.h"

START_TEST(t_rules)
{
    vx_senders_t *t = vx_senders_new(4);
    struct vx_senders_result r = vx_senders_observe(t, "a", 5);
    ck_assert(r.new_sender && !r.duplicate && r.missing == 0);
    r = vx_senders_observe(t, "a", 6);
    ck_assert(!r.new_sender && !r.duplicate && r.missing == 0);
    r = vx_senders_observe(t, "a", 6);
    ck_assert(r.duplicate);
    r = vx_senders_observe(t, "a", 10); /* 7, 8, 9 skipped */
    ck_assert_uint_eq(r.missing, 3);
    ck_assert(!r.duplicate);
    r = vx_senders_observe(t, "a", 8); /* late: another receiver's, or reordered */
    ck_assert(r.late && !r.duplicate);
    r = vx_senders_observe(t, "a", 8);
    ck_assert(r.duplicate);
    r = vx_senders_observe(t, "a", 5);
    ck_assert(r.duplicate);
    ck_assert_uint_eq(vx_senders_last(t, "a"), 10);
    /* Across words of the window, and past it. */
    r = vx_senders_observe(t, "a", 10 + 100);
    ck_assert_uint_eq(r.missing, 99);
    ck_assert(vx_senders_observe(t, "a", 10).duplicate);
    ck_assert(!vx_senders_observe(t, "a", 50).duplicate);
    ck_assert(vx_senders_observe(t, "a", 50).duplicate);
    r = vx_senders_observe(t, "a", 110 + VX_SENDERS_WINDOW);
    ck_assert_uint_eq(r.missing, VX_SENDERS_WINDOW - 1);
    ck_assert(vx_senders_observe(t, "a", 110).duplicate); /* too old to tell */
    ck_assert(!vx_senders_observe(t, "a", 111).duplicate);
    vx_senders_destroy(&t);
    ck_assert_ptr_null(t);
}
END_TEST

START_TEST(t_bounded)
{
    vx_senders_t *t = vx_senders_new(2);
    vx_senders_observe(t, "a", 1);
    vx_senders_observe(t, "b", 1);
    vx_senders_observe(t, "a", 2);
    vx_senders_observe(t, "c", 1); /* replaces b, heard from least recently */
    ck_assert_uint_eq(vx_senders_count(t), 2);
    ck_assert_uint_eq(vx_senders_evicted(t), 1);
    ck_assert_uint_eq(vx_senders_last(t, "b"), 0);
    ck_assert_uint_eq(vx_senders_last(t, "a"), 2);
    vx_senders_destroy(&t);
}
END_TEST

static void
s_roundtrip(const vx_sealer_t *sealer)
{
    char *dir = vt_tmpdir();
    char err[1024];
    vx_senders_t *t = vx_senders_new(8);
    vx_senders_observe(t, "prop@1", 100);
    vx_senders_observe(t, "prop@1", 103);
    vx_senders_observe(t, "other", 7);
    ck_assert(vx_senders_dirty(t));
    ck_assert_int_eq(vx_senders_save(t, sealer, dir, err, sizeof err), 0);
    ck_assert(!vx_senders_dirty(t));
    vx_senders_t *u = vx_senders_new(8);
    ck_assert_msg(vx_senders_load(u, sealer, dir, err, sizeof err, NULL, 0) == 0, "%s", err);
    ck_assert_uint_eq(vx_senders_count(u), 2);
    ck_assert_uint_eq(vx_senders_last(u, "prop@1"), 103);
    /* The window came back too: 100 and 103 taken, 101 not. */
    ck_assert(vx_senders_observe(u, "prop@1", 100).duplicate);
    ck_assert(vx_senders_observe(u, "prop@1", 103).duplicate);
    ck_assert(!vx_senders_observe(u, "prop@1", 101).duplicate);
    struct vx_senders_result r = vx_senders_observe(u, "prop@1", 106);
    ck_assert_uint_eq(r.missing, 2);
    vx_senders_destroy(&u);

    /* The live file, written in place, is newer: it wins; torn, the fsynced file is read. */
    vx_senders_observe(t, "prop@1", 104);
    ck_assert_int_eq(vx_senders_save_live(t, sealer, dir, err, sizeof err), 0);
    vx_senders_observe(t, "prop@1", 105);
    ck_assert_int_eq(vx_senders_save_live(t, sealer, dir, err, sizeof err), 0);
    u = vx_senders_new(8);
    char note[512];
    ck_assert_int_eq(vx_senders_load(u, sealer, dir, err, sizeof err, note, sizeof note), 0);
    ck_assert_str_eq(note, "");
    ck_assert_uint_eq(vx_senders_last(u, "prop@1"), 105);
    vx_senders_destroy(&u);
    char live[600];
    snprintf(live, sizeof live, "%s/%s", dir, VX_SENDERS_LIVE);
    ck_assert_int_eq(vt_write_file(live, "{\"senders\":[{\"sen"), 0);
    u = vx_senders_new(8);
    ck_assert_int_eq(vx_senders_load(u, sealer, dir, err, sizeof err, note, sizeof note), 0);
    ck_assert_msg(strstr(note, VX_SENDERS_LIVE) != NULL, "no note on the torn file: %s", note);
    ck_assert_uint_eq(vx_senders_last(u, "prop@1"), 103);
    vx_senders_destroy(&u);
    vx_senders_destroy(&t);
    free(dir);
}

START_TEST(t_saved_and_read_back)
{
    s_roundtrip(NULL);
    uint8_t key[VX_SEAL_KEY_BYTES];
    memset(key, 7, sizeof key);
    char serr[256];
    vx_sealer_t *s = vx_sealer_from_key(1, key, VX_SEAL_AES256GCM, serr, sizeof serr);
    ck_assert_ptr_nonnull(s);
    s_roundtrip(s);
    vx_sealer_destroy(&s);
}
END_TEST

START_TEST(t_no_file_and_bad_files)
{
    char *dir = vt_tmpdir();
    char err[1024], path[600];
    vx_senders_t *t = vx_senders_new(8);
    ck_assert_int_eq(vx_senders_load(t, NULL, dir, err, sizeof err, NULL, 0), 0);
    ck_assert_uint_eq(vx_senders_count(t), 0);
    snprintf(path, sizeof path, "%s/%s", dir, VX_SENDERS_FILE);
    static const char *const bad[] = {
        "{\"version\":1}",
        "{\"senders\":[{\"sender\":\"a\",\"last\":-1,\"taken\":\"\"}]}",
        "{\"senders\":[{\"sender\":\"a\",\"last\":3,\"taken\":\"zz\"}]}",
        "not json",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_int_eq(vt_write_file(path, bad[i]), 0);
        err[0] = '\0';
        int rc = vx_senders_load(t, NULL, dir, err, sizeof err, NULL, 0);
        ck_assert_msg(rc < 0, "%s accepted", bad[i]);
        ck_assert_msg(strstr(err, VX_SENDERS_FILE) != NULL, "error names no file: %s", err);
    }
    vx_senders_destroy(&t);
    free(dir);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("senders");
    TCase *tc = tcase_create("senders");
    tcase_add_test(tc, t_rules);
    tcase_add_test(tc, t_bounded);
    tcase_add_test(tc, t_saved_and_read_back);
    tcase_add_test(tc, t_no_file_and_bad_files);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
