/* SPDX-License-Identifier: Apache-2.0 */
/* Alert rules, anomaly alerts, notifications and system health. */
#include "an_monitor.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "an_notify.h"
#include "an_prom.h"
#include "an_rule.h"
#include "vx_clock.h"
#include "an_state.h"
#include "vx_jsonfile.h"
#include "vx_log.h"
#include "vx_mem.h"

enum s_state { S_INACTIVE, S_PENDING, S_FIRING };
static const char *const s_state_names[] = {"inactive", "pending", "firing"};

struct s_rstate {
    struct an_rule *rule;
    enum s_state state;
    uint64_t since_mono, since_wall, fired_wall;
    double value;
    int series;          /* series that matched at the last scrape; -1: scrape failed */
    uint64_t evaluations;
    char error[256];     /* shown to callers: AN_MON_SCRAPE_FAILED or "" */
    char detail[256];    /* why the last scrape failed, for the log only */
};

struct s_service {
    char *name, *url;
};

struct s_note {
    struct s_note *next;
    char *json;     /* payload */
    char *subject;  /* email subject */
    char *text;     /* email body */
    struct an_rule *actions_of; /* a copy of the rule's actions (owned) or NULL */
    char *anomaly_url;
};

/* A firing anomaly alert: one per query, partition and group (the series' identity). */
struct s_anom {
    char *key;        /* query \x1f partition \x1f group (compact, sorted) */
    char *query;
    json_t *alert;    /* the firing alert of its latest anomalous window */
    uint64_t fired_wall, last_mono;
    uint64_t windows; /* anomalous windows since it fired */
};

struct an_monitor {
    vx_netpolicy_t *netpolicy; /* where webhooks and mail may connect */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool running, stop;
    struct s_rstate **rules;
    size_t n_rules, max_rules;
    struct s_note *pending; /* anomaly notifications for the thread to send */
    struct s_anom *anoms;   /* firing anomaly alerts, oldest first */
    size_t n_anoms, max_anoms;
    uint64_t anom_timeout_ms;
    json_t **recent;
    size_t recent_head, recent_n, max_recent;
    struct s_service *services;
    size_t n_services;
    char *state_dir;
    const vx_sealer_t *sealer; /* seals alert_rules.json; NULL: at_rest.encryption off */
    vx_metrics_t *metrics;     /* borrowed */
    char *anomaly_url;
    char *smtp_url, *smtp_from;
    char **smtp_to;
    size_t n_smtp_to;
    bool notify_on, health_on;
    long interval_ms, scrape_timeout_ms, health_timeout_ms;
    vx_gauge_t *g_rules, *g_firing;
    vx_counter_t *c_evals, *c_scrape_err, *c_anomalies, *c_anom_resolved, *c_anom_evicted;
    vx_counter_t *c_sent[2], *c_failed[2], *c_suppressed;
};

/* ---- helpers -------------------------------------------------------------------------------- */

static uint64_t
s_wall_ms(void)
{
    return vx_wall_ns() / 1000000ULL;
}

/* Splits "a,b,c" into trimmed non-empty items (caller frees each and the array). */
static char **
s_split(const char *list, size_t *n)
{
    char **out = NULL;
    *n = 0;
    char *copy = vx_strdup(list), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') {
            tok++;
        }
        size_t len = strlen(tok);
        while (len && tok[len - 1] == ' ') {
            tok[--len] = '\0';
        }
        if (!len) {
            continue;
        }
        out = vx_realloc(out, (*n + 1) * sizeof *out);
        out[(*n)++] = vx_strdup(tok);
    }
    free(copy);
    return out;
}

static void
s_recent_add(an_monitor_t *m, json_t *j)
{
    if (m->recent_n == m->max_recent) {
        json_decref(m->recent[m->recent_head]);
        m->recent[m->recent_head] = j;
        m->recent_head = (m->recent_head + 1) % m->max_recent;
    } else {
        m->recent[(m->recent_head + m->recent_n++) % m->max_recent] = j;
    }
}

static struct s_rstate *
s_find(an_monitor_t *m, const char *name, size_t *idx)
{
    for (size_t i = 0; i < m->n_rules; i++) {
        if (strcmp(m->rules[i]->rule->name, name) == 0) {
            if (idx) {
                *idx = i;
            }
            return m->rules[i];
        }
    }
    return NULL;
}

static void
s_rstate_free(struct s_rstate **rsp)
{
    an_rule_destroy(&(*rsp)->rule);
    free(*rsp);
    *rsp = NULL;
}

static json_t *
s_alert_json(const struct s_rstate *rs, const char *status)
{
    const struct an_rule *r = rs->rule;
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:O, s:s, s:f, s:I, s:s}", "source", "rule",
                          "status", status, "rule", r->name, "severity", r->severity, "metric",
                          r->metric, "labels", json_object_get(r->json, "labels"), "condition",
                          an_cond_name(r->cond), "threshold", r->threshold, "for_ms",
                          (json_int_t)r->for_ms, "target", r->target);
    if (rs->series > 0) {
        json_object_set_new(j, "value", json_real(rs->value));
    }
    if (rs->state != S_INACTIVE || strcmp(status, "resolved") == 0) {
        json_object_set_new(j, "pending_since_ms", json_integer((json_int_t)rs->since_wall));
    }
    if (rs->fired_wall) {
        json_object_set_new(j, "fired_at_ms", json_integer((json_int_t)rs->fired_wall));
    }
    return j;
}

/* Saves the rules to state_dir/alert_rules.json (durably: vx_jsonfile.h). Lock held. */
static void
s_save(an_monitor_t *m)
{
    if (!m->state_dir || !*m->state_dir) {
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < m->n_rules; i++) {
        json_array_append(arr, m->rules[i]->rule->json);
    }
    an_state_save(m->sealer, m->metrics, m->state_dir, "alert_rules.json", arr);
    json_decref(arr);
}

