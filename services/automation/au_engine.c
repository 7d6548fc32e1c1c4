/* SPDX-License-Identifier: Apache-2.0 */
/* The CEP runtime (see au_engine.h): per pattern a hash of partitions, each holding the
 * partition's partial matches; every partial match is also on its pattern's age list (for the
 * cap) and on the timer wheel (for expiry). A partition exists only while it holds a partial
 * match, so memory is bounded by the cap.
 *
 * Kept events: the event being fed is packed once, on the first partial match that keeps it,
 * into a reference-counted blob; partial matches hold references in an array that lives in
 * their own allocation (a ring of the most recent ones; one slot per element for a
 * conjunction), so keeping costs no allocation beyond the blob. */
#include "au_engine.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "au_wheel.h"
#include "vx_mem.h"

#define S_MAX_TYPES 64        /* event type values indexed for dispatch */
#define S_TICK_NS 65536ULL    /* wheel slot: about 66 us, so few timers share one */
#define S_SLOTS 65536         /* one turn: about 4.3 s; longer deadlines wait in their slot */
#define S_HASH_SEED 0x6175746f6d617465ULL
#define S_BLOB_SMALL 112      /* events up to this packed size take a recycled chunk */
#define S_FREE_MAX 8192       /* idle chunks kept for reuse (1 MiB) */

struct s_part;
struct s_pstate;

/* One kept event: its packed protobuf, shared by every partial match that keeps it. */
struct s_blob {
    uint32_t refs;
    uint32_t len;
    union {
        uint64_t seq;          /* the engine's event count when it came: orders a match's
                                * events */
        struct s_blob *next;   /* on the engine's free list */
    };
    uint8_t data[];
};

/* Stands for an event not kept because of the byte budget. */
static struct s_blob s_over;

struct s_partial {
    struct au_timer timer;   /* first member: the wheel hands back this pointer */
    struct s_partial *age_prev, *age_next;   /* the pattern's partials, oldest first */
    struct s_partial *p_prev, *p_next;       /* the partition's partials */
    struct s_part *part;
    struct s_pstate *ps;
    uint64_t first_ns;
    uint64_t last_ns;
    uint32_t next;   /* sequence: next element; threshold: events in the ring */
    uint32_t head;   /* threshold: index of the oldest event in the ring */
    uint32_t mask;   /* conjunction: elements seen */
    struct s_blob **ev; /* in this allocation, after times: ring of kept events (sequence,
                         * threshold, absence) or one per element (conjunction); NULL when
                         * none is kept, &s_over when over budget */
    uint16_t ev_cap, ev_n, ev_head;
    uint64_t times[]; /* conjunction: latest time per element; threshold: ring of times */
};

struct s_part {
    char *key;
    uint64_t hash;
    struct s_part *hnext;
    struct s_partial *head;
};

struct s_pstate {
    struct au_pattern pat;
    uint32_t index;
    au_engine_t *e;
    struct s_part **buckets;
    uint32_t n_buckets;
    uint32_t n_parts;
    struct s_partial *age_head, *age_tail;
    uint64_t partials;
    uint64_t matches, evictions, expired;
};

struct au_engine {
    struct s_pstate *ps;
    uint32_t n;
    uint32_t *by_type[S_MAX_TYPES]; /* pattern indexes with an element of that type */
    uint32_t n_by_type[S_MAX_TYPES];
    au_wheel_t *wheel;
    uint32_t max_partials;
    uint32_t max_ev;              /* max_match_events */
    uint64_t max_bytes;
    uint64_t kept_bytes, kept_events;
    uint64_t truncated, over_budget;
    const vx_event_t *cur_ev;     /* during au_engine_on_event */
    const void *cur_data;         /* its packed bytes when the caller has them, else NULL */
    size_t cur_len;
    struct s_blob *cur_blob;      /* cur_ev packed (one reference held by the engine), or
                                   * &s_over, or NULL until a partial match keeps it */
    struct s_blob **scratch;      /* max_ev + 1 entries: a match's kept events for s_fire */
    struct s_blob *free_blobs;    /* idle chunks of S_BLOB_SMALL bytes */
    uint32_t n_free;
    au_alert_fn *on_alert;
    void *arg;
    uint64_t now_ns;
    uint64_t events, alerts, matches, evictions, partials;
};

