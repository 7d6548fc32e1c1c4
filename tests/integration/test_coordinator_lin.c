/* SPDX-License-Identifier: Apache-2.0 */
/* Linearizability of one key on a real 3-node vexfs-coordinator cluster. Four client threads
 * write unique values to one path (POST /v1/events, following 421 to the leader) and read it
 * back (GET /v1/state/<path>) while recording when each operation was invoked and when it
 * returned (CLOCK_MONOTONIC). The history is then checked against a sequential register with a
 * Wing & Gong / Lowe search: it tries every operation that could take effect next (one invoked
 * before the earliest outstanding response), memoising (set of linearized operations, register
 * value) so that no configuration is explored twice.
 *
 * What the coordinator promises for this workload: an event without a causality clock gets a
 * context clock equal to the key's clock plus a fresh tick of the cluster clock, so each such
 * write is causally after every write applied before it and replaces the register. The
 * register is therefore "value of the last write in log order", a plain read/write register,
 * and a write is acknowledged only after the leader applied it.
 *
 * Reads go to the leader only. A follower answers from its own state machine, which may lag
 * the commit index, so follower reads are stale by design and not linearizable; the test does
 * not ask for what the coordinator does not promise. The cluster is left alone during the run
 * (no failures injected); a run during which leadership changed anyway (a slow machine can
 * miss heartbeats) is repeated on a fresh key, since its reads were not all leader reads.
 * Operations that fail at transport level or with 503/504 are indeterminate: a write may or
 * may not have taken effect (it may take effect at any time after its invocation, or never);
 * an indeterminate read says nothing and is dropped. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coord_harness.h"
#include "vx_test.h"

#define S_ATTEMPTS 3 /* runs during which leadership changed are repeated on a fresh key */
#define S_THREADS 4
#define S_RUN_MS 3000
#define S_MAX_PER_THREAD 120 /* keeps the history a few hundred operations long */
#define S_MAX_OPS 512 /* above S_THREADS * S_MAX_PER_THREAD: room for one probe read */
#define S_NEVER UINT64_MAX   /* response time of an operation that never returned */

/* ---- history ------------------------------------------------------------------------------ */

enum s_kind { S_WRITE, S_READ };

struct s_op {
    enum s_kind kind;
    uint64_t value;   /* written, or read (0: the key did not exist yet) */
    uint64_t call;    /* invocation, ns */
    uint64_t ret;     /* response, ns; S_NEVER when indeterminate */
};

static uint64_t
s_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
s_pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- checker ------------------------------------------------------------------------------ */

#define S_WORDS (S_MAX_OPS / 64)

struct s_memo_entry {
    uint64_t set[S_WORDS];
    uint64_t state;
    bool used;
};

struct s_checker {
    const struct s_op *ops;
    size_t n;
    uint64_t set[S_WORDS];   /* operations linearized so far */
    struct s_memo_entry *memo;
    size_t memo_cap, memo_n;
    size_t explored;
    bool overflow;
};

static uint64_t
s_hash(const uint64_t *set, uint64_t state)
{
    uint64_t h = 1469598103934665603ull ^ state;
    for (size_t i = 0; i < S_WORDS; i++) {
        h ^= set[i];
        h *= 1099511628211ull;
        h ^= h >> 29;
    }
    return h;
}

/* Adds (set, state) to the memo; false when it was there already. */
static bool
s_memo_add(struct s_checker *k, uint64_t state)
{
    if (2 * (k->memo_n + 1) > k->memo_cap) {
        size_t ncap = k->memo_cap ? 2 * k->memo_cap : 1024;
        if (ncap > (1u << 22)) {
            k->overflow = true;
            return false;
        }
        struct s_memo_entry *nm = calloc(ncap, sizeof *nm);
        ck_assert_ptr_nonnull(nm);
        for (size_t i = 0; i < k->memo_cap; i++) {
            if (k->memo[i].used) {
                size_t j = s_hash(k->memo[i].set, k->memo[i].state) & (ncap - 1);
                while (nm[j].used) {
                    j = (j + 1) & (ncap - 1);
                }
                nm[j] = k->memo[i];
            }
        }
        free(k->memo);
        k->memo = nm;
        k->memo_cap = ncap;
    }
    size_t j = s_hash(k->set, state) & (k->memo_cap - 1);
    while (k->memo[j].used) {
        if (k->memo[j].state == state && memcmp(k->memo[j].set, k->set, sizeof k->set) == 0) {
            return false;
        }
        j = (j + 1) & (k->memo_cap - 1);
    }
    memcpy(k->memo[j].set, k->set, sizeof k->set);
    k->memo[j].state = state;
    k->memo[j].used = true;
    k->memo_n++;
    return true;
}

