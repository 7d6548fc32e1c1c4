/* SPDX-License-Identifier: Apache-2.0 */
/* An idempotent Kafka producer (acks=all, ordered per partition, retried until
 * message_timeout_ms) with one delivery callback per message, secured by the kafka_security
 * section (vx_kafka_conf.h).
 *
 * Threading: produce, poll and flush are called from one thread (the owner's loop); delivery
 * callbacks run inside poll/flush on that thread. */
#ifndef VX_KAFKA_H
#define VX_KAFKA_H

#include <stdbool.h>
#include <stddef.h>

#include "vx_kafka_conf.h"

typedef struct vx_kafka vx_kafka_t;

/* err: 0 when Kafka acknowledged the message, -EIO otherwise (reason in errstr). */
typedef void(vx_kafka_dr_fn)(void *msg_opaque, int err, const char *errstr, void *arg);

/* A producer for brokers with the security settings sec (borrowed for the call; NULL: the
 * section's defaults, see vx_kafka_conf_new). Returns NULL with a message in err when the
 * configuration is refused: a secret file missing or readable by others, plaintext off
 * loopback, ... Extra settings may be given as "key=value" strings (NULL-terminated list, may be
 * NULL). Errors the brokers report later are logged precisely (vx_kafka_report_error): a
 * refusal of the credentials as KAFKA-REFUSED, a TLS failure as KAFKA-TLS. */
vx_kafka_t *vx_kafka_new(const char *brokers, const struct vx_kafka_security_config *sec,
                         int message_timeout_ms, const char *const *extra, vx_kafka_dr_fn *dr,
                         void *arg, char *err, size_t errlen);
/* Flushes up to flush_timeout_ms, then destroys; messages still undelivered are reported
 * through the delivery callback as failed. */
void vx_kafka_destroy(vx_kafka_t **k, int flush_timeout_ms);

/* Queues one message (copied). When the local queue is full it serves delivery reports and
 * retries for up to block_ms. Returns 0, -ENOBUFS (still full), or -EIO (fatal producer state
 * or another error). */
int vx_kafka_produce(vx_kafka_t *k, const char *topic, const void *key, size_t key_len,
                     const void *value, size_t len, void *msg_opaque, int block_ms);
/* Serves delivery reports; returns how many were served. */
int vx_kafka_poll(vx_kafka_t *k, int timeout_ms);
/* Waits until every queued message is delivered or failed, or timeout; returns the number
 * still in flight. */
int vx_kafka_flush(vx_kafka_t *k, int timeout_ms);
int vx_kafka_inflight(vx_kafka_t *k);
/* True after a fatal error (the producer must be recreated). */
bool vx_kafka_fatal(vx_kafka_t *k);
/* False after a fatal error, and while the brokers refuse this producer (credentials, client
 * certificate, protocol) or TLS with them fails: from such a report until the next message
 * Kafka acknowledges. What readiness reports as the producer's health. */
bool vx_kafka_healthy(vx_kafka_t *k);

#endif
