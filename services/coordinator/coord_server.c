/* SPDX-License-Identifier: Apache-2.0 */
/* The coordinator's parts put together from the configuration, and the wait for a stop. */
#include "coord_server.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_fsm.h"
#include "coord_http.h"
#include "coord_peer.h"
#include "coord_raft.h"
#include "vx_daemon.h"
#include "vx_log.h"
#include "vx_mem.h"

struct coord_server {
    coord_fsm_t *fsm;
    coord_raft_t *raft;
    coord_http_t *routes;
    struct coord_peer_keys *keys; /* NULL: libraft's plain transport */
    sigset_t waitmask;
};

static bool
s_loopback(const char *raft_addr)
{
    return strncmp(raft_addr, "127.", 4) == 0;
}

/* The raft node's options from the section. Members are parsed (and host names resolved)
 * here, once. */
static int
s_raft_opts(const struct coord_config *c, struct coord_raft_opts *ro, char *err, size_t errlen)
{
    ro->node_id = (uint64_t)c->node_id;
    if (coord_members_parse(c->members, ro->members, COORD_MAX_MEMBERS, &ro->n_members, err,
                            errlen) < 0) {
        return -EINVAL;
    }
    if (!c->enable_raft_consensus) {
        /* A cluster of one: keep only this node's own entry. */
        for (size_t i = 0; i < ro->n_members; i++) {
            if (ro->members[i].id == ro->node_id) {
                ro->members[0] = ro->members[i];
                ro->n_members = 1;
            }
        }
    }
    ro->bootstrap = c->bootstrap;
    ro->data_dir = c->data_dir;
    ro->raft_bind = c->raft_bind;
    ro->election_ms = (unsigned)c->election_timeout_ms;
    ro->heartbeat_ms = (unsigned)c->heartbeat_ms;
    ro->connect_retry_ms = (unsigned)c->connect_retry_ms;
    ro->snapshot_threshold = (unsigned)c->snapshot_threshold;
    ro->snapshot_trailing = (unsigned)c->snapshot_trailing;
    ro->pre_vote = c->enable_partition_tolerance;
    ro->cluster_size = (unsigned)c->cluster_size;
    ro->input_endpoint = c->input_endpoint;
    ro->input_acked = c->input_acked;
    ro->input_senders_max = (size_t)c->input_senders_max;
    ro->input_senders_save_ms = c->input_senders_save_ms;
    ro->max_latency_ms = (unsigned)c->max_consensus_latency_ms;
    ro->handshake_timeout_ms = (unsigned)c->raft_handshake_timeout_ms;
    return 0;
}

/* raft_security: off is a plain transport, refused unless every member is on loopback (no
 * other host could then reach the port); required loads this node's key and the keyring the
 * peers are checked against. */
static int
s_peer_keys(coord_server_t *s, const struct coord_config *c, const struct coord_raft_opts *ro,
            const struct vx_security_config *sec, char *err, size_t errlen)
{
    if (strcmp(c->raft_security, "off") == 0) {
        for (size_t i = 0; i < ro->n_members; i++) {
            if (!s_loopback(ro->members[i].raft_addr)) {
                snprintf(err, errlen,
                         COORD_SECTION ".raft_security is off, so every member must be on "
                                       "loopback; member %" PRIu64 " is at %s",
                         ro->members[i].id, ro->members[i].raft_addr);
                return -EINVAL;
            }
        }
        vx_warn("COORD-RAFT-PLAIN", "raft_security is off: raft peers are not authenticated "
                                    "and their stream is plain (loopback members only)");
        return 0;
    }
    const char *identity = sec->identity[0] ? sec->identity : "coordinator";
    s->keys = vx_calloc(1, sizeof *s->keys);
    int rc = coord_peer_keys_load(s->keys, sec->keys_dir, identity, c->raft_peer_keys, err,
                                  errlen);
    if (rc < 0) {
        vx_free(&s->keys);
        return -EINVAL;
    }
    vx_info("COORD-RAFT-SECURE", "raft peers authenticated with %s/%s.key, admitting "
                                 "authorized/ keys named %s; stream encrypted",
            sec->keys_dir, identity, c->raft_peer_keys);
    return 0;
}

