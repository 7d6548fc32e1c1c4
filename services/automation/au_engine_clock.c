/* SPDX-License-Identifier: Apache-2.0 */
/* Event time (see au_engine.h): per tenant and allowed lateness, a clock whose watermark is
 * the highest event time seen minus the lateness. Events wait in the clock's reorder buffer
 * (a min-heap by event time, then arrival) until the watermark passes them, and are then
 * offered to the clock's patterns in event-time order, each at its own timestamp; the
 * clock's timer wheel runs on the watermark, so an absence fires once the watermark passes
 * its deadline. What a pattern sees thus depends only on the events and their timestamps,
 * not on when or in which order (within the lateness) they arrived: a live run and a replay
 * of the same events match the same way.
 *
 * An event older than the watermark is late: dropped and counted. A clock whose tenant sent
 * nothing for idle_timeout (engine time) moves on as if event time had passed at the
 * engine's pace since its last event, so a final absence fires without a later event. The
 * held events of all clocks take at most max_reorder_bytes: beyond it the clock holding the
 * most releases its oldest events early, advancing its watermark (counted as forced). */
#include <string.h>

#include "au_engine_priv.h"
#include "vx_mem.h"

#define S_TICK_NS 65536ULL    /* as the engine's wheel: about 66 us, so few timers share one */
#define S_SLOTS 65536         /* one turn: about 4.3 s; a longer jump scans each slot once */
#define S_RELEASE_ARENA (1u << 16)

/* ---- the reorder buffer ------------------------------------------------------------------ */

static bool
s_before(const struct au_held *a, const struct au_held *b)
{
    return a->ts < b->ts || (a->ts == b->ts && a->seq < b->seq);
}

