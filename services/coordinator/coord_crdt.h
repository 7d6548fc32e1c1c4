/* SPDX-License-Identifier: Apache-2.0 */
/* Conflict-free replicated data types kept per key by the state machine: a last-writer-wins
 * register, an observed-remove set (tags) and a positive-negative counter.
 *
 * All three are state-based: merge is commutative, associative and idempotent, so replicas
 * that saw the same updates in any order and grouping hold the same state (tests/coordinator
 * checks these laws over random operations). Inside the replicated state machine the updates
 * arrive in log order; the merge functions serve snapshots, the "merge" conflict strategy and
 * anyone combining states from outside. */
#ifndef COORD_CRDT_H
#define COORD_CRDT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "coord_vclock.h"

#define COORD_EID_LEN 16

/* ---- register values ---------------------------------------------------------------------
 * A register holds a value: any JSON value (a resolution, a merge), or an event's own fields
 * kept compact (type, content, timestamp, origin, seq) and turned into JSON only when read:
 * most values are written once and overwritten unread, so building JSON for each would be
 * wasted. Values are immutable and shared by reference count; references are taken and
 * dropped by the thread that applies (the state machine's writer), reads only look. */
struct coord_val;

/* v's JSON form: takes its own reference of value (NULL means JSON null). */
struct coord_val *coord_val_from_json(json_t *value);
/* An event's value: {"type":type,"content":{keys[i]:vals[i]},"timestamp_ns":ts,"origin":o,
 * "seq":s}; a repeated key keeps its last value, as in a JSON object built in order. */
struct coord_val *coord_val_from_event(const char *type, size_t n, const char *const *keys,
                                       const char *const *vals, uint64_t ts, uint64_t origin,
                                       uint64_t seq);
struct coord_val *coord_val_ref(struct coord_val *v);
void coord_val_unref(struct coord_val **v);
/* The JSON form (new reference). */
json_t *coord_val_json(const struct coord_val *v);
/* Whether the value's "content" equals the JSON object content. */
bool coord_val_content_equal(const struct coord_val *v, json_t *content);

/* ---- last-writer-wins register ----------------------------------------------------------
 * Ordered by vector clock: a causally later write always wins. Among concurrent writes the
 * order is total and the same everywhere: larger clock sum first (a causally later clock has
 * a strictly larger sum, so this order extends happened-before), then higher node id, then
 * higher event id. A total order makes merge (the maximum) associative. */
struct coord_lww {
    bool set;
    struct coord_vclock clock;
    uint64_t node;
    uint8_t eid[COORD_EID_LEN];
    struct coord_val *val; /* owned reference; NULL while unset */
};

void coord_lww_init(struct coord_lww *r);
void coord_lww_fini(struct coord_lww *r);
void coord_lww_copy(struct coord_lww *dst, const struct coord_lww *src);
/* <0, 0, >0 as a orders before, equal to, after b (an unset register is the smallest). */
int coord_lww_cmp(const struct coord_lww *a, const struct coord_lww *b);
/* Offers a write (value: borrowed, the register takes its own reference). Returns true when
 * it won and the register now holds it. */
bool coord_lww_offer(struct coord_lww *r, const struct coord_vclock *clock, uint64_t node,
                     const uint8_t eid[COORD_EID_LEN], json_t *value);
bool coord_lww_offer_val(struct coord_lww *r, const struct coord_vclock *clock, uint64_t node,
                         const uint8_t eid[COORD_EID_LEN], struct coord_val *val);
void coord_lww_merge(struct coord_lww *dst, const struct coord_lww *src);
bool coord_lww_equal(const struct coord_lww *a, const struct coord_lww *b);
json_t *coord_lww_to_json(const struct coord_lww *r);
int coord_lww_from_json(struct coord_lww *r, json_t *obj);

/* ---- observed-remove set ----------------------------------------------------------------
 * Every add carries a unique tag; a remove tombstones the tags it observed, so an add
 * concurrent with a remove survives (add wins). */
struct coord_orset_add {
    char *elem;
    char *tag;
};

struct coord_orset {
    struct coord_orset_add *adds; /* sorted by (elem, tag), unique */
    size_t n_adds, cap_adds;
    char **removed;               /* sorted tags, unique */
    size_t n_removed, cap_removed;
};

void coord_orset_init(struct coord_orset *s);
void coord_orset_fini(struct coord_orset *s);
void coord_orset_add(struct coord_orset *s, const char *elem, const char *tag);
/* Tombstones every tag of elem seen so far. Returns how many. */
size_t coord_orset_remove(struct coord_orset *s, const char *elem);
bool coord_orset_contains(const struct coord_orset *s, const char *elem);
void coord_orset_merge(struct coord_orset *dst, const struct coord_orset *src);
bool coord_orset_equal(const struct coord_orset *a, const struct coord_orset *b);
/* Sorted array of the present elements (new reference). */
json_t *coord_orset_elements(const struct coord_orset *s);
/* Whole state {"adds":[[elem,tag],...],"removed":[tag,...]} for snapshots. */
json_t *coord_orset_to_json(const struct coord_orset *s);
int coord_orset_from_json(struct coord_orset *s, json_t *obj);

/* ---- positive-negative counter ---------------------------------------------------------- */
struct coord_pn_entry {
    char *node;
    uint64_t p, n;
};

struct coord_pncounter {
    struct coord_pn_entry *e; /* sorted by node */
    size_t n, cap;
};

void coord_pn_init(struct coord_pncounter *c);
void coord_pn_fini(struct coord_pncounter *c);
void coord_pn_add(struct coord_pncounter *c, const char *node, int64_t delta);
int64_t coord_pn_value(const struct coord_pncounter *c);
void coord_pn_merge(struct coord_pncounter *dst, const struct coord_pncounter *src);
bool coord_pn_equal(const struct coord_pncounter *a, const struct coord_pncounter *b);
json_t *coord_pn_to_json(const struct coord_pncounter *c);
int coord_pn_from_json(struct coord_pncounter *c, json_t *obj);

#endif
