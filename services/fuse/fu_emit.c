/* SPDX-License-Identifier: Apache-2.0 */
/* The emitter thread: operation queue, translation, batching, delivery with retries. */
#include "fu_emit.h"

#include <czmq.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vx_link.h"
#include "../forwarder/fwd_translate.h"
#include "vx_clock.h"
#include "vx_log.h"
#include "vx_mem.h"

#define S_IDLE_MS 200
#define S_ACK_WAIT_MS 1 /* longest wait for operations while acknowledgements are due */

struct fu_emit {
    /* settings */
    int boundary;
    size_t batch_max, ops_max;
    uint64_t delay_ns, shutdown_ns, block_ns;
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
    uint64_t open_ns, event_seq;
    vx_link_t *link;
    bool paused;
    /* observability */
    vx_counter_t *ops_total, *rejected, *queue_full, *shutdown_lost;
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
    /* The thread takes operations only while there is room for the batches they make. */
    vx_link_put(e->link, e->events, e->n, e->sender);
    e->n = 0;
    vx_arena_reset(e->arena);
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
    uint64_t link = vx_link_wake_ns(e->link);
    if (link < wake) {
        wake = link;
    }
    return wake <= now ? 0 : (int)((wake - now + VX_NS_PER_MS - 1) / VX_NS_PER_MS);
}

/* Takes queued operations (as many as the batch buffer has room for) into e->taken; waits
 * for some (or the next timer) first unless stopping. *left: operations still queued. */
static size_t
s_take(fu_emit_t *e, uint64_t now, bool *stopping, size_t *left)
{
    /* One slot stays free for the batch still filling. */
    size_t free_slots = vx_link_room(e->link);
    size_t room = free_slots > 1 ? (free_slots - 1) * e->batch_max : 0;
    if (room > e->ops_max) {
        room = e->ops_max;
    }
    if (room == 0 && !e->paused) {
        vx_link_count_backpressure(e->link);
    }
    e->paused = room == 0;
    pthread_mutex_lock(&e->mu);
    if ((e->count == 0 || room == 0) && !e->stopping) {
        int ms = s_timeout_ms(e, now);
        /* Acknowledgements arrive on a socket this wait does not watch: look often. */
        if (vx_link_held(e->link) > 0 && ms > S_ACK_WAIT_MS) {
            ms = S_ACK_WAIT_MS;
        }
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
        vx_link_pump(e->link, now);
        if (!stopping) {
            continue;
        }
        if (deadline == 0) {
            deadline = now + e->shutdown_ns;
        }
        if ((left == 0 && vx_link_held(e->link) == 0) || now >= deadline) {
            break;
        }
        if (n == 0) {
            zclock_sleep(10);
        }
    }
    if (vx_link_held(e->link) > 0 || left > 0) {
        size_t lost = left + vx_link_abandon(e->link);
        vx_counter_add(e->shutdown_lost, lost);
        vx_warn("FU-STOP-DROP", "%zu events not delivered before the shutdown timeout", lost);
    }
    return NULL;
}

/* ---- life cycle ----------------------------------------------------------------------- */

fu_emit_t *
fu_emit_new(const struct fu_emit_config *cfg, const vx_socks_t *socks, int boundary,
            const char *prefix, vx_metrics_t *m, char *err, size_t errlen)
{
    fu_emit_t *e = vx_calloc(1, sizeof *e);
    e->boundary = boundary;
    e->batch_max = (size_t)cfg->batch_max_events;
    e->delay_ns = (uint64_t)cfg->batch_max_delay_ms * VX_NS_PER_MS;
    e->shutdown_ns = (uint64_t)cfg->shutdown_timeout_ms * VX_NS_PER_MS;
    e->block_ns = (uint64_t)cfg->queue_block_ms * VX_NS_PER_MS;
    e->ops_max = (size_t)cfg->queue_max_ops;
    e->ops = vx_calloc(e->ops_max, sizeof *e->ops);
    e->taken = vx_calloc(e->ops_max, sizeof *e->taken);
    e->events = vx_calloc(e->batch_max, sizeof *e->events);
    e->arena = vx_arena_new(64 * 1024, 0);
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->nonempty, NULL);
    pthread_cond_init(&e->room, NULL);

    const char *id = cfg->producer_id;
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
    snprintf(name, sizeof name, "vexfs_%s", prefix);
    e->link = vx_link_new(&cfg->link, socks, name, dh, m, err, errlen);
    if (!e->link) {
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
    vx_link_destroy(&e->link);
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
    free(e->events);
    vx_arena_destroy(&e->arena);
    free(e);
    *ep = NULL;
}
