/* SPDX-License-Identifier: Apache-2.0 */
/* The REST side of automation's store: GET /v1/executions (pages and filters over the
 * executions in memory and the durable history), GET /v1/state and PUT /v1/state/{path}
 * (a commit of its own). The route table is au_wf_http.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "au_expr.h"
#include "au_http.h"
#include "vx_clock.h"

#define S_DEFAULT_LIMIT 100
#define S_MAX_LIMIT 10000

int
au_http_time_arg(const char *v, uint64_t now_ns, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (end == v || errno != 0 || v[0] == '-') {
        return -EINVAL;
    }
    uint64_t unit = 0;
    if (*end == '\0') {
        *out = (uint64_t)n; /* a wall-clock time in ns */
        return 0;
    }
    if (strcmp(end, "s") == 0) {
        unit = VX_NS_PER_S;
    } else if (strcmp(end, "m") == 0) {
        unit = 60 * VX_NS_PER_S;
    } else if (strcmp(end, "h") == 0) {
        unit = 3600 * VX_NS_PER_S;
    } else if (strcmp(end, "d") == 0) {
        unit = 86400 * VX_NS_PER_S;
    } else {
        return -EINVAL;
    }
    if (n > now_ns / unit) {
        *out = 1; /* before the epoch: everything */
        return 0;
    }
    *out = now_ns - (uint64_t)n * unit; /* that long ago */
    return 0;
}

void
au_http_executions(vx_http_req_t *req, struct vx_http_resp *resp, au_server_t *server,
                   const char *tenant)
{
    long long limit = au_http_query_uint(req, "limit", S_DEFAULT_LIMIT);
    if (limit < 1 || limit > S_MAX_LIMIT) {
        vx_http_error(resp, 400, "invalid_query", "limit: expected 1..%d", S_MAX_LIMIT);
        return;
    }
    struct au_store_query q = {.tenant = tenant,
                               .status = vx_http_req_query(req, "status"),
                               .workflow = vx_http_req_query(req, "workflow"),
                               .cursor = vx_http_req_query(req, "cursor"),
                               .limit = (size_t)limit};
    uint64_t now = vx_wall_ns();
    const char *since = vx_http_req_query(req, "since");
    const char *until = vx_http_req_query(req, "until");
    if (since != NULL && au_http_time_arg(since, now, &q.since_ns) < 0) {
        vx_http_error(resp, 400, "invalid_query",
                      "since: expected a duration such as 90s, 30m, 1h or 7d, or a time in "
                      "Unix nanoseconds");
        return;
    }
    if (until != NULL && au_http_time_arg(until, now, &q.until_ns) < 0) {
        vx_http_error(resp, 400, "invalid_query",
                      "until: expected a duration such as 90s, 30m, 1h or 7d, or a time in "
                      "Unix nanoseconds");
        return;
    }
    char err[512] = "";
    json_t *page = au_exec_list(au_server_exec(server), &q, err, sizeof err);
    if (page == NULL) {
        vx_http_error(resp, 400, "invalid_query", "%s", err);
        return;
    }
    resp->json = page;
}

void
au_http_get_state(struct vx_http_resp *resp, au_server_t *server, const char *tenant)
{
    char err[1024];
    json_t *st = au_server_state_json(server, tenant, err, sizeof err);
    if (st == NULL) {
        vx_http_error(resp, 500, "store_unreadable", "%s", err);
        return;
    }
    resp->json = json_pack("{s:o}", "state", st);
}

void
au_http_put_state(vx_http_req_t *req, struct vx_http_resp *resp, au_server_t *server,
                  const char *tenant)
{
    const char *path = vx_http_req_param(req, "path");
    if (!au_path_ok(path)) {
        vx_http_error(resp, 400, "invalid_path",
                      "path: expected a dotted state path such as disk.usage");
        return;
    }
    json_t *body = vx_http_req_json(req);
    json_t *v = json_object_get(body, "value");
    if (!json_is_object(body) || v == NULL || json_object_size(body) != 1) {
        vx_http_error(resp, 400, "invalid_body", "expected {\"value\": <any JSON value>}");
        return;
    }
    char err[1024];
    int rc = au_server_set_state(server, tenant, path, v, err, sizeof err);
    switch (rc) {
    case 0:
        resp->status = 204;
        resp->text = "";
        resp->text_len = 0;
        break;
    case -ENOSPC:
        vx_http_error(resp, 507, "store_full", "%s", err);
        break;
    case -EINVAL:
        vx_http_error(resp, 400, "invalid_path", "%s", err);
        break;
    default:
        vx_http_error(resp, 500, "store_failed", "%s (the value may not have been stored)",
                      err);
        break;
    }
}
