/* SPDX-License-Identifier: Apache-2.0 */
/* The link to propagation: buffer, window, acknowledgements, resends (see vx_link.h). */
#include "vx_link.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vx_clock.h"
#include "vx_drop.h"
#include "vx_log.h"
#include "vx_mem.h"
#include "vx_rx.h"
#include "vx_wire.h"

#define S_TOPIC "events"
#define S_SNDHWM 64     /* plain mode: batches inside ZeroMQ; the rest wait in the buffer */
#define S_ACK_FRAME "ack"
/* How often a link with batches in flight asks the socket monitor about dropped connections
 * when nothing else wakes it. */
#define S_DROP_CHECK_NS (100 * VX_NS_PER_MS)

enum { S_WAIT, S_SENT, S_DONE };

struct s_slot {
    uint8_t *data;
    size_t len;
    size_t n_events;
    uint64_t seq;
    uint64_t sent_ns;
    int state;
    bool sent_before; /* a send of this batch already left: the next one is a resend */
};

struct vx_link {
    bool acked;
    size_t cap, window;
    uint64_t retry_ns, timeout_ns;
    const vx_socks_t *socks; /* borrowed: its socket monitor counts the DEALER's drops */
    zsock_t *sock;
    uint64_t drops_seen;     /* the monitor's count of dropped connections, last read */
    char endpoint[256];      /* bound or connected (a wildcard port resolved) */
    bool bound;              /* cfg->bind: receivers connect to this link */
    uint64_t pumped_ns;      /* the last vx_link_pump */
    struct s_slot *slots;
    size_t head, count, inflight;
    uint64_t batch_seq;
    uint64_t put_batches, done_batches;
    uint64_t next_try_ns;
    uint64_t timeout_log_ns; /* last VX-LINK-TIMEOUT line: at most one a second */
    size_t timeouts_unlogged;
    vx_counter_t *sent_events, *sent_batches, *retries, *send_failed, *acked_events,
        *resent_events, *resent_batches, *resets, *backpressure;
    vx_gauge_t *buffered, *unacked;
    struct vx_drops lost; /* vexfs_events_lost_total{hop="producer_to_propagation"} */
};

static struct s_slot *
s_at(vx_link_t *l, size_t i)
{
    return &l->slots[(l->head + i) % l->cap];
}

static void
s_gauges(vx_link_t *l)
{
    vx_gauge_set(l->buffered, (double)l->count);
    vx_gauge_set(l->unacked, (double)l->inflight);
}

static void
s_pop_done(vx_link_t *l)
{
    while (l->count > 0 && l->slots[l->head].state == S_DONE) {
        free(l->slots[l->head].data);
        l->slots[l->head].data = NULL;
        l->head = (l->head + 1) % l->cap;
        l->count--;
        l->done_batches++;
    }
    s_gauges(l);
}

/* ---- acknowledgements and connection events ---------------------------------------------- */

static void
s_ack(vx_link_t *l, uint64_t seq)
{
    if (l->count == 0) {
        return;
    }
    uint64_t first = l->slots[l->head].seq;
    if (seq < first || seq - first >= l->count) {
        vx_debug("VX-LINK-ACK-LATE", "acknowledgement of batch %llu, no longer held",
                 (unsigned long long)seq);
        return;
    }
    struct s_slot *p = s_at(l, (size_t)(seq - first));
    if (p->state == S_DONE) {
        return;
    }
    if (p->state == S_SENT) {
        l->inflight--;
    }
    p->state = S_DONE;
    vx_counter_add(l->acked_events, p->n_events);
}

