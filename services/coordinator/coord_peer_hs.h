/* SPDX-License-Identifier: Apache-2.0 */
/* The raft peer handshake: the three messages that prove each side holds a key the other
 * admits, and the keys that come out of it. Pure computation (libsodium), no I/O: the transport
 * (coord_peer.c) moves the bytes.
 *
 * Each node has a static X25519 key pair (its CURVE key file: CurveZMQ keys are X25519 keys)
 * and makes an ephemeral pair per connection. The side that connects (C) and the side that
 * accepts (S) exchange
 *
 *     1. C -> S  hello  (90 + A bytes): "VXRAFT" 0x01 0x00 | ephemeral E_c | static S_c
 *                   | C's raft id (8 bytes LE) | the raft id C means to reach (8 bytes LE)
 *                   | A (2 bytes LE, at most 255) | C's raft address (A bytes)
 *     2. S -> C  reply  (96 bytes): ephemeral E_s | static S_s | mac_s
 *     3. C -> S  proof  (32 bytes): mac_c      (the transport sends the stream header after it)
 *
 * Both compute three Diffie-Hellman values, ee = DH(e_c, E_s), se = DH(s_c, E_s) and
 * es = DH(e_c, S_s) (each side from its own secrets), and
 *
 *     k     = BLAKE2b-256("vexfs-raft-peer-v1" | hello | E_s | S_s | ee | se | es)
 *     mac_s = BLAKE2b-256(key k, "server"), mac_c = BLAKE2b-256(key k, "client"),
 *     stream key = BLAKE2b-256(key k, "stream")
 *
 * Only the holder of s_c can compute se and only the holder of s_s can compute es, so a valid
 * mac proves the sender holds the secret half of the static key it presented; fresh ephemerals
 * make every k new, so a recorded exchange replays nothing. The raft ids and address in the
 * hello (what libraft's own TCP transport sends as its preamble) are part of k, so they cannot
 * be changed on the way, and S refuses a hello meant for another raft id. Whether a static key
 * is admitted is the caller's decision (coord_peer_keys_admitted). */
#ifndef COORD_PEER_HS_H
#define COORD_PEER_HS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COORD_HS_KEY 32
/* The hello starts with the 8 bytes "VXRAFT", 0x01 (the version), 0x00. */
#define COORD_HS_MAGIC_LEN 8
#define COORD_HS_MAX_ADDR 255
#define COORD_HS_HELLO_FIXED (COORD_HS_MAGIC_LEN + 2 * COORD_HS_KEY + 8 + 8 + 2)
#define COORD_HS_HELLO_MAX (COORD_HS_HELLO_FIXED + COORD_HS_MAX_ADDR)
#define COORD_HS_REPLY_LEN (3 * COORD_HS_KEY)
#define COORD_HS_PROOF_LEN COORD_HS_KEY

/* One side's handshake state; wipe it with coord_hs_wipe when done. */
struct coord_hs {
    bool client;
    uint8_t s_sk[COORD_HS_KEY], s_pk[COORD_HS_KEY]; /* own static pair */
    uint8_t e_sk[COORD_HS_KEY], e_pk[COORD_HS_KEY]; /* own ephemeral pair */
    uint8_t peer_s[COORD_HS_KEY], peer_e[COORD_HS_KEY];
    uint8_t hello[COORD_HS_HELLO_MAX];
    size_t hello_len;
    uint64_t client_id, server_id;
    char client_addr[COORD_HS_MAX_ADDR + 1];
    uint8_t k[COORD_HS_KEY];
    bool have_k;
};

/* Starts the connecting side: own static key pair, own raft id and address, and the raft id it
 * means to reach. Makes the ephemeral pair. */
void coord_hs_client_init(struct coord_hs *h, const uint8_t sk[COORD_HS_KEY],
                          const uint8_t pk[COORD_HS_KEY], uint64_t client_id,
                          const char *client_addr, uint64_t server_id);
/* Starts the accepting side: own static key pair and raft id. */
void coord_hs_server_init(struct coord_hs *h, const uint8_t sk[COORD_HS_KEY],
                          const uint8_t pk[COORD_HS_KEY], uint64_t server_id);

/* Client: message 1 into out; returns its length. */
size_t coord_hs_hello(struct coord_hs *h, uint8_t out[COORD_HS_HELLO_MAX]);
/* Server: the whole length of a hello from its first COORD_HS_HELLO_FIXED bytes, or 0 when
 * they are not the start of a hello of this protocol. */
size_t coord_hs_hello_size(const uint8_t fixed[COORD_HS_HELLO_FIXED]);
/* Server: reads message 1 (len bytes, as coord_hs_hello_size said). Returns 0 (the client's
 * static key is then in h->peer_s, its raft id and address in client_id and client_addr),
 * -EPROTO when it is not a hello of this protocol, -ENXIO when it means another raft id. */
int coord_hs_read_hello(struct coord_hs *h, const uint8_t *in, size_t len);
/* Server: message 2. Returns 0, or -EPROTO when a key is a point DH refuses. */
int coord_hs_reply(struct coord_hs *h, uint8_t out[COORD_HS_REPLY_LEN]);
/* Client: reads message 2: the server's static key goes to h->peer_s, then the mac is
 * checked. Returns 0, -EPROTO (a refused point) or -EACCES (the server does not hold the
 * secret of the key it presented). Check h->peer_s is admitted before trusting anything. */
int coord_hs_read_reply(struct coord_hs *h, const uint8_t in[COORD_HS_REPLY_LEN]);
/* Client: message 3. */
void coord_hs_proof(struct coord_hs *h, uint8_t out[COORD_HS_PROOF_LEN]);
/* Server: checks message 3. Returns 0 or -EACCES. */
int coord_hs_check_proof(const struct coord_hs *h, const uint8_t in[COORD_HS_PROOF_LEN]);
/* The key of the encrypted stream from client to server (after a completed handshake). */
void coord_hs_stream_key(const struct coord_hs *h, uint8_t key[COORD_HS_KEY]);
/* Zeroes every secret. */
void coord_hs_wipe(struct coord_hs *h);

#endif
