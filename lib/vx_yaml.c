/* SPDX-License-Identifier: Apache-2.0 */
/* YAML to jansson, with libyaml's event parser and an explicit stack (no recursion, so
 * hostile nesting cannot overflow the C stack; depth is capped). */
#include "vx_yaml.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "vx_mem.h"

#define VX_YAML_MAX_DEPTH 64
#define VX_YAML_MAX_FILE (16u * 1024 * 1024)

struct s_frame {
    json_t *node;  /* object or array being filled */
    char *key;     /* pending key when node is an object */
};

static bool
s_parse_int(const char *s, json_int_t *out)
{
    const char *p = s;
    bool neg = false;
    if (*p == '+' || *p == '-') {
        neg = *p == '-';
        p++;
    }
    if (!*p || *p == '_') {
        return false;
    }
    unsigned long long v = 0;
    int digits = 0;
    for (; *p; p++) {
        if (*p == '_') {
            continue;
        }
        if (*p < '0' || *p > '9') {
            return false;
        }
        unsigned d = (unsigned)(*p - '0');
        if (v > (9223372036854775807ULL - d) / 10) {
            return false;
        }
        v = v * 10 + d;
        digits++;
    }
    if (!digits) {
        return false;
    }
    *out = neg ? -(json_int_t)v : (json_int_t)v;
    return true;
}

static bool
s_parse_real(const char *s, double *out)
{
    char buf[64];
    size_t n = 0;
    bool seen_dot_or_exp = false;
    for (const char *p = s; *p; p++) {
        if (*p == '_') {
            continue;
        }
        /* Decimal notation only: strtod would also take "nan(e)", "0x1p3" and "infinity". */
        if (!strchr("0123456789+-.eE", *p)) {
            return false;
        }
        if (n + 1 >= sizeof buf) {
            return false;
        }
        if (*p == '.' || *p == 'e' || *p == 'E') {
            seen_dot_or_exp = true;
        }
        buf[n++] = *p;
    }
    buf[n] = '\0';
    if (!seen_dot_or_exp || n == 0) {
        return false;
    }
    char *end = NULL;
    errno = 0;
    double v = strtod(buf, &end);
    if (errno || !end || *end || end == buf) {
        return false;
    }
    *out = v;
    return true;
}

static json_t *
s_scalar(const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        return json_stringn(v, len);
    }
    if (len == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
        strcmp(v, "NULL") == 0) {
        return json_null();
    }
    if (strcmp(v, "true") == 0 || strcmp(v, "True") == 0 || strcmp(v, "TRUE") == 0) {
        return json_true();
    }
    if (strcmp(v, "false") == 0 || strcmp(v, "False") == 0 || strcmp(v, "FALSE") == 0) {
        return json_false();
    }
    json_int_t i;
    if (s_parse_int(v, &i)) {
        return json_integer(i);
    }
    double d;
    if (s_parse_real(v, &d)) {
        return json_real(d);
    }
    return json_stringn(v, len);
}

/* Attaches value to the frame on top of the stack (steals value). */
static int
s_attach(struct s_frame *top, json_t *value, const yaml_event_t *ev, char *err, size_t errlen)
{
    if (json_is_array(top->node)) {
        json_array_append_new(top->node, value);
        return 0;
    }
    if (!top->key) {
        /* value is a key */
        if (!json_is_string(value)) {
            snprintf(err, errlen, "line %zu, column %zu: mapping keys must be scalars",
                     ev->start_mark.line + 1, ev->start_mark.column + 1);
            json_decref(value);
            return -EINVAL;
        }
        if (json_object_get(top->node, json_string_value(value))) {
            snprintf(err, errlen, "line %zu, column %zu: duplicate key '%s'",
                     ev->start_mark.line + 1, ev->start_mark.column + 1, json_string_value(value));
            json_decref(value);
            return -EINVAL;
        }
        top->key = vx_strdup(json_string_value(value));
        json_decref(value);
        return 0;
    }
    json_object_set_new(top->node, top->key, value);
    vx_free(&top->key);
    return 0;
}

/* The parse in progress: the stack of open containers, the finished root, documents seen. */
struct s_parse {
    struct s_frame stack[VX_YAML_MAX_DEPTH + 1];
    int depth;
    json_t *root;
    int docs;
    char *err;
    size_t errlen;
};

/* A finished node (scalar or closed container): the root, or a child of the open container. */
static int
s_place(struct s_parse *p, json_t *node, const yaml_event_t *ev)
{
    if (p->depth == 0) {
        p->root = node;
        return 0;
    }
    return s_attach(&p->stack[p->depth - 1], node, ev, p->err, p->errlen);
}

