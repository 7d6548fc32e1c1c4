/* SPDX-License-Identifier: Apache-2.0 */
/* REST routes of vexfs-automation:
 *   GET    /v1/patterns            {"patterns":[...]} as given
 *   PUT    /v1/patterns            replaces the set: [...] or {"patterns":[...]}; 422 on error
 *   POST   /v1/patterns            adds one; 409 when its id exists
 *   GET    /v1/patterns/{id}       the pattern with "stats"; 404 when unknown
 *   PUT    /v1/patterns/{id}       replaces or adds (201) one; its "id" must be {id} or absent
 *   DELETE /v1/patterns/{id}       204; 404 when unknown
 *   GET    /v1/alerts              ?since=<seq>&limit=<n> (default 100, at most 10000)
 *   GET    /v1/stats               engine totals
 * A rejected change answers {"error":{"code":"invalid_pattern","message":...}} and changes
 * nothing. Workflow, execution, breaker and state routes are in au_wf_http.c.
 *
 * Roles (au_http.c's route table): reads need viewer, changes and runs operator.
 * Tenancy: every route acts for the tenant of the caller's credential (vx_http_req_tenant);
 * X-VexFS-Tenant names one of the credential's tenants, or any for an admin acting on its
 * behalf (audited). Without one named, a credential of several tenants acts for "default"
 * when it may, else 400 tenant_required. Names are 1..64 characters of [A-Za-z0-9_.:-], else
 * 400. A tenant sees, changes and runs only its own patterns, alerts, workflows, executions,
 * state and breakers. */
#ifndef AU_HTTP_H
#define AU_HTTP_H

#include "au_server.h"
#include "vx_http.h"

#define AU_TENANT_HEADER "X-VexFS-Tenant"

/* Adds the route table to http (before it starts); server is borrowed and must outlive it.
 * Returns 0, or -EINVAL with err naming the bad row. */
int au_http_routes(vx_http_t *http, au_server_t *server, char *err, size_t errlen);
/* The route table (static), for the test that walks every route's role. */
const struct vx_http_route_def *au_http_route_table(size_t *n);
/* The workflow, execution, breaker and state handlers (au_wf_http.c), rows of the table. */
vx_http_handler_fn au_wf_http_list, au_wf_http_post, au_wf_http_put_set, au_wf_http_patch_set,
    au_wf_http_get, au_wf_http_put,
    au_wf_http_delete, au_wf_http_execute, au_wf_http_executions, au_wf_http_execution,
    au_wf_http_breakers, au_wf_http_state, au_wf_http_put_state;

/* The request's tenant (borrowed from the request, valid during the handler), or NULL after
 * answering 400 for a malformed header. */
const char *au_http_tenant(vx_http_req_t *req, struct vx_http_resp *resp);
/* Adds the ETag of a definition set (defs borrowed, identified by key; vx_etag.h). */
void au_http_set_etag(struct vx_http_resp *resp, json_t *defs, const char *key);
/* Answers a refused change (see au_http.c): -EEXIST 409, -ENOENT 404, -ESTALE 412
 * version_conflict, -E2BIG 413, anything else invalid_<what> with invalid_status. */
void au_http_refused(struct vx_http_resp *resp, int rc, const char *err, const char *what,
                     int invalid_status);
/* The body of a PUT or PATCH of a whole set: a list, or {"<what>": [...]} (what: "patterns",
 * "workflows"). Returns the list (borrowed from the request), or NULL after answering 400. */
json_t *au_http_set_body(vx_http_req_t *req, struct vx_http_resp *resp, const char *what);
/* The answer to a set changed: its ETag header and {"<what>": n, "etag": etag}. */
void au_http_set_changed(struct vx_http_resp *resp, const char *what, json_t *set,
                         const char *etag);
/* DELETE of one definition of the caller's tenant by the path's id: del(server, tenant, id)
 * (au_server_delete_pattern, au_server_delete_workflow); 204, or 404 naming what ("pattern",
 * "workflow") when there is none. */
void au_http_delete(vx_http_req_t *req, struct vx_http_resp *resp, void *arg,
                    int (*del)(au_server_t *s, const char *tenant, const char *id),
                    const char *what);
/* The body of a PUT to .../{id}: one object (what names it in the message: "pattern",
 * "workflow") whose "id", when present, is the path's id. Returns a copy with "id" set to id
 * (caller decrefs), or NULL after answering 400. */
json_t *au_http_put_body(vx_http_req_t *req, struct vx_http_resp *resp, const char *id,
                         const char *what);
/* A non-negative integer query argument; def when absent, -1 when malformed. */
long long au_http_query_uint(vx_http_req_t *req, const char *name, long long def);

/* au_http_state.c: the store's routes, called by the handlers of au_wf_http.c with the
 * request's tenant. */
void au_http_executions(vx_http_req_t *req, struct vx_http_resp *resp, au_server_t *server,
                        const char *tenant);
void au_http_get_state(struct vx_http_resp *resp, au_server_t *server, const char *tenant);
void au_http_put_state(vx_http_req_t *req, struct vx_http_resp *resp, au_server_t *server,
                       const char *tenant);
/* A time argument: Unix ns, or a duration before now_ns ("90s", "30m", "1h", "7d"). 0 or
 * -EINVAL. */
int au_http_time_arg(const char *v, uint64_t now_ns, uint64_t *out);

#endif
