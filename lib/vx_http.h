/* SPDX-License-Identifier: Apache-2.0 */
/* The admin HTTP server every daemon runs, on libmicrohttpd.
 *
 * Built in: GET /health (liveness, always 200 with service, version, uptime), GET /ready
 * (200 or 503 from the ready callback), GET /metrics (the registry in Prometheus text).
 * Everything else comes from route tables: method + pattern such as "/v1/rules/{id}", where a
 * {name} segment matches one path segment and is read with vx_http_req_param, and the role the
 * route needs (vx_creds.h: viewer < operator < admin). Only /health and /ready are open, and
 * /metrics when opts.metrics_open is set.
 *
 * Rules applied to every request before a handler runs:
 *  - a body larger than body_limit gets 413 (the body is never buffered past the limit); when
 *    the bodies held by all requests together would pass body_memory, 503 busy;
 *  - with a credential set (vx_http_set_creds): the caller is identified by
 *    "Authorization: Bearer <token>", else by a verified client certificate's common name;
 *    none on a route that is not open: 401 unauthenticated; a role below the route's: 403
 *    forbidden; a tenant it may not act for: 403 tenant_forbidden (see vx_http_req_tenant);
 *  - without a credential set (the transition): a mutating method (POST, PUT, PATCH, DELETE)
 *    without "Authorization: Bearer <token>" matching opts.token gets 401 unauthorized, and
 *    when no token is configured mutating calls get 403 forbidden; reads are open;
 *  - mutual TLS (opts.tls_client_ca): every route that is not open needs a client certificate
 *    issued by that authority (401 client_certificate_required);
 *  - a body is parsed with jansson (duplicate keys rejected) when its Content-Type is
 *    application/json, absent, or curl's default application/x-www-form-urlencoded; any other
 *    type gets 415; invalid JSON gets 400 with jansson's line/column message and the handler is
 *    not called; an empty body leaves req->json NULL;
 *  - no matching route: 404, matching path but other method: 405 with an Allow header.
 * Errors are JSON: {"error":{"code":"invalid_json","message":"..."}}.
 *
 * Threading: microhttpd's epoll thread pool (io_threads) reads and writes every connection;
 * a route handler runs on one of a fixed pool of worker threads while its connection is
 * suspended, so a handler may block (for example waiting for a Kafka acknowledgement) up to its
 * own timeout without holding up other connections; handlers run concurrently and must only
 * touch thread-safe state. The built-ins answer on the I/O threads, so /health answers while
 * every worker is busy. A connection must deliver each request's headers and body within
 * timeout_s (counted from its opening, or from the end of the previous response), and take each
 * response within timeout_s; past that its socket is shut down, however slowly it trickles.
 * Connections are limited to conn_limit in all and conn_limit_per_ip per client address.
 *
 * Audit (vx_http_set_audit): every mutating request that matched a route (after its handler,
 * with its status), every 401 and 403, and every request an admin makes on behalf of a tenant
 * is appended to the audit log before the answer leaves.
 *
 * Metrics: vexfs_http_requests_total{route,method,code},
 * vexfs_http_request_duration_seconds{route}, vexfs_http_auth_refused_total{reason},
 * vexfs_http_connections, vexfs_http_connections_expired_total, vexfs_http_requests_waiting,
 * vexfs_http_body_bytes, vexfs_http_body_memory_refused_total and
 * vexfs_http_audit_failures_total in the registry
 * given to vx_http_new. */
#ifndef VX_HTTP_H
#define VX_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_audit.h"
#include "vx_creds.h"
#include "vx_metrics.h"

typedef struct vx_http vx_http_t;
typedef struct vx_http_req vx_http_req_t;

#define VX_HTTP_DEFAULT_CONN_LIMIT 1024u
#define VX_HTTP_DEFAULT_CONN_LIMIT_PER_IP 768u
#define VX_HTTP_DEFAULT_TIMEOUT_S 10u
#define VX_HTTP_DEFAULT_WORKERS 16u
#define VX_HTTP_DEFAULT_IO_THREADS 2u

