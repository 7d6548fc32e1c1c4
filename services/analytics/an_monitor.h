/* SPDX-License-Identifier: Apache-2.0 */
/* Monitoring of the whole suite, run by vexfs-analytics (configuration section "monitoring"):
 *
 *  - alert rules (an_rule.h) evaluated every metrics_collection_interval_ms on their target's
 *    /metrics: inactive -> pending when the condition holds -> firing once it held for for_ms
 *    (actions notified) -> resolved when it stops holding (actions notified again). A failed
 *    scrape leaves the state as it is and is shown on the rule as AN_MON_SCRAPE_FAILED;
 *  - anomalies found by the analytics queries are raised as alerts (source "anomaly") and sent
 *    to anomaly_webhook_url when set; one alert fires per query, partition and group, and is
 *    resolved (and sent again) by the next final window of that series that is not anomalous,
 *    after anomaly_resolve_after_ms without one, when its query is removed, or when
 *    max_active_anomaly_alerts newer ones push it out;
 *  - system health: GET /health and /ready of every service in `services`, aggregated into
 *    healthy (all up), degraded, or critical (more than half of the services down).
 *
 * Threading: one thread scrapes and notifies; REST threads call the functions below. Network
 * calls are never made with the lock held. */
#ifndef AN_MONITOR_H
#define AN_MONITOR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "an_config.h"
#include "vx_config.h"
#include "vx_etag.h"
#include "vx_metrics.h"
#include "vx_seal.h"

/* The one error a rule shows (status.error) when its scrape failed, whatever the reason: a
 * closed port, a refused or reset connection, a timeout, a TLS failure, an answer other than
 * 200 or a page that is not a Prometheus exposition all read the same, so a rule cannot be
 * used to probe which hosts and ports answer. The reason goes to the daemon's log
 * (AN-ALERT-SCRAPE, once per rule each time it changes). */
#define AN_MON_SCRAPE_FAILED "target unreachable or did not answer with a metrics page"

typedef struct an_monitor an_monitor_t;

/* Loads the rules (state_dir/alert_rules.json, sealed with sealer unless it is NULL — see
 * an_state.h —, else monitoring.alert_rules_file) and starts the evaluation thread. NULL with
 * the reason in err. cfg (the bound monitoring section), metrics and sealer are borrowed. */
an_monitor_t *an_monitor_new(const struct an_mon_config *cfg, vx_metrics_t *metrics,
                             const char *state_dir, const vx_sealer_t *sealer, char *err,
                             size_t errlen);
/* Stops the thread and frees everything. */
void an_monitor_destroy(an_monitor_t **m);

/* Adds (replace: or replaces) a rule from a body (borrowed). 0 (*created), -EINVAL (reason in
 * err), -EEXIST, -ENOSPC. Persisted in state_dir. */
int an_monitor_put_rule(an_monitor_t *m, json_t *body, bool replace, bool *created, char *err,
                        size_t errlen);
/* 0 or -ENOENT. */
int an_monitor_delete_rule(an_monitor_t *m, const char *name);
/* Changes the alert rules in one step: defs (borrowed) replace the set, or with merge each
 * replaces the rule of its name or is added (no other changes). Every rule is validated first;
 * a refused one is named in err ("rules[N] (name "x"): why", -EINVAL) and nothing changes. An
 * unchanged rule keeps its state. if_match (NULL: none) is an If-Match header checked against
 * the set's tag (vx_etag.h): -ESTALE when it moved. etag: the tag afterwards (or the current
 * one on -ESTALE). Returns 0, -EINVAL, -ENOSPC, -ESTALE. */
int an_monitor_change_rules(an_monitor_t *m, json_t *defs, bool merge, const char *if_match,
                            char etag[VX_ETAG_LEN], char *err, size_t errlen);
/* The stored definitions, without their state (new reference, an array). */
json_t *an_monitor_rule_defs(an_monitor_t *m);
/* One rule with its state, or all (name NULL) as an array; NULL when not found. */
json_t *an_monitor_get_rule(an_monitor_t *m, const char *name);
/* {"active":[pending and firing alerts, firing anomaly alerts], "recent":[firing/resolved
 * transitions of rules and anomalies]}. */
json_t *an_monitor_alerts(an_monitor_t *m);
/* Raises an anomaly (borrowed) found by query as an alert. */
void an_monitor_anomaly(an_monitor_t *m, json_t *anomaly);
/* A final window of query, partition and group (borrowed) judged not anomalous: resolves that
 * series' firing anomaly alert, if any. */
void an_monitor_window_normal(an_monitor_t *m, const char *query, int partition, json_t *group,
                              uint64_t start_ns, uint64_t end_ns);
/* The query was removed or replaced: its anomaly alerts are resolved. */
void an_monitor_forget_query(an_monitor_t *m, const char *query);
/* Probes every configured service now. New reference; NULL with -ENOTSUP in *rc when health
 * monitoring is off, -ENOENT when monitoring.services names no service. */
json_t *an_monitor_health(an_monitor_t *m, int *rc);

#endif
