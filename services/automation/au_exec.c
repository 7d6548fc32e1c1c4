/* SPDX-License-Identifier: Apache-2.0 */
/* The workflow executor (see au_exec.h). One mutex guards the queue, the tenants, the
 * records and every execution's context; actions run without it on a snapshot of the
 * context taken when each attempt starts. */
#include "au_exec.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "au_action.h"
#include "au_expr.h"
#include "vx_clock.h"
#include "vx_log.h"
#include "vx_mem.h"

#define S_WORKER_STACK (512u * 1024)
#define S_MAX_TENANTS 4096

enum s_phase { S_QUEUED = 0, S_RUNNING, S_DONE };

struct s_exec {
    char id[AU_EXEC_ID_LEN];
    struct au_workflow *wf;
    int priority;
    uint64_t seq;
    uint64_t submit_ns;       /* monotonic */
    bool first_step_seen;
    enum s_phase phase;
    bool recovery;            /* compensate an interrupted execution, then finish */
    json_t *rec;              /* the record */
    json_t *ctx;              /* {"input","steps","state"} */
    json_t *completed;        /* ids of completed steps, in completion order */
    pthread_mutex_t jlock;    /* orders journal writes */
    bool journal_closed;      /* under jlock: removed for good, never written again */
    /* waiting for an event in a state machine */
    const struct au_state *waiting;
    int32_t got_tr;
    struct s_pg {
        au_exec_t *x;
        struct s_exec *e;
    } pg;                     /* argument of cb_script_started */
};

struct s_tenant {
    char *name;
    uint32_t running;
    double tokens;
    uint64_t refill_ns;
};

struct au_exec {
    struct au_exec_opts o;
    char *journal_dir;
    pthread_mutex_t lock;
    pthread_cond_t work;      /* queue changed / a tenant slot freed */
    pthread_cond_t tick;      /* sleepers and event waiters: stop, events */
    volatile int stop;
    pthread_t *threads;
    uint32_t n_threads;
    uint32_t idle;
    struct s_exec **queue;
    uint32_t n_queue;
    struct s_exec **all;      /* every known execution, oldest first */
    size_t n_all, cap_all;
    size_t n_done;
    struct s_tenant *tenants;
    uint32_t n_tenants;
    uint64_t seq;
    uint32_t running;
    int n_waiting;            /* executions waiting for an event (atomic) */
    uint64_t rejected, evicted, started, finished;
    vx_counter_t *c_rejected, *c_evicted, *c_attempts, *c_comp;
    vx_gauge_t *g_running, *g_queued;
};

static void
s_count_status(au_exec_t *x, const char *status)
{
    if (x->o.metrics != NULL) {
        vx_counter_add(vx_metrics_counter(x->o.metrics, "vexfs_automation_executions_total",
                                          "Finished workflow executions, by status.", "status",
                                          status, NULL),
                       1);
    }
}

static void
s_gauges(au_exec_t *x)
{
    if (x->g_running != NULL) {
        vx_gauge_set(x->g_running, (double)x->running);
        vx_gauge_set(x->g_queued, (double)x->n_queue);
    }
}

static void
s_exec_free(struct s_exec *e)
{
    au_workflow_unref(&e->wf);
    json_decref(e->rec);
    json_decref(e->ctx);
    json_decref(e->completed);
    pthread_mutex_destroy(&e->jlock);
    free(e);
}

/* ---- journal ------------------------------------------------------------------------------ */

static void
s_journal_path(const au_exec_t *x, const char *id, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s.json", x->journal_dir, id);
}

