/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: a configuration file, from vx_yaml_parse to a validated vx_config.
 *
 * The parsed document must serialise as JSON and parse back equal (GET /v1/config and the
 * ".json" loader speak JSON), and is then checked against the sections every daemon has
 * (admin, logging) the way vx_config_load does. An accepted configuration is also rendered,
 * copied and patched with its own "logging" mapping, as SIGHUP and PUT /v1/config do. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "vx_config.h"
#include "vx_yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct vx_cfg_section *const s_sections[] = {
    &vx_cfg_admin_section,
    &vx_cfg_logging_section,
};
#define S_N_SECTIONS (sizeof s_sections / sizeof s_sections[0])

static void
s_check_json(json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text) {
        abort();
    }
    json_error_t je;
    /* YAML double-quoted scalars may hold "\0"; jansson writes it as \u0000. */
    json_t *back = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!back || !json_equal(doc, back)) {
        abort();
    }
    json_decref(back);
    free(text);
}

static void
s_check_config(json_t *doc)
{
    vx_config_t *cfg = NULL;
    char err[512];
    if (vx_config_from_json(&cfg, doc, s_sections, S_N_SECTIONS, err, sizeof err) < 0) {
        if (cfg || !err[0]) {
            abort(); /* a rejection leaves no config and says why */
        }
        return;
    }
    json_t *shown = vx_config_to_json(cfg);
    json_decref(shown);
    vx_config_t *copy = vx_config_dup(cfg);
    json_t *patch = json_object_get(doc, "logging");
    if (json_is_object(patch)) {
        vx_config_t *patched = NULL;
        if (vx_config_patch(copy, "logging", patch, &patched, err, sizeof err) == 0) {
            vx_config_destroy(&patched);
        }
    }
    vx_config_destroy(&copy);
    vx_config_destroy(&cfg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    json_t *doc = vx_yaml_parse((const char *)data, size, err, sizeof err);
    if (!doc) {
        if (!err[0]) {
            abort(); /* a rejection says why */
        }
        return 0;
    }
    s_check_json(doc);
    s_check_config(doc);
    json_decref(doc);
    return 0;
}
