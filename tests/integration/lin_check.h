/* SPDX-License-Identifier: Apache-2.0 */
/* A linearizability checker for histories of registers with compare-and-set, in the manner of
 * Wing & Gong with Lowe's memoisation (the search Porcupine and Knossos run).
 *
 * The model, per key: a register holding a value (0: the key does not exist) with
 *   read            returns the value;
 *   write(v)        sets it to v;
 *   cas(e, v)       sets it to v if it holds e (ok), else changes nothing (fail);
 * A failed cas may report the value it saw (observed), which then must be the value held.
 * Operations whose outcome is unknown (a write or cas that timed out) may take effect at any
 * point after they were invoked, or never; reads without an answer are left out by the
 * caller. Linearizability is local, so each key's history is checked on its own.
 *
 * The search linearizes, from the start, any pending operation invoked before the earliest
 * response still outstanding, and backtracks when no operation fits; it remembers every
 * (set of linearized operations, value) it has explored (a 128-bit fingerprint of the set,
 * Zobrist-style, and the value) so that no configuration is explored twice. */
#ifndef LIN_CHECK_H
#define LIN_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LC_NEVER UINT64_MAX  /* response time of an operation that never answered */
#define LC_UNSEEN UINT64_MAX /* a failed cas that did not report what it saw */

enum lc_kind {
    LC_READ,
    LC_WRITE,
    LC_CAS,
};

enum lc_result {
    LC_OK,      /* read answered, write done, cas done */
    LC_FAIL,    /* cas refused: its condition did not hold */
    LC_UNKNOWN, /* write or cas without a definite answer */
};

struct lc_op {
    unsigned key;
    unsigned client;
    enum lc_kind kind;
    enum lc_result result;
    uint64_t value;    /* read: the value read; write, cas: the value written */
    uint64_t expect;   /* cas: the value required */
    uint64_t observed; /* failed cas: the value it saw, or LC_UNSEEN */
    uint64_t call;     /* invocation time, ns */
    uint64_t ret;      /* response time, ns; LC_NEVER when unknown */
};

struct lc_report {
    bool linearizable;
    bool gave_up;          /* the search hit max_configs: no verdict */
    unsigned key;          /* the key that failed (or gave up) */
    size_t ops;            /* operations checked (after pruning) */
    size_t configs;        /* configurations explored, all keys */
    size_t deepest;        /* failed key: most operations linearized on one path */
    char why[512];         /* failed key: the operations that could not be placed */
};

/* Checks every key of the history (ops in any order). max_configs bounds the configurations
 * explored per key (0: 4 million). Returns report->linearizable && !report->gave_up. */
bool lc_check(const struct lc_op *ops, size_t n, size_t max_configs, struct lc_report *report);

#endif
