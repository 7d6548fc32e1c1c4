/* SPDX-License-Identifier: Apache-2.0 */
/* Event-time windows per query and group, closed by the watermark, bounded in groups. */
#include "an_window.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "an_agg.h"
#include "vx_mem.h"

#define S_KEY_MAX 4096

struct s_group;

/* One window of one group. Windows are freed only once no heap entry points at them, so the
 * heap can hold stale entries (a session that grew, a window already emitted). */
struct s_win {
    struct s_group *g;    /* NULL once closed */
    uint64_t start, end;
    uint64_t events;
    uint32_t heap_refs;
    bool closed;
    struct an_acc accs[];
};

struct s_group {
    struct s_group *next; /* hash chain */
    uint64_t hash;
    char *key;
    size_t key_len; /* strlen(key): compared first, then the bytes */
    json_t *values;
    struct s_win **wins;
    size_t n_wins, cap;
};

struct s_heap_ent {
    uint64_t end;
    struct s_win *w;
};

/* The state of one query in one engine. */
struct s_run {
    const struct an_query *q;
    struct s_group **buckets;
    size_t n_buckets, n_groups;
    struct s_heap_ent *heap;
    size_t heap_n, heap_cap;
    struct an_query_stats st;
    double *values;
    bool *has;
};

struct an_engine {
    int32_t partition;
    size_t max_groups;
    an_emit_fn *emit;
    void *arg;
    uint64_t clock;
    uint64_t min_start;
    bool replaying;
    struct s_run **runs;
    size_t n_runs;
    char key[S_KEY_MAX];
};

/* ---- the heap of window ends ---------------------------------------------------------- */

static void
s_heap_push(struct s_run *r, struct s_win *w)
{
    if (r->heap_n == r->heap_cap) {
        r->heap_cap = r->heap_cap ? r->heap_cap * 2 : 64;
        r->heap = vx_realloc(r->heap, r->heap_cap * sizeof *r->heap);
    }
    size_t i = r->heap_n++;
    struct s_heap_ent ent = {w->end, w};
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (r->heap[p].end <= ent.end) {
            break;
        }
        r->heap[i] = r->heap[p];
        i = p;
    }
    r->heap[i] = ent;
    w->heap_refs++;
}

static struct s_heap_ent
s_heap_pop(struct s_run *r)
{
    struct s_heap_ent top = r->heap[0];
    struct s_heap_ent last = r->heap[--r->heap_n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= r->heap_n) {
            break;
        }
        if (c + 1 < r->heap_n && r->heap[c + 1].end < r->heap[c].end) {
            c++;
        }
        if (last.end <= r->heap[c].end) {
            break;
        }
        r->heap[i] = r->heap[c];
        i = c;
    }
    if (r->heap_n) {
        r->heap[i] = last;
    }
    /* The heap holds a reference: the window cannot have been freed while it sat here. */
    top.w->heap_refs--; // NOLINT(clang-analyzer-unix.Malloc)
    return top;
}

/* ---- windows and groups ---------------------------------------------------------------- */

static struct s_win *
s_win_new(const struct an_query *q, uint64_t start, uint64_t end)
{
    struct s_win *w = vx_calloc(1, sizeof *w + q->n_aggs * sizeof(struct an_acc));
    w->start = start;
    w->end = end;
    return w;
}

static void
s_win_release(const struct an_query *q, struct s_win *w)
{
    for (size_t i = 0; i < q->n_aggs; i++) {
        an_acc_fini(&w->accs[i]);
    }
    w->closed = true;
    w->g = NULL;
    if (w->heap_refs == 0) {
        free(w);
    }
}

