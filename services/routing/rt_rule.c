/* SPDX-License-Identifier: Apache-2.0 */
/* Routing rules: parsing and validation of the schema in rt_engine.h, translation of every
 * pattern kind into one Hyperscan expression, and the normalized JSON form. */
#include "rt_rule.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rt_glob.h"
#include "rt_retext.h"
#include "vx_mem.h"

#define S_MAX_TAG_KEY 256
#define S_MAX_TAG_VALUE 1024
#define S_MAX_TENANT 256
#define S_MAX_FIELD_KEY 256
#define S_MAX_DESCRIPTION 4096

static const char *const s_pat_kinds[] = {
    [RT_PAT_LITERAL] = "literal", [RT_PAT_PREFIX] = "prefix", [RT_PAT_SUFFIX] = "suffix",
    [RT_PAT_EXACT] = "exact",     [RT_PAT_GLOB] = "glob",     [RT_PAT_REGEX] = "regex",
};
#define S_N_PAT_KINDS (sizeof s_pat_kinds / sizeof s_pat_kinds[0])

const char *
rt_pat_kind_name(enum rt_pat_kind k)
{
    return (size_t)k < S_N_PAT_KINDS ? s_pat_kinds[k] : "?";
}

void
rt_perr_set(struct rt_perr *pe, const char *fmt, ...)
{
    if (pe->buf == NULL || pe->len == 0) {
        return;
    }
    int n;
    if (pe->id != NULL) {
        n = snprintf(pe->buf, pe->len, "%s[%zu] (id \"%s\"): ", pe->set, pe->idx, pe->id);
    } else {
        n = snprintf(pe->buf, pe->len, "%s[%zu]: ", pe->set, pe->idx);
    }
    if (n < 0 || (size_t)n >= pe->len) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pe->buf + n, pe->len - (size_t)n, fmt, ap);
    va_end(ap);
}

int
rt_check_keys(json_t *obj, const char *where, const char *const *allowed, struct rt_perr *pe)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        bool ok = false;
        for (size_t i = 0; allowed[i] != NULL; i++) {
            if (strcmp(allowed[i], key) == 0) {
                ok = true;
                break;
            }
        }
        if (!ok) {
            rt_perr_set(pe, "%s%sunknown key \"%s\"", where, where[0] ? ": " : "", key);
            return -EINVAL;
        }
    }
    return 0;
}

/* An id: 1..RT_MAX_ID_LEN characters of [A-Za-z0-9_.:-]. */
static bool
s_id_valid(const char *s, size_t len)
{
    if (len == 0 || len > RT_MAX_ID_LEN) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '_' && c != '.' && c != ':' && c != '-') {
            return false;
        }
    }
    return true;
}

int
rt_parse_id(json_t *obj, const char *field, char **out, struct rt_perr *pe)
{
    json_t *v = json_object_get(obj, field);
    if (v == NULL) {
        rt_perr_set(pe, "%s: missing", field);
        return -EINVAL;
    }
    if (!json_is_string(v)) {
        rt_perr_set(pe, "%s: expected a string", field);
        return -EINVAL;
    }
    if (!s_id_valid(json_string_value(v), json_string_length(v))) {
        rt_perr_set(pe, "%s: \"%.*s\" is not 1..%d characters of [A-Za-z0-9_.:-]", field, 200,
                    json_string_value(v), RT_MAX_ID_LEN);
        return -EINVAL;
    }
    *out = vx_strdup(json_string_value(v));
    return 0;
}

/* A string without NUL of at most max bytes (min 1 when nonempty). */
static int
s_string(json_t *v, const char *where, size_t max, bool nonempty, const char **out,
         struct rt_perr *pe)
{
    if (!json_is_string(v)) {
        rt_perr_set(pe, "%s: expected a string", where);
        return -EINVAL;
    }
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    if (strlen(s) != len) {
        rt_perr_set(pe, "%s: contains a NUL byte", where);
        return -EINVAL;
    }
    if (nonempty && len == 0) {
        rt_perr_set(pe, "%s: must not be empty", where);
        return -EINVAL;
    }
    if (len > max) {
        rt_perr_set(pe, "%s: longer than %zu bytes", where, max);
        return -EINVAL;
    }
    *out = s;
    return 0;
}

