/* SPDX-License-Identifier: Apache-2.0 */
/* Running one workflow execution (see au_exec.h): each step with its retries and backoff
 * through the circuit breaker of its target, the four kinds (linear, parallel fan-out and
 * join, conditional branches, state machines waiting on events), and the compensation of the
 * completed steps in reverse order. Actions run without x->lock, on a snapshot of the
 * context taken when each attempt starts. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "au_action.h"
#include "au_exec_priv.h"
#include "au_expr.h"
#include "vx_clock.h"
#include "vx_log.h"
#include "vx_mem.h"

/* ---- records ------------------------------------------------------------------------------ */

static json_t *
s_rec_step(struct au_execution *e, const char *id)
{
    json_t *steps = json_object_get(e->rec, "steps");
    size_t i;
    json_t *s;
    json_array_foreach(steps, i, s) {
        if (strcmp(json_string_value(json_object_get(s, "id")), id) == 0) {
            return s;
        }
    }
    s = json_pack("{s:s, s:s, s:[]}", "id", id, "status", "running", "attempts");
    json_array_append_new(steps, s);
    return s;
}

static double
s_ms_since(uint64_t t0)
{
    return (double)(vx_mono_ns() - t0) / 1e6;
}

/* Sleeps ns unless stopping; false when stopped. */
static bool
s_sleep(au_exec_t *x, uint64_t ns)
{
    uint64_t end = vx_mono_ns() + ns;
    pthread_mutex_lock(&x->lock);
    while (!x->stop && vx_mono_ns() < end) {
        struct timespec ts;
        au_exec_deadline(&ts, end - vx_mono_ns());
        pthread_cond_timedwait(&x->tick, &x->lock, &ts);
    }
    bool ok = !x->stop;
    pthread_mutex_unlock(&x->lock);
    return ok;
}

/* ---- steps -------------------------------------------------------------------------------- */

static uint64_t
s_backoff_ms(const struct au_retry *r, uint32_t retry)
{
    double d = (double)r->base_ms;
    if (r->backoff == AU_BACKOFF_LINEAR) {
        d *= retry;
    } else if (r->backoff == AU_BACKOFF_EXPONENTIAL) {
        d *= pow(2.0, (double)(retry - 1));
    }
    d = fmin(d, (double)r->max_ms);
    if (r->jitter > 0) {
        d *= 1.0 - r->jitter * ((double)random() / ((double)RAND_MAX + 1.0));
    }
    return (uint64_t)d;
}

/* The context for one attempt: a copy with the execution's view of the state (its snapshot
 * and its own writes; lock not held). */
static json_t *
s_snapshot(au_exec_t *x, struct au_execution *e)
{
    json_t *st = au_exec_state_view(x, e);
    pthread_mutex_lock(&x->lock);
    json_t *c = json_deep_copy(e->ctx);
    pthread_mutex_unlock(&x->lock);
    json_object_set_new(c, "state", st ? st : json_object());
    return c;
}

/* A script started: its process group goes into the journal, so that after a crash the next
 * start can kill what is left of it. */
static void
cb_script_started(int pid, void *arg)
{
    struct au_exec_pg *pg = arg;
    pthread_mutex_lock(&pg->x->lock);
    json_t *a = json_object_get(pg->e->rec, "running_pgids");
    if (a == NULL) {
        a = json_array();
        json_object_set_new(pg->e->rec, "running_pgids", a);
    }
    json_array_append_new(a, json_integer(pid));
    pthread_mutex_unlock(&pg->x->lock);
    au_exec_journal_write(pg->x, pg->e);
}

static void
s_script_done(au_exec_t *x, struct au_execution *e, int pid)
{
    pthread_mutex_lock(&x->lock);
    json_t *a = json_object_get(e->rec, "running_pgids");
    for (size_t i = json_array_size(a); i-- > 0;) {
        if (json_integer_value(json_array_get(a, i)) == pid) {
            json_array_remove(a, i);
        }
    }
    if (a != NULL && json_array_size(a) == 0) {
        json_object_del(e->rec, "running_pgids");
    }
    pthread_mutex_unlock(&x->lock);
}

/* Runs one action once. Returns 0 or -errno with out->err.
 *
 * One function for every kind because they share the frame around the call: the context is
 * a snapshot taken under the lock, so templates see one consistent state while the action
 * runs unlocked; the target's breaker is asked before the call and told the outcome after,
 * except when the daemon stops (a cancelled call says nothing about the target). */
