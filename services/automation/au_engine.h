/* SPDX-License-Identifier: Apache-2.0 */
/* The complex event processing engine: a set of patterns (au_pattern.h) and, per pattern and
 * partition, the partial matches in progress.
 *
 * Time: each pattern runs in processing time or in event time (its time_mode, else the
 * engine's default).
 *
 *   processing  the pattern's time is the engine's time, whatever the caller passes with each
 *               event (monotonic ns in the daemon, injected in tests); it must not go back (an
 *               earlier time is treated as the latest seen). Events are matched as they come.
 *   event       the pattern's time is the event's timestamp_ns (ingest_ns when it has none;
 *               an event with neither is counted in events_no_time and not matched). The
 *               patterns of one tenant with one allowed lateness share a clock whose
 *               watermark is the highest event time seen minus the lateness; events wait
 *               until the watermark passes them and are then matched in event-time order
 *               (arrival order among equal times), each at its own time. An event behind the
 *               watermark is late: not matched, counted in events_late. Deadlines (expiry,
 *               absences) are on the watermark: an absence fires once the watermark passes
 *               start + T, with time_ns start + T + 1. So the matches depend only on the
 *               events and their times, not on when they arrive, as long as each arrives
 *               within the lateness: a live run and a replay give the same matches, at the
 *               cost of a delay of the lateness. When a clock's tenant sends nothing for
 *               idle_timeout_ns (engine time), its watermark moves on as if event time passed
 *               at the engine's pace since its last event (so the last absence fires without
 *               a later event); events behind it then are late. Held events of all clocks take
 *               at most max_reorder_bytes: beyond it, the clock holding the most releases its
 *               oldest events early (counted in forced_releases), which may make later events
 *               late.
 *
 * Partial matches expire on a
 * timer wheel when their window (or an element's within_ms) has passed, so memory follows the
 * live matches and expiry costs nothing per event. Each pattern holds at most
 * max_partial_matches partial matches; a new one beyond that evicts the pattern's oldest, and
 * evictions are counted. Absence patterns fire from the wheel: au_engine_advance (called by
 * au_engine_on_event too) must be called regularly for them to fire on time.
 *
 * Matching events: each partial match keeps the events that make it up (packed protobuf,
 * shared between the partial matches and patterns that keep the same event, freed with the
 * last of them), at most max_match_events per partial match: when a match has more (a
 * threshold with min_occurrences above the cap, a sequence longer than it), the most recent
 * ones are kept and the others counted as truncated. Every kept event counts its packed size
 * against max_match_event_bytes, all patterns together; an event that would go over is not
 * kept (counted as over budget) and the match goes on without it. So the events kept take at
 * most max_match_event_bytes, and the references to them at most patterns x
 * max_partial_matches x max_match_events pointers. A completed match hands its kept events to
 * the alert callback in the order they came (au_alert_events_json); an absence keeps the
 * event of its first element.
 *
 * Not thread-safe: one thread feeds an engine. Replacing the pattern set builds a new engine
 * (au_engine_new) and carries the counters over (au_engine_inherit); partial matches are not
 * carried. */
#ifndef AU_ENGINE_H
#define AU_ENGINE_H

#include <jansson.h>
#include <stdint.h>

#include "au_pattern.h"
#include "vx_event.h"

#define AU_DEFAULT_MAX_PARTIALS 10000
#define AU_MAX_PATTERNS 10000
#define AU_DEFAULT_MATCH_EVENTS 16
#define AU_MAX_MATCH_EVENTS 1024
#define AU_DEFAULT_MATCH_EVENT_BYTES (64ULL << 20)
#define AU_DEFAULT_REORDER_BYTES (64ULL << 20)

typedef struct au_engine au_engine_t;

/* One alert action of one completed match. Strings are borrowed, valid during the call. */
struct au_alert {
    const char *pattern_id;
    uint32_t pattern;        /* index */
    uint32_t action;         /* index of the action in the pattern: 0 once per match */
    enum au_kind kind;
    enum au_severity severity;
    const char *message;
    const char *partition;   /* the partition key; "" when the pattern is not partitioned */
    uint64_t time_ns;        /* engine time of the match */
    uint64_t first_ns;       /* time of the match's first event */
    uint32_t n_events;       /* events that made up the match (1 for an absence: its start) */
    const void *const *kept; /* the kept events, oldest first: opaque, see
                              * au_alert_events_json */
    uint32_t n_kept;
    uint32_t n_truncated;    /* matching events left out by max_match_events */
    uint32_t n_over_budget;  /* matching events left out by max_match_event_bytes */
    const vx_event_t *event; /* the event that completed the match; NULL for an absence,
                              * which fires on time (borrowed, valid during the call) */
    bool event_time;         /* the pattern runs in event time: times are event times */
};

/* The kept events of a match, oldest first, as a JSON array of events (vx_event_to_json; new
 * reference). One event that filled several conjunction elements appears once. */
