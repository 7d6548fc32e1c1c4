/* SPDX-License-Identifier: Apache-2.0 */
/* Admin HTTP server: route tables, the request life cycle and the built-in endpoints (see
 * vx_http_priv.h for how the three files of the server divide the work). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vx_clock.h"
#include "vx_event.h"
#include "vx_http_priv.h"
#include "vx_mem.h"

#define S_DEFAULT_BODY_LIMIT ((size_t)1024 * 1024)
/* How far past body_limit a body is read and dropped so that the 413 arrives cleanly. */
#define S_DRAIN_MAX ((uint64_t)16 * 1024 * 1024)
#define S_N_DURATION_BOUNDS 14
#define S_NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
#define S_REQUESTS_NAME "vexfs_http_requests_total"
#define S_REQUESTS_HELP "HTTP requests answered, by route pattern, method and status code."
#define S_DURATION_NAME "vexfs_http_request_duration_seconds"
#define S_DURATION_HELP "Time from request headers to queued response, by route pattern."
#define S_TOO_LARGE "body_too_large", "request body exceeds the limit"
#define S_BUSY_NAME "vexfs_http_body_memory_refused_total"
#define S_BUSY_HELP "REST requests refused (503 busy) because bodies held at once reached their budget."
#define S_HELD_NAME "vexfs_http_body_bytes"
#define S_HELD_HELP "Bytes of REST request bodies held now (buffers), all requests together."
#define S_METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Routes take the first five, of which 1 to 4 mutate. Any other method is
 * labelled "other" in metrics, since client-chosen methods would make unbounded series. */
static const char *const s_methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"};
#define S_N_ROUTE_METHODS 5

static int
s_method_index(const char *method)
{
    for (int i = 0; i < (int)(sizeof s_methods / sizeof s_methods[0]); i++) {
        if (strcmp(method, s_methods[i]) == 0) {
            return i;
        }
    }
    return -1;
}

/* Splits "/a/b" in place into {"a", "b"}; "/" gives no segment. Returns the count, or -1 when
 * the text does not start with '/' or has more than VX_HTTP_MAX_SEGS segments. */
static int
s_split(char *buf, char **segs)
{
    if (buf[0] != '/') {
        return -1;
    }
    char *p = buf + 1;
    if (*p == '\0') {
        return 0;
    }
    int n = 0;
    for (;;) {
        if (n == VX_HTTP_MAX_SEGS) {
            return -1;
        }
        segs[n++] = p;
        char *slash = strchr(p, '/');
        if (!slash) {
            return n;
        }
        *slash = '\0';
        p = slash + 1;
    }
}

static bool
s_route_matches(const struct vx_http_route *r, const struct vx_http_req *req)
{
    if (r->n_segs != req->n_segs) {
        return false;
    }
    for (size_t i = 0; i < r->n_segs; i++) {
        if (r->is_param[i] ? req->segs[i][0] == '\0' : strcmp(r->segs[i], req->segs[i]) != 0) {
            return false;
        }
    }
    return true;
}

/* When two patterns match one path, a literal segment beats a {param} at the first place
 * they differ, so "/v1/rules/stats" wins over "/v1/rules/{id}". */
static bool
s_route_beats(const struct vx_http_route *a, const struct vx_http_route *b)
{
    for (size_t i = 0; i < a->n_segs; i++) {
        if (a->is_param[i] != b->is_param[i]) {
            return !a->is_param[i];
        }
    }
    return false;
}

void
vx_http_req_reject(struct vx_http_req *req, unsigned status, const char *code, const char *msg)
{
    req->reject = status;
    req->reject_code = code;
    req->reject_msg = msg;
}

