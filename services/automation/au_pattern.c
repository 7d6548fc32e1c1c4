/* SPDX-License-Identifier: Apache-2.0 */
/* Pattern validation and compilation, and the condition test run for every event (see
 * au_pattern.h for the schema). Every rejection names the pattern, the field and the reason. */
#include "au_pattern.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "au_expr.h"
#include "vx_clock.h"
#include "vx_mem.h"

/* Where an error is: "patterns[2] (id \"x\")", then the field path given to s_err. */
struct s_perr {
    char *buf;
    size_t len;
    const char *where;
    const char *id;
};

__attribute__((format(printf, 2, 3))) static int
s_err(struct s_perr *pe, const char *fmt, ...)
{
    int n;
    if (pe->id != NULL) {
        n = snprintf(pe->buf, pe->len, "%s (id \"%s\"): ", pe->where, pe->id);
    } else {
        n = snprintf(pe->buf, pe->len, "%s: ", pe->where);
    }
    if (n < 0 || (size_t)n >= pe->len) {
        return -EINVAL;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pe->buf + n, pe->len - (size_t)n, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* Rejects keys outside allowed (a NULL-terminated list). */
static int
s_keys(json_t *obj, const char *where, const char *const *allowed, struct s_perr *pe)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        bool ok = false;
        for (size_t i = 0; allowed[i] != NULL; i++) {
            if (strcmp(key, allowed[i]) == 0) {
                ok = true;
                break;
            }
        }
        if (!ok) {
            return s_err(pe, "%s%sunknown key \"%.100s\"", where, where[0] ? ": " : "", key);
        }
    }
    return 0;
}

/* Index of s in names (NULL-terminated), or -1. */
static int
s_lookup(const char *s, const char *const *names)
{
    for (int i = 0; names[i] != NULL; i++) {
        if (strcmp(s, names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

static const char *const s_kinds[] = {"sequence", "conjunction", "absence", "threshold", NULL};
static const char *const s_skips[] = {"past_last", "skip_to_next", NULL};
static const char *const s_sevs[] = {"info", "warning", "critical", NULL};
static const char *const s_ops[] = {"eq", "ne", "prefix", "contains", "regex",
                                    "gt", "ge", "lt", "le", NULL};
/* Indexed by enum au_time_mode - 1 (the default has no name). */
static const char *const s_time_modes[] = {"processing", "event", NULL};

const char *
au_kind_name(enum au_kind k)
{
    return (unsigned)k < 4 ? s_kinds[k] : "?";
}

const char *
au_severity_name(enum au_severity s)
{
    return (unsigned)s < 3 ? s_sevs[s] : "?";
}

/* An optional string member that names one of names; def when absent. */
static int
s_enum(json_t *obj, const char *key, const char *where, const char *const *names,
       const char *expect, int def, int *out, struct s_perr *pe)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL) {
        if (def < 0) {
            return s_err(pe, "%s%s: missing", where, key);
        }
        *out = def;
        return 0;
    }
    int i = json_is_string(v) ? s_lookup(json_string_value(v), names) : -1;
    if (i < 0) {
        return s_err(pe, "%s%s: expected %s", where, key, expect);
    }
    *out = i;
    return 0;
}

/* An optional integer member in lo..hi; *out untouched when absent. */
static int
s_int(json_t *obj, const char *key, const char *where, long long lo, long long hi,
      long long *out, struct s_perr *pe)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL) {
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        return s_err(pe, "%s%s: expected an integer %lld..%lld", where, key, lo, hi);
    }
    *out = json_integer_value(v);
    return 0;
}

static int
s_field_parse(const char *s, struct au_field *f)
{
    memset(f, 0, sizeof *f);
    if (strcmp(s, "path") == 0) {
        f->kind = AU_F_PATH;
    } else if (strcmp(s, "tenant") == 0) {
        f->kind = AU_F_TENANT;
    } else if (strcmp(s, "priority") == 0) {
        f->kind = AU_F_PRIORITY;
    } else if (strncmp(s, "content.", 8) == 0 && s[8] != '\0') {
        f->kind = AU_F_CONTENT;
        f->name = vx_strdup(s + 8);
    } else if (strncmp(s, "metadata.", 9) == 0 && s[9] != '\0') {
        f->kind = AU_F_METADATA;
        f->name = vx_strdup(s + 9);
    } else {
        return -EINVAL;
    }
    return 0;
}

