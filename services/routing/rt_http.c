/* SPDX-License-Identifier: Apache-2.0 */
/* REST routes: rules and filters (read, replace, merge, add, delete), explain and statistics. */
#include "rt_http.h"

#include <string.h>

#include "rt_store.h"
#include "vx_etag.h"
#include "vx_mem.h"

struct rt_http {
    rt_server_t *server;
};

/* Answers with a change's outcome. filters: the request was about filters, so a set that
 * does not build is reported as invalid_filters. */
static void
s_answer(struct vx_http_resp *resp, struct rt_result *r, bool filters)
{
    if (r->body) {
        resp->status = r->http;
        resp->json = r->body;
        r->body = NULL;
        return;
    }
    const char *code = r->code ? r->code : "internal";
    if (filters && strcmp(code, "invalid_rules") == 0) {
        code = "invalid_filters";
    }
    vx_http_error(resp, r->http ? r->http : 500, code, "%s", r->message);
}

/* Answers with a set read: its body, with the set's tag as ETag and "etag" (both sets share
 * the version, so one tag covers rules and filters). */
static void
s_answer_set(struct vx_http_resp *resp, json_t *set)
{
    char etag[VX_ETAG_LEN];
    vx_etag_version((uint64_t)json_integer_value(json_object_get(set, "version")), etag);
    json_object_set_new(set, "etag", json_string(etag));
    vx_http_resp_header(resp, "ETag", "%s", etag);
    resp->json = set;
}

static void
cb_get_rules(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    (void)req;
    rt_http_t *p = arg;
    s_answer_set(resp, rt_server_rules(p->server));
}

static void
cb_get_filters(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    (void)req;
    rt_http_t *p = arg;
    s_answer_set(resp, rt_server_filters(p->server));
}

static void
cb_get_rule(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    rt_http_t *p = arg;
    const char *id = vx_http_req_param(req, "id");
    json_t *rule = rt_server_rule(p->server, id);
    if (!rule) {
        vx_http_error(resp, 404, "not_found", "no rule with id \"%.128s\"", id);
        return;
    }
    resp->json = rule;
}

/* PUT /v1/rules and /v1/filters: a list replaces that set; an object {"rules":[...],
 * "filters":[...]} replaces the sets it names, both in one change. PATCH (merge): each rule
 * or filter given replaces the one with its id or is added; no other changes. Either way
 * all of it or nothing, and If-Match is checked against the set's tag first. */
static void
s_put_set(vx_http_req_t *req, struct vx_http_resp *resp, rt_http_t *p, bool filters, bool merge)
{
    json_t *body = vx_http_req_json(req);
    const char *what = filters ? "filters" : "rules";
    if (!body) {
        vx_http_error(resp, 400, "invalid_body", "expected a list of %s, or {\"rules\":[...], "
                                                 "\"filters\":[...]}", what);
        return;
    }
    json_t *rules = NULL, *flt = NULL;
    char err[512];
    if (json_is_array(body)) {
        if (filters) {
            flt = json_incref(body);
        } else {
            rules = json_incref(body);
        }
    } else if (rt_set_parse(body, "body", &rules, &flt, err, sizeof err) < 0) {
        vx_http_error(resp, 400, "invalid_body", "%s", err);
        return;
    } else if (!rules && !flt) {
        vx_http_error(resp, 400, "invalid_body", "body: names neither rules nor filters");
        return;
    }
    struct rt_result r;
    rt_server_change(p->server, rules, flt, merge, vx_http_req_header(req, "If-Match"), &r);
    s_answer(resp, &r, filters && !rules);
    json_decref(rules);
    json_decref(flt);
}

static void
cb_put_rules(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    s_put_set(req, resp, arg, false, false);
}

static void
cb_put_filters(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    s_put_set(req, resp, arg, true, false);
}

static void
cb_patch_rules(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    s_put_set(req, resp, arg, false, true);
}

static void
cb_patch_filters(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    s_put_set(req, resp, arg, true, true);
}

static void
cb_post_rule(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    rt_http_t *p = arg;
    json_t *body = vx_http_req_json(req);
    if (!json_is_object(body)) {
        vx_http_error(resp, 400, "invalid_body", "expected one rule (a JSON object)");
        return;
    }
    struct rt_result r;
    rt_server_add_rule(p->server, body, &r);
    s_answer(resp, &r, false);
}

static void
cb_delete_rule(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    rt_http_t *p = arg;
    struct rt_result r;
    rt_server_delete_rule(p->server, vx_http_req_param(req, "id"), &r);
    s_answer(resp, &r, false);
}

/* POST /v1/route/test: the event itself, or {"event": {...}}. */
static void
cb_route_test(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    rt_http_t *p = arg;
    json_t *body = vx_http_req_json(req);
    if (!json_is_object(body)) {
        vx_http_error(resp, 400, "invalid_event", "expected an event (a JSON object)");
        return;
    }
    json_t *inner = json_object_get(body, "event");
    if (json_object_size(body) == 1 && json_is_object(inner)) {
        body = inner;
    }
    struct rt_result r;
    rt_server_explain(p->server, body, &r);
    s_answer(resp, &r, false);
}

static void
cb_get_stats(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    (void)req;
    rt_http_t *p = arg;
    resp->json = rt_server_stats(p->server);
}

static bool
cb_ready(void *arg, json_t *detail)
{
    rt_http_t *p = arg;
    return rt_server_ready(p->server, detail);
}

/* Every route with the least role that may call it (README, "Routing REST API"): reads and
 * the explain call, which changes nothing and counts nothing, need viewer; changing rules or
 * filters needs operator. /v1/config comes from vx_daemon (operator reads, admin writes). */
static const struct vx_http_route_def s_routes[] = {
    {"GET", "/v1/rules", VX_ROLE_VIEWER, cb_get_rules},
    {"PUT", "/v1/rules", VX_ROLE_OPERATOR, cb_put_rules},
    {"PATCH", "/v1/rules", VX_ROLE_OPERATOR, cb_patch_rules},
    {"POST", "/v1/rules", VX_ROLE_OPERATOR, cb_post_rule},
    {"GET", "/v1/rules/{id}", VX_ROLE_VIEWER, cb_get_rule},
    {"DELETE", "/v1/rules/{id}", VX_ROLE_OPERATOR, cb_delete_rule},
    {"GET", "/v1/filters", VX_ROLE_VIEWER, cb_get_filters},
    {"PUT", "/v1/filters", VX_ROLE_OPERATOR, cb_put_filters},
    {"PATCH", "/v1/filters", VX_ROLE_OPERATOR, cb_patch_filters},
    {"POST", "/v1/route/test", VX_ROLE_VIEWER, cb_route_test},
    {"GET", "/v1/stats", VX_ROLE_VIEWER, cb_get_stats},
};

const struct vx_http_route_def *
rt_http_route_table(size_t *n)
{
    *n = sizeof s_routes / sizeof s_routes[0];
    return s_routes;
}

rt_http_t *
rt_http_new(vx_http_t *http, rt_server_t *server, char *err, size_t errlen)
{
    rt_http_t *p = vx_calloc(1, sizeof *p);
    p->server = server;
    if (vx_http_routes(http, s_routes, sizeof s_routes / sizeof s_routes[0], p, err, errlen) <
        0) {
        vx_free(&p);
        return NULL;
    }
    vx_http_set_ready(http, cb_ready, p);
    return p;
}

void
rt_http_destroy(rt_http_t **pp)
{
    if (!pp || !*pp) {
        return;
    }
    vx_free(pp);
}
