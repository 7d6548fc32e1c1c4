/* SPDX-License-Identifier: Apache-2.0 */
/* What a completed match does (see au_server.h): counts it, starts the workflows it
 * triggers, raises alerts into the bounded ring read by GET /v1/alerts, and sends emits. */
#include <string.h>

#include "au_expr.h"
#include "au_server_priv.h"
#include "vx_clock.h"
#include "vx_log.h"
#include "vx_mem.h"

/* The input of a workflow started by a match: the match, the event that completed it (null
 * for an absence, which fires on time) and the matching events kept (max_match_events),
 * oldest first. */
static json_t *
s_match_json(struct au_feed *f, const struct au_alert *a, const char *tenant)
{
    return json_pack("{s:{s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:i, s:s, s:s}, s:o, s:o}",
                     "match", "pattern", a->pattern_id, "tenant", tenant, "kind",
                     au_kind_name(a->kind), "partition", a->partition, "events",
                     (int)a->n_events, "first_ns", (json_int_t)a->first_ns, "time_ns",
                     (json_int_t)a->time_ns, "events_truncated",
                     (int)(a->n_truncated + a->n_over_budget), "time_mode",
                     a->event_time ? "event" : "processing", "input", f->name, "event",
                     a->event ? vx_event_to_json(a->event) : json_null(), "events",
                     au_alert_events_json(a));
}

/* Starts ws[0..n) (references dropped) with the match as input. */
static void
s_match_start(struct au_feed *f, const struct au_alert *a, const char *tenant,
              struct au_workflow **ws, size_t n)
{
    if (n == 0) {
        return;
    }
    au_server_t *s = f->s;
    json_t *input = s_match_json(f, a, tenant);
    json_t *trig = json_pack("{s:s, s:s}", "kind", "pattern", "pattern", a->pattern_id);
    for (size_t i = 0; i < n; i++) {
        char id[AU_EXEC_ID_LEN];
        au_server_submit(s, ws[i], input, trig, id);
        au_workflow_unref(&ws[i]);
    }
    json_decref(trig);
    json_decref(input);
}

/* A workflow action: starts that workflow of the pattern's tenant, or counts why not. */
static void
s_action_workflow(struct au_feed *f, const struct au_alert *a, const struct au_action *act,
                  const char *tenant)
{
    au_server_t *s = f->s;
    struct au_workflow *w = au_flows_get(s->flows, tenant, act->workflow);
    if (w == NULL) {
        vx_counter_add(vx_metrics_counter(s->metrics, "vexfs_automation_trigger_failures_total",
                                          "Triggers that started no execution, by reason.",
                                          "reason", "unknown_workflow", NULL),
                       1);
        vx_warn("AU-TRIGGER", "pattern %s: no workflow \"%s\" in tenant %s", a->pattern_id,
                act->workflow, tenant);
        return;
    }
    s_match_start(f, a, tenant, &w, 1);
}

/* An emit action: its event template evaluated over the match, sent into propagation. */
static void
s_action_emit(struct au_feed *f, const struct au_alert *a, const struct au_action *act,
              const char *tenant)
{
    au_server_t *s = f->s;
    json_t *ctx = s_match_json(f, a, tenant);
    json_t *ev = au_template_eval(act->event, ctx);
    char err[512];
    if (au_server_emit(s, tenant, ev, err, sizeof err) < 0) {
        vx_warn("AU-EMIT", "pattern %s: emit failed: %s", a->pattern_id, err);
    }
    json_decref(ev);
    json_decref(ctx);
}

/* ---- the alert ring ----------------------------------------------------------------------- */

static void
s_src_unref(struct au_alert_src *src)
{
    if (src == NULL || --src->refs > 0) {
        return;
    }
    free(src->pattern);
    free(src->tenant);
    free(src->message);
    free(src);
}

/* Empties one slot of the ring. */
static void
s_rec_fini(struct au_alert_rec *r)
{
    s_src_unref(r->src);
    if (r->partition != r->part_buf) {
        free(r->partition);
    }
    memset(r, 0, sizeof *r);
}

void
au_server_alerts_fini(au_server_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        s_rec_fini(&s->ring[(s->head + i) % s->cap]);
    }
    s->n = 0;
    au_server_pattern_info_set(s, NULL);
}

/* The counters and alert sources of a pattern set, resolved once per set rather than per
 * match (a series is found by its labels, a string compare per label). Lock held. */
void
au_server_pattern_info_set(au_server_t *s, const au_engine_t *e)
{
    for (uint32_t i = 0; i < s->n_pinfo; i++) {
        for (uint32_t k = 0; k < AU_MAX_ACTIONS; k++) {
            s_src_unref(s->pinfo[i].src[k]);
        }
    }
    free(s->pinfo);
    s->pinfo = NULL;
    s->n_pinfo = 0;
    if (e == NULL) {
        return;
    }
    s->n_pinfo = au_engine_pattern_count(e);
    s->pinfo = vx_calloc(s->n_pinfo + 1, sizeof *s->pinfo);
    for (uint32_t i = 0; i < s->n_pinfo; i++) {
        const struct au_pattern *p = au_engine_pattern(e, i);
        struct au_pat_info *pi = &s->pinfo[i];
        pi->c_matches = vx_metrics_counter(s->metrics, "vexfs_automation_matches_total",
                                           "Completed pattern matches, by tenant and pattern.",
                                           "tenant", p->tenant, "pattern", p->id, NULL);
        for (uint32_t k = 0; k < p->n_actions; k++) {
            const struct au_action *act = &p->actions[k];
            if (act->kind != AU_ACTION_ALERT) {
                continue;
            }
            struct au_alert_src *src = vx_calloc(1, sizeof *src);
            src->refs = 1;
            src->pattern = vx_strdup(p->id);
            src->tenant = vx_strdup(p->tenant);
            src->message = vx_strdup(act->message);
            src->kind = p->kind;
            src->severity = act->severity;
            src->c_alerts = vx_metrics_counter(s->metrics, "vexfs_automation_alerts_total",
                                               "Alerts raised, by tenant, pattern and severity.",
                                               "tenant", p->tenant, "pattern", p->id, "severity",
                                               au_severity_name(act->severity), NULL);
            pi->src[k] = src;
        }
    }
}

