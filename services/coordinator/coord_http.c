/* SPDX-License-Identifier: Apache-2.0 */
/* REST routes that change things: events (plain and conditional), conflict resolution,
 * membership and leadership; and the one mapping of outcomes onto HTTP statuses.
 *
 * Outcomes (README, "Outcomes of a write"): 2xx done; 4xx and 421 refused, nothing changed;
 * 503 (with Retry-After) certainly not done, retry freely; 504 may have happened, retry with
 * the same event ids (deduplication makes the retry safe). Error bodies of writes say which
 * in "outcome": "not_done" or "unknown". */
#include "coord_http_priv.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vx_arena.h"
#include "vx_event.h"
#include "vx_mem.h"

#define S_MAX_EVENTS_PER_REQUEST 10000

/* ---- outcomes --------------------------------------------------------------------------- */

void
coord_http_outcome(struct vx_http_resp *resp, enum coord_outcome o)
{
    if (resp->json && o != COORD_OUTCOME_NONE) {
        json_object_set_new(resp->json, "outcome",
                            json_string(o == COORD_OUTCOME_NOT_DONE ? "not_done" : "unknown"));
    }
}

/* Adds {"leader":{"id":N,"rest":"host:port"}} for leader id (0: nothing). */
static void
s_add_leader(coord_http_t *h, struct vx_http_resp *resp, uint64_t id)
{
    struct coord_member m;
    if (!resp->json || id == 0) {
        return;
    }
    if (!coord_raft_member(h->raft, id, &m)) {
        memset(&m, 0, sizeof m);
        m.id = id;
    }
    char rest[80] = "";
    if (m.rest_port) {
        snprintf(rest, sizeof rest, "%s:%u", m.host, (unsigned)m.rest_port);
    }
    json_object_set_new(resp->json, "leader",
                        json_pack("{s:I, s:s*}", "id", (json_int_t)id, "rest",
                                  rest[0] ? rest : NULL));
}

void
coord_http_unavailable(coord_http_t *h, struct vx_http_resp *resp, const char *code, bool write,
                       const char *msg)
{
    unsigned after = coord_raft_retry_after_s(h->raft);
    vx_http_error(resp, 503, code, "%s", msg);
    vx_http_resp_header(resp, "Retry-After", "%u", after);
    json_object_set_new(resp->json, "retry_after_s", json_integer(after));
    coord_http_outcome(resp, write ? COORD_OUTCOME_NOT_DONE : COORD_OUTCOME_NONE);
}

/* Refuses a write this node cannot take. Returns true when it answered. */
static bool
s_refuse_write(coord_http_t *h, struct vx_http_resp *resp)
{
    if (coord_raft_partitioned(h->raft)) {
        coord_http_unavailable(h, resp, "partitioned", true,
                               "this node cannot reach a majority of the cluster; nothing was "
                               "written: retry (here once the network heals, or elsewhere)");
        return true;
    }
    return false;
}

/* Every error of a cluster operation maps here to one HTTP status and one code, with the
 * outcome the caller needs to retry safely: whether the operation certainly did not happen or
 * may still commit (a proposal in flight), and where the leader is. One switch keeps that
 * mapping the same for every route. */
