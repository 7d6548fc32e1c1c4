/* SPDX-License-Identifier: Apache-2.0 */
/* ZeroMQ + protobuf framing: a message is two frames, a topic string and a packed EventBatch.
 *
 * Senders stamp each batch with their id and a per-sender batch sequence (contiguous from 1);
 * receivers feed (sender, sequence) to a vx_seqtrack to detect and count gaps, so a lost batch
 * anywhere on a link is visible. Packing goes straight into the ZeroMQ frame (no copy);
 * unpacking draws from an arena (no malloc per field). */
#ifndef VX_WIRE_H
#define VX_WIRE_H

#include <czmq.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "vx_arena.h"
#include "vx_event.h"

#define VX_WIRE_MAX_BATCH_BYTES (64u * 1024 * 1024)
#define VX_WIRE_MAX_TOPIC 256

/* Packs and sends topic + batch. flags: 0 blocks (up to the socket's send timeout),
 * ZMQ_DONTWAIT does not. Returns 0, -EAGAIN when it would block or timed out, -EMSGSIZE when
 * the batch is larger than VX_WIRE_MAX_BATCH_BYTES, or another -errno. */
int vx_wire_send(zsock_t *sock, const char *topic, const vx_batch_t *batch, int flags);

/* Sends an already packed batch (len bytes). Same returns as vx_wire_send. */
int vx_wire_send_packed(zsock_t *sock, const char *topic, const void *data, size_t len, int flags);

/* A received message: topic and the raw batch bytes, owned until vx_wire_msg_fini. */
struct vx_wire_msg {
    char topic[VX_WIRE_MAX_TOPIC];
    zmq_msg_t body;
    bool has_body;
};

/* Receives one message. flags as for zmq_msg_recv. Returns 0, -EAGAIN, -EINTR, or -EPROTO
 * when the message does not have exactly two frames or the topic is too long (the rest of the
 * message is drained, so the socket stays usable). */
int vx_wire_recv(zsock_t *sock, struct vx_wire_msg *msg, int flags);
void vx_wire_msg_fini(struct vx_wire_msg *msg);

/* Decodes a batch from bytes into arena memory. Returns the batch (valid until the arena is
 * reset) or NULL when the bytes are not a valid EventBatch or the arena limit is exceeded. */
vx_batch_t *vx_wire_decode(const void *data, size_t len, vx_arena_t *arena);

/* A byte range inside a packed message. */
struct vx_span {
    const uint8_t *data;
    size_t len;
};

/* Finds the packed Event of every `events` entry (field 1) of a packed EventBatch, in order,
 * without decoding them: lets a hop forward events as the bytes it received. Returns 0 and *n,
 * -EPROTO when the bytes are not well-formed protobuf, -E2BIG when there are more than max.
 * With out NULL it only counts the events (max is ignored). */
int vx_wire_event_spans(const void *data, size_t len, struct vx_span *out, size_t max, size_t *n);

/* One field of a packed protobuf message, as vx_pb_next finds it. */
struct vx_pb_field {
    uint32_t number;
    uint8_t wire;        /* 0 varint, 1 64-bit, 2 length-delimited, 5 32-bit */
    uint64_t value;      /* varint, 64-bit and 32-bit fields (little-endian) */
    struct vx_span span; /* length-delimited fields: the bytes, inside the message */
};

/* A varint at *p (at most 10 bytes); moves *p past it. Returns 0 or -EPROTO. */
static inline int
vx_pb_read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    const uint8_t *q = *p;
    if (q < end && !(*q & 0x80)) { /* one byte: most tags, lengths and small values */
        *v = *q;
        *p = q + 1;
        return 0;
    }
    uint64_t r = 0;
    for (int shift = 0; shift < 70 && q < end; shift += 7) {
        uint8_t b = *q++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            *p = q;
            return 0;
        }
    }
    return -EPROTO;
}

/* Walks a packed message field by field without decoding it, so a reader can take the fields
 * it needs and skip the rest (a span walker: no allocation, nothing copied). Reads the field
 * at *p and moves *p past it. Returns 1 with *f filled, 0 at the end, or -EPROTO when the
 * bytes are not well-formed at this level: a tag or value varint that does not end, a tag of
 * more than 5 bytes or a one-byte tag of field 0, a length past the end, a wire type other
 * than 0, 1, 2 or 5 (the rules of protobuf-c's unpack; what lies inside a length-delimited
 * field is not checked). */
static inline int
vx_pb_next(const uint8_t **p, const uint8_t *end, struct vx_pb_field *f)
{
    if (*p >= end) {
        return 0;
    }
    const uint8_t *start = *p;
    uint64_t tag, v;
    /* Field number 0 in one byte is refused, as protobuf-c refuses it. */
    if ((*start & 0xf8) == 0 || vx_pb_read_varint(p, end, &tag) < 0 || *p - start > 5) {
        return -EPROTO;
    }
    f->number = (uint32_t)(tag >> 3);
    f->wire = (uint8_t)(tag & 7);
    f->value = 0;
    switch (f->wire) {
    case 0:
        return vx_pb_read_varint(p, end, &f->value) < 0 ? -EPROTO : 1;
    case 1:
    case 5: {
        size_t w = f->wire == 1 ? 8 : 4;
        if ((size_t)(end - *p) < w) {
            return -EPROTO;
        }
        for (size_t i = 0; i < w; i++) {
            f->value |= (uint64_t)(*p)[i] << (8 * i);
        }
        *p += w;
        return 1;
    }
    case 2: {
        const uint8_t *lp = *p;
        if (vx_pb_read_varint(p, end, &v) < 0 || *p - lp > 5 || v > (uint64_t)(end - *p)) {
            return -EPROTO;
        }
        f->span.data = *p;
        f->span.len = (size_t)v;
        *p += v;
        return 1;
    }
    default:
        return -EPROTO;
    }
}

/* Protobuf encoding helpers for writing fields by hand: each returns bytes written. */
size_t vx_pb_varint(uint8_t *p, uint64_t v);
/* A length-delimited field: tag, length, bytes. */
size_t vx_pb_bytes(uint8_t *p, uint32_t field, const void *data, size_t len);
/* A varint field. */
size_t vx_pb_uint(uint8_t *p, uint32_t field, uint64_t v);

/* Per-sender sequence tracking, bounded: at most max_senders senders are remembered (the least
 * recently seen is forgotten first). */
typedef struct vx_seqtrack vx_seqtrack_t;

struct vx_seq_result {
    uint64_t missing;   /* sequences skipped before this one (a gap) */
    bool duplicate;     /* sequence at or below the last seen: replay or restart */
    bool new_sender;
};

vx_seqtrack_t *vx_seqtrack_new(size_t max_senders);
void vx_seqtrack_destroy(vx_seqtrack_t **t);
/* Records seq from sender. A sender's first sequence is taken as its start. */
struct vx_seq_result vx_seqtrack_observe(vx_seqtrack_t *t, const char *sender, uint64_t seq);
/* Last sequence seen from sender, 0 when unknown. */
uint64_t vx_seqtrack_last(const vx_seqtrack_t *t, const char *sender);

#endif
