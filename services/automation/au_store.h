/* SPDX-License-Identifier: Apache-2.0 */
/* The automation daemon's durable store: one LMDB environment in the state folder holding the
 * workflow state, the definitions (patterns, workflows), the journal of unfinished executions,
 * the history of finished ones and the outbox of committed state changes.
 *
 * Why LMDB: every change is one ACID transaction (copy-on-write B+trees, the meta page written
 * last), so a kill -9 at any point leaves the last committed transaction and nothing of a later
 * one; readers work on an MVCC snapshot and never block the single writer.
 *
 * Named databases (keys are bytes; values are JSON text, sealed when a sealer is given):
 *   meta      "seq" -> the last commit sequence number (8 bytes, big-endian); "ikey" -> the
 *             32 random bytes that key the hashes state keys are made of (sealed); "sealed"
 *             -> present once every value is sealed
 *
 * Sealing. A store opened with a sealer for the first time, holding plaintext values, is
 * sealed in one transaction (every value re-written sealed; a crash leaves it as it was).
 * Once sealed, a plaintext value is refused like a changed one, and opening without a sealer
 * is refused with a message saying so.
 *   state     tenant \0 path -> {"v":version, "value":...}; version = commit seq of its writer
 *   defs      "patterns" | "workflows" -> the definitions document
 *   journal   execution id -> the journal entry of an unfinished execution
 *   exec      execution id -> the record of a finished execution
 *   hist      finished_ns (8 bytes big-endian) id -> tenant: the history in finishing order
 *   outbox    seq (8 bytes) index (4 bytes) -> {"tenant","path","value"}: committed changes
 *             whose state triggers have not yet been evaluated
 *
 * State model. A tenant's state is the nested object built by setting every stored path in key
 * order (a parent sorts before its children). Writing a path removes the paths below it and
 * the non-object values above it, so the nested view is the same as setting values one after
 * the other into one object. A commit carries the writer's snapshot sequence: when any path it
 * writes, below it or above it was written by a commit after that snapshot, the whole commit is
 * refused (-EBUSY, first committer wins) and nothing changes.
 *
 * Group commit. Every change (a commit, a journal entry, a definition, an outbox removal) is
 * its own atomic unit, but changes of concurrent callers share one LMDB transaction and so one
 * fsync (au_store_group.c): a call returns once the transaction holding its change is
 * committed, never before.
 *
 * Thread-safe: writers queue for the next group commit; readers (MDB_NOTLS) take a slot only
 * during a call. */
#ifndef AU_STORE_H
#define AU_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_metrics.h"
#include "vx_seal.h"

#define AU_STORE_MAX_KEY 480 /* LMDB's default key limit is 511 bytes */

typedef struct au_store au_store_t;

/* Encryption at rest, when given: seal turns plain into a record that names the key it was
 * sealed with, authenticated together with ad (the LMDB key); open reverses it and fails
 * (-EBADMSG) on a record that was changed. Both return 0 and a malloc'd *out, or -errno. */
struct au_store_sealer {
    int (*seal)(void *arg, const void *ad, size_t adlen, const void *plain, size_t len,
                void **out, size_t *outlen);
    int (*open)(void *arg, const void *ad, size_t adlen, const void *sealed, size_t len,
                void **out, size_t *outlen);
    void *arg;
    uint32_t key_id; /* the id of the key seal uses (the newest); 0: records are not re-sealed */
};

/* The sealer of the suite's data keys (vx_seal.h; borrowed, must outlive the store): records
 * sealed under its newest key, the LMDB key as associated data. */
struct au_store_sealer au_store_vx_sealer(const vx_sealer_t *sealer);

struct au_store_opts {
    const char *dir;           /* the environment's folder (created when absent); required */
    uint64_t map_bytes;        /* the most the store may hold; a commit beyond is -ENOSPC */
    bool no_sync;              /* skip fsync at commit (a folder that need not survive) */
    uint32_t max_history;      /* finished executions kept, all tenants (>= 1) */
    uint64_t history_age_ns;   /* finished executions older than this go; 0: no age bound */
    const struct au_store_sealer *sealer; /* NULL: values stored as plain JSON; copied */
    /* counted as they happen when given (borrowed; must outlive the store): */
    vx_counter_t *changes_total;      /* changes committed */
    vx_counter_t *transactions_total; /* write transactions (fsyncs) that committed them */
    vx_counter_t *resealed_total;     /* records re-sealed under the newest key */
};

/* Opens (or creates) the environment. Returns 0 and *out (caller owns), or -errno with err
 * naming the folder and LMDB's reason (-EPERM: sealed, and no sealer given; -EBADMSG: its key
 * record cannot be opened, a wrong data key). Nothing is written on a refusal. */
int au_store_open(au_store_t **out, const struct au_store_opts *o, char *err, size_t errlen);
/* Closes it. Accepts NULL; sets *s to NULL. */
void au_store_close(au_store_t **s);
/* The folder (borrowed). */
const char *au_store_dir(const au_store_t *s);

/* ---- definitions ---- */

/* Replaces definitions document name ("patterns", "workflows"); doc borrowed. 0 or -errno. */
int au_store_def_put(au_store_t *s, const char *name, json_t *doc, char *err, size_t errlen);
/* The document (new reference), or NULL: *rc 0 when there is none, -errno (err) when it
 * cannot be read or opened. */
json_t *au_store_def_get(au_store_t *s, const char *name, int *rc, char *err, size_t errlen);

/* ---- state ---- */

/* A snapshot of tenant's state as one nested object (new reference) and the commit sequence
 * it reflects (*seq, may be NULL). NULL with err when a record cannot be read. */
