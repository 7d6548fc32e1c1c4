/* SPDX-License-Identifier: Apache-2.0 */
/* The passthrough filesystem: every operation is served by the same call on the source
 * directory, and the ones the kernel module also reports become events (source fuse):
 *
 *   create            filesystem_create   flags: the open flags
 *   open for writing  filesystem_write    operation open_write, size 0 (as the module)
 *   write             filesystem_write    one event per write burst of an open file, sent
 *                                         when the file is flushed (close) or released:
 *                                         size = bytes written, offset = first offset,
 *                                         count = write calls folded in (as the module)
 *   read              filesystem_read     the same per read burst, only with capture_reads
 *   unlink, rmdir     filesystem_delete, filesystem_rmdir (inode and mode from before)
 *   rename            filesystem_rename   path = old, new_path = new, flags = rename flags
 *   mkdir             filesystem_mkdir
 *   chmod/chown/truncate filesystem_chmod operation setattr, attr = "mode", "uid,gid", "size"
 *
 * Event paths are the paths users see: the mount point's absolute path plus the path inside
 * the filesystem. pid, uid and gid are the caller's as FUSE reports them; comm and tgid come
 * from /proc. Run as root, the daemon mounts with allow_other and gives what it creates to
 * the caller (the kernel checks permissions: default_permissions). */
#ifndef FU_FS_H
#define FU_FS_H

#include <limits.h>
#include <stdbool.h>

#define FUSE_USE_VERSION 31
#include <fuse.h>
#include <fuse_lowlevel.h>

#include "fu_emit.h"

struct fu_fs {
    int src_fd;                /* the source directory (O_PATH) */
    char mount_abs[PATH_MAX];  /* absolute mount point, the prefix of event paths */
    fu_emit_t *emit;           /* borrowed */
    bool capture_reads;
};

/* The operation table; fuse_new's private data is the struct fu_fs. */
extern const struct fuse_operations fu_fs_ops;

#endif