static bool
s_in(const struct s_checker *k, size_t i)
{
    return (k->set[i / 64] >> (i % 64)) & 1u;
}

/* True when the operations not yet in k->set can be linearized starting from `state`. */
static bool
s_search(struct s_checker *k, uint64_t state)
{
    k->explored++;
    /* Done when every operation that returned is linearized; indeterminate writes left over
     * are the ones that never took effect. The earliest outstanding response bounds which
     * operations may go next: one invoked after it must follow that operation. */
    uint64_t min_ret = S_NEVER;
    for (size_t i = 0; i < k->n; i++) {
        if (!s_in(k, i) && k->ops[i].ret < min_ret) {
            min_ret = k->ops[i].ret;
        }
    }
    if (min_ret == S_NEVER) {
        return true;
    }
    if (!s_memo_add(k, state)) {
        return false;
    }
    for (size_t i = 0; i < k->n && !k->overflow; i++) {
        const struct s_op *op = &k->ops[i];
        if (s_in(k, i) || op->call > min_ret) {
            continue;
        }
        uint64_t next;
        if (op->kind == S_WRITE) {
            next = op->value;
        } else if (op->value == state) {
            next = state;
        } else {
            continue;
        }
        k->set[i / 64] |= 1ull << (i % 64);
        bool ok = s_search(k, next);
        k->set[i / 64] &= ~(1ull << (i % 64));
        if (ok) {
            return true;
        }
    }
    return false;
}

/* Whether the history is linearizable for a register that starts at 0. */
static bool
s_linearizable(const struct s_op *ops, size_t n, size_t *explored)
{
    ck_assert_uint_le(n, S_MAX_OPS);
    struct s_checker k = {.ops = ops, .n = n};
    bool ok = s_search(&k, 0);
    ck_assert_msg(!k.overflow, "checker memo overflow after %zu configurations", k.explored);
    if (explored) {
        *explored = k.explored;
    }
    free(k.memo);
    return ok;
}

#define W(v, c, r) {S_WRITE, (v), (c), (r)}
#define R(v, c, r) {S_READ, (v), (c), (r)}

START_TEST(t_checker_on_known_histories)
{
    /* Sequential and linearizable. */
    const struct s_op seq[] = {R(0, 0, 5), W(1, 10, 20), R(1, 30, 40), W(2, 50, 60),
                               R(2, 70, 80)};
    ck_assert(s_linearizable(seq, 5, NULL));
    /* Overlapping writes: a read may see either order while they overlap it. */
    const struct s_op overlap[] = {W(1, 0, 100), W(2, 10, 90), R(2, 20, 30), R(1, 40, 50),
                                   R(1, 110, 120)};
    ck_assert(s_linearizable(overlap, 5, NULL));
    /* A stale read after a completed write. */
    const struct s_op stale[] = {W(1, 0, 10), W(2, 20, 30), R(1, 40, 50)};
    ck_assert(!s_linearizable(stale, 3, NULL));
    /* New-then-old: once a read saw the concurrent write, a later read cannot miss it. */
    const struct s_op inversion[] = {W(1, 0, 100), R(1, 10, 20), R(0, 30, 40)};
    ck_assert(!s_linearizable(inversion, 3, NULL));
    /* A value nobody wrote. */
    const struct s_op phantom[] = {W(1, 0, 10), R(7, 20, 30)};
    ck_assert(!s_linearizable(phantom, 2, NULL));
    /* An indeterminate write may take effect late or never... */
    const struct s_op late[] = {W(1, 0, 10), W(2, 5, S_NEVER), R(1, 20, 30), R(2, 40, 50)};
    ck_assert(s_linearizable(late, 4, NULL));
    const struct s_op never[] = {W(1, 0, 10), W(2, 5, S_NEVER), R(1, 20, 30), R(1, 40, 50)};
    ck_assert(s_linearizable(never, 4, NULL));
    /* ...but not before it was invoked, and once seen it stays. */
    const struct s_op early[] = {W(1, 0, 10), R(2, 20, 30), W(2, 40, S_NEVER)};
    ck_assert(!s_linearizable(early, 3, NULL));
    const struct s_op flicker[] = {W(1, 0, 10), W(2, 5, S_NEVER), R(2, 20, 30), R(1, 40, 50)};
    ck_assert(!s_linearizable(flicker, 4, NULL));
    /* Four writers whose values are read out of order by non-overlapping reads: rejected
     * after a search that must consider many interleavings of the overlapping writes. */
    const struct s_op order[] = {W(1, 0, 100), W(2, 0, 100), W(3, 0, 100), W(4, 0, 100),
                                 R(1, 110, 120), R(2, 130, 140)};
    ck_assert(!s_linearizable(order, 6, NULL));
}
END_TEST

