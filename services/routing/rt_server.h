/* SPDX-License-Identifier: Apache-2.0 */
/* The routing loop and the rule sets it decides with.
 *
 * One thread runs rt_server_run and owns every ZeroMQ socket and the Kafka producer: it pulls
 * batches from propagation, decides each event with the current engine (rt_engine.h) and
 * forwards it, as the bytes it arrived with plus appended tags and priority, to the outputs
 * of its target boundaries (rt_output.h).
 *
 * Rule-set changes (REST threads, the rules-file watcher) are serialized. Each builds a
 * complete engine on the calling thread, writes it durably to a temporary state file, and
 * hands the engine to the loop over an inproc socket; the loop takes it between two input
 * batches, carries the counters over (rt_engine_inherit), and acknowledges; only then is the
 * state file renamed into place and the set published to readers. So every event is decided
 * by exactly one complete engine, a set that fails to build changes nothing, and a set that
 * was acknowledged survives a restart. Engines are reference counted: the loop, the published
 * slot, explain requests and the compile cache each hold a reference, and the last one to let
 * go destroys the engine, never while a thread decides with it. */
#ifndef RT_SERVER_H
#define RT_SERVER_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "rt_config.h"
#include "vx_config.h"
#include "vx_metrics.h"
#include "vx_sock.h"

typedef struct rt_server rt_server_t;

/* Creates the sockets (outputs bound, input connected), the Kafka producer when configured,
 * and the initial rule set: the state file of state_dir, or the rules file when it changed
 * since that state was written, or an empty set. Returns NULL with a message in err (a state
 * or rules file that does not build is an error: the daemon does not start routing with
 * nothing). cfg (its strings and kafka_security too) and metrics are borrowed and must outlive
 * the server. */
rt_server_t *rt_server_new(const struct rt_config *cfg, const vx_socks_t *socks,
                           vx_metrics_t *metrics, char *err, size_t errlen);
void rt_server_destroy(rt_server_t **s);

/* Runs the loop until *stop becomes nonzero; *reload nonzero (SIGHUP) rereads the rules file.
 * On stop: no new input, everything received is routed, outputs are flushed within
 * shutdown_timeout_ms. Returns 0, or -ETIMEDOUT when something could not be delivered. */
int rt_server_run(rt_server_t *s, volatile sig_atomic_t *stop, volatile sig_atomic_t *reload);

/* The outcome of a change or an explain, for the REST layer. */
struct rt_result {
    unsigned http;    /* status to answer */
    const char *code; /* error code; NULL on success */
    char message[1024];
    json_t *body;     /* success body (new reference; the caller owns it) */
};

/* Replaces the rules and/or the filters (NULL: keep that part) as one change. rules and
 * filters are borrowed. origin names the caller in logs and metrics ("rest", "file"). */
void rt_server_replace(rt_server_t *s, json_t *rules, json_t *filters, const char *origin,
                       struct rt_result *out);
/* Adds one rule; 409 when its id exists. */
void rt_server_add_rule(rt_server_t *s, json_t *rule, struct rt_result *out);
/* Removes one rule; 404 when there is none with that id. */
void rt_server_delete_rule(rt_server_t *s, const char *id, struct rt_result *out);

/* The current sets, normalized: {"version":N,"rules":[...]}, {"version":N,"filters":[...]};
 * one rule, or NULL when absent. New references. */
json_t *rt_server_rules(rt_server_t *s);
json_t *rt_server_filters(rt_server_t *s);
json_t *rt_server_rule(rt_server_t *s, const char *id);

/* Decides for event (JSON, borrowed) with the current set, without routing it and without
 * touching counters or rate limits. */
void rt_server_explain(rt_server_t *s, json_t *event, struct rt_result *out);

/* GET /v1/stats body (new reference). */
json_t *rt_server_stats(rt_server_t *s);
bool rt_server_ready(rt_server_t *s, json_t *detail);
/* False when enable_dynamic_reconfiguration is off. */
bool rt_server_reconfigurable(const rt_server_t *s);
struct rt_live *rt_server_live(rt_server_t *s);

#endif
