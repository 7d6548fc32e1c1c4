/* SPDX-License-Identifier: Apache-2.0 */
/* The raft peer handshake on its own: two holders of admitted keys agree on one stream key,
 * and each way of not holding a key (an impostor client or server presenting someone's public
 * key, a changed byte in any message), a hello meant for another node and malformed hellos are
 * refused with the error that names it. */
#include <check.h>
#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "coord_peer_hs.h"

struct s_pair {
    uint8_t pk[COORD_HS_KEY], sk[COORD_HS_KEY];
};

static struct s_pair
s_key(void)
{
    struct s_pair k;
    crypto_box_keypair(k.pk, k.sk);
    return k;
}

/* Runs a whole handshake; returns the first error, with both stream keys on success. */
static int
s_handshake(const struct s_pair *client, const struct s_pair *client_claims,
            const struct s_pair *server, const struct s_pair *server_claims, uint64_t target,
            uint8_t ckey[COORD_HS_KEY], uint8_t skey[COORD_HS_KEY])
{
    struct coord_hs c, s;
    /* A claimant presents claims->pk while holding only its own secret. */
    coord_hs_client_init(&c, client->sk, client_claims->pk, 3, "127.0.0.1:5562", target);
    coord_hs_server_init(&s, server->sk, server_claims->pk, 7);
    uint8_t hello[COORD_HS_HELLO_MAX], reply[COORD_HS_REPLY_LEN], proof[COORD_HS_PROOF_LEN];
    size_t n = coord_hs_hello(&c, hello);
    ck_assert_uint_eq(coord_hs_hello_size(hello), n);
    int rc = coord_hs_read_hello(&s, hello, n);
    if (rc == 0) {
        ck_assert_mem_eq(s.peer_s, client_claims->pk, COORD_HS_KEY);
        ck_assert_uint_eq(s.client_id, 3);
        ck_assert_str_eq(s.client_addr, "127.0.0.1:5562");
        rc = coord_hs_reply(&s, reply);
    }
    if (rc == 0) {
        rc = coord_hs_read_reply(&c, reply);
    }
    if (rc == 0) {
        coord_hs_proof(&c, proof);
        rc = coord_hs_check_proof(&s, proof);
    }
    if (rc == 0) {
        coord_hs_stream_key(&c, ckey);
        coord_hs_stream_key(&s, skey);
    }
    coord_hs_wipe(&c);
    coord_hs_wipe(&s);
    return rc;
}

START_TEST(t_agree)
{
    struct s_pair a = s_key(), b = s_key();
    uint8_t k1[COORD_HS_KEY], k2[COORD_HS_KEY], k3[COORD_HS_KEY], k4[COORD_HS_KEY];
    ck_assert_int_eq(s_handshake(&a, &a, &b, &b, 7, k1, k2), 0);
    ck_assert_mem_eq(k1, k2, COORD_HS_KEY);
    /* Fresh ephemerals: the next connection has another key. */
    ck_assert_int_eq(s_handshake(&a, &a, &b, &b, 7, k3, k4), 0);
    ck_assert_mem_eq(k3, k4, COORD_HS_KEY);
    ck_assert(memcmp(k1, k3, COORD_HS_KEY) != 0);
}
END_TEST

START_TEST(t_impostors)
{
    struct s_pair a = s_key(), b = s_key(), m = s_key();
    uint8_t k1[COORD_HS_KEY], k2[COORD_HS_KEY];
    /* m presents a's public key as a client: the server's proof check fails. */
    ck_assert_int_eq(s_handshake(&m, &a, &b, &b, 7, k1, k2), -EACCES);
    /* m answers as the server with b's public key: the client refuses the reply. */
    ck_assert_int_eq(s_handshake(&a, &a, &m, &b, 7, k1, k2), -EACCES);
    /* A hello meant for node 8 reaches node 7. */
    ck_assert_int_eq(s_handshake(&a, &a, &b, &b, 8, k1, k2), -ENXIO);
}
END_TEST

