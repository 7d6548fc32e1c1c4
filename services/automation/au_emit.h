/* SPDX-License-Identifier: Apache-2.0 */
/* Events automation sends back into propagation (emit steps and pattern actions): the JSON
 * form of vx_event.h, validated, sent as a one-event batch in vx_wire framing on a PUSH socket
 * connected to propagation's ingest. Batches carry this daemon's sender id and a contiguous
 * sequence, so propagation counts any gap. Thread-safe (one mutex around the socket). */
#ifndef AU_EMIT_H
#define AU_EMIT_H

#include <jansson.h>
#include <stddef.h>

#include "vx_metrics.h"
#include "vx_sock.h"

typedef struct au_emit au_emit_t;

/* endpoint "" gives an emitter whose every send fails with -ENOTCONN (emit not configured).
 * Returns NULL with err when the socket cannot connect; the caller owns the result. Counters
 * go to metrics (borrowed, must outlive the emitter). */
au_emit_t *au_emit_new(const char *endpoint, const vx_socks_t *socks, vx_metrics_t *metrics,
                       char *err, size_t errlen);
/* Accepts NULL; sets *em to NULL. */
void au_emit_destroy(au_emit_t **em);

/* Sends event (borrowed) of tenant. "source" defaults to automation, "tenant" to tenant
 * (unless "default"); content and metadata numbers and booleans become their JSON text.
 * Returns 0, or -errno with err: -ENOTCONN (no endpoint), -EINVAL (not a valid event: the
 * reason from vx_event_from_json / vx_event_validate), -EAGAIN (not taken within 1 s). */
int au_emit_send(au_emit_t *em, const char *tenant, json_t *event, char *err, size_t errlen);

#endif
