/* SPDX-License-Identifier: Apache-2.0 */
/* REST routes for workflows, executions, circuit breakers and state, per tenant
 * (X-VexFS-Tenant, see au_http.h):
 *   GET    /v1/workflows                {"workflows":[...definitions as given...]}
 *   POST   /v1/workflows                adds one: 201 {"id":..}; 400 invalid_workflow; 409;
 *                                       403 inline_script_forbidden (inline script content
 *                                       without allow_inline_scripts or an admin credential)
 *   PUT    /v1/workflows                the tenant's whole set, one step; If-Match: 412
 *   PATCH  /v1/workflows                creates or updates those given, one step; If-Match
 *   GET    /v1/workflows/{id}           the definition; 404
 *   PUT    /v1/workflows/{id}           replaces (200) or adds (201); "id" must be {id} or absent
 *   DELETE /v1/workflows/{id}           204; 404 (running executions finish)
 *   POST   /v1/workflows/{id}/execute   body = the input (any JSON; empty: null): 202
 *                                       {"execution":id}; 404; 409 disabled; 429 queue full
 *   GET    /v1/executions               ?status=&workflow=&since=&until=&cursor=&limit= (default
 *                                       100, 1..10000), newest first; next_cursor pages on
 *   GET    /v1/executions/{id}          the full record; 404
 *   GET    /v1/breakers                 the tenant's circuit breakers, one per action target
 *   GET    /v1/state                    the tenant's state {"state":{...}}
 *   PUT    /v1/state/{path}             {"value":..}: commits it (state triggers run); 204;
 *                                       507 store_full */
#include <errno.h>
#include <string.h>

#include "au_http.h"
#include "vx_clock.h"

static void
s_refused(struct vx_http_resp *resp, int rc, const char *err)
{
    au_http_refused(resp, rc, err, "workflow", 400);
}

void
au_wf_http_list(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    const char *tenant = au_http_tenant(req, resp);
    if (tenant != NULL) {
        json_t *mine = au_flows_list(au_server_flows(arg), tenant);
        au_http_set_etag(resp, mine, "id");
        resp->json = json_pack("{s:o}", "workflows", mine);
    }
}

/* Inline script content is stored only where allow_inline_scripts admits it, and only from an
 * admin credential: it runs whatever its author wrote, as the scripts' user. Answers 403 and
 * returns false when def (valid or not: an invalid one is answered by the put) is refused. */
static bool
s_inline_allowed(vx_http_req_t *req, struct vx_http_resp *resp, au_server_t *server,
                 const char *tenant, json_t *def)
{
    struct au_workflow *w = NULL;
    char err[256];
    if (au_workflow_parse(def, tenant, &w, err, sizeof err) < 0) {
        return true;
    }
    bool inl = w->inline_scripts;
    au_workflow_unref(&w);
    if (!inl) {
        return true;
    }
    if (!au_server_act_policy(server)->allow_inline) {
        vx_http_error(resp, 403, "inline_script_forbidden",
                      "inline script content is off (reactive_automation.allow_inline_scripts): "
                      "name a script of scripts_dir (\"script\": \"name\")");
        return false;
    }
    if (vx_http_req_role(req) < VX_ROLE_ADMIN) {
        vx_http_error(resp, 403, "inline_script_forbidden",
                      "inline script content needs an admin credential; name a script of "
                      "scripts_dir (\"script\": \"name\")");
        return false;
    }
    return true;
}

/* PUT /v1/workflows replaces the tenant's set, PATCH (merge) creates or updates the workflows
 * given and leaves the others; the body is a list or {"workflows":[...]}. One step, all or
 * nothing, after If-Match; inline script content is refused as for one workflow. */
static void
s_change(vx_http_req_t *req, struct vx_http_resp *resp, void *arg, bool merge)
{
    const char *tenant = au_http_tenant(req, resp);
    if (tenant == NULL) {
        return;
    }
    json_t *arr = au_http_set_body(req, resp, "workflows");
    if (arr == NULL) {
        return;
    }
    size_t i;
    json_t *def;
    json_array_foreach(arr, i, def) {
        if (json_is_object(def) && !s_inline_allowed(req, resp, arg, tenant, def)) {
            return;
        }
    }
    char err[1280], etag[VX_ETAG_LEN];
    int rc = au_server_change_workflows(arg, tenant, arr, merge,
                                        vx_http_req_header(req, "If-Match"), etag, err,
                                        sizeof err);
    if (rc < 0) {
        s_refused(resp, rc, err);
        return;
    }
    au_http_set_changed(resp, "workflows", arr, etag);
}

