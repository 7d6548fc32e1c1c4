/* SPDX-License-Identifier: Apache-2.0 */
/* vexfsctl executions | alerts: vexfs-automation's executions and pattern alerts over its REST
 * API, as one tenant (--tenant, sent as X-VexFS-Tenant). Patterns and workflows:
 * ctl_patterns.c and ctl_workflows.c.
 *
 * Files are the daemon's own JSON (or YAML) forms; the daemon validates everything and its
 * error message (field and reason) is printed as it is. */
#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ctl_opts.h"
#include "ctl_out.h"
#include "ctl_rest.h"
#include "vx_mem.h"

#define S_DEFAULT_URL "https://127.0.0.1:8083"
#define S_URL_ENV "VEXFS_AUTOMATION_URL"
#define S_TIMEOUT_MS 30000L
#define S_MAX_RESPONSE (64 * 1024 * 1024)

struct s_client {
    struct ctl_rest rest;
    const char *cmd;
    bool json;
    const char *status;
    long long limit;
    long long since;
    /* executions list */
    const char *since_s, *until_s, *workflow, *cursor;
};

static void
s_usage(FILE *f, const char *cmd)
{
    fprintf(f, "usage: " CTL_PROG " %s [--url URL] [--token-file F] [--tenant T] [--json] ", cmd);
    if (strcmp(cmd, "executions") == 0) {
        fprintf(f, "[--status S] [--workflow W] [--since T] [--until T] [--limit N]\n"
                   "       [--cursor C] [COMMAND [ARG]]\n\nCommands:\n"
                   "  list              (the default) the tenant's executions, newest first, one\n"
                   "                    per line: those queued or running, then the history\n"
                   "  get ID            one execution's record (steps, attempts, compensations)\n"
                   "\n  --status S        only those with status S (queued, running, succeeded,\n"
                   "                    failed, interrupted)\n"
                   "  --workflow W      only executions of workflow W\n"
                   "  --since T         only those finished since T: a duration (90s, 30m, 1h,\n"
                   "                    7d) or a time in Unix nanoseconds\n"
                   "  --until T         only those finished before T (same forms)\n"
                   "  --limit N         print at most N (1..10000, default 100), fetching pages\n"
                   "                    as needed; when more are left, the cursor to go on\n"
                   "                    from is printed on stderr\n"
                   "  --cursor C        go on from a cursor printed before\n");
    } else {
        fprintf(f, "[--since SEQ] [--limit N]\n\n"
                   "Prints the alerts of the tenant's patterns, oldest first. Alerts on\n"
                   "metrics and their rules (vexfs-analytics): " CTL_PROG " alerts metrics --help.\n");
    }
    fprintf(f,
            "\n  -u, --url URL         vexfs-automation's REST address (env %s, default %s)\n"
            "      --token-file F    bearer token for changes, first line of F\n"
            "      --tenant T        act as tenant T (default: the daemon's \"default\")\n"
            "      --json            list: print the daemon's JSON instead of lines\n"
            "      --help, --version\n\n"
            "Exit status: 0 done, 1 the daemon refused or could not be reached, 2 usage.\n",
            S_URL_ENV, S_DEFAULT_URL);
}

/* "/v1/<what>/<escaped id><tail>" (caller frees). */
static char *
s_path(const char *what, const char *id, const char *tail)
{
    char *esc = curl_easy_escape(NULL, id, 0);
    if (!esc) {
        return NULL;
    }
    size_t len = strlen(esc) + strlen(what) + strlen(tail) + 8;
    char *path = vx_malloc(len);
    snprintf(path, len, "/v1/%s/%s%s", what, esc, tail);
    curl_free(esc);
    return path;
}

static int
s_call_print(struct s_client *c, const char *method, const char *path, json_t *body)
{
    json_t *r = path ? ctl_rest_call(&c->rest, method, path, body, false) : NULL;
    if (!r) {
        return CTL_EXIT_FAIL;
    }
    int rc = ctl_rest_print_json(&c->rest, r);
    json_decref(r);
    return rc;
}

static int
s_list(struct s_client *c, const char *path, const char *key)
{
    json_t *r = ctl_rest_call(&c->rest, "GET", path, NULL, false);
    if (!r) {
        return CTL_EXIT_FAIL;
    }
    int rc = CTL_EXIT_OK;
    if (c->json) {
        rc = ctl_rest_print_json(&c->rest, r);
        json_decref(r);
        return rc;
    }
    /* An aligned table (the widest cell of each column sets its width), or "none". */
    static const char *const headers[] = {"SEQ", "PATTERN", "SEVERITY", "PARTITION", "MESSAGE",
                                          NULL};
    static const char *const fields[] = {"seq", "pattern", "severity", "partition", "message"};
    struct ctl_table t;
    ctl_table_init(&t, headers);
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(r, key), i, x) {
        char(*row)[CTL_CELL] = ctl_table_row(&t);
        for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
            ctl_out_cell(json_object_get(x, fields[k]), row[k], CTL_CELL);
        }
    }
    if (t.nrows == 0) {
        printf("none\n");
    } else {
        ctl_table_print(&t, stdout);
    }
    ctl_table_fini(&t);
    json_decref(r);
    return rc;
}