static void
s_emit(an_engine_t *e, struct s_run *r, struct s_group *g, struct s_win *w, an_emit_fn *fn,
       void *arg, bool final, bool evicted)
{
    const struct an_query *q = r->q;
    bool saturated = false;
    for (size_t i = 0; i < q->n_aggs; i++) {
        r->has[i] = an_acc_value(&q->aggs[i], &w->accs[i], &r->values[i]);
        saturated |= w->accs[i].saturated;
    }
    struct an_result res = {
        .query = q,
        .partition = e->partition,
        .group = g->values,
        .start_ns = w->start,
        .end_ns = w->end,
        .events = w->events,
        .values = r->values,
        .has_value = r->has,
        .accs = w->accs,
        .saturated = saturated,
        .final = final,
        .evicted = evicted,
    };
    fn(&res, arg);
}

static void
s_group_unlink(struct s_run *r, struct s_group *g)
{
    struct s_group **pp = &r->buckets[g->hash & (r->n_buckets - 1)];
    while (*pp != g) {
        pp = &(*pp)->next;
    }
    *pp = g->next;
    r->n_groups--;
    free(g->key);
    json_decref(g->values);
    free(g->wins);
    free(g);
}

/* Emits window index i of group g as final (evicted: closed early) and frees it; frees the
 * group when it has no window left. */
static void
s_close(an_engine_t *e, struct s_run *r, struct s_group *g, size_t i, bool evicted)
{
    struct s_win *w = g->wins[i];
    if (w->start < e->min_start) {
        r->st.skipped++;
    } else {
        s_emit(e, r, g, w, e->emit, e->arg, true, evicted);
        r->st.emitted++;
    }
    s_win_release(r->q, w);
    g->wins[i] = g->wins[--g->n_wins];
    r->st.open_windows--;
    if (g->n_wins == 0) {
        s_group_unlink(r, g);
        r->st.open_groups--;
    }
}

static size_t
s_find_win(struct s_group *g, struct s_win *w)
{
    for (size_t i = 0; i < g->n_wins; i++) {
        if (g->wins[i] == w) {
            return i;
        }
    }
    return g->n_wins; /* not reached: a live window is in its group */
}

/* Pops heap entries up to the watermark and closes their windows. */
static void
s_advance(an_engine_t *e, struct s_run *r)
{
    uint64_t lat = r->q->window.lateness_ns;
    uint64_t wm = e->clock > lat ? e->clock - lat : 0;
    while (r->heap_n && r->heap[0].end <= wm) {
        struct s_heap_ent ent = s_heap_pop(r);
        struct s_win *w = ent.w;
        if (w->closed || w->end != ent.end) {
            if (w->closed && w->heap_refs == 0) {
                free(w);
            }
            continue; /* stale entry */
        }
        struct s_group *g = w->g;
        s_close(e, r, g, s_find_win(g, w), false);
    }
}

/* Emits and frees the group holding the oldest open window, to make room. */
static void
s_evict_one(an_engine_t *e, struct s_run *r)
{
    while (r->heap_n) {
        struct s_heap_ent ent = s_heap_pop(r);
        struct s_win *w = ent.w;
        if (w->closed || w->end != ent.end) {
            if (w->closed && w->heap_refs == 0) {
                free(w);
            }
            continue;
        }
        /* Put the entry back so the window's own release sees a consistent count. */
        s_heap_push(r, w);
        struct s_group *g = w->g;
        r->st.evicted_groups++;
        while (g->n_wins > 1) {
            s_close(e, r, g, g->n_wins - 1, true);
        }
        s_close(e, r, g, 0, true);
        return;
    }
}

static void
s_rehash(struct s_run *r)
{
    size_t n = r->n_buckets ? r->n_buckets * 2 : 64;
    struct s_group **b = vx_calloc(n, sizeof *b);
    for (size_t i = 0; i < r->n_buckets; i++) {
        for (struct s_group *g = r->buckets[i], *next; g; g = next) {
            next = g->next;
            g->next = b[g->hash & (n - 1)];
            b[g->hash & (n - 1)] = g;
        }
    }
    free(r->buckets);
    r->buckets = b;
    r->n_buckets = n;
}

/* Builds the group key of an event into e->key; returns its length. Fields are separated by
 * 0x1f; an absent field is 0x1e, so it differs from an empty one. */
