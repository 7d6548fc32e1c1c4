/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: an If-Match header (outside input on every PUT and PATCH of a definition set)
 * against a set's tag, and the tag of a JSON set. fuzz-sources: lib/vx_etag.c
 *
 * Whatever the header holds, adding the tag to its list (", <tag>") must match, and a tag is
 * the same for a set and for the set in reverse order (ids unique). */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vx_etag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) {
        return 0;
    }
    char *text = malloc(size + 1);
    if (text == NULL) {
        abort();
    }
    memcpy(text, data, size);
    text[size] = '\0';
    char tag[VX_ETAG_LEN];
    vx_etag_version(42, tag);
    (void)vx_etag_matches(text, tag);
    size_t len = strlen(text) + VX_ETAG_LEN + 4;
    char *with = malloc(len);
    if (with == NULL) {
        abort();
    }
    snprintf(with, len, "%s, %s", text, tag);
    if (!vx_etag_matches(with, tag)) {
        abort();
    }
    free(with);

    json_t *doc = json_loadb((const char *)data, size, 0, NULL);
    if (json_is_array(doc)) {
        json_t *rev = json_array();
        for (size_t i = json_array_size(doc); i-- > 0;) {
            json_array_append(rev, json_array_get(doc, i));
        }
        char a[VX_ETAG_LEN], b[VX_ETAG_LEN];
        vx_etag_of(doc, "id", a);
        vx_etag_of(rev, "id", b);
        bool unique = true;
        for (size_t i = 0; i < json_array_size(doc) && unique; i++) {
            const char *id = json_string_value(json_object_get(json_array_get(doc, i), "id"));
            for (size_t j = 0; j < i && unique && id; j++) {
                const char *o = json_string_value(json_object_get(json_array_get(doc, j), "id"));
                unique = o == NULL || strcmp(o, id) != 0;
            }
            unique = unique && id != NULL;
        }
        if (unique && strcmp(a, b) != 0) {
            abort();
        }
        json_decref(rev);
    }
    json_decref(doc);
    free(text);
    return 0;
}