static int
s_bool(json_t *obj, const char *key, const char *where, bool def, bool *out, struct rt_perr *pe)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL) {
        *out = def;
        return 0;
    }
    if (!json_is_boolean(v)) {
        rt_perr_set(pe, "%s%s: expected true or false", where, key);
        return -EINVAL;
    }
    *out = json_is_true(v);
    return 0;
}

static int
s_int(json_t *obj, const char *key, const char *where, long long lo, long long hi,
      long long def, long long *out, bool *present, struct rt_perr *pe)
{
    json_t *v = json_object_get(obj, key);
    if (present != NULL) {
        *present = v != NULL;
    }
    if (v == NULL) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        rt_perr_set(pe, "%s%s: expected an integer %lld..%lld", where, key, lo, hi);
        return -EINVAL;
    }
    *out = json_integer_value(v);
    return 0;
}

void
rt_tags_free(struct rt_kv *tags, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        free(tags[i].key);
        free(tags[i].value);
    }
    free(tags);
}

int
rt_parse_tags(json_t *v, const char *where, struct rt_kv **out, uint32_t *n, struct rt_perr *pe)
{
    *out = NULL;
    *n = 0;
    if (v == NULL) {
        return 0;
    }
    if (!json_is_object(v)) {
        rt_perr_set(pe, "%s: expected an object of strings", where);
        return -EINVAL;
    }
    if (json_object_size(v) > RT_MAX_TAGS_PER_RULE) {
        rt_perr_set(pe, "%s: more than %d tags", where, RT_MAX_TAGS_PER_RULE);
        return -EINVAL;
    }
    struct rt_kv *tags = vx_calloc(json_object_size(v) + 1, sizeof *tags);
    uint32_t k = 0;
    const char *key;
    json_t *val;
    char sub[400];
    json_object_foreach(v, key, val) {
        const char *s;
        snprintf(sub, sizeof sub, "%s.%.256s", where, key);
        if (key[0] == '\0' || strlen(key) > S_MAX_TAG_KEY) {
            rt_perr_set(pe, "%s: tag keys are 1..%d bytes", where, S_MAX_TAG_KEY);
            rt_tags_free(tags, k);
            return -EINVAL;
        }
        if (s_string(val, sub, S_MAX_TAG_VALUE, false, &s, pe) < 0) {
            rt_tags_free(tags, k);
            return -EINVAL;
        }
        tags[k].key = vx_strdup(key);
        tags[k].value = vx_strdup(s);
        k++;
    }
    *out = tags;
    *n = k;
    return 0;
}

json_t *
rt_tags_to_json(const struct rt_kv *tags, uint32_t n)
{
    json_t *o = json_object();
    for (uint32_t i = 0; i < n; i++) {
        json_object_set_new(o, tags[i].key, json_string(tags[i].value));
    }
    return o;
}

/* ---- patterns --------------------------------------------------------------------------- */

/* A glob's expression comes from its one parser (rt_glob.c); NULL and a reason when the
 * glob is malformed. */
static char *
s_glob_to_regex(const char *text, const char **why)
{
    struct rt_glob g;
    if (rt_glob_parse(text, &g, why) < 0) {
        return NULL;
    }
    char *re = rt_glob_regex(&g);
    rt_glob_fini(&g);
    return re;
}

static char *
s_pattern_regex(enum rt_pat_kind kind, const char *text, const char **why)
{
    struct rt_retext b = {0};
    switch (kind) {
    case RT_PAT_LITERAL:
        rt_retext_put_literal(&b, text);
        return b.p;
    case RT_PAT_PREFIX:
        rt_retext_put(&b, "\\A");
        rt_retext_put_literal(&b, text);
        return b.p;
    case RT_PAT_SUFFIX:
        rt_retext_put_literal(&b, text);
        rt_retext_put(&b, "\\z");
        return b.p;
    case RT_PAT_EXACT:
        rt_retext_put(&b, "\\A");
        rt_retext_put_literal(&b, text);
        rt_retext_put(&b, "\\z");
        return b.p;
    case RT_PAT_GLOB:
        return s_glob_to_regex(text, why);
    case RT_PAT_REGEX:
        return vx_strdup(text);
    }
    *why = "unknown kind";
    return NULL;
}

