/* SPDX-License-Identifier: Apache-2.0 */
/* The passthrough operations and the events they emit. */
#include "fu_fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "vx_log.h"
#include "vx_mem.h"

/* An open file: its descriptor, the event path at open, and the write and read bursts not
 * yet reported. */
struct s_file {
    int fd;
    int flags;
    char *path;
    uint64_t w_bytes, r_bytes;
    int64_t w_off, r_off;
    uint32_t w_count, r_count;
};

static struct fu_fs *
s_fs(void)
{
    return fuse_get_context()->private_data;
}

static struct s_file *
s_file(const struct fuse_file_info *fi)
{
    /* fh is the library's 64-bit slot for a handle: it holds our pointer. */
    return (struct s_file *)(uintptr_t)fi->fh; // NOLINT(performance-no-int-to-ptr)
}

/* The path relative to the source directory ("." for the root). */
static const char *
s_rel(const char *path)
{
    return path[1] ? path + 1 : ".";
}

/* The path users see: mount point + path. */
static void
s_abs(const struct fu_fs *fs, const char *path, char *out, size_t len)
{
    snprintf(out, len, "%s%s", fs->mount_abs, path[1] ? path : "");
}

/* Builds an operation on path (and path2) with the caller's identity. Returns 0 when op is
 * ready to be adjusted and pushed. */
static int
s_op(struct fu_op *op, unsigned kind, const char *path, const char *path2, const struct stat *st)
{
    struct fu_fs *fs = s_fs();
    const struct fuse_context *ctx = fuse_get_context();
    char a[PATH_MAX + 8], b[PATH_MAX + 8];
    s_abs(fs, path, a, sizeof a);
    if (path2) {
        s_abs(fs, path2, b, sizeof b);
    }
    int rc = fu_op_init(op, kind, a, path2 ? b : NULL, st, (uint32_t)ctx->pid,
                        (uint32_t)ctx->uid, (uint32_t)ctx->gid);
    if (rc < 0) {
        vx_warn("FU-PATH", "no event for %s: path too long", path);
    }
    return rc;
}

static void
s_push(struct fu_op *op)
{
    fu_emit_push(s_fs()->emit, op);
}

/* Emits an event of kind on path with the file's state now (st may be NULL). */
static void
s_emit(unsigned kind, const char *path, const char *path2, const struct stat *st)
{
    struct fu_op op;
    if (s_op(&op, kind, path, path2, st) == 0) {
        s_push(&op);
    }
}

/* Reports the write and read bursts of an open file (at flush and release). */
static void
s_report_bursts(const char *path, struct s_file *f)
{
    struct stat st;
    bool have = fstat(f->fd, &st) == 0;
    const char *p = path ? path : f->path;
    struct fu_op op;
    if (f->w_count && s_op(&op, VEXFS_EV_WRITE, p, NULL, have ? &st : NULL) == 0) {
        op.h.size = f->w_bytes;
        op.h.offset = f->w_off;
        op.h.count = f->w_count;
        op.h.flags = (uint32_t)f->flags;
        s_push(&op);
    }
    if (f->r_count && s_fs()->capture_reads &&
        s_op(&op, VEXFS_EV_READ, p, NULL, have ? &st : NULL) == 0) {
        op.h.size = f->r_bytes;
        op.h.offset = f->r_off;
        op.h.count = f->r_count;
        op.h.flags = (uint32_t)f->flags;
        s_push(&op);
    }
    f->w_count = f->r_count = 0;
    f->w_bytes = f->r_bytes = 0;
}

/* ---- operations ----------------------------------------------------------------------- */

static void *
cb_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
    (void)conn;
    /* Inode numbers of the source, no caching: the source may change underneath, and an
     * unlinked open file must not be renamed to a hidden name (that would be an event). */
    cfg->use_ino = 1;
    cfg->hard_remove = 1;
    cfg->nullpath_ok = 1;
    cfg->entry_timeout = 0;
    cfg->attr_timeout = 0;
    cfg->negative_timeout = 0;
    return fuse_get_context()->private_data;
}

static int
cb_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
    int rc = fi ? fstat(s_file(fi)->fd, st)
                : fstatat(s_fs()->src_fd, s_rel(path), st, AT_SYMLINK_NOFOLLOW);
    return rc < 0 ? -errno : 0;
}

static int
cb_readlink(const char *path, char *buf, size_t size)
{
    if (size == 0) {
        return -EINVAL;
    }
    ssize_t n = readlinkat(s_fs()->src_fd, s_rel(path), buf, size - 1);
    if (n < 0) {
        return -errno;
    }
    buf[n] = '\0';
    return 0;
}

/* A daemon running as root creates files for the caller: they belong to the caller, as
 * they would on the source filesystem itself. */
static void
s_give_to_caller(int dirfd, const char *rel, int fd)
{
    const struct fuse_context *ctx = fuse_get_context();
    if (geteuid() != 0 || (ctx->uid == 0 && ctx->gid == 0)) {
        return;
    }
    int rc = fd >= 0 ? fchown(fd, ctx->uid, ctx->gid)
                     : fchownat(dirfd, rel, ctx->uid, ctx->gid, AT_SYMLINK_NOFOLLOW);
    if (rc < 0) {
        vx_warn("FU-OWNER", "cannot give %s to uid %u: %s", rel, (unsigned)ctx->uid,
                strerror(errno));
    }
}

