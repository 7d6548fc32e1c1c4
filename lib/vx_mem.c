/* SPDX-License-Identifier: Apache-2.0 */
/* Allocation wrappers that abort on exhaustion, naming the call site. */
#include "vx_mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
vx_oom_at(size_t size, const char *file, int line)
{
    fprintf(stderr, "FATAL out of memory allocating %zu bytes at %s:%d\n", size, file, line);
    abort();
}

void *
vx_malloc_at(size_t size, const char *file, int line)
{
    void *p = malloc(size ? size : 1);
    if (!p) {
        vx_oom_at(size, file, line);
    }
    return p;
}

void *
vx_calloc_at(size_t n, size_t size, const char *file, int line)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        vx_oom_at(n * size, file, line);
    }
    return p;
}

void *
vx_realloc_at(void *p, size_t size, const char *file, int line)
{
    void *q = realloc(p, size ? size : 1);
    if (!q) {
        vx_oom_at(size, file, line);
    }
    return q;
}

char *
vx_strdup_at(const char *s, const char *file, int line)
{
    return vx_strndup_at(s, strlen(s), file, line);
}

char *
vx_strndup_at(const char *s, size_t n, const char *file, int line)
{
    size_t len = strnlen(s, n);
    char *d = vx_malloc_at(len + 1, file, line);
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}
