/* SPDX-License-Identifier: Apache-2.0 */
/* Reading one metric from a Prometheus text exposition (what GET /metrics returns). */
#ifndef AN_PROM_H
#define AN_PROM_H

#include <stdbool.h>
#include <stddef.h>

/* Sums the samples of `metric` whose labels include every keys[i]="vals[i]". Returns the
 * number of series that matched (0: none, *out is then 0). Malformed lines are skipped. */
int an_prom_sum(const char *text, size_t len, const char *metric, char *const *keys,
                char *const *vals, size_t n, double *out);

/* Whether text looks like a Prometheus text exposition: at least one "# TYPE" or "# HELP"
 * line, or a sample line (a metric name, optional {labels}, then a number). An HTML or JSON
 * page, or plain words, is not. */
bool an_prom_is_exposition(const char *text, size_t len);

#endif
