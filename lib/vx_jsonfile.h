/* SPDX-License-Identifier: Apache-2.0 */
/* Durable JSON files for definitions: written to a temporary file, fsynced and renamed over
 * the old one (then the directory is fsynced), so a crash leaves the old or the new file and
 * never a torn one. */
#ifndef VX_JSONFILE_H
#define VX_JSONFILE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_seal.h"

/* Writes j (borrowed) to path. Returns 0 or -errno. */
int vx_jsonfile_write(const char *path, json_t *j);
/* Reads path: the document (new reference), or NULL with *missing true when there is no
 * such file, or NULL with err set when it does not parse. */
json_t *vx_jsonfile_read(const char *path, int *missing, char *err, size_t errlen);
/* Definitions files sealed at rest (vx_seal.h). Writes j (borrowed) to path atomically,
 * sealed with s and the file's name as associated data; s NULL writes plaintext. Returns 0 or
 * -errno with err naming the file. */
int vx_jsonfile_write_sealed(const vx_sealer_t *s, const char *path, json_t *j, char *err,
                             size_t errlen);
/* Reads path, opening it when sealed, into *out (new reference). Returns 0; -ENOENT when
 * there is no such file; or another -errno with err naming the file: -ENOKEY (a sealed file
 * without data keys, or under a key id not loaded), -EBADMSG (a changed byte, another key
 * with the same id), -EINVAL (not JSON). *stale (may be NULL) is set when the file should be
 * written again: plaintext read with a sealer (the migration to sealing) or sealed under a
 * key older than s's newest (re-sealing after vexfsctl keys rotate-data). *key_id (may be
 * NULL) gets the id of the key it was sealed with, 0 for plaintext. */
int vx_jsonfile_read_sealed(const vx_sealer_t *s, const char *path, json_t **out, bool *stale,
                            uint32_t *key_id, char *err, size_t errlen);
/* Creates dir (and its parent) when absent. Returns 0 or -errno. */
int vx_jsonfile_mkdir(const char *dir);

#endif
