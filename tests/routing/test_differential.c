/* SPDX-License-Identifier: Apache-2.0 */
/* Differential test: the Hyperscan engine against a plain rule-by-rule evaluation with PCRE2,
 * strcmp-style literal tests and a recursive glob matcher, on 100,000 generated events and a
 * few hundred random rules (every pattern kind, case folding, three fields, any/all, types,
 * tenants, minimum priorities, stop flags, tied priorities). The reference reads the rules'
 * JSON itself, so it shares no code with the engine's parser. On a difference it prints the
 * first differing event and the first rule the two disagree on.
 * A second test sweeps every anchored kind exhaustively near the lengths where Vectorscan
 * 5.4.9 errs (t_anchored_sweep, below). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <check.h>
#include <ctype.h>
#include <hs/hs.h>
#include <pcre2.h>
#include <stdint.h>
#include <stdlib.h>

#include "rt_test.h"

#define N_EVENTS 100000
#define N_RULES 400
#define MAX_PATS 3

/* ---- deterministic generator ------------------------------------------------------------ */

static uint64_t s_rng = 0x853c49e6748fea9bULL;

static uint64_t
s_next(void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return s_rng;
}

static unsigned
s_rand(unsigned n)
{
    return (unsigned)(s_next() % n);
}

static bool
s_chance(unsigned percent)
{
    return s_rand(100) < percent;
}

static const char *const s_dirs[] = {"data", "var", "log", "tmp", "home", "alice", "bob",
                                     "proj", "src",  "build", "Data", "LOG", "cache", "etc",
                                     "a-b",  "x_y",  "v1.2", "srv", "Users", "1999"};
static const char *const s_exts[] = {".log", ".txt", ".md", ".c", ".h", ".LOG", ".TXT",
                                     ".tmp", ".gz",  "",    ".json", ".Md"};
static const char *const s_words[] = {"password", "Secret",  "token", "error", "42",
                                      "alice",    "BOB",     "data",  "log",   "ok",
                                      "fail",     "timeout", "user=", "x",     "the"};
static const char *const s_users[] = {"alice", "bob", "Alice", "carol", "42", "root", "", "al"};
static const char *const s_tenants[] = {"", "acme", "globex", "initech"};
static const char *const s_bounds[] = {"analytics", "automation", "coordinator", "graph",
                                       "vector"};
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static void
s_append(char *buf, size_t cap, const char *s)
{
    size_t n = strlen(buf);
    snprintf(buf + n, cap - n, "%s", s);
}

static void
s_gen_path(char *buf, size_t cap)
{
    buf[0] = '\0';
    unsigned depth = 1 + s_rand(5);
    for (unsigned i = 0; i < depth; i++) {
        s_append(buf, cap, "/");
        s_append(buf, cap, s_dirs[s_rand(N_OF(s_dirs))]);
        if (s_chance(15)) {
            char num[16];
            snprintf(num, sizeof num, "%u", s_rand(300));
            s_append(buf, cap, num);
        }
    }
    s_append(buf, cap, s_exts[s_rand(N_OF(s_exts))]);
    if (s_chance(3)) {
        s_append(buf, cap, s_chance(50) ? "\n" : " [*]?");
    }
    if (s_chance(2)) {
        s_append(buf, cap, "\xc3\xa9");
    }
}

static void
s_gen_text(char *buf, size_t cap)
{
    buf[0] = '\0';
    unsigned n = 1 + s_rand(6);
    for (unsigned i = 0; i < n; i++) {
        if (i > 0) {
            s_append(buf, cap, s_chance(80) ? " " : s_chance(50) ? "\n" : "\t");
        }
        s_append(buf, cap, s_words[s_rand(N_OF(s_words))]);
    }
}

/* Text for a literal-like pattern of kind (0 literal, 1 prefix, 2 suffix, 3 exact) drawn from
 * a sample value of the field, so that such patterns match a fair share of events. */
static void
s_gen_piece(char *buf, size_t cap, unsigned field, unsigned kind)
{
    char sample[512];
    if (field == 0) {
        s_gen_path(sample, sizeof sample);
        if (kind == 3) {
            snprintf(sample, sizeof sample, "/%s%s", s_dirs[s_rand(N_OF(s_dirs))],
                     s_exts[s_rand(N_OF(s_exts))]);
        }
    } else if (field == 1) {
        s_gen_text(sample, sizeof sample);
        if (kind == 3) {
            snprintf(sample, sizeof sample, "%s", s_words[s_rand(N_OF(s_words))]);
        }
    } else {
        snprintf(sample, sizeof sample, "%s", s_users[s_rand(N_OF(s_users) - 2)]);
    }
    size_t len = strlen(sample);
    size_t n = 2 + s_rand(5);
    if (n > len) {
        n = len;
    }
    switch (kind) {
    case 1: /* a leading part: a directory or two, or the start of a word */
        if (field == 0) {
            const char *cut = strchr(sample + 1, '/');
            if (cut != NULL && s_chance(70)) {
                n = (size_t)(cut - sample) + 1;
            }
        }
        snprintf(buf, cap, "%.*s", (int)n, sample);
        return;
    case 2: /* a trailing part: an extension or the end of a word */
        snprintf(buf, cap, "%s", sample + len - n);
        return;
    case 3:
        snprintf(buf, cap, "%s", sample);
        return;
    default: {
        size_t start = s_rand((unsigned)(len - n + 1));
        snprintf(buf, cap, "%.*s", (int)n, sample + start);
    }
    }
}

