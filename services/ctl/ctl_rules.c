/* SPDX-License-Identifier: Apache-2.0 */
/* vexfsctl rules: reads and changes vexfs-routing's rules and filters over its REST API, and
 * asks it how it would route an event.
 *
 * The rules file format is the daemon's own (YAML, or JSON for .json files): {rules: [...],
 * filters: [...]}, or a bare list of rules. The daemon validates everything; its error
 * message is printed as it is, so a bad regex or boundary is reported with the entry, field
 * and reason. */
#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "vx_config.h"
#include "vx_mem.h"
#include "vx_yaml.h"

#define S_CMD "rules"
#define S_DEFAULT_URL "http://127.0.0.1:8081"
#define S_URL_ENV "VEXFS_ROUTING_URL"
#define S_TIMEOUT_MS 60000L /* a large set takes a while to compile */
#define S_MAX_RESPONSE (256 * 1024 * 1024)

struct s_buf {
    char *data;
    size_t len;
};

struct s_client {
    const char *base; /* without trailing slash: base_len */
    size_t base_len;
    char *token;
    bool json;
};

static void
s_usage(FILE *f)
{
    fprintf(f,
            "usage: " CTL_PROG " rules [--url URL] [--token-file F] [--json] COMMAND [ARG]\n\n"
            "Commands:\n"
            "  list              the rules (evaluation order) and filters, one per line\n"
            "  get ID            one rule, as JSON\n"
            "  apply FILE        replace the rules, and the filters when FILE has them, in one\n"
            "                    change (YAML or JSON: {rules: [...], filters: [...]})\n"
            "  delete ID         remove one rule\n"
            "  test EVENT.json   how the current set decides for this event (JSON), without\n"
            "                    routing it\n\n"
            "  -u, --url URL         vexfs-routing's REST address (env %s, default %s)\n"
            "      --token-file F    bearer token for apply and delete, first line of F\n"
            "      --json            list: print the daemon's JSON instead of lines\n"
            "      --help, --version\n\n"
            "Exit status: 0 done, 1 the daemon refused or could not be reached, 2 usage.\n",
            S_URL_ENV, S_DEFAULT_URL);
}

static size_t
cb_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct s_buf *b = arg;
    size_t n = size * nmemb;
    if (b->len + n > S_MAX_RESPONSE) {
        return 0;
    }
    b->data = vx_realloc(b->data, b->len + n + 1);
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
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

/* Performs one request on base + path with an optional JSON body. Returns the parsed JSON
 * answer (new reference) when the status is 2xx; otherwise prints the daemon's error (or the
 * transport's) and returns NULL. */
static json_t *
s_request(struct s_client *c, const char *method, const char *path, json_t *body)
{
    size_t plen = strlen(path);
    char *url = vx_malloc(c->base_len + plen + 1);
    memcpy(url, c->base, c->base_len);
    memcpy(url + c->base_len, path, plen + 1);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");
    if (c->token) {
        size_t alen = strlen(c->token) + 32;
        char *auth = vx_malloc(alen);
        snprintf(auth, alen, "Authorization: Bearer %s", c->token);
        headers = curl_slist_append(headers, auth);
        free(auth);
    }
    struct s_buf resp = {NULL, 0};
    char errbuf[CURL_ERROR_SIZE] = "";
    json_t *out = NULL;
    CURL *curl = curl_easy_init();
    if (!curl || !headers) {
        ctl_err(S_CMD, "cannot initialise libcurl");
        goto done;
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (text) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, text);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(text));
    }
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, S_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, cb_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, cb_progress);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, CTL_PROG "/" VX_VERSION);
    CURLcode cc = curl_easy_perform(curl);
    if (cc != CURLE_OK) {
        ctl_err(S_CMD, "%s %s: %s", method, url,
                cc == CURLE_ABORTED_BY_CALLBACK ? "interrupted"
                : errbuf[0]                     ? errbuf
                                                : curl_easy_strerror(cc));
        goto done;
    }
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    json_t *doc = resp.data ? json_loadb(resp.data, resp.len, 0, NULL) : NULL;
    if (code >= 200 && code <= 299 && doc) {
        out = doc;
        goto done;
    }
    json_t *e = json_object_get(doc, "error");
    const char *ecode = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (msg) {
        ctl_err(S_CMD, "%s %s: HTTP %ld %s: %s", method, url, code, ecode ? ecode : "error", msg);
    } else {
        int n = resp.data ? (int)strcspn(resp.data, "\r\n") : 0;
        ctl_err(S_CMD, "%s %s: HTTP %ld%s%.*s", method, url, code, n ? ": " : "",
                n > 512 ? 512 : n, resp.data ? resp.data : "");
    }
    json_decref(doc);
