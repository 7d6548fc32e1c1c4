/* SPDX-License-Identifier: Apache-2.0 */
/* Alert rules, anomaly alerts, notifications and system health. */
#include "an_monitor_priv.h"

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

/* ---- helpers -------------------------------------------------------------------------------- */

uint64_t
an_monitor_wall_ms(void)
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

void
an_monitor_recent_add(an_monitor_t *m, json_t *j)
{
    if (m->recent_n == m->max_recent) {
        json_decref(m->recent[m->recent_head]);
        m->recent[m->recent_head] = j;
        m->recent_head = (m->recent_head + 1) % m->max_recent;
    } else {
        m->recent[(m->recent_head + m->recent_n++) % m->max_recent] = j;
    }
}

struct an_rstate *
an_monitor_find(an_monitor_t *m, const char *name, size_t *idx)
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

void
an_monitor_rstate_free(struct an_rstate **rsp)
{
    an_rule_destroy(&(*rsp)->rule);
    free(*rsp);
    *rsp = NULL;
}

json_t *
an_monitor_alert_json(const struct an_rstate *rs, const char *status)
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
    if (rs->state != AN_RS_INACTIVE || strcmp(status, "resolved") == 0) {
        json_object_set_new(j, "pending_since_ms", json_integer((json_int_t)rs->since_wall));
    }
    if (rs->fired_wall) {
        json_object_set_new(j, "fired_at_ms", json_integer((json_int_t)rs->fired_wall));
    }
    return j;
}

/* Saves the rules to state_dir/alert_rules.json (durably: vx_jsonfile.h). Lock held. */
void
an_monitor_save(an_monitor_t *m)
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
int
an_monitor_check_config(an_monitor_t *m, const struct an_rule *r, char *err, size_t errlen)
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

void
an_monitor_install(an_monitor_t *m, struct an_rule *r)
{
    struct an_rstate *rs = vx_calloc(1, sizeof *rs);
    rs->rule = r;
    m->rules = vx_realloc(m->rules, (m->n_rules + 1) * sizeof *m->rules);
    m->rules[m->n_rules++] = rs;
    vx_gauge_set(m->g_rules, (double)m->n_rules);
}