/* Finds the route for the request (HEAD is served by GET routes), or rejects with 404/405. */
static void
s_req_route(struct vx_http_req *req)
{
    const vx_http_t *h = req->h;
    const struct vx_http_route *best = NULL, *path_only = NULL;
    for (size_t i = 0; i < h->n_routes; i++) {
        const struct vx_http_route *r = &h->routes[i];
        if (!s_route_matches(r, req)) {
            continue;
        }
        bool fits = strcmp(r->method, req->method) == 0 ||
                    (strcmp(req->method, "HEAD") == 0 && strcmp(r->method, "GET") == 0);
        if (!fits) {
            path_only = path_only ? path_only : r;
        } else if (!best || s_route_beats(r, best)) {
            best = r;
        }
    }
    req->route = best;
    req->route_label = best ? best->pattern : path_only ? path_only->pattern : "unmatched";
    if (!best && path_only) {
        vx_http_req_reject(req, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
                           "method not allowed on this path");
    } else if (!best) {
        vx_http_req_reject(req, MHD_HTTP_NOT_FOUND, "not_found", "no such route");
    }
}

static bool
s_type_is(const char *ct, const char *type)
{
    size_t n = strlen(type);
    /* strchr also finds the terminating NUL: the type may end right there. */
    return strncasecmp(ct, type, n) == 0 && strchr("; \t", ct[n]);
}

/* The admin API speaks JSON only. A body without a type, and curl's default form type
 * (`curl -d`), are read as JSON too, so the obvious command line works. */
static bool
s_is_json_type(const char *ct)
{
    return !ct || s_type_is(ct, "application/json") ||
           s_type_is(ct, "application/x-www-form-urlencoded");
}

static void
s_record(struct vx_http_req *req, unsigned status)
{
    vx_http_t *h = req->h;
    if (!h->metrics) {
        return;
    }
    char code[16];
    snprintf(code, sizeof code, "%u", status);
    vx_counter_t *c = vx_metrics_counter(h->metrics, S_REQUESTS_NAME, S_REQUESTS_HELP, "route",
                                         req->route_label, "method", req->method_label, "code",
                                         code, NULL);
    if (c) {
        vx_counter_add(c, 1);
    }
    vx_histogram_t *d =
        vx_metrics_histogram(h->metrics, S_DURATION_NAME, S_DURATION_HELP, h->duration_bounds,
                             S_N_DURATION_BOUNDS, "route", req->route_label, NULL);
    if (d) {
        vx_histogram_observe(d, (double)(vx_mono_ns() - req->t0) / (double)VX_NS_PER_S);
    }
}

/* "GET, HEAD, POST": the methods of every route whose pattern matches the path. */
static void
s_allow_list(const struct vx_http_req *req, char *out, size_t size)
{
    const vx_http_t *h = req->h;
    size_t len = 0;
    out[0] = '\0';
    for (size_t k = 0; k < S_N_ROUTE_METHODS; k++) {
        for (size_t i = 0; i < h->n_routes; i++) {
            const struct vx_http_route *r = &h->routes[i];
            if (strcmp(r->method, s_methods[k]) == 0 && s_route_matches(r, req)) {
                int n = snprintf(out + len, size - len, "%s%s%s", len ? ", " : "", r->method,
                                 k == 0 ? ", HEAD" : "");
                len += n > 0 && (size_t)n < size - len ? (size_t)n : 0;
                break;
            }
        }
    }
}

static unsigned
s_status(const struct vx_http_resp *resp)
{
    return resp->status >= 100 && resp->status <= 599 ? resp->status : 500;
}

/* Turns resp into a microhttpd response and queues it; frees resp->json. The audit line (when
 * the request needs one and no worker wrote it) goes out first, so an answered mutation is
 * always on record. */
