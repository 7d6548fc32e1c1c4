/* SPDX-License-Identifier: Apache-2.0 */
/* Bump allocator in linked chunks. */
#include "vx_arena.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vx_mem.h"

struct s_chunk {
    struct s_chunk *next;
    size_t size;
    size_t used;
    _Alignas(16) unsigned char data[];
};

struct vx_arena {
    struct s_chunk *head;
    size_t chunk;
    size_t limit;
    size_t total; /* bytes handed out */
    bool refused; /* an allocation hit the limit since the last reset */
    ProtobufCAllocator pb;
};

static void *
cb_pb_alloc(void *data, size_t size)
{
    return vx_arena_alloc(data, size);
}

static void
cb_pb_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr;
}

vx_arena_t *
vx_arena_new(size_t chunk, size_t limit)
{
    vx_arena_t *a = vx_calloc(1, sizeof *a);
    a->chunk = chunk < 256 ? 256 : chunk;
    a->limit = limit;
    a->pb.alloc = cb_pb_alloc;
    a->pb.free = cb_pb_free;
    a->pb.allocator_data = a;
    return a;
}

void
vx_arena_destroy(vx_arena_t **a)
{
    if (!a || !*a) {
        return;
    }
    struct s_chunk *c = (*a)->head;
    while (c) {
        struct s_chunk *next = c->next;
        free(c);
        c = next;
    }
    vx_free(a);
}

void *
vx_arena_alloc(vx_arena_t *a, size_t n)
{
    size_t need = (n + 15) & ~(size_t)15;
    /* Refuse sizes whose rounding or chunk header would wrap, and anything past the limit
     * (written so that total + need cannot wrap either). */
    if (need < n || need > SIZE_MAX / 2 || (a->limit && need > a->limit - a->total)) {
        a->refused = true;
        return NULL;
    }
    struct s_chunk *c = a->head;
    if (!c || c->size - c->used < need) {
        size_t size = need > a->chunk ? need : a->chunk;
        c = vx_malloc(sizeof *c + size);
        c->size = size;
        c->used = 0;
        /* Keep the current head first when the new chunk is a one-off large block. */
        if (a->head && need > a->chunk) {
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
    }
    void *p = c->data + c->used;
    c->used += need;
    a->total += need;
    return p;
}

char *
vx_arena_strndup(vx_arena_t *a, const char *s, size_t n)
{
    char *d = vx_arena_alloc(a, n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

void
vx_arena_reset(vx_arena_t *a)
{
    struct s_chunk *keep = NULL;
    struct s_chunk *c = a->head;
    while (c) {
        struct s_chunk *next = c->next;
        if (!keep && c->size == a->chunk) {
            keep = c;
            keep->used = 0;
        } else {
            free(c);
        }
        c = next;
    }
    if (keep) {
        keep->next = NULL;
    }
    a->head = keep;
    a->total = 0;
    a->refused = false;
}

bool
vx_arena_refused(const vx_arena_t *a)
{
    return a->refused;
}

size_t
vx_arena_used(const vx_arena_t *a)
{
    return a->total;
}

ProtobufCAllocator *
vx_arena_pb(vx_arena_t *a)
{
    return &a->pb;
}