static void
s_gen_glob(char *buf, size_t cap)
{
    buf[0] = '\0';
    unsigned depth = 1 + s_rand(3);
    for (unsigned i = 0; i < depth; i++) {
        s_append(buf, cap, "/");
        unsigned r = s_rand(10);
        if (r < 3) {
            s_append(buf, cap, "*");
        } else if (r < 5) {
            s_append(buf, cap, "**");
        } else if (r == 5) {
            s_append(buf, cap, s_chance(50) ? "[a-d]*" : "[!a-d]*");
        } else if (r == 6) {
            s_append(buf, cap, "?a*");
        } else {
            s_append(buf, cap, s_dirs[s_rand(N_OF(s_dirs))]);
        }
    }
    if (s_chance(60)) {
        s_append(buf, cap, s_chance(50) ? "*" : "**");
        s_append(buf, cap, s_exts[s_rand(N_OF(s_exts))]);
    }
}

static void s_gen_seq(char *buf, size_t cap, int depth);

static void
s_gen_atom(char *buf, size_t cap, int depth)
{
    static const char *const atoms[] = {".",   "[a-z]", "[0-9]", "[A-Za-z_]", "[^/]", "\\d",
                                        "\\w", "\\.",   "/",     "\\-",       "_",    "\\b"};
    unsigned r = s_rand(10);
    if (r < 4) {
        s_append(buf, cap, s_chance(50) ? s_dirs[s_rand(N_OF(s_dirs))]
                                        : s_words[s_rand(N_OF(s_words))]);
    } else if (r < 8 || depth > 1) {
        s_append(buf, cap, atoms[s_rand(N_OF(atoms))]);
    } else {
        s_append(buf, cap, "(");
        unsigned alts = 1 + s_rand(3);
        for (unsigned i = 0; i < alts; i++) {
            if (i > 0) {
                s_append(buf, cap, "|");
            }
            s_gen_seq(buf, cap, depth + 1);
        }
        s_append(buf, cap, ")");
    }
    if (s_chance(30)) {
        static const char *const q[] = {"*", "+", "?", "{2}", "{1,3}", "{0,2}"};
        /* A quantifier on \b is not meaningful; skip it there. */
        size_t n = strlen(buf);
        if (!(n >= 2 && strcmp(buf + n - 2, "\\b") == 0)) {
            s_append(buf, cap, q[s_rand(N_OF(q))]);
        }
    }
}

static void
s_gen_seq(char *buf, size_t cap, int depth)
{
    unsigned n = 1 + s_rand(3);
    for (unsigned i = 0; i < n; i++) {
        s_gen_atom(buf, cap, depth);
    }
}

static void
s_gen_regex(char *buf, size_t cap, unsigned field)
{
    buf[0] = '\0';
    if (s_chance(25)) {
        s_append(buf, cap, "^");
    }
    if (field == 0 && s_chance(30)) {
        s_append(buf, cap, ".*");
    }
    s_gen_seq(buf, cap, 0);
    if (s_chance(25)) {
        s_append(buf, cap, "$");
    }
}

/* Both engines accept the expression (the subset under test). */
static bool
s_both_accept(const char *re, bool cs)
{
    hs_expr_info_t *info = NULL;
    hs_compile_error_t *ce = NULL;
    hs_database_t *db = NULL;
    unsigned fl = HS_FLAG_SINGLEMATCH | HS_FLAG_ALLOWEMPTY | (cs ? 0 : HS_FLAG_CASELESS);
    if (hs_compile(re, fl, HS_MODE_BLOCK, NULL, &db, &ce) != HS_SUCCESS) {
        hs_free_compile_error(ce);
        return false;
    }
    hs_free_database(db);
    free(info);
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, cs ? 0 : PCRE2_CASELESS,
                                  &ec, &eo, NULL);
    if (c == NULL) {
        return false;
    }
    pcre2_code_free(c);
    return true;
}

static const char *const s_kinds[] = {"literal", "prefix", "suffix", "exact", "glob", "regex"};
static const char *const s_fields[] = {"path", "content.body", "metadata.user"};

