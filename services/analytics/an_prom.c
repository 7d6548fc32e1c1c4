/* SPDX-License-Identifier: Apache-2.0 */
/* A small reader of the Prometheus text format: sample lines, labels with escapes. */
#include "an_prom.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_LABELS 32
#define S_MAX_VALUE 1024

struct s_label {
    const char *name;
    size_t name_len;
    char value[S_MAX_VALUE];
};

/* Parses `{a="x",b="y"}` at *p (end at e); returns false when malformed. */
static bool
s_labels(const char **pp, const char *e, struct s_label *ls, size_t *n)
{
    const char *p = *pp + 1;
    *n = 0;
    for (;;) {
        while (p < e && (*p == ' ' || *p == ',')) {
            p++;
        }
        if (p < e && *p == '}') {
            *pp = p + 1;
            return true;
        }
        const char *name = p;
        while (p < e && *p != '=' && *p != '}' && *p != ' ') {
            p++;
        }
        if (p >= e || *p != '=' || p == name || *n >= S_MAX_LABELS) {
            return false;
        }
        struct s_label *l = &ls[(*n)++];
        l->name = name;
        l->name_len = (size_t)(p - name);
        p++;
        if (p >= e || *p != '"') {
            return false;
        }
        p++;
        size_t k = 0;
        while (p < e && *p != '"') {
            char c = *p++;
            if (c == '\\' && p < e) {
                c = *p++;
                c = c == 'n' ? '\n' : c;
            }
            if (k + 1 >= S_MAX_VALUE) {
                return false;
            }
            l->value[k++] = c;
        }
        if (p >= e) {
            return false;
        }
        l->value[k] = '\0';
        p++;
    }
}

static bool
s_has(const struct s_label *ls, size_t n, const char *key, const char *val)
{
    for (size_t i = 0; i < n; i++) {
        if (ls[i].name_len == strlen(key) && strncmp(ls[i].name, key, ls[i].name_len) == 0) {
            return strcmp(ls[i].value, val) == 0;
        }
    }
    return false;
}

int
an_prom_sum(const char *text, size_t len, const char *metric, char *const *keys,
            char *const *vals, size_t n, double *out)
{
    size_t mlen = strlen(metric);
    int matched = 0;
    *out = 0;
    struct s_label *ls = malloc(S_MAX_LABELS * sizeof *ls);
    if (!ls) {
        return 0;
    }
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        const char *line = p;
        p = nl ? nl + 1 : end;
        if ((size_t)(e - line) <= mlen || line[0] == '#' || strncmp(line, metric, mlen) != 0) {
            continue;
        }
        const char *q = line + mlen;
        size_t nl_count = 0;
        if (*q == '{') {
            if (!s_labels(&q, e, ls, &nl_count)) {
                continue;
            }
        } else if (*q != ' ' && *q != '\t') {
            continue; /* a longer name that starts with metric */
        }
        bool ok = true;
        for (size_t i = 0; i < n && ok; i++) {
            ok = s_has(ls, nl_count, keys[i], vals[i]);
        }
        if (!ok) {
            continue;
        }
        char num[64];
        while (q < e && (*q == ' ' || *q == '\t')) {
            q++;
        }
        size_t k = 0;
        while (q < e && *q != ' ' && *q != '\t' && *q != '\r' && k + 1 < sizeof num) {
            num[k++] = *q++;
        }
        num[k] = '\0';
        char *stop;
        double v = strtod(num, &stop);
        if (k == 0 || *stop) {
            continue;
        }
        *out += v;
        matched++;
    }
    free(ls);
    return matched;
}

static bool
s_name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

/* One line: "# TYPE ..."/"# HELP ...", or name[{labels}] value, labels read as an_prom_sum
 * reads them (ls: scratch room for S_MAX_LABELS). */
static bool
s_exposition_line(const char *line, const char *e, struct s_label *ls)
{
    size_t n = (size_t)(e - line);
    if (n >= 7 && (strncmp(line, "# TYPE ", 7) == 0 || strncmp(line, "# HELP ", 7) == 0)) {
        return true;
    }
    const char *q = line;
    if (q >= e || !s_name_char(*q, true)) {
        return false;
    }
    while (q < e && s_name_char(*q, false)) {
        q++;
    }
    size_t nl_count = 0;
    if (q < e && *q == '{') {
        if (!s_labels(&q, e, ls, &nl_count)) {
            return false;
        }
    } else if (q >= e || (*q != ' ' && *q != '\t')) {
        return false;
    }
    while (q < e && (*q == ' ' || *q == '\t')) {
        q++;
    }
    char num[64];
    size_t k = 0;
    while (q < e && *q != ' ' && *q != '\t' && *q != '\r' && k + 1 < sizeof num) {
        num[k++] = *q++;
    }
    num[k] = '\0';
    char *stop;
    strtod(num, &stop);
    return k > 0 && *stop == '\0';
}

bool
an_prom_is_exposition(const char *text, size_t len)
{
    struct s_label *ls = malloc(S_MAX_LABELS * sizeof *ls);
    if (!ls) {
        return false;
    }
    bool found = false;
    const char *p = text, *end = text + len;
    while (p < end && !found) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        found = s_exposition_line(p, e, ls);
        p = nl ? nl + 1 : end;
    }
    free(ls);
    return found;
}
