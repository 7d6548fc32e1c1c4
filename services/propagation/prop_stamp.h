/* SPDX-License-Identifier: Apache-2.0 */
/* Stamping: what propagation adds to an accepted event, without touching what came in.
 *
 * The result is a shallow copy of the input that shares every field the producer set (maps,
 * causality, unknown fields) and fills only what was absent: an id, the producer id and its
 * next sequence, the timestamp (ingest time), the ingest time, a trace id, and the source
 * boundary of the channel it arrived on. */
#ifndef PROP_STAMP_H
#define PROP_STAMP_H

#include <stdbool.h>
#include <stdint.h>

#include "vx_event.h"

/* Storage for the stamped values; must live as long as the stamped copy. */
struct prop_stamp_store {
    uint8_t id[VX_EVENT_ID_LEN];
    char trace[33];
};

struct prop_stamper {
    const char *producer_id; /* borrowed */
    uint64_t sequence;       /* last sequence stamped */
    bool keep_unknown;       /* context preservation: forward unknown protobuf fields */
};

/* Writes the stamped copy of in to out. now_ns: wall clock. source: boundary to use when the
 * event names none (0 keeps it unspecified). */
void prop_stamp(struct prop_stamper *st, const vx_event_t *in, vx_event_t *out,
                struct prop_stamp_store *store, uint64_t now_ns, int source);

#endif