/* plain: no rules without patterns and no tenant conditions, which takes the engine's other
 * paths (candidates straight from the type mask, matches gathered from the scan). */
static json_t *
s_gen_rules(unsigned *n_regex, bool plain)
{
    json_t *rules = json_array();
    for (int i = 0; i < N_RULES; i++) {
        json_t *r = json_object();
        char id[16];
        snprintf(id, sizeof id, "r%03d", i);
        json_object_set_new(r, "id", json_string(id));
        json_object_set_new(r, "priority", json_integer((json_int_t)s_rand(26) - 5));
        if (s_chance(8)) {
            json_object_set_new(r, "enabled", json_false());
        }
        if (s_chance(2)) {
            json_object_set_new(r, "stop", json_true());
        }
        json_t *c = json_object();
        bool static_rule = !plain && s_chance(12);
        if (static_rule || s_chance(30)) {
            json_t *types = json_array();
            for (unsigned k = 1 + s_rand(static_rule ? 2 : 4); k > 0; k--) {
                json_array_append_new(types, json_string(vx_event_type_name(1 + (int)s_rand(20))));
            }
            json_object_set_new(c, "event_types", types);
        }
        if (!plain && s_chance(static_rule ? 60 : 20)) {
            json_object_set_new(c, "tenant", json_string(s_tenants[1 + s_rand(3)]));
        }
        if (s_chance(20)) {
            json_object_set_new(c, "min_priority", json_integer(s_rand(9)));
        }
        if (!static_rule) {
            json_t *pats = json_array();
            bool all = s_chance(15);
            for (unsigned k = 1 + s_rand(all ? 2 : MAX_PATS); k > 0; k--) {
                unsigned kind = s_rand(N_OF(s_kinds));
                unsigned field = s_chance(60) ? 0 : s_chance(60) ? 1 : 2;
                bool cs = s_chance(50);
                char text[512];
                if (kind == 4) {
                    if (field == 0) {
                        s_gen_glob(text, sizeof text);
                    } else {
                        snprintf(text, sizeof text, "*%s*", s_words[s_rand(N_OF(s_words))]);
                    }
                } else if (kind == 5) {
                    s_gen_regex(text, sizeof text, field);
                    if (!s_both_accept(text, cs)) {
                        kind = 0;
                        s_gen_piece(text, sizeof text, field, kind);
                    } else {
                        (*n_regex)++;
                    }
                } else {
                    s_gen_piece(text, sizeof text, field, kind);
                }
                json_array_append_new(pats, json_pack("{s:s, s:s, s:b, s:s}", "kind",
                                                      s_kinds[kind], "pattern", text,
                                                      "case_sensitive", cs, "field",
                                                      s_fields[field]));
            }
            json_object_set_new(c, "patterns", pats);
            if (all) {
                json_object_set_new(c, "pattern_match", json_string("all"));
            }
        }
        json_object_set_new(r, "conditions", c);
        json_t *tb = json_array();
        for (unsigned b = 0; b < N_OF(s_bounds); b++) {
            if (s_chance(30)) {
                json_array_append_new(tb, json_string(s_bounds[b]));
            }
        }
        json_object_set_new(r, "target_boundaries", tb);
        json_object_set_new(r, "actions", json_pack("{s:i}", "priority_boost", s_rand(4)));
        json_array_append_new(rules, r);
    }
    return rules;
}

/* ---- the reference ---------------------------------------------------------------------- */

struct ref_pat {
    const char *kind;
    const char *text;
    bool cs;
    unsigned field;
    pcre2_code *re;
};

struct ref_rule {
    json_t *json;
    const char *id;
    long long priority;
    size_t pos;
    bool enabled, stop, all;
    uint32_t types; /* bitmask, 0 any */
    const char *tenant;
    unsigned min_priority;
    struct ref_pat pats[MAX_PATS];
    unsigned n_pats;
    uint64_t targets;
    unsigned boost;
};

static int
cb_ref_order(const void *a, const void *b)
{
    const struct ref_rule *x = a, *y = b;
    if (x->priority != y->priority) {
        return x->priority > y->priority ? -1 : 1;
    }
    return x->pos < y->pos ? -1 : 1;
}

