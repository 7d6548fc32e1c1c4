/* SPDX-License-Identifier: Apache-2.0 */
/* The propagation loop and its state. */
#include "prop_server.h"

#include <czmq.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "prop_ack.h"
#include "prop_dedup.h"
#include "prop_stamp.h"
#include "vx_arena.h"
#include "vx_clock.h"
#include "vx_kafka.h"
#include "vx_log.h"
#include "vx_mem.h"
#include "vx_wire.h"

#define S_OUT_CAP 10000                     /* largest batch_max_events */
#define S_ARENA_FLUSH (8u * 1024 * 1024)    /* decoded input held before a forced flush */
#define S_ARENA_LIMIT (256u * 1024 * 1024)  /* hard bound on decoded input */
#define S_DRAIN_MAX 256                     /* messages read per socket per loop turn */
#define S_PREFETCH 128                      /* events validated and hashed ahead of dedup */
#define S_REST_ENDPOINT_FMT "inproc://prop-rest-%p"
#define S_ACK_MAX_PENDING 8192               /* acknowledged batches not yet handed on */

static const char *const s_reasons[] = {
    "unknown_type", "missing_path", "bad_path", "bad_id",   "too_large", "bad_utf8",
    "bad_field",    "bad_json",     "bad_frame", "bad_protobuf", "duplicate", "shutdown",
    "kafka_failed", "busy",
};
#define S_N_REASONS (sizeof s_reasons / sizeof s_reasons[0])

/* A REST submission travelling to the loop and back. Two references: the handler's and the
 * loop's; the last one to let go frees it. */
struct s_submit {
    atomic_int refs;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    bool durable;
    void *packed;
    size_t len;
    /* written by the loop thread before done */
    int pending; /* Kafka acknowledgements still awaited */
    int status;
    char message[256];
    size_t accepted;
    size_t duplicates;
    json_t *ids;
};

/* The output batch under construction, already in its packed form: one `events` field per
 * event, holding the event's bytes as received followed by its stamp. */
struct s_out {
    uint8_t *buf;
    size_t len, cap;
    size_t n;
    size_t rec_off[S_OUT_CAP];  /* where each packed Event starts in buf */
    size_t rec_len[S_OUT_CAP];
    uint64_t recv_ns[S_OUT_CAP];
    struct s_submit *req[S_OUT_CAP];
    struct prop_ack *ack[S_OUT_CAP]; /* the acknowledged-ingest batch of each event, or NULL */
    uint64_t oldest_ns; /* monotonic time the first event of this batch was accepted */
};

struct prop_server {
    const vx_config_t *cfg;
    struct prop_live live;
    char producer_id[300];
    bool coalesce;

    zsock_t *ingest;
    zsock_t *acked; /* ROUTER of the acknowledged ingest, or NULL (prop_ack.h) */
    zsock_t *output;
    zsock_t *tap;
    zsock_t *rest_pull;
    zsock_t *rest_push; /* guarded by rest_mu; shared by REST threads */
    pthread_mutex_t rest_mu;
    bool closing;       /* guarded by rest_mu */
    char ingest_ep[256], acked_ep[256], output_ep[256], tap_ep[256], rest_ep[64];
    prop_acks_t *acks;
    uint64_t published_epoch; /* successful publishes so far */
    bool ack_durable;         /* acknowledge only after Kafka reported on every event */
    bool acks_broken;         /* a publish failed (shutdown): acknowledge nothing more */

    vx_kafka_t *kafka;
    bool kafka_enabled;      /* constant after new: REST threads read it */
    atomic_bool kafka_fatal; /* mirrored by the loop: REST threads never touch kafka */
    char kafka_topic[256];
    int durable_timeout_ms;
    int shutdown_timeout_ms;

    prop_dedup_t *dedup;
    vx_arena_t *arena;
    vx_seqtrack_t *ingest_seq;
    struct prop_stamper stamper;
    bool keep_unknown;
    struct s_out *out;
    uint64_t out_batch_seq;
    struct vx_span spans[S_OUT_CAP];
    uint8_t *scratch; /* re-encoding of events whose unknown fields are stripped */
    size_t scratch_cap;
    uint64_t shutdown_deadline; /* monotonic; 0 while running */
    atomic_bool running;

    /* metrics */
    vx_counter_t *received_zmq, *received_rest, *processed, *deduplicated, *slow;
    vx_counter_t *dropped[S_N_REASONS];
    vx_counter_t *seq_gaps, *batches_in, *batches_out, *tap_dropped;
    vx_counter_t *kafka_delivered, *kafka_failed;
    vx_counter_t *acks_sent, *replayed, *ack_unsent;
    vx_gauge_t *acks_pending;
    vx_histogram_t *latency;
    vx_gauge_t *dedup_entries, *dedup_evictions, *kafka_inflight;
};

/* ---- metrics ------------------------------------------------------------------------------ */

static vx_counter_t *
s_dropped(prop_server_t *s, const char *reason)
{
    for (size_t i = 0; i < S_N_REASONS; i++) {
        if (strcmp(s_reasons[i], reason) == 0) {
            return s->dropped[i];
        }
    }
    return s->dropped[6]; /* bad_field: a reason this table does not list */
}

