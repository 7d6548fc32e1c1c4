/* SPDX-License-Identifier: Apache-2.0 */
/* Decoding an input batch: the events and the span of each event's packed bytes, in one pass.
 *
 * The same result as vx_wire_decode followed by vx_wire_event_spans, several times faster on
 * batches as producers and routing send them: a hand-written walk of the wire format that
 * fills the generated structs directly from the arena, where protobuf-c's generic unpack
 * looks every field up in its descriptor and scans each message twice. The walk takes only the
 * common shape (one-byte tags of the known fields with their expected wire types, each
 * causality at most once per event); anything else (unknown fields, which protobuf-c keeps,
 * merged messages, long tags, malformed bytes) is left to vx_wire_decode, so the result is
 * always exactly protobuf-c's, for any batch whose decoding fits the arena
 * (tests/fuzz/fuzz_automation_decode.c checks it on arbitrary bytes). Meant to move into lib beside vx_wire_decode once the shared receive path is
 * there. */
#ifndef AU_DECODE_H
#define AU_DECODE_H

#include <stddef.h>

#include "vx_arena.h"
#include "vx_wire.h"

/* Decodes data[0..len) into arena memory (valid until the arena is reset) and fills
 * spans[0..*n_spans) with the packed bytes of each event (borrowed from data); *n_spans is 0
 * when the batch has more than max_spans events. Returns the batch, or NULL when the bytes
 * are not a valid EventBatch or the arena limit is reached. */
vx_batch_t *au_wire_decode(const void *data, size_t len, vx_arena_t *arena,
                           struct vx_span *spans, size_t max_spans, size_t *n_spans);

#endif
