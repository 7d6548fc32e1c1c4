/* SPDX-License-Identifier: Apache-2.0 */
/* The producers' link to propagation, shared by vexfs-forwarder, vexfs-fuse, vexfs-watch and
 * the client library (libvexfs): a bounded buffer of packed batches and their delivery.
 *
 * Two modes, chosen by the ack_endpoint key:
 *
 * - Plain (ack_endpoint empty): batches are PUSHed to propagation's ingest_endpoint and
 *   forgotten once ZeroMQ took them. A batch inside ZeroMQ (or a TCP buffer) when propagation
 *   is killed is lost; the receiver sees it only as a sequence gap.
 *
 * - Acknowledged (ack_endpoint set: propagation's ingest_acked_endpoint, a ROUTER): a DEALER
 *   sends the same two frames (topic "events", packed EventBatch with sender and a contiguous
 *   batch_sequence). Propagation answers each batch with two frames, "ack" and the batch's
 *   sequence (8 bytes, little-endian), once it handed the batch on: published to routing and,
 *   with Kafka and ingest_ack_durable, reported on by Kafka for every event. The link keeps
 *   every batch until its acknowledgement arrives:
 *     - at most ack_window_batches are sent and unacknowledged at once (pipelined, not
 *       stop-and-wait); the rest wait in the buffer (buffer_max_batches in all);
 *     - a batch unacknowledged after ack_timeout_ms is sent again, and so is every
 *       unacknowledged batch when the connection drops (the socket factory's monitor reports it,
 *       the socket's only monitor, which also counts its refused handshakes in
 *       vexfs_zmq_handshake_failed_total{reason}; a drop is seen within 100 ms): they go
 *       out again, oldest first, once a propagation is reachable;
 *     - a resent batch carries the same sequence and the same events, so propagation's
 *       content-hash deduplication (which covers every field the producer sets, including
 *       metadata kernel_seq) drops the copies that arrive within its dedup window; after a
 *       restart of propagation its window is empty, so a batch published just before the
 *       crash whose acknowledgement was lost is published twice (at least once, never lost);
 *     - an acknowledgement of a sequence no longer held (a late answer to a resend) is
 *       ignored.
 *   Memory is bounded by buffer_max_batches; when the buffer is full the producer stops
 *   taking input (vx_link_room) and counts it (backpressure_total).
 *
 * Bound (cfg->bind: propagation's output_endpoint with output_acked): the same protocol with the
 * roles of the sockets' ends reversed: the link's DEALER binds and the receivers' ROUTERs
 * connect (several may: the DEALER hands each batch to the next connected one that has room,
 * and acknowledgements come back from whichever took it, naming the sequence). While no
 * receiver is connected nothing is sent and the buffer fills. A receiver's lost connection
 * sends every unacknowledged batch again, to whichever receivers are connected.
 *
 * Not thread-safe: one thread owns the link. */
#ifndef VX_LINK_H
#define VX_LINK_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_config.h"
#include "vx_event.h"
#include "vx_metrics.h"
#include "vx_sock.h"
#include "vx_wire.h"

/* What the link reads of its producer's section. */
struct vx_link_config {
    const char *ingest_endpoint;
    const char *ack_endpoint;
    int32_t ack_window_batches;
    int32_t ack_timeout_ms;
    int32_t buffer_max_batches;
    int32_t retry_interval_ms;
    /* Set by code, not a key: the link binds ack_endpoint (a DEALER that round-robins batches
     * over the connected receivers, each a ROUTER that connects: propagation's acknowledged
     * output to routing) instead of connecting to it. */
    bool bind;
    /* Set by code, not a key: the hop label of the link's vexfs_events_lost_total series
     * (NULL: "producer_to_propagation"). Static. */
    const char *hop;
};

/* The link's own keys, shared by the sections of every producer: bound to the member `m` (a
 * struct vx_link_config) of the section's struct T. ingest_endpoint, buffer_max_batches and
 * retry_interval_ms have help texts of each producer's own. */
/* NOLINTBEGIN(bugprone-macro-parentheses): m is a member path (link, m.link), which cannot be
 * parenthesised inside offsetof */
#define VX_LINK_CFG_KEYS(T, m)                                                                \
    {"ack_endpoint", VX_CFG_STRING, "", 0, 1024, false,                                        \
     "propagation's ingest_acked_endpoint (ROUTER, connected): batches are kept until "        \
     "propagation acknowledges them, and resent after ack_timeout_ms or a reconnection; "      \
     "empty: PUSH to ingest_endpoint without acknowledgements",                                \
     VX_CFG_AT(T, m.ack_endpoint)},                                                            \
    {"ack_window_batches", VX_CFG_INT, "64", 1, 100000, false,                                 \
     "batches sent and not yet acknowledged at once; the rest wait in the buffer",             \
     VX_CFG_AT(T, m.ack_window_batches)},                                                      \
    {"ack_timeout_ms", VX_CFG_INT, "2000", 1, 600000, false,                                   \
     "a batch unacknowledged this long is sent again (duplicates meet propagation's dedup)",   \
     VX_CFG_AT(T, m.ack_timeout_ms)}
