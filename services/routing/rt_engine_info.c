/* SPDX-License-Identifier: Apache-2.0 */
/* Reading a built engine: ids, names, counters, the normalized sets, and carrying counters
 * and rate-limit state over to the engine that replaces it on a reload. */
#include "rt_engine_priv.h"

#include <errno.h>
#include <string.h>

static int32_t
s_find_id(const uint32_t *by_id, uint32_t n, const char *id, const char *(*name)(uint32_t,
                                                                                 const void *),
          const void *arg)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name(by_id[mid], arg), id);
        if (c == 0) {
            return (int32_t)by_id[mid];
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return -1;
}

static const char *
s_rule_name(uint32_t i, const void *arg)
{
    return ((const rt_engine_t *)arg)->rules[i].id;
}

static const char *
s_filter_name(uint32_t i, const void *arg)
{
    return ((const rt_engine_t *)arg)->filters[i].id;
}

/* ---- state across reloads --------------------------------------------------------------- */

static void
s_copy(_Atomic uint64_t *dst, const _Atomic uint64_t *src)
{
    atomic_store_explicit(dst, atomic_load_explicit(src, memory_order_relaxed),
                          memory_order_relaxed);
}

void
rt_engine_inherit(rt_engine_t *e, const rt_engine_t *old)
{
    if (e == NULL || old == NULL) {
        return;
    }
    for (uint32_t i = 0; i < e->nr; i++) {
        int32_t j = rt_engine_rule_index(old, e->rules[i].id);
        if (j >= 0) {
            s_copy(&e->rule_matches[i], &old->rule_matches[j]);
        }
    }
    for (uint32_t i = 0; i < e->nf; i++) {
        int32_t j = rt_engine_filter_index(old, e->filters[i].id);
        if (j >= 0) {
            s_copy(&e->filter_matches[i], &old->filter_matches[j]);
            s_copy(&e->filter_drops[i], &old->filter_drops[j]);
            s_copy(&e->filter_tat[i], &old->filter_tat[j]);
        }
    }
    s_copy(&e->routed, &old->routed);
    s_copy(&e->unrouted, &old->unrouted);
    s_copy(&e->to_default, &old->to_default);
    s_copy(&e->blocked, &old->blocked);
    s_copy(&e->sampled_out, &old->sampled_out);
    s_copy(&e->scan_errors, &old->scan_errors);
}

/* ---- accessors -------------------------------------------------------------------------- */

json_t *
rt_engine_rules_json(const rt_engine_t *e)
{
    json_t *a = json_array();
    for (uint32_t i = 0; i < e->nr; i++) {
        json_array_append_new(a, rt_rule_to_json(&e->rules[i], &e->names));
    }
    return a;
}

json_t *
rt_engine_filters_json(const rt_engine_t *e)
{
    json_t *a = json_array();
    for (uint32_t i = 0; i < e->nf; i++) {
        json_array_append_new(a, rt_filter_to_json(&e->filters[i]));
    }
    return a;
}

uint32_t
rt_engine_rule_count(const rt_engine_t *e)
{
    return e->nr;
}

uint32_t
rt_engine_filter_count(const rt_engine_t *e)
{
    return e->nf;
}

const char *
rt_engine_rule_id(const rt_engine_t *e, uint32_t i)
{
    return i < e->nr ? e->rules[i].id : NULL;
}

const char *
rt_engine_filter_id(const rt_engine_t *e, uint32_t i)
{
    return i < e->nf ? e->filters[i].id : NULL;
}

int32_t
rt_engine_rule_index(const rt_engine_t *e, const char *id)
{
    return id ? s_find_id(e->rule_by_id, e->nr, id, s_rule_name, e) : -1;
}

int32_t
rt_engine_filter_index(const rt_engine_t *e, const char *id)
{
    return id ? s_find_id(e->filter_by_id, e->nf, id, s_filter_name, e) : -1;
}

uint32_t
rt_engine_boundary_count(const rt_engine_t *e)
{
    return e->names.n;
}

const char *
rt_engine_boundary_name(const rt_engine_t *e, uint32_t i)
{
    return i < e->names.n ? e->names.names[i] : NULL;
}

int
rt_engine_boundary_index(const rt_engine_t *e, const char *name)
{
    for (uint32_t i = 0; name != NULL && i < e->names.n; i++) {
        if (strcmp(e->names.names[i], name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

int
rt_engine_default_boundary(const rt_engine_t *e)
{
    return e->default_b;
}

int
rt_engine_rule_info(const rt_engine_t *e, uint32_t i, struct rt_rule_info *out)
{
    if (i >= e->nr) {
        return -ERANGE;
    }
    const struct rt_rule *r = &e->rules[i];
    *out = (struct rt_rule_info){r->id,           r->priority,     r->enabled,
                                 r->stop,         r->log_match,    r->emit_metrics,
                                 e->hot[i].targets,   r->boost};
    return 0;
}

int
rt_engine_filter_info(const rt_engine_t *e, uint32_t i, struct rt_filter_info *out)
{
    if (i >= e->nf) {
        return -ERANGE;
    }
    const struct rt_filter *f = &e->filters[i];
    *out = (struct rt_filter_info){f->id, f->order, f->enabled, f->kind, f->action};
    return 0;
}

uint64_t
rt_engine_rule_matches(const rt_engine_t *e, uint32_t i)
{
    return i < e->nr ? atomic_load_explicit(&e->rule_matches[i], memory_order_relaxed) : 0;
}

uint64_t
rt_engine_filter_matches(const rt_engine_t *e, uint32_t i)
{
    return i < e->nf ? atomic_load_explicit(&e->filter_matches[i], memory_order_relaxed) : 0;
}

uint64_t
rt_engine_filter_drops(const rt_engine_t *e, uint32_t i)
{
    return i < e->nf ? atomic_load_explicit(&e->filter_drops[i], memory_order_relaxed) : 0;
}

void
rt_engine_stats(const rt_engine_t *e, struct rt_engine_stats *out)
{
    out->routed = atomic_load_explicit(&e->routed, memory_order_relaxed);
    out->unrouted = atomic_load_explicit(&e->unrouted, memory_order_relaxed);
    out->to_default = atomic_load_explicit(&e->to_default, memory_order_relaxed);
    out->blocked = atomic_load_explicit(&e->blocked, memory_order_relaxed);
    out->sampled_out = atomic_load_explicit(&e->sampled_out, memory_order_relaxed);
    out->scan_errors = atomic_load_explicit(&e->scan_errors, memory_order_relaxed);
    out->decisions = out->routed + out->unrouted + out->blocked + out->sampled_out;
}
