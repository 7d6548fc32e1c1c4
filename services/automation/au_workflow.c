/* SPDX-License-Identifier: Apache-2.0 */
/* Workflow validation (see au_workflow.h for the schema). Every rejection names the workflow,
 * the field path and the reason. */
#include "au_workflow_priv.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "au_expr.h"
#include "vx_event.h"
#include "vx_mem.h"

/* Every message starts with the workflow's id once it is known, so a rejection of a file with
 * many workflows says which one. */
int
au_wf_err(struct au_wf_ctx *c, const char *fmt, ...)
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
int
au_wf_keys(struct au_wf_ctx *c, json_t *o, const char *where, const char *const *allowed)
{
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        bool ok = false;
        for (size_t i = 0; allowed[i] != NULL && !ok; i++) {
            ok = strcmp(k, allowed[i]) == 0;
        }
        if (!ok) {
            return au_wf_err(c, "%s%sunknown key \"%.100s\"", where, where[0] ? ": " : "", k);
        }
    }
    return 0;
}

/* Ids appear in URLs, metric labels and file names: a safe alphabet only. */
bool
au_wf_id_ok(const char *s)
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
int
au_wf_int(struct au_wf_ctx *c, json_t *o, const char *where, const char *key, long long lo,
          long long hi, long long def, long long *out)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        return au_wf_err(c, "%s%s: expected an integer %lld..%lld", where, key, lo, hi);
    }
    *out = json_integer_value(v);
    return 0;
}

/* Templates are checked at load, so a bad path in one is refused before anything runs. */
int
au_wf_tmpl(struct au_wf_ctx *c, json_t *t, const char *where)
{
    char why[512];
    if (au_template_check(t, where, why, sizeof why) < 0) {
        return au_wf_err(c, "%s", why);
    }
    return 0;
}

static int
s_retry(struct au_wf_ctx *c, json_t *r, const char *where, struct au_retry *out)
{
    static const char *const keys[] = {"max_retries", "backoff", "base_delay_ms", "max_delay_ms",
                                       "jitter", NULL};
    out->base_ms = 100;
    out->max_ms = 60000;
    if (r == NULL) {
        return 0;
    }
    if (!json_is_object(r)) {
        return au_wf_err(c, "%s: expected an object", where);
    }
    int rc = au_wf_keys(c, r, where, keys);
    if (rc < 0) {
        return rc;
    }
    char sub[300];
    snprintf(sub, sizeof sub, "%s.", where);
    long long v = 0;
    rc = au_wf_int(c, r, sub, "max_retries", 0, 100, 0, &v);
    out->max_retries = (uint32_t)v;
    if (rc == 0) {
        rc = au_wf_int(c, r, sub, "base_delay_ms", 0, AU_WF_MAX_MS, 100, &v);
        out->base_ms = (uint64_t)v;
    }
    if (rc == 0) {
        rc = au_wf_int(c, r, sub, "max_delay_ms", 0, AU_WF_MAX_MS, 60000, &v);
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
            return au_wf_err(c, "%s.backoff: expected fixed, linear or exponential", where);
        }
    }
    json_t *j = json_object_get(r, "jitter");
    if (j != NULL) {
        if (!json_is_number(j) || json_number_value(j) < 0 || json_number_value(j) > 1) {
            return au_wf_err(c, "%s.jitter: expected a number 0..1", where);
        }
        out->jitter = json_number_value(j);
    }
    return 0;
}

/* Step ids seen so far, for uniqueness across the workflow. */
static bool
s_step_seen(const struct au_workflow *w, const char *id, const struct au_step *self);

/* A list of steps (the workflow's, or a branch's), each with its action, optional compensating
 * action, timeout and retry policy, parsed in one walk so an error names the step by its place
 * (`steps[3].retry`); step ids must be unique across the whole workflow. */
