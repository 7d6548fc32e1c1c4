/* SPDX-License-Identifier: Apache-2.0 */
/* The automation loop, the alert ring and pattern set changes (see au_server.h). */
#include "au_server.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "au_config.h"
#include "au_emit.h"
#include "au_engine.h"
#include "au_expr.h"
#include "vx_jsonfile.h"
#include "vx_arena.h"
#include "vx_clock.h"
#include "vx_log.h"
#include "vx_mem.h"
#include "vx_wire.h"

#define S_POLL_MS 10              /* how late an absence may fire when no input comes */
#define S_ARENA_LIMIT (256u << 20) /* one decoded batch at most */
#define S_MAX_SPANS 65536          /* larger batches: kept events are packed again */

struct au_server {
    const vx_config_t *cfg;
    vx_metrics_t *metrics;
    pthread_mutex_t lock;
    /* Serializes pattern changes: each edits a copy of the current set, so two at once
     * would lose one. Taken before lock, never while the loop waits on it. */
    pthread_mutex_t edit_lock;
    au_engine_t *engine;          /* under lock */
    json_t **ring;                /* under lock: alerts, ring[(head + i) % cap] */
    size_t cap, head, n;
    uint64_t seq;                 /* seq of the newest alert */
    uint64_t dropped;             /* alerts pushed out of the ring */
    uint32_t max_partials;
    uint32_t max_match_events;
    uint64_t max_match_event_bytes;
    uint64_t budget_ns;
    zsock_t *input;
    vx_arena_t *arena;
    vx_seqtrack_t *seqs;
    vx_counter_t *c_batches, *c_events, *c_bad, *c_gaps, *c_slow, *c_evictions;
    vx_gauge_t *g_partials, *g_patterns, *g_kept_bytes;
    vx_counter_t *c_trunc_cap, *c_trunc_budget;
    uint64_t evictions_seen, trunc_cap_seen, trunc_budget_seen;
    /* workflows */
    au_flows_t *flows;
    au_exec_t *exec;
    au_breakers_t *breakers;
    pthread_mutex_t state_lock;
    json_t *state;                /* under state_lock: {"<tenant>":{...nested values...}} */
    au_emit_t *emit;
    char *state_dir;              /* NULL: nothing persists */
    pthread_mutex_t save_lock;    /* orders writes of workflows.json */
    const vx_event_t *cur_ev;     /* loop thread, lock held: the event being fed */
    struct vx_span *spans;        /* loop thread: S_MAX_SPANS */
};

static void s_save_patterns(au_server_t *s);
static int s_submit(au_server_t *s, struct au_workflow *w, json_t *input, json_t *trigger,
                    char *id);
static int s_emit(au_server_t *s, const char *tenant, json_t *event, char *err, size_t errlen);

/* The input of a workflow started by a match: the match, the event that completed it (null
 * for an absence, which fires on time) and the matching events kept (max_match_events),
 * oldest first. */
static json_t *
s_match_json(au_server_t *s, const struct au_alert *a, const char *tenant)
{
    return json_pack("{s:{s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:i}, s:o, s:o}", "match",
                     "pattern", a->pattern_id, "tenant", tenant, "kind", au_kind_name(a->kind),
                     "partition", a->partition, "events", (int)a->n_events, "first_ns",
                     (json_int_t)a->first_ns, "time_ns", (json_int_t)a->time_ns,
                     "events_truncated", (int)(a->n_truncated + a->n_over_budget), "event",
                     s->cur_ev ? vx_event_to_json(s->cur_ev) : json_null(), "events",
                     au_alert_events_json(a));
}

/* Starts ws[0..n) (references dropped) with the match as input. */
static void
s_match_start(au_server_t *s, const struct au_alert *a, const char *tenant,
              struct au_workflow **ws, size_t n)
{
    if (n == 0) {
        return;
    }
    json_t *input = s_match_json(s, a, tenant);
    json_t *trig = json_pack("{s:s, s:s}", "kind", "pattern", "pattern", a->pattern_id);
    for (size_t i = 0; i < n; i++) {
        char id[AU_EXEC_ID_LEN];
        s_submit(s, ws[i], input, trig, id);
        au_workflow_unref(&ws[i]);
    }
    json_decref(trig);
    json_decref(input);
}

/* One action of one match (loop thread, lock held). Once per match, the tenant's workflows
 * with a trigger on the pattern start; then alerts go to the ring, workflow actions start
 * their workflow and emit actions send their event. */