static void
s_pattern_fini(struct rt_pattern *p)
{
    free(p->text);
    free(p->key);
    free(p->regex);
}

/* One pattern object of a rule: every key checked in one place, so an error names the exact
 * member (`rules[2].conditions[0].pattern`) and a refused rule leaves nothing half-built. */
static int
s_pattern_parse(json_t *j, const char *where, struct rt_pattern *p, struct rt_perr *pe)
{
    static const char *const keys[] = {"kind", "pattern", "case_sensitive", "field", NULL};
    memset(p, 0, sizeof *p);
    if (!json_is_object(j)) {
        rt_perr_set(pe, "%s: expected an object", where);
        return -EINVAL;
    }
    if (rt_check_keys(j, where, keys, pe) < 0) {
        return -EINVAL;
    }
    json_t *k = json_object_get(j, "kind");
    if (k == NULL) {
        p->kind = RT_PAT_LITERAL;
    } else {
        bool found = false;
        if (json_is_string(k)) {
            for (size_t i = 0; i < S_N_PAT_KINDS; i++) {
                if (strcmp(s_pat_kinds[i], json_string_value(k)) == 0) {
                    p->kind = (enum rt_pat_kind)i;
                    found = true;
                }
            }
        }
        if (!found) {
            rt_perr_set(pe, "%s.kind: expected literal, prefix, suffix, exact, glob or regex",
                        where);
            return -EINVAL;
        }
    }
    char sub[300];
    const char *text;
    json_t *t = json_object_get(j, "pattern");
    snprintf(sub, sizeof sub, "%s.pattern", where);
    if (t == NULL) {
        rt_perr_set(pe, "%s: missing", sub);
        return -EINVAL;
    }
    if (s_string(t, sub, RT_MAX_PATTERN_LEN, true, &text, pe) < 0) {
        return -EINVAL;
    }
    snprintf(sub, sizeof sub, "%s.", where);
    if (s_bool(j, "case_sensitive", sub, true, &p->case_sensitive, pe) < 0) {
        return -EINVAL;
    }
    json_t *f = json_object_get(j, "field");
    p->src = RT_SRC_PATH;
    if (f != NULL) {
        const char *fs;
        snprintf(sub, sizeof sub, "%s.field", where);
        if (s_string(f, sub, S_MAX_FIELD_KEY + 9, true, &fs, pe) < 0) {
            return -EINVAL;
        }
        if (strcmp(fs, "path") == 0) {
            p->src = RT_SRC_PATH;
        } else if (strncmp(fs, "content.", 8) == 0 && fs[8] != '\0') {
            p->src = RT_SRC_CONTENT;
            p->key = vx_strdup(fs + 8);
        } else if (strncmp(fs, "metadata.", 9) == 0 && fs[9] != '\0') {
            p->src = RT_SRC_METADATA;
            p->key = vx_strdup(fs + 9);
        } else {
            rt_perr_set(pe, "%s: \"%.300s\" is not path, content.<name> or metadata.<name>", sub,
                        fs);
            return -EINVAL;
        }
    }
    p->text = vx_strdup(text);
    const char *why = NULL;
    p->regex = s_pattern_regex(p->kind, text, &why);
    if (p->regex == NULL) {
        rt_perr_set(pe, "%s: %s \"%.200s\": %s", where, rt_pat_kind_name(p->kind), text, why);
        s_pattern_fini(p);
        return -EINVAL;
    }
    return 0;
}

/* ---- conditions ------------------------------------------------------------------------- */

