/* SPDX-License-Identifier: Apache-2.0 */
/* Test support: walking a daemon's REST route table against the running daemon, so every
 * route's declared role is checked over real HTTPS, and a route added without the right role
 * (or answered before the credential check) fails the test that walks its table.
 *
 * The daemon is started with the credentials file vt_roles_creds writes (its path given in
 * VEXFS_SECURITY_CREDENTIALS_FILE, which overrides the file's key): the client certificate
 * "test" is an admin of every tenant, and two bearer tokens name a viewer and an operator. */
#ifndef VT_ROLES_H
#define VT_ROLES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vx_http.h"

#define VT_ROLES_VIEWER_TOKEN "viewer-token-0123456789"
#define VT_ROLES_OPERATOR_TOKEN "operator-token-0123456789"

/* Writes <dir>/credentials.yaml (admin "test" by certificate, viewer "watcher" and operator
 * "writer" by token) and fills env (envlen bytes) with the
 * VEXFS_SECURITY_CREDENTIALS_FILE=... entry to start the daemon with. Returns 0 or -errno. */
int vt_roles_creds(const char *dir, char *env, size_t envlen);

/* Writes yaml to <dir>/vexfs.yaml and the credentials of vt_roles_creds, starts
 * <bin dir>/<program> with both, stderr to <dir>/<program>.log (its path in log), and waits
 * up to 20 s for /ready on port. Returns the pid, or -1 (the process, if any, killed and
 * reaped) with the reason in log's place too. */
pid_t vt_roles_spawn(const char *dir, const char *program, const char *yaml, uint16_t port,
                     char *log, size_t loglen);

/* A status of one request to the daemon on port as a role: VX_ROLE_OPEN sends no credential,
 * viewer and operator their token, admin the certificate "test". code (codelen bytes, may be
 * NULL) receives the error code of a JSON error body, or "". Returns the HTTP status, 0 when
 * no answer came. */
long vt_roles_call(uint16_t port, const char *method, const char *path, enum vx_role role,
                   char *code, size_t codelen);

/* The route's pattern with every {name} segment filled ("{id}" -> "999", others "x"), so the
 * request matches the route but names nothing that exists. */
void vt_roles_fill(const char *pattern, char *out, size_t outlen);

/* Walks table[0..n) against the daemon on port: every row declares viewer or more; without a
 * credential 401 unauthenticated; with the role just below the route's (viewer for operator
 * routes, operator for admin routes) 403 forbidden, and viewer below admin routes too; with
 * exactly the route's role neither 401 nor 403 (whatever its handler then says: no body is
 * sent, so nothing changes). Then the built-ins and vx_daemon's configuration routes: /health
 * and /ready open, /metrics 401 anonymous and 200 for a viewer, GET /v1/config 403 for a viewer
 * and 200 for an operator, PUT /v1/config 403 for an operator. Returns the number of rows
 * walked, or -1 with the first difference (route, role, expected and actual) in err. */
int vt_roles_walk(uint16_t port, const struct vx_http_route_def *table, size_t n, char *err,
                  size_t errlen);

/* One route table of a daemon (a daemon may serve several). */
struct vt_route_table {
    const struct vx_http_route_def *rows;
    size_t n;
};

/* The whole check of a daemon's routes: starts program with yaml in dir (vt_roles_spawn),
 * walks each of tables[0..n_tables) (vt_roles_walk), then stops it with SIGTERM, which must end
 * it with exit 0. Returns 0, or -1 with what went wrong and where the daemon's log is in err. */
int vt_roles_run(const char *dir, const char *program, const char *yaml, uint16_t port,
                 const struct vt_route_table *tables, size_t n_tables, char *err, size_t errlen);

#endif
