/* SPDX-License-Identifier: Apache-2.0 */
/* The distributed_coordination section: every key the daemon reads, with bounds and help. */
#include "coord_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_vclock.h"

#define S_AT(field) VX_CFG_AT(struct coord_config, field)

static const struct vx_cfg_key s_keys[] = {
    {"cluster_size", VX_CFG_INT, "3", 1, COORD_MAX_MEMBERS, false,
     "voters the cluster is meant to have; /v1/cluster and /ready compare the healthy count "
     "with it, and it is exported as vexfs_cluster_size_expected for alerts",
     S_AT(cluster_size)},
    {"max_consensus_latency_ms", VX_CFG_INT, "10", 1, 600000, true,
     "commit latency budget; slower commits are counted in vexfs_consensus_slow_total and the "
     "budget is exported as vexfs_consensus_latency_budget_seconds",
     S_AT(max_consensus_latency_ms)},
    {"enable_raft_consensus", VX_CFG_BOOL, "true", 0, 0, false,
     "replicate through the members; false runs this node as a cluster of one (members "
     "ignored), for a single-machine setup",
     S_AT(enable_raft_consensus)},
    {"enable_conflict_resolution", VX_CFG_BOOL, "true", 0, 0, false,
     "apply the per-prefix strategies to concurrent updates; false resolves every conflict "
     "last-writer-wins (still counted)",
     S_AT(enable_conflict_resolution)},
    {"enable_partition_tolerance", VX_CFG_BOOL, "true", 0, 0, false,
     "pre-vote on (a node that was cut off does not disrupt the leader when it returns) and a "
     "node without a leader reports itself partitioned and refuses writes at once",
     S_AT(enable_partition_tolerance)},
    {"node_id", VX_CFG_INT, "1", 1, COORD_MAX_NODE_ID, false,
     "this node's raft id; must be in members", S_AT(node_id)},
    {"members", VX_CFG_STRING, "1@127.0.0.1:5560/8082", 0, 4096, false,
     "initial voters, comma-separated id@ip:raft_port[/rest_port[/input_port]]; used to "
     "bootstrap an empty data_dir, later changes go through /v1/members",
     S_AT(members)},
    {"bootstrap", VX_CFG_BOOL, "true", 0, 0, false,
     "on first start (empty data_dir) write the initial configuration from members; false for "
     "a node that joins a running cluster through POST /v1/members",
     S_AT(bootstrap)},
    {"raft_bind", VX_CFG_STRING, "", 0, 64, false,
     "IPv4 address the raft transport listens on, with this node's raft port (0.0.0.0 when "
     "the member address is not on this host, e.g. a Kubernetes Service); empty: the member "
     "address itself",
     S_AT(raft_bind)},
    {"raft_security", VX_CFG_STRING, "required", 0, 16, false,
     "required: raft peers prove they hold an admitted key before libraft sees a connection "
     "(this node's <keys_dir>/<identity>.key; peers' public keys in <keys_dir>/authorized/, "
     "named in raft_peer_keys) and the stream is encrypted; off: libraft's plain TCP "
     "transport, allowed only when every member address is loopback",
     S_AT(raft_security)},
    {"raft_peer_keys", VX_CFG_STRING, "coordinator", 0, 1024, false,
     "comma-separated names of public keys in <keys_dir>/authorized/ admitted as raft peers; "
     "a name ending in * admits every key whose name starts so (coordinator-*)",
     S_AT(raft_peer_keys)},
    {"raft_handshake_timeout_ms", VX_CFG_INT, "2000", 50, 60000, false,
     "longest a raft peer may take to complete the handshake before it is refused",
     S_AT(raft_handshake_timeout_ms)},
    {"data_dir", VX_CFG_STRING, "/var/lib/vexfs/coordinator", 0, 1024, false,
     "raft log, metadata and snapshots; created if missing; needs O_DIRECT (ext4, xfs) or tmpfs",
     S_AT(data_dir)},
    {"rest_bind", VX_CFG_STRING, "127.0.0.1", 0, 64, false, "address of the REST server",
     S_AT(rest_bind)},
    {"rest_port", VX_CFG_INT, "8082", 0, 65535, false, "port of the REST server (0: any)",
     S_AT(rest_port)},
    {"input_endpoint", VX_CFG_STRING, ">tcp://127.0.0.1:5552", 0, 1024, false,
     "ZeroMQ PULL (input_acked: ROUTER) for batches from routing's coordinator boundary; "
     "'>' connects, '@' binds; only the leader attaches it, so routing sends to the leader "
     "alone; empty: off",
     S_AT(input_endpoint)},
    {"input_acked", VX_CFG_BOOL, "false", 0, 0, false,
     "attach a ROUTER to input_endpoint instead of a PULL, for routing's acknowledged "
     "coordinator boundary (boundary_acked): each batch is acknowledged once its raft entry "
     "is committed and applied, a batch whose proposal failed is not (routing sends it again, "
     "to the next leader), a resend already acknowledged is acknowledged again and not "
     "proposed (vexfs_coordinator_input_duplicates_total)",
     S_AT(input_acked)},
    {"input_senders_max", VX_CFG_INT, "1024", 1, 1000000, false,
     "input_acked: senders whose batch sequences are remembered (the least recently heard is "
     "forgotten first)",
     S_AT(input_senders_max)},
    {"input_senders_save_ms", VX_CFG_INT, "1000", 10, 60000, false,
     "input_acked: how often the remembered senders are saved to <data_dir>/senders.json "
     "while they change",
     S_AT(input_senders_save_ms)},
    {"election_timeout_ms", VX_CFG_INT, "1000", 50, 60000, false,
     "raft election timeout (randomised between 1x and 2x)", S_AT(election_timeout_ms)},
    {"heartbeat_ms", VX_CFG_INT, "100", 10, 10000, false,
     "raft heartbeat interval; must be below election_timeout_ms", S_AT(heartbeat_ms)},
    {"snapshot_threshold", VX_CFG_INT, "1024", 16, 10000000, false,
     "log entries between snapshots (bounds the log on disk)", S_AT(snapshot_threshold)},
    {"snapshot_trailing", VX_CFG_INT, "128", 0, 10000000, false,
     "entries kept behind a snapshot for slow followers", S_AT(snapshot_trailing)},
    {"connect_retry_ms", VX_CFG_INT, "200", 10, 60000, false,
     "delay before reconnecting to an unreachable peer", S_AT(connect_retry_ms)},
    {"apply_timeout_ms", VX_CFG_INT, "5000", 10, 600000, false,
     "longest a REST write waits for its commit before answering 504", S_AT(apply_timeout_ms)},
    {"log_memory_entries", VX_CFG_INT, "100000", 16, 10000000, false,
     "committed events kept in memory for GET /v1/log (and in snapshots)",
     S_AT(log_memory_entries)},
    {"default_strategy", VX_CFG_STRING, "last_writer_wins", 0, 32, false,
     "conflict strategy for keys no prefix matches: last_writer_wins, merge, user_intervention",
     S_AT(default_strategy)},
    {"conflict_strategies", VX_CFG_STRING, "", 0, 8192, false,
     "per key prefix, comma-separated prefix=strategy; the longest matching prefix wins",
     S_AT(conflict_strategies)},
    {"vclock_nodes", VX_CFG_STRING, "*", 0, 4096, false,
     "node names a producer's vector clock may carry, comma-separated (a name ending in * "
     "matches a prefix; * alone: any); entries with other names are folded into the one "
     "entry " COORD_VCLOCK_FOLDED " (the sum of their counters); the cluster's own entries "
     "node-<id> are always kept; must be the same on every member",
     S_AT(vclock_nodes)},
    {"vclock_max_entries", VX_CFG_INT, "64", 2, 4096, false,
     "most entries one key's vector clock may hold; an event that would take its key past it "
     "is refused (REST: 422 clock_too_large) and counted in "
     "vexfs_consensus_clock_refused_total; must be the same on every member",
     S_AT(vclock_max_entries)},
};