done:
    if (curl) {
        curl_easy_cleanup(curl);
    }
    curl_slist_free_all(headers);
    free(resp.data);
    free(text);
    free(url);
    return out;
}

static int
s_print_json(json_t *j)
{
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!text) {
        ctl_err(S_CMD, "cannot print the answer");
        return CTL_EXIT_FAIL;
    }
    printf("%s\n", text);
    free(text);
    return CTL_EXIT_OK;
}

/* "a,b" from a JSON list of strings. */
static void
s_join(json_t *list, char *out, size_t len)
{
    size_t off = 0, i;
    json_t *v;
    out[0] = '\0';
    json_array_foreach(list, i, v) {
        int w = snprintf(out + off, len - off, "%s%s", i ? "," : "", json_string_value(v));
        if (w < 0 || (size_t)w >= len - off) {
            break;
        }
        off += (size_t)w;
    }
}

static int
s_list(struct s_client *c)
{
    json_t *rules = s_request(c, "GET", "/v1/rules", NULL);
    json_t *filters = rules ? s_request(c, "GET", "/v1/filters", NULL) : NULL;
    if (!rules || !filters) {
        json_decref(rules);
        return CTL_EXIT_FAIL;
    }
    int rc = CTL_EXIT_OK;
    if (c->json) {
        json_t *all = json_pack("{s:O, s:O, s:O}", "version", json_object_get(rules, "version"),
                                "rules", json_object_get(rules, "rules"), "filters",
                                json_object_get(filters, "filters"));
        rc = s_print_json(all);
        json_decref(all);
    } else {
        printf("version %lld\n", (long long)json_integer_value(json_object_get(rules, "version")));
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(rules, "rules"), i, r) {
            char targets[512], more[512];
            s_join(json_object_get(r, "target_boundaries"), targets, sizeof targets);
            s_join(json_object_get(json_object_get(r, "actions"), "route_to_boundaries"), more,
                   sizeof more);
            printf("rule    %-32s priority %-8lld -> %s%s%s%s%s\n",
                   json_string_value(json_object_get(r, "id")),
                   (long long)json_integer_value(json_object_get(r, "priority")), targets,
                   targets[0] && more[0] ? "," : "", more,
                   json_is_false(json_object_get(r, "enabled")) ? " (disabled)" : "",
                   json_is_true(json_object_get(r, "stop")) ? " (stop)" : "");
        }
        json_array_foreach(json_object_get(filters, "filters"), i, r) {
            printf("filter  %-32s order %-11lld %s %s%s\n",
                   json_string_value(json_object_get(r, "id")),
                   (long long)json_integer_value(json_object_get(r, "order")),
                   json_string_value(json_object_get(r, "kind")),
                   json_string_value(json_object_get(r, "action")),
                   json_is_false(json_object_get(r, "enabled")) ? " (disabled)" : "");
        }
    }
    json_decref(rules);
    json_decref(filters);
    return rc;
}

/* "/v1/rules/<escaped id>" */
static char *
s_rule_path(const char *id)
{
    char *esc = curl_easy_escape(NULL, id, 0);
    if (!esc) {
        return NULL;
    }
    size_t len = strlen(esc) + 16;
    char *path = vx_malloc(len);
    snprintf(path, len, "/v1/rules/%s", esc);
    curl_free(esc);
    return path;
}

static int
s_get(struct s_client *c, const char *id)
{
    char *path = s_rule_path(id);
    json_t *r = path ? s_request(c, "GET", path, NULL) : NULL;
    free(path);
    if (!r) {
        return CTL_EXIT_FAIL;
    }
    int rc = s_print_json(r);
    json_decref(r);
    return rc;
}

static int
s_delete(struct s_client *c, const char *id)
{
    char *path = s_rule_path(id);
    json_t *r = path ? s_request(c, "DELETE", path, NULL) : NULL;
    free(path);
    if (!r) {
        return CTL_EXIT_FAIL;
    }
    fprintf(stderr, "deleted rule %s: version %lld\n", id,
            (long long)json_integer_value(json_object_get(r, "version")));
    json_decref(r);
    return CTL_EXIT_OK;
}

