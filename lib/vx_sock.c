/* SPDX-License-Identifier: Apache-2.0 */
/* The socket factory (see vx_sock.h). */
#include "vx_sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "vx_clock.h"
#include "vx_keys.h"
#include "vx_log.h"
#include "vx_mem.h"
#include "vx_sock_mon.h"
#include "vx_wire.h"
#include "vx_zap.h"

#define S_ZAP_DOMAIN "vexfs"
/* Largest frame a sending-only socket (PUSH, PUB) takes from a peer. Such a socket still reads:
 * the CURVE handshake's commands (under 1 KiB) and subscriptions. Without a limit libzmq reads
 * a handshake command of any announced size into memory before the peer is authenticated, so
 * anyone who can reach an output or a tap could make the daemon allocate gigabytes. */
#define S_SEND_ONLY_MAX_MSG (64 * 1024)

static const struct vx_cfg_key s_transport_keys[] = {
    {"hwm", VX_CFG_INT, "1000", 1, 10000000, false,
     "messages (batches) queued per ZeroMQ socket and direction before a sender waits or, on a "
     "tap, drops",
     VX_CFG_AT(struct vx_transport_config, hwm)},
    {"linger_ms", VX_CFG_INT, "0", 0, 600000, false,
     "how long a closing socket keeps sending what it has queued (daemons flush explicitly "
     "within shutdown_timeout_ms)",
     VX_CFG_AT(struct vx_transport_config, linger_ms)},
    {"max_message_bytes", VX_CFG_INT, "67112960", 1024, 2147483647, false,
     "largest ZeroMQ frame a receiving socket accepts; a larger one closes the connection "
     "before it is read into memory (default: the largest batch, 64 MiB, plus 4 KiB)",
     VX_CFG_AT(struct vx_transport_config, max_message_bytes)},
    {"io_threads", VX_CFG_INT, "0", 0, 16, false,
     "ZeroMQ I/O threads of the process: they read, write and (CURVE) encrypt and decrypt "
     "every link's bytes beside the daemon's own loop; more than one lets links be encrypted "
     "in parallel where cores are free; 0: the program's own number (2 for propagation, 1 "
     "for every other program)",
     VX_CFG_AT(struct vx_transport_config, io_threads)},
};
const struct vx_cfg_section vx_cfg_transport_section =
    VX_CFG_SECTION("transport", s_transport_keys, struct vx_transport_config, NULL);

static const struct vx_cfg_key s_security_keys[] = {
    {"curve", VX_CFG_STRING, "required", 0, 16, false,
     "required: every ZeroMQ link is encrypted and authenticated with CURVE; off: plain links, "
     "allowed only on loopback tcp:// and ipc:// endpoints",
     VX_CFG_AT(struct vx_security_config, curve)},
    {"keys_dir", VX_CFG_STRING, "/etc/vexfs/keys", 0, 4096, false,
     "CURVE keys: server.key and server.pub (the daemons' bound sockets), <identity>.key (this "
     "program's own), authorized/<name>.pub (the clients a daemon admits); vexfsctl keys init "
     "makes the set",
     VX_CFG_AT(struct vx_security_config, keys_dir)},
    {"identity", VX_CFG_STRING, "", 0, 128, false,
     "the name of this program's key (<keys_dir>/<identity>.key); empty: the program's name "
     "(propagation, routing, coordinator, automation, analytics, forwarder, fuse, watch)",
     VX_CFG_AT(struct vx_security_config, identity)},
    {"tls", VX_CFG_STRING, "required", 0, 16, false,
     "required: the REST server speaks HTTPS only, with <tls_dir>/server.crt and server.key; "
     "off: plain HTTP, allowed only when rest_bind is a loopback address",
     VX_CFG_AT(struct vx_security_config, tls)},
    {"tls_dir", VX_CFG_STRING, "/etc/vexfs/tls", 0, 4096, false,
     "TLS files: ca.crt (verifies the suite's servers and, with tls_client_auth, its clients), "
     "server.crt and server.key (every REST server), <name>.crt/.key (client certificates); "
     "vexfsctl certs init makes the set",
     VX_CFG_AT(struct vx_security_config, tls_dir)},
    {"tls_client_auth", VX_CFG_BOOL, "false", 0, 0, false,
     "mutual TLS: every REST route but /health and /ready needs a client certificate issued "
     "by <tls_dir>/ca.crt",
     VX_CFG_AT(struct vx_security_config, tls_client_auth)},
    {"credentials_file", VX_CFG_STRING, "/etc/vexfs/credentials.yaml", 0, 4096, false,
     "who may call the REST API: names, roles (viewer, operator, admin), tenants, SHA-256 of "
     "bearer tokens, client-certificate names; reread on SIGHUP and when the file changes",
     VX_CFG_AT(struct vx_security_config, credentials_file)},
    {"audit_dir", VX_CFG_STRING, "/var/lib/vexfs/audit", 0, 4096, false,
     "folder of the audit log <identity>.audit.jsonl (mutating REST calls, refusals, actions on "
     "behalf of a tenant, credential reloads; hash-chained and signed); empty: no audit log",
     VX_CFG_AT(struct vx_security_config, audit_dir)},
    {"audit_key_file", VX_CFG_STRING, "", 0, 4096, false,
     "Ed25519 key that signs the audit log's checkpoints (hex, mode 0600); empty: "
     "<keys_dir>/audit.key",
     VX_CFG_AT(struct vx_security_config, audit_key_file)},
    {"metrics_open", VX_CFG_BOOL, "false", 0, 0, false,
     "true: GET /metrics needs no credential; false: it needs the viewer role",
     VX_CFG_AT(struct vx_security_config, metrics_open)},
};