static void
cb_alert(const struct au_alert *a, void *arg)
{
    au_server_t *s = arg;
    const struct au_pattern *pat = au_engine_pattern(s->engine, a->pattern);
    const struct au_action *act = &pat->actions[a->action];
    const char *tenant = pat->tenant;
    struct au_workflow *ws[AU_FLOWS_MAX_FIRE];
    if (a->action == 0) {
        vx_counter_add(vx_metrics_counter(s->metrics, "vexfs_automation_matches_total",
                                          "Completed pattern matches, by pattern.", "pattern",
                                          a->pattern_id, NULL),
                       1);
        size_t n = au_flows_on_pattern(s->flows, tenant, a->pattern_id, ws, AU_FLOWS_MAX_FIRE);
        s_match_start(s, a, tenant, ws, n);
    }
    if (act->kind == AU_ACTION_WORKFLOW) {
        ws[0] = au_flows_get(s->flows, tenant, act->workflow);
        if (ws[0] == NULL) {
            vx_counter_add(vx_metrics_counter(s->metrics, "vexfs_automation_trigger_failures_total",
                                              "Triggers that started no execution, by reason.",
                                              "reason", "unknown_workflow", NULL),
                           1);
            vx_warn("AU-TRIGGER", "pattern %s: no workflow \"%s\" in tenant %s", a->pattern_id,
                    act->workflow, tenant);
            return;
        }
        s_match_start(s, a, tenant, ws, 1);
        return;
    }
    if (act->kind == AU_ACTION_EMIT) {
        json_t *ctx = s_match_json(s, a, tenant);
        json_t *ev = au_template_eval(act->event, ctx);
        char err[512];
        if (s_emit(s, tenant, ev, err, sizeof err) < 0) {
            vx_warn("AU-EMIT", "pattern %s: emit failed: %s", a->pattern_id, err);
        }
        json_decref(ev);
        json_decref(ctx);
        return;
    }
    uint64_t seq = s->seq + 1;
    uint64_t span = a->time_ns - a->first_ns;
    json_t *j = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:i}", "seq",
                          (json_int_t)seq, "pattern", a->pattern_id, "tenant", tenant, "kind",
                          au_kind_name(a->kind), "severity", au_severity_name(a->severity),
                          "message", a->message, "partition", a->partition, "time_ns",
                          (json_int_t)vx_wall_ns(), "span_ns",
                          (json_int_t)span, "events", (int)a->n_events);
    if (j == NULL) {
        return;
    }
    s->seq++;
    if (s->n == s->cap) {
        json_decref(s->ring[s->head]);
        s->head = (s->head + 1) % s->cap;
        s->n--;
        s->dropped++;
    }
    s->ring[(s->head + s->n) % s->cap] = j;
    s->n++;
    vx_counter_add(vx_metrics_counter(s->metrics, "vexfs_automation_alerts_total",
                                      "Alerts raised, by pattern and severity.", "pattern",
                                      a->pattern_id, "severity", au_severity_name(a->severity),
                                      NULL),
                   1);
    vx_info("AU-ALERT", "pattern %s partition \"%.200s\" severity %s: %s", a->pattern_id,
            a->partition, au_severity_name(a->severity), a->message);
}

static int
s_engine_build(au_server_t *s, json_t *patterns, au_engine_t **out, char *err, size_t errlen)
{
    struct au_engine_opts o = {
        .max_partials = s->max_partials,
        .max_match_events = s->max_match_events,
        .max_match_event_bytes = s->max_match_event_bytes,
        .on_alert = cb_alert,
        .arg = s,
        .now_ns = vx_mono_ns(),
    };
    return au_engine_new(patterns, &o, out, err, errlen);
}

/* Publishes e in place of the current engine, keeping the counters (lock held). */
static void
s_swap(au_server_t *s, au_engine_t *e)
{
    au_engine_inherit(e, s->engine);
    au_engine_destroy(&s->engine);
    s->engine = e;
    vx_gauge_set(s->g_patterns, (double)au_engine_pattern_count(e));
}

/* Builds from patterns and swaps; the build happens before the lock is taken, so the loop
 * waits only for the swap. Callers hold edit_lock. */
