/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's stored definitions (patterns, workflows) in the store, and the one-time move
 * of the JSON files earlier versions kept in state_dir into it. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "au_server_priv.h"
#include "vx_jsonfile.h"
#include "vx_log.h"
#include "vx_mem.h"

int
au_server_defs_save(au_server_t *s, const char *name, json_t *doc)
{
    char err[1024];
    int rc = au_store_def_put(s->store, name, doc, err, sizeof err);
    if (rc < 0) {
        vx_error("AU-SAVE", "%s", err);
    }
    return rc;
}

/* The stored document; else state_dir/<name>.json of an earlier version, moved into the store
 * (and the file removed once the store holds it); else NULL with *rc 0. */
json_t *
au_server_defs_load(au_server_t *s, const char *name, int *rc, char *err, size_t errlen)
{
    json_t *doc = au_store_def_get(s->store, name, rc, err, errlen);
    if (doc != NULL || *rc < 0 || s->state_dir == NULL) {
        return doc;
    }
    char path[VX_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s.json", s->state_dir, name);
    int missing = 0;
    char why[1024];
    doc = vx_jsonfile_read(path, &missing, why, sizeof why);
    if (doc == NULL) {
        if (!missing) {
            snprintf(err, errlen, "%s: %s", path, why);
            *rc = -EINVAL;
        }
        return NULL;
    }
    *rc = au_store_def_put(s->store, name, doc, err, errlen);
    if (*rc < 0) {
        json_decref(doc);
        return NULL;
    }
    if (unlink(path) == 0) {
        vx_info("AU-MIGRATE", "%s moved into the state store", path);
    }
    return doc;
}

/* Moves an earlier version's journal files (state_dir/journal/<id>.json) into the store's
 * journal and removes them, so the next au_exec_recover sees their executions. */
void
au_server_journal_migrate(au_server_t *s)
{
    char dir[VX_PATH_MAX];
    snprintf(dir, sizeof dir, "%s/journal", s->state_dir);
    DIR *d = opendir(dir);
    if (d == NULL) {
        return;
    }
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0) {
            continue;
        }
        char path[4600];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        json_t *j = json_load_file(path, 0, NULL);
        const char *id = json_string_value(json_object_get(j, "id"));
        char err[512];
        if (id == NULL) {
            vx_warn("AU-MIGRATE", "%s: not a journal entry, left as it is", path);
        } else if (au_store_journal_put(s->store, id, j, err, sizeof err) < 0) {
            vx_error("AU-MIGRATE", "%s", err);
        } else {
            unlink(path);
            n++;
        }
        json_decref(j);
    }
    closedir(d);
    rmdir(dir); /* only when emptied */
    if (n > 0) {
        vx_info("AU-MIGRATE", "%d journal entries of %s moved into the state store", n, dir);
    }
}

au_store_t *
au_server_store(au_server_t *s)
{
    return s->store;
}
