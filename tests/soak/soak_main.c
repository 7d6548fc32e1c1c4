/* SPDX-License-Identifier: Apache-2.0 */
/* The chaos soak (README, "Chaos soak"): starts the whole suite on loopback (suite_harness),
 * loads it at a steady rate over the acknowledged producer link, injects faults at random, and
 * at the end lets an independent checker say, per hop, what was sent, acknowledged,
 * delivered, duplicated and lost. Exits non-zero naming every violation: an acknowledged event
 * lost on a strict hop, more duplicates on a strict hop than the producer resent, a daemon not
 * healthy at the end, a fault that could not be healed, a daemon that did not stop cleanly.
 *
 * Runs as one Check test in a forked child, so the harness's assertions (a daemon that does
 * not start again) fail the run with their message, as in the integration tests. */
#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "soak.h"
#include "vx_test.h"

static struct soak_opts s_opts = {
    .duration_s = 600,
    .rate = 20000,
    .batch = 100,
    .fault_min_ms = 3000,
    .fault_max_ms = 8000,
    .hold_min_ms = 1000,
    .hold_max_ms = 4000,
    .faults = "kill9,broker,stop,partition,disk,slow",
    .strict = "journal",
    .drain_s = 180,
    .tmpfs_mb = 1024,
    .disk_dir = "coordinator1",
};
static char s_log_dir[256] = "build/soak";

/* What the atexit handler must undo when the run ends early (a failed assertion exits). */
static struct sh_suite *s_suite;
static char s_mounted[400];

static void
cb_undo(void)
{
    if (s_suite) {
        for (int d = 0; d < SH_N; d++) {
            if (s_suite->pid[d] > 0) {
                kill(s_suite->pid[d], SIGCONT);
                kill(s_suite->pid[d], SIGKILL);
                waitpid(s_suite->pid[d], NULL, 0);
                s_suite->pid[d] = 0;
            }
        }
    }
    soak_faults_cleanup(s_suite);
    if (s_mounted[0]) {
        umount2(s_mounted, MNT_DETACH);
        s_mounted[0] = '\0';
    }
}

static bool
s_strict(enum soak_hop h)
{
    char list[sizeof s_opts.strict];
    snprintf(list, sizeof list, "%s", s_opts.strict);
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (strcmp(t, soak_hop_name(h)) == 0 || strcmp(t, "all") == 0) {
            return true;
        }
    }
    return false;
}

/* Appends one violation to the list (and prints it at once). */
static void __attribute__((format(printf, 3, 4)))
s_violation(char *buf, size_t len, const char *fmt, ...)
{
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    size_t n = strlen(buf);
    snprintf(buf + n, len - n, "%s%s", n ? "; " : "", line);
    printf("soak: VIOLATION: %s\n", line);
    fflush(stdout);
}

static void
s_progress(struct soak_load *load, struct soak_check *check)
{
    struct soak_load_stats st;
    soak_load_stats(load, &st);
    uint64_t jd, jc, cd, cc;
    soak_check_count(check, SOAK_HOP_JOURNAL, st.sent, &jd, &jc);
    soak_check_count(check, SOAK_HOP_CONSOLE, st.sent, &cd, &cc);
    printf("soak: %8.3f sent %" PRIu64 " acked %" PRIu64 " resent %" PRIu64 " held %" PRIu64
           " batches | journal %" PRIu64 " | console %" PRIu64 "\n",
           soak_clock_s(), st.sent, st.acked, st.resent, st.held_batches, jd, cd);
    fflush(stdout);
}

/* Waits until the producer holds nothing and every hop has every acknowledged event, or
 * nothing moved for 20 s once the producer is empty, or the drain deadline passed. */