static enum MHD_Result
s_send(struct vx_http_req *req, struct vx_http_resp *resp)
{
    unsigned status = s_status(resp);
    const char *ctype = resp->content_type;
    char *dumped = NULL;
    const char *data = "";
    size_t len = 0;
    if (resp->json) {
        dumped = json_dumps(resp->json, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(resp->json);
        resp->json = NULL;
        if (!dumped) {
            status = 500;
        }
        data = dumped ? dumped : "";
        len = strlen(data);
        ctype = ctype ? ctype : "application/json";
    } else if (resp->text) {
        data = resp->text;
        len = resp->text_len ? resp->text_len : strlen(resp->text);
        ctype = ctype ? ctype : "text/plain; charset=utf-8";
    }
    vx_http_audit_request(req, status);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    free(dumped);
    if (!r) {
        return MHD_NO;
    }
    if (ctype) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    }
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) {
        char allow[128];
        s_allow_list(req, allow, sizeof allow);
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    } else if (status == MHD_HTTP_UNAUTHORIZED) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    }
    for (size_t i = 0; i < resp->n_headers && i < VX_HTTP_RESP_HEADERS; i++) {
        MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value);
    }
    vx_http_conn_deadline(req->h, req->conn, false); /* the client has timeout_s to take it */
    enum MHD_Result ret = MHD_queue_response(req->conn, status, r);
    MHD_destroy_response(r);
    s_record(req, status);
    return ret;
}

static enum MHD_Result
s_send_error(struct vx_http_req *req, unsigned status, const char *code, const char *message)
{
    struct vx_http_resp resp = {0};
    vx_http_error(&resp, status, code, "%s", message);
    return s_send(req, &resp);
}

/* First call: headers only. Decides what the headers can (route, credentials, declared size)
 * and answers at once only when that is safe, see below. */
static enum MHD_Result
s_req_begin(vx_http_t *h, struct MHD_Connection *conn, const char *url, const char *method,
            void **con_cls)
{
    struct vx_http_req *req = vx_calloc(1, sizeof *req);
    *con_cls = req;
    req->t0 = vx_mono_ns();
    req->h = h;
    req->conn = conn;
    req->method = method;
    req->path = url;
    int mi = s_method_index(method);
    req->method_label = mi < 0 ? "other" : s_methods[mi];
    req->mutating = mi >= 1 && mi < S_N_ROUTE_METHODS; /* POST, PUT, PATCH, DELETE */
    req->path_buf = vx_strdup(url);
    int n = s_split(req->path_buf, req->segs);
    req->n_segs = n < 0 ? SIZE_MAX : (size_t)n;
    s_req_route(req);
    vx_http_auth_begin(req);
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    uint64_t declared = cl ? strtoull(cl, NULL, 10) : 0;
    if (declared > h->body_limit) {
        vx_http_req_reject(req, MHD_HTTP_CONTENT_TOO_LARGE, S_TOO_LARGE);
    }
    /* Answering before the body is read makes microhttpd close the connection with the body
     * unread, and the client may then see a reset instead of the answer. That is safe only when
     * the client waits for "100 Continue" before sending; otherwise the body is drained (and
     * dropped) first, unless it is too large even to drain. */
    const char *expect = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
    if (req->reject && ((expect && strcasecmp(expect, "100-continue") == 0) ||
                        declared > h->body_limit + S_DRAIN_MAX)) {
        return s_send_error(req, req->reject, req->reject_code, req->reject_msg);
    }
    return MHD_YES;
}

/* Drops the body kept so far and gives its memory back to the server's budget. */
static void
s_req_drop_body(struct vx_http_req *req)
{
    vx_free(&req->body);
    req->body_len = req->body_cap = 0;
    atomic_fetch_sub(&req->h->body_bytes, req->body_reserved);
    if (req->h->body_held && req->body_reserved) {
        vx_gauge_add(req->h->body_held, -(double)req->body_reserved);
    }
    req->body_reserved = 0;
}

/* Takes grow more bytes of body memory from the server's budget, or says there is none. */
static bool
s_req_reserve(struct vx_http_req *req, size_t grow)
{
    vx_http_t *h = req->h;
    if (atomic_fetch_add(&h->body_bytes, grow) + grow > h->body_budget) {
        atomic_fetch_sub(&h->body_bytes, grow);
        return false;
    }
    req->body_reserved += grow;
    if (h->body_held) {
        vx_gauge_add(h->body_held, (double)grow);
    }
    return true;
}