/* ---- the workload ------------------------------------------------------------------------- */

struct s_client {
    struct ch_cluster *c;
    size_t leader;
    const char *key;
    unsigned id;
    struct s_op ops[S_MAX_PER_THREAD];
    size_t n;
    unsigned writes_ok, reads_ok, indeterminate, redirects;
    uint64_t stop_ns;
};

/* The register's value as GET /v1/state answers it: 0 when the key is unknown (404). Returns
 * false when the read is indeterminate. */
static bool
s_read(struct s_client *cl, uint64_t *out)
{
    json_t *o = NULL;
    char path[128];
    snprintf(path, sizeof path, "/v1/state%s", cl->key);
    long st = ch_req(cl->c, cl->leader, "GET", path, NULL, &o);
    bool ok = false;
    if (st == 404) {
        *out = 0;
        ok = true;
    } else if (st == 200) {
        json_t *v = json_object_get(
            json_object_get(json_object_get(json_object_get(o, "register"), "value"),
                            "content"),
            "v");
        ck_assert_msg(json_is_string(v), "register without content.v");
        *out = strtoull(json_string_value(v), NULL, 10);
        ck_assert_uint_ne(*out, 0);
        ok = true;
    }
    json_decref(o);
    return ok;
}

/* Writes value through any node, following 421 to the leader. Returns false when the outcome
 * is unknown. A 421 means the node refused the write, so re-sending it elsewhere is safe. */
static bool
s_write(struct s_client *cl, uint64_t value)
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"type\":\"filesystem_write\",\"path\":\"%s\",\"content\":{\"v\":\"%llu\"}}", cl->key,
             (unsigned long long)value);
    /* Start at a varying node so that redirects are exercised. */
    size_t node = (value % 3);
    for (int hop = 0; hop < 5; hop++) {
        json_t *o = NULL;
        long st = ch_req(cl->c, node, "POST", "/v1/events", body, &o);
        if (st == 200) {
            ck_assert_int_eq(json_integer_value(json_object_get(o, "accepted")), 1);
            json_decref(o);
            return true;
        }
        json_t *leader = json_object_get(json_object_get(o, "leader"), "id");
        if (st == 421 && json_is_integer(leader) && json_integer_value(leader) >= 1 &&
            (size_t)json_integer_value(leader) <= cl->c->n) {
            node = (size_t)json_integer_value(leader) - 1;
            cl->redirects++;
            json_decref(o);
            continue;
        }
        ck_assert_msg(st == 0 || st == 503 || st == 504, "write answered %ld", st);
        json_decref(o);
        return false;
    }
    return false;
}

static void *
s_client_main(void *arg)
{
    struct s_client *cl = arg;
    unsigned seed = cl->id * 7919u + 1;
    uint64_t counter = 0;
    while (cl->n < S_MAX_PER_THREAD && s_now_ns() < cl->stop_ns) {
        struct s_op *op = &cl->ops[cl->n];
        bool write = rand_r(&seed) % 2 == 0;
        bool ok;
        if (write) {
            op->kind = S_WRITE;
            op->value = (uint64_t)(cl->id + 1) * 1000000u + ++counter;
            op->call = s_now_ns();
            ok = s_write(cl, op->value);
            op->ret = s_now_ns();
            cl->writes_ok += ok;
        } else {
            op->kind = S_READ;
            op->call = s_now_ns();
            ok = s_read(cl, &op->value);
            op->ret = s_now_ns();
            cl->reads_ok += ok;
        }
        if (!ok) {
            cl->indeterminate++;
            if (!write) {
                continue; /* a read without an answer constrains nothing */
            }
            op->ret = S_NEVER;
        }
        cl->n++;
        /* A short, random think time spreads the operations over the run and lets them
         * overlap in different ways. */
        s_pause_ms(10 + (int)(rand_r(&seed) % 30));
    }
    return NULL;
}

/* One run of the workload on key; false when leadership changed during it (the reads were
 * then not all leader reads, and the run proves nothing either way). */
