/* SPDX-License-Identifier: Apache-2.0 */
/* vx_audit: a real log verifies; each tampering is named at its line (a changed byte, a removed
 * line, two lines swapped, a truncated file, a forged checkpoint); rotation and reopening keep
 * the chain. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vx_audit.h"
#include "vx_test.h"

struct s_log {
    char dir[256];
    char path[512];
    char key[512];
    char pub[512];
};

static void
s_log_init(struct s_log *l)
{
    char *d = vt_tmpdir();
    snprintf(l->dir, sizeof l->dir, "%s", d);
    free(d);
    snprintf(l->path, sizeof l->path, "%s/audit.jsonl", l->dir);
    snprintf(l->key, sizeof l->key, "%s/audit.key", l->dir);
    snprintf(l->pub, sizeof l->pub, "%s/audit.pub", l->dir);
    char err[512];
    ck_assert_msg(vx_audit_keygen(l->dir, "audit", err, sizeof err) == 0, "%s", err);
}

/* Writes n records, with a checkpoint every 4 lines, then closes (a final checkpoint). */
static void
s_write(const struct s_log *l, int n, uint64_t max_bytes)
{
    char err[512];
    struct vx_audit_opts o = {.path = l->path, .key_file = l->key, .service = "vexfs-test",
                              .checkpoint_lines = 4, .max_bytes = max_bytes};
    vx_audit_t *a = vx_audit_open(&o, err, sizeof err);
    ck_assert_msg(a != NULL, "%s", err);
    for (int i = 0; i < n; i++) {
        char route[64];
        snprintf(route, sizeof route, "/v1/rules/%d", i);
        struct vx_audit_record r = {.credential = "alice", .role = "operator", .tenant = "acme",
                                    .method = "PUT", .route = route, .body = "{\"x\":1}",
                                    .body_len = 7, .status = 200, .outcome = "ok"};
        ck_assert_int_eq(vx_audit_append(a, &r), 0);
    }
    vx_audit_close(&a);
    ck_assert_ptr_null(a);
}

static char **
s_lines(const char *path, size_t *n)
{
    FILE *f = fopen(path, "r");
    char **out = calloc(1000, sizeof *out);
    char buf[8192];
    *n = 0;
    while (fgets(buf, sizeof buf, f)) {
        out[(*n)++] = strdup(buf);
    }
    fclose(f);
    return out;
}

static void
s_rewrite(const char *path, char **lines, size_t n)
{
    FILE *f = fopen(path, "w");
    for (size_t i = 0; i < n; i++) {
        fputs(lines[i], f);
    }
    fclose(f);
}

static void
s_free_lines(char **lines, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(lines[i]);
    }
    free(lines);
}

/* Expects verify to fail naming line and mentioning what. */
static void
s_expect(const struct s_log *l, size_t line, const char *what)
{
    char err[512], want[64];
    size_t lines = 0;
    ck_assert_int_eq(vx_audit_verify(l->path, l->pub, &lines, err, sizeof err), -EBADMSG);
    snprintf(want, sizeof want, "line %zu:", line);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0 && strstr(err, what),
                  "expected \"%s ... %s\", got \"%s\"", want, what, err);
}

