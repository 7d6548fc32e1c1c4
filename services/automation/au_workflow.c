/* SPDX-License-Identifier: Apache-2.0 */
/* Workflow validation (see au_workflow.h for the schema). Every rejection names the workflow,
 * the field path and the reason. */
#include "au_workflow.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "au_expr.h"
#include "vx_event.h"
#include "vx_mem.h"

struct s_ctx {
    char *err;
    size_t errlen;
    const char *id;
    struct au_workflow *w;
};

__attribute__((format(printf, 2, 3))) static int
s_err(struct s_ctx *c, const char *fmt, ...)
{
    int n = c->id ? snprintf(c->err, c->errlen, "workflow \"%.128s\": ", c->id)
                  : snprintf(c->err, c->errlen, "workflow: ");
    if (n < 0 || (size_t)n >= c->errlen) {
        return -EINVAL;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* Rejects keys outside allowed (NULL-terminated). */
static int
s_keys(struct s_ctx *c, json_t *o, const char *where, const char *const *allowed)
{
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        bool ok = false;
        for (size_t i = 0; allowed[i] != NULL && !ok; i++) {
            ok = strcmp(k, allowed[i]) == 0;
        }
        if (!ok) {
            return s_err(c, "%s%sunknown key \"%.100s\"", where, where[0] ? ": " : "", k);
        }
    }
    return 0;
}

static bool
s_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > AU_WF_MAX_ID) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == ':' || ch == '-')) {
            return false;
        }
    }
    return true;
}

/* An optional integer field in lo..hi; def when absent. */
static int
s_int(struct s_ctx *c, json_t *o, const char *where, const char *key, long long lo, long long hi,
      long long def, long long *out)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        return s_err(c, "%s%s: expected an integer %lld..%lld", where, key, lo, hi);
    }
    *out = json_integer_value(v);
    return 0;
}

static int
s_tmpl(struct s_ctx *c, json_t *t, const char *where)
{
    char why[512];
    if (au_template_check(t, where, why, sizeof why) < 0) {
        return s_err(c, "%s", why);
    }
    return 0;
}

static const char *const s_act_names[] = {"script", "http", "emit", "set_state", "delay", NULL};

