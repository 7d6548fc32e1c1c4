/* SPDX-License-Identifier: Apache-2.0 */
/* Glob patterns: parsing, the equivalent expression, and direct matching. */
#include "rt_glob.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "rt_engine.h"
#include "rt_retext.h"
#include "vx_mem.h"

/* Bitset words for the matcher's states: one bit per token position, RT_MAX_PATTERN_LEN
 * tokens at most, and the accepting position. */
#define S_WORDS (RT_MAX_PATTERN_LEN / 64 + 2)

static void
s_set_add(uint64_t *set, unsigned char c)
{
    set[c >> 6] |= 1ULL << (c & 63);
}

static bool
s_set_has(const uint64_t *set, unsigned char c)
{
    return (set[c >> 6] >> (c & 63)) & 1;
}

static void
s_push(struct rt_glob *g, uint32_t *cap, struct rt_gtok t)
{
    if (g->n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        g->t = vx_realloc(g->t, *cap * sizeof *g->t);
    }
    g->t[g->n++] = t;
}

/* Parses the class starting after '[' at g[i]; adds its token and returns the index past the
 * closing ']', or 0 with *why on error. */
static size_t
s_class(const char *s, size_t i, size_t n, struct rt_glob *g, uint32_t *cap, const char **why)
{
    size_t j = i;
    bool neg = j < n && (s[j] == '!' || s[j] == '^');
    if (neg) {
        j++;
    }
    g->sets = vx_realloc(g->sets, (g->n_sets + 1) * sizeof *g->sets);
    uint64_t *set = g->sets[g->n_sets];
    memset(set, 0, sizeof g->sets[0]);
    bool first = true, closed = false;
    while (j < n) {
        if (s[j] == ']' && !first) {
            closed = true;
            j++;
            break;
        }
        unsigned char lo = (unsigned char)s[j];
        if (lo == '\\' && j + 1 < n) {
            lo = (unsigned char)s[++j];
        }
        j++;
        unsigned char hi = lo;
        if (j + 1 < n && s[j] == '-' && s[j + 1] != ']') {
            hi = (unsigned char)s[j + 1];
            j += 2;
            if (hi == '\\' && j < n) {
                hi = (unsigned char)s[j++];
            }
            if (hi < lo) {
                *why = "range out of order in [...]";
                return 0;
            }
        }
        for (unsigned c = lo; c <= hi; c++) {
            s_set_add(set, (unsigned char)c);
        }
        first = false;
    }
    if (!closed) {
        *why = "unterminated [";
        return 0;
    }
    s_push(g, cap, (struct rt_gtok){RT_GT_CLASS, 0, neg, g->n_sets++});
    return j;
}

int
rt_glob_parse(const char *s, struct rt_glob *g, const char **why)
{
    memset(g, 0, sizeof *g);
    size_t n = strlen(s);
    uint32_t cap = 0;
    if (n > RT_MAX_PATTERN_LEN) {
        *why = "longer than the pattern limit";
        return -EINVAL;
    }
    for (size_t i = 0; i < n;) {
        char c = s[i];
        if (c == '*') {
            /* '*' alone, or a run of two or more, which is '**'. */
            bool dstar = i + 1 < n && s[i + 1] == '*';
            i++;
            while (dstar && i < n && s[i] == '*') {
                i++;
            }
            s_push(g, &cap, (struct rt_gtok){dstar ? RT_GT_DSTAR : RT_GT_STAR, 0, false, 0});
        } else if (c == '?') {
            s_push(g, &cap, (struct rt_gtok){RT_GT_ANY, 0, false, 0});
            i++;
        } else if (c == '\\') {
            if (i + 1 >= n) {
                *why = "trailing backslash";
                goto fail;
            }
            s_push(g, &cap, (struct rt_gtok){RT_GT_BYTE, (uint8_t)s[i + 1], false, 0});
            i += 2;
        } else if (c == '[') {
            i = s_class(s, i + 1, n, g, &cap, why);
            if (i == 0) {
                goto fail;
            }
        } else {
            s_push(g, &cap, (struct rt_gtok){RT_GT_BYTE, (uint8_t)c, false, 0});
            i++;
        }
    }
    while (g->head < g->n && g->t[g->head].kind == RT_GT_BYTE) {
        g->head++;
    }
    while (g->tail < g->n && g->t[g->n - 1 - g->tail].kind == RT_GT_BYTE) {
        g->tail++;
    }
    return 0;
fail:
    rt_glob_fini(g);
    return -EINVAL;
}

void
rt_glob_fini(struct rt_glob *g)
{
    free(g->t);
    free(g->sets);
    memset(g, 0, sizeof *g);
}

/* ---- the expression form ---------------------------------------------------------------- */

