/* SPDX-License-Identifier: Apache-2.0 */
/* The replicated state machine: applying committed entries, and reading the state. */
#include "coord_fsm_priv.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vx_arena.h"
#include "vx_event.h"
#include "vx_mem.h"
#include "vx_wire.h"

#define S_NODE_PREFIX COORD_FSM_NODE_PREFIX

/* ---- tables ----------------------------------------------------------------------------- */

static size_t
s_bucket(const coord_fsm_t *f, const char *path)
{
    return (size_t)(vx_hash64(path, strlen(path), 0x9e3779b97f4a7c15ULL) % f->n_buckets);
}

struct coord_key *
coord_fsm_key_get(coord_fsm_t *f, const char *path, bool create)
{
    for (struct coord_key *k = f->buckets[s_bucket(f, path)]; k; k = k->next) {
        if (strcmp(k->path, path) == 0) {
            return k;
        }
    }
    if (!create) {
        return NULL;
    }
    if (f->n_keys >= 2 * f->n_buckets) {
        size_t nb = 4 * f->n_buckets;
        struct coord_key **b = vx_calloc(nb, sizeof *b);
        for (size_t i = 0; i < f->n_buckets; i++) {
            while (f->buckets[i]) {
                struct coord_key *k = f->buckets[i];
                f->buckets[i] = k->next;
                size_t h = (size_t)(vx_hash64(k->path, strlen(k->path), 0x9e3779b97f4a7c15ULL) % nb);
                k->next = b[h];
                b[h] = k;
            }
        }
        free(f->buckets);
        f->buckets = b;
        f->n_buckets = nb;
    }
    struct coord_key *k = vx_calloc(1, sizeof *k);
    k->path = vx_strdup(path);
    coord_lww_init(&k->reg);
    coord_vclock_init(&k->clock);
    coord_orset_init(&k->tags);
    size_t h = s_bucket(f, path);
    k->next = f->buckets[h];
    f->buckets[h] = k;
    f->n_keys++;
    return k;
}

void
coord_fsm_key_free(struct coord_key *k)
{
    coord_lww_fini(&k->reg);
    coord_vclock_fini(&k->clock);
    coord_orset_fini(&k->tags);
    for (size_t i = 0; i < k->n_counters; i++) {
        free(k->counters[i].name);
        coord_pn_fini(&k->counters[i].c);
    }
    free(k->counters);
    free(k->path);
    free(k);
}

struct coord_pncounter *
coord_fsm_counter(struct coord_key *k, const char *name)
{
    for (size_t i = 0; i < k->n_counters; i++) {
        if (strcmp(k->counters[i].name, name) == 0) {
            return &k->counters[i].c;
        }
    }
    k->counters = vx_realloc(k->counters, (k->n_counters + 1) * sizeof *k->counters);
    struct coord_named_counter *c = &k->counters[k->n_counters++];
    c->name = vx_strdup(name);
    coord_pn_init(&c->c);
    return &c->c;
}

static void
s_idgen_reset(struct coord_idgen *g, size_t cap)
{
    if (!g->ids) {
        g->ids = vx_malloc(cap * sizeof *g->ids);
        g->slots = vx_malloc(2 * cap * sizeof *g->slots);
    }
    memset(g->slots, 0, 2 * cap * sizeof *g->slots);
    g->n = 0;
}

static bool
s_idgen_has(const struct coord_idgen *g, size_t cap, const uint8_t *id)
{
    size_t mask = 2 * cap - 1;
    for (size_t h = (size_t)vx_hash64(id, COORD_EID_LEN, 7) & mask;; h = (h + 1) & mask) {
        uint32_t s = g->slots[h];
        if (s == 0) {
            return false;
        }
        if (memcmp(g->ids[s - 1], id, COORD_EID_LEN) == 0) {
            return true;
        }
    }
}

bool
coord_fsm_id_seen(coord_fsm_t *f, const uint8_t *id)
{
    return s_idgen_has(&f->gen[0], f->recent_ids, id) ||
           s_idgen_has(&f->gen[1], f->recent_ids, id);
}

