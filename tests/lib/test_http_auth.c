/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of vx_http's credentials over real HTTPS: every route of a table against every role
 * (401/403/200), tenants, client-certificate credentials, mutual TLS, swapping the credential
 * set while requests run, the audit log, and route-table errors. */
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vt_https.h"
#include "vx_audit.h"
#include "vx_creds.h"
#include "vx_http.h"
#include "vx_metrics.h"
#include "vx_test.h"
#include "vx_tls.h"

#define TOK_VIEWER "tok-viewer-0001"
#define TOK_OPERATOR "tok-operator-0002"
#define TOK_ADMIN "tok-admin-0003"
#define TOK_ADMIN_ACME "tok-admin-acme-0004"
#define TOK_NEW "tok-new-0005"

enum { F_CREDS = 1, F_REQUEST_CERTS = 2, F_MUTUAL = 4, F_METRICS_OPEN = 8, F_AUDIT = 16 };

struct fx {
    char *dir;
    char ca[600];
    vx_metrics_t *metrics;
    vx_http_t *http;
    vx_audit_t *audit;
    char audit_path[600];
    uint16_t port;
};

/* Answers with what the server decided about the caller. */
static void
h_who(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    (void)arg;
    enum vx_role r = vx_http_req_role(req);
    resp->json = json_pack(
        "{s:s*, s:s*, s:s*, s:{s:b, s:b, s:b}}", "credential", vx_http_req_credential(req),
        "role", vx_role_name(r), "tenant", vx_http_req_tenant(req), "allowed", "acme",
        vx_http_req_tenant_allowed(req, "acme"), "globex",
        vx_http_req_tenant_allowed(req, "globex"), "initech",
        vx_http_req_tenant_allowed(req, "initech"));
}

static const struct vx_http_route_def s_routes[] = {
    {"GET", "/v1/things", VX_ROLE_VIEWER, h_who},
    {"POST", "/v1/things", VX_ROLE_OPERATOR, h_who},
    {"DELETE", "/v1/things/{id}", VX_ROLE_OPERATOR, h_who},
    {"PUT", "/v1/config", VX_ROLE_ADMIN, h_who},
    {"GET", "/v1/secrets", VX_ROLE_ADMIN, h_who},
};

/* One credential set of every kind. */
static vx_creds_t *
s_creds(void)
{
    char hv[65], ho[65], ha[65], hx[65], err[512];
    vx_sha256_hex(TOK_VIEWER, strlen(TOK_VIEWER), hv);
    vx_sha256_hex(TOK_OPERATOR, strlen(TOK_OPERATOR), ho);
    vx_sha256_hex(TOK_ADMIN, strlen(TOK_ADMIN), ha);
    vx_sha256_hex(TOK_ADMIN_ACME, strlen(TOK_ADMIN_ACME), hx);
    json_t *doc = json_pack(
        "{s:[{s:s, s:s, s:[s], s:s}, {s:s, s:s, s:[s, s], s:s}, {s:s, s:s, s:[s], s:s},"
        "    {s:s, s:s, s:[s], s:s}, {s:s, s:s, s:[s], s:s}, {s:s, s:s, s:[s], s:s}]}",
        "credentials", "name", "val", "role", "viewer", "tenants", "acme", "token_sha256", hv,
        "name", "olga", "role", "operator", "tenants", "acme", "globex", "token_sha256", ho,
        "name", "ada", "role", "admin", "tenants", "*", "token_sha256", ha, "name", "adam",
        "role", "admin", "tenants", "acme", "token_sha256", hx, "name", "oscar-cert", "role",
        "operator", "tenants", "acme", "certificate_cn", "oscar", "name", "ops-cert", "role",
        "admin", "tenants", "*", "certificate_cn", "ops");
    ck_assert_ptr_nonnull(doc);
    vx_creds_t *c = vx_creds_from_json(doc, "test", err, sizeof err);
    ck_assert_msg(c != NULL, "%s", err);
    json_decref(doc);
    return c;
}

static char *
s_pem(const char *dir, const char *file, bool secret)
{
    char path[700], err[800];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    char *pem = vx_tls_read_pem(path, secret, NULL, err, sizeof err);
    ck_assert_msg(pem != NULL, "%s", err);
    return pem;
}

/* A deployment's authority with a server certificate and client certificates "oscar", "ops"
 * (known credentials) and "alice" (unknown), and "mallory" from another authority. */
