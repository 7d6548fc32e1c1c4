/* SPDX-License-Identifier: Apache-2.0 */
/* `make run` (scripts/run-demo.sh) as a user meets it, on a free port range of its own
 * (VX_DEMO_PORT_BASE, so another suite on the default ports does not stop it): its output read
 * through a pipe; the event a user emits with vexfsctl, which finds the demo through the
 * context file the demo wrote, shows on the demo's screen; then the reader of the output goes
 * away (as when Ctrl-C kills `make run | tee run.log`) or the demo gets SIGTERM or SIGHUP — and
 * every daemon stops, the ports are free again, the run's folder and the context file are
 * gone. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vx_test.h"

#define S_OUT_MAX (1u << 20)
/* REST ports of the demo as offsets from VX_DEMO_PORT_BASE, then its ZeroMQ ports N+30..N+44. */
static const int s_rest_offsets[] = {0, 1, 2, 3, 4, 12, 22, 7};
#define S_N_PORTS (sizeof s_rest_offsets / sizeof s_rest_offsets[0] + 15)
static int s_ports[S_N_PORTS];

struct s_demo {
    pid_t pid;
    int out; /* read end of the demo's stdout and stderr */
    char buf[S_OUT_MAX];
    size_t len;
    char xdg[256];
};

static pid_t s_live; /* the demo under test, stopped by the teardown when a check failed */

static void
cb_teardown(void)
{
    if (s_live > 0 && waitpid(s_live, NULL, WNOHANG) == 0) {
        kill(s_live, SIGTERM);
        waitpid(s_live, NULL, 0);
    }
    s_live = 0;
}

