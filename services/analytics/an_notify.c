/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP GET/POST and SMTP with libcurl for the monitor. */
#include "an_notify.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "vx_mem.h"

struct s_buf {
    char *data;
    size_t len, cap;
    bool over;
};

static size_t
cb_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct s_buf *b = arg;
    size_t n = size * nmemb;
    if (b->len + n > AN_FETCH_MAX) {
        b->over = true;
        return 0; /* aborts the transfer */
    }
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->data = vx_realloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static size_t
cb_discard(char *ptr, size_t size, size_t nmemb, void *arg)
{
    (void)ptr;
    (void)arg;
    return size * nmemb;
}

static CURL *
s_easy(const char *url, long timeout_ms)
{
    CURL *c = curl_easy_init();
    if (!c) {
        return NULL;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,smtp,smtps");
    return c;
}

static struct {
    char ca[4200];
    char cert[4200];
    char key[4200];
} s_tls;

void
an_fetch_set_tls(const char *ca_file, const char *cert_file, const char *key_file)
{
    snprintf(s_tls.ca, sizeof s_tls.ca, "%s", ca_file ? ca_file : "");
    /* A deployment may give analytics no client certificate of its own: then none is shown
     * (health probes need none; scrapes then need security.metrics_open on the target). */
    bool have = cert_file && key_file && access(cert_file, R_OK) == 0 &&
                access(key_file, R_OK) == 0;
    snprintf(s_tls.cert, sizeof s_tls.cert, "%s", have ? cert_file : "");
    snprintf(s_tls.key, sizeof s_tls.key, "%s", have ? key_file : "");
}

int
an_fetch(const char *url, long timeout_ms, long *status, char **body, size_t *len, char *err,
         size_t errlen)
{
    CURL *c = s_easy(url, timeout_ms);
    if (!c) {
        snprintf(err, errlen, "curl_easy_init failed");
        return -EIO;
    }
    if (s_tls.ca[0]) {
        curl_easy_setopt(c, CURLOPT_CAINFO, s_tls.ca);
    }
    if (s_tls.cert[0] && s_tls.key[0]) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, s_tls.cert);
        curl_easy_setopt(c, CURLOPT_SSLKEY, s_tls.key);
    }
    struct s_buf b = {0};
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body ? cb_write : cb_discard);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    CURLcode rc = curl_easy_perform(c);
    int out = 0;
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s%s", b.over ? "page larger than 8 MiB: " : "",
                 curl_easy_strerror(rc));
        out = -EIO;
        free(b.data);
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
        if (body) {
            *body = b.data ? b.data : vx_strdup("");
            *len = b.len;
        }
    }
    curl_easy_cleanup(c);
    return out;
}

/* The error of a failed transfer under a policy: the refusal, or one text for any other
 * transport failure. Returns -EACCES or -EIO. */
static int
s_failed(const struct vx_netpolicy_call *call, const char *what, char *err, size_t errlen)
{
    if (call->refused != NULL) {
        snprintf(err, errlen,
                 "refused: the outbound address policy does not admit %s addresses "
                 "(monitoring.outbound_allow)",
                 call->refused);
        return -EACCES;
    }
    snprintf(err, errlen, "no %s answer (no connection, or none within the timeout)", what);
    return -EIO;
}

int
an_notify_webhook(const vx_netpolicy_t *pol, const char *url, const char *json, long timeout_ms,
                  char *err, size_t errlen)
{
    CURL *c = s_easy(url, timeout_ms);
    if (!c) {
        snprintf(err, errlen, "curl_easy_init failed");
        return -EIO;
    }
    struct vx_netpolicy_call call = {.p = pol};
    vx_netpolicy_curl(c, &call);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(json));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, cb_discard);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    int out = 0;
    if (rc != CURLE_OK) {
        out = s_failed(&call, "HTTP", err, errlen);
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (status < 200 || status > 299) {
            snprintf(err, errlen, "HTTP %ld", status);
            out = -EIO;
        }
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return out;
}

struct s_reader {
    const char *data;
    size_t len, pos;
};

