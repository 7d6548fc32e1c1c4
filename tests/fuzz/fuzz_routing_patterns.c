/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: a routing pattern as a rule gives it over REST (prefix, suffix, exact or glob
 * text, case-sensitive or not) and a field value, through the direct matcher.
 * fuzz-sources: services/routing/rt_glob.c services/routing/rt_anchor.c services/routing/rt_retext.c
 *
 * Input: one byte of flags (bit 0 caseless, bits 1-2 the kind), the pattern text up to the
 * first NUL byte, the value after it (up to a second NUL). A glob the parser rejects must say
 * why and leave nothing behind. Otherwise the tries of rt_anchor (which reach a glob by its
 * literal head or tail and match only the rest) must report exactly what a plain comparison,
 * or the glob matched whole by rt_glob_match, says — alone and beside other patterns that
 * share its trie — and the glob's expression form must be produced. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/routing/rt_anchor.h"
#include "../../services/routing/rt_glob.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
s_eq(const char *a, const char *b, size_t n, bool caseless)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (caseless ? rt_fold(x) != rt_fold(y) : x != y) {
            return false;
        }
    }
    return true;
}

static void
cb_hit(uint32_t id, void *arg)
{
    uint32_t *hits = arg;
    if (id < 32) {
        if (hits[id] != 0) {
            abort(); /* reported twice in one scan */
        }
        hits[id] = 1;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    bool caseless = data[0] & 1;
    static const enum rt_pat_kind kinds[] = {RT_PAT_PREFIX, RT_PAT_SUFFIX, RT_PAT_EXACT,
                                             RT_PAT_GLOB};
    enum rt_pat_kind kind = kinds[(data[0] >> 1) & 3];
    const char *rest = (const char *)data + 1;
    size_t n = size - 1;
    const char *nul = memchr(rest, '\0', n);
    size_t tlen = nul ? (size_t)(nul - rest) : n;
    if (tlen == 0 || tlen > 4096) {
        return 0;
    }
    char *text = strndup(rest, tlen);
    const char *vstart = nul ? nul + 1 : rest + n;
    size_t vmax = (size_t)(rest + n - vstart);
    const char *vnul = memchr(vstart, '\0', vmax);
    size_t vlen = vnul ? (size_t)(vnul - vstart) : vmax;
    char *v = strndup(vstart, vlen);

    bool want;
    if (kind == RT_PAT_GLOB) {
        struct rt_glob g;
        const char *why = NULL;
        if (rt_glob_parse(text, &g, &why) < 0) {
            if (why == NULL || g.t != NULL || g.n != 0) {
                abort();
            }
            rt_anchor_t *a = rt_anchor_new();
            if (rt_anchor_add(a, kind, text, caseless, 0) != -EINVAL) {
                abort();
            }
            rt_anchor_destroy(&a);
            free(text);
            free(v);
            return 0;
        }
        free(rt_glob_regex(&g));
        want = rt_glob_match(&g, 0, g.n, v, vlen, caseless);
        rt_glob_fini(&g);
    } else if (kind == RT_PAT_PREFIX) {
        want = vlen >= tlen && s_eq(v, text, tlen, caseless);
    } else if (kind == RT_PAT_SUFFIX) {
        want = vlen >= tlen && s_eq(v + vlen - tlen, text, tlen, caseless);
    } else {
        want = vlen == tlen && s_eq(v, text, tlen, caseless);
    }

    /* Alone, then beside patterns sharing its tries: a prefix of it, the value itself as an
     * exact pattern and as a suffix, so runs split and outputs stack on one node. */
    for (int round = 0; round < 2; round++) {
        rt_anchor_t *a = rt_anchor_new();
        if (rt_anchor_add(a, kind, text, caseless, 0) < 0) {
            abort();
        }
        bool extra_exact = false, extra_suffix = false, extra_prefix = false;
        if (round == 1) {
            if (vlen > 0) {
                extra_exact = rt_anchor_add(a, RT_PAT_EXACT, v, caseless, 1) == 0;
                extra_suffix = rt_anchor_add(a, RT_PAT_SUFFIX, v, !caseless, 2) == 0;
            }
            char half[2048 + 1];
            size_t hl = tlen / 2 > 2048 ? 2048 : tlen / 2;
            if (hl > 0 && memchr(text, '\\', hl) == NULL) {
                memcpy(half, text, hl);
                half[hl] = '\0';
                extra_prefix = rt_anchor_add(a, RT_PAT_PREFIX, half, caseless, 3) == 0;
            }
        }
        rt_anchor_seal(a);
        uint32_t hits[32] = {0};
        rt_anchor_scan(a, v, vlen, cb_hit, hits);
        if ((hits[0] != 0) != want || hits[1] != (extra_exact ? 1u : 0u) ||
            hits[2] != (extra_suffix ? 1u : 0u)) {
            abort();
        }
        if (extra_prefix) {
            size_t hl = tlen / 2 > 2048 ? 2048 : tlen / 2;
            if ((hits[3] != 0) != (vlen >= hl && s_eq(v, text, hl, caseless))) {
                abort();
            }
        }
        rt_anchor_destroy(&a);
    }
    free(text);
    free(v);
    return 0;
}
