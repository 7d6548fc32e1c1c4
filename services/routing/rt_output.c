/* SPDX-License-Identifier: Apache-2.0 */
/* Output streams per boundary: batched ZeroMQ PUSH sockets (sharded by path or fanned out),
 * acknowledged links (rt_output_link.c) and Kafka topics, each consumer with its own bounded
 * queue. */
#include "rt_output.h"

#include <czmq.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "rt_output_priv.h"
#include "vx_clock.h"
#include "vx_event.h"
#include "vx_log.h"
#include "vx_mem.h"
#include "vx_wire.h"

#define S_TOPIC "events"
#define S_WAIT_MS 100           /* a waiting put returns to the wait hook this often */
#define S_TRAILER_MAX 320       /* sender (field 2, up to 300 bytes) + batch_sequence */
#define S_HASH_SEED 0x76657866u /* fixed: the path → consumer mapping is part of the contract */
#define S_MAX_BATCH 10000

static uint64_t
s_queued(const struct rt_out *out)
{
    if (out->kafka) {
        return atomic_load(&out->kqueued);
    }
    uint64_t q = 0;
    for (size_t k = 0; k < out->n_slots; k++) {
        q += atomic_load(&out->slots[k].queued);
    }
    return q;
}


/* Counts n events routed to a boundary and never delivered: under the daemon's dropped family
 * and the suite's lost view of this hop. */
static void
s_lost(rt_outputs_t *o, enum vx_drop_reason reason, uint64_t n)
{
    vx_counter_t *c = reason == VX_DROP_SEND_FAILED     ? o->drop_send
                      : reason == VX_DROP_BOUNDARY_FULL ? o->drop_full
                      : reason == VX_DROP_KAFKA_FAILED  ? o->drop_kafka
                                                        : o->drop_shutdown;
    vx_counter_add(c, n);
    vx_drops_add(&o->lost, reason, n);
}

/* ---- ZeroMQ --------------------------------------------------------------------------- */


/* Tries to hand one sealed batch to the consumer without waiting. Returns 0, -EAGAIN (full
 * or absent: try later) or another negative errno (the batch is lost: counted). */
static int
s_try_send(rt_outputs_t *o, struct rt_out *out, struct rt_out_slot *sl, const uint8_t *buf,
           size_t len, uint32_t n)
{
    if (!sl->sock) { /* a tap-only boundary: the tap had it when it was sealed */
        vx_counter_add(out->batches, 1);
        rt_out_queued_sub(&sl->queued, n);
        return 0;
    }
    int rc = vx_wire_send_packed(sl->sock, S_TOPIC, buf, len, ZMQ_DONTWAIT);
    if (rc == 0) {
        vx_counter_add(out->batches, 1);
        rt_out_queued_sub(&sl->queued, n);
        return 0;
    }
    if (rc == -EAGAIN || rc == -EINTR) {
        return -EAGAIN;
    }
    vx_error("RT-OUT-SEND", "boundary %s, %s: %s; %u events dropped", out->name, sl->endpoint,
             zmq_strerror(-rc), n);
    s_lost(o, VX_DROP_SEND_FAILED, n);
    rt_out_queued_sub(&sl->queued, n);
    return rc;
}

/* Sends the slot's waiting batches, oldest first, as long as its consumer takes them. */
static void
s_pump(rt_outputs_t *o, struct rt_out *out, struct rt_out_slot *sl)
{
    if (sl->link) {
        vx_link_pump(sl->link, vx_mono_ns());
        rt_out_link_sync(out, sl);
        return;
    }
    while (sl->pend_n > 0) {
        struct rt_out_batch *b = &sl->pend[sl->pend_head];
        if (s_try_send(o, out, sl, b->buf, b->len, b->n) == -EAGAIN) {
            sl->stalled = true;
            return;
        }
        free(b->buf);
        sl->pend_head = (sl->pend_head + 1) % sl->pend_cap;
        sl->pend_n--;
    }
    sl->stalled = false;
}

void
rt_out_pend_push(struct rt_out_slot *sl, struct rt_out_batch b)
{
    if (sl->pend_n == sl->pend_cap) {
        uint32_t cap = sl->pend_cap ? sl->pend_cap * 2 : 8;
        struct rt_out_batch *p = vx_calloc(cap, sizeof *p);
        for (uint32_t i = 0; i < sl->pend_n; i++) {
            p[i] = sl->pend[(sl->pend_head + i) % sl->pend_cap];
        }
        free(sl->pend);
        sl->pend = p;
        sl->pend_cap = cap;
        sl->pend_head = 0;
    }
    sl->pend[(sl->pend_head + sl->pend_n) % sl->pend_cap] = b;
    sl->pend_n++;
}




