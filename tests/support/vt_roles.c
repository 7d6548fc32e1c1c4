/* SPDX-License-Identifier: Apache-2.0 */
/* Test support: walking a route table against a running daemon (see vt_roles.h). */
#include "vt_roles.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include <jansson.h>

#include "vt_https.h"
#include "vx_creds.h"
#include "vx_test.h"

int
vt_roles_creds(const char *dir, char *env, size_t envlen)
{
    char vh[65], oh[65], path[300], text[1024];
    vx_sha256_hex(VT_ROLES_VIEWER_TOKEN, strlen(VT_ROLES_VIEWER_TOKEN), vh);
    vx_sha256_hex(VT_ROLES_OPERATOR_TOKEN, strlen(VT_ROLES_OPERATOR_TOKEN), oh);
    snprintf(path, sizeof path, "%s/credentials.yaml", dir);
    snprintf(text, sizeof text,
             "credentials:\n"
             "  - {name: test, role: admin, tenants: [\"*\"], certificate_cn: test}\n"
             "  - {name: watcher, role: viewer, tenants: [\"*\"], token_sha256: %s}\n"
             "  - {name: writer, role: operator, tenants: [\"*\"], token_sha256: %s}\n",
             vh, oh);
    int rc = vt_write_file(path, text);
    if (rc < 0) {
        return rc;
    }
    snprintf(env, envlen, "VEXFS_SECURITY_CREDENTIALS_FILE=%s", path);
    return 0;
}

pid_t
vt_roles_spawn(const char *dir, const char *program, const char *yaml, uint16_t port, char *log,
               size_t loglen)
{
    char env[400], cfgpath[300], bin[512];
    snprintf(log, loglen, "%s/%s.log", dir, program);
    snprintf(cfgpath, sizeof cfgpath, "%s/vexfs.yaml", dir);
    if (vt_roles_creds(dir, env, sizeof env) < 0 || vt_write_file(cfgpath, yaml) < 0) {
        snprintf(log, loglen, "cannot write into %s", dir);
        return -1;
    }
    snprintf(bin, sizeof bin, "%s/%s", vt_bin_dir(), program);
    char *argv[] = {bin, (char *)"--config", cfgpath, NULL};
    char *envp[] = {env, NULL};
    pid_t pid = vt_spawn(argv, envp, log);
    if (pid > 0 && !vt_wait_ready(port, 20000)) {
        vt_stop(pid, SIGKILL, 5000);
        pid = -1;
    }
    return pid;
}

long
vt_roles_call(uint16_t port, const char *method, const char *path, enum vx_role role,
              char *code, size_t codelen)
{
    char ca[400], cert[400], key[400];
    snprintf(ca, sizeof ca, "%s/ca.crt", vt_tls_dir());
    snprintf(cert, sizeof cert, "%s/test.crt", vt_tls_dir());
    snprintf(key, sizeof key, "%s/test.key", vt_tls_dir());
    bool admin = role == VX_ROLE_ADMIN;
    struct vt_https_req rq = {
        .method = method,
        .port = port,
        .path = path,
        .token = role == VX_ROLE_VIEWER     ? VT_ROLES_VIEWER_TOKEN
                 : role == VX_ROLE_OPERATOR ? VT_ROLES_OPERATOR_TOKEN
                                            : NULL,
        .ca_file = ca,
        .cert_file = admin ? cert : NULL,
        .key_file = admin ? key : NULL,
    };
    struct vt_http_result r;
    if (code && codelen) {
        code[0] = '\0';
    }
    if (vt_https(&rq, &r) < 0) {
        vt_http_result_fini(&r);
        return 0;
    }
    long st = r.status;
    if (code && codelen && r.body) {
        json_t *j = json_loads(r.body, 0, NULL);
        const char *c = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
        snprintf(code, codelen, "%s", c ? c : "");
        json_decref(j);
    }
    vt_http_result_fini(&r);
    return st;
}

void
vt_roles_fill(const char *pattern, char *out, size_t outlen)
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