static void
s_pki(struct fx *f)
{
    char err[512];
    const char *hosts[] = {"127.0.0.1"};
    f->dir = vt_tmpdir();
    ck_assert_msg(vx_tls_make_ca(f->dir, "ca", err, sizeof err) == 0, "%s", err);
    ck_assert_msg(vx_tls_make_cert(f->dir, "server", "ca", hosts, 1, true, err, sizeof err) == 0,
                  "%s", err);
    const char *clients[] = {"oscar", "ops", "alice"};
    for (size_t i = 0; i < 3; i++) {
        ck_assert_msg(vx_tls_make_cert(f->dir, clients[i], "ca", NULL, 0, false, err,
                                       sizeof err) == 0,
                      "%s", err);
    }
    ck_assert_msg(vx_tls_make_ca(f->dir, "other", err, sizeof err) == 0, "%s", err);
    ck_assert_msg(
        vx_tls_make_cert(f->dir, "mallory", "other", NULL, 0, false, err, sizeof err) == 0, "%s",
        err);
    snprintf(f->ca, sizeof f->ca, "%s/ca.crt", f->dir);
}

static void
s_start(struct fx *f, int flags)
{
    memset(f, 0, sizeof *f);
    s_pki(f);
    char *cert = s_pem(f->dir, "server.crt", false);
    char *key = s_pem(f->dir, "server.key", true);
    char *ca = s_pem(f->dir, "ca.crt", false);
    struct vx_http_opts opts = {
        .service = "vexfs-test",
        .bind = "127.0.0.1",
        .token = "legacy-token",
        .tls_cert = cert,
        .tls_key = key,
        .tls_client_ca = flags & F_MUTUAL ? ca : NULL,
        .tls_request_ca = flags & F_REQUEST_CERTS ? ca : NULL,
        .metrics_open = flags & F_METRICS_OPEN,
    };
    const char *err = NULL;
    f->metrics = vx_metrics_new();
    f->http = vx_http_new(&opts, f->metrics, &err);
    ck_assert_msg(f->http != NULL, "%s", err);
    free(cert);
    free(key);
    free(ca);
    char rerr[256];
    ck_assert_msg(vx_http_routes(f->http, s_routes, sizeof s_routes / sizeof s_routes[0], NULL,
                                 rerr, sizeof rerr) == 0,
                  "%s", rerr);
    if (flags & F_CREDS) {
        vx_http_set_creds(f->http, s_creds());
    }
    if (flags & F_AUDIT) {
        char kerr[512];
        ck_assert_msg(vx_audit_keygen(f->dir, "audit", kerr, sizeof kerr) == 0, "%s", kerr);
        char keyfile[700];
        snprintf(keyfile, sizeof keyfile, "%s/audit.key", f->dir);
        snprintf(f->audit_path, sizeof f->audit_path, "%s/test.audit.jsonl", f->dir);
        struct vx_audit_opts ao = {.path = f->audit_path, .key_file = keyfile,
                                   .service = "vexfs-test"};
        f->audit = vx_audit_open(&ao, kerr, sizeof kerr);
        ck_assert_msg(f->audit != NULL, "%s", kerr);
        vx_http_set_audit(f->http, f->audit);
    }
    ck_assert_int_eq(vx_http_start(f->http), 0);
    f->port = vx_http_port(f->http);
}

static void
s_stop(struct fx *f)
{
    vx_http_destroy(&f->http);
    vx_audit_close(&f->audit);
    vx_metrics_destroy(&f->metrics);
    free(f->dir);
}

/* Who calls: a token, a client certificate (a file name in the fixture's folder), or nothing. */
struct caller {
    const char *token;
    const char *cert;
};

/* One request; checks the status and returns the JSON body (caller decrefs). */
static json_t *
s_call(const struct fx *f, const char *method, const char *path, struct caller who,
       const char *tenant, const char *body, long want)
{
    char cert[700], key[700];
    struct vt_https_req rq = {.method = method, .port = f->port, .path = path, .body = body,
                              .token = who.token, .tenant = tenant, .ca_file = f->ca};
    if (who.cert) {
        snprintf(cert, sizeof cert, "%s/%s.crt", f->dir, who.cert);
        snprintf(key, sizeof key, "%s/%s.key", f->dir, who.cert);
        rq.cert_file = cert;
        rq.key_file = key;
    }
    struct vt_http_result r;
    int rc = vt_https(&rq, &r);
    ck_assert_msg(rc == 0, "%s %s: %s", method, path, r.body);
    ck_assert_msg(r.status == want, "%s %s (token %s, cert %s, tenant %s): status %ld, want %ld: %s",
                  method, path, who.token ? who.token : "-", who.cert ? who.cert : "-",
                  tenant ? tenant : "-", r.status, want, r.body);
    json_t *doc = json_loads(r.body, 0, NULL);
    if (strcmp(path, "/metrics") != 0) {
        ck_assert_msg(doc != NULL, "%s %s: not JSON: %s", method, path, r.body);
    }
    vt_http_result_fini(&r);
    return doc;
}

