/* SPDX-License-Identifier: Apache-2.0 */
/* Internals of the CEP engine shared by its files: au_engine.c (building, dispatch of an
 * event to the patterns of its type, inspection), au_engine_match.c (kept events, partitions,
 * partial matches and the four kinds) and au_engine_clock.c (event time: reorder buffers and
 * watermarks). Not for other files.
 *
 * Layout: per pattern a hash of partitions, each holding the partition's partial matches;
 * every partial match is also on its pattern's age list (for the cap) and on the timer wheel
 * of its pattern's clock (for expiry). A partition exists only while it holds a partial match,
 * so memory is bounded by the cap.
 *
 * Kept events: the event being fed is packed once, on the first partial match that keeps it,
 * into a reference-counted blob; partial matches hold references in an array that lives in
 * their own allocation (a ring of the most recent ones; one slot per element for a
 * conjunction), so keeping costs no allocation beyond the blob. */
#ifndef AU_ENGINE_PRIV_H
#define AU_ENGINE_PRIV_H

#include <string.h>

#include "au_engine.h"
#include "au_wheel.h"
#include "vx_arena.h"

#define AU_ENG_MAX_TYPES 64   /* event type values indexed for dispatch */

struct au_part;
struct au_pstate;
struct au_clock;

/* One kept event: its packed protobuf, shared by every partial match that keeps it. */
struct au_blob {
    uint32_t refs;
    uint32_t len;
    union {
        uint64_t seq;          /* the engine's event count when it came: orders a match's
                                * events */
        struct au_blob *next;  /* on the engine's free list */
    };
    uint8_t data[];
};

/* Stands for an event not kept because of the byte budget. */
extern struct au_blob au_blob_over;

struct au_partial {
    struct au_timer timer;   /* first member: the wheel hands back this pointer */
    struct au_partial *age_prev, *age_next;   /* the pattern's partials, oldest first */
    struct au_partial *p_prev, *p_next;       /* the partition's partials */
    struct au_part *part;
    struct au_pstate *ps;
    uint64_t first_ns;
    uint64_t last_ns;
    uint32_t next;   /* sequence: next element; threshold: events in the ring */
    uint32_t head;   /* threshold: index of the oldest event in the ring */
    uint32_t mask;   /* conjunction: elements seen */
    struct au_blob **ev; /* in this allocation, after times: ring of kept events (sequence,
                          * threshold, absence) or one per element (conjunction); NULL when
                          * none is kept, &au_blob_over when over budget */
    uint16_t ev_cap, ev_n, ev_head;
    uint64_t times[]; /* conjunction: latest time per element; threshold: ring of times */
};

struct au_part {
    uint64_t hash;
    struct au_part *hnext;   /* in the pattern's bucket; on the engine's free list when idle */
    struct au_part **hpprev; /* what points at it: its bucket, or the previous one's hnext */
    struct au_partial *head;
    uint32_t key_len;
    char key[];              /* NUL-terminated, in this allocation */
};

/* One pattern at run time. */
struct au_pstate {
    struct au_pattern pat;
    uint32_t index;
    uint32_t tenant;         /* index into e->tenants */
    au_engine_t *e;
    bool event_time;         /* runs on its clock's watermark, else on the engine's time */
    struct au_clock *clock;  /* event time: the clock of its tenant and lateness */
    au_wheel_t *wheel;       /* where its partial matches expire: the engine's or the clock's */
    uint64_t types;          /* bit t: an element has event type t */
    struct au_part **buckets;
    uint32_t n_buckets;
    uint32_t n_parts;
    struct au_partial *age_head, *age_tail;
    uint64_t partials;
    uint64_t matches, evictions, expired;
    size_t partial_size;     /* every partial match of the pattern has this size */
    struct au_partial *free_partials; /* idle ones, linked by p_next, for reuse */
    uint32_t n_free_partials;
};

/* The value of a field for the event being matched, computed on first use. Fields are
 * interned across the engine's patterns: a field that many conditions and partition keys
 * name is looked up once per event. */
struct au_memo_field {
    struct au_field f;       /* kind and name, borrowed from a pattern */
    uint32_t gen;            /* valid when equal to e->gen */
    bool hashed;
    const char *val;         /* NULL: the event does not carry it */
    size_t len;
    uint64_t hash;           /* of val, when hashed */
    char buf[16];            /* priority, formatted */
};

