/* SPDX-License-Identifier: Apache-2.0 */
/* vexfsctl results | replay | alerts metrics | health: vexfs-analytics over its REST API
 * (queries: ctl_queries.c; alert rules: ctl_alert_rules.c).
 *
 * One option set for all four (--url, --token-file, --json); the daemon validates everything
 * and its error messages are printed as they are. replay draws a progress bar from
 * GET /v1/replay until the replay is done or failed. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_opts.h"
#include "ctl_out.h"
#include "ctl_rest.h"
#include "vx_clock.h"
#include "vx_config.h"

#define S_DEFAULT_URL "https://127.0.0.1:8084"
#define S_URL_ENV "VEXFS_ANALYTICS_URL"
#define S_TIMEOUT_MS 30000L
#define S_MAX_RESPONSE (256 * 1024 * 1024)
#define S_BAR 40

enum { S_OPT_LIMIT = CTL_OPT_OWN, S_OPT_EARLIEST, S_OPT_FROM, S_OPT_STATUS };

struct s_args {
    const char *cmd;
    const char *url, *token_file;
    bool json, earliest, status_only;
    long long limit, from_ms;
    bool has_from;
    int argc;    /* positional arguments after the options */
    char **argv;
};

static void
s_usage(FILE *f, const char *cmd)
{
    if (strcmp(cmd, "results") == 0) {
        fprintf(f, "usage: " CTL_PROG " results [OPTIONS] [--limit N] ID\n"
                   "  the last N (100) closed windows of query ID, one per line: start, group,\n"
                   "  values (for the whole consumer group when the daemon has a results topic)\n");
    } else if (strcmp(cmd, "replay") == 0) {
        fprintf(f, "usage: " CTL_PROG " replay [OPTIONS] (--earliest | --from-timestamp MS | --status)\n"
                   "  recomputes the queries from the Kafka log and shows a progress bar until\n"
                   "  the replay is done; --status only shows the current or last replay\n");
    } else if (strcmp(cmd, "alerts") == 0) {
        fprintf(f, "usage: " CTL_PROG " alerts metrics [OPTIONS] [list]\n"
                   "  list (default)  active alerts, then recent firing/resolved ones\n\n"
                   "The alert rules: " CTL_PROG " alerts metrics rules [list | get NAME |\n"
                   "apply FILE | replace FILE | delete NAME...] (see its --help);\n"
                   "`alerts metrics apply FILE` and `alerts metrics delete NAME...` are the same\n"
                   "as `alerts metrics rules apply FILE` and `... rules delete NAME...`.\n");
    } else {
        fprintf(f, "usage: " CTL_PROG " health [OPTIONS]\n"
                   "  the suite's health as vexfs-analytics sees it (monitoring.services);\n"
                   "  exit 0 when healthy, 1 when degraded or critical\n");
    }
    fprintf(f, "\n  -u, --url URL         vexfs-analytics' REST address (env %s, default %s)\n"
               "      --token-file F    bearer token for changes, first line of F\n"
               "      --json            print the daemon's JSON\n"
               "      --help, --version\n\n"
               "Exit status: 0 done, 1 the daemon refused or could not be reached, 2 usage.\n",
            S_URL_ENV, S_DEFAULT_URL);
}

static void
cb_usage(FILE *f, void *arg)
{
    s_usage(f, ((struct s_args *)arg)->cmd);
}

/* The options only analytics' subcommands have; each subcommand checks afterwards which of
 * them it accepts. */
static int
cb_opt(void *arg, int ch, char *value, char **argv)
{
    (void)argv;
    struct s_args *a = arg;
    switch (ch) {
    case S_OPT_LIMIT:
        return ctl_parse_int(a->cmd, "--limit", value, 1, 1000000, &a->limit) < 0
                   ? CTL_EXIT_USAGE
                   : 0;
    case S_OPT_EARLIEST:
        a->earliest = true;
        return 0;
    case S_OPT_FROM:
        if (ctl_parse_int(a->cmd, "--from-timestamp", value, 0, 253402300799999LL, &a->from_ms) <
            0) {
            return CTL_EXIT_USAGE;
        }
        a->has_from = true;
        return 0;
    default: /* S_OPT_STATUS */
        a->status_only = true;
        return 0;
    }
}

/* The options of every analytics subcommand: the shared connection options and the table
 * above. Returns true to go on, false with the exit status in *code. */
