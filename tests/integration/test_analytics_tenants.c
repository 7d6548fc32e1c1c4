/* SPDX-License-Identifier: Apache-2.0 */
/* Analytics' objects belong to tenants, on a real vexfs-analytics over HTTPS with a
 * credentials file of operators bound to one tenant each, a viewer of two tenants and the
 * admin certificate of every tenant: a query created by acme's operator is acme's — it counts
 * only acme's events, and to globex's operator it is absent (404 on read, results and delete,
 * 409 on a PUT of its id, missing from lists), as are its anomalies and anomaly alerts; a
 * query naming another tenant is refused (403 tenant_forbidden); a query over every tenant's
 * events can be made and seen only by a credential of every tenant; a viewer of two tenants
 * sees both tenants' queries, or one with X-VexFS-Tenant. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "an_harness.h"
#include "vt_https.h"
#include "vx_creds.h"
#include "vx_test.h"
#include "vx_wire.h"

#define S_ACME "acme-operator-token-0123"
#define S_GLOBEX "globex-operator-token-0123"
#define S_BOTH "both-viewer-token-0123"

/* One call as a token (NULL: the admin certificate "test"), with a tenant header or not. */
static long
s_call(const struct ah_daemon *d, const char *token, const char *tenant, const char *method,
       const char *path, const char *body, json_t **out)
{
    char ca[400], cert[400], key[400];
    snprintf(ca, sizeof ca, "%s/ca.crt", vt_tls_dir());
    snprintf(cert, sizeof cert, "%s/test.crt", vt_tls_dir());
    snprintf(key, sizeof key, "%s/test.key", vt_tls_dir());
    struct vt_https_req rq = {.method = method, .port = d->rest_port, .path = path, .body = body,
                              .token = token, .tenant = tenant, .ca_file = ca,
                              .cert_file = token ? NULL : cert, .key_file = token ? NULL : key};
    struct vt_http_result r;
    ck_assert_int_eq(vt_https(&rq, &r), 0);
    long st = r.status;
    if (out) {
        *out = r.body ? json_loads(r.body, 0, NULL) : NULL;
    }
    vt_http_result_fini(&r);
    return st;
}

/* The ids of GET /v1/queries as the caller, sorted by the daemon's order, joined by ','. */
static void
s_ids(const struct ah_daemon *d, const char *token, const char *tenant, char *out, size_t len)
{
    json_t *j = NULL;
    ck_assert_int_eq(s_call(d, token, tenant, "GET", "/v1/queries", NULL, &j), 200);
    size_t i, o = 0;
    json_t *q;
    out[0] = '\0';
    json_array_foreach(json_object_get(j, "queries"), i, q) {
        o += (size_t)snprintf(out + o, len - o, "%s%s", o ? "," : "",
                              json_string_value(json_object_get(q, "id")));
    }
    json_decref(j);
}

static void
s_push(zsock_t *push, uint64_t ts_ms, const char *tenant, const char *user)
{
    vx_event_t e;
    struct ah_ev_storage st;
    ah_event(&e, &st, 2, ts_ms, "/data/x", user, 10);
    e.tenant = (char *)tenant;
    vx_event_t *ev = &e;
    vx_batch_t b;
    vexfs__v1__event_batch__init(&b);
    b.events = &ev;
    b.n_events = 1;
    ck_assert_int_eq(vx_wire_send(push, VX_WIRE_TOPIC, &b, 0), 0);
}

static json_int_t
s_matched(const struct ah_daemon *d, const char *id)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/queries/%s", id);
    json_t *j = NULL;
    ck_assert_int_eq(s_call(d, NULL, NULL, "GET", path, NULL, &j), 200);
    json_int_t n = json_integer_value(json_object_get(json_object_get(j, "stats"), "matched"));
    json_decref(j);
    return n;
}

static size_t
s_count(const struct ah_daemon *d, const char *token, const char *path, const char *list,
        const char *sublist)
{
    json_t *j = NULL;
    ck_assert_int_eq(s_call(d, token, NULL, "GET", path, NULL, &j), 200);
    json_t *l = json_object_get(j, list);
    size_t n = 0;
    if (sublist) { /* /v1/alerts: only the anomaly alerts */
        size_t i;
        json_t *a;
        json_array_foreach(l, i, a) {
            n += strcmp(json_string_value(json_object_get(a, sublist)), "anomaly") == 0;
        }
    } else {
        n = json_array_size(l);
    }
    json_decref(j);
    return n;
}

struct s_series {
    const struct ah_daemon *d;
    const char *series;
};

static bool
cb_series(void *arg)
{
    struct s_series *w = arg;
    return ah_metric(w->d, w->series) >= 0;
}

