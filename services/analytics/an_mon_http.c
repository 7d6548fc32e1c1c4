/* SPDX-License-Identifier: Apache-2.0 */
/* REST routes: POST/GET /v1/alert-rules, GET/PUT/DELETE /v1/alert-rules/{name},
 * GET /v1/alerts, GET /v1/health/system. */
#include "an_mon_http.h"

#include <errno.h>
#include <string.h>

static void
s_put(an_monitor_t *m, json_t *body, bool replace, const char *name, struct vx_http_resp *resp)
{
    char err[512] = "";
    bool created = false;
    int rc = an_monitor_put_rule(m, body, replace, &created, err, sizeof err);
    switch (rc) {
    case 0:
        resp->status = created ? 201 : 200;
        resp->json = an_monitor_get_rule(m, name);
        break;
    case -EEXIST:
        vx_http_error(resp, 409, "rule_exists", "%s", err);
        break;
    case -ENOSPC:
        vx_http_error(resp, 507, "too_many_rules", "%s", err);
        break;
    default:
        vx_http_error(resp, 400, "invalid_rule", "%s", err);
        break;
    }
}

static void
cb_post_rule(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    json_t *body = vx_http_req_json(req);
    if (!json_is_object(body)) {
        vx_http_error(resp, 400, "invalid_rule", "expected a rule object");
        return;
    }
    s_put(arg, body, false, json_string_value(json_object_get(body, "name")), resp);
}

static void
cb_put_rule(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    json_t *body = vx_http_req_json(req);
    const char *name = vx_http_req_param(req, "name");
    if (!json_is_object(body)) {
        vx_http_error(resp, 400, "invalid_rule", "expected a rule object");
        return;
    }
    json_t *bn = json_object_get(body, "name");
    if (bn && (!json_is_string(bn) || strcmp(json_string_value(bn), name) != 0)) {
        vx_http_error(resp, 400, "invalid_rule", "name: the body says '%s', the path '%s'",
                      json_is_string(bn) ? json_string_value(bn) : "(not a string)", name);
        return;
    }
    json_t *copy = json_copy(body);
    json_object_set_new(copy, "name", json_string(name));
    s_put(arg, copy, true, name, resp);
    json_decref(copy);
}

static void
cb_list_rules(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    (void)req;
    /* The tag covers the definitions, not their status (vx_etag.h); read first, so that a
     * change between the two reads shows as a conflict on the next write, never as a stale
     * list under a new tag. */
    json_t *defs = an_monitor_rule_defs(arg);
    char etag[VX_ETAG_LEN];
    vx_etag_of(defs, "name", etag);
    json_decref(defs);
    vx_http_resp_header(resp, "ETag", "%s", etag);
    resp->json = json_pack("{s:o}", "rules", an_monitor_get_rule(arg, NULL));
}

/* PUT /v1/alert-rules replaces the set, PATCH (merge) creates or updates the rules given and
 * leaves the others; the body is a list or {"rules":[...]}. One step, all or nothing, after
 * If-Match. */
static void
s_change(vx_http_req_t *req, struct vx_http_resp *resp, void *arg, bool merge)
{
    json_t *body = vx_http_req_json(req);
    json_t *arr = json_is_object(body) ? json_object_get(body, "rules") : body;
    if (!json_is_array(arr)) {
        vx_http_error(resp, 400, "invalid_rule", "expected a list of rules, or {\"rules\":[...]}");
        return;
    }
    char err[1024], etag[VX_ETAG_LEN];
    int rc = an_monitor_change_rules(arg, arr, merge, vx_http_req_header(req, "If-Match"), etag,
                                     err, sizeof err);
    switch (rc) {
    case 0:
        vx_http_resp_header(resp, "ETag", "%s", etag);
        resp->json = json_pack("{s:i, s:s}", "rules", (int)json_array_size(arr), "etag", etag);
        break;
    case -ESTALE:
        vx_http_error(resp, 412, "version_conflict", "%s", err);
        break;
    case -ENOSPC:
        vx_http_error(resp, 507, "too_many_rules", "%s", err);
        break;
    default:
        vx_http_error(resp, 400, "invalid_rule", "%s", err);
        break;
    }
}

