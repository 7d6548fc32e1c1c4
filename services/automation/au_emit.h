/* SPDX-License-Identifier: Apache-2.0 */
/* Events automation sends back into propagation (emit steps and pattern actions): the JSON
 * form of vx_event.h, validated, sent as a one-event batch in vx_wire framing. Batches carry
 * this daemon's sender id and a contiguous sequence, so propagation counts any gap.
 *
 * Two ways, as the producers (vx_link.h):
 * - emit_ack_endpoint set (propagation's ingest_acked_endpoint; the shipped profiles): the
 *   batch goes into the buffer of an acknowledged link (emit_buffer_max_batches), which an own
 *   thread sends, resends after emit_ack_timeout_ms or a lost connection, and releases once
 *   propagation acknowledged it. au_emit_send returns once the batch is in the buffer; a full
 *   buffer makes it wait up to 1 s (then -EAGAIN). Batches unacknowledged at stop are given up
 *   on after up to 2 s, counted in vexfs_automation_emit_failures_total and logged.
 * - else emit_endpoint (propagation's PUSH ingest): sent at once; a batch in ZeroMQ when
 *   propagation is killed is lost (propagation sees a gap).
 * Thread-safe (one mutex around the socket or the link's buffer). */
#ifndef AU_EMIT_H
#define AU_EMIT_H

#include <jansson.h>
#include <stddef.h>

#include "vx_metrics.h"
#include "vx_link.h"
#include "vx_sock.h"

typedef struct au_emit au_emit_t;

/* Where and how emitted events go (strings borrowed for au_emit_new only). */
struct au_emit_opts {
    const char *endpoint;     /* propagation's ingest (PUSH), used when ack_endpoint is "" */
    const char *ack_endpoint; /* propagation's ingest_acked_endpoint; "" : not acknowledged */
    int ack_window_batches;
    int ack_timeout_ms;
    int buffer_max_batches;
};

/* Both endpoints "" give an emitter whose every send fails with -ENOTCONN (emit not
 * configured). Returns NULL with err when the socket cannot connect; the caller owns the
 * result. Counters go to metrics (borrowed, must outlive the emitter). */
au_emit_t *au_emit_new(const struct au_emit_opts *o, const vx_socks_t *socks,
                       vx_metrics_t *metrics, char *err, size_t errlen);
/* Accepts NULL; sets *em to NULL. */
void au_emit_destroy(au_emit_t **em);

/* Sends event (borrowed) of tenant. "source" defaults to automation, "tenant" to tenant
 * (unless "default"); content and metadata numbers and booleans become their JSON text.
 * Returns 0, or -errno with err: -ENOTCONN (no endpoint), -EINVAL (not a valid event: the
 * reason from vx_event_from_json / vx_event_validate), -EAGAIN (not taken within 1 s). */
int au_emit_send(au_emit_t *em, const char *tenant, json_t *event, char *err, size_t errlen);

#endif
