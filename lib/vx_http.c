/* SPDX-License-Identifier: Apache-2.0 */
/* Admin HTTP server on libmicrohttpd: built-in endpoints, a route table, limits, auth, metrics. */
#include "vx_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vx_clock.h"
#include "vx_mem.h"

#define S_DEFAULT_BODY_LIMIT ((size_t)1024 * 1024)
#define S_DEFAULT_CONN_LIMIT 64u
#define S_DEFAULT_TIMEOUT_S 10u
#define S_MAX_SEGS 32
/* How far past body_limit a body is read and dropped so that the 413 arrives cleanly. */
#define S_DRAIN_MAX ((uint64_t)16 * 1024 * 1024)
#define S_N_DURATION_BOUNDS 14
#define S_NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
#define S_REQUESTS_NAME "vexfs_http_requests_total"
#define S_REQUESTS_HELP "HTTP requests answered, by route pattern, method and status code."
#define S_DURATION_NAME "vexfs_http_request_duration_seconds"
#define S_DURATION_HELP "Time from request headers to queued response, by route pattern."
#define S_TOO_LARGE "body_too_large", "request body exceeds the limit"
#define S_METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct s_route {
    char *method;
    char *pattern;
    char *buf; /* split copy of pattern; segs point into it */
    size_t n_segs;
    const char *segs[S_MAX_SEGS]; /* literal text, or the parameter name when is_param */
    bool is_param[S_MAX_SEGS];
    vx_http_handler_fn *fn;
    void *arg;
};

struct vx_http {
    char *service;
    char *version;
    char *token; /* NULL: mutating methods are refused */
    size_t token_len;
    struct sockaddr_in addr;
    size_t body_limit;
    unsigned conn_limit;
    unsigned timeout_s;
    vx_metrics_t *metrics; /* borrowed; may be NULL */
    double duration_bounds[S_N_DURATION_BOUNDS];
    struct s_route *routes; /* immutable once the daemon runs, so handlers read it unlocked */
    size_t n_routes;
    pthread_mutex_t lock; /* guards ready_fn and ready_arg */
    vx_http_ready_fn *ready_fn;
    void *ready_arg;
    struct MHD_Daemon *daemon;
    uint16_t port;
    uint64_t started_ns;
    char *tls_cert, *tls_key, *tls_client_ca; /* PEM; NULL: plain HTTP, no client check */
};

/* Per-request state, created on microhttpd's first call (headers only) and freed in
 * cb_completed. Decisions that need only the headers are made up front so a rejected or
 * oversized body is discarded as it arrives instead of being buffered. */
struct vx_http_req {
    vx_http_t *h;
    struct MHD_Connection *conn;
    const char *method; /* microhttpd's strings, valid for the whole request */
    const char *path;
    const char *method_label; /* bounded set, for metrics */
    const char *route_label;  /* the matched pattern or "unmatched", for metrics */
    const struct s_route *route;
    char *path_buf;
    size_t n_segs; /* SIZE_MAX when the path has too many segments to route */
    char *segs[S_MAX_SEGS];
    unsigned reject; /* 401, 403, 404, 405 or 413 decided before the handler; 0 if none */
    const char *reject_code;
    const char *reject_msg;
    uint64_t received;
    char *body;
    size_t body_len;
    size_t body_cap;
    json_t *json;
    char *scratch; /* a built-in's buffer that must outlive the handler */
    char client_cn[256]; /* the verified client certificate's common name, or "" */
    uint64_t t0;
};

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
 * the text does not start with '/' or has more than S_MAX_SEGS segments. */
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
        if (n == S_MAX_SEGS) {
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
s_route_matches(const struct s_route *r, const struct vx_http_req *req)
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
s_route_beats(const struct s_route *a, const struct s_route *b)
{
    for (size_t i = 0; i < a->n_segs; i++) {
        if (a->is_param[i] != b->is_param[i]) {
            return !a->is_param[i];
        }
    }
    return false;
}

/* Later decisions override earlier ones: routing, then credentials, then body size. */
static void
s_req_reject(struct vx_http_req *req, unsigned status, const char *code, const char *msg)
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
    const struct s_route *best = NULL, *path_only = NULL;
    for (size_t i = 0; i < h->n_routes; i++) {
        const struct s_route *r = &h->routes[i];
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
        s_req_reject(req, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
                     "method not allowed on this path");
    } else if (!best) {
        s_req_reject(req, MHD_HTTP_NOT_FOUND, "not_found", "no such route");
    }
}

