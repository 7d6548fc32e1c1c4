/* SPDX-License-Identifier: Apache-2.0 */
/* Output streams per boundary: batched ZeroMQ PUSH sockets (sharded by path or fanned out)
 * and Kafka topics. */
#include "rt_output.h"

#include <czmq.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "vx_clock.h"
#include "vx_event.h"
#include "vx_kafka.h"
#include "vx_log.h"
#include "vx_mem.h"
#include "vx_wire.h"

#define S_TOPIC "events"
#define S_SEND_TIMEOUT_MS 100   /* a blocked send returns to the wait hook this often */
#define S_KAFKA_BLOCK_MS 100
#define S_TRAILER_MAX 320       /* sender (field 2, up to 300 bytes) + batch_sequence */
#define S_HASH_SEED 0x76657866u /* fixed: the path → consumer mapping is part of the contract */
#define S_MAX_BATCH 10000

/* One ZeroMQ PUSH socket (one consumer) and the batch being built for it: `events` entries
 * (field 1) holding each event's bytes; the trailer is appended when sent. */
struct s_slot {
    zsock_t *sock;
    char endpoint[RT_ENDPOINT_MAX];
    uint8_t *buf;
    size_t len, cap;
    size_t n;
    uint64_t oldest_ns;
    uint64_t batch_seq;
};

struct s_output {
    char name[RT_BOUNDARY_MAX];
    bool kafka;
    char topic[RT_BOUNDARY_MAX + 256];
    struct s_slot slots[RT_MAX_ENDPOINTS];
    size_t n_slots;
    vx_counter_t *routed, *batches, *kafka_ok, *kafka_err;
};

struct rt_outputs {
    struct s_output out[RT_MAX_OUTPUTS];
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
    vx_counter_t *drop_shutdown, *drop_kafka;
    vx_gauge_t *kafka_inflight;
};

/* ---- ZeroMQ --------------------------------------------------------------------------- */

/* Sends slot's batch. Blocks while the consumer is full, asking the wait hook whether to give
 * up; a batch given up is counted as dropped. */
static void
s_send(rt_outputs_t *o, struct s_output *out, struct s_slot *sl)
{
    if (sl->n == 0) {
        return;
    }
    size_t len = sl->len;
    sl->buf[len++] = 0x12; /* EventBatch.sender */
    len += vx_pb_varint(sl->buf + len, o->sender_len);
    memcpy(sl->buf + len, o->sender, o->sender_len);
    len += o->sender_len;
    len += vx_pb_uint(sl->buf + len, 3, ++sl->batch_seq); /* EventBatch.batch_sequence */
    for (;;) {
        int rc = vx_wire_send_packed(sl->sock, S_TOPIC, sl->buf, len, 0);
        if (rc == 0) {
            vx_counter_add(out->batches, 1);
            break;
        }
        if (rc != -EAGAIN && rc != -EINTR) {
            vx_error("RT-OUT-SEND", "boundary %s, %s: %s; %zu events dropped", out->name,
                     sl->endpoint, zmq_strerror(-rc), sl->n);
            vx_counter_add(o->drop_shutdown, sl->n);
            break;
        }
        if (o->wait && o->wait(o->wait_arg)) {
            vx_warn("RT-OUT-GIVEUP", "boundary %s, %s: consumer not taking events; %zu dropped",
                    out->name, sl->endpoint, sl->n);
            vx_counter_add(o->drop_shutdown, sl->n);
            break;
        }
    }
    sl->len = 0;
    sl->n = 0;
    sl->oldest_ns = 0;
}

static void
s_slot_put(rt_outputs_t *o, struct s_output *out, struct s_slot *sl, const uint8_t *ev,
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
    if (sl->n >= o->batch_max || sl->len >= VX_WIRE_MAX_BATCH_BYTES / 2) {
        s_send(o, out, sl);
    }
}

/* ---- Kafka ---------------------------------------------------------------------------- */

