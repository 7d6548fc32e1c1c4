/* SPDX-License-Identifier: Apache-2.0 */
/* Decoding only what the queries read: the fields of a packed Event that the installed
 * queries use, found with the span walker (vx_pb_next) instead of protobuf-c's full unpack.
 *
 * The plan is the union over the queries of the fields their filters, group-by and
 * aggregations name (type and timestamp_ns are always read, ingest_ns for the latency
 * histogram). The decoder fills a vx_event_t whose other fields are empty: content and
 * metadata hold only the entries whose keys the plan names (the first entry of each key, as
 * an_field_text would find it in a full decode), strings are NUL-terminated copies in the
 * decoder's memory. For every field a query reads, the values equal those of protobuf-c's
 * unpack of the same bytes.
 *
 * Bad input: the event is refused (-EPROTO) when its bytes are not well-formed protobuf at
 * the top level (vx_pb_next's rules), when a field of the schema has the wrong wire type, or
 * when an entry of a map a query reads is malformed. The insides of fields no query reads
 * (causality, ids) are not checked, so an event protobuf-c would refuse for a broken causality
 * is still counted in windows that do not read it; field number 0 is refused in every
 * encoding (protobuf-c keeps it as an unknown field when its tag takes more than a byte). */
#ifndef AN_DECODE_H
#define AN_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "an_query.h"
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

/* A decoder: a plan and the memory decoded events are built in (reused from one event to the
 * next, grown to the largest event seen: no allocation per event). One thread. */
typedef struct an_decoder an_decoder_t;

an_decoder_t *an_decoder_new(void);
void an_decoder_destroy(an_decoder_t **d);
/* Sets the plan to the fields the n queries (borrowed) read. */
void an_decoder_plan(an_decoder_t *d, struct an_query *const *qs, size_t n);
/* The current plan (borrowed). */
const struct an_plan *an_decoder_get_plan(const an_decoder_t *d);

/* Decodes what the plan names from the packed Event data[0..len) into *ev, which points into
 * the decoder's memory until its next decode. Returns 0, or -EPROTO for bytes that are not an
 * Event (see above). */
int an_decoder_decode(an_decoder_t *d, const uint8_t *data, size_t len, vx_event_t *ev);

#endif
