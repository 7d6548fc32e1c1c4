/* SPDX-License-Identifier: Apache-2.0 */
/* The userspace_watcher configuration section. */
#ifndef WT_CONFIG_H
#define WT_CONFIG_H

#include "vx_config.h"

#define WT_SECTION "userspace_watcher"

extern const struct vx_cfg_section wt_cfg_section;

#endif
