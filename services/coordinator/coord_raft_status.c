/* SPDX-License-Identifier: Apache-2.0 */
/* The raft node's view for other threads: a status snapshot refreshed by a loop timer,
 * partition detection, the member table with client ports, and the metrics. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_input.h"
#include "coord_peer.h"
#include "coord_raft_priv.h"
#include "vx_clock.h"
#include "vx_log.h"

static const char *
s_state_name(int state)
{
    switch (state) {
    case RAFT_LEADER:
        return "leader";
    case RAFT_FOLLOWER:
        return "follower";
    case RAFT_CANDIDATE:
        return "candidate";
    default:
        return "unavailable";
    }
}

static const char *
s_role_name(int role)
{
    switch (role) {
    case RAFT_VOTER:
        return "voter";
    case RAFT_STANDBY:
        return "standby";
    default:
        return "spare";
    }
}

void
coord_raft_remember(coord_raft_t *r, const struct coord_member *m)
{
    pthread_mutex_lock(&r->st_mu);
    size_t i = 0;
    while (i < r->n_known && r->known[i].id != m->id) {
        i++;
    }
    if (i < sizeof r->known / sizeof r->known[0]) {
        r->known[i] = *m;
        if (i == r->n_known) {
            r->n_known++;
        }
    }
    pthread_mutex_unlock(&r->st_mu);
}

bool
coord_raft_member(coord_raft_t *r, uint64_t id, struct coord_member *out)
{
    bool found = false;
    pthread_mutex_lock(&r->st_mu);
    for (size_t i = 0; i < r->n_known; i++) {
        if (r->known[i].id == id) {
            if (out) {
                *out = r->known[i];
            }
            found = true;
        }
    }
    pthread_mutex_unlock(&r->st_mu);
    return found;
}

bool
coord_raft_has_voter(coord_raft_t *r, uint64_t id)
{
    for (unsigned i = 0; i < r->raft.configuration.n; i++) {
        if (r->raft.configuration.servers[i].id == id &&
            r->raft.configuration.servers[i].role == RAFT_VOTER) {
            return true;
        }
    }
    return false;
}

uint64_t
coord_raft_live_leader(coord_raft_t *r)
{
    struct raft *raft = &r->raft;
    int state = raft_state(raft);
    if (state == RAFT_LEADER) {
        return raft->id;
    }
    raft_id lid = 0;
    const char *addr = NULL;
    raft_leader(raft, &lid, &addr);
    if (lid == 0 || state != RAFT_FOLLOWER) {
        return 0;
    }
    /* A follower resets election_timer_start on every AppendEntries from its leader. */
    raft_time now = r->io.time(&r->io);
    raft_time quiet = now >= raft->election_timer_start ? now - raft->election_timer_start : 0;
    return quiet <= r->leader_stale_ms ? lid : 0;
}

/* How often a leader sends its view of the members to the followers: a few times per
 * election timeout, and at least every heartbeat interval it would not matter more often. */
static uint64_t
s_view_period_ns(const coord_raft_t *r)
{
    unsigned ms = r->opts.heartbeat_ms > 250 ? r->opts.heartbeat_ms : 250;
    return (uint64_t)ms * VX_NS_PER_MS;
}

/* Leader, loop thread: sends what it sees of every member (health, last contact, lag) on the
 * authenticated peer connections, so followers can show it (coord_peer_send_view). Without
 * the authenticated transport there is no such channel: followers then show what they see. */
static void
s_send_view(coord_raft_t *r, const struct coord_status_member *mem, size_t n, raft_index last,
            uint64_t now)
{
    if (!r->opts.peer_keys || (r->view_sent_ns && now - r->view_sent_ns < s_view_period_ns(r))) {
        return;
    }
    r->view_sent_ns = now;
    json_t *members = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(members,
                               json_pack("{s:I, s:b, s:I, s:I}", "id", (json_int_t)mem[i].id,
                                         "healthy", mem[i].healthy, "last_contact_ms",
                                         (json_int_t)mem[i].last_contact_ms, "lag",
                                         (json_int_t)mem[i].lag));
    }
    json_t *v = json_pack("{s:I, s:I, s:o}", "term", (json_int_t)r->raft.current_term,
                          "last_index", (json_int_t)last, "members", members);
    char *text = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    if (text) {
        coord_peer_send_view(&r->transport, text, strlen(text));
        free(text);
    }
}

