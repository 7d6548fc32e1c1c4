/* SPDX-License-Identifier: Apache-2.0 */
/* The fields of a packed Event that the queries read, without protobuf-c's full unpack. */
#include "an_decode.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vx_mem.h"
#include "vx_wire.h"

/* The wire type each field of the schema must have (protobuf-c refuses any other). */
static const enum vx_pb_wire s_wire[VX_PB_EVENT_CUSTOM_TYPE + 1] = {
    [VX_PB_EVENT_ID] = VX_PB_LEN,           [VX_PB_EVENT_TYPE] = VX_PB_VARINT,
    [VX_PB_EVENT_SOURCE] = VX_PB_VARINT,    [VX_PB_EVENT_TIMESTAMP_NS] = VX_PB_VARINT,
    [VX_PB_EVENT_PATH] = VX_PB_LEN,         [VX_PB_EVENT_CONTENT] = VX_PB_LEN,
    [VX_PB_EVENT_METADATA] = VX_PB_LEN,     [VX_PB_EVENT_TENANT] = VX_PB_LEN,
    [VX_PB_EVENT_PRIORITY] = VX_PB_VARINT,  [VX_PB_EVENT_PRODUCER_ID] = VX_PB_LEN,
    [VX_PB_EVENT_SEQUENCE] = VX_PB_VARINT,  [VX_PB_EVENT_CAUSALITY] = VX_PB_LEN,
    [VX_PB_EVENT_TRACE_ID] = VX_PB_LEN,     [VX_PB_EVENT_INGEST_NS] = VX_PB_VARINT,
    [VX_PB_EVENT_CUSTOM_TYPE] = VX_PB_LEN,
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
        p->tenant = p->tenant || q->tenant; /* a tenant's query reads the event's tenant */
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
    char **keys;            /* the plan's */
    size_t *klen;
    size_t n_keys;
    struct vx_span *values; /* n_keys; data NULL: no entry yet */
    size_t *order;          /* the keys found, in the order found */
    size_t found;
};

struct an_decoder {
    struct an_plan plan;
    struct s_map content, meta;
    Vexfs__V1__Event__ContentEntry *cents, **cptrs;
    Vexfs__V1__Event__MetadataEntry *ments, **mptrs;
    char *buf;              /* the strings of the event being decoded */
    size_t cap;
};

static void
s_map_init(struct s_map *m, char **keys, size_t n)
{
    free(m->klen);
    free(m->values);
    free(m->order);
    m->keys = keys;
    m->n_keys = n;
    m->found = 0;
    m->klen = vx_calloc(n ? n : 1, sizeof *m->klen);
    m->values = vx_calloc(n ? n : 1, sizeof *m->values);
    m->order = vx_calloc(n ? n : 1, sizeof *m->order);
    for (size_t i = 0; i < n; i++) {
        m->klen[i] = strlen(keys[i]);
    }
}

an_decoder_t *
an_decoder_new(void)
{
    an_decoder_t *d = vx_calloc(1, sizeof *d);
    an_decoder_plan(d, NULL, 0);
    return d;
}

void
an_decoder_destroy(an_decoder_t **dp)
{
    an_decoder_t *d = *dp;
    if (!d) {
        return;
    }
    an_plan_fini(&d->plan);
    free(d->content.klen);
    free(d->content.values);
    free(d->content.order);
    free(d->meta.klen);
    free(d->meta.values);
    free(d->meta.order);
    free(d->cents);
    free(d->cptrs);
    free(d->ments);
    free(d->mptrs);
    free(d->buf);
    free(d);
    *dp = NULL;
}