/* Checks what the rule needs from the configuration (email needs an SMTP server and
 * recipients). */
static int
s_check_config(an_monitor_t *m, const struct an_rule *r, char *err, size_t errlen)
{
    for (size_t i = 0; i < r->n_actions; i++) {
        const struct an_action *a = &r->actions[i];
        if (a->type != AN_ACTION_EMAIL) {
            continue;
        }
        if (!*m->smtp_url) {
            snprintf(err, errlen, "actions[%zu]: email needs monitoring.smtp_url", i);
            return -EINVAL;
        }
        if (a->n_to == 0 && m->n_smtp_to == 0) {
            snprintf(err, errlen, "actions[%zu].to: no recipient and no monitoring.smtp_to", i);
            return -EINVAL;
        }
    }
    return 0;
}

static void
s_install(an_monitor_t *m, struct an_rule *r)
{
    struct s_rstate *rs = vx_calloc(1, sizeof *rs);
    rs->rule = r;
    m->rules = vx_realloc(m->rules, (m->n_rules + 1) * sizeof *m->rules);
    m->rules[m->n_rules++] = rs;
    vx_gauge_set(m->g_rules, (double)m->n_rules);
}

static void
s_sync_firing(an_monitor_t *m)
{
    size_t firing = 0;
    for (size_t i = 0; i < m->n_rules; i++) {
        firing += m->rules[i]->state == S_FIRING;
    }
    vx_gauge_set(m->g_firing, (double)firing);
}

/* ---- notifications ---------------------------------------------------------------------------- */

/* A copy of a rule's actions, so the notification can be sent without the lock. */
static struct an_rule *
s_actions_copy(const struct an_rule *r)
{
    struct an_rule *c = NULL;
    char err[256];
    if (an_rule_parse(r->json, &c, err, sizeof err) < 0) {
        return NULL; /* not reached: the rule was accepted from the same JSON */
    }
    return c;
}

/* Appends "label: value" for a member of the alert when present. */
static void
s_line(char **text, const char *label, json_t *v)
{
    char num[64], *val = NULL, *old = *text;
    if (json_is_string(v)) {
        val = vx_strdup(json_string_value(v));
    } else if (json_is_number(v)) {
        snprintf(num, sizeof num, "%.17g", json_number_value(v));
        val = vx_strdup(num);
    } else if (v && !json_is_null(v)) {
        val = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    }
    if (!val) {
        return;
    }
    if (asprintf(text, "%s%-11s %s\n", old, label, val) < 0) {
        vx_oom(0);
    }
    free(old);
    free(val);
}

/* The subject and the plain-text body of an alert's email. */
static void
s_mail(struct s_note *n, json_t *p)
{
    const char *status = json_string_value(json_object_get(p, "status"));
    const char *name = json_string_value(json_object_get(p, "rule"));
    const char *sev = json_string_value(json_object_get(p, "severity"));
    const char *metric = json_string_value(json_object_get(p, "metric"));
    const char *cond = json_string_value(json_object_get(p, "condition"));
    json_t *value = json_object_get(p, "value");
    char vtext[64] = "no value";
    if (json_is_number(value)) {
        snprintf(vtext, sizeof vtext, "value %.17g", json_number_value(value));
    }
    int rc;
    if (metric && cond) {
        rc = asprintf(&n->subject, "[vexfs %s] %s %s: %s %s %.17g (%s)", sev ? sev : "alert",
                      name ? name : "?", status ? status : "", metric, cond,
                      json_number_value(json_object_get(p, "threshold")), vtext);
    } else {
        rc = asprintf(&n->subject, "[vexfs %s] %s %s", sev ? sev : "alert",
                      name ? name : "anomaly", status ? status : "");
    }
    if (rc < 0) {
        vx_oom(0);
    }
    n->text = vx_strdup("");
    s_line(&n->text, "Alert:", json_object_get(p, "rule"));
    s_line(&n->text, "Status:", json_object_get(p, "status"));
    s_line(&n->text, "Severity:", json_object_get(p, "severity"));
    s_line(&n->text, "Metric:", json_object_get(p, "metric"));
    s_line(&n->text, "Labels:", json_object_get(p, "labels"));
    s_line(&n->text, "Condition:", json_object_get(p, "condition"));
    s_line(&n->text, "Threshold:", json_object_get(p, "threshold"));
    s_line(&n->text, "Value:", value);
    s_line(&n->text, "Target:", json_object_get(p, "target"));
    s_line(&n->text, "Held ms:", json_object_get(p, "held_ms"));
    s_line(&n->text, "Resolved:", json_object_get(p, "resolved_at_ms"));
    char *json = json_dumps(p, JSON_INDENT(2) | JSON_SORT_KEYS), *old = n->text;
    if (asprintf(&n->text, "%s\nThe alert as JSON (as sent to webhooks):\n%s\n", old,
                 json ? json : "{}") < 0) {
        vx_oom(0);
    }
    free(old);
    free(json);
}

static void
s_queue(struct s_note **list, json_t *payload, const struct an_rule *r, const char *anomaly_url)
{
    struct s_note *n = vx_calloc(1, sizeof *n);
    n->json = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS);
    if (r) {
        s_mail(n, payload);
    }
    n->actions_of = r ? s_actions_copy(r) : NULL;
    n->anomaly_url = anomaly_url ? vx_strdup(anomaly_url) : NULL;
    n->next = *list;
    *list = n;
}

static void
s_count(an_monitor_t *m, int kind, int rc, const char *where, const char *err)
{
    if (rc == 0) {
        vx_counter_add(m->c_sent[kind], 1);
    } else {
        vx_counter_add(m->c_failed[kind], 1);
        vx_warn("AN-ALERT-NOTIFY", "%s: %s", where, err);
    }
}

