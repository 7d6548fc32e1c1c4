/* SPDX-License-Identifier: Apache-2.0 */
/* Starting a real vexfs-propagation process for integration tests, and reading what it
 * publishes. */
#ifndef PROP_HARNESS_H
#define PROP_HARNESS_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vx_event.h"

#define PH_TOKEN "integration-token"

struct ph_daemon {
    pid_t pid;
    uint16_t rest_port;
    char ingest[64], acked[64], output[64], tap[64]; /* acked: ingest_acked_endpoint */
    char dir[256];
    char log[300];
};

/* Starts the daemon with extra YAML lines for the event_propagation section (may be NULL)
 * and extra admin lines; waits for /ready. Fails the test when it does not come up. */
void ph_start(struct ph_daemon *d, const char *prop_yaml, const char *admin_yaml);
/* SIGTERM and wait; fails the test unless the daemon exits with status 0 (with the
 * sanitizers, a leak makes the exit status nonzero). Returns the waitpid status. */
int ph_stop(struct ph_daemon *d);
/* Kills with SIGKILL and reaps. */
void ph_kill9(struct ph_daemon *d);
/* Starts the daemon again with the same configuration and ports (after ph_kill9); waits for
 * /ready. */
void ph_restart(struct ph_daemon *d);

/* Connected sockets: PUSH to ingest, PULL from output. */
zsock_t *ph_push(const struct ph_daemon *d);
zsock_t *ph_pull(const struct ph_daemon *d);

/* A metric's value from /metrics (series text as printed, e.g.
 * vexfs_events_dropped_total{reason="duplicate"}); -1 when absent. */
double ph_metric(const struct ph_daemon *d, const char *series);
/* Waits up to timeout_ms until series reaches at least want; returns its last value. A counter
 * is updated after the batch it counts left the daemon, so a receiver may see the events
 * first. */
double ph_wait_metric(const struct ph_daemon *d, const char *series, double want, int timeout_ms);

/* Receives batches from pull until n events arrived or timeout_ms passed without any; calls
 * fn for each event (arena memory valid during the call). Returns the number received. */
size_t ph_receive(zsock_t *pull, size_t n, int timeout_ms,
                  void (*fn)(const vx_batch_t *b, const vx_event_t *e, void *arg), void *arg);

#endif
