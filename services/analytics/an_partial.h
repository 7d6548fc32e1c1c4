/* SPDX-License-Identifier: Apache-2.0 */
/* Mergeable partial results: the state of a window's accumulators in one input partition,
 * as JSON, and the merge of such states from every partition into the group's value.
 *
 * count, sum, min, max and avg merge exactly (counts, sums, extremes). distinct_count keeps
 * the AN_PARTIAL_MAX_ITEMS smallest value hashes (a k-minimum-values sketch): the merge is the
 * union of the sets, exact while every partition held at most that many distinct values, an
 * estimate (k-1)/h_k otherwise. Percentiles keep every value up to AN_PARTIAL_MAX_ITEMS, else
 * that many evenly spaced order statistics each weighing n/k; the merge is the nearest-rank
 * percentile over the weighted union, exact while every partition was exact. Averages of
 * partition percentiles are never taken. */
#ifndef AN_PARTIAL_H
#define AN_PARTIAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "an_agg.h"

#define AN_PARTIAL_MAX_ITEMS 4096u

/* The state of acc as JSON (new reference). */
json_t *an_partial_state(const struct an_agg_spec *spec, const struct an_acc *acc);

/* Merges n states of one aggregation (borrowed; members of a wrong type count as empty).
 * Returns false when there is no value (avg/min/max/percentiles of nothing); *approx is set
 * when the value is an estimate. */
bool an_partial_merge(const struct an_agg_spec *spec, json_t *const *states, size_t n,
                      double *out, bool *approx);

#endif
