/* SPDX-License-Identifier: Apache-2.0 */
/* Reactive workflow definitions: the JSON schema and its validation with precise errors. The
 * runtime is au_exec.h; conditions and templates are au_expr.h.
 *
 * ---- Workflow (JSON over REST and in files) -------------------------------------------------
 *
 *   {"id":"cleanup",                 required; 1..128 chars of [A-Za-z0-9_.:-]; unique per tenant
 *    "description":"...",            optional
 *    "kind":"linear",                linear | parallel | conditional | state_machine
 *    "priority":5,                   0..9 (default 5): higher runs first when work is queued
 *    "enabled":true,                 default true; a disabled workflow is never triggered
 *    "triggers":[...],               optional, see below (manual execution is always allowed)
 *    "steps":[step,...],             linear: run in order; parallel: all at once (fan-out);
 *                                    conditional: run in order before the branches (optional)
 *    "join":[step,...],              parallel only, optional: run in order after every step
 *                                    of "steps" succeeded (the join)
 *    "branches":[{"when":cond,"steps":[...]}, ..., {"steps":[...]}]
 *                                    conditional only, required: the first branch whose
 *                                    "when" holds runs; a last branch without "when" is the
 *                                    else branch; none holding runs nothing
 *    "initial":"s0", "states":{...}  state_machine only, see below
 *    "on_conflict":"fail",           fail | retry: what a commit refused by a state conflict
 *                                    does (another execution committed a key this one
 *                                    writes after its snapshot); see au_exec.h
 *    "conflict_retries":3            retry: runs again at most this often (0..100, default 3)
 *   }
 *
 * Step: {"id":"s1", "action":{...}, "timeout_ms":30000, "retry":{...}, "compensate":{...},
 *        "idempotent":false}
 *   id           required, unique in the workflow (all steps, every state)
 *   idempotent   true: running it again has the effect of running it once; when every step
 *                of a workflow says so, an execution interrupted by a crash resumes after
 *                its last completed step instead of being compensated (default false)
 *   action       required: one of the action kinds below
 *   timeout_ms   1..86400000 (default 30000): a script is killed, a request aborted
 *   retry        {"max_retries":3, "backoff":"exponential", "base_delay_ms":100,
 *                 "max_delay_ms":10000, "jitter":0.2}: max_retries 0..100 (default 0);
 *                backoff fixed (base), linear (base*n) or exponential (base*2^(n-1)) before
 *                retry n, capped at max_delay_ms, then multiplied by 1 - jitter*U[0,1)
 *                (jitter 0..1, default 0)
 *   compensate   optional action run when a later step fails (in reverse order of completion)
 *
 * Actions ({"kind":...}; every string marked T is a template over the execution context):
 *   script    {"interpreter":"bash"|"python", "script":"name" or "content":"...",
 *              "args":[T,...], "env":{"NAME":T,...}}
 *             runs the interpreter on <scripts_dir>/<name> with ARGS..., or (inline content,
 *             only where allow_inline_scripts admits it) bash -c CONTENT vexfs-step ARGS... /
 *             python3 -c CONTENT ARGS...; parameters reach the process only as arguments and
 *             environment (VX_INPUT holds the input as JSON), never inside the script text.
 *             Exit 0 succeeds; stdout (at most 64 KiB) is parsed as the step's JSON result
 *             (empty: null; not JSON: the step fails).
 *   http      {"method":"POST", "url":T, "headers":{"Name":T}, "body":T (JSON value: sent as
 *              JSON; a string: sent as is), "expect_status":[200,201] (default 200..299),
 *              "keep_body":false}
 *             result {"status":n}, with "body" (the response as JSON, or as a string; at most
 *             1 MiB) only when keep_body is true
 *   emit      {"event":T}: the event (JSON form of vx_event.h) sent into propagation
 *   set_state {"path":"disk.usage", "value":T}: sets the daemon's state; state triggers fire
 *   delay     {"ms":1000}: waits (0..86400000)
 *
 * Triggers:
 *   {"kind":"pattern","pattern":"burst"}  a match of that CEP pattern (the tenant's)
 *   {"kind":"event","event_type":"custom","when":cond}   an input event of that type whose
 *                                          JSON form (under "event") satisfies cond (optional)
 *   {"kind":"state","state_path":"disk.usage","op":"gt","value":80,"tolerance":5}
 *                                          fires when the state value starts to satisfy the
 *                                          comparison (op gt ge lt le eq); for gt/ge it re-arms
 *                                          only once the value falls below value - tolerance
 *                                          (lt/le: above value + tolerance); eq holds within
 *                                          ±tolerance
 *   {"kind":"manual"}                      documentation only: POST .../execute always works
 *
 * State machine: "states":{"name":{"steps":[...], "terminal":true, "outcome":"succeeded"|
 *   "failed", "wait_ms":60000, "transitions":[{"on":"success"|"failure"|"event"|"timeout",
 *   "to":"name", "event_type":"custom", "custom_type":"approved"}]}}
 *   A state runs its steps; then the first transition on "success" (all succeeded) or
 *   "failure" is taken. A state with "event" transitions then waits up to wait_ms for a
 *   matching input event (type, and custom_type when given), else takes its "timeout"
 *   transition. Terminal states end the execution with their outcome (default succeeded).
 *   Validation rejects a machine where some state reachable from "initial" can reach no
 *   terminal state (a cycle without an exit), naming the states. At most 1000 transitions
 *   are taken per execution. */