static int
s_action(struct s_ctx *c, json_t *a, const char *where, struct au_act *out)
{
    char sub[300];
    if (a == NULL) {
        return s_err(c, "%s: missing", where);
    }
    if (!json_is_object(a)) {
        return s_err(c, "%s: expected an object with \"kind\"", where);
    }
    out->json = a;
    json_t *k = json_object_get(a, "kind");
    if (k == NULL) {
        return s_err(c, "%s.kind: missing", where);
    }
    int kind = -1;
    for (int i = 0; json_is_string(k) && s_act_names[i] != NULL; i++) {
        if (strcmp(json_string_value(k), s_act_names[i]) == 0) {
            kind = i;
        }
    }
    if (kind < 0) {
        return s_err(c, "%s.kind: unknown step kind \"%.64s\" (expected script, http, emit, "
                        "set_state or delay)",
                     where, json_is_string(k) ? json_string_value(k) : "(not a string)");
    }
    out->kind = (enum au_act_kind)kind;
    int rc = 0;
    switch (out->kind) {
    case AU_ACT_SCRIPT: {
        static const char *const keys[] = {"kind", "interpreter", "content", "path", "args",
                                           "env", NULL};
        snprintf(sub, sizeof sub, "%s", where);
        rc = s_keys(c, a, sub, keys);
        if (rc < 0) {
            return rc;
        }
        json_t *in = json_object_get(a, "interpreter");
        const char *is = json_string_value(in);
        if (is == NULL || (strcmp(is, "bash") != 0 && strcmp(is, "python") != 0)) {
            return s_err(c, "%s.interpreter: expected \"bash\" or \"python\"", where);
        }
        out->python = strcmp(is, "python") == 0;
        json_t *ct = json_object_get(a, "content");
        json_t *pt = json_object_get(a, "path");
        if ((ct == NULL) == (pt == NULL)) {
            return s_err(c, "%s: exactly one of \"content\" or \"path\" is required", where);
        }
        if (ct != NULL && (!json_is_string(ct) || json_string_length(ct) == 0 ||
                           strlen(json_string_value(ct)) != json_string_length(ct))) {
            return s_err(c, "%s.content: expected a non-empty string without NUL", where);
        }
        if (pt != NULL && (!json_is_string(pt) || json_string_value(pt)[0] != '/')) {
            return s_err(c, "%s.path: expected an absolute path", where);
        }
        out->content = json_string_value(ct);
        out->path = json_string_value(pt);
        out->args = json_object_get(a, "args");
        if (out->args != NULL) {
            if (!json_is_array(out->args) || json_array_size(out->args) > 64) {
                return s_err(c, "%s.args: expected an array of at most 64 templates", where);
            }
            snprintf(sub, sizeof sub, "%s.args", where);
            rc = s_tmpl(c, out->args, sub);
        }
        out->env = json_object_get(a, "env");
        if (rc == 0 && out->env != NULL) {
            if (!json_is_object(out->env) || json_object_size(out->env) > 64) {
                return s_err(c, "%s.env: expected an object of at most 64 names", where);
            }
            const char *name;
            json_t *v;
            json_object_foreach(out->env, name, v) {
                bool ok = name[0] != '\0' && !(name[0] >= '0' && name[0] <= '9');
                for (const char *p = name; *p && ok; p++) {
                    ok = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                         (*p >= '0' && *p <= '9') || *p == '_';
                }
                if (!ok) {
                    return s_err(c, "%s.env: \"%.64s\" is not a variable name ([A-Za-z_][A-Za-z0-9_]*)",
                                 where, name);
                }
            }
            snprintf(sub, sizeof sub, "%s.env", where);
            rc = s_tmpl(c, out->env, sub);
        }
        return rc;
    }
    case AU_ACT_HTTP: {
        static const char *const keys[] = {"kind", "method", "url", "headers", "body",
                                           "expect_status", NULL};
        rc = s_keys(c, a, where, keys);
        if (rc < 0) {
            return rc;
        }
        static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD",
                                              NULL};
        json_t *m = json_object_get(a, "method");
        out->method = "GET";
        if (m != NULL) {
            bool ok = false;
            for (size_t i = 0; json_is_string(m) && methods[i] && !ok; i++) {
                ok = strcmp(json_string_value(m), methods[i]) == 0;
            }
            if (!ok) {
                return s_err(c, "%s.method: expected GET, POST, PUT, PATCH, DELETE or HEAD",
                             where);
            }
            out->method = json_string_value(m);
        }
        json_t *u = json_object_get(a, "url");
        if (u == NULL) {
            return s_err(c, "%s.url: missing", where);
        }
        if (!json_is_string(u) || (strncmp(json_string_value(u), "http://", 7) != 0 &&
                                   strncmp(json_string_value(u), "https://", 8) != 0 &&
                                   strncmp(json_string_value(u), "{{", 2) != 0)) {
            return s_err(c, "%s.url: expected an http:// or https:// URL", where);
        }
        out->url = json_string_value(u);
        snprintf(sub, sizeof sub, "%s.url", where);
        rc = s_tmpl(c, u, sub);
        out->headers = json_object_get(a, "headers");
        if (rc == 0 && out->headers != NULL) {
            if (!json_is_object(out->headers) || json_object_size(out->headers) > 64) {
                return s_err(c, "%s.headers: expected an object of at most 64 headers", where);
            }
            const char *hn;
            json_t *hv;
            json_object_foreach(out->headers, hn, hv) {
                if (!json_is_string(hv) || hn[0] == '\0' || strpbrk(hn, ":\r\n ") != NULL) {
                    return s_err(c, "%s.headers.%.64s: expected a header name and a string",
                                 where, hn);
                }
            }
            snprintf(sub, sizeof sub, "%s.headers", where);
            rc = s_tmpl(c, out->headers, sub);
        }
        out->body = json_object_get(a, "body");
        if (rc == 0 && out->body != NULL) {
            snprintf(sub, sizeof sub, "%s.body", where);
            rc = s_tmpl(c, out->body, sub);
        }
        json_t *es = json_object_get(a, "expect_status");
        if (rc == 0 && es != NULL) {
            json_t *arr = json_is_integer(es) ? json_pack("[O]", es) : json_incref(es);
            bool ok = json_is_array(arr) && json_array_size(arr) >= 1 &&
                      json_array_size(arr) <= 16;
            size_t i;
            json_t *x;
            json_array_foreach(arr, i, x) {
                if (!ok) {
                    break;
                }
                ok = json_is_integer(x) && json_integer_value(x) >= 100 &&
                     json_integer_value(x) <= 599;
                if (ok) {
                    out->expect[out->n_expect++] = (int)json_integer_value(x);
                }
            }
            json_decref(arr);
            if (!ok) {
                return s_err(c, "%s.expect_status: expected a status 100..599 or a list of 1..16",
                             where);
            }
        }
        return rc;
    }
    case AU_ACT_EMIT: {
        static const char *const keys[] = {"kind", "event", NULL};
        rc = s_keys(c, a, where, keys);
        if (rc < 0) {
            return rc;
        }
        out->event = json_object_get(a, "event");
        if (out->event == NULL) {
            return s_err(c, "%s.event: missing", where);
        }
        if (!json_is_object(out->event) || !json_is_string(json_object_get(out->event, "type"))) {
            return s_err(c, "%s.event: expected an event object with a \"type\"", where);
        }
        snprintf(sub, sizeof sub, "%s.event", where);
        return s_tmpl(c, out->event, sub);
    }
    case AU_ACT_SET_STATE: {
        static const char *const keys[] = {"kind", "path", "value", NULL};
        rc = s_keys(c, a, where, keys);
        if (rc < 0) {
            return rc;
        }
        json_t *p = json_object_get(a, "path");
        if (!json_is_string(p) || !au_path_ok(json_string_value(p))) {
            return s_err(c, "%s.path: expected a dotted state path such as \"disk.usage\"", where);
        }
        out->state_path = json_string_value(p);
        out->value = json_object_get(a, "value");
        if (out->value == NULL) {
            return s_err(c, "%s.value: missing", where);
        }
        snprintf(sub, sizeof sub, "%s.value", where);
        return s_tmpl(c, out->value, sub);
    }
    case AU_ACT_DELAY: {
        static const char *const keys[] = {"kind", "ms", NULL};
        rc = s_keys(c, a, where, keys);
        if (rc < 0) {
            return rc;
        }
        if (json_object_get(a, "ms") == NULL) {
            return s_err(c, "%s.ms: missing", where);
        }
        long long ms = 0;
        snprintf(sub, sizeof sub, "%s.", where);
        rc = s_int(c, a, sub, "ms", 0, AU_WF_MAX_MS, 0, &ms);
        out->ms = (uint64_t)ms;
        return rc;
    }
    }
    return 0;
}

