/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: propagation's dedup state file (dedup.bin), read at start.
 *
 * The input is decoded into a small window at a fixed clock. It must be refused cleanly or
 * restore at most the window's bound; whatever it restored must then survive an encode and a
 * decode into a second window unchanged (the same hashes, the same ages), so a decoder that
 * accepts what the encoder cannot write back, or the reverse, aborts.
 * fuzz-sources: services/propagation/prop_dedup.c services/propagation/prop_dedup_store.c
 * fuzz-sources: lib/vx_jsonfile.c lib/vx_seal.c lib/vx_metrics.c lib/vx_creds.c lib/vx_bgwrite.c */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/propagation/prop_dedup_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define S_MAX 64
#define S_WINDOW (1000ull * 1000 * 1000 * 1000) /* 1000 s */
#define S_MONO (5000ull * 1000 * 1000 * 1000)
#define S_WALL (1700000000ull * 1000 * 1000 * 1000)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    prop_dedup_t *a = prop_dedup_new(S_MAX, S_WINDOW);
    char err[256];
    long n = prop_dedup_decode(a, data, size, S_MONO, S_WALL, err, sizeof err);
    if (n < 0 ? err[0] == '\0' || prop_dedup_size(a) != 0 : prop_dedup_size(a) > S_MAX) {
        abort();
    }
    uint8_t *buf;
    size_t len;
    prop_dedup_encode(a, S_MONO, S_WALL, &buf, &len);
    prop_dedup_t *b = prop_dedup_new(S_MAX, S_WINDOW);
    if (prop_dedup_decode(b, buf, len, S_MONO, S_WALL, err, sizeof err) < 0) {
        abort();
    }
    uint8_t *buf2;
    size_t len2;
    prop_dedup_encode(b, S_MONO, S_WALL, &buf2, &len2);
    if (len != len2 || memcmp(buf, buf2, len) != 0) {
        abort();
    }
    free(buf);
    free(buf2);
    prop_dedup_destroy(&a);
    prop_dedup_destroy(&b);
    return 0;
}
