/* SPDX-License-Identifier: Apache-2.0 */
/* Entity tags of definition sets (rules, filters, patterns, workflows, queries, alert rules),
 * so that a client that read a set can change it only if nobody changed it since:
 *
 *   GET  answers with ETag: "<tag>" (and "etag" in the body);
 *   PUT / PATCH of the set with If-Match: "<tag>" is refused with 412 version_conflict, and
 *   changes nothing, when the set's tag is no longer <tag>.
 *
 * A tag is a hash of the set's content (each definition as stored, keyed by its id, keys
 * sorted), so it needs no state, survives restarts, is per tenant where sets are, and a
 * change through any route (one object's PUT or DELETE, a file reload) moves it. */
#ifndef VX_ETAG_H
#define VX_ETAG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define VX_ETAG_LEN 24 /* "\"" + 16 hex digits + "\"" + NUL, with room */

/* The tag of defs (an array of objects, borrowed), each identified by its string member key;
 * written quoted, as HTTP sends it, into out. Order of defs does not matter. */
void vx_etag_of(json_t *defs, const char *key, char out[VX_ETAG_LEN]);

/* The tag of a version number: "\"v<version>\"". */
void vx_etag_version(uint64_t version, char out[VX_ETAG_LEN]);

/* Whether an If-Match header (may be NULL: absent) lets a write of a set whose tag is etag go
 * ahead: absent, "*", or a list of tags (separated by commas, weak W/ prefixes ignored) that
 * holds etag. */
bool vx_etag_matches(const char *if_match, const char *etag);

#endif