static int
s_retry(struct s_ctx *c, json_t *r, const char *where, struct au_retry *out)
{
    static const char *const keys[] = {"max_retries", "backoff", "base_delay_ms", "max_delay_ms",
                                       "jitter", NULL};
    out->base_ms = 100;
    out->max_ms = 60000;
    if (r == NULL) {
        return 0;
    }
    if (!json_is_object(r)) {
        return s_err(c, "%s: expected an object", where);
    }
    int rc = s_keys(c, r, where, keys);
    if (rc < 0) {
        return rc;
    }
    char sub[300];
    snprintf(sub, sizeof sub, "%s.", where);
    long long v = 0;
    rc = s_int(c, r, sub, "max_retries", 0, 100, 0, &v);
    out->max_retries = (uint32_t)v;
    if (rc == 0) {
        rc = s_int(c, r, sub, "base_delay_ms", 0, AU_WF_MAX_MS, 100, &v);
        out->base_ms = (uint64_t)v;
    }
    if (rc == 0) {
        rc = s_int(c, r, sub, "max_delay_ms", 0, AU_WF_MAX_MS, 60000, &v);
        out->max_ms = (uint64_t)v;
    }
    if (rc < 0) {
        return rc;
    }
    json_t *b = json_object_get(r, "backoff");
    if (b != NULL) {
        const char *bs = json_string_value(b);
        if (bs != NULL && strcmp(bs, "fixed") == 0) {
            out->backoff = AU_BACKOFF_FIXED;
        } else if (bs != NULL && strcmp(bs, "linear") == 0) {
            out->backoff = AU_BACKOFF_LINEAR;
        } else if (bs != NULL && strcmp(bs, "exponential") == 0) {
            out->backoff = AU_BACKOFF_EXPONENTIAL;
        } else {
            return s_err(c, "%s.backoff: expected fixed, linear or exponential", where);
        }
    }
    json_t *j = json_object_get(r, "jitter");
    if (j != NULL) {
        if (!json_is_number(j) || json_number_value(j) < 0 || json_number_value(j) > 1) {
            return s_err(c, "%s.jitter: expected a number 0..1", where);
        }
        out->jitter = json_number_value(j);
    }
    return 0;
}

/* Step ids seen so far, for uniqueness across the workflow. */
static bool
s_step_seen(const struct au_workflow *w, const char *id, const struct au_step *self);