/* Checks {"error":{"code":code,"message":...}} with message containing part (NULL: any). */
static void
s_check_error(json_t *doc, const char *code, const char *part)
{
    const char *c = NULL, *msg = NULL;
    ck_assert_int_eq(json_unpack(doc, "{s:{s:s, s:s}}", "error", "code", &c, "message", &msg), 0);
    ck_assert_str_eq(c, code);
    if (part) {
        ck_assert_msg(strstr(msg, part), "message '%s' lacks '%s'", msg, part);
    }
    json_decref(doc);
}

static uint64_t
s_refused(const struct fx *f, const char *reason)
{
    return vx_counter_value(vx_metrics_counter(f->metrics, "vexfs_http_auth_refused_total", "",
                                               "reason", reason, NULL));
}

/* Every route of the server, taken from the server itself, against every role: no credential
 * gets 401 except on open routes, a weaker role 403, an equal or stronger one 200. A route
 * added to the table is covered without touching this test. */
START_TEST(t_every_route_every_role)
{
    struct fx f;
    s_start(&f, F_CREDS);
    const struct {
        struct caller who;
        enum vx_role role;
        const char *name;
    } callers[] = {
        {{NULL, NULL}, VX_ROLE_OPEN, NULL},
        {{TOK_VIEWER, NULL}, VX_ROLE_VIEWER, "val"},
        {{TOK_OPERATOR, NULL}, VX_ROLE_OPERATOR, "olga"},
        {{TOK_ADMIN, NULL}, VX_ROLE_ADMIN, "ada"},
    };
    size_t n = vx_http_route_count(f.http);
    ck_assert_uint_eq(n, 3 + sizeof s_routes / sizeof s_routes[0]);
    uint64_t want401 = 0, want403 = 0;
    for (size_t i = 0; i < n; i++) {
        const char *method, *pattern;
        enum vx_role need;
        ck_assert_int_eq(vx_http_route_at(f.http, i, &method, &pattern, &need), 0);
        /* Only the probes are open. */
        bool probe = strcmp(pattern, "/health") == 0 || strcmp(pattern, "/ready") == 0;
        ck_assert_msg((need == VX_ROLE_OPEN) == probe, "%s %s has role %d", method, pattern,
                      (int)need);
        char path[256];
        snprintf(path, sizeof path, "%s", pattern);
        char *brace = strchr(path, '{');
        if (brace) {
            snprintf(brace, sizeof path - (size_t)(brace - path), "x1");
        }
        bool mutating = strcmp(method, "GET") != 0;
        for (size_t k = 0; k < sizeof callers / sizeof callers[0]; k++) {
            long want = need == VX_ROLE_OPEN            ? 200
                        : callers[k].role == VX_ROLE_OPEN ? 401
                        : callers[k].role < need          ? 403
                                                          : 200;
            json_t *doc = s_call(&f, method, path, callers[k].who, NULL, mutating ? "{}" : NULL,
                                 want);
            if (want == 401) {
                want401++;
                s_check_error(doc, "unauthenticated", "needs a credential");
            } else if (want == 403) {
                want403++;
                char part[128];
                snprintf(part, sizeof part, "needs the %s role; credential '%s' has %s",
                         vx_role_name(need), callers[k].name, vx_role_name(callers[k].role));
                s_check_error(doc, "forbidden", part);
            } else if (need != VX_ROLE_OPEN && strcmp(pattern, "/metrics") != 0) {
                ck_assert_str_eq(json_string_value(json_object_get(doc, "credential")),
                                 callers[k].name);
                ck_assert_str_eq(json_string_value(json_object_get(doc, "role")),
                                 vx_role_name(callers[k].role));
                json_decref(doc);
            } else {
                json_decref(doc);
            }
        }
    }
    ck_assert_uint_eq(s_refused(&f, "unauthenticated"), want401);
    ck_assert_uint_eq(s_refused(&f, "forbidden"), want403);
    /* An unknown token is not a credential either. */
    s_check_error(s_call(&f, "GET", "/v1/things", (struct caller){"nope", NULL}, NULL, NULL, 401),
                  "unauthenticated", "not a known credential");
    s_stop(&f);
}
END_TEST

/* /metrics needs viewer unless it is configured open; the transition's routes get viewer
 * (GET) and operator (mutating). */
