/* SPDX-License-Identifier: Apache-2.0 */
/* Propagation's output: the batch under construction (vx_batchbuf), its send to routing with
 * backpressure (PUSH, or the acknowledged link), the tap, and the Kafka journal of every
 * published event with its delivery reports. */
#include "prop_server_priv.h"

#include <errno.h>
#include <string.h>

#include "vx_clock.h"
#include "vx_log.h"
#include "vx_mem.h"

#define S_BLOCKED_WARN_NS (2 * VX_NS_PER_S) /* routing not taking batches: say so after this */

/* ---- Kafka -------------------------------------------------------------------------------- */

void
prop_output_cb_delivery(void *opaque, int err, const char *errstr, void *arg)
{
    prop_server_t *s = arg;
    struct vx_ack *ack = s->acks ? vx_acks_entry(s->acks, opaque) : NULL;
    struct prop_submit *r = ack ? NULL : opaque;
    if (ack) {
        ack->kafka_pending--; /* a failure is counted below; the batch was handed on */
    }
    if (err) {
        vx_counter_add(s->kafka_failed, 1);
        vx_drops_add(&s->drops, VX_DROP_KAFKA_FAILED, 1);
        vx_drops_add(&s->lost_kafka, VX_DROP_KAFKA_FAILED, 1);
        vx_warn("PROP-KAFKA-DELIVERY", "event not journaled: %s", errstr);
    } else {
        vx_counter_add(s->kafka_delivered, 1);
    }
    if (!r) {
        return;
    }
    if (err && r->status == 0) {
        r->status = -EIO;
        snprintf(r->message, sizeof r->message, "Kafka did not acknowledge: %s", errstr);
    }
    if (--r->pending == 0) {
        vx_call_done(&r->call);
    }
}

/* ---- output ------------------------------------------------------------------------------- */

/* Whether a stop was asked for (the signal handler's flag). */
bool
prop_server_stopping(const prop_server_t *s)
{
    return s->stop && *s->stop;
}

/* Sends one batch to routing, waiting while routing does not take it (backpressure), but not
 * past the shutdown deadline: a stop request seen here starts that deadline, so a daemon whose
 * routing is gone still stops within shutdown_timeout_ms. Past the deadline a send does not
 * wait at all (one try), so the batches still in hand cost nothing each: they are counted
 * lost at once. */
static int
s_send_reliable(prop_server_t *s, const void *data, size_t len)
{
    uint64_t blocked_since = 0;
    bool warned = false;
    for (;;) {
        uint64_t now = vx_mono_ns();
        if (prop_server_stopping(s) && s->shutdown_deadline == 0) {
            s->shutdown_deadline = now + (uint64_t)s->cfg.shutdown_timeout_ms * VX_NS_PER_MS;
        }
        bool late = s->shutdown_deadline && now >= s->shutdown_deadline;
        int rc = vx_wire_send_packed(s->output, VX_WIRE_TOPIC, data, len, late ? ZMQ_DONTWAIT : 0);
        if (rc != -EAGAIN && rc != -EINTR) {
            if (warned) {
                vx_info("PROP-OUTPUT-RESUMED", "routing takes batches again");
            }
            return rc;
        }
        if (late) {
            return -ETIMEDOUT;
        }
        now = vx_mono_ns();
        if (!blocked_since) {
            blocked_since = now;
        } else if (!warned && now - blocked_since > S_BLOCKED_WARN_NS) {
            vx_warn("PROP-OUTPUT-BLOCKED", "routing has not taken a batch for %llu ms (%s)",
                    (unsigned long long)((now - blocked_since) / VX_NS_PER_MS), s->output_ep);
            warned = true;
        }
    }
}

/* output_acked: waits, pumping the link, until it holds room for one more batch (routing
 * acknowledged enough), under the same stop rule as s_send_reliable. */
