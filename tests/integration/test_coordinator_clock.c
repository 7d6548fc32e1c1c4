/* SPDX-License-Identifier: Apache-2.0 */
/* Vector clocks stay bounded against a real 3-node cluster over REST: the flood of the issue
 * (400 writes to one key, each with 256 invented clock names) is refused write by write with
 * 422 clock_too_large under the default cap, counted, the key never created and the leader's
 * memory flat; with vclock_nodes listing the producers' names the same flood is accepted with
 * every invented name folded into one entry, and a write over the cap in listed names is
 * refused and changes nothing. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_harness.h"
#include "vx_test.h"

#define S_WRITES 400
#define S_NAMES 256
#define S_WARMUP 40

/* The body of write w: one event on key with S_NAMES clock names prefix<w>-<i>. */
static char *
s_body(const char *key, int w, const char *prefix, int names)
{
    json_t *clock = json_object();
    for (int i = 0; i < names; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s%d-%d", prefix, w, i);
        json_object_set_new(clock, name, json_integer(1));
    }
    char id[40];
    snprintf(id, sizeof id, "00000000-0000-7000-8000-%012x", (unsigned)w + 1);
    json_t *e = json_pack("{s:s, s:s, s:s, s:{s:s}, s:{s:o}}", "id", id, "type",
                          "filesystem_write", "path", key, "content", "w", "x", "causality",
                          "vector_clock", clock);
    char *s = json_dumps(e, JSON_COMPACT);
    json_decref(e);
    return s;
}

/* Resident memory of pid in KiB. */
static long
s_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    long kib = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
        }
    }
    fclose(f);
    return kib;
}

/* Sends writes from to to-1 of the flood to node i; returns how many got status st. */
static int
s_flood_part(struct ch_cluster *c, size_t i, long st, int from, int to)
{
    ch_client_t *cl = ch_client_new();
    int n = 0;
    for (int w = from; w < to; w++) {
        char *body = s_body("/flood/doc", w, "invented-", S_NAMES);
        struct ch_resp r;
        ch_call(c, cl, i, "POST", "/v1/events", body, NULL, 30000, &r);
        if (r.status == st) {
            n++;
        }
        if (st == 422 && w == 0) {
            json_t *err = json_object_get(r.json, "error");
            ck_assert_str_eq(json_string_value(json_object_get(err, "code")), "clock_too_large");
            const char *msg = json_string_value(json_object_get(err, "message"));
            ck_assert_msg(msg && strstr(msg, "'/flood/doc'") &&
                              strstr(msg, "vclock_max_entries (64)"),
                          "%s", msg ? msg : "(none)");
            ck_assert_str_eq(json_string_value(json_object_get(r.json, "outcome")), "not_done");
        }
        ch_resp_fini(&r);
        free(body);
    }
    ch_client_destroy(&cl);
    return n;
}

static int
s_flood(struct ch_cluster *c, size_t i, long st)
{
    return s_flood_part(c, i, st, 0, S_WRITES);
}

/* Under AddressSanitizer freed memory waits in a quarantine (256 MB by default) before it is
 * reused and is seldom given back to the system, so the resident size follows every
 * allocation ever made; the daemons this test starts get a small quarantine and give freed
 * pages back at once, so what the RSS check sees is memory still held. */
static void
s_small_quarantine(void)
{
    const char *asan = getenv("ASAN_OPTIONS");
    if (asan) {
        char opts[1024];
        snprintf(opts, sizeof opts,
                 "%s%squarantine_size_mb=4:thread_local_quarantine_size_kb=64:"
                 "allocator_release_to_os_interval_ms=0",
                 asan, *asan ? ":" : "");
        setenv("ASAN_OPTIONS", opts, 1);
    }
}

START_TEST(t_flood_refused_by_default)
{
    struct ch_cluster c;
    s_small_quarantine();
    ch_start(&c, 3, NULL);
    int l = ch_leader(&c, 10000, 0);
    ck_assert_int_ge(l, 0);
    /* The first writes of the flood warm the server up (TLS sessions, worker threads, the
     * allocator's arenas); the rest must not make the leader grow. */
    int refused = s_flood_part(&c, (size_t)l, 422, 0, S_WARMUP);
    long rss0 = s_rss_kib(c.node[l].pid);
    refused += s_flood_part(&c, (size_t)l, 422, S_WARMUP, S_WRITES);
    ck_assert_int_eq(refused, S_WRITES);
    long rss1 = s_rss_kib(c.node[l].pid);
    /* Nothing was proposed: the key does not exist anywhere, and memory did not follow the
     * 102,400 names sent (unbounded, one key's clock alone held 14 MB of them). */
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(ch_req(&c, i, "GET", "/v1/state/flood/doc?consistency=any", NULL, NULL),
                         404);
    }
    ck_assert_msg(rss1 - rss0 < 8 * 1024, "leader RSS grew from %ld to %ld KiB", rss0, rss1);
    ck_assert_double_eq(ch_metric(&c, (size_t)l, "vexfs_consensus_clock_refused_total"),
                        S_WRITES);
    ck_assert_double_ge(
        ch_metric(&c, (size_t)l, "vexfs_events_dropped_total{reason=\"too_large\"}"), S_WRITES);
    ch_stop_all(&c);
}
END_TEST

START_TEST(t_listed_names_fold_the_rest)
{
    struct ch_cluster c;
    ch_start(&c, 3, "  vclock_nodes: \"app-*\"\n");
    int l = ch_leader(&c, 10000, 0);
    ck_assert_int_ge(l, 0);
    ck_assert_int_eq(s_flood(&c, (size_t)l, 200), S_WRITES);
    json_t *o = NULL;
    ck_assert_int_eq(ch_req(&c, (size_t)l, "GET", "/v1/state/flood/doc", NULL, &o), 200);
    json_t *clock = json_object_get(o, "vector_clock");
    size_t producer = 0;
    const char *name;
    json_t *v;
    json_object_foreach(clock, name, v) {
        producer += strncmp(name, "node-", 5) != 0;
    }
    ck_assert_uint_eq(producer, 1);
    ck_assert_int_eq(json_integer_value(json_object_get(clock, "~folded")), S_NAMES);
    long long rev = json_integer_value(json_object_get(o, "revision"));
    json_decref(o);
    ck_assert_double_ge(ch_metric(&c, (size_t)l, "vexfs_consensus_clock_folded_total"),
                        (double)S_WRITES * S_NAMES);
    /* 65 listed names on a fresh key: over the cap of 64, refused, nothing written. */
    char *body = s_body("/flood/other", 9999, "app-", 65);
    struct ch_resp r;
    ch_call(&c, NULL, (size_t)l, "POST", "/v1/events", body, NULL, 30000, &r);
    free(body);
    ck_assert_int_eq(r.status, 422);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(r.json, "error"), "code")),
        "clock_too_large");
    ch_resp_fini(&r);
    ck_assert_int_eq(ch_req(&c, (size_t)l, "GET", "/v1/state/flood/other", NULL, NULL), 404);
    ck_assert_int_eq(ch_int(&c, (size_t)l, "/v1/state/flood/doc", "revision"), rev);
    /* 64 are accepted. */
    body = s_body("/flood/other", 9999, "app-", 64);
    ch_call(&c, NULL, (size_t)l, "POST", "/v1/events", body, NULL, 30000, &r);
    free(body);
    ck_assert_int_eq(r.status, 200);
    ch_resp_fini(&r);
    ch_stop_all(&c);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("coordinator_clock");
    TCase *tc = tcase_create("flood");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, t_flood_refused_by_default);
    tcase_add_test(tc, t_listed_names_fold_the_rest);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
