/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's workflows: definitions changed over REST and persisted in
 * state_dir/workflows.json, loaded at start, and the executions that triggers and REST submit
 * (see au_server.h). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "au_config.h"
#include "au_server_priv.h"
#include "vx_jsonfile.h"
#include "vx_log.h"

au_flows_t *
au_server_flows(au_server_t *s)
{
    return s->flows;
}

au_exec_t *
au_server_exec(au_server_t *s)
{
    return s->exec;
}

au_breakers_t *
au_server_breakers(au_server_t *s)
{
    return s->breakers;
}

static void
s_trigger_failed(au_server_t *s, const char *reason)
{
    vx_counter_add(vx_metrics_counter(s->metrics, "vexfs_automation_trigger_failures_total",
                                      "Triggers that started no execution, by reason.", "reason",
                                      reason, NULL),
                   1);
}

void
au_server_trigger_failed(au_server_t *s, const struct au_workflow *w, int rc)
{
    const char *why = rc == -EAGAIN ? "queue full"
                      : rc == -EPERM ? "disabled"
                      : rc == -EIO   ? "journal write failed"
                                     : "stopping";
    s_trigger_failed(s, rc == -EAGAIN ? "queue_full"
                        : rc == -EPERM ? "disabled"
                        : rc == -EIO   ? "journal"
                                       : "stopping");
    vx_warn("AU-TRIGGER", "workflow %s (tenant %s) not started: %s", w->id, w->tenant, why);
}

int
au_server_submit(au_server_t *s, struct au_workflow *w, json_t *input, json_t *trigger, char *id)
{
    int rc = au_exec_submit(s->exec, w, input, trigger, id);
    if (rc < 0) {
        au_server_trigger_failed(s, w, rc);
    }
    return rc;
}

void
au_server_event_triggers(au_server_t *s, const vx_event_t *ev)
{
    struct au_workflow *ws[AU_FLOWS_MAX_FIRE];
    size_t n = au_flows_on_event(s->flows, ev, ws, AU_FLOWS_MAX_FIRE);
    if (n == 0) {
        return;
    }
    const char *type = vx_event_type_name((int)ev->type);
    json_t *input = json_pack("{s:o}", "event", vx_event_to_json(ev));
    json_t *trig = json_pack("{s:s, s:s}", "kind", "event", "event_type",
                             type ? type : "unknown");
    for (size_t k = 0; k < n; k++) {
        char id[AU_EXEC_ID_LEN];
        au_server_submit(s, ws[k], input, trig, id);
        au_workflow_unref(&ws[k]);
    }
    json_decref(trig);
    json_decref(input);
}

int
au_server_execute(au_server_t *s, const char *tenant, const char *id, json_t *input,
                  char out_id[AU_EXEC_ID_LEN])
{
    struct au_workflow *w = au_flows_get(s->flows, tenant, id);
    if (w == NULL) {
        return -ENOENT;
    }
    json_t *trig = json_pack("{s:s}", "kind", "manual");
    int rc = au_server_submit(s, w, input, trig, out_id);
    json_decref(trig);
    au_workflow_unref(&w);
    return rc;
}

int
au_server_emit(au_server_t *s, const char *tenant, json_t *event, char *err, size_t errlen)
{
    return au_emit_send(s->emit, tenant, event, err, errlen);
}

/* Stores the workflows (after every change). */
static void
s_save(au_server_t *s)
{
    pthread_mutex_lock(&s->save_lock);
    json_t *doc = json_pack("{s:o}", "workflows", au_flows_dump(s->flows));
    au_server_defs_save(s, "workflows", doc);
    json_decref(doc);
    pthread_mutex_unlock(&s->save_lock);
}

int
au_server_put_workflow(au_server_t *s, const char *tenant, json_t *def, enum au_put_mode mode,
                       bool *created, char *err, size_t errlen)
{
    int rc = au_flows_put(s->flows, def, tenant, mode, created, err, errlen);
    if (rc == 0) {
        s_save(s);
    }
    return rc;
}

int
au_server_delete_workflow(au_server_t *s, const char *tenant, const char *id)
{
    int rc = au_flows_delete(s->flows, tenant, id);
    if (rc == 0) {
        s_save(s);
    }
    return rc;
}

int
au_server_change_workflows(au_server_t *s, const char *tenant, json_t *defs, bool merge,
                           const char *if_match, char etag[VX_ETAG_LEN], char *err,
                           size_t errlen)
{
    int rc = au_flows_change(s->flows, tenant, defs, merge, if_match, etag, err, errlen);
    if (rc == 0) {
        s_save(s);
    }
    return rc;
}

/* Reads one workflows file into all: a workflow, a list, or {"workflows":[...]}. */
static int
s_read_file(const char *file, json_t *all, char *err, size_t errlen)
{
    int missing = 0;
    char why[1024];
    json_t *doc = vx_jsonfile_read(file, &missing, why, sizeof why);
    if (doc == NULL) {
        snprintf(err, errlen, "workflows_path %s", missing ? file : why);
        return -EINVAL;
    }
    json_t *arr = json_is_object(doc) && json_object_get(doc, "workflows")
                      ? json_object_get(doc, "workflows")
                      : doc;
    if (json_is_array(arr)) {
        json_array_extend(all, arr);
    } else {
        json_array_append(all, arr);
    }
    json_decref(doc);
    return 0;
}

/* Loads workflows_path: one file, or every *.json file of a directory (in name order). */
static int
s_load_path(au_server_t *s, const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        snprintf(err, errlen, "workflows_path %s: %s", path, strerror(errno));
        return -errno;
    }
    json_t *all = json_array();
    struct dirent **names = NULL;
    int n = 0;
    int rc = 0;
    if (S_ISDIR(st.st_mode)) {
        n = scandir(path, &names, NULL, alphasort);
    }
    for (int i = 0; i < (S_ISDIR(st.st_mode) ? n : 1) && rc == 0; i++) {
        char file[4200];
        if (S_ISDIR(st.st_mode)) {
            size_t len = strlen(names[i]->d_name);
            if (len < 6 || strcmp(names[i]->d_name + len - 5, ".json") != 0) {
                continue;
            }
            snprintf(file, sizeof file, "%s/%s", path, names[i]->d_name);
        } else {
            snprintf(file, sizeof file, "%s", path);
        }
        rc = s_read_file(file, all, err, errlen);
    }
    for (int i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
    if (rc == 0) {
        char why[1024];
        rc = au_flows_load(s->flows, all, why, sizeof why);
        if (rc < 0) {
            snprintf(err, errlen, "workflows_path %s: %s", path, why);
        }
    }
    json_decref(all);
    return rc;
}

/* The store, once written, holds every change made since: it wins over workflows_path, which
 * is read (and then stored) only when the store holds no workflows yet. */
int
au_server_load_workflows(au_server_t *s, char *err, size_t errlen)
{
    const char *wpath = s->cfg->workflows_path;
    int rc = 0;
    json_t *doc = au_server_defs_load(s, "workflows", &rc, err, errlen);
    if (doc != NULL) {
        char why[1024];
        rc = au_flows_load(s->flows, doc, why, sizeof why);
        if (rc < 0) {
            snprintf(err, errlen, "the stored workflows: %s", why);
        }
        json_decref(doc);
    } else if (rc < 0) {
        return rc;
    } else if (wpath[0] != '\0') {
        rc = s_load_path(s, wpath, err, errlen);
        if (rc == 0) {
            s_save(s);
        }
    }
    return rc;
}
