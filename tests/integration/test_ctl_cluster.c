/* SPDX-License-Identifier: Apache-2.0 */
/* vexfsctl cluster against a real 3-node vexfs-coordinator cluster: the status table and its
 * JSON, a leadership transfer sent to a follower (forwarded to the leader) that moves the
 * leader, and the error exits: an unknown member id carries the daemon's message, bad
 * arguments are usage errors, a closed port is a failure. */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "coord_harness.h"
#include "vx_test.h"

#define S_RUN_TIMEOUT_MS 60000

/* Runs vexfsctl cluster with the given arguments (NULL-terminated); fails the test when it
 * does not exit by itself. */
static void
s_run(struct vt_run_result *r, const char *first, ...)
{
    static char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfsctl", vt_bin_dir());
    char *argv[32];
    size_t n = 0;
    argv[n++] = bin;
    argv[n++] = (char *)"cluster";
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && n < 31; a = va_arg(ap, const char *)) {
        argv[n++] = (char *)a;
    }
    va_end(ap);
    argv[n] = NULL;
    /* "--anonymous" first: as a caller with no credential at all (no client certificate). */
    bool anon = n > 2 && strcmp(argv[2], "--anonymous") == 0;
    if (anon) {
        memmove(&argv[2], &argv[3], (n - 2) * sizeof argv[0]);
    }
    char *const env[] = {(char *)"VEXFS_CERT_FILE=none", NULL};
    int rc = vt_run(argv, anon ? env : NULL, NULL, S_RUN_TIMEOUT_MS, r);
    ck_assert_msg(rc == 0, "vexfsctl cluster did not finish (rc %d); stderr: %s", rc, r->err);
}

static int
s_exit_code(const struct vt_run_result *r)
{
    return WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
}

#define S_ASSERT_HAS(text, needle)                                                                 \
    ck_assert_msg(strstr((text), (needle)) != NULL, "expected '%s' in: %s", (needle), (text))

static void
s_url(const struct ch_cluster *c, size_t i, char out[64])
{
    snprintf(out, 64, "https://127.0.0.1:%u", (unsigned)c->node[i].rest_port);
}

START_TEST(t_status_transfer_errors)
{
    struct ch_cluster c;
    ch_start(&c, 3, NULL);
    int leader = ch_leader(&c, 10000, 0);
    ck_assert_int_ge(leader, 0);
    size_t L = (size_t)leader, F = (L + 1) % 3, T = (L + 2) % 3;
    char url[64], tok[300], want[128];
    snprintf(tok, sizeof tok, "%s/token", c.dir);

    /* Status through a follower: the leader, the term and all three members. */
    struct vt_run_result r;
    s_url(&c, F, url);
    s_run(&r, "--url", url, "status", NULL);
    ck_assert_msg(s_exit_code(&r) == 0, "status failed: %s", r.err);
    snprintf(want, sizeof want, "leader   %zu at 127.0.0.1:%u", L + 1,
             (unsigned)c.node[L].rest_port);
    S_ASSERT_HAS(r.out, want);
    S_ASSERT_HAS(r.out, "term     ");
    S_ASSERT_HAS(r.out, "commit   index ");
    S_ASSERT_HAS(r.out, "LAST CONTACT");
    for (size_t i = 0; i < 3; i++) {
        snprintf(want, sizeof want, "127.0.0.1:%u", (unsigned)c.node[i].raft_port);
        S_ASSERT_HAS(r.out, want);
    }
    vt_run_result_fini(&r);

    /* The leader sees every member healthy once heartbeats are answered. */
    s_url(&c, L, url);
    bool all_healthy = false;
    for (int attempt = 0; attempt < 100 && !all_healthy; attempt++) {
        s_run(&r, "--url", url, "status", NULL);
        all_healthy = strstr(r.out, "healthy  3 of 3 members") != NULL;
        vt_run_result_fini(&r);
    }
    ck_assert_msg(all_healthy, "the leader never reported 3 healthy members");

    s_run(&r, "--url", url, "--json", "status", NULL);
    ck_assert_int_eq(s_exit_code(&r), 0);
    json_t *doc = json_loads(r.out, 0, NULL);
    ck_assert_ptr_nonnull(doc);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "role")), "leader");
    ck_assert_uint_eq(json_array_size(json_object_get(doc, "members")), 3);
    json_decref(doc);
    vt_run_result_fini(&r);

    /* Transfer sent to a follower: it is forwarded to the leader and T takes over. */
    s_url(&c, F, url);
    char target[16];
    snprintf(target, sizeof target, "%zu", T + 1);
    s_run(&r, "--url", url, "--token-file", tok, "transfer", target, NULL);
    ck_assert_msg(s_exit_code(&r) == 0, "transfer failed: %s", r.err);
    snprintf(want, sizeof want, "leader is now node %zu", T + 1);
    S_ASSERT_HAS(r.out, want);
    vt_run_result_fini(&r);
    ck_assert_int_eq(ch_leader(&c, 5000, 1u << L), (int)T);

    /* Unknown member: nonzero, with the daemon's message. */
    s_run(&r, "--url", url, "--token-file", tok, "transfer", "42", NULL);
    ck_assert_int_eq(s_exit_code(&r), 1);
    S_ASSERT_HAS(r.err, "node 42 is not a voter of the cluster");
    vt_run_result_fini(&r);
    s_run(&r, "--url", url, "--token-file", tok, "remove", "42", NULL);
    ck_assert_int_eq(s_exit_code(&r), 1);
    S_ASSERT_HAS(r.err, "unknown_member");
    S_ASSERT_HAS(r.err, "node 42 is not a member of the cluster");
    vt_run_result_fini(&r);

    /* A member the daemon cannot use is refused with its reason (.invalid never resolves). */
    s_run(&r, "--url", url, "--token-file", tok, "add", "9@nohost.invalid:1/2/3", NULL);
    ck_assert_int_eq(s_exit_code(&r), 1);
    S_ASSERT_HAS(r.err, "cannot resolve 'nohost.invalid' to an IPv4 address");
    vt_run_result_fini(&r);

    /* Without the token the change is refused. */
    s_run(&r, "--anonymous", "--url", url, "transfer", NULL);
    ck_assert_int_eq(s_exit_code(&r), 1);
    S_ASSERT_HAS(r.err, "HTTP 401");
    vt_run_result_fini(&r);

    /* Usage errors never reach the daemon. */
    s_run(&r, "--url", url, "transfer", "x", NULL);
    ck_assert_int_eq(s_exit_code(&r), 2);
    S_ASSERT_HAS(r.err, "ID: expected 1..1000000, got x");
    vt_run_result_fini(&r);
    s_run(&r, "--url", url, "remove", NULL);
    ck_assert_int_eq(s_exit_code(&r), 2);
    vt_run_result_fini(&r);
    s_run(&r, "--url", url, "frobnicate", NULL);
    ck_assert_int_eq(s_exit_code(&r), 2);
    vt_run_result_fini(&r);

    ch_stop_all(&c);

    /* Nothing listening: a failure, not a usage error. */
    s_run(&r, "--url", url, "status", NULL);
    ck_assert_int_eq(s_exit_code(&r), 1);
    vt_run_result_fini(&r);
}
END_TEST

