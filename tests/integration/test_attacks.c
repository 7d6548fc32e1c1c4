/* SPDX-License-Identifier: Apache-2.0 */
/* The attack battery: what a local attacker tries against the secured suite, run against real
 * daemons, each case checking that the attack gets nothing and that legitimate traffic still
 * flows.
 *
 *   - ZeroMQ producers without a key, with an unlisted key, and with a listed key claiming a
 *     tenant or source its identity does not allow: nothing they send is published, the
 *     unlisted key and the forged claims are counted by reason, a legitimate
 *     producer's events flow; the keyless client, refused by libzmq at the greeting before the
 *     ZAP handler, is counted by the daemons' socket monitor (handshake_failed not_curve);
 *   - eavesdroppers (vexfsctl tail without the ctl key or with another key, a SUB on the tap and
 *     a PULL on the routing link without a key) receive nothing while the legitimate consumer
 *     receives every event;
 *   - memory: raw ZMTP frames claiming 2 GiB from unauthenticated peers, an over-limit frame
 *     and a frame of 16 MiB of empty events from authenticated peers leave propagation's and
 *     routing's peak RSS (VmHWM) under twice their idle RSS, and both keep serving; routing,
 *     whose input connection libzmq ends on the over-limit frame, opens it again and events
 *     flow;
 *   - REST: plain HTTP to the HTTPS port, a server verified against a wrong authority, a client
 *     certificate from a wrong authority and no client certificate under mutual TLS are
 *     refused, while /health answers anonymous callers over HTTPS. */
#include <arpa/inet.h>
#include <check.h>
#include <math.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "prop_harness.h"
#include "rt_harness.h"
#include "vt_https.h"
#include "vx_keys.h"
#include "vx_sock.h"
#include "vx_test.h"
#include "vx_tls.h"
#include "vx_wire.h"

/* transport.max_message_bytes' default: the largest frame a receiving socket accepts. */
#define S_MAX_MSG 67112960u
#define S_EMPTY_EVENTS_BYTES (16u * 1024 * 1024)

/* ---- attacker sockets ------------------------------------------------------------------ */

/* A factory without any security: the sockets of a client that has no key at all. */
static vx_socks_t *
s_socks_plain(void)
{
    char err[512];
    struct vx_transport_config tc = {1000, 0, S_MAX_MSG, 0};
    vx_socks_t *s = vx_socks_new(&tc, NULL, "attacker", NULL, err, sizeof err);
    ck_assert_msg(s != NULL, "plain socket factory: %s", err);
    return s;
}

/* A CURVE factory presenting <keys_dir>/<identity>.key and trusting <keys_dir>/server.pub. */
static vx_socks_t *
s_socks_keyed(const char *keys_dir, const char *identity)
{
    char err[512];
    struct vx_transport_config tc = {1000, 0, S_MAX_MSG, 0};
    struct vx_security_config sc = {"required", keys_dir, identity, "off", "", false,
                                    "",         "",       "",       false};
    vx_socks_t *s = vx_socks_new(&tc, &sc, identity, NULL, err, sizeof err);
    ck_assert_msg(s != NULL, "socket factory for %s: %s", identity, err);
    return s;
}

static void
s_copy_file(const char *src, const char *dst)
{
    FILE *in = fopen(src, "r"), *out = fopen(dst, "w");
    ck_assert_msg(in && out, "copy %s to %s: %s", src, dst, strerror(errno));
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
        ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
    }
    fclose(in);
    fclose(out);
}

/* A key folder an outsider can make: the daemons' public server key (public, so assume it
 * known) and a freshly generated key pair named identity that no daemon lists. Caller frees. */
static char *
s_outsider_keys(const char *identity)
{
    char *dir = vt_tmpdir();
    ck_assert_ptr_nonnull(dir);
    char err[512], src[600], dst[600];
    ck_assert_msg(vx_keys_generate(dir, identity, err, sizeof err) == 0, "keys: %s", err);
    snprintf(src, sizeof src, "%s/server.pub", vt_keys_dir());
    snprintf(dst, sizeof dst, "%s/server.pub", dir);
    s_copy_file(src, dst);
    return dir;
}

static zsock_t *
s_open(vx_socks_t *f, int type, const char *endpoint, bool bind)
{
    char err[512];
    struct vx_sock_spec spec = {.type = type, .endpoint = endpoint, .bind = bind,
                                .linger_ms = 1, .sndtimeo_ms = 2000};
    zsock_t *z = vx_sock_open(f, &spec, NULL, 0, err, sizeof err);
    ck_assert_msg(z != NULL, "open %s: %s", endpoint, err);
    return z;
}

/* ---- events ------------------------------------------------------------------------------ */

/* Sends n filesystem_write events with paths "/<tag>/<i>", the given source and tenant (NULL:
 * none), in one batch. The send may stay queued when the peer is refused: not an error. */
