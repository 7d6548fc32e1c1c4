/* SPDX-License-Identifier: Apache-2.0 */
/* The workflow registry and trigger matching (see au_flows.h). */
#include "au_flows.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "au_expr.h"
#include "vx_etag.h"
#include "vx_mem.h"

struct s_entry {
    struct au_workflow *w;
    bool armed[AU_WF_MAX_TRIGGERS]; /* state triggers: may fire on the next crossing */
};

struct au_flows {
    pthread_mutex_t lock;
    struct s_entry *v;
    size_t n, cap;
    uint32_t event_triggers;
    uint32_t pattern_triggers;
};

au_flows_t *
au_flows_new(void)
{
    au_flows_t *f = vx_calloc(1, sizeof *f);
    pthread_mutex_init(&f->lock, NULL);
    return f;
}

static void
s_count(au_flows_t *f)
{
    uint32_t n = 0, np = 0;
    for (size_t i = 0; i < f->n; i++) {
        for (uint32_t t = 0; t < f->v[i].w->n_triggers; t++) {
            n += f->v[i].w->triggers[t].kind == AU_TRIG_EVENT;
            np += f->v[i].w->triggers[t].kind == AU_TRIG_PATTERN;
        }
    }
    __atomic_store_n(&f->event_triggers, n, __ATOMIC_RELAXED);
    __atomic_store_n(&f->pattern_triggers, np, __ATOMIC_RELAXED);
}

void
au_flows_destroy(au_flows_t **fp)
{
    if (fp == NULL || *fp == NULL) {
        return;
    }
    au_flows_t *f = *fp;
    for (size_t i = 0; i < f->n; i++) {
        au_workflow_unref(&f->v[i].w);
    }
    free(f->v);
    pthread_mutex_destroy(&f->lock);
    vx_free(fp);
}

static ssize_t
s_find(au_flows_t *f, const char *tenant, const char *id)
{
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->v[i].w->id, id) == 0 && strcmp(f->v[i].w->tenant, tenant) == 0) {
            return (ssize_t)i;
        }
    }
    return -1;
}

static void
s_entry_init(struct s_entry *e, struct au_workflow *w)
{
    e->w = w;
    for (size_t t = 0; t < AU_WF_MAX_TRIGGERS; t++) {
        e->armed[t] = true;
    }
}

/* The tenant's definitions as given (lock held; new reference). */
static json_t *
s_list_locked(au_flows_t *f, const char *tenant)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->v[i].w->tenant, tenant) == 0) {
            json_array_append(arr, f->v[i].w->json);
        }
    }
    return arr;
}

int
au_flows_put(au_flows_t *f, json_t *def, const char *tenant, enum au_put_mode mode,
             bool *created, char *err, size_t errlen)
{
    struct au_workflow *w = NULL;
    int rc = au_workflow_parse(def, tenant, &w, err, errlen);
    if (rc < 0) {
        return rc;
    }
    pthread_mutex_lock(&f->lock);
    ssize_t at = s_find(f, tenant, w->id);
    if (created != NULL) {
        *created = at < 0;
    }
    if (at >= 0 && mode == AU_PUT_ADD) {
        snprintf(err, errlen, "workflow \"%s\" exists (PUT /v1/workflows/%s replaces it)", w->id,
                 w->id);
        rc = -EEXIST;
    } else if (at >= 0) {
        au_workflow_unref(&f->v[at].w);
        s_entry_init(&f->v[at], w);
        w = NULL;
    } else if (f->n >= AU_MAX_WORKFLOWS) {
        snprintf(err, errlen, "more than %d workflows", AU_MAX_WORKFLOWS);
        rc = -E2BIG;
    } else {
        if (f->n == f->cap) {
            f->cap = f->cap ? f->cap * 2 : 16;
            f->v = vx_realloc(f->v, f->cap * sizeof *f->v);
        }
        s_entry_init(&f->v[f->n++], w);
        w = NULL;
    }
    s_count(f);
    pthread_mutex_unlock(&f->lock);
    au_workflow_unref(&w);
    return rc;
}