/* One expectation: the status (and, for refusals, the error code) of method path as role. */
static int
s_expect(uint16_t port, const char *method, const char *path, enum vx_role role, long want,
         const char *want_code, char *err, size_t errlen)
{
    char code[64];
    long st = vt_roles_call(port, method, path, role, code, sizeof code);
    bool ok = want > 0 ? st == want && (!want_code || strcmp(code, want_code) == 0)
                       : st != 0 && st != 401 && st != 403; /* want 0: admitted */
    if (!ok) {
        char expected[64];
        if (want > 0) {
            snprintf(expected, sizeof expected, "%ld %s", want, want_code ? want_code : "");
        } else {
            snprintf(expected, sizeof expected, "an answer other than 401 and 403");
        }
        snprintf(err, errlen, "%s %s as %s: expected %s, got %ld %s", method, path,
                 role == VX_ROLE_OPEN ? "anonymous" : vx_role_name(role), expected, st, code);
        return -1;
    }
    return 0;
}

/* Why this is long: it is the whole contract of the route tables in one list of checks, each
 * of which stops the walk with its own message. */
int
vt_roles_walk(uint16_t port, const struct vx_http_route_def *table, size_t n, char *err,
              size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        const struct vx_http_route_def *t = &table[i];
        char path[512];
        vt_roles_fill(t->pattern, path, sizeof path);
        if (t->role < VX_ROLE_VIEWER || t->role > VX_ROLE_ADMIN) {
            snprintf(err, errlen, "%s %s declares no role", t->method, t->pattern);
            return -1;
        }
        if (s_expect(port, t->method, path, VX_ROLE_OPEN, 401, "unauthenticated", err, errlen) <
            0) {
            return -1;
        }
        for (enum vx_role below = VX_ROLE_VIEWER; below < t->role; below++) {
            if (s_expect(port, t->method, path, below, 403, "forbidden", err, errlen) < 0) {
                return -1;
            }
        }
        if (s_expect(port, t->method, path, t->role, 0, NULL, err, errlen) < 0) {
            return -1;
        }
    }
    /* Built-ins and the configuration routes every daemon gets from vx_daemon. */
    if (s_expect(port, "GET", "/health", VX_ROLE_OPEN, 200, NULL, err, errlen) < 0 ||
        s_expect(port, "GET", "/ready", VX_ROLE_OPEN, 200, NULL, err, errlen) < 0 ||
        s_expect(port, "GET", "/metrics", VX_ROLE_OPEN, 401, "unauthenticated", err, errlen) <
            0 ||
        s_expect(port, "GET", "/metrics", VX_ROLE_VIEWER, 200, NULL, err, errlen) < 0 ||
        s_expect(port, "GET", "/v1/config", VX_ROLE_OPEN, 401, "unauthenticated", err, errlen) <
            0 ||
        s_expect(port, "GET", "/v1/config", VX_ROLE_VIEWER, 403, "forbidden", err, errlen) < 0 ||
        s_expect(port, "GET", "/v1/config", VX_ROLE_OPERATOR, 200, NULL, err, errlen) < 0 ||
        s_expect(port, "PUT", "/v1/config", VX_ROLE_OPERATOR, 403, "forbidden", err, errlen) <
            0 ||
        s_expect(port, "PUT", "/v1/config", VX_ROLE_ADMIN, 0, NULL, err, errlen) < 0) {
        return -1;
    }
    return (int)n;
}

int
vt_roles_run(const char *dir, const char *program, const char *yaml, uint16_t port,
             const struct vt_route_table *tables, size_t n_tables, char *err, size_t errlen)
{
    char log[400];
    pid_t pid = vt_roles_spawn(dir, program, yaml, port, log, sizeof log);
    if (pid <= 0) {
        snprintf(err, errlen, "%s not ready; log in %s", program, log);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < n_tables && rc == 0; i++) {
        char why[512] = "";
        if (vt_roles_walk(port, tables[i].rows, tables[i].n, why, sizeof why) !=
            (int)tables[i].n) {
            snprintf(err, errlen, "%s (log in %s)", why, log);
            rc = -1;
        }
    }
    int status = vt_stop(pid, SIGTERM, 20000);
    if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        snprintf(err, errlen, "%s exit status %d; log in %s", program, status, log);
        rc = -1;
    }
    return rc;
}