START_TEST(t_queries_belong_to_tenants)
{
    char *dir = vt_tmpdir();
    ck_assert_ptr_nonnull(dir);
    char ah[65], gh[65], bh[65], creds[300], text[1200];
    vx_sha256_hex(S_ACME, strlen(S_ACME), ah);
    vx_sha256_hex(S_GLOBEX, strlen(S_GLOBEX), gh);
    vx_sha256_hex(S_BOTH, strlen(S_BOTH), bh);
    snprintf(creds, sizeof creds, "%s/credentials.yaml", dir);
    snprintf(text, sizeof text,
             "credentials:\n"
             "  - {name: test, role: admin, tenants: [\"*\"], certificate_cn: test}\n"
             "  - {name: acme-op, role: operator, tenants: [acme], token_sha256: %s}\n"
             "  - {name: globex-op, role: operator, tenants: [globex], token_sha256: %s}\n"
             "  - {name: both, role: viewer, tenants: [acme, globex], token_sha256: %s}\n",
             ah, gh, bh);
    ck_assert_int_eq(vt_write_file(creds, text), 0);
    /* The daemon inherits this process's environment (it overrides the file's key). */
    char *saved = getenv("VEXFS_SECURITY_CREDENTIALS_FILE");
    saved = saved ? strdup(saved) : NULL;
    setenv("VEXFS_SECURITY_CREDENTIALS_FILE", creds, 1);
    struct ah_daemon d;
    ah_start(&d, NULL, dir);
    if (saved) {
        setenv("VEXFS_SECURITY_CREDENTIALS_FILE", saved, 1);
        free(saved);
    }

    const char *q = "{\"id\":\"%s\",%s\"window\":{\"kind\":\"tumbling\",\"size_ms\":1000},"
                    "\"group_by\":[\"metadata.user_id\"],"
                    "\"aggregations\":[{\"fn\":\"count\",\"as\":\"n\"}],"
                    "\"anomaly\":{\"min_windows\":5,\"z_threshold\":3}}";
    char body[1024];
    json_t *j = NULL;
    snprintf(body, sizeof body, q, "q-acme", "");
    ck_assert_int_eq(s_call(&d, S_ACME, NULL, "POST", "/v1/queries", body, &j), 201);
    ck_assert_str_eq(json_string_value(json_object_get(j, "tenant")), "acme");
    json_decref(j);
    snprintf(body, sizeof body, q, "q-globex", "");
    ck_assert_int_eq(s_call(&d, S_GLOBEX, NULL, "POST", "/v1/queries", body, NULL), 201);
    /* naming another tenant */
    snprintf(body, sizeof body, q, "q-steal", "\"tenant\":\"acme\",");
    ck_assert_int_eq(s_call(&d, S_GLOBEX, NULL, "POST", "/v1/queries", body, &j), 403);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                     "tenant_forbidden");
    json_decref(j);
    /* every tenant's events: the admin of every tenant only */
    snprintf(body, sizeof body, q, "q-all", "");
    ck_assert_int_eq(s_call(&d, NULL, NULL, "POST", "/v1/queries", body, &j), 201);
    ck_assert_ptr_null(json_object_get(j, "tenant"));
    json_decref(j);

    char ids[256];
    s_ids(&d, S_ACME, NULL, ids, sizeof ids);
    ck_assert_str_eq(ids, "q-acme");
    s_ids(&d, S_GLOBEX, NULL, ids, sizeof ids);
    ck_assert_str_eq(ids, "q-globex");
    s_ids(&d, S_BOTH, NULL, ids, sizeof ids);
    ck_assert_str_eq(ids, "q-acme,q-globex");
    s_ids(&d, S_BOTH, "globex", ids, sizeof ids);
    ck_assert_str_eq(ids, "q-globex");
    s_ids(&d, NULL, NULL, ids, sizeof ids);
    ck_assert_str_eq(ids, "q-acme,q-globex,q-all");
    ck_assert_int_eq(s_call(&d, S_BOTH, "initech", "GET", "/v1/queries", NULL, NULL), 403);
    /* a tenant's query's series carry its tenant; a query of every tenant's events has none
     * (the loop installs queries after the answer: polled) */
    static const char *const series[] = {
        "vexfs_analytics_query_events_total{query=\"q-acme\",tenant=\"acme\"}",
        "vexfs_analytics_windows_total{query=\"q-globex\",tenant=\"globex\"}",
        "vexfs_analytics_query_events_total{query=\"q-all\",tenant=\"\"}",
    };
    for (size_t i = 0; i < sizeof series / sizeof series[0]; i++) {
        struct s_series w = {&d, series[i]};
        ck_assert_msg(vt_wait_until(cb_series, &w, 20000), "no series %s", series[i]);
    }

    /* acme's query is absent for globex */
    ck_assert_int_eq(s_call(&d, S_GLOBEX, NULL, "GET", "/v1/queries/q-acme", NULL, NULL), 404);
    ck_assert_int_eq(s_call(&d, S_GLOBEX, NULL, "GET", "/v1/queries/q-acme/results", NULL, NULL),
                     404);
    ck_assert_int_eq(s_call(&d, S_GLOBEX, NULL, "DELETE", "/v1/queries/q-acme", NULL, NULL), 404);
    snprintf(body, sizeof body, q, "q-acme", "");
    ck_assert_int_eq(s_call(&d, S_GLOBEX, NULL, "PUT", "/v1/queries/q-acme", body, NULL), 409);
    ck_assert_int_eq(s_call(&d, S_ACME, NULL, "GET", "/v1/queries/q-acme", NULL, &j), 200);
    ck_assert_str_eq(json_string_value(json_object_get(j, "tenant")), "acme");
    json_decref(j);
    ck_assert_int_eq(s_call(&d, S_ACME, NULL, "GET", "/v1/queries/q-acme/results", NULL, NULL),
                     200);
    ck_assert_int_eq(s_call(&d, S_GLOBEX, NULL, "GET", "/v1/queries/q-all", NULL, NULL), 404);
    /* the admin of every tenant replacing acme's query without naming a tenant: still acme's */
    ck_assert_int_eq(s_call(&d, NULL, NULL, "PUT", "/v1/queries/q-acme", body, &j), 200);
    ck_assert_str_eq(json_string_value(json_object_get(j, "tenant")), "acme");
    json_decref(j);

    /* Events of both tenants; acme's user u spikes in window 8 (an anomaly of q-acme). */
    zsock_t *push = vt_sock_ex(&(struct vt_sock_opts){.type = ZMQ_PUSH, .endpoint = d.input,
                                                      .linger_ms = 5000});
    ck_assert_ptr_nonnull(push);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t base = ((uint64_t)now.tv_sec - 600) * 1000ULL;
    int acme = 0, globex = 0;
    for (int w = 0; w < 9; w++) {
        for (int i = 0; i < (w == 8 ? 50 : 5); i++, acme++) {
            s_push(push, base + (uint64_t)w * 1000 + (uint64_t)i, "acme", "u");
        }
        for (int i = 0; i < 3; i++, globex++) {
            s_push(push, base + (uint64_t)w * 1000 + 500 + (uint64_t)i, "globex", "v");
        }
    }
    s_push(push, base + 100000, "acme", "w"); /* closes every window */
    acme++;
    time_t deadline = time(NULL) + 60;
    while (s_matched(&d, "q-all") < acme + globex && time(NULL) < deadline) {
        vt_sleep_ms(50);
    }
    ck_assert_int_eq(s_matched(&d, "q-all"), acme + globex);
    ck_assert_int_eq(s_matched(&d, "q-acme"), acme);
    ck_assert_int_eq(s_matched(&d, "q-globex"), globex);

    /* The anomaly of acme's u: raised by q-acme and by q-all; acme sees q-acme's, globex
     * none, the admin both. */
    deadline = time(NULL) + 60;
    while (s_count(&d, NULL, "/v1/anomalies", "anomalies", NULL) < 2 && time(NULL) < deadline) {
        vt_sleep_ms(50);
    }
    ck_assert_uint_eq(s_count(&d, NULL, "/v1/anomalies", "anomalies", NULL), 2);
    ck_assert_uint_eq(s_count(&d, S_ACME, "/v1/anomalies", "anomalies", NULL), 1);
    ck_assert_uint_eq(s_count(&d, S_GLOBEX, "/v1/anomalies", "anomalies", NULL), 0);
    ck_assert_uint_eq(s_count(&d, S_GLOBEX, "/v1/anomalies?query=q-acme", "anomalies", NULL), 0);
    deadline = time(NULL) + 60;
    while (s_count(&d, NULL, "/v1/alerts", "recent", "source") < 2 && time(NULL) < deadline) {
        vt_sleep_ms(50);
    }
    ck_assert_uint_ge(s_count(&d, NULL, "/v1/alerts", "recent", "source"), 2);
    ck_assert_uint_eq(s_count(&d, S_ACME, "/v1/alerts", "recent", "source"),
                      s_count(&d, NULL, "/v1/alerts", "recent", "source") / 2);
    ck_assert_uint_eq(s_count(&d, S_GLOBEX, "/v1/alerts", "recent", "source"), 0);
    ck_assert_uint_eq(s_count(&d, S_GLOBEX, "/v1/alerts", "active", "source"), 0);

    /* acme deletes its own query */
    ck_assert_int_eq(s_call(&d, S_ACME, NULL, "DELETE", "/v1/queries/q-acme", NULL, NULL), 200);
    s_ids(&d, NULL, NULL, ids, sizeof ids);
    ck_assert_msg(strcmp(ids, "q-globex,q-all") == 0 || strcmp(ids, "q-all,q-globex") == 0,
                  "after the delete: %s", ids);
    zsock_destroy(&push);
    ah_stop(&d);
    free(dir);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("analytics-tenants");
    TCase *tc = tcase_create("tenants");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, t_queries_belong_to_tenants);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
