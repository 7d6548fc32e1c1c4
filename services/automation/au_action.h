/* SPDX-License-Identifier: Apache-2.0 */
/* The step actions that leave the process: scripts (bash or python, in their own process
 * group, killed at the timeout) and HTTP calls (libcurl). Emit, set_state and delay are done
 * by the executor through its hooks (au_exec.h).
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

#include "au_workflow.h"

#define AU_SCRIPT_MAX_OUT (64u * 1024)
#define AU_HTTP_MAX_BODY (1u << 20)

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

/* Runs a script action. ctx is the execution context (templates of args and env resolve
 * against it; ctx.input is given as VX_INPUT). exec_id and step_id are exported as
 * VX_EXECUTION_ID and VX_STEP_ID. Returns 0 on exit 0 with a JSON (or empty) stdout, else
 * -errno with out->err set: -ETIMEDOUT (the process group was killed), -ECANCELED (stop),
 * -EPROTO (stdout not JSON or too large), -EIO (exit status), -ENOENT (could not start). */
int au_script_run(const struct au_act *a, json_t *ctx, uint64_t timeout_ms,
                  const volatile int *stop, const char *exec_id, const char *step_id,
                  struct au_act_out *out);

/* The URL of an http action resolved against ctx (caller frees) and its breaker target
 * "http:<host>:<port>" in target. Returns 0, or -EINVAL when the URL does not parse. */
int au_http_resolve(const struct au_act *a, json_t *ctx, char **url, char *target,
                    size_t tlen, char *err, size_t errlen);

/* Performs an http action on a resolved url. Returns 0 when the status is expected, else
 * -errno with out->err set (-ETIMEDOUT, -ECANCELED, -EIO for a transport error, -EBADMSG for
 * an unexpected status; out->result still holds {"status":..,"body":..} then). */
int au_http_run(const struct au_act *a, json_t *ctx, const char *url, uint64_t timeout_ms,
                const volatile int *stop, struct au_act_out *out);

#endif