static size_t
s_group_key(an_engine_t *e, const struct an_query *q, const vx_event_t *ev)
{
    size_t len = 0;
    for (size_t i = 0; i < q->n_group_by; i++) {
        char buf[32];
        const char *s = an_field_text(&q->group_by[i], ev, buf, sizeof buf);
        size_t n = s ? strlen(s) : 1;
        if (len + n + 1 >= sizeof e->key) {
            n = sizeof e->key - len - 2; /* keys are bounded; very long values share a prefix */
        }
        memcpy(e->key + len, s ? s : "\x1e", n);
        len += n;
        e->key[len++] = '\x1f';
    }
    e->key[len] = '\0';
    return len;
}

static struct s_group *
s_group_get(an_engine_t *e, struct s_run *r, const vx_event_t *ev)
{
    size_t len = s_group_key(e, r->q, ev);
    uint64_t h = vx_hash64(e->key, len, 0x6a09e667f3bcc908ULL);
    if (r->n_buckets) {
        for (struct s_group *g = r->buckets[h & (r->n_buckets - 1)]; g; g = g->next) {
            if (g->hash == h && g->key_len == len && memcmp(g->key, e->key, len) == 0) {
                return g;
            }
        }
    }
    if (r->n_groups >= e->max_groups) {
        s_evict_one(e, r);
    }
    if (r->n_groups >= r->n_buckets) {
        s_rehash(r);
    }
    struct s_group *g = vx_calloc(1, sizeof *g);
    g->hash = h;
    g->key = vx_strndup(e->key, len);
    g->key_len = len;
    g->values = json_object();
    for (size_t i = 0; i < r->q->n_group_by; i++) {
        char buf[32];
        const char *s = an_field_text(&r->q->group_by[i], ev, buf, sizeof buf);
        json_object_set_new(g->values, r->q->group_by[i].name, s ? json_string(s) : json_null());
    }
    g->next = r->buckets[h & (r->n_buckets - 1)];
    r->buckets[h & (r->n_buckets - 1)] = g;
    r->n_groups++;
    r->st.open_groups++;
    return g;
}

static struct s_win *
s_group_add_win(struct s_run *r, struct s_group *g, uint64_t start, uint64_t end)
{
    if (g->n_wins == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 2;
        g->wins = vx_realloc(g->wins, g->cap * sizeof *g->wins);
    }
    struct s_win *w = s_win_new(r->q, start, end);
    w->g = g;
    g->wins[g->n_wins++] = w;
    r->st.open_windows++;
    s_heap_push(r, w);
    return w;
}

static void
s_win_add(const struct an_query *q, struct s_win *w, const vx_event_t *ev)
{
    w->events++;
    for (size_t i = 0; i < q->n_aggs; i++) {
        an_acc_add(&q->aggs[i], &w->accs[i], ev);
    }
}

static void
s_drop_late(an_engine_t *e, struct s_run *r)
{
    if (e->replaying) {
        r->st.dropped_replay++;
    } else {
        r->st.dropped_late++;
    }
}

/* Tumbling and sliding: every window [s, s+size) with s a multiple of slide that holds t. */
static void
s_process_fixed(an_engine_t *e, struct s_run *r, const vx_event_t *ev, uint64_t wm)
{
    const struct an_window_spec *ws = &r->q->window;
    uint64_t t = ev->timestamp_ns;
    uint64_t last = t - t % ws->slide_ns;
    struct s_group *g = NULL;
    bool used = false;
    for (uint64_t s = last;; s -= ws->slide_ns) {
        if (s + ws->size_ns > t && s + ws->size_ns > wm) {
            if (!g) {
                g = s_group_get(e, r, ev);
            }
            struct s_win *w = NULL;
            for (size_t i = 0; i < g->n_wins && !w; i++) {
                w = g->wins[i]->start == s ? g->wins[i] : NULL;
            }
            if (!w) {
                w = s_group_add_win(r, g, s, s + ws->size_ns);
            }
            s_win_add(r->q, w, ev);
            used = true;
        }
        if (s < ws->slide_ns || s + ws->size_ns <= t + ws->slide_ns) {
            break; /* the next earlier window would end at or before t */
        }
    }
    if (!used) {
        s_drop_late(e, r);
    }
}

