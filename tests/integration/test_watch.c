/* SPDX-License-Identifier: Apache-2.0 */
/* The real vexfs-watch on a temporary directory, feeding a real vexfs-propagation, once with
 * inotify and once with fanotify: file operations arrive as events of the right types and
 * fields (source userspace_api, the same shape as kernel and FUSE events), directories
 * created later are watched too, and SIGTERM exits 0. */
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "prop_harness.h"
#include "vx_test.h"
#include "vx_wire.h"

static const char *const s_modes[] = {"inotify", "fanotify"};
static char s_dir[PATH_MAX]; /* made by the parent: tree/ and the pids file */

static void
s_setup(void)
{
    char *d = vt_tmpdir();
    ck_assert_ptr_nonnull(d);
    ck_assert_ptr_nonnull(realpath(d, s_dir));
    free(d);
    char p[PATH_MAX + 8];
    snprintf(p, sizeof p, "%s/tree", s_dir);
    ck_assert_int_eq(mkdir(p, 0755), 0);
}

/* Parent side, after the test's process ended: nothing it started keeps running. */
static void
s_teardown(void)
{
    vt_pids_kill(s_dir);
}

struct s_ev {
    int type, source;
    char op[16], path[PATH_MAX + 8], new_path[PATH_MAX + 8], comm[32], producer[64];
    long long pid, size, ino;
};

static const char *
s_kv(Vexfs__V1__Event__ContentEntry **kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(kv[i]->key, key) == 0) {
            return kv[i]->value;
        }
    }
    return "";
}

struct s_seen {
    size_t n;
    struct s_ev ev[16];
};

static void
cb_event(const vx_batch_t *b, const vx_event_t *e, void *arg)
{
    (void)b;
    struct s_seen *s = arg;
    if (s->n >= 16) {
        s->n++;
        return;
    }
    struct s_ev *v = &s->ev[s->n++];
    Vexfs__V1__Event__ContentEntry **md = (Vexfs__V1__Event__ContentEntry **)e->metadata;
    v->type = e->type;
    v->source = e->source;
    snprintf(v->path, sizeof v->path, "%s", e->path);
    snprintf(v->op, sizeof v->op, "%s", s_kv(e->content, e->n_content, "operation"));
    snprintf(v->new_path, sizeof v->new_path, "%s", s_kv(e->content, e->n_content, "new_path"));
    snprintf(v->comm, sizeof v->comm, "%s", s_kv(md, e->n_metadata, "comm"));
    snprintf(v->producer, sizeof v->producer, "%s", e->producer_id ? e->producer_id : "");
    v->pid = atoll(s_kv(md, e->n_metadata, "pid"));
    v->size = atoll(s_kv(e->content, e->n_content, "size"));
    v->ino = atoll(s_kv(e->content, e->n_content, "inode"));
}

/* Receives exactly the events listed as "op path" strings (in order). */
static void
s_expect(zsock_t *pull, bool fanotify, const char *const *want, size_t n, struct s_seen *seen)
{
    memset(seen, 0, sizeof *seen);
    size_t got = ph_receive(pull, n, 10000, cb_event, seen);
    for (size_t i = 0; i < seen->n && i < 16; i++) {
        const struct s_ev *v = &seen->ev[i];
        char op_path[PATH_MAX + 32];
        snprintf(op_path, sizeof op_path, "%s %s", v->op, v->path);
        ck_assert_msg(i < n && strcmp(op_path, want[i]) == 0, "event %zu: got '%s', want '%s'",
                      i, op_path, i < n ? want[i] : "nothing");
        ck_assert_int_eq(v->source, VEXFS__V1__BOUNDARY__USERSPACE_API);
        ck_assert_str_eq(v->producer, "watch-test");
        if (fanotify) {
            /* fanotify knows who acted; inotify does not. */
            ck_assert_int_eq(v->pid, getpid());
            ck_assert_str_eq(v->comm, "test_watch");
        } else {
            ck_assert_int_eq(v->pid, 0);
        }
    }
    ck_assert_uint_eq(got, n);
}

