/* SPDX-License-Identifier: Apache-2.0 */
/* The soak's fault injector: one fault at a time, picked at random (seeded) from the kinds the
 * run allows, applied, held, healed, each step written to the timeline log with the run's
 * clock. Kinds:
 *
 *   kill9      SIGKILL of one daemon (propagation, routing, a coordinator, automation,
 *              analytics), started again on the same ports and state after the hold
 *   broker     SIGKILL of the Kafka broker (scripts/kafka.sh kill9), started again on its data
 *   stop       SIGSTOP of one daemon, SIGCONT after the hold
 *   partition  one coordinator cut off: each coordinator runs in a network namespace of its
 *              own (sh_prepare_ex), and the links from its namespace to the other two are set
 *              down, so no raft message passes either way; its client link (REST, the
 *              coordinator boundary) stays up (see README, "Chaos soak")
 *   disk       the state folder on its own small tmpfs filled to the last byte, freed after
 *   slow       the checker's console consumer stops reading, so routing's boundary backs up
 *
 * Why one at a time: each fault's effect stays attributable in the timeline, and a heal never
 * races the next fault (a daemon is never killed while it is being started again). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "soak.h"
#include "vx_test.h"

enum s_kind { S_KILL9, S_BROKER, S_STOP, S_PARTITION, S_DISK, S_SLOW, S_KINDS };
static const char *const s_kind_names[S_KINDS] = {"kill9", "broker",    "stop",
                                                  "partition", "disk", "slow"};
/* The daemons kill9 and stop pick from (the watcher is a producer, not a hop). */
static const enum sh_daemon s_victims[] = {SH_PROPAGATION, SH_ROUTING,    SH_COORD1, SH_COORD2,
                                           SH_COORD3,      SH_AUTOMATION, SH_ANALYTICS};
#define S_N_VICTIMS (sizeof s_victims / sizeof s_victims[0])

struct soak_faults {
    struct sh_suite *suite;
    struct soak_opts opts;
    struct soak_check *check;
    FILE *log;
    pthread_t thread;
    atomic_bool stop;
    bool enabled[S_KINDS];
    uint64_t rng;
    int applied;
    char err[512];
    char died[1024]; /* daemons that exited by themselves, for the verdict */
};

static uint64_t s_t0_ns;

double
soak_clock_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    if (!s_t0_ns) {
        s_t0_ns = now;
    }
    return (double)(now - s_t0_ns) / 1e9;
}

static uint64_t
s_rand(struct soak_faults *f)
{
    /* xorshift64*: small, seeded, the same sequence of picks for the same seed */
    f->rng ^= f->rng >> 12;
    f->rng ^= f->rng << 25;
    f->rng ^= f->rng >> 27;
    return f->rng * 2685821657736338717ull;
}

static int
s_between(struct soak_faults *f, int lo, int hi)
{
    return hi <= lo ? lo : lo + (int)(s_rand(f) % (uint64_t)(hi - lo + 1));
}

static void __attribute__((format(printf, 2, 3)))
s_log(struct soak_faults *f, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    double t = soak_clock_s();
    fprintf(f->log, "%8.3f %s\n", t, line);
    fflush(f->log);
    printf("soak: %8.3f %s\n", t, line);
    fflush(stdout);
}

static void s_reap(struct soak_faults *f);

/* Holds a fault for ms, or less when the run stops, watching for daemons that die by
 * themselves meanwhile. Pacing, not a wait for a condition. */
static void
s_hold(struct soak_faults *f, int ms)
{
    for (int waited = 0; waited < ms && !atomic_load(&f->stop); waited += 50) {
        s_reap(f);
        vt_sleep_ms(ms - waited < 50 ? ms - waited : 50);
    }
}

/* ---- the partition ---------------------------------------------------------------------- */

void
soak_faults_cleanup(struct sh_suite *s)
{
    /* Namespaces of this run (a failed or interrupted one), and of runs that are gone. */
    if (s && s->netns) {
        cn_cleanup(s->net.prefix);
        s->netns = false;
    }
    cn_cleanup_stale();
}

/* ---- the full disk ----------------------------------------------------------------------- */

