/* SPDX-License-Identifier: Apache-2.0 */
/* Internals of workflow validation shared by au_workflow.c (the workflow, its steps, branches,
 * states and triggers) and au_workflow_act.c (the table of action kinds). Not for other
 * files. */
#ifndef AU_WORKFLOW_PRIV_H
#define AU_WORKFLOW_PRIV_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "au_workflow.h"

/* The parse in progress: where errors go and the workflow being filled (owned by the
 * caller of au_workflow_parse). */
struct au_wf_ctx {
    char *err;
    size_t errlen;
    const char *id;           /* the workflow's id once read, for messages */
    struct au_workflow *w;
};

/* Writes "workflow \"<id>\": <message>" into c->err; returns -EINVAL. */
__attribute__((format(printf, 2, 3))) int au_wf_err(struct au_wf_ctx *c, const char *fmt, ...);
/* Rejects keys of o outside allowed (NULL-terminated), naming where. */
int au_wf_keys(struct au_wf_ctx *c, json_t *o, const char *where, const char *const *allowed);
/* An optional integer member key of o in lo..hi, def when absent. where ends with "." or is
 * empty. */
int au_wf_int(struct au_wf_ctx *c, json_t *o, const char *where, const char *key, long long lo,
              long long hi, long long def, long long *out);
/* Checks a template (au_expr.h), naming where in the error. */
int au_wf_tmpl(struct au_wf_ctx *c, json_t *t, const char *where);
/* 1..AU_WF_MAX_ID characters of [A-Za-z0-9_.:-]. */
bool au_wf_id_ok(const char *s);

/* Parses the action object a (borrowed; out's pointers borrow from it) found at where.
 * Returns 0 or -EINVAL with the message in c->err. */
int au_wf_action_parse(struct au_wf_ctx *c, json_t *a, const char *where, struct au_act *out);

#endif
