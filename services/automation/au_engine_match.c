/* SPDX-License-Identifier: Apache-2.0 */
/* Matching (see au_engine_priv.h for the layout): kept events, partitions, partial matches,
 * the four pattern kinds and the expiry of partial matches. Time here is the pattern's: the
 * engine's time, or the event time its clock releases events at. */
#include <stdio.h>
#include <string.h>

#include "au_engine_priv.h"
#include "vx_mem.h"

#define S_FREE_MAX 8192       /* idle chunks kept for reuse (1 MiB) */
#define S_PART_KEY_SMALL 47   /* partitions with keys up to this long are reused */
#define S_FREE_PARTS 4096     /* idle partitions kept for reuse, all patterns */
#define S_FREE_PARTIALS 256   /* idle partial matches kept for reuse, per pattern */
#define S_BLOB_SMALL 112 /* events up to this packed size take a recycled chunk */

struct au_blob au_blob_over;


/* ---- kept events ------------------------------------------------------------------------- */

/* A reference to the event being fed: packed on first use, or &au_blob_over when it does not fit
 * in the byte budget. */
static struct au_blob *
s_keep(au_engine_t *e)
{
    if (e->cur_blob == NULL) {
        size_t len =
            e->cur_data != NULL ? e->cur_len : vexfs__v1__event__get_packed_size(e->cur_ev);
        size_t size = sizeof(struct au_blob) + len;
        if (len > UINT32_MAX || e->kept_bytes + size > e->max_bytes) {
            e->cur_blob = &au_blob_over;
            return &au_blob_over;
        }
        struct au_blob *b = e->free_blobs;
        if (len <= S_BLOB_SMALL && b != NULL) {
            e->free_blobs = b->next;
            e->n_free--;
        } else {
            b = vx_malloc(len <= S_BLOB_SMALL ? sizeof *b + S_BLOB_SMALL : size);
        }
        b->refs = 1; /* the engine's, until the event is done */
        if (e->cur_data != NULL) {
            memcpy(b->data, e->cur_data, len);
            b->len = (uint32_t)len;
        } else {
            b->len = (uint32_t)vexfs__v1__event__pack(e->cur_ev, b->data);
        }
        b->seq = e->events;
        e->kept_bytes += size;
        e->kept_events++;
        e->cur_blob = b;
    }
    if (e->cur_blob != &au_blob_over) {
        e->cur_blob->refs++;
    }
    return e->cur_blob;
}

void
au_blob_release(au_engine_t *e, struct au_blob *b)
{
    if (b == NULL || b == &au_blob_over || --b->refs > 0) {
        return;
    }
    e->kept_bytes -= sizeof *b + b->len;
    e->kept_events--;
    if (b->len <= S_BLOB_SMALL && e->n_free < S_FREE_MAX) {
        b->next = e->free_blobs;
        e->free_blobs = b;
        e->n_free++;
        return;
    }
    free(b);
}

/* Ring of kept events: the oldest goes when full. */
static void
s_ev_push(au_engine_t *e, struct au_partial *m)
{
    if (m->ev_cap == 0) {
        return;
    }
    if (m->ev_n == m->ev_cap) {
        au_blob_release(e, m->ev[m->ev_head]);
        m->ev[m->ev_head] = NULL;
        m->ev_head = (uint16_t)((m->ev_head + 1) % m->ev_cap);
        m->ev_n--;
    }
    m->ev[(m->ev_head + m->ev_n) % m->ev_cap] = s_keep(e);
    m->ev_n++;
}

static void
s_ev_pop(au_engine_t *e, struct au_partial *m)
{
    if (m->ev_n == 0) {
        return;
    }
    au_blob_release(e, m->ev[m->ev_head]);
    m->ev[m->ev_head] = NULL;
    m->ev_head = (uint16_t)((m->ev_head + 1) % m->ev_cap);
    m->ev_n--;
}

