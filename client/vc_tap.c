/* SPDX-License-Identifier: Apache-2.0 */
/* Taps: a SUB socket on a publisher of event batches (propagation's tap, a routing boundary's),
 * read through the suite's one receive path (vx_rx: framing, bounded decoding, sequence gaps)
 * and handed to the program one event at a time as JSON.
 *
 * A tap's socket is made by the thread that opens it and then used by whichever thread calls
 * vexfs_tap_next, one at a time: the tap's mutex serialises the calls and gives ZeroMQ the
 * memory barrier it asks for when a socket moves between threads. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vc_priv.h"
#include "vx_clock.h"
#include "vx_drop.h"
#include "vx_event.h"
#include "vx_mem.h"
#include "vx_rx.h"

struct vexfs_tap {
    pthread_mutex_t mu;
    zsock_t *sub;
    vx_rx_t *rx;
    vx_metrics_t *metrics; /* the receive path's counters, private */
    struct vx_drops drops;
    vx_counter_t *gaps;
    struct vx_rx_batch in; /* the batch being handed out (borrowed from rx) */
    size_t next;           /* its next event */
};

vexfs_tap_t *
vexfs_tap_open(vexfs_client_t *c, const char *endpoint)
{
    if (!c) {
        vc_fail(-EINVAL, "vexfs_tap_open: no client given");
        return NULL;
    }
    const char *ep = endpoint ? endpoint : c->cc.tap_endpoint;
    if (!ep[0]) {
        vc_fail(-EINVAL, "no tap endpoint: client.tap_endpoint is empty and none was given");
        return NULL;
    }
    /* Every message on a tap is wanted: the publishers of the suite publish event batches
     * under their own topic (propagation's is "events"). */
    struct vx_sock_spec spec = {.type = ZMQ_SUB, .endpoint = ep, .subscribe = ""};
    char err[700];
    zsock_t *sub = vx_sock_open(c->socks, &spec, NULL, 0, err, sizeof err);
    if (!sub) {
        vc_fail(-EINVAL, "tap: %s", err);
        return NULL;
    }
    vexfs_tap_t *t = vx_calloc(1, sizeof *t);
    pthread_mutex_init(&t->mu, NULL);
    t->sub = sub;
    t->metrics = vx_metrics_new();
    vx_drops_init(&t->drops, t->metrics, "vexfs_client_tap_dropped_total",
                  "Tap messages that were not event batches.", VX_DROP_MASK_RX);
    t->gaps = vx_metrics_counter(t->metrics, "vexfs_client_tap_gaps_total",
                                 "Batches missing in a publisher's sequence.", NULL);
    struct vx_rx_opts ro = {.decode = true, .any_topic = true};
    struct vx_rx_counters rc = {.drops = &t->drops, .gaps = t->gaps};
    t->rx = vx_rx_new("tap", &ro, &rc);
    return t;
}

/* The next event of the current batch as JSON, or NULL when it is used up. */
static char *
s_next_json(vexfs_tap_t *t)
{
    if (!t->in.batch || t->next >= t->in.batch->n_events) {
        return NULL;
    }
    json_t *o = vx_event_to_json(t->in.batch->events[t->next++]);
    char *line = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!line) {
        vx_oom(0);
    }
    return line;
}

int
vexfs_tap_next(vexfs_tap_t *t, int timeout_ms, char **json)
{
    if (!t || !json) {
        return vc_fail(-EINVAL, "vexfs_tap_next: no tap or no place for the event given");
    }
    *json = NULL;
    uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : vx_deadline_ms((uint64_t)timeout_ms);
    int rc = 0;
    pthread_mutex_lock(&t->mu);
    while (!(*json = s_next_json(t))) {
        t->in.batch = NULL;
        t->next = 0;
        zmq_pollitem_t item = {zsock_resolve(t->sub), 0, ZMQ_POLLIN, 0};
        long wait = deadline == UINT64_MAX ? -1 : vx_ms_until(deadline);
        int n = zmq_poll(&item, 1, wait);
        if (n < 0 && zmq_errno() == EINTR) {
            rc = vc_fail(-EINTR, "vexfs_tap_next: interrupted by a signal");
            break;
        }
        if (n <= 0) {
            if (deadline != UINT64_MAX && vx_mono_ns() >= deadline) {
                rc = vc_fail(-ETIMEDOUT, "no event on the tap within %d ms", timeout_ms);
                break;
            }
            continue;
        }
        /* -EPROTO: not an event batch (counted by the receive path); -EAGAIN: nothing after
         * all. Either way, wait on. */
        if (vx_rx_recv(t->rx, t->sub, &t->in, ZMQ_DONTWAIT) < 0) {
            t->in.batch = NULL;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return rc;
}

void
vexfs_tap_missed(vexfs_tap_t *t, uint64_t *missed_batches, uint64_t *undecodable)
{
    if (!t) {
        return;
    }
    if (missed_batches) {
        *missed_batches = vx_counter_value(t->gaps);
    }
    if (undecodable) {
        uint64_t n = 0;
        for (int r = 0; r < VX_DROP_N; r++) {
            n += vx_drops_value(&t->drops, (enum vx_drop_reason)r);
        }
        *undecodable = n;
    }
}

void
vexfs_tap_close(vexfs_tap_t **tp)
{
    if (!tp || !*tp) {
        return;
    }
    vexfs_tap_t *t = *tp;
    vx_rx_destroy(&t->rx);
    zsock_destroy(&t->sub);
    vx_metrics_destroy(&t->metrics);
    pthread_mutex_destroy(&t->mu);
    vx_free(tp);
}
