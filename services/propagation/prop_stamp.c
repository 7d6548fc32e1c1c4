/* SPDX-License-Identifier: Apache-2.0 */
/* Stamping accepted events: fill what is absent, keep everything else as it came. */
#include "prop_stamp.h"

void
prop_stamp(struct prop_stamper *st, const vx_event_t *in, vx_event_t *out,
           struct prop_stamp_store *store, uint64_t now_ns, int source)
{
    *out = *in;
    if (in->id.len != VX_EVENT_ID_LEN) {
        vx_event_id_new(store->id);
        out->id.data = store->id;
        out->id.len = VX_EVENT_ID_LEN;
    }
    if (!in->producer_id || !in->producer_id[0]) {
        /* The event's origin is this daemon: number it in our own sequence. */
        out->producer_id = (char *)st->producer_id;
        out->sequence = ++st->sequence;
    }
    if (in->timestamp_ns == 0) {
        out->timestamp_ns = now_ns;
    }
    if (in->ingest_ns == 0) {
        out->ingest_ns = now_ns;
    }
    if (!in->trace_id || !in->trace_id[0]) {
        vx_trace_id_new(store->trace);
        out->trace_id = store->trace;
    }
    if (in->source == 0 && source != 0) {
        out->source = (Vexfs__V1__Boundary)source;
    }
    if (!st->keep_unknown) {
        out->base.n_unknown_fields = 0;
        out->base.unknown_fields = NULL;
    }
}