int
au_flows_delete(au_flows_t *f, const char *tenant, const char *id)
{
    pthread_mutex_lock(&f->lock);
    ssize_t at = s_find(f, tenant, id);
    if (at >= 0) {
        au_workflow_unref(&f->v[at].w);
        memmove(&f->v[at], &f->v[at + 1], (f->n - (size_t)at - 1) * sizeof *f->v);
        f->n--;
        s_count(f);
    }
    pthread_mutex_unlock(&f->lock);
    return at >= 0 ? 0 : -ENOENT;
}

/* The entry of the tenant's list given with the id id (borrowed), or NULL. */
static struct au_workflow *
s_named(struct au_workflow **ws, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ws[i]->id, id) == 0) {
            return ws[i];
        }
    }
    return NULL;
}

/* Validates every definition of defs before anything changes, naming the one refused:
 * "workflows[N] (id "x"): why". Fills ws[] (caller unrefs). */
static int
s_parse_all(json_t *defs, const char *tenant, struct au_workflow **ws, char *err, size_t errlen)
{
    size_t i;
    json_t *d;
    json_array_foreach(defs, i, d) {
        char why[1024];
        const char *id = json_string_value(json_object_get(d, "id"));
        int rc = au_workflow_parse(d, tenant, &ws[i], why, sizeof why);
        if (rc == 0 && s_named(ws, i, ws[i]->id) != NULL) {
            snprintf(why, sizeof why, "id: named twice");
            rc = -EINVAL;
        }
        if (rc < 0) {
            snprintf(err, errlen, "workflows[%zu]%s%.128s%s: %s", i, id ? " (id \"" : "",
                     id ? id : "", id ? "\")" : "", why);
            return rc;
        }
    }
    return 0;
}

/* Builds the registry's next vector from the current one (lock held): other tenants'
 * entries as they are; the tenant's entries named in ws replaced, unless their definition is
 * unchanged (then kept with their trigger state); with merge the tenant's other entries kept,
 * else dropped; then ws's new ids appended. Takes the references of ws it uses (NULLs them). */
static int
s_next(au_flows_t *f, const char *tenant, struct au_workflow **ws, size_t nws, bool merge,
       struct s_entry **out, size_t *nout, size_t *capout, char *err, size_t errlen)
{
    size_t cap = f->n + nws + 1, n = 0;
    struct s_entry *v = vx_calloc(cap, sizeof *v);
    for (size_t i = 0; i < f->n; i++) {
        struct s_entry *e = &f->v[i];
        struct au_workflow *given = strcmp(e->w->tenant, tenant) == 0
                                        ? s_named(ws, nws, e->w->id)
                                        : NULL;
        if (strcmp(e->w->tenant, tenant) != 0 || (given == NULL && merge) ||
            (given != NULL && json_equal(given->json, e->w->json))) {
            v[n] = *e;
            au_workflow_ref(e->w);
            n++;
        } else if (given != NULL) {
            s_entry_init(&v[n++], au_workflow_ref(given));
        }
    }
    for (size_t j = 0; j < nws; j++) {
        if (s_find(f, tenant, ws[j]->id) < 0) {
            s_entry_init(&v[n++], au_workflow_ref(ws[j]));
        }
    }
    if (n > AU_MAX_WORKFLOWS) {
        snprintf(err, errlen, "more than %d workflows", AU_MAX_WORKFLOWS);
        for (size_t i = 0; i < n; i++) {
            au_workflow_unref(&v[i].w);
        }
        free(v);
        return -E2BIG;
    }
    *out = v;
    *nout = n;
    *capout = cap;
    return 0;
}

