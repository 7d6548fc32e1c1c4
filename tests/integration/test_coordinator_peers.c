/* SPDX-License-Identifier: Apache-2.0 */
/* Raft peers authenticate each other (raft_security: required, the default), against real
 * 3-node clusters on loopback:
 *  - a coordinator process without the cluster's key (its own key, admitted only by itself)
 *    configured to join and campaign cannot join or disturb: the leader and term stay, writes
 *    continue, and every node counts its attempts refused (unknown_key);
 *  - a member started with a wrong key is refused both ways and counted, the two others keep
 *    committing, and once restarted with the right key it catches up;
 *  - what reaches the raft port from a program speaking the protocol as the README describes
 *    it, written here independently: garbage (bad_handshake), silence (timeout), a hello for
 *    another node (wrong_node), an unlisted key (unknown_key), an admitted public key without
 *    its secret (bad_proof), too many handshakes at once (busy), and, after a genuine
 *    handshake with the cluster's key, a frame that does not open (bad_frame); the cluster
 *    keeps its leader throughout;
 *  - raft_security: off runs libraft's plain transport on loopback members, and is refused at
 *    start for a member elsewhere. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "coord_harness.h"
#include "vx_audit.h"
#include "vx_keys.h"
#include "vx_test.h"

#define S_HS_TIMEOUT_MS 500
#define S_EXTRA "  raft_handshake_timeout_ms: 500\n"

static char s_series[256];

/* The series of vexfs_raft_peer_refused_total for a direction and reason. */
static const char *
s_refused(const char *dir, const char *reason)
{
    snprintf(s_series, sizeof s_series,
             "vexfs_raft_peer_refused_total{direction=\"%s\",reason=\"%s\"}", dir, reason);
    return s_series;
}

/* Waits until node i's series reaches at least want; returns the last value. */
static double
s_wait_metric(struct ch_cluster *c, size_t i, const char *series, double want, int timeout_ms)
{
    double v = -1;
    for (uint64_t end = vt_now_ms() + (uint64_t)timeout_ms; vt_now_ms() < end;) {
        v = ch_metric(c, i, series);
        if (v >= want) {
            break;
        }
        vt_sleep_ms(50);
    }
    return v;
}

/* The leader id and term node i reports. */
static void
s_leader_term(struct ch_cluster *c, size_t i, long long *leader, long long *term)
{
    json_t *o = NULL;
    ck_assert_int_eq(ch_req(c, i, "GET", "/v1/cluster", NULL, &o), 200);
    *leader = json_integer_value(json_object_get(json_object_get(o, "leader"), "id"));
    *term = json_integer_value(json_object_get(o, "term"));
    json_decref(o);
}

/* Every node is still in `term` and names `leader`. A changed term fails at once (there was an
 * election); a node that names no leader for a moment (leader 0: its last heartbeats came late
 * on a loaded machine) is asked again for up to 5 s. */
static void
s_same_leader_term(struct ch_cluster *c, long long leader, long long term)
{
    for (size_t i = 0; i < c->n; i++) {
        long long li = 0, ti = 0;
        for (uint64_t end = vt_now_ms() + 5000;;) {
            s_leader_term(c, i, &li, &ti);
            ck_assert_msg(ti == term, "node %zu: term %lld, was %lld", i + 1, ti, term);
            if (li == leader || li != 0 || vt_now_ms() >= end) {
                break;
            }
            vt_sleep_ms(50);
        }
        ck_assert_msg(li == leader, "node %zu: leader %lld, was %lld", i + 1, li, leader);
    }
}

/* Commits one event on node i (the leader); fails the test otherwise. */
static void
s_write(struct ch_cluster *c, size_t i, int n)
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"type\":\"filesystem_write\",\"path\":\"/peers/k%d\",\"content\":{\"n\":\"%d\"}}", n,
             n);
    json_t *o = NULL;
    long st = ch_req(c, i, "POST", "/v1/events", body, &o);
    ck_assert_msg(st == 200, "write %d answered %ld", n, st);
    json_decref(o);
}

/* A keys folder of its own: a "coordinator" key pair that only this folder admits, and an
 * audit signing key (the daemon's audit log needs one). */
