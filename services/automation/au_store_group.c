/* SPDX-License-Identifier: Apache-2.0 */
/* Group commit for the automation store (see au_store.h): the writes of concurrent callers
 * share one LMDB write transaction and so one fsync.
 *
 * Why: each durable LMDB commit costs an fsync (milliseconds on a real disk), and every
 * execution needs two (its journal entry at submission, its finishing commit). Callers that
 * arrive while a commit is being synced queue up; the first of them to find no commit under
 * way leads the next one: it takes the whole queue, opens one write transaction, runs each
 * caller's change in a nested transaction of its own (a change that fails — a conflict, a bad
 * path, a full map — is aborted alone and leaves the others and the batch as they were),
 * commits once and wakes every caller with its own result. No caller returns before the
 * transaction holding its change is committed (synced, unless the store was opened without
 * sync), so nothing is acknowledged before it is durable; changes are applied in the order
 * they were queued, each seeing the ones before it, so first-committer-wins conflict
 * detection and commit sequence numbers are exactly as if they had been committed one by one.
 * The queue holds at most one entry per waiting thread: it is bounded by the callers. */
#include "au_store_priv.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>

struct au_store_wreq {
    au_store_apply_fn *fn;
    void *arg;
    char *err;
    size_t errlen;
    int rc;
    bool done;
    struct au_store_wreq *next;
};

void
au_store_group_init(au_store_t *s)
{
    pthread_mutex_init(&s->gmu, NULL);
    pthread_cond_init(&s->gcv, NULL);
}

void
au_store_group_fini(au_store_t *s)
{
    pthread_mutex_destroy(&s->gmu);
    pthread_cond_destroy(&s->gcv);
}

/* Runs one change in txn (nested when the batch has others, so that its failure undoes only
 * it). Returns the change's result. */
static int
s_apply_one(au_store_t *s, MDB_txn *txn, struct au_store_wreq *r, bool nested)
{
    if (!nested) {
        return r->fn(s, txn, r->arg, r->err, r->errlen);
    }
    MDB_txn *child = NULL;
    int rc = mdb_txn_begin(s->env, txn, 0, &child);
    if (rc != 0) {
        return rc;
    }
    rc = r->fn(s, child, r->arg, r->err, r->errlen);
    if (rc == 0) {
        rc = mdb_txn_commit(child);
    } else {
        mdb_txn_abort(child);
    }
    return rc;
}

/* The leader's work: one transaction for the batch, committed once. */
static void
s_run_batch(au_store_t *s, struct au_store_wreq *batch)
{
    size_t n = 0, ok = 0;
    for (struct au_store_wreq *r = batch; r != NULL; r = r->next) {
        n++;
    }
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != 0) {
        for (struct au_store_wreq *r = batch; r != NULL; r = r->next) {
            r->rc = rc;
        }
        return;
    }
    for (struct au_store_wreq *r = batch; r != NULL; r = r->next) {
        r->rc = s_apply_one(s, txn, r, n > 1);
        ok += r->rc == 0;
        if (r->rc != 0 && n == 1) {
            break;
        }
    }
    if (ok == 0) {
        mdb_txn_abort(txn);
        return;
    }
    uint64_t seq = au_store_read_seq_txn(s, txn);
    rc = mdb_txn_commit(txn);
    if (rc != 0) { /* nothing of the batch happened */
        for (struct au_store_wreq *r = batch; r != NULL; r = r->next) {
            r->rc = r->rc == 0 ? rc : r->rc;
        }
        return;
    }
    /* Visible to au_store_seq only now that the batch is committed. */
    __atomic_store_n(&s->seq, seq, __ATOMIC_RELEASE);
    __atomic_add_fetch(&s->group_commits, (uint64_t)ok, __ATOMIC_RELAXED);
    __atomic_add_fetch(&s->group_syncs, 1, __ATOMIC_RELAXED);
    if (s->c_changes != NULL) {
        vx_counter_add(s->c_changes, ok);
        vx_counter_add(s->c_txns, 1);
    }
    uint64_t most = __atomic_load_n(&s->group_largest, __ATOMIC_RELAXED);
    if (ok > most) {
        __atomic_store_n(&s->group_largest, (uint64_t)ok, __ATOMIC_RELAXED);
    }
}

int
au_store_write(au_store_t *s, au_store_apply_fn *fn, void *arg, char *err, size_t errlen)
{
    struct au_store_wreq req = {.fn = fn, .arg = arg, .err = err, .errlen = errlen};
    pthread_mutex_lock(&s->gmu);
    /* req stays queued only while this call waits below: it returns once the leader took it
     * off the queue and marked it done. */
    if (s->gtail != NULL) {
        s->gtail->next = &req;
    } else {
        // cppcheck-suppress autoVariables
        s->ghead = &req;
    }
    // cppcheck-suppress autoVariables
    s->gtail = &req;
    while (!req.done) {
        if (s->gleading) {
            pthread_cond_wait(&s->gcv, &s->gmu);
            continue;
        }
        /* No commit under way: this caller leads the next one, with everything queued (its
         * own change among them, since the queue is only ever taken whole). */
        s->gleading = true;
        struct au_store_wreq *batch = s->ghead;
        s->ghead = s->gtail = NULL;
        pthread_mutex_unlock(&s->gmu);
        s_run_batch(s, batch);
        pthread_mutex_lock(&s->gmu);
        for (struct au_store_wreq *r = batch, *next; r != NULL; r = next) {
            next = r->next; /* r may go as soon as done is seen */
            r->done = true;
        }
        s->gleading = false;
        pthread_cond_broadcast(&s->gcv);
    }
    pthread_mutex_unlock(&s->gmu);
    return req.rc;
}

json_t *
au_store_group_stats(au_store_t *s)
{
    uint64_t commits = __atomic_load_n(&s->group_commits, __ATOMIC_RELAXED);
    uint64_t syncs = __atomic_load_n(&s->group_syncs, __ATOMIC_RELAXED);
    return json_pack("{s:I, s:I, s:I}", "commits", (json_int_t)commits, "transactions",
                     (json_int_t)syncs, "largest_batch",
                     (json_int_t)__atomic_load_n(&s->group_largest, __ATOMIC_RELAXED));
}
