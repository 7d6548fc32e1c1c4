/* SPDX-License-Identifier: Apache-2.0 */
/* The propagation loop: ingest (ZeroMQ PULL, the acknowledged ROUTER of vx_ackrx.h, and REST
 * submissions), validation,
 * deduplication, stamping, publishing (PUSH to routing, PUB tap) and the Kafka journal.
 *
 * One thread runs prop_server_run and owns every socket and the Kafka producer. REST
 * handlers (other threads) hand batches over with prop_server_submit, which is thread-safe,
 * and wait for the outcome. */
#ifndef PROP_SERVER_H
#define PROP_SERVER_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "prop_config.h"
#include "vx_config.h"
#include "vx_drop.h"
#include "vx_event.h"
#include "vx_metrics.h"
#include "vx_sock.h"

typedef struct prop_server prop_server_t;

/* Creates sockets (bound, through socks), the Kafka producer when configured and the metrics.
 * Returns NULL with a message in err. cfg is copied, but its strings are borrowed from the
 * vx_config_t it was bound from; that, socks and metrics must outlive the server. */
prop_server_t *prop_server_new(const struct prop_config *cfg, const vx_socks_t *socks,
                               vx_metrics_t *metrics, char *err, size_t errlen);
void prop_server_destroy(prop_server_t **s);

/* Runs the loop until *stop becomes nonzero, then stops ingest, flushes everything in flight
 * (routing and Kafka) within shutdown_timeout_ms of the stop request (also when routing takes
 * nothing) and returns 0 (or -ETIMEDOUT when something could not be flushed in time; those
 * events are counted as dropped with reason shutdown). */
int prop_server_run(prop_server_t *s, volatile sig_atomic_t *stop);

/* The outcome of one REST submission. */
struct prop_outcome {
    int status;            /* 0, -EIO (Kafka refused), -ETIMEDOUT, -ESHUTDOWN, -EBUSY */
    char message[256];
    size_t accepted;       /* forwarded */
    size_t duplicates;     /* removed by the dedup window */
    json_t *ids;           /* array of the ids of the accepted events (new reference) */
};

/* Submits validated events (borrowed, packed before return) and waits for the loop: until
 * published, and with durable until Kafka acknowledged every accepted event, at most
 * timeout_ms. Thread-safe. Fills out; the caller owns out->ids. */
void prop_server_submit(prop_server_t *s, vx_event_t *const *events, size_t n, bool durable,
                        struct prop_outcome *out);

/* Live settings (PUT /v1/config writes them). */
struct prop_live *prop_server_live(prop_server_t *s);
bool prop_server_has_kafka(const prop_server_t *s);
bool prop_server_ready(prop_server_t *s, json_t *detail);
/* GET /v1/stats body (new reference). Thread-safe. */
json_t *prop_server_stats(prop_server_t *s);
/* Counts an event refused at the REST boundary (validation) under its reason. Thread-safe. */
void prop_server_count_invalid(prop_server_t *s, enum vx_drop_reason reason, size_t n);

/* The endpoints actually bound (useful when configured with port 0 / wildcard). */
const char *prop_server_ingest_endpoint(const prop_server_t *s);
/* "" when ingest_acked_endpoint is off. */
const char *prop_server_acked_endpoint(const prop_server_t *s);
const char *prop_server_output_endpoint(const prop_server_t *s);
const char *prop_server_tap_endpoint(const prop_server_t *s);

#endif
