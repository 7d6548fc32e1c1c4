/* SPDX-License-Identifier: Apache-2.0 */
/* Alert rules over REST (put, change with If-Match, delete, read) and the alerts list. */
#include "an_monitor_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "an_state.h"
#include "vx_clock.h"
#include "vx_etag.h"
#include "vx_jsonfile.h"
#include "vx_log.h"
#include "vx_mem.h"

static const char *const s_state_names[] = {"inactive", "pending", "firing"};

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
    rc = an_monitor_check_config(m, r, err, errlen);
    if (rc < 0) {
        an_rule_destroy(&r);
        return rc;
    }
    pthread_mutex_lock(&m->lock);
    size_t idx;
    struct an_rstate *old = an_monitor_find(m, r->name, &idx);
    if (old && !replace) {
        snprintf(err, errlen, "rule '%s' exists (PUT /v1/alert-rules/%s replaces it)", r->name,
                 r->name);
        rc = -EEXIST;
    } else if (!old && m->n_rules >= m->max_rules) {
        snprintf(err, errlen, "at most %zu rules (monitoring.max_alert_rules)", m->max_rules);
        rc = -ENOSPC;
    } else {
        if (old) {
            an_monitor_rstate_free(&m->rules[idx]);
            m->rules[idx] = m->rules[--m->n_rules];
        }
        *created = old == NULL;
        vx_info("AN-ALERT-RULE", "rule %s %s", r->name, old ? "replaced" : "added");
        an_monitor_install(m, r);
        r = NULL;
        an_monitor_save(m);
        an_monitor_sync_firing(m);
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
            rc = an_monitor_check_config(m, rs[j], why, sizeof why);
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

/* Parse outside the lock, then check the If-Match tag and apply under it in one step; a rule
 * whose definition is unchanged keeps its state (pending, firing), so re-applying a file does
 * not reset alerts. */
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
        after += merge && an_monitor_find(m, rs[j]->name, NULL) != NULL ? 0 : 1;
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
                an_monitor_rstate_free(&m->rules[i]);
                m->rules[i] = m->rules[--m->n_rules];
            }
        }
        /* A rule whose definition is unchanged keeps its state (pending, firing). */
        for (size_t j = 0; j < n; j++) {
            size_t idx;
            struct an_rstate *old = an_monitor_find(m, rs[j]->name, &idx);
            if (old && json_equal(old->rule->json, rs[j]->json)) {
                continue;
            }
            if (old) {
                an_monitor_rstate_free(&m->rules[idx]);
                m->rules[idx] = m->rules[--m->n_rules];
            }
            vx_info("AN-ALERT-RULE", "rule %s %s", rs[j]->name, old ? "replaced" : "added");
            an_monitor_install(m, rs[j]);
            rs[j] = NULL;
        }
        vx_gauge_set(m->g_rules, (double)m->n_rules);
        an_monitor_save(m);
        an_monitor_sync_firing(m);
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
    if (an_monitor_find(m, name, &idx)) {
        an_monitor_rstate_free(&m->rules[idx]);
        m->rules[idx] = m->rules[--m->n_rules];
        vx_gauge_set(m->g_rules, (double)m->n_rules);
        an_monitor_save(m);
        an_monitor_sync_firing(m);
        rc = 0;
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static json_t *
s_rule_json(const struct an_rstate *rs)
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
        struct an_rstate *rs = an_monitor_find(m, name, NULL);
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
        const struct an_rstate *rs = m->rules[i];
        if (rs->state != AN_RS_INACTIVE) {
            json_array_append_new(active, an_monitor_alert_json(rs, s_state_names[rs->state]));
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