/* Checks a comma-separated list of names (each at most max bytes, a trailing * allowed).
 * Returns 0 or -EINVAL naming the key. */
static int
s_check_names(const char *key, const char *list, size_t max, bool empty_ok, char *err,
              size_t errlen)
{
    size_t n = 0;
    const char *p = list;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *star = memchr(p, '*', len);
        if (len == 0 || len > max || (star && star != p + len - 1) ||
            memchr(p, ' ', len) != NULL) {
            snprintf(err, errlen,
                     COORD_SECTION ".%s: '%.*s' is not a name (1 to %zu characters, no spaces, "
                                   "* only at the end)",
                     key, (int)(len > 64 ? 64 : len), p, max);
            return -EINVAL;
        }
        n++;
        p += len + (end ? 1 : 0);
        if (end && !*p) {
            snprintf(err, errlen, COORD_SECTION ".%s: ends with a comma", key);
            return -EINVAL;
        }
    }
    if (n == 0 && !empty_ok) {
        snprintf(err, errlen, COORD_SECTION ".%s: needs at least one name", key);
        return -EINVAL;
    }
    return 0;
}

/* Rules across keys and values that need parsing: run on every load and patch, so a file
 * that would fail at start fails --check too. */
static int
cb_check(const void *bound, char *err, size_t errlen)
{
    const struct coord_config *c = bound;
    if (c->heartbeat_ms >= c->election_timeout_ms) {
        snprintf(err, errlen,
                 COORD_SECTION ".heartbeat_ms (%d) must be below election_timeout_ms (%d)",
                 (int)c->heartbeat_ms, (int)c->election_timeout_ms);
        return -EINVAL;
    }
    if (strcmp(c->raft_security, "required") != 0 && strcmp(c->raft_security, "off") != 0) {
        snprintf(err, errlen, COORD_SECTION ".raft_security: expected required or off, got \"%s\"",
                 c->raft_security);
        return -EINVAL;
    }
    if (s_check_names("raft_peer_keys", c->raft_peer_keys, 128,
                      strcmp(c->raft_security, "off") == 0, err, errlen) < 0 ||
        s_check_names("vclock_nodes", c->vclock_nodes, COORD_VCLOCK_MAX_NAME, true, err,
                      errlen) < 0) {
        return -EINVAL;
    }
    struct coord_strategies *st = malloc(sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    char serr[300];
    int rc = coord_strategies_parse(st, c->conflict_strategies, c->default_strategy, serr,
                                    sizeof serr);
    free(st);
    if (rc < 0) {
        snprintf(err, errlen, COORD_SECTION ".%s", serr);
        return -EINVAL;
    }
    return 0;
}

const struct vx_cfg_section coord_cfg_section =
    VX_CFG_SECTION(COORD_SECTION, s_keys, struct coord_config, cb_check);

static int
s_port(const char *s, const char *what, uint16_t *out, char *err, size_t errlen)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (end == s || v < 1 || v > 65535 || (*end != '\0' && *end != '/')) {
        snprintf(err, errlen, "bad %s port in '%s'", what, s);
        return -EINVAL;
    }
    *out = (uint16_t)v;
    return 0;
}

