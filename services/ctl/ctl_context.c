/* SPDX-License-Identifier: Apache-2.0 */
/* vexfsctl's context file: where the suite is and how to prove who we are, so a user does not
 * repeat URLs, certificates and keys on every command (like a kubeconfig).
 *
 * The file holds VEXFS_NAME=value lines (blank lines and # comments allowed); each sets the
 * environment variable of that name unless the environment already has it, so the environment
 * and the command line always win. Chosen by --context FILE, else $VEXFS_CONTEXT, else
 * $XDG_CONFIG_HOME/vexfs/context (~/.config/vexfs/context); the default file may be absent. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define S_LINE_MAX 4096

static int
s_default_path(char *buf, size_t len)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    int n;
    if (xdg && xdg[0] == '/') {
        n = snprintf(buf, len, "%s/vexfs/context", xdg);
    } else if (home && home[0]) {
        n = snprintf(buf, len, "%s/.config/vexfs/context", home);
    } else {
        return -ENOENT;
    }
    return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

static bool
s_valid_name(const char *s, size_t len)
{
    if (len <= 6 || strncmp(s, "VEXFS_", 6) != 0) {
        return false;
    }
    for (size_t i = 6; i < len; i++) {
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_')) {
            return false;
        }
    }
    return true;
}

static void
s_trim(char **s, size_t *len)
{
    while (*len > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && strchr(" \t\r\n", (*s)[*len - 1])) {
        (*len)--;
    }
}

int
ctl_context_load(const char *path)
{
    char def[1024];
    bool chosen = path != NULL;
    if (!path) {
        path = getenv("VEXFS_CONTEXT");
        chosen = path && path[0];
    }
    if (!chosen) {
        if (s_default_path(def, sizeof def) < 0) {
            return 0;
        }
        path = def;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        if (!chosen && errno == ENOENT) {
            return 0;
        }
        fprintf(stderr, CTL_PROG ": context %s: %s\n", path, strerror(errno));
        return CTL_EXIT_USAGE;
    }
    char line[S_LINE_MAX];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            fprintf(stderr, CTL_PROG ": context %s:%d: line longer than %d bytes\n", path,
                    lineno, S_LINE_MAX - 2);
            rc = CTL_EXIT_USAGE;
            break;
        }
        char *s = line;
        s_trim(&s, &len);
        if (len == 0 || s[0] == '#') {
            continue;
        }
        char *eq = memchr(s, '=', len);
        size_t nlen = eq ? (size_t)(eq - s) : len;
        if (!eq || !s_valid_name(s, nlen)) {
            fprintf(stderr,
                    CTL_PROG ": context %s:%d: expected VEXFS_NAME=value (name of capitals, "
                             "digits and _), got '%.*s'\n",
                    path, lineno, (int)len, s);
            rc = CTL_EXIT_USAGE;
            break;
        }
        s[nlen] = '\0';
        s[len] = '\0';
        if (!getenv(s) && setenv(s, eq + 1, 0) < 0) {
            rc = CTL_EXIT_FAIL;
            break;
        }
    }
    fclose(f);
    return rc;
}
