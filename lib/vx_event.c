/* SPDX-License-Identifier: Apache-2.0 */
/* Event names, ids, hashing, validation and the JSON form. */
#include "vx_event.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "vx_clock.h"
#include "vx_wire.h"

static const char *const s_type_names[] = {
    [VEXFS__V1__EVENT_TYPE__EVENT_TYPE_UNSPECIFIED] = NULL,
    [VEXFS__V1__EVENT_TYPE__FILESYSTEM_CREATE] = "filesystem_create",
    [VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE] = "filesystem_write",
    [VEXFS__V1__EVENT_TYPE__FILESYSTEM_READ] = "filesystem_read",
    [VEXFS__V1__EVENT_TYPE__FILESYSTEM_DELETE] = "filesystem_delete",
    [VEXFS__V1__EVENT_TYPE__FILESYSTEM_RENAME] = "filesystem_rename",
    [VEXFS__V1__EVENT_TYPE__FILESYSTEM_CHMOD] = "filesystem_chmod",
    [VEXFS__V1__EVENT_TYPE__FILESYSTEM_MKDIR] = "filesystem_mkdir",
    [VEXFS__V1__EVENT_TYPE__FILESYSTEM_RMDIR] = "filesystem_rmdir",
    [VEXFS__V1__EVENT_TYPE__USER_ACTION] = "user_action",
    [VEXFS__V1__EVENT_TYPE__SYSTEM] = "system",
    [VEXFS__V1__EVENT_TYPE__GRAPH_NODE_CREATE] = "graph_node_create",
    [VEXFS__V1__EVENT_TYPE__GRAPH_NODE_UPDATE] = "graph_node_update",
    [VEXFS__V1__EVENT_TYPE__GRAPH_NODE_DELETE] = "graph_node_delete",
    [VEXFS__V1__EVENT_TYPE__GRAPH_EDGE_CREATE] = "graph_edge_create",
    [VEXFS__V1__EVENT_TYPE__GRAPH_EDGE_DELETE] = "graph_edge_delete",
    [VEXFS__V1__EVENT_TYPE__VECTOR_INSERT] = "vector_insert",
    [VEXFS__V1__EVENT_TYPE__VECTOR_UPDATE] = "vector_update",
    [VEXFS__V1__EVENT_TYPE__VECTOR_DELETE] = "vector_delete",
    [VEXFS__V1__EVENT_TYPE__VECTOR_SEARCH] = "vector_search",
    [VEXFS__V1__EVENT_TYPE__CUSTOM] = "custom",
};
#define S_N_TYPES ((int)(sizeof s_type_names / sizeof s_type_names[0]))

static const char *const s_boundary_names[] = {
    [VEXFS__V1__BOUNDARY__BOUNDARY_UNSPECIFIED] = NULL,
    [VEXFS__V1__BOUNDARY__KERNEL_MODULE] = "kernel_module",
    [VEXFS__V1__BOUNDARY__FUSE] = "fuse",
    [VEXFS__V1__BOUNDARY__USERSPACE_API] = "userspace_api",
    [VEXFS__V1__BOUNDARY__GRAPH] = "graph",
    [VEXFS__V1__BOUNDARY__VECTOR] = "vector",
    [VEXFS__V1__BOUNDARY__ANALYTICS] = "analytics",
    [VEXFS__V1__BOUNDARY__AUTOMATION] = "automation",
    [VEXFS__V1__BOUNDARY__COORDINATOR] = "coordinator",
};
#define S_N_BOUNDARIES ((int)(sizeof s_boundary_names / sizeof s_boundary_names[0]))

const char *
vx_event_type_name(int type)
{
    return type > 0 && type < S_N_TYPES ? s_type_names[type] : NULL;
}

