/* SPDX-License-Identifier: Apache-2.0 */
/* The outbound address policy: where the daemons' own outgoing calls on behalf of users
 * (workflow HTTP steps, alert webhooks and mail) may connect.
 *
 * Checked at connect time, on the address libcurl is about to connect to (its open-socket
 * callback), so neither a host name that resolves to an internal address nor a redirect of
 * DNS between a check and the connect gets past it. Refused unless the allow list admits the
 * address:
 *   loopback      127.0.0.0/8, ::1
 *   link-local    169.254.0.0/16, fe80::/10
 *   metadata      169.254.169.254, fd00:ec2::254 (cloud instance metadata)
 *   unspecified   0.0.0.0/8, ::
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are judged as their IPv4 address. Everything
 * else (private ranges included) is admitted: internal webhooks are normal.
 *
 * The allow list is text: addresses or CIDR blocks separated by commas or spaces, such as
 * "127.0.0.1/32, 10.1.2.3, ::1". Refusals are counted in
 * vexfs_outbound_refused_total{reason} of the registry given. Thread-safe once made. */
#ifndef VX_NETPOLICY_H
#define VX_NETPOLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "vx_metrics.h"

typedef struct vx_netpolicy vx_netpolicy_t;

/* Parses allow (borrowed; NULL or "" admits nothing extra). metrics may be NULL. Returns NULL
 * with err naming the bad entry ("outbound_allow: \"10.0.0.0/33\": prefix length above 32").
 * Caller owns the result. */
vx_netpolicy_t *vx_netpolicy_new(const char *allow, vx_metrics_t *metrics, char *err,
                                 size_t errlen);
/* Accepts NULL; sets *p to NULL. */
void vx_netpolicy_destroy(vx_netpolicy_t **p);

/* Whether p admits a connection to sa. Returns 0, or -EACCES with *reason (a static string:
 * "loopback", "link-local", "metadata", "unspecified") set and the refusal counted. An
 * address family other than IPv4 or IPv6 is refused as "unspecified". */
int vx_netpolicy_check(const vx_netpolicy_t *p, const struct sockaddr *sa, socklen_t len,
                       const char **reason);

/* One libcurl transfer under a policy: vx_netpolicy_curl installs the open-socket callback on
 * the easy handle c (a CURL *) and disables proxies (a proxy would be the address checked).
 * After the transfer, refused is the reason of a refused address, or NULL. call must outlive
 * the transfer; p NULL admits everything. */
struct vx_netpolicy_call {
    const vx_netpolicy_t *p;
    const char *refused;
};
void vx_netpolicy_curl(void *c, struct vx_netpolicy_call *call);

#endif
