/* SPDX-License-Identifier: Apache-2.0 */
/* REST routes: events, cluster administration, replicated state, conflicts. */
#include "coord_http.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vx_arena.h"
#include "vx_event.h"
#include "vx_mem.h"

#define S_MAX_EVENTS_PER_REQUEST 10000
#define S_LOG_LIMIT_MAX 10000
#define S_STATE_DEPTH 12 /* path segments accepted after /v1/state/ */

struct coord_http {
    coord_raft_t *raft;
    coord_fsm_t *fsm;
    struct coord_http_opts opts;
    struct vx_drops invalid; /* events refused at the REST boundary */
    vx_counter_t *received_rest;
};

/* Adds the leader's whereabouts to an error body. */
static void
s_add_leader(coord_http_t *h, struct vx_http_resp *resp)
{
    struct coord_member m;
    if (!resp->json || !coord_raft_leader(h->raft, &m)) {
        return;
    }
    char rest[80] = "";
    if (m.rest_port) {
        snprintf(rest, sizeof rest, "%s:%u", m.host, (unsigned)m.rest_port);
    }
    json_object_set_new(resp->json, "leader",
                        json_pack("{s:I, s:s*}", "id", (json_int_t)m.id, "rest",
                                  rest[0] ? rest : NULL));
}

/* Refuses a write this node cannot take. Returns true when it answered. */
static bool
s_refuse_write(coord_http_t *h, struct vx_http_resp *resp)
{
    if (coord_raft_partitioned(h->raft)) {
        vx_http_error(resp, 503, "partitioned",
                      "this node cannot reach a majority of the cluster; writes are refused "
                      "until the network heals");
        return true;
    }
    return false;
}

/* Maps an operation's outcome onto the response; true when it was a failure. */
static bool
s_op_error(coord_http_t *h, const struct coord_op_result *res, struct vx_http_resp *resp)
{
    switch (res->status) {
    case 0:
        return false;
    case -ENOTCONN:
        if (res->leader) {
            vx_http_error(resp, 421, "not_leader",
                          "this node is a follower; send writes to the leader (node %" PRIu64 ")",
                          res->leader);
        } else {
            vx_http_error(resp, 503, "no_leader",
                          "no leader is known (election in progress or partition)");
        }
        s_add_leader(h, resp);
        break;
    case -ETIMEDOUT:
        vx_http_error(resp, 504, "timeout", "%s", res->message);
        break;
    case -EAGAIN:
        vx_http_error(resp, 503, "leadership_lost",
                      "leadership changed before the commit was confirmed; the entry may still "
                      "commit: retry with the same event ids (duplicates are skipped)");
        s_add_leader(h, resp);
        break;
    case -EBUSY:
        vx_http_error(resp, 409, "change_in_progress",
                      "another membership change is in progress: %s", res->message);
        break;
    case -ENOENT:
        vx_http_error(resp, 404, "unknown_member", "%s", res->message);
        break;
    case -EEXIST:
        vx_http_error(resp, 409, "member_exists", "%s", res->message);
        break;
    case -ESHUTDOWN:
        vx_http_error(resp, 503, "shutting_down", "%s", res->message);
        break;
    default:
        vx_http_error(resp, 500, "raft_error", "%s", res->message);
        break;
    }
    return true;
}

/* ---- events ----------------------------------------------------------------------------- */