static int
s_fill(const char *dir, char *file, size_t len)
{
    snprintf(file, len, "%s/soak-fill", dir);
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        return -errno;
    }
    static const char zeros[65536];
    ssize_t n;
    do {
        n = write(fd, zeros, sizeof zeros);
    } while (n > 0);
    /* the last bytes, smaller than a block */
    while (write(fd, zeros, 1) == 1) {
    }
    int rc = errno == ENOSPC ? 0 : -errno;
    close(fd);
    return rc;
}

/* ---- the thread -------------------------------------------------------------------------- */

static bool
s_heal_start(struct soak_faults *f, enum sh_daemon d)
{
    double t = soak_clock_s();
    sh_start(f->suite, d); /* fails the run when it is not ready in 30 s */
    s_log(f, "heal  kill9 %s: started again, ready after %.1f s", sh_name(d), soak_clock_s() - t);
    return true;
}

static int
s_kafka(const char *verb)
{
    char *argv[] = {(char *)"scripts/kafka.sh", (char *)verb, NULL};
    struct vt_run_result r;
    int rc = vt_run(argv, NULL, NULL, 180000, &r);
    int ok = rc == 0 && WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0;
    if (!ok) {
        fprintf(stderr, "soak: scripts/kafka.sh %s: %s\n", verb, r.err ? r.err : "");
    }
    vt_run_result_fini(&r);
    return ok ? 0 : -1;
}

/* A daemon that exited without a fault killing it (a crash, an exit on an error) is a finding:
 * written to the timeline with its status and log, kept for the verdict, and started again so
 * the run goes on. */
static void
s_reap(struct soak_faults *f)
{
    struct sh_suite *s = f->suite;
    for (int d = 0; d < SH_N; d++) {
        int st;
        if (s->pid[d] <= 0 || waitpid(s->pid[d], &st, WNOHANG) != s->pid[d]) {
            continue;
        }
        char how[64];
        if (WIFSIGNALED(st)) {
            snprintf(how, sizeof how, "killed by signal %d (%s)", WTERMSIG(st),
                     strsignal(WTERMSIG(st)));
        } else {
            snprintf(how, sizeof how, "exit status %d", WEXITSTATUS(st));
        }
        char line[400];
        snprintf(line, sizeof line, "%s (pid %d) %s by itself; log %s/%s.%d.log",
                 sh_name((enum sh_daemon)d), (int)s->pid[d], how, s->dir,
                 sh_name((enum sh_daemon)d), s->restarts[d]);
        s_log(f, "DIED  %s", line);
        size_t n = strlen(f->died);
        snprintf(f->died + n, sizeof f->died - n, "%s%s", n ? "; " : "", line);
        s->pid[d] = 0;
        s->restarts[d]++;
        sh_start(s, (enum sh_daemon)d);
        s_log(f, "heal  %s started again after its exit", sh_name((enum sh_daemon)d));
    }
}

/* One fault: apply, hold, heal. Returns false (with f->err) when healing failed. */
static bool
s_one(struct soak_faults *f, enum s_kind k)
{
    int hold = s_between(f, f->opts.hold_min_ms, f->opts.hold_max_ms);
    enum sh_daemon d = s_victims[s_rand(f) % S_N_VICTIMS];
    struct sh_suite *s = f->suite;
    f->applied++;
    switch (k) {
    case S_KILL9:
        s_log(f, "apply kill9 %s (pid %d), down for %d ms", sh_name(d), (int)s->pid[d], hold);
        sh_kill9(s, d);
        s_hold(f, hold);
        return s_heal_start(f, d);
    case S_BROKER:
        s_log(f, "apply broker kill -9, down for %d ms", hold);
        if (s_kafka("kill9") < 0) {
            snprintf(f->err, sizeof f->err, "the broker could not be killed");
            return false;
        }
        s_hold(f, hold);
        if (s_kafka("restart-after-kill") < 0) {
            snprintf(f->err, sizeof f->err, "the broker did not start again on its data");
            return false;
        }
        s_log(f, "heal  broker: started again on its data");
        return true;
    case S_STOP:
        s_log(f, "apply stop %s (pid %d) for %d ms", sh_name(d), (int)s->pid[d], hold);
        kill(s->pid[d], SIGSTOP);
        s_hold(f, hold);
        kill(s->pid[d], SIGCONT);
        s_log(f, "heal  stop %s: continued", sh_name(d));
        return true;
    case S_PARTITION: {
        int i = (int)(s_rand(f) % 3);
        s_log(f, "apply partition coordinator%d (its links to the other coordinators down) for "
                 "%d ms", i + 1, hold);
        cn_isolate(&s->net, (size_t)i, true);
        s_hold(f, hold);
        cn_isolate(&s->net, (size_t)i, false);
        s_log(f, "heal  partition coordinator%d", i + 1);
        return true;
    }
    case S_DISK: {
        char dir[400], file[460];
        snprintf(dir, sizeof dir, "%s/%s", s->dir, f->opts.disk_dir);
        int rc = s_fill(dir, file, sizeof file);
        struct statvfs sv;
        unsigned long long avail = statvfs(dir, &sv) == 0 ? sv.f_bavail * sv.f_bsize : 0;
        s_log(f, "apply disk full on %s (%s, %llu bytes left) for %d ms", f->opts.disk_dir,
              rc == 0 ? "filled" : strerror(-rc), avail, hold);
        s_hold(f, hold);
        unlink(file);
        s_log(f, "heal  disk %s: freed", f->opts.disk_dir);
        return true;
    }
    case S_SLOW:
        s_log(f, "apply slow consumer: console not read for %d ms", hold);
        soak_check_stall(f->check, hold);
        s_hold(f, hold);
        s_log(f, "heal  slow consumer");
        return true;
    default:
        return true;
    }
}

