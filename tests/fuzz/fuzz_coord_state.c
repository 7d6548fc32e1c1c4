/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: what a coordinator takes from its peers, raft log entries and snapshots.
 *
 * The first byte chooses: even, the rest is a snapshot for coord_fsm_restore; odd, the rest
 * is a log entry for coord_fsm_apply (group entries, conditional writes, resolutions). Either
 * must be accepted or refused cleanly. Whatever state results must then survive a snapshot
 * and a restore into another state machine unchanged (every read of it renders the same), so
 * a decoder that accepts what the encoder cannot write back, or the reverse, aborts.
 * fuzz-sources: lib/vx_metrics.c services/coordinator/coord_fsm.c services/coordinator/coord_fsm_read.c services/coordinator/coord_fsm_snap.c services/coordinator/coord_crdt.c services/coordinator/coord_vclock.c services/coordinator/coord_config.c services/coordinator/coord_fsm_clock.c */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/coordinator/coord_fsm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static coord_fsm_t *
s_fsm(void)
{
    /* A small id table: each input builds two state machines. Clocks keep names starting
     * with a and the name b, fold the rest, and hold at most 8 producer entries per key. */
    struct coord_fsm_opts o = {.log_memory = 64, .recent_ids = 64, .resolve_conflicts = true,
                               .vclock_nodes = "a*,b", .vclock_max_entries = 8};
    char err[64];
    if (coord_strategies_parse(&o.strategies, "/m/=merge,/u/=user_intervention",
                               "last_writer_wins", err, sizeof err) < 0) {
        abort();
    }
    return coord_fsm_new(&o);
}

/* Every read of the state, as one string (caller frees). */
static char *
s_view(coord_fsm_t *f)
{
    json_t *log = coord_fsm_log(f, 1, 100);
    json_t *keys = json_object();
    json_t *ev;
    size_t i;
    json_array_foreach(json_object_get(log, "events"), i, ev)
    {
        const char *path = json_string_value(json_object_get(ev, "path"));
        json_t *k = path ? coord_fsm_key(f, path) : NULL;
        if (k) {
            json_object_set_new(keys, path, k);
        }
    }
    json_t *all = json_pack("{s:o, s:o, s:o, s:o}", "log", log, "stats", coord_fsm_stats(f),
                            "conflicts", coord_fsm_conflicts(f), "keys", keys);
    char *s = json_dumps(all, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(all);
    return s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    coord_fsm_t *f = s_fsm();
    if (data[0] % 2 == 0) {
        if (coord_fsm_restore(f, data + 1, size - 1) < 0 && coord_fsm_events(f) != 0) {
            abort(); /* a refused snapshot leaves nothing behind */
        }
    } else {
        const struct coord_apply_results *r = coord_fsm_apply(f, data + 1, size - 1, 7);
        if (!r || (r->n == 0 && coord_fsm_events(f) != 0)) {
            abort(); /* only an entry without parts has no result, and it changes nothing */
        }
    }
    void *snap = NULL;
    size_t len = 0;
    if (coord_fsm_snapshot(f, &snap, &len) < 0) {
        abort();
    }
    coord_fsm_t *g = s_fsm();
    if (coord_fsm_restore(g, snap, len) < 0) {
        abort(); /* what we write we must read */
    }
    char *a = s_view(f), *b = s_view(g);
    if (!a || !b || strcmp(a, b) != 0) {
        abort();
    }
    free(a);
    free(b);
    free(snap);
    coord_fsm_destroy(&f);
    coord_fsm_destroy(&g);
    return 0;
}
