/* SPDX-License-Identifier: Apache-2.0 */
/* The workflow executor (see au_exec.h): the queue, tenants, workers, records, journal and
 * recovery. One mutex guards the queue, the tenants, the records and every execution's
 * context; running an execution is au_exec_run.c. */
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

#include "au_exec_priv.h"
#include "vx_clock.h"
#include "vx_log.h"
#include "vx_mem.h"

void
au_exec_count_status(au_exec_t *x, const char *status)
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
s_exec_free(struct au_execution *e)
{
    au_workflow_unref(&e->wf);
    json_decref(e->rec);
    json_decref(e->ctx);
    json_decref(e->completed);
    json_decref(e->view);
    json_decref(e->writes);
    pthread_mutex_destroy(&e->jlock);
    free(e);
}

/* ---- tenants and the queue (lock held) ---------------------------------------------------- */

static struct au_tenant_slot *
s_tenant(au_exec_t *x, const char *name)
{
    for (uint32_t i = 0; i < x->n_tenants; i++) {
        if (strcmp(x->tenants[i].name, name) == 0) {
            return &x->tenants[i];
        }
    }
    if (x->n_tenants == AU_EXEC_MAX_TENANTS) {
        return &x->tenants[AU_EXEC_MAX_TENANTS - 1]; /* the last slot is shared beyond the cap */
    }
    struct au_tenant_slot *t = &x->tenants[x->n_tenants++];
    t->name = vx_strdup(name);
    t->tokens = x->o.tenant_burst;
    t->refill_ns = vx_mono_ns();
    return t;
}

static void
s_refill(au_exec_t *x, struct au_tenant_slot *t, uint64_t now)
{
    if (x->o.tenant_rate <= 0) {
        return;
    }
    double add = (double)(now - t->refill_ns) / (double)VX_NS_PER_S * x->o.tenant_rate;
    t->tokens = fmin((double)x->o.tenant_burst, t->tokens + add);
    t->refill_ns = now;
}

/* The next queued execution that may start now, removed from the queue; NULL with *wait_ns
 * set to when a rate token comes (0: nothing to wait for). */
static struct au_execution *
s_pick(au_exec_t *x, uint64_t *wait_ns)
{
    uint64_t now = vx_mono_ns();
    int32_t best = -1;
    *wait_ns = 0;
    for (uint32_t i = 0; i < x->n_queue; i++) {
        struct au_execution *e = x->queue[i];
        if (!e->recovery) {
            struct au_tenant_slot *t = s_tenant(x, e->wf->tenant);
            if (t->running >= x->o.tenant_concurrency) {
                continue;
            }
            s_refill(x, t, now);
            if (x->o.tenant_rate > 0 && t->tokens < 1.0) {
                uint64_t w = (uint64_t)((1.0 - t->tokens) / x->o.tenant_rate * (double)VX_NS_PER_S) + 1;
                if (*wait_ns == 0 || w < *wait_ns) {
                    *wait_ns = w;
                }
                continue;
            }
        }
        struct au_execution *b = best >= 0 ? x->queue[best] : NULL;
        if (b == NULL || (e->recovery && !b->recovery) ||
            (e->recovery == b->recovery &&
             (e->priority > b->priority || (e->priority == b->priority && e->seq < b->seq)))) {
            best = (int32_t)i;
        }
    }
    if (best < 0) {
        return NULL;
    }
    struct au_execution *e = x->queue[best];
    memmove(&x->queue[best], &x->queue[best + 1],
            (x->n_queue - (uint32_t)best - 1) * sizeof *x->queue);
    x->n_queue--;
    if (!e->recovery && x->o.tenant_rate > 0) {
        s_tenant(x, e->wf->tenant)->tokens -= 1.0;
    }
    return e;
}

/* Drops the finished executions the history holds, and the oldest others beyond max_history
 * (lock held). */
