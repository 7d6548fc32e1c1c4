/* SPDX-License-Identifier: Apache-2.0 */
/* Circuit breakers, one per action target ("http:127.0.0.1:8080", "script:/opt/x.sh", ...),
 * kept per tenant: the executor names a target "<tenant> <target>" (a tenant name has no
 * space), so one tenant's failures never open another's breaker, the metrics carry tenant and
 * target labels, and GET /v1/breakers shows a tenant only its own.
 *
 * closed    calls go through; failure_threshold failures in a row open it
 * open      calls fail at once ("circuit open") until cooldown_ms has passed
 * half_open one call at a time is let through as a probe: success closes, failure re-opens
 *
 * Thread-safe (one mutex). At most AU_BREAKER_MAX targets are tracked; calls to further
 * targets pass without a breaker and are counted (untracked). */
#ifndef AU_BREAKER_H
#define AU_BREAKER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "vx_metrics.h"

#define AU_BREAKER_MAX 1024

enum au_breaker_state { AU_BREAKER_CLOSED = 0, AU_BREAKER_OPEN, AU_BREAKER_HALF_OPEN };

typedef struct au_breakers au_breakers_t;

/* metrics may be NULL. Caller owns the result. */
au_breakers_t *au_breakers_new(uint32_t failure_threshold, uint64_t cooldown_ms,
                               vx_metrics_t *metrics);
/* Accepts NULL; sets *b to NULL. */
void au_breakers_destroy(au_breakers_t **b);

/* May a call to target go now? false when open (or half-open with a probe out). */
bool au_breaker_allow(au_breakers_t *b, const char *target, uint64_t now_ns);
/* Reports the outcome of a call that was allowed. */
void au_breaker_done(au_breakers_t *b, const char *target, bool ok, uint64_t now_ns);
/* The state as of now_ns (an open breaker past its cool-down reads half_open). */
enum au_breaker_state au_breaker_state(au_breakers_t *b, const char *target, uint64_t now_ns);
/* {"breakers":[{"tenant":..,"target":..,"state":..,"failures":n,"opens":n,"rejected":n}],
 *  "failure_threshold":n,"cooldown_ms":n,"untracked":n} (new reference): the breakers of
 * tenant only ("" for targets named without one), or every breaker when tenant is NULL. */
json_t *au_breakers_json(au_breakers_t *b, const char *tenant, uint64_t now_ns);
#define AU_BREAKER_TENANT_MAX 64
/* Splits a breaker key "<tenant> <target>": copies the tenant into tenant (tlen bytes; "" when
 * the key has none) and returns the target (borrowed from key). */
const char *au_breaker_split(const char *key, char *tenant, size_t tlen);
/* A static string ("closed", "open", "half_open"). */
const char *au_breaker_state_name(enum au_breaker_state s);

#endif
