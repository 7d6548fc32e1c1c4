/* SPDX-License-Identifier: Apache-2.0 */
/* The automation daemon's state and loop: batches from routing's automation boundary (ZeroMQ
 * PULL) go through the CEP engine; alerts are kept in a bounded ring for GET /v1/alerts and
 * counted per pattern in the metrics.
 *
 * Workflows (au_flows.h) start from pattern matches, input events, state changes and REST;
 * they run on the executor's workers (au_exec.h), which call back for emit and state.
 *
 * Threading: the loop and the REST threads share the engine and the ring under one mutex,
 * held by the loop for one batch at a time and by REST calls for a copy or a swap. A pattern
 * change builds the new engine before taking it, so events wait only for the swap. */
#ifndef AU_SERVER_H
#define AU_SERVER_H

#include <jansson.h>
#include <signal.h>
#include <stddef.h>

#include "au_breaker.h"
#include "au_config.h"
#include "au_exec.h"
#include "au_flows.h"
#include "vx_config.h"
#include "vx_etag.h"
#include "vx_metrics.h"
#include "vx_seal.h"
#include "vx_sock.h"

typedef struct au_server au_server_t;

/* Creates the server from cfg (the bound reactive_automation section), socks, metrics and
 * sealer (all borrowed, must outlive it, as must the vx_config_t cfg's strings come from;
 * sealer NULL: the store is not sealed): opens the input sockets through socks, the state
 * store and loads patterns_file. Returns NULL with a message in err; the caller owns the
 * result. */
au_server_t *au_server_new(const struct au_config *cfg, const vx_socks_t *socks,
                           vx_metrics_t *metrics, const vx_sealer_t *sealer, char *err,
                           size_t errlen);
/* Stops the workers and frees everything. Accepts NULL; sets *s to NULL. */
void au_server_destroy(au_server_t **s);

/* Runs until *stop is set. Returns 0. */
int au_server_run(au_server_t *s, volatile sig_atomic_t *stop);

/* Pattern set changes. Each validates first and changes nothing on error: returns 0, or
 * -EINVAL (message in err), -EEXIST (add of an id in use), -ENOENT (delete of an unknown id),
 * -E2BIG. patterns and p are borrowed. */
int au_server_set_patterns(au_server_t *s, json_t *patterns, char *err, size_t errlen);
/* Replaces the patterns of tenant only (each gets "tenant" set); the others stay. */
int au_server_set_tenant_patterns(au_server_t *s, const char *tenant, json_t *patterns,
                                  char *err, size_t errlen);
/* The REST change of a tenant's patterns: patterns replace the tenant's set, or with merge
 * each replaces the tenant's pattern with its id or is added (no other changes). if_match
 * (NULL: none) is an If-Match header checked against the tag of the tenant's set (vx_etag.h):
 * -ESTALE (message in err) when it moved, and nothing changes. etag: the tenant's set's tag
 * after the change (or the current one on -ESTALE). */
int au_server_change_tenant_patterns(au_server_t *s, const char *tenant, json_t *patterns,
                                     bool merge, const char *if_match, char etag[VX_ETAG_LEN],
                                     char *err, size_t errlen);
/* Pattern ids are unique across tenants: an id held by another tenant is -EEXIST (its
 * pattern stays invisible). p gets "tenant" set. */
int au_server_add_pattern(au_server_t *s, const char *tenant, json_t *p, char *err,
                          size_t errlen);
/* Replaces the pattern with p's id, or adds it when there is none; *created says which. */
int au_server_put_pattern(au_server_t *s, const char *tenant, json_t *p, bool *created,
                          char *err, size_t errlen);
int au_server_delete_pattern(au_server_t *s, const char *tenant, const char *id);

/* New references, caller owns them. All tenants: */
json_t *au_server_patterns_json(au_server_t *s);
/* Those of one tenant: */
json_t *au_server_tenant_patterns_json(au_server_t *s, const char *tenant);
/* The pattern of tenant with its counters under "stats", or NULL when there is none. */
json_t *au_server_pattern_json(au_server_t *s, const char *tenant, const char *id);
/* {"alerts":[...oldest first, seq > since, of tenant...], "dropped":n, "last_seq":n} */
json_t *au_server_alerts_json(au_server_t *s, const char *tenant, uint64_t since, size_t limit);
/* Engine totals: {"events":..,"alerts":..,"matches":..,"evictions":..,"partials":..,...} */
json_t *au_server_stats_json(au_server_t *s);

/* Workflows. Definitions changes are written to state_dir (when set) before returning. The
 * three accessors return parts the server owns (borrowed, valid while it lives). */
au_flows_t *au_server_flows(au_server_t *s);
au_exec_t *au_server_exec(au_server_t *s);
au_breakers_t *au_server_breakers(au_server_t *s);
/* What script and HTTP steps may do (borrowed, valid while s lives). */
const struct au_act_policy *au_server_act_policy(au_server_t *s);
/* au_flows_put / au_flows_delete, then persisted. def is borrowed. */
int au_server_put_workflow(au_server_t *s, const char *tenant, json_t *def,
                           enum au_put_mode mode, bool *created, char *err, size_t errlen);
int au_server_delete_workflow(au_server_t *s, const char *tenant, const char *id);
/* au_flows_change (one step for a list of workflows, If-Match), then persisted. */
int au_server_change_workflows(au_server_t *s, const char *tenant, json_t *defs, bool merge,
                               const char *if_match, char etag[VX_ETAG_LEN], char *err,
                               size_t errlen);
/* Starts tenant's workflow id by hand with input (borrowed). Returns 0 and out_id, -ENOENT,
 * or au_exec_submit's errors. */
int au_server_execute(au_server_t *s, const char *tenant, const char *id, json_t *input,
                      char out_id[AU_EXEC_ID_LEN]);

/* The state: one nested object per tenant in the store, changed by the commits of succeeded
 * executions and by PUT /v1/state. Setting a value commits it at once (a write of its own,
 * without conflict check; executions that wrote the same key after their snapshot then
 * conflict); its state triggers run once it is committed. value is borrowed. Returns 0,
 * -ENOSPC (the store is full), -EINVAL or -EIO, with err. */
int au_server_set_state(au_server_t *s, const char *tenant, const char *path, json_t *value,
                        char *err, size_t errlen);
/* The tenant's state (new reference, caller owns it; {} when it has none), or NULL with err
 * when a stored record cannot be read. */
json_t *au_server_state_json(au_server_t *s, const char *tenant, char *err, size_t errlen);
/* The store (borrowed, valid while the server lives). */
au_store_t *au_server_store(au_server_t *s);

#endif
