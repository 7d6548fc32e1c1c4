/* SPDX-License-Identifier: Apache-2.0 */
/* Kernel record framing and translation: records recorded from the real module under qemu
 * (tests/forwarder/data/kernel_v1.bin, made by scripts/kmod-test.sh), then truncated,
 * corrupt and future-version records, which are rejected and counted, never crash. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fwd_translate.h"

#define S_DATA "tests/forwarder/data/kernel_v1.bin"

static uint8_t *
s_load(size_t *len)
{
    FILE *f = fopen(S_DATA, "rb");
    ck_assert_msg(f != NULL, "cannot open %s (run from the repository root)", S_DATA);
    uint8_t *buf = malloc(1 << 20);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static const char *
s_get(Vexfs__V1__Event__ContentEntry **kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(kv[i]->key, key) == 0) {
            return kv[i]->value;
        }
    }
    return NULL;
}

#define S_C(e, k) s_get((e)->content, (e)->n_content, (k))
#define S_M(e, k) s_get((Vexfs__V1__Event__ContentEntry **)(e)->metadata, (e)->n_metadata, (k))

/* Translates every record of buf; returns the count, events in out. */
static size_t
s_all(const uint8_t *buf, size_t len, vx_arena_t *a, vx_event_t **out, size_t max,
      size_t *rejected)
{
    size_t n = 0, off = 0;
    *rejected = 0;
    while (off < len) {
        struct fwd_record r;
        size_t used = 0;
        const char *reason = NULL;
        int rc = fwd_record_parse(buf + off, len - off, &r, &used, &reason);
        if (rc == -EAGAIN) {
            (*rejected)++;
            break;
        }
        ck_assert_int_gt(used, 0);
        off += used;
        if (rc < 0) {
            ck_assert_ptr_nonnull(reason);
            (*rejected)++;
            continue;
        }
        vx_event_t *e = NULL;
        ck_assert_int_eq(fwd_record_translate(&r, a, &e, &reason), 0);
        char err[256];
        enum vx_drop_reason why;
        ck_assert_msg(vx_event_validate(e, err, sizeof err, &why) == 0, "%s", err);
        if (n < max) {
            out[n++] = e;
        }
    }
    return n;
}

START_TEST(t_recorded_records)
{
    size_t len, rej;
    uint8_t *buf = s_load(&len);
    vx_arena_t *a = vx_arena_new(1 << 16, 0);
    vx_event_t *ev[64];
    size_t n = s_all(buf, len, a, ev, 64, &rej);
    ck_assert_uint_eq(n, 18);
    ck_assert_uint_eq(rej, 0);
    /* seq=1: echo hello > /mnt/w/a.txt by init (pid 1) */
    ck_assert_int_eq(ev[0]->type, VEXFS__V1__EVENT_TYPE__FILESYSTEM_CREATE);
    ck_assert_int_eq(ev[0]->source, VEXFS__V1__BOUNDARY__KERNEL_MODULE);
    ck_assert_str_eq(ev[0]->path, "/mnt/w/a.txt");
    ck_assert_str_eq(S_C(ev[0], "operation"), "create");
    ck_assert_str_eq(S_C(ev[0], "inode"), "4");
    ck_assert_str_eq(S_C(ev[0], "mode"), "0100644");
    ck_assert_str_eq(S_C(ev[0], "flags"), "0x8001");
    ck_assert_str_eq(S_M(ev[0], "pid"), "1");
    ck_assert_str_eq(S_M(ev[0], "tgid"), "1");
    ck_assert_str_eq(S_M(ev[0], "uid"), "0");
    ck_assert_str_eq(S_M(ev[0], "comm"), "init");
    ck_assert_str_eq(S_M(ev[0], "kernel_seq"), "1");
    ck_assert_str_eq(S_M(ev[0], "abi_version"), "1");
    ck_assert_uint_gt(ev[0]->timestamp_ns, 1000000000ULL * 1000000000ULL);
    /* seq=4: the append, 3 bytes at 6 */
    ck_assert_int_eq(ev[3]->type, VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE);
    ck_assert_str_eq(S_C(ev[3], "size"), "3");
    ck_assert_str_eq(S_C(ev[3], "offset"), "6");
    ck_assert_str_eq(S_C(ev[3], "file_size"), "9");
    /* seq=3: open for write */
    ck_assert_str_eq(S_C(ev[2], "operation"), "open_write");
    /* seq=8: rename */
    ck_assert_int_eq(ev[7]->type, VEXFS__V1__EVENT_TYPE__FILESYSTEM_RENAME);
    ck_assert_str_eq(ev[7]->path, "/mnt/w/a.txt");
    ck_assert_str_eq(S_C(ev[7], "new_path"), "/mnt/w/d/b.txt");
    /* seq=10: chown 1234:5678 */
    ck_assert_int_eq(ev[9]->type, VEXFS__V1__EVENT_TYPE__FILESYSTEM_CHMOD);
    ck_assert_str_eq(S_C(ev[9], "attr"), "uid,gid");
    ck_assert_str_eq(S_C(ev[9], "new_uid"), "1234");
    ck_assert_str_eq(S_C(ev[9], "new_gid"), "5678");
    /* seq=12: truncate to 2 */
    ck_assert_str_eq(S_C(ev[11], "attr"), "size");
    ck_assert_str_eq(S_C(ev[11], "size"), "2");
    ck_assert_int_eq(ev[12]->type, VEXFS__V1__EVENT_TYPE__FILESYSTEM_DELETE);
    ck_assert_int_eq(ev[13]->type, VEXFS__V1__EVENT_TYPE__FILESYSTEM_RMDIR);
    ck_assert_int_eq(ev[6]->type, VEXFS__V1__EVENT_TYPE__FILESYSTEM_MKDIR);
    ck_assert_int_eq(ev[14]->type, VEXFS__V1__EVENT_TYPE__FILESYSTEM_READ);
    vx_arena_destroy(&a);
    free(buf);
}
END_TEST

