/* SPDX-License-Identifier: Apache-2.0 */
/* The answers the coordinator gives when things go wrong, each checked against what became
 * of the write (real 3-node clusters, loopback, real processes):
 *  - a paused leader (SIGSTOP) resumed after the others moved on: it serves no stale
 *    linearizable read, and a write it is given is refused (not done: never committed),
 *    acknowledged (committed), or unknown;
 *  - a new leader before its first own-term commit: a linearizable read right after the old
 *    leader was killed still sees the write the old leader acknowledged last;
 *  - 421 never names a leader known to be gone: once a follower missed the dead leader's
 *    heartbeats it answers 503 no_leader with Retry-After until a new leader is elected, and
 *    nothing it refused was committed;
 *  - 504 means "may have happened": a write that cannot commit in time gets 504 with outcome
 *    "unknown" (it did commit later in this test), and sent again with the same id it is in
 *    the log exactly once;
 *  - 503 partitioned means "not done": such a write never commits. */
#include <check.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coord_events.h"
#include "coord_harness.h"
#include "lin_check.h"
#include "vx_test.h"

/* POSTs one event (id n, value v) to node; returns the answer. */
static void
s_put(struct ch_cluster *c, size_t node, const char *key, uint64_t n, uint64_t v,
      struct ch_resp *r)
{
    char id[40], body[512];
    ch_event_id(n, id);
    snprintf(body, sizeof body,
             "{\"id\":\"%s\",\"type\":\"filesystem_write\",\"path\":\"%s\","
             "\"content\":{\"v\":\"%" PRIu64 "\"}}",
             id, key, v);
    ch_call(c, NULL, node, "POST", "/v1/events", body, NULL, 10000, r);
}

/* Writes event n (value n) through whichever node leads, following 421 until acknowledged. */
static void
s_put_ok(struct ch_cluster *c, const char *key, uint64_t n)
{
    uint64_t deadline = vt_now_ms() + 15000;
    int node = ch_leader(c, 10000, 0);
    while (vt_now_ms() < deadline) {
        ck_assert_int_ge(node, 0);
        struct ch_resp r;
        s_put(c, (size_t)node, key, n, n, &r);
        long st = r.status;
        json_t *lid = json_object_get(json_object_get(r.json, "leader"), "id");
        int idx = st == 421 && json_is_integer(lid) ? ch_index(c, json_integer_value(lid)) : -1;
        ch_resp_fini(&r);
        if (st == 200) {
            return;
        }
        node = idx >= 0 ? idx : ch_leader(c, 10000, 0);
    }
    ck_abort_msg("write %" PRIu64 " was not acknowledged within 15 s", n);
}

static const char *
s_code(const struct ch_resp *r)
{
    const char *c = json_string_value(json_object_get(json_object_get(r->json, "error"), "code"));
    return c ? c : "";
}

static const char *
s_outcome(const struct ch_resp *r)
{
    const char *o = json_string_value(json_object_get(r->json, "outcome"));
    return o ? o : "";
}

/* Whether event n is in the log, read linearizably (page by page) through the leader. */
static bool
s_committed(struct ch_cluster *c, uint64_t n)
{
    char id[40];
    ch_event_id(n, id);
    for (int attempt = 0; attempt < 100; attempt++) {
        int l = ch_leader(c, 15000, 0);
        ck_assert_int_ge(l, 0);
        bool found = false, failed = false;
        for (long long from = 1; !found && !failed;) {
            char path[96];
            snprintf(path, sizeof path, "/v1/log?from=%lld&limit=10000", from);
            json_t *o = NULL;
            if (ch_req(c, (size_t)l, "GET", path, NULL, &o) != 200) {
                failed = true;
            } else {
                size_t i;
                json_t *e;
                json_array_foreach(json_object_get(o, "events"), i, e)
                {
                    found |= strcmp(json_string_value(json_object_get(e, "id")) ?: "", id) == 0;
                }
                long long next = json_integer_value(json_object_get(o, "next"));
                long long total = json_integer_value(json_object_get(o, "total"));
                if (next > total || next <= from) {
                    json_decref(o);
                    break;
                }
                from = next;
            }
            json_decref(o);
        }
        if (!failed) {
            return found;
        }
        vt_sleep_ms(100);
    }
    ck_abort_msg("the log could not be read linearizably");
    return false;
}