static int
cb_security_check(const void *bound, char *err, size_t errlen)
{
    const struct vx_security_config *c = bound;
    if (strcmp(c->curve, "required") != 0 && strcmp(c->curve, "off") != 0) {
        snprintf(err, errlen, "security.curve: expected required or off, got \"%s\"", c->curve);
        return -EINVAL;
    }
    if (strcmp(c->tls, "required") != 0 && strcmp(c->tls, "off") != 0) {
        snprintf(err, errlen, "security.tls: expected required or off, got \"%s\"", c->tls);
        return -EINVAL;
    }
    if (strcmp(c->tls, "required") == 0 && !c->tls_dir[0]) {
        snprintf(err, errlen, "security.tls_dir: needed when security.tls is required");
        return -EINVAL;
    }
    if (c->tls_client_auth && strcmp(c->tls, "required") != 0) {
        snprintf(err, errlen, "security.tls_client_auth: needs security.tls: required");
        return -EINVAL;
    }
    if (strcmp(c->curve, "required") == 0 && !c->keys_dir[0]) {
        snprintf(err, errlen, "security.keys_dir: needed when security.curve is required");
        return -EINVAL;
    }
    if (strchr(c->identity, '/') || c->identity[0] == '.') {
        snprintf(err, errlen, "security.identity: a key name, without '/' and not starting with "
                              "'.', got \"%s\"", c->identity);
        return -EINVAL;
    }
    return 0;
}

const struct vx_cfg_section vx_cfg_security_section =
    VX_CFG_SECTION("security", s_security_keys, struct vx_security_config, cb_security_check);

struct vx_socks {
    struct vx_transport_config cfg;
    bool secured; /* made with a security section: CURVE, or plain links on loopback only */
    bool curve;
    char keys_dir[4096];
    char identity[129];
    vx_metrics_t *metrics;
    /* loaded when the first socket needs them; guarded by mu */
    pthread_mutex_t mu;
    bool have_server, have_client, have_server_pub;
    struct vx_keypair server;   /* server.key */
    struct vx_keypair client;   /* <identity>.key */
    char server_pub[VX_KEY_TXT]; /* server.pub */
    vx_zap_t *zap;
    vx_sock_mon_t *mon;          /* started with the first monitored socket; guarded by mu */
    vx_counter_t *c_reopened;    /* vexfs_zmq_reopened_total */
};

