/* SPDX-License-Identifier: Apache-2.0 */
/* Concurrent clients recording a history for the linearizability checker. */
#include "coord_workload.h"

#include <check.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vx_test.h"

#define S_CAP_STEP 1024

/* What the client last saw of a key (value, revision), to build a compare-and-set. */
struct s_known {
    bool valid;
    uint64_t value, rev;
};

struct s_client {
    cw_run_t *w;
    unsigned id;
    unsigned seed;
    ch_client_t *http;
    int leader;              /* index the client believes leads, -1 unknown */
    struct s_known known[CW_MAX_KEYS];
    uint64_t counter;
    struct lc_op *ops;
    size_t n, cap;
    struct cw_stats st;
    pthread_t thread;
};

struct cw_run {
    struct ch_cluster *c;
    struct cw_opts o;
    char prefix[128];
    char consistency[32];
    unsigned nonce;          /* in event ids: runs on one cluster never share an id */
    atomic_bool stop;
    struct s_client cl[CW_MAX_CLIENTS];
    struct lc_op *all;
    size_t n_all;
};

static uint64_t
s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
s_record(struct s_client *cl, const struct lc_op *op)
{
    if (cl->n == cl->cap) {
        cl->cap += S_CAP_STEP;
        cl->ops = realloc(cl->ops, cl->cap * sizeof *cl->ops);
    }
    cl->ops[cl->n++] = *op;
}

static void
s_unexpected(struct s_client *cl, const char *what, long status, json_t *body)
{
    cl->st.unexpected++;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    snprintf(cl->st.unexpected_what, sizeof cl->st.unexpected_what, "%s answered %ld: %.180s",
             what, status, text ? text : "");
    free(text);
}

/* The register value of a key's JSON state: content.v, 0 when absent. */
static uint64_t
s_value_of(json_t *state)
{
    const char *v = json_string_value(json_object_get(
        json_object_get(json_object_get(json_object_get(state, "register"), "value"), "content"),
        "v"));
    return v ? strtoull(v, NULL, 10) : 0;
}

static int
s_pick_node(struct s_client *cl)
{
    size_t n = cl->w->c->n;
    if (cl->leader >= 0 && rand_r(&cl->seed) % 10 < 7) {
        return cl->leader;
    }
    return (int)(rand_r(&cl->seed) % n);
}

/* What one attempt said, as the client reads it. */
enum s_verdict {
    S_DONE,      /* a definite answer */
    S_NOT_DONE,  /* 421 or 503: nothing happened, try again */
    S_AMBIGUOUS, /* 504 or no answer: it may have happened */
    S_BAD,       /* anything else */
};

static enum s_verdict
s_classify(struct s_client *cl, const struct ch_resp *r, int *node)
{
    switch (r->status) {
    case 200:
    case 404:
    case 412:
        return S_DONE;
    case 421: {
        json_t *lid = json_object_get(json_object_get(r->json, "leader"), "id");
        int idx = json_is_integer(lid) ? ch_index(cl->w->c, json_integer_value(lid)) : -1;
        cl->st.redirects++;
        if (idx >= 0) {
            cl->leader = idx;
            *node = idx;
        } else {
            *node = (int)(rand_r(&cl->seed) % cl->w->c->n);
        }
        return S_NOT_DONE;
    }
    case 503:
        cl->st.unavailable++;
        vt_sleep_ms(20);
        *node = (int)(rand_r(&cl->seed) % cl->w->c->n);
        return S_NOT_DONE;
    case 0:
    case 504:
        cl->st.ambiguous++;
        vt_sleep_ms(20);
        *node = (int)(rand_r(&cl->seed) % cl->w->c->n);
        return S_AMBIGUOUS;
    default:
        return S_BAD;
    }
}

static void
s_read(struct s_client *cl, unsigned key)
{
    cw_run_t *w = cl->w;
    char path[256];
    snprintf(path, sizeof path, "/v1/state%s/k%u?consistency=%s", w->prefix, key,
             w->consistency);
    struct lc_op op = {.key = key, .client = cl->id, .kind = LC_READ, .call = s_now()};
    uint64_t deadline = op.call + (uint64_t)w->o.op_timeout_ms * 1000000u;
    int node = s_pick_node(cl);
    while (s_now() < deadline && !atomic_load(&w->stop)) {
        struct ch_resp r;
        ch_call(w->c, cl->http, (size_t)node, "GET", path, NULL, NULL, w->o.request_timeout_ms,
                &r);
        enum s_verdict v = s_classify(cl, &r, &node);
        if (v == S_DONE && r.status != 412) {
            op.ret = s_now();
            op.result = LC_OK;
            op.value = r.status == 200 ? s_value_of(r.json) : 0;
            uint64_t rev = (uint64_t)json_integer_value(json_object_get(r.json, "revision"));
            cl->known[key] = (struct s_known){true, op.value, rev};
            cl->leader = node;
            cl->st.reads++;
            s_record(cl, &op);
            ch_resp_fini(&r);
            return;
        }
        if (v == S_BAD || r.status == 412) {
            s_unexpected(cl, "read", r.status, r.json);
            ch_resp_fini(&r);
            return;
        }
        ch_resp_fini(&r);
    }
    /* No answer: a read without one constrains nothing. */
}

