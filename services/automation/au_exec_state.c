/* SPDX-License-Identifier: Apache-2.0 */
/* What the executor keeps in the store (see au_exec.h): each execution's transaction over its
 * tenant's state (snapshot, own writes, commit with conflict detection), its journal entry,
 * and the commit that finishes it into the history. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "au_exec_priv.h"
#include "vx_clock.h"
#include "vx_log.h"

/* Takes e's snapshot when it has none (lock held): the tenant's state and the commit it
 * reflects; a resumed execution keeps its first snapshot's sequence and replays its writes. */
static void
s_snap(au_exec_t *x, struct au_execution *e)
{
    if (e->has_snap) {
        return;
    }
    char err[512];
    uint64_t seq = 0;
    json_t *view = au_store_state_json(x->o.store, e->wf->tenant, &seq, err, sizeof err);
    if (view == NULL) {
        /* An unreadable record: the steps see no state rather than a partial one. */
        vx_error("AU-STATE", "execution %s: %s", e->id, err);
        view = json_object();
    }
    if (e->writes == NULL) {
        e->writes = json_array();
        e->snap_seq = seq;
    }
    size_t i;
    json_t *w;
    json_array_foreach(e->writes, i, w) {
        au_store_view_set(view, json_string_value(json_array_get(w, 0)), json_array_get(w, 1));
    }
    e->view = view;
    e->has_snap = true;
}

json_t *
au_exec_state_view(au_exec_t *x, struct au_execution *e)
{
    pthread_mutex_lock(&x->lock);
    s_snap(x, e);
    json_t *v = json_deep_copy(e->view);
    pthread_mutex_unlock(&x->lock);
    return v;
}

void
au_exec_state_set(au_exec_t *x, struct au_execution *e, const char *path, json_t *value)
{
    pthread_mutex_lock(&x->lock);
    s_snap(x, e);
    json_t *v = json_deep_copy(value);
    json_array_append_new(e->writes, json_pack("[s, O]", path, v));
    au_store_view_set(e->view, path, v);
    json_decref(v);
    pthread_mutex_unlock(&x->lock);
}

bool
au_exec_step_done(au_exec_t *x, struct au_execution *e, const char *id)
{
    bool done = false;
    pthread_mutex_lock(&x->lock);
    size_t i;
    json_t *c;
    json_array_foreach(e->completed, i, c) {
        done = done || strcmp(json_string_value(c), id) == 0;
    }
    pthread_mutex_unlock(&x->lock);
    return done;
}

/* ---- journal ------------------------------------------------------------------------------ */

int
au_exec_journal_write_locked(au_exec_t *x, struct au_execution *e)
{
    if (e->journal_closed) {
        return 0; /* finished before this write got its turn */
    }
    pthread_mutex_lock(&x->lock);
    json_t *j = json_pack("{s:s, s:s, s:O, s:O, s:O, s:O, s:O}", "id", e->id, "tenant",
                          e->wf->tenant, "workflow", e->wf->json, "input",
                          json_object_get(e->ctx, "input"), "steps",
                          json_object_get(e->ctx, "steps"), "completed", e->completed, "record",
                          e->rec);
    if (e->writes != NULL) { /* it has a snapshot: its sequence and the writes since */
        json_object_set(j, "writes", e->writes);
        json_object_set_new(j, "snap_seq", json_integer((json_int_t)e->snap_seq));
    }
    json_t *copy = json_deep_copy(j); /* the worker goes on changing the parts */
    pthread_mutex_unlock(&x->lock);
    json_decref(j);
    char err[512];
    int rc = au_store_journal_put(x->o.store, e->id, copy, err, sizeof err);
    json_decref(copy);
    if (rc < 0) {
        vx_error("AU-JOURNAL", "execution %s: %s", e->id, err);
    }
    return rc;
}

int
au_exec_journal_write(au_exec_t *x, struct au_execution *e)
{
    pthread_mutex_lock(&e->jlock);
    int rc = au_exec_journal_write_locked(x, e);
    pthread_mutex_unlock(&e->jlock);
    return rc;
}

void
au_exec_step_journal(au_exec_t *x, struct au_execution *e, const struct au_step *st)
{
    bool inward = st->act.kind == AU_ACT_SET_STATE || st->act.kind == AU_ACT_DELAY;
    if (inward && !st->has_comp) {
        return; /* its completion need not survive a crash: each commit is an fsync */
    }
    au_exec_journal_write(x, e);
}

/* ---- finishing ---------------------------------------------------------------------------- */

/* Sets the final fields of a record. */
static void
s_final(json_t *rec, const char *status, uint64_t t0, uint64_t wall)
{
    json_object_set_new(rec, "status", json_string(status));
    json_object_set_new(rec, "finished_ns", json_integer((json_int_t)wall));
    json_object_set_new(rec, "duration_ms", json_real((double)(vx_mono_ns() - t0) / 1e6));
}

/* One store commit for e (writes may be NULL): journal entry removed and rec (borrowed)
 * added. */
