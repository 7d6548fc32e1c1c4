/* SPDX-License-Identifier: Apache-2.0 */
/* Sealing raft entries and snapshots (see coord_seal.h). */
#include "coord_seal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_fsm.h"
#include "vx_mem.h"

static const char *const s_label[2] = {"coordinator-entry", "coordinator-snapshot"};

/* The associated data: the label and the header's kind, version and origin. */
static size_t
s_ad(enum coord_seal_what what, const uint8_t *hdr, uint8_t *ad)
{
    size_t n = strlen(s_label[what]);
    memcpy(ad, s_label[what], n);
    memcpy(ad + n, hdr, 12);
    return n + 12;
}

static size_t
s_round8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

bool
coord_seal_is_sealed(const void *data, size_t len)
{
    const uint8_t *p = data;
    return len >= COORD_ENTRY_HDR && p[0] == 'V' && p[1] == 'C' && p[2] == COORD_ENTRY_SEALED &&
           p[3] == 1;
}

size_t
coord_seal_size(size_t len)
{
    return s_round8(COORD_ENTRY_HDR + len + VX_SEAL_OVERHEAD);
}

int
coord_seal_wrap(const vx_sealer_t *s, enum coord_seal_what what, uint64_t origin,
                const void *plain, size_t len, uint8_t *out)
{
    size_t cap = coord_seal_size(len);
    uint8_t ad[64];
    coord_entry_header(out, COORD_ENTRY_SEALED, origin, 0);
    size_t adlen = s_ad(what, out, ad), rlen = 0;
    int rc = vx_seal(s, ad, adlen, plain, len, out + COORD_ENTRY_HDR, cap - COORD_ENTRY_HDR,
                     &rlen);
    if (rc < 0) {
        return rc;
    }
    coord_entry_header(out, COORD_ENTRY_SEALED, origin, rlen);
    memset(out + COORD_ENTRY_HDR + rlen, 0, cap - COORD_ENTRY_HDR - rlen);
    return 0;
}

int
coord_seal_open(const vx_sealer_t *s, enum coord_seal_what what, const void *data, size_t len,
                uint8_t **plain, size_t *plen, char *err, size_t errlen)
{
    const uint8_t *p = data;
    *plain = NULL;
    if (!coord_seal_is_sealed(data, len)) {
        snprintf(err, errlen, "not a sealed %s", what == COORD_SEAL_ENTRY ? "entry" : "snapshot");
        return -EBADMSG;
    }
    if (!s) {
        snprintf(err, errlen, "the %s is sealed but at_rest.encryption is off: this node needs "
                              "the cluster's data keys",
                 what == COORD_SEAL_ENTRY ? "entry" : "snapshot");
        return -EPROTO;
    }
    size_t rlen = (size_t)p[12] | (size_t)p[13] << 8 | (size_t)p[14] << 16 | (size_t)p[15] << 24;
    if (rlen > len - COORD_ENTRY_HDR || rlen < VX_SEAL_OVERHEAD - 12) {
        snprintf(err, errlen, "a sealed record of %zu bytes in %zu", rlen, len);
        return -EBADMSG;
    }
    uint8_t ad[64];
    size_t adlen = s_ad(what, p, ad);
    uint8_t *out = vx_malloc(rlen ? rlen : 1);
    int rc = vx_unseal(s, ad, adlen, p + COORD_ENTRY_HDR, rlen, out, rlen, plen, err, errlen);
    if (rc < 0) {
        free(out);
        return rc;
    }
    *plain = out;
    return 0;
}