static int
s_replace(au_server_t *s, json_t *patterns, char *err, size_t errlen)
{
    au_engine_t *e = NULL;
    int rc = s_engine_build(s, patterns, &e, err, errlen);
    if (rc < 0) {
        return rc;
    }
    pthread_mutex_lock(&s->lock);
    s_swap(s, e);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

int
au_server_set_patterns(au_server_t *s, json_t *patterns, char *err, size_t errlen)
{
    pthread_mutex_lock(&s->edit_lock);
    int rc = s_replace(s, patterns, err, errlen);
    if (rc == 0) {
        s_save_patterns(s);
    }
    pthread_mutex_unlock(&s->edit_lock);
    return rc;
}

static const char *
s_tenant_of(json_t *p)
{
    const char *t = json_string_value(json_object_get(p, "tenant"));
    return t != NULL ? t : "default";
}

int
au_server_set_tenant_patterns(au_server_t *s, const char *tenant, json_t *patterns, char *err,
                              size_t errlen)
{
    pthread_mutex_lock(&s->edit_lock);
    json_t *cur = au_server_patterns_json(s);
    json_t *arr = json_array();
    size_t i;
    json_t *p;
    /* The tenant's first, so that "patterns[N]" in an error is N of the request's list. */
    json_array_foreach(patterns, i, p) {
        json_t *c = json_is_object(p) ? json_copy(p) : json_incref(p);
        if (json_is_object(c)) {
            json_object_set_new(c, "tenant", json_string(tenant));
        }
        json_array_append_new(arr, c);
    }
    json_array_foreach(cur, i, p) {
        if (strcmp(s_tenant_of(p), tenant) != 0) {
            json_array_append(arr, p);
        }
    }
    int rc = s_replace(s, arr, err, errlen);
    if (rc == 0) {
        s_save_patterns(s);
    }
    json_decref(arr);
    json_decref(cur);
    pthread_mutex_unlock(&s->edit_lock);
    return rc;
}

/* The index of the pattern with id in the array, or -1. */
static ssize_t
s_find(json_t *arr, const char *id)
{
    size_t i;
    json_t *p;
    json_array_foreach(arr, i, p) {
        const char *pid = json_string_value(json_object_get(p, "id"));
        if (pid != NULL && strcmp(pid, id) == 0) {
            return (ssize_t)i;
        }
    }
    return -1;
}

/* Edits a copy of the current set: mode 'a' adds, 'p' puts (replace or add), 'd' deletes. */
static int
s_edit(au_server_t *s, const char *tenant, char mode, json_t *p, const char *id, bool *created,
       char *err, size_t errlen)
{
    pthread_mutex_lock(&s->edit_lock);
    json_t *arr = au_server_patterns_json(s);
    ssize_t at = id != NULL ? s_find(arr, id) : -1;
    int rc = 0;
    bool other = at >= 0 && strcmp(s_tenant_of(json_array_get(arr, (size_t)at)), tenant) != 0;
    if (other && mode == 'd') {
        at = -1;
    } else if (other) {
        snprintf(err, errlen, "pattern id \"%.128s\" is in use", id);
        rc = -EEXIST;
    }
    if (rc < 0) {
        /* refused above */
    } else if (mode == 'a' && at >= 0) {
        snprintf(err, errlen, "pattern \"%.128s\" exists (PUT /v1/patterns/%.128s replaces it)",
                 id, id);
        rc = -EEXIST;
    } else if (mode == 'd' && at < 0) {
        snprintf(err, errlen, "no pattern with id \"%.128s\"", id);
        rc = -ENOENT;
    } else if (mode == 'd') {
        json_array_remove(arr, (size_t)at);
    } else if (at >= 0) {
        json_array_set(arr, (size_t)at, p);
    } else {
        json_array_append(arr, p);
    }
    if (created != NULL) {
        *created = at < 0;
    }
    if (rc == 0) {
        rc = s_replace(s, arr, err, errlen);
    }
    if (rc == 0) {
        s_save_patterns(s);
    }
    json_decref(arr);
    pthread_mutex_unlock(&s->edit_lock);
    return rc;
}

static const char *
s_id_of(json_t *p)
{
    const char *id = json_string_value(json_object_get(p, "id"));
    return id != NULL ? id : "";
}

int
au_server_add_pattern(au_server_t *s, const char *tenant, json_t *p, char *err, size_t errlen)
{
    json_t *c = json_copy(p);
    json_object_set_new(c, "tenant", json_string(tenant));
    int rc = s_edit(s, tenant, 'a', c, s_id_of(p), NULL, err, errlen);
    json_decref(c);
    return rc;
}

int
au_server_put_pattern(au_server_t *s, const char *tenant, json_t *p, bool *created, char *err,
                      size_t errlen)
{
    json_t *c = json_copy(p);
    json_object_set_new(c, "tenant", json_string(tenant));
    int rc = s_edit(s, tenant, 'p', c, s_id_of(p), created, err, errlen);
    json_decref(c);
    return rc;
}

int
au_server_delete_pattern(au_server_t *s, const char *tenant, const char *id)
{
    char err[256];
    return s_edit(s, tenant, 'd', NULL, id, NULL, err, sizeof err);
}

json_t *
au_server_patterns_json(au_server_t *s)
{
    pthread_mutex_lock(&s->lock);
    json_t *j = au_engine_patterns_json(s->engine);
    pthread_mutex_unlock(&s->lock);
    return j;
}

json_t *
au_server_tenant_patterns_json(au_server_t *s, const char *tenant)
{
    json_t *all = au_server_patterns_json(s);
    json_t *arr = json_array();
    size_t i;
    json_t *p;
    json_array_foreach(all, i, p) {
        if (strcmp(s_tenant_of(p), tenant) == 0) {
            json_array_append(arr, p);
        }
    }
    json_decref(all);
    return arr;
}

json_t *
au_server_pattern_json(au_server_t *s, const char *tenant, const char *id)
{
    json_t *out = NULL;
    pthread_mutex_lock(&s->lock);
    int32_t i = au_engine_pattern_index(s->engine, id);
    struct au_pattern_stats st;
    if (i >= 0 && strcmp(au_engine_pattern(s->engine, (uint32_t)i)->tenant, tenant) == 0 &&
        au_engine_pattern_stats(s->engine, (uint32_t)i, &st) == 0) {
        out = json_deep_copy(au_engine_pattern(s->engine, (uint32_t)i)->json);
        json_object_set_new(out, "stats",
                            json_pack("{s:I, s:I, s:I, s:I}", "matches", (json_int_t)st.matches,
                                      "evictions", (json_int_t)st.evictions, "expired",
                                      (json_int_t)st.expired, "partials",
                                      (json_int_t)st.partials));
    }
    pthread_mutex_unlock(&s->lock);
    return out;
}

json_t *
au_server_alerts_json(au_server_t *s, const char *tenant, uint64_t since, size_t limit)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&s->lock);
    uint64_t first = s->seq - s->n + 1; /* seq of ring[head] */
    for (size_t i = 0; i < s->n && json_array_size(arr) < limit; i++) {
        json_t *al = s->ring[(s->head + i) % s->cap];
        if (first + i > since &&
            strcmp(json_string_value(json_object_get(al, "tenant")), tenant) == 0) {
            json_array_append(arr, al);
        }
    }
    json_t *j = json_pack("{s:o, s:I, s:I}", "alerts", arr, "dropped", (json_int_t)s->dropped,
                          "last_seq", (json_int_t)s->seq);
    pthread_mutex_unlock(&s->lock);
    return j;
}