START_TEST(t_intact)
{
    struct s_log l;
    s_log_init(&l);
    s_write(&l, 10, 0);
    char err[512];
    size_t lines = 0;
    ck_assert_msg(vx_audit_verify(l.path, l.pub, &lines, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(lines, 10 + 3); /* two checkpoints on the way, one at close */
    struct stat st;
    ck_assert_int_eq(stat(l.path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    /* Reopened, the log goes on with the same chain. */
    s_write(&l, 3, 0);
    ck_assert_msg(vx_audit_verify(l.path, l.pub, &lines, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(lines, 13 + 3 + 1);
    /* Another daemon's key does not verify it. */
    ck_assert_int_eq(vx_audit_keygen(l.dir, "other", err, sizeof err), 0);
    char other[600];
    snprintf(other, sizeof other, "%s/other.pub", l.dir);
    ck_assert_int_eq(vx_audit_verify(l.path, other, &lines, err, sizeof err), -EBADMSG);
    ck_assert_msg(strstr(err, "signature does not verify"), "got %s", err);
}
END_TEST

START_TEST(t_changed_byte)
{
    struct s_log l;
    s_log_init(&l);
    s_write(&l, 10, 0);
    size_t n;
    char **ls = s_lines(l.path, &n);
    char *p = strstr(ls[5], "/v1/rules/");
    p[10] = p[10] == '9' ? '8' : '9'; /* line 6 now names another rule */
    s_rewrite(l.path, ls, n);
    s_free_lines(ls, n);
    s_expect(&l, 6, "changed");
}
END_TEST

START_TEST(t_changed_prev)
{
    struct s_log l;
    s_log_init(&l);
    s_write(&l, 10, 0);
    size_t n;
    char **ls = s_lines(l.path, &n);
    char *p = strstr(ls[7], "\"prev\":\"") + 8;
    *p = *p == 'a' ? 'b' : 'a';
    s_rewrite(l.path, ls, n);
    s_free_lines(ls, n);
    s_expect(&l, 8, "changed");
}
END_TEST

START_TEST(t_removed_line)
{
    struct s_log l;
    s_log_init(&l);
    s_write(&l, 10, 0);
    size_t n;
    char **ls = s_lines(l.path, &n);
    free(ls[3]);
    memmove(&ls[3], &ls[4], (n - 4) * sizeof *ls);
    s_rewrite(l.path, ls, n - 1);
    s_free_lines(ls, n - 1);
    s_expect(&l, 4, "removed");
}
END_TEST

START_TEST(t_swapped_lines)
{
    struct s_log l;
    s_log_init(&l);
    s_write(&l, 10, 0);
    size_t n;
    char **ls = s_lines(l.path, &n);
    char *t = ls[2];
    ls[2] = ls[3];
    ls[3] = t;
    s_rewrite(l.path, ls, n);
    s_free_lines(ls, n);
    s_expect(&l, 3, "reordered");
}
END_TEST

START_TEST(t_truncated)
{
    struct s_log l;
    s_log_init(&l);
    s_write(&l, 10, 0);
    struct stat st;
    ck_assert_int_eq(stat(l.path, &st), 0);
    ck_assert_int_eq(truncate(l.path, st.st_size - 20), 0); /* mid-line */
    size_t n;
    char **ls = s_lines(l.path, &n);
    s_free_lines(ls, n);
    s_expect(&l, n, "cut short");
    /* Whole lines cut after the last checkpoint, the cut ending on a newline. */
    struct s_log l2;
    s_log_init(&l2);
    s_write(&l2, 10, 0);
    ls = s_lines(l2.path, &n);
    s_rewrite(l2.path, ls, n - 2); /* the final checkpoint and the record before it */
    s_free_lines(ls, n);
    s_expect(&l2, n - 2, "after its last signed checkpoint");
}
END_TEST

START_TEST(t_rebuilt_chain_needs_the_key)
{
    struct s_log l;
    s_log_init(&l);
    s_write(&l, 3, 0);
    /* An attacker who rewrites history and recomputes every hash still cannot sign. */
    size_t n;
    char **ls = s_lines(l.path, &n);
    s_free_lines(ls, n);
    char err[512];
    ck_assert_int_eq(vx_audit_keygen(l.dir, "forger", err, sizeof err), 0);
    char forged[600];
    snprintf(forged, sizeof forged, "%s/forged.jsonl", l.dir);
    struct vx_audit_opts o = {.path = forged, .service = "vexfs-test", .checkpoint_lines = 4};
    char fkey[600];
    snprintf(fkey, sizeof fkey, "%s/forger.key", l.dir);
    o.key_file = fkey;
    vx_audit_t *a = vx_audit_open(&o, err, sizeof err);
    struct vx_audit_record r = {.credential = "mallory", .method = "DELETE", .status = 200};
    vx_audit_append(a, &r);
    vx_audit_close(&a);
    size_t lines;
    ck_assert_int_eq(vx_audit_verify(forged, l.pub, &lines, err, sizeof err), -EBADMSG);
    ck_assert_msg(strstr(err, "signature does not verify"), "got %s", err);
}
END_TEST

START_TEST(t_rotation)
{
    struct s_log l;
    s_log_init(&l);
    s_write(&l, 40, 2000);
    char err[512];
    size_t lines = 0;
    ck_assert_msg(vx_audit_verify(l.path, l.pub, &lines, err, sizeof err) == 0, "%s", err);
    /* The rotated files verify on their own too. */
    char cmd[700];
    snprintf(cmd, sizeof cmd, "ls %s | grep -c 'audit.jsonl\\.'", l.dir);
    FILE *p = popen(cmd, "r");
    int rotated = 0;
    ck_assert_int_eq(fscanf(p, "%d", &rotated), 1);
    pclose(p);
    ck_assert_int_ge(rotated, 2);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("audit");
    TCase *tc = tcase_create("chain");
    tcase_add_test(tc, t_intact);
    tcase_add_test(tc, t_changed_byte);
    tcase_add_test(tc, t_changed_prev);
    tcase_add_test(tc, t_removed_line);
    tcase_add_test(tc, t_swapped_lines);
    tcase_add_test(tc, t_truncated);
    tcase_add_test(tc, t_rebuilt_chain_needs_the_key);
    tcase_add_test(tc, t_rotation);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
