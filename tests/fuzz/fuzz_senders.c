/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the senders record (senders.live / senders.json in a receiver's state folder,
 * lib/vx_senders), read at start by routing, automation and analytics.
 *
 * The input is parsed into a record of at most 8 senders. It must be refused with a message or
 * accepted within the bound; what was accepted must survive a write and a read into a second
 * record unchanged (the same text written again), so a reader that accepts what the writer
 * cannot write back, or the reverse, aborts.
 * fuzz-sources: lib/vx_senders.c lib/vx_jsonfile.c lib/vx_seal.c lib/vx_metrics.c lib/vx_creds.c */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/vx_senders.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define S_MAX 8

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vx_senders_t *a = vx_senders_new(S_MAX);
    char err[512] = "";
    int rc = vx_senders_parse(a, (const char *)data, size, err, sizeof err);
    if ((rc < 0 && err[0] == '\0') || vx_senders_count(a) > S_MAX) {
        abort();
    }
    if (rc == 0) {
        size_t len = 0, len2 = 0;
        char *text = vx_senders_snapshot(a, &len);
        vx_senders_t *b = vx_senders_new(S_MAX);
        if (!text || vx_senders_parse(b, text, len, err, sizeof err) < 0 ||
            vx_senders_count(b) != vx_senders_count(a)) {
            abort();
        }
        char *again = vx_senders_snapshot(b, &len2);
        if (!again || len2 != len || memcmp(text, again, len) != 0) {
            abort();
        }
        free(again);
        free(text);
        vx_senders_destroy(&b);
    }
    vx_senders_destroy(&a);
    return 0;
}
