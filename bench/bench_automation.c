/* SPDX-License-Identifier: Apache-2.0 */
/* CEP throughput: 100 patterns (25 each of sequence, conjunction, absence and threshold,
 * partitioned by user) fed a stream of filesystem events from 100,000 users (partition keys).
 *
 * In-process, one core: engine time advancing 100 us per event (the configured 10,000
 * events/s). Every element needs its event type and one of 8 path prefixes. Events/s, ns per
 * event, alerts, partial matches held and evictions, once with prefix conditions only and
 * once with a POSIX regex added on a third of the elements. Partial matches keep their events
 * (the default max_match_events), fed with their packed bytes as the daemon has them from the
 * wire. Absences fire for most writes, so alerts are frequent: the figure includes raising
 * them. Then once more with regex on the real clock read every 500 events, as the daemon reads
 * it per batch: the windows then hold as many events as the engine gets through in them, the
 * work a processing-time daemon at full speed does.
 *
 * Through the daemon: the same patterns (with regex) loaded into a real vexfs-automation
 * ($VX_BIN_DIR) from a patterns file, the same events sent over ZeroMQ in batches of 500 as
 * routing sends them (the events' packed bytes, batches built by hand: today's bench packed
 * every batch with protobuf-c, which took a good part of a core from the daemon on a 2-core
 * machine); the time from the first send until the daemon's
 * vexfs_automation_events_total has counted them all. Twice: in processing time (the daemon's
 * clock, so its windows hold as many events as arrive in them: more partial matches than
 * in-process at 100 us per event when it runs faster than that) and in event time with the
 * in-process run's times as the events' timestamps (lateness 0), so the daemon's engine does
 * exactly the in-process work and the ratio to the engine is what the daemon adds. Where the
 * daemon's time goes, per event: receive (ZeroMQ, checks and decoding), match (the engine),
 * actions (alerts, workflows), from its vexfs_automation_stage_nanoseconds_total; the rest
 * is the loop waiting for input.
 *
 * Our daemon runs secured as in production: the test support's key set and certificates
 * (CURVE on its input, HTTPS on its REST API), and this program's sender opens its socket
 * through the suite's factory (vt_sock_ex, CURVE).
 *
 * Today's code: the commit named in bench/BASELINE, built by scripts/bench-baseline.sh
 * ($VX_BASELINE_BUILD names its build folder; else the script is run), is measured in the same
 * run by its own bench_automation, round by round with ours, so both see the same machine;
 * that code has no security, so its daemon runs without CURVE or TLS (plain ZeroMQ and HTTP:
 * "daemon / today's daemon" includes what CURVE costs ours);
 * its engine runs are timed in CPU time too (its process's, read from /proc as each of its
 * result lines appears; stdbuf makes its output line-buffered).
 *
 * Every figure is given twice: events per second of wall time, and events per second of CPU
 * time (the engine's thread; the daemon's whole process, ZeroMQ's I/O thread included, from
 * /proc). On a machine shared with other work the second is the steadier: it does not count
 * the time the process waited for a core.
 *
 * Usage: bench_automation [EVENTS] [ROUNDS] (default 1,000,000 and 3). Prints every round,
 * then medians with their spread (min..max) and the ratios. For profiling: VX_BENCH_ONLY=engine
 * runs only the in-process engine, VX_BENCH_ONLY=daemon only the daemon in event time. */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "au_engine.h"
#include "vx_clock.h"
#include "vx_test.h"
#include "vx_wire.h"

#define N_PATTERNS 100
#define N_USERS 100000
#define N_DISTINCT 131072 /* distinct events, cycled: every user appears */
#define D_BATCH 500
#define MAX_EVENTS 100000000ULL
#define MAX_ROUNDS 15
#define S_STEP_NS (100 * VX_NS_PER_US) /* 10,000 events/s of engine time */
#define S_T0 1700000000000000000ULL     /* event time of the first event (daemon, event time) */

