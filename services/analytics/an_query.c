/* SPDX-License-Identifier: Apache-2.0 */
/* Parsing, validation and matching of analytics queries. */
#include "an_query.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vx_mem.h"

#define S_NS_PER_MS 1000000ULL
#define S_MAX_WINDOW_MS (366ULL * 24 * 3600 * 1000) /* a year: keeps ns arithmetic far from overflow */

static const char *const s_fn_names[] = {
    [AN_FN_COUNT] = "count", [AN_FN_SUM] = "sum", [AN_FN_AVG] = "avg",
    [AN_FN_MIN] = "min",     [AN_FN_MAX] = "max", [AN_FN_DISTINCT] = "distinct_count",
    [AN_FN_P50] = "p50",     [AN_FN_P90] = "p90", [AN_FN_P99] = "p99",
};

static const char *const s_op_names[] = {
    [AN_OP_EQ] = "eq", [AN_OP_NE] = "ne", [AN_OP_CONTAINS] = "contains", [AN_OP_PREFIX] = "prefix",
    [AN_OP_GT] = "gt", [AN_OP_GE] = "ge", [AN_OP_LT] = "lt",             [AN_OP_LE] = "le",
};

static const char *const s_kind_names[] = {
    [AN_WINDOW_TUMBLING] = "tumbling",
    [AN_WINDOW_SLIDING] = "sliding",
    [AN_WINDOW_SESSION] = "session",
};

static int
s_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static int
s_lookup(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++) {
        if (names[i] && strcmp(names[i], s) == 0) {
            return (int)i;
        }
    }
    return -1;
}

const char *
an_fn_name(enum an_fn fn)
{
    return s_fn_names[fn];
}

int
an_field_parse(const char *name, struct an_field *f, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    static const struct {
        const char *name;
        enum an_field_kind kind;
    } plain[] = {{"path", AN_FIELD_PATH},
                 {"type", AN_FIELD_TYPE},
                 {"tenant", AN_FIELD_TENANT},
                 {"priority", AN_FIELD_PRIORITY}};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        if (strcmp(name, plain[i].name) == 0) {
            f->kind = plain[i].kind;
            f->name = vx_strdup(name);
            return 0;
        }
    }
    if (strncmp(name, "content.", 8) == 0 && name[8]) {
        f->kind = AN_FIELD_CONTENT;
        f->key = vx_strdup(name + 8);
    } else if (strncmp(name, "metadata.", 9) == 0 && name[9]) {
        f->kind = AN_FIELD_METADATA;
        f->key = vx_strdup(name + 9);
    } else {
        return s_fail(err, errlen,
                      "unknown field '%s' (expected path, type, tenant, priority, content.<key> "
                      "or metadata.<key>)",
                      name);
    }
    f->name = vx_strdup(name);
    return 0;
}

void
an_field_fini(struct an_field *f)
{
    vx_free(&f->key);
    vx_free(&f->name);
}

const char *
an_field_text(const struct an_field *f, const vx_event_t *e, char *buf, size_t len)
{
    switch (f->kind) {
    case AN_FIELD_PATH:
        return e->path && e->path[0] ? e->path : NULL;
    case AN_FIELD_TENANT:
        return e->tenant && e->tenant[0] ? e->tenant : NULL;
    case AN_FIELD_TYPE:
        if (e->type == VEXFS__V1__EVENT_TYPE__CUSTOM && e->custom_type && e->custom_type[0]) {
            return e->custom_type;
        }
        return vx_event_type_name(e->type);
    case AN_FIELD_PRIORITY:
        snprintf(buf, len, "%u", (unsigned)e->priority);
        return buf;
    case AN_FIELD_CONTENT:
        for (size_t i = 0; i < e->n_content; i++) {
            if (strcmp(e->content[i]->key, f->key) == 0) {
                return e->content[i]->value;
            }
        }
        return NULL;
    case AN_FIELD_METADATA:
        for (size_t i = 0; i < e->n_metadata; i++) {
            if (strcmp(e->metadata[i]->key, f->key) == 0) {
                return e->metadata[i]->value;
            }
        }
        return NULL;
    }
    return NULL;
}

