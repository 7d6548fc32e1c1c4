/* SPDX-License-Identifier: Apache-2.0 */
/* The anchored patterns of one field — prefix, suffix, exact and glob — decided by direct
 * comparison instead of the regex engine.
 *
 * Why: Vectorscan 5.4.9 (Debian bookworm's libvectorscan5) misses end-anchored matches in
 * block mode. A database holding `zzz` and `OG\z` does not report `OG` at the end of inputs of
 * 18 to 32 bytes (to 64 bytes on CPUs with AVX-512, except 33 and 49), also written `OG$`,
 * caseless, as `[O][G]\z` or `\x2ec\z`, and the same for a glob ending in two literal bytes
 * (`**.c`). A suffix rule `.c` then loses every event whose path has such a length. Prefix,
 * suffix and exact are comparisons at a fixed place and a glob is a small automaton, so none of
 * them needs the regex engine; deciding them here makes those decisions exact whatever library
 * is linked, and literal and regex patterns stay on Hyperscan (rt_hscheck.h warns at start
 * when the linked library has the bug, because a user's regex can still hit it).
 *
 * Layout: per case mode, a hash table of the exact patterns (one hash and one probe per
 * value), a trie of the patterns read forwards (prefixes, and globs by their literal head) and
 * one read backwards (suffixes, and globs without a head by their literal tail); a walk
 * follows the value from its start (or end) and reports what it passes, so it costs at most
 * the length of the longest pattern whatever their number, and chains without branches are
 * folded into runs compared at once. A glob reached this way, and a glob with neither head nor
 * tail, is then matched whole by rt_glob_match. Exact strings in a table and the rest in tries
 * was the fastest layout measured (length-bucketed hashing of suffixes was slower than the
 * backward trie; a trie of exact strings slower than the table); the whole is measured
 * against hs_scan of the same expressions by `make bench` (bench_routing, "anchored" lines).
 *
 * Threading: built by one thread, then immutable; rt_anchor_scan may run on any number of
 * threads at once. */
#ifndef RT_ANCHOR_H
#define RT_ANCHOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rt_rule.h"

typedef struct rt_anchor rt_anchor_t;

/* Called once per matching pattern with the id it was added with. */
typedef void(rt_anchor_hit_fn)(uint32_t id, void *arg);

/* An empty set; caller owns it. */
rt_anchor_t *rt_anchor_new(void);
/* Accepts NULL; sets *a to NULL. */
void rt_anchor_destroy(rt_anchor_t **a);

/* True for the kinds this module decides. */
bool rt_anchor_kind(enum rt_pat_kind kind);

/* Adds a pattern (text borrowed for the call) reporting id. Call before rt_anchor_seal.
 * Returns 0, -EINVAL for a malformed glob (rt_rule rejects those first) or a kind not
 * decided here. Ids should be unique: a pattern added twice reports twice. */
int rt_anchor_add(rt_anchor_t *a, enum rt_pat_kind kind, const char *text, bool caseless,
                  uint32_t id);
/* Lays the tries out for scanning; no rt_anchor_add afterwards. */
void rt_anchor_seal(rt_anchor_t *a);
/* Patterns added. */
uint32_t rt_anchor_count(const rt_anchor_t *a);

/* Reports, through fn, every pattern that matches v[0, len), each at most once. */
void rt_anchor_scan(const rt_anchor_t *a, const char *v, size_t len, rt_anchor_hit_fn *fn,
                    void *arg);

#endif