/* Session: the event opens [t, t+gap) and merges every open session it touches. */
static void
s_process_session(an_engine_t *e, struct s_run *r, const vx_event_t *ev, uint64_t wm)
{
    const struct an_query *q = r->q;
    uint64_t t = ev->timestamp_ns, gap = q->window.gap_ns;
    if (t + gap <= wm) {
        s_drop_late(e, r);
        return;
    }
    struct s_group *g = s_group_get(e, r, ev);
    struct s_win *into = NULL;
    uint64_t old_end = 0;
    for (size_t i = 0; i < g->n_wins;) {
        struct s_win *w = g->wins[i];
        if (!(t + gap > w->start && t < w->end)) {
            i++;
            continue;
        }
        if (!into) {
            into = w;
            old_end = w->end;
            i++;
            continue;
        }
        /* The event bridges two sessions: fold w into the first. */
        for (size_t k = 0; k < q->n_aggs; k++) {
            an_acc_merge(&q->aggs[k], &into->accs[k], &w->accs[k]);
        }
        into->events += w->events;
        into->start = w->start < into->start ? w->start : into->start;
        into->end = w->end > into->end ? w->end : into->end;
        s_win_release(q, w);
        g->wins[i] = g->wins[--g->n_wins];
        r->st.open_windows--;
    }
    if (!into) {
        into = s_group_add_win(r, g, t, t + gap);
    } else {
        into->start = t < into->start ? t : into->start;
        into->end = t + gap > into->end ? t + gap : into->end;
        if (into->end != old_end) {
            s_heap_push(r, into);
        }
    }
    s_win_add(q, into, ev);
}

void
an_engine_process(an_engine_t *e, const vx_event_t *ev)
{
    if (ev->timestamp_ns > e->clock) {
        e->clock = ev->timestamp_ns;
    }
    for (size_t i = 0; i < e->n_runs; i++) {
        struct s_run *r = e->runs[i];
        if (an_query_match(r->q, ev)) {
            r->st.matched++;
            uint64_t lat = r->q->window.lateness_ns;
            uint64_t wm = e->clock > lat ? e->clock - lat : 0;
            if (r->q->window.kind == AN_WINDOW_SESSION) {
                s_process_session(e, r, ev, wm);
            } else {
                s_process_fixed(e, r, ev, wm);
            }
        }
        s_advance(e, r);
    }
}

/* ---- engine ------------------------------------------------------------------------------ */

an_engine_t *
an_engine_new(int32_t partition, size_t max_groups, an_emit_fn *emit, void *arg)
{
    an_engine_t *e = vx_calloc(1, sizeof *e);
    e->partition = partition;
    e->max_groups = max_groups ? max_groups : 1;
    e->emit = emit;
    e->arg = arg;
    return e;
}

static void
s_run_free(struct s_run *r)
{
    for (size_t b = 0; b < r->n_buckets; b++) {
        for (struct s_group *g = r->buckets[b], *next; g; g = next) {
            next = g->next;
            for (size_t i = 0; i < g->n_wins; i++) {
                s_win_release(r->q, g->wins[i]);
            }
            free(g->key);
            json_decref(g->values);
            free(g->wins);
            free(g);
        }
    }
    /* Windows still referenced by the heap are freed with their last entry. */
    while (r->heap_n) {
        struct s_heap_ent ent = s_heap_pop(r);
        if (ent.w->heap_refs == 0) {
            free(ent.w); /* every live window was released above */
        }
    }
    free(r->heap);
    free(r->buckets);
    free(r->values);
    free(r->has);
    free(r);
}

void
an_engine_destroy(an_engine_t **ep)
{
    an_engine_t *e = *ep;
    if (!e) {
        return;
    }
    for (size_t i = 0; i < e->n_runs; i++) {
        s_run_free(e->runs[i]);
    }
    free(e->runs);
    free(e);
    *ep = NULL;
}