#ifndef AU_WORKFLOW_H
#define AU_WORKFLOW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AU_WF_MAX_ID 128
#define AU_WF_MAX_STEPS 64        /* in one list (steps, join, a branch, a state) */
#define AU_WF_MAX_BRANCHES 16
#define AU_WF_MAX_STATES 64
#define AU_WF_MAX_TRANSITIONS 16  /* per state */
#define AU_WF_MAX_TRIGGERS 16
#define AU_WF_MAX_MS 86400000LL
#define AU_WF_MAX_RUN_TRANSITIONS 1000

enum au_wf_kind { AU_WF_LINEAR = 0, AU_WF_PARALLEL, AU_WF_CONDITIONAL, AU_WF_STATE_MACHINE };
enum au_act_kind { AU_ACT_SCRIPT = 0, AU_ACT_HTTP, AU_ACT_EMIT, AU_ACT_SET_STATE, AU_ACT_DELAY };
enum au_backoff { AU_BACKOFF_FIXED = 0, AU_BACKOFF_LINEAR, AU_BACKOFF_EXPONENTIAL };
enum au_on { AU_ON_SUCCESS = 0, AU_ON_FAILURE, AU_ON_EVENT, AU_ON_TIMEOUT };
enum au_trig_kind { AU_TRIG_PATTERN = 0, AU_TRIG_EVENT, AU_TRIG_STATE, AU_TRIG_MANUAL };
enum au_conflict { AU_CONFLICT_FAIL = 0, AU_CONFLICT_RETRY };

/* An action; every pointer is borrowed from the workflow's JSON. */
struct au_act {
    enum au_act_kind kind;
    json_t *json;
    bool python;          /* script: python3, else bash */
    const char *content;  /* script: inline text, or NULL */
    const char *script;   /* script: name of a file of scripts_dir, or NULL */
    json_t *args;         /* script: array of templates, or NULL */
    json_t *env;          /* script: object of templates, or NULL */
    const char *method;   /* http */
    const char *url;      /* http: template */
    json_t *headers;      /* http: object of templates, or NULL */
    json_t *body;         /* http: template, or NULL */
    int expect[16];       /* http: statuses; n_expect 0: 200..299 */
    uint32_t n_expect;
    bool keep_body;       /* http: the result keeps the response body */
    json_t *event;        /* emit: template */
    const char *state_path; /* set_state */
    json_t *value;        /* set_state: template */
    uint64_t ms;          /* delay */
};

