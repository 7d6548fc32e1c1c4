/* SPDX-License-Identifier: Apache-2.0 */
/* Concurrent clients against a real coordinator cluster, recording a history for lin_check:
 * reads (GET /v1/state with a chosen consistency), writes (POST /v1/events) and
 * compare-and-set (If-Match with the revision the client last saw, or "if":{"value":...})
 * on a few keys, each value unique.
 *
 * A client follows 421 to the leader it names and goes elsewhere after a 503; both say the
 * write did not happen, so it is sent again. After a 504 or no answer the write may have
 * happened: it is sent again with the same event id until an answer says what became of it
 * (200, or a duplicate: it took effect once; 412: it did not), else it stays unknown. */
#ifndef COORD_WORKLOAD_H
#define COORD_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "coord_harness.h"
#include "lin_check.h"

#define CW_MAX_CLIENTS 8
#define CW_MAX_KEYS 8

struct cw_opts {
    size_t clients, keys;
    const char *consistency; /* of reads: "linearizable", "leader" or "any" */
    const char *prefix;      /* keys are <prefix>/k0, <prefix>/k1, ... */
    int op_timeout_ms;       /* an operation without a definite answer by then is unknown */
    int request_timeout_ms;  /* one request */
};

struct cw_stats {
    unsigned reads, writes, cas_ok, cas_fail, unknown;
    unsigned redirects;      /* 421 followed */
    unsigned unavailable;    /* 503: not done, tried again */
    unsigned ambiguous;      /* 504 or no answer: sent again with the same id */
    unsigned unexpected;     /* any other answer: a test failure */
    char unexpected_what[256];
};

typedef struct cw_run cw_run_t;

/* Starts the clients; they run until cw_stop. */
cw_run_t *cw_start(struct ch_cluster *c, const struct cw_opts *o);
void cw_stop(cw_run_t *w);
/* The history (valid until cw_destroy) and the counts, after cw_stop. */
const struct lc_op *cw_history(const cw_run_t *w, size_t *n);
struct cw_stats cw_stats(const cw_run_t *w);
/* Checks the history, prints a summary, fails the test when it is not linearizable or when
 * a client met an unexpected answer. */
void cw_assert_linearizable(const cw_run_t *w, const char *scenario);
void cw_destroy(cw_run_t **w);

#endif
