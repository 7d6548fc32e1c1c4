/* SPDX-License-Identifier: Apache-2.0 */
/* Re-sealing the coordinator's data after a data-key rotation, on a real 3-node cluster under
 * a steady stream of writes: `vexfsctl keys rotate-data` adds key 2, a rolling restart (SIGTERM,
 * start) makes every node seal with it (the first one restarted is made leader, so the two not
 * yet restarted take entries sealed under key 2 and must read their keys again), and the
 * vexfs_coordinator_reseal_* gauges report the files still under key 1 until snapshots compact
 * them away. Then, with the writes stopped:
 *  - no file under any node's data folder holds a record naming key 1 (searched byte by byte
 *    for the sealed-record header, independently of the daemon's own scan);
 *  - with data-1.key removed, every node starts (opening every entry and snapshot it loads
 *    needs only key 2) and the log holds every acknowledged write exactly once. */
#include <check.h>
#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "coord_harness.h"
#include "vx_seal.h"
#include "vx_test.h"

/* ---- a writer that never leaves a write unknown --------------------------------------------- */

struct s_writer {
    struct ch_cluster *c;
    unsigned nonce;
    atomic_bool stop;
    atomic_uint_fast64_t acked; /* writes answered 200 (each once: resent with its id) */
    atomic_uint_fast64_t lost;  /* writes still unanswered when the writer gave up */
    pthread_t thread;
};

/* Sends one write until some node answers 200 (a resend carries the same event id, so a
 * write that committed unseen is skipped as a duplicate). Gives up 60 s after the stop. */
static bool
s_write_one(struct s_writer *w, ch_client_t *cl, uint64_t n, size_t *node)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"id\":\"%08x-0001-7000-8000-%012" PRIx64 "\",\"type\":\"filesystem_write\","
             "\"path\":\"/reseal/k%" PRIu64 "\",\"content\":{\"v\":\"%" PRIu64 "\"}}",
             w->nonce, n, n % 40, n);
    uint64_t give_up = 0;
    for (;;) {
        struct ch_resp r;
        ch_call(w->c, cl, *node, "POST", "/v1/events", body, NULL, 5000, &r);
        long st = r.status;
        json_t *lid = json_object_get(json_object_get(r.json, "leader"), "id");
        int idx = json_is_integer(lid) ? ch_index(w->c, json_integer_value(lid)) : -1;
        ch_resp_fini(&r);
        if (st == 200) {
            return true;
        }
        *node = idx >= 0 ? (size_t)idx : (*node + 1) % w->c->n;
        if (atomic_load(&w->stop)) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            uint64_t now = (uint64_t)ts.tv_sec;
            give_up = give_up ? give_up : now + 60;
            if (now >= give_up) {
                return false;
            }
        }
        vt_sleep_ms(idx >= 0 ? 0 : 50);
    }
}

static void *
s_writer_main(void *arg)
{
    struct s_writer *w = arg;
    ch_client_t *cl = ch_client_new();
    size_t node = 0;
    for (uint64_t n = 1; !atomic_load(&w->stop); n++) {
        if (s_write_one(w, cl, n, &node)) {
            atomic_fetch_add(&w->acked, 1);
        } else {
            atomic_fetch_add(&w->lost, 1);
        }
    }
    ch_client_destroy(&cl);
    return NULL;
}

static void
s_writer_start(struct s_writer *w, struct ch_cluster *c)
{
    memset(w, 0, sizeof *w);
    w->c = c;
    w->nonce = (unsigned)time(NULL) ^ (unsigned)getpid();
    atomic_init(&w->stop, false);
    ck_assert_int_eq(pthread_create(&w->thread, NULL, s_writer_main, w), 0);
}

/* Waits (at most timeout_ms) until the writer acknowledged `more` writes beyond now. */
static void
s_writer_progress(struct s_writer *w, uint64_t more, int timeout_ms)
{
    uint64_t want = atomic_load(&w->acked) + more;
    for (int waited = 0; waited < timeout_ms && atomic_load(&w->acked) < want; waited += 20) {
        vt_sleep_ms(20);
    }
    ck_assert_msg(atomic_load(&w->acked) >= want, "writes stalled: %" PRIu64 " acknowledged, "
                  "expected %" PRIu64, (uint64_t)atomic_load(&w->acked), want);
}

/* ---- the cluster's re-seal gauges --------------------------------------------------------- */

struct s_reseal {
    double key_id, snapshots, entries, scans, done;
};

