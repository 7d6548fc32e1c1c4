/* SPDX-License-Identifier: Apache-2.0 */
/* The automation daemon's start, stop and loop: batches from the input socket through the
 * CEP engine (see au_server.h; the pattern set, alerts, workflows and state are in the
 * au_server_*.c files beside this one). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "au_config.h"
#include "vx_rx.h"
#include "au_server_priv.h"
#include "vx_clock.h"
#include "vx_jsonfile.h"
#include "vx_log.h"
#include "vx_mem.h"

#define S_POLL_MS 10               /* how late an absence may fire when no input comes */
#define S_ARENA_LIMIT (256u << 20) /* one decoded batch at most */

#define S_DROPPED_HELP "Events not matched by event-time patterns, by reason."

/* The loop's counters and gauges, registered once at start so that the loop adds to them
 * without looking a series up by its labels. */
static void
s_metrics_init(au_server_t *s, vx_metrics_t *metrics)
{
    s->live.c_batches = vx_metrics_counter(metrics, "vexfs_automation_batches_total",
                                           "Input batches received.", NULL);
    s->live.c_events = vx_metrics_counter(metrics, "vexfs_automation_events_total",
                                          "Events fed to the pattern engine.", NULL);
    s->live.c_bad = vx_metrics_counter(metrics, "vexfs_automation_bad_batches_total",
                                       "Input messages that were not a valid batch (dropped).",
                                       NULL);
    s->live.c_gaps = vx_metrics_counter(metrics, "vexfs_automation_lost_batches_total",
                                        "Batches missing in a sender's sequence.", NULL);
    s->replay.c_batches = vx_metrics_counter(metrics, "vexfs_automation_replay_batches_total",
                                             "Batches received on the replay input.", NULL);
    s->replay.c_events = vx_metrics_counter(metrics, "vexfs_automation_replay_events_total",
                                            "Events fed to the replay engine.", NULL);
    s->replay.c_bad =
        vx_metrics_counter(metrics, "vexfs_automation_replay_bad_batches_total",
                           "Replay input messages that were not a valid batch (dropped).", NULL);
    s->replay.c_gaps =
        vx_metrics_counter(metrics, "vexfs_automation_replay_lost_batches_total",
                           "Batches missing in a replay sender's sequence.", NULL);
    s->c_late = vx_metrics_counter(metrics, "vexfs_automation_events_dropped_total",
                                   S_DROPPED_HELP, "reason", "late", NULL);
    s->c_no_time = vx_metrics_counter(metrics, "vexfs_automation_events_dropped_total",
                                      S_DROPPED_HELP, "reason", "no_event_time", NULL);
    s->c_forced = vx_metrics_counter(
        metrics, "vexfs_automation_watermark_forced_total",
        "Held events released before their watermark because of max_reorder_bytes.", NULL);
    s->g_held = vx_metrics_gauge(metrics, "vexfs_automation_held_events",
                                 "Events held until the watermark passes them (event time).",
                                 NULL);
    static const char *const stages[AU_N_STAGES] = {"receive", "match", "actions"};
    for (int i = 0; i < AU_N_STAGES; i++) {
        s->c_stage[i] = vx_metrics_counter(
            metrics, "vexfs_automation_stage_nanoseconds_total",
            "Time the input loop spent per stage: receive (ZeroMQ), decode (protobuf), match "
            "(the engines), actions (alerts, workflows, emits).",
            "stage", stages[i], NULL);
    }
    s->c_trig_unreadable = vx_metrics_counter(
        metrics, "vexfs_automation_trigger_failures_total",
        "Triggers that started no execution, by reason.", "reason", "unreadable_change", NULL);
    s->c_slow = vx_metrics_counter(metrics, "vexfs_automation_slow_batches_total",
                                   "Batches that took longer than max_automation_latency_ms.",
                                   NULL);
    s->c_evictions = vx_metrics_counter(metrics, "vexfs_automation_evictions_total",
                                        "Partial matches evicted by max_partial_matches.", NULL);
    s->c_trunc_cap = vx_metrics_counter(
        metrics, "vexfs_automation_match_events_truncated_total",
        "Matching events of completed matches left out of the workflow input, by reason.",
        "reason", "max_match_events", NULL);
    s->c_trunc_budget = vx_metrics_counter(
        metrics, "vexfs_automation_match_events_truncated_total",
        "Matching events of completed matches left out of the workflow input, by reason.",
        "reason", "max_match_event_bytes", NULL);
    s->g_kept_bytes = vx_metrics_gauge(metrics, "vexfs_automation_match_event_bytes",
                                       "Bytes of matching events kept by partial matches.",
                                       NULL);
    s->g_partials = vx_metrics_gauge(metrics, "vexfs_automation_partial_matches",
                                     "Partial matches held, all patterns.", NULL);
    s->g_patterns = vx_metrics_gauge(metrics, "vexfs_automation_patterns",
                                     "Patterns loaded.", NULL);
    vx_gauge_set(vx_metrics_gauge(metrics, "vexfs_target_throughput_events_per_second",
                                  "Configured target_throughput_events_per_sec.", NULL),
                 (double)s->cfg->target_throughput_events_per_sec);
}