static void
s_read_acks(vx_link_t *l)
{
    void *z = zsock_resolve(l->sock);
    for (;;) {
        zmq_msg_t f[2];
        int nf = 0;
        bool more = true;
        bool bad = false;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, z, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&m);
                if (nf == 0) {
                    return; /* EAGAIN: nothing more */
                }
                bad = true;
                break;
            }
            more = zmq_msg_more(&m);
            if (nf < 2) {
                f[nf++] = m;
            } else {
                zmq_msg_close(&m);
                bad = true;
            }
        }
        if (!bad && nf == 2 && zmq_msg_size(&f[0]) == strlen(S_ACK_FRAME) &&
            memcmp(zmq_msg_data(&f[0]), S_ACK_FRAME, strlen(S_ACK_FRAME)) == 0 &&
            zmq_msg_size(&f[1]) == 8) {
            const uint8_t *b = zmq_msg_data(&f[1]);
            uint64_t seq = 0;
            for (int i = 7; i >= 0; i--) {
                seq = seq << 8 | b[i];
            }
            s_ack(l, seq);
        } else {
            vx_warn("VX-LINK-BAD-ACK", "unexpected message from propagation ignored");
        }
        for (int i = 0; i < nf; i++) {
            zmq_msg_close(&f[i]);
        }
    }
}

/* Every batch sent and not acknowledged goes back to waiting: what was in the dropped
 * connection is gone. */
static void
s_requeue_inflight(vx_link_t *l, const char *why)
{
    size_t n = 0;
    for (size_t i = 0; i < l->count && l->inflight > 0; i++) {
        struct s_slot *p = s_at(l, i);
        if (p->state == S_SENT) {
            p->state = S_WAIT;
            l->inflight--;
            n++;
        }
    }
    if (n) {
        vx_counter_add(l->resets, 1);
        vx_warn("VX-LINK-RESEND", "%s: %zu unacknowledged batches will be sent again", why, n);
    }
    l->next_try_ns = 0;
}

/* The factory's socket monitor (the DEALER's only one: a monitor of the link's own would
 * replace it, and the refused handshakes it counts would go unseen) counts dropped
 * connections; a new drop took the unacknowledged batches with it. */
static void
s_check_drops(vx_link_t *l)
{
    uint64_t drops = vx_sock_disconnects(l->socks, l->sock);
    if (drops != l->drops_seen) {
        l->drops_seen = drops;
        s_requeue_inflight(l, l->bound ? "a receiver's connection lost"
                                       : "connection to propagation lost");
    }
}

static void
s_timeouts(vx_link_t *l, uint64_t now)
{
    size_t seen = 0, n = 0;
    for (size_t i = 0; i < l->count && seen < l->inflight; i++) {
        struct s_slot *p = s_at(l, i);
        if (p->state != S_SENT) {
            continue;
        }
        seen++;
        if (now - p->sent_ns >= l->timeout_ns) {
            p->state = S_WAIT;
            n++;
        }
    }
    if (n) {
        l->inflight -= n;
        l->timeouts_unlogged += n;
    }
    if (l->timeouts_unlogged && now - l->timeout_log_ns >= VX_NS_PER_S) {
        vx_info("VX-LINK-TIMEOUT", "%zu batches unacknowledged after %llu ms; sending again",
                l->timeouts_unlogged, (unsigned long long)(l->timeout_ns / VX_NS_PER_MS));
        l->timeouts_unlogged = 0;
        l->timeout_log_ns = now;
    }
}

/* ---- sending ----------------------------------------------------------------------------- */