bool
coord_http_op_error(coord_http_t *h, const struct coord_op_result *res,
                    struct vx_http_resp *resp, bool write)
{
    enum coord_outcome unknown = write ? COORD_OUTCOME_UNKNOWN : COORD_OUTCOME_NONE;
    enum coord_outcome not_done = write ? COORD_OUTCOME_NOT_DONE : COORD_OUTCOME_NONE;
    switch (res->status) {
    case 0:
        return false;
    case -ENOTCONN:
        if (res->leader != 0 && res->leader != h->node_id) {
            vx_http_error(resp, 421, "not_leader",
                          "this node is a follower; send %s to the leader (node %" PRIu64 ")",
                          write ? "writes" : "linearizable and leader reads", res->leader);
            coord_http_outcome(resp, not_done);
            s_add_leader(h, resp, res->leader);
        } else if (res->leader == h->node_id) {
            coord_http_unavailable(h, resp, "leadership_transfer", write,
                                   "leadership is being handed over; nothing was done: retry");
        } else {
            coord_http_unavailable(h, resp, "no_leader", write,
                                   "no live leader is known (election in progress or "
                                   "partition); nothing was done: retry");
        }
        return true;
    case -ETIMEDOUT:
        if (write) {
            vx_http_error(resp, 504, "timeout",
                          "%s; the write may still commit: retry with the same event ids "
                          "(duplicates are skipped)",
                          res->message);
        } else {
            vx_http_error(resp, 504, "timeout", "the read could not be confirmed: %s",
                          res->message);
        }
        coord_http_outcome(resp, unknown);
        s_add_leader(h, resp, res->leader);
        return true;
    case -EAGAIN:
        vx_http_error(resp, 504, "leadership_lost",
                      "leadership changed before the commit was confirmed; the entry may "
                      "still commit: retry with the same event ids (duplicates are skipped)");
        coord_http_outcome(resp, unknown);
        s_add_leader(h, resp, res->leader != h->node_id ? res->leader : 0);
        return true;
    case -ESHUTDOWN:
        if (res->proposed) {
            vx_http_error(resp, 504, "shutting_down",
                          "the node stopped with the entry in flight; it may still commit: "
                          "retry with the same event ids elsewhere");
            coord_http_outcome(resp, unknown);
        } else {
            coord_http_unavailable(h, resp, "shutting_down", write,
                                   "the node is stopping; nothing was done: retry elsewhere");
        }
        return true;
    case -ENOSPC:
        if (res->proposed) {
            vx_http_error(resp, 507, "insufficient_storage",
                          "%s; the entry may still commit through the other members: retry with "
                          "the same event ids (duplicates are skipped)",
                          res->message);
            coord_http_outcome(resp, unknown);
        } else {
            vx_http_error(resp, 507, "insufficient_storage", "%s: retry", res->message);
            vx_http_resp_header(resp, "Retry-After", "%u", coord_raft_retry_after_s(h->raft));
            coord_http_outcome(resp, not_done);
        }
        return true;
    case -EBUSY:
        vx_http_error(resp, 409, "change_in_progress",
                      "another membership change is in progress: %s", res->message);
        coord_http_outcome(resp, not_done);
        return true;
    case -ENOENT:
        vx_http_error(resp, 404, "unknown_member", "%s", res->message);
        coord_http_outcome(resp, not_done);
        return true;
    case -EEXIST:
        vx_http_error(resp, 409, "member_exists", "%s", res->message);
        coord_http_outcome(resp, not_done);
        return true;
    default:
        if (res->proposed) {
            vx_http_error(resp, 504, "raft_error", "%s; the entry may still commit",
                          res->message);
            coord_http_outcome(resp, unknown);
        } else {
            coord_http_unavailable(h, resp, "raft_error", write, res->message);
        }
        return true;
    }
}

/* ---- conditions ------------------------------------------------------------------------- */

/* A condition from a body's "if" object: {"revision":N}, {"value":{...}}, {"absent":true} or
 * {"exists":true}. value_text receives the compact JSON of a value (caller frees). */
