/* SPDX-License-Identifier: Apache-2.0 */
/* Drop reasons and their counters. */
#include "vx_drop.h"

#include <errno.h>
#include <string.h>

const char *const vx_drop_names[VX_DROP_N] = {
    [VX_DROP_UNKNOWN_TYPE] = "unknown_type",
    [VX_DROP_MISSING_PATH] = "missing_path",
    [VX_DROP_BAD_PATH] = "bad_path",
    [VX_DROP_BAD_ID] = "bad_id",
    [VX_DROP_TOO_LARGE] = "too_large",
    [VX_DROP_BAD_UTF8] = "bad_utf8",
    [VX_DROP_BAD_FIELD] = "bad_field",
    [VX_DROP_BAD_JSON] = "bad_json",
    [VX_DROP_BAD_FRAME] = "bad_frame",
    [VX_DROP_BAD_PROTOBUF] = "bad_protobuf",
    [VX_DROP_DUPLICATE] = "duplicate",
    [VX_DROP_SHUTDOWN] = "shutdown",
    [VX_DROP_KAFKA_FAILED] = "kafka_failed",
    [VX_DROP_BUSY] = "busy",
    [VX_DROP_IDENTITY] = "identity",
    [VX_DROP_BOUNDARY_FULL] = "boundary_full",
    [VX_DROP_SEND_FAILED] = "send_failed",
};

int
vx_drop_parse(const char *name, enum vx_drop_reason *out)
{
    for (int i = 0; i < VX_DROP_N; i++) {
        if (strcmp(vx_drop_names[i], name) == 0) {
            *out = (enum vx_drop_reason)i;
            return 0;
        }
    }
    return -EINVAL;
}

static vx_counter_t *
s_counter(struct vx_drops *d, enum vx_drop_reason r)
{
    vx_counter_t *c = atomic_load_explicit(&d->c[r], memory_order_acquire);
    if (!c) {
        /* The registry returns the same series for the same labels, so two threads racing
         * here store the same pointer. */
        c = d->hop ? vx_metrics_counter(d->metrics, d->family, d->help, "hop", d->hop, "reason",
                                        vx_drop_names[r], NULL)
                   : vx_metrics_counter(d->metrics, d->family, d->help, "reason",
                                        vx_drop_names[r], NULL);
        atomic_store_explicit(&d->c[r], c, memory_order_release);
    }
    return c;
}

void
vx_drops_init(struct vx_drops *d, vx_metrics_t *m, const char *family, const char *help,
              uint64_t mask)
{
    d->metrics = m;
    d->family = family;
    d->help = help;
    d->hop = NULL;
    for (int i = 0; i < VX_DROP_N; i++) {
        atomic_init(&d->c[i], NULL);
        if (mask & VX_DROP_BIT(i)) {
            s_counter(d, (enum vx_drop_reason)i);
        }
    }
}

void
vx_lost_init(struct vx_drops *d, vx_metrics_t *m, const char *hop, uint64_t mask)
{
    vx_drops_init(d, m, VX_LOST_FAMILY, VX_LOST_HELP, 0);
    d->hop = hop;
    for (int i = 0; i < VX_DROP_N; i++) {
        if (mask & VX_DROP_BIT(i)) {
            s_counter(d, (enum vx_drop_reason)i);
        }
    }
}

void
vx_drops_add(struct vx_drops *d, enum vx_drop_reason reason, uint64_t n)
{
    if ((unsigned)reason >= VX_DROP_N || n == 0) {
        return;
    }
    vx_counter_add(s_counter(d, reason), n);
}

uint64_t
vx_drops_value(const struct vx_drops *d, enum vx_drop_reason reason)
{
    if ((unsigned)reason >= VX_DROP_N) {
        return 0;
    }
    vx_counter_t *c = atomic_load_explicit(&d->c[reason], memory_order_acquire);
    return c ? vx_counter_value(c) : 0;
}