/* Sends and frees the queued notifications. Without the lock. */
static void
s_send(an_monitor_t *m, struct s_note *list)
{
    while (list) {
        struct s_note *n = list;
        list = n->next;
        char err[512];
        if (!m->notify_on) {
            vx_counter_add(m->c_suppressed, 1);
        } else if (n->anomaly_url) {
            int rc = an_notify_webhook(m->netpolicy, n->anomaly_url, n->json,
                                       m->scrape_timeout_ms, err, sizeof err);
            s_count(m, 0, rc, n->anomaly_url, err);
        } else if (n->actions_of) {
            for (size_t i = 0; i < n->actions_of->n_actions; i++) {
                const struct an_action *a = &n->actions_of->actions[i];
                if (a->type == AN_ACTION_WEBHOOK) {
                    int rc = an_notify_webhook(m->netpolicy, a->url, n->json,
                                               m->scrape_timeout_ms, err, sizeof err);
                    s_count(m, 0, rc, a->url, err);
                } else {
                    struct an_smtp smtp = {m->smtp_url, m->smtp_from, m->scrape_timeout_ms};
                    int rc = a->n_to ? an_notify_email(m->netpolicy, &smtp, a->to, a->n_to,
                                                       n->subject, n->text, err, sizeof err)
                                     : an_notify_email(m->netpolicy, &smtp, m->smtp_to,
                                                       m->n_smtp_to, n->subject, n->text, err,
                                                       sizeof err);
                    char where[2300], server[1100];
                    vx_mask_urls(m->smtp_url, server, sizeof server);
                    snprintf(where, sizeof where, "%s: email to %s%s via %s",
                             n->actions_of->name,
                             a->n_to ? a->to[0] : m->n_smtp_to ? m->smtp_to[0] : "(nobody)",
                             (a->n_to ? a->n_to : m->n_smtp_to) > 1 ? " and others" : "",
                             server);
                    s_count(m, 1, rc, where, err);
                }
            }
        }
        free(n->json);
        free(n->subject);
        free(n->text);
        free(n->anomaly_url);
        an_rule_destroy(&n->actions_of);
        free(n);
    }
}

static void s_anom_expire(an_monitor_t *m);

/* ---- evaluation --------------------------------------------------------------------------- */

struct s_scrape {
    char *name, *target, *metric;
    char **keys, **vals;
    size_t n;
    int series;
    double value;
    char error[256];
};

/* Applies one scrape to its rule's state; queues notifications. Lock held. */
static void
s_apply(an_monitor_t *m, const struct s_scrape *sc, struct s_note **notes)
{
    struct s_rstate *rs = s_find(m, sc->name, NULL);
    if (!rs || strcmp(rs->rule->target, sc->target) != 0 ||
        strcmp(rs->rule->metric, sc->metric) != 0) {
        return; /* deleted or replaced meanwhile */
    }
    rs->evaluations++;
    vx_counter_add(m->c_evals, 1);
    if (sc->series < 0) {
        rs->series = -1;
        snprintf(rs->error, sizeof rs->error, "%s", AN_MON_SCRAPE_FAILED);
        if (strcmp(rs->detail, sc->error) != 0) {
            /* The reason only in the log, and only when it changes, so a target that stays
             * down does not fill the log. */
            char target[600];
            vx_mask_urls(sc->target, target, sizeof target);
            vx_warn("AN-ALERT-SCRAPE", "%s: scraping %s failed: %s", rs->rule->name, target,
                    sc->error);
            snprintf(rs->detail, sizeof rs->detail, "%s", sc->error);
        }
        vx_counter_add(m->c_scrape_err, 1);
        return; /* unknown: the state stays */
    }
    rs->error[0] = '\0';
    rs->detail[0] = '\0';
    rs->series = sc->series;
    rs->value = sc->value;
    bool holds = sc->series > 0 && an_rule_holds(rs->rule, sc->value);
    uint64_t now = vx_mono_ns();
    if (holds) {
        if (rs->state == S_INACTIVE) {
            rs->state = S_PENDING;
            rs->since_mono = now;
            rs->since_wall = s_wall_ms();
            rs->fired_wall = 0;
        }
        if (rs->state == S_PENDING && now - rs->since_mono >= rs->rule->for_ms * VX_NS_PER_MS) {
            rs->state = S_FIRING;
            rs->fired_wall = s_wall_ms();
            json_t *a = s_alert_json(rs, "firing");
            json_object_set_new(a, "held_ms", json_integer((json_int_t)((now - rs->since_mono) /
                                                                        VX_NS_PER_MS)));
            json_object_set_new(a, "at_ms", json_integer((json_int_t)rs->fired_wall));
            s_queue(notes, a, rs->rule, NULL);
            s_recent_add(m, a);
            vx_warn("AN-ALERT-FIRING", "%s: %s %s %g (value %g)", rs->rule->name,
                    rs->rule->metric, an_cond_name(rs->rule->cond), rs->rule->threshold,
                    sc->value);
        }
    } else if (rs->state == S_FIRING) {
        json_t *a = s_alert_json(rs, "resolved");
        json_object_set_new(a, "at_ms", json_integer((json_int_t)s_wall_ms()));
        json_object_set_new(a, "resolved_at_ms", json_integer((json_int_t)s_wall_ms()));
        s_queue(notes, a, rs->rule, NULL);
        s_recent_add(m, a);
        rs->state = S_INACTIVE;
        rs->fired_wall = 0;
        vx_info("AN-ALERT-RESOLVED", "%s resolved", rs->rule->name);
    } else {
        rs->state = S_INACTIVE;
    }
}