static int
s_cond_from_json(json_t *o, struct coord_cond *c, char **value_text, char *err, size_t errlen)
{
    json_t *v;
    if (!json_is_object(o) || json_object_size(o) != 1) {
        snprintf(err, errlen, "\"if\" must be one of {\"revision\":N}, {\"value\":{...}}, "
                              "{\"absent\":true}, {\"exists\":true}");
        return -EINVAL;
    }
    if ((v = json_object_get(o, "revision"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            snprintf(err, errlen, "\"if\": revision must be an integer >= 0");
            return -EINVAL;
        }
        c->type = COORD_IF_REVISION;
        c->revision = (uint64_t)json_integer_value(v);
    } else if ((v = json_object_get(o, "value"))) {
        if (!json_is_object(v)) {
            snprintf(err, errlen, "\"if\": value must be an object (the register's content)");
            return -EINVAL;
        }
        *value_text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
        c->type = COORD_IF_VALUE;
        c->value = *value_text;
        c->value_len = strlen(*value_text);
    } else if ((v = json_object_get(o, "absent")) && json_is_true(v)) {
        c->type = COORD_IF_ABSENT;
    } else if ((v = json_object_get(o, "exists")) && json_is_true(v)) {
        c->type = COORD_IF_EXISTS;
    } else {
        snprintf(err, errlen, "\"if\" must be one of {\"revision\":N}, {\"value\":{...}}, "
                              "{\"absent\":true}, {\"exists\":true}");
        return -EINVAL;
    }
    return 0;
}

/* If-Match: "N" (the key's revision, as GET /v1/state's ETag gives it) or *; If-None-Match: *.
 * Returns 1 when a header set c, 0 when none, -EINVAL. */
static int
s_cond_from_headers(vx_http_req_t *req, struct coord_cond *c, char *err, size_t errlen)
{
    const char *im = vx_http_req_header(req, "If-Match");
    const char *inm = vx_http_req_header(req, "If-None-Match");
    if (im && inm) {
        snprintf(err, errlen, "give If-Match or If-None-Match, not both");
        return -EINVAL;
    }
    if (inm) {
        if (strcmp(inm, "*") != 0) {
            snprintf(err, errlen, "If-None-Match: only * (the key does not exist) is supported");
            return -EINVAL;
        }
        c->type = COORD_IF_ABSENT;
        return 1;
    }
    if (!im) {
        return 0;
    }
    if (strcmp(im, "*") == 0) {
        c->type = COORD_IF_EXISTS;
        return 1;
    }
    const char *p = im;
    size_t n = strlen(p);
    if (n >= 2 && p[0] == '"' && p[n - 1] == '"') {
        p++;
        n -= 2;
    }
    char digits[24];
    if (n == 0 || n >= sizeof digits) {
        snprintf(err, errlen, "If-Match: expected a revision such as \"42\", got '%.60s'", im);
        return -EINVAL;
    }
    memcpy(digits, p, n);
    digits[n] = '\0';
    char *end = NULL;
    errno = 0;
    unsigned long long rev = strtoull(digits, &end, 10);
    if (errno || *end || digits[0] < '0' || digits[0] > '9') {
        snprintf(err, errlen, "If-Match: expected a revision such as \"42\", got '%.60s'", im);
        return -EINVAL;
    }
    c->type = COORD_IF_REVISION;
    c->revision = rev;
    return 1;
}

/* ---- events ----------------------------------------------------------------------------- */

/* The answer to a write that committed: counts, its index and the state's revision. */
static json_t *
s_write_answer(const struct coord_op_result *res, json_t *idlist)
{
    return json_pack("{s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:O}", "index",
                     (json_int_t)res->index, "term", (json_int_t)res->term, "latency_ms",
                     res->latency_s * 1000.0, "accepted", (json_int_t)res->apply.accepted,
                     "duplicates", (json_int_t)res->apply.duplicates, "conflicts",
                     (json_int_t)res->apply.conflicts, "first_seq",
                     (json_int_t)res->apply.first_seq, "last_seq",
                     (json_int_t)res->apply.last_seq, "revision",
                     (json_int_t)res->apply.revision, "ids", idlist);
}

/* The request's shape: a plain event, an array, or the conditional form {"event", "if"}, and
 * its condition (from "if" or from headers) in *cond (*cond_value owned by the caller). On
 * return *body is the event or array of events. Returns false with resp set when refused. */
static bool
s_events_shape(vx_http_req_t *req, json_t **body, struct coord_cond *cond, char **cond_value,
               int *has_cond, struct vx_http_resp *resp)
{
    json_t *b = *body;
    if (!b || (!json_is_object(b) && !json_is_array(b))) {
        vx_http_error(resp, 400, "invalid_event",
                      "expected an event object, an array of events or "
                      "{\"event\": {...}, \"if\": {...}}");
        return false;
    }
    /* The conditional form wraps one event; so do condition headers. */
    char cerr[200];
    *has_cond = s_cond_from_headers(req, cond, cerr, sizeof cerr);
    if (json_is_object(b) && json_object_get(b, "event")) {
        json_t *ifo = json_object_get(b, "if");
        if (!json_is_object(json_object_get(b, "event")) || !ifo || json_object_size(b) != 2) {
            vx_http_error(resp, 400, "invalid_request",
                          "a conditional write is {\"event\": {...}, \"if\": {...}}");
            return false;
        }
        if (*has_cond != 0) {
            vx_http_error(resp, 400, "invalid_request",
                          "give the condition once: in \"if\" or in a header");
            return false;
        }
        *has_cond = s_cond_from_json(ifo, cond, cond_value, cerr, sizeof cerr) < 0 ? -1 : 1;
        b = json_object_get(b, "event");
    }
    *body = b;
    if (*has_cond < 0 || (*has_cond > 0 && !json_is_object(b))) {
        vx_http_error(resp, 400, "invalid_request", "%s",
                      *has_cond < 0 ? cerr : "a conditional write carries exactly one event");
        return false;
    }
    size_t n = json_is_array(b) ? json_array_size(b) : 1;
    if (n == 0 || n > S_MAX_EVENTS_PER_REQUEST) {
        vx_http_error(resp, n ? 413 : 400, n ? "too_many_events" : "invalid_event",
                      "a request carries 1 to %d events, got %zu", S_MAX_EVENTS_PER_REQUEST, n);
        return false;
    }
    return true;
}

/* Decodes and validates the n events of body into events (in arena), each given an id when
 * it has none (ids: n ids of room), their ids appended to idlist. Returns false with resp set
 * (the event named) at the first bad one. */
static bool
s_events_decode(coord_http_t *h, json_t *body, size_t n, vx_arena_t *arena, vx_event_t **events,
                uint8_t *ids, json_t *idlist, struct vx_http_resp *resp)
{
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
            return false;
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
    return true;
}

/* The answer to a proposed write from its outcome res: an error of the proposal (no leader,
 * timeout, ...), a condition not met (412), clocks refused at commit (422, the part that
 * committed named), a rejection, or the write's answer. */
static void
s_events_answer(coord_http_t *h, struct coord_op_result *res, json_t *idlist,
                struct vx_http_resp *resp)
{
    if (coord_http_op_error(h, res, resp, true)) {
        return;
    }
    if (res->apply.status == -ECANCELED) {
        vx_http_error(resp, 412, "precondition_failed", "%s; nothing was written",
                      res->apply.message);
        coord_http_outcome(resp, COORD_OUTCOME_NOT_DONE);
        json_t *cur = res->apply.current;
        json_object_set_new(resp->json, "revision",
                            json_integer(cur ? json_integer_value(json_object_get(cur, "revision"))
                                             : 0));
        json_object_set(resp->json, "current", cur ? cur : json_null());
        return;
    }
    if (res->apply.status == -E2BIG) {
        /* The state moved between the check before proposing and the commit: the events
         * named in "refused" changed nothing, the "accepted" ones committed. */
        vx_drops_add(&h->invalid, VX_DROP_TOO_LARGE, res->apply.refused);
        vx_http_error(resp, 422, "clock_too_large", "%s; %zu of the request's events "
                      "committed, %zu refused", res->apply.message, res->apply.accepted,
                      res->apply.refused);
        coord_http_outcome(resp, COORD_OUTCOME_NOT_DONE);
        json_object_set_new(resp->json, "accepted", json_integer((json_int_t)res->apply.accepted));
        json_object_set_new(resp->json, "refused", json_integer((json_int_t)res->apply.refused));
        return;
    }
    if (res->apply.status < 0) {
        vx_http_error(resp, 422, "rejected", "%s", res->apply.message);
        coord_http_outcome(resp, COORD_OUTCOME_NOT_DONE);
        return;
    }
    resp->json = s_write_answer(res, idlist);
}

/* One pass from the request to the answer, in order: shape and condition, each event decoded,
 * validated and given an id, the clocks checked, then one entry proposed (plain or
 * compare-and-set) and its outcome mapped. */
static void
cb_post_events(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    coord_http_t *h = arg;
    json_t *body = vx_http_req_json(req);
    struct coord_cond cond = {0};
    char *cond_value = NULL;
    int has_cond = 0;
    if (!s_events_shape(req, &body, &cond, &cond_value, &has_cond, resp)) {
        coord_http_outcome(resp, COORD_OUTCOME_NOT_DONE);
        free(cond_value);
        return;
    }
    if (s_refuse_write(h, resp)) {
        free(cond_value);
        return;
    }
    size_t n = json_is_array(body) ? json_array_size(body) : 1;
    size_t blen = 0;
    vx_http_req_body(req, &blen);
    vx_arena_t *arena = vx_arena_new(64 * 1024, 8 * blen + (1u << 20));
    vx_event_t **events = vx_calloc(n, sizeof *events);
    uint8_t *ids = vx_malloc(n * VX_EVENT_ID_LEN);
    uint8_t *packed = NULL, *part = NULL;
    json_t *idlist = json_array();
    struct coord_op_result res = {0};
    if (!s_events_decode(h, body, n, arena, events, ids, idlist, resp)) {
        coord_http_outcome(resp, COORD_OUTCOME_NOT_DONE);
        goto out;
    }
    vx_counter_add(h->received_rest, n);
    char cerr2[400];
    if (coord_fsm_clock_check(h->fsm, events, n, cerr2, sizeof cerr2) < 0) {
        vx_drops_add(&h->invalid, VX_DROP_TOO_LARGE, n);
        vx_http_error(resp, 422, "clock_too_large", "%s", cerr2);
        coord_http_outcome(resp, COORD_OUTCOME_NOT_DONE);
        goto out;
    }
    vx_batch_t batch = VEXFS__V1__EVENT_BATCH__INIT;
    batch.events = events;
    batch.n_events = n;
    batch.sender = (char *)"coordinator-rest";
    size_t len = vexfs__v1__event_batch__get_packed_size(&batch);
    packed = vx_malloc(len ? len : 1);
    vexfs__v1__event_batch__pack(&batch, packed);
    if (has_cond > 0) {
        size_t plen = 0;
        part = coord_cas_payload(&cond, packed, len, &plen);
        coord_raft_submit(h->raft, COORD_ENTRY_CAS, part, plen, h->opts.apply_timeout_ms, &res);
    } else {
        coord_raft_submit(h->raft, COORD_ENTRY_EVENTS, packed, len, h->opts.apply_timeout_ms,
                          &res);
    }
    s_events_answer(h, &res, idlist, resp);
out:
    coord_op_result_fini(&res);
    json_decref(idlist);
    free(cond_value);
    free(part);
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
    if (coord_http_op_error(h, &res, resp, true)) {
        return;
    }
    resp->json = json_pack("{s:I, s:I, s:b}", "leader", (json_int_t)res.leader, "term",
                           (json_int_t)res.term, "already_leader", res.already_leader);
    if (res.already_leader) {
        json_object_set_new(resp->json, "message", json_string(res.message));
    }
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
    if (coord_http_op_error(h, &res, resp, true)) {
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
    if (coord_http_op_error(h, &res, resp, true)) {
        return;
    }
    resp->json = json_pack("{s:I, s:b}", "id", (json_int_t)id, "removed", 1);
}

/* ---- conflicts ---------------------------------------------------------------------- */

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
    coord_op_result_fini(&res);
    if (coord_http_op_error(h, &res, resp, true)) {
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

static bool
cb_ready(void *arg, json_t *detail)
{
    coord_http_t *h = arg;
    return coord_raft_ready(h->raft, detail);
}

/* The REST API: method, path, the least role that may call it, handler. Reads need viewer,
 * writes of events and resolutions operator, membership and leadership admin; /health and
 * /ready come open from vx_http. A key path of up to S_STATE_DEPTH segments is one route per
 * depth, since a {name} fills exactly one segment. */
#define S_STATE(pattern) {"GET", (pattern), VX_ROLE_VIEWER, coord_http_get_state}
static const struct vx_http_route_def s_routes[] = {
    {"POST", "/v1/events", VX_ROLE_OPERATOR, cb_post_events},
    {"POST", "/v1/conflicts/{id}/resolve", VX_ROLE_OPERATOR, cb_resolve},
    {"POST", "/v1/leadership/transfer", VX_ROLE_ADMIN, cb_post_transfer},
    {"POST", "/v1/members", VX_ROLE_ADMIN, cb_post_member},
    {"DELETE", "/v1/members/{id}", VX_ROLE_ADMIN, cb_delete_member},
    {"GET", "/v1/cluster", VX_ROLE_VIEWER, cb_get_cluster},
    {"GET", "/v1/log", VX_ROLE_VIEWER, coord_http_get_log},
    {"GET", "/v1/conflicts", VX_ROLE_VIEWER, coord_http_get_conflicts},
    {"GET", "/v1/stats", VX_ROLE_VIEWER, coord_http_get_stats},
    S_STATE("/v1/state"),
    S_STATE("/v1/state/{s0}"),
    S_STATE("/v1/state/{s0}/{s1}"),
    S_STATE("/v1/state/{s0}/{s1}/{s2}"),
    S_STATE("/v1/state/{s0}/{s1}/{s2}/{s3}"),
    S_STATE("/v1/state/{s0}/{s1}/{s2}/{s3}/{s4}"),
    S_STATE("/v1/state/{s0}/{s1}/{s2}/{s3}/{s4}/{s5}"),
    S_STATE("/v1/state/{s0}/{s1}/{s2}/{s3}/{s4}/{s5}/{s6}"),
    S_STATE("/v1/state/{s0}/{s1}/{s2}/{s3}/{s4}/{s5}/{s6}/{s7}"),
    S_STATE("/v1/state/{s0}/{s1}/{s2}/{s3}/{s4}/{s5}/{s6}/{s7}/{s8}"),
    S_STATE("/v1/state/{s0}/{s1}/{s2}/{s3}/{s4}/{s5}/{s6}/{s7}/{s8}/{s9}"),
    S_STATE("/v1/state/{s0}/{s1}/{s2}/{s3}/{s4}/{s5}/{s6}/{s7}/{s8}/{s9}/{s10}"),
    S_STATE("/v1/state/{s0}/{s1}/{s2}/{s3}/{s4}/{s5}/{s6}/{s7}/{s8}/{s9}/{s10}/{s11}"),
};

const struct vx_http_route_def *
coord_http_route_table(size_t *n)
{
    *n = sizeof s_routes / sizeof s_routes[0];
    return s_routes;
}

coord_http_t *
coord_http_new(vx_http_t *http, coord_raft_t *raft, coord_fsm_t *fsm, vx_metrics_t *metrics,
               const struct coord_http_opts *opts, char *err, size_t errlen)
{
    coord_http_t *h = vx_calloc(1, sizeof *h);
    h->raft = raft;
    h->fsm = fsm;
    h->opts = *opts;
    h->node_id = opts->node_id;
    vx_drops_init(&h->invalid, metrics, "vexfs_events_dropped_total",
                  "Events not committed, by reason.", VX_DROP_MASK_EVENT);
    h->received_rest = vx_metrics_counter(metrics, "vexfs_events_received_total",
                                          "Events received, by ingest channel.", "channel",
                                          "rest", NULL);
    if (vx_http_routes(http, s_routes, sizeof s_routes / sizeof s_routes[0], h, err, errlen) <
        0) {
        vx_free(&h);
        return NULL;
    }
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