/* raft 0.15 connects to IPv4 literals only: a host name (a container or a Kubernetes Service
 * with a stable address) is resolved once, here, and the raft address holds the result. */
static int
s_resolve(const char *text, const char *host, char ip[INET_ADDRSTRLEN], char *err, size_t errlen)
{
    struct in_addr a;
    if (inet_pton(AF_INET, host, &a) == 1) {
        snprintf(ip, INET_ADDRSTRLEN, "%s", host);
        return 0;
    }
    for (const char *p = host; *p; p++) {
        if (!(*p == '-' || *p == '.' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
              (*p >= 'A' && *p <= 'Z'))) {
            snprintf(err, errlen, "member '%s': '%s' is neither an IPv4 address nor a host name",
                     text, host);
            return -EINVAL;
        }
    }
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, errlen, "member '%s': cannot resolve '%s' to an IPv4 address: %s", text,
                 host, rc ? gai_strerror(rc) : "no address");
        return -EINVAL;
    }
    const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)res->ai_addr;
    inet_ntop(AF_INET, &sin->sin_addr, ip, INET_ADDRSTRLEN);
    freeaddrinfo(res);
    return 0;
}

int
coord_member_parse(const char *text, struct coord_member *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *at = strchr(text, '@');
    char *end = NULL;
    unsigned long long id = strtoull(text, &end, 10);
    if (!at || end != at || id == 0 || text[0] == '-' || id > COORD_MAX_NODE_ID) {
        snprintf(err, errlen, "member '%s': expected id@ip:port[/rest_port[/input_port]] with "
                              "id 1..1000000", text);
        return -EINVAL;
    }
    out->id = id;
    const char *colon = strchr(at + 1, ':');
    if (!colon || (size_t)(colon - at - 1) >= sizeof out->host || colon == at + 1) {
        snprintf(err, errlen, "member '%s': missing ip:port", text);
        return -EINVAL;
    }
    memcpy(out->host, at + 1, (size_t)(colon - at - 1));
    out->host[colon - at - 1] = '\0';
    char ip[INET_ADDRSTRLEN];
    if (s_resolve(text, out->host, ip, err, errlen) < 0) {
        return -EINVAL;
    }
    uint16_t raft_port;
    if (s_port(colon + 1, "raft", &raft_port, err, errlen) < 0) {
        return -EINVAL;
    }
    snprintf(out->raft_addr, sizeof out->raft_addr, "%s:%u", ip, (unsigned)raft_port);
    const char *slash = strchr(colon + 1, '/');
    if (slash) {
        if (s_port(slash + 1, "REST", &out->rest_port, err, errlen) < 0) {
            return -EINVAL;
        }
        const char *slash2 = strchr(slash + 1, '/');
        if (slash2) {
            if (s_port(slash2 + 1, "input", &out->input_port, err, errlen) < 0 ||
                strchr(slash2 + 1, '/')) {
                snprintf(err, errlen, "member '%s': too many '/' fields", text);
                return -EINVAL;
            }
        }
    }
    return 0;
}

