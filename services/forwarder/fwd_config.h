/* SPDX-License-Identifier: Apache-2.0 */
/* The event_forwarder configuration section. */
#ifndef FWD_CONFIG_H
#define FWD_CONFIG_H

#include "vx_config.h"

#define FWD_SECTION "event_forwarder"

extern const struct vx_cfg_section fwd_cfg_section;

#endif
