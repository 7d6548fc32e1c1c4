/* SPDX-License-Identifier: Apache-2.0 */
/* The inotify back end: recursive watches, moves paired by cookie. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "vx_clock.h"
#include "vx_log.h"
#include "vx_mem.h"
#include "wt_watch_priv.h"

#define S_MASK                                                                                    \
    (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB |          \
     IN_DONT_FOLLOW | IN_ONLYDIR)

static void
s_set_path(wt_watch_t *w, int wd, const char *path)
{
    if ((size_t)wd >= w->wd_cap) {
        size_t cap = w->wd_cap ? w->wd_cap : 64;
        while (cap <= (size_t)wd) {
            cap *= 2;
        }
        w->wd_path = vx_realloc(w->wd_path, cap * sizeof *w->wd_path);
        memset(w->wd_path + w->wd_cap, 0, (cap - w->wd_cap) * sizeof *w->wd_path);
        w->wd_cap = cap;
    }
    free(w->wd_path[wd]);
    w->wd_path[wd] = path ? vx_strdup(path) : NULL;
}

static const char *
s_path(const wt_watch_t *w, int wd)
{
    return wd >= 0 && (size_t)wd < w->wd_cap ? w->wd_path[wd] : NULL;
}

/* Watches root and every directory below it. report: emit mkdir/create for what is found
 * (a directory that appeared after the watch on its parent: its entries may predate its
 * own watch). Walks with a work list instead of recursion, so a deep tree cannot exhaust
 * the stack. */
static void
s_add_tree(wt_watch_t *w, const char *root, bool report)
{
    size_t n = 0, cap = 16;
    char **todo = vx_calloc(cap, sizeof *todo);
    todo[n++] = vx_strdup(root);
    while (n > 0) {
        char *dir = todo[--n];
        int wd = inotify_add_watch(w->fd, dir, S_MASK);
        DIR *d = NULL;
        if (wd < 0) {
            vx_warn("WT-INOTIFY-ADD", "cannot watch %s: %s", dir, strerror(errno));
        } else {
            s_set_path(w, wd, dir);
            d = opendir(dir);
        }
        const struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            char child[PATH_MAX];
            struct stat st;
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
                (size_t)snprintf(child, sizeof child, "%s/%s", dir, de->d_name) >= sizeof child ||
                lstat(child, &st) < 0) {
                continue;
            }
            if (report) {
                wt_emit(w, S_ISDIR(st.st_mode) ? VEXFS_EV_MKDIR : VEXFS_EV_CREATE, child, NULL,
                        &st, 0);
            }
            if (S_ISDIR(st.st_mode)) {
                if (n == cap) {
                    cap *= 2;
                    todo = vx_realloc(todo, cap * sizeof *todo);
                }
                todo[n++] = vx_strdup(child);
            }
        }
        if (d) {
            closedir(d);
        }
        free(dir);
    }
    free(todo);
}

/* Watches whose path is old or below it: renamed to new, or forgotten when new is NULL. */
static void
s_move_tree(wt_watch_t *w, const char *old, const char *new_path)
{
    size_t n = strlen(old);
    for (size_t wd = 0; wd < w->wd_cap; wd++) {
        const char *p = w->wd_path[wd];
        if (!p || strncmp(p, old, n) != 0 || (p[n] != '\0' && p[n] != '/')) {
            continue;
        }
        if (!new_path) {
            inotify_rm_watch(w->fd, (int)wd);
            s_set_path(w, (int)wd, NULL);
            continue;
        }
        char moved[PATH_MAX];
        snprintf(moved, sizeof moved, "%s%s", new_path, p + n);
        s_set_path(w, (int)wd, moved);
    }
}

/* A move out that found no move in: the entry left the watched trees. */
static void
s_flush_move(wt_watch_t *w)
{
    if (!w->move_path) {
        return;
    }
    wt_emit(w, w->move_dir ? VEXFS_EV_RMDIR : VEXFS_EV_UNLINK, w->move_path, NULL, NULL, 0);
    if (w->move_dir) {
        s_move_tree(w, w->move_path, NULL);
    }
    free(w->move_path);
    w->move_path = NULL;
}