static void
s_scrape(struct s_scrape *sc, long timeout_ms)
{
    long status = 0;
    char *body = NULL;
    size_t len = 0;
    if (an_fetch(sc->target, timeout_ms, &status, &body, &len, sc->error, sizeof sc->error) < 0) {
        sc->series = -1;
        return;
    }
    if (status != 200) {
        snprintf(sc->error, sizeof sc->error, "HTTP %ld", status);
        sc->series = -1;
    } else if (!an_prom_is_exposition(body, len)) {
        snprintf(sc->error, sizeof sc->error, "HTTP 200 but no Prometheus text (%zu bytes)", len);
        sc->series = -1;
    } else {
        sc->series = an_prom_sum(body, len, sc->metric, sc->keys, sc->vals, sc->n, &sc->value);
    }
    free(body);
}

static void
s_scrape_free(struct s_scrape *sc)
{
    free(sc->name);
    free(sc->target);
    free(sc->metric);
    for (size_t i = 0; i < sc->n; i++) {
        free(sc->keys[i]);
        free(sc->vals[i]);
    }
    free(sc->keys);
    free(sc->vals);
}

/* One round: copies what to scrape, scrapes without the lock, applies, notifies. */
static void
s_round(an_monitor_t *m)
{
    pthread_mutex_lock(&m->lock);
    size_t n = m->n_rules;
    struct s_scrape *sc = vx_calloc(n ? n : 1, sizeof *sc);
    for (size_t i = 0; i < n; i++) {
        const struct an_rule *r = m->rules[i]->rule;
        sc[i].name = vx_strdup(r->name);
        sc[i].target = vx_strdup(r->target);
        sc[i].metric = vx_strdup(r->metric);
        sc[i].n = r->n_labels;
        sc[i].keys = vx_calloc(r->n_labels + 1, sizeof *sc[i].keys);
        sc[i].vals = vx_calloc(r->n_labels + 1, sizeof *sc[i].vals);
        for (size_t k = 0; k < r->n_labels; k++) {
            sc[i].keys[k] = vx_strdup(r->label_keys[k]);
            sc[i].vals[k] = vx_strdup(r->label_values[k]);
        }
    }
    pthread_mutex_unlock(&m->lock);
    for (size_t i = 0; i < n; i++) {
        s_scrape(&sc[i], m->scrape_timeout_ms);
    }
    pthread_mutex_lock(&m->lock);
    s_anom_expire(m);
    struct s_note *notes = m->pending;
    m->pending = NULL;
    for (size_t i = 0; i < n; i++) {
        s_apply(m, &sc[i], &notes);
        s_scrape_free(&sc[i]);
    }
    s_sync_firing(m);
    pthread_mutex_unlock(&m->lock);
    free(sc);
    s_send(m, notes);
}

static void *
cb_thread(void *arg)
{
    an_monitor_t *m = arg;
    pthread_mutex_lock(&m->lock);
    while (!m->stop) {
        pthread_mutex_unlock(&m->lock);
        s_round(m);
        pthread_mutex_lock(&m->lock);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)m->interval_ms * 1000000ULL;
        ts.tv_sec += (time_t)(ns / 1000000000ULL);
        ts.tv_nsec = (long)(ns % 1000000000ULL);
        if (!m->stop) {
            pthread_cond_timedwait(&m->wake, &m->lock, &ts);
        }
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

/* ---- rules over REST -------------------------------------------------------------------------- */

int
an_monitor_put_rule(an_monitor_t *m, json_t *body, bool replace, bool *created, char *err,
                    size_t errlen)
{
    struct an_rule *r = NULL;
    int rc = an_rule_parse(body, &r, err, errlen);
    if (rc < 0) {
        return rc;
    }
    rc = s_check_config(m, r, err, errlen);
    if (rc < 0) {
        an_rule_destroy(&r);
        return rc;
    }
    pthread_mutex_lock(&m->lock);
    size_t idx;
    struct s_rstate *old = s_find(m, r->name, &idx);
    if (old && !replace) {
        snprintf(err, errlen, "rule '%s' exists (PUT /v1/alert-rules/%s replaces it)", r->name,
                 r->name);
        rc = -EEXIST;
    } else if (!old && m->n_rules >= m->max_rules) {
        snprintf(err, errlen, "at most %zu rules (monitoring.max_alert_rules)", m->max_rules);
        rc = -ENOSPC;
    } else {
        if (old) {
            s_rstate_free(&m->rules[idx]);
            m->rules[idx] = m->rules[--m->n_rules];
        }
        *created = old == NULL;
        vx_info("AN-ALERT-RULE", "rule %s %s", r->name, old ? "replaced" : "added");
        s_install(m, r);
        r = NULL;
        s_save(m);
        s_sync_firing(m);
    }
    pthread_mutex_unlock(&m->lock);
    an_rule_destroy(&r);
    return rc;
}

/* The index of the rule named name in rs[0..n), or -1. */
static long
s_named(struct an_rule **rs, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rs[i]->name, name) == 0) {
            return (long)i;
        }
    }
    return -1;
}

/* The stored definitions (lock held; new reference). */
static json_t *
s_defs(an_monitor_t *m)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < m->n_rules; i++) {
        json_array_append(arr, m->rules[i]->rule->json);
    }
    return arr;
}

/* Validates every rule of defs into rs[], naming the one refused. */
static int
s_parse_all(an_monitor_t *m, json_t *defs, struct an_rule **rs, char *err, size_t errlen)
{
    size_t j;
    json_t *d;
    json_array_foreach(defs, j, d) {
        char why[512];
        const char *name = json_string_value(json_object_get(d, "name"));
        int rc = an_rule_parse(d, &rs[j], why, sizeof why);
        if (rc == 0) {
            rc = s_check_config(m, rs[j], why, sizeof why);
        }
        if (rc == 0 && s_named(rs, j, rs[j]->name) >= 0) {
            snprintf(why, sizeof why, "name: named twice");
            rc = -EINVAL;
        }
        if (rc < 0) {
            snprintf(err, errlen, "rules[%zu]%s%.128s%s: %s", j, name ? " (name \"" : "",
                     name ? name : "", name ? "\")" : "", why);
            return rc;
        }
    }
    return 0;
}