/* NOLINTEND(bugprone-macro-parentheses) */

typedef struct vx_link vx_link_t;

/* Opens the link's socket through socks (borrowed: it must outlive the link). prefix names the metrics ("vexfs_forwarder" ->
 * vexfs_forwarder_events_sent_total); dropped_help is the help text of
 * <prefix>_events_dropped_total, whose reason send_error the link counts. cfg is copied (its
 * strings are used only here). Returns NULL with a message in err. */
vx_link_t *vx_link_new(const struct vx_link_config *cfg, const vx_socks_t *socks,
                         const char *prefix, const char *dropped_help, vx_metrics_t *metrics,
                         char *err, size_t errlen);
void vx_link_destroy(vx_link_t **l);

/* The endpoint the link's socket bound or connected to (borrowed; the bound port resolved). */
const char *vx_link_endpoint(const vx_link_t *l);

/* Free buffer slots. */
size_t vx_link_room(const vx_link_t *l);
/* Batches held: waiting, or sent and not acknowledged. */
size_t vx_link_held(const vx_link_t *l);
/* Batches finished so far, counted in the order they were put (a batch finishes when it and
 * every batch put before it were acknowledged, or given up on). */
uint64_t vx_link_done(const vx_link_t *l);
/* Counts one transition of the producer into "input paused because the buffer is full". */
void vx_link_count_backpressure(vx_link_t *l);

/* A sender id for this run of a program: base (cut to fit) + "@" + the start time in ns, hex,
 * at most VX_RX_SENDER_MAX bytes. Every run numbers its batches from 1, so an acknowledged
 * receiver that remembers its senders (vx_ackin.h) must not meet a restarted sender under its
 * old name: it would take the new run's batches for resends of the old run's and refuse them.
 * A name that is the same on every run (a configured producer_id, or host and pid in a
 * container restarted in place) therefore gets this suffix. */
void vx_link_run_sender(char *out, size_t cap, const char *base);

/* Packs events[0..n) as the next batch of sender into the buffer. The caller checked
 * vx_link_room() > 0. */
void vx_link_put(vx_link_t *l, vx_event_t **events, size_t n, const char *sender);

/* Seals b (vx_wire.h's batch builder, holding b->n > 0 packed events) with sender and the next
 * batch sequence and takes its bytes into the buffer: b is left empty (its memory taken). The
 * caller checked vx_link_room() > 0. Touches no socket, so another thread may call it while
 * the owner polls, provided both hold the same lock. */
void vx_link_put_batch(vx_link_t *l, struct vx_batchbuf *b, const char *sender);

/* What the link did so far, for programs that read it without a metrics page. */
struct vx_link_stats {
    uint64_t put_batches;    /* batches put into the buffer */
    uint64_t done_batches;   /* of those, finished (acknowledged, taken by ZeroMQ in plain
                                mode, or dropped): the buffer releases them in order */
    uint64_t sent_events;    /* first sends */
    uint64_t sent_batches;
    uint64_t acked_events;
    uint64_t resent_events;
    uint64_t resent_batches;
    uint64_t dropped_events; /* given up on a send error */
    uint64_t resets;         /* lost connections with batches unacknowledged */
    size_t held;             /* batches held now */
    size_t unacked;          /* batches sent and not yet acknowledged */
};
void vx_link_stats(const vx_link_t *l, struct vx_link_stats *out);

/* Reads acknowledgements and connection events, resends what timed out or was cut off, sends
 * what the window allows. now: vx_mono_ns(). */
void vx_link_pump(vx_link_t *l, uint64_t now);

/* The link's socket for zmq_poll (ZMQ_POLLIN); returns how many were written (at most 1). */
size_t vx_link_pollitems(vx_link_t *l, zmq_pollitem_t *items);
/* The same socket as zsock_t (for vx_loop_reader; borrowed, valid until vx_link_destroy);
 * returns how many were written (at most 1). */
size_t vx_link_socks(vx_link_t *l, zsock_t **out);
/* The packed bytes of the batch put last (borrowed, valid until the next vx_link_pump), or
 * NULL when the buffer is empty. */
const uint8_t *vx_link_last_put(const vx_link_t *l, size_t *len);
/* Monotonic time the link next needs vx_link_pump without socket activity (UINT64_MAX:
 * never). */
uint64_t vx_link_wake_ns(const vx_link_t *l);

/* Gives up on every held batch (at shutdown); returns the number of events in them (for the
 * caller's shutdown count). They are also counted as
 * vexfs_events_lost_total{hop="producer_to_propagation",reason="shutdown"}. */
size_t vx_link_abandon(vx_link_t *l);

#endif