int
au_flows_change(au_flows_t *f, const char *tenant, json_t *defs, bool merge,
                const char *if_match, char etag[VX_ETAG_LEN], char *err, size_t errlen)
{
    size_t nws = json_array_size(defs);
    struct au_workflow **ws = vx_calloc(nws + 1, sizeof *ws);
    int rc = s_parse_all(defs, tenant, ws, err, errlen);
    if (rc < 0) {
        goto out;
    }
    pthread_mutex_lock(&f->lock);
    json_t *mine = s_list_locked(f, tenant);
    vx_etag_of(mine, "id", etag);
    json_decref(mine);
    struct s_entry *v = NULL;
    size_t n = 0, cap = 0;
    if (!vx_etag_matches(if_match, etag)) {
        snprintf(err, errlen,
                 "the workflows of tenant %s changed since they were read (If-Match %.64s, now "
                 "%s): nothing changed; read them again",
                 tenant, if_match, etag);
        rc = -ESTALE;
    } else {
        rc = s_next(f, tenant, ws, nws, merge, &v, &n, &cap, err, errlen);
    }
    if (rc == 0) {
        for (size_t i = 0; i < f->n; i++) {
            au_workflow_unref(&f->v[i].w);
        }
        free(f->v);
        f->v = v;
        f->n = n;
        f->cap = cap;
        mine = s_list_locked(f, tenant);
        vx_etag_of(mine, "id", etag);
        json_decref(mine);
        s_count(f);
    }
    pthread_mutex_unlock(&f->lock);
out:
    for (size_t i = 0; i < nws; i++) {
        au_workflow_unref(&ws[i]);
    }
    free(ws);
    return rc;
}

struct au_workflow *
au_flows_get(au_flows_t *f, const char *tenant, const char *id)
{
    pthread_mutex_lock(&f->lock);
    ssize_t at = s_find(f, tenant, id);
    struct au_workflow *w = at >= 0 ? au_workflow_ref(f->v[at].w) : NULL;
    pthread_mutex_unlock(&f->lock);
    return w;
}

json_t *
au_flows_list(au_flows_t *f, const char *tenant)
{
    pthread_mutex_lock(&f->lock);
    json_t *arr = s_list_locked(f, tenant);
    pthread_mutex_unlock(&f->lock);
    return arr;
}

json_t *
au_flows_dump(au_flows_t *f)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < f->n; i++) {
        json_array_append_new(arr, json_pack("{s:s, s:O}", "tenant", f->v[i].w->tenant,
                                             "workflow", f->v[i].w->json));
    }
    pthread_mutex_unlock(&f->lock);
    return arr;
}

size_t
au_flows_count(au_flows_t *f)
{
    pthread_mutex_lock(&f->lock);
    size_t n = f->n;
    pthread_mutex_unlock(&f->lock);
    return n;
}

int
au_flows_load(au_flows_t *f, json_t *doc, char *err, size_t errlen)
{
    json_t *arr = doc;
    if (json_is_object(doc) && json_object_get(doc, "workflows") != NULL) {
        arr = json_object_get(doc, "workflows");
    }
    json_t *one = NULL;
    if (json_is_object(arr)) {
        one = json_pack("[O]", arr);
        arr = one;
    }
    if (!json_is_array(arr)) {
        snprintf(err, errlen, "expected a workflow, a list of them or {\"workflows\":[...]}");
        return -EINVAL;
    }
    au_flows_t *tmp = au_flows_new();
    size_t i;
    json_t *x;
    int rc = 0;
    json_array_foreach(arr, i, x) {
        json_t *def = x;
        const char *tenant = "default";
        if (json_is_object(x) && json_object_get(x, "workflow") != NULL) {
            def = json_object_get(x, "workflow");
            const char *t = json_string_value(json_object_get(x, "tenant"));
            tenant = t ? t : "default";
        }
        char why[512];
        rc = au_flows_put(tmp, def, tenant, AU_PUT_ADD, NULL, why, sizeof why);
        if (rc < 0) {
            snprintf(err, errlen, "workflows[%zu]: %s", i, why);
            break;
        }
    }
    json_decref(one);
    if (rc == 0) {
        pthread_mutex_lock(&f->lock);
        struct s_entry *old = f->v;
        size_t n_old = f->n;
        f->v = tmp->v;
        f->n = tmp->n;
        f->cap = tmp->cap;
        tmp->v = old;
        tmp->n = n_old;
        s_count(f);
        pthread_mutex_unlock(&f->lock);
    }
    au_flows_destroy(&tmp);
    return rc;
}