static void *
s_main(void *arg)
{
    struct soak_faults *f = arg;
    int kinds[S_KINDS], n = 0;
    for (int k = 0; k < S_KINDS; k++) {
        if (f->enabled[k]) {
            kinds[n++] = k;
        }
    }
    while (!atomic_load(&f->stop)) {
        s_hold(f, s_between(f, f->opts.fault_min_ms, f->opts.fault_max_ms));
        if (atomic_load(&f->stop) || n == 0) {
            continue; /* without fault kinds the thread still watches for deaths */
        }
        if (!s_one(f, (enum s_kind)kinds[s_rand(f) % (uint64_t)n])) {
            s_log(f, "FAILED: %s", f->err);
            break;
        }
    }
    return NULL;
}

struct soak_faults *
soak_faults_start(struct sh_suite *s, const struct soak_opts *o, struct soak_check *check,
                  const char *log_path)
{
    struct soak_faults *f = calloc(1, sizeof *f);
    if (!f) {
        abort();
    }
    f->suite = s;
    f->opts = *o;
    f->check = check;
    f->rng = o->seed ? o->seed : 1;
    f->log = fopen(log_path, "a");
    if (!f->log) {
        fprintf(stderr, "soak: %s: %s\n", log_path, strerror(errno));
        exit(2);
    }
    char kinds[256];
    snprintf(kinds, sizeof kinds, "%s", o->faults);
    for (char *save = NULL, *t = strtok_r(kinds, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        for (int k = 0; k < S_KINDS; k++) {
            if (strcmp(t, s_kind_names[k]) == 0) {
                f->enabled[k] = true;
            }
        }
    }
    atomic_init(&f->stop, false);
    s_log(f, "faults: seed %" PRIu64 ", kinds %s, every %d..%d ms, held %d..%d ms", o->seed,
          o->faults[0] ? o->faults : "(none)", o->fault_min_ms, o->fault_max_ms, o->hold_min_ms,
          o->hold_max_ms);
    if (pthread_create(&f->thread, NULL, s_main, f) != 0) {
        abort();
    }
    return f;
}

int
soak_faults_stop(struct soak_faults **fp, char *err, size_t len, char *died, size_t dlen)
{
    struct soak_faults *f = *fp;
    if (!f) {
        return 0;
    }
    atomic_store(&f->stop, true);
    pthread_join(f->thread, NULL);
    s_reap(f);
    snprintf(died, dlen, "%s", f->died);
    int applied = f->applied;
    if (f->err[0]) {
        snprintf(err, len, "%s", f->err);
        applied = -1;
    }
    s_log(f, "faults stopped: %d applied", f->applied);
    fclose(f->log);
    free(f);
    *fp = NULL;
    return applied;
}

bool
soak_fault_kind_known(const char *name)
{
    for (int k = 0; k < S_KINDS; k++) {
        if (strcmp(name, s_kind_names[k]) == 0) {
            return true;
        }
    }
    return false;
}
