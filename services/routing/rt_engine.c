/* SPDX-License-Identifier: Apache-2.0 */
/* Building the routing engine: parse and validate both sets, order them, compile one
 * Hyperscan database and one direct matcher (rt_anchor) per field, precompute the type and
 * tenant bitsets. Reading a built
 * engine is in rt_engine_info.c, deciding in rt_engine_decide.c. */
#include "rt_engine_priv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vx_mem.h"

static const char *const s_default_boundaries[] = {"analytics", "automation", "coordinator",
                                                   "graph", "vector"};

static _Atomic uint64_t s_next_gen = 1;

static void
s_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
s_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- key table: content/metadata fields and tenants ----------------------------------- */

uint64_t
rt_key_hash(uint32_t kind, const char *key, size_t len)
{
    return vx_hash64(key, len, 0x9e3779b97f4a7c15ULL * kind);
}

static void
s_bloom_add(rt_engine_t *e, uint64_t h)
{
    e->bloom[(h & 511) >> 6] |= 1ULL << (h & 63);
    e->bloom[((h >> 9) & 511) >> 6] |= 1ULL << ((h >> 9) & 63);
}

int64_t
rt_table_find(const rt_engine_t *e, uint32_t kind, const char *key, size_t len)
{
    if (e->table == NULL || len == 0 || !(e->shape[len & 63] & (1ULL << (key[0] & 63)))) {
        return -1;
    }
    uint64_t h = rt_key_hash(kind, key, len);
    if (!(e->bloom[(h & 511) >> 6] & (1ULL << (h & 63))) ||
        !(e->bloom[((h >> 9) & 511) >> 6] & (1ULL << ((h >> 9) & 63)))) {
        return -1;
    }
    for (uint32_t i = (uint32_t)h & e->table_mask;; i = (i + 1) & e->table_mask) {
        const struct rt_slot *sl = &e->table[i];
        if (sl->key == NULL) {
            return -1;
        }
        if (sl->hash == h && sl->kind == kind && strncmp(sl->key, key, len) == 0 &&
            sl->key[len] == '\0') {
            return sl->val;
        }
    }
}

static void
s_table_insert_slot(rt_engine_t *e, const struct rt_slot *in)
{
    for (uint32_t i = (uint32_t)in->hash & e->table_mask;; i = (i + 1) & e->table_mask) {
        if (e->table[i].key == NULL) {
            e->table[i] = *in;
            return;
        }
    }
}

static void
s_table_insert(rt_engine_t *e, uint32_t kind, const char *key, uint32_t val)
{
    if ((e->table_used + 1) * 2 > e->table_mask + 1 || e->table == NULL) {
        uint32_t old_n = e->table ? e->table_mask + 1 : 0;
        struct rt_slot *old = e->table;
        uint32_t n = old_n ? old_n * 2 : 16;
        e->table = vx_calloc(n, sizeof *e->table);
        e->table_mask = n - 1;
        for (uint32_t i = 0; i < old_n; i++) {
            if (old[i].key != NULL) {
                s_table_insert_slot(e, &old[i]);
            }
        }
        free(old);
    }
    struct rt_slot sl = {rt_key_hash(kind, key, strlen(key)), key, kind, val};
    s_table_insert_slot(e, &sl);
    s_bloom_add(e, sl.hash);
    size_t len = strlen(key);
    if (len > 0) {
        e->shape[len & 63] |= 1ULL << (key[0] & 63);
    }
    e->table_used++;
}

/* ---- ordering and ids ------------------------------------------------------------------- */

static int
cb_rule_order(const void *a, const void *b)
{
    const struct rt_rule *x = a, *y = b;
    if (x->priority != y->priority) {
        return x->priority > y->priority ? -1 : 1;
    }
    return x->input_pos < y->input_pos ? -1 : x->input_pos > y->input_pos;
}

static int
cb_filter_order(const void *a, const void *b)
{
    const struct rt_filter *x = a, *y = b;
    if (x->order != y->order) {
        return x->order < y->order ? -1 : 1;
    }
    return x->input_pos < y->input_pos ? -1 : x->input_pos > y->input_pos;
}

struct s_idsort {
    const char *id;
    uint32_t pos;   /* input position */
    uint32_t index; /* index after ordering */
};