int
vx_event_type_parse(const char *name, int *out)
{
    for (int i = 1; i < S_N_TYPES; i++) {
        if (strcmp(s_type_names[i], name) == 0) {
            *out = i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *
vx_boundary_name(int boundary)
{
    return boundary > 0 && boundary < S_N_BOUNDARIES ? s_boundary_names[boundary] : NULL;
}

int
vx_boundary_parse(const char *name, int *out)
{
    for (int i = 1; i < S_N_BOUNDARIES; i++) {
        if (strcmp(s_boundary_names[i], name) == 0) {
            *out = i;
            return 0;
        }
    }
    return -EINVAL;
}

bool
vx_event_type_is_filesystem(int type)
{
    return type >= VEXFS__V1__EVENT_TYPE__FILESYSTEM_CREATE &&
           type <= VEXFS__V1__EVENT_TYPE__FILESYSTEM_RMDIR;
}

/* ---- random ids ------------------------------------------------------------------------ */

static _Thread_local uint64_t s_rng[2];

static uint64_t
s_rand64(void)
{
    if (s_rng[0] == 0 && s_rng[1] == 0) {
        if (getrandom(s_rng, sizeof s_rng, 0) != (ssize_t)sizeof s_rng) {
            s_rng[0] = vx_mono_ns() | 1;
            s_rng[1] = vx_wall_ns() ^ (uint64_t)(uintptr_t)&s_rng;
        }
    }
    /* xorshift128+ */
    uint64_t x = s_rng[0];
    uint64_t const y = s_rng[1];
    s_rng[0] = y;
    x ^= x << 23;
    s_rng[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
    return s_rng[1] + y;
}

void
vx_event_id_new(uint8_t id[VX_EVENT_ID_LEN])
{
    vx_event_id_new_at(id, vx_wall_ns());
}

void
vx_event_id_new_at(uint8_t id[VX_EVENT_ID_LEN], uint64_t wall_ns)
{
    uint64_t ms = wall_ns / VX_NS_PER_MS;
    uint64_t r1 = s_rand64();
    uint64_t r2 = s_rand64();
    for (int i = 0; i < 6; i++) {
        id[i] = (uint8_t)(ms >> (40 - 8 * i));
    }
    memcpy(id + 6, &r1, 2);
    memcpy(id + 8, &r2, 8);
    id[6] = (uint8_t)((id[6] & 0x0f) | 0x70); /* version 7 */
    id[8] = (uint8_t)((id[8] & 0x3f) | 0x80); /* RFC 4122 variant */
}

void
vx_event_id_format(const uint8_t id[VX_EVENT_ID_LEN], char out[VX_EVENT_ID_STR])
{
    static const char hex[] = "0123456789abcdef";
    char *p = out;
    for (int i = 0; i < VX_EVENT_ID_LEN; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            *p++ = '-';
        }
        *p++ = hex[id[i] >> 4];
        *p++ = hex[id[i] & 15];
    }
    *p = '\0';
}

static int
s_hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

int
vx_event_id_parse(const char *s, uint8_t id[VX_EVENT_ID_LEN])
{
    size_t len = strlen(s);
    bool dashed = len == 36;
    if (!dashed && len != 32) {
        return -EINVAL;
    }
    int n = 0;
    for (size_t i = 0; i < len;) {
        if (dashed && (i == 8 || i == 13 || i == 18 || i == 23)) {
            if (s[i] != '-') {
                return -EINVAL;
            }
            i++;
            continue;
        }
        int hi = s_hexval(s[i]);
        int lo = s_hexval(s[i + 1]);
        if (hi < 0 || lo < 0 || n >= VX_EVENT_ID_LEN) {
            return -EINVAL;
        }
        id[n++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    return n == VX_EVENT_ID_LEN ? 0 : -EINVAL;
}

void
vx_trace_id_new(char out[33])
{
    /* Two digits per byte, low nibble first: the digits of a, then of b, nibble by nibble,
     * as one table lookup per byte. */
    static const char pairs[513] =
        "00102030405060708090a0b0c0d0e0f001112131415161718191a1b1c1d1e1f1"
        "02122232425262728292a2b2c2d2e2f203132333435363738393a3b3c3d3e3f3"
        "04142434445464748494a4b4c4d4e4f405152535455565758595a5b5c5d5e5f5"
        "06162636465666768696a6b6c6d6e6f607172737475767778797a7b7c7d7e7f7"
        "08182838485868788898a8b8c8d8e8f809192939495969798999a9b9c9d9e9f9"
        "0a1a2a3a4a5a6a7a8a9aaabacadaeafa0b1b2b3b4b5b6b7b8b9babbbcbdbebfb"
        "0c1c2c3c4c5c6c7c8c9cacbcccdcecfc0d1d2d3d4d5d6d7d8d9dadbdcdddedfd"
        "0e1e2e3e4e5e6e7e8e9eaebecedeeefe0f1f2f3f4f5f6f7f8f9fafbfcfdfefff";
    uint64_t r[2];
    r[0] = s_rand64();
    r[1] = s_rand64();
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < 8; i++) {
            memcpy(out + 16 * k + 2 * i, pairs + 2 * ((r[k] >> (8 * i)) & 0xff), 2);
        }
    }
    out[32] = '\0';
}

/* ---- hashing ----------------------------------------------------------------------------- */

static inline uint64_t
s_mix(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

#define S_K0 0x9e3779b97f4a7c15ULL
#define S_K1 0xd6e8feb86659fd93ULL
#define S_K2 0xa0761d6478bd642fULL

uint64_t
vx_hash64(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = seed ^ s_mix(len ^ S_K0, S_K1);
    while (len >= 16) {
        uint64_t a, b;
        memcpy(&a, p, 8);
        memcpy(&b, p + 8, 8);
        h = s_mix(a ^ h ^ S_K2, b ^ S_K1) ^ h * S_K0;
        p += 16;
        len -= 16;
    }
    uint64_t a = 0;
    uint64_t b = 0;
    if (len >= 8) {
        memcpy(&a, p, 8);
        memcpy(&b, p + len - 8, 8);
    } else if (len > 0) {
        for (size_t i = 0; i < len; i++) {
            a |= (uint64_t)p[i] << (8 * i);
        }
    }
    h = s_mix(a ^ h ^ S_K2, b ^ S_K1 ^ len);
    return s_mix(h ^ S_K0, h ^ S_K2);
}

static uint64_t
s_hash_str(const char *s, uint64_t seed)
{
    return vx_hash64(s ? s : "", s ? strlen(s) : 0, seed);
}

static uint64_t
s_hash_entry_len(const char *key, size_t klen, const char *value, size_t vlen, uint64_t seed)
{
    return s_mix(vx_hash64(key ? key : "", klen, seed) ^ S_K1,
                 vx_hash64(value ? value : "", vlen, seed ^ S_K2) ^ S_K0);
}

static uint64_t
s_hash_entry(const char *key, const char *value, uint64_t seed)
{
    return s_hash_entry_len(key, key ? strlen(key) : 0, value, value ? strlen(value) : 0, seed);
}

#define S_SEED_CONTENT 0x636f6e74656e74ULL
#define S_SEED_METADATA 0x6d657461ULL

uint64_t
vx_event_content_hash(const vx_event_t *e)
{
    uint64_t h = s_mix((uint64_t)e->type ^ S_K0, (uint64_t)e->source ^ S_K1);
    h = s_hash_str(e->path, h);
    h = s_hash_str(e->tenant, h);
    h = s_hash_str(e->custom_type, h);
    /* Maps hash as the sum of their entries: independent of the order entries arrived in. */
    uint64_t content = e->n_content;
    for (size_t i = 0; i < e->n_content; i++) {
        content += s_hash_entry(e->content[i]->key, e->content[i]->value, S_SEED_CONTENT);
    }
    uint64_t metadata = e->n_metadata;
    for (size_t i = 0; i < e->n_metadata; i++) {
        metadata += s_hash_entry(e->metadata[i]->key, e->metadata[i]->value, S_SEED_METADATA);
    }
    h = s_mix(h ^ content ^ S_K2, metadata ^ S_K1);
    return h ? h : 1;
}

/* ---- validation -------------------------------------------------------------------------- */

bool
vx_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *end = p + len;
    while (p < end) {
        /* Paths, keys and values are nearly always ASCII: eight bytes at a time while no byte
         * has its high bit set. */
        while ((size_t)(end - p) >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            if (w & 0x8080808080808080ULL) {
                break;
            }
            p += 8;
        }
        if (p == end) {
            break;
        }
        if (*p < 0x80) {
            p++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if ((*p & 0xe0) == 0xc0) {
            n = 2;
            cp = *p & 0x1f;
        } else if ((*p & 0xf0) == 0xe0) {
            n = 3;
            cp = *p & 0x0f;
        } else if ((*p & 0xf8) == 0xf0) {
            n = 4;
            cp = *p & 0x07;
        } else {
            return false;
        }
        if ((size_t)(end - p) < n) {
            return false;
        }
        for (size_t i = 1; i < n; i++) {
            if ((p[i] & 0xc0) != 0x80) {
                return false;
            }
            cp = cp << 6 | (p[i] & 0x3f);
        }
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return false;
        }
        p += n;
    }
    return true;
}

static int
s_fail(char *err, size_t errlen, enum vx_drop_reason *reason, enum vx_drop_reason why,
       const char *fmt,
       const char *arg)
{
    snprintf(err, errlen, fmt, arg);
    *reason = why;
    return -EINVAL;
}

/* ascii: the caller knows the string is ASCII (vx_wire_decode_checked), so valid UTF-8. */
static int
s_check_len(const char *s, size_t len, size_t max, const char *field, char *err, size_t errlen,
            enum vx_drop_reason *reason, bool ascii)
{
    if (len > max) {
        return s_fail(err, errlen, reason, VX_DROP_TOO_LARGE, "field '%s': too long", field);
    }
    if (!ascii && !vx_utf8_valid(s ? s : "", len)) {
        return s_fail(err, errlen, reason, VX_DROP_BAD_UTF8, "field '%s': not valid UTF-8", field);
    }
    return 0;
}

static int
s_check_str(const char *s, size_t max, const char *field, char *err, size_t errlen,
            enum vx_drop_reason *reason, bool ascii)
{
    return s_check_len(s, s ? strlen(s) : 0, max, field, err, errlen, reason, ascii);
}

/* A map entry; with sum, its hash (seeded by seed) is added to *sum, from the lengths the
 * checks measured. */
static int
s_check_entry(const char *key, const char *value, const char *field, char *err, size_t errlen,
              enum vx_drop_reason *reason, bool ascii, uint64_t seed, uint64_t *sum)
{
    if (!key || !key[0]) {
        return s_fail(err, errlen, reason, VX_DROP_BAD_FIELD, "field '%s': empty key", field);
    }
    size_t klen = strlen(key), vlen = value ? strlen(value) : 0;
    if (s_check_len(key, klen, 256, field, err, errlen, reason, ascii) < 0 ||
        s_check_len(value, vlen, VX_EVENT_MAX_VALUE, field, err, errlen, reason, ascii) < 0) {
        return -EINVAL;
    }
    if (sum) {
        *sum += s_hash_entry_len(key, klen, value, vlen, seed);
    }
    return 0;
}

/* A canonical absolute path: "/" alone, or "/" followed by segments that are neither empty,
 * ".", nor "..", with no trailing '/'. What a filesystem would resolve differently ("/a//b",
 * "/a/../etc") would route and match differently from the file it names. */
bool
vx_path_canonical(const char *p, size_t len)
{
    if (len == 0 || p[0] != '/') {
        return false;
    }
    if (len == 1) {
        return true;
    }
    const char *seg = p + 1, *stop = p + len;
    for (;;) {
        const char *end = memchr(seg, '/', (size_t)(stop - seg));
        size_t n = end ? (size_t)(end - seg) : (size_t)(stop - seg);
        if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.')) {
            return false;
        }
        if (!end) {
            return true;
        }
        seg = end + 1;
    }
}

/* Whether the bytes of a string field hold a NUL: protobuf-c ends its copy of a string at the
 * field's length, so a NUL inside would cut the string short for every reader after it. */
static int
s_check_nul(const struct vx_pb_field *f, const char *field, char *err, size_t errlen,
            enum vx_drop_reason *reason)
{
    if (f->wire == VX_PB_LEN && memchr(f->bytes.data, 0, f->bytes.len)) {
        snprintf(err, errlen, "field '%s': holds a NUL character", field);
        *reason = strcmp(field, "path") == 0 ? VX_DROP_BAD_PATH : VX_DROP_BAD_FIELD;
        return -EINVAL;
    }
    return 0;
}

/* The string fields inside a map entry (key, value) or a clock entry (node). */
static int
s_check_nested(const struct vx_pb_field *outer, const char *field, char *err, size_t errlen,
               enum vx_drop_reason *reason)
{
    struct vx_pb_reader r = {outer->bytes.data, outer->bytes.data + outer->bytes.len};
    struct vx_pb_field f;
    int rc;
    while ((rc = vx_pb_next(&r, &f)) > 0) {
        if (s_check_nul(&f, field, err, errlen, reason) < 0) {
            return -EINVAL;
        }
    }
    if (rc < 0) {
        snprintf(err, errlen, "field '%s': an entry is not well-formed protobuf", field);
        *reason = VX_DROP_BAD_PROTOBUF;
        return -EINVAL;
    }
    return 0;
}

int
vx_event_check_bytes(const void *data, size_t len, char *err, size_t errlen,
                     enum vx_drop_reason *reason)
{
    static const char *const names[16] = {
        [VX_PB_EVENT_PATH] = "path",           [VX_PB_EVENT_TENANT] = "tenant",
        [VX_PB_EVENT_PRODUCER_ID] = "producer_id", [VX_PB_EVENT_TRACE_ID] = "trace_id",
        [VX_PB_EVENT_CUSTOM_TYPE] = "custom_type",
    };
    struct vx_pb_reader r = {data, (const uint8_t *)data + len};
    struct vx_pb_field f;
    int rc;
    while ((rc = vx_pb_next(&r, &f)) > 0) {
        if (f.wire != VX_PB_LEN) {
            continue;
        }
        if (f.number < 16 && names[f.number]) {
            if (s_check_nul(&f, names[f.number], err, errlen, reason) < 0) {
                return -EINVAL;
            }
        } else if (f.number == VX_PB_EVENT_CONTENT || f.number == VX_PB_EVENT_METADATA) {
            if (s_check_nested(&f, f.number == VX_PB_EVENT_CONTENT ? "content" : "metadata", err,
                               errlen, reason) < 0) {
                return -EINVAL;
            }
        } else if (f.number == VX_PB_EVENT_CAUSALITY) {
            struct vx_pb_reader cr = {f.bytes.data, f.bytes.data + f.bytes.len};
            struct vx_pb_field cf;
            while (vx_pb_next(&cr, &cf) > 0) {
                if (cf.number == 2 && cf.wire == VX_PB_LEN &&
                    s_check_nested(&cf, "causality.vector_clock", err, errlen, reason) < 0) {
                    return -EINVAL;
                }
            }
        }
    }
    if (rc < 0) {
        snprintf(err, errlen, "the event's bytes are not well-formed protobuf");
        *reason = VX_DROP_BAD_PROTOBUF;
        return -EINVAL;
    }
    return 0;
}

/* Every rule an event must keep, in one place for every boundary (REST, ZeroMQ, kernel and
 * FUSE translation): type, source, id, path (absolute and canonical for filesystem events),
 * priority, string sizes and map sizes. Each failure names the field and sets the drop reason
 * it is counted under. With hash, a valid event's vx_event_content_hash goes to *hash,
 * computed from the string lengths the checks measured (each string is measured once). */
static int
s_validate(const vx_event_t *e, bool ascii, char *err, size_t errlen, enum vx_drop_reason *reason,
           uint64_t *hash)
{
    if (!vx_event_type_name(e->type)) {
        snprintf(err, errlen, "field 'type': unknown event type %d", (int)e->type);
        *reason = VX_DROP_UNKNOWN_TYPE;
        return -EINVAL;
    }
    if (e->type == VEXFS__V1__EVENT_TYPE__CUSTOM && (!e->custom_type || !e->custom_type[0])) {
        return s_fail(err, errlen, reason, VX_DROP_BAD_FIELD, "field '%s': required for custom events",
                      "custom_type");
    }
    if (e->source != 0 && !vx_boundary_name(e->source)) {
        snprintf(err, errlen, "field 'source': unknown boundary %d", (int)e->source);
        *reason = VX_DROP_BAD_FIELD;
        return -EINVAL;
    }
    if (e->id.len != 0 && e->id.len != VX_EVENT_ID_LEN) {
        snprintf(err, errlen, "field 'id': must be 16 bytes, got %zu", e->id.len);
        *reason = VX_DROP_BAD_ID;
        return -EINVAL;
    }
    bool has_path = e->path && e->path[0];
    if (vx_event_type_is_filesystem(e->type) && !has_path) {
        return s_fail(err, errlen, reason, VX_DROP_MISSING_PATH, "field 'path': required for %s events",
                      vx_event_type_name(e->type));
    }
    if (has_path && e->path[0] != '/') {
        return s_fail(err, errlen, reason, VX_DROP_BAD_PATH, "field 'path': must be absolute, got '%.64s'",
                      e->path);
    }
    size_t path_len = has_path ? strlen(e->path) : 0;
    if (has_path && !vx_path_canonical(e->path, path_len)) {
        return s_fail(err, errlen, reason, VX_DROP_BAD_PATH,
                      "field 'path': must be canonical (no empty, '.' or '..' segments and no "
                      "trailing '/'), got '%.64s'",
                      e->path);
    }
    if (e->priority > 255) {
        snprintf(err, errlen, "field 'priority': must be 0..255, got %u", (unsigned)e->priority);
        *reason = VX_DROP_BAD_FIELD;
        return -EINVAL;
    }
    size_t tenant_len = e->tenant ? strlen(e->tenant) : 0;
    size_t custom_len = e->custom_type ? strlen(e->custom_type) : 0;
    if (s_check_len(e->path, path_len, VX_EVENT_MAX_PATH, "path", err, errlen, reason, ascii) <
            0 ||
        s_check_len(e->tenant, tenant_len, 256, "tenant", err, errlen, reason, ascii) < 0 ||
        s_check_str(e->producer_id, 256, "producer_id", err, errlen, reason, ascii) < 0 ||
        s_check_str(e->trace_id, 256, "trace_id", err, errlen, reason, ascii) < 0 ||
        s_check_len(e->custom_type, custom_len, 256, "custom_type", err, errlen, reason, ascii) <
            0) {
        return -EINVAL;
    }
    if (e->n_content > VX_EVENT_MAX_FIELDS || e->n_metadata > VX_EVENT_MAX_FIELDS) {
        return s_fail(err, errlen, reason, VX_DROP_TOO_LARGE, "field '%s': more than 256 entries",
                      e->n_content > VX_EVENT_MAX_FIELDS ? "content" : "metadata");
    }
    uint64_t content = e->n_content, metadata = e->n_metadata;
    for (size_t i = 0; i < e->n_content; i++) {
        if (s_check_entry(e->content[i]->key, e->content[i]->value, "content", err, errlen,
                          reason, ascii, S_SEED_CONTENT, hash ? &content : NULL) < 0) {
            return -EINVAL;
        }
    }
    for (size_t i = 0; i < e->n_metadata; i++) {
        if (s_check_entry(e->metadata[i]->key, e->metadata[i]->value, "metadata", err, errlen,
                          reason, ascii, S_SEED_METADATA, hash ? &metadata : NULL) < 0) {
            return -EINVAL;
        }
    }
    const Vexfs__V1__Causality *c = e->causality;
    if (c) {
        if (c->n_parent_ids > VX_EVENT_MAX_FIELDS || c->n_vector_clock > VX_EVENT_MAX_FIELDS) {
            return s_fail(err, errlen, reason, VX_DROP_TOO_LARGE, "field '%s': more than 256 entries",
                          "causality");
        }
        for (size_t i = 0; i < c->n_parent_ids; i++) {
            if (c->parent_ids[i].len != VX_EVENT_ID_LEN) {
                return s_fail(err, errlen, reason, VX_DROP_BAD_ID,
                              "field '%s': every parent id must be 16 bytes",
                              "causality.parent_ids");
            }
        }
        for (size_t i = 0; i < c->n_vector_clock; i++) {
            if (s_check_str(c->vector_clock[i]->node, 256, "causality.vector_clock", err, errlen,
                            reason, ascii) < 0) {
                return -EINVAL;
            }
        }
    }
    if (hash) {
        /* As vx_event_content_hash, term by term. */
        uint64_t h = s_mix((uint64_t)e->type ^ S_K0, (uint64_t)e->source ^ S_K1);
        h = vx_hash64(has_path ? e->path : "", path_len, h);
        h = vx_hash64(e->tenant ? e->tenant : "", tenant_len, h);
        h = vx_hash64(e->custom_type ? e->custom_type : "", custom_len, h);
        h = s_mix(h ^ content ^ S_K2, metadata ^ S_K1);
        *hash = h ? h : 1;
    }
    return 0;
}

int
vx_event_validate(const vx_event_t *e, char *err, size_t errlen, enum vx_drop_reason *reason)
{
    return s_validate(e, false, err, errlen, reason, NULL);
}

int
vx_event_validate_hash(const vx_event_t *e, bool ascii, char *err, size_t errlen,
                       enum vx_drop_reason *reason, uint64_t *hash)
{
    return s_validate(e, ascii, err, errlen, reason, hash);
}

/* ---- JSON form --------------------------------------------------------------------------- */

struct s_jctx {
    vx_arena_t *arena;
    char *err;
    size_t errlen;
    enum vx_drop_reason *reason;
};

static int
s_jfail(struct s_jctx *c, const char *field, const char *what)
{
    snprintf(c->err, c->errlen, "field '%s': %s", field, what);
    *c->reason = VX_DROP_BAD_JSON;
    return -EINVAL;
}

static void *
s_jalloc(struct s_jctx *c, size_t n)
{
    void *p = vx_arena_alloc(c->arena, n);
    if (p) {
        memset(p, 0, n);
    }
    return p;
}

static int
s_jstr(struct s_jctx *c, json_t *v, const char *field, char **out)
{
    if (!json_is_string(v)) {
        return s_jfail(c, field, "expected a string");
    }
    *out = vx_arena_strndup(c->arena, json_string_value(v), json_string_length(v));
    return *out ? 0 : s_jfail(c, field, "event too large");
}

/* An unsigned integer field: a JSON integer, or for the uint64 fields (max UINT64_MAX) also a
 * string of decimal digits, since JSON numbers past 2^63-1 do not survive most parsers (and
 * past 2^53 not JavaScript's). */
static int
s_juint(struct s_jctx *c, json_t *v, const char *field, uint64_t max, uint64_t *out)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0 &&
        (uint64_t)json_integer_value(v) <= max) {
        *out = (uint64_t)json_integer_value(v);
        return 0;
    }
    if (max == UINT64_MAX && json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        bool digits = n > 0 && n <= 20;
        for (size_t i = 0; digits && i < n; i++) {
            digits = s[i] >= '0' && s[i] <= '9';
        }
        if (digits) {
            errno = 0;
            unsigned long long u = strtoull(s, NULL, 10);
            if (errno == 0) {
                *out = u;
                return 0;
            }
        }
    }
    char what[128];
    snprintf(what, sizeof what,
             max == UINT64_MAX ? "expected an integer 0..%llu (as a number, or a string of "
                                 "digits)"
                               : "expected an integer 0..%llu",
             (unsigned long long)max);
    return s_jfail(c, field, what);
}

