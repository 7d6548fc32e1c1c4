/* SPDX-License-Identifier: Apache-2.0 */
/* The CEP engine (see au_engine.h): building it from patterns, handing each event to the
 * patterns that may use it, and inspection. Matching is au_engine_match.c, event time
 * au_engine_clock.c; the layout they share is au_engine_priv.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "au_engine_priv.h"
#include "vx_mem.h"

#define S_TICK_NS 65536ULL    /* wheel slot: about 66 us, so few timers share one */
#define S_SLOTS 65536         /* one turn: about 4.3 s; longer deadlines wait in their slot */

void
au_engine_advance(au_engine_t *e, uint64_t now_ns)
{
    if (now_ns > e->now_ns) {
        e->now_ns = now_ns;
    }
    au_wheel_advance(e->wheel, e->now_ns, au_match_expire, e);
    if (e->n_clocks > 0) {
        au_clock_advance(e, e->now_ns);
    }
}

void
au_engine_on_event(au_engine_t *e, const vx_event_t *ev, uint64_t now_ns)
{
    au_engine_on_event_packed(e, ev, NULL, 0, now_ns);
}

/* The index of tenant among the patterns' tenants, or -1 when no pattern has it. */
static int64_t
s_tenant_index(const au_engine_t *e, const char *tenant)
{
    if (e->tenant_ids != NULL) {
        json_t *v = json_object_get(e->tenant_ids, tenant);
        return v != NULL ? (int64_t)json_integer_value(v) : -1;
    }
    for (uint32_t i = 0; i < e->n_tenants; i++) {
        if (strcmp(e->tenants[i], tenant) == 0) {
            return i;
        }
    }
    return -1;
}

/* Processing-time patterns see the event now, at the engine's time; event-time patterns get
 * it from their clock once the watermark passes it (possibly within this call). */
void
au_engine_on_event_packed(au_engine_t *e, const vx_event_t *ev, const void *data, size_t len,
                          uint64_t now_ns)
{
    if (now_ns > e->now_ns) {
        e->now_ns = now_ns;
    }
    au_wheel_advance(e->wheel, e->now_ns, au_match_expire, e);
    e->events++;
    if ((unsigned)ev->type >= AU_ENG_MAX_TYPES) {
        return;
    }
    /* A pattern sees only its tenant's events: tenants never match on each other's data. */
    const char *tenant = ev->tenant != NULL && ev->tenant[0] != '\0' ? ev->tenant : "default";
    uint32_t n = e->disp.n_tlist[ev->type];
    int64_t tid = n > 0 ? s_tenant_index(e, tenant) : -1;
    if (tid >= 0) {
        au_dispatch_run(e, &e->disp, ev, (uint32_t)tid, data, len, e->now_ns);
    }
    if (e->n_clocks > 0) {
        au_clock_on_event(e, ev, data, len, e->now_ns);
    }
}

/* Three passes: which elements the event satisfies (conditions through the memo), the
 * partition key of each pattern hit with a hint to load its bucket, then the matching, so that
 * the buckets of the patterns hit load in parallel rather than one miss after another. */
void
au_dispatch_run(au_engine_t *e, const struct au_dispatch *d, const vx_event_t *ev, uint32_t tid,
                const void *data, size_t len, uint64_t now_ns)
{
    if ((unsigned)ev->type >= AU_ENG_MAX_TYPES) {
        return;
    }
    const struct au_tentry *te = d->tlist[ev->type];
    uint32_t n = d->n_tlist[ev->type];
    uint32_t n_hit = 0;
    au_memo_begin(e, ev);
    for (uint32_t i = 0; i < n;) {
        uint32_t p = te[i].pattern;
        uint32_t hit = 0;
        for (; i < n && te[i].pattern == p; i++) {
            if (te[i].tenant != tid) {
                continue;
            }
            bool ok = true;
            for (uint32_t c = 0; c < te[i].n_conds && ok; c++) {
                struct au_memo_cond *mc = &e->mconds[te[i].conds[c]];
                if (mc->gen != e->gen) {
                    mc->gen = e->gen;
                    mc->holds = au_cond_test(mc->c, au_memo_field(e, mc->c->field.memo)->val);
                }
                ok = mc->holds;
            }
            if (ok) {
                hit |= te[i].bit;
            }
        }
        if (hit != 0) {
            struct au_pstate *ps = &e->ps[p];
            if (au_match_key(ps, &e->hit_key[n_hit])) {
                au_match_prefetch(ps, &e->hit_key[n_hit]);
                e->hit_ps[n_hit] = ps;
                e->hit_mask[n_hit++] = hit;
            }
        }
    }
    if (n_hit == 0) {
        return;
    }
    e->cur_ev = ev;
    e->cur_data = data;
    e->cur_len = len;
    e->cur_blob = NULL;
    if (e->max_ev > 0) {
        /* Most events hit are kept by some partial match: start loading what is copied. */
        if (data != NULL) {
            __builtin_prefetch(data);
        }
        if (e->free_blobs != NULL) {
            __builtin_prefetch(e->free_blobs, 1);
        }
    }
    for (uint32_t i = 0; i < n_hit; i++) {
        au_match_hit(e->hit_ps[i], e->hit_mask[i], &e->hit_key[i], now_ns);
    }
    au_blob_release(e, e->cur_blob);
    e->cur_blob = NULL;
    e->cur_ev = NULL;
    e->cur_data = NULL;
}