static int
s_apply(struct s_client *c, const char *file)
{
    char err[512];
    json_t *doc = vx_yaml_load_file(file, err, sizeof err);
    if (!doc) {
        ctl_err(S_CMD, "%s", err);
        return CTL_EXIT_FAIL;
    }
    json_t *body = NULL;
    if (json_is_array(doc)) {
        body = json_pack("{s:O}", "rules", doc);
    } else if (json_is_object(doc) &&
               (json_object_get(doc, "rules") || json_object_get(doc, "filters"))) {
        body = json_incref(doc); /* the daemon checks the keys and reports strays */
    } else {
        ctl_err(S_CMD, "%s: expected {rules: [...], filters: [...]} or a list of rules", file);
        json_decref(doc);
        return CTL_EXIT_FAIL;
    }
    json_t *r = s_request(c, "PUT", "/v1/rules", body);
    json_decref(body);
    json_decref(doc);
    if (!r) {
        return CTL_EXIT_FAIL;
    }
    fprintf(stderr, "applied %s: version %lld, %lld rules, %lld filters\n", file,
            (long long)json_integer_value(json_object_get(r, "version")),
            (long long)json_integer_value(json_object_get(r, "rules")),
            (long long)json_integer_value(json_object_get(r, "filters")));
    json_decref(r);
    return CTL_EXIT_OK;
}

static int
s_test(struct s_client *c, const char *file)
{
    char err[512];
    json_t *event = vx_yaml_load_file(file, err, sizeof err);
    if (!event) {
        ctl_err(S_CMD, "%s", err);
        return CTL_EXIT_FAIL;
    }
    json_t *r = s_request(c, "POST", "/v1/route/test", event);
    json_decref(event);
    if (!r) {
        return CTL_EXIT_FAIL;
    }
    int rc = s_print_json(r);
    json_decref(r);
    return rc;
}

enum {
    S_OPT_TOKEN_FILE = 1000,
    S_OPT_JSON,
};

int
ctl_rules_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},
        {"token-file", required_argument, NULL, S_OPT_TOKEN_FILE},
        {"json", no_argument, NULL, S_OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct s_client c = {0};
    const char *url = getenv(S_URL_ENV);
    const char *token_file = NULL;
    if (!url || !*url) {
        url = S_DEFAULT_URL;
    }
    int ch;
    while ((ch = getopt_long(argc, argv, ":u:hV", opts, NULL)) != -1) {
        switch (ch) {
        case 'u':
            url = optarg;
            break;
        case S_OPT_TOKEN_FILE:
            token_file = optarg;
            break;
        case S_OPT_JSON:
            c.json = true;
            break;
        case 'h':
            s_usage(stdout);
            return CTL_EXIT_OK;
        case 'V':
            printf(CTL_PROG " %s\n", VX_VERSION);
            return CTL_EXIT_OK;
        default:
            return ctl_opt_error(S_CMD, ch, argv);
        }
    }
    if (!ctl_is_http_url(url)) {
        ctl_err(S_CMD, "--url: expected an http:// or https:// URL, got '%s'", url);
        return CTL_EXIT_USAGE;
    }
    if (optind >= argc) {
        ctl_err(S_CMD, "missing command (list, get, apply, delete or test)");
        return CTL_EXIT_USAGE;
    }
    static const struct {
        const char *name;
        bool has_arg;
        const char *arg;
    } cmds[] = {{"list", false, NULL},    {"get", true, "ID"},          {"apply", true, "FILE"},
                {"delete", true, "ID"},   {"test", true, "EVENT.json"}};
    const char *cmd = argv[optind];
    size_t k = 0;
    while (k < sizeof cmds / sizeof cmds[0] && strcmp(cmds[k].name, cmd) != 0) {
        k++;
    }
    if (k == sizeof cmds / sizeof cmds[0]) {
        ctl_err(S_CMD, "unknown command '%s' (list, get, apply, delete or test)", cmd);
        return CTL_EXIT_USAGE;
    }
    int want = cmds[k].has_arg ? 2 : 1;
    if (argc - optind != want) {
        if (argc - optind < want) {
            ctl_err(S_CMD, "%s needs %s", cmd, cmds[k].arg);
        } else {
            ctl_err(S_CMD, "unexpected argument '%s'", argv[optind + want]);
        }
        return CTL_EXIT_USAGE;
    }
    const char *arg = cmds[k].has_arg ? argv[optind + 1] : NULL;

    char err[512];
    c.token = vx_config_read_secret(token_file, err, sizeof err);
    if (!c.token && err[0]) {
        ctl_err(S_CMD, "--token-file: %s", err);
        return CTL_EXIT_USAGE;
    }
    c.base = url;
    c.base_len = strlen(url);
    while (c.base_len > 0 && url[c.base_len - 1] == '/') {
        c.base_len--;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ctl_err(S_CMD, "cannot initialise libcurl");
        free(c.token);
        return CTL_EXIT_FAIL;
    }
    int rc;
    switch (k) {
    case 0:
        rc = s_list(&c);
        break;
    case 1:
        rc = s_get(&c, arg);
        break;
    case 2:
        rc = s_apply(&c, arg);
        break;
    case 3:
        rc = s_delete(&c, arg);
        break;
    default:
        rc = s_test(&c, arg);
        break;
    }
    curl_global_cleanup();
    free(c.token);
    return rc;
}