static int
s_act(au_exec_t *x, struct au_execution *e, const char *step_id, const struct au_act *a,
      uint64_t timeout_ms, struct au_act_out *out)
{
    json_t *ctx = s_snapshot(x, e);
    char target[600] = "";
    char *url = NULL;
    int rc = 0;
    if (a->kind == AU_ACT_HTTP) {
        rc = au_http_resolve(a, ctx, &url, target, sizeof target, out->err, sizeof out->err);
    } else {
        char *t = au_act_target(e->wf, step_id, a, NULL);
        snprintf(target, sizeof target, "%s", t ? t : "");
        free(t);
    }
    if (rc == 0 && target[0] != '\0') {
        /* The tenant's own breaker of the target (au_breaker.h). */
        char shown[sizeof target];
        memcpy(shown, target, sizeof shown);
        snprintf(target, sizeof target, "%.64s %.520s", e->wf->tenant ? e->wf->tenant : "",
                 shown);
    }
    if (rc == 0 && target[0] != '\0' && !au_breaker_allow(x->o.breakers, target, vx_mono_ns())) {
        snprintf(out->err, sizeof out->err, "circuit open for %s",
                 au_breaker_split(target, (char[AU_BREAKER_TENANT_MAX + 1]){0},
                                  AU_BREAKER_TENANT_MAX + 1));
        rc = -EHOSTUNREACH;
        target[0] = '\0'; /* not a call: nothing to report to the breaker */
    } else if (rc == 0) {
        switch (a->kind) {
        case AU_ACT_SCRIPT: {
            out->on_start = cb_script_started;
            out->on_start_arg = &e->pg;
            rc = au_script_run(a, x->o.policy, ctx, timeout_ms, &x->stop, e->id, step_id, out);
            if (out->pid > 0) {
                s_script_done(x, e, out->pid);
            }
            break;
        }
        case AU_ACT_HTTP:
            rc = au_http_run(a, x->o.policy, ctx, url, timeout_ms, &x->stop, out);
            break;
        case AU_ACT_EMIT: {
            json_t *ev = au_template_eval(a->event, ctx);
            rc = x->o.hooks.emit ? x->o.hooks.emit(e->wf->tenant, ev, out->err,
                                                  sizeof out->err, x->o.hooks.arg)
                                 : -ENOTSUP;
            if (rc == -ENOTSUP && x->o.hooks.emit == NULL) {
                snprintf(out->err, sizeof out->err, "emit is not configured");
            }
            if (rc == 0) {
                out->result = ev;
            } else {
                json_decref(ev);
            }
            break;
        }
        case AU_ACT_SET_STATE: {
            json_t *v = au_template_eval(a->value, ctx);
            au_exec_state_set(x, e, a->state_path, v); /* buffered until the commit */
            out->result = v;
            break;
        }
        case AU_ACT_DELAY:
            if (!s_sleep(x, (a->ms < timeout_ms ? a->ms : timeout_ms) * VX_NS_PER_MS)) {
                snprintf(out->err, sizeof out->err, "stopped: the daemon is shutting down");
                rc = -ECANCELED;
            } else if (a->ms > timeout_ms) {
                snprintf(out->err, sizeof out->err, "delay of %llu ms is over the timeout",
                         (unsigned long long)a->ms);
                out->timed_out = true;
                rc = -ETIMEDOUT;
            } else {
                out->result = json_null();
            }
            break;
        }
        if (target[0] != '\0' && rc != -ECANCELED) {
            au_breaker_done(x->o.breakers, target, rc == 0, vx_mono_ns());
        }
    }
    free(url);
    json_decref(ctx);
    return rc;
}

/* Runs a step with its retries; records every attempt. true on success.
 *
 * The record is updated under the executor's lock after each attempt, because REST reads it
 * while the step runs; a success is journalled at once so that recovery after a crash knows
 * to compensate it. The backoff wait wakes on stop, so shutdown never waits out a delay. */
