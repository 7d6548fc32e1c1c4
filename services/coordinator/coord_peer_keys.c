/* SPDX-License-Identifier: Apache-2.0 */
/* The raft peers' keys: this node's CURVE key pair and the authorized keys it admits. */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "coord_config.h"
#include "coord_peer.h"

int
coord_peer_keys_load(struct coord_peer_keys *k, const char *keys_dir, const char *identity,
                     const char *patterns, char *err, size_t errlen)
{
    memset(k, 0, sizeof *k);
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium could not start");
        return -EINVAL;
    }
    snprintf(k->self, sizeof k->self, "%s", identity);
    snprintf(k->patterns, sizeof k->patterns, "%s", patterns);
    char path[4400], kerr[4600];
    snprintf(path, sizeof path, "%s/%s.key", keys_dir, identity);
    struct vx_keypair kp;
    if (vx_keys_load_secret(path, &kp, kerr, sizeof kerr) < 0) {
        snprintf(err, errlen, "raft_security is required: %s", kerr);
        return -EINVAL;
    }
    uint8_t check[COORD_HS_KEY];
    bool ok = zmq_z85_decode(k->pk, kp.public_txt) && zmq_z85_decode(k->sk, kp.secret_txt) &&
              crypto_scalarmult_base(check, k->sk) == 0 &&
              memcmp(check, k->pk, COORD_HS_KEY) == 0;
    sodium_memzero(&kp, sizeof kp);
    if (!ok) {
        snprintf(err, errlen, "raft_security is required: %s: the public and secret keys do not "
                              "form a pair", path);
        coord_peer_keys_fini(k);
        return -EINVAL;
    }
    snprintf(path, sizeof path, "%s/authorized", keys_dir);
    k->ring = vx_keyring_load(path, kerr, sizeof kerr);
    if (!k->ring) {
        snprintf(err, errlen, "raft_security is required: %s", kerr);
        coord_peer_keys_fini(k);
        return -EINVAL;
    }
    if (!coord_peer_keys_admitted(k, k->pk)) {
        snprintf(err, errlen,
                 "raft_security is required: this node's key %s/%s.key is not admitted: its "
                 "public half must be in %s/authorized/ under a name raft_peer_keys (%s) "
                 "matches, so that the other members admit it",
                 keys_dir, identity, keys_dir, patterns);
        coord_peer_keys_fini(k);
        return -EINVAL;
    }
    return 0;
}

void
coord_peer_keys_fini(struct coord_peer_keys *k)
{
    sodium_memzero(k->sk, sizeof k->sk);
    vx_keyring_destroy(&k->ring);
}

const char *
coord_peer_keys_admitted(const struct coord_peer_keys *k, const uint8_t pk[COORD_HS_KEY])
{
    char txt[VX_KEY_TXT];
    if (!k->ring || !zmq_z85_encode(txt, pk, COORD_HS_KEY)) {
        return NULL;
    }
    const char *name = vx_keyring_name(k->ring, txt);
    return name && coord_name_matches(k->patterns, name) ? name : NULL;
}
