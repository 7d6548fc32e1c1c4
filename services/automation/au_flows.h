/* SPDX-License-Identifier: Apache-2.0 */
/* The workflow registry: definitions per tenant, and the triggers that pick workflows for a
 * pattern match, an input event or a state change.
 *
 * A workflow belongs to one tenant; (tenant, id) is unique and no call of one tenant sees
 * another's. Thread-safe (one mutex); workflows handed out carry a reference. */
#ifndef AU_FLOWS_H
#define AU_FLOWS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "au_workflow.h"
#include "vx_etag.h"
#include "vx_event.h"

#define AU_MAX_WORKFLOWS 10000
#define AU_FLOWS_MAX_FIRE 64  /* workflows one trigger may start at once */

typedef struct au_flows au_flows_t;

/* An empty registry; caller owns it. */
au_flows_t *au_flows_new(void);
/* Drops every definition (executions keep their references). Accepts NULL; sets *f to NULL. */
void au_flows_destroy(au_flows_t **f);

/* How a definition is stored when its id exists: refused, or in place of the old one. */
enum au_put_mode { AU_PUT_ADD = 0, AU_PUT_REPLACE };

/* Validates def (borrowed; the registry keeps its own copy) and stores it for tenant.
 * AU_PUT_ADD adds (-EEXIST when the id exists), AU_PUT_REPLACE replaces or adds (*created, may
 * be NULL, says which). Returns 0, -EINVAL (err), -EEXIST, -E2BIG. */
int au_flows_put(au_flows_t *f, json_t *def, const char *tenant, enum au_put_mode mode,
                 bool *created, char *err, size_t errlen);
/* Changes tenant's workflows in one step: defs (borrowed, an array) replace the tenant's set,
 * or with merge each replaces the workflow with its id or is added (no other changes). Every
 * definition is validated first; a refused one is named in err ("workflows[N] (id "x"):
 * why", -EINVAL) and nothing changes. A definition equal to the stored one keeps its trigger
 * state. if_match (NULL: none) is an If-Match header checked against the tag of the tenant's
 * set (vx_etag.h): -ESTALE when it moved. etag: the set's tag afterwards (or the current one
 * on -ESTALE). Returns 0, -EINVAL, -ESTALE, -E2BIG. */
int au_flows_change(au_flows_t *f, const char *tenant, json_t *defs, bool merge,
                    const char *if_match, char etag[VX_ETAG_LEN], char *err, size_t errlen);
/* 0 or -ENOENT. */
int au_flows_delete(au_flows_t *f, const char *tenant, const char *id);
/* The workflow with a reference (caller unrefs), or NULL. */
struct au_workflow *au_flows_get(au_flows_t *f, const char *tenant, const char *id);
/* Definitions of tenant as given (new reference, an array). */
json_t *au_flows_list(au_flows_t *f, const char *tenant);
/* Every workflow in the persisted form [{"tenant":..,"workflow":{...}}] (new reference). */
json_t *au_flows_dump(au_flows_t *f);
/* Loads the persisted form, or plain workflow objects (tenant "default"), into an empty
 * registry; all or nothing. Returns 0 or -EINVAL with err. doc is an array, an object
 * {"workflows":[...]}, or one workflow. */
int au_flows_load(au_flows_t *f, json_t *doc, char *err, size_t errlen);
size_t au_flows_count(au_flows_t *f);

/* True when any workflow has a pattern trigger (a cheap test before each match's lookup). */
bool au_flows_has_pattern_triggers(au_flows_t *f);
/* Triggers: fill out with referenced workflows to start (at most max); return how many. */
size_t au_flows_on_pattern(au_flows_t *f, const char *tenant, const char *pattern,
                           struct au_workflow **out, size_t max);
/* ev's tenant is its "tenant" field, "default" when empty. True when any workflow has an
 * event trigger (a cheap test before building the event's JSON). */
bool au_flows_has_event_triggers(au_flows_t *f);
size_t au_flows_on_event(au_flows_t *f, const vx_event_t *ev, struct au_workflow **out,
                         size_t max);
/* A state value changed (value borrowed): the state triggers of tenant on path that start to
 * hold fire (see au_workflow.h for the tolerance). */
size_t au_flows_on_state(au_flows_t *f, const char *tenant, const char *path, json_t *value,
                         struct au_workflow **out, size_t max);

#endif