static bool
s_step(au_exec_t *x, struct au_execution *e, const struct au_step *st)
{
    if (e->resume && au_exec_step_done(x, e, st->id)) {
        return true; /* completed before the interruption; its result is in the context */
    }
    uint32_t tries = 1 + (x->o.retries ? st->retry.max_retries : 0);
    uint64_t t_step = vx_mono_ns();
    pthread_mutex_lock(&x->lock);
    json_t *rs = s_rec_step(e, st->id);
    json_object_set_new(rs, "action", json_string(au_act_kind_name(st->act.kind)));
    if (!e->first_step_seen) {
        e->first_step_seen = true;
        json_object_set_new(e->rec, "start_latency_us",
                            json_real((double)(vx_mono_ns() - e->submit_ns) / 1e3));
    }
    pthread_mutex_unlock(&x->lock);
    char last_err[512] = "";
    for (uint32_t n = 1; n <= tries; n++) {
        uint64_t delay = 0;
        if (n > 1) {
            delay = s_backoff_ms(&st->retry, n - 1);
            if (!s_sleep(x, delay * VX_NS_PER_MS)) {
                snprintf(last_err, sizeof last_err, "stopped: the daemon is shutting down");
                break;
            }
        }
        if (x->stop) {
            snprintf(last_err, sizeof last_err, "stopped: the daemon is shutting down");
            break;
        }
        struct au_act_out out = {0};
        uint64_t t0 = vx_mono_ns();
        int rc = s_act(x, e, st->id, &st->act, st->timeout_ms, &out);
        if (x->c_attempts != NULL) {
            vx_counter_add(x->c_attempts, 1);
        }
        pthread_mutex_lock(&x->lock);
        json_t *att = json_pack("{s:i, s:s, s:f, s:I}", "attempt", (int)n, "status",
                                rc == 0 ? "succeeded" : (out.timed_out ? "timed_out" : "failed"),
                                "duration_ms", s_ms_since(t0), "delay_ms", (json_int_t)delay);
        if (rc < 0) {
            json_object_set_new(att, "error", json_string(out.err));
        }
        if (out.pid > 0) {
            json_object_set_new(att, "pid", json_integer(out.pid));
        }
        json_array_append_new(json_object_get(rs, "attempts"), att);
        if (rc == 0) {
            json_t *res = out.result ? out.result : json_null();
            json_object_set(rs, "result", res);
            json_object_set_new(rs, "status", json_string("succeeded"));
            json_object_set_new(rs, "duration_ms", json_real(s_ms_since(t_step)));
            json_object_set_new(json_object_get(e->ctx, "steps"), st->id,
                                json_pack("{s:s, s:o}", "status", "succeeded", "result", res));
            json_array_append_new(e->completed, json_string(st->id));
            pthread_mutex_unlock(&x->lock);
            au_exec_step_journal(x, e, st);
            return true;
        }
        snprintf(last_err, sizeof last_err, "%s", out.err);
        pthread_mutex_unlock(&x->lock);
        json_decref(out.result);
        if (rc == -ECANCELED) {
            break;
        }
    }
    pthread_mutex_lock(&x->lock);
    json_object_set_new(rs, "status", json_string("failed"));
    json_object_set_new(rs, "error", json_string(last_err));
    json_object_set_new(rs, "duration_ms", json_real(s_ms_since(t_step)));
    json_object_set_new(json_object_get(e->ctx, "steps"), st->id,
                        json_pack("{s:s, s:s}", "status", "failed", "error", last_err));
    if (json_object_get(e->rec, "error") == NULL) {
        json_object_set_new(e->rec, "error",
                            json_sprintf("step %s: %s", st->id, last_err));
    }
    pthread_mutex_unlock(&x->lock);
    return false;
}

static bool
s_steps(au_exec_t *x, struct au_execution *e, const struct au_steps *ss)
{
    for (uint32_t i = 0; i < ss->n; i++) {
        if (!s_step(x, e, &ss->v[i])) {
            return false;
        }
    }
    return true;
}

struct s_branch_arg {
    au_exec_t *x;
    struct au_execution *e;
    const struct au_step *st;
    bool ok;
};

static void *
cb_branch(void *arg)
{
    struct s_branch_arg *b = arg;
    b->ok = s_step(b->x, b->e, b->st);
    return NULL;
}

/* Fan-out: every step on a thread of its own; join: all must succeed. */
static bool
s_parallel(au_exec_t *x, struct au_execution *e, const struct au_steps *ss)
{
    struct s_branch_arg args[AU_WF_MAX_STEPS];
    pthread_t th[AU_WF_MAX_STEPS];
    bool started[AU_WF_MAX_STEPS] = {false};
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, AU_EXEC_STACK);
    for (uint32_t i = 0; i < ss->n; i++) {
        args[i] = (struct s_branch_arg){x, e, &ss->v[i], false};
        started[i] = pthread_create(&th[i], &at, cb_branch, &args[i]) == 0;
        if (!started[i]) {
            cb_branch(&args[i]); /* no thread: run it here */
        }
    }
    pthread_attr_destroy(&at);
    bool ok = true;
    for (uint32_t i = 0; i < ss->n; i++) {
        if (started[i]) {
            pthread_join(th[i], NULL);
        }
        ok = ok && args[i].ok;
    }
    return ok;
}

