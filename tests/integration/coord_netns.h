/* SPDX-License-Identifier: Apache-2.0 */
/* Network namespaces for partition tests (root and iproute2 needed): one namespace per
 * coordinator, a veth pair between every two of them (the links raft uses, cut with
 * `ip link set ... down`) and one from the test's own namespace to each (the client link,
 * never cut, so the test can still talk to a node cut off from its peers).
 *
 * Addresses come from 198.18.0.0/15 (set aside for network tests, RFC 2544): node i answers
 * raft on node_addr[i] (on its loopback, routed over the veth links) and REST on
 * client_addr[i]. Names start with "vxc<pid>", the pid of the test program that made them,
 * so cn_cleanup can remove a run's leftovers even after a failed or killed test, and
 * cn_cleanup_stale those of runs that are gone. */
#ifndef COORD_NETNS_H
#define COORD_NETNS_H

#include <stdbool.h>
#include <stddef.h>

#define CN_MAX 5

struct cn_net {
    size_t n;
    char prefix[24];
    char ns[CN_MAX][32];
    char node_addr[CN_MAX][24];
    char client_addr[CN_MAX][24];
    char host_addr[CN_MAX][24]; /* the test's end of node i's client link: what a node
                                   connects to for a service of the test's namespace */
};

/* The path of the ip program. */
const char *cn_ip(void);
/* Creates n namespaces and their links (fails the test when it cannot: root is needed). */
void cn_setup(struct cn_net *net, size_t n);
/* Cuts (down) or heals (up) the link between nodes a and b. */
void cn_link(const struct cn_net *net, size_t a, size_t b, bool up);
/* Cuts or heals every link of node i to its peers. */
void cn_isolate(const struct cn_net *net, size_t i, bool isolated);
/* Kills every process in the namespaces named prefix* and deletes them. Safe to call twice. */
void cn_cleanup(const char *prefix);
/* The same for namespaces of test programs that no longer run. */
void cn_cleanup_stale(void);
/* "vxc<pid>" for this test program (fixed at the first call, so forked tests share it). */
const char *cn_prefix(void);

#endif