START_TEST(t_metrics_and_transition_roles)
{
    struct fx f;
    s_start(&f, F_CREDS | F_METRICS_OPEN);
    json_decref(s_call(&f, "GET", "/metrics", (struct caller){0}, NULL, NULL, 200));
    s_stop(&f);

    struct vx_http_opts opts = {.bind = "127.0.0.1"};
    vx_http_t *h = vx_http_new(&opts, NULL, NULL);
    ck_assert_int_eq(vx_http_route(h, "GET", "/v1/a", h_who, NULL), 0);
    ck_assert_int_eq(vx_http_route(h, "PATCH", "/v1/a", h_who, NULL), 0);
    ck_assert_int_eq(vx_http_route(h, "DELETE", "/v1/a", h_who, NULL), 0);
    const struct {
        const char *method, *pattern;
        enum vx_role role;
    } want[] = {
        {"GET", "/health", VX_ROLE_OPEN},    {"GET", "/ready", VX_ROLE_OPEN},
        {"GET", "/metrics", VX_ROLE_VIEWER}, {"GET", "/v1/a", VX_ROLE_VIEWER},
        {"PATCH", "/v1/a", VX_ROLE_OPERATOR}, {"DELETE", "/v1/a", VX_ROLE_OPERATOR},
    };
    ck_assert_uint_eq(vx_http_route_count(h), 6);
    for (size_t i = 0; i < 6; i++) {
        const char *m, *p;
        enum vx_role r;
        ck_assert_int_eq(vx_http_route_at(h, i, &m, &p, &r), 0);
        ck_assert_str_eq(m, want[i].method);
        ck_assert_str_eq(p, want[i].pattern);
        ck_assert_int_eq(r, want[i].role);
    }
    const char *m, *p;
    enum vx_role r;
    ck_assert_int_eq(vx_http_route_at(h, 6, &m, &p, &r), -ERANGE);
    vx_http_destroy(&h);
}
END_TEST

static const char *
s_str(json_t *doc, const char *key)
{
    return json_string_value(json_object_get(doc, key));
}

static bool
s_allowed(json_t *doc, const char *tenant)
{
    return json_is_true(json_object_get(json_object_get(doc, "allowed"), tenant));
}

/* A tenant comes from the credential; the header may only pick one of the credential's own,
 * except for an admin, who may act for any tenant. */
START_TEST(t_tenants)
{
    struct fx f;
    s_start(&f, F_CREDS);
    struct caller val = {TOK_VIEWER, NULL}, olga = {TOK_OPERATOR, NULL}, ada = {TOK_ADMIN, NULL},
                  adam = {TOK_ADMIN_ACME, NULL};
    /* One tenant: it is the request's, without a header or with its own name. */
    json_t *d = s_call(&f, "GET", "/v1/things", val, NULL, NULL, 200);
    ck_assert_str_eq(s_str(d, "tenant"), "acme");
    ck_assert(s_allowed(d, "acme") && !s_allowed(d, "globex") && !s_allowed(d, "initech"));
    json_decref(d);
    d = s_call(&f, "GET", "/v1/things", val, "acme", NULL, 200);
    ck_assert_str_eq(s_str(d, "tenant"), "acme");
    json_decref(d);
    s_check_error(s_call(&f, "GET", "/v1/things", val, "globex", NULL, 403), "tenant_forbidden",
                  "credential 'val' may not act for tenant 'globex'");
    /* Two tenants: none without a header, lists show both; a header picks one of them. */
    d = s_call(&f, "GET", "/v1/things", olga, NULL, NULL, 200);
    ck_assert(json_is_null(json_object_get(d, "tenant")) || !json_object_get(d, "tenant"));
    ck_assert(s_allowed(d, "acme") && s_allowed(d, "globex") && !s_allowed(d, "initech"));
    json_decref(d);
    d = s_call(&f, "POST", "/v1/things", olga, "globex", "{}", 200);
    ck_assert_str_eq(s_str(d, "tenant"), "globex");
    ck_assert(!s_allowed(d, "acme") && s_allowed(d, "globex"));
    json_decref(d);
    s_check_error(s_call(&f, "POST", "/v1/things", olga, "initech", "{}", 403),
                  "tenant_forbidden", "'initech'");
    /* An admin acts for any tenant it names, even one outside its own list. */
    d = s_call(&f, "GET", "/v1/things", ada, "initech", NULL, 200);
    ck_assert_str_eq(s_str(d, "tenant"), "initech");
    ck_assert(s_allowed(d, "initech") && !s_allowed(d, "acme"));
    json_decref(d);
    d = s_call(&f, "GET", "/v1/things", ada, NULL, NULL, 200);
    ck_assert(!json_object_get(d, "tenant"));
    ck_assert(s_allowed(d, "acme") && s_allowed(d, "initech"));
    json_decref(d);
    d = s_call(&f, "GET", "/v1/things", adam, "globex", NULL, 200);
    ck_assert_str_eq(s_str(d, "tenant"), "globex");
    json_decref(d);
    /* An empty tenant name is no name. */
    s_check_error(s_call(&f, "GET", "/v1/things", ada, "", NULL, 400), "invalid_tenant", NULL);
    ck_assert_uint_eq(s_refused(&f, "tenant_forbidden"), 2);
    s_stop(&f);
}
END_TEST

