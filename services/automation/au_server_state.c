/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's state (in the store, see au_store.h): reads, PUT /v1/state commits, and the
 * state triggers, run by one thread from the store's outbox of committed changes.
 *
 * Exactly once per committed change: a change enters the outbox in the commit that makes it
 * visible; the thread starts the workflows its triggers pick with an id derived from the
 * change and the workflow, and removes the change only once those executions are journaled.
 * After a crash the change is evaluated again, and an execution whose id is already known
 * (journal or history) is not started twice. */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "au_server_priv.h"
#include "vx_clock.h"
#include "vx_log.h"
#include "vx_mem.h"

json_t *
au_server_state_json(au_server_t *s, const char *tenant, char *err, size_t errlen)
{
    return au_store_state_json(s->store, tenant, NULL, err, errlen);
}

static void
s_kick(au_server_t *s)
{
    pthread_mutex_lock(&s->ob_lock);
    s->ob_kick = true;
    pthread_cond_signal(&s->ob_cond);
    pthread_mutex_unlock(&s->ob_lock);
}

int
au_server_set_state(au_server_t *s, const char *tenant, const char *path, json_t *value,
                    char *err, size_t errlen)
{
    json_t *w = json_pack("[[s, O]]", path, value);
    struct au_store_commit c = {.tenant = tenant, .snap_seq = UINT64_MAX, .writes = w};
    int rc = au_store_commit(s->store, &c, err, errlen);
    json_decref(w);
    if (rc == 0) {
        s_kick(s);
    }
    return rc;
}

/* The id of the execution that change (outbox key) starts for workflow w: the same on every
 * evaluation of that change. */
static void
s_trigger_id(const char key[12], const char *tenant, const struct au_workflow *w,
             char id[AU_EXEC_ID_LEN])
{
    crypto_generichash_state h;
    uint8_t raw[VX_EVENT_ID_LEN];
    crypto_generichash_init(&h, NULL, 0, sizeof raw);
    crypto_generichash_update(&h, (const uint8_t *)key, 12);
    crypto_generichash_update(&h, (const uint8_t *)tenant, strlen(tenant) + 1);
    crypto_generichash_update(&h, (const uint8_t *)w->id, strlen(w->id) + 1);
    crypto_generichash_final(&h, raw, sizeof raw);
    char str[VX_EVENT_ID_STR];
    vx_event_id_format(raw, str);
    snprintf(id, AU_EXEC_ID_LEN, "%s", str);
}

/* Starts the triggers of one committed change; false when it must be evaluated again later
 * (the daemon stops, or a journal write failed). */
static bool
s_change(au_server_t *s, const char key[12], json_t *ch)
{
    const char *tenant = json_string_value(json_object_get(ch, "tenant"));
    const char *path = json_string_value(json_object_get(ch, "path"));
    json_t *value = json_object_get(ch, "value");
    if (tenant == NULL || path == NULL || value == NULL) {
        const char *why = json_string_value(json_object_get(ch, "error"));
        vx_error("AU-TRIGGER", "a committed state change cannot be read (%s): its triggers "
                 "are skipped", why ? why : "not a change");
        vx_counter_add(s->c_trig_unreadable, 1);
        return true;
    }
    struct au_workflow *ws[AU_FLOWS_MAX_FIRE];
    size_t n = au_flows_on_state(s->flows, tenant, path, value, ws, AU_FLOWS_MAX_FIRE);
    json_t *seq = json_object_get(ch, "seq");
    json_t *input = json_pack("{s:s, s:O, s:O}", "state_path", path, "value", value, "commit",
                              seq ? seq : json_null());
    json_t *trig = json_pack("{s:s, s:s, s:O}", "kind", "state", "state_path", path, "commit",
                             seq ? seq : json_null());
    bool done = true;
    for (size_t i = 0; i < n; i++) {
        char id[AU_EXEC_ID_LEN];
        s_trigger_id(key, tenant, ws[i], id);
        int rc = au_exec_submit_id(s->exec, ws[i], input, trig, id);
        if (rc == -ECANCELED || rc == -EIO) {
            done = false;
        } else if (rc < 0 && rc != -EEXIST) {
            au_server_trigger_failed(s, ws[i], rc);
        }
        au_workflow_unref(&ws[i]);
    }
    json_decref(trig);
    json_decref(input);
    return done;
}

/* Evaluates every change in the outbox, oldest first, S_OB_BATCH at a time: the changes whose
 * executions were started (journaled) are removed together, in one store change, so the
 * outbox drains at the rate changes are committed rather than one fsync per change. A crash
 * before the removal evaluates them again; the executions' ids make that start nothing
 * twice. */
#define S_OB_BATCH 64

static void
s_drain(au_server_t *s)
{
    struct au_store_change batch[S_OB_BATCH];
    bool more = true;
    while (!s->ob_stop && more) {
        size_t n = au_store_outbox_take(s->store, batch, S_OB_BATCH);
        size_t done = 0;
        while (done < n && !s->ob_stop && s_change(s, batch[done].key, batch[done].change)) {
            done++;
        }
        more = n == S_OB_BATCH && done == n;
        if (au_store_outbox_del_n(s->store, batch, done) < 0) {
            more = false; /* again at the next kick or tick */
        }
        for (size_t i = 0; i < n; i++) {
            json_decref(batch[i].change);
        }
    }
}

static void *
cb_outbox(void *arg)
{
    au_server_t *s = arg;
    pthread_mutex_lock(&s->ob_lock);
    while (!s->ob_stop) {
        s->ob_kick = false;
        pthread_mutex_unlock(&s->ob_lock);
        s_drain(s);
        pthread_mutex_lock(&s->ob_lock);
        if (!s->ob_kick && !s->ob_stop) {
            struct timespec ts;
            au_exec_deadline(&ts, VX_NS_PER_S);
            pthread_cond_timedwait(&s->ob_cond, &s->ob_lock, &ts);
        }
    }
    pthread_mutex_unlock(&s->ob_lock);
    return NULL;
}

int
au_server_outbox_start(au_server_t *s)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->ob_cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&s->ob_lock, NULL);
    s->ob_started = pthread_create(&s->ob_thread, NULL, cb_outbox, s) == 0;
    return s->ob_started ? 0 : -EAGAIN;
}

void
au_server_outbox_stop(au_server_t *s)
{
    if (!s->ob_started) {
        return;
    }
    pthread_mutex_lock(&s->ob_lock);
    s->ob_stop = true;
    pthread_cond_signal(&s->ob_cond);
    pthread_mutex_unlock(&s->ob_lock);
    pthread_join(s->ob_thread, NULL);
    pthread_cond_destroy(&s->ob_cond);
    pthread_mutex_destroy(&s->ob_lock);
    s->ob_started = false;
}

static void
cb_committed(void *arg)
{
    s_kick(arg);
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
    hooks->committed = cb_committed;
    hooks->arg = s;
}