/* Writes e's journal entry (not holding x->lock). */
static void
s_journal_write(au_exec_t *x, struct s_exec *e)
{
    if (x->journal_dir == NULL) {
        return;
    }
    pthread_mutex_lock(&e->jlock);
    if (e->journal_closed) {
        /* finished before this write got its turn (a fast execution and a slow submitter) */
        pthread_mutex_unlock(&e->jlock);
        return;
    }
    pthread_mutex_lock(&x->lock);
    json_t *j = json_pack("{s:s, s:s, s:O, s:O, s:O, s:O, s:O}", "id", e->id, "tenant",
                          e->wf->tenant, "workflow", e->wf->json, "input",
                          json_object_get(e->ctx, "input"), "steps",
                          json_object_get(e->ctx, "steps"), "completed", e->completed, "record",
                          e->rec);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    pthread_mutex_unlock(&x->lock);
    json_decref(j);
    char path[1024], tmp[1100];
    s_journal_path(x, e->id, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = text ? fopen(tmp, "w") : NULL;
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0 || rename(tmp, path) < 0) {
        vx_warn("AU-JOURNAL", "execution %s: journal write failed: %s", e->id, strerror(errno));
    }
    free(text);
    pthread_mutex_unlock(&e->jlock);
}

static void
s_journal_remove(au_exec_t *x, struct s_exec *e)
{
    if (x->journal_dir == NULL) {
        return;
    }
    char path[1024];
    pthread_mutex_lock(&e->jlock);
    s_journal_path(x, e->id, path, sizeof path);
    unlink(path);
    e->journal_closed = true;
    pthread_mutex_unlock(&e->jlock);
}

/* ---- records ------------------------------------------------------------------------------ */

static json_t *
s_rec_step(struct s_exec *e, const char *id)
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

/* ---- tenants and the queue (lock held) ---------------------------------------------------- */

static struct s_tenant *
s_tenant(au_exec_t *x, const char *name)
{
    for (uint32_t i = 0; i < x->n_tenants; i++) {
        if (strcmp(x->tenants[i].name, name) == 0) {
            return &x->tenants[i];
        }
    }
    if (x->n_tenants == S_MAX_TENANTS) {
        return &x->tenants[S_MAX_TENANTS - 1]; /* the last slot is shared beyond the cap */
    }
    struct s_tenant *t = &x->tenants[x->n_tenants++];
    t->name = vx_strdup(name);
    t->tokens = x->o.tenant_burst;
    t->refill_ns = vx_mono_ns();
    return t;
}

static void
s_refill(au_exec_t *x, struct s_tenant *t, uint64_t now)
{
    if (x->o.tenant_rate <= 0) {
        return;
    }
    double add = (double)(now - t->refill_ns) / 1e9 * x->o.tenant_rate;
    t->tokens = fmin((double)x->o.tenant_burst, t->tokens + add);
    t->refill_ns = now;
}

/* The next queued execution that may start now, removed from the queue; NULL with *wait_ns
 * set to when a rate token comes (0: nothing to wait for). */
static struct s_exec *
s_pick(au_exec_t *x, uint64_t *wait_ns)
{
    uint64_t now = vx_mono_ns();
    int32_t best = -1;
    *wait_ns = 0;
    for (uint32_t i = 0; i < x->n_queue; i++) {
        struct s_exec *e = x->queue[i];
        if (!e->recovery) {
            struct s_tenant *t = s_tenant(x, e->wf->tenant);
            if (t->running >= x->o.tenant_concurrency) {
                continue;
            }
            s_refill(x, t, now);
            if (x->o.tenant_rate > 0 && t->tokens < 1.0) {
                uint64_t w = (uint64_t)((1.0 - t->tokens) / x->o.tenant_rate * 1e9) + 1;
                if (*wait_ns == 0 || w < *wait_ns) {
                    *wait_ns = w;
                }
                continue;
            }
        }
        struct s_exec *b = best >= 0 ? x->queue[best] : NULL;
        if (b == NULL || (e->recovery && !b->recovery) ||
            (e->recovery == b->recovery &&
             (e->priority > b->priority || (e->priority == b->priority && e->seq < b->seq)))) {
            best = (int32_t)i;
        }
    }
    if (best < 0) {
        return NULL;
    }
    struct s_exec *e = x->queue[best];
    memmove(&x->queue[best], &x->queue[best + 1],
            (x->n_queue - (uint32_t)best - 1) * sizeof *x->queue);
    x->n_queue--;
    if (!e->recovery && x->o.tenant_rate > 0) {
        s_tenant(x, e->wf->tenant)->tokens -= 1.0;
    }
    return e;
}

