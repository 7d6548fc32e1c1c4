/* SPDX-License-Identifier: Apache-2.0 */
/* Regular-expression text built piece by piece (rt_retext.h). */
#include "rt_retext.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "vx_mem.h"

void
rt_retext_put(struct rt_retext *t, const char *s)
{
    size_t n = strlen(s);
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->p = vx_realloc(t->p, t->cap);
    }
    memcpy(t->p + t->len, s, n + 1);
    t->len += n;
}

void
rt_retext_put_byte(struct rt_retext *t, unsigned char c)
{
    char tmp[8];
    if (isalnum(c)) {
        tmp[0] = (char)c;
        tmp[1] = '\0';
    } else {
        snprintf(tmp, sizeof tmp, "\\x%02x", c);
    }
    rt_retext_put(t, tmp);
}

void
rt_retext_put_literal(struct rt_retext *t, const char *s)
{
    for (; *s != '\0'; s++) {
        rt_retext_put_byte(t, (unsigned char)*s);
    }
}
