/* SPDX-License-Identifier: Apache-2.0 */
/* The automation loop, the alert ring and pattern set changes (see au_server.h). */
#include "au_server.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/types.h>

#include "au_config.h"
#include "au_engine.h"
#include "vx_arena.h"
#include "vx_clock.h"
#include "vx_log.h"
#include "vx_mem.h"
#include "vx_wire.h"

#define S_POLL_MS 10              /* how late an absence may fire when no input comes */
#define S_ARENA_LIMIT (256u << 20) /* one decoded batch at most */

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
    uint64_t budget_ns;
    zsock_t *input;
    vx_arena_t *arena;
    vx_seqtrack_t *seqs;
    vx_counter_t *c_batches, *c_events, *c_bad, *c_gaps, *c_slow, *c_evictions;
    vx_gauge_t *g_partials, *g_patterns;
    uint64_t evictions_seen;
};

/* Keeps one alert (loop thread, lock held). */
static void
cb_alert(const struct au_alert *a, void *arg)
{
    au_server_t *s = arg;
    uint64_t seq = s->seq + 1;
    uint64_t span = a->time_ns - a->first_ns;
    json_t *j = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:i}", "seq",
                          (json_int_t)seq, "pattern", a->pattern_id, "kind",
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
    if (a->action == 0) {
        vx_counter_add(vx_metrics_counter(s->metrics, "vexfs_automation_matches_total",
                                          "Completed pattern matches, by pattern.", "pattern",
                                          a->pattern_id, NULL),
                       1);
    }
    vx_info("AU-ALERT", "pattern %s partition \"%.200s\" severity %s: %s", a->pattern_id,
            a->partition, au_severity_name(a->severity), a->message);
}

static int
s_engine_build(au_server_t *s, json_t *patterns, au_engine_t **out, char *err, size_t errlen)
{
    struct au_engine_opts o = {
        .max_partials = s->max_partials,
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
s_edit(au_server_t *s, char mode, json_t *p, const char *id, bool *created, char *err,
       size_t errlen)
{
    pthread_mutex_lock(&s->edit_lock);
    json_t *arr = au_server_patterns_json(s);
    ssize_t at = id != NULL ? s_find(arr, id) : -1;
    int rc = 0;
    if (mode == 'a' && at >= 0) {
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
au_server_add_pattern(au_server_t *s, json_t *p, char *err, size_t errlen)
{
    return s_edit(s, 'a', p, s_id_of(p), NULL, err, errlen);
}

int
au_server_put_pattern(au_server_t *s, json_t *p, bool *created, char *err, size_t errlen)
{
    return s_edit(s, 'p', p, s_id_of(p), created, err, errlen);
}

int
au_server_delete_pattern(au_server_t *s, const char *id)
{
    char err[256];
    return s_edit(s, 'd', NULL, id, NULL, err, sizeof err);
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
au_server_pattern_json(au_server_t *s, const char *id)
{
    json_t *out = NULL;
    pthread_mutex_lock(&s->lock);
    int32_t i = au_engine_pattern_index(s->engine, id);
    struct au_pattern_stats st;
    if (i >= 0 && au_engine_pattern_stats(s->engine, (uint32_t)i, &st) == 0) {
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
au_server_alerts_json(au_server_t *s, uint64_t since, size_t limit)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&s->lock);
    uint64_t first = s->seq - s->n + 1; /* seq of ring[head] */
    for (size_t i = 0; i < s->n && json_array_size(arr) < limit; i++) {
        if (first + i > since) {
            json_array_append(arr, s->ring[(s->head + i) % s->cap]);
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
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:i, s:I, s:I}", "events",
                     (json_int_t)st.events, "alerts", (json_int_t)st.alerts, "matches",
                     (json_int_t)st.matches, "evictions", (json_int_t)st.evictions, "partials",
                     (json_int_t)st.partials, "patterns", (int)n, "batches",
                     (json_int_t)vx_counter_value(s->c_batches), "bad_batches",
                     (json_int_t)vx_counter_value(s->c_bad));
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
    s->budget_ns =
        (uint64_t)vx_config_int(cfg, AU_SECTION, "max_automation_latency_ms") * VX_NS_PER_MS;
    s->arena = vx_arena_new(1u << 20, S_ARENA_LIMIT);
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
    s->g_partials = vx_metrics_gauge(metrics, "vexfs_automation_partial_matches",
                                     "Partial matches held, all patterns.", NULL);
    s->g_patterns = vx_metrics_gauge(metrics, "vexfs_automation_patterns",
                                     "Patterns loaded.", NULL);
    vx_gauge_set(vx_metrics_gauge(metrics, "vexfs_target_throughput_events_per_second",
                                  "Configured target_throughput_events_per_sec.", NULL),
                 (double)vx_config_int(cfg, AU_SECTION, "target_throughput_events_per_sec"));
    int rc = s_engine_build(s, NULL, &s->engine, err, errlen);
    const char *file = vx_config_str(cfg, AU_SECTION, "patterns_file");
    if (rc == 0 && file[0] != '\0') {
        rc = s_load_file(s, file, err, errlen);
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
    vx_info("AU-INPUT", "input %s, %u patterns", ep, au_engine_pattern_count(s->engine));
    return s;
}

void
au_server_destroy(au_server_t **sp)
{
    if (sp == NULL || *sp == NULL) {
        return;
    }
    au_server_t *s = *sp;
    zsock_destroy(&s->input);
    au_engine_destroy(&s->engine);
    for (size_t i = 0; i < s->n; i++) {
        json_decref(s->ring[(s->head + i) % s->cap]);
    }
    free(s->ring);
    vx_arena_destroy(&s->arena);
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
    for (size_t i = 0; i < b->n_events; i++) {
        au_engine_on_event(s->engine, b->events[i], vx_mono_ns());
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
