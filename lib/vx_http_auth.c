/* SPDX-License-Identifier: Apache-2.0 */
/* Admin HTTP server: who is calling (bearer token, client certificate), whether the route's
 * role and the tenant let them, and the audit line of what they did. */
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vx_http_priv.h"
#include "vx_mem.h"

#define S_REFUSED_NAME "vexfs_http_auth_refused_total"
#define S_REFUSED_HELP "REST requests refused with 401 or 403, by reason."
#define S_AUDIT_FAIL_NAME "vexfs_http_audit_failures_total"
#define S_AUDIT_FAIL_HELP "Audit lines the audit log could not write (the request was answered)."
#define S_TENANT_MAX 256

/* Every reason a request is refused with 401 or 403, so each series exists from the start. */
static const char *const s_reasons[] = {"unauthenticated", "forbidden", "tenant_forbidden",
                                        "client_certificate_required"};

void
vx_http_auth_init(vx_http_t *h)
{
    pthread_mutex_init(&h->creds_mu, NULL);
    atomic_init(&h->audit, NULL);
    if (!h->metrics) {
        return;
    }
    for (size_t i = 0; i < sizeof s_reasons / sizeof s_reasons[0]; i++) {
        vx_metrics_counter(h->metrics, S_REFUSED_NAME, S_REFUSED_HELP, "reason", s_reasons[i],
                           NULL);
    }
    h->audit_failures = vx_metrics_counter(h->metrics, S_AUDIT_FAIL_NAME, S_AUDIT_FAIL_HELP, NULL);
}

static struct vx_http_credset *
s_credset_get(vx_http_t *h)
{
    pthread_mutex_lock(&h->creds_mu);
    struct vx_http_credset *cs = h->credset;
    if (cs) {
        atomic_fetch_add(&cs->refs, 1);
    }
    pthread_mutex_unlock(&h->creds_mu);
    return cs;
}

static void
s_credset_put(struct vx_http_credset **csp)
{
    struct vx_http_credset *cs = *csp;
    *csp = NULL;
    if (cs && atomic_fetch_sub(&cs->refs, 1) == 1) {
        vx_creds_destroy(&cs->creds);
        free(cs);
    }
}

void
vx_http_set_creds(vx_http_t *h, vx_creds_t *creds)
{
    struct vx_http_credset *cs = NULL;
    if (creds) {
        cs = vx_calloc(1, sizeof *cs);
        cs->creds = creds;
        atomic_init(&cs->refs, 1);
    }
    pthread_mutex_lock(&h->creds_mu);
    struct vx_http_credset *old = h->credset;
    h->credset = cs;
    pthread_mutex_unlock(&h->creds_mu);
    s_credset_put(&old);
}

void
vx_http_set_audit(vx_http_t *h, vx_audit_t *audit)
{
    atomic_store(&h->audit, audit);
}

void
vx_http_auth_fini(vx_http_t *h)
{
    s_credset_put(&h->credset);
    pthread_mutex_destroy(&h->creds_mu);
}

void
vx_http_auth_end(struct vx_http_req *req)
{
    s_credset_put(&req->credset);
    req->cred = NULL;
}

/* Verifies the connection's client certificate against the authority: VX_HTTP_CERT_OK with
 * its common name in cn, VX_HTTP_CERT_BAD when one was presented that does not verify,
 * VX_HTTP_CERT_NONE when none was. */
static int
s_verify_cert(struct vx_http_req *req, char *cn, size_t cnlen)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    gnutls_session_t session = ci ? (gnutls_session_t)ci->tls_session : NULL;
    unsigned status = 0;
    unsigned n = 0;
    const gnutls_datum_t *chain = session ? gnutls_certificate_get_peers(session, &n) : NULL;
    cn[0] = '\0';
    if (!chain || n == 0) {
        return VX_HTTP_CERT_NONE;
    }
    if (gnutls_certificate_verify_peers2(session, &status) < 0 || status != 0) {
        return VX_HTTP_CERT_BAD;
    }
    gnutls_x509_crt_t crt;
    if (gnutls_x509_crt_init(&crt) == 0) {
        size_t len = cnlen - 1;
        if (gnutls_x509_crt_import(crt, &chain[0], GNUTLS_X509_FMT_DER) == 0 &&
            gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &len) ==
                0) {
            cn[len] = '\0';
        } else {
            cn[0] = '\0';
        }
        gnutls_x509_crt_deinit(crt);
    }
    return VX_HTTP_CERT_OK;
}

/* A client certificate: whether the connection presented one the authority issued (keeping its
 * common name), and whether it presented one at all. microhttpd asks for the certificate but
 * leaves the verdict to us; it is reached once per connection (verifying the chain is most of
 * the cost of a request over a kept-alive connection). */
