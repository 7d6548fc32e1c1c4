/* SPDX-License-Identifier: Apache-2.0 */
/* An analytics query: which events (types, filters), how they are windowed, grouped and
 * aggregated. Queries come as JSON over REST and from files, with one schema for both:
 *
 *   {"id":"writes-per-user", "event_types":["filesystem_write"],
 *    "filters":[{"field":"path","op":"prefix","value":"/data/"}],
 *    "window":{"kind":"tumbling","size_ms":60000,"allowed_lateness_ms":5000},
 *    "group_by":["metadata.user_id"],
 *    "aggregations":[{"fn":"count","as":"n"},{"fn":"sum","field":"content.size","as":"bytes"}],
 *    "export_metrics":true,
 *    "anomaly":{"alpha":0.3,"z_threshold":3.0,"min_windows":5}}
 *
 * Fields name a part of the event: path, type, tenant, priority, content.<key> or
 * metadata.<key>. "tenant":"acme" makes the query acme's: it sees only acme's events, and
 * over REST only callers that may act for acme see it (set from the caller's credential). Validation names the offending member, so a bad query is rejected with a
 * precise message and never half-installed. */
#ifndef AN_QUERY_H
#define AN_QUERY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_event.h"

#define AN_QUERY_MAX_ID 128
#define AN_QUERY_MAX_TENANT 256
#define AN_QUERY_MAX_ITEMS 64 /* filters, group-by fields, aggregations, event types */

enum an_field_kind {
    AN_FIELD_PATH,
    AN_FIELD_TYPE,
    AN_FIELD_TENANT,
    AN_FIELD_PRIORITY,
    AN_FIELD_CONTENT,
    AN_FIELD_METADATA,
};

struct an_field {
    enum an_field_kind kind;
    char *key;   /* for content./metadata.: the map key; NULL otherwise */
    char *name;  /* as written in the query ("metadata.user_id") */
};

enum an_op {
    AN_OP_EQ,
    AN_OP_NE,
    AN_OP_CONTAINS,
    AN_OP_PREFIX,
    AN_OP_GT,
    AN_OP_GE,
    AN_OP_LT,
    AN_OP_LE,
};

struct an_filter {
    struct an_field field;
    enum an_op op;
    char *text;     /* the value as a string (numbers as written in JSON) */
    double number;  /* the value as a number, for gt/ge/lt/le */
};

enum an_window_kind {
    AN_WINDOW_TUMBLING,
    AN_WINDOW_SLIDING,
    AN_WINDOW_SESSION,
};

struct an_window_spec {
    enum an_window_kind kind;
    uint64_t size_ns;     /* tumbling and sliding */
    uint64_t slide_ns;    /* sliding: a window starts at every multiple of slide_ns */
    uint64_t gap_ns;      /* session: inactivity that ends a session */
    uint64_t lateness_ns; /* how far behind the newest event time a late event is still used */
};

enum an_fn {
    AN_FN_COUNT,
    AN_FN_SUM,
    AN_FN_AVG,
    AN_FN_MIN,
    AN_FN_MAX,
    AN_FN_DISTINCT,
    AN_FN_P50,
    AN_FN_P90,
    AN_FN_P99,
};

struct an_agg_spec {
    enum an_fn fn;
    bool has_field;        /* count may go without a field */
    struct an_field field;
    char *as;              /* result name; default "<fn>" or "<fn>_<field>" */
};

struct an_anomaly_spec {
    double alpha;        /* EWMA weight of the newest window, 0 < alpha <= 1 */
    double z_threshold;  /* |value - mean| / stddev above this is an anomaly */
    uint32_t min_windows; /* windows seen before a group is judged */
};

struct an_query {
    char *id;
    char *tenant;          /* the tenant whose events alone it reads; NULL: every tenant's */
    int *types;            /* event types accepted; none: every type */
    size_t n_types;
    struct an_filter *filters;
    size_t n_filters;
    struct an_window_spec window;
    struct an_field *group_by;
    size_t n_group_by;
    struct an_agg_spec *aggs;
    size_t n_aggs;
    bool export_metrics;
    struct an_anomaly_spec anomaly;
    json_t *json;          /* the query as given (normalised), for GET and persistence */
};

/* Parses and validates a query (obj borrowed). Returns 0 and *out (caller owns), or -EINVAL
 * with a message naming the member in err. */
int an_query_parse(json_t *obj, struct an_query **out, char *err, size_t errlen);
void an_query_destroy(struct an_query **q);

/* True when the event passes the tenant, the type list and every filter. */
bool an_query_match(const struct an_query *q, const vx_event_t *e);

/* The value of a field of an event as text: borrowed from the event, or written into buf
 * (type, priority). NULL when the event does not have it. */
const char *an_field_text(const struct an_field *f, const vx_event_t *e, char *buf, size_t len);
/* The value as a number; false when absent or not a number. */
bool an_field_number(const struct an_field *f, const vx_event_t *e, double *out);

/* Parses a field name ("content.size"); returns 0 or -EINVAL. Fills f (caller frees with
 * an_field_fini). */
int an_field_parse(const char *name, struct an_field *f, char *err, size_t errlen);
void an_field_fini(struct an_field *f);

const char *an_fn_name(enum an_fn fn);

#endif
