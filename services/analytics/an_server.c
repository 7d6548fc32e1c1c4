/* SPDX-License-Identifier: Apache-2.0 */
/* The analytics daemon's state: queries, per-partition engines, results, anomalies, metrics
 * and the queries kept in state_dir. The loop and the inputs are in an_input.c. */
#include "an_server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "an_config.h"
#include "an_monitor.h"
#include "an_server_priv.h"
#include "vx_clock.h"
#include "an_state.h"
#include "vx_jsonfile.h"
#include "vx_log.h"
#include "vx_mem.h"

#define S_RESULT_TOPIC_PREFIX "analytics."

/* ---- results ------------------------------------------------------------------------------ */

static json_t *
s_result_json(const struct an_result *r)
{
    const struct an_query *q = r->query;
    json_t *values = json_object();
    for (size_t i = 0; i < q->n_aggs; i++) {
        json_t *v;
        if (!r->has_value[i]) {
            v = json_null();
        } else if (q->aggs[i].fn == AN_FN_COUNT || q->aggs[i].fn == AN_FN_DISTINCT) {
            v = json_integer((json_int_t)r->values[i]);
        } else {
            v = json_real(r->values[i]);
        }
        json_object_set_new(values, q->aggs[i].as, v);
    }
    json_t *j = json_pack("{s:s, s:i, s:O, s:I, s:I, s:I, s:o, s:b}", "query", q->id, "partition",
                          (int)r->partition, "group", r->group, "start_ns",
                          (json_int_t)r->start_ns, "end_ns", (json_int_t)r->end_ns, "events",
                          (json_int_t)r->events, "values", values, "final", r->final);
    if (r->evicted) {
        json_object_set_new(j, "evicted", json_true());
    }
    if (r->saturated) {
        json_object_set_new(j, "saturated", json_true());
    }
    return j;
}

static struct an_qstate *
s_qstate_by_query(an_server_t *s, const struct an_query *q)
{
    for (size_t i = 0; i < s->n_queries; i++) {
        if (s->queries[i]->q == q) {
            return s->queries[i];
        }
    }
    return NULL;
}

static struct an_qstate *
s_qstate_by_id(an_server_t *s, const char *id, size_t *idx)
{
    for (size_t i = 0; i < s->n_queries; i++) {
        if (strcmp(s->queries[i]->q->id, id) == 0) {
            if (idx) {
                *idx = i;
            }
            return s->queries[i];
        }
    }
    return NULL;
}

static void
s_export(an_server_t *s, struct an_qstate *qs, const struct an_result *r, const char *group)
{
    char key[8192];
    snprintf(key, sizeof key, "%d %s", (int)r->partition, group);
    if (!zhash_lookup(qs->exported_set, key)) {
        if (zhash_size(qs->exported_set) >= s->max_exported) {
            vx_counter_add(s->c_unexported, 1);
            return;
        }
        zhash_insert(qs->exported_set, key, (void *)1);
    }
    for (size_t i = 0; i < qs->q->n_aggs; i++) {
        if (!r->has_value[i]) {
            continue;
        }
        char part[16];
        snprintf(part, sizeof part, "%d", (int)r->partition);
        vx_gauge_t *g = vx_metrics_gauge(
            s->metrics, "vexfs_analytics_window_value",
            "Value of the last final window of a query with export_metrics, by group and input "
            "partition (-1: ZeroMQ); partitions hold partial windows, sum them for the total.",
            "query", qs->q->id, "group", group, "partition", part, "aggregation",
            qs->q->aggs[i].as, NULL);
        if (g) {
            vx_gauge_set(g, r->values[i]);
        }
    }
}