static void
s_drain(struct soak_load *load, struct soak_check *check)
{
    uint64_t deadline = vt_now_ms() + (uint64_t)s_opts.drain_s * 1000;
    uint64_t last_sum = 0, last_move = vt_now_ms(), next_print = 0;
    while (vt_now_ms() < deadline) {
        struct soak_load_stats st;
        soak_load_stats(load, &st);
        uint64_t jd, jc, cd, cc;
        soak_check_count(check, SOAK_HOP_JOURNAL, st.acked_upto, &jd, &jc);
        soak_check_count(check, SOAK_HOP_CONSOLE, st.acked_upto, &cd, &cc);
        if (st.held_batches == 0 && jd == st.acked_upto && cd == st.acked_upto) {
            return;
        }
        uint64_t sum = jc + cc + st.acked;
        if (sum != last_sum) {
            last_sum = sum;
            last_move = vt_now_ms();
        } else if (st.held_batches == 0 && vt_now_ms() - last_move > 20000) {
            return;
        }
        if (vt_now_ms() >= next_print) {
            s_progress(load, check);
            next_print = vt_now_ms() + 5000;
        }
        vt_sleep_ms(200);
    }
}

/* /health and /ready of every daemon, and that each is the process started last. */
static void
s_health(struct sh_suite *s, char *viol, size_t vlen)
{
    for (int d = 0; d < SH_N; d++) {
        int st;
        if (s->pid[d] <= 0 || waitpid(s->pid[d], &st, WNOHANG) != 0) {
            s_violation(viol, vlen, "%s is not running at the end (log %s/%s.%d.log)",
                        sh_name((enum sh_daemon)d), s->dir, sh_name((enum sh_daemon)d),
                        s->restarts[d]);
            s->pid[d] = 0;
            continue;
        }
        bool ready = vt_wait_ready(s->rest[d], 60000);
        long health = vt_http_anon_status("GET", s->rest[d], "/health", NULL);
        printf("soak: %-13s /health %ld /ready %s (restarted %d times)\n",
               sh_name((enum sh_daemon)d), health, ready ? "200" : "not 200", s->restarts[d]);
        fflush(stdout);
        if (!ready || health != 200) {
            s_violation(viol, vlen, "%s not healthy at the end: /health %ld, /ready %s",
                        sh_name((enum sh_daemon)d), health, ready ? "200" : "not 200 in 60 s");
        }
    }
}

