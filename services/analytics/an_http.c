/* SPDX-License-Identifier: Apache-2.0 */
/* REST routes: POST/GET/PUT/PATCH /v1/queries, GET/PUT/DELETE /v1/queries/{id},
 * GET /v1/queries/{id}/results?limit=N, GET /v1/anomalies?query=ID, POST/GET /v1/replay.
 *
 * Tenants: a query created by a request acting for a tenant is that tenant's ("tenant"
 * member): it reads only that tenant's events, and every read, list, change and delete shows
 * it only to callers that may act for the tenant (to others it is absent). A query without a
 * tenant reads every tenant's events: only callers that may act for every tenant create or
 * see one. */
#include "an_http.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "an_replay.h"
#include "vx_mem.h"

#define S_DEFAULT_LIMIT 100

struct an_http {
    an_server_t *server;
};

/* Whether the caller may see a query (JSON as an_server_get_query gives it): a tenant's query
 * by callers that may act for that tenant, a query of every tenant's events only by callers
 * that may act for every tenant. */
static bool
s_visible(vx_http_req_t *req, json_t *query)
{
    return vx_http_req_tenant_allowed(req, json_string_value(json_object_get(query, "tenant")));
}

/* The query id if it exists and the caller may see it, else NULL: another tenant's query
 * answers exactly as an absent one (404), so its existence does not show. New reference. */
static json_t *
s_get_visible(an_http_t *h, vx_http_req_t *req, const char *id)
{
    json_t *q = an_server_get_query(h->server, id);
    if (q && !s_visible(req, q)) {
        json_decref(q);
        q = NULL;
    }
    return q;
}

/* Sets the tenant of a query body (owned) from the request: the tenant the request acts for;
 * else the body's own, when the caller may act for it; else none (every tenant's events),
 * only for callers that may act for every tenant. Returns false with resp set when refused. */
static bool
s_own(vx_http_req_t *req, json_t *body, struct vx_http_resp *resp)
{
    const char *acting = vx_http_req_tenant(req);
    json_t *given = json_object_get(body, "tenant");
    if (given && !json_is_string(given)) {
        vx_http_error(resp, 422, "invalid_query", "tenant: expected a string");
        return false;
    }
    const char *named = json_string_value(given);
    if (acting) {
        if (named && strcmp(named, acting) != 0) {
            vx_http_error(resp, 403, "tenant_forbidden",
                          "tenant: the query names '%.64s' but the request acts for '%.64s'",
                          named, acting);
            return false;
        }
        json_object_set_new(body, "tenant", json_string(acting));
        return true;
    }
    if (!vx_http_req_tenant_allowed(req, named)) {
        if (named) {
            vx_http_error(resp, 403, "tenant_forbidden",
                          "tenant: credential '%.64s' may not act for tenant '%.64s'",
                          vx_http_req_credential(req) ? vx_http_req_credential(req) : "",
                          named);
        } else {
            vx_http_error(resp, 403, "tenant_forbidden",
                          "a query without a tenant reads every tenant's events: name one "
                          "(X-VexFS-Tenant or the query's tenant)");
        }
        return false;
    }
    return true;
}

static void
s_put(an_http_t *h, json_t *body, bool replace, struct vx_http_resp *resp)
{
    char err[512] = "";
    bool created = false;
    int rc = an_server_put_query(h->server, body, replace, &created, err, sizeof err);
    switch (rc) {
    case 0:
        resp->status = created ? 201 : 200;
        resp->json = an_server_get_query(h->server, json_string_value(json_object_get(body, "id")));
        break;
    case -EEXIST:
        vx_http_error(resp, 409, "query_exists", "%s", err);
        break;
    case -ENOSPC:
        vx_http_error(resp, 507, "too_many_queries", "%s", err);
        break;
    default:
        vx_http_error(resp, 422, "invalid_query", "%s", err);
        break;
    }
}

static void
cb_post_query(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    json_t *body = vx_http_req_json(req);
    if (!json_is_object(body)) {
        vx_http_error(resp, 400, "invalid_query", "expected a query object");
        return;
    }
    json_t *copy = json_copy(body);
    if (s_own(req, copy, resp)) {
        s_put(arg, copy, false, resp);
    }
    json_decref(copy);
}

static void
cb_put_query(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    json_t *body = vx_http_req_json(req);
    const char *id = vx_http_req_param(req, "id");
    if (!json_is_object(body)) {
        vx_http_error(resp, 400, "invalid_query", "expected a query object");
        return;
    }
    json_t *bid = json_object_get(body, "id");
    if (bid && (!json_is_string(bid) || strcmp(json_string_value(bid), id) != 0)) {
        vx_http_error(resp, 422, "invalid_query", "id: the body says '%s', the path '%s'",
                      json_is_string(bid) ? json_string_value(bid) : "(not a string)", id);
        return;
    }
    json_t *copy = json_copy(body);
    json_object_set_new(copy, "id", json_string(id));
    /* Another tenant's query is not there for this caller: replacing it would be taking it. */
    json_t *old = an_server_get_query(((an_http_t *)arg)->server, id);
    bool foreign = old && !s_visible(req, old);
    /* A caller of several tenants replacing a tenant's query keeps it that tenant's unless
     * the body says otherwise (it must not become a query of every tenant's events). */
    json_t *old_tenant = json_object_get(old, "tenant");
    if (!foreign && old_tenant && !vx_http_req_tenant(req) && !json_object_get(copy, "tenant")) {
        json_object_set(copy, "tenant", old_tenant);
    }
    json_decref(old);
    if (foreign) {
        vx_http_error(resp, 409, "query_exists", "query '%s' exists", id);
    } else if (s_own(req, copy, resp)) {
        s_put(arg, copy, true, resp);
    }
    json_decref(copy);
}