static void
cb_post_events(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    coord_http_t *h = arg;
    json_t *body = vx_http_req_json(req);
    if (!body || (!json_is_object(body) && !json_is_array(body))) {
        vx_http_error(resp, 400, "invalid_event", "expected an event object or an array of events");
        return;
    }
    size_t n = json_is_array(body) ? json_array_size(body) : 1;
    if (n == 0 || n > S_MAX_EVENTS_PER_REQUEST) {
        vx_http_error(resp, n ? 413 : 400, n ? "too_many_events" : "invalid_event",
                      "a request carries 1 to %d events, got %zu", S_MAX_EVENTS_PER_REQUEST, n);
        return;
    }
    if (s_refuse_write(h, resp)) {
        return;
    }
    size_t blen = 0;
    vx_http_req_body(req, &blen);
    vx_arena_t *arena = vx_arena_new(64 * 1024, 8 * blen + (1u << 20));
    vx_event_t **events = vx_calloc(n, sizeof *events);
    uint8_t *ids = vx_malloc(n * VX_EVENT_ID_LEN);
    uint8_t *packed = NULL;
    json_t *idlist = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *obj = json_is_array(body) ? json_array_get(body, i) : body;
        char err[300];
        enum vx_drop_reason reason = VX_DROP_BAD_JSON;
        int rc = vx_event_from_json(obj, arena, &events[i], err, sizeof err, &reason);
        if (rc == 0) {
            rc = vx_event_validate(events[i], err, sizeof err, &reason);
        }
        if (rc < 0) {
            vx_drops_add(&h->invalid, reason, 1);
            unsigned status = reason == VX_DROP_BAD_JSON ? 400 : 422;
            if (json_is_array(body)) {
                vx_http_error(resp, status, "invalid_event", "events[%zu]: %s", i, err);
            } else {
                vx_http_error(resp, status, "invalid_event", "%s", err);
            }
            goto out;
        }
        /* Ids make a retried request idempotent: the state machine skips ids it applied. */
        if (events[i]->id.len != VX_EVENT_ID_LEN) {
            vx_event_id_new(&ids[i * VX_EVENT_ID_LEN]);
            events[i]->id.data = &ids[i * VX_EVENT_ID_LEN];
            events[i]->id.len = VX_EVENT_ID_LEN;
        }
        char idtext[VX_EVENT_ID_STR];
        vx_event_id_format(events[i]->id.data, idtext);
        json_array_append_new(idlist, json_string(idtext));
    }
    vx_counter_add(h->received_rest, n);
    vx_batch_t batch = VEXFS__V1__EVENT_BATCH__INIT;
    batch.events = events;
    batch.n_events = n;
    batch.sender = (char *)"coordinator-rest";
    size_t len = vexfs__v1__event_batch__get_packed_size(&batch);
    packed = vx_malloc(len ? len : 1);
    vexfs__v1__event_batch__pack(&batch, packed);
    struct coord_op_result res;
    coord_raft_submit(h->raft, COORD_ENTRY_EVENTS, packed, len, h->opts.apply_timeout_ms, &res);
    if (s_op_error(h, &res, resp)) {
        goto out;
    }
    if (res.apply.status < 0) {
        vx_http_error(resp, 422, "rejected", "%s", res.apply.message);
        goto out;
    }
    resp->json = json_pack("{s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:I, s:O}", "index",
                           (json_int_t)res.index, "term", (json_int_t)res.term, "latency_ms",
                           res.latency_s * 1000.0, "accepted", (json_int_t)res.apply.accepted,
                           "duplicates", (json_int_t)res.apply.duplicates, "conflicts",
                           (json_int_t)res.apply.conflicts, "first_seq",
                           (json_int_t)res.apply.first_seq, "last_seq",
                           (json_int_t)res.apply.last_seq, "ids", idlist);
out:
    json_decref(idlist);
    free(packed);
    free(ids);
    free(events);
    vx_arena_destroy(&arena);
}

/* ---- cluster ---------------------------------------------------------------------------- */

static void
cb_get_cluster(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    (void)req;
    coord_http_t *h = arg;
    resp->json = coord_raft_status(h->raft);
}

static bool
s_json_id(json_t *body, const char *key, uint64_t *out, bool required)
{
    json_t *v = body ? json_object_get(body, key) : NULL;
    if (!v) {
        *out = 0;
        return !required;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 1) {
        return false;
    }
    *out = (uint64_t)json_integer_value(v);
    return true;
}

