/* SPDX-License-Identifier: Apache-2.0 */
/* Metrics registry: lock-free series updates, locked lookup, Prometheus text exposition. */
#include "vx_metrics.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vx_mem.h"

/* Enough for any family we define; more is treated as a programming error. */
#define S_MAX_LABELS 16

enum s_kind {
    S_COUNTER,
    S_GAUGE,
    S_HISTOGRAM,
    S_GAUGE_FN,
};

/* Series values live in plain atomics so the hot path is one atomic operation. Doubles are
 * stored as their bit pattern in a uint64_t because C11 has no portable atomic add on double;
 * adds go through a compare-and-swap loop. */
struct vx_counter {
    _Atomic uint64_t v;
};

struct vx_gauge {
    _Atomic uint64_t bits;
};

struct vx_histogram {
    const double *bounds; /* the family's, shared by all its series */
    size_t n_bounds;
    _Atomic uint64_t sum_bits;
    _Atomic uint64_t *buckets; /* n_bounds + 1 counts, not cumulative; the last is +Inf */
};

struct s_series {
    struct s_series *next;
    char **values; /* one per label of the family, owned */
    union {
        struct vx_counter c;
        struct vx_gauge g;
        struct vx_histogram h;
    } u;
};

struct s_family {
    struct s_family *next;
    char *name;
    char *help;
    enum s_kind kind;
    size_t n_labels;
    char **label_names;
    double *bounds;
    size_t n_bounds;
    vx_gauge_fn *fn;
    void *fn_arg;
    struct s_series *head; /* creation order, which is also exposition order */
    struct s_series *tail;
};

struct vx_metrics {
    pthread_mutex_t lock; /* guards the family and series lists, never the values */
    struct s_family *head; /* registration order */
    struct s_family *tail;
};

/* Label set of one lookup, collected from the variadic name/value list. */
struct s_labels {
    size_t n;
    const char *names[S_MAX_LABELS];
    const char *values[S_MAX_LABELS];
};

static uint64_t
s_bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

static double
s_double(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

static void
s_atomic_add_double(_Atomic uint64_t *bits, double delta)
{
    uint64_t old = atomic_load_explicit(bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(bits, &old, s_bits(s_double(old) + delta),
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

/* Prometheus metric names: [a-zA-Z_:][a-zA-Z0-9_:]* */
static bool
s_valid_metric_name(const char *s)
{
    if (!s || !*s || !(isalpha((unsigned char)*s) || *s == '_' || *s == ':')) {
        return false;
    }
    for (s++; *s; s++) {
        if (!(isalnum((unsigned char)*s) || *s == '_' || *s == ':')) {
            return false;
        }
    }
    return true;
}

/* Label names: [a-zA-Z_][a-zA-Z0-9_]*, and names starting with "__" are reserved. */
static bool
s_valid_label_name(const char *s)
{
    if (!s || !*s || !(isalpha((unsigned char)*s) || *s == '_') || strncmp(s, "__", 2) == 0) {
        return false;
    }
    for (s++; *s; s++) {
        if (!(isalnum((unsigned char)*s) || *s == '_')) {
            return false;
        }
    }
    return true;
}

static bool
s_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int
s_labels_collect(struct s_labels *l, enum s_kind kind, va_list ap)
{
    l->n = 0;
    for (;;) {
        const char *name = va_arg(ap, const char *);
        if (!name) {
            return 0;
        }
        const char *value = va_arg(ap, const char *);
        if (!value || l->n == S_MAX_LABELS || !s_valid_label_name(name) ||
            (kind == S_HISTOGRAM && strcmp(name, "le") == 0)) {
            return -EINVAL;
        }
        for (size_t i = 0; i < l->n; i++) {
            if (strcmp(l->names[i], name) == 0) {
                return -EINVAL;
            }
        }
        l->names[l->n] = name;
        l->values[l->n] = value;
        l->n++;
    }
}

static bool
s_valid_bounds(const double *bounds, size_t n)
{
    if (n > 0 && !bounds) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
            return false;
        }
    }
    return true;
}

static struct s_family *
s_family_find(vx_metrics_t *m, const char *name)
{
    for (struct s_family *f = m->head; f; f = f->next) {
        if (strcmp(f->name, name) == 0) {
            return f;
        }
    }
    return NULL;
}

static struct s_family *
s_family_add(vx_metrics_t *m, enum s_kind kind, const char *name, const char *help,
             const struct s_labels *l, const double *bounds, size_t n_bounds)
{
    struct s_family *f = vx_calloc(1, sizeof *f);
    f->name = vx_strdup(name);
    f->help = vx_strdup(help ? help : "");
    f->kind = kind;
    f->n_labels = l ? l->n : 0;
    f->label_names = vx_calloc(f->n_labels, sizeof *f->label_names);
    for (size_t i = 0; i < f->n_labels; i++) {
        f->label_names[i] = vx_strdup(l->names[i]);
    }
    f->n_bounds = n_bounds;
    f->bounds = vx_calloc(n_bounds, sizeof *f->bounds);
    if (n_bounds > 0) {
        memcpy(f->bounds, bounds, n_bounds * sizeof *bounds);
    }
    if (m->tail) {
        m->tail->next = f;
    } else {
        m->head = f;
    }
    m->tail = f;
    return f;
}

/* Whether an existing family can take a lookup of this kind, label names and bounds. */
static bool
s_family_compatible(const struct s_family *f, enum s_kind kind, const struct s_labels *l,
                    const double *bounds, size_t n_bounds)
{
    if (f->kind != kind || f->n_labels != l->n) {
        return false;
    }
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(f->label_names[i], l->names[i]) != 0) {
            return false;
        }
    }
    if (kind == S_HISTOGRAM &&
        (f->n_bounds != n_bounds ||
         (n_bounds > 0 && memcmp(f->bounds, bounds, n_bounds * sizeof *bounds) != 0))) {
        return false;
    }
    return true;
}

