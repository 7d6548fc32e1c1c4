/* SPDX-License-Identifier: Apache-2.0 */
/* Credentials: who may call a daemon's REST API, with which role, for which tenants.
 *
 * A credentials file (security.credentials_file; YAML or JSON) lists them:
 *
 *     credentials:
 *       - name: alice                # shown in the audit log
 *         role: operator             # viewer < operator < admin
 *         tenants: [acme]            # the tenants it acts for; ["*"]: every tenant
 *         token_sha256: 5e88...      # SHA-256 (hex) of its bearer token: tokens are never stored
 *       - name: ops-console
 *         role: admin
 *         tenants: ["*"]
 *         certificate_cn: ops        # a TLS client certificate (mutual TLS) with this name
 *
 * A credential has a token hash, a certificate name, or both. vexfsctl creds add/list/revoke
 * edit the file; a daemon rereads it on SIGHUP and when it changes (vx_daemon.c). */
#ifndef VX_CREDS_H
#define VX_CREDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum vx_role {
    VX_ROLE_OPEN = 0,     /* no credential needed (/health, /ready) */
    VX_ROLE_VIEWER = 1,   /* reads */
    VX_ROLE_OPERATOR = 2, /* writes of objects: rules, patterns, workflows, queries, events */
    VX_ROLE_ADMIN = 3,    /* configuration, membership, credentials, acting for any tenant */
};

/* "viewer", ...; NULL for VX_ROLE_OPEN. */
const char *vx_role_name(enum vx_role r);
int vx_role_parse(const char *name, enum vx_role *out);

#define VX_CREDS_NAME_MAX 128
#define VX_CREDS_TENANTS_MAX 64

struct vx_cred {
    char name[VX_CREDS_NAME_MAX + 1];
    enum vx_role role;
    bool any_tenant;
    char *tenants[VX_CREDS_TENANTS_MAX];
    size_t n_tenants;
    bool has_token;
    unsigned char token_sha256[32];
    char certificate_cn[VX_CREDS_NAME_MAX + 1]; /* "" when none */
};

typedef struct vx_creds vx_creds_t;

/* Parses a credentials document (borrowed). Returns NULL with a message naming the entry. */
vx_creds_t *vx_creds_from_json(json_t *doc, const char *source, char *err, size_t errlen);
/* Loads a file. */
vx_creds_t *vx_creds_load(const char *path, char *err, size_t errlen);
/* A set of one admin credential ("admin", every tenant) for a bare token (admin.token_file). */
vx_creds_t *vx_creds_single_admin(const char *token);
void vx_creds_destroy(vx_creds_t **c);

/* The credential a bearer token belongs to (compared in constant time), or NULL. Borrowed,
 * valid while c lives. */
const struct vx_cred *vx_creds_by_token(const vx_creds_t *c, const char *token);
/* The credential of a verified client certificate's common name, or NULL. */
const struct vx_cred *vx_creds_by_cn(const vx_creds_t *c, const char *cn);
size_t vx_creds_count(const vx_creds_t *c);

/* Whether cred may act for tenant. */
bool vx_cred_allows_tenant(const struct vx_cred *cred, const char *tenant);

/* Prepares libsodium (idempotent, thread-safe); aborts when the system has no randomness. */
void vx_crypto_init(void);

/* SHA-256 of text as 64 lowercase hex digits and NUL. */
void vx_sha256_hex(const void *data, size_t len, char out[65]);

#endif