/* Without a credential set the server behaves as before credentials: the token guards
 * mutating calls, reads are open, the tenant header is taken as given. */
START_TEST(t_without_creds)
{
    struct fx f;
    s_start(&f, 0);
    json_t *d = s_call(&f, "GET", "/v1/secrets", (struct caller){0}, "anyone", NULL, 200);
    ck_assert_str_eq(s_str(d, "tenant"), "anyone");
    ck_assert(!json_object_get(d, "credential"));
    ck_assert(s_allowed(d, "initech"));
    json_decref(d);
    s_check_error(s_call(&f, "PUT", "/v1/config", (struct caller){0}, NULL, "{}", 401),
                  "unauthorized", NULL);
    d = s_call(&f, "PUT", "/v1/config", (struct caller){"legacy-token", NULL}, NULL, "{}", 200);
    ck_assert_str_eq(s_str(d, "credential"), "admin");
    ck_assert_str_eq(s_str(d, "role"), "admin");
    json_decref(d);
    /* The admin token as the one credential of a set: an admin for everything. */
    vx_http_set_creds(f.http, vx_creds_single_admin("legacy-token"));
    d = s_call(&f, "PUT", "/v1/config", (struct caller){"legacy-token", NULL}, "acme", "{}", 200);
    ck_assert_str_eq(s_str(d, "credential"), "admin");
    ck_assert_str_eq(s_str(d, "tenant"), "acme");
    json_decref(d);
    s_check_error(s_call(&f, "GET", "/v1/things", (struct caller){0}, NULL, NULL, 401),
                  "unauthenticated", NULL);
    s_stop(&f);
}
END_TEST

/* Client certificates are credentials too, without mutual TLS being required: a certificate
 * the authority issued names a credential; a bearer token, when given, decides instead. */
START_TEST(t_certificate_credentials)
{
    struct fx f;
    s_start(&f, F_CREDS | F_REQUEST_CERTS);
    json_t *d = s_call(&f, "POST", "/v1/things", (struct caller){NULL, "oscar"}, NULL, "{}", 200);
    ck_assert_str_eq(s_str(d, "credential"), "oscar-cert");
    ck_assert_str_eq(s_str(d, "tenant"), "acme");
    json_decref(d);
    d = s_call(&f, "PUT", "/v1/config", (struct caller){NULL, "ops"}, "initech", "{}", 200);
    ck_assert_str_eq(s_str(d, "credential"), "ops-cert");
    json_decref(d);
    s_check_error(s_call(&f, "PUT", "/v1/config", (struct caller){NULL, "oscar"}, NULL, "{}", 403),
                  "forbidden", "credential 'oscar-cert' has operator");
    s_check_error(s_call(&f, "GET", "/v1/things", (struct caller){NULL, "alice"}, NULL, NULL, 401),
                  "unauthenticated", "client certificate 'alice' is not a known credential");
    s_check_error(
        s_call(&f, "GET", "/v1/things", (struct caller){NULL, "mallory"}, NULL, NULL, 401),
        "unauthenticated", "not issued by the suite's authority");
    /* Token before certificate: the viewer token with the operator's certificate is a viewer. */
    s_check_error(
        s_call(&f, "POST", "/v1/things", (struct caller){TOK_VIEWER, "oscar"}, NULL, "{}", 403),
        "forbidden", "credential 'val' has viewer");
    /* Without a certificate, tokens work as before; the probes need nothing. */
    json_decref(s_call(&f, "GET", "/v1/things", (struct caller){TOK_VIEWER, NULL}, NULL, NULL,
                       200));
    json_decref(s_call(&f, "GET", "/health", (struct caller){0}, NULL, NULL, 200));
    s_stop(&f);
}
END_TEST

/* Mutual TLS on top of credentials: no certificate, no entry, whatever the token. */
START_TEST(t_mutual_tls_with_creds)
{
    struct fx f;
    s_start(&f, F_CREDS | F_MUTUAL);
    s_check_error(s_call(&f, "GET", "/v1/things", (struct caller){TOK_ADMIN, NULL}, NULL, NULL,
                         401),
                  "client_certificate_required", NULL);
    json_decref(s_call(&f, "GET", "/ready", (struct caller){0}, NULL, NULL, 200));
    json_t *d = s_call(&f, "GET", "/v1/secrets", (struct caller){NULL, "ops"}, NULL, NULL, 200);
    ck_assert_str_eq(s_str(d, "credential"), "ops-cert");
    json_decref(d);
    /* The certificate lets the connection in; the token still says who calls. */
    d = s_call(&f, "GET", "/v1/things", (struct caller){TOK_VIEWER, "alice"}, NULL, NULL, 200);
    ck_assert_str_eq(s_str(d, "credential"), "val");
    json_decref(d);
    ck_assert_uint_eq(s_refused(&f, "client_certificate_required"), 1);
    s_stop(&f);
}
END_TEST

