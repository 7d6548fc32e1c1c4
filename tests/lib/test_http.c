/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of vx_http over real loopback HTTP: built-ins, routing, limits, the admin token, JSON,
 * metrics, handler workers and the body budget (TLS: test_http_tls.c). */
#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>


#include "vx_http.h"
#include "vx_metrics.h"
#include "vx_test.h"

#define TOKEN "s3cret-token"

/* One server per test, created inside the test (Check forks each test). */
struct server {
    vx_metrics_t *metrics;
    vx_http_t *http;
    uint16_t port;
};

/* Echoes what the handler saw, so tests can check routing, params, query and body. */
static void
h_echo(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    size_t body_len = 0;
    vx_http_req_body(req, &body_len);
    resp->status = arg ? *(const unsigned *)arg : 200;
    resp->json = json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:O?, s:I}", "method",
                           vx_http_req_method(req), "path", vx_http_req_path(req), "id",
                           vx_http_req_param(req, "id"), "ver", vx_http_req_param(req, "ver"),
                           "name", vx_http_req_query(req, "name"), "flag",
                           vx_http_req_query(req, "flag"), "json", vx_http_req_json(req),
                           "body_len", (json_int_t)body_len);
}

static void
h_stats(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    (void)req;
    (void)arg;
    resp->text = "stats";
    resp->text_len = 5;
}

static const unsigned s_created = 201;

static void
s_server_start(struct server *s, const char *token, size_t body_limit, unsigned conn_limit)
{
    struct vx_http_opts opts = {
        .service = "vexfs-test",
        .version = "1.2.3",
        .bind = "127.0.0.1",
        .port = 0,
        .body_limit = body_limit,
        .conn_limit = conn_limit,
        .timeout_s = 5,
        .token = token,
    };
    const char *err = NULL;
    s->metrics = vx_metrics_new();
    s->http = vx_http_new(&opts, s->metrics, &err);
    ck_assert_msg(s->http != NULL, "vx_http_new: %s", err);
    ck_assert_int_eq(vx_http_route(s->http, "GET", "/v1/rules/{id}", h_echo, NULL), 0);
    ck_assert_int_eq(vx_http_route(s->http, "GET", "/v1/rules/stats", h_stats, NULL), 0);
    ck_assert_int_eq(vx_http_route(s->http, "DELETE", "/v1/rules/{id}", h_echo, NULL), 0);
    ck_assert_int_eq(
        vx_http_route(s->http, "GET", "/v1/rules/{id}/versions/{ver}", h_echo, NULL), 0);
    ck_assert_int_eq(vx_http_route(s->http, "GET", "/v1/echo", h_echo, NULL), 0);
    ck_assert_int_eq(vx_http_route(s->http, "POST", "/v1/echo", h_echo, (void *)&s_created), 0);
    ck_assert_int_eq(vx_http_start(s->http), 0);
    s->port = vx_http_port(s->http);
    ck_assert_uint_ne(s->port, 0);
}

static void
s_server_stop(struct server *s)
{
    vx_http_stop(s->http);
    vx_http_stop(s->http); /* idempotent */
    vx_http_destroy(&s->http);
    ck_assert_ptr_null(s->http);
    vx_metrics_destroy(&s->metrics);
}

/* Performs a request and returns the parsed JSON body (caller decrefs), checking the status. */
static json_t *
s_call(uint16_t port, const char *method, const char *path, const char *body, const char *token,
       long want_status)
{
    struct vt_http_result r;
    ck_assert_int_eq(vt_http(method, port, path, body, body ? strlen(body) : 0, token, &r), 0);
    ck_assert_msg(r.status == want_status, "%s %s: status %ld, want %ld, body %s", method, path,
                  r.status, want_status, r.body);
    json_error_t e;
    json_t *doc = json_loads(r.body, 0, &e);
    ck_assert_msg(doc != NULL, "%s %s: body is not JSON: %s", method, path, r.body);
    ck_assert_str_eq(r.content_type, "application/json");
    vt_http_result_fini(&r);
    return doc;
}

/* Checks a JSON error body {"error":{"code":code,"message":message}} (message NULL: any) and
 * releases it. */
