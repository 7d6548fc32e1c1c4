/* SPDX-License-Identifier: Apache-2.0 */
/* The outputs of vexfs-routing: one per target boundary, each either ZeroMQ PUSH streams or a
 * Kafka topic, each with its own bounded queue and its own policy for when it is full.
 *
 * ZeroMQ. A boundary has one PUSH socket (or acknowledged link, below) per configured endpoint, each bound and meant for
 * one consumer. With several endpoints and load balancing on, an event goes to endpoint
 * vx_hash64(path) % N, so all events of one file reach the same consumer, in order; with load
 * balancing off every endpoint receives every event. Events are sent in batches (EventBatch,
 * topic "events"); each socket numbers its batches from 1 with this daemon's sender id, so each
 * consumer can detect a gap with vx_seqtrack.
 *
 * Queues. Sends never wait: a batch its consumer does not take at once (absent, or its ZeroMQ
 * high-water mark reached) waits in that consumer's queue, in order, and goes out as soon as
 * the socket is writable, so one slow or absent consumer holds up nobody else. Each consumer's
 * queue holds at most queue_events events (the batch being built included). When an event
 * finds it full, the boundary's policy decides: drop — the event skips that consumer, counted
 * in vexfs_events_dropped_total{reason="boundary_full"} and
 * vexfs_routing_boundary_dropped_total{boundary}; block — the put waits until that queue has
 * room (lossless; the loop then takes no input, so the backpressure reaches propagation),
 * sending to every other consumer meanwhile. A consumer is stalled while it has events
 * waiting and its last send found it full; a boundary is blocked once one of its consumers
 * has been stalled for RT_BLOCKED_AFTER_MS (shown on /ready and in
 * vexfs_routing_boundary_blocked); stalled time adds up in
 * vexfs_routing_boundary_blocked_seconds_total.
 *
 * Acknowledged (boundary_acked). Each endpoint of a listed boundary is instead a vx_link
 * (vx_link.h) whose DEALER binds it; the consumer connects a ROUTER and answers each batch. A
 * batch stays in the consumer's queue until answered (the link's window of unanswered batches
 * plus those waiting, queue_events in all), is sent again after ack_timeout_ms or a lost
 * connection, and the policy applies when the queue is full. The checkpoints below let the
 * input's acknowledgements wait for the block-policy acknowledged consumers.
 *
 * Kafka. A boundary may instead go to topic <prefix><boundary>: idempotent producer,
 * acks=all, keyed by path (one file's events stay in one partition, in order), one Event per
 * message. Its queue is the events not yet acknowledged by Kafka, with the same policies.
 *
 * An event is given as the bytes it arrived with plus optional appended protobuf fields (tags,
 * priority); it is sent as those bytes, never re-encoded.
 *
 * Threading: everything but the getters marked thread-safe runs on the loop thread. */
#ifndef RT_OUTPUT_H
#define RT_OUTPUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zmq.h>

#include "rt_config.h"
#include "vx_kafka_conf.h"
#include "vx_metrics.h"
#include "vx_sock.h"

/* A consumer stalled this long makes its boundary blocked. */
#define RT_BLOCKED_AFTER_MS 1000

typedef struct rt_outputs rt_outputs_t;

/* Called while a put waits for room in a full queue of a block-policy boundary. Returns true
 * when the put should give up (shutdown deadline passed); the event is then counted as
 * dropped with reason "shutdown". */
typedef bool(rt_outputs_wait_fn)(void *arg);

struct rt_outputs_opts {
    const struct rt_output_plan *plan;
    const vx_socks_t *socks;  /* the socket factory (borrowed, must outlive the outputs) */
    const char *tap_endpoint; /* PUB for observers, topic "events.<boundary>"; "" or NULL: none */
    int hwm;                  /* ZeroMQ high-water mark, in batches */
    bool load_balance;        /* several endpoints: one by hash(path), or all */
    const char *sender;       /* batch sender id (copied) */
    const char *kafka_brokers;  /* needed when the plan has a Kafka boundary */
    const struct vx_kafka_security_config *kafka_security; /* borrowed; NULL: the defaults */
    const char *kafka_topic_prefix;
    int kafka_message_timeout_ms;
    rt_outputs_wait_fn *wait;
    void *wait_arg;
    int ack_window_batches; /* acknowledged consumers: batches unacknowledged at once */
    int ack_timeout_ms;     /* ... and how long before one is sent again */
};

/* Binds every ZeroMQ endpoint and creates the Kafka producer when needed. Returns NULL with a
 * message in err. opts->plan is copied; metrics is borrowed and must outlive the outputs. */
rt_outputs_t *rt_outputs_new(const struct rt_outputs_opts *opts, vx_metrics_t *metrics, char *err,
                             size_t errlen);