/* Drops the oldest finished executions beyond max_history (lock held). */
static void
s_evict(au_exec_t *x)
{
    size_t i = 0;
    while (x->n_done > x->o.max_history && i < x->n_all) {
        if (x->all[i]->phase == S_DONE) {
            s_exec_free(x->all[i]);
            memmove(&x->all[i], &x->all[i + 1], (x->n_all - i - 1) * sizeof *x->all);
            x->n_all--;
            x->n_done--;
            x->evicted++;
            if (x->c_evicted != NULL) {
                vx_counter_add(x->c_evicted, 1);
            }
        } else {
            i++;
        }
    }
}

/* ---- waiting ------------------------------------------------------------------------------ */

static void
s_deadline(struct timespec *ts, uint64_t ns)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    uint64_t t = (uint64_t)ts->tv_sec * VX_NS_PER_S + (uint64_t)ts->tv_nsec + ns;
    ts->tv_sec = (time_t)(t / VX_NS_PER_S);
    ts->tv_nsec = (long)(t % VX_NS_PER_S);
}

/* Sleeps ns unless stopping; false when stopped. */
static bool
s_sleep(au_exec_t *x, uint64_t ns)
{
    uint64_t end = vx_mono_ns() + ns;
    pthread_mutex_lock(&x->lock);
    while (!x->stop && vx_mono_ns() < end) {
        struct timespec ts;
        s_deadline(&ts, end - vx_mono_ns());
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

/* The context for one attempt: a copy with the current state (lock not held). */
static json_t *
s_snapshot(au_exec_t *x, struct s_exec *e)
{
    json_t *st = x->o.hooks.state ? x->o.hooks.state(e->wf->tenant, x->o.hooks.arg) : json_object();
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
    struct s_pg *pg = arg;
    pthread_mutex_lock(&pg->x->lock);
    json_t *a = json_object_get(pg->e->rec, "running_pgids");
    if (a == NULL) {
        a = json_array();
        json_object_set_new(pg->e->rec, "running_pgids", a);
    }
    json_array_append_new(a, json_integer(pid));
    pthread_mutex_unlock(&pg->x->lock);
    s_journal_write(pg->x, pg->e);
}

static void
s_script_done(au_exec_t *x, struct s_exec *e, int pid)
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

/* Runs one action once. Returns 0 or -errno with out->err. */
static int
s_act(au_exec_t *x, struct s_exec *e, const char *step_id, const struct au_act *a,
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
    if (rc == 0 && target[0] != '\0' && !au_breaker_allow(x->o.breakers, target, vx_mono_ns())) {
        snprintf(out->err, sizeof out->err, "circuit open for %s", target);
        rc = -EHOSTUNREACH;
        target[0] = '\0'; /* not a call: nothing to report to the breaker */
    } else if (rc == 0) {
        switch (a->kind) {
        case AU_ACT_SCRIPT: {
            out->on_start = x->journal_dir ? cb_script_started : NULL;
            out->on_start_arg = &e->pg;
            rc = au_script_run(a, ctx, timeout_ms, &x->stop, e->id, step_id, out);
            if (out->pid > 0 && x->journal_dir) {
                s_script_done(x, e, out->pid);
            }
            break;
        }
        case AU_ACT_HTTP:
            rc = au_http_run(a, ctx, url, timeout_ms, &x->stop, out);
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
            if (x->o.hooks.set_state) {
                x->o.hooks.set_state(e->wf->tenant, a->state_path, v, x->o.hooks.arg);
            }
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

/* Runs a step with its retries; records every attempt. true on success. */
static bool
s_step(au_exec_t *x, struct s_exec *e, const struct au_step *st)
{
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
            s_journal_write(x, e);
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
s_steps(au_exec_t *x, struct s_exec *e, const struct au_steps *ss)
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
    struct s_exec *e;
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
s_parallel(au_exec_t *x, struct s_exec *e, const struct au_steps *ss)
{
    struct s_branch_arg args[AU_WF_MAX_STEPS];
    pthread_t th[AU_WF_MAX_STEPS];
    bool started[AU_WF_MAX_STEPS] = {false};
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, S_WORKER_STACK);
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
s_conditional(au_exec_t *x, struct s_exec *e)
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
s_wait_event(au_exec_t *x, struct s_exec *e, const struct au_state *st)
{
    uint64_t end = vx_mono_ns() + st->wait_ms * VX_NS_PER_MS;
    pthread_mutex_lock(&x->lock);
    e->got_tr = -1;
    e->waiting = st;
    json_object_set_new(e->rec, "waiting_in", json_string(st->name));
    __atomic_add_fetch(&x->n_waiting, 1, __ATOMIC_RELAXED);
    while (!x->stop && e->got_tr < 0 && vx_mono_ns() < end) {
        struct timespec ts;
        s_deadline(&ts, end - vx_mono_ns());
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
s_rec_error(au_exec_t *x, struct s_exec *e, const char *msg)
{
    pthread_mutex_lock(&x->lock);
    if (json_object_get(e->rec, "error") == NULL) {
        json_object_set_new(e->rec, "error", json_string(msg));
    }
    pthread_mutex_unlock(&x->lock);
}

static bool
s_state_machine(au_exec_t *x, struct s_exec *e)
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
s_compensate(au_exec_t *x, struct s_exec *e)
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

static void
s_run(au_exec_t *x, struct s_exec *e)
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
            s_journal_write(x, e);
            s_count_status(x, "interrupted");
            return;
        }
        if (!ok && x->o.compensation) {
            s_compensate(x, e);
        }
        status = ok ? "succeeded" : "failed";
    }
    pthread_mutex_lock(&x->lock);
    json_object_set_new(e->rec, "status", json_string(status));
    json_object_set_new(e->rec, "finished_ns", json_integer((json_int_t)vx_wall_ns()));
    json_object_set_new(e->rec, "duration_ms", json_real(s_ms_since(t0)));
    pthread_mutex_unlock(&x->lock);
    if (!x->stop || e->recovery) {
        s_journal_remove(x, e);
    }
    s_count_status(x, status);
    vx_info("AU-EXEC", "execution %s of workflow %s (tenant %s): %s", e->id, e->wf->id,
            e->wf->tenant, status);
}

static void *
cb_worker(void *arg)
{
    au_exec_t *x = arg;
    pthread_mutex_lock(&x->lock);
    while (!x->stop) {
        uint64_t wait_ns = 0;
        struct s_exec *e = s_pick(x, &wait_ns);
        if (e == NULL) {
            x->idle++;
            struct timespec ts;
            s_deadline(&ts, wait_ns ? wait_ns : VX_NS_PER_S);
            pthread_cond_timedwait(&x->work, &x->lock, &ts);
            x->idle--;
            continue;
        }
        struct s_tenant *t = s_tenant(x, e->wf->tenant);
        t->running++;
        x->running++;
        x->started++;
        e->phase = S_RUNNING;
        s_gauges(x);
        pthread_mutex_unlock(&x->lock);
        s_run(x, e);
        pthread_mutex_lock(&x->lock);
        t = s_tenant(x, e->wf->tenant);
        t->running--;
        x->running--;
        x->finished++;
        e->phase = S_DONE;
        x->n_done++;
        s_evict(x);
        s_gauges(x);
        pthread_cond_broadcast(&x->work);
    }
    pthread_mutex_unlock(&x->lock);
    return NULL;
}

/* Starts a worker when none is idle and the pool is below its size (lock held). */
static void
s_spawn(au_exec_t *x)
{
    if (x->idle >= x->n_queue || x->n_threads >= x->o.max_concurrent) {
        return;
    }
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, S_WORKER_STACK);
    if (pthread_create(&x->threads[x->n_threads], &at, cb_worker, x) == 0) {
        x->n_threads++;
    }
    pthread_attr_destroy(&at);
}

/* Adds e to the queue and the records (lock held). */
static void
s_enqueue(au_exec_t *x, struct s_exec *e)
{
    if (x->n_all == x->cap_all) {
        x->cap_all = x->cap_all ? x->cap_all * 2 : 64;
        x->all = vx_realloc(x->all, x->cap_all * sizeof *x->all);
    }
    x->all[x->n_all++] = e;
    x->queue[x->n_queue++] = e;
    s_gauges(x);
    s_spawn(x);
    pthread_cond_signal(&x->work);
}

static struct s_exec *
s_exec_new(au_exec_t *x, struct au_workflow *w, json_t *input, json_t *trigger, const char *id)
{
    struct s_exec *e = vx_calloc(1, sizeof *e);
    pthread_mutex_init(&e->jlock, NULL);
    if (id != NULL) {
        snprintf(e->id, sizeof e->id, "%s", id);
    } else {
        uint8_t raw[VX_EVENT_ID_LEN];
        char s[VX_EVENT_ID_STR];
        vx_event_id_new(raw);
        vx_event_id_format(raw, s);
        snprintf(e->id, sizeof e->id, "%s", s);
    }
    e->wf = au_workflow_ref(w);
    e->pg.x = x;
    e->pg.e = e;
    e->priority = w->priority;
    e->seq = ++x->seq;
    e->submit_ns = vx_mono_ns();
    e->ctx = json_pack("{s:O, s:{}}", "input", input ? input : json_null(), "steps");
    e->completed = json_array();
    e->rec = json_pack("{s:s, s:s, s:s, s:s, s:i, s:O, s:O, s:s, s:I, s:[], s:[]}", "id", e->id,
                       "workflow", w->id, "tenant", w->tenant, "kind", au_wf_kind_name(w->kind),
                       "priority", w->priority, "trigger",
                       trigger ? trigger : json_pack("{s:s}", "kind", "manual"), "input",
                       input ? input : json_null(), "status", "queued", "queued_ns",
                       (json_int_t)vx_wall_ns(), "steps", "compensations");
    if (trigger == NULL) {
        json_decref(json_object_get(e->rec, "trigger")); /* the packed default above */
    }
    if (w->kind == AU_WF_STATE_MACHINE) {
        json_object_set_new(e->rec, "states", json_array());
    }
    return e;
}

int
au_exec_submit(au_exec_t *x, struct au_workflow *w, json_t *input, json_t *trigger,
               char id[AU_EXEC_ID_LEN])
{
    if (!w->enabled) {
        return -EPERM;
    }
    pthread_mutex_lock(&x->lock);
    if (x->stop) {
        pthread_mutex_unlock(&x->lock);
        return -ECANCELED;
    }
    if (x->n_queue >= x->o.max_queue) {
        x->rejected++;
        if (x->c_rejected != NULL) {
            vx_counter_add(x->c_rejected, 1);
        }
        pthread_mutex_unlock(&x->lock);
        return -EAGAIN;
    }
    struct s_exec *e = s_exec_new(x, w, input, trigger, NULL);
    snprintf(id, AU_EXEC_ID_LEN, "%s", e->id);
    s_enqueue(x, e);
    pthread_mutex_unlock(&x->lock);
    s_journal_write(x, e);
    return 0;
}

/* True when process pid's environment holds needle ("VX_EXECUTION_ID=<id>"). */
static bool
s_environ_has(const char *pid, const char *needle)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%s/environ", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return false;
    }
    char *buf = vx_malloc(65536);
    size_t n = fread(buf, 1, 65535, f);
    fclose(f);
    buf[n] = '\0';
    bool found = false;
    size_t nl = strlen(needle);
    for (size_t off = 0; off < n && !found; off += strlen(buf + off) + 1) {
        found = strncmp(buf + off, needle, nl) == 0 && buf[off + nl] == '\0';
    }
    free(buf);
    return found;
}

/* Kills what is left of the scripts an interrupted execution had started: a process group in
 * its record is killed only when one of its members carries that execution's id in its
 * environment (the group id may have been reused since). Returns the groups killed. */
static int
s_kill_orphans(const char *exec_id, json_t *pgids)
{
    int killed = 0;
    char needle[AU_EXEC_ID_LEN + 24];
    snprintf(needle, sizeof needle, "VX_EXECUTION_ID=%s", exec_id);
    size_t i;
    json_t *v;
    json_array_foreach(pgids, i, v) {
        long pg = (long)json_integer_value(v);
        if (pg <= 1) {
            continue;
        }
        DIR *d = opendir("/proc");
        struct dirent *de;
        bool ours = false;
        while (d != NULL && !ours && (de = readdir(d)) != NULL) {
            if (de->d_name[0] < '0' || de->d_name[0] > '9') {
                continue;
            }
            char path[64], stat[512];
            snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
            FILE *f = fopen(path, "r");
            if (f == NULL) {
                continue;
            }
            size_t n = fread(stat, 1, sizeof stat - 1, f);
            fclose(f);
            stat[n] = '\0';
            /* after "(comm)": state, ppid, pgrp */
            const char *p = strrchr(stat, ')');
            if (p == NULL || p[1] != ' ' || p[2] == '\0' || p[3] != ' ') {
                continue;
            }
            char *end = NULL;
            (void)strtol(p + 4, &end, 10); /* ppid */
            long pgrp = end != NULL ? strtol(end, NULL, 10) : 0;
            if (pgrp == pg && s_environ_has(de->d_name, needle)) {
                ours = true;
            }
        }
        if (d != NULL) {
            closedir(d);
        }
        if (ours && kill((pid_t)-pg, SIGKILL) == 0) {
            killed++;
        }
    }
    return killed;
}

int
au_exec_recover(au_exec_t *x)
{
    if (x->journal_dir == NULL) {
        return 0;
    }
    DIR *d = opendir(x->journal_dir);
    if (d == NULL) {
        return -errno;
    }
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0) {
            continue;
        }
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", x->journal_dir, de->d_name);
        json_t *j = json_load_file(path, 0, NULL);
        const char *tenant = json_string_value(json_object_get(j, "tenant"));
        const char *id = json_string_value(json_object_get(j, "id"));
        struct au_workflow *w = NULL;
        char err[512];
        if (j == NULL || tenant == NULL || id == NULL || strlen(id) >= AU_EXEC_ID_LEN ||
            au_workflow_parse(json_object_get(j, "workflow"), tenant, &w, err, sizeof err) < 0) {
            vx_warn("AU-JOURNAL", "%s: unreadable journal entry, removed", path);
            json_decref(j);
            unlink(path);
            continue;
        }
        pthread_mutex_lock(&x->lock);
        struct s_exec *e = s_exec_new(x, w, json_object_get(j, "input"), NULL, id);
        json_t *rec = json_object_get(j, "record");
        if (json_is_object(rec)) {
            json_decref(e->rec);
            e->rec = json_incref(rec);
        }
        json_object_set_new(e->rec, "status", json_string("interrupted"));
        json_object_set_new(e->rec, "recovered", json_true());
        if (!json_is_array(json_object_get(e->rec, "compensations"))) {
            json_object_set_new(e->rec, "compensations", json_array());
        }
        json_t *steps = json_object_get(j, "steps");
        if (json_is_object(steps)) {
            json_object_set(e->ctx, "steps", steps);
        }
        json_t *done = json_object_get(j, "completed");
        if (json_is_array(done)) {
            json_decref(e->completed);
            e->completed = json_incref(done);
        }
        e->recovery = true;
        json_t *pgids = json_object_get(e->rec, "running_pgids");
        if (pgids != NULL) {
            int k = s_kill_orphans(id, pgids);
            json_object_set_new(e->rec, "orphans_killed", json_integer(k));
            json_object_del(e->rec, "running_pgids");
        }
        s_enqueue(x, e);
        pthread_mutex_unlock(&x->lock);
        vx_warn("AU-RECOVER", "execution %s of workflow %s (tenant %s) was interrupted; "
                "compensating its completed steps", id, w->id, tenant);
        au_workflow_unref(&w);
        json_decref(j);
        n++;
    }
    closedir(d);
    return n;
}