static struct s_reseal
s_gauges(struct ch_cluster *c, size_t i)
{
    return (struct s_reseal){
        .key_id = ch_metric(c, i, "vexfs_coordinator_reseal_key_id"),
        .snapshots = ch_metric(c, i, "vexfs_coordinator_reseal_remaining_snapshots"),
        .entries = ch_metric(c, i, "vexfs_coordinator_reseal_remaining_entries"),
        .scans = ch_metric(c, i, "vexfs_coordinator_reseal_scans"),
        .done = ch_metric(c, i, "vexfs_coordinator_reseal_done"),
    };
}

/* Waits until node i reports everything sealed under key `key` after a scan that followed at
 * least one snapshot. */
static void
s_wait_resealed(struct ch_cluster *c, size_t i, double key, int timeout_ms)
{
    struct s_reseal g = {0};
    for (int waited = 0; waited <= timeout_ms; waited += 100) {
        g = s_gauges(c, i);
        if (g.key_id == key && g.done == 1 && g.scans >= 2) {
            break;
        }
        vt_sleep_ms(100);
    }
    ck_assert_msg(g.key_id == key && g.done == 1 && g.scans >= 2 && g.snapshots == 0 &&
                      g.entries == 0,
                  "node %zu: key %.0f (expected %.0f), done %.0f after %.0f scans, %.0f "
                  "snapshots and %.0f entries remaining",
                  i + 1, g.key_id, key, g.done, g.scans, g.snapshots, g.entries);
}

/* Hands leadership to node i (POST /v1/leadership/transfer on the current leader). */
static void
s_transfer_to(struct ch_cluster *c, size_t i)
{
    for (int attempt = 0; attempt < 20; attempt++) {
        int l = ch_leader(c, 15000, 0);
        ck_assert_int_ge(l, 0);
        if ((size_t)l == i) {
            return;
        }
        char body[64];
        snprintf(body, sizeof body, "{\"id\":%llu}", (unsigned long long)c->node[i].id);
        ch_req(c, (size_t)l, "POST", "/v1/leadership/transfer", body, NULL);
        vt_sleep_ms(200);
    }
    ck_abort_msg("leadership never reached node %zu", i + 1);
}

/* ---- the files, searched independently ---------------------------------------------------- */

/* Counts sealed-record headers ("VXS1", a known algorithm, the key id big-endian) naming key
 * `id` in every file under dir. */
static size_t
s_records_under(const char *dir, uint32_t id)
{
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot read %s", dir);
    size_t found = 0;
    struct dirent *de;
    const uint8_t kid[4] = {(uint8_t)(id >> 24), (uint8_t)(id >> 16), (uint8_t)(id >> 8),
                            (uint8_t)id};
    while ((de = readdir(d))) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat st;
        if (de->d_name[0] == '.' || lstat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
            continue;
        }
        FILE *f = fopen(path, "rb");
        ck_assert_ptr_nonnull(f);
        uint8_t *buf = malloc((size_t)st.st_size + 1);
        size_t n = fread(buf, 1, (size_t)st.st_size, f);
        fclose(f);
        for (size_t k = 0; k + 9 <= n; k++) {
            if (memcmp(buf + k, VX_SEAL_MAGIC, 4) == 0 && (buf[k + 4] == 1 || buf[k + 4] == 2) &&
                memcmp(buf + k + 5, kid, 4) == 0) {
                found++;
            }
        }
        free(buf);
    }
    closedir(d);
    return found;
}

