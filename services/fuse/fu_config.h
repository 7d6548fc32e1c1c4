/* SPDX-License-Identifier: Apache-2.0 */
/* The fuse_layer configuration section. */
#ifndef FU_CONFIG_H
#define FU_CONFIG_H

#include "fu_emit.h"
#include "vx_config.h"

#define FU_SECTION "fuse_layer"

struct fu_config {
    struct fu_emit_config emit;
    bool capture_reads;
};

extern const struct vx_cfg_section fu_cfg_section;

#endif
