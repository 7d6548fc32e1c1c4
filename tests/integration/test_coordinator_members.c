/* SPDX-License-Identifier: Apache-2.0 */
/* Real vexfs-coordinator clusters beyond three nodes and with changing membership: a 5-node
 * cluster replicates 1,000 events identically everywhere and keeps committing with two of its
 * nodes killed (a majority of three remains); a node started with bootstrap=false joins a
 * running 3-node cluster through POST /v1/members, catches up on the log, and is removed
 * again with DELETE /v1/members/{id}, after which the cluster still commits and the removed
 * process, left running, does not disturb it. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "coord_events.h"
#include "coord_harness.h"
#include "vx_test.h"

/* Submits events first..first+count-1 (paths /members/f0../members/f30) through node via,
 * never through the nodes in skip. */
static bool
s_submit(struct ch_cluster *c, size_t via, uint64_t first, size_t count, int timeout_ms,
         unsigned skip)
{
    char *body = ch_events_body("/members/f", 31, first, count);
    bool ok = ch_submit(c, via, body, count, timeout_ms, skip);
    free(body);
    return ok;
}

/* Node i's whole log (GET /v1/log, paged) as "seq id path\n" lines. */
static char *
s_log_text(struct ch_cluster *c, size_t i, long long total)
{
    size_t cap = (size_t)total * 96 + 1, len = 0;
    char *out = calloc(1, cap);
    ck_assert_ptr_nonnull(out);
    for (long long from = 1; from <= total;) {
        char path[80];
        snprintf(path, sizeof path, "/v1/log?from=%lld&limit=5000&consistency=any", from);
        json_t *o = NULL;
        ck_assert_int_eq(ch_req(c, i, "GET", path, NULL, &o), 200);
        json_t *ev = json_object_get(o, "events");
        ck_assert_msg(json_array_size(ev) > 0, "node %zu's log ends before %lld", i + 1, from);
        size_t k;
        json_t *e;
        json_array_foreach(ev, k, e)
        {
            ck_assert_int_eq(json_integer_value(json_object_get(e, "seq")), from + (long long)k);
            len += (size_t)snprintf(out + len, cap - len, "%lld %s %s\n", from + (long long)k,
                                    json_string_value(json_object_get(e, "id")) ?: "-",
                                    json_string_value(json_object_get(e, "path")) ?: "-");
        }
        from += (long long)json_array_size(ev);
        json_decref(o);
    }
    return out;
}

/* The logs of all nodes not in skip are equal, and hold each of events 1..total once. */
static void
s_check_logs(struct ch_cluster *c, long long total, unsigned skip)
{
    char *ref = NULL;
    size_t ref_node = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (skip & (1u << i)) {
            continue;
        }
        char *t = s_log_text(c, i, total);
        if (!ref) {
            ref = t;
            ref_node = i;
            continue;
        }
        ck_assert_msg(strcmp(ref, t) == 0, "node %zu's log differs from node %zu's", i + 1,
                      ref_node + 1);
        free(t);
    }
    ck_assert_ptr_nonnull(ref);
    char *seen = calloc((size_t)total + 1, 1);
    for (char *line = ref; *line;) {
        char *id = strchr(line, ' ') + 1;
        unsigned long long v = strtoull(id + 24, NULL, 16);
        ck_assert_msg(v >= 1 && v <= (unsigned long long)total && !seen[v],
                      "event %llu twice or unknown", v);
        seen[v] = 1;
        line = strchr(line, '\n') + 1;
    }
    free(seen);
    free(ref);
}

START_TEST(t_five_nodes_replicate_and_survive_two_kills)
{
    struct ch_cluster c;
    ch_start(&c, 5, NULL);
    int leader = ch_leader(&c, 10000, 0);
    ck_assert_int_ge(leader, 0);
    json_t *o = NULL;
    ck_assert_int_eq(ch_req(&c, (size_t)(leader + 1) % 5, "GET", "/v1/cluster", NULL, &o), 200);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "total")), 5);
    json_decref(o);
    enum { TOTAL = 1000, BATCH = 50, AFTER = 200 };
    for (uint64_t first = 1; first <= TOTAL; first += BATCH) {
        size_t via = (size_t)(first / BATCH) % 5; /* through any node */
        ck_assert_msg(s_submit(&c, via, first, BATCH, 20000, 0), "batch at %llu not committed",
                      (unsigned long long)first);
    }
    ck_assert_msg(ch_all_totals(&c, TOTAL, 10000, 0), "not every node applied %d events", TOTAL);
    s_check_logs(&c, TOTAL, 0);
    /* kill -9 the leader and one follower: three of five remain, a majority. */
    size_t k1 = (size_t)leader, k2 = (size_t)(leader + 2) % 5;
    unsigned dead = (1u << k1) | (1u << k2);
    ch_kill9(&c, k1);
    ch_kill9(&c, k2);
    int nl = ch_leader(&c, 20 * CH_ELECTION_MS, dead);
    ck_assert_msg(nl >= 0, "no leader among the three survivors");
    for (uint64_t first = TOTAL + 1; first <= TOTAL + AFTER; first += BATCH) {
        ck_assert_msg(s_submit(&c, (size_t)nl, first, BATCH, 20000, dead),
                      "batch at %llu not committed with two nodes dead",
                      (unsigned long long)first);
    }
    ck_assert_msg(ch_all_totals(&c, TOTAL + AFTER, 10000, dead),
                  "the survivors did not all apply %d events", TOTAL + AFTER);
    s_check_logs(&c, TOTAL + AFTER, dead);
    ch_stop_all(&c);
}
END_TEST

