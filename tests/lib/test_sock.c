/* SPDX-License-Identifier: Apache-2.0 */
/* vx_sock: the socket factory applies its options to real sockets, resolves wildcard ports,
 * names the endpoint in its errors, and the transport section loads with its defaults; its
 * socket monitor counts refused handshakes by reason and finds connections libzmq gave up. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>

#include "vx_keys.h"
#include "vx_rx.h"
#include "vx_sock.h"
#include "vx_sock_mon.h"
#include "vx_test.h"

static vx_socks_t *
s_socks(int hwm, int linger, int64_t max)
{
    char err[256];
    struct vx_transport_config tc = {hwm, linger, max, 0};
    vx_socks_t *s = vx_socks_new(&tc, NULL, "test", NULL, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    return s;
}

START_TEST(t_options_applied)
{
    vx_socks_t *socks = s_socks(123, 250, 1 << 20);
    char bound[256], err[256];
    struct vx_sock_spec spec = {.type = ZMQ_PULL, .endpoint = "tcp://127.0.0.1:*", .bind = true,
                                .rcvtimeo_ms = 700};
    zsock_t *pull = vx_sock_open(socks, &spec, bound, sizeof bound, err, sizeof err);
    ck_assert_msg(pull != NULL, "%s", err);
    ck_assert_msg(strncmp(bound, "tcp://127.0.0.1:", 16) == 0 && strcmp(bound + 16, "*") != 0,
                  "bound %s", bound);
    ck_assert_int_eq(zsock_rcvhwm(pull), 123);
    ck_assert_int_eq(zsock_sndhwm(pull), 123);
    ck_assert_int_eq(zsock_linger(pull), 250);
    ck_assert_int_eq(zsock_maxmsgsize(pull), 1 << 20);
    ck_assert_int_eq(zsock_rcvtimeo(pull), 700);

    struct vx_sock_spec out = {.type = ZMQ_PUSH, .endpoint = bound, .sndhwm = 7,
                               .linger_ms = 9, .immediate = true, .sndtimeo_ms = 100,
                               .reconnect_ivl_ms = 50, .reconnect_ivl_max_ms = 500};
    zsock_t *push = vx_sock_open(socks, &out, NULL, 0, err, sizeof err);
    ck_assert_msg(push != NULL, "%s", err);
    ck_assert_int_eq(zsock_sndhwm(push), 7);
    ck_assert_int_eq(zsock_linger(push), 9);
    ck_assert_int_eq(zsock_immediate(push), 1);
    ck_assert_int_eq(zsock_sndtimeo(push), 100);
    ck_assert_int_eq(zsock_reconnect_ivl(push), 50);
    ck_assert_int_eq(zsock_reconnect_ivl_max(push), 500);
    /* A sending-only socket still reads the handshake (and a PUB subscriptions): a small
     * frame limit, so a peer cannot announce a huge command before it is authenticated. */
    ck_assert_int_eq(zsock_maxmsgsize(push), 64 * 1024);
    zstr_send(push, "hello");
    char *got = zstr_recv(pull);
    ck_assert_str_eq(got, "hello");
    free(got);

    struct vx_sock_spec unl = {.type = ZMQ_DEALER, .endpoint = bound,
                               .rcvhwm = VX_SOCK_HWM_NONE};
    zsock_t *dealer = vx_sock_open(socks, &unl, NULL, 0, err, sizeof err);
    ck_assert_int_eq(zsock_rcvhwm(dealer), 0);
    ck_assert_int_eq(zsock_maxmsgsize(dealer), 1 << 20);
    zsock_destroy(&dealer);
    zsock_destroy(&push);
    zsock_destroy(&pull);
    vx_socks_destroy(&socks);
    ck_assert_ptr_null(socks);
}
END_TEST