static void
s_arg(char *buf, size_t len, const char *name, const char *value)
{
    if (value == NULL) {
        return;
    }
    char *esc = curl_easy_escape(NULL, value, 0);
    size_t n = strlen(buf);
    snprintf(buf + n, len - n, "&%s=%s", name, esc ? esc : "");
    curl_free(esc);
}

static void
s_exec_line(json_t *x)
{
    const char *err = json_string_value(json_object_get(x, "error"));
    printf("%-36s %-24s %-12s steps %lld%s%s\n", json_string_value(json_object_get(x, "id")),
           json_string_value(json_object_get(x, "workflow")),
           json_string_value(json_object_get(x, "status")),
           (long long)json_integer_value(json_object_get(x, "steps_run")), err ? "  " : "",
           err ? err : "");
}

/* Pages through GET /v1/executions until --limit lines are printed or none are left; the
 * cursor to go on from goes to stderr. --json prints the executions as one array. */
static int
s_executions_list(struct s_client *c)
{
    long long want = c->limit ? c->limit : 100;
    long long got = 0;
    char *cursor = c->cursor ? vx_strdup(c->cursor) : NULL;
    json_t *all = json_array();
    int rc = CTL_EXIT_OK;
    for (;;) {
        char path[2048];
        long long page = want - got < 1000 ? want - got : 1000;
        snprintf(path, sizeof path, "/v1/executions?limit=%lld", page);
        s_arg(path, sizeof path, "status", c->status);
        s_arg(path, sizeof path, "workflow", c->workflow);
        s_arg(path, sizeof path, "since", c->since_s);
        s_arg(path, sizeof path, "until", c->until_s);
        s_arg(path, sizeof path, "cursor", cursor);
        json_t *r = ctl_rest_call(&c->rest, "GET", path, NULL, false);
        if (r == NULL) {
            rc = CTL_EXIT_FAIL;
            break;
        }
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(r, "executions"), i, x) {
            if (c->json) {
                json_array_append(all, x);
            } else {
                s_exec_line(x);
            }
            got++;
        }
        const char *next = json_string_value(json_object_get(r, "next_cursor"));
        free(cursor);
        cursor = next ? vx_strdup(next) : NULL;
        json_decref(r);
        if (cursor == NULL || got >= want) {
            break;
        }
    }
    if (rc == CTL_EXIT_OK && c->json) {
        json_t *doc = json_pack("{s:O}", "executions", all);
        if (cursor != NULL) {
            json_object_set_new(doc, "next_cursor", json_string(cursor));
        }
        rc = ctl_rest_print_json(&c->rest, doc);
        json_decref(doc);
    } else if (rc == CTL_EXIT_OK && cursor != NULL) {
        fprintf(stderr, "more: --cursor %s\n", cursor);
    }
    json_decref(all);
    free(cursor);
    return rc;
}

static int
s_dispatch(struct s_client *c, const char *sub, const char *a1, const char *a2)
{
    (void)a2; /* no subcommand of executions takes two arguments */
    char q[128];
    if (sub == NULL) { /* alerts: the only command without subcommands */
        snprintf(q, sizeof q, "/v1/alerts?since=%lld&limit=%lld", c->since,
                 c->limit ? c->limit : 100);
        return s_list(c, q, "alerts");
    }
    if (strcmp(c->cmd, "executions") == 0) {
        if (strcmp(sub, "list") == 0) {
            return s_executions_list(c);
        }
        char *path = s_path("executions", a1, "");
        int rc = s_call_print(c, "GET", path, NULL);
        free(path);
        return rc;
    }
    return CTL_EXIT_USAGE; /* not reached: s_main checked the subcommand */
}

enum {
    S_OPT_STATUS = CTL_OPT_OWN,
    S_OPT_LIMIT,
    S_OPT_SINCE,
    S_OPT_UNTIL,
    S_OPT_WORKFLOW,
    S_OPT_CURSOR,
};

static void
cb_usage(FILE *f, void *arg)
{
    s_usage(f, ((struct s_client *)arg)->cmd);
}

/* The filters: --status, --limit and --since for both commands (--since is a sequence number
 * for alerts, a duration or a time for executions, which the daemon checks); --until,
 * --workflow and --cursor for executions only. */