/* Writes node i's configuration for joining the running cluster: bootstrap=false, and members
 * naming the cluster and itself (the node must find itself there). */
static void
s_config_joiner(struct ch_cluster *c, size_t i)
{
    struct ch_node *d = &c->node[i];
    d->id = i + 1;
    d->rest_port = vt_free_port();
    d->raft_port = vt_free_port();
    d->input_port = vt_free_port();
    snprintf(d->cfg, sizeof d->cfg, "%s/node%zu.yaml", c->dir, i + 1);
    snprintf(d->log, sizeof d->log, "%s/node%zu.log", c->dir, i + 1);
    char members[1200];
    snprintf(members, sizeof members, "%s,%llu@127.0.0.1:%u/%u/%u", c->members,
             (unsigned long long)d->id, (unsigned)d->raft_port, (unsigned)d->rest_port,
             (unsigned)d->input_port);
    char cfg[4096];
    snprintf(cfg, sizeof cfg,
             "distributed_coordination:\n"
             "  node_id: %llu\n"
             "  members: \"%s\"\n"
             "  bootstrap: false\n"
             "  data_dir: %s/data%zu\n"
             "  rest_port: %u\n"
             "  input_endpoint: \"@tcp://127.0.0.1:%u\"\n"
             "  election_timeout_ms: %d\n"
             "  heartbeat_ms: 50\n"
             "  connect_retry_ms: 100\n"
             "  snapshot_threshold: 256\n"
             "  snapshot_trailing: 64\n"
             "admin:\n"
             "  token_file: %s/token\n"
             "logging:\n"
             "  level: info\n",
             (unsigned long long)d->id, members, c->dir, i + 1, (unsigned)d->rest_port,
             (unsigned)d->input_port, CH_ELECTION_MS, c->dir);
    ck_assert_int_eq(vt_write_file(d->cfg, cfg), 0);
}

/* The number of members node i's /v1/cluster reports ("total"), or -1. */
static long long
s_members(struct ch_cluster *c, size_t i)
{
    return ch_int(c, i, "/v1/cluster", "total");
}

