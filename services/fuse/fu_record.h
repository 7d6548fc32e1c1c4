/* SPDX-License-Identifier: Apache-2.0 */
/* One filesystem operation seen in userspace (FUSE layer or watcher), in the kernel module's
 * record shape, and its translation into an event.
 *
 * The operation is held as a struct vexfs_event_record plus its paths, and translated by the
 * forwarder's fwd_record_translate: kernel, FUSE and watcher events for the same operation
 * have the same type and the same content and metadata keys (fwd_translate.h lists them);
 * only the source boundary differs. For userspace producers kernel_seq is the producer's own
 * operation counter and abi_version the record version the shape follows. */
#ifndef FU_RECORD_H
#define FU_RECORD_H

#include <stdint.h>
#include <sys/stat.h>

#include "../../kmod/vexfs_events_uapi.h"
#include "vx_arena.h"
#include "vx_event.h"

struct fu_op {
    struct vexfs_event_record h;
    char *path;  /* absolute, heap (owned) */
    char *path2; /* rename target, heap (owned), NULL otherwise */
};

/* Fills op for operation kind on path (copied) and path2 (copied, may be NULL): the time,
 * the caller's pid/uid/gid and task name (read from /proc when pid is not 0; uid
 * UINT32_MAX: uid and gid from /proc too, 0 when unknown), and, when st
 * is not NULL, inode, mode and file size. Returns 0 or -ENAMETOOLONG. */
int fu_op_init(struct fu_op *op, unsigned kind, const char *path, const char *path2,
               const struct stat *st, uint32_t pid, uint32_t uid, uint32_t gid);
/* Frees the paths (op itself is the caller's). */
void fu_op_fini(struct fu_op *op);

/* The event for op with the given source (VEXFS__V1__BOUNDARY__*), in arena memory. Returns
 * 0, or -EPROTO with *reason (FWD_R_OP, FWD_R_PATH) or -ENOMEM. */
int fu_op_translate(const struct fu_op *op, int boundary, vx_arena_t *arena, vx_event_t **out,
                    const char **reason);

/* The inverse: reads an event of this shape back into op (paths on the heap, caller frees
 * with fu_op_fini). Returns 0, or -EPROTO when a key is missing or malformed. */
int fu_op_from_event(const vx_event_t *e, struct fu_op *op);

#endif
