/* SPDX-License-Identifier: Apache-2.0 */
/* The text of a regular expression for the pattern library, built piece by piece: a growing
 * buffer, and literal bytes written so that they never act as metacharacters. Rule patterns
 * (rt_rule.c) and globs (rt_glob.c) are compiled through it. */
#ifndef RT_RETEXT_H
#define RT_RETEXT_H

#include <stddef.h>

/* Start as {0}; p is NUL-terminated once anything was put, and is the caller's to free(). */
struct rt_retext {
    char *p;
    size_t len, cap;
};

/* Appends s as it is (regular-expression syntax). */
void rt_retext_put(struct rt_retext *t, const char *s);

/* Appends one byte as a literal: letters and digits as themselves (so case folding applies
 * plainly), every other byte as \xHH, which is never a metacharacter. */
void rt_retext_put_byte(struct rt_retext *t, unsigned char c);

/* Appends every byte of s as a literal. */
void rt_retext_put_literal(struct rt_retext *t, const char *s);

#endif