au_exec_t *
au_exec_new(const struct au_exec_opts *o)
{
    au_exec_t *x = vx_calloc(1, sizeof *x);
    x->o = *o;
    if (o->journal_dir != NULL && o->journal_dir[0] != '\0') {
        x->journal_dir = vx_strdup(o->journal_dir);
    }
    x->o.journal_dir = x->journal_dir;
    if (x->o.tenant_burst == 0) {
        x->o.tenant_burst = 1;
    }
    pthread_mutex_init(&x->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&x->work, &ca);
    pthread_cond_init(&x->tick, &ca);
    pthread_condattr_destroy(&ca);
    x->threads = vx_calloc(o->max_concurrent, sizeof *x->threads);
    x->queue = vx_calloc(o->max_queue + 1024, sizeof *x->queue); /* + recovered entries */
    x->o.max_queue = o->max_queue;
    x->tenants = vx_calloc(S_MAX_TENANTS, sizeof *x->tenants);
    if (o->metrics != NULL) {
        x->c_rejected = vx_metrics_counter(o->metrics, "vexfs_automation_queue_rejected_total",
                                           "Workflow executions refused because the queue was "
                                           "full.",
                                           NULL);
        x->c_evicted = vx_metrics_counter(o->metrics, "vexfs_automation_executions_evicted_total",
                                          "Finished execution records dropped from the history.",
                                          NULL);
        x->c_attempts = vx_metrics_counter(o->metrics, "vexfs_automation_step_attempts_total",
                                           "Step attempts (retries included).", NULL);
        x->c_comp = vx_metrics_counter(o->metrics, "vexfs_automation_compensations_total",
                                       "Compensation actions run.", NULL);
        x->g_running = vx_metrics_gauge(o->metrics, "vexfs_automation_executions_running",
                                        "Workflow executions running now.", NULL);
        x->g_queued = vx_metrics_gauge(o->metrics, "vexfs_automation_executions_queued",
                                       "Workflow executions waiting in the queue.", NULL);
    }
    return x;
}

