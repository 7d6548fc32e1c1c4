/* SPDX-License-Identifier: Apache-2.0 */
/* The REST client of vexfsctl's admin commands. */
#include "ctl_rest.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_out.h"
#include "vx_config.h"
#include "vx_mem.h"

#define S_MAX_HOPS 30      /* redirects and waits for one change: about 3 s while leadership moves */
#define S_RETRY_US 100000  /* wait before asking a node again that named no other leader */

struct s_buf {
    char *data;
    size_t len;
    size_t max;
};

static size_t
cb_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct s_buf *b = arg;
    size_t n = size * nmemb;
    if (b->len + n > b->max) {
        return 0;
    }
    b->data = vx_realloc(b->data, b->len + n + 1);
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* Keeps the ETag header of the answer (the last one seen, across a redirect's answers). */
static size_t
cb_header(char *buf, size_t size, size_t nitems, void *arg)
{
    struct ctl_rest *r = arg;
    size_t n = size * nitems;
    if (n > 5 && strncasecmp(buf, "ETag:", 5) == 0) {
        size_t off = 5;
        while (off < n && (buf[off] == ' ' || buf[off] == '\t')) {
            off++;
        }
        size_t end = n;
        while (end > off && (buf[end - 1] == '\r' || buf[end - 1] == '\n' || buf[end - 1] == ' ')) {
            end--;
        }
        size_t len = end - off < sizeof r->etag - 1 ? end - off : sizeof r->etag - 1;
        memcpy(r->etag, buf + off, len);
        r->etag[len] = '\0';
    }
    return n;
}

static int
cb_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)arg;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return ctl_stop ? 1 : 0;
}

int
ctl_rest_init(struct ctl_rest *r, const char *cmd, const char *url, const char *token_file,
              long timeout_ms, size_t max_response)
{
    memset(r, 0, sizeof *r);
    r->cmd = cmd;
    r->timeout_ms = timeout_ms;
    r->max_response = max_response;
    char err[512];
    if (!token_file) {
        token_file = getenv("VEXFS_TOKEN_FILE");
    }
    r->token = vx_config_read_secret(token_file, err, sizeof err);
    if (!r->token && err[0]) {
        ctl_err(cmd, "--token-file: %s", err);
        return CTL_EXIT_USAGE;
    }
    r->base = vx_strdup(url);
    size_t blen = strlen(r->base);
    while (blen > 0 && r->base[blen - 1] == '/') {
        r->base[--blen] = '\0';
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ctl_err(cmd, "cannot initialise libcurl");
        ctl_rest_fini(r);
        return CTL_EXIT_FAIL;
    }
    return 0;
}

void
ctl_rest_fini(struct ctl_rest *r)
{
    if (r->base) {
        curl_global_cleanup();
    }
    vx_free(&r->base);
    vx_free(&r->token);
}

/* One request on url. Returns 0 with *code and *doc (parsed body or NULL; caller decrefs),
 * or -EIO after printing the transport error. */