void
coord_raft_on_view(void *arg, uint64_t from, const uint8_t *data, size_t len)
{
    coord_raft_t *r = arg;
    json_t *v = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(v) || !json_is_array(json_object_get(v, "members"))) {
        json_decref(v);
        return;
    }
    pthread_mutex_lock(&r->st_mu);
    json_decref(r->view);
    r->view = v;
    r->view_from = from;
    r->view_ns = vx_mono_ns();
    pthread_mutex_unlock(&r->st_mu);
}

/* Tracks the leader: since when there is none, and a change of leader (logged, counted).
 * Returns the leader's id, 0 when there is none. */
static raft_id
s_tick_leader(coord_raft_t *r, uint64_t now)
{
    struct raft *raft = &r->raft;
    raft_id lid = 0;
    const char *laddr = NULL;
    raft_leader(raft, &lid, &laddr);
    if (lid == 0) {
        if (r->no_leader_since_ns == 0) {
            r->no_leader_since_ns = now;
        }
    } else {
        r->no_leader_since_ns = 0;
    }
    if (lid != 0 && lid != r->last_leader) {
        vx_info("COORD-LEADER", "leader is now node %llu (term %llu)%s", (unsigned long long)lid,
                (unsigned long long)raft->current_term, lid == raft->id ? ": this node" : "");
        vx_counter_add(r->m_leader_changes, 1);
        r->last_leader = lid;
    }
    return lid;
}

/* Counts of a tick's members: voters, and how many of them and of all are healthy. */
struct s_health {
    unsigned voters, healthy_voters, healthy;
};

/* What this node knows of each member (mem: room for COORD_MAX_MEMBERS): a leader from its
 * followers' progress, a follower of its leader only, from its election timer. Returns the
 * members filled in, their health counts in *hc. */
static size_t
s_tick_members(coord_raft_t *r, raft_id lid, int state, raft_index last,
               struct coord_status_member *mem, struct s_health *hc)
{
    struct raft *raft = &r->raft;
    raft_time now_ms = r->io.time(&r->io);
    size_t n = 0;
    for (unsigned i = 0; i < raft->configuration.n && n < COORD_MAX_MEMBERS; i++) {
        const struct raft_server *s = &raft->configuration.servers[i];
        struct coord_status_member *m = &mem[n++];
        memset(m, 0, sizeof *m);
        m->id = s->id;
        snprintf(m->addr, sizeof m->addr, "%s", s->address);
        m->role = s->role;
        m->last_contact_ms = -1;
        m->lag = -1;
        if (s->id == raft->id) {
            m->last_contact_ms = 0;
            m->healthy = true;
            m->known = true;
            if (state == RAFT_LEADER) {
                m->lag = 0;
            }
        } else if (state == RAFT_LEADER && raft->leader_state.progress) {
            const struct raft_progress *p = &raft->leader_state.progress[i];
            m->healthy = p->recent_recv;
            m->known = true;
            if (p->last_send > 0 && now_ms >= p->last_send) {
                m->last_contact_ms = m->healthy ? (int64_t)(now_ms - p->last_send) : -1;
            }
            m->lag = last >= p->match_index ? (int64_t)(last - p->match_index) : 0;
        } else if (s->id == lid && state == RAFT_FOLLOWER) {
            m->last_contact_ms = now_ms >= raft->election_timer_start
                                     ? (int64_t)(now_ms - raft->election_timer_start)
                                     : 0;
            m->healthy = (uint64_t)m->last_contact_ms < 2ULL * r->opts.election_ms;
            m->known = true;
            m->lag = 0;
        }
        hc->healthy += m->healthy;
        if (s->role == RAFT_VOTER) {
            hc->voters++;
            hc->healthy_voters += m->healthy;
        }
    }
    return n;
}