void
au_exec_destroy(au_exec_t **xp)
{
    if (xp == NULL || *xp == NULL) {
        return;
    }
    au_exec_t *x = *xp;
    pthread_mutex_lock(&x->lock);
    x->stop = 1;
    pthread_cond_broadcast(&x->work);
    pthread_cond_broadcast(&x->tick);
    pthread_mutex_unlock(&x->lock);
    for (uint32_t i = 0; i < x->n_threads; i++) {
        pthread_join(x->threads[i], NULL);
    }
    for (size_t i = 0; i < x->n_all; i++) {
        s_exec_free(x->all[i]);
    }
    free(x->all);
    free(x->queue);
    free(x->threads);
    for (uint32_t i = 0; i < x->n_tenants; i++) {
        free(x->tenants[i].name);
    }
    free(x->tenants);
    free(x->journal_dir);
    pthread_cond_destroy(&x->work);
    pthread_cond_destroy(&x->tick);
    pthread_mutex_destroy(&x->lock);
    vx_free(xp);
}

json_t *
au_exec_get(au_exec_t *x, const char *tenant, const char *id)
{
    json_t *out = NULL;
    pthread_mutex_lock(&x->lock);
    for (size_t i = 0; i < x->n_all; i++) {
        struct s_exec *e = x->all[i];
        if (strcmp(e->id, id) == 0 && strcmp(e->wf->tenant, tenant) == 0) {
            out = json_deep_copy(e->rec);
            break;
        }
    }
    pthread_mutex_unlock(&x->lock);
    return out;
}

