/* SPDX-License-Identifier: Apache-2.0 */
/* Routing decision latency in-process: the engine (rt_engine_decide) with 10, 100 and 10,000
 * rules, beside a rule-by-rule PCRE2 loop (JIT-compiled, same rules, same events, same
 * semantics) measured in the same run. Prints median and p99 per decision in ns, the
 * throughput of back-to-back decisions, the build time, and the ratio to PCRE2; checks on the
 * way that both sides chose the same boundaries for every measured event. Also prints the
 * floor under the engine: bare hs_scan of each field with a database of the same distinct
 * expressions, anchored kinds included, and nothing else (no decision).
 * Prefix, suffix, exact and glob patterns are decided without Hyperscan (rt_anchor.h); the
 * "anchored" lines time that direct matcher alone against hs_scan of a database holding just
 * those expressions, on the same values: what the direct comparisons cost against what they
 * replace. Engine, floor and both anchored sides are timed in 3 interleaved rounds; each
 * figure is the median of the rounds' medians, with the spread (lowest..highest) beside it.
 * Usage: bench_routing [EVENTS] (decisions timed per round, default 200,000; capped). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <hs/hs.h>
#include <jansson.h>
#include <pcre2.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rt_anchor.h"
#include "rt_engine.h"
#include "vx_clock.h"

#define N_EVENTS 4096      /* distinct events, cycled */
#define MAX_TIMED 2000000
#define PCRE_BUDGET 4e9    /* pattern evaluations allowed for the PCRE2 side per set */
#define ROUNDS 3

static const char *const s_bounds[] = {"analytics", "automation", "coordinator", "graph",
                                       "vector"};

/* ---- timing ----------------------------------------------------------------------------- */

#if defined(__x86_64__) || defined(__i386__)
static inline uint64_t
s_ticks(void)
{
    return __builtin_ia32_rdtsc();
}
#else
static inline uint64_t
s_ticks(void)
{
    return vx_mono_ns();
}
#endif

static double s_ns_per_tick = 1.0;
static double s_overhead_ticks;

static int
cb_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void
s_calibrate(void)
{
    uint64_t n0 = vx_mono_ns(), t0 = s_ticks();
    while (vx_mono_ns() - n0 < 100 * VX_NS_PER_MS) {
    }
    uint64_t n1 = vx_mono_ns(), t1 = s_ticks();
    s_ns_per_tick = (double)(n1 - n0) / (double)(t1 - t0);
    uint64_t lat[10001];
    for (int i = 0; i < 10001; i++) {
        uint64_t a = s_ticks();
        uint64_t b = s_ticks();
        lat[i] = b - a;
    }
    qsort(lat, 10001, sizeof lat[0], cb_u64);
    s_overhead_ticks = (double)lat[5000];
}

struct stats {
    double median_ns, p99_ns, per_sec;
};

static struct stats
s_summarize(uint64_t *lat, size_t n, uint64_t wall_ns)
{
    qsort(lat, n, sizeof lat[0], cb_u64);
    struct stats s;
    double m = (double)lat[n / 2] - s_overhead_ticks;
    double p = (double)lat[(size_t)((double)n * 0.99)] - s_overhead_ticks;
    s.median_ns = (m > 0 ? m : 0) * s_ns_per_tick;
    s.p99_ns = (p > 0 ? p : 0) * s_ns_per_tick;
    s.per_sec = wall_ns ? (double)n * 1e9 / (double)wall_ns : 0;
    return s;
}

/* ---- events ----------------------------------------------------------------------------- */

struct bev {
    vx_event_t ev;
    Vexfs__V1__Event__ContentEntry c[2];
    Vexfs__V1__Event__ContentEntry *cp[2];
    Vexfs__V1__Event__MetadataEntry m[1];
    Vexfs__V1__Event__MetadataEntry *mp[1];
    char path[96], body[64], user[16];
};

static uint64_t s_rng = 0x2545f4914f6cdd1dULL;

static unsigned
s_rand(unsigned n)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return (unsigned)(s_rng % n);
}

static const char *const s_exts[] = {"txt", "log", "tmp", "md", "json", "c", "LOG", "bin"};
static const char *const s_tenants[] = {"", "acme", "globex", "initech"};
static const char *const s_words[] = {"ok", "error", "timeout", "password", "token", "write"};

