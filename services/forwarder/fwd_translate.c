/* SPDX-License-Identifier: Apache-2.0 */
/* Kernel records to semantic events: framing, checks and the field mapping. */
#include "fwd_translate.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define S_PREFIX_LEN 12 /* magic, version, header_len, record_len: enough to frame */

static const struct {
    const char *name;
    Vexfs__V1__EventType type;
} s_ops[VEXFS_EV_OP_MAX + 1] = {
    [VEXFS_EV_CREATE] = {"create", VEXFS__V1__EVENT_TYPE__FILESYSTEM_CREATE},
    [VEXFS_EV_OPEN_WRITE] = {"open_write", VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE},
    [VEXFS_EV_WRITE] = {"write", VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE},
    [VEXFS_EV_READ] = {"read", VEXFS__V1__EVENT_TYPE__FILESYSTEM_READ},
    [VEXFS_EV_UNLINK] = {"unlink", VEXFS__V1__EVENT_TYPE__FILESYSTEM_DELETE},
    [VEXFS_EV_RENAME] = {"rename", VEXFS__V1__EVENT_TYPE__FILESYSTEM_RENAME},
    [VEXFS_EV_MKDIR] = {"mkdir", VEXFS__V1__EVENT_TYPE__FILESYSTEM_MKDIR},
    [VEXFS_EV_RMDIR] = {"rmdir", VEXFS__V1__EVENT_TYPE__FILESYSTEM_RMDIR},
    [VEXFS_EV_SETATTR] = {"setattr", VEXFS__V1__EVENT_TYPE__FILESYSTEM_CHMOD},
};

const char *
fwd_op_name(unsigned op)
{
    return op >= 1 && op <= VEXFS_EV_OP_MAX ? s_ops[op].name : NULL;
}

/* Bytes to skip after corruption at buf[0]: up to the next place a record could start (an
 * aligned copy of the magic is not required: a reader may have lost any number of bytes). */
static size_t
s_resync(const uint8_t *buf, size_t len)
{
    uint32_t magic = VEXFS_EV_MAGIC;
    for (size_t i = 1; i + sizeof magic <= len; i++) {
        if (memcmp(buf + i, &magic, sizeof magic) == 0) {
            return i;
        }
    }
    /* No magic: keep a tail that could be the start of one. */
    return len > sizeof magic ? len - (sizeof magic - 1) : 1;
}

static int
s_reject(const uint8_t *buf, size_t len, size_t *used, const char **reason, const char *why)
{
    *reason = why;
    *used = s_resync(buf, len);
    return -EPROTO;
}

int
fwd_record_parse(const uint8_t *buf, size_t len, struct fwd_record *out, size_t *used,
                 const char **reason)
{
    uint32_t magic = 0, record_len = 0;
    uint16_t version = 0, header_len = 0;
    *used = 0;
    *reason = NULL;
    if (len < sizeof magic) {
        return -EAGAIN;
    }
    memcpy(&magic, buf, sizeof magic);
    if (magic != VEXFS_EV_MAGIC) {
        return s_reject(buf, len, used, reason, FWD_R_CORRUPT);
    }
    if (len < S_PREFIX_LEN) {
        return -EAGAIN;
    }
    memcpy(&version, buf + 4, sizeof version);
    memcpy(&header_len, buf + 6, sizeof header_len);
    memcpy(&record_len, buf + 8, sizeof record_len);
    if (record_len < S_PREFIX_LEN || record_len > FWD_RECORD_MAX ||
        record_len % VEXFS_EV_ALIGN != 0 || header_len < S_PREFIX_LEN ||
        header_len > record_len) {
        return s_reject(buf, len, used, reason, FWD_R_CORRUPT);
    }
    if (version != VEXFS_EV_VERSION) {
        /* Framed by record_len, which every version keeps: skip it whole. */
        if (len < record_len) {
            return -EAGAIN;
        }
        *used = record_len;
        *reason = FWD_R_VERSION;
        return -EPROTO;
    }
    if (header_len < sizeof out->h) {
        return s_reject(buf, len, used, reason, FWD_R_CORRUPT);
    }
    if (len < record_len) {
        return -EAGAIN;
    }
    memcpy(&out->h, buf, sizeof out->h);
    const struct vexfs_event_record *h = &out->h;
    size_t need = (size_t)header_len + h->path_len + 1 + h->path2_len + 1;
    if (need > record_len) {
        /* The paths run past the end the record claims. */
        return s_reject(buf, len, used, reason, FWD_R_TRUNCATED);
    }
    const char *p = (const char *)buf + header_len;
    const char *p2 = p + h->path_len + 1;
    if (p[h->path_len] != '\0' || memchr(p, '\0', h->path_len) ||
        p2[h->path2_len] != '\0' || memchr(p2, '\0', h->path2_len)) {
        return s_reject(buf, len, used, reason, FWD_R_CORRUPT);
    }
    *used = record_len;
    if (!fwd_op_name(h->op)) {
        *reason = FWD_R_OP;
        return -EPROTO;
    }
    out->path = p;
    out->path2 = h->op == VEXFS_EV_RENAME ? p2 : NULL;
    return 0;
}