static void
s_send(zsock_t *push, const char *tag, int source, const char *tenant, size_t n, uint64_t seq)
{
    ck_assert_uint_le(n, 64);
    vx_event_t e[64];
    vx_event_t *ptrs[64];
    char paths[64][96];
    for (size_t i = 0; i < n; i++) {
        vexfs__v1__event__init(&e[i]);
        e[i].type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE;
        e[i].source = (Vexfs__V1__Boundary)source;
        snprintf(paths[i], sizeof paths[i], "/%s/%zu-%llu", tag, i, (unsigned long long)seq);
        e[i].path = paths[i];
        if (tenant) {
            e[i].tenant = (char *)tenant;
        }
        ptrs[i] = &e[i];
    }
    vx_batch_t b = VEXFS__V1__EVENT_BATCH__INIT;
    b.events = ptrs;
    b.n_events = n;
    char sender[64];
    snprintf(sender, sizeof sender, "attacks-%s", tag);
    b.sender = sender;
    b.batch_sequence = seq;
    int rc = vx_wire_send(push, VX_WIRE_TOPIC, &b, ZMQ_DONTWAIT);
    ck_assert_msg(rc == 0 || rc == -EAGAIN, "send %s: expected 0 or -EAGAIN, got %d", tag, rc);
}

/* What a consumer received, by the first segment of the path. */
struct s_tally {
    size_t by_tag[8];
    const char *const *tags;
    size_t n_tags;
    size_t other;
    char wrong_tenant[128]; /* the first event of tag 0 whose tenant is not want_tenant */
    const char *want_tenant;
};

static void
cb_tally(const vx_batch_t *b, const vx_event_t *e, void *arg)
{
    (void)b;
    struct s_tally *t = arg;
    const char *p = e->path ? e->path : "";
    for (size_t i = 0; i < t->n_tags; i++) {
        size_t l = strlen(t->tags[i]);
        if (p[0] == '/' && strncmp(p + 1, t->tags[i], l) == 0 && p[l + 1] == '/') {
            t->by_tag[i]++;
            const char *tn = e->tenant ? e->tenant : "";
            if (i == 0 && t->want_tenant && strcmp(tn, t->want_tenant) != 0 &&
                !t->wrong_tenant[0]) {
                snprintf(t->wrong_tenant, sizeof t->wrong_tenant, "%s: tenant \"%s\"", p, tn);
            }
            return;
        }
    }
    t->other++;
}

/* Waits until a series reaches want; fails the test with expected and actual otherwise. */
static void
s_expect_metric(uint16_t port, const char *series, double want, int timeout_ms)
{
    double v = vt_metric(port, series);
    for (int waited = 0; v < want && waited < timeout_ms; waited += 20) {
        vt_sleep_ms(20);
        v = vt_metric(port, series);
    }
    ck_assert_msg(v >= want, "%s: expected at least %.0f, got %.0f", series, want, v);
}

/* ---- 1. producers without a key, with an unlisted key, with a forged claim ------------------ */