/* Realistic events: a path under one of many projects, a body, a user, tenant, priority. */
static struct bev *
s_make_events(unsigned projects)
{
    struct bev *evs = calloc(N_EVENTS, sizeof *evs);
    for (int i = 0; i < N_EVENTS; i++) {
        struct bev *b = &evs[i];
        vexfs__v1__event__init(&b->ev);
        b->ev.type = (Vexfs__V1__EventType)(1 + s_rand(8));
        snprintf(b->path, sizeof b->path, "/srv/data/project-%u/dir%u/file-%u.%s",
                 s_rand(projects), s_rand(20), s_rand(1000), s_exts[s_rand(8)]);
        b->ev.path = b->path;
        snprintf(b->body, sizeof b->body, "%s %s %u", s_words[s_rand(6)], s_words[s_rand(6)],
                 s_rand(100));
        snprintf(b->user, sizeof b->user, "u%u", s_rand(500));
        vexfs__v1__event__content_entry__init(&b->c[0]);
        b->c[0].key = "size";
        b->c[0].value = "4096";
        vexfs__v1__event__content_entry__init(&b->c[1]);
        b->c[1].key = "body";
        b->c[1].value = b->body;
        b->cp[0] = &b->c[0];
        b->cp[1] = &b->c[1];
        b->ev.n_content = 2;
        b->ev.content = b->cp;
        vexfs__v1__event__metadata_entry__init(&b->m[0]);
        b->m[0].key = "user";
        b->m[0].value = b->user;
        b->mp[0] = &b->m[0];
        b->ev.n_metadata = 1;
        b->ev.metadata = b->mp;
        b->ev.tenant = (char *)s_tenants[s_rand(4)];
        b->ev.priority = s_rand(10);
    }
    return evs;
}

/* ---- rules and the PCRE2 reference ----------------------------------------------------- */

enum { F_PATH, F_BODY, F_USER };

struct rpat {
    pcre2_code *re;
    int field;
    char *expr;     /* the same expression, valid for Hyperscan too */
    bool caseless;
    enum rt_pat_kind kind;
    char *text;     /* the pattern as the rule gives it */
};

struct rrule {
    int priority;
    size_t pos;
    uint32_t types;
    const char *tenant;
    unsigned min_priority;
    struct rpat pats[2];
    unsigned n_pats;
    uint64_t targets;
    bool stop;
};

struct ruleset {
    json_t *json;
    struct rrule *ref;
    size_t n;
};

static void
s_add_rule(struct ruleset *rs, int priority, uint32_t types, const char *tenant,
           unsigned min_priority, const char *kind, const char *pattern, const char *pcre,
           bool caseless, int field, uint64_t targets, bool stop)
{
    static const char *const fields[] = {"path", "content.body", "metadata.user"};
    char id[32];
    snprintf(id, sizeof id, "rule-%zu", rs->n);
    json_t *c = json_object();
    if (types) {
        json_t *t = json_array();
        for (int k = 1; k < 32; k++) {
            if (types & (1u << k)) {
                json_array_append_new(t, json_string(vx_event_type_name(k)));
            }
        }
        json_object_set_new(c, "event_types", t);
    }
    if (tenant) {
        json_object_set_new(c, "tenant", json_string(tenant));
    }
    if (min_priority) {
        json_object_set_new(c, "min_priority", json_integer(min_priority));
    }
    if (pattern) {
        json_object_set_new(c, "patterns",
                            json_pack("[{s:s, s:s, s:b, s:s}]", "kind", kind, "pattern", pattern,
                                      "case_sensitive", !caseless, "field", fields[field]));
    }
    json_t *tb = json_array();
    for (unsigned b = 0; b < 5; b++) {
        if (targets & (1ULL << b)) {
            json_array_append_new(tb, json_string(s_bounds[b]));
        }
    }
    json_array_append_new(rs->json, json_pack("{s:s, s:i, s:o, s:o, s:b}", "id", id, "priority",
                                              priority, "conditions", c, "target_boundaries", tb,
                                              "stop", stop));
    struct rrule *r = &rs->ref[rs->n];
    *r = (struct rrule){priority, rs->n, types, tenant, min_priority, {{0}}, 0, targets, stop};
    if (pcre) {
        int ec;
        PCRE2_SIZE eo;
        r->pats[0].re = pcre2_compile((PCRE2_SPTR)pcre, PCRE2_ZERO_TERMINATED,
                                      caseless ? PCRE2_CASELESS : 0, &ec, &eo, NULL);
        if (r->pats[0].re == NULL) {
            fprintf(stderr, "bench: PCRE2 rejects %s\n", pcre);
            exit(1);
        }
        pcre2_jit_compile(r->pats[0].re, PCRE2_JIT_COMPLETE);
        r->pats[0].field = field;
        r->pats[0].expr = strdup(pcre);
        r->pats[0].caseless = caseless;
        r->pats[0].text = strdup(pattern);
        r->pats[0].kind = strcmp(kind, "prefix") == 0   ? RT_PAT_PREFIX
                          : strcmp(kind, "suffix") == 0 ? RT_PAT_SUFFIX
                          : strcmp(kind, "exact") == 0  ? RT_PAT_EXACT
                          : strcmp(kind, "glob") == 0   ? RT_PAT_GLOB
                          : strcmp(kind, "regex") == 0  ? RT_PAT_REGEX
                                                        : RT_PAT_LITERAL;
        r->n_pats = 1;
    }
    rs->n++;
}