static void
s_check_error(json_t *doc, const char *code, const char *message)
{
    const char *c = NULL, *msg = NULL;
    ck_assert_int_eq(json_unpack(doc, "{s:{s:s, s:s}}", "error", "code", &c, "message", &msg), 0);
    ck_assert_str_eq(c, code);
    if (message) {
        ck_assert_str_eq(msg, message);
    }
    json_decref(doc);
}

static size_t
cb_header(char *buf, size_t size, size_t n, void *arg)
{
    char *allow = arg;
    size_t len = size * n;
    if (len > 7 && strncasecmp(buf, "Allow: ", 7) == 0) {
        snprintf(allow, 128, "%.*s", (int)(len - 7), buf + 7);
        allow[strcspn(allow, "\r\n")] = '\0';
    }
    return len;
}

static size_t
cb_sink(char *buf, size_t size, size_t n, void *arg)
{
    (void)buf;
    (void)arg;
    return size * n;
}

/* The Allow header of a request (vt_http does not return headers). */
static long
s_allow(uint16_t port, const char *method, const char *path, char allow[128])
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", (unsigned)port, path);
    allow[0] = '\0';
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, cb_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, allow);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, cb_sink);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_easy_cleanup(c);
    return status;
}

START_TEST(t_health)
{
    struct server s;
    s_server_start(&s, NULL, 0, 0);
    json_t *doc = s_call(s.port, "GET", "/health", NULL, NULL, 200);
    const char *status, *service, *version;
    json_int_t uptime = -1;
    ck_assert_int_eq(json_unpack(doc, "{s:s, s:s, s:s, s:I}", "status", &status, "service",
                                 &service, "version", &version, "uptime_s", &uptime),
                     0);
    ck_assert_str_eq(status, "ok");
    ck_assert_str_eq(service, "vexfs-test");
    ck_assert_str_eq(version, "1.2.3");
    ck_assert_int_ge(uptime, 0);
    json_decref(doc);
    s_server_stop(&s);
}
END_TEST

static atomic_bool s_is_ready;

static bool
cb_ready(void *arg, json_t *detail)
{
    ck_assert_ptr_eq(arg, &s_is_ready);
    bool ready = atomic_load(&s_is_ready);
    json_object_set_new(detail, "kafka", json_string(ready ? "up" : "connecting"));
    return ready;
}

START_TEST(t_ready)
{
    struct server s;
    s_server_start(&s, NULL, 0, 0);
    /* No callback: ready. */
    json_decref(s_call(s.port, "GET", "/ready", NULL, NULL, 200));
    atomic_store(&s_is_ready, false);
    vx_http_set_ready(s.http, cb_ready, &s_is_ready);
    json_t *doc = s_call(s.port, "GET", "/ready", NULL, NULL, 503);
    const char *status, *kafka;
    ck_assert_int_eq(
        json_unpack(doc, "{s:s, s:{s:s}}", "status", &status, "detail", "kafka", &kafka), 0);
    ck_assert_str_eq(status, "not_ready");
    ck_assert_str_eq(kafka, "connecting");
    json_decref(doc);
    atomic_store(&s_is_ready, true);
    ck_assert(vt_wait_ready(s.port, 2000));
    doc = s_call(s.port, "GET", "/ready", NULL, NULL, 200);
    ck_assert_int_eq(
        json_unpack(doc, "{s:s, s:{s:s}}", "status", &status, "detail", "kafka", &kafka), 0);
    ck_assert_str_eq(status, "ready");
    ck_assert_str_eq(kafka, "up");
    json_decref(doc);
    s_server_stop(&s);
}
END_TEST