static double
cb_reseal_remaining(void *arg)
{
    au_server_t *s = arg;
    struct au_store_reseal p;
    au_store_reseal_progress(s->store, &p);
    return (double)p.remaining;
}

/* The store: state_dir's LMDB environment, or a temporary one (nothing persists). An earlier
 * version's journal files (state_dir/journal/<id>.json) are moved into its journal, so their
 * executions are recovered as before. */
static int
s_store_open(au_server_t *s, char *err, size_t errlen)
{
    const struct au_config *cfg = s->cfg;
    const char *sd = cfg->state_dir;
    char dir[VX_PATH_MAX];
    if (sd[0] != '\0') {
        s->state_dir = vx_strdup(sd);
        snprintf(dir, sizeof dir, "%s", sd);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/vexfs-automation-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
        if (mkdtemp(dir) == NULL) {
            snprintf(err, errlen, "a temporary state store in %s: %s", dir, strerror(errno));
            return -errno;
        }
        s->store_tmp = true;
    }
    struct au_store_opts so = {
        .dir = dir,
        .map_bytes = (uint64_t)cfg->state_map_bytes,
        .no_sync = s->store_tmp || !cfg->state_sync,
        .max_history = (uint32_t)cfg->max_executions,
        .history_age_ns = (uint64_t)cfg->history_max_age_s * VX_NS_PER_S,
    };
    struct au_store_sealer sealer;
    if (s->sealer != NULL) {
        sealer = au_store_vx_sealer(s->sealer);
        so.sealer = &sealer;
    }
    so.changes_total = vx_metrics_counter(
        s->metrics, "vexfs_automation_store_changes_total",
        "Changes the state store committed (execution commits, journal entries, definitions, "
        "outbox removals).",
        NULL);
    so.transactions_total = vx_metrics_counter(
        s->metrics, "vexfs_automation_store_transactions_total",
        "Write transactions (each one fsync with state_sync) that committed them: changes that "
        "arrive together share one (group commit).",
        NULL);
    so.resealed_total = vx_metrics_counter(
        s->metrics, "vexfs_automation_store_resealed_total",
        "Records of the state store re-sealed under the newest data key after a rotation.",
        NULL);
    int rc = au_store_open(&s->store, &so, err, errlen);
    if (rc < 0) {
        return rc;
    }
    if (s->state_dir != NULL) {
        au_server_journal_migrate(s);
    }
    vx_metrics_gauge_fn(s->metrics, "vexfs_automation_store_reseal_remaining",
                        "Records of the state store still sealed under an older data key "
                        "(re-sealed in the background after a rotation).",
                        cb_reseal_remaining, s);
    vx_info("AU-STORE", "state store %s (%s, at most %llu bytes, %llu commits so far); values "
            "%s", dir, s->store_tmp ? "temporary" : "durable",
            (unsigned long long)so.map_bytes, (unsigned long long)au_store_seq(s->store),
            s->sealer ? "sealed" : "NOT sealed (at_rest.encryption off)");
    return 0;
}