static int
cb_ref_order(const void *a, const void *b)
{
    const struct rrule *x = a, *y = b;
    if (x->priority != y->priority) {
        return x->priority > y->priority ? -1 : 1;
    }
    return x->pos < y->pos ? -1 : 1;
}

/* A mixed set, as an operator writes them: path regexes, globs, prefixes and suffixes, content
 * and metadata patterns, type/tenant/priority conditions, a few static rules, stops. */
static void
s_mixed_rules(struct ruleset *rs, size_t n, unsigned projects)
{
    char pat[160], pcre[200];
    for (size_t i = 0; i < n; i++) {
        unsigned p = s_rand(projects);
        uint64_t tg = 1ULL << s_rand(5);
        int prio = (int)s_rand(100);
        uint32_t types = s_rand(3) == 0 ? (1u << (1 + s_rand(8))) | (1u << (1 + s_rand(8))) : 0;
        const char *ten = s_rand(5) == 0 ? s_tenants[1 + s_rand(3)] : NULL;
        unsigned minp = s_rand(6) == 0 ? s_rand(8) : 0;
        switch (i % 8) {
        case 0:
            snprintf(pat, sizeof pat, "^/srv/data/project-%u/.*\\.(log|txt)$", p);
            s_add_rule(rs, prio, types, ten, minp, "regex", pat, pat, true, F_PATH, tg, false);
            break;
        case 1: {
            unsigned dir = s_rand(20);
            snprintf(pat, sizeof pat, "/srv/data/project-%u/dir%u/*", p, dir);
            snprintf(pcre, sizeof pcre, "\\A/srv/data/project-%u/dir%u/[^/]*\\z", p, dir);
            s_add_rule(rs, prio, types, ten, minp, "glob", pat, pcre, false, F_PATH, tg, false);
            break;
        }
        case 2:
            snprintf(pat, sizeof pat, "/srv/data/project-%u/", p);
            snprintf(pcre, sizeof pcre, "\\A\\Q%s\\E", pat);
            s_add_rule(rs, prio, types, ten, minp, "prefix", pat, pcre, false, F_PATH, tg,
                       s_rand(10) == 0);
            break;
        case 3:
            snprintf(pat, sizeof pat, ".%s", s_exts[s_rand(8)]);
            snprintf(pcre, sizeof pcre, "\\Q%s\\E\\z", pat);
            s_add_rule(rs, prio, types ? types : 1u << 2, ten ? ten : "acme", minp, "suffix",
                       pat, pcre, true, F_PATH, tg, false);
            break;
        case 4:
            snprintf(pat, sizeof pat, "%s[=: ]+%s \\d", s_words[s_rand(6)],
                     s_words[s_rand(6)]);
            s_add_rule(rs, prio, types, ten, minp, "regex", pat, pat, true, F_BODY, tg, false);
            break;
        case 5:
            snprintf(pat, sizeof pat, "u%u", s_rand(500));
            snprintf(pcre, sizeof pcre, "\\A\\Q%s\\E\\z", pat);
            s_add_rule(rs, prio, types, ten, minp, "exact", pat, pcre, false, F_USER, tg, false);
            break;
        case 6:
            snprintf(pat, sizeof pat, "project-%u/dir1[0-9]/file-\\d+\\.tmp", p);
            s_add_rule(rs, prio, types, ten, minp, "regex", pat, pat, true, F_PATH, tg, false);
            break;
        default:
            s_add_rule(rs, prio, (1u << (1 + s_rand(8))), s_tenants[1 + s_rand(3)], 5, NULL,
                       NULL, NULL, false, 0, tg, false);
            break;
        }
    }
}

