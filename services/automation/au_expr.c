/* SPDX-License-Identifier: Apache-2.0 */
/* Paths, conditions and templates (see au_expr.h). */
#include "au_expr.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vx_mem.h"

static const char *const s_ops[] = {"eq", "ne", "gt", "ge", "lt", "le", "exists", "contains",
                                    "prefix", NULL};
enum { S_EQ, S_NE, S_GT, S_GE, S_LT, S_LE, S_EXISTS, S_CONTAINS, S_PREFIX };

bool
au_path_ok(const char *path)
{
    size_t n = strlen(path);
    if (n == 0 || n > AU_EXPR_MAX_PATH || path[0] == '.' || path[n - 1] == '.') {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = path[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == ':' || (c == '.' && path[i + 1] != '.');
        if (!ok) {
            return false;
        }
    }
    return true;
}

json_t *
au_path_get(json_t *ctx, const char *path)
{
    json_t *cur = ctx;
    const char *p = path;
    while (cur != NULL && *p != '\0') {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        char key[AU_EXPR_MAX_PATH + 1];
        if (len > AU_EXPR_MAX_PATH) {
            return NULL;
        }
        memcpy(key, p, len);
        key[len] = '\0';
        if (json_is_object(cur)) {
            cur = json_object_get(cur, key);
        } else if (json_is_array(cur)) {
            char *end = NULL;
            unsigned long i = strtoul(key, &end, 10);
            cur = (end != key && *end == '\0') ? json_array_get(cur, i) : NULL;
        } else {
            return NULL;
        }
        p += len;
        if (*p == '.') {
            p++;
        }
    }
    return cur;
}

static int
s_op_index(const char *op)
{
    for (int i = 0; s_ops[i] != NULL; i++) {
        if (strcmp(op, s_ops[i]) == 0) {
            return i;
        }
    }
    return -1;
}

/* Validates a condition when its workflow is loaded, so that a definition whose condition
 * could not be evaluated is refused with the path of the bad member instead of misbehaving
 * at run time. Recursion is bounded: it stops at AU_EXPR_MAX_DEPTH. */
static int
// NOLINTNEXTLINE(misc-no-recursion)
s_check(json_t *c, const char *where, int depth, char *err, size_t errlen)
{
    if (depth > AU_EXPR_MAX_DEPTH) {
        snprintf(err, errlen, "%s: nested deeper than %d", where, AU_EXPR_MAX_DEPTH);
        return -EINVAL;
    }
    if (!json_is_object(c)) {
        snprintf(err, errlen, "%s: expected a condition object", where);
        return -EINVAL;
    }
    char sub[512];
    json_t *v;
    if ((v = json_object_get(c, "all")) != NULL || (v = json_object_get(c, "any")) != NULL) {
        const char *k = json_object_get(c, "all") ? "all" : "any";
        if (json_object_size(c) != 1) {
            snprintf(err, errlen, "%s: \"%s\" takes no other key", where, k);
            return -EINVAL;
        }
        if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 64) {
            snprintf(err, errlen, "%s.%s: expected an array of 1..64 conditions", where, k);
            return -EINVAL;
        }
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            snprintf(sub, sizeof sub, "%.400s.%s[%zu]", where, k, i);
            int rc = s_check(x, sub, depth + 1, err, errlen);
            if (rc < 0) {
                return rc;
            }
        }
        return 0;
    }
    if ((v = json_object_get(c, "not")) != NULL) {
        if (json_object_size(c) != 1) {
            snprintf(err, errlen, "%s: \"not\" takes no other key", where);
            return -EINVAL;
        }
        snprintf(sub, sizeof sub, "%.400s.not", where);
        return s_check(v, sub, depth + 1, err, errlen);
    }
    const char *key;
    json_object_foreach(c, key, v) {
        if (strcmp(key, "path") != 0 && strcmp(key, "op") != 0 && strcmp(key, "value") != 0) {
            snprintf(err, errlen, "%s: unknown key \"%.100s\"", where, key);
            return -EINVAL;
        }
    }
    json_t *path = json_object_get(c, "path");
    if (path == NULL) {
        snprintf(err, errlen, "%s.path: missing", where);
        return -EINVAL;
    }
    if (!json_is_string(path) || !au_path_ok(json_string_value(path))) {
        snprintf(err, errlen, "%s.path: expected a dotted path such as \"input.size\"", where);
        return -EINVAL;
    }
    json_t *op = json_object_get(c, "op");
    int o = json_is_string(op) ? s_op_index(json_string_value(op)) : -1;
    if (o < 0) {
        snprintf(err, errlen, "%s.op: expected eq, ne, gt, ge, lt, le, exists, contains or prefix",
                 where);
        return -EINVAL;
    }
    json_t *val = json_object_get(c, "value");
    if (o != S_EXISTS && val == NULL) {
        snprintf(err, errlen, "%s.value: missing", where);
        return -EINVAL;
    }
    if ((o == S_GT || o == S_GE || o == S_LT || o == S_LE) && !json_is_number(val)) {
        snprintf(err, errlen, "%s.value: expected a number for %s", where, s_ops[o]);
        return -EINVAL;
    }
    if ((o == S_PREFIX) && !json_is_string(val)) {
        snprintf(err, errlen, "%s.value: expected a string for prefix", where);
        return -EINVAL;
    }
    return 0;
}

