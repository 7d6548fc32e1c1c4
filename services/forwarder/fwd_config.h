/* SPDX-License-Identifier: Apache-2.0 */
/* The event_forwarder configuration section. */
#ifndef FWD_CONFIG_H
#define FWD_CONFIG_H

#include "vx_link.h"
#include "vx_config.h"

#define FWD_SECTION "event_forwarder"

/* Every key of the section (strings borrowed from the vx_config_t bound from). */
struct fwd_config {
    const char *device;
    struct vx_link_config link;
    int32_t batch_max_events;
    int32_t batch_max_delay_ms;
    const char *producer_id;
    int32_t shutdown_timeout_ms;
    const char *rest_bind;
    int32_t rest_port;
};

extern const struct vx_cfg_section fwd_cfg_section;

#endif