/* Copies the ring into e->scratch, oldest first; returns the count. */
static uint32_t
s_ev_gather(au_engine_t *e, const struct au_partial *m)
{
    for (uint32_t i = 0; i < m->ev_n; i++) {
        e->scratch[i] = m->ev[(m->ev_head + i) % m->ev_cap];
    }
    return m->ev_n;
}

/* Conjunction: the distinct events of the slots of seen elements, oldest first, into
 * e->scratch; *missing gets the seen elements whose event was not kept by the cap. */
static uint32_t
s_conj_gather(au_engine_t *e, const struct au_partial *m, uint32_t *missing)
{
    uint32_t n = 0;
    *missing = 0;
    for (uint32_t i = 0; i < m->ev_cap; i++) {
        struct au_blob *b = m->ev[i];
        if ((m->mask & (1u << i)) == 0) {
            continue;
        }
        if (b == NULL) {
            (*missing)++;
            continue;
        }
        bool dup = false;
        for (uint32_t k = 0; k < n && !dup; k++) {
            dup = b != &au_blob_over && e->scratch[k] == b;
        }
        if (dup) {
            continue;
        }
        uint32_t k = n++;
        /* insertion by arrival; over-budget marks go first (they have no order) */
        while (k > 0 && b != &au_blob_over &&
               (e->scratch[k - 1] != &au_blob_over && e->scratch[k - 1]->seq > b->seq)) {
            e->scratch[k] = e->scratch[k - 1];
            k--;
        }
        e->scratch[k] = b;
    }
    return n;
}

/* ---- partitions and partial matches ------------------------------------------------------ */

static struct au_part *
s_part_find(struct au_pstate *ps, const char *key, size_t len, uint64_t h)
{
    if (ps->n_buckets == 0) {
        return NULL;
    }
    for (struct au_part *p = ps->buckets[h & (ps->n_buckets - 1)]; p != NULL; p = p->hnext) {
        if (p->hash == h && p->key_len == len && memcmp(p->key, key, len) == 0) {
            return p;
        }
    }
    return NULL;
}

static void
s_part_grow(struct au_pstate *ps)
{
    uint32_t n = ps->n_buckets ? ps->n_buckets * 2 : 16;
    struct au_part **b = vx_calloc(n, sizeof *b);
    for (uint32_t i = 0; i < ps->n_buckets; i++) {
        struct au_part *p = ps->buckets[i];
        while (p != NULL) {
            struct au_part *next = p->hnext;
            struct au_part **slot = &b[p->hash & (n - 1)];
            p->hnext = *slot;
            if (*slot != NULL) {
                (*slot)->hpprev = &p->hnext;
            }
            p->hpprev = slot;
            *slot = p;
            p = next;
        }
    }
    free(ps->buckets);
    ps->buckets = b;
    ps->n_buckets = n;
}

/* The partition of key, created when new. A short key's partition comes from the engine's
 * idle ones: partitions come and go with their partial matches, often several per event. */
static struct au_part *
s_part_get(struct au_pstate *ps, const char *key, size_t len, uint64_t h)
{
    struct au_part *p = s_part_find(ps, key, len, h);
    if (p != NULL) {
        return p;
    }
    if (ps->n_parts >= ps->n_buckets) {
        s_part_grow(ps);
    }
    au_engine_t *e = ps->e;
    if (len <= S_PART_KEY_SMALL && e->free_parts != NULL) {
        p = e->free_parts;
        e->free_parts = p->hnext;
        e->n_free_parts--;
    } else {
        p = vx_malloc(sizeof *p + (len <= S_PART_KEY_SMALL ? S_PART_KEY_SMALL : len) + 1);
    }
    memcpy(p->key, key, len);
    p->key[len] = '\0';
    p->key_len = (uint32_t)len;
    p->head = NULL;
    p->hash = h;
    struct au_part **slot = &ps->buckets[h & (ps->n_buckets - 1)];
    p->hnext = *slot;
    if (*slot != NULL) {
        (*slot)->hpprev = &p->hnext;
    }
    p->hpprev = slot;
    *slot = p;
    ps->n_parts++;
    return p;
}

