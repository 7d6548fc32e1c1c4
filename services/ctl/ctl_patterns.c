/* SPDX-License-Identifier: Apache-2.0 */
/* vexfsctl patterns: vexfs-automation's patterns of one tenant (--tenant), each change one
 * PUT or PATCH /v1/patterns of the tenant's set (ctl_set.c). */
#include <jansson.h>
#include <stdio.h>

#include "ctl.h"
#include "ctl_set.h"

static void
s_row(int sec, json_t *o, char (*cells)[CTL_CELL])
{
    (void)sec;
    ctl_out_cell(json_object_get(o, "id"), cells[0], CTL_CELL);
    ctl_out_cell(json_object_get(o, "kind"), cells[1], CTL_CELL);
    ctl_out_cell(json_object_get(o, "window_ms"), cells[2], CTL_CELL);
    snprintf(cells[3], CTL_CELL, "%s",
             json_is_false(json_object_get(o, "enabled")) ? "disabled" : "enabled");
}

static const char *const s_columns[] = {"ID", "KIND", "WINDOW_MS", "STATE", NULL};

static const struct ctl_kind s_kind = {
    .cmd = "patterns",
    .what = "Reads and changes vexfs-automation's patterns of one tenant (get adds the\n"
            "pattern's counters)",
    .url_env = "VEXFS_AUTOMATION_URL",
    .default_url = "https://127.0.0.1:8083",
    .tenant = true,
    .set_path = "/v1/patterns",
    .nsec = 1,
    .sec = {{"patterns", "pattern", "patterns", "/v1/patterns", "/v1/patterns", "id"}},
    .file_help = "one pattern, a list, or {patterns: [...]}. Every change is one request on\n"
                 "/v1/patterns (PATCH for apply, PUT otherwise): all of it or nothing",
    .columns = s_columns,
    .row = s_row,
};

int
ctl_patterns_main(int argc, char **argv)
{
    return ctl_set_main(&s_kind, argc, argv);
}
