/* SPDX-License-Identifier: Apache-2.0 */
/* The routing engine: a rule set and a filter set compiled into one immutable object that
 * decides, for one event in one pass, whether it is dropped by a filter, which boundaries it
 * goes to, its new priority and the tags it gains.
 *
 *
 * ---- Rules (JSON over REST, YAML/JSON in files; the same schema) -----------------------------
 *
 *   {"id":"logs",                      required; 1..128 chars of [A-Za-z0-9_.:-], unique
 *    "description":"...",              optional free text
 *    "priority":100,                   integer -1000000..1000000, default 0; higher first
 *    "enabled":true,                   default true; a disabled rule is kept but never matches
 *    "conditions":{                    every condition given must hold (AND); all optional
 *      "event_types":["filesystem_write"],   names as in vx_event.h; absent or [] = any type
 *      "patterns":[{"kind":"regex","pattern":".*\\.(log|txt)$","case_sensitive":false,
 *                   "field":"path"}],        ("content_patterns" is accepted as a synonym)
 *      "pattern_match":"any",          "any" (default: one pattern suffices) or "all"
 *      "tenant":"acme",                exact tenant; absent = any tenant
 *      "min_priority":3},              event priority >= this (0..255), default 0
 *    "target_boundaries":["analytics"],
 *    "actions":{"route_to_boundaries":["graph"],  union with target_boundaries
 *               "priority_boost":2,    0..255 added to the event priority (capped at 255)
 *               "log_match":true,      the daemon logs each match of this rule
 *               "emit_metrics":true,   the daemon exports this rule's match counter
 *               "add_tags":{"k":"v"}}, metadata entries added to the routed event
 *    "stop":false}                     true: a match ends evaluation (later rules are skipped)
 *
 * Evaluation order is priority descending, ties in input order; the engine stores and returns
 * rules in that order, and a rule's index is its position in it. Every matching rule applies
 * (targets are unioned, boosts summed, tags added) until one with "stop":true matches.
 *
 * Patterns. "field" is "path" (default), "content.<name>" or "metadata.<name>"; a pattern on
 * a field the event does not carry does not match. Matching is on bytes; case folding
 * ("case_sensitive":false, default true) is ASCII only. Kinds:
 *   literal  the field contains the text          prefix  the field starts with it
 *   suffix   the field ends with it               exact   the field equals it
 *   glob     the whole field matches: '*' any run without '/', '**' any run, '?' one byte
 *            other than '/', [abc] [a-z] [!a-z] classes, '\' escapes the next byte
 *   regex    Hyperscan/PCRE syntax, unanchored search ('^' and '$' anchor to the field;
 *            '$' also matches before a final newline; '.' does not match a newline).
 *            Backreferences, lookaround and other constructs Hyperscan cannot compile are
 *            rejected at build time with the pattern and Hyperscan's reason.
 * Pattern text is 1..4096 bytes; at most RT_MAX_PATTERNS_PER_RULE patterns per rule or filter.
 * Literal and regex patterns are matched by Hyperscan; prefix, suffix, exact and glob patterns
 * are decided by direct comparison (rt_anchor.h, rt_glob.h), which stays exact where the linked
 * Vectorscan misses end-anchored matches.
 *
 * ---- Filters (applied before rules, in "order" ascending, ties in input order) -------------
 *
 *   {"id":"secrets", "description":"...", "enabled":true, "order":1,
 *    "kind":"content",                 content|path|temporal|priority|rate_limit|sample
 *    "conditions":{"event_types":[...], "tenant":"acme",
 *                  "patterns":[...], "pattern_match":"any",
 *                  "min_priority":0, "max_priority":255,
 *                  "time_windows":[{"start":"09:00","end":"17:00",
 *                                   "days":["mon","tue","wed","thu","fri"],
 *                                   "utc_offset_minutes":60}],
 *                  "clock":"wall"},    time windows read "wall" (decision time) or "event"
 *                                      (the event's timestamp_ns, wall time when it is 0)
 *    "action":"block",                 block|allow|tag|sample
 *    "add_tags":{"k":"v"},             required for tag; allowed for allow/tag/sample
 *    "rate_per_sec":100.0, "burst":20, rate_limit only: token bucket, > 0 and 1..1e9
 *    "sample_ratio":0.1}               action sample: fraction of events kept, 0..1
 *
 * All conditions given must hold; the kind names the condition it must have: content
 * (patterns on any field), path (patterns, all on "path"), temporal (time_windows), priority
 * (min_priority and/or max_priority), rate_limit (rate_per_sec and burst), sample (action
 * must be sample; conditions only scope it). Windows: "HH:MM" or "HH:MM:SS" local time
 * (UTC + utc_offset_minutes, -1440..1440), start inclusive, end exclusive, "24:00" allowed as
 * end; start > end spans midnight and belongs to the day it starts on; "days" absent = every
 * day. A filter matches when its conditions hold; a rate_limit filter matches only when the
 * event is over the limit (the bucket holds "burst" events and refills at rate_per_sec).
 * Actions on a match:
 *   block   the event is dropped; evaluation ends
 *   allow   the event passes; later filters are skipped (rules still apply)
 *   tag     add_tags are added; evaluation continues
 *   sample  the event is kept with probability sample_ratio, chosen by a hash of its id (or,
 *           without an id, of producer id and sequence), so the choice is the same on every
 *           replica and replay and consumes no state; a kept event continues, with add_tags
 * A rate_limit filter allows block, tag and sample (applied to the excess), not allow.
 * Every blocked or sampled-out event is counted against the filter that dropped it.
 *
 * ---- Decision ----------------------------------------------------------------------------
 *
 * An event not dropped whose matched rules name no boundary is unrouted: it is counted and
 * goes to opts.default_boundary when one is configured (d->targets then holds that one bit).
 * Tags: filter tags first, then rule tags in evaluation order; the first value given for a key
 * wins. Tags and ids in a decision are borrowed from the engine.
 *
 * ---- Threading ---------------------------------------------------------------------------
 *
 * An engine is immutable after rt_engine_build except its counters and rate-limit buckets,
 * which are atomics. Any number of threads may call rt_engine_decide on one engine at once,
 * each with its own scratch; a scratch is used by one thread at a time. explain=true writes
 * nothing in the engine (no counter, no rate-limit token): a REST thread may call it with its
 * own scratch while the loop decides. Counters are readable from any thread at any time; they
 * have one writer (relaxed load and store, no locked add, which would dominate match-heavy
 * decisions), so they are exact when non-explain decisions on one engine come from one thread
 * at a time, as in the daemon's loop; with several such threads some increments may be lost,
 * never a decision. Rate-limit buckets are updated with compare-and-swap, so they are exact
 * with several deciders too. A hot reload builds a new engine, optionally
 * rt_engine_inherit()s state from the old one, publishes it, and destroys the old one once no
 * thread uses it. */
