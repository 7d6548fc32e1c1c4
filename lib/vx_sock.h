/* SPDX-License-Identifier: Apache-2.0 */
/* The socket factory: every ZeroMQ socket of every program of the suite is opened here.
 *
 * A program makes one vx_socks_t at start from its `transport` and `security` configuration
 * sections and opens each socket from a spec (type, endpoint, bind or connect, the few options
 * that differ per socket). The factory applies what no socket may go without: high-water
 * marks, linger, ZMQ_MAXMSGSIZE on every socket (on a receiving one a frame larger than the
 * largest legal batch, on a sending-only one, PUSH or PUB, a frame over 64 KiB, is refused by
 * libzmq before it reaches memory; the CURVE handshake is read under the same limit), and
 * CURVE:
 *
 *   - security.curve: required (the default). Every tcp:// and ipc:// socket is encrypted and
 *     authenticated. A bound socket presents <keys_dir>/server.key and admits only clients
 *     whose public key is in <keys_dir>/authorized/ (a ZAP handler, vx_zap.h, started before
 *     the first bind); the admitted key's file name is the sender's identity on every message
 *     (vx_rx_batch.peer). A connecting socket presents <keys_dir>/<identity>.key and accepts
 *     only a server holding <keys_dir>/server.key (it knows server.pub). Key files are loaded
 *     when the first socket needs them; a missing, malformed or group-readable one fails that
 *     open with a message naming the file, so the daemon refuses to start.
 *   - security.curve: off. Plain links, refused on any endpoint but loopback tcp://, ipc://
 *     and inproc://.
 * In-process sockets (inproc://) never use CURVE: they do not leave the process.
 *
 *     struct vx_sock_spec spec = {.type = ZMQ_PULL, .endpoint = "tcp://127.0.0.1:5550",
 *                                 .bind = true};
 *     zsock_t *s = vx_sock_open(socks, &spec, bound, sizeof bound, err, sizeof err);
 *
 * Every socket of a factory made with metrics (the daemons') that leaves the process, and every
 * socket whose spec asks for it (watch), is watched by the factory's socket monitor
 * (vx_sock_mon.h), the socket's only one: every failed handshake, which libzmq otherwise keeps to
 * itself (a plain peer is refused at its greeting, before the ZAP handler), is counted in
 * vexfs_zmq_handshake_failed_total{reason}, and a connecting socket whose connection libzmq
 * gave up on is reported by vx_sock_link_lost, for its owner to vx_sock_reopen it.
 *
 * No other file calls zsock_new. Sockets are used and destroyed (zsock_destroy) by the thread
 * that owns them; the factory itself is immutable after vx_socks_new and may be shared. */
#ifndef VX_SOCK_H
#define VX_SOCK_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_config.h"
#include "vx_metrics.h"

/* The transport section of every program: defaults for its sockets. */
struct vx_transport_config {
    int32_t hwm;              /* messages queued per socket and direction */
    int32_t linger_ms;        /* how long a closing socket may keep sending what is queued */
    int64_t max_message_bytes; /* largest frame a receiving socket accepts */
    int32_t io_threads;       /* libzmq I/O threads of the process (encryption runs there);
                                 0: libzmq's default (1) */
};
extern const struct vx_cfg_section vx_cfg_transport_section;

/* The security section of every program: the ZeroMQ part (see above) and the REST part
 * (vx_daemon.h: TLS for the admin server, the CA its HTTP clients verify with). */
struct vx_security_config {
    const char *curve;        /* "required" or "off" */
    const char *keys_dir;
    const char *identity;     /* "": the program's own name (vx_socks_new's program) */
    const char *tls;          /* "required" or "off" */
    const char *tls_dir;      /* ca.crt, server.crt, server.key, <name>.crt/.key */
    bool tls_client_auth;     /* mutual TLS on the admin server */
    const char *credentials_file; /* REST credentials (vx_creds.h) */
    const char *audit_dir;    /* "": no audit log */
    const char *audit_key_file; /* "": <keys_dir>/audit.key */
    bool metrics_open;        /* GET /metrics needs no credential */
};
extern const struct vx_cfg_section vx_cfg_security_section;

typedef struct vx_socks vx_socks_t;

/* Sentinel for hwm fields: no limit (only where another bound exists, e.g. a window). */
#define VX_SOCK_HWM_NONE (-1)

struct vx_sock_spec {
    int type;                 /* ZMQ_PUSH, ZMQ_PULL, ZMQ_PUB, ZMQ_SUB, ZMQ_ROUTER, ZMQ_DEALER,
                                 ZMQ_PAIR */
    const char *endpoint;     /* "tcp://host:port", "ipc://path" or "inproc://name"; several
                                 separated by commas */
    bool bind;                /* bind (servers) or connect (clients) */
    int sndhwm, rcvhwm;       /* 0: the transport default; VX_SOCK_HWM_NONE: unlimited */
    int sndtimeo_ms;          /* 0: a blocking send waits (libzmq's default) */
    int rcvtimeo_ms;          /* 0: a blocking receive waits */
    int linger_ms;            /* 0: the transport default */
    bool immediate;           /* queue only to completed connections (ZMQ_IMMEDIATE) */
    int reconnect_ivl_ms;     /* 0: libzmq's default (100 ms) */
    int reconnect_ivl_max_ms; /* 0: libzmq's default (no backoff) */
    const char *subscribe;    /* SUB: topic prefix to subscribe to (NULL: every message) */
    bool watch;               /* monitored even by a factory without metrics, for
                                 vx_sock_disconnects (the producers' link) */
};

