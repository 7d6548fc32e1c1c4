/* SPDX-License-Identifier: Apache-2.0 */
/* A linearizability checker for registers with compare-and-set (see lin_check.h). */
#include "lin_check.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_DEFAULT_MAX_CONFIGS (4u << 20)

struct s_op {
    struct lc_op op;
    uint64_t z0, z1;  /* Zobrist keys of this operation */
    bool required;    /* answered: must be linearized */
};

struct s_slot {
    uint64_t a, b;    /* 0,0: empty */
};

struct s_key {
    struct s_op *ops; /* by invocation time */
    size_t n;
    uint8_t *lin;
    size_t first;     /* every operation before it is linearized */
    size_t n_required, n_done;
    uint64_t h0, h1;  /* fingerprint of the linearized set */
    struct s_slot *memo;
    size_t cap, used;
    size_t configs, max_configs;
    bool gave_up;
    size_t deepest;
    char *why;
    size_t whylen;
};

static uint64_t
s_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static int
cb_by_call(const void *a, const void *b)
{
    const struct s_op *x = a, *y = b;
    if (x->op.call != y->op.call) {
        return x->op.call < y->op.call ? -1 : 1;
    }
    return x->op.ret < y->op.ret ? -1 : x->op.ret > y->op.ret;
}

static int
cb_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Adds the configuration (linearized set, value) to the memo; false when it was there (or
 * the memo is full: gave_up). */
static bool
s_memo_add(struct s_key *k, uint64_t value)
{
    uint64_t a = k->h0 ^ s_mix(value + 0x9e3779b97f4a7c15ull);
    uint64_t b = k->h1 ^ s_mix(value ^ 0xd1b54a32d192ed03ull);
    if (a == 0 && b == 0) {
        a = 1;
    }
    if (2 * (k->used + 1) > k->cap) {
        if (k->used >= k->max_configs) {
            k->gave_up = true;
            return false;
        }
        size_t ncap = k->cap ? 2 * k->cap : 4096;
        struct s_slot *nm = calloc(ncap, sizeof *nm);
        if (!nm) {
            k->gave_up = true;
            return false;
        }
        for (size_t i = 0; i < k->cap; i++) {
            if (k->memo[i].a || k->memo[i].b) {
                size_t j = k->memo[i].a & (ncap - 1);
                while (nm[j].a || nm[j].b) {
                    j = (j + 1) & (ncap - 1);
                }
                nm[j] = k->memo[i];
            }
        }
        free(k->memo);
        k->memo = nm;
        k->cap = ncap;
    }
    size_t j = a & (k->cap - 1);
    while (k->memo[j].a || k->memo[j].b) {
        if (k->memo[j].a == a && k->memo[j].b == b) {
            return false;
        }
        j = (j + 1) & (k->cap - 1);
    }
    k->memo[j].a = a;
    k->memo[j].b = b;
    k->used++;
    k->configs++;
    return true;
}

static const char *
s_kind(const struct lc_op *o)
{
    static const char *const names[] = {"read", "write", "cas"};
    return names[o->kind];
}

static const char *
s_result(const struct lc_op *o)
{
    static const char *const names[] = {"ok", "fail", "unknown"};
    return names[o->result];
}

/* The deepest point so far: remember which operations were waiting there. */
static void
s_note_deepest(struct s_key *k, uint64_t value, uint64_t min_ret)
{
    if (k->n_done < k->deepest || !k->why) {
        return;
    }
    k->deepest = k->n_done;
    int len = snprintf(k->why, k->whylen,
                       "after %zu of %zu answered operations, with value %" PRIu64
                       ", none of these fits next:",
                       k->n_done, k->n_required, value);
    size_t off = len > 0 ? (size_t)len : 0;
    for (size_t i = k->first; i < k->n && k->ops[i].op.call <= min_ret && off < k->whylen; i++) {
        const struct lc_op *o = &k->ops[i].op;
        if (k->lin[i]) {
            continue;
        }
        len = snprintf(k->why + off, k->whylen - off,
                       " [client %u %s %s value %" PRIu64 " expect %" PRIu64 " call %" PRIu64
                       " ret %" PRId64 "]",
                       o->client, s_kind(o), s_result(o), o->value, o->expect, o->call,
                       o->ret == LC_NEVER ? (int64_t)-1 : (int64_t)o->ret);
        off += len > 0 ? (size_t)len : 0;
    }
}

/* The value after op from `value`, or false when op cannot take effect there. */
static bool
s_step(const struct lc_op *o, uint64_t value, uint64_t *next)
{
    switch (o->kind) {
    case LC_READ:
        *next = value;
        return o->value == value;
    case LC_WRITE:
        *next = o->value;
        return true;
    case LC_CAS:
        if (o->result == LC_FAIL) {
            *next = value;
            return value != o->expect && (o->observed == LC_UNSEEN || o->observed == value);
        }
        *next = o->value;
        return value == o->expect; /* ok, or unknown taking effect */
    }
    return false;
}