static int
cb_id_order(const void *a, const void *b)
{
    const struct s_idsort *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    if (c != 0) {
        return c;
    }
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Sorts ids; on a duplicate reports the earliest later occurrence. Fills by_id. */
static int
s_ids(struct s_idsort *v, uint32_t n, const char *set, uint32_t *by_id, char *err,
      size_t errlen)
{
    qsort(v, n, sizeof *v, cb_id_order);
    int64_t dup = -1;
    for (uint32_t i = 1; i < n; i++) {
        if (strcmp(v[i - 1].id, v[i].id) == 0 && (dup < 0 || v[i].pos < v[dup].pos)) {
            dup = i;
        }
    }
    if (dup >= 0) {
        uint32_t first = (uint32_t)dup;
        while (first > 0 && strcmp(v[first - 1].id, v[dup].id) == 0) {
            first--;
        }
        s_err(err, errlen, "%s[%u] (id \"%s\"): id: duplicate of %s[%u]", set, v[dup].pos,
              v[dup].id, set, v[first].pos);
        return -EINVAL;
    }
    for (uint32_t i = 0; i < n; i++) {
        by_id[i] = v[i].index;
    }
    return 0;
}

/* ---- compiling -------------------------------------------------------------------------- */

/* One pattern headed for a field database, with what an error message needs. */
struct s_cpat {
    const struct rt_pattern *p;
    uint32_t owner;
    uint32_t pat_index;
    uint32_t field;
    uint32_t expr;  /* distinct expression number */
};

static void
s_pattern_error(const rt_engine_t *e, const struct s_cpat *cp, const char *msg, char *err,
                size_t errlen)
{
    bool is_rule = cp->owner < e->nr;
    const struct rt_cond *c = is_rule ? &e->rules[cp->owner].cond
                                      : &e->filters[cp->owner - e->nr].cond;
    uint32_t pos = is_rule ? e->rules[cp->owner].input_pos
                           : e->filters[cp->owner - e->nr].input_pos;
    const char *id = is_rule ? e->rules[cp->owner].id : e->filters[cp->owner - e->nr].id;
    s_err(err, errlen, "%s[%u] (id \"%s\"): conditions.%s[%u]: %s \"%.300s\": %s",
          is_rule ? "rules" : "filters", pos, id, c->pats_alias ? "content_patterns" : "patterns",
          cp->pat_index, rt_pat_kind_name(cp->p->kind), cp->p->text, msg);
}

static unsigned
s_hs_flags(const struct rt_pattern *p)
{
    return HS_FLAG_SINGLEMATCH | HS_FLAG_ALLOWEMPTY | (p->case_sensitive ? 0 : HS_FLAG_CASELESS);
}

/* Checks the patterns of a disabled entry, which are not compiled into any database. */
static int
s_check_disabled(const rt_engine_t *e, const struct rt_cond *c, uint32_t owner, char *err,
                 size_t errlen)
{
    for (uint32_t k = 0; k < c->n_pats; k++) {
        hs_expr_info_t *info = NULL;
        hs_compile_error_t *ce = NULL;
        if (hs_expression_info(c->pats[k].regex, s_hs_flags(&c->pats[k]), &info, &ce) !=
            HS_SUCCESS) {
            struct s_cpat cp = {&c->pats[k], owner, k, 0, 0};
            s_pattern_error(e, &cp, ce ? ce->message : "rejected", err, errlen);
            hs_free_compile_error(ce);
            return -EINVAL;
        }
        free(info);
    }
    return 0;
}

static uint32_t
s_field_of(rt_engine_t *e, const struct rt_pattern *p, uint32_t *cap)
{
    if (p->src == RT_SRC_PATH) {
        if (e->path_field >= 0) {
            return (uint32_t)e->path_field;
        }
    } else {
        uint32_t kind = p->src == RT_SRC_CONTENT ? RT_KEY_CONTENT : RT_KEY_METADATA;
        int64_t f = rt_table_find(e, kind, p->key, strlen(p->key));
        if (f >= 0) {
            return (uint32_t)f;
        }
    }
    if (e->nfields == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        e->fields = vx_realloc(e->fields, *cap * sizeof *e->fields);
    }
    uint32_t f = e->nfields++;
    memset(&e->fields[f], 0, sizeof e->fields[f]);
    e->fields[f].src = p->src;
    e->fields[f].key = p->key;
    e->fields[f].rule_mask = vx_calloc(e->words ? e->words : 1, sizeof(uint64_t));
    if (p->src == RT_SRC_PATH) {
        e->path_field = (int)f;
    } else {
        s_table_insert(e, p->src == RT_SRC_CONTENT ? RT_KEY_CONTENT : RT_KEY_METADATA, p->key, f);
    }
    return f;
}

/* Numbers the distinct (field, expression, flags) of cps: sets cps[i].expr and returns the
 * count. */
static uint32_t
s_dedupe(struct s_cpat *cps, uint32_t n)
{
    uint32_t cap = 16;
    while (cap < n * 2) {
        cap *= 2;
    }
    uint32_t *slots = vx_calloc(cap, sizeof *slots); /* cps index + 1, 0 empty */
    uint32_t n_exprs = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct rt_pattern *p = cps[i].p;
        uint64_t h = vx_hash64(p->regex, strlen(p->regex), s_hs_flags(p) ^ cps[i].field * 31u);
        for (uint32_t k = (uint32_t)h & (cap - 1);; k = (k + 1) & (cap - 1)) {
            if (slots[k] == 0) {
                slots[k] = i + 1;
                cps[i].expr = n_exprs++;
                break;
            }
            const struct s_cpat *o = &cps[slots[k] - 1];
            if (o->field == cps[i].field && s_hs_flags(o->p) == s_hs_flags(p) &&
                strcmp(o->p->regex, p->regex) == 0) {
                cps[i].expr = o->expr;
                break;
            }
        }
    }
    free(slots);
    return n_exprs;
}