START_TEST(t_rotation_under_load)
{
    /* Data keys of this cluster's own, so that the rotation touches nothing else. */
    char keys[300], err[512];
    char *tmp = vt_tmpdir();
    snprintf(keys, sizeof keys, "%s/data-keys", tmp);
    free(tmp);
    uint32_t id = 0;
    ck_assert_msg(vx_seal_key_generate(keys, &id, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(id, 1);
    setenv("VEXFS_AT_REST_DATA_KEYS_DIR", keys, 1);

    struct ch_cluster c;
    ch_start(&c, 3, NULL);
    struct s_writer w;
    s_writer_start(&w, &c);
    /* Before the rotation: everything under key 1, and scans after snapshots say so. */
    for (size_t i = 0; i < 3; i++) {
        s_wait_resealed(&c, i, 1, 120000);
    }

    /* The rotation, with the CLI an operator uses. */
    char ctl[512];
    snprintf(ctl, sizeof ctl, "%s/vexfsctl", vt_bin_dir());
    char *argv[] = {ctl, (char *)"keys", (char *)"rotate-data", keys, NULL};
    struct vt_run_result rr;
    ck_assert_int_eq(vt_run(argv, NULL, NULL, 30000, &rr), 0);
    ck_assert_msg(WIFEXITED(rr.status) && WEXITSTATUS(rr.status) == 0 &&
                      strstr(rr.out, "data key 2"),
                  "rotate-data: status %d, out %s, err %s", rr.status, rr.out, rr.err);
    vt_run_result_fini(&rr);

    /* Rolling restart under the writes: each node then seals with key 2, and its first scan
     * finds what key 1 still holds. */
    for (size_t i = 0; i < 3; i++) {
        s_writer_progress(&w, 100, 60000);
        ch_stop_node(&c, i);
        ch_start_node(&c, i);
        ck_assert_msg(ch_wait_ready(&c, i, 30000), "node %zu not ready after its restart", i + 1);
        struct s_reseal g = s_gauges(&c, i);
        ck_assert_msg(g.key_id == 2, "node %zu seals with key %.0f after the rotation", i + 1,
                      g.key_id);
        /* The first node restarted finds key 1's files at its first scan (the others may have
         * read key 2 and compacted them away by their turn). */
        if (i == 0 && g.scans == 1) {
            ck_assert_msg(g.done == 0 && g.snapshots + g.entries > 0,
                          "node %zu: its first scan found nothing under key 1 (done %.0f, %.0f "
                          "snapshots, %.0f entries)",
                          i + 1, g.done, g.snapshots, g.entries);
        }
        if (i == 0) {
            /* The restarted node leads: the two not restarted yet receive entries sealed under
             * key 2, read their keys folder again and go on. */
            s_transfer_to(&c, 0);
            s_writer_progress(&w, 100, 60000);
            for (size_t j = 1; j < 3; j++) {
                double k = -1;
                for (int waited = 0; waited < 30000 && k != 2; waited += 100) {
                    k = ch_metric(&c, j, "vexfs_coordinator_reseal_key_id");
                    vt_sleep_ms(k == 2 ? 0 : 100);
                }
                ck_assert_msg(k == 2, "node %zu, not restarted, seals under key %.0f after "
                              "taking entries sealed under key 2 (log in %s)",
                              j + 1, k, c.node[j].log);
            }
        }
    }
    /* The writes go on until snapshots compacted key 1's records away everywhere. */
    for (size_t i = 0; i < 3; i++) {
        s_wait_resealed(&c, i, 2, 180000);
    }
    atomic_store(&w.stop, true);
    pthread_join(w.thread, NULL);
    uint64_t acked = atomic_load(&w.acked);
    ck_assert_msg(atomic_load(&w.lost) == 0, "%" PRIu64 " writes never answered",
                  (uint64_t)atomic_load(&w.lost));
    ch_stop_all(&c);

    /* The files, searched without the daemon. */
    for (size_t i = 0; i < 3; i++) {
        char dir[400];
        snprintf(dir, sizeof dir, "%s/data%zu", c.dir, i + 1);
        size_t old = s_records_under(dir, 1), cur = s_records_under(dir, 2);
        ck_assert_msg(old == 0, "%s still holds %zu records sealed under key 1", dir, old);
        ck_assert_msg(cur > 0, "%s holds no record under key 2: the search finds nothing", dir);
    }

    /* Key 1 gone: every node starts and holds every acknowledged write once. */
    char from[400], to[400];
    snprintf(from, sizeof from, "%s/data-1.key", keys);
    snprintf(to, sizeof to, "%s/data-1.key.removed", c.dir);
    ck_assert_int_eq(rename(from, to), 0);
    for (size_t i = 0; i < 3; i++) {
        ch_start_node(&c, i);
    }
    for (size_t i = 0; i < 3; i++) {
        ck_assert_msg(ch_wait_ready(&c, i, 30000),
                      "node %zu did not start with key 1 removed; log in %s", i + 1,
                      c.node[i].log);
    }
    int l = ch_leader(&c, 15000, 0);
    ck_assert_int_ge(l, 0);
    long long total = -1;
    for (int k = 0; k < 100 && total != (long long)acked; k++) {
        total = ch_int(&c, (size_t)l, "/v1/log?limit=0", "total");
        if (total != (long long)acked) {
            vt_sleep_ms(100); /* a restarted leader applies its log first */
        }
    }
    ck_assert_msg(total == (long long)acked, "log total %lld, acknowledged writes %" PRIu64,
                  total, acked);
    fprintf(stderr, "rotation under load: %" PRIu64 " writes acknowledged, all in the log with "
                    "key 1 removed\n", acked);
    ch_stop_all(&c);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("coordinator_reseal");
    TCase *tc = tcase_create("rotation");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, t_rotation_under_load);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
