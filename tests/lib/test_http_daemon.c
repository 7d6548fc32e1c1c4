/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of vx_daemon's security wiring over real HTTPS: credentials from the file and the
 * admin token, the roles of /v1/config, certificate credentials, the audit log, rereading the
 * credentials when the file changes and on SIGHUP (an invalid file changes nothing), and the
 * precise refusals to start. */
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vt_https.h"
#include "vx_audit.h"
#include "vx_creds.h"
#include "vx_daemon.h"
#include "vx_test.h"

#define TOK_VIEWER "d-viewer-token"
#define TOK_OPERATOR "d-operator-token"
#define TOK_ADMIN "d-admin-token"
#define TOK_LEGACY "d-legacy-admin-token"
#define TOK_NEW "d-new-token-one"
#define TOK_NEW2 "d-new-token-two" /* the same length: the file keeps its size */

struct s_tconf {
    const char *rest_bind;
    int32_t rest_port;
    int32_t knob;
};

static const struct vx_cfg_key s_keys[] = {
    {"rest_bind", VX_CFG_STRING, "127.0.0.1", 0, 64, false, "REST address",
     VX_CFG_AT(struct s_tconf, rest_bind)},
    {"rest_port", VX_CFG_INT, "0", 0, 65535, false, "REST port",
     VX_CFG_AT(struct s_tconf, rest_port)},
    {"knob", VX_CFG_INT, "1", 0, 100, true, "a reloadable knob", VX_CFG_AT(struct s_tconf, knob)},
};
static const struct vx_cfg_section s_test_section =
    VX_CFG_SECTION("event_propagation", s_keys, struct s_tconf, NULL);
static const struct vx_cfg_section *const s_secs[] = {
    &s_test_section,
    &vx_cfg_admin_section,
    &vx_cfg_logging_section,
    &vx_cfg_security_section,
};

static void
h_who(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    (void)arg;
    resp->json = json_pack("{s:s*, s:s*}", "credential", vx_http_req_credential(req), "tenant",
                           vx_http_req_tenant(req));
}

static const struct vx_http_route_def s_routes[] = {
    {"GET", "/v1/things", VX_ROLE_VIEWER, h_who},
    {"POST", "/v1/things", VX_ROLE_OPERATOR, h_who},
};

struct fx {
    char *dir;
    char cfg[600], creds[600], audit[700], pub[600], ca[600];
    struct vx_daemon d;
    uint16_t port;
};

static void
s_hex(const char *token, char out[65])
{
    vx_sha256_hex(token, strlen(token), out);
}

/* The credentials file: a viewer, an operator and an admin by token, the "test" client
 * certificate as a viewer, and extra YAML lines. Written beside and renamed into place, as an
 * editor or a Secret update does. */
static void
s_write_creds(const struct fx *f, const char *extra)
{
    char hv[65], ho[65], ha[65], text[4096], tmp[700];
    s_hex(TOK_VIEWER, hv);
    s_hex(TOK_OPERATOR, ho);
    s_hex(TOK_ADMIN, ha);
    snprintf(text, sizeof text,
             "credentials:\n"
             "  - {name: val, role: viewer, tenants: [acme], token_sha256: %s}\n"
             "  - {name: olga, role: operator, tenants: [\"*\"], token_sha256: %s}\n"
             "  - {name: ada, role: admin, tenants: [\"*\"], token_sha256: %s}\n"
             "  - {name: tester, role: viewer, tenants: [acme], certificate_cn: test}\n%s",
             hv, ho, ha, extra ? extra : "");
    snprintf(tmp, sizeof tmp, "%s.tmp", f->creds);
    ck_assert_int_eq(vt_write_file(tmp, text), 0);
    ck_assert_int_eq(rename(tmp, f->creds), 0);
}

/* What a test changes in the security section; NULL keeps the fixture's value. */
struct sec_opts {
    const char *credentials_file;
    const char *audit_dir;
    const char *audit_key_file;
    const char *extra; /* more security lines */
    const char *admin; /* admin section lines */
};

/* A configuration with the security section: HTTPS with the test process's certificates,
 * the credentials file, the audit log. */
