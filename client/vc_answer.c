/* SPDX-License-Identifier: Apache-2.0 */
/* What a daemon's REST server answers the library, decoded: the one place its bytes are read
 * (fuzzed by tests/fuzz/fuzz_client_answer.c). */
#include "vc_answer.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "vx_event.h"
#include "vx_mem.h"

/* A leader address a 421 answer may name: host:port of plain characters (no user-info, path or
 * whitespace that would send the credential elsewhere than to a host of the cluster). */
static bool
s_leader_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 255 || !strchr(s, ':')) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == ':' || ch == '-' || ch == '[' || ch == ']')) {
            return false;
        }
    }
    return true;
}

void
vc_http_answer(long status, const char *body, size_t len, struct vc_answer *out)
{
    memset(out, 0, sizeof *out);
    if (len == 0) {
        out->json = vx_strdup("{}");
        return;
    }
    json_error_t je;
    /* JSON text never holds a NUL byte; the parser would stop at one and take what precedes
     * it for the whole answer. */
    const char *nul = memchr(body, '\0', len);
    json_t *doc = nul ? NULL : json_loadb(body, len, JSON_DECODE_ANY, &je);
    if (nul) {
        snprintf(je.text, sizeof je.text, "a NUL byte at offset %zu", (size_t)(nul - body));
    }
    if (!doc) {
        /* Quote the start of the answer, printable characters only, for the message. */
        char first[121];
        size_t n = 0;
        for (size_t i = 0; i < len && n < sizeof first - 1 && body[i] != '\n' && body[i] != '\r';
             i++) {
            unsigned char ch = (unsigned char)body[i];
            first[n++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
        }
        first[n] = '\0';
        out->rc = -EPROTO;
        snprintf(out->err, sizeof out->err, "HTTP %ld: the answer is not JSON (%s): \"%s\"",
                 status, vx_json_error_text(&je), first);
        return;
    }
    if (status == 421) {
        const char *rest =
            json_string_value(json_object_get(json_object_get(doc, "leader"), "rest"));
        if (rest && s_leader_ok(rest)) {
            snprintf(out->leader, sizeof out->leader, "%s", rest);
        }
    }
    json_decref(doc);
    /* The answer as the server wrote it: numbers keep their exact digits. */
    out->json = vx_strndup(body, len);
}

