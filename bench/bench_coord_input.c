/* SPDX-License-Identifier: Apache-2.0 */
/* The coordinator's ZeroMQ input, acknowledged (input_acked: a ROUTER answering each batch once
 * its raft entry is committed and applied) against plain (a PULL, as before), in the same run.
 *
 * Method. Two real 3-node vexfs-coordinator clusters on loopback (raft peers authenticated,
 * fsync on, as deployed), one with input_acked and one without; each node binds its input on
 * its own port and only the leader attaches it. The sender is the link routing's acknowledged
 * boundary is made of (vx_link: a DEALER keeping every batch until answered, window 64, as
 * boundary_ack_window_batches) connected to the acknowledged leader, and the same link in
 * plain mode (a PUSH) to the plain leader. Each run sends EVENTS events in batches of 100 as
 * fast as the link allows and ends when the leader's vexfs_consensus_events_applied_total grew
 * by EVENTS (and, acknowledged, every batch was answered); runs alternate plain, acknowledged,
 * three times each, so load on the shared machine falls on both alike. Printed: events/s,
 * median of 3 with min and max, and the ratio acknowledged / plain.
 *
 * Routing itself is not in the path: no benchmark drives routing -> coordinator, and this one
 * measures what the acknowledgement costs at the coordinator's end of that hop.
 * Usage: bench_coord_input [EVENTS] (default 200,000); programs from $VX_BIN_DIR. */
#include <czmq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vx_clock.h"
#include "vx_link.h"
#include "vx_metrics.h"
#include "vx_test.h"

#define N_NODES 3
#define BATCH 100
#define REPS 3
#define TOKEN "bench-token"
#define APPLIED "vexfs_consensus_events_applied_total"

struct cluster {
    const char *label;
    bool acked;
    uint16_t rest[N_NODES], raft[N_NODES], input[N_NODES];
    pid_t pid[N_NODES];
    int leader;
};

static int
s_cluster_start(struct cluster *c, const char *dir)
{
    char members[512] = "", tok[600];
    size_t off = 0;
    for (int i = 0; i < N_NODES; i++) {
        c->rest[i] = vt_free_port();
        c->raft[i] = vt_free_port();
        c->input[i] = vt_free_port();
        off += (size_t)snprintf(members + off, sizeof members - off, "%s%d@127.0.0.1:%u/%u/%u",
                                i ? "," : "", i + 1, (unsigned)c->raft[i], (unsigned)c->rest[i],
                                (unsigned)c->input[i]);
    }
    snprintf(tok, sizeof tok, "%s/token", dir);
    vt_write_file(tok, TOKEN "\n");
    for (int i = 0; i < N_NODES; i++) {
        char cfg[600], log[600], text[2048];
        snprintf(cfg, sizeof cfg, "%s/%s%d.yaml", dir, c->label, i + 1);
        snprintf(log, sizeof log, "%s/%s%d.log", dir, c->label, i + 1);
        snprintf(text, sizeof text,
                 "distributed_coordination:\n  node_id: %d\n  members: \"%s\"\n"
                 "  data_dir: %s/%s%d\n  rest_port: %u\n"
                 "  input_endpoint: \"@tcp://127.0.0.1:%u\"\n  input_acked: %s\n"
                 "  max_consensus_latency_ms: 10000\n  log_memory_entries: 10000\n"
                 "admin:\n  token_file: %s\nlogging:\n  level: warn\n",
                 i + 1, members, dir, c->label, i + 1, (unsigned)c->rest[i],
                 (unsigned)c->input[i], c->acked ? "true" : "false", tok);
        vt_write_file(cfg, text);
        char bin[512];
        snprintf(bin, sizeof bin, "%s/vexfs-coordinator", vt_bin_dir());
        char *argv[] = {bin, (char *)"--config", cfg, NULL};
        c->pid[i] = vt_spawn(argv, NULL, log);
    }
    for (int i = 0; i < N_NODES; i++) {
        if (!vt_wait_ready(c->rest[i], 30000)) {
            fprintf(stderr, "bench: %s node %d not ready; logs in %s\n", c->label, i + 1, dir);
            return -1;
        }
    }
    /* The leader: the node whose vexfs_raft_is_leader is 1 (it attaches the input). */
    uint64_t end = vt_now_ms() + 30000;
    while (vt_now_ms() < end) {
        for (int i = 0; i < N_NODES; i++) {
            if (vt_metric(c->rest[i], "vexfs_raft_is_leader") == 1) {
                c->leader = i;
                return 0;
            }
        }
        vt_sleep_ms(50);
    }
    fprintf(stderr, "bench: %s elected no leader; logs in %s\n", c->label, dir);
    return -1;
}

