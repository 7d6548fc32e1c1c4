/* SPDX-License-Identifier: Apache-2.0 */
/* Starting real vexfs-coordinator clusters for integration tests. */
#include "coord_harness.h"

#include <check.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "coord_netns.h"
#include "vx_test.h"

/* One node's configuration file: defaults for tests, then extra lines for all nodes and for
 * this node; a default whose key the extra lines set is left out (YAML keys are unique). */
static void
s_write_config(struct ch_cluster *c, size_t i, const char *rest_bind, const char *extra,
               const char *extra_node)
{
    struct ch_node *d = &c->node[i];
    char tok[300];
    snprintf(tok, sizeof tok, "%s/token", c->dir);
    snprintf(d->cfg, sizeof d->cfg, "%s/node%zu.yaml", c->dir, i + 1);
    snprintf(d->log, sizeof d->log, "%s/node%zu.log", c->dir, i + 1);
    char defaults[6][96];
    snprintf(defaults[0], sizeof defaults[0], "  election_timeout_ms: %d\n", CH_ELECTION_MS);
    snprintf(defaults[1], sizeof defaults[1], "  heartbeat_ms: 50\n");
    snprintf(defaults[2], sizeof defaults[2], "  connect_retry_ms: 100\n");
    snprintf(defaults[3], sizeof defaults[3], "  snapshot_threshold: 256\n");
    snprintf(defaults[4], sizeof defaults[4], "  snapshot_trailing: 64\n");
    snprintf(defaults[5], sizeof defaults[5], "  rest_bind: %s\n", rest_bind);
    char kept[1024] = "";
    for (size_t k = 0; k < 6; k++) {
        char key[64];
        size_t kl = (size_t)(strchr(defaults[k], ':') - defaults[k]) + 1;
        snprintf(key, sizeof key, "%.*s", (int)kl, defaults[k]);
        if ((!extra || !strstr(extra, key)) && (!extra_node || !strstr(extra_node, key))) {
            strncat(kept, defaults[k], sizeof kept - strlen(kept) - 1);
        }
    }
    /* The input binds its port of the members list, unless the test names another endpoint. */
    char input[96] = "";
    if ((!extra || !strstr(extra, "input_endpoint:")) &&
        (!extra_node || !strstr(extra_node, "input_endpoint:"))) {
        snprintf(input, sizeof input, "  input_endpoint: \"@tcp://127.0.0.1:%u\"\n",
                 (unsigned)d->input_port);
    }
    char cfg[4096];
    snprintf(cfg, sizeof cfg,
             "distributed_coordination:\n"
             "  node_id: %llu\n"
             "  members: \"%s\"\n"
             "  data_dir: %s/data%zu\n"
             "  rest_port: %u\n"
             "%s%s%s%s"
             "admin:\n"
             "  token_file: %s\n"
             "logging:\n"
             "  level: info\n",
             (unsigned long long)d->id, c->members, c->dir, i + 1, (unsigned)d->rest_port, input,
             kept, extra ? extra : "", extra_node ? extra_node : "", tok);
    ck_assert_int_eq(vt_write_file(d->cfg, cfg), 0);
}

static void
s_prepare(struct ch_cluster *c, size_t n)
{
    memset(c, 0, sizeof *c);
    ck_assert_uint_le(n, CH_MAX);
    c->n = n;
    char *dir = vt_tmpdir();
    ck_assert_ptr_nonnull(dir);
    snprintf(c->dir, sizeof c->dir, "%s", dir);
    free(dir);
    char tok[300];
    snprintf(tok, sizeof tok, "%s/token", c->dir);
    ck_assert_int_eq(vt_write_file(tok, CH_TOKEN "\n"), 0);
}

static void
s_start_all(struct ch_cluster *c)
{
    for (size_t i = 0; i < c->n; i++) {
        ch_start_node(c, i);
    }
    for (size_t i = 0; i < c->n; i++) {
        ck_assert_msg(ch_wait_ready(c, i, 20000), "coordinator %zu not ready; log in %s", i + 1,
                      c->node[i].log);
    }
}

void
ch_start(struct ch_cluster *c, size_t n, const char *extra)
{
    ch_start_host(c, n, extra, "127.0.0.1");
}

void
ch_start_host(struct ch_cluster *c, size_t n, const char *extra, const char *host)
{
    s_prepare(c, n);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        struct ch_node *d = &c->node[i];
        d->id = i + 1;
        d->rest_port = vt_free_port();
        d->raft_port = vt_free_port();
        d->input_port = vt_free_port();
        snprintf(d->host, sizeof d->host, "127.0.0.1");
        off += (size_t)snprintf(c->members + off, sizeof c->members - off, "%s%llu@%s:%u/%u/%u",
                                i ? "," : "", (unsigned long long)d->id, host,
                                (unsigned)d->raft_port, (unsigned)d->rest_port,
                                (unsigned)d->input_port);
    }
    for (size_t i = 0; i < n; i++) {
        s_write_config(c, i, "127.0.0.1", extra, NULL);
    }
    s_start_all(c);
}