START_TEST(t_metrics)
{
    struct server s;
    s_server_start(&s, NULL, 0, 0);
    vx_counter_t *c = vx_metrics_counter(s.metrics, "t_things_total", "Things.", NULL);
    vx_counter_add(c, 7);
    struct vt_http_result r;
    ck_assert_int_eq(vt_http("GET", s.port, "/metrics", NULL, 0, NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    ck_assert_ptr_nonnull(strstr(r.body, "# TYPE t_things_total counter\nt_things_total 7\n"));
    vt_http_result_fini(&r);
    s_server_stop(&s);
}
END_TEST

START_TEST(t_request_metrics)
{
    struct server s;
    s_server_start(&s, NULL, 0, 0);
    json_decref(s_call(s.port, "GET", "/health", NULL, NULL, 200));
    json_decref(s_call(s.port, "GET", "/v1/rules/a", NULL, NULL, 200));
    json_decref(s_call(s.port, "GET", "/v1/rules/b", NULL, NULL, 200));
    json_decref(s_call(s.port, "GET", "/nowhere/1", NULL, NULL, 404));
    json_decref(s_call(s.port, "GET", "/nowhere/2", NULL, NULL, 404));
    json_decref(s_call(s.port, "BREW", "/nowhere/3", NULL, NULL, 404));
    struct vt_http_result r;
    ck_assert_int_eq(vt_http("GET", s.port, "/metrics", NULL, 0, NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    /* Labelled by pattern, never by raw path, so cardinality stays bounded. */
    const char *want[] = {
        "vexfs_http_requests_total{route=\"/health\",method=\"GET\",code=\"200\"} 1\n",
        "vexfs_http_requests_total{route=\"/v1/rules/{id}\",method=\"GET\",code=\"200\"} 2\n",
        "vexfs_http_requests_total{route=\"unmatched\",method=\"GET\",code=\"404\"} 2\n",
        "vexfs_http_requests_total{route=\"unmatched\",method=\"other\",code=\"404\"} 1\n",
        "vexfs_http_request_duration_seconds_count{route=\"/v1/rules/{id}\"} 2\n",
        "vexfs_http_request_duration_seconds_bucket{route=\"/health\",le=\"+Inf\"} 1\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        ck_assert_msg(strstr(r.body, want[i]) != NULL, "missing %s in:\n%s", want[i], r.body);
    }
    ck_assert_ptr_null(strstr(r.body, "/v1/rules/a"));
    ck_assert_ptr_null(strstr(r.body, "/nowhere"));
    vt_http_result_fini(&r);
    s_server_stop(&s);
}
END_TEST

START_TEST(t_route_params)
{
    struct server s;
    s_server_start(&s, NULL, 0, 0);
    json_t *doc = s_call(s.port, "GET", "/v1/rules/r-42", NULL, NULL, 200);
    const char *id, *path;
    ck_assert_int_eq(json_unpack(doc, "{s:s, s:s}", "id", &id, "path", &path), 0);
    ck_assert_str_eq(id, "r-42");
    ck_assert_str_eq(path, "/v1/rules/r-42");
    ck_assert(json_is_null(json_object_get(doc, "ver")));
    json_decref(doc);

    doc = s_call(s.port, "GET", "/v1/rules/r-7/versions/3", NULL, NULL, 200);
    const char *ver;
    ck_assert_int_eq(json_unpack(doc, "{s:s, s:s}", "id", &id, "ver", &ver), 0);
    ck_assert_str_eq(id, "r-7");
    ck_assert_str_eq(ver, "3");
    json_decref(doc);

    /* A literal segment wins over a {param} in the same place. */
    struct vt_http_result r;
    ck_assert_int_eq(vt_http("GET", s.port, "/v1/rules/stats", NULL, 0, NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "stats");
    ck_assert_str_eq(r.content_type, "text/plain; charset=utf-8");
    vt_http_result_fini(&r);

    /* A {param} never matches an empty segment, and segments count exactly. */
    s_check_error(s_call(s.port, "GET", "/v1/rules/", NULL, NULL, 404), "not_found", NULL);
    s_check_error(s_call(s.port, "GET", "/v1/rules/a/b", NULL, NULL, 404), "not_found", NULL);
    s_server_stop(&s);
}
END_TEST

START_TEST(t_query)
{
    struct server s;
    s_server_start(&s, NULL, 0, 0);
    json_t *doc = s_call(s.port, "GET", "/v1/echo?name=a%20b%26c&other=1", NULL, NULL, 200);
    const char *name, *path;
    ck_assert_int_eq(json_unpack(doc, "{s:s, s:s}", "name", &name, "path", &path), 0);
    ck_assert_str_eq(name, "a b&c");
    ck_assert_str_eq(path, "/v1/echo");
    ck_assert(json_is_null(json_object_get(doc, "flag")));
    json_decref(doc);
    s_server_stop(&s);
}
END_TEST

START_TEST(t_not_found)
{
    struct server s;
    s_server_start(&s, NULL, 0, 0);
    s_check_error(s_call(s.port, "GET", "/v2/unknown", NULL, NULL, 404), "not_found",
                  "no such route");
    s_check_error(s_call(s.port, "GET", "/", NULL, NULL, 404), "not_found", NULL);
    s_server_stop(&s);
}
END_TEST

START_TEST(t_method_not_allowed)
{
    struct server s;
    s_server_start(&s, NULL, 0, 0);
    s_check_error(s_call(s.port, "PUT", "/v1/rules/x", "{}", TOKEN, 403), "forbidden", NULL);
    vx_http_destroy(&s.http);
    vx_metrics_destroy(&s.metrics);

    s_server_start(&s, TOKEN, 0, 0);
    s_check_error(s_call(s.port, "PUT", "/v1/rules/x", "{}", TOKEN, 405), "method_not_allowed",
                  NULL);
    char allow[128];
    ck_assert_int_eq(s_allow(s.port, "OPTIONS", "/v1/rules/x", allow), 405);
    ck_assert_str_eq(allow, "GET, HEAD, DELETE");
    ck_assert_int_eq(s_allow(s.port, "GET", "/v1/echo", allow), 200);
    ck_assert_int_eq(s_allow(s.port, "OPTIONS", "/v1/echo", allow), 405);
    ck_assert_str_eq(allow, "GET, HEAD, POST");
    ck_assert_int_eq(s_allow(s.port, "POST", "/health", allow), 401);
    s_server_stop(&s);
}
END_TEST

START_TEST(t_invalid_json)
{
    struct server s;
    s_server_start(&s, TOKEN, 0, 0);
    s_check_error(s_call(s.port, "POST", "/v1/echo", "{\"a\": 1,}", TOKEN, 400), "invalid_json",
                  "invalid JSON at line 1, column 9: string or '}' expected near '}'");
    /* Duplicate keys are rejected; the position is the end of the second key. */
    s_check_error(s_call(s.port, "POST", "/v1/echo", "{\n  \"a\": 1,\n  \"a\": 2\n}", TOKEN, 400),
                  "invalid_json",
                  "invalid JSON at line 3, column 5: duplicate object key near '\"a\"'");
    s_check_error(s_call(s.port, "POST", "/v1/echo", "[1, 2", TOKEN, 400), "invalid_json",
                  "invalid JSON at line 1, column 5: ']' expected near end of file");
    s_server_stop(&s);
}
END_TEST

static char *
s_filled_json(size_t len)
{
    /* {"pad":"xxxx...x"} of exactly len bytes (len >= 10). */
    char *b = malloc(len + 1);
    memset(b, 'x', len);
    memcpy(b, "{\"pad\":\"", 8);
    memcpy(b + len - 2, "\"}", 2);
    b[len] = '\0';
    return b;
}

START_TEST(t_too_large)
{
    struct server s;
    s_server_start(&s, TOKEN, 1024, 0);
    /* Exactly the limit is fine. */
    char *body = s_filled_json(1024);
    json_t *doc = s_call(s.port, "POST", "/v1/echo", body, TOKEN, 201);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "body_len")), 1024);
    json_decref(doc);
    free(body);
    /* One byte over, and far over. */
    size_t sizes[] = {1025, 64 * 1024, 4 * 1024 * 1024};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        body = s_filled_json(sizes[i]);
        s_check_error(s_call(s.port, "POST", "/v1/echo", body, TOKEN, 413), "body_too_large",
                      NULL);
        free(body);
    }
    /* The limit applies whatever the method and before authentication. */
    body = s_filled_json(2048);
    s_check_error(s_call(s.port, "POST", "/v1/echo", body, NULL, 413), "body_too_large", NULL);
    free(body);
    /* Too large even to drain: answered before reading, so the client may see the 413 or a
     * reset; either way the server carries on. */
    size_t huge = 24 * 1024 * 1024;
    body = s_filled_json(huge);
    struct vt_http_result r;
    if (vt_http("POST", s.port, "/v1/echo", body, huge, TOKEN, &r) == 0) {
        ck_assert_int_eq(r.status, 413);
    }
    vt_http_result_fini(&r);
    free(body);
    /* The server is still healthy afterwards. */
    json_decref(s_call(s.port, "GET", "/health", NULL, NULL, 200));
    s_server_stop(&s);
}
END_TEST

struct chunk_src {
    size_t left;
    bool started;
};

static size_t
cb_read(char *buf, size_t size, size_t n, void *arg)
{
    struct chunk_src *src = arg;
    size_t len = size * n < src->left ? size * n : src->left;
    len = len > 700 ? 700 : len;
    memset(buf, ' ', len);
    if (!src->started && len >= 2) {
        /* "[]" and then whitespace: a valid JSON body of any size. */
        buf[0] = '[';
        buf[1] = ']';
        src->started = true;
    }
    src->left -= len;
    return len;
}

/* A POST with "Expect: 100-continue" and a JSON body of `size` bytes ("[]" then spaces); returns the status and
 * how many body bytes the client actually sent. */
static long
s_post_expect(uint16_t port, const char *token, size_t size, size_t *sent)
{
    char url[128], auth[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/echo", (unsigned)port);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token ? token : "");
    struct curl_slist *hdrs = curl_slist_append(NULL, "Expect: 100-continue");
    if (token) {
        hdrs = curl_slist_append(hdrs, auth);
    }
    struct chunk_src src = {.left = size};
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)size);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, cb_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &src);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, cb_sink);
    curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    }
    *sent = size - src.left;
    curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    return status;
}