static void
s_cluster_stop(struct cluster *c)
{
    for (int i = 0; i < N_NODES; i++) {
        if (c->pid[i] > 0) {
            vt_stop(c->pid[i], SIGTERM, 30000);
            c->pid[i] = 0;
        }
    }
}

/* One batch of BATCH small events (no id: the state machine gives each a distinct one), from
 * sender (a new name per run: a link's sender id carries its start time in seconds only, and
 * a receiver takes a known sender's restarted numbering for resends). */
static void
s_put(vx_link_t *l, size_t first, const char *sender)
{
    vx_event_t e[BATCH];
    vx_event_t *ptrs[BATCH];
    char path[BATCH][32];
    for (size_t j = 0; j < BATCH; j++) {
        vexfs__v1__event__init(&e[j]);
        e[j].type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE;
        e[j].source = VEXFS__V1__BOUNDARY__FUSE;
        snprintf(path[j], sizeof path[j], "/bench/f%zu", (first + j) % 1000);
        e[j].path = path[j];
        ptrs[j] = &e[j];
    }
    vx_link_put(l, ptrs, BATCH, sender);
}

/* One run: events/s from the first put until the leader applied `events` more (and the link
 * holds nothing); -1 on failure. */
static double
s_run(struct cluster *c, size_t events, int rep)
{
    char ep[64], err[512], sender[64];
    snprintf(sender, sizeof sender, "bench-coord-input-%s-%d", c->label, rep);
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%u", (unsigned)c->input[c->leader]);
    struct vx_link_config lc = {
        .ingest_endpoint = ep,
        .ack_endpoint = c->acked ? ep : "",
        .ack_window_batches = 64,
        .ack_timeout_ms = 2000,
        .buffer_max_batches = 256,
        .retry_interval_ms = 10,
    };
    vx_metrics_t *m = vx_metrics_new();
    vx_link_t *l = vx_link_new(&lc, vt_socks(false), "bench_link", "dropped", m, err, sizeof err);
    if (!l) {
        fprintf(stderr, "bench: link: %s\n", err);
        vx_metrics_destroy(&m);
        return -1;
    }
    uint16_t rest = c->rest[c->leader];
    double base = vt_metric(rest, APPLIED);
    uint64_t t0 = vx_mono_ns(), deadline = vt_now_ms() + 120000, next_poll = 0;
    size_t put = 0;
    double rate = -1;
    while (vt_now_ms() < deadline) {
        while (put < events && vx_link_room(l) > 0) {
            s_put(l, put, sender);
            put += BATCH;
        }
        uint64_t now = vx_mono_ns();
        vx_link_pump(l, now);
        zmq_pollitem_t it[1];
        size_t k = vx_link_pollitems(l, it);
        zmq_poll(it, (int)k, 1);
        if (put >= events && vx_link_held(l) == 0 && now >= next_poll) {
            next_poll = now + 5 * VX_NS_PER_MS;
            if (vt_metric(rest, APPLIED) >= base + (double)events) {
                rate = (double)events / ((double)(vx_mono_ns() - t0) / (double)VX_NS_PER_S);
                break;
            }
        }
    }
    if (rate < 0) {
        fprintf(stderr, "bench: %s: the leader did not apply %zu events in 120 s\n", c->label,
                events);
    }
    vx_link_destroy(&l);
    vx_metrics_destroy(&m);
    return rate;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
    size_t events = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
    events = (events + BATCH - 1) / BATCH * BATCH;
    char *dir = vt_tmpdir();
    struct cluster cl[2] = {{.label = "plain", .acked = false}, {.label = "acked", .acked = true}};
    int rc = 1;
    double rates[2][REPS];
    if (!dir || s_cluster_start(&cl[0], dir) < 0 || s_cluster_start(&cl[1], dir) < 0) {
        goto out;
    }
    for (int r = 0; r < REPS; r++) {
        for (int k = 0; k < 2; k++) {
            rates[k][r] = s_run(&cl[k], events, r);
            if (rates[k][r] < 0) {
                goto out;
            }
        }
    }
    double med[2];
    for (int k = 0; k < 2; k++) {
        qsort(rates[k], REPS, sizeof rates[k][0], cmp_double);
        med[k] = rates[k][REPS / 2];
        printf("coordinator input %-44s %10.0f events/s (min %.0f, max %.0f; %d runs of %zu)\n",
               k ? "acknowledged (input_acked, ROUTER)" : "plain (PULL)", med[k], rates[k][0],
               rates[k][REPS - 1], REPS, events);
    }
    printf("coordinator input acknowledged / plain: %.2f\n", med[1] / med[0]);
    rc = 0;
out:
    s_cluster_stop(&cl[0]);
    s_cluster_stop(&cl[1]);
    free(dir);
    return rc;
}