static int
s_steps(struct s_ctx *c, json_t *arr, const char *where, bool required, struct au_steps *out)
{
    static const char *const keys[] = {"id", "action", "timeout_ms", "retry", "compensate", NULL};
    if (arr == NULL) {
        return required ? s_err(c, "%s: missing", where) : 0;
    }
    if (!json_is_array(arr) || json_array_size(arr) == 0 ||
        json_array_size(arr) > AU_WF_MAX_STEPS) {
        return s_err(c, "%s: expected an array of 1..%d steps", where, AU_WF_MAX_STEPS);
    }
    out->v = vx_calloc(json_array_size(arr), sizeof *out->v);
    size_t i;
    json_t *s;
    json_array_foreach(arr, i, s) {
        char sw[300], sub[340];
        snprintf(sw, sizeof sw, "%s[%zu]", where, i);
        if (!json_is_object(s)) {
            return s_err(c, "%s: expected a step object", sw);
        }
        int rc = s_keys(c, s, sw, keys);
        if (rc < 0) {
            return rc;
        }
        struct au_step *st = &out->v[out->n];
        json_t *id = json_object_get(s, "id");
        if (id == NULL) {
            return s_err(c, "%s.id: missing", sw);
        }
        if (!json_is_string(id) || !s_id_ok(json_string_value(id))) {
            return s_err(c, "%s.id: expected 1..%d characters of [A-Za-z0-9_.:-]", sw,
                         AU_WF_MAX_ID);
        }
        st->id = json_string_value(id);
        if (s_step_seen(c->w, st->id, st)) {
            return s_err(c, "%s.id: duplicate step id \"%s\"", sw, st->id);
        }
        out->n++;
        snprintf(sub, sizeof sub, "%s.action", sw);
        rc = s_action(c, json_object_get(s, "action"), sub, &st->act);
        if (rc < 0) {
            return rc;
        }
        json_t *comp = json_object_get(s, "compensate");
        if (comp != NULL) {
            snprintf(sub, sizeof sub, "%s.compensate", sw);
            rc = s_action(c, comp, sub, &st->comp);
            if (rc < 0) {
                return rc;
            }
            st->has_comp = true;
        }
        snprintf(sub, sizeof sub, "%s.", sw);
        long long t = 0;
        rc = s_int(c, s, sub, "timeout_ms", 1, AU_WF_MAX_MS, 30000, &t);
        if (rc < 0) {
            return rc;
        }
        st->timeout_ms = (uint64_t)t;
        snprintf(sub, sizeof sub, "%s.retry", sw);
        rc = s_retry(c, json_object_get(s, "retry"), sub, &st->retry);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

static bool
s_in(const struct au_steps *ss, const char *id, const struct au_step *self)
{
    for (uint32_t i = 0; i < ss->n; i++) {
        if (&ss->v[i] != self && strcmp(ss->v[i].id, id) == 0) {
            return true;
        }
    }
    return false;
}

static bool
s_step_seen(const struct au_workflow *w, const char *id, const struct au_step *self)
{
    if (s_in(&w->steps, id, self) || s_in(&w->join, id, self)) {
        return true;
    }
    for (uint32_t i = 0; i < w->n_branches; i++) {
        if (s_in(&w->branches[i].steps, id, self)) {
            return true;
        }
    }
    for (uint32_t i = 0; i < w->n_states; i++) {
        if (s_in(&w->states[i].steps, id, self)) {
            return true;
        }
    }
    return false;
}

const struct au_step *
au_workflow_step(const struct au_workflow *w, const char *id)
{
    const struct au_steps *lists[2] = {&w->steps, &w->join};
    for (int l = 0; l < 2; l++) {
        for (uint32_t i = 0; i < lists[l]->n; i++) {
            if (strcmp(lists[l]->v[i].id, id) == 0) {
                return &lists[l]->v[i];
            }
        }
    }
    for (uint32_t b = 0; b < w->n_branches; b++) {
        for (uint32_t i = 0; i < w->branches[b].steps.n; i++) {
            if (strcmp(w->branches[b].steps.v[i].id, id) == 0) {
                return &w->branches[b].steps.v[i];
            }
        }
    }
    for (uint32_t s = 0; s < w->n_states; s++) {
        for (uint32_t i = 0; i < w->states[s].steps.n; i++) {
            if (strcmp(w->states[s].steps.v[i].id, id) == 0) {
                return &w->states[s].steps.v[i];
            }
        }
    }
    return NULL;
}

static int
s_branches(struct s_ctx *c, json_t *arr)
{
    struct au_workflow *w = c->w;
    if (arr == NULL) {
        return s_err(c, "branches: missing (a conditional workflow needs them)");
    }
    if (!json_is_array(arr) || json_array_size(arr) == 0 ||
        json_array_size(arr) > AU_WF_MAX_BRANCHES) {
        return s_err(c, "branches: expected an array of 1..%d branches", AU_WF_MAX_BRANCHES);
    }
    w->branches = vx_calloc(json_array_size(arr), sizeof *w->branches);
    size_t i;
    json_t *b;
    json_array_foreach(arr, i, b) {
        static const char *const keys[] = {"when", "steps", NULL};
        char bw[64], sub[96];
        snprintf(bw, sizeof bw, "branches[%zu]", i);
        if (!json_is_object(b)) {
            return s_err(c, "%s: expected an object", bw);
        }
        int rc = s_keys(c, b, bw, keys);
        if (rc < 0) {
            return rc;
        }
        struct au_branch *br = &w->branches[w->n_branches++];
        br->when = json_object_get(b, "when");
        if (br->when == NULL && i + 1 != json_array_size(arr)) {
            return s_err(c, "%s.when: missing (only the last branch may omit it)", bw);
        }
        if (br->when != NULL) {
            char why[512];
            snprintf(sub, sizeof sub, "%s.when", bw);
            if (au_cond_check(br->when, sub, why, sizeof why) < 0) {
                return s_err(c, "%s", why);
            }
        }
        snprintf(sub, sizeof sub, "%s.steps", bw);
        rc = s_steps(c, json_object_get(b, "steps"), sub, true, &br->steps);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

static int32_t
s_state_index(const struct au_workflow *w, const char *name)
{
    for (uint32_t i = 0; i < w->n_states; i++) {
        if (strcmp(w->states[i].name, name) == 0) {
            return (int32_t)i;
        }
    }
    return -1;
}

/* Every state reachable from initial must reach a terminal state. */
static int
s_sm_exits(struct s_ctx *c)
{
    struct au_workflow *w = c->w;
    bool reach[AU_WF_MAX_STATES] = {false};
    bool exits[AU_WF_MAX_STATES] = {false};
    uint32_t stack[AU_WF_MAX_STATES * AU_WF_MAX_TRANSITIONS + 1];
    uint32_t n = 0;
    stack[n++] = w->initial;
    reach[w->initial] = true;
    while (n > 0) {
        const struct au_state *s = &w->states[stack[--n]];
        for (uint32_t t = 0; t < s->n_tr; t++) {
            if (!reach[s->tr[t].to]) {
                reach[s->tr[t].to] = true;
                stack[n++] = s->tr[t].to;
            }
        }
    }
    for (uint32_t i = 0; i < w->n_states; i++) {
        exits[i] = w->states[i].terminal;
    }
    for (bool changed = true; changed;) {
        changed = false;
        for (uint32_t i = 0; i < w->n_states; i++) {
            for (uint32_t t = 0; !exits[i] && t < w->states[i].n_tr; t++) {
                if (exits[w->states[i].tr[t].to]) {
                    exits[i] = true;
                    changed = true;
                }
            }
        }
    }
    char names[512] = "";
    size_t len = 0;
    uint32_t bad = 0;
    for (uint32_t i = 0; i < w->n_states; i++) {
        if (reach[i] && !exits[i]) {
            int k = snprintf(names + len, sizeof names - len, "%s\"%.64s\"", bad ? ", " : "",
                             w->states[i].name);
            if (k > 0 && (size_t)k < sizeof names - len) {
                len += (size_t)k;
            }
            bad++;
        }
    }
    if (bad > 0) {
        return s_err(c, "states: no terminal state is reachable from %s (a cycle or dead end "
                        "without an exit)",
                     names);
    }
    return 0;
}

static int
s_states(struct s_ctx *c, json_t *obj, json_t *initial)
{
    struct au_workflow *w = c->w;
    if (obj == NULL) {
        return s_err(c, "states: missing (a state_machine workflow needs them)");
    }
    if (!json_is_object(obj) || json_object_size(obj) == 0 ||
        json_object_size(obj) > AU_WF_MAX_STATES) {
        return s_err(c, "states: expected an object of 1..%d states", AU_WF_MAX_STATES);
    }
    w->states = vx_calloc(json_object_size(obj), sizeof *w->states);
    const char *name;
    json_t *s;
    json_object_foreach(obj, name, s) {
        if (!s_id_ok(name)) {
            return s_err(c, "states: \"%.64s\" is not a state name ([A-Za-z0-9_.:-])", name);
        }
        w->states[w->n_states++].name = name;
    }
    if (initial == NULL) {
        return s_err(c, "initial: missing");
    }
    int32_t ini = json_is_string(initial) ? s_state_index(w, json_string_value(initial)) : -1;
    if (ini < 0) {
        return s_err(c, "initial: expected the name of a state");
    }
    w->initial = (uint32_t)ini;
    bool any_terminal = false;
    for (uint32_t i = 0; i < w->n_states; i++) {
        static const char *const keys[] = {"steps", "terminal", "outcome", "wait_ms",
                                           "transitions", NULL};
        struct au_state *st = &w->states[i];
        char sw[128], sub[160];
        snprintf(sw, sizeof sw, "states.%s", st->name);
        s = json_object_get(obj, st->name);
        if (!json_is_object(s)) {
            return s_err(c, "%s: expected an object", sw);
        }
        int rc = s_keys(c, s, sw, keys);
        if (rc < 0) {
            return rc;
        }
        json_t *term = json_object_get(s, "terminal");
        if (term != NULL && !json_is_boolean(term)) {
            return s_err(c, "%s.terminal: expected true or false", sw);
        }
        st->terminal = json_is_true(term);
        any_terminal = any_terminal || st->terminal;
        json_t *oc = json_object_get(s, "outcome");
        if (oc != NULL) {
            const char *os = json_string_value(oc);
            if (!st->terminal || os == NULL ||
                (strcmp(os, "succeeded") != 0 && strcmp(os, "failed") != 0)) {
                return s_err(c, "%s.outcome: expected \"succeeded\" or \"failed\" on a terminal "
                                "state",
                             sw);
            }
            st->failed = strcmp(os, "failed") == 0;
        }
        snprintf(sub, sizeof sub, "%s.steps", sw);
        rc = s_steps(c, json_object_get(s, "steps"), sub, false, &st->steps);
        if (rc < 0) {
            return rc;
        }
        snprintf(sub, sizeof sub, "%s.", sw);
        long long wm = 0;
        rc = s_int(c, s, sub, "wait_ms", 0, AU_WF_MAX_MS, 60000, &wm);
        if (rc < 0) {
            return rc;
        }
        st->wait_ms = (uint64_t)wm;
        json_t *trs = json_object_get(s, "transitions");
        if (st->terminal) {
            if (trs != NULL) {
                return s_err(c, "%s.transitions: a terminal state has none", sw);
            }
            continue;
        }
        if (trs == NULL) {
            return s_err(c, "%s.transitions: missing (only a terminal state has none)", sw);
        }
        if (!json_is_array(trs) || json_array_size(trs) == 0 ||
            json_array_size(trs) > AU_WF_MAX_TRANSITIONS) {
            return s_err(c, "%s.transitions: expected an array of 1..%d transitions", sw,
                         AU_WF_MAX_TRANSITIONS);
        }
        st->tr = vx_calloc(json_array_size(trs), sizeof *st->tr);
        size_t k;
        json_t *t;
        json_array_foreach(trs, k, t) {
            static const char *const tkeys[] = {"on", "to", "event_type", "custom_type", NULL};
            char tw[200];
            snprintf(tw, sizeof tw, "%s.transitions[%zu]", sw, k);
            if (!json_is_object(t)) {
                return s_err(c, "%s: expected an object", tw);
            }
            rc = s_keys(c, t, tw, tkeys);
            if (rc < 0) {
                return rc;
            }
            struct au_transition *tr = &st->tr[st->n_tr];
            const char *on = json_string_value(json_object_get(t, "on"));
            static const char *const ons[] = {"success", "failure", "event", "timeout", NULL};
            int oi = -1;
            for (int x = 0; on != NULL && ons[x] != NULL; x++) {
                if (strcmp(on, ons[x]) == 0) {
                    oi = x;
                }
            }
            if (oi < 0) {
                return s_err(c, "%s.on: expected success, failure, event or timeout", tw);
            }
            tr->on = (enum au_on)oi;
            const char *to = json_string_value(json_object_get(t, "to"));
            int32_t ti = to != NULL ? s_state_index(w, to) : -1;
            if (ti < 0) {
                return s_err(c, "%s.to: expected the name of a state", tw);
            }
            tr->to = (uint32_t)ti;
            tr->event_type = -1;
            json_t *et = json_object_get(t, "event_type");
            json_t *cty = json_object_get(t, "custom_type");
            if (tr->on != AU_ON_EVENT && (et != NULL || cty != NULL)) {
                return s_err(c, "%s: event_type and custom_type belong to \"on\":\"event\"", tw);
            }
            if (et != NULL) {
                int ty = 0;
                if (!json_is_string(et) || vx_event_type_parse(json_string_value(et), &ty) < 0) {
                    return s_err(c, "%s.event_type: unknown event type", tw);
                }
                tr->event_type = ty;
            }
            if (cty != NULL) {
                if (!json_is_string(cty)) {
                    return s_err(c, "%s.custom_type: expected a string", tw);
                }
                tr->custom_type = json_string_value(cty);
            }
            if (tr->on == AU_ON_EVENT) {
                st->waits = true;
            }
            st->n_tr++;
        }
    }
    if (!any_terminal) {
        return s_err(c, "states: no terminal state (mark one with \"terminal\":true)");
    }
    return s_sm_exits(c);
}

static int
s_triggers(struct s_ctx *c, json_t *arr)
{
    struct au_workflow *w = c->w;
    if (arr == NULL) {
        return 0;
    }
    if (!json_is_array(arr) || json_array_size(arr) > AU_WF_MAX_TRIGGERS) {
        return s_err(c, "triggers: expected an array of at most %d triggers", AU_WF_MAX_TRIGGERS);
    }
    w->triggers = vx_calloc(json_array_size(arr) + 1, sizeof *w->triggers);
    size_t i;
    json_t *t;
    json_array_foreach(arr, i, t) {
        char tw[64];
        snprintf(tw, sizeof tw, "triggers[%zu]", i);
        if (!json_is_object(t)) {
            return s_err(c, "%s: expected an object", tw);
        }
        struct au_trigger *tr = &w->triggers[w->n_triggers];
        const char *k = json_string_value(json_object_get(t, "kind"));
        int rc = 0;
        if (k != NULL && strcmp(k, "pattern") == 0) {
            static const char *const keys[] = {"kind", "pattern", NULL};
            rc = s_keys(c, t, tw, keys);
            const char *p = json_string_value(json_object_get(t, "pattern"));
            if (rc == 0 && (p == NULL || !s_id_ok(p))) {
                return s_err(c, "%s.pattern: expected a pattern id", tw);
            }
            tr->kind = AU_TRIG_PATTERN;
            tr->pattern = p;
        } else if (k != NULL && strcmp(k, "event") == 0) {
            static const char *const keys[] = {"kind", "event_type", "when", NULL};
            rc = s_keys(c, t, tw, keys);
            json_t *et = json_object_get(t, "event_type");
            int ty = 0;
            if (rc == 0 &&
                (!json_is_string(et) || vx_event_type_parse(json_string_value(et), &ty) < 0)) {
                return s_err(c, "%s.event_type: missing or unknown event type", tw);
            }
            tr->kind = AU_TRIG_EVENT;
            tr->event_type = ty;
            tr->when = json_object_get(t, "when");
            if (rc == 0 && tr->when != NULL) {
                char why[512], sub[96];
                snprintf(sub, sizeof sub, "%s.when", tw);
                if (au_cond_check(tr->when, sub, why, sizeof why) < 0) {
                    return s_err(c, "%s", why);
                }
            }
        } else if (k != NULL && strcmp(k, "state") == 0) {
            static const char *const keys[] = {"kind", "state_path", "op", "value", "tolerance",
                                               NULL};
            static const char *const ops[] = {"gt", "ge", "lt", "le", "eq", NULL};
            rc = s_keys(c, t, tw, keys);
            if (rc < 0) {
                return rc;
            }
            const char *sp = json_string_value(json_object_get(t, "state_path"));
            if (sp == NULL || !au_path_ok(sp)) {
                return s_err(c, "%s.state_path: expected a dotted state path", tw);
            }
            const char *op = json_string_value(json_object_get(t, "op"));
            tr->op = -1;
            for (int x = 0; op != NULL && ops[x] != NULL; x++) {
                if (strcmp(op, ops[x]) == 0) {
                    tr->op = x;
                }
            }
            if (tr->op < 0) {
                return s_err(c, "%s.op: expected gt, ge, lt, le or eq", tw);
            }
            json_t *v = json_object_get(t, "value");
            if (!json_is_number(v)) {
                return s_err(c, "%s.value: expected a number", tw);
            }
            json_t *tol = json_object_get(t, "tolerance");
            if (tol != NULL && (!json_is_number(tol) || json_number_value(tol) < 0)) {
                return s_err(c, "%s.tolerance: expected a number >= 0", tw);
            }
            tr->kind = AU_TRIG_STATE;
            tr->state_path = sp;
            tr->value = json_number_value(v);
            tr->tolerance = tol ? json_number_value(tol) : 0;
        } else if (k != NULL && strcmp(k, "manual") == 0) {
            static const char *const keys[] = {"kind", NULL};
            rc = s_keys(c, t, tw, keys);
            tr->kind = AU_TRIG_MANUAL;
        } else {
            return s_err(c, "%s.kind: expected pattern, event, state or manual", tw);
        }
        if (rc < 0) {
            return rc;
        }
        w->n_triggers++;
    }
    return 0;
}

static int
s_parse(struct s_ctx *c, json_t *j)
{
    static const char *const keys[] = {"id", "description", "kind", "priority", "enabled",
                                       "triggers", "steps", "join", "branches", "initial",
                                       "states", NULL};
    struct au_workflow *w = c->w;
    if (!json_is_object(j)) {
        return s_err(c, "expected a workflow object");
    }
    json_t *id = json_object_get(j, "id");
    if (id == NULL) {
        return s_err(c, "id: missing");
    }
    if (!json_is_string(id) || !s_id_ok(json_string_value(id))) {
        return s_err(c, "id: expected 1..%d characters of [A-Za-z0-9_.:-]", AU_WF_MAX_ID);
    }
    w->id = vx_strdup(json_string_value(id));
    c->id = w->id;
    int rc = s_keys(c, j, "", keys);
    if (rc < 0) {
        return rc;
    }
    json_t *d = json_object_get(j, "description");
    if (d != NULL && !json_is_string(d)) {
        return s_err(c, "description: expected a string");
    }
    static const char *const kinds[] = {"linear", "parallel", "conditional", "state_machine",
                                        NULL};
    json_t *k = json_object_get(j, "kind");
    if (k == NULL) {
        return s_err(c, "kind: missing");
    }
    int ki = -1;
    for (int i = 0; json_is_string(k) && kinds[i] != NULL; i++) {
        if (strcmp(json_string_value(k), kinds[i]) == 0) {
            ki = i;
        }
    }
    if (ki < 0) {
        return s_err(c, "kind: expected linear, parallel, conditional or state_machine");
    }
    w->kind = (enum au_wf_kind)ki;
    long long pr = 0;
    rc = s_int(c, j, "", "priority", 0, 9, 5, &pr);
    if (rc < 0) {
        return rc;
    }
    w->priority = (int)pr;
    json_t *en = json_object_get(j, "enabled");
    if (en != NULL && !json_is_boolean(en)) {
        return s_err(c, "enabled: expected true or false");
    }
    w->enabled = en == NULL || json_is_true(en);
    json_t *steps = json_object_get(j, "steps");
    json_t *join = json_object_get(j, "join");
    json_t *br = json_object_get(j, "branches");
    json_t *st = json_object_get(j, "states");
    json_t *ini = json_object_get(j, "initial");
    if (join != NULL && w->kind != AU_WF_PARALLEL) {
        return s_err(c, "join: only a parallel workflow has one");
    }
    if (br != NULL && w->kind != AU_WF_CONDITIONAL) {
        return s_err(c, "branches: only a conditional workflow has them");
    }
    if ((st != NULL || ini != NULL) && w->kind != AU_WF_STATE_MACHINE) {
        return s_err(c, "%s: only a state_machine workflow has states", st ? "states" : "initial");
    }
    if (steps != NULL && w->kind == AU_WF_STATE_MACHINE) {
        return s_err(c, "steps: a state_machine workflow has its steps inside its states");
    }
    switch (w->kind) {
    case AU_WF_LINEAR:
        rc = s_steps(c, steps, "steps", true, &w->steps);
        break;
    case AU_WF_PARALLEL:
        rc = s_steps(c, steps, "steps", true, &w->steps);
        if (rc == 0) {
            rc = s_steps(c, join, "join", false, &w->join);
        }
        break;
    case AU_WF_CONDITIONAL:
        rc = s_steps(c, steps, "steps", false, &w->steps);
        if (rc == 0) {
            rc = s_branches(c, br);
        }
        break;
    case AU_WF_STATE_MACHINE:
        rc = s_states(c, st, ini);
        break;
    }
    if (rc < 0) {
        return rc;
    }
    return s_triggers(c, json_object_get(j, "triggers"));
}

static void
s_free(struct au_workflow *w)
{
    free(w->steps.v);
    free(w->join.v);
    for (uint32_t i = 0; i < w->n_branches; i++) {
        free(w->branches[i].steps.v);
    }
    free(w->branches);
    for (uint32_t i = 0; i < w->n_states; i++) {
        free(w->states[i].steps.v);
        free(w->states[i].tr);
    }
    free(w->states);
    free(w->triggers);
    free(w->id);
    free(w->tenant);
    json_decref(w->json);
    free(w);
}

int
au_workflow_parse(json_t *j, const char *tenant, struct au_workflow **out, char *err,
                  size_t errlen)
{
    struct au_workflow *w = vx_calloc(1, sizeof *w);
    /* Pointers into the JSON stay valid because the copy is ours and never changes. */
    w->json = json_deep_copy(j);
    w->tenant = vx_strdup(tenant);
    w->refs = 1;
    struct s_ctx c = {.err = err, .errlen = errlen, .w = w};
    int rc = w->json != NULL ? s_parse(&c, w->json) : s_err(&c, "expected a workflow object");
    if (rc < 0) {
        s_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

struct au_workflow *
au_workflow_ref(struct au_workflow *w)
{
    __atomic_add_fetch(&w->refs, 1, __ATOMIC_RELAXED);
    return w;
}

void
au_workflow_unref(struct au_workflow **wp)
{
    if (wp == NULL || *wp == NULL) {
        return;
    }
    if (__atomic_sub_fetch(&(*wp)->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        s_free(*wp);
    }
    *wp = NULL;
}

char *
au_act_target(const struct au_workflow *w, const char *step_id, const struct au_act *a,
              const char *url)
{
    char buf[600];
    switch (a->kind) {
    case AU_ACT_HTTP:
        snprintf(buf, sizeof buf, "http:%.500s", url ? url : "");
        return vx_strdup(buf);
    case AU_ACT_SCRIPT:
        if (a->path != NULL) {
            snprintf(buf, sizeof buf, "script:%.500s", a->path);
        } else {
            snprintf(buf, sizeof buf, "script:%.128s/%.128s", w->id, step_id);
        }
        return vx_strdup(buf);
    case AU_ACT_EMIT:
        return vx_strdup("emit");
    default:
        return NULL;
    }
}

const char *
au_wf_kind_name(enum au_wf_kind k)
{
    static const char *const n[] = {"linear", "parallel", "conditional", "state_machine"};
    return n[k];
}

const char *
au_act_kind_name(enum au_act_kind k)
{
    return s_act_names[k];
}
