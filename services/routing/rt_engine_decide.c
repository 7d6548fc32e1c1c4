/* SPDX-License-Identifier: Apache-2.0 */
/* Deciding: per-thread scratch, the one-pass decision for an event, and its explanation.
 *
 * One decision: candidates = type mask & tenant masks (bitsets over rules); each field some
 * candidate or filter looks at is scanned once with its Hyperscan database and its direct
 * matcher of anchored patterns, every match marking its owner; filters run in order; then the candidate rules that need no pattern or
 * whose patterns hit are applied in evaluation order until a stop rule. Only touched entries
 * of the scratch are reset afterwards, so the cost follows the matches, not the rule count. */
#include "rt_engine_priv.h"

#include <errno.h>
#include <string.h>

#include "vx_mem.h"

struct rt_scratch {
    uint64_t gen;          /* engine it fits, 0 for none */
    bool hs_ok;
    hs_scratch_t *hs;
    uint32_t cap_words, cap_owners, cap_rules, cap_filters, cap_tags, cap_fields;
    uint64_t *cand;        /* candidate rules, when computed */
    const uint64_t *candp; /* candidate rules: cand, or the engine's type mask */
    uint64_t *hit;         /* owners whose patterns are satisfied */
    uint16_t *count;       /* per owner: patterns hit so far */
    uint32_t *touched;     /* owners with count > 0 */
    uint32_t n_touched;
    uint32_t *scanned;     /* per field: epoch of its last scan */
    uint32_t epoch;
    uint32_t *rules_out;
    struct rt_filter_hit *filters_out;
    struct rt_tag *tags_out;
};

/* Grows an array to at least n elements (never shrinks); new elements are zero. */
static void *
s_grow(void *p, uint32_t *cap, uint32_t n, size_t size)
{
    if (n <= *cap && p != NULL) {
        return p;
    }
    free(p);
    *cap = n;
    return vx_calloc(n ? n : 1, size);
}

int
rt_scratch_fit(rt_scratch_t *s, const rt_engine_t *e)
{
    uint32_t owners = e->nr + e->nf;
    s->cand = s_grow(s->cand, &s->cap_words, e->words, sizeof *s->cand);
    if (owners > s->cap_owners || s->hit == NULL) {
        free(s->hit);
        free(s->count);
        free(s->touched);
        s->cap_owners = owners;
        s->hit = vx_calloc(owners / 64 + 1, sizeof *s->hit);
        s->count = vx_calloc(owners + 1, sizeof *s->count);
        s->touched = vx_calloc(owners + 1, sizeof *s->touched);
    }
    s->rules_out = s_grow(s->rules_out, &s->cap_rules, e->nr, sizeof *s->rules_out);
    s->filters_out = s_grow(s->filters_out, &s->cap_filters, e->nf, sizeof *s->filters_out);
    s->tags_out = s_grow(s->tags_out, &s->cap_tags, e->total_tags, sizeof *s->tags_out);
    free(s->scanned);
    s->scanned = vx_calloc(e->nfields + 1, sizeof *s->scanned);
    s->cap_fields = e->nfields;
    s->epoch = 0;
    s->n_touched = 0;
    s->hs_ok = true;
    for (uint32_t f = 0; f < e->nfields; f++) {
        if (e->fields[f].db != NULL && hs_alloc_scratch(e->fields[f].db, &s->hs) != HS_SUCCESS) {
            s->hs_ok = false;
            s->gen = 0;
            return -ENOMEM;
        }
    }
    s->gen = e->gen;
    return 0;
}

rt_scratch_t *
rt_scratch_new(const rt_engine_t *e)
{
    rt_scratch_t *s = vx_calloc(1, sizeof *s);
    if (rt_scratch_fit(s, e) < 0) {
        rt_scratch_destroy(&s);
    }
    return s;
}

void
rt_scratch_destroy(rt_scratch_t **sp)
{
    rt_scratch_t *s = *sp;
    if (s == NULL) {
        return;
    }
    hs_free_scratch(s->hs);
    free(s->cand);
    free(s->hit);
    free(s->count);
    free(s->touched);
    free(s->scanned);
    free(s->rules_out);
    free(s->filters_out);
    free(s->tags_out);
    free(s);
    *sp = NULL;
}