/* 10,000 regex rules on the path: distinct projects, varied tails. */
static void
s_regex_rules(struct ruleset *rs, size_t n, unsigned projects)
{
    static const char *const tails[] = {
        "/.*\\.(log|txt)$", "/dir[0-9]+/file-\\d+\\.tmp$", "/dir1[0-9]/", "/.*file-9\\d\\d\\.",
        "/dir(3|5|7)/file-[0-9]{3}\\.(md|json)$"};
    char pat[160];
    for (size_t i = 0; i < n; i++) {
        snprintf(pat, sizeof pat, "^/srv/data/project-%zu%s", i % projects, tails[i % 5]);
        s_add_rule(rs, (int)s_rand(1000), 0, NULL, 0, "regex", pat, pat, (i % 3) == 0, F_PATH,
                   1ULL << (i % 5), false);
    }
}

static const char *
s_field(const struct bev *b, int field)
{
    return field == F_PATH ? b->path : field == F_BODY ? b->body : b->user;
}

static uint64_t
s_pcre_decide(const struct ruleset *rs, const struct bev *b, pcre2_match_data *md)
{
    uint64_t targets = 0;
    for (size_t i = 0; i < rs->n; i++) {
        const struct rrule *r = &rs->ref[i];
        if ((r->types && !(r->types & (1u << b->ev.type))) ||
            (r->tenant && strcmp(r->tenant, b->ev.tenant) != 0) ||
            b->ev.priority < r->min_priority) {
            continue;
        }
        if (r->n_pats > 0) {
            const char *v = s_field(b, r->pats[0].field);
            if (pcre2_match(r->pats[0].re, (PCRE2_SPTR)v, strlen(v), 0, 0, md, NULL) < 0) {
                continue;
            }
        }
        targets |= r->targets;
        if (r->stop) {
            break;
        }
    }
    return targets;
}

static int
cb_count(unsigned id, unsigned long long from, unsigned long long to, unsigned flags, void *arg)
{
    (void)id;
    (void)from;
    (void)to;
    (void)flags;
    (*(unsigned *)arg)++;
    return 0;
}

/* Bare hs_scan of each field, with one database per field of the distinct expressions (all
 * of them, or only the anchored kinds), built once and timed per round. */
struct hsfloor {
    hs_database_t *db[3];
    hs_scratch_t *scratch;
    unsigned n_exprs;
};

static void
s_floor_build(const struct ruleset *rs, bool anchored_only, struct hsfloor *fl)
{
    memset(fl, 0, sizeof *fl);
    for (int f = 0; f < 3; f++) {
        json_t *seen = json_object();
        const char **ex = calloc(rs->n + 1, sizeof *ex);
        unsigned *flg = calloc(rs->n + 1, sizeof *flg), *ids = calloc(rs->n + 1, sizeof *ids);
        unsigned m = 0;
        for (size_t i = 0; i < rs->n; i++) {
            const struct rpat *p = &rs->ref[i].pats[0];
            char key[300];
            if (rs->ref[i].n_pats == 0 || p->field != f ||
                (anchored_only && !rt_anchor_kind(p->kind))) {
                continue;
            }
            snprintf(key, sizeof key, "%d%s", p->caseless, p->expr);
            if (json_object_get(seen, key) != NULL) {
                continue;
            }
            json_object_set_new(seen, key, json_true());
            ex[m] = p->expr;
            flg[m] = HS_FLAG_SINGLEMATCH | HS_FLAG_ALLOWEMPTY |
                     (p->caseless ? HS_FLAG_CASELESS : 0);
            ids[m] = m;
            m++;
        }
        hs_compile_error_t *ce = NULL;
        if (m > 0 && (hs_compile_multi(ex, flg, ids, m, HS_MODE_BLOCK, NULL, &fl->db[f], &ce) !=
                          HS_SUCCESS ||
                      hs_alloc_scratch(fl->db[f], &fl->scratch) != HS_SUCCESS)) {
            fprintf(stderr, "bench: floor database: %s\n", ce ? ce->message : "scratch");
            exit(1);
        }
        fl->n_exprs += m;
        free(ex);
        free(flg);
        free(ids);
        json_decref(seen);
    }
}

