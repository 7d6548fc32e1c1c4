/* SPDX-License-Identifier: Apache-2.0 */
/* Anchored patterns by direct comparison: tries built from the patterns, walked from either
 * end of a value. */
#include "rt_anchor.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rt_glob.h"
#include "vx_mem.h"

#define S_NONE UINT32_MAX
#define S_LINEAR_EDGES 8 /* up to this many children are searched linearly */

enum s_out_kind {
    S_OUT_PREFIX = 0, /* reached: matches */
    S_OUT_EXACT,      /* reached at the end of the value: matches */
    S_OUT_SUFFIX,     /* reached (backwards): matches */
    S_OUT_GLOB_HEAD,  /* reached: the glob's rest must match the rest of the value */
    S_OUT_GLOB_TAIL,  /* reached (backwards): the glob's rest must match the value's rest */
};

struct s_out {
    uint32_t id;
    uint32_t glob; /* index in rt_anchor.globs for the glob kinds */
    uint32_t kind; /* enum s_out_kind */
};

/* Build form: first child / next sibling, outputs as a list. */
struct s_bnode {
    uint32_t child, sibling, out;
    uint8_t label;
};

struct s_bout {
    struct s_out o;
    uint32_t next;
};

/* Sealed form: children of a node are contiguous in labels/kids, sorted by label. A chain of
 * nodes with one child and no output is folded into the node it leads to: entering that node
 * by its edge label also requires its run of bytes (a radix trie), so a long shared prefix such
 * as /srv/data/project- costs one comparison, not one step per byte. */
struct s_node {
    uint32_t edge0;
    uint32_t n_edges;
    uint32_t out0;
    uint32_t n_out;
    uint32_t run0;   /* offset in runs */
    uint32_t run_len;
};

struct s_trie {
    bool reverse;  /* keys read from the end */
    bool caseless; /* keys and values folded */
    /* build */
    struct s_bnode *b;
    uint32_t nb, capb;
    struct s_bout *bo;
    uint32_t nbo, capbo;
    /* sealed */
    struct s_node *nodes;
    uint8_t *labels;
    uint32_t *kids;
    struct s_out *outs;
    uint8_t *runs;
    uint32_t n_nodes;
};

struct s_glob {
    struct rt_glob g;
    bool caseless;
    uint32_t id;
};

struct rt_anchor {
    struct s_trie tries[4]; /* forward, forward caseless, backward, backward caseless */
    struct s_glob *globs;
    uint32_t n_globs;
    uint32_t *free_globs; /* globs with neither literal head nor tail: tried on every value */
    uint32_t n_free;
    uint32_t count;
    bool sealed;
};

rt_anchor_t *
rt_anchor_new(void)
{
    rt_anchor_t *a = vx_calloc(1, sizeof *a);
    for (int i = 0; i < 4; i++) {
        a->tries[i].reverse = i >= 2;
        a->tries[i].caseless = i & 1;
    }
    return a;
}

static void
s_trie_fini(struct s_trie *t)
{
    free(t->b);
    free(t->bo);
    free(t->nodes);
    free(t->labels);
    free(t->kids);
    free(t->outs);
    free(t->runs);
}

void
rt_anchor_destroy(rt_anchor_t **ap)
{
    rt_anchor_t *a = *ap;
    if (a == NULL) {
        return;
    }
    for (int i = 0; i < 4; i++) {
        s_trie_fini(&a->tries[i]);
    }
    for (uint32_t i = 0; i < a->n_globs; i++) {
        rt_glob_fini(&a->globs[i].g);
    }
    free(a->globs);
    free(a->free_globs);
    free(a);
    *ap = NULL;
}

bool
rt_anchor_kind(enum rt_pat_kind kind)
{
    return kind == RT_PAT_PREFIX || kind == RT_PAT_SUFFIX || kind == RT_PAT_EXACT ||
           kind == RT_PAT_GLOB;
}