START_TEST(t_producers_refused)
{
    /* The identity policy: ctl may send anything; forwarder only kernel_module events of
     * tenant acme (stamped acme when they name none). */
    char *dir = vt_tmpdir();
    char ids[400], yaml[600];
    snprintf(ids, sizeof ids, "%s/producers.yaml", dir);
    ck_assert_int_eq(vt_write_file(ids, "producers:\n"
                                        "  ctl: {sources: [\"*\"], tenants: [\"*\"]}\n"
                                        "  forwarder: {sources: [kernel_module], tenants: [acme],"
                                        " default_tenant: acme}\n"),
                     0);
    snprintf(yaml, sizeof yaml, "  producer_identities_file: %s\n", ids);
    struct ph_daemon d;
    ph_start(&d, yaml, NULL);
    zsock_t *pull = ph_pull(&d);

    vx_socks_t *plain = s_socks_plain();
    char *outsider = s_outsider_keys("intruder");
    vx_socks_t *unlisted = s_socks_keyed(outsider, "intruder");
    vx_socks_t *fwd = s_socks_keyed(vt_keys_dir(), "forwarder");
    zsock_t *p_plain = s_open(plain, ZMQ_PUSH, d.ingest, false);
    zsock_t *p_unlisted = s_open(unlisted, ZMQ_PUSH, d.ingest, false);
    zsock_t *p_fwd = s_open(fwd, ZMQ_PUSH, d.ingest, false);
    zsock_t *p_ctl = ph_push(&d);

    const int KM = VEXFS__V1__BOUNDARY__KERNEL_MODULE, UA = VEXFS__V1__BOUNDARY__USERSPACE_API;
    s_send(p_plain, "plain", UA, "acme", 10, 1);
    s_send(p_unlisted, "unlisted", UA, "acme", 10, 1);
    s_send(p_fwd, "forged-tenant", KM, "globex", 10, 1);
    s_send(p_fwd, "forged-source", UA, "acme", 10, 2);
    s_send(p_fwd, "fwd-ok", KM, "acme", 10, 3);
    s_send(p_fwd, "fwd-default", KM, NULL, 5, 4);
    s_send(p_ctl, "ctl-ok", UA, "globex", 20, 1);

    /* Every refusal is counted by its reason. */
    s_expect_metric(d.rest_port, "vexfs_zmq_auth_refused_total{reason=\"unknown_key\"}", 1, 10000);
    s_expect_metric(d.rest_port, "vexfs_events_dropped_total{reason=\"identity\"}", 20, 10000);

    static const char *const tags[] = {"fwd-default", "fwd-ok", "ctl-ok", "plain", "unlisted",
                                       "forged-tenant", "forged-source"};
    struct s_tally t = {.tags = tags, .n_tags = 7, .want_tenant = "acme"};
    size_t got = ph_receive(pull, 35, 10000, cb_tally, &t);
    ck_assert_msg(got == 35 && t.by_tag[0] == 5 && t.by_tag[1] == 10 && t.by_tag[2] == 20,
                  "legitimate events: expected 35 (fwd-default 5, fwd-ok 10, ctl-ok 20), got %zu "
                  "(%zu, %zu, %zu); log in %s",
                  got, t.by_tag[0], t.by_tag[1], t.by_tag[2], d.log);
    ck_assert_msg(!t.wrong_tenant[0], "forwarder's tenant-less events: expected tenant acme, "
                                      "got %s", t.wrong_tenant);
    /* Nothing else was published: a last receive drains whatever may still come. */
    got += ph_receive(pull, 1, 500, cb_tally, &t);
    ck_assert_msg(got == 35 && t.by_tag[3] + t.by_tag[4] + t.by_tag[5] + t.by_tag[6] == 0,
                  "refused producers' events published: expected 0, got plain %zu, unlisted %zu, "
                  "forged-tenant %zu, forged-source %zu (other %zu)",
                  t.by_tag[3], t.by_tag[4], t.by_tag[5], t.by_tag[6], t.other);
    double identity = vt_metric(d.rest_port, "vexfs_events_dropped_total{reason=\"identity\"}");
    ck_assert_msg(identity == 20, "identity drops: expected exactly 20, got %.0f", identity);
    /* A keyless client never reaches the ZAP handler (libzmq refuses the NULL mechanism at the
     * greeting): the socket monitor counts it as not_curve; the unlisted key's refusal is
     * counted there too, as auth. The daemon admitted only ctl and forwarder. */
    const char *nc = "vexfs_zmq_handshake_failed_total{reason=\"not_curve\"}";
    const char *au = "vexfs_zmq_handshake_failed_total{reason=\"auth\"}";
    /* libzmq reports the keyless client as a mechanism mismatch (not_curve) when its greeting
     * arrived, or as a handshake the peer left (closed) when the client hung up first. */
    const char *cl = "vexfs_zmq_handshake_failed_total{reason=\"closed\"}";
    double keyless = fmax(vt_metric(d.rest_port, nc), 0) + fmax(vt_metric(d.rest_port, cl), 0);
    for (int waited = 0; keyless < 1 && waited < 10000; waited += 20) {
        vt_sleep_ms(20);
        keyless = fmax(vt_metric(d.rest_port, nc), 0) + fmax(vt_metric(d.rest_port, cl), 0);
    }
    ck_assert_msg(keyless >= 1, "the keyless client's handshake: expected not_curve or closed "
                                "counted, got %.0f and %.0f", vt_metric(d.rest_port, nc),
                  vt_metric(d.rest_port, cl));
    s_expect_metric(d.rest_port, au, 1, 10000);
    double admitted = vt_metric(d.rest_port, "vexfs_zmq_auth_admitted_total");
    ck_assert_msg(admitted >= 2, "ZAP admissions: expected at least 2 (ctl, forwarder), got "
                                 "%.0f", admitted);
    /* Only the two attackers failed a handshake: no legitimate connection is miscounted. */
    double crypto = vt_metric(d.rest_port, "vexfs_zmq_handshake_failed_total{reason=\"crypto\"}");
    ck_assert_msg(crypto == 0, "handshakes failed for crypto: expected 0, got %.0f", crypto);
    fprintf(stderr, "attacks: refused unknown_key=%.0f handshake not_curve=%.0f auth=%.0f "
                    "identity=%.0f\n",
            vt_metric(d.rest_port, "vexfs_zmq_auth_refused_total{reason=\"unknown_key\"}"),
            vt_metric(d.rest_port, nc), vt_metric(d.rest_port, au), identity);

    zsock_destroy(&p_plain);
    zsock_destroy(&p_unlisted);
    zsock_destroy(&p_fwd);
    zsock_destroy(&p_ctl);
    zsock_destroy(&pull);
    vx_socks_destroy(&plain);
    vx_socks_destroy(&unlisted);
    vx_socks_destroy(&fwd);
    ph_stop(&d);
    free(outsider);
    free(dir);
}
END_TEST

/* ---- 2. eavesdroppers -------------------------------------------------------------------- */