json_t *
au_alert_events_json(const struct au_alert *a)
{
    json_t *arr = json_array();
    for (uint32_t i = 0; i < a->n_kept; i++) {
        const struct au_blob *b = a->kept[i];
        vx_event_t *ev = vexfs__v1__event__unpack(NULL, b->len, b->data);
        if (ev != NULL) {
            json_array_append_new(arr, vx_event_to_json(ev));
            vexfs__v1__event__free_unpacked(ev, NULL);
        }
    }
    return arr;
}

/* ---- building ---------------------------------------------------------------------------- */

/* Where a parsed pattern runs: its own time mode or the engine's default, its wheel (the
 * engine's for processing time; event-time patterns get their clock's in au_clock_build) and
 * the index of processing-time patterns by event type. */
static void
s_place(au_engine_t *e, struct au_pstate *ps, const struct au_engine_opts *opts)
{
    enum au_time_mode mode = ps->pat.time_mode != AU_TIME_DEFAULT ? ps->pat.time_mode
                                                                   : opts->time_mode;
    ps->event_time = mode == AU_TIME_EVENT;
    ps->wheel = e->wheel;
    for (uint32_t k = 0; k < ps->pat.n_elems; k++) {
        int t = ps->pat.elems[k].event_type;
        if (t < 0 || t >= AU_ENG_MAX_TYPES || (ps->types & (1ULL << t)) != 0) {
            continue;
        }
        ps->types |= 1ULL << t;
    }
}

/* The per-type element lists of the enabled patterns (after the memo ids are set and the
 * clocks built): the processing-time ones in e->disp, the others in their clock's; and the
 * scratch arrays of dispatch. */
static void
s_tlist_build(au_engine_t *e)
{
    size_t n_conds = 0;
    for (uint32_t i = 0; i < e->n; i++) {
        for (uint32_t k = 0; k < e->ps[i].pat.n_elems; k++) {
            n_conds += e->ps[i].pat.elems[k].n_conds;
        }
    }
    e->tconds = vx_calloc(n_conds + 1, sizeof *e->tconds);
    size_t at = 0;
    for (uint32_t i = 0; i < e->n; i++) {
        struct au_pstate *ps = &e->ps[i];
        for (uint32_t k = 0; k < ps->pat.n_elems; k++) {
            struct au_element *el = &ps->pat.elems[k];
            int t = el->event_type;
            if (!ps->pat.enabled || t < 0 || t >= AU_ENG_MAX_TYPES) {
                continue;
            }
            struct au_dispatch *d = ps->event_time ? &ps->clock->disp : &e->disp;
            d->tlist[t] = vx_realloc(d->tlist[t], (d->n_tlist[t] + 1) * sizeof *d->tlist[t]);
            d->tlist[t][d->n_tlist[t]++] = (struct au_tentry){
                .pattern = i,
                .bit = 1u << k,
                .tenant = ps->tenant,
                .n_conds = el->n_conds,
                .conds = e->tconds + at,
            };
            for (uint32_t c = 0; c < el->n_conds; c++) {
                e->tconds[at++] = el->conds[c].memo;
            }
        }
    }
    e->hit_ps = vx_calloc(e->n + 1, sizeof *e->hit_ps);
    e->hit_mask = vx_calloc(e->n + 1, sizeof *e->hit_mask);
    e->hit_key = vx_calloc(e->n + 1, sizeof *e->hit_key);
    e->empty_hash = vx_hash64("", 0, AU_ENG_HASH_SEED);
}

/* The id of a field (kind and name) in the memo, interned through ids (key -> id). */
static uint32_t
s_memo_field(au_engine_t *e, json_t *ids, struct au_field *f)
{
    char key[AU_MAX_VALUE_LEN + 64];
    snprintf(key, sizeof key, "%d:%s", (int)f->kind, f->name ? f->name : "");
    json_t *v = json_object_get(ids, key);
    if (v != NULL) {
        f->memo = (uint32_t)json_integer_value(v);
        return f->memo;
    }
    e->mfields = vx_realloc(e->mfields, (e->n_mfields + 1) * sizeof *e->mfields);
    memset(&e->mfields[e->n_mfields], 0, sizeof *e->mfields);
    e->mfields[e->n_mfields].f = *f;
    f->memo = e->n_mfields++;
    json_object_set_new(ids, key, json_integer(f->memo));
    return f->memo;
}

