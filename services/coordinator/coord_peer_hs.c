/* SPDX-License-Identifier: Apache-2.0 */
/* The raft peer handshake's computations (see coord_peer_hs.h). */
#include "coord_peer_hs.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#define S_LABEL "vexfs-raft-peer-v1"

static void
s_init(struct coord_hs *h, bool client, const uint8_t sk[COORD_HS_KEY],
       const uint8_t pk[COORD_HS_KEY])
{
    memset(h, 0, sizeof *h);
    h->client = client;
    memcpy(h->s_sk, sk, COORD_HS_KEY);
    memcpy(h->s_pk, pk, COORD_HS_KEY);
    randombytes_buf(h->e_sk, sizeof h->e_sk);
    crypto_scalarmult_base(h->e_pk, h->e_sk);
}

void
coord_hs_client_init(struct coord_hs *h, const uint8_t sk[COORD_HS_KEY],
                     const uint8_t pk[COORD_HS_KEY], uint64_t client_id, const char *client_addr,
                     uint64_t server_id)
{
    s_init(h, true, sk, pk);
    h->client_id = client_id;
    h->server_id = server_id;
    size_t alen = strnlen(client_addr, COORD_HS_MAX_ADDR);
    memcpy(h->client_addr, client_addr, alen);
    h->client_addr[alen] = '\0';
}

void
coord_hs_server_init(struct coord_hs *h, const uint8_t sk[COORD_HS_KEY],
                     const uint8_t pk[COORD_HS_KEY], uint64_t server_id)
{
    s_init(h, false, sk, pk);
    h->server_id = server_id;
}

static uint64_t
s_get_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

static void
s_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* k from the transcript (the hello, the server's keys e_s and s_s) and the three DH values. The DH inputs differ per side (each uses
 * its own secrets) but the results are the same. Returns 0 or -EPROTO (a point DH refuses). */
static int
s_derive(struct coord_hs *h, const uint8_t e_s[COORD_HS_KEY], const uint8_t s_s[COORD_HS_KEY])
{
    uint8_t dh[3][COORD_HS_KEY];
    int bad;
    if (h->client) {
        bad = crypto_scalarmult(dh[0], h->e_sk, h->peer_e);          /* ee */
        bad |= crypto_scalarmult(dh[1], h->s_sk, h->peer_e);         /* se */
        bad |= crypto_scalarmult(dh[2], h->e_sk, h->peer_s);         /* es */
    } else {
        bad = crypto_scalarmult(dh[0], h->e_sk, h->peer_e);          /* ee */
        bad |= crypto_scalarmult(dh[1], h->e_sk, h->peer_s);         /* se */
        bad |= crypto_scalarmult(dh[2], h->s_sk, h->peer_e);         /* es */
    }
    if (bad != 0) {
        sodium_memzero(dh, sizeof dh);
        return -EPROTO;
    }
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, COORD_HS_KEY);
    crypto_generichash_update(&st, (const uint8_t *)S_LABEL, sizeof S_LABEL - 1);
    crypto_generichash_update(&st, h->hello, h->hello_len);
    crypto_generichash_update(&st, e_s, COORD_HS_KEY);
    crypto_generichash_update(&st, s_s, COORD_HS_KEY);
    crypto_generichash_update(&st, (const uint8_t *)dh, sizeof dh);
    crypto_generichash_final(&st, h->k, sizeof h->k);
    sodium_memzero(dh, sizeof dh);
    sodium_memzero(&st, sizeof st);
    h->have_k = true;
    return 0;
}

static void
s_mac(const struct coord_hs *h, const char *label, uint8_t out[COORD_HS_KEY])
{
    crypto_generichash(out, COORD_HS_KEY, (const uint8_t *)label, strlen(label), h->k,
                       sizeof h->k);
}

/* Bytes, not a string: the version and a zero end it. */
static const uint8_t s_magic[COORD_HS_MAGIC_LEN] = {'V', 'X', 'R', 'A', 'F', 'T', 0x01, 0x00};