void
ch_start_netns(struct ch_cluster *c, size_t n, const char *extra,
               const char *const *extra_node, const struct cn_net *net)
{
    s_prepare(c, n);
    ck_assert_uint_le(n, net->n);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        struct ch_node *d = &c->node[i];
        d->id = i + 1;
        /* Each namespace has ports of its own: the same numbers everywhere. */
        d->raft_port = 7000;
        d->rest_port = 8000;
        d->input_port = 9000;
        snprintf(d->host, sizeof d->host, "%s", net->client_addr[i]);
        snprintf(d->ns, sizeof d->ns, "%s", net->ns[i]);
        off += (size_t)snprintf(c->members + off, sizeof c->members - off, "%s%llu@%s:%u/%u/%u",
                                i ? "," : "", (unsigned long long)d->id, net->node_addr[i],
                                (unsigned)d->raft_port, (unsigned)d->rest_port,
                                (unsigned)d->input_port);
    }
    for (size_t i = 0; i < n; i++) {
        s_write_config(c, i, "0.0.0.0", extra, extra_node ? extra_node[i] : NULL);
    }
    s_start_all(c);
}

void
ch_start_node(struct ch_cluster *c, size_t i)
{
    struct ch_node *d = &c->node[i];
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-coordinator", vt_bin_dir());
    char *plain[] = {bin, (char *)"--config", d->cfg, NULL};
    /* `ip netns exec` execs the program: the pid is the coordinator's own. */
    char *in_ns[] = {(char *)"/usr/sbin/ip", (char *)"netns", (char *)"exec", d->ns, bin,
                     (char *)"--config", d->cfg, NULL};
    char logpath[320];
    /* A restarted node appends to a log of its own generation. */
    snprintf(logpath, sizeof logpath, "%s%s", d->log, access(d->log, F_OK) == 0 ? ".2" : "");
    d->pid = vt_spawn(d->ns[0] ? in_ns : plain, NULL, logpath);
    ck_assert_int_gt(d->pid, 0);
}

void
ch_stop_node(struct ch_cluster *c, size_t i)
{
    struct ch_node *d = &c->node[i];
    if (d->pid <= 0) {
        return;
    }
    int status = vt_stop(d->pid, SIGTERM, 60000);
    d->pid = 0;
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "coordinator %zu did not exit cleanly on SIGTERM (status %d); log in %s", i + 1,
                  status, d->log);
}

void
ch_stop_all(struct ch_cluster *c)
{
    for (size_t i = 0; i < c->n; i++) {
        ch_stop_node(c, i);
    }
}

void
ch_kill9(struct ch_cluster *c, size_t i)
{
    kill(c->node[i].pid, SIGKILL);
    waitpid(c->node[i].pid, NULL, 0);
    c->node[i].pid = 0;
}

int
ch_index(const struct ch_cluster *c, long long id)
{
    for (size_t i = 0; i < c->n; i++) {
        if ((long long)c->node[i].id == id) {
            return (int)i;
        }
    }
    return -1;
}

/* ---- HTTP ------------------------------------------------------------------------------- */

struct ch_client {
    CURL *curl;
};

ch_client_t *
ch_client_new(void)
{
    ch_client_t *cl = calloc(1, sizeof *cl);
    ck_assert_ptr_nonnull(cl);
    cl->curl = curl_easy_init();
    ck_assert_ptr_nonnull(cl->curl);
    return cl;
}

void
ch_client_destroy(ch_client_t **clp)
{
    if (!clp || !*clp) {
        return;
    }
    curl_easy_cleanup((*clp)->curl);
    free(*clp);
    *clp = NULL;
}

void
ch_resp_fini(struct ch_resp *r)
{
    json_decref(r->json);
    r->json = NULL;
    free(r->text);
    r->text = NULL;
}

struct s_body {
    char *data;
    size_t len;
};

static size_t
cb_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct s_body *b = arg;
    size_t n = size * nmemb;
    char *d = realloc(b->data, b->len + n + 1);
    if (!d) {
        return 0;
    }
    memcpy(d + b->len, ptr, n);
    b->data = d;
    b->len += n;
    d[b->len] = '\0';
    return n;
}

/* Copies a header's value (without line end) when the line names it. */
static void
s_header_value(const char *line, size_t len, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':') {
        return;
    }
    const char *v = line + nl + 1;
    size_t vl = len - nl - 1;
    while (vl && (*v == ' ' || *v == '\t')) {
        v++;
        vl--;
    }
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n')) {
        vl--;
    }
    vl = vl < outlen - 1 ? vl : outlen - 1;
    memcpy(out, v, vl);
    out[vl] = '\0';
}

static size_t
cb_header(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct ch_resp *r = arg;
    size_t n = size * nmemb;
    s_header_value(ptr, n, "Retry-After", r->retry_after, sizeof r->retry_after);
    s_header_value(ptr, n, "ETag", r->etag, sizeof r->etag);
    return n;
}