/* ---- building --------------------------------------------------------------------------- */

static uint32_t
s_bnode_new(struct s_trie *t, uint8_t label)
{
    if (t->nb == t->capb) {
        t->capb = t->capb ? t->capb * 2 : 64;
        t->b = vx_realloc(t->b, t->capb * sizeof *t->b);
    }
    t->b[t->nb] = (struct s_bnode){S_NONE, S_NONE, S_NONE, label};
    return t->nb++;
}

/* Inserts key[0, len) (read backwards for a reverse trie, folded for a caseless one) and
 * attaches o to its node. */
static void
s_insert(struct s_trie *t, const uint8_t *key, size_t len, struct s_out o)
{
    if (t->nb == 0) {
        s_bnode_new(t, 0); /* the root */
    }
    uint32_t n = 0;
    for (size_t d = 0; d < len; d++) {
        uint8_t c = t->reverse ? key[len - 1 - d] : key[d];
        if (t->caseless) {
            c = rt_fold(c);
        }
        uint32_t k = t->b[n].child;
        while (k != S_NONE && t->b[k].label != c) {
            k = t->b[k].sibling;
        }
        if (k == S_NONE) {
            k = s_bnode_new(t, c);
            t->b[k].sibling = t->b[n].child;
            t->b[n].child = k;
        }
        n = k;
    }
    if (t->nbo == t->capbo) {
        t->capbo = t->capbo ? t->capbo * 2 : 16;
        t->bo = vx_realloc(t->bo, t->capbo * sizeof *t->bo);
    }
    t->bo[t->nbo] = (struct s_bout){o, t->b[n].out};
    t->b[n].out = t->nbo++;
}

/* Where a pattern goes: prefix and exact into the forward trie of its case mode, suffix into
 * the backward one; a glob without wildcards is an exact pattern; any other glob is keyed by
 * the longer of its literal head (forward) and tail (backward), so a walk reaches it only when
 * that literal part is there, or tried on every value when it has neither. */
int
rt_anchor_add(rt_anchor_t *a, enum rt_pat_kind kind, const char *text, bool caseless,
              uint32_t id)
{
    if (a->sealed || !rt_anchor_kind(kind)) {
        return -EINVAL;
    }
    const uint8_t *key = (const uint8_t *)text;
    size_t len = strlen(text);
    int fwd = caseless ? 1 : 0, rev = caseless ? 3 : 2;
    if (kind != RT_PAT_GLOB) {
        enum s_out_kind k = kind == RT_PAT_PREFIX   ? S_OUT_PREFIX
                            : kind == RT_PAT_EXACT ? S_OUT_EXACT
                                                   : S_OUT_SUFFIX;
        s_insert(&a->tries[kind == RT_PAT_SUFFIX ? rev : fwd], key, len,
                 (struct s_out){id, 0, k});
        a->count++;
        return 0;
    }
    struct s_glob sg = {.caseless = caseless, .id = id};
    const char *why = NULL;
    if (rt_glob_parse(text, &sg.g, &why) < 0) {
        return -EINVAL;
    }
    const struct rt_glob *g = &sg.g;
    uint8_t *lit = vx_calloc(g->n + 1, 1);
    for (uint32_t i = 0; i < g->n; i++) {
        lit[i] = g->t[i].byte;
    }
    if (g->head == g->n) {
        /* No wildcard: the glob is its bytes, exactly. */
        s_insert(&a->tries[fwd], lit, g->n, (struct s_out){id, 0, S_OUT_EXACT});
        rt_glob_fini(&sg.g);
        free(lit);
        a->count++;
        return 0;
    }
    a->globs = vx_realloc(a->globs, (a->n_globs + 1) * sizeof *a->globs);
    uint32_t gi = a->n_globs++;
    if (g->head > 0 && g->head >= g->tail) {
        s_insert(&a->tries[fwd], lit, g->head, (struct s_out){id, gi, S_OUT_GLOB_HEAD});
    } else if (g->tail > 0) {
        s_insert(&a->tries[rev], lit + g->n - g->tail, g->tail,
                 (struct s_out){id, gi, S_OUT_GLOB_TAIL});
    } else {
        a->free_globs = vx_realloc(a->free_globs, (a->n_free + 1) * sizeof *a->free_globs);
        a->free_globs[a->n_free++] = gi;
    }
    a->globs[gi] = sg;
    free(lit);
    a->count++;
    return 0;
}

