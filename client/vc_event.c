/* SPDX-License-Identifier: Apache-2.0 */
/* One event from the program into packed protobuf bytes: from the C struct of the public
 * header or from the README's JSON form. Both end in vx_event_validate, the rules propagation
 * applies, so an event the library takes is one propagation accepts (identity and duplicates
 * aside), and an invalid one is refused with the same message propagation would give. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vc_priv.h"
#include "vx_arena.h"
#include "vx_event.h"
#include "vx_mem.h"

/* Packs a validated event into a new buffer. */
static void
s_pack(const vx_event_t *e, uint8_t **out, size_t *len)
{
    *len = vexfs__v1__event__get_packed_size(e);
    *out = vx_malloc(*len ? *len : 1);
    vexfs__v1__event__pack(e, *out);
}

static int
s_bad(char *err, size_t errlen, const char *fmt, const char *field, const char *value)
{
    snprintf(err, errlen, fmt, field, value ? value : "");
    return -EINVAL;
}

/* Checks a map of the struct (borrowed pairs). */
static int
s_map_check(const struct vexfs_kv *kv, size_t n, const char *field, char *err, size_t errlen)
{
    if (n > VX_EVENT_MAX_FIELDS) {
        snprintf(err, errlen, "field '%s': more than %d entries", field, VX_EVENT_MAX_FIELDS);
        return -EINVAL;
    }
    if (n && !kv) {
        snprintf(err, errlen, "field '%s': %zu entries announced, none given", field, n);
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!kv[i].key || !kv[i].value) {
            snprintf(err, errlen, "field '%s': entry %zu has no %s", field, i,
                     kv[i].key ? "value" : "key");
            return -EINVAL;
        }
    }
    return 0;
}

/* Builds a checked map as protobuf entries of type Entry (content and metadata entries are two
 * C types): ents holds them, ptrs points at each; both freed by the caller. */
/* NOLINTBEGIN(bugprone-macro-parentheses): Entry is a type name */
#define S_MAP_BUILD(kv, n, Entry, init, ents, ptrs)                                             \
    do {                                                                                       \
        (ents) = vx_calloc((n) + 1, sizeof(Entry));                                            \
        (ptrs) = vx_calloc((n) + 1, sizeof(Entry *));                                          \
        for (size_t i_ = 0; i_ < (n); i_++) {                                                  \
            init(&(ents)[i_]);                                                                 \
            (ents)[i_].key = (char *)(kv)[i_].key;                                             \
            (ents)[i_].value = (char *)(kv)[i_].value;                                         \
            (ptrs)[i_] = &(ents)[i_];                                                          \
        }                                                                                      \
    } while (0)
/* NOLINTEND(bugprone-macro-parentheses) */

/* The event's scalar fields in the order of the README's event table: type, source,
 * priority, the strings, the timestamp and the id (parsed into id, which e then points to). */
static int
s_scalars(const struct vexfs_event *ev, vx_event_t *e, uint8_t id[VX_EVENT_ID_LEN], char *err,
          size_t errlen)
{
    int t = 0, b = 0;
    if (!ev->type) {
        snprintf(err, errlen, "field 'type': required");
        return -EINVAL;
    }
    if (vx_event_type_parse(ev->type, &t) < 0) {
        s_bad(err, errlen, "field '%s': unknown event type '%.64s'", "type", ev->type);
        return -EINVAL;
    }
    e->type = (Vexfs__V1__EventType)t;
    if (ev->source && vx_boundary_parse(ev->source, &b) < 0) {
        s_bad(err, errlen,
              "field '%s': unknown boundary '%.64s' (kernel_module, fuse, userspace_api, graph, "
              "vector, analytics, automation, coordinator)",
              "source", ev->source);
        return -EINVAL;
    }
    e->source = (Vexfs__V1__Boundary)b;
    if (ev->priority < 0 || ev->priority > 255) {
        snprintf(err, errlen, "field 'priority': must be 0..255, got %d", ev->priority);
        return -EINVAL;
    }
    e->priority = (uint32_t)ev->priority;
    e->path = (char *)(ev->path ? ev->path : "");
    e->custom_type = (char *)(ev->custom_type ? ev->custom_type : "");
    e->tenant = (char *)(ev->tenant ? ev->tenant : "");
    e->trace_id = (char *)(ev->trace_id ? ev->trace_id : "");
    e->timestamp_ns = ev->timestamp_ns;
    if (ev->id) {
        if (vx_event_id_parse(ev->id, id) < 0) {
            s_bad(err, errlen, "field '%s': not a 16-byte id in UUID form: '%.40s'", "id", ev->id);
            return -EINVAL;
        }
        e->id.data = id;
        e->id.len = VX_EVENT_ID_LEN;
    }
    return 0;
}

/* The causality's parent ids, parsed into *parents and *bytes (the caller frees both, also on
 * failure). */
