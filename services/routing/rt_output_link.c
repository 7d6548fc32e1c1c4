/* SPDX-License-Identifier: Apache-2.0 */
/* Routing's acknowledged consumers (boundary_acked): each a vx_link whose DEALER binds the
 * boundary's endpoint, and the checkpoints that hold the input's acknowledgements until the
 * block-policy ones answered (see rt_output.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rt_output_priv.h"
#include "vx_clock.h"
#include "vx_wire.h"

/* Takes the finished batches of an acknowledged consumer out of its queue: acknowledged (or
 * given up on a send error, which the link counts), in the order they were put. */
void
rt_out_link_sync(struct rt_out *out, struct rt_out_slot *sl)
{
    uint64_t done = vx_link_done(sl->link);
    while (sl->link_done < done && sl->pend_n > 0) {
        struct rt_out_batch *b = &sl->pend[sl->pend_head];
        rt_out_queued_sub(&sl->queued, b->n);
        sl->pend_head = (sl->pend_head + 1) % sl->pend_cap;
        sl->pend_n--;
        sl->link_done++;
    }
    struct vx_link_stats st;
    vx_link_stats(sl->link, &st);
    if (st.acked_events > sl->link_acked_seen) {
        vx_counter_add(out->acked_events, st.acked_events - sl->link_acked_seen);
        sl->link_acked_seen = st.acked_events;
    }
    if (st.resent_events > sl->link_resent_seen) {
        vx_counter_add(out->resent_events, st.resent_events - sl->link_resent_seen);
        sl->link_resent_seen = st.resent_events;
    }
    sl->stalled = vx_link_room(sl->link) == 0 || atomic_load(&sl->queued) >= out->cap;
}

/* An acknowledged consumer's batch goes into its link (which seals it with the next batch
 * sequence); a link without room keeps the batch under construction until it has. */
void
rt_out_link_seal(rt_outputs_t *o, struct rt_out *out, struct rt_out_slot *sl)
{
    if (vx_link_room(sl->link) == 0) {
        vx_link_pump(sl->link, vx_mono_ns());
        rt_out_link_sync(out, sl);
        if (vx_link_room(sl->link) == 0) {
            sl->stalled = true;
            return;
        }
    }
    uint32_t n = (uint32_t)sl->n;
    struct vx_batchbuf b = {.buf = sl->buf, .len = sl->len, .cap = sl->cap, .n = sl->n};
    vx_link_put_batch(sl->link, &b, o->sender);
    sl->buf = NULL;
    sl->len = sl->cap = 0;
    sl->n = 0;
    sl->oldest_ns = 0;
    sl->link_put++;
    size_t tl = 0;
    const uint8_t *tb = vx_link_last_put(sl->link, &tl);
    if (o->tap && tb && vx_wire_send_packed(o->tap, out->tap_topic, tb, tl, ZMQ_DONTWAIT) == 0) {
        vx_counter_add(o->tap_batches, 1);
    }
    rt_out_pend_push(sl, (struct rt_out_batch){NULL, 0, n});
    vx_counter_add(out->batches, 1);
    vx_link_pump(sl->link, vx_mono_ns());
    rt_out_link_sync(out, sl);
}

/* An acknowledged consumer's link can take the batch under construction (else it waits). */
bool
rt_out_link_room(const struct rt_out_slot *sl)
{
    return !sl || !sl->link || vx_link_room(sl->link) > 0;
}

/* An acknowledged consumer: a vx_link whose DEALER binds the endpoint. Its metrics are
 * vexfs_routing_link_<boundary>[_<k>]_* (vx_link's own, per consumer); its losses count in
 * vexfs_events_lost_total{hop="routing_to_boundary"}. */
int
rt_out_link_open(rt_outputs_t *o, struct rt_out *out, struct rt_out_slot *sl, size_t k,
            const char *endpoint, const vx_socks_t *socks, vx_metrics_t *m, char *err,
            size_t errlen)
{
    char prefix[RT_BOUNDARY_MAX + 40];
    int n = snprintf(prefix, sizeof prefix, "vexfs_routing_link_%s", out->name);
    if (k > 0) {
        snprintf(prefix + n, sizeof prefix - (size_t)n, "_%zu", k);
    }
    for (char *c = prefix; *c; c++) {
        if (*c == '.' || *c == '-') {
            *c = '_';
        }
    }
    uint64_t cap = out->cap < RT_OUT_LINK_MAX_BATCHES ? out->cap : RT_OUT_LINK_MAX_BATCHES;
    struct vx_link_config lc = {
        .ingest_endpoint = endpoint,
        .ack_endpoint = endpoint,
        .ack_window_batches = o->ack_window,
        .ack_timeout_ms = o->ack_timeout_ms,
        .buffer_max_batches = (int32_t)cap,
        .retry_interval_ms = 10,
        .bind = true,
        .hop = "routing_to_boundary",
    };
    char lerr[512];
    sl->link = vx_link_new(&lc, socks, prefix,
                           "Events given up on an acknowledged boundary consumer, by reason.", m,
                           lerr, sizeof lerr);
    if (!sl->link) {
        snprintf(err, errlen, "boundary %s: %s", out->name, lerr);
        return -EADDRINUSE;
    }
    snprintf(sl->endpoint, sizeof sl->endpoint, "%s", vx_link_endpoint(sl->link));
    if (out->policy == RT_POLICY_BLOCK) {
        sl->gates = true;
        o->gating[o->n_gating++] = sl;
    }
    return 0;
}

uint64_t
rt_outputs_wake_ns(const rt_outputs_t *o)
{
    uint64_t wake = UINT64_MAX;
    for (size_t i = 0; i < o->n; i++) {
        for (size_t k = 0; k < o->out[i].n_slots; k++) {
            const struct rt_out_slot *sl = &o->out[i].slots[k];
            if (sl->link) {
                uint64_t w = vx_link_wake_ns(sl->link);
                wake = w < wake ? w : wake;
            }
        }
    }
    return wake;
}

uint64_t
rt_outputs_next_checkpoint(rt_outputs_t *o)
{
    o->cp_used = true;
    return o->cp_next;
}

bool
rt_outputs_checkpoint_due(const rt_outputs_t *o)
{
    return o->cp_used;
}

void
rt_outputs_checkpoint(rt_outputs_t *o)
{
    if (!o->cp_used || o->cp_n == RT_OUT_CP_MAX) {
        return; /* nothing new to wait for, or (never with a full input queue) no slot */
    }
    struct rt_out_cp *cp = &o->cps[(o->cp_head + o->cp_n) % RT_OUT_CP_MAX];
    cp->id = o->cp_next++;
    for (size_t g = 0; g < o->n_gating; g++) {
        cp->marks[g] = o->gating[g]->link_put;
    }
    o->cp_n++;
    o->cp_used = false;
}

uint64_t
rt_outputs_reached(rt_outputs_t *o)
{
    while (o->cp_n > 0) {
        const struct rt_out_cp *cp = &o->cps[o->cp_head];
        for (size_t g = 0; g < o->n_gating; g++) {
            if (o->gating[g]->link_done < cp->marks[g]) {
                return o->cp_reached;
            }
        }
        o->cp_reached = cp->id;
        o->cp_head = (o->cp_head + 1) % RT_OUT_CP_MAX;
        o->cp_n--;
    }
    return o->cp_reached;
}
