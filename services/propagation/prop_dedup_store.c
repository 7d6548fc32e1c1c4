/* SPDX-License-Identifier: Apache-2.0 */
/* The dedup window's state file and its writer thread (see prop_dedup_store.h). */
#include "prop_dedup_store.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vx_clock.h"
#include "vx_jsonfile.h"
#include "vx_log.h"
#include "vx_mem.h"

#define S_MAGIC "VXDEDUP1"
#define S_MAGIC_LEN 8 /* the header's first bytes: S_MAGIC without its NUL */
#define S_HEADER (8 + 8 + 8)
#define S_ENTRY 16

struct prop_dedup_store {
    char path[4200];
    const vx_sealer_t *sealer;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    uint8_t *pending; /* under lock: the next snapshot to write, owned */
    size_t pending_len;
    size_t pending_entries;
    bool stopping; /* under lock */
    vx_counter_t *written, *failed;
    vx_gauge_t *entries;
};

static void
s_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint64_t
s_get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

void
prop_dedup_encode(const prop_dedup_t *d, uint64_t now_mono, uint64_t now_wall, uint8_t **out,
                  size_t *len)
{
    size_t max = prop_dedup_size(d);
    uint64_t *pairs = vx_malloc((max ? max : 1) * 2 * sizeof *pairs);
    size_t n = prop_dedup_export(d, now_mono, pairs, max);
    uint8_t *buf = vx_malloc(S_HEADER + n * S_ENTRY);
    /* A byte tag, not a string: its NUL is not part of the file. */
    memcpy(buf, S_MAGIC, S_MAGIC_LEN); // NOLINT(bugprone-not-null-terminated-result)
    s_put64(buf + 8, now_wall);
    s_put64(buf + 16, n);
    for (size_t i = 0; i < n; i++) {
        s_put64(buf + S_HEADER + i * S_ENTRY, pairs[2 * i]);
        s_put64(buf + S_HEADER + i * S_ENTRY + 8, pairs[2 * i + 1]);
    }
    free(pairs);
    *out = buf;
    *len = S_HEADER + n * S_ENTRY;
}

long
prop_dedup_decode(prop_dedup_t *d, const uint8_t *buf, size_t len, uint64_t now_mono,
                  uint64_t now_wall, char *err, size_t errlen)
{
    if (len < S_HEADER || memcmp(buf, S_MAGIC, S_MAGIC_LEN) != 0) {
        snprintf(err, errlen, "not a dedup state file (no " S_MAGIC " header)");
        return -EPROTO;
    }
    uint64_t saved_wall = s_get64(buf + 8);
    uint64_t n = s_get64(buf + 16);
    if (n > (len - S_HEADER) / S_ENTRY || len != S_HEADER + n * S_ENTRY) {
        snprintf(err, errlen, "dedup state file: %zu bytes do not hold the %llu entries it names",
                 len, (unsigned long long)n);
        return -EPROTO;
    }
    /* Ages are written oldest first, so they never grow along the file: a file that says
     * otherwise was not written by us, and restoring it would break the window's order. */
    for (uint64_t i = 1; i < n; i++) {
        if (s_get64(buf + S_HEADER + i * S_ENTRY + 8) >
            s_get64(buf + S_HEADER + (i - 1) * S_ENTRY + 8)) {
            snprintf(err, errlen, "dedup state file: entry %llu is older than the one before it",
                     (unsigned long long)i);
            return -EPROTO;
        }
    }
    /* A clock set back reads as no time passed, never as negative. */
    uint64_t passed = now_wall > saved_wall ? now_wall - saved_wall : 0;
    long restored = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t hash = s_get64(buf + S_HEADER + i * S_ENTRY);
        uint64_t age = s_get64(buf + S_HEADER + i * S_ENTRY + 8);
        uint64_t now_age = age + passed < age ? UINT64_MAX : age + passed;
        /* Seen at now_mono - now_age; a time before the clock's start counts from its start
         * (the entry then lives a little longer than its window, never shorter). */
        uint64_t seen = now_age < now_mono ? now_mono - now_age : 0;
        if (now_mono - seen >= prop_dedup_window(d)) {
            continue;
        }
        /* Entries come oldest first: checking each at its own time rebuilds the window
         * exactly, with its bound (dedup_max_entries) applied as in normal operation. */
        if (!prop_dedup_check(d, hash, seen)) {
            restored++;
        }
    }
    return restored;
}

/* ---- the writer thread ---------------------------------------------------------------------- */

static int
s_write(prop_dedup_store_t *st, const uint8_t *buf, size_t len, char *err, size_t errlen)
{
    return vx_seal_file_write(st->sealer, st->path, buf, len, err, errlen);
}