static bool
s_parse(int argc, char **argv, struct s_args *a, int *code)
{
    static const struct option own[] = {
        {"limit", required_argument, NULL, S_OPT_LIMIT},
        {"earliest", no_argument, NULL, S_OPT_EARLIEST},
        {"from-timestamp", required_argument, NULL, S_OPT_FROM},
        {"status", no_argument, NULL, S_OPT_STATUS},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    a->cmd = argv[0];
    a->limit = 100;
    const struct ctl_optdef d = {
        .cmd = a->cmd,
        .common = CTL_COMMON_URL | CTL_COMMON_TOKEN_FILE | CTL_COMMON_JSON,
        .url_env = S_URL_ENV,
        .url_default = S_DEFAULT_URL,
        .own = own,
        .own_short = "",
        .on_opt = cb_opt,
        .usage = cb_usage,
        .arg = a,
    };
    struct ctl_common co;
    if (!ctl_opts_parse(&d, argc, argv, &co, code)) {
        return false;
    }
    a->url = co.url;
    a->token_file = co.token_file;
    a->json = co.json;
    a->argc = argc - optind;
    a->argv = argv + optind;
    return true;
}

/* Checks the positional arguments: sub is one of names (NULL-terminated, with_arg tells which
 * take one). Returns its index or -1 (usage printed). No positional: index 0. */
static int
s_sub(const struct s_args *a, const char *const *names, const bool *with_arg)
{
    if (a->argc == 0) {
        return with_arg[0] ? -1 : 0;
    }
    for (int i = 0; names[i]; i++) {
        if (strcmp(a->argv[0], names[i]) != 0) {
            continue;
        }
        int want = with_arg[i] ? 2 : 1;
        if (a->argc != want) {
            ctl_err(a->cmd, a->argc < want ? "%s needs an argument" : "%s: too many arguments",
                    names[i]);
            return -1;
        }
        return i;
    }
    ctl_err(a->cmd, "unknown command '%s'", a->argv[0]);
    return -1;
}

/* Percent-encodes an id for a path segment (caller frees). */
static char *
s_escape(const char *id)
{
    size_t n = strlen(id);
    char *out = malloc(3 * n + 1), *o = out;
    if (!out) {
        abort();
    }
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p)) {
            *o++ = (char)*p;
        } else {
            o += sprintf(o, "%%%02X", *p);
        }
    }
    *o = '\0';
    return out;
}

static int
s_get_print(struct ctl_rest *r, const char *path)
{
    json_t *out = ctl_rest_call(r, "GET", path, NULL, false);
    if (!out) {
        return CTL_EXIT_FAIL;
    }
    int rc = ctl_rest_print_json(r, out);
    json_decref(out);
    return rc;
}

/* Runs fn with the REST client of the parsed arguments. */
static int
s_with_rest(int argc, char **argv, int (*fn)(struct ctl_rest *, struct s_args *))
{
    struct s_args a;
    int code = 0;
    if (!s_parse(argc, argv, &a, &code)) {
        return code;
    }
    struct ctl_rest r;
    int irc = ctl_rest_init(&r, a.cmd, a.url, a.token_file, S_TIMEOUT_MS, S_MAX_RESPONSE);
    if (irc != 0) {
        return irc;
    }
    int rc = fn(&r, &a);
    ctl_rest_fini(&r);
    return rc;
}

/* ---- results ---------------------------------------------------------------------------------- */

static int
s_results(struct ctl_rest *r, struct s_args *a)
{
    if (a->argc != 1) {
        ctl_err(a->cmd, a->argc ? "too many arguments" : "missing the query ID");
        return CTL_EXIT_USAGE;
    }
    char *esc = s_escape(a->argv[0]);
    char p[1024];
    snprintf(p, sizeof p, "/v1/queries/%s/results?limit=%lld", esc, a->limit);
    free(esc);
    json_t *out = ctl_rest_call(r, "GET", p, NULL, false);
    if (!out) {
        return CTL_EXIT_FAIL;
    }
    if (a->json) {
        int rc = ctl_rest_print_json(r, out);
        json_decref(out);
        return rc;
    }
    size_t i;
    json_t *w;
    json_array_foreach(json_object_get(out, "closed"), i, w) {
        time_t start = (time_t)(json_integer_value(json_object_get(w, "start_ns")) / (json_int_t)VX_NS_PER_S);
        long long ms = (json_integer_value(json_object_get(w, "start_ns")) / 1000000LL) % 1000;
        struct tm tm;
        gmtime_r(&start, &tm);
        char when[32];
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
        const size_t flags = JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15);
        char *group = json_dumps(json_object_get(w, "group"), flags);
        char *vals = json_dumps(json_object_get(w, "values"), flags);
        printf("%s.%03lldZ %s %s%s\n", when, ms, group ? group : "{}", vals ? vals : "{}",
               json_object_get(w, "approximate") ? " (approximate)" : "");
        free(group);
        free(vals);
    }
    json_decref(out);
    return CTL_EXIT_OK;
}

