/* SPDX-License-Identifier: Apache-2.0 */
/* Event names, ids and the JSON form (hashing and validation: vx_event_check.c). */
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