/* A not-done answer must never commit; a 200 must; 504 may go either way. */
static void
s_check_outcome(struct ch_cluster *c, const struct ch_resp *r, uint64_t n, const char *what)
{
    bool committed = s_committed(c, n);
    fprintf(stderr, "%s: %ld %s (outcome %s), committed: %s\n", what, r->status, s_code(r),
            s_outcome(r), committed ? "yes" : "no");
    if (r->status == 200) {
        ck_assert_msg(committed, "%s: acknowledged but not committed", what);
    } else if (r->status == 421 || r->status == 503) {
        ck_assert_str_eq(s_outcome(r), "not_done");
        ck_assert_msg(!committed, "%s: answered %ld (not done) but committed", what, r->status);
    } else {
        ck_assert_msg(r->status == 504, "%s: unexpected %ld", what, r->status);
        ck_assert_str_eq(s_outcome(r), "unknown");
    }
}

/* A request sent to the paused leader from a thread of its own, answered once it resumes. */
struct s_pending {
    struct ch_cluster *c;
    size_t node;
    const char *method, *path;
    char body[512];
    struct ch_resp r;
    pthread_t thread;
};

static void *
s_pending_main(void *arg)
{
    struct s_pending *p = arg;
    ch_call(p->c, NULL, p->node, p->method, p->path, p->body[0] ? p->body : NULL, NULL, 20000,
            &p->r);
    return NULL;
}

/* Why long: per round, a write everyone has, the leader paused, a newer write through the
 * new leader, then a linearizable read and a write sent to the paused leader while it is
 * stopped (so that they reach it the moment it resumes, before it hears of the new term),
 * each answer checked against what was committed. */
START_TEST(t_paused_leader)
{
    struct ch_cluster c;
    ch_start(&c, 3, NULL);
    const char *key = "/out/paused";
    uint64_t n = 100;
    for (int round = 0; round < 3; round++) {
        n++;
        s_put_ok(&c, key, n);
        uint64_t old = n;
        int l = ch_leader(&c, 10000, 0);
        ck_assert_int_ge(l, 0);
        kill(c.node[l].pid, SIGSTOP);
        int l2 = ch_leader(&c, 15000, 1u << l);
        ck_assert_int_ge(l2, 0);
        n++;
        s_put_ok(&c, key, n);
        uint64_t fresh = n;
        struct s_pending rd = {.c = &c, .node = (size_t)l, .method = "GET"};
        char path[256];
        snprintf(path, sizeof path, "/v1/state?key=%s", key);
        rd.path = path;
        struct s_pending wr = {.c = &c, .node = (size_t)l, .method = "POST", .path = "/v1/events"};
        n++;
        char id[40];
        ch_event_id(n, id);
        snprintf(wr.body, sizeof wr.body,
                 "{\"id\":\"%s\",\"type\":\"filesystem_write\",\"path\":\"%s\","
                 "\"content\":{\"v\":\"%" PRIu64 "\"}}",
                 id, key, n);
        ck_assert_int_eq(pthread_create(&rd.thread, NULL, s_pending_main, &rd), 0);
        ck_assert_int_eq(pthread_create(&wr.thread, NULL, s_pending_main, &wr), 0);
        vt_sleep_ms(100); /* both requests wait in the paused process's sockets */
        kill(c.node[l].pid, SIGCONT);
        pthread_join(rd.thread, NULL);
        pthread_join(wr.thread, NULL);
        const char *v = json_string_value(json_object_get(
            json_object_get(json_object_get(json_object_get(rd.r.json, "register"), "value"),
                            "content"),
            "v"));
        fprintf(stderr, "paused leader, round %d: linearizable read answered %ld %s\n", round,
                rd.r.status, rd.r.status == 200 ? v : s_code(&rd.r));
        ck_assert_msg(rd.r.status != 200 || strtoull(v ? v : "0", NULL, 10) == fresh,
                      "the resumed leader answered a stale %s (old %" PRIu64 ", new %" PRIu64
                      ")",
                      v, old, fresh);
        ck_assert_msg(rd.r.status == 200 || rd.r.status == 421 || rd.r.status == 503 ||
                          rd.r.status == 504,
                      "unexpected %ld", rd.r.status);
        s_check_outcome(&c, &wr.r, n, "write to the resumed leader");
        ch_resp_fini(&rd.r);
        ch_resp_fini(&wr.r);
    }
    ch_stop_all(&c);
}
END_TEST