void
coord_fsm_id_add(coord_fsm_t *f, const uint8_t *id)
{
    struct coord_idgen *g = &f->gen[f->cur];
    if (g->n == f->recent_ids) {
        f->cur ^= 1;
        g = &f->gen[f->cur];
        s_idgen_reset(g, f->recent_ids);
    }
    memcpy(g->ids[g->n], id, COORD_EID_LEN);
    g->n++;
    size_t mask = 2 * f->recent_ids - 1;
    size_t h = (size_t)vx_hash64(id, COORD_EID_LEN, 7) & mask;
    while (g->slots[h] != 0) {
        h = (h + 1) & mask;
    }
    g->slots[h] = (uint32_t)g->n;
}

void
coord_fsm_log_push(coord_fsm_t *f, struct coord_log_rec *rec)
{
    size_t pos = (size_t)((rec->seq - 1) % f->ring_cap);
    if (f->ring_n == f->ring_cap) {
        free(f->ring[pos].path);
    } else {
        f->ring_n++;
    }
    f->ring[pos] = *rec;
}

void
coord_fsm_rec_fill(struct coord_log_rec *rec, const char *path, const struct coord_vclock *clock)
{
    size_t plen = strlen(path) + 1;
    char *blob = vx_malloc(plen + coord_vclock_packed_size(clock));
    memcpy(blob, path, plen);
    coord_vclock_pack(clock, (uint8_t *)blob + plen);
    rec->path = blob;
    rec->clock = (const uint8_t *)blob + plen;
}

void
coord_fsm_clear(coord_fsm_t *f)
{
    for (size_t i = 0; i < f->n_buckets; i++) {
        while (f->buckets[i]) {
            struct coord_key *k = f->buckets[i];
            f->buckets[i] = k->next;
            coord_fsm_key_free(k);
        }
    }
    f->n_keys = 0;
    /* Every slot: a restore that failed halfway may have filled any of them. */
    for (size_t i = 0; i < f->ring_cap; i++) {
        free(f->ring[i].path);
        f->ring[i].path = NULL;
    }
    f->ring_n = 0;
    f->n_events = 0;
    f->last_index = 0;
    coord_vclock_fini(&f->cluster);
    for (size_t i = 0; i < f->n_conflicts; i++) {
        free(f->conflicts[i].key);
        json_decref(f->conflicts[i].candidates);
    }
    f->n_conflicts = 0;
    f->conflict_seq = 0;
    s_idgen_reset(&f->gen[0], f->recent_ids);
    s_idgen_reset(&f->gen[1], f->recent_ids);
    f->cur = 0;
    memset(f->counts, 0, sizeof f->counts);
    f->resolved = f->stale = 0;
    f->revision = 0;
}

/* ---- life cycle ------------------------------------------------------------------------- */

static void s_results_reset(coord_fsm_t *f);

coord_fsm_t *
coord_fsm_new(const struct coord_fsm_opts *opts)
{
    coord_fsm_t *f = vx_calloc(1, sizeof *f);
    f->opts = *opts;
    if (opts->vclock_nodes && strcmp(opts->vclock_nodes, "*") != 0) {
        f->vclock_nodes = vx_strdup(opts->vclock_nodes);
    }
    f->opts.vclock_nodes = f->vclock_nodes;
    if (f->opts.log_memory == 0) {
        f->opts.log_memory = 16;
    }
    pthread_rwlock_init(&f->lock, NULL);
    /* A power of two (the id table masks its hash); fewer only in tests and fuzzing. */
    f->recent_ids = COORD_RECENT_IDS;
    while (opts->recent_ids && f->recent_ids > opts->recent_ids && f->recent_ids > 16) {
        f->recent_ids /= 2;
    }
    f->n_buckets = 1024;
    f->buckets = vx_calloc(f->n_buckets, sizeof *f->buckets);
    f->ring_cap = f->opts.log_memory;
    f->ring = vx_calloc(f->ring_cap, sizeof *f->ring);
    coord_vclock_init(&f->cluster);
    s_idgen_reset(&f->gen[0], f->recent_ids);
    s_idgen_reset(&f->gen[1], f->recent_ids);
    vx_metrics_t *m = opts->metrics;
    if (m) {
        for (int i = 0; i < COORD_N_STRATEGIES; i++) {
            f->m_conflicts[i] = vx_metrics_counter(
                m, "vexfs_conflicts_total", "Concurrent updates met, by resolution strategy.",
                "strategy", coord_strategy_name((enum coord_strategy)i), NULL);
        }
        f->m_resolved = vx_metrics_counter(m, "vexfs_conflicts_resolved_total",
                                           "Open conflicts settled by an operator.", NULL);
        f->m_events = vx_metrics_counter(m, "vexfs_consensus_events_applied_total",
                                         "Events applied to the state machine.", NULL);
        f->m_dups = vx_metrics_counter(m, "vexfs_consensus_events_duplicate_total",
                                       "Committed events skipped: their id was applied before.",
                                       NULL);
        f->m_stale = vx_metrics_counter(m, "vexfs_consensus_stale_writes_total",
                                        "Writes causally older than the value held (ignored).",
                                        NULL);
        f->m_skipped = vx_metrics_counter(m, "vexfs_consensus_events_skipped_total",
                                          "Committed events not applied: their text is not "
                                          "valid UTF-8.",
                                          NULL);
        f->m_clock_refused = vx_metrics_counter(
            m, "vexfs_consensus_clock_refused_total",
            "Events refused: their key's vector clock would pass vclock_max_entries.", NULL);
        f->m_clock_folded = vx_metrics_counter(
            m, "vexfs_consensus_clock_folded_total",
            "Producer clock entries folded into one because vclock_nodes does not list their "
            "name.",
            NULL);
    }
    return f;
}

