/* SPDX-License-Identifier: Apache-2.0 */
/* The userspace_watcher configuration section. */
#ifndef WT_CONFIG_H
#define WT_CONFIG_H

#include "../fuse/fu_emit.h"
#include "vx_config.h"

#define WT_SECTION "userspace_watcher"

struct wt_config {
    struct fu_emit_config emit;
    const char *mode;
    int32_t rename_pair_ms;
};

extern const struct vx_cfg_section wt_cfg_section;

#endif