json_t *au_alert_events_json(const struct au_alert *a);

typedef void(au_alert_fn)(const struct au_alert *a, void *arg);

struct au_engine_opts {
    uint32_t max_partials;   /* per pattern; 0: AU_DEFAULT_MAX_PARTIALS */
    au_alert_fn *on_alert;   /* may be NULL: matches are only counted */
    void *arg;
    uint64_t now_ns;         /* the engine's start time */
    /* Events kept per partial match, 0..AU_MAX_MATCH_EVENTS (larger is taken as the max);
     * 0 keeps none. Not defaulted: zeroed options keep no events. */
    uint32_t max_match_events;
    uint64_t max_match_event_bytes; /* all kept events; 0: AU_DEFAULT_MATCH_EVENT_BYTES */
    /* Event time (see above). time_mode: of patterns without their own (AU_TIME_DEFAULT is
     * processing). allowed_lateness_ns: of event-time patterns without their own.
     * idle_timeout_ns: 0 never moves a watermark without events. max_reorder_bytes: 0 is
     * AU_DEFAULT_REORDER_BYTES. */
    enum au_time_mode time_mode;
    uint64_t allowed_lateness_ns;
    uint64_t idle_timeout_ns;
    uint64_t max_reorder_bytes;
};

/* Validates and compiles patterns (a JSON array, borrowed; NULL for none). Returns 0 and *out
 * (caller owns), or a negative errno with *out untouched and a message in err such as
 *   patterns[1] (id "burst"): elements[0].conditions[0].op: expected eq, ne, ...
 * -EINVAL for a bad pattern or a duplicate id, -E2BIG for more than AU_MAX_PATTERNS. */
int au_engine_new(json_t *patterns, const struct au_engine_opts *opts, au_engine_t **out,
                  char *err, size_t errlen);
/* Accepts NULL; sets *e to NULL. */
void au_engine_destroy(au_engine_t **e);
/* Copies per-pattern counters (by id) and the engine totals from old. */
void au_engine_inherit(au_engine_t *e, const au_engine_t *old);

/* Feeds one event at time now_ns; alerts go to opts.on_alert before it returns (the callback
 * must not call back into the engine). */
void au_engine_on_event(au_engine_t *e, const vx_event_t *ev, uint64_t now_ns);
/* The same with ev's packed protobuf at hand (data[0..len), borrowed for the call, as received
 * from the wire): an event that is kept is copied instead of packed again. */
void au_engine_on_event_packed(au_engine_t *e, const vx_event_t *ev, const void *data,
                               size_t len, uint64_t now_ns);
/* Moves time to now_ns: expires partial matches and fires absences that are due, and moves
 * the event-time clocks idle for idle_timeout_ns on. */
void au_engine_advance(au_engine_t *e, uint64_t now_ns);

/* The patterns as given (new reference, an array in input order). */
json_t *au_engine_patterns_json(const au_engine_t *e);
uint32_t au_engine_pattern_count(const au_engine_t *e);
/* Borrowed, valid while e lives; NULL when out of range. */
const struct au_pattern *au_engine_pattern(const au_engine_t *e, uint32_t i);
/* Index of the pattern with this id, or -1. */
int32_t au_engine_pattern_index(const au_engine_t *e, const char *id);
/* True when pattern i runs in event time (its own time_mode or the engine's default). */
bool au_engine_pattern_event_time(const au_engine_t *e, uint32_t i);

struct au_pattern_stats {
    uint64_t matches;      /* completed matches (each may raise several alerts) */
    uint64_t evictions;    /* partial matches dropped by the cap */
    uint64_t expired;      /* partial matches that ran out of time without matching */
    uint64_t partials;     /* partial matches held now */
    bool event_time;       /* runs in event time */
    uint64_t watermark_ns; /* event time: its clock's watermark (0 before its first event) */
};
/* Returns 0, or -ERANGE when i is out of range. */
int au_engine_pattern_stats(const au_engine_t *e, uint32_t i, struct au_pattern_stats *out);

struct au_engine_stats {
    uint64_t events;
    uint64_t alerts;
    uint64_t matches;
    uint64_t evictions;
    uint64_t partials;     /* held now, all patterns */
    uint64_t events_truncated;   /* matching events of completed matches not kept: cap */
    uint64_t events_over_budget; /* ... not kept: byte budget */
    uint64_t kept_events;        /* distinct events held now */
    uint64_t kept_bytes;         /* their packed size (with a small header each) */
    uint64_t events_late;        /* event time: behind the watermark of a clock that wanted
                                  * them, not matched there */
    uint64_t events_no_time;     /* event time: wanted, but without timestamp_ns and ingest_ns */
    uint64_t held_events;        /* event time: waiting for the watermark now */
    uint64_t held_bytes;
    uint64_t forced_releases;    /* held events released early by max_reorder_bytes */
};
void au_engine_stats(const au_engine_t *e, struct au_engine_stats *out);

#endif
