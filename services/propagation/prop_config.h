/* SPDX-License-Identifier: Apache-2.0 */
/* The event_propagation configuration section and the settings the daemon runs with. */
#ifndef PROP_CONFIG_H
#define PROP_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vx_config.h"

#define PROP_SECTION "event_propagation"

extern const struct vx_cfg_section prop_cfg_section;

/* Settings that PUT /v1/config may change while events flow: written by the REST thread,
 * read by the loop once per batch. */
struct prop_live {
    _Atomic uint64_t dedup_window_ms;
    _Atomic bool dedup_enabled;
    _Atomic uint32_t batch_max_events;
    _Atomic uint32_t batch_max_delay_us;
    _Atomic uint64_t max_latency_ns;
};

/* Copies the reloadable keys of cfg into live. */
void prop_live_load(struct prop_live *live, const vx_config_t *cfg);

#endif