static void
s_evict(au_exec_t *x)
{
    for (size_t i = 0; i < x->n_all;) {
        struct au_execution *e = x->all[i];
        if (e->phase == AU_EXEC_DONE && e->journal_closed) {
            s_exec_free(e);
            memmove(&x->all[i], &x->all[i + 1], (x->n_all - i - 1) * sizeof *x->all);
            x->n_all--;
            x->n_done--;
        } else {
            i++;
        }
    }
    size_t i = 0;
    while (x->n_done > x->o.max_history && i < x->n_all) {
        if (x->all[i]->phase == AU_EXEC_DONE) {
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

void
au_exec_deadline(struct timespec *ts, uint64_t ns)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    uint64_t t = (uint64_t)ts->tv_sec * VX_NS_PER_S + (uint64_t)ts->tv_nsec + ns;
    ts->tv_sec = (time_t)(t / VX_NS_PER_S);
    ts->tv_nsec = (long)(t % VX_NS_PER_S);
}

static void *
cb_worker(void *arg)
{
    au_exec_t *x = arg;
    pthread_mutex_lock(&x->lock);
    while (!x->stop) {
        uint64_t wait_ns = 0;
        struct au_execution *e = s_pick(x, &wait_ns);
        if (e == NULL) {
            x->idle++;
            struct timespec ts;
            au_exec_deadline(&ts, wait_ns ? wait_ns : VX_NS_PER_S);
            pthread_cond_timedwait(&x->work, &x->lock, &ts);
            x->idle--;
            continue;
        }
        struct au_tenant_slot *t = s_tenant(x, e->wf->tenant);
        t->running++;
        x->running++;
        x->started++;
        e->phase = AU_EXEC_RUNNING;
        s_gauges(x);
        pthread_mutex_unlock(&x->lock);
        au_exec_run(x, e);
        pthread_mutex_lock(&x->lock);
        if (e->rerun && !x->stop) {
            /* refused by a conflict, on_conflict retry: queued again from its first step,
             * once its reset journal entry is written — before that no other worker may take
             * it (it could run to its end and be evicted while this one still writes), and it
             * counts as running (so the executor is not idle meanwhile). */
            au_exec_reset(x, e);
            pthread_mutex_unlock(&x->lock);
            au_exec_journal_write(x, e);
            pthread_mutex_lock(&x->lock);
            s_tenant(x, e->wf->tenant)->running--;
            x->running--;
            x->queue[x->n_queue++] = e;
            s_gauges(x);
            pthread_cond_broadcast(&x->work);
            continue;
        }
        t = s_tenant(x, e->wf->tenant);
        t->running--;
        x->running--;
        x->finished++;
        e->phase = AU_EXEC_DONE;
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
    pthread_attr_setstacksize(&at, AU_EXEC_STACK);
    if (pthread_create(&x->threads[x->n_threads], &at, cb_worker, x) == 0) {
        x->n_threads++;
    }
    pthread_attr_destroy(&at);
}

/* Adds e to the queue and the records (lock held). */
static void
s_enqueue(au_exec_t *x, struct au_execution *e)
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

static struct au_execution *
s_exec_new(au_exec_t *x, struct au_workflow *w, json_t *input, json_t *trigger, const char *id)
{
    struct au_execution *e = vx_calloc(1, sizeof *e);
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

/* True when an execution with id is in memory (lock held). */
static bool
s_known(au_exec_t *x, const char *id)
{
    for (size_t i = 0; i < x->n_all; i++) {
        if (strcmp(x->all[i]->id, id) == 0) {
            return true;
        }
    }
    return false;
}

/* Queues a new execution (id NULL: a fresh one); see au_exec_submit. */
static int
s_submit(au_exec_t *x, struct au_workflow *w, json_t *input, json_t *trigger, const char *given,
         char id[AU_EXEC_ID_LEN])
{
    if (!w->enabled) {
        return -EPERM;
    }
    pthread_mutex_lock(&x->lock);
    if (given != NULL && (s_known(x, given) || au_store_exec_known(x->o.store, given))) {
        pthread_mutex_unlock(&x->lock);
        return -EEXIST;
    }
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
    struct au_execution *e = s_exec_new(x, w, input, trigger, given);
    snprintf(id, AU_EXEC_ID_LEN, "%s", e->id);
    /* In the journal before a worker may take it: its journal entry is what makes the
     * submission durable (a state trigger removes its outbox entry only after this). */
    pthread_mutex_lock(&e->jlock);
    s_enqueue(x, e);
    pthread_mutex_unlock(&x->lock);
    int rc = au_exec_journal_write_locked(x, e);
    pthread_mutex_unlock(&e->jlock);
    return rc < 0 ? -EIO : 0;
}

int
au_exec_submit(au_exec_t *x, struct au_workflow *w, json_t *input, json_t *trigger,
               char id[AU_EXEC_ID_LEN])
{
    return s_submit(x, w, input, trigger, NULL, id);
}

int
au_exec_submit_id(au_exec_t *x, struct au_workflow *w, json_t *input, json_t *trigger,
                  const char *id)
{
    char out[AU_EXEC_ID_LEN];
    if (strlen(id) >= AU_EXEC_ID_LEN) {
        return -EINVAL;
    }
    return s_submit(x, w, input, trigger, id, out);
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

/* Kills what is left of the scripts an interrupted execution had started: every process group
 * with a member that carries that execution's id in its environment (VX_EXECUTION_ID, which
 * every script child gets). Found from /proc rather than from the groups the journal names, so
 * a script whose group had not reached the journal when the daemon died is found too. Returns
 * the groups killed. */
static int
s_kill_orphans(const char *exec_id)
{
    char needle[AU_EXEC_ID_LEN + 24];
    snprintf(needle, sizeof needle, "VX_EXECUTION_ID=%s", exec_id);
    enum { S_MAX_GROUPS = 64 };
    long groups[S_MAX_GROUPS];
    int n_groups = 0;
    long own = (long)getpgrp();
    DIR *d = opendir("/proc");
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL) {
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
        if (pgrp <= 1 || pgrp == own || !s_environ_has(de->d_name, needle)) {
            continue;
        }
        bool seen = false;
        for (int i = 0; i < n_groups; i++) {
            seen = seen || groups[i] == pgrp;
        }
        if (!seen && n_groups < S_MAX_GROUPS) {
            groups[n_groups++] = pgrp;
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    int killed = 0;
    for (int i = 0; i < n_groups; i++) {
        if (kill((pid_t)-groups[i], SIGKILL) == 0) {
            killed++;
        }
    }
    return killed;
}

/* Turns one journal entry into a queued execution (lock held): resumed when every step of its
 * workflow is idempotent, else to be compensated and reported interrupted. */
static void
s_recover_one(au_exec_t *x, const char *id, json_t *j, struct au_workflow *w)
{
    struct au_execution *e = s_exec_new(x, w, json_object_get(j, "input"), NULL, id);
    json_t *rec = json_object_get(j, "record");
    if (json_is_object(rec)) {
        json_decref(e->rec);
        e->rec = json_incref(rec);
    }
    json_object_set_new(e->rec, "recovered", json_true());
    if (!json_is_array(json_object_get(e->rec, "compensations"))) {
        json_object_set_new(e->rec, "compensations", json_array());
    }
    if (!json_is_array(json_object_get(e->rec, "steps"))) {
        json_object_set_new(e->rec, "steps", json_array());
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
    int killed = s_kill_orphans(id);
    if (killed > 0 || json_object_get(e->rec, "running_pgids") != NULL) {
        json_object_set_new(e->rec, "orphans_killed", json_integer(killed));
    }
    json_object_del(e->rec, "running_pgids");
    if (w->resumable) {
        /* Its writes and snapshot sequence go on: the commit checks conflicts since then. */
        json_t *writes = json_object_get(j, "writes");
        if (json_is_array(writes)) {
            e->writes = json_incref(writes);
            e->snap_seq = (uint64_t)json_integer_value(json_object_get(j, "snap_seq"));
        }
        e->resume = true;
        json_object_set_new(e->rec, "status", json_string("queued"));
        json_object_set_new(e->rec, "resumed", json_true());
    } else {
        e->recovery = true;
        json_object_set_new(e->rec, "status", json_string("interrupted"));
    }
    s_enqueue(x, e);
}

/* Turns every journal entry left by a previous process into an execution (see au_exec.h). A
 * record that cannot be read (changed on disk, or a workflow this version refuses) is logged,
 * kept in the journal and skipped, rather than failing the start or losing it. The process
 * groups of scripts the dead process was running are killed first (only those whose member
 * carries this execution's id), so neither a compensation nor a resumed step races what is
 * left of the step it follows. */
int
au_exec_recover(au_exec_t *x)
{
    char err[512];
    json_t *list = au_store_journal_list(x->o.store, err, sizeof err);
    if (list == NULL) {
        vx_error("AU-JOURNAL", "%s", err);
        return -EIO;
    }
    int n = 0;
    size_t i;
    json_t *it;
    json_array_foreach(list, i, it) {
        const char *id = json_string_value(json_object_get(it, "id"));
        json_t *j = json_object_get(it, "entry");
        const char *tenant = json_string_value(json_object_get(j, "tenant"));
        struct au_workflow *w = NULL;
        if (j == NULL || tenant == NULL || id == NULL || strlen(id) >= AU_EXEC_ID_LEN ||
            au_workflow_parse(json_object_get(j, "workflow"), tenant, &w, err, sizeof err) < 0) {
            const char *why = json_string_value(json_object_get(it, "error"));
            vx_error("AU-JOURNAL", "journal entry %s cannot be read (%s): kept, not recovered",
                     id ? id : "?", why ? why : "not a journal entry");
            continue;
        }
        pthread_mutex_lock(&x->lock);
        s_recover_one(x, id, j, w);
        pthread_mutex_unlock(&x->lock);
        vx_warn("AU-RECOVER", "execution %s of workflow %s (tenant %s) was interrupted; %s", id,
                w->id, tenant,
                w->resumable ? "resuming it after its last completed step"
                             : "compensating its completed steps");
        au_workflow_unref(&w);
        n++;
    }
    json_decref(list);
    return n;
}

au_exec_t *
au_exec_new(const struct au_exec_opts *o)
{
    au_exec_t *x = vx_calloc(1, sizeof *x);
    x->o = *o;
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
    x->tenants = vx_calloc(AU_EXEC_MAX_TENANTS, sizeof *x->tenants);
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
        x->c_conflicts = vx_metrics_counter(
            o->metrics, "vexfs_automation_state_conflicts_total",
            "Execution commits refused because another execution committed a key they write "
            "after their snapshot (first committer wins).",
            NULL);
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
        struct au_execution *e = x->all[i];
        if (strcmp(e->id, id) == 0 && strcmp(e->wf->tenant, tenant) == 0) {
            out = json_deep_copy(e->rec);
            break;
        }
    }
    pthread_mutex_unlock(&x->lock);
    return out ? out : au_store_exec_get(x->o.store, tenant, id);
}

json_t *
au_exec_list(au_exec_t *x, const struct au_store_query *q, char *err, size_t errlen)
{
    json_t *arr = json_array();
    bool first = (q->cursor == NULL || q->cursor[0] == '\0') && q->until_ns == 0;
    pthread_mutex_lock(&x->lock);
    for (size_t i = x->n_all; first && i-- > 0 && json_array_size(arr) < q->limit;) {
        struct au_execution *e = x->all[i];
        if (strcmp(e->wf->tenant, q->tenant) != 0 ||
            (q->workflow != NULL && strcmp(e->wf->id, q->workflow) != 0) ||
            (e->phase == AU_EXEC_DONE && e->journal_closed)) {
            continue; /* another's, or in the history already */
        }
        const char *st = json_string_value(json_object_get(e->rec, "status"));
        if (q->status != NULL && (st == NULL || strcmp(st, q->status) != 0)) {
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
    uint64_t evicted = x->evicted;
    pthread_mutex_unlock(&x->lock);
    json_t *page = NULL;
    if (json_array_size(arr) < q->limit) {
        struct au_store_query hq = *q;
        hq.limit = q->limit - json_array_size(arr);
        page = au_store_exec_query(x->o.store, &hq, err, errlen);
        if (page == NULL) {
            json_decref(arr);
            return NULL;
        }
        json_array_extend(arr, json_object_get(page, "executions"));
    } else {
        page = json_object();
        /* the memory filled the page: the history follows from its newest record */
        json_object_set_new(page, "next_cursor", json_string("ffffffffffffffffff"));
    }
    json_t *out = json_pack("{s:o, s:I}", "executions", arr, "evicted",
                            (json_int_t)evicted + (json_int_t)au_store_hist_evicted(x->o.store));
    json_t *nc = json_object_get(page, "next_cursor");
    if (nc != NULL) {
        json_object_set(out, "next_cursor", nc);
    }
    json_decref(page);
    return out;
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
        struct au_execution *e = x->all[i];
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
        au_exec_deadline(&ts, 10 * VX_NS_PER_MS);
        pthread_cond_timedwait(&x->work, &x->lock, &ts);
    }
    bool idle = x->n_queue == 0 && x->running == 0;
    pthread_mutex_unlock(&x->lock);
    return idle;
}