static int
cb_opt(void *arg, int ch, char *value, char **argv)
{
    struct s_client *c = arg;
    const char *cmd = c->cmd;
    switch (ch) {
    case S_OPT_STATUS:
        c->status = value;
        return 0;
    case S_OPT_LIMIT:
        return ctl_parse_int(cmd, "--limit", value, 1, 10000, &c->limit) < 0 ? CTL_EXIT_USAGE : 0;
    case S_OPT_SINCE:
        if (strcmp(cmd, "executions") == 0) {
            c->since_s = value;
        } else if (ctl_parse_int(cmd, "--since", value, 0, INT64_MAX, &c->since) < 0) {
            return CTL_EXIT_USAGE;
        }
        return 0;
    default: /* S_OPT_UNTIL, S_OPT_WORKFLOW, S_OPT_CURSOR */
        if (strcmp(cmd, "executions") != 0) {
            ctl_err(cmd, "%s: only for executions", argv[optind - 1]);
            return CTL_EXIT_USAGE;
        }
        *(ch == S_OPT_UNTIL      ? &c->until_s
          : ch == S_OPT_WORKFLOW ? &c->workflow
                                 : &c->cursor) = value;
        return 0;
    }
}

/* The subcommands of each command: name, least and most arguments. */
struct s_sub {
    const char *name;
    int min, max;
};

/* The one entry of `vexfsctl executions` and `vexfsctl alerts`: both take the same connection
 * and filter options, so they share this parser; `executions` also has verbs (list, get) with
 * argument counts from a small table, checked here before anything is sent. */
static int
s_main(const char *cmd, int argc, char **argv)
{
    static const struct option own[] = {
        {"status", required_argument, NULL, S_OPT_STATUS},
        {"limit", required_argument, NULL, S_OPT_LIMIT},
        {"since", required_argument, NULL, S_OPT_SINCE},
        {"until", required_argument, NULL, S_OPT_UNTIL},
        {"workflow", required_argument, NULL, S_OPT_WORKFLOW},
        {"cursor", required_argument, NULL, S_OPT_CURSOR},
        {NULL, 0, NULL, 0},
    };
    struct s_client c = {.cmd = cmd};
    const struct ctl_optdef d = {
        .cmd = cmd,
        .common = CTL_COMMON_URL | CTL_COMMON_TOKEN_FILE | CTL_COMMON_TENANT | CTL_COMMON_JSON,
        .url_env = S_URL_ENV,
        .url_default = S_DEFAULT_URL,
        .own = own,
        .own_short = "",
        .on_opt = cb_opt,
        .usage = cb_usage,
        .arg = &c,
    };
    struct ctl_common co;
    int code;
    if (!ctl_opts_parse(&d, argc, argv, &co, &code)) {
        return code;
    }
    c.json = co.json;
    static const struct s_sub exs[] = {{"list", 0, 0}, {"get", 1, 1}, {NULL, 0, 0}};
    const struct s_sub *subs = strcmp(cmd, "executions") == 0 ? exs : NULL;
    const char *sub = NULL, *a1 = NULL, *a2 = NULL;
    if (subs == NULL) {
        if (optind < argc) {
            ctl_err(cmd, "unexpected argument '%s'", argv[optind]);
            return CTL_EXIT_USAGE;
        }
    } else {
        if (optind >= argc && subs != exs) {
            ctl_err(cmd, "missing command (see --help)");
            return CTL_EXIT_USAGE;
        }
        sub = optind < argc ? argv[optind] : "list"; /* executions: list by default */
        const struct s_sub *s = subs;
        while (s->name != NULL && strcmp(s->name, sub) != 0) {
            s++;
        }
        if (s->name == NULL) {
            ctl_err(cmd, "unknown command '%s' (see --help)", sub);
            return CTL_EXIT_USAGE;
        }
        int n = optind < argc ? argc - optind - 1 : 0;
        if (n < s->min || n > s->max) {
            ctl_err(cmd, "%s takes %d..%d arguments, got %d", sub, s->min, s->max, n);
            return CTL_EXIT_USAGE;
        }
        a1 = n >= 1 ? argv[optind + 1] : NULL;
        a2 = n >= 2 ? argv[optind + 2] : NULL;
    }
    int irc = ctl_rest_init(&c.rest, cmd, co.url, co.token_file, S_TIMEOUT_MS, S_MAX_RESPONSE);
    if (irc != 0) {
        return irc;
    }
    c.rest.tenant = co.tenant;
    int rc = s_dispatch(&c, sub, a1, a2);
    ctl_rest_fini(&c.rest);
    return rc;
}

int
ctl_executions_main(int argc, char **argv)
{
    return s_main("executions", argc, argv);
}

int
ctl_pattern_alerts_main(int argc, char **argv)
{
    return s_main("alerts", argc, argv);
}