vx_socks_t *
vx_socks_new(const struct vx_transport_config *cfg, const struct vx_security_config *sec,
             const char *program, vx_metrics_t *metrics, char *err, size_t errlen)
{
    if (cfg->hwm < 1 || cfg->max_message_bytes < 1024) {
        snprintf(err, errlen, "transport: hwm and max_message_bytes must be positive");
        return NULL;
    }
    if (cfg->io_threads > 0) {
        /* Read by libzmq when the process's context starts, at its first socket: programs make
         * their factory before any socket. zsys_set_io_threads would assert on a later call;
         * the context itself ignores one. */
        zmq_ctx_set(zsys_init(), ZMQ_IO_THREADS, cfg->io_threads);
    }
    vx_socks_t *s = vx_calloc(1, sizeof *s);
    s->cfg = *cfg;
    s->metrics = metrics;
    pthread_mutex_init(&s->mu, NULL);
    if (metrics) {
        s->c_reopened = vx_metrics_counter(
            metrics, "vexfs_zmq_reopened_total",
            "Connecting ZeroMQ sockets closed and opened again because libzmq gave up on a "
            "connection (its peer broke the protocol, e.g. with an over-limit frame).",
            NULL);
    }
    s->secured = sec != NULL;
    s->curve = sec && strcmp(sec->curve, "required") == 0;
    if (s->curve) {
        snprintf(s->keys_dir, sizeof s->keys_dir, "%s", sec->keys_dir);
        snprintf(s->identity, sizeof s->identity, "%s", sec->identity[0] ? sec->identity : program);
    }
    return s;
}

void
vx_socks_destroy(vx_socks_t **sp)
{
    if (!sp || !*sp) {
        return;
    }
    vx_socks_t *s = *sp;
    vx_sock_mon_stop(&s->mon);
    vx_zap_stop(&s->zap);
    pthread_mutex_destroy(&s->mu);
    vx_free(sp);
}

bool
vx_socks_curve(const vx_socks_t *s)
{
    return s->curve;
}

void
vx_socks_set_client_keys(vx_socks_t *s, const struct vx_keypair *client,
                         const char *server_public_txt)
{
    pthread_mutex_lock(&s->mu);
    s->client = *client;
    snprintf(s->server_pub, sizeof s->server_pub, "%s", server_public_txt);
    s->have_client = true;
    pthread_mutex_unlock(&s->mu);
}

static bool
s_receives(int type)
{
    return type != ZMQ_PUSH && type != ZMQ_PUB;
}

static int
s_hwm(const vx_socks_t *socks, int given)
{
    return given == VX_SOCK_HWM_NONE ? 0 : given > 0 ? given : socks->cfg.hwm;
}

/* Whether one endpoint stays on this machine: ipc://, inproc://, or tcp:// to a loopback
 * address (127.0.0.0/8, ::1, localhost). A wildcard bind (*, 0.0.0.0) does not. */
static bool
s_local_one(const char *ep, size_t len)
{
    while (len && (*ep == '@' || *ep == '>' || *ep == ' ')) {
        ep++;
        len--;
    }
    if ((len >= 6 && strncmp(ep, "ipc://", 6) == 0) ||
        (len >= 9 && strncmp(ep, "inproc://", 9) == 0)) {
        return true;
    }
    if (len < 6 || strncmp(ep, "tcp://", 6) != 0) {
        return false;
    }
    char host[256];
    const char *h = ep + 6;
    size_t hl = len - 6;
    const char *colon = memrchr(h, ':', hl);
    if (!colon) {
        return false;
    }
    hl = (size_t)(colon - h);
    if (hl >= sizeof host) {
        return false;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        memmove(host, host + 1, hl - 1);
    }
    if (strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0) {
        return true;
    }
    struct in_addr a;
    return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

static bool
s_local(const char *endpoints)
{
    const char *p = endpoints;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (!s_local_one(p, len)) {
            return false;
        }
        if (!comma) {
            return true;
        }
        p = comma + 1;
    }
}

static bool
s_inproc(const char *ep)
{
    while (*ep == '@' || *ep == '>') {
        ep++;
    }
    return strncmp(ep, "inproc://", 9) == 0;
}