static void
cb_kafka_delivery(void *opaque, int err, const char *errstr, void *arg)
{
    rt_outputs_t *o = arg;
    struct s_output *out = opaque;
    if (err) {
        vx_counter_add(out->kafka_err, 1);
        vx_counter_add(o->drop_kafka, 1);
        vx_warn("RT-KAFKA-DELIVERY", "boundary %s: event not written to %s: %s", out->name,
                out->topic, errstr);
    } else {
        vx_counter_add(out->kafka_ok, 1);
    }
}

static void
s_kafka_put(rt_outputs_t *o, struct s_output *out, const uint8_t *ev, size_t len,
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
        int rc = vx_kafka_produce(o->kafka, out->topic, path, path_len, value, vlen, out,
                                  S_KAFKA_BLOCK_MS);
        if (rc == 0) {
            return;
        }
        if (rc != -ENOBUFS) {
            /* A fatal producer: the event cannot be written; counted, never silent. */
            vx_counter_add(out->kafka_err, 1);
            vx_counter_add(o->drop_kafka, 1);
            atomic_store(&o->kafka_fatal, vx_kafka_fatal(o->kafka));
            return;
        }
        /* Kafka's local queue is full: wait for acknowledgements (backpressure). */
        if (o->wait && o->wait(o->wait_arg)) {
            vx_counter_add(o->drop_shutdown, 1);
            return;
        }
    }
}

/* ---- the outputs ---------------------------------------------------------------------- */

void
rt_outputs_put(rt_outputs_t *o, size_t i, const uint8_t *ev, size_t len, const uint8_t *extra,
               size_t xlen, const char *path, size_t path_len)
{
    struct s_output *out = &o->out[i];
    vx_counter_add(out->routed, 1);
    if (out->kafka) {
        s_kafka_put(o, out, ev, len, extra, xlen, path, path_len);
        return;
    }
    if (out->n_slots == 1) {
        s_slot_put(o, out, &out->slots[0], ev, len, extra, xlen);
    } else if (o->load_balance) {
        size_t k = (size_t)(vx_hash64(path, path_len, S_HASH_SEED) % out->n_slots);
        s_slot_put(o, out, &out->slots[k], ev, len, extra, xlen);
    } else {
        for (size_t k = 0; k < out->n_slots; k++) {
            s_slot_put(o, out, &out->slots[k], ev, len, extra, xlen);
        }
    }
}

void
rt_outputs_flush(rt_outputs_t *o, bool force)
{
    uint64_t now = force ? 0 : vx_mono_ns();
    for (size_t i = 0; i < o->n; i++) {
        struct s_output *out = &o->out[i];
        for (size_t k = 0; k < out->n_slots; k++) {
            struct s_slot *sl = &out->slots[k];
            if (sl->n > 0 && (force || now - sl->oldest_ns >= o->delay_ns)) {
                s_send(o, out, sl);
            }
        }
    }
}

