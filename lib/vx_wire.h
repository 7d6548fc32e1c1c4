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
#include <stdbool.h>
#include <stdint.h>

#include "vx_arena.h"
#include "vx_event.h"

#define VX_WIRE_MAX_BATCH_BYTES (64u * 1024 * 1024)
#define VX_WIRE_MAX_TOPIC 256
/* The topic frame of every event message. */
#define VX_WIRE_TOPIC "events"

/* Field numbers of proto/vexfs/v1/event.proto: the one place C code outside the generated
 * files names them (tests/lib/test_wire.c checks them against the generated descriptors). */
enum vx_pb_event_field {
    VX_PB_EVENT_ID = 1,
    VX_PB_EVENT_TYPE = 2,
    VX_PB_EVENT_SOURCE = 3,
    VX_PB_EVENT_TIMESTAMP_NS = 4,
    VX_PB_EVENT_PATH = 5,
    VX_PB_EVENT_CONTENT = 6,
    VX_PB_EVENT_METADATA = 7,
    VX_PB_EVENT_TENANT = 8,
    VX_PB_EVENT_PRIORITY = 9,
    VX_PB_EVENT_PRODUCER_ID = 10,
    VX_PB_EVENT_SEQUENCE = 11,
    VX_PB_EVENT_CAUSALITY = 12,
    VX_PB_EVENT_TRACE_ID = 13,
    VX_PB_EVENT_INGEST_NS = 14,
    VX_PB_EVENT_CUSTOM_TYPE = 15,
};
enum vx_pb_batch_field {
    VX_PB_BATCH_EVENTS = 1,
    VX_PB_BATCH_SENDER = 2,
    VX_PB_BATCH_SEQUENCE = 3,
};
/* A map entry (content, metadata) is a message of key and value. */
enum vx_pb_map_field {
    VX_PB_MAP_KEY = 1,
    VX_PB_MAP_VALUE = 2,
};
/* Protobuf wire types. */
enum vx_pb_wire {
    VX_PB_VARINT = 0,
    VX_PB_FIXED64 = 1,
    VX_PB_LEN = 2,
    VX_PB_FIXED32 = 5,
};

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

/* One field read from packed protobuf bytes. */
struct vx_pb_field {
    uint32_t number;
    enum vx_pb_wire wire;
    uint64_t value;      /* VX_PB_VARINT, VX_PB_FIXED64, VX_PB_FIXED32 */
    struct vx_span bytes; /* VX_PB_LEN: the payload; others: the raw value bytes */
};

/* Walks the top-level fields of a packed message without decoding it: the one protobuf walker
 * of the suite, used to find events in a batch and single fields in an event.
 *
 *     struct vx_pb_reader r = {p, p + len};
 *     struct vx_pb_field f;
 *     while ((rc = vx_pb_next(&r, &f)) > 0) { ... }
 *
 * Returns 1 with *f filled, 0 at the end, -EPROTO on malformed bytes (a bad varint, a length
 * past the end, a group or reserved wire type, field number 0 in a one-byte tag), as
 * protobuf-c judges them. */
struct vx_pb_reader {
    const uint8_t *p;
    const uint8_t *end;
};
int vx_pb_next(struct vx_pb_reader *r, struct vx_pb_field *f);

/* The payload of the last occurrence of length-delimited field `number` of a packed message
 * (the last one wins, as for any protobuf reader). Returns 1 and *out, 0 when absent, or
 * -EPROTO. */
int vx_pb_find_bytes(const void *data, size_t len, uint32_t number, struct vx_span *out);

/* Protobuf encoding helpers for writing fields by hand: each returns bytes written. */
size_t vx_pb_varint(uint8_t *p, uint64_t v);
/* A length-delimited field: tag, length, bytes. */
size_t vx_pb_bytes(uint8_t *p, uint32_t field, const void *data, size_t len);
/* A varint field. */
size_t vx_pb_uint(uint8_t *p, uint32_t field, uint64_t v);

/* A packed EventBatch built from events that are already packed: the one batch builder of the
 * suite. Each event is appended as an `events` entry holding the event's bytes followed by
 * fields the hop adds (a stamp, tags: protobuf readers take the last occurrence of a field,
 * so appended fields override). vx_batchbuf_seal adds the sender and batch sequence.
 *
 *     struct vx_batchbuf b = {0};
 *     vx_batchbuf_add(&b, ev, ev_len, stamp, stamp_len);
 *     size_t len = vx_batchbuf_seal(&b, "routing-1", 9, ++seq);
 *     vx_wire_send_packed(sock, VX_WIRE_TOPIC, b.buf, len, 0);
 *     vx_batchbuf_clear(&b);
 *
 * A plain struct (zero is empty); its memory grows to the largest batch built and is kept. */
struct vx_batchbuf {
    uint8_t *buf;
    size_t len;  /* bytes of the events appended so far */
    size_t cap;
    size_t n;    /* events appended */
};

/* Appends one event: its bytes, then extra (xlen bytes, may be 0). Returns the offset in buf
 * where the event's bytes start; the event occupies len + xlen bytes there. */
size_t vx_batchbuf_add(struct vx_batchbuf *b, const void *ev, size_t len, const void *extra,
                       size_t xlen);
/* Appends the trailer (sender, batch sequence; an empty sender or 0 is left out) and returns
 * the length of the complete batch in buf. After sealing, only vx_batchbuf_clear may follow. */
size_t vx_batchbuf_seal(struct vx_batchbuf *b, const char *sender, size_t sender_len,
                        uint64_t seq);
/* Empties the batch, keeping its memory. */
void vx_batchbuf_clear(struct vx_batchbuf *b);
void vx_batchbuf_fini(struct vx_batchbuf *b);

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