/* Whether this node is cut off from the majority: no leader, or a leader without a majority
 * of healthy voters, for a whole grace period. */
static bool
s_tick_partitioned(coord_raft_t *r, raft_id lid, int state, const struct s_health *hc,
                   uint64_t now)
{
    uint64_t grace = (uint64_t)r->opts.election_ms * VX_NS_PER_MS * (r->opts.pre_vote ? 1 : 2);
    /* libraft clears its per-follower "recent contact" flags at every election timeout and
     * sets them again as replies arrive, so one sample right after a reset reads as no
     * contact: only a leader that lacks a majority for a whole grace period is cut off. */
    bool leader_alone =
        state == RAFT_LEADER && hc->voters > 0 && hc->healthy_voters <= hc->voters / 2;
    if (!leader_alone) {
        r->leader_alone_since_ns = 0;
    } else if (r->leader_alone_since_ns == 0) {
        r->leader_alone_since_ns = now;
    }
    return (lid == 0 && r->no_leader_since_ns != 0 && now - r->no_leader_since_ns > grace) ||
           (leader_alone && now - r->leader_alone_since_ns > grace);
}

/* Publishes the tick's snapshot for readers (under st_mu) and its gauges. */
static void
s_tick_publish(coord_raft_t *r, raft_id lid, int state, bool partitioned,
               const struct coord_status_member *mem, size_t n, const struct s_health *hc)
{
    struct raft *raft = &r->raft;
    pthread_mutex_lock(&r->st_mu);
    if (partitioned && !r->partitioned) {
        vx_warn("COORD-PARTITION", "cut off from the majority: writes refused until it heals");
        vx_counter_add(r->m_partitions, 1);
    } else if (!partitioned && r->partitioned) {
        vx_info("COORD-PARTITION", "majority reachable again (leader %llu)",
                (unsigned long long)lid);
    }
    r->partitioned = partitioned;
    r->state = state;
    r->term = raft->current_term;
    r->commit_index = raft->commit_index;
    r->last_applied = raft->last_applied;
    r->last_index = raft_last_index(raft);
    memcpy(r->st_members, mem, n * sizeof mem[0]);
    r->st_n = n;
    pthread_mutex_unlock(&r->st_mu);
    atomic_store(&r->leader_id, coord_raft_live_leader(r));
    vx_gauge_set(r->m_term, (double)raft->current_term);
    vx_gauge_set(r->m_commit, (double)raft->commit_index);
    vx_gauge_set(r->m_leader, state == RAFT_LEADER ? 1 : 0);
    vx_gauge_set(r->m_healthy, state == RAFT_LEADER ? hc->healthy : (lid ? hc->voters : 1));
    vx_gauge_set(r->m_members, hc->voters);
    vx_gauge_set(r->m_partitioned, partitioned ? 1 : 0);
}

/* Loop thread: refreshes the snapshot, detects partitions, attaches the input on the leader,
 * and gives the read index and group commit their periodic turn. */
void
coord_raft_cb_tick(uv_timer_t *t)
{
    coord_raft_t *r = t->data;
    if (r->closing) {
        return;
    }
    struct raft *raft = &r->raft;
    uint64_t now = vx_mono_ns();
    int state = raft_state(raft);
    raft_id lid = s_tick_leader(r, now);
    raft_index last = raft_last_index(raft);
    struct coord_status_member mem[COORD_MAX_MEMBERS] = {0};
    struct s_health hc = {0};
    size_t n = s_tick_members(r, lid, state, last, mem, &hc);
    bool partitioned = s_tick_partitioned(r, lid, state, &hc, now);
    s_tick_publish(r, lid, state, partitioned, mem, n, &hc);
    if (r->input) {
        coord_input_update(r->input,
                           state == RAFT_LEADER && !partitioned && !coord_disk_blocked(r));
    }
    if (state == RAFT_LEADER) {
        s_send_view(r, mem, n, last, now);
    }
    coord_disk_tick(r);
    coord_read_tick(r);
    coord_group_flush(r);
}