/* Closes the slot's batch (trailer with the next sequence number) and sends it, or queues it
 * behind the batches already waiting, in order. */
static void
s_seal(rt_outputs_t *o, struct rt_out *out, struct rt_out_slot *sl)
{
    if (sl->n == 0) {
        return;
    }
    if (sl->link) {
        rt_out_link_seal(o, out, sl);
        return;
    }
    size_t len = sl->len;
    sl->buf[len++] = 0x12; /* EventBatch.sender */
    len += vx_pb_varint(sl->buf + len, o->sender_len);
    memcpy(sl->buf + len, o->sender, o->sender_len);
    len += o->sender_len;
    len += vx_pb_uint(sl->buf + len, 3, ++sl->batch_seq); /* EventBatch.batch_sequence */
    uint32_t n = (uint32_t)sl->n;
    sl->len = 0;
    sl->n = 0;
    sl->oldest_ns = 0;
    /* Observers see the batch as routed; PUB never waits (a slow subscriber loses it). */
    if (o->tap && vx_wire_send_packed(o->tap, out->tap_topic, sl->buf, len, ZMQ_DONTWAIT) == 0) {
        vx_counter_add(o->tap_batches, 1);
    }
    if (sl->pend_n == 0) {
        if (s_try_send(o, out, sl, sl->buf, len, n) != -EAGAIN) {
            sl->stalled = false;
            return; /* sent (or lost and counted): the buffer is reused */
        }
        sl->stalled = true;
    }
    rt_out_pend_push(sl, (struct rt_out_batch){sl->buf, len, n});
    sl->buf = NULL;
    sl->cap = 0;
    s_pump(o, out, sl);
}

static void
s_slot_put(rt_outputs_t *o, struct rt_out *out, struct rt_out_slot *sl, const uint8_t *ev,
           size_t len, const uint8_t *extra, size_t xlen)
{
    size_t rec = len + xlen;
    size_t need = sl->len + 1 + 10 + rec + S_TRAILER_MAX;
    if (need > sl->cap) {
        sl->cap = need * 2;
        sl->buf = vx_realloc(sl->buf, sl->cap);
    }
    if (sl->n == 0) {
        sl->oldest_ns = vx_mono_ns();
    }
    sl->buf[sl->len++] = 0x0a; /* EventBatch.events */
    sl->len += vx_pb_varint(sl->buf + sl->len, rec);
    memcpy(sl->buf + sl->len, ev, len);
    if (xlen) {
        memcpy(sl->buf + sl->len + len, extra, xlen);
    }
    sl->len += rec;
    sl->n++;
    rt_out_queued_add(&sl->queued, 1);
    if (sl->n >= o->batch_max || sl->len >= VX_WIRE_MAX_BATCH_BYTES / 2) {
        s_seal(o, out, sl);
    }
}

/* ---- state ---------------------------------------------------------------------------- */

/* Follows the boundary's stalls: when one begins and ends, the blocked-time counter (whole
 * seconds), the blocked and queued gauges. */
static void
s_state(struct rt_out *out, uint64_t now)
{
    if (out->kafka && out->kfull && s_queued(out) < out->cap) {
        out->kfull = false; /* acknowledgements made room since a put found it full */
    }
    bool stalled = out->kfull;
    for (size_t k = 0; k < out->n_slots && !stalled; k++) {
        stalled = out->slots[k].stalled;
    }
    uint64_t since = atomic_load(&out->stall_since);
    if (stalled && since == 0) {
        since = now ? now : 1;
        atomic_store(&out->stall_since, since);
    } else if (!stalled && since != 0) {
        atomic_fetch_add(&out->stall_ns, now - since);
        atomic_store(&out->stall_since, 0);
        since = 0;
    }
    uint64_t total = atomic_load(&out->stall_ns) + (since ? now - since : 0);
    uint64_t whole = total / VX_NS_PER_S;
    if (whole > out->stall_counted_s) {
        vx_counter_add(out->blocked_s, whole - out->stall_counted_s);
        out->stall_counted_s = whole;
    }
    vx_gauge_set(out->g_queued, (double)s_queued(out));
    vx_gauge_set(out->g_blocked,
                 since && now - since >= (uint64_t)RT_BLOCKED_AFTER_MS * VX_NS_PER_MS ? 1 : 0);
}

/* Sends what waits wherever consumers take it, and updates every boundary's state. */
static void
s_pump_all(rt_outputs_t *o)
{
    uint64_t now = vx_mono_ns();
    for (size_t i = 0; i < o->n; i++) {
        struct rt_out *out = &o->out[i];
        for (size_t k = 0; k < out->n_slots; k++) {
            if (out->slots[k].pend_n > 0 || out->slots[k].link) {
                s_pump(o, out, &out->slots[k]);
            }
        }
        s_state(out, now);
    }
}