void
an_decoder_plan(an_decoder_t *d, struct an_query *const *qs, size_t n)
{
    an_plan_build(&d->plan, qs, n);
    s_map_init(&d->content, d->plan.content_keys, d->plan.n_content);
    s_map_init(&d->meta, d->plan.metadata_keys, d->plan.n_metadata);
    size_t nc = d->plan.n_content ? d->plan.n_content : 1;
    size_t nm = d->plan.n_metadata ? d->plan.n_metadata : 1;
    d->cents = vx_realloc(d->cents, nc * sizeof *d->cents);
    d->cptrs = vx_realloc(d->cptrs, nc * sizeof *d->cptrs);
    d->ments = vx_realloc(d->ments, nm * sizeof *d->ments);
    d->mptrs = vx_realloc(d->mptrs, nm * sizeof *d->mptrs);
    for (size_t i = 0; i < d->plan.n_content; i++) {
        vexfs__v1__event__content_entry__init(&d->cents[i]);
    }
    for (size_t i = 0; i < d->plan.n_metadata; i++) {
        vexfs__v1__event__metadata_entry__init(&d->ments[i]);
    }
}

const struct an_plan *
an_decoder_get_plan(const an_decoder_t *d)
{
    return &d->plan;
}

/* Reads one map entry (key = 1, value = 2, both strings; the last of each counts) and keeps
 * its value when the plan reads its key and no earlier entry had it. */
static int
s_map_entry(struct s_map *m, struct vx_span entry)
{
    struct vx_span key = {(const uint8_t *)"", 0}, value = {(const uint8_t *)"", 0};
    const uint8_t *e = entry.data;
    size_t n = entry.len;
    /* The layout every encoder writes for short strings: key tag, 1-byte length, key, value
     * tag, 1-byte length, value and nothing else. Anything else goes through the walker. */
    if (n >= 4 && e[0] == (VX_PB_MAP_KEY << 3 | VX_PB_LEN) && e[1] < 0x80 &&
        (size_t)e[1] + 4 <= n && e[2 + e[1]] == (VX_PB_MAP_VALUE << 3 | VX_PB_LEN) &&
        e[3 + e[1]] < 0x80 && (size_t)e[1] + e[3 + e[1]] + 4 == n) {
        key = (struct vx_span){e + 2, e[1]};
        value = (struct vx_span){e + 4 + e[1], e[3 + e[1]]};
    } else {
        struct vx_pb_reader r = {e, e + n};
        struct vx_pb_field f;
        int rc;
        while ((rc = vx_pb_next(&r, &f)) > 0) {
            if (f.number == VX_PB_MAP_KEY || f.number == VX_PB_MAP_VALUE) {
                if (f.wire != VX_PB_LEN) {
                    return -EPROTO;
                }
                *(f.number == VX_PB_MAP_KEY ? &key : &value) = f.bytes;
            }
        }
        if (rc < 0) {
            return -EPROTO;
        }
    }
    if (m->found == m->n_keys) {
        return 0;
    }
    /* A C string ends at its first NUL, so the key reads as plan key k (which has none) when
     * its bytes start with k and end there or continue with a NUL: what the full decode's
     * strcmp would say. */
    for (size_t i = 0; i < m->n_keys; i++) {
        size_t kl = m->klen[i];
        if (key.len >= kl && !m->values[i].data && (key.len == kl || key.data[kl] == 0) &&
            memcmp(m->keys[i], key.data, kl) == 0) {
            m->values[i] = value;
            m->order[m->found++] = i;
            break;
        }
    }
    return 0;
}

/* Copies s into the decoder's buffer as a C string (room was made beforehand). */
static char *
s_str(an_decoder_t *d, size_t *used, struct vx_span s)
{
    char *out = d->buf + *used;
    memcpy(out, s.data, s.len);
    out[s.len] = '\0';
    *used += s.len + 1;
    return out;
}

static size_t
s_map_bytes(const struct s_map *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->found; i++) {
        n += m->values[m->order[i]].len + 1;
    }
    return n;
}

/* Forgets the previous event's entries. */
static void
s_map_reset(struct s_map *m)
{
    for (size_t i = 0; i < m->found; i++) {
        m->values[m->order[i]].data = NULL;
    }
    m->found = 0;
}