/* The leader's entry for member id in a view, or NULL. */
static json_t *
s_view_member(json_t *view, uint64_t id)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(view, "members"), i, m) {
        if ((uint64_t)json_integer_value(json_object_get(m, "id")) == id) {
            return m;
        }
    }
    return NULL;
}

/* One member's row: what this node observes, or for members it cannot observe (a follower
 * sees only the leader), what the leader's last view frame said. */
static json_t *
s_member_json(coord_raft_t *r, const struct coord_status_member *m, uint64_t lid,
              json_t *view_member)
{
    bool healthy = m->healthy;
    int64_t contact = m->last_contact_ms, lag = m->lag;
    const char *seen_by = "self";
    if (view_member && (!m->known || lag < 0)) {
        if (!m->known) {
            healthy = json_is_true(json_object_get(view_member, "healthy"));
            contact = json_integer_value(json_object_get(view_member, "last_contact_ms"));
            seen_by = "leader";
        }
        lag = json_integer_value(json_object_get(view_member, "lag"));
    }
    bool known = m->known || view_member;
    json_t *o = json_pack("{s:I, s:s, s:s, s:b, s:s}", "id", (json_int_t)m->id, "address",
                          m->addr, "role", s_role_name(m->role), "leader", m->id == lid,
                          "seen_by", known ? seen_by : "nobody");
    json_object_set_new(o, "healthy", known ? json_boolean(healthy) : json_null());
    json_object_set_new(o, "last_contact_ms",
                        known && contact >= 0 ? json_integer(contact) : json_null());
    json_object_set_new(o, "lag", known && lag >= 0 ? json_integer(lag) : json_null());
    for (size_t k = 0; k < r->n_known; k++) {
        if (r->known[k].id == m->id && r->known[k].rest_port) {
            char rest[80];
            snprintf(rest, sizeof rest, "%s:%u", r->known[k].host,
                     (unsigned)r->known[k].rest_port);
            json_object_set_new(o, "rest", json_string(rest));
        }
    }
    return o;
}

/* Why long: it assembles one answer from three sources under one lock (the loop's snapshot,
 * the member table with client ports, and on a follower the leader's view), so that every
 * member is listed with role, health and lag whichever member is asked. */
json_t *
coord_raft_status(coord_raft_t *r)
{
    uint64_t lid = atomic_load(&r->leader_id);
    uint64_t now = vx_mono_ns();
    json_t *members = json_array();
    pthread_mutex_lock(&r->st_mu);
    /* The leader's view counts while it comes from the live leader and is recent. */
    json_t *view = NULL;
    uint64_t view_age_ms = 0;
    if (r->view && lid != 0 && r->view_from == lid && r->state != RAFT_LEADER) {
        view_age_ms = (now - r->view_ns) / VX_NS_PER_MS;
        if (view_age_ms <= 2ULL * r->opts.election_ms) {
            view = r->view;
        }
    }
    unsigned healthy = 0;
    json_t *lrest = NULL;
    for (size_t i = 0; i < r->st_n; i++) {
        const struct coord_status_member *m = &r->st_members[i];
        json_t *o = s_member_json(r, m, lid, view ? s_view_member(view, m->id) : NULL);
        healthy += json_is_true(json_object_get(o, "healthy"));
        if (m->id == lid && json_object_get(o, "rest")) {
            lrest = json_incref(json_object_get(o, "rest"));
        }
        json_array_append_new(members, o);
    }
    const char *status = r->partitioned ? "partitioned" : s_state_name(r->state);
    json_t *leader = lid ? json_pack("{s:I, s:o*}", "id", (json_int_t)lid, "rest", lrest)
                         : (json_decref(lrest), json_null());
    json_t *source = r->state == RAFT_LEADER
                         ? json_pack("{s:s}", "from", "self")
                         : view ? json_pack("{s:s, s:I}", "from", "leader", "age_ms",
                                            (json_int_t)view_age_ms)
                                : json_pack("{s:s}", "from", "self");
    json_t *out = json_pack(
        "{s:I, s:s, s:s, s:o, s:I, s:I, s:I, s:I, s:o, s:I, s:I, s:I, s:b, s:o}", "node_id",
        (json_int_t)r->opts.node_id, "role", s_state_name(r->state), "status", status, "leader",
        leader, "term", (json_int_t)r->term, "commit_index", (json_int_t)r->commit_index,
        "last_applied", (json_int_t)r->last_applied, "last_index", (json_int_t)r->last_index,
        "members", members, "healthy", (json_int_t)healthy, "total", (json_int_t)r->st_n,
        "cluster_size", (json_int_t)r->opts.cluster_size, "partitioned", r->partitioned,
        "member_view", source);
    pthread_mutex_unlock(&r->st_mu);
    return out;
}

