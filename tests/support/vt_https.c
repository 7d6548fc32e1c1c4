/* SPDX-License-Identifier: Apache-2.0 */
/* Test support: one HTTPS request with a token, a client certificate and a tenant. */
#include "vt_https.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct s_sink {
    char *data;
    size_t len;
};

static size_t
cb_sink(char *p, size_t sz, size_t n, void *arg)
{
    struct s_sink *b = arg;
    size_t len = sz * n;
    char *d = realloc(b->data, b->len + len + 1);
    if (!d) {
        return 0;
    }
    memcpy(d + b->len, p, len);
    b->data = d;
    b->len += len;
    b->data[b->len] = '\0';
    return len;
}

/* Copies the ETag header's value into the buffer arg (VT_ETAG_LEN bytes). */
static size_t
cb_header(char *p, size_t sz, size_t n, void *arg)
{
    size_t len = sz * n;
    if (len > 5 && strncasecmp(p, "ETag:", 5) == 0) {
        size_t off = 5, end = len;
        while (off < end && p[off] == ' ') {
            off++;
        }
        while (end > off && (p[end - 1] == '\r' || p[end - 1] == '\n' || p[end - 1] == ' ')) {
            end--;
        }
        snprintf(arg, VT_ETAG_LEN, "%.*s", (int)(end - off), p + off);
    }
    return len;
}

int
vt_https(const struct vt_https_req *rq, struct vt_http_result *out)
{
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    if (!c) {
        return -ENOMEM;
    }
    char url[1024], auth[600], tenant[600];
    snprintf(url, sizeof url, "%s://127.0.0.1:%u%s", rq->ca_file ? "https" : "http",
             (unsigned)rq->port, rq->path);
    struct s_sink buf = {calloc(1, 1), 0};
    struct curl_slist *hdrs = NULL;
    if (rq->token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", rq->token);
        hdrs = curl_slist_append(hdrs, auth);
    }
    if (rq->tenant) {
        /* "Name;" is curl's way to send a header with an empty value. */
        snprintf(tenant, sizeof tenant, rq->tenant[0] ? "X-VexFS-Tenant: %s" : "X-VexFS-Tenant;",
                 rq->tenant);
        hdrs = curl_slist_append(hdrs, tenant);
    }
    char im[600];
    if (rq->if_match) {
        snprintf(im, sizeof im, "If-Match: %s", rq->if_match);
        hdrs = curl_slist_append(hdrs, im);
    }
    if (rq->etag_out) {
        rq->etag_out[0] = '\0';
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, cb_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, rq->etag_out);
    }
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq->method ? rq->method : "GET");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, cb_sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &buf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, rq->timeout_ms ? rq->timeout_ms : 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (rq->ca_file) {
        curl_easy_setopt(c, CURLOPT_CAINFO, rq->ca_file);
    }
    if (rq->cert_file) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, rq->cert_file);
        curl_easy_setopt(c, CURLOPT_SSLKEY, rq->key_file);
    }
    if (rq->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(rq->body));
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
        char *ct = NULL;
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
        out->content_type = ct ? strdup(ct) : NULL;
        out->body = buf.data;
        out->len = buf.len;
    } else {
        free(buf.data);
        out->body = strdup(curl_easy_strerror(rc));
        out->len = strlen(out->body);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return rc == CURLE_OK ? 0 : -EIO;
}