/* Held inside a handler until the test lets it go, to swap credentials mid-request. */
static atomic_int s_entered;
static atomic_int s_release;

static void
h_hold(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    (void)arg;
    atomic_store(&s_entered, 1);
    for (int i = 0; i < 10000 && !atomic_load(&s_release); i++) {
        usleep(1000);
    }
    /* The credential's name lives in the set the request started with. */
    resp->json = json_pack("{s:s?}", "credential", vx_http_req_credential(req));
}

struct held {
    const struct fx *f;
    long status;
    char body[256];
};

static void *
s_held_call(void *arg)
{
    struct held *c = arg;
    struct vt_https_req rq = {.method = "POST", .port = c->f->port, .path = "/v1/hold",
                              .body = "{}", .token = TOK_OPERATOR, .ca_file = c->f->ca};
    struct vt_http_result r;
    if (vt_https(&rq, &r) == 0) {
        c->status = r.status;
        snprintf(c->body, sizeof c->body, "%s", r.body);
    }
    vt_http_result_fini(&r);
    return NULL;
}

static bool
cb_entered(void *arg)
{
    (void)arg;
    return atomic_load(&s_entered) != 0;
}

/* A new credential set takes effect for the next request without a restart; a request in
 * flight finishes with the set it started with (the old set is freed after it). */
START_TEST(t_swap_credentials)
{
    curl_global_init(CURL_GLOBAL_ALL);
    struct fx f;
    memset(&f, 0, sizeof f);
    s_pki(&f);
    char *cert = s_pem(f.dir, "server.crt", false);
    char *key = s_pem(f.dir, "server.key", true);
    struct vx_http_opts opts = {.bind = "127.0.0.1", .tls_cert = cert, .tls_key = key};
    f.metrics = vx_metrics_new();
    f.http = vx_http_new(&opts, f.metrics, NULL);
    free(cert);
    free(key);
    static const struct vx_http_route_def hold[] = {
        {"POST", "/v1/hold", VX_ROLE_OPERATOR, h_hold},
        {"GET", "/v1/things", VX_ROLE_VIEWER, h_who},
    };
    char err[256];
    ck_assert_msg(vx_http_routes(f.http, hold, 2, NULL, err, sizeof err) == 0, "%s", err);
    vx_http_set_creds(f.http, s_creds());
    ck_assert_int_eq(vx_http_start(f.http), 0);
    f.port = vx_http_port(f.http);

    struct held c = {.f = &f};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, s_held_call, &c), 0);
    ck_assert_msg(vt_wait_until(cb_entered, NULL, 10000), "the held request never arrived");
    char hn[65];
    vx_sha256_hex(TOK_NEW, strlen(TOK_NEW), hn);
    json_t *doc = json_pack("{s:[{s:s, s:s, s:[s], s:s}]}", "credentials", "name", "newbie",
                            "role", "viewer", "tenants", "acme", "token_sha256", hn);
    vx_http_set_creds(f.http, vx_creds_from_json(doc, "new", err, sizeof err));
    json_decref(doc);
    /* The next request sees the new set at once. */
    s_check_error(s_call(&f, "GET", "/v1/things", (struct caller){TOK_OPERATOR, NULL}, NULL, NULL,
                         401),
                  "unauthenticated", NULL);
    json_t *d = s_call(&f, "GET", "/v1/things", (struct caller){TOK_NEW, NULL}, NULL, NULL, 200);
    ck_assert_str_eq(s_str(d, "credential"), "newbie");
    json_decref(d);
    atomic_store(&s_release, 1);
    pthread_join(th, NULL);
    ck_assert_msg(c.status == 200, "held request: %ld %s", c.status, c.body);
    ck_assert_msg(strstr(c.body, "\"credential\":\"olga\""), "held request: %s", c.body);
    s_stop(&f);
    curl_global_cleanup();
}
END_TEST

/* The lines of a file, the checkpoints left out. */
static json_t *
s_audit_lines(const char *path)
{
    FILE *fp = fopen(path, "r");
    ck_assert_ptr_nonnull(fp);
    json_t *out = json_array();
    char line[8192];
    while (fgets(line, sizeof line, fp)) {
        json_t *o = json_loads(line, 0, NULL);
        ck_assert_msg(o != NULL, "not JSON: %s", line);
        if (json_object_get(o, "checkpoint") || json_object_get(o, "rotated_from")) {
            json_decref(o);
        } else {
            json_array_append_new(out, o);
        }
    }
    fclose(fp);
    return out;
}

