/* SPDX-License-Identifier: Apache-2.0 */
/* What an acknowledged receiver remembers of its senders: per sender, the highest batch
 * sequence taken and which of the VX_SENDERS_WINDOW sequences below it were taken, so a
 * resend (the same sender and sequence again) is told from a new batch and from a real gap,
 * also after the receiver restarted (the record is saved in its state folder, sealed like its
 * other state files).
 *
 * Rules, for sequence q from a known sender whose highest is L:
 *   - q > L: new; the q - L - 1 sequences skipped are a gap (missing);
 *   - L - VX_SENDERS_WINDOW < q <= L: a duplicate when q was taken, else a late batch (new:
 *     with several receivers sharing one sender, the others took the sequences in between);
 *   - q <= L - VX_SENDERS_WINDOW: too old to tell, a duplicate; the sender's window of
 *     unacknowledged batches must stay below VX_SENDERS_WINDOW (vx_link's
 *     ack_window_batches is at most 100,000; the shipped configs use 64).
 * An unknown sender's first sequence is taken as its start. At most max_senders are
 * remembered; a new one then replaces the one heard from least recently (counted as
 * evicted). Senders that restart use a new sender id (vx_link's senders add their start time),
 * so a restarted sender never meets its old numbering.
 *
 * One thread owns a vx_senders_t. */
#ifndef VX_SENDERS_H
#define VX_SENDERS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_seal.h"

#define VX_SENDERS_WINDOW 1024
#define VX_SENDERS_FILE "senders.json"
#define VX_SENDERS_LIVE "senders.live"

struct vx_senders_result {
    bool duplicate;   /* taken before: acknowledge again, do not hand on */
    bool new_sender;  /* first batch of a sender not remembered */
    bool late;        /* inside the window, not taken before */
    uint64_t missing; /* sequences skipped before this one */
};

typedef struct vx_senders vx_senders_t;

vx_senders_t *vx_senders_new(size_t max_senders);
void vx_senders_destroy(vx_senders_t **t);

/* Records (sender, seq); sender borrowed. */
struct vx_senders_result vx_senders_observe(vx_senders_t *t, const char *sender, uint64_t seq);

size_t vx_senders_count(const vx_senders_t *t);
uint64_t vx_senders_evicted(const vx_senders_t *t);
/* The highest sequence taken from sender, 0 when unknown. */
uint64_t vx_senders_last(const vx_senders_t *t, const char *sender);
/* True when something changed since the last vx_senders_save. */
bool vx_senders_dirty(const vx_senders_t *t);

/* Writes the record to dir/VX_SENDERS_FILE atomically (temporary file, fsync, rename), sealed
 * with s (NULL: plaintext). Returns 0 or -errno with err naming the file. */
int vx_senders_save(vx_senders_t *t, const vx_sealer_t *s, const char *dir, char *err,
                    size_t errlen);
/* The record as the content of VX_SENDERS_FILE, for an owner that writes it off its loop
 * (vx_bgwrite): malloc'd and NUL-terminated, *len its length without the NUL; the record counts
 * as saved (vx_senders_dirty false) from then on. NULL when out of memory. */
char *vx_senders_snapshot(vx_senders_t *t, size_t *len);
/* Writes the record over dir/VX_SENDERS_LIVE in place (one pwrite into a file kept open, no
 * fsync): cheap enough for every loop turn, and it survives a kill -9 of the process. A
 * crash of the machine may leave it torn or old; vx_senders_load then falls back to
 * VX_SENDERS_FILE. Returns 0 or -errno with err naming the file. */
int vx_senders_save_live(vx_senders_t *t, const vx_sealer_t *s, const char *dir, char *err,
                         size_t errlen);
/* Reads the record into t (empty before): dir/VX_SENDERS_LIVE when it opens and parses, else
 * dir/VX_SENDERS_FILE. Returns 0, also when there is neither; -EINVAL when the file's content
 * is not a senders record; another -errno as vx_jsonfile_read_sealed. err names the file;
 * *note (may be NULL) gets why the live file was passed over ("" when it was not). */
/* Reads a record's text (the content of either file, unsealed) into t (emptied first).
 * Returns 0, or -EINVAL with err saying what is wrong (t then holds the senders read before
 * the fault, at most its max_senders as always). */
int vx_senders_parse(vx_senders_t *t, const char *text, size_t len, char *err, size_t errlen);
int vx_senders_load(vx_senders_t *t, const vx_sealer_t *s, const char *dir, char *err,
                    size_t errlen, char *note, size_t notelen);

#endif
