/* SPDX-License-Identifier: Apache-2.0 */
/* The replicated state machine: what every node computes from the committed log.
 *
 * A log entry is a 16-byte header (magic "VC", kind, version, origin node id, payload length:
 * raft pads entries to 8 bytes on disk, so the length read back can be larger) and a payload.
 * The leader writes GROUP entries (group commit): a sequence of parts, one per client request,
 * each an 8-byte part header (kind, payload length) and its payload padded to 8 bytes. A part
 * is a packed EventBatch (EVENTS), a JSON resolution of an open conflict (RESOLVE) or a
 * conditional write (CAS: a condition on one key and a batch of one event for that key).
 * EVENTS and RESOLVE entries of their own (older logs) are still applied.
 * Applying is deterministic: the result depends on the entries alone, so every node reaches
 * the same state. The state is the recent event log (bounded in memory; older events live in
 * raft's snapshots and log), per key (the event's path) a last-writer-wins register ordered by
 * vector clock, an observed-remove set of tags (metadata keys "tag.<name>": value "-" removes,
 * anything else adds), positive-negative counters (metadata "counter.<name>": a signed delta),
 * and the open conflicts.
 *
 * Vector clocks: an event's causal context is the producer's causality.vector_clock when it
 * sends one (its names as vclock_nodes allows, the others folded into one entry, at most
 * vclock_max_entries producer entries per key: an event that would pass it is refused and
 * changes nothing; see coord_fsm_clock.c), else the key's current clock (the producer saw
 * everything). Each committed event
 * then gets the cluster's entry "node-<origin>" = the count of events committed through that
 * node. Concurrency between a stored value and a new event is decided on the causal context
 * (the "node-" entries are left out when the producer sent a clock, since producers cannot
 * know them). Concurrent updates go to the key prefix's strategy: last_writer_wins (the
 * register's total order decides), merge (content maps united; the later write's fields win
 * where both set one), user_intervention (the value stays, a conflict opens until resolved).
 *
 * Every applied event and every resolution raises the state's revision by one; a key
 * remembers the revision of its last change, which conditional writes compare (If-Match).
 * A conditional write whose condition does not hold changes nothing and does not record its
 * event id, so a retry with the same id is judged again.
 *
 * Thread safety: apply, snapshot and restore run on the raft thread; the read functions may
 * run on any thread (a reader-writer lock). */
#ifndef COORD_FSM_H
#define COORD_FSM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord_config.h"
#include "vx_event.h"
#include "vx_metrics.h"

#define COORD_ENTRY_HDR 16
#define COORD_ENTRY_EVENTS 1
#define COORD_ENTRY_RESOLVE 2
#define COORD_ENTRY_GROUP 3
#define COORD_ENTRY_CAS 4 /* a part of a group only */
#define COORD_ENTRY_SEALED 5 /* a sealed entry or snapshot (coord_seal.h): opened before apply */
#define COORD_PART_HDR 8

/* A conditional write's condition on the key of its one event. */
enum coord_cond_type {
    COORD_IF_REVISION = 1, /* the key's revision equals `revision` (0: the key does not exist) */
    COORD_IF_VALUE = 2,    /* the register's content equals the JSON object `value` */
    COORD_IF_ABSENT = 3,   /* no committed event touched the key */
    COORD_IF_EXISTS = 4,   /* some committed event touched the key */
};

struct coord_cond {
    enum coord_cond_type type;
    uint64_t revision;
    const char *value; /* compact JSON object (COORD_IF_VALUE), borrowed */
    size_t value_len;
};

typedef struct coord_fsm coord_fsm_t;

struct coord_fsm_opts {
    struct coord_strategies strategies;
    bool resolve_conflicts;   /* false: every conflict last-writer-wins */
    size_t log_memory;        /* events kept for GET /v1/log */
    size_t recent_ids;        /* event ids remembered per deduplication generation (two kept);
                               * 0: 32768; smaller only for tests and fuzzing */
    /* Producer clock names kept (coord_config.h's vclock_nodes; NULL or "*": any) and the
     * most entries a key's clock may hold (0: unbounded, for unit tests). Copied. */
    const char *vclock_nodes;
    size_t vclock_max_entries;
    vx_metrics_t *metrics;    /* may be NULL (unit tests) */
};