/* The summary table, to stdout and to the log folder's summary.txt. */
static void
s_summary(struct soak_load *load, struct soak_check *check, const struct sh_suite *s,
          int faults, char *viol, size_t vlen)
{
    struct soak_load_stats st;
    soak_load_stats(load, &st);
    char path[400];
    snprintf(path, sizeof path, "%s/summary.txt", s_log_dir);
    FILE *outs[2] = {stdout, fopen(path, "w")};
    uint64_t lost[SOAK_HOP_N], dup[SOAK_HOP_N], got[SOAK_HOP_N];
    for (int h = 0; h < SOAK_HOP_N; h++) {
        uint64_t d, c, da, ca;
        soak_check_count(check, (enum soak_hop)h, st.sent, &d, &c);
        soak_check_count(check, (enum soak_hop)h, st.acked_upto, &da, &ca);
        got[h] = d;
        dup[h] = c - d;
        lost[h] = st.acked_upto - da;
    }
    /* Each node counts from its own last start: the largest is the closest to the whole run. */
    double coord = 0;
    for (int d = SH_COORD1; d <= SH_COORD3; d++) {
        double v = sh_metric_sum(s, (enum sh_daemon)d, "vexfs_consensus_events_applied_total");
        coord = v > coord ? v : coord;
    }
    for (int o = 0; o < 2; o++) {
        FILE *f = outs[o];
        if (!f) {
            continue;
        }
        fprintf(f,
                "\nchaos soak: seed %" PRIu64 ", %d s at %d events/s asked (%.0f events/s "
                "sent), %d faults (timeline %s/faults.log)\n",
                s_opts.seed, s_opts.duration_s, s_opts.rate,
                st.elapsed_s > 0 ? (double)st.sent / st.elapsed_s : 0.0, faults, s_log_dir);
        fprintf(f, "%-34s %-6s %10s %10s %10s %10s %8s %8s\n", "hop", "strict", "sent", "acked",
                "delivered", "duplicates", "lost", "resent");
        fprintf(f, "%-34s %-6s %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10s %8" PRIu64
                   " %8" PRIu64 "\n",
                "producer -> propagation (acked)", "yes", st.sent, st.acked, st.acked, "-",
                st.dropped, st.resent);
        static const char *const labels[SOAK_HOP_N] = {"propagation -> kafka journal",
                                                       "routing -> console boundary"};
        for (int h = 0; h < SOAK_HOP_N; h++) {
            fprintf(f, "%-34s %-6s %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10" PRIu64
                       " %8" PRIu64 " %8s\n",
                    labels[h], s_strict((enum soak_hop)h) ? "yes" : "no", st.sent,
                    st.acked_upto, got[h], dup[h], lost[h], "-");
        }
        fprintf(f, "%-34s %-6s %10s %10s %10.0f %10s %8s %8s\n",
                "routing -> coordinator (metric)", "no", "-", "-", coord, "-", "-", "-");
        fprintf(f, "(lost: acknowledged and never seen on the hop; the coordinator row is "
                   "the largest applied-events counter of the 3 nodes, each since its last start, "
                   "all producers, not checked by id)\n");
    }
    fflush(stdout); /* a failed assertion ends the process without flushing it */
    if (outs[1]) {
        fclose(outs[1]);
    }
    if (st.held_batches) {
        s_violation(viol, vlen, "the producer still holds %" PRIu64
                                " unacknowledged batches after %d s of drain",
                    st.held_batches, s_opts.drain_s);
    }
    for (int h = 0; h < SOAK_HOP_N; h++) {
        if (!s_strict((enum soak_hop)h)) {
            continue;
        }
        if (lost[h]) {
            char miss[256];
            soak_check_missing(check, (enum soak_hop)h, st.acked_upto, miss, sizeof miss);
            s_violation(viol, vlen, "hop %s lost %" PRIu64 " acknowledged events (first: %s)",
                        soak_hop_name((enum soak_hop)h), lost[h], miss);
        }
        if (dup[h] > st.resent) {
            s_violation(viol, vlen, "hop %s has %" PRIu64 " duplicates, more than the %" PRIu64
                                    " events the producer resent",
                        soak_hop_name((enum soak_hop)h), dup[h], st.resent);
        }
    }
}

START_TEST(t_soak)
{
    char viol[4096] = "";
    soak_clock_s();
    mkdir(s_log_dir, 0755);
    char flog[400];
    snprintf(flog, sizeof flog, "%s/faults.log", s_log_dir);
    FILE *trunc = fopen(flog, "w");
    if (trunc) {
        fclose(trunc);
    }
    printf("soak: seed %" PRIu64 " duration %d s rate %d events/s batch %d faults %s strict %s\n",
           s_opts.seed, s_opts.duration_s, s_opts.rate, s_opts.batch, s_opts.faults,
           s_opts.strict);
    fflush(stdout);

    static struct sh_suite s;
    /* The coordinators in namespaces of their own when the partition fault may be picked. */
    sh_prepare_ex(&s, true, strstr(s_opts.faults, "partition") != NULL);
    s_suite = &s;
    atexit(cb_undo);
    if (strstr(s_opts.faults, "disk")) {
        char dir[400], opt[32];
        snprintf(dir, sizeof dir, "%s/%s", s.dir, s_opts.disk_dir);
        ck_assert_msg(mkdir(dir, 0700) == 0 || errno == EEXIST, "%s: %s", dir, strerror(errno));
        snprintf(opt, sizeof opt, "size=%dm,mode=0700", s_opts.tmpfs_mb);
        ck_assert_msg(mount("tmpfs", dir, "tmpfs", 0, opt) == 0,
                      "cannot mount a tmpfs on %s (root needed): %s", dir, strerror(errno));
        snprintf(s_mounted, sizeof s_mounted, "%s", dir);
    }
    sh_launch(&s);
    printf("soak: suite up in %.1f s; folder %s\n", soak_clock_s(), s.dir);
    fflush(stdout);

    uint64_t tag = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^ (s_opts.seed << 32);
    uint64_t max = (uint64_t)s_opts.rate * (uint64_t)s_opts.duration_s + 2 * (uint64_t)s_opts.batch;
    struct soak_check *check = soak_check_start(&s, tag, max);
    struct soak_load *load = soak_load_start(&s, &s_opts, tag, max);
    struct soak_faults *faults = soak_faults_start(&s, &s_opts, check, flog);

    uint64_t end = vt_now_ms() + (uint64_t)s_opts.duration_s * 1000, next_print = 0;
    while (vt_now_ms() < end) {
        if (vt_now_ms() >= next_print) {
            s_progress(load, check);
            next_print = vt_now_ms() + 10000;
        }
        vt_sleep_ms(200);
    }
    char ferr[512] = "", died[1024] = "";
    int applied = soak_faults_stop(&faults, ferr, sizeof ferr, died, sizeof died);
    if (applied < 0) {
        s_violation(viol, sizeof viol, "a fault could not be healed: %s", ferr);
    }
    if (died[0]) {
        s_violation(viol, sizeof viol, "daemons exited by themselves: %s", died);
    }
    soak_load_pause(load);
    printf("soak: %8.3f load stopped; draining\n", soak_clock_s());
    fflush(stdout);
    s_drain(load, check);
    s_health(&s, viol, sizeof viol);
    s_summary(load, check, &s, applied, viol, sizeof viol);
    soak_load_stop(&load);
    soak_check_stop(&check);
    sh_stop_all(&s); /* each daemon must exit 0 on SIGTERM */
    cb_undo();
    ck_assert_msg(viol[0] == '\0', "chaos soak violations: %s", viol);
    printf("soak: no violation\n");
}
END_TEST

