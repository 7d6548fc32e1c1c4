/* SPDX-License-Identifier: Apache-2.0 */
/* The emitter thread: operation queue, translation, batching, delivery with retries. */
#include "fu_emit.h"

#include <czmq.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../forwarder/fwd_translate.h"
#include "vx_clock.h"
#include "vx_log.h"
#include "vx_mem.h"
#include "vx_wire.h"

#define S_TOPIC "events"
#define S_SNDHWM 64
#define S_IDLE_MS 200

struct s_packed {
    uint8_t *data;
    size_t len;
    size_t n_events;
};

struct fu_emit {
    /* settings */
    int boundary;
    size_t batch_max, ops_max, packed_max;
    uint64_t delay_ns, retry_ns, shutdown_ns, block_ns;
    char sender[300];
    /* the operation queue, shared with producers under mu */
    pthread_mutex_t mu;
    pthread_cond_t nonempty, room;
    struct fu_op *ops;
    size_t head, count;
    uint64_t op_seq;
    bool stopping;
    pthread_t thread;
    bool started;
    /* owned by the thread */
    struct fu_op *taken;
    vx_arena_t *arena;
    vx_event_t **events;
    size_t n;
    uint64_t open_ns, event_seq, batch_seq, next_try_ns;
    struct s_packed *q;
    size_t q_head, q_count;
    zsock_t *push;
    /* observability */
    vx_counter_t *ops_total, *rejected, *queue_full, *shutdown_lost, *send_failed, *sent_events,
        *sent_batches, *retries;
    vx_gauge_t *buffered;
};

const char *
fu_emit_sender(const fu_emit_t *e)
{
    return e->sender;
}

int
fu_emit_push(fu_emit_t *e, struct fu_op *op)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    uint64_t t = (uint64_t)until.tv_sec * VX_NS_PER_S + (uint64_t)until.tv_nsec + e->block_ns;
    until.tv_sec = (time_t)(t / VX_NS_PER_S);
    until.tv_nsec = (long)(t % VX_NS_PER_S);
    pthread_mutex_lock(&e->mu);
    /* Every operation meant to be reported takes a number, so a dropped one leaves a gap in
     * kernel_seq as a lost kernel record does. */
    op->h.seq = ++e->op_seq;
    while (e->count == e->ops_max && !e->stopping) {
        if (pthread_cond_timedwait(&e->room, &e->mu, &until) == ETIMEDOUT) {
            break;
        }
    }
    if (e->count == e->ops_max || e->stopping) {
        pthread_mutex_unlock(&e->mu);
        vx_counter_add(e->queue_full, 1);
        vx_warn("FU-QUEUE-FULL", "event for %s dropped: queue full", op->path);
        fu_op_fini(op);
        return -ENOBUFS;
    }
    e->ops[(e->head + e->count) % e->ops_max] = *op;
    e->count++;
    pthread_cond_signal(&e->nonempty);
    pthread_mutex_unlock(&e->mu);
    op->path = op->path2 = NULL;
    return 0;
}

/* ---- batches -------------------------------------------------------------------------- */

static void
s_close_batch(fu_emit_t *e)
{
    if (e->n == 0) {
        return;
    }
    vx_batch_t b;
    vexfs__v1__event_batch__init(&b);
    b.events = e->events;
    b.n_events = e->n;
    b.sender = e->sender;
    b.batch_sequence = ++e->batch_seq;
    struct s_packed p = {.n_events = e->n};
    p.len = vexfs__v1__event_batch__get_packed_size(&b);
    p.data = vx_malloc(p.len ? p.len : 1);
    vexfs__v1__event_batch__pack(&b, p.data);
    /* The thread takes operations only while there is room for the batches they make. */
    e->q[(e->q_head + e->q_count) % e->packed_max] = p;
    e->q_count++;
    vx_gauge_set(e->buffered, (double)e->q_count);
    e->n = 0;
    vx_arena_reset(e->arena);
}

static void
s_pop(fu_emit_t *e)
{
    free(e->q[e->q_head].data);
    e->q[e->q_head].data = NULL;
    e->q_head = (e->q_head + 1) % e->packed_max;
    e->q_count--;
    vx_gauge_set(e->buffered, (double)e->q_count);
}

static void
s_deliver(fu_emit_t *e, uint64_t now)
{
    if (now < e->next_try_ns) {
        return;
    }
    while (e->q_count > 0) {
        struct s_packed *p = &e->q[e->q_head];
        int rc = vx_wire_send_packed(e->push, S_TOPIC, p->data, p->len, ZMQ_DONTWAIT);
        if (rc == -EAGAIN || rc == -EINTR) {
            /* Propagation is down or full: keep the batch and offer it again later. */
            vx_counter_add(e->retries, 1);
            e->next_try_ns = now + e->retry_ns;
            return;
        }
        if (rc < 0) {
            vx_counter_add(e->send_failed, p->n_events);
            vx_error("FU-SEND", "batch of %zu events dropped: %s", p->n_events, zmq_strerror(-rc));
        } else {
            vx_counter_add(e->sent_events, p->n_events);
            vx_counter_add(e->sent_batches, 1);
        }
        s_pop(e);
    }
}