static double
cb_latency_p99_ns(void *arg)
{
    prop_server_t *s = arg;
    return vx_histogram_quantile(s->latency, 0.99) * 1e9;
}

static double
cb_target_throughput(void *arg)
{
    prop_server_t *s = arg;
    return (double)vx_config_int(s->cfg, PROP_SECTION, "target_throughput_events_per_sec");
}

static void
s_metrics_init(prop_server_t *s, vx_metrics_t *m)
{
    s->received_zmq = vx_metrics_counter(m, "vexfs_events_received_total",
                                         "Events received, by ingest channel.", "channel", "zmq",
                                         NULL);
    s->received_rest = vx_metrics_counter(m, "vexfs_events_received_total",
                                          "Events received, by ingest channel.", "channel",
                                          "rest", NULL);
    s->processed = vx_metrics_counter(m, "vexfs_events_processed_total",
                                      "Events accepted and published to routing.", NULL);
    s->deduplicated = vx_metrics_counter(m, "vexfs_events_deduplicated_total",
                                         "Events removed as duplicates inside the window.", NULL);
    s->slow = vx_metrics_counter(m, "vexfs_events_slow_total",
                                 "Events slower than max_propagation_latency_ns.", NULL);
    for (size_t i = 0; i < S_N_REASONS; i++) {
        s->dropped[i] = vx_metrics_counter(m, "vexfs_events_dropped_total",
                                           "Events not forwarded, by reason.", "reason",
                                           s_reasons[i], NULL);
    }
    s->seq_gaps = vx_metrics_counter(m, "vexfs_sequence_gaps_total",
                                     "Batches missing in a sender's sequence, by link.", "link",
                                     "ingest", NULL);
    s->batches_in = vx_metrics_counter(m, "vexfs_batches_received_total",
                                       "ZeroMQ batches received.", NULL);
    s->batches_out = vx_metrics_counter(m, "vexfs_batches_published_total",
                                        "Batches published to routing.", NULL);
    s->tap_dropped = vx_metrics_counter(m, "vexfs_tap_dropped_batches_total",
                                        "Batches the observer tap could not take (PUB full).",
                                        NULL);
    s->kafka_delivered = vx_metrics_counter(m, "vexfs_kafka_delivered_total",
                                            "Events Kafka acknowledged.", NULL);
    s->kafka_failed = vx_metrics_counter(m, "vexfs_kafka_failed_total",
                                         "Events Kafka did not take (after retries).", NULL);
    s->acks_sent = vx_metrics_counter(m, "vexfs_ingest_acks_total",
                                      "Acknowledgements sent on the acknowledged ingest.", NULL);
    s->ack_unsent = vx_metrics_counter(m, "vexfs_ingest_unacknowledged_batches_total",
                                       "Batches of the acknowledged ingest that will never be "
                                       "acknowledged (no sender or sequence, or too many "
                                       "pending).",
                                       NULL);
    s->acks_pending = vx_metrics_gauge(m, "vexfs_ingest_acks_pending",
                                       "Acknowledged-ingest batches not yet handed on.", NULL);
    s->replayed = vx_metrics_counter(m, "vexfs_batches_replayed_total",
                                     "Batches at or below their sender's last sequence (a "
                                     "producer's resend, or a producer that restarted its sequence).",
                                     NULL);
    double bounds[24];
    size_t nb = vx_metrics_exp_bounds(bounds, 24, 1e-6, 2.0);
    s->latency = vx_metrics_histogram(m, "vexfs_event_propagation_latency_seconds",
                                      "Time from receipt to publish, per event.", bounds, nb, NULL);
    s->dedup_entries = vx_metrics_gauge(m, "vexfs_dedup_entries",
                                        "Content hashes inside the dedup window.", NULL);
    s->dedup_evictions = vx_metrics_gauge(m, "vexfs_dedup_evictions",
                                          "Hashes forgotten early because the window was full.",
                                          NULL);
    s->kafka_inflight = vx_metrics_gauge(m, "vexfs_kafka_inflight_messages",
                                         "Events queued for Kafka, not yet acknowledged.", NULL);
    vx_metrics_gauge_fn(m, "vexfs_event_propagation_latency_p99",
                        "p99 of receipt-to-publish latency in nanoseconds.", cb_latency_p99_ns, s);
    vx_metrics_gauge_fn(m, "vexfs_target_throughput_events_per_second",
                        "Configured target_throughput_events_per_sec.", cb_target_throughput, s);
}

/* ---- submissions -------------------------------------------------------------------------- */

static void
s_submit_release(struct s_submit *r)
{
    if (atomic_fetch_sub(&r->refs, 1) == 1) {
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->cv);
        json_decref(r->ids);
        free(r->packed);
        free(r);
    }
}

/* Loop side: publishes the outcome and drops the loop's reference. */
static void
s_submit_complete(struct s_submit *r)
{
    pthread_mutex_lock(&r->mu);
    r->done = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    s_submit_release(r);
}

/* ---- Kafka -------------------------------------------------------------------------------- */

