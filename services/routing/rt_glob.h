/* SPDX-License-Identifier: Apache-2.0 */
/* Glob patterns of routing rules: the one parser of the glob syntax (rt_engine.h), its
 * expression form (for validation and for recognising equal patterns) and its direct matcher.
 *
 * Globs are matched here, not by the regex engine: a glob is anchored at both ends and
 * Vectorscan 5.4.9 misses some matches of end-anchored expressions (see rt_anchor.h), so the
 * engine decides them by walking this token list instead. Internal to routing. */
#ifndef RT_GLOB_H
#define RT_GLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rt_gtok_kind {
    RT_GT_BYTE = 0, /* one given byte */
    RT_GT_ANY,      /* '?': one byte other than '/' */
    RT_GT_CLASS,    /* [..] or [!..]: one byte of a set */
    RT_GT_STAR,     /* '*': any run of bytes without '/' */
    RT_GT_DSTAR,    /* '**': any run of bytes */
};

struct rt_gtok {
    uint8_t kind;   /* enum rt_gtok_kind */
    uint8_t byte;   /* RT_GT_BYTE */
    bool neg;       /* RT_GT_CLASS: [!..], which never matches '/' */
    uint32_t cls;   /* RT_GT_CLASS: index of its set in rt_glob.sets */
};

/* A parsed glob. The sets hold the bytes as written (ranges expanded); case folding is
 * applied when matching. */
struct rt_glob {
    struct rt_gtok *t;
    uint32_t n;
    uint64_t (*sets)[4]; /* 256-bit sets */
    uint32_t n_sets;
    uint32_t head;       /* leading RT_GT_BYTE tokens */
    uint32_t tail;       /* trailing RT_GT_BYTE tokens (== n when the glob has no wildcard) */
};

/* Parses text (NUL-terminated) into g (caller finalises it with rt_glob_fini). Returns 0, or
 * -EINVAL with *why set to a static reason ("trailing backslash", "unterminated [",
 * "range out of order in [...]") and g empty. */
int rt_glob_parse(const char *text, struct rt_glob *g, const char **why);
void rt_glob_fini(struct rt_glob *g);

/* The anchored expression with the same meaning, in Hyperscan/PCRE syntax
 * (\A ... \z, classes as \xHH ranges). Caller owns the result. */
char *rt_glob_regex(const struct rt_glob *g);

/* True when tokens [t0, t1) of g match all of v[0, len). caseless folds ASCII letters.
 * Linear in len times the number of tokens that can be active at once (a bitset simulation,
 * never backtracking), so no glob makes a decision exponential. */
bool rt_glob_match(const struct rt_glob *g, uint32_t t0, uint32_t t1, const char *v, size_t len,
                   bool caseless);

/* ASCII case folding, the only folding routing applies. */
static inline unsigned char
rt_fold(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

#endif