static void
cb_list_queries(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    an_http_t *h = arg;
    json_t *all = an_server_get_query(h->server, NULL), *mine = json_array(), *defs = json_array();
    size_t i;
    json_t *q;
    json_array_foreach(all, i, q) {
        if (s_visible(req, q)) {
            json_array_append(mine, q);
            json_t *d = json_copy(q);
            json_object_del(d, "stats");
            json_array_append_new(defs, d);
        }
    }
    json_decref(all);
    /* The tag covers the definitions, not their counters (vx_etag.h). */
    char etag[VX_ETAG_LEN];
    vx_etag_of(defs, "id", etag);
    json_decref(defs);
    vx_http_resp_header(resp, "ETag", "%s", etag);
    resp->json = json_pack("{s:o}", "queries", mine);
}

static bool
cb_visible(void *arg, json_t *q)
{
    return s_visible(arg, q);
}

/* PUT /v1/queries replaces the caller's queries, PATCH (merge) creates or updates the ones
 * given and leaves the others; the body is a list or {"queries":[...]}. Each query's tenant is
 * decided as for one query's POST (an existing one keeps its tenant); then one step, all or
 * nothing, after If-Match. */
static void
s_change(vx_http_req_t *req, struct vx_http_resp *resp, an_http_t *h, bool merge)
{
    json_t *body = vx_http_req_json(req);
    json_t *arr = json_is_object(body) ? json_object_get(body, "queries") : body;
    if (!json_is_array(arr)) {
        vx_http_error(resp, 400, "invalid_body", "expected a list of queries, or {\"queries\":[...]}");
        return;
    }
    json_t *defs = json_array();
    size_t i;
    json_t *q;
    json_array_foreach(arr, i, q) {
        if (!json_is_object(q)) {
            vx_http_error(resp, 422, "invalid_query", "queries[%zu]: expected a query object", i);
            goto out;
        }
        json_t *copy = json_copy(q);
        json_array_append_new(defs, copy);
        const char *id = json_string_value(json_object_get(copy, "id"));
        json_t *old = id ? an_server_get_query(h->server, id) : NULL;
        json_t *old_tenant = old && s_visible(req, old) ? json_object_get(old, "tenant") : NULL;
        if (old_tenant && !vx_http_req_tenant(req) && !json_object_get(copy, "tenant")) {
            json_object_set(copy, "tenant", old_tenant);
        }
        json_decref(old);
        if (!s_own(req, copy, resp)) {
            /* Name the query the refusal is about: "queries[N] (id "x"): ...". */
            json_t *e = json_object_get(resp->json, "error");
            char msg[700];
            snprintf(msg, sizeof msg, "queries[%zu]%s%.128s%s: %s", i, id ? " (id \"" : "",
                     id ? id : "", id ? "\")" : "",
                     json_string_value(json_object_get(e, "message")));
            json_object_set_new(e, "message", json_string(msg));
            goto out;
        }
    }
    char err[1024], etag[VX_ETAG_LEN];
    int rc = an_server_change_queries(h->server, defs, merge, cb_visible, req,
                                      vx_http_req_header(req, "If-Match"), etag, err, sizeof err);
    switch (rc) {
    case 0:
        vx_http_resp_header(resp, "ETag", "%s", etag);
        resp->json = json_pack("{s:i, s:s}", "queries", (int)json_array_size(defs), "etag", etag);
        break;
    case -ESTALE:
        vx_http_error(resp, 412, "version_conflict", "%s", err);
        break;
    case -EEXIST:
        vx_http_error(resp, 409, "query_exists", "%s", err);
        break;
    case -ENOSPC:
        vx_http_error(resp, 507, "too_many_queries", "%s", err);
        break;
    default:
        vx_http_error(resp, 422, "invalid_query", "%s", err);
        break;
    }
out:
    json_decref(defs);
}

static void
cb_put_queries(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    s_change(req, resp, arg, false);
}

static void
cb_patch_queries(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    s_change(req, resp, arg, true);
}

static void
cb_get_query(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    an_http_t *h = arg;
    const char *id = vx_http_req_param(req, "id");
    resp->json = s_get_visible(h, req, id);
    if (!resp->json) {
        vx_http_error(resp, 404, "no_such_query", "no query '%s'", id);
    }
}