START_TEST(t_subscribe)
{
    vx_socks_t *socks = s_socks(1000, 0, 1 << 20);
    char bound[256], err[256];
    struct vx_sock_spec pub = {.type = ZMQ_PUB, .endpoint = "tcp://127.0.0.1:*", .bind = true};
    zsock_t *p = vx_sock_open(socks, &pub, bound, sizeof bound, err, sizeof err);
    struct vx_sock_spec sub = {.type = ZMQ_SUB, .endpoint = bound, .subscribe = "events",
                               .rcvtimeo_ms = 100};
    zsock_t *s = vx_sock_open(socks, &sub, NULL, 0, err, sizeof err);
    ck_assert_ptr_nonnull(s);
    /* Publish until the subscription has reached the publisher. */
    char *got = NULL;
    for (int i = 0; i < 50 && !got; i++) {
        zstr_send(p, "other");
        zstr_send(p, "events-1");
        got = zstr_recv(s);
    }
    ck_assert_ptr_nonnull(got);
    ck_assert_str_eq(got, "events-1");
    free(got);
    zsock_destroy(&s);
    zsock_destroy(&p);
    vx_socks_destroy(&socks);
}
END_TEST

START_TEST(t_handshakes_counted)
{
    vx_socks_t *socks = s_socks(1000, 0, 1 << 20);
    char bound[256], err[256];
    struct vx_sock_spec pub = {.type = ZMQ_PUB, .endpoint = "tcp://127.0.0.1:*", .bind = true};
    zsock_t *p = vx_sock_open(socks, &pub, bound, sizeof bound, err, sizeof err);
    ck_assert_ptr_nonnull(p);
    struct vx_sock_spec sub = {.type = ZMQ_SUB, .endpoint = bound, .subscribe = "", .watch = true};
    zsock_t *s = vx_sock_open(socks, &sub, NULL, 0, err, sizeof err);
    ck_assert_ptr_nonnull(s);
    struct vx_sock_spec quiet = {.type = ZMQ_SUB, .endpoint = bound, .subscribe = ""};
    zsock_t *q = vx_sock_open(socks, &quiet, NULL, 0, err, sizeof err);
    ck_assert_ptr_nonnull(q);
    int waited = 0;
    while (vx_sock_handshakes(socks, s) == 0 && waited < 10000) {
        usleep(10000);
        waited += 10;
    }
    ck_assert_uint_eq(vx_sock_handshakes(socks, s), 1);
    /* A socket the factory does not monitor (no metrics, not watched) reports none. */
    ck_assert_uint_eq(vx_sock_handshakes(socks, q), 0);
    /* Once the handshake is done, the subscription reaches the publisher: the first message
     * published after a short pause arrives. */
    usleep(100000);
    zstr_send(p, "first");
    zsock_set_rcvtimeo(s, 5000);
    char *got = zstr_recv(s);
    ck_assert_ptr_nonnull(got);
    ck_assert_str_eq(got, "first");
    free(got);
    zsock_destroy(&q);
    zsock_destroy(&s);
    zsock_destroy(&p);
    vx_socks_destroy(&socks);
}
END_TEST

START_TEST(t_errors_name_endpoint)
{
    vx_socks_t *socks = s_socks(1000, 0, 1 << 20);
    char err[256];
    struct vx_sock_spec bad = {.type = ZMQ_PULL, .endpoint = "tcp://300.1.1.1:5", .bind = true};
    ck_assert_ptr_null(vx_sock_open(socks, &bad, NULL, 0, err, sizeof err));
    ck_assert_msg(strstr(err, "cannot bind tcp://300.1.1.1:5"), "got: %s", err);
    struct vx_sock_spec none = {.type = ZMQ_PULL, .endpoint = "", .bind = true};
    ck_assert_ptr_null(vx_sock_open(socks, &none, NULL, 0, err, sizeof err));
    ck_assert_str_eq(err, "no endpoint given");
    /* Two binds of one endpoint: the second names it. */
    char bound[256];
    struct vx_sock_spec a = {.type = ZMQ_PULL, .endpoint = "tcp://127.0.0.1:*", .bind = true};
    zsock_t *first = vx_sock_open(socks, &a, bound, sizeof bound, err, sizeof err);
    struct vx_sock_spec b = {.type = ZMQ_PULL, .endpoint = bound, .bind = true};
    ck_assert_ptr_null(vx_sock_open(socks, &b, NULL, 0, err, sizeof err));
    ck_assert_msg(strstr(err, bound) && strstr(err, "in use"), "got: %s", err);
    zsock_destroy(&first);
    struct vx_transport_config zero = {0, 0, 0, 0};
    ck_assert_ptr_null(vx_socks_new(&zero, NULL, "test", NULL, err, sizeof err));
    vx_socks_destroy(&socks);
}
END_TEST

