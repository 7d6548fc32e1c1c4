/* SPDX-License-Identifier: Apache-2.0 */
/* Deduplication window: an open-addressing table (linear probing, backward-shift deletion)
 * indexed by hash, and a ring of the same entries in arrival order that expires them. Both
 * are sized once, so memory never grows with load. */
#include "prop_dedup.h"

#include <stdlib.h>

#include "vx_mem.h"

struct s_slot {
    uint64_t hash; /* 0: empty */
    uint64_t seen_ns;
};

struct prop_dedup {
    struct s_slot *table;
    size_t mask;
    struct s_slot *ring; /* arrival order: head is the oldest */
    size_t ring_cap;
    size_t head;
    size_t count;
    uint64_t window_ns;
    uint64_t evictions;
};

prop_dedup_t *
prop_dedup_new(size_t max_entries, uint64_t window_ns)
{
    prop_dedup_t *d = vx_calloc(1, sizeof *d);
    size_t cap = 16;
    while (cap < max_entries * 2) {
        cap <<= 1;
    }
    d->table = vx_calloc(cap, sizeof *d->table);
    d->mask = cap - 1;
    d->ring_cap = max_entries ? max_entries : 1;
    d->ring = vx_calloc(d->ring_cap, sizeof *d->ring);
    d->window_ns = window_ns;
    return d;
}

void
prop_dedup_destroy(prop_dedup_t **d)
{
    if (!d || !*d) {
        return;
    }
    free((*d)->table);
    free((*d)->ring);
    vx_free(d);
}

static size_t
s_index(const prop_dedup_t *d, uint64_t hash)
{
    /* The hash is already well mixed; fold the high bits in anyway for small tables. */
    return (size_t)(hash ^ (hash >> 29)) & d->mask;
}

static struct s_slot *
s_lookup(const prop_dedup_t *d, uint64_t hash)
{
    for (size_t i = s_index(d, hash);; i = (i + 1) & d->mask) {
        if (d->table[i].hash == hash) {
            return &d->table[i];
        }
        if (d->table[i].hash == 0) {
            return NULL;
        }
    }
}

static void
s_remove(prop_dedup_t *d, uint64_t hash, uint64_t seen_ns)
{
    struct s_slot *s = s_lookup(d, hash);
    if (!s || s->seen_ns != seen_ns) {
        return; /* already replaced by a newer window for the same hash */
    }
    size_t i = (size_t)(s - d->table);
    /* Backward-shift deletion keeps every probe chain unbroken without tombstones. */
    for (size_t j = (i + 1) & d->mask; d->table[j].hash != 0; j = (j + 1) & d->mask) {
        size_t home = s_index(d, d->table[j].hash);
        bool movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            d->table[i] = d->table[j];
            i = j;
        }
    }
    d->table[i].hash = 0;
}

void
prop_dedup_forget(prop_dedup_t *d, uint64_t hash, uint64_t seen_ns)
{
    hash = hash ? hash : 1;
    struct s_slot *t = s_lookup(d, hash);
    if (!t || t->seen_ns != seen_ns) {
        return;
    }
    s_remove(d, hash, seen_ns);
    /* The ring's record becomes a tombstone (hash 0), so an export leaves it out. Forgotten
     * events are the latest ones (a batch that could not be published): search from the
     * newest back. */
    for (size_t k = d->count; k-- > 0;) {
        struct s_slot *r = &d->ring[(d->head + k) % d->ring_cap];
        if (r->hash == hash && r->seen_ns == seen_ns) {
            r->hash = 0;
            return;
        }
    }
}

void
prop_dedup_prefetch(const prop_dedup_t *d, uint64_t hash)
{
    __builtin_prefetch(&d->table[s_index(d, hash ? hash : 1)]);
}

static void
s_pop_oldest(prop_dedup_t *d)
{
    struct s_slot *old = &d->ring[d->head];
    /* Expiry walks the ring in order but deletes at random table slots: fetch ahead. */
    if (d->count > 16) {
        __builtin_prefetch(&d->table[s_index(d, d->ring[(d->head + 16) % d->ring_cap].hash)]);
    }
    if (old->hash != 0) { /* 0: a record prop_dedup_forget already removed */
        s_remove(d, old->hash, old->seen_ns);
    }
    /* NOLINTNEXTLINE(clang-analyzer-core.DivideZero): prop_dedup_new makes ring_cap >= 1 */
    d->head = (d->head + 1) % d->ring_cap;
    d->count--;
}

bool
prop_dedup_check(prop_dedup_t *d, uint64_t hash, uint64_t now_ns)
{
    if (hash == 0) {
        hash = 1;
    }
    while (d->count > 0 && now_ns - d->ring[d->head].seen_ns >= d->window_ns) {
        s_pop_oldest(d);
    }
    struct s_slot *s = s_lookup(d, hash);
    if (s) {
        if (now_ns - s->seen_ns < d->window_ns) {
            return true;
        }
        /* Expired but not yet popped (window shrank): start a new window for it. */
        s->seen_ns = now_ns;
    }
    if (d->count == d->ring_cap) {
        s_pop_oldest(d);
        d->evictions++;
    }
    if (!s) {
        size_t i = s_index(d, hash);
        while (d->table[i].hash != 0) {
            i = (i + 1) & d->mask;
        }
        d->table[i].hash = hash;
        d->table[i].seen_ns = now_ns;
    }
    size_t tail = (d->head + d->count) % d->ring_cap;
    d->ring[tail].hash = hash;
    d->ring[tail].seen_ns = now_ns;
    d->count++;
    return false;
}

void
prop_dedup_set_window(prop_dedup_t *d, uint64_t window_ns)
{
    d->window_ns = window_ns;
}

/* Why the export reads the ring alone, never the table: it runs on the loop every checkpoint,
 * and a table lookup per entry (a cache miss each) cost about a microsecond per entry, half a
 * second for a busy window. A ring record is either live, a tombstone (forgotten), expired,
 * or an older record of a hash whose window restarted; the last kind is exported too, and
 * harmless: restoring replays the records in order, so the hash's newer record restarts its
 * window exactly as it did here. */
size_t
prop_dedup_export(const prop_dedup_t *d, uint64_t now_ns, uint64_t *pairs, size_t max)
{
    size_t n = 0;
    size_t first = d->ring_cap - d->head < d->count ? d->ring_cap - d->head : d->count;
    const struct s_slot *seg[2] = {d->ring + d->head, d->ring};
    size_t len[2] = {first, d->count - first};
    for (int g = 0; g < 2; g++) {
        for (size_t k = 0; k < len[g] && n < max; k++) {
            const struct s_slot *r = &seg[g][k];
            if (r->hash == 0 || now_ns - r->seen_ns >= d->window_ns) {
                continue;
            }
            pairs[2 * n] = r->hash;
            pairs[2 * n + 1] = now_ns - r->seen_ns;
            n++;
        }
    }
    return n;
}

uint64_t
prop_dedup_window(const prop_dedup_t *d)
{
    return d->window_ns;
}

size_t
prop_dedup_size(const prop_dedup_t *d)
{
    return d->count;
}

uint64_t
prop_dedup_evictions(const prop_dedup_t *d)
{
    return d->evictions;
}