static int
cb_edge_order(const void *x, const void *y)
{
    const uint32_t *p = x, *q = y; /* {label, build node} pairs */
    return p[0] < q[0] ? -1 : p[0] > q[0];
}

/* The build node a chain of single-child nodes without outputs leads to from k, its labels
 * appended to run (at most the trie's size). */
static uint32_t
s_chain_end(const struct s_trie *t, uint32_t k, uint8_t *run, uint32_t *run_len)
{
    while (t->b[k].out == S_NONE && t->b[k].child != S_NONE &&
           t->b[t->b[k].child].sibling == S_NONE) {
        k = t->b[k].child;
        run[(*run_len)++] = t->b[k].label;
    }
    return k;
}

/* Lays out t breadth first: a node's children become contiguous edges sorted by label, and
 * chains without branches or outputs fold into runs. */
static void
s_seal(struct s_trie *t)
{
    if (t->nb == 0) {
        return;
    }
    t->nodes = vx_calloc(t->nb, sizeof *t->nodes);
    t->labels = vx_calloc(t->nb, sizeof *t->labels);
    t->kids = vx_calloc(t->nb, sizeof *t->kids);
    t->outs = vx_calloc(t->nbo + 1, sizeof *t->outs);
    t->runs = vx_calloc(t->nb, 1);
    uint32_t *queue = vx_calloc(t->nb, sizeof *queue);
    uint32_t(*kids)[2] = vx_calloc(257, sizeof *kids);
    uint32_t tail = 1, n_edges = 0, n_outs = 0, n_runs = 0;
    queue[0] = 0;
    for (uint32_t head = 0; head < tail; head++) {
        const struct s_bnode *bn = &t->b[queue[head]];
        struct s_node *nd = &t->nodes[head];
        uint32_t nk = 0;
        for (uint32_t k = bn->child; k != S_NONE; k = t->b[k].sibling) {
            kids[nk][0] = t->b[k].label;
            kids[nk][1] = k;
            nk++;
        }
        qsort(kids, nk, sizeof kids[0], cb_edge_order);
        nd->edge0 = n_edges;
        nd->n_edges = nk;
        for (uint32_t i = 0; i < nk; i++) {
            struct s_node *kid = &t->nodes[tail];
            kid->run0 = n_runs;
            kid->run_len = 0;
            uint32_t end = s_chain_end(t, kids[i][1], t->runs + n_runs, &kid->run_len);
            n_runs += kid->run_len;
            t->labels[n_edges] = (uint8_t)kids[i][0];
            t->kids[n_edges] = tail;
            queue[tail++] = end;
            n_edges++;
        }
        nd->out0 = n_outs;
        for (uint32_t o = bn->out; o != S_NONE; o = t->bo[o].next) {
            t->outs[n_outs++] = t->bo[o].o;
        }
        nd->n_out = n_outs - nd->out0;
    }
    t->n_nodes = tail;
    free(kids);
    free(queue);
    free(t->b);
    free(t->bo);
    t->b = NULL;
    t->bo = NULL;
}

void
rt_anchor_seal(rt_anchor_t *a)
{
    for (int i = 0; i < 4; i++) {
        s_seal(&a->tries[i]);
    }
    a->sealed = true;
}

uint32_t
rt_anchor_count(const rt_anchor_t *a)
{
    return a->count;
}

/* ---- scanning --------------------------------------------------------------------------- */

