/* SPDX-License-Identifier: Apache-2.0 */
/* Snapshot and restore of the whole state machine.
 *
 * Why this shape: raft takes a snapshot on its loop thread (commits wait meanwhile), every
 * snapshot_threshold entries, and ships it to followers that fell behind. The two biggest
 * parts, the deduplication ids (up to 65536 x 16 bytes) and the event log window (one record
 * per event), are written as raw bytes; building and dumping them as JSON cost a hundred
 * milliseconds and more. The rest (counters, keys with their CRDT state, open conflicts)
 * stays one JSON document, readable with jq.
 *
 * Version 3 (written):
 *   "VCS" 3 | u32 json length | JSON {"v":3, counters, "cluster", "cur", "keys", "conflicts"}
 *   | u32 n, n x 16 bytes (id generation 0) | u32 n, n x 16 bytes (generation 1)
 *   | u32 records, then per record: u64 seq, u64 raft index, u64 origin, 16 bytes event id,
 *     u32 type, u8 relation, u16 path length, path, u32 clock length, packed clock
 * all integers little-endian. Versions 1 and 2 (one JSON document, ids as hex, the log as
 * arrays) are still read. A snapshot that does not decode in full changes nothing. */
#include "coord_fsm_priv.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vx_event.h"
#include "vx_mem.h"

#define S_VERSION 3

static const char *const s_relations[] = {"first", "after", "stale", "concurrent"};
#define S_N_RELATIONS (sizeof s_relations / sizeof s_relations[0])

static const char *
s_relation(const char *name)
{
    for (size_t i = 0; i < S_N_RELATIONS; i++) {
        if (strcmp(name, s_relations[i]) == 0) {
            return s_relations[i];
        }
    }
    return "first";
}

static unsigned
s_relation_index(const char *rel)
{
    for (unsigned i = 0; i < S_N_RELATIONS; i++) {
        if (rel == s_relations[i] || strcmp(rel, s_relations[i]) == 0) {
            return i;
        }
    }
    return 0;
}

static int
s_unhex(const char *s, size_t slen, uint8_t *out, size_t n)
{
    if (slen != 2 * n) {
        return -EINVAL;
    }
    for (size_t i = 0; i < 2 * n; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0) {
            return -EINVAL;
        }
        out[i / 2] = (uint8_t)(i % 2 ? (out[i / 2] | v) : (v << 4));
    }
    return 0;
}

/* ---- a growing byte buffer and a bounded reader ------------------------------------------- */

struct s_out {
    uint8_t *p;
    size_t len, cap;
};

static uint8_t *
s_room(struct s_out *o, size_t n)
{
    if (o->len + n > o->cap) {
        o->cap = o->cap * 2 > o->len + n ? o->cap * 2 : o->len + n + 4096;
        o->p = vx_realloc(o->p, o->cap);
    }
    uint8_t *at = o->p + o->len;
    o->len += n;
    return at;
}

