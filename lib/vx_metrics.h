/* SPDX-License-Identifier: Apache-2.0 */
/* Metrics registry: counters, gauges and histograms with labels, and their Prometheus text
 * exposition (format 0.0.4, accepted by `promtool check metrics`).
 *
 * Series are looked up (or created) once, then updated on the hot path with one atomic
 * operation and no lock. Lookup and exposition take the registry lock. Every returned series
 * pointer is owned by the registry and stays valid until vx_metrics_destroy. All functions
 * are thread-safe.
 *
 * Labels are given as a NULL-terminated list of name, value pairs, the same names in the
 * same order for every series of one family:
 *
 *     vx_counter_t *dup = vx_metrics_counter(m, "vexfs_events_dropped_total",
 *                                            "Events dropped, by reason.", "reason", "duplicate", NULL);
 *     vx_counter_add(dup, 1);
 */
#ifndef VX_METRICS_H
#define VX_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct vx_metrics vx_metrics_t;
typedef struct vx_counter vx_counter_t;
typedef struct vx_gauge vx_gauge_t;
typedef struct vx_histogram vx_histogram_t;

/* Gauge whose value is computed at scrape time; runs under the registry lock. */
typedef double(vx_gauge_fn)(void *arg);

vx_metrics_t *vx_metrics_new(void);
void vx_metrics_destroy(vx_metrics_t **m);

/* Returns the series for these label values, creating family and series on first use.
 * Returns NULL (and creates nothing) on a programming error: a name that is not a valid
 * Prometheus metric name, a counter name not ending in _total, label names differing from the
 * family's, or one name registered with two types. */
vx_counter_t *vx_metrics_counter(vx_metrics_t *m, const char *name, const char *help, ...)
    __attribute__((sentinel));
vx_gauge_t *vx_metrics_gauge(vx_metrics_t *m, const char *name, const char *help, ...)
    __attribute__((sentinel));
/* bounds: ascending upper bounds (without +Inf), copied; the same for every series of a family. */
vx_histogram_t *vx_metrics_histogram(vx_metrics_t *m, const char *name, const char *help,
                                     const double *bounds, size_t n_bounds, ...)
    __attribute__((sentinel));
/* A gauge without labels computed by fn(arg) at every exposition. Returns 0 or -EINVAL. */
int vx_metrics_gauge_fn(vx_metrics_t *m, const char *name, const char *help, vx_gauge_fn *fn,
                        void *arg);

void vx_counter_add(vx_counter_t *c, uint64_t n);
uint64_t vx_counter_value(const vx_counter_t *c);

void vx_gauge_set(vx_gauge_t *g, double v);
void vx_gauge_add(vx_gauge_t *g, double delta);
double vx_gauge_value(const vx_gauge_t *g);

void vx_histogram_observe(vx_histogram_t *h, double v);
/* For callers that observe many values at once: the bucket v falls into (0..n_bounds, where
 * n_bounds is +Inf), counted by the caller; then vx_histogram_add adds counts[0..n_bounds]
 * and their sum in one go (n_bounds + 2 atomic operations instead of two per value). */
size_t vx_histogram_bucket(const vx_histogram_t *h, double v);
void vx_histogram_add(vx_histogram_t *h, const uint64_t *counts, double sum);
uint64_t vx_histogram_count(const vx_histogram_t *h);
double vx_histogram_sum(const vx_histogram_t *h);
/* Estimated q-quantile (0 < q < 1) by linear interpolation inside the bucket that holds it;
 * 0 when empty; the highest finite bound when it falls in +Inf. */
double vx_histogram_quantile(const vx_histogram_t *h, double q);

/* Fills bounds with n exponential bounds start, start*factor, ...; returns n. */
size_t vx_metrics_exp_bounds(double *bounds, size_t n, double start, double factor);

/* Renders every family in Prometheus text format. Caller owns the result (free()). */
char *vx_metrics_render(vx_metrics_t *m, size_t *len);

#endif