static bool
s_conditional(au_exec_t *x, struct au_execution *e)
{
    const struct au_workflow *w = e->wf;
    if (!s_steps(x, e, &w->steps)) {
        return false;
    }
    json_t *ctx = s_snapshot(x, e);
    int32_t chosen = -1;
    for (uint32_t i = 0; i < w->n_branches && chosen < 0; i++) {
        if (w->branches[i].when == NULL || au_cond_eval(w->branches[i].when, ctx)) {
            chosen = (int32_t)i;
        }
    }
    json_decref(ctx);
    pthread_mutex_lock(&x->lock);
    json_object_set_new(e->rec, "branch", chosen >= 0 ? json_integer(chosen) : json_null());
    pthread_mutex_unlock(&x->lock);
    return chosen < 0 || s_steps(x, e, &w->branches[chosen].steps);
}

/* Waits in a state for a matching event; returns the transition index or -1 at wait_ms. */
static int32_t
s_wait_event(au_exec_t *x, struct au_execution *e, const struct au_state *st)
{
    uint64_t end = vx_mono_ns() + st->wait_ms * VX_NS_PER_MS;
    pthread_mutex_lock(&x->lock);
    e->got_tr = -1;
    e->waiting = st;
    json_object_set_new(e->rec, "waiting_in", json_string(st->name));
    __atomic_add_fetch(&x->n_waiting, 1, __ATOMIC_RELAXED);
    while (!x->stop && e->got_tr < 0 && vx_mono_ns() < end) {
        struct timespec ts;
        au_exec_deadline(&ts, end - vx_mono_ns());
        pthread_cond_timedwait(&x->tick, &x->lock, &ts);
    }
    e->waiting = NULL;
    json_object_del(e->rec, "waiting_in");
    __atomic_sub_fetch(&x->n_waiting, 1, __ATOMIC_RELAXED);
    int32_t t = e->got_tr;
    pthread_mutex_unlock(&x->lock);
    return t;
}

static void
s_rec_error(au_exec_t *x, struct au_execution *e, const char *msg)
{
    pthread_mutex_lock(&x->lock);
    if (json_object_get(e->rec, "error") == NULL) {
        json_object_set_new(e->rec, "error", json_string(msg));
    }
    pthread_mutex_unlock(&x->lock);
}

/* Runs a state machine from its initial state until a terminal one, taking the first
 * transition that fits each state's outcome (success, failure, then an awaited event or its
 * timeout). Validation only proves that every reachable state can end, not that it will:
 * AU_WF_MAX_RUN_TRANSITIONS bounds a run that keeps looping. A failure that a transition
 * handles is removed from the record, since the machine recovered from it. */
static bool
s_state_machine(au_exec_t *x, struct au_execution *e)
{
    const struct au_workflow *w = e->wf;
    uint32_t cur = w->initial;
    for (uint32_t n = 0;; n++) {
        const struct au_state *st = &w->states[cur];
        pthread_mutex_lock(&x->lock);
        json_array_append_new(json_object_get(e->rec, "states"), json_string(st->name));
        pthread_mutex_unlock(&x->lock);
        if (st->terminal) {
            if (st->failed) {
                char m[200];
                snprintf(m, sizeof m, "ended in failed state %s", st->name);
                s_rec_error(x, e, m);
            }
            return !st->failed;
        }
        if (n >= AU_WF_MAX_RUN_TRANSITIONS) {
            s_rec_error(x, e, "more than 1000 transitions");
            return false;
        }
        bool ok = s_steps(x, e, &st->steps);
        if (x->stop) {
            return false;
        }
        if (ok) {
            /* A failure handled by a transition is not the execution's error. */
        }
        int32_t tr = -1;
        for (uint32_t i = 0; i < st->n_tr && tr < 0; i++) {
            if (st->tr[i].on == (ok ? AU_ON_SUCCESS : AU_ON_FAILURE)) {
                tr = (int32_t)i;
            }
        }
        if (tr < 0 && ok && st->waits) {
            tr = s_wait_event(x, e, st);
            if (x->stop) {
                return false;
            }
            for (uint32_t i = 0; i < st->n_tr && tr < 0; i++) {
                if (st->tr[i].on == AU_ON_TIMEOUT) {
                    tr = (int32_t)i;
                }
            }
            if (tr < 0) {
                char m[200];
                snprintf(m, sizeof m, "state %s: no event within %llu ms", st->name,
                         (unsigned long long)st->wait_ms);
                s_rec_error(x, e, m);
                return false;
            }
        }
        if (tr < 0) {
            if (ok) {
                char m[200];
                snprintf(m, sizeof m, "state %s: no transition on success", st->name);
                s_rec_error(x, e, m);
            }
            return false;
        }
        if (!ok) {
            pthread_mutex_lock(&x->lock);
            json_object_del(e->rec, "error"); /* handled by the failure transition */
            pthread_mutex_unlock(&x->lock);
        }
        cur = st->tr[tr].to;
    }
}