static inline uint32_t
s_child(const struct s_trie *t, const struct s_node *nd, uint8_t c)
{
    const uint8_t *l = t->labels + nd->edge0;
    uint32_t n = nd->n_edges;
    if (n <= S_LINEAR_EDGES) {
        for (uint32_t i = 0; i < n; i++) {
            if (l[i] == c) {
                return t->kids[nd->edge0 + i];
            }
        }
        return S_NONE;
    }
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (l[mid] < c) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < n && l[lo] == c ? t->kids[nd->edge0 + lo] : S_NONE;
}

/* The outputs of a node reached after d bytes of v. */
static void
s_report(const rt_anchor_t *a, const struct s_trie *t, const struct s_node *nd, const char *v,
         size_t len, size_t d, rt_anchor_hit_fn *fn, void *arg)
{
    for (uint32_t i = 0; i < nd->n_out; i++) {
        const struct s_out *o = &t->outs[nd->out0 + i];
        const struct s_glob *sg = NULL;
        switch (o->kind) {
        case S_OUT_PREFIX:
        case S_OUT_SUFFIX:
            fn(o->id, arg);
            break;
        case S_OUT_EXACT:
            if (d == len) {
                fn(o->id, arg);
            }
            break;
        case S_OUT_GLOB_HEAD:
            sg = &a->globs[o->glob];
            if (rt_glob_match(&sg->g, sg->g.head, sg->g.n, v + d, len - d, sg->caseless)) {
                fn(o->id, arg);
            }
            break;
        case S_OUT_GLOB_TAIL:
            sg = &a->globs[o->glob];
            if (rt_glob_match(&sg->g, 0, sg->g.n - sg->g.tail, v, len - d, sg->caseless)) {
                fn(o->id, arg);
            }
            break;
        }
    }
}

/* Does v, from depth d on, hold the run of bytes nd was folded from? */
static bool
s_run_matches(const struct s_trie *t, const struct s_node *nd, const char *v, size_t len,
              size_t d)
{
    const uint8_t *run = t->runs + nd->run0;
    if (!t->reverse && !t->caseless) {
        return memcmp(v + d, run, nd->run_len) == 0;
    }
    for (uint32_t j = 0; j < nd->run_len; j++) {
        uint8_t c = (uint8_t)(t->reverse ? v[len - 1 - d - j] : v[d + j]);
        if ((t->caseless ? rt_fold(c) : c) != run[j]) {
            return false;
        }
    }
    return true;
}

static void
s_walk(const rt_anchor_t *a, const struct s_trie *t, const char *v, size_t len,
       rt_anchor_hit_fn *fn, void *arg)
{
    const struct s_node *nd = &t->nodes[0];
    for (size_t d = 0;;) {
        if (nd->n_out > 0) {
            s_report(a, t, nd, v, len, d, fn, arg);
        }
        if (d == len) {
            return;
        }
        uint8_t c = (uint8_t)(t->reverse ? v[len - 1 - d] : v[d]);
        if (t->caseless) {
            c = rt_fold(c);
        }
        uint32_t k = s_child(t, nd, c);
        if (k == S_NONE) {
            return;
        }
        nd = &t->nodes[k];
        d++;
        if (nd->run_len > 0) {
            if (len - d < nd->run_len || !s_run_matches(t, nd, v, len, d)) {
                return;
            }
            d += nd->run_len;
        }
    }
}

void
rt_anchor_scan(const rt_anchor_t *a, const char *v, size_t len, rt_anchor_hit_fn *fn, void *arg)
{
    for (int i = 0; i < 4; i++) {
        if (a->tries[i].n_nodes > 0) {
            s_walk(a, &a->tries[i], v, len, fn, arg);
        }
    }
    for (uint32_t i = 0; i < a->n_free; i++) {
        const struct s_glob *sg = &a->globs[a->free_globs[i]];
        if (rt_glob_match(&sg->g, 0, sg->g.n, v, len, sg->caseless)) {
            fn(sg->id, arg);
        }
    }
}