/* Unlinks an empty partition (without walking its bucket) and keeps it for reuse. */
static void
s_part_drop(struct au_pstate *ps, struct au_part *p)
{
    *p->hpprev = p->hnext;
    if (p->hnext != NULL) {
        p->hnext->hpprev = p->hpprev;
    }
    ps->n_parts--;
    au_engine_t *e = ps->e;
    if (p->key_len <= S_PART_KEY_SMALL && e->n_free_parts < S_FREE_PARTS) {
        p->hnext = e->free_parts;
        e->free_parts = p;
        e->n_free_parts++;
        return;
    }
    free(p);
}

/* Unlinks and frees a partial match; frees its partition when it was the last one. */
static void
s_partial_free(struct au_partial *m)
{
    struct au_pstate *ps = m->ps;
    au_wheel_del(ps->wheel, &m->timer);
    if (m->age_prev != NULL) {
        m->age_prev->age_next = m->age_next;
    } else {
        ps->age_head = m->age_next;
    }
    if (m->age_next != NULL) {
        m->age_next->age_prev = m->age_prev;
    } else {
        ps->age_tail = m->age_prev;
    }
    struct au_part *part = m->part;
    if (m->p_prev != NULL) {
        m->p_prev->p_next = m->p_next;
    } else {
        part->head = m->p_next;
    }
    if (m->p_next != NULL) {
        m->p_next->p_prev = m->p_prev;
    }
    ps->partials--;
    ps->e->partials--;
    for (uint32_t i = 0; i < m->ev_cap; i++) {
        au_blob_release(ps->e, m->ev[i]);
    }
    if (ps->n_free_partials < S_FREE_PARTIALS) {
        m->p_next = ps->free_partials;
        ps->free_partials = m;
        ps->n_free_partials++;
    } else {
        free(m);
    }
    if (part->head == NULL) {
        s_part_drop(ps, part);
    }
}

/* Frees every partial match of a partition (the partition goes with the last one). */
static void
s_part_clear(struct au_part *part)
{
    struct au_partial *m = part->head;
    while (m != NULL) {
        struct au_partial *next = m->p_next; /* the partition goes with the last one */
        s_partial_free(m);
        m = next;
    }
}

/* The size of the pattern's partial matches: times (conjunction: one per element; threshold:
 * a ring of min_occurrences) and kept events (the ring, or one per conjunction element). */
static void
s_partial_layout(struct au_pstate *ps, size_t *slots_out, size_t *evs_out)
{
    au_engine_t *e = ps->e;
    size_t slots = 0;
    size_t evs = 0;
    switch (ps->pat.kind) {
    case AU_CONJUNCTION:
        slots = ps->pat.n_elems;
        evs = e->max_ev > 0 ? ps->pat.n_elems : 0;
        break;
    case AU_THRESHOLD:
        slots = ps->pat.elems[0].min_occurrences;
        evs = slots < e->max_ev ? slots : e->max_ev;
        break;
    case AU_SEQUENCE:
        evs = ps->pat.n_elems < e->max_ev ? ps->pat.n_elems : e->max_ev;
        break;
    case AU_ABSENCE:
        evs = e->max_ev > 0 ? 1 : 0;
        break;
    }
    *slots_out = slots;
    *evs_out = evs;
}

/* A new partial match in the partition key, evicting the pattern's oldest first when at the
 * cap (before the partition is looked up: the eviction may free it). Reuses an idle one of
 * the pattern when there is one: they all have the same size. */