/* Interns every condition and field of every pattern: equal conditions (field, operator and
 * value) share one result per event, equal fields one lookup, so that n patterns testing the
 * same prefix or regex cost one test, not n. Tenants are interned too, so that a pattern's
 * tenant test is an integer compare. */
static void
s_memo_build(au_engine_t *e)
{
    json_t *fields = json_object();
    json_t *conds = json_object();
    json_t *tenants = json_object();
    for (uint32_t i = 0; i < e->n; i++) {
        struct au_pstate *ps = &e->ps[i];
        json_t *t = json_object_get(tenants, ps->pat.tenant);
        if (t == NULL) {
            e->tenants = vx_realloc(e->tenants, (e->n_tenants + 1) * sizeof *e->tenants);
            e->tenants[e->n_tenants] = ps->pat.tenant;
            t = json_integer(e->n_tenants++);
            json_object_set_new(tenants, ps->pat.tenant, t);
        }
        ps->tenant = (uint32_t)json_integer_value(t);
        if (ps->pat.partitioned) {
            s_memo_field(e, fields, &ps->pat.partition);
        }
        for (uint32_t k = 0; k < ps->pat.n_elems; k++) {
            struct au_element *el = &ps->pat.elems[k];
            for (uint32_t c = 0; c < el->n_conds; c++) {
                struct au_cond *cd = &el->conds[c];
                uint32_t fid = s_memo_field(e, fields, &cd->field);
                json_t *ck = json_pack("[i, i, b, s#]", (int)fid, (int)cd->op, cd->numeric,
                                       cd->numeric ? "" : cd->str,
                                       cd->numeric ? 0 : (int)cd->str_len);
                if (cd->numeric) {
                    json_array_append_new(ck, json_real(cd->num));
                }
                char *text = json_dumps(ck, JSON_COMPACT);
                json_decref(ck);
                json_t *v = json_object_get(conds, text);
                if (v != NULL) {
                    cd->memo = (uint32_t)json_integer_value(v);
                } else {
                    e->mconds = vx_realloc(e->mconds, (e->n_mconds + 1) * sizeof *e->mconds);
                    e->mconds[e->n_mconds] = (struct au_memo_cond){.c = cd};
                    cd->memo = e->n_mconds++;
                    json_object_set_new(conds, text, json_integer(cd->memo));
                }
                free(text);
            }
        }
    }
    /* Many tenants: a hash lookup per event instead of a scan. */
    if (e->n_tenants > 8) {
        e->tenant_ids = json_incref(tenants);
    }
    json_decref(tenants);
    json_decref(conds);
    json_decref(fields);
}

/* Parses every pattern (the first error wins and nothing is built) and indexes them by event
 * type, so that an event is offered only to the patterns with an element of its type. */
int
au_engine_new(json_t *patterns, const struct au_engine_opts *opts, au_engine_t **out,
              char *err, size_t errlen)
{
    if (patterns != NULL && !json_is_array(patterns)) {
        snprintf(err, errlen, "patterns: expected an array");
        return -EINVAL;
    }
    size_t n = patterns ? json_array_size(patterns) : 0;
    if (n > AU_MAX_PATTERNS) {
        snprintf(err, errlen, "patterns: more than %d patterns", AU_MAX_PATTERNS);
        return -E2BIG;
    }
    struct au_engine_opts none = {0};
    if (opts == NULL) {
        opts = &none;
    }
    au_engine_t *e = vx_calloc(1, sizeof *e);
    e->ps = vx_calloc(n + 1, sizeof *e->ps);
    e->max_partials = opts->max_partials ? opts->max_partials : AU_DEFAULT_MAX_PARTIALS;
    e->on_alert = opts->on_alert;
    e->arg = opts->arg;
    e->now_ns = opts->now_ns;
    e->max_ev = opts->max_match_events < AU_MAX_MATCH_EVENTS ? opts->max_match_events
                                                              : AU_MAX_MATCH_EVENTS;
    e->max_bytes = opts->max_match_event_bytes ? opts->max_match_event_bytes
                                               : AU_DEFAULT_MATCH_EVENT_BYTES;
    e->scratch = vx_calloc(e->max_ev + AU_MAX_ELEMENTS + 1, sizeof *e->scratch);
    e->wheel = au_wheel_new(S_TICK_NS, S_SLOTS, opts->now_ns);
    json_t *seen = json_object();
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char where[32];
        snprintf(where, sizeof where, "patterns[%zu]", i);
        struct au_pstate *ps = &e->ps[i];
        rc = au_pattern_parse(json_array_get(patterns, i), where, &ps->pat, err, errlen);
        if (rc < 0) {
            break;
        }
        ps->index = (uint32_t)i;
        ps->e = e;
        e->n++;
        if (json_object_get(seen, ps->pat.id) != NULL) {
            snprintf(err, errlen, "%s (id \"%s\"): id: duplicate of patterns[%d]", where,
                     ps->pat.id, (int)json_integer_value(json_object_get(seen, ps->pat.id)));
            rc = -EINVAL;
            break;
        }
        json_object_set_new(seen, ps->pat.id, json_integer((json_int_t)i));
        s_place(e, ps, opts);
    }
    json_decref(seen);
    if (rc < 0) {
        au_engine_destroy(&e);
        return rc;
    }
    s_memo_build(e);
    au_clock_build(e, opts);
    s_tlist_build(e);
    *out = e;
    return 0;
}