/* ---- scanning --------------------------------------------------------------------------- */

struct s_ctx {
    const rt_engine_t *e;
    rt_scratch_t *s;
};

/* Expression id matched: every owner of it counts one more pattern hit. Each expression is
 * reported at most once per field value (single-match databases, and rt_anchor). */
static void
cb_hit(uint32_t id, void *arg)
{
    struct s_ctx *c = arg;
    rt_scratch_t *s = c->s;
    const rt_engine_t *e = c->e;
    for (uint32_t k = e->expr_first[id]; k < e->expr_first[id + 1]; k++) {
        uint32_t o = e->owners[k];
        if (s->count[o]++ == 0) {
            s->touched[s->n_touched++] = o;
        }
        if (s->count[o] == e->need[o]) {
            s->hit[o >> 6] |= 1ULL << (o & 63);
        }
    }
}

static int
cb_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags,
         void *arg)
{
    (void)from;
    (void)to;
    (void)flags;
    cb_hit(id, arg);
    return 0;
}

static bool
s_intersects(const uint64_t *a, const uint64_t *b, uint32_t words)
{
    for (uint32_t w = 0; w < words; w++) {
        if (a[w] & b[w]) {
            return true;
        }
    }
    return false;
}

/* Scans one field value when a candidate rule or a filter looks at that field: its anchored
 * patterns by direct comparison, the others with its Hyperscan database. Returns false on a
 * Hyperscan error. */
static bool
s_scan(const rt_engine_t *e, rt_scratch_t *s, uint32_t f, const char *val)
{
    const struct rt_field *fl = &e->fields[f];
    if (s->scanned[f] == s->epoch) {
        return true; /* a repeated map key: the last entry was already scanned */
    }
    s->scanned[f] = s->epoch;
    if (!fl->for_filters && !s_intersects(fl->rule_mask, s->candp, e->words)) {
        return true;
    }
    struct s_ctx c = {e, s};
    size_t len = strlen(val);
    if (fl->anchor != NULL) {
        rt_anchor_scan(fl->anchor, val, len, cb_hit, &c);
    }
    if (fl->db == NULL) {
        return true;
    }
    hs_error_t rc = hs_scan(fl->db, val, (unsigned)len, 0, s->hs, cb_match, &c);
    return rc == HS_SUCCESS || rc == HS_SCAN_TERMINATED;
}

/* Scans every field of ev that some pattern looks at. Returns the number of failed scans. */
static unsigned
s_scan_event(const rt_engine_t *e, rt_scratch_t *s, const vx_event_t *ev)
{
    unsigned errors = 0;
    if (++s->epoch == 0) {
        memset(s->scanned, 0, s->cap_fields * sizeof *s->scanned);
        s->epoch = 1;
    }
    if (e->path_field >= 0 && ev->path != NULL && ev->path[0] != '\0') {
        errors += !s_scan(e, s, (uint32_t)e->path_field, ev->path);
    }
    if (e->table_used == 0) {
        return errors;
    }
    /* Map entries from last to first: protobuf keeps the last of repeated keys. */
    for (size_t i = ev->n_content; i-- > 0;) {
        const char *k = ev->content[i]->key;
        int64_t f = k ? rt_table_find(e, RT_KEY_CONTENT, k, strlen(k)) : -1;
        if (f >= 0 && ev->content[i]->value != NULL) {
            errors += !s_scan(e, s, (uint32_t)f, ev->content[i]->value);
        }
    }
    for (size_t i = ev->n_metadata; i-- > 0;) {
        const char *k = ev->metadata[i]->key;
        int64_t f = k ? rt_table_find(e, RT_KEY_METADATA, k, strlen(k)) : -1;
        if (f >= 0 && ev->metadata[i]->value != NULL) {
            errors += !s_scan(e, s, (uint32_t)f, ev->metadata[i]->value);
        }
    }
    return errors;
}

/* ---- applying --------------------------------------------------------------------------- */