static bool
s_client_cert(struct vx_http_req *req, bool *presented)
{
    struct vx_http_conn *c = vx_http_conn_of(req->conn);
    int verdict;
    if (c && c->cert != VX_HTTP_CERT_UNKNOWN) {
        verdict = c->cert;
        snprintf(req->client_cn, sizeof req->client_cn, "%s", c->cert_cn);
    } else {
        verdict = s_verify_cert(req, req->client_cn, sizeof req->client_cn);
        if (c) {
            c->cert = verdict;
            snprintf(c->cert_cn, sizeof c->cert_cn, "%s", req->client_cn);
        }
    }
    *presented = verdict != VX_HTTP_CERT_NONE;
    return verdict == VX_HTTP_CERT_OK;
}

/* The token of "Authorization: Bearer <token>", or NULL. */
static const char *
s_bearer(const struct vx_http_req *req)
{
    const char *auth = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
                                                   MHD_HTTP_HEADER_AUTHORIZATION);
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) {
        return NULL;
    }
    const char *given = auth + 7;
    while (*given == ' ') {
        given++;
    }
    return given;
}

/* Compares the bearer token in time that depends only on the configured token's length. */
static bool
s_token_ok(const vx_http_t *h, const char *given)
{
    size_t given_len = strlen(given);
    volatile unsigned diff = given_len != h->token_len;
    for (size_t i = 0; i < h->token_len; i++) {
        unsigned char g = i < given_len ? (unsigned char)given[i] : 0;
        diff |= g ^ (unsigned char)h->token[i];
    }
    return diff == 0;
}

static void
s_refuse(struct vx_http_req *req, unsigned status, const char *code, const char *reason,
         const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Rejects with a 401 or 403 whose message is composed for this request. */
static void
s_refuse(struct vx_http_req *req, unsigned status, const char *code, const char *reason,
         const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(req->reject_buf, sizeof req->reject_buf, fmt, ap);
    va_end(ap);
    vx_http_req_reject(req, status, code, req->reject_buf);
    req->refusal = reason;
}

/* Without a credential set, as before credentials existed: the admin token guards mutating
 * calls, reads are open and the tenant header is taken as given. */
static void
s_token_rule(struct vx_http_req *req)
{
    const vx_http_t *h = req->h;
    const char *given = s_bearer(req);
    bool ok = h->token && given && s_token_ok(h, given);
    if (ok) {
        req->credential = "admin";
        req->role = VX_ROLE_ADMIN;
    }
    req->tenant = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, VX_HTTP_TENANT_HEADER);
    if (req->mutating && !h->token) {
        s_refuse(req, MHD_HTTP_FORBIDDEN, "forbidden", "forbidden",
                 "no admin token is configured, so mutating calls are refused");
    } else if (req->mutating && !ok) {
        s_refuse(req, MHD_HTTP_UNAUTHORIZED, "unauthorized", "unauthenticated",
                 "missing or wrong bearer token");
    }
}

static bool
s_tenant_name_ok(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > S_TENANT_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)t[i] < 0x20 || t[i] == 0x7f) {
            return false;
        }
    }
    return true;
}

/* The tenant the request acts for: a named one if the credential may act for it, else the
 * credential's only tenant. */
static void
s_tenant(struct vx_http_req *req)
{
    const struct vx_cred *cred = req->cred;
    const char *t = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, VX_HTTP_TENANT_HEADER);
    if (!t) {
        req->tenant = !cred->any_tenant && cred->n_tenants == 1 ? cred->tenants[0] : NULL;
    } else if (!s_tenant_name_ok(t)) {
        vx_http_req_reject(req, MHD_HTTP_BAD_REQUEST, "invalid_tenant",
                           VX_HTTP_TENANT_HEADER ": a tenant name of 1 to 256 characters without "
                                                 "control characters");
    } else if (cred->role == VX_ROLE_ADMIN) {
        req->tenant = t;
        req->tenant_named = true;
        req->on_behalf_of = true;
    } else if (vx_cred_allows_tenant(cred, t)) {
        req->tenant = t;
        req->tenant_named = true;
    } else {
        s_refuse(req, MHD_HTTP_FORBIDDEN, "tenant_forbidden", "tenant_forbidden",
                 "credential '%.64s' may not act for tenant '%.64s'", cred->name, t);
    }
}

