/* SPDX-License-Identifier: Apache-2.0 */
/* Userspace operations in the kernel record shape, and their translation both ways. */
#include "fu_record.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../forwarder/fwd_translate.h"
#include "vx_clock.h"
#include "vx_mem.h"

/* The fourth of the whitespace-separated numbers at s (0 when malformed). */
static uint32_t
s_fourth(const char *s)
{
    unsigned long v = 0;
    for (int i = 0; i < 4; i++) {
        char *end = NULL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || end == s) {
            return 0;
        }
        s = end;
    }
    return (uint32_t)v;
}

/* The task name and thread group of pid from /proc/<pid>/status, and its uid and gid when
 * the caller did not know them (UINT32_MAX). Best effort: a process may already be gone,
 * then the name stays empty, tgid is pid and unknown ids are 0. */
static void
s_task(struct vexfs_event_record *h, uint32_t pid)
{
    char path[64], buf[1024];
    bool want_ids = h->uid == UINT32_MAX;
    h->tgid = pid;
    if (want_ids) {
        h->uid = h->gid = 0;
    }
    snprintf(path, sizeof path, "/proc/%" PRIu32 "/status", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) {
        return;
    }
    buf[n] = '\0';
    if (strncmp(buf, "Name:\t", 6) == 0) {
        size_t len = strcspn(buf + 6, "\n");
        if (len > sizeof h->comm) {
            len = sizeof h->comm;
        }
        memcpy(h->comm, buf + 6, len);
    }
    const char *t = strstr(buf, "\nTgid:\t");
    if (t) {
        h->tgid = (uint32_t)strtoul(t + 7, NULL, 10);
    }
    const char *u = strstr(buf, "\nUid:\t");
    const char *g = strstr(buf, "\nGid:\t");
    if (want_ids && u && g) {
        /* Real, effective, saved, filesystem: the filesystem id is the one checked. */
        h->uid = s_fourth(u + 6);
        h->gid = s_fourth(g + 6);
    }
}

int
fu_op_init(struct fu_op *op, unsigned kind, const char *path, const char *path2,
           const struct stat *st, uint32_t pid, uint32_t uid, uint32_t gid)
{
    memset(op, 0, sizeof *op);
    size_t len = strlen(path), len2 = path2 ? strlen(path2) : 0;
    if (len > VEXFS_EV_PATH_MAX || len2 > VEXFS_EV_PATH_MAX) {
        return -ENAMETOOLONG;
    }
    struct vexfs_event_record *h = &op->h;
    h->magic = VEXFS_EV_MAGIC;
    h->version = VEXFS_EV_VERSION;
    h->header_len = sizeof *h;
    h->op = (uint16_t)kind;
    h->path_len = (uint16_t)len;
    h->path2_len = (uint16_t)len2;
    h->timestamp_ns = vx_wall_ns();
    h->count = 1;
    h->pid = pid;
    h->uid = uid;
    h->gid = gid;
    if (pid) {
        s_task(h, pid);
    } else if (uid == UINT32_MAX) {
        h->uid = h->gid = 0;
    }
    if (st) {
        h->ino = (uint64_t)st->st_ino;
        h->mode = (uint32_t)st->st_mode;
        h->file_size = (uint64_t)st->st_size;
    }
    op->path = vx_strdup(path);
    op->path2 = path2 ? vx_strdup(path2) : NULL;
    return 0;
}

void
fu_op_fini(struct fu_op *op)
{
    free(op->path);
    free(op->path2);
    op->path = op->path2 = NULL;
}

int
fu_op_translate(const struct fu_op *op, int boundary, vx_arena_t *arena, vx_event_t **out,
                const char **reason)
{
    struct fwd_record r = {.h = op->h, .path = op->path, .path2 = op->path2};
    r.h.path_len = (uint16_t)strlen(op->path);
    r.h.path2_len = (uint16_t)(op->path2 ? strlen(op->path2) : 0);
    if (r.h.op != VEXFS_EV_RENAME) {
        r.path2 = NULL;
    } else if (!r.path2) {
        *reason = FWD_R_PATH;
        return -EPROTO;
    }
    int rc = fwd_record_translate(&r, arena, out, reason);
    if (rc < 0) {
        return rc;
    }
    (*out)->source = (Vexfs__V1__Boundary)boundary;
    return 0;
}

/* ---- the inverse ---------------------------------------------------------------------- */

static const char *
s_get(Vexfs__V1__Event__ContentEntry **kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(kv[i]->key, key) == 0) {
            return kv[i]->value;
        }
    }
    return NULL;
}