void
rt_cond_fini(struct rt_cond *c)
{
    free(c->tenant);
    for (uint32_t i = 0; i < c->n_pats; i++) {
        s_pattern_fini(&c->pats[i]);
    }
    free(c->pats);
    free(c->windows);
    memset(c, 0, sizeof *c);
}

/* The conditions rules and filters share (event types, tenant, path patterns or their
 * alias, path match mode), parsed once for both so that a condition means the same in a rule
 * and in a filter; each member is checked in turn and the first error names its path. */
int
rt_cond_parse_common(json_t *c, struct rt_cond *out, struct rt_perr *pe)
{
    char where[300];
    out->max_priority = 255;
    json_t *types = json_object_get(c, "event_types");
    if (types != NULL) {
        if (!json_is_array(types)) {
            rt_perr_set(pe, "conditions.event_types: expected an array of event type names");
            return -EINVAL;
        }
        size_t i;
        json_t *t;
        json_array_foreach(types, i, t) {
            int type;
            if (!json_is_string(t) || vx_event_type_parse(json_string_value(t), &type) < 0 ||
                type <= 0 || type >= RT_TYPE_SLOTS) {
                rt_perr_set(pe, "conditions.event_types[%zu]: unknown event type %s%.100s%s", i,
                            json_is_string(t) ? "\"" : "",
                            json_is_string(t) ? json_string_value(t) : "(not a string)",
                            json_is_string(t) ? "\"" : "");
                return -EINVAL;
            }
            out->type_mask |= 1u << type;
        }
    }
    json_t *tenant = json_object_get(c, "tenant");
    if (tenant != NULL && !json_is_null(tenant)) {
        const char *s;
        if (s_string(tenant, "conditions.tenant", S_MAX_TENANT, true, &s, pe) < 0) {
            return -EINVAL;
        }
        out->tenant = vx_strdup(s);
    }
    json_t *pats = json_object_get(c, "patterns");
    const char *pname = "patterns";
    json_t *alias = json_object_get(c, "content_patterns");
    if (alias != NULL) {
        if (pats != NULL) {
            rt_perr_set(pe, "conditions: give patterns or content_patterns, not both");
            return -EINVAL;
        }
        pats = alias;
        pname = "content_patterns";
        out->pats_alias = true;
    }
    if (pats != NULL) {
        if (!json_is_array(pats)) {
            rt_perr_set(pe, "conditions.%s: expected an array", pname);
            return -EINVAL;
        }
        if (json_array_size(pats) > RT_MAX_PATTERNS_PER_RULE) {
            rt_perr_set(pe, "conditions.%s: more than %d patterns", pname,
                        RT_MAX_PATTERNS_PER_RULE);
            return -EINVAL;
        }
        out->pats = vx_calloc(json_array_size(pats) + 1, sizeof *out->pats);
        size_t i;
        json_t *p;
        json_array_foreach(pats, i, p) {
            snprintf(where, sizeof where, "conditions.%s[%zu]", pname, i);
            if (s_pattern_parse(p, where, &out->pats[i], pe) < 0) {
                return -EINVAL;
            }
            out->n_pats++;
        }
    }
    json_t *pm = json_object_get(c, "pattern_match");
    if (pm != NULL) {
        if (json_is_string(pm) && strcmp(json_string_value(pm), "all") == 0) {
            out->match_all = true;
        } else if (!(json_is_string(pm) && strcmp(json_string_value(pm), "any") == 0)) {
            rt_perr_set(pe, "conditions.pattern_match: expected \"any\" or \"all\"");
            return -EINVAL;
        }
    }
    long long v;
    if (s_int(c, "min_priority", "conditions.", 0, 255, 0, &v, &out->has_min, pe) < 0) {
        return -EINVAL;
    }
    out->min_priority = (uint32_t)v;
    return 0;
}