static void
s_add(fu_emit_t *e, struct fu_op *op, uint64_t now)
{
    vx_event_t *ev = NULL;
    const char *reason = NULL;
    int rc = fu_op_translate(op, e->boundary, e->arena, &ev, &reason);
    if (rc < 0) {
        vx_counter_add(e->rejected, 1);
        vx_warn("FU-REJECT", "operation on %s not translated: %s", op->path,
                reason ? reason : "no memory");
        return;
    }
    ev->producer_id = e->sender;
    ev->sequence = ++e->event_seq;
    if (e->n == 0) {
        e->open_ns = now;
    }
    e->events[e->n++] = ev;
    vx_counter_add(e->ops_total, 1);
    if (e->n >= e->batch_max) {
        s_close_batch(e);
    }
}

static int
s_timeout_ms(const fu_emit_t *e, uint64_t now)
{
    uint64_t wake = now + S_IDLE_MS * VX_NS_PER_MS;
    if (e->n > 0 && e->open_ns + e->delay_ns < wake) {
        wake = e->open_ns + e->delay_ns;
    }
    if (e->q_count > 0 && e->next_try_ns < wake) {
        wake = e->next_try_ns;
    }
    return wake <= now ? 0 : (int)((wake - now + VX_NS_PER_MS - 1) / VX_NS_PER_MS);
}

/* Takes queued operations (as many as the batch buffer has room for) into e->taken; waits
 * for some (or the next timer) first unless stopping. *left: operations still queued. */
static size_t
s_take(fu_emit_t *e, uint64_t now, bool *stopping, size_t *left)
{
    size_t free_slots = e->packed_max - e->q_count;
    size_t room = free_slots > 1 ? (free_slots - 1) * e->batch_max : 0;
    if (room > e->ops_max) {
        room = e->ops_max;
    }
    pthread_mutex_lock(&e->mu);
    if ((e->count == 0 || room == 0) && !e->stopping) {
        int ms = s_timeout_ms(e, now);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        uint64_t t = (uint64_t)until.tv_sec * VX_NS_PER_S + (uint64_t)until.tv_nsec +
                     (uint64_t)ms * VX_NS_PER_MS;
        until.tv_sec = (time_t)(t / VX_NS_PER_S);
        until.tv_nsec = (long)(t % VX_NS_PER_S);
        pthread_cond_timedwait(&e->nonempty, &e->mu, &until);
    }
    size_t n = 0;
    while (e->count > 0 && n < room) {
        e->taken[n++] = e->ops[e->head];
        e->head = (e->head + 1) % e->ops_max;
        e->count--;
    }
    if (n > 0) {
        pthread_cond_broadcast(&e->room);
    }
    *stopping = e->stopping;
    *left = e->count;
    pthread_mutex_unlock(&e->mu);
    return n;
}

static void *
cb_thread(void *arg)
{
    fu_emit_t *e = arg;
    bool stopping = false;
    size_t left = 0;
    uint64_t deadline = 0;
    for (;;) {
        size_t n = s_take(e, vx_mono_ns(), &stopping, &left);
        uint64_t now = vx_mono_ns();
        for (size_t i = 0; i < n; i++) {
            s_add(e, &e->taken[i], now);
            fu_op_fini(&e->taken[i]);
        }
        if (e->n > 0 && (stopping || now >= e->open_ns + e->delay_ns)) {
            s_close_batch(e);
        }
        if (stopping) {
            e->next_try_ns = 0; /* at shutdown, offer every batch as often as possible */
        }
        s_deliver(e, now);
        if (!stopping) {
            continue;
        }
        if (deadline == 0) {
            deadline = now + e->shutdown_ns;
        }
        if ((left == 0 && e->q_count == 0) || now >= deadline) {
            break;
        }
        if (n == 0) {
            zclock_sleep(10);
        }
    }
    if (e->q_count > 0 || left > 0) {
        size_t lost = left;
        for (size_t i = 0; i < e->q_count; i++) {
            lost += e->q[(e->q_head + i) % e->packed_max].n_events;
        }
        vx_counter_add(e->shutdown_lost, lost);
        vx_warn("FU-STOP-DROP", "%zu events not delivered before the shutdown timeout", lost);
    }
    return NULL;
}

/* ---- life cycle ----------------------------------------------------------------------- */

