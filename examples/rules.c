/* SPDX-License-Identifier: Apache-2.0 */
/* Example: list and apply routing rules through the admin API.
 *
 *     rules list
 *     rules apply FILE.json      (a rule, or a list of rules)
 *     rules delete ID
 *
 * apply creates or updates the rules named in the file and keeps every other rule: it reads
 * the current set, replaces the rules with the same ids, adds the new ones, and puts the
 * whole set back in one change (PUT /v1/rules), which routing applies atomically. */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vexfs/client.h>

#include "example_admin.h"

/* One call to routing; the parsed answer when the status is 2xx, else NULL (reported). */
static json_t *
s_call(vexfs_client_t *c, const char *method, const char *path, const char *body)
{
    long status = 0;
    return ex_call(c, "rules", "routing", method, path, body, &status, 0);
}

static int
s_list(vexfs_client_t *c)
{
    json_t *doc = s_call(c, "GET", "/v1/rules", NULL);
    if (!doc) {
        return 1;
    }
    json_t *rules = json_object_get(doc, "rules");
    printf("version %lld, %zu rule%s\n",
           (long long)json_integer_value(json_object_get(doc, "version")), json_array_size(rules),
           json_array_size(rules) == 1 ? "" : "s");
    size_t i;
    json_t *r;
    json_array_foreach(rules, i, r) {
        printf("%s priority %lld ->", json_string_value(json_object_get(r, "id")),
               (long long)json_integer_value(json_object_get(r, "priority")));
        size_t j;
        json_t *b;
        json_array_foreach(json_object_get(r, "target_boundaries"), j, b) {
            printf(" %s", json_string_value(b));
        }
        printf("\n");
    }
    json_decref(doc);
    return 0;
}

static int
s_apply(vexfs_client_t *c, const char *file)
{
    json_error_t je;
    json_t *given = json_load_file(file, 0, &je);
    if (!given) {
        fprintf(stderr, "rules: %s:%d: %s\n", file, je.line, je.text);
        return 1;
    }
    if (json_is_object(given)) {
        json_t *one = json_array();
        json_array_append_new(one, given);
        given = one;
    }
    json_t *cur = s_call(c, "GET", "/v1/rules", NULL);
    if (!cur) {
        json_decref(given);
        return 1;
    }
    /* The current rules, with those of the file in place of the ones they name. */
    json_t *set = json_array();
    size_t i, j;
    json_t *r, *g;
    json_array_foreach(json_object_get(cur, "rules"), i, r) {
        const char *id = json_string_value(json_object_get(r, "id"));
        bool replaced = false;
        json_array_foreach(given, j, g) {
            replaced = replaced || strcmp(id, json_string_value(json_object_get(g, "id"))) == 0;
        }
        if (!replaced) {
            json_array_append(set, r);
        }
    }
    json_array_extend(set, given);
    char *body = json_dumps(set, JSON_COMPACT);
    json_t *done = s_call(c, "PUT", "/v1/rules", body);
    free(body);
    int status = 1;
    if (done) {
        printf("applied %zu rule%s: version %lld, %lld rules in all\n", json_array_size(given),
               json_array_size(given) == 1 ? "" : "s",
               (long long)json_integer_value(json_object_get(done, "version")),
               (long long)json_integer_value(json_object_get(done, "rules")));
        status = 0;
    }
    json_decref(done);
    json_decref(set);
    json_decref(cur);
    json_decref(given);
    return status;
}

int
main(int argc, char **argv)
{
    const char *verb = argc > 1 ? argv[1] : "list";
    vexfs_config_t *cfg = vexfs_config_new();
    vexfs_client_t *c = vexfs_client_new(cfg);
    vexfs_config_destroy(&cfg);
    if (!c) {
        fprintf(stderr, "rules: %s\n", vexfs_last_error());
        return 1;
    }
    int status = 2;
    if (strcmp(verb, "list") == 0) {
        status = s_list(c);
    } else if (strcmp(verb, "apply") == 0 && argc == 3) {
        status = s_apply(c, argv[2]);
    } else if (strcmp(verb, "delete") == 0 && argc == 3) {
        char path[512];
        snprintf(path, sizeof path, "/v1/rules/%s", argv[2]);
        json_t *done = s_call(c, "DELETE", path, NULL);
        if (done) {
            printf("deleted rule %s\n", argv[2]);
        }
        status = done ? 0 : 1;
        json_decref(done);
    } else {
        fprintf(stderr, "usage: rules list | apply FILE.json | delete ID\n");
    }
    vexfs_client_close(&c, 0, NULL);
    return status;
}
