/* SPDX-License-Identifier: Apache-2.0 */
/* Step actions of a workflow (see au_workflow.h for the schema): a table of kinds, each with
 * its allowed keys and one function that validates the rest. Every rejection names the field
 * path and the reason. */
#include <stdio.h>
#include <string.h>

#include "au_expr.h"
#include "au_workflow_priv.h"

typedef int(s_act_parse_fn)(struct au_wf_ctx *c, json_t *a, const char *where,
                            struct au_act *out);

struct s_act_kind {
    const char *name;
    const char *const *keys; /* allowed members, NULL-terminated */
    s_act_parse_fn *parse;   /* called once the keys are known to be allowed */
};

/* ---- script ------------------------------------------------------------------------------ */

/* Environment names as a shell accepts them: [A-Za-z_][A-Za-z0-9_]*. */
static bool
s_env_name_ok(const char *name)
{
    bool ok = name[0] != '\0' && !(name[0] >= '0' && name[0] <= '9');
    for (const char *p = name; *p && ok; p++) {
        ok = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
             *p == '_';
    }
    return ok;
}

static int
s_script_args_env(struct au_wf_ctx *c, json_t *a, const char *where, struct au_act *out)
{
    char sub[300];
    int rc = 0;
    out->args = json_object_get(a, "args");
    if (out->args != NULL) {
        if (!json_is_array(out->args) || json_array_size(out->args) > 64) {
            return au_wf_err(c, "%s.args: expected an array of at most 64 templates", where);
        }
        snprintf(sub, sizeof sub, "%s.args", where);
        rc = au_wf_tmpl(c, out->args, sub);
    }
    out->env = json_object_get(a, "env");
    if (rc < 0 || out->env == NULL) {
        return rc;
    }
    if (!json_is_object(out->env) || json_object_size(out->env) > 64) {
        return au_wf_err(c, "%s.env: expected an object of at most 64 names", where);
    }
    const char *name;
    json_t *v;
    json_object_foreach(out->env, name, v) {
        if (!s_env_name_ok(name)) {
            return au_wf_err(c,
                             "%s.env: \"%.64s\" is not a variable name ([A-Za-z_][A-Za-z0-9_]*)",
                             where, name);
        }
    }
    snprintf(sub, sizeof sub, "%s.env", where);
    return au_wf_tmpl(c, out->env, sub);
}

bool
au_script_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 128 || name[0] == '.') {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == '-')) {
            return false;
        }
    }
    return true;
}

static int
s_script(struct au_wf_ctx *c, json_t *a, const char *where, struct au_act *out)
{
    const char *is = json_string_value(json_object_get(a, "interpreter"));
    if (is == NULL || (strcmp(is, "bash") != 0 && strcmp(is, "python") != 0)) {
        return au_wf_err(c, "%s.interpreter: expected \"bash\" or \"python\"", where);
    }
    out->python = strcmp(is, "python") == 0;
    json_t *ct = json_object_get(a, "content");
    json_t *st = json_object_get(a, "script");
    if ((ct == NULL) == (st == NULL)) {
        return au_wf_err(c, "%s: exactly one of \"script\" (a file of scripts_dir) or "
                            "\"content\" (inline) is required",
                         where);
    }
    if (ct != NULL && (!json_is_string(ct) || json_string_length(ct) == 0 ||
                       strlen(json_string_value(ct)) != json_string_length(ct))) {
        return au_wf_err(c, "%s.content: expected a non-empty string without NUL", where);
    }
    if (st != NULL && !au_script_name_ok(json_string_value(st))) {
        return au_wf_err(c, "%s.script: expected the name of a file of scripts_dir: 1..128 "
                            "characters of [A-Za-z0-9_.-], not starting with '.'",
                         where);
    }
    out->content = json_string_value(ct);
    out->script = json_string_value(st);
    if (out->content != NULL) {
        c->w->inline_scripts = true;
    }
    return s_script_args_env(c, a, where, out);
}

/* ---- http -------------------------------------------------------------------------------- */

