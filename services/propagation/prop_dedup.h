/* SPDX-License-Identifier: Apache-2.0 */
/* Deduplication window: remembers content hashes seen within the last window_ns, in bounded
 * memory. An event whose hash was first seen less than window_ns ago is a duplicate; at exactly
 * window_ns or later it is new again (and starts a new window). When max_entries hashes are
 * inside the window, the oldest is forgotten early and counted as an eviction. Not
 * thread-safe: owned by the propagation loop. */
#ifndef PROP_DEDUP_H
#define PROP_DEDUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct prop_dedup prop_dedup_t;

prop_dedup_t *prop_dedup_new(size_t max_entries, uint64_t window_ns);
void prop_dedup_destroy(prop_dedup_t **d);

/* Returns true when hash is a duplicate at time now_ns (monotonic); otherwise records it. */
bool prop_dedup_check(prop_dedup_t *d, uint64_t hash, uint64_t now_ns);

/* Forgets hash when it is still the record made at seen_ns (an event recorded, then not
 * published: a later copy of it is new, not a duplicate). */
void prop_dedup_forget(prop_dedup_t *d, uint64_t hash, uint64_t seen_ns);

/* Hints that hash will be checked soon: starts loading its table slot into cache. Checking a
 * batch in two passes (prefetch all, then check all) hides most cache misses of a large
 * window. */
void prop_dedup_prefetch(const prop_dedup_t *d, uint64_t hash);

/* Changes the window; hashes already recorded keep their first-seen time. */
void prop_dedup_set_window(prop_dedup_t *d, uint64_t window_ns);

/* Writes the hashes inside the window at now_ns, oldest first, into pairs as (hash, age in ns)
 * pairs: at most max of them (pairs holds 2 * max values). Returns how many were written. */
size_t prop_dedup_export(const prop_dedup_t *d, uint64_t now_ns, uint64_t *pairs, size_t max);

uint64_t prop_dedup_window(const prop_dedup_t *d);
size_t prop_dedup_size(const prop_dedup_t *d);
uint64_t prop_dedup_evictions(const prop_dedup_t *d);

#endif
