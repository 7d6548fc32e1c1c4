/* SPDX-License-Identifier: Apache-2.0 */
/* vexfsctl certs: TLS certificates for the suite's REST servers and clients.
 *
 *   certs init DIR [--hosts LIST] [--clients LIST]   a deployment's set (see vx_tls.h)
 *   certs generate NAME --dir DIR [--hosts LIST]     one more certificate from DIR/ca */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl.h"
#include "ctl_opts.h"
#include "vx_tls.h"

#define S_CMD "certs"
#define S_MAX_HOSTS 64
#define S_DEFAULT_HOSTS                                                                        \
    "localhost,127.0.0.1,::1,propagation,routing,coordinator,coordinator-1,coordinator-2,"     \
    "coordinator-3,automation,analytics"
#define S_DEFAULT_CLIENTS "ctl,analytics,automation"

static void
s_usage(FILE *f, void *arg)
{
    (void)arg;
    fprintf(f,
            "usage: " CTL_PROG " certs init DIR [--hosts LIST] [--clients LIST]\n"
            "       " CTL_PROG " certs generate NAME --dir DIR [--hosts LIST]\n\n"
            "TLS certificates for the suite's REST servers (security.tls: required).\n\n"
            "  init DIR        make DIR (mode 0700) with ca.crt/ca.key (the authority),\n"
            "                  server.crt/server.key (every REST server; valid for --hosts) and a\n"
            "                  client certificate per --clients name (mutual TLS). Point every\n"
            "                  program's security.tls_dir at DIR. Keep ca.key offline if you can.\n"
            "  generate NAME   sign one more certificate with DIR/ca.key: a server certificate\n"
            "                  for --hosts when given, else a client certificate named NAME.\n"
            "                  Never overwrites.\n\n"
            "  -d, --dir DIR       the authority's folder (generate)\n"
            "  -H, --hosts LIST    comma-separated DNS names and IP addresses (default for init:\n"
            "                      " S_DEFAULT_HOSTS ")\n"
            "  -c, --clients LIST  client certificates made by init (default " S_DEFAULT_CLIENTS
            ")\n");
}

/* Splits a comma-separated list in place. Returns the count, or -1 past max. */
static int
s_split(char *list, const char **out, int max)
{
    int n = 0;
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (n == max) {
            return -1;
        }
        out[n++] = t;
    }
    return n;
}

static int
s_init(const char *dir, const char *hosts_arg, const char *clients_arg)
{
    char err[1024];
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        ctl_err(S_CMD, "%s: %s", dir, strerror(errno));
        return CTL_EXIT_FAIL;
    }
    char *hl = strdup(hosts_arg), *cl = strdup(clients_arg);
    const char *hosts[S_MAX_HOSTS], *clients[S_MAX_HOSTS];
    int nh = s_split(hl, hosts, S_MAX_HOSTS), nc = s_split(cl, clients, S_MAX_HOSTS);
    int rc = CTL_EXIT_OK;
    if (nh <= 0 || nc < 0) {
        ctl_err(S_CMD, "--hosts: 1 to %d names; --clients: at most %d", S_MAX_HOSTS, S_MAX_HOSTS);
        rc = CTL_EXIT_USAGE;
        goto out;
    }
    if (vx_tls_make_ca(dir, "ca", err, sizeof err) < 0 ||
        vx_tls_make_cert(dir, "server", "ca", hosts, (size_t)nh, true, err, sizeof err) < 0) {
        ctl_err(S_CMD, "%s", err);
        rc = CTL_EXIT_FAIL;
        goto out;
    }
    for (int i = 0; i < nc; i++) {
        if (vx_tls_make_cert(dir, clients[i], "ca", NULL, 0, false, err, sizeof err) < 0) {
            ctl_err(S_CMD, "%s", err);
            rc = CTL_EXIT_FAIL;
            goto out;
        }
    }
    printf("%s: authority, server certificate for %d name%s, %d client certificate%s\n", dir, nh,
           nh == 1 ? "" : "s", nc, nc == 1 ? "" : "s");
out:
    free(hl);
    free(cl);
    return rc;
}

int
ctl_certs_main(int argc, char **argv)
{
    static const struct option own[] = {
        {"dir", required_argument, NULL, 'd'},
        {"hosts", required_argument, NULL, 'H'},
        {"clients", required_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL, *hosts = NULL, *clients = S_DEFAULT_CLIENTS;
    const struct ctl_optdst dst[] = {
        {'d', &dir},
        {'H', &hosts},
        {'c', &clients},
        {0, NULL},
    };
    int code;
    if (!ctl_opts_parse_strings(S_CMD, own, "d:H:c:", dst, s_usage, argc, argv,
                                &code)) {
        return code;
    }
    int n = argc - optind;
    const char *verb = n > 0 ? argv[optind] : "";
    if (strcmp(verb, "init") == 0 && n == 2) {
        return s_init(argv[optind + 1], hosts ? hosts : S_DEFAULT_HOSTS, clients);
    }
    if (strcmp(verb, "generate") == 0 && n == 2 && dir) {
        char err[1024], *hl = hosts ? strdup(hosts) : NULL;
        const char *list[S_MAX_HOSTS];
        int nh = hl ? s_split(hl, list, S_MAX_HOSTS) : 0;
        int rc = CTL_EXIT_OK;
        if (nh < 0) {
            ctl_err(S_CMD, "--hosts: at most %d names", S_MAX_HOSTS);
            rc = CTL_EXIT_USAGE;
        } else if (vx_tls_make_cert(dir, argv[optind + 1], "ca", list, (size_t)nh, nh > 0, err,
                                    sizeof err) < 0) {
            ctl_err(S_CMD, "%s", err);
            rc = CTL_EXIT_FAIL;
        } else {
            printf("%s/%s.crt\n%s/%s.key\n", dir, argv[optind + 1], dir, argv[optind + 1]);
        }
        free(hl);
        return rc;
    }
    ctl_err(S_CMD, "expected 'init DIR' or 'generate NAME --dir DIR' (see --help)");
    return CTL_EXIT_USAGE;
}