/* Called by every engine for each final window, on the loop thread with the lock held. */
static void
cb_emit(const struct an_result *r, void *arg)
{
    an_server_t *s = arg;
    struct an_qstate *qs = s_qstate_by_query(s, r->query);
    if (!qs) {
        return; /* not reached: engines only hold installed queries */
    }
    json_t *j = s_result_json(r);
    vx_debug("AN-WINDOW", "query %s partition %d window %llu..%llu: %llu events", qs->q->id,
             (int)r->partition, (unsigned long long)r->start_ns, (unsigned long long)r->end_ns,
             (unsigned long long)r->events);
    if (qs->ring_n == s->max_results) {
        json_decref(qs->ring[qs->ring_head]);
        qs->ring[qs->ring_head] = j;
        qs->ring_head = (qs->ring_head + 1) % s->max_results;
    } else {
        qs->ring[(qs->ring_head + qs->ring_n++) % s->max_results] = j;
    }
    if (s->pub) {
        char *text = json_dumps(j, JSON_COMPACT);
        char topic[AN_QUERY_MAX_ID + 16];
        snprintf(topic, sizeof topic, S_RESULT_TOPIC_PREFIX "%s", r->query->id);
        void *h = zsock_resolve(s->pub);
        /* PUB never blocks: a slow subscriber loses results, the loop does not stall. */
        if (zmq_send(h, topic, strlen(topic), ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0) {
            zmq_send(h, text, strlen(text), ZMQ_DONTWAIT);
        }
        free(text);
    }
    an_input_publish(s, r);
    /* A replay emits windows already judged: they would count twice in the baselines. */
    if (s->anomaly_on && s->replay.state != AN_REPLAY_RUNNING) {
        int n = an_anomaly_observe(s->anomaly, r);
        if (n == 0 && s->monitor) {
            an_monitor_window_normal(s->monitor, r->query->id, (int)r->partition, r->group,
                                     r->start_ns, r->end_ns);
        }
        if (n > 0) {
            vx_counter_add(s->c_anomalies, (uint64_t)n);
            if (s->monitor) {
                json_t *all = an_anomaly_list(s->anomaly, r->query->id);
                size_t total = json_array_size(all);
                for (size_t i = total > (size_t)n ? total - (size_t)n : 0; i < total; i++) {
                    an_monitor_anomaly(s->monitor, json_array_get(all, i));
                }
                json_decref(all);
            }
        }
    }
    if (r->query->export_metrics) {
        char *group = json_dumps(r->group, JSON_COMPACT | JSON_SORT_KEYS);
        s_export(s, qs, r, group ? group : "{}");
        free(group);
    }
}

void
an_server_ring_forget(an_server_t *s, const int32_t *parts, size_t n, uint64_t min_start)
{
    for (size_t q = 0; q < s->n_queries; q++) {
        struct an_qstate *qs = s->queries[q];
        size_t kept = 0;
        json_t **keep = vx_calloc(s->max_results, sizeof *keep);
        for (size_t i = 0; i < qs->ring_n; i++) {
            json_t *j = qs->ring[(qs->ring_head + i) % s->max_results];
            int32_t p = (int32_t)json_integer_value(json_object_get(j, "partition"));
            uint64_t start = (uint64_t)json_integer_value(json_object_get(j, "start_ns"));
            bool drop = false;
            for (size_t k = 0; k < n && !drop; k++) {
                drop = parts[k] == p && start >= min_start;
            }
            if (drop) {
                json_decref(j);
            } else {
                keep[kept++] = j;
            }
        }
        free(qs->ring);
        qs->ring = keep;
        qs->ring_head = 0;
        qs->ring_n = kept;
    }
}

void
an_server_set_monitor(an_server_t *s, struct an_monitor *monitor)
{
    pthread_mutex_lock(&s->lock);
    s->monitor = monitor;
    pthread_mutex_unlock(&s->lock);
}

/* ---- partitions ----------------------------------------------------------------------------- */

struct an_part *
an_server_part_find(an_server_t *s, int32_t partition)
{
    for (size_t i = 0; i < s->n_parts; i++) {
        if (s->parts[i]->partition == partition) {
            return s->parts[i];
        }
    }
    return NULL;
}

struct an_part *
an_server_part(an_server_t *s, int32_t partition)
{
    struct an_part *p = an_server_part_find(s, partition);
    if (p) {
        return p;
    }
    p = vx_calloc(1, sizeof *p);
    p->partition = partition;
    p->next_offset = -1;
    p->replay_until = -1;
    p->start_offset = -1;
    p->last_msg_ns = vx_mono_ns();
    p->eng = an_engine_new(partition, s->max_groups, cb_emit, s);
    for (size_t i = 0; i < s->n_queries; i++) {
        an_engine_add_query(p->eng, s->queries[i]->q);
    }
    s->parts = vx_realloc(s->parts, (s->n_parts + 1) * sizeof *s->parts);
    s->parts[s->n_parts++] = p;
    return p;
}

static void
s_retire(struct an_qstate *qs, an_engine_t *eng)
{
    struct an_query_stats st = {0};
    if (an_engine_stats(eng, qs->q->id, &st) == 0) {
        qs->retired.matched += st.matched;
        qs->retired.dropped_late += st.dropped_late;
        qs->retired.dropped_replay += st.dropped_replay;
        qs->retired.evicted_groups += st.evicted_groups;
        qs->retired.emitted += st.emitted;
        qs->retired.skipped += st.skipped;
    }
}

void
an_server_part_drop(an_server_t *s, int32_t partition)
{
    for (size_t i = 0; i < s->n_parts; i++) {
        struct an_part *p = s->parts[i];
        if (p->partition != partition) {
            continue;
        }
        for (size_t k = 0; k < s->n_queries; k++) {
            s_retire(s->queries[k], p->eng);
        }
        an_engine_destroy(&p->eng);
        an_offsets_fini(&p->offsets);
        free(p);
        s->parts[i] = s->parts[--s->n_parts];
        return;
    }
}

static struct an_query_stats
s_totals(an_server_t *s, struct an_qstate *qs)
{
    struct an_query_stats st = qs->retired;
    st.open_groups = st.open_windows = 0;
    for (size_t i = 0; i < s->n_parts; i++) {
        an_engine_stats(s->parts[i]->eng, qs->q->id, &st);
    }
    return st;
}

void
an_server_sync_metrics(an_server_t *s)
{
    for (size_t i = 0; i < s->n_queries; i++) {
        struct an_qstate *qs = s->queries[i];
        struct an_query_stats st = s_totals(s, qs);
        vx_counter_add(qs->c_matched, st.matched - qs->published.matched);
        vx_counter_add(qs->c_late, st.dropped_late - qs->published.dropped_late);
        vx_counter_add(qs->c_replay, st.dropped_replay - qs->published.dropped_replay);
        vx_counter_add(qs->c_evicted, st.evicted_groups - qs->published.evicted_groups);
        vx_counter_add(qs->c_emitted, st.emitted - qs->published.emitted);
        qs->published = st;
    }
}

/* ---- queries -------------------------------------------------------------------------------- */

static struct an_qstate *
s_qstate_new(an_server_t *s, struct an_query *q)
{
    struct an_qstate *qs = vx_calloc(1, sizeof *qs);
    qs->q = q;
    qs->ring = vx_calloc(s->max_results, sizeof *qs->ring);
    qs->exported_set = zhash_new();
    /* Labelled by tenant too ("" for a query of every tenant's events): one label set per
     * family, which the registry requires. */
    const char *tk = "tenant", *tv = q->tenant ? q->tenant : "";
    const char *help_m = "Events that passed a query's types and filters.";
    qs->c_matched = vx_metrics_counter(s->metrics, "vexfs_analytics_query_events_total", help_m,
                                       "query", q->id, tk, tv, NULL);
    const char *help_d = "Events a query could not use, by reason: late (its windows had closed), "
                         "replay (already counted by a previous owner of the partition).";
    qs->c_late = vx_metrics_counter(s->metrics, "vexfs_analytics_query_dropped_total", help_d,
                                    "query", q->id, "reason", "late", tk, tv, NULL);
    qs->c_replay = vx_metrics_counter(s->metrics, "vexfs_analytics_query_dropped_total", help_d,
                                      "query", q->id, "reason", "replay", tk, tv,
                                      NULL);
    qs->c_evicted = vx_metrics_counter(s->metrics, "vexfs_analytics_group_evictions_total",
                                       "Groups closed early because a query hit "
                                       "max_groups_per_query.",
                                       "query", q->id, tk, tv, NULL);
    qs->c_emitted = vx_metrics_counter(s->metrics, "vexfs_analytics_windows_total",
                                       "Final windows emitted.", "query", q->id, tk, tv,
                                       NULL);
    return qs;
}

static void
s_qstate_free(an_server_t *s, struct an_qstate **qsp)
{
    struct an_qstate *qs = *qsp;
    for (size_t i = 0; i < qs->ring_n; i++) {
        json_decref(qs->ring[(qs->ring_head + i) % s->max_results]);
    }
    free(qs->ring);
    zhash_destroy(&qs->exported_set);
    an_query_destroy(&qs->q);
    free(qs);
    *qsp = NULL;
}

/* Writes every query to state_dir/queries.json (via a temporary file and rename, so a crash
 * leaves the old or the new list, never half of one). Lock held. */
static void
s_save(an_server_t *s)
{
    if (!s->state_dir || !*s->state_dir) {
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < s->n_queries; i++) {
        json_array_append(arr, s->queries[i]->q->json);
    }
    an_state_save(s->sealer, s->metrics, s->state_dir, "queries.json", arr);
    json_decref(arr);
}

/* Installs a parsed query; takes ownership of q. Lock held. */
/* The decoder reads what the installed queries read: rebuilt whenever they change. */
static void
s_plan(an_server_t *s)
{
    struct an_query **qs = vx_calloc(s->n_queries ? s->n_queries : 1, sizeof *qs);
    for (size_t i = 0; i < s->n_queries; i++) {
        qs[i] = s->queries[i]->q;
    }
    an_decoder_plan(s->dec, qs, s->n_queries);
    free(qs);
}

static void
s_install(an_server_t *s, struct an_query *q)
{
    struct an_qstate *qs = s_qstate_new(s, q);
    s->queries = vx_realloc(s->queries, (s->n_queries + 1) * sizeof *s->queries);
    s->queries[s->n_queries++] = qs;
    for (size_t i = 0; i < s->n_parts; i++) {
        an_engine_add_query(s->parts[i]->eng, q);
    }
    s_plan(s);
}

static void
s_uninstall(an_server_t *s, size_t idx)
{
    struct an_qstate *qs = s->queries[idx];
    for (size_t i = 0; i < s->n_parts; i++) {
        an_engine_remove_query(s->parts[i]->eng, qs->q->id);
    }
    an_anomaly_forget(s->anomaly, qs->q->id);
    if (s->monitor) {
        an_monitor_forget_query(s->monitor, qs->q->id);
    }
    if (s->merge) {
        an_merge_forget(s->merge, qs->q->id);
    }
    s_qstate_free(s, &qs);
    s->queries[idx] = s->queries[--s->n_queries];
    s_plan(s);
}

int
an_server_put_query(an_server_t *s, json_t *body, bool replace, bool *created, char *err,
                    size_t errlen)
{
    struct an_query *q = NULL;
    int rc = an_query_parse(body, &q, err, errlen);
    if (rc < 0) {
        return rc;
    }
    pthread_mutex_lock(&s->lock);
    size_t idx;
    struct an_qstate *old = s_qstate_by_id(s, q->id, &idx);
    if (old && !replace) {
        snprintf(err, errlen, "query '%s' exists (PUT /v1/queries/%s replaces it)", q->id, q->id);
        rc = -EEXIST;
    } else if (!old && s->n_queries >= s->max_queries) {
        snprintf(err, errlen, "at most %zu queries (stream_analytics.max_queries)", s->max_queries);
        rc = -ENOSPC;
    } else {
        if (old) {
            s_uninstall(s, idx);
        }
        *created = old == NULL;
        vx_info("AN-QUERY-PUT", "query %s %s", q->id, old ? "replaced" : "installed");
        s_install(s, q);
        q = NULL;
        s_save(s);
    }
    pthread_mutex_unlock(&s->lock);
    an_query_destroy(&q);
    return rc;
}

/* The definitions of the queries visible to the caller (lock held; new reference). */
static json_t *
s_visible_defs(an_server_t *s, an_query_visible_fn *visible, void *arg)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < s->n_queries; i++) {
        if (visible(arg, s->queries[i]->q->json)) {
            json_array_append(arr, s->queries[i]->q->json);
        }
    }
    return arr;
}

