/* SPDX-License-Identifier: Apache-2.0 */
/* Self-test of the linked pattern library on end-anchored 2-byte shapes. */
#include "rt_hscheck.h"

#include <errno.h>
#include <hs/hs.h>
#include <stdio.h>
#include <string.h>

#include "vx_clock.h"

#define S_MAX_LEN 80

/* A literal beside an end-anchored expression, and the bytes every input ends with. */
struct s_shape {
    const char *literal;
    const char *anchored;
    const char *label; /* for the example message */
    const char *tail;
    unsigned flags;
};

static const struct s_shape s_shapes[] = {
    {"zzz", "OG\\z", "OG\\z beside zzz", "OG", 0},
    {"zzz", "OG$", "OG$ beside zzz", "OG", 0},
    {"zzz", "og\\z", "og\\z caseless beside zzz", "OG", HS_FLAG_CASELESS},
    {"main", "\\x2ec\\z", "\\.c\\z beside main", ".c", 0},
    {"main", "\\A[\\x00-\\xff]*\\x2ec\\z", "the glob **.c beside main", ".c", 0},
};
#define S_N_SHAPES (sizeof s_shapes / sizeof s_shapes[0])

static int
cb_seen(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags,
        void *arg)
{
    (void)from;
    (void)to;
    (void)flags;
    if (id == 1) {
        *(bool *)arg = true;
    }
    return 0;
}

/* Scans inputs of 2..S_MAX_LEN path-like bytes ending in the shape's tail; counts misses. */
static int
s_shape(const struct s_shape *sh, struct rt_hscheck *out)
{
    const char *ex[2] = {sh->literal, sh->anchored};
    unsigned fl[2] = {HS_FLAG_SINGLEMATCH, HS_FLAG_SINGLEMATCH | sh->flags};
    unsigned ids[2] = {0, 1};
    hs_database_t *db = NULL;
    hs_scratch_t *scratch = NULL;
    hs_compile_error_t *ce = NULL;
    int rc = 0;
    if (hs_compile_multi(ex, fl, ids, 2, HS_MODE_BLOCK, NULL, &db, &ce) != HS_SUCCESS) {
        snprintf(out->example, sizeof out->example, "%s: does not compile: %s", sh->label,
                 ce ? ce->message : "?");
        hs_free_compile_error(ce);
        return -EPROTO;
    }
    if (hs_alloc_scratch(db, &scratch) != HS_SUCCESS) {
        snprintf(out->example, sizeof out->example, "%s: no scratch", sh->label);
        rc = -EPROTO;
        goto out;
    }
    size_t tl = strlen(sh->tail);
    for (size_t len = tl; len <= S_MAX_LEN; len++) {
        char in[S_MAX_LEN];
        for (size_t i = 0; i < len; i++) {
            in[i] = i % 4 == 0 ? '/' : (char)('a' + i % 7);
        }
        memcpy(in + len - tl, sh->tail, tl);
        bool seen = false;
        hs_error_t err = hs_scan(db, in, (unsigned)len, 0, scratch, cb_seen, &seen);
        if (err != HS_SUCCESS) {
            snprintf(out->example, sizeof out->example, "%s: scan failed (%d)", sh->label,
                     (int)err);
            rc = -EPROTO;
            goto out;
        }
        out->checked++;
        if (!seen) {
            if (out->missed++ == 0) {
                snprintf(out->example, sizeof out->example, "%s, %zu-byte input", sh->label,
                         len);
            }
        }
    }
    out->shapes++;
out:
    hs_free_scratch(scratch);
    hs_free_database(db);
    return rc;
}

int
rt_hscheck_run(struct rt_hscheck *out)
{
    memset(out, 0, sizeof *out);
    uint64_t t0 = vx_mono_ns();
    snprintf(out->version, sizeof out->version, "%s", hs_version());
    size_t n = strlen(out->version);
    while (n > 0 && out->version[n - 1] == ' ') {
        out->version[--n] = '\0'; /* "5.4.9 " when built without a date */
    }
    int rc = 0;
    for (size_t i = 0; i < S_N_SHAPES && rc == 0; i++) {
        rc = s_shape(&s_shapes[i], out);
    }
    out->ran = rc == 0;
    out->affected = out->missed > 0;
    out->elapsed_ms = (double)(vx_mono_ns() - t0) / 1e6;
    return rc;
}

json_t *
rt_hscheck_json(const struct rt_hscheck *r)
{
    return json_pack("{s:s, s:s, s:I, s:I, s:I, s:s?, s:f}", "version", r->version, "selftest",
                     !r->ran ? "failed" : r->affected ? "affected" : "ok", "shapes",
                     (json_int_t)r->shapes, "checked", (json_int_t)r->checked, "missed",
                     (json_int_t)r->missed, "example", r->example[0] ? r->example : NULL,
                     "elapsed_ms", r->elapsed_ms);
}