static void
s_foreign_keys(const char *dir)
{
    char err[512], path[600], pub[700];
    snprintf(path, sizeof path, "%s/authorized", dir);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    ck_assert_msg(vx_keys_generate(dir, "coordinator", err, sizeof err) == 0, "%s", err);
    ck_assert_msg(vx_audit_keygen(dir, "audit", err, sizeof err) == 0, "%s", err);
    snprintf(path, sizeof path, "%s/coordinator.pub", dir);
    snprintf(pub, sizeof pub, "%s/authorized/coordinator.pub", dir);
    FILE *in = fopen(path, "r"), *out = fopen(pub, "w");
    ck_assert(in && out);
    char buf[512];
    size_t n = fread(buf, 1, sizeof buf, in);
    fwrite(buf, 1, n, out);
    fclose(in);
    fclose(out);
}

/* Starts a coordinator with node i's configuration but keys from keys_dir; returns its pid. */
static pid_t
s_start_with_keys(struct ch_cluster *c, size_t i, const char *keys_dir, const char *log)
{
    char bin[512], env[700];
    snprintf(bin, sizeof bin, "%s/vexfs-coordinator", vt_bin_dir());
    snprintf(env, sizeof env, "VEXFS_SECURITY_KEYS_DIR=%s", keys_dir);
    char *argv[] = {bin, (char *)"--config", c->node[i].cfg, NULL};
    char *envp[] = {env, NULL};
    pid_t pid = vt_spawn(argv, envp, log);
    ck_assert_int_gt(pid, 0);
    return pid;
}

START_TEST(t_rogue_cannot_join_or_disturb)
{
    struct ch_cluster c;
    ch_start(&c, 3, S_EXTRA);
    int l = ch_leader(&c, 10000, 0);
    ck_assert_int_ge(l, 0);
    long long leader, term;
    s_leader_term(&c, (size_t)l, &leader, &term);
    s_write(&c, (size_t)l, 0);

    /* A fourth process that lists itself and the three as members and bootstraps: it holds a
     * key of its own, not the cluster's, and campaigns at once. */
    struct ch_node *r = &c.node[3];
    memset(r, 0, sizeof *r);
    r->id = 4;
    r->rest_port = vt_free_port();
    r->raft_port = vt_free_port();
    snprintf(r->host, sizeof r->host, "127.0.0.1");
    snprintf(r->cfg, sizeof r->cfg, "%s/rogue.yaml", c.dir);
    snprintf(r->log, sizeof r->log, "%s/rogue.log", c.dir);
    char keys[300], cfg[2048];
    snprintf(keys, sizeof keys, "%s/rogue-keys", c.dir);
    s_foreign_keys(keys);
    snprintf(cfg, sizeof cfg,
             "distributed_coordination:\n"
             "  node_id: 4\n"
             "  members: \"%s,4@127.0.0.1:%u/%u\"\n"
             "  data_dir: %s/rogue-data\n"
             "  rest_port: %u\n"
             "  input_endpoint: \"\"\n"
             "  election_timeout_ms: 150\n"
             "  heartbeat_ms: 30\n"
             "  connect_retry_ms: 50\n"
             "  enable_partition_tolerance: false\n"
             "admin:\n"
             "  token_file: %s/token\n",
             c.members, (unsigned)r->raft_port, (unsigned)r->rest_port, c.dir,
             (unsigned)r->rest_port, c.dir);
    ck_assert_int_eq(vt_write_file(r->cfg, cfg), 0);
    r->pid = s_start_with_keys(&c, 3, keys, r->log);

    /* Every member refuses it, again and again; the rogue sees its attempts closed. */
    for (size_t i = 0; i < 3; i++) {
        double v = s_wait_metric(&c, i, s_refused("inbound", "unknown_key"), 3, 20000);
        ck_assert_msg(v >= 3, "node %zu counted %.0f refusals of the rogue", i + 1, v);
    }
    double closed = s_wait_metric(&c, 3, s_refused("outbound", "closed"), 3, 10000);
    ck_assert_msg(closed >= 3, "the rogue counted %.0f refused attempts; log %s", closed, r->log);
    /* Meanwhile, and after, the cluster commits under the same leader and term. */
    for (int n = 1; n <= 20; n++) {
        s_write(&c, (size_t)l, n);
    }
    s_same_leader_term(&c, leader, term);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(ch_int(&c, i, "/v1/cluster", "total"), 3);
    }
    ck_assert_int_eq(vt_stop(r->pid, SIGTERM, 20000) >= 0, 1);
    r->pid = 0;
    ch_stop_all(&c);
}
END_TEST