/* Compiles the distinct literal and regex expressions of each field into its database, and
 * gives its anchored ones (rt_anchor_kind) to its direct matcher. */
static int
s_compile_fields(rt_engine_t *e, const struct s_cpat *cps, const uint32_t *first_cp, char *err,
                 size_t errlen)
{
    const char **exprs = vx_calloc(e->n_exprs + 1, sizeof *exprs);
    unsigned *flags = vx_calloc(e->n_exprs + 1, sizeof *flags);
    unsigned *ids = vx_calloc(e->n_exprs + 1, sizeof *ids);
    int rc = 0;
    for (uint32_t f = 0; f < e->nfields && rc == 0; f++) {
        uint32_t m = 0;
        for (uint32_t u = 0; u < e->n_exprs; u++) {
            const struct s_cpat *cp = &cps[first_cp[u]];
            if (cp->field != f) {
                continue;
            }
            if (rt_anchor_kind(cp->p->kind)) {
                if (e->fields[f].anchor == NULL) {
                    e->fields[f].anchor = rt_anchor_new();
                }
                if (rt_anchor_add(e->fields[f].anchor, cp->p->kind, cp->p->text,
                                  !cp->p->case_sensitive, u) < 0) {
                    s_pattern_error(e, cp, "not a valid pattern", err, errlen);
                    rc = -EINVAL;
                    break;
                }
                continue;
            }
            exprs[m] = cp->p->regex;
            flags[m] = s_hs_flags(cp->p);
            ids[m] = u;
            m++;
        }
        if (e->fields[f].anchor != NULL) {
            rt_anchor_seal(e->fields[f].anchor);
        }
        if (rc < 0 || m == 0) {
            continue; /* only anchored patterns here: no database */
        }
        hs_compile_error_t *ce = NULL;
        if (hs_compile_multi(exprs, flags, ids, m, HS_MODE_BLOCK, NULL, &e->fields[f].db, &ce) !=
            HS_SUCCESS) {
            if (ce != NULL && ce->expression >= 0 && (uint32_t)ce->expression < m) {
                s_pattern_error(e, &cps[first_cp[ids[ce->expression]]], ce->message, err,
                                errlen);
                rc = -EINVAL;
            } else {
                s_err(err, errlen, "field %s%s: Hyperscan: %s",
                      e->fields[f].src == RT_SRC_PATH      ? "path"
                      : e->fields[f].src == RT_SRC_CONTENT ? "content."
                                                           : "metadata.",
                      e->fields[f].key ? e->fields[f].key : "",
                      ce ? ce->message : "compile failed");
                rc = ce != NULL && strstr(ce->message, "memory") ? -ENOMEM : -EPROTO;
            }
            hs_free_compile_error(ce);
            e->fields[f].db = NULL;
        }
    }
    free(exprs);
    free(flags);
    free(ids);
    return rc;
}

