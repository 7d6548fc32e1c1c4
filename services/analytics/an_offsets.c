/* SPDX-License-Identifier: Apache-2.0 */
/* Committable offsets from blocks of consumed messages (an_offsets.h). */
#include "an_offsets.h"

#include <stdlib.h>
#include <string.h>

#include "vx_mem.h"

/* Doubles the ring (16 blocks at first), oldest block first again. */
static void
s_grow(struct an_offsets *o)
{
    size_t cap = o->cap ? o->cap * 2 : 16;
    struct an_block *b = vx_calloc(cap, sizeof *b);
    for (size_t i = 0; i < o->n; i++) {
        b[i] = o->blocks[(o->head + i) % o->cap]; // NOLINT(clang-analyzer-core.NullDereference)
    }
    free(o->blocks);
    o->blocks = b;
    o->cap = cap;
    o->head = 0;
}

void
an_offsets_track(struct an_offsets *o, int64_t first, uint32_t n, uint64_t max_time)
{
    struct an_block *tail = o->n ? &o->blocks[(o->head + o->n - 1) % o->cap] : NULL;
    if (!tail || tail->n >= AN_BLOCK_EVENTS) {
        if (o->n == o->cap) {
            s_grow(o);
        }
        /* cap > 0 and blocks allocated here or before: the analyzer cannot follow the ring. */
        tail = &o->blocks[(o->head + o->n++) % o->cap]; // NOLINT(clang-analyzer-core.NullDereference)
        tail->first_offset = first; // NOLINT(clang-analyzer-core.NullDereference)
        tail->max_time = 0;
        tail->n = 0;
    }
    tail->n += n;
    tail->max_time = max_time > tail->max_time ? max_time : tail->max_time;
}

int64_t
an_offsets_safe(struct an_offsets *o, uint64_t low, int64_t next)
{
    while (o->n && o->blocks[o->head].max_time < low) {
        o->head = (o->head + 1) % o->cap;
        o->n--;
    }
    return o->n ? o->blocks[o->head].first_offset : next;
}

size_t
an_offsets_blocks(const struct an_offsets *o)
{
    return o->n;
}

void
an_offsets_fini(struct an_offsets *o)
{
    free(o->blocks);
    memset(o, 0, sizeof *o);
}