/* Every prefix of a record asks for more bytes; never a record, never a crash. */
START_TEST(t_truncated)
{
    size_t len;
    uint8_t *buf = s_load(&len);
    uint32_t rl;
    memcpy(&rl, buf + 8, sizeof rl);
    for (size_t cut = 0; cut < rl; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, buf, cut);
        struct fwd_record r;
        size_t used;
        const char *reason;
        ck_assert_int_eq(fwd_record_parse(copy, cut, &r, &used, &reason), -EAGAIN);
        free(copy);
    }
    /* A header whose paths run past its record_len. */
    struct vexfs_event_record h;
    memcpy(&h, buf, sizeof h);
    h.path_len = 2000;
    memcpy(buf, &h, sizeof h);
    struct fwd_record r;
    size_t used;
    const char *reason;
    ck_assert_int_eq(fwd_record_parse(buf, len, &r, &used, &reason), -EPROTO);
    ck_assert_str_eq(reason, FWD_R_TRUNCATED);
    ck_assert_uint_gt(used, 0);
    free(buf);
}
END_TEST

/* Garbage before, between and inside records: rejected, then the stream resynchronises. */
START_TEST(t_corrupt)
{
    size_t len, rej;
    uint8_t *buf = s_load(&len);
    uint8_t *bad = malloc(len + 64);
    memset(bad, 0xA5, 13);
    memcpy(bad + 13, buf, len);
    vx_arena_t *a = vx_arena_new(1 << 16, 0);
    vx_event_t *ev[64];
    size_t n = s_all(bad, len + 13, a, ev, 64, &rej);
    ck_assert_uint_eq(n, 18);
    ck_assert_uint_ge(rej, 1);

    /* Bad record_len (not aligned), path without its NUL, path2 of a non-rename ignored. */
    struct vexfs_event_record h;
    memcpy(&h, buf, sizeof h);
    struct fwd_record r;
    size_t used;
    const char *reason;
    struct vexfs_event_record h2 = h;
    h2.record_len = 13;
    memcpy(bad, &h2, sizeof h2);
    memcpy(bad + sizeof h2, buf + sizeof h, len - sizeof h);
    ck_assert_int_eq(fwd_record_parse(bad, len, &r, &used, &reason), -EPROTO);
    ck_assert_str_eq(reason, FWD_R_CORRUPT);
    memcpy(bad, buf, len);
    bad[sizeof h + h.path_len] = 'x';
    ck_assert_int_eq(fwd_record_parse(bad, len, &r, &used, &reason), -EPROTO);
    ck_assert_str_eq(reason, FWD_R_CORRUPT);
    /* Unknown operation: framed, skipped whole. */
    memcpy(bad, buf, len);
    h2 = h;
    h2.op = 99;
    memcpy(bad, &h2, sizeof h2);
    ck_assert_int_eq(fwd_record_parse(bad, len, &r, &used, &reason), -EPROTO);
    ck_assert_str_eq(reason, FWD_R_OP);
    ck_assert_uint_eq(used, h.record_len);
    /* A relative or non-UTF-8 path is refused by the translation. */
    memcpy(bad, buf, len);
    bad[sizeof h] = 'x';
    ck_assert_int_eq(fwd_record_parse(bad, len, &r, &used, &reason), 0);
    vx_event_t *e;
    ck_assert_int_eq(fwd_record_translate(&r, a, &e, &reason), -EPROTO);
    ck_assert_str_eq(reason, FWD_R_PATH);
    bad[sizeof h] = '/';
    bad[sizeof h + 1] = (char)0xff;
    ck_assert_int_eq(fwd_record_parse(bad, len, &r, &used, &reason), 0);
    ck_assert_int_eq(fwd_record_translate(&r, a, &e, &reason), -EPROTO);
    vx_arena_destroy(&a);
    free(bad);
    free(buf);
}
END_TEST