json_t *
au_exec_list(au_exec_t *x, const char *tenant, const char *status, size_t limit)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&x->lock);
    for (size_t i = x->n_all; i-- > 0 && json_array_size(arr) < limit;) {
        struct s_exec *e = x->all[i];
        if (strcmp(e->wf->tenant, tenant) != 0) {
            continue;
        }
        const char *st = json_string_value(json_object_get(e->rec, "status"));
        if (status != NULL && (st == NULL || strcmp(st, status) != 0)) {
            continue;
        }
        /* A deep copy: the worker keeps changing the record after the lock is released. */
        json_t *r = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(e->rec, k, v) {
            if (strcmp(k, "input") != 0 && strcmp(k, "steps") != 0 &&
                strcmp(k, "compensations") != 0) {
                json_object_set_new(r, k, json_deep_copy(v));
            }
        }
        json_object_set_new(r, "steps_run",
                            json_integer((json_int_t)json_array_size(
                                json_object_get(e->rec, "steps"))));
        json_array_append_new(arr, r);
    }
    json_t *j = json_pack("{s:o, s:I}", "executions", arr, "evicted", (json_int_t)x->evicted);
    pthread_mutex_unlock(&x->lock);
    return j;
}

void
au_exec_event(au_exec_t *x, const vx_event_t *ev)
{
    if (__atomic_load_n(&x->n_waiting, __ATOMIC_RELAXED) == 0) {
        return;
    }
    bool woke = false;
    pthread_mutex_lock(&x->lock);
    for (size_t i = 0; i < x->n_all; i++) {
        struct s_exec *e = x->all[i];
        const struct au_state *st = e->waiting;
        if (st == NULL || e->got_tr >= 0) {
            continue;
        }
        for (uint32_t t = 0; t < st->n_tr; t++) {
            const struct au_transition *tr = &st->tr[t];
            if (tr->on != AU_ON_EVENT || (tr->event_type >= 0 && tr->event_type != (int)ev->type) ||
                (tr->custom_type != NULL &&
                 (ev->custom_type == NULL || strcmp(ev->custom_type, tr->custom_type) != 0))) {
                continue;
            }
            e->got_tr = (int32_t)t;
            woke = true;
            break;
        }
    }
    if (woke) {
        pthread_cond_broadcast(&x->tick);
    }
    pthread_mutex_unlock(&x->lock);
}

json_t *
au_exec_stats(au_exec_t *x)
{
    pthread_mutex_lock(&x->lock);
    json_t *j = json_pack("{s:i, s:i, s:i, s:I, s:I, s:I, s:I, s:I}", "queued", (int)x->n_queue,
                          "running", (int)x->running, "workers", (int)x->n_threads, "rejected",
                          (json_int_t)x->rejected, "evicted", (json_int_t)x->evicted, "started",
                          (json_int_t)x->started, "finished", (json_int_t)x->finished, "history",
                          (json_int_t)x->n_done);
    pthread_mutex_unlock(&x->lock);
    return j;
}

bool
au_exec_idle(au_exec_t *x, int timeout_ms)
{
    uint64_t end = vx_mono_ns() + (uint64_t)timeout_ms * VX_NS_PER_MS;
    pthread_mutex_lock(&x->lock);
    while ((x->n_queue > 0 || x->running > 0) && vx_mono_ns() < end) {
        struct timespec ts;
        s_deadline(&ts, 10 * VX_NS_PER_MS);
        pthread_cond_timedwait(&x->work, &x->lock, &ts);
    }
    bool idle = x->n_queue == 0 && x->running == 0;
    pthread_mutex_unlock(&x->lock);
    return idle;
}