int
an_monitor_change_rules(an_monitor_t *m, json_t *defs, bool merge, const char *if_match,
                        char etag[VX_ETAG_LEN], char *err, size_t errlen)
{
    size_t n = json_array_size(defs);
    struct an_rule **rs = vx_calloc(n + 1, sizeof *rs);
    int rc = s_parse_all(m, defs, rs, err, errlen);
    if (rc < 0) {
        goto out;
    }
    pthread_mutex_lock(&m->lock);
    json_t *cur = s_defs(m);
    vx_etag_of(cur, "name", etag);
    json_decref(cur);
    size_t after = merge ? m->n_rules : 0;
    for (size_t j = 0; j < n; j++) {
        after += merge && s_find(m, rs[j]->name, NULL) != NULL ? 0 : 1;
    }
    if (!vx_etag_matches(if_match, etag)) {
        snprintf(err, errlen,
                 "the alert rules changed since they were read (If-Match %.64s, now %s): "
                 "nothing changed; read them again",
                 if_match, etag);
        rc = -ESTALE;
    } else if (after > m->max_rules) {
        snprintf(err, errlen, "at most %zu rules (monitoring.max_alert_rules)", m->max_rules);
        rc = -ENOSPC;
    } else {
        for (size_t i = m->n_rules; !merge && i-- > 0;) {
            if (s_named(rs, n, m->rules[i]->rule->name) < 0) {
                vx_info("AN-ALERT-RULE", "rule %s deleted", m->rules[i]->rule->name);
                s_rstate_free(&m->rules[i]);
                m->rules[i] = m->rules[--m->n_rules];
            }
        }
        /* A rule whose definition is unchanged keeps its state (pending, firing). */
        for (size_t j = 0; j < n; j++) {
            size_t idx;
            struct s_rstate *old = s_find(m, rs[j]->name, &idx);
            if (old && json_equal(old->rule->json, rs[j]->json)) {
                continue;
            }
            if (old) {
                s_rstate_free(&m->rules[idx]);
                m->rules[idx] = m->rules[--m->n_rules];
            }
            vx_info("AN-ALERT-RULE", "rule %s %s", rs[j]->name, old ? "replaced" : "added");
            s_install(m, rs[j]);
            rs[j] = NULL;
        }
        vx_gauge_set(m->g_rules, (double)m->n_rules);
        s_save(m);
        s_sync_firing(m);
        cur = s_defs(m);
        vx_etag_of(cur, "name", etag);
        json_decref(cur);
    }
    pthread_mutex_unlock(&m->lock);
out:
    for (size_t j = 0; j < n; j++) {
        an_rule_destroy(&rs[j]);
    }
    free(rs);
    return rc;
}

json_t *
an_monitor_rule_defs(an_monitor_t *m)
{
    pthread_mutex_lock(&m->lock);
    json_t *arr = s_defs(m);
    pthread_mutex_unlock(&m->lock);
    return arr;
}

