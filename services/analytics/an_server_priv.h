/* SPDX-License-Identifier: Apache-2.0 */
/* What an_server.c (queries, results, metrics) and an_input.c (Kafka, ZeroMQ, the loop)
 * share. Not for other files. */
#ifndef AN_SERVER_PRIV_H
#define AN_SERVER_PRIV_H

#include <czmq.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "an_anomaly.h"
#include "an_query.h"
#include "an_server.h"
#include "an_window.h"
#include "vx_arena.h"

/* One installed query and what the daemon keeps about it. */
struct an_qstate {
    struct an_query *q;
    json_t **ring;              /* last final windows */
    size_t ring_head, ring_n;
    struct an_query_stats retired;   /* counts of engines already destroyed */
    struct an_query_stats published; /* what the counters below already hold */
    vx_counter_t *c_matched, *c_late, *c_replay, *c_evicted, *c_emitted;
    zhash_t *exported_set;      /* groups exported as metric series */
};

/* Offsets of consumed messages in blocks, each with the newest event time in it: the
 * committable offset is the start of the first block still holding an event that an open
 * window may need. */
struct an_block {
    int64_t first_offset;
    uint64_t max_time;
    uint32_t n;
};

#define AN_BLOCK_EVENTS 1024

/* One input stream: a Kafka partition (or -1 for ZeroMQ) and its engine. */
struct an_part {
    int32_t partition;
    an_engine_t *eng;
    int64_t next_offset;    /* after the last consumed message; -1 before any */
    int64_t replay_until;   /* offsets below were processed by a previous owner */
    struct an_block *blocks;
    size_t b_head, b_n, b_cap;
};

struct an_server {
    pthread_mutex_t lock;
    vx_metrics_t *metrics;
    struct an_qstate **queries;
    size_t n_queries;
    struct an_part **parts;
    size_t n_parts;
    an_anomaly_t *anomaly;
    zsock_t *pub;
    zsock_t *pull;
    rd_kafka_t *rk;
    vx_arena_t *arena;
    char *topic;
    char *state_dir;
    size_t max_groups, max_results, max_queries, max_exported;
    bool anomaly_on;
    int commit_interval_ms;
    uint64_t latency_target_ns;
    atomic_bool ready;
    atomic_bool fatal;
    vx_counter_t *c_events, *c_slow, *c_decode, *c_anomalies, *c_unexported, *c_commit_err;
    vx_histogram_t *h_ingest_latency; /* propagation's ingest_ns to the windows, seconds */
    vx_counter_t *c_rebalance_assign, *c_rebalance_revoke;
};

/* The stream of a partition, NULL when this instance does not own it. Lock held. */
struct an_part *an_server_part_find(an_server_t *s, int32_t partition);
/* Finds or creates the stream of a partition (every query added to its engine). Lock held. */
struct an_part *an_server_part(an_server_t *s, int32_t partition);
/* Folds the partition's counters into its queries' totals and frees it. Lock held. */
void an_server_part_drop(an_server_t *s, int32_t partition);
/* Publishes engine counters to the metrics registry. Lock held. */
void an_server_sync_metrics(an_server_t *s);

/* an_input.c */
int an_input_open(an_server_t *s, const vx_config_t *cfg, char *err, size_t errlen);
void an_input_close(an_server_t *s);

#endif
