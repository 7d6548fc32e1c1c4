/* SPDX-License-Identifier: Apache-2.0 */
/* What an_server.c (queries, results, metrics), an_input.c (Kafka, ZeroMQ, the loop) and
 * an_input_replay.c (the loop's replay) share. Not for other files. */
#ifndef AN_SERVER_PRIV_H
#define AN_SERVER_PRIV_H

#include <czmq.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "an_anomaly.h"
#include "an_decode.h"
#include "an_merge.h"
#include "an_offsets.h"
#include "an_query.h"
#include "an_replay.h"
#include "an_server.h"
#include "an_window.h"
#include "vx_ackin.h"
#include "vx_rx.h"
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

#define AN_IDLE_HISTORY 64
#define AN_BATCH 4096          /* input messages taken and processed per lock */
#define AN_RES_RING (1u << 17) /* results-topic records awaiting their delivery report, at most */
#define AN_COMMITS_PENDING 4   /* periodic commits waiting for the results they follow */
#define AN_LAT_BUCKETS 32      /* room for the ingest latency histogram's buckets */

/* A periodic commit taken at a moment, sent once the results produced before it (records up
 * to `need`) are delivered. */
struct an_pending_commit {
    rd_kafka_topic_partition_list_t *list;
    uint64_t need;
};

/* One input stream: a Kafka partition (or -1 for ZeroMQ) and its engine. */
struct an_part {
    int32_t partition;
    an_engine_t *eng;
    int64_t next_offset;    /* after the last consumed message; -1 before any */
    int64_t replay_until;   /* offsets below were processed by a previous owner */
    int64_t start_offset;   /* where consumption started (the commit; <0: none, earliest) */
    struct an_offsets offsets; /* the committable offset (an_offsets.h) */
    uint64_t last_msg_ns;   /* monotonic time of the last message (or of the assignment) */
    bool idle;              /* nothing for idle_timeout_ms */
};

/* A replay in progress or finished: per partition, the offset it ends at (the high watermark
 * when it started). */
struct an_replay_part {
    int32_t partition;
    int64_t start, end;
    bool gone; /* revoked during the replay: its new owner carries on */
};

struct an_replay_run {
    enum an_replay_state state;
    struct an_replay_req req;
    uint64_t started_ns, finished_ns; /* monotonic */
    uint64_t done, total;
    struct an_replay_part *parts;
    size_t n_parts;
    char error[256];
};

struct an_server {
    pthread_mutex_t lock;
    vx_metrics_t *metrics;
    const vx_socks_t *socks; /* the socket factory (borrowed) */
    struct an_qstate **queries;
    size_t n_queries;
    struct an_part **parts;
    size_t n_parts;
    an_anomaly_t *anomaly;
    struct an_monitor *monitor; /* anomalies become alerts; may be NULL */
    zsock_t *pub;
    zsock_t *pull;
    struct vx_sock_keeper pull_keep; /* opens pull again when libzmq gives its connection up */
    vx_rx_t *rx;            /* the ZeroMQ input's receive path (vx_rx.h) */
    vx_counter_t *c_gaps;   /* batches missing in routing's sequence */
    rd_kafka_t *rk;
    rd_kafka_t *rk_out;     /* producer of the results topic */
    rd_kafka_t *rk_res;     /* reader of the whole results topic (no group) */
    rd_kafka_queue_t *res_q;
    an_merge_t *merge;      /* the group's merged results; NULL without a results topic */
    char *results_topic;
    char *group_id;
    uint64_t idle_timeout_ns;
    long long replay_rate;  /* replay_max_events_per_sec; 0: unlimited */
    /* The group's event time as seen over the last idle_timeout_ms, oldest first: idle
     * partitions follow it with that delay (see s_idle in an_input.c). */
    struct {
        uint64_t at, target;
    } idle_hist[AN_IDLE_HISTORY];
    size_t idle_head, idle_n;
    struct an_replay_run replay;
    an_decoder_t *dec;      /* reads the fields the installed queries read */
    rd_kafka_message_t *msgs[AN_BATCH];
    uint64_t ingest[AN_BATCH]; /* ingest_ns of the batch's events, for the latency histogram */
    uint64_t res_seq;       /* results-topic records produced */
    uint64_t res_done;      /* every record up to this one has its delivery report */
    uint8_t *res_ring;      /* reports arrived beyond res_done, by record % AN_RES_RING */
    struct an_pending_commit pending[AN_COMMITS_PENDING];
    size_t n_pending;
    char *topic;
    char *state_dir;
    vx_ackin_t *ackin; /* ZeroMQ input: plain or acknowledged (input_acked) */
    const vx_sealer_t *sealer; /* seals state_dir's files; NULL: at_rest.encryption off */
    size_t max_groups, max_results, max_queries, max_exported;
    bool anomaly_on;
    int commit_interval_ms;
    uint64_t latency_target_ns;
    atomic_bool ready;
    atomic_bool fatal;
    vx_counter_t *c_events, *c_slow, *c_decode, *c_anomalies, *c_unexported, *c_commit_err;
    vx_histogram_t *h_ingest_latency; /* propagation's ingest_ns to the windows, seconds */
    vx_counter_t *c_rebalance_assign, *c_rebalance_revoke;
    vx_counter_t *c_res_out, *c_res_out_err, *c_res_in, *c_res_bad, *c_merge_evicted;
    vx_counter_t *c_idle, *c_replay_events, *c_replay_done, *c_replay_failed;
    uint64_t merge_evicted_published;
};

