/* SPDX-License-Identifier: Apache-2.0 */
/* vexfsctl status: probes GET /health and GET /ready of every service of the suite, and reads
 * GET /metrics twice, --interval apart, for each service's event rate and drops.
 *
 * All probes run at once (libcurl multi), so the command takes at most one timeout (plus the
 * interval) however many services are down. A service "answered" when either probe got an HTTP response; the
 * suite is fine (exit 0) when at least one service answered and every one that answered is
 * ready. */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "vx_clock.h"
#include "vx_mem.h"

#define S_CMD "status"
#define S_TIMEOUT_MS 2000L
#define S_MAX_BODY (4 * 1024 * 1024) /* /metrics of a busy service stays far below */
#define S_MAX_URL 1024
#define S_OPT_URL 1000 /* getopt values S_OPT_URL + i select the URL of service i */

#define S_DEFAULT_INTERVAL_MS 1000L

/* A service, where to find it, and the counters its rates come from (every series of the
 * metric summed: all labels). */
struct s_service {
    const char *name;
    const char *env;
    const char *def;
    const char *events_metric; /* events the service took in */
    const char *drops_metric;  /* events it dropped, by reason; NULL: it drops none */
};

static const struct s_service s_services[] = {
    {"propagation", "VEXFS_PROPAGATION_URL", "https://127.0.0.1:8080",
     "vexfs_events_received_total", "vexfs_events_dropped_total"},
    {"routing", "VEXFS_ROUTING_URL", "https://127.0.0.1:8081", "vexfs_events_received_total",
     "vexfs_events_dropped_total"},
    {"coordinator", "VEXFS_COORDINATOR_URL", "https://127.0.0.1:8082",
     "vexfs_consensus_events_applied_total", "vexfs_events_dropped_total"},
    {"automation", "VEXFS_AUTOMATION_URL", "https://127.0.0.1:8083",
     "vexfs_automation_events_total", NULL},
    {"analytics", "VEXFS_ANALYTICS_URL", "https://127.0.0.1:8084", "vexfs_analytics_events_total",
     "vexfs_analytics_dropped_total"},
};
#define S_N_SERVICES (sizeof s_services / sizeof s_services[0])

/* One GET: the easy handle, the body collected so far and the outcome. */
struct s_get {
    CURL *curl;
    char *body;
    size_t len;
    bool done;
    CURLcode result;
    long code; /* HTTP status, 0 without a response */
    double done_s; /* monotonic time the answer was complete */
    char errbuf[CURL_ERROR_SIZE];
};

struct s_probe {
    const struct s_service *svc;
    bool selected;
    char url[S_MAX_URL]; /* base URL without a trailing slash */
    struct s_get health;
    struct s_get ready;
    struct s_get metrics[2]; /* before and after the interval */
};

static void
s_usage(FILE *f)
{
    fprintf(f,
            "usage: " CTL_PROG " status [--json] [--only NAME[,NAME...]] [--interval MS]\n"
            "       [--SERVICE URL ...]\n\n"
            "Asks every service for GET /health and GET /ready (%ld ms timeout each, all at\n"
            "once) and reads GET /metrics twice, --interval apart; prints service, url, health\n"
            "(up/down), ready (yes/no, or degraded: ready, but /ready names parts that need\n"
            "attention, such as a routing boundary whose consumer takes nothing; one line each\n"
            "follows the table), version, uptime, the rate of events the service took in\n"
            "over the interval and its dropped events since it started (every reason; the\n"
            "service's /metrics has them by reason). Then the events lost in flight, summed\n"
            "per hop over the services that answered (vexfs_events_lost_total{hop,reason}):\n"
            "one line per hop, \"lost HOP: N (reason N, ...)\"; none when no service counts any.\n"
            "Exit status 0 when at least one service answered and every service that answered\n"
            "is ready (degraded counts as ready), 1 otherwise.\n\n"
            "  --json              print a JSON document instead of a table\n"
            "  --only LIST         probe only these services (comma-separated)\n"
            "  --interval MS       time between the two metric reads (default %ld; 0: no rates)\n",
            S_TIMEOUT_MS, S_DEFAULT_INTERVAL_MS);
    for (size_t i = 0; i < S_N_SERVICES; i++) {
        char opt[32];
        snprintf(opt, sizeof opt, "--%s URL", s_services[i].name);
        fprintf(f, "  %-19s base URL (env %s, default %s)\n", opt, s_services[i].env,
                s_services[i].def);
    }
    fprintf(f, "  --help, --version\n");
}

