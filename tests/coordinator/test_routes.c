/* SPDX-License-Identifier: Apache-2.0 */
/* Every REST route of the coordinator, walked from its route table against a real
 * vexfs-coordinator over HTTPS: without a credential 401, with a role below the route's 403,
 * with exactly the route's role neither (the request reaches its handler); /health and /ready
 * answer without a credential, /metrics needs one. A route added to the table without the
 * right role, or answered before the credential check, fails here. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_http.h"
#include "vt_https.h"
#include "vx_creds.h"
#include "vx_test.h"

#define S_VIEWER "viewer-token-0123456789"
#define S_OPERATOR "operator-token-0123456789"

struct s_node {
    pid_t pid;
    uint16_t port;
    char dir[256];
    char ca[400], cert[400], key[400];
};

static void
s_start(struct s_node *n)
{
    char *dir = vt_tmpdir();
    ck_assert_ptr_nonnull(dir);
    snprintf(n->dir, sizeof n->dir, "%s", dir);
    free(dir);
    snprintf(n->ca, sizeof n->ca, "%s/ca.crt", vt_tls_dir());
    snprintf(n->cert, sizeof n->cert, "%s/test.crt", vt_tls_dir());
    snprintf(n->key, sizeof n->key, "%s/test.key", vt_tls_dir());
    /* Credentials: the test's certificate is an admin; a viewer and an operator by token. */
    char vh[65], oh[65], creds[300], text[1024];
    vx_sha256_hex(S_VIEWER, strlen(S_VIEWER), vh);
    vx_sha256_hex(S_OPERATOR, strlen(S_OPERATOR), oh);
    snprintf(creds, sizeof creds, "%s/credentials.yaml", n->dir);
    snprintf(text, sizeof text,
             "credentials:\n"
             "  - {name: test, role: admin, tenants: [\"*\"], certificate_cn: test}\n"
             "  - {name: watcher, role: viewer, tenants: [\"*\"], token_sha256: %s}\n"
             "  - {name: writer, role: operator, tenants: [\"*\"], token_sha256: %s}\n",
             vh, oh);
    ck_assert_int_eq(vt_write_file(creds, text), 0);
    n->port = vt_free_port();
    char cfg[300];
    snprintf(cfg, sizeof cfg, "%s/node.yaml", n->dir);
    snprintf(text, sizeof text,
             "distributed_coordination:\n"
             "  enable_raft_consensus: false\n"
             "  members: \"1@127.0.0.1:%u/%u\"\n"
             "  data_dir: %s/data\n"
             "  rest_port: %u\n"
             "  input_endpoint: \"\"\n"
             "  election_timeout_ms: 300\n"
             "  heartbeat_ms: 50\n"
             "security:\n"
             "  credentials_file: %s\n",
             (unsigned)vt_free_port(), (unsigned)n->port, n->dir, (unsigned)n->port, creds);
    ck_assert_int_eq(vt_write_file(cfg, text), 0);
    char bin[512], log[320], env[400];
    snprintf(bin, sizeof bin, "%s/vexfs-coordinator", vt_bin_dir());
    snprintf(log, sizeof log, "%s/node.log", n->dir);
    /* The environment overrides the file's keys: point it at these credentials too, rather
     * than at the test material's (where only the certificates are listed). */
    snprintf(env, sizeof env, "VEXFS_SECURITY_CREDENTIALS_FILE=%s", creds);
    char *argv[] = {bin, (char *)"--config", cfg, NULL};
    char *envp[] = {env, NULL};
    n->pid = vt_spawn(argv, envp, log);
    ck_assert_int_gt(n->pid, 0);
    bool ready = false;
    for (int i = 0; i < 400 && !ready; i++) {
        struct vt_https_req rq = {.port = n->port, .path = "/ready", .ca_file = n->ca};
        struct vt_http_result r;
        ready = vt_https(&rq, &r) == 0 && r.status == 200;
        vt_http_result_fini(&r);
        if (!ready) {
            vt_sleep_ms(50);
        }
    }
    ck_assert_msg(ready, "coordinator not ready; log in %s", log);
}

