/* SPDX-License-Identifier: Apache-2.0 */
/* Configuration tables: file, environment, validation, help and live patches. */
#include "vx_config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vx_log.h"
#include "vx_mem.h"
#include "vx_yaml.h"

struct vx_config {
    const struct vx_cfg_section *const *sections;
    size_t n_sections;
    json_t *values; /* {section: {key: value}} with every key present, typed */
};

/* Sections of the whole suite; a file section outside this list is a typo. */
static const char *const s_known_sections[] = {
    "event_propagation", "event_routing", "distributed_coordination", "reactive_automation",
    "stream_analytics",  "monitoring",    "admin",                    "logging",
    "ctl",               "event_forwarder",          "fuse_layer",  "userspace_watcher",
    "transport",         "security",                 "client",      "at_rest",
    "kafka_security",
};

static const struct vx_cfg_key s_admin_keys[] = {
    {"token_file", VX_CFG_STRING, "", 0, 4096, false,
     "file holding the bearer token for mutating REST calls; empty refuses them (403)",
     VX_CFG_AT(struct vx_admin_config, token_file)},
    {"body_limit_bytes", VX_CFG_INT, "1048576", 1024, 256LL * 1024 * 1024, false,
     "largest accepted request body; larger bodies get 413",
     VX_CFG_AT(struct vx_admin_config, body_limit_bytes)},
    {"connection_limit", VX_CFG_INT, "1024", 1, 100000, false,
     "concurrent REST connections in all (each costs a descriptor and up to 32 KiB)",
     VX_CFG_AT(struct vx_admin_config, connection_limit)},
    {"connection_limit_per_ip", VX_CFG_INT, "0", 0, 100000, false,
     "concurrent REST connections from one client address; 0: three quarters of "
     "connection_limit, at most 768",
     VX_CFG_AT(struct vx_admin_config, connection_limit_per_ip)},
    {"request_timeout_s", VX_CFG_INT, "10", 1, 3600, false,
     "a REST connection must deliver each request (headers and body) within this many seconds "
     "of opening or of its previous answer, and take each answer within it; past that it is "
     "shut down, however slowly it keeps sending",
     VX_CFG_AT(struct vx_admin_config, request_timeout_s)},
    {"worker_threads", VX_CFG_INT, "16", 1, 1024, false,
     "threads that run REST handlers (which may wait, e.g. for Kafka); more requests wait in "
     "line, and /health, /ready and /metrics never wait",
     VX_CFG_AT(struct vx_admin_config, worker_threads)},
};
const struct vx_cfg_section vx_cfg_admin_section =
    VX_CFG_SECTION("admin", s_admin_keys, struct vx_admin_config, NULL);

static const struct vx_cfg_key s_logging_keys[] = {
    {"level", VX_CFG_STRING, "info", 0, 16, false, "lowest level written: debug, info, warn, error",
     VX_CFG_AT(struct vx_logging_config, level)},
};

static int
cb_logging_check(const void *bound, char *err, size_t errlen)
{
    const struct vx_logging_config *c = bound;
    enum vx_log_level lvl;
    if (vx_log_level_parse(c->level, &lvl) < 0) {
        snprintf(err, errlen, "logging.level: expected debug, info, warn or error, got \"%s\"",
                 c->level);
        return -EINVAL;
    }
    return 0;
}

const struct vx_cfg_section vx_cfg_logging_section =
    VX_CFG_SECTION("logging", s_logging_keys, struct vx_logging_config, cb_logging_check);

static const char *const s_type_names[] = {"boolean", "integer", "string", "secret"};

static const struct vx_cfg_key *
s_find_key(const struct vx_cfg_section *sec, const char *key)
{
    for (size_t i = 0; i < sec->n_keys; i++) {
        if (strcmp(sec->keys[i].name, key) == 0) {
            return &sec->keys[i];
        }
    }
    return NULL;
}

static const struct vx_cfg_section *
s_find_section(const struct vx_cfg_section *const *sections, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(sections[i]->name, name) == 0) {
            return sections[i];
        }
    }
    return NULL;
}

static bool
s_str_to_ll(const char *s, long long *out)
{
    char buf[64];
    size_t n = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '_') {
            continue;
        }
        if (n + 1 >= sizeof buf) {
            return false;
        }
        buf[n++] = *p;
    }
    buf[n] = '\0';
    if (n == 0) {
        return false;
    }
    char *end = NULL;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno || *end) {
        return false;
    }
    *out = v;
    return true;
}