static void
s_add_tags(rt_scratch_t *s, struct rt_decision *d, const struct rt_kv *tags, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        bool seen = false;
        for (uint32_t j = 0; j < d->n_tags && !seen; j++) {
            seen = strcmp(s->tags_out[j].key, tags[i].key) == 0;
        }
        if (!seen) {
            s->tags_out[d->n_tags++] = (struct rt_tag){tags[i].key, tags[i].value};
        }
    }
}

static bool
s_basic(const struct rt_cond *c, uint32_t slot, const char *tenant, uint32_t prio)
{
    if (c->type_mask != 0 && !(c->type_mask & (1u << slot))) {
        return false;
    }
    if (c->tenant != NULL && strcmp(c->tenant, tenant) != 0) {
        return false;
    }
    return prio >= c->min_priority && prio <= c->max_priority;
}

/* Counters have one writer, the thread making non-explain decisions: a plain relaxed load
 * and store, not a locked add, which costs as much as the rest of applying a rule. Readers on
 * other threads see whole values. */
static void
s_inc(_Atomic uint64_t *c)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* Runs the filters in order; returns true when the event was dropped. */
static bool
s_filters(rt_engine_t *e, rt_scratch_t *s, const vx_event_t *ev, uint32_t slot,
          uint64_t wall_ns, bool explain, struct rt_decision *d)
{
    const char *tenant = ev->tenant ? ev->tenant : "";
    for (uint32_t i = 0; i < e->nf; i++) {
        const struct rt_filter *f = &e->filters[i];
        if (!f->enabled || !s_basic(&f->cond, slot, tenant, ev->priority)) {
            continue;
        }
        uint32_t o = e->nr + i;
        if (f->cond.n_pats > 0 && !(s->hit[o >> 6] & (1ULL << (o & 63)))) {
            continue;
        }
        if (f->cond.n_windows > 0) {
            uint64_t t = f->cond.clock_event && ev->timestamp_ns ? ev->timestamp_ns : wall_ns;
            if (!rt_windows_match(f->cond.windows, f->cond.n_windows, t)) {
                continue;
            }
        }
        if (f->kind == RT_FILTER_RATE_LIMIT && !rt_rate_over(f, &e->filter_tat[i], wall_ns,
                                                             !explain)) {
            continue;
        }
        enum rt_filter_outcome out = RT_OUTCOME_BLOCKED;
        switch (f->action) {
        case RT_ACTION_BLOCK:
            out = RT_OUTCOME_BLOCKED;
            break;
        case RT_ACTION_ALLOW:
            out = RT_OUTCOME_ALLOWED;
            break;
        case RT_ACTION_TAG:
            out = RT_OUTCOME_TAGGED;
            break;
        case RT_ACTION_SAMPLE:
            out = rt_sample_keep(f, ev) ? RT_OUTCOME_SAMPLED_IN : RT_OUTCOME_SAMPLED_OUT;
            break;
        }
        s->filters_out[d->n_filters++] = (struct rt_filter_hit){i, out};
        if (!explain) {
            s_inc(&e->filter_matches[i]);
        }
        if (out == RT_OUTCOME_BLOCKED || out == RT_OUTCOME_SAMPLED_OUT) {
            d->dropped = true;
            d->blocked = out == RT_OUTCOME_BLOCKED;
            d->sampled_out = !d->blocked;
            d->drop_filter = (int32_t)i;
            if (!explain) {
                s_inc(&e->filter_drops[i]);
            }
            return true;
        }
        s_add_tags(s, d, f->tags, f->n_tags);
        if (out == RT_OUTCOME_ALLOWED) {
            break;
        }
    }
    return false;
}

/* Applies rule r; returns true when it stops evaluation. */
static bool
s_apply_rule(rt_engine_t *e, rt_scratch_t *s, uint32_t r, bool explain, struct rt_decision *d)
{
    const struct rt_rule_hot *h = &e->hot[r];
    s->rules_out[d->n_rules++] = r;
    d->targets |= h->targets;
    d->priority_boost += h->boost;
    d->log_match |= h->log_match;
    if (h->n_tags > 0) {
        s_add_tags(s, d, e->rules[r].tags, h->n_tags);
    }
    if (!explain) {
        s_inc(&e->rule_matches[r]);
    }
    return h->stop;
}

