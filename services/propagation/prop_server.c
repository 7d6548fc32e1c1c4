/* SPDX-License-Identifier: Apache-2.0 */
/* The propagation loop, its inputs, start and stop (the output is in prop_output.c, the REST
 * side in prop_server_rest.c, the shared state in prop_server_priv.h).
 *
 * Three inputs reach one loop thread: the PULL ingest and the acknowledged ROUTER (batches
 * read through a vx_rx), and REST submissions (vx_call through an inbox). Each batch is
 * validated, deduplicated and stamped event by event; accepted events are appended, as the
 * bytes they arrived in plus their stamp, to one output batch (vx_batchbuf) that is published
 * when it is full, when batch_max_delay_us passed, or when input goes quiet. */
#include "prop_server_priv.h"

#include <czmq.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "vx_ackrx.h"
#include "prop_dedup.h"
#include "prop_dedup_store.h"
#include "prop_identity.h"
#include "prop_stamp.h"
#include "vx_call.h"
#include "vx_clock.h"
#include "vx_drop.h"
#include "vx_kafka.h"
#include "vx_link.h"
#include "vx_log.h"
#include "vx_loop.h"
#include "vx_mem.h"
#include "vx_rx.h"
#include "vx_wire.h"
#include "vx_wire_fast.h"

#define S_ARENA_LIMIT (256u * 1024 * 1024)  /* hard bound on one decoded input batch */
#define S_DRAIN_MAX 256                     /* messages read per socket per loop turn */
#define S_PREFETCH 128                      /* events validated and hashed ahead of dedup */
#define S_ACK_MAX_PENDING 8192              /* acknowledged batches not yet handed on */
#define S_GAUGE_PERIOD_NS (100 * VX_NS_PER_MS)
#define S_IDENTITY_LOG_NS (10 * VX_NS_PER_S) /* refused claims logged at most this often */

/* ---- metrics ------------------------------------------------------------------------------ */

static double
cb_latency_p99_ns(void *arg)
{
    prop_server_t *s = arg;
    return vx_histogram_quantile(s->latency, 0.99) * (double)VX_NS_PER_S;
}

static double
cb_target_throughput(void *arg)
{
    prop_server_t *s = arg;
    return (double)s->cfg.target_throughput;
}