START_TEST(t_wrong_key_member)
{
    struct ch_cluster c;
    ch_start(&c, 3, S_EXTRA);
    int l = ch_leader(&c, 10000, 0);
    ck_assert_int_ge(l, 0);
    size_t W = ((size_t)l + 1) % 3, O = ((size_t)l + 2) % 3;
    /* Member W comes back with another key under the admitted name. */
    ch_stop_node(&c, W);
    char keys[300], log[320];
    snprintf(keys, sizeof keys, "%s/wrong-keys", c.dir);
    snprintf(log, sizeof log, "%s/wrong.log", c.dir);
    s_foreign_keys(keys);
    c.node[W].pid = s_start_with_keys(&c, W, keys, log);
    double v = s_wait_metric(&c, (size_t)l, s_refused("inbound", "unknown_key"), 1, 20000);
    ck_assert_msg(v >= 1, "the leader did not refuse the wrong key (%.0f)", v);
    v = s_wait_metric(&c, W, s_refused("inbound", "unknown_key"), 1, 20000);
    ck_assert_msg(v >= 1, "the wrong-key member did not refuse the leader (%.0f)", v);
    v = s_wait_metric(&c, (size_t)l, s_refused("outbound", "closed"), 1, 20000);
    ck_assert_msg(v >= 1, "the leader did not count its refused connection (%.0f)", v);
    /* Two of three commit; the wrong-key member gets nothing. */
    for (int n = 0; n < 10; n++) {
        s_write(&c, (size_t)l, n);
    }
    long long total = ch_int(&c, (size_t)l, "/v1/log?limit=0&consistency=any", "total");
    ck_assert_int_ge(total, 10);
    ck_assert_int_eq(ch_int(&c, O, "/v1/log?limit=0&consistency=any", "total") >= 0, 1);
    ck_assert_int_eq(ch_int(&c, W, "/v1/log?limit=0&consistency=any", "total"), 0);
    /* Restarted with the cluster's key, it catches up. */
    ch_stop_node(&c, W);
    ch_start_node(&c, W);
    ck_assert(ch_wait_ready(&c, W, 20000));
    bool caught = false;
    for (uint64_t end = vt_now_ms() + 20000; vt_now_ms() < end && !caught;) {
        caught = ch_int(&c, W, "/v1/log?limit=0&consistency=any", "total") == total;
        if (!caught) {
            vt_sleep_ms(50);
        }
    }
    ck_assert_msg(caught, "the member with the right key did not catch up");
    ch_stop_all(&c);
}
END_TEST

/* ---- the protocol as the README describes it ------------------------------------------ */

