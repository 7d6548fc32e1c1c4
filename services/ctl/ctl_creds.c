/* SPDX-License-Identifier: Apache-2.0 */
/* vexfsctl creds: the credentials file daemons check REST calls against (vx_creds.h), and
 * vexfsctl audit: checking an audit log (vx_audit.h).
 *
 *   creds add NAME --role ROLE [--tenants LIST] [--cert-cn CN] [--token-file F] [--file F]
 *   creds list [--file F]
 *   creds revoke NAME [--file F]
 *   audit verify LOG [--public-key PUB]
 *   audit keygen DIR [NAME]
 *
 * The file is rewritten whole (to a temporary file, fsynced, renamed), so a daemon that
 * rereads it on change never sees half of it. Tokens are printed once and stored as SHA-256
 * only. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_opts.h"
#include "ctl_out.h"
#include "vx_audit.h"
#include "vx_creds.h"
#include "vx_jsonfile.h"
#include "vx_yaml.h"

#define S_CMD "creds"
#define S_DEFAULT_FILE "/etc/vexfs/credentials.yaml"

static void
s_usage(FILE *f, void *arg)
{
    (void)arg;
    fprintf(f,
            "usage: " CTL_PROG " creds add NAME --role ROLE [--tenants LIST] [--cert-cn CN]\n"
            "                          [--token-file F] [--file F]\n"
            "       " CTL_PROG " creds list [--file F]\n"
            "       " CTL_PROG " creds revoke NAME [--file F]\n\n"
            "The credentials the daemons accept on their REST APIs (security.credentials_file;\n"
            "daemons reread it when it changes). ROLE: viewer, operator or admin. LIST: the\n"
            "tenants the credential acts for, comma-separated, or * (default *). add creates a\n"
            "random bearer token and prints it once on stdout (or writes it, mode 0600, to\n"
            "--token-file); the file keeps only its SHA-256. --cert-cn also accepts a TLS client\n"
            "certificate with that common name.\n\n"
            "  -f, --file F   the credentials file (default $VEXFS_SECURITY_CREDENTIALS_FILE or\n"
            "                 " S_DEFAULT_FILE ")\n");
}

static const char *
s_default_file(void)
{
    const char *e = getenv("VEXFS_SECURITY_CREDENTIALS_FILE");
    return e && e[0] ? e : S_DEFAULT_FILE;
}

/* The file's document, or an empty one when there is no file yet. */
static json_t *
s_load(const char *path)
{
    if (access(path, F_OK) < 0 && errno == ENOENT) {
        return json_pack("{s:[]}", "credentials");
    }
    char err[1024];
    json_t *doc = vx_yaml_load_file(path, err, sizeof err);
    if (!doc) {
        ctl_err(S_CMD, "%s", err);
        return NULL;
    }
    vx_creds_t *check = vx_creds_from_json(doc, path, err, sizeof err);
    if (!check) {
        ctl_err(S_CMD, "%s", err);
        json_decref(doc);
        return NULL;
    }
    vx_creds_destroy(&check);
    return doc;
}

/* Validates the new document as a daemon would, then writes it durably (mode 0600). */
static int
s_save(const char *path, json_t *doc)
{
    char err[1024];
    vx_creds_t *check = vx_creds_from_json(doc, path, err, sizeof err);
    if (!check) {
        ctl_err(S_CMD, "%s", err);
        return CTL_EXIT_USAGE;
    }
    vx_creds_destroy(&check);
    int rc = vx_jsonfile_write(path, doc);
    if (rc < 0) {
        ctl_err(S_CMD, "%s: %s", path, strerror(-rc));
        return CTL_EXIT_FAIL;
    }
    return CTL_EXIT_OK;
}