/* A body chunk: kept up to the limit, discarded past it or when the request is rejected.
 * A client that keeps streaming past what we are willing to drain is disconnected. */
static enum MHD_Result
s_req_absorb(struct vx_http_req *req, const char *data, size_t n)
{
    size_t limit = req->h->body_limit;
    req->received += n;
    if (req->received > limit + S_DRAIN_MAX) {
        return MHD_NO;
    }
    if (req->received > limit && req->reject != MHD_HTTP_CONTENT_TOO_LARGE) {
        vx_http_req_reject(req, MHD_HTTP_CONTENT_TOO_LARGE, S_TOO_LARGE);
        s_req_drop_body(req);
    }
    if (req->reject) {
        return MHD_YES;
    }
    if (req->body_len + n + 1 > req->body_cap) {
        size_t cap = 2 * (req->body_len + n + 1); /* amortised growth, capped by the limit */
        cap = cap < limit + 1 ? cap : limit + 1;
        if (!s_req_reserve(req, cap - req->body_cap)) {
            /* Every connection may send a body: together they stay within the budget. */
            vx_http_req_reject(req, MHD_HTTP_SERVICE_UNAVAILABLE, "busy",
                               "the server holds as many request bodies as it may; retry");
            s_req_drop_body(req);
            if (req->h->body_refused) {
                vx_counter_add(req->h->body_refused, 1);
            }
            return MHD_YES;
        }
        req->body_cap = cap;
        req->body = vx_realloc(req->body, req->body_cap);
    }
    memcpy(req->body + req->body_len, data, n);
    req->body_len += n;
    req->body[req->body_len] = '\0';
    return MHD_YES;
}

void
vx_http_req_run(struct vx_http_req *req)
{
    req->route->fn(req, &req->resp, req->route->arg);
    vx_http_audit_request(req, s_status(&req->resp));
}

/* Last call: the whole body is in; apply the remaining rules, then answer a built-in here or
 * hand the request to a worker. */
static enum MHD_Result
s_req_finish(struct vx_http_req *req)
{
    if (req->reject) {
        return s_send_error(req, req->reject, req->reject_code, req->reject_msg);
    }
    const char *ct = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_TYPE);
    struct vx_http_resp *resp = &req->resp;
    *resp = (struct vx_http_resp){.status = MHD_HTTP_OK};
    if (req->body_len > 0 && !s_is_json_type(ct)) {
        vx_http_error(resp, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                      "request bodies are JSON: send Content-Type application/json, not '%.64s'",
                      ct);
        return s_send(req, resp);
    }
    if (req->body_len > 0) {
        json_error_t e;
        req->json = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &e);
        if (!req->json) {
            vx_http_error(resp, MHD_HTTP_BAD_REQUEST, "invalid_json",
                          "invalid JSON at line %d, column %d: %s", e.line, e.column,
                          vx_json_error_text(&e));
            return s_send(req, resp);
        }
    }
    if (req->route->inline_answer) {
        vx_http_req_run(req);
        return s_send(req, resp);
    }
    vx_http_conn_deadline(req->h, req->conn, true);
    if (!vx_http_pool_submit(req)) {
        vx_http_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting_down",
                      "the server is stopping");
        return s_send(req, resp);
    }
    return MHD_YES;
}

enum MHD_Result
cb_http_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
               const char *version, const char *upload_data, size_t *upload_data_size,
               void **con_cls)
{
    (void)version;
    struct vx_http_req *req = *con_cls;
    if (!req) {
        return s_req_begin(cls, conn, url, method, con_cls);
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        return s_req_absorb(req, upload_data, n);
    }
    if (req->state == VX_HTTP_REQ_DONE) { /* resumed: the worker's answer */
        return s_send(req, &req->resp);
    }
    return s_req_finish(req);
}