/* Starts vexfsctl tail on endpoint with extra environment; stdout to *out_fd. */
static pid_t
s_tail(const char *endpoint, const char *count, const char *timeout_ms, char *const env[],
       int *out_fd)
{
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vexfsctl", vt_bin_dir());
    char *argv[] = {bin,          (char *)"tail",       (char *)"--endpoint", (char *)endpoint,
                    (char *)"--count", (char *)count, (char *)"--timeout-ms", (char *)timeout_ms,
                    NULL};
    pid_t pid = vt_spawn_pipes(argv, env, NULL, out_fd, NULL);
    ck_assert_int_gt(pid, 0);
    fcntl(*out_fd, F_SETFL, fcntl(*out_fd, F_GETFL) | O_NONBLOCK);
    return pid;
}

/* Reads what is available on fd (non-blocking), counting lines. */
static void
s_drain_lines(int fd, size_t *lines)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) {
            return;
        }
        for (ssize_t i = 0; i < n; i++) {
            *lines += buf[i] == '\n';
        }
    }
}

/* Messages available on a spy's socket. */
static size_t
s_drain_sock(zsock_t *s)
{
    size_t n = 0;
    zmsg_t *m;
    while ((m = zmsg_recv_nowait(s)) != NULL) {
        n++;
        zmsg_destroy(&m);
    }
    return n;
}

/* Events available on the legitimate consumer's socket. */
static size_t
s_drain_events(zsock_t *s)
{
    size_t n = 0;
    vx_arena_t *a = vx_arena_new(1 << 20, 0);
    struct vx_wire_msg m;
    while (vx_wire_recv(s, &m, ZMQ_DONTWAIT) == 0) {
        vx_batch_t *b = vx_wire_decode(zmq_msg_data(&m.body), zmq_msg_size(&m.body), a);
        ck_assert_msg(b != NULL, "propagation published an undecodable batch");
        n += b->n_events;
        vx_wire_msg_fini(&m);
        vx_arena_reset(a);
    }
    vx_arena_destroy(&a);
    return n;
}

START_TEST(t_eavesdroppers_get_nothing)
{
    struct ph_daemon d;
    ph_start(&d, NULL, NULL);
    zsock_t *legit = ph_pull(&d);
    zsock_t *push = ph_push(&d);

    /* Raw sockets without a key and with an outsider's key, on the routing link and the tap. */
    vx_socks_t *plain = s_socks_plain();
    char *outsider = s_outsider_keys("ctl"); /* an outsider's key named like the real one */
    vx_socks_t *unlisted = s_socks_keyed(outsider, "ctl");
    zsock_t *spy[4] = {s_open(plain, ZMQ_PULL, d.output, false),
                       s_open(unlisted, ZMQ_PULL, d.output, false),
                       s_open(plain, ZMQ_SUB, d.tap, false),
                       s_open(unlisted, ZMQ_SUB, d.tap, false)};
    const char *spy_name[4] = {"PULL on the output without a key",
                               "PULL on the output with an unlisted key",
                               "SUB on the tap without a key", "SUB on the tap with an unlisted key"};

    /* vexfsctl tail: with the real ctl key (the control that the tap publishes), with a key
     * folder that lacks ctl.key, with an outsider's ctl key, and with CURVE turned off. */
    char *nokey = vt_tmpdir();
    char src[600], dst[600];
    snprintf(src, sizeof src, "%s/server.pub", vt_keys_dir());
    snprintf(dst, sizeof dst, "%s/server.pub", nokey);
    s_copy_file(src, dst);
    char env_nokey[700], env_outsider[700];
    snprintf(env_nokey, sizeof env_nokey, "VEXFS_SECURITY_KEYS_DIR=%s", nokey);
    snprintf(env_outsider, sizeof env_outsider, "VEXFS_SECURITY_KEYS_DIR=%s", outsider);
    char *e_nokey[] = {env_nokey, NULL};
    char *e_outsider[] = {env_outsider, NULL};
    char *e_plain[] = {(char *)"VEXFS_SECURITY_CURVE=off", NULL};
    enum { TAILS = 4 };
    const char *tail_name[TAILS] = {"tail with the ctl key", "tail without ctl.key",
                                    "tail with an outsider's ctl key", "tail with CURVE off"};
    int fd[TAILS];
    pid_t tail[TAILS] = {s_tail(d.tap, "50", "20000", NULL, &fd[0]),
                         s_tail(d.tap, "50", "3000", e_nokey, &fd[1]),
                         s_tail(d.tap, "50", "3000", e_outsider, &fd[2]),
                         s_tail(d.tap, "50", "3000", e_plain, &fd[3])};
    int status[TAILS];
    bool done[TAILS] = {false};
    size_t lines[TAILS] = {0};

    /* Events flow, paced, until every tail has ended (the attackers' after 3 s without a
     * message, the legitimate one after 50 events). */
    size_t sent = 0, legit_got = 0, spied[4] = {0};
    uint64_t seq = 0;
    for (int round = 0; round < 400; round++) {
        s_send(push, "flow", VEXFS__V1__BOUNDARY__USERSPACE_API, "acme", 5, ++seq);
        sent += 5;
        vt_sleep_ms(50); /* pacing the load, not waiting for a condition */
        legit_got += s_drain_events(legit);
        for (int i = 0; i < 4; i++) {
            spied[i] += s_drain_sock(spy[i]);
        }
        bool all = true;
        for (int i = 0; i < TAILS; i++) {
            s_drain_lines(fd[i], &lines[i]);
            if (!done[i] && waitpid(tail[i], &status[i], WNOHANG) == tail[i]) {
                done[i] = true;
            }
            all = all && done[i];
        }
        if (all) {
            break;
        }
    }
    for (int i = 0; i < TAILS; i++) {
        if (!done[i]) {
            status[i] = vt_wait_exit(tail[i], 1000);
        }
        s_drain_lines(fd[i], &lines[i]);
        close(fd[i]);
    }
    /* Every event sent reaches the one legitimate consumer: none went to a spy. */
    size_t during = legit_got;
    if (legit_got < sent) {
        legit_got += ph_receive(legit, sent - legit_got, 5000, NULL, NULL);
    }
    ck_assert_msg(lines[0] == 50 && WIFEXITED(status[0]) && WEXITSTATUS(status[0]) == 0,
                  "%s: expected 50 events and exit 0, got %zu events, status %d", tail_name[0],
                  lines[0], status[0]);
    for (int i = 1; i < TAILS; i++) {
        ck_assert_msg(lines[i] == 0, "%s: expected no event, got %zu", tail_name[i], lines[i]);
    }
    /* Without ctl.key, tail refuses to start rather than fall back to a plain link. */
    ck_assert_msg(WIFEXITED(status[1]) && WEXITSTATUS(status[1]) != 0,
                  "%s: expected a nonzero exit status, got %d", tail_name[1], status[1]);
    for (int i = 0; i < 4; i++) {
        ck_assert_msg(spied[i] == 0, "%s: expected no message, got %zu", spy_name[i], spied[i]);
    }
    ck_assert_msg(legit_got == sent && during > 0,
                  "legitimate consumer: expected all %zu events (some while the tails ran), got "
                  "%zu (%zu while they ran)", sent, legit_got, during);
    fprintf(stderr, "attacks: sent %zu events, the legitimate consumer got %zu (%zu while the "
                    "tails ran)\n", sent, legit_got, during);
    zsock_destroy(&push);
    zsock_destroy(&legit);
    for (int i = 0; i < 4; i++) {
        zsock_destroy(&spy[i]);
    }
    vx_socks_destroy(&plain);
    vx_socks_destroy(&unlisted);
    ph_stop(&d);
    free(nokey);
    free(outsider);
}
END_TEST