START_TEST(t_expect_continue)
{
    /* A client that waits for "100 Continue" is answered before it sends a byte. */
    struct server s;
    s_server_start(&s, TOKEN, 1024, 0);
    size_t sent = 1;
    ck_assert_int_eq(s_post_expect(s.port, TOKEN, 64 * 1024 * 1024, &sent), 413);
    ck_assert_uint_eq(sent, 0);
    ck_assert_int_eq(s_post_expect(s.port, NULL, 512, &sent), 401);
    ck_assert_uint_eq(sent, 0);
    /* Within the limit and authorised, the body goes through. */
    ck_assert_int_eq(s_post_expect(s.port, TOKEN, 512, &sent), 201);
    ck_assert_uint_eq(sent, 512);
    s_server_stop(&s);
}
END_TEST

START_TEST(t_too_large_chunked)
{
    /* Without Content-Length the limit is enforced while the body streams in. */
    struct server s;
    s_server_start(&s, TOKEN, 1024, 0);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/echo", (unsigned)s.port);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Authorization: Bearer " TOKEN);
    hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
    hdrs = curl_slist_append(hdrs, "Expect:");
    struct chunk_src src = {.left = 8000};
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, cb_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &src);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, cb_sink);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    ck_assert_int_eq(status, 413);
    curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    s_server_stop(&s);
}
END_TEST