static const char *const s_types[] = {"filesystem_create", "filesystem_write", "filesystem_read",
                                      "filesystem_delete", "filesystem_rename",
                                      "filesystem_chmod"};
#define N_TYPES (sizeof s_types / sizeof s_types[0])

static const char *const s_stages[] = {"receive", "match", "actions"};
#define N_STAGES 3

static uint32_t s_seed = 12345;
static int s_with_regex = 1;

static uint32_t
s_rand(uint32_t n)
{
    s_seed = s_seed * 1103515245u + 12345u;
    return (s_seed >> 8) % n;
}

/* Every element needs its event type and a project prefix (1 in 8 paths); with regex on, a
 * third of them also need a file extension by regex. */
static json_t *
s_element(uint32_t i, uint32_t k)
{
    char pre[32];
    snprintf(pre, sizeof pre, "/srv/p%u/", (i * 3 + k) % 8);
    json_t *conds = json_pack("[{s:s, s:s, s:s}]", "field", "path", "op", "prefix", "value", pre);
    if ((i + k) % 3 == 1 && s_with_regex) {
        json_array_append_new(conds, json_pack("{s:s, s:s, s:s}", "field", "path", "op", "regex",
                                               "value", "\\.(log|txt|dat)$"));
    }
    return json_pack("{s:s, s:o}", "event_type", s_types[(i + k) % N_TYPES], "conditions",
                     conds);
}

/* The pattern set; time_mode "event" with lateness 0 when event_time, else none. */
static json_t *
s_patterns(bool event_time)
{
    static const char *const kinds[] = {"sequence", "conjunction", "absence", "threshold"};
    json_t *arr = json_array();
    for (uint32_t i = 0; i < N_PATTERNS; i++) {
        const char *kind = kinds[i % 4];
        char id[32];
        snprintf(id, sizeof id, "p%u", i);
        json_t *els = json_array();
        uint32_t n = i % 4 == 3 ? 1 : (i % 4 == 2 ? 2 : 2 + i % 3);
        for (uint32_t k = 0; k < n; k++) {
            json_t *el = s_element(i, k);
            if (i % 4 == 3) {
                json_object_set_new(el, "min_occurrences", json_integer(3 + i % 5));
            }
            json_array_append_new(els, el);
        }
        json_t *p = json_pack("{s:s, s:s, s:o, s:i, s:s, s:[{s:s, s:s}]}", "id", id, "kind",
                              kind, "elements", els, "window_ms", 50 + (int)(i % 5) * 100,
                              "partition_by", "metadata.user_id", "actions", "kind", "alert",
                              "message", id);
        if (event_time) {
            json_object_set_new(p, "time_mode", json_string("event"));
            json_object_set_new(p, "allowed_lateness_ms", json_integer(0));
        }
        json_array_append_new(arr, p);
    }
    return arr;
}

/* The stream: events built once and cycled. */
struct s_ev {
    vx_event_t ev;
    Vexfs__V1__Event__MetadataEntry me;
    Vexfs__V1__Event__MetadataEntry *mp;
    char path[64];
    char user[16];
};

/* The events as the daemon receives them (packed, one buffer in stream order, with their spans
 * in a compact array as vx_wire_event_spans gives them), for the kept events. */
static struct vx_span s_spans[N_DISTINCT];

static void
cb_alert(const struct au_alert *a, void *arg)
{
    (void)a;
    (*(uint64_t *)arg)++;
}

/* One round's figures, events/s (0: not measured). */
struct s_round {
    double prefix, regex, regex_clock, daemon, daemon_et;
    /* the same per second of CPU time */
    double prefix_cpu, regex_cpu, regex_clock_cpu, daemon_cpu, daemon_et_cpu;
    double stage_ns[N_STAGES];        /* daemon, processing time: ns per event per stage */
    double stage_et_ns[N_STAGES];     /* daemon, event time */
    double base_prefix, base_regex, base_daemon;
    double base_prefix_cpu, base_regex_cpu; /* 0 when its CPU time could not be read */
};

