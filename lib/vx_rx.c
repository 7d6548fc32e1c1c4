/* SPDX-License-Identifier: Apache-2.0 */
/* The one receive path for EventBatch messages. */
#include "vx_rx.h"

#include <errno.h>
#include <string.h>

#include "vx_arena.h"
#include "vx_log.h"
#include "vx_mem.h"
#include "vx_wire_fast.h"

#define S_MAX_EVENTS 10000
#define S_ARENA_LIMIT (256u * 1024 * 1024)
#define S_ARENA_CHUNK (1u << 20)
#define S_MAX_SENDERS 4096

struct vx_rx {
    const char *link;
    struct vx_rx_opts o;
    struct vx_rx_counters c;
    vx_arena_t *arena;
    vx_seqtrack_t *seq;
    struct vx_span *spans;
    zmq_msg_t body;     /* the message of the last vx_rx_recv */
    bool has_body;
    char sender[VX_RX_SENDER_MAX + 1];
};

vx_rx_t *
vx_rx_new(const char *link, const struct vx_rx_opts *opts, const struct vx_rx_counters *counters)
{
    vx_rx_t *rx = vx_calloc(1, sizeof *rx);
    rx->link = link;
    rx->o = *opts;
    if (!rx->o.max_events) {
        rx->o.max_events = S_MAX_EVENTS;
    }
    if (!rx->o.arena_limit) {
        rx->o.arena_limit = S_ARENA_LIMIT;
    }
    if (!rx->o.max_senders) {
        rx->o.max_senders = S_MAX_SENDERS;
    }
    if (counters) {
        rx->c = *counters;
    }
    if (rx->o.decode) {
        rx->arena = vx_arena_new(S_ARENA_CHUNK, rx->o.arena_limit);
    }
    rx->seq = vx_seqtrack_new(rx->o.max_senders);
    rx->spans = vx_calloc(rx->o.max_events, sizeof *rx->spans);
    return rx;
}

static void
s_release(vx_rx_t *rx)
{
    if (rx->has_body) {
        zmq_msg_close(&rx->body);
        rx->has_body = false;
    }
}

void
vx_rx_destroy(vx_rx_t **rxp)
{
    if (!rxp || !*rxp) {
        return;
    }
    vx_rx_t *rx = *rxp;
    s_release(rx);
    vx_arena_destroy(&rx->arena);
    vx_seqtrack_destroy(&rx->seq);
    free(rx->spans);
    vx_free(rxp);
}

static void
s_count(vx_counter_t *c, uint64_t n)
{
    if (c && n) {
        vx_counter_add(c, n);
    }
}

/* One message dropped: its n events (or the message as one) counted under why. */
static void
s_drop(vx_rx_t *rx, enum vx_drop_reason why, uint64_t n)
{
    if (rx->c.drops) {
        vx_drops_add(rx->c.drops, why, n);
    }
    s_count(rx->c.refused, 1);
}

/* Walks the batch once: events' spans, sender, batch sequence. */
static int
s_walk(vx_rx_t *rx, const uint8_t *data, size_t len, struct vx_rx_batch *out)
{
    struct vx_pb_reader r = {data, data + len};
    struct vx_pb_field f;
    struct vx_span sender = {(const uint8_t *)"", 0};
    size_t n = 0, over = 0;
    int rc;
    out->batch_seq = 0;
    while ((rc = vx_pb_next(&r, &f)) > 0) {
        if (f.number == VX_PB_BATCH_EVENTS && f.wire == VX_PB_LEN) {
            if (n < rx->o.max_events) {
                rx->spans[n++] = f.bytes;
            } else {
                over++;
            }
        } else if (f.number == VX_PB_BATCH_SENDER && f.wire == VX_PB_LEN) {
            sender = f.bytes;
        } else if (f.number == VX_PB_BATCH_SEQUENCE && f.wire == VX_PB_VARINT) {
            out->batch_seq = f.value;
        }
    }
    if (rc < 0) {
        s_drop(rx, VX_DROP_BAD_PROTOBUF, 1);
        vx_debug("RX-BAD-BATCH", "%s: a batch of %zu bytes is not well-formed protobuf", rx->link,
                 len);
        return -EPROTO;
    }
    if (over) {
        s_drop(rx, VX_DROP_TOO_LARGE, n + over);
        vx_warn("RX-TOO-LARGE", "%s: a batch of %zu events dropped (at most %zu)", rx->link,
                n + over, rx->o.max_events);
        return -EPROTO;
    }
    if (sender.len > VX_RX_SENDER_MAX) {
        s_drop(rx, VX_DROP_BAD_FIELD, n ? n : 1);
        vx_warn("RX-BAD-SENDER", "%s: a batch whose sender is %zu bytes long dropped (at most %d)",
                rx->link, sender.len, VX_RX_SENDER_MAX);
        return -EPROTO;
    }
    memcpy(rx->sender, sender.data, sender.len);
    rx->sender[sender.len] = '\0';
    out->sender = rx->sender;
    out->events = rx->spans;
    out->n_events = n;
    return 0;
}

