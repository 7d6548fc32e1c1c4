/* SPDX-License-Identifier: Apache-2.0 */
/* Credentials (see vx_creds.h). */
#include "vx_creds.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vx_mem.h"
#include "vx_yaml.h"

struct vx_creds {
    struct vx_cred *c;
    size_t n;
};

static const char *const s_roles[] = {
    [VX_ROLE_OPEN] = NULL,
    [VX_ROLE_VIEWER] = "viewer",
    [VX_ROLE_OPERATOR] = "operator",
    [VX_ROLE_ADMIN] = "admin",
};

void
vx_crypto_init(void)
{
    /* Idempotent and thread-safe; fails only without a source of randomness, which no key or
     * token of the suite can do without. */
    if (sodium_init() < 0) {
        fprintf(stderr, "%s:%d: libsodium cannot initialise (no randomness source)\n", __FILE__,
                __LINE__);
        abort();
    }
}

const char *
vx_role_name(enum vx_role r)
{
    return (unsigned)r <= VX_ROLE_ADMIN ? s_roles[r] : NULL;
}

int
vx_role_parse(const char *name, enum vx_role *out)
{
    for (int r = VX_ROLE_VIEWER; r <= VX_ROLE_ADMIN; r++) {
        if (strcmp(s_roles[r], name) == 0) {
            *out = (enum vx_role)r;
            return 0;
        }
    }
    return -EINVAL;
}

void
vx_sha256_hex(const void *data, size_t len, char out[65])
{
    vx_crypto_init();
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, data, len);
    sodium_bin2hex(out, 65, h, sizeof h);
}

void
vx_creds_destroy(vx_creds_t **cp)
{
    if (!cp || !*cp) {
        return;
    }
    vx_creds_t *c = *cp;
    for (size_t i = 0; i < c->n; i++) {
        for (size_t k = 0; k < c->c[i].n_tenants; k++) {
            free(c->c[i].tenants[k]);
        }
    }
    free(c->c);
    vx_free(cp);
}

static int
s_fail(char *err, size_t errlen, const char *source, size_t i, const char *what)
{
    snprintf(err, errlen, "%s: credentials[%zu]: %s", source, i, what);
    return -EINVAL;
}

/* Fills one credential from its JSON object. */
static int
s_parse_one(struct vx_cred *cr, json_t *o, const char *source, size_t i, char *err,
            size_t errlen)
{
    if (!json_is_object(o)) {
        return s_fail(err, errlen, source, i, "expected a mapping");
    }
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        if (strcmp(key, "name") != 0 && strcmp(key, "role") != 0 &&
            strcmp(key, "tenants") != 0 && strcmp(key, "token_sha256") != 0 &&
            strcmp(key, "certificate_cn") != 0) {
            char what[200];
            snprintf(what, sizeof what,
                     "%.64s: unknown key (name, role, tenants, token_sha256, certificate_cn)",
                     key);
            return s_fail(err, errlen, source, i, what);
        }
    }
    const char *name = json_string_value(json_object_get(o, "name"));
    if (!name || !name[0] || strlen(name) > VX_CREDS_NAME_MAX) {
        return s_fail(err, errlen, source, i, "name: a string of 1 to 128 characters");
    }
    snprintf(cr->name, sizeof cr->name, "%s", name);
    const char *role = json_string_value(json_object_get(o, "role"));
    if (!role || vx_role_parse(role, &cr->role) < 0) {
        return s_fail(err, errlen, source, i, "role: viewer, operator or admin");
    }
    json_t *t = json_object_get(o, "tenants");
    if (!json_is_array(t) || json_array_size(t) == 0 ||
        json_array_size(t) > VX_CREDS_TENANTS_MAX) {
        return s_fail(err, errlen, source, i, "tenants: a list of 1 to 64 tenant names or \"*\"");
    }
    size_t k;
    json_t *e;
    json_array_foreach(t, k, e) {
        const char *s = json_string_value(e);
        if (!s || !s[0] || strlen(s) > 256) {
            return s_fail(err, errlen, source, i, "tenants: names of 1 to 256 characters");
        }
        if (strcmp(s, "*") == 0) {
            cr->any_tenant = true;
        } else {
            cr->tenants[cr->n_tenants++] = vx_strdup(s);
        }
    }
    const char *hex = json_string_value(json_object_get(o, "token_sha256"));
    if (hex) {
        size_t bin_len = 0;
        if (strlen(hex) != 64 || sodium_hex2bin(cr->token_sha256, sizeof cr->token_sha256, hex,
                                                64, NULL, &bin_len, NULL) != 0 ||
            bin_len != 32) {
            return s_fail(err, errlen, source, i, "token_sha256: 64 hex digits");
        }
        cr->has_token = true;
    }
    const char *cn = json_string_value(json_object_get(o, "certificate_cn"));
    if (cn) {
        if (!cn[0] || strlen(cn) > VX_CREDS_NAME_MAX) {
            return s_fail(err, errlen, source, i, "certificate_cn: 1 to 128 characters");
        }
        snprintf(cr->certificate_cn, sizeof cr->certificate_cn, "%s", cn);
    }
    if (!cr->has_token && !cr->certificate_cn[0]) {
        return s_fail(err, errlen, source, i, "needs token_sha256, certificate_cn or both");
    }
    return 0;
}