static uint64_t
s_thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * VX_NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* CPU time (user + system) of process pid so far, from /proc, or 0. */
static uint64_t
s_proc_cpu_ns(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the name may hold spaces */
    unsigned long long ut = 0, st = 0;
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                            &st) != 2) {
        return 0;
    }
    return (ut + st) * (VX_NS_PER_S / (uint64_t)sysconf(_SC_CLK_TCK));
}

/* Builds the pattern set and feeds n events (at 100 us apart, or on the real clock read every
 * D_BATCH events); prints one figure line; returns events/s and *cpu_rate, events per CPU
 * second. */
static double
s_run(const struct s_ev *evs, unsigned long long n, int with_regex, bool real_clock,
      double *cpu_rate)
{
    s_with_regex = with_regex;
    uint64_t alerts = 0;
    json_t *pats = s_patterns(false);
    struct au_engine_opts o = {.max_partials = 10000,
                               .on_alert = cb_alert,
                               .arg = &alerts,
                               .max_match_events = AU_DEFAULT_MATCH_EVENTS};
    au_engine_t *eng = NULL;
    char err[512];
    uint64_t b0 = vx_mono_ns();
    int rc = au_engine_new(pats, &o, &eng, err, sizeof err);
    uint64_t build_ns = vx_mono_ns() - b0;
    json_decref(pats);
    if (rc < 0) {
        fprintf(stderr, "bench: %s\n", err);
        return -1;
    }
    uint64_t t0 = vx_mono_ns();
    uint64_t cpu0 = s_thread_cpu_ns();
    uint64_t now = t0;
    for (unsigned long long i = 0; i < n; i++) {
        size_t k = i % N_DISTINCT;
        if (real_clock && i % D_BATCH == 0) {
            now = vx_mono_ns();
        }
        au_engine_on_event_packed(eng, &evs[k].ev, s_spans[k].data, s_spans[k].len,
                                  real_clock ? now : i * S_STEP_NS);
    }
    uint64_t dt = vx_mono_ns() - t0;
    uint64_t cpu = s_thread_cpu_ns() - cpu0;
    struct au_engine_stats st;
    au_engine_stats(eng, &st);
    double rate = (double)n / ((double)dt / 1e9);
    *cpu_rate = (double)n / ((double)cpu / 1e9);
    printf("  %-36s %9.0f events/s  %9.0f /cpu-s  build %.2f ms  alerts %llu  "
           "partials %llu  evicted %llu\n",
           real_clock ? "engine, regex, real clock:"
           : with_regex ? "engine, prefix + regex conditions:"
                        : "engine, prefix conditions only:",
           rate, *cpu_rate, (double)build_ns / 1e6, (unsigned long long)alerts,
           (unsigned long long)st.partials, (unsigned long long)st.evictions);
    au_engine_destroy(&eng);
    return rate;
}

/* ---- through the daemon ------------------------------------------------------------------- */

/* Sends n events of the stream in batches of D_BATCH, built from the events' packed bytes as
 * routing forwards them (no encoding per send, so the sender takes little of the machine the
 * daemon runs on); with event_time each event gets its in-process time as timestamp_ns, a
 * field appended to its bytes (protobuf: a later occurrence of a field wins). */