void
cb_http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                  enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    struct vx_http_req *req = *con_cls;
    vx_http_conn_deadline(cls, conn, false); /* the next request's time starts now */
    if (!req) {
        return;
    }
    if (req->state != VX_HTTP_REQ_READING) {
        vx_http_pool_sent(cls);
    }
    vx_http_auth_end(req);
    json_decref(req->json);
    json_decref(req->resp.json);
    s_req_drop_body(req);
    free(req->path_buf);
    free(req->scratch);
    free(req);
    *con_cls = NULL;
}

/* --- built-in endpoints ----------------------------------------------------------------- */

static void
s_health(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    vx_http_t *h = arg;
    (void)req;
    resp->json = json_pack("{s:s, s:s, s:s, s:I}", "status", "ok", "service", h->service,
                           "version", h->version, "uptime_s",
                           (json_int_t)((vx_mono_ns() - h->started_ns) / VX_NS_PER_S));
}

static void
s_ready(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    vx_http_t *h = arg;
    (void)req;
    pthread_mutex_lock(&h->lock);
    vx_http_ready_fn *fn = h->ready_fn;
    void *fn_arg = h->ready_arg;
    pthread_mutex_unlock(&h->lock);
    json_t *detail = json_object();
    bool ready = fn ? fn(fn_arg, detail) : true;
    resp->status = ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
    resp->json = json_pack("{s:s, s:o}", "status", ready ? "ready" : "not_ready", "detail", detail);
}

static void
s_metrics(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    vx_http_t *h = arg;
    size_t len = 0;
    req->scratch = h->metrics ? vx_metrics_render(h->metrics, &len) : vx_strdup("");
    resp->text = req->scratch;
    resp->text_len = len;
    resp->content_type = S_METRICS_TYPE;
}

/* --- route tables ----------------------------------------------------------------------- */

/* Parses pattern into r; {name} must fill a whole segment, names are unique. Returns NULL or
 * why the pattern is refused. */
static const char *
s_route_parse(struct vx_http_route *r, const char *pattern)
{
    char *segs[VX_HTTP_MAX_SEGS];
    r->buf = vx_strdup(pattern);
    int n = s_split(r->buf, segs);
    if (n < 0) {
        return pattern[0] != '/' ? "a pattern starts with '/'" : "more than 32 segments";
    }
    r->n_segs = (size_t)n;
    for (size_t i = 0; i < r->n_segs; i++) {
        char *s = segs[i];
        size_t len = strlen(s);
        r->is_param[i] = s[0] == '{';
        if (r->is_param[i]) {
            if (len < 3 || s[len - 1] != '}' || strspn(s + 1, S_NAME_CHARS) != len - 2) {
                return "a {name} fills a whole segment and its name is letters, digits and _";
            }
            s[len - 1] = '\0';
            s++;
            for (size_t j = 0; j < i; j++) {
                if (r->is_param[j] && strcmp(r->segs[j], s) == 0) {
                    return "a {name} appears twice";
                }
            }
        } else if (len == 0) {
            return "an empty segment (\"//\" or a trailing '/')";
        } else if (strpbrk(s, "{}?#")) {
            return "'{', '}', '?' or '#' inside a literal segment";
        }
        r->segs[i] = s;
    }
    return NULL;
}

/* Same method and the same shape: both would answer exactly the same requests. */
static bool
s_route_conflicts(const struct vx_http_route *a, const struct vx_http_route *b)
{
    if (strcmp(a->method, b->method) != 0 || a->n_segs != b->n_segs) {
        return false;
    }
    for (size_t i = 0; i < a->n_segs && i < b->n_segs; i++) {
        if (a->is_param[i] != b->is_param[i] ||
            (!a->is_param[i] && strcmp(a->segs[i], b->segs[i]) != 0)) {
            return false;
        }
    }
    return true;
}

static void
s_route_free(struct vx_http_route *r)
{
    free(r->method);
    free(r->pattern);
    free(r->buf);
}