void
rt_cond_common_to_json(const struct rt_cond *c, json_t *obj)
{
    json_t *types = json_array();
    for (int t = 1; t < RT_TYPE_SLOTS; t++) {
        if (c->type_mask & (1u << t)) {
            json_array_append_new(types, json_string(vx_event_type_name(t)));
        }
    }
    json_object_set_new(obj, "event_types", types);
    json_object_set_new(obj, "tenant", c->tenant ? json_string(c->tenant) : json_null());
    json_t *pats = json_array();
    for (uint32_t i = 0; i < c->n_pats; i++) {
        const struct rt_pattern *p = &c->pats[i];
        json_t *pj = json_object();
        json_object_set_new(pj, "kind", json_string(rt_pat_kind_name(p->kind)));
        json_object_set_new(pj, "pattern", json_string(p->text));
        json_object_set_new(pj, "case_sensitive", json_boolean(p->case_sensitive));
        if (p->src == RT_SRC_PATH) {
            json_object_set_new(pj, "field", json_string("path"));
        } else {
            json_object_set_new(pj, "field",
                                json_sprintf("%s.%s", p->src == RT_SRC_CONTENT ? "content"
                                                                               : "metadata",
                                             p->key));
        }
        json_array_append_new(pats, pj);
    }
    json_object_set_new(obj, "patterns", pats);
    json_object_set_new(obj, "pattern_match", json_string(c->match_all ? "all" : "any"));
    json_object_set_new(obj, "min_priority", json_integer(c->min_priority));
}

/* ---- boundaries ------------------------------------------------------------------------- */

static int
s_boundaries(json_t *v, const char *where, const struct rt_names *b, uint64_t *bits,
             struct rt_perr *pe)
{
    *bits = 0;
    if (v == NULL) {
        return 0;
    }
    if (!json_is_array(v)) {
        rt_perr_set(pe, "%s: expected an array of boundary names", where);
        return -EINVAL;
    }
    size_t i;
    json_t *n;
    json_array_foreach(v, i, n) {
        if (!json_is_string(n)) {
            rt_perr_set(pe, "%s[%zu]: expected a boundary name", where, i);
            return -EINVAL;
        }
        uint32_t k;
        for (k = 0; k < b->n; k++) {
            if (strcmp(b->names[k], json_string_value(n)) == 0) {
                break;
            }
        }
        if (k == b->n) {
            rt_perr_set(pe, "%s[%zu]: unknown boundary \"%.128s\"", where, i,
                        json_string_value(n));
            return -EINVAL;
        }
        *bits |= 1ULL << k;
    }
    return 0;
}

static json_t *
s_boundaries_json(uint64_t bits, const struct rt_names *b)
{
    json_t *a = json_array();
    for (uint32_t k = 0; k < b->n; k++) {
        if (bits & (1ULL << k)) {
            json_array_append_new(a, json_string(b->names[k]));
        }
    }
    return a;
}

/* ---- rules ------------------------------------------------------------------------------ */

void
rt_rule_fini(struct rt_rule *r)
{
    free(r->id);
    free(r->description);
    rt_cond_fini(&r->cond);
    rt_tags_free(r->tags, r->n_tags);
    memset(r, 0, sizeof *r);
}

static int
s_description(json_t *obj, char **out, struct rt_perr *pe)
{
    json_t *d = json_object_get(obj, "description");
    const char *s = "";
    if (d != NULL && !json_is_null(d) &&
        s_string(d, "description", S_MAX_DESCRIPTION, false, &s, pe) < 0) {
        return -EINVAL;
    }
    *out = vx_strdup(s);
    return 0;
}

/* Checks each part of a rule (id, keys, priority, flags, conditions, targets, actions) with
 * the error path of the member that failed; nothing of the rule is kept unless all pass. */
