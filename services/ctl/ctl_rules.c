/* SPDX-License-Identifier: Apache-2.0 */
/* vexfsctl rules: vexfs-routing's rules and filters, one set changed in one PUT or PATCH
 * /v1/rules (ctl_set.c), and `test`: how the current set would decide an event.
 *
 * Files are the daemon's own form (YAML, or JSON for .json files): {rules: [...], filters:
 * [...]}, a list of rules, or one rule. The daemon validates everything; its message is
 * printed as it is, so a bad regex or boundary is reported with the entry, field and reason. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "ctl_set.h"
#include "vx_yaml.h"

/* "a,b" from a list of strings into out. */
static void
s_join(json_t *list, char *out, size_t len, size_t off)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) {
        int w = snprintf(out + off, len - off, "%s%s", off ? "," : "", json_string_value(v));
        if (w < 0 || (size_t)w >= len - off) {
            break;
        }
        off += (size_t)w;
    }
}

static void
s_row(int sec, json_t *o, char (*cells)[CTL_CELL])
{
    snprintf(cells[0], CTL_CELL, "%s", sec == 0 ? "rule" : "filter");
    ctl_out_cell(json_object_get(o, "id"), cells[1], CTL_CELL);
    ctl_out_cell(json_object_get(o, sec == 0 ? "priority" : "order"), cells[2], CTL_CELL);
    if (sec == 0) {
        s_join(json_object_get(o, "target_boundaries"), cells[3], CTL_CELL, 0);
        s_join(json_object_get(json_object_get(o, "actions"), "route_to_boundaries"), cells[3],
               CTL_CELL, strlen(cells[3]));
        if (json_is_true(json_object_get(o, "stop"))) {
            size_t n = strlen(cells[3]);
            snprintf(cells[3] + n, CTL_CELL - n, "%sstop", n ? " " : "");
        }
    } else {
        snprintf(cells[3], CTL_CELL, "%s %s", json_string_value(json_object_get(o, "kind")),
                 json_string_value(json_object_get(o, "action")));
    }
    snprintf(cells[4], CTL_CELL, "%s",
             json_is_false(json_object_get(o, "enabled")) ? "disabled" : "enabled");
}

/* rules test EVENT.json */
static int
s_extra(struct ctl_set *s, const char *verb, int nargs, char **args)
{
    if (strcmp(verb, "test") != 0) {
        return -1;
    }
    if (nargs != 1) {
        ctl_err("rules", "test needs EVENT.json and nothing else");
        return CTL_EXIT_USAGE;
    }
    char err[512];
    json_t *event = vx_yaml_load_file(args[0], err, sizeof err);
    if (event == NULL) {
        ctl_err("rules", "%s", err);
        return CTL_EXIT_FAIL;
    }
    json_t *r = ctl_rest_call(&s->rest, "POST", "/v1/route/test", event, false);
    json_decref(event);
    if (r == NULL) {
        return CTL_EXIT_FAIL;
    }
    int rc = ctl_out_print(stdout, s->fmt == CTL_FMT_YAML ? CTL_FMT_YAML : CTL_FMT_JSON, r) < 0
                 ? CTL_EXIT_FAIL
                 : CTL_EXIT_OK;
    json_decref(r);
    return rc;
}

static const char *const s_columns[] = {"KIND", "ID", "PRIORITY", "TARGETS", "STATE", NULL};

static const struct ctl_kind s_kind = {
    .cmd = "rules",
    .what = "Reads and changes vexfs-routing's rules and filters, and tests how they decide\n"
            "an event. list shows the rules in evaluation order, then the filters (a filter's\n"
            "PRIORITY is its order, its TARGETS its kind and action)",
    .url_env = "VEXFS_ROUTING_URL",
    .default_url = "https://127.0.0.1:8081",
    .set_path = "/v1/rules",
    .nsec = 2,
    .sec = {{"rules", "rule", "rules", "/v1/rules", "/v1/rules", "id"},
            {"filters", "filter", "filters", "/v1/filters", NULL, "id"}},
    .file_help = "{rules: [...], filters: [...]} (either may be absent: for replace, an absent\n"
                 "list is empty), a list of rules, or one rule. Every change is one request on\n"
                 "/v1/rules (PATCH for apply, PUT otherwise): all of it or nothing",
    .columns = s_columns,
    .row = s_row,
    .extra_help = "  test EVENT.json   how the current set decides for this event (JSON), without\n"
                  "                    routing it\n",
    .extra = s_extra,
    .timeout_ms = 60000L, /* a large set takes a while to compile */
};

int
ctl_rules_main(int argc, char **argv)
{
    return ctl_set_main(&s_kind, argc, argv);
}