static size_t
cb_read(char *buf, size_t size, size_t nmemb, void *arg)
{
    struct s_reader *r = arg;
    size_t n = size * nmemb;
    if (n > r->len - r->pos) {
        n = r->len - r->pos;
    }
    memcpy(buf, r->data + r->pos, n);
    r->pos += n;
    return n;
}

/* Appends text to the message: CR and LF of header values become spaces; in the body, every
 * line ends with CRLF (SMTP has no bare LF). */
static void
s_put(char **msg, size_t *len, size_t *cap, const char *text, bool header)
{
    for (const char *p = text; *p; p++) {
        if (*len + 3 > *cap) {
            *cap = (*len + 3) * 2;
            *msg = vx_realloc(*msg, *cap);
        }
        if (header && (*p == '\r' || *p == '\n')) {
            (*msg)[(*len)++] = ' ';
        } else if (!header && *p == '\n') {
            if (p == text || p[-1] != '\r') {
                (*msg)[(*len)++] = '\r';
            }
            (*msg)[(*len)++] = '\n';
        } else {
            (*msg)[(*len)++] = *p;
        }
    }
    (*msg)[*len] = '\0';
}

/* Builds the whole RFC 5322 message in memory (line breaks in header values become spaces,
 * so an alert's text cannot add headers; CRLF line ends in the body) and sends it in one
 * libcurl SMTP transfer restricted to smtp/smtps and the outbound policy; the error keeps the
 * server's own reply when it gave one. */
int
an_notify_email(const vx_netpolicy_t *pol, const struct an_smtp *smtp, char *const *to, size_t n,
                const char *subject, const char *body, char *err, size_t errlen)
{
    if (!smtp->url || !*smtp->url || n == 0) {
        snprintf(err, errlen, "no SMTP server or no recipient (monitoring.smtp_url, smtp_to)");
        return -EIO;
    }
    CURL *c = s_easy(smtp->url, smtp->timeout_ms);
    if (!c) {
        snprintf(err, errlen, "curl_easy_init failed");
        return -EIO;
    }
    /* only mail: a mistyped http:// URL must not turn the message into an HTTP upload */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    struct vx_netpolicy_call call = {.p = pol};
    vx_netpolicy_curl(c, &call);
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    size_t mlen = 0, mcap = 1024;
    char *msg = vx_malloc(mcap);
    msg[0] = '\0';
    s_put(&msg, &mlen, &mcap, "Date: ", true);
    s_put(&msg, &mlen, &mcap, date, true);
    s_put(&msg, &mlen, &mcap, "\r\nFrom: <", false);
    s_put(&msg, &mlen, &mcap, smtp->from, true);
    s_put(&msg, &mlen, &mcap, ">\r\nTo: ", false);
    for (size_t i = 0; i < n; i++) {
        s_put(&msg, &mlen, &mcap, i ? ", <" : "<", true);
        s_put(&msg, &mlen, &mcap, to[i], true);
        s_put(&msg, &mlen, &mcap, ">", true);
    }
    s_put(&msg, &mlen, &mcap, "\r\nSubject: ", false);
    s_put(&msg, &mlen, &mcap, subject, true);
    s_put(&msg, &mlen, &mcap,
          "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
          "Content-Transfer-Encoding: 8bit\r\n\r\n",
          false);
    s_put(&msg, &mlen, &mcap, body, false);
    s_put(&msg, &mlen, &mcap, "\n", false);
    struct curl_slist *rcpt = NULL;
    for (size_t i = 0; i < n; i++) {
        char addr[300];
        snprintf(addr, sizeof addr, "<%s>", to[i]);
        rcpt = curl_slist_append(rcpt, addr);
    }
    char from[300];
    snprintf(from, sizeof from, "<%s>", smtp->from);
    struct s_reader rd = {msg, mlen, 0};
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, cb_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &rd);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    CURLcode rc = curl_easy_perform(c);
    int out = 0;
    if (rc != CURLE_OK) {
        long code = 0; /* the server's last reply, 0 when it never answered */
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        if (code) {
            /* an SMTP server answered: its refusal is worth showing */
            snprintf(err, errlen, "%s (SMTP reply %ld)", curl_easy_strerror(rc), code);
            out = -EIO;
        } else {
            out = s_failed(&call, "SMTP", err, errlen);
        }
    }
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(c);
    free(msg);
    return out;
}
