/* SPDX-License-Identifier: Apache-2.0 */
/* Anomaly detection on window results: per query, partition, group and aggregation, an
 * exponentially weighted mean and variance of the closed windows' values; a value whose
 * z-score |x - mean| / stddev exceeds the query's threshold, once min_windows windows were
 * seen, is an anomaly. A series that was constant and changes is an anomaly too (its z-score
 * is infinite and shown as null). Window values are judged before they update the series, so
 * an outlier does not hide itself.
 *
 * Bounded: at most max_series series (further ones are not tracked and are counted) and the
 * last max_records anomalies. Not thread-safe. */
#ifndef AN_ANOMALY_H
#define AN_ANOMALY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "an_window.h"

typedef struct an_anomaly an_anomaly_t;

an_anomaly_t *an_anomaly_new(size_t max_series, size_t max_records);
void an_anomaly_destroy(an_anomaly_t **a);

/* Judges every value of a final window and updates the series. Returns the number of
 * anomalies found in it. */
int an_anomaly_observe(an_anomaly_t *a, const struct an_result *r);

/* The recorded anomalies, oldest first, of one query (NULL: all) as a JSON array (new
 * reference). */
json_t *an_anomaly_list(const an_anomaly_t *a, const char *query);
/* Forgets the series and records of a query (deleted or replaced). */
void an_anomaly_forget(an_anomaly_t *a, const char *query);

uint64_t an_anomaly_total(const an_anomaly_t *a);
uint64_t an_anomaly_untracked(const an_anomaly_t *a);

#endif
