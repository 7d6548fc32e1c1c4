/* SPDX-License-Identifier: Apache-2.0 */
/* Internals of the admin HTTP server, shared by its three files and by nothing else:
 *   vx_http.c       route tables, the request life cycle, the built-ins, request accessors;
 *   vx_http_auth.c  credentials, roles, tenants, mutual TLS and the audit hooks;
 *   vx_http_conn.c  starting and stopping microhttpd, the handler workers and the
 *                   per-connection deadlines.
 *
 * A request's life: microhttpd calls cb_http_access with the headers (vx_http.c routes it and
 * vx_http_auth.c decides who is calling and whether they may), then with each body chunk,
 * then once more when the body is complete. A built-in answers there and then; any other
 * route's connection is suspended and the request queued to a worker (vx_http_conn.c), which
 * runs the handler, appends the audit line, marks the request done and resumes the connection;
 * microhttpd then calls cb_http_access again and the answer is queued. */
#ifndef VX_HTTP_PRIV_H
#define VX_HTTP_PRIV_H

#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "vx_http.h"

#define VX_HTTP_MAX_SEGS 32
#define VX_HTTP_TENANT_HEADER "X-VexFS-Tenant"

struct vx_http_route {
    char *method;
    char *pattern;
    char *buf; /* split copy of pattern; segs point into it */
    size_t n_segs;
    const char *segs[VX_HTTP_MAX_SEGS]; /* literal text, or the parameter name when is_param */
    bool is_param[VX_HTTP_MAX_SEGS];
    enum vx_role role;
    bool inline_answer; /* a built-in: answered on the I/O thread, never queued */
    vx_http_handler_fn *fn;
    void *arg;
};

/* A credential set and the requests using it: the last one to let go frees it. */
struct vx_http_credset {
    vx_creds_t *creds;
    atomic_uint refs;
};

/* A connection microhttpd told us about (MHD_OPTION_NOTIFY_CONNECTION), kept until it closes
 * so the reaper can shut down its socket once its deadline passes. */
struct vx_http_conn {
    struct vx_http_conn *prev, *next;
    int fd;
    _Atomic uint64_t deadline_ns; /* monotonic; 0 while a handler runs for it */
    bool expired;                 /* shut down by the reaper */
    /* The client certificate's verdict, reached at the connection's first request and kept:
     * the TLS session, and so the certificate, does not change while the connection lives,
     * and a connection carries one request at a time. */
    enum { VX_HTTP_CERT_UNKNOWN, VX_HTTP_CERT_NONE, VX_HTTP_CERT_BAD, VX_HTTP_CERT_OK } cert;
    char cert_cn[256];
};

/* The bookkeeping of a connection microhttpd accepted (NULL when it has none). */
struct vx_http_conn *vx_http_conn_of(struct MHD_Connection *conn);

/* The handler workers: a FIFO of suspended requests. At most one request per connection waits
 * here, so the queue is bounded by the connection limit. */
struct vx_http_pool {
    pthread_mutex_t mu;
    pthread_cond_t work; /* a request was queued, or the pool stops */
    pthread_cond_t idle; /* pending dropped to zero */
    struct vx_http_req *head, *tail;
    size_t pending;      /* requests suspended and not yet resumed */
    size_t unsent;       /* requests queued whose answer has not yet gone out */
    bool stopping;
    pthread_t *threads;
    unsigned n_threads;
};

/* Every open connection, and the thread that enforces their deadlines. */
struct vx_http_conns {
    pthread_mutex_t mu;  /* guards the list and stop; held while a socket is shut down */
    pthread_cond_t wake;
    struct vx_http_conn *head;
    bool stop;
    bool running;
    pthread_t reaper;
};

struct vx_http {
    char *service;
    char *version;
    char *token; /* NULL: mutating methods are refused (without a credential set) */
    size_t token_len;
    struct sockaddr_in addr;
    size_t body_limit;
    size_t body_budget;          /* bytes of request bodies held at once, all requests */
    atomic_size_t body_bytes;    /* held now */
    vx_counter_t *body_refused;
    vx_gauge_t *body_held;
    unsigned conn_limit;
    unsigned conn_limit_per_ip;
    unsigned timeout_s;
    unsigned n_workers;
    unsigned io_threads;
    bool metrics_open;
    vx_metrics_t *metrics; /* borrowed; may be NULL */
    double duration_bounds[14];
    struct vx_http_route *routes; /* immutable once the daemon runs, so handlers read it
                                     unlocked */
    size_t n_routes;
    pthread_mutex_t lock; /* guards ready_fn and ready_arg */
    vx_http_ready_fn *ready_fn;
    void *ready_arg;
    struct MHD_Daemon *daemon;
    uint16_t port;
    uint64_t started_ns;
    char *tls_cert, *tls_key; /* PEM; NULL: plain HTTP */
    char *tls_trust;          /* PEM: the authority client certificates are verified with */
    bool tls_client_required; /* mutual TLS: routes that are not open need a certificate */
    /* vx_http_auth.c */
    pthread_mutex_t creds_mu; /* guards credset (the pointer; the set is immutable) */
    struct vx_http_credset *credset; /* NULL: the token rule */
    vx_audit_t *_Atomic audit;       /* borrowed; NULL: none */
    vx_counter_t *audit_failures;
    /* vx_http_conn.c */
    struct vx_http_pool pool;
    struct vx_http_conns conns;
    vx_gauge_t *open_conns;
    vx_gauge_t *waiting; /* requests queued for a worker */
    vx_counter_t *expired;
};

