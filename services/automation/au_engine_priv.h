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
    char *key;
    uint64_t hash;
    struct au_part *hnext;
    struct au_partial *head;
};

/* One pattern at run time. */
struct au_pstate {
    struct au_pattern pat;
    uint32_t index;
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
};

/* An event held until the watermark passes it (event time): its packed bytes. */
struct au_held {
    uint64_t ts;     /* event time */
    uint64_t seq;    /* arrival order, for events of equal time */
    uint32_t len;
    uint8_t data[];
};

/* Event time of one tenant at one allowed lateness: the patterns that share them share the
 * watermark, the reorder buffer and the timer wheel. */
struct au_clock {
    char *tenant;
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
    /* Processing-time patterns by event type: indexes into ps. */
    uint32_t *by_type[AU_ENG_MAX_TYPES];
    uint32_t n_by_type[AU_ENG_MAX_TYPES];
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

/* ---- au_engine_match.c ---- */

/* Offers ev at time now_ns (the engine's, or its event time) to one pattern whose element
 * types include ev's. e->cur_* describe ev. */
void au_match_feed(struct au_pstate *ps, const vx_event_t *ev, uint64_t now_ns);
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