void
coord_fsm_destroy(coord_fsm_t **fp)
{
    if (!fp || !*fp) {
        return;
    }
    coord_fsm_t *f = *fp;
    coord_fsm_clear(f);
    s_results_reset(f);
    free(f->results.r);
    free(f->buckets);
    free(f->ring);
    free(f->conflicts);
    for (int i = 0; i < 2; i++) {
        free(f->gen[i].ids);
        free(f->gen[i].slots);
    }
    pthread_rwlock_destroy(&f->lock);
    free(f->vclock_nodes);
    vx_free(fp);
}

void
coord_entry_header(uint8_t *hdr, int kind, uint64_t origin, size_t payload_len)
{
    for (int i = 0; i < 4; i++) {
        hdr[12 + i] = (uint8_t)(payload_len >> (8 * i));
    }
    hdr[0] = 'V';
    hdr[1] = 'C';
    hdr[2] = (uint8_t)kind;
    hdr[3] = 1;
    for (int i = 0; i < 8; i++) {
        hdr[4 + i] = (uint8_t)(origin >> (8 * i));
    }
}

/* ---- applying events -------------------------------------------------------------------- */

static void
s_count(vx_counter_t *c)
{
    if (c) {
        vx_counter_add(c, 1);
    }
}

/* The register value an event writes: what it says about the key. */
static struct coord_val *
s_event_val(const vx_event_t *e, uint64_t origin, uint64_t seq)
{
    const char *kbuf[16], *vbuf[16];
    const char **keys = e->n_content <= 16 ? kbuf : vx_malloc(e->n_content * sizeof *keys);
    const char **vals = e->n_content <= 16 ? vbuf : vx_malloc(e->n_content * sizeof *vals);
    for (size_t i = 0; i < e->n_content; i++) {
        keys[i] = e->content[i]->key;
        vals[i] = e->content[i]->value;
    }
    const char *type = vx_event_type_name(e->type);
    struct coord_val *v = coord_val_from_event(type ? type : "unknown", e->n_content, keys, vals,
                                               e->timestamp_ns, origin, seq);
    if (keys != kbuf) {
        free(keys);
        free(vals);
    }
    return v;
}

struct coord_conflict *
coord_fsm_conflict_find(coord_fsm_t *f, uint64_t id, size_t *pos)
{
    for (size_t i = 0; i < f->n_conflicts; i++) {
        if (f->conflicts[i].id == id) {
            if (pos) {
                *pos = i;
            }
            return &f->conflicts[i];
        }
    }
    return NULL;
}

/* A register's JSON form for a candidate write. */
static json_t *
s_candidate(const struct coord_vclock *clock, uint64_t node, const uint8_t *eid,
            struct coord_val *value)
{
    struct coord_lww r;
    coord_lww_init(&r);
    coord_lww_offer_val(&r, clock, node, eid, value);
    json_t *j = coord_lww_to_json(&r);
    coord_lww_fini(&r);
    return j;
}

