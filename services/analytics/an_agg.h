/* SPDX-License-Identifier: Apache-2.0 */
/* Accumulators: the running state of one aggregation in one window of one group.
 *
 * count, sum, avg, min and max are exact and merge exactly (session windows merge when an
 * event bridges two sessions). distinct_count is exact up to AN_ACC_MAX_DISTINCT values and
 * stops growing there (the window's result says "saturated"). Percentiles use the
 * nearest-rank definition (the smallest value with at least q of the values at or below it),
 * exact up to AN_ACC_MAX_SAMPLES values, then a uniform reservoir sample of that size. */
#ifndef AN_AGG_H
#define AN_AGG_H

#include <stdbool.h>
#include <stdint.h>

#include "an_query.h"

#define AN_ACC_MAX_DISTINCT (1u << 20)
#define AN_ACC_MAX_SAMPLES (1u << 16)

struct an_acc {
    uint64_t n;          /* events counted (count) or values seen (the others) */
    double sum, min, max;
    uint64_t *set;       /* distinct_count: open-addressing set of value hashes (0 = empty) */
    uint32_t set_n, set_cap;
    bool saturated;
    double *vals;        /* percentiles: the values, or a reservoir of them */
    uint32_t vals_n, vals_cap;
};

void an_acc_init(struct an_acc *acc);
void an_acc_fini(struct an_acc *acc);
/* Adds one event. Events without the field (or, for numeric functions, with a value that is
 * not a number) do not change the accumulator. */
void an_acc_add(const struct an_agg_spec *spec, struct an_acc *acc, const vx_event_t *e);
/* Adds a number directly (what an_acc_add does once the field is read). */
void an_acc_add_number(const struct an_agg_spec *spec, struct an_acc *acc, double v);
/* Folds src into dst; src is left empty. */
void an_acc_merge(const struct an_agg_spec *spec, struct an_acc *dst, struct an_acc *src);
/* The result; false when there is none (no values: avg/min/max/percentiles are null). May
 * reorder the percentile samples. */
bool an_acc_value(const struct an_agg_spec *spec, struct an_acc *acc, double *out);

#endif
