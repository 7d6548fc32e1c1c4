/* SPDX-License-Identifier: Apache-2.0 */
/* vexfsctl queries: vexfs-analytics' queries, each change one PUT or PATCH /v1/queries of the
 * caller's set (ctl_set.c). */
#include <jansson.h>
#include <stdio.h>

#include "ctl.h"
#include "ctl_set.h"

static void
s_row(int sec, json_t *o, char (*cells)[CTL_CELL])
{
    (void)sec;
    json_t *st = json_object_get(o, "stats");
    ctl_out_cell(json_object_get(o, "id"), cells[0], CTL_CELL);
    ctl_out_cell(json_object_get(json_object_get(o, "window"), "kind"), cells[1], CTL_CELL);
    ctl_out_cell(json_object_get(st, "matched"), cells[2], CTL_CELL);
    ctl_out_cell(json_object_get(st, "windows_emitted"), cells[3], CTL_CELL);
    ctl_out_cell(json_object_get(st, "open_windows"), cells[4], CTL_CELL);
    ctl_out_cell(json_object_get(st, "dropped_late"), cells[5], CTL_CELL);
}

static const char *const s_columns[] = {"ID", "WINDOW", "MATCHED", "WINDOWS", "OPEN", "LATE",
                                        NULL};

static const struct ctl_kind s_kind = {
    .cmd = "queries",
    .what = "Reads and changes vexfs-analytics' queries (list and get add their counters)",
    .url_env = "VEXFS_ANALYTICS_URL",
    .default_url = "https://127.0.0.1:8084",
    .set_path = "/v1/queries",
    .derived = "stats",
    .nsec = 1,
    .sec = {{"queries", "query", "queries", "/v1/queries", "/v1/queries", "id"}},
    .file_help = "one query, a list, or {queries: [...]}. Every change is one request on\n"
                 "/v1/queries (PATCH for apply, PUT otherwise): all of it or nothing; a query\n"
                 "FILE leaves as it is keeps its windows",
    .columns = s_columns,
    .row = s_row,
};

int
ctl_queries_main(int argc, char **argv)
{
    return ctl_set_main(&s_kind, argc, argv);
}
