/* SPDX-License-Identifier: Apache-2.0 */
/* Admin REST calls: libcurl with the suite's authority, a bearer token or client certificate,
 * the tenant header, and the coordinator's 421 answers followed to the leader.
 *
 * What a server answers is outside input: vc_answer.c is its one decoder (fuzzed). Handles
 * are pooled (a few idle ones kept) so repeated calls reuse their TLS connections; each call
 * takes its own handle, so calls from several threads run at once. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vc_answer.h"
#include "vc_priv.h"
#include "vx_event.h"
#include "vx_mem.h"
#include "vx_tls.h"

#define S_MAX_HOPS 30          /* 421 answers followed in one call (leadership moving) */
#define S_RETRY_US 100000      /* before asking again a node that named no other leader */
#define S_POOL (sizeof(((struct vc_http *)0)->idle) / sizeof(void *))

static const uint16_t s_ports[VC_N_SERVICES] = {8080, 8081, 8082, 8083, 8084};
static pthread_once_t s_curl_once = PTHREAD_ONCE_INIT;
static int s_curl_rc;

static void
cb_curl_init(void)
{
    s_curl_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

/* ---- settings ---------------------------------------------------------------------------- */

/* Whether an http(s) URL's host is a loopback address. */
static bool
s_loopback_url(const char *url)
{
    const char *h = strstr(url, "://");
    if (!h) {
        return false;
    }
    h += 3;
    char host[256];
    size_t n = 0;
    if (*h == '[') {
        h++;
        while (*h && *h != ']' && n < sizeof host - 1) {
            host[n++] = *h++;
        }
    } else {
        while (*h && *h != ':' && *h != '/' && n < sizeof host - 1) {
            host[n++] = *h++;
        }
    }
    host[n] = '\0';
    if (strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0) {
        return true;
    }
    struct in_addr a;
    return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

static int
s_check_file(const char *what, const char *path, bool secret)
{
    char err[4600];
    char *pem = vx_tls_read_pem(path, secret, NULL, err, sizeof err);
    if (!pem) {
        return vc_fail(-EACCES, "%s: %s", what, err);
    }
    free(pem);
    return 0;
}

/* The service URLs: configured, else vexfsctl's environment variable, else the default port
 * on loopback; each checked against the TLS setting. */
static int
s_urls(struct vc_http *h, const struct vc_config *cc, bool tls)
{
    for (int i = 0; i < VC_N_SERVICES; i++) {
        char env[64];
        snprintf(env, sizeof env, "VEXFS_%s_URL", vc_service_names[i]);
        for (char *p = env; *p; p++) {
            *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
        }
        const char *u = cc->url[i];
        const char *from = "client.";
        const char *given = getenv(env);
        if (!u[0] && given && given[0]) {
            u = given;
            from = "$";
        }
        if (u[0]) {
            if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) {
                return vc_fail(-EINVAL, "%s%s: expected an http:// or https:// URL, got \"%s\"",
                               from, from[0] == '$' ? env : vc_service_names[i], u);
            }
            snprintf(h->url[i], sizeof h->url[i], "%s", u);
        } else {
            snprintf(h->url[i], sizeof h->url[i], "%s://127.0.0.1:%u", tls ? "https" : "http",
                     (unsigned)s_ports[i]);
        }
        size_t n = strlen(h->url[i]);
        while (n > 0 && h->url[i][n - 1] == '/') {
            h->url[i][--n] = '\0';
        }
        bool plain = strncmp(h->url[i], "http://", 7) == 0;
        if (plain && tls) {
            return vc_fail(-EPERM,
                           "security.tls is required: the %s URL must be https://, got \"%s\" "
                           "(set security.tls off for plain HTTP on loopback)",
                           vc_service_names[i], h->url[i]);
        }
        if (plain && !s_loopback_url(h->url[i])) {
            return vc_fail(-EPERM,
                           "security.tls is off, so plain http:// is allowed to a loopback "
                           "address only, not \"%s\"",
                           h->url[i]);
        }
    }
    return 0;
}

/* Why a long function: each credential file has its default and its check. */
int
vc_http_init(struct vc_http *h, const struct vc_config *cc, const struct vx_security_config *sec)
{
    memset(h, 0, sizeof *h);
    pthread_mutex_init(&h->mu, NULL);
    h->timeout_ms = cc->http_timeout_ms;
    h->max_response = (size_t)cc->max_response_bytes;
    snprintf(h->tenant, sizeof h->tenant, "%s", cc->tenant);
    bool tls = strcmp(sec->tls, "required") == 0;
    int rc = s_urls(h, cc, tls);
    if (rc < 0) {
        return rc;
    }
    const char *who = sec->identity[0] ? sec->identity : "client";
    if (cc->ca_file[0]) {
        snprintf(h->ca_file, sizeof h->ca_file, "%s", cc->ca_file);
    } else if (tls) {
        snprintf(h->ca_file, sizeof h->ca_file, "%s/ca.crt", sec->tls_dir);
    }
    if (cc->client_cert_file[0]) {
        snprintf(h->cert_file, sizeof h->cert_file, "%s", cc->client_cert_file);
    } else if (tls) {
        snprintf(h->cert_file, sizeof h->cert_file, "%s/%s.crt", sec->tls_dir, who);
        h->cert_optional = true; /* used when this identity has one */
    }
    if (h->cert_file[0]) {
        if (cc->client_key_file[0]) {
            snprintf(h->key_file, sizeof h->key_file, "%s", cc->client_key_file);
        } else {
            size_t n = strlen(h->cert_file);
            size_t cut = n > 4 && strcmp(h->cert_file + n - 4, ".crt") == 0 ? 4 : 0;
            snprintf(h->key_file, sizeof h->key_file, "%.*s.key", (int)(n - cut), h->cert_file);
        }
    }
    const char *tf = cc->token_file[0] ? cc->token_file : getenv("VEXFS_TOKEN_FILE");
    snprintf(h->token_file, sizeof h->token_file, "%s", tf ? tf : "");
    if (cc->token[0]) {
        h->token = vx_strdup(cc->token);
        if (strpbrk(h->token, "\r\n")) {
            return vc_fail(-EINVAL, "client.token: a line break is not allowed");
        }
    }
    return 0;
}

/* Reads and checks the credential files the first time a call needs them (mu held), so a
 * program that never calls the admin API needs none of them. A failure is reported and tried
 * again at the next call. */
static int
s_ready_locked(struct vc_http *h)
{
    if (h->ready) {
        return 0;
    }
    int rc;
    if (h->ca_file[0] && (rc = s_check_file("client.ca_file", h->ca_file, false)) < 0) {
        return rc;
    }
    if (h->cert_optional && access(h->cert_file, F_OK) != 0) {
        h->cert_file[0] = '\0'; /* no certificate of this identity: a token, or nothing */
        h->key_file[0] = '\0';
    }
    if (h->cert_file[0] &&
        ((rc = s_check_file("client.client_cert_file", h->cert_file, false)) < 0 ||
         (rc = s_check_file("client.client_key_file", h->key_file, true)) < 0)) {
        return rc;
    }
    if (!h->token && h->token_file[0]) {
        char err[1024];
        h->token = vx_config_read_secret(h->token_file, err, sizeof err);
        if (!h->token) {
            return vc_fail(-EACCES, "client.token_file: %s", err);
        }
        if (strpbrk(h->token, "\r\n")) {
            vx_free(&h->token);
            return vc_fail(-EINVAL, "client.token_file: %s: a line break in the token",
                           h->token_file);
        }
    }
    pthread_once(&s_curl_once, cb_curl_init);
    if (s_curl_rc < 0) {
        return vc_fail(s_curl_rc, "cannot initialise libcurl");
    }
    h->ready = true;
    return 0;
}

void
vc_http_fini(struct vc_http *h)
{
    for (size_t i = 0; i < h->n_idle; i++) {
        curl_easy_cleanup(h->idle[i]);
    }
    h->n_idle = 0;
    if (h->token) {
        explicit_bzero(h->token, strlen(h->token));
    }
    vx_free(&h->token);
    pthread_mutex_destroy(&h->mu);
}

/* ---- one request ------------------------------------------------------------------------- */

struct s_buf {
    char *data;
    size_t len;
    size_t max;
    bool over;
};

static size_t
cb_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct s_buf *b = arg;
    size_t n = size * nmemb;
    if (b->len + n > b->max) {
        b->over = true;
        return 0;
    }
    b->data = vx_realloc(b->data, b->len + n + 1);
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static CURL *
s_take(struct vc_http *h)
{
    CURL *curl = NULL;
    pthread_mutex_lock(&h->mu);
    if (h->n_idle > 0) {
        curl = h->idle[--h->n_idle];
    }
    pthread_mutex_unlock(&h->mu);
    if (curl) {
        curl_easy_reset(curl); /* options cleared, live connections kept */
        return curl;
    }
    curl = curl_easy_init();
    if (!curl) {
        vx_oom(0);
    }
    return curl;
}

static void
s_give_back(struct vc_http *h, CURL *curl)
{
    pthread_mutex_lock(&h->mu);
    if (h->n_idle < S_POOL) {
        h->idle[h->n_idle++] = curl;
        curl = NULL;
    }
    pthread_mutex_unlock(&h->mu);
    if (curl) {
        curl_easy_cleanup(curl);
    }
}

static int
s_curl_errno(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
        return -ECONNREFUSED;
    case CURLE_COULDNT_RESOLVE_HOST:
        return -EHOSTUNREACH;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CONNECT_ERROR:
        return -EACCES;
    default:
        return -EIO;
    }
}