/* Concurrent write of `value` under `ctx` to key k, by the key's strategy. */
static void
s_resolve_concurrent(coord_fsm_t *f, struct coord_key *k, const struct coord_vclock *ctx,
                     uint64_t origin, const uint8_t *eid, struct coord_val *value, uint64_t index)
{
    enum coord_strategy st = coord_strategies_for(&f->opts.strategies, k->path);
    if (!f->opts.resolve_conflicts) {
        st = COORD_LWW;
    }
    f->counts[st]++;
    s_count(f->m_conflicts[st]);
    f->res->conflicts++;
    switch (st) {
    case COORD_LWW:
        coord_lww_offer_val(&k->reg, ctx, origin, eid, value);
        break;
    case COORD_MERGE: {
        /* Fields of both writes; where both set one, the write later in the register's
         * total order keeps its value. */
        json_t *held = coord_val_json(k->reg.val);
        json_t *merged = json_deep_copy(held);
        json_decref(held);
        json_t *newj = coord_val_json(value);
        json_t *mc = json_object_get(merged, "content");
        json_t *nc = json_object_get(newj, "content");
        struct coord_lww probe;
        coord_lww_init(&probe);
        coord_lww_offer_val(&probe, ctx, origin, eid, value);
        bool new_wins = coord_lww_cmp(&probe, &k->reg) > 0;
        coord_lww_fini(&probe);
        const char *ck;
        json_t *cv;
        json_object_foreach(nc, ck, cv)
        {
            if (new_wins || !json_object_get(mc, ck)) {
                json_object_set(mc, ck, cv);
            }
        }
        if (new_wins) {
            json_object_set(merged, "type", json_object_get(newj, "type"));
            json_object_set(merged, "seq", json_object_get(newj, "seq"));
        }
        json_decref(newj);
        json_object_set_new(merged, "merged", json_true());
        struct coord_vclock join;
        coord_vclock_init(&join);
        coord_vclock_copy(&join, &k->reg.clock);
        coord_vclock_merge(&join, ctx);
        if (new_wins) {
            coord_lww_offer(&k->reg, &join, origin, eid, merged);
        } else {
            coord_vclock_copy(&k->reg.clock, &join);
            coord_val_unref(&k->reg.val);
            k->reg.val = coord_val_from_json(merged);
        }
        coord_vclock_fini(&join);
        json_decref(merged);
        break;
    }
    case COORD_USER: {
        struct coord_conflict *c =
            k->open_conflict ? coord_fsm_conflict_find(f, k->open_conflict, NULL) : NULL;
        if (!c) {
            if (f->n_conflicts == f->cap_conflicts) {
                f->cap_conflicts = f->cap_conflicts ? 2 * f->cap_conflicts : 8;
                f->conflicts = vx_realloc(f->conflicts, f->cap_conflicts * sizeof *f->conflicts);
            }
            c = &f->conflicts[f->n_conflicts++];
            c->id = ++f->conflict_seq;
            c->key = vx_strdup(k->path);
            c->opened_index = index;
            c->candidates = json_array();
            json_array_append_new(c->candidates, coord_lww_to_json(&k->reg));
            k->open_conflict = c->id;
        }
        json_array_append_new(c->candidates, s_candidate(ctx, origin, eid, value));
        break;
    }
    }
}

/* Applies one event. Returns its causal relation to the key's previous write, or NULL when
 * it was refused (its key's clock would pass vclock_max_entries): then nothing changed. */