/* Loads what a bound (server) or connecting (client) CURVE socket needs, once. */
static int
s_load_keys(vx_socks_t *s, bool server, char *err, size_t errlen)
{
    char path[4400], kerr[4600];
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    if (server && !s->have_server) {
        snprintf(path, sizeof path, "%s/server.key", s->keys_dir);
        rc = vx_keys_load_secret(path, &s->server, kerr, sizeof kerr);
        if (rc == 0) {
            snprintf(path, sizeof path, "%s/authorized", s->keys_dir);
            vx_keyring_t *ring = vx_keyring_load(path, kerr, sizeof kerr);
            if (!ring) {
                rc = -EINVAL;
            } else {
                s->zap = vx_zap_start(ring, s->metrics, kerr, sizeof kerr);
                rc = s->zap ? 0 : -EIO;
            }
        }
        s->have_server = rc == 0;
    }
    if (!server && rc == 0 && !s->have_client) {
        snprintf(path, sizeof path, "%s/%s.key", s->keys_dir, s->identity);
        rc = vx_keys_load_secret(path, &s->client, kerr, sizeof kerr);
        if (rc == 0) {
            snprintf(path, sizeof path, "%s/server.pub", s->keys_dir);
            rc = vx_keys_load_public(path, s->server_pub, kerr, sizeof kerr);
        }
        s->have_client = rc == 0;
    }
    pthread_mutex_unlock(&s->mu);
    if (rc < 0) {
        snprintf(err, errlen, "security.curve is required: %s", kerr);
    }
    return rc;
}

/* Applies CURVE, or refuses a plain link that would leave the machine. */
static int
s_secure(vx_socks_t *s, zsock_t *z, const struct vx_sock_spec *spec, char *err, size_t errlen)
{
    if (s_inproc(spec->endpoint) || !s->secured) {
        return 0;
    }
    if (!s->curve) {
        if (!s_local(spec->endpoint)) {
            snprintf(err, errlen,
                     "%s: security.curve is off, so only loopback tcp:// and ipc:// endpoints are "
                     "allowed",
                     spec->endpoint);
            return -EPERM;
        }
        return 0;
    }
    int rc = s_load_keys(s, spec->bind, err, errlen);
    if (rc < 0) {
        return rc;
    }
    if (spec->bind) {
        zsock_set_curve_server(z, 1);
        zsock_set_curve_publickey(z, s->server.public_txt);
        zsock_set_curve_secretkey(z, s->server.secret_txt);
        zsock_set_zap_domain(z, S_ZAP_DOMAIN);
    } else {
        zsock_set_curve_serverkey(z, s->server_pub);
        zsock_set_curve_publickey(z, s->client.public_txt);
        zsock_set_curve_secretkey(z, s->client.secret_txt);
    }
    return 0;
}

/* Whether the endpoints bind (1) or connect (0): each part's '@' or '>' prefix, else dflt.
 * -1 when the parts disagree. */
static int
s_endpoint_side(const char *endpoints, bool dflt)
{
    int side = -2;
    const char *p = endpoints;
    for (;;) {
        while (*p == ' ') {
            p++;
        }
        int this = *p == '@' ? 1 : *p == '>' ? 0 : dflt;
        if (side != -2 && side != this) {
            return -1;
        }
        side = this;
        const char *comma = strchr(p, ',');
        if (!comma) {
            return side;
        }
        p = comma + 1;
    }
}

/* Attaches the factory's socket monitor (vx_sock_mon.h) to a daemon's socket that leaves the
 * process: failed handshakes are counted, and a connecting socket's lost connections found. */
static int
s_monitor(vx_socks_t *s, zsock_t *z, const struct vx_sock_spec *spec, char *err, size_t errlen)
{
    if ((!s->metrics && !spec->watch) || s_inproc(spec->endpoint)) {
        return 0;
    }
    char merr[256] = "";
    pthread_mutex_lock(&s->mu);
    if (!s->mon) {
        s->mon = vx_sock_mon_start(s->metrics, merr, sizeof merr);
    }
    vx_sock_mon_t *mon = s->mon;
    pthread_mutex_unlock(&s->mu);
    int rc = mon ? vx_sock_mon_attach(mon, z, !spec->bind, spec->watch) : -EIO;
    if (rc < 0) {
        snprintf(err, errlen, "%s: cannot monitor the socket: %s", spec->endpoint,
                 merr[0] ? merr : zmq_strerror(-rc));
    }
    return rc;
}