START_TEST(t_transport_section)
{
    char err[256];
    ck_assert_msg(vx_config_check_table(&vx_cfg_transport_section, err, sizeof err) == 0, "%s",
                  err);
    static const struct vx_cfg_section *const secs[] = {&vx_cfg_transport_section};
    setenv("VEXFS_TRANSPORT_HWM", "77", 1);
    vx_config_t *c = NULL;
    ck_assert_int_eq(vx_config_load(&c, NULL, secs, 1, err, sizeof err), 0);
    unsetenv("VEXFS_TRANSPORT_HWM");
    struct vx_transport_config tc;
    ck_assert_int_eq(vx_config_bind(c, &vx_cfg_transport_section, &tc), 0);
    ck_assert_int_eq(tc.hwm, 77);
    ck_assert_int_eq(tc.linger_ms, 0);
    ck_assert(tc.max_message_bytes == 64 * 1024 * 1024 + 4096);
    vx_config_destroy(&c);
}
END_TEST

/* ---- CURVE -------------------------------------------------------------------------------- */

/* A key directory: server, alice (authorized), mallory (not). */
static char *
s_keys(void)
{
    char *dir = vt_tmpdir();
    char auth[600], err[512], src[700], dst[700];
    snprintf(auth, sizeof auth, "%s/authorized", dir);
    ck_assert_int_eq(mkdir(auth, 0700), 0);
    ck_assert_msg(vx_keys_generate(dir, "server", err, sizeof err) == 0, "%s", err);
    ck_assert_msg(vx_keys_generate(dir, "alice", err, sizeof err) == 0, "%s", err);
    ck_assert_msg(vx_keys_generate(dir, "mallory", err, sizeof err) == 0, "%s", err);
    snprintf(src, sizeof src, "%s/alice.pub", dir);
    snprintf(dst, sizeof dst, "%s/alice.pub", auth);
    ck_assert_int_eq(link(src, dst), 0);
    return dir;
}

