/* SPDX-License-Identifier: Apache-2.0 */
/* Events sent into propagation (see au_emit.h). */
#include "au_emit.h"

#include <czmq.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stdatomic.h>
#include <time.h>

#include "vx_arena.h"
#include "vx_clock.h"
#include "vx_drop.h"
#include "vx_log.h"
#include "vx_event.h"
#include "vx_mem.h"
#include "vx_wire.h"

#define S_SEND_TIMEOUT_MS 1000
#define S_STOP_DRAIN_MS 2000 /* at stop: longest wait for propagation's acknowledgements */

struct au_emit {
    pthread_mutex_t lock;
    pthread_cond_t room;      /* signalled when the link's buffer has room again */
    zsock_t *sock;            /* under lock; NULL when no endpoint or acknowledged */
    uint64_t seq;             /* under lock */
    char sender[64];
    vx_counter_t *c_sent, *c_failed;
    struct vx_drops lost; /* vexfs_events_lost_total{hop="automation_to_propagation"} */
    /* acknowledged mode */
    vx_link_t *link;          /* under lock */
    zsock_t *wake_push;       /* under lock: tells the thread a batch was put */
    zsock_t *wake_pull;       /* the thread's */
    pthread_t thread;
    bool thread_started;
    atomic_bool stop;
};

/* The acknowledged link's thread: sends what was put, reads acknowledgements, resends. */
static void *
s_link_main(void *arg)
{
    au_emit_t *em = arg;
    while (!atomic_load(&em->stop)) {
        zmq_pollitem_t items[3];
        pthread_mutex_lock(&em->lock);
        vx_link_pump(em->link, vx_mono_ns());
        if (vx_link_room(em->link) > 0) {
            pthread_cond_broadcast(&em->room);
        }
        size_t k = vx_link_pollitems(em->link, items);
        uint64_t wake = vx_link_wake_ns(em->link);
        pthread_mutex_unlock(&em->lock);
        items[k++] = (zmq_pollitem_t){zsock_resolve(em->wake_pull), 0, ZMQ_POLLIN, 0};
        long timeout = wake == UINT64_MAX ? 100 : vx_ms_until(wake);
        zmq_poll(items, (int)k, timeout < 100 ? timeout : 100);
        char *w;
        while ((w = zstr_recv_nowait(em->wake_pull)) != NULL) {
            zstr_free(&w); /* only a wake-up */
        }
    }
    return NULL;
}

static int
s_link_open(au_emit_t *em, const struct au_emit_opts *o, const vx_socks_t *socks,
            vx_metrics_t *metrics, char *err, size_t errlen)
{
    struct vx_link_config lc = {
        .ingest_endpoint = o->endpoint,
        .ack_endpoint = o->ack_endpoint,
        .ack_window_batches = o->ack_window_batches,
        .ack_timeout_ms = o->ack_timeout_ms,
        .buffer_max_batches = o->buffer_max_batches,
        .retry_interval_ms = 10,
        .hop = "automation_to_propagation",
    };
    char lerr[512];
    em->link = vx_link_new(&lc, socks, "vexfs_automation_emit",
                           "Emitted events given up on by the acknowledged link, by reason.",
                           metrics, lerr, sizeof lerr);
    if (!em->link) {
        snprintf(err, errlen, "emit_%s", lerr);
        return -EINVAL;
    }
    char name[64];
    snprintf(name, sizeof name, "au-emit-wake-%p", (void *)em);
    if (vx_sock_pipe(socks, name, &em->wake_push, &em->wake_pull) < 0) {
        snprintf(err, errlen, "cannot create the emitter's wake-up socket");
        return -ENOMEM;
    }
    if (pthread_create(&em->thread, NULL, s_link_main, em) != 0) {
        snprintf(err, errlen, "cannot start the emitter's thread");
        return -EAGAIN;
    }
    em->thread_started = true;
    return 0;
}