static void
s_send_all(zsock_t *push, unsigned long long n, bool event_time)
{
    static const char sender[] = "bench-automation";
    size_t cap = D_BATCH * (16 + 64 + 16) + 64;
    uint8_t *buf = malloc(cap);
    if (buf == NULL) {
        return;
    }
    unsigned long long sent = 0;
    uint64_t seq = 0;
    while (sent < n) {
        size_t len = 0;
        size_t k = 0;
        for (; k < D_BATCH && sent + k < n; k++) {
            const struct vx_span *sp = &s_spans[(sent + k) % N_DISTINCT];
            uint8_t ts[16];
            size_t ts_len = event_time ? vx_pb_uint(ts, 4, S_T0 + (sent + k) * S_STEP_NS) : 0;
            if (len + 16 + sp->len + ts_len > cap) {
                break;
            }
            buf[len++] = 0x0a; /* EventBatch.events, length-delimited */
            len += vx_pb_varint(buf + len, sp->len + ts_len);
            memcpy(buf + len, sp->data, sp->len);
            len += sp->len;
            memcpy(buf + len, ts, ts_len);
            len += ts_len;
        }
        len += vx_pb_bytes(buf + len, 2, sender, sizeof sender - 1);
        len += vx_pb_uint(buf + len, 3, ++seq);
        if (vx_wire_send_packed(push, VX_WIRE_TOPIC, buf, len, 0) < 0) {
            seq--;
            continue; /* full for the send timeout: offer it again */
        }
        sent += k;
    }
    free(buf);
}

/* Runs one daemon over the stream; returns events/s and fills stage_ns (ns per event) and
 * *cpu_rate (events per second of the daemon's CPU time). */