/* Converts raw (from the file or the environment: a string) to the key's type and checks
 * bounds. Returns a new reference or NULL with err naming where. */
static json_t *
s_coerce(const struct vx_cfg_key *k, const char *where, json_t *raw, char *err, size_t errlen)
{
    switch (k->type) {
    case VX_CFG_BOOL:
        if (json_is_boolean(raw)) {
            return json_incref(raw);
        }
        if (json_is_string(raw)) {
            const char *s = json_string_value(raw);
            if (!strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "yes") || !strcmp(s, "on")) {
                return json_true();
            }
            if (!strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "no") || !strcmp(s, "off")) {
                return json_false();
            }
        }
        snprintf(err, errlen, "%s: expected a boolean (true or false)", where);
        return NULL;
    case VX_CFG_INT: {
        long long v = 0;
        if (json_is_integer(raw)) {
            v = json_integer_value(raw);
        } else if (!json_is_string(raw) || !s_str_to_ll(json_string_value(raw), &v)) {
            snprintf(err, errlen, "%s: expected an integer", where);
            return NULL;
        }
        if (v < k->min || v > k->max) {
            snprintf(err, errlen, "%s: must be between %lld and %lld, got %lld", where, k->min,
                     k->max, v);
            return NULL;
        }
        return json_integer(v);
    }
    case VX_CFG_STRING:
    case VX_CFG_SECRET: {
        if (!json_is_string(raw)) {
            snprintf(err, errlen, "%s: expected a string", where);
            return NULL;
        }
        size_t max = k->max > 0 ? (size_t)k->max : 4096;
        if (json_string_length(raw) > max) {
            snprintf(err, errlen, "%s: longer than %zu characters", where, max);
            return NULL;
        }
        return json_incref(raw);
    }
    }
    snprintf(err, errlen, "%s: unknown type", where);
    return NULL;
}

static int
s_section_fill(json_t *dst, const struct vx_cfg_section *sec, json_t *given, char *err,
               size_t errlen)
{
    char where[256];
    if (given && !json_is_object(given)) {
        snprintf(err, errlen, "%s: expected a mapping of keys", sec->name);
        return -EINVAL;
    }
    const char *key;
    json_t *val;
    json_object_foreach(given, key, val) {
        if (!s_find_key(sec, key)) {
            snprintf(err, errlen, "%s.%s: unknown key", sec->name, key);
            return -EINVAL;
        }
    }
    for (size_t i = 0; i < sec->n_keys; i++) {
        const struct vx_cfg_key *k = &sec->keys[i];
        json_t *raw = given ? json_object_get(given, k->name) : NULL;
        json_t *owned = NULL;

        /* Environment beats file beats default. */
        char env[256];
        int n = snprintf(env, sizeof env, "VEXFS_%s_%s", sec->name, k->name);
        for (int j = 0; j < n; j++) {
            env[j] = (char)toupper((unsigned char)env[j]);
        }
        const char *ev = getenv(env);
        if (ev) {
            owned = json_string(ev);
            if (!owned) {
                snprintf(err, errlen, "%s: not valid UTF-8", env);
                return -EINVAL;
            }
            raw = owned;
            snprintf(where, sizeof where, "%s (environment, %s.%s)", env, sec->name, k->name);
        } else if (raw) {
            snprintf(where, sizeof where, "%s.%s", sec->name, k->name);
        } else {
            owned = json_string(k->def);
            raw = owned;
            snprintf(where, sizeof where, "%s.%s (default)", sec->name, k->name);
        }
        json_t *v = s_coerce(k, where, raw, err, errlen);
        json_decref(owned);
        if (!v) {
            return -EINVAL;
        }
        json_object_set_new(dst, k->name, v);
    }
    return 0;
}

/* Writes one typed value into its field. The table was checked by s_row_fits. */
static void
s_store(const struct vx_cfg_key *k, json_t *v, uint8_t *base)
{
    uint8_t *at = base + k->offset;
    switch (k->type) {
    case VX_CFG_BOOL: {
        bool b = json_is_true(v);
        memcpy(at, &b, sizeof b);
        break;
    }
    case VX_CFG_INT:
        if (k->size == sizeof(int32_t)) {
            int32_t i = (int32_t)json_integer_value(v);
            memcpy(at, &i, sizeof i);
        } else {
            int64_t i = (int64_t)json_integer_value(v);
            memcpy(at, &i, sizeof i);
        }
        break;
    case VX_CFG_STRING:
    case VX_CFG_SECRET: {
        const char *str = json_string_value(v);
        memcpy(at, &str, sizeof str);
        break;
    }
    }
}

