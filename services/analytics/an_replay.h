/* SPDX-License-Identifier: Apache-2.0 */
/* Replay requests: POST /v1/replay bodies and the progress of a replay.
 *
 *   {"from": "earliest"}                    every owned partition from its first offset
 *   {"from_timestamp_ms": 1700000000000}    from the first message whose Kafka timestamp is at
 *                                           or after this time (offsets for times)
 *
 * Exactly one of the two members; anything else is rejected with a message naming it. */
#ifndef AN_REPLAY_H
#define AN_REPLAY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct an_replay_req {
    bool earliest;
    int64_t from_ms; /* when !earliest */
};

/* Parses a body (borrowed; NULL for an empty one). Returns 0, or -EINVAL with the reason in
 * err. */
int an_replay_parse(json_t *body, struct an_replay_req *out, char *err, size_t errlen);

enum an_replay_state {
    AN_REPLAY_IDLE,    /* never ran */
    AN_REPLAY_PENDING, /* accepted, the loop has not started it yet */
    AN_REPLAY_RUNNING,
    AN_REPLAY_DONE,
    AN_REPLAY_FAILED,
};

const char *an_replay_state_name(enum an_replay_state st);

#endif
