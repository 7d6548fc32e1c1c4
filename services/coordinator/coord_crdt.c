/* SPDX-License-Identifier: Apache-2.0 */
/* Last-writer-wins register, observed-remove set and PN-counter. */
#include "coord_crdt.h"

#include <errno.h>
#include <string.h>

#include "vx_event.h"
#include "vx_mem.h"

/* ---- register values -------------------------------------------------------------------- */

struct coord_val {
    unsigned refs;
    json_t *json;           /* the JSON form, or NULL for an event's compact form: */
    const char *type;       /* a static type name */
    uint64_t ts, origin, seq;
    size_t n;               /* content pairs: keys then values, NUL-terminated, in data */
    char data[];
};

struct coord_val *
coord_val_from_json(json_t *value)
{
    struct coord_val *v = vx_calloc(1, sizeof *v);
    v->refs = 1;
    v->json = value ? json_incref(value) : json_null();
    return v;
}

struct coord_val *
coord_val_from_event(const char *type, size_t n, const char *const *keys,
                     const char *const *vals, uint64_t ts, uint64_t origin, uint64_t seq)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        bytes += strlen(keys[i]) + strlen(vals[i]) + 2;
    }
    struct coord_val *v = vx_malloc(sizeof *v + bytes);
    v->refs = 1;
    v->json = NULL;
    v->type = type;
    v->ts = ts;
    v->origin = origin;
    v->seq = seq;
    v->n = n;
    char *p = v->data;
    for (size_t i = 0; i < n; i++) {
        size_t kl = strlen(keys[i]) + 1, vl = strlen(vals[i]) + 1;
        memcpy(p, keys[i], kl);
        memcpy(p + kl, vals[i], vl);
        p += kl + vl;
    }
    return v;
}

struct coord_val *
coord_val_ref(struct coord_val *v)
{
    if (v) {
        v->refs++;
    }
    return v;
}

void
coord_val_unref(struct coord_val **vp)
{
    struct coord_val *v = *vp;
    if (v && --v->refs == 0) {
        json_decref(v->json);
        free(v);
    }
    *vp = NULL;
}

static json_t *
s_val_content(const struct coord_val *v)
{
    json_t *content = json_object();
    const char *p = v->data;
    for (size_t i = 0; i < v->n; i++) {
        const char *k = p;
        const char *val = k + strlen(k) + 1;
        json_object_set_new(content, k, json_string(val));
        p = val + strlen(val) + 1;
    }
    return content;
}

json_t *
coord_val_json(const struct coord_val *v)
{
    if (!v) {
        return json_null();
    }
    if (v->json) {
        return json_incref(v->json);
    }
    return json_pack("{s:s, s:o, s:I, s:I, s:I}", "type", v->type, "content", s_val_content(v),
                     "timestamp_ns", (json_int_t)v->ts, "origin", (json_int_t)v->origin, "seq",
                     (json_int_t)v->seq);
}

bool
coord_val_content_equal(const struct coord_val *v, json_t *content)
{
    if (!v) {
        return false;
    }
    if (v->json) {
        json_t *have = json_object_get(v->json, "content");
        return have && json_equal(have, content);
    }
    json_t *have = s_val_content(v);
    bool eq = json_equal(have, content);
    json_decref(have);
    return eq;
}

/* ---- last-writer-wins register ---------------------------------------------------------- */

void
coord_lww_init(struct coord_lww *r)
{
    memset(r, 0, sizeof *r);
    coord_vclock_init(&r->clock);
}

void
coord_lww_fini(struct coord_lww *r)
{
    coord_vclock_fini(&r->clock);
    coord_val_unref(&r->val);
    memset(r, 0, sizeof *r);
}

void
coord_lww_copy(struct coord_lww *dst, const struct coord_lww *src)
{
    if (dst == src) {
        return;
    }
    struct coord_val *v = coord_val_ref(src->val);
    coord_val_unref(&dst->val);
    dst->val = v;
    dst->set = src->set;
    dst->node = src->node;
    memcpy(dst->eid, src->eid, sizeof dst->eid);
    coord_vclock_copy(&dst->clock, &src->clock);
}

