/* SPDX-License-Identifier: Apache-2.0 */
/* Two-frame topic + EventBatch messages over ZeroMQ, and per-sender gap detection. */
#include "vx_wire.h"

#include <errno.h>
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
    size_t n = vx_pb_varint(p, (uint64_t)field << 3 | 2);
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
vx_wire_event_spans(const void *data, size_t len, struct vx_span *out, size_t max, size_t *n)
{
    const uint8_t *p = data;
    const uint8_t *end = p + len;
    *n = 0;
    while (p < end) {
        uint64_t tag, v;
        if (s_read_varint(&p, end, &tag) < 0) {
            return -EPROTO;
        }
        switch (tag & 7) {
        case 0:
            if (s_read_varint(&p, end, &v) < 0) {
                return -EPROTO;
            }
            break;
        case 1:
        case 5: {
            size_t w = (tag & 7) == 1 ? 8 : 4;
            if ((size_t)(end - p) < w) {
                return -EPROTO;
            }
            p += w;
            break;
        }
        case 2:
            if (s_read_varint(&p, end, &v) < 0 || v > (uint64_t)(end - p)) {
                return -EPROTO;
            }
            if (tag >> 3 == 1) {
                if (out && *n == max) {
                    return -E2BIG;
                }
                if (out) {
                    out[*n].data = p;
                    out[*n].len = (size_t)v;
                }
                (*n)++;
            }
            p += v;
            break;
        default:
            return -EPROTO;
        }
    }
    return 0;
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