static void
cb_delete_query(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    an_http_t *h = arg;
    const char *id = vx_http_req_param(req, "id");
    json_t *q = s_get_visible(h, req, id);
    bool visible = q != NULL;
    json_decref(q);
    if (!visible || an_server_delete_query(h->server, id) < 0) {
        vx_http_error(resp, 404, "no_such_query", "no query '%s'", id);
        return;
    }
    resp->json = json_pack("{s:s}", "deleted", id);
}

static void
cb_results(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    an_http_t *h = arg;
    const char *id = vx_http_req_param(req, "id");
    const char *ls = vx_http_req_query(req, "limit");
    long limit = S_DEFAULT_LIMIT;
    if (ls) {
        char *end;
        limit = strtol(ls, &end, 10);
        if (!*ls || *end || limit < 1 || limit > 1000000) {
            vx_http_error(resp, 400, "bad_limit", "limit: expected 1..1000000, got '%s'", ls);
            return;
        }
    }
    json_t *q = s_get_visible(h, req, id);
    resp->json = q ? an_server_results(h->server, id, (size_t)limit) : NULL;
    json_decref(q);
    if (!resp->json) {
        vx_http_error(resp, 404, "no_such_query", "no query '%s'", id);
    }
}

static void
cb_anomalies(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    an_http_t *h = arg;
    resp->json = an_server_anomalies(h->server, vx_http_req_query(req, "query"));
    /* Only anomalies of queries the caller may see. */
    json_t *list = json_object_get(resp->json, "anomalies");
    for (size_t i = json_array_size(list); i-- > 0;) {
        const char *qid = json_string_value(json_object_get(json_array_get(list, i), "query"));
        json_t *q = qid ? s_get_visible(h, req, qid) : NULL;
        if (!q) {
            json_array_remove(list, i);
        }
        json_decref(q);
    }
}

static void
cb_post_replay(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    an_http_t *h = arg;
    struct an_replay_req rq;
    char err[256];
    if (an_replay_parse(vx_http_req_json(req), &rq, err, sizeof err) < 0) {
        vx_http_error(resp, 400, "invalid_replay", "%s", err);
        return;
    }
    int rc = an_server_replay(h->server, &rq);
    if (rc == -EBUSY) {
        vx_http_error(resp, 409, "replay_running",
                      "a replay is running; GET /v1/replay shows its progress");
        return;
    }
    if (rc == -ENOTSUP) {
        vx_http_error(resp, 409, "replay_unavailable",
                      "replay needs the Kafka input (stream_analytics.kafka_brokers)");
        return;
    }
    resp->status = 202;
    resp->json = an_server_replay_status(h->server);
}

static void
cb_get_replay(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    (void)req;
    an_http_t *h = arg;
    resp->json = an_server_replay_status(h->server);
}

static bool
cb_ready(void *arg, json_t *detail)
{
    an_http_t *h = arg;
    return an_server_ready(h->server, detail);
}

/* Every route with the least role that may call it (README, "Analytics REST API"): reads
 * need viewer, changing queries operator; a replay recomputes the windows of every query,
 * whichever tenant's events they hold, so starting one needs admin. */
static const struct vx_http_route_def s_routes[] = {
    {"POST", "/v1/queries", VX_ROLE_OPERATOR, cb_post_query},
    {"GET", "/v1/queries", VX_ROLE_VIEWER, cb_list_queries},
    {"PUT", "/v1/queries", VX_ROLE_OPERATOR, cb_put_queries},
    {"PATCH", "/v1/queries", VX_ROLE_OPERATOR, cb_patch_queries},
    {"GET", "/v1/queries/{id}", VX_ROLE_VIEWER, cb_get_query},
    {"PUT", "/v1/queries/{id}", VX_ROLE_OPERATOR, cb_put_query},
    {"DELETE", "/v1/queries/{id}", VX_ROLE_OPERATOR, cb_delete_query},
    {"GET", "/v1/queries/{id}/results", VX_ROLE_VIEWER, cb_results},
    {"GET", "/v1/anomalies", VX_ROLE_VIEWER, cb_anomalies},
    {"POST", "/v1/replay", VX_ROLE_ADMIN, cb_post_replay},
    {"GET", "/v1/replay", VX_ROLE_VIEWER, cb_get_replay},
};

const struct vx_http_route_def *
an_http_route_table(size_t *n)
{
    *n = sizeof s_routes / sizeof s_routes[0];
    return s_routes;
}

an_http_t *
an_http_new(vx_http_t *http, an_server_t *server, char *err, size_t errlen)
{
    an_http_t *h = vx_calloc(1, sizeof *h);
    h->server = server;
    if (vx_http_routes(http, s_routes, sizeof s_routes / sizeof s_routes[0], h, err, errlen) <
        0) {
        vx_free(&h);
        return NULL;
    }
    vx_http_set_ready(http, cb_ready, h);
    return h;
}

void
an_http_destroy(an_http_t **hp)
{
    if (!hp || !*hp) {
        return;
    }
    vx_free(hp);
}
