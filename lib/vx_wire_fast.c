/* SPDX-License-Identifier: Apache-2.0 */
/* A batch decoded in one pass over its bytes (see vx_wire_fast.h). Each message is walked twice:
 * once to check it is of the common shape and count its repeated fields, once to fill it, so
 * that arrays are allocated at their size as protobuf-c does (an event's fields are kept from
 * the first walk, so its bytes are read once). Values follow protobuf-c 1.4:
 * the last occurrence of a singular field wins, repeated fields keep their order, a varint
 * of up to 10 bytes keeps its low 64 (or 32) bits, strings are copied with a NUL after them,
 * empty bytes are NULL. */
#include "vx_wire_fast.h"

#include <limits.h>
#include <string.h>

/* Field numbers (event.proto). */
enum {
    S_BATCH_EVENTS = 1,
    S_BATCH_SENDER = 2,
    S_BATCH_SEQUENCE = 3,
};
enum {
    S_EV_ID = 1,
    S_EV_TYPE = 2,
    S_EV_SOURCE = 3,
    S_EV_TIMESTAMP = 4,
    S_EV_PATH = 5,
    S_EV_CONTENT = 6,
    S_EV_METADATA = 7,
    S_EV_TENANT = 8,
    S_EV_PRIORITY = 9,
    S_EV_PRODUCER = 10,
    S_EV_SEQUENCE = 11,
    S_EV_CAUSALITY = 12,
    S_EV_TRACE = 13,
    S_EV_INGEST = 14,
    S_EV_CUSTOM = 15,
};
enum { S_WT_VARINT = 0, S_WT_LEN = 2 };

_Static_assert(sizeof(Vexfs__V1__Event__MetadataEntry) <= sizeof(Vexfs__V1__Event__ContentEntry),
               "s_event_scan bounds a map entry by the content entry's size");

#define S_MAX_FIELDS 128 /* of one event on the fast path; more: left to protobuf-c */

/* The wire type each field of Event must have, by field number; -1: not a field. */
static const int s_ev_wt[16] = {-1,         S_WT_LEN,    S_WT_VARINT, S_WT_VARINT,
                                S_WT_VARINT, S_WT_LEN,   S_WT_LEN,    S_WT_LEN,
                                S_WT_LEN,   S_WT_VARINT, S_WT_LEN,    S_WT_VARINT,
                                S_WT_LEN,   S_WT_LEN,    S_WT_VARINT, S_WT_LEN};

/* One field as read: its number, wire type and value (a varint's bytes, or the payload). */
struct s_field {
    uint32_t num;
    int wt;
    const uint8_t *v;
    size_t len;
};

/* Reads the next field of [*p, end). false: not of the common shape (a tag of more than one
 * byte, field 0, a wire type other than varint or length-delimited, an unterminated varint,
 * a bad length), which the caller leaves to protobuf-c. */
static inline __attribute__((always_inline)) bool
s_next(const uint8_t **p, const uint8_t *end, struct s_field *f)
{
    const uint8_t *at = *p;
    if (at >= end || (at[0] & 0x80) != 0 || (at[0] >> 3) == 0) {
        return false;
    }
    f->num = at[0] >> 3;
    f->wt = at[0] & 7;
    at++;
    size_t rem = (size_t)(end - at);
    if (f->wt == S_WT_VARINT) {
        size_t max = rem < 10 ? rem : 10;
        size_t i = 0;
        while (i < max && (at[i] & 0x80) != 0) {
            i++;
        }
        if (i == max) {
            return false;
        }
        f->v = at;
        f->len = i + 1;
        *p = at + i + 1;
        return true;
    }
    if (f->wt != S_WT_LEN) {
        return false;
    }
    size_t max = rem < 5 ? rem : 5;
    uint64_t n = 0;
    size_t i = 0;
    for (; i < max; i++) {
        n |= (uint64_t)(at[i] & 0x7f) << (7 * i);
        if ((at[i] & 0x80) == 0) {
            break;
        }
    }
    if (i == max || n > INT_MAX || n > rem - (i + 1)) {
        return false;
    }
    f->v = at + i + 1;
    f->len = (size_t)n;
    *p = f->v + n;
    return true;
}

static uint64_t
s_u64(const struct s_field *f)
{
    uint64_t v = 0;
    for (size_t i = 0; i < f->len; i++) {
        v |= (uint64_t)(f->v[i] & 0x7f) << (7 * i);
    }
    return v;
}

static uint32_t
s_u32(const struct s_field *f)
{
    uint32_t v = 0;
    for (size_t i = 0; i < f->len && i < 5; i++) {
        v |= (uint32_t)(f->v[i] & 0x7f) << (7 * i);
    }
    return v;
}

