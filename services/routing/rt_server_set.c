/* SPDX-License-Identifier: Apache-2.0 */
/* Routing's rule sets: a compiled set with its metric series, the compile cache, the hand-over
 * of a set to the loop, and applying a set (build, persist, hand over, publish); see
 * rt_server.h for the protocol. */
#include "rt_server_priv.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "vx_clock.h"
#include "vx_event.h"
#include "vx_log.h"
#include "vx_mem.h"

/* ---- sets ----------------------------------------------------------------------------- */

struct rt_set *
rt_set_ref(struct rt_set *set)
{
    atomic_fetch_add(&set->refs, 1);
    return set;
}

void
rt_set_release(struct rt_set **sp)
{
    struct rt_set *set = *sp;
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
static struct rt_set *
s_set_new(rt_server_t *s, rt_engine_t *engine, char *key)
{
    struct rt_set *set = vx_calloc(1, sizeof *set);
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

struct rt_set *
rt_set_pub_ref(rt_server_t *s, uint64_t *version)
{
    pthread_mutex_lock(&s->pub_mu);
    struct rt_set *set = rt_set_ref(s->pub);
    if (version) {
        *version = s->version;
    }
    pthread_mutex_unlock(&s->pub_mu);
    return set;
}

void
rt_server_count_change(rt_server_t *s, const char *origin, bool ok)
{
    vx_counter_t *c = vx_metrics_counter(s->metrics, "vexfs_routing_reloads_total",
                                         "Rule-set changes, by origin and result.", "origin",
                                         origin, "result", ok ? "applied" : "rejected", NULL);
    vx_counter_add(c, 1);
}

/* ---- handing a set to the loop -------------------------------------------------------- */

/* A set handed to the loop. Two references: the caller's and the loop's. */
struct s_swap {
    atomic_int refs;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;      /* the loop took the set */
    bool cancelled; /* the caller gave up waiting; the loop must not take it */
    int status;     /* 0 or -ESHUTDOWN/-ENOMEM, valid when done */
    struct rt_set *set;
};

static void
s_swap_release(struct s_swap *w)
{
    if (atomic_fetch_sub(&w->refs, 1) == 1) {
        rt_set_release(&w->set);
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
            struct rt_set *old = s->loop_set;
            rt_engine_inherit(w->set->engine, old->engine);
            s->loop_set = rt_set_ref(w->set);
            rt_set_release(&old); /* no decision is running: between batches */
        }
        w->status = rc;
        w->done = true;
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    s_swap_release(w);
}

void
rt_server_service_ctl(rt_server_t *s, bool refuse)
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
s_handoff(rt_server_t *s, struct rt_set *set)
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
        rt_set_release(&s->loop_set);
        s->loop_set = rt_set_ref(set);
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
    w->set = rt_set_ref(set);
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


void
rt_server_result_error(struct rt_result *out, unsigned http, const char *code, const char *fmt, ...)
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

static struct rt_set *
s_cache_take(rt_server_t *s, const char *key)
{
    for (size_t i = 0; key && i < RT_SERVER_CACHE; i++) {
        if (s->cache[i] && s->cache[i]->key && strcmp(s->cache[i]->key, key) == 0) {
            struct rt_set *set = s->cache[i];
            s->cache[i] = NULL;
            return set;
        }
    }
    return NULL;
}

/* Keeps a retired set (takes the reference), forgetting the oldest when full. */
static void
s_cache_put(rt_server_t *s, struct rt_set **sp)
{
    if (!s->caching || !(*sp)->key) {
        rt_set_release(sp);
        return;
    }
    rt_set_release(&s->cache[RT_SERVER_CACHE - 1]);
    memmove(&s->cache[1], &s->cache[0], (RT_SERVER_CACHE - 1) * sizeof s->cache[0]);
    s->cache[0] = *sp;
    *sp = NULL;
}

struct rt_engine_opts
rt_server_engine_opts(const rt_server_t *s, uint32_t max_rules)
{
    return (struct rt_engine_opts){
        .boundaries = s->boundaries,
        .n_boundaries = s->plan->n,
        .default_boundary = s->plan->default_index >= 0 ? s->boundaries[s->plan->default_index]
                                                        : NULL,
        .max_rules = max_rules,
        .max_filters = 0,
    };
}

/* The set of rules + filters: from the compile cache, or built (takes key). NULL with out set
 * when it does not build. */
static struct rt_set *
s_build(rt_server_t *s, json_t *rules, json_t *filters, char *key, uint32_t max_rules,
        struct rt_result *out)
{
    struct rt_set *set = s_cache_take(s, key);
    if (set) {
        free(key);
        vx_debug("RT-CACHE-HIT", "rule set taken from the compile cache");
        return set;
    }
    struct rt_engine_opts opts = rt_server_engine_opts(s, max_rules);
    rt_engine_t *engine = NULL;
    char err[900];
    int rc = rt_engine_build(rules, filters, &opts, &engine, err, sizeof err);
    if (rc < 0) {
        free(key);
        switch (rc) {
        case -E2BIG:
            rt_server_result_error(out, 413, "too_many_rules", "%s", err);
            break;
        case -ENOMEM:
            rt_server_result_error(out, 503, "out_of_memory", "%s", err);
            break;
        default:
            rt_server_result_error(out, 422, "invalid_rules", "%s", err);
            break;
        }
        return NULL;
    }
    return s_set_new(s, engine, key);
}

/* Writes set as version to a temporary state file (txn), committed once the loop took it.
 * Returns false with out set when it cannot be written. */
static bool
s_persist_prepare(rt_server_t *s, const struct rt_set *set, uint64_t version, const char *fh,
                  struct rt_store_txn *txn, struct rt_result *out)
{
    json_t *doc = json_pack("{s:i, s:I, s:O, s:O, s:s}", "format", RT_STORE_FORMAT, "version",
                            (json_int_t)version, "rules", set->rules, "filters", set->filters,
                            "rules_file_hash", fh);
    char err[900];
    int rc = doc ? rt_store_prepare(s->state_dir, s->sealer, doc, txn, err, sizeof err)
                 : -ENOMEM;
    json_decref(doc);
    if (rc < 0) {
        rt_server_result_error(out, 500, "persist_failed",
                               "the set was not applied: cannot write the state file: %s",
                               doc ? err : "out of memory");
        return false;
    }
    return true;
}

/* The answer when the loop did not take the set (rc from s_handoff). */
static void
s_handoff_error(const rt_server_t *s, int rc, struct rt_result *out)
{
    if (rc == -ETIMEDOUT) {
        rt_server_result_error(out, 503, "busy",
                               "the set was not applied: the loop did not take it within %d ms "
                               "(it waits for room in a full queue of a block-policy boundary; "
                               "/ready names it)",
                               s->apply_timeout_ms);
    } else if (rc == -ESHUTDOWN) {
        rt_server_result_error(out, 503, "shutting_down",
                               "the set was not applied: shutting down");
    } else {
        rt_server_result_error(out, 503, "out_of_memory",
                               "the set was not applied: no memory for its scratch space");
    }
}

/* Makes set (the caller's reference moves) the one readers see, as version; the set it
 * replaces goes to the compile cache. */
static void
s_publish(rt_server_t *s, struct rt_set *set, uint64_t version)
{
    pthread_mutex_lock(&s->pub_mu);
    struct rt_set *old = s->pub;
    s->pub = set;
    s->version = version;
    pthread_mutex_unlock(&s->pub_mu);
    if (old) {
        s_cache_put(s, &old);
    }
    vx_gauge_set(s->g_version, (double)version);
    vx_gauge_set(s->g_rules, (double)set->n_rules);
    vx_gauge_set(s->g_filters, (double)set->n_filters);
}

/* In steps whose order is the guarantee of rt_server.h: build (or take from the cache),
 * write the state file aside, hand over to the loop, and only once the loop took it commit
 * the state file and publish; a failed step changes nothing. */
void
rt_server_apply(rt_server_t *s, json_t *rules, json_t *filters, const char *origin,
                const char *file_hash, bool persist, struct rt_result *out)
{
    memset(out, 0, sizeof *out);
    uint32_t max_rules = atomic_load(&s->live.max_rules);
    struct rt_set *set = s_build(s, rules, filters, s_set_key(rules, filters, max_rules),
                                 max_rules, out);
    if (!set) {
        rt_server_count_change(s, origin, false);
        return;
    }

    /* A set restored from the state file keeps its version; every change makes a new one. */
    uint64_t version = persist ? s->version + 1 : s->version;
    const char *fh = file_hash ? file_hash : s->file_hash;
    bool store = persist && s->state_dir[0];
    struct rt_store_txn txn = {0};
    if (store && !s_persist_prepare(s, set, version, fh, &txn, out)) {
        s_cache_put(s, &set);
        rt_server_count_change(s, origin, false);
        return;
    }

    int rc = s_handoff(s, set);
    if (rc < 0) {
        rt_store_abort(&txn);
        s_handoff_error(s, rc, out);
        s_cache_put(s, &set);
        rt_server_count_change(s, origin, false);
        return;
    }
    bool persisted = !store;
    if (store) {
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
    uint32_t n_rules = set->n_rules, n_filters = set->n_filters;
    s_publish(s, set, version);
    rt_server_count_change(s, origin, true);
    vx_info("RT-RULES-APPLIED", "rule set %llu from %s: %u rules, %u filters%s",
            (unsigned long long)version, origin, n_rules, n_filters,
            persisted ? "" : " (not persisted)");
    out->http = 200;
    out->body = json_pack("{s:I, s:I, s:I, s:b}", "version", (json_int_t)version, "rules",
                          (json_int_t)n_rules, "filters", (json_int_t)n_filters, "persisted",
                          persisted && s->state_dir[0]);
}
