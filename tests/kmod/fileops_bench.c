/* SPDX-License-Identifier: Apache-2.0 */
/* Guest-side workload for scripts/kmod-bench.sh: N times create a file, write 4 KiB, close,
 * rename it, unlink it, in DIR; prints the elapsed CLOCK_MONOTONIC time. Under qemu -icount
 * the guest clock advances with the instructions executed, so the time is an instruction count
 * rather than emulation speed. --drain forks a child that reads /dev/vexfs_events and throws
 * the records away while the workload runs (what a forwarder does). Built static: the initramfs
 * has no C library. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static unsigned long long
s_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (unsigned long long)t.tv_sec * 1000000000ull + (unsigned long long)t.tv_nsec;
}

static void
s_drain(void)
{
    static char buf[1 << 16];
    int fd = open("/dev/vexfs_events", O_RDONLY | O_NONBLOCK);
    if (fd < 0) {
        perror("open /dev/vexfs_events");
        _exit(1);
    }
    unsigned long long bytes = 0;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) > 0) {
            ssize_t n = read(fd, buf, sizeof buf);
            bytes += n > 0 ? (unsigned long long)n : 0;
        }
    }
}

int
main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: fileops_bench DIR N [--drain]\n");
        return 2;
    }
    const char *dir = argv[1];
    long n = strtol(argv[2], NULL, 10);
    pid_t drain = -1;
    if (argc > 3 && strcmp(argv[3], "--drain") == 0) {
        drain = fork();
        if (drain == 0) {
            s_drain();
        }
        usleep(50 * 1000);
    }
    static char data[4096];
    memset(data, 'x', sizeof data);
    char a[512], b[512];
    unsigned long long t0 = s_now_ns();
    for (long i = 0; i < n; i++) {
        snprintf(a, sizeof a, "%s/f%ld", dir, i);
        snprintf(b, sizeof b, "%s/g%ld", dir, i);
        int fd = open(a, O_CREAT | O_WRONLY | O_TRUNC, 0644);
        if (fd < 0 || write(fd, data, sizeof data) != (ssize_t)sizeof data || close(fd) < 0 ||
            rename(a, b) < 0 || unlink(b) < 0) {
            fprintf(stderr, "fileops_bench: %s: %s\n", a, strerror(errno));
            return 1;
        }
    }
    unsigned long long ns = s_now_ns() - t0;
    if (drain > 0) {
        kill(drain, SIGKILL);
        waitpid(drain, NULL, 0);
    }
    printf("%llu\n", ns);
    return 0;
}
