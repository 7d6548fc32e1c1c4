/* SPDX-License-Identifier: Apache-2.0 */
/* The analytics daemon's state and loop: queries, one windowing engine per input partition,
 * results, anomalies, metrics and the inputs (a Kafka consumer group, or ZeroMQ).
 *
 * Threading: the loop thread consumes and processes events; REST threads call the functions
 * below. Both take the server's lock, the loop once per batch of input, so a REST call waits
 * at most one batch and never sees a query half-installed. */
#ifndef AN_SERVER_H
#define AN_SERVER_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "an_config.h"
#include "vx_config.h"
#include "vx_etag.h"
#include "vx_metrics.h"
#include "vx_seal.h"
#include "vx_sock.h"

typedef struct an_server an_server_t;

/* Returns NULL with a message in err when an input, the results socket or the stored queries
 * cannot be set up. state_dir's queries.json is sealed with sealer (NULL: at_rest.encryption
 * off; see an_state.h). cfg (the bound stream_analytics section), metrics and sealer are
 * borrowed; the server copies what it keeps of cfg. */
an_server_t *an_server_new(const struct an_config *cfg, const vx_socks_t *socks,
                           vx_metrics_t *metrics, const vx_sealer_t *sealer, char *err,
                           size_t errlen);
/* Runs until *stop is set. Returns 0, or -errno after a fatal input error (logged). */
int an_server_run(an_server_t *s, volatile sig_atomic_t *stop);
/* Leaves the consumer group (committing what is safe), closes sockets, frees everything. */
void an_server_destroy(an_server_t **s);

/* Installs a query (body borrowed). replace: an existing query with this id is replaced (its
 * windows restart); otherwise -EEXIST. Returns 0 (*created tells whether it is new), -EINVAL
 * with the reason in err, -EEXIST, or -ENOSPC (max_queries). Persisted when state_dir is set. */
int an_server_put_query(an_server_t *s, json_t *body, bool replace, bool *created, char *err,
                        size_t errlen);
/* Whether the caller may see the query whose definition is q (borrowed). */
typedef bool(an_query_visible_fn)(void *arg, json_t *q);
/* Changes the caller's queries (those visible() shows) in one step: defs (borrowed, each with
 * its tenant already decided) replace them, or with merge each replaces the query with its id
 * or is added (no other changes). Every query is validated first; a refused one is named in
 * err ("queries[N] (id "x"): why") and nothing changes. An unchanged query keeps its windows.
 * if_match (NULL: none) is an If-Match header checked against the tag of the caller's queries
 * (vx_etag.h). etag: the tag afterwards (or the current one on -ESTALE). Returns 0, -EINVAL,
 * -EEXIST (an id of a query the caller does not see), -ENOSPC, -ESTALE. */
int an_server_change_queries(an_server_t *s, json_t *defs, bool merge, an_query_visible_fn *visible,
                             void *arg, const char *if_match, char etag[VX_ETAG_LEN], char *err,
                             size_t errlen);
/* Returns 0 or -ENOENT. */
int an_server_delete_query(an_server_t *s, const char *id);
/* The query with its statistics, or every query (id NULL) as an array; NULL when not found.
 * New reference. */
json_t *an_server_get_query(an_server_t *s, const char *id);
/* {"query":id,"closed":[last limit final windows, oldest first],"open":[open windows]}; NULL
 * when not found. New reference. */
json_t *an_server_results(an_server_t *s, const char *id, size_t limit);
/* {"anomalies":[...]} of one query or all (NULL). New reference. */
json_t *an_server_anomalies(an_server_t *s, const char *query);
/* Anomalies are raised as alerts on monitor (borrowed; it must outlive the server). */
struct an_monitor;
void an_server_set_monitor(an_server_t *s, struct an_monitor *monitor);

/* Starts a replay (req borrowed): 0, -EBUSY while one is pending or running, -ENOTSUP
 * without Kafka input. The loop carries it out. */
struct an_replay_req;
int an_server_replay(an_server_t *s, const struct an_replay_req *req);
/* The current or last replay: state, events done and remaining, rate. New reference. */
json_t *an_server_replay_status(an_server_t *s);

/* Readiness, with details (input, partitions). */
bool an_server_ready(an_server_t *s, json_t *detail);

#endif
