/* SPDX-License-Identifier: Apache-2.0 */
/* The real vexfs-fuse mounted over a temporary directory, feeding a real vexfs-propagation:
 * file operations done through the mount arrive as events of the right types and fields, in
 * order; SIGTERM unmounts and exits 0. The mount is removed (fusermount3 -u -z) by the
 * parent process even when a test fails. */
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

static char s_dir[PATH_MAX]; /* made by the parent: src/, mnt/, pids */

/* Parent side, around each test: a fresh directory, and afterwards the mount and every
 * process the test started are gone whatever happened in it. */
static void
s_setup(void)
{
    char *d = vt_tmpdir();
    ck_assert_ptr_nonnull(d);
    ck_assert_ptr_nonnull(realpath(d, s_dir));
    free(d);
    char p[PATH_MAX + 8];
    snprintf(p, sizeof p, "%s/src", s_dir);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/mnt", s_dir);
    ck_assert_int_eq(mkdir(p, 0755), 0);
}

static void
s_teardown(void)
{
    char mnt[PATH_MAX + 8];
    snprintf(mnt, sizeof mnt, "%s/mnt", s_dir);
    char *argv[] = {(char *)"/usr/bin/fusermount3", (char *)"-u", (char *)"-z", mnt, NULL};
    struct vt_run_result r;
    int rc = vt_run(argv, NULL, NULL, 10000, &r);
    (void)rc; /* not mounted any more is the usual case */
    vt_run_result_fini(&r);
    vt_pids_kill(s_dir);
}

struct s_fuse {
    pid_t pid;
    uint16_t rest_port;
    char mnt[PATH_MAX + 8], log[PATH_MAX + 8];
};

static bool
s_is_mounted(const char *path)
{
    FILE *f = fopen("/proc/self/mounts", "r");
    char line[2 * PATH_MAX];
    bool found = false;
    size_t n = strlen(path);
    while (f && fgets(line, sizeof line, f)) {
        const char *sp = strchr(line, ' ');
        found = found || (sp && strncmp(sp + 1, path, n) == 0 && sp[1 + n] == ' ');
    }
    if (f) {
        fclose(f);
    }
    return found;
}

static void
s_fuse_start(struct s_fuse *fz, const struct ph_daemon *d, const char *extra)
{
    char cfgpath[PATH_MAX + 16], cfg[2048], src[PATH_MAX + 8];
    snprintf(fz->mnt, sizeof fz->mnt, "%s/mnt", s_dir);
    snprintf(src, sizeof src, "%s/src", s_dir);
    snprintf(fz->log, sizeof fz->log, "%s/fuse.log", s_dir);
    snprintf(cfgpath, sizeof cfgpath, "%s/fuse.yaml", s_dir);
    fz->rest_port = vt_free_port();
    snprintf(cfg, sizeof cfg,
             "fuse_layer:\n  ack_endpoint: %s\n  rest_port: %u\n  producer_id: fuse-test\n"
             "  retry_interval_ms: 20\n  batch_max_delay_ms: 2\n%s",
             d->acked, (unsigned)fz->rest_port, extra ? extra : "");
    ck_assert_int_eq(vt_write_file(cfgpath, cfg), 0);
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-fuse", vt_bin_dir());
    char *argv[] = {bin, src, fz->mnt, (char *)"--config", cfgpath, NULL};
    fz->pid = vt_spawn(argv, NULL, fz->log);
    ck_assert_int_gt(fz->pid, 0);
    ck_assert_int_eq(vt_pids_note(s_dir, fz->pid), 0);
    ck_assert_msg(vt_wait_ready(fz->rest_port, 20000), "vexfs-fuse not ready; log in %s",
                  fz->log);
    ck_assert(s_is_mounted(fz->mnt));
}

static void
s_fuse_stop(struct s_fuse *fz)
{
    int st = vt_stop(fz->pid, SIGTERM, 20000);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "vexfs-fuse exit status %d; log in %s",
                  st, fz->log);
    ck_assert_msg(!s_is_mounted(fz->mnt), "still mounted after SIGTERM");
}