/* Stores a base URL without trailing slashes; origin names the option or variable for the
 * error message. */
static int
s_set_url(struct s_probe *p, const char *url, const char *origin)
{
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/') {
        n--;
    }
    if (!ctl_is_http_url(url)) {
        ctl_err(S_CMD, "%s: expected an http:// or https:// URL, got '%s'", origin, url);
        return -EINVAL;
    }
    if (n >= S_MAX_URL) {
        ctl_err(S_CMD, "%s: URL longer than %d characters", origin, S_MAX_URL - 1);
        return -EINVAL;
    }
    memcpy(p->url, url, n);
    p->url[n] = '\0';
    return 0;
}

static int
s_select(struct s_probe *probes, const char *list)
{
    for (size_t i = 0; i < S_N_SERVICES; i++) {
        probes[i].selected = false;
    }
    const char *s = list;
    for (;;) {
        size_t n = strcspn(s, ",");
        bool found = false;
        for (size_t i = 0; i < S_N_SERVICES; i++) {
            if (strlen(s_services[i].name) == n && strncmp(s, s_services[i].name, n) == 0) {
                probes[i].selected = true;
                found = true;
            }
        }
        if (!found) {
            ctl_err(S_CMD, "--only: unknown service '%.*s' (expected %s)", (int)n, s,
                    "propagation, routing, coordinator, automation or analytics");
            return -EINVAL;
        }
        if (s[n] == '\0') {
            return 0;
        }
        s += n + 1;
    }
}

static size_t
cb_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct s_get *g = arg;
    size_t n = size * nmemb;
    if (g->len + n > S_MAX_BODY) {
        return 0; /* an answer this large is not one: fail the transfer */
    }
    g->body = vx_realloc(g->body, g->len + n + 1);
    memcpy(g->body + g->len, ptr, n);
    g->len += n;
    g->body[g->len] = '\0';
    return n;
}

static void
s_get_start(struct s_get *g, CURLM *multi, const char *base, const char *path)
{
    char url[S_MAX_URL + 16];
    snprintf(url, sizeof url, "%s%s", base, path);
    g->curl = curl_easy_init();
    if (!g->curl) {
        g->done = true;
        g->result = CURLE_OUT_OF_MEMORY;
        snprintf(g->errbuf, sizeof g->errbuf, "cannot create a request");
        return;
    }
    curl_easy_setopt(g->curl, CURLOPT_URL, url);
    ctl_tls_apply(g->curl);
    curl_easy_setopt(g->curl, CURLOPT_TIMEOUT_MS, S_TIMEOUT_MS);
    curl_easy_setopt(g->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(g->curl, CURLOPT_WRITEFUNCTION, cb_write);
    curl_easy_setopt(g->curl, CURLOPT_WRITEDATA, g);
    curl_easy_setopt(g->curl, CURLOPT_ERRORBUFFER, g->errbuf);
    curl_easy_setopt(g->curl, CURLOPT_PRIVATE, g);
    curl_easy_setopt(g->curl, CURLOPT_USERAGENT, CTL_PROG "/" VX_VERSION);
    curl_multi_add_handle(multi, g->curl);
}

static void
s_get_fini(struct s_get *g, CURLM *multi)
{
    if (g->curl) {
        curl_multi_remove_handle(multi, g->curl);
        curl_easy_cleanup(g->curl);
        g->curl = NULL;
    }
    vx_free(&g->body);
}

/* Runs every started request to completion (each has its own timeout) or until a signal. */
static void
s_run_all(CURLM *multi)
{
    int running = 1;
    while (running > 0 && !ctl_stop) {
        if (curl_multi_perform(multi, &running) != CURLM_OK) {
            break;
        }
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left)) != NULL) {
            if (m->msg != CURLMSG_DONE) {
                continue;
            }
            char *priv = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
            struct s_get *g = (struct s_get *)priv;
            g->done = true;
            g->done_s = (double)vx_mono_ns() / (double)VX_NS_PER_S;
            g->result = m->data.result;
            if (g->result == CURLE_OK) {
                curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &g->code);
            }
        }
        if (running > 0) {
            curl_multi_poll(multi, NULL, 0, 100, NULL);
        }
    }
}