/* l carries the family's label names (checked by the caller), in the family's order. */
static struct s_series *
s_series_get(struct s_family *f, const struct s_labels *l)
{
    for (struct s_series *s = f->head; s; s = s->next) {
        size_t i = 0;
        while (i < l->n && strcmp(s->values[i], l->values[i]) == 0) {
            i++;
        }
        if (i == l->n) {
            return s;
        }
    }
    struct s_series *s = vx_calloc(1, sizeof *s);
    s->values = vx_calloc(l->n, sizeof *s->values);
    for (size_t i = 0; i < l->n; i++) {
        s->values[i] = vx_strdup(l->values[i]);
    }
    switch (f->kind) {
    case S_COUNTER:
        atomic_init(&s->u.c.v, 0);
        break;
    case S_GAUGE:
    case S_GAUGE_FN:
        atomic_init(&s->u.g.bits, s_bits(0.0));
        break;
    case S_HISTOGRAM:
        s->u.h.bounds = f->bounds;
        s->u.h.n_bounds = f->n_bounds;
        atomic_init(&s->u.h.sum_bits, s_bits(0.0));
        s->u.h.buckets = vx_calloc(f->n_bounds + 1, sizeof *s->u.h.buckets);
        for (size_t i = 0; i <= f->n_bounds; i++) {
            atomic_init(&s->u.h.buckets[i], 0);
        }
        break;
    }
    if (f->tail) {
        f->tail->next = s;
    } else {
        f->head = s;
    }
    f->tail = s;
    return s;
}

/* The shared body of the three lookups: validate, then find or create under the lock. */
static struct s_series *
s_lookup(vx_metrics_t *m, enum s_kind kind, const char *name, const char *help,
         const double *bounds, size_t n_bounds, va_list ap)
{
    struct s_labels l;
    if (!m || !s_valid_metric_name(name) || (kind == S_COUNTER && !s_ends_with(name, "_total")) ||
        (kind == S_HISTOGRAM && !s_valid_bounds(bounds, n_bounds)) ||
        s_labels_collect(&l, kind, ap) < 0) {
        return NULL;
    }
    struct s_series *s = NULL;
    pthread_mutex_lock(&m->lock);
    struct s_family *f = s_family_find(m, name);
    if (!f) {
        f = s_family_add(m, kind, name, help, &l, bounds, n_bounds);
    } else if (!s_family_compatible(f, kind, &l, bounds, n_bounds)) {
        goto out;
    }
    s = s_series_get(f, &l);
out:
    pthread_mutex_unlock(&m->lock);
    return s;
}