static int
s_link_room(prop_server_t *s)
{
    uint64_t blocked_since = 0;
    bool warned = false;
    for (;;) {
        uint64_t now = vx_mono_ns();
        vx_link_pump(s->link, now);
        if (vx_link_room(s->link) > 0) {
            if (warned) {
                vx_info("PROP-OUTPUT-RESUMED", "routing acknowledges batches again");
            }
            return 0;
        }
        if (s->stop && *s->stop && s->shutdown_deadline == 0) {
            s->shutdown_deadline = now + (uint64_t)s->cfg.shutdown_timeout_ms * VX_NS_PER_MS;
        }
        if (s->shutdown_deadline && now >= s->shutdown_deadline) {
            return -ETIMEDOUT;
        }
        if (!blocked_since) {
            blocked_since = now;
            vx_link_count_backpressure(s->link);
        } else if (!warned && now - blocked_since > S_BLOCKED_WARN_NS) {
            vx_warn("PROP-OUTPUT-BLOCKED", "routing has not acknowledged enough batches for "
                                           "%llu ms: %zu held (%s)",
                    (unsigned long long)((now - blocked_since) / VX_NS_PER_MS),
                    vx_link_held(s->link), vx_link_endpoint(s->link));
            warned = true;
        }
        zmq_pollitem_t items[2];
        size_t k = vx_link_pollitems(s->link, items);
        uint64_t wake = vx_link_wake_ns(s->link);
        long timeout = wake == UINT64_MAX ? 100 : vx_ms_until(wake);
        zmq_poll(items, (int)k, timeout < 100 ? timeout : 100);
    }
}

static void
s_journal(prop_server_t *s, const uint8_t *event, size_t len, struct prop_submit *req,
          struct vx_ack *ack)
{
    void *opaque = req && req->durable ? (void *)req : NULL;
    if (ack && s->cfg.ingest_ack_durable) {
        opaque = ack;
    }
    /* The key is the event's path, so one file's events stay in one partition. */
    struct vx_span path = {(const uint8_t *)"", 0};
    vx_pb_find_bytes(event, len, VX_PB_EVENT_PATH, &path);
    int rc = vx_kafka_produce(s->kafka, s->cfg.kafka_topic, (const char *)path.data, path.len,
                              event, len, opaque, s->cfg.durable_timeout_ms);
    if (rc < 0) {
        vx_counter_add(s->kafka_failed, 1);
        vx_drops_add(&s->drops, VX_DROP_KAFKA_FAILED, 1);
        vx_drops_add(&s->lost_kafka, VX_DROP_KAFKA_FAILED, 1);
        if (req && req->status == 0) {
            req->status = -EIO;
            snprintf(req->message, sizeof req->message, "Kafka producer refused the event: %s",
                     rc == -ENOBUFS ? "local queue full" : "producer failed");
        }
        return;
    }
    if (req && req->durable) {
        req->pending++;
    }
    if (opaque && opaque == (void *)ack) {
        ack->kafka_pending++;
    }
}

/* Publishes the output batch: to routing (waiting for it), to the tap (never waiting), then
 * journals each event and accounts latency. */