static const char *
s_apply_event(coord_fsm_t *f, const vx_event_t *e, const uint8_t *eid, uint64_t origin,
              uint64_t index)
{
    const char *path = e->path && e->path[0] ? e->path : "(none)";
    struct coord_key *k = coord_fsm_key_get(f, path, false);
    bool has_ctx = e->causality && e->causality->n_vector_clock > 0;
    struct coord_vclock ctx;
    coord_vclock_init(&ctx);
    if (has_ctx) {
        size_t folded = coord_fsm_clock_context(f, e, &ctx);
        if (folded && f->m_clock_folded) {
            vx_counter_add(f->m_clock_folded, folded);
        }
        if (f->opts.vclock_max_entries &&
            coord_fsm_clock_joined(k ? &k->clock : NULL, &ctx) > f->opts.vclock_max_entries) {
            coord_vclock_fini(&ctx);
            return NULL;
        }
    } else if (k) {
        coord_vclock_copy(&ctx, &k->clock);
    }
    uint64_t seq = ++f->n_events;
    char node[32];
    snprintf(node, sizeof node, S_NODE_PREFIX "%" PRIu64, origin);
    uint64_t stamp = coord_vclock_tick(&f->cluster, node);
    if (!k) {
        k = coord_fsm_key_get(f, path, true);
    }
    k->events++;
    k->last_seq = seq;
    k->rev = ++f->revision;
    coord_vclock_set(&ctx, node, stamp);

    const char *relation = "first";
    struct coord_val *value = s_event_val(e, origin, seq);
    if (!k->reg.set) {
        coord_lww_offer_val(&k->reg, &ctx, origin, eid, value);
    } else {
        enum coord_order o = coord_vclock_compare(&k->clock, &ctx, has_ctx ? S_NODE_PREFIX : NULL);
        if (o == COORD_BEFORE) {
            relation = "after";
            /* Causally later: it replaces the value whatever the strategy. */
            k->reg.set = false;
            coord_lww_offer_val(&k->reg, &ctx, origin, eid, value);
        } else if (o == COORD_AFTER) {
            relation = "stale";
            f->stale++;
            s_count(f->m_stale);
        } else {
            relation = "concurrent";
            s_resolve_concurrent(f, k, &ctx, origin, eid, value, index);
        }
    }
    coord_val_unref(&value);
    coord_vclock_merge(&k->clock, &ctx);

    char tag[VX_EVENT_ID_STR];
    vx_event_id_format(eid, tag);
    for (size_t i = 0; i < e->n_metadata; i++) {
        const char *mk = e->metadata[i]->key, *mv = e->metadata[i]->value;
        if (strncmp(mk, "tag.", 4) == 0 && mk[4]) {
            if (strcmp(mv, "-") == 0) {
                coord_orset_remove(&k->tags, mk + 4);
            } else {
                coord_orset_add(&k->tags, mk + 4, tag);
            }
        } else if (strncmp(mk, "counter.", 8) == 0 && mk[8]) {
            char *end = NULL;
            errno = 0;
            long long d = strtoll(mv, &end, 10);
            if (errno == 0 && end != mv && *end == '\0') {
                coord_pn_add(coord_fsm_counter(k, mk + 8), node, d);
            }
        }
    }

    struct coord_log_rec rec = {.seq = seq, .index = index, .origin = origin, .type = e->type};
    memcpy(rec.eid, eid, COORD_EID_LEN);
    coord_fsm_rec_fill(&rec, path, &ctx);
    rec.relation = relation;
    coord_fsm_log_push(f, &rec);
    coord_vclock_fini(&ctx);
    return relation;
}

/* The id an event is known by: its own, or (events without one: submitters give every event
 * an id, this keeps apply total for any input) one derived from its place in the log. */
static void
s_event_id(const vx_event_t *e, uint64_t index, size_t part, size_t i, uint8_t eid[COORD_EID_LEN])
{
    if (e->id.len == COORD_EID_LEN) {
        memcpy(eid, e->id.data, COORD_EID_LEN);
        return;
    }
    uint64_t slot = ((uint64_t)part << 32) + i;
    uint64_t h1 = vx_hash64(&index, sizeof index, slot), h2 = vx_hash64(&slot, sizeof slot, index);
    memcpy(eid, &h1, 8);
    memcpy(eid + 8, &h2, 8);
}

static bool
s_utf8(const char *s)
{
    return !s || vx_utf8_valid(s, strlen(s));
}

/* Whether every text of the event that the state shows as JSON is valid UTF-8. Checked here,
 * in the state machine, because entries can come from any leader and any input: a string JSON
 * cannot hold would vanish from reads and snapshots. */
static bool
s_representable(const vx_event_t *e)
{
    bool ok = s_utf8(e->path);
    for (size_t i = 0; ok && i < e->n_content; i++) {
        ok = s_utf8(e->content[i]->key) && s_utf8(e->content[i]->value);
    }
    for (size_t i = 0; ok && i < e->n_metadata; i++) {
        ok = s_utf8(e->metadata[i]->key) && s_utf8(e->metadata[i]->value);
    }
    for (size_t i = 0; ok && e->causality && i < e->causality->n_vector_clock; i++) {
        ok = s_utf8(e->causality->vector_clock[i]->node);
    }
    return ok;
}