int
ctl_results_main(int argc, char **argv)
{
    return s_with_rest(argc, argv, s_results);
}

/* ---- replay ----------------------------------------------------------------------------------- */

static void
s_bar(json_t *st, bool tty)
{
    long long done = json_integer_value(json_object_get(st, "events_done"));
    long long left = json_integer_value(json_object_get(st, "events_remaining"));
    const char *state = json_string_value(json_object_get(st, "state"));
    if (strcmp(state, "done") == 0) {
        left = 0;
    }
    long long total = done + left;
    double frac = total > 0 ? (double)done / (double)total : strcmp(state, "done") == 0 ? 1 : 0;
    int fill = (int)(frac * S_BAR);
    char bar[S_BAR + 1];
    for (int i = 0; i < S_BAR; i++) {
        bar[i] = i < fill ? '#' : '.';
    }
    bar[S_BAR] = '\0';
    printf("%s[%s] %3d%% %lld/%lld events, %.0f events/s, %s%s", tty ? "\r" : "", bar,
           (int)(frac * 100), done, total,
           json_number_value(json_object_get(st, "rate_events_per_s")), state,
           tty ? "   " : "\n");
    fflush(stdout);
}

static int
s_replay(struct ctl_rest *r, struct s_args *a)
{
    if (a->argc) {
        ctl_err(a->cmd, "unexpected argument '%s'", a->argv[0]);
        return CTL_EXIT_USAGE;
    }
    if ((int)a->earliest + (int)a->has_from + (int)a->status_only != 1) {
        ctl_err(a->cmd, "give one of --earliest, --from-timestamp MS, --status");
        return CTL_EXIT_USAGE;
    }
    if (a->status_only) {
        return s_get_print(r, "/v1/replay");
    }
    json_t *body = a->earliest ? json_pack("{s:s}", "from", "earliest")
                               : json_pack("{s:I}", "from_timestamp_ms", (json_int_t)a->from_ms);
    json_t *out = ctl_rest_call(r, "POST", "/v1/replay", body, false);
    json_decref(body);
    if (!out) {
        return CTL_EXIT_FAIL;
    }
    json_decref(out);
    bool tty = isatty(STDOUT_FILENO) && !a->json;
    int rc = CTL_EXIT_FAIL;
    const char *last = "";
    while (!ctl_stop) {
        json_t *st = ctl_rest_call(r, "GET", "/v1/replay", NULL, false);
        if (!st) {
            break;
        }
        const char *state = json_string_value(json_object_get(st, "state"));
        bool end = strcmp(state, "done") == 0 || strcmp(state, "failed") == 0;
        if (a->json) {
            if (end) {
                ctl_rest_print_json(r, st);
            }
        } else if (tty || end || strcmp(state, last) != 0) {
            s_bar(st, tty);
        }
        last = strcmp(state, "running") == 0 ? "running" : "pending";
        if (end) {
            if (tty) {
                printf("\n");
            }
            if (strcmp(state, "failed") == 0) {
                ctl_err(a->cmd, "replay failed: %s",
                        json_string_value(json_object_get(st, "error")));
            } else {
                rc = CTL_EXIT_OK;
            }
            json_decref(st);
            break;
        }
        json_decref(st);
        usleep(200000);
    }
    return rc;
}

int
ctl_replay_main(int argc, char **argv)
{
    return s_with_rest(argc, argv, s_replay);
}

/* ---- alerts ----------------------------------------------------------------------------------- */