/* Makes the factory of a program. sec NULL: no security applied at all (tests of the
 * factory's other options).
 * program: the default identity ("propagation"). metrics (may be NULL) receives the ZAP
 * handler's counters. Returns NULL with a message in err. cfg and sec are copied. */
vx_socks_t *vx_socks_new(const struct vx_transport_config *cfg,
                         const struct vx_security_config *sec, const char *program,
                         vx_metrics_t *metrics, char *err, size_t errlen);
/* Stops the ZAP handler: every socket of the factory must be closed before. */
void vx_socks_destroy(vx_socks_t **s);
/* Whether the factory's sockets use CURVE. */
bool vx_socks_curve(const vx_socks_t *s);

/* Gives the factory the key pair its connecting sockets present and the server public key they
 * accept, instead of <keys_dir>/<identity>.key and <keys_dir>/server.pub: for a program
 * configured with explicit key files (the client library). Call before the first connecting
 * socket opens; both are copied. */
struct vx_keypair;
void vx_socks_set_client_keys(vx_socks_t *s, const struct vx_keypair *client,
                              const char *server_public_txt);

/* Opens, configures and binds or connects one socket. bound (may be NULL) receives the
 * endpoint actually bound or connected (a wildcard port resolved). Returns the socket (caller
 * owns; zsock_destroy) or NULL with a message naming the endpoint in err. */
zsock_t *vx_sock_open(const vx_socks_t *socks, const struct vx_sock_spec *spec, char *bound,
                      size_t boundlen, char *err, size_t errlen);

/* Whether libzmq gave up on a connection of connecting socket z (borrowed): its peer broke
 * the protocol after the handshake (an over-limit frame, ZMQ_MAXMSGSIZE) or during it, and
 * libzmq 4.3 ends such a session without reconnecting. Known only for sockets of a factory made
 * with metrics (the daemons), from their socket monitor; cheap enough to ask every loop turn.
 * endpoint (may be NULL) receives the lost connection's endpoint. */
bool vx_sock_link_lost(const vx_socks_t *socks, const zsock_t *z, char *endpoint, size_t len);

/* Connections of connecting socket z (borrowed) that dropped so far, from the factory's socket
 * monitor (of a bound socket whose spec asked to be watched: its accepted connections that
 * dropped); 0 for a socket that is not monitored (a factory without metrics, unless its spec
 * asked to be watched). Compare with an earlier figure to learn of a drop. */
uint64_t vx_sock_disconnects(const vx_socks_t *socks, const zsock_t *z);

/* Connections of connecting socket z (borrowed) whose handshake succeeded so far, from the
 * same monitor (0 for a socket that is not monitored). A SUB socket learns from it that its
 * subscription is on its way to the publisher: ZeroMQ drops what a publisher sends before. */
uint64_t vx_sock_handshakes(const vx_socks_t *socks, const zsock_t *z);

/* Opens a new socket from spec and, once it is open, closes *z (what it still queued is lost,
 * as it was with the connection) and puts the new one in its place; counted in
 * vexfs_zmq_reopened_total. On failure *z is left as it was and err says why. Returns 0 or
 * -errno. */
int vx_sock_reopen(const vx_socks_t *socks, zsock_t **z, const struct vx_sock_spec *spec,
                   char *err, size_t errlen);

/* A connecting receiver that outlives its lost connections: what a daemon's input keeps to
 * ask, every loop turn, whether libzmq gave up on a connection of its socket, and to open the
 * socket again when it did (the checks are spaced VX_SOCK_KEEPER_CHECK_MS apart, so asking is
 * cheap). Plain data owned by the input's thread; the spec's endpoint is copied. */
#define VX_SOCK_KEEPER_CHECK_MS 250
struct vx_sock_keeper {
    const vx_socks_t *socks;  /* borrowed */
    struct vx_sock_spec spec; /* spec.endpoint points at endpoint */
    char endpoint[1024];
    uint64_t next_check_ns;
};
/* Fills k for sockets opened from spec through socks. */
void vx_sock_keeper_init(struct vx_sock_keeper *k, const vx_socks_t *socks,
                         const struct vx_sock_spec *spec);
/* Whether a check is due at now (vx_mono_ns()) and found a connection of z (borrowed) lost;
 * lost (may be NULL) receives its endpoint. For an owner that must let go of z before it is
 * replaced (a socket watched by an event loop): it then calls vx_sock_reopen with &k->spec. */
bool vx_sock_keeper_lost(struct vx_sock_keeper *k, const zsock_t *z, uint64_t now, char *lost,
                         size_t lostlen);
/* vx_sock_keeper_lost, then vx_sock_reopen when a connection was lost. Returns 1 when *z was
 * replaced (poll sets holding the old socket must be rebuilt), 0 when nothing was lost, or
 * -errno when the socket could not be opened again (err says why; *z is unchanged and the next
 * check, VX_SOCK_KEEPER_CHECK_MS later, tries again). The caller logs: lost names the endpoint
 * whose connection was lost. */
int vx_sock_keeper_check(struct vx_sock_keeper *k, zsock_t **z, uint64_t now, char *lost,
                         size_t lostlen, char *err, size_t errlen);

/* Failed handshakes counted by the factory's socket monitor so far (all reasons). */
uint64_t vx_socks_handshakes_failed(const vx_socks_t *socks);

/* A connected pair of in-process sockets (PUSH → PULL) for handing messages from other threads
 * to a loop; name must be unique in the process. Returns 0 or -errno. */
int vx_sock_pipe(const vx_socks_t *socks, const char *name, zsock_t **push, zsock_t **pull);

#endif