struct vx_http_opts {
    const char *service;     /* "vexfs-propagation": shown by /health */
    const char *version;     /* shown by /health */
    const char *bind;        /* IPv4 address, e.g. "127.0.0.1" or "0.0.0.0" */
    uint16_t port;           /* 0 picks a free port (see vx_http_port) */
    size_t body_limit;       /* bytes; 0 means 1 MiB */
    size_t body_memory;      /* request bodies held at once, all connections together; past it
                                a request gets 503 busy; 0 means 64 * body_limit */
    unsigned conn_limit;     /* connections in all; 0 means VX_HTTP_DEFAULT_CONN_LIMIT */
    unsigned conn_limit_per_ip; /* per client address; 0: the smaller of the default and
                                   conn_limit - conn_limit / 4 */
    unsigned timeout_s;      /* request deadline and idle timeout; 0 means 10 */
    unsigned workers;        /* handler threads; 0 means VX_HTTP_DEFAULT_WORKERS */
    unsigned io_threads;     /* microhttpd's epoll threads; 0 means VX_HTTP_DEFAULT_IO_THREADS */
    const char *token;       /* bearer token for mutating methods when no credential set is
                                given; NULL: mutating calls get 403 */
    /* HTTPS: the server's certificate chain and private key (PEM text, copied). NULL: plain
     * HTTP. tls_client_ca (PEM, copied): mutual TLS, every route that is not open needs a
     * client certificate issued by it (401 client_certificate_required otherwise).
     * tls_request_ca (PEM, copied): client certificates are asked for, and verified against
     * it, but not required, so certificate credentials work without mutual TLS. */
    const char *tls_cert;
    const char *tls_key;
    const char *tls_client_ca;
    const char *tls_request_ca;
    bool metrics_open;       /* /metrics needs no credential (else it needs viewer) */
};

#define VX_HTTP_RESP_HEADERS 4

/* What a handler fills in. Either json (owned: freed after sending) or text/len (copied).
 * Extra headers (Retry-After, ETag, ...) are added with vx_http_resp_header. */
struct vx_http_resp {
    unsigned status;         /* default 200 */
    json_t *json;
    const char *text;
    size_t text_len;
    const char *content_type; /* default application/json, or text/plain for text */
    struct {
        const char *name;    /* a string literal */
        char value[64];
    } headers[VX_HTTP_RESP_HEADERS];
    size_t n_headers;
};

typedef void(vx_http_handler_fn)(vx_http_req_t *req, struct vx_http_resp *resp, void *arg);
typedef bool(vx_http_ready_fn)(void *arg, json_t *detail);

/* One row of a daemon's route table: a static const array registered by vx_http_routes. */
struct vx_http_route_def {
    const char *method;      /* GET, POST, PUT, PATCH or DELETE (GET routes answer HEAD too) */
    const char *pattern;     /* "/v1/rules/{id}" */
    enum vx_role role;       /* the least role that may call it; never VX_ROLE_OPEN */
    vx_http_handler_fn *fn;
};

/* Returns NULL with *err (static string) set when the options are invalid. */
vx_http_t *vx_http_new(const struct vx_http_opts *opts, vx_metrics_t *metrics, const char **err);
void vx_http_destroy(vx_http_t **h);

/* Registers table[0..n) before vx_http_start, every handler called with arg. All or nothing:
 * on the first bad row nothing of the table is added and -EINVAL is returned with err naming
 * the row, its method and pattern, and why ("routes[2] PUT /v1/x/{id: a {name} must fill a
 * whole segment"). */
int vx_http_routes(vx_http_t *h, const struct vx_http_route_def *table, size_t n, void *arg,
                   char *err, size_t errlen);
/* The transition for daemons without a route table yet: GET routes need VX_ROLE_VIEWER,
 * mutating ones VX_ROLE_OPERATOR. Returns 0 or -EINVAL (bad pattern or method, or started). */