static int
s_parents(const struct vexfs_event *ev, Vexfs__V1__Causality *causality,
          ProtobufCBinaryData **parents, uint8_t **bytes, char *err, size_t errlen)
{
    if (ev->n_parent_ids > VX_EVENT_MAX_FIELDS || !ev->parent_ids) {
        snprintf(err, errlen, "field 'causality.parent_ids': %s",
                 ev->parent_ids ? "more than 256 entries" : "entries announced, none given");
        return -EINVAL;
    }
    *parents = vx_calloc(ev->n_parent_ids, sizeof **parents);
    *bytes = vx_malloc(ev->n_parent_ids * VX_EVENT_ID_LEN);
    for (size_t i = 0; i < ev->n_parent_ids; i++) {
        uint8_t *p = *bytes + i * VX_EVENT_ID_LEN;
        if (!ev->parent_ids[i] || vx_event_id_parse(ev->parent_ids[i], p) < 0) {
            snprintf(err, errlen,
                     "field 'causality.parent_ids': entry %zu is not a 16-byte id in UUID "
                     "form",
                     i);
            return -EINVAL;
        }
        (*parents)[i].data = p;
        (*parents)[i].len = VX_EVENT_ID_LEN;
    }
    causality->n_parent_ids = ev->n_parent_ids;
    causality->parent_ids = *parents;
    return 0;
}

/* The struct's fields converted and checked in the order of the README's event table (the
 * scalars, the maps, the causality), then the whole event validated as every boundary does,
 * with one cleanup for all the arrays it builds. */
int
vc_event_pack(const struct vexfs_event *given, uint8_t **out, size_t *len, char *err,
              size_t errlen)
{
    if (!given || given->size == 0) {
        snprintf(err, errlen, "the event's size is not set: initialise it with VEXFS_EVENT_INIT");
        return -EINVAL;
    }
    /* A program built against an older header passes a shorter struct: read only that much. */
    struct vexfs_event ev = {0};
    memcpy(&ev, given, given->size < sizeof ev ? given->size : sizeof ev);

    vx_event_t e;
    vexfs__v1__event__init(&e);
    Vexfs__V1__Causality causality;
    vexfs__v1__causality__init(&causality);
    uint8_t id[VX_EVENT_ID_LEN];
    Vexfs__V1__Event__ContentEntry *cents = NULL, **cptrs = NULL;
    Vexfs__V1__Event__MetadataEntry *ments = NULL, **mptrs = NULL;
    ProtobufCBinaryData *parents = NULL;
    uint8_t *parent_bytes = NULL;
    int rc = -EINVAL;

    if (s_scalars(&ev, &e, id, err, errlen) < 0) {
        goto out;
    }
    if (s_map_check(ev.content, ev.n_content, "content", err, errlen) < 0 ||
        s_map_check(ev.metadata, ev.n_metadata, "metadata", err, errlen) < 0) {
        goto out;
    }
    S_MAP_BUILD(ev.content, ev.n_content, Vexfs__V1__Event__ContentEntry,
                vexfs__v1__event__content_entry__init, cents, cptrs);
    S_MAP_BUILD(ev.metadata, ev.n_metadata, Vexfs__V1__Event__MetadataEntry,
                vexfs__v1__event__metadata_entry__init, ments, mptrs);
    e.n_content = ev.n_content;
    e.content = cptrs;
    e.n_metadata = ev.n_metadata;
    e.metadata = mptrs;
    if (ev.n_parent_ids) {
        if (s_parents(&ev, &causality, &parents, &parent_bytes, err, errlen) < 0) {
            goto out;
        }
        e.causality = &causality;
    }
    enum vx_drop_reason reason = VX_DROP_N;
    if (vx_event_validate(&e, err, errlen, &reason) < 0) {
        goto out;
    }
    s_pack(&e, out, len);
    rc = 0;
out:
    free(cents);
    free(cptrs);
    free(ments);
    free(mptrs);
    free(parents);
    free(parent_bytes);
    return rc;
}

int
vc_event_pack_json(json_t *obj, uint8_t **out, size_t *len, char *err, size_t errlen)
{
    /* The decoded form of one event is bounded by the JSON it came from; the arena's limit
     * only guards against a programming error. */
    vx_arena_t *arena = vx_arena_new(64 * 1024, 256u * 1024 * 1024);
    vx_event_t *e = NULL;
    enum vx_drop_reason reason = VX_DROP_N;
    int rc = vx_event_from_json(obj, arena, &e, err, errlen, &reason);
    if (rc == 0) {
        rc = vx_event_validate(e, err, errlen, &reason);
    }
    if (rc == 0) {
        s_pack(e, out, len);
    }
    vx_arena_destroy(&arena);
    return rc < 0 ? -EINVAL : 0;
}