static void
cb_post_transfer(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    coord_http_t *h = arg;
    json_t *body = vx_http_req_json(req);
    uint64_t id;
    if ((body && !json_is_object(body)) || !s_json_id(body, "id", &id, false)) {
        vx_http_error(resp, 400, "invalid_request",
                      "expected {\"id\": N} with the target member's id (or no body: any voter)");
        return;
    }
    if (s_refuse_write(h, resp)) {
        return;
    }
    struct coord_op_result res;
    coord_raft_transfer(h->raft, id, h->opts.transfer_timeout_ms, &res);
    if (res.status == -ETIMEDOUT) {
        vx_http_error(resp, 504, "transfer_failed", "%s", res.message);
        return;
    }
    if (s_op_error(h, &res, resp)) {
        return;
    }
    resp->json = json_pack("{s:I, s:I}", "leader", (json_int_t)res.leader, "term",
                           (json_int_t)res.term);
}

static void
cb_post_member(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    coord_http_t *h = arg;
    json_t *body = vx_http_req_json(req);
    const char *text = json_string_value(json_object_get(body, "member"));
    if (!text) {
        vx_http_error(resp, 400, "invalid_request",
                      "expected {\"member\": \"id@ip:raft_port[/rest_port[/input_port]]\"}");
        return;
    }
    struct coord_member m;
    char err[256];
    if (coord_member_parse(text, &m, err, sizeof err) < 0) {
        vx_http_error(resp, 422, "invalid_member", "%s", err);
        return;
    }
    if (s_refuse_write(h, resp)) {
        return;
    }
    struct coord_op_result res;
    coord_raft_add(h->raft, &m, h->opts.member_timeout_ms, &res);
    if (s_op_error(h, &res, resp)) {
        return;
    }
    resp->status = 201;
    resp->json = json_pack("{s:I, s:s, s:s}", "id", (json_int_t)m.id, "address", m.raft_addr,
                           "role", "voter");
}

static void
cb_delete_member(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    coord_http_t *h = arg;
    const char *idtext = vx_http_req_param(req, "id");
    char *end = NULL;
    unsigned long long id = strtoull(idtext ? idtext : "", &end, 10);
    if (!idtext || end == idtext || *end || id == 0 || idtext[0] == '-') {
        vx_http_error(resp, 400, "invalid_request", "member id must be a positive integer");
        return;
    }
    if (s_refuse_write(h, resp)) {
        return;
    }
    struct coord_op_result res;
    coord_raft_remove(h->raft, id, h->opts.member_timeout_ms, &res);
    if (res.status == -ENOENT) {
        vx_http_error(resp, 404, "unknown_member", "node %llu is not a member of the cluster",
                      id);
        return;
    }
    if (s_op_error(h, &res, resp)) {
        return;
    }
    resp->json = json_pack("{s:I, s:b}", "id", (json_int_t)id, "removed", 1);
}

/* ---- state, log, conflicts ---------------------------------------------------------------- */

