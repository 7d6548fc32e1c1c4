/* SPDX-License-Identifier: Apache-2.0 */
/* The whole suite as real processes on loopback, for end-to-end tests: vexfs-propagation
 * (journaling to the Kafka broker of the run), vexfs-routing (rules config/demo/rules.yaml,
 * the analytics boundary to Kafka), three vexfs-coordinator nodes, vexfs-automation
 * (config/demo/patterns.json), vexfs-analytics (config/demo/queries.json, reading routing's
 * analytics topic in a consumer group) and vexfs-watch on a `demo` directory, sending over
 * propagation's acknowledged ingest. Every port is
 * free when chosen, every topic and group fresh, so runs do not meet. Each daemon can be
 * killed with SIGKILL and started again on the same ports and state. */
#ifndef SUITE_HARNESS_H
#define SUITE_HARNESS_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "coord_netns.h"

#define SH_TOKEN "suite-token"

enum sh_daemon {
    SH_PROPAGATION = 0,
    SH_ROUTING,
    SH_COORD1,
    SH_COORD2,
    SH_COORD3,
    SH_AUTOMATION,
    SH_ANALYTICS,
    SH_WATCH,
    SH_N
};

struct sh_suite {
    char dir[256];      /* configurations, logs, state */
    char demo[300];     /* the directory vexfs-watch watches */
    char journal[160];  /* propagation's Kafka topic */
    char routed[160];   /* routing's analytics topic */
    pid_t pid[SH_N];
    uint16_t rest[SH_N];
    uint16_t ingest, ingest_acked, prop_out, tap, out_coord, out_auto, out_an, out_graph, out_vector,
        out_console, an_input, an_results, raft[3];
    int restarts[SH_N];
    bool own_console;
    /* A consumer of routing's `console` boundary, so that boundary never backs up. */
    pthread_t console_thread;
    atomic_bool console_stop;
    atomic_long console_events;
    /* sh_prepare_ex(..., true): each coordinator in a network namespace of its own, so a
     * partition is a link set down (cn_isolate). */
    bool netns;
    struct cn_net net;
};

const char *sh_name(enum sh_daemon d);

/* Writes every configuration and starts every daemon; returns when all are ready and the
 * coordinators have a leader. sh_prepare + sh_launch. */
void sh_start_all(struct sh_suite *s);
/* The first half: picks ports and topics, writes every configuration and makes the folder,
 * starts nothing (a caller may then mount a file system on a state folder). own_console: the
 * caller consumes routing's `console` boundary itself, so no thread of the harness does. */
void sh_prepare(struct sh_suite *s, bool own_console);
/* The same; coord_netns: each coordinator runs in a network namespace of its own (root and
 * iproute2 needed; coord_netns.h), raft between them over links a test can cut, REST and the
 * coordinator boundary over a client link never cut. sh_stop_all removes the namespaces. */
void sh_prepare_ex(struct sh_suite *s, bool own_console, bool coord_netns);
/* The second half: starts every daemon prepared by sh_prepare. */
void sh_launch(struct sh_suite *s);
/* Starts one daemon (again) and waits until it is ready. */
void sh_start(struct sh_suite *s, enum sh_daemon d);
/* SIGKILL, and waits for the process to be gone. */
void sh_kill9(struct sh_suite *s, enum sh_daemon d);
/* SIGTERM to every daemon, newest stage first; each must exit 0 (a leak fails the
 * sanitized build this way). */
void sh_stop_all(struct sh_suite *s);

/* One REST call to daemon d (with the admin token). Returns the HTTP status, 0 when nothing
 * answered; *out (may be NULL) receives the JSON body or NULL. */
long sh_call(const struct sh_suite *s, enum sh_daemon d, const char *method, const char *path,
             const char *body, json_t **out);
/* Sum of every sample of metric `name` (all labels) on daemon d; -1 when absent. */
double sh_metric_sum(const struct sh_suite *s, enum sh_daemon d, const char *name);
/* The coordinator that is leader now (SH_COORD1..3), or -1 when none answers as leader. */
int sh_leader(const struct sh_suite *s, int timeout_ms);

#endif
