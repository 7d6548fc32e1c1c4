/* SPDX-License-Identifier: Apache-2.0 */
/* Parsed rules and filters: the schema of rt_engine.h as C structs, their validation from
 * jansson trees with precise messages, and their normalized JSON form. Internal to routing:
 * rt_engine.c compiles these into the matching engine. */
#ifndef RT_RULE_H
#define RT_RULE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rt_engine.h"

/* Event type slots of the per-type masks: types 1..31; slot 0 holds unknown types. */
#define RT_TYPE_SLOTS 32

enum rt_pat_kind {
    RT_PAT_LITERAL = 0,
    RT_PAT_PREFIX,
    RT_PAT_SUFFIX,
    RT_PAT_EXACT,
    RT_PAT_GLOB,
    RT_PAT_REGEX,
};

enum rt_field_src {
    RT_SRC_PATH = 0,
    RT_SRC_CONTENT,
    RT_SRC_METADATA,
};

struct rt_pattern {
    enum rt_pat_kind kind;
    char *text;           /* as given */
    bool case_sensitive;
    enum rt_field_src src;
    char *key;            /* content or metadata key; NULL for the path */
    char *regex;          /* the Hyperscan expression it compiles to */
};

struct rt_window {
    uint32_t start_s;     /* seconds of the local day, inclusive */
    uint32_t end_s;       /* exclusive; may be 86400; start > end spans midnight */
    uint8_t days;         /* bit 0 sunday .. bit 6 saturday */
    int32_t offset_min;   /* local = UTC + offset */
};

/* Conditions shared by rules and filters; every one given must hold. */
struct rt_cond {
    uint32_t type_mask;   /* bit t: event type t; 0: any type */
    char *tenant;         /* NULL: any tenant */
    struct rt_pattern *pats;
    uint32_t n_pats;
    bool match_all;       /* all patterns must match, else one suffices */
    bool pats_alias;      /* given as content_patterns (error messages use that name) */
    uint32_t min_priority;
    uint32_t max_priority;     /* filters only; 255 for rules */
    bool has_min, has_max;
    struct rt_window *windows; /* filters only */
    uint32_t n_windows;
    bool clock_event;          /* windows read the event timestamp */
};

struct rt_kv {
    char *key;
    char *value;
};

struct rt_rule {
    char *id;
    char *description;
    int32_t priority;
    bool enabled;
    bool stop;
    struct rt_cond cond;
    uint64_t target_bits;     /* target_boundaries */
    uint64_t route_bits;      /* actions.route_to_boundaries */
    uint32_t boost;
    bool log_match;
    bool emit_metrics;
    struct rt_kv *tags;
    uint32_t n_tags;
    uint32_t input_pos;       /* index in the array it came from */
};

struct rt_filter {
    char *id;
    char *description;
    int32_t order;
    bool enabled;
    enum rt_filter_kind kind;
    enum rt_filter_action action;
    struct rt_cond cond;
    struct rt_kv *tags;
    uint32_t n_tags;
    double rate_per_sec;
    uint32_t burst;
    uint64_t interval_ns;     /* 1 s / rate */
    uint64_t tolerance_ns;    /* interval * (burst - 1) */
    double sample_ratio;
    uint64_t sample_limit;    /* keep when (hash >> 11) < limit; ratio 1 keeps all */
    uint64_t sample_seed;
    uint32_t input_pos;
};

/* Boundary names known to the set being parsed. */
struct rt_names {
    char **names;
    uint32_t n;
};

/* Where an error is reported: "rules[3] (id \"logs\"): " followed by the field and reason. */
struct rt_perr {
    char *buf;
    size_t len;
    const char *set;   /* "rules" or "filters" */
    size_t idx;
    const char *id;    /* NULL until known */
};

void rt_perr_set(struct rt_perr *pe, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parse one entry. Return 0, or -EINVAL with the message in pe (out is then finalized). */
int rt_rule_parse(json_t *j, const struct rt_names *b, struct rt_rule *out, struct rt_perr *pe);
void rt_rule_fini(struct rt_rule *r);
json_t *rt_rule_to_json(const struct rt_rule *r, const struct rt_names *b);

int rt_filter_parse(json_t *j, const struct rt_names *b, struct rt_filter *out,
                    struct rt_perr *pe);
void rt_filter_fini(struct rt_filter *f);
json_t *rt_filter_to_json(const struct rt_filter *f);

/* Shared pieces of the schema, used by both parsers. */
int rt_check_keys(json_t *obj, const char *where, const char *const *allowed, struct rt_perr *pe);
int rt_parse_id(json_t *obj, const char *field, char **out, struct rt_perr *pe);
int rt_parse_tags(json_t *v, const char *where, struct rt_kv **out, uint32_t *n,
                  struct rt_perr *pe);
/* Parses the conditions keys common to rules and filters: event_types, tenant, patterns
 * (content_patterns), pattern_match, min_priority. Other keys are the caller's. */
int rt_cond_parse_common(json_t *c, struct rt_cond *out, struct rt_perr *pe);
void rt_cond_fini(struct rt_cond *c);
/* Adds the common condition keys to obj. */
void rt_cond_common_to_json(const struct rt_cond *c, json_t *obj);
json_t *rt_tags_to_json(const struct rt_kv *tags, uint32_t n);
void rt_tags_free(struct rt_kv *tags, uint32_t n);

const char *rt_pat_kind_name(enum rt_pat_kind k);

/* ---- runtime helpers of filters (rt_filter.c) ---------------------------------------- */

/* True when time t (Unix ns) falls in one of the windows. */
bool rt_windows_match(const struct rt_window *w, uint32_t n, uint64_t t_ns);
/* Rate limiting with one atomic word (the theoretical arrival time, GCRA). Returns true when
 * the event at now_ns is over the limit. consume=false only looks. */
bool rt_rate_over(const struct rt_filter *f, _Atomic uint64_t *tat, uint64_t now_ns,
                  bool consume);
/* True when the sample filter keeps this event. */
bool rt_sample_keep(const struct rt_filter *f, const vx_event_t *ev);

#endif