static int
s_compile(rt_engine_t *e, char *err, size_t errlen)
{
    uint32_t cap_fields = 0, n = 0, cap = 0;
    struct s_cpat *cps = NULL;
    int rc = 0;
    for (uint32_t o = 0; o < e->nr + e->nf; o++) {
        bool is_rule = o < e->nr;
        const struct rt_cond *c = is_rule ? &e->rules[o].cond : &e->filters[o - e->nr].cond;
        bool enabled = is_rule ? e->rules[o].enabled : e->filters[o - e->nr].enabled;
        if (!enabled) {
            rc = s_check_disabled(e, c, o, err, errlen);
            if (rc < 0) {
                goto out;
            }
            continue;
        }
        e->need[o] = (uint16_t)(c->n_pats == 0 ? 0 : c->match_all ? c->n_pats : 1);
        for (uint32_t k = 0; k < c->n_pats; k++) {
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                cps = vx_realloc(cps, cap * sizeof *cps);
            }
            uint32_t f = s_field_of(e, &c->pats[k], &cap_fields);
            cps[n++] = (struct s_cpat){&c->pats[k], o, k, f, 0};
            e->fields[f].n_pats++;
            if (is_rule) {
                e->fields[f].rule_mask[o >> 6] |= 1ULL << (o & 63);
            } else {
                e->fields[f].for_filters = true;
            }
        }
    }
    /* Group owners by expression: expr_first[u] .. expr_first[u + 1]. */
    e->n_exprs = s_dedupe(cps, n);
    e->expr_first = vx_calloc(e->n_exprs + 2, sizeof *e->expr_first);
    e->owners = vx_calloc(n + 1, sizeof *e->owners);
    uint32_t *first_cp = vx_calloc(e->n_exprs + 1, sizeof *first_cp);
    for (uint32_t i = n; i-- > 0;) {
        e->expr_first[cps[i].expr + 1]++;
        first_cp[cps[i].expr] = i;
    }
    for (uint32_t u = 0; u < e->n_exprs; u++) {
        e->expr_first[u + 1] += e->expr_first[u];
    }
    uint32_t *fill = vx_calloc(e->n_exprs + 1, sizeof *fill);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t u = cps[i].expr;
        e->owners[e->expr_first[u] + fill[u]++] = cps[i].owner;
    }
    free(fill);
    rc = s_compile_fields(e, cps, first_cp, err, errlen);
    free(first_cp);
out:
    free(cps);
    return rc;
}

/* ---- masks ------------------------------------------------------------------------------ */

static void
s_masks(rt_engine_t *e)
{
    uint32_t w = e->words ? e->words : 1;
    e->type_masks = vx_calloc((size_t)RT_TYPE_SLOTS * w, sizeof(uint64_t));
    e->any_tenant = vx_calloc(w, sizeof(uint64_t));
    e->static_mask = vx_calloc(w, sizeof(uint64_t));
    e->hot = vx_calloc(e->nr + 1, sizeof *e->hot);
    for (uint32_t r = 0; r < e->nr; r++) {
        const struct rt_rule *ru = &e->rules[r];
        e->hot[r] = (struct rt_rule_hot){ru->target_bits | ru->route_bits, (uint16_t)ru->boost,
                                         (uint16_t)ru->n_tags, (uint8_t)ru->cond.min_priority,
                                         ru->stop, ru->log_match};
        e->total_tags += ru->n_tags;
        if (ru->cond.tenant != NULL && rt_table_find(e, RT_KEY_TENANT, ru->cond.tenant,
                                                     strlen(ru->cond.tenant)) < 0) {
            s_table_insert(e, RT_KEY_TENANT, ru->cond.tenant, e->n_tenants++);
        }
    }
    e->tenant_masks = vx_calloc((size_t)(e->n_tenants ? e->n_tenants : 1) * w, sizeof(uint64_t));
    for (uint32_t r = 0; r < e->nr; r++) {
        const struct rt_rule *ru = &e->rules[r];
        if (!ru->enabled) {
            continue;
        }
        uint64_t bit = 1ULL << (r & 63);
        uint32_t word = r >> 6;
        for (uint32_t t = 0; t < RT_TYPE_SLOTS; t++) {
            if (ru->cond.type_mask == 0 || (ru->cond.type_mask & (1u << t))) {
                e->type_masks[(size_t)t * w + word] |= bit;
            }
        }
        if (ru->cond.tenant == NULL) {
            e->any_tenant[word] |= bit;
        } else {
            int64_t ti = rt_table_find(e, RT_KEY_TENANT, ru->cond.tenant, strlen(ru->cond.tenant));
            e->tenant_masks[(size_t)ti * w + word] |= bit;
        }
        if (ru->cond.n_pats == 0) {
            e->static_mask[word] |= bit;
            e->n_static++;
        }
    }
    for (uint32_t f = 0; f < e->nf; f++) {
        e->total_tags += e->filters[f].n_tags;
        e->filters_enabled |= e->filters[f].enabled;
    }
}