/* A sequence or mapping opens: pushed, unless too deep or in a key's place. */
static int
s_container_start(struct s_parse *p, const yaml_event_t *ev)
{
    if (p->depth >= VX_YAML_MAX_DEPTH) {
        snprintf(p->err, p->errlen, "line %zu: nesting deeper than %d levels",
                 ev->start_mark.line + 1, VX_YAML_MAX_DEPTH);
        return -EINVAL;
    }
    struct s_frame *top = p->depth > 0 ? &p->stack[p->depth - 1] : NULL;
    if (top && json_is_object(top->node) && !top->key) {
        snprintf(p->err, p->errlen, "line %zu, column %zu: mapping keys must be scalars",
                 ev->start_mark.line + 1, ev->start_mark.column + 1);
        return -EINVAL;
    }
    p->stack[p->depth].node = ev->type == YAML_MAPPING_START_EVENT ? json_object() : json_array();
    p->stack[p->depth].key = NULL;
    p->depth++;
    return 0;
}

/* One libyaml event into the tree; *done at the end of the stream. */
static int
s_event(struct s_parse *p, const yaml_event_t *ev, bool *done)
{
    json_t *node = NULL;
    switch (ev->type) {
    case YAML_STREAM_END_EVENT:
        *done = true;
        return 0;
    case YAML_DOCUMENT_START_EVENT:
        if (++p->docs > 1) {
            snprintf(p->err, p->errlen, "line %zu: only one YAML document is allowed",
                     ev->start_mark.line + 1);
            return -EINVAL;
        }
        return 0;
    case YAML_ALIAS_EVENT:
        snprintf(p->err, p->errlen, "line %zu, column %zu: aliases are not supported",
                 ev->start_mark.line + 1, ev->start_mark.column + 1);
        return -EINVAL;
    case YAML_SCALAR_EVENT:
        node = s_scalar(ev);
        if (!node) {
            snprintf(p->err, p->errlen, "line %zu, column %zu: scalar is not valid UTF-8",
                     ev->start_mark.line + 1, ev->start_mark.column + 1);
            return -EINVAL;
        }
        return s_place(p, node, ev);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        return s_container_start(p, ev);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        p->depth--;
        node = p->stack[p->depth].node;
        p->stack[p->depth].node = NULL;
        return s_place(p, node, ev);
    default:
        return 0;
    }
}

/* One loop over libyaml's events with an explicit stack of open containers (bounded by
 * VX_YAML_MAX_DEPTH, so hostile input cannot exhaust the C stack); every event is freed on
 * every path, and the partial tree is released on the first error, which names the line and
 * column. Only one document, no aliases: configuration means the same thing read by anyone. */
json_t *
vx_yaml_parse(const char *text, size_t len, char *err, size_t errlen)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    struct s_parse p;
    bool done = false;

    err[0] = '\0';
    memset(&p, 0, sizeof p);
    p.err = err;
    p.errlen = errlen;
    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, errlen, "yaml parser initialisation failed");
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            snprintf(err, errlen, "line %zu, column %zu: %s", parser.problem_mark.line + 1,
                     parser.problem_mark.column + 1, parser.problem ? parser.problem : "syntax error");
            goto fail;
        }
        int rc = s_event(&p, &ev, &done);
        yaml_event_delete(&ev);
        if (rc < 0) {
            goto fail;
        }
    }
    yaml_parser_delete(&parser);
    return p.root ? p.root : json_object();

fail:
    for (int i = 0; i < p.depth; i++) {
        json_decref(p.stack[i].node);
        free(p.stack[i].key);
    }
    json_decref(p.root);
    yaml_parser_delete(&parser);
    return NULL;
}

json_t *
vx_yaml_load_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0;
    size_t cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > VX_YAML_MAX_FILE + 1) {
                snprintf(err, errlen, "%s: larger than %u bytes", path, VX_YAML_MAX_FILE);
                fclose(f);
                free(buf);
                return NULL;
            }
            buf = vx_realloc(buf, cap);
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            break;
        }
    }
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        snprintf(err, errlen, "%s: read error", path);
        free(buf);
        return NULL;
    }
    json_t *doc = NULL;
    size_t plen = strlen(path);
    if (plen > 5 && strcmp(path + plen - 5, ".json") == 0) {
        json_error_t je;
        doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
        if (!doc) {
            snprintf(err, errlen, "%s: line %d, column %d: %s", path, je.line, je.column, je.text);
        }
    } else {
        char inner[512];
        doc = vx_yaml_parse(buf, len, inner, sizeof inner);
        if (!doc) {
            snprintf(err, errlen, "%s: %s", path, inner);
        }
    }
    free(buf);
    return doc;
}