/* API FROZEN */
#ifndef RT_ENGINE_H
#define RT_ENGINE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_event.h"

#define RT_MAX_BOUNDARIES 64
#define RT_DEFAULT_MAX_RULES 100000
#define RT_DEFAULT_MAX_FILTERS 1024
#define RT_MAX_PATTERNS_PER_RULE 64
#define RT_MAX_PATTERN_LEN 4096
#define RT_MAX_TAGS_PER_RULE 32
#define RT_MAX_ID_LEN 128

typedef struct rt_engine rt_engine_t;
typedef struct rt_scratch rt_scratch_t;

struct rt_engine_opts {
    /* Boundary names a rule may target; index i is bit i of rt_decision.targets. NULL (or
     * n_boundaries 0) means the five defaults in this order: analytics, automation,
     * coordinator, graph, vector. At most RT_MAX_BOUNDARIES, unique, same id syntax as rules. */
    const char *const *boundaries;
    size_t n_boundaries;
    /* Where unrouted events go; must be one of the boundaries. NULL: nowhere. */
    const char *default_boundary;
    size_t max_rules;   /* 0: RT_DEFAULT_MAX_RULES */
    size_t max_filters; /* 0: RT_DEFAULT_MAX_FILTERS */
};

enum rt_filter_kind {
    RT_FILTER_CONTENT = 0,
    RT_FILTER_PATH,
    RT_FILTER_TEMPORAL,
    RT_FILTER_PRIORITY,
    RT_FILTER_RATE_LIMIT,
    RT_FILTER_SAMPLE,
};