int
an_monitor_delete_rule(an_monitor_t *m, const char *name)
{
    pthread_mutex_lock(&m->lock);
    size_t idx;
    int rc = -ENOENT;
    if (s_find(m, name, &idx)) {
        s_rstate_free(&m->rules[idx]);
        m->rules[idx] = m->rules[--m->n_rules];
        vx_gauge_set(m->g_rules, (double)m->n_rules);
        s_save(m);
        s_sync_firing(m);
        rc = 0;
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static json_t *
s_rule_json(const struct s_rstate *rs)
{
    json_t *j = json_deep_copy(rs->rule->json);
    json_t *st = json_pack("{s:s, s:I}", "state", s_state_names[rs->state], "evaluations",
                           (json_int_t)rs->evaluations);
    if (rs->series > 0) {
        json_object_set_new(st, "value", json_real(rs->value));
    }
    json_object_set_new(st, "series", json_integer(rs->series));
    if (rs->error[0]) {
        json_object_set_new(st, "error", json_string(rs->error));
    }
    json_object_set_new(j, "status", st);
    return j;
}

json_t *
an_monitor_get_rule(an_monitor_t *m, const char *name)
{
    pthread_mutex_lock(&m->lock);
    json_t *out = NULL;
    if (name) {
        struct s_rstate *rs = s_find(m, name, NULL);
        out = rs ? s_rule_json(rs) : NULL;
    } else {
        out = json_array();
        for (size_t i = 0; i < m->n_rules; i++) {
            json_array_append_new(out, s_rule_json(m->rules[i]));
        }
    }
    pthread_mutex_unlock(&m->lock);
    return out;
}

json_t *
an_monitor_alerts(an_monitor_t *m)
{
    pthread_mutex_lock(&m->lock);
    json_t *active = json_array(), *recent = json_array();
    for (size_t i = 0; i < m->n_rules; i++) {
        const struct s_rstate *rs = m->rules[i];
        if (rs->state != S_INACTIVE) {
            json_array_append_new(active, s_alert_json(rs, s_state_names[rs->state]));
        }
    }
    for (size_t i = 0; i < m->n_anoms; i++) {
        json_array_append(active, m->anoms[i].alert);
    }
    for (size_t i = 0; i < m->recent_n; i++) {
        json_array_append(recent, m->recent[(m->recent_head + i) % m->max_recent]);
    }
    pthread_mutex_unlock(&m->lock);
    return json_pack("{s:o, s:o}", "active", active, "recent", recent);
}

/* The identity of an anomaly's series without its aggregation (caller frees). */
static char *
s_anom_key(const char *query, int partition, json_t *group)
{
    char *g = group ? json_dumps(group, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
    char *key = NULL;
    if (asprintf(&key, "%s\x1f%d\x1f%s", query, partition, g ? g : "{}") < 0) {
        vx_oom(0);
    }
    free(g);
    return key;
}

static struct s_anom *
s_anom_find(an_monitor_t *m, const char *key)
{
    for (size_t i = 0; i < m->n_anoms; i++) {
        if (strcmp(m->anoms[i].key, key) == 0) {
            return &m->anoms[i];
        }
    }
    return NULL;
}

/* Resolves the firing anomaly alert i: a resolved alert in recent and for the webhook, the
 * entry removed (order kept). window: the normal window that resolved it, or NULL. Lock held. */
static void
s_anom_resolve(an_monitor_t *m, size_t i, const char *reason, json_t *window)
{
    struct s_anom *a = &m->anoms[i];
    uint64_t now = s_wall_ms();
    json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:O}", "source", "anomaly",
                          "status", "resolved", "severity", "warning", "reason", reason, "at_ms",
                          (json_int_t)now, "resolved_at_ms", (json_int_t)now, "fired_at_ms",
                          (json_int_t)a->fired_wall, "anomalous_windows",
                          (json_int_t)a->windows, "anomaly",
                          json_object_get(a->alert, "anomaly"));
    if (window) {
        json_object_set(r, "resolved_by_window", window);
    }
    if (*m->anomaly_url) {
        s_queue(&m->pending, r, NULL, m->anomaly_url);
        pthread_cond_signal(&m->wake);
    }
    s_recent_add(m, r);
    vx_counter_add(m->c_anom_resolved, 1);
    vx_info("AN-ANOMALY-RESOLVED", "anomaly alert of query %s resolved (%s)", a->query, reason);
    free(a->key);
    free(a->query);
    json_decref(a->alert);
    memmove(&m->anoms[i], &m->anoms[i + 1], (m->n_anoms - i - 1) * sizeof *m->anoms);
    m->n_anoms--;
}

void
an_monitor_anomaly(an_monitor_t *m, json_t *anomaly)
{
    uint64_t now = s_wall_ms();
    json_t *a = json_pack("{s:s, s:s, s:s, s:I, s:O}", "source", "anomaly", "status", "firing",
                          "severity", "warning", "at_ms", (json_int_t)now, "anomaly", anomaly);
    const char *query = json_string_value(json_object_get(anomaly, "query"));
    char *key = s_anom_key(query ? query : "", (int)json_integer_value(json_object_get(anomaly,
                                                                                      "partition")),
                           json_object_get(anomaly, "group"));
    pthread_mutex_lock(&m->lock);
    vx_counter_add(m->c_anomalies, 1);
    struct s_anom *fa = s_anom_find(m, key);
    if (fa) {
        /* the same series again (or another aggregation of the same window): still firing */
        json_object_set_new(a, "fired_at_ms", json_integer((json_int_t)fa->fired_wall));
        json_decref(fa->alert);
        fa->alert = json_incref(a);
        fa->windows++;
        fa->last_mono = vx_mono_ns();
        free(key);
    } else {
        if (m->n_anoms == m->max_anoms) {
            vx_counter_add(m->c_anom_evicted, 1);
            s_anom_resolve(m, 0, "evicted", NULL);
        }
        json_object_set_new(a, "fired_at_ms", json_integer((json_int_t)now));
        m->anoms = vx_realloc(m->anoms, (m->n_anoms + 1) * sizeof *m->anoms);
        m->anoms[m->n_anoms++] = (struct s_anom){key, vx_strdup(query ? query : ""),
                                                 json_incref(a), now, vx_mono_ns(), 1};
    }
    if (*m->anomaly_url) {
        /* sent by the evaluation thread: the caller (the analytics loop) must not wait */
        s_queue(&m->pending, a, NULL, m->anomaly_url);
        pthread_cond_signal(&m->wake);
    }
    s_recent_add(m, a);
    pthread_mutex_unlock(&m->lock);
}

void
an_monitor_window_normal(an_monitor_t *m, const char *query, int partition, json_t *group,
                         uint64_t start_ns, uint64_t end_ns)
{
    pthread_mutex_lock(&m->lock);
    if (m->n_anoms == 0) {
        pthread_mutex_unlock(&m->lock);
        return;
    }
    char *key = s_anom_key(query, partition, group);
    struct s_anom *fa = s_anom_find(m, key);
    if (fa) {
        json_t *w = json_pack("{s:I, s:I}", "start_ns", (json_int_t)start_ns, "end_ns",
                              (json_int_t)end_ns);
        s_anom_resolve(m, (size_t)(fa - m->anoms), "normal_window", w);
        json_decref(w);
    }
    pthread_mutex_unlock(&m->lock);
    free(key);
}

void
an_monitor_forget_query(an_monitor_t *m, const char *query)
{
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->n_anoms;) {
        if (strcmp(m->anoms[i].query, query) == 0) {
            s_anom_resolve(m, i, "query_removed", NULL);
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&m->lock);
}

/* Resolves the anomaly alerts without a window for anomaly_resolve_after_ms. Lock held. */
static void
s_anom_expire(an_monitor_t *m)
{
    if (m->anom_timeout_ms == 0) {
        return;
    }
    uint64_t now = vx_mono_ns();
    for (size_t i = 0; i < m->n_anoms;) {
        if (now - m->anoms[i].last_mono >= m->anom_timeout_ms * VX_NS_PER_MS) {
            s_anom_resolve(m, i, "timeout", NULL);
        } else {
            i++;
        }
    }
}

/* ---- health ------------------------------------------------------------------------------------ */

json_t *
an_monitor_health(an_monitor_t *m, int *rc)
{
    *rc = 0;
    if (!m->health_on) {
        *rc = -ENOTSUP;
        return NULL;
    }
    if (m->n_services == 0) {
        *rc = -ENOENT; /* nothing to probe: "healthy (0 of 0)" would be a claim about nothing */
        return NULL;
    }
    json_t *services = json_array();
    size_t up = 0, down = 0;
    for (size_t i = 0; i < m->n_services; i++) {
        const struct s_service *sv = &m->services[i];
        char url[VX_PATH_MAX], err[256] = "";
        long hs = 0, rs = 0;
        uint64_t t0 = vx_mono_ns();
        snprintf(url, sizeof url, "%s/health", sv->url);
        int hrc = an_fetch(url, m->health_timeout_ms, &hs, NULL, NULL, err, sizeof err);
        if (hrc == 0) {
            snprintf(url, sizeof url, "%s/ready", sv->url);
            if (an_fetch(url, m->health_timeout_ms, &rs, NULL, NULL, err, sizeof err) < 0) {
                rs = 0;
            }
        }
        const char *status = hrc < 0 || hs != 200 ? "down" : rs == 200 ? "up" : "not_ready";
        up += strcmp(status, "up") == 0;
        down += strcmp(status, "down") == 0;
        json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:i, s:f}", "name", sv->name, "url", sv->url,
                              "status", status, "health_code", (int)hs, "ready_code", (int)rs,
                              "latency_ms", (double)(vx_mono_ns() - t0) / 1e6);
        if (err[0]) {
            json_object_set_new(j, "error", json_string(err));
        }
        json_array_append_new(services, j);
    }
    const char *overall = up == m->n_services ? "healthy"
                          : down * 2 > m->n_services ? "critical"
                                                     : "degraded";
    return json_pack("{s:s, s:I, s:I, s:I, s:o}", "status", overall, "services_up",
                     (json_int_t)up, "services_down", (json_int_t)down, "services_total",
                     (json_int_t)m->n_services, "services", services);
}

