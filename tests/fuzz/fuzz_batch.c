/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: a ZeroMQ batch frame as propagation receives it from any producer.
 *
 * Bytes are decoded with vx_wire_decode into a size-limited arena (the limit is small so the
 * out-of-arena path inside protobuf-c's unpack is exercised too), every event is validated,
 * and every valid event is rendered with vx_event_to_json: that JSON goes to REST clients and
 * vexfsctl, so it must serialise, parse back, and decode again as the same event. The arena
 * is reset after each input, as the daemon does after each batch.
 *
 * Propagation forwards each event as the bytes it received, found by vx_wire_event_spans, but
 * validates the event protobuf-c decoded: the two parsers must agree, span i holding exactly
 * event i, or an unvalidated event could be forwarded. */
#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vx_arena.h"
#include "vx_event.h"
#include "vx_wire.h"

#define S_ARENA_CHUNK (64u * 1024)
#define S_ARENA_LIMIT (1u * 1024 * 1024)
#define S_MAX_SPANS 64 /* small, so batches past the cap (-E2BIG) are common */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static vx_arena_t *s_arena;      /* the batch, limited like the daemon's */
static vx_arena_t *s_json_arena; /* events read back from spans and from JSON */

/* Dumps the event's JSON, parses the text back, and decodes that as POST /v1/events would:
 * an event propagation accepted from the wire must read back through its own REST API the
 * same. Any failure is a bug worth a crash. */
static void
s_check_json(const vx_event_t *e)
{
    json_t *j = vx_event_to_json(e);
    if (!j) {
        abort();
    }
    char *text = json_dumps(j, JSON_COMPACT);
    if (!text) {
        abort();
    }
    json_error_t je;
    json_t *back = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!back || !json_equal(j, back)) {
        abort();
    }
    vx_event_t *again = NULL;
    char err[300];
    enum vx_drop_reason reason = VX_DROP_N;
    if (vx_event_from_json(back, s_json_arena, &again, err, sizeof err, &reason) < 0 ||
        vx_event_validate(again, err, sizeof err, &reason) < 0) {
        abort();
    }
    json_t *j2 = vx_event_to_json(again);
    if (!j2 || !json_equal(j, j2)) {
        abort();
    }
    json_decref(j2);
    json_decref(back);
    free(text);
    json_decref(j);
    vx_arena_reset(s_json_arena);
}

/* protobuf-c's packing of an event: equal bytes mean equal events, unknown fields included. */
static uint8_t *
s_pack(const vx_event_t *e, size_t *len)
{
    *len = vexfs__v1__event__get_packed_size(e);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (!buf || vexfs__v1__event__pack(e, buf) != *len) {
        abort();
    }
    return buf;
}

static void
s_check_spans(const uint8_t *data, size_t size, const vx_batch_t *b)
{
    struct vx_span spans[S_MAX_SPANS];
    size_t n = 0;
    int rc = vx_wire_event_spans(data, size, spans, S_MAX_SPANS, &n);
    if (b->n_events > S_MAX_SPANS) {
        if (rc != -E2BIG) {
            abort();
        }
        return;
    }
    if (rc != 0 || n != b->n_events) {
        abort();
    }
    for (size_t i = 0; i < n; i++) {
        vx_event_t *e = vexfs__v1__event__unpack(vx_arena_pb(s_json_arena), spans[i].len,
                                                 spans[i].data);
        if (!e) {
            abort();
        }
        size_t la, lb;
        uint8_t *a = s_pack(e, &la);
        uint8_t *want = s_pack(b->events[i], &lb);
        if (la != lb || memcmp(a, want, la) != 0) {
            abort();
        }
        free(a);
        free(want);
    }
    vx_arena_reset(s_json_arena);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!s_arena) {
        s_arena = vx_arena_new(S_ARENA_CHUNK, S_ARENA_LIMIT);
        s_json_arena = vx_arena_new(S_ARENA_CHUNK, 0);
    }
    vx_batch_t *b = vx_wire_decode(data, size, s_arena);
    if (b) {
        s_check_spans(data, size, b);
        for (size_t i = 0; i < b->n_events; i++) {
            char err[300];
            enum vx_drop_reason reason = VX_DROP_N;
            if (vx_event_validate(b->events[i], err, sizeof err, &reason) == 0) {
                (void)vx_event_content_hash(b->events[i]); /* deduplication reads every field */
                s_check_json(b->events[i]);
            } else if (reason >= VX_DROP_N) {
                abort(); /* a rejection must name its reason: it becomes a metric label */
            }
        }
    }
    vx_arena_reset(s_arena);
    return 0;
}