char *
rt_glob_regex(const struct rt_glob *g)
{
    struct rt_retext b = {0};
    rt_retext_put(&b, "\\A");
    for (uint32_t i = 0; i < g->n; i++) {
        const struct rt_gtok *t = &g->t[i];
        switch (t->kind) {
        case RT_GT_BYTE:
            rt_retext_put_byte(&b, t->byte);
            break;
        case RT_GT_ANY:
            rt_retext_put(&b, "[^/]");
            break;
        case RT_GT_STAR:
            rt_retext_put(&b, "[^/]*");
            break;
        case RT_GT_DSTAR:
            rt_retext_put(&b, "[\\x00-\\xff]*");
            break;
        case RT_GT_CLASS: {
            const uint64_t *set = g->sets[t->cls];
            rt_retext_put(&b, t->neg ? "[^/" : "[");
            for (unsigned c = 0; c < 256;) {
                if (!s_set_has(set, (unsigned char)c)) {
                    c++;
                    continue;
                }
                unsigned hi = c;
                while (hi + 1 < 256 && s_set_has(set, (unsigned char)(hi + 1))) {
                    hi++;
                }
                rt_retext_put_byte(&b, (unsigned char)c);
                if (hi > c) {
                    rt_retext_put(&b, "-");
                    rt_retext_put_byte(&b, (unsigned char)hi);
                }
                c = hi + 1;
            }
            rt_retext_put(&b, "]");
            break;
        }
        }
    }
    rt_retext_put(&b, "\\z");
    return b.p;
}

/* ---- matching --------------------------------------------------------------------------- */

static bool
s_tok_match(const struct rt_glob *g, const struct rt_gtok *t, unsigned char c, bool caseless)
{
    switch (t->kind) {
    case RT_GT_BYTE:
        return caseless ? rt_fold(c) == rt_fold(t->byte) : c == t->byte;
    case RT_GT_ANY:
        return c != '/';
    case RT_GT_CLASS: {
        const uint64_t *set = g->sets[t->cls];
        bool in = s_set_has(set, c);
        if (!in && caseless && isalpha(c) && c < 0x80) {
            in = s_set_has(set, (unsigned char)(c ^ 0x20));
        }
        return t->neg ? !in && c != '/' : in;
    }
    default:
        return false;
    }
}

/* Adds to st every position reachable from its positions by skipping stars (a star may
 * match nothing). Positions only grow, so one ascending pass suffices. */
static void
s_closure(const struct rt_gtok *t, uint32_t m, uint64_t *st)
{
    for (uint32_t w = 0; w <= m / 64; w++) {
        uint64_t done = 0;
        for (uint64_t bits = st[w]; bits != 0; bits = st[w] & ~done) {
            uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(bits);
            done |= 1ULL << (i & 63);
            if (i < m && (t[i].kind == RT_GT_STAR || t[i].kind == RT_GT_DSTAR)) {
                st[(i + 1) >> 6] |= 1ULL << ((i + 1) & 63);
            }
        }
    }
}

bool
rt_glob_match(const struct rt_glob *g, uint32_t t0, uint32_t t1, const char *v, size_t len,
              bool caseless)
{
    const struct rt_gtok *t = g->t + t0;
    uint32_t m = t1 - t0;
    /* The common shapes first: what remains is one star, or literal bytes. */
    if (m == 1 && t[0].kind == RT_GT_DSTAR) {
        return true;
    }
    if (m == 1 && t[0].kind == RT_GT_STAR) {
        return memchr(v, '/', len) == NULL;
    }
    uint32_t words = m / 64 + 1;
    uint64_t cur[S_WORDS], nxt[S_WORDS];
    memset(cur, 0, words * sizeof cur[0]);
    cur[0] = 1;
    s_closure(t, m, cur);
    for (size_t k = 0; k < len; k++) {
        unsigned char c = (unsigned char)v[k];
        memset(nxt, 0, words * sizeof nxt[0]);
        bool any = false;
        for (uint32_t w = 0; w < words; w++) {
            for (uint64_t bits = cur[w]; bits != 0; bits &= bits - 1) {
                uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(bits);
                if (i >= m) {
                    continue; /* accepting position: nothing left to consume */
                }
                uint32_t to = i + 1;
                if (t[i].kind == RT_GT_DSTAR || (t[i].kind == RT_GT_STAR && c != '/')) {
                    to = i;
                } else if (!s_tok_match(g, &t[i], c, caseless)) {
                    continue;
                }
                nxt[to >> 6] |= 1ULL << (to & 63);
                any = true;
            }
        }
        if (!any) {
            return false;
        }
        s_closure(t, m, nxt);
        memcpy(cur, nxt, words * sizeof cur[0]);
    }
    return (cur[m >> 6] >> (m & 63)) & 1;
}
