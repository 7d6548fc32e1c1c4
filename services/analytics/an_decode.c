/* SPDX-License-Identifier: Apache-2.0 */
/* The fields of a packed Event that the queries read, without protobuf-c's full unpack. */
#include "an_decode.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vx_mem.h"
#include "vx_wire.h"

/* Field numbers of vexfs.v1.Event (proto/vexfs/v1/event.proto). */
enum {
    S_F_ID = 1,
    S_F_TYPE = 2,
    S_F_SOURCE = 3,
    S_F_TIMESTAMP = 4,
    S_F_PATH = 5,
    S_F_CONTENT = 6,
    S_F_METADATA = 7,
    S_F_TENANT = 8,
    S_F_PRIORITY = 9,
    S_F_PRODUCER = 10,
    S_F_SEQUENCE = 11,
    S_F_CAUSALITY = 12,
    S_F_TRACE = 13,
    S_F_INGEST = 14,
    S_F_CUSTOM_TYPE = 15,
    S_F_MAX = 15,
};

/* The wire type each field of the schema must have (protobuf-c refuses any other). */
static const uint8_t s_wire[S_F_MAX + 1] = {
    [S_F_ID] = 2,       [S_F_TYPE] = 0,     [S_F_SOURCE] = 0,   [S_F_TIMESTAMP] = 0,
    [S_F_PATH] = 2,     [S_F_CONTENT] = 2,  [S_F_METADATA] = 2, [S_F_TENANT] = 2,
    [S_F_PRIORITY] = 0, [S_F_PRODUCER] = 2, [S_F_SEQUENCE] = 0, [S_F_CAUSALITY] = 2,
    [S_F_TRACE] = 2,    [S_F_INGEST] = 0,   [S_F_CUSTOM_TYPE] = 2,
};

/* ---- the plan ------------------------------------------------------------------------------ */

static void
s_key_add(char ***keys, size_t *n, const char *key)
{
    for (size_t i = 0; i < *n; i++) {
        if (strcmp((*keys)[i], key) == 0) {
            return;
        }
    }
    *keys = vx_realloc(*keys, (*n + 1) * sizeof **keys);
    (*keys)[(*n)++] = vx_strdup(key);
}

static void
s_field_add(struct an_plan *p, const struct an_field *f)
{
    switch (f->kind) {
    case AN_FIELD_PATH:
        p->path = true;
        break;
    case AN_FIELD_TENANT:
        p->tenant = true;
        break;
    case AN_FIELD_PRIORITY:
        p->priority = true;
        break;
    case AN_FIELD_TYPE:
        p->custom_type = true; /* a custom event's type reads as its custom_type */
        break;
    case AN_FIELD_CONTENT:
        s_key_add(&p->content_keys, &p->n_content, f->key);
        break;
    case AN_FIELD_METADATA:
        s_key_add(&p->metadata_keys, &p->n_metadata, f->key);
        break;
    }
}

void
an_plan_build(struct an_plan *p, struct an_query *const *qs, size_t n)
{
    an_plan_fini(p);
    for (size_t i = 0; i < n; i++) {
        const struct an_query *q = qs[i];
        for (size_t k = 0; k < q->n_filters; k++) {
            s_field_add(p, &q->filters[k].field);
        }
        for (size_t k = 0; k < q->n_group_by; k++) {
            s_field_add(p, &q->group_by[k]);
        }
        for (size_t k = 0; k < q->n_aggs; k++) {
            if (q->aggs[k].has_field) {
                s_field_add(p, &q->aggs[k].field);
            }
        }
    }
}

void
an_plan_fini(struct an_plan *p)
{
    for (size_t i = 0; i < p->n_content; i++) {
        free(p->content_keys[i]);
    }
    for (size_t i = 0; i < p->n_metadata; i++) {
        free(p->metadata_keys[i]);
    }
    free(p->content_keys);
    free(p->metadata_keys);
    memset(p, 0, sizeof *p);
}

/* ---- decoding ------------------------------------------------------------------------------ */

/* The entries of one map that the plan reads: for each key, the value of its first entry. */
struct s_map {
    char *const *keys;
    size_t n_keys;
    struct vx_span *values; /* n_keys; data NULL: no entry yet */
    size_t found;
};

/* Reads one map entry (key = 1, value = 2, both strings; the last of each counts) and keeps
 * its value when the plan reads its key and no earlier entry had it. */
static int
s_map_entry(struct s_map *m, struct vx_span entry)
{
    const uint8_t *p = entry.data, *end = p + entry.len;
    struct vx_span key = {(const uint8_t *)"", 0}, value = {(const uint8_t *)"", 0};
    struct vx_pb_field f;
    int rc;
    while ((rc = vx_pb_next(&p, end, &f)) > 0) {
        if ((f.number == 1 || f.number == 2) && f.wire != 2) {
            return -EPROTO;
        }
        if (f.number == 1) {
            key = f.span;
        } else if (f.number == 2) {
            value = f.span;
        }
    }
    if (rc < 0) {
        return -EPROTO;
    }
    if (m->found == m->n_keys) {
        return 0;
    }
    /* A C string ends at its first NUL: compare as the full decode's strcmp would. */
    const uint8_t *nul = memchr(key.data, 0, key.len);
    size_t klen = nul ? (size_t)(nul - key.data) : key.len;
    for (size_t i = 0; i < m->n_keys; i++) {
        if (!m->values[i].data && strncmp(m->keys[i], (const char *)key.data, klen) == 0 &&
            m->keys[i][klen] == '\0') {
            m->values[i] = value;
            m->found++;
            break;
        }
    }
    return 0;
}