static int
cb_mkdir(const char *path, mode_t mode)
{
    struct fu_fs *fs = s_fs();
    if (mkdirat(fs->src_fd, s_rel(path), mode) < 0) {
        return -errno;
    }
    s_give_to_caller(fs->src_fd, s_rel(path), -1);
    struct stat st;
    bool have = fstatat(fs->src_fd, s_rel(path), &st, AT_SYMLINK_NOFOLLOW) == 0;
    s_emit(VEXFS_EV_MKDIR, path, NULL, have ? &st : NULL);
    return 0;
}

static int
s_remove(const char *path, bool dir)
{
    struct fu_fs *fs = s_fs();
    struct stat st;
    bool have = fstatat(fs->src_fd, s_rel(path), &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (unlinkat(fs->src_fd, s_rel(path), dir ? AT_REMOVEDIR : 0) < 0) {
        return -errno;
    }
    if (have && !dir) {
        st.st_size = 0; /* the name is gone; what remains is no longer reachable */
    }
    s_emit(dir ? VEXFS_EV_RMDIR : VEXFS_EV_UNLINK, path, NULL, have ? &st : NULL);
    return 0;
}

static int
cb_unlink(const char *path)
{
    return s_remove(path, false);
}

static int
cb_rmdir(const char *path)
{
    return s_remove(path, true);
}

static int
cb_symlink(const char *target, const char *path)
{
    if (symlinkat(target, s_fs()->src_fd, s_rel(path)) < 0) {
        return -errno;
    }
    s_give_to_caller(s_fs()->src_fd, s_rel(path), -1);
    return 0;
}

static int
cb_link(const char *from, const char *to)
{
    struct fu_fs *fs = s_fs();
    return linkat(fs->src_fd, s_rel(from), fs->src_fd, s_rel(to), 0) < 0 ? -errno : 0;
}

static int
cb_rename(const char *from, const char *to, unsigned int flags)
{
    struct fu_fs *fs = s_fs();
    if (renameat2(fs->src_fd, s_rel(from), fs->src_fd, s_rel(to), flags) < 0) {
        return -errno;
    }
    struct stat st;
    bool have = fstatat(fs->src_fd, s_rel(to), &st, AT_SYMLINK_NOFOLLOW) == 0;
    struct fu_op op;
    if (s_op(&op, VEXFS_EV_RENAME, from, to, have ? &st : NULL) == 0) {
        op.h.flags = flags;
        s_push(&op);
    }
    return 0;
}

/* Emits the setattr event for path after a change of the attributes in mask. */
static void
s_setattr_event(const char *path, struct fuse_file_info *fi, uint32_t mask, uid_t uid, gid_t gid)
{
    struct stat st;
    bool have = cb_getattr(path ? path : "/", &st, fi) == 0;
    const char *p = path ? path : (fi ? s_file(fi)->path : NULL);
    struct fu_op op;
    if (!p || s_op(&op, VEXFS_EV_SETATTR, p, NULL, have ? &st : NULL) < 0) {
        return;
    }
    op.h.attr_mask = mask;
    op.h.new_uid = (uint32_t)uid;
    op.h.new_gid = (uint32_t)gid;
    if (mask & VEXFS_EV_ATTR_SIZE) {
        op.h.size = have ? (uint64_t)st.st_size : 0;
    }
    s_push(&op);
}

static int
cb_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    int rc = fi ? fchmod(s_file(fi)->fd, mode) : fchmodat(s_fs()->src_fd, s_rel(path), mode, 0);
    if (rc < 0) {
        return -errno;
    }
    s_setattr_event(path, fi, VEXFS_EV_ATTR_MODE, 0, 0);
    return 0;
}

static int
cb_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
    int rc = fi ? fchown(s_file(fi)->fd, uid, gid)
                : fchownat(s_fs()->src_fd, s_rel(path), uid, gid, AT_SYMLINK_NOFOLLOW);
    if (rc < 0) {
        return -errno;
    }
    uint32_t mask = (uid != (uid_t)-1 ? VEXFS_EV_ATTR_UID : 0) |
                    (gid != (gid_t)-1 ? VEXFS_EV_ATTR_GID : 0);
    s_setattr_event(path, fi, mask, uid == (uid_t)-1 ? 0 : uid, gid == (gid_t)-1 ? 0 : gid);
    return 0;
}

static int
cb_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
    int rc;
    if (fi) {
        rc = ftruncate(s_file(fi)->fd, size);
    } else {
        int fd = openat(s_fs()->src_fd, s_rel(path), O_WRONLY | O_CLOEXEC);
        if (fd < 0) {
            return -errno;
        }
        rc = ftruncate(fd, size);
        int saved = errno;
        close(fd);
        errno = saved;
    }
    if (rc < 0) {
        return -errno;
    }
    s_setattr_event(path, fi, VEXFS_EV_ATTR_SIZE, 0, 0);
    return 0;
}

