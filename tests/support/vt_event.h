/* SPDX-License-Identifier: Apache-2.0 */
/* Events built on the stack for engine tests: the event and its map entries in one struct, so
 * a test needs no allocation. Header-only (Check's assertions fail the calling test). */
#ifndef VT_EVENT_H
#define VT_EVENT_H

#include <check.h>
#include <stdint.h>
#include <string.h>

#include "vx_event.h"

#define VT_TEV_MAX_FIELDS 8

struct vt_tev {
    vx_event_t ev;
    Vexfs__V1__Event__ContentEntry ce[VT_TEV_MAX_FIELDS];
    Vexfs__V1__Event__ContentEntry *cp[VT_TEV_MAX_FIELDS];
    Vexfs__V1__Event__MetadataEntry me[VT_TEV_MAX_FIELDS];
    Vexfs__V1__Event__MetadataEntry *mp[VT_TEV_MAX_FIELDS];
    uint8_t id[16];
};

/* An event of TYPE (a name vx_event_type_parse knows; NULL for the zero type) on PATH (NULL
 * for ""), with no content, metadata or id. */
static inline void
vt_tev_init(struct vt_tev *t, const char *type, const char *path)
{
    memset(t, 0, sizeof *t);
    vexfs__v1__event__init(&t->ev);
    int ty = 0;
    if (type != NULL) {
        ck_assert_msg(vx_event_type_parse(type, &ty) == 0, "bad type %s", type);
    }
    t->ev.type = (Vexfs__V1__EventType)ty;
    t->ev.path = (char *)(path ? path : "");
    t->ev.content = t->cp;
    t->ev.metadata = t->mp;
}

/* Adds content K=V (both borrowed: they must outlive the event). */
static inline void
vt_tev_content(struct vt_tev *t, const char *k, const char *v)
{
    size_t i = t->ev.n_content++;
    ck_assert_uint_lt(i, VT_TEV_MAX_FIELDS);
    vexfs__v1__event__content_entry__init(&t->ce[i]);
    t->ce[i].key = (char *)k;
    t->ce[i].value = (char *)v;
    t->cp[i] = &t->ce[i];
}

/* Adds metadata K=V (both borrowed). */
static inline void
vt_tev_meta(struct vt_tev *t, const char *k, const char *v)
{
    size_t i = t->ev.n_metadata++;
    ck_assert_uint_lt(i, VT_TEV_MAX_FIELDS);
    vexfs__v1__event__metadata_entry__init(&t->me[i]);
    t->me[i].key = (char *)k;
    t->me[i].value = (char *)v;
    t->mp[i] = &t->me[i];
}

/* Gives the event a 16-byte id made of N. */
static inline void
vt_tev_id(struct vt_tev *t, uint64_t n)
{
    memset(t->id, 0, sizeof t->id);
    memcpy(t->id, &n, sizeof n);
    t->ev.id.data = t->id;
    t->ev.id.len = sizeof t->id;
}

#endif
