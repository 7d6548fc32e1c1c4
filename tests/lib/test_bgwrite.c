/* SPDX-License-Identifier: Apache-2.0 */
/* vx_bgwrite: content handed over is written by the thread (newest wins), sealed when asked,
 * failures reported to the callback; finish writes the last content synchronously and later
 * puts change nothing. */
#include <check.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vx_bgwrite.h"
#include "vx_seal.h"
#include "vx_test.h"

struct outcome {
    atomic_int ok, failed;
    atomic_ullong last_tag;
    char err[512];
};

static void
cb_done(void *arg, int rc, uint64_t tag, const char *err)
{
    struct outcome *o = arg;
    if (rc == 0) {
        atomic_fetch_add(&o->ok, 1);
        atomic_store(&o->last_tag, tag);
    } else {
        snprintf(o->err, sizeof o->err, "%s", err);
        atomic_fetch_add(&o->failed, 1);
    }
}

static char *
s_dup(const char *text)
{
    return strdup(text);
}

static char *
s_read(const vx_sealer_t *sealer, const char *path)
{
    char *data = NULL, err[256];
    size_t len = 0;
    bool plain = false;
    int rc = vx_seal_file_read(sealer, path, false, &data, &len, &plain, err, sizeof err);
    ck_assert_msg(rc == 0, "read %s: %s", path, err);
    return data;
}

static bool
s_wait_tag(struct outcome *o, uint64_t tag)
{
    for (int i = 0; i < 1000; i++) {
        if (atomic_load(&o->last_tag) == tag) {
            return true;
        }
        usleep(10000);
    }
    return false;
}

START_TEST(t_newest_written)
{
    char *dir = vt_tmpdir();
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/state.json", dir);
    struct outcome o = {0};
    vx_bgwrite_t *w = vx_bgwrite_new(path, NULL, cb_done, &o, err, sizeof err);
    ck_assert_msg(w != NULL, "%s", err);
    ck_assert_str_eq(vx_bgwrite_path(w), path);
    /* Many puts at once: some are replaced before the thread reaches them; the last one is
     * always written. */
    for (uint64_t i = 1; i <= 200; i++) {
        char text[64];
        snprintf(text, sizeof text, "{\"n\":%llu}", (unsigned long long)i);
        vx_bgwrite_put(w, s_dup(text), strlen(text), i);
    }
    ck_assert_msg(s_wait_tag(&o, 200), "last written tag %llu, want 200",
                  (unsigned long long)atomic_load(&o.last_tag));
    ck_assert_int_le(atomic_load(&o.ok), 200);
    ck_assert_int_eq(atomic_load(&o.failed), 0);
    char *got = s_read(NULL, path);
    ck_assert_str_eq(got, "{\"n\":200}");
    free(got);
    /* finish: synchronous, and puts after it are freed unwritten. */
    ck_assert_int_eq(vx_bgwrite_finish(w, "{\"n\":\"last\"}", 12, err, sizeof err), 0);
    vx_bgwrite_put(w, s_dup("{\"n\":\"late\"}"), 12, 999);
    got = s_read(NULL, path);
    ck_assert_str_eq(got, "{\"n\":\"last\"}");
    free(got);
    vx_bgwrite_destroy(&w);
    ck_assert_ptr_null(w);
    vx_bgwrite_destroy(&w); /* NULL accepted */
    free(dir);
}
END_TEST

START_TEST(t_sealed_and_failures)
{
    char *dir = vt_tmpdir();
    char path[512], err[256];
    uint8_t key[VX_SEAL_KEY_BYTES];
    memset(key, 7, sizeof key);
    vx_sealer_t *sealer = vx_sealer_from_key(1, key, VX_SEAL_XCHACHA20POLY1305, err, sizeof err);
    ck_assert_msg(sealer != NULL, "%s", err);
    snprintf(path, sizeof path, "%s/sealed.json", dir);
    struct outcome o = {0};
    vx_bgwrite_t *w = vx_bgwrite_new(path, sealer, cb_done, &o, err, sizeof err);
    ck_assert_ptr_nonnull(w);
    vx_bgwrite_put(w, s_dup("secret"), 6, 1);
    ck_assert(s_wait_tag(&o, 1));
    char *got = s_read(sealer, path);
    ck_assert_str_eq(got, "secret");
    free(got);
    /* Sealed on disk: the plaintext is not there. */
    FILE *f = fopen(path, "rb");
    char raw[256] = {0};
    size_t n = fread(raw, 1, sizeof raw - 1, f);
    fclose(f);
    ck_assert_ptr_null(memmem(raw, n, "secret", 6));
    vx_bgwrite_destroy(&w);
    /* A folder that does not exist: the callback hears of it, naming the file. */
    snprintf(path, sizeof path, "%s/missing/x.json", dir);
    w = vx_bgwrite_new(path, NULL, cb_done, &o, err, sizeof err);
    ck_assert_ptr_nonnull(w);
    vx_bgwrite_put(w, s_dup("x"), 1, 2);
    for (int i = 0; i < 1000 && atomic_load(&o.failed) == 0; i++) {
        usleep(10000);
    }
    ck_assert_int_eq(atomic_load(&o.failed), 1);
    ck_assert_msg(strstr(o.err, "x.json") != NULL, "error does not name the file: %s", o.err);
    ck_assert_int_lt(vx_bgwrite_finish(w, "y", 1, err, sizeof err), 0);
    vx_bgwrite_destroy(&w);
    vx_sealer_destroy(&sealer);
    free(dir);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("bgwrite");
    TCase *tc = tcase_create("writer");
    tcase_add_test(tc, t_newest_written);
    tcase_add_test(tc, t_sealed_and_failures);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
