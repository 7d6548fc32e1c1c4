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
    uint32_t n = e->n_by_type[ev->type];
    if (n > 0) {
        e->cur_ev = ev;
        e->cur_data = data;
        e->cur_len = len;
        e->cur_blob = NULL;
        if (e->max_ev > 0) {
            /* Most events are kept by some partial match: start loading what is copied while
             * the patterns are tested. */
            if (data != NULL) {
                __builtin_prefetch(data);
            }
            if (e->free_blobs != NULL) {
                __builtin_prefetch(e->free_blobs, 1);
            }
        }
        const uint32_t *idx = e->by_type[ev->type];
        for (uint32_t i = 0; i < n; i++) {
            struct au_pstate *ps = &e->ps[idx[i]];
            if (ps->pat.enabled && strcmp(ps->pat.tenant, tenant) == 0) {
                au_match_feed(ps, ev, e->now_ns);
            }
        }
        au_blob_release(e, e->cur_blob);
        e->cur_blob = NULL;
        e->cur_ev = NULL;
        e->cur_data = NULL;
    }
    if (e->n_clocks > 0) {
        au_clock_on_event(e, ev, data, len, e->now_ns);
    }
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
        if (!ps->event_time) {
            e->by_type[t] = vx_realloc(e->by_type[t], (e->n_by_type[t] + 1) * sizeof(uint32_t));
            e->by_type[t][e->n_by_type[t]++] = ps->index;
        }
    }
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
    au_clock_build(e, opts);
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
        free(e->by_type[t]);
    }
    free(e->ps);
    free(e->scratch);
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
