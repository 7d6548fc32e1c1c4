/* SPDX-License-Identifier: Apache-2.0 */
/* Raft entries and snapshots sealed at rest (vx_seal.h), so the raft log and the snapshots on
 * disk (and the copies sent to followers) hold only ciphertext.
 *
 * A sealed entry keeps the 16-byte entry header of coord_fsm.h with kind COORD_ENTRY_SEALED and
 * the record's length, then the vx_seal record of the whole plaintext entry (its own header
 * included), then zeros to a multiple of 8 bytes (raft 0.15 reads back only whole words). The
 * record's associated data is "coordinator-entry" and the header's first 12 bytes (kind and
 * origin node), so a record cannot pass for another origin's or for a snapshot. A sealed
 * snapshot has the same shape, with "coordinator-snapshot" as associated data.
 *
 * The leader seals an entry before it proposes it; every node opens it when it applies it.
 * Every member therefore needs the same data keys (at_rest.data_keys_dir). Plaintext entries
 * and snapshots (written before encryption was turned on) are still read: that is the
 * migration, and they leave the disk as snapshots compact the log. */
#ifndef COORD_SEAL_H
#define COORD_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_seal.h"

enum coord_seal_what {
    COORD_SEAL_ENTRY,
    COORD_SEAL_SNAPSHOT,
};

/* Whether data is a sealed entry or snapshot (by its header). */
bool coord_seal_is_sealed(const void *data, size_t len);
/* Bytes coord_seal_wrap writes for len bytes of plaintext. */
size_t coord_seal_size(size_t len);
/* Seals plain (len bytes) into out (coord_seal_size(len) bytes), origin the proposing node. */
int coord_seal_wrap(const vx_sealer_t *s, enum coord_seal_what what, uint64_t origin,
                    const void *plain, size_t len, uint8_t *out);
/* Opens a sealed entry or snapshot. Returns 0 and *plain (malloc'd, caller frees) with *plen,
 * or -EBADMSG / -ENOKEY / -ENOTSUP / -EPROTO (no sealer: encryption is off) with a message in
 * err. */
int coord_seal_open(const vx_sealer_t *s, enum coord_seal_what what, const void *data,
                    size_t len, uint8_t **plain, size_t *plen, char *err, size_t errlen);

#endif
