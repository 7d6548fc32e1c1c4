/* SPDX-License-Identifier: Apache-2.0 */
/* Example: analytics queries and their windows through analytics' admin API.
 *
 *     queries apply FILE.json    (a query, or a list of them)
 *     queries results ID
 *
 * apply replaces each query of the file by its id (PUT /v1/queries/{id}), or adds it when
 * there is none yet (POST /v1/queries). results prints the windows of a query, closed and
 * open, one line per window and group. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vexfs/client.h>

static json_t *
s_call(vexfs_client_t *c, const char *method, const char *path, const char *body, long *status,
       long quiet)
{
    char *answer = NULL;
    if (vexfs_client_call(c, "analytics", method, path, body, status, &answer) < 0) {
        fprintf(stderr, "queries: %s\n", vexfs_last_error());
        return NULL;
    }
    json_t *doc = json_loads(answer, 0, NULL);
    if (*status < 200 || *status > 299) {
        if (*status != quiet) {
            fprintf(stderr, "queries: %s %s: HTTP %ld %s\n", method, path, *status, answer);
        }
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
        fprintf(stderr, "queries: %s:%d: %s\n", file, je.line, je.text);
        return 1;
    }
    json_t *one = NULL;
    json_t *list = doc;
    if (!json_is_array(doc)) {
        one = json_pack("[O]", doc);
        list = one;
    }
    int failed = 0;
    size_t i;
    json_t *q;
    json_array_foreach(list, i, q) {
        const char *id = json_string_value(json_object_get(q, "id"));
        char path[512];
        snprintf(path, sizeof path, "/v1/queries/%s", id ? id : "");
        char *body = json_dumps(q, JSON_COMPACT);
        long status = 0;
        json_t *done = s_call(c, "PUT", path, body, &status, 404);
        const char *how = "applied";
        if (!done && status == 404) {
            done = s_call(c, "POST", "/v1/queries", body, &status, 0);
            how = "added";
        }
        free(body);
        if (done) {
            printf("query %s %s\n", id, how);
        } else {
            failed++;
        }
        json_decref(done);
    }
    json_decref(one);
    json_decref(doc);
    return failed ? 1 : 0;
}

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
    json_t *doc = s_call(c, "GET", path, NULL, &status, 0);
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
        rc = s_apply(c, argv[2]);
    } else if (strcmp(verb, "results") == 0 && argc == 3) {
        rc = s_results(c, argv[2]);
    } else {
        fprintf(stderr, "usage: queries apply FILE.json | results ID\n");
    }
    vexfs_client_close(&c, 0, NULL);
    return rc;
}