static void
s_setup(struct fx *f, const struct sec_opts *o)
{
    static const struct sec_opts none;
    o = o ? o : &none;
    memset(f, 0, sizeof *f);
    unsetenv("VEXFS_SECURITY_CREDENTIALS_FILE");
    unsetenv("VEXFS_SECURITY_AUDIT_DIR");
    unsetenv("VEXFS_SECURITY_AUDIT_KEY_FILE");
    f->dir = vt_tmpdir();
    char err[512], path[700], text[4096], adir[700], akey[700];
    ck_assert_msg(vx_audit_keygen(f->dir, "audit", err, sizeof err) == 0, "%s", err);
    snprintf(f->pub, sizeof f->pub, "%s/audit.pub", f->dir);
    snprintf(f->creds, sizeof f->creds, "%s/creds.yaml", f->dir);
    snprintf(f->ca, sizeof f->ca, "%s/ca.crt", vt_tls_dir());
    snprintf(path, sizeof path, "%s/token", f->dir);
    ck_assert_int_eq(vt_write_file(path, TOK_LEGACY "\n"), 0);
    s_write_creds(f, NULL);
    snprintf(adir, sizeof adir, "%s/audit/deep", f->dir);
    snprintf(akey, sizeof akey, "%s/audit.key", f->dir);
    snprintf(f->audit, sizeof f->audit, "%s/test.audit.jsonl", adir);
    snprintf(text, sizeof text,
             "event_propagation:\n  rest_bind: 127.0.0.1\n  rest_port: 0\n"
             "admin:\n  token_file: %s/token\n%s"
             "security:\n  curve: \"off\"\n  tls: required\n  identity: test\n"
             "  credentials_file: \"%s\"\n  audit_dir: \"%s\"\n  audit_key_file: \"%s\"\n%s",
             f->dir, o->admin ? o->admin : "",
             o->credentials_file ? o->credentials_file : f->creds,
             o->audit_dir ? o->audit_dir : adir, o->audit_key_file ? o->audit_key_file : akey,
             o->extra ? o->extra : "");
    snprintf(f->cfg, sizeof f->cfg, "%s/config.yaml", f->dir);
    ck_assert_int_eq(vt_write_file(f->cfg, text), 0);
    f->d = (struct vx_daemon){.name = "vexfs-test", .summary = "test", .section = "event_propagation",
                              .sections = s_secs, .n_sections = 4};
}

static int
s_init(struct fx *f, bool check, int *code)
{
    char *argv[] = {"vexfs-test", "--config", f->cfg, check ? "--check" : NULL, NULL};
    optind = 0; /* getopt starts afresh */
    return vx_daemon_init(&f->d, check ? 4 : 3, argv, code);
}