/* Adds one route, or says why not (why points to static text or into whybuf). */
static int
s_route_add(vx_http_t *h, const char *method, const char *pattern, enum vx_role role,
            vx_http_handler_fn *fn, void *arg, const char **why, char *whybuf, size_t whylen)
{
    int mi = method ? s_method_index(method) : -1;
    if (mi < 0 || mi >= S_N_ROUTE_METHODS) {
        *why = "the method is not GET, POST, PUT, PATCH or DELETE";
        return -EINVAL;
    }
    if (!pattern) {
        *why = "no pattern";
        return -EINVAL;
    }
    if (!fn) {
        *why = "no handler";
        return -EINVAL;
    }
    if ((unsigned)role > VX_ROLE_ADMIN) {
        *why = "the role is not viewer, operator or admin";
        return -EINVAL;
    }
    struct vx_http_route r = {.role = role, .fn = fn, .arg = arg};
    *why = s_route_parse(&r, pattern);
    if (*why) {
        free(r.buf);
        return -EINVAL;
    }
    r.method = vx_strdup(s_methods[mi]);
    for (size_t i = 0; i < h->n_routes; i++) {
        if (s_route_conflicts(&h->routes[i], &r)) {
            snprintf(whybuf, whylen, "answers the same requests as %s %s", h->routes[i].method,
                     h->routes[i].pattern);
            *why = whybuf;
            free(r.buf);
            free(r.method);
            return -EINVAL;
        }
    }
    r.pattern = vx_strdup(pattern);
    h->routes = vx_realloc(h->routes, (h->n_routes + 1) * sizeof *h->routes);
    h->routes[h->n_routes++] = r;
    return 0;
}

int
vx_http_routes(vx_http_t *h, const struct vx_http_route_def *table, size_t n, void *arg,
               char *err, size_t errlen)
{
    if (!h || (!table && n > 0)) {
        snprintf(err, errlen, "no server or no table");
        return -EINVAL;
    }
    if (h->daemon) {
        snprintf(err, errlen, "routes are added before the server starts");
        return -EINVAL;
    }
    size_t before = h->n_routes;
    for (size_t i = 0; i < n; i++) {
        const struct vx_http_route_def *d = &table[i];
        const char *why = NULL;
        char whybuf[256];
        int rc = d->role == VX_ROLE_OPEN
                     ? (why = "only /health, /ready and /metrics may be open", -EINVAL)
                     : s_route_add(h, d->method, d->pattern, d->role, d->fn, arg, &why, whybuf,
                                   sizeof whybuf);
        if (rc < 0) {
            snprintf(err, errlen, "routes[%zu] %s %s: %s", i, d->method ? d->method : "(null)",
                     d->pattern ? d->pattern : "(null)", why);
            while (h->n_routes > before) { /* all or nothing */
                s_route_free(&h->routes[--h->n_routes]);
            }
            return -EINVAL;
        }
    }
    return 0;
}

int
vx_http_route(vx_http_t *h, const char *method, const char *pattern, vx_http_handler_fn *fn,
              void *arg)
{
    if (!h || !method || h->daemon) {
        return -EINVAL;
    }
    const char *why;
    char whybuf[256];
    enum vx_role role = strcmp(method, "GET") == 0 ? VX_ROLE_VIEWER : VX_ROLE_OPERATOR;
    return s_route_add(h, method, pattern, role, fn, arg, &why, whybuf, sizeof whybuf);
}

size_t
vx_http_route_count(const vx_http_t *h)
{
    return h->n_routes;
}

int
vx_http_route_at(const vx_http_t *h, size_t i, const char **method, const char **pattern,
                 enum vx_role *role)
{
    if (i >= h->n_routes) {
        return -ERANGE;
    }
    *method = h->routes[i].method;
    *pattern = h->routes[i].pattern;
    *role = h->routes[i].role;
    return 0;
}

/* --- life cycle ------------------------------------------------------------------------- */

static void
s_builtin(vx_http_t *h, const char *pattern, enum vx_role role, vx_http_handler_fn *fn)
{
    const char *why;
    char whybuf[256];
    s_route_add(h, "GET", pattern, role, fn, h, &why, whybuf, sizeof whybuf);
    h->routes[h->n_routes - 1].inline_answer = true;
}

