/* SPDX-License-Identifier: Apache-2.0 */
/* Starting a real vexfs-routing process for integration tests, feeding it through a real
 * vexfs-propagation, and collecting what reaches each boundary (ZeroMQ consumers and Kafka). */
#ifndef RT_HARNESS_H
#define RT_HARNESS_H

#include <czmq.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vx_event.h"

#define RH_TOKEN "routing-token"
#define RH_N_STD 5 /* analytics, automation, coordinator, graph, vector */

extern const char *const rh_std_boundaries[RH_N_STD];

struct rh_daemon {
    pid_t pid;
    uint16_t rest_port;
    char input[64];
    char out[RH_N_STD][64]; /* endpoint of each standard boundary, in rh_std_boundaries order */
    char dir[256];
    char state_dir[300];
    char cfgpath[300];
    char log[300];
};

/* Writes a configuration (free ports for REST and the five boundaries, a state_dir, the
 * token) with extra YAML lines for the event_routing section (may be NULL), starts the daemon
 * pulling from input, and waits for /ready. */
void rh_start(struct rh_daemon *d, const char *input, const char *routing_yaml);
/* Starts it again with the same configuration, directory and ports. */
void rh_restart(struct rh_daemon *d);
/* SIGTERM and wait; fails the test unless it exits with status 0. */
void rh_stop(struct rh_daemon *d);
/* The endpoint of a standard boundary. */
const char *rh_out(const struct rh_daemon *d, const char *boundary);

/* A REST call with the admin token; returns the status and the parsed body (new reference,
 * NULL when the body is not JSON) in *body (may be NULL). */
long rh_call(const struct rh_daemon *d, const char *method, const char *path, const char *body,
             json_t **out);
/* A metric's value (series as printed), -1 when absent. */
double rh_metric(const struct rh_daemon *d, const char *series);
/* Waits until routing has decided n events (vexfs_events_processed_total); fails the test
 * after timeout_ms. */
void rh_wait_decided(const struct rh_daemon *d, double n, int timeout_ms);
/* A REST call that must answer want; fails the test with the body otherwise. */
void rh_expect(const struct rh_daemon *d, const char *method, const char *path,
               const char *body, long want);

/* A consumer thread on one ZeroMQ endpoint: counts each event by its content "n" (events
 * without n are counted in other), records per path the consumer saw it and whether the n
 * values of one path arrived in increasing order, and keeps the first samples as JSON. */
struct rh_collector {
    char endpoint[160]; /* one endpoint, or several separated by commas */
    size_t max_n;
    atomic_uint *counts; /* [max_n] */
    atomic_size_t total;
    atomic_size_t other;
    atomic_size_t out_of_order;
    atomic_bool stop;
    bool acked; /* a ROUTER that acknowledges every batch (an acknowledged boundary) */
    atomic_size_t acks; /* acknowledgements sent (acked) */
    atomic_bool paused; /* set by the test: read nothing (a stalled consumer) */
    pthread_mutex_t mu;
    json_t *paths;   /* path -> last n seen; guarded by mu */
    json_t *samples; /* first 256 events as JSON; guarded by mu */
    pthread_t thread;
};

void rh_collect_start(struct rh_collector *c, const char *endpoint, size_t max_n);
/* The same on an acknowledged boundary (boundary_acked): a ROUTER connected to routing's
 * DEALER that answers every batch once counted (copies are counted and answered too). */
void rh_collect_start_acked(struct rh_collector *c, const char *endpoint, size_t max_n);
void rh_collect_stop(struct rh_collector *c);
/* Waits until the collector's total reaches n or timeout_ms passes; returns the total. */
size_t rh_collect_wait(struct rh_collector *c, size_t n, int timeout_ms);
/* A sample whose path is path (new reference), NULL when none. */
json_t *rh_collect_sample(struct rh_collector *c, const char *path);

/* Events to send: type name, path, content n (>= 0; -1 leaves it out). */
struct rh_event {
    const char *type;
    const char *path;
    long n;
};

/* Sends events through push (a connected PUSH to propagation's ingest) in batches of up to
 * 100, numbering batches from *bseq + 1. */
void rh_send(zsock_t *push, const struct rh_event *ev, size_t n, uint64_t *bseq);

/* Reads the whole Kafka topic from the beginning (VEXFS_KAFKA_BOOTSTRAP): counts per content
 * n in counts[max_n] (other events in *other); checks that every message's key is its path.
 * Stops after idle_ms without a message once expect messages arrived, or after 60 s. Returns
 * the number of messages. Samples (first 64) are appended to samples when non-NULL. */
size_t rh_read_topic(const char *topic, size_t expect, unsigned *counts, size_t max_n,
                     size_t *other, json_t *samples);
/* The broker's address; fails the test when the variable is not set. */
const char *rh_bootstrap(void);

#endif