static bool
s_answered(const struct s_get *g)
{
    return g->done && g->result == CURLE_OK && g->code > 0;
}

/* Why a probe did not say yes, for the JSON "error" field; NULL when it did. */
static const char *
s_get_problem(const struct s_get *g, char *buf, size_t len)
{
    if (!g->done) {
        snprintf(buf, len, "interrupted");
    } else if (g->result != CURLE_OK) {
        snprintf(buf, len, "%s", g->errbuf[0] ? g->errbuf : curl_easy_strerror(g->result));
    } else if (g->code != 200) {
        snprintf(buf, len, "HTTP %ld", g->code);
    } else {
        return NULL;
    }
    return buf;
}

/* The "version" field of a /health answer, or NULL. Caller owns the result. */
static char *
s_health_version(const struct s_get *g)
{
    if (!s_answered(g) || !g->body) {
        return NULL;
    }
    json_t *doc = json_loadb(g->body, g->len, 0, NULL);
    const char *v = json_string_value(json_object_get(doc, "version"));
    char *out = v ? vx_strdup(v) : NULL;
    json_decref(doc);
    return out;
}

/* The "uptime_s" field of a /health answer, or -1. */
static long long
s_health_uptime(const struct s_get *g)
{
    if (!s_answered(g) || !g->body) {
        return -1;
    }
    json_t *doc = json_loadb(g->body, g->len, 0, NULL);
    json_t *u = json_object_get(doc, "uptime_s");
    long long out = json_is_integer(u) ? (long long)json_integer_value(u) : -1;
    json_decref(doc);
    return out;
}

/* The sum of every sample of counter `name` (all label sets) in a Prometheus text exposition,
 * or -1 when the answer is missing or has no such series. */
static double
s_metric_sum(const struct s_get *g, const char *name)
{
    if (!s_answered(g) || g->code != 200 || !g->body) {
        return -1;
    }
    size_t nlen = strlen(name);
    double sum = 0;
    bool found = false;
    for (const char *line = g->body; *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        if (len > nlen && strncmp(line, name, nlen) == 0 &&
            (line[nlen] == ' ' || line[nlen] == '{')) {
            const char *v = line + nlen;
            if (*v == '{') {
                v = memchr(v, '}', len - nlen);
            }
            if (v) {
                char *end;
                double d = strtod(v + 1, &end);
                if (end != v + 1) {
                    sum += d;
                    found = true;
                }
            }
        }
        line += len + (eol ? 1 : 0);
    }
    return found ? sum : -1;
}

/* Events per second over the interval from a counter read twice, or -1 when either read
 * failed, the interval is empty or the counter went back (the service restarted). */
static double
s_rate(const struct s_probe *p, const char *metric)
{
    double a = s_metric_sum(&p->metrics[0], metric);
    double b = s_metric_sum(&p->metrics[1], metric);
    double dt = p->metrics[1].done_s - p->metrics[0].done_s;
    if (a < 0 || b < a || dt <= 0) {
        return -1;
    }
    return (b - a) / dt;
}

/* The newest read of a counter, or -1 (also when there is no such counter). */
static double
s_latest(const struct s_probe *p, const char *metric)
{
    if (!metric) {
        return -1;
    }
    double b = s_metric_sum(&p->metrics[1], metric);
    return b >= 0 ? b : s_metric_sum(&p->metrics[0], metric);
}

