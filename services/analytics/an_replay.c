/* SPDX-License-Identifier: Apache-2.0 */
/* Validation of POST /v1/replay bodies. */
#include "an_replay.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Kafka timestamps are milliseconds since the epoch; beyond year 9999 is a mistake. */
#define S_MAX_MS 253402300799999LL

int
an_replay_parse(json_t *body, struct an_replay_req *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!body) {
        snprintf(err, errlen, "expected a body: {\"from\":\"earliest\"} or "
                              "{\"from_timestamp_ms\":<ms since the epoch>}");
        return -EINVAL;
    }
    if (!json_is_object(body)) {
        snprintf(err, errlen, "expected a JSON object");
        return -EINVAL;
    }
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v) {
        if (strcmp(k, "from") != 0 && strcmp(k, "from_timestamp_ms") != 0) {
            snprintf(err, errlen, "unknown member '%.64s' (expected from or from_timestamp_ms)", k);
            return -EINVAL;
        }
    }
    json_t *from = json_object_get(body, "from");
    json_t *ts = json_object_get(body, "from_timestamp_ms");
    if (from && ts) {
        snprintf(err, errlen, "from and from_timestamp_ms: give one of them, not both");
        return -EINVAL;
    }
    if (from) {
        if (!json_is_string(from) || strcmp(json_string_value(from), "earliest") != 0) {
            snprintf(err, errlen, "from: expected \"earliest\" (or use from_timestamp_ms)");
            return -EINVAL;
        }
        out->earliest = true;
        return 0;
    }
    if (!ts) {
        snprintf(err, errlen, "expected from (\"earliest\") or from_timestamp_ms");
        return -EINVAL;
    }
    if (!json_is_integer(ts) || json_integer_value(ts) < 0 || json_integer_value(ts) > S_MAX_MS) {
        snprintf(err, errlen,
                 "from_timestamp_ms: expected an integer number of milliseconds since the epoch, "
                 "0..%lld",
                 S_MAX_MS);
        return -EINVAL;
    }
    out->from_ms = (int64_t)json_integer_value(ts);
    return 0;
}

const char *
an_replay_state_name(enum an_replay_state st)
{
    static const char *const names[] = {"idle", "pending", "running", "done", "failed"};
    return (size_t)st < sizeof names / sizeof names[0] ? names[st] : "unknown";
}