/* Performs one request. Returns 0 with *status and the body in *b, or -errno (message set). */
static int
s_perform(struct vc_http *h, const char *method, const char *url, const char *body, long *status,
          struct s_buf *b)
{
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    hdr = curl_slist_append(hdr, "Accept: application/json");
    hdr = curl_slist_append(hdr, "Expect:");
    char line[4400];
    if (h->token) {
        size_t alen = strlen(h->token) + 32;
        char *auth = vx_malloc(alen);
        snprintf(auth, alen, "Authorization: Bearer %s", h->token);
        hdr = curl_slist_append(hdr, auth);
        explicit_bzero(auth, alen);
        free(auth);
    }
    if (h->tenant[0]) {
        snprintf(line, sizeof line, "X-VexFS-Tenant: %s", h->tenant);
        hdr = curl_slist_append(hdr, line);
    }
    if (!hdr) {
        vx_oom(0);
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    CURL *curl = s_take(h);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdr);
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    }
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, h->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, cb_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "libvexfs/" VX_VERSION);
    if (h->ca_file[0]) {
        curl_easy_setopt(curl, CURLOPT_CAINFO, h->ca_file);
    }
    if (h->cert_file[0]) {
        curl_easy_setopt(curl, CURLOPT_SSLCERT, h->cert_file);
        curl_easy_setopt(curl, CURLOPT_SSLKEY, h->key_file);
    }
    CURLcode cc = curl_easy_perform(curl);
    int rc = 0;
    if (cc == CURLE_WRITE_ERROR && b->over) {
        rc = vc_fail(-EMSGSIZE, "%s %s: the answer is larger than client.max_response_bytes "
                                "(%zu); the request may have been carried out",
                     method, url, h->max_response);
    } else if (cc != CURLE_OK) {
        rc = vc_fail(s_curl_errno(cc), "%s %s: %s%s", method, url,
                     errbuf[0] ? errbuf : curl_easy_strerror(cc),
                     s_curl_errno(cc) == -ECONNREFUSED || s_curl_errno(cc) == -EHOSTUNREACH ||
                             s_curl_errno(cc) == -EACCES
                         ? " (nothing was sent)"
                         : " (the request may have been carried out)");
    } else {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
    }
    s_give_back(h, curl);
    curl_slist_free_all(hdr);
    return rc;
}