/* ---- kept events ------------------------------------------------------------------------- */

/* A reference to the event being fed: packed on first use, or &s_over when it does not fit
 * in the byte budget. */
static struct s_blob *
s_keep(au_engine_t *e)
{
    if (e->cur_blob == NULL) {
        size_t len =
            e->cur_data != NULL ? e->cur_len : vexfs__v1__event__get_packed_size(e->cur_ev);
        size_t size = sizeof(struct s_blob) + len;
        if (len > UINT32_MAX || e->kept_bytes + size > e->max_bytes) {
            e->cur_blob = &s_over;
            return &s_over;
        }
        struct s_blob *b = e->free_blobs;
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
    if (e->cur_blob != &s_over) {
        e->cur_blob->refs++;
    }
    return e->cur_blob;
}

static void
s_release(au_engine_t *e, struct s_blob *b)
{
    if (b == NULL || b == &s_over || --b->refs > 0) {
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
s_ev_push(au_engine_t *e, struct s_partial *m)
{
    if (m->ev_cap == 0) {
        return;
    }
    if (m->ev_n == m->ev_cap) {
        s_release(e, m->ev[m->ev_head]);
        m->ev[m->ev_head] = NULL;
        m->ev_head = (uint16_t)((m->ev_head + 1) % m->ev_cap);
        m->ev_n--;
    }
    m->ev[(m->ev_head + m->ev_n) % m->ev_cap] = s_keep(e);
    m->ev_n++;
}

static void
s_ev_pop(au_engine_t *e, struct s_partial *m)
{
    if (m->ev_n == 0) {
        return;
    }
    s_release(e, m->ev[m->ev_head]);
    m->ev[m->ev_head] = NULL;
    m->ev_head = (uint16_t)((m->ev_head + 1) % m->ev_cap);
    m->ev_n--;
}

/* Copies the ring into e->scratch, oldest first; returns the count. */
static uint32_t
s_ev_gather(au_engine_t *e, const struct s_partial *m)
{
    for (uint32_t i = 0; i < m->ev_n; i++) {
        e->scratch[i] = m->ev[(m->ev_head + i) % m->ev_cap];
    }
    return m->ev_n;
}

/* Conjunction: the distinct events of the slots of seen elements, oldest first, into
 * e->scratch; *missing gets the seen elements whose event was not kept by the cap. */
static uint32_t
s_conj_gather(au_engine_t *e, const struct s_partial *m, uint32_t *missing)
{
    uint32_t n = 0;
    *missing = 0;
    for (uint32_t i = 0; i < m->ev_cap; i++) {
        struct s_blob *b = m->ev[i];
        if ((m->mask & (1u << i)) == 0) {
            continue;
        }
        if (b == NULL) {
            (*missing)++;
            continue;
        }
        bool dup = false;
        for (uint32_t k = 0; k < n && !dup; k++) {
            dup = b != &s_over && e->scratch[k] == b;
        }
        if (dup) {
            continue;
        }
        uint32_t k = n++;
        /* insertion by arrival; over-budget marks go first (they have no order) */
        while (k > 0 && b != &s_over &&
               (e->scratch[k - 1] != &s_over && e->scratch[k - 1]->seq > b->seq)) {
            e->scratch[k] = e->scratch[k - 1];
            k--;
        }
        e->scratch[k] = b;
    }
    return n;
}

/* ---- partitions and partial matches ------------------------------------------------------ */

static struct s_part *
s_part_find(struct s_pstate *ps, const char *key, uint64_t h)
{
    if (ps->n_buckets == 0) {
        return NULL;
    }
    for (struct s_part *p = ps->buckets[h & (ps->n_buckets - 1)]; p != NULL; p = p->hnext) {
        if (p->hash == h && strcmp(p->key, key) == 0) {
            return p;
        }
    }
    return NULL;
}

static void
s_part_grow(struct s_pstate *ps)
{
    uint32_t n = ps->n_buckets ? ps->n_buckets * 2 : 16;
    struct s_part **b = vx_calloc(n, sizeof *b);
    for (uint32_t i = 0; i < ps->n_buckets; i++) {
        struct s_part *p = ps->buckets[i];
        while (p != NULL) {
            struct s_part *next = p->hnext;
            p->hnext = b[p->hash & (n - 1)];
            b[p->hash & (n - 1)] = p;
            p = next;
        }
    }
    free(ps->buckets);
    ps->buckets = b;
    ps->n_buckets = n;
}

static struct s_part *
s_part_get(struct s_pstate *ps, const char *key, uint64_t h)
{
    struct s_part *p = s_part_find(ps, key, h);
    if (p != NULL) {
        return p;
    }
    if (ps->n_parts >= ps->n_buckets) {
        s_part_grow(ps);
    }
    p = vx_calloc(1, sizeof *p);
    p->key = vx_strdup(key);
    p->hash = h;
    p->hnext = ps->buckets[h & (ps->n_buckets - 1)];
    ps->buckets[h & (ps->n_buckets - 1)] = p;
    ps->n_parts++;
    return p;
}

static void
s_part_drop(struct s_pstate *ps, struct s_part *p)
{
    struct s_part **pp = &ps->buckets[p->hash & (ps->n_buckets - 1)];
    while (*pp != p) {
        pp = &(*pp)->hnext;
    }
    *pp = p->hnext;
    ps->n_parts--;
    free(p->key);
    free(p);
}

/* Unlinks and frees a partial match; frees its partition when it was the last one. */
static void
s_partial_free(struct s_partial *m)
{
    struct s_pstate *ps = m->ps;
    au_wheel_del(ps->e->wheel, &m->timer);
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
    struct s_part *part = m->part;
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
        s_release(ps->e, m->ev[i]);
    }
    free(m);
    if (part->head == NULL) {
        s_part_drop(ps, part);
    }
}

/* Frees every partial match of a partition (the partition goes with the last one). */
static void
s_part_clear(struct s_part *part)
{
    struct s_partial *m = part->head;
    while (m != NULL) {
        struct s_partial *next = m->p_next; /* the partition goes with the last one */
        s_partial_free(m);
        m = next;
    }
}

/* A new partial match in the partition key, evicting the pattern's oldest first when at the
 * cap (before the partition is looked up: the eviction may free it). */
static struct s_partial *
s_partial_new(struct s_pstate *ps, const char *key, uint64_t h, uint64_t now_ns)
{
    au_engine_t *e = ps->e;
    if (ps->partials >= e->max_partials && ps->age_head != NULL) {
        s_partial_free(ps->age_head);
        ps->evictions++;
        e->evictions++;
    }
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
    struct s_partial *m =
        vx_calloc(1, sizeof *m + slots * sizeof m->times[0] + evs * sizeof m->ev[0]);
    m->ev = (struct s_blob **)(void *)(m->times + slots);
    m->ev_cap = (uint16_t)evs;
    m->ps = ps;
    m->first_ns = m->last_ns = now_ns;
    struct s_part *part = s_part_get(ps, key, h);
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

/* Raises the actions of a match whose kept events are e->scratch[0..n_kept), over-budget
 * marks included (dropped here and counted); n_cut of its events were left out by the cap. */
static void
s_fire(struct s_pstate *ps, const char *key, uint64_t first_ns, uint32_t n_events,
       uint64_t now_ns, uint32_t n_kept, uint32_t n_cut)
{
    au_engine_t *e = ps->e;
    ps->matches++;
    e->matches++;
    uint32_t kept = 0;
    for (uint32_t i = 0; i < n_kept; i++) {
        if (e->scratch[i] != &s_over) {
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
        };
        e->on_alert(&a, e->arg);
    }
}

/* When a sequence partial match dies: after its window, or after the next element's
 * within_ms (the time just past the last instant still inside). */
static uint64_t
s_seq_deadline(const struct s_partial *m)
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
s_conj_forget(au_engine_t *e, struct s_partial *m, uint32_t i)
{
    m->mask &= ~(1u << i);
    if (m->ev_cap > 0) {
        s_release(e, m->ev[i]);
        m->ev[i] = NULL;
    }
}

static uint64_t
s_conj_prune(struct s_partial *m, uint64_t now_ns)
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
s_conj_cap(au_engine_t *e, struct s_partial *m)
{
    for (;;) {
        uint32_t distinct = 0;
        struct s_blob *oldest = NULL;
        for (uint32_t i = 0; i < m->ev_cap; i++) {
            struct s_blob *b = m->ev[i];
            if (b == NULL || b == &s_over) {
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
                s_release(e, oldest);
            }
        }
    }
}

static void
s_sequence(struct s_pstate *ps, uint32_t hit, const char *key, uint64_t h, uint64_t now_ns)
{
    const struct au_pattern *p = &ps->pat;
    au_engine_t *e = ps->e;
    struct s_part *part = s_part_find(ps, key, h);
    bool consumed = false;
    struct s_partial *m = part ? part->head : NULL;
    while (m != NULL) {
        struct s_partial *next = m->p_next;
        if ((hit & (1u << m->next)) != 0 && now_ns < s_seq_deadline(m)) {
            m->next++;
            m->last_ns = now_ns;
            s_ev_push(e, m);
            if (m->next == p->n_elems) {
                s_fire(ps, key, m->first_ns, m->next, now_ns, s_ev_gather(e, m),
                       m->next - m->ev_n);
                consumed = true;
                if (p->skip == AU_SKIP_PAST_LAST) {
                    s_part_clear(part);
                    break;
                }
                s_partial_free(m);
            } else {
                au_wheel_add(e->wheel, &m->timer, s_seq_deadline(m));
            }
        }
        m = next;
    }
    if ((hit & 1u) == 0 || (consumed && p->skip == AU_SKIP_PAST_LAST)) {
        return;
    }
    if (p->n_elems == 1) {
        struct s_blob *b = e->max_ev > 0 ? s_keep(e) : NULL;
        e->scratch[0] = b;
        s_fire(ps, key, now_ns, 1, now_ns, b != NULL ? 1 : 0, b != NULL ? 0 : 1);
        s_release(e, b);
        return;
    }
    m = s_partial_new(ps, key, h, now_ns);
    m->next = 1;
    s_ev_push(e, m);
    au_wheel_add(e->wheel, &m->timer, s_seq_deadline(m));
}

static void
s_conjunction(struct s_pstate *ps, uint32_t hit, const char *key, uint64_t h, uint64_t now_ns)
{
    const struct au_pattern *p = &ps->pat;
    struct s_part *part = s_part_find(ps, key, h);
    struct s_partial *m = part ? part->head : NULL;
    if (m == NULL) {
        m = s_partial_new(ps, key, h, now_ns);
    }
    for (uint32_t i = 0; i < p->n_elems; i++) {
        if ((hit & (1u << i)) != 0) {
            m->mask |= 1u << i;
            m->times[i] = now_ns;
            if (m->ev_cap > 0) {
                s_release(ps->e, m->ev[i]);
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
        s_fire(ps, key, first, p->n_elems, now_ns, n_kept, missing);
        if (p->skip == AU_SKIP_PAST_LAST) {
            s_partial_free(m);
            return;
        }
        s_conj_forget(ps->e, m, oldest);
        deadline = s_conj_prune(m, now_ns);
    }
    au_wheel_add(ps->e->wheel, &m->timer, deadline);
}

static void
s_absence(struct s_pstate *ps, uint32_t hit, const char *key, uint64_t h, uint64_t now_ns)
{
    const struct au_pattern *p = &ps->pat;
    if ((hit & 2u) != 0) {
        /* Every pending start in the partition is still inside its period (due ones fired
         * before this event was fed), so this event follows each of them in time. */
        struct s_part *part = s_part_find(ps, key, h);
        if (part != NULL) {
            s_part_clear(part);
        }
    }
    if ((hit & 1u) != 0) {
        uint64_t period = p->elems[1].within_ns ? p->elems[1].within_ns : p->window_ns;
        struct s_partial *m = s_partial_new(ps, key, h, now_ns);
        s_ev_push(ps->e, m);
        au_wheel_add(ps->e->wheel, &m->timer, now_ns + period + 1);
    }
}

/* Drops a threshold's oldest event; the ring of kept events holds the most recent ones, so it
 * loses its oldest only when it holds them all. */
static void
s_thr_pop(au_engine_t *e, struct s_partial *m, uint32_t cap)
{
    if (m->ev_n == m->next) {
        s_ev_pop(e, m);
    }
    m->head = (m->head + 1) % cap;
    m->next--;
}

static void
s_threshold(struct s_pstate *ps, const char *key, uint64_t h, uint64_t now_ns)
{
    const struct au_pattern *p = &ps->pat;
    uint32_t cap = p->elems[0].min_occurrences;
    struct s_part *part = s_part_find(ps, key, h);
    struct s_partial *m = part ? part->head : NULL;
    if (m == NULL) {
        m = s_partial_new(ps, key, h, now_ns);
    }
    while (m->next > 0 && now_ns - m->times[m->head] > p->window_ns) {
        s_thr_pop(ps->e, m, cap);
    }
    m->times[(m->head + m->next) % cap] = now_ns;
    m->next++;
    s_ev_push(ps->e, m);
    m->last_ns = now_ns;
    if (m->next >= cap) {
        s_fire(ps, key, m->times[m->head], cap, now_ns, s_ev_gather(ps->e, m), cap - m->ev_n);
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
    au_wheel_add(ps->e->wheel, &m->timer, now_ns + p->window_ns + 1);
}

static void
cb_expire(struct au_timer *t, uint64_t now_ns, void *arg)
{
    (void)arg;
    struct s_partial *m = (struct s_partial *)t;
    struct s_pstate *ps = m->ps;
    uint64_t again = 0;
    switch (ps->pat.kind) {
    case AU_ABSENCE:
        s_fire(ps, m->part->key, m->first_ns, 1, now_ns, s_ev_gather(ps->e, m), 1u - m->ev_n);
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
        au_wheel_add(ps->e->wheel, &m->timer, again);
        return;
    }
    ps->expired++;
    s_partial_free(m);
}

static void
s_feed(struct s_pstate *ps, const vx_event_t *ev, uint64_t now_ns)
{
    const struct au_pattern *p = &ps->pat;
    uint32_t hit = 0;
    for (uint32_t i = 0; i < p->n_elems; i++) {
        if (p->elems[i].event_type == (int)ev->type && au_element_match(&p->elems[i], ev)) {
            hit |= 1u << i;
        }
    }
    if (hit == 0) {
        return;
    }
    char buf[16];
    const char *key = "";
    if (p->partitioned) {
        key = au_field_get(&p->partition, ev, buf, sizeof buf);
        if (key == NULL) {
            return;
        }
    }
    uint64_t h = vx_hash64(key, strlen(key), S_HASH_SEED);
    switch (p->kind) {
    case AU_SEQUENCE:
        s_sequence(ps, hit, key, h, now_ns);
        break;
    case AU_CONJUNCTION:
        s_conjunction(ps, hit, key, h, now_ns);
        break;
    case AU_ABSENCE:
        s_absence(ps, hit, key, h, now_ns);
        break;
    case AU_THRESHOLD:
        s_threshold(ps, key, h, now_ns);
        break;
    }
}

void
au_engine_advance(au_engine_t *e, uint64_t now_ns)
{
    if (now_ns > e->now_ns) {
        e->now_ns = now_ns;
    }
    au_wheel_advance(e->wheel, e->now_ns, cb_expire, e);
}

void
au_engine_on_event(au_engine_t *e, const vx_event_t *ev, uint64_t now_ns)
{
    au_engine_on_event_packed(e, ev, NULL, 0, now_ns);
}

void
au_engine_on_event_packed(au_engine_t *e, const vx_event_t *ev, const void *data, size_t len,
                          uint64_t now_ns)
{
    au_engine_advance(e, now_ns);
    e->events++;
    if ((unsigned)ev->type >= S_MAX_TYPES) {
        return;
    }
    e->cur_ev = ev;
    e->cur_data = data;
    e->cur_len = len;
    e->cur_blob = NULL;
    if (e->max_ev > 0) {
        /* Most events are kept by some partial match: start loading what s_keep copies
         * while the patterns are tested. */
        if (data != NULL) {
            __builtin_prefetch(data);
        }
        if (e->free_blobs != NULL) {
            __builtin_prefetch(e->free_blobs, 1);
        }
    }
    /* A pattern sees only its tenant's events: tenants never match on each other's data. */
    const char *tenant = ev->tenant != NULL && ev->tenant[0] != '\0' ? ev->tenant : "default";
    const uint32_t *idx = e->by_type[ev->type];
    for (uint32_t i = 0; i < e->n_by_type[ev->type]; i++) {
        struct s_pstate *ps = &e->ps[idx[i]];
        if (ps->pat.enabled && strcmp(ps->pat.tenant, tenant) == 0) {
            s_feed(ps, ev, e->now_ns);
        }
    }
    s_release(e, e->cur_blob);
    e->cur_blob = NULL;
    e->cur_ev = NULL;
    e->cur_data = NULL;
}

json_t *
au_alert_events_json(const struct au_alert *a)
{
    json_t *arr = json_array();
    for (uint32_t i = 0; i < a->n_kept; i++) {
        const struct s_blob *b = a->kept[i];
        vx_event_t *ev = vexfs__v1__event__unpack(NULL, b->len, b->data);
        if (ev != NULL) {
            json_array_append_new(arr, vx_event_to_json(ev));
            vexfs__v1__event__free_unpacked(ev, NULL);
        }
    }
    return arr;
}

/* ---- building ---------------------------------------------------------------------------- */

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
        struct s_pstate *ps = &e->ps[i];
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
        uint64_t types = 0;
        for (uint32_t k = 0; k < ps->pat.n_elems; k++) {
            int t = ps->pat.elems[k].event_type;
            if (t >= 0 && t < S_MAX_TYPES && (types & (1ULL << t)) == 0) {
                types |= 1ULL << t;
                e->by_type[t] = vx_realloc(e->by_type[t], (e->n_by_type[t] + 1) * sizeof(uint32_t));
                e->by_type[t][e->n_by_type[t]++] = (uint32_t)i;
            }
        }
    }
    json_decref(seen);
    if (rc < 0) {
        au_engine_destroy(&e);
        return rc;
    }
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
        struct s_pstate *ps = &e->ps[i];
        struct s_partial *m = ps->age_head;
        while (m != NULL) {
            struct s_partial *next = m->age_next;
            s_partial_free(m);
            m = next;
        }
        free(ps->buckets);
        au_pattern_fini(&ps->pat);
    }
    for (int t = 0; t < S_MAX_TYPES; t++) {
        free(e->by_type[t]);
    }
    free(e->ps);
    free(e->scratch);
    while (e->free_blobs != NULL) {
        struct s_blob *b = e->free_blobs;
        e->free_blobs = b->next;
        free(b);
    }
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

int
au_engine_pattern_stats(const au_engine_t *e, uint32_t i, struct au_pattern_stats *out)
{
    if (i >= e->n) {
        return -ERANGE;
    }
    const struct s_pstate *ps = &e->ps[i];
    out->matches = ps->matches;
    out->evictions = ps->evictions;
    out->expired = ps->expired;
    out->partials = ps->partials;
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
}
