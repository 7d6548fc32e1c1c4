/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: automation's one-pass batch decoder against protobuf-c, on any bytes.
 * fuzz-sources: lib/vx_wire_fast.c
 *
 * vx_wire_decode_fast must accept exactly what vx_wire_decode (protobuf-c) accepts, give the same
 * batch (compared packed again: every known field of every event, map entry, causality and
 * clock entry), and the same event spans as vx_wire_event_spans. vx_wire_decode_checked must
 * give the same batch too; when it says VX_WIRE_CHECKED_BYTES, every event's bytes must pass
 * vx_event_check_bytes (the check propagation then skips), and with VX_WIRE_CHECKED_ASCII,
 * vx_event_validate_hash must decide the same with its UTF-8 checks skipped as made. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vx_event.h"
#include "vx_wire_fast.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define S_SPANS 256

static uint8_t *
s_pack(const vx_batch_t *b, size_t *len)
{
    *len = vexfs__v1__event_batch__get_packed_size(b);
    uint8_t *buf = malloc(*len + 1);
    if (buf == NULL) {
        abort();
    }
    vexfs__v1__event_batch__pack(b, buf);
    return buf;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vx_arena_t *a1 = vx_arena_new(1u << 16, 64u << 20);
    vx_arena_t *a2 = vx_arena_new(1u << 16, 64u << 20);
    static struct vx_span s1[S_SPANS], s2[S_SPANS];
    size_t n1 = 0, n2 = 0;
    vx_batch_t *mine = vx_wire_decode_fast(data, size, a1, s1, S_SPANS, &n1);
    vx_batch_t *ref = vx_wire_decode(data, size, a2);
    if ((mine == NULL) != (ref == NULL)) {
        abort();
    }
    if (ref != NULL) {
        if (vx_wire_event_spans(data, size, s2, S_SPANS, &n2) < 0 || n2 != ref->n_events) {
            n2 = 0;
        }
        if (mine->n_events != ref->n_events || n1 != n2 ||
            mine->batch_sequence != ref->batch_sequence) {
            abort();
        }
        for (size_t i = 0; i < n1; i++) {
            if (s1[i].data != s2[i].data || s1[i].len != s2[i].len) {
                abort();
            }
        }
        size_t l1, l2;
        uint8_t *p1 = s_pack(mine, &l1);
        uint8_t *p2 = s_pack(ref, &l2);
        if (l1 != l2 || memcmp(p1, p2, l1) != 0) {
            abort();
        }
        free(p1);
        vx_arena_t *a3 = vx_arena_new(1u << 16, 64u << 20);
        unsigned checked = 0;
        vx_batch_t *c = vx_wire_decode_checked(data, size, a3, &checked);
        if (c == NULL) {
            abort();
        }
        uint8_t *p3 = s_pack(c, &l1);
        if (l1 != l2 || memcmp(p3, p2, l1) != 0) {
            abort();
        }
        free(p3);
        free(p2);
        if ((checked & VX_WIRE_CHECKED_BYTES) && n2 > 0) {
            for (size_t i = 0; i < n2; i++) {
                char err[256];
                enum vx_drop_reason why;
                if (vx_event_check_bytes(s2[i].data, s2[i].len, err, sizeof err, &why) != 0) {
                    abort();
                }
            }
        }
        /* ASCII: skipping the UTF-8 checks decides exactly as making them. */
        for (size_t i = 0; (checked & VX_WIRE_CHECKED_ASCII) && i < c->n_events; i++) {
            char e1[256] = "", e2[256] = "";
            enum vx_drop_reason r1 = VX_DROP_N, r2 = VX_DROP_N;
            uint64_t h1 = 0, h2 = 0;
            if (vx_event_validate_hash(c->events[i], false, e1, sizeof e1, &r1, &h1) !=
                    vx_event_validate_hash(c->events[i], true, e2, sizeof e2, &r2, &h2) ||
                h1 != h2 || r1 != r2 || strcmp(e1, e2) != 0) {
                abort();
            }
        }
        vx_arena_destroy(&a3);
    }
    vx_arena_destroy(&a1);
    vx_arena_destroy(&a2);
    return 0;
}
