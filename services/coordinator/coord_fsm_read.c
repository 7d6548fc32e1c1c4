/* SPDX-License-Identifier: Apache-2.0 */
/* Reading the replicated state machine: the event log window, a key, open conflicts, counts.
 * Any thread, under the state machine's read lock; each answer is a new JSON reference. */
#include "coord_fsm_priv.h"

#include <stdio.h>
#include <string.h>

#include "vx_event.h"

/* ---- reads ------------------------------------------------------------------------------ */

static json_t *
s_rec_json(const struct coord_log_rec *r)
{
    char id[VX_EVENT_ID_STR];
    vx_event_id_format(r->eid, id);
    const char *type = vx_event_type_name(r->type);
    return json_pack("{s:I, s:I, s:s, s:s, s:s, s:I, s:o, s:s}", "seq", (json_int_t)r->seq,
                     "index", (json_int_t)r->index, "id", id, "type", type ? type : "unknown",
                     "path", r->path, "origin", (json_int_t)r->origin, "vector_clock",
                     coord_vclock_packed_json(r->clock), "relation", r->relation);
}

json_t *
coord_fsm_log(coord_fsm_t *f, uint64_t from, size_t limit)
{
    pthread_rwlock_rdlock(&f->lock);
    uint64_t first = f->n_events - f->ring_n + 1;
    if (from < first) {
        from = first;
    }
    json_t *events = json_array();
    uint64_t seq = from;
    for (; seq <= f->n_events && json_array_size(events) < limit; seq++) {
        json_array_append_new(events, s_rec_json(&f->ring[(seq - 1) % f->ring_cap]));
    }
    json_t *out = json_pack("{s:I, s:I, s:I, s:o}", "first", (json_int_t)first, "next",
                            (json_int_t)seq, "total", (json_int_t)f->n_events, "events", events);
    pthread_rwlock_unlock(&f->lock);
    return out;
}

json_t *
coord_fsm_key_json(const struct coord_key *k)
{
    json_t *counters = json_object();
    for (size_t i = 0; i < k->n_counters; i++) {
        json_object_set_new(counters, k->counters[i].name,
                            json_integer((json_int_t)coord_pn_value(&k->counters[i].c)));
    }
    json_t *o = json_pack("{s:s, s:I, s:o, s:o, s:o, s:o, s:I, s:I}", "key", k->path,
                          "revision", (json_int_t)k->rev, "register",
                          coord_lww_to_json(&k->reg), "vector_clock",
                          coord_vclock_to_json(&k->clock), "tags",
                          coord_orset_elements(&k->tags), "counters", counters, "events",
                          (json_int_t)k->events, "last_seq", (json_int_t)k->last_seq);
    if (k->open_conflict) {
        json_object_set_new(o, "open_conflict", json_integer((json_int_t)k->open_conflict));
    }
    return o;
}

json_t *
coord_fsm_key(coord_fsm_t *f, const char *key)
{
    pthread_rwlock_rdlock(&f->lock);
    struct coord_key *k = coord_fsm_key_get(f, key, false);
    json_t *o = k ? coord_fsm_key_json(k) : NULL;
    pthread_rwlock_unlock(&f->lock);
    return o;
}

uint64_t
coord_fsm_revision(coord_fsm_t *f)
{
    pthread_rwlock_rdlock(&f->lock);
    uint64_t rev = f->revision;
    pthread_rwlock_unlock(&f->lock);
    return rev;
}

json_t *
coord_fsm_conflicts(coord_fsm_t *f)
{
    pthread_rwlock_rdlock(&f->lock);
    json_t *a = json_array();
    for (size_t i = 0; i < f->n_conflicts; i++) {
        const struct coord_conflict *c = &f->conflicts[i];
        json_array_append_new(
            a, json_pack("{s:I, s:s, s:s, s:I, s:O}", "id", (json_int_t)c->id, "key", c->key,
                         "strategy", "user_intervention", "opened_index",
                         (json_int_t)c->opened_index, "candidates", c->candidates));
    }
    pthread_rwlock_unlock(&f->lock);
    return a;
}

bool
coord_fsm_conflict_open(coord_fsm_t *f, uint64_t id)
{
    pthread_rwlock_rdlock(&f->lock);
    bool open = coord_fsm_conflict_find(f, id, NULL) != NULL;
    pthread_rwlock_unlock(&f->lock);
    return open;
}

json_t *
coord_fsm_stats(coord_fsm_t *f)
{
    pthread_rwlock_rdlock(&f->lock);
    json_t *by = json_object();
    for (int i = 0; i < COORD_N_STRATEGIES; i++) {
        json_object_set_new(by, coord_strategy_name((enum coord_strategy)i),
                            json_integer((json_int_t)f->counts[i]));
    }
    json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:o, s:I, s:I, s:I, s:o}", "events",
                          (json_int_t)f->n_events, "keys", (json_int_t)f->n_keys, "revision",
                          (json_int_t)f->revision, "applied_index",
                          (json_int_t)f->last_index, "conflicts", by, "open_conflicts",
                          (json_int_t)f->n_conflicts, "resolved", (json_int_t)f->resolved,
                          "stale_writes", (json_int_t)f->stale, "cluster_clock",
                          coord_vclock_to_json(&f->cluster));
    pthread_rwlock_unlock(&f->lock);
    return o;
}

uint64_t
coord_fsm_events(coord_fsm_t *f)
{
    pthread_rwlock_rdlock(&f->lock);
    uint64_t n = f->n_events;
    pthread_rwlock_unlock(&f->lock);
    return n;
}