json_t *
au_server_stats_json(au_server_t *s)
{
    struct au_engine_stats st;
    pthread_mutex_lock(&s->lock);
    au_engine_stats(s->engine, &st);
    uint32_t n = au_engine_pattern_count(s->engine);
    pthread_mutex_unlock(&s->lock);
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:i, s:I, s:I, s:i, s:o}", "events",
                     (json_int_t)st.events, "alerts", (json_int_t)st.alerts, "matches",
                     (json_int_t)st.matches, "evictions", (json_int_t)st.evictions, "partials",
                     (json_int_t)st.partials, "patterns", (int)n, "batches",
                     (json_int_t)vx_counter_value(s->c_batches), "bad_batches",
                     (json_int_t)vx_counter_value(s->c_bad), "workflows",
                     (int)au_flows_count(s->flows), "executions", au_exec_stats(s->exec));
}

/* ---- workflows ------------------------------------------------------------------------------ */

au_flows_t *
au_server_flows(au_server_t *s)
{
    return s->flows;
}

au_exec_t *
au_server_exec(au_server_t *s)
{
    return s->exec;
}

au_breakers_t *
au_server_breakers(au_server_t *s)
{
    return s->breakers;
}

static void
s_trigger_failed(au_server_t *s, const char *reason)
{
    vx_counter_add(vx_metrics_counter(s->metrics, "vexfs_automation_trigger_failures_total",
                                      "Triggers that started no execution, by reason.", "reason",
                                      reason, NULL),
                   1);
}

/* Queues an execution; a refusal is counted by reason. */
static int
s_submit(au_server_t *s, struct au_workflow *w, json_t *input, json_t *trigger, char *id)
{
    int rc = au_exec_submit(s->exec, w, input, trigger, id);
    if (rc == -EAGAIN) {
        s_trigger_failed(s, "queue_full");
    } else if (rc == -EPERM) {
        s_trigger_failed(s, "disabled");
    } else if (rc < 0) {
        s_trigger_failed(s, "stopping");
    }
    if (rc < 0) {
        vx_warn("AU-TRIGGER", "workflow %s (tenant %s) not started: %s", w->id, w->tenant,
                rc == -EAGAIN ? "queue full" : rc == -EPERM ? "disabled" : "stopping");
    }
    return rc;
}

int
au_server_execute(au_server_t *s, const char *tenant, const char *id, json_t *input,
                  char out_id[AU_EXEC_ID_LEN])
{
    struct au_workflow *w = au_flows_get(s->flows, tenant, id);
    if (w == NULL) {
        return -ENOENT;
    }
    json_t *trig = json_pack("{s:s}", "kind", "manual");
    int rc = s_submit(s, w, input, trig, out_id);
    json_decref(trig);
    au_workflow_unref(&w);
    return rc;
}

/* Writes workflows.json (after every change). */
static void
s_save_workflows(au_server_t *s)
{
    if (s->state_dir == NULL) {
        return;
    }
    pthread_mutex_lock(&s->save_lock);
    char path[4200];
    snprintf(path, sizeof path, "%s/workflows.json", s->state_dir);
    json_t *doc = json_pack("{s:o}", "workflows", au_flows_dump(s->flows));
    int rc = vx_jsonfile_write(path, doc);
    json_decref(doc);
    pthread_mutex_unlock(&s->save_lock);
    if (rc < 0) {
        vx_error("AU-SAVE", "%s: %s", path, strerror(-rc));
    }
}

