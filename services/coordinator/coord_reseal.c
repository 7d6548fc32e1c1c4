/* SPDX-License-Identifier: Apache-2.0 */
/* Re-seal progress after a data-key rotation: what in the data folder is still sealed under an
 * older key (or is plaintext).
 *
 * Why a scan of the files: the coordinator never rewrites raft's files. After `vexfsctl keys
 * rotate-data` and a restart, new entries and snapshots are sealed under the newest key, and
 * what was sealed before leaves the disk only as libraft compacts it: a snapshot file goes once
 * two newer ones were written, a closed segment once every entry in it is behind a snapshot's
 * trailing window. Only the files say when that happened, so after every snapshot (and at
 * start) the folder is read on libuv's thread pool:
 *   - snapshot-<term>-<index>-<ts> (not .meta): sealed under the newest key or not, from the
 *     header of its first record (coord_seal.h; written without LZ4 when sealing, and an LZ4
 *     frame of incompressible data stores the first bytes as they are: both are read);
 *   - segments (<first>-<last> closed, open-<n> open), libraft's format 1: an 8-byte format
 *     number, then batches of [crc32 of the header, crc32 of the data, u64 n, n x (u64 term,
 *     u8 type, 3 unused, u32 size)], then each entry's data padded to 8 bytes; an open segment
 *     ends at the first zero count (it is preallocated with zeros). Every command entry is
 *     sealed under the newest key or counts as remaining (barrier and configuration entries
 *     hold none of the state and are never sealed).
 * A file being written or removed meanwhile is read as far as it is consistent; the next scan
 * sees it whole. The results go to the vexfs_coordinator_reseal_* gauges. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "coord_raft_priv.h"
#include "coord_reseal.h"
#include "vx_log.h"
#include "vx_mem.h"

#define S_MAX_FILE (1ull << 31)   /* no segment or snapshot of ours comes near */

static uint8_t *
s_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || (uint64_t)st.st_size > S_MAX_FILE) {
        fclose(f);
        return NULL;
    }
    uint8_t *buf = vx_malloc((size_t)st.st_size + 1);
    *len = fread(buf, 1, (size_t)st.st_size, f);
    fclose(f);
    return buf;
}

int
coord_reseal_scan_dir(const char *dir, uint32_t key_id, struct coord_reseal_counts *out)
{
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d) {
        return -errno;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *name = de->d_name;
        size_t nl = strlen(name);
        bool snap = strncmp(name, "snapshot-", 9) == 0 &&
                    !(nl > 5 && strcmp(name + nl - 5, ".meta") == 0);
        if (!snap && !coord_reseal_is_segment(name)) {
            continue;
        }
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        size_t len = 0;
        uint8_t *buf = s_slurp(path, &len);
        if (!buf) {
            continue; /* removed meanwhile */
        }
        if (snap) {
            coord_reseal_scan_snapshot(buf, len, key_id, out);
        } else {
            coord_reseal_scan_segment(buf, len, key_id, out);
        }
        free(buf);
    }
    closedir(d);
    return 0;
}

/* ---- scans on the thread pool, results in the gauges ----------------------------------------- */

static void
cb_scan_work(uv_work_t *w)
{
    coord_raft_t *r = w->data;
    struct coord_reseal_counts c;
    int rc = coord_reseal_scan_dir(r->data_dir, r->reseal.key_id, &c);
    pthread_mutex_lock(&r->st_mu);
    if (rc == 0) {
        r->reseal.last = c;
        r->reseal.scans++;
    }
    pthread_mutex_unlock(&r->st_mu);
}