static int
cb_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Applies the matching rules in evaluation order. Without rules free of patterns, the
 * matches are among the owners the scan touched, which are few; otherwise every word of the
 * candidate bitset is visited. */
static void
s_rules(rt_engine_t *e, rt_scratch_t *s, const vx_event_t *ev, bool explain,
        struct rt_decision *d)
{
    const uint64_t *cand = s->candp;
    if (e->n_static == 0) {
        uint32_t n = 0;
        for (uint32_t i = 0; i < s->n_touched; i++) {
            uint32_t o = s->touched[i];
            if (o < e->nr && (s->hit[o >> 6] & cand[o >> 6] & (1ULL << (o & 63))) &&
                ev->priority >= e->hot[o].min_priority) {
                s->rules_out[n++] = o;
            }
        }
        if (n > 16) {
            qsort(s->rules_out, n, sizeof *s->rules_out, cb_u32);
        } else {
            for (uint32_t i = 1; i < n; i++) {
                uint32_t v = s->rules_out[i], j = i;
                for (; j > 0 && s->rules_out[j - 1] > v; j--) {
                    s->rules_out[j] = s->rules_out[j - 1];
                }
                s->rules_out[j] = v;
            }
        }
        /* s_apply_rule rewrites rules_out[k] with the same value at the same position. */
        for (uint32_t k = 0; k < n; k++) {
            if (s_apply_rule(e, s, s->rules_out[k], explain, d)) {
                return;
            }
        }
        return;
    }
    for (uint32_t w = 0; w < e->words; w++) {
        uint64_t m = cand[w] & (e->static_mask[w] | s->hit[w]);
        while (m != 0) {
            uint32_t r = w * 64 + (uint32_t)__builtin_ctzll(m);
            m &= m - 1;
            if (ev->priority >= e->hot[r].min_priority && s_apply_rule(e, s, r, explain, d)) {
                return;
            }
        }
    }
}

/* The hot path, kept in one function on purpose: candidate rules come from bit masks (type,
 * then tenant), Hyperscan scans the event's fields once for all patterns, and the per-event
 * scratch is reset only for the rules it touched, so the work per event is a few mask words
 * plus what actually matched. */
void
rt_engine_decide(rt_engine_t *e, rt_scratch_t *s, const vx_event_t *ev, uint64_t wall_ns,
                 bool explain, struct rt_decision *d)
{
    memset(d, 0, sizeof *d);
    d->drop_filter = -1;
    unsigned errors = 0;
    if (s->gen != e->gen && rt_scratch_fit(s, e) < 0) {
        errors++;
    }
    uint32_t slot = (uint32_t)ev->type < RT_TYPE_SLOTS ? (uint32_t)ev->type : 0;
    const uint64_t *tm = e->type_masks + (size_t)slot * (e->words ? e->words : 1);
    const uint64_t *ten = NULL;
    if (e->n_tenants > 0 && ev->tenant != NULL && ev->tenant[0] != '\0') {
        int64_t t = rt_table_find(e, RT_KEY_TENANT, ev->tenant, strlen(ev->tenant));
        if (t >= 0) {
            ten = e->tenant_masks + (size_t)t * e->words;
        }
    }
    if (e->n_tenants == 0) {
        s->candp = tm; /* no tenant conditions: the type mask is the candidate set */
    } else {
        for (uint32_t w = 0; w < e->words; w++) {
            s->cand[w] = tm[w] & (e->any_tenant[w] | (ten ? ten[w] : 0));
        }
        s->candp = s->cand;
    }
    if (s->hs_ok && e->nfields > 0) {
        errors += s_scan_event(e, s, ev);
    }
    if (!e->filters_enabled || !s_filters(e, s, ev, slot, wall_ns, explain, d)) {
        s_rules(e, s, ev, explain, d);
    }
    uint32_t p = ev->priority + d->priority_boost;
    d->priority = p > 255 ? 255 : p;
    if (!d->dropped && d->targets == 0) {
        d->unrouted = true;
        if (e->default_b >= 0) {
            d->targets = 1ULL << e->default_b;
            d->to_default = true;
        }
    }
    d->rules = s->rules_out;
    d->filters = s->filters_out;
    d->tags = s->tags_out;
    for (uint32_t i = 0; i < s->n_touched; i++) {
        uint32_t o = s->touched[i];
        s->count[o] = 0;
        s->hit[o >> 6] &= ~(1ULL << (o & 63));
    }
    s->n_touched = 0;
    if (explain) {
        return;
    }
    if (errors > 0) {
        atomic_store_explicit(&e->scan_errors,
                              atomic_load_explicit(&e->scan_errors, memory_order_relaxed) + errors,
                              memory_order_relaxed);
    }
    if (d->dropped) {
        s_inc(d->blocked ? &e->blocked : &e->sampled_out);
    } else if (d->unrouted) {
        s_inc(&e->unrouted);
        if (d->to_default) {
            s_inc(&e->to_default);
        }
    } else {
        s_inc(&e->routed);
    }
}

