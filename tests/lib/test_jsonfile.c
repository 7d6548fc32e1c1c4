/* SPDX-License-Identifier: Apache-2.0 */
/* vx_jsonfile: durable writes (old or new file, never a torn one), reads that tell a missing
 * file from a broken one, directory creation, and definitions files sealed at rest. */
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

/* Sealed definitions files: plaintext read and marked stale (the migration), sealed files
 * under the newest key fresh and under an older one stale, a file renamed, a flipped byte,
 * no data keys and an unknown key id each refused with the file's name. */
START_TEST(t_sealed)
{
    char *dir = vt_tmpdir();
    char keys[600], path[600], other[600], err[1024] = "";
    snprintf(keys, sizeof keys, "%s/keys", dir);
    snprintf(path, sizeof path, "%s/defs.json", dir);
    snprintf(other, sizeof other, "%s/other.json", dir);
    uint32_t id = 0;
    ck_assert_int_eq(vx_seal_key_generate(keys, &id, err, sizeof err), 0);
    vx_sealer_t *k1 = vx_sealer_load(keys, "auto", err, sizeof err);
    ck_assert_msg(k1 != NULL, "%s", err);
    json_t *doc = json_pack("{s:s}", "marker", "sealedmarker123");

    /* plaintext (before sealing): read with a sealer, stale */
    ck_assert_int_eq(vx_jsonfile_write_sealed(NULL, path, doc, err, sizeof err), 0);
    json_t *got = NULL;
    bool stale = false;
    uint32_t kid = 99;
    ck_assert_int_eq(vx_jsonfile_read_sealed(k1, path, &got, &stale, &kid, err, sizeof err), 0);
    ck_assert(json_equal(got, doc));
    ck_assert(stale);
    ck_assert_uint_eq(kid, 0);
    json_decref(got);

    /* sealed under the newest key: fresh, nothing in clear */
    ck_assert_int_eq(vx_jsonfile_write_sealed(k1, path, doc, err, sizeof err), 0);
    size_t n = 0;
    char *raw = NULL;
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    raw = calloc(1, 65536);
    n = fread(raw, 1, 65535, f);
    fclose(f);
    ck_assert_ptr_null(memmem(raw, n, "sealedmarker123", 15));
    ck_assert_int_eq(vx_jsonfile_read_sealed(k1, path, &got, &stale, &kid, err, sizeof err), 0);
    ck_assert(json_equal(got, doc) && !stale && kid == 1);
    json_decref(got);
    ck_assert_int_eq(vx_seal_file_key_id(path, &kid), 0);
    ck_assert_uint_eq(kid, 1);

    /* no data keys: refused naming the file */
    ck_assert_int_eq(vx_jsonfile_read_sealed(NULL, path, &got, NULL, NULL, err, sizeof err),
                     -ENOKEY);
    ck_assert_msg(strstr(err, path) && strstr(err, "at_rest.encryption is off"), "%s", err);
    ck_assert_ptr_null(got);

    /* renamed: its name is bound in */
    ck_assert_int_eq(rename(path, other), 0);
    ck_assert_int_eq(vx_jsonfile_read_sealed(k1, other, &got, NULL, NULL, err, sizeof err),
                     -EBADMSG);
    ck_assert_msg(strstr(err, other) && strstr(err, "does not authenticate"), "%s", err);
    ck_assert_int_eq(rename(other, path), 0);

    /* a flipped byte */
    raw[n / 2] ^= 0x04;
    f = fopen(path, "wb");
    ck_assert_uint_eq(fwrite(raw, 1, n, f), n);
    fclose(f);
    ck_assert_int_eq(vx_jsonfile_read_sealed(k1, path, &got, NULL, NULL, err, sizeof err),
                     -EBADMSG);
    ck_assert_msg(strstr(err, path) != NULL, "%s", err);
    raw[n / 2] ^= 0x04;
    f = fopen(path, "wb");
    ck_assert_uint_eq(fwrite(raw, 1, n, f), n);
    fclose(f);

    /* a rotation: key 2 newest, the file under key 1 is stale; key 1 gone: not loaded */
    ck_assert_int_eq(vx_seal_key_generate(keys, &id, err, sizeof err), 0);
    vx_sealer_t *k12 = vx_sealer_load(keys, "auto", err, sizeof err);
    ck_assert_int_eq(vx_jsonfile_read_sealed(k12, path, &got, &stale, &kid, err, sizeof err), 0);
    ck_assert(stale && kid == 1);
    json_decref(got);
    char k1path[700];
    snprintf(k1path, sizeof k1path, "%s/data-1.key", keys);
    unlink(k1path);
    vx_sealer_t *k2 = vx_sealer_load(keys, "auto", err, sizeof err);
    ck_assert_int_eq(vx_jsonfile_read_sealed(k2, path, &got, NULL, NULL, err, sizeof err),
                     -ENOKEY);
    ck_assert_msg(strstr(err, path) && strstr(err, "data key 1, which is not loaded"), "%s",
                  err);
    free(raw);
    json_decref(doc);
    vx_sealer_destroy(&k1);
    vx_sealer_destroy(&k12);
    vx_sealer_destroy(&k2);
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
    tcase_add_test(tc, t_sealed);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