/* Compares the bearer token in time that depends only on the configured token's length. */
static bool
s_token_ok(const vx_http_t *h, const char *authorization)
{
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0) {
        return false;
    }
    const char *given = authorization + 7;
    while (*given == ' ') {
        given++;
    }
    size_t given_len = strlen(given);
    volatile unsigned diff = given_len != h->token_len;
    for (size_t i = 0; i < h->token_len; i++) {
        unsigned char g = i < given_len ? (unsigned char)given[i] : 0;
        diff |= g ^ (unsigned char)h->token[i];
    }
    return diff == 0;
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
            const struct s_route *r = &h->routes[i];
            if (strcmp(r->method, s_methods[k]) == 0 && s_route_matches(r, req)) {
                int n = snprintf(out + len, size - len, "%s%s%s", len ? ", " : "", r->method,
                                 k == 0 ? ", HEAD" : "");
                len += n > 0 && (size_t)n < size - len ? (size_t)n : 0;
                break;
            }
        }
    }
}

/* Turns resp into a microhttpd response and queues it; frees resp->json. */
static enum MHD_Result
s_send(struct vx_http_req *req, struct vx_http_resp *resp)
{
    unsigned status = resp->status >= 100 && resp->status <= 599 ? resp->status : 500;
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

/* /health and /ready answer anyone: probes and load balancers carry no credentials. */
static bool
s_open_route(const struct vx_http_req *req)
{
    return req->route && (strcmp(req->route->pattern, "/health") == 0 ||
                          strcmp(req->route->pattern, "/ready") == 0);
}

/* Mutual TLS: whether the connection presented a certificate the authority issued; keeps its
 * common name. microhttpd requests the certificate but leaves the verdict to us. */
static bool
s_client_cert_ok(struct vx_http_req *req)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    gnutls_session_t session = ci ? (gnutls_session_t)ci->tls_session : NULL;
    unsigned status = 0;
    unsigned n = 0;
    const gnutls_datum_t *chain = session ? gnutls_certificate_get_peers(session, &n) : NULL;
    if (!chain || n == 0 || gnutls_certificate_verify_peers2(session, &status) < 0 ||
        status != 0) {
        return false;
    }
    gnutls_x509_crt_t crt;
    if (gnutls_x509_crt_init(&crt) == 0) {
        size_t len = sizeof req->client_cn - 1;
        if (gnutls_x509_crt_import(crt, &chain[0], GNUTLS_X509_FMT_DER) == 0 &&
            gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, req->client_cn,
                                          &len) == 0) {
            req->client_cn[len] = '\0';
        }
        gnutls_x509_crt_deinit(crt);
    }
    return true;
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
    req->path_buf = vx_strdup(url);
    int n = s_split(req->path_buf, req->segs);
    req->n_segs = n < 0 ? SIZE_MAX : (size_t)n;
    s_req_route(req);
    if (h->tls_client_ca && !s_client_cert_ok(req) && !s_open_route(req)) {
        s_req_reject(req, MHD_HTTP_UNAUTHORIZED, "client_certificate_required",
                     "this route needs a client certificate issued by the suite's authority");
    }
    bool mutating = mi >= 1 && mi < S_N_ROUTE_METHODS; /* POST, PUT, PATCH, DELETE */
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                   MHD_HTTP_HEADER_AUTHORIZATION);
    if (mutating && !h->token) {
        s_req_reject(req, MHD_HTTP_FORBIDDEN, "forbidden",
                     "no admin token is configured, so mutating calls are refused");
    } else if (mutating && !s_token_ok(h, auth)) {
        s_req_reject(req, MHD_HTTP_UNAUTHORIZED, "unauthorized", "missing or wrong bearer token");
    }
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    uint64_t declared = cl ? strtoull(cl, NULL, 10) : 0;
    if (declared > h->body_limit) {
        s_req_reject(req, MHD_HTTP_CONTENT_TOO_LARGE, S_TOO_LARGE);
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
        s_req_reject(req, MHD_HTTP_CONTENT_TOO_LARGE, S_TOO_LARGE);
        vx_free(&req->body);
        req->body_len = req->body_cap = 0;
    }
    if (req->reject) {
        return MHD_YES;
    }
    if (req->body_len + n + 1 > req->body_cap) {
        req->body_cap = 2 * (req->body_len + n + 1); /* amortised growth, capped by the limit */
        req->body_cap = req->body_cap < limit + 1 ? req->body_cap : limit + 1;
        req->body = vx_realloc(req->body, req->body_cap);
    }
    memcpy(req->body + req->body_len, data, n);
    req->body_len += n;
    req->body[req->body_len] = '\0';
    return MHD_YES;
}