static void
cb_scan_done(uv_work_t *w, int status)
{
    coord_raft_t *r = w->data;
    (void)status;
    r->reseal.running = false;
    pthread_mutex_lock(&r->st_mu);
    struct coord_reseal_counts c = r->reseal.last;
    pthread_mutex_unlock(&r->st_mu);
    uint64_t stale = c.stale_snapshots + c.stale_entries;
    /* Said once when the folder is found behind, and once when it caught up. */
    if (stale > 0 && !r->reseal.behind) {
        vx_info("COORD-RESEAL",
                "%" PRIu64 " of %" PRIu64 " snapshots and %" PRIu64 " of %" PRIu64
                " entries in %s are not sealed under data key %" PRIu32
                "; they leave as snapshots compact the log",
                c.stale_snapshots, c.snapshots, c.stale_entries, c.entries, r->data_dir,
                r->reseal.key_id);
    } else if (stale == 0 && r->reseal.behind) {
        vx_info("COORD-RESEAL", "every snapshot and entry in %s is sealed under data key %" PRIu32,
                r->data_dir, r->reseal.key_id);
    }
    r->reseal.behind = stale > 0;
    if (r->reseal.again && !r->closing) {
        r->reseal.again = false;
        coord_reseal_scan_start(r);
    }
}

void
coord_reseal_scan_start(coord_raft_t *r)
{
    if (!r->opts.sealer || r->closing) {
        return;
    }
    if (r->reseal.running) {
        r->reseal.again = true;
        return;
    }
    r->reseal.key_id = vx_sealer_key_id(r->opts.sealer);
    r->reseal.work.data = r;
    if (uv_queue_work(&r->loop, &r->reseal.work, cb_scan_work, cb_scan_done) == 0) {
        r->reseal.running = true;
    }
}

static double
s_get(coord_raft_t *r, int what)
{
    pthread_mutex_lock(&r->st_mu);
    const struct coord_reseal_counts *c = &r->reseal.last;
    double v = 0;
    switch (what) {
    case 0:
        v = (double)c->stale_snapshots;
        break;
    case 1:
        v = (double)c->stale_entries;
        break;
    case 2:
        v = (double)c->stale_segments;
        break;
    case 3:
        v = (double)r->reseal.scans;
        break;
    default:
        v = r->reseal.scans > 0 && c->stale_snapshots + c->stale_entries == 0;
        break;
    }
    pthread_mutex_unlock(&r->st_mu);
    return v;
}

static double cb_stale_snapshots(void *arg) { return s_get(arg, 0); }
static double cb_stale_entries(void *arg) { return s_get(arg, 1); }
static double cb_stale_segments(void *arg) { return s_get(arg, 2); }
static double cb_scans(void *arg) { return s_get(arg, 3); }
static double cb_done(void *arg) { return s_get(arg, 4); }

static double
cb_key_id(void *arg)
{
    coord_raft_t *r = arg;
    return (double)atomic_load(&r->seal_key_id);
}

void
coord_reseal_metrics_init(coord_raft_t *r, vx_metrics_t *m)
{
    vx_metrics_gauge_fn(m, "vexfs_coordinator_reseal_key_id",
                        "Data key new raft entries and snapshots are sealed with (0: "
                        "encryption off).",
                        cb_key_id, r);
    vx_metrics_gauge_fn(m, "vexfs_coordinator_reseal_remaining_snapshots",
                        "Snapshot files in data_dir not sealed under that key, at the last "
                        "scan.",
                        cb_stale_snapshots, r);
    vx_metrics_gauge_fn(m, "vexfs_coordinator_reseal_remaining_entries",
                        "Raft log entries in data_dir's segments not sealed under that key, at "
                        "the last scan.",
                        cb_stale_entries, r);
    vx_metrics_gauge_fn(m, "vexfs_coordinator_reseal_remaining_segments",
                        "Segment files holding such entries, at the last scan.",
                        cb_stale_segments, r);
    vx_metrics_gauge_fn(m, "vexfs_coordinator_reseal_scans",
                        "Scans of data_dir done (at start and after every snapshot).", cb_scans,
                        r);
    vx_metrics_gauge_fn(m, "vexfs_coordinator_reseal_done",
                        "1 once a scan found everything in data_dir sealed under the newest "
                        "key.",
                        cb_done, r);
}