static void
s_put(struct s_out *o, uint64_t v, int bytes)
{
    uint8_t *p = s_room(o, (size_t)bytes);
    for (int i = 0; i < bytes; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void
s_put_bytes(struct s_out *o, const void *data, size_t n)
{
    if (n) {
        memcpy(s_room(o, n), data, n);
    }
}

struct s_in {
    const uint8_t *p;
    size_t left;
    bool bad;
};

static uint64_t
s_get(struct s_in *in, int bytes)
{
    if (in->bad || in->left < (size_t)bytes) {
        in->bad = true;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) {
        v |= (uint64_t)in->p[i] << (8 * i);
    }
    in->p += bytes;
    in->left -= (size_t)bytes;
    return v;
}

static const uint8_t *
s_get_bytes(struct s_in *in, size_t n)
{
    if (in->bad || in->left < n) {
        in->bad = true;
        return NULL;
    }
    const uint8_t *at = in->p;
    in->p += n;
    in->left -= n;
    return at;
}

/* Whether p holds exactly one packed clock of len bytes (coord_vclock_pack). */
static bool
s_clock_valid(const uint8_t *p, size_t len)
{
    struct s_in in = {p, len, false};
    size_t n = (size_t)s_get(&in, 2);
    for (size_t i = 0; i < n && !in.bad; i++) {
        size_t nl = (size_t)s_get(&in, 1);
        const uint8_t *name = nl <= COORD_VCLOCK_MAX_NAME ? s_get_bytes(&in, nl) : NULL;
        if (!name || memchr(name, '\0', nl)) {
            return false;
        }
        s_get(&in, 8);
    }
    return !in.bad && in.left == 0;
}

/* ---- taking a snapshot ------------------------------------------------------------------- */

static json_t *
s_key_json(const struct coord_key *k)
{
    json_t *counters = json_object();
    for (size_t i = 0; i < k->n_counters; i++) {
        json_object_set_new(counters, k->counters[i].name, coord_pn_to_json(&k->counters[i].c));
    }
    return json_pack("{s:s, s:o, s:o, s:o, s:o, s:I, s:I, s:I, s:I}", "path", k->path, "reg",
                     coord_lww_to_json(&k->reg), "clock", coord_vclock_to_json(&k->clock),
                     "tags", coord_orset_to_json(&k->tags), "counters", counters, "events",
                     (json_int_t)k->events, "last_seq", (json_int_t)k->last_seq, "open",
                     (json_int_t)k->open_conflict, "rev", (json_int_t)k->rev);
}

/* The JSON part: counters, keys, conflicts. Caller holds the lock. */
static json_t *
s_doc(coord_fsm_t *f)
{
    json_t *keys = json_array();
    for (size_t b = 0; b < f->n_buckets; b++) {
        for (struct coord_key *k = f->buckets[b]; k; k = k->next) {
            json_array_append_new(keys, s_key_json(k));
        }
    }
    json_t *conflicts = json_array();
    for (size_t i = 0; i < f->n_conflicts; i++) {
        const struct coord_conflict *c = &f->conflicts[i];
        json_array_append_new(conflicts,
                              json_pack("{s:I, s:s, s:I, s:O}", "id", (json_int_t)c->id, "key",
                                        c->key, "opened_index", (json_int_t)c->opened_index,
                                        "candidates", c->candidates));
    }
    json_t *counts = json_array();
    for (int i = 0; i < COORD_N_STRATEGIES; i++) {
        json_array_append_new(counts, json_integer((json_int_t)f->counts[i]));
    }
    return json_pack("{s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:i, s:o, s:o}", "v",
                     S_VERSION, "revision", (json_int_t)f->revision, "n_events",
                     (json_int_t)f->n_events, "last_index", (json_int_t)f->last_index,
                     "conflict_seq", (json_int_t)f->conflict_seq, "resolved",
                     (json_int_t)f->resolved, "stale", (json_int_t)f->stale, "counts", counts,
                     "cluster", coord_vclock_to_json(&f->cluster), "cur", f->cur, "keys", keys,
                     "conflicts", conflicts);
}

int
coord_fsm_snapshot(coord_fsm_t *f, void **data, size_t *len)
{
    pthread_rwlock_rdlock(&f->lock);
    json_t *doc = s_doc(f);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text) {
        pthread_rwlock_unlock(&f->lock);
        return -ENOMEM;
    }
    struct s_out o = {0};
    size_t tlen = strlen(text);
    s_put_bytes(&o, "VCS", 3);
    s_put(&o, S_VERSION, 1);
    s_put(&o, tlen, 4);
    s_put_bytes(&o, text, tlen);
    free(text);
    for (int g = 0; g < 2; g++) {
        s_put(&o, f->gen[g].n, 4);
        s_put_bytes(&o, f->gen[g].ids, f->gen[g].n * COORD_EID_LEN);
    }
    s_put(&o, f->ring_n, 4);
    for (uint64_t seq = f->n_events - f->ring_n + 1; seq <= f->n_events; seq++) {
        const struct coord_log_rec *r = &f->ring[(seq - 1) % f->ring_cap];
        size_t plen = strlen(r->path);
        const uint8_t *c = r->clock;
        size_t n = (size_t)c[0] | (size_t)c[1] << 8, clen = 2;
        for (size_t i = 0; i < n; i++) {
            clen += 1 + c[clen] + 8;
        }
        s_put(&o, r->seq, 8);
        s_put(&o, r->index, 8);
        s_put(&o, r->origin, 8);
        s_put_bytes(&o, r->eid, COORD_EID_LEN);
        s_put(&o, (uint32_t)r->type, 4);
        s_put(&o, s_relation_index(r->relation), 1);
        s_put(&o, plen, 2);
        s_put_bytes(&o, r->path, plen);
        s_put(&o, clen, 4);
        s_put_bytes(&o, c, clen);
    }
    pthread_rwlock_unlock(&f->lock);
    *data = o.p;
    *len = o.len;
    return 0;
}

/* ---- restoring --------------------------------------------------------------------------- */

static int
s_restore_key(coord_fsm_t *f, json_t *kj)
{
    const char *path;
    json_t *reg, *clock, *tags, *counters;
    json_int_t events, last_seq, open, rev = 0;
    if (json_unpack(kj, "{s:s, s:o, s:o, s:o, s:o, s:I, s:I, s:I, s?I}", "path", &path, "reg",
                    &reg, "clock", &clock, "tags", &tags, "counters", &counters, "events",
                    &events, "last_seq", &last_seq, "open", &open, "rev", &rev) < 0 ||
        !json_is_object(counters) || coord_fsm_key_get(f, path, false)) {
        return -EPROTO;
    }
    struct coord_key *k = coord_fsm_key_get(f, path, true);
    if (coord_lww_from_json(&k->reg, reg) < 0 || coord_vclock_from_json(&k->clock, clock) < 0 ||
        coord_orset_from_json(&k->tags, tags) < 0) {
        return -EPROTO;
    }
    const char *name;
    json_t *cv;
    json_object_foreach(counters, name, cv)
    {
        if (coord_pn_from_json(coord_fsm_counter(k, name), cv) < 0) {
            return -EPROTO;
        }
    }
    k->events = (uint64_t)events;
    k->last_seq = (uint64_t)last_seq;
    k->open_conflict = (uint64_t)open;
    k->rev = (uint64_t)rev;
    return 0;
}

/* Counters, keys and conflicts from the JSON part (every version). */
static int
s_restore_doc(coord_fsm_t *f, json_t *doc, json_int_t *version, int *cur)
{
    json_int_t n_events, last_index, conflict_seq, resolved, stale, revision = 0;
    json_t *counts, *cluster, *keys, *conflicts;
    if (json_unpack(doc, "{s:I, s?I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:i, s:o, s:o}", "v",
                    version, "revision", &revision, "n_events", &n_events, "last_index",
                    &last_index, "conflict_seq", &conflict_seq, "resolved", &resolved, "stale",
                    &stale, "counts", &counts, "cluster", &cluster, "cur", cur, "keys", &keys,
                    "conflicts", &conflicts) < 0 ||
        *version < 1 || *version > S_VERSION || !json_is_array(keys) ||
        !json_is_array(conflicts) || (*cur != 0 && *cur != 1) ||
        json_array_size(counts) != COORD_N_STRATEGIES || n_events < 0 || revision < 0) {
        return -EPROTO;
    }
    f->n_events = (uint64_t)n_events;
    f->revision = (uint64_t)revision;
    f->last_index = (uint64_t)last_index;
    f->conflict_seq = (uint64_t)conflict_seq;
    f->resolved = (uint64_t)resolved;
    f->stale = (uint64_t)stale;
    for (int i = 0; i < COORD_N_STRATEGIES; i++) {
        f->counts[i] = (uint64_t)json_integer_value(json_array_get(counts, (size_t)i));
    }
    if (coord_vclock_from_json(&f->cluster, cluster) < 0) {
        return -EPROTO;
    }
    size_t i;
    json_t *kj;
    json_array_foreach(keys, i, kj)
    {
        if (s_restore_key(f, kj) < 0) {
            return -EPROTO;
        }
    }
    json_t *cj;
    json_array_foreach(conflicts, i, cj)
    {
        json_int_t id, opened;
        const char *key;
        json_t *cands;
        if (json_unpack(cj, "{s:I, s:s, s:I, s:o}", "id", &id, "key", &key, "opened_index",
                        &opened, "candidates", &cands) < 0 ||
            !json_is_array(cands)) {
            return -EPROTO;
        }
        if (f->n_conflicts == f->cap_conflicts) {
            f->cap_conflicts = f->cap_conflicts ? 2 * f->cap_conflicts : 8;
            f->conflicts = vx_realloc(f->conflicts, f->cap_conflicts * sizeof *f->conflicts);
        }
        struct coord_conflict *c = &f->conflicts[f->n_conflicts++];
        c->id = (uint64_t)id;
        c->key = vx_strdup(key);
        c->opened_index = (uint64_t)opened;
        c->candidates = json_incref(cands);
    }
    return 0;
}

/* One id generation's worth of ids (older generation first, so the current one ends up as
 * the one being filled). */
static int
s_restore_ids(coord_fsm_t *f, int g, const uint8_t *ids, size_t n)
{
    if (n > f->recent_ids) {
        return -EPROTO;
    }
    f->cur = g;
    f->gen[g].n = 0;
    for (size_t i = 0; i < n; i++) {
        coord_fsm_id_add(f, ids + i * COORD_EID_LEN);
    }
    return 0;
}

/* Adds a log record; only the newest ring_cap records are kept. */
static void
s_restore_rec(coord_fsm_t *f, struct coord_log_rec *r, const char *path, size_t plen,
              const uint8_t *clock, size_t clen)
{
    char *blob = vx_malloc(plen + 1 + clen);
    memcpy(blob, path, plen);
    blob[plen] = '\0';
    memcpy(blob + plen + 1, clock, clen);
    r->path = blob;
    r->clock = (const uint8_t *)blob + plen + 1;
    coord_fsm_log_push(f, r);
}

/* Why long: the binary parts in their order, each bounded by what is left of the snapshot. */
static int
s_restore_v3(coord_fsm_t *f, const uint8_t *data, size_t len)
{
    struct s_in in = {data + 4, len - 4, false};
    size_t tlen = (size_t)s_get(&in, 4);
    const uint8_t *text = s_get_bytes(&in, tlen);
    if (!text) {
        return -EPROTO;
    }
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)text, tlen, 0, &jerr);
    json_int_t version = 0;
    int cur = 0;
    int rc = doc ? s_restore_doc(f, doc, &version, &cur) : -EPROTO;
    json_decref(doc);
    if (rc < 0 || version != 3) {
        return -EPROTO;
    }
    const uint8_t *ids[2];
    size_t n_ids[2];
    for (int g = 0; g < 2; g++) {
        n_ids[g] = (size_t)s_get(&in, 4);
        ids[g] = n_ids[g] <= f->recent_ids ? s_get_bytes(&in, n_ids[g] * COORD_EID_LEN) : NULL;
        if (!ids[g] && n_ids[g]) {
            return -EPROTO;
        }
    }
    if (s_restore_ids(f, cur ^ 1, ids[cur ^ 1], n_ids[cur ^ 1]) < 0 ||
        s_restore_ids(f, cur, ids[cur], n_ids[cur]) < 0) {
        return -EPROTO;
    }
    size_t nlog = (size_t)s_get(&in, 4);
    if (in.bad || nlog > f->n_events) {
        return -EPROTO;
    }
    size_t skip = nlog > f->ring_cap ? nlog - f->ring_cap : 0;
    uint64_t expect = f->n_events - nlog + 1;
    for (size_t i = 0; i < nlog; i++, expect++) {
        struct coord_log_rec r = {0};
        r.seq = s_get(&in, 8);
        r.index = s_get(&in, 8);
        r.origin = s_get(&in, 8);
        const uint8_t *eid = s_get_bytes(&in, COORD_EID_LEN);
        r.type = (int)(uint32_t)s_get(&in, 4);
        unsigned rel = (unsigned)s_get(&in, 1);
        size_t plen = (size_t)s_get(&in, 2);
        const uint8_t *path = s_get_bytes(&in, plen);
        size_t clen = (size_t)s_get(&in, 4);
        const uint8_t *clock = s_get_bytes(&in, clen);
        if (in.bad || r.seq != expect || rel >= S_N_RELATIONS || memchr(path, '\0', plen) ||
            !s_clock_valid(clock, clen)) {
            return -EPROTO;
        }
        if (i < skip) {
            continue;
        }
        memcpy(r.eid, eid, COORD_EID_LEN);
        r.relation = s_relations[rel];
        s_restore_rec(f, &r, (const char *)path, plen, clock, clen);
    }
    return in.left == 0 ? 0 : -EPROTO;
}

