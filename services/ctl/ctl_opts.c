/* SPDX-License-Identifier: Apache-2.0 */
/* vexfsctl: the shared option parser (see ctl_opts.h). */
#include "ctl_opts.h"

#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define S_MAX_OPTS 40

/* Appends the shared options d takes, then the command's own, to opts; the short options to
 * shorts. */
static void
s_table(const struct ctl_optdef *d, struct option *opts, char *shorts, size_t shortlen)
{
    size_t n = 0;
    if (d->common & CTL_COMMON_URL) {
        opts[n++] = (struct option){"url", required_argument, NULL, 'u'};
    }
    if (d->common & CTL_COMMON_TOKEN_FILE) {
        opts[n++] = (struct option){"token-file", required_argument, NULL, CTL_OPT_TOKEN_FILE};
    }
    if (d->common & CTL_COMMON_TENANT) {
        opts[n++] = (struct option){"tenant", required_argument, NULL, CTL_OPT_TENANT};
    }
    if (d->common & CTL_COMMON_JSON) {
        opts[n++] = (struct option){"json", no_argument, NULL, CTL_OPT_JSON};
    }
    for (size_t i = 0; d->own && d->own[i].name; i++) {
        if (n + 3 >= S_MAX_OPTS) {
            abort(); /* a programming error: the table is static */
        }
        opts[n++] = d->own[i];
    }
    opts[n++] = (struct option){"help", no_argument, NULL, 'h'};
    bool version = !(d->common & CTL_COMMON_NO_VERSION);
    if (version) {
        opts[n++] = (struct option){"version", no_argument, NULL, 'V'};
    }
    opts[n] = (struct option){NULL, 0, NULL, 0};
    snprintf(shorts, shortlen, ":%s%sh%s", d->common & CTL_COMMON_URL ? "u:" : "",
             d->own_short ? d->own_short : "", version ? "V" : "");
}

int
ctl_opt_store(void *arg, int ch, char *value, char **argv)
{
    (void)argv;
    for (const struct ctl_optdst *row = arg; row->dst != NULL; row++) {
        if (row->ch == ch) {
            *row->dst = value;
            return 0;
        }
    }
    abort(); /* a programming error: an option of the table without a row */
}

bool
ctl_opts_parse(const struct ctl_optdef *d, int argc, char **argv, struct ctl_common *out,
               int *code)
{
    struct option opts[S_MAX_OPTS];
    char shorts[64];
    s_table(d, opts, shorts, sizeof shorts);
    memset(out, 0, sizeof *out);
    if (d->common & CTL_COMMON_URL) {
        out->url = getenv(d->url_env);
        if (out->url == NULL || *out->url == '\0') {
            out->url = d->url_default;
        }
    }
    *code = CTL_EXIT_USAGE;
    int ch;
    while ((ch = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
        switch (ch) {
        case 'u':
            out->url = optarg;
            break;
        case CTL_OPT_TOKEN_FILE:
            out->token_file = optarg;
            break;
        case CTL_OPT_TENANT:
            out->tenant = optarg;
            break;
        case CTL_OPT_JSON:
            out->json = true;
            break;
        case 'h':
            d->usage(stdout, d->arg);
            *code = CTL_EXIT_OK;
            return false;
        case 'V':
            printf(CTL_PROG " %s\n", VX_VERSION);
            *code = CTL_EXIT_OK;
            return false;
        case '?':
        case ':':
            *code = ctl_opt_error(d->cmd, ch, argv);
            return false;
        default: {
            int rc = d->on_opt(d->arg, ch, optarg, argv);
            if (rc != 0) {
                *code = rc;
                return false;
            }
            break;
        }
        }
    }
    if ((d->common & CTL_COMMON_URL) && !ctl_is_http_url(out->url)) {
        ctl_err(d->cmd, "--url: expected an http:// or https:// URL, got '%s'", out->url);
        return false;
    }
    if ((d->common & CTL_COMMON_NO_ARGS) && optind < argc) {
        ctl_err(d->cmd, "unexpected argument '%s'", argv[optind]);
        return false;
    }
    return true;
}

bool
ctl_opts_parse_strings(const char *cmd, const struct option *own, const char *own_short,
                       const struct ctl_optdst *dst, void (*usage)(FILE *f, void *arg),
                       int argc, char **argv, int *code)
{
    const struct ctl_optdef d = {
        .cmd = cmd,
        .common = CTL_COMMON_NO_VERSION,
        .own = own,
        .own_short = own_short,
        .on_opt = ctl_opt_store,
        .usage = usage,
        .arg = (void *)dst,
    };
    struct ctl_common co;
    return ctl_opts_parse(&d, argc, argv, &co, code);
}