int vx_http_route(vx_http_t *h, const char *method, const char *pattern, vx_http_handler_fn *fn,
                  void *arg);
/* Every route of the server, built-ins included, in registration order, for tests that check
 * each route's role. vx_http_route_at returns 0 and fills the borrowed strings (valid while h
 * lives), or -ERANGE past the end. */
size_t vx_http_route_count(const vx_http_t *h);
int vx_http_route_at(const vx_http_t *h, size_t i, const char **method, const char **pattern,
                     enum vx_role *role);
/* The /ready callback; it may add fields to detail (an object shown in the body). */
void vx_http_set_ready(vx_http_t *h, vx_http_ready_fn *fn, void *arg);

/* Installs the credentials every later request is checked against; takes ownership of creds
 * (NULL: back to the token rule above). May be called at any time from any thread: requests
 * already in flight finish with the set they started with, which is freed after the last. */
void vx_http_set_creds(vx_http_t *h, vx_creds_t *creds);
/* The audit log the server appends to (borrowed; NULL: none). Set it before vx_http_start, or
 * change it only while no request runs; it must outlive vx_http_stop. */
void vx_http_set_audit(vx_http_t *h, vx_audit_t *audit);

/* Binds and starts serving. Returns 0 or -errno (-EADDRINUSE when the port is taken). */
int vx_http_start(vx_http_t *h);
/* The bound port (useful after port 0). */
uint16_t vx_http_port(const vx_http_t *h);
/* Stops accepting work, answers requests still waiting for a worker with 503 shutting_down,
 * waits for running handlers to finish and closes every connection. Idempotent. */
void vx_http_stop(vx_http_t *h);

/* Request accessors: all returned pointers are borrowed, valid during the handler. */
const char *vx_http_req_method(const vx_http_req_t *req);
const char *vx_http_req_path(const vx_http_req_t *req);
/* Value of a {name} segment of the matched pattern, NULL if the pattern has none. */
const char *vx_http_req_param(const vx_http_req_t *req, const char *name);
/* Value of a query-string argument (URL-decoded), NULL when absent. */
const char *vx_http_req_query(const vx_http_req_t *req, const char *name);
/* The common name of the verified client certificate, NULL without one. */
const char *vx_http_req_client_cn(const vx_http_req_t *req);
/* Value of a request header (name case-insensitive), NULL when absent. */
const char *vx_http_req_header(const vx_http_req_t *req, const char *name);
/* Raw body and its parsed JSON (NULL when the body is empty). */
const char *vx_http_req_body(const vx_http_req_t *req, size_t *len);
json_t *vx_http_req_json(const vx_http_req_t *req);

/* Adds (or replaces) a response header; name must outlive the response (a literal). At most
 * VX_HTTP_RESP_HEADERS headers; values are cut at 63 bytes. */
void vx_http_resp_header(struct vx_http_resp *resp, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The tenant the request acts for. With credentials: the X-VexFS-Tenant header when the
 * credential may act for it (an admin for any tenant, on behalf of it), else the credential's
 * only tenant, or NULL when it has several or every tenant and named none. Without a
 * credential set: the header as given (the transition). */
const char *vx_http_req_tenant(const vx_http_req_t *req);
/* Whether the request may see tenant's objects (for filtering lists): when it named a tenant
 * (X-VexFS-Tenant, accepted), that tenant only; otherwise every tenant of its credential ("*":
 * all). Always true without a credential set. */
bool vx_http_req_tenant_allowed(const vx_http_req_t *req, const char *tenant);
/* The caller's credential name ("admin" for the admin token), NULL when none was presented. */
const char *vx_http_req_credential(const vx_http_req_t *req);
/* The caller's role, VX_ROLE_OPEN when no credential was presented. */
enum vx_role vx_http_req_role(const vx_http_req_t *req);

/* Sets resp to a JSON error {"error":{"code":code,"message":...}} with this status. */
void vx_http_error(struct vx_http_resp *resp, unsigned status, const char *code, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));

#endif
