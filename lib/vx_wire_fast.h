/* SPDX-License-Identifier: Apache-2.0 */
/* Decoding a received batch fast: the events and the span of each event's packed bytes, in one
 * pass.
 *
 * The same result as vx_wire_decode followed by vx_wire_event_spans, several times faster on
 * batches as producers and routing send them: a hand-written walk of the wire format that
 * fills the generated structs directly from the arena, where protobuf-c's generic unpack
 * looks every field up in its descriptor and scans each message twice. The walk takes only the
 * common shape (one-byte tags of the known fields with their expected wire types, each
 * causality at most once per event); anything else (unknown fields, which protobuf-c keeps,
 * merged messages, long tags, malformed bytes) is left to vx_wire_decode, so the result is
 * always exactly protobuf-c's, for any batch whose decoding fits the arena
 * (tests/fuzz/fuzz_wire_fast.c checks it on arbitrary bytes). vx_rx decodes every received
 * batch with it. */
#ifndef VX_WIRE_FAST_H
#define VX_WIRE_FAST_H

#include <stdbool.h>
#include <stddef.h>

#include "vx_arena.h"
#include "vx_wire.h"

/* Decodes data[0..len) into arena memory (valid until the arena is reset) and fills
 * spans[0..*n_spans) with the packed bytes of each event (borrowed from data); *n_spans is 0
 * when the batch has more than max_spans events (spans may be NULL with max_spans 0: no spans
 * wanted). Returns the batch, or NULL when the bytes are not a valid EventBatch or the arena
 * limit is reached. */
vx_batch_t *vx_wire_decode_fast(const void *data, size_t len, vx_arena_t *arena,
                                struct vx_span *spans, size_t max_spans, size_t *n_spans);

/* What vx_wire_decode_checked found true of every event of a batch. */
#define VX_WIRE_CHECKED_BYTES 1u /* well-formed protobuf of known fields, no NUL byte in any
                                    string (path, tenant, producer_id, trace_id, custom_type,
                                    map keys and values, clock nodes): all vx_event_check_bytes
                                    verifies of an event */
#define VX_WIRE_CHECKED_ASCII 2u /* and every byte of those strings is ASCII (so valid UTF-8) */

/* The same decoding without spans; *checked receives VX_WIRE_CHECKED_* bits, set when the batch
 * took the hand-written walk (which finds them on its way), so a receiver need not walk each
 * event's bytes or strings again. 0: those checks are still to be made (the batch went to
 * protobuf-c, or it is NULL). */
vx_batch_t *vx_wire_decode_checked(const void *data, size_t len, vx_arena_t *arena,
                                   unsigned *checked);

#endif