static struct s_run *
s_run_find(const an_engine_t *e, const char *id, size_t *idx)
{
    for (size_t i = 0; i < e->n_runs; i++) {
        if (strcmp(e->runs[i]->q->id, id) == 0) {
            if (idx) {
                *idx = i;
            }
            return e->runs[i];
        }
    }
    return NULL;
}

int
an_engine_add_query(an_engine_t *e, const struct an_query *q)
{
    if (s_run_find(e, q->id, NULL)) {
        return -EEXIST;
    }
    struct s_run *r = vx_calloc(1, sizeof *r);
    r->q = q;
    r->values = vx_calloc(q->n_aggs, sizeof *r->values);
    r->has = vx_calloc(q->n_aggs, sizeof *r->has);
    e->runs = vx_realloc(e->runs, (e->n_runs + 1) * sizeof *e->runs);
    e->runs[e->n_runs++] = r;
    return 0;
}

int
an_engine_remove_query(an_engine_t *e, const char *id)
{
    size_t i;
    struct s_run *r = s_run_find(e, id, &i);
    if (!r) {
        return -ENOENT;
    }
    s_run_free(r);
    e->runs[i] = e->runs[--e->n_runs];
    return 0;
}

uint64_t
an_engine_clock(const an_engine_t *e)
{
    return e->clock;
}

void
an_engine_set_clock(an_engine_t *e, uint64_t clock_ns)
{
    if (clock_ns > e->clock) {
        e->clock = clock_ns;
    }
}

void
an_engine_set_replaying(an_engine_t *e, bool on)
{
    e->replaying = on;
}

void
an_engine_advance(an_engine_t *e, uint64_t clock_ns)
{
    if (clock_ns <= e->clock) {
        return;
    }
    e->clock = clock_ns;
    for (size_t i = 0; i < e->n_runs; i++) {
        s_advance(e, e->runs[i]);
    }
}

void
an_engine_set_min_start(an_engine_t *e, uint64_t start_ns)
{
    e->min_start = start_ns;
}

uint64_t
an_engine_low_time(const an_engine_t *e)
{
    uint64_t low = UINT64_MAX;
    for (size_t i = 0; i < e->n_runs; i++) {
        const struct s_run *r = e->runs[i];
        for (size_t b = 0; b < r->n_buckets; b++) {
            for (const struct s_group *g = r->buckets[b]; g; g = g->next) {
                for (size_t k = 0; k < g->n_wins; k++) {
                    /* A session can still grow backwards by its gap. */
                    uint64_t s = g->wins[k]->start;
                    if (r->q->window.kind == AN_WINDOW_SESSION) {
                        s = s > r->q->window.gap_ns ? s - r->q->window.gap_ns : 0;
                    }
                    low = s < low ? s : low;
                }
            }
        }
    }
    return low;
}

int
an_engine_snapshot(an_engine_t *e, const char *id, an_emit_fn *fn, void *arg)
{
    struct s_run *r = s_run_find(e, id, NULL);
    if (!r) {
        return -ENOENT;
    }
    for (size_t b = 0; b < r->n_buckets; b++) {
        for (struct s_group *g = r->buckets[b]; g; g = g->next) {
            for (size_t k = 0; k < g->n_wins; k++) {
                s_emit(e, r, g, g->wins[k], fn, arg, false, false);
            }
        }
    }
    return 0;
}

int
an_engine_stats(const an_engine_t *e, const char *id, struct an_query_stats *st)
{
    const struct s_run *r = s_run_find(e, id, NULL);
    if (!r) {
        return -ENOENT;
    }
    st->matched += r->st.matched;
    st->dropped_late += r->st.dropped_late;
    st->dropped_replay += r->st.dropped_replay;
    st->evicted_groups += r->st.evicted_groups;
    st->emitted += r->st.emitted;
    st->skipped += r->st.skipped;
    st->open_groups += r->st.open_groups;
    st->open_windows += r->st.open_windows;
    return 0;
}