static int
s_jid(struct s_jctx *c, json_t *v, const char *field, ProtobufCBinaryData *out)
{
    if (!json_is_string(v)) {
        return s_jfail(c, field, "expected an id string (UUID form)");
    }
    uint8_t *id = s_jalloc(c, VX_EVENT_ID_LEN);
    if (!id) {
        return s_jfail(c, field, "event too large");
    }
    if (vx_event_id_parse(json_string_value(v), id) < 0) {
        snprintf(c->err, c->errlen, "field '%s': not a 16-byte id in UUID form: '%.40s'", field,
                 json_string_value(v));
        *c->reason = VX_DROP_BAD_ID;
        return -EINVAL;
    }
    out->data = id;
    out->len = VX_EVENT_ID_LEN;
    return 0;
}

/* Decodes {"k":"v",...} into a protobuf map (an array of entry pointers). The two map entry
 * types of Event have distinct C types, so this fills plain key/value arrays the caller
 * converts. */
static int
s_jmap(struct s_jctx *c, json_t *v, const char *field, size_t *n_out, char ***keys, char ***vals)
{
    if (!json_is_object(v)) {
        return s_jfail(c, field, "expected an object of string values");
    }
    size_t n = json_object_size(v);
    if (n > VX_EVENT_MAX_FIELDS) {
        snprintf(c->err, c->errlen, "field '%s': more than %d entries", field,
                 VX_EVENT_MAX_FIELDS);
        *c->reason = VX_DROP_TOO_LARGE;
        return -EINVAL;
    }
    *keys = s_jalloc(c, sizeof(char *) * (n + 1));
    *vals = s_jalloc(c, sizeof(char *) * (n + 1));
    if (!*keys || !*vals) {
        return s_jfail(c, field, "event too large");
    }
    size_t i = 0;
    const char *k;
    json_t *val;
    json_object_foreach(v, k, val) {
        if (!json_is_string(val)) {
            snprintf(c->err, c->errlen, "field '%s.%.64s': expected a string value", field, k);
            *c->reason = VX_DROP_BAD_JSON;
            return -EINVAL;
        }
        (*keys)[i] = vx_arena_strndup(c->arena, k, strlen(k));
        (*vals)[i] = vx_arena_strndup(c->arena, json_string_value(val), json_string_length(val));
        if (!(*keys)[i] || !(*vals)[i]) {
            return s_jfail(c, field, "event too large");
        }
        i++;
    }
    *n_out = n;
    return 0;
}

