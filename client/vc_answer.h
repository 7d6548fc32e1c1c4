/* SPDX-License-Identifier: Apache-2.0 */
/* The decoder of a REST answer (vc_answer.c): status and body bytes from a daemon into the JSON
 * text the program gets, the leader a coordinator's 421 names, or the reason it is refused. */
#ifndef VC_ANSWER_H
#define VC_ANSWER_H

#include <stddef.h>

struct vc_answer {
    int rc;                    /* 0, or -EPROTO when the body is not JSON */
    char *json;                /* the answer as JSON text (caller frees), NULL on error */
    char leader[300];          /* a 421 answer's leader "host:port", "" when none or unsafe */
    char err[300];             /* why, when rc < 0 */
};

/* Turns status and len body bytes (borrowed; need not end in NUL, may hold anything) into
 * *out. An empty body is "{}"; a JSON body is returned as the server wrote it (numbers keep
 * their digits). */
void vc_http_answer(long status, const char *body, size_t len, struct vc_answer *out);

#endif