/* The latest /metrics answer of a probe: the second read, else the first; NULL without one. */
static const struct s_get *
s_latest_get(const struct s_probe *p)
{
    for (int k = 1; k >= 0; k--) {
        const struct s_get *g = &p->metrics[k];
        if (s_answered(g) && g->code == 200 && g->body) {
            return g;
        }
    }
    return NULL;
}

/* The value of label `name` in a series' label text (`{a="x",b="y"}`) into out; false when
 * absent. */
static bool
s_label(const char *labels, size_t len, const char *name, char *out, size_t outlen)
{
    char key[64];
    snprintf(key, sizeof key, "%s=\"", name);
    size_t klen = strlen(key);
    for (size_t i = 0; i + klen <= len; i++) {
        if ((i == 0 || labels[i - 1] == '{' || labels[i - 1] == ',') &&
            strncmp(labels + i, key, klen) == 0) {
            const char *v = labels + i + klen;
            const char *end = memchr(v, '"', len - i - klen);
            if (!end || (size_t)(end - v) >= outlen) {
                return false;
            }
            memcpy(out, v, (size_t)(end - v));
            out[end - v] = '\0';
            return true;
        }
    }
    return false;
}

/* Events lost in flight, summed over every answering service: an object hop -> {"total": n,
 * "reasons": {reason: n}} (new reference; empty when no service has the family). The series
 * are the same counters each daemon shows as vexfs_events_lost_total{hop,reason}. */
static json_t *
s_lost_by_hop(const struct s_probe *probes)
{
    static const char name[] = "vexfs_events_lost_total{";
    json_t *hops = json_object();
    for (size_t i = 0; i < S_N_SERVICES; i++) {
        const struct s_get *g = probes[i].selected ? s_latest_get(&probes[i]) : NULL;
        for (const char *line = g ? g->body : ""; *line;) {
            const char *eol = strchr(line, '\n');
            size_t len = eol ? (size_t)(eol - line) : strlen(line);
            const char *close = strncmp(line, name, sizeof name - 1) == 0
                                    ? memchr(line, '}', len)
                                    : NULL;
            char hop[128], reason[64];
            if (close && s_label(line + sizeof name - 2, (size_t)(close - line) - sizeof name + 3,
                                 "hop", hop, sizeof hop) &&
                s_label(line + sizeof name - 2, (size_t)(close - line) - sizeof name + 3,
                        "reason", reason, sizeof reason)) {
                double v = strtod(close + 1, NULL);
                json_t *h = json_object_get(hops, hop);
                if (!h) {
                    h = json_pack("{s:I, s:{}}", "total", (json_int_t)0, "reasons");
                    json_object_set_new(hops, hop, h);
                }
                json_t *rs = json_object_get(h, "reasons");
                json_int_t add = (json_int_t)v;
                json_object_set_new(h, "total",
                                    json_integer(json_integer_value(json_object_get(h, "total")) +
                                                 add));
                json_object_set_new(
                    rs, reason,
                    json_integer(json_integer_value(json_object_get(rs, reason)) + add));
            }
            line += len + (eol ? 1 : 0);
        }
    }
    return hops;
}

/* One line per hop: "lost HOP: N (reason N, ...)", the reasons with a count only. */
static void
s_print_lost(const struct s_probe *probes)
{
    json_t *hops = s_lost_by_hop(probes);
    const char *hop;
    json_t *h;
    json_object_foreach(hops, hop, h) {
        printf("lost %s: %lld", hop, (long long)json_integer_value(json_object_get(h, "total")));
        const char *reason;
        json_t *n;
        const char *sep = " (";
        json_object_foreach(json_object_get(h, "reasons"), reason, n) {
            if (json_integer_value(n) > 0) {
                printf("%s%s %lld", sep, reason, (long long)json_integer_value(n));
                sep = ", ";
            }
        }
        printf("%s\n", strcmp(sep, ", ") == 0 ? ")" : "");
    }
    json_decref(hops);
}

