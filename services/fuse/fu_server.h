/* SPDX-License-Identifier: Apache-2.0 */
/* vexfs-fuse's loop: the mounted filesystem, its emitter, and the FUSE request loop.
 *
 * The stop signals stay blocked in every thread; the loop unblocks them only inside ppoll, so
 * a signal can never slip in between the check of the stop flag and the wait. */
#ifndef FU_SERVER_H
#define FU_SERVER_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "fu_config.h"
#include "vx_metrics.h"
#include "vx_sock.h"

typedef struct fu_server fu_server_t;

/* Opens source, starts the emitter and mounts the filesystem at mountpoint. Blocks SIGTERM,
 * SIGINT and SIGHUP in the calling thread (threads started afterwards inherit that). cfg is
 * read here only; socks and metrics are borrowed and must outlive the server. Returns NULL
 * with a message in err. */
fu_server_t *fu_server_new(const struct fu_config *cfg, const vx_socks_t *socks,
                           vx_metrics_t *metrics, const char *source, const char *mountpoint,
                           char *err, size_t errlen);
/* Unmounts, then delivers what is queued (at most shutdown_timeout_ms) and frees. */
void fu_server_destroy(fu_server_t **s);

/* Serves FUSE requests until *stop or an unmount. Returns 0, or -EIO when /dev/fuse failed. */
int fu_server_run(fu_server_t *s, volatile sig_atomic_t *stop);

/* The /ready callback: ready while mounted. arg is the server. */
bool fu_server_ready(void *arg, json_t *detail);

#endif
