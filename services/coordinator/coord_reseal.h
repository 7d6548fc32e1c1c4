/* SPDX-License-Identifier: Apache-2.0 */
/* Re-seal progress after a data-key rotation: what of raft's files in data_dir is not sealed
 * under the newest data key (coord_reseal.c scans the folder, coord_reseal_scan.c reads one
 * file's bytes). */
#ifndef COORD_RESEAL_H
#define COORD_RESEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a scan found; the functions below add to it. */
struct coord_reseal_counts {
    uint64_t snapshots, stale_snapshots; /* snapshot files; not sealed under the newest key */
    uint64_t entries, stale_entries;     /* command entries in segments; likewise */
    uint64_t stale_segments;             /* segment files holding stale entries */
};

/* Whether name is one of raft's segment files (<first>-<last> or open-<n>). */
bool coord_reseal_is_segment(const char *name);
/* Counts a snapshot data file of len bytes: stale unless its first record is sealed under
 * key_id. */
void coord_reseal_scan_snapshot(const uint8_t *p, size_t len, uint32_t key_id,
                                struct coord_reseal_counts *c);
/* Counts the command entries of a segment file of len bytes (read until it stops being
 * consistent) and those not sealed under key_id. */
void coord_reseal_scan_segment(const uint8_t *p, size_t len, uint32_t key_id,
                               struct coord_reseal_counts *c);
/* Counts every snapshot and segment file in dir. Returns 0 or -errno (dir unreadable). Any
 * thread. */
int coord_reseal_scan_dir(const char *dir, uint32_t key_id, struct coord_reseal_counts *out);

#endif