/* NOLINTBEGIN(bugprone-macro-parentheses): Entry is a type name, which cannot be parenthesised */
#define S_JMAP_INTO(c, v, field, e, member, Entry, INIT)                                           \
    do {                                                                                           \
        size_t n_ = 0;                                                                             \
        char **k_ = NULL, **v_ = NULL;                                                             \
        if (s_jmap((c), (v), (field), &n_, &k_, &v_) < 0) {                                        \
            return -EINVAL;                                                                        \
        }                                                                                          \
        Entry **arr_ = s_jalloc((c), sizeof(Entry *) * (n_ + 1));                                  \
        Entry *ents_ = s_jalloc((c), sizeof(Entry) * (n_ + 1));                                    \
        if (!arr_ || !ents_) {                                                                     \
            return s_jfail((c), (field), "event too large");                                      \
        }                                                                                          \
        for (size_t i_ = 0; i_ < n_; i_++) {                                                       \
            Entry init_ = INIT;                                                                    \
            ents_[i_] = init_;                                                                     \
            ents_[i_].key = k_[i_];                                                                \
            ents_[i_].value = v_[i_];                                                              \
            arr_[i_] = &ents_[i_];                                                                 \
        }                                                                                          \
        (e)->n_##member = n_;                                                                      \
        (e)->member = arr_;                                                                        \
    } while (0)