static void
s_floor_free(struct hsfloor *fl)
{
    hs_free_scratch(fl->scratch);
    for (int f = 0; f < 3; f++) {
        hs_free_database(fl->db[f]);
    }
}

static struct stats
s_floor_time(const struct hsfloor *fl, struct bev *evs, size_t timed, uint64_t *lat)
{
    unsigned hits = 0;
    uint64_t w0 = vx_mono_ns();
    for (size_t i = 0; i < timed; i++) {
        for (int f = 0; f < 3; f++) {
            const char *v = s_field(&evs[i % N_EVENTS], f);
            if (fl->db[f] != NULL) {
                hs_scan(fl->db[f], v, (unsigned)strlen(v), 0, fl->scratch, cb_count, &hits);
            }
        }
    }
    uint64_t bulk = vx_mono_ns() - w0;
    for (size_t i = 0; i < timed; i++) {
        uint64_t t0 = s_ticks();
        for (int f = 0; f < 3; f++) {
            const char *v = s_field(&evs[i % N_EVENTS], f);
            if (fl->db[f] != NULL) {
                hs_scan(fl->db[f], v, (unsigned)strlen(v), 0, fl->scratch, cb_count, &hits);
            }
        }
        lat[i] = s_ticks() - t0;
    }
    return s_summarize(lat, timed, bulk);
}

/* The engine's direct matcher, one per field, of the same anchored patterns. */
struct direct {
    rt_anchor_t *a[3];
    unsigned n;
};

static void
cb_direct_hit(uint32_t id, void *arg)
{
    (void)id;
    (*(unsigned *)arg)++;
}

static void
s_direct_build(const struct ruleset *rs, struct direct *dm)
{
    memset(dm, 0, sizeof *dm);
    json_t *seen = json_object();
    for (size_t i = 0; i < rs->n; i++) {
        const struct rpat *p = &rs->ref[i].pats[0];
        char key[300];
        if (rs->ref[i].n_pats == 0 || !rt_anchor_kind(p->kind)) {
            continue;
        }
        snprintf(key, sizeof key, "%d%d%s", p->field, p->caseless, p->expr);
        if (json_object_get(seen, key) != NULL) {
            continue;
        }
        json_object_set_new(seen, key, json_true());
        if (dm->a[p->field] == NULL) {
            dm->a[p->field] = rt_anchor_new();
        }
        if (rt_anchor_add(dm->a[p->field], p->kind, p->text, p->caseless, dm->n++) < 0) {
            fprintf(stderr, "bench: direct matcher refuses %s\n", p->text);
            exit(1);
        }
    }
    for (int f = 0; f < 3; f++) {
        if (dm->a[f] != NULL) {
            rt_anchor_seal(dm->a[f]);
        }
    }
    json_decref(seen);
}

static struct stats
s_direct_time(const struct direct *dm, struct bev *evs, size_t timed, uint64_t *lat)
{
    unsigned hits = 0;
    uint64_t w0 = vx_mono_ns();
    for (size_t i = 0; i < timed; i++) {
        for (int f = 0; f < 3; f++) {
            const char *v = s_field(&evs[i % N_EVENTS], f);
            if (dm->a[f] != NULL) {
                rt_anchor_scan(dm->a[f], v, strlen(v), cb_direct_hit, &hits);
            }
        }
    }
    uint64_t bulk = vx_mono_ns() - w0;
    for (size_t i = 0; i < timed; i++) {
        uint64_t t0 = s_ticks();
        for (int f = 0; f < 3; f++) {
            const char *v = s_field(&evs[i % N_EVENTS], f);
            if (dm->a[f] != NULL) {
                rt_anchor_scan(dm->a[f], v, strlen(v), cb_direct_hit, &hits);
            }
        }
        lat[i] = s_ticks() - t0;
    }
    return s_summarize(lat, timed, bulk);
}

static struct stats
s_engine_time(rt_engine_t *e, rt_scratch_t *s, struct bev *evs, size_t timed, uint64_t *lat)
{
    struct rt_decision d;
    uint64_t w0 = vx_mono_ns();
    for (size_t i = 0; i < timed; i++) {
        rt_engine_decide(e, s, &evs[i % N_EVENTS].ev, 0, false, &d);
    }
    uint64_t bulk_ns = vx_mono_ns() - w0;
    for (size_t i = 0; i < timed; i++) {
        uint64_t t0 = s_ticks();
        rt_engine_decide(e, s, &evs[i % N_EVENTS].ev, 0, false, &d);
        lat[i] = s_ticks() - t0;
    }
    return s_summarize(lat, timed, bulk_ns);
}