void
au_engine_destroy(au_engine_t **ep)
{
    if (ep == NULL || *ep == NULL) {
        return;
    }
    au_engine_t *e = *ep;
    for (uint32_t i = 0; i < e->n; i++) {
        au_match_clear(&e->ps[i]);
    }
    au_clock_destroy_all(e);
    for (uint32_t i = 0; i < e->n; i++) {
        free(e->ps[i].buckets);
        au_pattern_fini(&e->ps[i].pat);
    }
    for (int t = 0; t < AU_ENG_MAX_TYPES; t++) {
        free(e->disp.tlist[t]);
    }
    free(e->tconds);
    free(e->hit_ps);
    free(e->hit_mask);
    free(e->hit_key);
    free(e->ps);
    free(e->scratch);
    free(e->mfields);
    free(e->mconds);
    free(e->tenants);
    json_decref(e->tenant_ids);
    au_blob_free_idle(e);
    au_wheel_destroy(&e->wheel);
    vx_free(ep);
}

void
au_engine_inherit(au_engine_t *e, const au_engine_t *old)
{
    if (old == NULL) {
        return;
    }
    for (uint32_t i = 0; i < e->n; i++) {
        int32_t k = au_engine_pattern_index(old, e->ps[i].pat.id);
        if (k >= 0) {
            e->ps[i].matches = old->ps[k].matches;
            e->ps[i].evictions = old->ps[k].evictions;
            e->ps[i].expired = old->ps[k].expired;
        }
    }
    e->events = old->events;
    e->alerts = old->alerts;
    e->matches = old->matches;
    e->evictions = old->evictions;
    e->truncated = old->truncated;
    e->over_budget = old->over_budget;
    e->late = old->late;
    e->no_time = old->no_time;
    e->forced = old->forced;
}

/* ---- inspection -------------------------------------------------------------------------- */

json_t *
au_engine_patterns_json(const au_engine_t *e)
{
    json_t *a = json_array();
    for (uint32_t i = 0; i < e->n; i++) {
        json_array_append_new(a, json_deep_copy(e->ps[i].pat.json));
    }
    return a;
}

uint32_t
au_engine_pattern_count(const au_engine_t *e)
{
    return e->n;
}

const struct au_pattern *
au_engine_pattern(const au_engine_t *e, uint32_t i)
{
    return i < e->n ? &e->ps[i].pat : NULL;
}

int32_t
au_engine_pattern_index(const au_engine_t *e, const char *id)
{
    for (uint32_t i = 0; i < e->n; i++) {
        if (strcmp(e->ps[i].pat.id, id) == 0) {
            return (int32_t)i;
        }
    }
    return -1;
}

bool
au_engine_pattern_event_time(const au_engine_t *e, uint32_t i)
{
    return i < e->n && e->ps[i].event_time;
}

int
au_engine_pattern_stats(const au_engine_t *e, uint32_t i, struct au_pattern_stats *out)
{
    if (i >= e->n) {
        return -ERANGE;
    }
    const struct au_pstate *ps = &e->ps[i];
    out->matches = ps->matches;
    out->evictions = ps->evictions;
    out->expired = ps->expired;
    out->partials = ps->partials;
    out->event_time = ps->event_time;
    out->watermark_ns = ps->clock != NULL && ps->clock->started ? ps->clock->wm : 0;
    return 0;
}

void
au_engine_stats(const au_engine_t *e, struct au_engine_stats *out)
{
    out->events = e->events;
    out->alerts = e->alerts;
    out->matches = e->matches;
    out->evictions = e->evictions;
    out->partials = e->partials;
    out->events_truncated = e->truncated;
    out->events_over_budget = e->over_budget;
    out->kept_events = e->kept_events;
    out->kept_bytes = e->kept_bytes;
    out->events_late = e->late;
    out->events_no_time = e->no_time;
    out->held_events = e->held;
    out->held_bytes = e->held_bytes;
    out->forced_releases = e->forced;
}
