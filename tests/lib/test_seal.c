/* SPDX-License-Identifier: Apache-2.0 */
/* vx_seal: records round-trip under both algorithms; any changed byte, another name or an
 * unknown key is refused; key folders are checked like secret keys; older keys keep opening
 * after a new one is added; sealed files are written atomically and plaintext is told apart
 * for migration. */
#include <check.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vx_seal.h"
#include "vx_test.h"

static const char s_text[] = "/home/alice/secret-plans.txt and a workflow's script text";

static vx_sealer_t *
s_mem_sealer(uint32_t id, uint8_t fill, enum vx_seal_alg alg)
{
    uint8_t key[VX_SEAL_KEY_BYTES];
    memset(key, fill, sizeof key);
    char err[256];
    vx_sealer_t *s = vx_sealer_from_key(id, key, alg, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    return s;
}

/* Seals, checks the record hides the text, opens it, then flips every byte in turn. */
static void
s_roundtrip(enum vx_seal_alg alg)
{
    vx_sealer_t *s = s_mem_sealer(7, 0x42, alg);
    uint8_t rec[sizeof s_text + VX_SEAL_OVERHEAD], out[sizeof s_text];
    size_t n = 0, m = 0;
    char err[256];
    ck_assert_int_eq(vx_seal(s, "k1", 2, s_text, sizeof s_text, rec, sizeof rec, &n), 0);
    ck_assert(n > sizeof s_text && n <= sizeof rec);
    ck_assert(vx_seal_is_sealed(rec, n));
    ck_assert_ptr_null(memmem(rec, n, "alice", 5));
    uint32_t id = 0;
    ck_assert_int_eq(vx_seal_record_key_id(rec, n, &id), 0);
    ck_assert_uint_eq(id, 7);
    ck_assert_int_eq(vx_unseal(s, "k1", 2, rec, n, out, sizeof out, &m, err, sizeof err), 0);
    ck_assert_uint_eq(m, sizeof s_text);
    ck_assert_mem_eq(out, s_text, sizeof s_text);
    /* Stored under another name. */
    ck_assert_int_eq(vx_unseal(s, "k2", 2, rec, n, out, sizeof out, &m, err, sizeof err),
                     -EBADMSG);
    ck_assert_msg(strstr(err, "does not authenticate"), "got: %s", err);
    /* Every single changed byte is caught, header included. */
    for (size_t i = 0; i < n; i++) {
        rec[i] ^= 0x01;
        int rc = vx_unseal(s, "k1", 2, rec, n, out, sizeof out, &m, err, sizeof err);
        ck_assert_msg(rc < 0, "byte %zu flipped but the record opened", i);
        rec[i] ^= 0x01;
    }
    /* Truncated. */
    ck_assert_int_eq(vx_unseal(s, "k1", 2, rec, n - 1, out, sizeof out, &m, err, sizeof err),
                     -EBADMSG);
    ck_assert_int_eq(vx_unseal(s, "k1", 2, rec, 8, out, sizeof out, &m, err, sizeof err),
                     -EBADMSG);
    /* Too small an output. */
    ck_assert_int_eq(vx_unseal(s, "k1", 2, rec, n, out, 3, &m, err, sizeof err), -ENOSPC);
    ck_assert_int_eq(vx_seal(s, NULL, 0, s_text, sizeof s_text, rec, 10, &n), -ENOSPC);
    /* Empty payload. */
    ck_assert_int_eq(vx_seal(s, NULL, 0, "", 0, rec, sizeof rec, &n), 0);
    ck_assert_int_eq(vx_unseal(s, NULL, 0, rec, n, out, sizeof out, &m, err, sizeof err), 0);
    ck_assert_uint_eq(m, 0);
    vx_sealer_destroy(&s);
    ck_assert_ptr_null(s);
}

START_TEST(t_roundtrip_xchacha)
{
    s_roundtrip(VX_SEAL_XCHACHA20POLY1305);
}
END_TEST

START_TEST(t_roundtrip_aes)
{
    if (sodium_init() < 0 || !crypto_aead_aes256gcm_is_available()) {
        /* Without AES-NI the algorithm must be refused, precisely. */
        uint8_t key[VX_SEAL_KEY_BYTES] = {0};
        char err[256];
        ck_assert_ptr_null(vx_sealer_from_key(1, key, VX_SEAL_AES256GCM, err, sizeof err));
        ck_assert_msg(strstr(err, "AES-NI"), "got: %s", err);
        return;
    }
    s_roundtrip(VX_SEAL_AES256GCM);
}
END_TEST

START_TEST(t_wrong_key)
{
    vx_sealer_t *a = s_mem_sealer(1, 0x11, VX_SEAL_XCHACHA20POLY1305);
    vx_sealer_t *b = s_mem_sealer(2, 0x22, VX_SEAL_XCHACHA20POLY1305);
    vx_sealer_t *b1 = s_mem_sealer(1, 0x22, VX_SEAL_XCHACHA20POLY1305);
    uint8_t rec[128], out[128];
    size_t n, m;
    char err[256];
    ck_assert_int_eq(vx_seal(a, "x", 1, "hello", 5, rec, sizeof rec, &n), 0);
    ck_assert_int_eq(vx_unseal(b, "x", 1, rec, n, out, sizeof out, &m, err, sizeof err), -ENOKEY);
    ck_assert_msg(strstr(err, "data key 1"), "got: %s", err);
    /* Same id, other key material: refused as not authentic. */
    ck_assert_int_eq(vx_unseal(b1, "x", 1, rec, n, out, sizeof out, &m, err, sizeof err),
                     -EBADMSG);
    ck_assert(!vx_seal_is_sealed("hello world", 11));
    vx_sealer_destroy(&a);
    vx_sealer_destroy(&b);
    vx_sealer_destroy(&b1);
}
END_TEST

START_TEST(t_key_folder)
{
    char *dir = vt_tmpdir();
    char err[512], path[700];
    /* An empty folder names the command that fills it. */
    ck_assert_ptr_null(vx_sealer_load(dir, "auto", err, sizeof err));
    ck_assert_msg(strstr(err, "no data key") && strstr(err, "rotate-data"), "got: %s", err);
    ck_assert_ptr_null(vx_sealer_load("/nonexistent-keys", "auto", err, sizeof err));
    ck_assert_msg(strstr(err, "/nonexistent-keys"), "got: %s", err);
    uint32_t id = 0;
    ck_assert_msg(vx_seal_key_generate(dir, &id, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(id, 1);
    snprintf(path, sizeof path, "%s/data-1.key", dir);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    vx_sealer_t *s1 = vx_sealer_load(dir, "xchacha20poly1305", err, sizeof err);
    ck_assert_msg(s1 != NULL, "%s", err);
    ck_assert_str_eq(vx_sealer_algorithm(s1), "xchacha20poly1305");
    uint8_t old[64], out[64];
    size_t n, m;
    ck_assert_int_eq(vx_seal(s1, "r", 1, "old record", 10, old, sizeof old, &n), 0);
    /* A second key seals from now on; the first still opens what it sealed. */
    ck_assert_int_eq(vx_seal_key_generate(dir, &id, err, sizeof err), 0);
    ck_assert_uint_eq(id, 2);
    vx_sealer_t *s2 = vx_sealer_load(dir, "auto", err, sizeof err);
    ck_assert_msg(s2 != NULL, "%s", err);
    ck_assert_uint_eq(vx_sealer_key_id(s2), 2);
    ck_assert_uint_eq(vx_sealer_key_count(s2), 2);
    ck_assert_int_eq(vx_unseal(s2, "r", 1, old, n, out, sizeof out, &m, err, sizeof err), 0);
    ck_assert_mem_eq(out, "old record", 10);
    uint8_t rec[64];
    uint32_t rid;
    ck_assert_int_eq(vx_seal(s2, "r", 1, "new", 3, rec, sizeof rec, &n), 0);
    ck_assert_int_eq(vx_seal_record_key_id(rec, n, &rid), 0);
    ck_assert_uint_eq(rid, 2);
    /* The old sealer cannot open records of the new key. */
    ck_assert_int_eq(vx_unseal(s1, "r", 1, rec, n, out, sizeof out, &m, err, sizeof err), -ENOKEY);
    vx_sealer_destroy(&s1);
    vx_sealer_destroy(&s2);
    /* A key readable by others, or malformed, is refused with its name. */
    snprintf(path, sizeof path, "%s/data-2.key", dir);
    ck_assert_int_eq(chmod(path, 0644), 0);
    ck_assert_ptr_null(vx_sealer_load(dir, "auto", err, sizeof err));
    ck_assert_msg(strstr(err, "data-2.key") && strstr(err, "mode 644"), "got: %s", err);
    ck_assert_int_eq(chmod(path, 0600), 0);
    snprintf(path, sizeof path, "%s/data-3.key", dir);
    ck_assert_int_eq(vt_write_file(path, "not hex at all\n"), 0);
    ck_assert_int_eq(chmod(path, 0600), 0);
    ck_assert_ptr_null(vx_sealer_load(dir, "auto", err, sizeof err));
    ck_assert_msg(strstr(err, "data-3.key") && strstr(err, "64 hexadecimal"), "got: %s", err);
    unlink(path);
    /* Names that are not key files are ignored. */
    snprintf(path, sizeof path, "%s/data-03.key", dir);
    ck_assert_int_eq(vt_write_file(path, "junk"), 0);
    snprintf(path, sizeof path, "%s/README", dir);
    ck_assert_int_eq(vt_write_file(path, "junk"), 0);
    vx_sealer_t *s3 = vx_sealer_load(dir, "auto", err, sizeof err);
    ck_assert_msg(s3 != NULL, "%s", err);
    ck_assert_uint_eq(vx_sealer_key_count(s3), 2);
    vx_sealer_destroy(&s3);
    ck_assert_ptr_null(vx_sealer_load(dir, "rot13", err, sizeof err));
    ck_assert_msg(strstr(err, "rot13"), "got: %s", err);
    free(dir);
}
END_TEST

START_TEST(t_files)
{
    char *dir = vt_tmpdir();
    char err[512], path[700];
    uint32_t id;
    ck_assert_int_eq(vx_seal_key_generate(dir, &id, err, sizeof err), 0);
    vx_sealer_t *s = vx_sealer_load(dir, "auto", err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    snprintf(path, sizeof path, "%s/rules.json", dir);
    ck_assert_int_eq(vx_seal_file_write(s, path, s_text, strlen(s_text), err, sizeof err), 0);
    char *data = NULL;
    size_t len = 0;
    bool plain = true;
    ck_assert_int_eq(vx_seal_file_read(s, path, false, &data, &len, &plain, err, sizeof err), 0);
    ck_assert(!plain);
    ck_assert_uint_eq(len, strlen(s_text));
    ck_assert_str_eq(data, s_text);
    free(data);
    /* The bytes on disk hold no plaintext. */
    ck_assert_int_eq(vx_seal_file_read(NULL, path, true, &data, &len, &plain, err, sizeof err),
                     -ENOKEY);
    ck_assert_msg(strstr(err, "sealed") && strstr(err, "rules.json"), "got: %s", err);
    FILE *f = fopen(path, "rb");
    char raw[512];
    size_t got = fread(raw, 1, sizeof raw, f);
    fclose(f);
    ck_assert_ptr_null(memmem(raw, got, "alice", 5));
    /* Renamed: the name is bound, so the record does not open under another. */
    char other[720];
    snprintf(other, sizeof other, "%s/patterns.json", dir);
    ck_assert_int_eq(rename(path, other), 0);
    ck_assert_int_eq(vx_seal_file_read(s, other, false, &data, &len, &plain, err, sizeof err),
                     -EBADMSG);
    /* Plaintext: refused when sealing is required, read for migration when allowed. */
    ck_assert_int_eq(vx_seal_file_write(NULL, path, "plain text", 10, err, sizeof err), 0);
    ck_assert_int_eq(vx_seal_file_read(s, path, false, &data, &len, &plain, err, sizeof err),
                     -EBADMSG);
    ck_assert_msg(strstr(err, "not sealed"), "got: %s", err);
    ck_assert_int_eq(vx_seal_file_read(s, path, true, &data, &len, &plain, err, sizeof err), 0);
    ck_assert(plain);
    ck_assert_str_eq(data, "plain text");
    free(data);
    snprintf(path, sizeof path, "%s/absent.json", dir);
    ck_assert_int_eq(vx_seal_file_read(s, path, false, &data, &len, &plain, err, sizeof err),
                     -ENOENT);
    vx_sealer_destroy(&s);
    free(dir);
}
END_TEST

START_TEST(t_config)
{
    static const struct vx_cfg_section *const only[] = {&vx_cfg_at_rest_section};
    char err[512];
    vx_config_t *c = NULL;
    ck_assert_msg(vx_config_load(&c, NULL, only, 1, err, sizeof err) == 0, "%s", err);
    struct vx_at_rest_config ar;
    ck_assert_int_eq(vx_config_bind(c, &vx_cfg_at_rest_section, &ar), 0);
    ck_assert_str_eq(ar.encryption, "required");
    ck_assert_str_eq(ar.algorithm, "auto");
    vx_config_destroy(&c);
    char *dir = vt_tmpdir();
    char path[700];
    snprintf(path, sizeof path, "%s/c.yaml", dir);
    ck_assert_int_eq(vt_write_file(path, "at_rest:\n  encryption: maybe\n"), 0);
    ck_assert_int_lt(vx_config_load(&c, path, only, 1, err, sizeof err), 0);
    ck_assert_msg(strstr(err, "at_rest.encryption") && strstr(err, "maybe"), "got: %s", err);
    free(dir);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("seal");
    TCase *tc = tcase_create("records");
    tcase_add_test(tc, t_roundtrip_xchacha);
    tcase_add_test(tc, t_roundtrip_aes);
    tcase_add_test(tc, t_wrong_key);
    tcase_add_test(tc, t_key_folder);
    tcase_add_test(tc, t_files);
    tcase_add_test(tc, t_config);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
