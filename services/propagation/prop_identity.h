/* SPDX-License-Identifier: Apache-2.0 */
/* Producer identities: what each CURVE identity may claim in the events it sends to
 * propagation's ingest (the sources and tenants), and the tenant stamped where an event names
 * none.
 *
 * The identity of a batch is the name its sender's key has in propagation's authorized/
 * folder (vx_sock.h). The policy comes from producer_identities_file (YAML or JSON):
 *
 *     producers:
 *       forwarder:  {sources: [kernel_module], tenants: ["*"], default_tenant: default}
 *       acme-app:   {sources: [userspace_api], tenants: [acme], default_tenant: acme}
 *
 * "*" allows any value. An identity the file does not list may send nothing. Without a file
 * the suite's own producers get their natural source and any tenant (forwarder: kernel_module,
 * fuse: fuse, watch: userspace_api, automation: automation, analytics: analytics,
 * coordinator: coordinator) and ctl any source and tenant; any other identity nothing.
 * Events from plain (non-CURVE) links and from REST carry no identity and are not checked
 * here. */
#ifndef PROP_IDENTITY_H
#define PROP_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>

#include "vx_event.h"

typedef struct prop_identities prop_identities_t;

/* Loads path ("": the built-in policy). Returns NULL with a message naming the file and the
 * entry in err. */
prop_identities_t *prop_identities_load(const char *path, char *err, size_t errlen);
void prop_identities_destroy(prop_identities_t **p);

/* One identity's rules, or NULL when it may send nothing. Borrowed, valid while p lives. */
const struct prop_identity *prop_identities_find(const prop_identities_t *p, const char *name);

/* Whether e may be sent by id; why receives the claim refused. */
bool prop_identity_allows(const struct prop_identity *id, const vx_event_t *e, char *why,
                          size_t whylen);
/* The tenant to stamp on an event that names none ("" when none). */
const char *prop_identity_default_tenant(const struct prop_identity *id);

#endif