/* Whether a row's field can hold its type and bounds, inside a struct of struct_size. */
static bool
s_row_fits(const struct vx_cfg_key *k, size_t struct_size)
{
    if (k->size == 0 || k->offset + k->size > struct_size) {
        return false;
    }
    switch (k->type) {
    case VX_CFG_BOOL:
        return k->size == sizeof(bool);
    case VX_CFG_INT:
        if (k->size == sizeof(int32_t)) {
            return k->min >= INT32_MIN && k->max <= INT32_MAX;
        }
        return k->size == sizeof(int64_t);
    case VX_CFG_STRING:
    case VX_CFG_SECRET:
        return k->size == sizeof(const char *);
    }
    return false;
}

int
vx_config_check_table(const struct vx_cfg_section *sec, char *err, size_t errlen)
{
    if (sec->struct_size == 0) {
        snprintf(err, errlen, "%s: not bound to a struct", sec->name);
        return -EINVAL;
    }
    for (size_t i = 0; i < sec->n_keys; i++) {
        const struct vx_cfg_key *k = &sec->keys[i];
        if (!s_row_fits(k, sec->struct_size)) {
            snprintf(err, errlen, "%s.%s: field of %zu bytes at %zu does not fit a %s", sec->name,
                     k->name, k->size, k->offset, s_type_names[k->type]);
            return -EINVAL;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(sec->keys[j].name, k->name) == 0) {
                snprintf(err, errlen, "%s.%s: listed twice", sec->name, k->name);
                return -EINVAL;
            }
        }
        json_t *def = json_string(k->def);
        char where[256];
        snprintf(where, sizeof where, "%s.%s (default)", sec->name, k->name);
        json_t *v = s_coerce(k, where, def, err, errlen);
        json_decref(def);
        if (!v) {
            return -EINVAL;
        }
        json_decref(v);
    }
    return 0;
}

static int
s_bind_values(json_t *values, const struct vx_cfg_section *sec, void *out)
{
    json_t *sv = json_object_get(values, sec->name);
    if (!sv || sec->struct_size == 0) {
        return -EINVAL;
    }
    for (size_t i = 0; i < sec->n_keys; i++) {
        const struct vx_cfg_key *k = &sec->keys[i];
        if (!s_row_fits(k, sec->struct_size)) {
            return -EINVAL;
        }
        s_store(k, json_object_get(sv, k->name), out);
    }
    return 0;
}

int
vx_config_bind(const vx_config_t *cfg, const struct vx_cfg_section *sec, void *out)
{
    if (!s_find_section(cfg->sections, cfg->n_sections, sec->name)) {
        return -EINVAL;
    }
    return s_bind_values(cfg->values, sec, out);
}

