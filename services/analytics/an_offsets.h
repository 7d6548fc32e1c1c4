/* SPDX-License-Identifier: Apache-2.0 */
/* Which offset of a partition may be committed. Consumed messages are kept in blocks of about
 * AN_BLOCK_EVENTS, each with its first offset and the newest event time in it; a block whose
 * newest event is older than the oldest time an open window may still need is done with, and
 * the committable offset is the start of the first block that is not. After a restart the new
 * owner resumes there, so every window open at the commit is rebuilt whole. Memory: one block
 * per AN_BLOCK_EVENTS messages not yet done with. */
#ifndef AN_OFFSETS_H
#define AN_OFFSETS_H

#include <stddef.h>
#include <stdint.h>

#define AN_BLOCK_EVENTS 1024

struct an_block {
    int64_t first_offset;
    uint64_t max_time;
    uint32_t n;
};

/* A ring of blocks, oldest first. Start as {0}; an_offsets_fini frees it. */
struct an_offsets {
    struct an_block *blocks;
    size_t head, n, cap;
};

/* Records n consumed messages whose offsets start at first and whose newest event time is
 * max_time (added to the newest block until it holds AN_BLOCK_EVENTS). */
void an_offsets_track(struct an_offsets *o, int64_t first, uint32_t n, uint64_t max_time);

/* Forgets the blocks whose newest event time is below low (no open window needs them) and
 * returns the first offset of the oldest block left, or next (the offset after the last
 * consumed message) when none is left. */
int64_t an_offsets_safe(struct an_offsets *o, uint64_t low, int64_t next);

/* Blocks held (for tests and gauges). */
size_t an_offsets_blocks(const struct an_offsets *o);

void an_offsets_fini(struct an_offsets *o);

#endif