START_TEST(t_operations_arrive)
{
    const char *mode = s_modes[_i];
    bool fan = _i == 1;
    struct ph_daemon d;
    ph_start(&d, NULL, NULL);
    ck_assert_int_eq(vt_pids_note(s_dir, d.pid), 0);
    zsock_t *pull = ph_pull(&d);

    char tree[PATH_MAX + 8], cfgpath[PATH_MAX + 16], log[PATH_MAX + 16], cfg[2048];
    snprintf(tree, sizeof tree, "%s/tree", s_dir);
    snprintf(cfgpath, sizeof cfgpath, "%s/watch.yaml", s_dir);
    snprintf(log, sizeof log, "%s/watch.log", s_dir);
    uint16_t port = vt_free_port();
    snprintf(cfg, sizeof cfg,
             "userspace_watcher:\n  ack_endpoint: %s\n  rest_port: %u\n"
             "  producer_id: watch-test\n  mode: %s\n  batch_max_delay_ms: 2\n"
             "  retry_interval_ms: 20\n",
             d.acked, (unsigned)port, mode);
    ck_assert_int_eq(vt_write_file(cfgpath, cfg), 0);
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-watch", vt_bin_dir());
    char *argv[] = {bin, tree, (char *)"--config", cfgpath, NULL};
    pid_t w = vt_spawn(argv, NULL, log);
    ck_assert_int_gt(w, 0);
    ck_assert_int_eq(vt_pids_note(s_dir, w), 0);
    ck_assert_msg(vt_wait_ready(port, 20000), "vexfs-watch not ready; log in %s", log);

    char a[PATH_MAX + 32], dir[PATH_MAX + 32], b[PATH_MAX + 32], c[PATH_MAX + 32];
    char w1[4][PATH_MAX + 48];
    snprintf(a, sizeof a, "%s/a.txt", tree);
    snprintf(dir, sizeof dir, "%s/d", tree);
    snprintf(b, sizeof b, "%s/d/b.txt", tree);
    snprintf(c, sizeof c, "%s/d/c.txt", tree);
    struct s_seen seen;

    int fd = open(a, O_CREAT | O_WRONLY | O_EXCL, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "hello world", 11), 11);
    ck_assert_int_eq(close(fd), 0);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    snprintf(w1[0], sizeof w1[0], "create %s", a);
    snprintf(w1[1], sizeof w1[1], "write %s", a);
    snprintf(w1[2], sizeof w1[2], "mkdir %s", dir);
    const char *const want1[] = {w1[0], w1[1], w1[2]};
    s_expect(pull, fan, want1, 3, &seen);
    ck_assert_int_eq(seen.ev[1].size, 11);
    ck_assert_int_eq(seen.ev[0].type, VEXFS__V1__EVENT_TYPE__FILESYSTEM_CREATE);
    ck_assert_int_eq(seen.ev[1].type, VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE);
    ck_assert_int_eq(seen.ev[2].type, VEXFS__V1__EVENT_TYPE__FILESYSTEM_MKDIR);

    /* The new directory is watched: a rename into it and a file created in it. */
    ck_assert_int_eq(rename(a, b), 0);
    ck_assert_int_eq(chmod(b, 0600), 0);
    fd = open(c, O_CREAT | O_WRONLY, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(close(fd), 0);
    snprintf(w1[0], sizeof w1[0], "rename %s", a);
    snprintf(w1[1], sizeof w1[1], "setattr %s", b);
    snprintf(w1[2], sizeof w1[2], "create %s", c);
    snprintf(w1[3], sizeof w1[3], "write %s", c);
    const char *const want2[] = {w1[0], w1[1], w1[2], w1[3]};
    s_expect(pull, fan, want2, 4, &seen);
    ck_assert_str_eq(seen.ev[0].new_path, b);
    ck_assert_int_eq(seen.ev[0].type, VEXFS__V1__EVENT_TYPE__FILESYSTEM_RENAME);
    ck_assert_int_eq(seen.ev[1].type, VEXFS__V1__EVENT_TYPE__FILESYSTEM_CHMOD);

    ck_assert_int_eq(unlink(b), 0);
    ck_assert_int_eq(unlink(c), 0);
    ck_assert_int_eq(rmdir(dir), 0);
    snprintf(w1[0], sizeof w1[0], "unlink %s", b);
    snprintf(w1[1], sizeof w1[1], "unlink %s", c);
    snprintf(w1[2], sizeof w1[2], "rmdir %s", dir);
    const char *const want3[] = {w1[0], w1[1], w1[2]};
    s_expect(pull, fan, want3, 3, &seen);
    ck_assert_int_eq(seen.ev[0].type, VEXFS__V1__EVENT_TYPE__FILESYSTEM_DELETE);
    ck_assert_int_eq(seen.ev[2].type, VEXFS__V1__EVENT_TYPE__FILESYSTEM_RMDIR);

    struct vt_http_result r;
    ck_assert_int_eq(vt_http("GET", port, "/ready", NULL, 0, NULL, &r), 0);
    ck_assert_msg(strstr(r.body, mode) != NULL, "/ready does not name %s: %s", mode, r.body);
    vt_http_result_fini(&r);

    int st = vt_stop(w, SIGTERM, 20000);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "vexfs-watch exit status %d; log in %s",
                  st, log);
    zsock_destroy(&pull);
    ph_stop(&d);
}
END_TEST

START_TEST(t_bad_arguments)
{
    /* No directory, or one that does not exist: exit 2 with a message, nothing started. */
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-watch", vt_bin_dir());
    char *none[] = {bin, NULL};
    char *missing[] = {bin, (char *)"/nonexistent/vexfs-watch-dir", NULL};
    char *const *cases[] = {none, missing};
    for (size_t i = 0; i < 2; i++) {
        struct vt_run_result r;
        char *env[] = {(char *)"VEXFS_USERSPACE_WATCHER_REST_PORT=0", NULL};
        ck_assert_int_eq(vt_run(cases[i], env, NULL, 10000, &r), 0);
        ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 2, "case %zu: status %d",
                      i, r.status);
        vt_run_result_fini(&r);
    }
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("watch");
    for (int i = 0; i < 2; i++) {
        TCase *tc = tcase_create(s_modes[i]);
        tcase_set_timeout(tc, 120);
        tcase_add_unchecked_fixture(tc, s_setup, s_teardown);
        tcase_add_loop_test(tc, t_operations_arrive, i, i + 1);
        suite_add_tcase(s, tc);
    }
    TCase *tc = tcase_create("arguments");
    tcase_add_test(tc, t_bad_arguments);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
