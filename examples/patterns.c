/* SPDX-License-Identifier: Apache-2.0 */
/* Example: complex-event patterns and their alerts through automation's admin API.
 *
 *     patterns list
 *     patterns apply FILE.json   (a pattern, a list, or {"patterns": [...]})
 *     patterns alerts
 *
 * apply creates or updates each pattern of the file by its id (PUT /v1/patterns/{id}) and
 * leaves the others alone. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vexfs/client.h>

#include "example_admin.h"

int
main(int argc, char **argv)
{
    const char *verb = argc > 1 ? argv[1] : "list";
    vexfs_config_t *cfg = vexfs_config_new();
    vexfs_client_t *c = vexfs_client_new(cfg);
    vexfs_config_destroy(&cfg);
    if (!c) {
        fprintf(stderr, "patterns: %s\n", vexfs_last_error());
        return 1;
    }
    int rc = 2;
    long status = 0;
    if (strcmp(verb, "apply") == 0 && argc == 3) {
        rc = ex_apply_each(c, "patterns", "automation", argv[2], "patterns", "/v1/patterns",
                           "pattern");
    } else if (strcmp(verb, "list") == 0) {
        json_t *doc = ex_call(c, "patterns", "automation", "GET", "/v1/patterns", NULL, &status, 0);
        json_t *list = json_is_array(doc) ? doc : json_object_get(doc, "patterns");
        size_t i;
        json_t *p;
        json_array_foreach(list, i, p) {
            printf("%s (%s)\n", json_string_value(json_object_get(p, "id")),
                   json_string_value(json_object_get(p, "kind")));
        }
        if (doc && json_array_size(list) == 0) {
            printf("no patterns\n");
        }
        rc = doc ? 0 : 1;
        json_decref(doc);
    } else if (strcmp(verb, "alerts") == 0) {
        json_t *doc = ex_call(c, "patterns", "automation", "GET", "/v1/alerts", NULL, &status, 0);
        json_t *list = json_object_get(doc, "alerts");
        size_t i;
        json_t *a;
        json_array_foreach(list, i, a) {
            printf("alert %s: %s (%lld events)\n", json_string_value(json_object_get(a, "pattern")),
                   json_string_value(json_object_get(a, "message")),
                   (long long)json_integer_value(json_object_get(a, "events")));
        }
        if (doc && json_array_size(list) == 0) {
            printf("no alerts\n");
        }
        rc = doc ? 0 : 1;
        json_decref(doc);
    } else {
        fprintf(stderr, "usage: patterns list | apply FILE.json | alerts\n");
    }
    vexfs_client_close(&c, 0, NULL);
    return rc;
}