/* Checks every option before anything is allocated (bind address, token, TLS pair, limits),
 * then fills the defaults that keep memory bounded (body budget, per-address connection
 * share) and registers the open routes; nothing listens until vx_http_start, so a daemon's
 * route table is complete before the first request. */
vx_http_t *
vx_http_new(const struct vx_http_opts *opts, vx_metrics_t *metrics, const char **err)
{
    const char *dummy = NULL;
    err = err ? err : &dummy;
    struct sockaddr_in addr = {.sin_family = AF_INET};
    if (!opts) {
        *err = "no options given";
        return NULL;
    }
    /* No bind address means loopback: an admin API is never exposed by omission. */
    if (inet_pton(AF_INET, opts->bind ? opts->bind : "127.0.0.1", &addr.sin_addr) != 1) {
        *err = "bind is not an IPv4 address";
        return NULL;
    }
    if (opts->token && !*opts->token) {
        *err = "token is empty (leave it unset to refuse mutating calls)";
        return NULL;
    }
    if (!opts->tls_cert != !opts->tls_key) {
        *err = "a TLS certificate needs its key, and a key its certificate";
        return NULL;
    }
    unsigned conn_limit = opts->conn_limit ? opts->conn_limit : VX_HTTP_DEFAULT_CONN_LIMIT;
    if (opts->conn_limit_per_ip > conn_limit) {
        *err = "the per-address connection limit exceeds the connection limit";
        return NULL;
    }
    addr.sin_port = htons(opts->port);
    vx_http_t *h = vx_calloc(1, sizeof *h);
    h->service = vx_strdup(opts->service ? opts->service : "unknown");
    h->version = vx_strdup(opts->version ? opts->version : "unknown");
    if (opts->token) {
        h->token = vx_strdup(opts->token);
        h->token_len = strlen(h->token);
    }
    h->addr = addr;
    h->body_limit = opts->body_limit ? opts->body_limit : S_DEFAULT_BODY_LIMIT;
    /* As much body memory as the former limit of 64 connections allowed, however many
     * connections there are now. */
    h->body_budget = opts->body_memory ? opts->body_memory : 64 * (h->body_limit + 1);
    atomic_init(&h->body_bytes, 0);
    if (metrics) {
        h->body_refused = vx_metrics_counter(metrics, S_BUSY_NAME, S_BUSY_HELP, NULL);
        h->body_held = vx_metrics_gauge(metrics, S_HELD_NAME, S_HELD_HELP, NULL);
    }
    h->conn_limit = conn_limit;
    /* By default a quarter of the slots stays for other addresses, so one client cannot hold
     * them all until the deadline. */
    unsigned quarter_free = conn_limit - conn_limit / 4;
    h->conn_limit_per_ip = opts->conn_limit_per_ip ? opts->conn_limit_per_ip
                           : quarter_free < VX_HTTP_DEFAULT_CONN_LIMIT_PER_IP
                               ? (quarter_free ? quarter_free : 1)
                               : VX_HTTP_DEFAULT_CONN_LIMIT_PER_IP;
    h->timeout_s = opts->timeout_s ? opts->timeout_s : VX_HTTP_DEFAULT_TIMEOUT_S;
    h->n_workers = opts->workers ? opts->workers : VX_HTTP_DEFAULT_WORKERS;
    h->io_threads = opts->io_threads ? opts->io_threads : VX_HTTP_DEFAULT_IO_THREADS;
    h->metrics_open = opts->metrics_open;
    h->metrics = metrics;
    h->port = opts->port;
    h->tls_cert = opts->tls_cert ? vx_strdup(opts->tls_cert) : NULL;
    h->tls_key = opts->tls_key ? vx_strdup(opts->tls_key) : NULL;
    const char *trust = opts->tls_client_ca ? opts->tls_client_ca : opts->tls_request_ca;
    h->tls_trust = opts->tls_cert && trust ? vx_strdup(trust) : NULL;
    h->tls_client_required = opts->tls_cert && opts->tls_client_ca;
    h->started_ns = vx_mono_ns();
    vx_metrics_exp_bounds(h->duration_bounds, S_N_DURATION_BOUNDS, 0.001, 2.0);
    pthread_mutex_init(&h->lock, NULL);
    vx_http_auth_init(h);
    vx_http_conn_init(h);
    s_builtin(h, "/health", VX_ROLE_OPEN, s_health);
    s_builtin(h, "/ready", VX_ROLE_OPEN, s_ready);
    s_builtin(h, "/metrics", opts->metrics_open ? VX_ROLE_OPEN : VX_ROLE_VIEWER, s_metrics);
    return h;
}

