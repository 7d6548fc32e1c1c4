/* SPDX-License-Identifier: Apache-2.0 */
/* Two-frame topic + EventBatch messages over ZeroMQ, and per-sender gap detection. */
#include "vx_wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vx_mem.h"

static void
cb_free_packed(void *data, void *hint)
{
    (void)hint;
    free(data);
}

int
vx_wire_send_packed(zsock_t *sock, const char *topic, const void *data, size_t len, int flags)
{
    void *s = zsock_resolve(sock);
    size_t tlen = strlen(topic);
    if (zmq_send(s, topic, tlen, ZMQ_SNDMORE | flags) < 0) {
        return -errno;
    }
    /* The topic frame is queued: the body must follow, so it may not fail with EAGAIN now
     * (ZeroMQ queues multipart messages atomically once the first part is accepted). */
    if (zmq_send(s, data, len, flags) < 0) {
        return -errno;
    }
    return 0;
}

int
vx_wire_send(zsock_t *sock, const char *topic, const vx_batch_t *batch, int flags)
{
    size_t len = vexfs__v1__event_batch__get_packed_size(batch);
    if (len > VX_WIRE_MAX_BATCH_BYTES) {
        return -EMSGSIZE;
    }
    void *s = zsock_resolve(sock);
    size_t tlen = strlen(topic);
    if (zmq_send(s, topic, tlen, ZMQ_SNDMORE | flags) < 0) {
        return -errno;
    }
    zmq_msg_t body;
    void *buf = vx_malloc(len);
    vexfs__v1__event_batch__pack(batch, buf);
    zmq_msg_init_data(&body, buf, len, cb_free_packed, NULL);
    if (zmq_msg_send(&body, s, flags) < 0) {
        int e = errno;
        zmq_msg_close(&body);
        return -e;
    }
    return 0;
}

int
vx_wire_recv(zsock_t *sock, struct vx_wire_msg *msg, int flags)
{
    void *s = zsock_resolve(sock);
    zmq_msg_t part;
    int frames = 0;
    bool bad = false;
    msg->has_body = false;
    msg->topic[0] = '\0';
    for (;;) {
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, s, frames == 0 ? flags : 0) < 0) {
            int e = errno;
            zmq_msg_close(&part);
            if (frames == 0) {
                return -e;
            }
            bad = true;
            break;
        }
        int more = zmq_msg_more(&part);
        if (frames == 0) {
            size_t n = zmq_msg_size(&part);
            if (n >= VX_WIRE_MAX_TOPIC) {
                bad = true;
            } else {
                memcpy(msg->topic, zmq_msg_data(&part), n);
                msg->topic[n] = '\0';
            }
            zmq_msg_close(&part);
        } else if (frames == 1 && !bad) {
            msg->body = part;
            msg->has_body = true;
        } else {
            zmq_msg_close(&part);
            bad = true;
        }
        frames++;
        if (!more) {
            break;
        }
    }
    if (bad || frames != 2) {
        vx_wire_msg_fini(msg);
        return -EPROTO;
    }
    return 0;
}

void
vx_wire_msg_fini(struct vx_wire_msg *msg)
{
    if (msg->has_body) {
        zmq_msg_close(&msg->body);
        msg->has_body = false;
    }
}

vx_batch_t *
vx_wire_decode(const void *data, size_t len, vx_arena_t *arena)
{
    if (len > VX_WIRE_MAX_BATCH_BYTES) {
        return NULL;
    }
    return vexfs__v1__event_batch__unpack(vx_arena_pb(arena), len, data);
}

/* ---- hand encoding and span walking ----------------------------------------------------- */

size_t
vx_pb_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

size_t
vx_pb_bytes(uint8_t *p, uint32_t field, const void *data, size_t len)
{
    size_t n = vx_pb_varint(p, (uint64_t)field << 3 | VX_PB_LEN);
    n += vx_pb_varint(p + n, len);
    memcpy(p + n, data, len);
    return n + len;
}

