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
#include "ctl_rest.h"
#include "vx_config.h"
#include "vx_mem.h"
#include "vx_yaml.h"

#define S_CMD "rules"
#define S_DEFAULT_URL "https://127.0.0.1:8081"
#define S_URL_ENV "VEXFS_ROUTING_URL"
#define S_TIMEOUT_MS 60000L /* a large set takes a while to compile */
#define S_MAX_RESPONSE (256 * 1024 * 1024)

struct s_client {
    struct ctl_rest rest;
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
    json_t *rules = ctl_rest_call(&c->rest, "GET", "/v1/rules", NULL, false);
    json_t *filters = rules ? ctl_rest_call(&c->rest, "GET", "/v1/filters", NULL, false) : NULL;
    if (!rules || !filters) {
        json_decref(rules);
        return CTL_EXIT_FAIL;
    }
    int rc = CTL_EXIT_OK;
    if (c->json) {
        json_t *all = json_pack("{s:O, s:O, s:O}", "version", json_object_get(rules, "version"),
                                "rules", json_object_get(rules, "rules"), "filters",
                                json_object_get(filters, "filters"));
        rc = ctl_rest_print_json(&c->rest, all);
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
    json_t *r = path ? ctl_rest_call(&c->rest, "GET", path, NULL, false) : NULL;
    free(path);
    if (!r) {
        return CTL_EXIT_FAIL;
    }
    int rc = ctl_rest_print_json(&c->rest, r);
    json_decref(r);
    return rc;
}

static int
s_delete(struct s_client *c, const char *id)
{
    char *path = s_rule_path(id);
    json_t *r = path ? ctl_rest_call(&c->rest, "DELETE", path, NULL, false) : NULL;
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
    json_t *r = ctl_rest_call(&c->rest, "PUT", "/v1/rules", body, false);
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
    json_t *r = ctl_rest_call(&c->rest, "POST", "/v1/route/test", event, false);
    json_decref(event);
    if (!r) {
        return CTL_EXIT_FAIL;
    }
    int rc = ctl_rest_print_json(&c->rest, r);
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

    int irc = ctl_rest_init(&c.rest, S_CMD, url, token_file, S_TIMEOUT_MS, S_MAX_RESPONSE);
    if (irc != 0) {
        return irc;
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
    ctl_rest_fini(&c.rest);
    return rc;
}