enum rt_filter_action {
    RT_ACTION_BLOCK = 0,
    RT_ACTION_ALLOW,
    RT_ACTION_TAG,
    RT_ACTION_SAMPLE,
};

/* What a matching filter did to the event. */
enum rt_filter_outcome {
    RT_OUTCOME_BLOCKED = 0, /* dropped (block, or a rate_limit filter with action block) */
    RT_OUTCOME_ALLOWED,     /* allow: later filters skipped */
    RT_OUTCOME_TAGGED,      /* tag: tags added, evaluation went on */
    RT_OUTCOME_SAMPLED_IN,  /* sample: kept */
    RT_OUTCOME_SAMPLED_OUT, /* sample: dropped */
};

struct rt_tag {
    const char *key;   /* borrowed from the engine */
    const char *value;
};

struct rt_filter_hit {
    uint32_t index;                /* filter index (rt_engine_filter_id) */
    enum rt_filter_outcome outcome;
};

/* The outcome of one rt_engine_decide. The arrays are borrowed from the scratch and valid
 * until its next use; strings are borrowed from the engine. */
struct rt_decision {
    uint64_t targets;         /* bit i: boundary index i; 0 when dropped */
    bool dropped;             /* blocked or sampled out by a filter */
    bool blocked;
    bool sampled_out;
    int32_t drop_filter;      /* index of the filter that dropped it, -1 when not dropped */
    bool unrouted;            /* not dropped, and no matched rule named a boundary */
    bool to_default;          /* unrouted and sent to the default boundary */
    bool log_match;           /* a matched rule has log_match */
    uint32_t priority_boost;  /* sum of the matched rules' boosts */
    uint32_t priority;        /* event priority + boost, at most 255 */
    const uint32_t *rules;    /* matched rule indexes in evaluation order */
    uint32_t n_rules;
    const struct rt_filter_hit *filters; /* matched filters in evaluation order */
    uint32_t n_filters;
    const struct rt_tag *tags; /* tags to add, unique keys */
    uint32_t n_tags;
};

/* Parses, validates and compiles rules (a JSON array, or NULL for none) and filters (a JSON
 * array, or NULL) into a new engine. Both trees are borrowed and not modified. Returns 0 and
 * *out (caller owns it), or a negative errno with *out untouched and a message in err naming
 * the entry, its id, the field and the reason, e.g.
 *   rules[3] (id "logs"): conditions.patterns[0]: regex "(": Missing close paren
 * -EINVAL: a bad value, an unknown key, an unknown boundary or event type, a duplicate id;
 * -E2BIG: more rules or filters than the limits; -ENOMEM: Hyperscan ran out of memory;
 * -EPROTO: Hyperscan failed for another reason. opts may be NULL (all defaults). */
int rt_engine_build(json_t *rules, json_t *filters, const struct rt_engine_opts *opts,
                    rt_engine_t **out, char *err, size_t errlen);
/* Accepts NULL; sets *e to NULL. No thread may still be deciding with it. */
void rt_engine_destroy(rt_engine_t **e);

/* Copies rule and filter counters and rate-limit buckets from old to e for entries with the
 * same id, and the engine-wide counters, so counters stay monotonic across a reload. Call
 * before e is published; increments old receives afterwards are not carried. */
void rt_engine_inherit(rt_engine_t *e, const rt_engine_t *old);

/* A scratch for deciding with e (and, after rt_scratch_fit, with other engines). Caller owns
 * it. Returns NULL when Hyperscan cannot allocate. */
rt_scratch_t *rt_scratch_new(const rt_engine_t *e);
/* Grows s so it also fits e (hs_alloc_scratch grows in place). rt_engine_decide does this by
 * itself when s last served another engine; calling it first keeps the allocation off the hot
 * path. Returns 0 or -ENOMEM. Only the thread that owns s may call it. */
int rt_scratch_fit(rt_scratch_t *s, const rt_engine_t *e);
void rt_scratch_destroy(rt_scratch_t **s);