/* A record of version 2 (a longer header) is skipped whole and the next one still parses. */
START_TEST(t_future_version)
{
    size_t len;
    uint8_t *buf = s_load(&len);
    struct vexfs_event_record h;
    memcpy(&h, buf, sizeof h);
    size_t v2len = h.record_len + 64;
    uint8_t *s = calloc(1, v2len + len);
    struct vexfs_event_record h2 = h;
    h2.version = 2;
    h2.header_len = (uint16_t)(sizeof h + 64);
    h2.record_len = (uint32_t)v2len;
    memcpy(s, &h2, sizeof h2);
    memcpy(s + v2len, buf, len);
    struct fwd_record r;
    size_t used;
    const char *reason;
    ck_assert_int_eq(fwd_record_parse(s, v2len + len, &r, &used, &reason), -EPROTO);
    ck_assert_str_eq(reason, FWD_R_VERSION);
    ck_assert_uint_eq(used, v2len);
    ck_assert_int_eq(fwd_record_parse(s + used, len, &r, &used, &reason), 0);
    ck_assert_str_eq(r.path, "/mnt/w/a.txt");
    free(s);
    free(buf);
}
END_TEST

/* Random bytes and random mutations of real records: never a crash, always progress. */
START_TEST(t_random)
{
    size_t len;
    uint8_t *buf = s_load(&len);
    vx_arena_t *a = vx_arena_new(1 << 16, 0);
    srand(7);
    for (int iter = 0; iter < 2000; iter++) {
        uint8_t *m = malloc(len);
        memcpy(m, buf, len);
        for (int k = 0; k < 8; k++) {
            m[(size_t)rand() % len] = (uint8_t)rand();
        }
        size_t off = 0;
        while (off < len) {
            struct fwd_record r;
            size_t used = 0;
            const char *reason;
            int rc = fwd_record_parse(m + off, len - off, &r, &used, &reason);
            if (rc == -EAGAIN) {
                break;
            }
            ck_assert_int_gt(used, 0);
            off += used;
            vx_event_t *e;
            if (rc == 0) {
                fwd_record_translate(&r, a, &e, &reason);
            }
        }
        vx_arena_reset(a);
        free(m);
    }
    vx_arena_destroy(&a);
    free(buf);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("forwarder_translate");
    TCase *tc = tcase_create("recorded");
    tcase_add_test(tc, t_recorded_records);
    suite_add_tcase(s, tc);
    tc = tcase_create("rejected");
    tcase_add_test(tc, t_truncated);
    tcase_add_test(tc, t_corrupt);
    tcase_add_test(tc, t_future_version);
    tcase_add_test(tc, t_random);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
