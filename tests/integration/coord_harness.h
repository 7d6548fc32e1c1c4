/* SPDX-License-Identifier: Apache-2.0 */
/* Starting real vexfs-coordinator clusters for integration tests: free loopback ports, data
 * directories under a fresh temporary directory, /ready polling, and small REST helpers.
 * A cluster runs on loopback, or with each node in a network namespace of its own
 * (coord_netns.h) so that links between nodes can be cut. */
#ifndef COORD_HARNESS_H
#define COORD_HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define CH_TOKEN "coord-token"
#define CH_MAX 5
#define CH_ELECTION_MS 300

struct cn_net;

struct ch_node {
    uint64_t id;
    pid_t pid;
    uint16_t rest_port, raft_port, input_port;
    char host[48];   /* where the test reaches the REST port */
    char ns[32];     /* network namespace the node runs in; "" for none */
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
 * section may be NULL; an input_endpoint among them replaces the default, which binds the
 * node's input_port) and starts them all; waits until a leader is known everywhere. */
void ch_start(struct ch_cluster *c, size_t n, const char *extra);
/* The same with members written as host:port (a name is resolved by the coordinator). */
void ch_start_host(struct ch_cluster *c, size_t n, const char *extra, const char *host);
/* The same with node i in net's namespace i (net set up by cn_setup with at least n nodes).
 * extra_node[i] (may be NULL, or hold NULLs) adds YAML lines to node i alone. */
void ch_start_netns(struct ch_cluster *c, size_t n, const char *extra,
                    const char *const *extra_node, const struct cn_net *net);
/* Starts (or restarts, with its data dir) node i. */
void ch_start_node(struct ch_cluster *c, size_t i);
/* SIGTERM node i; fails the test unless it exits 0. */
void ch_stop_node(struct ch_cluster *c, size_t i);
/* Stops every running node (each must exit 0). */
void ch_stop_all(struct ch_cluster *c);
void ch_kill9(struct ch_cluster *c, size_t i);

/* Index of the node that reports itself leader, or -1 after timeout_ms. Nodes in skip
 * (bitmask) are not asked. */
int ch_leader(struct ch_cluster *c, int timeout_ms, unsigned skip);
/* Index of node id (1-based), or -1. */
int ch_index(const struct ch_cluster *c, long long id);

/* One HTTP answer. */
struct ch_resp {
    long status;        /* 0: no answer (transport error or timeout) */
    json_t *json;       /* parsed body or NULL; owned */
    char retry_after[16];
    char etag[40];
    char *text;         /* the body as it came, or NULL; owned */
};
void ch_resp_fini(struct ch_resp *r);

/* A connection to reuse across requests (one per thread). */
typedef struct ch_client ch_client_t;
ch_client_t *ch_client_new(void);
void ch_client_destroy(ch_client_t **cl);

/* A request to node i. headers: NULL-terminated extra header lines, may be NULL. With a
 * client the connection is kept alive. timeout_ms 0: 60 s. */
void ch_call(struct ch_cluster *c, ch_client_t *cl, size_t i, const char *method,
             const char *path, const char *body, const char *const *headers, long timeout_ms,
             struct ch_resp *out);

/* A request to node i; returns the HTTP status and *out (parsed body, may be NULL: caller
 * decrefs). body may be NULL. */
long ch_req(struct ch_cluster *c, size_t i, const char *method, const char *path,
            const char *body, json_t **out);
/* Waits until node i's GET /ready answers 200 (HTTPS). */
bool ch_wait_ready(struct ch_cluster *c, size_t i, int timeout_ms);
/* One sample of node i's GET /metrics, the series exactly as printed
 * (`vexfs_raft_peer_refused_total{direction="inbound",reason="unknown_key"}`); -1 when absent. */
double ch_metric(struct ch_cluster *c, size_t i, const char *series);
/* The sum of every series of metric name on node i; -1 when there is none. */
double ch_metric_sum(struct ch_cluster *c, size_t i, const char *name);
/* Integer field of GET path on node i (e.g. /v1/log?limit=0 "total"); -1 on failure. */
long long ch_int(struct ch_cluster *c, size_t i, const char *path, const char *field);

#endif
