/* SPDX-License-Identifier: Apache-2.0 */
/* REST routes: event ingest and statistics (configuration routes come from vx_daemon). */
#include "prop_http.h"

#include <errno.h>
#include <string.h>

#include "vx_arena.h"
#include "vx_event.h"
#include "vx_mem.h"

#define S_MAX_EVENTS_PER_REQUEST 10000

struct prop_http {
    prop_server_t *server;
};

static bool
s_query_true(vx_http_req_t *req, const char *name)
{
    const char *v = vx_http_req_query(req, name);
    return v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "") == 0);
}

/* Every event of the request is decoded and validated before any is submitted, so a bad
 * event refuses the whole request (counted by reason) and changes nothing; the answer then
 * maps the loop's outcome to a status that says whether the events were taken. */
static void
cb_post_events(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    prop_http_t *p = arg;
    json_t *body = vx_http_req_json(req);
    bool durable = s_query_true(req, "durable");
    if (!body) {
        vx_http_error(resp, 400, "invalid_event", "expected an event object or an array of events");
        return;
    }
    if (durable && !prop_server_has_kafka(p->server)) {
        vx_http_error(resp, 409, "no_journal",
                      "durable=true needs Kafka: event_propagation.kafka_brokers is empty");
        return;
    }
    size_t n = json_is_array(body) ? json_array_size(body) : 1;
    if (n == 0 || n > S_MAX_EVENTS_PER_REQUEST) {
        vx_http_error(resp, n ? 413 : 400, n ? "too_many_events" : "invalid_event",
                      "a request carries 1 to %d events, got %zu", S_MAX_EVENTS_PER_REQUEST, n);
        return;
    }
    size_t blen = 0;
    vx_http_req_body(req, &blen);
    vx_arena_t *arena = vx_arena_new(64 * 1024, 8 * blen + (1u << 20));
    vx_event_t **events = vx_calloc(n, sizeof *events);
    for (size_t i = 0; i < n; i++) {
        json_t *obj = json_is_array(body) ? json_array_get(body, i) : body;
        char err[300];
        enum vx_drop_reason reason = VX_DROP_BAD_JSON;
        int rc = vx_event_from_json(obj, arena, &events[i], err, sizeof err, &reason);
        if (rc == 0) {
            rc = vx_event_validate(events[i], err, sizeof err, &reason);
        }
        if (rc < 0) {
            prop_server_count_invalid(p->server, reason, 1);
            unsigned status = reason == VX_DROP_BAD_JSON ? 400 : 422;
            if (json_is_array(body)) {
                vx_http_error(resp, status, "invalid_event", "events[%zu]: %s", i, err);
            } else {
                vx_http_error(resp, status, "invalid_event", "%s", err);
            }
            goto out;
        }
    }
    struct prop_outcome o;
    prop_server_submit(p->server, events, n, durable, &o);
    switch (o.status) {
    case 0:
        resp->status = durable ? 200 : 202;
        resp->json = json_pack("{s:I, s:I, s:b, s:o}", "accepted", (json_int_t)o.accepted,
                               "duplicates", (json_int_t)o.duplicates, "durable", durable, "ids",
                               o.ids ? o.ids : json_array());
        o.ids = NULL;
        break;
    case -EIO:
        vx_http_error(resp, 502, "journal_failed", "%s", o.message);
        break;
    case -ETIMEDOUT:
        vx_http_error(resp, 504, "timeout", "%s", o.message);
        break;
    case -EBUSY:
        vx_http_error(resp, 503, "busy", "%s", o.message);
        break;
    default:
        vx_http_error(resp, 503, "shutting_down", "%s", o.message);
        break;
    }
    json_decref(o.ids);
out:
    free(events);
    vx_arena_destroy(&arena);
}

static void
cb_get_stats(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    (void)req;
    prop_http_t *p = arg;
    resp->json = prop_server_stats(p->server);
}

static bool
cb_ready(void *arg, json_t *detail)
{
    prop_http_t *p = arg;
    return prop_server_ready(p->server, detail);
}

/* Every route with the least role that may call it (README, "REST API"): submitting events
 * changes the stream (operator), statistics are a read (viewer). */
static const struct vx_http_route_def s_routes[] = {
    {"POST", "/v1/events", VX_ROLE_OPERATOR, cb_post_events},
    {"GET", "/v1/stats", VX_ROLE_VIEWER, cb_get_stats},
};

const struct vx_http_route_def *
prop_http_route_table(size_t *n)
{
    *n = sizeof s_routes / sizeof s_routes[0];
    return s_routes;
}

prop_http_t *
prop_http_new(vx_http_t *http, prop_server_t *server, char *err, size_t errlen)
{
    prop_http_t *p = vx_calloc(1, sizeof *p);
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
prop_http_destroy(prop_http_t **pp)
{
    if (!pp || !*pp) {
        return;
    }
    vx_free(pp);
}
