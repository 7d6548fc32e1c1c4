/* SPDX-License-Identifier: Apache-2.0 */
/* The admin HTTP server every daemon runs, on libmicrohttpd.
 *
 * Built in: GET /health (liveness, always 200 with service, version, uptime), GET /ready
 * (200 or 503 from the ready callback), GET /metrics (the registry in Prometheus text).
 * Everything else comes from a route table: method + pattern such as "/v1/rules/{id}",
 * where a {name} segment matches one path segment and is read with vx_http_req_param.
 *
 * Rules applied to every request before a handler runs:
 *  - a body larger than body_limit gets 413 (the body is never buffered past the limit);
 *  - a mutating method (POST, PUT, PATCH, DELETE) without "Authorization: Bearer <token>"
 *    matching the configured token gets 401; when no token is configured, mutating calls
 *    are refused with 403 (an admin API is never open by accident);
 *  - a body is parsed with jansson (duplicate keys rejected) when its Content-Type is
 *    application/json, absent, or curl's default application/x-www-form-urlencoded; any other
 *    type gets 415; invalid JSON gets 400 with jansson's line/column message and the handler is
 *    not called; an empty body leaves req->json NULL;
 *  - no matching route: 404, matching path but other method: 405 with an Allow header.
 * Errors are JSON: {"error":{"code":"invalid_json","message":"..."}}.
 *
 * Threading: one thread per connection (MHD_USE_THREAD_PER_CONNECTION), so a handler may block
 * (for example waiting for a Kafka acknowledgement) up to its own timeout; handlers therefore
 * run concurrently and must only touch thread-safe state. Connections are limited to
 * conn_limit and idle connections are closed after timeout_s.
 *
 * Metrics: vexfs_http_requests_total{route,method,code} and
 * vexfs_http_request_duration_seconds{route} in the registry given to vx_http_new. */
#ifndef VX_HTTP_H
#define VX_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_metrics.h"

typedef struct vx_http vx_http_t;
typedef struct vx_http_req vx_http_req_t;

struct vx_http_opts {
    const char *service;     /* "vexfs-propagation": shown by /health */
    const char *version;     /* shown by /health */
    const char *bind;        /* IPv4 address, e.g. "127.0.0.1" or "0.0.0.0" */
    uint16_t port;           /* 0 picks a free port (see vx_http_port) */
    size_t body_limit;       /* bytes; 0 means 1 MiB */
    unsigned conn_limit;     /* 0 means 64 */
    unsigned timeout_s;      /* idle connection timeout; 0 means 10 */
    const char *token;       /* bearer token for mutating methods; NULL: mutating calls get 403 */
    /* HTTPS: the server's certificate chain and private key (PEM text, copied). NULL: plain
     * HTTP. tls_client_ca (PEM, copied): mutual TLS, every route but /health and /ready needs
     * a client certificate issued by it (401 client_certificate_required otherwise). */
    const char *tls_cert;
    const char *tls_key;
    const char *tls_client_ca;
};

/* What a handler fills in. Either json (owned: freed after sending) or text/len (copied). */
struct vx_http_resp {
    unsigned status;         /* default 200 */
    json_t *json;
    const char *text;
    size_t text_len;
    const char *content_type; /* default application/json, or text/plain for text */
};

typedef void(vx_http_handler_fn)(vx_http_req_t *req, struct vx_http_resp *resp, void *arg);
typedef bool(vx_http_ready_fn)(void *arg, json_t *detail);

/* Returns NULL with *err (static string) set when the options are invalid. */
vx_http_t *vx_http_new(const struct vx_http_opts *opts, vx_metrics_t *metrics, const char **err);
void vx_http_destroy(vx_http_t **h);

/* Adds a route before vx_http_start. Returns 0 or -EINVAL (bad pattern or method). */
int vx_http_route(vx_http_t *h, const char *method, const char *pattern, vx_http_handler_fn *fn,
                  void *arg);
/* The /ready callback; it may add fields to detail (an object shown in the body). */
void vx_http_set_ready(vx_http_t *h, vx_http_ready_fn *fn, void *arg);

/* Binds and starts serving. Returns 0 or -errno (-EADDRINUSE when the port is taken). */
int vx_http_start(vx_http_t *h);
/* The bound port (useful after port 0). */
uint16_t vx_http_port(const vx_http_t *h);
/* Stops accepting and waits for running handlers to finish. Idempotent. */
void vx_http_stop(vx_http_t *h);

/* Request accessors: all returned pointers are borrowed, valid during the handler. */
const char *vx_http_req_method(const vx_http_req_t *req);
const char *vx_http_req_path(const vx_http_req_t *req);
/* Value of a {name} segment of the matched pattern, NULL if the pattern has none. */
const char *vx_http_req_param(const vx_http_req_t *req, const char *name);
/* Value of a query-string argument (URL-decoded), NULL when absent. */
const char *vx_http_req_query(const vx_http_req_t *req, const char *name);
/* The common name of the verified client certificate (mutual TLS), NULL without one. */
const char *vx_http_req_client_cn(const vx_http_req_t *req);
/* Value of a request header (name case-insensitive), NULL when absent. */
const char *vx_http_req_header(const vx_http_req_t *req, const char *name);
/* Raw body and its parsed JSON (NULL when the body is empty). */
const char *vx_http_req_body(const vx_http_req_t *req, size_t *len);
json_t *vx_http_req_json(const vx_http_req_t *req);

/* Sets resp to a JSON error {"error":{"code":code,"message":...}} with this status. */
void vx_http_error(struct vx_http_resp *resp, unsigned status, const char *code, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));

#endif
