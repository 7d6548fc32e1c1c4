/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: one workflow definition in JSON, as POST /v1/workflows and workflows_path give
 * it.
 * fuzz-sources: services/automation/au_workflow.c services/automation/au_workflow_act.c
 * fuzz-sources: services/automation/au_expr.c
 *
 * Bytes are parsed the way the REST layer parses a body (duplicate keys rejected) and handed to
 * au_workflow_parse. A rejection must leave no workflow and say why. An accepted workflow must
 * keep its definition as given, find every step it holds by id, and evaluate every condition
 * and template it holds against a context built from the input itself (any JSON may arrive as
 * an execution's input) without failing. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/automation/au_expr.h"
#include "../../services/automation/au_workflow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
s_templates(const struct au_act *a, json_t *ctx)
{
    json_t *parts[] = {a->args, a->env, a->headers, a->body, a->event, a->value};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        if (parts[i] != NULL) {
            json_decref(au_template_eval(parts[i], ctx));
        }
    }
    if (a->url != NULL) {
        free(au_template_str(a->url, ctx));
        free(au_template_url(a->url, ctx));
    }
}

static void
s_steps(const struct au_workflow *w, const struct au_steps *ss, json_t *ctx)
{
    for (uint32_t i = 0; i < ss->n; i++) {
        if (au_workflow_step(w, ss->v[i].id) != &ss->v[i]) {
            abort(); /* ids are unique: the lookup finds this very step */
        }
        s_templates(&ss->v[i].act, ctx);
        if (ss->v[i].has_comp) {
            s_templates(&ss->v[i].comp, ctx);
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (doc == NULL) {
        return 0;
    }
    struct au_workflow *w = NULL;
    char err[1024] = "";
    int rc = au_workflow_parse(doc, "fuzz", &w, err, sizeof err);
    if (rc < 0) {
        if (w != NULL || err[0] == '\0') {
            abort();
        }
        json_decref(doc);
        return 0;
    }
    if (!json_equal(w->json, doc) || strcmp(w->tenant, "fuzz") != 0) {
        abort();
    }
    json_t *ctx = json_pack("{s:O, s:{}, s:O, s:O}", "input", doc, "steps", "state", doc,
                            "event", doc);
    s_steps(w, &w->steps, ctx);
    s_steps(w, &w->join, ctx);
    for (uint32_t b = 0; b < w->n_branches; b++) {
        if (w->branches[b].when != NULL) {
            (void)au_cond_eval(w->branches[b].when, ctx);
        }
        s_steps(w, &w->branches[b].steps, ctx);
    }
    for (uint32_t s = 0; s < w->n_states; s++) {
        s_steps(w, &w->states[s].steps, ctx);
        for (uint32_t t = 0; t < w->states[s].n_tr; t++) {
            if (w->states[s].tr[t].to >= w->n_states) {
                abort();
            }
        }
    }
    for (uint32_t t = 0; t < w->n_triggers; t++) {
        if (w->triggers[t].when != NULL) {
            (void)au_cond_eval(w->triggers[t].when, ctx);
        }
    }
    struct au_workflow *again = au_workflow_ref(w);
    au_workflow_unref(&again);
    au_workflow_unref(&w);
    json_decref(ctx);
    json_decref(doc);
    return 0;
}