/* ---- translation ---------------------------------------------------------------------- */

struct s_kv {
    const char *key;
    char *value;
};

#define S_MAX_CONTENT 12
#define S_MAX_META 7

static char *
s_fmt(vx_arena_t *a, const char *fmt, uint64_t v)
{
    char tmp[32];
    /* fmt is one of this file's literals, each with one 64-bit conversion. */
    // cppcheck-suppress wrongPrintfScanfArgNum
    int n = snprintf(tmp, sizeof tmp, fmt, v);
    return vx_arena_strndup(a, tmp, (size_t)n);
}

static bool
s_path_ok(const char *p, size_t len)
{
    return vx_path_canonical(p, len) && vx_utf8_valid(p, len);
}

/* One kernel record becomes one event: the record's fixed fields are all turned into
 * content entries here, in one place, so the kernel's layout and the event's field names
 * cannot drift apart between producers (vexfs-fuse translates through this too, by
 * fu_op_translate). A record that cannot be represented is refused with its reason, never
 * half-built. */
int
fwd_record_translate(const struct fwd_record *r, vx_arena_t *a, vx_event_t **out,
                     const char **reason)
{
    const struct vexfs_event_record *h = &r->h;
    *reason = NULL;
    if (!fwd_op_name(h->op)) {
        *reason = FWD_R_OP;
        return -EPROTO;
    }
    if (!s_path_ok(r->path, h->path_len) || (r->path2 && !s_path_ok(r->path2, h->path2_len))) {
        *reason = FWD_R_PATH;
        return -EPROTO;
    }
    struct s_kv c[S_MAX_CONTENT], m[S_MAX_META];
    size_t nc = 0, nm = 0;
    c[nc++] = (struct s_kv){"operation", (char *)s_ops[h->op].name};
    c[nc++] = (struct s_kv){"inode", s_fmt(a, "%" PRIu64, h->ino)};
    c[nc++] = (struct s_kv){"size", s_fmt(a, "%" PRIu64, h->size)};
    c[nc++] = (struct s_kv){"offset", s_fmt(a, "%" PRId64, (uint64_t)h->offset)};
    c[nc++] = (struct s_kv){"file_size", s_fmt(a, "%" PRIu64, h->file_size)};
    c[nc++] = (struct s_kv){"mode", s_fmt(a, "0%" PRIo64, h->mode)};
    c[nc++] = (struct s_kv){"flags", s_fmt(a, "0x%" PRIx64, h->flags)};
    c[nc++] = (struct s_kv){"count", s_fmt(a, "%" PRIu64, h->count)};
    if (r->path2) {
        c[nc++] = (struct s_kv){"new_path", vx_arena_strndup(a, r->path2, h->path2_len)};
    }
    if (h->op == VEXFS_EV_SETATTR) {
        char attr[32] = "";
        size_t alen = 0;
        static const struct {
            uint32_t bit;
            const char *name;
        } bits[] = {{VEXFS_EV_ATTR_MODE, "mode"},
                    {VEXFS_EV_ATTR_UID, "uid"},
                    {VEXFS_EV_ATTR_GID, "gid"},
                    {VEXFS_EV_ATTR_SIZE, "size"}};
        for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++) {
            if (h->attr_mask & bits[i].bit) {
                alen += (size_t)snprintf(attr + alen, sizeof attr - alen, "%s%s",
                                         alen ? "," : "", bits[i].name);
            }
        }
        c[nc++] = (struct s_kv){"attr", vx_arena_strndup(a, attr, strnlen(attr, sizeof attr))};
        if (h->attr_mask & VEXFS_EV_ATTR_UID) {
            c[nc++] = (struct s_kv){"new_uid", s_fmt(a, "%" PRIu64, h->new_uid)};
        }
        if (h->attr_mask & VEXFS_EV_ATTR_GID) {
            c[nc++] = (struct s_kv){"new_gid", s_fmt(a, "%" PRIu64, h->new_gid)};
        }
    }
    char comm[sizeof h->comm + 1];
    memcpy(comm, h->comm, sizeof h->comm);
    comm[sizeof h->comm] = '\0';
    size_t clen = strlen(comm);
    if (!vx_utf8_valid(comm, clen)) {
        clen = 0; /* a task name is free-form bytes; an unreadable one is left out */
    }
    m[nm++] = (struct s_kv){"pid", s_fmt(a, "%" PRIu64, h->pid)};
    m[nm++] = (struct s_kv){"tgid", s_fmt(a, "%" PRIu64, h->tgid)};
    m[nm++] = (struct s_kv){"uid", s_fmt(a, "%" PRIu64, h->uid)};
    m[nm++] = (struct s_kv){"gid", s_fmt(a, "%" PRIu64, h->gid)};
    m[nm++] = (struct s_kv){"comm", vx_arena_strndup(a, comm, clen)};
    m[nm++] = (struct s_kv){"kernel_seq", s_fmt(a, "%" PRIu64, h->seq)};
    m[nm++] = (struct s_kv){"abi_version", s_fmt(a, "%" PRIu64, h->version)};

    vx_event_t *e = vx_arena_alloc(a, sizeof *e);
    char *path = vx_arena_strndup(a, r->path, h->path_len);
    Vexfs__V1__Event__ContentEntry **ce = vx_arena_alloc(a, nc * sizeof *ce);
    Vexfs__V1__Event__MetadataEntry **me = vx_arena_alloc(a, nm * sizeof *me);
    if (!e || !path || !ce || !me) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < nc; i++) {
        ce[i] = vx_arena_alloc(a, sizeof **ce);
        if (!ce[i] || !c[i].value) {
            return -ENOMEM;
        }
        vexfs__v1__event__content_entry__init(ce[i]);
        ce[i]->key = (char *)c[i].key;
        ce[i]->value = c[i].value;
    }
    for (size_t i = 0; i < nm; i++) {
        me[i] = vx_arena_alloc(a, sizeof **me);
        if (!me[i] || !m[i].value) {
            return -ENOMEM;
        }
        vexfs__v1__event__metadata_entry__init(me[i]);
        me[i]->key = (char *)m[i].key;
        me[i]->value = m[i].value;
    }
    vexfs__v1__event__init(e);
    e->type = s_ops[h->op].type;
    e->source = VEXFS__V1__BOUNDARY__KERNEL_MODULE;
    e->timestamp_ns = h->timestamp_ns > (uint64_t)INT64_MAX ? (uint64_t)INT64_MAX : h->timestamp_ns;
    e->path = path;
    e->content = ce;
    e->n_content = nc;
    e->metadata = me;
    e->n_metadata = nm;
    *out = e;
    return 0;
}
