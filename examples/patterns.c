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

static json_t *
s_call(vexfs_client_t *c, const char *method, const char *path, const char *body, long *status)
{
    char *answer = NULL;
    if (vexfs_client_call(c, "automation", method, path, body, status, &answer) < 0) {
        fprintf(stderr, "patterns: %s\n", vexfs_last_error());
        return NULL;
    }
    json_t *doc = json_loads(answer, 0, NULL);
    if (*status < 200 || *status > 299) {
        fprintf(stderr, "patterns: %s %s: HTTP %ld %s\n", method, path, *status, answer);
        json_decref(doc);
        doc = NULL;
    }
    vexfs_free(answer);
    return doc;
}

static int
s_apply(vexfs_client_t *c, const char *file)
{
    json_error_t je;
    json_t *doc = json_load_file(file, 0, &je);
    if (!doc) {
        fprintf(stderr, "patterns: %s:%d: %s\n", file, je.line, je.text);
        return 1;
    }
    json_t *list = json_is_array(doc) ? doc : json_object_get(doc, "patterns");
    json_t *one = NULL;
    if (!list) {
        one = json_pack("[O]", doc);
        list = one;
    }
    int failed = 0;
    size_t i;
    json_t *p;
    json_array_foreach(list, i, p) {
        const char *id = json_string_value(json_object_get(p, "id"));
        char path[512];
        snprintf(path, sizeof path, "/v1/patterns/%s", id ? id : "");
        char *body = json_dumps(p, JSON_COMPACT);
        long status = 0;
        json_t *done = s_call(c, "PUT", path, body, &status);
        free(body);
        if (done) {
            printf("pattern %s %s\n", id, status == 201 ? "created" : "updated");
        } else {
            failed++;
        }
        json_decref(done);
    }
    json_decref(one);
    json_decref(doc);
    return failed ? 1 : 0;
}

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
        rc = s_apply(c, argv[2]);
    } else if (strcmp(verb, "list") == 0) {
        json_t *doc = s_call(c, "GET", "/v1/patterns", NULL, &status);
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
        json_t *doc = s_call(c, "GET", "/v1/alerts", NULL, &status);
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
