/* SPDX-License-Identifier: Apache-2.0 */
/* Watching directory trees from userspace, for machines where the kernel module cannot be
 * loaded. Two back ends produce the same events (source userspace_api):
 *
 *   fanotify  one mark on each watched directory's filesystem (FAN_MARK_FILESYSTEM) with
 *             FAN_REPORT_DFID_NAME; events outside the watched trees are ignored. Needs
 *             CAP_SYS_ADMIN and a filesystem that can report file handles. Knows the pid
 *             (and, through /proc, uid, gid and task name) of the process that acted, and
 *             reports a rename as one FAN_RENAME.
 *   inotify  one watch per directory, added recursively as directories appear. Does not know
 *             who acted (pid, uid and gid 0); a rename is a move out and a move in paired by
 *             cookie (a move out of the trees counts as a delete, a move in as a create).
 *
 *   what happened           event (operation)
 *   a file created          filesystem_create (create)
 *   a file closed after     filesystem_write (write): one per write burst, as the FUSE
 *     being written           layer; size and file_size are the size at close (the watcher
 *                             cannot count bytes written), offset 0
 *   unlink, rmdir, mkdir    filesystem_delete (unlink), filesystem_rmdir, filesystem_mkdir
 *   rename                  filesystem_rename (rename), new_path
 *   attributes changed      filesystem_chmod (setattr), attr empty: which attribute changed
 *                           is not reported by either interface
 *
 * Reads are not reported. Events are best effort for what happened before a new directory
 * was watched (inotify): its entries are scanned and reported as created. */
#ifndef WT_WATCH_H
#define WT_WATCH_H

#include <stddef.h>

#include "../fuse/fu_emit.h"

typedef struct wt_watch wt_watch_t;

/* mode: "auto", "fanotify" or "inotify". dirs are copied (made absolute). emit is borrowed.
 * Returns 0, or -errno with a message in err. */
int wt_watch_new(wt_watch_t **out, const char *mode, char *const *dirs, size_t n,
                 int rename_pair_ms, fu_emit_t *emit, char *err, size_t errlen);
void wt_watch_destroy(wt_watch_t **w);

/* The descriptor to poll for input, and the longest wait before wt_watch_handle must be
 * called anyway (-1: none). */
int wt_watch_fd(const wt_watch_t *w);
int wt_watch_timeout_ms(const wt_watch_t *w);
/* Reads what is ready and emits the events; also runs timers. Returns 0 or -errno when the
 * notification descriptor failed. */
int wt_watch_handle(wt_watch_t *w);
/* "fanotify" or "inotify". */
const char *wt_watch_mode(const wt_watch_t *w);

#endif