/* The "detail" of a 200 /ready answer and its non-empty "degraded" list (names of parts that
 * work but need attention, e.g. routing's blocked boundaries), or NULL. *detail gets a new
 * reference when the list is returned; the caller releases it. */
static json_t *
s_degraded(const struct s_get *g, json_t **detail)
{
    *detail = NULL;
    if (!s_answered(g) || g->code != 200 || !g->body) {
        return NULL;
    }
    json_t *doc = json_loadb(g->body, g->len, 0, NULL);
    json_t *d = json_object_get(doc, "detail");
    json_t *list = json_object_get(d, "degraded");
    if (!json_is_array(list) || json_array_size(list) == 0) {
        json_decref(doc);
        return NULL;
    }
    *detail = json_incref(d);
    json_decref(doc);
    return json_object_get(*detail, "degraded");
}

static void
s_fmt_uptime(long long s, char *buf, size_t len)
{
    if (s < 0) {
        snprintf(buf, len, "-");
    } else if (s < 60) {
        snprintf(buf, len, "%llds", s);
    } else if (s < 3600) {
        snprintf(buf, len, "%lldm%02llds", s / 60, s % 60);
    } else if (s < 86400) {
        snprintf(buf, len, "%lldh%02lldm", s / 3600, s % 3600 / 60);
    } else {
        snprintf(buf, len, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
    }
}

static void
s_fmt_number(double v, int decimals, char *buf, size_t len)
{
    if (v < 0) {
        snprintf(buf, len, "-");
    } else {
        snprintf(buf, len, "%.*f", decimals, v);
    }
}

static void
s_print_table(const struct s_probe *probes)
{
    int urlw = 3;
    for (size_t i = 0; i < S_N_SERVICES; i++) {
        if (probes[i].selected && (int)strlen(probes[i].url) > urlw) {
            urlw = (int)strlen(probes[i].url);
        }
    }
    printf("%-12s %-*s %-6s %-8s %-8s %-8s %10s %9s\n", "SERVICE", urlw, "URL", "HEALTH",
           "READY", "VERSION", "UPTIME", "EVENTS/S", "DROPPED");
    for (size_t i = 0; i < S_N_SERVICES; i++) {
        const struct s_probe *p = &probes[i];
        if (!p->selected) {
            continue;
        }
        char *version = s_health_version(&p->health);
        char up[32], rate[32], drops[32];
        s_fmt_uptime(s_health_uptime(&p->health), up, sizeof up);
        s_fmt_number(s_rate(p, p->svc->events_metric), 1, rate, sizeof rate);
        s_fmt_number(s_latest(p, p->svc->drops_metric), 0, drops, sizeof drops);
        json_t *detail = NULL;
        bool degraded = s_degraded(&p->ready, &detail) != NULL;
        json_decref(detail);
        printf("%-12s %-*s %-6s %-8s %-8s %-8s %10s %9s\n", p->svc->name, urlw, p->url,
               s_answered(&p->health) && p->health.code == 200 ? "up" : "down",
               degraded                                          ? "degraded"
               : s_answered(&p->ready) && p->ready.code == 200 ? "yes"
                                                                 : "no",
               version ? version : "-", up, rate, drops);
        free(version);
    }
    /* What a degraded service names, one line each: ready, but someone should look. */
    for (size_t i = 0; i < S_N_SERVICES; i++) {
        const struct s_probe *p = &probes[i];
        json_t *detail = NULL;
        json_t *list = p->selected ? s_degraded(&p->ready, &detail) : NULL;
        size_t k;
        json_t *name;
        json_array_foreach(list, k, name) {
            const char *n = json_string_value(name);
            json_t *b = json_object_get(json_object_get(detail, "blocked"), n ? n : "");
            if (json_is_object(b)) {
                printf("%s degraded: boundary %s blocked %.1f s (policy %s, %lld events "
                       "queued, %lld dropped)\n",
                       p->svc->name, n, json_number_value(json_object_get(b, "blocked_s")),
                       json_string_value(json_object_get(b, "policy"))
                           ? json_string_value(json_object_get(b, "policy"))
                           : "?",
                       (long long)json_integer_value(json_object_get(b, "queued")),
                       (long long)json_integer_value(json_object_get(b, "dropped")));
            } else {
                printf("%s degraded: %s\n", p->svc->name, n ? n : "?");
            }
        }
        json_decref(detail);
    }
    s_print_lost(probes);
}

static void
s_print_json(const struct s_probe *probes, bool ok)
{
    json_t *list = json_array();
    for (size_t i = 0; i < S_N_SERVICES; i++) {
        const struct s_probe *p = &probes[i];
        if (!p->selected) {
            continue;
        }
        char *version = s_health_version(&p->health);
        bool up = s_answered(&p->health) && p->health.code == 200;
        bool ready = s_answered(&p->ready) && p->ready.code == 200;
        json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:o}", "service", p->svc->name, "url",
                              p->url, "health", up ? "up" : "down", "ready", ready, "version",
                              version ? json_string(version) : json_null());
        json_t *ready_detail = NULL;
        json_t *degraded = s_degraded(&p->ready, &ready_detail);
        if (degraded) {
            json_object_set(o, "degraded", degraded);
        }
        json_decref(ready_detail);
        free(version);
        long long uptime = s_health_uptime(&p->health);
        double rate = s_rate(p, p->svc->events_metric);
        double drops = s_latest(p, p->svc->drops_metric);
        json_object_set_new(o, "uptime_s", uptime >= 0 ? json_integer(uptime) : json_null());
        json_object_set_new(o, "events_per_s", rate >= 0 ? json_real(rate) : json_null());
        json_object_set_new(o, "dropped_total",
                            drops >= 0 ? json_integer((json_int_t)drops) : json_null());
        char buf[CURL_ERROR_SIZE + 32];
        const char *problem = s_get_problem(&p->health, buf, sizeof buf);
        if (!problem) {
            problem = s_get_problem(&p->ready, buf, sizeof buf);
        }
        if (problem) {
            json_object_set_new(o, "error", json_string(problem));
        }
        /* /ready may explain itself (an object of details): pass it through. */
        json_t *detail = s_answered(&p->ready) && p->ready.body
                             ? json_loadb(p->ready.body, p->ready.len, 0, NULL)
                             : NULL;
        if (json_is_object(detail)) {
            json_object_set(o, "detail", detail);
        }
        json_decref(detail);
        json_array_append_new(list, o);
    }
    json_t *doc = json_pack("{s:b, s:o, s:o}", "ok", ok, "services", list, "lost",
                            s_lost_by_hop(probes));
    json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
    fputc('\n', stdout);
    json_decref(doc);
}

