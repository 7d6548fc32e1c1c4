/* SPDX-License-Identifier: Apache-2.0 */
/* Anomaly alerts: one firing alert per query, partition and group, resolved by a normal
 * window, by expiry or when its query goes. */
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

static struct an_anom *
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
    struct an_anom *a = &m->anoms[i];
    uint64_t now = an_monitor_wall_ms();
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
        an_monitor_queue(&m->pending, r, NULL, m->anomaly_url);
        pthread_cond_signal(&m->wake);
    }
    an_monitor_recent_add(m, r);
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
    uint64_t now = an_monitor_wall_ms();
    json_t *a = json_pack("{s:s, s:s, s:s, s:I, s:O}", "source", "anomaly", "status", "firing",
                          "severity", "warning", "at_ms", (json_int_t)now, "anomaly", anomaly);
    const char *query = json_string_value(json_object_get(anomaly, "query"));
    char *key = s_anom_key(query ? query : "", (int)json_integer_value(json_object_get(anomaly,
                                                                                      "partition")),
                           json_object_get(anomaly, "group"));
    pthread_mutex_lock(&m->lock);
    vx_counter_add(m->c_anomalies, 1);
    struct an_anom *fa = s_anom_find(m, key);
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
        m->anoms[m->n_anoms++] = (struct an_anom){key, vx_strdup(query ? query : ""),
                                                 json_incref(a), now, vx_mono_ns(), 1};
    }
    if (*m->anomaly_url) {
        /* sent by the evaluation thread: the caller (the analytics loop) must not wait */
        an_monitor_queue(&m->pending, a, NULL, m->anomaly_url);
        pthread_cond_signal(&m->wake);
    }
    an_monitor_recent_add(m, a);
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
    struct an_anom *fa = s_anom_find(m, key);
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
void
an_monitor_anom_expire(an_monitor_t *m)
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