/* The workflow side: emit socket, breakers, the store and the executor.
 * Returns 0, or -errno with err. */
static int
s_workflows_init(au_server_t *s, char *err, size_t errlen)
{
    const struct au_config *cfg = s->cfg;
    struct au_emit_opts eo = {
        .endpoint = cfg->emit_endpoint,
        .ack_endpoint = cfg->emit_ack_endpoint,
        .ack_window_batches = (int)cfg->emit_ack_window_batches,
        .ack_timeout_ms = (int)cfg->emit_ack_timeout_ms,
        .buffer_max_batches = (int)cfg->emit_buffer_max_batches,
    };
    s->emit = au_emit_new(&eo, s->socks, s->metrics, err, errlen);
    if (s->emit == NULL) {
        return -EINVAL;
    }
    s->breakers = au_breakers_new((uint32_t)cfg->breaker_failure_threshold,
                                  (uint64_t)cfg->breaker_cooldown_ms, s->metrics);
    int rc = s_store_open(s, err, errlen);
    if (rc < 0) {
        return rc;
    }
    rc = au_server_policy_init(s, err, errlen);
    if (rc < 0) {
        return rc;
    }
    struct au_exec_opts xo = {
        .max_concurrent = (uint32_t)cfg->max_concurrent_workflows,
        .max_queue = (uint32_t)cfg->max_queued_workflows,
        .tenant_concurrency = (uint32_t)cfg->tenant_max_concurrent,
        .tenant_rate = (double)cfg->tenant_rate_per_sec,
        .tenant_burst = (uint32_t)cfg->tenant_burst,
        .max_history = (uint32_t)cfg->max_executions,
        .retries = cfg->enable_fault_tolerance,
        .compensation = cfg->enable_compensation,
        .store = s->store,
        .breakers = s->breakers,
        .metrics = s->metrics,
        .policy = &s->act_policy,
    };
    au_server_exec_hooks(s, &xo.hooks);
    s->exec = au_exec_new(&xo);
    return 0;
}

/* The time settings: time_mode names the clock of live patterns without their own. */
static int
s_time_init(au_server_t *s, char *err, size_t errlen)
{
    const char *mode = s->cfg->time_mode;
    if (strcmp(mode, "processing") == 0) {
        s->time_mode = AU_TIME_PROCESSING;
    } else if (strcmp(mode, "event") == 0) {
        s->time_mode = AU_TIME_EVENT;
    } else {
        snprintf(err, errlen, "%s.time_mode: expected processing or event, not \"%.64s\"",
                 AU_SECTION, mode);
        return -EINVAL;
    }
    s->lateness_ns = (uint64_t)s->cfg->allowed_lateness_ms * VX_NS_PER_MS;
    s->idle_ns = (uint64_t)s->cfg->idle_timeout_ms * VX_NS_PER_MS;
    s->max_reorder_bytes = (uint64_t)s->cfg->max_reorder_bytes;
    return 0;
}

/* The inputs: a PULL (or, input_acked, a ROUTER) connected to routing's automation boundary,
 * and, when
 * replay_endpoint is set, a PULL socket bound there for replays. */
static int
s_inputs_open(au_server_t *s, char *err, size_t errlen)
{
    int hwm = (int)s->cfg->queue_hwm;
    char serr[512];
    struct vx_sock_spec live = {.type = vx_ackin_socket_type(s->live.ackin),
                                .endpoint = s->cfg->input_endpoint, .rcvhwm = hwm};
    if (s->cfg->input_acked) {
        /* Acknowledgements are few (one per batch, bounded by routing's window): none is
         * dropped at a high-water mark. */
        live.sndhwm = VX_SOCK_HWM_NONE;
    }
    s->live.sock = vx_sock_open(s->socks, &live, NULL, 0, serr, sizeof serr);
    if (s->live.sock == NULL) {
        snprintf(err, errlen, "input_endpoint: %s", serr);
        return -EINVAL;
    }
    vx_sock_keeper_init(&s->live_keep, s->socks, &live);
    const char *rep = s->cfg->replay_endpoint;
    if (rep[0] == '\0') {
        return 0;
    }
    struct vx_sock_spec replay = {.type = ZMQ_PULL, .endpoint = rep, .bind = true, .rcvhwm = hwm};
    s->replay.sock = vx_sock_open(s->socks, &replay, NULL, 0, serr, sizeof serr);
    if (s->replay.sock == NULL) {
        snprintf(err, errlen, "replay_endpoint: %s", serr);
        return -EINVAL;
    }
    return 0;
}

