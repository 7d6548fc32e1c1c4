/* SPDX-License-Identifier: Apache-2.0 */
/* Integration tests and a real Kafka broker: its address, fresh topic names, creating a topic,
 * and reading a whole topic of packed events. */
#ifndef KAFKA_HARNESS_H
#define KAFKA_HARNESS_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stddef.h>

/* $VEXFS_KAFKA_BOOTSTRAP (set by scripts/run-tests.sh); fails the test when unset. */
const char *kh_bootstrap(void);

/* A client configuration for the broker with the suite's security settings from the
 * environment (vt_kafka.h), as the daemons a test starts read them; caller owns. Fails the test
 * when they are missing or refused. */
rd_kafka_conf_t *kh_conf(void);

/* A topic name no earlier run used: vexfs.test.<what>.<pid>.<time>. */
void kh_topic(char *out, size_t len, const char *what);

/* Creates topic with `partitions` partitions (replication 1) and waits until the broker has
 * it; an existing topic is fine. */
void kh_create_topic(const char *topic, int partitions);

/* Reads the whole topic from the beginning; returns a JSON object event id -> count, and sets
 * *total. Stops when no message came for 2 s after at least `expect` messages (or after 60 s).
 * Every value must decode as an Event whose message key is its path. */
json_t *kh_read_topic(const char *topic, size_t expect, size_t *total);

#endif