/* ---- full queues ---------------------------------------------------------------------- */

/* Waits, up to S_WAIT_MS, for the consumer of sl to become writable (or, for Kafka, for
 * acknowledgements), sending everything else that can go meanwhile. */
static void
s_wait_once(rt_outputs_t *o, struct rt_out *out, struct rt_out_slot *sl)
{
    if (sl != NULL) {
        s_seal(o, out, sl); /* a partial batch counts in the queue: let it go too */
        if (sl->link) {
            zmq_pollitem_t it;
            uint64_t now = vx_mono_ns(), wake = vx_link_wake_ns(sl->link);
            long ms = wake <= now ? 0 : (long)((wake - now) / VX_NS_PER_MS);
            if (vx_link_pollitems(sl->link, &it) == 1) {
                zmq_poll(&it, 1, ms < S_WAIT_MS ? ms : S_WAIT_MS);
            }
        } else if (sl->pend_n > 0) {
            zmq_pollitem_t it = {zsock_resolve(sl->sock), 0, ZMQ_POLLOUT, 0};
            zmq_poll(&it, 1, S_WAIT_MS);
        }
    } else if (o->kafka) {
        vx_kafka_poll(o->kafka, S_WAIT_MS);
    }
    rt_outputs_flush(o, false);
}


/* Room for one more event in a queue (sl's, or the Kafka boundary's when sl is NULL): true
 * when there is room, or was made by waiting (block policy); false when the event is dropped
 * (drop policy, or given up at the shutdown deadline), counted. */
static bool
s_room(rt_outputs_t *o, struct rt_out *out, struct rt_out_slot *sl)
{
    _Atomic uint64_t *q = sl ? &sl->queued : &out->kqueued;
    if (atomic_load(q) < out->cap && rt_out_link_room(sl)) {
        return true;
    }
    if (out->kafka) {
        out->kfull = true;
    }
    if (out->policy == RT_POLICY_DROP) {
        s_lost(o, VX_DROP_BOUNDARY_FULL, 1);
        vx_counter_add(out->dropped, 1);
        return false;
    }
    for (;;) {
        /* The hook first: past the shutdown deadline a put gives up at once, not after a wait
         * per event. */
        if (o->wait && o->wait(o->wait_arg)) {
            s_lost(o, VX_DROP_SHUTDOWN, 1);
            return false;
        }
        if (atomic_load(q) < out->cap && rt_out_link_room(sl)) {
            return true;
        }
        s_wait_once(o, out, sl);
        if (atomic_load(q) < out->cap && rt_out_link_room(sl)) {
            return true;
        }
    }
}

/* ---- Kafka ---------------------------------------------------------------------------- */

static void
cb_kafka_delivery(void *opaque, int err, const char *errstr, void *arg)
{
    rt_outputs_t *o = arg;
    struct rt_out *out = opaque;
    rt_out_queued_sub(&out->kqueued, 1);
    if (err) {
        vx_counter_add(out->kafka_err, 1);
        s_lost(o, VX_DROP_KAFKA_FAILED, 1);
        vx_warn("RT-KAFKA-DELIVERY", "boundary %s: event not written to %s: %s", out->name,
                out->topic, errstr);
    } else {
        vx_counter_add(out->kafka_ok, 1);
    }
}

/* Returns true when the event was handed to the producer. */
static bool
s_kafka_put(rt_outputs_t *o, struct rt_out *out, const uint8_t *ev, size_t len,
            const uint8_t *extra, size_t xlen, const char *path, size_t path_len)
{
    const uint8_t *value = ev;
    size_t vlen = len;
    if (xlen) {
        if (len + xlen > o->kcap) {
            o->kcap = (len + xlen) * 2;
            o->kbuf = vx_realloc(o->kbuf, o->kcap);
        }
        memcpy(o->kbuf, ev, len);
        memcpy(o->kbuf + len, extra, xlen);
        value = o->kbuf;
        vlen = len + xlen;
    }
    for (;;) {
        if (!s_room(o, out, NULL)) {
            return false;
        }
        int rc = vx_kafka_produce(o->kafka, out->topic, path, path_len, value, vlen, out, 0);
        if (rc == 0) {
            rt_out_queued_add(&out->kqueued, 1);
            out->kfull = false;
            return true;
        }
        if (rc != -ENOBUFS) {
            /* A fatal producer: the event cannot be written; counted, never silent. */
            vx_counter_add(out->kafka_err, 1);
            s_lost(o, VX_DROP_KAFKA_FAILED, 1);
            atomic_store(&o->kafka_fatal, !vx_kafka_healthy(o->kafka));
            return false;
        }
        /* The producer's own queue filled before ours: the same as ours being full. */
        out->kfull = true;
        if (out->policy == RT_POLICY_DROP) {
            s_lost(o, VX_DROP_BOUNDARY_FULL, 1);
            vx_counter_add(out->dropped, 1);
            return false;
        }
        if (o->wait && o->wait(o->wait_arg)) {
            s_lost(o, VX_DROP_SHUTDOWN, 1);
            return false;
        }
        s_wait_once(o, out, NULL);
    }
}