static int
cb_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
    int rc = fi ? futimens(s_file(fi)->fd, tv)
                : utimensat(s_fs()->src_fd, s_rel(path), tv, AT_SYMLINK_NOFOLLOW);
    return rc < 0 ? -errno : 0;
}

static struct s_file *
s_file_new(int fd, int flags, const char *path)
{
    struct s_file *f = vx_calloc(1, sizeof *f);
    f->fd = fd;
    f->flags = flags;
    f->path = vx_strdup(path);
    return f;
}

static int
cb_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    int fd = openat(s_fs()->src_fd, s_rel(path), fi->flags | O_CREAT | O_CLOEXEC, mode);
    if (fd < 0) {
        return -errno;
    }
    s_give_to_caller(-1, s_rel(path), fd);
    fi->fh = (uint64_t)(uintptr_t)s_file_new(fd, fi->flags, path);
    struct stat st;
    bool have = fstat(fd, &st) == 0;
    struct fu_op op;
    if (s_op(&op, VEXFS_EV_CREATE, path, NULL, have ? &st : NULL) == 0) {
        op.h.flags = (uint32_t)fi->flags;
        s_push(&op);
    }
    return 0;
}

static int
cb_open(const char *path, struct fuse_file_info *fi)
{
    int fd = openat(s_fs()->src_fd, s_rel(path), (fi->flags & ~O_CREAT) | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    fi->fh = (uint64_t)(uintptr_t)s_file_new(fd, fi->flags, path);
    if ((fi->flags & O_ACCMODE) != O_RDONLY) {
        struct stat st;
        bool have = fstat(fd, &st) == 0;
        struct fu_op op;
        if (s_op(&op, VEXFS_EV_OPEN_WRITE, path, NULL, have ? &st : NULL) == 0) {
            op.h.flags = (uint32_t)fi->flags;
            s_push(&op);
        }
    }
    return 0;
}

static int
cb_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)path;
    struct s_file *f = s_file(fi);
    ssize_t n = pread(f->fd, buf, size, off);
    if (n < 0) {
        return -errno;
    }
    if (f->r_count++ == 0) {
        f->r_off = off;
    }
    f->r_bytes += (uint64_t)n;
    return (int)n;
}

static int
cb_write(const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)path;
    struct s_file *f = s_file(fi);
    ssize_t n = pwrite(f->fd, buf, size, off);
    if (n < 0) {
        return -errno;
    }
    if (f->w_count++ == 0) {
        f->w_off = off;
    }
    f->w_bytes += (uint64_t)n;
    return (int)n;
}

static int
cb_statfs(const char *path, struct statvfs *st)
{
    (void)path;
    return fstatvfs(s_fs()->src_fd, st) < 0 ? -errno : 0;
}

static int
cb_flush(const char *path, struct fuse_file_info *fi)
{
    s_report_bursts(path, s_file(fi));
    return 0;
}

static int
cb_release(const char *path, struct fuse_file_info *fi)
{
    struct s_file *f = s_file(fi);
    s_report_bursts(path, f);
    close(f->fd);
    free(f->path);
    free(f);
    return 0;
}

static int
cb_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
    (void)path;
    int fd = s_file(fi)->fd;
    return (datasync ? fdatasync(fd) : fsync(fd)) < 0 ? -errno : 0;
}

static int
cb_opendir(const char *path, struct fuse_file_info *fi)
{
    int fd = openat(s_fs()->src_fd, s_rel(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        int saved = errno;
        close(fd);
        return -saved;
    }
    fi->fh = (uint64_t)(uintptr_t)d;
    return 0;
}

static int
cb_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
           struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
    (void)path;
    (void)off;
    (void)flags;
    DIR *d = (DIR *)(uintptr_t)fi->fh; // NOLINT(performance-no-int-to-ptr)
    rewinddir(d);
    const struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        struct stat st = {.st_ino = de->d_ino, .st_mode = (mode_t)DTTOIF(de->d_type)};
        if (fill(buf, de->d_name, &st, 0, 0)) {
            break;
        }
    }
    return 0;
}

static int
cb_releasedir(const char *path, struct fuse_file_info *fi)
{
    (void)path;
    closedir((DIR *)(uintptr_t)fi->fh); // NOLINT(performance-no-int-to-ptr)
    return 0;
}

const struct fuse_operations fu_fs_ops = {
    .init = cb_init,
    .getattr = cb_getattr,
    .readlink = cb_readlink,
    .mkdir = cb_mkdir,
    .unlink = cb_unlink,
    .rmdir = cb_rmdir,
    .symlink = cb_symlink,
    .link = cb_link,
    .rename = cb_rename,
    .chmod = cb_chmod,
    .chown = cb_chown,
    .truncate = cb_truncate,
    .utimens = cb_utimens,
    .create = cb_create,
    .open = cb_open,
    .read = cb_read,
    .write = cb_write,
    .statfs = cb_statfs,
    .flush = cb_flush,
    .release = cb_release,
    .fsync = cb_fsync,
    .opendir = cb_opendir,
    .readdir = cb_readdir,
    .releasedir = cb_releasedir,
};