static int
s_http_headers(struct au_wf_ctx *c, json_t *a, const char *where, struct au_act *out)
{
    out->headers = json_object_get(a, "headers");
    if (out->headers == NULL) {
        return 0;
    }
    if (!json_is_object(out->headers) || json_object_size(out->headers) > 64) {
        return au_wf_err(c, "%s.headers: expected an object of at most 64 headers", where);
    }
    const char *hn;
    json_t *hv;
    json_object_foreach(out->headers, hn, hv) {
        if (!json_is_string(hv) || hn[0] == '\0' || strpbrk(hn, ":\r\n ") != NULL) {
            return au_wf_err(c, "%s.headers.%.64s: expected a header name and a string", where,
                             hn);
        }
    }
    char sub[300];
    snprintf(sub, sizeof sub, "%s.headers", where);
    return au_wf_tmpl(c, out->headers, sub);
}

/* expect_status: one status or a list of 1..16, each 100..599. */
static int
s_http_expect(struct au_wf_ctx *c, json_t *es, const char *where, struct au_act *out)
{
    json_t *arr = json_is_integer(es) ? json_pack("[O]", es) : json_incref(es);
    bool ok = json_is_array(arr) && json_array_size(arr) >= 1 && json_array_size(arr) <= 16;
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x) {
        if (!ok) {
            break;
        }
        ok = json_is_integer(x) && json_integer_value(x) >= 100 && json_integer_value(x) <= 599;
        if (ok) {
            out->expect[out->n_expect++] = (int)json_integer_value(x);
        }
    }
    json_decref(arr);
    if (!ok) {
        return au_wf_err(c, "%s.expect_status: expected a status 100..599 or a list of 1..16",
                         where);
    }
    return 0;
}

/* An http action: method, URL, headers, body template, expected statuses, keep_body, all
 * checked when the workflow is stored; the target (scheme, host, port, no user information)
 * must come from the definition itself, never from a template an event fills in. */
static int
s_http(struct au_wf_ctx *c, json_t *a, const char *where, struct au_act *out)
{
    static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", NULL};
    char sub[300];
    json_t *m = json_object_get(a, "method");
    out->method = "GET";
    if (m != NULL) {
        bool ok = false;
        for (size_t i = 0; json_is_string(m) && methods[i] && !ok; i++) {
            ok = strcmp(json_string_value(m), methods[i]) == 0;
        }
        if (!ok) {
            return au_wf_err(c, "%s.method: expected GET, POST, PUT, PATCH, DELETE or HEAD",
                             where);
        }
        out->method = json_string_value(m);
    }
    json_t *u = json_object_get(a, "url");
    if (u == NULL) {
        return au_wf_err(c, "%s.url: missing", where);
    }
    if (!json_is_string(u) || (strncmp(json_string_value(u), "http://", 7) != 0 &&
                               strncmp(json_string_value(u), "https://", 8) != 0)) {
        return au_wf_err(c, "%s.url: expected an http:// or https:// URL", where);
    }
    /* Where the request goes is the definition's, never an event's: templates may fill the
     * path, the query and the fragment, not the scheme, user, host or port. */
    const char *us = json_string_value(u);
    const char *auth = strstr(us, "://") + 3;
    size_t alen = strcspn(auth, "/?#");
    const char *tmpl = strstr(auth, "{{");
    if (tmpl != NULL && (size_t)(tmpl - auth) < alen) {
        return au_wf_err(c, "%s.url: a template may fill the path, query or fragment, not the "
                            "host or port (\"%.*s\")",
                         where, (int)alen, auth);
    }
    if (memchr(auth, '@', alen) != NULL) {
        return au_wf_err(c, "%s.url: user information (\"user@\") is not accepted in a URL",
                         where);
    }
    out->url = json_string_value(u);
    snprintf(sub, sizeof sub, "%s.url", where);
    int rc = au_wf_tmpl(c, u, sub);
    if (rc == 0) {
        rc = s_http_headers(c, a, where, out);
    }
    out->body = json_object_get(a, "body");
    if (rc == 0 && out->body != NULL) {
        snprintf(sub, sizeof sub, "%s.body", where);
        rc = au_wf_tmpl(c, out->body, sub);
    }
    json_t *es = json_object_get(a, "expect_status");
    if (rc == 0 && es != NULL) {
        rc = s_http_expect(c, es, where, out);
    }
    json_t *kb = json_object_get(a, "keep_body");
    if (rc == 0 && kb != NULL && !json_is_boolean(kb)) {
        rc = au_wf_err(c, "%s.keep_body: expected true or false", where);
    }
    out->keep_body = json_is_true(kb);
    return rc;
}

/* ---- emit, set_state, delay -------------------------------------------------------------- */

