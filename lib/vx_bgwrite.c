/* SPDX-License-Identifier: Apache-2.0 */
/* A state file written by a thread of its own (see vx_bgwrite.h). */
#include "vx_bgwrite.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vx_mem.h"

#define S_PATH_MAX 4200

struct vx_bgwrite {
    char path[S_PATH_MAX];
    const vx_sealer_t *sealer;
    vx_bgwrite_done_fn done;
    void *arg;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    void *pending; /* under lock: the next content to write, owned */
    size_t pending_len;
    uint64_t pending_tag;
    bool stopping; /* under lock */
};

/* The thread: writes the waiting content, newest first, until stopped. */
static void *
cb_writer(void *arg)
{
    vx_bgwrite_t *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->pending && !w->stopping) {
            pthread_cond_wait(&w->wake, &w->lock);
        }
        if (w->stopping) {
            break; /* content still waiting is the owner's to finish */
        }
        void *data = w->pending;
        size_t len = w->pending_len;
        uint64_t tag = w->pending_tag;
        w->pending = NULL;
        pthread_mutex_unlock(&w->lock);
        char err[512] = "";
        int rc = vx_seal_file_write(w->sealer, w->path, data, len, err, sizeof err);
        free(data);
        if (w->done) {
            w->done(w->arg, rc, tag, err);
        }
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

vx_bgwrite_t *
vx_bgwrite_new(const char *path, const vx_sealer_t *sealer, vx_bgwrite_done_fn done, void *arg,
               char *err, size_t errlen)
{
    if (strlen(path) >= S_PATH_MAX) {
        snprintf(err, errlen, "%.64s...: path too long", path);
        return NULL;
    }
    vx_bgwrite_t *w = vx_calloc(1, sizeof *w);
    snprintf(w->path, sizeof w->path, "%s", path);
    w->sealer = sealer;
    w->done = done;
    w->arg = arg;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    if (pthread_create(&w->thread, NULL, cb_writer, w) != 0) {
        snprintf(err, errlen, "%s: cannot start its writer thread", path);
        vx_bgwrite_destroy(&w);
        return NULL;
    }
    w->started = true;
    return w;
}

static void
s_stop_thread(vx_bgwrite_t *w)
{
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    if (w->started) {
        pthread_join(w->thread, NULL);
        w->started = false;
    }
    free(w->pending);
    w->pending = NULL;
}

void
vx_bgwrite_destroy(vx_bgwrite_t **wp)
{
    if (!wp || !*wp) {
        return;
    }
    vx_bgwrite_t *w = *wp;
    s_stop_thread(w);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    vx_free(wp);
}

void
vx_bgwrite_put(vx_bgwrite_t *w, void *data, size_t len, uint64_t tag)
{
    pthread_mutex_lock(&w->lock);
    if (w->stopping) {
        pthread_mutex_unlock(&w->lock);
        free(data);
        return;
    }
    free(w->pending); /* older content not yet written: this one supersedes it */
    w->pending = data;
    w->pending_len = len;
    w->pending_tag = tag;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

int
vx_bgwrite_finish(vx_bgwrite_t *w, const void *data, size_t len, char *err, size_t errlen)
{
    s_stop_thread(w);
    return vx_seal_file_write(w->sealer, w->path, data, len, err, errlen);
}

const char *
vx_bgwrite_path(const vx_bgwrite_t *w)
{
    return w->path;
}