static void
s_usage(FILE *f)
{
    fprintf(f,
            "usage: soak [options]   (run from the repository root; scripts/soak.sh starts a broker)\n"
            "  --duration S        seconds of load and faults (600)\n"
            "  --rate N            events per second asked of the producer (20000)\n"
            "  --batch N           events per batch (100)\n"
            "  --seed N            the fault injector's seed (default: from the clock; printed)\n"
            "  --fault-every A:B   milliseconds between two faults, at random in A..B (3000:8000)\n"
            "  --hold A:B          milliseconds a fault lasts (1000:4000)\n"
            "  --faults LIST       kinds to pick from: kill9,broker,stop,partition,disk,slow (all);\n"
            "                      \"none\" for a run without faults\n"
            "  --strict LIST       hops whose lost must be 0: journal,console or all (journal)\n"
            "  --drain S           seconds the hops may take to catch up after the load (180)\n"
            "  --disk-dir NAME     the state folder the disk fault fills, on its own tmpfs:\n"
            "                      coordinator1..3, routing-state, automation-state,\n"
            "                      analytics-state (coordinator1)\n"
            "  --tmpfs-mb N        that tmpfs's size (1024)\n"
            "  --log-dir DIR       where faults.log and summary.txt go (build/soak)\n");
}

static int
s_range(const char *arg, int *lo, int *hi)
{
    char *end;
    long a = strtol(arg, &end, 10);
    if (*end != ':' || a < 0) {
        return -EINVAL;
    }
    long b = strtol(end + 1, &end, 10);
    if (*end || b < a || b > 3600000) {
        return -EINVAL;
    }
    *lo = (int)a;
    *hi = (int)b;
    return 0;
}

static int
s_int(const char *arg, long min, long max, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || *end || end == arg || v < min || v > max) {
        return -EINVAL;
    }
    *out = (int)v;
    return 0;
}