/* The value of key on node with a consistency, as a GET answers it: 0 absent, -1 no answer. */
static long long
s_get(struct ch_cluster *c, size_t node, const char *key, const char *consistency)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/state?key=%s&consistency=%s", key, consistency);
    struct ch_resp r;
    ch_call(c, NULL, node, "GET", path, NULL, NULL, 3000, &r);
    long long out = -1;
    if (r.status == 404) {
        out = 0;
    } else if (r.status == 200) {
        const char *v = json_string_value(json_object_get(
            json_object_get(json_object_get(json_object_get(r.json, "register"), "value"),
                            "content"),
            "v"));
        out = v ? strtoll(v, NULL, 10) : 0;
    }
    ch_resp_fini(&r);
    return out;
}

/* A survivor asked without pause, linearizable and any in turn, from the moment the leader
 * died until it gave `want_answers` linearizable answers. */
struct s_poller {
    struct ch_cluster *c;
    size_t node;
    const char *key;
    long long want;
    unsigned lin_answers, lin_wrong, any_answers, any_stale;
    long long wrong_value;
    atomic_bool *done; /* set by the first poller to collect its answers */
    pthread_t thread;
};

static void *
s_poller_main(void *arg)
{
    struct s_poller *p = arg;
    uint64_t deadline = vt_now_ms() + 15000;
    while (!atomic_load(p->done) && vt_now_ms() < deadline) {
        long long any = s_get(p->c, p->node, p->key, "any");
        p->any_answers += any >= 0;
        p->any_stale += any >= 0 && any != p->want;
        long long lin = s_get(p->c, p->node, p->key, "linearizable");
        if (lin >= 0) {
            p->lin_answers++;
            if (lin != p->want) {
                p->lin_wrong++;
                p->wrong_value = lin;
            }
            if (p->lin_answers >= 20) {
                atomic_store(p->done, true);
            }
        }
    }
    return NULL;
}

/* Why long: per round, a write, the leader killed right after acknowledging it, then both
 * survivors asked without pause (linearizable and any) from two threads, so that reads
 * arrive while the new leader has not yet committed an entry of its own term. */
START_TEST(t_new_leader_waits_for_own_term_commit)
{
    struct ch_cluster c;
    ch_start(&c, 3, NULL);
    const char *key = "/out/successor";
    unsigned stale_any = 0, any_answers = 0, lin_answers = 0;
    for (uint64_t round = 1; round <= 5; round++) {
        /* A write through the leader, then that leader killed the moment it acknowledged:
         * the followers do not know the entry is committed yet (they learn it with the next
         * heartbeat); the next leader must find out before it answers a read. */
        int l = -1;
        bool acked = false;
        for (int attempt = 0; attempt < 50 && !acked; attempt++) {
            l = ch_leader(&c, 10000, 0);
            ck_assert_int_ge(l, 0);
            struct ch_resp r;
            s_put(&c, (size_t)l, key, 200 + round, 200 + round, &r);
            acked = r.status == 200;
            ch_resp_fini(&r);
        }
        ck_assert(acked);
        ch_kill9(&c, (size_t)l);
        struct s_poller p[2];
        atomic_bool done;
        atomic_init(&done, false);
        for (int k = 0; k < 2; k++) {
            p[k] = (struct s_poller){.c = &c, .node = ((size_t)l + 1 + (size_t)k) % 3,
                                     .key = key, .want = (long long)(200 + round),
                                     .done = &done};
            ck_assert_int_eq(pthread_create(&p[k].thread, NULL, s_poller_main, &p[k]), 0);
        }
        for (int k = 0; k < 2; k++) {
            pthread_join(p[k].thread, NULL);
            ck_assert_msg(p[k].lin_wrong == 0,
                          "round %" PRIu64 ": %u of %u linearizable reads on node %zu gave a "
                          "stale %lld, the acknowledged write was %" PRIu64,
                          round, p[k].lin_wrong, p[k].lin_answers, p[k].node + 1,
                          p[k].wrong_value, 200 + round);
            stale_any += p[k].any_stale;
            any_answers += p[k].any_answers;
            lin_answers += p[k].lin_answers;
        }
        ck_assert_msg(p[0].lin_answers + p[1].lin_answers > 0, "no linearizable answer");
        ch_start_node(&c, (size_t)l);
        /* Back in the cluster before the next leader is killed: a majority stays up. */
        bool ready = false;
        for (int waited = 0; waited < 20000 && !ready; waited += 50) {
            ready = ch_req(&c, (size_t)l, "GET", "/ready", NULL, NULL) == 200;
            if (!ready) {
                vt_sleep_ms(50);
            }
        }
        ck_assert_msg(ready, "restarted node %d not ready", l + 1);
    }
    fprintf(stderr, "new leader: %u of %u consistency=any reads during the elections were "
                    "stale, all %u linearizable reads were current\n",
            stale_any, any_answers, lin_answers);
    ch_stop_all(&c);
}
END_TEST