/* Runs every bound section's cross-key check on values. */
static int
s_check_sections(json_t *values, const struct vx_cfg_section *const *sections, size_t n,
                 char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        const struct vx_cfg_section *sec = sections[i];
        if (!sec->check || sec->struct_size == 0) {
            continue;
        }
        void *tmp = vx_calloc(1, sec->struct_size);
        int rc = s_bind_values(values, sec, tmp);
        if (rc < 0) {
            snprintf(err, errlen, "%s: the key table does not fit its struct", sec->name);
        } else {
            rc = sec->check(tmp, err, errlen);
        }
        free(tmp);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

int
vx_config_from_json(vx_config_t **out, json_t *doc, const struct vx_cfg_section *const *sections,
                    size_t n_sections, char *err, size_t errlen)
{
    *out = NULL;
    err[0] = '\0';
    if (doc && !json_is_object(doc)) {
        snprintf(err, errlen, "configuration: expected a mapping of sections");
        return -EINVAL;
    }
    const char *name;
    json_t *val;
    json_object_foreach(doc, name, val) {
        bool known = false;
        for (size_t i = 0; i < sizeof s_known_sections / sizeof s_known_sections[0]; i++) {
            known = known || strcmp(s_known_sections[i], name) == 0;
        }
        if (!known) {
            snprintf(err, errlen, "%s: unknown section", name);
            return -EINVAL;
        }
    }
    json_t *values = json_object();
    for (size_t i = 0; i < n_sections; i++) {
        json_t *sec = json_object();
        json_object_set_new(values, sections[i]->name, sec);
        int rc = s_section_fill(sec, sections[i], doc ? json_object_get(doc, sections[i]->name) : NULL,
                                err, errlen);
        if (rc < 0) {
            json_decref(values);
            return rc;
        }
    }
    int rc = s_check_sections(values, sections, n_sections, err, errlen);
    if (rc < 0) {
        json_decref(values);
        return rc;
    }
    vx_config_t *cfg = vx_calloc(1, sizeof *cfg);
    cfg->sections = sections;
    cfg->n_sections = n_sections;
    cfg->values = values;
    *out = cfg;
    return 0;
}

int
vx_config_load(vx_config_t **out, const char *path, const struct vx_cfg_section *const *sections,
               size_t n_sections, char *err, size_t errlen)
{
    json_t *doc = NULL;
    *out = NULL;
    if (path) {
        doc = vx_yaml_load_file(path, err, errlen);
        if (!doc) {
            return -EINVAL;
        }
    }
    int rc = vx_config_from_json(out, doc, sections, n_sections, err, errlen);
    if (rc < 0 && path) {
        char inner[512];
        snprintf(inner, sizeof inner, "%s", err);
        snprintf(err, errlen, "%s: %s", path, inner);
    }
    json_decref(doc);
    return rc;
}

void
vx_config_destroy(vx_config_t **cfg)
{
    if (!cfg || !*cfg) {
        return;
    }
    json_decref((*cfg)->values);
    vx_free(cfg);
}

vx_config_t *
vx_config_dup(const vx_config_t *cfg)
{
    vx_config_t *c = vx_calloc(1, sizeof *c);
    c->sections = cfg->sections;
    c->n_sections = cfg->n_sections;
    c->values = json_deep_copy(cfg->values);
    return c;
}

static json_t *
s_get(const vx_config_t *cfg, const char *section, const char *key, enum vx_cfg_type type)
{
    const struct vx_cfg_section *sec = s_find_section(cfg->sections, cfg->n_sections, section);
    assert(sec && "config section not in this program's tables");
    const struct vx_cfg_key *k = s_find_key(sec, key);
    assert(k && k->type == type && "config key not in the table or wrong type");
    (void)k;
    (void)type;
    return json_object_get(json_object_get(cfg->values, section), key);
}

long long
vx_config_int(const vx_config_t *cfg, const char *section, const char *key)
{
    return json_integer_value(s_get(cfg, section, key, VX_CFG_INT));
}

bool
vx_config_bool(const vx_config_t *cfg, const char *section, const char *key)
{
    return json_is_true(s_get(cfg, section, key, VX_CFG_BOOL));
}

const char *
vx_config_str(const vx_config_t *cfg, const char *section, const char *key)
{
    return json_string_value(s_get(cfg, section, key, VX_CFG_STRING));
}

static bool
s_is_secret(const struct vx_cfg_section *sec, const char *key)
{
    const struct vx_cfg_key *k = sec ? s_find_key(sec, key) : NULL;
    if (k && k->type == VX_CFG_SECRET) {
        return true;
    }
    size_t n = strlen(key);
    return (n >= 5 && strcmp(key + n - 5, "token") == 0) ||
           (n >= 8 && strcmp(key + n - 8, "password") == 0);
}

char *
vx_mask_urls(const char *text, char *out, size_t outlen)
{
    size_t o = 0;
    const char *p = text;
    if (!outlen) {
        return out;
    }
    while (*p && o + 1 < outlen) {
        /* A word "user:password@host..." without a scheme (a library that dropped the
         * "scheme://" of the address it quotes): its user-info is masked too. */
        if (p == text || strchr(" \t\n\"'(=,[", p[-1])) {
            size_t word = strcspn(p, " \t\n\"')],");
            const char *at = memchr(p, '@', word);
            const char *colon = at ? memchr(p, ':', (size_t)(at - p)) : NULL;
            if (colon && colon > p && !memchr(p, '/', (size_t)(at - p))) {
                for (const char *m = "***@"; *m && o + 1 < outlen; m++) {
                    out[o++] = *m;
                }
                p = at + 1;
                continue;
            }
        }
        if (p[0] == ':' && p[1] == '/' && p[2] == '/') {
            for (int i = 0; i < 3 && o + 1 < outlen; i++) {
                out[o++] = *p++;
            }
            /* The authority ends at the path, query, fragment or the end of the word; its
             * user-info is whatever precedes its last '@'. */
            size_t auth = strcspn(p, "/?# \t\n\"'");
            const char *at = memrchr(p, '@', auth);
            if (at) {
                for (const char *m = "***@"; *m && o + 1 < outlen; m++) {
                    out[o++] = *m;
                }
                p = at + 1;
            }
            continue;
        }
        out[o++] = *p++;
    }
    out[o] = '\0';
    return out;
}

json_t *
vx_config_to_json(const vx_config_t *cfg)
{
    json_t *copy = json_deep_copy(cfg->values);
    const char *sname;
    json_t *sec;
    json_object_foreach(copy, sname, sec) {
        const struct vx_cfg_section *table = s_find_section(cfg->sections, cfg->n_sections, sname);
        const char *key;
        json_t *v;
        json_object_foreach(sec, key, v) {
            if (s_is_secret(table, key)) {
                json_object_set_new(sec, key, json_string(json_string_length(v) ? "***" : ""));
            } else if (json_is_string(v) && strstr(json_string_value(v), "://")) {
                size_t n = json_string_length(v) + 8;
                char *masked = vx_malloc(n);
                vx_mask_urls(json_string_value(v), masked, n);
                json_object_set_new(sec, key, json_string(masked));
                free(masked);
            }
        }
    }
    return copy;
}

int
vx_config_patch(const vx_config_t *cfg, const char *section, json_t *patch, vx_config_t **out,
                char *err, size_t errlen)
{
    *out = NULL;
    const struct vx_cfg_section *sec = s_find_section(cfg->sections, cfg->n_sections, section);
    if (!sec) {
        snprintf(err, errlen, "%s: unknown section", section);
        return -EINVAL;
    }
    if (!json_is_object(patch) || json_object_size(patch) == 0) {
        snprintf(err, errlen, "%s: expected an object of keys to change", section);
        return -EINVAL;
    }
    json_t *values = json_deep_copy(cfg->values);
    json_t *dst = json_object_get(values, section);
    const char *key;
    json_t *val;
    json_object_foreach(patch, key, val) {
        const struct vx_cfg_key *k = s_find_key(sec, key);
        char where[256];
        snprintf(where, sizeof where, "%s.%s", section, key);
        if (!k) {
            snprintf(err, errlen, "%s: unknown key", where);
            goto fail;
        }
        if (!k->reloadable) {
            snprintf(err, errlen, "%s: cannot be changed at run time (restart needed)", where);
            goto fail;
        }
        json_t *v = s_coerce(k, where, val, err, errlen);
        if (!v) {
            goto fail;
        }
        json_object_set_new(dst, key, v);
    }
    if (s_check_sections(values, cfg->sections, cfg->n_sections, err, errlen) < 0) {
        goto fail;
    }
    vx_config_t *c = vx_calloc(1, sizeof *c);
    c->sections = cfg->sections;
    c->n_sections = cfg->n_sections;
    c->values = values;
    *out = c;
    return 0;
fail:
    json_decref(values);
    return -EINVAL;
}

void
vx_config_print_help(FILE *f, const struct vx_cfg_section *const *sections, size_t n_sections)
{
    for (size_t i = 0; i < n_sections; i++) {
        fprintf(f, "\n[%s]\n", sections[i]->name);
        for (size_t j = 0; j < sections[i]->n_keys; j++) {
            const struct vx_cfg_key *k = &sections[i]->keys[j];
            fprintf(f, "  %-34s %-7s default %s", k->name, s_type_names[k->type],
                    k->def[0] ? k->def : "\"\"");
            if (k->type == VX_CFG_INT) {
                fprintf(f, " [%lld..%lld]", k->min, k->max);
            }
            fprintf(f, "%s\n      %s\n", k->reloadable ? " (reloadable)" : "", k->help);
        }
    }
}

char *
vx_config_read_secret(const char *path, char *err, size_t errlen)
{
    err[0] = '\0';
    if (!path || !*path) {
        return NULL;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char line[1024];
    char *got = fgets(line, sizeof line, f);
    fclose(f);
    if (!got) {
        snprintf(err, errlen, "%s: empty file", path);
        return NULL;
    }
    size_t n = strlen(line);
    while (n > 0 && isspace((unsigned char)line[n - 1])) {
        line[--n] = '\0';
    }
    char *s = line;
    while (*s && isspace((unsigned char)*s)) {
        s++;
    }
    if (!*s) {
        snprintf(err, errlen, "%s: empty token", path);
        return NULL;
    }
    return vx_strdup(s);
}