fu_emit_t *
fu_emit_new(const vx_config_t *cfg, const char *sec, int boundary, const char *prefix,
            vx_metrics_t *m, char *err, size_t errlen)
{
    fu_emit_t *e = vx_calloc(1, sizeof *e);
    e->boundary = boundary;
    e->batch_max = (size_t)vx_config_int(cfg, sec, "batch_max_events");
    e->delay_ns = (uint64_t)vx_config_int(cfg, sec, "batch_max_delay_ms") * VX_NS_PER_MS;
    e->retry_ns = (uint64_t)vx_config_int(cfg, sec, "retry_interval_ms") * VX_NS_PER_MS;
    e->shutdown_ns = (uint64_t)vx_config_int(cfg, sec, "shutdown_timeout_ms") * VX_NS_PER_MS;
    e->block_ns = (uint64_t)vx_config_int(cfg, sec, "queue_block_ms") * VX_NS_PER_MS;
    /* One spare slot for the batch still filling when the others are taken. */
    e->packed_max = (size_t)vx_config_int(cfg, sec, "buffer_max_batches") + 1;
    e->ops_max = (size_t)vx_config_int(cfg, sec, "queue_max_ops");
    e->ops = vx_calloc(e->ops_max, sizeof *e->ops);
    e->taken = vx_calloc(e->ops_max, sizeof *e->taken);
    e->q = vx_calloc(e->packed_max, sizeof *e->q);
    e->events = vx_calloc(e->batch_max, sizeof *e->events);
    e->arena = vx_arena_new(64 * 1024, 0);
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->nonempty, NULL);
    pthread_cond_init(&e->room, NULL);

    const char *id = vx_config_str(cfg, sec, "producer_id");
    if (id[0]) {
        snprintf(e->sender, sizeof e->sender, "%s", id);
    } else {
        char host[256] = "";
        if (gethostname(host, sizeof host - 1) < 0 || !host[0]) {
            snprintf(host, sizeof host, "unknown");
        }
        snprintf(e->sender, sizeof e->sender, "%s-%s", prefix, host);
    }

    char name[128];
    snprintf(name, sizeof name, "vexfs_%s_events_total", prefix);
    e->ops_total = vx_metrics_counter(m, name, "Operations translated into events.", NULL);
    snprintf(name, sizeof name, "vexfs_%s_events_dropped_total", prefix);
    const char *dh = "Events lost, by why.";
    e->rejected = vx_metrics_counter(m, name, dh, "reason", "untranslatable", NULL);
    e->queue_full = vx_metrics_counter(m, name, dh, "reason", "queue_full", NULL);
    e->shutdown_lost = vx_metrics_counter(m, name, dh, "reason", "shutdown", NULL);
    e->send_failed = vx_metrics_counter(m, name, dh, "reason", "send_error", NULL);
    snprintf(name, sizeof name, "vexfs_%s_events_sent_total", prefix);
    e->sent_events = vx_metrics_counter(m, name, "Events handed to ZeroMQ for propagation.", NULL);
    snprintf(name, sizeof name, "vexfs_%s_batches_sent_total", prefix);
    e->sent_batches =
        vx_metrics_counter(m, name, "Batches handed to ZeroMQ for propagation.", NULL);
    snprintf(name, sizeof name, "vexfs_%s_send_retries_total", prefix);
    e->retries = vx_metrics_counter(m, name, "Times propagation could not take a batch yet.", NULL);
    snprintf(name, sizeof name, "vexfs_%s_buffered_batches", prefix);
    e->buffered = vx_metrics_gauge(m, name, "Batches waiting for propagation.", NULL);

    e->push = zsock_new(ZMQ_PUSH);
    if (!e->push) {
        snprintf(err, errlen, "cannot create a ZeroMQ socket: %s", zmq_strerror(zmq_errno()));
        fu_emit_destroy(&e);
        return NULL;
    }
    /* Queue only to a live connection: while propagation is away, batches stay in the
     * emitter's own counted buffer. */
    zsock_set_immediate(e->push, 1);
    zsock_set_sndhwm(e->push, S_SNDHWM);
    zsock_set_linger(e->push, 2000);
    zsock_set_reconnect_ivl(e->push, 100);
    zsock_set_reconnect_ivl_max(e->push, 1000);
    const char *ep = vx_config_str(cfg, sec, "ingest_endpoint");
    if (zsock_connect(e->push, "%s", ep) < 0) {
        snprintf(err, errlen, "ingest_endpoint: cannot connect to '%s': %s", ep,
                 zmq_strerror(zmq_errno()));
        fu_emit_destroy(&e);
        return NULL;
    }
    int rc = pthread_create(&e->thread, NULL, cb_thread, e);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the emitter thread: %s", strerror(rc));
        fu_emit_destroy(&e);
        return NULL;
    }
    e->started = true;
    return e;
}

void
fu_emit_destroy(fu_emit_t **ep)
{
    fu_emit_t *e = *ep;
    if (!e) {
        return;
    }
    if (e->started) {
        pthread_mutex_lock(&e->mu);
        e->stopping = true;
        pthread_cond_broadcast(&e->nonempty);
        pthread_cond_broadcast(&e->room);
        pthread_mutex_unlock(&e->mu);
        pthread_join(e->thread, NULL);
    }
    zsock_destroy(&e->push);
    while (e->q_count > 0) {
        s_pop(e);
    }
    while (e->count > 0) {
        fu_op_fini(&e->ops[e->head]);
        e->head = (e->head + 1) % e->ops_max;
        e->count--;
    }
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->nonempty);
    pthread_cond_destroy(&e->room);
    free(e->ops);
    free(e->taken);
    free(e->q);
    free(e->events);
    vx_arena_destroy(&e->arena);
    free(e);
    *ep = NULL;
}