/* Whether the query with id is named in qs[0..n). */
static bool
s_named(struct an_query **qs, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(qs[i]->id, id) == 0) {
            return true;
        }
    }
    return false;
}

/* Checks the change against the installed queries (lock held): another caller's query named
 * is refused as existing, and the count after the change must fit max_queries. */
static int
s_change_check(an_server_t *s, struct an_query **qs, size_t n, bool merge,
               an_query_visible_fn *visible, void *arg, char *err, size_t errlen)
{
    size_t after = s->n_queries;
    for (size_t i = 0; i < s->n_queries; i++) {
        struct an_query *cur = s->queries[i]->q;
        if (!merge && visible(arg, cur->json) && !s_named(qs, n, cur->id)) {
            after--;
        }
    }
    for (size_t j = 0; j < n; j++) {
        size_t idx;
        struct an_qstate *old = s_qstate_by_id(s, qs[j]->id, &idx);
        if (old && !visible(arg, old->q->json)) {
            snprintf(err, errlen, "queries[%zu] (id \"%.128s\"): query '%.128s' exists", j,
                     qs[j]->id, qs[j]->id);
            return -EEXIST;
        }
        after += old == NULL;
    }
    if (after > s->max_queries) {
        snprintf(err, errlen, "at most %zu queries (stream_analytics.max_queries)",
                 s->max_queries);
        return -ENOSPC;
    }
    return 0;
}

