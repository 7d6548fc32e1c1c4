/* SPDX-License-Identifier: Apache-2.0 */
/* The routing loop, the rule sets it decides with, and how a new set reaches it. */
#include "rt_server.h"

#include <czmq.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "rt_engine.h"
#include "rt_hscheck.h"
#include "rt_output.h"
#include "rt_store.h"
#include "vx_arena.h"
#include "vx_ackin.h"
#include "vx_clock.h"
#include "vx_etag.h"
#include "vx_event.h"
#include "vx_link.h"
#include "vx_log.h"
#include "vx_mem.h"
#include "vx_rx.h"
#include "vx_wire.h"

#define S_MAX_EVENTS 100000                 /* events in one input batch */
#define S_ARENA_LIMIT (256u << 20)          /* decoded form of one input batch, at most */
#define S_INPUT_CHECK_NS (250 * VX_NS_PER_MS) /* how often the input's connections are checked */
#define S_DRAIN_MAX 256                     /* input messages read per loop turn */
#define S_CACHE 4                           /* retired compiled sets kept (pattern caching) */
#define S_QUIET_NS (50 * VX_NS_PER_MS)      /* at stop: the input counts as drained */
#define S_STOP_DRAIN_NS (2 * VX_NS_PER_S)   /* at stop: longest spent draining input */
#define S_CTL_FMT "rt-ctl-%p"
#define S_N_SOURCES 9                       /* Boundary enum values, unspecified included */
#define S_F_METADATA 7                      /* vexfs.v1.Event.metadata */
#define S_F_PRIORITY 9                      /* vexfs.v1.Event.priority */

/* A compiled rule set and what the loop needs beside the engine. Reference counted: see
 * rt_server.h. Immutable once built. */
struct s_set {
    atomic_int refs;
    rt_engine_t *engine;
    json_t *rules;   /* normalized */
    json_t *filters;
    char *key;       /* the input it was built from, for the compile cache */
    uint32_t n_rules, n_filters;
    vx_counter_t **rule_ctr;   /* per rule: its exported match counter (emit_metrics), or NULL */
    bool *rule_log;            /* per rule: log_match */
    vx_counter_t **filter_ctr; /* per filter: vexfs_events_filtered_total{filter,action} */
};

/* A set handed to the loop. Two references: the caller's and the loop's. */
struct s_swap {
    atomic_int refs;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;      /* the loop took the set */
    bool cancelled; /* the caller gave up waiting; the loop must not take it */
    int status;     /* 0 or -ESHUTDOWN/-ENOMEM, valid when done */
    struct s_set *set;
};

struct rt_server {
    vx_metrics_t *metrics;
    struct rt_live live;
    struct rt_output_plan *plan;
    const char *boundaries[RT_MAX_OUTPUTS];
    char sender[300];
    bool reconfigurable;
    bool caching;
    int apply_timeout_ms;
    int shutdown_timeout_ms;
    int poll_ms;
    const char *state_dir; /* borrowed from cfg; "" when not persisted */
    const vx_sealer_t *sealer; /* seals the state file; NULL: at_rest.encryption off */
    vx_gauge_t *g_state_key;   /* the data key id the state file is sealed with (0: plain) */
    const char *rules_file;

    zsock_t *input;
    char input_ep[RT_ENDPOINT_MAX];
    const vx_socks_t *socks;
    struct vx_sock_spec input_spec; /* to open the input again (s_check_input) */
    uint64_t next_input_check_ns;
    zsock_t *ctl_pull;
    zsock_t *ctl_push;  /* guarded by ctl_mu; shared by changing threads */
    pthread_mutex_t ctl_mu;
    bool loop_started;  /* guarded by ctl_mu */
    bool closing;       /* guarded by ctl_mu */
    char ctl_ep[64];
    rt_outputs_t *outputs;
    struct rt_hscheck hscheck; /* the pattern library's self-test, run at start */

    /* loop thread only */
    struct s_set *loop_set;
    rt_scratch_t *scratch;
    vx_rx_t *rx;                /* the input's receive path (vx_rx.h) */
    vx_ackin_t *in;             /* plain or acknowledged input (vx_ackin.h) */
    struct vx_drops drops;      /* bad_frame, bad_protobuf, too_large */
    const struct vx_span *spans; /* the events of the batch being routed, from rx */
    uint8_t *xbuf;
    size_t xcap;
    bool in_batch;
    volatile sig_atomic_t *stop;
    uint64_t shutdown_deadline;
    atomic_bool running;

    /* changes: serialized by set_mu, which also guards cache and file_hash */
    pthread_mutex_t set_mu;
    struct s_set *cache[S_CACHE];
    char file_hash[17];

    /* the published set, for readers */
    pthread_mutex_t pub_mu;
    struct s_set *pub;
    uint64_t version;

    /* rules-file watcher */
    rt_watch_t *watch;
    struct rt_file_stamp stamp; /* the rules file as read at start */

    /* metrics */
    vx_counter_t *received[S_N_SOURCES];
    vx_counter_t *processed, *unrouted, *to_default, *slow, *seq_gaps, *batches_in;
    vx_counter_t *drop_bad_frame, *drop_bad_protobuf, *drop_too_large;
    vx_histogram_t *latency;
    vx_gauge_t *g_version, *g_rules, *g_filters, *g_lib_affected;
};

/* ---- sets ----------------------------------------------------------------------------- */

static struct s_set *
s_set_ref(struct s_set *set)
{
    atomic_fetch_add(&set->refs, 1);
    return set;
}

static void
s_set_release(struct s_set **sp)
{
    struct s_set *set = *sp;
    *sp = NULL;
    if (!set || atomic_fetch_sub(&set->refs, 1) != 1) {
        return;
    }
    rt_engine_destroy(&set->engine);
    json_decref(set->rules);
    json_decref(set->filters);
    free(set->key);
    free(set->rule_ctr);
    free(set->rule_log);
    free(set->filter_ctr);
    free(set);
}

/* Wraps a built engine (takes ownership) with its normalized JSON and metric series. */
static struct s_set *
s_set_new(rt_server_t *s, rt_engine_t *engine, char *key)
{
    struct s_set *set = vx_calloc(1, sizeof *set);
    atomic_init(&set->refs, 1);
    set->engine = engine;
    set->key = key;
    set->rules = rt_engine_rules_json(engine);
    set->filters = rt_engine_filters_json(engine);
    set->n_rules = rt_engine_rule_count(engine);
    set->n_filters = rt_engine_filter_count(engine);
    set->rule_ctr = vx_calloc(set->n_rules + 1, sizeof *set->rule_ctr);
    set->rule_log = vx_calloc(set->n_rules + 1, sizeof *set->rule_log);
    set->filter_ctr = vx_calloc(set->n_filters + 1, sizeof *set->filter_ctr);
    for (uint32_t i = 0; i < set->n_rules; i++) {
        struct rt_rule_info ri;
        if (rt_engine_rule_info(engine, i, &ri) < 0) {
            continue;
        }
        set->rule_log[i] = ri.log_match;
        if (ri.emit_metrics) {
            set->rule_ctr[i] = vx_metrics_counter(s->metrics, "vexfs_routing_rule_matches_total",
                                                  "Matches of rules with emit_metrics, by rule.",
                                                  "rule", ri.id, NULL);
        }
    }
    for (uint32_t i = 0; i < set->n_filters; i++) {
        struct rt_filter_info fi;
        if (rt_engine_filter_info(engine, i, &fi) < 0) {
            continue;
        }
        set->filter_ctr[i] = vx_metrics_counter(
            s->metrics, "vexfs_events_filtered_total",
            "Events blocked or sampled out, by filter id and its action.", "filter", fi.id,
            "action", rt_filter_action_name(fi.action), NULL);
    }
    return set;
}

static struct s_set *
s_pub_ref(rt_server_t *s, uint64_t *version)
{
    pthread_mutex_lock(&s->pub_mu);
    struct s_set *set = s_set_ref(s->pub);
    if (version) {
        *version = s->version;
    }
    pthread_mutex_unlock(&s->pub_mu);
    return set;
}