/* Applies one event unless its id was applied before or its clock is refused. */
static void
s_apply_one(coord_fsm_t *f, const vx_event_t *e, const uint8_t *eid, uint64_t origin,
            uint64_t index)
{
    if (!s_representable(e)) {
        f->res->skipped++;
        s_count(f->m_skipped);
        return;
    }
    if (coord_fsm_id_seen(f, eid)) {
        f->res->duplicates++;
        s_count(f->m_dups);
        return;
    }
    if (!s_apply_event(f, e, eid, origin, index)) {
        if (f->res->refused++ == 0) {
            f->res->status = -E2BIG;
            snprintf(f->res->message, sizeof f->res->message,
                     "the vector clock of an event for key '%.100s' would give the key more "
                     "than vclock_max_entries (%zu) producer entries",
                     e->path && e->path[0] ? e->path : "(none)", f->opts.vclock_max_entries);
        }
        s_count(f->m_clock_refused);
        return;
    }
    coord_fsm_id_add(f, eid);
    if (f->res->accepted++ == 0) {
        f->res->first_seq = f->n_events;
    }
    f->res->last_seq = f->n_events;
    s_count(f->m_events);
}

static void
s_apply_events(coord_fsm_t *f, const uint8_t *data, size_t len, uint64_t origin, uint64_t index,
               size_t part)
{
    vx_arena_t *a = vx_arena_new(64 * 1024, 16 * len + (1u << 20));
    vx_batch_t *b = vx_wire_decode(data, len, a);
    if (!b) {
        f->res->status = -EPROTO;
        snprintf(f->res->message, sizeof f->res->message, "entry %" PRIu64 ": not an EventBatch",
                 index);
        vx_arena_destroy(&a);
        return;
    }
    for (size_t i = 0; i < b->n_events; i++) {
        uint8_t eid[COORD_EID_LEN];
        s_event_id(b->events[i], index, part, i, eid);
        s_apply_one(f, b->events[i], eid, origin, index);
    }
    vx_arena_destroy(&a);
}

static uint64_t
s_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

static void
s_put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

uint8_t *
coord_cas_payload(const struct coord_cond *c, const void *batch, size_t batch_len, size_t *len)
{
    size_t vlen = c->type == COORD_IF_VALUE ? c->value_len : 0;
    *len = 16 + vlen + batch_len;
    uint8_t *p = vx_calloc(1, *len);
    p[0] = (uint8_t)c->type;
    s_put_le(p + 4, vlen, 4);
    s_put_le(p + 8, c->revision, 8);
    if (vlen) {
        memcpy(p + 16, c->value, vlen);
    }
    memcpy(p + 16 + vlen, batch, batch_len);
    return p;
}

/* Whether the condition holds for key k (NULL: the key does not exist). -EPROTO for a
 * condition that cannot be read. */
static int
s_cond_holds(const struct coord_key *k, int type, uint64_t rev, const uint8_t *value, size_t vlen)
{
    switch (type) {
    case COORD_IF_REVISION:
        return (k ? k->rev : 0) == rev;
    case COORD_IF_ABSENT:
        return k == NULL;
    case COORD_IF_EXISTS:
        return k != NULL;
    case COORD_IF_VALUE: {
        json_error_t jerr;
        json_t *want = json_loadb((const char *)value, vlen, 0, &jerr);
        if (!want) {
            return -EPROTO;
        }
        int holds = k && k->reg.set && coord_val_content_equal(k->reg.val, want);
        json_decref(want);
        return holds;
    }
    default:
        return -EPROTO;
    }
}

/* A conditional write: [type u8][0 x3][value length u32][revision u64][value][EventBatch of
 * one event]. The event id is checked first: a retry of a write that took effect is a
 * duplicate, whatever the key holds now. */