/* Runs the compensations of the completed steps, newest first. */
static void
s_compensate(au_exec_t *x, struct au_execution *e)
{
    pthread_mutex_lock(&x->lock);
    json_t *done = json_deep_copy(e->completed);
    pthread_mutex_unlock(&x->lock);
    for (size_t i = json_array_size(done); i-- > 0;) {
        const char *sid = json_string_value(json_array_get(done, i));
        const struct au_step *st = sid ? au_workflow_step(e->wf, sid) : NULL;
        if (st == NULL || !st->has_comp) {
            continue;
        }
        struct au_act_out out = {0};
        uint64_t t0 = vx_mono_ns();
        int rc = s_act(x, e, st->id, &st->comp, st->timeout_ms, &out);
        if (x->c_comp != NULL) {
            vx_counter_add(x->c_comp, 1);
        }
        pthread_mutex_lock(&x->lock);
        json_t *c = json_pack("{s:s, s:s, s:s, s:f}", "step", st->id, "action",
                              au_act_kind_name(st->comp.kind), "status",
                              rc == 0 ? "succeeded" : "failed", "duration_ms", s_ms_since(t0));
        if (rc < 0) {
            json_object_set_new(c, "error", json_string(out.err));
        } else if (out.result != NULL) {
            json_object_set(c, "result", out.result);
        }
        json_array_append_new(json_object_get(e->rec, "compensations"), c);
        pthread_mutex_unlock(&x->lock);
        json_decref(out.result);
    }
    json_decref(done);
}

void
au_exec_run(au_exec_t *x, struct au_execution *e)
{
    pthread_mutex_lock(&x->lock);
    json_object_set_new(e->rec, "status", json_string("running"));
    json_object_set_new(e->rec, "started_ns", json_integer((json_int_t)vx_wall_ns()));
    pthread_mutex_unlock(&x->lock);
    uint64_t t0 = vx_mono_ns();
    const char *status;
    if (e->recovery) {
        if (x->o.compensation) {
            s_compensate(x, e);
        }
        status = "interrupted";
    } else {
        bool ok = false;
        switch (e->wf->kind) {
        case AU_WF_LINEAR:
            ok = s_steps(x, e, &e->wf->steps);
            break;
        case AU_WF_PARALLEL:
            ok = s_parallel(x, e, &e->wf->steps) && s_steps(x, e, &e->wf->join);
            break;
        case AU_WF_CONDITIONAL:
            ok = s_conditional(x, e);
            break;
        case AU_WF_STATE_MACHINE:
            ok = s_state_machine(x, e);
            break;
        }
        if (x->stop) {
            /* Keep the journal: the next start reports it interrupted and compensates. */
            pthread_mutex_lock(&x->lock);
            json_object_set_new(e->rec, "status", json_string("interrupted"));
            pthread_mutex_unlock(&x->lock);
            au_exec_journal_write(x, e);
            au_exec_count_status(x, "interrupted");
            return;
        }
        if (ok) {
            /* Its writes become visible with its record, or it failed on a conflict. */
            int crc = au_exec_commit(x, e, t0);
            if (crc == 0 || crc == AU_EXEC_RERUN) {
                return;
            }
            ok = false;
        }
        if (!ok && x->o.compensation) {
            s_compensate(x, e);
        }
        status = ok ? "succeeded" : "failed";
    }
    au_exec_finish(x, e, status, t0);
}