au_emit_t *
au_emit_new(const struct au_emit_opts *o, const vx_socks_t *socks, vx_metrics_t *metrics,
            char *err, size_t errlen)
{
    au_emit_t *em = vx_calloc(1, sizeof *em);
    pthread_mutex_init(&em->lock, NULL);
    pthread_cond_init(&em->room, NULL);
    snprintf(em->sender, sizeof em->sender, "vexfs-automation-%d", (int)getpid());
    em->c_sent = vx_metrics_counter(metrics, "vexfs_automation_emitted_total",
                                    "Events sent into propagation by emit actions.", NULL);
    em->c_failed = vx_metrics_counter(metrics, "vexfs_automation_emit_failures_total",
                                      "Emit actions whose event was invalid or not sent.", NULL);
    vx_lost_init(&em->lost, metrics, "automation_to_propagation", VX_LOST_MASK);
    if (o->ack_endpoint[0] != '\0') {
        if (s_link_open(em, o, socks, metrics, err, errlen) < 0) {
            au_emit_destroy(&em);
            return NULL;
        }
    } else if (o->endpoint[0] != '\0') {
        /* Queue only to a live connection (immediate): with propagation away a send fails
         * after S_SEND_TIMEOUT_MS and is counted (the step fails and its retries apply),
         * instead of waiting in ZeroMQ to be dropped uncounted when the daemon stops. */
        struct vx_sock_spec spec = {.type = ZMQ_PUSH, .endpoint = o->endpoint,
                                    .sndtimeo_ms = S_SEND_TIMEOUT_MS, .linger_ms = 1000,
                                    .immediate = true};
        char serr[512];
        em->sock = vx_sock_open(socks, &spec, NULL, 0, serr, sizeof serr);
        if (em->sock == NULL) {
            snprintf(err, errlen, "emit_endpoint: %s", serr);
            au_emit_destroy(&em);
            return NULL;
        }
    }
    return em;
}

/* At stop: lets the link deliver what it holds for up to S_STOP_DRAIN_MS, then gives up on the
 * rest, counted and logged. The thread is stopped: this thread owns the link now. */
static void
s_link_close(au_emit_t *em)
{
    uint64_t end = vx_deadline_ms(S_STOP_DRAIN_MS);
    while (vx_link_held(em->link) > 0 && vx_mono_ns() < end) {
        vx_link_pump(em->link, vx_mono_ns());
        zmq_pollitem_t items[2];
        size_t k = vx_link_pollitems(em->link, items);
        zmq_poll(items, (int)k, 10);
    }
    size_t lost = vx_link_abandon(em->link);
    if (lost) {
        vx_counter_add(em->c_failed, lost);
        vx_error("AU-EMIT-STOP", "%zu emitted events not acknowledged by propagation by the "
                                 "stop deadline: given up",
                 lost);
    }
    vx_link_destroy(&em->link);
}

void
au_emit_destroy(au_emit_t **emp)
{
    if (emp == NULL || *emp == NULL) {
        return;
    }
    au_emit_t *em = *emp;
    if (em->thread_started) {
        atomic_store(&em->stop, true);
        pthread_mutex_lock(&em->lock);
        zstr_send(em->wake_push, "x");
        pthread_mutex_unlock(&em->lock);
        pthread_join(em->thread, NULL);
    }
    if (em->link) {
        s_link_close(em);
    }
    zsock_destroy(&em->wake_push);
    zsock_destroy(&em->wake_pull);
    zsock_destroy(&em->sock);
    pthread_cond_destroy(&em->room);
    pthread_mutex_destroy(&em->lock);
    vx_free(emp);
}

/* Acknowledged mode: packs e as a one-event batch into the link's buffer, waiting up to
 * S_SEND_TIMEOUT_MS for room. */
