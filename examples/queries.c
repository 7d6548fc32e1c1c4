/* SPDX-License-Identifier: Apache-2.0 */
/* Example: analytics queries and their windows through analytics' admin API.
 *
 *     queries apply FILE.json    (a query, a list, or {"queries": [...]})
 *     queries results ID
 *
 * apply updates each query of the file by its id (PUT /v1/queries/{id}), or creates it when
 * there is none yet (POST /v1/queries). results prints the windows of a query, closed and
 * open, one line per window and group. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vexfs/client.h>

#include "example_admin.h"

/* One line per window and group: "closed|open window START group {...} {values}", START in
 * Unix milliseconds. */
static void
s_print_windows(json_t *windows, const char *state)
{
    size_t i;
    json_t *w;
    json_array_foreach(windows, i, w) {
        char *group = json_dumps(json_object_get(w, "group"), JSON_COMPACT | JSON_ENCODE_ANY);
        char *values = json_dumps(json_object_get(w, "values"), JSON_COMPACT);
        printf("%s window %lld group %s %s\n", state,
               (long long)(json_integer_value(json_object_get(w, "start_ns")) / 1000000),
               group ? group : "null", values ? values : "{}");
        free(group);
        free(values);
    }
}

static int
s_results(vexfs_client_t *c, const char *id)
{
    char path[512];
    snprintf(path, sizeof path, "/v1/queries/%s/results", id);
    long status = 0;
    json_t *doc = ex_call(c, "queries", "analytics", "GET", path, NULL, &status, 0);
    if (!doc) {
        return 1;
    }
    s_print_windows(json_object_get(doc, "closed"), "closed");
    s_print_windows(json_object_get(doc, "open"), "open");
    json_decref(doc);
    return 0;
}

int
main(int argc, char **argv)
{
    const char *verb = argc > 1 ? argv[1] : "";
    vexfs_config_t *cfg = vexfs_config_new();
    vexfs_client_t *c = vexfs_client_new(cfg);
    vexfs_config_destroy(&cfg);
    if (!c) {
        fprintf(stderr, "queries: %s\n", vexfs_last_error());
        return 1;
    }
    int rc = 2;
    if (strcmp(verb, "apply") == 0 && argc == 3) {
        rc = ex_apply_each(c, "queries", "analytics", argv[2], "queries", "/v1/queries", "query");
    } else if (strcmp(verb, "results") == 0 && argc == 3) {
        rc = s_results(c, argv[2]);
    } else {
        fprintf(stderr, "usage: queries apply FILE.json | results ID\n");
    }
    vexfs_client_close(&c, 0, NULL);
    return rc;
}