/* A decimal integer of at most 15 digits with an optional sign: exact in a double, so the
 * value is the one strtod gives. Sizes and counts look like this, and strtod costs more than
 * the rest of an aggregation's work per event. False for anything else (strtod decides). */
static bool
s_small_int(const char *s, double *out)
{
    const char *p = s + (*s == '-' || *s == '+');
    uint64_t v = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (++digits > 15) {
            return false;
        }
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (digits == 0 || *p) {
        return false;
    }
    *out = *s == '-' ? -(double)v : (double)v;
    return true;
}

bool
an_field_number(const struct an_field *f, const vx_event_t *e, double *out)
{
    if (f->kind == AN_FIELD_PRIORITY) {
        *out = (double)e->priority;
        return true;
    }
    char buf[32];
    const char *s = an_field_text(f, e, buf, sizeof buf);
    if (!s || !*s) {
        return false;
    }
    if (s_small_int(s, out)) {
        return true;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v)) {
        return false;
    }
    *out = v;
    return true;
}

static bool
s_filter_match(const struct an_filter *fl, const vx_event_t *e)
{
    char buf[32];
    const char *s = an_field_text(&fl->field, e, buf, sizeof buf);
    switch (fl->op) {
    case AN_OP_EQ:
        return s && strcmp(s, fl->text) == 0;
    case AN_OP_NE:
        return !s || strcmp(s, fl->text) != 0;
    case AN_OP_CONTAINS:
        return s && strstr(s, fl->text) != NULL;
    case AN_OP_PREFIX:
        return s && strncmp(s, fl->text, strlen(fl->text)) == 0;
    default:
        break;
    }
    double v;
    if (!an_field_number(&fl->field, e, &v)) {
        return false; /* a missing or non-numeric value never passes a comparison */
    }
    switch (fl->op) {
    case AN_OP_GT:
        return v > fl->number;
    case AN_OP_GE:
        return v >= fl->number;
    case AN_OP_LT:
        return v < fl->number;
    case AN_OP_LE:
        return v <= fl->number;
    default:
        return false;
    }
}

bool
an_query_match(const struct an_query *q, const vx_event_t *e)
{
    if (q->tenant && (!e->tenant || strcmp(e->tenant, q->tenant) != 0)) {
        return false;
    }
    if (q->n_types) {
        bool ok = false;
        for (size_t i = 0; i < q->n_types && !ok; i++) {
            ok = q->types[i] == (int)e->type;
        }
        if (!ok) {
            return false;
        }
    }
    for (size_t i = 0; i < q->n_filters; i++) {
        if (!s_filter_match(&q->filters[i], e)) {
            return false;
        }
    }
    return true;
}

/* Reads a positive duration in ms; absent leaves *out unchanged. */
static int
s_duration(json_t *win, const char *key, bool required, bool allow_zero, uint64_t *out, char *err,
           size_t errlen)
{
    json_t *v = json_object_get(win, key);
    if (!v) {
        return required ? s_fail(err, errlen, "window.%s: required for this window kind", key) : 0;
    }
    if (!json_is_integer(v)) {
        return s_fail(err, errlen, "window.%s: expected an integer number of milliseconds", key);
    }
    json_int_t ms = json_integer_value(v);
    if (ms < 0 || (ms == 0 && !allow_zero) || (unsigned long long)ms > S_MAX_WINDOW_MS) {
        return s_fail(err, errlen, "window.%s: %lld is out of range (%s..%llu ms)", key,
                      (long long)ms, allow_zero ? "0" : "1", S_MAX_WINDOW_MS);
    }
    *out = (uint64_t)ms * S_NS_PER_MS;
    return 0;
}

