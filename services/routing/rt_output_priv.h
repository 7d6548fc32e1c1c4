/* SPDX-License-Identifier: Apache-2.0 */
/* The outputs' state, shared by rt_output.c (queues, PUSH sockets, Kafka) and
 * rt_output_link.c (acknowledged consumers and the input's checkpoints); see rt_output.h. */
#ifndef RT_OUTPUT_PRIV_H
#define RT_OUTPUT_PRIV_H

#include <czmq.h>
#include <stdatomic.h>

#include "rt_output.h"
#include "vx_ackin.h"
#include "vx_drop.h"
#include "vx_kafka.h"
#include "vx_link.h"

#define RT_OUT_LINK_MAX_BATCHES 65536 /* an acknowledged consumer's link holds at most this many */
#define RT_OUT_CP_MAX (VX_ACKIN_PENDING + 1) /* checkpoints: at most one per input acknowledgement */

/* A sealed batch (trailer included) its consumer has not taken yet. */
struct rt_out_batch {
    uint8_t *buf;
    size_t len;
    uint32_t n;
};

/* One ZeroMQ consumer: a PUSH socket, or an acknowledged link (boundary_acked); the batch being built for it — `events` entries
 * (field 1) holding each event's bytes; the trailer is appended when sealed — and its queue of
 * sealed batches, oldest first. */
struct rt_out_slot {
    zsock_t *sock;
    char endpoint[RT_ENDPOINT_MAX];
    uint8_t *buf;
    size_t len, cap;
    size_t n;
    uint64_t oldest_ns;
    uint64_t batch_seq;
    struct rt_out_batch *pend; /* ring */
    uint32_t pend_head, pend_n, pend_cap;
    _Atomic uint64_t queued; /* events in the batch being built and in pend */
    bool stalled;            /* batches wait and the last send found the consumer full */
    /* Acknowledged (boundary_acked): the link holds the sealed batches until the consumer
     * acknowledges them; pend then holds only each one's event count (buf NULL), in the
     * order put, so the finished ones leave the queue as vx_link_done grows. */
    vx_link_t *link;
    uint64_t link_put, link_done;
    uint64_t link_acked_seen, link_resent_seen;
    bool gates; /* block policy: the input's acknowledgements wait for this consumer's */
};

/* The input's acknowledgements due once every gating consumer finished the batches put
 * before this checkpoint (marks: per gating consumer, its link_put then). */
struct rt_out_cp {
    uint64_t id;
    uint64_t *marks;
};

struct rt_out {
    char name[RT_BOUNDARY_MAX];
    bool kafka;
    char topic[RT_BOUNDARY_MAX + 256];
    char tap_topic[RT_BOUNDARY_MAX + 8]; /* "events.<name>" */
    struct rt_out_slot slots[RT_MAX_ENDPOINTS];
    size_t n_slots;
    enum rt_policy policy;
    uint64_t cap;                    /* events per queue (per consumer; the topic for Kafka) */
    _Atomic uint64_t kqueued;        /* Kafka: produced, not yet acknowledged or failed */
    bool kfull;                      /* Kafka: the last put found the queue full */
    _Atomic uint64_t stall_since;    /* monotonic ns the current stall began, 0: none */
    _Atomic uint64_t stall_ns;       /* ended stalls, in total */
    uint64_t stall_counted_s;        /* whole seconds already in blocked_s */
    bool acked;
    vx_counter_t *routed, *batches, *kafka_ok, *kafka_err, *dropped, *blocked_s;
    vx_counter_t *acked_events, *resent_events;
    vx_gauge_t *g_queued, *g_blocked, *g_capacity;
};

struct rt_outputs {
    struct rt_out out[RT_MAX_OUTPUTS];
    size_t n;
    bool load_balance;
    char sender[300];
    size_t sender_len;
    uint32_t batch_max;
    uint64_t delay_ns;
    vx_kafka_t *kafka;
    atomic_bool kafka_fatal;
    uint8_t *kbuf; /* one Kafka value: event bytes and appended fields */
    size_t kcap;
    rt_outputs_wait_fn *wait;
    void *wait_arg;
    vx_counter_t *drop_shutdown, *drop_kafka, *drop_full, *drop_send;
    struct vx_drops lost; /* vexfs_events_lost_total{hop="routing_to_boundary"} */
    zsock_t *tap;            /* PUB for observers, or NULL */
    char tap_endpoint[RT_ENDPOINT_MAX];
    vx_counter_t *tap_batches;
    vx_gauge_t *kafka_inflight;
    int ack_window, ack_timeout_ms;
    struct rt_out_slot *gating[RT_MAX_OUTPUTS * RT_MAX_ENDPOINTS];
    size_t n_gating;
    struct rt_out_cp cps[RT_OUT_CP_MAX]; /* ring */
    size_t cp_head, cp_n;
    uint64_t cp_next, cp_reached;
    bool cp_used; /* an acknowledgement was queued for checkpoint cp_next */
};

/* Queue sizes have one writer, the loop thread (Kafka's delivery reports are served there
 * too): a relaxed load and store, not a locked add on every event. REST threads read whole
 * values. */
static inline void
rt_out_queued_add(_Atomic uint64_t *q, int64_t n)
{
    atomic_store_explicit(q, atomic_load_explicit(q, memory_order_relaxed) + (uint64_t)n,
                          memory_order_relaxed);
}

static inline void
rt_out_queued_sub(_Atomic uint64_t *q, uint64_t n)
{
    rt_out_queued_add(q, -(int64_t)n);
}

/* Appends b to the slot's queue of sealed batches (rt_output.c). */
void rt_out_pend_push(struct rt_out_slot *sl, struct rt_out_batch b);

/* rt_output_link.c: an acknowledged consumer. */
/* Takes the finished (answered) batches out of the slot's queue; updates the counters. */
void rt_out_link_sync(struct rt_out *out, struct rt_out_slot *sl);
/* Puts the slot's batch under construction into its link (kept while the link is full). */
void rt_out_link_seal(rt_outputs_t *o, struct rt_out *out, struct rt_out_slot *sl);
/* The link can take one more batch (true for a slot without a link or no slot). */
bool rt_out_link_room(const struct rt_out_slot *sl);
/* Opens slot sl (endpoint k of out) as an acknowledged consumer. Returns 0 or -EADDRINUSE
 * with a message in err. */
int rt_out_link_open(rt_outputs_t *o, struct rt_out *out, struct rt_out_slot *sl, size_t k,
                     const char *endpoint, const vx_socks_t *socks, vx_metrics_t *m, char *err,
                     size_t errlen);

#endif
