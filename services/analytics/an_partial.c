/* SPDX-License-Identifier: Apache-2.0 */
/* Partial window states as JSON and their merge across partitions. */
#include "an_partial.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vx_mem.h"

static int
cb_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int
cb_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct s_wv {
    double v, w;
};

static int
cb_cmp_wv(const void *a, const void *b)
{
    double x = ((const struct s_wv *)a)->v, y = ((const struct s_wv *)b)->v;
    return x < y ? -1 : x > y;
}

/* A value of the state as JSON: an integer when it is one (sizes, counts and their sums
 * usually are), which jansson writes and reads back in a fraction of the time a real takes
 * (%.17g and strtod); readers take either as a number, so the value is the same. */
static json_t *
s_number(double v)
{
    if (v == floor(v) && fabs(v) < 9007199254740992.0 && !(v == 0 && signbit(v))) {
        return json_integer((json_int_t)v);
    }
    return json_real(v);
}

static json_t *
s_distinct_state(const struct an_acc *acc)
{
    uint64_t *h = vx_calloc(acc->set_n ? acc->set_n : 1, sizeof *h);
    size_t n = 0;
    for (uint32_t i = 0; i < acc->set_cap && n < acc->set_n; i++) {
        if (acc->set[i]) {
            h[n++] = acc->set[i];
        }
    }
    qsort(h, n, sizeof *h, cb_cmp_u64);
    bool exact = !acc->saturated && n <= AN_PARTIAL_MAX_ITEMS;
    size_t keep = n < AN_PARTIAL_MAX_ITEMS ? n : AN_PARTIAL_MAX_ITEMS;
    json_t *arr = json_array();
    for (size_t i = 0; i < keep; i++) {
        json_array_append_new(arr, json_integer((json_int_t)h[i]));
    }
    free(h);
    return json_pack("{s:o, s:b}", "h", arr, "exact", exact);
}

static json_t *
s_samples_state(const struct an_acc *acc)
{
    json_t *arr = json_array();
    bool exact = !acc->saturated && acc->vals_n <= AN_PARTIAL_MAX_ITEMS;
    double w = 1;
    if (exact) {
        for (uint32_t i = 0; i < acc->vals_n; i++) {
            json_array_append_new(arr, s_number(acc->vals[i]));
        }
    } else if (acc->vals_n) {
        double *v = vx_calloc(acc->vals_n, sizeof *v);
        memcpy(v, acc->vals, acc->vals_n * sizeof *v);
        qsort(v, acc->vals_n, sizeof *v, cb_cmp_double);
        size_t k = acc->vals_n < AN_PARTIAL_MAX_ITEMS ? acc->vals_n : AN_PARTIAL_MAX_ITEMS;
        for (size_t i = 0; i < k; i++) {
            size_t idx = (size_t)(((double)i + 0.5) * (double)acc->vals_n / (double)k);
            json_array_append_new(arr, s_number(v[idx < acc->vals_n ? idx : acc->vals_n - 1]));
        }
        free(v);
        w = (double)acc->n / (double)k;
    }
    return json_pack("{s:o, s:f, s:b}", "v", arr, "w", w, "exact", exact);
}

/* Moves every member of src into dst and releases src. */
static void
s_absorb(json_t *dst, json_t *src)
{
    json_object_update(dst, src);
    json_decref(src);
}

json_t *
an_partial_state(const struct an_agg_spec *spec, const struct an_acc *acc)
{
    json_t *j = json_pack("{s:I}", "n", (json_int_t)acc->n);
    switch (spec->fn) {
    case AN_FN_COUNT:
        break;
    case AN_FN_SUM:
    case AN_FN_AVG:
    case AN_FN_MIN:
    case AN_FN_MAX:
        json_object_set_new(j, "sum", s_number(acc->sum));
        json_object_set_new(j, "min", s_number(acc->min));
        json_object_set_new(j, "max", s_number(acc->max));
        break;
    case AN_FN_DISTINCT:
        s_absorb(j, s_distinct_state(acc));
        break;
    case AN_FN_P50:
    case AN_FN_P90:
    case AN_FN_P99:
        s_absorb(j, s_samples_state(acc));
        break;
    }
    return j;
}

static double
s_num(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : 0;
}