static void
s_expect_line(json_t *lines, size_t i, const char *cred, const char *role, const char *tenant,
              bool behalf, const char *method, const char *route, const char *path, long status,
              const char *outcome)
{
    json_t *o = json_array_get(lines, i);
    ck_assert_msg(o != NULL, "audit line %zu missing (%zu lines)", i, json_array_size(lines));
    char *text = json_dumps(o, JSON_COMPACT);
    const struct {
        const char *key, *want;
    } s[] = {{"credential", cred}, {"role", role},   {"tenant", tenant}, {"method", method},
             {"route", route},     {"path", path},   {"outcome", outcome},
             {"service", "vexfs-test"}};
    for (size_t k = 0; k < sizeof s / sizeof s[0]; k++) {
        const char *got = s_str(o, s[k].key);
        ck_assert_msg(s[k].want ? got && strcmp(got, s[k].want) == 0 : got == NULL,
                      "audit line %zu: %s is %s, want %s: %s", i, s[k].key, got ? got : "absent",
                      s[k].want ? s[k].want : "absent", text);
    }
    ck_assert_msg(json_integer_value(json_object_get(o, "status")) == status,
                  "audit line %zu: status, want %ld: %s", i, status, text);
    ck_assert_msg(json_is_true(json_object_get(o, "on_behalf_of")) == behalf,
                  "audit line %zu: on_behalf_of, want %d: %s", i, behalf, text);
    free(text);
}

/* Every mutating request, every refusal and every action on behalf of a tenant is in the log,
 * with the body's hash and never the body; reads are not; the log verifies. */