/* The route's pattern with every {name} filled: ids 999 (no such member or conflict), other
 * segments x. */
static void
s_fill(const char *pattern, char *out, size_t outlen)
{
    size_t o = 0;
    for (const char *p = pattern; *p && o + 4 < outlen;) {
        if (*p == '{') {
            const char *end = strchr(p, '}');
            const char *fill = strncmp(p, "{id}", 4) == 0 ? "999" : "x";
            o += (size_t)snprintf(out + o, outlen - o, "%s", fill);
            p = end ? end + 1 : p + 1;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
}

static long
s_call(const struct s_node *n, const char *method, const char *path, const char *token,
       bool cert)
{
    struct vt_https_req rq = {.method = method, .port = n->port, .path = path, .token = token,
                              .ca_file = n->ca, .cert_file = cert ? n->cert : NULL,
                              .key_file = cert ? n->key : NULL};
    struct vt_http_result r;
    ck_assert_int_eq(vt_https(&rq, &r), 0);
    long st = r.status;
    vt_http_result_fini(&r);
    return st;
}

START_TEST(t_every_route_checks_its_role)
{
    struct s_node n;
    s_start(&n);
    size_t count = 0;
    const struct vx_http_route_def *t = coord_http_route_table(&count);
    ck_assert_uint_ge(count, 10);
    size_t checked403 = 0;
    for (size_t i = 0; i < count; i++) {
        char path[512];
        s_fill(t[i].pattern, path, sizeof path);
        ck_assert_msg(t[i].role >= VX_ROLE_VIEWER, "%s %s declares no role", t[i].method,
                      t[i].pattern);
        long st = s_call(&n, t[i].method, path, NULL, false);
        ck_assert_msg(st == 401, "%s %s without a credential: %ld, expected 401", t[i].method,
                      path, st);
        /* Each role below the route's: 403. */
        if (t[i].role >= VX_ROLE_OPERATOR) {
            st = s_call(&n, t[i].method, path, S_VIEWER, false);
            ck_assert_msg(st == 403, "%s %s as viewer: %ld, expected 403", t[i].method, path, st);
            checked403++;
        }
        if (t[i].role >= VX_ROLE_ADMIN) {
            st = s_call(&n, t[i].method, path, S_OPERATOR, false);
            ck_assert_msg(st == 403, "%s %s as operator: %ld, expected 403", t[i].method, path,
                          st);
        }
        /* Exactly the route's role passes the check (whatever the handler then says). */
        const char *tok = t[i].role == VX_ROLE_VIEWER     ? S_VIEWER
                          : t[i].role == VX_ROLE_OPERATOR ? S_OPERATOR
                                                          : NULL;
        st = s_call(&n, t[i].method, path, tok, tok == NULL);
        ck_assert_msg(st != 401 && st != 403, "%s %s with its role (%s): %ld", t[i].method, path,
                      vx_role_name(t[i].role), st);
    }
    ck_assert_uint_ge(checked403, 4); /* events, resolve, transfer, members x2 */
    /* Built-ins: /health and /ready open, /metrics for viewers. */
    ck_assert_int_eq(s_call(&n, "GET", "/health", NULL, false), 200);
    ck_assert_int_eq(s_call(&n, "GET", "/ready", NULL, false), 200);
    ck_assert_int_eq(s_call(&n, "GET", "/metrics", NULL, false), 401);
    ck_assert_int_eq(s_call(&n, "GET", "/metrics", S_VIEWER, false), 200);
    /* The configuration routes of every daemon: operator reads, admin writes. */
    ck_assert_int_eq(s_call(&n, "GET", "/v1/config", S_VIEWER, false), 403);
    ck_assert_int_eq(s_call(&n, "GET", "/v1/config", S_OPERATOR, false), 200);
    ck_assert_int_eq(s_call(&n, "PUT", "/v1/config", S_OPERATOR, false), 403);
    int status = vt_stop(n.pid, SIGTERM, 20000);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status %d", status);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("coordinator_routes");
    TCase *tc = tcase_create("roles");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_every_route_checks_its_role);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
