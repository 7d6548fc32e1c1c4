/* SPDX-License-Identifier: Apache-2.0 */
/* The routing loop: its input, routing one batch, the rules-file watcher, start and stop. The
 * rule sets it decides with are in rt_server_set.c, the REST changes in rt_server_rules.c. */
#include "rt_server_priv.h"

#include <czmq.h>
#include <errno.h>
#include <pthread.h>
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
#define S_QUIET_NS (50 * VX_NS_PER_MS)      /* at stop: the input counts as drained */
#define S_STOP_DRAIN_NS (2 * VX_NS_PER_S)   /* at stop: longest spent draining input */
#define S_CTL_FMT "rt-ctl-%p"
#define S_F_METADATA 7                      /* vexfs.v1.Event.metadata */
#define S_F_PRIORITY 9                      /* vexfs.v1.Event.priority */

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
    for (int i = 0; i < RT_SERVER_N_SOURCES; i++) {
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
    struct rt_set *set = s->loop_set;
    uint64_t wall = vx_wall_ns();
    uint64_t budget = atomic_load(&s->live.max_decision_ns);
    for (size_t i = 0; i < b->n_events; i++) {
        const vx_event_t *e = b->events[i];
        vx_counter_add(s->received[(unsigned)e->source < RT_SERVER_N_SOURCES ? e->source : 0], 1);
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
        rt_server_service_ctl(s, false);
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
        rt_server_count_change(s, force ? "signal" : "file", false);
        return;
    }
    pthread_mutex_lock(&s->set_mu);
    if (force || strcmp(hash, s->file_hash) != 0) {
        struct rt_set *cur = rt_set_pub_ref(s, NULL);
        struct rt_result res;
        rt_server_apply(s, rules ? rules : cur->rules, filters ? filters : cur->filters,
                force ? "signal" : "file", hash, true, &res);
        if (!res.body) {
            vx_error("RT-RULES-FILE", "%s: not applied, the current set stays: %s",
                     s->rules_file, res.message);
        }
        json_decref(res.body);
        rt_set_release(&cur);
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
    rt_server_apply(s, rules, filters, origin, from_file ? hash : NULL, !state || from_file, &res);
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

/* The receive path and the input's sequence tracking (plain or acknowledged, vx_ackin). */
static int
s_receive_new(rt_server_t *s, const struct rt_config *cfg, char *err, size_t errlen)
{
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
        .sealer = s->sealer,
        .rx = s->rx,
        .gaps = s->seq_gaps,
        .drops = &s->drops,
    };
    s->in = vx_ackin_new(&io, s->metrics, err, errlen);
    return s->in ? 0 : -EINVAL;
}

/* The sender name of this run (producer_id, or routing-<host>-<pid>, then @<start ns>), the
 * output plan and its outputs. */
static int
s_outputs_new(rt_server_t *s, const struct rt_config *cfg, const vx_socks_t *socks, char *err,
              size_t errlen)
{
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
        return -EINVAL;
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
    s->outputs = rt_outputs_new(&oo, s->metrics, err, errlen);
    return s->outputs ? 0 : -EINVAL;
}

/* The input socket, connected to propagation (acknowledged: a DEALER that answers). */
static int
s_input_open(rt_server_t *s, const struct rt_config *cfg, const vx_socks_t *socks, char *err,
             size_t errlen)
{
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
        return -EINVAL;
    }
    return 0;
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
    if (s_receive_new(s, cfg, err, errlen) < 0 || s_outputs_new(s, cfg, socks, err, errlen) < 0) {
        goto fail;
    }
    snprintf(s->ctl_ep, sizeof s->ctl_ep, S_CTL_FMT, (void *)s);
    if (vx_sock_pipe(socks, s->ctl_ep, &s->ctl_push, &s->ctl_pull) < 0) {
        snprintf(err, errlen, "cannot create the rule-set hand-over socket");
        goto fail;
    }
    s_selftest(s);
    if (s_initial_set(s, err, errlen) < 0 || s_input_open(s, cfg, socks, err, errlen) < 0) {
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
        rt_server_service_ctl(s, true);
    }
    rt_outputs_destroy(&s->outputs);
    zsock_destroy(&s->input);
    zsock_destroy(&s->ctl_push);
    zsock_destroy(&s->ctl_pull);
    rt_set_release(&s->loop_set);
    rt_set_release(&s->pub);
    for (size_t i = 0; i < RT_SERVER_CACHE; i++) {
        rt_set_release(&s->cache[i]);
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

/* The rules-file watcher (only when the rule set may change at run time). */
static void
s_watch_start(rt_server_t *s)
{
    if (s->rules_file[0] && s->reconfigurable) {
        s->watch = rt_watch_new(s->rules_file, &s->stamp, s->poll_ms, cb_rules_file, s);
        if (!s->watch) {
            vx_error("RT-RULES-WATCH", "cannot start the rules-file watcher; %s is read at start "
                                       "only", s->rules_file);
        }
    }
}

/* SIGHUP: read the rules file again now. */
static void
s_on_reload(rt_server_t *s)
{
    if (!s->reconfigurable || !s->watch) {
        vx_warn("RT-RULES-RELOAD", "SIGHUP ignored: %s",
                !s->reconfigurable ? "enable_dynamic_reconfiguration is false"
                                   : "no rules_file configured");
    } else {
        rt_watch_trigger(s->watch);
    }
}

/* How long one poll may wait: 100 ms at most, less so the oldest waiting batch leaves within
 * batch_max_delay_us and an output's timer (a resend, a reconnect) is served on time. */
static long
s_poll_timeout(rt_server_t *s)
{
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
    return timeout;
}

/* After a turn's reads: send, checkpoint and acknowledge the input. input: the turn read
 * input (then only due batches are sent, so batches fill while events keep coming). */
static void
s_turn_end(rt_server_t *s, bool input)
{
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
}

/* Shutdown: take what propagation already delivered to us, then close the input, refuse new
 * sets and flush the outputs, all within the one shutdown deadline. */
static int
s_stop(rt_server_t *s)
{
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
    rt_server_service_ctl(s, true);
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

/* The loop: one zmq_poll waits on the input, the rule-set hand-over and the outputs that
 * became writable, with a timeout that keeps the oldest waiting batch within
 * batch_max_delay_us; the input's batches are acknowledged only at a checkpoint with none of
 * their events left in a batch under construction (and, for acknowledged block-policy
 * boundaries, once their consumers acknowledged). On stop, what propagation already delivered
 * is routed, within S_STOP_DRAIN_NS and never past the one shutdown deadline the outputs also
 * flush within (s_stop). */
int
rt_server_run(rt_server_t *s, volatile sig_atomic_t *stop, volatile sig_atomic_t *reload)
{
    s->stop = stop;
    pthread_mutex_lock(&s->ctl_mu);
    s->loop_started = true;
    pthread_mutex_unlock(&s->ctl_mu);
    s_watch_start(s);
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
            s_on_reload(s);
        }
        s_apply_live(s);
        long timeout = s_poll_timeout(s);
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
                rt_server_service_ctl(s, false);
            }
            if (input) {
                s_drain_input(s, S_DRAIN_MAX);
            }
        }
        s_turn_end(s, input);
        if (s_check_input(s)) {
            items[0].socket = zsock_resolve(s->input);
        }
    }
    free(items);
    return s_stop(s);
}