static int
s_lww_key_cmp(const struct coord_vclock *ca, uint64_t na, const uint8_t *ea,
              const struct coord_vclock *cb, uint64_t nb, const uint8_t *eb)
{
    uint64_t sa = coord_vclock_sum(ca), sb = coord_vclock_sum(cb);
    if (sa != sb) {
        return sa < sb ? -1 : 1;
    }
    if (na != nb) {
        return na < nb ? -1 : 1;
    }
    int r = memcmp(ea, eb, COORD_EID_LEN);
    if (r != 0) {
        return r < 0 ? -1 : 1;
    }
    /* Same sum, node and event id: order by the clock entries themselves so that the order
     * stays total even for malformed input reusing an event id. */
    enum coord_order o = coord_vclock_compare(ca, cb, NULL);
    if (o == COORD_EQUAL) {
        return 0;
    }
    json_t *ja = coord_vclock_to_json(ca), *jb = coord_vclock_to_json(cb);
    char *a = json_dumps(ja, JSON_COMPACT | JSON_SORT_KEYS);
    char *b = json_dumps(jb, JSON_COMPACT | JSON_SORT_KEYS);
    int c = strcmp(a ? a : "", b ? b : "");
    free(a);
    free(b);
    json_decref(ja);
    json_decref(jb);
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

int
coord_lww_cmp(const struct coord_lww *a, const struct coord_lww *b)
{
    if (!a->set || !b->set) {
        return (int)a->set - (int)b->set;
    }
    return s_lww_key_cmp(&a->clock, a->node, a->eid, &b->clock, b->node, b->eid);
}

bool
coord_lww_offer_val(struct coord_lww *r, const struct coord_vclock *clock, uint64_t node,
                    const uint8_t eid[COORD_EID_LEN], struct coord_val *val)
{
    if (r->set && s_lww_key_cmp(clock, node, eid, &r->clock, r->node, r->eid) <= 0) {
        return false;
    }
    r->set = true;
    coord_vclock_copy(&r->clock, clock);
    r->node = node;
    memcpy(r->eid, eid, COORD_EID_LEN);
    struct coord_val *v = coord_val_ref(val);
    coord_val_unref(&r->val);
    r->val = v;
    return true;
}

bool
coord_lww_offer(struct coord_lww *r, const struct coord_vclock *clock, uint64_t node,
                const uint8_t eid[COORD_EID_LEN], json_t *value)
{
    struct coord_val *v = coord_val_from_json(value);
    bool won = coord_lww_offer_val(r, clock, node, eid, v);
    coord_val_unref(&v);
    return won;
}

void
coord_lww_merge(struct coord_lww *dst, const struct coord_lww *src)
{
    if (coord_lww_cmp(src, dst) > 0) {
        coord_lww_copy(dst, src);
    }
}

bool
coord_lww_equal(const struct coord_lww *a, const struct coord_lww *b)
{
    if (coord_lww_cmp(a, b) != 0) {
        return false;
    }
    if (!a->set) {
        return true;
    }
    json_t *va = coord_val_json(a->val), *vb = coord_val_json(b->val);
    bool eq = json_equal(va, vb);
    json_decref(va);
    json_decref(vb);
    return eq;
}

json_t *
coord_lww_to_json(const struct coord_lww *r)
{
    if (!r->set) {
        return json_null();
    }
    char id[VX_EVENT_ID_STR];
    vx_event_id_format(r->eid, id);
    return json_pack("{s:o, s:I, s:s, s:o}", "clock", coord_vclock_to_json(&r->clock), "node",
                     (json_int_t)r->node, "event_id", id, "value", coord_val_json(r->val));
}

int
coord_lww_from_json(struct coord_lww *r, json_t *obj)
{
    coord_lww_fini(r);
    coord_lww_init(r);
    if (json_is_null(obj)) {
        return 0;
    }
    json_t *clock = NULL, *value = NULL;
    json_int_t node = 0;
    const char *id = NULL;
    if (json_unpack(obj, "{s:o, s:I, s:s, s:o}", "clock", &clock, "node", &node, "event_id", &id,
                    "value", &value) < 0 ||
        node < 0 || vx_event_id_parse(id, r->eid) < 0 || coord_vclock_from_json(&r->clock, clock) < 0) {
        coord_lww_fini(r);
        coord_lww_init(r);
        return -EINVAL;
    }
    r->set = true;
    r->node = (uint64_t)node;
    r->val = coord_val_from_json(value);
    return 0;
}

/* ---- observed-remove set ---------------------------------------------------------------- */

void
coord_orset_init(struct coord_orset *s)
{
    memset(s, 0, sizeof *s);
}

void
coord_orset_fini(struct coord_orset *s)
{
    for (size_t i = 0; i < s->n_adds; i++) {
        free(s->adds[i].elem);
        free(s->adds[i].tag);
    }
    for (size_t i = 0; i < s->n_removed; i++) {
        free(s->removed[i]);
    }
    free(s->adds);
    free(s->removed);
    memset(s, 0, sizeof *s);
}

static int
s_add_cmp(const char *ea, const char *ta, const char *eb, const char *tb)
{
    int r = strcmp(ea, eb);
    return r ? r : strcmp(ta, tb);
}

/* Position of (elem, tag) in adds; *found tells whether it is there. */
static size_t
s_add_find(const struct coord_orset *s, const char *elem, const char *tag, bool *found)
{
    size_t lo = 0, hi = s->n_adds;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = s_add_cmp(s->adds[mid].elem, s->adds[mid].tag, elem, tag);
        if (r == 0) {
            *found = true;
            return mid;
        }
        if (r < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *found = false;
    return lo;
}

static size_t
s_rm_find(const struct coord_orset *s, const char *tag, bool *found)
{
    size_t lo = 0, hi = s->n_removed;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = strcmp(s->removed[mid], tag);
        if (r == 0) {
            *found = true;
            return mid;
        }
        if (r < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *found = false;
    return lo;
}

void
coord_orset_add(struct coord_orset *s, const char *elem, const char *tag)
{
    bool found;
    size_t i = s_add_find(s, elem, tag, &found);
    if (found) {
        return;
    }
    if (s->n_adds == s->cap_adds) {
        s->cap_adds = s->cap_adds ? 2 * s->cap_adds : 4;
        s->adds = vx_realloc(s->adds, s->cap_adds * sizeof *s->adds);
    }
    memmove(&s->adds[i + 1], &s->adds[i], (s->n_adds - i) * sizeof *s->adds);
    s->adds[i].elem = vx_strdup(elem);
    s->adds[i].tag = vx_strdup(tag);
    s->n_adds++;
}

static bool
s_tombstone(struct coord_orset *s, const char *tag)
{
    bool found;
    size_t i = s_rm_find(s, tag, &found);
    if (found) {
        return false;
    }
    if (s->n_removed == s->cap_removed) {
        s->cap_removed = s->cap_removed ? 2 * s->cap_removed : 4;
        s->removed = vx_realloc(s->removed, s->cap_removed * sizeof *s->removed);
    }
    memmove(&s->removed[i + 1], &s->removed[i], (s->n_removed - i) * sizeof *s->removed);
    s->removed[i] = vx_strdup(tag);
    s->n_removed++;
    return true;
}

static bool
s_removed(const struct coord_orset *s, const char *tag)
{
    bool found;
    s_rm_find(s, tag, &found);
    return found;
}

size_t
coord_orset_remove(struct coord_orset *s, const char *elem)
{
    size_t n = 0;
    bool found;
    for (size_t i = s_add_find(s, elem, "", &found); i < s->n_adds; i++) {
        if (strcmp(s->adds[i].elem, elem) != 0) {
            break;
        }
        n += s_tombstone(s, s->adds[i].tag);
    }
    return n;
}

bool
coord_orset_contains(const struct coord_orset *s, const char *elem)
{
    bool found;
    for (size_t i = s_add_find(s, elem, "", &found); i < s->n_adds; i++) {
        if (strcmp(s->adds[i].elem, elem) != 0) {
            break;
        }
        if (!s_removed(s, s->adds[i].tag)) {
            return true;
        }
    }
    return false;
}

void
coord_orset_merge(struct coord_orset *dst, const struct coord_orset *src)
{
    if (dst == src) {
        return;
    }
    for (size_t i = 0; i < src->n_adds; i++) {
        coord_orset_add(dst, src->adds[i].elem, src->adds[i].tag);
    }
    for (size_t i = 0; i < src->n_removed; i++) {
        s_tombstone(dst, src->removed[i]);
    }
}

bool
coord_orset_equal(const struct coord_orset *a, const struct coord_orset *b)
{
    if (a->n_adds != b->n_adds || a->n_removed != b->n_removed) {
        return false;
    }
    for (size_t i = 0; i < a->n_adds; i++) {
        if (s_add_cmp(a->adds[i].elem, a->adds[i].tag, b->adds[i].elem, b->adds[i].tag) != 0) {
            return false;
        }
    }
    for (size_t i = 0; i < a->n_removed; i++) {
        if (strcmp(a->removed[i], b->removed[i]) != 0) {
            return false;
        }
    }
    return true;
}

json_t *
coord_orset_elements(const struct coord_orset *s)
{
    json_t *a = json_array();
    const char *last = NULL;
    for (size_t i = 0; i < s->n_adds; i++) {
        const char *e = s->adds[i].elem;
        if (last && strcmp(last, e) == 0) {
            continue;
        }
        if (coord_orset_contains(s, e)) {
            json_array_append_new(a, json_string(e));
            last = e;
        }
    }
    return a;
}

json_t *
coord_orset_to_json(const struct coord_orset *s)
{
    json_t *adds = json_array(), *rm = json_array();
    for (size_t i = 0; i < s->n_adds; i++) {
        json_array_append_new(adds, json_pack("[s, s]", s->adds[i].elem, s->adds[i].tag));
    }
    for (size_t i = 0; i < s->n_removed; i++) {
        json_array_append_new(rm, json_string(s->removed[i]));
    }
    return json_pack("{s:o, s:o}", "adds", adds, "removed", rm);
}

int
coord_orset_from_json(struct coord_orset *s, json_t *obj)
{
    coord_orset_fini(s);
    json_t *adds = json_object_get(obj, "adds"), *rm = json_object_get(obj, "removed");
    if (!json_is_array(adds) || !json_is_array(rm)) {
        return -EINVAL;
    }
    size_t i;
    json_t *v;
    json_array_foreach(adds, i, v)
    {
        const char *e, *t;
        if (json_unpack(v, "[s, s]", &e, &t) < 0) {
            coord_orset_fini(s);
            return -EINVAL;
        }
        coord_orset_add(s, e, t);
    }
    json_array_foreach(rm, i, v)
    {
        if (!json_is_string(v)) {
            coord_orset_fini(s);
            return -EINVAL;
        }
        s_tombstone(s, json_string_value(v));
    }
    return 0;
}

/* ---- positive-negative counter ---------------------------------------------------------- */

void
coord_pn_init(struct coord_pncounter *c)
{
    memset(c, 0, sizeof *c);
}

void
coord_pn_fini(struct coord_pncounter *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->e[i].node);
    }
    free(c->e);
    memset(c, 0, sizeof *c);
}

static struct coord_pn_entry *
s_pn_entry(struct coord_pncounter *c, const char *node)
{
    size_t i = 0;
    while (i < c->n && strcmp(c->e[i].node, node) < 0) {
        i++;
    }
    if (i < c->n && strcmp(c->e[i].node, node) == 0) {
        return &c->e[i];
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 4;
        c->e = vx_realloc(c->e, c->cap * sizeof *c->e);
    }
    memmove(&c->e[i + 1], &c->e[i], (c->n - i) * sizeof *c->e);
    c->e[i] = (struct coord_pn_entry){.node = vx_strdup(node)};
    c->n++;
    return &c->e[i];
}

void
coord_pn_add(struct coord_pncounter *c, const char *node, int64_t delta)
{
    struct coord_pn_entry *e = s_pn_entry(c, node);
    /* Each side stops at INT64_MAX: the state must stay representable as JSON integers, or
     * no snapshot of it could be restored. */
    uint64_t d = delta >= 0 ? (uint64_t)delta : (uint64_t)(-(delta + 1)) + 1;
    uint64_t *side = delta >= 0 ? &e->p : &e->n;
    *side = *side > (uint64_t)INT64_MAX - d ? (uint64_t)INT64_MAX : *side + d;
}

int64_t
coord_pn_value(const struct coord_pncounter *c)
{
    uint64_t p = 0, n = 0;
    for (size_t i = 0; i < c->n; i++) {
        p += c->e[i].p;
        n += c->e[i].n;
    }
    return (int64_t)(p - n);
}

void
coord_pn_merge(struct coord_pncounter *dst, const struct coord_pncounter *src)
{
    if (dst == src) {
        return;
    }
    for (size_t i = 0; i < src->n; i++) {
        struct coord_pn_entry *e = s_pn_entry(dst, src->e[i].node);
        e->p = e->p > src->e[i].p ? e->p : src->e[i].p;
        e->n = e->n > src->e[i].n ? e->n : src->e[i].n;
    }
}

bool
coord_pn_equal(const struct coord_pncounter *a, const struct coord_pncounter *b)
{
    if (a->n != b->n) {
        return false;
    }
    for (size_t i = 0; i < a->n; i++) {
        if (strcmp(a->e[i].node, b->e[i].node) != 0 || a->e[i].p != b->e[i].p ||
            a->e[i].n != b->e[i].n) {
            return false;
        }
    }
    return true;
}

json_t *
coord_pn_to_json(const struct coord_pncounter *c)
{
    json_t *o = json_object();
    for (size_t i = 0; i < c->n; i++) {
        json_object_set_new(o, c->e[i].node,
                            json_pack("[I, I]", (json_int_t)c->e[i].p, (json_int_t)c->e[i].n));
    }
    return o;
}

int
coord_pn_from_json(struct coord_pncounter *c, json_t *obj)
{
    coord_pn_fini(c);
    if (!json_is_object(obj)) {
        return -EINVAL;
    }
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        json_int_t p, n;
        if (json_unpack(v, "[I, I]", &p, &n) < 0 || p < 0 || n < 0) {
            coord_pn_fini(c);
            return -EINVAL;
        }
        struct coord_pn_entry *e = s_pn_entry(c, k);
        e->p = (uint64_t)p;
        e->n = (uint64_t)n;
    }
    return 0;
}