/* ---- 3. memory ---------------------------------------------------------------------------- */

/* A field of /proc/PID/status in kB ("VmRSS:", "VmHWM:"); -1 when unreadable. */
static long
s_status_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, field, strlen(field)) == 0) {
            v = atol(line + strlen(field));
        }
    }
    if (f) {
        fclose(f);
    }
    return v;
}

static uint16_t
s_port_of(const char *endpoint)
{
    const char *c = strrchr(endpoint, ':');
    return c ? (uint16_t)atoi(c + 1) : 0;
}

/* A raw ZMTP 3.0 peer: greets with mechanism (as a client), then sends one frame header
 * claiming size bytes (flags: 0x02 long, | 0x04 command) and streams up to stream bytes of it.
 * Returns the bytes of the frame the daemon took before closing the connection. */
static size_t
s_raw_frame(uint16_t port, const char *mechanism, uint8_t flags, uint64_t size, size_t stream)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_msg(connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect %u: %s",
                  (unsigned)port, strerror(errno));
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    uint8_t greet[64] = {0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 3, 0};
    memcpy(greet + 12, mechanism, strlen(mechanism));
    uint8_t hdr[9] = {flags};
    for (int i = 0; i < 8; i++) {
        hdr[1 + i] = (uint8_t)(size >> (56 - 8 * i));
    }
    size_t taken = 0;
    if (send(fd, greet, sizeof greet, MSG_NOSIGNAL) == (ssize_t)sizeof greet &&
        send(fd, hdr, sizeof hdr, MSG_NOSIGNAL) == (ssize_t)sizeof hdr) {
        static uint8_t zeros[1 << 16];
        while (taken < stream) {
            ssize_t n = send(fd, zeros, sizeof zeros, MSG_NOSIGNAL);
            if (n <= 0) {
                break;
            }
            taken += (size_t)n;
        }
    }
    close(fd);
    return taken;
}

/* libzmq's free function for a mapped frame: its I/O thread reads (encrypts) the frame after
 * zmq_msg_send returned, so the pages are unmapped only when libzmq is done with them. */
static void
cb_unmap(void *data, void *hint)
{
    munmap(data, (size_t)(uintptr_t)hint);
}

/* Sends one frame of len bytes (pages of /dev/zero, mapped without reserving memory) after the
 * topic, through sock. */
