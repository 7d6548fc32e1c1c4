/* SPDX-License-Identifier: Apache-2.0 */
/* Network namespaces for partition tests. */
#include "coord_netns.h"

#include <check.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vx_test.h"

const char *
cn_ip(void)
{
    static const char *const paths[] = {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        if (access(paths[i], X_OK) == 0) {
            return paths[i];
        }
    }
    return "/usr/sbin/ip";
}

const char *
cn_prefix(void)
{
    static char prefix[24];
    if (!prefix[0]) {
        snprintf(prefix, sizeof prefix, "vxc%ld", (long)getpid());
    }
    return prefix;
}

static bool s_quiet; /* cleanup: a link may vanish with its namespace while we look */

/* Runs `ip ARGS` (words separated by spaces); fills out (may be NULL) with its stdout.
 * Returns the exit status, -1 when it did not run. */
static int
s_ip_try(char *out, size_t outlen, const char *fmt, ...)
{
    char cmd[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char *argv[32];
    size_t n = 0;
    argv[n++] = (char *)cn_ip();
    char *save = NULL;
    for (char *w = strtok_r(cmd, " ", &save); w && n < 31; w = strtok_r(NULL, " ", &save)) {
        argv[n++] = w;
    }
    argv[n] = NULL;
    struct vt_run_result r;
    int rc = vt_run(argv, NULL, NULL, 20000, &r);
    int status = rc == 0 && WIFEXITED(r.status) ? WEXITSTATUS(r.status) : -1;
    if (out && outlen) {
        snprintf(out, outlen, "%s", r.out ? r.out : "");
    }
    if (status != 0 && r.err && r.err[0] && !s_quiet) {
        fprintf(stderr, "netns: ip %s: %s", argv[1], r.err);
    }
    vt_run_result_fini(&r);
    return status;
}

#define S_IP(...)                                                                                  \
    ck_assert_msg(s_ip_try(NULL, 0, __VA_ARGS__) == 0, "ip command failed (root and iproute2 "  \
                                                       "are needed for namespace tests)")

void
cn_setup(struct cn_net *net, size_t n)
{
    memset(net, 0, sizeof *net);
    ck_assert_uint_le(n, CN_MAX);
    ck_assert_msg(geteuid() == 0, "network namespace tests run as root (euid %d)", (int)geteuid());
    net->n = n;
    snprintf(net->prefix, sizeof net->prefix, "%s", cn_prefix());
    cn_cleanup(net->prefix); /* what an earlier, failed test of this run left */
    unsigned sub = (unsigned)(getpid() % 250);
    for (size_t i = 0; i < n; i++) {
        snprintf(net->ns[i], sizeof net->ns[i], "%sn%zu", net->prefix, i);
        snprintf(net->node_addr[i], sizeof net->node_addr[i], "198.18.%u.%zu", sub, i + 1);
        snprintf(net->client_addr[i], sizeof net->client_addr[i], "198.19.%u.%zu", sub,
                 4 * i + 2);
        snprintf(net->host_addr[i], sizeof net->host_addr[i], "198.19.%u.%zu", sub, 4 * i + 1);
        S_IP("netns add %s", net->ns[i]);
        S_IP("-n %s link set lo up", net->ns[i]);
        S_IP("-n %s addr add %s/32 dev lo", net->ns[i], net->node_addr[i]);
        /* The client link: test side .4i+1, node side .4i+2 (a /30 of its own). */
        S_IP("link add %sk%zu type veth peer name %sK%zu", net->prefix, i, net->prefix, i);
        S_IP("link set %sK%zu netns %s name k0", net->prefix, i, net->ns[i]);
        S_IP("addr add 198.19.%u.%zu/30 dev %sk%zu", sub, 4 * i + 1, net->prefix, i);
        S_IP("link set %sk%zu up", net->prefix, i);
        S_IP("-n %s addr add %s/30 dev k0", net->ns[i], net->client_addr[i]);
        S_IP("-n %s link set k0 up", net->ns[i]);
    }
    /* A link p<b> in namespace a to p<a> in namespace b, and a host route over it. */
    for (size_t a = 0; a < n; a++) {
        for (size_t b = a + 1; b < n; b++) {
            S_IP("link add %sa%zub%zu type veth peer name %sb%zua%zu", net->prefix, a, b,
                 net->prefix, b, a);
            S_IP("link set %sa%zub%zu netns %s name p%zu", net->prefix, a, b, net->ns[a], b);
            S_IP("link set %sb%zua%zu netns %s name p%zu", net->prefix, b, a, net->ns[b], a);
            S_IP("-n %s link set p%zu up", net->ns[a], b);
            S_IP("-n %s link set p%zu up", net->ns[b], a);
            S_IP("-n %s route add %s/32 dev p%zu", net->ns[a], net->node_addr[b], b);
            S_IP("-n %s route add %s/32 dev p%zu", net->ns[b], net->node_addr[a], a);
        }
    }
}

void
cn_link(const struct cn_net *net, size_t a, size_t b, bool up)
{
    S_IP("-n %s link set p%zu %s", net->ns[a], b, up ? "up" : "down");
    S_IP("-n %s link set p%zu %s", net->ns[b], a, up ? "up" : "down");
    if (up) {
        /* Routes over a link that went down are gone with it. */
        s_ip_try(NULL, 0, "-n %s route replace %s/32 dev p%zu", net->ns[a], net->node_addr[b], b);
        s_ip_try(NULL, 0, "-n %s route replace %s/32 dev p%zu", net->ns[b], net->node_addr[a], a);
    }
}

void
cn_isolate(const struct cn_net *net, size_t i, bool isolated)
{
    for (size_t j = 0; j < net->n; j++) {
        if (j != i) {
            cn_link(net, i, j, !isolated);
        }
    }
}

void
cn_cleanup(const char *prefix)
{
    char list[8192];
    if (s_ip_try(list, sizeof list, "netns list") != 0) {
        return;
    }
    size_t plen = strlen(prefix);
    char *save = NULL;
    for (char *line = strtok_r(list, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[64];
        if (sscanf(line, "%63s", name) != 1 || strncmp(name, prefix, plen) != 0 ||
            name[plen] != 'n') {
            continue;
        }
        char pids[4096];
        if (s_ip_try(pids, sizeof pids, "netns pids %s", name) == 0) {
            char *psave = NULL;
            for (char *p = strtok_r(pids, "\n", &psave); p; p = strtok_r(NULL, "\n", &psave)) {
                long pid = strtol(p, NULL, 10);
                if (pid > 1) {
                    kill((pid_t)pid, SIGKILL);
                }
            }
        }
        s_ip_try(NULL, 0, "netns del %s", name);
    }
    /* Client links whose namespace was deleted went with it; any half-made one goes here. */
    char links[16384];
    if (s_ip_try(links, sizeof links, "-o link show") == 0) {
        char *lsave = NULL;
        for (char *line = strtok_r(links, "\n", &lsave); line;
             line = strtok_r(NULL, "\n", &lsave)) {
            char name[64];
            if (sscanf(line, "%*d: %63[^:@]", name) == 1 && strncmp(name, prefix, plen) == 0 &&
                (name[plen] < '0' || name[plen] > '9')) {
                s_quiet = true;
                s_ip_try(NULL, 0, "link del %s", name);
                s_quiet = false;
            }
        }
    }
}

void
cn_cleanup_stale(void)
{
    char list[8192];
    if (geteuid() != 0 || s_ip_try(list, sizeof list, "netns list") != 0) {
        return;
    }
    char *save = NULL;
    for (char *line = strtok_r(list, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        long pid = 0;
        char prefix[32];
        if (sscanf(line, "vxc%ldn", &pid) == 1 && pid > 0 && kill((pid_t)pid, 0) != 0) {
            snprintf(prefix, sizeof prefix, "vxc%ld", pid);
            cn_cleanup(prefix);
        }
    }
}
