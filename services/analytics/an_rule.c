/* SPDX-License-Identifier: Apache-2.0 */
/* Validation of alert rules. */
#include "an_rule.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vx_mem.h"

#define S_MAX_FOR_MS 86400000ULL

static const char *const s_cond_names[] = {">", ">=", "<", "<=", "==", "!="};
static const char *const s_severities[] = {"info", "warning", "critical"};

const char *
an_cond_name(enum an_cond c)
{
    return s_cond_names[c];
}

bool
an_rule_holds(const struct an_rule *r, double v)
{
    switch (r->cond) {
    case AN_COND_GT:
        return v > r->threshold;
    case AN_COND_GE:
        return v >= r->threshold;
    case AN_COND_LT:
        return v < r->threshold;
    case AN_COND_LE:
        return v <= r->threshold;
    case AN_COND_EQ:
        return v == r->threshold;
    case AN_COND_NE:
        return v != r->threshold;
    }
    return false;
}

static bool
s_http_url(const char *s)
{
    const char *rest = strncmp(s, "http://", 7) == 0    ? s + 7
                       : strncmp(s, "https://", 8) == 0 ? s + 8
                                                        : NULL;
    if (!rest || !*rest || *rest == '/' || strlen(s) > AN_RULE_MAX_URL) {
        return false;
    }
    for (const char *p = s; *p; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            return false;
        }
    }
    return true;
}

static bool
s_metric_name(const char *s)
{
    if (!*s || strlen(s) > 200 || !(isalpha((unsigned char)*s) || *s == '_' || *s == ':')) {
        return false;
    }
    for (const char *p = s; *p; p++) {
        if (!(isalnum((unsigned char)*p) || *p == '_' || *p == ':')) {
            return false;
        }
    }
    return true;
}

static bool
s_label_name(const char *s)
{
    if (!*s || strlen(s) > 100 || !(isalpha((unsigned char)*s) || *s == '_')) {
        return false;
    }
    for (const char *p = s; *p; p++) {
        if (!(isalnum((unsigned char)*p) || *p == '_')) {
            return false;
        }
    }
    return true;
}

static bool
s_rule_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > AN_RULE_MAX_NAME) {
        return false;
    }
    for (const char *p = s; *p; p++) {
        if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '-' || *p == '.')) {
            return false;
        }
    }
    return true;
}

/* An address for SMTP: something@something, no spaces, brackets or line breaks. */
static bool
s_address(const char *s)
{
    const char *at = strchr(s, '@');
    if (!at || at == s || !at[1] || strlen(s) > 254) {
        return false;
    }
    for (const char *p = s; *p; p++) {
        if ((unsigned char)*p <= ' ' || strchr("<>,;\"", *p)) {
            return false;
        }
    }
    return true;
}

/* Each action is checked against its kind's members (webhook: url; email: to) before any is
 * kept, so a rule with one bad action is refused as a whole. */
