/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: a CEP pattern set in JSON, as PUT /v1/patterns and patterns_file give it.
 * fuzz-sources: services/automation/au_pattern.c services/automation/au_expr.c
 * fuzz-sources: services/automation/au_engine.c services/automation/au_engine_match.c
 * fuzz-sources: services/automation/au_engine_clock.c services/automation/au_wheel.c
 *
 * Bytes are parsed the way the REST layer parses a body (duplicate keys rejected; one object
 * is taken as a set of one) and handed to au_engine_new, once with processing time and once
 * with event time as the default. A rejection must build nothing and say why. An accepted set
 * keeps every pattern as given and then runs a fixed stream of events (every type the
 * patterns can name, two tenants, fields for conditions, event times out of order, late and
 * missing) with a small reorder budget: partial matches stay under the cap, held events
 * within the budget, and a long silence releases everything held. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/automation/au_engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define S_MAX_PARTIALS 8
#define S_REORDER 2048
#define S_T0 1700000000000000000ULL

static void
cb_alert(const struct au_alert *a, void *arg)
{
    (*(uint64_t *)arg)++;
    if (a->n_kept > 0) {
        json_decref(au_alert_events_json(a));
    }
}

static void
s_stream(au_engine_t *e)
{
    static const char *const paths[] = {"/data/a.log", "/srv/p1/x.txt", "", "/a"};
    static const char *const users[] = {"u1", "u2", "42", ""};
    for (uint32_t i = 0; i < 96; i++) {
        vx_event_t ev;
        vexfs__v1__event__init(&ev);
        Vexfs__V1__Event__MetadataEntry me, *mp = &me;
        Vexfs__V1__Event__ContentEntry ce, *cp = &ce;
        vexfs__v1__event__metadata_entry__init(&me);
        vexfs__v1__event__content_entry__init(&ce);
        me.key = (char *)"user_id";
        me.value = (char *)users[i % 4];
        ce.key = (char *)"size";
        ce.value = (char *)users[(i / 4) % 4];
        ev.type = (Vexfs__V1__EventType)(1 + i % 20);
        ev.path = (char *)paths[(i / 3) % 4];
        ev.tenant = (char *)(i % 7 == 0 ? "acme" : "");
        ev.priority = i % 11;
        ev.metadata = &mp;
        ev.n_metadata = 1;
        ev.content = &cp;
        ev.n_content = 1;
        /* mostly forward, some behind, some far ahead, some without a time */
        uint64_t off = (uint64_t)i * 40000000ULL;
        if (i % 5 == 3) {
            off -= i > 10 ? 300000000ULL : 0;
        } else if (i % 17 == 0) {
            off += 5000000000ULL;
        }
        ev.timestamp_ns = i % 13 == 12 ? 0 : S_T0 + off;
        au_engine_on_event(e, &ev, (uint64_t)i * 1000000ULL);
    }
}

static void
s_run(json_t *set, enum au_time_mode mode)
{
    uint64_t alerts = 0;
    struct au_engine_opts o = {
        .max_partials = S_MAX_PARTIALS,
        .on_alert = cb_alert,
        .arg = &alerts,
        .max_match_events = 4,
        .time_mode = mode,
        .allowed_lateness_ns = 100000000ULL,
        .idle_timeout_ns = 1000000000ULL,
        .max_reorder_bytes = S_REORDER,
    };
    au_engine_t *e = NULL;
    char err[1024] = "";
    int rc = au_engine_new(set, &o, &e, err, sizeof err);
    if (rc < 0) {
        if (e != NULL || err[0] == '\0') {
            abort();
        }
        return;
    }
    json_t *back = au_engine_patterns_json(e);
    if (!json_equal(back, set)) {
        abort();
    }
    json_decref(back);
    s_stream(e);
    struct au_engine_stats st;
    au_engine_stats(e, &st);
    if (st.partials > (uint64_t)S_MAX_PARTIALS * au_engine_pattern_count(e)) {
        abort();
    }
    if (st.held_events > 1 && st.held_bytes > S_REORDER) {
        abort();
    }
    au_engine_advance(e, 1000ULL * 1000000000ULL);
    au_engine_stats(e, &st);
    if (st.held_events != 0) {
        abort();
    }
    au_engine_destroy(&e);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (doc == NULL) {
        return 0;
    }
    if (json_is_object(doc)) {
        json_t *arr = json_array();
        json_array_append_new(arr, doc);
        doc = arr;
    }
    s_run(doc, AU_TIME_PROCESSING);
    s_run(doc, AU_TIME_EVENT);
    json_decref(doc);
    return 0;
}
