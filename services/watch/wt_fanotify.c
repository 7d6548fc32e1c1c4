/* SPDX-License-Identifier: Apache-2.0 */
/* The fanotify back end: filesystem marks reporting directory handle and name. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "vx_log.h"
#include "vx_mem.h"
#include "wt_watch_priv.h"

#define S_MASK (FAN_CREATE | FAN_DELETE | FAN_RENAME | FAN_CLOSE_WRITE | FAN_ATTRIB | FAN_ONDIR)

/* The cache key of a directory handle: fsid, type, length and bytes. */
static size_t
s_key(const void *fsid, const struct file_handle *fh, unsigned char *key)
{
    size_t n = fh->handle_bytes > MAX_HANDLE_SZ ? MAX_HANDLE_SZ : fh->handle_bytes;
    memcpy(key, fsid, 8);
    memcpy(key + 8, &fh->handle_type, 4);
    memcpy(key + 12, &fh->handle_bytes, 4);
    memcpy(key + 16, fh->f_handle, n);
    return 16 + n;
}

static struct wt_dir_cache *
s_cache_find(wt_watch_t *w, const unsigned char *key, size_t len)
{
    for (size_t i = 0; i < w->cache_n; i++) {
        if (w->cache[i].key_len == len && memcmp(w->cache[i].key, key, len) == 0) {
            return &w->cache[i];
        }
    }
    return NULL;
}

static void
s_cache_put(wt_watch_t *w, const unsigned char *key, size_t len, const char *path)
{
    struct wt_dir_cache *c = s_cache_find(w, key, len);
    if (!c) {
        if (w->cache_n < WT_CACHE_MAX) {
            c = &w->cache[w->cache_n++];
        } else {
            c = &w->cache[w->cache_next];
            w->cache_next = (w->cache_next + 1) % WT_CACHE_MAX;
        }
        free(c->path);
        memcpy(c->key, key, len);
        c->key_len = len;
    } else {
        free(c->path);
    }
    c->path = vx_strdup(path);
}

/* Remembers the handle of a directory just created or renamed, so that events naming it
 * still resolve after it is gone. */
static void
s_cache_dir(wt_watch_t *w, const char *path)
{
    struct {
        struct file_handle fh;
        unsigned char bytes[MAX_HANDLE_SZ];
    } h;
    h.fh.handle_bytes = MAX_HANDLE_SZ;
    int mount_id;
    struct statfs sf;
    if (name_to_handle_at(AT_FDCWD, path, &h.fh, &mount_id, 0) < 0 || statfs(path, &sf) < 0) {
        return;
    }
    unsigned char key[WT_KEY_MAX];
    size_t klen = s_key(&sf.f_fsid, &h.fh, key);
    s_cache_put(w, key, klen, path);
}

/* Remembers every directory of a watched tree (while the cache has room), so that events
 * about them resolve even when they are removed before the event is read. Walks with a
 * work list of paths instead of recursion, so a deep tree cannot exhaust the stack. */
static void
s_cache_tree(wt_watch_t *w, const char *root)
{
    size_t n = 0, cap = 16;
    char **todo = vx_calloc(cap, sizeof *todo);
    todo[n++] = vx_strdup(root);
    while (n > 0) {
        char *dir = todo[--n];
        s_cache_dir(w, dir);
        DIR *d = w->cache_n < WT_CACHE_MAX ? opendir(dir) : NULL;
        const struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            char child[PATH_MAX];
            if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 ||
                strcmp(de->d_name, "..") == 0 ||
                (size_t)snprintf(child, sizeof child, "%s/%s", dir, de->d_name) >= sizeof child) {
                continue;
            }
            if (n == cap) {
                cap *= 2;
                todo = vx_realloc(todo, cap * sizeof *todo);
            }
            todo[n++] = vx_strdup(child);
        }
        if (d) {
            closedir(d);
        }
        free(dir);
    }
    free(todo);
}