static struct au_partial *
s_partial_new(struct au_pstate *ps, const char *key, size_t len, uint64_t h, uint64_t now_ns)
{
    au_engine_t *e = ps->e;
    if (ps->partials >= e->max_partials && ps->age_head != NULL) {
        s_partial_free(ps->age_head);
        ps->evictions++;
        e->evictions++;
    }
    size_t slots, evs;
    s_partial_layout(ps, &slots, &evs);
    struct au_partial *m = ps->free_partials;
    size_t size = sizeof *m + slots * sizeof m->times[0] + evs * sizeof m->ev[0];
    if (m != NULL) {
        ps->free_partials = m->p_next;
        ps->n_free_partials--;
        memset(m, 0, size);
    } else {
        m = vx_calloc(1, size);
    }
    m->ev = (struct au_blob **)(void *)(m->times + slots);
    m->ev_cap = (uint16_t)evs;
    m->ps = ps;
    m->first_ns = m->last_ns = now_ns;
    struct au_part *part = s_part_get(ps, key, len, h);
    m->part = part;
    m->p_next = part->head;
    if (part->head != NULL) {
        part->head->p_prev = m;
    }
    part->head = m;
    m->age_prev = ps->age_tail;
    if (ps->age_tail != NULL) {
        ps->age_tail->age_next = m;
    } else {
        ps->age_head = m;
    }
    ps->age_tail = m;
    ps->partials++;
    e->partials++;
    return m;
}

/* ---- matching ---------------------------------------------------------------------------- */

/* Arms m's timer for deadline_ns, unless it is armed already for that time or earlier: a
 * partial match's deadline mostly moves later as events come (a threshold's or conjunction's
 * newest event, a sequence's next element), and re-arming on every event costs two list
 * updates in cold memory. A timer that fires early finds the true deadline in
 * au_match_expire and is re-armed there, so a partial match still expires exactly on time. */
static void
s_arm(struct au_pstate *ps, struct au_partial *m, uint64_t deadline_ns)
{
    if (m->timer.armed && m->timer.deadline_ns <= deadline_ns) {
        return;
    }
    au_wheel_add(ps->wheel, &m->timer, deadline_ns);
}

/* Raises the actions of a match whose kept events are e->scratch[0..n_kept), over-budget
 * marks included (dropped here and counted); n_cut of its events were left out by the cap.
 * by_time: fired by a deadline (an absence), not by the event being fed. */
static void
s_fire(struct au_pstate *ps, const char *key, uint64_t first_ns, uint32_t n_events,
       uint64_t now_ns, uint32_t n_kept, uint32_t n_cut, bool by_time)
{
    au_engine_t *e = ps->e;
    ps->matches++;
    e->matches++;
    uint32_t kept = 0;
    for (uint32_t i = 0; i < n_kept; i++) {
        if (e->scratch[i] != &au_blob_over) {
            e->scratch[kept++] = e->scratch[i];
        }
    }
    uint32_t over = n_kept - kept;
    e->truncated += n_cut;
    e->over_budget += over;
    for (uint32_t i = 0; i < ps->pat.n_actions; i++) {
        e->alerts++;
        if (e->on_alert == NULL) {
            continue;
        }
        struct au_alert a = {
            .pattern_id = ps->pat.id,
            .pattern = ps->index,
            .action = i,
            .kind = ps->pat.kind,
            .severity = ps->pat.actions[i].severity,
            .message = ps->pat.actions[i].message,
            .partition = key,
            .time_ns = now_ns,
            .first_ns = first_ns,
            .n_events = n_events,
            .kept = (const void *const *)e->scratch,
            .n_kept = kept,
            .n_truncated = n_cut,
            .n_over_budget = over,
            .event = by_time ? NULL : e->cur_ev,
            .event_time = ps->event_time,
        };
        e->on_alert(&a, e->arg);
    }
}

/* When a sequence partial match dies: after its window, or after the next element's
 * within_ms (the time just past the last instant still inside). */
static uint64_t
s_seq_deadline(const struct au_partial *m)
{
    const struct au_pattern *p = &m->ps->pat;
    uint64_t d = m->first_ns + p->window_ns;
    uint64_t within = p->elems[m->next].within_ns;
    if (within != 0 && m->last_ns + within < d) {
        d = m->last_ns + within;
    }
    return d + 1;
}

/* Forgets conjunction elements seen longer than the window before now; returns the time
 * after which the oldest remaining one is too old (0 when none remains). */