static int
s_emit(struct au_wf_ctx *c, json_t *a, const char *where, struct au_act *out)
{
    out->event = json_object_get(a, "event");
    if (out->event == NULL) {
        return au_wf_err(c, "%s.event: missing", where);
    }
    if (!json_is_object(out->event) || !json_is_string(json_object_get(out->event, "type"))) {
        return au_wf_err(c, "%s.event: expected an event object with a \"type\"", where);
    }
    char sub[300];
    snprintf(sub, sizeof sub, "%s.event", where);
    return au_wf_tmpl(c, out->event, sub);
}

static int
s_set_state(struct au_wf_ctx *c, json_t *a, const char *where, struct au_act *out)
{
    json_t *p = json_object_get(a, "path");
    if (!json_is_string(p) || !au_path_ok(json_string_value(p))) {
        return au_wf_err(c, "%s.path: expected a dotted state path such as \"disk.usage\"",
                         where);
    }
    out->state_path = json_string_value(p);
    out->value = json_object_get(a, "value");
    if (out->value == NULL) {
        return au_wf_err(c, "%s.value: missing", where);
    }
    char sub[300];
    snprintf(sub, sizeof sub, "%s.value", where);
    return au_wf_tmpl(c, out->value, sub);
}

static int
s_delay(struct au_wf_ctx *c, json_t *a, const char *where, struct au_act *out)
{
    if (json_object_get(a, "ms") == NULL) {
        return au_wf_err(c, "%s.ms: missing", where);
    }
    long long ms = 0;
    char sub[300];
    snprintf(sub, sizeof sub, "%s.", where);
    int rc = au_wf_int(c, a, sub, "ms", 0, AU_WF_MAX_MS, 0, &ms);
    out->ms = (uint64_t)ms;
    return rc;
}

/* ---- the table --------------------------------------------------------------------------- */

static const char *const s_script_keys[] = {"kind", "interpreter", "content", "script", "args",
                                            "env", NULL};
static const char *const s_http_keys[] = {"kind", "method", "url", "headers", "body",
                                          "expect_status", "keep_body", NULL};
static const char *const s_emit_keys[] = {"kind", "event", NULL};
static const char *const s_set_state_keys[] = {"kind", "path", "value", NULL};
static const char *const s_delay_keys[] = {"kind", "ms", NULL};

/* Indexed by enum au_act_kind, so the kind's number is its row. */
static const struct s_act_kind s_kinds[] = {
    [AU_ACT_SCRIPT] = {"script", s_script_keys, s_script},
    [AU_ACT_HTTP] = {"http", s_http_keys, s_http},
    [AU_ACT_EMIT] = {"emit", s_emit_keys, s_emit},
    [AU_ACT_SET_STATE] = {"set_state", s_set_state_keys, s_set_state},
    [AU_ACT_DELAY] = {"delay", s_delay_keys, s_delay},
};
#define S_N_KINDS (sizeof s_kinds / sizeof s_kinds[0])

int
au_wf_action_parse(struct au_wf_ctx *c, json_t *a, const char *where, struct au_act *out)
{
    if (a == NULL) {
        return au_wf_err(c, "%s: missing", where);
    }
    if (!json_is_object(a)) {
        return au_wf_err(c, "%s: expected an object with \"kind\"", where);
    }
    out->json = a;
    json_t *k = json_object_get(a, "kind");
    if (k == NULL) {
        return au_wf_err(c, "%s.kind: missing", where);
    }
    const struct s_act_kind *kind = NULL;
    for (size_t i = 0; json_is_string(k) && i < S_N_KINDS && kind == NULL; i++) {
        if (strcmp(json_string_value(k), s_kinds[i].name) == 0) {
            kind = &s_kinds[i];
        }
    }
    if (kind == NULL) {
        return au_wf_err(c,
                         "%s.kind: unknown step kind \"%.64s\" (expected script, http, emit, "
                         "set_state or delay)",
                         where, json_is_string(k) ? json_string_value(k) : "(not a string)");
    }
    out->kind = (enum au_act_kind)(kind - s_kinds);
    int rc = au_wf_keys(c, a, where, kind->keys);
    if (rc < 0) {
        return rc;
    }
    return kind->parse(c, a, where, out);
}

const char *
au_act_kind_name(enum au_act_kind k)
{
    return (size_t)k < S_N_KINDS ? s_kinds[k].name : "?";
}