static void
s_feed_init(au_server_t *s, struct au_feed *f, bool replay)
{
    f->s = s;
    f->replay = replay;
    f->name = replay ? "replay" : "live";
}

/* The feed's receive path (after s_metrics_init: it counts into the feed's counters). */
static void
s_feed_rx(struct au_feed *f)
{
    struct vx_rx_opts o = {.max_events = AU_SERVER_MAX_EVENTS, .decode = true,
                           .arena_limit = S_ARENA_LIMIT};
    struct vx_rx_counters c = {.batches = f->c_batches, .gaps = f->c_gaps, .refused = f->c_bad};
    f->rx = vx_rx_new(f->replay ? "replay input" : "input", &o, &c);
}

static void
s_feed_fini(struct au_feed *f)
{
    zsock_destroy(&f->sock);
    au_engine_destroy(&f->engine);
    vx_ackin_destroy(&f->ackin);
    vx_rx_destroy(&f->rx);
}

/* Builds the server in the order its parts need each other: the feeds and metrics, the clock,
 * the workflows and their store (the acknowledged input's senders record lives beside it),
 * the sockets (which decide whether a replay engine exists), the patterns, then the stored
 * workflows; only then are interrupted executions recovered and the triggers' thread started,
 * so nothing runs against a half-built server. */
au_server_t *
au_server_new(const struct au_config *cfg, const vx_socks_t *socks, vx_metrics_t *metrics,
              const vx_sealer_t *sealer, char *err, size_t errlen)
{
    au_server_t *s = vx_calloc(1, sizeof *s);
    s->sealer = sealer;
    s->cfg = cfg;
    s->socks = socks;
    s->metrics = metrics;
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->edit_lock, NULL);
    pthread_mutex_init(&s->save_lock, NULL);
    s->cap = (size_t)cfg->max_alerts;
    s->ring = vx_calloc(s->cap, sizeof *s->ring);
    s->max_partials = (uint32_t)cfg->max_partial_matches;
    s->max_match_events = (uint32_t)cfg->max_match_events;
    s->max_match_event_bytes = (uint64_t)cfg->max_match_event_bytes;
    s->budget_ns = (uint64_t)cfg->max_automation_latency_ms * VX_NS_PER_MS;
    s->cyc0 = au_cycles();
    s->mono0 = vx_mono_ns();
    s_feed_init(s, &s->live, false);
    s_feed_init(s, &s->replay, true);
    s->flows = au_flows_new();
    s_metrics_init(s, metrics);
    s_feed_rx(&s->live);
    s_feed_rx(&s->replay);
    int rc = s_time_init(s, err, errlen);
    if (rc == 0) {
        rc = s_workflows_init(s, err, errlen);
    }
    if (rc == 0) {
        /* After the store: the senders record lives in state_dir with it. */
        struct vx_ackin_opts io = {
            .acked = cfg->input_acked,
            .senders_max = (size_t)cfg->input_senders_max,
            .save_ms = cfg->input_senders_save_ms,
            .state_dir = s->state_dir ? s->state_dir : "",
            .sealer = sealer,
            .rx = s->live.rx,
            .gaps = s->live.c_gaps,
            .prefix = "vexfs_automation_input",
            .where = AU_SECTION ".state_dir",
        };
        s->live.ackin = vx_ackin_new(&io, metrics, err, errlen);
        rc = s->live.ackin ? 0 : -EINVAL;
    }
    /* The sockets before the patterns: whether a replay engine is built depends on them. */
    if (rc == 0) {
        rc = s_inputs_open(s, err, errlen);
    }
    if (rc == 0) {
        rc = au_server_patterns_init(s, err, errlen);
    }
    if (rc == 0) {
        rc = au_server_load_workflows(s, err, errlen);
    }
    if (rc < 0) {
        au_server_destroy(&s);
        return NULL;
    }
    int rec = au_exec_recover(s->exec);
    if (au_server_outbox_start(s) < 0) {
        snprintf(err, errlen, "cannot start the state triggers' thread");
        au_server_destroy(&s);
        return NULL;
    }
    au_store_reseal_start(s->store); /* records under older data keys, after a rotation */
    vx_info("AU-INPUT",
            "input %s, replay %s, %u patterns (time %s by default), %zu workflows, %d "
            "interrupted executions",
            cfg->input_endpoint, s->replay.sock ? cfg->replay_endpoint : "off",
            au_engine_pattern_count(s->engine),
            s->time_mode == AU_TIME_EVENT ? "event" : "processing", au_flows_count(s->flows),
            rec < 0 ? 0 : rec);
    return s;
}

