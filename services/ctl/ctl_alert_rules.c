/* SPDX-License-Identifier: Apache-2.0 */
/* vexfsctl alerts metrics rules: vexfs-analytics' metric alert rules, each change one PUT or
 * PATCH /v1/alert-rules of the whole set (ctl_set.c). */
#include <jansson.h>
#include <stdio.h>

#include "ctl.h"
#include "ctl_set.h"

static void
s_row(int sec, json_t *o, char (*cells)[CTL_CELL])
{
    (void)sec;
    json_t *st = json_object_get(o, "status");
    char threshold[64];
    ctl_out_cell(json_object_get(o, "name"), cells[0], CTL_CELL);
    ctl_out_cell(json_object_get(st, "state"), cells[1], CTL_CELL);
    ctl_out_cell(json_object_get(o, "severity"), cells[2], CTL_CELL);
    snprintf(cells[3], CTL_CELL, "%s %s %s", json_string_value(json_object_get(o, "metric")),
             json_string_value(json_object_get(o, "condition")),
             ctl_out_cell(json_object_get(o, "threshold"), threshold, sizeof threshold));
    ctl_out_cell(json_object_get(o, "for_ms"), cells[4], CTL_CELL);
    ctl_out_cell(json_object_get(st, "error"), cells[5], CTL_CELL);
}

static const char *const s_columns[] = {"NAME", "STATE", "SEVERITY", "CONDITION", "FOR_MS",
                                        "ERROR", NULL};

static const struct ctl_kind s_kind = {
    .cmd = "alerts metrics rules",
    .what = "Reads and changes vexfs-analytics' metric alert rules (list and get add their\n"
            "state). The alerts themselves: " CTL_PROG " alerts metrics list",
    .url_env = "VEXFS_ANALYTICS_URL",
    .default_url = "https://127.0.0.1:8084",
    .set_path = "/v1/alert-rules",
    .derived = "status",
    .nsec = 1,
    .sec = {{"rules", "alert rule", "alert rules", "/v1/alert-rules", "/v1/alert-rules",
             "name"}},
    .file_help = "one rule, a list, or {rules: [...]}. Every change is one request on\n"
                 "/v1/alert-rules (PATCH for apply, PUT otherwise): all of it or nothing; a rule\n"
                 "FILE leaves as it is keeps its state",
    .columns = s_columns,
    .row = s_row,
};

int
ctl_alert_rules_main(int argc, char **argv)
{
    return ctl_set_main(&s_kind, argc, argv);
}
