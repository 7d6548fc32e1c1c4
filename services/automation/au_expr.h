/* SPDX-License-Identifier: Apache-2.0 */
/* Paths, conditions and templates over a workflow execution's context.
 *
 * The context is a JSON object {"input":..., "steps":{"<id>":{"status":..,"result":..}},
 * "state":{...}, "event":...}. A path is dot-separated keys from its root, an array index as
 * a number: "input.events.0.path", "steps.check.result.usage", "state.disk.usage".
 *
 * A condition (the "when" of a conditional branch, an event trigger's filter) is one of
 *   {"path":"input.size","op":"gt","value":10}   op: eq ne gt ge lt le exists contains prefix
 *   {"all":[cond,...]}  {"any":[cond,...]}  {"not":cond}
 * eq/ne compare JSON values (numbers numerically); gt ge lt le need numbers on both sides
 * (a string holding a number counts, as event fields are strings); contains and prefix need
 * strings (contains also tests membership in an array); exists ignores value. A path that
 * is absent makes every op false except ne (true) and exists (false).
 *
 * A template is any JSON value in which strings may hold {{path}}. A string that is exactly
 * one {{path}} becomes the value at path (any type; null when absent); otherwise each
 * {{path}} is replaced by the value's text (a string as is, other values as compact JSON,
 * nothing when absent). Templates only ever produce data: they are never evaluated as code. */
#ifndef AU_EXPR_H
#define AU_EXPR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define AU_EXPR_MAX_DEPTH 16
#define AU_EXPR_MAX_PATH 256

/* Checks a condition; where names it in errors ("steps[1].when"). Returns 0, or -EINVAL with
 * "<where>.<field>: <reason>" in err. c is borrowed. */
int au_cond_check(json_t *c, const char *where, char *err, size_t errlen);
/* Evaluates a checked condition against ctx. */
bool au_cond_eval(json_t *c, json_t *ctx);

/* Checks that every {{ opens a path that is closed by }} and is a valid path. */
int au_template_check(json_t *t, const char *where, char *err, size_t errlen);
/* The value of t with its paths resolved against ctx (new reference). */
json_t *au_template_eval(json_t *t, json_t *ctx);
/* A string template interpolated into text (caller frees). */
char *au_template_str(const char *s, json_t *ctx);
/* The same for a URL: every value is percent-encoded (all but A-Z a-z 0-9 - . _ ~), so an
 * input can fill one path segment or query value but never add a '/', '?', '&', '#' or '@'. */
char *au_template_url(const char *s, json_t *ctx);

/* The value at path in ctx, or NULL (borrowed). */
json_t *au_path_get(json_t *ctx, const char *path);
/* True when path is 1..AU_EXPR_MAX_PATH characters of [A-Za-z0-9_.:-] without empty parts. */
bool au_path_ok(const char *path);

#endif