static void
cb_put_rules(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    s_change(req, resp, arg, false);
}

static void
cb_patch_rules(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    s_change(req, resp, arg, true);
}

static void
cb_get_rule(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    const char *name = vx_http_req_param(req, "name");
    resp->json = an_monitor_get_rule(arg, name);
    if (!resp->json) {
        vx_http_error(resp, 404, "no_such_rule", "no alert rule '%s'", name);
    }
}

static void
cb_delete_rule(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    const char *name = vx_http_req_param(req, "name");
    if (an_monitor_delete_rule(arg, name) < 0) {
        vx_http_error(resp, 404, "no_such_rule", "no alert rule '%s'", name);
        return;
    }
    resp->json = json_pack("{s:s}", "deleted", name);
}

/* Drops from list the anomaly alerts of queries the caller may not see: an anomaly of a
 * tenant's query names its tenant; one of a query over every tenant's events names none and
 * is shown only to callers that may act for every tenant. Rule alerts are about the suite's
 * own metrics and shown to every viewer. */
static void
s_filter_alerts(vx_http_req_t *req, json_t *list)
{
    for (size_t i = json_array_size(list); i-- > 0;) {
        json_t *a = json_array_get(list, i);
        const char *source = json_string_value(json_object_get(a, "source"));
        if (!source || strcmp(source, "anomaly") != 0) {
            continue;
        }
        const char *tenant =
            json_string_value(json_object_get(json_object_get(a, "anomaly"), "tenant"));
        if (!vx_http_req_tenant_allowed(req, tenant)) {
            json_array_remove(list, i);
        }
    }
}

static void
cb_alerts(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    resp->json = an_monitor_alerts(arg);
    s_filter_alerts(req, json_object_get(resp->json, "active"));
    s_filter_alerts(req, json_object_get(resp->json, "recent"));
}

static void
cb_health(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    (void)req;
    int rc = 0;
    resp->json = an_monitor_health(arg, &rc);
    if (rc == -ENOTSUP) {
        vx_http_error(resp, 409, "health_monitoring_off",
                      "system health is off (monitoring.enable_health_monitoring)");
    } else if (rc == -ENOENT) {
        vx_http_error(resp, 409, "no_services",
                      "no service to probe: monitoring.services is empty");
    }
}

/* Every route with the least role that may call it: reads need viewer, changing alert rules
 * operator. */
static const struct vx_http_route_def s_routes[] = {
    {"POST", "/v1/alert-rules", VX_ROLE_OPERATOR, cb_post_rule},
    {"GET", "/v1/alert-rules", VX_ROLE_VIEWER, cb_list_rules},
    {"PUT", "/v1/alert-rules", VX_ROLE_OPERATOR, cb_put_rules},
    {"PATCH", "/v1/alert-rules", VX_ROLE_OPERATOR, cb_patch_rules},
    {"GET", "/v1/alert-rules/{name}", VX_ROLE_VIEWER, cb_get_rule},
    {"PUT", "/v1/alert-rules/{name}", VX_ROLE_OPERATOR, cb_put_rule},
    {"DELETE", "/v1/alert-rules/{name}", VX_ROLE_OPERATOR, cb_delete_rule},
    {"GET", "/v1/alerts", VX_ROLE_VIEWER, cb_alerts},
    {"GET", "/v1/health/system", VX_ROLE_VIEWER, cb_health},
};

const struct vx_http_route_def *
an_mon_http_route_table(size_t *n)
{
    *n = sizeof s_routes / sizeof s_routes[0];
    return s_routes;
}

int
an_mon_http_routes(vx_http_t *http, an_monitor_t *m, char *err, size_t errlen)
{
    return vx_http_routes(http, s_routes, sizeof s_routes / sizeof s_routes[0], m, err, errlen);
}