START_TEST(t_unauthorized)
{
    struct server s;
    s_server_start(&s, TOKEN, 0, 0);
    s_check_error(s_call(s.port, "POST", "/v1/echo", "{}", NULL, 401), "unauthorized", NULL);
    s_check_error(s_call(s.port, "POST", "/v1/echo", "{}", "wrong", 401), "unauthorized", NULL);
    s_check_error(s_call(s.port, "POST", "/v1/echo", "{}", TOKEN "x", 401), "unauthorized", NULL);
    s_check_error(s_call(s.port, "POST", "/v1/echo", "{}", "s3cret-toke", 401), "unauthorized",
                  NULL);
    s_check_error(s_call(s.port, "DELETE", "/v1/rules/1", NULL, NULL, 401), "unauthorized", NULL);
    /* Reads need no token. */
    json_decref(s_call(s.port, "GET", "/v1/rules/1", NULL, NULL, 200));
    s_server_stop(&s);
}
END_TEST

START_TEST(t_forbidden_without_token)
{
    struct server s;
    s_server_start(&s, NULL, 0, 0);
    s_check_error(s_call(s.port, "POST", "/v1/echo", "{}", NULL, 403), "forbidden", NULL);
    s_check_error(s_call(s.port, "POST", "/v1/echo", "{}", "anything", 403), "forbidden", NULL);
    s_check_error(s_call(s.port, "DELETE", "/v1/rules/1", NULL, "anything", 403), "forbidden",
                  NULL);
    s_server_stop(&s);
}
END_TEST