static void
s_send(vx_link_t *l, uint64_t now)
{
    if (now < l->next_try_ns) {
        return;
    }
    for (size_t i = 0; i < l->count && (!l->acked || l->inflight < l->window); i++) {
        struct s_slot *p = s_at(l, i);
        if (p->state != S_WAIT) {
            continue;
        }
        int rc = vx_wire_send_packed(l->sock, S_TOPIC, p->data, p->len, ZMQ_DONTWAIT);
        if (rc == -EAGAIN || rc == -EINTR) {
            /* Propagation is away or full: keep the batch and offer it again later. */
            vx_counter_add(l->retries, 1);
            l->next_try_ns = now + l->retry_ns;
            return;
        }
        if (rc < 0) {
            vx_counter_add(l->send_failed, p->n_events);
            vx_drops_add(&l->lost, VX_DROP_SEND_FAILED, p->n_events);
            vx_error("VX-LINK-SEND", "batch of %zu events dropped: %s", p->n_events,
                     zmq_strerror(-rc));
            p->state = S_DONE;
            continue;
        }
        if (p->sent_before) {
            vx_counter_add(l->resent_events, p->n_events);
            vx_counter_add(l->resent_batches, 1);
        } else {
            vx_counter_add(l->sent_events, p->n_events);
            vx_counter_add(l->sent_batches, 1);
        }
        p->sent_before = true;
        if (l->acked) {
            p->state = S_SENT;
            p->sent_ns = now;
            l->inflight++;
        } else {
            p->state = S_DONE; /* ZeroMQ has it: nothing more to know */
        }
    }
}

void
vx_link_pump(vx_link_t *l, uint64_t now)
{
    l->pumped_ns = now;
    if (l->acked) {
        s_check_drops(l);
        s_read_acks(l);
        s_timeouts(l, now);
    }
    s_send(l, now);
    if (l->acked) {
        s_read_acks(l); /* ZMQ_FD is edge-triggered: leave nothing readable behind */
    }
    s_pop_done(l);
}

uint64_t
vx_link_wake_ns(const vx_link_t *l)
{
    uint64_t wake = UINT64_MAX;
    size_t seen = 0;
    bool waiting = false;
    for (size_t i = 0; i < l->count; i++) {
        const struct s_slot *p = &l->slots[(l->head + i) % l->cap];
        if (p->state == S_WAIT) {
            waiting = true;
        } else if (p->state == S_SENT) {
            seen++;
            if (p->sent_ns + l->timeout_ns < wake) {
                wake = p->sent_ns + l->timeout_ns;
            }
        }
        if (waiting && seen >= l->inflight) {
            break;
        }
    }
    if (waiting && (!l->acked || l->inflight < l->window) && l->next_try_ns < wake) {
        wake = l->next_try_ns;
    }
    if (l->inflight > 0 && l->pumped_ns + S_DROP_CHECK_NS < wake) {
        wake = l->pumped_ns + S_DROP_CHECK_NS; /* a dropped connection is seen this soon */
    }
    return wake;
}

size_t
vx_link_pollitems(vx_link_t *l, zmq_pollitem_t *items)
{
    if (!l->acked) {
        return 0;
    }
    items[0] = (zmq_pollitem_t){zsock_resolve(l->sock), 0, ZMQ_POLLIN, 0};
    return 1;
}

size_t
vx_link_socks(vx_link_t *l, zsock_t **out)
{
    if (!l->acked) {
        return 0;
    }
    out[0] = l->sock;
    return 1;
}

const uint8_t *
vx_link_last_put(const vx_link_t *l, size_t *len)
{
    if (l->count == 0) {
        *len = 0;
        return NULL;
    }
    const struct s_slot *p = &l->slots[(l->head + l->count - 1) % l->cap];
    *len = p->len;
    return p->data;
}

/* ---- buffer ------------------------------------------------------------------------------ */

size_t
vx_link_room(const vx_link_t *l)
{
    return l->cap - l->count;
}

uint64_t
vx_link_done(const vx_link_t *l)
{
    return l->done_batches;
}

size_t
vx_link_held(const vx_link_t *l)
{
    return l->count;
}

void
vx_link_count_backpressure(vx_link_t *l)
{
    vx_counter_add(l->backpressure, 1);
}

void
vx_link_put(vx_link_t *l, vx_event_t **events, size_t n, const char *sender)
{
    vx_batch_t b;
    vexfs__v1__event_batch__init(&b);
    b.events = events;
    b.n_events = n;
    b.sender = (char *)sender;
    b.batch_sequence = ++l->batch_seq;
    struct s_slot p = {.n_events = n, .seq = b.batch_sequence, .state = S_WAIT};
    p.len = vexfs__v1__event_batch__get_packed_size(&b);
    p.data = vx_malloc(p.len ? p.len : 1);
    vexfs__v1__event_batch__pack(&b, p.data);
    l->slots[(l->head + l->count) % l->cap] = p;
    l->count++;
    l->put_batches++;
    s_gauges(l);
}