static void
s_metrics_init(prop_server_t *s, vx_metrics_t *m)
{
    const char *received = "Events received, by ingest channel.";
    s->received_zmq = vx_metrics_counter(m, "vexfs_events_received_total", received, "channel",
                                         "zmq", NULL);
    s->received_rest = vx_metrics_counter(m, "vexfs_events_received_total", received, "channel",
                                          "rest", NULL);
    s->processed = vx_metrics_counter(m, "vexfs_events_processed_total",
                                      "Events accepted and published to routing.", NULL);
    s->deduplicated = vx_metrics_counter(m, "vexfs_events_deduplicated_total",
                                         "Events removed as duplicates inside the window.", NULL);
    s->slow = vx_metrics_counter(m, "vexfs_events_slow_total",
                                 "Events slower than max_propagation_latency_ns.", NULL);
    vx_drops_init(&s->drops, m, "vexfs_events_dropped_total", "Events not forwarded, by reason.",
                  PROP_DROP_MASK);
    vx_lost_init(&s->lost_routing, m, "propagation_to_routing", VX_LOST_MASK);
    vx_lost_init(&s->lost_kafka, m, "propagation_to_kafka", VX_DROP_BIT(VX_DROP_KAFKA_FAILED));
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
    double bounds[PROP_LAT_BUCKETS];
    size_t nb = vx_metrics_exp_bounds(bounds, PROP_LAT_BUCKETS, 1e-6, 2.0);
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


/* ---- processing --------------------------------------------------------------------------- */

/* Counts a refused claim and says so, at most every S_IDENTITY_LOG_NS. */
static void
s_identity_refused(prop_server_t *s, const char *peer, const char *why, size_t n)
{
    vx_drops_add(&s->drops, VX_DROP_IDENTITY, n);
    uint64_t now = vx_mono_ns();
    if (now - s->identity_logged_ns < S_IDENTITY_LOG_NS) {
        s->identity_unlogged += n;
        return;
    }
    vx_warn("PROP-IDENTITY", "identity %s: %zu event%s refused (%s); %llu more refused since the "
                             "last report",
            peer, n, n == 1 ? "" : "s", why, (unsigned long long)s->identity_unlogged);
    s->identity_logged_ns = now;
    s->identity_unlogged = 0;
}

/* Validates, deduplicates and stamps every event of a received batch into the output. req is
 * the REST submission the batch came from, or NULL for ZeroMQ ingest. Validation and hashing
 * run S_PREFETCH events ahead of the dedup decisions so the table's cache misses overlap. */
static void
s_process(prop_server_t *s, const struct vx_rx_batch *in, struct prop_submit *req,
          struct vx_ack *ack, int source)
{
    struct prop_out *o = s->out;
    const vx_batch_t *batch = in->batch;
    /* A batch over CURVE names its sender; what that identity may claim is checked per event.
     * An identity the policy does not list may send nothing at all. */
    const struct prop_identity *who = NULL;
    if (in->peer[0]) {
        who = prop_identities_find(s->identities, in->peer);
        if (!who) {
            s_identity_refused(s, in->peer, "not a producer", batch->n_events);
            return;
        }
    }
    const char *tenant = who ? prop_identity_default_tenant(who) : NULL;
    uint64_t mono = vx_mono_ns();
    uint64_t wall = vx_wall_ns();
    uint32_t max = atomic_load(&s->live.batch_max_events);
    bool dedup = atomic_load(&s->live.dedup_enabled);
    prop_dedup_set_window(s->dedup, atomic_load(&s->live.dedup_window_ms) * VX_NS_PER_MS);
    if (max > PROP_OUT_CAP) {
        max = PROP_OUT_CAP;
    }
    uint64_t hashes[S_PREFETCH];
    bool valid[S_PREFETCH];
    for (size_t i = 0; i < batch->n_events; i++) {
        const vx_event_t *e = batch->events[i];
        size_t slot = i % S_PREFETCH;
        if (slot == 0) {
            for (size_t j = i; j < batch->n_events && j < i + S_PREFETCH; j++) {
                char err[256];
                enum vx_drop_reason reason = VX_DROP_BAD_FIELD;
                valid[j - i] =
                    ((in->checked & VX_WIRE_CHECKED_BYTES) ||
                     vx_event_check_bytes(in->events[j].data, in->events[j].len, err, sizeof err,
                                          &reason) == 0) &&
                    vx_event_validate_hash(batch->events[j], in->checked & VX_WIRE_CHECKED_ASCII,
                                           err, sizeof err, &reason,
                                           dedup ? &hashes[j - i] : NULL) == 0;
                if (!valid[j - i]) {
                    vx_drops_add(&s->drops, reason, 1);
                    vx_debug("PROP-INVALID", "event dropped: %s", err);
                } else if (dedup) {
                    prop_dedup_prefetch(s->dedup, hashes[j - i]);
                }
            }
        }
        if (!valid[slot]) {
            continue;
        }
        char why[128];
        if (who && !prop_identity_allows(who, e, why, sizeof why)) {
            s_identity_refused(s, in->peer, why, 1);
            continue;
        }
        if (dedup && prop_dedup_check(s->dedup, hashes[slot], mono)) {
            vx_counter_add(s->deduplicated, 1);
            vx_drops_add(&s->drops, VX_DROP_DUPLICATE, 1);
            if (req) {
                req->duplicates++;
            }
            continue;
        }
        if (o->b.n >= max) {
            prop_output_flush(s);
        }
        if (o->b.n == 0) {
            o->oldest_ns = mono;
        }
        size_t k = o->b.n;
        uint8_t id[VX_EVENT_ID_LEN];
        prop_output_append(s, e, in->events[i], wall, source, tenant, id);
        o->recv_ns[k] = mono;
        o->hash[k] = dedup ? hashes[slot] : 0;
        o->req[k] = req;
        o->ack[k] = ack;
        if (req) {
            char idtext[VX_EVENT_ID_STR];
            vx_event_id_format(id, idtext);
            json_array_append_new(req->ids, json_string(idtext));
            req->accepted++;
        }
    }
    if (!s->cfg.coalesce || o->b.n >= max) {
        prop_output_flush(s);
    }
}

/* Processes one batch of the acknowledged ingest and queues its acknowledgement. */
static void
s_process_acked(prop_server_t *s, const struct vx_rx_batch *in, const uint8_t *id, size_t id_len)
{
    struct vx_ack *ack = NULL;
    if (in->sender[0] && in->batch_seq && !vx_acks_full(s->acks)) {
        ack = vx_acks_push(s->acks, id, id_len, in->batch_seq, 0);
    } else {
        vx_counter_add(s->ack_unsent, 1);
        vx_warn("PROP-ACK-NONE", "batch from %s will not be acknowledged: %s",
                in->sender[0] ? in->sender : "an unnamed sender",
                in->batch_seq ? "too many pending" : "no sender or batch_sequence");
    }
    s_process(s, in, NULL, ack, 0);
    if (ack) {
        /* Handed on once what the output holds now is published (at once when it is empty:
         * every event of the batch was published already, a duplicate or invalid). */
        ack->epoch = s->published_epoch + (s->out->b.n > 0);
    }
}

static void
cb_ingest(void *arg)
{
    prop_server_t *s = arg;
    /* Once a stop is asked for, no more input: what is published until the deadline is what
     * was taken before it. */
    for (int i = 0; i < S_DRAIN_MAX && !prop_server_stopping(s); i++) {
        struct vx_rx_batch in;
        int rc = vx_rx_recv(s->rx_zmq, s->ingest, &in, ZMQ_DONTWAIT);
        if (rc == -EAGAIN || rc == -EINTR) {
            return;
        }
        if (rc == 0) {
            s_process(s, &in, NULL, NULL, 0);
        }
    }
}

/* Acknowledgements from routing and the output's connection events (output_acked). */
static void
cb_link(void *arg)
{
    prop_server_t *s = arg;
    vx_link_pump(s->link, vx_mono_ns());
}

static void
cb_acked(void *arg)
{
    prop_server_t *s = arg;
    for (int i = 0; i < S_DRAIN_MAX && !vx_acks_full(s->acks) && !prop_server_stopping(s); i++) {
        uint8_t id[VX_ACK_ID_MAX];
        size_t id_len = 0;
        zmq_msg_t body;
        int rc = vx_acks_recv(s->acked, id, &id_len, &body);
        if (rc == -EAGAIN) {
            return;
        }
        if (rc < 0) {
            vx_drops_add(&s->drops, VX_DROP_BAD_FRAME, 1);
            vx_warn("PROP-BAD-FRAME", "acknowledged ingest: message without exactly topic + "
                                      "batch frames dropped");
            continue;
        }
        struct vx_rx_batch in;
        if (vx_rx_bytes(s->rx_zmq, zmq_msg_data(&body), zmq_msg_size(&body), true,
                        vx_rx_msg_peer(&body), &in) == 0) {
            s_process_acked(s, &in, id, id_len);
        }
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
    /* With the acknowledged output, a batch is handed on once routing acknowledged it. */
    uint64_t handed = s->link ? vx_link_done(s->link) : s->published_epoch;
    size_t n = vx_acks_release(s->acks, handed, s->acked);
    if (n) {
        vx_counter_add(s->acks_sent, n);
    }
}

static void
s_handle_submit(prop_server_t *s, struct prop_submit *r)
{
    struct vx_rx_batch in;
    if (vx_rx_bytes(s->rx_rest, r->packed, r->len, false, NULL, &in) == 0) {
        s_process(s, &in, r, NULL, VEXFS__V1__BOUNDARY__USERSPACE_API);
    } else {
        r->status = -EPROTO;
        snprintf(r->message, sizeof r->message, "the events could not be encoded as a batch");
    }
    /* A REST caller waits: publish now rather than when the batch fills. */
    prop_output_flush(s);
    if (r->pending == 0) {
        vx_call_done(&r->call);
    }
}

static void
cb_rest(void *arg)
{
    prop_server_t *s = arg;
    for (int i = 0; i < S_DRAIN_MAX; i++) {
        struct vx_call *c = vx_inbox_take(s->rest);
        if (!c) {
            return;
        }
        s_handle_submit(s, (struct prop_submit *)c);
    }
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

static zsock_t *
s_open(prop_server_t *s, const vx_socks_t *socks, int type, const char *endpoint, char *bound,
       size_t boundlen, char *err, size_t errlen)
{
    struct vx_sock_spec spec = {
        .type = type,
        .endpoint = endpoint,
        .bind = true,
        .sndhwm = s->cfg.queue_hwm,
        .rcvhwm = s->cfg.queue_hwm,
    };
    return vx_sock_open(socks, &spec, bound, boundlen, err, errlen);
}

/* The producer id stamped on every event: producer_id, else "propagation-<host>". */
static void
s_producer_id_init(prop_server_t *s, const struct prop_config *cfg)
{
    if (cfg->producer_id[0]) {
        snprintf(s->producer_id, sizeof s->producer_id, "%s", cfg->producer_id);
    } else {
        char host[256] = "localhost";
        gethostname(host, sizeof host - 1);
        snprintf(s->producer_id, sizeof s->producer_id, "propagation-%s", host);
    }
    s->producer_id_len = strlen(s->producer_id);
    s->stamper.producer_id = s->producer_id;
}

/* The dedup window, restored from state_dir when there is one. */
static int
s_dedup_init(prop_server_t *s, const struct prop_config *cfg, vx_metrics_t *metrics, char *err,
             size_t errlen)
{
    s->dedup = prop_dedup_new((size_t)cfg->dedup_max_entries,
                              (uint64_t)cfg->dedup_window_ms * VX_NS_PER_MS);
    if (cfg->state_dir && cfg->state_dir[0]) {
        s->dedup_store = prop_dedup_store_new(cfg->state_dir, cfg->sealer, metrics, err, errlen);
        if (!s->dedup_store) {
            return -1;
        }
        char lerr[1024];
        long n = prop_dedup_store_load(s->dedup_store, s->dedup, lerr, sizeof lerr);
        if (n < 0) {
            /* The window is a guard against copies, not data: start with an empty one (the
             * next checkpoint replaces the file) rather than not at all. */
            vx_error("PROP-DEDUP-LOAD", "dedup window not restored, starting empty: %s", lerr);
        } else {
            vx_info("PROP-DEDUP-RESTORED", "dedup window: %ld content hashes restored from %s",
                    n, cfg->state_dir);
        }
        s->dedup_saved_ns = vx_mono_ns();
    }
    return 0;
}

/* The ingest sockets: the PULL every producer sends to and, with ingest_acked_endpoint, the
 * ROUTER whose batches are acknowledged once accepted. */
static int
s_inputs_open(prop_server_t *s, const struct prop_config *cfg, const vx_socks_t *socks,
              char *err, size_t errlen)
{
    s->ingest = s_open(s, socks, ZMQ_PULL, cfg->ingest_endpoint, s->ingest_ep,
                       sizeof s->ingest_ep, err, errlen);
    if (!s->ingest) {
        return -1;
    }
    vx_loop_reader(s->loop, s->ingest, cb_ingest, s);
    if (cfg->ingest_acked_endpoint[0]) {
        s->acked = s_open(s, socks, ZMQ_ROUTER, cfg->ingest_acked_endpoint, s->acked_ep,
                          sizeof s->acked_ep, err, errlen);
        if (!s->acked) {
            return -1;
        }
        zsock_set_sndhwm(s->acked, 0); /* acknowledgements are bounded by S_ACK_MAX_PENDING */
        s->acks = vx_acks_new(S_ACK_MAX_PENDING);
        s->acked_reader = vx_loop_reader(s->loop, s->acked, cb_acked, s);
    }
    return 0;
}

/* The output to routing: the acknowledged link (output_acked), which resends until routing
 * confirms, or a plain PUSH. */
static int
s_output_open(prop_server_t *s, const struct prop_config *cfg, const vx_socks_t *socks,
              vx_metrics_t *metrics, char *err, size_t errlen)
{
    if (cfg->output_acked) {
        /* A sender id of this run: a restarted propagation numbers its batches from 1 again,
         * which routing must not take for resends of the old run's batches. */
        vx_link_run_sender(s->link_sender, sizeof s->link_sender, s->producer_id);
        struct vx_link_config lc = {
            .ingest_endpoint = cfg->output_endpoint,
            .ack_endpoint = cfg->output_endpoint,
            .ack_window_batches = cfg->output_ack_window_batches,
            .ack_timeout_ms = cfg->output_ack_timeout_ms,
            .buffer_max_batches = cfg->output_buffer_max_batches,
            .retry_interval_ms = 10,
            .bind = true,
            .hop = "propagation_to_routing", /* shares propagation's own lost_routing series */
        };
        s->link = vx_link_new(&lc, socks, "vexfs_propagation_output",
                              "Output batches' events given up on by the acknowledged output, "
                              "by reason.",
                              metrics, err, errlen);
        if (!s->link) {
            return -1;
        }
        snprintf(s->output_ep, sizeof s->output_ep, "%s", vx_link_endpoint(s->link));
        zsock_t *ls[2];
        size_t nls = vx_link_socks(s->link, ls);
        for (size_t i = 0; i < nls; i++) {
            vx_loop_reader(s->loop, ls[i], cb_link, s);
        }
    } else {
        s->output = s_open(s, socks, ZMQ_PUSH, cfg->output_endpoint, s->output_ep,
                           sizeof s->output_ep, err, errlen);
        if (!s->output) {
            return -1;
        }
        zsock_set_sndtimeo(s->output, 100);
    }
    return 0;
}

/* The tap, the REST hand-over inbox and the Kafka journal. */
static int
s_side_open(prop_server_t *s, const struct prop_config *cfg, const vx_socks_t *socks,
            char *err, size_t errlen)
{
    if (cfg->tap_endpoint[0]) {
        s->tap = s_open(s, socks, ZMQ_PUB, cfg->tap_endpoint, s->tap_ep, sizeof s->tap_ep, err,
                        errlen);
        if (!s->tap) {
            return -1;
        }
    }
    char name[64];
    snprintf(name, sizeof name, "prop-rest-%p", (void *)s);
    s->rest = vx_inbox_new(socks, name);
    if (!s->rest) {
        snprintf(err, errlen, "cannot create the REST hand-over socket");
        return -1;
    }
    vx_loop_reader(s->loop, vx_inbox_sock(s->rest), cb_rest, s);

    if (cfg->kafka_brokers[0]) {
        char kerr[512];
        s->kafka = vx_kafka_new(cfg->kafka_brokers, cfg->kafka_security,
                                cfg->kafka_message_timeout_ms, NULL, prop_output_cb_delivery, s, kerr,
                                sizeof kerr);
        if (!s->kafka) {
            snprintf(err, errlen, "kafka: %s", kerr);
            return -1;
        }
        s->kafka_enabled = true;
    }
    return 0;
}

/* Builds the server in named steps; every socket is registered with the loop as it opens, so
 * a failure at any step leaves a server prop_server_destroy can take apart. */
prop_server_t *
prop_server_new(const struct prop_config *cfg, const vx_socks_t *socks, vx_metrics_t *metrics,
                char *err, size_t errlen)
{
    prop_server_t *s = vx_calloc(1, sizeof *s);
    s->cfg = *cfg;
    prop_live_load(&s->live, cfg);
    s_metrics_init(s, metrics);
    s->loop = vx_loop_new();
    s->acked_reader = -1;
    s_producer_id_init(s, cfg);
    if (s_dedup_init(s, cfg, metrics, err, errlen) < 0) {
        goto fail;
    }
    s->identities = prop_identities_load(cfg->producer_identities_file, err, errlen);
    if (!s->identities) {
        goto fail;
    }
    struct vx_rx_opts rxo = {.max_events = PROP_OUT_CAP, .decode = true,
                             .arena_limit = S_ARENA_LIMIT};
    struct vx_rx_counters zc = {.drops = &s->drops, .batches = s->batches_in,
                                .events = s->received_zmq, .gaps = s->seq_gaps,
                                .replayed = s->replayed};
    struct vx_rx_counters rc = {.drops = &s->drops, .events = s->received_rest};
    s->rx_zmq = vx_rx_new("ingest", &rxo, &zc);
    s->rx_rest = vx_rx_new("rest", &rxo, &rc);
    s->out = vx_calloc(1, sizeof *s->out);

    if (s_inputs_open(s, cfg, socks, err, errlen) < 0 ||
        s_output_open(s, cfg, socks, metrics, err, errlen) < 0 ||
        s_side_open(s, cfg, socks, err, errlen) < 0) {
        goto fail;
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
    vx_loop_destroy(&s->loop);
    zsock_destroy(&s->ingest);
    zsock_destroy(&s->acked);
    vx_acks_destroy(&s->acks);
    zsock_destroy(&s->output);
    vx_link_destroy(&s->link);
    zsock_destroy(&s->tap);
    vx_inbox_destroy(&s->rest);
    prop_dedup_store_destroy(&s->dedup_store);
    prop_dedup_destroy(&s->dedup);
    prop_identities_destroy(&s->identities);
    vx_rx_destroy(&s->rx_zmq);
    vx_rx_destroy(&s->rx_rest);
    if (s->out) {
        vx_batchbuf_fini(&s->out->b);
    }
    free(s->out);
    free(s->scratch);
    vx_free(sp);
}

static void
s_update_gauges(prop_server_t *s)
{
    vx_gauge_set(s->dedup_entries, (double)prop_dedup_size(s->dedup));
    vx_gauge_set(s->dedup_evictions, (double)prop_dedup_evictions(s->dedup));
    if (s->kafka) {
        vx_gauge_set(s->kafka_inflight, (double)vx_kafka_inflight(s->kafka));
        atomic_store(&s->kafka_fatal, !vx_kafka_healthy(s->kafka));
    }
    if (s->acks) {
        vx_gauge_set(s->acks_pending, (double)vx_acks_pending(s->acks));
    }
}

/* When the oldest event of the output batch is due (monotonic ns); UINT64_MAX when empty. */
static uint64_t
s_flush_due(prop_server_t *s)
{
    if (s->out->b.n == 0) {
        return UINT64_MAX;
    }
    return s->out->oldest_ns + (uint64_t)atomic_load(&s->live.batch_max_delay_us) * VX_NS_PER_US;
}

/* Every dedup_checkpoint_ms, when events arrived since the last one, hands a snapshot of the
 * dedup window to the store's writer: what a kill -9 forgets of the window is bounded by that
 * period. */
static void
s_dedup_checkpoint(prop_server_t *s, uint64_t now)
{
    if (!s->dedup_store || s->cfg.dedup_checkpoint_ms == 0 ||
        now - s->dedup_saved_ns < (uint64_t)s->cfg.dedup_checkpoint_ms * VX_NS_PER_MS) {
        return;
    }
    uint64_t input = vx_counter_value(s->received_zmq) + vx_counter_value(s->received_rest);
    if (input != s->dedup_saved_input) {
        prop_dedup_store_checkpoint(s->dedup_store, s->dedup);
        s->dedup_saved_input = input;
    }
    s->dedup_saved_ns = now;
}

/* output_acked, at stop: pumps the link until routing acknowledged everything held, or the
 * shutdown deadline. */
static void
s_link_drain(prop_server_t *s)
{
    while (vx_link_held(s->link) > 0 && vx_mono_ns() < s->shutdown_deadline) {
        vx_link_pump(s->link, vx_mono_ns());
        zmq_pollitem_t items[2];
        size_t k = vx_link_pollitems(s->link, items);
        long left = vx_ms_until(s->shutdown_deadline);
        zmq_poll(items, (int)k, left < 10 ? left : 10);
    }
    vx_link_pump(s->link, vx_mono_ns());
}

/* Stops ingest and flushes everything accepted, within shutdown_timeout_ms. */
static int
s_shutdown(prop_server_t *s)
{
    vx_info("PROP-STOP", "stopping ingest; flushing in-flight events");
    if (!s->shutdown_deadline) {
        s->shutdown_deadline = vx_deadline_ms((uint64_t)s->cfg.shutdown_timeout_ms);
    }
    zsock_destroy(&s->ingest);
    vx_inbox_close(s->rest);
    cb_rest(s);
    prop_output_flush(s);
    int rc = 0;
    if (s->kafka) {
        long left_ms = vx_ms_until(s->shutdown_deadline);
        int left = vx_kafka_flush(s->kafka, (int)left_ms);
        if (left > 0) {
            vx_error("PROP-STOP-KAFKA", "%d events not acknowledged by Kafka at shutdown", left);
            rc = -ETIMEDOUT;
        }
        vx_kafka_destroy(&s->kafka, 0);
    }
    if (s->link) {
        s_link_drain(s);
    }
    /* Answer what was handed on, so producers do not send it again to the next instance. */
    s_release_acks(s);
    if (s->link) {
        size_t lost = vx_link_abandon(s->link);
        s->acks_broken = true; /* what was abandoned must never be acknowledged */
        if (lost) {
            vx_drops_add(&s->drops, VX_DROP_SHUTDOWN, lost);
            vx_error("PROP-STOP-OUTPUT", "%zu events not acknowledged by routing by the "
                                         "shutdown deadline (counted as dropped, reason "
                                         "shutdown; their producers' batches stay "
                                         "unacknowledged)",
                     lost);
        }
    }
    if (s->acked) {
        zsock_set_linger(s->acked, 1000);
        zsock_destroy(&s->acked);
    }
    /* Let ZeroMQ deliver what is queued for routing before the socket closes. */
    if (s->output) {
        zsock_set_linger(s->output, (int)vx_ms_until(s->shutdown_deadline));
        zsock_destroy(&s->output);
    }
    if (s->dedup_store) {
        /* After the flush: what could not be published was forgotten, so a copy sent to the
         * next instance is published, not taken for a duplicate. */
        char derr[1024];
        if (prop_dedup_store_save(s->dedup_store, s->dedup, derr, sizeof derr) < 0) {
            vx_error("PROP-DEDUP-SAVE", "dedup window not saved: %s", derr);
        } else {
            vx_info("PROP-DEDUP-SAVED", "dedup window saved: %zu content hashes",
                    prop_dedup_size(s->dedup));
        }
    }
    atomic_store(&s->running, false);
    s_update_gauges(s);
    uint64_t lost = vx_drops_value(&s->lost_routing, VX_DROP_SHUTDOWN) +
                    vx_drops_value(&s->lost_routing, VX_DROP_SEND_FAILED);
    uint64_t lost_kafka = vx_drops_value(&s->lost_kafka, VX_DROP_KAFKA_FAILED);
    vx_info("PROP-STOPPED", "flushed; %llu events published in total; lost: %llu to routing, "
                            "%llu to kafka",
            (unsigned long long)vx_counter_value(s->processed), (unsigned long long)lost,
            (unsigned long long)lost_kafka);
    return rc;
}

int
prop_server_run(prop_server_t *s, volatile sig_atomic_t *stop)
{
    s->stop = stop;
    uint64_t last_gauges = 0;
    vx_info("PROP-RUN", "producer %s: ingest %s, acknowledged ingest %s, output %s, tap %s, kafka %s",
            s->producer_id, s->ingest_ep, s->acked ? s->acked_ep : "off", s->output_ep,
            s->tap ? s->tap_ep : "off", s->kafka ? s->cfg.kafka_topic : "off");
    while (!*stop) {
        uint64_t due = s_flush_due(s);
        long timeout = due == UINT64_MAX ? 100 : vx_ms_until(due);
        if (s->link) {
            uint64_t wake = vx_link_wake_ns(s->link);
            if (wake != UINT64_MAX && vx_ms_until(wake) < timeout) {
                timeout = vx_ms_until(wake);
            }
        }
        /* While too many acknowledgements are pending the ROUTER is not read: its high-water
         * mark then holds the producers back. */
        if (s->acked) {
            vx_loop_enable(s->loop, s->acked_reader, !vx_acks_full(s->acks));
        }
        int n = vx_loop_wait(s->loop, timeout);
        if (n < 0 && n != -EINTR) {
            vx_error("PROP-POLL", "zmq_poll: %s", zmq_strerror(-n));
            break;
        }
        /* Flush when input went quiet, or when the oldest waiting event is due. */
        if (s->out->b.n > 0 && (n <= 0 || vx_mono_ns() >= s_flush_due(s))) {
            prop_output_flush(s);
        }
        if (s->kafka) {
            vx_kafka_poll(s->kafka, 0);
        }
        if (s->link) {
            vx_link_pump(s->link, vx_mono_ns()); /* timeouts and resends */
        }
        s_release_acks(s);
        uint64_t now = vx_mono_ns();
        s_dedup_checkpoint(s, now);
        if (now - last_gauges > S_GAUGE_PERIOD_NS) {
            s_update_gauges(s);
            last_gauges = now;
        }
    }
    return s_shutdown(s);
}