/* Linearizable reads of one key on one node, recorded for the checker, until stopped. */
struct s_recorder {
    struct ch_cluster *c;
    size_t node;
    const char *key;
    atomic_bool stop;
    struct lc_op ops[4096];
    size_t n;
    unsigned stale_any;
    pthread_t thread;
};

static uint64_t
s_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *
s_recorder_main(void *arg)
{
    struct s_recorder *p = arg;
    while (!atomic_load(&p->stop) && p->n < sizeof p->ops / sizeof p->ops[0]) {
        struct lc_op op = {.kind = LC_READ, .result = LC_OK, .observed = LC_UNSEEN};
        op.call = s_now_ns();
        long long v = s_get(p->c, p->node, p->key, "linearizable");
        op.ret = s_now_ns();
        if (v >= 0) {
            op.value = (uint64_t)v;
            p->ops[p->n++] = op;
        }
    }
    return NULL;
}

/* A write sent from a thread of its own, timed for the checker. */
struct s_writer {
    struct ch_cluster *c;
    size_t node;
    char *body;
    struct ch_resp r;
    uint64_t call, ret;
    pthread_t thread;
};

static void *
s_writer_main(void *arg)
{
    struct s_writer *w = arg;
    w->call = s_now_ns();
    ch_call(w->c, NULL, w->node, "POST", "/v1/events", w->body, NULL, 10000, &w->r);
    w->ret = s_now_ns();
    return NULL;
}

/* A batch: filler events on other keys, then value v on key (event id n). */
static char *
s_batch(const char *key, uint64_t n, uint64_t v, size_t fillers)
{
    json_t *a = json_array();
    for (size_t i = 0; i < fillers; i++) {
        char path[64];
        snprintf(path, sizeof path, "/out/filler/%zu", i % 50);
        json_array_append_new(a, json_pack("{s:s, s:s, s:{s:s}}", "type", "filesystem_write",
                                           "path", path, "content", "pad", "0123456789abcdef"));
    }
    char id[40], vs[32];
    ch_event_id(n, id);
    snprintf(vs, sizeof vs, "%" PRIu64, v);
    json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:{s:s}}", "id", id, "type",
                                       "filesystem_write", "path", key, "content", "v", vs));
    char *text = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return text;
}

/* Why long: per round, a write in flight while leadership is handed to a follower. libraft
 * sends the target its TimeoutNow before the AppendEntries that would tell it the write
 * committed, so the new leader starts with the write in its log but not known committed:
 * until an entry of its own term commits it must not answer reads. Reads on the target from
 * a recorder thread, the write and the value before it go to the checker. */
