/* SPDX-License-Identifier: Apache-2.0 */
/* YAML documents as jansson trees: one schema for YAML files and JSON over REST.
 *
 * Mappings become objects (a repeated key is an error), sequences arrays. Plain scalars are
 * typed as YAML 1.2's core schema does: null/~/empty → null, true/false → boolean, integers
 * (digits may be grouped with '_', as in 100_000) → integer, decimals → real; anything
 * else, and every quoted scalar, is a string. Aliases, anchors-with-merge and multiple
 * documents are rejected: configuration should read the same to every tool. */
#ifndef VX_YAML_H
#define VX_YAML_H

#include <jansson.h>
#include <stddef.h>

/* Parses one YAML document. Returns a new reference, or NULL with a message such as
 * "line 3, column 5: duplicate key 'port'" in err. An empty document gives an empty object. */
json_t *vx_yaml_parse(const char *text, size_t len, char *err, size_t errlen);

/* Loads a file: ".json" files with jansson, anything else as YAML. Same contract. */
json_t *vx_yaml_load_file(const char *path, char *err, size_t errlen);

#endif