int
au_cond_check(json_t *c, const char *where, char *err, size_t errlen)
{
    return s_check(c, where, 0, err, errlen);
}

/* A number from a JSON number or a string holding one. */
static bool
s_num(json_t *v, double *out)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return true;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end = NULL;
        double d = strtod(s, &end);
        if (end != s && *end == '\0' && isfinite(d)) {
            *out = d;
            return true;
        }
    }
    return false;
}

static bool
s_equal(json_t *a, json_t *b)
{
    double x, y;
    if ((json_is_number(a) || json_is_number(b)) && s_num(a, &x) && s_num(b, &y)) {
        return x == y;
    }
    return json_equal(a, b) != 0;
}

/* Evaluates a condition that s_check accepted, so it trusts the shape and cannot fail: a
 * path the context lacks makes every comparison false except ne (a missing value differs
 * from any). Numbers compare numerically even when one side is a numeric string, since
 * results of scripts and HTTP bodies often carry numbers as text. Recursion is bounded:
 * checked definitions nest at most AU_EXPR_MAX_DEPTH deep. */
bool
// NOLINTNEXTLINE(misc-no-recursion)
au_cond_eval(json_t *c, json_t *ctx)
{
    json_t *v;
    if ((v = json_object_get(c, "all")) != NULL) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            if (!au_cond_eval(x, ctx)) {
                return false;
            }
        }
        return true;
    }
    if ((v = json_object_get(c, "any")) != NULL) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            if (au_cond_eval(x, ctx)) {
                return true;
            }
        }
        return false;
    }
    if ((v = json_object_get(c, "not")) != NULL) {
        return !au_cond_eval(v, ctx);
    }
    int o = s_op_index(json_string_value(json_object_get(c, "op")));
    json_t *val = json_object_get(c, "value");
    json_t *got = au_path_get(ctx, json_string_value(json_object_get(c, "path")));
    if (got == NULL) {
        return o == S_NE;
    }
    double x, y;
    switch (o) {
    case S_EQ:
        return s_equal(got, val);
    case S_NE:
        return !s_equal(got, val);
    case S_GT:
        return s_num(got, &x) && s_num(val, &y) && x > y;
    case S_GE:
        return s_num(got, &x) && s_num(val, &y) && x >= y;
    case S_LT:
        return s_num(got, &x) && s_num(val, &y) && x < y;
    case S_LE:
        return s_num(got, &x) && s_num(val, &y) && x <= y;
    case S_EXISTS:
        return !json_is_null(got);
    case S_CONTAINS:
        if (json_is_array(got)) {
            size_t i;
            json_t *x2;
            json_array_foreach(got, i, x2) {
                if (s_equal(x2, val)) {
                    return true;
                }
            }
            return false;
        }
        return json_is_string(got) && json_is_string(val) &&
               strstr(json_string_value(got), json_string_value(val)) != NULL;
    case S_PREFIX:
        return json_is_string(got) &&
               strncmp(json_string_value(got), json_string_value(val),
                       json_string_length(val)) == 0;
    default:
        return false;
    }
}

/* ---- templates ---------------------------------------------------------------------------- */

/* Finds the next {{path}} in s: *start at "{{", *plen its path length. false when none. */
static bool
s_next(const char *s, const char **start, const char **path, size_t *plen)
{
    const char *o = strstr(s, "{{");
    if (o == NULL) {
        return false;
    }
    const char *c = strstr(o + 2, "}}");
    if (c == NULL) {
        return false;
    }
    *start = o;
    *path = o + 2;
    *plen = (size_t)(c - (o + 2));
    return true;
}