/* With a credential set: identify the caller, then check the route's role and the tenant. */
static void
s_creds_rule(struct vx_http_req *req, bool cert_presented)
{
    const struct vx_http_route *route = req->route;
    if (!route || route->role == VX_ROLE_OPEN) {
        return; /* 404/405 stand; open routes ask nothing */
    }
    const vx_creds_t *creds = req->credset->creds;
    const char *token = s_bearer(req);
    const struct vx_cred *cred = NULL;
    if (token) {
        cred = vx_creds_by_token(creds, token);
        if (!cred) {
            s_refuse(req, MHD_HTTP_UNAUTHORIZED, "unauthenticated", "unauthenticated",
                     "the bearer token is not a known credential");
            return;
        }
    } else if (req->client_cn[0]) {
        cred = vx_creds_by_cn(creds, req->client_cn);
        if (!cred) {
            s_refuse(req, MHD_HTTP_UNAUTHORIZED, "unauthenticated", "unauthenticated",
                     "client certificate '%.64s' is not a known credential", req->client_cn);
            return;
        }
    } else {
        s_refuse(req, MHD_HTTP_UNAUTHORIZED, "unauthenticated", "unauthenticated",
                 "%s %s needs a credential: Authorization: Bearer <token>, or a client "
                 "certificate%s",
                 route->method, route->pattern,
                 cert_presented ? " (the one presented was not issued by the suite's authority)"
                                : "");
        return;
    }
    req->cred = cred;
    req->credential = cred->name;
    req->role = cred->role;
    if (cred->role < route->role) {
        s_refuse(req, MHD_HTTP_FORBIDDEN, "forbidden", "forbidden",
                 "%s %s needs the %s role; credential '%s' has %s", route->method,
                 route->pattern, vx_role_name(route->role), cred->name,
                 vx_role_name(cred->role));
        return;
    }
    s_tenant(req);
}

void
vx_http_auth_begin(struct vx_http_req *req)
{
    vx_http_t *h = req->h;
    bool presented = false;
    bool verified = h->tls_trust && s_client_cert(req, &presented);
    bool open = req->route && req->route->role == VX_ROLE_OPEN;
    req->credset = s_credset_get(h);
    if (h->tls_client_required && !verified && !open) {
        s_refuse(req, MHD_HTTP_UNAUTHORIZED, "client_certificate_required",
                 "client_certificate_required",
                 "this route needs a client certificate issued by the suite's authority");
        if (req->credset) {
            return;
        }
    }
    if (req->credset) {
        s_creds_rule(req, presented);
    } else {
        s_token_rule(req);
    }
}

/* Appends the request's audit line when it mutated (or tried to mutate) through a route, was
 * refused with 401/403, or acted on behalf of a tenant; counts the refusal. Runs once per
 * request, on the worker after the handler or where the answer is sent. */
void
vx_http_audit_request(struct vx_http_req *req, unsigned status)
{
    if (req->audited) {
        return;
    }
    req->audited = true;
    vx_http_t *h = req->h;
    bool refused = req->refusal && (status == MHD_HTTP_UNAUTHORIZED ||
                                    status == MHD_HTTP_FORBIDDEN);
    if (refused && h->metrics) {
        vx_counter_t *c = vx_metrics_counter(h->metrics, S_REFUSED_NAME, S_REFUSED_HELP,
                                             "reason", req->refusal, NULL);
        if (c) {
            vx_counter_add(c, 1);
        }
    }
    vx_audit_t *a = atomic_load(&h->audit);
    if (!a || !(refused || req->on_behalf_of || (req->mutating && req->route))) {
        return;
    }
    const char *outcome = refused ? (status == MHD_HTTP_UNAUTHORIZED ? "unauthenticated"
                                                                     : "forbidden")
                          : status < 400 ? "ok"
                          : status < 500 ? "refused"
                                         : "error";
    struct vx_audit_record r = {
        .credential = req->credential,
        .role = req->credential ? vx_role_name(req->role) : NULL,
        .tenant = req->tenant,
        .on_behalf_of = req->on_behalf_of,
        .method = req->method,
        .route = req->route ? req->route->pattern : req->route_label,
        .path = req->path,
        .body = req->body,
        .body_len = req->body_len,
        .status = status,
        .outcome = outcome,
        .detail = refused ? req->reject_msg : NULL,
    };
    if (vx_audit_append(a, &r) < 0 && h->audit_failures) {
        vx_counter_add(h->audit_failures, 1);
    }
}

/* --- request accessors ------------------------------------------------------------------ */

const char *
vx_http_req_tenant(const vx_http_req_t *req)
{
    return req->tenant;
}

bool
vx_http_req_tenant_allowed(const vx_http_req_t *req, const char *tenant)
{
    if (!req->credset) {
        return true;
    }
    if (req->tenant_named) {
        return tenant && strcmp(req->tenant, tenant) == 0;
    }
    if (!req->cred) {
        return false;
    }
    return tenant ? vx_cred_allows_tenant(req->cred, tenant) : req->cred->any_tenant;
}

const char *
vx_http_req_credential(const vx_http_req_t *req)
{
    return req->credential;
}

enum vx_role
vx_http_req_role(const vx_http_req_t *req)
{
    return req->role;
}
