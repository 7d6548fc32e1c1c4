/* SPDX-License-Identifier: Apache-2.0 */
/* Entity tags of definition sets (see vx_etag.h). */
#include "vx_etag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_FNV_OFFSET 14695981039346656037ULL
#define S_FNV_PRIME 1099511628211ULL

static uint64_t
s_fnv(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= S_FNV_PRIME;
    }
    return h;
}

/* Hashes the set as one object {id: definition}, dumped compact with sorted keys: the same
 * content gives the same text whatever the order of the list. A definition without a string
 * key is hashed under its position, so it still moves the tag. */
void
vx_etag_of(json_t *defs, const char *key, char out[VX_ETAG_LEN])
{
    json_t *byid = json_object();
    size_t i;
    json_t *d;
    json_array_foreach(defs, i, d) {
        const char *id = json_string_value(json_object_get(d, key));
        char pos[32];
        if (id == NULL) {
            snprintf(pos, sizeof pos, "#%zu", i);
            id = pos;
        }
        json_object_set(byid, id, d);
    }
    char *text = json_dumps(byid, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    uint64_t h = s_fnv(S_FNV_OFFSET, text ? text : "", text ? strlen(text) : 0);
    free(text);
    json_decref(byid);
    snprintf(out, VX_ETAG_LEN, "\"%016llx\"", (unsigned long long)h);
}

void
vx_etag_version(uint64_t version, char out[VX_ETAG_LEN])
{
    snprintf(out, VX_ETAG_LEN, "\"v%llu\"", (unsigned long long)version);
}

bool
vx_etag_matches(const char *if_match, const char *etag)
{
    if (if_match == NULL) {
        return true;
    }
    size_t elen = strlen(etag);
    const char *p = if_match;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',') {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        size_t n = strcspn(p, ",");
        size_t m = n;
        while (m > 0 && (p[m - 1] == ' ' || p[m - 1] == '\t')) {
            m--;
        }
        const char *t = p;
        if (m >= 2 && t[0] == 'W' && t[1] == '/') {
            t += 2;
            m -= 2;
        }
        if ((m == 1 && t[0] == '*') || (m == elen && memcmp(t, etag, m) == 0)) {
            return true;
        }
        p += n;
    }
    return false;
}