static int
s_dial(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static void
s_send(int fd, const void *p, size_t n)
{
    ck_assert_int_eq(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Reads exactly n bytes; false on end of stream or timeout. */
static bool
s_recv(int fd, uint8_t *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, p + got, n - got, 0);
        if (r <= 0) {
            return false;
        }
        got += (size_t)r;
    }
    return true;
}

/* Whether the other end closes within a few seconds. */
static bool
s_closed_by_peer(int fd)
{
    uint8_t b[256];
    for (;;) {
        ssize_t r = recv(fd, b, sizeof b, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
            return true;
        }
        if (r < 0) {
            return false; /* timed out while open */
        }
    }
}

static size_t
s_hello(uint8_t *out, const uint8_t e_pk[32], const uint8_t s_pk[32], uint64_t from,
        uint64_t to)
{
    const char *addr = "127.0.0.1:9";
    size_t alen = strlen(addr), n = 0;
    memcpy(out, "VXRAFT\x01\x00", 8);
    n = 8;
    memcpy(out + n, e_pk, 32);
    n += 32;
    memcpy(out + n, s_pk, 32);
    n += 32;
    for (int i = 0; i < 8; i++) {
        out[n + (size_t)i] = (uint8_t)(from >> (8 * i));
        out[n + 8 + (size_t)i] = (uint8_t)(to >> (8 * i));
    }
    n += 16;
    out[n++] = (uint8_t)alen;
    out[n++] = 0;
    memcpy(out + n, addr, alen);
    return n + alen;
}

/* The cluster's key pair, as raw X25519 keys. */
static void
s_cluster_key(uint8_t pk[32], uint8_t sk[32])
{
    char path[600], err[700];
    snprintf(path, sizeof path, "%s/coordinator.key", vt_keys_dir());
    struct vx_keypair kp;
    ck_assert_msg(vx_keys_load_secret(path, &kp, err, sizeof err) == 0, "%s", err);
    ck_assert_ptr_nonnull(zmq_z85_decode(pk, kp.public_txt));
    ck_assert_ptr_nonnull(zmq_z85_decode(sk, kp.secret_txt));
}

START_TEST(t_raw_refusals)
{
    ck_assert_int_ge(sodium_init(), 0);
    struct ch_cluster c;
    ch_start(&c, 3, S_EXTRA);
    int l = ch_leader(&c, 10000, 0);
    ck_assert_int_ge(l, 0);
    long long leader, term;
    s_leader_term(&c, (size_t)l, &leader, &term);
    size_t F = ((size_t)l + 1) % 3;
    uint16_t port = c.node[F].raft_port;
    uint64_t fid = c.node[F].id;
    uint8_t e_pk[32], e_sk[32], buf[512];
    crypto_box_keypair(e_pk, e_sk);

    /* Garbage: an HTTP request where a hello should be. */
    int fd = s_dial(port);
    const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n012345678901234567890123456789012345678"
                       "90123456789012345678901234567890123456789";
    s_send(fd, http, strlen(http));
    ck_assert(s_closed_by_peer(fd));
    close(fd);
    ck_assert_double_ge(s_wait_metric(&c, F, s_refused("inbound", "bad_handshake"), 1, 5000), 1);

    /* Silence: refused once the handshake timeout passes. */
    fd = s_dial(port);
    ck_assert(s_closed_by_peer(fd));
    close(fd);
    ck_assert_double_ge(s_wait_metric(&c, F, s_refused("inbound", "timeout"), 1, 5000), 1);

    /* A key nobody listed. */
    uint8_t other_pk[32], other_sk[32];
    crypto_box_keypair(other_pk, other_sk);
    fd = s_dial(port);
    size_t n = s_hello(buf, e_pk, other_pk, 99, fid);
    s_send(fd, buf, n);
    ck_assert(s_closed_by_peer(fd));
    close(fd);
    ck_assert_double_ge(s_wait_metric(&c, F, s_refused("inbound", "unknown_key"), 1, 5000), 1);

    /* The cluster's public key, meant for another node. */
    uint8_t pk[32], sk[32];
    s_cluster_key(pk, sk);
    fd = s_dial(port);
    n = s_hello(buf, e_pk, pk, 99, fid + 100);
    s_send(fd, buf, n);
    ck_assert(s_closed_by_peer(fd));
    close(fd);
    ck_assert_double_ge(s_wait_metric(&c, F, s_refused("inbound", "wrong_node"), 1, 5000), 1);

    /* The cluster's public key without its secret: a reply comes, no proof can follow. */
    fd = s_dial(port);
    n = s_hello(buf, e_pk, pk, 99, fid);
    s_send(fd, buf, n);
    uint8_t reply[96];
    ck_assert(s_recv(fd, reply, sizeof reply));
    uint8_t fake[56];
    randombytes_buf(fake, sizeof fake);
    s_send(fd, fake, sizeof fake);
    ck_assert(s_closed_by_peer(fd));
    close(fd);
    ck_assert_double_ge(s_wait_metric(&c, F, s_refused("inbound", "bad_proof"), 1, 5000), 1);

    /* A genuine handshake with the cluster's key (k as the README gives it), then a frame
     * that does not open. */
    double before = ch_metric(&c, F, "vexfs_raft_peer_connections_total{direction=\"inbound\"}");
    fd = s_dial(port);
    n = s_hello(buf, e_pk, pk, 99, fid);
    s_send(fd, buf, n);
    ck_assert(s_recv(fd, reply, sizeof reply));
    uint8_t dh[3][32], k[32], mac[32];
    ck_assert_int_eq(crypto_scalarmult(dh[0], e_sk, reply), 0);      /* ee */
    ck_assert_int_eq(crypto_scalarmult(dh[1], sk, reply), 0);        /* se */
    ck_assert_int_eq(crypto_scalarmult(dh[2], e_sk, reply + 32), 0); /* es */
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 32);
    crypto_generichash_update(&st, (const uint8_t *)"vexfs-raft-peer-v1", 18);
    crypto_generichash_update(&st, buf, n);
    crypto_generichash_update(&st, reply, 64);
    crypto_generichash_update(&st, (const uint8_t *)dh, sizeof dh);
    crypto_generichash_final(&st, k, sizeof k);
    crypto_generichash(mac, 32, (const uint8_t *)"server", 6, k, 32);
    ck_assert_msg(memcmp(mac, reply + 64, 32) == 0, "the server's mac is not as documented");
    uint8_t proof[56], skey[32];
    crypto_generichash(proof, 32, (const uint8_t *)"client", 6, k, 32);
    crypto_generichash(skey, 32, (const uint8_t *)"stream", 6, k, 32);
    crypto_secretstream_xchacha20poly1305_state ss;
    crypto_secretstream_xchacha20poly1305_init_push(&ss, proof + 32, skey);
    s_send(fd, proof, sizeof proof);
    ck_assert_double_ge(s_wait_metric(&c, F,
                                      "vexfs_raft_peer_connections_total{direction=\"inbound\"}",
                                      before + 1, 5000),
                        before + 1);
    uint8_t frame[4 + 64];
    frame[0] = frame[1] = frame[2] = 0;
    frame[3] = 64;
    randombytes_buf(frame + 4, 64);
    s_send(fd, frame, sizeof frame);
    ck_assert(s_closed_by_peer(fd));
    close(fd);
    ck_assert_double_ge(s_wait_metric(&c, F, s_refused("inbound", "bad_frame"), 1, 5000), 1);

    /* More handshakes at once than allowed: the surplus is refused at once. */
    int fds[80];
    for (int i = 0; i < 80; i++) {
        fds[i] = s_dial(port);
    }
    ck_assert_double_ge(s_wait_metric(&c, F, s_refused("inbound", "busy"), 1, 5000), 1);
    for (int i = 0; i < 80; i++) {
        close(fds[i]);
    }

    /* None of it moved the leader or the term, and writes go on. */
    s_write(&c, (size_t)l, 1);
    s_same_leader_term(&c, leader, term);
    ch_stop_all(&c);
}
END_TEST