void
au_server_destroy(au_server_t **sp)
{
    if (sp == NULL || *sp == NULL) {
        return;
    }
    au_server_t *s = *sp;
    /* The triggers' thread and the workers first: they call into the registry, the executor,
     * the store and the emit socket. */
    au_server_outbox_stop(s);
    au_exec_destroy(&s->exec);
    au_flows_destroy(&s->flows);
    au_breakers_destroy(&s->breakers);
    vx_netpolicy_destroy(&s->netpolicy);
    au_emit_destroy(&s->emit);
    if (s->store != NULL && s->store_tmp) {
        char path[VX_PATH_MAX];
        const char *dir = au_store_dir(s->store);
        char *copy = strdup(dir);
        au_store_close(&s->store);
        for (int i = 0; i < 2 && copy != NULL; i++) {
            snprintf(path, sizeof path, "%s/%s", copy, i == 0 ? "data.mdb" : "lock.mdb");
            unlink(path);
        }
        if (copy != NULL) {
            rmdir(copy);
        }
        free(copy);
    }
    au_store_close(&s->store);
    free(s->state_dir);
    pthread_mutex_destroy(&s->save_lock);
    s_feed_fini(&s->live);
    s_feed_fini(&s->replay);
    s->engine = NULL;
    au_server_alerts_fini(s);
    free(s->ring);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->edit_lock);
    vx_free(sp);
}

/* Feeds the events of one received batch of feed f (lock held), all at the time it arrived
 * (t0, the daemon's clock when it was taken from the socket). Live events also go to the
 * executions waiting for an event and to event triggers; replayed ones only to the replay
 * engine (they happened already). The time of each stage is added to s->stage_cyc: match (the
 * engine, less what the alert callback counts as actions), then actions; receiving and
 * decoding are counted by s_drain. Each event's packed bytes come with it, so that the engine
 * copies rather than packs those it keeps. */
static void
s_batch(au_server_t *s, struct au_feed *f, const struct vx_rx_batch *in, uint64_t t0)
{
    s->wall_ns = vx_wall_ns();
    const vx_batch_t *b = in->batch;
    bool triggers = !f->replay && au_flows_has_event_triggers(s->flows);
    uint64_t c1 = au_cycles();
    uint64_t actions0 = s->stage_cyc[AU_STAGE_ACTIONS];
    for (size_t i = 0; i < b->n_events; i++) {
        au_engine_on_event_packed(f->engine, b->events[i], in->events[i].data,
                                  in->events[i].len, t0);
    }
    uint64_t c2 = au_cycles();
    s->stage_cyc[AU_STAGE_MATCH] += (c2 - c1) - (s->stage_cyc[AU_STAGE_ACTIONS] - actions0);
    if (!f->replay) {
        for (size_t i = 0; i < b->n_events; i++) {
            au_exec_event(s->exec, b->events[i]);
            if (triggers) {
                au_server_event_triggers(s, b->events[i]);
            }
        }
        s->stage_cyc[AU_STAGE_ACTIONS] += au_cycles() - c2;
    }
    vx_counter_add(f->c_events, b->n_events);
}