static void
s_send_big(zsock_t *sock, size_t len)
{
    int zero = open("/dev/zero", O_RDWR);
    ck_assert_int_ge(zero, 0);
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, zero, 0);
    close(zero);
    ck_assert_msg(p != MAP_FAILED, "mmap %zu: %s", len, strerror(errno));
    void *s = zsock_resolve(sock);
    ck_assert_int_eq(zmq_send(s, VX_WIRE_TOPIC, strlen(VX_WIRE_TOPIC), ZMQ_SNDMORE),
                     (int)strlen(VX_WIRE_TOPIC));
    zmq_msg_t m;
    zmq_msg_init_data(&m, p, len, cb_unmap, (void *)(uintptr_t)len);
    int rc = zmq_msg_send(&m, s, 0);
    ck_assert_msg(rc == (int)len, "send %zu bytes: expected %zu, got %d (%s)", len, len, rc,
                  zmq_strerror(zmq_errno()));
}

/* A batch of 16 MiB of empty events: field 1, length 0, again and again (8,388,608 events, each
 * counted as dropped, too_large, by a receiver that takes at most 100,000). */
static void
s_send_empty_events(zsock_t *sock)
{
    uint8_t *buf = malloc(S_EMPTY_EVENTS_BYTES);
    ck_assert_ptr_nonnull(buf);
    for (size_t i = 0; i < S_EMPTY_EVENTS_BYTES; i += 2) {
        buf[i] = (uint8_t)(VX_PB_BATCH_EVENTS << 3 | VX_PB_LEN);
        buf[i + 1] = 0;
    }
    int rc = vx_wire_send_packed(sock, VX_WIRE_TOPIC, buf, S_EMPTY_EVENTS_BYTES, 0);
    ck_assert_msg(rc == 0, "send 16 MiB of empty events: expected 0, got %d", rc);
    free(buf);
}

/* Sends one-event batches through push until routing has decided one more event: proves
 * routing (re)connected and serves. */
static void
s_routing_serves(const struct rh_daemon *r, zsock_t *push, const char *tag, uint64_t *seq)
{
    double before = vt_metric(r->rest_port, "vexfs_events_processed_total");
    double v = before;
    for (int waited = 0; v <= before && waited < 20000; waited += 50) {
        if (waited % 500 == 0) {
            s_send(push, tag, VEXFS__V1__BOUNDARY__USERSPACE_API, "acme", 1, ++*seq);
        }
        vt_sleep_ms(50);
        v = vt_metric(r->rest_port, "vexfs_events_processed_total");
    }
    ck_assert_msg(v > before, "routing after %s: expected more than %.0f events decided, got %.0f; "
                              "log in %s", tag, before, v, r->log);
}

/* Sends a legitimate batch to propagation and receives it on its output. */
static void
s_propagation_serves(const struct ph_daemon *d, zsock_t *push, zsock_t *pull, const char *tag,
                     uint64_t seq)
{
    s_send(push, tag, VEXFS__V1__BOUNDARY__USERSPACE_API, "acme", 10, seq);
    size_t got = ph_receive(pull, 10, 10000, NULL, NULL);
    ck_assert_msg(got == 10, "propagation after %s: expected 10 events published, got %zu; log "
                             "in %s", tag, got, d->log);
}

/* Under AddressSanitizer freed memory waits in a quarantine (256 MiB by default) instead of
 * being reused, so every frame a daemon receives would raise its peak whatever the daemon
 * does: the daemons of this test run without it, so the figures stay theirs (leaks and
 * memory errors are still found). */
static void
s_asan_without_quarantine(void)
{
#ifdef __SANITIZE_ADDRESS__
    const char *o = getenv("ASAN_OPTIONS");
    char buf[2048];
    snprintf(buf, sizeof buf, "%s%squarantine_size_mb=0", o ? o : "", o && o[0] ? ":" : "");
    setenv("ASAN_OPTIONS", buf, 1);
#endif
}