static struct vx_span *
s_spans(vx_arena_t *a, size_t n)
{
    struct vx_span *v = vx_arena_alloc(a, n * sizeof *v);
    if (v) {
        memset(v, 0, n * sizeof *v);
    }
    return v;
}

static char *
s_str(vx_arena_t *a, struct vx_span s)
{
    return vx_arena_strndup(a, (const char *)s.data, s.len);
}

/* Builds the entries of a map in arena memory (ContentEntry and MetadataEntry share their
 * layout, both key = 1, value = 2 strings, but each keeps its own type here). */
#define S_ENTRIES(type, init, m, arena, out, n_out)                                            \
    do {                                                                                       \
        if ((m)->found == 0) {                                                                 \
            break;                                                                             \
        }                                                                                      \
        type *ents = vx_arena_alloc((arena), (m)->found * sizeof *ents);                       \
        type **ptrs = vx_arena_alloc((arena), (m)->found * sizeof *ptrs);                      \
        if (!ents || !ptrs) {                                                                  \
            return -ENOMEM;                                                                    \
        }                                                                                      \
        size_t k = 0;                                                                          \
        for (size_t i = 0; i < (m)->n_keys; i++) {                                             \
            if (!(m)->values[i].data) {                                                        \
                continue;                                                                      \
            }                                                                                  \
            init(&ents[k]);                                                                    \
            ents[k].key = (m)->keys[i];                                                        \
            ents[k].value = s_str((arena), (m)->values[i]);                                    \
            if (!ents[k].value) {                                                              \
                return -ENOMEM;                                                                \
            }                                                                                  \
            ptrs[k] = &ents[k];                                                                \
            k++;                                                                               \
        }                                                                                      \
        (out) = ptrs;                                                                          \
        (n_out) = k;                                                                           \
    } while (0)

/* Why one walk with spans: the queries read a handful of fields, and protobuf-c's unpack
 * allocates and copies every field and map entry of every event (most of the daemon's time
 * per event before this). Strings are copied only once the walk is over, and only the last
 * occurrence of each (protobuf's rule for a repeated singular field). */
int
an_decode_event(const struct an_plan *plan, const uint8_t *data, size_t len, vx_event_t *ev,
                vx_arena_t *arena)
{
    vexfs__v1__event__init(ev);
    struct vx_span path = {0}, tenant = {0}, custom = {0};
    struct s_map content = {plan->content_keys, plan->n_content, NULL, 0};
    struct s_map meta = {plan->metadata_keys, plan->n_metadata, NULL, 0};
    if ((plan->n_content && !(content.values = s_spans(arena, plan->n_content))) ||
        (plan->n_metadata && !(meta.values = s_spans(arena, plan->n_metadata)))) {
        return -ENOMEM;
    }
    const uint8_t *p = data, *end = data + len;
    struct vx_pb_field f;
    int rc;
    while ((rc = vx_pb_next(&p, end, &f)) > 0) {
        if (f.number > S_F_MAX || f.number == 0) {
            continue; /* a field of a newer schema */
        }
        if (f.wire != s_wire[f.number]) {
            return -EPROTO;
        }
        switch (f.number) {
        case S_F_TYPE:
            ev->type = (Vexfs__V1__EventType)(int32_t)(uint32_t)f.value;
            break;
        case S_F_TIMESTAMP:
            ev->timestamp_ns = f.value;
            break;
        case S_F_INGEST:
            ev->ingest_ns = f.value;
            break;
        case S_F_PRIORITY:
            ev->priority = (uint32_t)f.value;
            break;
        case S_F_PATH:
            path = f.span;
            break;
        case S_F_TENANT:
            tenant = f.span;
            break;
        case S_F_CUSTOM_TYPE:
            custom = f.span;
            break;
        case S_F_CONTENT:
            if (plan->n_content && s_map_entry(&content, f.span) < 0) {
                return -EPROTO;
            }
            break;
        case S_F_METADATA:
            if (plan->n_metadata && s_map_entry(&meta, f.span) < 0) {
                return -EPROTO;
            }
            break;
        default:
            break; /* a field no query reads */
        }
    }
    if (rc < 0) {
        return -EPROTO;
    }
    if (plan->path && path.data && !(ev->path = s_str(arena, path))) {
        return -ENOMEM;
    }
    if (plan->tenant && tenant.data && !(ev->tenant = s_str(arena, tenant))) {
        return -ENOMEM;
    }
    if (plan->custom_type && custom.data && !(ev->custom_type = s_str(arena, custom))) {
        return -ENOMEM;
    }
    S_ENTRIES(Vexfs__V1__Event__ContentEntry, vexfs__v1__event__content_entry__init, &content,
              arena, ev->content, ev->n_content);
    S_ENTRIES(Vexfs__V1__Event__MetadataEntry, vexfs__v1__event__metadata_entry__init, &meta,
              arena, ev->metadata, ev->n_metadata);
    return 0;
}