void
au_wf_http_put_set(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    s_change(req, resp, arg, false);
}

void
au_wf_http_patch_set(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    s_change(req, resp, arg, true);
}

void
au_wf_http_post(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    const char *tenant = au_http_tenant(req, resp);
    if (tenant == NULL) {
        return;
    }
    json_t *body = vx_http_req_json(req);
    if (!json_is_object(body)) {
        vx_http_error(resp, 400, "invalid_body", "expected one workflow (a JSON object)");
        return;
    }
    if (!s_inline_allowed(req, resp, arg, tenant, body)) {
        return;
    }
    char err[1024];
    int rc = au_server_put_workflow(arg, tenant, body, AU_PUT_ADD, NULL, err, sizeof err);
    if (rc < 0) {
        s_refused(resp, rc, err);
        return;
    }
    resp->status = 201;
    resp->json = json_pack("{s:O}", "id", json_object_get(body, "id"));
}

void
au_wf_http_get(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    const char *tenant = au_http_tenant(req, resp);
    if (tenant == NULL) {
        return;
    }
    const char *id = vx_http_req_param(req, "id");
    struct au_workflow *w = au_flows_get(au_server_flows(arg), tenant, id);
    if (w == NULL) {
        vx_http_error(resp, 404, "not_found", "no workflow with id \"%.128s\"", id);
        return;
    }
    resp->json = json_deep_copy(w->json);
    au_workflow_unref(&w);
}

void
au_wf_http_put(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    const char *tenant = au_http_tenant(req, resp);
    if (tenant == NULL) {
        return;
    }
    const char *id = vx_http_req_param(req, "id");
    json_t *w = au_http_put_body(req, resp, id, "workflow");
    if (w == NULL) {
        return;
    }
    if (!s_inline_allowed(req, resp, arg, tenant, w)) {
        json_decref(w);
        return;
    }
    char err[1024];
    bool created = false;
    int rc = au_server_put_workflow(arg, tenant, w, AU_PUT_REPLACE, &created, err, sizeof err);
    json_decref(w);
    if (rc < 0) {
        s_refused(resp, rc, err);
        return;
    }
    resp->status = created ? 201 : 200;
    resp->json = json_pack("{s:s}", "id", id);
}

void
au_wf_http_delete(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    au_http_delete(req, resp, arg, au_server_delete_workflow, "workflow");
}

void
au_wf_http_execute(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    const char *tenant = au_http_tenant(req, resp);
    if (tenant == NULL) {
        return;
    }
    const char *id = vx_http_req_param(req, "id");
    char eid[AU_EXEC_ID_LEN];
    int rc = au_server_execute(arg, tenant, id, vx_http_req_json(req), eid);
    switch (rc) {
    case 0:
        resp->status = 202;
        resp->json = json_pack("{s:s, s:s}", "execution", eid, "status", "queued");
        break;
    case -ENOENT:
        vx_http_error(resp, 404, "not_found", "no workflow with id \"%.128s\"", id);
        break;
    case -EPERM:
        vx_http_error(resp, 409, "disabled", "workflow \"%.128s\" is disabled", id);
        break;
    case -EAGAIN:
        vx_http_error(resp, 429, "queue_full",
                      "the execution queue is full (max_queued_workflows); try again later");
        break;
    default:
        vx_http_error(resp, 503, "stopping", "the daemon is shutting down");
        break;
    }
}

void
au_wf_http_executions(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    const char *tenant = au_http_tenant(req, resp);
    if (tenant == NULL) {
        return;
    }
    au_http_executions(req, resp, arg, tenant);
}

void
au_wf_http_execution(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    const char *tenant = au_http_tenant(req, resp);
    if (tenant == NULL) {
        return;
    }
    const char *id = vx_http_req_param(req, "id");
    json_t *r = au_exec_get(au_server_exec(arg), tenant, id);
    if (r == NULL) {
        vx_http_error(resp, 404, "not_found", "no execution with id \"%.64s\"", id);
        return;
    }
    resp->json = r;
}

void
au_wf_http_breakers(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    const char *tenant = au_http_tenant(req, resp);
    if (tenant != NULL) {
        resp->json = au_breakers_json(au_server_breakers(arg), tenant, vx_mono_ns());
    }
}

void
au_wf_http_state(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    const char *tenant = au_http_tenant(req, resp);
    if (tenant != NULL) {
        au_http_get_state(resp, arg, tenant);
    }
}

void
au_wf_http_put_state(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    const char *tenant = au_http_tenant(req, resp);
    if (tenant == NULL) {
        return;
    }
    au_http_put_state(req, resp, arg, tenant);
}