/* ---- metrics -------------------------------------------------------------------------- */

static double
cb_latency_p99_ns(void *arg)
{
    rt_server_t *s = arg;
    return vx_histogram_quantile(s->latency, 0.99) * (double)VX_NS_PER_S;
}

static double
cb_budget_ns(void *arg)
{
    rt_server_t *s = arg;
    return (double)atomic_load(&s->live.max_decision_ns);
}

static void
s_metrics_init(rt_server_t *s, vx_metrics_t *m)
{
    for (int i = 0; i < S_N_SOURCES; i++) {
        const char *name = vx_boundary_name(i);
        s->received[i] = vx_metrics_counter(m, "vexfs_events_received_total",
                                            "Events received from propagation, by source "
                                            "boundary.",
                                            "source", name ? name : "unspecified", NULL);
    }
    s->processed = vx_metrics_counter(m, "vexfs_events_processed_total",
                                      "Events decided by the rule set.", NULL);
    s->unrouted = vx_metrics_counter(m, "vexfs_events_unrouted_total",
                                     "Events no rule routed (sent to default_boundary when set).",
                                     NULL);
    s->to_default = vx_metrics_counter(m, "vexfs_events_default_routed_total",
                                       "Unrouted events sent to default_boundary.", NULL);
    s->slow = vx_metrics_counter(m, "vexfs_routing_slow_decisions_total",
                                 "Decisions slower than max_pattern_matching_latency_ns.", NULL);
    s->seq_gaps = vx_metrics_counter(m, "vexfs_sequence_gaps_total",
                                     "Batches missing in a sender's sequence, by link.", "link",
                                     "propagation", NULL);
    s->batches_in = vx_metrics_counter(m, "vexfs_batches_received_total",
                                       "ZeroMQ batches received.", NULL);
    static const char help[] = "Events not forwarded, by reason.";
    vx_drops_init(&s->drops, m, "vexfs_events_dropped_total", help,
                  VX_DROP_BIT(VX_DROP_BAD_FRAME) | VX_DROP_BIT(VX_DROP_BAD_PROTOBUF) |
                      VX_DROP_BIT(VX_DROP_TOO_LARGE));
    s->drop_bad_frame = vx_metrics_counter(m, "vexfs_events_dropped_total", help, "reason",
                                           "bad_frame", NULL);
    s->drop_bad_protobuf = vx_metrics_counter(m, "vexfs_events_dropped_total", help, "reason",
                                              "bad_protobuf", NULL);
    s->drop_too_large = vx_metrics_counter(m, "vexfs_events_dropped_total", help, "reason",
                                           "too_large", NULL);
    double bounds[24];
    size_t nb = vx_metrics_exp_bounds(bounds, 24, 1e-8, 2.0);
    s->latency = vx_metrics_histogram(m, "vexfs_routing_decision_seconds",
                                      "Time to decide one event (filters and rules).", bounds, nb,
                                      NULL);
    s->g_version = vx_metrics_gauge(m, "vexfs_routing_rule_set_version",
                                    "Version of the rule set in use.", NULL);
    s->g_rules = vx_metrics_gauge(m, "vexfs_routing_rules", "Rules in the set in use.", NULL);
    s->g_filters = vx_metrics_gauge(m, "vexfs_routing_filters", "Filters in the set in use.",
                                    NULL);
    s->g_lib_affected = vx_metrics_gauge(m, "vexfs_routing_pattern_library_affected",
                                         "1 when the linked Hyperscan/Vectorscan failed its "
                                         "start-up self-test on end-anchored patterns.",
                                         NULL);
    vx_metrics_gauge_fn(m, "vexfs_routing_decision_latency_p99",
                        "p99 of the decision time in nanoseconds.", cb_latency_p99_ns, s);
    vx_metrics_gauge_fn(m, "vexfs_routing_max_pattern_matching_latency_ns",
                        "Configured max_pattern_matching_latency_ns.", cb_budget_ns, s);
}

static void
s_count_change(rt_server_t *s, const char *origin, bool ok)
{
    vx_counter_t *c = vx_metrics_counter(s->metrics, "vexfs_routing_reloads_total",
                                         "Rule-set changes, by origin and result.", "origin",
                                         origin, "result", ok ? "applied" : "rejected", NULL);
    vx_counter_add(c, 1);
}

/* ---- handing a set to the loop -------------------------------------------------------- */

static void
s_swap_release(struct s_swap *w)
{
    if (atomic_fetch_sub(&w->refs, 1) == 1) {
        s_set_release(&w->set);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w);
    }
}