/* Why long: it is the one place where the parts meet, in the order they depend on each other
 * (state machine, raft with its transport, routes), undoing what was built when a step
 * fails. */
int
coord_server_alloc(coord_server_t **out, const struct coord_config *cfg,
                   const struct coord_server_deps *deps, char *err, size_t errlen)
{
    *out = NULL;
    coord_server_t *s = vx_calloc(1, sizeof *s);
    /* Before any thread starts: threads inherit the mask, so only run()'s wait takes
     * signals. */
    vx_daemon_block_stops(&s->waitmask);
    struct coord_fsm_opts fo = {
        .resolve_conflicts = cfg->enable_conflict_resolution,
        .log_memory = (size_t)cfg->log_memory_entries,
        .vclock_nodes = cfg->vclock_nodes,
        .vclock_max_entries = (size_t)cfg->vclock_max_entries,
        .metrics = deps->metrics,
    };
    struct coord_raft_opts ro = {0};
    int rc = -EINVAL;
    if (coord_strategies_parse(&fo.strategies, cfg->conflict_strategies, cfg->default_strategy,
                               err, errlen) < 0 ||
        s_raft_opts(cfg, &ro, err, errlen) < 0 ||
        s_peer_keys(s, cfg, &ro, deps->security, err, errlen) < 0) {
        goto fail;
    }
    ro.peer_keys = s->keys;
    ro.socks = deps->socks;
    ro.sealer = deps->sealer;
    ro.data_keys_dir = deps->data_keys_dir;
    ro.seal_algorithm = deps->seal_algorithm;
    s->fsm = coord_fsm_new(&fo);
    s->raft = coord_raft_new(&ro, s->fsm, deps->metrics, err, errlen);
    if (!s->raft) {
        rc = -EIO;
        goto fail;
    }
    struct coord_http_opts ho = {
        .node_id = ro.node_id,
        .apply_timeout_ms = cfg->apply_timeout_ms,
        .transfer_timeout_ms = 4 * cfg->election_timeout_ms + 1000,
        .member_timeout_ms = cfg->apply_timeout_ms * 4,
    };
    s->routes = coord_http_new(deps->http, s->raft, s->fsm, deps->metrics, &ho, err, errlen);
    if (!s->routes) {
        rc = -EINVAL;
        goto fail;
    }
    vx_info("COORD-START", "node %llu with %zu members, data in %s",
            (unsigned long long)ro.node_id, ro.n_members, cfg->data_dir);
    *out = s;
    return 0;
fail:
    coord_server_destroy(&s);
    return rc;
}

int
coord_server_run(coord_server_t *s, volatile sig_atomic_t *stop)
{
    /* Nothing to do here but wait: raft and REST run on their own threads. A stop signal
     * interrupts ppoll, and is let in only there, so it is never missed between the check and
     * the wait. */
    while (!*stop) {
        ppoll(NULL, 0, NULL, &s->waitmask);
    }
    return coord_raft_failed(s->raft) ? -EIO : 0;
}

void
coord_server_apply(coord_server_t *s, const struct coord_config *cfg)
{
    coord_raft_set_max_latency(s->raft, (unsigned)cfg->max_consensus_latency_ms);
}

void
coord_server_destroy(coord_server_t **sp)
{
    if (!sp || !*sp) {
        return;
    }
    coord_server_t *s = *sp;
    /* Order: the routes' state, then raft (it drives the state machine), then the state
     * machine, then the keys raft's transport used. */
    coord_http_destroy(&s->routes);
    coord_raft_destroy(&s->raft);
    coord_fsm_destroy(&s->fsm);
    if (s->keys) {
        coord_peer_keys_fini(s->keys);
        vx_free(&s->keys);
    }
    vx_free(sp);
}