/* An alert action: a record in the ring (the oldest goes when full, counted as dropped). The
 * record shares its pattern's strings and copies only the partition, so raising an alert costs
 * no allocation for a short partition; GET /v1/alerts turns records into JSON. An event-time
 * match also carries its time in event time, which a replay reproduces. */
static void
s_action_alert(struct au_feed *f, const struct au_alert *a, struct au_alert_src *src)
{
    au_server_t *s = f->s;
    if (s->n == s->cap) {
        s_rec_fini(&s->ring[s->head]);
        s->head = (s->head + 1) % s->cap;
        s->n--;
        s->dropped++;
    }
    struct au_alert_rec *r = &s->ring[(s->head + s->n) % s->cap];
    s->n++;
    r->src = src;
    src->refs++;
    r->seq = ++s->seq;
    r->wall_ns = s->wall_ns;
    r->span_ns = a->time_ns - a->first_ns;
    r->event_time_ns = a->time_ns;
    r->events = a->n_events;
    r->replay = f->replay;
    r->event_time = a->event_time;
    size_t len = strlen(a->partition);
    r->partition = len < sizeof r->part_buf ? r->part_buf : vx_malloc(len + 1);
    memcpy(r->partition, a->partition, len + 1);
    vx_counter_add(src->c_alerts, 1);
    vx_info("AU-ALERT", "pattern %s partition \"%.200s\" severity %s: %s", a->pattern_id,
            a->partition, au_severity_name(a->severity), a->message);
}

/* Once per match (action 0) the match is counted and the tenant's workflows with a trigger on
 * the pattern start; then each action does its kind. */
void
au_server_on_alert(const struct au_alert *a, void *arg)
{
    struct au_feed *f = arg;
    au_server_t *s = f->s;
    uint64_t t0 = au_cycles();
    const struct au_pattern *pat = au_engine_pattern(f->engine, a->pattern);
    const struct au_action *act = &pat->actions[a->action];
    const char *tenant = pat->tenant;
    struct au_pat_info *pi = a->pattern < s->n_pinfo ? &s->pinfo[a->pattern] : NULL;
    if (a->action == 0) {
        if (pi != NULL) {
            vx_counter_add(pi->c_matches, 1);
        }
        if (au_flows_has_pattern_triggers(s->flows)) {
            struct au_workflow *ws[AU_FLOWS_MAX_FIRE];
            size_t n =
                au_flows_on_pattern(s->flows, tenant, a->pattern_id, ws, AU_FLOWS_MAX_FIRE);
            s_match_start(f, a, tenant, ws, n);
        }
    }
    switch (act->kind) {
    case AU_ACTION_WORKFLOW:
        s_action_workflow(f, a, act, tenant);
        break;
    case AU_ACTION_EMIT:
        s_action_emit(f, a, act, tenant);
        break;
    case AU_ACTION_ALERT:
        if (pi != NULL && pi->src[a->action] != NULL) {
            s_action_alert(f, a, pi->src[a->action]);
        }
        break;
    }
    s->stage_cyc[AU_STAGE_ACTIONS] += au_cycles() - t0;
}

static json_t *
s_rec_json(const struct au_alert_rec *r)
{
    const struct au_alert_src *src = r->src;
    json_t *j = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:i, s:s, s:s}", "seq",
                          (json_int_t)r->seq, "pattern", src->pattern, "tenant", src->tenant,
                          "kind", au_kind_name(src->kind), "severity",
                          au_severity_name(src->severity), "message", src->message,
                          "partition", r->partition, "time_ns", (json_int_t)r->wall_ns,
                          "span_ns", (json_int_t)r->span_ns, "events", (int)r->events, "input",
                          r->replay ? "replay" : "live", "time_mode",
                          r->event_time ? "event" : "processing");
    if (j != NULL && r->event_time) {
        json_object_set_new(j, "event_time_ns", json_integer((json_int_t)r->event_time_ns));
    }
    return j;
}

json_t *
au_server_alerts_json(au_server_t *s, const char *tenant, uint64_t since, size_t limit)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&s->lock);
    uint64_t first = s->seq - s->n + 1; /* seq of ring[head] */
    for (size_t i = 0; i < s->n && json_array_size(arr) < limit; i++) {
        const struct au_alert_rec *r = &s->ring[(s->head + i) % s->cap];
        if (first + i > since && strcmp(r->src->tenant, tenant) == 0) {
            json_array_append_new(arr, s_rec_json(r));
        }
    }
    json_t *j = json_pack("{s:o, s:I, s:I}", "alerts", arr, "dropped", (json_int_t)s->dropped,
                          "last_seq", (json_int_t)s->seq);
    pthread_mutex_unlock(&s->lock);
    return j;
}