static void
cb_kafka_delivery(void *opaque, int err, const char *errstr, void *arg)
{
    prop_server_t *s = arg;
    struct prop_ack *ack = s->acks ? prop_acks_entry(s->acks, opaque) : NULL;
    struct s_submit *r = ack ? NULL : opaque;
    if (ack) {
        ack->kafka_pending--; /* a failure is counted below; the batch was handed on */
    }
    if (err) {
        vx_counter_add(s->kafka_failed, 1);
        vx_counter_add(s_dropped(s, "kafka_failed"), 1);
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
        s_submit_complete(r);
    }
}

/* ---- output ------------------------------------------------------------------------------- */

static int
s_send_reliable(prop_server_t *s, const void *data, size_t len)
{
    for (;;) {
        int rc = vx_wire_send_packed(s->output, "events", data, len, 0);
        if (rc != -EAGAIN && rc != -EINTR) {
            return rc;
        }
        /* Routing is not taking batches: wait (backpressure), but not past the shutdown
         * deadline. */
        if (s->shutdown_deadline && vx_mono_ns() >= s->shutdown_deadline) {
            return -ETIMEDOUT;
        }
    }
}

static void
s_journal(prop_server_t *s, const uint8_t *event, size_t len, const char *path, size_t path_len,
          struct s_submit *req, struct prop_ack *ack)
{
    void *opaque = req && req->durable ? (void *)req : NULL;
    if (ack && s->ack_durable) {
        opaque = ack;
    }
    int rc = vx_kafka_produce(s->kafka, s->kafka_topic, path, path_len, event, len, opaque,
                              s->durable_timeout_ms);
    if (rc < 0) {
        vx_counter_add(s->kafka_failed, 1);
        vx_counter_add(s_dropped(s, "kafka_failed"), 1);
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

/* The key of a journaled event is its path; read it back from the packed bytes (the last
 * occurrence of field 5 wins, as in any protobuf reader). */
static size_t
s_packed_path(const uint8_t *p, size_t len, const char **path)
{
    const uint8_t *end = p + len;
    size_t found = 0;
    *path = "";
    while (p < end) {
        uint64_t tag = 0, v = 0;
        int shift = 0;
        while (p < end && (*p & 0x80)) {
            tag |= (uint64_t)(*p++ & 0x7f) << shift;
            shift += 7;
        }
        if (p >= end) {
            break;
        }
        tag |= (uint64_t)(*p++) << shift;
        shift = 0;
        switch (tag & 7) {
        case 0:
            while (p < end && (*p++ & 0x80)) {
            }
            break;
        case 1:
            p += 8;
            break;
        case 5:
            p += 4;
            break;
        case 2:
            while (p < end && (*p & 0x80)) {
                v |= (uint64_t)(*p++ & 0x7f) << shift;
                shift += 7;
            }
            if (p < end) {
                v |= (uint64_t)(*p++) << shift;
            }
            if (v > (uint64_t)(end - p)) {
                return found;
            }
            if (tag >> 3 == 5) {
                *path = (const char *)p;
                found = (size_t)v;
            }
            p += v;
            break;
        default:
            return found;
        }
    }
    return found;
}

static void
s_flush(prop_server_t *s)
{
    struct s_out *o = s->out;
    if (o->n == 0) {
        return;
    }
    /* The batch trailer: sender and batch sequence (fields 2 and 3 of EventBatch). */
    o->len += vx_pb_bytes(o->buf + o->len, 2, s->producer_id, strlen(s->producer_id));
    o->len += vx_pb_uint(o->buf + o->len, 3, ++s->out_batch_seq);

    int rc = s_send_reliable(s, o->buf, o->len);
    uint64_t now = vx_mono_ns();
    if (rc < 0) {
        vx_error("PROP-PUBLISH", "batch of %zu events not published: %s", o->n, strerror(-rc));
        vx_counter_add(s_dropped(s, "shutdown"), o->n);
        s->out_batch_seq--; /* nothing left: the next batch keeps the sequence contiguous */
        s->acks_broken = true;
    } else {
        s->published_epoch++;
        vx_counter_add(s->batches_out, 1);
        vx_counter_add(s->processed, o->n);
        if (s->tap && vx_wire_send_packed(s->tap, "events", o->buf, o->len, ZMQ_DONTWAIT) < 0) {
            vx_counter_add(s->tap_dropped, 1);
        }
    }
    uint64_t budget = atomic_load(&s->live.max_latency_ns);
    uint64_t slow = 0;
    for (size_t i = 0; i < o->n; i++) {
        uint64_t lat = now - o->recv_ns[i];
        slow += lat > budget;
        vx_histogram_observe(s->latency, (double)lat * 1e-9);
        if (rc == 0 && s->kafka) {
            const uint8_t *ev = o->buf + o->rec_off[i];
            const char *path;
            size_t plen = s_packed_path(ev, o->rec_len[i], &path);
            s_journal(s, ev, o->rec_len[i], path, plen, o->req[i], o->ack[i]);
        } else if (rc < 0 && o->req[i] && o->req[i]->status == 0) {
            o->req[i]->status = -ESHUTDOWN;
            snprintf(o->req[i]->message, sizeof o->req[i]->message, "not published: %s",
                     strerror(-rc));
        }
    }
    if (slow) {
        vx_counter_add(s->slow, slow);
    }
    o->n = 0;
    o->len = 0;
    if (s->kafka) {
        vx_kafka_poll(s->kafka, 0);
    }
}

/* Appends one accepted event: its bytes as received (or re-encoded without unknown fields)
 * and its stamp, as one `events` field of the output batch. */
static void
s_append(prop_server_t *s, const vx_event_t *e, struct vx_span span, uint64_t wall, int source,
         uint8_t id[VX_EVENT_ID_LEN])
{
    struct s_out *o = s->out;
    if (!s->keep_unknown && e->base.n_unknown_fields) {
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
    size_t slen = prop_stamp_encode(&s->stamper, e, stamp, id, wall, source);
    size_t rec = span.len + slen;
    size_t need = o->len + 1 + 10 + rec + 300 /* room for the trailer */;
    if (need > o->cap) {
        o->cap = need * 2;
        o->buf = vx_realloc(o->buf, o->cap);
    }
    o->buf[o->len++] = 0x0a; /* EventBatch.events, length-delimited */
    o->len += vx_pb_varint(o->buf + o->len, rec);
    o->rec_off[o->n] = o->len;
    o->rec_len[o->n] = rec;
    memcpy(o->buf + o->len, span.data, span.len);
    memcpy(o->buf + o->len + span.len, stamp, slen);
    o->len += rec;
}

/* ---- processing --------------------------------------------------------------------------- */

/* Validates, deduplicates and stamps every event of batch into the output. req is the REST
 * submission the batch came from, or NULL for ZeroMQ ingest. */
static void
s_process(prop_server_t *s, const vx_batch_t *batch, const struct vx_span *spans,
          struct s_submit *req, struct prop_ack *ack, int source)
{
    struct s_out *o = s->out;
    uint64_t mono = vx_mono_ns();
    uint64_t wall = vx_wall_ns();
    uint32_t max = atomic_load(&s->live.batch_max_events);
    bool dedup = atomic_load(&s->live.dedup_enabled);
    prop_dedup_set_window(s->dedup, atomic_load(&s->live.dedup_window_ms) * VX_NS_PER_MS);
    if (max > S_OUT_CAP) {
        max = S_OUT_CAP;
    }
    /* First pass: validate and hash, starting the dedup table loads; second pass: decide. */
    uint64_t hashes[S_PREFETCH];
    bool valid[S_PREFETCH];
    for (size_t i = 0; i < batch->n_events; i++) {
        const vx_event_t *e = batch->events[i];
        size_t slot = i % S_PREFETCH;
        if (slot == 0) {
            for (size_t j = i; j < batch->n_events && j < i + S_PREFETCH; j++) {
                char err[256];
                const char *reason = NULL;
                valid[j - i] = vx_event_validate(batch->events[j], err, sizeof err, &reason) == 0;
                if (!valid[j - i]) {
                    vx_counter_add(s_dropped(s, reason), 1);
                    vx_debug("PROP-INVALID", "event dropped: %s", err);
                } else if (dedup) {
                    hashes[j - i] = vx_event_content_hash(batch->events[j]);
                    prop_dedup_prefetch(s->dedup, hashes[j - i]);
                }
            }
        }
        if (!valid[slot]) {
            continue;
        }
        if (dedup && prop_dedup_check(s->dedup, hashes[slot], mono)) {
            vx_counter_add(s->deduplicated, 1);
            vx_counter_add(s_dropped(s, "duplicate"), 1);
            if (req) {
                req->duplicates++;
            }
            continue;
        }
        if (o->n >= max) {
            s_flush(s);
        }
        if (o->n == 0) {
            o->oldest_ns = mono;
        }
        size_t k = o->n;
        uint8_t id[VX_EVENT_ID_LEN];
        s_append(s, e, spans[i], wall, source, id);
        o->recv_ns[k] = mono;
        o->req[k] = req;
        o->ack[k] = ack;
        o->n++;
        if (req) {
            char idtext[VX_EVENT_ID_STR];
            vx_event_id_format(id, idtext);
            json_array_append_new(req->ids, json_string(idtext));
            req->accepted++;
        }
    }
    if (!s->coalesce || o->n >= max) {
        s_flush(s);
    }
}

/* The connection an acknowledged-ingest batch came on. */
struct s_from {
    const uint8_t *id;
    size_t id_len;
};

/* Decodes and processes one received message body. from: the acknowledged-ingest connection
 * to answer, or NULL. */
static void
s_ingest_bytes(prop_server_t *s, const void *data, size_t len, struct s_submit *req, int source,
               const struct s_from *from)
{
    if (vx_arena_used(s->arena) > S_ARENA_FLUSH && s->out->n == 0) {
        vx_arena_reset(s->arena);
    }
    vx_batch_t *b = vx_wire_decode(data, len, s->arena);
    size_t n_spans = 0;
    int src = b ? vx_wire_event_spans(data, len, s->spans, S_OUT_CAP, &n_spans) : -EPROTO;
    if (!b || src < 0 || n_spans != b->n_events) {
        /* Events of an undecodable batch cannot be counted: the batch counts as one. */
        vx_counter_add(s_dropped(s, src == -E2BIG ? "too_large" : "bad_protobuf"),
                       src == -E2BIG ? b->n_events : 1);
        vx_warn("PROP-BAD-BATCH", "%s batch of %zu bytes dropped",
                src == -E2BIG ? "oversized (more than 10000 events)" : "undecodable", len);
        return;
    }
    vx_counter_add(req ? s->received_rest : s->received_zmq, b->n_events);
    if (!req) {
        vx_counter_add(s->batches_in, 1);
        if (b->sender && b->sender[0] && b->batch_sequence) {
            struct vx_seq_result r = vx_seqtrack_observe(s->ingest_seq, b->sender,
                                                         b->batch_sequence);
            if (r.duplicate) {
                vx_counter_add(s->replayed, 1);
            }
            if (r.missing) {
                vx_counter_add(s->seq_gaps, r.missing);
                vx_warn("PROP-SEQ-GAP", "sender %s: %llu batches missing before %llu", b->sender,
                        (unsigned long long)r.missing, (unsigned long long)b->batch_sequence);
            }
        }
    }
    struct prop_ack *ack = NULL;
    if (from) {
        if (b->sender && b->sender[0] && b->batch_sequence && !prop_acks_full(s->acks)) {
            ack = prop_acks_push(s->acks, from->id, from->id_len, b->batch_sequence, 0);
        } else {
            vx_counter_add(s->ack_unsent, 1);
            vx_warn("PROP-ACK-NONE", "batch from %s will not be acknowledged: %s",
                    b->sender && b->sender[0] ? b->sender : "an unnamed sender",
                    b->batch_sequence ? "too many pending" : "no sender or batch_sequence");
        }
    }
    s_process(s, b, s->spans, req, ack, source);
    if (ack) {
        /* Handed on once what the output holds now is published (at once when it is empty:
         * every event of the batch was published already, a duplicate or invalid). */
        ack->epoch = s->published_epoch + (s->out->n > 0);
    }
    if (vx_arena_used(s->arena) > S_ARENA_FLUSH) {
        s_flush(s);
        vx_arena_reset(s->arena);
    }
}

static void
s_drain_ingest(prop_server_t *s)
{
    for (int i = 0; i < S_DRAIN_MAX; i++) {
        struct vx_wire_msg msg;
        int rc = vx_wire_recv(s->ingest, &msg, ZMQ_DONTWAIT);
        if (rc == -EAGAIN || rc == -EINTR) {
            return;
        }
        if (rc < 0) {
            vx_counter_add(s_dropped(s, "bad_frame"), 1);
            vx_warn("PROP-BAD-FRAME", "message without exactly topic + batch frames dropped");
            continue;
        }
        s_ingest_bytes(s, zmq_msg_data(&msg.body), zmq_msg_size(&msg.body), NULL, 0, NULL);
        vx_wire_msg_fini(&msg);
    }
}

static void
s_drain_acked(prop_server_t *s)
{
    for (int i = 0; i < S_DRAIN_MAX && !prop_acks_full(s->acks); i++) {
        uint8_t id[PROP_ACK_ID_MAX];
        struct s_from from = {id, 0};
        zmq_msg_t body;
        int rc = prop_acks_recv(s->acked, id, &from.id_len, &body);
        if (rc == -EAGAIN) {
            return;
        }
        if (rc < 0) {
            vx_counter_add(s_dropped(s, "bad_frame"), 1);
            vx_warn("PROP-BAD-FRAME", "acknowledged ingest: message without exactly topic + "
                                      "batch frames dropped");
            continue;
        }
        s_ingest_bytes(s, zmq_msg_data(&body), zmq_msg_size(&body), NULL, 0, &from);
        zmq_msg_close(&body);
    }
}

/* Sends the acknowledgements that became due. */
static void
s_release_acks(prop_server_t *s)
{
    if (!s->acked || s->acks_broken) {
        return;
    }
    size_t n = prop_acks_release(s->acks, s->published_epoch, s->acked);
    if (n) {
        vx_counter_add(s->acks_sent, n);
    }
}

static void
s_handle_submit(prop_server_t *s, struct s_submit *r)
{
    s_ingest_bytes(s, r->packed, r->len, r, VEXFS__V1__BOUNDARY__USERSPACE_API, NULL);
    /* A REST caller waits: publish now rather than when the batch fills. */
    s_flush(s);
    if (r->pending == 0) {
        s_submit_complete(r);
    }
}

static void
s_drain_rest(prop_server_t *s)
{
    for (int i = 0; i < S_DRAIN_MAX; i++) {
        struct s_submit *r = NULL;
        if (zmq_recv(zsock_resolve(s->rest_pull), &r, sizeof r, ZMQ_DONTWAIT) != sizeof r) {
            return;
        }
        s_handle_submit(s, r);
    }
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

static zsock_t *
s_bind(int type, const char *endpoint, int hwm, char *bound, size_t boundlen, char *err,
       size_t errlen)
{
    zsock_t *z = zsock_new(type);
    if (!z) {
        snprintf(err, errlen, "cannot create ZeroMQ socket");
        return NULL;
    }
    zsock_set_sndhwm(z, hwm);
    zsock_set_rcvhwm(z, hwm);
    if (zsock_bind(z, "%s", endpoint) < 0) {
        snprintf(err, errlen, "cannot bind %s: %s", endpoint, zmq_strerror(zmq_errno()));
        zsock_destroy(&z);
        return NULL;
    }
    char *last = zsock_last_endpoint(z); /* caller frees, in czmq 4.2 */
    snprintf(bound, boundlen, "%s", last ? last : endpoint);
    free(last);
    return z;
}

prop_server_t *
prop_server_new(const vx_config_t *cfg, vx_metrics_t *metrics, char *err, size_t errlen)
{
    prop_server_t *s = vx_calloc(1, sizeof *s);
    s->cfg = cfg;
    prop_live_load(&s->live, cfg);
    pthread_mutex_init(&s->rest_mu, NULL);
    s_metrics_init(s, metrics);

    const char *pid = vx_config_str(cfg, PROP_SECTION, "producer_id");
    if (pid[0]) {
        snprintf(s->producer_id, sizeof s->producer_id, "%s", pid);
    } else {
        char host[256] = "localhost";
        gethostname(host, sizeof host - 1);
        snprintf(s->producer_id, sizeof s->producer_id, "propagation-%s", host);
    }
    s->stamper.producer_id = s->producer_id;
    s->keep_unknown = vx_config_bool(cfg, PROP_SECTION, "enable_context_preservation");
    s->coalesce = vx_config_bool(cfg, PROP_SECTION, "enable_performance_optimization");
    s->durable_timeout_ms = (int)vx_config_int(cfg, PROP_SECTION, "durable_timeout_ms");
    s->shutdown_timeout_ms = (int)vx_config_int(cfg, PROP_SECTION, "shutdown_timeout_ms");
    s->dedup = prop_dedup_new((size_t)vx_config_int(cfg, PROP_SECTION, "dedup_max_entries"),
                              atomic_load(&s->live.dedup_window_ms) * VX_NS_PER_MS);
    s->arena = vx_arena_new(1u << 20, S_ARENA_LIMIT);
    s->ingest_seq = vx_seqtrack_new(4096);
    s->out = vx_calloc(1, sizeof *s->out);

    int hwm = (int)vx_config_int(cfg, PROP_SECTION, "queue_hwm");
    s->ingest = s_bind(ZMQ_PULL, vx_config_str(cfg, PROP_SECTION, "ingest_endpoint"), hwm,
                       s->ingest_ep, sizeof s->ingest_ep, err, errlen);
    if (!s->ingest) {
        goto fail;
    }
    const char *acked = vx_config_str(cfg, PROP_SECTION, "ingest_acked_endpoint");
    if (acked[0]) {
        s->acked = s_bind(ZMQ_ROUTER, acked, hwm, s->acked_ep, sizeof s->acked_ep, err, errlen);
        if (!s->acked) {
            goto fail;
        }
        zsock_set_sndhwm(s->acked, 0); /* acknowledgements are bounded by S_ACK_MAX_PENDING */
        s->acks = prop_acks_new(S_ACK_MAX_PENDING);
        s->ack_durable = vx_config_bool(cfg, PROP_SECTION, "ingest_ack_durable");
    }
    s->output = s_bind(ZMQ_PUSH, vx_config_str(cfg, PROP_SECTION, "output_endpoint"), hwm,
                       s->output_ep, sizeof s->output_ep, err, errlen);
    if (!s->output) {
        goto fail;
    }
    zsock_set_sndtimeo(s->output, 100);
    const char *tap = vx_config_str(cfg, PROP_SECTION, "tap_endpoint");
    if (tap[0]) {
        s->tap = s_bind(ZMQ_PUB, tap, hwm, s->tap_ep, sizeof s->tap_ep, err, errlen);
        if (!s->tap) {
            goto fail;
        }
    }
    snprintf(s->rest_ep, sizeof s->rest_ep, S_REST_ENDPOINT_FMT, (void *)s);
    s->rest_pull = zsock_new(ZMQ_PULL);
    s->rest_push = zsock_new(ZMQ_PUSH);
    if (!s->rest_pull || !s->rest_push || zsock_bind(s->rest_pull, "%s", s->rest_ep) < 0 ||
        zsock_connect(s->rest_push, "%s", s->rest_ep) < 0) {
        snprintf(err, errlen, "cannot create the REST hand-over socket");
        goto fail;
    }
    zsock_set_sndtimeo(s->rest_push, 1000);

    const char *brokers = vx_config_str(cfg, PROP_SECTION, "kafka_brokers");
    snprintf(s->kafka_topic, sizeof s->kafka_topic, "%s",
             vx_config_str(cfg, PROP_SECTION, "kafka_topic"));
    if (brokers[0]) {
        char kerr[512];
        s->kafka = vx_kafka_new(brokers,
                                (int)vx_config_int(cfg, PROP_SECTION, "kafka_message_timeout_ms"),
                                NULL, cb_kafka_delivery, s, kerr, sizeof kerr);
        if (!s->kafka) {
            snprintf(err, errlen, "kafka: %s", kerr);
            goto fail;
        }
        s->kafka_enabled = true;
    }
    atomic_store(&s->running, true);
    return s;
fail:
    prop_server_destroy(&s);
    return NULL;
}

void
prop_server_destroy(prop_server_t **sp)
{
    if (!sp || !*sp) {
        return;
    }
    prop_server_t *s = *sp;
    if (s->kafka) {
        vx_kafka_destroy(&s->kafka, 0);
    }
    zsock_destroy(&s->ingest);
    zsock_destroy(&s->acked);
    prop_acks_destroy(&s->acks);
    zsock_destroy(&s->output);
    zsock_destroy(&s->tap);
    zsock_destroy(&s->rest_push);
    zsock_destroy(&s->rest_pull);
    prop_dedup_destroy(&s->dedup);
    vx_arena_destroy(&s->arena);
    vx_seqtrack_destroy(&s->ingest_seq);
    if (s->out) {
        free(s->out->buf);
    }
    free(s->out);
    free(s->scratch);
    pthread_mutex_destroy(&s->rest_mu);
    vx_free(sp);
}

static void
s_update_gauges(prop_server_t *s)
{
    vx_gauge_set(s->dedup_entries, (double)prop_dedup_size(s->dedup));
    vx_gauge_set(s->dedup_evictions, (double)prop_dedup_evictions(s->dedup));
    if (s->kafka) {
        vx_gauge_set(s->kafka_inflight, (double)vx_kafka_inflight(s->kafka));
        atomic_store(&s->kafka_fatal, vx_kafka_fatal(s->kafka));
    }
    if (s->acks) {
        vx_gauge_set(s->acks_pending, (double)prop_acks_pending(s->acks));
    }
}

int
prop_server_run(prop_server_t *s, volatile sig_atomic_t *stop)
{
    zmq_pollitem_t items[3] = {
        {zsock_resolve(s->ingest), 0, ZMQ_POLLIN, 0},
        {zsock_resolve(s->rest_pull), 0, ZMQ_POLLIN, 0},
        {s->acked ? zsock_resolve(s->acked) : NULL, 0, 0, 0},
    };
    int n_items = s->acked ? 3 : 2;
    uint64_t last_gauges = 0;
    vx_info("PROP-RUN", "producer %s: ingest %s, acknowledged ingest %s, output %s, tap %s, kafka %s",
            s->producer_id, s->ingest_ep, s->acked ? s->acked_ep : "off", s->output_ep,
            s->tap ? s->tap_ep : "off", s->kafka ? s->kafka_topic : "off");
    while (!*stop) {
        long timeout = 100;
        if (s->out->n > 0) {
            uint64_t delay = (uint64_t)atomic_load(&s->live.batch_max_delay_us) * VX_NS_PER_US;
            uint64_t age = vx_mono_ns() - s->out->oldest_ns;
            timeout = age >= delay ? 0 : (long)((delay - age) / VX_NS_PER_MS);
        }
        /* While too many acknowledgements are pending the ROUTER is not read: its high-water
         * mark then holds the producers back. */
        items[2].events = s->acked && !prop_acks_full(s->acks) ? ZMQ_POLLIN : 0;
        int n = zmq_poll(items, n_items, timeout);
        if (n < 0 && zmq_errno() != EINTR) {
            vx_error("PROP-POLL", "zmq_poll: %s", zmq_strerror(zmq_errno()));
            break;
        }
        if (n > 0) {
            if (items[0].revents & ZMQ_POLLIN) {
                s_drain_ingest(s);
            }
            if (items[1].revents & ZMQ_POLLIN) {
                s_drain_rest(s);
            }
            if (items[2].revents & ZMQ_POLLIN) {
                s_drain_acked(s);
            }
        }
        /* Flush when input went quiet, or when the oldest waiting event is due. */
        if (s->out->n > 0) {
            uint64_t delay = (uint64_t)atomic_load(&s->live.batch_max_delay_us) * VX_NS_PER_US;
            if (n <= 0 || vx_mono_ns() - s->out->oldest_ns >= delay) {
                s_flush(s);
            }
        }
        if (s->out->n == 0 && vx_arena_used(s->arena) > 0) {
            vx_arena_reset(s->arena);
        }
        if (s->kafka) {
            vx_kafka_poll(s->kafka, 0);
        }
        s_release_acks(s);
        uint64_t now = vx_mono_ns();
        if (now - last_gauges > 100 * VX_NS_PER_MS) {
            s_update_gauges(s);
            last_gauges = now;
        }
    }

    /* Shutdown: no new input; everything accepted goes out before we return. */
    vx_info("PROP-STOP", "stopping ingest; flushing in-flight events");
    s->shutdown_deadline = vx_mono_ns() + (uint64_t)s->shutdown_timeout_ms * VX_NS_PER_MS;
    zsock_destroy(&s->ingest);
    pthread_mutex_lock(&s->rest_mu);
    s->closing = true;
    pthread_mutex_unlock(&s->rest_mu);
    s_drain_rest(s);
    s_flush(s);
    int rc = 0;
    if (s->kafka) {
        int left = vx_kafka_flush(s->kafka, s->shutdown_timeout_ms);
        if (left > 0) {
            vx_error("PROP-STOP-KAFKA", "%d events not acknowledged by Kafka at shutdown", left);
            rc = -ETIMEDOUT;
        }
        vx_kafka_destroy(&s->kafka, 0);
    }
    /* Answer what was handed on, so producers do not send it again to the next instance. */
    s_release_acks(s);
    if (s->acked) {
        zsock_set_linger(s->acked, 1000);
        zsock_destroy(&s->acked);
    }
    /* Let ZeroMQ deliver what is queued for routing before the socket closes. */
    zsock_set_linger(s->output, s->shutdown_timeout_ms);
    zsock_destroy(&s->output);
    atomic_store(&s->running, false);
    s_update_gauges(s);
    vx_info("PROP-STOPPED", "flushed; %llu events published in total",
            (unsigned long long)vx_counter_value(s->processed));
    return rc;
}

/* ---- REST side ---------------------------------------------------------------------------- */

void
prop_server_submit(prop_server_t *s, vx_event_t *const *events, size_t n, bool durable,
                   struct prop_outcome *out)
{
    memset(out, 0, sizeof *out);
    struct s_submit *r = vx_calloc(1, sizeof *r);
    atomic_init(&r->refs, 2);
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    r->durable = durable && s->kafka_enabled;
    r->ids = json_array();
    vx_batch_t batch = VEXFS__V1__EVENT_BATCH__INIT;
    batch.events = (vx_event_t **)events;
    batch.n_events = n;
    r->len = vexfs__v1__event_batch__get_packed_size(&batch);
    r->packed = vx_malloc(r->len);
    vexfs__v1__event_batch__pack(&batch, r->packed);

    pthread_mutex_lock(&s->rest_mu);
    int sent = -1;
    if (!s->closing) {
        sent = zmq_send(zsock_resolve(s->rest_push), &r, sizeof r, 0);
    }
    bool closing = s->closing;
    pthread_mutex_unlock(&s->rest_mu);
    if (sent != (int)sizeof r) {
        out->status = closing ? -ESHUTDOWN : -EBUSY;
        snprintf(out->message, sizeof out->message, "%s",
                 closing ? "shutting down: not accepting events"
                         : "ingest queue full: retry later");
        vx_counter_add(s_dropped(s, closing ? "shutdown" : "busy"), n);
        s_submit_release(r); /* the loop never saw it */
        /* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): refs was 2; the analyzer ignores atomics */
        s_submit_release(r);
        return;
    }

    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += s->durable_timeout_ms / 1000;
    deadline.tv_nsec += (long)(s->durable_timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&r->mu);
    while (!r->done) {
        if (pthread_cond_timedwait(&r->cv, &r->mu, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    if (r->done) {
        out->status = r->status;
        snprintf(out->message, sizeof out->message, "%s", r->message);
        out->accepted = r->accepted;
        out->duplicates = r->duplicates;
        out->ids = json_incref(r->ids);
    } else {
        out->status = -ETIMEDOUT;
        snprintf(out->message, sizeof out->message,
                 "no acknowledgement within %d ms; the events may still be delivered",
                 s->durable_timeout_ms);
    }
    pthread_mutex_unlock(&r->mu);
    s_submit_release(r);
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
prop_server_count_invalid(prop_server_t *s, const char *reason, size_t n)
{
    vx_counter_add(s_dropped(s, reason), n);
}

json_t *
prop_server_stats(prop_server_t *s)
{
    json_t *dropped = json_object();
    for (size_t i = 0; i < S_N_REASONS; i++) {
        json_object_set_new(dropped, s_reasons[i],
                            json_integer((json_int_t)vx_counter_value(s->dropped[i])));
    }
    json_t *lat = json_pack("{s:f, s:f, s:f, s:I}", "p50_us",
                            vx_histogram_quantile(s->latency, 0.50) * 1e6, "p99_us",
                            vx_histogram_quantile(s->latency, 0.99) * 1e6, "p999_us",
                            vx_histogram_quantile(s->latency, 0.999) * 1e6, "count",
                            (json_int_t)vx_histogram_count(s->latency));
    return json_pack(
        "{s:{s:I, s:I}, s:I, s:I, s:o, s:o, s:I, s:{s:I, s:I, s:I}, s:{s:b, s:s, s:I, s:I, s:I}}",
        "received", "zmq", (json_int_t)vx_counter_value(s->received_zmq), "rest",
        (json_int_t)vx_counter_value(s->received_rest), "propagated",
        (json_int_t)vx_counter_value(s->processed), "deduplicated",
        (json_int_t)vx_counter_value(s->deduplicated), "dropped", dropped, "latency", lat,
        "sequence_gaps", (json_int_t)vx_counter_value(s->seq_gaps), "dedup", "entries",
        (json_int_t)vx_gauge_value(s->dedup_entries), "evictions",
        (json_int_t)vx_gauge_value(s->dedup_evictions), "window_ms",
        (json_int_t)atomic_load(&s->live.dedup_window_ms), "kafka", "enabled", s->kafka_enabled,
        "topic", s->kafka_topic, "delivered", (json_int_t)vx_counter_value(s->kafka_delivered),
        "failed", (json_int_t)vx_counter_value(s->kafka_failed), "inflight",
        (json_int_t)vx_gauge_value(s->kafka_inflight));
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
