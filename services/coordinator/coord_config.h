/* SPDX-License-Identifier: Apache-2.0 */
/* The distributed_coordination section, the member list and the conflict strategy table. */
#ifndef COORD_CONFIG_H
#define COORD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_config.h"

#define COORD_SECTION "distributed_coordination"
#define COORD_MAX_MEMBERS 16
#define COORD_MAX_STRATEGIES 64
#define COORD_MAX_NODE_ID 1000000

/* Every key of the section, bound by coord_cfg_section's table. Strings are borrowed from the
 * vx_config_t they were bound from. */
struct coord_config {
    int32_t cluster_size;
    int32_t max_consensus_latency_ms;
    bool enable_raft_consensus;
    bool enable_conflict_resolution;
    bool enable_partition_tolerance;
    int32_t node_id;
    const char *members;
    bool bootstrap;
    const char *raft_bind;
    const char *raft_security;      /* "required" or "off" */
    const char *raft_peer_keys;     /* names under <keys_dir>/authorized/ admitted as peers */
    int32_t raft_handshake_timeout_ms;
    const char *data_dir;
    const char *rest_bind;
    int32_t rest_port;
    const char *input_endpoint;
    bool input_acked;
    int32_t input_senders_max;
    int32_t input_senders_save_ms;
    int32_t election_timeout_ms;
    int32_t heartbeat_ms;
    int32_t snapshot_threshold;
    int32_t snapshot_trailing;
    int32_t connect_retry_ms;
    int32_t apply_timeout_ms;
    int32_t log_memory_entries;
    const char *default_strategy;
    const char *conflict_strategies;
    const char *vclock_nodes;       /* producer clock names kept; others folded */
    int32_t vclock_max_entries;
};

extern const struct vx_cfg_section coord_cfg_section;

/* Whether name matches a comma-separated list of names, each maybe ending in * (a prefix), or
 * the list "*" (any). For raft_peer_keys and vclock_nodes. */
bool coord_name_matches(const char *patterns, const char *name);

/* One member of the cluster as written in `members`: "id@host:raft_port[/rest_port[/input_port]]",
 * host an IPv4 address or a name resolved once when parsed (raft 0.15 takes IPv4 literals
 * only). The REST and input ports let a follower point clients at the leader (0: unknown). */
struct coord_member {
    uint64_t id;
    char raft_addr[64]; /* "127.0.0.1:5560": the resolved address */
    char host[48];      /* as written: clients are sent to host:rest_port */
    uint16_t rest_port;
    uint16_t input_port;
};

/* Parses one member. Returns 0 or -EINVAL with a message naming the problem. */
int coord_member_parse(const char *text, struct coord_member *out, char *err, size_t errlen);
/* Parses a comma-separated member list (ids unique, addresses unique). */
int coord_members_parse(const char *text, struct coord_member *out, size_t max, size_t *n,
                        char *err, size_t errlen);

enum coord_strategy {
    COORD_LWW = 0,
    COORD_MERGE = 1,
    COORD_USER = 2,
};
#define COORD_N_STRATEGIES 3

const char *coord_strategy_name(enum coord_strategy s);
int coord_strategy_parse(const char *name, enum coord_strategy *out);

/* Strategy per key prefix; the longest matching prefix decides, else the default. */
struct coord_strategies {
    struct {
        char prefix[256];
        enum coord_strategy strategy;
    } rule[COORD_MAX_STRATEGIES];
    size_t n;
    enum coord_strategy def;
};

/* Parses "prefix=strategy,prefix=strategy" and the default. Returns 0 or -EINVAL. */
int coord_strategies_parse(struct coord_strategies *out, const char *table, const char *def,
                           char *err, size_t errlen);
enum coord_strategy coord_strategies_for(const struct coord_strategies *s, const char *key);

#endif
