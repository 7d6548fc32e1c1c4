/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: one event in its JSON form, as POST /v1/events and vexfsctl send it.
 *
 * Bytes are parsed the way the REST layer parses a body (duplicate keys rejected), decoded
 * with vx_event_from_json into a size-limited arena and validated. A valid event must then
 * survive both trips it takes in the suite unchanged:
 *   - the wire: packed as protobuf, unpacked, it renders to the same JSON, validates again
 *     and keeps its deduplication hash;
 *   - REST: its JSON text, parsed and decoded again, renders to the same JSON.
 * Any difference aborts, so libFuzzer keeps the input. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "vx_arena.h"
#include "vx_event.h"

#define S_ARENA_CHUNK (64u * 1024)
#define S_ARENA_LIMIT (1u * 1024 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static vx_arena_t *s_arena;  /* decoding outside input: limited like the REST handler's */
static vx_arena_t *s_trip;   /* round trips of an accepted event: no limit to trip over */

static void
s_check_same(json_t *want, const vx_event_t *e)
{
    json_t *got = vx_event_to_json(e);
    if (!got || !json_equal(want, got)) {
        abort();
    }
    json_decref(got);
}

/* Event → protobuf bytes → event. */
static void
s_wire_trip(const vx_event_t *e, json_t *want)
{
    size_t len = vexfs__v1__event__get_packed_size(e);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        abort();
    }
    if (vexfs__v1__event__pack(e, buf) != len) {
        abort();
    }
    vx_event_t *back = vexfs__v1__event__unpack(vx_arena_pb(s_trip), len, buf);
    free(buf);
    char err[300];
    enum vx_drop_reason reason = VX_DROP_N;
    if (!back || vx_event_validate(back, err, sizeof err, &reason) < 0) {
        abort();
    }
    if (vx_event_content_hash(back) != vx_event_content_hash(e)) {
        abort();
    }
    s_check_same(want, back);
}

/* Event → JSON text → event. */
static void
s_json_trip(json_t *want)
{
    char *text = json_dumps(want, JSON_COMPACT);
    if (!text) {
        abort();
    }
    json_error_t je;
    json_t *obj = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    free(text);
    vx_event_t *back = NULL;
    char err[300];
    enum vx_drop_reason reason = VX_DROP_N;
    if (!obj || vx_event_from_json(obj, s_trip, &back, err, sizeof err, &reason) < 0 ||
        vx_event_validate(back, err, sizeof err, &reason) < 0) {
        abort();
    }
    s_check_same(want, back);
    json_decref(obj);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!s_arena) {
        s_arena = vx_arena_new(S_ARENA_CHUNK, S_ARENA_LIMIT);
        s_trip = vx_arena_new(S_ARENA_CHUNK, 0);
    }
    json_error_t je;
    json_t *obj = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
    if (!obj) {
        return 0;
    }
    vx_event_t *e = NULL;
    char err[300];
    enum vx_drop_reason reason = VX_DROP_N;
    int rc = vx_event_from_json(obj, s_arena, &e, err, sizeof err, &reason);
    if (rc == 0) {
        rc = vx_event_validate(e, err, sizeof err, &reason);
    }
    if (rc < 0) {
        if (reason >= VX_DROP_N) {
            abort(); /* a rejection must name its reason: it becomes a metric label */
        }
    } else {
        json_t *want = vx_event_to_json(e);
        if (!want) {
            abort();
        }
        s_wire_trip(e, want);
        s_json_trip(want);
        json_decref(want);
    }
    json_decref(obj);
    vx_arena_reset(s_trip);
    vx_arena_reset(s_arena);
    return 0;
}