/* Why recursive: the search is a depth-first walk over linearization prefixes; each level
 * linearizes one operation, so the depth is the number of operations of one key. */
static bool
s_search(struct s_key *k, uint64_t value)
{
    if (k->n_done == k->n_required) {
        return true;
    }
    size_t first = k->first;
    while (first < k->n && k->lin[first]) {
        first++;
    }
    uint64_t min_ret = LC_NEVER;
    for (size_t i = first; i < k->n && k->ops[i].op.call <= min_ret; i++) {
        if (!k->lin[i] && k->ops[i].op.ret < min_ret) {
            min_ret = k->ops[i].op.ret;
        }
    }
    if (!s_memo_add(k, value)) {
        return false;
    }
    size_t saved_first = k->first;
    k->first = first;
    s_note_deepest(k, value, min_ret);
    for (size_t i = first; i < k->n && k->ops[i].op.call <= min_ret && !k->gave_up; i++) {
        uint64_t next;
        if (k->lin[i] || !s_step(&k->ops[i].op, value, &next)) {
            continue;
        }
        k->lin[i] = 1;
        k->h0 ^= k->ops[i].z0;
        k->h1 ^= k->ops[i].z1;
        k->n_done += k->ops[i].required;
        bool ok = s_search(k, next);
        k->n_done -= k->ops[i].required;
        k->h0 ^= k->ops[i].z0;
        k->h1 ^= k->ops[i].z1;
        k->lin[i] = 0;
        if (ok) {
            k->first = saved_first;
            return true;
        }
    }
    k->first = saved_first;
    return false;
}

/* Operations of key `key`, pruned: unanswered reads go, and so do unknown writes (and cas)
 * of a value nobody saw, when every failed cas said what it saw: taking effect or not, they
 * cannot change whether the rest fits. */
static size_t
s_collect(const struct lc_op *ops, size_t n, unsigned key, struct s_op *out)
{
    size_t m = 0, n_seen = 0;
    bool all_observed = true;
    uint64_t *seen = calloc(2 * n + 1, sizeof *seen);
    seen[n_seen++] = 0;
    for (size_t i = 0; i < n; i++) {
        const struct lc_op *o = &ops[i];
        if (o->key != key) {
            continue;
        }
        if (o->kind == LC_READ && o->result == LC_OK) {
            seen[n_seen++] = o->value;
        } else if (o->kind == LC_CAS) {
            seen[n_seen++] = o->expect;
            if (o->result == LC_FAIL) {
                if (o->observed == LC_UNSEEN) {
                    all_observed = false;
                } else {
                    seen[n_seen++] = o->observed;
                }
            }
        }
    }
    qsort(seen, n_seen, sizeof *seen, cb_u64);
    for (size_t i = 0; i < n; i++) {
        const struct lc_op *o = &ops[i];
        if (o->key != key || (o->kind == LC_READ && o->result != LC_OK)) {
            continue;
        }
        if (o->result == LC_UNKNOWN && all_observed &&
            !bsearch(&o->value, seen, n_seen, sizeof *seen, cb_u64)) {
            continue;
        }
        out[m].op = *o;
        out[m].required = o->result != LC_UNKNOWN;
        if (!out[m].required) {
            out[m].op.ret = LC_NEVER;
        }
        m++;
    }
    free(seen);
    return m;
}

bool
lc_check(const struct lc_op *ops, size_t n, size_t max_configs, struct lc_report *report)
{
    memset(report, 0, sizeof *report);
    report->linearizable = true;
    unsigned max_key = 0;
    for (size_t i = 0; i < n; i++) {
        max_key = ops[i].key > max_key ? ops[i].key : max_key;
    }
    struct s_op *kops = calloc(n + 1, sizeof *kops);
    uint64_t seed = 0x243f6a8885a308d3ull;
    for (unsigned key = 0; key <= max_key && n > 0; key++) {
        size_t m = s_collect(ops, n, key, kops);
        if (m == 0) {
            continue;
        }
        qsort(kops, m, sizeof *kops, cb_by_call);
        struct s_key k = {.ops = kops, .n = m, .max_configs = max_configs ? max_configs
                                                                         : S_DEFAULT_MAX_CONFIGS};
        k.lin = calloc(m, 1);
        k.why = report->why;
        k.whylen = sizeof report->why;
        for (size_t i = 0; i < m; i++) {
            kops[i].z0 = s_mix(seed += 0x9e3779b97f4a7c15ull);
            kops[i].z1 = s_mix(seed += 0x9e3779b97f4a7c15ull);
            k.n_required += kops[i].required;
        }
        report->why[0] = '\0';
        bool ok = s_search(&k, 0);
        report->ops += m;
        report->configs += k.configs;
        free(k.memo);
        free(k.lin);
        if (k.gave_up || !ok) {
            report->linearizable = ok;
            report->gave_up = k.gave_up;
            report->key = key;
            report->deepest = k.deepest;
            break;
        }
    }
    if (report->linearizable && !report->gave_up) {
        report->why[0] = '\0';
    }
    free(kops);
    return report->linearizable && !report->gave_up;
}
