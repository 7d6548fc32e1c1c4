/* SPDX-License-Identifier: Apache-2.0 */
/* The semantic event: names of types and boundaries, ids, content hashes, validation and the
 * JSON form used over REST and by vexfsctl.
 *
 * JSON form (every field optional except type, and path for filesystem events):
 *   {"id":"0193b2c4-...-...", "type":"filesystem_write", "source":"userspace_api",
 *    "timestamp_ns":1732543200000000000, "path":"/data/a.txt",
 *    "content":{"size":"4096"}, "metadata":{"user_id":"42"}, "tenant":"acme", "priority":5,
 *    "producer_id":"fuse-1", "sequence":7, "trace_id":"4bf92f35...",
 *    "causality":{"parent_ids":["0193..."], "vector_clock":{"node-a":3}},
 *    "custom_type":"backup_done", "ingest_ns":...}
 * Content and metadata values are strings. Unknown fields are rejected. */
#ifndef VX_EVENT_H
#define VX_EVENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vexfs/v1/event.pb-c.h"
#include "vx_arena.h"
#include "vx_drop.h"

typedef Vexfs__V1__Event vx_event_t;
typedef Vexfs__V1__EventBatch vx_batch_t;

#define VX_EVENT_ID_LEN 16
#define VX_EVENT_ID_STR 37 /* 36 characters and NUL */
#define VX_EVENT_MAX_PATH 4096
#define VX_EVENT_MAX_FIELDS 256
#define VX_EVENT_MAX_VALUE (64 * 1024)

/* Type and boundary names as in JSON ("filesystem_write", "kernel_module"). NULL if unknown. */
const char *vx_event_type_name(int type);
int vx_event_type_parse(const char *name, int *out);
const char *vx_boundary_name(int boundary);
int vx_boundary_parse(const char *name, int *out);
bool vx_event_type_is_filesystem(int type);

/* A new time-ordered id: 48-bit Unix milliseconds, then random bits (UUID version 7 layout). */
void vx_event_id_new(uint8_t id[VX_EVENT_ID_LEN]);
/* The same with the clock already read: wall_ns is the Unix time in ns (vx_wall_ns). */
void vx_event_id_new_at(uint8_t id[VX_EVENT_ID_LEN], uint64_t wall_ns);
/* Canonical 8-4-4-4-12 lowercase hex. */
void vx_event_id_format(const uint8_t id[VX_EVENT_ID_LEN], char out[VX_EVENT_ID_STR]);
/* Accepts the canonical form or 32 hex digits. Returns 0 or -EINVAL. */
int vx_event_id_parse(const char *s, uint8_t id[VX_EVENT_ID_LEN]);
/* 32 random lowercase hex digits and NUL (a W3C trace id). */
void vx_trace_id_new(char out[33]);

/* Hash of what the event says, for deduplication: type, custom type, source, path, tenant,
 * content and metadata (maps hashed independent of entry order). Ids, times, sequences and
 * causality are excluded: a re-sent event is the same event. */
uint64_t vx_event_content_hash(const vx_event_t *e);

/* Checks an event from outside. Returns 0, or -EINVAL with a precise message in err and a
 * reason (vx_drop.h, for metric labels) in *reason: "unknown_type", "missing_path",
 * "bad_path", "bad_id", "too_large", "bad_utf8", "bad_field". */
int vx_event_validate(const vx_event_t *e, char *err, size_t errlen, enum vx_drop_reason *reason);
/* vx_event_validate, and for a valid event *hash = vx_event_content_hash(e) (hash may be NULL):
 * one measure of each string serves both, for receivers that check and deduplicate. ascii: the
 * caller knows every string of e is ASCII (VX_WIRE_CHECKED_ASCII), so the UTF-8 checks are
 * skipped; false checks them. */
int vx_event_validate_hash(const vx_event_t *e, bool ascii, char *err, size_t errlen,
                           enum vx_drop_reason *reason, uint64_t *hash);

/* Checks what decoding hides: a NUL character inside a string field of a packed Event (path,
 * tenant, ids, map keys and values, clock nodes), which protobuf-c would silently cut at.
 * Returns 0, or -EINVAL with a message and reason (bad_path, bad_field, bad_protobuf). */
int vx_event_check_bytes(const void *data, size_t len, char *err, size_t errlen,
                         enum vx_drop_reason *reason);

/* Decodes one event from JSON into memory owned by arena. Returns 0 or -EINVAL with a message
 * ("field 'priority': expected an integer 0..255") and a reason as for vx_event_validate
 * ("bad_json" for shape errors). Does not run vx_event_validate. */
int vx_event_from_json(json_t *obj, vx_arena_t *arena, vx_event_t **out, char *err, size_t errlen,
                       enum vx_drop_reason *reason);
/* Encodes an event as JSON (new reference). The uint64 fields (timestamp_ns, ingest_ns,
 * sequence, vector clock counters) are numbers up to 2^63-1 and strings of digits above;
 * with VX_EVENT_JSON_SAFE_INTEGERS, strings already above 2^53 (what JavaScript's numbers hold
 * exactly). vx_event_from_json takes either form. */
#define VX_EVENT_JSON_SAFE_INTEGERS 1u
json_t *vx_event_to_json(const vx_event_t *e);
json_t *vx_event_to_json_flags(const vx_event_t *e, unsigned flags);

/* The reason of a JSON parse error as a user should read it: our rule, not the name of the
 * JSON library's option that would lift it (a NUL character in a string). Borrowed from e. */
const char *vx_json_error_text(const json_error_t *e);

/* Whether p[0..len) is an absolute canonical path: "/" alone, or "/" followed by segments that
 * are neither empty, "." nor "..", with no trailing '/'. */
bool vx_path_canonical(const char *p, size_t len);

/* True when s[0..len) is valid UTF-8. */
bool vx_utf8_valid(const char *s, size_t len);

/* Fast 64-bit hash of bytes with a seed (not cryptographic). */
uint64_t vx_hash64(const void *data, size_t len, uint64_t seed);

#endif
