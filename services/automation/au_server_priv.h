/* SPDX-License-Identifier: Apache-2.0 */
/* Internals of the automation daemon shared by its files: au_server.c (start, stop, the loop
 * and the input), au_server_patterns.c (the pattern set and its persistence),
 * au_server_alerts.c (what a match does: alerts, workflows, emits), au_server_flows.c
 * (workflow definitions, their persistence and submissions) and au_server_state.c (the state
 * values and their triggers). Not for other files. */
#ifndef AU_SERVER_PRIV_H
#define AU_SERVER_PRIV_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include "au_emit.h"
#include "au_engine.h"
#include "au_server.h"
#include "vx_ackin.h"
#include "vx_sock.h"
#include "vx_clock.h"
#include "vx_arena.h"
#include "vx_rx.h"
#include "vx_wire.h"

/* One input and the engine it feeds: the live input (routing's automation boundary) or the
 * replay input (recorded events sent again; its patterns run in event time by default). Both
 * engines hold the same pattern set. */
struct au_feed {
    au_server_t *s;
    bool replay;
    const char *name;             /* "live" or "replay", as alerts carry it */
    zsock_t *sock;                /* NULL: the input is off */
    au_engine_t *engine;          /* under s->lock; NULL when the input is off */
    vx_rx_t *rx;                  /* the feed's receive path (checks, decoding, sequences) */
    vx_ackin_t *ackin;            /* live: plain or acknowledged (input_acked) input */
    vx_counter_t *c_batches, *c_events, *c_bad, *c_gaps;
};

/* What every alert of one alert action of one pattern shares; alerts in the ring hold a
 * reference, so a replaced pattern set leaves earlier alerts as they were. refs under lock. */
struct au_alert_src {
    uint32_t refs;
    char *pattern, *tenant, *message;
    enum au_kind kind;
    enum au_severity severity;
    vx_counter_t *c_alerts;       /* vexfs_automation_alerts_total{pattern,severity} */
};

/* One alert in the ring. */
struct au_alert_rec {
    struct au_alert_src *src;     /* one reference */
    uint64_t seq;
    uint64_t wall_ns;             /* when it was raised */
    uint64_t span_ns;
    uint64_t event_time_ns;       /* the match's time, when event_time */
    uint32_t events;
    bool replay, event_time;
    char *partition;              /* part_buf, or its own allocation */
    char part_buf[48];
};

/* Per pattern of the current set (index as in the engines): its series and alert sources. */
struct au_pat_info {
    vx_counter_t *c_matches;
    struct au_alert_src *src[AU_MAX_ACTIONS]; /* per action; NULL for other kinds */
};

/* Where the loop's time goes, for vexfs_automation_stage_nanoseconds_total. */
/* Receive is vx_rx_recv: taking a batch from ZeroMQ, checking and decoding it. */
enum au_stage { AU_STAGE_RECEIVE = 0, AU_STAGE_MATCH, AU_STAGE_ACTIONS };
#define AU_N_STAGES 3

struct au_server {
    const struct au_config *cfg; /* borrowed, as its strings */
    const vx_socks_t *socks;
    vx_metrics_t *metrics;
    pthread_mutex_t lock;
    /* Serializes pattern changes: each edits a copy of the current set, so two at once
     * would lose one. Taken before lock, never while the loop waits on it. */
    pthread_mutex_t edit_lock;
    struct au_feed live;
    struct au_feed replay;
    struct vx_sock_keeper live_keep; /* opens the live input again when libzmq gives it up */
    au_engine_t *engine;          /* under lock: live.engine, the set REST reads */
    enum au_time_mode time_mode;  /* of live patterns without their own */
    uint64_t lateness_ns, idle_ns, max_reorder_bytes;
    struct au_alert_rec *ring;    /* under lock: alerts, ring[(head + i) % cap] */
    struct au_pat_info *pinfo;    /* under lock: per pattern of the current set */
    uint32_t n_pinfo;
    uint64_t stage_cyc[AU_N_STAGES];  /* loop thread: au_cycles per stage, not yet exported */
    double stage_rest[AU_N_STAGES];   /* fractions of a nanosecond not yet exported */
    uint64_t cyc0, mono0;             /* au_cycles and vx_mono_ns at start: the cycle rate */
    vx_counter_t *c_stage[AU_N_STAGES];
    uint64_t wall_ns;                 /* loop thread: the wall time of the batch being fed */
    size_t cap, head, n;
    uint64_t seq;                 /* seq of the newest alert */
    uint64_t dropped;             /* alerts pushed out of the ring */
    uint32_t max_partials;
    uint32_t max_match_events;
    uint64_t max_match_event_bytes;
    uint64_t budget_ns;
    vx_counter_t *c_slow, *c_evictions;
    vx_gauge_t *g_partials, *g_patterns, *g_kept_bytes, *g_held;
    vx_counter_t *c_trunc_cap, *c_trunc_budget, *c_late, *c_no_time, *c_forced;
    /* engine totals (both engines) already added to the counters above */
    uint64_t evictions_seen, trunc_cap_seen, trunc_budget_seen, late_seen, no_time_seen,
        forced_seen;
    /* workflows */
    au_flows_t *flows;
    au_exec_t *exec;
    au_breakers_t *breakers;
    au_store_t *store;            /* state, definitions, journal, history */
    const vx_sealer_t *sealer;    /* borrowed; NULL: the store is not sealed */
    bool store_tmp;               /* no state_dir: the store's folder is removed at the end */
    /* the state triggers' thread (au_server_state.c) */
    pthread_t ob_thread;
    bool ob_started;
    pthread_mutex_t ob_lock;
    pthread_cond_t ob_cond;
    bool ob_kick, ob_stop;        /* under ob_lock */
    vx_counter_t *c_trig_unreadable;
    au_emit_t *emit;
    char *state_dir;              /* NULL: nothing persists */
    pthread_mutex_t save_lock;    /* orders writes of workflows.json */
    /* what script and HTTP steps may do (au_server_policy.c) */
    struct au_act_policy act_policy;
    vx_netpolicy_t *netpolicy;
};

