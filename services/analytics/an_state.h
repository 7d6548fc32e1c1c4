/* SPDX-License-Identifier: Apache-2.0 */
/* The files analytics keeps in its state folder (queries.json, alert_rules.json), sealed at
 * rest under the data keys (vx_seal.h) when the daemon has them.
 *
 * A file found in plaintext (from before sealing) is accepted at start and written again
 * sealed; one sealed under an older data key is written again under the newest (the re-seal
 * after vexfsctl keys rotate-data). A sealed file without data keys, under a key id not
 * loaded, or with a changed byte stops the start with a message naming the file. The key id
 * each file is sealed with is the gauge vexfs_analytics_state_key_id{file} (0: plaintext). */
#ifndef AN_STATE_H
#define AN_STATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "vx_metrics.h"
#include "vx_seal.h"

/* Reads dir/name into *doc (new reference). Returns 0, 1 when there is no such file, or
 * -errno with err naming the file. *stale: the file should be written again (see above). */
int an_state_load(const vx_sealer_t *s, vx_metrics_t *m, const char *dir, const char *name,
                  json_t **doc, bool *stale, char *err, size_t errlen);
/* A definitions file: the state folder's dir/name (sealed at rest, as an_state_load) when
 * from_state, else the operator's plain JSON file path. Returns 0 with *doc, 1 when the state
 * folder holds no such file, or -errno with err naming the file. */
int an_defs_read(const vx_sealer_t *s, vx_metrics_t *m, const char *dir, const char *name,
                 const char *path, bool from_state, json_t **doc, bool *stale, char *err,
                 size_t errlen);
/* Writes doc (borrowed) to dir/name atomically and durably, sealed when s is given. Returns
 * 0, or -errno, logged (AN-STATE-SAVE) with the file's name. */
int an_state_save(const vx_sealer_t *s, vx_metrics_t *m, const char *dir, const char *name,
                  json_t *doc);

#endif
