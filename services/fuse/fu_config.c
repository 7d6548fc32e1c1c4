/* SPDX-License-Identifier: Apache-2.0 */
/* The fuse_layer section: every key vexfs-fuse reads, with bounds and help. */
#include "fu_config.h"

#include "fu_emit.h"

static const struct vx_cfg_key s_keys[] = {
    FU_EMIT_CFG_KEYS(struct fu_config, emit,
                     "sender id of the batches and producer id of the events; empty: "
                     "fuse-<hostname>",
                     "8086"),
    {"capture_reads", VX_CFG_BOOL, "false", 0, 0, false,
     "emit filesystem_read events (one per read burst of an open file, on close)",
     VX_CFG_AT(struct fu_config, capture_reads)},
};

const struct vx_cfg_section fu_cfg_section =
    VX_CFG_SECTION(FU_SECTION, s_keys, struct fu_config, NULL);
