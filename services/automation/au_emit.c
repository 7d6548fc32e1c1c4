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

#include "vx_arena.h"
#include "vx_drop.h"
#include "vx_event.h"
#include "vx_mem.h"
#include "vx_wire.h"

#define S_SEND_TIMEOUT_MS 1000

struct au_emit {
    pthread_mutex_t lock;
    zsock_t *sock;            /* under lock; NULL when no endpoint */
    uint64_t seq;             /* under lock */
    char sender[64];
    vx_counter_t *c_sent, *c_failed;
    struct vx_drops lost; /* vexfs_events_lost_total{hop="automation_to_propagation"} */
};

au_emit_t *
au_emit_new(const char *endpoint, const vx_socks_t *socks, vx_metrics_t *metrics, char *err,
            size_t errlen)
{
    au_emit_t *em = vx_calloc(1, sizeof *em);
    pthread_mutex_init(&em->lock, NULL);
    snprintf(em->sender, sizeof em->sender, "vexfs-automation-%d", (int)getpid());
    em->c_sent = vx_metrics_counter(metrics, "vexfs_automation_emitted_total",
                                    "Events sent into propagation by emit actions.", NULL);
    em->c_failed = vx_metrics_counter(metrics, "vexfs_automation_emit_failures_total",
                                      "Emit actions whose event was invalid or not sent.", NULL);
    vx_lost_init(&em->lost, metrics, "automation_to_propagation", VX_LOST_MASK);
    if (endpoint[0] != '\0') {
        /* Queue only to a live connection (immediate): with propagation away a send fails
         * after S_SEND_TIMEOUT_MS and is counted (the step fails and its retries apply),
         * instead of waiting in ZeroMQ to be dropped uncounted when the daemon stops. */
        struct vx_sock_spec spec = {.type = ZMQ_PUSH, .endpoint = endpoint,
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

void
au_emit_destroy(au_emit_t **emp)
{
    if (emp == NULL || *emp == NULL) {
        return;
    }
    zsock_destroy(&(*emp)->sock);
    pthread_mutex_destroy(&(*emp)->lock);
    vx_free(emp);
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
    if (em->sock == NULL) {
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
    if (rc == 0) {
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
