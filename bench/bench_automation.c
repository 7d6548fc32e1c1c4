/* SPDX-License-Identifier: Apache-2.0 */
/* CEP throughput: 100 patterns (25 each of sequence, conjunction, absence and threshold,
 * partitioned by user) fed a stream of filesystem events from 100,000 users (partition keys).
 *
 * In-process, one core: engine time advancing 100 us per event (the configured 10,000
 * events/s). Every element needs its event type and one of 8 path prefixes. Prints events/s,
 * ns per event, alerts, partial matches held and evictions, once with prefix conditions only
 * and once with a POSIX regex added on a third of the elements. Partial matches keep their
 * events (the default max_match_events), fed with their packed bytes as the daemon has them
 * from the wire. Absences fire for most
 * writes, so alerts are frequent: the figure includes raising them.
 *
 * Through the daemon: the same patterns (with regex) loaded into a real vexfs-automation
 * ($VX_BIN_DIR) from a patterns file, the same events sent over ZeroMQ in batches of 500 as
 * routing sends them; the time from the first send until the daemon's
 * vexfs_automation_events_total has counted them all (engine time is the daemon's clock).
 * Usage: bench_automation [EVENTS] (default 1,000,000; capped at 100,000,000). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <signal.h>
#include <sys/wait.h>
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
#define S_STEP_NS (100 * VX_NS_PER_US) /* 10,000 events/s of engine time */

static const char *const s_types[] = {"filesystem_create", "filesystem_write", "filesystem_read",
                                      "filesystem_delete", "filesystem_rename",
                                      "filesystem_chmod"};
#define N_TYPES (sizeof s_types / sizeof s_types[0])

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

static json_t *
s_patterns(void)
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
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:o, s:i, s:s, s:[{s:s, s:s}]}", "id", id, "kind", kind,
                           "elements", els, "window_ms", 50 + (int)(i % 5) * 100, "partition_by",
                           "metadata.user_id", "actions", "kind", "alert", "message", id));
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

/* Builds the pattern set and feeds n events; prints one figure line. */
static int
s_run(const struct s_ev *evs, unsigned long long n, int with_regex)
{
    s_with_regex = with_regex;
    uint64_t alerts = 0;
    json_t *pats = s_patterns();
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
        return rc;
    }
    uint64_t t0 = vx_mono_ns();
    for (unsigned long long i = 0; i < n; i++) {
        size_t k = i % N_DISTINCT;
        au_engine_on_event_packed(eng, &evs[k].ev, s_spans[k].data, s_spans[k].len,
                                  i * S_STEP_NS);
    }
    uint64_t dt = vx_mono_ns() - t0;
    struct au_engine_stats st;
    au_engine_stats(eng, &st);
    printf("  %-28s %9.0f events/s  %6.0f ns/event  build %.2f ms  alerts %llu  "
           "partials %llu  evicted %llu\n",
           with_regex ? "prefix + regex conditions:" : "prefix conditions only:",
           (double)n / ((double)dt / 1e9), (double)dt / (double)n, (double)build_ns / 1e6,
           (unsigned long long)alerts, (unsigned long long)st.partials,
           (unsigned long long)st.evictions);
    au_engine_destroy(&eng);
    return 0;
}

/* ---- through the daemon ------------------------------------------------------------------- */

static int
s_daemon_run(const struct s_ev *evs, unsigned long long n)
{
    s_with_regex = 1;
    char *dir = vt_tmpdir();
    char cfg[300], pats[300], log[300], text[2048], input[64];
    snprintf(cfg, sizeof cfg, "%s/automation.yaml", dir);
    snprintf(pats, sizeof pats, "%s/patterns.json", dir);
    snprintf(log, sizeof log, "%s/automation.log", dir);
    json_t *p = s_patterns();
    json_dump_file(p, pats, JSON_COMPACT);
    json_decref(p);
    uint16_t port = vt_free_port();
    snprintf(input, sizeof input, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    zsock_t *push = zsock_new(ZMQ_PUSH);
    zsock_set_sndhwm(push, 1000);
    zsock_set_linger(push, 0);
    if (push == NULL || zsock_bind(push, "%s", input) < 0) {
        fprintf(stderr, "bench: cannot bind %s\n", input);
        zsock_destroy(&push);
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
    vx_event_t *batch[D_BATCH];
    vx_batch_t b;
    vexfs__v1__event_batch__init(&b);
    b.sender = (char *)"bench-automation";
    b.events = batch;
    unsigned long long sent = 0;
    uint64_t seq = 0;
    uint64_t t0 = vx_mono_ns();
    while (sent < n) {
        size_t k = 0;
        for (; k < D_BATCH && sent + k < n; k++) {
            batch[k] = (vx_event_t *)&evs[(sent + k) % N_DISTINCT].ev;
        }
        b.n_events = k;
        b.batch_sequence = ++seq;
        if (vx_wire_send(push, "automation", &b, 0) < 0) {
            continue; /* full for the send timeout: offer it again */
        }
        sent += k;
    }
    double counted = 0;
    uint64_t deadline = vx_mono_ns() + 600 * VX_NS_PER_S;
    while ((counted = vt_metric(port, "vexfs_automation_events_total")) < (double)n &&
           vx_mono_ns() < deadline) {
        usleep(2000);
    }
    uint64_t dt = vx_mono_ns() - t0;
    double alerts = vt_metric(port, "vexfs_automation_alerts_total");
    (void)alerts;
    double evicted = vt_metric(port, "vexfs_automation_evictions_total");
    double partials = vt_metric(port, "vexfs_automation_partial_matches");
    printf("  %-28s %9.0f events/s  %6.0f ns/event  counted %.0f of %llu  partials %.0f  "
           "evicted %.0f\n",
           "through the daemon (ZeroMQ):", (double)n / ((double)dt / 1e9),
           (double)dt / (double)n, counted, n, partials, evicted);
    vt_stop(pid, SIGTERM, 30000);
    zsock_destroy(&push);
    free(dir);
    return 0;
}

int
main(int argc, char **argv)
{
    unsigned long long n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000ULL;
    if (n == 0 || n > MAX_EVENTS) {
        n = n == 0 ? 1000000ULL : MAX_EVENTS;
    }
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
    printf("automation engine: %u patterns (25 per kind, 100,000 users), %llu events, one "
           "core, engine time +%llu us per event\n",
           N_PATTERNS, n, (unsigned long long)(S_STEP_NS / VX_NS_PER_US));
    for (int with_regex = 0; with_regex <= 1; with_regex++) {
        if (s_run(evs, n, with_regex) < 0) {
            free(packed);
            free(evs);
            return 1;
        }
    }
    int rc = s_daemon_run(evs, n);
    free(packed);
    free(evs);
    return rc < 0 ? 1 : 0;
}