/* ---- the outputs ---------------------------------------------------------------------- */

void
rt_outputs_put(rt_outputs_t *o, size_t i, const uint8_t *ev, size_t len, const uint8_t *extra,
               size_t xlen, const char *path, size_t path_len)
{
    struct rt_out *out = &o->out[i];
    bool taken = false;
    if (out->kafka) {
        taken = s_kafka_put(o, out, ev, len, extra, xlen, path, path_len);
    } else if (out->n_slots == 1 || o->load_balance) {
        size_t k = out->n_slots == 1
                       ? 0
                       : (size_t)(vx_hash64(path, path_len, S_HASH_SEED) % out->n_slots);
        if (s_room(o, out, &out->slots[k])) {
            s_slot_put(o, out, &out->slots[k], ev, len, extra, xlen);
            taken = true;
        }
    } else {
        for (size_t k = 0; k < out->n_slots; k++) {
            if (s_room(o, out, &out->slots[k])) {
                s_slot_put(o, out, &out->slots[k], ev, len, extra, xlen);
                taken = true;
            }
        }
    }
    if (taken) {
        vx_counter_add(out->routed, 1);
    }
}

void
rt_outputs_flush(rt_outputs_t *o, bool force)
{
    uint64_t now = force ? 0 : vx_mono_ns();
    for (size_t i = 0; i < o->n; i++) {
        struct rt_out *out = &o->out[i];
        for (size_t k = 0; k < out->n_slots; k++) {
            struct rt_out_slot *sl = &out->slots[k];
            if (sl->n > 0 && (force || now - sl->oldest_ns >= o->delay_ns)) {
                s_seal(o, out, sl);
            }
        }
    }
    s_pump_all(o);
}

size_t
rt_outputs_pollitems(const rt_outputs_t *o, zmq_pollitem_t *items, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < o->n; i++) {
        for (size_t k = 0; k < o->out[i].n_slots && n < max; k++) {
            const struct rt_out_slot *sl = &o->out[i].slots[k];
            if (sl->link) {
                n += vx_link_pollitems(sl->link, &items[n]); /* acknowledgements */
            } else if (sl->pend_n > 0) {
                items[n++] = (zmq_pollitem_t){zsock_resolve(sl->sock), 0, ZMQ_POLLOUT, 0};
            }
        }
    }
    return n;
}

uint64_t
rt_outputs_oldest(const rt_outputs_t *o)
{
    uint64_t oldest = 0;
    for (size_t i = 0; i < o->n; i++) {
        for (size_t k = 0; k < o->out[i].n_slots; k++) {
            const struct rt_out_slot *sl = &o->out[i].slots[k];
            if (sl->n > 0 && (oldest == 0 || sl->oldest_ns < oldest)) {
                oldest = sl->oldest_ns;
            }
        }
    }
    return oldest;
}


/* Batches in routing for consumers: waiting to be sent, or (acknowledged) not yet
 * acknowledged. */
static bool
s_waiting(const rt_outputs_t *o)
{
    for (size_t i = 0; i < o->n; i++) {
        for (size_t k = 0; k < o->out[i].n_slots; k++) {
            const struct rt_out_slot *sl = &o->out[i].slots[k];
            if (sl->pend_n > 0 || (sl->link && vx_link_held(sl->link) > 0)) {
                return true;
            }
        }
    }
    return false;
}


void
rt_outputs_set_batching(rt_outputs_t *o, uint32_t max_events, uint64_t max_delay_ns)
{
    o->batch_max = max_events == 0 ? 1 : max_events > S_MAX_BATCH ? S_MAX_BATCH : max_events;
    o->delay_ns = max_delay_ns;
}

void
rt_outputs_poll(rt_outputs_t *o)
{
    if (o->kafka) {
        vx_kafka_poll(o->kafka, 0);
        vx_gauge_set(o->kafka_inflight, (double)vx_kafka_inflight(o->kafka));
        atomic_store(&o->kafka_fatal, !vx_kafka_healthy(o->kafka));
    }
    s_pump_all(o);
}

