/* SPDX-License-Identifier: Apache-2.0 */
/* Reading raft's files for the re-seal scan (coord_reseal.h): which records a snapshot file or
 * a segment file holds under which data key. Pure functions over bytes, so that a file changed
 * or cut short on disk is read as far as it is consistent (and fuzzed: fuzz_coord_reseal.c). */
#include "coord_reseal.h"

#include <string.h>

#include "coord_fsm.h"
#include "coord_seal.h"
#include "vx_seal.h"

#define S_RAFT_COMMAND 1          /* enum raft_entry_type */

/* The key id a sealed entry or snapshot names, 0 when data is not one. */
static uint32_t
s_record_key(const uint8_t *data, size_t len)
{
    uint32_t id = 0;
    if (!coord_seal_is_sealed(data, len) ||
        vx_seal_record_key_id(data + COORD_ENTRY_HDR, len - COORD_ENTRY_HDR, &id) < 0) {
        return 0;
    }
    return id;
}

static uint64_t
s_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

/* A snapshot's data file: the sealed header at the start, or within an LZ4 frame's first
 * (stored) block. */
void
coord_reseal_scan_snapshot(const uint8_t *p, size_t len, uint32_t key_id,
                           struct coord_reseal_counts *c)
{
    c->snapshots++;
    for (size_t off = 0; off <= 32 && off < len; off++) {
        if (s_record_key(p + off, len - off) == key_id) {
            return;
        }
    }
    c->stale_snapshots++;
}

/* Why long: one pass over libraft's segment format, every length checked against what is
 * left of the file. */
void
coord_reseal_scan_segment(const uint8_t *p, size_t len, uint32_t key_id,
                          struct coord_reseal_counts *c)
{
    if (len < 8 || s_le(p, 8) != 1) {
        return; /* empty (not yet written) or a format we do not know: nothing of ours */
    }
    size_t off = 8;
    uint64_t stale = 0;
    while (off + 16 <= len) {
        uint64_t n = s_le(p + off + 8, 8);
        if (n == 0 || n > (len - off - 16) / 16) {
            break;
        }
        size_t hdr = off + 16, data = hdr + 16 * (size_t)n;
        bool ok = true;
        for (uint64_t i = 0; i < n && ok; i++) {
            const uint8_t *h = p + hdr + 16 * i;
            size_t size = (size_t)s_le(h + 12, 4);
            size_t padded = (size + 7) & ~(size_t)7;
            if (padded > len - data) {
                ok = false;
                break;
            }
            if (h[8] == S_RAFT_COMMAND) {
                c->entries++;
                stale += s_record_key(p + data, size) != key_id;
            }
            data += padded;
        }
        if (!ok) {
            break;
        }
        off = data;
    }
    c->stale_entries += stale;
    c->stale_segments += stale > 0;
}

bool
coord_reseal_is_segment(const char *name)
{
    if (strncmp(name, "open-", 5) == 0) {
        return name[5] >= '0' && name[5] <= '9';
    }
    /* <digits>-<digits>, nothing else */
    size_t a = strspn(name, "0123456789");
    if (a == 0 || name[a] != '-') {
        return false;
    }
    size_t b = strspn(name + a + 1, "0123456789");
    return b > 0 && name[a + 1 + b] == '\0';
}