static int
s_rule_parse(json_t *j, const struct rt_names *b, struct rt_rule *r, struct rt_perr *pe)
{
    static const char *const keys[] = {"id",      "description",       "priority", "enabled",
                                       "conditions", "target_boundaries", "actions", "stop",
                                       NULL};
    static const char *const ckeys[] = {"event_types",   "patterns", "content_patterns",
                                        "pattern_match", "tenant",   "min_priority",
                                        NULL};
    static const char *const akeys[] = {"route_to_boundaries", "priority_boost", "log_match",
                                        "emit_metrics", "add_tags", NULL};
    if (!json_is_object(j)) {
        rt_perr_set(pe, "expected an object");
        return -EINVAL;
    }
    if (rt_parse_id(j, "id", &r->id, pe) < 0) {
        return -EINVAL;
    }
    pe->id = r->id;
    if (rt_check_keys(j, "", keys, pe) < 0 || s_description(j, &r->description, pe) < 0) {
        return -EINVAL;
    }
    long long v;
    if (s_int(j, "priority", "", -1000000, 1000000, 0, &v, NULL, pe) < 0) {
        return -EINVAL;
    }
    r->priority = (int32_t)v;
    if (s_bool(j, "enabled", "", true, &r->enabled, pe) < 0 ||
        s_bool(j, "stop", "", false, &r->stop, pe) < 0) {
        return -EINVAL;
    }
    json_t *c = json_object_get(j, "conditions");
    r->cond.max_priority = 255;
    if (c != NULL) {
        if (!json_is_object(c)) {
            rt_perr_set(pe, "conditions: expected an object");
            return -EINVAL;
        }
        if (rt_check_keys(c, "conditions", ckeys, pe) < 0 ||
            rt_cond_parse_common(c, &r->cond, pe) < 0) {
            return -EINVAL;
        }
    }
    if (s_boundaries(json_object_get(j, "target_boundaries"), "target_boundaries", b,
                     &r->target_bits, pe) < 0) {
        return -EINVAL;
    }
    json_t *a = json_object_get(j, "actions");
    if (a != NULL) {
        if (!json_is_object(a)) {
            rt_perr_set(pe, "actions: expected an object");
            return -EINVAL;
        }
        if (rt_check_keys(a, "actions", akeys, pe) < 0 ||
            s_boundaries(json_object_get(a, "route_to_boundaries"),
                         "actions.route_to_boundaries", b, &r->route_bits, pe) < 0 ||
            s_int(a, "priority_boost", "actions.", 0, 255, 0, &v, NULL, pe) < 0 ||
            s_bool(a, "log_match", "actions.", false, &r->log_match, pe) < 0 ||
            s_bool(a, "emit_metrics", "actions.", false, &r->emit_metrics, pe) < 0 ||
            rt_parse_tags(json_object_get(a, "add_tags"), "actions.add_tags", &r->tags,
                          &r->n_tags, pe) < 0) {
            return -EINVAL;
        }
        r->boost = (uint32_t)v;
    }
    return 0;
}

int
rt_rule_parse(json_t *j, const struct rt_names *b, struct rt_rule *out, struct rt_perr *pe)
{
    memset(out, 0, sizeof *out);
    int rc = s_rule_parse(j, b, out, pe);
    if (rc < 0) {
        pe->id = NULL;
        rt_rule_fini(out);
    }
    return rc;
}

json_t *
rt_rule_to_json(const struct rt_rule *r, const struct rt_names *b)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(r->id));
    json_object_set_new(o, "description", json_string(r->description));
    json_object_set_new(o, "priority", json_integer(r->priority));
    json_object_set_new(o, "enabled", json_boolean(r->enabled));
    json_t *c = json_object();
    rt_cond_common_to_json(&r->cond, c);
    json_object_set_new(o, "conditions", c);
    json_object_set_new(o, "target_boundaries", s_boundaries_json(r->target_bits, b));
    json_t *a = json_object();
    json_object_set_new(a, "route_to_boundaries", s_boundaries_json(r->route_bits, b));
    json_object_set_new(a, "priority_boost", json_integer(r->boost));
    json_object_set_new(a, "log_match", json_boolean(r->log_match));
    json_object_set_new(a, "emit_metrics", json_boolean(r->emit_metrics));
    json_object_set_new(a, "add_tags", rt_tags_to_json(r->tags, r->n_tags));
    json_object_set_new(o, "actions", a);
    json_object_set_new(o, "stop", json_boolean(r->stop));
    return o;
}
