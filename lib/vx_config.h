/* SPDX-License-Identifier: Apache-2.0 */
/* Configuration: one YAML or JSON file per deployment, one section per service.
 *
 * Each program describes its sections with a table of keys (name, type, default, bounds,
 * reloadable, help). The same table parses the file, rejects unknown keys and bad values with
 * a message naming the key, applies environment overrides VEXFS_<SECTION>_<KEY> (for example
 * VEXFS_EVENT_PROPAGATION_DEDUP_WINDOW_MS=500), prints --help, serves GET /v1/config and
 * validates live updates. Sections of the file that belong to other services of the suite are
 * left to them; a section no service knows is an error (a typo must not pass silently). */
#ifndef VX_CONFIG_H
#define VX_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum vx_cfg_type {
    VX_CFG_BOOL,
    VX_CFG_INT,
    VX_CFG_STRING,
    VX_CFG_SECRET, /* a string never shown: masked in GET /v1/config, --print-config and logs */
};

/* One key of a section. Rows are written positionally and end with VX_CFG_AT, which binds the
 * key to a field of the section's struct:
 *
 *     {"dedup_window_ms", VX_CFG_INT, "1000", 1, 86400000, true, "how long ...",
 *      VX_CFG_AT(struct prop_config, dedup_window_ms)},
 *
 * A misspelt field is then a compile error. Field types: VX_CFG_BOOL a bool, VX_CFG_INT an
 * int32 or int64 field (signed or not; bounds must fit it), VX_CFG_STRING a `const char *`
 * borrowed from the vx_config_t it was bound from. */
struct vx_cfg_key {
    const char *name;
    enum vx_cfg_type type;
    const char *def;      /* default, written as in the file ("1000", "true", "tcp://...") */
    long long min, max;   /* bounds for VX_CFG_INT; for strings: max length (0: 4096) */
    bool reloadable;      /* may change at run time (PUT /v1/config, SIGHUP) */
    const char *help;
    size_t offset;        /* of the bound field in the section's struct */
    size_t size;          /* sizeof the bound field; 0: the key is not bound */
};

#define VX_CFG_AT(type, field) offsetof(type, field), sizeof(((type *)0)->field)

/* A section: its keys, the struct they bind into and the rules that involve several keys. */
struct vx_cfg_section {
    const char *name;
    const struct vx_cfg_key *keys;
    size_t n_keys;
    size_t struct_size;   /* sizeof the struct vx_config_bind fills; 0: none */
    /* Cross-key rules ("heartbeat below the election timeout"), run on the bound struct
     * whenever a configuration is loaded or patched. Returns 0, or -EINVAL with a message
     * naming the keys in err. NULL: none. */
    int (*check)(const void *bound, char *err, size_t errlen);
};

#define VX_CFG_SECTION(name, keys, type, check)                                                    \
    {(name), (keys), sizeof(keys) / sizeof((keys)[0]), sizeof(type), (check)}

typedef struct vx_config vx_config_t;

/* The sections every daemon reads: "admin" (REST security and limits) and "logging". */
struct vx_admin_config {
    const char *token_file;
    int64_t body_limit_bytes;
    int32_t connection_limit;
    int32_t connection_limit_per_ip;
    int32_t request_timeout_s;
    int32_t worker_threads;
};
struct vx_logging_config {
    const char *level;
};
extern const struct vx_cfg_section vx_cfg_admin_section;
extern const struct vx_cfg_section vx_cfg_logging_section;

/* Loads path (NULL: defaults only), applies environment overrides, validates every key of the
 * given sections. Returns 0 and *out (caller owns), or -EINVAL with a message in err. */
int vx_config_load(vx_config_t **out, const char *path, const struct vx_cfg_section *const *sections,
                   size_t n_sections, char *err, size_t errlen);
/* Same from an already parsed document (borrowed); used by tests and reloads. */
int vx_config_from_json(vx_config_t **out, json_t *doc, const struct vx_cfg_section *const *sections,
                        size_t n_sections, char *err, size_t errlen);
void vx_config_destroy(vx_config_t **cfg);
/* A deep copy (caller owns). */
vx_config_t *vx_config_dup(const vx_config_t *cfg);

/* Fills the struct bound to sec (sec->struct_size bytes at out) with the values of cfg.
 * Strings are borrowed, valid while cfg lives. Returns 0, or -EINVAL when the section is not
 * one of cfg's or a row's field does not fit its type (a programming error, caught by the
 * tests that walk every table). */
int vx_config_bind(const vx_config_t *cfg, const struct vx_cfg_section *sec, void *out);

/* Checks a table on its own: every row bound to a field inside the struct, of a size that
 * fits its type and bounds; defaults valid. Returns 0 or -EINVAL with the row named in err.
 * Used by tests to walk every program's tables. */
int vx_config_check_table(const struct vx_cfg_section *sec, char *err, size_t errlen);

/* Typed getters by name, for lib/ only (daemons read their bound struct). The key must be in
 * the section's table (a programming error otherwise: assert). Strings are borrowed, valid
 * while cfg lives. */
long long vx_config_int(const vx_config_t *cfg, const char *section, const char *key);
bool vx_config_bool(const vx_config_t *cfg, const char *section, const char *key);
const char *vx_config_str(const vx_config_t *cfg, const char *section, const char *key);

/* The effective configuration of the given sections as JSON (new reference): VX_CFG_SECRET
 * values (and keys named *token or *password) read "***", and the user-info part of every URL
 * (scheme://user:password@host) reads "***" too. */
json_t *vx_config_to_json(const vx_config_t *cfg);

/* Copies text into out (outlen bytes) with the user-info of every URL in it (what stands
 * between "://" and "@") replaced by three asterisks, so smtp URLs with a password keep only
 * their host; a word "user:password@host" without a scheme is masked the same way (a word
 * with no ':' before its '@', such as an e-mail address, is kept). For messages and logs that
 * quote a configured URL. Returns out. */
char *vx_mask_urls(const char *text, char *out, size_t outlen);

/* Validates a patch {key: value, ...} for one section: every key known and reloadable, every
 * value valid. Returns 0 and a new config with the patch applied (caller owns), or -EINVAL. */
int vx_config_patch(const vx_config_t *cfg, const char *section, json_t *patch, vx_config_t **out,
                    char *err, size_t errlen);

/* Prints every key of the sections with type, default, bounds and help (for --help). */
void vx_config_print_help(FILE *f, const struct vx_cfg_section *const *sections, size_t n_sections);

/* Reads the first line of a file (a token), trimming whitespace. Returns a heap string or NULL
 * with err set. An empty path yields NULL with err empty. */
char *vx_config_read_secret(const char *path, char *err, size_t errlen);

#endif