START_TEST(t_transfer_target_waits_for_own_term_commit)
{
    struct ch_cluster c;
    ch_start(&c, 3, NULL);
    const char *key = "/out/transfer";
    uint64_t n = 600;
    for (int round = 0; round < 8; round++) {
        n++;
        uint64_t t_first = s_now_ns();
        s_put_ok(&c, key, n);
        uint64_t t_acked = s_now_ns();
        uint64_t before = n;
        int l = ch_leader(&c, 10000, 0);
        ck_assert_int_ge(l, 0);
        size_t t = ((size_t)l + 1) % 3;
        struct s_recorder *rec = calloc(1, sizeof *rec);
        *rec = (struct s_recorder){.c = &c, .node = t, .key = key};
        atomic_init(&rec->stop, false);
        ck_assert_int_eq(pthread_create(&rec->thread, NULL, s_recorder_main, rec), 0);
        n++;
        struct s_writer w = {.c = &c, .node = (size_t)l, .body = s_batch(key, n, n, 4000)};
        /* The transfer starts once the write is proposed (the leader's entry count moves)
         * and before the target stored it (a large batch takes a while to write). */
        double entries = ch_metric(&c, (size_t)l, "vexfs_consensus_entries_total");
        ck_assert_int_eq(pthread_create(&w.thread, NULL, s_writer_main, &w), 0);
        for (int k = 0; k < 2000 && ch_metric(&c, (size_t)l,
                                             "vexfs_consensus_entries_total") == entries;
             k++) {
        }
        char body[32];
        snprintf(body, sizeof body, "{\"id\":%llu}", (unsigned long long)c.node[t].id);
        struct ch_resp tr;
        ch_call(&c, NULL, (size_t)l, "POST", "/v1/leadership/transfer", body, NULL, 10000, &tr);
        pthread_join(w.thread, NULL);
        vt_sleep_ms(300);
        atomic_store(&rec->stop, true);
        pthread_join(rec->thread, NULL);
        fprintf(stderr, "transfer round %d: write %ld %s, transfer %ld %s, %zu reads on the "
                        "target\n",
                round, w.r.status, s_code(&w.r), tr.status, s_code(&tr), rec->n);
        /* 503: leadership was lost on its own before the transfer arrived (an election
         * while the large batch was written, on a loaded machine); nothing was transferred
         * and the history is checked all the same. */
        bool lost = tr.status == 503 && (strcmp(s_code(&tr), "no_leader") == 0 ||
                                         strcmp(s_code(&tr), "partitioned") == 0);
        ck_assert_msg(tr.status == 200 || tr.status == 504 || lost,
                      "transfer answered %ld %s (expected 200, 504, or 503 no_leader or "
                      "partitioned)",
                      tr.status, s_code(&tr));
        /* The history: the value before, the write, the reads. */
        struct lc_op *ops = calloc(rec->n + 2, sizeof *ops);
        size_t m = 0;
        ops[m++] = (struct lc_op){.kind = LC_WRITE, .result = LC_OK, .value = before,
                                  .observed = LC_UNSEEN, .call = t_first, .ret = t_acked};
        if (w.r.status == 200) {
            ops[m++] = (struct lc_op){.kind = LC_WRITE, .result = LC_OK, .value = n,
                                      .observed = LC_UNSEEN, .call = w.call, .ret = w.ret};
        } else {
            ops[m++] = (struct lc_op){.kind = LC_WRITE, .result = LC_UNKNOWN, .value = n,
                                      .observed = LC_UNSEEN, .call = w.call, .ret = LC_NEVER};
        }
        for (size_t i = 0; i < rec->n; i++) {
            /* Reads of values older than `before` started before it was acknowledged: they
             * cannot say anything about this round. */
            if (rec->ops[i].value >= before) {
                ops[m++] = rec->ops[i];
            }
        }
        struct lc_report rep;
        bool ok = lc_check(ops, m, 0, &rep);
        ck_assert_msg(ok, "round %d: reads on the new leader are not linearizable: %s", round,
                      rep.why);
        s_check_outcome(&c, &w.r, n, "write during the transfer");
        free(ops);
        free(rec);
        free(w.body);
        ch_resp_fini(&w.r);
        ch_resp_fini(&tr);
    }
    ch_stop_all(&c);
}
END_TEST

