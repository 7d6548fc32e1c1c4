/* SPDX-License-Identifier: Apache-2.0 */
/* Complex event patterns: the JSON schema, its validation with precise errors, and the
 * per-event condition test. The runtime that tracks partial matches is au_engine.h.
 *
 * ---- Pattern (JSON over REST and in files) -------------------------------------------------
 *
 *   {"id":"burst",                      required; 1..128 chars of [A-Za-z0-9_.:-], unique
 *    "description":"...",               optional free text
 *    "kind":"threshold",                sequence|conjunction|absence|threshold
 *    "elements":[                       1..AU_MAX_ELEMENTS; what each kind needs is below
 *      {"event_type":"filesystem_write",      required; names as in vx_event.h
 *       "conditions":[{"field":"path","op":"prefix","value":"/data/"}],   all must hold
 *       "within_ms":500,                sequence: most time since the previous element's event
 *                                       (not on the first); absence: the silence period
 *                                       (second element only; default window_ms)
 *       "min_occurrences":5}],          threshold only: events needed, 1..AU_MAX_OCCURRENCES
 *    "window_ms":10000,                 required, 1..86400000: the span a match may cover
 *    "partition_by":"metadata.user_id", optional: path, tenant, priority, content.<name> or
 *                                       metadata.<name>; matches never mix partitions; an
 *                                       event without the field is ignored by the pattern;
 *                                       absent: one partition for everything
 *    "skip":"past_last",                after a match: past_last (default) drops every other
 *                                       partial match of the partition and the match's own
 *                                       events; skip_to_next keeps the other partial matches
 *                                       (sequence) or drops only the match's oldest event
 *                                       (conjunction, threshold), so the next event may
 *                                       complete another match
 *    "enabled":true,                    default true
 *    "time_mode":"event",               processing|event; absent: the engine's default (the
 *                                       daemon's time_mode, or event for its replay input).
 *                                       processing: t is the engine's clock when the event
 *                                       is fed; event: t is the event's timestamp_ns (else
 *                                       ingest_ns) and the pattern sees events in that order,
 *                                       as the watermark passes them (au_engine.h)
 *    "allowed_lateness_ms":1000,        event time only, 0..86400000: how far behind the
 *                                       newest event time an event is still in time;
 *                                       absent: the engine's default
 *    "tenant":"acme",                   optional (default "default"); set from the
 *                                       X-VexFS-Tenant header by REST. The pattern sees only
 *                                       events of its tenant (an event's "tenant" field,
 *                                       "default" when empty)
 *    "actions":[{"kind":"alert","severity":"warning","message":"..."}]}
 *                                       1..8 actions:
 *                                       alert: severity info|warning|critical (default
 *                                       warning); message 1..1024 bytes
 *                                       workflow: {"kind":"workflow","workflow":"<id>"}
 *                                       starts that workflow of the pattern's tenant with
 *                                       the match as input (au_server.h)
 *                                       emit: {"kind":"emit","event":{...}} sends the event
 *                                       (a template over {"match":..,"event":..}, see
 *                                       au_expr.h) into propagation
 *
 * Conditions: "field" as for partition_by; "op" one of
 *   eq ne        string value: byte equality; number value: numeric equality
 *   prefix contains regex   string value; regex is POSIX extended (regex.h), unanchored,
 *                compiled at load: a bad one is rejected with regerror's reason
 *   gt ge lt le  number value; the field is read as a number (a field that is not a number
 *                does not match)
 * A condition on a field the event does not carry (empty path or tenant, missing key) does
 * not hold, whatever the op.
 *
 * Kinds (t is the time the engine is given with each event; "within" is inclusive):
 *   sequence     events matching elements[0], [1], ... in that order, the last at most
 *                window_ms after the first, each at most its within_ms after the previous;
 *                events in between that match nothing expected are skipped. Each event
 *                matching elements[0] starts a partial match of its own.
 *   conjunction  one event for every element, in any order, all within window_ms (the
 *                latest event for each element counts; one event may fill several elements).
 *   absence      exactly 2 elements: an event matching elements[0] not followed within T
 *                (elements[1].within_ms, default window_ms) by one matching elements[1] in
 *                the same partition; fires when T has passed (at the first time > start + T).
 *   threshold    exactly 1 element: at least min_occurrences matching events within
 *                window_ms; fires on the event that reaches the count.
 */
