/* SPDX-License-Identifier: Apache-2.0 */
/* Userspace operations and kernel records translate to the same event shape, and the
 * translation loses nothing either way: records recorded from the real module
 * (tests/forwarder/data/kernel_v1.bin) and FUSE operations of every kind go event -> operation
 * -> event (and operation -> event -> operation) unchanged, with only the source differing. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../forwarder/fwd_translate.h"
#include "fu_record.h"

#define S_DATA "tests/forwarder/data/kernel_v1.bin"

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

/* Every key of a in b with the same value (values compared when same_values). */
static void
s_subset(Vexfs__V1__Event__ContentEntry **a, size_t na, Vexfs__V1__Event__ContentEntry **b,
         size_t nb, bool same_values, const char *what)
{
    for (size_t i = 0; i < na; i++) {
        const char *v = s_get(b, nb, a[i]->key);
        ck_assert_msg(v != NULL, "%s: key %s missing", what, a[i]->key);
        if (same_values) {
            ck_assert_msg(strcmp(v, a[i]->value) == 0, "%s: %s is '%s', expected '%s'", what,
                          a[i]->key, v, a[i]->value);
        }
    }
}

#define S_MD(e) ((Vexfs__V1__Event__ContentEntry **)(e)->metadata)

/* Same type and keys; with same_values also the same path, time and values. */
static void
s_same_shape(const vx_event_t *x, const vx_event_t *y, bool same_values)
{
    ck_assert_int_eq(x->type, y->type);
    ck_assert_uint_eq(x->n_content, y->n_content);
    ck_assert_uint_eq(x->n_metadata, y->n_metadata);
    s_subset(x->content, x->n_content, y->content, y->n_content, same_values, "content");
    s_subset(S_MD(x), x->n_metadata, S_MD(y), y->n_metadata, same_values, "metadata");
    if (same_values) {
        ck_assert_str_eq(x->path, y->path);
        ck_assert_uint_eq(x->timestamp_ns, y->timestamp_ns);
    }
}

START_TEST(t_kernel_records_round_trip)
{
    FILE *f = fopen(S_DATA, "rb");
    ck_assert_msg(f != NULL, "cannot open %s (run from the repository root)", S_DATA);
    static uint8_t buf[1 << 20];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    vx_arena_t *a = vx_arena_new(1 << 16, 0);
    size_t off = 0, n = 0;
    unsigned kinds = 0;
    while (off < len) {
        struct fwd_record r;
        size_t used = 0;
        const char *reason = NULL;
        int rc = fwd_record_parse(buf + off, len - off, &r, &used, &reason);
        if (rc == -EAGAIN) {
            break;
        }
        off += used;
        if (rc < 0) {
            continue;
        }
        vx_event_t *k = NULL, *back = NULL;
        ck_assert_int_eq(fwd_record_translate(&r, a, &k, &reason), 0);
        struct fu_op op;
        ck_assert_int_eq(fu_op_from_event(k, &op), 0);
        ck_assert_uint_eq(op.h.op, r.h.op);
        ck_assert_uint_eq(op.h.seq, r.h.seq);
        ck_assert_uint_eq(op.h.ino, r.h.ino);
        ck_assert_uint_eq(op.h.pid, r.h.pid);
        ck_assert_mem_eq(op.h.comm, r.h.comm, sizeof r.h.comm);
        ck_assert_int_eq(fu_op_translate(&op, VEXFS__V1__BOUNDARY__KERNEL_MODULE, a, &back,
                                         &reason),
                         0);
        s_same_shape(k, back, true);
        ck_assert_int_eq(back->source, VEXFS__V1__BOUNDARY__KERNEL_MODULE);
        fu_op_fini(&op);
        kinds |= 1u << r.h.op;
        n++;
    }
    ck_assert_uint_ge(n, 10);
    /* The recording covers create, open_write, unlink, rename, mkdir, rmdir and setattr. */
    ck_assert_uint_eq(kinds & 0x3e6u, 0x3e6u);
    vx_arena_destroy(&a);
}
END_TEST

/* A FUSE operation of kind with every field set to something distinct. */
static void
s_fuse_op(struct fu_op *op, unsigned kind)
{
    struct stat st = {.st_ino = 1234567, .st_mode = 0100640, .st_size = 99};
    ck_assert_int_eq(fu_op_init(op, kind, "/mnt/v/dir/a b.txt",
                                kind == VEXFS_EV_RENAME ? "/mnt/v/dir/c.txt" : NULL, &st, 0,
                                1000, 100),
                     0);
    op->h.seq = 42;
    op->h.pid = op->h.tgid = 777;
    memcpy(op->h.comm, "cp", 2);
    op->h.size = 4096;
    op->h.offset = 8192;
    op->h.flags = 0x8241;
    op->h.count = 3;
    if (kind == VEXFS_EV_SETATTR) {
        op->h.attr_mask = VEXFS_EV_ATTR_MODE | VEXFS_EV_ATTR_UID | VEXFS_EV_ATTR_GID |
                          VEXFS_EV_ATTR_SIZE;
        op->h.new_uid = 1001;
        op->h.new_gid = 1002;
    }
}