/* Writes patterns.json (edit_lock held). */
static void
s_save_patterns(au_server_t *s)
{
    if (s->state_dir == NULL) {
        return;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/patterns.json", s->state_dir);
    json_t *doc = json_pack("{s:o}", "patterns", au_server_patterns_json(s));
    int rc = vx_jsonfile_write(path, doc);
    json_decref(doc);
    if (rc < 0) {
        vx_error("AU-SAVE", "%s: %s", path, strerror(-rc));
    }
}

int
au_server_put_workflow(au_server_t *s, const char *tenant, json_t *def, char mode, bool *created,
                       char *err, size_t errlen)
{
    int rc = au_flows_put(s->flows, def, tenant, mode, created, err, errlen);
    if (rc == 0) {
        s_save_workflows(s);
    }
    return rc;
}

int
au_server_delete_workflow(au_server_t *s, const char *tenant, const char *id)
{
    int rc = au_flows_delete(s->flows, tenant, id);
    if (rc == 0) {
        s_save_workflows(s);
    }
    return rc;
}

/* ---- state ------------------------------------------------------------------------------- */

json_t *
au_server_state_json(au_server_t *s, const char *tenant)
{
    pthread_mutex_lock(&s->state_lock);
    json_t *t = json_object_get(s->state, tenant);
    json_t *out = t ? json_deep_copy(t) : json_object();
    pthread_mutex_unlock(&s->state_lock);
    return out;
}

void
au_server_set_state(au_server_t *s, const char *tenant, const char *path, json_t *value)
{
    pthread_mutex_lock(&s->state_lock);
    json_t *cur = json_object_get(s->state, tenant);
    if (cur == NULL) {
        cur = json_object();
        json_object_set_new(s->state, tenant, cur);
    }
    char *copy = vx_strdup(path);
    char *save = NULL;
    char *part = strtok_r(copy, ".", &save);
    while (part != NULL) {
        char *next = strtok_r(NULL, ".", &save);
        if (next == NULL) {
            json_object_set(cur, part, value);
        } else {
            json_t *sub = json_object_get(cur, part);
            if (!json_is_object(sub)) {
                sub = json_object();
                json_object_set_new(cur, part, sub);
            }
            cur = sub;
        }
        part = next;
    }
    free(copy);
    pthread_mutex_unlock(&s->state_lock);
    struct au_workflow *ws[AU_FLOWS_MAX_FIRE];
    size_t n = au_flows_on_state(s->flows, tenant, path, value, ws, AU_FLOWS_MAX_FIRE);
    if (n == 0) {
        return;
    }
    json_t *input = json_pack("{s:s, s:O}", "state_path", path, "value", value);
    json_t *trig = json_pack("{s:s, s:s}", "kind", "state", "state_path", path);
    for (size_t i = 0; i < n; i++) {
        char id[AU_EXEC_ID_LEN];
        s_submit(s, ws[i], input, trig, id);
        au_workflow_unref(&ws[i]);
    }
    json_decref(trig);
    json_decref(input);
}

static void
cb_set_state(const char *tenant, const char *path, json_t *value, void *arg)
{
    au_server_set_state(arg, tenant, path, value);
}

static json_t *
cb_state(const char *tenant, void *arg)
{
    return au_server_state_json(arg, tenant);
}

/* ---- emit -------------------------------------------------------------------------------- */

static int
s_emit(au_server_t *s, const char *tenant, json_t *event, char *err, size_t errlen)
{
    return au_emit_send(s->emit, tenant, event, err, errlen);
}

static int
cb_emit(const char *tenant, json_t *event, char *err, size_t errlen, void *arg)
{
    return s_emit(arg, tenant, event, err, errlen);
}

/* Loads workflows_path: one file, or every *.json file of a directory (in name order). */
static int
s_load_workflows_path(au_server_t *s, const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        snprintf(err, errlen, "workflows_path %s: %s", path, strerror(errno));
        return -errno;
    }
    json_t *all = json_array();
    struct dirent **names = NULL;
    int n = 0;
    int rc = 0;
    if (S_ISDIR(st.st_mode)) {
        n = scandir(path, &names, NULL, alphasort);
    }
    for (int i = 0; i < (S_ISDIR(st.st_mode) ? n : 1) && rc == 0; i++) {
        char file[4200];
        if (S_ISDIR(st.st_mode)) {
            size_t len = strlen(names[i]->d_name);
            if (len < 6 || strcmp(names[i]->d_name + len - 5, ".json") != 0) {
                continue;
            }
            snprintf(file, sizeof file, "%s/%s", path, names[i]->d_name);
        } else {
            snprintf(file, sizeof file, "%s", path);
        }
        int missing = 0;
        char why[1024];
        json_t *doc = vx_jsonfile_read(file, &missing, why, sizeof why);
        if (doc == NULL) {
            snprintf(err, errlen, "workflows_path %s", missing ? file : why);
            rc = -EINVAL;
            break;
        }
        json_t *arr = json_is_object(doc) && json_object_get(doc, "workflows")
                          ? json_object_get(doc, "workflows")
                          : doc;
        if (json_is_array(arr)) {
            json_array_extend(all, arr);
        } else {
            json_array_append(all, arr);
        }
        json_decref(doc);
    }
    for (int i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
    if (rc == 0) {
        char why[1024];
        rc = au_flows_load(s->flows, all, why, sizeof why);
        if (rc < 0) {
            snprintf(err, errlen, "workflows_path %s: %s", path, why);
        }
    }
    json_decref(all);
    return rc;
}


/* Loads patterns_file: an array or {"patterns":[...]}. */
static int
s_load_file(au_server_t *s, const char *path, char *err, size_t errlen)
{
    json_error_t je;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (doc == NULL) {
        snprintf(err, errlen, "patterns_file %s: %s (line %d, column %d)", path, je.text,
                 je.line, je.column);
        return -EINVAL;
    }
    json_t *arr = json_is_object(doc) ? json_object_get(doc, "patterns") : doc;
    char why[512];
    int rc = au_server_set_patterns(s, arr, why, sizeof why);
    if (rc < 0) {
        snprintf(err, errlen, "patterns_file %s: %s", path, why);
    }
    json_decref(doc);
    return rc;
}

au_server_t *
au_server_new(const vx_config_t *cfg, vx_metrics_t *metrics, char *err, size_t errlen)
{
    au_server_t *s = vx_calloc(1, sizeof *s);
    s->cfg = cfg;
    s->metrics = metrics;
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->edit_lock, NULL);
    s->cap = (size_t)vx_config_int(cfg, AU_SECTION, "max_alerts");
    s->ring = vx_calloc(s->cap, sizeof *s->ring);
    s->max_partials = (uint32_t)vx_config_int(cfg, AU_SECTION, "max_partial_matches");
    s->max_match_events = (uint32_t)vx_config_int(cfg, AU_SECTION, "max_match_events");
    s->max_match_event_bytes =
        (uint64_t)vx_config_int(cfg, AU_SECTION, "max_match_event_bytes");
    s->budget_ns =
        (uint64_t)vx_config_int(cfg, AU_SECTION, "max_automation_latency_ms") * VX_NS_PER_MS;
    s->arena = vx_arena_new(1u << 20, S_ARENA_LIMIT);
    s->spans = vx_calloc(S_MAX_SPANS, sizeof *s->spans);
    s->seqs = vx_seqtrack_new(4096);
    s->c_batches = vx_metrics_counter(metrics, "vexfs_automation_batches_total",
                                      "Input batches received.", NULL);
    s->c_events = vx_metrics_counter(metrics, "vexfs_automation_events_total",
                                     "Events fed to the pattern engine.", NULL);
    s->c_bad = vx_metrics_counter(metrics, "vexfs_automation_bad_batches_total",
                                  "Input messages that were not a valid batch (dropped).", NULL);
    s->c_gaps = vx_metrics_counter(metrics, "vexfs_automation_lost_batches_total",
                                   "Batches missing in a sender's sequence.", NULL);
    s->c_slow = vx_metrics_counter(metrics, "vexfs_automation_slow_batches_total",
                                   "Batches that took longer than max_automation_latency_ms.",
                                   NULL);
    s->c_evictions = vx_metrics_counter(metrics, "vexfs_automation_evictions_total",
                                        "Partial matches evicted by max_partial_matches.", NULL);
    s->c_trunc_cap = vx_metrics_counter(
        metrics, "vexfs_automation_match_events_truncated_total",
        "Matching events of completed matches left out of the workflow input, by reason.",
        "reason", "max_match_events", NULL);
    s->c_trunc_budget = vx_metrics_counter(
        metrics, "vexfs_automation_match_events_truncated_total",
        "Matching events of completed matches left out of the workflow input, by reason.",
        "reason", "max_match_event_bytes", NULL);
    s->g_kept_bytes = vx_metrics_gauge(metrics, "vexfs_automation_match_event_bytes",
                                       "Bytes of matching events kept by partial matches.",
                                       NULL);
    s->g_partials = vx_metrics_gauge(metrics, "vexfs_automation_partial_matches",
                                     "Partial matches held, all patterns.", NULL);
    s->g_patterns = vx_metrics_gauge(metrics, "vexfs_automation_patterns",
                                     "Patterns loaded.", NULL);
    vx_gauge_set(vx_metrics_gauge(metrics, "vexfs_target_throughput_events_per_second",
                                  "Configured target_throughput_events_per_sec.", NULL),
                 (double)vx_config_int(cfg, AU_SECTION, "target_throughput_events_per_sec"));
    pthread_mutex_init(&s->state_lock, NULL);
    pthread_mutex_init(&s->save_lock, NULL);
    s->state = json_object();
    s->flows = au_flows_new();
    s->emit = au_emit_new(vx_config_str(cfg, AU_SECTION, "emit_endpoint"), metrics, err, errlen);
    if (s->emit == NULL) {
        au_server_destroy(&s);
        return NULL;
    }
    s->breakers = au_breakers_new(
        (uint32_t)vx_config_int(cfg, AU_SECTION, "breaker_failure_threshold"),
        (uint64_t)vx_config_int(cfg, AU_SECTION, "breaker_cooldown_ms"), metrics);
    const char *sd = vx_config_str(cfg, AU_SECTION, "state_dir");
    char journal[4200] = "";
    int rc = 0;
    if (sd[0] != '\0') {
        s->state_dir = vx_strdup(sd);
        snprintf(journal, sizeof journal, "%s/journal", sd);
        rc = vx_jsonfile_mkdir(journal);
        if (rc < 0) {
            snprintf(err, errlen, "state_dir %s: %s", sd, strerror(-rc));
            au_server_destroy(&s);
            return NULL;
        }
    }
    struct au_exec_opts xo = {
        .max_concurrent = (uint32_t)vx_config_int(cfg, AU_SECTION, "max_concurrent_workflows"),
        .max_queue = (uint32_t)vx_config_int(cfg, AU_SECTION, "max_queued_workflows"),
        .tenant_concurrency = (uint32_t)vx_config_int(cfg, AU_SECTION, "tenant_max_concurrent"),
        .tenant_rate = (double)vx_config_int(cfg, AU_SECTION, "tenant_rate_per_sec"),
        .tenant_burst = (uint32_t)vx_config_int(cfg, AU_SECTION, "tenant_burst"),
        .max_history = (uint32_t)vx_config_int(cfg, AU_SECTION, "max_executions"),
        .retries = vx_config_bool(cfg, AU_SECTION, "enable_fault_tolerance"),
        .compensation = vx_config_bool(cfg, AU_SECTION, "enable_compensation"),
        .journal_dir = journal,
        .breakers = s->breakers,
        .metrics = metrics,
        .hooks = {.emit = cb_emit, .set_state = cb_set_state, .state = cb_state, .arg = s},
    };
    s->exec = au_exec_new(&xo);
    rc = s_engine_build(s, NULL, &s->engine, err, errlen);
    /* The state directory, once written, holds every change made since: it wins over the
     * files named in the configuration. */
    char path[4200];
    snprintf(path, sizeof path, "%s/patterns.json", sd);
    const char *file = vx_config_str(cfg, AU_SECTION, "patterns_file");
    if (rc == 0 && s->state_dir != NULL && access(path, F_OK) == 0) {
        rc = s_load_file(s, path, err, errlen);
    } else if (rc == 0 && file[0] != '\0') {
        rc = s_load_file(s, file, err, errlen);
    }
    snprintf(path, sizeof path, "%s/workflows.json", sd);
    const char *wpath = vx_config_str(cfg, AU_SECTION, "workflows_path");
    if (rc == 0 && s->state_dir != NULL && access(path, F_OK) == 0) {
        int missing = 0;
        char why[1024];
        json_t *doc = vx_jsonfile_read(path, &missing, why, sizeof why);
        rc = doc ? au_flows_load(s->flows, doc, why, sizeof why) : -EINVAL;
        if (rc < 0) {
            snprintf(err, errlen, "%s: %s", path, why);
        }
        json_decref(doc);
    } else if (rc == 0 && wpath[0] != '\0') {
        rc = s_load_workflows_path(s, wpath, err, errlen);
        if (rc == 0) {
            s_save_workflows(s);
        }
    }
    if (rc < 0) {
        au_server_destroy(&s);
        return NULL;
    }

    const char *ep = vx_config_str(cfg, AU_SECTION, "input_endpoint");
    s->input = zsock_new(ZMQ_PULL);
    if (s->input == NULL) {
        snprintf(err, errlen, "input socket: %s", zmq_strerror(zmq_errno()));
        au_server_destroy(&s);
        return NULL;
    }
    zsock_set_rcvhwm(s->input, (int)vx_config_int(cfg, AU_SECTION, "queue_hwm"));
    if (zsock_connect(s->input, "%s", ep) < 0) {
        snprintf(err, errlen, "input_endpoint %s: %s", ep, zmq_strerror(zmq_errno()));
        au_server_destroy(&s);
        return NULL;
    }
    int rec = au_exec_recover(s->exec);
    vx_info("AU-INPUT", "input %s, %u patterns, %zu workflows, %d interrupted executions",
            ep, au_engine_pattern_count(s->engine), au_flows_count(s->flows), rec < 0 ? 0 : rec);
    return s;
}