static int
s_parse_window(json_t *win, struct an_window_spec *w, char *err, size_t errlen)
{
    if (!json_is_object(win)) {
        return s_fail(err, errlen, "window: expected an object");
    }
    const char *known[] = {"kind", "size_ms", "slide_ms", "gap_ms", "allowed_lateness_ms"};
    const char *k;
    json_t *v;
    json_object_foreach(win, k, v) {
        if (s_lookup(known, sizeof known / sizeof known[0], k) < 0) {
            return s_fail(err, errlen, "window: unknown member '%s'", k);
        }
    }
    const char *kind = json_string_value(json_object_get(win, "kind"));
    if (!kind) {
        return s_fail(err, errlen, "window.kind: required, one of tumbling, sliding, session");
    }
    int ki = s_lookup(s_kind_names, 3, kind);
    if (ki < 0) {
        return s_fail(err, errlen,
                      "window.kind: unknown window kind '%s' (tumbling, sliding or session)", kind);
    }
    w->kind = (enum an_window_kind)ki;
    int rc = s_duration(win, "allowed_lateness_ms", false, true, &w->lateness_ns, err, errlen);
    if (rc < 0) {
        return rc;
    }
    if (w->kind == AN_WINDOW_SESSION) {
        if (json_object_get(win, "size_ms") || json_object_get(win, "slide_ms")) {
            return s_fail(err, errlen, "window: a session window takes gap_ms, not size_ms/slide_ms");
        }
        return s_duration(win, "gap_ms", true, false, &w->gap_ns, err, errlen);
    }
    if (json_object_get(win, "gap_ms")) {
        return s_fail(err, errlen, "window.gap_ms: only for session windows");
    }
    rc = s_duration(win, "size_ms", true, false, &w->size_ns, err, errlen);
    if (rc < 0) {
        return rc;
    }
    if (w->kind == AN_WINDOW_TUMBLING) {
        if (json_object_get(win, "slide_ms")) {
            return s_fail(err, errlen, "window.slide_ms: only for sliding windows");
        }
        w->slide_ns = w->size_ns;
        return 0;
    }
    rc = s_duration(win, "slide_ms", true, false, &w->slide_ns, err, errlen);
    if (rc < 0) {
        return rc;
    }
    if (w->slide_ns > w->size_ns) {
        return s_fail(err, errlen, "window.slide_ms: must not exceed size_ms (events would fall "
                                   "between windows)");
    }
    if (w->size_ns / w->slide_ns > 1000) {
        return s_fail(err, errlen, "window: size_ms/slide_ms is at most 1000 windows per event");
    }
    return 0;
}

static int
s_parse_filter(json_t *o, size_t i, struct an_filter *f, char *err, size_t errlen)
{
    char sub[300];
    json_error_t je;
    const char *field, *op;
    json_t *value;
    if (json_unpack_ex(o, &je, JSON_STRICT, "{s:s, s:s, s:o}", "field", &field, "op", &op,
                       "value", &value) < 0) {
        return s_fail(err, errlen, "filters[%zu]: %s (expected {\"field\",\"op\",\"value\"})", i,
                      je.text);
    }
    if (an_field_parse(field, &f->field, sub, sizeof sub) < 0) {
        return s_fail(err, errlen, "filters[%zu].field: %s", i, sub);
    }
    int oi = s_lookup(s_op_names, sizeof s_op_names / sizeof s_op_names[0], op);
    if (oi < 0) {
        return s_fail(err, errlen,
                      "filters[%zu].op: unknown operator '%s' (eq, ne, contains, prefix, gt, ge, "
                      "lt, le)",
                      i, op);
    }
    f->op = (enum an_op)oi;
    char num[64];
    if (json_is_string(value)) {
        f->text = vx_strdup(json_string_value(value));
    } else if (json_is_integer(value)) {
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(value));
        f->text = vx_strdup(num);
    } else if (json_is_real(value)) {
        snprintf(num, sizeof num, "%.17g", json_real_value(value));
        f->text = vx_strdup(num);
    } else {
        return s_fail(err, errlen, "filters[%zu].value: expected a string or a number", i);
    }
    if (f->op >= AN_OP_GT) {
        char *end;
        f->number = strtod(f->text, &end);
        if (!f->text[0] || *end || !isfinite(f->number)) {
            return s_fail(err, errlen, "filters[%zu].value: '%s' needs a number", i, op);
        }
    }
    return 0;
}

