/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the automation tests: engines from JSON text and an alert recorder (events
 * on the stack come from vt_event.h). */
#ifndef AU_TEST_H
#define AU_TEST_H

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "au_engine.h"
#include "vx_clock.h"
#include "vt_event.h"

#define AU_TEST_MAX_ALERTS 64
#define MS(x) ((uint64_t)(x) * VX_NS_PER_MS)

/* Alerts seen, as "pattern/partition/n_events" strings. */
struct au_rec {
    int n;
    char what[AU_TEST_MAX_ALERTS][160];
    uint64_t time_ns[AU_TEST_MAX_ALERTS];
    enum au_severity severity[AU_TEST_MAX_ALERTS];
};

static inline void
au_rec_cb(const struct au_alert *a, void *arg)
{
    struct au_rec *r = arg;
    ck_assert_int_lt(r->n, AU_TEST_MAX_ALERTS);
    snprintf(r->what[r->n], sizeof r->what[0], "%s/%s/%u", a->pattern_id, a->partition,
             a->n_events);
    r->time_ns[r->n] = a->time_ns;
    r->severity[r->n] = a->severity;
    r->n++;
}

/* Builds an engine from JSON text (one pattern object or an array) recording into rec. */
static inline au_engine_t *
au_engine_from(const char *text, uint32_t max_partials, struct au_rec *rec)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    ck_assert_msg(j != NULL, "test JSON: %s: %s", je.text, text);
    if (json_is_object(j)) {
        json_t *a = json_array();
        json_array_append_new(a, j);
        j = a;
    }
    memset(rec, 0, sizeof *rec);
    struct au_engine_opts o = {.max_partials = max_partials, .on_alert = au_rec_cb, .arg = rec};
    au_engine_t *e = NULL;
    char err[512] = "";
    int rc = au_engine_new(j, &o, &e, err, sizeof err);
    json_decref(j);
    ck_assert_msg(rc == 0, "engine failed (%d): %s", rc, err);
    return e;
}

/* Expects the pattern set to be rejected; returns the code, message in err. */
static inline int
au_engine_fail(const char *text, char *err, size_t errlen)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    ck_assert_msg(j != NULL, "test JSON: %s: %s", je.text, text);
    if (json_is_object(j)) {
        json_t *a = json_array();
        json_array_append_new(a, j);
        j = a;
    }
    au_engine_t *e = NULL;
    err[0] = '\0';
    int rc = au_engine_new(j, NULL, &e, err, errlen);
    json_decref(j);
    ck_assert_msg(rc < 0, "engine unexpectedly built: %s", text);
    ck_assert_ptr_null(e);
    return rc;
}

/* Feeds an event of type with path and optional user_id metadata at time ms. */
static inline void
au_feed(au_engine_t *e, const char *type, const char *path, const char *user, uint64_t ms)
{
    struct vt_tev t;
    vt_tev_init(&t, type, path);
    if (user != NULL) {
        vt_tev_meta(&t, "user_id", user);
    }
    au_engine_on_event(e, &t.ev, MS(ms));
}

static inline int
au_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

#endif