/* Median and spread of one figure over the rounds. */
struct spread {
    double median, lo, hi;
};

static int
cb_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static struct spread
s_spread(const struct stats *r, size_t off)
{
    double v[ROUNDS];
    for (int i = 0; i < ROUNDS; i++) {
        v[i] = *(const double *)((const char *)&r[i] + off);
    }
    qsort(v, ROUNDS, sizeof v[0], cb_double);
    return (struct spread){v[ROUNDS / 2], v[0], v[ROUNDS - 1]};
}

static void
s_print_line(const char *label, const struct stats *r, const char *unit, const char *note)
{
    struct spread m = s_spread(r, offsetof(struct stats, median_ns));
    struct spread p = s_spread(r, offsetof(struct stats, p99_ns));
    struct spread t = s_spread(r, offsetof(struct stats, per_sec));
    printf("  %-9s median %8.0f ns (%.0f..%.0f)  p99 %9.0f ns  %10.0f %s%s\n", label, m.median,
           m.lo, m.hi, p.median, t.median, unit, note);
}

/* ---- one set ---------------------------------------------------------------------------- */

static void
s_run(const char *name, struct ruleset *rs, struct bev *evs, size_t timed)
{
    qsort(rs->ref, rs->n, sizeof *rs->ref, cb_ref_order);
    rt_engine_t *e = NULL;
    char err[512];
    uint64_t b0 = vx_mono_ns();
    int rc = rt_engine_build(rs->json, NULL, NULL, &e, err, sizeof err);
    uint64_t build_ns = vx_mono_ns() - b0;
    if (rc < 0) {
        fprintf(stderr, "bench: build failed: %s\n", err);
        exit(1);
    }
    rt_scratch_t *s = rt_scratch_new(e);
    struct rt_decision d;
    uint64_t *lat = malloc(timed * sizeof *lat);
    for (size_t i = 0; i < N_EVENTS; i++) { /* warm caches */
        rt_engine_decide(e, s, &evs[i].ev, 0, false, &d);
    }
    struct hsfloor fl_all, fl_anch;
    struct direct dm;
    s_floor_build(rs, false, &fl_all);
    s_floor_build(rs, true, &fl_anch);
    s_direct_build(rs, &dm);
    struct stats eng[ROUNDS], flo[ROUNDS], dir[ROUNDS], ahs[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        eng[r] = s_engine_time(e, s, evs, timed, lat);
        flo[r] = s_floor_time(&fl_all, evs, timed, lat);
        if (dm.n > 0) {
            dir[r] = s_direct_time(&dm, evs, timed, lat);
            ahs[r] = s_floor_time(&fl_anch, evs, timed, lat);
        }
    }

    /* PCRE2, rule by rule: as many events as the budget allows. */
    pcre2_match_data *md = pcre2_match_data_create(4, NULL);
    size_t pn = (size_t)(PCRE_BUDGET / ((double)rs->n * 30.0));
    pn = pn < 2000 ? 2000 : pn > timed ? timed : pn;
    size_t mismatches = 0, routed = 0;
    for (size_t i = 0; i < N_EVENTS && i < pn; i++) {
        uint64_t want = s_pcre_decide(rs, &evs[i], md);
        rt_engine_decide(e, s, &evs[i].ev, 0, true, &d);
        mismatches += want != d.targets;
        routed += want != 0;
    }
    uint64_t w0 = vx_mono_ns();
    volatile uint64_t sink = 0;
    for (size_t i = 0; i < pn; i++) {
        sink += s_pcre_decide(rs, &evs[i % N_EVENTS], md);
    }
    uint64_t pbulk_ns = vx_mono_ns() - w0;
    for (size_t i = 0; i < pn; i++) {
        uint64_t t0 = s_ticks();
        sink += s_pcre_decide(rs, &evs[i % N_EVENTS], md);
        lat[i] = s_ticks() - t0;
    }
    (void)sink;
    struct stats pc = s_summarize(lat, pn, pbulk_ns);
    size_t checked = pn < N_EVENTS ? pn : N_EVENTS;
    printf("%s: %zu rules, built in %.1f ms; %zu/%zu events routed, %zu mismatches with PCRE2\n",
           name, rs->n, (double)build_ns / 1e6, routed, checked, mismatches);
    s_print_line("engine", eng, "decisions/s", "");
    printf("  pcre2     median %8.0f ns               p99 %9.0f ns  %10.0f decisions/s"
           "  (rule by rule, JIT, one round)\n",
           pc.median_ns, pc.p99_ns, pc.per_sec);
    char note[96];
    snprintf(note, sizeof note, "  (bare hs_scan per field, %u expressions)", fl_all.n_exprs);
    s_print_line("hs floor", flo, "scans/s    ", note);
    struct spread em = s_spread(eng, offsetof(struct stats, median_ns));
    struct spread fm = s_spread(flo, offsetof(struct stats, median_ns));
    printf("  ratio     pcre2/engine x%.1f median, x%.1f p99; engine/floor x%.2f median\n",
           em.median > 0 ? pc.median_ns / em.median : 0,
           s_spread(eng, offsetof(struct stats, p99_ns)).median > 0
               ? pc.p99_ns / s_spread(eng, offsetof(struct stats, p99_ns)).median
               : 0,
           fm.median > 0 ? em.median / fm.median : 0);
    if (dm.n > 0) {
        snprintf(note, sizeof note, "  (rt_anchor, %u prefix/suffix/exact/glob patterns)", dm.n);
        s_print_line("anchored", dir, "values/s   ", note);
        snprintf(note, sizeof note, "  (hs_scan of the same %u expressions)", fl_anch.n_exprs);
        s_print_line("  vs hs", ahs, "values/s   ", note);
        struct spread dmed = s_spread(dir, offsetof(struct stats, median_ns));
        struct spread hmed = s_spread(ahs, offsetof(struct stats, median_ns));
        printf("  ratio     anchored direct/hs_scan x%.2f median (below 1: the direct "
               "comparisons cost less than the scan they replace)\n",
               hmed.median > 0 ? dmed.median / hmed.median : 0);
    } else {
        printf("  anchored  none in this set\n");
    }
    fflush(stdout);
    for (int f = 0; f < 3; f++) {
        rt_anchor_destroy(&dm.a[f]);
    }
    s_floor_free(&fl_all);
    s_floor_free(&fl_anch);
    pcre2_match_data_free(md);
    free(lat);
    rt_scratch_destroy(&s);
    rt_engine_destroy(&e);
    for (size_t i = 0; i < rs->n; i++) {
        pcre2_code_free(rs->ref[i].pats[0].re);
        free(rs->ref[i].pats[0].expr);
        free(rs->ref[i].pats[0].text);
    }
}