static vx_socks_t *
s_secure_socks(const char *dir, const char *curve, const char *identity)
{
    char err[512];
    struct vx_transport_config tc = {1000, 0, 1 << 20, 0};
    struct vx_security_config sc = {curve, dir, identity, "off", "", false, "", "", "", false};
    vx_socks_t *s = vx_socks_new(&tc, &sc, "test", NULL, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    return s;
}

/* Sends "hi" from a client of the given identity; returns what the server received within
 * wait_ms (NULL: nothing) and its User-Id in peer. */
static char *
s_exchange(zsock_t *server, vx_socks_t *client, const char *bound, int wait_ms, char *peer)
{
    char err[512];
    struct vx_sock_spec out = {.type = ZMQ_PUSH, .endpoint = bound};
    zsock_t *push = vx_sock_open(client, &out, NULL, 0, err, sizeof err);
    ck_assert_msg(push != NULL, "%s", err);
    zstr_send(push, "hi");
    zsock_set_rcvtimeo(server, wait_ms);
    zmq_msg_t m;
    zmq_msg_init(&m);
    char *got = NULL;
    if (zmq_msg_recv(&m, zsock_resolve(server), 0) >= 0) {
        got = strndup(zmq_msg_data(&m), zmq_msg_size(&m));
        snprintf(peer, 64, "%s", vx_rx_msg_peer(&m));
    }
    zmq_msg_close(&m);
    zsock_destroy(&push);
    return got;
}

START_TEST(t_curve_admits_listed_keys_only)
{
    char *dir = s_keys();
    vx_socks_t *srv = s_secure_socks(dir, "required", "server-side");
    vx_socks_t *alice = s_secure_socks(dir, "required", "alice");
    vx_socks_t *mallory = s_secure_socks(dir, "required", "mallory");
    vx_socks_t *plain = s_secure_socks(dir, "off", "");
    ck_assert(vx_socks_curve(srv));
    ck_assert(!vx_socks_curve(plain));
    char bound[256], err[512], peer[64] = "";
    struct vx_sock_spec in = {.type = ZMQ_PULL, .endpoint = "tcp://127.0.0.1:*", .bind = true};
    zsock_t *pull = vx_sock_open(srv, &in, bound, sizeof bound, err, sizeof err);
    ck_assert_msg(pull != NULL, "%s", err);
    ck_assert_int_eq(zsock_mechanism(pull), ZMQ_CURVE);

    char *got = s_exchange(pull, mallory, bound, 500, peer);
    ck_assert_msg(got == NULL, "an unlisted key got a message through: %s", got);
    got = s_exchange(pull, plain, bound, 500, peer);
    ck_assert_msg(got == NULL, "a plain client got a message through: %s", got);
    got = s_exchange(pull, alice, bound, 5000, peer);
    ck_assert_ptr_nonnull(got);
    ck_assert_str_eq(got, "hi");
    ck_assert_str_eq(peer, "alice");
    free(got);
    zsock_destroy(&pull);
    vx_socks_destroy(&plain);
    vx_socks_destroy(&mallory);
    vx_socks_destroy(&alice);
    vx_socks_destroy(&srv);
    free(dir);
}
END_TEST

START_TEST(t_curve_key_errors_named)
{
    char *dir = s_keys();
    char path[700], err[1024];
    struct vx_sock_spec in = {.type = ZMQ_PULL, .endpoint = "tcp://127.0.0.1:*", .bind = true};
    struct vx_sock_spec out = {.type = ZMQ_PUSH, .endpoint = "tcp://127.0.0.1:9"};

    /* A client identity without a key file. */
    vx_socks_t *nobody = s_secure_socks(dir, "required", "nobody");
    ck_assert_ptr_null(vx_sock_open(nobody, &out, NULL, 0, err, sizeof err));
    ck_assert_msg(strstr(err, "nobody.key") && strstr(err, "No such file"), "got: %s", err);
    vx_socks_destroy(&nobody);

    /* A secret key readable by others. */
    snprintf(path, sizeof path, "%s/alice.key", dir);
    ck_assert_int_eq(chmod(path, 0644), 0);
    vx_socks_t *alice = s_secure_socks(dir, "required", "alice");
    ck_assert_ptr_null(vx_sock_open(alice, &out, NULL, 0, err, sizeof err));
    ck_assert_msg(strstr(err, "alice.key") && strstr(err, "owner only"), "got: %s", err);
    vx_socks_destroy(&alice);
    ck_assert_int_eq(chmod(path, 0600), 0);

    /* A malformed key. */
    snprintf(path, sizeof path, "%s/mallory.key", dir);
    ck_assert_int_eq(vt_write_file(path, "curve\n    secret-key = \"short\"\n"), 0);
    vx_socks_t *mal = s_secure_socks(dir, "required", "mallory");
    ck_assert_ptr_null(vx_sock_open(mal, &out, NULL, 0, err, sizeof err));
    ck_assert_msg(strstr(err, "mallory.key") && strstr(err, "secret-key"), "got: %s", err);
    vx_socks_destroy(&mal);

    /* A daemon whose server key is missing cannot bind. */
    snprintf(path, sizeof path, "%s/server.key", dir);
    ck_assert_int_eq(unlink(path), 0);
    vx_socks_t *srv = s_secure_socks(dir, "required", "alice");
    ck_assert_ptr_null(vx_sock_open(srv, &in, NULL, 0, err, sizeof err));
    ck_assert_msg(strstr(err, "server.key"), "got: %s", err);
    vx_socks_destroy(&srv);
    free(dir);
}
END_TEST

/* ---- the socket monitor ---- */

static vx_socks_t *
s_monitored_socks(const char *dir, const char *curve, const char *identity, vx_metrics_t *m)
{
    char err[512];
    struct vx_transport_config tc = {1000, 0, 1 << 20, 0};
    struct vx_security_config sc = {curve, dir, identity, "off", "", false, "", "", "", false};
    vx_socks_t *s = vx_socks_new(&tc, &sc, "test", m, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    return s;
}

struct s_series {
    vx_metrics_t *m;
    const char *series;
    double want;
    double got;
};

static bool
cb_series_reached(void *arg)
{
    struct s_series *w = arg;
    size_t len;
    char *text = vx_metrics_render(w->m, &len);
    char line[256];
    snprintf(line, sizeof line, "\n%s ", w->series); /* a sample, not its # HELP line */
    char *p = strstr(text, line);
    w->got = p ? strtod(p + strlen(line), NULL) : -1;
    free(text);
    return w->got >= w->want;
}

static void
s_expect_series(vx_metrics_t *m, const char *series, double want)
{
    struct s_series w = {m, series, want, 0};
    ck_assert_msg(vt_wait_until(cb_series_reached, &w, 10000),
                  "%s: expected at least %.0f, got %.0f", series, want, w.got);
}

/* A plain client (refused by libzmq at its greeting, before the ZAP handler) and an unlisted
 * key are both counted, each by its reason, and the listed key still gets through. */
START_TEST(t_monitor_counts_refused_handshakes)
{
    char *dir = s_keys();
    vx_metrics_t *metrics = vx_metrics_new();
    vx_socks_t *srv = s_monitored_socks(dir, "required", "server-side", metrics);
    vx_socks_t *mallory = s_secure_socks(dir, "required", "mallory");
    vx_socks_t *plain = s_secure_socks(dir, "off", "");
    vx_socks_t *alice = s_secure_socks(dir, "required", "alice");
    char bound[256], err[512], peer[64] = "";
    struct vx_sock_spec in = {.type = ZMQ_PULL, .endpoint = "tcp://127.0.0.1:*", .bind = true};
    zsock_t *pull = vx_sock_open(srv, &in, bound, sizeof bound, err, sizeof err);
    ck_assert_msg(pull != NULL, "%s", err);
    ck_assert_uint_eq(vx_socks_handshakes_failed(srv), 0);

    char *got = s_exchange(pull, plain, bound, 300, peer);
    ck_assert_ptr_null(got);
    s_expect_series(metrics, "vexfs_zmq_handshake_failed_total{reason=\"not_curve\"}", 1);
    got = s_exchange(pull, mallory, bound, 300, peer);
    ck_assert_ptr_null(got);
    s_expect_series(metrics, "vexfs_zmq_handshake_failed_total{reason=\"auth\"}", 1);
    got = s_exchange(pull, alice, bound, 5000, peer);
    ck_assert_msg(got && strcmp(got, "hi") == 0, "alice: expected \"hi\", got %s", got);
    free(got);
    /* The legitimate exchange failed nothing: crypto and protocol stay at zero. */
    struct s_series w = {metrics, "vexfs_zmq_handshake_failed_total{reason=\"crypto\"}", 0, 0};
    cb_series_reached(&w);
    ck_assert_msg(w.got == 0, "crypto failures: expected 0, got %.0f", w.got);
    ck_assert_uint_ge(vx_socks_handshakes_failed(srv), 2);

    zsock_destroy(&pull);
    vx_socks_destroy(&plain);
    vx_socks_destroy(&mallory);
    vx_socks_destroy(&alice);
    vx_socks_destroy(&srv);
    vx_metrics_destroy(&metrics);
    free(dir);
}
END_TEST

struct s_lost {
    vx_socks_t *socks;
    zsock_t *sock;
    char endpoint[256];
};

static bool
cb_link_lost(void *arg)
{
    struct s_lost *l = arg;
    return vx_sock_link_lost(l->socks, l->sock, l->endpoint, sizeof l->endpoint);
}

/* A frame over the connecting receiver's limit makes libzmq end its session without
 * reconnecting: the monitor reports the link lost, and the reopened socket receives again. */
START_TEST(t_monitor_finds_lost_link)
{
    vx_metrics_t *metrics = vx_metrics_new();
    vx_socks_t *up = s_secure_socks("/nonexistent", "off", "");
    vx_socks_t *down = s_monitored_socks("/nonexistent", "off", "", metrics);
    char bound[256], err[512];
    struct vx_sock_spec out = {.type = ZMQ_PUSH, .endpoint = "tcp://127.0.0.1:*", .bind = true,
                               .sndtimeo_ms = 5000};
    zsock_t *push = vx_sock_open(up, &out, bound, sizeof bound, err, sizeof err);
    ck_assert_msg(push != NULL, "%s", err);
    struct vx_sock_spec in = {.type = ZMQ_PULL, .endpoint = bound, .rcvtimeo_ms = 5000};
    zsock_t *pull = vx_sock_open(down, &in, NULL, 0, err, sizeof err);
    ck_assert_msg(pull != NULL, "%s", err);

    ck_assert_int_eq(zstr_send(push, "before"), 0);
    char *got = zstr_recv(pull);
    ck_assert_msg(got && strcmp(got, "before") == 0, "expected \"before\", got %s", got);
    zstr_free(&got);
    ck_assert(!vx_sock_link_lost(down, pull, NULL, 0));

    size_t big = 2u << 20; /* the receiver takes 1 MiB at most */
    char *buf = calloc(1, big);
    ck_assert_int_eq(zmq_send(zsock_resolve(push), buf, big, 0), (int)big);
    free(buf);
    struct s_lost l = {down, pull, ""};
    ck_assert_msg(vt_wait_until(cb_link_lost, &l, 10000),
                  "the connection ended by an over-limit frame: expected it reported lost "
                  "within 10 s, it was not");
    ck_assert_msg(strcmp(l.endpoint, bound) == 0, "lost endpoint: expected %s, got %s", bound,
                  l.endpoint);

    zsock_t *old = pull;
    ck_assert_msg(vx_sock_reopen(down, &pull, &in, err, sizeof err) == 0, "reopen: %s", err);
    ck_assert_ptr_ne(pull, NULL);
    ck_assert(!vx_sock_link_lost(down, pull, NULL, 0) || pull == old);
    ck_assert_int_eq(zstr_send(push, "after"), 0);
    got = zstr_recv(pull);
    ck_assert_msg(got && strcmp(got, "after") == 0, "after reopening: expected \"after\", got %s",
                  got);
    zstr_free(&got);
    s_expect_series(metrics, "vexfs_zmq_reopened_total", 1);

    zsock_destroy(&pull);
    zsock_destroy(&push);
    vx_socks_destroy(&down);
    vx_socks_destroy(&up);
    vx_metrics_destroy(&metrics);
}
END_TEST

struct s_rebind {
    vx_socks_t *socks;
    struct vx_sock_spec spec;
    zsock_t *sock;
    char err[512];
};

/* Binds again where a closed socket was: libzmq releases the port a moment after the close. */
static bool
cb_rebind(void *arg)
{
    struct s_rebind *r = arg;
    r->sock = vx_sock_open(r->socks, &r->spec, NULL, 0, r->err, sizeof r->err);
    return r->sock != NULL;
}

/* A peer that goes away and comes back is reconnected by libzmq itself: the monitor must not
 * report that connection lost (its owner would reopen a socket for nothing). */
START_TEST(t_monitor_ignores_reconnects)
{
    vx_metrics_t *metrics = vx_metrics_new();
    vx_socks_t *up = s_secure_socks("/nonexistent", "off", "");
    vx_socks_t *down = s_monitored_socks("/nonexistent", "off", "", metrics);
    char bound[256], err[512];
    struct vx_sock_spec out = {.type = ZMQ_PUSH, .endpoint = "tcp://127.0.0.1:*", .bind = true,
                               .sndtimeo_ms = 5000};
    zsock_t *push = vx_sock_open(up, &out, bound, sizeof bound, err, sizeof err);
    ck_assert_msg(push != NULL, "%s", err);
    struct vx_sock_spec in = {.type = ZMQ_PULL, .endpoint = bound, .rcvtimeo_ms = 10000};
    zsock_t *pull = vx_sock_open(down, &in, NULL, 0, err, sizeof err);
    ck_assert_msg(pull != NULL, "%s", err);
    ck_assert_int_eq(zstr_send(push, "one"), 0);
    char *got = zstr_recv(pull);
    ck_assert_msg(got && strcmp(got, "one") == 0, "expected \"one\", got %s", got);
    zstr_free(&got);

    /* The upstream restarts on the same port; libzmq reconnects and the next message flows. */
    zsock_destroy(&push);
    struct s_rebind rb = {up, {.type = ZMQ_PUSH, .endpoint = bound, .bind = true,
                               .sndtimeo_ms = 5000}, NULL, ""};
    ck_assert_msg(vt_wait_until(cb_rebind, &rb, 10000), "rebind %s: %s", bound, rb.err);
    push = rb.sock;
    ck_assert_int_eq(zstr_send(push, "two"), 0);
    got = zstr_recv(pull);
    ck_assert_msg(got && strcmp(got, "two") == 0, "after the restart: expected \"two\", got %s",
                  got);
    zstr_free(&got);
    /* Never reported lost, for twice the grace the monitor gives libzmq's retry. */
    struct s_lost l = {down, pull, ""};
    ck_assert_msg(!vt_wait_until(cb_link_lost, &l, 2 * VX_SOCK_MON_GRACE_MS),
                  "a reconnected link: expected never reported lost, reported lost (%s)",
                  l.endpoint);

    zsock_destroy(&pull);
    zsock_destroy(&push);
    vx_socks_destroy(&down);
    vx_socks_destroy(&up);
    vx_metrics_destroy(&metrics);
}
END_TEST

START_TEST(t_plain_loopback_only)
{
    vx_socks_t *plain = s_secure_socks("/nonexistent", "off", "");
    char err[512], bound[256];
    const char *refused[] = {"tcp://0.0.0.0:*", "tcp://*:*", "tcp://10.1.2.3:5550",
                             "tcp://127.0.0.1:*,tcp://0.0.0.0:*", "udp://127.0.0.1:5"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        struct vx_sock_spec s = {.type = ZMQ_PULL, .endpoint = refused[i], .bind = true};
        ck_assert_ptr_null(vx_sock_open(plain, &s, NULL, 0, err, sizeof err));
        ck_assert_msg(strstr(err, "security.curve is off"), "%s: got %s", refused[i], err);
    }
    char *dir = vt_tmpdir();
    char ipc[700];
    snprintf(ipc, sizeof ipc, "ipc://%s/s", dir);
    const char *allowed[] = {"tcp://127.0.0.1:*", "tcp://127.1.2.3:*", ipc, "inproc://x"};
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
        struct vx_sock_spec s = {.type = ZMQ_PULL, .endpoint = allowed[i], .bind = true};
        zsock_t *z = vx_sock_open(plain, &s, bound, sizeof bound, err, sizeof err);
        ck_assert_msg(z != NULL, "%s: %s", allowed[i], err);
        ck_assert_int_eq(zsock_mechanism(z), ZMQ_NULL);
        zsock_destroy(&z);
    }
    /* Connecting to a loopback name is fine too. */
    struct vx_sock_spec c = {.type = ZMQ_PUSH, .endpoint = "tcp://localhost:9"};
    zsock_t *z = vx_sock_open(plain, &c, NULL, 0, err, sizeof err);
    ck_assert_msg(z != NULL, "%s", err);
    zsock_destroy(&z);
    vx_socks_destroy(&plain);
    free(dir);
}
END_TEST

START_TEST(t_security_section)
{
    char err[256];
    ck_assert_msg(vx_config_check_table(&vx_cfg_security_section, err, sizeof err) == 0, "%s",
                  err);
    static const struct vx_cfg_section *const secs[] = {&vx_cfg_security_section};
    /* The test process's own material is in the environment: look at the defaults. */
    unsetenv("VEXFS_SECURITY_KEYS_DIR");
    setenv("VEXFS_SECURITY_CURVE", "maybe", 1);
    vx_config_t *c = NULL;
    ck_assert_int_eq(vx_config_load(&c, NULL, secs, 1, err, sizeof err), -EINVAL);
    ck_assert_msg(strstr(err, "security.curve: expected required or off"), "got: %s", err);
    unsetenv("VEXFS_SECURITY_CURVE");
    ck_assert_int_eq(vx_config_load(&c, NULL, secs, 1, err, sizeof err), 0);
    struct vx_security_config sc;
    ck_assert_int_eq(vx_config_bind(c, &vx_cfg_security_section, &sc), 0);
    ck_assert_str_eq(sc.curve, "required");
    ck_assert_str_eq(sc.keys_dir, "/etc/vexfs/keys");
    vx_config_destroy(&c);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("sock");
    TCase *tc = tcase_create("factory");
    tcase_add_test(tc, t_options_applied);
    tcase_add_test(tc, t_subscribe);
    tcase_add_test(tc, t_handshakes_counted);
    tcase_add_test(tc, t_errors_name_endpoint);
    tcase_add_test(tc, t_transport_section);
    tcase_set_timeout(tc, 20);
    suite_add_tcase(s, tc);
    tc = tcase_create("curve");
    tcase_add_test(tc, t_curve_admits_listed_keys_only);
    tcase_add_test(tc, t_curve_key_errors_named);
    tcase_add_test(tc, t_plain_loopback_only);
    tcase_add_test(tc, t_security_section);
    tcase_set_timeout(tc, 20);
    suite_add_tcase(s, tc);
    tc = tcase_create("monitor");
    tcase_add_test(tc, t_monitor_counts_refused_handshakes);
    tcase_add_test(tc, t_monitor_finds_lost_link);
    tcase_add_test(tc, t_monitor_ignores_reconnects);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
