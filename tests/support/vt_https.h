/* SPDX-License-Identifier: Apache-2.0 */
/* Test support: one HTTPS (or HTTP) request with everything the admin server's credentials
 * look at: a bearer token, a client certificate, a tenant header, the authority to verify the
 * server with. */
#ifndef VT_HTTPS_H
#define VT_HTTPS_H

#include <stddef.h>
#include <stdint.h>

#include "vx_test.h"

struct vt_https_req {
    const char *method;   /* default GET */
    uint16_t port;
    const char *path;
    const char *body;     /* NULL: none */
    const char *token;    /* "Authorization: Bearer <token>" when not NULL */
    const char *tenant;   /* "X-VexFS-Tenant: <tenant>" when not NULL ("" sends it empty) */
    const char *ca_file;  /* NULL: plain HTTP; else https:// verified with this authority */
    const char *cert_file; /* client certificate and key (PEM files), or NULL */
    const char *key_file;
    long timeout_ms;      /* default 10,000 */
    const char *if_match; /* "If-Match: <if_match>" when not NULL */
    char *etag_out;       /* when not NULL: the answer's ETag, "" when none (VT_ETAG_LEN bytes) */
};

#define VT_ETAG_LEN 128

/* Performs the request on 127.0.0.1. Returns 0 when an answer came (out->status set), or
 * -EIO with curl's reason in out->body. Free out with vt_http_result_fini. */
int vt_https(const struct vt_https_req *rq, struct vt_http_result *out);

#endif
