/* SPDX-License-Identifier: Apache-2.0 */
/* Stamping accepted events: encode what is absent, as fields appended to the event. */
#include "prop_stamp.h"

#include <string.h>

#include "vx_wire.h"

size_t
prop_stamp_encode(struct prop_stamper *st, const vx_event_t *in, uint8_t out[PROP_STAMP_MAX],
                  uint8_t id[VX_EVENT_ID_LEN], uint64_t now_ns, int source, const char *tenant)
{
    size_t n = 0;
    if (in->id.len == VX_EVENT_ID_LEN) {
        memcpy(id, in->id.data, VX_EVENT_ID_LEN);
    } else {
        vx_event_id_new_at(id, now_ns);
        n += vx_pb_bytes(out + n, VX_PB_EVENT_ID, id, VX_EVENT_ID_LEN);
    }
    if (in->source == 0 && source != 0) {
        n += vx_pb_uint(out + n, VX_PB_EVENT_SOURCE, (uint64_t)source);
    }
    if (in->timestamp_ns == 0) {
        n += vx_pb_uint(out + n, VX_PB_EVENT_TIMESTAMP_NS, now_ns);
    }
    if (!in->producer_id || !in->producer_id[0]) {
        /* The event's origin is this daemon: number it in our own sequence. */
        size_t len = strnlen(st->producer_id, 256);
        n += vx_pb_bytes(out + n, VX_PB_EVENT_PRODUCER_ID, st->producer_id, len);
        n += vx_pb_uint(out + n, VX_PB_EVENT_SEQUENCE, ++st->sequence);
    }
    if (!in->trace_id || !in->trace_id[0]) {
        char trace[33];
        vx_trace_id_new(trace);
        n += vx_pb_bytes(out + n, VX_PB_EVENT_TRACE_ID, trace, 32);
    }
    if (in->ingest_ns == 0) {
        n += vx_pb_uint(out + n, VX_PB_EVENT_INGEST_NS, now_ns);
    }
    if (tenant && tenant[0] && (!in->tenant || !in->tenant[0])) {
        n += vx_pb_bytes(out + n, VX_PB_EVENT_TENANT, tenant, strnlen(tenant, 256));
    }
    return n;
}
