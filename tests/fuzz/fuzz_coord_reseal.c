/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the re-seal scan's reading of raft's files (coord_reseal_scan.c), which a crash,
 * a full disk or an edit on disk may leave in any state.
 *
 * The first byte chooses: even, the rest is a segment file; odd, a snapshot data file. The key
 * id is the next four bytes. Every input must be read without reading past its end (ASan), and
 * the counts must hold together: no more stale records than records, a stale segment only with
 * stale entries, exactly one snapshot counted per snapshot file.
 * fuzz-sources: lib/vx_seal.c lib/vx_creds.c lib/vx_metrics.c services/coordinator/coord_reseal_scan.c services/coordinator/coord_seal.c services/coordinator/coord_fsm.c services/coordinator/coord_fsm_read.c services/coordinator/coord_fsm_snap.c services/coordinator/coord_crdt.c services/coordinator/coord_vclock.c services/coordinator/coord_config.c services/coordinator/coord_fsm_clock.c */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/coordinator/coord_reseal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5) {
        return 0;
    }
    uint32_t key = (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 8 |
                   data[4];
    /* A copy of exactly the file's length, so that ASan sees any read past its end. */
    size_t len = size - 5;
    uint8_t *file = malloc(len ? len : 1);
    if (!file) {
        abort();
    }
    memcpy(file, data + 5, len);
    struct coord_reseal_counts c;
    memset(&c, 0, sizeof c);
    if (data[0] % 2 == 0) {
        coord_reseal_scan_segment(file, len, key, &c);
        if (c.stale_entries > c.entries || c.stale_segments > 1 ||
            (c.stale_segments == 1) != (c.stale_entries > 0) || c.snapshots != 0) {
            abort();
        }
    } else {
        coord_reseal_scan_snapshot(file, len, key, &c);
        if (c.snapshots != 1 || c.stale_snapshots > 1 || c.entries != 0) {
            abort();
        }
    }
    free(file);
    return 0;
}