static void
cb_get_state(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
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
    json_t *o = coord_fsm_key(h->fsm, key);
    if (!o) {
        vx_http_error(resp, 404, "unknown_key", "no committed event touched key '%s'", key);
        return;
    }
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

static void
cb_get_log(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    coord_http_t *h = arg;
    uint64_t from, limit;
    if (s_query_u64(req, "from", 1, UINT64_MAX, &from) < 0 ||
        s_query_u64(req, "limit", 1000, S_LOG_LIMIT_MAX, &limit) < 0) {
        vx_http_error(resp, 400, "invalid_request",
                      "from must be an event number >= 0, limit 0..%d", S_LOG_LIMIT_MAX);
        return;
    }
    json_t *o = coord_fsm_log(h->fsm, from, (size_t)limit);
    uint64_t first = (uint64_t)json_integer_value(json_object_get(o, "first"));
    if (from < first && from > 0 && first > 1) {
        json_object_set_new(o, "truncated", json_true());
    }
    resp->json = o;
}

static void
cb_get_conflicts(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    (void)req;
    coord_http_t *h = arg;
    resp->json = json_pack("{s:o}", "conflicts", coord_fsm_conflicts(h->fsm));
}

static void
cb_resolve(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    coord_http_t *h = arg;
    const char *idtext = vx_http_req_param(req, "id");
    char *end = NULL;
    unsigned long long id = strtoull(idtext ? idtext : "", &end, 10);
    json_t *body = vx_http_req_json(req);
    json_t *choose = json_object_get(body, "choose"), *value = json_object_get(body, "value");
    if (!idtext || end == idtext || *end || id == 0) {
        vx_http_error(resp, 400, "invalid_request", "conflict id must be a positive integer");
        return;
    }
    if (!body || (!choose == !value) || (choose && !json_is_string(choose)) ||
        (value && !json_is_object(value)) || json_object_size(body) != 1) {
        vx_http_error(resp, 400, "invalid_request",
                      "expected {\"choose\": \"<event id of a candidate>\"} or "
                      "{\"value\": {...}}");
        return;
    }
    if (!coord_fsm_conflict_open(h->fsm, id)) {
        vx_http_error(resp, 404, "unknown_conflict", "conflict %llu is not open", id);
        return;
    }
    if (s_refuse_write(h, resp)) {
        return;
    }
    json_t *entry = json_pack("{s:I, s:O}", "conflict", (json_int_t)id,
                              choose ? "choose" : "value", choose ? choose : value);
    char *text = json_dumps(entry, JSON_COMPACT);
    json_decref(entry);
    struct coord_op_result res;
    coord_raft_submit(h->raft, COORD_ENTRY_RESOLVE, text, strlen(text), h->opts.apply_timeout_ms,
                      &res);
    free(text);
    if (s_op_error(h, &res, resp)) {
        return;
    }
    if (res.apply.status == -ENOENT) {
        vx_http_error(resp, 404, "unknown_conflict", "%s", res.apply.message);
        return;
    }
    if (res.apply.status < 0) {
        vx_http_error(resp, 422, "invalid_resolution", "%s", res.apply.message);
        return;
    }
    resp->json = json_pack("{s:I, s:b, s:I}", "id", (json_int_t)id, "resolved", 1, "index",
                           (json_int_t)res.index);
}

static void
cb_get_stats(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    (void)req;
    coord_http_t *h = arg;
    resp->json = coord_fsm_stats(h->fsm);
}

static bool
cb_ready(void *arg, json_t *detail)
{
    coord_http_t *h = arg;
    return coord_raft_ready(h->raft, detail);
}

coord_http_t *
coord_http_new(vx_http_t *http, coord_raft_t *raft, coord_fsm_t *fsm, vx_metrics_t *metrics,
               const struct coord_http_opts *opts)
{
    coord_http_t *h = vx_calloc(1, sizeof *h);
    h->raft = raft;
    h->fsm = fsm;
    h->opts = *opts;
    vx_drops_init(&h->invalid, metrics, "vexfs_events_dropped_total",
                  "Events not committed, by reason.", VX_DROP_MASK_EVENT);
    h->received_rest = vx_metrics_counter(metrics, "vexfs_events_received_total",
                                          "Events received, by ingest channel.", "channel",
                                          "rest", NULL);
    vx_http_route(http, "POST", "/v1/events", cb_post_events, h);
    vx_http_route(http, "GET", "/v1/cluster", cb_get_cluster, h);
    vx_http_route(http, "POST", "/v1/leadership/transfer", cb_post_transfer, h);
    vx_http_route(http, "POST", "/v1/members", cb_post_member, h);
    vx_http_route(http, "DELETE", "/v1/members/{id}", cb_delete_member, h);
    vx_http_route(http, "GET", "/v1/state", cb_get_state, h);
    char pattern[512] = "/v1/state";
    for (int i = 0; i < S_STATE_DEPTH; i++) {
        size_t l = strlen(pattern);
        snprintf(pattern + l, sizeof pattern - l, "/{s%d}", i);
        vx_http_route(http, "GET", pattern, cb_get_state, h);
    }
    vx_http_route(http, "GET", "/v1/log", cb_get_log, h);
    vx_http_route(http, "GET", "/v1/conflicts", cb_get_conflicts, h);
    vx_http_route(http, "POST", "/v1/conflicts/{id}/resolve", cb_resolve, h);
    vx_http_route(http, "GET", "/v1/stats", cb_get_stats, h);
    vx_http_set_ready(http, cb_ready, h);
    return h;
}

void
coord_http_destroy(coord_http_t **hp)
{
    if (!hp || !*hp) {
        return;
    }
    vx_free(hp);
}