START_TEST(t_memory_bounded)
{
    s_asan_without_quarantine();
    struct ph_daemon d;
    ph_start(&d, NULL, NULL);
    zsock_t *push = ph_push(&d);
    zsock_t *pull = ph_pull(&d);
    /* Routing pulls from a socket of the test (bound with the server key), so the test can
     * hand it any frame an authenticated upstream could. */
    int rport = -1;
    zsock_t *feed = vt_sock_ex(&(struct vt_sock_opts){.type = ZMQ_PUSH,
                                                      .endpoint = "tcp://127.0.0.1:*",
                                                      .bind = true, .port = &rport});
    ck_assert_ptr_nonnull(feed);
    char rin[64];
    snprintf(rin, sizeof rin, "tcp://127.0.0.1:%d", rport);
    struct rh_daemon r;
    rh_start(&r, rin, NULL);

    /* Warm up both daemons with legitimate traffic, then take the idle figure. */
    uint64_t seq = 0, rseq = 0;
    s_propagation_serves(&d, push, pull, "warm", ++seq);
    s_routing_serves(&r, feed, "warm", &rseq);
    long p_idle = s_status_kb(d.pid, "VmRSS:"), r_idle = s_status_kb(r.pid, "VmRSS:");
    ck_assert_msg(p_idle > 0 && r_idle > 0, "idle RSS: expected figures, got %ld and %ld kB",
                  p_idle, r_idle);

    /* Unauthenticated raw ZMTP peers claiming 2 GiB frames, on every port propagation binds:
     * with the NULL mechanism (refused at the greeting) and with CURVE (a handshake command
     * frame the limit refuses before it is read). 64 MiB are streamed after each header. */
    const uint64_t two_gib = 2ull << 30;
    const char *ports[] = {d.ingest, d.acked, d.output, d.tap};
    for (size_t i = 0; i < sizeof ports / sizeof ports[0]; i++) {
        size_t took_null = s_raw_frame(s_port_of(ports[i]), "NULL", 0x02, two_gib, 64u << 20);
        size_t took_curve = s_raw_frame(s_port_of(ports[i]), "CURVE", 0x06, two_gib, 64u << 20);
        fprintf(stderr, "attacks: %s took %zu bytes of a 2 GiB NULL frame, %zu of a 2 GiB CURVE "
                        "command, propagation VmHWM %ld kB\n",
                ports[i], took_null, took_curve, s_status_kb(d.pid, "VmHWM:"));
    }
    /* Authenticated: a frame one byte over transport.max_message_bytes (libzmq's CURVE sender
     * copies a frame twice, so the test does not send 2 GiB itself; the limit refuses any
     * larger frame on its header alike), then 16 MiB of empty events. */
    s_send_big(push, S_MAX_MSG + 1);
    s_propagation_serves(&d, push, pull, "after-big", ++seq);
    fprintf(stderr, "attacks: propagation VmHWM %ld kB after an over-limit frame\n",
            s_status_kb(d.pid, "VmHWM:"));
    const char *too_large = "vexfs_events_dropped_total{reason=\"too_large\"}";
    const double n_empty = S_EMPTY_EVENTS_BYTES / 2;
    double dropped = vt_metric(d.rest_port, too_large);
    s_send_empty_events(push);
    s_expect_metric(d.rest_port, too_large, dropped + n_empty, 20000);
    s_propagation_serves(&d, push, pull, "after-empty", ++seq);
    fprintf(stderr, "attacks: propagation VmHWM %ld kB after 16 MiB of empty events\n",
            s_status_kb(d.pid, "VmHWM:"));

    /* Routing: the same two frames from its authenticated upstream. libzmq 4.3 ends a
     * connecting socket's session on the over-limit frame without reconnecting; routing's
     * socket monitor sees the lost connection and opens the input again, so events flow. */
    dropped = vt_metric(r.rest_port, too_large);
    s_send_empty_events(feed);
    s_expect_metric(r.rest_port, too_large, dropped + n_empty, 20000);
    s_routing_serves(&r, feed, "after-empty", &rseq);
    double reopened = vt_metric(r.rest_port, "vexfs_zmq_reopened_total");
    s_send_big(feed, S_MAX_MSG + 1);
    s_expect_metric(r.rest_port, "vexfs_zmq_reopened_total", reopened + 1, 20000);
    s_routing_serves(&r, feed, "after-big", &rseq);

    long p_peak = s_status_kb(d.pid, "VmHWM:"), r_peak = s_status_kb(r.pid, "VmHWM:");
    fprintf(stderr, "attacks: propagation idle RSS %ld kB, peak %ld kB (%.2fx); routing idle RSS "
                    "%ld kB, peak %ld kB (%.2fx)\n",
            p_idle, p_peak, (double)p_peak / (double)p_idle, r_idle, r_peak,
            (double)r_peak / (double)r_idle);
    /* The bound: twice the idle figure, or, for a daemon whose idle RSS is below the 16 MiB
     * frame itself (a frame under transport.max_message_bytes is read whole by libzmq before
     * anything can look at it), idle plus that one frame and 4 MiB. */
    long frame_kb = S_EMPTY_EVENTS_BYTES / 1024 + 4096;
    long p_max = 2 * p_idle > p_idle + frame_kb ? 2 * p_idle : p_idle + frame_kb;
    long r_max = 2 * r_idle > r_idle + frame_kb ? 2 * r_idle : r_idle + frame_kb;
    ck_assert_msg(p_peak < p_max, "propagation peak RSS: expected under %ld kB (idle %ld kB), got "
                                  "%ld kB", p_max, p_idle, p_peak);
    ck_assert_msg(r_peak < r_max, "routing peak RSS: expected under %ld kB (idle %ld kB), got "
                                  "%ld kB", r_max, r_idle, r_peak);
    struct vt_http_result h;
    ck_assert_int_eq(vt_http("GET", d.rest_port, "/health", NULL, 0, NULL, &h), 0);
    ck_assert_msg(h.status == 200, "propagation /health: expected 200, got %ld", h.status);
    vt_http_result_fini(&h);
    ck_assert_int_eq(vt_http("GET", r.rest_port, "/health", NULL, 0, NULL, &h), 0);
    ck_assert_msg(h.status == 200, "routing /health: expected 200, got %ld", h.status);
    vt_http_result_fini(&h);

    rh_stop(&r);
    zsock_destroy(&feed);
    zsock_destroy(&push);
    zsock_destroy(&pull);
    ph_stop(&d);
}
END_TEST