/* The directory of a handle: opened now when it still exists, else as last seen. */
static bool
s_dir_path(wt_watch_t *w, const struct fanotify_event_info_fid *fid, char *dir, size_t len)
{
    const struct file_handle *fh = (const void *)fid->handle;
    unsigned char key[WT_KEY_MAX];
    size_t klen = s_key(&fid->fsid, fh, key);
    for (size_t i = 0; i < w->n_dirs; i++) {
        struct statfs sf;
        if (fstatfs(w->dir_fds[i], &sf) < 0 || memcmp(&sf.f_fsid, &fid->fsid, sizeof sf.f_fsid) != 0) {
            continue;
        }
        /* A copy: the call wants a writable handle, the event's is read-only. */
        struct {
            struct file_handle fh;
            unsigned char bytes[MAX_HANDLE_SZ];
        } copy;
        if (fh->handle_bytes > MAX_HANDLE_SZ) {
            break;
        }
        memcpy(&copy.fh, fh, sizeof *fh + fh->handle_bytes);
        int fd = open_by_handle_at(w->dir_fds[i], &copy.fh, O_PATH | O_CLOEXEC);
        if (fd < 0) {
            break;
        }
        char link[64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, dir, len - 1);
        close(fd);
        if (n <= 0) {
            break;
        }
        dir[n] = '\0';
        if (strstr(dir, " (deleted)")) {
            break;
        }
        s_cache_put(w, key, klen, dir);
        return true;
    }
    const struct wt_dir_cache *c = s_cache_find(w, key, klen);
    if (c) {
        snprintf(dir, len, "%s", c->path);
        return true;
    }
    return false;
}

/* The absolute path of a directory handle plus a name, when it lies in a watched tree.
 * Returns false for events elsewhere on the marked filesystems, and for directories gone
 * before they were ever seen. */
static bool
s_resolve(wt_watch_t *w, const struct fanotify_event_info_fid *fid, char *out, size_t outlen)
{
    /* The handle follows the fsid; the name follows the handle. */
    const struct file_handle *fh = (const void *)fid->handle;
    const char *name = (const char *)fh->f_handle + fh->handle_bytes;
    char dir[PATH_MAX];
    if (!s_dir_path(w, fid, dir, sizeof dir)) {
        return false;
    }
    if (strcmp(name, ".") == 0 || !name[0]) {
        snprintf(out, outlen, "%s", dir);
    } else if ((size_t)snprintf(out, outlen, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "",
                                name) >= outlen) {
        return false;
    }
    for (size_t j = 0; j < w->n_dirs; j++) {
        size_t len = strlen(w->dirs[j]);
        if (strncmp(out, w->dirs[j], len) == 0 && (out[len] == '/' || out[len] == '\0')) {
            return true;
        }
    }
    return false;
}

/* After a directory moved: cached paths at or below old now start with new_path. */
static void
s_cache_move(wt_watch_t *w, const char *old, const char *new_path)
{
    size_t n = strlen(old);
    for (size_t i = 0; i < w->cache_n; i++) {
        const char *p = w->cache[i].path;
        if (strncmp(p, old, n) == 0 && (p[n] == '\0' || p[n] == '/')) {
            char moved[PATH_MAX];
            snprintf(moved, sizeof moved, "%s%s", new_path, p + n);
            free(w->cache[i].path);
            w->cache[i].path = vx_strdup(moved);
        }
    }
}

/* m: the event's header (an aligned copy); raw: the event as read, info records included. */
static void
s_event(wt_watch_t *w, const struct fanotify_event_metadata *m, const char *raw)
{
    char path[PATH_MAX] = "", old_path[PATH_MAX] = "", new_path[PATH_MAX] = "";
    bool have = false, have_old = false, have_new = false;
    const char *p = raw + m->metadata_len, *end = raw + m->event_len;
    while (p + sizeof(struct fanotify_event_info_header) <= end) {
        const struct fanotify_event_info_header *h = (const void *)p;
        if (h->len < sizeof *h || p + h->len > end) {
            break;
        }
        const struct fanotify_event_info_fid *fid = (const void *)p;
        if (h->len >= sizeof *fid + sizeof(struct file_handle)) {
            if (h->info_type == FAN_EVENT_INFO_TYPE_DFID_NAME) {
                have = s_resolve(w, fid, path, sizeof path);
            } else if (h->info_type == FAN_EVENT_INFO_TYPE_OLD_DFID_NAME) {
                have_old = s_resolve(w, fid, old_path, sizeof old_path);
            } else if (h->info_type == FAN_EVENT_INFO_TYPE_NEW_DFID_NAME) {
                have_new = s_resolve(w, fid, new_path, sizeof new_path);
            }
        }
        p += h->len;
    }
    uint32_t pid = m->pid > 0 ? (uint32_t)m->pid : 0;
    bool isdir = (m->mask & FAN_ONDIR) != 0;
    struct stat st;
    if (m->mask & FAN_RENAME) {
        bool ok = have_new && lstat(new_path, &st) == 0;
        if (have_old && have_new) {
            wt_emit(w, VEXFS_EV_RENAME, old_path, new_path, ok ? &st : NULL, pid);
            if (isdir) {
                s_cache_move(w, old_path, new_path);
            }
        } else if (have_old) {
            wt_emit(w, isdir ? VEXFS_EV_RMDIR : VEXFS_EV_UNLINK, old_path, NULL, NULL, pid);
        } else if (have_new) {
            wt_emit(w, isdir ? VEXFS_EV_MKDIR : VEXFS_EV_CREATE, new_path, NULL,
                    ok ? &st : NULL, pid);
        }
    }
    if (!have) {
        return;
    }
    bool ok = lstat(path, &st) == 0;
    /* Bits of one object may be merged into one event: report them in the order they
     * can happen. */
    if (m->mask & FAN_CREATE) {
        wt_emit(w, isdir ? VEXFS_EV_MKDIR : VEXFS_EV_CREATE, path, NULL, ok ? &st : NULL, pid);
        if (isdir && ok) {
            s_cache_dir(w, path);
        }
    }
    if (m->mask & FAN_CLOSE_WRITE) {
        wt_emit(w, VEXFS_EV_WRITE, path, NULL, ok ? &st : NULL, pid);
    }
    if (m->mask & FAN_ATTRIB) {
        wt_emit(w, VEXFS_EV_SETATTR, path, NULL, ok ? &st : NULL, pid);
    }
    if (m->mask & FAN_DELETE) {
        wt_emit(w, isdir ? VEXFS_EV_RMDIR : VEXFS_EV_UNLINK, path, NULL, NULL, pid);
    }
}