START_TEST(t_post_json)
{
    struct server s;
    s_server_start(&s, TOKEN, 0, 0);
    const char *body = "{\"rule\": {\"path\": \"/srv/*\", \"events\": [\"create\"]}}";
    json_t *doc = s_call(s.port, "POST", "/v1/echo?flag=on", body, TOKEN, 201);
    const char *method, *rpath, *ev, *flag;
    ck_assert_int_eq(json_unpack(doc, "{s:s, s:s, s:{s:{s:s, s:[s]}}}", "method", &method, "flag",
                                 &flag, "json", "rule", "path", &rpath, "events", &ev),
                     0);
    ck_assert_str_eq(method, "POST");
    ck_assert_str_eq(flag, "on");
    ck_assert_str_eq(rpath, "/srv/*");
    ck_assert_str_eq(ev, "create");
    json_decref(doc);
    /* An empty body reaches the handler with no JSON. */
    doc = s_call(s.port, "DELETE", "/v1/rules/9", NULL, TOKEN, 200);
    ck_assert(json_is_null(json_object_get(doc, "json")));
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "body_len")), 0);
    json_decref(doc);
    s_server_stop(&s);
}
END_TEST

#define N_CLIENTS 50

static atomic_int s_in_flight;
static atomic_int s_max_in_flight;
static atomic_int s_gather_target; /* handlers wait until this many ran at once */

/* Holds each request until s_gather_target handlers are inside at once (or 5 s pass), which
 * shows how many handlers run concurrently. */
static void
h_gather(vx_http_req_t *req, struct vx_http_resp *resp, void *arg)
{
    (void)req;
    (void)arg;
    int now = atomic_fetch_add(&s_in_flight, 1) + 1;
    int max = atomic_load(&s_max_in_flight);
    while (now > max && !atomic_compare_exchange_weak(&s_max_in_flight, &max, now)) {
    }
    uint64_t deadline = vt_now_ms() + 5000;
    while (atomic_load(&s_max_in_flight) < atomic_load(&s_gather_target) &&
           vt_now_ms() < deadline) {
        usleep(1000);
    }
    atomic_fetch_sub(&s_in_flight, 1);
    resp->json = json_pack("{s:b}", "ok", 1);
}

struct client {
    pthread_t th;
    uint16_t port;
    long status;
};

static void *
s_client(void *arg)
{
    struct client *c = arg;
    struct vt_http_result r;
    if (vt_http("GET", c->port, "/v1/gather", NULL, 0, NULL, &r) == 0) {
        c->status = r.status;
    }
    vt_http_result_fini(&r);
    return NULL;
}

/* Handlers run on a bounded pool of workers: with as many workers as clients every handler
 * runs at once; with 4, never more than 4 run at once and every request is still answered. */