vx_creds_t *
vx_creds_from_json(json_t *doc, const char *source, char *err, size_t errlen)
{
    vx_crypto_init();
    json_t *list = json_object_get(doc, "credentials");
    if (!json_is_object(doc) || json_object_size(doc) != 1 || !json_is_array(list)) {
        snprintf(err, errlen, "%s: expected one key, credentials, holding a list", source);
        return NULL;
    }
    vx_creds_t *c = vx_calloc(1, sizeof *c);
    c->c = vx_calloc(json_array_size(list) + 1, sizeof *c->c);
    size_t i;
    json_t *o;
    json_array_foreach(list, i, o) {
        struct vx_cred *cr = &c->c[c->n++];
        if (s_parse_one(cr, o, source, i, err, errlen) < 0) {
            vx_creds_destroy(&c);
            return NULL;
        }
        for (size_t j = 0; j + 1 < c->n; j++) {
            const struct vx_cred *prev = &c->c[j];
            bool dup = strcmp(prev->name, cr->name) == 0 ||
                       (cr->has_token && prev->has_token &&
                        memcmp(prev->token_sha256, cr->token_sha256, 32) == 0) ||
                       (cr->certificate_cn[0] &&
                        strcmp(prev->certificate_cn, cr->certificate_cn) == 0);
            if (dup) {
                s_fail(err, errlen, source, i,
                       "the same name, token or certificate as an earlier credential");
                vx_creds_destroy(&c);
                return NULL;
            }
        }
    }
    return c;
}

vx_creds_t *
vx_creds_load(const char *path, char *err, size_t errlen)
{
    json_t *doc = vx_yaml_load_file(path, err, errlen);
    if (!doc) {
        return NULL;
    }
    vx_creds_t *c = vx_creds_from_json(doc, path, err, errlen);
    json_decref(doc);
    return c;
}

vx_creds_t *
vx_creds_single_admin(const char *token)
{
    vx_crypto_init();
    vx_creds_t *c = vx_calloc(1, sizeof *c);
    c->c = vx_calloc(1, sizeof *c->c);
    c->n = 1;
    snprintf(c->c[0].name, sizeof c->c[0].name, "admin");
    c->c[0].role = VX_ROLE_ADMIN;
    c->c[0].any_tenant = true;
    c->c[0].has_token = true;
    crypto_hash_sha256(c->c[0].token_sha256, (const unsigned char *)token, strlen(token));
    return c;
}

const struct vx_cred *
vx_creds_by_token(const vx_creds_t *c, const char *token)
{
    unsigned char h[32];
    crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
    const struct vx_cred *found = NULL;
    /* Every entry is compared, in constant time, so timing does not tell how far a guess got. */
    for (size_t i = 0; i < c->n; i++) {
        if (c->c[i].has_token && sodium_memcmp(h, c->c[i].token_sha256, 32) == 0) {
            found = &c->c[i];
        }
    }
    return found;
}

const struct vx_cred *
vx_creds_by_cn(const vx_creds_t *c, const char *cn)
{
    for (size_t i = 0; i < c->n; i++) {
        if (c->c[i].certificate_cn[0] && strcmp(c->c[i].certificate_cn, cn) == 0) {
            return &c->c[i];
        }
    }
    return NULL;
}

size_t
vx_creds_count(const vx_creds_t *c)
{
    return c->n;
}

bool
vx_cred_allows_tenant(const struct vx_cred *cred, const char *tenant)
{
    if (cred->any_tenant) {
        return true;
    }
    for (size_t i = 0; i < cred->n_tenants; i++) {
        if (strcmp(cred->tenants[i], tenant) == 0) {
            return true;
        }
    }
    return false;
}