int
wt_fanotify_start(wt_watch_t *w, char *err, size_t errlen)
{
    w->fd = fanotify_init(FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME | FAN_NONBLOCK | FAN_CLOEXEC,
                          O_RDONLY | O_LARGEFILE);
    if (w->fd < 0) {
        int e = errno;
        snprintf(err, errlen, "fanotify_init: %s", strerror(e));
        return -e;
    }
    w->dir_fds = vx_calloc(w->n_dirs, sizeof *w->dir_fds);
    w->cache = vx_calloc(WT_CACHE_MAX, sizeof *w->cache);
    for (size_t i = 0; i < w->n_dirs; i++) {
        w->dir_fds[i] = -1;
    }
    for (size_t i = 0; i < w->n_dirs; i++) {
        w->dir_fds[i] = open(w->dirs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (w->dir_fds[i] < 0 ||
            fanotify_mark(w->fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, S_MASK, AT_FDCWD,
                          w->dirs[i]) < 0) {
            int e = errno;
            snprintf(err, errlen, "fanotify_mark %s: %s", w->dirs[i], strerror(e));
            return -e;
        }
    }
    for (size_t i = 0; i < w->n_dirs; i++) {
        s_cache_tree(w, w->dirs[i]);
    }
    vx_info("WT-FANOTIFY", "watching %zu trees with fanotify (filesystem marks)", w->n_dirs);
    return 0;
}

int
wt_fanotify_handle(wt_watch_t *w)
{
    char buf[64 * 1024] __attribute__((aligned(8)));
    for (;;) {
        ssize_t n = read(w->fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                return 0;
            }
            return -errno;
        }
        /* Events are padded to 4 bytes only, while the metadata holds a 64-bit mask: each
         * header is copied out before it is read. */
        size_t off = 0;
        while (off + FAN_EVENT_METADATA_LEN <= (size_t)n) {
            struct fanotify_event_metadata m;
            memcpy(&m, buf + off, sizeof m);
            if (m.event_len < FAN_EVENT_METADATA_LEN || m.metadata_len < FAN_EVENT_METADATA_LEN ||
                m.metadata_len > m.event_len || off + m.event_len > (size_t)n) {
                vx_error("WT-FANOTIFY-FRAME", "malformed fanotify event: %u bytes",
                         (unsigned)m.event_len);
                return -EPROTO;
            }
            if (m.vers != FANOTIFY_METADATA_VERSION) {
                vx_error("WT-FANOTIFY-VERSION", "fanotify metadata version %u, expected %u",
                         (unsigned)m.vers, (unsigned)FANOTIFY_METADATA_VERSION);
                return -EPROTO;
            }
            if (m.fd >= 0) {
                close(m.fd);
            }
            if (m.mask & FAN_Q_OVERFLOW) {
                vx_warn("WT-FANOTIFY-OVERFLOW", "fanotify queue overflow: events were lost");
            } else {
                s_event(w, &m, buf + off);
            }
            off += m.event_len;
        }
    }
}

void
wt_fanotify_fini(wt_watch_t *w)
{
    for (size_t i = 0; w->dir_fds && i < w->n_dirs; i++) {
        if (w->dir_fds[i] >= 0) {
            close(w->dir_fds[i]);
        }
    }
    free(w->dir_fds);
    w->dir_fds = NULL;
    for (size_t i = 0; i < w->cache_n; i++) {
        free(w->cache[i].path);
    }
    free(w->cache);
    w->cache = NULL;
    w->cache_n = 0;
    if (w->fd >= 0) {
        close(w->fd);
        w->fd = -1;
    }
}
