/* SPDX-License-Identifier: Apache-2.0 */
/* Decoding only what the queries read: the fields of a packed Event that the installed
 * queries use, found with the span walker (vx_pb_next) instead of protobuf-c's full unpack.
 *
 * The plan is the union over the queries of the fields their filters, group-by and
 * aggregations name (type and timestamp_ns are always read, ingest_ns for the latency
 * histogram). The decoder fills a vx_event_t whose other fields are empty: content and
 * metadata hold only the entries whose keys the plan names (the first entry of each key, as
 * an_field_text would find it in a full decode), strings are NUL-terminated copies in the
 * caller's arena. For every field a query reads, the values equal those of protobuf-c's
 * unpack of the same bytes.
 *
 * Bad input: the event is refused (-EPROTO) when its bytes are not well-formed protobuf at
 * the top level, when a field of the schema has the wrong wire type, or when an entry of a map
 * a query reads is malformed. The insides of fields no query reads (causality, ids) are not
 * checked, so an event protobuf-c would refuse for a broken causality is still counted in
 * windows that do not read it. */
#ifndef AN_DECODE_H
#define AN_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "an_query.h"
#include "vx_arena.h"
#include "vx_event.h"


struct an_plan {
    bool path, tenant, priority, custom_type;
    char **content_keys;  /* owned; the content.<key> fields read */
    size_t n_content;
    char **metadata_keys; /* owned; the metadata.<key> fields read */
    size_t n_metadata;
};

/* Builds the plan of the n queries (borrowed) into *p (previous contents freed). */
void an_plan_build(struct an_plan *p, struct an_query *const *qs, size_t n);
void an_plan_fini(struct an_plan *p);

/* Decodes what plan names from the packed Event data[0..len) into *ev; strings and entries
 * are drawn from arena (valid until its reset). Returns 0, -EPROTO for bytes that are not an
 * Event (see above), -ENOMEM when the arena is over its limit. */
int an_decode_event(const struct an_plan *p, const uint8_t *data, size_t len, vx_event_t *ev,
                    vx_arena_t *arena);

#endif