/* get: through a follower, a linearizable read is followed to the leader and shows the
 * write; --consistency any answers from the follower itself; an unknown key and a bad mode
 * are refused. */
START_TEST(t_get_with_consistency)
{
    struct ch_cluster c;
    ch_start(&c, 3, NULL);
    int leader = ch_leader(&c, 10000, 0);
    ck_assert_int_ge(leader, 0);
    size_t L = (size_t)leader, F = (L + 1) % 3;
    json_t *o = NULL;
    ck_assert_int_eq(ch_req(&c, L, "POST", "/v1/events",
                            "{\"type\":\"filesystem_write\",\"path\":\"/ctl/a b.txt\","
                            "\"content\":{\"v\":\"7\"}}",
                            &o),
                     200);
    long long rev = json_integer_value(json_object_get(o, "revision"));
    json_decref(o);
    /* The REST answer carries the revision as its ETag, for If-Match. */
    struct ch_resp hr;
    ch_call(&c, NULL, L, "GET", "/v1/state/ctl/a%20b.txt", NULL, NULL, 10000, &hr);
    ck_assert_int_eq(hr.status, 200);
    char etag[40];
    snprintf(etag, sizeof etag, "\"%lld\"", rev);
    ck_assert_str_eq(hr.etag, etag);
    ch_resp_fini(&hr);
    char url[64], want[128];
    s_url(&c, F, url);
    struct vt_run_result r;
    s_run(&r, "--url", url, "get", "/ctl/a b.txt", NULL);
    ck_assert_msg(s_exit_code(&r) == 0, "get failed: %s", r.err);
    S_ASSERT_HAS(r.out, "key      /ctl/a b.txt");
    snprintf(want, sizeof want, "revision %lld", rev);
    S_ASSERT_HAS(r.out, want);
    S_ASSERT_HAS(r.out, "\"v\":\"7\"");
    vt_run_result_fini(&r);
    /* The follower's own state, once it applied the write. */
    bool seen = false;
    for (int attempt = 0; attempt < 100 && !seen; attempt++) {
        s_run(&r, "--url", url, "--consistency", "any", "--json", "get", "/ctl/a b.txt", NULL);
        json_t *doc = s_exit_code(&r) == 0 ? json_loads(r.out, 0, NULL) : NULL;
        seen = doc && json_integer_value(json_object_get(doc, "revision")) == rev;
        json_decref(doc);
        vt_run_result_fini(&r);
    }
    ck_assert_msg(seen, "the follower's any read never showed revision %lld", rev);
    s_run(&r, "--url", url, "get", "/ctl/none", NULL);
    ck_assert_int_eq(s_exit_code(&r), 1);
    S_ASSERT_HAS(r.err, "unknown_key");
    vt_run_result_fini(&r);
    s_run(&r, "--url", url, "--consistency", "eventual", "get", "/ctl/none", NULL);
    ck_assert_int_eq(s_exit_code(&r), 2);
    S_ASSERT_HAS(r.err, "--consistency: expected linearizable, leader or any");
    vt_run_result_fini(&r);
    ch_stop_all(&c);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("ctl_cluster");
    TCase *tc = tcase_create("cluster");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_status_transfer_errors);
    tcase_add_test(tc, t_get_with_consistency);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