static void
s_apply_cas(coord_fsm_t *f, const uint8_t *data, size_t len, uint64_t origin, uint64_t index,
            size_t part)
{
    size_t vlen = len >= 16 ? (size_t)s_le(data + 4, 4) : 0;
    if (len < 16 || vlen > len - 16) {
        f->res->status = -EPROTO;
        snprintf(f->res->message, sizeof f->res->message, "entry %" PRIu64 ": bad condition",
                 index);
        return;
    }
    vx_arena_t *a = vx_arena_new(64 * 1024, 16 * len + (1u << 20));
    vx_batch_t *b = vx_wire_decode(data + 16 + vlen, len - 16 - vlen, a);
    if (!b || b->n_events != 1) {
        f->res->status = -EPROTO;
        snprintf(f->res->message, sizeof f->res->message,
                 "entry %" PRIu64 ": a conditional write carries one event", index);
        goto out;
    }
    const vx_event_t *e = b->events[0];
    uint8_t eid[COORD_EID_LEN];
    s_event_id(e, index, part, 0, eid);
    if (coord_fsm_id_seen(f, eid)) {
        f->res->duplicates++;
        s_count(f->m_dups);
        goto out;
    }
    const char *path = e->path && e->path[0] ? e->path : "(none)";
    struct coord_key *k = coord_fsm_key_get(f, path, false);
    int holds = s_cond_holds(k, data[0], s_le(data + 8, 8), data + 16, vlen);
    if (holds < 0) {
        f->res->status = -EPROTO;
        snprintf(f->res->message, sizeof f->res->message, "entry %" PRIu64 ": bad condition",
                 index);
    } else if (!holds) {
        f->res->status = -ECANCELED;
        snprintf(f->res->message, sizeof f->res->message,
                 "the condition on '%.120s' does not hold (its revision is %" PRIu64 ")", path,
                 k ? k->rev : 0);
        f->res->current = k ? coord_fsm_key_json(k) : NULL;
    } else {
        s_apply_one(f, e, eid, origin, index);
    }
out:
    vx_arena_destroy(&a);
}

/* {"conflict": id, "choose": "<event id>"} or {"conflict": id, "value": {...}}. */
static void
s_apply_resolve(coord_fsm_t *f, const uint8_t *data, size_t len, uint64_t origin)
{
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)data, len, 0, &jerr);
    json_int_t id = 0;
    const char *choose = NULL;
    json_t *value = NULL;
    if (!doc || json_unpack(doc, "{s:I, s?s, s?o}", "conflict", &id, "choose", &choose, "value",
                            &value) < 0 ||
        (!choose == !value)) {
        f->res->status = -EINVAL;
        snprintf(f->res->message, sizeof f->res->message, "bad resolution entry");
        json_decref(doc);
        return;
    }
    size_t pos;
    struct coord_conflict *c = id > 0 ? coord_fsm_conflict_find(f, (uint64_t)id, &pos) : NULL;
    if (!c) {
        f->res->status = -ENOENT;
        snprintf(f->res->message, sizeof f->res->message, "no open conflict %lld",
                 (long long)id);
        json_decref(doc);
        return;
    }
    struct coord_key *k = coord_fsm_key_get(f, c->key, true);
    json_t *chosen = NULL;
    if (choose) {
        size_t i;
        json_t *cand;
        json_array_foreach(c->candidates, i, cand)
        {
            const char *eid = json_string_value(json_object_get(cand, "event_id"));
            if (eid && strcmp(eid, choose) == 0) {
                chosen = json_object_get(cand, "value");
            }
        }
        if (!chosen) {
            f->res->status = -EINVAL;
            snprintf(f->res->message, sizeof f->res->message,
                     "conflict %lld has no candidate with event id %s", (long long)id, choose);
            json_decref(doc);
            return;
        }
    } else {
        chosen = value;
    }
    /* The settled value is causally after every candidate: the key's clock joined, plus a
     * tick of the resolving node. */
    char node[32];
    snprintf(node, sizeof node, S_NODE_PREFIX "%" PRIu64, origin);
    coord_vclock_set(&k->clock, node, coord_vclock_tick(&f->cluster, node));
    uint8_t eid[COORD_EID_LEN] = {0};
    uint64_t h = vx_hash64(data, len, (uint64_t)id);
    memcpy(eid, &h, 8);
    k->reg.set = false;
    coord_lww_offer(&k->reg, &k->clock, origin, eid, chosen);
    k->open_conflict = 0;
    k->rev = ++f->revision;
    free(c->key);
    json_decref(c->candidates);
    memmove(&f->conflicts[pos], &f->conflicts[pos + 1],
            (f->n_conflicts - pos - 1) * sizeof *f->conflicts);
    f->n_conflicts--;
    f->resolved++;
    s_count(f->m_resolved);
    json_decref(doc);
}

