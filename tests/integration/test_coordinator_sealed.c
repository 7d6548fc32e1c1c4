/* SPDX-License-Identifier: Apache-2.0 */
/* Raft entries and snapshots sealed at rest (at_rest.encryption: required, the default), on
 * real 3-node clusters:
 *  - after writes that reach a snapshot, no file under any node's data folder holds the
 *    events' paths or values (the same run with encryption off finds them: the search works);
 *  - a node restarted with a wrong data key, or with encryption off, refuses to start with a
 *    message naming the record, and leaves its data folder as it was;
 *  - turning encryption on over a plaintext cluster: old entries and snapshots are still read,
 *    new ones are sealed, and the plaintext leaves the disk as snapshots compact the log. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "coord_harness.h"
#include "vx_seal.h"
#include "vx_test.h"

#define S_OLD "plaintext-marker-0ld"
#define S_NEW "plaintext-marker-n3w"

/* Writes n events under /sealed/<marker>/k<i> with the marker in the value, one per request. */
static void
s_writes(struct ch_cluster *c, size_t leader, const char *marker, int n)
{
    ch_client_t *cl = ch_client_new();
    for (int i = 0; i < n; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"type\":\"filesystem_write\",\"path\":\"/sealed/%s/k%d\","
                 "\"content\":{\"secret\":\"%s-%d\"}}",
                 marker, i % 50, marker, i);
        struct ch_resp r;
        ch_call(c, cl, leader, "POST", "/v1/events", body, NULL, 30000, &r);
        ck_assert_msg(r.status == 200, "write %d answered %ld", i, r.status);
        ch_resp_fini(&r);
    }
    ch_client_destroy(&cl);
}

/* Whether any file under dir (recursively) contains needle. */
static bool
s_found(const char *dir, const char *needle)
{
    DIR *d = opendir(dir);
    if (!d) {
        return false;
    }
    bool found = false;
    size_t nl = strlen(needle);
    struct dirent *de;
    while (!found && (de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(path, &st) < 0) {
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            found = s_found(path, needle);
            continue;
        }
        FILE *f = fopen(path, "rb");
        if (!f) {
            continue;
        }
        char *buf = malloc((size_t)st.st_size + 1);
        size_t n = fread(buf, 1, (size_t)st.st_size, f);
        fclose(f);
        for (size_t i = 0; i + nl <= n && !found; i++) {
            found = memcmp(buf + i, needle, nl) == 0;
        }
        free(buf);
    }
    closedir(d);
    return found;
}

static bool
s_found_any(struct ch_cluster *c, const char *needle)
{
    for (size_t i = 0; i < c->n; i++) {
        char dir[300];
        snprintf(dir, sizeof dir, "%s/data%zu", c->dir, i + 1);
        if (s_found(dir, needle)) {
            return true;
        }
    }
    return false;
}

/* Waits until every node took at least want snapshots. */
static void
s_wait_snapshots(struct ch_cluster *c, double want)
{
    for (size_t i = 0; i < c->n; i++) {
        double v = -1;
        for (int k = 0; k < 400 && v < want; k++) {
            v = ch_metric(c, i, "vexfs_consensus_snapshot_seconds_count");
            if (v < want) {
                vt_sleep_ms(50);
            }
        }
        ck_assert_msg(v >= want, "node %zu took %.0f snapshots", i + 1, v);
    }
}

START_TEST(t_nothing_in_clear)
{
    struct ch_cluster c;
    ch_start(&c, 3, NULL);
    int l = ch_leader(&c, 10000, 0);
    ck_assert_int_ge(l, 0);
    s_writes(&c, (size_t)l, S_NEW, 300);
    s_wait_snapshots(&c, 1);
    /* The state reads back in clear over the API... */
    json_t *o = NULL;
    ck_assert_int_eq(ch_req(&c, (size_t)l, "GET", "/v1/state/sealed/" S_NEW "/k7", NULL, &o),
                     200);
    json_decref(o);
    ch_stop_all(&c);
    /* ...and is nowhere on disk. */
    ck_assert_msg(!s_found_any(&c, S_NEW), "a data folder holds the plaintext marker");
    ck_assert_msg(!s_found_any(&c, "/sealed/"), "a data folder holds an event path");
}
END_TEST

START_TEST(t_plaintext_control)
{
    setenv("VEXFS_AT_REST_ENCRYPTION", "off", 1);
    struct ch_cluster c;
    ch_start(&c, 3, NULL);
    int l = ch_leader(&c, 10000, 0);
    ck_assert_int_ge(l, 0);
    s_writes(&c, (size_t)l, S_OLD, 20);
    ch_stop_all(&c);
    ck_assert_msg(s_found_any(&c, S_OLD), "encryption off: the marker should be on disk");
}
END_TEST

