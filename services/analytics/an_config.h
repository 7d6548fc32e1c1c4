/* SPDX-License-Identifier: Apache-2.0 */
/* The stream_analytics configuration section. */
#ifndef AN_CONFIG_H
#define AN_CONFIG_H

#include "vx_config.h"

#define AN_SECTION "stream_analytics"

extern const struct vx_cfg_section an_cfg_section;

#endif