static void
s_output_metrics(struct rt_out *out, vx_metrics_t *m)
{
    out->routed = vx_metrics_counter(m, "vexfs_events_routed_total",
                                     "Events given to a boundary's queue, by boundary.",
                                     "boundary", out->name, NULL);
    out->batches = vx_metrics_counter(m, "vexfs_routing_batches_sent_total",
                                      "ZeroMQ batches sent, by boundary.", "boundary", out->name,
                                      NULL);
    out->kafka_ok = vx_metrics_counter(m, "vexfs_kafka_delivered_total",
                                       "Events Kafka acknowledged, by boundary.", "boundary",
                                       out->name, NULL);
    out->kafka_err = vx_metrics_counter(m, "vexfs_kafka_failed_total",
                                        "Events Kafka did not take (after retries), by "
                                        "boundary.",
                                        "boundary", out->name, NULL);
    out->dropped = vx_metrics_counter(m, "vexfs_routing_boundary_dropped_total",
                                      "Events a drop-policy boundary did not take because its "
                                      "queue was full, by boundary.",
                                      "boundary", out->name, NULL);
    out->blocked_s = vx_metrics_counter(m, "vexfs_routing_boundary_blocked_seconds_total",
                                        "Time a boundary's consumer did not take the events "
                                        "waiting for it, whole seconds, by boundary.",
                                        "boundary", out->name, NULL);
    out->g_queued = vx_metrics_gauge(m, "vexfs_routing_boundary_queued_events",
                                     "Events waiting in routing for a boundary's consumers or "
                                     "Kafka, by boundary.",
                                     "boundary", out->name, NULL);
    out->g_blocked = vx_metrics_gauge(m, "vexfs_routing_boundary_blocked",
                                      "1 while a consumer of the boundary has taken nothing for "
                                      "a second with events waiting, by boundary.",
                                      "boundary", out->name, NULL);
    out->g_capacity = vx_metrics_gauge(m, "vexfs_routing_boundary_queue_capacity",
                                       "Events one queue of the boundary may hold, by "
                                       "boundary.",
                                       "boundary", out->name, NULL);
    vx_gauge_set(out->g_capacity, (double)out->cap);
    if (out->acked) {
        out->acked_events = vx_metrics_counter(m, "vexfs_routing_boundary_acked_events_total",
                                               "Events an acknowledged boundary's consumers "
                                               "acknowledged, by boundary.",
                                               "boundary", out->name, NULL);
        out->resent_events = vx_metrics_counter(m, "vexfs_routing_boundary_resent_events_total",
                                                "Events sent again to an acknowledged "
                                                "boundary's consumers after an acknowledgement "
                                                "timeout or a lost connection, by boundary.",
                                                "boundary", out->name, NULL);
    }
}


static int
s_bind_slots(rt_outputs_t *o, struct rt_out *out, const struct rt_output_spec *spec,
             const vx_socks_t *socks, vx_metrics_t *m, int hwm, char *err, size_t errlen)
{
    if (spec->tap_only) { /* one slot without a socket: batches are built for the tap */
        struct rt_out_slot *sl = &out->slots[out->n_slots++];
        atomic_init(&sl->queued, 0);
        snprintf(sl->endpoint, sizeof sl->endpoint, "tap");
        return 0;
    }
    for (size_t k = 0; k < spec->n_endpoints; k++) {
        struct rt_out_slot *sl = &out->slots[out->n_slots++];
        atomic_init(&sl->queued, 0);
        if (spec->acked) {
            if (rt_out_link_open(o, out, sl, k, spec->endpoints[k], socks, m, err, errlen) < 0) {
                return -EADDRINUSE;
            }
            continue;
        }
        struct vx_sock_spec ss = {.type = ZMQ_PUSH, .endpoint = spec->endpoints[k], .bind = true,
                                  .sndhwm = hwm};
        char serr[512];
        sl->sock = vx_sock_open(socks, &ss, sl->endpoint, sizeof sl->endpoint, serr, sizeof serr);
        if (!sl->sock) {
            snprintf(err, errlen, "boundary %s: %s", out->name, serr);
            return -EADDRINUSE;
        }
    }
    return 0;
}