/* NOLINTEND(bugprone-macro-parentheses) */

/* The causality member: parent ids and the vector clock, each bounded by
 * VX_EVENT_MAX_FIELDS and decoded into the arena; a bad entry names its place. */
static int
s_jcausality(struct s_jctx *c, json_t *v, vx_event_t *e)
{
    if (!json_is_object(v)) {
        return s_jfail(c, "causality", "expected an object");
    }
    Vexfs__V1__Causality *cz = s_jalloc(c, sizeof *cz);
    if (!cz) {
        return s_jfail(c, "causality", "event too large");
    }
    vexfs__v1__causality__init(cz);
    const char *k;
    json_t *val;
    json_object_foreach(v, k, val) {
        if (strcmp(k, "parent_ids") == 0) {
            if (!json_is_array(val) || json_array_size(val) > VX_EVENT_MAX_FIELDS) {
                return s_jfail(c, "causality.parent_ids", "expected an array of at most 256 ids");
            }
            cz->n_parent_ids = json_array_size(val);
            cz->parent_ids = s_jalloc(c, sizeof(ProtobufCBinaryData) * (cz->n_parent_ids + 1));
            if (!cz->parent_ids) {
                return s_jfail(c, "causality", "event too large");
            }
            for (size_t i = 0; i < cz->n_parent_ids; i++) {
                if (s_jid(c, json_array_get(val, i), "causality.parent_ids", &cz->parent_ids[i]) <
                    0) {
                    return -EINVAL;
                }
            }
        } else if (strcmp(k, "vector_clock") == 0) {
            if (!json_is_object(val) || json_object_size(val) > VX_EVENT_MAX_FIELDS) {
                return s_jfail(c, "causality.vector_clock",
                               "expected an object of at most 256 node counters");
            }
            size_t n = json_object_size(val);
            cz->vector_clock = s_jalloc(c, sizeof(Vexfs__V1__ClockEntry *) * (n + 1));
            Vexfs__V1__ClockEntry *ents = s_jalloc(c, sizeof(Vexfs__V1__ClockEntry) * (n + 1));
            if (!cz->vector_clock || !ents) {
                return s_jfail(c, "causality", "event too large");
            }
            const char *node;
            json_t *cnt;
            size_t i = 0;
            json_object_foreach(val, node, cnt) {
                vexfs__v1__clock_entry__init(&ents[i]);
                ents[i].node = vx_arena_strndup(c->arena, node, strlen(node));
                if (!ents[i].node ||
                    s_juint(c, cnt, "causality.vector_clock", UINT64_MAX, &ents[i].counter) <
                        0) {
                    return ents[i].node ? -EINVAL : s_jfail(c, "causality", "event too large");
                }
                cz->vector_clock[i] = &ents[i];
                i++;
            }
            cz->n_vector_clock = n;
        } else {
            snprintf(c->err, c->errlen, "field 'causality.%.64s': unknown field", k);
            *c->reason = VX_DROP_BAD_JSON;
            return -EINVAL;
        }
    }
    e->causality = cz;
    return 0;
}