static int
s_parse_agg(json_t *o, size_t i, struct an_agg_spec *a, char *err, size_t errlen)
{
    char sub[300];
    json_error_t je;
    const char *fn, *field = NULL, *as = NULL;
    if (json_unpack_ex(o, &je, JSON_STRICT, "{s:s, s?s, s?s}", "fn", &fn, "field", &field, "as",
                       &as) < 0) {
        return s_fail(err, errlen, "aggregations[%zu]: %s (expected {\"fn\",\"field\",\"as\"})",
                      i, je.text);
    }
    int fi = s_lookup(s_fn_names, sizeof s_fn_names / sizeof s_fn_names[0], fn);
    if (fi < 0) {
        return s_fail(err, errlen,
                      "aggregations[%zu].fn: unknown function '%s' (count, sum, avg, min, max, "
                      "distinct_count, p50, p90, p99)",
                      i, fn);
    }
    a->fn = (enum an_fn)fi;
    if (field) {
        if (an_field_parse(field, &a->field, sub, sizeof sub) < 0) {
            return s_fail(err, errlen, "aggregations[%zu].field: %s", i, sub);
        }
        a->has_field = true;
    } else if (a->fn != AN_FN_COUNT) {
        return s_fail(err, errlen, "aggregations[%zu].field: required for %s", i, fn);
    }
    char name[300];
    if (as) {
        if (!*as || strlen(as) > 100) {
            return s_fail(err, errlen, "aggregations[%zu].as: 1 to 100 characters", i);
        }
        snprintf(name, sizeof name, "%s", as);
    } else if (field) {
        snprintf(name, sizeof name, "%s_%s", fn, field);
    } else {
        snprintf(name, sizeof name, "%s", fn);
    }
    a->as = vx_strdup(name);
    return 0;
}

static int
s_array(json_t *q, const char *key, bool required, json_t **out, char *err, size_t errlen)
{
    *out = json_object_get(q, key);
    if (!*out) {
        return required ? s_fail(err, errlen, "%s: required", key) : 0;
    }
    if (!json_is_array(*out)) {
        return s_fail(err, errlen, "%s: expected an array", key);
    }
    if (json_array_size(*out) > AN_QUERY_MAX_ITEMS) {
        return s_fail(err, errlen, "%s: at most %d entries", key, AN_QUERY_MAX_ITEMS);
    }
    return 0;
}

static int
s_parse_anomaly(json_t *o, struct an_anomaly_spec *s, char *err, size_t errlen)
{
    s->alpha = 0.3;
    s->z_threshold = 3.0;
    s->min_windows = 5;
    if (!o) {
        return 0;
    }
    json_error_t je;
    int minw = (int)s->min_windows;
    if (json_unpack_ex(o, &je, JSON_STRICT, "{s?F, s?F, s?i}", "alpha", &s->alpha, "z_threshold",
                       &s->z_threshold, "min_windows", &minw) < 0) {
        return s_fail(err, errlen, "anomaly: %s", je.text);
    }
    if (!(s->alpha > 0 && s->alpha <= 1)) {
        return s_fail(err, errlen, "anomaly.alpha: must be in (0, 1]");
    }
    if (!(s->z_threshold > 0)) {
        return s_fail(err, errlen, "anomaly.z_threshold: must be positive");
    }
    if (minw < 2 || minw > 100000) {
        return s_fail(err, errlen, "anomaly.min_windows: 2..100000");
    }
    s->min_windows = (uint32_t)minw;
    return 0;
}