static int
s_field(json_t *v, const char *where, struct au_field *f, struct s_perr *pe)
{
    if (v == NULL) {
        return s_err(pe, "%s: missing", where);
    }
    if (!json_is_string(v) || s_field_parse(json_string_value(v), f) < 0) {
        return s_err(pe, "%s: expected path, tenant, priority, content.<name> or metadata.<name>",
                     where);
    }
    return 0;
}

static int
s_cond_parse(json_t *j, const char *where, struct au_cond *c, struct s_perr *pe)
{
    static const char *const keys[] = {"field", "op", "value", NULL};
    char sub[192];
    if (!json_is_object(j)) {
        return s_err(pe, "%s: expected an object", where);
    }
    snprintf(sub, sizeof sub, "%s.", where);
    int rc = s_keys(j, where, keys, pe);
    if (rc < 0) {
        return rc;
    }
    snprintf(sub, sizeof sub, "%s.field", where);
    rc = s_field(json_object_get(j, "field"), sub, &c->field, pe);
    if (rc < 0) {
        return rc;
    }
    snprintf(sub, sizeof sub, "%s.", where);
    int op = 0;
    rc = s_enum(j, "op", sub, s_ops, "eq, ne, prefix, contains, regex, gt, ge, lt or le", -1,
                &op, pe);
    if (rc < 0) {
        return rc;
    }
    c->op = (enum au_op)op;
    json_t *v = json_object_get(j, "value");
    if (v == NULL) {
        return s_err(pe, "%s.value: missing", where);
    }
    bool want_num = c->op >= AU_GT;
    bool want_str = c->op == AU_PREFIX || c->op == AU_CONTAINS || c->op == AU_REGEX;
    if (json_is_number(v) && !want_str) {
        c->numeric = true;
        c->num = json_number_value(v);
        return 0;
    }
    if (!json_is_string(v) || want_num) {
        return s_err(pe, "%s.value: expected a %s for op %s", where,
                     want_num ? "number" : (want_str ? "string" : "string or number"), s_ops[op]);
    }
    c->str_len = json_string_length(v);
    if (c->str_len > AU_MAX_VALUE_LEN || memchr(json_string_value(v), 0, c->str_len) != NULL) {
        return s_err(pe, "%s.value: expected at most %d bytes and no NUL", where,
                     AU_MAX_VALUE_LEN);
    }
    c->str = vx_strndup(json_string_value(v), c->str_len);
    if (c->op == AU_REGEX) {
        int r = regcomp(&c->re, c->str, REG_EXTENDED | REG_NOSUB);
        if (r != 0) {
            char why[256];
            regerror(r, &c->re, why, sizeof why);
            return s_err(pe, "%s.value: regex \"%.200s\": %s", where, c->str, why);
        }
        c->has_re = true;
    }
    return 0;
}

/* One element: its event type, within_ms and min_occurrences (each refused on the kinds
 * where it means nothing, rather than silently ignored) and its conditions, compiled here so
 * that the per-event test does no parsing. */
