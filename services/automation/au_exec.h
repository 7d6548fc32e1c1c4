/* SPDX-License-Identifier: Apache-2.0 */
/* The workflow executor: a bounded pool of worker threads, a bounded priority queue with
 * per-tenant concurrency and rate limits, execution records with a bounded history, and a
 * journal of unfinished executions.
 *
 * Scheduling. At most max_concurrent executions run at once (one worker thread each; threads
 * are started on demand up to that number and live until shutdown). Further work waits in one
 * queue of at most max_queue entries (a submission beyond it is refused with -EAGAIN and
 * counted). A worker takes the queued execution of highest workflow priority (then oldest)
 * whose tenant runs fewer than tenant_concurrency executions and has a rate token (a token
 * bucket of tenant_rate per second, tenant_burst deep; 0: no rate limit). The steps of a
 * parallel workflow run on threads of their own, at most AU_WF_MAX_STEPS per execution.
 *
 * Steps. Each attempt of a step's action runs with the step's timeout; a failed attempt is
 * retried up to retry.max_retries times (when retries are enabled) after the backoff delay.
 * Script, http and emit actions go through the circuit breaker of their target. When a step
 * fails for good, the compensation actions of the steps completed so far run in reverse order
 * of completion (when compensation is enabled), each recorded in the execution.
 *
 * State. An execution is a transaction over its tenant's state (au_store.h): it reads a
 * snapshot taken when it first touches the state, with its own set_state writes on top (read
 * your own writes); the writes are buffered and become visible together, in the same store
 * commit that records the execution as succeeded, or never (failed, compensated, interrupted).
 * When another execution committed a key this one writes after its snapshot, the commit is
 * refused (first committer wins) and the workflow's on_conflict policy decides: "fail" (the
 * execution fails and is compensated) or "retry" (it runs again from its first step on a new
 * snapshot, up to conflict_retries times). A set_state in a compensation is discarded with the
 * rest. The store's outbox then holds every committed change, for the state triggers.
 *
 * Journal. Every unfinished execution has an entry in the store's journal (written at
 * submission and after each completed step, with its buffered writes — except after a
 * set_state or delay step without a compensation, which a resume runs again and a compensation
 * has nothing to undo of; a script's process group is added when it starts), removed in the
 * commit that finishes it. au_exec_recover turns each
 * entry left by a crash or a shutdown into an execution: resumed from its last completed step
 * when every step of its workflow is declared idempotent (its writes kept; the steps completed
 * are not run again), otherwise reported "interrupted" with its completed steps compensated (at
 * least once: a crash during that compensation repeats it) and its writes discarded, after
 * killing the process groups of its scripts that still run (a group is killed only when a
 * member's environment holds the execution's VX_EXECUTION_ID). On a clean shutdown, running
 * executions stop at their next step boundary (scripts are killed) and keep their entry.
 *
 * History. Finished executions go to the store's history (bounded by count and age there);
 * GET /v1/executions reads the executions in memory (queued, running) and then the history.
 *
 * Thread-safe. */
#ifndef AU_EXEC_H
#define AU_EXEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "au_action.h"
#include "au_breaker.h"
#include "au_store.h"
#include "au_workflow.h"
#include "vx_event.h"
#include "vx_metrics.h"

#define AU_EXEC_ID_LEN 40

/* What steps call back into the daemon for; called on worker threads, without locks held. */
struct au_exec_hooks {
    /* Sends an event (JSON form, borrowed) of tenant into propagation. 0 or -errno with err. */
    int (*emit)(const char *tenant, json_t *event, char *err, size_t errlen, void *arg);
    /* State changes were committed (their triggers wait in the store's outbox); may be NULL. */
    void (*committed)(void *arg);
    void *arg;
};

struct au_exec_opts {
    uint32_t max_concurrent;     /* > 0 */
    uint32_t max_queue;          /* > 0 */
    uint32_t tenant_concurrency; /* > 0 */
    double tenant_rate;          /* executions started per second per tenant; 0: unlimited */
    uint32_t tenant_burst;       /* >= 1 when tenant_rate > 0 */
    uint32_t max_history;        /* finished executions kept in memory when the store cannot
                                  * take them; older ones evicted (counted) */
    bool retries;                /* enable_fault_tolerance */
    bool compensation;           /* enable_compensation */
    au_store_t *store;           /* borrowed, required: state, journal and history */
    au_breakers_t *breakers;     /* borrowed, required */
    vx_metrics_t *metrics;       /* borrowed, may be NULL */
    const struct au_act_policy *policy; /* borrowed, may be NULL: what script and HTTP steps
                                         * may do (au_action.h; NULL: no restriction) */
    struct au_exec_hooks hooks;
};

typedef struct au_exec au_exec_t;

/* Starts an executor with o (copied; its pointers are borrowed and must outlive it). Caller
 * owns the result. */
au_exec_t *au_exec_new(const struct au_exec_opts *o);
/* Stops the workers (running executions are interrupted, see above) and frees everything. */
void au_exec_destroy(au_exec_t **x);

/* Queues an execution of w (a reference is taken) with input (borrowed; copied). trigger
 * describes the cause ({"kind":"manual"}; borrowed, copied; may be NULL). Writes the new id
 * into id. Returns 0, -EAGAIN when the queue is full (counted), -ECANCELED when stopping,
 * -EPERM when w is disabled, -EIO when its journal entry cannot be written (err). */
int au_exec_submit(au_exec_t *x, struct au_workflow *w, json_t *input, json_t *trigger,
                   char id[AU_EXEC_ID_LEN]);
/* The same with the id given (a state trigger's, derived from the change that fired it):
 * -EEXIST when an execution with that id is known (in memory, the journal or the history),
 * so a change whose triggers are evaluated again after a crash starts nothing twice. */
int au_exec_submit_id(au_exec_t *x, struct au_workflow *w, json_t *input, json_t *trigger,
                      const char *id);

/* Reads the journal left by a previous run and queues each execution in it: resumed, or
 * compensated (see above). Returns the number of executions recovered, or -errno. */
int au_exec_recover(au_exec_t *x);

/* The record of execution id when it belongs to tenant (new reference), or NULL. */
json_t *au_exec_get(au_exec_t *x, const char *tenant, const char *id);
/* A page of q->tenant's executions, newest first, without input, steps and results:
 * {"executions":[...], "next_cursor":"..." (when more may follow), "evicted":n}. The first
 * page (no cursor, no until) starts with the executions in memory (queued, running) that
 * match status and workflow; the history follows (filtered by finishing time too). New
 * reference, or NULL with err for a bad cursor. */
json_t *au_exec_list(au_exec_t *x, const struct au_store_query *q, char *err, size_t errlen);
/* Offers an input event to executions waiting in a state with event transitions. */
void au_exec_event(au_exec_t *x, const vx_event_t *ev);
/* Totals: {"queued":..,"running":..,"rejected":..,"evicted":..,"started":..,...} (new
 * reference, caller owns it). */
json_t *au_exec_stats(au_exec_t *x);
/* Waits up to timeout_ms until nothing is queued or running (tests and benchmarks). */
bool au_exec_idle(au_exec_t *x, int timeout_ms);

#endif