/* Loop side: takes the set of w unless its caller gave up. */
static void
s_adopt(rt_server_t *s, struct s_swap *w, bool refuse)
{
    pthread_mutex_lock(&w->mu);
    if (!w->cancelled) {
        int rc = refuse ? -ESHUTDOWN : rt_scratch_fit(s->scratch, w->set->engine);
        if (rc == 0) {
            struct s_set *old = s->loop_set;
            rt_engine_inherit(w->set->engine, old->engine);
            s->loop_set = s_set_ref(w->set);
            s_set_release(&old); /* no decision is running: between batches */
        }
        w->status = rc;
        w->done = true;
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    s_swap_release(w);
}

static void
s_service_ctl(rt_server_t *s, bool refuse)
{
    for (;;) {
        struct s_swap *w = NULL;
        if (zmq_recv(zsock_resolve(s->ctl_pull), &w, sizeof w, ZMQ_DONTWAIT) != sizeof w) {
            return;
        }
        s_adopt(s, w, refuse);
    }
}

/* Caller side: hands set to the loop and waits until it is taken. Before the loop runs (at
 * start) the set is installed directly. Returns 0, -ETIMEDOUT, -ESHUTDOWN or -ENOMEM. */
static int
s_handoff(rt_server_t *s, struct s_set *set)
{
    pthread_mutex_lock(&s->ctl_mu);
    if (!s->loop_started) {
        pthread_mutex_unlock(&s->ctl_mu);
        if (!s->loop_set) {
            s->scratch = rt_scratch_new(set->engine);
            if (!s->scratch) {
                return -ENOMEM;
            }
        } else if (rt_scratch_fit(s->scratch, set->engine) < 0) {
            return -ENOMEM;
        }
        if (s->loop_set) {
            rt_engine_inherit(set->engine, s->loop_set->engine);
        }
        s_set_release(&s->loop_set);
        s->loop_set = s_set_ref(set);
        return 0;
    }
    struct s_swap *w = vx_calloc(1, sizeof *w);
    atomic_init(&w->refs, 2);
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    w->set = s_set_ref(set);
    int sent = -1;
    if (!s->closing) {
        sent = zmq_send(zsock_resolve(s->ctl_push), &w, sizeof w, ZMQ_DONTWAIT);
    }
    pthread_mutex_unlock(&s->ctl_mu);
    if (sent != (int)sizeof w) {
        atomic_store(&w->refs, 1); /* the loop never saw it: ours is the only reference */
        s_swap_release(w);
        return -ESHUTDOWN;
    }
    struct timespec deadline = vx_mono_timespec(vx_deadline_ms((uint64_t)s->apply_timeout_ms));
    pthread_mutex_lock(&w->mu);
    while (!w->done) {
        if (pthread_cond_timedwait(&w->cv, &w->mu, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    int rc = w->done ? w->status : -ETIMEDOUT;
    if (!w->done) {
        w->cancelled = true;
    }
    pthread_mutex_unlock(&w->mu);
    s_swap_release(w);
    return rc;
}

/* ---- changing the set ----------------------------------------------------------------- */

static void
s_result_error(struct rt_result *out, unsigned http, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
s_result_error(struct rt_result *out, unsigned http, const char *code, const char *fmt, ...)
{
    out->http = http;
    out->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->message, sizeof out->message, fmt, ap);
    va_end(ap);
}

/* The cache key of an input: its canonical text and the limit it was checked against. */
static char *
s_set_key(json_t *rules, json_t *filters, uint32_t max_rules)
{
    json_t *k = json_pack("{s:O, s:O, s:I}", "r", rules, "f", filters, "m", (json_int_t)max_rules);
    char *text = k ? json_dumps(k, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(k);
    return text;
}

static struct s_set *
s_cache_take(rt_server_t *s, const char *key)
{
    for (size_t i = 0; key && i < S_CACHE; i++) {
        if (s->cache[i] && s->cache[i]->key && strcmp(s->cache[i]->key, key) == 0) {
            struct s_set *set = s->cache[i];
            s->cache[i] = NULL;
            return set;
        }
    }
    return NULL;
}

/* Keeps a retired set (takes the reference), forgetting the oldest when full. */
static void
s_cache_put(rt_server_t *s, struct s_set **sp)
{
    if (!s->caching || !(*sp)->key) {
        s_set_release(sp);
        return;
    }
    s_set_release(&s->cache[S_CACHE - 1]);
    memmove(&s->cache[1], &s->cache[0], (S_CACHE - 1) * sizeof s->cache[0]);
    s->cache[0] = *sp;
    *sp = NULL;
}

/* Builds, persists and installs rules + filters (borrowed arrays). Called with set_mu held.
 * persist false: the set came from the state file unchanged. file_hash: the rules file this
 * set came from, NULL when it did not. */
static void
s_apply(rt_server_t *s, json_t *rules, json_t *filters, const char *origin, const char *file_hash,
        bool persist, struct rt_result *out)
{
    memset(out, 0, sizeof *out);
    uint32_t max_rules = atomic_load(&s->live.max_rules);
    char *key = s_set_key(rules, filters, max_rules);
    struct s_set *set = s_cache_take(s, key);
    if (set) {
        free(key);
        vx_debug("RT-CACHE-HIT", "rule set taken from the compile cache");
    } else {
        struct rt_engine_opts opts = {
            .boundaries = s->boundaries,
            .n_boundaries = s->plan->n,
            .default_boundary = s->plan->default_index >= 0 ? s->boundaries[s->plan->default_index]
                                                            : NULL,
            .max_rules = max_rules,
            .max_filters = 0,
        };
        rt_engine_t *engine = NULL;
        char err[900];
        int rc = rt_engine_build(rules, filters, &opts, &engine, err, sizeof err);
        if (rc < 0) {
            free(key);
            switch (rc) {
            case -E2BIG:
                s_result_error(out, 413, "too_many_rules", "%s", err);
                break;
            case -ENOMEM:
                s_result_error(out, 503, "out_of_memory", "%s", err);
                break;
            default:
                s_result_error(out, 422, "invalid_rules", "%s", err);
                break;
            }
            s_count_change(s, origin, false);
            return;
        }
        set = s_set_new(s, engine, key);
    }

    /* A set restored from the state file keeps its version; every change makes a new one. */
    uint64_t version = persist ? s->version + 1 : s->version;
    const char *fh = file_hash ? file_hash : s->file_hash;
    struct rt_store_txn txn = {0};
    if (persist && s->state_dir[0]) {
        json_t *doc = json_pack("{s:i, s:I, s:O, s:O, s:s}", "format", RT_STORE_FORMAT, "version",
                                (json_int_t)version, "rules", set->rules, "filters",
                                set->filters, "rules_file_hash", fh);
        char err[900];
        int rc = doc ? rt_store_prepare(s->state_dir, s->sealer, doc, &txn, err, sizeof err)
                     : -ENOMEM;
        json_decref(doc);
        if (rc < 0) {
            s_result_error(out, 500, "persist_failed",
                           "the set was not applied: cannot write the state file: %s",
                           doc ? err : "out of memory");
            s_cache_put(s, &set);
            s_count_change(s, origin, false);
            return;
        }
    }

    int rc = s_handoff(s, set);
    if (rc < 0) {
        rt_store_abort(&txn);
        if (rc == -ETIMEDOUT) {
            s_result_error(out, 503, "busy",
                           "the set was not applied: the loop did not take it within %d ms (it "
                           "waits for room in a full queue of a block-policy boundary; /ready "
                           "names it)",
                           s->apply_timeout_ms);
        } else if (rc == -ESHUTDOWN) {
            s_result_error(out, 503, "shutting_down", "the set was not applied: shutting down");
        } else {
            s_result_error(out, 503, "out_of_memory",
                           "the set was not applied: no memory for its scratch space");
        }
        s_cache_put(s, &set);
        s_count_change(s, origin, false);
        return;
    }
    bool persisted = !persist || !s->state_dir[0];
    if (persist && s->state_dir[0]) {
        char err[900];
        persisted = rt_store_commit(&txn, err, sizeof err) == 0;
        if (persisted) {
            vx_gauge_set(s->g_state_key, s->sealer ? (double)vx_sealer_key_id(s->sealer) : 0);
        } else {
            vx_error("RT-STATE-WRITE", "rule set %llu applied but not persisted: %s",
                     (unsigned long long)version, err);
        }
    }
    if (file_hash) {
        snprintf(s->file_hash, sizeof s->file_hash, "%s", file_hash);
    }

    pthread_mutex_lock(&s->pub_mu);
    struct s_set *old = s->pub;
    s->pub = set; /* our reference moves to the published slot */
    s->version = version;
    pthread_mutex_unlock(&s->pub_mu);
    if (old) {
        s_cache_put(s, &old);
    }
    vx_gauge_set(s->g_version, (double)version);
    vx_gauge_set(s->g_rules, (double)set->n_rules);
    vx_gauge_set(s->g_filters, (double)set->n_filters);
    s_count_change(s, origin, true);
    vx_info("RT-RULES-APPLIED", "rule set %llu from %s: %u rules, %u filters%s",
            (unsigned long long)version, origin, set->n_rules, set->n_filters,
            persisted ? "" : " (not persisted)");
    out->http = 200;
    out->body = json_pack("{s:I, s:I, s:I, s:b}", "version", (json_int_t)version, "rules",
                          (json_int_t)set->n_rules, "filters", (json_int_t)set->n_filters,
                          "persisted", persisted && s->state_dir[0]);
}

static bool
s_check_reconfigurable(rt_server_t *s, struct rt_result *out)
{
    memset(out, 0, sizeof *out);
    if (!s->reconfigurable) {
        s_result_error(out, 409, "reconfiguration_disabled",
                       "event_routing.enable_dynamic_reconfiguration is false: the rule set "
                       "changes only at restart");
        return false;
    }
    return true;
}

void
rt_server_replace(rt_server_t *s, json_t *rules, json_t *filters, const char *origin,
                  struct rt_result *out)
{
    if (!s_check_reconfigurable(s, out)) {
        return;
    }
    pthread_mutex_lock(&s->set_mu);
    struct s_set *cur = s_pub_ref(s, NULL);
    s_apply(s, rules ? rules : cur->rules, filters ? filters : cur->filters, origin, NULL, true,
            out);
    s_set_release(&cur);
    pthread_mutex_unlock(&s->set_mu);
}

/* A copy of cur (an array of objects) with every object of given put in place of the one with
 * the same id, or appended (new reference). */
static json_t *
s_merge(json_t *cur, json_t *given)
{
    json_t *next = json_copy(cur);
    size_t i, j;
    json_t *g, *c;
    json_array_foreach(given, i, g) {
        const char *id = json_string_value(json_object_get(g, "id"));
        bool placed = false;
        json_array_foreach(next, j, c) {
            const char *cid = json_string_value(json_object_get(c, "id"));
            if (id != NULL && cid != NULL && strcmp(id, cid) == 0) {
                json_array_set(next, j, g);
                placed = true;
                break;
            }
        }
        if (!placed) {
            json_array_append(next, g);
        }
    }
    return next;
}

/* Builds the objects of a merge on their own, so that one refused is named by its place in
 * the request ("rules[N]" of what was sent), not in the merged set. Returns false with out
 * set when they do not build. */
static bool
s_validate_alone(rt_server_t *s, json_t *rules, json_t *filters, struct rt_result *out)
{
    json_t *none = json_array();
    struct rt_engine_opts opts = {
        .boundaries = s->boundaries,
        .n_boundaries = s->plan->n,
        .default_boundary = s->plan->default_index >= 0 ? s->boundaries[s->plan->default_index]
                                                        : NULL,
        .max_rules = atomic_load(&s->live.max_rules),
        .max_filters = 0,
    };
    rt_engine_t *engine = NULL;
    char err[900];
    int rc = rt_engine_build(rules ? rules : none, filters ? filters : none, &opts, &engine, err,
                             sizeof err);
    rt_engine_destroy(&engine);
    json_decref(none);
    if (rc < 0 && rc != -ENOMEM) {
        s_result_error(out, rc == -E2BIG ? 413 : 422,
                       rc == -E2BIG ? "too_many_rules" : "invalid_rules", "%s", err);
        s_count_change(s, "rest", false);
        return false;
    }
    return true;
}

void
rt_server_change(rt_server_t *s, json_t *rules, json_t *filters, bool merge,
                 const char *if_match, struct rt_result *out)
{
    if (!s_check_reconfigurable(s, out)) {
        return;
    }
    pthread_mutex_lock(&s->set_mu);
    uint64_t version;
    struct s_set *cur = s_pub_ref(s, &version);
    char etag[VX_ETAG_LEN];
    vx_etag_version(version, etag);
    if (!vx_etag_matches(if_match, etag)) {
        s_result_error(out, 412, "version_conflict",
                       "the rules and filters changed since they were read (If-Match %.64s, now "
                       "%s): nothing changed; read them again",
                       if_match, etag);
    } else if (!merge || s_validate_alone(s, rules, filters, out)) {
        json_t *r = rules == NULL ? json_incref(cur->rules)
                    : merge       ? s_merge(cur->rules, rules)
                                  : json_incref(rules);
        json_t *f = filters == NULL ? json_incref(cur->filters)
                    : merge         ? s_merge(cur->filters, filters)
                                    : json_incref(filters);
        s_apply(s, r, f, "rest", NULL, true, out);
        if (out->body != NULL) {
            vx_etag_version((uint64_t)json_integer_value(json_object_get(out->body, "version")),
                            etag);
            json_object_set_new(out->body, "etag", json_string(etag));
        }
        json_decref(r);
        json_decref(f);
    }
    s_set_release(&cur);
    pthread_mutex_unlock(&s->set_mu);
}

void
rt_server_add_rule(rt_server_t *s, json_t *rule, struct rt_result *out)
{
    if (!s_check_reconfigurable(s, out)) {
        return;
    }
    if (!json_is_object(rule)) {
        s_result_error(out, 400, "invalid_body", "expected one rule (a JSON object)");
        return;
    }
    const char *id = json_string_value(json_object_get(rule, "id"));
    pthread_mutex_lock(&s->set_mu);
    struct s_set *cur = s_pub_ref(s, NULL);
    if (id && rt_engine_rule_index(cur->engine, id) >= 0) {
        s_result_error(out, 409, "duplicate_id", "a rule with id \"%.128s\" exists", id);
    } else {
        json_t *next = json_copy(cur->rules);
        json_array_append(next, rule);
        s_apply(s, next, cur->filters, "rest", NULL, true, out);
        json_decref(next);
        if (out->body && id) {
            struct s_set *now = s_pub_ref(s, NULL);
            int32_t i = rt_engine_rule_index(now->engine, id);
            json_object_set(out->body, "rule", json_array_get(now->rules, (size_t)i));
            s_set_release(&now);
            out->http = 201;
        }
    }
    s_set_release(&cur);
    pthread_mutex_unlock(&s->set_mu);
}

void
rt_server_delete_rule(rt_server_t *s, const char *id, struct rt_result *out)
{
    if (!s_check_reconfigurable(s, out)) {
        return;
    }
    pthread_mutex_lock(&s->set_mu);
    struct s_set *cur = s_pub_ref(s, NULL);
    int32_t i = rt_engine_rule_index(cur->engine, id);
    if (i < 0) {
        s_result_error(out, 404, "not_found", "no rule with id \"%.128s\"", id);
    } else {
        json_t *next = json_copy(cur->rules);
        json_array_remove(next, (size_t)i);
        s_apply(s, next, cur->filters, "rest", NULL, true, out);
        json_decref(next);
        if (out->body) {
            json_object_set_new(out->body, "deleted", json_string(id));
        }
    }
    s_set_release(&cur);
    pthread_mutex_unlock(&s->set_mu);
}

/* ---- readers -------------------------------------------------------------------------- */

json_t *
rt_server_rules(rt_server_t *s)
{
    uint64_t v;
    struct s_set *set = s_pub_ref(s, &v);
    json_t *j = json_pack("{s:I, s:O}", "version", (json_int_t)v, "rules", set->rules);
    s_set_release(&set);
    return j;
}

json_t *
rt_server_filters(rt_server_t *s)
{
    uint64_t v;
    struct s_set *set = s_pub_ref(s, &v);
    json_t *j = json_pack("{s:I, s:O}", "version", (json_int_t)v, "filters", set->filters);
    s_set_release(&set);
    return j;
}

json_t *
rt_server_rule(rt_server_t *s, const char *id)
{
    struct s_set *set = s_pub_ref(s, NULL);
    int32_t i = rt_engine_rule_index(set->engine, id);
    json_t *j = i >= 0 ? json_incref(json_array_get(set->rules, (size_t)i)) : NULL;
    s_set_release(&set);
    return j;
}

void
rt_server_explain(rt_server_t *s, json_t *event, struct rt_result *out)
{
    memset(out, 0, sizeof *out);
    vx_arena_t *arena = vx_arena_new(64 * 1024, 64u * 1024 * 1024);
    vx_event_t *e = NULL;
    char err[512];
    enum vx_drop_reason reason = VX_DROP_BAD_JSON;
    int rc = vx_event_from_json(event, arena, &e, err, sizeof err, &reason);
    if (rc == 0) {
        rc = vx_event_validate(e, err, sizeof err, &reason);
    }
    if (rc < 0) {
        s_result_error(out, reason == VX_DROP_BAD_JSON ? 400 : 422, "invalid_event", "%s",
                       err);
        vx_arena_destroy(&arena);
        return;
    }
    uint64_t version;
    struct s_set *set = s_pub_ref(s, &version);
    rt_scratch_t *scratch = rt_scratch_new(set->engine);
    if (!scratch) {
        s_result_error(out, 503, "out_of_memory", "no memory for a pattern-matching scratch");
    } else {
        struct rt_decision d;
        rt_engine_decide(set->engine, scratch, e, vx_wall_ns(), true, &d);
        json_t *j = rt_decision_explain(set->engine, &d);
        json_t *outs = json_array();
        const char *path = e->path ? e->path : "";
        for (size_t i = 0; i < s->plan->n; i++) {
            if (d.targets & (1ULL << i)) {
                json_array_append_new(outs,
                                      rt_outputs_describe(s->outputs, i, path, strlen(path)));
            }
        }
        json_object_set_new(j, "outputs", outs);
        json_object_set_new(j, "version", json_integer((json_int_t)version));
        out->http = 200;
        out->body = j;
    }
    rt_scratch_destroy(&scratch);
    s_set_release(&set);
    vx_arena_destroy(&arena);
}

json_t *
rt_server_stats(rt_server_t *s)
{
    uint64_t version;
    struct s_set *set = s_pub_ref(s, &version);
    json_t *rules = json_array();
    for (uint32_t i = 0; i < set->n_rules; i++) {
        json_array_append_new(rules,
                              json_pack("{s:s, s:I}", "id", rt_engine_rule_id(set->engine, i),
                                        "matches",
                                        (json_int_t)rt_engine_rule_matches(set->engine, i)));
    }
    json_t *filters = json_array();
    for (uint32_t i = 0; i < set->n_filters; i++) {
        struct rt_filter_info fi;
        if (rt_engine_filter_info(set->engine, i, &fi) < 0) {
            continue;
        }
        json_array_append_new(
            filters, json_pack("{s:s, s:s, s:s, s:I, s:I}", "id", fi.id, "kind",
                               rt_filter_kind_name(fi.kind), "action",
                               rt_filter_action_name(fi.action), "matches",
                               (json_int_t)rt_engine_filter_matches(set->engine, i), "dropped",
                               (json_int_t)rt_engine_filter_drops(set->engine, i)));
    }
    struct rt_engine_stats es;
    rt_engine_stats(set->engine, &es);
    s_set_release(&set);
    json_t *in = json_object();
    for (int i = 0; i < S_N_SOURCES; i++) {
        uint64_t v = vx_counter_value(s->received[i]);
        const char *name = vx_boundary_name(i);
        if (v) {
            json_object_set_new(in, name ? name : "unspecified", json_integer((json_int_t)v));
        }
    }
    json_t *lat = json_pack("{s:f, s:f, s:f, s:I}", "p50_ns",
                            vx_histogram_quantile(s->latency, 0.50) * (double)VX_NS_PER_S, "p99_ns",
                            vx_histogram_quantile(s->latency, 0.99) * (double)VX_NS_PER_S, "p999_ns",
                            vx_histogram_quantile(s->latency, 0.999) * (double)VX_NS_PER_S, "count",
                            (json_int_t)vx_histogram_count(s->latency));
    json_t *dropped = json_pack(
        "{s:I, s:I, s:I}", "bad_frame", (json_int_t)vx_counter_value(s->drop_bad_frame),
        "bad_protobuf", (json_int_t)vx_counter_value(s->drop_bad_protobuf), "too_large",
        (json_int_t)vx_counter_value(s->drop_too_large));
    return json_pack("{s:I, s:o, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:o, s:o, s:o, s:o, "
                     "s:I, s:I, s:o, s:o}",
                     "version", (json_int_t)version, "received", in, "decided",
                     (json_int_t)vx_counter_value(s->processed), "decisions", "routed",
                     (json_int_t)es.routed, "unrouted", (json_int_t)es.unrouted, "to_default",
                     (json_int_t)es.to_default, "blocked", (json_int_t)es.blocked,
                     "sampled_out", (json_int_t)es.sampled_out, "scan_errors",
                     (json_int_t)es.scan_errors, "boundaries", rt_outputs_stats(s->outputs),
                     "rules", rules, "filters", filters, "decision_latency", lat,
                     "slow_decisions", (json_int_t)vx_counter_value(s->slow), "sequence_gaps",
                     (json_int_t)vx_counter_value(s->seq_gaps), "dropped", dropped,
                     "pattern_library", rt_hscheck_json(&s->hscheck));
}

bool
rt_server_ready(rt_server_t *s, json_t *detail)
{
    bool running = atomic_load(&s->running);
    bool kafka_ok = !rt_outputs_kafka_failed(s->outputs);
    json_object_set_new(detail, "loop", json_string(running ? "running" : "stopped"));
    json_object_set_new(detail, "kafka",
                        json_string(rt_outputs_has_kafka(s->outputs) ? (kafka_ok ? "ok" : "failed")
                                                                     : "off"));
    /* A blocked boundary degrades, it does not unready: one absent consumer must not take
     * the whole router out of service, but it is named here. */
    json_t *names = json_array(), *blocked = json_object();
    size_t n_blocked = rt_outputs_blocked(s->outputs, names, blocked);
    json_object_set_new(detail, "boundaries", json_string(n_blocked ? "degraded" : "ok"));
    json_object_set_new(detail, "degraded", names);
    json_object_set_new(detail, "blocked", blocked);
    json_object_set_new(detail, "pattern_library",
                        json_string(!s->hscheck.ran        ? "failed"
                                    : s->hscheck.affected ? "affected"
                                                          : "ok"));
    return running && kafka_ok;
}

bool
rt_server_reconfigurable(const rt_server_t *s)
{
    return s->reconfigurable;
}

struct rt_live *
rt_server_live(rt_server_t *s)
{
    return &s->live;
}

/* ---- routing one batch ---------------------------------------------------------------- */

/* Encodes what the decision adds to the event: metadata entries for tags, the new priority.
 * Appended after the event's own bytes, they win by protobuf's merge rules. */
static size_t
s_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static size_t
s_extra(rt_server_t *s, const vx_event_t *e, const struct rt_decision *d)
{
    size_t need = 16;
    for (uint32_t i = 0; i < d->n_tags; i++) {
        need += strlen(d->tags[i].key) + strlen(d->tags[i].value) + 32;
    }
    if (need > s->xcap) {
        s->xcap = need * 2;
        s->xbuf = vx_realloc(s->xbuf, s->xcap);
    }
    size_t n = 0;
    for (uint32_t i = 0; i < d->n_tags; i++) {
        /* A map entry is a MetadataEntry message: key (field 1) and value (field 2). */
        size_t kl = strlen(d->tags[i].key), vl = strlen(d->tags[i].value);
        size_t entry = 1 + s_varint_len(kl) + kl + 1 + s_varint_len(vl) + vl;
        n += vx_pb_varint(s->xbuf + n, S_F_METADATA << 3 | 2);
        n += vx_pb_varint(s->xbuf + n, entry);
        n += vx_pb_bytes(s->xbuf + n, 1, d->tags[i].key, kl);
        n += vx_pb_bytes(s->xbuf + n, 2, d->tags[i].value, vl);
    }
    if (d->priority_boost > 0 && d->priority != e->priority) {
        n += vx_pb_uint(s->xbuf + n, S_F_PRIORITY, d->priority);
    }
    return n;
}

static void
s_route_batch(rt_server_t *s, const vx_batch_t *b)
{
    struct s_set *set = s->loop_set;
    uint64_t wall = vx_wall_ns();
    uint64_t budget = atomic_load(&s->live.max_decision_ns);
    for (size_t i = 0; i < b->n_events; i++) {
        const vx_event_t *e = b->events[i];
        vx_counter_add(s->received[(unsigned)e->source < S_N_SOURCES ? e->source : 0], 1);
        struct rt_decision d;
        uint64_t t0 = vx_mono_ns();
        rt_engine_decide(set->engine, s->scratch, e, wall, false, &d);
        uint64_t dt = vx_mono_ns() - t0;
        vx_histogram_observe(s->latency, (double)dt * 1e-9);
        vx_counter_add(s->processed, 1);
        if (dt > budget) {
            vx_counter_add(s->slow, 1);
        }
        for (uint32_t k = 0; k < d.n_rules; k++) {
            uint32_t r = d.rules[k];
            if (r < set->n_rules && set->rule_ctr[r]) {
                vx_counter_add(set->rule_ctr[r], 1);
            }
        }
        if (d.log_match) {
            for (uint32_t k = 0; k < d.n_rules; k++) {
                if (d.rules[k] < set->n_rules && set->rule_log[d.rules[k]]) {
                    vx_info("RT-RULE-MATCH", "rule %s matched %s %s",
                            rt_engine_rule_id(set->engine, d.rules[k]),
                            vx_event_type_name(e->type) ? vx_event_type_name(e->type) : "event",
                            e->path ? e->path : "");
                }
            }
        }
        if (d.dropped) {
            if (d.drop_filter >= 0 && (uint32_t)d.drop_filter < set->n_filters) {
                vx_counter_add(set->filter_ctr[d.drop_filter], 1);
            }
            continue;
        }
        if (d.unrouted) {
            vx_counter_add(s->unrouted, 1);
            if (d.to_default) {
                vx_counter_add(s->to_default, 1);
            }
        }
        if (d.targets == 0) {
            continue;
        }
        size_t xlen = s_extra(s, e, &d);
        const char *path = e->path ? e->path : "";
        size_t plen = strlen(path);
        for (size_t k = 0; k < s->plan->n; k++) {
            if (d.targets & (1ULL << k)) {
                rt_outputs_put(s->outputs, k, s->spans[i].data, s->spans[i].len, s->xbuf, xlen,
                               path, plen);
            }
        }
    }
}

/* Reads up to max messages without waiting and routes each batch; returns how many were
 * read. Framing, decoding into a bounded arena, sequence tracking and drop accounting are
 * the suite's one receive path (vx_rx). */
static int
s_drain_input(rt_server_t *s, int max)
{
    int n = 0;
    for (; n < max; n++) {
        struct vx_rx_batch in;
        int rc = vx_ackin_recv(s->in, s->input, &in);
        if (rc == -EAGAIN || rc == -EINTR) {
            break;
        }
        vx_counter_add(s->batches_in, 1);
        if (rc < 0) {
            continue; /* dropped and counted by vx_rx, or a duplicate acknowledged again */
        }
        if (in.seq.missing) {
            vx_warn("RT-SEQ-GAP", "sender %s: %llu batches missing before %llu", in.sender,
                    (unsigned long long)in.seq.missing, (unsigned long long)in.batch_seq);
        }
        s->spans = in.events;
        s->in_batch = true;
        s_route_batch(s, in.batch);
        s->in_batch = false;
        s->spans = NULL;
        vx_ackin_done(s->in, rt_outputs_next_checkpoint(s->outputs));
    }
    return n;
}

/* Outputs call this while a consumer is full: keep taking new sets (outside a batch) and
 * decide when to give up (only once stopping and past the deadline). */
static bool
cb_output_wait(void *arg)
{
    rt_server_t *s = arg;
    rt_outputs_poll(s->outputs);
    if (!s->in_batch) {
        s_service_ctl(s, false);
    }
    uint64_t now = vx_mono_ns();
    if (s->stop && *s->stop && s->shutdown_deadline == 0) {
        s->shutdown_deadline = now + (uint64_t)s->shutdown_timeout_ms * VX_NS_PER_MS;
    }
    return s->shutdown_deadline && now >= s->shutdown_deadline;
}

/* ---- rules file ----------------------------------------------------------------------- */

/* Loads the rules file and applies it when it differs from what was applied last (or when
 * forced). Runs on the watcher thread. */
static void
s_reload_file(rt_server_t *s, bool force)
{
    json_t *rules = NULL, *filters = NULL;
    char hash[17], err[1024];
    if (rt_rules_file_load(s->rules_file, &rules, &filters, hash, err, sizeof err) < 0) {
        vx_error("RT-RULES-FILE", "not reloaded, the current set stays: %s", err);
        s_count_change(s, force ? "signal" : "file", false);
        return;
    }
    pthread_mutex_lock(&s->set_mu);
    if (force || strcmp(hash, s->file_hash) != 0) {
        struct s_set *cur = s_pub_ref(s, NULL);
        struct rt_result res;
        s_apply(s, rules ? rules : cur->rules, filters ? filters : cur->filters,
                force ? "signal" : "file", hash, true, &res);
        if (!res.body) {
            vx_error("RT-RULES-FILE", "%s: not applied, the current set stays: %s",
                     s->rules_file, res.message);
        }
        json_decref(res.body);
        s_set_release(&cur);
    }
    pthread_mutex_unlock(&s->set_mu);
    json_decref(rules);
    json_decref(filters);
}

static void
cb_rules_file(bool force, bool exists, void *arg)
{
    rt_server_t *s = arg;
    if (!exists) {
        vx_warn("RT-RULES-FILE", "%s: missing; the current set stays", s->rules_file);
        return;
    }
    if (force) {
        vx_info("RT-RULES-RELOAD", "SIGHUP: rereading %s", s->rules_file);
    }
    s_reload_file(s, force);
}

/* ---- lifecycle ------------------------------------------------------------------------ */

/* Writes the state file read at start again, as it was, sealed under the newest data key:
 * the migration of a plaintext file, or the re-seal of one sealed under an older key. */
static int
s_reseal_state(rt_server_t *s, json_t *state, uint32_t old_id, char *err, size_t errlen)
{
    struct rt_store_txn txn;
    int rc = rt_store_prepare(s->state_dir, s->sealer, state, &txn, err, errlen);
    if (rc == 0) {
        rc = rt_store_commit(&txn, err, errlen);
    }
    if (rc < 0) {
        return rc;
    }
    vx_gauge_set(s->g_state_key, (double)vx_sealer_key_id(s->sealer));
    vx_info("RT-STATE-SEALED", "state file %s/%s: %s, now sealed under data key %u",
            s->state_dir, RT_STORE_FILE, old_id ? "sealed under an older data key" : "plaintext",
            (unsigned)vx_sealer_key_id(s->sealer));
    return 0;
}

/* The first set: see rt_server_new. */
static int
s_initial_set(rt_server_t *s, char *err, size_t errlen)
{
    json_t *state = NULL;
    bool stale = false;
    uint32_t key_id = 0;
    if (!s->state_dir[0]) {
        vx_warn("RT-STATE", RT_SECTION ".state_dir is empty: rule changes are lost at restart");
    } else {
        int rc = rt_store_init(s->state_dir, err, errlen);
        if (rc == 0) {
            rc = rt_store_load(s->state_dir, s->sealer, &state, &stale, &key_id, err, errlen);
        }
        if (rc < 0) {
            return rc;
        }
        vx_gauge_set(s->g_state_key, (double)key_id);
    }
    json_t *empty = json_array();
    json_t *rules = state ? json_object_get(state, "rules") : empty;
    json_t *filters = state ? json_object_get(state, "filters") : empty;
    const char *origin = state ? "state" : "start";
    if (state) {
        s->version = (uint64_t)json_integer_value(json_object_get(state, "version"));
        const char *fh = json_string_value(json_object_get(state, "rules_file_hash"));
        snprintf(s->file_hash, sizeof s->file_hash, "%s", fh ? fh : "");
    }
    json_t *frules = NULL, *ffilters = NULL;
    char hash[17] = "";
    bool from_file = false;
    if (s->rules_file[0]) {
        rt_rules_file_stat(s->rules_file, &s->stamp);
        char ferr[1024];
        if (rt_rules_file_load(s->rules_file, &frules, &ffilters, hash, ferr, sizeof ferr) < 0) {
            if (!state) {
                snprintf(err, errlen, "%s", ferr);
                json_decref(empty);
                return -EINVAL;
            }
            vx_error("RT-RULES-FILE", "%s; starting with the saved set of %s", ferr,
                     s->state_dir);
        } else if (!state || strcmp(hash, s->file_hash) != 0) {
            /* The file changed since the saved set was made from it: the file wins. */
            rules = frules ? frules : rules;
            filters = ffilters ? ffilters : filters;
            origin = "file";
            from_file = true;
        }
    }
    struct rt_result res;
    s_apply(s, rules, filters, origin, from_file ? hash : NULL, !state || from_file, &res);
    if (!res.body) {
        snprintf(err, errlen, "rule set from %s: %s",
                 from_file ? s->rules_file : state ? s->state_dir : "start", res.message);
    } else if (state && stale && !from_file &&
               s_reseal_state(s, state, key_id, err, errlen) < 0) {
        json_decref(res.body);
        res.body = NULL; /* a state file that cannot be sealed stops the start */
    }
    json_decref(res.body);
    json_decref(frules);
    json_decref(ffilters);
    json_decref(state);
    json_decref(empty);
    return res.body ? 0 : -EINVAL;
}

/* Tests the linked pattern library on the shapes Vectorscan 5.4.9 gets wrong and says so
 * (rt_hscheck.h). Routing stays exact for every kind but regex either way. */
static void
s_selftest(rt_server_t *s)
{
    struct rt_hscheck *h = &s->hscheck;
    if (rt_hscheck_run(h) < 0) {
        vx_warn("RT-HS-SELFTEST", "pattern library %s: self-test could not run: %s", h->version,
                h->example);
    } else if (h->affected) {
        vx_warn("RT-HS-SELFTEST",
                "pattern library %s misses end-anchored matches (%u of %u known inputs, e.g. "
                "%s): prefix, suffix, exact and glob patterns are decided without it and stay "
                "exact, but a regex pattern ending in a short literal before $ or \\z can miss "
                "events; prefer a suffix pattern, or a library without this fault",
                h->version, h->missed, h->checked, h->example);
    } else {
        vx_info("RT-HS-SELFTEST", "pattern library %s passed its self-test (%u inputs, %.1f ms)",
                h->version, h->checked, h->elapsed_ms);
    }
    vx_gauge_set(s->g_lib_affected, h->affected ? 1.0 : 0.0);
}

/* Builds the server in the order its parts depend on each other: metrics and the receive path
 * first, the input's sequence tracking (vx_ackin), the output plan and its outputs, the
 * rule-set hand-over pipe and the initial rule set, and the input socket last, so no event is
 * read before there are rules and outputs to route it. Any failure destroys what exists. */
rt_server_t *
rt_server_new(const struct rt_config *cfg, const vx_socks_t *socks, vx_metrics_t *metrics,
              const vx_sealer_t *sealer, char *err, size_t errlen)
{
    rt_server_t *s = vx_calloc(1, sizeof *s);
    s->metrics = metrics;
    s->sealer = sealer;
    s->g_state_key = vx_metrics_gauge(metrics, "vexfs_routing_state_key_id",
                                      "The data key id the state file is sealed with (0: "
                                      "plaintext or no state file).",
                                      NULL);
    rt_live_load(&s->live, cfg);
    pthread_mutex_init(&s->ctl_mu, NULL);
    pthread_mutex_init(&s->set_mu, NULL);
    pthread_mutex_init(&s->pub_mu, NULL);
    s_metrics_init(s, metrics);
    s->reconfigurable = cfg->reconfigurable;
    s->caching = cfg->caching;
    s->apply_timeout_ms = cfg->apply_timeout_ms;
    s->shutdown_timeout_ms = cfg->shutdown_timeout_ms;
    s->poll_ms = cfg->rules_poll_ms;
    s->state_dir = cfg->state_dir;
    s->rules_file = cfg->rules_file;
    struct vx_rx_opts rxo = {.max_events = S_MAX_EVENTS, .decode = true,
                             .arena_limit = S_ARENA_LIMIT};
    /* Acknowledged: the senders' sequences are tracked by vx_ackin, across restarts. */
    struct vx_rx_counters rxc = {.drops = &s->drops, .gaps = cfg->input_acked ? NULL : s->seq_gaps};
    s->rx = vx_rx_new("input", &rxo, &rxc);
    struct vx_ackin_opts io = {
        .acked = cfg->input_acked,
        .prefix = "vexfs_routing_input",
        .where = RT_SECTION ".state_dir",
        .senders_max = (size_t)cfg->senders_max,
        .save_ms = cfg->senders_save_ms,
        .state_dir = cfg->state_dir,
        .sealer = sealer,
        .rx = s->rx,
        .gaps = s->seq_gaps,
        .drops = &s->drops,
    };
    s->in = vx_ackin_new(&io, metrics, err, errlen);
    if (!s->in) {
        goto fail;
    }

    /* A run's own sender id: the acknowledged boundaries' consumers remember senders across
     * routing's restarts (vx_link_run_sender). */
    const char *pid = cfg->producer_id;
    char base[300];
    if (pid[0]) {
        snprintf(base, sizeof base, "%s", pid);
    } else {
        char host[256] = "localhost";
        gethostname(host, sizeof host - 1);
        snprintf(base, sizeof base, "routing-%s-%ld", host, (long)getpid());
    }
    vx_link_run_sender(s->sender, sizeof s->sender, base);

    s->plan = vx_calloc(1, sizeof *s->plan);
    if (rt_config_plan(cfg, s->plan, err, errlen) < 0) {
        goto fail;
    }
    for (size_t i = 0; i < s->plan->n; i++) {
        s->boundaries[i] = s->plan->outputs[i].name;
    }
    struct rt_outputs_opts oo = {
        .plan = s->plan,
        .socks = socks,
        .tap_endpoint = cfg->tap_endpoint,
        .hwm = cfg->queue_hwm,
        .load_balance = cfg->load_balance,
        .sender = s->sender,
        .kafka_brokers = cfg->kafka_brokers,
        .kafka_security = cfg->kafka_security,
        .kafka_topic_prefix = cfg->kafka_topic_prefix,
        .kafka_message_timeout_ms = cfg->kafka_message_timeout_ms,
        .wait = cb_output_wait,
        .wait_arg = s,
        .ack_window_batches = cfg->boundary_ack_window_batches,
        .ack_timeout_ms = cfg->boundary_ack_timeout_ms,
    };
    s->outputs = rt_outputs_new(&oo, metrics, err, errlen);
    if (!s->outputs) {
        goto fail;
    }

    snprintf(s->ctl_ep, sizeof s->ctl_ep, S_CTL_FMT, (void *)s);
    if (vx_sock_pipe(socks, s->ctl_ep, &s->ctl_push, &s->ctl_pull) < 0) {
        snprintf(err, errlen, "cannot create the rule-set hand-over socket");
        goto fail;
    }

    s_selftest(s);
    if (s_initial_set(s, err, errlen) < 0) {
        goto fail;
    }

    snprintf(s->input_ep, sizeof s->input_ep, "%s", cfg->input_endpoint);
    s->socks = socks;
    s->input_spec = (struct vx_sock_spec){.type = vx_ackin_socket_type(s->in),
                                          .endpoint = s->input_ep, .rcvhwm = cfg->queue_hwm};
    if (cfg->input_acked) {
        /* Acknowledgements are few (one per batch, bounded by propagation's window): none is
         * dropped at a high-water mark. */
        s->input_spec.sndhwm = VX_SOCK_HWM_NONE;
    }
    char serr[512];
    s->input = vx_sock_open(socks, &s->input_spec, NULL, 0, serr, sizeof serr);
    if (!s->input) {
        snprintf(err, errlen, RT_SECTION ".input_endpoint: %s", serr);
        goto fail;
    }
    atomic_store(&s->running, true);
    return s;
fail:
    rt_server_destroy(&s);
    return NULL;
}

void
rt_server_destroy(rt_server_t **sp)
{
    if (!sp || !*sp) {
        return;
    }
    rt_server_t *s = *sp;
    rt_watch_destroy(&s->watch);
    if (s->ctl_pull) {
        s_service_ctl(s, true);
    }
    rt_outputs_destroy(&s->outputs);
    zsock_destroy(&s->input);
    zsock_destroy(&s->ctl_push);
    zsock_destroy(&s->ctl_pull);
    s_set_release(&s->loop_set);
    s_set_release(&s->pub);
    for (size_t i = 0; i < S_CACHE; i++) {
        s_set_release(&s->cache[i]);
    }
    rt_scratch_destroy(&s->scratch);
    vx_ackin_destroy(&s->in);
    vx_rx_destroy(&s->rx);
    free(s->xbuf);
    free(s->plan);
    pthread_mutex_destroy(&s->ctl_mu);
    pthread_mutex_destroy(&s->set_mu);
    pthread_mutex_destroy(&s->pub_mu);
    vx_free(sp);
}

static void
s_apply_live(rt_server_t *s)
{
    rt_outputs_set_batching(s->outputs, atomic_load(&s->live.batch_max_events),
                            (uint64_t)atomic_load(&s->live.batch_max_delay_us) * VX_NS_PER_US);
}

/* libzmq 4.3 ends a connecting socket's session for good when its upstream breaks the protocol
 * (an over-limit frame) and never reconnects: the socket monitor reports it (vx_sock.h) and
 * the input is opened again, so one bad frame cannot cut routing from propagation. Asked a few
 * times a second; returns true when the input socket changed. */
static bool
s_check_input(rt_server_t *s)
{
    uint64_t now = vx_mono_ns();
    if (now < s->next_input_check_ns) {
        return false;
    }
    s->next_input_check_ns = now + S_INPUT_CHECK_NS;
    char ep[256] = "";
    if (!vx_sock_link_lost(s->socks, s->input, ep, sizeof ep)) {
        return false;
    }
    char err[512];
    if (vx_sock_reopen(s->socks, &s->input, &s->input_spec, err, sizeof err) < 0) {
        vx_error("RT-INPUT-REOPEN", "the input's connection to %s was lost and it cannot be "
                                    "opened again (next try in %d ms): %s",
                 ep, (int)(S_INPUT_CHECK_NS / VX_NS_PER_MS), err);
        return false;
    }
    vx_warn("RT-INPUT-REOPEN", "the input's connection to %s was ended by a protocol error and "
                               "libzmq does not reconnect it: input socket opened again", ep);
    return true;
}

/* The loop and the stop in one function because they share the poll set and the deadline:
 * while running, one zmq_poll waits on the input, the rule-set hand-over and the outputs that
 * became writable, with a timeout that keeps the oldest waiting batch within
 * batch_max_delay_us; the input's batches are acknowledged only at a checkpoint with none of
 * their events left in a batch under construction (and, for acknowledged block-policy
 * boundaries, once their consumers acknowledged). On stop, what propagation already delivered is routed, within
 * S_STOP_DRAIN_NS and never past the one shutdown deadline the outputs also flush within. */
int
rt_server_run(rt_server_t *s, volatile sig_atomic_t *stop, volatile sig_atomic_t *reload)
{
    s->stop = stop;
    pthread_mutex_lock(&s->ctl_mu);
    s->loop_started = true;
    pthread_mutex_unlock(&s->ctl_mu);
    if (s->rules_file[0] && s->reconfigurable) {
        s->watch = rt_watch_new(s->rules_file, &s->stamp, s->poll_ms, cb_rules_file, s);
        if (!s->watch) {
            vx_error("RT-RULES-WATCH", "cannot start the rules-file watcher; %s is read at start "
                                       "only", s->rules_file);
        }
    }
    /* Input, rule-set hand-over, and the output sockets whose consumers have batches
     * waiting (writable again: send them). */
    size_t max_items = 2 + RT_MAX_OUTPUTS * RT_MAX_ENDPOINTS;
    zmq_pollitem_t *items = vx_calloc(max_items, sizeof *items);
    items[0] = (zmq_pollitem_t){zsock_resolve(s->input), 0, ZMQ_POLLIN, 0};
    items[1] = (zmq_pollitem_t){zsock_resolve(s->ctl_pull), 0, ZMQ_POLLIN, 0};
    vx_info("RT-RUN", "sender %s: input %s, %zu boundaries, rules file %s, state %s", s->sender,
            s->input_ep, s->plan->n, s->rules_file[0] ? s->rules_file : "none",
            s->state_dir[0] ? s->state_dir : "not persisted");
    while (!*stop) {
        if (*reload) {
            *reload = 0;
            if (!s->reconfigurable || !s->watch) {
                vx_warn("RT-RULES-RELOAD", "SIGHUP ignored: %s",
                        !s->reconfigurable ? "enable_dynamic_reconfiguration is false"
                                           : "no rules_file configured");
            } else {
                rt_watch_trigger(s->watch);
            }
        }
        s_apply_live(s);
        long timeout = 100;
        uint64_t oldest = rt_outputs_oldest(s->outputs);
        uint64_t delay = (uint64_t)atomic_load(&s->live.batch_max_delay_us) * VX_NS_PER_US;
        if (oldest) {
            uint64_t age = vx_mono_ns() - oldest;
            timeout = age >= delay ? 0 : (long)((delay - age) / VX_NS_PER_MS);
        }
        uint64_t wake = rt_outputs_wake_ns(s->outputs);
        if (wake != UINT64_MAX) {
            uint64_t now = vx_mono_ns();
            long w = wake <= now ? 0 : (long)((wake - now) / VX_NS_PER_MS) + 1;
            timeout = w < timeout ? w : timeout;
        }
        size_t n_out = rt_outputs_pollitems(s->outputs, items + 2, max_items - 2);
        items[0].revents = items[1].revents = 0;
        /* Every acknowledgement slot taken: read no input until some leave. */
        items[0].events = vx_ackin_full(s->in) ? 0 : ZMQ_POLLIN;
        int n = zmq_poll(items, (int)(2 + n_out), timeout);
        if (n < 0 && zmq_errno() != EINTR) {
            vx_error("RT-POLL", "zmq_poll: %s", zmq_strerror(zmq_errno()));
            break;
        }
        bool input = n > 0 && (items[0].revents & ZMQ_POLLIN);
        if (n > 0) {
            if (items[1].revents & ZMQ_POLLIN) {
                s_service_ctl(s, false);
            }
            if (input) {
                s_drain_input(s, S_DRAIN_MAX);
            }
        }
        /* Send when input went quiet, or when the oldest waiting batch is due; and whatever
         * waits for consumers that take it now. */
        bool acks_due = rt_outputs_checkpoint_due(s->outputs);
        rt_outputs_flush(s->outputs, !input || acks_due);
        rt_outputs_poll(s->outputs);
        /* A checkpoint only once no event of the batches read is left in a batch under
         * construction: each was sent, or queued for its consumer. The input's
         * acknowledgements leave when their checkpoint is reached: at once, or, with
         * acknowledged block-policy boundaries, once those consumers acknowledged every batch
         * holding the events (so a kill -9 of routing loses nothing propagation will not send
         * again). */
        if (acks_due && rt_outputs_oldest(s->outputs) == 0) {
            rt_outputs_checkpoint(s->outputs);
        }
        vx_ackin_flush(s->in, s->input, rt_outputs_reached(s->outputs));
        vx_ackin_tick(s->in);
        if (s_check_input(s)) {
            items[0].socket = zsock_resolve(s->input);
        }
    }
    free(items);

    /* Shutdown: take what propagation already delivered to us, then close the input. */
    vx_info("RT-STOP", "stopping input; routing what was received and flushing outputs");
    atomic_store(&s->running, false); /* /ready answers 503 from here on */
    uint64_t now = vx_mono_ns();
    /* Counted from the stop request: a wait for a full consumer may have started it already
     * (cb_output_wait), and starting it again here would give a stop twice the timeout. The
     * input is drained for S_STOP_DRAIN_NS at most, and never past the deadline. */
    if (s->shutdown_deadline == 0) {
        s->shutdown_deadline = now + (uint64_t)s->shutdown_timeout_ms * VX_NS_PER_MS;
    }
    uint64_t drain_end = now + S_STOP_DRAIN_NS, last_msg = now;
    if (drain_end > s->shutdown_deadline) {
        drain_end = s->shutdown_deadline;
    }
    while ((now = vx_mono_ns()) < drain_end && now - last_msg < S_QUIET_NS) {
        if (s_drain_input(s, S_DRAIN_MAX) > 0) {
            last_msg = vx_mono_ns();
        } else {
            zmq_pollitem_t in = {zsock_resolve(s->input), 0, ZMQ_POLLIN, 0};
            zmq_poll(&in, 1, 5);
        }
    }
    zsock_set_linger(s->input, 0);
    zsock_destroy(&s->input);
    pthread_mutex_lock(&s->ctl_mu);
    s->closing = true;
    pthread_mutex_unlock(&s->ctl_mu);
    s_service_ctl(s, true);
    rt_watch_destroy(&s->watch);
    now = vx_mono_ns();
    int left = now < s->shutdown_deadline
                   ? (int)((s->shutdown_deadline - now) / VX_NS_PER_MS)
                   : 0;
    int rc = rt_outputs_shutdown(s->outputs, left);
    vx_info("RT-STOPPED", "flushed; %llu events decided in total",
            (unsigned long long)vx_counter_value(s->processed));
    return rc;
}