static bool
s_run(struct ch_cluster *c, const char *key)
{
    int leader = ch_leader(c, 10000, 0);
    ck_assert_int_ge(leader, 0);
    long long term = ch_int(c, (size_t)leader, "/v1/cluster", "term");
    static struct s_client cl[S_THREADS];
    memset(cl, 0, sizeof cl);
    pthread_t th[S_THREADS];
    uint64_t stop = s_now_ns() + (uint64_t)S_RUN_MS * 1000000u;
    for (unsigned i = 0; i < S_THREADS; i++) {
        cl[i].c = c;
        cl[i].leader = (size_t)leader;
        cl[i].key = key;
        cl[i].id = i;
        cl[i].stop_ns = stop;
        ck_assert_int_eq(pthread_create(&th[i], NULL, s_client_main, &cl[i]), 0);
    }
    for (unsigned i = 0; i < S_THREADS; i++) {
        pthread_join(th[i], NULL);
    }
    if (ch_leader(c, 5000, 0) != leader ||
        ch_int(c, (size_t)leader, "/v1/cluster", "term") != term) {
        fprintf(stderr, "linearizability: leadership changed during the run on %s; repeating\n",
                key);
        return false;
    }
    static struct s_op all[S_MAX_OPS];
    size_t n = 0;
    unsigned writes = 0, reads = 0, indet = 0, redirects = 0;
    for (unsigned i = 0; i < S_THREADS; i++) {
        memcpy(&all[n], cl[i].ops, cl[i].n * sizeof cl[i].ops[0]);
        n += cl[i].n;
        writes += cl[i].writes_ok;
        reads += cl[i].reads_ok;
        indet += cl[i].indeterminate;
        redirects += cl[i].redirects;
    }
    ck_assert_msg(writes >= 20 && reads >= 20, "too little work: %u writes, %u reads", writes,
                  reads);
    ck_assert_msg(redirects > 0, "no write was redirected by a follower");
    uint64_t t0 = s_now_ns();
    size_t explored = 0;
    bool ok = s_linearizable(all, n, &explored);
    fprintf(stderr,
            "linearizability: %zu operations (%u writes, %u reads acknowledged, %u "
            "indeterminate, %u redirects), %zu configurations, %.1f ms: %s\n",
            n, writes, reads, indet, redirects, explored, (double)(s_now_ns() - t0) / 1e6,
            ok ? "linearizable" : "NOT linearizable");
    ck_assert_msg(ok, "the single-key history on %s is not linearizable", key);
    /* The same history with one stale read appended must be rejected: a read after every
     * operation that returns a write's value although another write began after that one had
     * returned. This shows the checker rejecting a violation in a history of real size. */
    const struct s_op *w1 = NULL, *w2 = NULL;
    uint64_t end = 0;
    for (size_t i = 0; i < n; i++) {
        end = all[i].ret != S_NEVER && all[i].ret > end ? all[i].ret : end;
        end = all[i].call > end ? all[i].call : end;
        for (size_t j = 0; j < n && !w1; j++) {
            if (all[i].kind == S_WRITE && all[j].kind == S_WRITE && all[i].ret < all[j].call &&
                all[j].ret != S_NEVER) {
                w1 = &all[i];
                w2 = &all[j];
            }
        }
    }
    ck_assert_ptr_nonnull(w1);
    ck_assert_ptr_nonnull(w2);
    all[n] = (struct s_op){S_READ, w1->value, end + 1, end + 2};
    ck_assert_msg(!s_linearizable(all, n + 1, NULL), "a stale read was accepted");
    /* After the run every node converges on the leader's final value. */
    uint64_t final = 0;
    struct s_client probe = {.c = c, .leader = (size_t)leader, .key = key};
    ck_assert(s_read(&probe, &final));
    for (size_t i = 0; i < 3; i++) {
        bool same = false;
        for (int waited = 0; waited < 5000 && !same; waited += 50) {
            probe.leader = i;
            uint64_t v = 0;
            same = s_read(&probe, &v) && v == final;
            if (!same) {
                s_pause_ms(50);
            }
        }
        ck_assert_msg(same, "node %zu did not converge on %llu", i + 1,
                      (unsigned long long)final);
    }
    return true;
}

START_TEST(t_single_key_register_is_linearizable)
{
    struct ch_cluster c;
    ch_start(&c, 3, NULL);
    bool done = false;
    for (int a = 0; a < S_ATTEMPTS && !done; a++) {
        char key[64];
        snprintf(key, sizeof key, "/lin/register%d", a);
        done = s_run(&c, key);
    }
    ck_assert_msg(done, "leadership changed during each of %d runs", S_ATTEMPTS);
    ch_stop_all(&c);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("coordinator_lin");
    TCase *tc = tcase_create("checker");
    tcase_add_test(tc, t_checker_on_known_histories);
    suite_add_tcase(s, tc);
    tc = tcase_create("cluster");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_single_key_register_is_linearizable);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