static void
s_ref_load(json_t *rules, struct ref_rule *out)
{
    size_t i;
    json_t *r;
    json_array_foreach(rules, i, r) {
        struct ref_rule *rr = &out[i];
        memset(rr, 0, sizeof *rr);
        rr->json = r;
        rr->id = json_string_value(json_object_get(r, "id"));
        rr->priority = json_integer_value(json_object_get(r, "priority"));
        rr->pos = i;
        rr->enabled = !json_is_false(json_object_get(r, "enabled"));
        rr->stop = json_is_true(json_object_get(r, "stop"));
        json_t *c = json_object_get(r, "conditions");
        rr->all = json_object_get(c, "pattern_match") != NULL;
        size_t k;
        json_t *v;
        json_array_foreach(json_object_get(c, "event_types"), k, v) {
            int t;
            ck_assert_int_eq(vx_event_type_parse(json_string_value(v), &t), 0);
            rr->types |= 1u << t;
        }
        rr->tenant = json_string_value(json_object_get(c, "tenant"));
        rr->min_priority = (unsigned)json_integer_value(json_object_get(c, "min_priority"));
        json_array_foreach(json_object_get(c, "patterns"), k, v) {
            struct ref_pat *p = &rr->pats[rr->n_pats++];
            p->kind = json_string_value(json_object_get(v, "kind"));
            p->text = json_string_value(json_object_get(v, "pattern"));
            p->cs = json_is_true(json_object_get(v, "case_sensitive"));
            const char *f = json_string_value(json_object_get(v, "field"));
            p->field = strcmp(f, "path") == 0 ? 0 : strcmp(f, "content.body") == 0 ? 1 : 2;
            if (strcmp(p->kind, "regex") == 0) {
                int ec;
                PCRE2_SIZE eo;
                p->re = pcre2_compile((PCRE2_SPTR)p->text, PCRE2_ZERO_TERMINATED,
                                      p->cs ? 0 : PCRE2_CASELESS, &ec, &eo, NULL);
                ck_assert_ptr_nonnull(p->re);
                pcre2_jit_compile(p->re, PCRE2_JIT_COMPLETE);
            }
        }
        json_array_foreach(json_object_get(r, "target_boundaries"), k, v) {
            for (unsigned b = 0; b < N_OF(s_bounds); b++) {
                if (strcmp(s_bounds[b], json_string_value(v)) == 0) {
                    rr->targets |= 1ULL << b;
                }
            }
        }
        rr->boost = (unsigned)json_integer_value(
            json_object_get(json_object_get(r, "actions"), "priority_boost"));
    }
}

static int
s_fold(int c, bool cs)
{
    return cs ? c : tolower(c);
}

static bool
s_eq(const char *a, const char *b, size_t n, bool cs)
{
    for (size_t i = 0; i < n; i++) {
        if (s_fold((unsigned char)a[i], cs) != s_fold((unsigned char)b[i], cs)) {
            return false;
        }
    }
    return true;
}

/* Class at g (after '['): does c match? Sets *end past the closing ']'. */
static bool
s_class(const char *g, unsigned char c, bool cs, const char **end)
{
    bool neg = *g == '!' || *g == '^';
    if (neg) {
        g++;
    }
    bool hit = false, first = true;
    while (*g && (*g != ']' || first)) {
        unsigned char lo = (unsigned char)*g++;
        if (lo == '\\' && *g) {
            lo = (unsigned char)*g++;
        }
        unsigned char hi = lo;
        if (g[0] == '-' && g[1] && g[1] != ']') {
            hi = (unsigned char)g[1];
            g += 2;
        }
        for (unsigned x = lo; x <= hi; x++) {
            if (s_fold((int)x, cs) == s_fold(c, cs)) {
                hit = true;
            }
        }
        first = false;
    }
    *end = *g ? g + 1 : g;
    return neg ? !hit && c != '/' : hit;
}

static bool
s_glob(const char *g, const char *s, bool cs)
{
    while (*g) {
        if (g[0] == '*' && g[1] == '*') {
            while (*g == '*') {
                g++;
            }
            for (const char *t = s;; t++) {
                if (s_glob(g, t, cs)) {
                    return true;
                }
                if (*t == '\0') {
                    return false;
                }
            }
        }
        if (*g == '*') {
            g++;
            for (const char *t = s;; t++) {
                if (s_glob(g, t, cs)) {
                    return true;
                }
                if (*t == '\0' || *t == '/') {
                    return false;
                }
            }
        }
        if (*s == '\0') {
            return false;
        }
        if (*g == '?') {
            if (*s == '/') {
                return false;
            }
            g++;
            s++;
        } else if (*g == '[') {
            const char *end;
            if (!s_class(g + 1, (unsigned char)*s, cs, &end)) {
                return false;
            }
            g = end;
            s++;
        } else {
            if (*g == '\\' && g[1]) {
                g++;
            }
            if (s_fold((unsigned char)*g, cs) != s_fold((unsigned char)*s, cs)) {
                return false;
            }
            g++;
            s++;
        }
    }
    return *s == '\0';
}

