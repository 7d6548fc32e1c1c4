/* SPDX-License-Identifier: Apache-2.0 */
/* Durable JSON files for definitions: written to a temporary file, fsynced and renamed over
 * the old one (then the directory is fsynced), so a crash leaves the old or the new file and
 * never a torn one. */
#ifndef VX_JSONFILE_H
#define VX_JSONFILE_H

#include <jansson.h>
#include <stddef.h>

/* Writes j (borrowed) to path. Returns 0 or -errno. */
int vx_jsonfile_write(const char *path, json_t *j);
/* Reads path: the document (new reference), or NULL with *missing true when there is no
 * such file, or NULL with err set when it does not parse. */
json_t *vx_jsonfile_read(const char *path, int *missing, char *err, size_t errlen);
/* Creates dir (and its parent) when absent. Returns 0 or -errno. */
int vx_jsonfile_mkdir(const char *dir);

#endif