/* ---- construction ------------------------------------------------------------------------------ */

static int
s_load(an_monitor_t *m, const char *path, bool missing_ok, char *err, size_t errlen)
{
    json_t *arr = NULL;
    bool stale = false;
    /* missing_ok: the state folder's file, sealed at rest */
    int lrc = an_defs_read(m->sealer, m->metrics, m->state_dir, "alert_rules.json", path, missing_ok,
                           &arr, &stale, err, errlen);
    if (lrc != 0) {
        return lrc;
    }
    int rc = 0;
    if (!json_is_array(arr)) {
        snprintf(err, errlen, "%s: expected a JSON array of alert rules", path);
        rc = -EINVAL;
    }
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        char sub[512];
        struct an_rule *r = NULL;
        if (rc < 0) {
            break;
        }
        if (an_rule_parse(v, &r, sub, sizeof sub) < 0 || s_check_config(m, r, sub, sizeof sub) < 0) {
            snprintf(err, errlen, "%s: rule %zu: %s", path, i, sub);
            rc = -EINVAL;
        } else if (s_find(m, r->name, NULL)) {
            snprintf(err, errlen, "%s: rule %zu: name '%s' appears twice", path, i, r->name);
            rc = -EINVAL;
        } else {
            s_install(m, r);
            r = NULL;
        }
        an_rule_destroy(&r);
    }
    json_decref(arr);
    if (rc == 0 && stale) { /* plaintext, or sealed under an older key: sealed anew */
        s_save(m);
        vx_info("AN-STATE-SEALED", "%s sealed under data key %u", path,
                (unsigned)vx_sealer_key_id(m->sealer));
    }
    return rc;
}

static int
s_services(an_monitor_t *m, const char *list, char *err, size_t errlen)
{
    size_t n = 0;
    char **items = s_split(list, &n);
    int rc = 0;
    m->services = vx_calloc(n + 1, sizeof *m->services);
    for (size_t i = 0; i < n; i++) {
        char *eq = strchr(items[i], '=');
        if (rc == 0 && (!eq || eq == items[i] ||
                        (strncmp(eq + 1, "http://", 7) != 0 && strncmp(eq + 1, "https://", 8) != 0))) {
            snprintf(err, errlen, "monitoring.services: '%s': expected name=http://host:port",
                     items[i]);
            rc = -EINVAL;
        } else if (rc == 0) {
            *eq = '\0';
            size_t ul = strlen(eq + 1);
            while (ul && eq[ul] == '/') { /* no trailing slash: paths are appended */
                eq[ul--] = '\0';
            }
            m->services[m->n_services].name = vx_strdup(items[i]);
            m->services[m->n_services++].url = vx_strdup(eq + 1);
        }
        free(items[i]);
    }
    free(items);
    return rc;
}

