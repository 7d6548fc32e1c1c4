/* SPDX-License-Identifier: Apache-2.0 */
/* Starting real vexfs-coordinator clusters for integration tests: free loopback ports, data
 * directories under a fresh temporary directory, /ready polling, and small REST helpers. */
#ifndef COORD_HARNESS_H
#define COORD_HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define CH_TOKEN "coord-token"
#define CH_MAX 5
#define CH_ELECTION_MS 300

struct ch_node {
    uint64_t id;
    pid_t pid;
    uint16_t rest_port, raft_port, input_port;
    char cfg[300];
    char log[300];
};

struct ch_cluster {
    size_t n;
    struct ch_node node[CH_MAX];
    char dir[256];
    char members[1024];
};

/* Writes configurations for n nodes (extra YAML lines for the distributed_coordination
 * section may be NULL) and starts them all; waits until a leader is known everywhere. */
void ch_start(struct ch_cluster *c, size_t n, const char *extra);
/* The same with members written as host:port (a name is resolved by the coordinator). */
void ch_start_host(struct ch_cluster *c, size_t n, const char *extra, const char *host);
/* Starts (or restarts, with its data dir) node i. */
void ch_start_node(struct ch_cluster *c, size_t i);
/* SIGTERM node i; fails the test unless it exits 0. */
void ch_stop_node(struct ch_cluster *c, size_t i);
/* Stops every running node (each must exit 0). */
void ch_stop_all(struct ch_cluster *c);
void ch_kill9(struct ch_cluster *c, size_t i);

/* Index of the node that reports itself leader and is reported by the others, or -1 after
 * timeout_ms. Nodes in skip (bitmask) are not asked. */
int ch_leader(struct ch_cluster *c, int timeout_ms, unsigned skip);

/* A request to node i; returns the HTTP status and *out (parsed body, may be NULL: caller
 * decrefs). body may be NULL. */
long ch_req(struct ch_cluster *c, size_t i, const char *method, const char *path,
            const char *body, json_t **out);
/* Integer field of GET path on node i (e.g. /v1/log?limit=0 "total"); -1 on failure. */
long long ch_int(struct ch_cluster *c, size_t i, const char *path, const char *field);

#endif