/* ---- 4. REST ------------------------------------------------------------------------------ */

START_TEST(t_rest_refused)
{
    struct ph_daemon d;
    ph_start(&d, NULL, "security:\n  tls_client_auth: true\n");
    char ca[600], cert[600], key[600], err[512];
    snprintf(ca, sizeof ca, "%s/ca.crt", vt_tls_dir());
    snprintf(cert, sizeof cert, "%s/test.crt", vt_tls_dir());
    snprintf(key, sizeof key, "%s/test.key", vt_tls_dir());
    /* An authority of the attacker's, and a client certificate it issued. */
    char *rogue = vt_tmpdir();
    ck_assert_msg(vx_tls_make_ca(rogue, "ca", err, sizeof err) == 0, "rogue CA: %s", err);
    ck_assert_msg(vx_tls_make_cert(rogue, "test", "ca", NULL, 0, false, err, sizeof err) == 0,
                  "rogue client certificate: %s", err);
    char rca[600], rcert[600], rkey[600];
    snprintf(rca, sizeof rca, "%s/ca.crt", rogue);
    snprintf(rcert, sizeof rcert, "%s/test.crt", rogue);
    snprintf(rkey, sizeof rkey, "%s/test.key", rogue);

    /* The control: the suite's client certificate reads the statistics. */
    struct vt_http_result r;
    int rc = vt_https(&(struct vt_https_req){.port = d.rest_port, .path = "/v1/stats",
                                             .ca_file = ca, .cert_file = cert, .key_file = key},
                      &r);
    ck_assert_msg(rc == 0 && r.status == 200, "with the suite's certificate: expected 200, got "
                                              "rc %d status %ld: %s", rc, r.status, r.body);
    vt_http_result_fini(&r);

    /* Plain HTTP to the HTTPS port: no HTTP answer at all. */
    rc = vt_https(&(struct vt_https_req){.port = d.rest_port, .path = "/v1/stats",
                                         .token = PH_TOKEN}, &r);
    ck_assert_msg(rc < 0 || (r.status != 200 && !strstr(r.body, "events")),
                  "plain HTTP: expected a refused connection, got rc %d status %ld: %s", rc,
                  r.status, r.body);
    fprintf(stderr, "attacks: plain HTTP -> rc %d status %ld (%.80s)\n", rc, r.status, r.body);
    vt_http_result_fini(&r);

    /* The server verified against a wrong authority: the client refuses the connection. */
    rc = vt_https(&(struct vt_https_req){.port = d.rest_port, .path = "/health", .ca_file = rca},
                  &r);
    ck_assert_msg(rc < 0, "wrong CA: expected a verification failure, got status %ld", r.status);
    vt_http_result_fini(&r);

    /* A client certificate issued by the wrong authority, and none at all (with a token):
     * refused with 401 client_certificate_required, or at the handshake. */
    struct vt_https_req bad[] = {
        {.port = d.rest_port, .path = "/v1/stats", .ca_file = ca, .cert_file = rcert,
         .key_file = rkey},
        {.port = d.rest_port, .path = "/v1/stats", .ca_file = ca, .token = PH_TOKEN},
    };
    const char *bad_name[] = {"a client certificate of a wrong authority",
                              "no client certificate"};
    for (size_t i = 0; i < 2; i++) {
        rc = vt_https(&bad[i], &r);
        ck_assert_msg(rc < 0 || (r.status == 401 && strstr(r.body, "client_certificate_required")),
                      "%s: expected a refused handshake or 401 client_certificate_required, got "
                      "rc %d status %ld: %s", bad_name[i], rc, r.status, r.body);
        fprintf(stderr, "attacks: %s -> rc %d status %ld\n", bad_name[i], rc, r.status);
        vt_http_result_fini(&r);
    }
    /* /health answers anyone over HTTPS. */
    long st = vt_http_anon_status("GET", d.rest_port, "/health", NULL);
    ck_assert_msg(st == 200, "anonymous /health: expected 200, got %ld", st);
    s_expect_metric(d.rest_port,
                    "vexfs_http_auth_refused_total{reason=\"client_certificate_required\"}", 1,
                    5000);
    ph_stop(&d);
    free(rogue);
}
END_TEST

static Suite *
s_suite(void)
{
    Suite *s = suite_create("attacks");
    TCase *tc = tcase_create("producers");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, t_producers_refused);
    suite_add_tcase(s, tc);
    tc = tcase_create("eavesdroppers");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, t_eavesdroppers_get_nothing);
    suite_add_tcase(s, tc);
    tc = tcase_create("memory");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, t_memory_bounded);
    suite_add_tcase(s, tc);
    tc = tcase_create("rest");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, t_rest_refused);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    signal(SIGPIPE, SIG_IGN);
    SRunner *sr = srunner_create(s_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
