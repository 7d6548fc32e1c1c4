/* SPDX-License-Identifier: Apache-2.0 */
/* The state machine's internals, shared by its apply (coord_fsm.c), read (coord_fsm_read.c)
 * and snapshot (coord_fsm_snap.c) parts. */
#ifndef COORD_FSM_PRIV_H
#define COORD_FSM_PRIV_H

#include <pthread.h>

#include "coord_crdt.h"
#include "coord_fsm.h"
#include "vx_event.h"

#define COORD_RECENT_IDS 32768 /* event ids per dedup generation; two generations kept */
#define COORD_FSM_NODE_PREFIX "node-" /* the cluster's own clock entries: node-<origin id> */

struct coord_named_counter {
    char *name;
    struct coord_pncounter c;
};

struct coord_key {
    char *path;
    struct coord_key *next;      /* hash chain */
    struct coord_lww reg;        /* the value */
    struct coord_vclock clock;   /* join of every causal context applied to the key */
    struct coord_orset tags;
    struct coord_named_counter *counters;
    size_t n_counters;
    uint64_t events;
    uint64_t last_seq;
    uint64_t rev;                /* the state's revision at the key's last change */
    uint64_t open_conflict;      /* id of the open conflict, 0 when none */
};

struct coord_log_rec {
    uint64_t seq, index, origin;
    uint8_t eid[COORD_EID_LEN];
    int type;
    char *path;           /* owned: the path, then the packed clock (coord_vclock_pack) */
    const uint8_t *clock; /* inside path's allocation */
    const char *relation; /* static string */
};

struct coord_conflict {
    uint64_t id;
    char *key;
    uint64_t opened_index;
    json_t *candidates; /* array of register JSON forms; [0] is the value held */
};

struct coord_idgen {
    uint8_t (*ids)[COORD_EID_LEN]; /* insertion order */
    size_t n;
    uint32_t *slots;               /* open addressing: 0 empty, else index + 1 */
};

struct coord_fsm {
    pthread_rwlock_t lock;
    struct coord_fsm_opts opts;
    struct coord_key **buckets;
    size_t n_buckets, n_keys;
    struct coord_log_rec *ring;
    size_t ring_cap, ring_n;      /* ring holds events last_seq-ring_n+1 .. n_events */
    uint64_t n_events;
    uint64_t last_index;
    struct coord_vclock cluster;  /* "node-<id>": events committed through that node */
    uint64_t conflict_seq;
    struct coord_conflict *conflicts;
    size_t n_conflicts, cap_conflicts;
    uint64_t counts[COORD_N_STRATEGIES];
    uint64_t resolved, stale;
    struct coord_idgen gen[2];
    size_t recent_ids;            /* ids per generation (COORD_RECENT_IDS) */
    int cur;
    uint64_t revision;            /* changes applied: events and resolutions */
    struct coord_apply_results results; /* of the last entry applied */
    size_t results_cap;
    struct coord_apply_result *res;     /* the part being applied */
    vx_counter_t *m_conflicts[COORD_N_STRATEGIES], *m_resolved, *m_events, *m_dups, *m_stale;
    vx_counter_t *m_skipped;
    char *vclock_nodes;           /* owned copy of opts.vclock_nodes; NULL: every name kept */
    vx_counter_t *m_clock_refused, *m_clock_folded;
};

/* Both halves: key table and dedup generations (callers hold the write lock; a lookup without
 * create only reads, so the read lock is enough for it). */
struct coord_key *coord_fsm_key_get(coord_fsm_t *f, const char *path, bool create);
void coord_fsm_key_free(struct coord_key *k);
void coord_fsm_clear(coord_fsm_t *f);
bool coord_fsm_id_seen(coord_fsm_t *f, const uint8_t *id);
void coord_fsm_id_add(coord_fsm_t *f, const uint8_t *id);
struct coord_pncounter *coord_fsm_counter(struct coord_key *k, const char *name);
void coord_fsm_log_push(coord_fsm_t *f, struct coord_log_rec *rec);
/* Fills rec's path and packed clock (one allocation). */
void coord_fsm_rec_fill(struct coord_log_rec *rec, const char *path,
                        const struct coord_vclock *clock);
json_t *coord_fsm_key_json(const struct coord_key *k);

/* Clock policy (coord_fsm_clock.c). Fills ctx (empty before) with the event's producer clock:
 * names vclock_nodes keeps, the others folded into COORD_VCLOCK_FOLDED, entries under the
 * cluster's prefix dropped. Returns how many entries were folded. */
size_t coord_fsm_clock_context(const coord_fsm_t *f, const vx_event_t *e,
                               struct coord_vclock *ctx);
/* Producer entries (not the cluster's node-<id>) a key's clock (NULL: a new key) would hold
 * after joining ctx. */
size_t coord_fsm_clock_joined(const struct coord_vclock *key, const struct coord_vclock *ctx);
/* The open conflict id (and its position), NULL when none. */
struct coord_conflict *coord_fsm_conflict_find(coord_fsm_t *f, uint64_t id, size_t *pos);

#endif
