/* SPDX-License-Identifier: Apache-2.0 */
/* The REST client vexfsctl's admin commands share (rules, cluster): one JSON request at a
 * time with libcurl, the bearer token from a file, the daemon's JSON errors printed as they
 * are, and optionally following a 421 answer to the leader it names (the coordinator). */
#ifndef CTL_REST_H
#define CTL_REST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct ctl_rest {
    const char *cmd;     /* command name for messages ("rules") */
    char *base;          /* base URL without a trailing slash; replaced when following a leader */
    char *token;         /* bearer token, NULL when none */
    long timeout_ms;
    size_t max_response; /* bytes */
    const char *tenant;  /* borrowed; sent as X-VexFS-Tenant when not NULL (automation) */
    const char *if_match; /* borrowed; sent as If-Match when not NULL (writes of a set) */
    char etag[128];      /* the ETag of the last answer, "" when it had none */
    long status;         /* the HTTP status of the last answer, 0 when none came */
};

/* Reads the token file (may be NULL), keeps a copy of url and initialises libcurl. Returns 0,
 * or an exit status (CTL_EXIT_USAGE, CTL_EXIT_FAIL) after printing why. */
int ctl_rest_init(struct ctl_rest *r, const char *cmd, const char *url, const char *token_file,
                  long timeout_ms, size_t max_response);
void ctl_rest_fini(struct ctl_rest *r);

/* method on base + path with an optional JSON body. Returns the parsed 2xx answer (caller
 * decrefs; an empty one, such as 204, as an empty object); otherwise prints the daemon's error (or the transport's) and returns NULL.
 * follow_leader: a 421 answer is retried on the leader it names, waiting while leadership
 * moves (about 3 s at most). */
json_t *ctl_rest_call(struct ctl_rest *r, const char *method, const char *path, json_t *body,
                      bool follow_leader);

/* Prints j indented on stdout; returns CTL_EXIT_OK or CTL_EXIT_FAIL. */
int ctl_rest_print_json(const struct ctl_rest *r, json_t *j);

#endif
