/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: what a daemon's REST server answers libvexfs (client/vc_answer.c).
 * fuzz-sources: client/vc_answer.c
 *
 * The first two bytes choose the HTTP status (421, a coordinator's redirect, half the time),
 * the rest is the body. The decoder must never crash or leak, and must keep its promises:
 * either the answer is JSON text that parses again (byte for byte the body, or "{}" for an
 * empty one) or it is refused with -EPROTO and a message; a leader it names is a plain
 * host:port, never something that would carry the credential elsewhere. Any broken promise
 * aborts, so libFuzzer keeps the input. */
#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vc_answer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    long status = (data[0] & 1) ? 421 : 100 + (long)(((unsigned)data[0] << 8 | data[1]) % 500);
    const char *body = (const char *)data + 2;
    size_t len = size - 2;
    struct vc_answer a;
    vc_http_answer(status, body, len, &a);
    if (a.rc == 0) {
        if (!a.json) {
            abort();
        }
        json_t *again = json_loads(a.json, JSON_DECODE_ANY, NULL);
        if (!again) {
            abort();
        }
        json_decref(again);
        if (len > 0 && (strlen(a.json) != len || memcmp(a.json, body, len) != 0)) {
            abort();
        }
        if (len == 0 && strcmp(a.json, "{}") != 0) {
            abort();
        }
    } else if (a.rc != -EPROTO || a.json || !a.err[0]) {
        abort();
    }
    if (a.leader[0] && (status != 421 || strpbrk(a.leader, "/@ \t\r\n?#%\\") ||
                        !strchr(a.leader, ':'))) {
        abort();
    }
    free(a.json);
    return 0;
}