int
main(int argc, char **argv)
{
    size_t timed = 200000;
    if (argc > 1) {
        timed = strtoull(argv[1], NULL, 10);
        timed = timed < 10000 ? 10000 : timed > MAX_TIMED ? MAX_TIMED : timed;
    }
    s_calibrate();
    printf("== routing: decision latency in-process, %zu timed decisions per round, %d rounds "
           "(tsc %.3f ns/tick, timer overhead %.0f ticks subtracted); median (lowest..highest "
           "round)\n",
           timed, ROUNDS, s_ns_per_tick, s_overhead_ticks);
    struct {
        const char *name;
        size_t n;
        bool regex_only;
        unsigned projects;
    } sets[] = {
        {"10 mixed rules", 10, false, 40},
        {"100 mixed rules", 100, false, 200},
        {"100 regex rules", 100, true, 50},
        {"10000 mixed rules", 10000, false, 5000},
        {"10000 regex rules", 10000, true, 5000},
    };
    for (size_t k = 0; k < sizeof sets / sizeof sets[0]; k++) {
        struct ruleset rs = {json_array(), calloc(sets[k].n, sizeof(struct rrule)), 0};
        if (sets[k].regex_only) {
            s_regex_rules(&rs, sets[k].n, sets[k].projects);
        } else {
            s_mixed_rules(&rs, sets[k].n, sets[k].projects);
        }
        struct bev *evs = s_make_events(sets[k].projects);
        s_run(sets[k].name, &rs, evs, timed);
        free(evs);
        free(rs.ref);
        json_decref(rs.json);
    }
    printf("targets: <= 100 ns median at 100 rules, <= 1000 ns median at 10000 regex rules\n");
    return 0;
}
