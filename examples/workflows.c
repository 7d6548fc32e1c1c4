/* SPDX-License-Identifier: Apache-2.0 */
/* Example: reactive workflows through automation's admin API.
 *
 *     workflows apply FILE.json   (a workflow, a list, or {"workflows": [...]})
 *     workflows run ID [INPUT.json]
 *
 * apply creates or replaces each workflow of the file by its id (PUT /v1/workflows/{id}). run
 * starts one execution (POST /v1/workflows/{id}/execute), waits until it finished and prints
 * its outcome and each step's status. */
#define _POSIX_C_SOURCE 200809L /* nanosleep */

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vexfs/client.h>

static json_t *
s_call(vexfs_client_t *c, const char *method, const char *path, const char *body, long *status)
{
    char *answer = NULL;
    if (vexfs_client_call(c, "automation", method, path, body, status, &answer) < 0) {
        fprintf(stderr, "workflows: %s\n", vexfs_last_error());
        return NULL;
    }
    json_t *doc = json_loads(answer, 0, NULL);
    if (*status < 200 || *status > 299) {
        fprintf(stderr, "workflows: %s %s: HTTP %ld %s\n", method, path, *status, answer);
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
        fprintf(stderr, "workflows: %s:%d: %s\n", file, je.line, je.text);
        return 1;
    }
    json_t *list = json_is_array(doc) ? doc : json_object_get(doc, "workflows");
    json_t *one = NULL;
    if (!list) {
        one = json_pack("[O]", doc);
        list = one;
    }
    int failed = 0;
    size_t i;
    json_t *w;
    json_array_foreach(list, i, w) {
        const char *id = json_string_value(json_object_get(w, "id"));
        char path[512];
        snprintf(path, sizeof path, "/v1/workflows/%s", id ? id : "");
        char *body = json_dumps(w, JSON_COMPACT);
        long status = 0;
        json_t *done = s_call(c, "PUT", path, body, &status);
        free(body);
        if (done) {
            printf("workflow %s %s\n", id, status == 201 ? "created" : "replaced");
        } else {
            failed++;
        }
        json_decref(done);
    }
    json_decref(one);
    json_decref(doc);
    return failed ? 1 : 0;
}

static int
s_run(vexfs_client_t *c, const char *id, const char *input_file)
{
    char *input = NULL;
    if (input_file) {
        json_error_t je;
        json_t *in = json_load_file(input_file, 0, &je);
        if (!in) {
            fprintf(stderr, "workflows: %s:%d: %s\n", input_file, je.line, je.text);
            return 1;
        }
        input = json_dumps(in, JSON_COMPACT);
        json_decref(in);
    }
    char path[512];
    snprintf(path, sizeof path, "/v1/workflows/%s/execute", id);
    long status = 0;
    json_t *started = s_call(c, "POST", path, input ? input : "{}", &status);
    free(input);
    if (!started) {
        return 1;
    }
    char exec_id[128];
    snprintf(exec_id, sizeof exec_id, "%s",
             json_string_value(json_object_get(started, "execution")));
    json_decref(started);
    printf("execution %s started\n", exec_id);

    /* Wait for the outcome: poll the execution's record (up to 30 s). */
    snprintf(path, sizeof path, "/v1/executions/%s", exec_id);
    for (int i = 0; i < 300; i++) {
        json_t *rec = s_call(c, "GET", path, NULL, &status);
        if (!rec) {
            return 1;
        }
        const char *st = json_string_value(json_object_get(rec, "status"));
        if (st && strcmp(st, "queued") != 0 && strcmp(st, "running") != 0) {
            printf("execution %s %s\n", exec_id, st);
            size_t j;
            json_t *step;
            json_array_foreach(json_object_get(rec, "steps"), j, step) {
                printf("  step %s: %s\n", json_string_value(json_object_get(step, "id")),
                       json_string_value(json_object_get(step, "status")));
            }
            int ok = strcmp(st, "succeeded") == 0;
            json_decref(rec);
            return ok ? 0 : 1;
        }
        json_decref(rec);
        struct timespec pause = {0, 100 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    fprintf(stderr, "workflows: execution %s did not finish within 30 s\n", exec_id);
    return 1;
}

int
main(int argc, char **argv)
{
    const char *verb = argc > 1 ? argv[1] : "";
    vexfs_config_t *cfg = vexfs_config_new();
    vexfs_client_t *c = vexfs_client_new(cfg);
    vexfs_config_destroy(&cfg);
    if (!c) {
        fprintf(stderr, "workflows: %s\n", vexfs_last_error());
        return 1;
    }
    int rc = 2;
    if (strcmp(verb, "apply") == 0 && argc == 3) {
        rc = s_apply(c, argv[2]);
    } else if (strcmp(verb, "run") == 0 && (argc == 3 || argc == 4)) {
        rc = s_run(c, argv[2], argc == 4 ? argv[3] : NULL);
    } else {
        fprintf(stderr, "usage: workflows apply FILE.json | run ID [INPUT.json]\n");
    }
    vexfs_client_close(&c, 0, NULL);
    return rc;
}