/* Why one walk with spans, then one copy: the queries read a handful of fields, and
 * protobuf-c's unpack allocates and copies every field and map entry of every event (most of
 * the daemon's time per event before this). The walk records where the fields the plan reads
 * are (the last occurrence of a singular field, protobuf's rule; the first entry of a map key,
 * as an_field_text finds it); then their total size is known, the buffer grows once if it must,
 * and the strings are copied into it. */
int
an_decoder_decode(an_decoder_t *d, const uint8_t *data, size_t len, vx_event_t *ev)
{
    const struct an_plan *plan = &d->plan;
    vexfs__v1__event__init(ev);
    struct vx_span path = {0}, tenant = {0}, custom = {0};
    s_map_reset(&d->content);
    s_map_reset(&d->meta);
    struct vx_pb_reader r = {data, data + len};
    struct vx_pb_field f;
    int rc;
    while ((rc = vx_pb_next(&r, &f)) > 0) {
        if (f.number > VX_PB_EVENT_CUSTOM_TYPE) {
            continue; /* a field of a newer schema */
        }
        if (f.wire != s_wire[f.number]) {
            return -EPROTO;
        }
        switch (f.number) {
        case VX_PB_EVENT_TYPE:
            ev->type = (Vexfs__V1__EventType)(int32_t)(uint32_t)f.value;
            break;
        case VX_PB_EVENT_TIMESTAMP_NS:
            ev->timestamp_ns = f.value;
            break;
        case VX_PB_EVENT_INGEST_NS:
            ev->ingest_ns = f.value;
            break;
        case VX_PB_EVENT_PRIORITY:
            ev->priority = (uint32_t)f.value;
            break;
        case VX_PB_EVENT_PATH:
            path = f.bytes;
            break;
        case VX_PB_EVENT_TENANT:
            tenant = f.bytes;
            break;
        case VX_PB_EVENT_CUSTOM_TYPE:
            custom = f.bytes;
            break;
        case VX_PB_EVENT_CONTENT:
            if (d->content.n_keys && s_map_entry(&d->content, f.bytes) < 0) {
                return -EPROTO;
            }
            break;
        case VX_PB_EVENT_METADATA:
            if (d->meta.n_keys && s_map_entry(&d->meta, f.bytes) < 0) {
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
    path.data = plan->path ? path.data : NULL;
    tenant.data = plan->tenant ? tenant.data : NULL;
    custom.data = plan->custom_type ? custom.data : NULL;
    size_t need = s_map_bytes(&d->content) + s_map_bytes(&d->meta) +
                  (path.data ? path.len + 1 : 0) + (tenant.data ? tenant.len + 1 : 0) +
                  (custom.data ? custom.len + 1 : 0);
    if (need > d->cap) {
        d->cap = need > 2 * d->cap ? need : 2 * d->cap;
        free(d->buf);
        d->buf = vx_malloc(d->cap);
    }
    size_t used = 0;
    if (path.data) {
        ev->path = s_str(d, &used, path);
    }
    if (tenant.data) {
        ev->tenant = s_str(d, &used, tenant);
    }
    if (custom.data) {
        ev->custom_type = s_str(d, &used, custom);
    }
    for (size_t i = 0; i < d->content.found; i++) {
        size_t k = d->content.order[i];
        Vexfs__V1__Event__ContentEntry *e = &d->cents[i];
        e->key = d->content.keys[k];
        e->value = s_str(d, &used, d->content.values[k]);
        d->cptrs[i] = e;
    }
    ev->n_content = d->content.found;
    for (size_t i = 0; i < d->meta.found; i++) {
        size_t k = d->meta.order[i];
        Vexfs__V1__Event__MetadataEntry *e = &d->ments[i];
        e->key = d->meta.keys[k];
        e->value = s_str(d, &used, d->meta.values[k]);
        d->mptrs[i] = e;
    }
    ev->n_metadata = d->meta.found;
    ev->content = ev->n_content ? d->cptrs : NULL;
    ev->metadata = ev->n_metadata ? d->mptrs : NULL;
    return 0;
}
