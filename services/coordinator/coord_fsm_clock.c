/* SPDX-License-Identifier: Apache-2.0 */
/* Vector clocks kept bounded: which names of a producer's clock the state machine keeps
 * (vclock_nodes; the others folded into one entry), how many producer entries a key's clock may
 * hold (vclock_max_entries), and the same check made before a REST write is proposed.
 *
 * Why: a producer chooses the names in its clock, and a key's clock is the join of every clock
 * applied to it, so without a bound one producer inventing names grows one key's clock (and
 * every log record and snapshot that copies it) without limit. Folding keeps the order
 * conservative: the folded entry is the sum of the folded counters, and a clock pointwise
 * below another has the smaller sum, so folding never makes a causally later write look
 * older; it can make two concurrent writes look ordered (a conflict is then missed), which is
 * why names worth tracking should be listed. The cluster's own entries (node-<id>) are stamped
 * by the state machine: a producer's entries under that prefix are dropped, and they do not
 * count against the cap. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "coord_fsm_priv.h"

static bool
s_cluster_name(const char *name)
{
    return strncmp(name, COORD_FSM_NODE_PREFIX, sizeof COORD_FSM_NODE_PREFIX - 1) == 0;
}

static bool
s_kept(const coord_fsm_t *f, const char *name)
{
    return !f->vclock_nodes || coord_name_matches(f->vclock_nodes, name);
}

size_t
coord_fsm_clock_context(const coord_fsm_t *f, const vx_event_t *e, struct coord_vclock *ctx)
{
    uint64_t folded = 0;
    size_t n_folded = 0;
    for (size_t i = 0; e->causality && i < e->causality->n_vector_clock; i++) {
        const Vexfs__V1__ClockEntry *ce = e->causality->vector_clock[i];
        /* Counters stop at INT64_MAX, the largest a JSON integer here holds. */
        uint64_t counter = ce->counter > (uint64_t)INT64_MAX ? (uint64_t)INT64_MAX : ce->counter;
        if (!ce->node || !ce->node[0] || strlen(ce->node) > COORD_VCLOCK_MAX_NAME ||
            s_cluster_name(ce->node)) {
            continue;
        }
        if (!s_kept(f, ce->node)) {
            folded = folded > (uint64_t)INT64_MAX - counter ? (uint64_t)INT64_MAX
                                                            : folded + counter;
            n_folded++;
            continue;
        }
        if (counter > coord_vclock_get(ctx, ce->node)) {
            coord_vclock_set(ctx, ce->node, counter);
        }
    }
    if (n_folded > 0 && folded > coord_vclock_get(ctx, COORD_VCLOCK_FOLDED)) {
        coord_vclock_set(ctx, COORD_VCLOCK_FOLDED, folded);
    }
    return n_folded;
}

size_t
coord_fsm_clock_joined(const struct coord_vclock *key, const struct coord_vclock *ctx)
{
    size_t n = 0;
    for (size_t i = 0; key && i < key->n; i++) {
        n += !s_cluster_name(key->e[i].name);
    }
    for (size_t i = 0; i < ctx->n; i++) {
        if (!s_cluster_name(ctx->e[i].name) &&
            (!key || coord_vclock_get(key, ctx->e[i].name) == 0)) {
            n++;
        }
    }
    return n;
}

int
coord_fsm_clock_check(coord_fsm_t *f, vx_event_t *const *events, size_t n, char *err,
                      size_t errlen)
{
    if (f->opts.vclock_max_entries == 0) {
        return 0;
    }
    int rc = 0;
    pthread_rwlock_rdlock(&f->lock);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const vx_event_t *e = events[i];
        if (!e->causality || e->causality->n_vector_clock == 0) {
            continue;
        }
        const char *path = e->path && e->path[0] ? e->path : "(none)";
        struct coord_vclock ctx;
        coord_vclock_init(&ctx);
        coord_fsm_clock_context(f, e, &ctx);
        const struct coord_key *k = coord_fsm_key_get(f, path, false);
        size_t joined = coord_fsm_clock_joined(k ? &k->clock : NULL, &ctx);
        if (joined > f->opts.vclock_max_entries) {
            snprintf(err, errlen,
                     "events[%zu]: its vector clock would give key '%.200s' %zu producer "
                     "entries, more than vclock_max_entries (%zu); list the producers' node "
                     "names in vclock_nodes so others are folded",
                     i, path, joined, f->opts.vclock_max_entries);
            rc = -E2BIG;
            if (f->m_clock_refused) {
                vx_counter_add(f->m_clock_refused, 1);
            }
        }
        coord_vclock_fini(&ctx);
    }
    pthread_rwlock_unlock(&f->lock);
    return rc;
}
