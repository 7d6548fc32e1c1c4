/* SPDX-License-Identifier: Apache-2.0 */
/* REST routes: POST/GET /v1/queries, GET/PUT/DELETE /v1/queries/{id},
 * GET /v1/queries/{id}/results?limit=N, GET /v1/anomalies?query=ID, POST/GET /v1/replay. */
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
    s_put(arg, body, false, resp);
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
    s_put(arg, copy, true, resp);
    json_decref(copy);
}

static void
cb_list_queries(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    (void)req;
    an_http_t *h = arg;
    resp->json = json_pack("{s:o}", "queries", an_server_get_query(h->server, NULL));
}

static void
cb_get_query(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    an_http_t *h = arg;
    const char *id = vx_http_req_param(req, "id");
    resp->json = an_server_get_query(h->server, id);
    if (!resp->json) {
        vx_http_error(resp, 404, "no_such_query", "no query '%s'", id);
    }
}

static void
cb_delete_query(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    an_http_t *h = arg;
    const char *id = vx_http_req_param(req, "id");
    if (an_server_delete_query(h->server, id) < 0) {
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
    resp->json = an_server_results(h->server, id, (size_t)limit);
    if (!resp->json) {
        vx_http_error(resp, 404, "no_such_query", "no query '%s'", id);
    }
}

static void
cb_anomalies(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    an_http_t *h = arg;
    resp->json = an_server_anomalies(h->server, vx_http_req_query(req, "query"));
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
