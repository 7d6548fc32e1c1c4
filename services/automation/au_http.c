/* SPDX-License-Identifier: Apache-2.0 */
/* REST routes for patterns and alerts (see au_http.h). */
#include "au_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_DEFAULT_LIMIT 100
#define S_MAX_LIMIT 10000

/* The tenant a request acts for comes from its credential (vx_http_req_tenant): the header
 * is honoured only for a credential that may act for the tenant it names. A credential of
 * several tenants that names none acts for "default" when it may, else it must name one. */
const char *
au_http_tenant(vx_http_req_t *req, struct vx_http_resp *resp)
{
    const char *t = vx_http_req_tenant(req);
    if (t == NULL || t[0] == '\0') {
        if (!vx_http_req_tenant_allowed(req, "default")) {
            vx_http_error(resp, 400, "tenant_required",
                          AU_TENANT_HEADER ": the credential acts for several tenants and "
                                           "not for \"default\"; name one");
            return NULL;
        }
        return "default";
    }
    size_t n = strlen(t);
    bool ok = n <= 64;
    for (size_t i = 0; i < n && ok; i++) {
        char c = t[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '-' || c == '.' || c == ':';
    }
    if (!ok) {
        vx_http_error(resp, 400, "invalid_tenant",
                      AU_TENANT_HEADER ": expected 1..64 characters of [A-Za-z0-9_.:-]");
        return NULL;
    }
    return t;
}

/* Answers a refused change of a `what` ("pattern", "workflow") with the status its code
 * stands for; a definition that does not validate gets invalid_status. */
void
au_http_refused(struct vx_http_resp *resp, int rc, const char *err, const char *what,
                int invalid_status)
{
    switch (rc) {
    case -EEXIST:
        vx_http_error(resp, 409, "exists", "%s", err);
        break;
    case -ENOENT:
        vx_http_error(resp, 404, "not_found", "%s", err);
        break;
    case -ESTALE:
        vx_http_error(resp, 412, "version_conflict", "%s", err);
        break;
    case -E2BIG: {
        char code[48];
        snprintf(code, sizeof code, "too_many_%ss", what);
        vx_http_error(resp, 413, code, "%s", err);
        break;
    }
    default: {
        char code[48];
        snprintf(code, sizeof code, "invalid_%s", what);
        vx_http_error(resp, invalid_status, code, "%s", err);
        break;
    }
    }
}

void
au_http_set_etag(struct vx_http_resp *resp, json_t *defs, const char *key)
{
    char etag[VX_ETAG_LEN];
    vx_etag_of(defs, key, etag);
    vx_http_resp_header(resp, "ETag", "%s", etag);
}

static void
s_refused(struct vx_http_resp *resp, int rc, const char *err)
{
    au_http_refused(resp, rc, err, "pattern", 422);
}

static void
cb_get_patterns(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    const char *tenant = au_http_tenant(req, resp);
    if (tenant == NULL) {
        return;
    }
    json_t *mine = au_server_tenant_patterns_json(arg, tenant);
    au_http_set_etag(resp, mine, "id");
    resp->json = json_pack("{s:o}", "patterns", mine);
}

json_t *
au_http_set_body(vx_http_req_t *req, struct vx_http_resp *resp, const char *what)
{
    json_t *body = vx_http_req_json(req);
    json_t *arr = json_is_object(body) ? json_object_get(body, what) : body;
    if (!json_is_array(arr)) {
        vx_http_error(resp, 400, "invalid_body", "expected a list of %s, or {\"%s\":[...]}", what,
                      what);
        return NULL;
    }
    return arr;
}

void
au_http_set_changed(struct vx_http_resp *resp, const char *what, json_t *set, const char *etag)
{
    vx_http_resp_header(resp, "ETag", "%s", etag);
    resp->json = json_pack("{s:i, s:s}", what, (int)json_array_size(set), "etag", etag);
}

/* PUT /v1/patterns replaces the tenant's set, PATCH (merge) creates or updates the patterns
 * given and leaves the others: all of it or nothing, after If-Match. */
static void
s_change_patterns(vx_http_req_t *req, struct vx_http_resp *resp, void *arg, bool merge)
{
    const char *tenant = au_http_tenant(req, resp);
    if (tenant == NULL) {
        return;
    }
    json_t *arr = au_http_set_body(req, resp, "patterns");
    if (arr == NULL) {
        return;
    }
    char err[512], etag[VX_ETAG_LEN];
    int rc = au_server_change_tenant_patterns(arg, tenant, arr, merge,
                                              vx_http_req_header(req, "If-Match"), etag, err,
                                              sizeof err);
    if (rc < 0) {
        s_refused(resp, rc, err);
        return;
    }
    au_http_set_changed(resp, "patterns", arr, etag);
}

static void
cb_put_patterns(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    s_change_patterns(req, resp, arg, false);
}

static void
cb_patch_patterns(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    s_change_patterns(req, resp, arg, true);
}

static void
cb_post_pattern(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    const char *tenant = au_http_tenant(req, resp);
    if (tenant == NULL) {
        return;
    }
    json_t *body = vx_http_req_json(req);
    if (!json_is_object(body)) {
        vx_http_error(resp, 400, "invalid_body", "expected one pattern (a JSON object)");
        return;
    }
    char err[512];
    int rc = au_server_add_pattern(arg, tenant, body, err, sizeof err);
    if (rc < 0) {
        s_refused(resp, rc, err);
        return;
    }
    resp->status = 201;
    resp->json = json_pack("{s:O}", "id", json_object_get(body, "id"));
}

static void
cb_get_pattern(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    const char *tenant = au_http_tenant(req, resp);
    if (tenant == NULL) {
        return;
    }
    const char *id = vx_http_req_param(req, "id");
    json_t *p = au_server_pattern_json(arg, tenant, id);
    if (p == NULL) {
        vx_http_error(resp, 404, "not_found", "no pattern with id \"%.128s\"", id);
        return;
    }
    resp->json = p;
}

static void
cb_put_pattern(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    const char *tenant = au_http_tenant(req, resp);
    if (tenant == NULL) {
        return;
    }
    const char *id = vx_http_req_param(req, "id");
    json_t *p = au_http_put_body(req, resp, id, "pattern");
    if (p == NULL) {
        return;
    }
    char err[512];
    bool created = false;
    int rc = au_server_put_pattern(arg, tenant, p, &created, err, sizeof err);
    json_decref(p);
    if (rc < 0) {
        s_refused(resp, rc, err);
        return;
    }
    resp->status = created ? 201 : 200;
    resp->json = json_pack("{s:s}", "id", id);
}

void
au_http_delete(vx_http_req_t *req, struct vx_http_resp *resp, void *arg,
               int (*del)(au_server_t *s, const char *tenant, const char *id), const char *what)
{
    const char *tenant = au_http_tenant(req, resp);
    if (tenant == NULL) {
        return;
    }
    const char *id = vx_http_req_param(req, "id");
    if (del(arg, tenant, id) < 0) {
        vx_http_error(resp, 404, "not_found", "no %s with id \"%.128s\"", what, id);
        return;
    }
    resp->status = 204;
    resp->text = "";
    resp->text_len = 0;
}

static void
cb_delete_pattern(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    au_http_delete(req, resp, arg, au_server_delete_pattern, "pattern");
}

json_t *
au_http_put_body(vx_http_req_t *req, struct vx_http_resp *resp, const char *id,
                 const char *what)
{
    json_t *body = vx_http_req_json(req);
    if (!json_is_object(body)) {
        vx_http_error(resp, 400, "invalid_body", "expected one %s (a JSON object)", what);
        return NULL;
    }
    json_t *given = json_object_get(body, "id");
    if (given != NULL && !(json_is_string(given) && strcmp(json_string_value(given), id) == 0)) {
        vx_http_error(resp, 400, "invalid_body", "id in the body differs from \"%.128s\"", id);
        return NULL;
    }
    json_t *copy = json_deep_copy(body);
    json_object_set_new(copy, "id", json_string(id));
    return copy;
}

/* A non-negative integer query argument; def when absent, -1 when malformed. */
long long
au_http_query_uint(vx_http_req_t *req, const char *name, long long def)
{
    const char *v = vx_http_req_query(req, name);
    if (v == NULL) {
        return def;
    }
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (end == v || *end != '\0' || errno != 0 || n < 0) {
        return -1;
    }
    return n;
}

static void
cb_get_alerts(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    const char *tenant = au_http_tenant(req, resp);
    if (tenant == NULL) {
        return;
    }
    long long since = au_http_query_uint(req, "since", 0);
    long long limit = au_http_query_uint(req, "limit", S_DEFAULT_LIMIT);
    if (since < 0 || limit < 1 || limit > S_MAX_LIMIT) {
        vx_http_error(resp, 400, "invalid_query",
                      "since is a sequence number >= 0, limit 1..%d", S_MAX_LIMIT);
        return;
    }
    resp->json = au_server_alerts_json(arg, tenant, (uint64_t)since, (size_t)limit);
}

/* The engine's and executor's totals count every tenant's events: only a caller that may act
 * for every tenant (and names none) sees them. Others get their tenant's own counts. */
static void
cb_get_stats(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    if (vx_http_req_tenant_allowed(req, NULL)) {
        resp->json = au_server_stats_json(arg);
        return;
    }
    const char *tenant = au_http_tenant(req, resp);
    if (tenant == NULL) {
        return;
    }
    json_t *pats = au_server_tenant_patterns_json(arg, tenant);
    json_t *wfs = au_flows_list(au_server_flows(arg), tenant);
    resp->json = json_pack("{s:s, s:I, s:I}", "tenant", tenant, "patterns",
                           (json_int_t)json_array_size(pats), "workflows",
                           (json_int_t)json_array_size(wfs));
    json_decref(pats);
    json_decref(wfs);
}

/* The routes of this file and of au_wf_http.c in one table, so that the role test walks
 * every route automation serves. Reads need viewer, changes of patterns, workflows, state and
 * runs operator. */
static const struct vx_http_route_def s_routes[] = {
    {"GET", "/v1/patterns", VX_ROLE_VIEWER, cb_get_patterns},
    {"PUT", "/v1/patterns", VX_ROLE_OPERATOR, cb_put_patterns},
    {"PATCH", "/v1/patterns", VX_ROLE_OPERATOR, cb_patch_patterns},
    {"POST", "/v1/patterns", VX_ROLE_OPERATOR, cb_post_pattern},
    {"GET", "/v1/patterns/{id}", VX_ROLE_VIEWER, cb_get_pattern},
    {"PUT", "/v1/patterns/{id}", VX_ROLE_OPERATOR, cb_put_pattern},
    {"DELETE", "/v1/patterns/{id}", VX_ROLE_OPERATOR, cb_delete_pattern},
    {"GET", "/v1/alerts", VX_ROLE_VIEWER, cb_get_alerts},
    {"GET", "/v1/stats", VX_ROLE_VIEWER, cb_get_stats},
    {"GET", "/v1/workflows", VX_ROLE_VIEWER, au_wf_http_list},
    {"POST", "/v1/workflows", VX_ROLE_OPERATOR, au_wf_http_post},
    {"PUT", "/v1/workflows", VX_ROLE_OPERATOR, au_wf_http_put_set},
    {"PATCH", "/v1/workflows", VX_ROLE_OPERATOR, au_wf_http_patch_set},
    {"GET", "/v1/workflows/{id}", VX_ROLE_VIEWER, au_wf_http_get},
    {"PUT", "/v1/workflows/{id}", VX_ROLE_OPERATOR, au_wf_http_put},
    {"DELETE", "/v1/workflows/{id}", VX_ROLE_OPERATOR, au_wf_http_delete},
    {"POST", "/v1/workflows/{id}/execute", VX_ROLE_OPERATOR, au_wf_http_execute},
    {"GET", "/v1/executions", VX_ROLE_VIEWER, au_wf_http_executions},
    {"GET", "/v1/executions/{id}", VX_ROLE_VIEWER, au_wf_http_execution},
    {"GET", "/v1/breakers", VX_ROLE_VIEWER, au_wf_http_breakers},
    {"GET", "/v1/state", VX_ROLE_VIEWER, au_wf_http_state},
    {"PUT", "/v1/state/{path}", VX_ROLE_OPERATOR, au_wf_http_put_state},
};

const struct vx_http_route_def *
au_http_route_table(size_t *n)
{
    *n = sizeof s_routes / sizeof s_routes[0];
    return s_routes;
}

int
au_http_routes(vx_http_t *http, au_server_t *server, char *err, size_t errlen)
{
    return vx_http_routes(http, s_routes, sizeof s_routes / sizeof s_routes[0], server, err,
                          errlen);
}