/* Last call: the whole body is in; apply the remaining rules and run the handler. */
static enum MHD_Result
s_req_finish(struct vx_http_req *req)
{
    if (req->reject) {
        return s_send_error(req, req->reject, req->reject_code, req->reject_msg);
    }
    const char *ct = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_TYPE);
    struct vx_http_resp resp = {.status = MHD_HTTP_OK};
    if (req->body_len > 0 && !s_is_json_type(ct)) {
        vx_http_error(&resp, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                      "request bodies are JSON: send Content-Type application/json, not '%.64s'",
                      ct);
        return s_send(req, &resp);
    }
    if (req->body_len > 0) {
        json_error_t e;
        req->json = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &e);
        if (!req->json) {
            /* Say what our rule is, not which option of the JSON library would lift it. */
            const char *why = strstr(e.text, "JSON_ALLOW_NUL")
                                  ? "a NUL character (\\u0000) is not allowed in strings"
                                  : e.text;
            vx_http_error(&resp, MHD_HTTP_BAD_REQUEST, "invalid_json",
                          "invalid JSON at line %d, column %d: %s", e.line, e.column, why);
            return s_send(req, &resp);
        }
    }
    req->route->fn(req, &resp, req->route->arg);
    return s_send(req, &resp);
}

static enum MHD_Result
cb_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
          const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
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
    return s_req_finish(req);
}

static void
cb_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct vx_http_req *req = *con_cls;
    if (!req) {
        return;
    }
    json_decref(req->json);
    free(req->body);
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

/* --- lifecycle and routes --------------------------------------------------------------- */

/* Parses pattern into r; {name} must fill a whole segment, names are unique. */
static int
s_route_parse(struct s_route *r, const char *pattern)
{
    char *segs[S_MAX_SEGS];
    r->buf = vx_strdup(pattern);
    int n = s_split(r->buf, segs);
    if (n < 0) {
        return -EINVAL;
    }
    r->n_segs = (size_t)n;
    for (size_t i = 0; i < r->n_segs; i++) {
        char *s = segs[i];
        size_t len = strlen(s);
        r->is_param[i] = s[0] == '{';
        if (r->is_param[i]) {
            if (len < 3 || s[len - 1] != '}' || strspn(s + 1, S_NAME_CHARS) != len - 2) {
                return -EINVAL;
            }
            s[len - 1] = '\0';
            s++;
            for (size_t j = 0; j < i; j++) {
                if (r->is_param[j] && strcmp(r->segs[j], s) == 0) {
                    return -EINVAL;
                }
            }
        } else if (len == 0 || strpbrk(s, "{}?#")) {
            return -EINVAL;
        }
        r->segs[i] = s;
    }
    return 0;
}

/* Same method and the same shape: both would answer exactly the same requests. */
static bool
s_route_conflicts(const struct s_route *a, const struct s_route *b)
{
    if (strcmp(a->method, b->method) != 0 || a->n_segs != b->n_segs) {
        return false;
    }
    for (size_t i = 0; i < a->n_segs; i++) {
        if (a->is_param[i] != b->is_param[i] ||
            (!a->is_param[i] && strcmp(a->segs[i], b->segs[i]) != 0)) {
            return false;
        }
    }
    return true;
}