static int
s_perform(struct ctl_rest *r, const char *method, const char *url, const char *body, long *code,
          json_t **doc)
{
    *code = 0;
    *doc = NULL;
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");
    if (r->token) {
        size_t alen = strlen(r->token) + 32;
        char *auth = vx_malloc(alen);
        snprintf(auth, alen, "Authorization: Bearer %s", r->token);
        headers = curl_slist_append(headers, auth);
        free(auth);
    }
    if (r->if_match) {
        size_t mlen = strlen(r->if_match) + 16;
        char *mh = vx_malloc(mlen);
        snprintf(mh, mlen, "If-Match: %s", r->if_match);
        headers = curl_slist_append(headers, mh);
        free(mh);
    }
    if (r->tenant) {
        size_t tlen = strlen(r->tenant) + 32;
        char *th = vx_malloc(tlen);
        snprintf(th, tlen, "X-VexFS-Tenant: %s", r->tenant);
        headers = curl_slist_append(headers, th);
        free(th);
    }
    struct s_buf resp = {NULL, 0, r->max_response};
    char errbuf[CURL_ERROR_SIZE] = "";
    int rc = -EIO;
    CURL *curl = curl_easy_init();
    if (!curl || !headers) {
        ctl_err(r->cmd, "cannot initialise libcurl");
        goto out;
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    ctl_tls_apply(curl);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, r->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, cb_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp);
    r->etag[0] = '\0';
    r->status = 0;
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, cb_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, cb_progress);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, CTL_PROG "/" VX_VERSION);
    CURLcode cc = curl_easy_perform(curl);
    if (cc != CURLE_OK) {
        ctl_err(r->cmd, "%s %s: %s", method, url,
                cc == CURLE_ABORTED_BY_CALLBACK ? "interrupted"
                : errbuf[0]                     ? errbuf
                                                : curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, code);
    r->status = *code;
    *doc = resp.data ? json_loadb(resp.data, resp.len, 0, NULL) : NULL;
    if (!*doc && resp.data) {
        /* Keep the first line of a non-JSON answer for the error message. */
        int n = (int)strcspn(resp.data, "\r\n");
        *doc = json_pack("{s:{s:s, s:s#}}", "error", "code", "error", "message", resp.data,
                         n > 512 ? 512 : n);
    }
    rc = 0;
out:
    if (curl) {
        curl_easy_cleanup(curl);
    }
    curl_slist_free_all(headers);
    free(resp.data);
    return rc;
}

/* The leader's REST base URL from a 421 answer, with the scheme of the current base; NULL
 * when the answer does not name one. Caller frees. */
static char *
s_leader_base(const struct ctl_rest *r, json_t *doc)
{
    const char *rest = json_string_value(json_object_get(json_object_get(doc, "leader"), "rest"));
    if (!rest || !*rest) {
        return NULL;
    }
    const char *scheme = strncmp(r->base, "https://", 8) == 0 ? "https://" : "http://";
    size_t len = strlen(scheme) + strlen(rest) + 1;
    char *base = vx_malloc(len);
    snprintf(base, len, "%s%s", scheme, rest);
    return base;
}

json_t *
ctl_rest_call(struct ctl_rest *r, const char *method, const char *path, json_t *body,
              bool follow_leader)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_t *out = NULL;
    for (int hop = 0;; hop++) {
        size_t len = strlen(r->base) + strlen(path) + 1;
        char *url = vx_malloc(len);
        snprintf(url, len, "%s%s", r->base, path);
        long code = 0;
        json_t *doc = NULL;
        if (s_perform(r, method, url, text, &code, &doc) < 0) {
            free(url);
            break;
        }
        if (code >= 200 && code <= 299) {
            out = doc ? doc : json_object();
            free(url);
            break;
        }
        if (code == 421 && follow_leader && hop < S_MAX_HOPS) {
            /* Follow the named leader; while leadership is moving a node may not know the new
             * leader yet (it names none, or itself): wait a moment and ask again. */
            char *leader = s_leader_base(r, doc);
            if (leader && strcmp(leader, r->base) != 0) {
                free(r->base);
                r->base = leader;
            } else {
                free(leader);
                usleep(S_RETRY_US);
            }
            json_decref(doc);
            free(url);
            continue;
        }
        json_t *e = json_object_get(doc, "error");
        const char *ecode = json_string_value(json_object_get(e, "code"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        ctl_err(r->cmd, "%s %s: HTTP %ld %s: %s", method, url, code, ecode ? ecode : "error",
                msg ? msg : "(no message)");
        json_decref(doc);
        free(url);
        break;
    }
    free(text);
    return out;
}

int
ctl_rest_print_json(const struct ctl_rest *r, json_t *j)
{
    char *text = json_dumps(j, CTL_JSON_FLAGS);
    if (!text) {
        ctl_err(r->cmd, "cannot print the answer");
        return CTL_EXIT_FAIL;
    }
    printf("%s\n", text);
    free(text);
    return CTL_EXIT_OK;
}
