/* SPDX-License-Identifier: Apache-2.0 */
/* Vector clocks kept as name-sorted arrays. */
#include "coord_vclock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vx_mem.h"

void
coord_vclock_init(struct coord_vclock *c)
{
    memset(c, 0, sizeof *c);
}

void
coord_vclock_fini(struct coord_vclock *c)
{
    free(c->e);
    memset(c, 0, sizeof *c);
}

void
coord_vclock_copy(struct coord_vclock *dst, const struct coord_vclock *src)
{
    if (dst == src) {
        return;
    }
    if (dst->cap < src->n) {
        free(dst->e);
        dst->cap = src->n + 2; /* room for the tick that usually follows */
        dst->e = vx_malloc(dst->cap * sizeof *dst->e);
    }
    /* Copy only the used part of each name. */
    for (size_t i = 0; i < src->n; i++) {
        dst->e[i].counter = src->e[i].counter;
        size_t len = strlen(src->e[i].name);
        memcpy(dst->e[i].name, src->e[i].name, len + 1);
    }
    dst->n = src->n;
}

/* Index of name, or where it would be inserted (with *found false). */
static size_t
s_find(const struct coord_vclock *c, const char *name, bool *found)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = strcmp(c->e[mid].name, name);
        if (r == 0) {
            *found = true;
            return mid;
        }
        if (r < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *found = false;
    return lo;
}

uint64_t
coord_vclock_get(const struct coord_vclock *c, const char *name)
{
    bool found;
    size_t i = s_find(c, name, &found);
    return found ? c->e[i].counter : 0;
}

void
coord_vclock_set(struct coord_vclock *c, const char *name, uint64_t counter)
{
    bool found;
    size_t i = s_find(c, name, &found);
    if (found) {
        c->e[i].counter = counter;
        return;
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 4;
        c->e = vx_realloc(c->e, c->cap * sizeof *c->e);
    }
    memmove(&c->e[i + 1], &c->e[i], (c->n - i) * sizeof *c->e);
    snprintf(c->e[i].name, sizeof c->e[i].name, "%s", name);
    c->e[i].counter = counter;
    c->n++;
}

uint64_t
coord_vclock_tick(struct coord_vclock *c, const char *name)
{
    uint64_t v = coord_vclock_get(c, name) + 1;
    coord_vclock_set(c, name, v);
    return v;
}

void
coord_vclock_merge(struct coord_vclock *dst, const struct coord_vclock *src)
{
    for (size_t i = 0; i < src->n; i++) {
        if (coord_vclock_get(dst, src->e[i].name) < src->e[i].counter) {
            coord_vclock_set(dst, src->e[i].name, src->e[i].counter);
        }
    }
}

uint64_t
coord_vclock_sum(const struct coord_vclock *c)
{
    uint64_t s = 0;
    for (size_t i = 0; i < c->n; i++) {
        s += c->e[i].counter;
    }
    return s;
}

static bool
s_skip(const char *name, const char *prefix)
{
    return prefix && strncmp(name, prefix, strlen(prefix)) == 0;
}

enum coord_order
coord_vclock_compare(const struct coord_vclock *a, const struct coord_vclock *b,
                     const char *skip_prefix)
{
    bool a_less = false, b_less = false; /* some entry of a below b's, and the reverse */
    size_t i = 0, j = 0;
    while (i < a->n || j < b->n) {
        int r;
        if (i == a->n) {
            r = 1;
        } else if (j == b->n) {
            r = -1;
        } else {
            r = strcmp(a->e[i].name, b->e[j].name);
        }
        uint64_t va, vb;
        const char *name;
        if (r == 0) {
            name = a->e[i].name;
            va = a->e[i++].counter;
            vb = b->e[j++].counter;
        } else if (r < 0) {
            name = a->e[i].name;
            va = a->e[i++].counter;
            vb = 0;
        } else {
            name = b->e[j].name;
            va = 0;
            vb = b->e[j++].counter;
        }
        if (s_skip(name, skip_prefix)) {
            continue;
        }
        if (va < vb) {
            a_less = true;
        } else if (va > vb) {
            b_less = true;
        }
    }
    if (a_less && b_less) {
        return COORD_CONCURRENT;
    }
    if (a_less) {
        return COORD_BEFORE;
    }
    if (b_less) {
        return COORD_AFTER;
    }
    return COORD_EQUAL;
}

const char *
coord_order_name(enum coord_order o)
{
    switch (o) {
    case COORD_EQUAL:
        return "equal";
    case COORD_BEFORE:
        return "before";
    case COORD_AFTER:
        return "after";
    default:
        return "concurrent";
    }
}

json_t *
coord_vclock_to_json(const struct coord_vclock *c)
{
    json_t *o = json_object();
    for (size_t i = 0; i < c->n; i++) {
        json_object_set_new(o, c->e[i].name, json_integer((json_int_t)c->e[i].counter));
    }
    return o;
}

int
coord_vclock_from_json(struct coord_vclock *c, json_t *obj)
{
    coord_vclock_fini(c);
    if (!json_is_object(obj)) {
        return -EINVAL;
    }
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            strlen(k) > COORD_VCLOCK_MAX_NAME) {
            coord_vclock_fini(c);
            return -EINVAL;
        }
        coord_vclock_set(c, k, (uint64_t)json_integer_value(v));
    }
    return 0;
}

size_t
coord_vclock_packed_size(const struct coord_vclock *c)
{
    size_t n = 2;
    for (size_t i = 0; i < c->n && i < 65535; i++) {
        n += 1 + strlen(c->e[i].name) + 8;
    }
    return n;
}

void
coord_vclock_pack(const struct coord_vclock *c, uint8_t *out)
{
    size_t n = c->n < 65535 ? c->n : 65535;
    *out++ = (uint8_t)n;
    *out++ = (uint8_t)(n >> 8);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(c->e[i].name);
        *out++ = (uint8_t)len;
        memcpy(out, c->e[i].name, len);
        out += len;
        for (int b = 0; b < 8; b++) {
            *out++ = (uint8_t)(c->e[i].counter >> (8 * b));
        }
    }
}

json_t *
coord_vclock_packed_json(const uint8_t *p)
{
    json_t *o = json_object();
    size_t n = (size_t)p[0] | (size_t)p[1] << 8;
    p += 2;
    for (size_t i = 0; i < n; i++) {
        char name[COORD_VCLOCK_MAX_NAME + 1];
        size_t len = *p++;
        memcpy(name, p, len);
        name[len] = '\0';
        p += len;
        uint64_t v = 0;
        for (int b = 0; b < 8; b++) {
            v |= (uint64_t)p[b] << (8 * b);
        }
        p += 8;
        json_object_set_new(o, name, json_integer((json_int_t)v));
    }
    return o;
}