static bool
s_port_listens(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* Whether nothing listens on, or holds, the loopback port. */
static bool
s_port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* A base whose 45 ports are free, and s_ports filled from it. */
static int
s_pick_base(void)
{
    for (int base = 31000 + (int)(getpid() % 40) * 50; base < 60000; base += 50) {
        bool ok = true;
        for (int off = 0; off < 45 && ok; off++) {
            ok = s_port_free(base + off);
        }
        if (ok) {
            size_t n = 0;
            for (size_t i = 0; i < sizeof s_rest_offsets / sizeof s_rest_offsets[0]; i++) {
                s_ports[n++] = base + s_rest_offsets[i];
            }
            for (int z = 0; z < 15; z++) {
                s_ports[n++] = base + 30 + z;
            }
            return base;
        }
    }
    ck_abort_msg("no free range of 45 loopback ports between 31000 and 60000");
    return -1;
}

static void
s_start(struct s_demo *d)
{
    int base = s_pick_base();
    char *dir = vt_tmpdir();
    ck_assert_ptr_nonnull(dir);
    snprintf(d->xdg, sizeof d->xdg, "%s", dir);
    free(dir);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    d->pid = fork();
    ck_assert_int_ge(d->pid, 0);
    if (d->pid == 0) {
        dup2(p[1], 1);
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        setpgid(0, 0);
        /* As from a terminal: a test run under nohup would hand down SIGHUP ignored, and a
         * shell cannot trap a signal ignored when it starts. */
        signal(SIGPIPE, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        setenv("XDG_CONFIG_HOME", d->xdg, 1);
        setenv("VX_DEMO_SECONDS", "0", 1);
        char b[16];
        snprintf(b, sizeof b, "%d", base);
        setenv("VX_DEMO_PORT_BASE", b, 1);
        char build[600];
        snprintf(build, sizeof build, "%s/..", vt_bin_dir());
        execl("/bin/bash", "bash", "scripts/run-demo.sh", build, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    s_live = d->pid;
    d->out = p[0];
    d->len = 0;
    d->buf[0] = '\0';
}

/* The end of the demo's output, short enough for a test message. */
static const char *
s_tail(const struct s_demo *d)
{
    return d->len > 3000 ? d->buf + d->len - 3000 : d->buf;
}

/* The demo's folder, from the line that names it ("... VX_DEMO_KEEP=1 keeps /tmp/...)"). */
static void
s_work_dir(const struct s_demo *d, char *out, size_t len)
{
    const char *p = strstr(d->buf, "VX_DEMO_KEEP=1 keeps ");
    ck_assert_ptr_nonnull(p);
    p += strlen("VX_DEMO_KEEP=1 keeps ");
    size_t n = strcspn(p, ")\n");
    ck_assert_uint_lt(n, len);
    memcpy(out, p, n);
    out[n] = '\0';
}

static void s_emit(const char *ctl, char **argv, const char *xdg);

/* Reads the demo's output for up to timeout_ms or until it holds needle; true when it does. */
static bool
s_wait_for(struct s_demo *d, const char *needle, int timeout_ms)
{
    uint64_t deadline = vt_now_ms() + (uint64_t)timeout_ms;
    while (!strstr(d->buf, needle)) {
        uint64_t now = vt_now_ms();
        if (now >= deadline) {
            return false;
        }
        struct pollfd pf = {d->out, POLLIN, 0};
        if (poll(&pf, 1, (int)(deadline - now)) <= 0) {
            continue;
        }
        ssize_t n = read(d->out, d->buf + d->len, sizeof d->buf - 1 - d->len);
        if (n <= 0) {
            return false;
        }
        d->len += (size_t)n;
        d->buf[d->len] = '\0';
    }
    return true;
}

/* Reads the demo's output until it holds needle; fails with the output after timeout_ms. */
static void
s_expect(struct s_demo *d, const char *needle, int timeout_ms)
{
    ck_assert_msg(s_wait_for(d, needle, timeout_ms),
                  "the demo never printed '%s' within %d ms; its output ends:\n%s", needle,
                  timeout_ms, s_tail(d));
}

/* Emits one event with vexfsctl, which reaches the demo through the context file alone (the
 * test's own security variables are removed from its environment), and waits for the demo
 * to show it. */
static void
s_emit_and_see(struct s_demo *d, const char *path)
{
    char ctl[600], ctx[400];
    snprintf(ctl, sizeof ctl, "%s/vexfsctl", vt_bin_dir());
    snprintf(ctx, sizeof ctx, "%s/vexfs/context", d->xdg);
    ck_assert_msg(access(ctx, R_OK) == 0, "the demo wrote no context file %s", ctx);
    char *argv[] = {ctl, "emit", "--type", "filesystem_write", "--path", (char *)path,
                    "--content", "text=hello", NULL};
    char want[300];
    snprintf(want, sizeof want, "\"path\":\"%s\"", path);
    /* The console's subscription may still be under way when the demo prints its hints: a
     * user who sees nothing sends again. */
    for (int attempt = 0; attempt < 10 && !strstr(d->buf, want); attempt++) {
        s_emit(ctl, argv, d->xdg);
        s_wait_for(d, want, 1500);
    }
    s_expect(d, want, 15000);
}

static void
s_emit(const char *ctl, char **argv, const char *xdg)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        unsetenv("VEXFS_SECURITY_KEYS_DIR");
        unsetenv("VEXFS_SECURITY_TLS_DIR");
        unsetenv("VEXFS_SECURITY_CREDENTIALS_FILE");
        setenv("XDG_CONFIG_HOME", xdg, 1);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execv(ctl, argv);
        _exit(127);
    }
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "vexfsctl emit exit %d", st);
}

/* Waits for the demo to exit; checks its status, the free ports and the removed folders. */
static void
s_expect_stopped(struct s_demo *d, const char *work, int timeout_ms)
{
    uint64_t deadline = vt_now_ms() + (uint64_t)timeout_ms;
    int st = 0;
    pid_t w;
    while ((w = waitpid(d->pid, &st, WNOHANG)) == 0) {
        ck_assert_msg(vt_now_ms() < deadline, "the demo did not stop within %d ms", timeout_ms);
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    ck_assert_int_eq(w, d->pid);
    s_live = 0;
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the demo ended with status %d", st);
    for (size_t i = 0; i < S_N_PORTS; i++) {
        ck_assert_msg(!s_port_listens(s_ports[i]), "port %d still answers after the demo",
                      s_ports[i]);
    }
    struct stat sb;
    ck_assert_msg(stat(work, &sb) < 0 && errno == ENOENT, "the demo left its folder %s", work);
    char ctx[400];
    snprintf(ctx, sizeof ctx, "%s/vexfs/context", d->xdg);
    ck_assert_msg(access(ctx, F_OK) < 0, "the demo left its context file %s", ctx);
    close(d->out);
}

START_TEST(t_reader_goes_away)
{
    static struct s_demo d;
    s_start(&d);
    s_expect(&d, "try in another terminal", 120000);
    s_expect(&d, "VX_DEMO_KEEP=1 keeps ", 5000);
    char work[256];
    s_work_dir(&d, work, sizeof work);
    s_emit_and_see(&d, "/tmp/vexfs-demo-test/hello.txt");
    close(d.out); /* the reader dies: the demo's next line meets a closed pipe */
    d.out = open("/dev/null", O_RDONLY);
    s_expect_stopped(&d, work, 60000);
}
END_TEST

START_TEST(t_sigterm_and_sighup)
{
    static const int sigs[] = {SIGTERM, SIGHUP};
    for (size_t i = 0; i < 2; i++) {
        static struct s_demo d;
        s_start(&d);
        s_expect(&d, "VX_DEMO_KEEP=1 keeps ", 120000);
        char work[256];
        s_work_dir(&d, work, sizeof work);
        ck_assert_int_eq(kill(d.pid, sigs[i]), 0);
        s_expect(&d, "demo: stopping", 30000);
        s_expect(&d, "propagation exited with status 0", 60000);
        s_expect_stopped(&d, work, 60000);
    }
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("demo");
    TCase *tc = tcase_create("demo");
    tcase_set_timeout(tc, 400);
    tcase_add_checked_fixture(tc, NULL, cb_teardown);
    tcase_add_test(tc, t_reader_goes_away);
    tcase_add_test(tc, t_sigterm_and_sighup);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