static int
s_steps(struct au_wf_ctx *c, json_t *arr, const char *where, bool required, struct au_steps *out)
{
    static const char *const keys[] = {"id",         "action",     "timeout_ms", "retry",
                                       "compensate", "idempotent", NULL};
    if (arr == NULL) {
        return required ? au_wf_err(c, "%s: missing", where) : 0;
    }
    if (!json_is_array(arr) || json_array_size(arr) == 0 ||
        json_array_size(arr) > AU_WF_MAX_STEPS) {
        return au_wf_err(c, "%s: expected an array of 1..%d steps", where, AU_WF_MAX_STEPS);
    }
    out->v = vx_calloc(json_array_size(arr), sizeof *out->v);
    size_t i;
    json_t *s;
    json_array_foreach(arr, i, s) {
        char sw[300], sub[340];
        snprintf(sw, sizeof sw, "%s[%zu]", where, i);
        if (!json_is_object(s)) {
            return au_wf_err(c, "%s: expected a step object", sw);
        }
        int rc = au_wf_keys(c, s, sw, keys);
        if (rc < 0) {
            return rc;
        }
        struct au_step *st = &out->v[out->n];
        json_t *id = json_object_get(s, "id");
        if (id == NULL) {
            return au_wf_err(c, "%s.id: missing", sw);
        }
        if (!json_is_string(id) || !au_wf_id_ok(json_string_value(id))) {
            return au_wf_err(c, "%s.id: expected 1..%d characters of [A-Za-z0-9_.:-]", sw,
                         AU_WF_MAX_ID);
        }
        st->id = json_string_value(id);
        if (s_step_seen(c->w, st->id, st)) {
            return au_wf_err(c, "%s.id: duplicate step id \"%s\"", sw, st->id);
        }
        out->n++;
        snprintf(sub, sizeof sub, "%s.action", sw);
        rc = au_wf_action_parse(c, json_object_get(s, "action"), sub, &st->act);
        if (rc < 0) {
            return rc;
        }
        json_t *comp = json_object_get(s, "compensate");
        if (comp != NULL) {
            snprintf(sub, sizeof sub, "%s.compensate", sw);
            rc = au_wf_action_parse(c, comp, sub, &st->comp);
            if (rc < 0) {
                return rc;
            }
            st->has_comp = true;
        }
        snprintf(sub, sizeof sub, "%s.", sw);
        long long t = 0;
        rc = au_wf_int(c, s, sub, "timeout_ms", 1, AU_WF_MAX_MS, 30000, &t);
        if (rc < 0) {
            return rc;
        }
        st->timeout_ms = (uint64_t)t;
        snprintf(sub, sizeof sub, "%s.retry", sw);
        rc = s_retry(c, json_object_get(s, "retry"), sub, &st->retry);
        if (rc < 0) {
            return rc;
        }
        json_t *idem = json_object_get(s, "idempotent");
        if (idem != NULL && !json_is_boolean(idem)) {
            return au_wf_err(c, "%s.idempotent: expected true or false", sw);
        }
        st->idempotent = json_is_true(idem);
        c->w->resumable = c->w->resumable && st->idempotent;
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
s_branches(struct au_wf_ctx *c, json_t *arr)
{
    struct au_workflow *w = c->w;
    if (arr == NULL) {
        return au_wf_err(c, "branches: missing (a conditional workflow needs them)");
    }
    if (!json_is_array(arr) || json_array_size(arr) == 0 ||
        json_array_size(arr) > AU_WF_MAX_BRANCHES) {
        return au_wf_err(c, "branches: expected an array of 1..%d branches", AU_WF_MAX_BRANCHES);
    }
    w->branches = vx_calloc(json_array_size(arr), sizeof *w->branches);
    size_t i;
    json_t *b;
    json_array_foreach(arr, i, b) {
        static const char *const keys[] = {"when", "steps", NULL};
        char bw[64], sub[96];
        snprintf(bw, sizeof bw, "branches[%zu]", i);
        if (!json_is_object(b)) {
            return au_wf_err(c, "%s: expected an object", bw);
        }
        int rc = au_wf_keys(c, b, bw, keys);
        if (rc < 0) {
            return rc;
        }
        struct au_branch *br = &w->branches[w->n_branches++];
        br->when = json_object_get(b, "when");
        if (br->when == NULL && i + 1 != json_array_size(arr)) {
            return au_wf_err(c, "%s.when: missing (only the last branch may omit it)", bw);
        }
        if (br->when != NULL) {
            char why[512];
            snprintf(sub, sizeof sub, "%s.when", bw);
            if (au_cond_check(br->when, sub, why, sizeof why) < 0) {
                return au_wf_err(c, "%s", why);
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
s_sm_exits(struct au_wf_ctx *c)
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
        return au_wf_err(c, "states: no terminal state is reachable from %s (a cycle or dead end "
                        "without an exit)",
                     names);
    }
    return 0;
}

/* One transition of a state: "on" (success, failure, event or timeout), "to" (a state) and,
 * for "on":"event", the event it waits for. */
static int
s_transition(struct au_wf_ctx *c, json_t *t, const char *tw, struct au_state *st)
{
    static const char *const tkeys[] = {"on", "to", "event_type", "custom_type", NULL};
    static const char *const ons[] = {"success", "failure", "event", "timeout", NULL};
    if (!json_is_object(t)) {
        return au_wf_err(c, "%s: expected an object", tw);
    }
    int rc = au_wf_keys(c, t, tw, tkeys);
    if (rc < 0) {
        return rc;
    }
    struct au_transition *tr = &st->tr[st->n_tr];
    const char *on = json_string_value(json_object_get(t, "on"));
    int oi = -1;
    for (int x = 0; on != NULL && ons[x] != NULL; x++) {
        if (strcmp(on, ons[x]) == 0) {
            oi = x;
        }
    }
    if (oi < 0) {
        return au_wf_err(c, "%s.on: expected success, failure, event or timeout", tw);
    }
    tr->on = (enum au_on)oi;
    const char *to = json_string_value(json_object_get(t, "to"));
    int32_t ti = to != NULL ? s_state_index(c->w, to) : -1;
    if (ti < 0) {
        return au_wf_err(c, "%s.to: expected the name of a state", tw);
    }
    tr->to = (uint32_t)ti;
    tr->event_type = -1;
    json_t *et = json_object_get(t, "event_type");
    json_t *cty = json_object_get(t, "custom_type");
    if (tr->on != AU_ON_EVENT && (et != NULL || cty != NULL)) {
        return au_wf_err(c, "%s: event_type and custom_type belong to \"on\":\"event\"", tw);
    }
    if (et != NULL) {
        int ty = 0;
        if (!json_is_string(et) || vx_event_type_parse(json_string_value(et), &ty) < 0) {
            return au_wf_err(c, "%s.event_type: unknown event type", tw);
        }
        tr->event_type = ty;
    }
    if (cty != NULL) {
        if (!json_is_string(cty)) {
            return au_wf_err(c, "%s.custom_type: expected a string", tw);
        }
        tr->custom_type = json_string_value(cty);
    }
    if (tr->on == AU_ON_EVENT) {
        st->waits = true;
    }
    st->n_tr++;
    return 0;
}

/* The transitions of a non-terminal state (a terminal one has none). */
static int
s_transitions(struct au_wf_ctx *c, json_t *trs, const char *sw, struct au_state *st)
{
    if (st->terminal) {
        return trs != NULL ? au_wf_err(c, "%s.transitions: a terminal state has none", sw) : 0;
    }
    if (trs == NULL) {
        return au_wf_err(c, "%s.transitions: missing (only a terminal state has none)", sw);
    }
    if (!json_is_array(trs) || json_array_size(trs) == 0 ||
        json_array_size(trs) > AU_WF_MAX_TRANSITIONS) {
        return au_wf_err(c, "%s.transitions: expected an array of 1..%d transitions", sw,
                         AU_WF_MAX_TRANSITIONS);
    }
    st->tr = vx_calloc(json_array_size(trs), sizeof *st->tr);
    size_t k;
    json_t *t;
    json_array_foreach(trs, k, t) {
        char tw[200];
        snprintf(tw, sizeof tw, "%s.transitions[%zu]", sw, k);
        int rc = s_transition(c, t, tw, st);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

/* One state's body: terminal and outcome, steps, wait_ms and transitions. */
static int
s_state(struct au_wf_ctx *c, json_t *s, struct au_state *st)
{
    static const char *const keys[] = {"steps", "terminal", "outcome", "wait_ms", "transitions",
                                       NULL};
    char sw[128], sub[160];
    snprintf(sw, sizeof sw, "states.%s", st->name);
    if (!json_is_object(s)) {
        return au_wf_err(c, "%s: expected an object", sw);
    }
    int rc = au_wf_keys(c, s, sw, keys);
    if (rc < 0) {
        return rc;
    }
    json_t *term = json_object_get(s, "terminal");
    if (term != NULL && !json_is_boolean(term)) {
        return au_wf_err(c, "%s.terminal: expected true or false", sw);
    }
    st->terminal = json_is_true(term);
    json_t *oc = json_object_get(s, "outcome");
    if (oc != NULL) {
        const char *os = json_string_value(oc);
        if (!st->terminal || os == NULL ||
            (strcmp(os, "succeeded") != 0 && strcmp(os, "failed") != 0)) {
            return au_wf_err(c,
                             "%s.outcome: expected \"succeeded\" or \"failed\" on a terminal "
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
    rc = au_wf_int(c, s, sub, "wait_ms", 0, AU_WF_MAX_MS, 60000, &wm);
    if (rc < 0) {
        return rc;
    }
    st->wait_ms = (uint64_t)wm;
    return s_transitions(c, json_object_get(s, "transitions"), sw, st);
}

/* The states of a state machine: every name first (transitions refer to any of them), then
 * initial, then each state's body, then the check that every reachable state can end. */
static int
s_states(struct au_wf_ctx *c, json_t *obj, json_t *initial)
{
    struct au_workflow *w = c->w;
    if (obj == NULL) {
        return au_wf_err(c, "states: missing (a state_machine workflow needs them)");
    }
    if (!json_is_object(obj) || json_object_size(obj) == 0 ||
        json_object_size(obj) > AU_WF_MAX_STATES) {
        return au_wf_err(c, "states: expected an object of 1..%d states", AU_WF_MAX_STATES);
    }
    w->states = vx_calloc(json_object_size(obj), sizeof *w->states);
    const char *name;
    json_t *s;
    json_object_foreach(obj, name, s) {
        if (!au_wf_id_ok(name)) {
            return au_wf_err(c, "states: \"%.64s\" is not a state name ([A-Za-z0-9_.:-])", name);
        }
        w->states[w->n_states++].name = name;
    }
    if (initial == NULL) {
        return au_wf_err(c, "initial: missing");
    }
    int32_t ini = json_is_string(initial) ? s_state_index(w, json_string_value(initial)) : -1;
    if (ini < 0) {
        return au_wf_err(c, "initial: expected the name of a state");
    }
    w->initial = (uint32_t)ini;
    bool any_terminal = false;
    for (uint32_t i = 0; i < w->n_states; i++) {
        struct au_state *st = &w->states[i];
        int rc = s_state(c, json_object_get(obj, st->name), st);
        if (rc < 0) {
            return rc;
        }
        any_terminal = any_terminal || st->terminal;
    }
    if (!any_terminal) {
        return au_wf_err(c, "states: no terminal state (mark one with \"terminal\":true)");
    }
    return s_sm_exits(c);
}

/* ---- triggers: a table of kinds, each with its allowed keys and one function -------------- */

static int
s_trig_pattern(struct au_wf_ctx *c, json_t *t, const char *tw, struct au_trigger *tr)
{
    const char *p = json_string_value(json_object_get(t, "pattern"));
    if (p == NULL || !au_wf_id_ok(p)) {
        return au_wf_err(c, "%s.pattern: expected a pattern id", tw);
    }
    tr->pattern = p;
    return 0;
}

static int
s_trig_event(struct au_wf_ctx *c, json_t *t, const char *tw, struct au_trigger *tr)
{
    json_t *et = json_object_get(t, "event_type");
    int ty = 0;
    if (!json_is_string(et) || vx_event_type_parse(json_string_value(et), &ty) < 0) {
        return au_wf_err(c, "%s.event_type: missing or unknown event type", tw);
    }
    tr->event_type = ty;
    tr->when = json_object_get(t, "when");
    if (tr->when != NULL) {
        char why[512], sub[96];
        snprintf(sub, sizeof sub, "%s.when", tw);
        if (au_cond_check(tr->when, sub, why, sizeof why) < 0) {
            return au_wf_err(c, "%s", why);
        }
    }
    return 0;
}

static int
s_trig_state(struct au_wf_ctx *c, json_t *t, const char *tw, struct au_trigger *tr)
{
    static const char *const ops[] = {"gt", "ge", "lt", "le", "eq", NULL};
    const char *sp = json_string_value(json_object_get(t, "state_path"));
    if (sp == NULL || !au_path_ok(sp)) {
        return au_wf_err(c, "%s.state_path: expected a dotted state path", tw);
    }
    const char *op = json_string_value(json_object_get(t, "op"));
    tr->op = -1;
    for (int x = 0; op != NULL && ops[x] != NULL; x++) {
        if (strcmp(op, ops[x]) == 0) {
            tr->op = x;
        }
    }
    if (tr->op < 0) {
        return au_wf_err(c, "%s.op: expected gt, ge, lt, le or eq", tw);
    }
    json_t *v = json_object_get(t, "value");
    if (!json_is_number(v)) {
        return au_wf_err(c, "%s.value: expected a number", tw);
    }
    json_t *tol = json_object_get(t, "tolerance");
    if (tol != NULL && (!json_is_number(tol) || json_number_value(tol) < 0)) {
        return au_wf_err(c, "%s.tolerance: expected a number >= 0", tw);
    }
    tr->state_path = sp;
    tr->value = json_number_value(v);
    tr->tolerance = tol ? json_number_value(tol) : 0;
    return 0;
}

static int
s_trig_manual(struct au_wf_ctx *c, json_t *t, const char *tw, struct au_trigger *tr)
{
    (void)c;
    (void)t;
    (void)tw;
    (void)tr;
    return 0;
}

static const char *const s_trig_pattern_keys[] = {"kind", "pattern", NULL};
static const char *const s_trig_event_keys[] = {"kind", "event_type", "when", NULL};
static const char *const s_trig_state_keys[] = {"kind", "state_path", "op", "value",
                                                "tolerance", NULL};
static const char *const s_trig_manual_keys[] = {"kind", NULL};

/* Indexed by enum au_trig_kind. */
static const struct {
    const char *name;
    const char *const *keys;
    int (*parse)(struct au_wf_ctx *c, json_t *t, const char *tw, struct au_trigger *tr);
} s_trig_kinds[] = {
    [AU_TRIG_PATTERN] = {"pattern", s_trig_pattern_keys, s_trig_pattern},
    [AU_TRIG_EVENT] = {"event", s_trig_event_keys, s_trig_event},
    [AU_TRIG_STATE] = {"state", s_trig_state_keys, s_trig_state},
    [AU_TRIG_MANUAL] = {"manual", s_trig_manual_keys, s_trig_manual},
};

static int
s_triggers(struct au_wf_ctx *c, json_t *arr)
{
    struct au_workflow *w = c->w;
    if (arr == NULL) {
        return 0;
    }
    if (!json_is_array(arr) || json_array_size(arr) > AU_WF_MAX_TRIGGERS) {
        return au_wf_err(c, "triggers: expected an array of at most %d triggers",
                         AU_WF_MAX_TRIGGERS);
    }
    w->triggers = vx_calloc(json_array_size(arr) + 1, sizeof *w->triggers);
    size_t i;
    json_t *t;
    json_array_foreach(arr, i, t) {
        char tw[64];
        snprintf(tw, sizeof tw, "triggers[%zu]", i);
        if (!json_is_object(t)) {
            return au_wf_err(c, "%s: expected an object", tw);
        }
        const char *k = json_string_value(json_object_get(t, "kind"));
        int kind = -1;
        for (size_t x = 0; k != NULL && x < sizeof s_trig_kinds / sizeof s_trig_kinds[0]; x++) {
            if (strcmp(k, s_trig_kinds[x].name) == 0) {
                kind = (int)x;
            }
        }
        if (kind < 0) {
            return au_wf_err(c, "%s.kind: expected pattern, event, state or manual", tw);
        }
        struct au_trigger *tr = &w->triggers[w->n_triggers];
        tr->kind = (enum au_trig_kind)kind;
        int rc = au_wf_keys(c, t, tw, s_trig_kinds[kind].keys);
        if (rc == 0) {
            rc = s_trig_kinds[kind].parse(c, t, tw, tr);
        }
        if (rc < 0) {
            return rc;
        }
        w->n_triggers++;
    }
    return 0;
}

/* The members every workflow has: id (read first, so later messages name it), description,
 * kind, priority and enabled. */
static int
s_header(struct au_wf_ctx *c, json_t *j)
{
    static const char *const keys[] = {"id", "description", "kind", "priority", "enabled",
                                       "triggers", "steps", "join", "branches", "initial",
                                       "states", "on_conflict", "conflict_retries", NULL};
    static const char *const kinds[] = {"linear", "parallel", "conditional", "state_machine",
                                        NULL};
    struct au_workflow *w = c->w;
    json_t *id = json_object_get(j, "id");
    if (id == NULL) {
        return au_wf_err(c, "id: missing");
    }
    if (!json_is_string(id) || !au_wf_id_ok(json_string_value(id))) {
        return au_wf_err(c, "id: expected 1..%d characters of [A-Za-z0-9_.:-]", AU_WF_MAX_ID);
    }
    w->id = vx_strdup(json_string_value(id));
    c->id = w->id;
    int rc = au_wf_keys(c, j, "", keys);
    if (rc < 0) {
        return rc;
    }
    json_t *d = json_object_get(j, "description");
    if (d != NULL && !json_is_string(d)) {
        return au_wf_err(c, "description: expected a string");
    }
    json_t *k = json_object_get(j, "kind");
    if (k == NULL) {
        return au_wf_err(c, "kind: missing");
    }
    int ki = -1;
    for (int i = 0; json_is_string(k) && kinds[i] != NULL; i++) {
        if (strcmp(json_string_value(k), kinds[i]) == 0) {
            ki = i;
        }
    }
    if (ki < 0) {
        return au_wf_err(c, "kind: expected linear, parallel, conditional or state_machine");
    }
    w->kind = (enum au_wf_kind)ki;
    long long pr = 0;
    rc = au_wf_int(c, j, "", "priority", 0, 9, 5, &pr);
    if (rc < 0) {
        return rc;
    }
    w->priority = (int)pr;
    json_t *en = json_object_get(j, "enabled");
    if (en != NULL && !json_is_boolean(en)) {
        return au_wf_err(c, "enabled: expected true or false");
    }
    w->enabled = en == NULL || json_is_true(en);
    json_t *oc = json_object_get(j, "on_conflict");
    if (oc != NULL && !(json_is_string(oc) && (strcmp(json_string_value(oc), "fail") == 0 ||
                                               strcmp(json_string_value(oc), "retry") == 0))) {
        return au_wf_err(c, "on_conflict: expected fail or retry");
    }
    w->on_conflict = oc != NULL && strcmp(json_string_value(oc), "retry") == 0
                         ? AU_CONFLICT_RETRY
                         : AU_CONFLICT_FAIL;
    long long cr = 0;
    rc = au_wf_int(c, j, "", "conflict_retries", 0, 100, 3, &cr);
    if (rc < 0) {
        return rc;
    }
    w->conflict_retries = (uint32_t)cr;
    w->resumable = true; /* until a step says otherwise */
    return 0;
}

/* What the kind runs: members that belong to another kind are refused first, then the
 * kind's own are parsed. */
static int
s_body(struct au_wf_ctx *c, json_t *j)
{
    struct au_workflow *w = c->w;
    json_t *steps = json_object_get(j, "steps");
    json_t *join = json_object_get(j, "join");
    json_t *br = json_object_get(j, "branches");
    json_t *st = json_object_get(j, "states");
    json_t *ini = json_object_get(j, "initial");
    if (join != NULL && w->kind != AU_WF_PARALLEL) {
        return au_wf_err(c, "join: only a parallel workflow has one");
    }
    if (br != NULL && w->kind != AU_WF_CONDITIONAL) {
        return au_wf_err(c, "branches: only a conditional workflow has them");
    }
    if ((st != NULL || ini != NULL) && w->kind != AU_WF_STATE_MACHINE) {
        return au_wf_err(c, "%s: only a state_machine workflow has states",
                         st ? "states" : "initial");
    }
    if (steps != NULL && w->kind == AU_WF_STATE_MACHINE) {
        return au_wf_err(c, "steps: a state_machine workflow has its steps inside its states");
    }
    int rc = 0;
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
    return rc;
}

static int
s_parse(struct au_wf_ctx *c, json_t *j)
{
    if (!json_is_object(j)) {
        return au_wf_err(c, "expected a workflow object");
    }
    int rc = s_header(c, j);
    if (rc == 0) {
        rc = s_body(c, j);
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
    struct au_wf_ctx c = {.err = err, .errlen = errlen, .w = w};
    int rc = w->json != NULL ? s_parse(&c, w->json) : au_wf_err(&c, "expected a workflow object");
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
        if (a->script != NULL) {
            snprintf(buf, sizeof buf, "script:%.500s", a->script);
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