/* Versions 1 and 2: one JSON document with the ids as hex and the log as arrays. */
static int
s_restore_json(coord_fsm_t *f, json_t *doc)
{
    json_int_t version = 0;
    int cur = 0;
    json_t *ids = json_object_get(doc, "ids"), *log = json_object_get(doc, "log");
    if (json_array_size(ids) != 2 || !json_is_array(log) ||
        s_restore_doc(f, doc, &version, &cur) < 0 || version > 2 ||
        json_array_size(log) > f->n_events) {
        return -EPROTO;
    }
    for (int step = 0; step < 2; step++) {
        int g = step == 0 ? (cur ^ 1) : cur;
        json_t *hex = json_array_get(ids, (size_t)g);
        size_t hl = json_string_length(hex);
        if (!json_is_string(hex) || hl % (2 * COORD_EID_LEN) != 0 ||
            hl / (2 * COORD_EID_LEN) > f->recent_ids) {
            return -EPROTO;
        }
        size_t n = hl / (2 * COORD_EID_LEN);
        uint8_t *raw = vx_malloc(n * COORD_EID_LEN + 1);
        int rc = s_unhex(json_string_value(hex), hl, raw, n * COORD_EID_LEN);
        if (rc == 0) {
            rc = s_restore_ids(f, g, raw, n);
        }
        free(raw);
        if (rc < 0) {
            return -EPROTO;
        }
    }
    size_t nlog = json_array_size(log);
    size_t skip = nlog > f->ring_cap ? nlog - f->ring_cap : 0;
    uint64_t expect = f->n_events - nlog + 1;
    for (size_t i = 0; i < nlog; i++, expect++) {
        json_int_t seq, index, origin;
        int type;
        const char *eid, *path, *clock, *rel;
        if (json_unpack(json_array_get(log, i), "[I, I, I, s, i, s, s, s]", &seq, &index, &origin,
                        &eid, &type, &path, &clock, &rel) < 0 ||
            (uint64_t)seq != expect) {
            return -EPROTO;
        }
        if (i < skip) {
            continue;
        }
        struct coord_log_rec r = {.seq = (uint64_t)seq, .index = (uint64_t)index,
                                  .origin = (uint64_t)origin, .type = type};
        json_error_t jerr;
        json_t *cj = json_loads(clock, 0, &jerr);
        struct coord_vclock vc;
        coord_vclock_init(&vc);
        int crc = coord_vclock_from_json(&vc, cj);
        json_decref(cj);
        if (crc < 0 || s_unhex(eid, strlen(eid), r.eid, COORD_EID_LEN) < 0) {
            coord_vclock_fini(&vc);
            return -EPROTO;
        }
        coord_fsm_rec_fill(&r, path, &vc);
        coord_vclock_fini(&vc);
        r.relation = s_relation(rel);
        coord_fsm_log_push(f, &r);
    }
    return 0;
}

int
coord_fsm_restore(coord_fsm_t *f, const void *data, size_t len)
{
    const uint8_t *p = data;
    pthread_rwlock_wrlock(&f->lock);
    coord_fsm_clear(f);
    int rc;
    if (len >= 4 && memcmp(p, "VCS", 3) == 0 && p[3] == S_VERSION) {
        rc = s_restore_v3(f, p, len);
    } else {
        json_error_t e;
        json_t *doc = json_loadb(data, len, 0, &e);
        rc = doc ? s_restore_json(f, doc) : -EPROTO;
        json_decref(doc);
    }
    if (rc < 0) {
        coord_fsm_clear(f); /* a half-restored state is worse than an empty one */
    }
    pthread_rwlock_unlock(&f->lock);
    return rc;
}
