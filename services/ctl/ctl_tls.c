/* SPDX-License-Identifier: Apache-2.0 */
/* vexfsctl's HTTPS settings, the same for every command: the authority that verifies the
 * suite's servers and the client certificate presented to them (a credential by its name, and
 * what mutual TLS asks for).
 *
 * Taken from the environment, first match wins per file:
 *   VEXFS_CA_FILE, VEXFS_CERT_FILE, VEXFS_KEY_FILE         explicit files
 *   VEXFS_SECURITY_TLS_DIR                                  <dir>/ca.crt, <dir>/ctl.crt, ctl.key
 *                                                          (vexfsctl certs init's layout; the
 *                                                          daemons read the same variable)
 * A client certificate is presented only when both of its files exist; VEXFS_CERT_FILE=none
 * presents none (a bearer token is then the only credential). Without an authority
 * libcurl's system store verifies the server; verification is never turned off. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

struct s_tls_files {
    char ca[4200], cert[4200], key[4200];
};

static void
s_pick(char *out, size_t len, const char *env, const char *dir, const char *name)
{
    const char *v = getenv(env);
    out[0] = '\0';
    if (v && v[0]) {
        snprintf(out, len, "%s", v);
    } else if (dir && dir[0]) {
        snprintf(out, len, "%s/%s", dir, name);
        if (access(out, R_OK) != 0) {
            out[0] = '\0';
        }
    }
}

static const struct s_tls_files *
s_files(void)
{
    static struct s_tls_files f;
    static bool loaded;
    if (!loaded) {
        const char *dir = getenv("VEXFS_SECURITY_TLS_DIR");
        s_pick(f.ca, sizeof f.ca, "VEXFS_CA_FILE", dir, "ca.crt");
        s_pick(f.cert, sizeof f.cert, "VEXFS_CERT_FILE", dir, "ctl.crt");
        s_pick(f.key, sizeof f.key, "VEXFS_KEY_FILE", dir, "ctl.key");
        if (!f.cert[0] || !f.key[0] || strcmp(f.cert, "none") == 0) {
            f.cert[0] = f.key[0] = '\0';
        }
        loaded = true;
    }
    return &f;
}

void
ctl_tls_apply(void *curl)
{
    const struct s_tls_files *f = s_files();
    if (f->ca[0]) {
        curl_easy_setopt(curl, CURLOPT_CAINFO, f->ca);
    }
    if (f->cert[0]) {
        curl_easy_setopt(curl, CURLOPT_SSLCERT, f->cert);
        curl_easy_setopt(curl, CURLOPT_SSLKEY, f->key);
    }
}
