/* SPDX-License-Identifier: Apache-2.0 */
/* The coordinator's REST routes, shared by the write half (coord_http.c) and the read half
 * (coord_http_read.c): the route state and the mapping of an operation's outcome onto HTTP. */
#ifndef COORD_HTTP_PRIV_H
#define COORD_HTTP_PRIV_H

#include <stdbool.h>

#include "coord_http.h"
#include "vx_drop.h"

struct coord_http {
    coord_raft_t *raft;
    coord_fsm_t *fsm;
    struct coord_http_opts opts;
    uint64_t node_id;
    struct vx_drops invalid; /* events refused at the REST boundary */
    vx_counter_t *received_rest;
};

/* How a failed operation left things, for the client (the "outcome" of an error body). */
enum coord_outcome {
    COORD_OUTCOME_NONE = 0, /* a read: nothing to say */
    COORD_OUTCOME_NOT_DONE, /* certainly did not happen: retry freely */
    COORD_OUTCOME_UNKNOWN,  /* may have happened: retry with the same event ids */
};

/* Maps an operation's failure onto resp (421, 503 with Retry-After, 504, ...); `write` adds
 * the outcome. Returns false (resp untouched) when res succeeded. */
bool coord_http_op_error(coord_http_t *h, const struct coord_op_result *res,
                         struct vx_http_resp *resp, bool write);
/* Sets resp's outcome field (after vx_http_error). */
void coord_http_outcome(struct vx_http_resp *resp, enum coord_outcome o);
/* 503 with Retry-After: certainly not done. */
void coord_http_unavailable(coord_http_t *h, struct vx_http_resp *resp, const char *code,
                            bool write, const char *msg);

/* The read routes' handlers (coord_http_read.c), rows of coord_http.c's route table. */
vx_http_handler_fn coord_http_get_state;
vx_http_handler_fn coord_http_get_log;
vx_http_handler_fn coord_http_get_conflicts;
vx_http_handler_fn coord_http_get_stats;

#endif