rt_outputs_t *
rt_outputs_new(const struct rt_outputs_opts *opts, vx_metrics_t *m, char *err, size_t errlen)
{
    rt_outputs_t *o = vx_calloc(1, sizeof *o);
    const struct rt_output_plan *plan = opts->plan;
    o->load_balance = opts->load_balance;
    snprintf(o->sender, sizeof o->sender, "%s", opts->sender);
    o->sender_len = strlen(o->sender);
    o->wait = opts->wait;
    o->wait_arg = opts->wait_arg;
    rt_outputs_set_batching(o, 100, 1000 * VX_NS_PER_US);
    o->ack_window = opts->ack_window_batches > 0 ? opts->ack_window_batches : 64;
    o->ack_timeout_ms = opts->ack_timeout_ms > 0 ? opts->ack_timeout_ms : 2000;
    o->cp_next = 1;
    const char *help = "Events not forwarded, by reason.";
    o->drop_shutdown = vx_metrics_counter(m, "vexfs_events_dropped_total", help, "reason",
                                          vx_drop_names[VX_DROP_SHUTDOWN], NULL);
    o->drop_kafka = vx_metrics_counter(m, "vexfs_events_dropped_total", help, "reason",
                                       vx_drop_names[VX_DROP_KAFKA_FAILED], NULL);
    o->drop_full = vx_metrics_counter(m, "vexfs_events_dropped_total", help, "reason",
                                      vx_drop_names[VX_DROP_BOUNDARY_FULL], NULL);
    o->drop_send = vx_metrics_counter(m, "vexfs_events_dropped_total", help, "reason",
                                      vx_drop_names[VX_DROP_SEND_FAILED], NULL);
    vx_lost_init(&o->lost, m, "routing_to_boundary",
                 VX_LOST_MASK | VX_DROP_BIT(VX_DROP_BOUNDARY_FULL) |
                     VX_DROP_BIT(VX_DROP_KAFKA_FAILED));
    o->kafka_inflight = vx_metrics_gauge(m, "vexfs_kafka_inflight_messages",
                                         "Events queued for Kafka, not yet acknowledged.", NULL);
    o->tap_batches = vx_metrics_counter(m, "vexfs_routing_tap_batches_total",
                                        "Batches published on the routing tap for observers.",
                                        NULL);
    if (opts->tap_endpoint && opts->tap_endpoint[0]) {
        struct vx_sock_spec ts = {.type = ZMQ_PUB, .endpoint = opts->tap_endpoint, .bind = true,
                                  .sndhwm = opts->hwm};
        char terr[512];
        o->tap = vx_sock_open(opts->socks, &ts, o->tap_endpoint, sizeof o->tap_endpoint, terr,
                              sizeof terr);
        if (!o->tap) {
            snprintf(err, errlen, "tap_endpoint: %s", terr);
            goto fail;
        }
    }
    bool need_kafka = false;
    for (size_t i = 0; i < plan->n; i++) {
        const struct rt_output_spec *spec = &plan->outputs[i];
        struct rt_out *out = &o->out[o->n++];
        snprintf(out->name, sizeof out->name, "%s", spec->name);
        snprintf(out->tap_topic, sizeof out->tap_topic, "events.%s", spec->name);
        out->kafka = spec->kafka;
        out->policy = spec->policy;
        out->cap = spec->queue_events ? spec->queue_events : 1;
        out->acked = spec->acked;
        atomic_init(&out->kqueued, 0);
        atomic_init(&out->stall_since, 0);
        atomic_init(&out->stall_ns, 0);
        s_output_metrics(out, m);
        if (spec->kafka) {
            need_kafka = true;
            snprintf(out->topic, sizeof out->topic, "%s%s", opts->kafka_topic_prefix, spec->name);
        } else if (s_bind_slots(o, out, spec, opts->socks, m, opts->hwm, err, errlen) < 0) {
            goto fail;
        }
    }
    for (size_t c = 0; c < RT_OUT_CP_MAX && o->n_gating > 0; c++) {
        o->cps[c].marks = vx_calloc(o->n_gating, sizeof *o->cps[c].marks);
    }
    if (need_kafka) {
        char kerr[512];
        o->kafka = vx_kafka_new(opts->kafka_brokers, opts->kafka_security,
                                opts->kafka_message_timeout_ms, NULL, cb_kafka_delivery, o, kerr,
                                sizeof kerr);
        if (!o->kafka) {
            snprintf(err, errlen, "kafka: %s", kerr);
            goto fail;
        }
    }
    return o;
fail:
    rt_outputs_destroy(&o);
    return NULL;
}

/* Why shutdown is built this way: batches may wait for consumers that never come, and the
 * daemon must still end within its timeout and say what it could not deliver. So it seals
 * every batch, sends whatever consumers take until nothing waits or the deadline passes
 * (waking on writability, never sleeping blind), lets Kafka acknowledge within what is left,
 * then counts and logs, per boundary, the events still waiting in routing before closing the
 * sockets with the remaining time as linger. */
