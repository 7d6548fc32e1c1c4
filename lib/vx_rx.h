/* SPDX-License-Identifier: Apache-2.0 */
/* The receiving end of an event link: the one receive path of the suite.
 *
 * Every receiver of EventBatch messages (propagation's ingest, routing's input, the
 * coordinator's, automation's and analytics' inputs) reads them through here, so framing
 * checks, the event spans, decoding, per-sender sequence tracking and drop accounting are the
 * same on every hop:
 *
 *   1. the message must be two frames, the topic VX_WIRE_TOPIC and the batch (else bad_frame);
 *   2. the batch's fields are walked once: the events' packed bytes (spans), the sender and the
 *      batch sequence (malformed bytes: bad_protobuf; more than max_events: too_large);
 *   3. with decode on, the batch is unpacked (vx_wire_decode_checked: protobuf-c's result, in one
 *      pass) into an arena bounded by arena_limit (over it: too_large), so a hostile frame
 *      never reaches the heap beyond that bound;
 *   4. (sender, batch sequence) goes through a vx_seqtrack: gaps and replays are counted.
 *
 * Drops count every event of a batch whose events could be counted, else the batch as one.
 * A receiver owns its vx_rx and uses it from one thread. */
#ifndef VX_RX_H
#define VX_RX_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_drop.h"
#include "vx_metrics.h"
#include "vx_wire.h"

/* The longest batch sender a receiver takes; a longer one drops the batch (bad_frame). */
#define VX_RX_SENDER_MAX 256

struct vx_rx_opts {
    size_t max_events;   /* most events one batch may hold; 0: 10,000 */
    bool decode;         /* unpack every batch into vx_batch_t (else spans and trailer only) */
    size_t arena_limit;  /* bytes a decoded batch may occupy; 0: 256 MiB */
    size_t max_senders;  /* senders remembered by the sequence tracker; 0: 4,096 */
    bool any_topic;      /* accept any topic frame; else only `topic` */
    const char *topic;   /* the topic accepted (borrowed, outlives the vx_rx); NULL:
                            VX_WIRE_TOPIC */
};

/* What the receiver counts. Every pointer may be NULL (not counted); all are borrowed and must
 * outlive the vx_rx. */
struct vx_rx_counters {
    struct vx_drops *drops;   /* bad_frame, bad_protobuf, too_large */
    vx_counter_t *batches;    /* batches received and well-formed */
    vx_counter_t *events;     /* events in them */
    vx_counter_t *gaps;       /* batches missing in a sender's sequence */
    vx_counter_t *replayed;   /* batches at or below their sender's last sequence */
    vx_counter_t *refused;    /* messages dropped, whatever the reason (one per message) */
};

typedef struct vx_rx vx_rx_t;

/* A received batch. Everything it points to is borrowed from the vx_rx and valid until the
 * next call that receives on it (or vx_rx_destroy). */
struct vx_rx_batch {
    const uint8_t *data;          /* the packed EventBatch */
    size_t len;
    vx_batch_t *batch;            /* decoded (opts.decode), else NULL */
    const struct vx_span *events; /* each event's packed bytes, in order */
    size_t n_events;
    const char *sender;           /* NUL-terminated; "" when the batch names none */
    const char *peer;             /* the CURVE identity that sent it (the name of its key in
                                     the receiver's authorized/ folder); "" on plain links */
    uint64_t batch_seq;           /* 0 when the batch has none */
    struct vx_seq_result seq;     /* the sequence check; zero when sender or sequence is absent */
    unsigned checked;             /* VX_WIRE_CHECKED_* bits: what decoding already found
                                     true of every event (vx_wire_decode_checked) */
};

/* link: the receiver's name in log lines ("ingest", "input"); borrowed, static. */
vx_rx_t *vx_rx_new(const char *link, const struct vx_rx_opts *opts,
                   const struct vx_rx_counters *counters);
void vx_rx_destroy(vx_rx_t **rx);

/* Receives one message from sock (flags: 0 or ZMQ_DONTWAIT). Returns 0 with *out filled,
 * -EAGAIN or -EINTR when nothing came, or -EPROTO when a message came and was dropped (counted
 * and logged at debug level; the caller just goes on). */
int vx_rx_recv(vx_rx_t *rx, zsock_t *sock, struct vx_rx_batch *out, int flags);

/* The same checks for batch bytes that came another way (a ROUTER's frames, a REST body, a
 * Kafka message). data is borrowed and must stay valid while *out is used. track: feed the
 * sequence tracker (false for bytes without a sender's numbering). peer: who sent them (NULL:
 * unknown), borrowed like data. Returns 0 or -EPROTO. */
int vx_rx_bytes(vx_rx_t *rx, const void *data, size_t len, bool track, const char *peer,
                struct vx_rx_batch *out);

/* The CURVE identity of a received ZeroMQ frame ("" on a plain link). Borrowed from msg. */
const char *vx_rx_msg_peer(zmq_msg_t *msg);

/* The last sequence seen from sender (0 when unknown). */
uint64_t vx_rx_last_seq(const vx_rx_t *rx, const char *sender);

#endif