static void
s_conj_forget(au_engine_t *e, struct au_partial *m, uint32_t i)
{
    m->mask &= ~(1u << i);
    if (m->ev_cap > 0) {
        au_blob_release(e, m->ev[i]);
        m->ev[i] = NULL;
    }
}

static uint64_t
s_conj_prune(struct au_partial *m, uint64_t now_ns)
{
    const struct au_pattern *p = &m->ps->pat;
    uint64_t oldest = UINT64_MAX;
    for (uint32_t i = 0; i < p->n_elems; i++) {
        if ((m->mask & (1u << i)) == 0) {
            continue;
        }
        if (now_ns - m->times[i] > p->window_ns) {
            s_conj_forget(m->ps->e, m, i);
        } else if (m->times[i] < oldest) {
            oldest = m->times[i];
        }
    }
    return m->mask == 0 ? 0 : oldest + p->window_ns + 1;
}

/* Conjunction with more elements than max_match_events: drops the oldest kept events until
 * at most max_match_events distinct ones remain. */
static void
s_conj_cap(au_engine_t *e, struct au_partial *m)
{
    for (;;) {
        uint32_t distinct = 0;
        struct au_blob *oldest = NULL;
        for (uint32_t i = 0; i < m->ev_cap; i++) {
            struct au_blob *b = m->ev[i];
            if (b == NULL || b == &au_blob_over) {
                continue;
            }
            bool dup = false;
            for (uint32_t k = 0; k < i && !dup; k++) {
                dup = m->ev[k] == b;
            }
            if (!dup) {
                distinct++;
                if (oldest == NULL || b->seq < oldest->seq) {
                    oldest = b;
                }
            }
        }
        if (distinct <= e->max_ev) {
            return;
        }
        for (uint32_t i = 0; i < m->ev_cap; i++) {
            if (m->ev[i] == oldest) {
                m->ev[i] = NULL;
                au_blob_release(e, oldest);
            }
        }
    }
}

static void
s_sequence(struct au_pstate *ps, uint32_t hit, const struct au_key *k, uint64_t now_ns)
{
    const struct au_pattern *p = &ps->pat;
    au_engine_t *e = ps->e;
    struct au_part *part = s_part_find(ps, k->s, k->len, k->h);
    bool consumed = false;
    struct au_partial *m = part ? part->head : NULL;
    while (m != NULL) {
        struct au_partial *next = m->p_next;
        if ((hit & (1u << m->next)) != 0 && now_ns < s_seq_deadline(m)) {
            m->next++;
            m->last_ns = now_ns;
            s_ev_push(e, m);
            if (m->next == p->n_elems) {
                s_fire(ps, k->s, m->first_ns, m->next, now_ns, s_ev_gather(e, m),
                       m->next - m->ev_n, false);
                consumed = true;
                if (p->skip == AU_SKIP_PAST_LAST) {
                    s_part_clear(part);
                    break;
                }
                s_partial_free(m);
            } else {
                s_arm(ps, m, s_seq_deadline(m));
            }
        }
        m = next;
    }
    if ((hit & 1u) == 0 || (consumed && p->skip == AU_SKIP_PAST_LAST)) {
        return;
    }
    if (p->n_elems == 1) {
        struct au_blob *b = e->max_ev > 0 ? s_keep(e) : NULL;
        e->scratch[0] = b;
        s_fire(ps, k->s, now_ns, 1, now_ns, b != NULL ? 1 : 0, b != NULL ? 0 : 1, false);
        au_blob_release(e, b);
        return;
    }
    m = s_partial_new(ps, k->s, k->len, k->h, now_ns);
    m->next = 1;
    s_ev_push(e, m);
    s_arm(ps, m, s_seq_deadline(m));
}

