/* SPDX-License-Identifier: Apache-2.0 */
/* The alert monitor's state, shared by an_monitor.c (its thread: scrapes, evaluation,
 * notifications, health, start and stop), an_monitor_rules.c (alert rules over REST and the
 * alerts list) and an_monitor_anom.c (anomaly alerts); see an_monitor.h. */
#ifndef AN_MONITOR_PRIV_H
#define AN_MONITOR_PRIV_H

#include <pthread.h>

#include "an_monitor.h"
#include "an_rule.h"
#include "vx_netpolicy.h"

enum an_rs_state { AN_RS_INACTIVE, AN_RS_PENDING, AN_RS_FIRING };

struct an_rstate {
    struct an_rule *rule;
    enum an_rs_state state;
    uint64_t since_mono, since_wall, fired_wall;
    double value;
    int series;          /* series that matched at the last scrape; -1: scrape failed */
    uint64_t evaluations;
    char error[256];     /* shown to callers: AN_MON_SCRAPE_FAILED or "" */
    char detail[256];    /* why the last scrape failed, for the log only */
};

struct an_service {
    char *name, *url;
};

struct an_note {
    struct an_note *next;
    char *json;     /* payload */
    char *subject;  /* email subject */
    char *text;     /* email body */
    struct an_rule *actions_of; /* a copy of the rule's actions (owned) or NULL */
    char *anomaly_url;
};

/* A firing anomaly alert: one per query, partition and group (the series' identity). */
struct an_anom {
    char *key;        /* query \x1f partition \x1f group (compact, sorted) */
    char *query;
    json_t *alert;    /* the firing alert of its latest anomalous window */
    uint64_t fired_wall, last_mono;
    uint64_t windows; /* anomalous windows since it fired */
};

struct an_monitor {
    vx_netpolicy_t *netpolicy; /* where webhooks and mail may connect */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool running, stop;
    struct an_rstate **rules;
    size_t n_rules, max_rules;
    struct an_note *pending; /* anomaly notifications for the thread to send */
    struct an_anom *anoms;   /* firing anomaly alerts, oldest first */
    size_t n_anoms, max_anoms;
    uint64_t anom_timeout_ms;
    json_t **recent;
    size_t recent_head, recent_n, max_recent;
    struct an_service *services;
    size_t n_services;
    char *state_dir;
    const vx_sealer_t *sealer; /* seals alert_rules.json; NULL: at_rest.encryption off */
    vx_metrics_t *metrics;     /* borrowed */
    char *anomaly_url;
    char *smtp_url, *smtp_from;
    char **smtp_to;
    size_t n_smtp_to;
    bool notify_on, health_on;
    long interval_ms, scrape_timeout_ms, health_timeout_ms;
    vx_gauge_t *g_rules, *g_firing;
    vx_counter_t *c_evals, *c_scrape_err, *c_anomalies, *c_anom_resolved, *c_anom_evicted;
    vx_counter_t *c_sent[2], *c_failed[2], *c_suppressed;
};

/* Checks what the rule needs from the configuration (email needs an SMTP server and
 * recipients). */
int an_monitor_check_config(an_monitor_t *m, const struct an_rule *r, char *err, size_t errlen);
/* The state of the rule named name (its index in *idx when not NULL), or NULL. Lock held. */
struct an_rstate *an_monitor_find(an_monitor_t *m, const char *name, size_t *idx);
/* Frees *rsp and its rule (NULL accepted) and sets *rsp to NULL. */
void an_monitor_rstate_free(struct an_rstate **rsp);
/* Appends rule r (takes ownership), inactive. Lock held. */
void an_monitor_install(an_monitor_t *m, struct an_rule *r);
/* Saves the rules to state_dir/alert_rules.json (durably: vx_jsonfile.h). Lock held. */
void an_monitor_save(an_monitor_t *m);
/* Sets the firing and rules gauges from the rule states. Lock held. */
void an_monitor_sync_firing(an_monitor_t *m);
/* The alert of rule state rs with status (caller owns the result). */
json_t *an_monitor_alert_json(const struct an_rstate *rs, const char *status);
/* Wall-clock time in milliseconds. */
uint64_t an_monitor_wall_ms(void);
/* Queues one notification of payload (borrowed) by r's actions on *list. */
void an_monitor_queue(struct an_note **list, json_t *payload, const struct an_rule *r,
                      const char *anomaly_url);
/* Keeps j (takes the reference) among the recent alerts, forgetting the oldest. Lock held. */
void an_monitor_recent_add(an_monitor_t *m, json_t *j);
/* Resolves the anomaly alerts without a window for anomaly_resolve_after_ms. Lock held. */
void an_monitor_anom_expire(an_monitor_t *m);

#endif /* AN_MONITOR_PRIV_H */