void
au_server_destroy(au_server_t **sp)
{
    if (sp == NULL || *sp == NULL) {
        return;
    }
    au_server_t *s = *sp;
    /* Workers first: they call back into the state, the registry and the emit socket. */
    au_exec_destroy(&s->exec);
    au_flows_destroy(&s->flows);
    au_breakers_destroy(&s->breakers);
    au_emit_destroy(&s->emit);
    json_decref(s->state);
    free(s->state_dir);
    pthread_mutex_destroy(&s->state_lock);
    pthread_mutex_destroy(&s->save_lock);
    zsock_destroy(&s->input);
    au_engine_destroy(&s->engine);
    for (size_t i = 0; i < s->n; i++) {
        json_decref(s->ring[(s->head + i) % s->cap]);
    }
    free(s->ring);
    vx_arena_destroy(&s->arena);
    free(s->spans);
    vx_seqtrack_destroy(&s->seqs);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->edit_lock);
    vx_free(sp);
}

/* Decodes one batch and feeds its events (lock held). */
static void
s_batch(au_server_t *s, const void *data, size_t len)
{
    vx_arena_reset(s->arena);
    vx_batch_t *b = vx_wire_decode(data, len, s->arena);
    if (b == NULL) {
        vx_counter_add(s->c_bad, 1);
        vx_warn("AU-BAD-BATCH", "dropped an input message of %zu bytes: not a valid batch", len);
        return;
    }
    vx_counter_add(s->c_batches, 1);
    if (b->sender != NULL && b->sender[0] != '\0' && b->batch_sequence != 0) {
        struct vx_seq_result r = vx_seqtrack_observe(s->seqs, b->sender, b->batch_sequence);
        if (r.missing > 0) {
            vx_counter_add(s->c_gaps, r.missing);
        }
    }
    bool triggers = au_flows_has_event_triggers(s->flows);
    /* The events' packed bytes, so that the engine copies rather than packs those it keeps. */
    size_t n_spans = 0;
    if (vx_wire_event_spans(data, len, s->spans, S_MAX_SPANS, &n_spans) < 0 ||
        n_spans != b->n_events) {
        n_spans = 0;
    }
    for (size_t i = 0; i < b->n_events; i++) {
        const vx_event_t *ev = b->events[i];
        s->cur_ev = ev;
        au_engine_on_event_packed(s->engine, ev, n_spans ? s->spans[i].data : NULL,
                                  n_spans ? s->spans[i].len : 0, vx_mono_ns());
        s->cur_ev = NULL;
        au_exec_event(s->exec, ev);
        if (triggers) {
            struct au_workflow *ws[AU_FLOWS_MAX_FIRE];
            size_t n = au_flows_on_event(s->flows, ev, ws, AU_FLOWS_MAX_FIRE);
            if (n > 0) {
                json_t *input = json_pack("{s:o}", "event", vx_event_to_json(ev));
                json_t *trig = json_pack("{s:s, s:s}", "kind", "event", "event_type",
                                         vx_event_type_name((int)ev->type)
                                             ? vx_event_type_name((int)ev->type)
                                             : "unknown");
                for (size_t k = 0; k < n; k++) {
                    char id[AU_EXEC_ID_LEN];
                    s_submit(s, ws[k], input, trig, id);
                    au_workflow_unref(&ws[k]);
                }
                json_decref(trig);
                json_decref(input);
            }
        }
    }
    vx_counter_add(s->c_events, b->n_events);
}

