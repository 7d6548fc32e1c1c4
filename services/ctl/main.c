/* SPDX-License-Identifier: Apache-2.0 */
/* vexfsctl: the suite's command-line tool; dispatches to its commands. */
#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

volatile sig_atomic_t ctl_stop;

static void
cb_signal(int sig)
{
    (void)sig;
    ctl_stop = 1;
}

struct s_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
};

static const struct s_command s_commands[] = {
    {"status", ctl_status_main, "health and readiness of every service of the suite"},
    {"emit", ctl_emit_main, "send events built from arguments or read as JSON lines on stdin"},
    {"tail", ctl_tail_main, "print the events propagation publishes on its tap, as JSON lines"},
    {"rules", ctl_rules_main, "routing rules and filters: list, get, apply, replace, delete, test"},
    {"cluster", ctl_cluster_main, "status, leadership transfer and members of the coordinator"},
    {"patterns", ctl_patterns_main, "automation's patterns: list, get, apply, replace, delete"},
    {"workflows", ctl_workflows_main, "automation's workflows: list, get, apply, replace, delete, run"},
    {"executions", ctl_executions_main, "list and show workflow executions"},
    {"alerts", ctl_alerts_main,
     "pattern alerts; `alerts metrics [rules]`: analytics' alerts, rules"},
    {"queries", ctl_queries_main, "analytics' queries: list, get, apply, replace, delete"},
    {"results", ctl_results_main, "the closed windows of an analytics query"},
    {"replay", ctl_replay_main, "recompute the analytics queries from the Kafka log, with progress"},
    {"health", ctl_health_main, "the suite's health aggregated by vexfs-analytics"},
    {"keys", ctl_keys_main, "CURVE key pairs for the suite's ZeroMQ links (generate, init)"},
    {"certs", ctl_certs_main, "TLS certificates for the suite's REST servers (init, generate)"},
    {"creds", ctl_creds_main, "credentials for the REST APIs: add, list, revoke"},
    {"audit", ctl_audit_main, "verify a daemon's audit log; make its signing key"},
};
#define S_N_COMMANDS (sizeof s_commands / sizeof s_commands[0])

static void
s_usage(FILE *f)
{
    fprintf(f, "usage: " CTL_PROG " [--help] [--version] [--context FILE] COMMAND [OPTIONS]\n\n"
               "Operates the VexFS semantic event suite.\n\n"
               "  -C, --context FILE  VEXFS_NAME=value lines (URLs, certificates, keys, token\n"
               "                      file) applied where the environment does not set them;\n"
               "                      default $VEXFS_CONTEXT, else\n"
               "                      ${XDG_CONFIG_HOME:-~/.config}/vexfs/context if present\n"
               "                      (`make run` writes it)\n\nCommands:\n");
    for (size_t i = 0; i < S_N_COMMANDS; i++) {
        fprintf(f, "  %-10s %s\n", s_commands[i].name, s_commands[i].help);
    }
    fprintf(f, "\nRun '" CTL_PROG " COMMAND --help' for the options of a command.\n");
}

void
ctl_err(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, CTL_PROG " %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void
ctl_getopt_reset(void)
{
    /* glibc: 0 re-initialises the scanner completely (a plain 1 would keep its state). */
    optind = 0;
    opterr = 0;
}

int
ctl_opt_error(const char *cmd, int c, char **argv)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "?";
    bool is_long = strncmp(arg, "--", 2) == 0;
    if (c == ':') {
        ctl_err(cmd, "option '%s' needs a value", arg);
    } else if (is_long && optopt != 0) {
        ctl_err(cmd, "option '%.*s' takes no value", (int)strcspn(arg, "="), arg);
    } else if (!is_long && optopt > 0 && optopt < 128) {
        ctl_err(cmd, "unknown option '-%c'", optopt);
    } else {
        ctl_err(cmd, "unknown option '%s'", arg);
    }
    fprintf(stderr, "Run '" CTL_PROG " %s --help' for its options.\n", cmd);
    return CTL_EXIT_USAGE;
}

int
ctl_parse_int(const char *cmd, const char *opt, const char *s, long long min, long long max,
              long long *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        fprintf(stderr, CTL_PROG " %s: %s: expected %lld..%lld, got %s\n", cmd, opt, min, max, s);
        return -EINVAL;
    }
    *out = v;
    return 0;
}

bool
ctl_is_http_url(const char *s)
{
    return (strncmp(s, "http://", 7) == 0 && s[7] != '\0') ||
           (strncmp(s, "https://", 8) == 0 && s[8] != '\0');
}

/* "alerts metrics ..." goes to analytics, every other "alerts ..." to automation. "metrics" is
 * the first argument that is neither an option nor an option's value; it is taken out, so the
 * analytics command sees "alerts [OPTIONS] [list | rules | ...]". */
int
ctl_alerts_main(int argc, char **argv)
{
    static const char *const with_value[] = {"-u", "--url", "--token-file", "--tenant",
                                             "--since", "--limit", "-o", "--output", NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            break;
        }
        if (a[0] == '-') {
            for (size_t k = 0; with_value[k]; k++) {
                if (strcmp(a, with_value[k]) == 0) {
                    i++; /* its value */
                }
            }
            continue;
        }
        if (strcmp(a, "metrics") != 0) {
            break;
        }
        memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof argv[0]); /* with NULL */
        return ctl_metric_alerts_main(argc - 1, argv);
    }
    return ctl_pattern_alerts_main(argc, argv);
}

/* Only the global options are read here ('+' stops at the command name); the context file is
 * applied before the command runs so its environment is seen by every command alike, and the
 * signals are set up so long-running commands end cleanly on Ctrl-C. */
int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"context", required_argument, NULL, 'C'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    int c;
    const char *context = NULL;
    /* '+': stop at the command name, its options belong to the command. */
    while ((c = getopt_long(argc, argv, "+:hVC:", opts, NULL)) != -1) {
        switch (c) {
        case 'C':
            context = optarg;
            break;
        case 'h':
            s_usage(stdout);
            return CTL_EXIT_OK;
        case 'V':
            printf(CTL_PROG " %s\n", VX_VERSION);
            return CTL_EXIT_OK;
        case ':':
            fprintf(stderr, CTL_PROG ": option '%s' needs a value\n", argv[optind - 1]);
            return CTL_EXIT_USAGE;
        default:
            fprintf(stderr, CTL_PROG ": unknown option '%s'\n", argv[optind - 1]);
            s_usage(stderr);
            return CTL_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, CTL_PROG ": missing command\n");
        s_usage(stderr);
        return CTL_EXIT_USAGE;
    }
    int rc = ctl_context_load(context);
    if (rc != 0) {
        return rc;
    }
    const struct s_command *cmd = NULL;
    for (size_t i = 0; i < S_N_COMMANDS; i++) {
        if (strcmp(argv[optind], s_commands[i].name) == 0) {
            cmd = &s_commands[i];
        }
    }
    if (!cmd) {
        fprintf(stderr, CTL_PROG ": unknown command '%s'\n", argv[optind]);
        s_usage(stderr);
        return CTL_EXIT_USAGE;
    }

    /* We own the signals: CZMQ must not install its own before the first socket. No
     * SA_RESTART, so a blocking receive or read returns and the command sees ctl_stop. */
    zsys_handler_set(NULL);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = cb_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    int first = optind;
    ctl_getopt_reset();
    return cmd->run(argc - first, argv + first);
}
