/* SPDX-License-Identifier: Apache-2.0 */
/* Allocation wrappers: running out of memory aborts with file:line, so callers never check. */
#ifndef VX_MEM_H
#define VX_MEM_H

#include <stddef.h>
#include <stdlib.h>

/* A buffer for a file path: a folder of up to PATH_MAX (4,096) bytes and a file name in it. */
#define VX_PATH_MAX 4200

/* Reports an allocation of size that failed (in a library's own allocator, say) and aborts. */
_Noreturn void vx_oom_at(size_t size, const char *file, int line);
void *vx_malloc_at(size_t size, const char *file, int line);
void *vx_calloc_at(size_t n, size_t size, const char *file, int line);
void *vx_realloc_at(void *p, size_t size, const char *file, int line);
char *vx_strdup_at(const char *s, const char *file, int line);
char *vx_strndup_at(const char *s, size_t n, const char *file, int line);

/* All return memory the caller owns and frees with free(). Never NULL. */
#define vx_oom(size) vx_oom_at((size), __FILE__, __LINE__)
#define vx_malloc(size) vx_malloc_at((size), __FILE__, __LINE__)
#define vx_calloc(n, size) vx_calloc_at((n), (size), __FILE__, __LINE__)
#define vx_realloc(p, size) vx_realloc_at((p), (size), __FILE__, __LINE__)
#define vx_strdup(s) vx_strdup_at((s), __FILE__, __LINE__)
#define vx_strndup(s, n) vx_strndup_at((s), (n), __FILE__, __LINE__)

/* Frees *pp and sets it to NULL; accepts NULL. */
#define vx_free(pp)                                                                                \
    do {                                                                                           \
        free(*(pp));                                                                               \
        *(pp) = NULL;                                                                              \
    } while (0)

#endif