static double
s_daemon_run(unsigned long long n, bool event_time, double *stage_ns, double *cpu_rate)
{
    s_with_regex = 1;
    char *dir = vt_tmpdir();
    char cfg[300], pats[300], log[300], text[2048], input[64];
    snprintf(cfg, sizeof cfg, "%s/automation.yaml", dir);
    snprintf(pats, sizeof pats, "%s/patterns.json", dir);
    snprintf(log, sizeof log, "%s/automation.log", dir);
    json_t *p = s_patterns(event_time);
    json_dump_file(p, pats, JSON_COMPACT);
    json_decref(p);
    uint16_t port = vt_free_port();
    snprintf(input, sizeof input, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    zsock_t *push = vt_sock_ex(&(struct vt_sock_opts){.type = ZMQ_PUSH, .endpoint = input,
                                                      .bind = true, .hwm = 1000, .linger_ms = 0});
    if (push == NULL) {
        fprintf(stderr, "bench: cannot bind %s\n", input);
        free(dir);
        return -1;
    }
    snprintf(text, sizeof text,
             "reactive_automation:\n  rest_port: %u\n  input_endpoint: %s\n  patterns_file: %s\n"
             "  max_partial_matches: 10000\n  max_alerts: 1000\n  queue_hwm: 1000\n"
             "logging:\n  level: warn\n",
             (unsigned)port, input, pats);
    vt_write_file(cfg, text);
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-automation", vt_bin_dir());
    char *argv[] = {bin, (char *)"--config", cfg, NULL};
    pid_t pid = vt_spawn(argv, NULL, log);
    if (pid <= 0 || !vt_wait_ready(port, 20000)) {
        fprintf(stderr, "bench: vexfs-automation did not start; see %s\n", log);
        zsock_destroy(&push);
        free(dir);
        return -1;
    }
    /* The progress reads below share one HTTPS connection: a TLS handshake per read (every
     * 5 ms) took the daemon's REST threads a third of what its loop used, on the same cores. */
    vt_http_keep_alive(true);
    uint64_t cpu0 = s_proc_cpu_ns(pid);
    uint64_t t0 = vx_mono_ns();
    s_send_all(push, n, event_time);
    double counted = 0;
    uint64_t deadline = vx_mono_ns() + 600 * VX_NS_PER_S;
    double refused = 0;
    while ((counted = vt_metric(port, "vexfs_automation_events_total")) < (double)n &&
           vx_mono_ns() < deadline) {
        /* A refused batch never counts: say so now rather than wait out the deadline. */
        refused = vt_metric(port, "vexfs_automation_bad_batches_total");
        if (refused > 0) {
            fprintf(stderr, "bench: the daemon refused %.0f batches; see %s\n", refused, log);
            break;
        }
        usleep(20000); /* each read renders every metric in the daemon's REST thread */
    }
    uint64_t dt = vx_mono_ns() - t0;
    uint64_t cpu = s_proc_cpu_ns(pid) - cpu0;
    double partials = vt_metric(port, "vexfs_automation_partial_matches");
    double alerts = vt_metric_sum(port, "vexfs_automation_alerts_total");
    double busy = 0;
    for (int s = 0; s < N_STAGES; s++) {
        char series[128];
        snprintf(series, sizeof series,
                 "vexfs_automation_stage_nanoseconds_total{stage=\"%s\"}", s_stages[s]);
        double v = vt_metric(port, series);
        stage_ns[s] = v < 0 ? 0 : v / (double)n;
        busy += stage_ns[s];
    }
    double rate = counted >= (double)n ? (double)n / ((double)dt / 1e9) : 0;
    *cpu_rate = counted >= (double)n && cpu > 0 ? (double)n / ((double)cpu / 1e9) : 0;
    printf("  %-36s %9.0f events/s  %9.0f /cpu-s  counted %.0f  alerts %.0f  partials %.0f\n",
           event_time ? "daemon (CURVE), event time:" : "daemon (CURVE), processing time:",
           rate, *cpu_rate, counted, alerts, partials);
    printf("  %-36s receive %.0f  match %.0f  actions %.0f  waiting/other %.0f ns/event\n",
           "  where the daemon's time goes:", stage_ns[0], stage_ns[1], stage_ns[2],
           (double)dt / (double)n - busy);
    vt_http_keep_alive(false);
    vt_stop(pid, SIGTERM, 30000);
    zsock_destroy(&push);
    free(dir);
    return rate;
}

/* ---- today's code ------------------------------------------------------------------------- */

/* The baseline's build folder: $VX_BASELINE_BUILD, else what scripts/bench-baseline.sh prints
 * (run from the repository root, as scripts/bench.sh runs benchmarks), else NULL. */
static char *
s_baseline_dir(void)
{
    const char *env = getenv("VX_BASELINE_BUILD");
    if (env != NULL && env[0] != '\0') {
        return strcmp(env, "none") == 0 ? NULL : strdup(env);
    }
    if (access("scripts/bench-baseline.sh", X_OK) != 0) {
        return NULL;
    }
    char *argv[] = {(char *)"scripts/bench-baseline.sh", NULL};
    struct vt_run_result r;
    int rc = vt_run(argv, NULL, NULL, 1800000, &r);
    char *dir = NULL;
    if (rc == 0 && WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0 && r.out_len > 0) {
        r.out[strcspn(r.out, "\n")] = '\0';
        dir = strdup(r.out);
    } else {
        fprintf(stderr, "bench: scripts/bench-baseline.sh failed:\n%s\n", r.err ? r.err : "");
    }
    vt_run_result_fini(&r);
    return dir;
}

/* The events/s on the line of out that starts (after spaces) with label, or 0. */
static double
s_figure(const char *out, const char *label)
{
    const char *p = strstr(out, label);
    return p != NULL ? strtod(p + strlen(label), NULL) : 0;
}

/* The CPU time of pid (from /proc) each time a line of its output begins with one of the
 * labels, in label order: today's bench prints a banner once its stream is built, then a line
 * after each engine run, so the differences are the CPU time of each run. Its output is line
 * buffered through stdbuf, so each line comes when it is printed. */
struct s_marks {
    const char *label[3];
    uint64_t cpu[3];
};

static void
s_mark_lines(pid_t pid, char *text, size_t *done, struct s_marks *m)
{
    char *nl;
    while ((nl = strchr(text + *done, '\n')) != NULL) {
        *nl = '\0';
        for (int i = 0; i < 3; i++) {
            if (m->cpu[i] == 0 && strstr(text + *done, m->label[i]) != NULL) {
                m->cpu[i] = s_proc_cpu_ns(pid);
            }
        }
        *nl = '\n';
        *done = (size_t)(nl - text) + 1;
    }
}

/* Runs today's bench_automation over the same stream (its daemon is today's too); its engine
 * runs are also measured in CPU time. */
static void
s_baseline_run(const char *dir, unsigned long long n, struct s_round *r)
{
    char bin[1024], env_bin[1100], count[32];
    snprintf(bin, sizeof bin, "%s/bench/bench_automation", dir);
    snprintf(env_bin, sizeof env_bin, "VX_BIN_DIR=%s/bin", dir);
    snprintf(count, sizeof count, "%llu", n);
    char *argv[] = {(char *)"/usr/bin/stdbuf", (char *)"-oL", bin, count, NULL};
    char *env[] = {env_bin, NULL};
    int out_fd = -1;
    pid_t pid = vt_spawn_pipes(argv, env, NULL, &out_fd, NULL);
    static char text[65536];
    size_t len = 0, done = 0;
    struct s_marks m = {.label = {"automation engine:", "prefix conditions only:",
                                  "prefix + regex conditions:"}};
    while (pid > 0 && len + 1 < sizeof text) {
        ssize_t k = read(out_fd, text + len, sizeof text - 1 - len);
        if (k <= 0) {
            break;
        }
        len += (size_t)k;
        text[len] = '\0';
        s_mark_lines(pid, text, &done, &m);
    }
    if (out_fd >= 0) {
        close(out_fd);
    }
    if (pid > 0) {
        vt_wait_exit(pid, 600000);
    }
    text[len] = '\0';
    r->base_prefix = s_figure(text, "prefix conditions only:");
    r->base_regex = s_figure(text, "prefix + regex conditions:");
    r->base_daemon = s_figure(text, "through the daemon (ZeroMQ):");
    if (m.cpu[0] > 0 && m.cpu[1] > m.cpu[0] && m.cpu[2] > m.cpu[1]) {
        r->base_prefix_cpu = (double)n / ((double)(m.cpu[1] - m.cpu[0]) / 1e9);
        r->base_regex_cpu = (double)n / ((double)(m.cpu[2] - m.cpu[1]) / 1e9);
    }
    printf("  %-36s %9.0f events/s  %9.0f /cpu-s\n", "today's engine, prefix only:",
           r->base_prefix, r->base_prefix_cpu);
    printf("  %-36s %9.0f events/s  %9.0f /cpu-s\n", "today's engine, prefix + regex:",
           r->base_regex, r->base_regex_cpu);
    printf("  %-36s %9.0f events/s\n", "today's daemon (plain ZeroMQ):", r->base_daemon);
}

/* ---- summary ------------------------------------------------------------------------------ */

static int
cb_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median, min and max of v[0..n). */
static void
s_stats(const double *v, int n, double *med, double *lo, double *hi)
{
    double s[MAX_ROUNDS];
    memcpy(s, v, (size_t)n * sizeof *v);
    qsort(s, (size_t)n, sizeof *s, cb_cmp_double);
    *med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    *lo = s[0];
    *hi = s[n - 1];
}

/* Prints one figure's median and spread over the rounds (offset: its field in s_round). */
static double
s_line(const struct s_round *r, int n, size_t off, const char *label, const char *unit)
{
    double v[MAX_ROUNDS];
    for (int i = 0; i < n; i++) {
        v[i] = *(const double *)(const void *)((const char *)&r[i] + off);
    }
    double med, lo, hi;
    s_stats(v, n, &med, &lo, &hi);
    printf("  %-40s median %10.2f  spread %.2f..%.2f %s\n", label, med, lo, hi, unit);
    return med;
}

/* A ratio per round (a / b), then its median and spread. */
static void
s_ratio(const struct s_round *r, int n, size_t a, size_t b, const char *label)
{
    double v[MAX_ROUNDS];
    int k = 0;
    for (int i = 0; i < n; i++) {
        double x = *(const double *)(const void *)((const char *)&r[i] + a);
        double y = *(const double *)(const void *)((const char *)&r[i] + b);
        if (x > 0 && y > 0) {
            v[k++] = x / y;
        }
    }
    if (k == 0) {
        printf("  %-40s not measured\n", label);
        return;
    }
    double med, lo, hi;
    s_stats(v, k, &med, &lo, &hi);
    printf("  %-40s median %10.2f  spread %.2f..%.2f (%d rounds)\n", label, med, lo, hi, k);
}

#define F(x) offsetof(struct s_round, x)

static void
s_summary(const struct s_round *r, int n, bool base)
{
    printf("\nsummary over %d rounds (events/s; ratios per round):\n", n);
    s_line(r, n, F(prefix), "engine, prefix only", "events/s");
    s_line(r, n, F(regex), "engine, prefix + regex", "events/s");
    s_line(r, n, F(regex_clock), "engine, regex, real clock", "events/s");
    s_line(r, n, F(prefix_cpu), "engine, prefix only", "/cpu-s");
    s_line(r, n, F(regex_cpu), "engine, prefix + regex", "/cpu-s");
    s_line(r, n, F(regex_clock_cpu), "engine, regex, real clock", "/cpu-s");
    if (r[0].daemon > 0) {
        s_line(r, n, F(daemon), "daemon, processing time", "events/s");
        s_line(r, n, F(daemon_et), "daemon, event time", "events/s");
        s_line(r, n, F(daemon_cpu), "daemon, processing time", "/cpu-s");
        s_line(r, n, F(daemon_et_cpu), "daemon, event time", "/cpu-s");
        for (int s = 0; s < N_STAGES; s++) {
            char label[64];
            snprintf(label, sizeof label, "  daemon (processing) %s", s_stages[s]);
            s_line(r, n, F(stage_ns) + (size_t)s * sizeof(double), label, "ns/event");
        }
        for (int s = 0; s < N_STAGES; s++) {
            char label[64];
            snprintf(label, sizeof label, "  daemon (event time) %s", s_stages[s]);
            s_line(r, n, F(stage_et_ns) + (size_t)s * sizeof(double), label, "ns/event");
        }
    }
    if (base) {
        s_line(r, n, F(base_prefix), "today's engine, prefix only", "events/s");
        s_line(r, n, F(base_regex), "today's engine, prefix + regex", "events/s");
        s_line(r, n, F(base_daemon), "today's daemon (no security)", "events/s");
        s_line(r, n, F(base_prefix_cpu), "today's engine, prefix only", "/cpu-s");
        s_line(r, n, F(base_regex_cpu), "today's engine, prefix + regex", "/cpu-s");
        s_ratio(r, n, F(regex), F(base_regex), "engine regex / today's (target >= 2)");
        s_ratio(r, n, F(prefix), F(base_prefix), "engine prefix / today's");
        s_ratio(r, n, F(regex_cpu), F(base_regex_cpu), "per cpu-s: engine regex / today's");
        s_ratio(r, n, F(prefix_cpu), F(base_prefix_cpu), "per cpu-s: engine prefix / today's");
        s_ratio(r, n, F(daemon), F(base_daemon), "daemon (CURVE) / today's (plain)");
    }
    if (r[0].daemon > 0) {
        s_ratio(r, n, F(daemon), F(regex_clock), "daemon (processing) / engine real clock");
        s_ratio(r, n, F(daemon_et), F(regex), "daemon (event time) / engine regex");
        s_ratio(r, n, F(daemon_cpu), F(regex_clock_cpu),
                "per cpu-s: daemon (processing) / engine real clock");
        s_ratio(r, n, F(daemon_et_cpu), F(regex_cpu), "per cpu-s: daemon (event) / engine");
    }
}

/* Builds the stream once (as events and as the packed bytes the daemon would receive), then
 * runs the rounds: ours and today's alternate within each round, so that a burst of other
 * work on the machine falls on both rather than on one of them. */
int
main(int argc, char **argv)
{
    unsigned long long n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000ULL;
    if (n == 0 || n > MAX_EVENTS) {
        n = n == 0 ? 1000000ULL : MAX_EVENTS;
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    if (rounds < 1 || rounds > MAX_ROUNDS) {
        rounds = 3;
    }
    const char *only = getenv("VX_BENCH_ONLY");
    bool engine_only = only != NULL && strcmp(only, "engine") == 0;
    bool daemon_only = only != NULL && strcmp(only, "daemon") == 0;
    static const char *const exts[] = {"log", "txt", "bin", "dat", "c"};
    struct s_ev *evs = calloc(N_DISTINCT, sizeof *evs);
    if (evs == NULL) {
        return 1;
    }
    for (uint32_t i = 0; i < N_DISTINCT; i++) {
        struct s_ev *e = &evs[i];
        vexfs__v1__event__init(&e->ev);
        int ty = 0;
        vx_event_type_parse(s_types[s_rand(N_TYPES)], &ty);
        e->ev.type = (Vexfs__V1__EventType)ty;
        snprintf(e->path, sizeof e->path, "/srv/p%u/d%u/f%u.%s", s_rand(8), s_rand(50),
                 s_rand(1000), exts[s_rand(5)]);
        snprintf(e->user, sizeof e->user, "u%u", i < N_USERS ? i : s_rand(N_USERS));
        e->ev.path = e->path;
        vexfs__v1__event__metadata_entry__init(&e->me);
        e->me.key = (char *)"user_id";
        e->me.value = e->user;
        e->mp = &e->me;
        e->ev.metadata = &e->mp;
        e->ev.n_metadata = 1;
    }
    /* One buffer, in stream order, as a batch's bytes are. */
    size_t total = 0;
    for (uint32_t i = 0; i < N_DISTINCT; i++) {
        total += vexfs__v1__event__get_packed_size(&evs[i].ev);
    }
    uint8_t *packed = malloc(total);
    if (packed == NULL) {
        free(evs);
        return 1;
    }
    for (uint32_t i = 0, off = 0; i < N_DISTINCT; i++) {
        s_spans[i].data = packed + off;
        s_spans[i].len = vexfs__v1__event__pack(&evs[i].ev, packed + off);
        off += (uint32_t)s_spans[i].len;
    }
    char *base = engine_only || daemon_only ? NULL : s_baseline_dir();
    printf("automation engine: %u patterns (25 per kind, 100,000 users), %llu events, one "
           "core, engine time +%llu us per event; %d rounds; our daemon: CURVE and HTTPS; "
           "today's code: %s%s\n",
           N_PATTERNS, n, (unsigned long long)(S_STEP_NS / VX_NS_PER_US), rounds,
           base ? base : "not measured",
           base ? " (it has no security: plain ZeroMQ and HTTP)" : "");
    struct s_round r[MAX_ROUNDS];
    memset(r, 0, sizeof r);
    int rc = 0;
    for (int i = 0; i < rounds && rc == 0; i++) {
        printf("round %d:\n", i + 1);
        if (daemon_only) {
            r[i].daemon_et = s_daemon_run(n, true, r[i].stage_et_ns, &r[i].daemon_et_cpu);
            continue;
        }
        r[i].prefix = s_run(evs, n, 0, false, &r[i].prefix_cpu);
        r[i].regex = s_run(evs, n, 1, false, &r[i].regex_cpu);
        r[i].regex_clock = s_run(evs, n, 1, true, &r[i].regex_clock_cpu);
        if (r[i].prefix < 0 || r[i].regex < 0 || r[i].regex_clock < 0) {
            rc = 1;
            break;
        }
        if (engine_only) {
            continue;
        }
        r[i].daemon = s_daemon_run(n, false, r[i].stage_ns, &r[i].daemon_cpu);
        r[i].daemon_et = s_daemon_run(n, true, r[i].stage_et_ns, &r[i].daemon_et_cpu);
        if (base != NULL) {
            s_baseline_run(base, n, &r[i]);
        }
    }
    if (rc == 0 && !daemon_only) {
        s_summary(r, rounds, base != NULL);
    }
    free(base);
    free(packed);
    free(evs);
    return rc;
}