an_monitor_t *
an_monitor_new(const struct an_mon_config *cfg, vx_metrics_t *metrics, const char *state_dir,
               const vx_sealer_t *sealer, char *err, size_t errlen)
{
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread: it is not thread-safe */
    an_monitor_t *m = vx_calloc(1, sizeof *m);
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->wake, NULL);
    m->max_rules = (size_t)cfg->max_alert_rules;
    m->max_recent = (size_t)cfg->alert_history;
    m->recent = vx_calloc(m->max_recent, sizeof *m->recent);
    m->interval_ms = (long)cfg->metrics_collection_interval_ms;
    m->scrape_timeout_ms = (long)cfg->scrape_timeout_ms;
    m->health_timeout_ms = (long)cfg->health_timeout_ms;
    m->notify_on = cfg->enable_real_time_alerts;
    m->health_on = cfg->enable_health_monitoring;
    m->state_dir = vx_strdup(state_dir ? state_dir : "");
    m->sealer = sealer;
    m->metrics = metrics;
    m->anomaly_url = vx_strdup(cfg->anomaly_webhook_url);
    m->max_anoms = (size_t)cfg->max_active_anomaly_alerts;
    m->anom_timeout_ms = (uint64_t)cfg->anomaly_resolve_after_ms;
    m->smtp_url = vx_strdup(cfg->smtp_url);
    m->smtp_from = vx_strdup(cfg->smtp_from);
    m->smtp_to = s_split(cfg->smtp_to, &m->n_smtp_to);
    m->g_rules = vx_metrics_gauge(metrics, "vexfs_analytics_alert_rules", "Alert rules installed.",
                                  NULL);
    m->g_firing = vx_metrics_gauge(metrics, "vexfs_analytics_alerts_firing",
                                   "Alert rules firing now.", NULL);
    m->c_evals = vx_metrics_counter(metrics, "vexfs_analytics_alert_evaluations_total",
                                    "Alert rule evaluations.", NULL);
    m->c_scrape_err = vx_metrics_counter(metrics, "vexfs_analytics_alert_scrape_errors_total",
                                         "Alert rule scrapes that failed (state kept).", NULL);
    m->c_anomalies = vx_metrics_counter(metrics, "vexfs_analytics_anomaly_alerts_total",
                                        "Anomalies raised as alerts.", NULL);
    m->c_anom_resolved = vx_metrics_counter(metrics, "vexfs_analytics_anomaly_alerts_resolved_total",
                                            "Anomaly alerts resolved (normal window, timeout, "
                                            "query removed or evicted).",
                                            NULL);
    m->c_anom_evicted = vx_metrics_counter(metrics, "vexfs_analytics_anomaly_alerts_evicted_total",
                                           "Anomaly alerts resolved early because "
                                           "max_active_anomaly_alerts were firing.",
                                           NULL);
    static const char *const kinds[] = {"webhook", "email"};
    const char *help = "Alert notifications, by action and result.";
    for (int k = 0; k < 2; k++) {
        m->c_sent[k] = vx_metrics_counter(metrics, "vexfs_analytics_alert_notifications_total",
                                          help, "action", kinds[k], "result", "sent", NULL);
        m->c_failed[k] = vx_metrics_counter(metrics, "vexfs_analytics_alert_notifications_total",
                                            help, "action", kinds[k], "result", "failed", NULL);
    }
    m->c_suppressed = vx_metrics_counter(metrics, "vexfs_analytics_alert_notifications_total",
                                         help, "action", "any", "result", "suppressed", NULL);
    const struct {
        const char *name;
        bool on;
    } features[] = {{"prometheus_export", cfg->enable_prometheus_export},
                    {"real_time_alerts", cfg->enable_real_time_alerts},
                    {"performance_monitoring", cfg->enable_performance_monitoring},
                    {"health_monitoring", cfg->enable_health_monitoring}};
    for (size_t i = 0; i < sizeof features / sizeof features[0]; i++) {
        vx_gauge_set(vx_metrics_gauge(metrics, "vexfs_monitoring_feature_enabled",
                                      "1 when a monitoring.enable_* switch is on.", "feature",
                                      features[i].name, NULL),
                     features[i].on ? 1 : 0);
    }
    int rc = s_services(m, cfg->services, err, errlen);
    if (rc == 0) {
        char why[256];
        m->netpolicy = vx_netpolicy_new(cfg->outbound_allow, metrics, why, sizeof why);
        if (m->netpolicy == NULL) {
            snprintf(err, errlen, "%s.%s", AN_MON_SECTION, why);
            rc = -EINVAL;
        }
    }
    /* smtp_url's scheme was checked with the section (an_mon_config_check). */
    if (rc == 0) {
        rc = 1;
        if (*m->state_dir) {
            char path[VX_PATH_MAX];
            snprintf(path, sizeof path, "%s/alert_rules.json", m->state_dir);
            rc = s_load(m, path, true, err, errlen);
        }
        const char *file = cfg->alert_rules_file;
        if (rc == 1 && *file) {
            rc = s_load(m, file, false, err, errlen);
        }
    }
    if (rc < 0) {
        an_monitor_destroy(&m);
        return NULL;
    }
    if (pthread_create(&m->thread, NULL, cb_thread, m) != 0) {
        snprintf(err, errlen, "monitor thread: %s", strerror(errno));
        an_monitor_destroy(&m);
        return NULL;
    }
    m->running = true;
    return m;
}

void
an_monitor_destroy(an_monitor_t **mp)
{
    an_monitor_t *m = *mp;
    if (!m) {
        return;
    }
    if (m->running) {
        pthread_mutex_lock(&m->lock);
        m->stop = true;
        pthread_cond_signal(&m->wake);
        pthread_mutex_unlock(&m->lock);
        pthread_join(m->thread, NULL);
    }
    while (m->n_rules) {
        s_rstate_free(&m->rules[--m->n_rules]);
    }
    for (size_t i = 0; i < m->n_anoms; i++) {
        free(m->anoms[i].key);
        free(m->anoms[i].query);
        json_decref(m->anoms[i].alert);
    }
    free(m->anoms);
    m->notify_on = false;
    s_send(m, m->pending); /* frees them (counted as suppressed) */
    free(m->rules);
    for (size_t i = 0; i < m->recent_n; i++) {
        json_decref(m->recent[(m->recent_head + i) % m->max_recent]);
    }
    free(m->recent);
    for (size_t i = 0; i < m->n_services; i++) {
        free(m->services[i].name);
        free(m->services[i].url);
    }
    free(m->services);
    for (size_t i = 0; i < m->n_smtp_to; i++) {
        free(m->smtp_to[i]);
    }
    free(m->smtp_to);
    free(m->state_dir);
    free(m->anomaly_url);
    free(m->smtp_url);
    free(m->smtp_from);
    vx_netpolicy_destroy(&m->netpolicy);
    pthread_cond_destroy(&m->wake);
    pthread_mutex_destroy(&m->lock);
    free(m);
    curl_global_cleanup();
    *mp = NULL;
}
