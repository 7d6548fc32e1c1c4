/* SPDX-License-Identifier: Apache-2.0 */
/* A bump allocator: many small allocations freed at once. Used to decode protobuf and JSON
 * batches without one malloc per field, and to own everything a decoded batch points to. */
#ifndef VX_ARENA_H
#define VX_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct vx_arena vx_arena_t;

/* chunk: bytes per chunk (a larger request gets its own chunk). limit: total bytes the arena
 * may hold (0: unlimited); past it vx_arena_alloc returns NULL. */
vx_arena_t *vx_arena_new(size_t chunk, size_t limit);
void vx_arena_destroy(vx_arena_t **a);

/* 16-byte aligned memory owned by the arena, or NULL when over the limit. */
void *vx_arena_alloc(vx_arena_t *a, size_t n);
/* Copies; NULL when over the limit. */
char *vx_arena_strndup(vx_arena_t *a, const char *s, size_t n);
/* Frees everything allocated; keeps the first chunk for reuse. */
void vx_arena_reset(vx_arena_t *a);
/* Bytes handed out since the last reset. */
size_t vx_arena_used(const vx_arena_t *a);
/* Whether an allocation was refused for the limit since the last reset. */
bool vx_arena_refused(const vx_arena_t *a);

/* A protobuf-c allocator drawing from the arena (its free does nothing): unpack with it and
 * release the tree with vx_arena_reset, never with free_unpacked. Borrowed pointer, valid
 * while the arena lives. */
ProtobufCAllocator *vx_arena_pb(vx_arena_t *a);

#endif
