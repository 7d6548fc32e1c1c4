/* SPDX-License-Identifier: Apache-2.0 */
/* What an event says, checked and summed: the content hash that deduplication keys on, and
 * every rule an event from outside must keep (vx_event_validate, vx_event_check_bytes), in one
 * file so a receiver that both checks and deduplicates measures each string once
 * (vx_event_validate_hash). */
#include "vx_event.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vx_wire.h"

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
