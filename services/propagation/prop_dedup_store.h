/* SPDX-License-Identifier: Apache-2.0 */
/* The dedup window kept across restarts: a file in the state folder (<state_dir>/dedup.bin,
 * sealed like every state file when at_rest encryption is on) holding the content hashes
 * inside the window and their age, written when propagation stops and every
 * dedup_checkpoint_ms while it runs (so a kill -9 forgets at most that much), and read back at
 * start: a batch sent again after a restart (a producer's resend whose acknowledgement was
 * lost) is then a duplicate, not published twice.
 *
 * The file (little-endian):
 *
 *     "VXDEDUP1" | wall-clock ns when written (8) | count (8) | count x (hash (8), age ns (8))
 *
 * Ages are relative to the wall-clock time of writing, so the window keeps its meaning across a
 * restart: at load, an entry's age grows by the wall-clock time that passed, and entries whose
 * age reached the window are left out. Memory stays bounded as the window is: at most
 * dedup_max_entries entries are restored.
 *
 * Threads: the loop calls every function; checkpoints are snapshot on the loop (a copy of the
 * window's live entries) and written by the store's own thread, so the disk never holds the
 * loop up. */
#ifndef PROP_DEDUP_STORE_H
#define PROP_DEDUP_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "prop_dedup.h"
#include "vx_metrics.h"
#include "vx_seal.h"

#define PROP_DEDUP_FILE "dedup.bin"

typedef struct prop_dedup_store prop_dedup_store_t;

/* Encodes the live entries of d at (now_mono, now_wall) as a file body. Caller frees *out. */
void prop_dedup_encode(const prop_dedup_t *d, uint64_t now_mono, uint64_t now_wall,
                       uint8_t **out, size_t *len);
/* Records in d each entry of a file body still inside the window at (now_mono, now_wall).
 * Returns the number restored, or -EPROTO with a message in err for a body of the wrong shape
 * (then d is unchanged). */
long prop_dedup_decode(prop_dedup_t *d, const uint8_t *buf, size_t len, uint64_t now_mono,
                       uint64_t now_wall, char *err, size_t errlen);

/* Makes state_dir (mode 0700) when absent and starts the writer thread. sealer (borrowed, may
 * be NULL: plaintext) and metrics must outlive the store. Returns NULL with a message in err;
 * the caller owns the result. */
prop_dedup_store_t *prop_dedup_store_new(const char *state_dir, const vx_sealer_t *sealer,
                                         vx_metrics_t *metrics, char *err, size_t errlen);
/* Stops the writer thread (after the write under way). Accepts NULL; sets *st to NULL. */
void prop_dedup_store_destroy(prop_dedup_store_t **st);

/* Restores the file into d. Returns the entries restored (0 when there is no file), or -errno
 * with a message in err (a file that cannot be opened, unsealed or decoded: d unchanged). */
long prop_dedup_store_load(prop_dedup_store_t *st, prop_dedup_t *d, char *err, size_t errlen);

/* Snapshots d and hands it to the writer thread; a snapshot not yet written is replaced. */
void prop_dedup_store_checkpoint(prop_dedup_store_t *st, const prop_dedup_t *d);

/* Stops the writer thread, then writes d synchronously (at stop). Returns 0 or -errno with a
 * message in err. Later checkpoints are ignored. */
int prop_dedup_store_save(prop_dedup_store_t *st, const prop_dedup_t *d, char *err,
                          size_t errlen);

#endif