static bool
s_pat_match(const struct ref_pat *p, const char *v, pcre2_match_data *md)
{
    size_t vl = strlen(v), tl = strlen(p->text);
    if (strcmp(p->kind, "literal") == 0) {
        for (size_t i = 0; i + tl <= vl; i++) {
            if (s_eq(v + i, p->text, tl, p->cs)) {
                return true;
            }
        }
        return false;
    }
    if (strcmp(p->kind, "prefix") == 0) {
        return vl >= tl && s_eq(v, p->text, tl, p->cs);
    }
    if (strcmp(p->kind, "suffix") == 0) {
        return vl >= tl && s_eq(v + vl - tl, p->text, tl, p->cs);
    }
    if (strcmp(p->kind, "exact") == 0) {
        return vl == tl && s_eq(v, p->text, tl, p->cs);
    }
    if (strcmp(p->kind, "glob") == 0) {
        return s_glob(p->text, v, p->cs);
    }
    return pcre2_match(p->re, (PCRE2_SPTR)v, vl, 0, 0, md, NULL) >= 0;
}

struct ref_event {
    int type;
    const char *tenant;
    unsigned priority;
    const char *values[3]; /* path (NULL when empty), body, user; NULL when absent */
};

static bool
s_ref_rule(const struct ref_rule *r, const struct ref_event *ev, pcre2_match_data *md)
{
    if (!r->enabled || (r->types && !(r->types & (1u << ev->type))) ||
        (r->tenant && strcmp(r->tenant, ev->tenant) != 0) || ev->priority < r->min_priority) {
        return false;
    }
    if (r->n_pats == 0) {
        return true;
    }
    unsigned hits = 0;
    for (unsigned k = 0; k < r->n_pats; k++) {
        const char *v = ev->values[r->pats[k].field];
        hits += v != NULL && s_pat_match(&r->pats[k], v, md);
    }
    return r->all ? hits == r->n_pats : hits > 0;
}

/* ---- the test --------------------------------------------------------------------------- */