START_TEST(t_concurrent_clients)
{
    curl_global_init(CURL_GLOBAL_ALL); /* before threads: curl's lazy init is not thread-safe */
    struct server s;
    unsigned workers = _i == 0 ? N_CLIENTS : 4;
    atomic_store(&s_gather_target, (int)workers);
    struct vx_http_opts opts = {.bind = "127.0.0.1", .conn_limit = 2 * N_CLIENTS,
                                .workers = workers};
    s.metrics = vx_metrics_new();
    s.http = vx_http_new(&opts, s.metrics, NULL);
    ck_assert_int_eq(vx_http_route(s.http, "GET", "/v1/gather", h_gather, NULL), 0);
    ck_assert_int_eq(vx_http_start(s.http), 0);
    ck_assert_int_eq(vx_http_route(s.http, "GET", "/v1/late", h_gather, NULL), -EINVAL);
    struct client clients[N_CLIENTS];
    for (int i = 0; i < N_CLIENTS; i++) {
        clients[i] = (struct client){.port = vx_http_port(s.http)};
        ck_assert_int_eq(pthread_create(&clients[i].th, NULL, s_client, &clients[i]), 0);
    }
    int ok = 0;
    for (int i = 0; i < N_CLIENTS; i++) {
        pthread_join(clients[i].th, NULL);
        ok += clients[i].status == 200;
    }
    ck_assert_int_eq(ok, N_CLIENTS);
    ck_assert_int_eq(atomic_load(&s_max_in_flight), (int)workers);
    vx_counter_t *c = vx_metrics_counter(s.metrics, "vexfs_http_requests_total", "",
                                         "route", "/v1/gather", "method", "GET", "code", "200",
                                         NULL);
    ck_assert_uint_eq(vx_counter_value(c), N_CLIENTS);
    s_server_stop(&s);
    curl_global_cleanup();
}
END_TEST

/* A raw connection that sends a POST's headers and the first part of its body. */
static int
s_partial_post(uint16_t port, size_t declared, size_t sent)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    char head[256];
    int n = snprintf(head, sizeof head,
                     "POST /v1/echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN "\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     declared);
    ck_assert_int_eq(send(fd, head, (size_t)n, MSG_NOSIGNAL), n);
    char *body = malloc(declared);
    memset(body, ' ', declared);
    body[0] = '{';
    body[declared - 1] = '}';
    ck_assert_int_eq(send(fd, body, sent, MSG_NOSIGNAL), (ssize_t)sent);
    free(body);
    return fd;
}

/* Sends the rest of the body and returns the status line's code. */
static int
s_finish_post(int fd, size_t declared, size_t sent)
{
    char *body = malloc(declared);
    memset(body, ' ', declared);
    body[declared - 1] = '}';
    ck_assert_int_eq(send(fd, body + sent, declared - sent, MSG_NOSIGNAL),
                     (ssize_t)(declared - sent));
    free(body);
    char reply[2048];
    size_t got = 0;
    while (got < sizeof reply - 1 && !memmem(reply, got, "\r\n\r\n", 4)) {
        ssize_t r = recv(fd, reply + got, sizeof reply - 1 - got, 0);
        if (r <= 0) {
            break;
        }
        got += (size_t)r;
    }
    reply[got] = '\0';
    close(fd);
    int code = 0;
    sscanf(reply, "HTTP/1.1 %d", &code);
    return code;
}

struct held_bytes {
    vx_metrics_t *m;
    double want;
};

static bool
cb_held(void *arg)
{
    struct held_bytes *hb = arg;
    return vx_gauge_value(vx_metrics_gauge(hb->m, "vexfs_http_body_bytes", "", NULL)) >=
           hb->want;
}

/* However many connections there are, the bodies held at once stay within the budget: a body
 * that would pass it gets 503 busy, and the memory comes back when requests end. */
START_TEST(t_body_memory)
{
    struct vx_http_opts opts = {.bind = "127.0.0.1", .token = TOKEN, .body_limit = 2048,
                                .body_memory = 5000};
    vx_metrics_t *m = vx_metrics_new();
    vx_http_t *h = vx_http_new(&opts, m, NULL);
    ck_assert_int_eq(vx_http_route(h, "POST", "/v1/echo", h_echo, NULL), 0);
    ck_assert_int_eq(vx_http_start(h), 0);
    uint16_t port = vx_http_port(h);
    int a = s_partial_post(port, 2000, 1500);
    int b = s_partial_post(port, 2000, 1500);
    struct held_bytes hb = {m, 2 * 2049};
    ck_assert_msg(vt_wait_until(cb_held, &hb, 10000), "two bodies are not held");
    int c = s_partial_post(port, 2000, 1500);
    ck_assert_int_eq(s_finish_post(c, 2000, 1500), 503);
    ck_assert_int_eq(s_finish_post(a, 2000, 1500), 200);
    ck_assert_int_eq(s_finish_post(b, 2000, 1500), 200);
    ck_assert_uint_eq(vx_counter_value(vx_metrics_counter(
                          m, "vexfs_http_body_memory_refused_total", "", NULL)),
                      1);
    vx_http_destroy(&h); /* every request ended: the gauge is back to zero */
    ck_assert_double_eq(vx_gauge_value(vx_metrics_gauge(m, "vexfs_http_body_bytes", "", NULL)),
                        0);
    vx_metrics_destroy(&m);
}
END_TEST