/* The result of a condition for the event being matched, computed on first use; equal
 * conditions (same field, operator and value) of different patterns share one. */
struct au_memo_cond {
    const struct au_cond *c; /* the first pattern's, borrowed */
    uint32_t gen;
    bool holds;
};

/* An event held until the watermark passes it (event time): its packed bytes. */
struct au_held {
    uint64_t ts;     /* event time */
    uint64_t seq;    /* arrival order, for events of equal time */
    uint32_t len;
    uint8_t data[];
};

/* One element of an enabled pattern, in the list of its event type: what
 * dispatch reads for every event of that type, laid out together so that the patterns an
 * event does not match are never touched. */
struct au_tentry {
    uint32_t pattern;        /* index into e->ps; a type's entries are in pattern order */
    uint32_t bit;            /* 1 << the element's index */
    uint32_t tenant;
    uint32_t n_conds;
    const uint32_t *conds;   /* the memo ids of the element's conditions (into e->tconds) */
};

/* The element lists by event type of one group of patterns: the processing-time ones, or
 * those of one event-time clock. */
struct au_dispatch {
    struct au_tentry *tlist[AU_ENG_MAX_TYPES];
    uint32_t n_tlist[AU_ENG_MAX_TYPES];
};

/* Event time of one tenant at one allowed lateness: the patterns that share them share the
 * watermark, the reorder buffer and the timer wheel. */
struct au_clock {
    char *tenant;
    uint32_t tenant_id;      /* index into e->tenants */
    struct au_dispatch disp; /* its patterns' elements by type */
    uint64_t lateness_ns;
    uint64_t types;          /* union of its patterns' types: others are not held */
    uint32_t *patterns;      /* indexes into e->ps, in pattern order */
    uint32_t n_patterns;
    bool started;            /* an event has been seen */
    uint64_t max_ts;         /* highest event time seen */
    uint64_t wm;             /* the watermark: every held event at or before it is released */
    uint64_t last_arrival;   /* engine (processing) time of its tenant's last event */
    au_wheel_t *wheel;       /* in event time; created with the first event */
    struct au_held **heap;   /* min-heap by (ts, seq) */
    uint32_t n_held, cap_held;
    uint64_t held_bytes;
};

struct au_engine {
    struct au_pstate *ps;
    uint32_t n;
    struct au_dispatch disp;      /* the processing-time patterns */
    uint32_t *tconds;
    struct au_pstate **hit_ps;    /* n entries: the patterns an event hits, with */
    uint32_t *hit_mask;           /* the elements it hits and */
    struct au_key *hit_key;       /* its partition key for each */
    uint64_t empty_hash;          /* of the key of unpartitioned patterns */
    /* the distinct tenants of the patterns, and the lookup from name to index */
    char **tenants;
    uint32_t n_tenants;
    json_t *tenant_ids;           /* {"tenant": index} when there are many */
    /* per-event memo of fields and conditions */
    struct au_memo_field *mfields;
    uint32_t n_mfields;
    struct au_memo_cond *mconds;
    uint32_t n_mconds;
    uint32_t gen;                 /* the event being matched; 0 is never used */
    const vx_event_t *mev;        /* the event the memo describes */
    struct au_part *free_parts;   /* idle partitions with short keys, for reuse */
    uint32_t n_free_parts;
    au_wheel_t *wheel;            /* processing time */
    uint32_t max_partials;
    uint32_t max_ev;              /* max_match_events */
    uint64_t max_bytes;
    uint64_t kept_bytes, kept_events;
    uint64_t truncated, over_budget;
    const vx_event_t *cur_ev;     /* the event being fed */
    const void *cur_data;         /* its packed bytes when at hand, else NULL */
    size_t cur_len;
    struct au_blob *cur_blob;     /* cur_ev packed (one reference held by the engine), or
                                   * &au_blob_over, or NULL until a partial match keeps it */
    struct au_blob **scratch;     /* max_ev + 1 entries: a match's kept events for firing */
    struct au_blob *free_blobs;   /* idle chunks of AU_ENG_BLOB_SMALL bytes */
    uint32_t n_free;
    au_alert_fn *on_alert;
    void *arg;
    uint64_t now_ns;
    uint64_t events, alerts, matches, evictions, partials;
    /* event time */
    struct au_clock *clocks;
    uint32_t n_clocks;
    uint64_t idle_ns;
    uint64_t max_held_bytes, held_bytes, held;
    uint64_t late, no_time, forced;
    vx_arena_t *release_arena;    /* a released event, unpacked */
};

