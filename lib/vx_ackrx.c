/* SPDX-License-Identifier: Apache-2.0 */
/* Pending acknowledgements of the acknowledged ingest, in arrival order (see vx_ackrx.h). */
#include "vx_ackrx.h"

#include <errno.h>
#include <string.h>

#include "vx_log.h"
#include "vx_mem.h"
#include "vx_wire.h"

struct vx_acks {
    struct vx_ack *ring;
    size_t cap, head, count;
};

vx_acks_t *
vx_acks_new(size_t max_pending)
{
    vx_acks_t *a = vx_calloc(1, sizeof *a);
    a->cap = max_pending;
    a->ring = vx_calloc(max_pending, sizeof *a->ring);
    return a;
}

void
vx_acks_destroy(vx_acks_t **ap)
{
    if (!*ap) {
        return;
    }
    free((*ap)->ring);
    vx_free(ap);
}

bool
vx_acks_full(const vx_acks_t *a)
{
    return a->count == a->cap;
}

size_t
vx_acks_pending(const vx_acks_t *a)
{
    return a->count;
}

struct vx_ack *
vx_acks_push(vx_acks_t *a, const void *id, size_t id_len, uint64_t seq, uint64_t epoch)
{
    struct vx_ack *p = &a->ring[(a->head + a->count) % a->cap];
    a->count++;
    memcpy(p->id, id, id_len);
    p->id_len = id_len;
    p->seq = seq;
    p->epoch = epoch;
    p->kafka_pending = 0;
    return p;
}

struct vx_ack *
vx_acks_entry(vx_acks_t *a, void *p)
{
    uintptr_t x = (uintptr_t)p, lo = (uintptr_t)a->ring;
    if (x < lo || x >= lo + a->cap * sizeof *a->ring || (x - lo) % sizeof *a->ring != 0) {
        return NULL;
    }
    return p;
}

void
vx_acks_send(zsock_t *router, const void *id, size_t id_len, uint64_t seqno)
{
    uint8_t seq[8];
    for (int i = 0; i < 8; i++) {
        seq[i] = (uint8_t)(seqno >> (8 * i));
    }
    void *z = zsock_resolve(router);
    /* Without ROUTER_MANDATORY an ack for a connection that went away is dropped silently:
     * the producer resends on its new connection. */
    if (zmq_send(z, id, id_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(z, "ack", 3, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(z, seq, sizeof seq, ZMQ_DONTWAIT) < 0) {
        vx_debug("VX-ACK-SEND", "acknowledgement of batch %llu not sent: %s",
                 (unsigned long long)seqno, zmq_strerror(zmq_errno()));
    }
}

size_t
vx_acks_release(vx_acks_t *a, uint64_t published, zsock_t *router)
{
    size_t n = 0;
    while (a->count > 0) {
        const struct vx_ack *p = &a->ring[a->head];
        if (p->epoch > published || p->kafka_pending > 0) {
            break;
        }
        vx_acks_send(router, p->id, p->id_len, p->seq);
        a->head = (a->head + 1) % a->cap;
        a->count--;
        n++;
    }
    return n;
}

int
vx_acks_recv(zsock_t *router, uint8_t *id, size_t *id_len, zmq_msg_t *body)
{
    void *z = zsock_resolve(router);
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, z, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&m);
        return -EAGAIN;
    }
    /* Frame 0 (the routing id) is always complete: the rest of the message is there too. */
    int frames = 1;
    bool more = zmq_msg_more(&m);
    *id_len = zmq_msg_size(&m) < VX_ACK_ID_MAX ? zmq_msg_size(&m) : VX_ACK_ID_MAX;
    memcpy(id, zmq_msg_data(&m), *id_len);
    zmq_msg_close(&m);
    zmq_msg_init(body);
    bool topic_ok = false;
    while (more) {
        zmq_msg_t f;
        zmq_msg_init(&f);
        if (zmq_msg_recv(&f, z, 0) < 0) {
            zmq_msg_close(&f);
            break;
        }
        frames++;
        more = zmq_msg_more(&f);
        if (frames == 2) {
            topic_ok = zmq_msg_size(&f) == strlen(VX_WIRE_TOPIC) &&
                       memcmp(zmq_msg_data(&f), VX_WIRE_TOPIC, zmq_msg_size(&f)) == 0;
        } else if (frames == 3) {
            zmq_msg_move(body, &f); /* releases body's (empty) content */
        }
        zmq_msg_close(&f);
    }
    if (frames != 3 || !topic_ok) {
        zmq_msg_close(body);
        return -EPROTO;
    }
    return 0;
}