START_TEST(t_add_and_remove_member)
{
    struct ch_cluster c;
    ch_start(&c, 3, NULL);
    int leader = ch_leader(&c, 10000, 0);
    ck_assert_int_ge(leader, 0);
    enum { BATCH = 50, BEFORE = 12, DURING = 4, AFTER = 4 };
    uint64_t next = 1;
    /* Enough history that the joiner is sent snapshots as well as entries (threshold 256). */
    for (int b = 0; b < BEFORE; b++, next += BATCH) {
        ck_assert(s_submit(&c, (size_t)leader, next, BATCH, 20000, 0));
    }
    /* A fourth process that bootstraps nothing: it waits to be added. */
    const size_t J = 3;
    s_config_joiner(&c, J);
    c.n = 4;
    ch_start_node(&c, J);
    vt_sleep_ms(300);
    ck_assert_msg(c.node[J].pid > 0, "joiner did not start");
    char body[200];
    snprintf(body, sizeof body, "{\"member\":\"%llu@127.0.0.1:%u/%u/%u\"}",
             (unsigned long long)c.node[J].id, (unsigned)c.node[J].raft_port,
             (unsigned)c.node[J].rest_port, (unsigned)c.node[J].input_port);
    json_t *o = NULL;
    /* Through a follower first: it points at the leader. */
    size_t f = (size_t)(leader + 1) % 3;
    ck_assert_int_eq(ch_req(&c, f, "POST", "/v1/members", body, &o), 421);
    json_decref(o);
    long st = ch_req(&c, (size_t)leader, "POST", "/v1/members", body, &o);
    ck_assert_msg(st == 201, "POST /v1/members answered %ld; joiner log in %s", st,
                  c.node[J].log);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "id")), (json_int_t)c.node[J].id);
    json_decref(o);
    /* Adding it again is refused. */
    st = ch_req(&c, (size_t)leader, "POST", "/v1/members", body, &o);
    ck_assert_msg(st == 409, "adding a member twice answered %ld", st);
    json_decref(o);
    ck_assert_msg(ch_wait_ready(&c, J, 20000), "joiner not ready; log in %s",
                  c.node[J].log);
    for (int b = 0; b < DURING; b++, next += BATCH) {
        ck_assert(s_submit(&c, J, next, BATCH, 20000, 0));
    }
    long long total = (long long)next - 1;
    ck_assert_msg(ch_all_totals(&c, total, 20000, 0),
                  "joiner did not catch up: totals %lld %lld %lld %lld, want %lld",
                  ch_int(&c, 0, "/v1/log?limit=0&consistency=any", "total"),
                  ch_int(&c, 1, "/v1/log?limit=0&consistency=any", "total"),
                  ch_int(&c, 2, "/v1/log?limit=0&consistency=any", "total"),
                  ch_int(&c, 3, "/v1/log?limit=0&consistency=any", "total"), total);
    s_check_logs(&c, total, 0);
    for (size_t i = 0; i < 4; i++) {
        bool four = false;
        for (int waited = 0; waited < 5000 && !four; waited += 50) {
            four = s_members(&c, i) == 4;
            if (!four) {
                vt_sleep_ms(50);
            }
        }
        ck_assert_msg(four, "node %zu reports %lld members, want 4", i + 1, s_members(&c, i));
    }
    /* Remove it through the leader (whoever leads now). */
    leader = ch_leader(&c, 10000, 0);
    ck_assert_int_ge(leader, 0);
    char path[64];
    snprintf(path, sizeof path, "/v1/members/%llu", (unsigned long long)c.node[J].id);
    st = ch_req(&c, (size_t)leader, "DELETE", path, NULL, &o);
    ck_assert_msg(st == 200, "DELETE %s answered %ld", path, st);
    json_decref(o);
    st = ch_req(&c, (size_t)leader, "DELETE", path, NULL, &o);
    ck_assert_msg(st == 404, "removing a removed member answered %ld", st);
    json_decref(o);
    /* The three members go on alone (c.n = 3: the helpers no longer ask the removed node).
     * The removed process is left running for a while: it is never told of its removal (the
     * leader stops replicating to it), so it times out and campaigns; with pre-vote on it
     * must not disturb the members' leader or term. */
    pid_t removed = c.node[J].pid;
    c.n = 3;
    for (size_t i = 0; i < 3; i++) {
        bool three = false;
        for (int waited = 0; waited < 5000 && !three; waited += 50) {
            three = s_members(&c, i) == 3;
            if (!three) {
                vt_sleep_ms(50);
            }
        }
        ck_assert_msg(three, "node %zu reports %lld members, want 3", i + 1, s_members(&c, i));
    }
    leader = ch_leader(&c, 10000, 0);
    ck_assert_int_ge(leader, 0);
    long long term = ch_int(&c, (size_t)leader, "/v1/cluster", "term");
    ck_assert_int_gt(term, 0);
    for (int b = 0; b < AFTER; b++, next += BATCH) {
        ck_assert(s_submit(&c, (size_t)leader, next, BATCH, 20000, 0));
    }
    total = (long long)next - 1;
    ck_assert(ch_all_totals(&c, total, 10000, 0));
    s_check_logs(&c, total, 0);
    vt_sleep_ms(10 * CH_ELECTION_MS);
    ck_assert_int_eq(ch_leader(&c, 5000, 0), leader);
    ck_assert_msg(ch_int(&c, (size_t)leader, "/v1/cluster", "term") == term,
                  "the removed node disturbed the cluster: term %lld -> %lld", term,
                  ch_int(&c, (size_t)leader, "/v1/cluster", "term"));
    ck_assert(s_submit(&c, (size_t)leader, next, BATCH, 20000, 0));
    next += BATCH;
    ck_assert(ch_all_totals(&c, (long long)next - 1, 10000, 0));
    /* The removed process still shuts down cleanly. */
    int status = vt_stop(removed, SIGTERM, 60000);
    c.node[J].pid = 0;
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "removed node did not exit cleanly (status %d); log in %s", status,
                  c.node[J].log);
    ch_stop_all(&c);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("coordinator_members");
    TCase *tc = tcase_create("five");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, t_five_nodes_replicate_and_survive_two_kills);
    suite_add_tcase(s, tc);
    tc = tcase_create("membership");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, t_add_and_remove_member);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