/* Publishes engine gauges and new evictions (lock held). */
static void
s_export(au_server_t *s)
{
    struct au_engine_stats st;
    au_engine_stats(s->engine, &st);
    vx_gauge_set(s->g_partials, (double)st.partials);
    if (st.evictions > s->evictions_seen) {
        vx_counter_add(s->c_evictions, st.evictions - s->evictions_seen);
    }
    s->evictions_seen = st.evictions;
    if (st.events_truncated > s->trunc_cap_seen) {
        vx_counter_add(s->c_trunc_cap, st.events_truncated - s->trunc_cap_seen);
    }
    s->trunc_cap_seen = st.events_truncated;
    if (st.events_over_budget > s->trunc_budget_seen) {
        vx_counter_add(s->c_trunc_budget, st.events_over_budget - s->trunc_budget_seen);
    }
    s->trunc_budget_seen = st.events_over_budget;
    vx_gauge_set(s->g_kept_bytes, (double)st.kept_bytes);
}

int
au_server_run(au_server_t *s, volatile sig_atomic_t *stop)
{
    zpoller_t *poller = zpoller_new(s->input, NULL);
    while (!*stop) {
        void *which = zpoller_wait(poller, S_POLL_MS);
        pthread_mutex_lock(&s->lock);
        if (which == s->input) {
            for (int k = 0; k < 64; k++) {
                struct vx_wire_msg msg;
                if (vx_wire_recv(s->input, &msg, ZMQ_DONTWAIT) < 0) {
                    break;
                }
                uint64_t t0 = vx_mono_ns();
                if (msg.has_body) {
                    s_batch(s, zmq_msg_data(&msg.body), zmq_msg_size(&msg.body));
                }
                vx_wire_msg_fini(&msg);
                if (vx_mono_ns() - t0 > s->budget_ns) {
                    vx_counter_add(s->c_slow, 1);
                }
            }
        }
        au_engine_advance(s->engine, vx_mono_ns());
        s_export(s);
        pthread_mutex_unlock(&s->lock);
    }
    zpoller_destroy(&poller);
    return 0;
}