static void
s_heap_push(struct au_clock *c, struct au_held *h)
{
    if (c->n_held == c->cap_held) {
        c->cap_held = c->cap_held ? c->cap_held * 2 : 64;
        c->heap = vx_realloc(c->heap, c->cap_held * sizeof *c->heap);
    }
    uint32_t i = c->n_held++;
    while (i > 0 && s_before(h, c->heap[(i - 1) / 2])) {
        c->heap[i] = c->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    c->heap[i] = h;
}

static struct au_held *
s_heap_pop(struct au_clock *c)
{
    struct au_held *top = c->heap[0];
    struct au_held *last = c->heap[--c->n_held];
    uint32_t i = 0;
    for (;;) {
        uint32_t l = 2 * i + 1;
        if (l >= c->n_held) {
            break;
        }
        uint32_t k = l + 1 < c->n_held && s_before(c->heap[l + 1], c->heap[l]) ? l + 1 : l;
        if (!s_before(c->heap[k], last)) {
            break;
        }
        c->heap[i] = c->heap[k];
        i = k;
    }
    if (c->n_held > 0) {
        c->heap[i] = last;
    }
    return top;
}

/* ---- release ----------------------------------------------------------------------------- */

/* Offers one released event (data: its packed bytes, or NULL) to the clock's patterns of its
 * type, at its event time ts, after the deadlines up to that time have fired. */
static void
s_offer(au_engine_t *e, struct au_clock *c, const vx_event_t *ev, const void *data, size_t len,
        uint64_t ts)
{
    au_wheel_advance(c->wheel, ts, au_match_expire, e);
    au_dispatch_run(e, &c->disp, ev, c->tenant_id, data, len, ts);
}

/* A held event, unpacked again to be offered. */
static void
s_offer_held(au_engine_t *e, struct au_clock *c, struct au_held *h)
{
    vx_event_t *ev =
        vexfs__v1__event__unpack(vx_arena_pb(e->release_arena), h->len, h->data);
    if (ev != NULL) { /* packed by us or checked by the caller's decoder: never NULL */
        s_offer(e, c, ev, h->data, h->len, h->ts);
    }
    vx_arena_reset(e->release_arena);
}

/* Moves the watermark to wm (never back): releases every held event at or before it in
 * event-time order, then fires the deadlines up to it. */
static void
s_release(au_engine_t *e, struct au_clock *c, uint64_t wm)
{
    if (wm < c->wm) {
        wm = c->wm;
    }
    while (c->n_held > 0 && c->heap[0]->ts <= wm) {
        struct au_held *h = s_heap_pop(c);
        uint64_t size = sizeof *h + h->len;
        c->held_bytes -= size;
        e->held_bytes -= size;
        e->held--;
        c->wm = h->ts > c->wm ? h->ts : c->wm;
        s_offer_held(e, c, h);
        free(h);
    }
    c->wm = wm;
    au_wheel_advance(c->wheel, wm, au_match_expire, e);
}

/* Makes room for size more bytes: the clock holding the most releases its oldest event, and
 * again, until the held events fit in max_reorder_bytes (or nothing is held). */
static void
s_make_room(au_engine_t *e, uint64_t size)
{
    while (e->held_bytes + size > e->max_held_bytes && e->held > 0) {
        struct au_clock *big = NULL;
        for (uint32_t i = 0; i < e->n_clocks; i++) {
            if (e->clocks[i].n_held > 0 &&
                (big == NULL || e->clocks[i].held_bytes > big->held_bytes)) {
                big = &e->clocks[i];
            }
        }
        if (big == NULL) {
            break; /* e->held counts the clocks' events: cannot happen */
        }
        e->forced++;
        s_release(e, big, big->heap[0]->ts);
    }
}

/* ---- events ------------------------------------------------------------------------------ */

/* The event's time: timestamp_ns, else ingest_ns, else 0 (none). */
static uint64_t
s_event_time(const vx_event_t *ev)
{
    return ev->timestamp_ns != 0 ? ev->timestamp_ns : ev->ingest_ns;
}

/* Holds a copy of the event in c: its packed bytes (data, or packed here; n bytes). */
static void
s_hold(au_engine_t *e, struct au_clock *c, const vx_event_t *ev, const void *data, size_t n,
       uint64_t ts)
{
    uint64_t size = sizeof(struct au_held) + n;
    struct au_held *h = vx_malloc(size);
    h->ts = ts;
    h->seq = e->events;
    if (data != NULL) {
        memcpy(h->data, data, n);
        h->len = (uint32_t)n;
    } else {
        h->len = (uint32_t)vexfs__v1__event__pack(ev, h->data);
    }
    c->held_bytes += size;
    e->held_bytes += size;
    e->held++;
    s_heap_push(c, h);
}

/* The first event of a clock's tenant starts it: the watermark and the wheel begin there. */
static void
s_start(au_engine_t *e, struct au_clock *c, uint64_t ts)
{
    c->started = true;
    c->max_ts = ts;
    c->wm = ts > c->lateness_ns ? ts - c->lateness_ns : 0;
    c->wheel = au_wheel_new(S_TICK_NS, S_SLOTS, c->wm);
    for (uint32_t i = 0; i < c->n_patterns; i++) {
        e->ps[c->patterns[i]].wheel = c->wheel;
    }
}

/* Each clock of the event's tenant sees its time (which may move the watermark and release
 * held events); those whose patterns want its type hold it, unless it is already behind the
 * watermark (late). An event without a time cannot be placed: counted, never held. */
void
au_clock_on_event(au_engine_t *e, const vx_event_t *ev, const void *data, size_t len,
                  uint64_t now_ns)
{
    const char *tenant = ev->tenant != NULL && ev->tenant[0] != '\0' ? ev->tenant : "default";
    uint64_t ts = s_event_time(ev);
    size_t n = 0;
    bool late = false;
    bool wanted = false;
    for (uint32_t i = 0; i < e->n_clocks; i++) {
        struct au_clock *c = &e->clocks[i];
        if (strcmp(c->tenant, tenant) != 0) {
            continue;
        }
        bool want = (unsigned)ev->type < AU_ENG_MAX_TYPES && (c->types & (1ULL << ev->type));
        wanted = wanted || want;
        if (ts == 0) {
            continue;
        }
        c->last_arrival = now_ns;
        if (!c->started) {
            s_start(e, c, ts);
        }
        if (want && c->lateness_ns == 0 && c->n_held == 0 && ts >= c->max_ts) {
            /* In order with no lateness: the watermark moves to this very event, which is
             * released at once; nothing to copy. */
            c->max_ts = ts;
            c->wm = ts;
            s_offer(e, c, ev, data, len, ts);
            continue;
        }
        if (want) {
            if (n == 0) {
                n = data != NULL ? len : vexfs__v1__event__get_packed_size(ev);
            }
            /* Before the lateness test: making room may move this clock's watermark. */
            s_make_room(e, sizeof(struct au_held) + n);
        }
        if (ts < c->wm) {
            late = late || want;
            continue;
        }
        if (want && n <= UINT32_MAX) {
            s_hold(e, c, ev, data, n, ts);
        }
        if (ts > c->max_ts) {
            c->max_ts = ts;
        }
        uint64_t wm = c->max_ts > c->lateness_ns ? c->max_ts - c->lateness_ns : 0;
        if (wm > c->wm || (c->n_held > 0 && c->heap[0]->ts <= c->wm)) {
            s_release(e, c, wm);
        }
    }
    if (wanted && ts == 0) {
        e->no_time++;
    } else if (late) {
        e->late++;
    }
}

void
au_clock_advance(au_engine_t *e, uint64_t now_ns)
{
    if (e->idle_ns == 0) {
        return;
    }
    for (uint32_t i = 0; i < e->n_clocks; i++) {
        struct au_clock *c = &e->clocks[i];
        if (!c->started || now_ns < c->last_arrival + e->idle_ns) {
            continue;
        }
        uint64_t silence = now_ns - c->last_arrival;
        uint64_t wm = c->max_ts + silence;
        wm = wm > c->lateness_ns ? wm - c->lateness_ns : 0;
        if (wm > c->wm) {
            s_release(e, c, wm);
        }
    }
}

/* ---- building ---------------------------------------------------------------------------- */

/* The clock of (tenant, lateness), created when new. */
static struct au_clock *
s_clock_get(au_engine_t *e, const char *tenant, uint64_t lateness_ns)
{
    for (uint32_t i = 0; i < e->n_clocks; i++) {
        if (e->clocks[i].lateness_ns == lateness_ns && strcmp(e->clocks[i].tenant, tenant) == 0) {
            return &e->clocks[i];
        }
    }
    e->clocks = vx_realloc(e->clocks, (e->n_clocks + 1) * sizeof *e->clocks);
    struct au_clock *c = &e->clocks[e->n_clocks++];
    memset(c, 0, sizeof *c);
    c->tenant = vx_strdup(tenant);
    c->lateness_ns = lateness_ns;
    return c;
}

void
au_clock_build(au_engine_t *e, const struct au_engine_opts *opts)
{
    e->idle_ns = opts->idle_timeout_ns;
    e->max_held_bytes =
        opts->max_reorder_bytes ? opts->max_reorder_bytes : AU_DEFAULT_REORDER_BYTES;
    for (uint32_t i = 0; i < e->n; i++) {
        struct au_pstate *ps = &e->ps[i];
        if (!ps->event_time) {
            continue;
        }
        uint64_t late = ps->pat.has_lateness ? ps->pat.lateness_ns : opts->allowed_lateness_ns;
        struct au_clock *c = s_clock_get(e, ps->pat.tenant, late);
        c->tenant_id = ps->tenant;
        c->patterns = vx_realloc(c->patterns, (c->n_patterns + 1) * sizeof *c->patterns);
        c->patterns[c->n_patterns++] = i;
        c->types |= ps->types;
    }
    /* Pointers into e->clocks only now: the array may have moved while it grew. */
    for (uint32_t k = 0; k < e->n_clocks; k++) {
        struct au_clock *c = &e->clocks[k];
        for (uint32_t i = 0; i < c->n_patterns; i++) {
            e->ps[c->patterns[i]].clock = c;
        }
    }
    if (e->n_clocks > 0) {
        e->release_arena = vx_arena_new(S_RELEASE_ARENA, 0);
    }
}

void
au_clock_destroy_all(au_engine_t *e)
{
    for (uint32_t k = 0; k < e->n_clocks; k++) {
        struct au_clock *c = &e->clocks[k];
        for (uint32_t i = 0; i < c->n_held; i++) {
            free(c->heap[i]);
        }
        free(c->heap);
        free(c->patterns);
        for (int t = 0; t < AU_ENG_MAX_TYPES; t++) {
            free(c->disp.tlist[t]);
        }
        free(c->tenant);
        au_wheel_destroy(&c->wheel);
    }
    free(e->clocks);
    e->clocks = NULL;
    e->n_clocks = 0;
    vx_arena_destroy(&e->release_arena);
}
