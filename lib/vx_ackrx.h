/* SPDX-License-Identifier: Apache-2.0 */
/* The receiving end of an acknowledged link (vx_link.h is the sending end): a ZeroMQ ROUTER
 * that answers each batch once the receiver handed it on. Shared by propagation's acknowledged
 * ingest (ingest_acked_endpoint, bound) and routing's acknowledged input (input_acked, a
 * ROUTER connected to propagation's bound DEALER).
 *
 * Protocol. The sender's DEALER sends two frames, topic "events" and a packed EventBatch
 * carrying its sender id and a batch_sequence (contiguous from 1, never 0). The ROUTER sees a
 * third frame in front, the connection's routing id. The receiver answers on the same
 * connection with two frames: "ack" and the batch_sequence as 8 bytes little-endian, once the
 * batch was handed on (what that means is the receiver's: see prop_server.h and rt_server.h).
 * Acknowledgements leave in the order batches arrived (over all connections), so a copy of a
 * batch (a sender's resend) is acknowledged no earlier than its original. A batch without
 * sender or sequence, or undecodable, is processed (or counted as dropped) and never
 * acknowledged. At most max_pending batches wait for their acknowledgement; while that many
 * do, the receiver stops reading the ROUTER (its high-water mark then makes senders wait).
 *
 * Entries wait for two things: an epoch (the receiver's count of batches handed on, which
 * must reach the entry's) and a count of outside reports (Kafka deliveries) still awaited.
 *
 * One thread owns a vx_acks_t and its ROUTER. */
#ifndef VX_ACKRX_H
#define VX_ACKRX_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VX_ACK_ID_MAX 256 /* ZeroMQ routing ids are at most 255 bytes */

/* One batch waiting for its acknowledgement. */
struct vx_ack {
    uint8_t id[VX_ACK_ID_MAX];
    size_t id_len;
    uint64_t seq;
    uint64_t epoch;  /* published once the loop's publish epoch reaches this */
    int kafka_pending; /* Kafka reports still awaited */
};

typedef struct vx_acks vx_acks_t;

vx_acks_t *vx_acks_new(size_t max_pending);
void vx_acks_destroy(vx_acks_t **a);

bool vx_acks_full(const vx_acks_t *a);
size_t vx_acks_pending(const vx_acks_t *a);

/* Queues the acknowledgement of (id, seq), due at publish epoch `epoch`. The caller checked
 * vx_acks_full. The entry stays valid (its address too) until it is sent. */
struct vx_ack *vx_acks_push(vx_acks_t *a, const void *id, size_t id_len, uint64_t seq,
                                uint64_t epoch);

/* The entry p points to, when it is one of a's (an opaque handed to Kafka); else NULL. */
struct vx_ack *vx_acks_entry(vx_acks_t *a, void *p);

/* Sends, in order, every acknowledgement whose epoch <= published and whose Kafka reports all
 * came. Returns how many were sent (an unroutable one, its connection gone, counts too). */
size_t vx_acks_release(vx_acks_t *a, uint64_t published, zsock_t *router);

/* Sends the acknowledgement of (id, seq) now, on router. An acknowledgement whose connection
 * is gone is dropped (the sender resends on its new connection). */
void vx_acks_send(zsock_t *router, const void *id, size_t id_len, uint64_t seq);

/* Receives one message from the ROUTER: routing id into id (VX_ACK_ID_MAX bytes), the batch
 * frame into body (initialised; the caller closes it on 0). Returns 0, -EAGAIN when nothing is
 * waiting, or -EPROTO when the message is not id + topic "events" + batch (drained; body
 * closed). */
int vx_acks_recv(zsock_t *router, uint8_t *id, size_t *id_len, zmq_msg_t *body);

#endif