/* ---- what arrives --------------------------------------------------------------------- */

struct s_ev {
    int type, source;
    char op[16], path[PATH_MAX + 8], new_path[PATH_MAX + 8], attr[32];
    long long size, count, pid, new_uid, ino, uid;
    char comm[32], producer[64];
};

struct s_seen {
    size_t n;
    struct s_ev ev[32];
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

static void
cb_event(const vx_batch_t *b, const vx_event_t *e, void *arg)
{
    (void)b;
    struct s_seen *s = arg;
    if (s->n >= 32) {
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
    snprintf(v->attr, sizeof v->attr, "%s", s_kv(e->content, e->n_content, "attr"));
    snprintf(v->comm, sizeof v->comm, "%s", s_kv(md, e->n_metadata, "comm"));
    snprintf(v->producer, sizeof v->producer, "%s", e->producer_id ? e->producer_id : "");
    v->size = atoll(s_kv(e->content, e->n_content, "size"));
    v->count = atoll(s_kv(e->content, e->n_content, "count"));
    v->ino = atoll(s_kv(e->content, e->n_content, "inode"));
    v->new_uid = atoll(s_kv(e->content, e->n_content, "new_uid"));
    v->pid = atoll(s_kv(md, e->n_metadata, "pid"));
    v->uid = atoll(s_kv(md, e->n_metadata, "uid"));
}

static void
s_expect(const struct s_ev *v, int type, const char *op, const char *path)
{
    ck_assert_msg(v->type == type && strcmp(v->op, op) == 0 && strcmp(v->path, path) == 0,
                  "expected %s on %s (type %d), got %s on %s (type %d)", op, path, type, v->op,
                  v->path, v->type);
    ck_assert_int_eq(v->source, VEXFS__V1__BOUNDARY__FUSE);
    ck_assert_int_eq(v->pid, getpid());
    ck_assert_str_eq(v->comm, "test_fuse");
    ck_assert_str_eq(v->producer, "fuse-test");
}

struct s_metric_arg {
    uint16_t port;
    const char *series;
    double want;
};

static bool
cb_metric_is(void *arg)
{
    const struct s_metric_arg *m = arg;
    struct ph_daemon tmp = {.rest_port = m->port};
    return ph_metric(&tmp, m->series) == m->want;
}

START_TEST(t_operations_arrive)
{
    struct ph_daemon d;
    ph_start(&d, NULL, NULL);
    ck_assert_int_eq(vt_pids_note(s_dir, d.pid), 0);
    zsock_t *pull = ph_pull(&d);
    struct s_fuse fz;
    s_fuse_start(&fz, &d, NULL);

    char a[PATH_MAX + 32], dir[PATH_MAX + 32], b[PATH_MAX + 32];
    snprintf(a, sizeof a, "%s/a.txt", fz.mnt);
    snprintf(dir, sizeof dir, "%s/d", fz.mnt);
    snprintf(b, sizeof b, "%s/d/b.txt", fz.mnt);
    int fd = open(a, O_CREAT | O_WRONLY | O_EXCL, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "hello", 5), 5);
    ck_assert_int_eq(write(fd, " world", 6), 6);
    ck_assert_int_eq(close(fd), 0);
    /* A read: no event, reads are off by default. */
    char buf[32];
    fd = open(a, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(read(fd, buf, sizeof buf), 11);
    close(fd);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    ck_assert_int_eq(rename(a, b), 0);
    ck_assert_int_eq(chmod(b, 0600), 0);
    ck_assert_int_eq(chown(b, 1234, (gid_t)-1), 0);
    ck_assert_int_eq(truncate(b, 2), 0);
    struct stat st;
    ck_assert_int_eq(stat(b, &st), 0);
    ck_assert_int_eq(st.st_size, 2);
    ck_assert_int_eq(unlink(b), 0);
    ck_assert_int_eq(rmdir(dir), 0);

    struct s_seen seen = {0};
    ck_assert_uint_eq(ph_receive(pull, 9, 10000, cb_event, &seen), 9);
    const struct s_ev *v = seen.ev;
    s_expect(&v[0], VEXFS__V1__EVENT_TYPE__FILESYSTEM_CREATE, "create", a);
    s_expect(&v[1], VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE, "write", a);
    ck_assert_int_eq(v[1].size, 11); /* one event for the burst of two writes */
    ck_assert_int_eq(v[1].count, 2);
    ck_assert_int_eq(v[1].ino, v[0].ino);
    s_expect(&v[2], VEXFS__V1__EVENT_TYPE__FILESYSTEM_MKDIR, "mkdir", dir);
    s_expect(&v[3], VEXFS__V1__EVENT_TYPE__FILESYSTEM_RENAME, "rename", a);
    ck_assert_str_eq(v[3].new_path, b);
    ck_assert_int_eq(v[3].ino, v[0].ino);
    s_expect(&v[4], VEXFS__V1__EVENT_TYPE__FILESYSTEM_CHMOD, "setattr", b);
    ck_assert_str_eq(v[4].attr, "mode");
    s_expect(&v[5], VEXFS__V1__EVENT_TYPE__FILESYSTEM_CHMOD, "setattr", b);
    ck_assert_str_eq(v[5].attr, "uid");
    ck_assert_int_eq(v[5].new_uid, 1234);
    s_expect(&v[6], VEXFS__V1__EVENT_TYPE__FILESYSTEM_CHMOD, "setattr", b);
    ck_assert_str_eq(v[6].attr, "size");
    ck_assert_int_eq(v[6].size, 2);
    s_expect(&v[7], VEXFS__V1__EVENT_TYPE__FILESYSTEM_DELETE, "unlink", b);
    s_expect(&v[8], VEXFS__V1__EVENT_TYPE__FILESYSTEM_RMDIR, "rmdir", dir);

    /* Exactly these: the FUSE layer counted nine events and sent them all. */
    struct s_metric_arg m = {fz.rest_port, "vexfs_fuse_events_sent_total", 9};
    ck_assert(vt_wait_until(cb_metric_is, &m, 5000));
    m.series = "vexfs_fuse_events_total";
    ck_assert(cb_metric_is(&m));
    /* Over the acknowledged ingest: propagation answered for all of them. */
    m.series = "vexfs_fuse_events_acked_total";
    ck_assert(vt_wait_until(cb_metric_is, &m, 5000));

    s_fuse_stop(&fz);
    zsock_destroy(&pull);
    ph_stop(&d);
}
END_TEST

START_TEST(t_reads_when_enabled)
{
    struct ph_daemon d;
    ph_start(&d, NULL, NULL);
    ck_assert_int_eq(vt_pids_note(s_dir, d.pid), 0);
    zsock_t *pull = ph_pull(&d);
    char src[PATH_MAX + 16];
    snprintf(src, sizeof src, "%s/src/r.txt", s_dir);
    ck_assert_int_eq(vt_write_file(src, "0123456789"), 0);
    struct s_fuse fz;
    s_fuse_start(&fz, &d, "  capture_reads: true\n");
    char r[PATH_MAX + 16], buf[4];
    snprintf(r, sizeof r, "%s/r.txt", fz.mnt);
    int fd = open(r, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(read(fd, buf, sizeof buf), 4);
    close(fd);
    struct s_seen seen = {0};
    ck_assert_uint_eq(ph_receive(pull, 1, 10000, cb_event, &seen), 1);
    s_expect(&seen.ev[0], VEXFS__V1__EVENT_TYPE__FILESYSTEM_READ, "read", r);
    ck_assert_int_ge(seen.ev[0].size, 4);
    s_fuse_stop(&fz);
    zsock_destroy(&pull);
    ph_stop(&d);
}
END_TEST

START_TEST(t_files_belong_to_the_caller)
{
    /* Another user creates a file and a directory through the shared mount: they are that
     * user's in the source, and the events carry the user's uid. */
    struct ph_daemon d;
    ph_start(&d, NULL, NULL);
    ck_assert_int_eq(vt_pids_note(s_dir, d.pid), 0);
    zsock_t *pull = ph_pull(&d);
    char src[PATH_MAX + 16];
    snprintf(src, sizeof src, "%s/src", s_dir);
    ck_assert_int_eq(chmod(s_dir, 0755), 0);
    ck_assert_int_eq(chmod(src, 0777), 0);
    struct s_fuse fz;
    s_fuse_start(&fz, &d, NULL);
    char f[PATH_MAX + 16], dir[PATH_MAX + 16];
    snprintf(f, sizeof f, "%s/mine.txt", fz.mnt);
    snprintf(dir, sizeof dir, "%s/mydir", fz.mnt);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        int ok = setresgid(4321, 4321, 4321) == 0 && setresuid(1234, 1234, 1234) == 0;
        int fd = ok ? open(f, O_CREAT | O_WRONLY, 0644) : -1;
        ok = fd >= 0 && close(fd) == 0 && mkdir(dir, 0755) == 0;
        _exit(ok ? 0 : 1);
    }
    int st;
    ck_assert_int_eq(waitpid(child, &st, 0), child);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the other user's operations failed");
    struct stat sb;
    snprintf(f, sizeof f, "%s/mine.txt", src);
    ck_assert_int_eq(stat(f, &sb), 0);
    ck_assert_int_eq(sb.st_uid, 1234);
    ck_assert_int_eq(sb.st_gid, 4321);
    snprintf(dir, sizeof dir, "%s/mydir", src);
    ck_assert_int_eq(stat(dir, &sb), 0);
    ck_assert_int_eq(sb.st_uid, 1234);
    struct s_seen seen = {0};
    ck_assert_uint_eq(ph_receive(pull, 2, 10000, cb_event, &seen), 2);
    ck_assert_str_eq(seen.ev[0].op, "create");
    ck_assert_int_eq(seen.ev[0].uid, 1234);
    ck_assert_int_eq(seen.ev[0].pid, child);
    ck_assert_str_eq(seen.ev[1].op, "mkdir");
    ck_assert_int_eq(seen.ev[1].uid, 1234);
    s_fuse_stop(&fz);
    zsock_destroy(&pull);
    ph_stop(&d);
}
END_TEST

START_TEST(t_unmount_ends_the_daemon)
{
    /* Unmounted from outside (fusermount3 -u): the daemon notices and exits 0. */
    struct ph_daemon d;
    ph_start(&d, NULL, NULL);
    ck_assert_int_eq(vt_pids_note(s_dir, d.pid), 0);
    struct s_fuse fz;
    s_fuse_start(&fz, &d, NULL);
    char *argv[] = {(char *)"/usr/bin/fusermount3", (char *)"-u", fz.mnt, NULL};
    struct vt_run_result r;
    ck_assert_int_eq(vt_run(argv, NULL, NULL, 10000, &r), 0);
    ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "fusermount3: %s", r.err);
    vt_run_result_fini(&r);
    int st = vt_wait_exit(fz.pid, 20000);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
    ph_stop(&d);
}
END_TEST

/* One test case per test: unchecked fixtures run in the parent once per test case, so each
 * test gets its own directory and its own cleanup after its process ended. */
static void
s_add(Suite *s, const char *name, const TTest *t)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, s_setup, s_teardown);
    tcase_add_test(tc, t);
    suite_add_tcase(s, tc);
}

int
main(void)
{
    Suite *s = suite_create("fuse");
    s_add(s, "operations", t_operations_arrive);
    s_add(s, "reads", t_reads_when_enabled);
    s_add(s, "owner", t_files_belong_to_the_caller);
    s_add(s, "unmount", t_unmount_ends_the_daemon);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
