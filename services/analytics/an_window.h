/* SPDX-License-Identifier: Apache-2.0 */
/* The windowing engine: event-time windows (tumbling, sliding, session) per query and group.
 *
 * One engine holds the open windows of every query for one input stream: one Kafka
 * partition, or the ZeroMQ stream. Keeping a partition's state apart is what lets a
 * partition move to another instance of the daemon without counting an event twice: the
 * state is dropped on revoke and rebuilt by the new owner from the committed offset.
 *
 * Time: the engine's clock is the highest event timestamp_ns it has seen. A query's watermark
 * is that clock minus its allowed lateness; a window is final, and emitted, once the watermark
 * reaches its end. An event for a window that is already closed is dropped and counted
 * ("late"); an event behind the clock whose windows are still open updates them.
 *
 * Windows of fixed size start at multiples of their slide (tumbling: of their size) counted
 * from Unix time 0, so every instance cuts the same windows.
 *
 * Sessions: an event opens [t, t+gap) and merges every open session it touches; a late event
 * only joins open sessions (one that would touch an already emitted session starts its own).
 *
 * Memory: at most max_groups groups with open windows per query. A new group beyond that
 * evicts the group holding the oldest window: its windows are emitted at once, marked
 * "evicted", and counted.
 *
 * Not thread-safe: one thread drives an engine. */
#ifndef AN_WINDOW_H
#define AN_WINDOW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "an_query.h"

struct an_acc;

typedef struct an_engine an_engine_t;

/* A window's result, handed to the emit callback; everything is borrowed for the call. */
struct an_result {
    const struct an_query *query;
    int32_t partition;       /* the engine's stream: Kafka partition, -1 for ZeroMQ */
    json_t *group;           /* {"metadata.user_id":"42", ...}; {} without group_by */
    uint64_t start_ns, end_ns;
    uint64_t events;         /* events that went into the window */
    const double *values;    /* one per aggregation, in query order */
    const bool *has_value;   /* false: no value (avg of nothing): null in JSON */
    const struct an_acc *accs; /* the accumulators, one per aggregation (mergeable state) */
    bool saturated;          /* a distinct/percentile aggregation hit its bound */
    bool final;              /* closed by the watermark (false: a snapshot of an open window) */
    bool evicted;            /* closed early by the group bound */
};

typedef void(an_emit_fn)(const struct an_result *r, void *arg);

struct an_query_stats {
    uint64_t matched;        /* events that passed the query's types and filters */
    uint64_t dropped_late;   /* events whose windows had all closed */
    uint64_t dropped_replay; /* the same while replaying what a previous owner processed */
    uint64_t skipped;        /* windows not emitted: they start before a replay's timestamp */
    uint64_t evicted_groups;
    uint64_t emitted;        /* final windows emitted */
    uint64_t open_groups;
    uint64_t open_windows;
};

/* emit(r, arg) is called for each final window, from an_engine_process/an_engine_advance. */
an_engine_t *an_engine_new(int32_t partition, size_t max_groups, an_emit_fn *emit, void *arg);
/* Discards open windows without emitting them. */
void an_engine_destroy(an_engine_t **e);

/* Adds a query (borrowed: it must outlive the engine or be removed first). Returns 0 or
 * -EEXIST when a query with this id is there. */
int an_engine_add_query(an_engine_t *e, const struct an_query *q);
/* Removes a query and discards its windows. Returns 0 or -ENOENT. */
int an_engine_remove_query(an_engine_t *e, const char *id);

/* Processes one event through every query. */
void an_engine_process(an_engine_t *e, const vx_event_t *ev);

/* Clock and replay. The clock can only move forward; set_clock restores the clock a previous
 * owner reached, so windows it already emitted stay closed and their events count as
 * replayed, not late, while set_replaying is on. */
uint64_t an_engine_clock(const an_engine_t *e);
void an_engine_set_clock(an_engine_t *e, uint64_t clock_ns);
void an_engine_set_replaying(an_engine_t *e, bool on);
/* Moves the clock forward to clock_ns (never back) and emits every window the new watermark
 * closes, as an event at that time would. Used to let an idle input's windows close. */
void an_engine_advance(an_engine_t *e, uint64_t clock_ns);
/* Windows that start before start_ns are discarded when they close instead of emitted
 * (counted as skipped): a replay from a timestamp sees only part of them. 0: off. */
void an_engine_set_min_start(an_engine_t *e, uint64_t start_ns);

/* The start of the oldest open window over all queries (UINT64_MAX when none): events older
 * than that are no longer needed by any window. */
uint64_t an_engine_low_time(const an_engine_t *e);

/* Calls fn for every open window of query id (final = false). Returns 0 or -ENOENT. */
int an_engine_snapshot(an_engine_t *e, const char *id, an_emit_fn *fn, void *arg);
/* Adds this engine's counters for query id to *st. Returns 0 or -ENOENT. */
int an_engine_stats(const an_engine_t *e, const char *id, struct an_query_stats *st);

#endif