/* Decides for ev. wall_ns is Unix time in ns: time windows and rate limits use it.
 * explain=false counts the decision and consumes rate-limit tokens; explain=true computes the
 * same decision with no side effect. Fills *d (see struct rt_decision). Never fails: a
 * Hyperscan error at scan time is counted (rt_engine_stats.scan_errors); matches reported
 * before it still count, the rest of that field is treated as not matching. */
void rt_engine_decide(rt_engine_t *e, rt_scratch_t *s, const vx_event_t *ev, uint64_t wall_ns,
                      bool explain, struct rt_decision *d);

/* The decision as JSON for POST /v1/route/test (new reference, caller owns it):
 *   {"dropped":false,"blocked_by":null,"sampled_out_by":null,"unrouted":false,
 *    "default_boundary":false,"targets":["analytics"],"priority":7,"priority_boost":2,
 *    "log_match":true,"tags":{"k":"v"},
 *    "filters":[{"index":0,"id":"secrets","kind":"content","action":"tag","outcome":"tagged"}],
 *    "rules":[{"index":3,"id":"logs","priority":100,"stop":false,"targets":["analytics"]}]}
 * d must come from e and its scratch must not have been used since. */
json_t *rt_decision_explain(const rt_engine_t *e, const struct rt_decision *d);

/* The normalized sets (every field present with its default, rules in evaluation order,
 * filters in filter order): what GET returns and what persistence stores; rebuilding from
 * them gives the same engine. New references, caller owns them. */
json_t *rt_engine_rules_json(const rt_engine_t *e);
json_t *rt_engine_filters_json(const rt_engine_t *e);

/* Counts and names. Ids and names are borrowed, valid while e lives; NULL when out of range. */
uint32_t rt_engine_rule_count(const rt_engine_t *e);
uint32_t rt_engine_filter_count(const rt_engine_t *e);
const char *rt_engine_rule_id(const rt_engine_t *e, uint32_t i);
const char *rt_engine_filter_id(const rt_engine_t *e, uint32_t i);
/* Index of the rule or filter with this id, or -1. */
int32_t rt_engine_rule_index(const rt_engine_t *e, const char *id);
int32_t rt_engine_filter_index(const rt_engine_t *e, const char *id);
uint32_t rt_engine_boundary_count(const rt_engine_t *e);
const char *rt_engine_boundary_name(const rt_engine_t *e, uint32_t i);
/* Index of the boundary, or -1 when unknown. */
int rt_engine_boundary_index(const rt_engine_t *e, const char *name);
/* Index of the default boundary, or -1 when none. */
int rt_engine_default_boundary(const rt_engine_t *e);

struct rt_rule_info {
    const char *id;
    int32_t priority;
    bool enabled;
    bool stop;
    bool log_match;
    bool emit_metrics;
    uint64_t targets;       /* boundary bits */
    uint32_t priority_boost;
};

struct rt_filter_info {
    const char *id;
    int32_t order;
    bool enabled;
    enum rt_filter_kind kind;
    enum rt_filter_action action;
};

/* Fill *out for index i. Return 0, or -ERANGE when i is out of range. */
int rt_engine_rule_info(const rt_engine_t *e, uint32_t i, struct rt_rule_info *out);
int rt_engine_filter_info(const rt_engine_t *e, uint32_t i, struct rt_filter_info *out);
/* Stable lowercase names ("content", "block", "sampled_out"). */
const char *rt_filter_kind_name(enum rt_filter_kind k);
const char *rt_filter_action_name(enum rt_filter_action a);
const char *rt_filter_outcome_name(enum rt_filter_outcome o);

/* Counters, updated by non-explain decisions; readable from any thread. */
uint64_t rt_engine_rule_matches(const rt_engine_t *e, uint32_t i);
uint64_t rt_engine_filter_matches(const rt_engine_t *e, uint32_t i);
/* Events this filter blocked or sampled out. */
uint64_t rt_engine_filter_drops(const rt_engine_t *e, uint32_t i);

struct rt_engine_stats {
    uint64_t decisions;
    uint64_t routed;      /* at least one target from a rule */
    uint64_t unrouted;    /* including those sent to the default boundary */
    uint64_t to_default;
    uint64_t blocked;
    uint64_t sampled_out;
    uint64_t scan_errors;
};
void rt_engine_stats(const rt_engine_t *e, struct rt_engine_stats *out);

#endif