/* A listing of every file under dir with size and modification time, as one string. */
static void
s_listing(const char *dir, char *out, size_t outlen)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *de;
    size_t o = strlen(out);
    while ((de = readdir(d))) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat st;
        if (de->d_name[0] == '.' || lstat(path, &st) < 0) {
            continue;
        }
        o += (size_t)snprintf(out + o, outlen - o, "%s %lld %lld.%09ld\n", de->d_name,
                              (long long)st.st_size, (long long)st.st_mtim.tv_sec,
                              st.st_mtim.tv_nsec);
    }
    closedir(d);
}

/* Starts node i with env and expects it to exit at once, non-zero, saying want. */
static void
s_refused_start(struct ch_cluster *c, size_t i, const char *env, const char *want)
{
    char data[300], before[8192] = "", after[8192] = "";
    snprintf(data, sizeof data, "%s/data%zu", c->dir, i + 1);
    s_listing(data, before, sizeof before);
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfs-coordinator", vt_bin_dir());
    char *argv[] = {bin, (char *)"--config", c->node[i].cfg, NULL};
    char *envp[] = {(char *)env, NULL};
    struct vt_run_result r;
    ck_assert_int_eq(vt_run(argv, envp, NULL, 30000, &r), 0);
    ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) != 0, "started with %s", env);
    ck_assert_msg(strstr(r.err, want), "expected '%s' in: %s", want, r.err);
    vt_run_result_fini(&r);
    s_listing(data, after, sizeof after);
    ck_assert_str_eq(before, after);
}

START_TEST(t_wrong_or_missing_key_refused)
{
    struct ch_cluster c;
    ch_start(&c, 3, NULL);
    int l = ch_leader(&c, 10000, 0);
    ck_assert_int_ge(l, 0);
    s_writes(&c, (size_t)l, S_NEW, 300);
    s_wait_snapshots(&c, 1);
    ch_stop_all(&c);
    char keys[300], err[512], env[400];
    snprintf(keys, sizeof keys, "%s/other-keys", c.dir);
    uint32_t id = 0;
    ck_assert_msg(vx_seal_key_generate(keys, &id, err, sizeof err) == 0, "%s", err);
    snprintf(env, sizeof env, "VEXFS_AT_REST_DATA_KEYS_DIR=%s", keys);
    /* Same key id, other bytes: the record does not open. */
    s_refused_start(&c, 0, env, "raft_start");
    s_refused_start(&c, 0, env, "does not authenticate");
    s_refused_start(&c, 1, "VEXFS_AT_REST_ENCRYPTION=off", "at_rest.encryption is off");
    /* With the right key every node starts again and holds what was written. */
    for (size_t i = 0; i < 3; i++) {
        ch_start_node(&c, i);
    }
    for (size_t i = 0; i < 3; i++) {
        ck_assert(ch_wait_ready(&c, i, 20000));
    }
    l = ch_leader(&c, 10000, 0);
    ck_assert_int_ge(l, 0);
    ck_assert_int_eq(ch_int(&c, (size_t)l, "/v1/log?limit=0", "total"), 300);
    ch_stop_all(&c);
}
END_TEST

START_TEST(t_migration_to_sealed)
{
    setenv("VEXFS_AT_REST_ENCRYPTION", "off", 1);
    struct ch_cluster c;
    ch_start(&c, 3, NULL);
    int l = ch_leader(&c, 10000, 0);
    ck_assert_int_ge(l, 0);
    s_writes(&c, (size_t)l, S_OLD, 300);
    s_wait_snapshots(&c, 1);
    ch_stop_all(&c);
    ck_assert(s_found_any(&c, S_OLD));
    /* Encryption on: the plaintext log and snapshot are still read. */
    unsetenv("VEXFS_AT_REST_ENCRYPTION");
    for (size_t i = 0; i < 3; i++) {
        ch_start_node(&c, i);
    }
    for (size_t i = 0; i < 3; i++) {
        ck_assert(ch_wait_ready(&c, i, 20000));
    }
    l = ch_leader(&c, 10000, 0);
    ck_assert_int_ge(l, 0);
    ck_assert_int_eq(ch_req(&c, (size_t)l, "GET", "/v1/state/sealed/" S_OLD "/k3", NULL, NULL),
                     200);
    /* New writes are sealed; enough of them compact the old log and snapshots away. */
    double snaps = ch_metric(&c, (size_t)l, "vexfs_consensus_snapshot_seconds_count");
    s_writes(&c, (size_t)l, S_NEW, 800);
    s_wait_snapshots(&c, snaps + 2);
    ck_assert_int_eq(ch_int(&c, (size_t)l, "/v1/log?limit=0", "total"), 1100);
    ch_stop_all(&c);
    ck_assert_msg(!s_found_any(&c, S_NEW), "a sealed write is on disk in clear");
    ck_assert_msg(!s_found_any(&c, S_OLD), "the plaintext of before the migration is still on "
                                           "disk after the log was compacted");
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("coordinator_sealed");
    TCase *tc = tcase_create("at rest");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, t_nothing_in_clear);
    tcase_add_test(tc, t_plaintext_control);
    tcase_add_test(tc, t_wrong_or_missing_key_refused);
    tcase_add_test(tc, t_migration_to_sealed);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
