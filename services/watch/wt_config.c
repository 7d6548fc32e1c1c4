/* SPDX-License-Identifier: Apache-2.0 */
/* The userspace_watcher section: every key vexfs-watch reads, with bounds and help. */
#include "wt_config.h"

#include "../fuse/fu_emit.h"

static const struct vx_cfg_key s_keys[] = {
    FU_EMIT_CFG_KEYS(struct wt_config, emit,
                     "sender id of the batches and producer id of the events; empty: "
                     "watch-<hostname>",
                     "8087"),
    {"mode", VX_CFG_STRING, "auto", 0, 16, false,
     "auto (fanotify when permitted, else inotify), fanotify or inotify",
     VX_CFG_AT(struct wt_config, mode)},
    {"rename_pair_ms", VX_CFG_INT, "20", 0, 10000, false,
     "inotify: how long a move out waits for its move in before it counts as a delete",
     VX_CFG_AT(struct wt_config, rename_pair_ms)},
};

const struct vx_cfg_section wt_cfg_section =
    VX_CFG_SECTION(WT_SECTION, s_keys, struct wt_config, NULL);