size_t
vx_pb_uint(uint8_t *p, uint32_t field, uint64_t v)
{
    size_t n = vx_pb_varint(p, (uint64_t)field << 3);
    return n + vx_pb_varint(p + n, v);
}

static int
s_read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    if (*p < end && !(**p & 0x80)) { /* one byte: most tags and lengths */
        *v = *(*p)++;
        return 0;
    }
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end) {
            return -EPROTO;
        }
        uint8_t b = *(*p)++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return -EPROTO;
}

int
vx_pb_next(struct vx_pb_reader *r, struct vx_pb_field *f)
{
    if (r->p >= r->end) {
        return 0;
    }
    uint64_t tag;
    /* Field number 0 is not valid protobuf. protobuf-c refuses it only in a one-byte tag
     * (its check looks at the first byte) and reads a longer encoding of it as an unknown
     * field; the walker judges the same way, so both always see the same events. */
    bool short_zero = (r->p[0] & 0xf8) == 0;
    if (short_zero || s_read_varint(&r->p, r->end, &tag) < 0 || (tag >> 3) > UINT32_MAX) {
        return -EPROTO;
    }
    f->number = (uint32_t)(tag >> 3);
    f->wire = (enum vx_pb_wire)(tag & 7);
    f->value = 0;
    switch (f->wire) {
    case VX_PB_VARINT: {
        const uint8_t *at = r->p;
        if (s_read_varint(&r->p, r->end, &f->value) < 0) {
            return -EPROTO;
        }
        f->bytes = (struct vx_span){at, (size_t)(r->p - at)};
        return 1;
    }
    case VX_PB_FIXED64:
    case VX_PB_FIXED32: {
        size_t w = f->wire == VX_PB_FIXED64 ? 8 : 4;
        if ((size_t)(r->end - r->p) < w) {
            return -EPROTO;
        }
        for (size_t i = 0; i < w; i++) {
            f->value |= (uint64_t)r->p[i] << (8 * i);
        }
        f->bytes = (struct vx_span){r->p, w};
        r->p += w;
        return 1;
    }
    case VX_PB_LEN: {
        uint64_t v;
        if (s_read_varint(&r->p, r->end, &v) < 0 || v > (uint64_t)(r->end - r->p)) {
            return -EPROTO;
        }
        f->bytes = (struct vx_span){r->p, (size_t)v};
        r->p += v;
        return 1;
    }
    }
    return -EPROTO; /* groups (3, 4) and reserved wire types */
}

int
vx_pb_find_bytes(const void *data, size_t len, uint32_t number, struct vx_span *out)
{
    struct vx_pb_reader r = {data, (const uint8_t *)data + len};
    struct vx_pb_field f;
    int found = 0, rc;
    while ((rc = vx_pb_next(&r, &f)) > 0) {
        if (f.number == number && f.wire == VX_PB_LEN) {
            *out = f.bytes;
            found = 1;
        }
    }
    return rc < 0 ? rc : found;
}

int
vx_wire_event_spans(const void *data, size_t len, struct vx_span *out, size_t max, size_t *n)
{
    struct vx_pb_reader r = {data, (const uint8_t *)data + len};
    struct vx_pb_field f;
    int rc;
    *n = 0;
    while ((rc = vx_pb_next(&r, &f)) > 0) {
        if (f.number != VX_PB_BATCH_EVENTS || f.wire != VX_PB_LEN) {
            continue;
        }
        if (out) {
            if (*n == max) {
                return -E2BIG;
            }
            out[*n] = f.bytes;
        }
        (*n)++;
    }
    return rc;
}

/* ---- batch builder ------------------------------------------------------------------------ */

/* Room for len more bytes. */
static void
s_reserve(struct vx_batchbuf *b, size_t len)
{
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len) {
            cap *= 2;
        }
        b->buf = vx_realloc(b->buf, cap);
        b->cap = cap;
    }
}