/* The one place a ZeroMQ socket is made: the options every link needs (security, size
 * limits, timeouts, reconnection, monitoring) are applied in this order before the socket is
 * bound or connected, so no message can pass on a socket that is not yet secured. */
zsock_t *
vx_sock_open(const vx_socks_t *socks, const struct vx_sock_spec *spec, char *bound,
             size_t boundlen, char *err, size_t errlen)
{
    if (!spec->endpoint || !spec->endpoint[0]) {
        snprintf(err, errlen, "no endpoint given");
        return NULL;
    }
    /* "@endpoint" binds and ">endpoint" connects whatever spec says (CZMQ's convention); the
     * choice decides which CURVE side the socket takes, so every endpoint must agree. */
    struct vx_sock_spec eff = *spec;
    int side = s_endpoint_side(spec->endpoint, spec->bind);
    if (side < 0) {
        snprintf(err, errlen, "%s: endpoints of one socket must all bind (@) or all connect (>)",
                 spec->endpoint);
        return NULL;
    }
    eff.bind = side == 1;
    spec = &eff;
    zsock_t *z = zsock_new(spec->type);
    if (!z) {
        snprintf(err, errlen, "%s: cannot create a ZeroMQ socket: %s", spec->endpoint,
                 zmq_strerror(zmq_errno()));
        return NULL;
    }
    /* Keys load once, under the factory's lock: the factory is otherwise read-only. */
    if (s_secure((vx_socks_t *)socks, z, spec, err, errlen) < 0) {
        zsock_destroy(&z);
        return NULL;
    }
    zsock_set_sndhwm(z, s_hwm(socks, spec->sndhwm));
    zsock_set_rcvhwm(z, s_hwm(socks, spec->rcvhwm));
    zsock_set_linger(z, spec->linger_ms > 0 ? spec->linger_ms : socks->cfg.linger_ms);
    zsock_set_maxmsgsize(z, s_receives(spec->type) ? (int)socks->cfg.max_message_bytes
                                                    : S_SEND_ONLY_MAX_MSG);
    if (spec->sndtimeo_ms > 0) {
        zsock_set_sndtimeo(z, spec->sndtimeo_ms);
    }
    if (spec->rcvtimeo_ms > 0) {
        zsock_set_rcvtimeo(z, spec->rcvtimeo_ms);
    }
    if (spec->immediate) {
        zsock_set_immediate(z, 1);
    }
    if (spec->reconnect_ivl_ms > 0) {
        zsock_set_reconnect_ivl(z, spec->reconnect_ivl_ms);
    }
    if (spec->reconnect_ivl_max_ms > 0) {
        zsock_set_reconnect_ivl_max(z, spec->reconnect_ivl_max_ms);
    }
    if (spec->type == ZMQ_SUB) {
        zsock_set_subscribe(z, spec->subscribe ? spec->subscribe : "");
    }
    if (s_monitor((vx_socks_t *)socks, z, spec, err, errlen) < 0) {
        zsock_destroy(&z);
        return NULL;
    }
    if (zsock_attach(z, spec->endpoint, spec->bind) < 0) {
        snprintf(err, errlen, "cannot %s %s: %s", spec->bind ? "bind" : "connect",
                 spec->endpoint, zmq_strerror(zmq_errno()));
        zsock_destroy(&z);
        return NULL;
    }
    if (bound && boundlen) {
        char *last = spec->bind ? zsock_last_endpoint(z) : NULL; /* caller frees, czmq 4.2 */
        snprintf(bound, boundlen, "%s", last ? last : spec->endpoint);
        free(last);
    }
    return z;
}

