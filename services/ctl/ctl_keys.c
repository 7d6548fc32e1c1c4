/* SPDX-License-Identifier: Apache-2.0 */
/* vexfsctl keys: CURVE key pairs for the suite's ZeroMQ links.
 *
 *   keys generate NAME [--dir DIR]    one pair: DIR/NAME.pub and DIR/NAME.key (0600)
 *   keys init DIR [--identities LIST] the set a deployment needs (see vx_keys.h): server,
 *                                     one pair per identity, and authorized/ holding the
 *                                     public key of each identity
 *   keys rotate-data DIR              a new data key for encryption at rest (vx_seal.h) */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_opts.h"
#include "vx_audit.h"
#include "vx_keys.h"
#include "vx_seal.h"

#define S_CMD "keys"
#define S_DEFAULT_IDENTITIES                                                                   \
    "propagation,routing,coordinator,automation,analytics,forwarder,fuse,watch,ctl"

static void
s_usage(FILE *f, void *arg)
{
    (void)arg;
    fprintf(f,
            "usage: " CTL_PROG " keys generate NAME [--dir DIR]\n"
            "       " CTL_PROG " keys init DIR [--identities NAME,NAME,...]\n"
            "       " CTL_PROG " keys rotate-data DIR\n\n"
            "CURVE key pairs for the suite's ZeroMQ links (security.curve: required), and the\n"
            "data keys that seal what the daemons write (at_rest.encryption: required).\n\n"
            "  generate NAME   write DIR/NAME.pub (public) and DIR/NAME.key (secret, mode 0600);\n"
            "                  never overwrites. To let NAME connect to a daemon, copy NAME.pub\n"
            "                  into the daemon's <keys_dir>/authorized/.\n"
            "  init DIR        make a deployment's set in DIR (created with mode 0700):\n"
            "                  server.key/.pub (presented by every daemon's bound sockets), one\n"
            "                  pair per identity, authorized/ with each identity's public key, and\n"
            "                  audit.key/.pub (Ed25519: signs the daemons' audit logs).\n"
            "                  Point every program's security.keys_dir at DIR.\n"
            "  rotate-data DIR add data key data-<id>.key (mode 0600; DIR made when absent) with\n"
            "                  the next id, and print the id. Daemons seal new records with the\n"
            "                  highest id after a restart; records under older ids stay readable\n"
            "                  while the old key files remain. Point at_rest.data_keys_dir at DIR.\n\n"
            "  -d, --dir DIR          where generate writes (default .)\n"
            "  -i, --identities LIST  comma-separated identities for init (default\n"
            "                         " S_DEFAULT_IDENTITIES ")\n");
}

/* Copies src to dst (a public key: small). */
static int
s_copy(const char *src, const char *dst)
{
    FILE *in = fopen(src, "r");
    if (!in) {
        return -errno;
    }
    FILE *out = fopen(dst, "wx");
    if (!out) {
        int e = errno;
        fclose(in);
        return -e;
    }
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
        fwrite(buf, 1, n, out);
    }
    fclose(in);
    return fclose(out) == 0 ? 0 : -errno;
}

static int
s_init(const char *dir, const char *identities)
{
    char err[1024], path[4400], auth[4200];
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        ctl_err(S_CMD, "%s: %s", dir, strerror(errno));
        return CTL_EXIT_FAIL;
    }
    snprintf(auth, sizeof auth, "%s/authorized", dir);
    if (mkdir(auth, 0700) < 0 && errno != EEXIST) {
        ctl_err(S_CMD, "%s: %s", auth, strerror(errno));
        return CTL_EXIT_FAIL;
    }
    if (vx_keys_generate(dir, "server", err, sizeof err) < 0 ||
        vx_audit_keygen(dir, "audit", err, sizeof err) < 0) {
        ctl_err(S_CMD, "%s", err);
        return CTL_EXIT_FAIL;
    }
    char *list = strdup(identities);
    int n = 0, rc = CTL_EXIT_OK;
    for (char *save = NULL, *name = strtok_r(list, ",", &save); name;
         name = strtok_r(NULL, ",", &save)) {
        if (strcmp(name, "server") == 0) {
            ctl_err(S_CMD, "--identities: \"server\" is the daemons' own key, not an identity");
            rc = CTL_EXIT_USAGE;
            break;
        }
        if (vx_keys_generate(dir, name, err, sizeof err) < 0) {
            ctl_err(S_CMD, "%s", err);
            rc = CTL_EXIT_FAIL;
            break;
        }
        char pub[4400];
        snprintf(pub, sizeof pub, "%s/%s.pub", dir, name);
        snprintf(path, sizeof path, "%s/%s.pub", auth, name);
        int e = s_copy(pub, path);
        if (e < 0) {
            ctl_err(S_CMD, "%s: %s", path, strerror(-e));
            rc = CTL_EXIT_FAIL;
            break;
        }
        n++;
    }
    free(list);
    if (rc == CTL_EXIT_OK) {
        printf("%s: server key and %d identit%s, each authorized\n", dir, n, n == 1 ? "y" : "ies");
    }
    return rc;
}

int
ctl_keys_main(int argc, char **argv)
{
    static const struct option own[] = {
        {"dir", required_argument, NULL, 'd'},
        {"identities", required_argument, NULL, 'i'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = ".";
    const char *identities = S_DEFAULT_IDENTITIES;
    const struct ctl_optdst dst[] = {
        {'d', &dir},
        {'i', &identities},
        {0, NULL},
    };
    int code;
    if (!ctl_opts_parse_strings(S_CMD, own, "d:i:", dst, s_usage, argc, argv,
                                &code)) {
        return code;
    }
    int n = argc - optind;
    const char *verb = n > 0 ? argv[optind] : "";
    if (strcmp(verb, "generate") == 0 && n == 2) {
        char err[1024];
        if (vx_keys_generate(dir, argv[optind + 1], err, sizeof err) < 0) {
            ctl_err(S_CMD, "%s", err);
            return CTL_EXIT_FAIL;
        }
        printf("%s/%s.pub\n%s/%s.key\n", dir, argv[optind + 1], dir, argv[optind + 1]);
        return CTL_EXIT_OK;
    }
    if (strcmp(verb, "init") == 0 && n == 2) {
        return s_init(argv[optind + 1], identities);
    }
    if (strcmp(verb, "rotate-data") == 0 && n == 2) {
        char err[1024];
        uint32_t id = 0;
        if (vx_seal_key_generate(argv[optind + 1], &id, err, sizeof err) < 0) {
            ctl_err(S_CMD, "%s", err);
            return CTL_EXIT_FAIL;
        }
        printf("%s/data-%u.key: data key %u\n", argv[optind + 1], (unsigned)id, (unsigned)id);
        return CTL_EXIT_OK;
    }
    ctl_err(S_CMD, "expected 'generate NAME', 'init DIR' or 'rotate-data DIR' (see --help)");
    return CTL_EXIT_USAGE;
}
