/* SPDX-License-Identifier: Apache-2.0 */
/* The outbound address policy (see vx_netpolicy.h). */
#include "vx_netpolicy.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vx_mem.h"

#define S_MAX_ALLOW 256

/* One allowed block: 16 bytes (IPv4 as IPv4-mapped IPv6) and a prefix over them. */
struct s_block {
    uint8_t a[16];
    unsigned bits;
};

enum { S_LOOPBACK, S_LINK_LOCAL, S_METADATA, S_UNSPECIFIED, S_N_REASONS };
static const char *const s_reasons[S_N_REASONS] = {"loopback", "link-local", "metadata",
                                                   "unspecified"};

struct vx_netpolicy {
    struct s_block allow[S_MAX_ALLOW];
    size_t n_allow;
    vx_counter_t *refused[S_N_REASONS];
};

static const uint8_t s_v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static bool
s_prefix_eq(const uint8_t *x, const uint8_t *y, unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;
    if (memcmp(x, y, full) != 0) {
        return false;
    }
    if (rest == 0) {
        return true;
    }
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (x[full] & mask) == (y[full] & mask);
}

/* Parses one entry "addr" or "addr/bits" into b. */
static int
s_block_parse(const char *entry, struct s_block *b, char *err, size_t errlen)
{
    char addr[64];
    const char *slash = strchr(entry, '/');
    size_t alen = slash ? (size_t)(slash - entry) : strlen(entry);
    if (alen == 0 || alen >= sizeof addr) {
        snprintf(err, errlen, "outbound_allow: \"%.64s\": expected an address or a CIDR block",
                 entry);
        return -EINVAL;
    }
    memcpy(addr, entry, alen);
    addr[alen] = '\0';
    struct in_addr v4;
    unsigned max;
    memset(b, 0, sizeof *b);
    if (inet_pton(AF_INET, addr, &v4) == 1) {
        memcpy(b->a, s_v4_mapped, 12);
        memcpy(b->a + 12, &v4, 4);
        max = 32;
    } else if (inet_pton(AF_INET6, addr, b->a) == 1) {
        max = 128;
    } else {
        snprintf(err, errlen, "outbound_allow: \"%.64s\": \"%s\" is not an IPv4 or IPv6 address",
                 entry, addr);
        return -EINVAL;
    }
    unsigned bits = max;
    if (slash != NULL) {
        char *end = NULL;
        errno = 0;
        unsigned long v = strtoul(slash + 1, &end, 10);
        if (slash[1] < '0' || slash[1] > '9' || *end != '\0' || errno != 0 || v > max) {
            snprintf(err, errlen, "outbound_allow: \"%.64s\": prefix length must be 0..%u",
                     entry, max);
            return -EINVAL;
        }
        bits = (unsigned)v;
    }
    b->bits = max == 32 ? 96 + bits : bits;
    return 0;
}

vx_netpolicy_t *
vx_netpolicy_new(const char *allow, vx_metrics_t *metrics, char *err, size_t errlen)
{
    vx_netpolicy_t *p = vx_calloc(1, sizeof *p);
    const char *s = allow ? allow : "";
    while (*s != '\0') {
        size_t skip = strspn(s, ", \t\n");
        s += skip;
        size_t n = strcspn(s, ", \t\n");
        if (n == 0) {
            break;
        }
        char entry[96];
        if (n >= sizeof entry) {
            snprintf(err, errlen, "outbound_allow: \"%.64s...\": entry too long", s);
            vx_free(&p);
            return NULL;
        }
        memcpy(entry, s, n);
        entry[n] = '\0';
        s += n;
        if (p->n_allow == S_MAX_ALLOW) {
            snprintf(err, errlen, "outbound_allow: more than %d entries", S_MAX_ALLOW);
            vx_free(&p);
            return NULL;
        }
        if (s_block_parse(entry, &p->allow[p->n_allow], err, errlen) < 0) {
            vx_free(&p);
            return NULL;
        }
        p->n_allow++;
    }
    if (metrics != NULL) {
        for (int r = 0; r < S_N_REASONS; r++) {
            p->refused[r] = vx_metrics_counter(metrics, "vexfs_outbound_refused_total",
                                               "Outgoing connections (workflow HTTP steps, "
                                               "alert webhooks and mail) refused by the "
                                               "outbound address policy, by the address's kind.",
                                               "reason", s_reasons[r], NULL);
        }
    }
    return p;
}

void
vx_netpolicy_destroy(vx_netpolicy_t **p)
{
    if (p != NULL) {
        vx_free(p);
    }
}

/* The kind of a denied address (S_*), or -1 when the address is not in a denied range. */
static int
s_denied(const uint8_t a[16])
{
    static const uint8_t zero[16] = {0};
    static const uint8_t one[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static const uint8_t ll6[16] = {0xfe, 0x80};
    static const uint8_t md6[16] = {0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0,    0,
                                    0,    0,    0,    0,    0, 0, 0x02, 0x54};
    if (memcmp(a, s_v4_mapped, 12) == 0) {
        const uint8_t *v = a + 12;
        if (v[0] == 127) {
            return S_LOOPBACK;
        }
        if (v[0] == 169 && v[1] == 254) {
            return v[2] == 169 && v[3] == 254 ? S_METADATA : S_LINK_LOCAL;
        }
        if (v[0] == 0) {
            return S_UNSPECIFIED;
        }
        return -1;
    }
    if (memcmp(a, zero, 16) == 0) {
        return S_UNSPECIFIED;
    }
    if (memcmp(a, one, 16) == 0) {
        return S_LOOPBACK;
    }
    if (memcmp(a, md6, 16) == 0) {
        return S_METADATA;
    }
    if (s_prefix_eq(a, ll6, 10)) {
        return S_LINK_LOCAL;
    }
    return -1;
}

int
vx_netpolicy_check(const vx_netpolicy_t *p, const struct sockaddr *sa, socklen_t len,
                   const char **reason)
{
    uint8_t a[16];
    int kind = S_UNSPECIFIED;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
        memcpy(a, s_v4_mapped, 12);
        memcpy(a + 12, &s4->sin_addr, 4);
        kind = s_denied(a);
    } else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
        memcpy(a, &s6->sin6_addr, 16);
        kind = s_denied(a);
    } else {
        memset(a, 0, sizeof a);
    }
    if (kind < 0) {
        return 0;
    }
    if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) {
        for (size_t i = 0; i < p->n_allow; i++) {
            if (s_prefix_eq(a, p->allow[i].a, p->allow[i].bits)) {
                return 0;
            }
        }
    }
    if (p->refused[kind] != NULL) {
        vx_counter_add(p->refused[kind], 1);
    }
    *reason = s_reasons[kind];
    return -EACCES;
}

/* libcurl asks for every socket it connects: the address is checked before the socket is
 * made, so a refused address is never connected to. */
static curl_socket_t
cb_open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *addr)
{
    struct vx_netpolicy_call *call = arg;
    const char *reason = NULL;
    if (purpose == CURLSOCKTYPE_IPCXN && call->p != NULL &&
        vx_netpolicy_check(call->p, &addr->addr, addr->addrlen, &reason) < 0) {
        call->refused = reason;
        return CURL_SOCKET_BAD;
    }
    return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

void
vx_netpolicy_curl(void *c, struct vx_netpolicy_call *call)
{
    call->refused = NULL;
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, cb_open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, call);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
}