int
rt_outputs_shutdown(rt_outputs_t *o, int timeout_ms)
{
    uint64_t deadline = vx_mono_ns() + (uint64_t)timeout_ms * VX_NS_PER_MS;
    rt_outputs_flush(o, true);
    zmq_pollitem_t *items = vx_calloc(RT_MAX_OUTPUTS * RT_MAX_ENDPOINTS, sizeof *items);
    for (;;) {
        size_t n = rt_outputs_pollitems(o, items, RT_MAX_OUTPUTS * RT_MAX_ENDPOINTS);
        uint64_t now = vx_mono_ns();
        bool kafka_waits = o->kafka && vx_kafka_inflight(o->kafka) > 0;
        if ((!s_waiting(o) && !kafka_waits) || now >= deadline) {
            break;
        }
        long left = (long)((deadline - now) / VX_NS_PER_MS);
        long step = left < S_WAIT_MS ? left : S_WAIT_MS;
        uint64_t wake = rt_outputs_wake_ns(o);
        if (wake != UINT64_MAX) {
            long w = wake <= now ? 0 : (long)((wake - now) / VX_NS_PER_MS);
            step = w < step ? w : step;
        }
        if (n > 0) {
            zmq_poll(items, (int)n, step);
        } else {
            vx_kafka_poll(o->kafka, (int)step);
        }
        rt_outputs_poll(o);
    }
    free(items);
    int rc = 0;
    if (o->kafka) {
        uint64_t now = vx_mono_ns();
        int left_ms = now < deadline ? (int)((deadline - now) / VX_NS_PER_MS) : 0;
        int left = vx_kafka_flush(o->kafka, left_ms);
        if (left > 0) {
            vx_error("RT-STOP-KAFKA", "%d events not acknowledged by Kafka at shutdown", left);
            rc = -ETIMEDOUT;
        }
        /* Whatever is still unacknowledged fails through the delivery callback and is
         * counted there. */
        vx_kafka_destroy(&o->kafka, 0);
        vx_gauge_set(o->kafka_inflight, 0);
    }
    for (size_t i = 0; i < o->n; i++) {
        struct rt_out *out = &o->out[i];
        uint64_t lost = 0;
        for (size_t k = 0; k < out->n_slots; k++) {
            struct rt_out_slot *sl = &out->slots[k];
            if (sl->link) {
                /* Given up on: the link counts them in the lost view of this hop. */
                size_t gone = vx_link_abandon(sl->link);
                rt_out_link_sync(out, sl);
                if (gone > 0) {
                    vx_error("RT-STOP-UNACKED",
                             "boundary %s, %s: %zu events not acknowledged by its consumer by "
                             "the shutdown deadline; counted as dropped (reason shutdown)",
                             out->name, sl->endpoint, gone);
                    vx_counter_add(o->drop_shutdown, gone);
                    rc = -ETIMEDOUT;
                }
                vx_link_destroy(&sl->link);
                continue;
            }
            for (; sl->pend_n > 0; sl->pend_n--) {
                struct rt_out_batch *b = &sl->pend[sl->pend_head];
                lost += b->n;
                rt_out_queued_sub(&sl->queued, b->n);
                free(b->buf);
                sl->pend_head = (sl->pend_head + 1) % sl->pend_cap;
            }
            uint64_t now = vx_mono_ns();
            int linger = now < deadline ? (int)((deadline - now) / VX_NS_PER_MS) : 0;
            if (sl->sock) {
                zsock_set_linger(sl->sock, linger);
                zsock_destroy(&sl->sock);
            }
        }
        if (lost > 0) {
            vx_error("RT-STOP-UNDELIVERED",
                     "boundary %s: %llu events not taken by its consumers by the shutdown "
                     "deadline; counted as dropped (reason shutdown)",
                     out->name, (unsigned long long)lost);
            s_lost(o, VX_DROP_SHUTDOWN, lost);
            rc = -ETIMEDOUT;
        }
        s_state(out, vx_mono_ns());
    }
    return rc;
}

void
rt_outputs_destroy(rt_outputs_t **op)
{
    if (!op || !*op) {
        return;
    }
    rt_outputs_t *o = *op;
    if (o->kafka) {
        vx_kafka_destroy(&o->kafka, 0);
    }
    for (size_t i = 0; i < o->n; i++) {
        for (size_t k = 0; k < o->out[i].n_slots; k++) {
            struct rt_out_slot *sl = &o->out[i].slots[k];
            zsock_destroy(&sl->sock);
            vx_link_destroy(&sl->link);
            free(sl->buf);
            for (uint32_t j = 0; j < sl->pend_n; j++) {
                free(sl->pend[(sl->pend_head + j) % sl->pend_cap].buf);
            }
            free(sl->pend);
        }
    }
    zsock_destroy(&o->tap);
    for (size_t c = 0; c < RT_OUT_CP_MAX; c++) {
        free(o->cps[c].marks);
    }
    free(o->kbuf);
    vx_free(op);
}

const char *
rt_outputs_endpoint(const rt_outputs_t *o, size_t i, size_t k)
{
    if (i >= o->n || k >= o->out[i].n_slots) {
        return "";
    }
    return o->out[i].slots[k].endpoint;
}