static int
s_route_add(vx_http_t *h, const char *method, const char *pattern, vx_http_handler_fn *fn,
            void *arg)
{
    struct s_route r = {.fn = fn, .arg = arg};
    int rc = s_route_parse(&r, pattern);
    if (rc < 0) {
        free(r.buf);
        return rc;
    }
    r.method = vx_strdup(method);
    for (size_t i = 0; i < h->n_routes; i++) {
        if (s_route_conflicts(&h->routes[i], &r)) {
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
vx_http_route(vx_http_t *h, const char *method, const char *pattern, vx_http_handler_fn *fn,
              void *arg)
{
    if (!h || !method || !pattern || !fn || h->daemon) {
        return -EINVAL;
    }
    int mi = s_method_index(method);
    return mi >= 0 && mi < S_N_ROUTE_METHODS ? s_route_add(h, s_methods[mi], pattern, fn, arg)
                                             : -EINVAL;
}

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
    h->conn_limit = opts->conn_limit ? opts->conn_limit : S_DEFAULT_CONN_LIMIT;
    h->timeout_s = opts->timeout_s ? opts->timeout_s : S_DEFAULT_TIMEOUT_S;
    h->metrics = metrics;
    h->port = opts->port;
    h->tls_cert = opts->tls_cert ? vx_strdup(opts->tls_cert) : NULL;
    h->tls_key = opts->tls_key ? vx_strdup(opts->tls_key) : NULL;
    h->tls_client_ca = opts->tls_cert && opts->tls_client_ca ? vx_strdup(opts->tls_client_ca)
                                                              : NULL;
    h->started_ns = vx_mono_ns();
    vx_metrics_exp_bounds(h->duration_bounds, S_N_DURATION_BOUNDS, 0.001, 2.0);
    pthread_mutex_init(&h->lock, NULL);
    s_route_add(h, "GET", "/health", s_health, h);
    s_route_add(h, "GET", "/ready", s_ready, h);
    s_route_add(h, "GET", "/metrics", s_metrics, h);
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

/* microhttpd reports a failed start without a reason; binding a probe socket the same way
 * recovers it (EADDRINUSE, EADDRNOTAVAIL, EACCES). */
static int
s_start_errno(const vx_http_t *h)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int rc = bind(fd, (const struct sockaddr *)&h->addr, sizeof h->addr) < 0 ? -errno : -EIO;
    close(fd);
    return rc;
}

int
vx_http_start(vx_http_t *h)
{
    if (h->daemon) {
        return -EALREADY;
    }
    /* Leave a quarter of the connection slots to other addresses, so one client (or a
     * slowloris) cannot hold them all until the idle timeout. */
    unsigned per_ip = h->conn_limit - h->conn_limit / 4;
    json_object_seed(0); /* seed jansson's hashing once, before handler threads build objects */
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key},
        {h->tls_client_ca ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0, h->tls_client_ca},
        {MHD_OPTION_END, 0, NULL},
    };
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
    if (h->tls_cert) {
        flags |= MHD_USE_TLS;
    } else {
        tls[0].option = MHD_OPTION_END;
    }
    h->daemon = MHD_start_daemon(
        flags, ntohs(h->addr.sin_port), NULL, NULL, cb_access, h, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&h->addr, MHD_OPTION_CONNECTION_LIMIT, h->conn_limit,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip ? per_ip : 1u, MHD_OPTION_CONNECTION_TIMEOUT,
        h->timeout_s, MHD_OPTION_NOTIFY_COMPLETED, cb_completed, h, MHD_OPTION_ARRAY, tls,
        MHD_OPTION_END);
    if (!h->daemon) {
        return s_start_errno(h);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (info && info->port) {
        h->port = info->port;
    }
    h->started_ns = vx_mono_ns();
    return 0;
}

uint16_t
vx_http_port(const vx_http_t *h)
{
    return h->port;
}

void
vx_http_stop(vx_http_t *h)
{
    if (h && h->daemon) {
        MHD_stop_daemon(h->daemon);
        h->daemon = NULL;
    }
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
        free(h->routes[i].method);
        free(h->routes[i].pattern);
        free(h->routes[i].buf);
    }
    free(h->routes);
    free(h->service);
    free(h->version);
    free(h->token);
    free(h->tls_cert);
    free(h->tls_key);
    free(h->tls_client_ca);
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
    const struct s_route *r = req->route;
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
