/* SPDX-License-Identifier: Apache-2.0 */
/* The step actions that leave the process: scripts (bash or python, in their own process
 * group, killed at the timeout) and HTTP calls (libcurl). Emit, set_state and delay are done
 * by the executor through its hooks (au_exec.h).
 *
 * What they may do is the daemon's policy (struct au_act_policy, from reactive_automation's
 * keys): a script step names a file of the operator's scripts directory ("script": "name");
 * inline content runs only when allow_inline_scripts is set. The child runs with an
 * environment of PATH, VX_INPUT, VX_EXECUTION_ID, VX_STEP_ID and the step's own env only, in
 * "/", with no_new_privs, resource limits (CPU seconds, address space, open files, processes)
 * and, when a user is configured, as that user and group with no supplementary groups. The
 * limits and the change of user are applied by util-linux's prlimit and setpriv, which the
 * child executes before the interpreter (so the daemon, holding ZeroMQ threads, never forks).
 * An HTTP step connects only where the outbound address policy (vx_netpolicy.h) admits, and
 * keeps the response body only when it asks ("keep_body": true), up to AU_HTTP_MAX_BODY.
 *
 * Both are blocking, run on an executor worker thread, and return early when *stop becomes
 * non-zero (the daemon is shutting down). Thread-safe; curl_global_init must have been called
 * before threads start (main does). */
#ifndef AU_ACTION_H
#define AU_ACTION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

#include "au_workflow.h"
#include "vx_netpolicy.h"

#define AU_SCRIPT_MAX_OUT (64u * 1024)
#define AU_HTTP_MAX_BODY (1u << 20)

/* What script and HTTP steps may do. All zero (or NULL policy): inline scripts allowed, no
 * scripts directory, the daemon's own user, no limits, every address admitted (unit tests). */
struct au_act_policy {
    const char *scripts_dir;   /* "" or NULL: steps naming a script fail */
    bool allow_inline;         /* inline "content" may run */
    bool drop;                 /* run as uid/gid below */
    uid_t uid;
    gid_t gid;
    uint64_t cpu_s;            /* RLIMIT_CPU; 0: not set */
    uint64_t memory_bytes;     /* RLIMIT_AS; 0: not set */
    uint64_t open_files;       /* RLIMIT_NOFILE; 0: not set */
    uint64_t processes;        /* RLIMIT_NPROC; 0: not set */
    const vx_netpolicy_t *net; /* borrowed; NULL: every address */
};

struct au_act_out {
    json_t *result;   /* the step's result (new reference) or NULL */
    char err[512];    /* why it failed */
    bool timed_out;
    int pid;          /* script: the process started (for the record), 0 if none */
    /* script, set by the caller: called once the process (the leader of its own process
     * group) has started, before waiting for it */
    void (*on_start)(int pid, void *arg);
    void *on_start_arg;
};

/* Runs a script action under pol (borrowed, may be NULL). ctx is the execution context
 * (templates of args and env resolve against it; ctx.input is given as VX_INPUT). exec_id and
 * step_id are exported as VX_EXECUTION_ID and VX_STEP_ID. Returns 0 on exit 0 with a JSON (or
 * empty) stdout, else -errno with out->err set: -ETIMEDOUT (the process group was killed),
 * -ECANCELED (stop), -EPROTO (stdout not JSON or too large), -EIO (exit status), -ENOENT
 * (could not start, or no such script), -EPERM (inline content not allowed). */
int au_script_run(const struct au_act *a, const struct au_act_policy *pol, json_t *ctx,
                  uint64_t timeout_ms,
                  const volatile int *stop, const char *exec_id, const char *step_id,
                  struct au_act_out *out);

/* The URL of an http action resolved against ctx (caller frees) and its breaker target
 * "http:<host>:<port>" in target. Returns 0, or -EINVAL when the URL does not parse. */
int au_http_resolve(const struct au_act *a, json_t *ctx, char **url, char *target,
                    size_t tlen, char *err, size_t errlen);

/* Performs an http action on a resolved url under pol (borrowed, may be NULL). Returns 0 when
 * the status is expected, else -errno with out->err set: -EACCES (the address policy refused
 * the address; counted), -ETIMEDOUT, -ECANCELED, -EIO (any other transport failure: one text
 * for a refused connection, a reset, a closed connection or a reply that is not HTTP, so the
 * error does not tell a closed port from an open one), -EBADMSG for an unexpected status
 * (out->result still holds {"status":..} then, with "body" when the step keeps it). */
int au_http_run(const struct au_act *a, const struct au_act_policy *pol, json_t *ctx,
                const char *url, uint64_t timeout_ms,
                const volatile int *stop, struct au_act_out *out);

#endif