/* ---- explanation ------------------------------------------------------------------------ */

static json_t *
s_targets_json(const rt_engine_t *e, uint64_t bits)
{
    json_t *a = json_array();
    for (uint32_t k = 0; k < e->names.n; k++) {
        if (bits & (1ULL << k)) {
            json_array_append_new(a, json_string(e->names.names[k]));
        }
    }
    return a;
}

json_t *
rt_decision_explain(const rt_engine_t *e, const struct rt_decision *d)
{
    json_t *o = json_object();
    json_object_set_new(o, "dropped", json_boolean(d->dropped));
    const char *by = d->drop_filter >= 0 ? rt_engine_filter_id(e, (uint32_t)d->drop_filter) : NULL;
    json_object_set_new(o, "blocked_by", d->blocked && by ? json_string(by) : json_null());
    json_object_set_new(o, "sampled_out_by",
                        d->sampled_out && by ? json_string(by) : json_null());
    json_object_set_new(o, "unrouted", json_boolean(d->unrouted));
    json_object_set_new(o, "default_boundary", json_boolean(d->to_default));
    json_object_set_new(o, "targets", s_targets_json(e, d->targets));
    json_object_set_new(o, "priority", json_integer(d->priority));
    json_object_set_new(o, "priority_boost", json_integer(d->priority_boost));
    json_object_set_new(o, "log_match", json_boolean(d->log_match));
    json_t *tags = json_object();
    for (uint32_t i = 0; i < d->n_tags; i++) {
        json_object_set_new(tags, d->tags[i].key, json_string(d->tags[i].value));
    }
    json_object_set_new(o, "tags", tags);
    json_t *fs = json_array();
    for (uint32_t i = 0; i < d->n_filters; i++) {
        uint32_t k = d->filters[i].index;
        if (k >= e->nf) {
            continue;
        }
        const struct rt_filter *f = &e->filters[k];
        json_t *fj = json_object();
        json_object_set_new(fj, "index", json_integer(k));
        json_object_set_new(fj, "id", json_string(f->id));
        json_object_set_new(fj, "kind", json_string(rt_filter_kind_name(f->kind)));
        json_object_set_new(fj, "action", json_string(rt_filter_action_name(f->action)));
        json_object_set_new(fj, "outcome",
                            json_string(rt_filter_outcome_name(d->filters[i].outcome)));
        json_array_append_new(fs, fj);
    }
    json_object_set_new(o, "filters", fs);
    json_t *rs = json_array();
    for (uint32_t i = 0; i < d->n_rules; i++) {
        uint32_t k = d->rules[i];
        if (k >= e->nr) {
            continue;
        }
        const struct rt_rule *r = &e->rules[k];
        json_t *rj = json_object();
        json_object_set_new(rj, "index", json_integer(k));
        json_object_set_new(rj, "id", json_string(r->id));
        json_object_set_new(rj, "priority", json_integer(r->priority));
        json_object_set_new(rj, "stop", json_boolean(r->stop));
        json_object_set_new(rj, "targets", s_targets_json(e, e->hot[k].targets));
        json_array_append_new(rs, rj);
    }
    json_object_set_new(o, "rules", rs);
    return o;
}