bool
coord_raft_partitioned(coord_raft_t *r)
{
    pthread_mutex_lock(&r->st_mu);
    bool p = r->partitioned;
    pthread_mutex_unlock(&r->st_mu);
    return p;
}

bool
coord_raft_ready(coord_raft_t *r, json_t *detail)
{
    uint64_t lid = atomic_load(&r->leader_id);
    bool part = coord_raft_partitioned(r);
    if (detail) {
        json_object_set_new(detail, "leader", json_integer((json_int_t)lid));
        json_object_set_new(detail, "partitioned", json_boolean(part));
    }
    return lid != 0 && !part;
}

bool
coord_raft_leader(coord_raft_t *r, struct coord_member *out)
{
    uint64_t lid = atomic_load(&r->leader_id);
    if (lid == 0) {
        return false;
    }
    if (out && !coord_raft_member(r, lid, out)) {
        memset(out, 0, sizeof *out);
        out->id = lid;
    }
    return true;
}

void
coord_raft_count_read(coord_raft_t *r, enum coord_consistency mode)
{
    if ((unsigned)mode < 3) {
        vx_counter_add(r->m_reads[mode], 1);
    }
}

static double
cb_latency_p99(void *arg)
{
    coord_raft_t *r = arg;
    return vx_histogram_quantile(r->m_latency, 0.99);
}

static double
cb_budget(void *arg)
{
    coord_raft_t *r = arg;
    return (double)atomic_load(&r->max_latency_ms) / 1000.0;
}

static double
cb_cluster_size(void *arg)
{
    coord_raft_t *r = arg;
    return (double)r->opts.cluster_size;
}

/* Registers every series the node exports at start, so /metrics shows each of them (at zero)
 * before the first event, and alert rules on them never see a missing series. */