/* Adds what total grew by since *seen to c. */
static void
s_count(vx_counter_t *c, uint64_t total, uint64_t *seen)
{
    if (total > *seen) {
        vx_counter_add(c, total - *seen);
    }
    *seen = total;
}

/* Publishes the engines' gauges and what their counters grew by (lock held). */
static void
s_export(au_server_t *s)
{
    struct au_engine_stats st, rs = {0};
    au_engine_stats(s->live.engine, &st);
    if (s->replay.engine != NULL) {
        au_engine_stats(s->replay.engine, &rs);
    }
    vx_gauge_set(s->g_partials, (double)(st.partials + rs.partials));
    vx_gauge_set(s->g_kept_bytes, (double)(st.kept_bytes + rs.kept_bytes));
    vx_gauge_set(s->g_held, (double)(st.held_events + rs.held_events));
    s_count(s->c_evictions, st.evictions + rs.evictions, &s->evictions_seen);
    s_count(s->c_trunc_cap, st.events_truncated + rs.events_truncated, &s->trunc_cap_seen);
    s_count(s->c_trunc_budget, st.events_over_budget + rs.events_over_budget,
            &s->trunc_budget_seen);
    s_count(s->c_late, st.events_late + rs.events_late, &s->late_seen);
    s_count(s->c_no_time, st.events_no_time + rs.events_no_time, &s->no_time_seen);
    s_count(s->c_forced, st.forced_releases + rs.forced_releases, &s->forced_seen);
    uint64_t cyc = au_cycles() - s->cyc0;
    uint64_t ns = vx_mono_ns() - s->mono0;
    double ns_per_cycle = cyc > 0 ? (double)ns / (double)cyc : 1.0;
    for (int i = 0; i < AU_N_STAGES; i++) {
        double v = (double)s->stage_cyc[i] * ns_per_cycle + s->stage_rest[i];
        uint64_t whole = (uint64_t)v;
        vx_counter_add(s->c_stage[i], whole);
        s->stage_rest[i] = v - (double)whole;
        s->stage_cyc[i] = 0;
    }
}

/* Reads up to 64 messages of feed f (lock held). */
static void
s_drain(au_server_t *s, struct au_feed *f)
{
    for (int k = 0; k < 64; k++) {
        struct vx_rx_batch in;
        uint64_t c = au_cycles();
        int rc = f->ackin ? vx_ackin_recv(f->ackin, f->sock, &in)
                          : vx_rx_recv(f->rx, f->sock, &in, ZMQ_DONTWAIT);
        s->stage_cyc[AU_STAGE_RECEIVE] += au_cycles() - c;
        if (rc == -EAGAIN || rc == -EINTR) {
            break;
        }
        if (rc < 0) {
            continue; /* dropped and counted by vx_rx, or a duplicate acknowledged again */
        }
        uint64_t t0 = vx_mono_ns();
        s_batch(s, f, &in, t0);
        if (f->ackin) {
            vx_ackin_done(f->ackin, 0); /* its events are in the engine: handed on */
        }
        if (vx_mono_ns() - t0 > s->budget_ns) {
            vx_counter_add(s->c_slow, 1);
        }
    }
    if (f->ackin) {
        vx_ackin_flush(f->ackin, f->sock, UINT64_MAX);
    }
}

/* libzmq 4.3 ends the live input's connection for good when routing's side breaks the protocol
 * (an over-limit frame) and never reconnects it: the socket monitor reports it (vx_sock.h) and
 * the input is opened again, so one bad frame cannot cut automation from routing. Returns true
 * when the live socket changed (the poller must be rebuilt). */
