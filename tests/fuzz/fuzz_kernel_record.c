/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: kernel record framing and translation (services/forwarder/fwd_translate.c)
 * over arbitrary bytes, as vexfs-forwarder consumes its input: every parse must advance or ask
 * for more, and every accepted record must translate to an event that validates or be
 * refused with a reason.
 * fuzz-sources: services/forwarder/fwd_translate.c */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../services/forwarder/fwd_translate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vx_arena_t *a = vx_arena_new(1 << 16, 1 << 24);
    size_t off = 0;
    while (off < size) {
        struct fwd_record r;
        size_t used = 0;
        const char *reason = NULL;
        int rc = fwd_record_parse(data + off, size - off, &r, &used, &reason);
        if (rc == -EAGAIN) {
            break;
        }
        if (used == 0 || used > size - off || (rc < 0 && !reason)) {
            abort();
        }
        off += used;
        if (rc == 0) {
            vx_event_t *e = NULL;
            if (fwd_record_translate(&r, a, &e, &reason) == 0) {
                char err[256];
                enum vx_drop_reason why;
                if (vx_event_validate(e, err, sizeof err, &why) < 0) {
                    fprintf(stderr, "translated event refused: %s\n", err);
                    abort(); /* a translated event must be one propagation accepts */
                }
            }
        }
        vx_arena_reset(a);
    }
    vx_arena_destroy(&a);
    return 0;
}