int
ctl_status_main(int argc, char **argv)
{
    struct s_probe probes[S_N_SERVICES];
    memset(probes, 0, sizeof probes);
    for (size_t i = 0; i < S_N_SERVICES; i++) {
        probes[i].svc = &s_services[i];
        probes[i].selected = true;
        const char *env = getenv(s_services[i].env);
        if (s_set_url(&probes[i], env && *env ? env : s_services[i].def, s_services[i].env) < 0) {
            return CTL_EXIT_USAGE;
        }
    }

    struct option opts[S_N_SERVICES + 6];
    size_t no = 0;
    opts[no++] = (struct option){"json", no_argument, NULL, 'j'};
    opts[no++] = (struct option){"only", required_argument, NULL, 'o'};
    opts[no++] = (struct option){"interval", required_argument, NULL, 'i'};
    opts[no++] = (struct option){"help", no_argument, NULL, 'h'};
    opts[no++] = (struct option){"version", no_argument, NULL, 'V'};
    for (size_t i = 0; i < S_N_SERVICES; i++) {
        opts[no++] = (struct option){s_services[i].name, required_argument, NULL,
                                     S_OPT_URL + (int)i};
    }
    opts[no] = (struct option){NULL, 0, NULL, 0};

    bool json = false;
    long interval_ms = S_DEFAULT_INTERVAL_MS;
    int c;
    while ((c = getopt_long(argc, argv, ":o:i:jhV", opts, NULL)) != -1) {
        if (c >= S_OPT_URL && c < S_OPT_URL + (int)S_N_SERVICES) {
            char origin[32];
            snprintf(origin, sizeof origin, "--%s", s_services[c - S_OPT_URL].name);
            if (s_set_url(&probes[c - S_OPT_URL], optarg, origin) < 0) {
                return CTL_EXIT_USAGE;
            }
            continue;
        }
        switch (c) {
        case 'j':
            json = true;
            break;
        case 'i': {
            char *end;
            errno = 0;
            interval_ms = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || interval_ms < 0 || interval_ms > 60000) {
                ctl_err(S_CMD, "--interval: expected milliseconds from 0 to 60000, got '%s'",
                        optarg);
                return CTL_EXIT_USAGE;
            }
            break;
        }
        case 'o':
            if (s_select(probes, optarg) < 0) {
                return CTL_EXIT_USAGE;
            }
            break;
        case 'h':
            s_usage(stdout);
            return CTL_EXIT_OK;
        case 'V':
            printf(CTL_PROG " %s\n", VX_VERSION);
            return CTL_EXIT_OK;
        default:
            return ctl_opt_error(S_CMD, c, argv);
        }
    }
    if (optind < argc) {
        ctl_err(S_CMD, "unexpected argument '%s'", argv[optind]);
        return CTL_EXIT_USAGE;
    }

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ctl_err(S_CMD, "cannot initialise libcurl");
        return CTL_EXIT_FAIL;
    }
    CURLM *multi = curl_multi_init();
    if (!multi) {
        ctl_err(S_CMD, "cannot initialise libcurl");
        curl_global_cleanup();
        return CTL_EXIT_FAIL;
    }
    for (size_t i = 0; i < S_N_SERVICES; i++) {
        if (probes[i].selected) {
            s_get_start(&probes[i].health, multi, probes[i].url, "/health");
            s_get_start(&probes[i].ready, multi, probes[i].url, "/ready");
            s_get_start(&probes[i].metrics[0], multi, probes[i].url, "/metrics");
        }
    }
    s_run_all(multi);
    if (interval_ms > 0 && !ctl_stop) {
        /* Sleep in short steps so Ctrl-C stays prompt, then read the counters again. */
        for (long waited = 0; waited < interval_ms && !ctl_stop; waited += 50) {
            struct timespec ts = {0, 50 * 1000000L};
            nanosleep(&ts, NULL);
        }
        for (size_t i = 0; i < S_N_SERVICES; i++) {
            if (probes[i].selected && s_answered(&probes[i].metrics[0])) {
                s_get_start(&probes[i].metrics[1], multi, probes[i].url, "/metrics");
            }
        }
        s_run_all(multi);
    }

    size_t answered = 0, unready = 0;
    for (size_t i = 0; i < S_N_SERVICES; i++) {
        const struct s_probe *p = &probes[i];
        if (p->selected && (s_answered(&p->health) || s_answered(&p->ready))) {
            answered++;
            if (!(s_answered(&p->ready) && p->ready.code == 200)) {
                unready++;
            }
        }
    }
    bool ok = answered > 0 && unready == 0 && !ctl_stop;
    if (json) {
        s_print_json(probes, ok);
    } else {
        s_print_table(probes);
    }
    fflush(stdout);
    if (ctl_stop) {
        ctl_err(S_CMD, "interrupted");
    }

    for (size_t i = 0; i < S_N_SERVICES; i++) {
        s_get_fini(&probes[i].health, multi);
        s_get_fini(&probes[i].ready, multi);
        s_get_fini(&probes[i].metrics[0], multi);
        s_get_fini(&probes[i].metrics[1], multi);
    }
    curl_multi_cleanup(multi);
    curl_global_cleanup();
    return ok ? CTL_EXIT_OK : CTL_EXIT_FAIL;
}
