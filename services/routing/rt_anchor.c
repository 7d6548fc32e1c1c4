/* SPDX-License-Identifier: Apache-2.0 */
/* Anchored patterns by direct comparison: tries built from the patterns, walked from either
 * end of a value. */
#include "rt_anchor.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rt_engine.h"
#include "rt_glob.h"
#include "vx_event.h"
#include "vx_mem.h"

#define S_NONE UINT32_MAX
#define S_LINEAR_EDGES 8 /* up to this many children are searched linearly */

enum s_out_kind {
    S_OUT_PREFIX = 0, /* reached: matches */
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

/* Exact patterns of one case mode: an open-addressing table keyed by the whole (folded)
 * text, so a value costs one hash and one probe, and none when its length is outside the
 * patterns' lengths. Measured faster than walking a trie for exact strings. */
struct s_exact {
    uint64_t h;
    uint8_t *key; /* folded when caseless; owned */
    uint32_t len;
    uint32_t id;
};

struct s_etab {
    bool caseless;
    struct s_exact *e; /* build: a list of n; sealed: slots of mask + 1, key NULL when empty */
    uint32_t n, cap, mask;
    uint32_t min_len, max_len;
};

struct rt_anchor {
    struct s_trie tries[4]; /* forward, forward caseless, backward, backward caseless */
    struct s_etab exact[2]; /* case-sensitive, caseless */
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
    a->exact[1].caseless = true;
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
    for (int i = 0; i < 2; i++) {
        struct s_etab *t = &a->exact[i];
        uint32_t slots = a->sealed && t->e ? t->mask + 1 : t->n;
        for (uint32_t k = 0; k < slots; k++) {
            free(t->e[k].key);
        }
        free(t->e);
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

/* Where a pattern goes: an exact one into the hash table of its case mode, a prefix into the
 * forward trie, a suffix into the backward one; a glob without wildcards is an exact pattern; any other glob is keyed by
 * the longer of its literal head (forward) and tail (backward), so a walk reaches it only when
 * that literal part is there, or tried on every value when it has neither. */
static uint64_t
s_exact_hash(const uint8_t *key, size_t len)
{
    return vx_hash64(key, len, 0x6578616374ULL);
}

static void
s_exact_add(struct s_etab *t, const uint8_t *key, size_t len, uint32_t id)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->e = vx_realloc(t->e, t->cap * sizeof *t->e);
    }
    uint8_t *k = vx_calloc(len + 1, 1);
    for (size_t i = 0; i < len; i++) {
        k[i] = t->caseless ? rt_fold(key[i]) : key[i];
    }
    t->e[t->n++] = (struct s_exact){s_exact_hash(k, len), k, (uint32_t)len, id};
    t->min_len = t->n == 1 || len < t->min_len ? (uint32_t)len : t->min_len;
    t->max_len = len > t->max_len ? (uint32_t)len : t->max_len;
}

static void
s_exact_seal(struct s_etab *t)
{
    if (t->n == 0) {
        return;
    }
    uint32_t slots = 16;
    while (slots < t->n * 2) {
        slots *= 2;
    }
    struct s_exact *e = vx_calloc(slots, sizeof *e);
    for (uint32_t i = 0; i < t->n; i++) {
        uint32_t k = (uint32_t)t->e[i].h & (slots - 1);
        while (e[k].key != NULL) {
            k = (k + 1) & (slots - 1);
        }
        e[k] = t->e[i];
    }
    free(t->e);
    t->e = e;
    t->mask = slots - 1;
}

/* Reports the exact patterns equal to v: one hash of the (folded) value, one probe run. */
static void
s_exact_scan(const struct s_etab *t, const char *v, size_t len, rt_anchor_hit_fn *fn, void *arg)
{
    if (t->n == 0 || len < t->min_len || len > t->max_len) {
        return;
    }
    uint8_t folded[RT_MAX_PATTERN_LEN];
    const uint8_t *key = (const uint8_t *)v;
    if (t->caseless) {
        for (size_t i = 0; i < len; i++) {
            folded[i] = rt_fold((uint8_t)v[i]);
        }
        key = folded;
    }
    uint64_t h = s_exact_hash(key, len);
    for (uint32_t k = (uint32_t)h & t->mask; t->e[k].key != NULL; k = (k + 1) & t->mask) {
        if (t->e[k].h == h && t->e[k].len == len && memcmp(t->e[k].key, key, len) == 0) {
            fn(t->e[k].id, arg);
        }
    }
}

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
    if (kind == RT_PAT_EXACT) {
        s_exact_add(&a->exact[caseless], key, len, id);
        a->count++;
        return 0;
    }
    if (kind != RT_PAT_GLOB) {
        s_insert(&a->tries[kind == RT_PAT_SUFFIX ? rev : fwd], key, len,
                 (struct s_out){id, 0, kind == RT_PAT_PREFIX ? S_OUT_PREFIX : S_OUT_SUFFIX});
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
        s_exact_add(&a->exact[caseless], lit, g->n, id);
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
    s_exact_seal(&a->exact[0]);
    s_exact_seal(&a->exact[1]);
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
    s_exact_scan(&a->exact[0], v, len, fn, arg);
    s_exact_scan(&a->exact[1], v, len, fn, arg);
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