START_TEST(t_no_dead_leader_in_421)
{
    struct ch_cluster c;
    ch_start(&c, 3, NULL);
    int l = ch_leader(&c, 10000, 0);
    ck_assert_int_ge(l, 0);
    size_t f = ((size_t)l + 1) % 3;
    uint64_t dead_id = c.node[l].id;
    ch_kill9(&c, (size_t)l);
    unsigned named_dead = 0, no_leader = 0, named_dead_after = 0;
    uint64_t n = 300;
    uint64_t refused[512];
    size_t n_refused = 0;
    bool elected = false;
    uint64_t deadline = vt_now_ms() + 15000;
    while (!elected && vt_now_ms() < deadline && n_refused < 512) {
        struct ch_resp r;
        n++;
        s_put(&c, f, "/out/dead", n, n, &r);
        if (r.status == 421) {
            uint64_t named = (uint64_t)json_integer_value(
                json_object_get(json_object_get(r.json, "leader"), "id"));
            ck_assert_str_eq(s_outcome(&r), "not_done");
            if (named == dead_id) {
                named_dead++;
                named_dead_after += no_leader > 0;
            } else {
                elected = true;
            }
            refused[n_refused++] = n;
        } else if (r.status == 503) {
            /* Without a leader for longer than the grace period (a slow election on a loaded
             * machine) the follower reports itself partitioned: also a refusal that names
             * no leader. */
            ck_assert_msg(strcmp(s_code(&r), "no_leader") == 0 ||
                              strcmp(s_code(&r), "partitioned") == 0,
                          "expected 503 no_leader or partitioned, got 503 %s", s_code(&r));
            ck_assert_str_eq(s_outcome(&r), "not_done");
            ck_assert_msg(r.retry_after[0] && atoi(r.retry_after) >= 1,
                          "503 without Retry-After ('%s')", r.retry_after);
            no_leader++;
            refused[n_refused++] = n;
        } else if (r.status == 200) {
            elected = true; /* the follower became the leader */
        } else {
            ck_abort_msg("a follower answered %ld %s", r.status, s_code(&r));
        }
        ch_resp_fini(&r);
        vt_sleep_ms(10);
    }
    fprintf(stderr, "dead leader: %u answers named it (before noticing), then %u 503 no_leader, "
                    "then a new leader\n",
            named_dead, no_leader);
    ck_assert_msg(elected, "no new leader within 15 s");
    ck_assert_msg(no_leader > 0, "the follower never noticed the leader was gone");
    ck_assert_msg(named_dead_after == 0, "%u answers named the dead leader after the follower "
                                         "noticed it was gone",
                  named_dead_after);
    /* Nothing refused was committed. */
    json_t *o = NULL;
    int l2 = ch_leader(&c, 10000, 1u << l);
    ck_assert_int_ge(l2, 0);
    ck_assert_int_eq(ch_req(&c, (size_t)l2, "GET", "/v1/log?from=1&limit=10000", NULL, &o), 200);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(o, "events"), i, e)
    {
        const char *id = json_string_value(json_object_get(e, "id"));
        uint64_t num = strtoull(id ? id + 24 : "0", NULL, 16);
        for (size_t k = 0; k < n_refused; k++) {
            ck_assert_msg(num != refused[k], "refused write %" PRIu64 " was committed", num);
        }
    }
    json_decref(o);
    ch_stop_all(&c);
}
END_TEST

START_TEST(t_504_may_have_happened)
{
    struct ch_cluster c;
    ch_start(&c, 3, "  apply_timeout_ms: 200\n");
    int l = ch_leader(&c, 10000, 0);
    ck_assert_int_ge(l, 0);
    size_t f1 = ((size_t)l + 1) % 3, f2 = ((size_t)l + 2) % 3;
    struct ch_resp r;
    /* Both followers paused for less than an election: the leader keeps leading but cannot
     * commit within apply_timeout_ms. */
    kill(c.node[f1].pid, SIGSTOP);
    kill(c.node[f2].pid, SIGSTOP);
    s_put(&c, (size_t)l, "/out/timeout", 401, 1, &r);
    kill(c.node[f1].pid, SIGCONT);
    kill(c.node[f2].pid, SIGCONT);
    ck_assert_msg(r.status == 504, "expected 504, got %ld %s", r.status, s_code(&r));
    ck_assert_str_eq(s_outcome(&r), "unknown");
    fprintf(stderr, "504 %s: the write may have happened\n", s_code(&r));
    ch_resp_fini(&r);
    /* Sent again with the same id until answered: in the log exactly once. */
    uint64_t deadline = vt_now_ms() + 15000;
    bool done = false;
    while (!done && vt_now_ms() < deadline) {
        l = ch_leader(&c, 10000, 0);
        ck_assert_int_ge(l, 0);
        s_put(&c, (size_t)l, "/out/timeout", 401, 1, &r);
        done = r.status == 200;
        if (done) {
            long long acc = json_integer_value(json_object_get(r.json, "accepted"));
            long long dup = json_integer_value(json_object_get(r.json, "duplicates"));
            fprintf(stderr, "resent: accepted %lld, duplicates %lld (the first %s)\n", acc, dup,
                    dup ? "had committed" : "had not committed");
            ck_assert_int_eq(acc + dup, 1);
        }
        ch_resp_fini(&r);
        if (!done) {
            vt_sleep_ms(50);
        }
    }
    ck_assert(done);
    char id[40];
    ch_event_id(401, id);
    json_t *o = NULL;
    ck_assert_int_eq(ch_req(&c, (size_t)l, "GET", "/v1/log?from=1&limit=10000", NULL, &o), 200);
    int copies = 0;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(o, "events"), i, e)
    {
        copies += strcmp(json_string_value(json_object_get(e, "id")) ?: "", id) == 0;
    }
    json_decref(o);
    ck_assert_int_eq(copies, 1);
    ch_stop_all(&c);
}
END_TEST