struct au_retry {
    uint32_t max_retries;
    enum au_backoff backoff;
    uint64_t base_ms;
    uint64_t max_ms;
    double jitter;
};

struct au_step {
    const char *id;
    bool idempotent;      /* declared safe to run again after an interruption */
    struct au_act act;
    bool has_comp;
    struct au_act comp;
    uint64_t timeout_ms;
    struct au_retry retry;
};

struct au_steps {
    struct au_step *v;
    uint32_t n;
};

struct au_branch {
    json_t *when; /* NULL: else */
    struct au_steps steps;
};

struct au_transition {
    enum au_on on;
    uint32_t to;
    int event_type;       /* AU_ON_EVENT: -1 any */
    const char *custom_type; /* AU_ON_EVENT: NULL any */
};

struct au_state {
    const char *name;
    struct au_steps steps;
    bool terminal;
    bool failed;          /* terminal outcome "failed" */
    uint64_t wait_ms;
    struct au_transition *tr;
    uint32_t n_tr;
    bool waits;           /* has an event transition */
};

struct au_trigger {
    enum au_trig_kind kind;
    const char *pattern;  /* AU_TRIG_PATTERN */
    int event_type;       /* AU_TRIG_EVENT */
    json_t *when;         /* AU_TRIG_EVENT, or NULL */
    const char *state_path; /* AU_TRIG_STATE */
    int op;               /* AU_TRIG_STATE: 0 gt 1 ge 2 lt 3 le 4 eq */
    double value;
    double tolerance;
};

/* A validated workflow. Shared by reference: executions keep theirs while it is replaced or
 * deleted. Read-only once parsed. */
struct au_workflow {
    char *id;
    char *tenant;
    enum au_wf_kind kind;
    int priority;
    bool enabled;
    struct au_steps steps;
    struct au_steps join;
    struct au_branch *branches;
    uint32_t n_branches;
    struct au_state *states;
    uint32_t n_states;
    uint32_t initial;
    struct au_trigger *triggers;
    uint32_t n_triggers;
    enum au_conflict on_conflict;
    uint32_t conflict_retries;
    bool resumable;       /* every step idempotent: an interruption resumes, not compensates */
    bool inline_scripts;  /* some script step carries inline "content" */
    json_t *json;         /* as given, own reference */
    int refs;             /* atomic */
};

/* Parses and validates one workflow of tenant (copied). j is borrowed (a copy is kept).
 * Returns 0 and *out (one reference, the caller's), or -EINVAL with err such as
 *   workflow "cleanup": steps[1].action.kind: unknown step kind "shell" (expected script,
 *   http, emit, set_state or delay) */
int au_workflow_parse(json_t *j, const char *tenant, struct au_workflow **out, char *err,
                      size_t errlen);
/* Whether name may name a file of scripts_dir: 1..128 characters of [A-Za-z0-9_.-], not
 * starting with '.' (so never a path, "." or ".."). */
bool au_script_name_ok(const char *name);
/* Takes one more reference; returns w (the caller owns that reference). */
struct au_workflow *au_workflow_ref(struct au_workflow *w);
/* Drops one reference; frees on the last. Accepts NULL; sets *w to NULL. */
void au_workflow_unref(struct au_workflow **w);
/* Finds a step by id anywhere in the workflow (borrowed, valid while w lives), or NULL. */
const struct au_step *au_workflow_step(const struct au_workflow *w, const char *id);
/* The breaker target of a step's action given its resolved URL (http) or NULL: "http:host:port",
 * "script:<name>" or "script:<workflow>/<step>", "emit" (caller frees); NULL for actions
 * without one. */
char *au_act_target(const struct au_workflow *w, const char *step_id, const struct au_act *a,
                    const char *url);
/* Static strings. */
const char *au_wf_kind_name(enum au_wf_kind k);
const char *au_act_kind_name(enum au_act_kind k);

#endif