static int
s_actions(json_t *arr, struct an_rule *r, char *err, size_t errlen)
{
    if (!json_is_array(arr)) {
        snprintf(err, errlen, "actions: expected an array");
        return -EINVAL;
    }
    if (json_array_size(arr) > AN_RULE_MAX_ACTIONS) {
        snprintf(err, errlen, "actions: at most %d", AN_RULE_MAX_ACTIONS);
        return -EINVAL;
    }
    r->actions = vx_calloc(json_array_size(arr) + 1, sizeof *r->actions);
    size_t i;
    json_t *a;
    json_array_foreach(arr, i, a) {
        if (!json_is_object(a)) {
            snprintf(err, errlen, "actions[%zu]: expected an object", i);
            return -EINVAL;
        }
        const char *k;
        json_t *v;
        json_object_foreach(a, k, v) {
            if (strcmp(k, "type") != 0 && strcmp(k, "url") != 0 && strcmp(k, "to") != 0) {
                snprintf(err, errlen, "actions[%zu]: unknown member '%.64s'", i, k);
                return -EINVAL;
            }
        }
        const char *type = json_string_value(json_object_get(a, "type"));
        struct an_action *act = &r->actions[r->n_actions++];
        if (type && strcmp(type, "webhook") == 0) {
            act->type = AN_ACTION_WEBHOOK;
            const char *url = json_string_value(json_object_get(a, "url"));
            if (!url || !s_http_url(url)) {
                snprintf(err, errlen, "actions[%zu].url: expected an http:// or https:// URL", i);
                return -EINVAL;
            }
            if (json_object_get(a, "to")) {
                snprintf(err, errlen, "actions[%zu].to: only for email actions", i);
                return -EINVAL;
            }
            act->url = vx_strdup(url);
        } else if (type && strcmp(type, "email") == 0) {
            act->type = AN_ACTION_EMAIL;
            if (json_object_get(a, "url")) {
                snprintf(err, errlen, "actions[%zu].url: only for webhook actions", i);
                return -EINVAL;
            }
            json_t *to = json_object_get(a, "to");
            if (to && (!json_is_array(to) || json_array_size(to) > AN_RULE_MAX_RCPT)) {
                snprintf(err, errlen, "actions[%zu].to: expected an array of at most %d addresses",
                         i, AN_RULE_MAX_RCPT);
                return -EINVAL;
            }
            act->to = vx_calloc(json_array_size(to) + 1, sizeof *act->to);
            size_t k2;
            json_t *t;
            json_array_foreach(to, k2, t) {
                if (!json_is_string(t) || !s_address(json_string_value(t))) {
                    snprintf(err, errlen, "actions[%zu].to[%zu]: expected an address user@host", i,
                             k2);
                    return -EINVAL;
                }
                act->to[act->n_to++] = vx_strdup(json_string_value(t));
            }
        } else {
            snprintf(err, errlen, "actions[%zu].type: expected \"webhook\" or \"email\"", i);
            return -EINVAL;
        }
    }
    return 0;
}

static const char *const s_members[] = {"name",      "target", "metric",   "labels", "condition",
                                        "threshold", "for_ms", "severity", "actions"};

/* labels: optional, at most AN_RULE_MAX_LABELS label: string pairs the series must carry. */
static int
s_labels(json_t *labels, struct an_rule *r, char *err, size_t errlen)
{
    const char *k;
    json_t *v;
    if (labels) {
        if (!json_is_object(labels) || json_object_size(labels) > AN_RULE_MAX_LABELS) {
            snprintf(err, errlen, "labels: expected an object of at most %d label: value pairs",
                     AN_RULE_MAX_LABELS);
            return -EINVAL;
        }
        r->label_keys = vx_calloc(json_object_size(labels) + 1, sizeof *r->label_keys);
        r->label_values = vx_calloc(json_object_size(labels) + 1, sizeof *r->label_values);
        json_object_foreach(labels, k, v) {
            if (!s_label_name(k) || !json_is_string(v) || json_string_length(v) > 1024) {
                snprintf(err, errlen, "labels.%.64s: expected a label name with a string value", k);
                return -EINVAL;
            }
            r->label_keys[r->n_labels] = vx_strdup(k);
            r->label_values[r->n_labels++] = vx_strdup(json_string_value(v));
        }
    }
    return 0;
}

/* condition, threshold, for_ms (default 0) and severity (default warning). */
static int
s_condition(json_t *obj, struct an_rule *r, char *err, size_t errlen)
{
    const char *cond = json_string_value(json_object_get(obj, "condition"));
    json_t *thr = json_object_get(obj, "threshold");
    json_t *for_ms = json_object_get(obj, "for_ms");
    json_t *sev = json_object_get(obj, "severity");
    bool cond_ok = false;
    for (size_t i = 0; cond && i < sizeof s_cond_names / sizeof s_cond_names[0]; i++) {
        if (strcmp(cond, s_cond_names[i]) == 0) {
            r->cond = (enum an_cond)i;
            cond_ok = true;
        }
    }
    if (!cond_ok) {
        snprintf(err, errlen, "condition: expected one of > >= < <= == !=");
        return -EINVAL;
    }
    if (!json_is_number(thr) || !isfinite(json_number_value(thr))) {
        snprintf(err, errlen, "threshold: expected a number");
        return -EINVAL;
    }
    r->threshold = json_number_value(thr);
    if (for_ms && (!json_is_integer(for_ms) || json_integer_value(for_ms) < 0 ||
                   (unsigned long long)json_integer_value(for_ms) > S_MAX_FOR_MS)) {
        snprintf(err, errlen, "for_ms: expected an integer 0..%llu", S_MAX_FOR_MS);
        return -EINVAL;
    }
    r->for_ms = for_ms ? (uint64_t)json_integer_value(for_ms) : 0;
    const char *severity = sev ? json_string_value(sev) : "warning";
    bool sev_ok = false;
    for (size_t i = 0; severity && i < sizeof s_severities / sizeof s_severities[0]; i++) {
        sev_ok |= strcmp(severity, s_severities[i]) == 0;
    }
    if (!sev_ok) {
        snprintf(err, errlen, "severity: expected info, warning or critical");
        return -EINVAL;
    }
    r->severity = vx_strdup(severity);
    return 0;
}

