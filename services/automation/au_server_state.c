/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's state values (one nested object per tenant, set by set_state steps and
 * PUT /v1/state), the state triggers a change runs, and the executor's hooks into the
 * daemon (see au_server.h). */
#include <stdlib.h>
#include <string.h>

#include "au_server_priv.h"
#include "vx_mem.h"

json_t *
au_server_state_json(au_server_t *s, const char *tenant)
{
    pthread_mutex_lock(&s->state_lock);
    json_t *t = json_object_get(s->state, tenant);
    json_t *out = t ? json_deep_copy(t) : json_object();
    pthread_mutex_unlock(&s->state_lock);
    return out;
}

/* Sets value at the dotted path under root, creating (or replacing non-object values by)
 * the objects on the way (state_lock held). */
static void
s_set_path(json_t *root, const char *path, json_t *value)
{
    json_t *cur = root;
    char *copy = vx_strdup(path);
    char *save = NULL;
    char *part = strtok_r(copy, ".", &save);
    while (part != NULL) {
        char *next = strtok_r(NULL, ".", &save);
        if (next == NULL) {
            json_object_set(cur, part, value);
        } else {
            json_t *sub = json_object_get(cur, part);
            if (!json_is_object(sub)) {
                sub = json_object();
                json_object_set_new(cur, part, sub);
            }
            cur = sub;
        }
        part = next;
    }
    free(copy);
}

void
au_server_set_state(au_server_t *s, const char *tenant, const char *path, json_t *value)
{
    pthread_mutex_lock(&s->state_lock);
    json_t *cur = json_object_get(s->state, tenant);
    if (cur == NULL) {
        cur = json_object();
        json_object_set_new(s->state, tenant, cur);
    }
    s_set_path(cur, path, value);
    pthread_mutex_unlock(&s->state_lock);
    /* Triggers run without state_lock: the workflows they start may set state too. */
    struct au_workflow *ws[AU_FLOWS_MAX_FIRE];
    size_t n = au_flows_on_state(s->flows, tenant, path, value, ws, AU_FLOWS_MAX_FIRE);
    if (n == 0) {
        return;
    }
    json_t *input = json_pack("{s:s, s:O}", "state_path", path, "value", value);
    json_t *trig = json_pack("{s:s, s:s}", "kind", "state", "state_path", path);
    for (size_t i = 0; i < n; i++) {
        char id[AU_EXEC_ID_LEN];
        au_server_submit(s, ws[i], input, trig, id);
        au_workflow_unref(&ws[i]);
    }
    json_decref(trig);
    json_decref(input);
}

static void
cb_set_state(const char *tenant, const char *path, json_t *value, void *arg)
{
    au_server_set_state(arg, tenant, path, value);
}

static json_t *
cb_state(const char *tenant, void *arg)
{
    return au_server_state_json(arg, tenant);
}

static int
cb_emit(const char *tenant, json_t *event, char *err, size_t errlen, void *arg)
{
    return au_server_emit(arg, tenant, event, err, errlen);
}

void
au_server_exec_hooks(au_server_t *s, struct au_exec_hooks *hooks)
{
    hooks->emit = cb_emit;
    hooks->set_state = cb_set_state;
    hooks->state = cb_state;
    hooks->arg = s;
}
