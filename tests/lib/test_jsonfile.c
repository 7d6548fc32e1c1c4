/* SPDX-License-Identifier: Apache-2.0 */
/* vx_jsonfile: durable writes (old or new file, never a torn one), reads that tell a missing
 * file from a broken one, and directory creation. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vx_jsonfile.h"
#include "vx_test.h"

START_TEST(t_write_read)
{
    char *dir = vt_tmpdir();
    char sub[512], path[600], err[256];
    snprintf(sub, sizeof sub, "%s/a/b", dir);
    ck_assert_int_eq(vx_jsonfile_mkdir(sub), 0);
    ck_assert_int_eq(vx_jsonfile_mkdir(sub), 0); /* already there */
    struct stat st;
    ck_assert_int_eq(stat(sub, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0700);
    snprintf(path, sizeof path, "%s/rules.json", sub);
    json_t *j = json_pack("{s:i, s:[s,s]}", "version", 3, "ids", "a", "b");
    ck_assert_int_eq(vx_jsonfile_write(path, j), 0);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    int missing = -1;
    json_t *back = vx_jsonfile_read(path, &missing, err, sizeof err);
    ck_assert_ptr_nonnull(back);
    ck_assert_int_eq(missing, 0);
    ck_assert(json_equal(j, back));
    json_decref(back);
    /* Overwrite: the new document replaces the old one, no temporary file stays. */
    json_object_set_new(j, "version", json_integer(4));
    ck_assert_int_eq(vx_jsonfile_write(path, j), 0);
    back = vx_jsonfile_read(path, &missing, err, sizeof err);
    ck_assert_int_eq(json_integer_value(json_object_get(back, "version")), 4);
    json_decref(back);
    char tmp[700];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    ck_assert_int_eq(access(tmp, F_OK), -1);
    json_decref(j);
    free(dir);
}
END_TEST

START_TEST(t_missing_and_broken)
{
    char *dir = vt_tmpdir();
    char path[600], err[256];
    snprintf(path, sizeof path, "%s/none.json", dir);
    int missing = 0;
    ck_assert_ptr_null(vx_jsonfile_read(path, &missing, err, sizeof err));
    ck_assert_int_eq(missing, 1);
    snprintf(path, sizeof path, "%s/broken.json", dir);
    ck_assert_int_eq(vt_write_file(path, "{\"a\": 1, \"a\": 2}"), 0);
    ck_assert_ptr_null(vx_jsonfile_read(path, &missing, err, sizeof err));
    ck_assert_int_eq(missing, 0);
    ck_assert_msg(strstr(err, "broken.json") && strstr(err, "line 1"), "got: %s", err);
    ck_assert_int_eq(vt_write_file(path, "{\"a\": "), 0);
    ck_assert_ptr_null(vx_jsonfile_read(path, &missing, err, sizeof err));
    ck_assert_msg(strstr(err, "broken.json"), "got: %s", err);
    free(dir);
}
END_TEST

START_TEST(t_write_fails_cleanly)
{
    char *dir = vt_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/no/such/dir/x.json", dir);
    json_t *j = json_object();
    ck_assert_int_eq(vx_jsonfile_write(path, j), -ENOENT);
    json_decref(j);
    free(dir);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("jsonfile");
    TCase *tc = tcase_create("files");
    tcase_add_test(tc, t_write_read);
    tcase_add_test(tc, t_missing_and_broken);
    tcase_add_test(tc, t_write_fails_cleanly);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
