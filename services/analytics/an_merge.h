/* SPDX-License-Identifier: Apache-2.0 */
/* The group's results: final windows every instance of a consumer group publishes per input
 * partition to the results topic, merged into one result per (query, group, window).
 *
 * Each record is keyed (group id, query, group, window start, input partition): a window
 * emitted again — after a crash, a rebalance or a replay — replaces its own earlier record
 * and is never added twice. Every instance reads the whole topic, so any of them answers for
 * the group. Records carry the accumulators' mergeable state (an_partial.h). Watermark
 * records (one per input partition, refreshed by its owner) carry the partition's event-time
 * clock and whether it is idle, which the owners of idle partitions use to close their
 * windows.
 *
 * Bounded: at most max_windows merged windows per query; beyond that the oldest (by start) is
 * forgotten and counted. Not thread-safe. */
#ifndef AN_MERGE_H
#define AN_MERGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "an_query.h"
#include "an_window.h"

typedef struct an_merge an_merge_t;

an_merge_t *an_merge_new(const char *group_id, size_t max_windows);
void an_merge_destroy(an_merge_t **m);

/* The record of a final window: key (caller frees, *klen bytes) and JSON value (caller
 * frees). */
char *an_merge_key(const char *group_id, const struct an_result *r, size_t *klen);
char *an_merge_value(const char *group_id, const struct an_result *r);
/* The watermark record of an input partition. */
char *an_merge_wm_key(const char *group_id, int32_t partition, size_t *klen);
char *an_merge_wm_value(const char *group_id, int32_t partition, uint64_t clock, bool idle);

/* Applies one record of the results topic (borrowed). Returns 0, 1 when it belongs to another
 * consumer group, or -EPROTO when it is not a record of this format. */
int an_merge_apply(an_merge_t *m, const void *val, size_t vlen);

/* The merged final windows of q (the last limit by window start) as a JSON array (new
 * reference). */
json_t *an_merge_results(an_merge_t *m, const struct an_query *q, size_t limit);
/* Forgets the windows of a query (deleted or replaced). */
void an_merge_forget(an_merge_t *m, const char *query);

/* Clocks of the input partitions not in `skip` (the caller's own): *low, the lowest among
 * those not idle (*active tells whether there is one), and *high, the highest of all. */
void an_merge_clocks(const an_merge_t *m, const int32_t *skip, size_t n_skip, uint64_t *low,
                     bool *active, uint64_t *high);

uint64_t an_merge_evicted(const an_merge_t *m);
uint64_t an_merge_records(const an_merge_t *m);

#endif