START_TEST(t_audit)
{
    struct fx f;
    s_start(&f, F_CREDS | F_AUDIT);
    struct caller val = {TOK_VIEWER, NULL}, olga = {TOK_OPERATOR, NULL}, ada = {TOK_ADMIN, NULL};
    const char *body = "{\"name\":\"s3cr3t-body-text\"}";
    json_decref(s_call(&f, "POST", "/v1/things", olga, "acme", body, 200));           /* 0 */
    json_decref(s_call(&f, "GET", "/v1/things", val, NULL, NULL, 200));               /* - */
    json_decref(s_call(&f, "GET", "/v1/things", (struct caller){0}, NULL, NULL, 401)); /* 1 */
    json_decref(s_call(&f, "PUT", "/v1/config", olga, NULL, "{}", 403));              /* 2 */
    json_decref(s_call(&f, "GET", "/v1/things", ada, "initech", NULL, 200));          /* 3 */
    json_decref(s_call(&f, "GET", "/v1/things", olga, "initech", NULL, 403));         /* 4 */
    json_decref(s_call(&f, "DELETE", "/v1/things/7", olga, NULL, "{bad", 400));       /* 5 */
    json_decref(s_call(&f, "GET", "/v1/nothing", olga, NULL, NULL, 404));             /* - */
    vx_http_stop(f.http);
    vx_audit_close(&f.audit);

    json_t *lines = s_audit_lines(f.audit_path);
    ck_assert_uint_eq(json_array_size(lines), 6);
    s_expect_line(lines, 0, "olga", "operator", "acme", false, "POST", "/v1/things", "/v1/things",
                  200, "ok");
    char want_hash[65];
    vx_sha256_hex(body, strlen(body), want_hash);
    ck_assert_str_eq(s_str(json_array_get(lines, 0), "body_sha256"), want_hash);
    s_expect_line(lines, 1, NULL, NULL, NULL, false, "GET", "/v1/things", "/v1/things", 401,
                  "unauthenticated");
    s_expect_line(lines, 2, "olga", "operator", NULL, false, "PUT", "/v1/config", "/v1/config",
                  403, "forbidden");
    ck_assert_ptr_nonnull(strstr(s_str(json_array_get(lines, 2), "detail"), "needs the admin"));
    s_expect_line(lines, 3, "ada", "admin", "initech", true, "GET", "/v1/things", "/v1/things",
                  200, "ok");
    s_expect_line(lines, 4, "olga", "operator", NULL, false, "GET", "/v1/things", "/v1/things",
                  403, "forbidden");
    s_expect_line(lines, 5, "olga", "operator", NULL, false, "DELETE", "/v1/things/{id}",
                  "/v1/things/7", 400, "refused");
    json_decref(lines);

    /* The body itself is nowhere in the file. */
    FILE *fp = fopen(f.audit_path, "r");
    char all[65536];
    size_t n = fread(all, 1, sizeof all - 1, fp);
    fclose(fp);
    all[n] = '\0';
    ck_assert_ptr_null(strstr(all, "s3cr3t-body-text"));

    char pub[700], err[512];
    size_t nlines = 0;
    snprintf(pub, sizeof pub, "%s/audit.pub", f.dir);
    ck_assert_msg(vx_audit_verify(f.audit_path, pub, &nlines, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_ge(nlines, 7);
    s_stop(&f);
}
END_TEST

/* A route table is checked row by row; the first bad row is named and nothing of the table is
 * added. */
START_TEST(t_route_table_errors)
{
    struct vx_http_opts opts = {.bind = "127.0.0.1"};
    vx_http_t *h = vx_http_new(&opts, NULL, NULL);
    char err[256];
    const struct {
        struct vx_http_route_def rows[2];
        const char *want;
    } cases[] = {
        {{{"GET", "/v1/a", VX_ROLE_VIEWER, h_who}, {"POST", "/v1/a/{id", VX_ROLE_OPERATOR, h_who}},
         "routes[1] POST /v1/a/{id: a {name} fills a whole segment and its name is letters, "
         "digits and _"},
        {{{"BREW", "/v1/a", VX_ROLE_VIEWER, h_who}, {"GET", "/v1/b", VX_ROLE_VIEWER, h_who}},
         "routes[0] BREW /v1/a: the method is not GET, POST, PUT, PATCH or DELETE"},
        {{{"GET", "/v1/a", VX_ROLE_VIEWER, h_who}, {"GET", "/v1/open", VX_ROLE_OPEN, h_who}},
         "routes[1] GET /v1/open: only /health, /ready and /metrics may be open"},
        {{{"GET", "/v1/a", VX_ROLE_VIEWER, h_who}, {"GET", "/v1/b", VX_ROLE_VIEWER, NULL}},
         "routes[1] GET /v1/b: no handler"},
        {{{"GET", "/v1/a", (enum vx_role)7, h_who}, {"GET", "/v1/b", VX_ROLE_VIEWER, h_who}},
         "routes[0] GET /v1/a: the role is not viewer, operator or admin"},
        {{{"GET", "/v1/b/{id}", VX_ROLE_VIEWER, h_who}, {"GET", "/v1/b/{x}", VX_ROLE_VIEWER, h_who}},
         "routes[1] GET /v1/b/{x}: answers the same requests as GET /v1/b/{id}"},
        {{{"GET", "/v1/a", VX_ROLE_VIEWER, h_who}, {"GET", "/metrics", VX_ROLE_VIEWER, h_who}},
         "routes[1] GET /metrics: answers the same requests as GET /metrics"},
        {{{"GET", "v1/a", VX_ROLE_VIEWER, h_who}, {"GET", "/v1/b", VX_ROLE_VIEWER, h_who}},
         "routes[0] GET v1/a: a pattern starts with '/'"},
        {{{"GET", "/v1//a", VX_ROLE_VIEWER, h_who}, {"GET", "/v1/b", VX_ROLE_VIEWER, h_who}},
         "routes[0] GET /v1//a: an empty segment (\"//\" or a trailing '/')"},
        {{{"GET", "/v1/{a}/{a}", VX_ROLE_VIEWER, h_who}, {"GET", "/v1/b", VX_ROLE_VIEWER, h_who}},
         "routes[0] GET /v1/{a}/{a}: a {name} appears twice"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = '\0';
        ck_assert_int_eq(vx_http_routes(h, cases[i].rows, 2, NULL, err, sizeof err), -EINVAL);
        ck_assert_str_eq(err, cases[i].want);
        ck_assert_uint_eq(vx_http_route_count(h), 3); /* nothing added */
    }
    ck_assert_int_eq(vx_http_routes(h, s_routes, 5, NULL, err, sizeof err), 0);
    ck_assert_uint_eq(vx_http_route_count(h), 8);
    /* The same table twice collides with itself. */
    ck_assert_int_eq(vx_http_routes(h, s_routes, 5, NULL, err, sizeof err), -EINVAL);
    ck_assert_str_eq(err, "routes[0] GET /v1/things: answers the same requests as GET /v1/things");
    ck_assert_int_eq(vx_http_start(h), 0);
    static const struct vx_http_route_def late[] = {{"GET", "/v1/late", VX_ROLE_VIEWER, h_who}};
    ck_assert_int_eq(vx_http_routes(h, late, 1, NULL, err, sizeof err), -EINVAL);
    ck_assert_str_eq(err, "routes are added before the server starts");
    vx_http_destroy(&h);
}
END_TEST

static Suite *
s_suite(void)
{
    Suite *s = suite_create("vx_http_auth");
    struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"every_route_every_role", t_every_route_every_role},
        {"metrics_and_transition_roles", t_metrics_and_transition_roles},
        {"tenants", t_tenants},
        {"without_creds", t_without_creds},
        {"certificate_credentials", t_certificate_credentials},
        {"mutual_tls_with_creds", t_mutual_tls_with_creds},
        {"swap_credentials", t_swap_credentials},
        {"audit", t_audit},
        {"route_table_errors", t_route_table_errors},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, cases[i].test);
        suite_add_tcase(s, tc);
    }
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(s_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
