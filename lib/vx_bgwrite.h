/* SPDX-License-Identifier: Apache-2.0 */
/* A state file written by a thread of its own, so that a loop never waits for the disk.
 *
 * The owner (a daemon's loop) hands over the file's newest content; the writer thread writes
 * it atomically with vx_seal_file_write (temporary file, fsync, rename, fsync of the folder;
 * sealed when a sealer is given). Only the newest content matters: content handed over while
 * an earlier one still waits replaces it, so memory stays bounded at one write under way and
 * one waiting, whatever the disk's speed. A full or slow disk delays the file, never the loop.
 *
 * The owner learns the outcome of each write through its callback, called on the writer
 * thread (count it, log it; it must not touch the owner's loop state without a lock).
 *
 * At stop, vx_bgwrite_finish writes a last content synchronously after the thread has ended,
 * so the file on disk is the newest one. */
#ifndef VX_BGWRITE_H
#define VX_BGWRITE_H

#include <stddef.h>
#include <stdint.h>

#include "vx_seal.h"

typedef struct vx_bgwrite vx_bgwrite_t;

/* Called on the writer thread after each write: rc 0 or -errno with err naming the file;
 * tag is the one given with the content. */
typedef void (*vx_bgwrite_done_fn)(void *arg, int rc, uint64_t tag, const char *err);

/* Starts the writer of path. sealer (may be NULL: plaintext) and arg are borrowed and must
 * outlive the writer; done may be NULL. Returns NULL with a message in err. */
vx_bgwrite_t *vx_bgwrite_new(const char *path, const vx_sealer_t *sealer,
                             vx_bgwrite_done_fn done, void *arg, char *err, size_t errlen);
/* Stops the thread after the write under way; content still waiting is dropped (the owner
 * writes its last content with vx_bgwrite_finish first when it matters). Accepts NULL; sets
 * *w to NULL. */
void vx_bgwrite_destroy(vx_bgwrite_t **w);

/* Hands data (len bytes, allocated with malloc; the writer frees it) to the thread; content
 * still waiting is replaced and freed. After vx_bgwrite_finish, data is freed unwritten. */
void vx_bgwrite_put(vx_bgwrite_t *w, void *data, size_t len, uint64_t tag);

/* Ends the thread (after the write under way; content waiting is dropped) and writes data
 * (borrowed) synchronously. Returns 0 or -errno with a message in err. Later puts are
 * ignored. */
int vx_bgwrite_finish(vx_bgwrite_t *w, const void *data, size_t len, char *err, size_t errlen);

/* The file's path. */
const char *vx_bgwrite_path(const vx_bgwrite_t *w);

#endif