static void
s_event(wt_watch_t *w, const struct inotify_event *ev, uint64_t now)
{
    if (ev->mask & IN_IGNORED) {
        s_set_path(w, ev->wd, NULL);
        return;
    }
    if (ev->mask & IN_Q_OVERFLOW) {
        vx_warn("WT-INOTIFY-OVERFLOW", "inotify queue overflow: events were lost");
        return;
    }
    const char *dir = s_path(w, ev->wd);
    if (!dir || ev->len == 0) {
        return;
    }
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, ev->name) >= sizeof path) {
        return;
    }
    bool isdir = (ev->mask & IN_ISDIR) != 0;
    if (w->move_path && !((ev->mask & IN_MOVED_TO) && ev->cookie == w->move_cookie)) {
        s_flush_move(w);
    }
    struct stat st;
    bool have = lstat(path, &st) == 0;
    if (ev->mask & IN_CREATE) {
        wt_emit(w, isdir ? VEXFS_EV_MKDIR : VEXFS_EV_CREATE, path, NULL, have ? &st : NULL, 0);
        if (isdir) {
            s_add_tree(w, path, true);
        }
    } else if (ev->mask & IN_DELETE) {
        wt_emit(w, isdir ? VEXFS_EV_RMDIR : VEXFS_EV_UNLINK, path, NULL, NULL, 0);
    } else if (ev->mask & IN_CLOSE_WRITE) {
        wt_emit(w, VEXFS_EV_WRITE, path, NULL, have ? &st : NULL, 0);
    } else if (ev->mask & IN_ATTRIB) {
        wt_emit(w, VEXFS_EV_SETATTR, path, NULL, have ? &st : NULL, 0);
    } else if (ev->mask & IN_MOVED_FROM) {
        w->move_cookie = ev->cookie;
        w->move_path = vx_strdup(path);
        w->move_dir = isdir;
        w->move_deadline_ns = now + w->pair_ns;
    } else if (ev->mask & IN_MOVED_TO) {
        if (w->move_path) {
            wt_emit(w, VEXFS_EV_RENAME, w->move_path, path, have ? &st : NULL, 0);
            if (isdir) {
                s_move_tree(w, w->move_path, path);
            }
            free(w->move_path);
            w->move_path = NULL;
        } else {
            /* Moved in from outside the watched trees. */
            wt_emit(w, isdir ? VEXFS_EV_MKDIR : VEXFS_EV_CREATE, path, NULL, have ? &st : NULL,
                    0);
            if (isdir) {
                s_add_tree(w, path, true);
            }
        }
    }
}

int
wt_inotify_start(wt_watch_t *w, char *err, size_t errlen)
{
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd < 0) {
        int e = errno;
        snprintf(err, errlen, "inotify_init1: %s", strerror(e));
        return -e;
    }
    for (size_t i = 0; i < w->n_dirs; i++) {
        s_add_tree(w, w->dirs[i], false);
    }
    vx_info("WT-INOTIFY", "watching %zu trees with inotify", w->n_dirs);
    return 0;
}

int
wt_inotify_handle(wt_watch_t *w)
{
    /* Aligned for struct inotify_event, as inotify(7) shows. */
    char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        ssize_t n = read(w->fd, buf, sizeof buf);
        uint64_t now = vx_mono_ns();
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                break;
            }
            return -errno;
        }
        for (ssize_t off = 0; off + (ssize_t)sizeof(struct inotify_event) <= n;) {
            const struct inotify_event *ev = (const struct inotify_event *)(buf + off);
            s_event(w, ev, now);
            off += (ssize_t)(sizeof *ev + ev->len);
        }
    }
    if (w->move_path && vx_mono_ns() >= w->move_deadline_ns) {
        s_flush_move(w);
    }
    return 0;
}

int
wt_inotify_timeout_ms(const wt_watch_t *w)
{
    if (!w->move_path) {
        return -1;
    }
    uint64_t now = vx_mono_ns();
    return w->move_deadline_ns <= now
               ? 0
               : (int)((w->move_deadline_ns - now + VX_NS_PER_MS - 1) / VX_NS_PER_MS);
}

void
wt_inotify_fini(wt_watch_t *w)
{
    s_flush_move(w);
    for (size_t i = 0; i < w->wd_cap; i++) {
        free(w->wd_path[i]);
    }
    free(w->wd_path);
    w->wd_path = NULL;
    w->wd_cap = 0;
    if (w->fd >= 0) {
        close(w->fd);
        w->fd = -1;
    }
}