void
vx_link_put_batch(vx_link_t *l, struct vx_batchbuf *b, const char *sender)
{
    struct s_slot p = {.n_events = b->n, .seq = ++l->batch_seq, .state = S_WAIT};
    p.len = vx_batchbuf_seal(b, sender, strlen(sender), p.seq);
    p.data = b->buf; /* the slot takes the builder's memory */
    *b = (struct vx_batchbuf){0};
    l->slots[(l->head + l->count) % l->cap] = p;
    l->count++;
    l->put_batches++;
    s_gauges(l);
}

void
vx_link_stats(const vx_link_t *l, struct vx_link_stats *out)
{
    *out = (struct vx_link_stats){
        .put_batches = l->put_batches,
        .done_batches = l->done_batches,
        .sent_events = vx_counter_value(l->sent_events),
        .sent_batches = vx_counter_value(l->sent_batches),
        .acked_events = vx_counter_value(l->acked_events),
        .resent_events = vx_counter_value(l->resent_events),
        .resent_batches = vx_counter_value(l->resent_batches),
        .dropped_events = vx_counter_value(l->send_failed),
        .resets = vx_counter_value(l->resets),
        .held = l->count,
        .unacked = l->inflight,
    };
}

size_t
vx_link_abandon(vx_link_t *l)
{
    size_t lost = 0;
    for (size_t i = 0; i < l->count; i++) {
        struct s_slot *p = s_at(l, i);
        if (p->state != S_DONE) {
            lost += p->n_events;
            p->state = S_DONE;
        }
    }
    l->inflight = 0;
    s_pop_done(l);
    vx_drops_add(&l->lost, VX_DROP_SHUTDOWN, lost);
    return lost;
}

/* ---- life cycle -------------------------------------------------------------------------- */

static void
s_metrics(vx_link_t *l, const char *prefix, const char *dropped_help, const char *hop,
          vx_metrics_t *m)
{
    char name[160];
#define S_NAME(suffix) (snprintf(name, sizeof name, "%s_%s", prefix, suffix), name)
    l->sent_events = vx_metrics_counter(m, S_NAME("events_sent_total"),
                                        "Events handed to ZeroMQ for propagation (first sends).",
                                        NULL);
    l->sent_batches = vx_metrics_counter(m, S_NAME("batches_sent_total"),
                                         "Batches handed to ZeroMQ for propagation (first sends).",
                                         NULL);
    l->retries = vx_metrics_counter(m, S_NAME("send_retries_total"),
                                    "Times propagation could not take a batch yet.", NULL);
    l->send_failed = vx_metrics_counter(m, S_NAME("events_dropped_total"), dropped_help, "reason",
                                        "send_error", NULL);
    vx_lost_init(&l->lost, m, hop, VX_LOST_MASK);
    l->acked_events = vx_metrics_counter(m, S_NAME("events_acked_total"),
                                         "Events propagation acknowledged (ack_endpoint).", NULL);
    l->resent_events = vx_metrics_counter(m, S_NAME("events_resent_total"),
                                          "Events sent again after an acknowledgement timeout "
                                          "or a lost connection.",
                                          NULL);
    l->resent_batches = vx_metrics_counter(m, S_NAME("batches_resent_total"),
                                           "Batches sent again after an acknowledgement timeout "
                                           "or a lost connection.",
                                           NULL);
    l->resets = vx_metrics_counter(m, S_NAME("link_resets_total"),
                                   "Lost connections to propagation with batches unacknowledged.",
                                   NULL);
    l->backpressure = vx_metrics_counter(m, S_NAME("backpressure_total"),
                                         "Times input was paused because the batch buffer was "
                                         "full.",
                                         NULL);
    l->buffered = vx_metrics_gauge(m, S_NAME("buffered_batches"),
                                   "Batches held: waiting, or sent and not acknowledged.", NULL);
    l->unacked = vx_metrics_gauge(m, S_NAME("unacked_batches"),
                                  "Batches sent and not yet acknowledged.", NULL);
#undef S_NAME
}