static void
s_start(struct fx *f)
{
    int code = -1;
    ck_assert_int_eq(s_init(f, false, &code), 0);
    vx_daemon_config_routes(&f->d, NULL, NULL);
    char err[256];
    ck_assert_msg(vx_http_routes(f->d.http, s_routes, 2, NULL, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(vx_daemon_serve(&f->d), 0);
    f->port = vx_http_port(f->d.http);
}

static void
s_teardown(struct fx *f)
{
    vx_daemon_fini(&f->d);
    free(f->dir);
}

/* One request; returns the status, the body in body (may be NULL). */
static long
s_req(const struct fx *f, const char *method, const char *path, const char *token,
      const char *cert, const char *body, char *out, size_t outlen)
{
    char c[700], k[700];
    struct vt_https_req rq = {.method = method, .port = f->port, .path = path, .token = token,
                              .body = body, .ca_file = f->ca};
    if (cert) {
        snprintf(c, sizeof c, "%s/%s.crt", vt_tls_dir(), cert);
        snprintf(k, sizeof k, "%s/%s.key", vt_tls_dir(), cert);
        rq.cert_file = c;
        rq.key_file = k;
    }
    struct vt_http_result r;
    int rc = vt_https(&rq, &r);
    ck_assert_msg(rc == 0, "%s %s: %s", method, path, r.body);
    if (out) {
        snprintf(out, outlen, "%s", r.body);
    }
    long status = r.status;
    vt_http_result_fini(&r);
    return status;
}

#define EXPECT(f, method, path, token, cert, body, want)                                          \
    do {                                                                                          \
        char b_[2048];                                                                            \
        long got_ = s_req((f), (method), (path), (token), (cert), (body), b_, sizeof b_);         \
        ck_assert_msg(got_ == (want), "%s %s: status %ld, want %d: %s", (method), (path), got_,    \
                      (want), b_);                                                                \
    } while (0)

/* The audit lines' "detail" texts, in order, joined by newlines (caller frees). */
static char *
s_audit_details(const char *path)
{
    FILE *fp = fopen(path, "r");
    ck_assert_msg(fp != NULL, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    char *out = calloc(1, cap);
    char line[8192];
    while (fgets(line, sizeof line, fp)) {
        json_t *o = json_loads(line, 0, NULL);
        const char *d = json_string_value(json_object_get(o, "detail"));
        if (d && len + strlen(d) + 2 < cap) {
            len += (size_t)snprintf(out + len, cap - len, "%s\n", d);
        }
        json_decref(o);
    }
    fclose(fp);
    return out;
}

/* Roles from the file and the token; /v1/config for operators to read and admins to change;
 * certificates as credentials; the audit log written and verifying. */
START_TEST(t_daemon_roles)
{
    struct fx f;
    s_setup(&f, NULL);
    s_start(&f);
    EXPECT(&f, "GET", "/health", NULL, NULL, NULL, 200);
    EXPECT(&f, "GET", "/metrics", NULL, NULL, NULL, 401);
    EXPECT(&f, "GET", "/metrics", TOK_VIEWER, NULL, NULL, 200);
    EXPECT(&f, "GET", "/v1/config", NULL, NULL, NULL, 401);
    EXPECT(&f, "GET", "/v1/config", TOK_VIEWER, NULL, NULL, 403);
    EXPECT(&f, "GET", "/v1/config", TOK_OPERATOR, NULL, NULL, 200);
    EXPECT(&f, "PUT", "/v1/config", TOK_OPERATOR, NULL, "{\"knob\":2}", 403);
    EXPECT(&f, "PUT", "/v1/config", TOK_ADMIN, NULL, "{\"knob\":3}", 200);
    /* admin.token_file's token is the admin credential "admin". */
    char body[2048];
    ck_assert_int_eq(s_req(&f, "PUT", "/v1/config", TOK_LEGACY, NULL, "{\"knob\":4}", body,
                           sizeof body),
                     200);
    ck_assert_msg(strstr(body, "\"knob\":4"), "%s", body);
    /* The test's client certificate is the viewer "tester"; "ctl" is not in the file. */
    ck_assert_int_eq(s_req(&f, "GET", "/v1/things", NULL, "test", NULL, body, sizeof body), 200);
    ck_assert_msg(strstr(body, "\"credential\":\"tester\"") && strstr(body, "\"tenant\":\"acme\""),
                  "%s", body);
    EXPECT(&f, "POST", "/v1/things", NULL, "test", "{}", 403);
    EXPECT(&f, "GET", "/v1/things", NULL, "ctl", NULL, 401);
    /* Every route of the daemon declares a role; only the probes are open. */
    for (size_t i = 0; i < vx_http_route_count(f.d.http); i++) {
        const char *m, *p;
        enum vx_role r;
        ck_assert_int_eq(vx_http_route_at(f.d.http, i, &m, &p, &r), 0);
        bool probe = strcmp(p, "/health") == 0 || strcmp(p, "/ready") == 0;
        ck_assert_msg((r == VX_ROLE_OPEN) == probe, "%s %s: role %d", m, p, (int)r);
        if (strcmp(p, "/v1/config") == 0) {
            ck_assert_int_eq(r, strcmp(m, "GET") == 0 ? VX_ROLE_OPERATOR : VX_ROLE_ADMIN);
        }
    }
    vx_daemon_fini(&f.d);
    char err[512];
    size_t n = 0;
    ck_assert_msg(vx_audit_verify(f.audit, f.pub, &n, err, sizeof err) == 0, "%s", err);
    char *details = s_audit_details(f.audit);
    ck_assert_msg(strstr(details, "started with 5 credentials from"), "%s", details);
    ck_assert_msg(strstr(details, "needs the admin role; credential 'olga' has operator"), "%s",
                  details);
    free(details);
    free(f.dir);
}
END_TEST

static const struct fx *s_fx;
static const char *s_token;

static bool
cb_token_works(void *arg)
{
    (void)arg;
    return s_req(s_fx, "GET", "/v1/things", s_token, NULL, NULL, NULL, 0) == 200;
}

static bool
cb_audit_says(void *arg)
{
    char *details = s_audit_details(s_fx->audit);
    bool found = strstr(details, arg) != NULL;
    free(details);
    return found;
}

/* The credentials are reread when the file changes and on SIGHUP, without a restart; an
 * invalid file leaves the previous set in force; each reload is in the audit log. */
START_TEST(t_daemon_reload)
{
    struct fx f;
    s_setup(&f, &(struct sec_opts){.extra = "  metrics_open: true\n"});
    s_start(&f);
    s_fx = &f;
    EXPECT(&f, "GET", "/metrics", NULL, NULL, NULL, 200);
    EXPECT(&f, "GET", "/v1/things", TOK_NEW, NULL, NULL, 401);
    char hn[65], hn2[65], extra[256];
    s_hex(TOK_NEW, hn);
    s_hex(TOK_NEW2, hn2);
    snprintf(extra, sizeof extra, "  - {name: newbie, role: viewer, tenants: [acme], "
                                  "token_sha256: %s}\n", hn);
    s_write_creds(&f, extra);
    s_token = TOK_NEW;
    ck_assert_msg(vt_wait_until(cb_token_works, NULL, 15000), "the changed file was not reread");

    /* Rewritten in place with the same size and modification time: only SIGHUP tells. */
    struct stat before;
    ck_assert_int_eq(stat(f.creds, &before), 0);
    FILE *fp = fopen(f.creds, "r+");
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, fp);
    text[n] = '\0';
    char *at = strstr(text, hn);
    ck_assert_ptr_nonnull(at);
    memcpy(at, hn2, 64);
    rewind(fp);
    ck_assert_uint_eq(fwrite(text, 1, n, fp), n);
    fclose(fp);
    struct timespec times[2] = {before.st_atim, before.st_mtim};
    ck_assert_int_eq(utimensat(AT_FDCWD, f.creds, times, 0), 0);
    ck_assert_int_eq(raise(SIGHUP), 0);
    s_token = TOK_NEW2;
    ck_assert_msg(vt_wait_until(cb_token_works, NULL, 15000), "SIGHUP did not reread the file");
    EXPECT(&f, "GET", "/v1/things", TOK_NEW, NULL, NULL, 401);

    /* An invalid file changes nothing. */
    s_write_creds(&f, "  - {name: bad, role: superuser, tenants: [acme], certificate_cn: x}\n");
    ck_assert_msg(vt_wait_until(cb_audit_says, "credentials not reloaded", 15000),
                  "the invalid file was not noticed");
    EXPECT(&f, "GET", "/v1/things", TOK_NEW2, NULL, NULL, 200);
    vx_daemon_fini(&f.d);

    char *details = s_audit_details(f.audit);
    ck_assert_msg(strstr(details, "credentials reloaded (the file changed): 6 credentials"), "%s",
                  details);
    ck_assert_msg(strstr(details, "credentials reloaded (SIGHUP): 6 credentials"), "%s", details);
    ck_assert_msg(strstr(details, "credentials not reloaded (the file changed), the previous ones "
                                  "stay: security.credentials_file: "),
                  "%s", details);
    ck_assert_msg(strstr(details, "credentials[4]: role: viewer, operator or admin"), "%s",
                  details);
    free(details);
    char err[512];
    size_t lines = 0;
    ck_assert_msg(vx_audit_verify(f.audit, f.pub, &lines, err, sizeof err) == 0, "%s", err);
    free(f.dir);
}
END_TEST

/* Runs vx_daemon_init with stderr captured; returns its result and the log in log. */
static int
s_init_logged(struct fx *f, bool check, int *code, char *log, size_t loglen)
{
    char path[700];
    snprintf(path, sizeof path, "%s/stderr.log", f->dir);
    fflush(stderr);
    int saved = dup(2);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 2);
    close(fd);
    int rc = s_init(f, check, code);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    FILE *fp = fopen(path, "r");
    size_t n = fread(log, 1, loglen - 1, fp);
    log[n] = '\0';
    fclose(fp);
    return rc;
}

/* A missing or malformed credentials file, a missing audit key or inconsistent limits stop the
 * start with a message that names the key and the problem; an empty audit_dir only warns. */
START_TEST(t_daemon_refuses)
{
    const struct {
        struct sec_opts o;
        bool check;
        bool starts;
        const char *want;
    } cases[] = {
        {{.credentials_file = "/nonexistent/creds.yaml"}, false, false,
         "security.credentials_file: /nonexistent/creds.yaml: No such file or directory"},
        {{.credentials_file = "/nonexistent/creds.yaml"}, true, false,
         "security.credentials_file: /nonexistent/creds.yaml: No such file or directory"},
        {{.credentials_file = ""}, false, false,
         "security.credentials_file: empty: the REST API needs a credentials file"},
        {{.audit_key_file = "/nonexistent/audit.key"}, false, false,
         "audit log: /nonexistent/audit.key: No such file or directory"},
        {{.audit_dir = ""}, false, true, "security.audit_dir is empty"},
        {{.admin = "  connection_limit: 100\n  connection_limit_per_ip: 200\n"}, false, false,
         "admin.connection_limit_per_ip: 200 exceeds admin.connection_limit 100"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fx f;
        s_setup(&f, &cases[i].o);
        int code = -1;
        char log[4096];
        int rc = s_init_logged(&f, cases[i].check, &code, log, sizeof log);
        ck_assert_msg((rc == 0) == cases[i].starts, "case %zu: init %d: %s", i, rc, log);
        if (!cases[i].starts) {
            ck_assert_msg(code == 2, "case %zu: exit code %d", i, code);
        }
        ck_assert_msg(strstr(log, cases[i].want), "case %zu: log lacks '%s': %s", i,
                      cases[i].want, log);
        s_teardown(&f);
    }
}
END_TEST

static Suite *
s_suite(void)
{
    Suite *s = suite_create("vx_http_daemon");
    struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"daemon_roles", t_daemon_roles},
        {"daemon_reload", t_daemon_reload},
        {"daemon_refuses", t_daemon_refuses},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_set_timeout(tc, 90);
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