size_t
vx_batchbuf_add(struct vx_batchbuf *b, const void *ev, size_t len, const void *extra, size_t xlen)
{
    size_t rec = len + xlen;
    s_reserve(b, 1 + 10 + rec);
    b->buf[b->len++] = (uint8_t)(VX_PB_BATCH_EVENTS << 3 | VX_PB_LEN);
    b->len += vx_pb_varint(b->buf + b->len, rec);
    size_t at = b->len;
    memcpy(b->buf + b->len, ev, len);
    if (xlen) {
        memcpy(b->buf + b->len + len, extra, xlen);
    }
    b->len += rec;
    b->n++;
    return at;
}

size_t
vx_batchbuf_seal(struct vx_batchbuf *b, const char *sender, size_t sender_len, uint64_t seq)
{
    s_reserve(b, 2 * 10 + 2 + sender_len);
    size_t len = b->len;
    if (sender_len) {
        len += vx_pb_bytes(b->buf + len, VX_PB_BATCH_SENDER, sender, sender_len);
    }
    if (seq) {
        len += vx_pb_uint(b->buf + len, VX_PB_BATCH_SEQUENCE, seq);
    }
    return len;
}

void
vx_batchbuf_clear(struct vx_batchbuf *b)
{
    b->len = 0;
    b->n = 0;
}

void
vx_batchbuf_fini(struct vx_batchbuf *b)
{
    free(b->buf);
    *b = (struct vx_batchbuf){0};
}

/* ---- sequence tracking -------------------------------------------------------------------- */

struct s_sender {
    char *id;
    uint64_t last;
    uint64_t seen; /* recency stamp for eviction */
};

struct vx_seqtrack {
    struct s_sender *senders;
    size_t n;
    size_t max;
    uint64_t clock;
};

vx_seqtrack_t *
vx_seqtrack_new(size_t max_senders)
{
    vx_seqtrack_t *t = vx_calloc(1, sizeof *t);
    t->max = max_senders ? max_senders : 1;
    t->senders = vx_calloc(t->max, sizeof *t->senders);
    return t;
}

void
vx_seqtrack_destroy(vx_seqtrack_t **t)
{
    if (!t || !*t) {
        return;
    }
    for (size_t i = 0; i < (*t)->n; i++) {
        free((*t)->senders[i].id);
    }
    free((*t)->senders);
    vx_free(t);
}

static struct s_sender *
s_find(const vx_seqtrack_t *t, const char *sender)
{
    /* Few senders per link (producers of one deployment): a linear scan beats hashing. */
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(t->senders[i].id, sender) == 0) {
            return &t->senders[i];
        }
    }
    return NULL;
}

struct vx_seq_result
vx_seqtrack_observe(vx_seqtrack_t *t, const char *sender, uint64_t seq)
{
    struct vx_seq_result r = {0, false, false};
    struct s_sender *s = s_find(t, sender ? sender : "");
    t->clock++;
    if (!s) {
        if (t->n < t->max) {
            s = &t->senders[t->n++];
        } else {
            s = &t->senders[0];
            for (size_t i = 1; i < t->n; i++) {
                if (t->senders[i].seen < s->seen) {
                    s = &t->senders[i];
                }
            }
            free(s->id);
        }
        s->id = vx_strdup(sender ? sender : "");
        s->last = seq;
        s->seen = t->clock;
        r.new_sender = true;
        return r;
    }
    s->seen = t->clock;
    if (seq <= s->last) {
        r.duplicate = true;
        if (seq == 1) {
            s->last = seq; /* the sender restarted: follow its new numbering */
        }
        return r;
    }
    r.missing = seq - s->last - 1;
    s->last = seq;
    return r;
}

uint64_t
vx_seqtrack_last(const vx_seqtrack_t *t, const char *sender)
{
    const struct s_sender *s = s_find(t, sender);
    return s ? s->last : 0;
}