static void
s_conjunction(struct au_pstate *ps, uint32_t hit, const struct au_key *k, uint64_t now_ns)
{
    const struct au_pattern *p = &ps->pat;
    struct au_part *part = s_part_find(ps, k->s, k->len, k->h);
    struct au_partial *m = part ? part->head : NULL;
    if (m == NULL) {
        m = s_partial_new(ps, k->s, k->len, k->h, now_ns);
    }
    for (uint32_t i = 0; i < p->n_elems; i++) {
        if ((hit & (1u << i)) != 0) {
            m->mask |= 1u << i;
            m->times[i] = now_ns;
            if (m->ev_cap > 0) {
                au_blob_release(ps->e, m->ev[i]);
                m->ev[i] = s_keep(ps->e);
            }
        }
    }
    m->last_ns = now_ns;
    uint64_t deadline = s_conj_prune(m, now_ns);
    if (m->ev_cap > ps->e->max_ev) {
        s_conj_cap(ps->e, m);
    }
    uint32_t all = p->n_elems == 32 ? UINT32_MAX : (1u << p->n_elems) - 1;
    if (m->mask == all) {
        uint64_t first = now_ns;
        uint32_t oldest = 0;
        for (uint32_t i = 0; i < p->n_elems; i++) {
            if (m->times[i] <= first) {
                first = m->times[i];
                oldest = i;
            }
        }
        uint32_t missing = p->n_elems;
        uint32_t n_kept = m->ev_cap > 0 ? s_conj_gather(ps->e, m, &missing) : 0;
        s_fire(ps, k->s, first, p->n_elems, now_ns, n_kept, missing, false);
        if (p->skip == AU_SKIP_PAST_LAST) {
            s_partial_free(m);
            return;
        }
        s_conj_forget(ps->e, m, oldest);
        deadline = s_conj_prune(m, now_ns);
    }
    s_arm(ps, m, deadline);
}

static void
s_absence(struct au_pstate *ps, uint32_t hit, const struct au_key *k, uint64_t now_ns)
{
    const struct au_pattern *p = &ps->pat;
    if ((hit & 2u) != 0) {
        /* Every pending start in the partition is still inside its period (due ones fired
         * before this event was fed), so this event follows each of them in time. */
        struct au_part *part = s_part_find(ps, k->s, k->len, k->h);
        if (part != NULL) {
            s_part_clear(part);
        }
    }
    if ((hit & 1u) != 0) {
        uint64_t period = p->elems[1].within_ns ? p->elems[1].within_ns : p->window_ns;
        struct au_partial *m = s_partial_new(ps, k->s, k->len, k->h, now_ns);
        s_ev_push(ps->e, m);
        au_wheel_add(ps->wheel, &m->timer, now_ns + period + 1);
    }
}

/* Drops a threshold's oldest event; the ring of kept events holds the most recent ones, so it
 * loses its oldest only when it holds them all. */
static void
s_thr_pop(au_engine_t *e, struct au_partial *m, uint32_t cap)
{
    if (m->ev_n == m->next) {
        s_ev_pop(e, m);
    }
    m->head = (m->head + 1) % cap;
    m->next--;
}

static void
s_threshold(struct au_pstate *ps, const struct au_key *k, uint64_t now_ns)
{
    const struct au_pattern *p = &ps->pat;
    uint32_t cap = p->elems[0].min_occurrences;
    struct au_part *part = s_part_find(ps, k->s, k->len, k->h);
    struct au_partial *m = part ? part->head : NULL;
    if (m == NULL) {
        m = s_partial_new(ps, k->s, k->len, k->h, now_ns);
    }
    while (m->next > 0 && now_ns - m->times[m->head] > p->window_ns) {
        s_thr_pop(ps->e, m, cap);
    }
    m->times[(m->head + m->next) % cap] = now_ns;
    m->next++;
    s_ev_push(ps->e, m);
    m->last_ns = now_ns;
    if (m->next >= cap) {
        s_fire(ps, k->s, m->times[m->head], cap, now_ns, s_ev_gather(ps->e, m), cap - m->ev_n,
               false);
        if (p->skip == AU_SKIP_PAST_LAST) {
            s_partial_free(m);
            return;
        }
        s_thr_pop(ps->e, m, cap);
        if (m->next == 0) {
            s_partial_free(m);
            return;
        }
    }
    s_arm(ps, m, now_ns + p->window_ns + 1);
}