/* Recursion is bounded: checked definitions nest at most AU_EXPR_MAX_DEPTH deep. */
static int
// NOLINTNEXTLINE(misc-no-recursion)
s_tcheck(json_t *t, const char *where, int depth, char *err, size_t errlen)
{
    if (depth > AU_EXPR_MAX_DEPTH) {
        snprintf(err, errlen, "%s: nested deeper than %d", where, AU_EXPR_MAX_DEPTH);
        return -EINVAL;
    }
    char sub[512];
    if (json_is_string(t)) {
        const char *s = json_string_value(t);
        const char *st, *p;
        size_t n;
        while (s_next(s, &st, &p, &n)) {
            char path[AU_EXPR_MAX_PATH + 1];
            if (n > AU_EXPR_MAX_PATH) {
                snprintf(err, errlen, "%s: a {{path}} longer than %d", where, AU_EXPR_MAX_PATH);
                return -EINVAL;
            }
            memcpy(path, p, n);
            path[n] = '\0';
            if (!au_path_ok(path)) {
                snprintf(err, errlen, "%s: \"{{%.100s}}\" is not a path such as {{input.name}}",
                         where, path);
                return -EINVAL;
            }
            s = p + n + 2;
        }
        if (strstr(s, "{{") != NULL) {
            snprintf(err, errlen, "%s: \"{{\" without a closing \"}}\"", where);
            return -EINVAL;
        }
        return 0;
    }
    if (json_is_array(t)) {
        size_t i;
        json_t *x;
        json_array_foreach(t, i, x) {
            snprintf(sub, sizeof sub, "%.400s[%zu]", where, i);
            int rc = s_tcheck(x, sub, depth + 1, err, errlen);
            if (rc < 0) {
                return rc;
            }
        }
    } else if (json_is_object(t)) {
        const char *k;
        json_t *x;
        json_object_foreach(t, k, x) {
            snprintf(sub, sizeof sub, "%.300s.%.100s", where, k);
            int rc = s_tcheck(x, sub, depth + 1, err, errlen);
            if (rc < 0) {
                return rc;
            }
        }
    }
    return 0;
}

int
au_template_check(json_t *t, const char *where, char *err, size_t errlen)
{
    return s_tcheck(t, where, 0, err, errlen);
}

/* Appends n bytes to the growing buffer. */
static void
s_append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *buf = vx_realloc(*buf, *cap);
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
}

/* Appends v, percent-encoding every byte but RFC 3986's unreserved ones when pct is set. */
static void
s_append_value(char **buf, size_t *len, size_t *cap, const char *v, size_t n, bool pct)
{
    if (!pct) {
        s_append(buf, len, cap, v, n);
        return;
    }
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            s_append(buf, len, cap, &v[i], 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            s_append(buf, len, cap, e, 3);
        }
    }
}

static char *
s_template(const char *s, json_t *ctx, bool pct)
{
    size_t len = 0, cap = strlen(s) + 16;
    char *buf = vx_malloc(cap);
    buf[0] = '\0';
    const char *st, *p;
    size_t n;
    while (s_next(s, &st, &p, &n)) {
        s_append(&buf, &len, &cap, s, (size_t)(st - s));
        char path[AU_EXPR_MAX_PATH + 1];
        if (n <= AU_EXPR_MAX_PATH) {
            memcpy(path, p, n);
            path[n] = '\0';
            json_t *v = au_path_get(ctx, path);
            if (json_is_string(v)) {
                s_append_value(&buf, &len, &cap, json_string_value(v), json_string_length(v),
                               pct);
            } else if (v != NULL && !json_is_null(v)) {
                char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                if (d != NULL) {
                    s_append_value(&buf, &len, &cap, d, strlen(d), pct);
                    free(d);
                }
            }
        }
        s = p + n + 2;
    }
    s_append(&buf, &len, &cap, s, strlen(s));
    return buf;
}

char *
au_template_str(const char *s, json_t *ctx)
{
    return s_template(s, ctx, false);
}

char *
au_template_url(const char *s, json_t *ctx)
{
    return s_template(s, ctx, true);
}

/* Recursion is bounded: checked definitions nest at most AU_EXPR_MAX_DEPTH deep. */
json_t *
// NOLINTNEXTLINE(misc-no-recursion)
au_template_eval(json_t *t, json_t *ctx)
{
    if (json_is_string(t)) {
        const char *s = json_string_value(t);
        const char *st, *p;
        size_t n;
        if (s_next(s, &st, &p, &n) && st == s && p + n + 2 == s + strlen(s) &&
            n <= AU_EXPR_MAX_PATH) {
            char path[AU_EXPR_MAX_PATH + 1];
            memcpy(path, p, n);
            path[n] = '\0';
            json_t *v = au_path_get(ctx, path);
            return v ? json_incref(v) : json_null();
        }
        char *r = au_template_str(s, ctx);
        json_t *j = json_string(r);
        free(r);
        return j ? j : json_string("");
    }
    if (json_is_array(t)) {
        json_t *out = json_array();
        size_t i;
        json_t *x;
        json_array_foreach(t, i, x) {
            json_array_append_new(out, au_template_eval(x, ctx));
        }
        return out;
    }
    if (json_is_object(t)) {
        json_t *out = json_object();
        const char *k;
        json_t *x;
        json_object_foreach(t, k, x) {
            json_object_set_new(out, k, au_template_eval(x, ctx));
        }
        return out;
    }
    return json_incref(t);
}
