/* SPDX-License-Identifier: Apache-2.0 */
/* The routing server's state, shared by rt_server.c (the loop, its input and its lifecycle),
 * rt_server_set.c (compiled rule sets, the compile cache, the hand-over to the loop and
 * applying a set) and rt_server_rules.c (the REST changes and readers); see rt_server.h. */
#ifndef RT_SERVER_PRIV_H
#define RT_SERVER_PRIV_H

#include <czmq.h>
#include <pthread.h>
#include <stdatomic.h>

#include "rt_engine.h"
#include "rt_hscheck.h"
#include "rt_output.h"
#include "rt_server.h"
#include "rt_store.h"
#include "vx_ackin.h"
#include "vx_drop.h"
#include "vx_metrics.h"
#include "vx_rx.h"

#define RT_SERVER_CACHE 4     /* retired compiled sets kept (pattern caching) */
#define RT_SERVER_N_SOURCES 9 /* Boundary enum values, unspecified included */


/* A compiled rule set and what the loop needs beside the engine. Reference counted: see
 * rt_server.h. Immutable once built. */
struct rt_set {
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
    struct rt_set *loop_set;
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
    struct rt_set *cache[RT_SERVER_CACHE];
    char file_hash[17];

    /* the published set, for readers */
    pthread_mutex_t pub_mu;
    struct rt_set *pub;
    uint64_t version;

    /* rules-file watcher */
    rt_watch_t *watch;
    struct rt_file_stamp stamp; /* the rules file as read at start */

    /* metrics */
    vx_counter_t *received[RT_SERVER_N_SOURCES];
    vx_counter_t *processed, *unrouted, *to_default, *slow, *seq_gaps, *batches_in;
    vx_counter_t *drop_bad_frame, *drop_bad_protobuf, *drop_too_large;
    vx_histogram_t *latency;
    vx_gauge_t *g_version, *g_rules, *g_filters, *g_lib_affected;
};


/* Takes one more reference to set; returns it. */
struct rt_set *rt_set_ref(struct rt_set *set);
/* Lets go of *sp's reference (NULL accepted) and sets *sp to NULL; the last one destroys it. */
void rt_set_release(struct rt_set **sp);
/* The published set, with a reference the caller owns (rt_set_release); its version in
 * *version when not NULL. */
struct rt_set *rt_set_pub_ref(rt_server_t *s, uint64_t *version);

/* Loop side: takes the sets waiting on the hand-over socket (refuse: answers -ESHUTDOWN). */
void rt_server_service_ctl(rt_server_t *s, bool refuse);
/* Builds, persists and installs rules + filters (borrowed arrays); the outcome in out. Called
 * with set_mu held. persist false: the set came from the state file unchanged. file_hash: the
 * rules file this set came from, NULL when it did not. */
void rt_server_apply(rt_server_t *s, json_t *rules, json_t *filters, const char *origin,
                     const char *file_hash, bool persist, struct rt_result *out);
/* The engine options of this server's boundaries with max_rules. */
struct rt_engine_opts rt_server_engine_opts(const rt_server_t *s, uint32_t max_rules);
/* Fills out with an error answer. */
void rt_server_result_error(struct rt_result *out, unsigned http, const char *code,
                            const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Counts one rule-set change by origin and result. */
void rt_server_count_change(rt_server_t *s, const char *origin, bool ok);

#endif /* RT_SERVER_PRIV_H */
