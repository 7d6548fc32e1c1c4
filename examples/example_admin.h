/* SPDX-License-Identifier: Apache-2.0 */
/* What the admin-API examples share: one JSON call to a service, and the objects a definitions
 * file holds. Header-only so each example stays one program to read and copy; include it after
 * <jansson.h> and <vexfs/client.h>. */
#ifndef VEXFS_EXAMPLE_ADMIN_H
#define VEXFS_EXAMPLE_ADMIN_H

#include <stdio.h>
#include <stdlib.h>

/* One call to SERVICE's admin API. Returns the parsed answer (owned by the caller) when the
 * status is 2xx; else NULL, with the error printed under PROG's name unless the status is QUIET
 * (a status the caller handles itself, such as 404 before a create; 0 when none). *STATUS is
 * the HTTP status, 0 when the call did not reach the service. */
static inline json_t *
ex_call(vexfs_client_t *c, const char *prog, const char *service, const char *method,
        const char *path, const char *body, long *status, long quiet)
{
    char *answer = NULL;
    *status = 0;
    if (vexfs_client_call(c, service, method, path, body, status, &answer) < 0) {
        fprintf(stderr, "%s: %s\n", prog, vexfs_last_error());
        return NULL;
    }
    json_t *doc = json_loads(answer, 0, NULL);
    if (*status < 200 || *status > 299) {
        if (*status != quiet) {
            fprintf(stderr, "%s: %s %s: HTTP %ld %s\n", prog, method, path, *status, answer);
        }
        json_decref(doc);
        doc = NULL;
    }
    vexfs_free(answer);
    return doc;
}

/* The objects of FILE: a JSON list, an object {"KEY": [...]}, or one object. Returns a new
 * list (owned by the caller), or NULL with the file's error printed under PROG's name. */
static inline json_t *
ex_load_objects(const char *prog, const char *file, const char *key)
{
    json_error_t je;
    json_t *doc = json_load_file(file, 0, &je);
    if (!doc) {
        fprintf(stderr, "%s: %s:%d: %s\n", prog, file, je.line, je.text);
        return NULL;
    }
    json_t *list = json_is_array(doc) ? doc : json_object_get(doc, key);
    if (json_is_array(list)) {
        json_incref(list);
    } else {
        list = json_pack("[O]", doc);
    }
    json_decref(doc);
    return list;
}

/* Creates or updates each object of FILE by its id with PUT COLLECTION/{id} (a service that
 * answers 404 for an id it does not know yet gets POST COLLECTION instead), leaving every other
 * object alone; prints "NOUN ID created|updated" per object. Returns 0 when all were applied,
 * 1 otherwise. */
static inline int
ex_apply_each(vexfs_client_t *c, const char *prog, const char *service, const char *file,
              const char *key, const char *collection, const char *noun)
{
    json_t *list = ex_load_objects(prog, file, key);
    if (!list) {
        return 1;
    }
    int failed = 0;
    size_t i;
    json_t *obj;
    json_array_foreach(list, i, obj) {
        const char *id = json_string_value(json_object_get(obj, "id"));
        char path[512];
        snprintf(path, sizeof path, "%s/%s", collection, id ? id : "");
        char *body = json_dumps(obj, JSON_COMPACT);
        long status = 0;
        json_t *done = ex_call(c, prog, service, "PUT", path, body, &status, 404);
        if (!done && status == 404) {
            done = ex_call(c, prog, service, "POST", collection, body, &status, 0);
        }
        free(body);
        if (done) {
            printf("%s %s %s\n", noun, id ? id : "(no id)", status == 201 ? "created" : "updated");
        } else {
            failed++;
        }
        json_decref(done);
    }
    json_decref(list);
    return failed ? 1 : 0;
}

#endif