static int
s_service(const char *name)
{
    for (int i = 0; i < VC_N_SERVICES; i++) {
        if (name && strcmp(name, vc_service_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

/* Why a long function: the checks of the arguments, then the loop that follows a coordinator
 * to its leader, each step with its own outcome. */
int
vexfs_client_call(vexfs_client_t *c, const char *service, const char *method, const char *path,
                  const char *body, long *status, char **response)
{
    if (response) {
        *response = NULL;
    }
    if (status) {
        *status = 0;
    }
    if (!c || !method || !path || !status) {
        return vc_fail(-EINVAL, "vexfs_client_call: client, method, path and status are "
                                "required");
    }
    int svc = s_service(service);
    if (svc < 0) {
        return vc_fail(-EINVAL, "unknown service \"%s\": expected propagation, routing, "
                                "coordinator, automation or analytics",
                       service ? service : "(null)");
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0 && strcmp(method, "PUT") != 0 &&
        strcmp(method, "DELETE") != 0) {
        return vc_fail(-EINVAL, "method \"%s\": expected GET, POST, PUT or DELETE", method);
    }
    if (path[0] != '/' || strpbrk(path, " \r\n\t")) {
        return vc_fail(-EINVAL, "path \"%.200s\": expected an absolute path without spaces, "
                                "such as /v1/stats",
                       path);
    }
    if (body) {
        json_error_t je;
        json_t *doc = json_loads(body, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
        if (!doc) {
            return vc_fail(-EINVAL, "body: invalid JSON at line %d, column %d: %s (nothing was "
                                    "sent)",
                           je.line, je.column, vx_json_error_text(&je));
        }
        json_decref(doc);
    }
    struct vc_http *h = &c->http;
    char base[1024];
    pthread_mutex_lock(&h->mu);
    int rc = s_ready_locked(h);
    snprintf(base, sizeof base, "%s", h->url[svc]);
    pthread_mutex_unlock(&h->mu);
    if (rc < 0) {
        return rc;
    }
    for (int hop = 0;; hop++) {
        size_t ulen = strlen(base) + strlen(path) + 1;
        char *url = vx_malloc(ulen);
        snprintf(url, ulen, "%s%s", base, path);
        struct s_buf b = {.max = h->max_response};
        long code = 0;
        rc = s_perform(h, method, url, body, &code, &b);
        free(url);
        if (rc < 0) {
            free(b.data);
            return rc;
        }
        struct vc_answer ans;
        vc_http_answer(code, b.data, b.len, &ans);
        free(b.data);
        if (code == 421 && svc == VC_COORDINATOR && hop < S_MAX_HOPS) {
            /* Follow the leader it names; while leadership moves a node may name none or
             * itself: wait a moment and ask again. The leader is remembered for later calls. */
            char next[1024];
            const char *scheme = strncmp(base, "https://", 8) == 0 ? "https://" : "http://";
            snprintf(next, sizeof next, "%s%s", scheme, ans.leader);
            if (ans.leader[0] && strcmp(scheme, "http://") == 0 && !s_loopback_url(next)) {
                free(ans.json);
                return vc_fail(-EPERM, "%s %s%s: the coordinator names its leader at %s, but "
                                       "security.tls is off and plain http:// is allowed to a "
                                       "loopback address only",
                               method, base, path, ans.leader);
            }
            if (ans.leader[0] && strcmp(next, base) != 0) {
                snprintf(base, sizeof base, "%s", next);
                pthread_mutex_lock(&h->mu);
                snprintf(h->url[svc], sizeof h->url[svc], "%s", base);
                pthread_mutex_unlock(&h->mu);
            } else {
                usleep(S_RETRY_US);
            }
            free(ans.json);
            continue;
        }
        *status = code;
        if (ans.rc < 0) {
            return vc_fail(ans.rc, "%s %s%s: %s (the request may have been carried out)",
                           method, base, path, ans.err);
        }
        if (response) {
            *response = ans.json;
        } else {
            free(ans.json);
        }
        return 0;
    }
}