/* A write (expect_mode 0), or a compare-and-set on the value last seen: by revision
 * (If-Match, expect_mode 1) or by value (expect_mode 2). */
static void
s_write(struct s_client *cl, unsigned key, int expect_mode)
{
    cw_run_t *w = cl->w;
    uint64_t value = (uint64_t)(cl->id + 1) * 1000000000ull + ++cl->counter;
    char event[512], body[768], ifmatch[64];
    snprintf(event, sizeof event,
             "{\"id\":\"%08x-%04x-7000-8000-%012" PRIx64 "\",\"type\":\"filesystem_write\","
             "\"path\":\"%s/k%u\",\"content\":{\"v\":\"%" PRIu64 "\"}}",
             w->nonce, cl->id, cl->counter, w->prefix, key, value);
    const char *headers[2] = {NULL, NULL};
    struct lc_op op = {.key = key, .client = cl->id, .kind = expect_mode ? LC_CAS : LC_WRITE,
                       .value = value, .observed = LC_UNSEEN};
    if (expect_mode == 1) {
        snprintf(ifmatch, sizeof ifmatch, "If-Match: \"%" PRIu64 "\"", cl->known[key].rev);
        headers[0] = ifmatch;
        snprintf(body, sizeof body, "%s", event);
        op.expect = cl->known[key].value;
    } else if (expect_mode == 2) {
        op.expect = cl->known[key].value;
        if (op.expect == 0) {
            snprintf(body, sizeof body, "{\"event\":%s,\"if\":{\"absent\":true}}", event);
        } else {
            snprintf(body, sizeof body, "{\"event\":%s,\"if\":{\"value\":{\"v\":\"%" PRIu64
                                        "\"}}}",
                     event, op.expect);
        }
    } else {
        snprintf(body, sizeof body, "%s", event);
    }
    op.call = s_now();
    uint64_t deadline = op.call + (uint64_t)w->o.op_timeout_ms * 1000000u;
    bool ambiguous = false;
    int node = s_pick_node(cl);
    /* Once ambiguous, the write is sent again (same id) even after the run was stopped, so
     * that few operations stay unknown. */
    while (s_now() < deadline && (ambiguous || !atomic_load(&w->stop))) {
        struct ch_resp r;
        ch_call(w->c, cl->http, (size_t)node, "POST", "/v1/events", body, headers,
                w->o.request_timeout_ms, &r);
        enum s_verdict v = s_classify(cl, &r, &node);
        if (v == S_DONE && (r.status == 200 || (r.status == 412 && expect_mode))) {
            op.ret = s_now();
            cl->leader = node;
            if (r.status == 412) {
                json_t *cur = json_object_get(r.json, "current");
                op.result = LC_FAIL;
                op.observed = json_is_object(cur) ? s_value_of(cur) : 0;
                cl->known[key] = (struct s_known){
                    true, op.observed, (uint64_t)json_integer_value(json_object_get(r.json,
                                                                                    "revision"))};
                cl->st.cas_fail++;
            } else {
                op.result = LC_OK;
                bool dup = json_integer_value(json_object_get(r.json, "duplicates")) > 0;
                /* A duplicate's revision is the state's, not the key's: forget the key. */
                cl->known[key] = (struct s_known){
                    !dup, value, (uint64_t)json_integer_value(json_object_get(r.json, "revision"))};
                expect_mode ? cl->st.cas_ok++ : cl->st.writes++;
            }
            s_record(cl, &op);
            ch_resp_fini(&r);
            return;
        }
        if (v == S_BAD || v == S_DONE) {
            s_unexpected(cl, expect_mode ? "cas" : "write", r.status, r.json);
            ch_resp_fini(&r);
            return;
        }
        ambiguous |= v == S_AMBIGUOUS;
        ch_resp_fini(&r);
    }
    if (ambiguous) {
        op.result = LC_UNKNOWN;
        op.ret = LC_NEVER;
        cl->known[key].valid = false;
        cl->st.unknown++;
        s_record(cl, &op);
    }
    /* else it was refused every time: it certainly did not happen, and is not history */
}

