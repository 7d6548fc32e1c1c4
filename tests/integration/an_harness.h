/* SPDX-License-Identifier: Apache-2.0 */
/* Starting a real vexfs-analytics process for integration tests and talking to it over REST,
 * ZeroMQ and Kafka. */
#ifndef AN_HARNESS_H
#define AN_HARNESS_H

#include <czmq.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <sys/types.h>

#include "vx_event.h"

#define AH_TOKEN "integration-token"

struct ah_daemon {
    pid_t pid;
    uint16_t rest_port;
    char input[64];    /* ZeroMQ PULL endpoint the daemon binds (without Kafka) */
    char results[64];  /* ZeroMQ PUB endpoint of results */
    char dir[256];     /* configuration, token and log; also the state_dir */
    char log[300];
};

/* Starts the daemon with extra YAML lines for the stream_analytics section (may be NULL).
 * dir: an existing directory to reuse (its state_dir survives restarts), or NULL for a new
 * one. Waits for /ready; fails the test when it does not come up. */
void ah_start(struct ah_daemon *d, const char *yaml, const char *dir);
/* SIGTERM and wait; fails the test unless the daemon exits with status 0. */
void ah_stop(struct ah_daemon *d);

/* One REST call; returns the HTTP status and, when out is not NULL, the parsed body (NULL
 * when it is not JSON). Mutating calls carry the token when auth is true. */
long ah_call(const struct ah_daemon *d, const char *method, const char *path, const char *body,
             bool auth, json_t **out);
/* A metric's value from /metrics; -1 when absent. */
double ah_metric(const struct ah_daemon *d, const char *series);

/* Packs an event into a new buffer (caller frees) of *len bytes: a Kafka message value. */
uint8_t *ah_pack_event(const vx_event_t *e, size_t *len);
/* Fills e as a filesystem_write at ts_ms with path, metadata user_id and content size
 * (strings borrowed from the caller's storage in *st). */
struct ah_ev_storage {
    Vexfs__V1__Event__MetadataEntry me, *mp[1];
    Vexfs__V1__Event__ContentEntry ce, *cp[1];
    char user[32], size[32], path[64];
};
void ah_event(vx_event_t *e, struct ah_ev_storage *st, int type, uint64_t ts_ms, const char *path,
              const char *user, long size);

/* Kafka: the broker of scripts/run-tests.sh (VEXFS_KAFKA_BOOTSTRAP; fails the test without
 * it), an idempotent producer, one event produced with a Kafka timestamp (ms, 0: now) to a
 * partition (RD_KAFKA_PARTITION_UA: by key, the path), a topic's partition count. */
const char *ah_bootstrap(void);
rd_kafka_t *ah_producer(void);
void ah_produce(rd_kafka_t *p, const char *topic, int32_t partition, const vx_event_t *e,
                int64_t ts_ms);
int ah_partitions(rd_kafka_t *p, const char *topic);

/* Polls GET path on d until the JSON body's member `key` equals the string want (or
 * timeout_s); returns the last body (caller decrefs). */
json_t *ah_wait_member(const struct ah_daemon *d, const char *path, const char *key,
                       const char *want, int timeout_s);

/* Runs vexfsctl CMD ARGS... against d (--url and --token-file added after CMD); returns the
 * exit status and stdout in *out (caller frees; may be NULL). */
int ah_ctl(const struct ah_daemon *d, char **out, const char *cmd, ...);

#endif
