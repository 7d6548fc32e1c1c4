/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the routing tests: engines from JSON text (events on the stack come from
 * vt_event.h). */
#ifndef RT_TEST_H
#define RT_TEST_H

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "rt_engine.h"
#include "vt_event.h"

static inline json_t *
rt_json(const char *text)
{
    if (text == NULL) {
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loads(text, JSON_ALLOW_NUL, &je);
    ck_assert_msg(j != NULL, "test JSON: %s at %d: %s", je.text, je.position, text);
    return j;
}

/* Builds an engine from JSON text; fails the test with the engine's message on error. */
static inline rt_engine_t *
rt_engine_from(const char *rules, const char *filters, const char *default_boundary)
{
    json_t *r = rt_json(rules);
    json_t *f = rt_json(filters);
    struct rt_engine_opts o = {.default_boundary = default_boundary};
    rt_engine_t *e = NULL;
    char err[512] = "";
    int rc = rt_engine_build(r, f, &o, &e, err, sizeof err);
    json_decref(r);
    json_decref(f);
    ck_assert_msg(rc == 0, "build failed (%d): %s", rc, err);
    return e;
}

/* Builds and expects failure; returns the return code, message copied to err. */
static inline int
rt_engine_fail(const char *rules, const char *filters, const struct rt_engine_opts *o, char *err,
               size_t errlen)
{
    json_t *r = rt_json(rules);
    json_t *f = rt_json(filters);
    rt_engine_t *e = NULL;
    err[0] = '\0';
    int rc = rt_engine_build(r, f, o, &e, err, errlen);
    json_decref(r);
    json_decref(f);
    ck_assert_msg(rc < 0, "build unexpectedly succeeded");
    ck_assert_ptr_null(e);
    return rc;
}

/* Matched rule ids in order, comma separated, for compact assertions. */
static inline const char *
rt_rules_str(const rt_engine_t *e, const struct rt_decision *d, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < d->n_rules && n < len; i++) {
        n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? "," : "",
                              rt_engine_rule_id(e, d->rules[i]));
    }
    return buf;
}

/* The boundary bit of name in e. */
static inline uint64_t
rt_bit(const rt_engine_t *e, const char *name)
{
    int i = rt_engine_boundary_index(e, name);
    ck_assert_msg(i >= 0, "no boundary %s", name);
    return 1ULL << i;
}

static inline const char *
rt_tag_value(const struct rt_decision *d, const char *key)
{
    for (uint32_t i = 0; i < d->n_tags; i++) {
        if (strcmp(d->tags[i].key, key) == 0) {
            return d->tags[i].value;
        }
    }
    return NULL;
}

static inline int
rt_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

#endif