vx_link_t *
vx_link_new(const struct vx_link_config *cfg, const vx_socks_t *socks, const char *prefix,
             const char *dropped_help, vx_metrics_t *m, char *err, size_t errlen)
{
    vx_link_t *l = vx_calloc(1, sizeof *l);
    l->cap = (size_t)cfg->buffer_max_batches;
    l->window = (size_t)cfg->ack_window_batches;
    l->retry_ns = (uint64_t)cfg->retry_interval_ms * VX_NS_PER_MS;
    l->timeout_ns = (uint64_t)cfg->ack_timeout_ms * VX_NS_PER_MS;
    l->slots = vx_calloc(l->cap, sizeof *l->slots);
    l->socks = socks;
    s_metrics(l, prefix, dropped_help, cfg->hop ? cfg->hop : "producer_to_propagation", m);

    l->acked = cfg->ack_endpoint[0] != '\0';
    const char *ep = l->acked ? cfg->ack_endpoint : cfg->ingest_endpoint;
    const char *key = l->acked ? "ack_endpoint" : "ingest_endpoint";
    /* Queue only to a live connection (immediate): while propagation is away, batches stay in
     * the counted buffer instead of a pipe that dies with the connection. In acked mode the
     * window bounds what ZeroMQ holds; acknowledgements are few and must not be dropped. */
    struct vx_sock_spec spec = {
        .type = l->acked ? ZMQ_DEALER : ZMQ_PUSH,
        .endpoint = ep,
        .sndhwm = l->acked ? (int)l->window + 1 : S_SNDHWM,
        .rcvhwm = VX_SOCK_HWM_NONE,
        .linger_ms = 2000,
        .immediate = true,
        .reconnect_ivl_ms = 100,
        .reconnect_ivl_max_ms = 1000,
        .watch = l->acked, /* its drops are read from the factory's monitor, metrics or not */
        .bind = l->acked && cfg->bind,
    };
    char serr[512];
    snprintf(l->endpoint, sizeof l->endpoint, "%s", ep);
    l->bound = spec.bind;
    l->sock = vx_sock_open(socks, &spec, l->endpoint, sizeof l->endpoint, serr, sizeof serr);
    if (!l->sock) {
        snprintf(err, errlen, "%s: %s", key, serr);
        vx_link_destroy(&l);
        return NULL;
    }
    vx_info("VX-LINK", "%s %s %s", l->acked ? "acknowledged batches" : "PUSH",
            spec.bind ? "to receivers connecting at" : "to propagation at", l->endpoint);
    return l;
}

const char *
vx_link_endpoint(const vx_link_t *l)
{
    return l->endpoint;
}

void
vx_link_destroy(vx_link_t **lp)
{
    vx_link_t *l = *lp;
    if (!l) {
        return;
    }
    zsock_destroy(&l->sock);
    for (size_t i = 0; i < l->count; i++) {
        free(s_at(l, i)->data);
    }
    free(l->slots);
    free(l);
    *lp = NULL;
}

void
vx_link_run_sender(char *out, size_t cap, const char *base)
{
    char run[24];
    int rlen = snprintf(run, sizeof run, "@%llx", (unsigned long long)vx_wall_ns());
    size_t room = cap - 1 < VX_RX_SENDER_MAX ? cap - 1 : VX_RX_SENDER_MAX;
    size_t keep = strlen(base);
    if (keep > room - (size_t)rlen) {
        keep = room - (size_t)rlen;
    }
    snprintf(out, cap, "%.*s%s", (int)keep, base, run);
}
