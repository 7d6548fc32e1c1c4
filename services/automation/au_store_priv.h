/* SPDX-License-Identifier: Apache-2.0 */
/* Internals of the automation store shared by au_store.c (environment, values, definitions,
 * journal, outbox), au_store_state.c (state views and commits) and au_store_hist.c (the
 * history). Not for other files. */
#ifndef AU_STORE_PRIV_H
#define AU_STORE_PRIV_H

#include <lmdb.h>
#include <pthread.h>

#include "au_store.h"

#define AU_STORE_READERS 1024 /* concurrent read transactions (REST threads, workers) */

enum au_dbi {
    AU_DBI_META = 0,
    AU_DBI_STATE,
    AU_DBI_DEFS,
    AU_DBI_JOURNAL,
    AU_DBI_EXEC,
    AU_DBI_HIST,
    AU_DBI_OUTBOX,
    AU_DBI_N
};

struct au_store {
    MDB_env *env;
    MDB_dbi dbi[AU_DBI_N];
    char *dir;
    uint64_t map_bytes;
    uint32_t max_history;
    uint64_t history_age_ns;
    struct au_store_sealer sealer;
    bool has_sealer;
    uint8_t index_key[32];    /* keys the hashes that state keys are made of */
    bool migrated;            /* this open sealed a plaintext store */
    uint64_t seq;             /* last commit (atomic; written under LMDB's writer lock) */
    uint64_t hist_evicted;    /* atomic */
    /* group commit (au_store_group.c) */
    pthread_mutex_t gmu;
    pthread_cond_t gcv;
    struct au_store_wreq *ghead, *gtail; /* changes waiting for the next transaction */
    bool gleading;                       /* a caller is committing a batch */
    uint64_t group_commits;              /* changes committed (atomic) */
    uint64_t group_syncs;                /* transactions that committed them (atomic) */
    uint64_t group_largest;              /* the most changes one transaction held */
    /* background re-seal (au_store_reseal.c) */
    pthread_t reseal_thread;
    bool reseal_running;
    bool reseal_stop;      /* atomic */
    int reseal_state;      /* enum au_reseal_state, atomic */
    uint64_t reseal_total; /* records under older keys when it started */
    uint64_t reseal_done;  /* re-sealed so far (atomic) */
    uint64_t reseal_failed; /* records that did not open, left as they were */
    vx_counter_t *c_changes, *c_txns, *c_resealed; /* optional (au_store_opts) */
};

enum au_reseal_state { AU_RESEAL_IDLE = 0, AU_RESEAL_RUNNING, AU_RESEAL_DONE, AU_RESEAL_FAILED };

/* One change of a write transaction: applies itself to txn and returns 0, an LMDB result, or
 * a negative errno with err set. It may run in a nested transaction, and runs again never. */
typedef int(au_store_apply_fn)(au_store_t *s, MDB_txn *txn, void *arg, char *err,
                               size_t errlen);
/* Runs fn in the next write transaction, shared with the changes of concurrent callers, and
 * returns once that transaction is committed (or fn failed, changing nothing): fn's result,
 * or the commit's LMDB result. */
int au_store_write(au_store_t *s, au_store_apply_fn *fn, void *arg, char *err, size_t errlen);
void au_store_group_init(au_store_t *s);
void au_store_group_fini(au_store_t *s);

/* An LMDB result as -errno (MDB_MAP_FULL: -ENOSPC). */
int au_store_errno(int mdb_rc);
/* Writes the message of a failed call into err; returns au_store_errno(mdb_rc). */
int au_store_fail(au_store_t *s, int mdb_rc, const char *what, char *err, size_t errlen);
/* Puts j (borrowed) under key, sealed when the store has a sealer. An LMDB result. */
int au_store_put_json(au_store_t *s, MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
                      json_t *j, unsigned flags);
/* The JSON of a stored value (new reference), or NULL with *rc (-EBADMSG: changed or not
 * JSON; the sealer's error otherwise). */
json_t *au_store_get_json(au_store_t *s, const MDB_val *k, const MDB_val *v, int *rc);
uint64_t au_store_read_seq(au_store_t *s);
uint64_t au_store_be64(const void *p);
void au_store_put_be64(void *p, uint64_t v);
uint64_t au_store_read_seq_txn(au_store_t *s, MDB_txn *txn);
/* Seals a state value's body (au_store_state.c knows the layout); an LMDB result. */
int au_store_state_reseal(au_store_t *s, MDB_txn *txn, MDB_cursor *cur, const MDB_val *k,
                          const MDB_val *v);
/* Adds rec to the history in txn and drops what the bounds exclude. An LMDB result. */
int au_store_hist_add(au_store_t *s, MDB_txn *txn, const char *id, json_t *rec, uint64_t ns);

#endif