int
an_server_change_queries(an_server_t *s, json_t *defs, bool merge, an_query_visible_fn *visible,
                         void *arg, const char *if_match, char etag[VX_ETAG_LEN], char *err,
                         size_t errlen)
{
    size_t n = json_array_size(defs);
    struct an_query **qs = vx_calloc(n + 1, sizeof *qs);
    int rc = 0;
    for (size_t j = 0; j < n && rc == 0; j++) {
        char why[512];
        json_t *d = json_array_get(defs, j);
        const char *id = json_string_value(json_object_get(d, "id"));
        rc = an_query_parse(d, &qs[j], why, sizeof why);
        if (rc == 0 && s_named(qs, j, qs[j]->id)) {
            snprintf(why, sizeof why, "id: named twice");
            rc = -EINVAL;
        }
        if (rc < 0) {
            snprintf(err, errlen, "queries[%zu]%s%.128s%s: %s", j, id ? " (id \"" : "",
                     id ? id : "", id ? "\")" : "", why);
        }
    }
    if (rc < 0) {
        goto out;
    }
    pthread_mutex_lock(&s->lock);
    json_t *mine = s_visible_defs(s, visible, arg);
    vx_etag_of(mine, "id", etag);
    json_decref(mine);
    if (!vx_etag_matches(if_match, etag)) {
        snprintf(err, errlen,
                 "the queries changed since they were read (If-Match %.64s, now %s): nothing "
                 "changed; read them again",
                 if_match, etag);
        rc = -ESTALE;
    } else {
        rc = s_change_check(s, qs, n, merge, visible, arg, err, errlen);
    }
    if (rc == 0) {
        /* Removed: the caller's queries the list does not name (replace only). */
        for (size_t i = s->n_queries; !merge && i-- > 0;) {
            struct an_query *cur = s->queries[i]->q;
            if (visible(arg, cur->json) && !s_named(qs, n, cur->id)) {
                vx_info("AN-QUERY-DELETE", "query %s deleted", cur->id);
                s_uninstall(s, i);
            }
        }
        /* Installed: new or changed ones; an unchanged one keeps its windows. */
        for (size_t j = 0; j < n; j++) {
            size_t idx;
            struct an_qstate *old = s_qstate_by_id(s, qs[j]->id, &idx);
            if (old && json_equal(old->q->json, qs[j]->json)) {
                continue;
            }
            if (old) {
                s_uninstall(s, idx);
            }
            vx_info("AN-QUERY-PUT", "query %s %s", qs[j]->id, old ? "replaced" : "installed");
            s_install(s, qs[j]);
            qs[j] = NULL;
        }
        s_save(s);
        mine = s_visible_defs(s, visible, arg);
        vx_etag_of(mine, "id", etag);
        json_decref(mine);
    }
    pthread_mutex_unlock(&s->lock);
out:
    for (size_t j = 0; j < n; j++) {
        an_query_destroy(&qs[j]);
    }
    free(qs);
    return rc;
}