void
coord_raft_metrics_init(coord_raft_t *r, vx_metrics_t *m)
{
    double bounds[24];
    size_t nb = vx_metrics_exp_bounds(bounds, 24, 50e-6, 2.0);
    r->m_latency = vx_metrics_histogram(m, "vexfs_consensus_commit_latency_seconds",
                                        "Time from proposal to apply on the leader.", bounds, nb,
                                        NULL);
    r->m_slow = vx_metrics_counter(m, "vexfs_consensus_slow_total",
                                   "Commits slower than max_consensus_latency_ms.", NULL);
    r->m_failures = vx_metrics_counter(m, "vexfs_consensus_failures_total",
                                       "Proposals that failed or partitions entered, by reason.",
                                       "reason", "commit", NULL);
    r->m_partitions = vx_metrics_counter(m, "vexfs_consensus_failures_total",
                                         "Proposals that failed or partitions entered, by reason.",
                                         "reason", "partition", NULL);
    r->m_leader_changes = vx_metrics_counter(m, "vexfs_raft_leader_changes_total",
                                             "Leaders this node has seen take over.", NULL);
    r->m_input_batches = vx_metrics_counter(m, "vexfs_batches_received_total",
                                            "ZeroMQ batches received.", NULL);
    r->m_input_events = vx_metrics_counter(m, "vexfs_events_received_total",
                                           "Events received, by ingest channel.", "channel",
                                           "zmq", NULL);
    vx_drops_init(&r->m_input_drops, m, "vexfs_events_dropped_total",
                  "Events not committed, by reason.", VX_DROP_MASK_RX);
    r->m_entries = vx_metrics_counter(m, "vexfs_consensus_entries_total",
                                      "Raft entries this node proposed as leader (group commit: "
                                      "one entry carries every request that waited).",
                                      NULL);
    r->m_grouped = vx_metrics_counter(m, "vexfs_consensus_requests_grouped_total",
                                      "Write requests carried by those entries.", NULL);
    r->m_rounds = vx_metrics_counter(m, "vexfs_consensus_read_rounds_total",
                                     "Leadership rounds run for linearizable reads.", NULL);
    static const char *const modes[3] = {"any", "leader", "linearizable"};
    for (int i = 0; i < 3; i++) {
        r->m_reads[i] = vx_metrics_counter(m, "vexfs_consensus_reads_total",
                                           "Reads answered from the state machine, by "
                                           "consistency.",
                                           "consistency", modes[i], NULL);
    }
    r->m_read_latency = vx_metrics_histogram(m, "vexfs_consensus_read_wait_seconds",
                                             "Time a leader or linearizable read waited for "
                                             "the read index.",
                                             bounds, nb, NULL);
    r->m_snapshot = vx_metrics_histogram(m, "vexfs_consensus_snapshot_seconds",
                                         "Time taken to copy the state for a raft "
                                         "snapshot (commits wait meanwhile).",
                                         bounds, nb, NULL);
    static const char *const what[2] = {"log", "snapshot"};
    for (int i = 0; i < 2; i++) {
        r->m_disk_failures[i] =
            vx_metrics_counter(m, "vexfs_consensus_disk_write_failures_total",
                               "Writes of this node's raft log or snapshots that failed (a full "
                               "disk), by what was written.",
                               "what", what[i], NULL);
    }
    r->m_disk_full = vx_metrics_gauge(m, "vexfs_consensus_disk_full",
                                      "1 while the last write to this node's raft log failed.",
                                      NULL);
    r->m_snapshot_seal = vx_metrics_histogram(m, "vexfs_consensus_snapshot_seal_seconds",
                                              "Time taken to seal a raft snapshot (on the "
                                              "thread pool: commits go on meanwhile).",
                                              bounds, nb, NULL);
    coord_reseal_metrics_init(r, m);
    r->m_term = vx_metrics_gauge(m, "vexfs_raft_term", "Current raft term.", NULL);
    r->m_commit = vx_metrics_gauge(m, "vexfs_raft_commit_index", "Raft commit index.", NULL);
    r->m_leader = vx_metrics_gauge(m, "vexfs_raft_is_leader", "1 on the leader.", NULL);
    r->m_healthy = vx_metrics_gauge(m, "vexfs_cluster_healthy_members",
                                    "Members in contact (as far as this node can tell).", NULL);
    r->m_members = vx_metrics_gauge(m, "vexfs_cluster_members", "Voters in the configuration.",
                                    NULL);
    r->m_partitioned = vx_metrics_gauge(m, "vexfs_cluster_partitioned",
                                        "1 while this node cannot reach a majority.", NULL);
    vx_metrics_gauge_fn(m, "vexfs_consensus_latency_p99_seconds",
                        "p99 of commit latency on this node.", cb_latency_p99, r);
    vx_metrics_gauge_fn(m, "vexfs_consensus_latency_budget_seconds",
                        "Configured max_consensus_latency_ms.", cb_budget, r);
    vx_metrics_gauge_fn(m, "vexfs_cluster_size_expected", "Configured cluster_size.",
                        cb_cluster_size, r);
}