uint64_t
rt_outputs_oldest(const rt_outputs_t *o)
{
    uint64_t oldest = 0;
    for (size_t i = 0; i < o->n; i++) {
        for (size_t k = 0; k < o->out[i].n_slots; k++) {
            const struct s_slot *sl = &o->out[i].slots[k];
            if (sl->n > 0 && (oldest == 0 || sl->oldest_ns < oldest)) {
                oldest = sl->oldest_ns;
            }
        }
    }
    return oldest;
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
        atomic_store(&o->kafka_fatal, vx_kafka_fatal(o->kafka));
    }
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
    o->drop_shutdown = vx_metrics_counter(m, "vexfs_events_dropped_total",
                                          "Events not forwarded, by reason.", "reason",
                                          "shutdown", NULL);
    o->drop_kafka = vx_metrics_counter(m, "vexfs_events_dropped_total",
                                       "Events not forwarded, by reason.", "reason",
                                       "kafka_failed", NULL);
    o->kafka_inflight = vx_metrics_gauge(m, "vexfs_kafka_inflight_messages",
                                         "Events queued for Kafka, not yet acknowledged.", NULL);
    bool need_kafka = false;
    for (size_t i = 0; i < plan->n; i++) {
        const struct rt_output_spec *spec = &plan->outputs[i];
        struct s_output *out = &o->out[o->n++];
        snprintf(out->name, sizeof out->name, "%s", spec->name);
        out->kafka = spec->kafka;
        out->routed = vx_metrics_counter(m, "vexfs_events_routed_total",
                                         "Events sent to a boundary, by boundary.", "boundary",
                                         out->name, NULL);
        out->batches = vx_metrics_counter(m, "vexfs_routing_batches_sent_total",
                                          "ZeroMQ batches sent, by boundary.", "boundary",
                                          out->name, NULL);
        out->kafka_ok = vx_metrics_counter(m, "vexfs_kafka_delivered_total",
                                           "Events Kafka acknowledged, by boundary.", "boundary",
                                           out->name, NULL);
        out->kafka_err = vx_metrics_counter(m, "vexfs_kafka_failed_total",
                                            "Events Kafka did not take (after retries), by "
                                            "boundary.",
                                            "boundary", out->name, NULL);
        if (spec->kafka) {
            need_kafka = true;
            snprintf(out->topic, sizeof out->topic, "%s%s", opts->kafka_topic_prefix, spec->name);
            continue;
        }
        for (size_t k = 0; k < spec->n_endpoints; k++) {
            struct s_slot *sl = &out->slots[out->n_slots++];
            sl->sock = zsock_new(ZMQ_PUSH);
            if (!sl->sock) {
                snprintf(err, errlen, "boundary %s: cannot create a ZeroMQ socket", out->name);
                goto fail;
            }
            zsock_set_sndhwm(sl->sock, opts->hwm);
            zsock_set_sndtimeo(sl->sock, S_SEND_TIMEOUT_MS);
            if (zsock_bind(sl->sock, "%s", spec->endpoints[k]) < 0) {
                snprintf(err, errlen, "boundary %s: cannot bind %s: %s", out->name,
                         spec->endpoints[k], zmq_strerror(zmq_errno()));
                goto fail;
            }
            char *last = zsock_last_endpoint(sl->sock); /* caller frees, in czmq 4.2 */
            snprintf(sl->endpoint, sizeof sl->endpoint, "%s", last ? last : spec->endpoints[k]);
            free(last);
        }
    }
    if (need_kafka) {
        char kerr[512];
        o->kafka = vx_kafka_new(opts->kafka_brokers, opts->kafka_message_timeout_ms, NULL,
                                cb_kafka_delivery, o, kerr, sizeof kerr);
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

int
rt_outputs_shutdown(rt_outputs_t *o, int timeout_ms)
{
    uint64_t deadline = vx_mono_ns() + (uint64_t)timeout_ms * VX_NS_PER_MS;
    rt_outputs_flush(o, true);
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
    /* Let ZeroMQ deliver what is queued before the sockets close. */
    for (size_t i = 0; i < o->n; i++) {
        for (size_t k = 0; k < o->out[i].n_slots; k++) {
            struct s_slot *sl = &o->out[i].slots[k];
            uint64_t now = vx_mono_ns();
            int linger = now < deadline ? (int)((deadline - now) / VX_NS_PER_MS) : 0;
            zsock_set_linger(sl->sock, linger);
            zsock_destroy(&sl->sock);
        }
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
            zsock_destroy(&o->out[i].slots[k].sock);
            free(o->out[i].slots[k].buf);
        }
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
    const struct s_output *out = &o->out[i];
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

json_t *
rt_outputs_stats(const rt_outputs_t *o)
{
    json_t *all = json_object();
    for (size_t i = 0; i < o->n; i++) {
        const struct s_output *out = &o->out[i];
        json_t *b = json_pack("{s:s, s:I}", "kind", out->kafka ? "kafka" : "zmq", "events",
                              (json_int_t)vx_counter_value(out->routed));
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
        }
        json_object_set_new(all, out->name, b);
    }
    return all;
}