/* ---- build ------------------------------------------------------------------------------ */

static int
s_boundaries(rt_engine_t *e, const struct rt_engine_opts *o, char *err, size_t errlen)
{
    const char *const *names = s_default_boundaries;
    size_t n = sizeof s_default_boundaries / sizeof s_default_boundaries[0];
    if (o->boundaries != NULL && o->n_boundaries > 0) {
        names = o->boundaries;
        n = o->n_boundaries;
    }
    if (n > RT_MAX_BOUNDARIES) {
        s_err(err, errlen, "boundaries: %zu exceed the limit of %d", n, RT_MAX_BOUNDARIES);
        return -E2BIG;
    }
    e->names.names = vx_calloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        if (names[i] == NULL || names[i][0] == '\0' || strlen(names[i]) > RT_MAX_ID_LEN) {
            s_err(err, errlen, "boundaries[%zu]: expected a name of 1..%d bytes", i,
                  RT_MAX_ID_LEN);
            return -EINVAL;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(names[i], names[j]) == 0) {
                s_err(err, errlen, "boundaries[%zu]: duplicate \"%s\"", i, names[i]);
                return -EINVAL;
            }
        }
        e->names.names[i] = vx_strdup(names[i]);
        e->names.n = (uint32_t)i + 1;
    }
    e->default_b = -1;
    if (o->default_boundary != NULL) {
        e->default_b = rt_engine_boundary_index(e, o->default_boundary);
        if (e->default_b < 0) {
            s_err(err, errlen, "default_boundary: unknown boundary \"%.128s\"",
                  o->default_boundary);
            return -EINVAL;
        }
    }
    return 0;
}

static int
s_parse_sets(rt_engine_t *e, json_t *rules, json_t *filters, const struct rt_engine_opts *o,
             char *err, size_t errlen)
{
    size_t max_rules = o->max_rules ? o->max_rules : RT_DEFAULT_MAX_RULES;
    size_t max_filters = o->max_filters ? o->max_filters : RT_DEFAULT_MAX_FILTERS;
    if (rules != NULL && !json_is_array(rules)) {
        s_err(err, errlen, "rules: expected an array");
        return -EINVAL;
    }
    if (filters != NULL && !json_is_array(filters)) {
        s_err(err, errlen, "filters: expected an array");
        return -EINVAL;
    }
    size_t nr = rules ? json_array_size(rules) : 0;
    size_t nf = filters ? json_array_size(filters) : 0;
    if (nr > max_rules) {
        s_err(err, errlen, "rules: %zu rules exceed the limit of %zu", nr, max_rules);
        return -E2BIG;
    }
    if (nf > max_filters) {
        s_err(err, errlen, "filters: %zu filters exceed the limit of %zu", nf, max_filters);
        return -E2BIG;
    }
    e->rules = vx_calloc(nr + 1, sizeof *e->rules);
    e->filters = vx_calloc(nf + 1, sizeof *e->filters);
    for (size_t i = 0; i < nr; i++) {
        struct rt_perr pe = {err, errlen, "rules", i, NULL};
        if (rt_rule_parse(json_array_get(rules, i), &e->names, &e->rules[i], &pe) < 0) {
            return -EINVAL;
        }
        e->rules[i].input_pos = (uint32_t)i;
        e->nr++;
    }
    for (size_t i = 0; i < nf; i++) {
        struct rt_perr pe = {err, errlen, "filters", i, NULL};
        if (rt_filter_parse(json_array_get(filters, i), &e->names, &e->filters[i], &pe) < 0) {
            return -EINVAL;
        }
        e->filters[i].input_pos = (uint32_t)i;
        e->nf++;
    }
    qsort(e->rules, e->nr, sizeof *e->rules, cb_rule_order);
    qsort(e->filters, e->nf, sizeof *e->filters, cb_filter_order);
    struct s_idsort *ids = vx_calloc((nr > nf ? nr : nf) + 1, sizeof *ids);
    e->rule_by_id = vx_calloc(nr + 1, sizeof *e->rule_by_id);
    e->filter_by_id = vx_calloc(nf + 1, sizeof *e->filter_by_id);
    for (uint32_t i = 0; i < e->nr; i++) {
        ids[i] = (struct s_idsort){e->rules[i].id, e->rules[i].input_pos, i};
    }
    int rc = s_ids(ids, e->nr, "rules", e->rule_by_id, err, errlen);
    for (uint32_t i = 0; i < e->nf && rc == 0; i++) {
        ids[i] = (struct s_idsort){e->filters[i].id, e->filters[i].input_pos, i};
    }
    if (rc == 0) {
        rc = s_ids(ids, e->nf, "filters", e->filter_by_id, err, errlen);
    }
    free(ids);
    return rc;
}