START_TEST(t_plain_on_loopback_only)
{
    struct ch_cluster c;
    ch_start(&c, 3, "  raft_security: off\n");
    int l = ch_leader(&c, 10000, 0);
    ck_assert_int_ge(l, 0);
    s_write(&c, (size_t)l, 1);
    /* No authenticated transport at all: libraft's own carries the cluster. */
    ck_assert_double_le(ch_metric_sum(&c, (size_t)l, "vexfs_raft_peer_connections_total"), 0);
    ch_stop_all(&c);
    /* A member that is not on loopback: refused at start, with the reason. */
    char *dir = vt_tmpdir();
    char cfg[400], text[1024], bin[512];
    snprintf(cfg, sizeof cfg, "%s/plain.yaml", dir);
    snprintf(text, sizeof text,
             "distributed_coordination:\n"
             "  node_id: 1\n"
             "  members: \"1@127.0.0.1:%u/%u,2@10.9.9.9:5561\"\n"
             "  data_dir: %s/data\n"
             "  rest_port: %u\n"
             "  raft_security: \"off\"\n"
             "  input_endpoint: \"\"\n",
             (unsigned)vt_free_port(), (unsigned)vt_free_port(), dir, (unsigned)vt_free_port());
    ck_assert_int_eq(vt_write_file(cfg, text), 0);
    snprintf(bin, sizeof bin, "%s/vexfs-coordinator", vt_bin_dir());
    char *argv[] = {bin, (char *)"--config", cfg, NULL};
    struct vt_run_result r;
    ck_assert_int_eq(vt_run(argv, NULL, NULL, 20000, &r), 0);
    ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 2, "exit status %d: %s",
                  r.status, r.err);
    ck_assert_msg(strstr(r.err, "raft_security is off, so every member must be on loopback; "
                                "member 2 is at 10.9.9.9:5561"),
                  "%s", r.err);
    vt_run_result_fini(&r);
    free(dir);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("coordinator_peers");
    TCase *tc = tcase_create("authenticated transport");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, t_rogue_cannot_join_or_disturb);
    tcase_add_test(tc, t_wrong_key_member);
    tcase_add_test(tc, t_raw_refusals);
    tcase_add_test(tc, t_plain_on_loopback_only);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
