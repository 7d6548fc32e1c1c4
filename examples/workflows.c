/* SPDX-License-Identifier: Apache-2.0 */
/* Example: reactive workflows through automation's admin API.
 *
 *     workflows apply FILE.json   (a workflow, a list, or {"workflows": [...]})
 *     workflows run ID [INPUT.json]
 *
 * apply creates or updates each workflow of the file by its id (PUT /v1/workflows/{id}). run
 * starts one execution (POST /v1/workflows/{id}/execute), waits until it finished and prints
 * its outcome and each step's status. */
#define _POSIX_C_SOURCE 200809L /* nanosleep */

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vexfs/client.h>

#include "example_admin.h"

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
    json_t *started = ex_call(c, "workflows", "automation", "POST", path, input ? input : "{}", &status, 0);
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
        json_t *rec = ex_call(c, "workflows", "automation", "GET", path, NULL, &status, 0);
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
        rc = ex_apply_each(c, "workflows", "automation", argv[2], "workflows", "/v1/workflows",
                           "workflow");
    } else if (strcmp(verb, "run") == 0 && (argc == 3 || argc == 4)) {
        rc = s_run(c, argv[2], argc == 4 ? argv[3] : NULL);
    } else {
        fprintf(stderr, "usage: workflows apply FILE.json | run ID [INPUT.json]\n");
    }
    vexfs_client_close(&c, 0, NULL);
    return rc;
}