size_t
coord_hs_hello(struct coord_hs *h, uint8_t out[COORD_HS_HELLO_MAX])
{
    uint8_t *p = out;
    size_t alen = strlen(h->client_addr);
    memcpy(p, s_magic, COORD_HS_MAGIC_LEN);
    p += COORD_HS_MAGIC_LEN;
    memcpy(p, h->e_pk, COORD_HS_KEY);
    p += COORD_HS_KEY;
    memcpy(p, h->s_pk, COORD_HS_KEY);
    p += COORD_HS_KEY;
    s_le(p, h->client_id, 8);
    s_le(p + 8, h->server_id, 8);
    s_le(p + 16, alen, 2);
    p += 18;
    memcpy(p, h->client_addr, alen);
    h->hello_len = COORD_HS_HELLO_FIXED + alen;
    memcpy(h->hello, out, h->hello_len);
    return h->hello_len;
}

size_t
coord_hs_hello_size(const uint8_t fixed[COORD_HS_HELLO_FIXED])
{
    if (memcmp(fixed, s_magic, COORD_HS_MAGIC_LEN) != 0) {
        return 0;
    }
    size_t alen = (size_t)s_get_le(fixed + COORD_HS_HELLO_FIXED - 2, 2);
    if (alen == 0 || alen > COORD_HS_MAX_ADDR) {
        return 0;
    }
    return COORD_HS_HELLO_FIXED + alen;
}

int
coord_hs_read_hello(struct coord_hs *h, const uint8_t *in, size_t len)
{
    if (len < COORD_HS_HELLO_FIXED || coord_hs_hello_size(in) != len) {
        return -EPROTO;
    }
    const uint8_t *p = in + COORD_HS_MAGIC_LEN;
    memcpy(h->peer_e, p, COORD_HS_KEY);
    memcpy(h->peer_s, p + COORD_HS_KEY, COORD_HS_KEY);
    p += 2 * COORD_HS_KEY;
    h->client_id = s_get_le(p, 8);
    uint64_t target = s_get_le(p + 8, 8);
    size_t alen = len - COORD_HS_HELLO_FIXED;
    memcpy(h->client_addr, in + COORD_HS_HELLO_FIXED, alen);
    h->client_addr[alen] = '\0';
    if (memchr(h->client_addr, '\0', alen) || h->client_id == 0) {
        return -EPROTO;
    }
    memcpy(h->hello, in, len);
    h->hello_len = len;
    return target == h->server_id ? 0 : -ENXIO;
}

int
coord_hs_reply(struct coord_hs *h, uint8_t out[COORD_HS_REPLY_LEN])
{
    if (s_derive(h, h->e_pk, h->s_pk) < 0) {
        return -EPROTO;
    }
    memcpy(out, h->e_pk, COORD_HS_KEY);
    memcpy(out + COORD_HS_KEY, h->s_pk, COORD_HS_KEY);
    s_mac(h, "server", out + 2 * COORD_HS_KEY);
    return 0;
}

int
coord_hs_read_reply(struct coord_hs *h, const uint8_t in[COORD_HS_REPLY_LEN])
{
    memcpy(h->peer_e, in, COORD_HS_KEY);
    memcpy(h->peer_s, in + COORD_HS_KEY, COORD_HS_KEY);
    if (s_derive(h, h->peer_e, h->peer_s) < 0) {
        return -EPROTO;
    }
    uint8_t mac[COORD_HS_KEY];
    s_mac(h, "server", mac);
    return sodium_memcmp(mac, in + 2 * COORD_HS_KEY, COORD_HS_KEY) == 0 ? 0 : -EACCES;
}

void
coord_hs_proof(struct coord_hs *h, uint8_t out[COORD_HS_PROOF_LEN])
{
    s_mac(h, "client", out);
}

int
coord_hs_check_proof(const struct coord_hs *h, const uint8_t in[COORD_HS_PROOF_LEN])
{
    if (!h->have_k) {
        return -EACCES;
    }
    uint8_t mac[COORD_HS_KEY];
    s_mac(h, "client", mac);
    return sodium_memcmp(mac, in, COORD_HS_KEY) == 0 ? 0 : -EACCES;
}

void
coord_hs_stream_key(const struct coord_hs *h, uint8_t key[COORD_HS_KEY])
{
    s_mac(h, "stream", key);
}

void
coord_hs_wipe(struct coord_hs *h)
{
    sodium_memzero(h, sizeof *h);
}
