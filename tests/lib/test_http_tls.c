/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of vx_http's HTTPS: certificates, mutual TLS and the certificate and key files. */
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vx_http.h"
#include "vx_metrics.h"
#include "vx_test.h"
#include "vx_tls.h"

struct server {
    vx_metrics_t *metrics;
    vx_http_t *http;
    uint16_t port;
};

/* A CA, a server certificate for 127.0.0.1, a client certificate "alice", and a second CA
 * that issued nothing the server trusts. */
static char *
s_pki(void)
{
    char *dir = vt_tmpdir();
    char err[512];
    const char *hosts[] = {"127.0.0.1", "localhost"};
    ck_assert_msg(vx_tls_make_ca(dir, "ca", err, sizeof err) == 0, "%s", err);
    ck_assert_msg(vx_tls_make_cert(dir, "server", "ca", hosts, 2, true, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_msg(vx_tls_make_cert(dir, "alice", "ca", NULL, 0, false, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_msg(vx_tls_make_ca(dir, "other", err, sizeof err) == 0, "%s", err);
    ck_assert_msg(vx_tls_make_cert(dir, "mallory", "other", NULL, 0, false, err, sizeof err) ==
                      0,
                  "%s", err);
    return dir;
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

static void
h_whoami(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    (void)arg;
    const char *cn = vx_http_req_client_cn(req);
    resp->json = json_pack("{s:s?}", "client", cn);
}

static void
s_tls_start(struct server *s, const char *dir, bool client_auth)
{
    char *cert = s_pem(dir, "server.crt", false);
    char *key = s_pem(dir, "server.key", true);
    char *ca = s_pem(dir, "ca.crt", false);
    struct vx_http_opts opts = {
        .service = "vexfs-test",
        .bind = "127.0.0.1",
        .tls_cert = cert,
        .tls_key = key,
        .tls_client_ca = client_auth ? ca : NULL,
    };
    const char *err = NULL;
    s->metrics = vx_metrics_new();
    s->http = vx_http_new(&opts, s->metrics, &err);
    ck_assert_msg(s->http != NULL, "%s", err);
    free(cert);
    free(key);
    free(ca);
    ck_assert_int_eq(vx_http_route(s->http, "GET", "/v1/whoami", h_whoami, NULL), 0);
    ck_assert_int_eq(vx_http_start(s->http), 0);
    s->port = vx_http_port(s->http);
}

static size_t
cb_tls_sink(char *p, size_t sz, size_t n, void *arg)
{
    struct vt_http_result *r = arg;
    size_t len = sz * n;
    r->body = realloc(r->body, r->len + len + 1);
    memcpy(r->body + r->len, p, len);
    r->len += len;
    r->body[r->len] = '\0';
    return len;
}

/* One GET with the given scheme, CA and client certificate (NULL: none). Returns curl's code
 * and fills status and body. */
static CURLcode
s_get(const char *scheme, uint16_t port, const char *path, const char *dir, const char *ca,
      const char *client, long *status, struct vt_http_result *body)
{
    char url[256], cafile[700], cert[700], key[700];
    snprintf(url, sizeof url, "%s://127.0.0.1:%u%s", scheme, (unsigned)port, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, cb_tls_sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    if (ca) {
        snprintf(cafile, sizeof cafile, "%s/%s.crt", dir, ca);
        curl_easy_setopt(c, CURLOPT_CAINFO, cafile);
    }
    if (client) {
        snprintf(cert, sizeof cert, "%s/%s.crt", dir, client);
        snprintf(key, sizeof key, "%s/%s.key", dir, client);
        curl_easy_setopt(c, CURLOPT_SSLCERT, cert);
        curl_easy_setopt(c, CURLOPT_SSLKEY, key);
    }
    CURLcode rc = curl_easy_perform(c);
    *status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(c);
    return rc;
}

START_TEST(t_tls)
{
    char *dir = s_pki();
    struct server s;
    s_tls_start(&s, dir, false);
    long status;
    struct vt_http_result r = {0};
    ck_assert_int_eq(s_get("https", s.port, "/health", dir, "ca", NULL, &status, &r), CURLE_OK);
    ck_assert_int_eq(status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "vexfs-test"));
    vt_http_result_fini(&r);
    /* Plain HTTP gets no answer, and a client trusting another authority refuses the server. */
    ck_assert_int_ne(s_get("http", s.port, "/health", dir, NULL, NULL, &status, &r), CURLE_OK);
    vt_http_result_fini(&r);
    CURLcode wrong = s_get("https", s.port, "/health", dir, "other", NULL, &status, &r);
    ck_assert_msg(wrong == CURLE_PEER_FAILED_VERIFICATION || wrong == CURLE_SSL_CACERT,
                  "a server of another authority was accepted: %s", curl_easy_strerror(wrong));
    vt_http_result_fini(&r);
    /* Without mutual TLS every route answers without a client certificate. */
    ck_assert_int_eq(s_get("https", s.port, "/v1/whoami", dir, "ca", NULL, &status, &r), CURLE_OK);
    ck_assert_int_eq(status, 200);
    vt_http_result_fini(&r);
    vx_http_destroy(&s.http);
    vx_metrics_destroy(&s.metrics);
    free(dir);
}
END_TEST

START_TEST(t_mutual_tls)
{
    char *dir = s_pki();
    struct server s;
    s_tls_start(&s, dir, true);
    long status;
    struct vt_http_result r = {0};
    /* Probes need no certificate. */
    ck_assert_int_eq(s_get("https", s.port, "/health", dir, "ca", NULL, &status, &r), CURLE_OK);
    ck_assert_int_eq(status, 200);
    vt_http_result_fini(&r);
    ck_assert_int_eq(s_get("https", s.port, "/ready", dir, "ca", NULL, &status, &r), CURLE_OK);
    ck_assert_int_eq(status, 200);
    vt_http_result_fini(&r);
    /* Everything else does: none, or one of another authority, is refused. */
    ck_assert_int_eq(s_get("https", s.port, "/v1/whoami", dir, "ca", NULL, &status, &r), CURLE_OK);
    ck_assert_int_eq(status, 401);
    ck_assert_ptr_nonnull(strstr(r.body, "client_certificate_required"));
    vt_http_result_fini(&r);
    ck_assert_int_eq(s_get("https", s.port, "/metrics", dir, "ca", "mallory", &status, &r),
                     CURLE_OK);
    ck_assert_int_eq(status, 401);
    vt_http_result_fini(&r);
    ck_assert_int_eq(s_get("https", s.port, "/v1/whoami", dir, "ca", "alice", &status, &r),
                     CURLE_OK);
    ck_assert_int_eq(status, 200);
    ck_assert_msg(strstr(r.body, "\"client\":\"alice\""), "got: %s", r.body);
    vt_http_result_fini(&r);
    vx_http_destroy(&s.http);
    vx_metrics_destroy(&s.metrics);
    free(dir);
}
END_TEST

START_TEST(t_tls_files)
{
    char *dir = s_pki();
    char path[700], err[800];
    char *cert = s_pem(dir, "server.crt", false);
    char *key = s_pem(dir, "server.key", true);
    char *other = s_pem(dir, "alice.key", true);
    ck_assert_int_eq(vx_tls_check_pair(cert, key, err, sizeof err), 0);
    ck_assert_int_eq(vx_tls_check_pair(cert, other, err, sizeof err), -EINVAL);
    char *ca = s_pem(dir, "ca.crt", false);
    ck_assert_int_eq(vx_tls_verify(cert, ca, "127.0.0.1", err, sizeof err), 0);
    ck_assert_int_eq(vx_tls_verify(cert, ca, "example.org", err, sizeof err), -EINVAL);
    char *oca = s_pem(dir, "other.crt", false);
    ck_assert_int_eq(vx_tls_verify(cert, oca, "127.0.0.1", err, sizeof err), -EINVAL);
    /* A private key readable by others is refused; so is a file that is not PEM. */
    snprintf(path, sizeof path, "%s/server.key", dir);
    ck_assert_int_eq(chmod(path, 0644), 0);
    ck_assert_ptr_null(vx_tls_read_pem(path, true, NULL, err, sizeof err));
    ck_assert_msg(strstr(err, "owner only"), "got: %s", err);
    snprintf(path, sizeof path, "%s/junk.crt", dir);
    ck_assert_int_eq(vt_write_file(path, "hello"), 0);
    ck_assert_ptr_null(vx_tls_read_pem(path, false, NULL, err, sizeof err));
    ck_assert_msg(strstr(err, "not PEM"), "got: %s", err);
    /* Never overwritten. */
    ck_assert_int_eq(vx_tls_make_ca(dir, "ca", err, sizeof err), -EEXIST);
    free(cert);
    free(key);
    free(other);
    free(ca);
    free(oca);
    free(dir);
}
END_TEST

static Suite *
s_suite(void)
{
    Suite *s = suite_create("vx_http_tls");
    struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"tls", t_tls},
        {"mutual_tls", t_mutual_tls},
        {"tls_files", t_tls_files},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_set_timeout(tc, 30);
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