/* One loop over the object's members, each member decoded by its own helper into the arena;
 * the first bad member ends the decode with an error naming the field and a drop reason, so
 * a caller counts the event under the right reason and nothing partial is kept. */
int
vx_event_from_json(json_t *obj, vx_arena_t *arena, vx_event_t **out, char *err, size_t errlen,
                   enum vx_drop_reason *reason)
{
    struct s_jctx c = {arena, err, errlen, reason};
    *out = NULL;
    if (!json_is_object(obj)) {
        snprintf(err, errlen, "an event must be a JSON object");
        *reason = VX_DROP_BAD_JSON;
        return -EINVAL;
    }
    vx_event_t *e = s_jalloc(&c, sizeof *e);
    if (!e) {
        return s_jfail(&c, "event", "event too large");
    }
    vexfs__v1__event__init(e);
    const char *k;
    json_t *v;
    bool has_type = false;
    json_object_foreach(obj, k, v) {
        int rc = 0;
        uint64_t u = 0;
        if (strcmp(k, "id") == 0) {
            rc = s_jid(&c, v, k, &e->id);
        } else if (strcmp(k, "type") == 0) {
            int t;
            if (!json_is_string(v)) {
                rc = s_jfail(&c, k, "expected an event type name such as \"filesystem_write\"");
            } else if (vx_event_type_parse(json_string_value(v), &t) < 0) {
                snprintf(err, errlen, "field 'type': unknown event type '%.64s'",
                         json_string_value(v));
                *reason = VX_DROP_UNKNOWN_TYPE;
                rc = -EINVAL;
            } else {
                e->type = (Vexfs__V1__EventType)t;
                has_type = true;
            }
        } else if (strcmp(k, "source") == 0) {
            int b;
            if (!json_is_string(v) || vx_boundary_parse(json_string_value(v), &b) < 0) {
                snprintf(err, errlen,
                         "field 'source': unknown boundary%s%.64s%s (kernel_module, fuse, "
                         "userspace_api, graph, vector, analytics, automation, coordinator)",
                         json_is_string(v) ? " '" : "", json_is_string(v) ? json_string_value(v) : "",
                         json_is_string(v) ? "'" : "");
                *reason = VX_DROP_BAD_FIELD;
                rc = -EINVAL;
            } else {
                e->source = (Vexfs__V1__Boundary)b;
            }
        } else if (strcmp(k, "timestamp_ns") == 0) {
            rc = s_juint(&c, v, k, UINT64_MAX, &e->timestamp_ns);
        } else if (strcmp(k, "ingest_ns") == 0) {
            rc = s_juint(&c, v, k, UINT64_MAX, &e->ingest_ns);
        } else if (strcmp(k, "sequence") == 0) {
            rc = s_juint(&c, v, k, UINT64_MAX, &e->sequence);
        } else if (strcmp(k, "priority") == 0) {
            rc = s_juint(&c, v, k, 255, &u);
            e->priority = (uint32_t)u;
        } else if (strcmp(k, "path") == 0) {
            rc = s_jstr(&c, v, k, &e->path);
        } else if (strcmp(k, "tenant") == 0) {
            rc = s_jstr(&c, v, k, &e->tenant);
        } else if (strcmp(k, "producer_id") == 0) {
            rc = s_jstr(&c, v, k, &e->producer_id);
        } else if (strcmp(k, "trace_id") == 0) {
            rc = s_jstr(&c, v, k, &e->trace_id);
        } else if (strcmp(k, "custom_type") == 0) {
            rc = s_jstr(&c, v, k, &e->custom_type);
        } else if (strcmp(k, "content") == 0) {
            S_JMAP_INTO(&c, v, "content", e, content, Vexfs__V1__Event__ContentEntry,
                        VEXFS__V1__EVENT__CONTENT_ENTRY__INIT);
        } else if (strcmp(k, "metadata") == 0) {
            S_JMAP_INTO(&c, v, "metadata", e, metadata, Vexfs__V1__Event__MetadataEntry,
                        VEXFS__V1__EVENT__METADATA_ENTRY__INIT);
        } else if (strcmp(k, "causality") == 0) {
            rc = s_jcausality(&c, v, e);
        } else {
            snprintf(err, errlen, "field '%.64s': unknown field", k);
            *reason = VX_DROP_BAD_JSON;
            rc = -EINVAL;
        }
        if (rc < 0) {
            return rc;
        }
    }
    if (!has_type) {
        snprintf(err, errlen, "field 'type': required");
        *reason = VX_DROP_UNKNOWN_TYPE;
        return -EINVAL;
    }
    *out = e;
    return 0;
}

