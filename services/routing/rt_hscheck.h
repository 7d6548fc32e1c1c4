/* SPDX-License-Identifier: Apache-2.0 */
/* The start-up self-test of the linked Hyperscan/Vectorscan library on the shapes one of its
 * versions gets wrong.
 *
 * Vectorscan 5.4.9 (Debian bookworm's libvectorscan5) misses, in block mode, a 2-byte literal
 * anchored at the end (`OG\z`, `OG$`, `\x2ec\z`, a glob's `**.c`) at the end of inputs of 18
 * to 32 bytes (to 64 on CPUs with AVX-512) when the database also holds a literal such as
 * `zzz` or `main`. Routing decides prefix, suffix, exact and glob patterns without the library
 * (rt_anchor.h), so those stay exact; a user's regex ending that way can still miss. The test
 * compiles the affected shapes, scans known inputs of 1 to 80 bytes, and says whether the
 * linked library found every match; the daemon logs a warning naming the library version when
 * it did not, and reports the result in /v1/stats and /ready. It takes a few milliseconds. */
#ifndef RT_HSCHECK_H
#define RT_HSCHECK_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct rt_hscheck {
    char version[128];  /* hs_version() */
    bool ran;           /* false: the library could not compile or scan the shapes */
    bool affected;      /* some known match was missed */
    uint32_t shapes;    /* pattern pairs compiled */
    uint32_t checked;   /* inputs scanned, each holding one match */
    uint32_t missed;    /* matches the library did not report */
    char example[200];  /* the first miss, e.g. "OG\z beside zzz, 18-byte input" */
    double elapsed_ms;
};

/* Runs the self-test into *out. Returns 0, or -EPROTO when the library failed to compile or
 * scan (out->ran false, the reason in out->example). Logs nothing: the caller does. */
int rt_hscheck_run(struct rt_hscheck *out);

/* {"version","selftest":"ok"|"affected"|"failed","shapes","checked","missed","example",
 *  "elapsed_ms"} (new reference). */
json_t *rt_hscheck_json(const struct rt_hscheck *r);

#endif