/* What applying one part (one client request) did. */
struct coord_apply_result {
    int status;        /* 0, -EPROTO (undecodable entry), -ENOENT (no such conflict), -EINVAL,
                        * -ECANCELED (a condition did not hold: nothing changed) */
    char message[200];
    size_t accepted;   /* events newly committed */
    size_t duplicates; /* events whose id was committed before */
    size_t skipped;    /* events not applied: text that is not UTF-8 (no JSON can show it) */
    size_t refused;    /* events not applied: their key's clock would pass vclock_max_entries
                        * (status -E2BIG, message names the first) */
    size_t conflicts;  /* concurrent updates met */
    uint64_t first_seq, last_seq; /* event numbers given (1-based, cluster-wide) */
    uint64_t revision; /* the state's revision after this part */
    json_t *current;   /* -ECANCELED: the key's state when the condition was checked, NULL
                        * when the key did not exist; a reference held by the result */
};

/* What applying one entry did, a result per part; owned by the FSM, valid until the next
 * apply (take a reference to keep a `current`). */
struct coord_apply_results {
    size_t n;
    struct coord_apply_result *r;
};

coord_fsm_t *coord_fsm_new(const struct coord_fsm_opts *opts);
void coord_fsm_destroy(coord_fsm_t **f);

/* Writes the entry header into hdr (COORD_ENTRY_HDR bytes). */
void coord_entry_header(uint8_t *hdr, int kind, uint64_t origin, size_t payload_len);
/* Bytes a part of payload length len takes in a group entry (header and padding). */
size_t coord_part_size(size_t len);
/* Writes one part at p (coord_part_size(len) bytes). */
void coord_part_write(uint8_t *p, int kind, const void *data, size_t len);
/* A CAS part's payload: the condition, then the packed batch of one event. Caller frees. */
uint8_t *coord_cas_payload(const struct coord_cond *c, const void *batch, size_t batch_len,
                           size_t *len);

/* Applies one committed entry at raft index `index`. Returns the results (owned by the FSM). */
const struct coord_apply_results *coord_fsm_apply(coord_fsm_t *f, const void *data, size_t len,
                                                  uint64_t index);

/* The whole state as bytes (caller frees with free()). */
int coord_fsm_snapshot(coord_fsm_t *f, void **data, size_t *len);
/* Replaces the state with a snapshot's. Returns 0 or -EPROTO (state unchanged). */
int coord_fsm_restore(coord_fsm_t *f, const void *data, size_t len);

/* Before proposing (any thread): whether any of the events would take its key's clock past
 * vclock_max_entries as the state stands. Returns 0, or -E2BIG with a message naming the
 * event and the key. The state machine checks again when it applies them (the state may have
 * moved meanwhile). */
int coord_fsm_clock_check(coord_fsm_t *f, vx_event_t *const *events, size_t n, char *err,
                          size_t errlen);

/* ---- reads (any thread; each returns a new reference) ---- */
/* Events with seq >= from, at most limit: {"first":F,"next":N,"total":T,"events":[...]}. */
json_t *coord_fsm_log(coord_fsm_t *f, uint64_t from, size_t limit);
/* The state of one key, NULL when unknown. */
json_t *coord_fsm_key(coord_fsm_t *f, const char *key);
/* The state's revision (changes applied so far). */
uint64_t coord_fsm_revision(coord_fsm_t *f);
/* Open conflicts [...]. */
json_t *coord_fsm_conflicts(coord_fsm_t *f);
/* Counts: events, keys, conflicts by strategy, last applied index, cluster clock. */
json_t *coord_fsm_stats(coord_fsm_t *f);
uint64_t coord_fsm_events(coord_fsm_t *f);
/* True when conflict id is open. */
bool coord_fsm_conflict_open(coord_fsm_t *f, uint64_t id);

#endif
