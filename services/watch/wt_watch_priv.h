/* SPDX-License-Identifier: Apache-2.0 */
/* Internals shared by the watcher's front (wt_watch.c) and its two back ends. */
#ifndef WT_WATCH_PRIV_H
#define WT_WATCH_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "wt_watch.h"

#define WT_CACHE_MAX 4096
#define WT_KEY_MAX (16 + 128) /* fsid, handle type and length, MAX_HANDLE_SZ bytes */

struct wt_dir_cache {
    unsigned char key[WT_KEY_MAX];
    size_t key_len;
    char *path;
};

struct wt_watch {
    bool fanotify;
    int fd;
    fu_emit_t *emit;
    char **dirs; /* absolute, without a trailing slash */
    size_t n_dirs;
    /* fanotify: a descriptor on each watched directory (handles are opened through it), and
     * the paths of directory handles seen, for events that name a directory already gone */
    int *dir_fds;
    struct wt_dir_cache *cache;
    size_t cache_n, cache_next;
    /* inotify: the path of each watch descriptor (index = wd) */
    char **wd_path;
    size_t wd_cap;
    /* inotify: a move out waiting for its move in */
    uint32_t move_cookie;
    char *move_path;
    bool move_dir;
    uint64_t move_deadline_ns, pair_ns;
};

/* Emits kind on path (and path2) as done by pid (0: unknown), with the file's state from st
 * (NULL: unknown). */
void wt_emit(wt_watch_t *w, unsigned kind, const char *path, const char *path2,
             const struct stat *st, uint32_t pid);

int wt_inotify_start(wt_watch_t *w, char *err, size_t errlen);
int wt_inotify_handle(wt_watch_t *w);
int wt_inotify_timeout_ms(const wt_watch_t *w);
void wt_inotify_fini(wt_watch_t *w);

int wt_fanotify_start(wt_watch_t *w, char *err, size_t errlen);
int wt_fanotify_handle(wt_watch_t *w);
void wt_fanotify_fini(wt_watch_t *w);

#endif
