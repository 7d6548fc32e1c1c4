/* SPDX-License-Identifier: Apache-2.0 */
/* The acknowledged ingest (ingest_acked_endpoint): a ZeroMQ ROUTER beside the PULL ingest.
 *
 * Protocol. A producer's DEALER sends what it would PUSH: two frames, topic "events" and a
 * packed EventBatch carrying its sender id and a batch_sequence (contiguous from 1, never 0).
 * The ROUTER sees a third frame in front, the connection's routing id. Propagation answers on
 * the same connection with two frames: "ack" and the batch_sequence as 8 bytes little-endian,
 * once the batch was handed on:
 *   - every accepted event of it published to routing (PUSH; the same loop turn's output
 *     batch, or a later one), duplicates and invalid events counted as usual;
 *   - with Kafka and ingest_ack_durable, Kafka reported on every accepted event of it
 *     (delivered, or failed and counted in vexfs_kafka_failed_total).
 * Acknowledgements leave in the order batches arrived (over all connections), so a copy of a
 * batch (a producer's resend) is acknowledged no earlier than its original. A batch without
 * sender or sequence, or undecodable, is processed (or counted as dropped) and never
 * acknowledged. At most max_pending batches wait for their acknowledgement; while that many
 * do, the ROUTER is not read (its high-water mark then makes producers wait).
 *
 * What an acknowledgement does not cover: a batch published to routing sits in ZeroMQ's send
 * queue for routing (up to queue_hwm batches) until routing reads it; a kill -9 of propagation
 * loses that queue, unless the events were journaled (ingest_ack_durable with Kafka).
 *
 * One thread (the propagation loop) owns this. */
#ifndef PROP_ACK_H
#define PROP_ACK_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROP_ACK_ID_MAX 256 /* ZeroMQ routing ids are at most 255 bytes */

/* One batch waiting for its acknowledgement. */
struct prop_ack {
    uint8_t id[PROP_ACK_ID_MAX];
    size_t id_len;
    uint64_t seq;
    uint64_t epoch;  /* published once the loop's publish epoch reaches this */
    int kafka_pending; /* Kafka reports still awaited */
};

typedef struct prop_acks prop_acks_t;

prop_acks_t *prop_acks_new(size_t max_pending);
void prop_acks_destroy(prop_acks_t **a);

bool prop_acks_full(const prop_acks_t *a);
size_t prop_acks_pending(const prop_acks_t *a);

/* Queues the acknowledgement of (id, seq), due at publish epoch `epoch`. The caller checked
 * prop_acks_full. The entry stays valid (its address too) until it is sent. */
struct prop_ack *prop_acks_push(prop_acks_t *a, const void *id, size_t id_len, uint64_t seq,
                                uint64_t epoch);

/* The entry p points to, when it is one of a's (an opaque handed to Kafka); else NULL. */
struct prop_ack *prop_acks_entry(prop_acks_t *a, void *p);

/* Sends, in order, every acknowledgement whose epoch <= published and whose Kafka reports all
 * came. Returns how many were sent (an unroutable one, its connection gone, counts too). */
size_t prop_acks_release(prop_acks_t *a, uint64_t published, zsock_t *router);

/* Receives one message from the ROUTER: routing id into id (PROP_ACK_ID_MAX bytes), the batch
 * frame into body (initialised; the caller closes it on 0). Returns 0, -EAGAIN when nothing is
 * waiting, or -EPROTO when the message is not id + topic "events" + batch (drained; body
 * closed). */
int prop_acks_recv(zsock_t *router, uint8_t *id, size_t *id_len, zmq_msg_t *body);

#endif
