/* SPDX-License-Identifier: Apache-2.0 */
/* Snapshot and restore of the whole state machine, as one JSON document.
 *
 * JSON keeps snapshots readable with jq when a cluster needs inspecting; the dedup id
 * generations, the biggest part, are packed as hex strings. */
#include "coord_fsm_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vx_event.h"
#include "vx_mem.h"

#define S_VERSION 2 /* 2 added revisions; 1 is still read (revisions start at 0) */

static const char *const s_relations[] = {"first", "after", "stale", "concurrent"};

static const char *
s_relation(const char *name)
{
    for (size_t i = 0; i < sizeof s_relations / sizeof s_relations[0]; i++) {
        if (strcmp(name, s_relations[i]) == 0) {
            return s_relations[i];
        }
    }
    return "first";
}

static json_t *
s_hex(const uint8_t *p, size_t n)
{
    static const char d[] = "0123456789abcdef";
    char *s = vx_malloc(2 * n + 1);
    for (size_t i = 0; i < n; i++) {
        s[2 * i] = d[p[i] >> 4];
        s[2 * i + 1] = d[p[i] & 15];
    }
    s[2 * n] = '\0';
    json_t *j = json_stringn(s, 2 * n);
    free(s);
    return j;
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

int
coord_fsm_snapshot(coord_fsm_t *f, void **data, size_t *len)
{
    pthread_rwlock_rdlock(&f->lock);
    json_t *log = json_array();
    for (uint64_t seq = f->n_events - f->ring_n + 1; seq <= f->n_events; seq++) {
        const struct coord_log_rec *r = &f->ring[(seq - 1) % f->ring_cap];
        json_array_append_new(log, json_pack("[I, I, I, o, i, s, s, s]", (json_int_t)r->seq,
                                             (json_int_t)r->index, (json_int_t)r->origin,
                                             s_hex(r->eid, COORD_EID_LEN), r->type, r->path,
                                             r->clock ? r->clock : "{}", r->relation));
    }
    json_t *keys = json_array();
    for (size_t b = 0; b < f->n_buckets; b++) {
        for (struct coord_key *k = f->buckets[b]; k; k = k->next) {
            json_t *counters = json_object();
            for (size_t i = 0; i < k->n_counters; i++) {
                json_object_set_new(counters, k->counters[i].name,
                                    coord_pn_to_json(&k->counters[i].c));
            }
            json_array_append_new(
                keys, json_pack("{s:s, s:o, s:o, s:o, s:o, s:I, s:I, s:I, s:I}", "path", k->path,
                                "reg", coord_lww_to_json(&k->reg), "clock",
                                coord_vclock_to_json(&k->clock), "tags",
                                coord_orset_to_json(&k->tags), "counters", counters, "events",
                                (json_int_t)k->events, "last_seq", (json_int_t)k->last_seq,
                                "open", (json_int_t)k->open_conflict, "rev",
                                (json_int_t)k->rev));
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
    json_t *ids = json_array();
    for (int g = 0; g < 2; g++) {
        json_array_append_new(ids, s_hex(f->gen[g].ids[0], f->gen[g].n * COORD_EID_LEN));
    }
    json_t *doc = json_pack(
        "{s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:i, s:o, s:o, s:o, s:o, s:I}", "v",
        S_VERSION, "revision", (json_int_t)f->revision,
        "n_events", (json_int_t)f->n_events, "last_index", (json_int_t)f->last_index,
        "conflict_seq", (json_int_t)f->conflict_seq, "resolved", (json_int_t)f->resolved, "stale",
        (json_int_t)f->stale, "counts", counts, "cluster", coord_vclock_to_json(&f->cluster),
        "cur", f->cur, "ids", ids, "log", log, "keys", keys, "conflicts", conflicts, "ring_n",
        (json_int_t)f->ring_n);
    pthread_rwlock_unlock(&f->lock);
    if (!doc) {
        return -ENOMEM;
    }
    char *s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!s) {
        return -ENOMEM;
    }
    *data = s;
    *len = strlen(s);
    return 0;
}

static int
s_restore_key(coord_fsm_t *f, json_t *kj)
{
    const char *path;
    json_t *reg, *clock, *tags, *counters;
    json_int_t events, last_seq, open, rev = 0;
    if (json_unpack(kj, "{s:s, s:o, s:o, s:o, s:o, s:I, s:I, s:I, s?I}", "path", &path, "reg",
                    &reg, "clock", &clock, "tags", &tags, "counters", &counters, "events",
                    &events, "last_seq", &last_seq, "open", &open, "rev", &rev) < 0 ||
        !json_is_object(counters)) {
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

static int
s_restore(coord_fsm_t *f, json_t *doc)
{
    json_int_t v, n_events, last_index, conflict_seq, resolved, stale, ring_n, revision = 0;
    int cur;
    json_t *counts, *cluster, *ids, *log, *keys, *conflicts;
    if (json_unpack(doc,
                    "{s:I, s?I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:i, s:o, s:o, s:o, s:o, s:I}",
                    "v", &v, "revision", &revision, "n_events", &n_events, "last_index",
                    &last_index, "conflict_seq",
                    &conflict_seq, "resolved", &resolved, "stale", &stale, "counts", &counts,
                    "cluster", &cluster, "cur", &cur, "ids", &ids, "log", &log, "keys", &keys,
                    "conflicts", &conflicts, "ring_n", &ring_n) < 0 ||
        (v != S_VERSION && v != 1) || !json_is_array(log) || !json_is_array(keys) ||
        !json_is_array(conflicts) || json_array_size(ids) != 2 || (cur != 0 && cur != 1) ||
        json_array_size(counts) != COORD_N_STRATEGIES || n_events < 0 ||
        (json_int_t)json_array_size(log) > n_events) {
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
    /* Generations: the older one first, so the current ends up as the one being filled. */
    for (int step = 0; step < 2; step++) {
        int g = step == 0 ? (cur ^ 1) : cur;
        json_t *hex = json_array_get(ids, (size_t)g);
        size_t hl = json_string_length(hex);
        if (!json_is_string(hex) || hl % (2 * COORD_EID_LEN) != 0 ||
            hl / (2 * COORD_EID_LEN) > COORD_RECENT_IDS) {
            return -EPROTO;
        }
        f->cur = g;
        f->gen[g].n = 0;
        const char *s = json_string_value(hex);
        for (size_t i = 0; i < hl / (2 * COORD_EID_LEN); i++) {
            uint8_t id[COORD_EID_LEN];
            if (s_unhex(s + i * 2 * COORD_EID_LEN, 2 * COORD_EID_LEN, id, COORD_EID_LEN) < 0) {
                return -EPROTO;
            }
            coord_fsm_id_add(f, id);
        }
    }
    f->cur = cur;
    /* The log ring: only the newest ring_cap records fit. */
    size_t nlog = json_array_size(log);
    size_t skip = nlog > f->ring_cap ? nlog - f->ring_cap : 0;
    uint64_t expect = (uint64_t)n_events - nlog + 1;
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
        if (s_unhex(eid, strlen(eid), r.eid, COORD_EID_LEN) < 0) {
            return -EPROTO;
        }
        r.path = vx_strdup(path);
        r.clock = vx_strdup(clock);
        r.relation = s_relation(rel);
        coord_fsm_log_push(f, &r);
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
    (void)ring_n;
    return 0;
}

int
coord_fsm_restore(coord_fsm_t *f, const void *data, size_t len)
{
    json_error_t e;
    json_t *doc = json_loadb(data, len, 0, &e);
    if (!doc) {
        return -EPROTO;
    }
    pthread_rwlock_wrlock(&f->lock);
    coord_fsm_clear(f);
    int rc = s_restore(f, doc);
    if (rc < 0) {
        coord_fsm_clear(f); /* a half-restored state is worse than an empty one */
    }
    pthread_rwlock_unlock(&f->lock);
    json_decref(doc);
    return rc;
}