START_TEST(t_engine_equals_reference)
{
    unsigned n_regex = 0;
    s_rng = 0x853c49e6748fea9bULL + (uint64_t)_i * 0x9e3779b97f4a7c15ULL;
    json_t *rules = s_gen_rules(&n_regex, _i == 1);
    struct ref_rule *ref = calloc(N_RULES, sizeof *ref);
    s_ref_load(rules, ref);
    qsort(ref, N_RULES, sizeof *ref, cb_ref_order);
    rt_engine_t *e = NULL;
    char err[512];
    int rc = rt_engine_build(rules, NULL, NULL, &e, err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
    rt_scratch_t *s = rt_scratch_new(e);
    pcre2_match_data *md = pcre2_match_data_create(4, NULL);
    uint32_t *want = calloc(N_RULES, sizeof *want);
    uint32_t *hits = calloc(N_RULES, sizeof *hits);
    unsigned matched_events = 0, total_matches = 0, stops = 0;
    char path[600], body[600], user[64];
    for (int i = 0; i < N_EVENTS; i++) {
        struct vt_tev t;
        struct ref_event rev = {0};
        s_gen_path(path, sizeof path);
        rev.type = 1 + (int)s_rand(20);
        vt_tev_init(&t, vx_event_type_name(rev.type), s_chance(97) ? path : "");
        rev.values[0] = t.ev.path[0] ? t.ev.path : NULL;
        rev.tenant = s_tenants[s_rand(N_OF(s_tenants))];
        t.ev.tenant = (char *)rev.tenant;
        rev.priority = s_rand(11);
        t.ev.priority = rev.priority;
        if (s_chance(50)) {
            s_gen_text(body, sizeof body);
            if (s_chance(4)) {
                vt_tev_content(&t, "body", "shadowed password token");
            }
            vt_tev_content(&t, "size", "4096");
            vt_tev_content(&t, "body", body);
            rev.values[1] = body;
        }
        if (s_chance(40)) {
            snprintf(user, sizeof user, "%s", s_users[s_rand(N_OF(s_users))]);
            vt_tev_meta(&t, "user", user);
            rev.values[2] = user;
        }
        uint32_t n_want = 0;
        uint64_t targets = 0;
        unsigned boost = 0;
        for (uint32_t k = 0; k < N_RULES; k++) {
            if (s_ref_rule(&ref[k], &rev, md)) {
                hits[k]++;
                want[n_want++] = k;
                targets |= ref[k].targets;
                boost += ref[k].boost;
                if (ref[k].stop) {
                    stops++;
                    break;
                }
            }
        }
        struct rt_decision d;
        rt_engine_decide(e, s, &t.ev, 0, false, &d);
        bool same = d.n_rules == n_want && d.targets == targets && d.priority_boost == boost;
        for (uint32_t k = 0; same && k < n_want; k++) {
            same = strcmp(rt_engine_rule_id(e, d.rules[k]), ref[want[k]].id) == 0;
        }
        if (!same) {
            /* Find the first rule the two disagree on, in evaluation order. */
            const char *rid = "(order or targets)";
            char *rj = NULL;
            for (uint32_t k = 0; k < n_want || k < d.n_rules; k++) {
                const char *a = k < n_want ? ref[want[k]].id : "(none)";
                const char *b = k < d.n_rules ? rt_engine_rule_id(e, d.rules[k]) : "(none)";
                if (strcmp(a, b) != 0) {
                    /* The one earlier in evaluation order is the rule one side missed. */
                    int32_t ia = k < n_want ? rt_engine_rule_index(e, a) : INT32_MAX;
                    int32_t ib = k < d.n_rules ? (int32_t)d.rules[k] : INT32_MAX;
                    rid = ia < ib ? a : b;
                    break;
                }
            }
            for (uint32_t k = 0; k < N_RULES; k++) {
                if (strcmp(ref[k].id, rid) == 0) {
                    rj = json_dumps(ref[k].json, JSON_COMPACT);
                }
            }
            ck_abort_msg("event %d differs: type %s tenant \"%s\" priority %u path \"%s\" "
                         "body \"%s\" user \"%s\": reference %u rules, engine %u; first "
                         "differing rule %s: %s",
                         i, vx_event_type_name(rev.type), rev.tenant, rev.priority,
                         rev.values[0] ? rev.values[0] : "", rev.values[1] ? rev.values[1] : "",
                         rev.values[2] ? rev.values[2] : "", n_want, d.n_rules, rid,
                         rj ? rj : "?");
            free(rj);
        }
        matched_events += n_want > 0;
        total_matches += n_want;
    }
    /* Rules that both matched and missed: the comparison decided something for them. */
    unsigned decisive = 0, enabled = 0;
    for (uint32_t k = 0; k < N_RULES; k++) {
        enabled += ref[k].enabled;
        decisive += hits[k] > 0 && hits[k] < N_EVENTS;
    }
    printf("differential (%s): %d events, %d rules (%u enabled, %u regex patterns), %u events "
           "matched, %u rule matches, %u stops, %u rules both matched and missed\n",
           _i == 1 ? "patterns only, no tenants" : "mixed", N_EVENTS, N_RULES, enabled, n_regex,
           matched_events, total_matches, stops, decisive);
    ck_assert_uint_gt(decisive, enabled * 8 / 10);
    /* The corpus must exercise both outcomes, or the comparison proves little. */
    ck_assert_uint_gt(matched_events, N_EVENTS / 10);
    ck_assert_uint_lt(matched_events, N_EVENTS);
    ck_assert_uint_gt(n_regex, 50);
    ck_assert_uint_gt(stops, 100);
    for (uint32_t k = 0; k < N_RULES; k++) {
        for (unsigned p = 0; p < ref[k].n_pats; p++) {
            pcre2_code_free(ref[k].pats[p].re);
        }
    }
    pcre2_match_data_free(md);
    free(want);
    free(hits);
    free(ref);
    json_decref(rules);
    rt_scratch_destroy(&s);
    rt_engine_destroy(&e);
}
END_TEST

/* ---- the anchored sweep ----------------------------------------------------------------- */

/* Every anchored kind (prefix, suffix, exact, glob) with a pattern of 1 to 8 bytes, against
 * inputs of 1 to 80 bytes, each in a rule set that also holds other patterns on the same field
 * (literals, a regex, other anchored kinds), case-sensitive and caseless. Vectorscan 5.4.9
 * misses 2-byte end-anchored matches at lengths 18-32 (to 64 with AVX-512) when such a
 * pattern shares a database with a literal; this sweeps that neighbourhood exhaustively.
 * The oracle is PCRE2 with the meaning of each kind written out here, independently of the
 * engine's own translation. */

#define SW_MAX_LEN 80
#define SW_MAX_RULES 8
#define SW_VARIANTS 6

static const char s_sw_alpha[] = "abOGcz./";

struct sw_pat {
    const char *kind;
    char text[40];
    bool cs;
};

/* The companions of a swept pattern: each set shares the swept pattern's field. */
static const struct sw_pat s_sw_companions[][4] = {
    {{NULL, "", true}},
    {{"literal", "zzz", true}},
    {{"literal", "zz", true}},
    {{"literal", "main", false}},
    {{"regex", "q[0-9]+x", true}},
    {{"prefix", "/tmp/", true}, {"suffix", ".h", true}, {"exact", "/a/b", false}},
    {{"literal", "zzz", true},
     {"regex", "q[0-9]+x", false},
     {"suffix", "OG", true},
     {"glob", "**.gz", false}},
};
#define SW_N_COMP (sizeof s_sw_companions / sizeof s_sw_companions[0])

/* Glob shapes around the literal core X. */
static const char *const s_sw_shapes[] = {"**%s", "*%s", "%s*", "%s**", "%s", "?%s", "%s?",
                                          "/**%s"};
#define SW_N_SHAPES (sizeof s_sw_shapes / sizeof s_sw_shapes[0])

static void
s_sw_hex(char *out, size_t cap, const char *text)
{
    for (; *text; text++) {
        char h[8];
        snprintf(h, sizeof h, "\\x%02x", (unsigned char)*text);
        s_append(out, cap, h);
    }
}

/* The PCRE2 pattern with the meaning rt_engine.h gives the kind. */
static void
s_sw_oracle(const struct sw_pat *p, char *out, size_t cap)
{
    out[0] = '\0';
    if (strcmp(p->kind, "regex") == 0) {
        snprintf(out, cap, "%s", p->text);
        return;
    }
    if (strcmp(p->kind, "literal") == 0) {
        s_sw_hex(out, cap, p->text);
        return;
    }
    bool start = strcmp(p->kind, "suffix") != 0;
    bool end = strcmp(p->kind, "prefix") != 0;
    s_append(out, cap, start ? "\\A" : "");
    if (strcmp(p->kind, "glob") == 0) {
        for (const char *g = p->text; *g; g++) {
            if (g[0] == '*' && g[1] == '*') {
                s_append(out, cap, "[\\s\\S]*");
                g++;
            } else if (*g == '*') {
                s_append(out, cap, "[^/]*");
            } else if (*g == '?') {
                s_append(out, cap, "[^/]");
            } else {
                char one[2] = {*g, '\0'};
                s_sw_hex(out, cap, one);
            }
        }
    } else {
        s_sw_hex(out, cap, p->text);
    }
    s_append(out, cap, end ? "\\z" : "");
}

/* The literal core of a swept pattern: random bytes of the alphabet, or at 2 bytes the
 * shapes of the report (OG, .c) half of the time. */
static void
s_sw_core(char *out, unsigned len)
{
    if (len == 2 && s_chance(50)) {
        snprintf(out, 3, "%s", s_chance(50) ? "OG" : ".c");
        return;
    }
    for (unsigned i = 0; i < len; i++) {
        out[i] = s_sw_alpha[s_rand(sizeof s_sw_alpha - 1)];
    }
    out[len] = '\0';
}

static void
s_sw_flip_case(char *s)
{
    for (; *s; s++) {
        if (isalpha((unsigned char)*s)) {
            *s = (char)(*s ^ 0x20);
        }
    }
}

/* Input variant v of length len around the core: random; the core where the kind anchors it
 * (at the start when the pattern starts with it, else at the end); that with its case
 * flipped; the core at the other end; the core with one byte changed; companions' texts
 * inside and the core at its place. */
static void
s_sw_input(char *buf, unsigned len, unsigned v, const char *core, bool core_first)
{
    for (unsigned i = 0; i < len; i++) {
        buf[i] = s_sw_alpha[s_rand(sizeof s_sw_alpha - 1)];
    }
    buf[len] = '\0';
    size_t cl = strlen(core);
    if (v == 0 || cl > len) {
        return;
    }
    if (v == 5 && len >= cl + 4) {
        const char *other = s_chance(50) ? "zzz" : "q12x";
        memcpy(buf + (core_first ? len - 4 : 0), other, strlen(other));
    }
    bool at_start = v == 3 ? !core_first : core_first;
    memcpy(buf + (at_start ? 0 : len - cl), core, cl);
    if (v == 2) {
        s_sw_flip_case(buf);
    } else if (v == 4) {
        char *b = buf + (at_start ? 0 : len - cl) + s_rand((unsigned)cl);
        *b = *b == 'a' ? 'b' : 'a';
    }
}

START_TEST(t_anchored_sweep)
{
    static const char *const kinds[] = {"prefix", "suffix", "exact", "glob"};
    static const char *const fields[] = {"path", "content.body"};
    s_rng = 0x9e3779b97f4a7c15ULL;
    pcre2_match_data *md = pcre2_match_data_create(4, NULL);
    unsigned long checks = 0, target_hits = 0, target_misses = 0, builds = 0;
    unsigned shape_i = 0;
    /* Every kind x pattern length 1..8 x case mode x companion set, as one index. */
    unsigned n_sets = (unsigned)(N_OF(kinds) * 8 * 2 * SW_N_COMP);
    for (unsigned set = 0; set < n_sets; set++) {
        unsigned c = set % SW_N_COMP;
        unsigned cs = set / SW_N_COMP % 2;
        unsigned plen = 1 + set / (SW_N_COMP * 2) % 8;
        unsigned k = set / (SW_N_COMP * 2 * 8);
        unsigned fi = (plen + c) % 2;
        struct sw_pat pats[SW_MAX_RULES];
        unsigned np = 0;
        char core[16];
        s_sw_core(core, plen);
        bool core_first = strcmp(kinds[k], "prefix") == 0;
        pats[np] = (struct sw_pat){kinds[k], "", cs == 1};
        if (strcmp(kinds[k], "glob") == 0) {
            const char *shape = s_sw_shapes[shape_i++ % SW_N_SHAPES];
            snprintf(pats[np].text, sizeof pats[np].text, shape, core);
            core_first = shape[0] == '%';
        } else {
            snprintf(pats[np].text, sizeof pats[np].text, "%s", core);
        }
        np++;
        for (unsigned j = 0; j < 4 && s_sw_companions[c][j].kind; j++) {
            pats[np++] = s_sw_companions[c][j];
        }
        /* The rule set: rule i holds pattern i; priorities keep evaluation in that order. */
        json_t *rules = json_array();
        pcre2_code *re[SW_MAX_RULES];
        for (unsigned i = 0; i < np; i++) {
            char id[8], oracle[256];
            snprintf(id, sizeof id, "r%u", i);
            json_array_append_new(
                rules, json_pack("{s:s, s:i, s:{s:[{s:s, s:s, s:b, s:s}]}, s:[s]}", "id", id,
                                 "priority", 100 - (int)i, "conditions", "patterns", "kind",
                                 pats[i].kind, "pattern", pats[i].text, "case_sensitive",
                                 pats[i].cs, "field", fields[fi], "target_boundaries",
                                 s_bounds[i % N_OF(s_bounds)]));
            s_sw_oracle(&pats[i], oracle, sizeof oracle);
            int ec;
            PCRE2_SIZE eo;
            re[i] = pcre2_compile((PCRE2_SPTR)oracle, PCRE2_ZERO_TERMINATED,
                                  pats[i].cs ? 0 : PCRE2_CASELESS, &ec, &eo, NULL);
            ck_assert_msg(re[i] != NULL, "oracle does not compile: %s", oracle);
        }
        rt_engine_t *e = NULL;
        char err[512];
        ck_assert_msg(rt_engine_build(rules, NULL, NULL, &e, err, sizeof err) == 0, "%s", err);
        rt_scratch_t *s = rt_scratch_new(e);
        builds++;
        for (unsigned len = 1; len <= SW_MAX_LEN; len++) {
            for (unsigned v = 0; v < SW_VARIANTS; v++) {
                char in[SW_MAX_LEN + 1];
                s_sw_input(in, len, v, core, core_first);
                struct vt_tev t;
                if (fi == 0) {
                    vt_tev_init(&t, "filesystem_write", in);
                } else {
                    vt_tev_init(&t, "filesystem_write", "/x");
                    vt_tev_content(&t, "body", in);
                }
                uint32_t want = 0, got = 0;
                for (unsigned i = 0; i < np; i++) {
                    if (pcre2_match(re[i], (PCRE2_SPTR)in, len, 0, 0, md, NULL) >= 0) {
                        want |= 1u << i;
                    }
                }
                struct rt_decision d;
                rt_engine_decide(e, s, &t.ev, 0, true, &d);
                for (uint32_t i = 0; i < d.n_rules; i++) {
                    got |= 1u << (rt_engine_rule_id(e, d.rules[i])[1] - '0');
                }
                checks++;
                target_hits += want & 1;
                target_misses += !(want & 1);
                if (want != got) {
                    char *rj = json_dumps(rules, JSON_COMPACT);
                    ck_abort_msg("anchored sweep: %s \"%s\"%s on %s, input of %u bytes \"%s\": "
                                 "rules matched by PCRE2 0x%x, by the engine 0x%x (bit i: "
                                 "rule ri); set %s",
                                 pats[0].kind, pats[0].text, pats[0].cs ? "" : " (caseless)",
                                 fields[fi], len, in, want, got, rj);
                    free(rj);
                }
            }
        }
        rt_scratch_destroy(&s);
        rt_engine_destroy(&e);
        for (unsigned i = 0; i < np; i++) {
            pcre2_code_free(re[i]);
        }
        json_decref(rules);
    }
    printf("anchored sweep: %lu rule sets, %lu decisions, swept pattern matched %lu times and "
           "missed %lu times\n",
           builds, checks, target_hits, target_misses);
    /* Both outcomes, in volume, or the sweep proves little. */
    ck_assert_uint_gt(target_hits, checks / 5);
    ck_assert_uint_gt(target_misses, checks / 5);
    pcre2_match_data_free(md);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("rt_differential");
    TCase *tc = tcase_create("hyperscan_vs_pcre2");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, t_engine_equals_reference, 0, 2);
    suite_add_tcase(s, tc);
    tc = tcase_create("anchored_sweep");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, t_anchored_sweep);
    suite_add_tcase(s, tc);
    return rt_run_suite(s);
}