/* The stream of a partition, NULL when this instance does not own it. Lock held. */
struct an_part *an_server_part_find(an_server_t *s, int32_t partition);
/* Finds or creates the stream of a partition (every query added to its engine). Lock held. */
struct an_part *an_server_part(an_server_t *s, int32_t partition);
/* Folds the partition's counters into its queries' totals and frees it. Lock held. */
void an_server_part_drop(an_server_t *s, int32_t partition);
/* Publishes engine counters to the metrics registry. Lock held. */
void an_server_sync_metrics(an_server_t *s);

/* Drops the closed windows of the given partitions starting at or after min_start from the
 * local result lists (a replay is about to emit them again). Lock held. */
void an_server_ring_forget(an_server_t *s, const int32_t *parts, size_t n, uint64_t min_start);

/* an_commit.c: offsets, commits and the results producer. Lock held for all. */
/* Records n consumed messages of p, offsets first..last, newest event time max_time. */
void an_part_consumed(struct an_part *p, int64_t first, int64_t last, uint32_t n,
                      uint64_t max_time);
/* Publishes a final window to the results topic (no-op without one). */
void an_input_publish(an_server_t *s, const struct an_result *r);
/* Sets the delivery-report callback on the results producer's configuration. */
void an_commit_producer_conf(rd_kafka_conf_t *c);
/* Commits now (all partitions, or those in `only`) after every result is delivered; drops the
 * periodic commits still waiting. For revokes and shutdown. */
void an_commit_sync(an_server_t *s, const rd_kafka_topic_partition_list_t *only);
/* Takes a periodic commit; it is sent by an_commit_ready once its results are delivered. */
void an_commit_start(an_server_t *s);
void an_commit_ready(an_server_t *s);
void an_commit_fini(an_server_t *s);
/* Restores the clock and replay point a previous owner of tp committed. */
void an_commit_restore(an_server_t *s, const rd_kafka_topic_partition_t *tp);

/* an_input.c */
int an_input_open(an_server_t *s, const struct an_config *cfg, char *err, size_t errlen);
void an_input_close(an_server_t *s);
/* The loop: consumes the input (Kafka or ZeroMQ) until *stop; see an_server_run. */
int an_input_run(an_server_t *s, volatile sig_atomic_t *stop);

/* an_input_replay.c: the replay the loop runs (POST /v1/replay asks for it) */
/* Starts the replay asked for: locates and seeks the range of every owned partition. */
void an_input_replay_begin(an_server_t *s);
/* Sees whether the running replay reached its end. */
void an_input_replay_check(an_server_t *s);
/* Counts message m when it falls in the range being replayed. Lock held. */
void an_input_replay_count(an_server_t *s, const rd_kafka_message_t *m);
/* Keeps a replay under replay_max_events_per_sec by waiting before the next batch. */
void an_input_replay_throttle(an_server_t *s);

#endif
