/* SPDX-License-Identifier: Apache-2.0 */
/* Stamping: what propagation adds to an accepted event, without touching what came in.
 *
 * Propagation forwards each event as the bytes it received and appends the stamp: protobuf
 * fields for what was absent — an id, the producer id and its next sequence, the timestamp
 * (ingest time), the ingest time, a trace id, and the source boundary of the channel it
 * arrived on. A field that appears twice in a protobuf message takes its last value, and only
 * absent (default-valued) fields are stamped, so the result reads as the input with those
 * fields filled and everything else — unknown fields included — byte for byte as it came. */
#ifndef PROP_STAMP_H
#define PROP_STAMP_H

#include <stdbool.h>
#include <stdint.h>

#include "vx_event.h"

/* Largest stamp: id 18 + source 3 + two times 2*11 + producer id (up to 256) + sequence 11 +
 * trace id 34 + tenant (up to 256). */
#define PROP_STAMP_MAX 700

struct prop_stamper {
    const char *producer_id; /* borrowed; at most 256 bytes */
    uint64_t sequence;       /* last sequence stamped */
};

/* Encodes the stamp for in into out and returns its length. id receives the event's
 * effective id (its own, or the new one). now_ns: wall clock. source: boundary to stamp when
 * the event names none (0: leave it unspecified). tenant: stamped when the event names none
 * (NULL or "": leave it without). */
size_t prop_stamp_encode(struct prop_stamper *st, const vx_event_t *in, uint8_t out[PROP_STAMP_MAX],
                         uint8_t id[VX_EVENT_ID_LEN], uint64_t now_ns, int source,
                         const char *tenant);

#endif