void
prop_output_flush(prop_server_t *s)
{
    struct prop_out *o = s->out;
    if (o->b.n == 0) {
        return;
    }
    size_t len = 0;
    int rc;
    const uint8_t *sent = NULL;
    if (s->link) {
        rc = s_link_room(s);
        if (rc == 0) {
            /* The journal below reads the events where they are: keep the builder's memory
             * while the link owns its sealed copy. */
            size_t cap = o->b.len + 2 * 10 + 2 + strlen(s->link_sender); /* + the trailer */
            struct vx_batchbuf copy = {.buf = vx_malloc(cap), .len = o->b.len, .cap = cap,
                                       .n = o->b.n};
            memcpy(copy.buf, o->b.buf, o->b.len);
            vx_link_put_batch(s->link, &copy, s->link_sender);
            sent = vx_link_last_put(s->link, &len); /* the link numbers its own batches */
        }
    } else {
        len = vx_batchbuf_seal(&o->b, s->producer_id, s->producer_id_len, ++s->out_batch_seq);
        rc = s_send_reliable(s, o->b.buf, len);
        sent = o->b.buf;
    }
    uint64_t now = vx_mono_ns();
    if (rc < 0) {
        /* -ETIMEDOUT: routing took nothing until the shutdown deadline; anything else is
         * ZeroMQ refusing the batch. */
        enum vx_drop_reason why = rc == -ETIMEDOUT ? VX_DROP_SHUTDOWN : VX_DROP_SEND_FAILED;
        vx_error("PROP-PUBLISH", "batch of %zu events not published: %s", o->b.n, strerror(-rc));
        vx_drops_add(&s->drops, why, o->b.n);
        vx_drops_add(&s->lost_routing, why, o->b.n);
        if (!s->link) {
            s->out_batch_seq--; /* nothing left: the next batch keeps the sequence contiguous */
        }
        s->acks_broken = true;
    } else {
        s->published_epoch++;
        vx_counter_add(s->batches_out, 1);
        vx_counter_add(s->processed, o->b.n);
        if (s->tap && vx_wire_send_packed(s->tap, VX_WIRE_TOPIC, sent, len, ZMQ_DONTWAIT) < 0) {
            vx_counter_add(s->tap_dropped, 1);
        }
    }
    uint64_t budget = atomic_load(&s->live.max_latency_ns);
    uint64_t slow = 0;
    /* Latency counted into local buckets and added once: the events of one input batch share
     * their receipt time, so the bucket is looked up once per run of them. */
    uint64_t counts[PROP_LAT_BUCKETS + 1] = {0};
    double lat_sum = 0;
    size_t bucket = 0;
    for (size_t i = 0; i < o->b.n; i++) {
        uint64_t lat = now - o->recv_ns[i];
        slow += lat > budget;
        if (i == 0 || o->recv_ns[i] != o->recv_ns[i - 1]) {
            bucket = vx_histogram_bucket(s->latency, (double)lat * 1e-9);
        }
        counts[bucket]++;
        lat_sum += (double)lat * 1e-9;
        if (rc == 0 && s->kafka) {
            s_journal(s, o->b.buf + o->rec_off[i], o->rec_len[i], o->req[i], o->ack[i]);
        } else if (rc < 0 && o->hash[i]) {
            /* Not published: a copy sent again (after a restart too) must not meet it as a
             * duplicate. */
            prop_dedup_forget(s->dedup, o->hash[i], o->recv_ns[i]);
        }
        if (rc < 0 && o->req[i] && o->req[i]->status == 0) {
            o->req[i]->status = -ESHUTDOWN;
            snprintf(o->req[i]->message, sizeof o->req[i]->message, "not published: %s",
                     strerror(-rc));
        }
    }
    vx_histogram_add(s->latency, counts, lat_sum);
    if (slow) {
        vx_counter_add(s->slow, slow);
    }
    vx_batchbuf_clear(&o->b);
    if (s->kafka) {
        vx_kafka_poll(s->kafka, 0);
    }
    if (s->link && rc == 0) {
        vx_link_pump(s->link, vx_mono_ns()); /* send it now */
    }
}

/* Appends one accepted event: its bytes as received (or re-encoded without unknown fields)
 * and its stamp. */
void
prop_output_append(prop_server_t *s, const vx_event_t *e, struct vx_span span, uint64_t wall,
                   int source, const char *tenant, uint8_t id[VX_EVENT_ID_LEN])
{
    struct prop_out *o = s->out;
    if (!s->cfg.keep_unknown_fields && e->base.n_unknown_fields) {
        vx_event_t copy = *e;
        copy.base.n_unknown_fields = 0;
        copy.base.unknown_fields = NULL;
        size_t need = vexfs__v1__event__get_packed_size(&copy);
        if (need > s->scratch_cap) {
            s->scratch_cap = need * 2;
            s->scratch = vx_realloc(s->scratch, s->scratch_cap);
        }
        span.len = vexfs__v1__event__pack(&copy, s->scratch);
        span.data = s->scratch;
    }
    uint8_t stamp[PROP_STAMP_MAX];
    size_t slen = prop_stamp_encode(&s->stamper, e, stamp, id, wall, source, tenant);
    size_t k = o->b.n;
    o->rec_off[k] = vx_batchbuf_add(&o->b, span.data, span.len, stamp, slen);
    o->rec_len[k] = span.len + slen;
}
