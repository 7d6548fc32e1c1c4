/* SPDX-License-Identifier: Apache-2.0 */
/* Internals of the workflow executor shared by au_exec.c (queue, tenants, records, journal,
 * recovery, the public calls) and au_exec_run.c (running one execution: steps, retries,
 * kinds, compensation). Not for other files. */
#ifndef AU_EXEC_PRIV_H
#define AU_EXEC_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "au_exec.h"

#define AU_EXEC_STACK (512u * 1024) /* worker and branch threads */
#define AU_EXEC_MAX_TENANTS 4096

enum au_exec_phase { AU_EXEC_QUEUED = 0, AU_EXEC_RUNNING, AU_EXEC_DONE };

struct au_execution {
    char id[AU_EXEC_ID_LEN];
    struct au_workflow *wf;
    int priority;
    uint64_t seq;
    uint64_t submit_ns;       /* monotonic */
    bool first_step_seen;
    enum au_exec_phase phase;
    bool recovery;            /* compensate an interrupted execution, then finish */
    json_t *rec;              /* the record */
    json_t *ctx;              /* {"input","steps","state"} */
    json_t *completed;        /* ids of completed steps, in completion order */
    pthread_mutex_t jlock;    /* orders journal writes */
    bool journal_closed;      /* under jlock: removed for good, never written again */
    /* waiting for an event in a state machine */
    const struct au_state *waiting;
    int32_t got_tr;
    struct au_exec_pg {
        au_exec_t *x;
        struct au_execution *e;
    } pg;                     /* argument of cb_script_started */
};

struct au_tenant_slot {
    char *name;
    uint32_t running;
    double tokens;
    uint64_t refill_ns;
};

struct au_exec {
    struct au_exec_opts o;
    char *journal_dir;
    pthread_mutex_t lock;
    pthread_cond_t work;      /* queue changed / a tenant slot freed */
    pthread_cond_t tick;      /* sleepers and event waiters: stop, events */
    volatile int stop;
    pthread_t *threads;
    uint32_t n_threads;
    uint32_t idle;
    struct au_execution **queue;
    uint32_t n_queue;
    struct au_execution **all;      /* every known execution, oldest first */
    size_t n_all, cap_all;
    size_t n_done;
    struct au_tenant_slot *tenants;
    uint32_t n_tenants;
    uint64_t seq;
    uint32_t running;
    int n_waiting;            /* executions waiting for an event (atomic) */
    uint64_t rejected, evicted, started, finished;
    vx_counter_t *c_rejected, *c_evicted, *c_attempts, *c_comp;
    vx_gauge_t *g_running, *g_queued;
};

/* au_exec.c */
void au_exec_count_status(au_exec_t *x, const char *status);
/* Writes e's journal entry (x->lock not held); a no-op without a journal or once removed. */
void au_exec_journal_write(au_exec_t *x, struct au_execution *e);
void au_exec_journal_remove(au_exec_t *x, struct au_execution *e);
/* An absolute CLOCK_MONOTONIC time ns from now, for pthread_cond_timedwait. */
void au_exec_deadline(struct timespec *ts, uint64_t ns);

/* au_exec_run.c: runs e to its end on the calling worker (x->lock not held). */
void au_exec_run(au_exec_t *x, struct au_execution *e);

#endif
