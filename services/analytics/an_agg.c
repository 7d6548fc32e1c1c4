/* SPDX-License-Identifier: Apache-2.0 */
/* Accumulators for count, sum, avg, min, max, distinct_count and percentiles. */
#include "an_agg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vx_mem.h"

void
an_acc_init(struct an_acc *acc)
{
    memset(acc, 0, sizeof *acc);
}

void
an_acc_fini(struct an_acc *acc)
{
    free(acc->set);
    free(acc->vals);
    memset(acc, 0, sizeof *acc);
}

/* Puts h (nonzero) into an open-addressing table with room to spare; true when it was new. */
static bool
s_set_put(uint64_t *set, uint32_t cap, uint64_t h)
{
    uint32_t mask = cap - 1;
    for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
        if (set[i] == h) {
            return false;
        }
        if (set[i] == 0) {
            set[i] = h;
            return true;
        }
    }
}

static void
s_set_grow(struct an_acc *acc)
{
    uint64_t *old = acc->set;
    uint32_t old_cap = acc->set_cap;
    acc->set_cap = old_cap ? old_cap * 2 : 16;
    acc->set = vx_calloc(acc->set_cap, sizeof *acc->set);
    for (uint32_t i = 0; i < old_cap; i++) {
        if (old[i]) {
            s_set_put(acc->set, acc->set_cap, old[i]);
        }
    }
    free(old);
}

static void
s_set_insert(struct an_acc *acc, uint64_t h)
{
    if (h == 0) {
        h = 1; /* 0 marks an empty slot */
    }
    if ((acc->set_n + 1) * 4 > acc->set_cap * 3) {
        if (acc->set_n >= AN_ACC_MAX_DISTINCT) {
            acc->saturated = true;
            return;
        }
        s_set_grow(acc);
    }
    acc->set_n += s_set_put(acc->set, acc->set_cap, h);
}

static void
s_sample(struct an_acc *acc, double v)
{
    if (acc->vals_n < AN_ACC_MAX_SAMPLES) {
        if (acc->vals_n == acc->vals_cap) {
            acc->vals_cap = acc->vals_cap ? acc->vals_cap * 2 : 16;
            acc->vals = vx_realloc(acc->vals, acc->vals_cap * sizeof *acc->vals);
        }
        acc->vals[acc->vals_n++] = v;
        return;
    }
    /* Reservoir sampling (Algorithm R) with a hash of the count as the random source, so a
     * replay of the same events gives the same sample. */
    uint64_t r = vx_hash64(&acc->n, sizeof acc->n, 0x5eed) % acc->n;
    if (r < AN_ACC_MAX_SAMPLES) {
        acc->vals[r] = v;
    }
    acc->saturated = true;
}

void
an_acc_add_number(const struct an_agg_spec *spec, struct an_acc *acc, double v)
{
    if (acc->n == 0 || v < acc->min) {
        acc->min = v;
    }
    if (acc->n == 0 || v > acc->max) {
        acc->max = v;
    }
    acc->n++;
    acc->sum += v;
    if (spec->fn >= AN_FN_P50) {
        s_sample(acc, v);
    }
}

void
an_acc_add(const struct an_agg_spec *spec, struct an_acc *acc, const vx_event_t *e)
{
    if (spec->fn == AN_FN_COUNT) {
        if (spec->has_field) {
            char buf[32];
            if (!an_field_text(&spec->field, e, buf, sizeof buf)) {
                return; /* count of events that have the field */
            }
        }
        acc->n++;
        return;
    }
    if (spec->fn == AN_FN_DISTINCT) {
        char buf[32];
        const char *s = an_field_text(&spec->field, e, buf, sizeof buf);
        if (s) {
            acc->n++;
            s_set_insert(acc, vx_hash64(s, strlen(s), 0x9e3779b97f4a7c15ULL));
        }
        return;
    }
    double v;
    if (an_field_number(&spec->field, e, &v)) {
        an_acc_add_number(spec, acc, v);
    }
}

void
an_acc_merge(const struct an_agg_spec *spec, struct an_acc *dst, struct an_acc *src)
{
    if (src->n) {
        if (dst->n == 0 || src->min < dst->min) {
            dst->min = src->min;
        }
        if (dst->n == 0 || src->max > dst->max) {
            dst->max = src->max;
        }
    }
    dst->sum += src->sum;
    if (spec->fn == AN_FN_DISTINCT) {
        for (uint32_t i = 0; i < src->set_cap; i++) {
            if (src->set[i]) {
                s_set_insert(dst, src->set[i]);
            }
        }
    }
    if (spec->fn >= AN_FN_P50) {
        for (uint32_t i = 0; i < src->vals_n; i++) {
            dst->n++;
            s_sample(dst, src->vals[i]);
            dst->n--;
        }
    }
    dst->n += src->n;
    dst->saturated |= src->saturated;
    an_acc_fini(src);
}

static int
cb_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

bool
an_acc_value(const struct an_agg_spec *spec, struct an_acc *acc, double *out)
{
    switch (spec->fn) {
    case AN_FN_COUNT:
        *out = (double)acc->n;
        return true;
    case AN_FN_SUM:
        *out = acc->sum;
        return true;
    case AN_FN_DISTINCT:
        *out = (double)acc->set_n;
        return true;
    case AN_FN_AVG:
        *out = acc->n ? acc->sum / (double)acc->n : 0;
        return acc->n > 0;
    case AN_FN_MIN:
        *out = acc->min;
        return acc->n > 0;
    case AN_FN_MAX:
        *out = acc->max;
        return acc->n > 0;
    case AN_FN_P50:
    case AN_FN_P90:
    case AN_FN_P99: {
        if (!acc->vals_n) {
            return false;
        }
        double q = spec->fn == AN_FN_P50 ? 0.5 : spec->fn == AN_FN_P90 ? 0.9 : 0.99;
        qsort(acc->vals, acc->vals_n, sizeof *acc->vals, cb_cmp_double);
        /* the epsilon keeps 0.9 * 10 from rounding up to rank 10 */
        size_t rank = (size_t)ceil(q * (double)acc->vals_n - 1e-9);
        *out = acc->vals[rank ? rank - 1 : 0];
        return true;
    }
    }
    return false;
}