START_TEST(t_changed_bytes)
{
    struct s_pair a = s_key(), b = s_key();
    for (int msg = 0; msg < 3; msg++) {
        for (size_t byte = 0; byte < COORD_HS_REPLY_LEN; byte += 7) {
            struct coord_hs c, s;
            coord_hs_client_init(&c, a.sk, a.pk, 3, "127.0.0.1:5562", 7);
            coord_hs_server_init(&s, b.sk, b.pk, 7);
            uint8_t hello[COORD_HS_HELLO_MAX], reply[COORD_HS_REPLY_LEN],
                proof[COORD_HS_PROOF_LEN];
            size_t n = coord_hs_hello(&c, hello);
            if (msg == 0) {
                if (byte < COORD_HS_MAGIC_LEN || byte >= COORD_HS_HELLO_FIXED - 18) {
                    continue; /* magic and ids: refused by their own checks below */
                }
                hello[byte] ^= 0x01;
            }
            int rc = coord_hs_read_hello(&s, hello, n);
            ck_assert_int_eq(rc, 0);
            rc = coord_hs_reply(&s, reply);
            if (rc == 0 && msg == 1) {
                reply[byte] ^= 0x01;
            }
            if (rc == 0) {
                rc = coord_hs_read_reply(&c, reply);
            }
            if (msg == 1) {
                ck_assert_msg(rc != 0, "a reply changed at byte %zu passed", byte);
                continue;
            }
            if (rc == 0) {
                coord_hs_proof(&c, proof);
                if (msg == 2) {
                    proof[byte % COORD_HS_PROOF_LEN] ^= 0x01;
                }
                rc = coord_hs_check_proof(&s, proof);
            }
            /* A changed hello changes the transcript: the macs no longer agree. */
            ck_assert_msg(rc != 0, "message %d changed at byte %zu passed", msg, byte);
            coord_hs_wipe(&c);
            coord_hs_wipe(&s);
        }
    }
}
END_TEST

START_TEST(t_malformed_hello)
{
    struct s_pair a = s_key(), b = s_key();
    struct coord_hs c, s;
    coord_hs_client_init(&c, a.sk, a.pk, 3, "127.0.0.1:5562", 7);
    uint8_t hello[COORD_HS_HELLO_MAX];
    size_t n = coord_hs_hello(&c, hello);
    uint8_t bad[COORD_HS_HELLO_MAX];
    /* Another magic, an empty address, an address longer than the limit. */
    memcpy(bad, hello, n);
    bad[0] = 'X';
    ck_assert_uint_eq(coord_hs_hello_size(bad), 0);
    memcpy(bad, hello, n);
    bad[COORD_HS_HELLO_FIXED - 2] = 0;
    bad[COORD_HS_HELLO_FIXED - 1] = 0;
    ck_assert_uint_eq(coord_hs_hello_size(bad), 0);
    bad[COORD_HS_HELLO_FIXED - 2] = 0;
    bad[COORD_HS_HELLO_FIXED - 1] = 1; /* 256 */
    ck_assert_uint_eq(coord_hs_hello_size(bad), 0);
    /* A NUL inside the address, a raft id 0, a length that disagrees. */
    coord_hs_server_init(&s, b.sk, b.pk, 7);
    memcpy(bad, hello, n);
    bad[COORD_HS_HELLO_FIXED + 3] = '\0';
    ck_assert_int_eq(coord_hs_read_hello(&s, bad, n), -EPROTO);
    memcpy(bad, hello, n);
    memset(bad + COORD_HS_MAGIC_LEN + 2 * COORD_HS_KEY, 0, 8);
    ck_assert_int_eq(coord_hs_read_hello(&s, bad, n), -EPROTO);
    ck_assert_int_eq(coord_hs_read_hello(&s, hello, n - 1), -EPROTO);
    /* A proof before any hello was read checks nothing. */
    uint8_t proof[COORD_HS_PROOF_LEN] = {0};
    struct coord_hs fresh;
    coord_hs_server_init(&fresh, b.sk, b.pk, 7);
    ck_assert_int_eq(coord_hs_check_proof(&fresh, proof), -EACCES);
    /* A low-order point as ephemeral key: DH refuses it. */
    memcpy(bad, hello, n);
    memset(bad + COORD_HS_MAGIC_LEN, 0, COORD_HS_KEY);
    ck_assert_int_eq(coord_hs_read_hello(&s, bad, n), 0);
    uint8_t reply[COORD_HS_REPLY_LEN];
    ck_assert_int_eq(coord_hs_reply(&s, reply), -EPROTO);
    coord_hs_wipe(&c);
    coord_hs_wipe(&s);
}
END_TEST

int
main(void)
{
    if (sodium_init() < 0) {
        return 1;
    }
    Suite *s = suite_create("coordinator_peer_hs");
    TCase *tc = tcase_create("handshake");
    tcase_add_test(tc, t_agree);
    tcase_add_test(tc, t_impostors);
    tcase_add_test(tc, t_changed_bytes);
    tcase_add_test(tc, t_malformed_hello);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
