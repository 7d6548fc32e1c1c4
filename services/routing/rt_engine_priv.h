/* SPDX-License-Identifier: Apache-2.0 */
/* The compiled engine's layout, shared by the builder (rt_engine.c) and the decider
 * (rt_engine_decide.c). Internal to routing.
 *
 * Rules are stored in evaluation order and "owners" number the holders of patterns: rule r is
 * owner r, filter f is owner n_rules + f. The patterns on one field (the path, or one content
 * or metadata key) form that field's database, scanned at most once per event. Identical
 * expressions (same text and flags) on one field are compiled once: Hyperscan id u reports to
 * owners[expr_first[u] .. expr_first[u + 1]), so a regex shared by many rules costs one
 * match. Anchored kinds (prefix, suffix, exact, glob) are not compiled into the database:
 * the field's rt_anchor decides them by direct comparison and reports the same ids (see
 * rt_anchor.h for why). Per-type and per-tenant bitsets over rules give the candidates of an
 * event before any scan, so a field is scanned only when some candidate (or a filter) looks
 * at it. */
#ifndef RT_ENGINE_PRIV_H
#define RT_ENGINE_PRIV_H

#include <hs/hs.h>
#include <stdatomic.h>

#include "rt_anchor.h"
#include "rt_engine.h"
#include "rt_rule.h"

/* Kinds of keys in the lookup table (also the hash seeds). */
enum {
    RT_KEY_CONTENT = 1,
    RT_KEY_METADATA = 2,
    RT_KEY_TENANT = 3,
};

#define RT_BLOOM_WORDS 8 /* 512 bits */

struct rt_field {
    enum rt_field_src src;
    const char *key;       /* borrowed from a pattern; NULL for the path */
    hs_database_t *db;     /* literal and regex patterns; NULL when none */
    rt_anchor_t *anchor;   /* prefix, suffix, exact and glob patterns; NULL when none */
    uint32_t n_pats;
    uint64_t *rule_mask;   /* rules with a pattern here (words) */
    bool for_filters;      /* an enabled filter has a pattern here */
};

/* The part of a rule a decision reads, 16 bytes per rule so that thousands of matching
 * candidates stay in cache (struct rt_rule is eight times larger). */
struct rt_rule_hot {
    uint64_t targets;      /* boundary bits */
    uint16_t boost;
    uint16_t n_tags;
    uint8_t min_priority;
    bool stop;
    bool log_match;
};

struct rt_slot {
    uint64_t hash;
    const char *key;       /* NULL: empty slot */
    uint32_t kind;
    uint32_t val;
};

struct rt_engine {
    uint64_t gen;          /* unique per build: a scratch remembers the engine it fits */
    struct rt_names names;
    int default_b;
    struct rt_rule *rules;
    uint32_t nr;
    struct rt_filter *filters;
    uint32_t nf;
    uint32_t *rule_by_id;  /* rule indexes sorted by id */
    uint32_t *filter_by_id;
    uint32_t words;        /* 64-bit words of a rule bitset */
    uint32_t owner_words;
    uint16_t *need;        /* per owner: pattern hits needed (0: no patterns) */
    uint32_t *expr_first;  /* per Hyperscan id, and one past the last */
    uint32_t *owners;      /* owner of each pattern, grouped by expression */
    uint32_t n_exprs;
    struct rt_field *fields;
    uint32_t nfields;
    int path_field;        /* index in fields, -1 when no pattern looks at the path */
    struct rt_slot *table; /* content/metadata fields and tenants */
    uint32_t table_mask;
    uint32_t table_used;
    uint64_t bloom[RT_BLOOM_WORDS];
    uint64_t shape[64];    /* bit (first byte % 64) of row (length % 64): keys in the table */
    uint64_t *type_masks;  /* RT_TYPE_SLOTS x words */
    uint64_t *any_tenant;  /* rules without a tenant condition */
    uint64_t *tenant_masks; /* n_tenants x words */
    uint32_t n_tenants;
    uint64_t *static_mask; /* enabled rules without patterns */
    uint32_t n_static;
    struct rt_rule_hot *hot; /* per rule: what applying it needs, packed */
    uint32_t total_tags;
    bool filters_enabled;
    _Atomic uint64_t *rule_matches;
    _Atomic uint64_t *filter_matches;
    _Atomic uint64_t *filter_drops;
    _Atomic uint64_t *filter_tat;
    _Atomic uint64_t routed, unrouted, to_default, blocked, sampled_out, scan_errors;
};

/* Looks key up among entries of kind; returns the value or -1. Most misses are answered
 * before hashing (no key of that length and first byte) or by the Bloom filter, without
 * touching the table: events carry many content and metadata keys no pattern looks at. */
int64_t rt_table_find(const rt_engine_t *e, uint32_t kind, const char *key, size_t len);
uint64_t rt_key_hash(uint32_t kind, const char *key, size_t len);

#endif
