/* SPDX-License-Identifier: Apache-2.0 */
/* vx_keys: generated pairs load back, secret files are private, malformed and mismatched files
 * are refused with the file named, and keyrings map keys to names. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "vx_keys.h"
#include "vx_test.h"

START_TEST(t_generate_and_load)
{
    char *dir = vt_tmpdir();
    char err[512], path[700], pub[VX_KEY_TXT];
    ck_assert_msg(vx_keys_generate(dir, "alice", err, sizeof err) == 0, "%s", err);
    struct stat st;
    snprintf(path, sizeof path, "%s/alice.key", dir);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    struct vx_keypair kp;
    ck_assert_msg(vx_keys_load_secret(path, &kp, err, sizeof err) == 0, "%s", err);
    ck_assert(vx_key_valid(kp.public_txt) && vx_key_valid(kp.secret_txt));
    snprintf(path, sizeof path, "%s/alice.pub", dir);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0644);
    ck_assert_int_eq(vx_keys_load_public(path, pub, err, sizeof err), 0);
    ck_assert_str_eq(pub, kp.public_txt);
    /* The secret file's public half reads as a public key too. */
    snprintf(path, sizeof path, "%s/alice.key", dir);
    ck_assert_int_eq(vx_keys_load_public(path, pub, err, sizeof err), 0);
    ck_assert_str_eq(pub, kp.public_txt);
    /* Never overwritten. */
    ck_assert_int_eq(vx_keys_generate(dir, "alice", err, sizeof err), -EEXIST);
    ck_assert_msg(strstr(err, "alice.pub") && strstr(err, "exists"), "got: %s", err);
    ck_assert_int_eq(vx_keys_generate(dir, "../x", err, sizeof err), -EINVAL);
    ck_assert_int_eq(vx_keys_generate(dir, "", err, sizeof err), -EINVAL);
    free(dir);
}
END_TEST

START_TEST(t_secret_checks)
{
    char *dir = vt_tmpdir();
    char err[512], path[700];
    struct vx_keypair kp;
    snprintf(path, sizeof path, "%s/none.key", dir);
    ck_assert_int_eq(vx_keys_load_secret(path, &kp, err, sizeof err), -ENOENT);
    ck_assert_msg(strstr(err, "none.key"), "got: %s", err);
    ck_assert_int_eq(vx_keys_generate(dir, "k", err, sizeof err), 0);
    snprintf(path, sizeof path, "%s/k.key", dir);
    ck_assert_int_eq(chmod(path, 0640), 0);
    ck_assert_int_eq(vx_keys_load_secret(path, &kp, err, sizeof err), -EPERM);
    ck_assert_msg(strstr(err, "mode 640"), "got: %s", err);
    /* A public key that does not belong to the secret one. */
    struct vx_keypair other;
    char a[VX_KEY_TXT], b[VX_KEY_TXT];
    ck_assert_int_eq(zmq_curve_keypair(a, b), 0);
    ck_assert_int_eq(chmod(path, 0600), 0);
    ck_assert_int_eq(vx_keys_load_secret(path, &other, err, sizeof err), 0);
    char text[512];
    snprintf(text, sizeof text, "curve\n    public-key = \"%s\"\n    secret-key = \"%s\"\n", a,
             other.secret_txt);
    snprintf(path, sizeof path, "%s/mixed.key", dir);
    ck_assert_int_eq(vt_write_file(path, text), 0);
    ck_assert_int_eq(chmod(path, 0600), 0);
    ck_assert_int_eq(vx_keys_load_secret(path, &kp, err, sizeof err), -EINVAL);
    ck_assert_msg(strstr(err, "does not belong"), "got: %s", err);
    /* Garbage. */
    snprintf(path, sizeof path, "%s/bad.key", dir);
    ck_assert_int_eq(vt_write_file(path, "secret-key = \"~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\""),
                     0);
    ck_assert_int_eq(chmod(path, 0600), 0);
    ck_assert_int_eq(vx_keys_load_secret(path, &kp, err, sizeof err), -EINVAL);
    free(dir);
}
END_TEST

START_TEST(t_keyring)
{
    char *dir = vt_tmpdir();
    char err[512], path[700];
    ck_assert_int_eq(vx_keys_generate(dir, "a", err, sizeof err), 0);
    ck_assert_int_eq(vx_keys_generate(dir, "b", err, sizeof err), 0);
    vx_keyring_t *k = vx_keyring_load(dir, err, sizeof err); /* .key files are not read */
    ck_assert_msg(k != NULL, "%s", err);
    ck_assert_uint_eq(vx_keyring_size(k), 2);
    char pub[VX_KEY_TXT];
    snprintf(path, sizeof path, "%s/b.pub", dir);
    ck_assert_int_eq(vx_keys_load_public(path, pub, err, sizeof err), 0);
    ck_assert_str_eq(vx_keyring_name(k, pub), "b");
    ck_assert_ptr_null(vx_keyring_name(k, "0000000000000000000000000000000000000000"));
    vx_keyring_destroy(&k);
    /* The same key under two names is a mistake worth refusing. */
    char copy[700];
    snprintf(copy, sizeof copy, "%s/b2.pub", dir);
    ck_assert_int_eq(link(path, copy), 0);
    ck_assert_ptr_null(vx_keyring_load(dir, err, sizeof err));
    ck_assert_msg(strstr(err, "the same key"), "got: %s", err);
    unlink(copy);
    snprintf(path, sizeof path, "%s/broken.pub", dir);
    ck_assert_int_eq(vt_write_file(path, "nothing here\n"), 0);
    ck_assert_ptr_null(vx_keyring_load(dir, err, sizeof err));
    ck_assert_msg(strstr(err, "broken.pub"), "got: %s", err);
    ck_assert_ptr_null(vx_keyring_load("/nonexistent-dir", err, sizeof err));
    free(dir);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("keys");
    TCase *tc = tcase_create("files");
    tcase_add_test(tc, t_generate_and_load);
    tcase_add_test(tc, t_secret_checks);
    tcase_add_test(tc, t_keyring);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