#define AU_ENG_HASH_SEED 0x6175746f6d617465ULL

/* Starts matching ev: the memo forgets the previous event. */
static inline void
au_memo_begin(au_engine_t *e, const vx_event_t *ev)
{
    if (++e->gen == 0) {
        /* After 2^32 events: clear the stamps so that none is taken for current. */
        for (uint32_t i = 0; i < e->n_mfields; i++) {
            e->mfields[i].gen = 0;
        }
        for (uint32_t i = 0; i < e->n_mconds; i++) {
            e->mconds[i].gen = 0;
        }
        e->gen = 1;
    }
    e->mev = ev;
}

/* The value of interned field id for the event (NULL when absent). */
static inline struct au_memo_field *
au_memo_field(au_engine_t *e, uint32_t id)
{
    struct au_memo_field *f = &e->mfields[id];
    if (f->gen != e->gen) {
        f->gen = e->gen;
        f->hashed = false;
        f->val = au_field_get(&f->f, e->mev, f->buf, sizeof f->buf);
        f->len = f->val != NULL ? strlen(f->val) : 0;
    }
    return f;
}

/* Whether every condition of el holds for the event. */
static inline bool
au_memo_element(au_engine_t *e, const struct au_element *el)
{
    for (uint32_t i = 0; i < el->n_conds; i++) {
        struct au_memo_cond *mc = &e->mconds[el->conds[i].memo];
        if (mc->gen != e->gen) {
            mc->gen = e->gen;
            mc->holds = au_cond_test(mc->c, au_memo_field(e, mc->c->field.memo)->val);
        }
        if (!mc->holds) {
            return false;
        }
    }
    return true;
}

/* ---- au_engine.c ---- */

/* Offers ev (data: its packed bytes, or NULL) at time now_ns to the patterns of d, whose
 * tenant is tid: finds the elements it satisfies, then matches the patterns it hits. */
void au_dispatch_run(au_engine_t *e, const struct au_dispatch *d, const vx_event_t *ev,
                     uint32_t tid, const void *data, size_t len, uint64_t now_ns);

/* ---- au_engine_match.c ---- */

/* A partition key of the event: its bytes (borrowed from the event) and their hash. */
struct au_key {
    const char *s;
    size_t len;
    uint64_t h;
};

/* Offering an event to one pattern once the elements it hits are known (bit i: element i;
 * e->cur_* and the memo describe the event): the event's partition key for ps (false: it
 * lacks the field, the pattern ignores it); a hint to load the partition's bucket; then the
 * match at time now_ns (the engine's, or the event's time). */
bool au_match_key(struct au_pstate *ps, struct au_key *k);
void au_match_prefetch(const struct au_pstate *ps, const struct au_key *k);
void au_match_hit(struct au_pstate *ps, uint32_t hit, const struct au_key *k, uint64_t now_ns);
/* The wheels' callback: a partial match's deadline passed (arg: the engine). */
void au_match_expire(struct au_timer *t, uint64_t now_ns, void *arg);
/* Frees every partial match of the pattern. */
void au_match_clear(struct au_pstate *ps);
/* Drops one reference to a kept event (NULL and &au_blob_over are ignored). */
void au_blob_release(au_engine_t *e, struct au_blob *b);
/* Frees the idle chunks kept for reuse. */
void au_blob_free_idle(au_engine_t *e);

/* ---- au_engine_clock.c ---- */

/* Creates the clocks of the event-time patterns (after every pattern is parsed). */
void au_clock_build(au_engine_t *e, const struct au_engine_opts *opts);
/* Frees the clocks and what they hold (partial matches are freed before). */
void au_clock_destroy_all(au_engine_t *e);
/* Hands ev (packed bytes data[0..len) when at hand) to the clocks of its tenant: held until
 * their watermark passes it, or dropped as late. now_ns is the engine's time. */
void au_clock_on_event(au_engine_t *e, const vx_event_t *ev, const void *data, size_t len,
                       uint64_t now_ns);
/* Moves the clocks idle for idle_timeout on with the engine's time. */
void au_clock_advance(au_engine_t *e, uint64_t now_ns);

#endif