/* id (letters, digits, '-', '_', '.') and the optional tenant. */
static int
s_parse_ident(json_t *obj, struct an_query *q, char *err, size_t errlen)
{
    const char *id = json_string_value(json_object_get(obj, "id"));
    if (!id || !*id || strlen(id) > AN_QUERY_MAX_ID) {
        return s_fail(err, errlen, "id: required, a string of 1 to %d characters", AN_QUERY_MAX_ID);
    }
    for (const char *p = id; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.')) {
            return s_fail(err, errlen, "id: '%s' may only hold letters, digits, '-', '_' and '.'",
                          id);
        }
    }
    q->id = vx_strdup(id);
    json_t *tv = json_object_get(obj, "tenant");
    if (tv) {
        const char *t = json_string_value(tv);
        bool ok = t && *t && strlen(t) <= AN_QUERY_MAX_TENANT;
        for (const char *p = t; ok && *p; p++) {
            ok = (unsigned char)*p >= 0x20 && *p != 0x7f;
        }
        if (!ok) {
            return s_fail(err, errlen, "tenant: a string of 1 to %d characters without control "
                                       "characters", AN_QUERY_MAX_TENANT);
        }
        q->tenant = vx_strdup(t);
    }
    return 0;
}

/* event_types: optional, names of event types. */
static int
s_parse_types(json_t *obj, struct an_query *q, char *err, size_t errlen)
{
    json_t *arr;
    json_t *v;
    int rc = s_array(obj, "event_types", false, &arr, err, errlen);
    if (rc < 0) {
        return rc;
    }
    if (arr) {
        q->types = vx_calloc(json_array_size(arr) + 1, sizeof *q->types);
        size_t i;
        json_array_foreach(arr, i, v) {
            const char *name = json_string_value(v);
            if (!name || vx_event_type_parse(name, &q->types[i]) < 0) {
                return s_fail(err, errlen, "event_types[%zu]: unknown event type '%s'", i,
                              name ? name : "(not a string)");
            }
            q->n_types++;
        }
    }
    return 0;
}

/* filters: optional, each one parsed by s_parse_filter. */
static int
s_parse_filters(json_t *obj, struct an_query *q, char *err, size_t errlen)
{
    json_t *arr;
    json_t *v;
    int rc = s_array(obj, "filters", false, &arr, err, errlen);
    if (rc < 0) {
        return rc;
    }
    if (arr) {
        q->filters = vx_calloc(json_array_size(arr) + 1, sizeof *q->filters);
        size_t i;
        json_array_foreach(arr, i, v) {
            q->n_filters++;
            rc = s_parse_filter(v, i, &q->filters[i], err, errlen);
            if (rc < 0) {
                return rc;
            }
        }
    }
    return 0;
}

/* group_by: optional, field names. */
static int
s_parse_group_by(json_t *obj, struct an_query *q, char *err, size_t errlen)
{
    json_t *arr;
    json_t *v;
    int rc = s_array(obj, "group_by", false, &arr, err, errlen);
    if (rc < 0) {
        return rc;
    }
    if (arr) {
        q->group_by = vx_calloc(json_array_size(arr) + 1, sizeof *q->group_by);
        size_t i;
        json_array_foreach(arr, i, v) {
            char sub[300];
            const char *name = json_string_value(v);
            if (!name) {
                return s_fail(err, errlen, "group_by[%zu]: expected a field name", i);
            }
            if (an_field_parse(name, &q->group_by[i], sub, sizeof sub) < 0) {
                return s_fail(err, errlen, "group_by[%zu]: %s", i, sub);
            }
            q->n_group_by++;
        }
    }
    return 0;
}