/* Parses a number in base (0: as written) into *out; false when absent or malformed. */
static bool
s_num(const char *s, int base, uint64_t *out)
{
    if (!s || !s[0]) {
        return false;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, base);
    if (errno || *end) {
        return false;
    }
    *out = v;
    return true;
}

/* The inverse of fu_op_translate: reads the content entries back into a record, field by
 * field, and refuses an event whose entries do not describe a record completely (a SETATTR
 * without attr, a rename without its new path), so a round trip either restores the record or
 * fails -- the property the FUSE record tests check. */
int
fu_op_from_event(const vx_event_t *e, struct fu_op *op)
{
    memset(op, 0, sizeof *op);
    Vexfs__V1__Event__ContentEntry **c = e->content;
    /* The map entry types of content and metadata have the same layout (key, value). */
    Vexfs__V1__Event__ContentEntry **m = (Vexfs__V1__Event__ContentEntry **)e->metadata;
    size_t nc = e->n_content, nm = e->n_metadata;
    const char *name = s_get(c, nc, "operation");
    unsigned kind = 0;
    for (unsigned k = 1; name && k <= VEXFS_EV_OP_MAX; k++) {
        if (strcmp(fwd_op_name(k), name) == 0) {
            kind = k;
        }
    }
    if (!kind || !e->path) {
        return -EPROTO;
    }
    struct vexfs_event_record *h = &op->h;
    uint64_t v[15] = {0};
    static const struct {
        bool meta;
        const char *key;
        int base;
    } f[] = {{false, "inode", 10}, {false, "size", 10},  {false, "offset", 10},
             {false, "file_size", 10}, {false, "mode", 8}, {false, "flags", 16},
             {false, "count", 10}, {true, "pid", 10},      {true, "tgid", 10},
             {true, "uid", 10},    {true, "gid", 10},      {true, "kernel_seq", 10},
             {true, "abi_version", 10}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        const char *s = f[i].meta ? s_get(m, nm, f[i].key) : s_get(c, nc, f[i].key);
        if (!s_num(s, f[i].base, &v[i])) {
            return -EPROTO;
        }
    }
    h->magic = VEXFS_EV_MAGIC;
    h->header_len = sizeof *h;
    h->op = (uint16_t)kind;
    h->ino = v[0];
    h->size = v[1];
    h->offset = (int64_t)v[2];
    h->file_size = v[3];
    h->mode = (uint32_t)v[4];
    h->flags = (uint32_t)v[5];
    h->count = (uint32_t)v[6];
    h->pid = (uint32_t)v[7];
    h->tgid = (uint32_t)v[8];
    h->uid = (uint32_t)v[9];
    h->gid = (uint32_t)v[10];
    h->seq = v[11];
    h->version = (uint16_t)v[12];
    h->timestamp_ns = e->timestamp_ns;
    const char *comm = s_get(m, nm, "comm");
    if (!comm || strlen(comm) > sizeof h->comm) {
        return -EPROTO;
    }
    memcpy(h->comm, comm, strlen(comm));
    if (kind == VEXFS_EV_SETATTR) {
        const char *attr = s_get(c, nc, "attr");
        if (!attr) {
            return -EPROTO;
        }
        h->attr_mask = (strstr(attr, "mode") ? VEXFS_EV_ATTR_MODE : 0) |
                       (strstr(attr, "uid") ? VEXFS_EV_ATTR_UID : 0) |
                       (strstr(attr, "gid") ? VEXFS_EV_ATTR_GID : 0) |
                       (strstr(attr, "size") ? VEXFS_EV_ATTR_SIZE : 0);
        uint64_t id = 0;
        if ((h->attr_mask & VEXFS_EV_ATTR_UID) && s_num(s_get(c, nc, "new_uid"), 10, &id)) {
            h->new_uid = (uint32_t)id;
        }
        if ((h->attr_mask & VEXFS_EV_ATTR_GID) && s_num(s_get(c, nc, "new_gid"), 10, &id)) {
            h->new_gid = (uint32_t)id;
        }
    }
    const char *p2 = s_get(c, nc, "new_path");
    if (kind == VEXFS_EV_RENAME && !p2) {
        return -EPROTO;
    }
    op->path = vx_strdup(e->path);
    op->path2 = kind == VEXFS_EV_RENAME ? vx_strdup(p2) : NULL;
    h->path_len = (uint16_t)strlen(op->path);
    h->path2_len = (uint16_t)(op->path2 ? strlen(op->path2) : 0);
    return 0;
}