vx_metrics_t *
vx_metrics_new(void)
{
    vx_metrics_t *m = vx_calloc(1, sizeof *m);
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

void
vx_metrics_destroy(vx_metrics_t **mp)
{
    if (!mp || !*mp) {
        return;
    }
    vx_metrics_t *m = *mp;
    struct s_family *f = m->head;
    while (f) {
        struct s_family *fnext = f->next;
        struct s_series *s = f->head;
        while (s) {
            struct s_series *snext = s->next;
            for (size_t i = 0; i < f->n_labels; i++) {
                free(s->values[i]);
            }
            free(s->values);
            if (f->kind == S_HISTOGRAM) {
                free(s->u.h.buckets);
            }
            free(s);
            s = snext;
        }
        for (size_t i = 0; i < f->n_labels; i++) {
            free(f->label_names[i]);
        }
        free(f->label_names);
        free(f->bounds);
        free(f->name);
        free(f->help);
        free(f);
        f = fnext;
    }
    pthread_mutex_destroy(&m->lock);
    vx_free(mp);
}

vx_counter_t *
vx_metrics_counter(vx_metrics_t *m, const char *name, const char *help, ...)
{
    va_list ap;
    va_start(ap, help);
    struct s_series *s = s_lookup(m, S_COUNTER, name, help, NULL, 0, ap);
    va_end(ap);
    return s ? &s->u.c : NULL;
}

vx_gauge_t *
vx_metrics_gauge(vx_metrics_t *m, const char *name, const char *help, ...)
{
    va_list ap;
    va_start(ap, help);
    struct s_series *s = s_lookup(m, S_GAUGE, name, help, NULL, 0, ap);
    va_end(ap);
    return s ? &s->u.g : NULL;
}

vx_histogram_t *
vx_metrics_histogram(vx_metrics_t *m, const char *name, const char *help, const double *bounds,
                     size_t n_bounds, ...)
{
    va_list ap;
    va_start(ap, n_bounds);
    struct s_series *s = s_lookup(m, S_HISTOGRAM, name, help, bounds, n_bounds, ap);
    va_end(ap);
    return s ? &s->u.h : NULL;
}

int
vx_metrics_gauge_fn(vx_metrics_t *m, const char *name, const char *help, vx_gauge_fn *fn,
                    void *arg)
{
    if (!m || !fn || !s_valid_metric_name(name)) {
        return -EINVAL;
    }
    int rc = -EINVAL;
    pthread_mutex_lock(&m->lock);
    if (!s_family_find(m, name)) {
        struct s_family *f = s_family_add(m, S_GAUGE_FN, name, help, NULL, NULL, 0);
        f->fn = fn;
        f->fn_arg = arg;
        rc = 0;
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

void
vx_counter_add(vx_counter_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
}

uint64_t
vx_counter_value(const vx_counter_t *c)
{
    return atomic_load_explicit(&c->v, memory_order_relaxed);
}

void
vx_gauge_set(vx_gauge_t *g, double v)
{
    atomic_store_explicit(&g->bits, s_bits(v), memory_order_relaxed);
}

void
vx_gauge_add(vx_gauge_t *g, double delta)
{
    s_atomic_add_double(&g->bits, delta);
}

double
vx_gauge_value(const vx_gauge_t *g)
{
    return s_double(atomic_load_explicit(&g->bits, memory_order_relaxed));
}

size_t
vx_histogram_bucket(const vx_histogram_t *h, double v)
{
    /* Binary search for the first bound >= v; NaN and values above every bound land in +Inf. */
    size_t lo = 0, hi = h->n_bounds;
    if (isnan(v)) {
        lo = h->n_bounds;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v <= h->bounds[mid]) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return lo;
}

void
vx_histogram_observe(vx_histogram_t *h, double v)
{
    atomic_fetch_add_explicit(&h->buckets[vx_histogram_bucket(h, v)], 1, memory_order_relaxed);
    s_atomic_add_double(&h->sum_bits, v);
}

void
vx_histogram_add(vx_histogram_t *h, const uint64_t *counts, double sum)
{
    for (size_t i = 0; i <= h->n_bounds; i++) {
        if (counts[i]) {
            atomic_fetch_add_explicit(&h->buckets[i], counts[i], memory_order_relaxed);
        }
    }
    s_atomic_add_double(&h->sum_bits, sum);
}

/* The count is the sum of the buckets, so it always agrees with the +Inf bucket. */
uint64_t
vx_histogram_count(const vx_histogram_t *h)
{
    uint64_t n = 0;
    for (size_t i = 0; i <= h->n_bounds; i++) {
        n += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
    }
    return n;
}

double
vx_histogram_sum(const vx_histogram_t *h)
{
    return s_double(atomic_load_explicit(&h->sum_bits, memory_order_relaxed));
}

double
vx_histogram_quantile(const vx_histogram_t *h, double q)
{
    if (!(q > 0.0 && q < 1.0)) {
        return NAN;
    }
    /* One snapshot, so concurrent observations cannot make the walk miss its rank. */
    size_t nb = h->n_bounds + 1;
    uint64_t *snap = vx_malloc(nb * sizeof *snap);
    uint64_t total = 0;
    for (size_t i = 0; i < nb; i++) {
        snap[i] = atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        total += snap[i];
    }
    double result = 0.0;
    if (total > 0) {
        double rank = q * (double)total;
        uint64_t below = 0;
        size_t i = 0;
        while (i < h->n_bounds && (double)(below + snap[i]) < rank) {
            below += snap[i];
            i++;
        }
        if (i == h->n_bounds) {
            result = h->n_bounds > 0 ? h->bounds[h->n_bounds - 1] : 0.0;
        } else if (i == 0 && h->bounds[0] <= 0.0) {
            result = h->bounds[0]; /* no lower edge to interpolate from */
        } else {
            double lower = i == 0 ? 0.0 : h->bounds[i - 1];
            double upper = h->bounds[i];
            result = lower + (upper - lower) * (rank - (double)below) / (double)snap[i];
        }
    }
    free(snap);
    return result;
}

size_t
vx_metrics_exp_bounds(double *bounds, size_t n, double start, double factor)
{
    for (size_t i = 0; i < n; i++) {
        bounds[i] = start;
        start *= factor;
    }
    return n;
}

/* --- exposition ------------------------------------------------------------------------- */

struct s_buf {
    char *p;
    size_t len;
    size_t cap;
};

static void
s_buf_put(struct s_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        while (b->len + n + 1 > b->cap) {
            b->cap = b->cap ? b->cap * 2 : 4096;
        }
        b->p = vx_realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void
s_buf_puts(struct s_buf *b, const char *s)
{
    s_buf_put(b, s, strlen(s));
}

/* Writes s escaping backslash and newline, and double quote too when in a label value. */
static void
s_buf_escaped(struct s_buf *b, const char *s, bool quote)
{
    const char *special = quote ? "\\\n\"" : "\\\n";
    while (*s) {
        size_t run = strcspn(s, special); /* copied as it is, in one piece */
        s_buf_put(b, s, run);
        s += run;
        if (*s == '\\') {
            s_buf_put(b, "\\\\", 2);
        } else if (*s == '\n') {
            s_buf_put(b, "\\n", 2);
        } else if (*s == '"') {
            s_buf_put(b, "\\\"", 2);
        } else {
            break; /* the end */
        }
        s++;
    }
}

/* Shortest decimal that reads back as the same double, Prometheus spellings for the rest. */
static void
s_fmt_double(char *out, size_t n, double v)
{
    if (isnan(v)) {
        snprintf(out, n, "NaN");
    } else if (isinf(v)) {
        snprintf(out, n, "%s", v > 0 ? "+Inf" : "-Inf");
    } else {
        snprintf(out, n, "%.15g", v);
        if (strtod(out, NULL) != v) {
            snprintf(out, n, "%.17g", v);
        }
    }
}

/* name{a="x",b="y",le="0.5"} then a space; le may be NULL. */
static void
s_put_sample_head(struct s_buf *b, const struct s_family *f, const struct s_series *s,
                  const char *suffix, const char *le)
{
    s_buf_puts(b, f->name);
    s_buf_puts(b, suffix);
    if (f->n_labels > 0 || le) {
        s_buf_put(b, "{", 1);
        for (size_t i = 0; i < f->n_labels; i++) {
            if (i > 0) {
                s_buf_put(b, ",", 1);
            }
            s_buf_puts(b, f->label_names[i]);
            s_buf_put(b, "=\"", 2);
            s_buf_escaped(b, s->values[i], true);
            s_buf_put(b, "\"", 1);
        }
        if (le) {
            s_buf_puts(b, f->n_labels > 0 ? ",le=\"" : "le=\"");
            s_buf_puts(b, le);
            s_buf_put(b, "\"", 1);
        }
        s_buf_put(b, "}", 1);
    }
    s_buf_put(b, " ", 1);
}

static void
s_put_double_line(struct s_buf *b, double v)
{
    char num[64];
    s_fmt_double(num, sizeof num, v);
    s_buf_puts(b, num);
    s_buf_put(b, "\n", 1);
}

static void
s_put_u64_line(struct s_buf *b, uint64_t v)
{
    char num[32];
    snprintf(num, sizeof num, "%" PRIu64 "\n", v);
    s_buf_puts(b, num);
}

static void
s_render_histogram(struct s_buf *b, const struct s_family *f, const struct s_series *s)
{
    const struct vx_histogram *h = &s->u.h;
    uint64_t cum = 0;
    char le[64];
    for (size_t i = 0; i <= h->n_bounds; i++) {
        cum += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        if (i < h->n_bounds) {
            s_fmt_double(le, sizeof le, h->bounds[i]);
        } else {
            snprintf(le, sizeof le, "+Inf");
        }
        s_put_sample_head(b, f, s, "_bucket", le);
        s_put_u64_line(b, cum);
    }
    s_put_sample_head(b, f, s, "_sum", NULL);
    s_put_double_line(b, vx_histogram_sum(h));
    s_put_sample_head(b, f, s, "_count", NULL);
    s_put_u64_line(b, cum);
}

static void
s_render_family(struct s_buf *b, const struct s_family *f)
{
    static const char *const type_names[] = {
        [S_COUNTER] = "counter",
        [S_GAUGE] = "gauge",
        [S_HISTOGRAM] = "histogram",
        [S_GAUGE_FN] = "gauge",
    };
    s_buf_puts(b, "# HELP ");
    s_buf_puts(b, f->name);
    s_buf_put(b, " ", 1);
    s_buf_escaped(b, f->help, false);
    s_buf_puts(b, "\n# TYPE ");
    s_buf_puts(b, f->name);
    s_buf_put(b, " ", 1);
    s_buf_puts(b, type_names[f->kind]);
    s_buf_put(b, "\n", 1);
    if (f->kind == S_GAUGE_FN) {
        s_buf_puts(b, f->name);
        s_buf_put(b, " ", 1);
        s_put_double_line(b, f->fn(f->fn_arg));
        return;
    }
    for (const struct s_series *s = f->head; s; s = s->next) {
        switch (f->kind) {
        case S_COUNTER:
            s_put_sample_head(b, f, s, "", NULL);
            s_put_u64_line(b, vx_counter_value(&s->u.c));
            break;
        case S_GAUGE:
            s_put_sample_head(b, f, s, "", NULL);
            s_put_double_line(b, vx_gauge_value(&s->u.g));
            break;
        case S_HISTOGRAM:
            s_render_histogram(b, f, s);
            break;
        case S_GAUGE_FN:
            break;
        }
    }
}

char *
vx_metrics_render(vx_metrics_t *m, size_t *len)
{
    struct s_buf b = {0};
    s_buf_put(&b, "", 0);
    pthread_mutex_lock(&m->lock);
    for (const struct s_family *f = m->head; f; f = f->next) {
        s_render_family(&b, f);
    }
    pthread_mutex_unlock(&m->lock);
    if (len) {
        *len = b.len;
    }
    return b.p;
}
