/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's pattern set: changes over REST (each validated on a copy, then swapped in),
 * listing, and persistence in state_dir/patterns.json (see au_server.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "au_config.h"
#include "au_server_priv.h"
#include "vx_clock.h"
#include "vx_jsonfile.h"
#include "vx_log.h"

/* One change to the set, as s_edit applies it. */
enum s_edit_mode {
    S_EDIT_ADD = 0, /* a new id; an id in use is -EEXIST */
    S_EDIT_PUT,     /* replace the pattern with that id, or add it */
    S_EDIT_DELETE,  /* remove the pattern with that id; -ENOENT when none */
};

int
au_server_engine_build(struct au_feed *f, json_t *patterns, au_engine_t **out, char *err,
                       size_t errlen)
{
    au_server_t *s = f->s;
    struct au_engine_opts o = {
        .max_partials = s->max_partials,
        .max_match_events = s->max_match_events,
        .max_match_event_bytes = s->max_match_event_bytes,
        .on_alert = au_server_on_alert,
        .arg = f,
        .now_ns = vx_mono_ns(),
        .time_mode = f->replay ? AU_TIME_EVENT : s->time_mode,
        .allowed_lateness_ns = s->lateness_ns,
        .idle_timeout_ns = s->idle_ns,
        .max_reorder_bytes = s->max_reorder_bytes,
    };
    return au_engine_new(patterns, &o, out, err, errlen);
}

/* Publishes e in place of the feed's engine, keeping the counters (lock held). */
static void
s_swap(struct au_feed *f, au_engine_t *e)
{
    au_engine_inherit(e, f->engine);
    au_engine_destroy(&f->engine);
    f->engine = e;
}

/* Builds the engines of both inputs from patterns and swaps them in; the builds happen before
 * the lock is taken, so the loop waits only for the swap. Callers hold edit_lock. */
static int
s_replace(au_server_t *s, json_t *patterns, char *err, size_t errlen)
{
    au_engine_t *live = NULL, *replay = NULL;
    int rc = au_server_engine_build(&s->live, patterns, &live, err, errlen);
    if (rc == 0 && s->replay.sock != NULL) {
        rc = au_server_engine_build(&s->replay, patterns, &replay, err, errlen);
    }
    if (rc < 0) {
        au_engine_destroy(&live);
        return rc;
    }
    pthread_mutex_lock(&s->lock);
    s_swap(&s->live, live);
    if (replay != NULL) {
        s_swap(&s->replay, replay);
    }
    s->engine = s->live.engine;
    au_server_pattern_info_set(s, live);
    vx_gauge_set(s->g_patterns, (double)au_engine_pattern_count(live));
    pthread_mutex_unlock(&s->lock);
    return 0;
}

/* Stores the pattern set (edit_lock held). */
static void
s_save(au_server_t *s)
{
    json_t *doc = json_pack("{s:o}", "patterns", au_server_patterns_json(s));
    au_server_defs_save(s, "patterns", doc);
    json_decref(doc);
}

int
au_server_set_patterns(au_server_t *s, json_t *patterns, char *err, size_t errlen)
{
    pthread_mutex_lock(&s->edit_lock);
    int rc = s_replace(s, patterns, err, errlen);
    if (rc == 0) {
        s_save(s);
    }
    pthread_mutex_unlock(&s->edit_lock);
    return rc;
}

static const char *
s_tenant_of(json_t *p)
{
    const char *t = json_string_value(json_object_get(p, "tenant"));
    return t != NULL ? t : "default";
}

/* The tenant's patterns of the set all (borrowed), in its order (new reference). */
static json_t *
s_tenant_only(json_t *all, const char *tenant)
{
    json_t *arr = json_array();
    size_t i;
    json_t *p;
    json_array_foreach(all, i, p) {
        if (strcmp(s_tenant_of(p), tenant) == 0) {
            json_array_append(arr, p);
        }
    }
    return arr;
}

/* The tenant's new list: patterns (each with "tenant" set), and with merge the tenant's
 * current patterns that patterns does not name, after them (new reference). */
static json_t *
s_tenant_next(json_t *mine, const char *tenant, json_t *patterns, bool merge)
{
    json_t *arr = json_array();
    size_t i, j;
    json_t *p, *q;
    /* The request's first, so that "patterns[N]" in an error is N of the request's list. */
    json_array_foreach(patterns, i, p) {
        json_t *c = json_is_object(p) ? json_copy(p) : json_incref(p);
        if (json_is_object(c)) {
            json_object_set_new(c, "tenant", json_string(tenant));
        }
        json_array_append_new(arr, c);
    }
    json_array_foreach(mine, i, q) {
        const char *qid = json_string_value(json_object_get(q, "id"));
        bool named = false;
        json_array_foreach(patterns, j, p) {
            const char *pid = json_string_value(json_object_get(p, "id"));
            named = named || (pid != NULL && qid != NULL && strcmp(pid, qid) == 0);
        }
        if (merge && !named) {
            json_array_append(arr, q);
        }
    }
    return arr;
}

int
au_server_change_tenant_patterns(au_server_t *s, const char *tenant, json_t *patterns,
                                 bool merge, const char *if_match, char etag[VX_ETAG_LEN],
                                 char *err, size_t errlen)
{
    pthread_mutex_lock(&s->edit_lock);
    json_t *cur = au_server_patterns_json(s);
    json_t *mine = s_tenant_only(cur, tenant);
    json_t *arr = NULL;
    int rc = 0;
    vx_etag_of(mine, "id", etag);
    if (!vx_etag_matches(if_match, etag)) {
        snprintf(err, errlen,
                 "the patterns of tenant %s changed since they were read (If-Match %.64s, now "
                 "%s): nothing changed; read them again",
                 tenant, if_match, etag);
        rc = -ESTALE;
        goto out;
    }
    arr = s_tenant_next(mine, tenant, patterns, merge);
    json_t *next = json_deep_copy(arr);
    size_t i;
    json_t *p;
    json_array_foreach(cur, i, p) {
        if (strcmp(s_tenant_of(p), tenant) != 0) {
            json_array_append(next, p);
        }
    }
    rc = s_replace(s, next, err, errlen);
    json_decref(next);
    if (rc == 0) {
        s_save(s);
        vx_etag_of(arr, "id", etag);
    }
out:
    json_decref(arr);
    json_decref(mine);
    json_decref(cur);
    pthread_mutex_unlock(&s->edit_lock);
    return rc;
}

int
au_server_set_tenant_patterns(au_server_t *s, const char *tenant, json_t *patterns, char *err,
                              size_t errlen)
{
    char etag[VX_ETAG_LEN];
    return au_server_change_tenant_patterns(s, tenant, patterns, false, NULL, etag, err, errlen);
}

/* The index of the pattern with id in the array, or -1. */
static ssize_t
s_find(json_t *arr, const char *id)
{
    size_t i;
    json_t *p;
    json_array_foreach(arr, i, p) {
        const char *pid = json_string_value(json_object_get(p, "id"));
        if (pid != NULL && strcmp(pid, id) == 0) {
            return (ssize_t)i;
        }
    }
    return -1;
}

/* Applies one change to arr (a copy of the set) where the pattern with the change's id is at
 * index at (-1: none). Another tenant's id is refused as in use, except by a delete, which
 * then finds nothing: ids are unique across tenants, yet one tenant never learns of
 * another's. */
static int
s_apply(json_t *arr, ssize_t at, bool other, enum s_edit_mode mode, json_t *p, const char *id,
        char *err, size_t errlen)
{
    if (other && mode == S_EDIT_DELETE) {
        at = -1;
    } else if (other) {
        snprintf(err, errlen, "pattern id \"%.128s\" is in use", id);
        return -EEXIST;
    }
    switch (mode) {
    case S_EDIT_ADD:
        if (at >= 0) {
            snprintf(err, errlen,
                     "pattern \"%.128s\" exists (PUT /v1/patterns/%.128s replaces it)", id, id);
            return -EEXIST;
        }
        json_array_append(arr, p);
        return 0;
    case S_EDIT_PUT:
        if (at >= 0) {
            json_array_set(arr, (size_t)at, p);
        } else {
            json_array_append(arr, p);
        }
        return 0;
    case S_EDIT_DELETE:
        if (at < 0) {
            snprintf(err, errlen, "no pattern with id \"%.128s\"", id);
            return -ENOENT;
        }
        json_array_remove(arr, (size_t)at);
        return 0;
    }
    return -EINVAL;
}

/* Edits a copy of the current set and swaps it in when it validates. */
static int
s_edit(au_server_t *s, const char *tenant, enum s_edit_mode mode, json_t *p, const char *id,
       bool *created, char *err, size_t errlen)
{
    pthread_mutex_lock(&s->edit_lock);
    json_t *arr = au_server_patterns_json(s);
    ssize_t at = id != NULL ? s_find(arr, id) : -1;
    bool other = at >= 0 && strcmp(s_tenant_of(json_array_get(arr, (size_t)at)), tenant) != 0;
    int rc = s_apply(arr, at, other, mode, p, id, err, errlen);
    if (created != NULL) {
        *created = at < 0 || (other && mode == S_EDIT_DELETE);
    }
    if (rc == 0) {
        rc = s_replace(s, arr, err, errlen);
    }
    if (rc == 0) {
        s_save(s);
    }
    json_decref(arr);
    pthread_mutex_unlock(&s->edit_lock);
    return rc;
}

static const char *
s_id_of(json_t *p)
{
    const char *id = json_string_value(json_object_get(p, "id"));
    return id != NULL ? id : "";
}

int
au_server_add_pattern(au_server_t *s, const char *tenant, json_t *p, char *err, size_t errlen)
{
    json_t *c = json_copy(p);
    json_object_set_new(c, "tenant", json_string(tenant));
    int rc = s_edit(s, tenant, S_EDIT_ADD, c, s_id_of(p), NULL, err, errlen);
    json_decref(c);
    return rc;
}

int
au_server_put_pattern(au_server_t *s, const char *tenant, json_t *p, bool *created, char *err,
                      size_t errlen)
{
    json_t *c = json_copy(p);
    json_object_set_new(c, "tenant", json_string(tenant));
    int rc = s_edit(s, tenant, S_EDIT_PUT, c, s_id_of(p), created, err, errlen);
    json_decref(c);
    return rc;
}

int
au_server_delete_pattern(au_server_t *s, const char *tenant, const char *id)
{
    char err[256];
    return s_edit(s, tenant, S_EDIT_DELETE, NULL, id, NULL, err, sizeof err);
}

json_t *
au_server_patterns_json(au_server_t *s)
{
    pthread_mutex_lock(&s->lock);
    json_t *j = au_engine_patterns_json(s->engine);
    pthread_mutex_unlock(&s->lock);
    return j;
}

json_t *
au_server_tenant_patterns_json(au_server_t *s, const char *tenant)
{
    json_t *all = au_server_patterns_json(s);
    json_t *arr = s_tenant_only(all, tenant);
    json_decref(all);
    return arr;
}

json_t *
au_server_pattern_json(au_server_t *s, const char *tenant, const char *id)
{
    json_t *out = NULL;
    pthread_mutex_lock(&s->lock);
    int32_t i = au_engine_pattern_index(s->engine, id);
    struct au_pattern_stats st;
    if (i >= 0 && strcmp(au_engine_pattern(s->engine, (uint32_t)i)->tenant, tenant) == 0 &&
        au_engine_pattern_stats(s->engine, (uint32_t)i, &st) == 0) {
        out = json_deep_copy(au_engine_pattern(s->engine, (uint32_t)i)->json);
        json_t *js = json_pack("{s:I, s:I, s:I, s:I, s:s}", "matches", (json_int_t)st.matches,
                               "evictions", (json_int_t)st.evictions, "expired",
                               (json_int_t)st.expired, "partials", (json_int_t)st.partials,
                               "time_mode", st.event_time ? "event" : "processing");
        if (st.event_time) {
            json_object_set_new(js, "watermark_ns", json_integer((json_int_t)st.watermark_ns));
        }
        json_object_set_new(out, "stats", js);
    }
    pthread_mutex_unlock(&s->lock);
    return out;
}

static int
s_load(au_server_t *s, const char *path, char *err, size_t errlen)
{
    json_error_t je;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (doc == NULL) {
        snprintf(err, errlen, "patterns_file %s: %s (line %d, column %d)", path, je.text,
                 je.line, je.column);
        return -EINVAL;
    }
    json_t *arr = json_is_object(doc) ? json_object_get(doc, "patterns") : doc;
    char why[512];
    int rc = au_server_set_patterns(s, arr, why, sizeof why);
    if (rc < 0) {
        snprintf(err, errlen, "patterns_file %s: %s", path, why);
    }
    json_decref(doc);
    return rc;
}

/* The patterns at start: the stored set once there is one (it holds every change made
 * since), else patterns_file, else none. */
int
au_server_patterns_init(au_server_t *s, char *err, size_t errlen)
{
    int rc = s_replace(s, NULL, err, errlen);
    if (rc < 0) {
        return rc;
    }
    const char *file = s->cfg->patterns_file;
    json_t *doc = au_server_defs_load(s, "patterns", &rc, err, errlen);
    if (doc != NULL) {
        json_t *arr = json_is_object(doc) ? json_object_get(doc, "patterns") : doc;
        char why[512];
        rc = au_server_set_patterns(s, arr, why, sizeof why);
        if (rc < 0) {
            snprintf(err, errlen, "the stored patterns: %s", why);
        }
        json_decref(doc);
        return rc;
    }
    if (rc < 0) {
        return rc;
    }
    if (file[0] != '\0') {
        return s_load(s, file, err, errlen);
    }
    return 0;
}