void
ch_call(struct ch_cluster *c, ch_client_t *cl, size_t i, const char *method, const char *path,
        const char *body, const char *const *headers, long timeout_ms, struct ch_resp *out)
{
    memset(out, 0, sizeof *out);
    CURL *curl = cl ? cl->curl : curl_easy_init();
    ck_assert_ptr_nonnull(curl);
    curl_easy_reset(curl);
    char url[1024];
    /* A node set up by hand (a joiner) has no host: loopback. */
    const char *host = c->node[i].host[0] ? c->node[i].host : "127.0.0.1";
    snprintf(url, sizeof url, "https://%s:%u%s", host, (unsigned)c->node[i].rest_port, path);
    /* HTTPS as every REST server of the suite speaks it: the test authority, the client
     * certificate "test" (an admin in the test credentials) and the admin token. A node in a
     * network namespace answers on an address its certificate does not name: the authority
     * is still checked, the name is not. */
    char ca[600], cert[600], key[600];
    snprintf(ca, sizeof ca, "%s/ca.crt", vt_tls_dir());
    snprintf(cert, sizeof cert, "%s/test.crt", vt_tls_dir());
    snprintf(key, sizeof key, "%s/test.key", vt_tls_dir());
    struct curl_slist *hdrs = curl_slist_append(NULL, "Authorization: Bearer " CH_TOKEN);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:");
    for (size_t k = 0; headers && headers[k]; k++) {
        hdrs = curl_slist_append(hdrs, headers[k]);
    }
    struct s_body b = {NULL, 0};
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, cb_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, cb_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 60000L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(curl, CURLOPT_CAINFO, ca);
    curl_easy_setopt(curl, CURLOPT_SSLCERT, cert);
    curl_easy_setopt(curl, CURLOPT_SSLKEY, key);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, strcmp(host, "127.0.0.1") == 0 ? 2L : 0L);
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    if (curl_easy_perform(curl) == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
        if (b.data) {
            json_error_t e;
            out->json = json_loads(b.data, 0, &e);
        }
    }
    out->text = b.data;
    curl_slist_free_all(hdrs);
    if (!cl) {
        curl_easy_cleanup(curl);
    }
}

long
ch_req(struct ch_cluster *c, size_t i, const char *method, const char *path, const char *body,
       json_t **out)
{
    struct ch_resp r;
    ch_call(c, NULL, i, method, path, body, NULL, 0, &r);
    if (out) {
        *out = r.json;
        r.json = NULL;
    }
    ch_resp_fini(&r);
    return r.status;
}

long long
ch_int(struct ch_cluster *c, size_t i, const char *path, const char *field)
{
    json_t *o = NULL;
    long st = ch_req(c, i, "GET", path, NULL, &o);
    long long v = -1;
    if (st == 200 && json_is_integer(json_object_get(o, field))) {
        v = json_integer_value(json_object_get(o, field));
    }
    json_decref(o);
    return v;
}

bool
ch_wait_ready(struct ch_cluster *c, size_t i, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 50) {
        struct ch_resp r;
        ch_call(c, NULL, i, "GET", "/ready", NULL, NULL, 1000, &r);
        bool ready = r.status == 200;
        ch_resp_fini(&r);
        if (ready) {
            return true;
        }
        vt_sleep_ms(50);
    }
    return false;
}

double
ch_metric(struct ch_cluster *c, size_t i, const char *series)
{
    struct ch_resp r;
    ch_call(c, NULL, i, "GET", "/metrics", NULL, NULL, 5000, &r);
    double v = -1;
    size_t n = strlen(series);
    /* A sample line starts with the series; # HELP and # TYPE lines do not. */
    for (const char *line = r.status == 200 ? r.text : NULL; line && *line;) {
        const char *next = strchr(line, '\n');
        if (strncmp(line, series, n) == 0 && line[n] == ' ') {
            v = strtod(line + n + 1, NULL);
            break;
        }
        line = next ? next + 1 : NULL;
    }
    ch_resp_fini(&r);
    return v;
}

double
ch_metric_sum(struct ch_cluster *c, size_t i, const char *name)
{
    struct ch_resp r;
    ch_call(c, NULL, i, "GET", "/metrics", NULL, NULL, 5000, &r);
    double v = r.status == 200 && r.text ? vt_metric_text_sum(r.text, name) : -1;
    ch_resp_fini(&r);
    return v;
}

int
ch_leader(struct ch_cluster *c, int timeout_ms, unsigned skip)
{
    for (int waited = 0; waited <= timeout_ms; waited += 25) {
        for (size_t i = 0; i < c->n; i++) {
            if ((skip & (1u << i)) || c->node[i].pid <= 0) {
                continue;
            }
            struct ch_resp r;
            ch_call(c, NULL, i, "GET", "/v1/cluster", NULL, NULL, 1000, &r);
            bool leader = r.status == 200 &&
                          strcmp(json_string_value(json_object_get(r.json, "status")) ?: "",
                                 "leader") == 0;
            ch_resp_fini(&r);
            if (leader) {
                return (int)i;
            }
        }
        vt_sleep_ms(25);
    }
    return -1;
}