bool
rt_outputs_has_kafka(const rt_outputs_t *o)
{
    for (size_t i = 0; i < o->n; i++) {
        if (o->out[i].kafka) {
            return true;
        }
    }
    return false;
}

bool
rt_outputs_kafka_failed(const rt_outputs_t *o)
{
    return atomic_load(&o->kafka_fatal);
}

json_t *
rt_outputs_describe(const rt_outputs_t *o, size_t i, const char *path, size_t path_len)
{
    if (i >= o->n) {
        return json_null();
    }
    const struct rt_out *out = &o->out[i];
    json_t *d = json_pack("{s:s, s:s}", "boundary", out->name, "kind",
                          out->kafka ? "kafka" : "zmq");
    if (out->kafka) {
        json_object_set_new(d, "topic", json_string(out->topic));
        return d;
    }
    json_t *eps = json_array();
    if (out->n_slots > 1 && o->load_balance) {
        size_t k = (size_t)(vx_hash64(path, path_len, S_HASH_SEED) % out->n_slots);
        json_array_append_new(eps, json_string(out->slots[k].endpoint));
        json_object_set_new(d, "consumer", json_integer((json_int_t)k));
    } else {
        for (size_t k = 0; k < out->n_slots; k++) {
            json_array_append_new(eps, json_string(out->slots[k].endpoint));
        }
    }
    json_object_set_new(d, "endpoints", eps);
    return d;
}

/* Seconds the boundary's consumers spent stalled, the current stall included, and whether
 * the current one has lasted RT_BLOCKED_AFTER_MS. */
static double
s_blocked_s(const struct rt_out *out, bool *blocked)
{
    uint64_t now = vx_mono_ns();
    uint64_t since = atomic_load(&out->stall_since);
    uint64_t total = atomic_load(&out->stall_ns) + (since && now > since ? now - since : 0);
    *blocked = since && now - since >= (uint64_t)RT_BLOCKED_AFTER_MS * VX_NS_PER_MS;
    return (double)total / (double)VX_NS_PER_S;
}

json_t *
rt_outputs_stats(const rt_outputs_t *o)
{
    json_t *all = json_object();
    for (size_t i = 0; i < o->n; i++) {
        const struct rt_out *out = &o->out[i];
        bool blocked;
        double blocked_s = s_blocked_s(out, &blocked);
        json_t *b = json_pack("{s:s, s:I, s:s, s:I, s:I, s:b, s:f, s:I}", "kind",
                              out->kafka ? "kafka" : "zmq", "events",
                              (json_int_t)vx_counter_value(out->routed), "policy",
                              rt_policy_name(out->policy), "queue_capacity",
                              (json_int_t)out->cap, "queued", (json_int_t)s_queued(out),
                              "blocked", blocked, "blocked_s", blocked_s, "dropped",
                              (json_int_t)vx_counter_value(out->dropped));
        if (out->kafka) {
            json_object_set_new(b, "topic", json_string(out->topic));
            json_object_set_new(b, "delivered",
                                json_integer((json_int_t)vx_counter_value(out->kafka_ok)));
            json_object_set_new(b, "failed",
                                json_integer((json_int_t)vx_counter_value(out->kafka_err)));
        } else {
            json_t *eps = json_array();
            for (size_t k = 0; k < out->n_slots; k++) {
                json_array_append_new(eps, json_string(out->slots[k].endpoint));
            }
            json_object_set_new(b, "endpoints", eps);
            json_object_set_new(b, "batches",
                                json_integer((json_int_t)vx_counter_value(out->batches)));
            json_object_set_new(b, "acked", json_boolean(out->acked));
            if (out->acked) {
                json_object_set_new(
                    b, "acked_events",
                    json_integer((json_int_t)vx_counter_value(out->acked_events)));
                json_object_set_new(
                    b, "resent_events",
                    json_integer((json_int_t)vx_counter_value(out->resent_events)));
            }
        }
        json_object_set_new(all, out->name, b);
    }
    return all;
}

size_t
rt_outputs_blocked(const rt_outputs_t *o, json_t *names, json_t *detail)
{
    size_t n = 0;
    for (size_t i = 0; i < o->n; i++) {
        const struct rt_out *out = &o->out[i];
        bool blocked;
        double blocked_s = s_blocked_s(out, &blocked);
        if (!blocked) {
            continue;
        }
        n++;
        json_array_append_new(names, json_string(out->name));
        json_object_set_new(detail, out->name,
                            json_pack("{s:s, s:I, s:f, s:I}", "policy",
                                      rt_policy_name(out->policy), "queued",
                                      (json_int_t)s_queued(out), "blocked_s", blocked_s,
                                      "dropped", (json_int_t)vx_counter_value(out->dropped)));
    }
    return n;
}