const char *
vx_rx_msg_peer(zmq_msg_t *msg)
{
    const char *id = zmq_msg_gets(msg, "User-Id");
    return id ? id : "";
}

int
vx_rx_bytes(vx_rx_t *rx, const void *data, size_t len, bool track, const char *peer,
            struct vx_rx_batch *out)
{
    memset(out, 0, sizeof *out);
    out->data = data;
    out->len = len;
    out->sender = "";
    out->peer = peer ? peer : "";
    if (s_walk(rx, data, len, out) < 0) {
        return -EPROTO;
    }
    if (rx->o.decode) {
        vx_arena_reset(rx->arena);
        /* the walk's spans are already in out->events */
        out->batch = vx_wire_decode_checked(data, len, rx->arena, &out->checked);
        if (!out->batch || out->batch->n_events != out->n_events) {
            /* The walk found the events, so either the arena bound was hit or an event's
             * own fields are malformed. */
            bool big = vx_arena_refused(rx->arena);
            s_drop(rx, big ? VX_DROP_TOO_LARGE : VX_DROP_BAD_PROTOBUF,
                   out->n_events ? out->n_events : 1);
            vx_debug("RX-BAD-BATCH", "%s: a batch of %zu bytes does not decode", rx->link, len);
            out->batch = NULL;
            return -EPROTO;
        }
    }
    s_count(rx->c.batches, 1);
    s_count(rx->c.events, out->n_events);
    if (track && out->sender[0] && out->batch_seq) {
        out->seq = vx_seqtrack_observe(rx->seq, out->sender, out->batch_seq);
        if (out->seq.duplicate) {
            s_count(rx->c.replayed, 1);
        }
        if (out->seq.missing) {
            s_count(rx->c.gaps, out->seq.missing);
            vx_warn("RX-SEQ-GAP", "%s: sender %s: %llu batches missing before %llu", rx->link,
                    out->sender, (unsigned long long)out->seq.missing,
                    (unsigned long long)out->batch_seq);
        }
    }
    return 0;
}

int
vx_rx_recv(vx_rx_t *rx, zsock_t *sock, struct vx_rx_batch *out, int flags)
{
    s_release(rx);
    struct vx_wire_msg msg;
    int rc = vx_wire_recv(sock, &msg, flags);
    if (rc == -EAGAIN || rc == -EINTR) {
        return rc;
    }
    const char *want = rx->o.topic ? rx->o.topic : VX_WIRE_TOPIC;
    if (rc == 0 && !rx->o.any_topic && strcmp(msg.topic, want) != 0) {
        vx_debug("RX-BAD-TOPIC", "%s: a message with topic \"%.64s\" dropped (expected \"%s\")",
                 rx->link, msg.topic, want);
        vx_wire_msg_fini(&msg);
        rc = -EPROTO;
    }
    if (rc < 0) {
        s_drop(rx, VX_DROP_BAD_FRAME, 1);
        vx_debug("RX-BAD-FRAME", "%s: a message that is not topic + batch dropped", rx->link);
        return -EPROTO;
    }
    rx->body = msg.body;
    rx->has_body = true;
    return vx_rx_bytes(rx, zmq_msg_data(&rx->body), zmq_msg_size(&rx->body), true,
                       vx_rx_msg_peer(&rx->body), out);
}

uint64_t
vx_rx_last_seq(const vx_rx_t *rx, const char *sender)
{
    return vx_seqtrack_last(rx->seq, sender);
}