void
vx_http_set_ready(vx_http_t *h, vx_http_ready_fn *fn, void *arg)
{
    pthread_mutex_lock(&h->lock);
    h->ready_fn = fn;
    h->ready_arg = arg;
    pthread_mutex_unlock(&h->lock);
}

uint16_t
vx_http_port(const vx_http_t *h)
{
    return h->port;
}

void
vx_http_destroy(vx_http_t **hp)
{
    if (!hp || !*hp) {
        return;
    }
    vx_http_t *h = *hp;
    vx_http_stop(h);
    for (size_t i = 0; i < h->n_routes; i++) {
        s_route_free(&h->routes[i]);
    }
    free(h->routes);
    free(h->service);
    free(h->version);
    free(h->token);
    free(h->tls_cert);
    free(h->tls_key);
    free(h->tls_trust);
    vx_http_conn_fini(h);
    vx_http_auth_fini(h);
    pthread_mutex_destroy(&h->lock);
    vx_free(hp);
}

/* --- request accessors ------------------------------------------------------------------ */

const char *
vx_http_req_method(const vx_http_req_t *req)
{
    return req->method;
}

const char *
vx_http_req_path(const vx_http_req_t *req)
{
    return req->path;
}

const char *
vx_http_req_param(const vx_http_req_t *req, const char *name)
{
    const struct vx_http_route *r = req->route;
    for (size_t i = 0; r && i < r->n_segs; i++) {
        if (r->is_param[i] && strcmp(r->segs[i], name) == 0) {
            return req->segs[i];
        }
    }
    return NULL;
}

const char *
vx_http_req_query(const vx_http_req_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *
vx_http_req_client_cn(const vx_http_req_t *req)
{
    return req->client_cn[0] ? req->client_cn : NULL;
}

const char *
vx_http_req_header(const vx_http_req_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *
vx_http_req_body(const vx_http_req_t *req, size_t *len)
{
    if (len) {
        *len = req->body_len;
    }
    return req->body_len ? req->body : NULL;
}

json_t *
vx_http_req_json(const vx_http_req_t *req)
{
    return req->json;
}

void
vx_http_resp_header(struct vx_http_resp *resp, const char *name, const char *fmt, ...)
{
    size_t i = 0;
    while (i < resp->n_headers && strcasecmp(resp->headers[i].name, name) != 0) {
        i++;
    }
    if (i == VX_HTTP_RESP_HEADERS) {
        return;
    }
    resp->headers[i].name = name;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(resp->headers[i].value, sizeof resp->headers[i].value, fmt, ap);
    va_end(ap);
    if (i == resp->n_headers) {
        resp->n_headers++;
    }
}

void
vx_http_error(struct vx_http_resp *resp, unsigned status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *m = json_string(msg);
    if (!m) {
        /* Not UTF-8 (jansson quotes the offending input, or truncation split a character):
         * keep the ASCII and mark the rest. */
        for (char *p = msg; *p; p++) {
            *p = (unsigned char)*p < 0x80 ? *p : '?';
        }
        m = json_string(msg);
    }
    json_decref(resp->json);
    resp->status = status;
    resp->json = json_pack("{s:{s:s, s:o}}", "error", "code", code, "message", m);
    resp->text = NULL;
    resp->text_len = 0;
    resp->content_type = NULL;
}