#ifndef AU_PATTERN_H
#define AU_PATTERN_H

#include <jansson.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_event.h"

#define AU_MAX_ID_LEN 128
#define AU_MAX_ELEMENTS 16
#define AU_MAX_CONDITIONS 32
#define AU_MAX_ACTIONS 8
#define AU_MAX_OCCURRENCES 10000
#define AU_MAX_WINDOW_MS 86400000LL
#define AU_MAX_VALUE_LEN 4096
#define AU_MAX_MESSAGE_LEN 1024

enum au_kind { AU_SEQUENCE = 0, AU_CONJUNCTION, AU_ABSENCE, AU_THRESHOLD };
enum au_skip { AU_SKIP_PAST_LAST = 0, AU_SKIP_TO_NEXT };
enum au_severity { AU_SEV_INFO = 0, AU_SEV_WARNING, AU_SEV_CRITICAL };
enum au_field_kind { AU_F_PATH = 0, AU_F_TENANT, AU_F_PRIORITY, AU_F_CONTENT, AU_F_METADATA };
enum au_op { AU_EQ = 0, AU_NE, AU_PREFIX, AU_CONTAINS, AU_REGEX, AU_GT, AU_GE, AU_LT, AU_LE };
/* Which clock a pattern runs on; AU_TIME_DEFAULT: the engine's default (au_engine.h). */
enum au_time_mode { AU_TIME_DEFAULT = 0, AU_TIME_PROCESSING, AU_TIME_EVENT };

struct au_field {
    enum au_field_kind kind;
    char *name;    /* the key for content/metadata, else NULL */
    uint32_t memo; /* set by the engine: the slot of this field's value for the event */
};

struct au_cond {
    struct au_field field;
    enum au_op op;
    bool numeric; /* value is a number (num), else a string (str) */
    double num;
    char *str;
    size_t str_len;
    regex_t re;
    bool has_re;
    uint32_t memo; /* set by the engine: the slot of this condition's result for the event */
};

struct au_element {
    int event_type;
    struct au_cond *conds;
    uint32_t n_conds;
    uint64_t within_ns; /* 0: none */
    uint32_t min_occurrences;
};

enum au_action_kind { AU_ACTION_ALERT = 0, AU_ACTION_WORKFLOW, AU_ACTION_EMIT };

struct au_action {
    enum au_action_kind kind;
    enum au_severity severity; /* alert */
    char *message;             /* alert */
    char *workflow;            /* workflow: the id (in the pattern's tenant) */
    json_t *event;             /* emit: the event template (own reference) */
};

struct au_pattern {
    char *id;
    char *tenant; /* "default" unless given */
    enum au_kind kind;
    enum au_skip skip;
    bool enabled;
    struct au_element *elems;
    uint32_t n_elems;
    uint64_t window_ns;
    bool partitioned;
    struct au_field partition;
    struct au_action *actions;
    uint32_t n_actions;
    enum au_time_mode time_mode;
    bool has_lateness;    /* allowed_lateness_ms given: overrides the engine's default */
    uint64_t lateness_ns;
    json_t *json; /* the pattern as given (own reference), for GET */
};

/* Parses and compiles one pattern; where names it in errors ("patterns[2]"). Returns 0, or
 * -EINVAL with err set to "<where> (id \"x\"): <field>: <reason>" and *p left empty. j is
 * borrowed. */
int au_pattern_parse(json_t *j, const char *where, struct au_pattern *p, char *err,
                     size_t errlen);
/* Frees what au_pattern_parse allocated; p may be zeroed or half-filled. */
void au_pattern_fini(struct au_pattern *p);

/* True when ev satisfies every condition of el (its type is checked by the caller). */
bool au_element_match(const struct au_element *el, const vx_event_t *ev);
/* True when the value v of c's field (NULL: the event does not carry it) satisfies c. */
bool au_cond_test(const struct au_cond *c, const char *v);
/* The value of a field in ev, or NULL when absent. priority is formatted into buf (at least
 * 4 bytes). Borrowed from ev or buf. */
const char *au_field_get(const struct au_field *f, const vx_event_t *ev, char *buf, size_t len);

/* Static strings. */
const char *au_kind_name(enum au_kind k);
const char *au_severity_name(enum au_severity s);

#endif