static int
s_add(const char *path, const char *name, const char *role, const char *tenants,
      const char *cn, const char *token_file)
{
    enum vx_role r;
    if (!role || vx_role_parse(role, &r) < 0) {
        ctl_err(S_CMD, "--role: viewer, operator or admin");
        return CTL_EXIT_USAGE;
    }
    json_t *doc = s_load(path);
    if (!doc) {
        return CTL_EXIT_FAIL;
    }
    vx_crypto_init();
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    char token[65], hash[65];
    sodium_bin2hex(token, sizeof token, raw, sizeof raw);
    vx_sha256_hex(token, strlen(token), hash);
    json_t *list = json_array();
    char *copy = strdup(tenants ? tenants : "*");
    for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        json_array_append_new(list, json_string(t));
    }
    free(copy);
    json_t *entry = json_pack("{s:s, s:s, s:o, s:s}", "name", name, "role", role, "tenants", list,
                              "token_sha256", hash);
    if (cn) {
        json_object_set_new(entry, "certificate_cn", json_string(cn));
    }
    json_array_append_new(json_object_get(doc, "credentials"), entry);
    int rc = s_save(path, doc);
    json_decref(doc);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    if (token_file) {
        FILE *f = fopen(token_file, "wx");
        if (!f || fchmod(fileno(f), 0600) < 0 || fprintf(f, "%s\n", token) < 0 || fclose(f)) {
            ctl_err(S_CMD, "--token-file %s: %s (the credential was added; revoke it and add it "
                           "again)", token_file, strerror(errno));
            return CTL_EXIT_FAIL;
        }
        fprintf(stderr, "credential %s added; its token is in %s\n", name, token_file);
    } else {
        printf("%s\n", token);
        fprintf(stderr, "credential %s added; the token above is shown only once\n", name);
    }
    sodium_memzero(token, sizeof token);
    return CTL_EXIT_OK;
}

static int
s_list(const char *path)
{
    json_t *doc = s_load(path);
    if (!doc) {
        return CTL_EXIT_FAIL;
    }
    json_t *list = json_object_get(doc, "credentials");
    size_t i;
    json_t *e;
    if (json_array_size(list) == 0) {
        printf("none\n");
    } else {
        printf("%-24s %-9s %-28s %s\n", "NAME", "ROLE", "TENANTS", "PROVES WITH");
    }
    json_array_foreach(list, i, e) {
        char tenants[256] = "";
        size_t k;
        json_t *t;
        json_array_foreach(json_object_get(e, "tenants"), k, t) {
            size_t n = strlen(tenants);
            snprintf(tenants + n, sizeof tenants - n, "%s%s", k ? "," : "", json_string_value(t));
        }
        bool token = json_object_get(e, "token_sha256") != NULL;
        const char *cn = json_string_value(json_object_get(e, "certificate_cn"));
        char how[200];
        snprintf(how, sizeof how, "%s%s%s%s", token ? "token" : "", token && cn ? ", " : "",
                 cn ? "certificate " : "", cn ? cn : "");
        printf("%-24s %-9s %-28s %s\n", json_string_value(json_object_get(e, "name")),
               json_string_value(json_object_get(e, "role")), tenants, how);
    }
    json_decref(doc);
    return CTL_EXIT_OK;
}

static int
s_revoke(const char *path, const char *name)
{
    json_t *doc = s_load(path);
    if (!doc) {
        return CTL_EXIT_FAIL;
    }
    json_t *list = json_object_get(doc, "credentials");
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        const char *n = json_string_value(json_object_get(e, "name"));
        if (n && strcmp(n, name) == 0) {
            json_array_remove(list, i);
            int rc = s_save(path, doc);
            json_decref(doc);
            if (rc == CTL_EXIT_OK) {
                fprintf(stderr, "credential %s revoked\n", name);
            }
            return rc;
        }
    }
    json_decref(doc);
    ctl_err(S_CMD, "%s: no credential named %s", path, name);
    return CTL_EXIT_FAIL;
}