static void
s_alert_line(json_t *al)
{
    const char *source = json_string_value(json_object_get(al, "source"));
    if (source && strcmp(source, "anomaly") == 0) {
        json_t *an = json_object_get(al, "anomaly");
        char *text = json_dumps(an, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
        printf("%-9s %-8s anomaly %s\n", json_string_value(json_object_get(al, "status")),
               json_string_value(json_object_get(al, "severity")), text ? text : "");
        free(text);
        return;
    }
    json_t *v = json_object_get(al, "value");
    char threshold[64], value[64];
    printf("%-9s %-8s %s: %s %s %s (value %s)\n",
           json_string_value(json_object_get(al, "status")),
           json_string_value(json_object_get(al, "severity")),
           json_string_value(json_object_get(al, "rule")),
           json_string_value(json_object_get(al, "metric")),
           json_string_value(json_object_get(al, "condition")),
           ctl_out_real(json_number_value(json_object_get(al, "threshold")), threshold,
                        sizeof threshold),
           v ? ctl_out_real(json_number_value(v), value, sizeof value) : "none");
}

static int
s_alerts(struct ctl_rest *r, struct s_args *a)
{
    static const char *const names[] = {"list", NULL};
    static const bool args[] = {false};
    if (s_sub(a, names, args) < 0) {
        return CTL_EXIT_USAGE;
    }
    json_t *out = ctl_rest_call(r, "GET", "/v1/alerts", NULL, false);
    if (!out) {
        return CTL_EXIT_FAIL;
    }
    if (a->json) {
        int rc = ctl_rest_print_json(r, out);
        json_decref(out);
        return rc;
    }
    size_t i;
    json_t *it;
    printf("active:\n");
    json_array_foreach(json_object_get(out, "active"), i, it) {
        printf("  ");
        s_alert_line(it);
    }
    if (json_array_size(json_object_get(out, "active")) == 0) {
        printf("  none\n");
    }
    printf("recent:\n");
    json_array_foreach(json_object_get(out, "recent"), i, it) {
        printf("  ");
        s_alert_line(it);
    }
    if (json_array_size(json_object_get(out, "recent")) == 0) {
        printf("  none\n");
    }
    json_decref(out);
    return CTL_EXIT_OK;
}

/* "alerts metrics rules ..." (and the short forms "alerts metrics apply|replace|delete ...")
 * go to the alert rules' command (ctl_alert_rules.c); anything else lists the alerts. The
 * first argument that is neither an option nor an option's value decides. */
int
ctl_metric_alerts_main(int argc, char **argv)
{
    static const char *const with_value[] = {"-u", "--url", "--token-file", "-o", "--output",
                                             "--limit", NULL};
    for (int i = 1; i < argc; i++) {
        const char *w = argv[i];
        if (strcmp(w, "--") == 0) {
            break;
        }
        if (w[0] == '-') {
            for (size_t k = 0; with_value[k]; k++) {
                if (strcmp(w, with_value[k]) == 0) {
                    i++; /* its value */
                }
            }
            continue;
        }
        if (strcmp(w, "rules") == 0) {
            memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof argv[0]); /* with NULL */
            return ctl_alert_rules_main(argc - 1, argv);
        }
        if (strcmp(w, "apply") == 0 || strcmp(w, "replace") == 0 || strcmp(w, "delete") == 0 ||
            strcmp(w, "get") == 0) {
            return ctl_alert_rules_main(argc, argv);
        }
        break;
    }
    return s_with_rest(argc, argv, s_alerts);
}

/* ---- health ----------------------------------------------------------------------------------- */

static int
s_health(struct ctl_rest *r, struct s_args *a)
{
    if (a->argc) {
        ctl_err(a->cmd, "unexpected argument '%s'", a->argv[0]);
        return CTL_EXIT_USAGE;
    }
    json_t *out = ctl_rest_call(r, "GET", "/v1/health/system", NULL, false);
    if (!out) {
        return CTL_EXIT_FAIL;
    }
    const char *status = json_string_value(json_object_get(out, "status"));
    int rc = status && strcmp(status, "healthy") == 0 ? CTL_EXIT_OK : CTL_EXIT_FAIL;
    if (a->json) {
        ctl_rest_print_json(r, out);
    } else {
        printf("%s (%lld of %lld services up)\n", status,
               (long long)json_integer_value(json_object_get(out, "services_up")),
               (long long)json_integer_value(json_object_get(out, "services_total")));
        size_t i;
        json_t *sv;
        json_array_foreach(json_object_get(out, "services"), i, sv) {
            printf("  %-16s %-9s %s%s%s\n", json_string_value(json_object_get(sv, "name")),
                   json_string_value(json_object_get(sv, "status")),
                   json_string_value(json_object_get(sv, "url")),
                   json_object_get(sv, "error") ? "  " : "",
                   json_object_get(sv, "error") ? json_string_value(json_object_get(sv, "error"))
                                                : "");
        }
    }
    json_decref(out);
    return rc;
}

int
ctl_health_main(int argc, char **argv)
{
    return s_with_rest(argc, argv, s_health);
}
