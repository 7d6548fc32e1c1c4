/* SPDX-License-Identifier: Apache-2.0 */
/* vexfsctl's output: the -o formats (table, json, yaml), aligned tables, numbers printed as
 * they were meant (0.2, never 0.20000000000000001) and counted nouns ("1 rule", "2 rules"). */
#ifndef CTL_OUT_H
#define CTL_OUT_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

enum ctl_fmt {
    CTL_FMT_DEFAULT = 0, /* the command's own default */
    CTL_FMT_TABLE,
    CTL_FMT_JSON,
    CTL_FMT_YAML,
};

/* "table", "json" or "yaml"; -EINVAL for anything else. */
int ctl_fmt_parse(const char *s, enum ctl_fmt *out);

/* The jansson flags of every JSON vexfsctl prints: indented, in the daemon's order, reals
 * with 15 significant digits. */
#define CTL_JSON_FLAGS (JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))

/* Prints j on f as JSON (CTL_FMT_JSON) or YAML (CTL_FMT_YAML), ending with a newline.
 * Returns 0, or -ENOMEM when the text could not be made. */
int ctl_out_print(FILE *f, enum ctl_fmt fmt, json_t *j);

/* A real as it was meant: %.15g ("0.2", "9.992864", "1e+20"). Returns buf. */
char *ctl_out_real(double v, char *buf, size_t len);

/* A JSON scalar as a table cell: strings as they are, numbers as above, true/false, "-" for
 * null or absent, compact JSON for arrays and objects. Returns buf. */
char *ctl_out_cell(json_t *v, char *buf, size_t len);

/* "1 rule", "2 rules", "0 rules". Returns buf. */
char *ctl_out_count(long long n, const char *one, const char *many, char *buf, size_t len);

/* A table printed with aligned columns: the header row, then the rows, each cell padded to the
 * widest of its column, two spaces apart, no trailing blanks. */
#define CTL_TABLE_MAX_COLS 8
#define CTL_CELL 256
struct ctl_table {
    int ncols;
    const char *headers[CTL_TABLE_MAX_COLS]; /* borrowed */
    size_t nrows;
    char (*cells)[CTL_TABLE_MAX_COLS][CTL_CELL]; /* owned */
};

/* headers: NULL-terminated, at most CTL_TABLE_MAX_COLS, borrowed for the table's life. */
void ctl_table_init(struct ctl_table *t, const char *const *headers);
/* A new row of empty cells; the caller fills (*row)[col] (at most CTL_CELL - 1 bytes each). */
char (*ctl_table_row(struct ctl_table *t))[CTL_CELL];
void ctl_table_print(const struct ctl_table *t, FILE *f);
void ctl_table_fini(struct ctl_table *t);

#endif