static int
s_commit(au_exec_t *x, struct au_execution *e, json_t *writes, json_t *rec, uint64_t wall,
         struct au_store_commit *c, char *err, size_t errlen)
{
    *c = (struct au_store_commit){.tenant = e->wf->tenant,
                                  .snap_seq = e->snap_seq,
                                  .writes = writes,
                                  .journal_del = e->id,
                                  .hist_id = e->id,
                                  .hist_rec = rec,
                                  .hist_ns = wall};
    pthread_mutex_lock(&e->jlock);
    int rc = au_store_commit(x->o.store, c, err, errlen);
    if (rc == 0) {
        e->journal_closed = true;
    }
    pthread_mutex_unlock(&e->jlock);
    return rc;
}

/* The record says succeeded only once the commit is done, so that no reader sees an execution
 * succeeded before its writes are visible. */
int
au_exec_commit(au_exec_t *x, struct au_execution *e, uint64_t t0)
{
    uint64_t wall = vx_wall_ns();
    pthread_mutex_lock(&x->lock);
    json_t *rec = json_deep_copy(e->rec);
    s_final(rec, "succeeded", t0, wall);
    json_t *writes = e->writes ? json_incref(e->writes) : NULL;
    if (writes != NULL) {
        json_object_set_new(rec, "state_writes", json_integer((json_int_t)json_array_size(writes)));
    }
    pthread_mutex_unlock(&x->lock);
    struct au_store_commit c;
    char err[1024];
    int rc = s_commit(x, e, writes, rec, wall, &c, err, sizeof err);
    json_decref(writes);
    if (rc == 0) {
        pthread_mutex_lock(&x->lock);
        json_decref(e->rec);
        e->rec = rec; /* with state_commit when writes were committed */
        pthread_mutex_unlock(&x->lock);
        if (c.seq > 0) {
            if (x->o.hooks.committed != NULL) {
                x->o.hooks.committed(x->o.hooks.arg);
            }
        }
        au_exec_count_status(x, "succeeded");
        vx_info("AU-EXEC", "execution %s of workflow %s (tenant %s): succeeded", e->id,
                e->wf->id, e->wf->tenant);
        return 0;
    }
    json_decref(rec);
    pthread_mutex_lock(&x->lock);
    if (rc == -EBUSY) {
        e->conflict_runs++;
        json_object_set_new(e->rec, "conflict",
                            json_pack("{s:s, s:I, s:I, s:i}", "key", c.conflict, "committed_by",
                                      (json_int_t)c.conflict_seq, "snapshot",
                                      (json_int_t)e->snap_seq, "runs", (int)e->conflict_runs));
        if (e->wf->on_conflict == AU_CONFLICT_RETRY &&
            e->conflict_runs <= e->wf->conflict_retries) {
            e->rerun = true;
            pthread_mutex_unlock(&x->lock);
            if (x->c_conflicts != NULL) {
                vx_counter_add(x->c_conflicts, 1);
            }
            vx_info("AU-CONFLICT", "execution %s of workflow %s (tenant %s): %s; running it "
                    "again (%u of %u)", e->id, e->wf->id, e->wf->tenant, err, e->conflict_runs,
                    e->wf->conflict_retries);
            return AU_EXEC_RERUN;
        }
    }
    if (json_object_get(e->rec, "error") == NULL) {
        json_object_set_new(e->rec, "error", json_sprintf("state commit refused: %s", err));
    }
    pthread_mutex_unlock(&x->lock);
    if (rc == -EBUSY && x->c_conflicts != NULL) {
        vx_counter_add(x->c_conflicts, 1);
    }
    vx_warn("AU-CONFLICT", "execution %s of workflow %s (tenant %s): %s", e->id, e->wf->id,
            e->wf->tenant, err);
    return rc;
}

void
au_exec_finish(au_exec_t *x, struct au_execution *e, const char *status, uint64_t t0)
{
    uint64_t wall = vx_wall_ns();
    pthread_mutex_lock(&x->lock);
    s_final(e->rec, status, t0, wall);
    if (e->writes != NULL && json_array_size(e->writes) > 0) {
        json_object_set_new(e->rec, "state_writes_discarded",
                            json_integer((json_int_t)json_array_size(e->writes)));
    }
    json_t *rec = json_deep_copy(e->rec);
    pthread_mutex_unlock(&x->lock);
    struct au_store_commit c;
    char err[1024];
    int rc = s_commit(x, e, NULL, rec, wall, &c, err, sizeof err);
    json_decref(rec);
    if (rc < 0) {
        /* The journal entry stays: the next start recovers it. The record stays in memory. */
        vx_error("AU-HISTORY", "execution %s: %s", e->id, err);
    }
    au_exec_count_status(x, status);
    vx_info("AU-EXEC", "execution %s of workflow %s (tenant %s): %s", e->id, e->wf->id,
            e->wf->tenant, status);
}

void
au_exec_reset(au_exec_t *x, struct au_execution *e)
{
    (void)x;
    e->rerun = false;
    e->resume = false;
    e->has_snap = false;
    json_decref(e->view);
    e->view = NULL;
    json_decref(e->writes);
    e->writes = NULL;
    json_object_set_new(e->ctx, "steps", json_object());
    json_decref(e->completed);
    e->completed = json_array();
    e->phase = AU_EXEC_QUEUED;
    json_object_set_new(e->rec, "status", json_string("queued"));
    json_object_set_new(e->rec, "steps", json_array());
    json_object_set_new(e->rec, "compensations", json_array());
    json_object_del(e->rec, "error");
    json_object_del(e->rec, "branch");
    if (json_object_get(e->rec, "states") != NULL) {
        json_object_set_new(e->rec, "states", json_array());
    }
}
