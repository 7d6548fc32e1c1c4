/* SPDX-License-Identifier: Apache-2.0 */
/* Vector clocks: a counter per node name, compared for happened-before and concurrency.
 *
 * Entries are kept sorted by name so that comparison and merge are one linear pass, and so that
 * two equal clocks have the same JSON form. An absent entry counts as 0. Names live inside the
 * entries, so a copy is one allocation (the state machine copies clocks for every event). */
#ifndef COORD_VCLOCK_H
#define COORD_VCLOCK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COORD_VCLOCK_MAX_NAME 128
/* The one entry that stands for every producer name vclock_nodes does not list. */
#define COORD_VCLOCK_FOLDED "~folded"

struct coord_vclock_entry {
    uint64_t counter;
    char name[COORD_VCLOCK_MAX_NAME + 1];
};

/* Embedded object: coord_vclock_init/fini. */
struct coord_vclock {
    struct coord_vclock_entry *e;
    size_t n, cap;
};

enum coord_order {
    COORD_EQUAL = 0,
    COORD_BEFORE = 1,     /* a happened before b */
    COORD_AFTER = 2,      /* b happened before a */
    COORD_CONCURRENT = 3, /* neither */
};

void coord_vclock_init(struct coord_vclock *c);
void coord_vclock_fini(struct coord_vclock *c);
/* Replaces dst with a copy of src. */
void coord_vclock_copy(struct coord_vclock *dst, const struct coord_vclock *src);

uint64_t coord_vclock_get(const struct coord_vclock *c, const char *name);
/* Sets name's counter (adds the entry when missing). */
void coord_vclock_set(struct coord_vclock *c, const char *name, uint64_t counter);
/* Raises name's counter by one and returns the new value. */
uint64_t coord_vclock_tick(struct coord_vclock *c, const char *name);
/* dst = pointwise maximum of dst and src (the least upper bound). */
void coord_vclock_merge(struct coord_vclock *dst, const struct coord_vclock *src);
/* Sum of all counters (a causally later clock always has a larger sum). */
uint64_t coord_vclock_sum(const struct coord_vclock *c);

/* How a relates to b. When skip_prefix is non-NULL, entries whose name starts with it are
 * ignored on both sides. */
enum coord_order coord_vclock_compare(const struct coord_vclock *a, const struct coord_vclock *b,
                                      const char *skip_prefix);
const char *coord_order_name(enum coord_order o);

/* {"name": counter, ...} (new reference). */
json_t *coord_vclock_to_json(const struct coord_vclock *c);

/* A compact copy for keeping many clocks: [entries u16 little-endian] then per entry
 * [name length u8][name][counter u64 little-endian]. _pack writes coord_vclock_packed_size
 * bytes. */
size_t coord_vclock_packed_size(const struct coord_vclock *c);
void coord_vclock_pack(const struct coord_vclock *c, uint8_t *out);
/* The JSON form of a packed clock (new reference). */
json_t *coord_vclock_packed_json(const uint8_t *p);
/* Reads {"name": counter, ...} into c (replacing it). Returns 0 or -EINVAL. */
int coord_vclock_from_json(struct coord_vclock *c, json_t *obj);

#endif
