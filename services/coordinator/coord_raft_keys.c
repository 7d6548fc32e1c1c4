/* SPDX-License-Identifier: Apache-2.0 */
/* Data keys read again while the node runs.
 *
 * Why: after `vexfsctl keys rotate-data`, members are restarted one by one, and the first one
 * restarted seals what it proposes under the new key as soon as it leads. A member not yet
 * restarted would then meet entries (or an installed snapshot) it cannot open and stop. The
 * new key file is in its data_keys_dir already (the rotation wrote it there, or the Secret was
 * updated), so such a member reads the folder again, once per unknown key, and goes on with a
 * sealer that holds the new key too. Sealers are immutable (vx_seal.h), so the new one replaces
 * the old for the loop thread and the old one stays valid, for a snapshot being sealed on the
 * thread pool with it, until the node is destroyed. */
#include <inttypes.h>
#include <stdio.h>

#include "coord_raft_priv.h"
#include "vx_log.h"

bool
coord_raft_keys_reload(coord_raft_t *r)
{
    if (!r->opts.sealer || !r->keys_dir[0] ||
        r->n_reloaded == sizeof r->reloaded / sizeof r->reloaded[0]) {
        return false;
    }
    char err[512];
    vx_sealer_t *s = vx_sealer_load(r->keys_dir, r->seal_alg, err, sizeof err);
    if (!s) {
        vx_warn("COORD-KEYS", "data keys in %s could not be read again: %s", r->keys_dir, err);
        return false;
    }
    if (vx_sealer_key_count(s) <= vx_sealer_key_count(r->opts.sealer) &&
        vx_sealer_key_id(s) <= vx_sealer_key_id(r->opts.sealer)) {
        vx_sealer_destroy(&s); /* nothing new there: the record's key is not in the folder */
        return false;
    }
    r->reloaded[r->n_reloaded++] = s;
    r->opts.sealer = s;
    atomic_store(&r->seal_key_id, vx_sealer_key_id(s));
    vx_info("COORD-KEYS", "data keys in %s read again: %zu loaded, new records sealed under data "
                          "key %" PRIu32,
            r->keys_dir, vx_sealer_key_count(s), vx_sealer_key_id(s));
    coord_reseal_scan_start(r);
    return true;
}

void
coord_raft_keys_fini(coord_raft_t *r)
{
    for (size_t i = 0; i < r->n_reloaded; i++) {
        vx_sealer_destroy(&r->reloaded[i]);
    }
    r->n_reloaded = 0;
}