/* au_server_policy.c: fills s->act_policy and s->netpolicy from the configuration (script
 * user and group looked up by name). Returns 0, or -EINVAL with err naming the key. */
int au_server_policy_init(au_server_t *s, char *err, size_t errlen);

#define AU_SERVER_MAX_EVENTS 100000 /* events one input batch may hold (more: too_large) */

/* A cheap clock for the stage times (several reads per batch and two per alert): the cycle
 * counter where there is one (a read costs a few ns, clock_gettime here about 100), converted
 * to ns at export with the rate seen since start; elsewhere the monotonic clock. */
static inline uint64_t
au_cycles(void)
{
#if defined(__x86_64__) || defined(__i386__)
    return __rdtsc();
#else
    return vx_mono_ns();
#endif
}

/* ---- au_server_patterns.c ---- */

/* Builds the engine of feed f for patterns (borrowed; NULL for none) with the daemon's
 * options and au_server_on_alert as its callback. Returns 0 and *out (caller owns), or
 * -errno with err. */
int au_server_engine_build(struct au_feed *f, json_t *patterns, au_engine_t **out, char *err,
                           size_t errlen);
/* Builds the engines of the inputs and loads the patterns of state_dir or patterns_file (an
 * array or {"patterns":[...]}). Returns 0, or -errno with err. */
int au_server_patterns_init(au_server_t *s, char *err, size_t errlen);

/* ---- au_server_alerts.c ---- */

/* The engines' alert callback (loop thread, lock held): counts the match, starts the
 * workflows it triggers, raises alerts into the ring and sends emits. arg is the feed. */
void au_server_on_alert(const struct au_alert *a, void *arg);
/* Resolves the per-pattern series and alert sources of e's pattern set (NULL: none), dropping
 * the previous set's (lock held). */
void au_server_pattern_info_set(au_server_t *s, const au_engine_t *e);
/* Empties the ring and the pattern info (at destruction). */
void au_server_alerts_fini(au_server_t *s);

/* ---- au_server_flows.c ---- */

/* Queues an execution of w (borrowed) with input and trigger (borrowed); a refusal is counted
 * by reason. Returns au_exec_submit's result; id receives the execution's id. */
int au_server_submit(au_server_t *s, struct au_workflow *w, json_t *input, json_t *trigger,
                     char *id);
/* Starts the tenant's workflows with an event trigger that ev satisfies (loop thread). */
void au_server_event_triggers(au_server_t *s, const vx_event_t *ev);
/* Sends an emit action's event (borrowed) into propagation; -errno with err on failure. */
int au_server_emit(au_server_t *s, const char *tenant, json_t *event, char *err,
                   size_t errlen);
/* Loads workflows at start: state_dir/workflows.json when it exists, else workflows_path. */
int au_server_load_workflows(au_server_t *s, char *err, size_t errlen);

/* Counts and logs a trigger that started nothing because au_exec_submit returned rc. */
void au_server_trigger_failed(au_server_t *s, const struct au_workflow *w, int rc);

/* ---- au_server_state.c ---- */

/* The executor's hooks into the server's emit socket and state triggers. */
void au_server_exec_hooks(au_server_t *s, struct au_exec_hooks *hooks);
/* Starts (0 or -errno) and stops the thread that runs the state triggers of committed
 * changes. */
int au_server_outbox_start(au_server_t *s);
void au_server_outbox_stop(au_server_t *s);
/* An absolute CLOCK_MONOTONIC time ns from now (au_exec.c). */
void au_exec_deadline(struct timespec *ts, uint64_t ns);

/* ---- au_server_defs.c ---- */

/* Stores definitions document name ("patterns", "workflows"); doc borrowed. 0 or -errno
 * (logged). */
int au_server_defs_save(au_server_t *s, const char *name, json_t *doc);
/* The stored document (new reference), moving an earlier version's state_dir/<name>.json into
 * the store; NULL with *rc 0 when there is none, or -errno with err. */
json_t *au_server_defs_load(au_server_t *s, const char *name, int *rc, char *err,
                            size_t errlen);
/* Moves an earlier version's journal files into the store (state_dir set). */
void au_server_journal_migrate(au_server_t *s);

#endif