/* A partial match's deadline passed. In event time the deadline itself is the time of what
 * happens (an absence fires at it), so the outcome does not depend on how far the watermark
 * jumped; in processing time it is the engine's time, as the match is seen late by that much.
 * A partial match that is still alive (its deadline moved since it was armed) is re-armed. */
void
au_match_expire(struct au_timer *t, uint64_t now_ns, void *arg)
{
    (void)arg;
    struct au_partial *m = (struct au_partial *)t;
    struct au_pstate *ps = m->ps;
    if (ps->event_time) {
        now_ns = t->deadline_ns;
    }
    uint64_t again = 0;
    switch (ps->pat.kind) {
    case AU_ABSENCE:
        s_fire(ps, m->part->key, m->first_ns, 1, now_ns, s_ev_gather(ps->e, m), 1u - m->ev_n,
               true);
        s_partial_free(m);
        return;
    case AU_SEQUENCE:
        again = now_ns < s_seq_deadline(m) ? s_seq_deadline(m) : 0;
        break;
    case AU_CONJUNCTION:
        again = s_conj_prune(m, now_ns);
        break;
    case AU_THRESHOLD:
        again = now_ns - m->last_ns > ps->pat.window_ns ? 0 : m->last_ns + ps->pat.window_ns + 1;
        break;
    }
    if (again > now_ns) {
        au_wheel_add(ps->wheel, &m->timer, again);
        return;
    }
    ps->expired++;
    s_partial_free(m);
}

bool
au_match_key(struct au_pstate *ps, struct au_key *k)
{
    if (!ps->pat.partitioned) {
        *k = (struct au_key){.s = "", .len = 0, .h = ps->e->empty_hash};
        return true;
    }
    struct au_memo_field *f = au_memo_field(ps->e, ps->pat.partition.memo);
    if (f->val == NULL) {
        return false;
    }
    if (!f->hashed) {
        f->hash = vx_hash64(f->val, f->len, AU_ENG_HASH_SEED);
        f->hashed = true;
    }
    *k = (struct au_key){.s = f->val, .len = f->len, .h = f->hash};
    return true;
}

void
au_match_prefetch(const struct au_pstate *ps, const struct au_key *k)
{
    if (ps->n_buckets > 0) {
        __builtin_prefetch(&ps->buckets[k->h & (ps->n_buckets - 1)]);
    }
}

void
au_match_hit(struct au_pstate *ps, uint32_t hit, const struct au_key *k, uint64_t now_ns)
{
    switch (ps->pat.kind) {
    case AU_SEQUENCE:
        s_sequence(ps, hit, k, now_ns);
        break;
    case AU_CONJUNCTION:
        s_conjunction(ps, hit, k, now_ns);
        break;
    case AU_ABSENCE:
        s_absence(ps, hit, k, now_ns);
        break;
    case AU_THRESHOLD:
        s_threshold(ps, k, now_ns);
        break;
    }
}

void
au_match_clear(struct au_pstate *ps)
{
    struct au_partial *m = ps->age_head;
    while (m != NULL) {
        struct au_partial *next = m->age_next;
        s_partial_free(m);
        m = next;
    }
    while (ps->free_partials != NULL) {
        m = ps->free_partials;
        ps->free_partials = m->p_next;
        free(m);
    }
    ps->n_free_partials = 0;
}

void
au_blob_free_idle(au_engine_t *e)
{
    while (e->free_blobs != NULL) {
        struct au_blob *b = e->free_blobs;
        e->free_blobs = b->next;
        free(b);
    }
    e->n_free = 0;
    while (e->free_parts != NULL) {
        struct au_part *p = e->free_parts;
        e->free_parts = p->hnext;
        free(p);
    }
    e->n_free_parts = 0;
}