START_TEST(t_fuse_ops_round_trip)
{
    vx_arena_t *a = vx_arena_new(1 << 16, 0);
    for (unsigned kind = 1; kind <= VEXFS_EV_OP_MAX; kind++) {
        struct fu_op op, back;
        s_fuse_op(&op, kind);
        vx_event_t *e = NULL;
        const char *reason = NULL;
        ck_assert_int_eq(fu_op_translate(&op, VEXFS__V1__BOUNDARY__FUSE, a, &e, &reason), 0);
        ck_assert_int_eq(e->source, VEXFS__V1__BOUNDARY__FUSE);
        char err[256];
        enum vx_drop_reason why;
        ck_assert_msg(vx_event_validate(e, err, sizeof err, &why) == 0, "%s", err);
        ck_assert_int_eq(fu_op_from_event(e, &back), 0);
        ck_assert_msg(memcmp(&op.h, &back.h, sizeof op.h) == 0, "kind %u: header differs",
                      kind);
        ck_assert_str_eq(back.path, op.path);
        if (kind == VEXFS_EV_RENAME) {
            ck_assert_str_eq(back.path2, "/mnt/v/dir/c.txt");
        } else {
            ck_assert_ptr_null(back.path2);
        }
        fu_op_fini(&op);
        fu_op_fini(&back);
    }
    vx_arena_destroy(&a);
}
END_TEST

START_TEST(t_same_shape_as_kernel)
{
    vx_arena_t *a = vx_arena_new(1 << 16, 0);
    for (unsigned kind = 1; kind <= VEXFS_EV_OP_MAX; kind++) {
        struct fu_op op;
        s_fuse_op(&op, kind);
        /* The same operation as the module would report it. */
        struct fwd_record r = {.h = op.h, .path = op.path, .path2 = op.path2};
        vx_event_t *k = NULL, *fz = NULL, *w = NULL;
        const char *reason = NULL;
        ck_assert_int_eq(fwd_record_translate(&r, a, &k, &reason), 0);
        ck_assert_int_eq(fu_op_translate(&op, VEXFS__V1__BOUNDARY__FUSE, a, &fz, &reason), 0);
        ck_assert_int_eq(fu_op_translate(&op, VEXFS__V1__BOUNDARY__USERSPACE_API, a, &w,
                                         &reason),
                         0);
        s_same_shape(k, fz, true);
        s_same_shape(k, w, true);
        ck_assert_int_eq(k->source, VEXFS__V1__BOUNDARY__KERNEL_MODULE);
        ck_assert_int_eq(w->source, VEXFS__V1__BOUNDARY__USERSPACE_API);
        fu_op_fini(&op);
    }
    vx_arena_destroy(&a);
}
END_TEST

START_TEST(t_malformed_events_refused)
{
    vx_arena_t *a = vx_arena_new(1 << 16, 0);
    struct fu_op op, back;
    s_fuse_op(&op, VEXFS_EV_RENAME);
    vx_event_t *e = NULL;
    const char *reason = NULL;
    ck_assert_int_eq(fu_op_translate(&op, VEXFS__V1__BOUNDARY__FUSE, a, &e, &reason), 0);
    /* A bad number, then a missing key: refused, nothing allocated. */
    for (size_t i = 0; i < e->n_content; i++) {
        if (strcmp(e->content[i]->key, "inode") == 0) {
            e->content[i]->value = (char *)"12x";
        }
    }
    ck_assert_int_eq(fu_op_from_event(e, &back), -EPROTO);
    ck_assert_ptr_null(back.path);
    e->n_content = 1;
    ck_assert_int_eq(fu_op_from_event(e, &back), -EPROTO);
    e->n_content = 0;
    ck_assert_int_eq(fu_op_from_event(e, &back), -EPROTO);
    /* A rename without its target is not translated. */
    free(op.path2);
    op.path2 = NULL;
    ck_assert_int_eq(fu_op_translate(&op, VEXFS__V1__BOUNDARY__FUSE, a, &e, &reason), -EPROTO);
    ck_assert_str_eq(reason, FWD_R_PATH);
    /* Relative paths are refused like the module's. */
    op.h.op = VEXFS_EV_MKDIR;
    op.path[0] = 'x';
    ck_assert_int_eq(fu_op_translate(&op, VEXFS__V1__BOUNDARY__FUSE, a, &e, &reason), -EPROTO);
    fu_op_fini(&op);
    vx_arena_destroy(&a);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("fuse_record");
    TCase *tc = tcase_create("translation");
    tcase_add_test(tc, t_kernel_records_round_trip);
    tcase_add_test(tc, t_fuse_ops_round_trip);
    tcase_add_test(tc, t_same_shape_as_kernel);
    tcase_add_test(tc, t_malformed_events_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
