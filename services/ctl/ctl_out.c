/* SPDX-License-Identifier: Apache-2.0 */
/* vexfsctl's output formats: JSON through jansson, YAML written here from the same tree (block
 * style; strings plain when YAML reads them back as the same string, JSON-quoted otherwise,
 * which YAML's double-quoted style reads identically), and aligned tables. */
#include "ctl_out.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vx_mem.h"

int
ctl_fmt_parse(const char *s, enum ctl_fmt *out)
{
    static const struct {
        const char *name;
        enum ctl_fmt fmt;
    } names[] = {{"table", CTL_FMT_TABLE}, {"json", CTL_FMT_JSON}, {"yaml", CTL_FMT_YAML}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].fmt;
            return 0;
        }
    }
    return -EINVAL;
}

char *
ctl_out_real(double v, char *buf, size_t len)
{
    snprintf(buf, len, "%.15g", v);
    return buf;
}

char *
ctl_out_count(long long n, const char *one, const char *many, char *buf, size_t len)
{
    snprintf(buf, len, "%lld %s", n, n == 1 ? one : many);
    return buf;
}

char *
ctl_out_cell(json_t *v, char *buf, size_t len)
{
    if (v == NULL || json_is_null(v)) {
        snprintf(buf, len, "-");
    } else if (json_is_string(v)) {
        snprintf(buf, len, "%s", json_string_value(v));
    } else if (json_is_integer(v)) {
        snprintf(buf, len, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        ctl_out_real(json_real_value(v), buf, len);
    } else if (json_is_boolean(v)) {
        snprintf(buf, len, "%s", json_is_true(v) ? "true" : "false");
    } else {
        char *text = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
        snprintf(buf, len, "%s", text ? text : "?");
        free(text);
    }
    return buf;
}

/* ---- YAML ------------------------------------------------------------------------------------ */

/* True when s written plain reads back as this same string: a conservative character set, not
 * a word YAML gives another type, not a number. */
static bool
s_plain_ok(const char *s)
{
    static const char *const words[] = {"true", "false", "null", "yes", "no", "on", "off",
                                        "y", "n", "~", NULL};
    if (s[0] == '\0' || !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == '/')) {
        return false;
    }
    for (const char *p = s; *p; p++) {
        if (!isalnum((unsigned char)*p) && strchr("_./-", *p) == NULL) {
            return false;
        }
    }
    for (int i = 0; words[i]; i++) {
        if (strcasecmp(s, words[i]) == 0) {
            return false;
        }
    }
    return true;
}

static void
s_yaml_string(FILE *f, const char *s)
{
    if (s_plain_ok(s)) {
        fputs(s, f);
        return;
    }
    json_t *j = json_string(s);
    char *text = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    fputs(text ? text : "\"\"", f);
    free(text);
    json_decref(j);
}

/* A scalar or an empty container on the current line. */
static void
s_yaml_scalar(FILE *f, json_t *v)
{
    char buf[64];
    if (json_is_string(v)) {
        s_yaml_string(f, json_string_value(v));
    } else if (json_is_real(v)) {
        ctl_out_real(json_real_value(v), buf, sizeof buf);
        /* keep it a real for a YAML 1.2 reader: 1 would read back as an integer */
        fprintf(f, "%s%s", buf, strpbrk(buf, ".eEn") ? "" : ".0");
    } else if (json_is_null(v)) {
        fputs("null", f);
    } else if (json_is_object(v)) {
        fputs("{}", f);
    } else if (json_is_array(v)) {
        fputs("[]", f);
    } else {
        fputs(ctl_out_cell(v, buf, sizeof buf), f);
    }
}

static bool
s_yaml_is_block(json_t *v)
{
    return (json_is_object(v) && json_object_size(v) > 0) ||
           (json_is_array(v) && json_array_size(v) > 0);
}

/* Writes a non-empty container at indent; when inline_first, the first line's indentation
 * is already written (the "- " of a sequence item). Recursive: the depth is that of a
 * document jansson parsed, which its parser bounds (2,048 levels). */
static void
/* NOLINTNEXTLINE(misc-no-recursion): depth bounded by jansson's parser, see above */
s_yaml_block(FILE *f, json_t *v, int indent, bool inline_first)
{
    bool first = true;
    if (json_is_object(v)) {
        const char *key;
        json_t *val;
        json_object_foreach(v, key, val) {
            if (!(first && inline_first)) {
                fprintf(f, "%*s", indent, "");
            }
            first = false;
            s_yaml_string(f, key);
            if (s_yaml_is_block(val)) {
                fputs(":\n", f);
                s_yaml_block(f, val, indent + 2, false);
            } else {
                fputs(": ", f);
                s_yaml_scalar(f, val);
                fputc('\n', f);
            }
        }
        return;
    }
    size_t i;
    json_t *val;
    json_array_foreach(v, i, val) {
        if (!(first && inline_first)) {
            fprintf(f, "%*s", indent, "");
        }
        first = false;
        if (s_yaml_is_block(val)) {
            fputs("- ", f);
            s_yaml_block(f, val, indent + 2, true);
        } else {
            fputs("- ", f);
            s_yaml_scalar(f, val);
            fputc('\n', f);
        }
    }
}

int
ctl_out_print(FILE *f, enum ctl_fmt fmt, json_t *j)
{
    if (fmt == CTL_FMT_YAML) {
        if (s_yaml_is_block(j)) {
            s_yaml_block(f, j, 0, false);
        } else {
            s_yaml_scalar(f, j);
            fputc('\n', f);
        }
        return 0;
    }
    char *text = json_dumps(j, CTL_JSON_FLAGS | JSON_ENCODE_ANY);
    if (text == NULL) {
        return -ENOMEM;
    }
    fprintf(f, "%s\n", text);
    free(text);
    return 0;
}

/* ---- tables ---------------------------------------------------------------------------------- */

void
ctl_table_init(struct ctl_table *t, const char *const *headers)
{
    memset(t, 0, sizeof *t);
    while (t->ncols < CTL_TABLE_MAX_COLS && headers[t->ncols] != NULL) {
        t->headers[t->ncols] = headers[t->ncols];
        t->ncols++;
    }
}

char (*ctl_table_row(struct ctl_table *t))[CTL_CELL]
{
    t->cells = vx_realloc(t->cells, (t->nrows + 1) * sizeof t->cells[0]);
    memset(t->cells[t->nrows], 0, sizeof t->cells[0]);
    return t->cells[t->nrows++];
}

void
ctl_table_print(const struct ctl_table *t, FILE *f)
{
    size_t width[CTL_TABLE_MAX_COLS];
    for (int c = 0; c < t->ncols; c++) {
        width[c] = strlen(t->headers[c]);
        for (size_t r = 0; r < t->nrows; r++) {
            size_t w = strlen(t->cells[r][c]);
            width[c] = w > width[c] ? w : width[c];
        }
    }
    for (size_t r = 0; r <= t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) {
            const char *cell = r == 0 ? t->headers[c] : t->cells[r - 1][c];
            if (c == t->ncols - 1) {
                fprintf(f, "%s\n", cell);
            } else {
                fprintf(f, "%-*s  ", (int)width[c], cell);
            }
        }
    }
}

void
ctl_table_fini(struct ctl_table *t)
{
    free(t->cells);
    t->cells = NULL;
    t->nrows = 0;
}