static int
s_element_parse(json_t *j, const char *where, enum au_kind kind, uint32_t idx,
                struct au_element *el, struct s_perr *pe)
{
    static const char *const keys[] = {"event_type", "conditions", "within_ms",
                                       "min_occurrences", NULL};
    char sub[160];
    if (!json_is_object(j)) {
        return s_err(pe, "%s: expected an object", where);
    }
    int rc = s_keys(j, where, keys, pe);
    if (rc < 0) {
        return rc;
    }
    json_t *t = json_object_get(j, "event_type");
    if (t == NULL) {
        return s_err(pe, "%s.event_type: missing", where);
    }
    if (!json_is_string(t) || vx_event_type_parse(json_string_value(t), &el->event_type) < 0) {
        return s_err(pe, "%s.event_type: unknown event type %s%.100s%s", where,
                     json_is_string(t) ? "\"" : "",
                     json_is_string(t) ? json_string_value(t) : "(not a string)",
                     json_is_string(t) ? "\"" : "");
    }
    snprintf(sub, sizeof sub, "%s.", where);
    long long within = 0;
    long long occ = 1;
    rc = s_int(j, "within_ms", sub, 1, AU_MAX_WINDOW_MS, &within, pe);
    if (rc < 0) {
        return rc;
    }
    if (json_object_get(j, "within_ms") != NULL &&
        !((kind == AU_SEQUENCE && idx > 0) || (kind == AU_ABSENCE && idx == 1))) {
        return s_err(pe, "%s.within_ms: only allowed after the first element of a sequence or "
                     "on the second element of an absence",
                     where);
    }
    rc = s_int(j, "min_occurrences", sub, 1, AU_MAX_OCCURRENCES, &occ, pe);
    if (rc < 0) {
        return rc;
    }
    if (json_object_get(j, "min_occurrences") != NULL && kind != AU_THRESHOLD) {
        return s_err(pe, "%s.min_occurrences: only allowed in a threshold pattern", where);
    }
    el->within_ns = (uint64_t)within * 1000000ULL;
    el->min_occurrences = (uint32_t)occ;
    json_t *cs = json_object_get(j, "conditions");
    if (cs == NULL) {
        return 0;
    }
    if (!json_is_array(cs) || json_array_size(cs) > AU_MAX_CONDITIONS) {
        return s_err(pe, "%s.conditions: expected an array of at most %d conditions", where,
                     AU_MAX_CONDITIONS);
    }
    el->conds = vx_calloc(json_array_size(cs) + 1, sizeof *el->conds);
    size_t i;
    json_t *c;
    json_array_foreach(cs, i, c) {
        snprintf(sub, sizeof sub, "%s.conditions[%zu]", where, i);
        el->n_conds++;
        rc = s_cond_parse(c, sub, &el->conds[i], pe);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

/* An action: alert (severity, message), workflow (the id of a workflow of the pattern's
 * tenant to start) or emit (an event template sent into propagation). Each kind has its own
 * key list, so a member of another kind is refused by name; a workflow id is not looked up
 * here, since workflows may be added after the pattern (a missing one is counted when the
 * pattern matches). */
static int
s_action_parse(json_t *a, const char *where, struct au_action *out, struct s_perr *pe)
{
    static const char *const akeys[] = {"kind", "severity", "message", NULL};
    static const char *const wkeys[] = {"kind", "workflow", NULL};
    static const char *const ekeys[] = {"kind", "event", NULL};
    char sub[80];
    if (!json_is_object(a)) {
        return s_err(pe, "%s: expected an object", where);
    }
    const char *k = json_string_value(json_object_get(a, "kind"));
    if (k != NULL && strcmp(k, "workflow") == 0) {
        int rc = s_keys(a, where, wkeys, pe);
        if (rc < 0) {
            return rc;
        }
        json_t *w = json_object_get(a, "workflow");
        if (!json_is_string(w) || json_string_length(w) == 0 ||
            json_string_length(w) > AU_MAX_ID_LEN) {
            return s_err(pe, "%s.workflow: expected the id of a workflow", where);
        }
        out->kind = AU_ACTION_WORKFLOW;
        out->workflow = vx_strdup(json_string_value(w));
        return 0;
    }
    if (k != NULL && strcmp(k, "emit") == 0) {
        int rc = s_keys(a, where, ekeys, pe);
        if (rc < 0) {
            return rc;
        }
        json_t *ev = json_object_get(a, "event");
        if (!json_is_object(ev) || !json_is_string(json_object_get(ev, "type"))) {
            return s_err(pe, "%s.event: expected an event object with a \"type\"", where);
        }
        char why[512];
        snprintf(sub, sizeof sub, "%s.event", where);
        if (au_template_check(ev, sub, why, sizeof why) < 0) {
            return s_err(pe, "%s", why);
        }
        out->kind = AU_ACTION_EMIT;
        out->event = json_incref(ev);
        return 0;
    }
    if (k == NULL || strcmp(k, "alert") != 0) {
        return s_err(pe, "%s.kind: expected alert, workflow or emit", where);
    }
    int rc = s_keys(a, where, akeys, pe);
    if (rc < 0) {
        return rc;
    }
    snprintf(sub, sizeof sub, "%s.", where);
    int sev = 0;
    rc = s_enum(a, "severity", sub, s_sevs, "info, warning or critical", AU_SEV_WARNING, &sev,
                pe);
    if (rc < 0) {
        return rc;
    }
    json_t *m = json_object_get(a, "message");
    if (!json_is_string(m) || json_string_length(m) == 0 ||
        json_string_length(m) > AU_MAX_MESSAGE_LEN ||
        strlen(json_string_value(m)) != json_string_length(m)) {
        return s_err(pe, "%s.message: expected a string of 1..%d bytes", where,
                     AU_MAX_MESSAGE_LEN);
    }
    out->kind = AU_ACTION_ALERT;
    out->severity = (enum au_severity)sev;
    out->message = vx_strdup(json_string_value(m));
    return 0;
}

static int
s_actions_parse(json_t *as, struct au_pattern *p, struct s_perr *pe)
{
    if (as == NULL) {
        return s_err(pe, "actions: missing");
    }
    if (!json_is_array(as) || json_array_size(as) == 0 || json_array_size(as) > AU_MAX_ACTIONS) {
        return s_err(pe, "actions: expected an array of 1..%d actions", AU_MAX_ACTIONS);
    }
    p->actions = vx_calloc(json_array_size(as), sizeof *p->actions);
    size_t i;
    json_t *a;
    json_array_foreach(as, i, a) {
        char where[64];
        snprintf(where, sizeof where, "actions[%zu]", i);
        p->n_actions++;
        int rc = s_action_parse(a, where, &p->actions[i], pe);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

/* time_mode and allowed_lateness_ms; a lateness on a pattern that says it runs in processing
 * time is refused rather than ignored. */
static int
s_time_parse(json_t *j, struct au_pattern *p, struct s_perr *pe)
{
    int mode = -1;
    if (json_object_get(j, "time_mode") != NULL) {
        int rc = s_enum(j, "time_mode", "", s_time_modes, "processing or event", -1, &mode, pe);
        if (rc < 0) {
            return rc;
        }
    }
    p->time_mode = mode < 0 ? AU_TIME_DEFAULT : (enum au_time_mode)(mode + 1);
    if (json_object_get(j, "allowed_lateness_ms") == NULL) {
        return 0;
    }
    if (p->time_mode == AU_TIME_PROCESSING) {
        return s_err(pe, "allowed_lateness_ms: only with time_mode event");
    }
    long long late = 0;
    int rc = s_int(j, "allowed_lateness_ms", "", 0, AU_MAX_WINDOW_MS, &late, pe);
    if (rc < 0) {
        return rc;
    }
    p->has_lateness = true;
    p->lateness_ns = (uint64_t)late * VX_NS_PER_MS;
    return 0;
}

static bool
s_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > AU_MAX_ID_LEN) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == ':' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* The checks that depend on the kind: element counts and what each kind needs. */
static int
s_kind_check(struct au_pattern *p, struct s_perr *pe)
{
    switch (p->kind) {
    case AU_ABSENCE:
        if (p->n_elems != 2) {
            return s_err(pe, "elements: an absence pattern has exactly 2 elements");
        }
        break;
    case AU_THRESHOLD:
        if (p->n_elems != 1) {
            return s_err(pe, "elements: a threshold pattern has exactly 1 element");
        }
        break;
    case AU_SEQUENCE:
    case AU_CONJUNCTION:
        break;
    }
    return 0;
}

/* The whole pattern, in the order a reader would check it: the id first (every later message
 * names it), then the keys, tenant, kind, skip, enabled, window, partition, elements and
 * actions. The first problem found is reported and nothing is kept. */
static int
s_parse(json_t *j, struct au_pattern *p, struct s_perr *pe)
{
    static const char *const keys[] = {"id", "description", "kind", "elements", "window_ms",
                                       "partition_by", "skip", "enabled", "actions", "tenant",
                                       "time_mode", "allowed_lateness_ms", NULL};
    if (!json_is_object(j)) {
        return s_err(pe, "expected an object");
    }
    json_t *id = json_object_get(j, "id");
    if (id == NULL) {
        return s_err(pe, "id: missing");
    }
    if (!json_is_string(id) || !s_id_ok(json_string_value(id))) {
        return s_err(pe, "id: expected 1..%d characters of [A-Za-z0-9_.:-]", AU_MAX_ID_LEN);
    }
    p->id = vx_strdup(json_string_value(id));
    pe->id = p->id;
    int rc = s_keys(j, "", keys, pe);
    if (rc < 0) {
        return rc;
    }
    json_t *d = json_object_get(j, "description");
    if (d != NULL && !json_is_string(d)) {
        return s_err(pe, "description: expected a string");
    }
    json_t *tn = json_object_get(j, "tenant");
    if (tn != NULL && (!json_is_string(tn) || !s_id_ok(json_string_value(tn)))) {
        return s_err(pe, "tenant: expected 1..%d characters of [A-Za-z0-9_.:-]", AU_MAX_ID_LEN);
    }
    p->tenant = vx_strdup(tn != NULL ? json_string_value(tn) : "default");
    int kind = 0;
    rc = s_enum(j, "kind", "", s_kinds, "sequence, conjunction, absence or threshold", -1, &kind,
                pe);
    if (rc < 0) {
        return rc;
    }
    p->kind = (enum au_kind)kind;
    int skip = 0;
    rc = s_enum(j, "skip", "", s_skips, "past_last or skip_to_next", AU_SKIP_PAST_LAST, &skip, pe);
    if (rc < 0) {
        return rc;
    }
    p->skip = (enum au_skip)skip;
    json_t *en = json_object_get(j, "enabled");
    if (en != NULL && !json_is_boolean(en)) {
        return s_err(pe, "enabled: expected true or false");
    }
    p->enabled = en == NULL || json_is_true(en);
    if (json_object_get(j, "window_ms") == NULL) {
        return s_err(pe, "window_ms: missing");
    }
    long long win = 0;
    rc = s_int(j, "window_ms", "", 1, AU_MAX_WINDOW_MS, &win, pe);
    if (rc < 0) {
        return rc;
    }
    p->window_ns = (uint64_t)win * 1000000ULL;
    json_t *pb = json_object_get(j, "partition_by");
    if (pb != NULL) {
        rc = s_field(pb, "partition_by", &p->partition, pe);
        if (rc < 0) {
            return rc;
        }
        p->partitioned = true;
    }
    json_t *els = json_object_get(j, "elements");
    if (els == NULL) {
        return s_err(pe, "elements: missing");
    }
    if (!json_is_array(els) || json_array_size(els) == 0 ||
        json_array_size(els) > AU_MAX_ELEMENTS) {
        return s_err(pe, "elements: expected an array of 1..%d elements", AU_MAX_ELEMENTS);
    }
    p->elems = vx_calloc(json_array_size(els), sizeof *p->elems);
    size_t i;
    json_t *el;
    json_array_foreach(els, i, el) {
        char where[32];
        snprintf(where, sizeof where, "elements[%zu]", i);
        p->n_elems++;
        rc = s_element_parse(el, where, p->kind, (uint32_t)i, &p->elems[i], pe);
        if (rc < 0) {
            return rc;
        }
    }
    rc = s_kind_check(p, pe);
    if (rc < 0) {
        return rc;
    }
    rc = s_actions_parse(json_object_get(j, "actions"), p, pe);
    if (rc < 0) {
        return rc;
    }
    rc = s_time_parse(j, p, pe);
    if (rc < 0) {
        return rc;
    }
    p->json = json_incref(j);
    return 0;
}

int
au_pattern_parse(json_t *j, const char *where, struct au_pattern *p, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    struct s_perr pe = {.buf = err, .len = errlen, .where = where, .id = NULL};
    int rc = s_parse(j, p, &pe);
    if (rc < 0) {
        au_pattern_fini(p);
    }
    return rc;
}

void
au_pattern_fini(struct au_pattern *p)
{
    for (uint32_t i = 0; i < p->n_elems; i++) {
        struct au_element *el = &p->elems[i];
        for (uint32_t k = 0; k < el->n_conds; k++) {
            struct au_cond *c = &el->conds[k];
            free(c->field.name);
            free(c->str);
            if (c->has_re) {
                regfree(&c->re);
            }
        }
        free(el->conds);
    }
    free(p->elems);
    for (uint32_t i = 0; i < p->n_actions; i++) {
        free(p->actions[i].message);
        free(p->actions[i].workflow);
        json_decref(p->actions[i].event);
    }
    free(p->actions);
    free(p->partition.name);
    free(p->id);
    free(p->tenant);
    json_decref(p->json);
    memset(p, 0, sizeof *p);
}

const char *
au_field_get(const struct au_field *f, const vx_event_t *ev, char *buf, size_t len)
{
    switch (f->kind) {
    case AU_F_PATH:
        return ev->path != NULL && ev->path[0] != '\0' ? ev->path : NULL;
    case AU_F_TENANT:
        return ev->tenant != NULL && ev->tenant[0] != '\0' ? ev->tenant : NULL;
    case AU_F_PRIORITY:
        snprintf(buf, len, "%u", (unsigned)ev->priority);
        return buf;
    case AU_F_CONTENT:
        for (size_t i = 0; i < ev->n_content; i++) {
            if (ev->content[i]->key != NULL && strcmp(ev->content[i]->key, f->name) == 0) {
                return ev->content[i]->value;
            }
        }
        return NULL;
    case AU_F_METADATA:
        for (size_t i = 0; i < ev->n_metadata; i++) {
            if (ev->metadata[i]->key != NULL && strcmp(ev->metadata[i]->key, f->name) == 0) {
                return ev->metadata[i]->value;
            }
        }
        return NULL;
    }
    return NULL;
}

/* Reads a whole field as a number; false when it is not one. */
static bool
s_number(const char *s, double *out)
{
    char *end = NULL;
    errno = 0;
    double d = strtod(s, &end);
    if (end == s || *end != '\0' || errno != 0 || isnan(d)) {
        return false;
    }
    *out = d;
    return true;
}

bool
au_cond_test(const struct au_cond *c, const char *v)
{
    if (v == NULL) {
        return false;
    }
    if (c->numeric) {
        double d;
        if (!s_number(v, &d)) {
            return false;
        }
        switch (c->op) {
        case AU_EQ:
            return d == c->num;
        case AU_NE:
            return d != c->num;
        case AU_GT:
            return d > c->num;
        case AU_GE:
            return d >= c->num;
        case AU_LT:
            return d < c->num;
        case AU_LE:
            return d <= c->num;
        default:
            return false;
        }
    }
    switch (c->op) {
    case AU_EQ:
        return strcmp(v, c->str) == 0;
    case AU_NE:
        return strcmp(v, c->str) != 0;
    case AU_PREFIX:
        return strncmp(v, c->str, c->str_len) == 0;
    case AU_CONTAINS:
        return strstr(v, c->str) != NULL;
    case AU_REGEX:
        return regexec(&c->re, v, 0, NULL, 0) == 0;
    default:
        return false;
    }
}

bool
au_element_match(const struct au_element *el, const vx_event_t *ev)
{
    for (uint32_t i = 0; i < el->n_conds; i++) {
        char buf[16];
        const struct au_cond *c = &el->conds[i];
        if (!au_cond_test(c, au_field_get(&c->field, ev, buf, sizeof buf))) {
            return false;
        }
    }
    return true;
}
