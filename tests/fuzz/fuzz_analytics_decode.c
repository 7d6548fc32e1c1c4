/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the Kafka message values vexfs-analytics decodes (an_decoder, which reads only
 * the fields the queries name), against protobuf-c's full unpack of the same bytes.
 *
 * Whenever protobuf-c accepts the bytes, the decoder must accept them too and read the same
 * value for every field a query can name (path, tenant, type, priority, content.size,
 * content.k, metadata.user_id, metadata.tag) and the same times. The decoder may accept bytes
 * protobuf-c refuses (what lies inside fields no query reads is not checked), and refuses a
 * field number 0 that protobuf-c keeps as an unknown field when its tag takes two bytes or
 * more. The decoder runs twice per input, with its memory reused, as the daemon runs it.
 * fuzz-sources: services/analytics/an_decode.c services/analytics/an_query.c */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/analytics/an_decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static an_decoder_t *s_dec;
static struct an_field s_fields[8];

static void
s_init(void)
{
    const char *q =
        "{\"id\":\"all\",\"filters\":[{\"field\":\"path\",\"op\":\"prefix\",\"value\":\"/\"},"
        "{\"field\":\"tenant\",\"op\":\"ne\",\"value\":\"x\"},"
        "{\"field\":\"type\",\"op\":\"ne\",\"value\":\"x\"},"
        "{\"field\":\"content.k\",\"op\":\"ne\",\"value\":\"x\"},"
        "{\"field\":\"metadata.tag\",\"op\":\"ne\",\"value\":\"x\"}],"
        "\"window\":{\"kind\":\"tumbling\",\"size_ms\":1000},"
        "\"group_by\":[\"metadata.user_id\",\"priority\"],"
        "\"aggregations\":[{\"fn\":\"sum\",\"field\":\"content.size\"}]}";
    static const char *const names[] = {"path",      "tenant",       "type",
                                        "priority",  "content.size", "content.k",
                                        "metadata.user_id", "metadata.tag"};
    json_t *j = json_loads(q, 0, NULL);
    struct an_query *query = NULL;
    char err[256];
    if (!j || an_query_parse(j, &query, err, sizeof err) < 0) {
        abort();
    }
    json_decref(j);
    s_dec = an_decoder_new();
    an_decoder_plan(s_dec, &query, 1);
    an_query_destroy(&query);
    for (size_t i = 0; i < 8; i++) {
        if (an_field_parse(names[i], &s_fields[i], err, sizeof err) < 0) {
            abort();
        }
    }
}

static bool
s_has_field_zero(const ProtobufCMessage *m)
{
    for (unsigned i = 0; i < m->n_unknown_fields; i++) {
        if (m->unknown_fields[i].tag == 0) {
            return true;
        }
    }
    return false;
}

/* Whether protobuf-c kept a field number 0, at the top or in a map entry. */
static bool
s_field_zero(const vx_event_t *e)
{
    bool z = s_has_field_zero(&e->base);
    for (size_t i = 0; i < e->n_content; i++) {
        z |= s_has_field_zero(&e->content[i]->base);
    }
    for (size_t i = 0; i < e->n_metadata; i++) {
        z |= s_has_field_zero(&e->metadata[i]->base);
    }
    return z;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!s_dec) {
        s_init();
    }
    vx_event_t *full = vexfs__v1__event__unpack(NULL, size, data);
    for (int round = 0; round < 2; round++) {
        vx_event_t part;
        int rc = an_decoder_decode(s_dec, data, size, &part);
        if (!full) {
            continue; /* refused by protobuf-c: the decoder may refuse or accept */
        }
        if (rc != 0 && s_field_zero(full)) {
            continue;
        }
        if (rc != 0) {
            fprintf(stderr, "protobuf-c accepts, the decoder refuses (%d)\n", rc);
            abort();
        }
        if (part.type != full->type || part.timestamp_ns != full->timestamp_ns ||
            part.ingest_ns != full->ingest_ns || part.priority != full->priority) {
            fprintf(stderr, "type, times or priority differ\n");
            abort();
        }
        for (size_t i = 0; i < 8; i++) {
            char b1[32], b2[32];
            const char *x = an_field_text(&s_fields[i], full, b1, sizeof b1);
            const char *y = an_field_text(&s_fields[i], &part, b2, sizeof b2);
            if ((x == NULL) != (y == NULL) || (x && strcmp(x, y) != 0)) {
                fprintf(stderr, "%s: \"%s\" and \"%s\"\n", s_fields[i].name, x ? x : "(none)",
                        y ? y : "(none)");
                abort();
            }
        }
    }
    if (full) {
        vexfs__v1__event__free_unpacked(full, NULL);
    }
    return 0;
}