static void *
s_client_main(void *arg)
{
    struct s_client *cl = arg;
    cw_run_t *w = cl->w;
    cl->http = ch_client_new();
    while (!atomic_load(&w->stop)) {
        unsigned key = (unsigned)(rand_r(&cl->seed) % w->o.keys);
        unsigned dice = (unsigned)(rand_r(&cl->seed) % 10);
        if (dice < 4 || (dice >= 7 && !cl->known[key].valid)) {
            s_read(cl, key);
        } else if (dice < 7) {
            s_write(cl, key, 0);
        } else {
            s_write(cl, key, dice < 9 ? 1 : 2);
        }
        /* A short random pause spreads the operations so they overlap in different ways. */
        vt_sleep_ms((int)(rand_r(&cl->seed) % 8));
    }
    ch_client_destroy(&cl->http);
    return NULL;
}

cw_run_t *
cw_start(struct ch_cluster *c, const struct cw_opts *o)
{
    ck_assert_uint_le(o->clients, CW_MAX_CLIENTS);
    ck_assert_uint_le(o->keys, CW_MAX_KEYS);
    cw_run_t *w = calloc(1, sizeof *w);
    ck_assert_ptr_nonnull(w);
    w->c = c;
    w->o = *o;
    snprintf(w->prefix, sizeof w->prefix, "%s", o->prefix);
    snprintf(w->consistency, sizeof w->consistency, "%s",
             o->consistency ? o->consistency : "linearizable");
    atomic_init(&w->stop, false);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    w->nonce = (unsigned)(ts.tv_nsec ^ (ts.tv_sec << 20) ^ (long)getpid());
    for (unsigned i = 0; i < o->clients; i++) {
        struct s_client *cl = &w->cl[i];
        cl->w = w;
        cl->id = i;
        cl->seed = (unsigned)(i * 7919u + (unsigned)time(NULL));
        cl->leader = -1;
        ck_assert_int_eq(pthread_create(&cl->thread, NULL, s_client_main, cl), 0);
    }
    return w;
}

void
cw_stop(cw_run_t *w)
{
    atomic_store(&w->stop, true);
    size_t total = 0;
    for (unsigned i = 0; i < w->o.clients; i++) {
        pthread_join(w->cl[i].thread, NULL);
        total += w->cl[i].n;
    }
    w->all = calloc(total + 1, sizeof *w->all);
    for (unsigned i = 0; i < w->o.clients; i++) {
        memcpy(w->all + w->n_all, w->cl[i].ops, w->cl[i].n * sizeof *w->all);
        w->n_all += w->cl[i].n;
    }
}

const struct lc_op *
cw_history(const cw_run_t *w, size_t *n)
{
    *n = w->n_all;
    return w->all;
}

struct cw_stats
cw_stats(const cw_run_t *w)
{
    struct cw_stats s = {0};
    for (unsigned i = 0; i < w->o.clients; i++) {
        const struct cw_stats *c = &w->cl[i].st;
        s.reads += c->reads;
        s.writes += c->writes;
        s.cas_ok += c->cas_ok;
        s.cas_fail += c->cas_fail;
        s.unknown += c->unknown;
        s.redirects += c->redirects;
        s.unavailable += c->unavailable;
        s.ambiguous += c->ambiguous;
        if (c->unexpected && !s.unexpected) {
            snprintf(s.unexpected_what, sizeof s.unexpected_what, "%s", c->unexpected_what);
        }
        s.unexpected += c->unexpected;
    }
    return s;
}

void
cw_assert_linearizable(const cw_run_t *w, const char *scenario)
{
    struct cw_stats s = cw_stats(w);
    ck_assert_msg(s.unexpected == 0, "%s: %u unexpected answers, e.g. %s", scenario,
                  s.unexpected, s.unexpected_what);
    struct lc_report rep;
    uint64_t t0 = s_now();
    bool ok = lc_check(w->all, w->n_all, 0, &rep);
    fprintf(stderr,
            "%s: %zu operations (%u reads, %u writes, %u cas ok, %u cas refused, %u unknown; "
            "%u redirects, %u 503 retried, %u 504/no answer resent), %zu checked, %zu "
            "configurations in %.0f ms: %s\n",
            scenario, w->n_all, s.reads, s.writes, s.cas_ok, s.cas_fail, s.unknown, s.redirects,
            s.unavailable, s.ambiguous, rep.ops, rep.configs, (double)(s_now() - t0) / 1e6,
            rep.gave_up ? "NO VERDICT" : ok ? "linearizable" : "NOT LINEARIZABLE");
    ck_assert_msg(!rep.gave_up, "%s: the checker gave up on key %u after %zu configurations",
                  scenario, rep.key, rep.configs);
    ck_assert_msg(ok, "%s: key %u is not linearizable: %s", scenario, rep.key, rep.why);
}

void
cw_destroy(cw_run_t **wp)
{
    if (!wp || !*wp) {
        return;
    }
    cw_run_t *w = *wp;
    for (unsigned i = 0; i < w->o.clients; i++) {
        free(w->cl[i].ops);
    }
    free(w->all);
    free(w);
    *wp = NULL;
}