/* Parses the options into s_opts; exits 2 with a message naming the bad one. */
static void
s_parse(int argc, char **argv)
{
    static const struct option longs[] = {
        {"duration", 1, NULL, 'd'}, {"rate", 1, NULL, 'r'},   {"batch", 1, NULL, 'b'},
        {"seed", 1, NULL, 's'},     {"fault-every", 1, NULL, 'e'}, {"hold", 1, NULL, 'H'},
        {"faults", 1, NULL, 'f'},   {"strict", 1, NULL, 'S'}, {"drain", 1, NULL, 'D'},
        {"disk-dir", 1, NULL, 'k'}, {"tmpfs-mb", 1, NULL, 'm'}, {"log-dir", 1, NULL, 'l'},
        {"help", 0, NULL, 'h'},     {NULL, 0, NULL, 0}};
    s_opts.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
    int c, li = -1;
    while ((c = getopt_long(argc, argv, "h", longs, &li)) != -1) {
        int rc = 0;
        switch (c) {
        case 'd': rc = s_int(optarg, 1, 86400, &s_opts.duration_s); break;
        case 'r': rc = s_int(optarg, 1, 10000000, &s_opts.rate); break;
        case 'b': rc = s_int(optarg, 1, 1000, &s_opts.batch); break;
        case 's': {
            char *end;
            errno = 0;
            s_opts.seed = strtoull(optarg, &end, 10);
            rc = errno || *end || end == optarg ? -EINVAL : 0;
            break;
        }
        case 'e': rc = s_range(optarg, &s_opts.fault_min_ms, &s_opts.fault_max_ms); break;
        case 'H': rc = s_range(optarg, &s_opts.hold_min_ms, &s_opts.hold_max_ms); break;
        case 'f': {
            char list[sizeof s_opts.faults];
            snprintf(s_opts.faults, sizeof s_opts.faults, "%s",
                     strcmp(optarg, "none") == 0 ? "" : optarg);
            snprintf(list, sizeof list, "%s", s_opts.faults);
            for (char *sv = NULL, *t = strtok_r(list, ",", &sv); t; t = strtok_r(NULL, ",", &sv)) {
                if (!soak_fault_kind_known(t)) {
                    fprintf(stderr, "soak: --faults: unknown kind '%s'\n", t);
                    exit(2);
                }
            }
            break;
        }
        case 'S': {
            char list[sizeof s_opts.strict];
            snprintf(s_opts.strict, sizeof s_opts.strict, "%s",
                     strcmp(optarg, "none") == 0 ? "" : optarg);
            snprintf(list, sizeof list, "%s", s_opts.strict);
            for (char *sv = NULL, *t = strtok_r(list, ",", &sv); t; t = strtok_r(NULL, ",", &sv)) {
                bool known = strcmp(t, "all") == 0;
                for (int h = 0; h < SOAK_HOP_N; h++) {
                    known = known || strcmp(t, soak_hop_name((enum soak_hop)h)) == 0;
                }
                if (!known) {
                    fprintf(stderr, "soak: --strict: unknown hop '%s' (journal, console, all)\n", t);
                    exit(2);
                }
            }
            break;
        }
        case 'D': rc = s_int(optarg, 10, 3600, &s_opts.drain_s); break;
        case 'k': {
            static const char *const ok[] = {"coordinator1", "coordinator2", "coordinator3",
                                             "routing-state", "automation-state",
                                             "analytics-state"};
            rc = -EINVAL;
            for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
                rc = strcmp(optarg, ok[i]) == 0 ? 0 : rc;
            }
            snprintf(s_opts.disk_dir, sizeof s_opts.disk_dir, "%s", optarg);
            break;
        }
        case 'm': rc = s_int(optarg, 8, 4096, &s_opts.tmpfs_mb); break;
        case 'l': snprintf(s_log_dir, sizeof s_log_dir, "%s", optarg); break;
        case 'h': s_usage(stdout); exit(0);
        default: s_usage(stderr); exit(2);
        }
        if (rc < 0) {
            fprintf(stderr, "soak: --%s: bad value '%s'\n", li >= 0 ? longs[li].name : "?", optarg);
            s_usage(stderr);
            exit(2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "soak: unexpected argument '%s'\n", argv[optind]);
        exit(2);
    }
}

int
main(int argc, char **argv)
{
    s_parse(argc, argv);
    Suite *su = suite_create("soak");
    TCase *tc = tcase_create("chaos");
    tcase_add_test(tc, t_soak);
    tcase_set_timeout(tc, (double)s_opts.duration_s + s_opts.drain_s + 900);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