int
rt_engine_build(json_t *rules, json_t *filters, const struct rt_engine_opts *opts,
                rt_engine_t **out, char *err, size_t errlen)
{
    static const struct rt_engine_opts defaults = {0};
    const struct rt_engine_opts *o = opts ? opts : &defaults;
    rt_engine_t *e = vx_calloc(1, sizeof *e);
    e->path_field = -1;
    int rc = s_boundaries(e, o, err, errlen);
    if (rc == 0) {
        rc = s_parse_sets(e, rules, filters, o, err, errlen);
    }
    if (rc < 0) {
        rt_engine_destroy(&e);
        return rc;
    }
    e->words = (e->nr + 63) / 64;
    e->owner_words = (e->nr + e->nf + 63) / 64;
    e->need = vx_calloc(e->nr + e->nf + 1, sizeof *e->need);
    rc = s_compile(e, err, errlen);
    if (rc < 0) {
        rt_engine_destroy(&e);
        return rc;
    }
    s_masks(e);
    e->rule_matches = vx_calloc(e->nr + 1, sizeof *e->rule_matches);
    e->filter_matches = vx_calloc(e->nf + 1, sizeof *e->filter_matches);
    e->filter_drops = vx_calloc(e->nf + 1, sizeof *e->filter_drops);
    e->filter_tat = vx_calloc(e->nf + 1, sizeof *e->filter_tat);
    e->gen = atomic_fetch_add(&s_next_gen, 1);
    *out = e;
    return 0;
}

void
rt_engine_destroy(rt_engine_t **ep)
{
    rt_engine_t *e = *ep;
    if (e == NULL) {
        return;
    }
    for (uint32_t i = 0; i < e->names.n; i++) {
        free(e->names.names[i]);
    }
    free(e->names.names);
    for (uint32_t i = 0; i < e->nr; i++) {
        rt_rule_fini(&e->rules[i]);
    }
    for (uint32_t i = 0; i < e->nf; i++) {
        rt_filter_fini(&e->filters[i]);
    }
    for (uint32_t f = 0; f < e->nfields; f++) {
        hs_free_database(e->fields[f].db);
        rt_anchor_destroy(&e->fields[f].anchor);
        free(e->fields[f].rule_mask);
    }
    free(e->fields);
    free(e->rules);
    free(e->filters);
    free(e->rule_by_id);
    free(e->filter_by_id);
    free(e->need);
    free(e->expr_first);
    free(e->owners);
    free(e->table);
    free(e->type_masks);
    free(e->any_tenant);
    free(e->tenant_masks);
    free(e->static_mask);
    free(e->hot);
    free((void *)e->rule_matches);
    free((void *)e->filter_matches);
    free((void *)e->filter_drops);
    free((void *)e->filter_tat);
    free(e);
    *ep = NULL;
}
