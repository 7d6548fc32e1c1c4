/* SPDX-License-Identifier: Apache-2.0 */
/* The watcher front: directories, back end choice and the event helper. */
#include "wt_watch_priv.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vx_clock.h"
#include "vx_log.h"
#include "vx_mem.h"

void
wt_emit(wt_watch_t *w, unsigned kind, const char *path, const char *path2,
        const struct stat *st, uint32_t pid)
{
    struct fu_op op;
    /* With a pid, uid and gid come from /proc (UINT32_MAX asks for that). */
    uint32_t ids = pid ? UINT32_MAX : 0;
    if (fu_op_init(&op, kind, path, path2, st, pid, ids, ids) < 0) {
        vx_warn("WT-PATH", "no event for %s: path too long", path);
        return;
    }
    if (kind == VEXFS_EV_WRITE && st) {
        op.h.size = (uint64_t)st->st_size;
    }
    fu_emit_push(w->emit, &op);
}

int
wt_watch_new(wt_watch_t **out, const char *mode, char *const *dirs, size_t n, int pair_ms,
             fu_emit_t *emit, char *err, size_t errlen)
{
    *out = NULL;
    bool want_fan = strcmp(mode, "fanotify") == 0, want_ino = strcmp(mode, "inotify") == 0;
    if (!want_fan && !want_ino && strcmp(mode, "auto") != 0) {
        snprintf(err, errlen, "mode: '%s' is not auto, fanotify or inotify", mode);
        return -EINVAL;
    }
    if (n == 0) {
        snprintf(err, errlen, "no directory to watch");
        return -EINVAL;
    }
    wt_watch_t *w = vx_calloc(1, sizeof *w);
    w->fd = -1;
    w->emit = emit;
    w->pair_ns = (uint64_t)pair_ms * VX_NS_PER_MS;
    w->dirs = vx_calloc(n, sizeof *w->dirs);
    for (size_t i = 0; i < n; i++) {
        char abs[PATH_MAX];
        struct stat st;
        int e = 0;
        if (!realpath(dirs[i], abs) || stat(abs, &st) < 0) {
            e = errno;
        } else if (!S_ISDIR(st.st_mode)) {
            e = ENOTDIR;
        }
        if (e) {
            snprintf(err, errlen, "%s: %s", dirs[i], strerror(e));
            wt_watch_destroy(&w);
            return -e;
        }
        w->dirs[w->n_dirs++] = vx_strdup(abs);
    }
    int rc = -EINVAL;
    if (!want_ino) {
        w->fanotify = true;
        rc = wt_fanotify_start(w, err, errlen);
        if (rc < 0 && !want_fan) {
            vx_info("WT-FANOTIFY", "fanotify not usable (%s): using inotify", err);
            wt_fanotify_fini(w);
        }
    }
    if (rc < 0 && !want_fan) {
        w->fanotify = false;
        rc = wt_inotify_start(w, err, errlen);
    }
    if (rc < 0) {
        wt_watch_destroy(&w);
        return rc;
    }
    *out = w;
    return 0;
}

void
wt_watch_destroy(wt_watch_t **wp)
{
    wt_watch_t *w = *wp;
    if (!w) {
        return;
    }
    if (w->fanotify) {
        wt_fanotify_fini(w);
    } else {
        wt_inotify_fini(w);
    }
    for (size_t i = 0; i < w->n_dirs; i++) {
        free(w->dirs[i]);
    }
    free(w->dirs);
    free(w);
    *wp = NULL;
}

int
wt_watch_fd(const wt_watch_t *w)
{
    return w->fd;
}

int
wt_watch_timeout_ms(const wt_watch_t *w)
{
    return w->fanotify ? -1 : wt_inotify_timeout_ms(w);
}

int
wt_watch_handle(wt_watch_t *w)
{
    return w->fanotify ? wt_fanotify_handle(w) : wt_inotify_handle(w);
}

const char *
wt_watch_mode(const wt_watch_t *w)
{
    return w->fanotify ? "fanotify" : "inotify";
}
