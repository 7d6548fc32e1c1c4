/* SPDX-License-Identifier: Apache-2.0 */
/* The dedup window's state file and its writer thread (see prop_dedup_store.h). */
#include "prop_dedup_store.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vx_bgwrite.h"
#include "vx_clock.h"
#include "vx_jsonfile.h"
#include "vx_log.h"
#include "vx_mem.h"

#define S_MAGIC "VXDEDUP1"
#define S_MAGIC_LEN 8 /* the header's first bytes: S_MAGIC without its NUL */
#define S_HEADER (8 + 8 + 8)
#define S_ENTRY 16

struct prop_dedup_store {
    vx_bgwrite_t *writer; /* writes checkpoints off the loop thread */
    const vx_sealer_t *sealer;
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

/* ---- writing -------------------------------------------------------------------------------- */

/* Entries of a file body: whole entries only, the file holds no part of one. */
static size_t
s_entries(size_t len)
{
    return (len - S_HEADER) / S_ENTRY;
}

/* The outcome of one write (on the writer thread for checkpoints; the metrics are atomic). */
static void
cb_written(void *arg, int rc, uint64_t entries, const char *err)
{
    prop_dedup_store_t *st = arg;
    if (rc < 0) {
        vx_counter_add(st->failed, 1);
        vx_warn("PROP-DEDUP-CHECKPOINT", "dedup window not written: %s", err);
        return;
    }
    vx_counter_add(st->written, 1);
    vx_gauge_set(st->entries, (double)entries);
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
    st->sealer = sealer;
    const char *help = "Writes of the dedup window to the state folder, by outcome.";
    st->written = vx_metrics_counter(metrics, "vexfs_dedup_checkpoints_total", help, "outcome",
                                     "written", NULL);
    st->failed = vx_metrics_counter(metrics, "vexfs_dedup_checkpoints_total", help, "outcome",
                                    "failed", NULL);
    st->entries = vx_metrics_gauge(metrics, "vexfs_dedup_checkpoint_entries",
                                   "Content hashes in the last dedup window written.", NULL);
    char path[4200];
    snprintf(path, sizeof path, "%s/" PROP_DEDUP_FILE, state_dir);
    st->writer = vx_bgwrite_new(path, sealer, cb_written, st, err, errlen);
    if (!st->writer) {
        prop_dedup_store_destroy(&st);
        return NULL;
    }
    return st;
}

void
prop_dedup_store_destroy(prop_dedup_store_t **stp)
{
    if (!stp || !*stp) {
        return;
    }
    vx_bgwrite_destroy(&(*stp)->writer);
    vx_free(stp);
}

long
prop_dedup_store_load(prop_dedup_store_t *st, prop_dedup_t *d, char *err, size_t errlen)
{
    char *data = NULL;
    size_t len = 0;
    bool plain = false;
    char rerr[512];
    int rc = vx_seal_file_read(st->sealer, vx_bgwrite_path(st->writer), false, &data, &len, &plain, rerr,
                               sizeof rerr);
    if (rc == -ENOENT) {
        return 0;
    }
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", vx_bgwrite_path(st->writer), rerr);
        return rc;
    }
    char derr[256];
    long n = prop_dedup_decode(d, (const uint8_t *)data, len, vx_mono_ns(), vx_wall_ns(), derr,
                               sizeof derr);
    free(data);
    if (n < 0) {
        snprintf(err, errlen, "%s: %s", vx_bgwrite_path(st->writer), derr);
    }
    return n;
}

void
prop_dedup_store_checkpoint(prop_dedup_store_t *st, const prop_dedup_t *d)
{
    uint8_t *buf;
    size_t len;
    prop_dedup_encode(d, vx_mono_ns(), vx_wall_ns(), &buf, &len);
    vx_bgwrite_put(st->writer, buf, len, s_entries(len));
}

int
prop_dedup_store_save(prop_dedup_store_t *st, const prop_dedup_t *d, char *err, size_t errlen)
{
    uint8_t *buf;
    size_t len;
    prop_dedup_encode(d, vx_mono_ns(), vx_wall_ns(), &buf, &len);
    int rc = vx_bgwrite_finish(st->writer, buf, len, err, errlen);
    cb_written(st, rc, s_entries(len), err);
    free(buf);
    return rc;
}