json_t *au_store_state_json(au_store_t *s, const char *tenant, uint64_t *seq, char *err,
                            size_t errlen);
/* Sets value (borrowed) at the dotted path of a view, as a commit would. */
void au_store_view_set(json_t *root, const char *path, json_t *value);
/* The last commit sequence number. */
uint64_t au_store_seq(au_store_t *s);

/* One transaction: the state writes of an execution (or of one PUT /v1/state) together with
 * what finishes that execution, so they happen all together or not at all. */
struct au_store_commit {
    const char *tenant;        /* of the writes; required when writes are given */
    uint64_t snap_seq;         /* conflict check against commits after this; UINT64_MAX: none */
    json_t *writes;            /* [[path, value], ...] in order (borrowed), or NULL */
    const char *journal_del;   /* execution whose journal entry goes, or NULL */
    const char *hist_id;       /* execution whose record is added to the history, or NULL */
    json_t *hist_rec;          /* that record (borrowed; gets "state_commit": seq when writes
                                * were committed) */
    uint64_t hist_ns;          /* its finishing time (wall clock, ns) */
    /* out */
    uint64_t seq;              /* the commit's sequence number (0 when nothing was written) */
    char conflict[AU_STORE_MAX_KEY]; /* -EBUSY: the path in conflict */
    uint64_t conflict_seq;     /* -EBUSY: the commit that wrote it */
};

/* Commits c. Returns 0, -EBUSY (conflict: c->conflict, nothing changed), -ENOSPC (the map is
 * full: nothing changed), -EINVAL (a bad path or value), or -EIO; err says which. Each state
 * write also goes to the outbox, so its triggers are evaluated once it is committed. */
int au_store_commit(au_store_t *s, struct au_store_commit *c, char *err, size_t errlen);

/* ---- journal ---- */

/* Writes (replaces) the journal entry of execution id (entry borrowed). 0 or -errno. */
int au_store_journal_put(au_store_t *s, const char *id, json_t *entry, char *err, size_t errlen);
/* Every journal entry, [{"id":..,"entry":{...}},...] in id order (new reference); entries that
 * cannot be opened are listed as {"id":..,"error":"..."}. NULL with err on failure. */
json_t *au_store_journal_list(au_store_t *s, char *err, size_t errlen);
/* True when id is in the journal or the history. */
bool au_store_exec_known(au_store_t *s, const char *id);

/* ---- history ---- */

/* The record of finished execution id of tenant (new reference), or NULL. */
json_t *au_store_exec_get(au_store_t *s, const char *tenant, const char *id);

/* A page of the history, newest first. */
struct au_store_query {
    const char *tenant;        /* required */
    const char *status;        /* NULL: any */
    const char *workflow;      /* NULL: any */
    uint64_t since_ns;         /* finished at or after (wall clock); 0: any */
    uint64_t until_ns;         /* finished before; 0: any */
    const char *cursor;        /* from a previous page's next_cursor, or NULL */
    size_t limit;              /* >= 1 */
};
/* {"executions":[...records without input, steps and compensations, with steps_run...],
 *  "next_cursor":"..." (only when more may follow)} (new reference), or NULL with -EINVAL
 * for a bad cursor (err). */
json_t *au_store_exec_query(au_store_t *s, const struct au_store_query *q, char *err,
                            size_t errlen);
/* Records in the history; records dropped by the count and age bounds since open. */
size_t au_store_hist_count(au_store_t *s);
uint64_t au_store_hist_evicted(au_store_t *s);
/* Drops records beyond the bounds (also done at each commit that adds one). */
int au_store_hist_prune(au_store_t *s, uint64_t now_ns);

/* ---- outbox ---- */

/* The oldest committed change whose triggers are not evaluated yet (new reference) and its
 * key, or NULL when there is none. */
json_t *au_store_outbox_first(au_store_t *s, char key[12]);
/* Removes it once its triggers were started. 0 or -errno. */
int au_store_outbox_del(au_store_t *s, const char key[12]);
/* The oldest committed changes, at most max of them, in commit order: each one's key and JSON
 * (new reference; {"error":...} when it does not open). Returns how many. */
struct au_store_change {
    char key[12];
    json_t *change;
};
size_t au_store_outbox_take(au_store_t *s, struct au_store_change *out, size_t max);
/* Removes n changes in one store change (one transaction and fsync for all). 0 or -errno. */
int au_store_outbox_del_n(au_store_t *s, const struct au_store_change *c, size_t n);

/* Fills st with the environment's figures: {"map_bytes","used_bytes","entries":{...}}. */
json_t *au_store_stats(au_store_t *s);
/* ---- re-sealing after a key rotation ---- */

/* Starts re-sealing, in the background, every record sealed under another key than the
 * sealer's key_id (au_store_reseal.c); nothing when there is none. Old records stay readable
 * meanwhile. au_store_close stops it (the next start goes on). */
void au_store_reseal_start(au_store_t *s);
void au_store_reseal_stop(au_store_t *s);
struct au_store_reseal {
    const char *state;   /* "idle" (not started), "running", "done", "failed" (see the log) */
    uint32_t key_id;     /* the key records are re-sealed under */
    uint64_t total;      /* records under older keys when it started */
    uint64_t resealed;   /* re-sealed so far */
    uint64_t remaining;  /* still under older keys (0 once done) */
    uint64_t unreadable; /* records that did not open and keep their key (reported) */
};
void au_store_reseal_progress(au_store_t *s, struct au_store_reseal *p);

/* Group commit: {"commits": changes committed, "transactions": the write transactions (each
 * one fsync) that committed them, "largest_batch"} since open (new reference). */
json_t *au_store_group_stats(au_store_t *s);

#endif