int
ctl_creds_main(int argc, char **argv)
{
    static const struct option own[] = {
        {"file", required_argument, NULL, 'f'},
        {"role", required_argument, NULL, 'r'},
        {"tenants", required_argument, NULL, 't'},
        {"cert-cn", required_argument, NULL, 'c'},
        {"token-file", required_argument, NULL, 'T'},
        {NULL, 0, NULL, 0},
    };
    const char *file = s_default_file(), *role = NULL, *tenants = NULL, *cn = NULL;
    const char *token_file = NULL;
    const struct ctl_optdst dst[] = {
        {'f', &file},
        {'r', &role},
        {'t', &tenants},
        {'c', &cn},
        {'T', &token_file},
        {0, NULL},
    };
    int code;
    if (!ctl_opts_parse_strings(S_CMD, own, "f:r:t:c:T:", dst, s_usage, argc, argv,
                                &code)) {
        return code;
    }
    int n = argc - optind;
    const char *verb = n > 0 ? argv[optind] : "";
    if (strcmp(verb, "add") == 0 && n == 2) {
        return s_add(file, argv[optind + 1], role, tenants, cn, token_file);
    }
    if (strcmp(verb, "list") == 0 && n == 1) {
        return s_list(file);
    }
    if (strcmp(verb, "revoke") == 0 && n == 2) {
        return s_revoke(file, argv[optind + 1]);
    }
    ctl_err(S_CMD, "expected add NAME, list or revoke NAME (see --help)");
    return CTL_EXIT_USAGE;
}

static void
s_audit_usage(FILE *f, void *arg)
{
    (void)arg;
    fprintf(f, "usage: " CTL_PROG " audit verify LOG [--public-key PUB]\n"
               "       " CTL_PROG " audit keygen DIR [NAME]\n\n"
               "verify checks a daemon's audit log: the hash chain of its lines and the\n"
               "signatures of its checkpoints (with PUB, the daemon's audit.pub; without, only\n"
               "against the key each checkpoint names). Exit status 0 when intact, 1 naming the\n"
               "first line that was changed, removed or reordered, or where the file was cut.\n"
               "keygen writes DIR/NAME.key (0600) and DIR/NAME.pub (default NAME: audit).\n");
}

int
ctl_audit_main(int argc, char **argv)
{
    static const struct option own[] = {
        {"public-key", required_argument, NULL, 'p'},
        {NULL, 0, NULL, 0},
    };
    const char *pub = NULL;
    const struct ctl_optdst dst[] = {
        {'p', &pub},
        {0, NULL},
    };
    int code;
    if (!ctl_opts_parse_strings("audit", own, "p:", dst, s_audit_usage, argc, argv,
                                &code)) {
        return code;
    }
    int n = argc - optind;
    const char *verb = n > 0 ? argv[optind] : "";
    char err[1024];
    if (strcmp(verb, "verify") == 0 && n == 2) {
        size_t lines = 0;
        int rc = vx_audit_verify(argv[optind + 1], pub, &lines, err, sizeof err);
        if (rc == 0) {
            char count[64];
            printf("%s: %s, chain and signatures intact%s\n", argv[optind + 1],
                   ctl_out_count((long long)lines, "line", "lines", count, sizeof count),
                   pub ? "" : " (signatures checked against the keys the log names)");
            return CTL_EXIT_OK;
        }
        fprintf(stderr, CTL_PROG " audit: %s: %s\n", argv[optind + 1], err);
        return CTL_EXIT_FAIL;
    }
    if (strcmp(verb, "keygen") == 0 && (n == 2 || n == 3)) {
        const char *name = n == 3 ? argv[optind + 2] : "audit";
        if (vx_audit_keygen(argv[optind + 1], name, err, sizeof err) < 0) {
            ctl_err("audit", "%s", err);
            return CTL_EXIT_FAIL;
        }
        printf("%s/%s.key\n%s/%s.pub\n", argv[optind + 1], name, argv[optind + 1], name);
        return CTL_EXIT_OK;
    }
    ctl_err("audit", "expected verify LOG or keygen DIR (see --help)");
    return CTL_EXIT_USAGE;
}