enum vx_http_req_state {
    VX_HTTP_REQ_READING = 0, /* headers and body arriving */
    VX_HTTP_REQ_QUEUED,      /* suspended, waiting for or running in a worker */
    VX_HTTP_REQ_DONE,        /* resp filled by the worker; to be sent */
};

/* Per-request state, created on microhttpd's first call (headers only) and freed in
 * cb_http_completed. Decisions that need only the headers are made up front so a rejected or
 * oversized body is discarded as it arrives instead of being buffered. */
struct vx_http_req {
    vx_http_t *h;
    struct MHD_Connection *conn;
    const char *method; /* microhttpd's strings, valid for the whole request */
    const char *path;
    const char *method_label; /* bounded set, for metrics */
    const char *route_label;  /* the matched pattern or "unmatched", for metrics */
    const struct vx_http_route *route;
    bool mutating;
    char *path_buf;
    size_t n_segs; /* SIZE_MAX when the path has too many segments to route */
    char *segs[VX_HTTP_MAX_SEGS];
    unsigned reject; /* 400, 401, 403, 404, 405 or 413 decided before the handler; 0 if none */
    const char *reject_code;
    const char *reject_msg;
    char reject_buf[320]; /* a reject_msg composed for this request */
    uint64_t received;
    char *body;
    size_t body_len;
    size_t body_cap;
    size_t body_reserved; /* taken from the server's body budget */
    json_t *json;
    char *scratch; /* a built-in's buffer that must outlive the handler */
    char client_cn[256]; /* the verified client certificate's common name, or "" */
    uint64_t t0;
    /* vx_http_auth.c */
    struct vx_http_credset *credset; /* a reference, held until the request completes */
    const struct vx_cred *cred;      /* inside credset; NULL: no credential */
    const char *credential;          /* cred's name, or "admin" for the token */
    enum vx_role role;
    const char *tenant;              /* see vx_http_req_tenant */
    bool tenant_named;               /* tenant came from the header and was accepted */
    bool on_behalf_of;               /* an admin named it */
    const char *refusal;             /* reason label of a 401/403 decided here */
    bool audited;
    /* vx_http_conn.c */
    enum vx_http_req_state state;
    struct vx_http_resp resp;        /* the worker's answer */
    struct vx_http_req *next;        /* in the pool's queue */
};

/* vx_http.c: what microhttpd calls. */
enum MHD_Result cb_http_access(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version,
                               const char *upload_data, size_t *upload_data_size,
                               void **con_cls);
void cb_http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                       enum MHD_RequestTerminationCode toe);
/* Records a decision taken before the handler; later decisions override earlier ones. */
void vx_http_req_reject(struct vx_http_req *req, unsigned status, const char *code,
                        const char *msg);
/* Runs the request's handler into req->resp (on a worker). */
void vx_http_req_run(struct vx_http_req *req);

/* vx_http_auth.c */
/* Decides, from the headers, who calls and whether the route lets them; rejects otherwise. */
void vx_http_auth_begin(struct vx_http_req *req);
/* Lets go of the request's credential set. */
void vx_http_auth_end(struct vx_http_req *req);
/* Appends the request's audit line when the rules say so (once), and counts a refusal. */
void vx_http_audit_request(struct vx_http_req *req, unsigned status);
void vx_http_auth_init(vx_http_t *h);
void vx_http_auth_fini(vx_http_t *h);

/* vx_http_conn.c */
void vx_http_conn_init(vx_http_t *h);
void vx_http_conn_fini(vx_http_t *h);
/* Suspends the request's connection and queues it for a worker. Returns false, leaving the
 * connection as it was, when the server is stopping. Call only from cb_http_access. */
bool vx_http_pool_submit(struct vx_http_req *req);
/* A request that went through the pool has completed (its answer is out, or it failed). */
void vx_http_pool_sent(vx_http_t *h);
/* The connection's deadline: none while its handler runs (running), else timeout_s from now. */
void vx_http_conn_deadline(vx_http_t *h, struct MHD_Connection *conn, bool running);

#endif