int
vx_sock_pipe(const vx_socks_t *socks, const char *name, zsock_t **push, zsock_t **pull)
{
    char ep[256], err[300];
    snprintf(ep, sizeof ep, "inproc://%s", name);
    struct vx_sock_spec in = {.type = ZMQ_PULL, .endpoint = ep, .bind = true};
    struct vx_sock_spec out = {.type = ZMQ_PUSH, .endpoint = ep, .bind = false};
    *pull = vx_sock_open(socks, &in, NULL, 0, err, sizeof err);
    *push = *pull ? vx_sock_open(socks, &out, NULL, 0, err, sizeof err) : NULL;
    if (!*push) {
        zsock_destroy(pull);
        return -EIO;
    }
    return 0;
}

bool
vx_sock_link_lost(const vx_socks_t *socks, const zsock_t *z, char *endpoint, size_t len)
{
    vx_socks_t *s = (vx_socks_t *)socks;
    pthread_mutex_lock(&s->mu);
    vx_sock_mon_t *mon = s->mon;
    pthread_mutex_unlock(&s->mu);
    return mon && z && vx_sock_mon_lost(mon, z, endpoint, len);
}

/* The factory's socket monitor, NULL before its first monitored socket. */
static vx_sock_mon_t *
s_monitor_of(const vx_socks_t *socks)
{
    vx_socks_t *s = (vx_socks_t *)socks;
    pthread_mutex_lock(&s->mu);
    vx_sock_mon_t *mon = s->mon;
    pthread_mutex_unlock(&s->mu);
    return mon;
}

uint64_t
vx_sock_disconnects(const vx_socks_t *socks, const zsock_t *z)
{
    vx_sock_mon_t *mon = s_monitor_of(socks);
    return mon && z ? vx_sock_mon_disconnects(mon, z) : 0;
}

uint64_t
vx_sock_handshakes(const vx_socks_t *socks, const zsock_t *z)
{
    vx_sock_mon_t *mon = s_monitor_of(socks);
    return mon && z ? vx_sock_mon_handshakes(mon, z) : 0;
}

int
vx_sock_reopen(const vx_socks_t *socks, zsock_t **z, const struct vx_sock_spec *spec, char *err,
               size_t errlen)
{
    vx_socks_t *s = (vx_socks_t *)socks;
    zsock_t *fresh = vx_sock_open(socks, spec, NULL, 0, err, errlen);
    if (!fresh) {
        return -EIO;
    }
    pthread_mutex_lock(&s->mu);
    vx_sock_mon_t *mon = s->mon;
    pthread_mutex_unlock(&s->mu);
    if (mon && *z) {
        vx_sock_mon_detach(mon, *z);
    }
    zsock_destroy(z);
    *z = fresh;
    if (s->c_reopened) {
        vx_counter_add(s->c_reopened, 1);
    }
    return 0;
}

void
vx_sock_keeper_init(struct vx_sock_keeper *k, const vx_socks_t *socks,
                    const struct vx_sock_spec *spec)
{
    *k = (struct vx_sock_keeper){.socks = socks, .spec = *spec};
    snprintf(k->endpoint, sizeof k->endpoint, "%s", spec->endpoint ? spec->endpoint : "");
    k->spec.endpoint = k->endpoint;
}

bool
vx_sock_keeper_lost(struct vx_sock_keeper *k, const zsock_t *z, uint64_t now, char *lost,
                    size_t lostlen)
{
    if (now < k->next_check_ns) {
        return false;
    }
    k->next_check_ns = now + (uint64_t)VX_SOCK_KEEPER_CHECK_MS * VX_NS_PER_MS;
    return vx_sock_link_lost(k->socks, z, lost, lostlen);
}

int
vx_sock_keeper_check(struct vx_sock_keeper *k, zsock_t **z, uint64_t now, char *lost,
                     size_t lostlen, char *err, size_t errlen)
{
    if (!vx_sock_keeper_lost(k, *z, now, lost, lostlen)) {
        return 0;
    }
    int rc = vx_sock_reopen(k->socks, z, &k->spec, err, errlen);
    return rc < 0 ? rc : 1;
}

uint64_t
vx_socks_handshakes_failed(const vx_socks_t *socks)
{
    vx_socks_t *s = (vx_socks_t *)socks;
    pthread_mutex_lock(&s->mu);
    uint64_t n = s->mon ? vx_sock_mon_failed(s->mon) : 0;
    pthread_mutex_unlock(&s->mu);
    return n;
}
