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
    /* the execution's transaction over its tenant's state (under x->lock) */
    bool has_snap;            /* snap_seq and view are taken */
    uint64_t snap_seq;        /* the store commit its snapshot reflects */
    json_t *view;             /* the snapshot with the writes below applied */
    json_t *writes;           /* [[path, value], ...] buffered set_state writes, in order */
    uint32_t conflict_runs;   /* runs refused by a conflict so far */
    bool rerun;               /* refused by a conflict, to run again (on_conflict retry) */
    bool resume;              /* recovered with idempotent steps: completed ones are skipped */
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
    vx_counter_t *c_rejected, *c_evicted, *c_attempts, *c_comp, *c_conflicts;
    vx_gauge_t *g_running, *g_queued;
};

/* au_exec.c */
void au_exec_count_status(au_exec_t *x, const char *status);

/* au_exec_state.c (x->lock not held unless said) */
/* Writes e's journal entry; a no-op once e finished. 0 or -errno with err. */
int au_exec_journal_write(au_exec_t *x, struct au_execution *e);
/* After step st of e completed: writes e's journal entry unless the step can be neither
 * compensated nor seen outside (set_state or delay without a compensation): a crash then
 * runs it again on resume, or has nothing of it to compensate. */
void au_exec_step_journal(au_exec_t *x, struct au_execution *e, const struct au_step *st);
/* The same with e->jlock held. */
int au_exec_journal_write_locked(au_exec_t *x, struct au_execution *e);
/* The state a step of e sees: its snapshot with its own writes (new reference). */
json_t *au_exec_state_view(au_exec_t *x, struct au_execution *e);
/* Buffers e's write of value (borrowed) at path. */
void au_exec_state_set(au_exec_t *x, struct au_execution *e, const char *path, json_t *value);
/* True when e resumes and step id completed before the interruption. */
bool au_exec_step_done(au_exec_t *x, struct au_execution *e, const char *id);
#define AU_EXEC_RERUN 1
/* Commits a succeeded e: its writes, its record (status succeeded) into the history and the
 * removal of its journal entry, in one store commit. Returns 0, AU_EXEC_RERUN (a conflict and
 * on_conflict retry: e is to run again), or -errno with the reason in e's record (-EBUSY: a
 * conflict). */
int au_exec_commit(au_exec_t *x, struct au_execution *e, uint64_t t0);
/* Finishes e with status (its writes discarded): record into the history and journal entry
 * removed in one commit; counted and logged. */
void au_exec_finish(au_exec_t *x, struct au_execution *e, const char *status, uint64_t t0);
/* Makes e (lock held) ready to run again from its first step (a conflict's rerun). */
void au_exec_reset(au_exec_t *x, struct au_execution *e);
/* An absolute CLOCK_MONOTONIC time ns from now, for pthread_cond_timedwait. */
void au_exec_deadline(struct timespec *ts, uint64_t ns);

/* au_exec_run.c: runs e to its end on the calling worker (x->lock not held). */
void au_exec_run(au_exec_t *x, struct au_execution *e);

#endif
