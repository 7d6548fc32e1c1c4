/* SPDX-License-Identifier: Apache-2.0 */
/* The authenticated, encrypted raft transport: a raft_uv_transport of our own, used in place of
 * libraft's TCP transport (raft_uv_tcp_init) when raft_security is required.
 *
 * libraft's TCP transport starts every connection with a preamble (protocol, raft id, address)
 * that its listener reads from anyone, with no time limit and an allocation whose size the
 * sender chooses. So this transport does not put that listener in front of the network: it
 * listens and connects itself, runs the handshake of coord_peer_hs.h first (which carries the
 * same id and address, bound into the keys), and only then gives libraft a stream, one end of
 * a socketpair. In between it relays: what libraft writes is cut into frames of at most 64 KiB,
 * each sealed with crypto_secretstream_xchacha20poly1305 under the handshake's stream key
 * ([length u32 BE][sealed: type byte | data]), and the receiving side opens each frame in
 * order before libraft reads it; a frame that does not open (changed, replayed, reordered,
 * truncated) closes the connection. libraft's connections are one-way (the connecting side
 * writes, the accepting side reads), and so is the stream.
 *
 * Limits: a handshake must complete within handshake_timeout_ms, at most
 * COORD_PEER_MAX_HANDSHAKES run at once (more are refused at once), and a relay stops reading
 * while its output has more than a few MiB queued, so memory stays bounded whatever a peer
 * sends. Every refusal is counted in vexfs_raft_peer_refused_total{direction,reason} and
 * logged (one line per reason every 10 s at most, with the count of lines left out).
 *
 * Side channel: a node may send small "view" frames on its established outgoing connections
 * (coord_peer_send_view): the leader sends its view of the members to followers that way, so a
 * follower can show health and lag it cannot observe itself. They travel in the same sealed
 * stream and never reach libraft.
 *
 * Everything runs on the raft loop's thread. */
#ifndef COORD_PEER_H
#define COORD_PEER_H

#include <raft.h>
#include <raft/uv.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "coord_peer_hs.h"
#include "vx_keys.h"
#include "vx_metrics.h"

#define COORD_PEER_MAX_HANDSHAKES 64
#define COORD_PEER_VIEW_MAX 16384

/* This node's key pair and the keys it admits as raft peers. */
struct coord_peer_keys {
    uint8_t pk[COORD_HS_KEY], sk[COORD_HS_KEY];
    char self[129];            /* the identity the key was loaded as */
    vx_keyring_t *ring;        /* <keys_dir>/authorized/ */
    char patterns[1025];       /* raft_peer_keys */
};

/* Loads <keys_dir>/<identity>.key (mode 0600 or stricter) and every <keys_dir>/authorized/
 * *.pub, and checks that this node's own public key is admitted under patterns (every member
 * runs the same configuration, so a key the node would refuse is one its peers refuse too).
 * Returns 0, or -EINVAL with a message naming the file or the key. */
int coord_peer_keys_load(struct coord_peer_keys *k, const char *keys_dir, const char *identity,
                         const char *patterns, char *err, size_t errlen);
/* Wipes the secret key and frees the keyring. */
void coord_peer_keys_fini(struct coord_peer_keys *k);
/* The name a public key is admitted under (its authorized/ file name, matching one of the
 * patterns), or NULL. Borrowed, valid while k lives. */
const char *coord_peer_keys_admitted(const struct coord_peer_keys *k,
                                     const uint8_t pk[COORD_HS_KEY]);

/* A view frame arrived from raft node `from` on an authenticated connection. data is borrowed
 * for the call. */
typedef void(coord_peer_view_fn)(void *arg, uint64_t from, const uint8_t *data, size_t len);

struct coord_peer_opts {
    const struct coord_peer_keys *keys; /* borrowed, outlives the transport */
    unsigned handshake_timeout_ms;
    const char *bind_address;           /* "ip:port" to listen on; NULL: raft's own address */
    vx_metrics_t *metrics;
    coord_peer_view_fn *on_view;        /* may be NULL */
    void *view_arg;
};

/* Makes t the authenticated transport on loop (t->data is kept). Returns 0 or a RAFT_* code
 * with a message in t->errmsg. */
int coord_peer_init(struct raft_uv_transport *t, uv_loop_t *loop,
                    const struct coord_peer_opts *opts);
/* Frees the transport once libraft has closed it (its close callback fired). */
void coord_peer_fini(struct raft_uv_transport *t);
/* Sends one view frame (at most COORD_PEER_VIEW_MAX bytes) on every established outgoing
 * connection; a connection with much queued is skipped. */
void coord_peer_send_view(struct raft_uv_transport *t, const void *data, size_t len);

#endif
