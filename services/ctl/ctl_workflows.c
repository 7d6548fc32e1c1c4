/* SPDX-License-Identifier: Apache-2.0 */
/* vexfsctl workflows: vexfs-automation's workflows of one tenant (--tenant), each change one
 * PUT or PATCH /v1/workflows of the tenant's set (ctl_set.c), and `run`: start one. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ctl_set.h"
#include "vx_yaml.h"

static void
s_row(int sec, json_t *o, char (*cells)[CTL_CELL])
{
    (void)sec;
    ctl_out_cell(json_object_get(o, "id"), cells[0], CTL_CELL);
    ctl_out_cell(json_object_get(o, "kind"), cells[1], CTL_CELL);
    snprintf(cells[2], CTL_CELL, "%zu", json_array_size(json_object_get(o, "steps")));
    snprintf(cells[3], CTL_CELL, "%s",
             json_is_false(json_object_get(o, "enabled")) ? "disabled" : "enabled");
}

/* workflows run ID [INPUT]: starts it and prints the execution id. */
static int
s_extra(struct ctl_set *s, const char *verb, int nargs, char **args)
{
    if (strcmp(verb, "run") != 0) {
        return -1;
    }
    if (nargs < 1 || nargs > 2) {
        ctl_err("workflows", "run takes ID and an optional INPUT, got %d arguments", nargs);
        return CTL_EXIT_USAGE;
    }
    json_t *input = NULL;
    if (nargs == 2 && strcmp(args[1], "-") == 0) {
        json_error_t je;
        input = json_loadf(stdin, JSON_DECODE_ANY, &je);
        if (input == NULL) {
            ctl_err("workflows", "stdin: %s (line %d)", je.text, je.line);
            return CTL_EXIT_FAIL;
        }
    } else if (nargs == 2) {
        char err[512];
        input = vx_yaml_load_file(args[1], err, sizeof err);
        if (input == NULL) {
            ctl_err("workflows", "%s", err);
            return CTL_EXIT_FAIL;
        }
    }
    char *base = ctl_set_path("/v1/workflows", args[0]);
    size_t len = strlen(base) + 16;
    char *path = malloc(len);
    if (path == NULL) {
        abort();
    }
    snprintf(path, len, "%s/execute", base);
    free(base);
    json_t *r = ctl_rest_call(&s->rest, "POST", path, input, false);
    free(path);
    json_decref(input);
    if (r == NULL) {
        return CTL_EXIT_FAIL;
    }
    printf("%s\n", json_string_value(json_object_get(r, "execution")));
    json_decref(r);
    return CTL_EXIT_OK;
}

static const char *const s_columns[] = {"ID", "KIND", "STEPS", "STATE", NULL};

static const struct ctl_kind s_kind = {
    .cmd = "workflows",
    .what = "Reads, changes and runs vexfs-automation's workflows of one tenant",
    .url_env = "VEXFS_AUTOMATION_URL",
    .default_url = "https://127.0.0.1:8083",
    .tenant = true,
    .set_path = "/v1/workflows",
    .nsec = 1,
    .sec = {{"workflows", "workflow", "workflows", "/v1/workflows", "/v1/workflows", "id"}},
    .file_help = "one workflow, a list, or {workflows: [...]}. Every change is one request on\n"
                 "/v1/workflows (PATCH for apply, PUT otherwise): all of it or nothing",
    .columns = s_columns,
    .row = s_row,
    .extra_help = "  run ID [INPUT]    start it with INPUT (a JSON or YAML file, - for JSON on\n"
                  "                    stdin; default null) and print the execution id\n",
    .extra = s_extra,
};

int
ctl_workflows_main(int argc, char **argv)
{
    return ctl_set_main(&s_kind, argc, argv);
}
