/* SPDX-License-Identifier: Apache-2.0 */
/* REST routes that read the replicated state: keys, the event log, open conflicts, counts.
 *
 * Each takes ?consistency=linearizable (the default), leader or any. The first two ask the
 * raft loop for permission first (coord_raft_read): a follower then answers 421 naming a
 * live leader (or 503 no_leader), a leader answers once its state machine reached the read
 * index. `any` answers from this node's state machine at once. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_http_priv.h"

#define S_LOG_LIMIT_MAX 10000

/* Reads ?consistency and waits until this node may answer. Returns true when it answered
 * (with an error) instead. */
static bool
s_read_gate(coord_http_t *h, vx_http_req_t *req, struct vx_http_resp *resp)
{
    const char *c = vx_http_req_query(req, "consistency");
    enum coord_consistency mode;
    if (!c || strcmp(c, "linearizable") == 0) {
        mode = COORD_READ_LINEARIZABLE;
    } else if (strcmp(c, "leader") == 0) {
        mode = COORD_READ_LEADER;
    } else if (strcmp(c, "any") == 0) {
        mode = COORD_READ_ANY;
    } else {
        vx_http_error(resp, 400, "invalid_request",
                      "consistency must be linearizable (default), leader or any, got '%.40s'",
                      c);
        return true;
    }
    struct coord_op_result res;
    coord_raft_read(h->raft, mode, h->opts.apply_timeout_ms, &res);
    bool failed = coord_http_op_error(h, &res, resp, false);
    coord_op_result_fini(&res);
    if (!failed) {
        coord_raft_count_read(h->raft, mode);
    }
    return failed;
}

void
coord_http_get_state(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    coord_http_t *h = arg;
    const char *key = vx_http_req_query(req, "key");
    char buf[4200];
    if (!key) {
        /* /v1/state/data/a.txt names the key "/data/a.txt". */
        const char *path = vx_http_req_path(req);
        const char *rest = path + strlen("/v1/state");
        if (*rest != '/' || rest[1] == '\0') {
            vx_http_error(resp, 400, "invalid_request",
                          "name a key: /v1/state/<path without its leading slash> or "
                          "/v1/state?key=<url-encoded key>");
            return;
        }
        snprintf(buf, sizeof buf, "%s", rest);
        key = buf;
    }
    if (s_read_gate(h, req, resp)) {
        return;
    }
    json_t *o = coord_fsm_key(h->fsm, key);
    if (!o) {
        vx_http_error(resp, 404, "unknown_key", "no committed event touched key '%s'", key);
        json_object_set_new(resp->json, "revision", json_integer(0));
        return;
    }
    vx_http_resp_header(resp, "ETag", "\"%lld\"",
                        (long long)json_integer_value(json_object_get(o, "revision")));
    resp->json = o;
}

static int
s_query_u64(vx_http_req_t *req, const char *name, uint64_t def, uint64_t max, uint64_t *out)
{
    const char *v = vx_http_req_query(req, name);
    if (!v) {
        *out = def;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-' || x > max) {
        return -EINVAL;
    }
    *out = x;
    return 0;
}

void
coord_http_get_log(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    coord_http_t *h = arg;
    uint64_t from, limit;
    if (s_query_u64(req, "from", 1, UINT64_MAX, &from) < 0 ||
        s_query_u64(req, "limit", 1000, S_LOG_LIMIT_MAX, &limit) < 0) {
        vx_http_error(resp, 400, "invalid_request",
                      "from must be an event number >= 0, limit 0..%d", S_LOG_LIMIT_MAX);
        return;
    }
    if (s_read_gate(h, req, resp)) {
        return;
    }
    json_t *o = coord_fsm_log(h->fsm, from, (size_t)limit);
    uint64_t first = (uint64_t)json_integer_value(json_object_get(o, "first"));
    if (from < first && from > 0 && first > 1) {
        json_object_set_new(o, "truncated", json_true());
    }
    resp->json = o;
}

void
coord_http_get_conflicts(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    coord_http_t *h = arg;
    if (s_read_gate(h, req, resp)) {
        return;
    }
    resp->json = json_pack("{s:o}", "conflicts", coord_fsm_conflicts(h->fsm));
}

void
coord_http_get_stats(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    coord_http_t *h = arg;
    if (s_read_gate(h, req, resp)) {
        return;
    }
    resp->json = coord_fsm_stats(h->fsm);
}
