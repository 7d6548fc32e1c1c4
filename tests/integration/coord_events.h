/* SPDX-License-Identifier: Apache-2.0 */
/* The events coordinator tests submit and the logs they check: numbered events with fixed
 * ids (so a retry after an unknown outcome commits nothing twice), submission that follows the
 * leader, and the comparison of every member's log. */
#ifndef COORD_EVENTS_H
#define COORD_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord_harness.h"

/* The fixed id of event number n: "00000000-0000-7000-8000-" and n in 12 hex digits. */
void ch_event_id(uint64_t n, char out[40]);

/* A POST /v1/events body (owned by the caller, free()) of events first..first+count-1, of
 * type filesystem_write on paths PREFIX<n % files>, content {"n": "<n>"}. */
char *ch_events_body(const char *prefix, unsigned files, uint64_t first, size_t count);

/* Submits BODY (COUNT events) through node VIA, following 421 to the leader and retrying the
 * same body until it is acknowledged or TIMEOUT_MS passes; nodes in SKIP (bitmask) are not
 * used. Asserts that an acknowledgement accounts for every event. True when acknowledged. */
bool ch_submit(struct ch_cluster *c, size_t via, const char *body, size_t count, int timeout_ms,
               unsigned skip);

/* Every node not in SKIP reports WANT events in its log within TIMEOUT_MS. */
bool ch_all_totals(struct ch_cluster *c, long long want, int timeout_ms, unsigned skip);

/* Node I's log ids in order, one per line (owned by the caller, free()); asserts that the
 * sequence numbers of its TOTAL events are contiguous from 1. */
char *ch_log_ids(struct ch_cluster *c, size_t i, long long total);

/* Every node's log holds the same ids in the same order, each of events 1..N exactly once. */
void ch_check_logs(struct ch_cluster *c, long long n);

#endif