int
an_server_delete_query(an_server_t *s, const char *id)
{
    pthread_mutex_lock(&s->lock);
    size_t idx;
    int rc = -ENOENT;
    if (s_qstate_by_id(s, id, &idx)) {
        s_uninstall(s, idx);
        s_save(s);
        vx_info("AN-QUERY-DELETE", "query %s deleted", id);
        rc = 0;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static json_t *
s_query_json(an_server_t *s, struct an_qstate *qs)
{
    struct an_query_stats st = s_totals(s, qs);
    json_t *j = json_deep_copy(qs->q->json);
    json_object_set_new(
        j, "stats",
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "matched", (json_int_t)st.matched,
                  "dropped_late", (json_int_t)st.dropped_late, "dropped_replay",
                  (json_int_t)st.dropped_replay, "evicted_groups", (json_int_t)st.evicted_groups,
                  "windows_emitted", (json_int_t)st.emitted, "windows_skipped",
                  (json_int_t)st.skipped, "open_groups",
                  (json_int_t)st.open_groups, "open_windows", (json_int_t)st.open_windows));
    return j;
}

json_t *
an_server_get_query(an_server_t *s, const char *id)
{
    pthread_mutex_lock(&s->lock);
    json_t *out = NULL;
    if (id) {
        struct an_qstate *qs = s_qstate_by_id(s, id, NULL);
        out = qs ? s_query_json(s, qs) : NULL;
    } else {
        out = json_array();
        for (size_t i = 0; i < s->n_queries; i++) {
            json_array_append_new(out, s_query_json(s, s->queries[i]));
        }
    }
    pthread_mutex_unlock(&s->lock);
    return out;
}

static void
cb_snapshot(const struct an_result *r, void *arg)
{
    json_array_append_new(arg, s_result_json(r));
}

json_t *
an_server_results(an_server_t *s, const char *id, size_t limit)
{
    pthread_mutex_lock(&s->lock);
    json_t *out = NULL;
    struct an_qstate *qs = s_qstate_by_id(s, id, NULL);
    if (qs) {
        json_t *closed, *open = json_array();
        if (s->merge) {
            closed = an_merge_results(s->merge, qs->q, limit);
        } else {
            closed = json_array();
            size_t from = qs->ring_n > limit ? qs->ring_n - limit : 0;
            for (size_t i = from; i < qs->ring_n; i++) {
                json_array_append(closed, qs->ring[(qs->ring_head + i) % s->max_results]);
            }
        }
        for (size_t i = 0; i < s->n_parts; i++) {
            an_engine_snapshot(s->parts[i]->eng, id, cb_snapshot, open);
        }
        /* closed: the whole consumer group's windows, merged across partitions (results
         * topic), or this instance's own per partition; open: this instance's partitions. */
        out = json_pack("{s:s, s:s, s:o, s:o}", "query", id, "scope",
                        s->merge ? "group" : "instance", "closed", closed, "open", open);
    }
    pthread_mutex_unlock(&s->lock);
    return out;
}

json_t *
an_server_anomalies(an_server_t *s, const char *query)
{
    pthread_mutex_lock(&s->lock);
    json_t *out = json_pack("{s:o, s:b}", "anomalies", an_anomaly_list(s->anomaly, query),
                            "enabled", s->anomaly_on);
    pthread_mutex_unlock(&s->lock);
    return out;
}

bool
an_server_ready(an_server_t *s, json_t *detail)
{
    bool ready = atomic_load(&s->ready) && !atomic_load(&s->fatal);
    pthread_mutex_lock(&s->lock);
    json_t *parts = json_array();
    for (size_t i = 0; i < s->n_parts; i++) {
        json_array_append_new(parts, json_integer(s->parts[i]->partition));
    }
    json_object_set_new(detail, "input", json_string(s->rk ? "kafka" : "zeromq"));
    json_object_set_new(detail, "partitions", parts);
    json_object_set_new(detail, "queries", json_integer((json_int_t)s->n_queries));
    pthread_mutex_unlock(&s->lock);
    return ready;
}

/* ---- construction ---------------------------------------------------------------------------- */

/* Loads a JSON array of queries from path. Returns 0 (also when the file does not exist and
 * missing_ok), or -EINVAL with the reason. */
static int
s_load(an_server_t *s, const char *path, bool missing_ok, char *err, size_t errlen)
{
    json_t *arr = NULL;
    bool stale = false;
    /* missing_ok: the state folder's file, sealed at rest */
    int lrc = an_defs_read(s->sealer, s->metrics, s->state_dir, "queries.json", path, missing_ok,
                           &arr, &stale, err, errlen);
    if (lrc != 0) {
        return lrc;
    }
    int rc = 0;
    if (!json_is_array(arr)) {
        snprintf(err, errlen, "%s: expected a JSON array of queries", path);
        rc = -EINVAL;
    }
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        if (rc < 0) {
            break;
        }
        char sub[512];
        struct an_query *q = NULL;
        if (an_query_parse(v, &q, sub, sizeof sub) < 0) {
            snprintf(err, errlen, "%s: query %zu: %s", path, i, sub);
            rc = -EINVAL;
        } else if (s_qstate_by_id(s, q->id, NULL)) {
            snprintf(err, errlen, "%s: query %zu: id '%s' appears twice", path, i, q->id);
            an_query_destroy(&q);
            rc = -EINVAL;
        } else {
            s_install(s, q);
        }
    }
    json_decref(arr);
    if (rc == 0 && stale) { /* plaintext, or sealed under an older key: sealed anew */
        s_save(s);
        vx_info("AN-STATE-SEALED", "%s sealed under data key %u", path,
                (unsigned)vx_sealer_key_id(s->sealer));
    }
    return rc;
}