void
an_monitor_sync_firing(an_monitor_t *m)
{
    size_t firing = 0;
    for (size_t i = 0; i < m->n_rules; i++) {
        firing += m->rules[i]->state == AN_RS_FIRING;
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
s_mail(struct an_note *n, json_t *p)
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

void
an_monitor_queue(struct an_note **list, json_t *payload, const struct an_rule *r,
                 const char *anomaly_url)
{
    struct an_note *n = vx_calloc(1, sizeof *n);
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
s_send(an_monitor_t *m, struct an_note *list)
{
    while (list) {
        struct an_note *n = list;
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
s_apply(an_monitor_t *m, const struct s_scrape *sc, struct an_note **notes)
{
    struct an_rstate *rs = an_monitor_find(m, sc->name, NULL);
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
        if (rs->state == AN_RS_INACTIVE) {
            rs->state = AN_RS_PENDING;
            rs->since_mono = now;
            rs->since_wall = an_monitor_wall_ms();
            rs->fired_wall = 0;
        }
        if (rs->state == AN_RS_PENDING && now - rs->since_mono >= rs->rule->for_ms * VX_NS_PER_MS) {
            rs->state = AN_RS_FIRING;
            rs->fired_wall = an_monitor_wall_ms();
            json_t *a = an_monitor_alert_json(rs, "firing");
            json_object_set_new(a, "held_ms", json_integer((json_int_t)((now - rs->since_mono) /
                                                                        VX_NS_PER_MS)));
            json_object_set_new(a, "at_ms", json_integer((json_int_t)rs->fired_wall));
            an_monitor_queue(notes, a, rs->rule, NULL);
            an_monitor_recent_add(m, a);
            vx_warn("AN-ALERT-FIRING", "%s: %s %s %g (value %g)", rs->rule->name,
                    rs->rule->metric, an_cond_name(rs->rule->cond), rs->rule->threshold,
                    sc->value);
        }
    } else if (rs->state == AN_RS_FIRING) {
        json_t *a = an_monitor_alert_json(rs, "resolved");
        json_object_set_new(a, "at_ms", json_integer((json_int_t)an_monitor_wall_ms()));
        json_object_set_new(a, "resolved_at_ms", json_integer((json_int_t)an_monitor_wall_ms()));
        an_monitor_queue(notes, a, rs->rule, NULL);
        an_monitor_recent_add(m, a);
        rs->state = AN_RS_INACTIVE;
        rs->fired_wall = 0;
        vx_info("AN-ALERT-RESOLVED", "%s resolved", rs->rule->name);
    } else {
        rs->state = AN_RS_INACTIVE;
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
    an_monitor_anom_expire(m);
    struct an_note *notes = m->pending;
    m->pending = NULL;
    for (size_t i = 0; i < n; i++) {
        s_apply(m, &sc[i], &notes);
        s_scrape_free(&sc[i]);
    }
    an_monitor_sync_firing(m);
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
        const struct an_service *sv = &m->services[i];
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
        if (an_rule_parse(v, &r, sub, sizeof sub) < 0 || an_monitor_check_config(m, r, sub, sizeof sub) < 0) {
            snprintf(err, errlen, "%s: rule %zu: %s", path, i, sub);
            rc = -EINVAL;
        } else if (an_monitor_find(m, r->name, NULL)) {
            snprintf(err, errlen, "%s: rule %zu: name '%s' appears twice", path, i, r->name);
            rc = -EINVAL;
        } else {
            an_monitor_install(m, r);
            r = NULL;
        }
        an_rule_destroy(&r);
    }
    json_decref(arr);
    if (rc == 0 && stale) { /* plaintext, or sealed under an older key: sealed anew */
        an_monitor_save(m);
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

/* Copies the settings the monitor's thread reads. */
static void
s_init_settings(an_monitor_t *m, const struct an_mon_config *cfg, vx_metrics_t *metrics,
                const char *state_dir, const vx_sealer_t *sealer)
{
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
}

/* Registers the monitor's gauges and counters, and the monitoring.enable_* switches as
 * gauges. */
static void
s_init_metrics(an_monitor_t *m, const struct an_mon_config *cfg, vx_metrics_t *metrics)
{
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
}

/* The alert rules: the state folder's sealed copy when there is one, else alert_rules_file.
 * Returns 0 or -EINVAL with the reason. */
static int
s_init_rules(an_monitor_t *m, const struct an_mon_config *cfg, char *err, size_t errlen)
{
    int rc = 1;
    if (*m->state_dir) {
        char path[VX_PATH_MAX];
        snprintf(path, sizeof path, "%s/alert_rules.json", m->state_dir);
        rc = s_load(m, path, true, err, errlen);
    }
    const char *file = cfg->alert_rules_file;
    if (rc == 1 && *file) {
        rc = s_load(m, file, false, err, errlen);
    }
    return rc < 0 ? rc : 0;
}

/* Builds the monitor in named steps; its thread starts last, once the services, the outbound
 * policy and the rules it reads are in place. */
an_monitor_t *
an_monitor_new(const struct an_mon_config *cfg, vx_metrics_t *metrics, const char *state_dir,
               const vx_sealer_t *sealer, char *err, size_t errlen)
{
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread: it is not thread-safe */
    an_monitor_t *m = vx_calloc(1, sizeof *m);
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->wake, NULL);
    s_init_settings(m, cfg, metrics, state_dir, sealer);
    s_init_metrics(m, cfg, metrics);
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
        rc = s_init_rules(m, cfg, err, errlen);
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
        an_monitor_rstate_free(&m->rules[--m->n_rules]);
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