START_TEST(t_setup_errors)
{
    const char *err = NULL;
    struct vx_http_opts bad = {.bind = "localhost"};
    ck_assert_ptr_null(vx_http_new(&bad, NULL, &err));
    ck_assert_str_eq(err, "bind is not an IPv4 address");
    struct vx_http_opts empty_token = {.bind = "127.0.0.1", .token = ""};
    ck_assert_ptr_null(vx_http_new(&empty_token, NULL, &err));
    struct vx_http_opts per_ip = {.bind = "127.0.0.1", .conn_limit = 10, .conn_limit_per_ip = 11};
    ck_assert_ptr_null(vx_http_new(&per_ip, NULL, &err));
    ck_assert_str_eq(err, "the per-address connection limit exceeds the connection limit");
    ck_assert_ptr_null(vx_http_new(NULL, NULL, &err));

    /* Bad patterns and methods. */
    struct vx_http_opts opts = {.bind = "127.0.0.1"};
    vx_http_t *h = vx_http_new(&opts, NULL, &err);
    ck_assert_ptr_nonnull(h);
    const char *patterns[] = {"v1/x", "/v1//x", "/v1/x/", "/v1/{}", "/v1/{a-b}", "/v1/x{id}",
                              "/v1/{id}/{id}", "/health"};
    for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++) {
        ck_assert_msg(vx_http_route(h, "GET", patterns[i], h_echo, NULL) == -EINVAL, "%s",
                      patterns[i]);
    }
    ck_assert_int_eq(vx_http_route(h, "BREW", "/v1/x", h_echo, NULL), -EINVAL);
    ck_assert_int_eq(vx_http_route(h, "HEAD", "/v1/x", h_echo, NULL), -EINVAL);
    ck_assert_int_eq(vx_http_route(h, "GET", "/v1/{a}", h_echo, NULL), 0);
    ck_assert_int_eq(vx_http_route(h, "GET", "/v1/{b}", h_echo, NULL), -EINVAL);
    ck_assert_int_eq(vx_http_route(h, "PUT", "/v1/{b}", h_echo, NULL), 0);
    vx_http_destroy(&h);

    /* A port in use is reported as -EADDRINUSE. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(fd, 1), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    opts.port = ntohs(sa.sin_port);
    h = vx_http_new(&opts, NULL, &err);
    ck_assert_int_eq(vx_http_start(h), -EADDRINUSE);
    vx_http_destroy(&h);
    close(fd);
}
END_TEST

static Suite *
s_suite(void)
{
    Suite *s = suite_create("vx_http");
    struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"health", t_health},
        {"ready", t_ready},
        {"metrics", t_metrics},
        {"request_metrics", t_request_metrics},
        {"route_params", t_route_params},
        {"query", t_query},
        {"not_found", t_not_found},
        {"method_not_allowed", t_method_not_allowed},
        {"invalid_json", t_invalid_json},
        {"too_large", t_too_large},
        {"too_large_chunked", t_too_large_chunked},
        {"expect_continue", t_expect_continue},
        {"unauthorized", t_unauthorized},
        {"forbidden_without_token", t_forbidden_without_token},
        {"post_json", t_post_json},
        {"concurrent_clients", t_concurrent_clients},
        {"body_memory", t_body_memory},
        {"setup_errors", t_setup_errors},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_set_timeout(tc, 30);
        if (cases[i].test == t_concurrent_clients) {
            tcase_add_loop_test(tc, cases[i].test, 0, 2);
        } else {
            tcase_add_test(tc, cases[i].test);
        }
        suite_add_tcase(s, tc);
    }
    return s;
}

int
main(void)
{
    vt_http_plain(true); /* the servers under test here are plain HTTP (TLS: test_http_tls) */
    SRunner *sr = srunner_create(s_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
