/* SPDX-License-Identifier: Apache-2.0 */
/* Why an event was not passed on: one enum for the whole suite, and the counters that expose
 * it as vexfs_events_dropped_total{reason="..."} (or a daemon's own family of that shape).
 *
 * Every place that drops an event names one of these reasons, so the reasons a user sees in
 * /metrics, in logs and in error bodies are the same words everywhere. */
#ifndef VX_DROP_H
#define VX_DROP_H

#include <stdatomic.h>
#include <stdint.h>

#include "vx_metrics.h"

enum vx_drop_reason {
    VX_DROP_UNKNOWN_TYPE,  /* the event's type is not one the schema knows */
    VX_DROP_MISSING_PATH,  /* a filesystem event without a path */
    VX_DROP_BAD_PATH,      /* a path that is not absolute or not canonical */
    VX_DROP_BAD_ID,        /* an id or parent id that is not 16 bytes */
    VX_DROP_TOO_LARGE,     /* a field, map or batch over its limit */
    VX_DROP_BAD_UTF8,      /* a string that is not UTF-8 */
    VX_DROP_BAD_FIELD,     /* any other field out of its range */
    VX_DROP_BAD_JSON,      /* a JSON body of the wrong shape */
    VX_DROP_BAD_FRAME,     /* a ZeroMQ message that is not topic + batch */
    VX_DROP_BAD_PROTOBUF,  /* batch bytes that are not an EventBatch */
    VX_DROP_DUPLICATE,     /* seen inside the deduplication window */
    VX_DROP_SHUTDOWN,      /* could not be delivered before the shutdown deadline */
    VX_DROP_KAFKA_FAILED,  /* Kafka did not take it */
    VX_DROP_BUSY,          /* a full queue whose policy is to refuse */
    VX_DROP_IDENTITY,      /* claims a source or tenant its sender's identity may not */
    VX_DROP_BOUNDARY_FULL, /* a routing boundary's queue was full and its policy is drop */
    VX_DROP_SEND_FAILED,   /* ZeroMQ refused a batch for another reason than a full peer */
    VX_DROP_N
};

/* The label value of each reason ("unknown_type", ...). */
extern const char *const vx_drop_names[VX_DROP_N];

/* Parses a label value; returns 0 or -EINVAL. */
int vx_drop_parse(const char *name, enum vx_drop_reason *out);

/* The counters of one family, one per reason. A plain struct: embed it. */
struct vx_drops {
    vx_metrics_t *metrics;
    const char *family; /* e.g. "vexfs_events_dropped_total" (borrowed, static) */
    const char *help;
    const char *hop; /* NULL, or the hop label of a vexfs_events_lost_total family */
    _Atomic(vx_counter_t *) c[VX_DROP_N];
};

/* Registers the reasons in mask (bit (1 << reason)) at once so they show as 0 from the start;
 * any other reason is registered the first time it is counted. family and help are borrowed
 * and must be static. */
void vx_drops_init(struct vx_drops *d, vx_metrics_t *m, const char *family, const char *help,
                   uint64_t mask);

#define VX_DROP_BIT(r) (UINT64_C(1) << (r))
/* The reasons vx_event_validate and vx_event_from_json give. */
#define VX_DROP_MASK_EVENT                                                                         \
    (VX_DROP_BIT(VX_DROP_UNKNOWN_TYPE) | VX_DROP_BIT(VX_DROP_MISSING_PATH) |                       \
     VX_DROP_BIT(VX_DROP_BAD_PATH) | VX_DROP_BIT(VX_DROP_BAD_ID) | VX_DROP_BIT(VX_DROP_TOO_LARGE) | \
     VX_DROP_BIT(VX_DROP_BAD_UTF8) | VX_DROP_BIT(VX_DROP_BAD_FIELD) | VX_DROP_BIT(VX_DROP_BAD_JSON))
/* The reasons a receiver of batches gives (vx_rx). */
#define VX_DROP_MASK_RX                                                                            \
    (VX_DROP_BIT(VX_DROP_BAD_FRAME) | VX_DROP_BIT(VX_DROP_BAD_PROTOBUF) |                          \
     VX_DROP_BIT(VX_DROP_TOO_LARGE))

/* Events lost in flight: accepted by a daemon for delivery to the next one (the hop, e.g.
 * "propagation_to_routing") and never delivered, by reason (shutdown: not delivered by the
 * shutdown deadline; send_failed: the transport refused it; boundary_full: a full queue whose
 * policy is drop; kafka_failed; busy). A daemon counts such an event twice: under its own
 * dropped family (what happened) and here, under vexfs_events_lost_total{hop,reason} (where
 * the pipeline lost it), which vexfsctl status sums per hop across daemons. */
#define VX_LOST_FAMILY "vexfs_events_lost_total"
#define VX_LOST_HELP                                                                               \
    "Events accepted for delivery to the next daemon and never delivered, by hop and reason."
/* The reasons an in-flight event is lost for. */
#define VX_LOST_MASK                                                                               \
    (VX_DROP_BIT(VX_DROP_SHUTDOWN) | VX_DROP_BIT(VX_DROP_SEND_FAILED))
/* Registers the vexfs_events_lost_total series of hop (borrowed, must be static) for the
 * reasons in mask; others appear when first counted. Use vx_drops_add / vx_drops_value. */
void vx_lost_init(struct vx_drops *d, vx_metrics_t *m, const char *hop, uint64_t mask);

/* Counts n events dropped for reason. Thread-safe, lock-free once the reason is registered. */
void vx_drops_add(struct vx_drops *d, enum vx_drop_reason reason, uint64_t n);
/* Events counted under reason so far. */
uint64_t vx_drops_value(const struct vx_drops *d, enum vx_drop_reason reason);

#endif
