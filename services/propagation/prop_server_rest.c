/* SPDX-License-Identifier: Apache-2.0 */
/* Propagation's REST threads' side: a submission handed to the loop and waited for, readiness
 * and stats. REST threads touch no loop state: they read counters and constants only. */
#include "prop_server_priv.h"

#include <errno.h>
#include <string.h>

#include "vx_clock.h"
#include "vx_mem.h"

/* ---- submissions -------------------------------------------------------------------------- */

void
prop_submit_cb_free(struct vx_call *c)
{
    struct prop_submit *r = (struct prop_submit *)c;
    json_decref(r->ids);
    free(r->packed);
    free(r);
}


/* ---- REST side ---------------------------------------------------------------------------- */

void
prop_server_submit(prop_server_t *s, vx_event_t *const *events, size_t n, bool durable,
                   struct prop_outcome *out)
{
    memset(out, 0, sizeof *out);
    struct prop_submit *r = vx_calloc(1, sizeof *r);
    vx_call_init(&r->call, prop_submit_cb_free);
    r->durable = durable && s->kafka_enabled;
    r->ids = json_array();
    vx_batch_t batch = VEXFS__V1__EVENT_BATCH__INIT;
    batch.events = (vx_event_t **)events;
    batch.n_events = n;
    r->len = vexfs__v1__event_batch__get_packed_size(&batch);
    r->packed = vx_malloc(r->len);
    vexfs__v1__event_batch__pack(&batch, r->packed);

    int sent = vx_inbox_send(s->rest, &r->call);
    if (sent < 0) {
        bool closing = sent == -ESHUTDOWN;
        out->status = closing ? -ESHUTDOWN : -EBUSY;
        snprintf(out->message, sizeof out->message, "%s",
                 closing ? "shutting down: not accepting events"
                         : "ingest queue full: retry later");
        vx_drops_add(&s->drops, closing ? VX_DROP_SHUTDOWN : VX_DROP_BUSY, n);
        vx_call_unref(&r->call);
        return;
    }
    if (vx_call_wait(&r->call, vx_deadline_ms((uint64_t)s->cfg.durable_timeout_ms)) == 0) {
        out->status = r->status;
        snprintf(out->message, sizeof out->message, "%s", r->message);
        out->accepted = r->accepted;
        out->duplicates = r->duplicates;
        out->ids = json_incref(r->ids);
    } else {
        out->status = -ETIMEDOUT;
        snprintf(out->message, sizeof out->message,
                 "no acknowledgement within %d ms; the events may still be delivered",
                 s->cfg.durable_timeout_ms);
    }
    vx_call_unref(&r->call);
}

struct prop_live *
prop_server_live(prop_server_t *s)
{
    return &s->live;
}

bool
prop_server_has_kafka(const prop_server_t *s)
{
    return s->kafka_enabled;
}

bool
prop_server_ready(prop_server_t *s, json_t *detail)
{
    bool running = atomic_load(&s->running);
    bool kafka_ok = !atomic_load(&s->kafka_fatal);
    json_object_set_new(detail, "loop", json_string(running ? "running" : "stopped"));
    json_object_set_new(detail, "kafka",
                        json_string(s->kafka_enabled ? (kafka_ok ? "ok" : "failed") : "off"));
    return running && kafka_ok;
}

void
prop_server_count_invalid(prop_server_t *s, enum vx_drop_reason reason, size_t n)
{
    vx_drops_add(&s->drops, reason, n);
}

static json_t *
s_count_json(const vx_counter_t *c)
{
    return json_integer((json_int_t)vx_counter_value(c));
}

json_t *
prop_server_stats(prop_server_t *s)
{
    json_t *dropped = json_object();
    for (int i = 0; i < VX_DROP_N; i++) {
        if (PROP_DROP_MASK & VX_DROP_BIT(i)) {
            json_object_set_new(dropped, vx_drop_names[i],
                                json_integer((json_int_t)vx_drops_value(&s->drops,
                                                                        (enum vx_drop_reason)i)));
        }
    }
    json_t *received = json_object();
    json_object_set_new(received, "zmq", s_count_json(s->received_zmq));
    json_object_set_new(received, "rest", s_count_json(s->received_rest));

    json_t *lat = json_object();
    json_object_set_new(lat, "p50_us", json_real(vx_histogram_quantile(s->latency, 0.50) * 1e6));
    json_object_set_new(lat, "p99_us", json_real(vx_histogram_quantile(s->latency, 0.99) * 1e6));
    json_object_set_new(lat, "p999_us",
                        json_real(vx_histogram_quantile(s->latency, 0.999) * 1e6));
    json_object_set_new(lat, "count", json_integer((json_int_t)vx_histogram_count(s->latency)));

    json_t *dd = json_object();
    json_object_set_new(dd, "entries", json_integer((json_int_t)vx_gauge_value(s->dedup_entries)));
    json_object_set_new(dd, "evictions",
                        json_integer((json_int_t)vx_gauge_value(s->dedup_evictions)));
    json_object_set_new(dd, "window_ms",
                        json_integer((json_int_t)atomic_load(&s->live.dedup_window_ms)));

    json_t *kafka = json_object();
    json_object_set_new(kafka, "enabled", json_boolean(s->kafka_enabled));
    json_object_set_new(kafka, "topic", json_string(s->cfg.kafka_topic));
    json_object_set_new(kafka, "delivered", s_count_json(s->kafka_delivered));
    json_object_set_new(kafka, "failed", s_count_json(s->kafka_failed));
    json_object_set_new(kafka, "inflight",
                        json_integer((json_int_t)vx_gauge_value(s->kafka_inflight)));

    json_t *st = json_object();
    json_object_set_new(st, "received", received);
    json_object_set_new(st, "propagated", s_count_json(s->processed));
    json_object_set_new(st, "deduplicated", s_count_json(s->deduplicated));
    json_object_set_new(st, "dropped", dropped);
    json_object_set_new(st, "latency", lat);
    json_object_set_new(st, "sequence_gaps", s_count_json(s->seq_gaps));
    json_object_set_new(st, "dedup", dd);
    json_object_set_new(st, "kafka", kafka);
    return st;
}

const char *
prop_server_ingest_endpoint(const prop_server_t *s)
{
    return s->ingest_ep;
}

const char *
prop_server_acked_endpoint(const prop_server_t *s)
{
    return s->acked_ep;
}

const char *
prop_server_output_endpoint(const prop_server_t *s)
{
    return s->output_ep;
}

const char *
prop_server_tap_endpoint(const prop_server_t *s)
{
    return s->tap_ep;
}
