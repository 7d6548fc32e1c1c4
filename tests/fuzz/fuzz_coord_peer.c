/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the raft peer handshake messages a coordinator reads from the network before a
 * peer is authenticated (coord_peer_hs.h).
 *
 * The input is read as an accepting node reads a hello (its size from the fixed part, then the
 * whole), then as a connecting node reads a reply, then as an accepting node checks a proof
 * after a genuine hello: every path must refuse cleanly, and no input may pass the proof
 * check (it would need the client's secret key).
 * fuzz-sources: services/coordinator/coord_peer_hs.c */
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/coordinator/coord_peer_hs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t s_sk[COORD_HS_KEY], s_pk[COORD_HS_KEY];
static uint8_t c_sk[COORD_HS_KEY], c_pk[COORD_HS_KEY];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        if (sodium_init() < 0) {
            abort();
        }
        crypto_box_keypair(s_pk, s_sk);
        crypto_box_keypair(c_pk, c_sk);
        ready = 1;
    }
    /* As the accepting node: a hello. */
    struct coord_hs srv;
    coord_hs_server_init(&srv, s_sk, s_pk, 7);
    if (size >= COORD_HS_HELLO_FIXED) {
        size_t want = coord_hs_hello_size(data);
        if (want && want <= size) {
            if (want < COORD_HS_HELLO_FIXED || want > COORD_HS_HELLO_MAX) {
                abort();
            }
            if (coord_hs_read_hello(&srv, data, want) == 0) {
                uint8_t reply[COORD_HS_REPLY_LEN];
                (void)coord_hs_reply(&srv, reply);
                if (size >= want + COORD_HS_PROOF_LEN &&
                    coord_hs_check_proof(&srv, data + want) == 0) {
                    abort(); /* a proof from bytes alone: only a key holder can make one */
                }
            }
        }
    }
    coord_hs_wipe(&srv);
    /* As the connecting node: a reply to a genuine hello. */
    struct coord_hs cli;
    coord_hs_client_init(&cli, c_sk, c_pk, 3, "127.0.0.1:5562", 7);
    uint8_t hello[COORD_HS_HELLO_MAX];
    coord_hs_hello(&cli, hello);
    if (size >= COORD_HS_REPLY_LEN && coord_hs_read_reply(&cli, data) == 0) {
        abort(); /* a server mac from bytes alone */
    }
    coord_hs_wipe(&cli);
    /* As the accepting node after a genuine hello: the proof. */
    coord_hs_client_init(&cli, c_sk, c_pk, 3, "127.0.0.1:5562", 7);
    size_t n = coord_hs_hello(&cli, hello);
    coord_hs_server_init(&srv, s_sk, s_pk, 7);
    if (coord_hs_read_hello(&srv, hello, n) != 0) {
        abort();
    }
    uint8_t reply[COORD_HS_REPLY_LEN];
    if (coord_hs_reply(&srv, reply) == 0 && size >= COORD_HS_PROOF_LEN &&
        coord_hs_check_proof(&srv, data) == 0) {
        abort();
    }
    coord_hs_wipe(&srv);
    coord_hs_wipe(&cli);
    return 0;
}