/* aggregations: at least one, each with an "as" name of its own. */
static int
s_parse_aggs(json_t *obj, struct an_query *q, char *err, size_t errlen)
{
    json_t *arr;
    json_t *v;
    int rc = s_array(obj, "aggregations", true, &arr, err, errlen);
    if (rc < 0) {
        return rc;
    }
    if (json_array_size(arr) == 0) {
        return s_fail(err, errlen, "aggregations: at least one is needed");
    }
    q->aggs = vx_calloc(json_array_size(arr), sizeof *q->aggs);
    size_t i;
    json_array_foreach(arr, i, v) {
        q->n_aggs++;
        rc = s_parse_agg(v, i, &q->aggs[i], err, errlen);
        if (rc < 0) {
            return rc;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(q->aggs[j].as, q->aggs[i].as) == 0) {
                return s_fail(err, errlen, "aggregations[%zu].as: '%s' is already used", i,
                              q->aggs[i].as);
            }
        }
    }
    return 0;
}

/* Checks every member before it keeps the query: unknown members, then each member by its own
 * parser in a fixed order, so the first error named is the same whatever the JSON's order. */
static int
s_parse(json_t *obj, struct an_query *q, char *err, size_t errlen)
{
    if (!json_is_object(obj)) {
        return s_fail(err, errlen, "a query is a JSON object");
    }
    const char *known[] = {"id",           "tenant",         "event_types", "filters", "window",
                           "group_by",     "aggregations",   "export_metrics", "anomaly"};
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        if (s_lookup(known, sizeof known / sizeof known[0], k) < 0) {
            return s_fail(err, errlen, "unknown member '%s'", k);
        }
    }
    int rc = s_parse_ident(obj, q, err, errlen);
    if (rc == 0) {
        rc = s_parse_types(obj, q, err, errlen);
    }
    if (rc == 0) {
        rc = s_parse_filters(obj, q, err, errlen);
    }
    if (rc < 0) {
        return rc;
    }
    json_t *win = json_object_get(obj, "window");
    if (!win) {
        return s_fail(err, errlen, "window: required");
    }
    rc = s_parse_window(win, &q->window, err, errlen);
    if (rc == 0) {
        rc = s_parse_group_by(obj, q, err, errlen);
    }
    if (rc == 0) {
        rc = s_parse_aggs(obj, q, err, errlen);
    }
    if (rc < 0) {
        return rc;
    }
    v = json_object_get(obj, "export_metrics");
    if (v && !json_is_boolean(v)) {
        return s_fail(err, errlen, "export_metrics: expected true or false");
    }
    q->export_metrics = json_is_true(v);
    rc = s_parse_anomaly(json_object_get(obj, "anomaly"), &q->anomaly, err, errlen);
    if (rc < 0) {
        return rc;
    }
    q->json = json_deep_copy(obj);
    return 0;
}

int
an_query_parse(json_t *obj, struct an_query **out, char *err, size_t errlen)
{
    struct an_query *q = vx_calloc(1, sizeof *q);
    int rc = s_parse(obj, q, err, errlen);
    if (rc < 0) {
        an_query_destroy(&q);
        return rc;
    }
    *out = q;
    return 0;
}

void
an_query_destroy(struct an_query **qp)
{
    struct an_query *q = *qp;
    if (!q) {
        return;
    }
    free(q->id);
    free(q->tenant);
    free(q->types);
    for (size_t i = 0; i < q->n_filters; i++) {
        an_field_fini(&q->filters[i].field);
        free(q->filters[i].text);
    }
    free(q->filters);
    for (size_t i = 0; i < q->n_group_by; i++) {
        an_field_fini(&q->group_by[i]);
    }
    free(q->group_by);
    for (size_t i = 0; i < q->n_aggs; i++) {
        an_field_fini(&q->aggs[i].field);
        free(q->aggs[i].as);
    }
    free(q->aggs);
    json_decref(q->json);
    free(q);
    *qp = NULL;
}