static int
s_put_acked(au_emit_t *em, const vx_event_t *e, char *err, size_t errlen)
{
    size_t len = vexfs__v1__event__get_packed_size(e);
    uint8_t *buf = vx_malloc(len ? len : 1);
    vexfs__v1__event__pack(e, buf);
    struct vx_batchbuf b = {0};
    vx_batchbuf_add(&b, buf, len, NULL, 0);
    free(buf);
    int rc = 0;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += S_SEND_TIMEOUT_MS / 1000;
    pthread_mutex_lock(&em->lock);
    while (vx_link_room(em->link) == 0 && rc == 0) {
        rc = -pthread_cond_timedwait(&em->room, &em->lock, &until);
    }
    if (vx_link_room(em->link) > 0) {
        vx_link_put_batch(em->link, &b, em->sender);
        zstr_send(em->wake_push, "x");
        rc = 0;
    } else {
        vx_link_count_backpressure(em->link);
        rc = -EAGAIN;
        snprintf(err, errlen, "emit buffer full: propagation has not acknowledged %zu batches",
                 vx_link_held(em->link));
    }
    pthread_mutex_unlock(&em->lock);
    vx_batchbuf_fini(&b);
    return rc;
}

/* The event as sent: defaults filled in, map values as strings (new reference). */
static json_t *
s_prepare(const char *tenant, json_t *event)
{
    json_t *ev = json_deep_copy(event);
    /* Content and metadata values are strings in an event; a template that produced a number
     * or a boolean (a whole-string "{{input.count}}") is sent as its JSON text. */
    const char *const maps[] = {"content", "metadata"};
    for (size_t m = 0; m < 2; m++) {
        json_t *obj = json_object_get(ev, maps[m]);
        const char *k;
        json_t *v;
        json_object_foreach(obj, k, v) {
            if (json_is_number(v) || json_is_boolean(v)) {
                char *t = json_dumps(v, JSON_ENCODE_ANY);
                json_object_set_new(obj, k, json_string(t ? t : ""));
                free(t);
            }
        }
    }
    if (json_object_get(ev, "source") == NULL) {
        json_object_set_new(ev, "source", json_string("automation"));
    }
    if (json_object_get(ev, "tenant") == NULL && strcmp(tenant, "default") != 0) {
        json_object_set_new(ev, "tenant", json_string(tenant));
    }
    return ev;
}

int
au_emit_send(au_emit_t *em, const char *tenant, json_t *event, char *err, size_t errlen)
{
    if (em->sock == NULL && em->link == NULL) {
        snprintf(err, errlen, "emit_endpoint is not configured");
        vx_counter_add(em->c_failed, 1);
        return -ENOTCONN;
    }
    if (!json_is_object(event)) {
        snprintf(err, errlen, "the event is not an object");
        vx_counter_add(em->c_failed, 1);
        return -EINVAL;
    }
    json_t *ev = s_prepare(tenant, event);
    vx_arena_t *arena = vx_arena_new(16u << 10, 4u << 20);
    vx_event_t *e = NULL;
    enum vx_drop_reason reason = VX_DROP_BAD_JSON;
    int rc = vx_event_from_json(ev, arena, &e, err, errlen, &reason);
    if (rc == 0) {
        rc = vx_event_validate(e, err, errlen, &reason);
    }
    if (rc == 0 && em->link) {
        rc = s_put_acked(em, e, err, errlen);
    } else if (rc == 0) {
        vx_batch_t b;
        vexfs__v1__event_batch__init(&b);
        b.events = &e;
        b.n_events = 1;
        b.sender = em->sender;
        pthread_mutex_lock(&em->lock);
        b.batch_sequence = ++em->seq;
        rc = vx_wire_send(em->sock, VX_WIRE_TOPIC, &b, 0);
        if (rc < 0) {
            em->seq--; /* not sent: the next one takes this number */
        }
        pthread_mutex_unlock(&em->lock);
        if (rc < 0) {
            /* A valid event propagation did not take (within 1 s, or at all): lost on this
             * hop, whatever the workflow's retries do next. */
            vx_drops_add(&em->lost, VX_DROP_SEND_FAILED, 1);
            snprintf(err, errlen, "send to emit_endpoint: %s", strerror(-rc));
        }
    }
    vx_arena_destroy(&arena);
    json_decref(ev);
    vx_counter_add(rc == 0 ? em->c_sent : em->c_failed, 1);
    return rc;
}