START_TEST(t_503_partitioned_is_not_done)
{
    struct ch_cluster c;
    ch_start(&c, 3, NULL);
    int l = ch_leader(&c, 10000, 0);
    ck_assert_int_ge(l, 0);
    size_t f = ((size_t)l + 1) % 3, g = ((size_t)l + 2) % 3;
    /* f alone: the two others stopped. */
    kill(c.node[l].pid, SIGSTOP);
    kill(c.node[g].pid, SIGSTOP);
    struct ch_resp r;
    bool partitioned = false;
    uint64_t n = 500;
    for (int waited = 0; waited < 20 * CH_ELECTION_MS && !partitioned; waited += 50) {
        n++;
        s_put(&c, f, "/out/cut", n, n, &r);
        ck_assert_msg(r.status == 503 || r.status == 421, "cut-off follower answered %ld",
                      r.status);
        ck_assert_str_eq(s_outcome(&r), "not_done");
        partitioned = strcmp(s_code(&r), "partitioned") == 0;
        if (partitioned) {
            ck_assert_msg(r.retry_after[0], "503 partitioned without Retry-After");
        }
        ch_resp_fini(&r);
        vt_sleep_ms(50);
    }
    ck_assert_msg(partitioned, "the cut-off node never answered 503 partitioned");
    uint64_t last = n;
    kill(c.node[l].pid, SIGCONT);
    kill(c.node[g].pid, SIGCONT);
    /* After the heal, a write through f commits; none of the refused ones did. */
    uint64_t deadline = vt_now_ms() + 15000;
    bool healed = false;
    while (!healed && vt_now_ms() < deadline) {
        int now = ch_leader(&c, 10000, 0);
        ck_assert_int_ge(now, 0);
        s_put(&c, (size_t)now, "/out/cut", 999, 999, &r);
        healed = r.status == 200;
        ch_resp_fini(&r);
    }
    ck_assert(healed);
    ck_assert(s_committed(&c, 999));
    for (uint64_t k = 501; k <= last; k++) {
        ck_assert_msg(!s_committed(&c, k), "refused write %" PRIu64 " committed", k);
    }
    fprintf(stderr, "partitioned: %" PRIu64 " refused writes, none committed\n", last - 500);
    ch_stop_all(&c);
}
END_TEST

/* One case per behaviour, so that one can be run alone (CK_RUN_CASE). */
static void
s_case(Suite *s, const char *name, const TTest *t)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t);
    suite_add_tcase(s, tc);
}

int
main(void)
{
    Suite *s = suite_create("coordinator_outcomes");
    s_case(s, "paused_leader", t_paused_leader);
    s_case(s, "new_leader", t_new_leader_waits_for_own_term_commit);
    s_case(s, "transfer_target", t_transfer_target_waits_for_own_term_commit);
    s_case(s, "dead_leader_421", t_no_dead_leader_in_421);
    s_case(s, "timeout_504", t_504_may_have_happened);
    s_case(s, "partitioned_503", t_503_partitioned_is_not_done);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