/* Where one event's memory comes from: a block taken from the arena at once, sized from the
 * walk of its fields (an upper bound), and the arena itself for anything the block cannot
 * hold (p NULL: the arena only). One arena call per event instead of one per string. */
struct s_mem {
    vx_arena_t *a;
    uint8_t *p;
    uint8_t *end;
    uint64_t hi; /* every string byte ORed together: a high bit set means not all ASCII */
};

static inline void *
s_take(struct s_mem *m, size_t n, size_t align)
{
    if (m->p != NULL) {
        uint8_t *at = m->p + ((size_t)(-(uintptr_t)m->p) & (align - 1));
        if (at <= m->end && (size_t)(m->end - at) >= n) {
            m->p = at + n;
            return at;
        }
    }
    return vx_arena_alloc(m->a, n);
}

/* Whether n bytes at p hold no NUL, read a word at a time (the last word overlapping the one
 * before it; strings under 8 bytes as two overlapping 4-byte words); ORs them into *hi. */
static inline bool
s_scan(const uint8_t *p, size_t n, uint64_t *hi)
{
    uint64_t acc = 0, zero = 0;
    if (n >= 8) {
        uint64_t w;
        for (size_t i = 0; i + 8 < n; i += 8) {
            memcpy(&w, p + i, 8);
            zero |= (w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL; /* a zero byte */
            acc |= w;
        }
        memcpy(&w, p + n - 8, 8);
        zero |= (w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL;
        acc |= w;
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, p, 4);
        memcpy(&b, p + n - 4, 4);
        zero = ((a - 0x01010101u) & ~a & 0x80808080u) | ((b - 0x01010101u) & ~b & 0x80808080u);
        acc = a | b;
    } else {
        for (size_t i = 0; i < n; i++) {
            zero |= p[i] == 0;
            acc |= p[i];
        }
    }
    *hi |= acc;
    return zero == 0;
}

/* A string field's copy, NUL-terminated; false when the arena is full or the string holds a
 * NUL byte (protobuf-c keeps it and cuts the string there: left to it, so that a batch the walk
 * takes has no such string, see vx_wire_decode_checked). */
static bool
s_str(struct s_mem *m, const struct s_field *f, char **out)
{
    if (!s_scan(f->v, f->len, &m->hi)) {
        return false;
    }
    char *s = s_take(m, f->len + 1, 1);
    if (s == NULL) {
        return false;
    }
    memcpy(s, f->v, f->len);
    s[f->len] = '\0';
    *out = s;
    return true;
}

static bool
s_bytes(struct s_mem *m, const struct s_field *f, ProtobufCBinaryData *out)
{
    out->len = f->len;
    out->data = NULL;
    if (f->len == 0) {
        return true;
    }
    out->data = s_take(m, f->len, 1);
    if (out->data == NULL) {
        return false;
    }
    memcpy(out->data, f->v, f->len);
    return true;
}

/* A map entry (content or metadata: key 1, value 2, both strings). */
static bool
s_entry(struct s_mem *m, const uint8_t *p, const uint8_t *end, char **key, char **value)
{
    struct s_field f;
    while (p < end) {
        if (!s_next(&p, end, &f) || f.wt != S_WT_LEN || (f.num != 1 && f.num != 2) ||
            !s_str(m, &f, f.num == 1 ? key : value)) {
            return false;
        }
    }
    return true;
}

/* Causality: parent_ids (1, bytes) and vector_clock (2, ClockEntry: node 1, counter 2). */
static bool
s_causality(vx_arena_t *a, const uint8_t *p, const uint8_t *end, Vexfs__V1__Causality **out,
            uint64_t *hi)
{
    size_t n_ids = 0, n_clock = 0;
    struct s_field f;
    for (const uint8_t *q = p; q < end;) {
        if (!s_next(&q, end, &f) || f.wt != S_WT_LEN || (f.num != 1 && f.num != 2)) {
            return false;
        }
        n_ids += f.num == 1;
        n_clock += f.num == 2;
    }
    struct s_mem m = {.a = a};
    Vexfs__V1__Causality *c = vx_arena_alloc(a, sizeof *c);
    ProtobufCBinaryData *ids = vx_arena_alloc(a, n_ids * sizeof *ids + 1);
    Vexfs__V1__ClockEntry **clock = vx_arena_alloc(a, n_clock * sizeof *clock + 1);
    if (c == NULL || ids == NULL || clock == NULL) {
        return false;
    }
    vexfs__v1__causality__init(c);
    c->parent_ids = n_ids ? ids : NULL;
    c->vector_clock = n_clock ? clock : NULL;
    while (p < end) {
        s_next(&p, end, &f);
        if (f.num == 1) {
            if (!s_bytes(&m, &f, &ids[c->n_parent_ids++])) {
                return false;
            }
            continue;
        }
        Vexfs__V1__ClockEntry *ce = vx_arena_alloc(a, sizeof *ce);
        if (ce == NULL) {
            return false;
        }
        vexfs__v1__clock_entry__init(ce);
        clock[c->n_vector_clock++] = ce;
        const uint8_t *e = f.v + f.len;
        for (const uint8_t *q = f.v; q < e;) {
            struct s_field g;
            if (!s_next(&q, e, &g)) {
                return false;
            }
            if (g.num == 1 && g.wt == S_WT_LEN) {
                if (!s_str(&m, &g, &ce->node)) {
                    return false;
                }
            } else if (g.num == 2 && g.wt == S_WT_VARINT) {
                ce->counter = s_u64(&g);
            } else {
                return false;
            }
        }
    }
    *out = c;
    *hi |= m.hi;
    return true;
}

/* Reads an Event's fields into fs (at most S_MAX_FIELDS), checking its shape, counting its
 * map entries and adding to *bytes an upper bound of the memory its strings, bytes and map
 * entries take (a map entry's strings, NULs included, fit in its payload plus 2); returns the
 * number of fields, or -1 (left to protobuf-c). */
static int
s_event_scan(const uint8_t *p, const uint8_t *end, struct s_field *fs, size_t *n_content,
             size_t *n_meta, size_t *bytes)
{
    bool causality = false;
    int n = 0;
    while (p < end) {
        struct s_field *f = &fs[n];
        if (n == S_MAX_FIELDS || !s_next(&p, end, f) || f->num > 15 ||
            s_ev_wt[f->num] != f->wt) {
            return -1;
        }
        if (f->num == S_EV_CAUSALITY) {
            if (causality) {
                return -1; /* protobuf-c merges a second one: left to it */
            }
            causality = true;
        }
        *n_content += f->num == S_EV_CONTENT;
        *n_meta += f->num == S_EV_METADATA;
        if (f->num == S_EV_CONTENT || f->num == S_EV_METADATA) {
            *bytes += f->len + 2 + 16 + sizeof(Vexfs__V1__Event__ContentEntry);
        } else if (f->wt == S_WT_LEN && f->num != S_EV_CAUSALITY) {
            *bytes += f->len + 1;
        }
        n++;
    }
    return n;
}

/* A map field's entry into *slot. */
static bool
s_map_entry(struct s_mem *m, const struct s_field *f, bool content, void **slot)
{
    if (content) {
        Vexfs__V1__Event__ContentEntry *en = s_take(m, sizeof *en, 16);
        if (en == NULL) {
            return false;
        }
        vexfs__v1__event__content_entry__init(en);
        *slot = en;
        return s_entry(m, f->v, f->v + f->len, &en->key, &en->value);
    }
    Vexfs__V1__Event__MetadataEntry *en = s_take(m, sizeof *en, 16);
    if (en == NULL) {
        return false;
    }
    vexfs__v1__event__metadata_entry__init(en);
    *slot = en;
    return s_entry(m, f->v, f->v + f->len, &en->key, &en->value);
}

/* One field of an Event (of the shape s_event_scan checked) into ev. */
static bool
s_event_field(struct s_mem *m, const struct s_field *f, vx_event_t *ev)
{
    switch (f->num) {
    case S_EV_ID:
        return s_bytes(m, f, &ev->id);
    case S_EV_TYPE:
        ev->type = (Vexfs__V1__EventType)(int32_t)s_u32(f);
        return true;
    case S_EV_SOURCE:
        ev->source = (Vexfs__V1__Boundary)(int32_t)s_u32(f);
        return true;
    case S_EV_TIMESTAMP:
        ev->timestamp_ns = s_u64(f);
        return true;
    case S_EV_PATH:
        return s_str(m, f, &ev->path);
    case S_EV_CONTENT:
        return s_map_entry(m, f, true, (void **)&ev->content[ev->n_content++]);
    case S_EV_METADATA:
        return s_map_entry(m, f, false, (void **)&ev->metadata[ev->n_metadata++]);
    case S_EV_TENANT:
        return s_str(m, f, &ev->tenant);
    case S_EV_PRIORITY:
        ev->priority = s_u32(f);
        return true;
    case S_EV_PRODUCER:
        return s_str(m, f, &ev->producer_id);
    case S_EV_SEQUENCE:
        ev->sequence = s_u64(f);
        return true;
    case S_EV_CAUSALITY:
        return s_causality(m->a, f->v, f->v + f->len, &ev->causality, &m->hi);
    case S_EV_TRACE:
        return s_str(m, f, &ev->trace_id);
    case S_EV_INGEST:
        ev->ingest_ns = s_u64(f);
        return true;
    case S_EV_CUSTOM:
        return s_str(m, f, &ev->custom_type);
    default:
        return false;
    }
}

static vx_event_t *
s_event(vx_arena_t *a, const uint8_t *p, const uint8_t *end, uint64_t *hi)
{
    struct s_field fs[S_MAX_FIELDS];
    size_t n_content = 0, n_meta = 0, bytes = 0;
    int n = s_event_scan(p, end, fs, &n_content, &n_meta, &bytes);
    if (n < 0) {
        return NULL;
    }
    /* The event, its two pointer arrays, then its strings and entries, in one block. */
    size_t head = (sizeof(vx_event_t) + (n_content + n_meta) * sizeof(void *) + 15) & ~(size_t)15;
    uint8_t *block = vx_arena_alloc(a, head + bytes);
    if (block == NULL) {
        return NULL;
    }
    vx_event_t *ev = (vx_event_t *)(void *)block;
    void **ptrs = (void **)(void *)(block + sizeof *ev);
    struct s_mem m = {.a = a, .p = block + head, .end = block + head + bytes};
    vexfs__v1__event__init(ev);
    ev->content = (Vexfs__V1__Event__ContentEntry **)ptrs;
    ev->metadata = (Vexfs__V1__Event__MetadataEntry **)(ptrs + n_content);
    for (int i = 0; i < n; i++) {
        if (!s_event_field(&m, &fs[i], ev)) {
            return NULL;
        }
    }
    /* Empty maps are NULL, as protobuf-c leaves them. */
    if (n_content == 0) {
        ev->content = NULL;
    }
    if (n_meta == 0) {
        ev->metadata = NULL;
    }
    *hi |= m.hi;
    return ev;
}

/* The common shape, or NULL (left to protobuf-c). */
static vx_batch_t *
s_fast(const uint8_t *data, size_t len, vx_arena_t *a, struct vx_span *spans, size_t max,
       size_t *n_spans, uint64_t *hi)
{
    const uint8_t *end = data + len;
    size_t n = 0;
    struct s_field f;
    for (const uint8_t *p = data; p < end;) {
        if (!s_next(&p, end, &f) || f.num < S_BATCH_EVENTS || f.num > S_BATCH_SEQUENCE ||
            f.wt != (f.num == S_BATCH_SEQUENCE ? S_WT_VARINT : S_WT_LEN)) {
            return NULL;
        }
        n += f.num == S_BATCH_EVENTS;
    }
    vx_batch_t *b = vx_arena_alloc(a, sizeof *b);
    vx_event_t **evs = vx_arena_alloc(a, n * sizeof *evs + 1);
    if (b == NULL || evs == NULL) {
        return NULL;
    }
    vexfs__v1__event_batch__init(b);
    b->events = n ? evs : NULL;
    for (const uint8_t *p = data; p < end;) {
        s_next(&p, end, &f);
        if (f.num == S_BATCH_SEQUENCE) {
            b->batch_sequence = s_u64(&f);
        } else if (f.num == S_BATCH_SENDER) {
            struct s_mem m = {.a = a};
            if (!s_str(&m, &f, &b->sender)) {
                return NULL;
            }
        } else {
            if (b->n_events < max) {
                spans[b->n_events] = (struct vx_span){.data = f.v, .len = f.len};
            }
            evs[b->n_events] = s_event(a, f.v, f.v + f.len, hi);
            if (evs[b->n_events] == NULL) {
                return NULL;
            }
            b->n_events++;
        }
    }
    *n_spans = n <= max ? n : 0;
    return b;
}

vx_batch_t *
vx_wire_decode_checked(const void *data, size_t len, vx_arena_t *arena, unsigned *checked)
{
    *checked = 0;
    if (len > VX_WIRE_MAX_BATCH_BYTES) {
        return NULL;
    }
    size_t n_spans = 0;
    uint64_t hi = 0;
    vx_batch_t *b = s_fast(data, len, arena, NULL, 0, &n_spans, &hi);
    if (b != NULL) {
        *checked = VX_WIRE_CHECKED_BYTES |
                   ((hi & 0x8080808080808080ULL) == 0 ? VX_WIRE_CHECKED_ASCII : 0);
        return b;
    }
    return vx_wire_decode(data, len, arena);
}

vx_batch_t *
vx_wire_decode_fast(const void *data, size_t len, vx_arena_t *arena, struct vx_span *spans,
                    size_t max_spans, size_t *n_spans)
{
    *n_spans = 0;
    if (len > VX_WIRE_MAX_BATCH_BYTES) {
        return NULL;
    }
    uint64_t hi = 0;
    vx_batch_t *b = s_fast(data, len, arena, spans, max_spans, n_spans, &hi);
    if (b != NULL) {
        return b;
    }
    b = vx_wire_decode(data, len, arena);
    if (b != NULL && spans != NULL &&
        (vx_wire_event_spans(data, len, spans, max_spans, n_spans) < 0 ||
         *n_spans != b->n_events)) {
        *n_spans = 0;
    }
    return b;
}