int
coord_members_parse(const char *text, struct coord_member *out, size_t max, size_t *n, char *err,
                    size_t errlen)
{
    *n = 0;
    char *copy = strdup(text);
    if (!copy) {
        return -ENOMEM;
    }
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        if (*n == max) {
            snprintf(err, errlen, "members: more than %zu", max);
            rc = -EINVAL;
            break;
        }
        rc = coord_member_parse(tok, &out[*n], err, errlen);
        if (rc < 0) {
            break;
        }
        for (size_t i = 0; i < *n; i++) {
            if (out[i].id == out[*n].id || strcmp(out[i].raft_addr, out[*n].raft_addr) == 0) {
                snprintf(err, errlen, "members: '%s' repeats an id or address", tok);
                rc = -EINVAL;
                break;
            }
        }
        if (rc < 0) {
            break;
        }
        (*n)++;
    }
    free(copy);
    if (rc == 0 && *n == 0) {
        snprintf(err, errlen, "members: empty");
        rc = -EINVAL;
    }
    return rc;
}

static const char *const s_strategy_names[COORD_N_STRATEGIES] = {
    "last_writer_wins",
    "merge",
    "user_intervention",
};

const char *
coord_strategy_name(enum coord_strategy s)
{
    return (unsigned)s < COORD_N_STRATEGIES ? s_strategy_names[s] : "unknown";
}

int
coord_strategy_parse(const char *name, enum coord_strategy *out)
{
    for (int i = 0; i < COORD_N_STRATEGIES; i++) {
        if (strcmp(name, s_strategy_names[i]) == 0) {
            *out = (enum coord_strategy)i;
            return 0;
        }
    }
    return -EINVAL;
}

int
coord_strategies_parse(struct coord_strategies *out, const char *table, const char *def,
                       char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (coord_strategy_parse(def, &out->def) < 0) {
        snprintf(err, errlen, "default_strategy: unknown strategy '%s' (last_writer_wins, "
                              "merge, user_intervention)", def);
        return -EINVAL;
    }
    char *copy = strdup(table);
    if (!copy) {
        return -ENOMEM;
    }
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') {
            tok++;
        }
        char *eq = strrchr(tok, '=');
        if (!eq || eq == tok || (size_t)(eq - tok) >= sizeof out->rule[0].prefix ||
            out->n == COORD_MAX_STRATEGIES) {
            snprintf(err, errlen, "conflict_strategies: expected prefix=strategy, got '%s'", tok);
            rc = -EINVAL;
            break;
        }
        *eq = '\0';
        if (coord_strategy_parse(eq + 1, &out->rule[out->n].strategy) < 0) {
            snprintf(err, errlen, "conflict_strategies: unknown strategy '%s' for '%s'", eq + 1,
                     tok);
            rc = -EINVAL;
            break;
        }
        snprintf(out->rule[out->n].prefix, sizeof out->rule[0].prefix, "%s", tok);
        out->n++;
    }
    free(copy);
    return rc;
}

enum coord_strategy
coord_strategies_for(const struct coord_strategies *s, const char *key)
{
    size_t best = 0;
    enum coord_strategy st = s->def;
    for (size_t i = 0; i < s->n; i++) {
        size_t len = strlen(s->rule[i].prefix);
        if (len > best && strncmp(key, s->rule[i].prefix, len) == 0) {
            best = len;
            st = s->rule[i].strategy;
        }
    }
    return st;
}

bool
coord_name_matches(const char *patterns, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = patterns;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 0 && p[len - 1] == '*') {
            if (nlen >= len - 1 && strncmp(name, p, len - 1) == 0) {
                return true;
            }
        } else if (len == nlen && strncmp(name, p, len) == 0) {
            return true;
        }
        if (!end) {
            break;
        }
        p = end + 1;
    }
    return false;
}
