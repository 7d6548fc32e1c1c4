/* SPDX-License-Identifier: Apache-2.0 */
/* Where rule sets come from and go to: the state file that keeps the current rules and
 * filters across restarts, and the operator's rules file.
 *
 * State file: <state_dir>/routing-rules.json,
 *   {"format":1, "version":N, "rules":[...], "filters":[...], "rules_file_hash":"..."}
 * holding the normalized sets (rt_engine_rules_json), sealed at rest as one vx_seal record
 * (vx_seal.h) when the daemon has data keys. It is replaced atomically: the new text
 * goes to a temporary file in the same directory, which is fsync'ed, then renamed over the old
 * one, and the directory is fsync'ed; a crash leaves the old file or the new one, never a
 * mixture. Writing is split in prepare (temporary file, durable) and commit (rename), so the
 * daemon can make the new set live between the two and drop the temporary file when that
 * fails.
 *
 * Rules file: YAML, or JSON when the name ends in .json: {"rules":[...], "filters":[...]}
 * (either key may be absent: an empty set), or a bare list of rules. */
#ifndef RT_STORE_H
#define RT_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_seal.h"

#define RT_STORE_FILE "routing-rules.json"
#define RT_STORE_FORMAT 1

/* Splits a set document into its rules and filters (new references; NULL when absent).
 * Accepts an object with only "rules" and "filters" keys, each an array, or an array (rules).
 * Returns 0, or -EINVAL with a message in err ("what: unknown key 'rule'"). */
int rt_set_parse(json_t *doc, const char *what, json_t **rules, json_t **filters, char *err,
                 size_t errlen);

/* Creates dir (and missing parents) when absent. Returns 0 or -errno with err set. */
int rt_store_init(const char *dir, char *err, size_t errlen);

/* Reads the state file of dir, opening it with sealer when sealed (NULL: encryption at rest
 * is off). Returns 0 with *doc (new reference) or NULL when there is no state file, or
 * -EINVAL/-errno with err naming the file when it exists but cannot be read: a sealed file
 * without data keys or under a key not loaded (-ENOKEY), a changed byte (-EBADMSG), a
 * document that is not a state file. *stale (may be NULL) is set when the file should be
 * written again — plaintext while sealing (the migration) or sealed under an older key than
 * the newest — and *key_id (may be NULL) gets the id of its key (0: plaintext). */
int rt_store_load(const char *dir, const vx_sealer_t *sealer, json_t **doc, bool *stale,
                  uint32_t *key_id, char *err, size_t errlen);

/* One pending write. */
struct rt_store_txn {
    char tmp[4352];
    char final[4352];
    char dir[4096];
    bool pending;
};

/* Writes doc to a temporary file next to the state file and makes it durable, sealed with
 * sealer (the state file's name as associated data) unless it is NULL. Returns 0, or -errno
 * with err set (nothing is left behind). */
int rt_store_prepare(const char *dir, const vx_sealer_t *sealer, json_t *doc,
                     struct rt_store_txn *txn, char *err, size_t errlen);
/* Renames the temporary file over the state file and syncs the directory. */
int rt_store_commit(struct rt_store_txn *txn, char *err, size_t errlen);
/* Removes the temporary file of a prepared write. Accepts a txn that is not pending. */
void rt_store_abort(struct rt_store_txn *txn);

/* What identifies a version of the rules file. */
struct rt_file_stamp {
    bool exists;
    int64_t mtime_ns;
    int64_t size;
    uint64_t ino;
};

/* Fills st (exists false when the file is absent). */
void rt_rules_file_stat(const char *path, struct rt_file_stamp *st);
bool rt_file_stamp_equal(const struct rt_file_stamp *a, const struct rt_file_stamp *b);

/* A thread watching the rules file. Every poll_ms it compares the file's stamp with the last
 * one seen (initially *initial) and, when it differs, calls fn(false, exists, arg);
 * rt_watch_trigger makes it call fn(true, exists, arg) at once (SIGHUP). fn runs on the
 * watcher thread, one call at a time. */
typedef void(rt_watch_fn)(bool force, bool exists, void *arg);
typedef struct rt_watch rt_watch_t;

/* Starts the thread. path is copied. Returns NULL when the thread cannot be started. */
rt_watch_t *rt_watch_new(const char *path, const struct rt_file_stamp *initial, int poll_ms,
                         rt_watch_fn *fn, void *arg);
void rt_watch_trigger(rt_watch_t *w);
/* Stops and joins the thread (waiting for a running fn). Accepts NULL; sets *w to NULL. */
void rt_watch_destroy(rt_watch_t **w);

/* Loads and splits the rules file (new references; NULL when absent from the file) and
 * returns the hash of its bytes in hash (16 hex digits). Returns 0, or -EINVAL/-errno with
 * a message naming the file in err. */
int rt_rules_file_load(const char *path, json_t **rules, json_t **filters, char hash[17],
                       char *err, size_t errlen);

#endif