size_t
au_flows_on_pattern(au_flows_t *f, const char *tenant, const char *pattern,
                    struct au_workflow **out, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < f->n && n < max; i++) {
        struct au_workflow *w = f->v[i].w;
        if (!w->enabled || strcmp(w->tenant, tenant) != 0) {
            continue;
        }
        for (uint32_t t = 0; t < w->n_triggers; t++) {
            if (w->triggers[t].kind == AU_TRIG_PATTERN &&
                strcmp(w->triggers[t].pattern, pattern) == 0) {
                out[n++] = au_workflow_ref(w);
                break;
            }
        }
    }
    pthread_mutex_unlock(&f->lock);
    return n;
}

bool
au_flows_has_event_triggers(au_flows_t *f)
{
    return __atomic_load_n(&f->event_triggers, __ATOMIC_RELAXED) > 0;
}

bool
au_flows_has_pattern_triggers(au_flows_t *f)
{
    return __atomic_load_n(&f->pattern_triggers, __ATOMIC_RELAXED) > 0;
}

size_t
au_flows_on_event(au_flows_t *f, const vx_event_t *ev, struct au_workflow **out, size_t max)
{
    const char *tenant = ev->tenant && ev->tenant[0] ? ev->tenant : "default";
    json_t *ctx = NULL;
    size_t n = 0;
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < f->n && n < max; i++) {
        struct au_workflow *w = f->v[i].w;
        if (!w->enabled || strcmp(w->tenant, tenant) != 0) {
            continue;
        }
        for (uint32_t t = 0; t < w->n_triggers; t++) {
            const struct au_trigger *tr = &w->triggers[t];
            if (tr->kind != AU_TRIG_EVENT || tr->event_type != (int)ev->type) {
                continue;
            }
            if (tr->when != NULL) {
                if (ctx == NULL) {
                    ctx = json_pack("{s:o}", "event", vx_event_to_json(ev));
                }
                if (!au_cond_eval(tr->when, ctx)) {
                    continue;
                }
            }
            out[n++] = au_workflow_ref(w);
            break;
        }
    }
    pthread_mutex_unlock(&f->lock);
    json_decref(ctx);
    return n;
}

static bool
s_num(json_t *v, double *out)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return true;
    }
    if (json_is_string(v)) {
        char *end = NULL;
        *out = strtod(json_string_value(v), &end);
        return end != json_string_value(v) && *end == '\0';
    }
    return false;
}

size_t
au_flows_on_state(au_flows_t *f, const char *tenant, const char *path, json_t *value,
                  struct au_workflow **out, size_t max)
{
    double v = 0;
    if (!s_num(value, &v)) {
        return 0;
    }
    size_t n = 0;
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < f->n; i++) {
        struct s_entry *e = &f->v[i];
        struct au_workflow *w = e->w;
        if (strcmp(w->tenant, tenant) != 0) {
            continue;
        }
        for (uint32_t t = 0; t < w->n_triggers; t++) {
            const struct au_trigger *tr = &w->triggers[t];
            if (tr->kind != AU_TRIG_STATE || strcmp(tr->state_path, path) != 0) {
                continue;
            }
            double x = tr->value, tol = tr->tolerance;
            bool holds, rearm;
            switch (tr->op) {
            case 0: holds = v > x; rearm = v < x - tol; break;
            case 1: holds = v >= x; rearm = v < x - tol; break;
            case 2: holds = v < x; rearm = v > x + tol; break;
            case 3: holds = v <= x; rearm = v > x + tol; break;
            default: holds = fabs(v - x) <= tol; rearm = !holds; break;
            }
            if (holds && e->armed[t]) {
                e->armed[t] = false;
                if (w->enabled && n < max) {
                    out[n++] = au_workflow_ref(w);
                }
            } else if (!holds && rearm) {
                e->armed[t] = true;
            }
        }
    }
    pthread_mutex_unlock(&f->lock);
    return n;
}
