/* SPDX-License-Identifier: Apache-2.0 */
/* vexfsctl: the command-line options its commands share, parsed in one place.
 *
 * A command describes itself once (struct ctl_optdef): which shared options it takes, its own
 * options and the handler of those, and its usage text. ctl_opts_parse builds the option
 * table from both, so --help, --version, --url (with its VEXFS_<SERVICE>_URL default and its
 * check), --token-file, --tenant, --json, the messages for a bad option and the exit codes
 * are the same in every command. */
#ifndef CTL_OPTS_H
#define CTL_OPTS_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

/* The shared options a command takes (ctl_optdef.common). --help and --version always. */
enum {
    CTL_COMMON_URL = 1 << 0,        /* -u, --url URL: the daemon's REST address */
    CTL_COMMON_TOKEN_FILE = 1 << 1, /* --token-file F */
    CTL_COMMON_TENANT = 1 << 2,     /* --tenant T */
    CTL_COMMON_JSON = 1 << 3,       /* --json */
    CTL_COMMON_NO_ARGS = 1 << 4,    /* no positional argument: "unexpected argument 'X'" */
    CTL_COMMON_NO_VERSION = 1 << 5, /* no --version (keys, certs, creds, audit) */
};

/* The values getopt_long returns for the shared long-only options; a command's own long-only
 * options take values from CTL_OPT_OWN on (never '?' or ':'). */
enum {
    CTL_OPT_TOKEN_FILE = 0x1000,
    CTL_OPT_TENANT,
    CTL_OPT_JSON,
    CTL_OPT_OWN = 0x1100,
};

/* What the shared options said. The strings are borrowed from argv or the environment. */
struct ctl_common {
    const char *url;        /* CTL_COMMON_URL: --url, else $url_env when set, else url_default */
    const char *token_file; /* NULL when not given */
    const char *tenant;     /* NULL when not given */
    bool json;
};

/* A command's options. own (NULL-terminated) and own_short (getopt syntax, without the
 * leading ':', "" for none) are the command's own; on_opt gets each of them with its value
 * (NULL for a flag) and returns 0 to go on or the exit status to end with (it prints why).
 * usage prints the command's --help text to f. arg is passed to both. */
struct ctl_optdef {
    const char *cmd;
    unsigned common;
    const char *url_env;
    const char *url_default;
    const struct option *own;
    const char *own_short;
    int (*on_opt)(void *arg, int ch, char *value, char **argv);
    void (*usage)(FILE *f, void *arg);
    void *arg;
};

/* For commands whose own options are all plain strings: d->arg points to an array of these,
 * ended by a row with dst NULL, and d->on_opt is ctl_opt_store, which stores each option's
 * value (borrowed from argv) where its row says. */
struct ctl_optdst {
    int ch;
    const char **dst;
};
int ctl_opt_store(void *arg, int ch, char *value, char **argv);

/* ctl_opts_parse for such a command (the offline tools: no --version, no shared option): own
 * and own_short as in struct ctl_optdef, dst the table ctl_opt_store fills. */
bool ctl_opts_parse_strings(const char *cmd, const struct option *own, const char *own_short,
                            const struct ctl_optdst *dst, void (*usage)(FILE *f, void *arg),
                            int argc, char **argv, int *code);

/* Parses argv (argv[0] is the command name) by d into *out. Returns true to go on, with the
 * positional arguments at argv[optind..argc); false after --help or --version (*code 0) or a
 * usage error, said on stderr (*code CTL_EXIT_USAGE, or what on_opt returned). */
bool ctl_opts_parse(const struct ctl_optdef *d, int argc, char **argv, struct ctl_common *out,
                    int *code);

#endif