/* Checks the members in a fixed order (so the first error named does not depend on the JSON's
 * order); every member is checked before the rule is returned, so a bad rule changes nothing.
 * The stored JSON gets the defaults filled in (for_ms, severity, labels, actions) so GET shows
 * what is in force. */
int
an_rule_parse(json_t *obj, struct an_rule **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!json_is_object(obj)) {
        snprintf(err, errlen, "expected a rule object");
        return -EINVAL;
    }
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        bool known = false;
        for (size_t i = 0; i < sizeof s_members / sizeof s_members[0] && !known; i++) {
            known = strcmp(k, s_members[i]) == 0;
        }
        if (!known) {
            snprintf(err, errlen, "unknown member '%.64s'", k);
            return -EINVAL;
        }
    }
    struct an_rule *r = vx_calloc(1, sizeof *r);
    int rc = -EINVAL;
    const char *name = json_string_value(json_object_get(obj, "name"));
    const char *target = json_string_value(json_object_get(obj, "target"));
    const char *metric = json_string_value(json_object_get(obj, "metric"));
    json_t *labels = json_object_get(obj, "labels");
    json_t *actions = json_object_get(obj, "actions");
    if (!name || !s_rule_name(name)) {
        snprintf(err, errlen, "name: expected 1..%d characters of A-Z a-z 0-9 _ - .",
                 AN_RULE_MAX_NAME);
        goto out;
    }
    r->name = vx_strdup(name);
    if (!target || !s_http_url(target)) {
        snprintf(err, errlen, "target: expected the http:// or https:// URL of a /metrics page");
        goto out;
    }
    r->target = vx_strdup(target);
    if (!metric || !s_metric_name(metric)) {
        snprintf(err, errlen, "metric: expected a Prometheus metric name");
        goto out;
    }
    r->metric = vx_strdup(metric);
    if (s_labels(labels, r, err, errlen) < 0) {
        goto out;
    }
    if (s_condition(obj, r, err, errlen) < 0) {
        goto out;
    }
    if (actions && s_actions(actions, r, err, errlen) < 0) {
        goto out;
    }
    r->json = json_deep_copy(obj);
    json_object_set_new(r->json, "for_ms", json_integer((json_int_t)r->for_ms));
    json_object_set_new(r->json, "severity", json_string(r->severity));
    if (!labels) {
        json_object_set_new(r->json, "labels", json_object());
    }
    if (!actions) {
        json_object_set_new(r->json, "actions", json_array());
    }
    *out = r;
    r = NULL;
    rc = 0;
out:
    an_rule_destroy(&r);
    return rc;
}

void
an_rule_destroy(struct an_rule **rp)
{
    struct an_rule *r = *rp;
    if (!r) {
        return;
    }
    free(r->name);
    free(r->target);
    free(r->metric);
    for (size_t i = 0; i < r->n_labels; i++) {
        free(r->label_keys[i]);
        free(r->label_values[i]);
    }
    free(r->label_keys);
    free(r->label_values);
    free(r->severity);
    for (size_t i = 0; i < r->n_actions; i++) {
        free(r->actions[i].url);
        for (size_t k = 0; k < r->actions[i].n_to; k++) {
            free(r->actions[i].to[k]);
        }
        free(r->actions[i].to);
    }
    free(r->actions);
    json_decref(r->json);
    free(r);
    *rp = NULL;
}