static bool
s_live_check(au_server_t *s)
{
    char ep[256] = "", err[512];
    int rc = vx_sock_keeper_check(&s->live_keep, &s->live.sock, vx_mono_ns(), ep, sizeof ep, err,
                                  sizeof err);
    if (rc < 0) {
        vx_error("AU-INPUT-REOPEN", "the input's connection to %s was lost and it cannot be "
                                    "opened again (next try in %d ms): %s",
                 ep, VX_SOCK_KEEPER_CHECK_MS, err);
    } else if (rc > 0) {
        vx_warn("AU-INPUT-REOPEN", "the input's connection to %s was ended by a protocol error "
                                   "and libzmq does not reconnect it: input socket opened again",
                ep);
    }
    return rc > 0;
}

static zpoller_t *
s_poller_new(au_server_t *s)
{
    zpoller_t *poller = zpoller_new(s->live.sock, NULL);
    if (s->replay.sock != NULL) {
        zpoller_add(poller, s->replay.sock);
    }
    return poller;
}

int
au_server_run(au_server_t *s, volatile sig_atomic_t *stop)
{
    zpoller_t *poller = s_poller_new(s);
    while (!*stop) {
        if (s_live_check(s)) {
            zpoller_destroy(&poller);
            poller = s_poller_new(s);
        }
        void *which = zpoller_wait(poller, S_POLL_MS);
        pthread_mutex_lock(&s->lock);
        if (which == s->live.sock) {
            s_drain(s, &s->live);
        } else if (which != NULL && which == s->replay.sock) {
            s_drain(s, &s->replay);
        }
        uint64_t now = vx_mono_ns();
        uint64_t c0 = au_cycles();
        uint64_t actions0 = s->stage_cyc[AU_STAGE_ACTIONS];
        s->wall_ns = vx_wall_ns();
        au_engine_advance(s->live.engine, now);
        if (s->replay.engine != NULL) {
            au_engine_advance(s->replay.engine, now);
        }
        s->stage_cyc[AU_STAGE_MATCH] +=
            (au_cycles() - c0) - (s->stage_cyc[AU_STAGE_ACTIONS] - actions0);
        s_export(s);
        vx_ackin_tick(s->live.ackin);
        pthread_mutex_unlock(&s->lock);
    }
    zpoller_destroy(&poller);
    return 0;
}

static json_t *
s_engine_json(const au_engine_t *e)
{
    struct au_engine_stats st;
    au_engine_stats(e, &st);
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "events",
                     (json_int_t)st.events, "alerts", (json_int_t)st.alerts, "matches",
                     (json_int_t)st.matches, "evictions", (json_int_t)st.evictions, "partials",
                     (json_int_t)st.partials, "late", (json_int_t)st.events_late,
                     "no_event_time", (json_int_t)st.events_no_time, "held",
                     (json_int_t)st.held_events, "forced", (json_int_t)st.forced_releases);
}

json_t *
au_server_stats_json(au_server_t *s)
{
    pthread_mutex_lock(&s->lock);
    json_t *j = s_engine_json(s->live.engine);
    json_t *r = s->replay.engine != NULL ? s_engine_json(s->replay.engine) : json_null();
    uint32_t n = au_engine_pattern_count(s->engine);
    pthread_mutex_unlock(&s->lock);
    json_t *x = json_pack("{s:i, s:I, s:I, s:i, s:o, s:s, s:o}", "patterns", (int)n, "batches",
                          (json_int_t)vx_counter_value(s->live.c_batches), "bad_batches",
                          (json_int_t)vx_counter_value(s->live.c_bad), "workflows",
                          (int)au_flows_count(s->flows), "executions", au_exec_stats(s->exec),
                          "time_mode", s->time_mode == AU_TIME_EVENT ? "event" : "processing",
                          "replay", r);
    json_object_update(j, x);
    json_decref(x);
    struct au_store_reseal p;
    au_store_reseal_progress(s->store, &p);
    json_t *store = au_store_group_stats(s->store);
    json_object_set_new(store, "reseal",
                        json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "state", p.state, "key_id",
                                  (json_int_t)p.key_id, "total", (json_int_t)p.total, "resealed",
                                  (json_int_t)p.resealed, "remaining", (json_int_t)p.remaining,
                                  "unreadable", (json_int_t)p.unreadable));
    json_object_set_new(j, "store", store);
    return j;
}