/* A uint64 as JSON: a number while JSON parsers keep it exact, else a string of digits. */
static json_t *
s_u64(uint64_t v, unsigned flags)
{
    uint64_t exact = flags & VX_EVENT_JSON_SAFE_INTEGERS ? (UINT64_C(1) << 53) : (uint64_t)INT64_MAX;
    if (v <= exact) {
        return json_integer((json_int_t)v);
    }
    char buf[24];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    return json_string(buf);
}

json_t *
vx_event_to_json(const vx_event_t *e)
{
    return vx_event_to_json_flags(e, 0);
}

/* The inverse of vx_event_from_json, member for member: empty optional fields are left out,
 * so an event printed and read back is the same event. */
json_t *
vx_event_to_json_flags(const vx_event_t *e, unsigned flags)
{
    json_t *o = json_object();
    char idbuf[VX_EVENT_ID_STR];
    if (e->id.len == VX_EVENT_ID_LEN) {
        vx_event_id_format(e->id.data, idbuf);
        json_object_set_new(o, "id", json_string(idbuf));
    }
    const char *tn = vx_event_type_name(e->type);
    json_object_set_new(o, "type", tn ? json_string(tn) : json_integer(e->type));
    const char *bn = vx_boundary_name(e->source);
    if (bn) {
        json_object_set_new(o, "source", json_string(bn));
    }
    json_object_set_new(o, "timestamp_ns", s_u64(e->timestamp_ns, flags));
    if (e->path && e->path[0]) {
        json_object_set_new(o, "path", json_string(e->path));
    }
    json_t *content = json_object();
    for (size_t i = 0; i < e->n_content; i++) {
        json_object_set_new(content, e->content[i]->key, json_string(e->content[i]->value));
    }
    json_object_set_new(o, "content", content);
    json_t *metadata = json_object();
    for (size_t i = 0; i < e->n_metadata; i++) {
        json_object_set_new(metadata, e->metadata[i]->key, json_string(e->metadata[i]->value));
    }
    json_object_set_new(o, "metadata", metadata);
    if (e->tenant && e->tenant[0]) {
        json_object_set_new(o, "tenant", json_string(e->tenant));
    }
    json_object_set_new(o, "priority", json_integer(e->priority));
    if (e->producer_id && e->producer_id[0]) {
        json_object_set_new(o, "producer_id", json_string(e->producer_id));
    }
    json_object_set_new(o, "sequence", s_u64(e->sequence, flags));
    if (e->trace_id && e->trace_id[0]) {
        json_object_set_new(o, "trace_id", json_string(e->trace_id));
    }
    if (e->custom_type && e->custom_type[0]) {
        json_object_set_new(o, "custom_type", json_string(e->custom_type));
    }
    if (e->ingest_ns) {
        json_object_set_new(o, "ingest_ns", s_u64(e->ingest_ns, flags));
    }
    if (e->causality) {
        json_t *cz = json_object();
        json_t *parents = json_array();
        for (size_t i = 0; i < e->causality->n_parent_ids; i++) {
            if (e->causality->parent_ids[i].len == VX_EVENT_ID_LEN) {
                vx_event_id_format(e->causality->parent_ids[i].data, idbuf);
                json_array_append_new(parents, json_string(idbuf));
            }
        }
        json_object_set_new(cz, "parent_ids", parents);
        json_t *vc = json_object();
        for (size_t i = 0; i < e->causality->n_vector_clock; i++) {
            const Vexfs__V1__ClockEntry *ce = e->causality->vector_clock[i];
            json_object_set_new(vc, ce->node ? ce->node : "", s_u64(ce->counter, flags));
        }
        json_object_set_new(cz, "vector_clock", vc);
        json_object_set_new(o, "causality", cz);
    }
    return o;
}

const char *
vx_json_error_text(const json_error_t *e)
{
    return strstr(e->text, "JSON_ALLOW_NUL") ? "a NUL character (\\u0000) is not allowed in strings"
                                             : e->text;
}
