/* SPDX-License-Identifier: Apache-2.0 */
/* The userspace event emitter shared by vexfs-fuse and vexfs-watch: producers hand it
 * operations (fu_emit_push, any thread); its own thread translates them into events, batches
 * them and hands the batches to the forwarder's link to propagation (vx_link.h: acknowledged
 * and resent with ack_endpoint, plain PUSH without), each batch stamped with the sender id and
 * a contiguous batch_sequence, each event with producer id and sequence.
 *
 * Backpressure: operations wait in a bounded queue; when it is full (propagation away long
 * enough to fill the batch buffer too) fu_emit_push blocks the producer for up to
 * queue_block_ms, then drops the operation and counts it (reason queue_full). */
#ifndef FU_EMIT_H
#define FU_EMIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "vx_link.h"
#include "fu_record.h"
#include "vx_config.h"
#include "vx_metrics.h"

/* The emitter's keys, shared by the sections of both programs (rest_port differs). */
/* What the emitter reads of its producer's section. */
struct fu_emit_config {
    struct vx_link_config link;
    int32_t batch_max_events;
    int32_t batch_max_delay_ms;
    int32_t queue_max_ops;
    int32_t queue_block_ms;
    const char *producer_id;
    int32_t shutdown_timeout_ms;
    const char *rest_bind;
    int32_t rest_port;
};

/* The emitter's keys, bound to the member `m` (a struct fu_emit_config) of the section's
 * struct T. */
/* NOLINTBEGIN(bugprone-macro-parentheses): m names a member, which cannot be parenthesised */
#define FU_EMIT_CFG_KEYS(T, m, producer_help, port)                                             \
    {"ingest_endpoint", VX_CFG_STRING, "tcp://127.0.0.1:5550", 0, 1024, false,                 \
     "propagation's ZeroMQ PULL endpoint (connected; reconnects by itself); used when "        \
     "ack_endpoint is empty",                                                                  \
     VX_CFG_AT(T, m.link.ingest_endpoint)},                                                    \
    VX_LINK_CFG_KEYS(T, m.link),                                                              \
    {"batch_max_events", VX_CFG_INT, "100", 1, 10000, false, "events per batch",               \
     VX_CFG_AT(T, m.batch_max_events)},                                                        \
    {"batch_max_delay_ms", VX_CFG_INT, "5", 0, 60000, false,                                   \
     "longest an event waits for its batch to fill", VX_CFG_AT(T, m.batch_max_delay_ms)},      \
    {"buffer_max_batches", VX_CFG_INT, "1000", 1, 1000000, false,                              \
     "batches held until propagation took (with ack_endpoint: acknowledged) them",             \
     VX_CFG_AT(T, m.link.buffer_max_batches)},                                                 \
    {"queue_max_ops", VX_CFG_INT, "10000", 1, 10000000, false,                                 \
     "operations waiting to be translated; when full, producers wait",                         \
     VX_CFG_AT(T, m.queue_max_ops)},                                                           \
    {"queue_block_ms", VX_CFG_INT, "1000", 0, 600000, false,                                   \
     "longest a producer waits for room before the operation is dropped and counted",          \
     VX_CFG_AT(T, m.queue_block_ms)},                                                          \
    {"producer_id", VX_CFG_STRING, "", 0, 256, false, producer_help,                           \
     VX_CFG_AT(T, m.producer_id)},                                                             \
    {"retry_interval_ms", VX_CFG_INT, "2", 1, 60000, false,                                    \
     "how often a batch propagation did not take is offered again",                            \
     VX_CFG_AT(T, m.link.retry_interval_ms)},                                                  \
    {"shutdown_timeout_ms", VX_CFG_INT, "5000", 0, 600000, false,                              \
     "on SIGTERM, how long to keep delivering buffered batches; the rest count as dropped",    \
     VX_CFG_AT(T, m.shutdown_timeout_ms)},                                                     \
    {"rest_bind", VX_CFG_STRING, "127.0.0.1", 0, 64, false, "address of the REST server",      \
     VX_CFG_AT(T, m.rest_bind)},                                                               \
    {"rest_port", VX_CFG_INT, port, 0, 65535, false, "port of the REST server (0: any)",       \
     VX_CFG_AT(T, m.rest_port)}
/* NOLINTEND(bugprone-macro-parentheses) */

typedef struct fu_emit fu_emit_t;

/* boundary: the events' source (VEXFS__V1__BOUNDARY__*); prefix: the metric prefix
 * ("vexfs_fuse") and default producer id prefix ("fuse"). cfg is read here only; socks and
 * metrics are borrowed and must outlive the emitter. Starts the thread. Returns NULL with a
 * message in err. */
fu_emit_t *fu_emit_new(const struct fu_emit_config *cfg, const vx_socks_t *socks, int boundary,
                       const char *prefix, vx_metrics_t *metrics, char *err, size_t errlen);

/* Stops the thread after delivering what is queued for at most shutdown_timeout_ms (the rest
 * is counted as dropped, reason shutdown), then frees. Accepts NULL. */
void fu_emit_destroy(fu_emit_t **e);

/* Queues op; takes ownership of its paths (op->path and op->path2 are NULL afterwards) and
 * stamps h.seq. Returns 0, or -ENOBUFS when dropped (counted). Thread-safe. */
int fu_emit_push(fu_emit_t *e, struct fu_op *op);

/* The sender id (borrowed, valid while e lives). */
const char *fu_emit_sender(const fu_emit_t *e);

#endif