an_server_t *
an_server_new(const struct an_config *cfg, const vx_socks_t *socks, vx_metrics_t *m,
              const vx_sealer_t *sealer, char *err, size_t errlen)
{
    an_server_t *s = vx_calloc(1, sizeof *s);
    s->socks = socks;
    s->sealer = sealer;
    /* Recursive: Kafka's rebalance callback runs inside a poll the loop makes with the lock. */
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&s->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    s->metrics = m;
    s->max_groups = (size_t)cfg->max_groups_per_query;
    s->max_results = (size_t)cfg->max_results_per_query;
    s->max_queries = (size_t)cfg->max_queries;
    s->max_exported = (size_t)cfg->max_exported_series;
    s->anomaly_on = cfg->enable_anomaly_detection;
    s->commit_interval_ms = (int)cfg->commit_interval_ms;
    s->latency_target_ns = (uint64_t)cfg->processing_latency_target_ns;
    s->state_dir = vx_strdup(cfg->state_dir);
    s->topic = vx_strdup(cfg->topic);
    s->group_id = vx_strdup(cfg->group_id);
    s->results_topic = vx_strdup(cfg->results_topic);
    s->replay_rate = cfg->replay_max_events_per_sec;
    s->idle_timeout_ns = (uint64_t)cfg->idle_timeout_ms * VX_NS_PER_MS;
    if (*cfg->kafka_brokers && *s->results_topic) {
        s->merge = an_merge_new(s->group_id, s->max_results);
    }
    s->anomaly = an_anomaly_new(100000, 1000);
    s->res_ring = vx_calloc(AN_RES_RING, 1);
    s->dec = an_decoder_new();
    atomic_init(&s->ready, false);
    atomic_init(&s->fatal, false);

    s->c_events = vx_metrics_counter(m, "vexfs_analytics_events_total",
                                     "Events consumed from the input.", NULL);
    static const double latency_bounds[] = {50e-6, 100e-6, 200e-6, 300e-6, 500e-6, 750e-6,
                                            1e-3,  1.5e-3, 2e-3,   3e-3,   5e-3,   7.5e-3,
                                            10e-3, 20e-3,  50e-3,  100e-3, 250e-3, 500e-3,
                                            1,     2.5,    5,      10};
    _Static_assert(sizeof latency_bounds / sizeof latency_bounds[0] < AN_LAT_BUCKETS,
                   "the loop counts latencies in AN_LAT_BUCKETS local buckets");
    s->h_ingest_latency = vx_metrics_histogram(
        m, "vexfs_analytics_ingest_latency_seconds",
        "From propagation accepting an event (its ingest_ns) to the windows holding it.",
        latency_bounds, sizeof latency_bounds / sizeof latency_bounds[0], NULL);
    s->c_slow = vx_metrics_counter(m, "vexfs_analytics_slow_events_total",
                                   "Events whose processing took longer than "
                                   "processing_latency_target_ns.",
                                   NULL);
    s->c_decode = vx_metrics_counter(m, "vexfs_analytics_dropped_total",
                                     "Input the daemon could not use, by reason.", "reason",
                                     "decode", NULL);
    s->c_gaps = vx_metrics_counter(m, "vexfs_sequence_gaps_total",
                                   "Batches missing in a sender's sequence, by link.", "link",
                                   "routing", NULL);
    s->c_anomalies = vx_metrics_counter(m, "vexfs_analytics_anomalies_total",
                                        "Anomalous window values found.", NULL);
    s->c_unexported = vx_metrics_counter(m, "vexfs_analytics_unexported_windows_total",
                                         "Final windows not exported because a query reached "
                                         "max_exported_series.",
                                         NULL);
    s->c_res_out = vx_metrics_counter(m, "vexfs_analytics_results_published_total",
                                      "Final windows published to the results topic.", NULL);
    s->c_res_out_err = vx_metrics_counter(m, "vexfs_analytics_results_publish_errors_total",
                                          "Results-topic records that could not be produced or "
                                          "delivered (the offsets are then not committed).",
                                          NULL);
    s->c_res_in = vx_metrics_counter(m, "vexfs_analytics_results_merged_total",
                                     "Results-topic records of this group merged.", NULL);
    s->c_res_bad = vx_metrics_counter(m, "vexfs_analytics_dropped_total",
                                      "Input the daemon could not use, by reason.", "reason",
                                      "results_record", NULL);
    s->c_merge_evicted = vx_metrics_counter(m, "vexfs_analytics_merged_windows_evicted_total",
                                            "Merged windows forgotten because a query had "
                                            "max_results_per_query of them.",
                                            NULL);
    s->c_idle = vx_metrics_counter(m, "vexfs_analytics_idle_advances_total",
                                   "Times an idle partition's clock was moved to the group's "
                                   "lowest active clock (idle_timeout_ms).",
                                   NULL);
    s->c_replay_events = vx_metrics_counter(m, "vexfs_analytics_replay_events_total",
                                            "Events consumed again by POST /v1/replay.", NULL);
    s->c_replay_done = vx_metrics_counter(m, "vexfs_analytics_replays_total",
                                          "Replays finished, by result.", "result", "done", NULL);
    s->c_replay_failed = vx_metrics_counter(m, "vexfs_analytics_replays_total",
                                            "Replays finished, by result.", "result", "failed",
                                            NULL);
    s->c_commit_err = vx_metrics_counter(m, "vexfs_analytics_commit_errors_total",
                                         "Kafka offset commits that failed.", NULL);
    s->c_rebalance_assign = vx_metrics_counter(m, "vexfs_analytics_rebalances_total",
                                               "Partitions assigned or revoked by the consumer "
                                               "group.",
                                               "kind", "assign", NULL);
    s->c_rebalance_revoke = vx_metrics_counter(m, "vexfs_analytics_rebalances_total",
                                               "Partitions assigned or revoked by the consumer "
                                               "group.",
                                               "kind", "revoke", NULL);
    vx_gauge_set(vx_metrics_gauge(m, "vexfs_analytics_target_throughput_events_per_second",
                                  "stream_analytics.target_throughput_events_per_sec.", NULL),
                 (double)cfg->target_throughput_events_per_sec);
    vx_gauge_set(vx_metrics_gauge(m, "vexfs_analytics_processing_latency_target_seconds",
                                  "stream_analytics.processing_latency_target_ns in seconds.",
                                  NULL),
                 (double)s->latency_target_ns / (double)VX_NS_PER_S);
    const struct {
        const char *name;
        bool on;
    } features[] = {{"real_time_processing", cfg->enable_real_time_processing},
                    {"pattern_discovery", cfg->enable_pattern_discovery},
                    {"anomaly_detection", cfg->enable_anomaly_detection},
                    {"predictive_analytics", cfg->enable_predictive_analytics}};
    for (size_t i = 0; i < sizeof features / sizeof features[0]; i++) {
        vx_gauge_set(vx_metrics_gauge(m, "vexfs_analytics_feature_enabled",
                                      "1 when a stream_analytics.enable_* switch is on.",
                                      "feature", features[i].name, NULL),
                     features[i].on ? 1 : 0);
    }

    char path[VX_PATH_MAX];
    int rc = 1;
    if (*s->state_dir) {
        snprintf(path, sizeof path, "%s/queries.json", s->state_dir);
        rc = s_load(s, path, true, err, errlen);
    }
    const char *qfile = cfg->queries_file;
    if (rc == 1 && *qfile) {
        rc = s_load(s, qfile, false, err, errlen);
    }
    if (rc < 0) {
        goto fail;
    }
    const char *pub = cfg->results_endpoint;
    if (*pub) {
        struct vx_sock_spec ps = {.type = ZMQ_PUB, .endpoint = pub, .bind = true};
        char serr[512];
        s->pub = vx_sock_open(s->socks, &ps, NULL, 0, serr, sizeof serr);
        if (!s->pub) {
            snprintf(err, errlen, "results_endpoint: %s", serr);
            goto fail;
        }
    }
    if (an_input_open(s, cfg, err, errlen) < 0) {
        goto fail;
    }
    vx_info("AN-START", "%zu queries, input %s", s->n_queries, s->rk ? "kafka" : "zeromq");
    return s;
fail:
    an_server_destroy(&s);
    return NULL;
}

int
an_server_run(an_server_t *s, volatile sig_atomic_t *stop)
{
    int rc = an_input_run(s, stop);
    /* The last batch's counts reach the metrics before the daemon reports its exit. */
    pthread_mutex_lock(&s->lock);
    an_server_sync_metrics(s);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void
an_server_destroy(an_server_t **sp)
{
    an_server_t *s = *sp;
    if (!s) {
        return;
    }
    an_input_close(s); /* leaves the group first: its revoke commits need the engines */
    an_commit_fini(s);
    an_decoder_destroy(&s->dec);
    free(s->res_ring);
    while (s->n_parts) {
        an_server_part_drop(s, s->parts[0]->partition);
    }
    free(s->parts);
    while (s->n_queries) {
        s_qstate_free(s, &s->queries[--s->n_queries]);
    }
    free(s->queries);
    an_anomaly_destroy(&s->anomaly);
    an_merge_destroy(&s->merge);
    free(s->replay.parts);
    free(s->group_id);
    free(s->results_topic);
    zsock_destroy(&s->pub);
    vx_rx_destroy(&s->rx);
    free(s->state_dir);
    free(s->topic);
    pthread_mutex_destroy(&s->lock);
    free(s);
    *sp = NULL;
}