static bool
s_distinct_merge(json_t *const *states, size_t n, double *out, bool *approx)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += json_array_size(json_object_get(states[i], "h"));
    }
    uint64_t *h = vx_calloc(total ? total : 1, sizeof *h);
    size_t m = 0;
    bool exact = true;
    for (size_t i = 0; i < n; i++) {
        json_t *arr = json_object_get(states[i], "h");
        size_t k;
        json_t *v;
        json_array_foreach(arr, k, v) {
            if (json_is_integer(v)) {
                h[m++] = (uint64_t)json_integer_value(v);
            }
        }
        exact &= json_is_true(json_object_get(states[i], "exact"));
    }
    qsort(h, m, sizeof *h, cb_cmp_u64);
    size_t u = 0;
    for (size_t i = 0; i < m; i++) {
        if (u == 0 || h[u - 1] != h[i]) {
            h[u++] = h[i];
        }
    }
    if (exact) {
        *out = (double)u;
    } else if (u < AN_PARTIAL_MAX_ITEMS) {
        /* Some partition saturated yet the union is small: the best figure is the union. */
        *out = (double)u;
        *approx = true;
    } else {
        /* k-minimum values: with the k-th smallest hash h_k of a uniform 64-bit hash,
         * the number of distinct values is about (k - 1) / (h_k / 2^64). */
        double hk = (double)h[AN_PARTIAL_MAX_ITEMS - 1] / 18446744073709551616.0;
        *out = hk > 0 ? floor((double)(AN_PARTIAL_MAX_ITEMS - 1) / hk + 0.5) : (double)u;
        *approx = true;
    }
    free(h);
    return true;
}

static bool
s_quantile_merge(const struct an_agg_spec *spec, json_t *const *states, size_t n, double *out,
                 bool *approx)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += json_array_size(json_object_get(states[i], "v"));
    }
    if (total == 0) {
        return false;
    }
    struct s_wv *wv = vx_calloc(total, sizeof *wv);
    size_t m = 0;
    double weight = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *arr = json_object_get(states[i], "v");
        double w = s_num(states[i], "w");
        w = w > 0 ? w : 1;
        size_t k;
        json_t *v;
        json_array_foreach(arr, k, v) {
            if (json_is_number(v)) {
                wv[m].v = json_number_value(v);
                wv[m++].w = w;
                weight += w;
            }
        }
        *approx |= !json_is_true(json_object_get(states[i], "exact"));
    }
    if (m == 0) {
        free(wv);
        return false;
    }
    qsort(wv, m, sizeof *wv, cb_cmp_wv);
    double q = spec->fn == AN_FN_P50 ? 0.5 : spec->fn == AN_FN_P90 ? 0.9 : 0.99;
    /* nearest rank: the smallest value with at least q of the weight at or below it; the
     * epsilon keeps 0.9 * 10 from asking for more than 9 */
    double target = q * weight - 1e-9, cum = 0;
    *out = wv[m - 1].v;
    for (size_t i = 0; i < m; i++) {
        cum += wv[i].w;
        if (cum >= target) {
            *out = wv[i].v;
            break;
        }
    }
    free(wv);
    return true;
}

bool
an_partial_merge(const struct an_agg_spec *spec, json_t *const *states, size_t n, double *out,
                 bool *approx)
{
    double cnt = 0, sum = 0, min = 0, max = 0;
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        double c = s_num(states[i], "n");
        cnt += c;
        if (spec->fn == AN_FN_COUNT || spec->fn == AN_FN_DISTINCT || spec->fn >= AN_FN_P50 ||
            c <= 0) {
            continue;
        }
        double lo = s_num(states[i], "min"), hi = s_num(states[i], "max");
        sum += s_num(states[i], "sum");
        min = !any || lo < min ? lo : min;
        max = !any || hi > max ? hi : max;
        any = true;
    }
    switch (spec->fn) {
    case AN_FN_COUNT:
        *out = cnt;
        return true;
    case AN_FN_SUM:
        *out = sum;
        return true;
    case AN_FN_AVG:
        *out = cnt > 0 ? sum / cnt : 0;
        return any;
    case AN_FN_MIN:
        *out = min;
        return any;
    case AN_FN_MAX:
        *out = max;
        return any;
    case AN_FN_DISTINCT:
        return s_distinct_merge(states, n, out, approx);
    case AN_FN_P50:
    case AN_FN_P90:
    case AN_FN_P99:
        return s_quantile_merge(spec, states, n, out, approx);
    }
    return false;
}