/* Closes without flushing (see rt_outputs_shutdown). Accepts NULL; sets *o to NULL. */
void rt_outputs_destroy(rt_outputs_t **o);

/* Batching: events per batch and the longest a batch may wait once started. */
void rt_outputs_set_batching(rt_outputs_t *o, uint32_t max_events, uint64_t max_delay_ns);

/* Queues one event for boundary i (the plan's index): ev[0..len) as received, then
 * extra[0..xlen) appended; path (for the hash and the Kafka key) is borrowed for the call.
 * Sends full batches without waiting. A full queue drops the event (drop policy) or waits for
 * room (block policy, calling opts->wait). */
void rt_outputs_put(rt_outputs_t *o, size_t i, const uint8_t *ev, size_t len,
                    const uint8_t *extra, size_t xlen, const char *path, size_t path_len);

/* Sends batches: all of them with force, else those full or older than the delay; then
 * whatever waits for consumers that can take it now. Never waits. */
void rt_outputs_flush(rt_outputs_t *o, bool force);
/* Fills items (at most max) with the ZeroMQ sockets whose consumers have batches waiting
 * (ZMQ_POLLOUT), so the loop wakes when one can take them; returns how many. */
size_t rt_outputs_pollitems(const rt_outputs_t *o, zmq_pollitem_t *items, size_t max);
/* Monotonic time the oldest unsent batch was started, 0 when nothing waits. */
uint64_t rt_outputs_oldest(const rt_outputs_t *o);
/* Serves Kafka delivery reports, sends what consumers can take now, and updates the queue
 * and blocked-time metrics. Never waits. */
void rt_outputs_poll(rt_outputs_t *o);

/* Monotonic time an acknowledged consumer's link next needs rt_outputs_poll without socket
 * activity (a resend due, a dropped connection to look for); UINT64_MAX: never. */
uint64_t rt_outputs_wake_ns(const rt_outputs_t *o);

/* Checkpoints gate the input's acknowledgements on the acknowledged, block-policy
 * consumers: an input batch handed to the outputs is acknowledged once every such consumer
 * acknowledged every batch holding its events.
 *   rt_outputs_next_checkpoint: the id an acknowledgement queued now waits for (marks it as
 *     wanted);
 *   rt_outputs_checkpoint_due: an acknowledgement waits for a checkpoint not yet taken;
 *   rt_outputs_checkpoint: takes it (call when no event is left in a batch under
 *     construction), recording what each gating consumer was given so far;
 *   rt_outputs_reached: the highest checkpoint every gating consumer has acknowledged.
 * With no acknowledged block-policy boundary a checkpoint is reached when taken. */
uint64_t rt_outputs_next_checkpoint(rt_outputs_t *o);
bool rt_outputs_checkpoint_due(const rt_outputs_t *o);
void rt_outputs_checkpoint(rt_outputs_t *o);
uint64_t rt_outputs_reached(rt_outputs_t *o);

/* Shutdown: sends everything queued, waits for Kafka's acknowledgements, and lets ZeroMQ
 * deliver what is queued, all within timeout_ms. Returns 0, or -ETIMEDOUT when something
 * could not be delivered in time (counted as dropped, reason "shutdown", and logged per
 * boundary). Events ZeroMQ had taken but not delivered when its linger ends are not known
 * to routing and so not counted. */
int rt_outputs_shutdown(rt_outputs_t *o, int timeout_ms);

/* The bound endpoint of boundary i's consumer slot k ("" for Kafka boundaries). */
const char *rt_outputs_endpoint(const rt_outputs_t *o, size_t i, size_t k);
bool rt_outputs_has_kafka(const rt_outputs_t *o);
/* True after a fatal Kafka producer error. Thread-safe. */
bool rt_outputs_kafka_failed(const rt_outputs_t *o);

/* Where an event with this path would go on boundary i: {"boundary","kind","topic"} or
 * {"boundary","kind","endpoints":[...]} (new reference). Thread-safe. */
json_t *rt_outputs_describe(const rt_outputs_t *o, size_t i, const char *path, size_t path_len);

/* Per boundary: kind, endpoints or topic, events and batches sent, Kafka outcomes, policy,
 * queue size and capacity, blocked state and time, drops (new reference). Thread-safe. */
json_t *rt_outputs_stats(const rt_outputs_t *o);
/* Appends to names the boundaries blocked now (a consumer stalled for RT_BLOCKED_AFTER_MS) and
 * sets their state in detail (name -> {policy, queued, blocked_s, dropped}); returns how many.
 * Thread-safe. */
size_t rt_outputs_blocked(const rt_outputs_t *o, json_t *names, json_t *detail);

#endif