/* A fresh result for the next part. */
static struct coord_apply_result *
s_result_next(coord_fsm_t *f)
{
    if (f->results.n == f->results_cap) {
        f->results_cap = f->results_cap ? 2 * f->results_cap : 16;
        f->results.r = vx_realloc(f->results.r, f->results_cap * sizeof *f->results.r);
    }
    struct coord_apply_result *r = &f->results.r[f->results.n++];
    memset(r, 0, sizeof *r);
    f->res = r;
    return r;
}

static void
s_results_reset(coord_fsm_t *f)
{
    for (size_t i = 0; i < f->results.n; i++) {
        json_decref(f->results.r[i].current);
    }
    f->results.n = 0;
}

static void
s_apply_part(coord_fsm_t *f, int kind, const uint8_t *p, size_t len, uint64_t origin,
             uint64_t index, size_t part)
{
    switch (kind) {
    case COORD_ENTRY_EVENTS:
        s_apply_events(f, p, len, origin, index, part);
        break;
    case COORD_ENTRY_RESOLVE:
        s_apply_resolve(f, p, len, origin);
        break;
    case COORD_ENTRY_CAS:
        s_apply_cas(f, p, len, origin, index, part);
        break;
    default:
        f->res->status = -EPROTO;
        snprintf(f->res->message, sizeof f->res->message, "entry %" PRIu64 ": kind %u", index,
                 (unsigned)kind);
        break;
    }
    f->res->revision = f->revision;
}

size_t
coord_part_size(size_t len)
{
    return COORD_PART_HDR + ((len + 7) & ~(size_t)7);
}

void
coord_part_write(uint8_t *p, int kind, const void *data, size_t len)
{
    memset(p, 0, coord_part_size(len));
    p[0] = (uint8_t)kind;
    s_put_le(p + 4, len, 4);
    memcpy(p + COORD_PART_HDR, data, len);
}

/* A group entry: parts until the payload ends; a part whose length overruns it is refused
 * (and so is everything after it, which cannot be found). */
static void
s_apply_group(coord_fsm_t *f, const uint8_t *p, size_t len, uint64_t origin, uint64_t index)
{
    size_t off = 0;
    for (size_t part = 0; len - off >= COORD_PART_HDR; part++) {
        size_t plen = (size_t)s_le(p + off + 4, 4);
        s_result_next(f);
        if (plen > len - off - COORD_PART_HDR) {
            f->res->status = -EPROTO;
            snprintf(f->res->message, sizeof f->res->message,
                     "entry %" PRIu64 ": part %zu overruns the entry", index, part);
            return;
        }
        s_apply_part(f, p[off], p + off + COORD_PART_HDR, plen, origin, index, part);
        size_t step = coord_part_size(plen);
        off = step > len - off ? len : off + step;
    }
}

const struct coord_apply_results *
coord_fsm_apply(coord_fsm_t *f, const void *data, size_t len, uint64_t index)
{
    const uint8_t *p = data;
    pthread_rwlock_wrlock(&f->lock);
    s_results_reset(f);
    if (index > f->last_index) {
        f->last_index = index;
    }
    if (len < COORD_ENTRY_HDR || p[0] != 'V' || p[1] != 'C' || p[3] != 1) {
        s_result_next(f);
        f->res->status = -EPROTO;
        snprintf(f->res->message, sizeof f->res->message, "entry %" PRIu64 ": bad header",
                 index);
    } else {
        uint64_t origin = s_le(p + 4, 8);
        size_t plen = (size_t)s_le(p + 12, 4);
        if (plen <= len - COORD_ENTRY_HDR) {
            len = COORD_ENTRY_HDR + plen; /* drop the padding raft adds on disk */
        }
        if (origin > COORD_MAX_NODE_ID) {
            s_result_next(f);
            f->res->status = -EPROTO;
            snprintf(f->res->message, sizeof f->res->message,
                     "entry %" PRIu64 ": origin %" PRIu64 " is not a node id", index, origin);
        } else if (p[2] == COORD_ENTRY_GROUP) {
            s_apply_group(f, p + COORD_ENTRY_HDR, len - COORD_ENTRY_HDR, origin, index);
        } else {
            s_result_next(f);
            s_apply_part(f, p[2], p + COORD_ENTRY_HDR, len - COORD_ENTRY_HDR, origin, index, 0);
        }
    }
    f->res = NULL;
    pthread_rwlock_unlock(&f->lock);
    return &f->results;
}