static void *
cb_writer(void *arg)
{
    prop_dedup_store_t *st = arg;
    pthread_mutex_lock(&st->lock);
    for (;;) {
        while (!st->pending && !st->stopping) {
            pthread_cond_wait(&st->wake, &st->lock);
        }
        if (!st->pending) {
            break; /* stopping with nothing left to write */
        }
        uint8_t *buf = st->pending;
        size_t len = st->pending_len;
        size_t entries = st->pending_entries;
        st->pending = NULL;
        pthread_mutex_unlock(&st->lock);
        char err[512];
        if (s_write(st, buf, len, err, sizeof err) < 0) {
            vx_counter_add(st->failed, 1);
            vx_warn("PROP-DEDUP-CHECKPOINT", "dedup window not written: %s", err);
        } else {
            vx_counter_add(st->written, 1);
            vx_gauge_set(st->entries, (double)entries);
        }
        free(buf);
        pthread_mutex_lock(&st->lock);
    }
    pthread_mutex_unlock(&st->lock);
    return NULL;
}

prop_dedup_store_t *
prop_dedup_store_new(const char *state_dir, const vx_sealer_t *sealer, vx_metrics_t *metrics,
                     char *err, size_t errlen)
{
    int mk = vx_jsonfile_mkdir(state_dir);
    if (mk < 0) {
        snprintf(err, errlen, "state_dir %s: cannot create it: %s", state_dir, strerror(-mk));
        return NULL;
    }
    prop_dedup_store_t *st = vx_calloc(1, sizeof *st);
    snprintf(st->path, sizeof st->path, "%s/" PROP_DEDUP_FILE, state_dir);
    st->sealer = sealer;
    pthread_mutex_init(&st->lock, NULL);
    pthread_cond_init(&st->wake, NULL);
    const char *help = "Writes of the dedup window to the state folder, by outcome.";
    st->written = vx_metrics_counter(metrics, "vexfs_dedup_checkpoints_total", help, "outcome",
                                     "written", NULL);
    st->failed = vx_metrics_counter(metrics, "vexfs_dedup_checkpoints_total", help, "outcome",
                                     "failed", NULL);
    st->entries = vx_metrics_gauge(metrics, "vexfs_dedup_checkpoint_entries",
                                   "Content hashes in the last dedup window written.", NULL);
    if (pthread_create(&st->thread, NULL, cb_writer, st) != 0) {
        snprintf(err, errlen, "cannot start the dedup writer thread");
        prop_dedup_store_destroy(&st);
        return NULL;
    }
    st->started = true;
    return st;
}

static void
s_stop_thread(prop_dedup_store_t *st)
{
    if (!st->started) {
        return;
    }
    pthread_mutex_lock(&st->lock);
    st->stopping = true;
    pthread_cond_signal(&st->wake);
    pthread_mutex_unlock(&st->lock);
    pthread_join(st->thread, NULL);
    st->started = false;
}

void
prop_dedup_store_destroy(prop_dedup_store_t **stp)
{
    if (!stp || !*stp) {
        return;
    }
    prop_dedup_store_t *st = *stp;
    s_stop_thread(st);
    free(st->pending);
    pthread_cond_destroy(&st->wake);
    pthread_mutex_destroy(&st->lock);
    vx_free(stp);
}

long
prop_dedup_store_load(prop_dedup_store_t *st, prop_dedup_t *d, char *err, size_t errlen)
{
    char *data = NULL;
    size_t len = 0;
    bool plain = false;
    char rerr[512];
    int rc = vx_seal_file_read(st->sealer, st->path, false, &data, &len, &plain, rerr,
                               sizeof rerr);
    if (rc == -ENOENT) {
        return 0;
    }
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", st->path, rerr);
        return rc;
    }
    char derr[256];
    long n = prop_dedup_decode(d, (const uint8_t *)data, len, vx_mono_ns(), vx_wall_ns(), derr,
                               sizeof derr);
    free(data);
    if (n < 0) {
        snprintf(err, errlen, "%s: %s", st->path, derr);
    }
    return n;
}

void
prop_dedup_store_checkpoint(prop_dedup_store_t *st, const prop_dedup_t *d)
{
    uint8_t *buf;
    size_t len;
    prop_dedup_encode(d, vx_mono_ns(), vx_wall_ns(), &buf, &len);
    pthread_mutex_lock(&st->lock);
    if (st->stopping) {
        pthread_mutex_unlock(&st->lock);
        free(buf);
        return;
    }
    free(st->pending); /* an older snapshot not yet written: this one supersedes it */
    st->pending = buf;
    st->pending_len = len;
    st->pending_entries = (len - S_HEADER) / S_ENTRY;
    pthread_cond_signal(&st->wake);
    pthread_mutex_unlock(&st->lock);
}

int
prop_dedup_store_save(prop_dedup_store_t *st, const prop_dedup_t *d, char *err, size_t errlen)
{
    s_stop_thread(st);
    uint8_t *buf;
    size_t len;
    prop_dedup_encode(d, vx_mono_ns(), vx_wall_ns(), &buf, &len);
    int rc = s_write(st, buf, len, err, errlen);
    if (rc == 0) {
        vx_counter_add(st->written, 1);
        size_t entries = (len - S_HEADER) / S_ENTRY; /* whole entries: the file holds no part */
        vx_gauge_set(st->entries, (double)entries);
    } else {
        vx_counter_add(st->failed, 1);
    }
    free(buf);
    return rc;
}
