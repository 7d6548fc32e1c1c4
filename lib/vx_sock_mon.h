/* SPDX-License-Identifier: Apache-2.0 */
/* The socket monitor of the factory (vx_sock.h): what libzmq decides about connections that
 * never reach the application, made visible.
 *
 * libzmq refuses some peers before any handler of ours runs: a peer that does not speak CURVE
 * is refused at its greeting, one whose CURVE handshake fails its cryptography, or breaks the
 * protocol, in the middle of the handshake. And a connecting socket whose peer broke the
 * protocol after the handshake (an over-limit frame, ZMQ_MAXMSGSIZE) loses that connection
 * for good: libzmq 4.3 ends the session without reconnecting. Neither is visible through the
 * socket itself; both are reported by zmq_socket_monitor.
 *
 * One thread per process (started with the factory's first monitored socket) reads the
 * monitor events of every monitored socket:
 *   - every failed handshake is counted in vexfs_zmq_handshake_failed_total{reason}:
 *     not_curve (the peer offered another security mechanism, e.g. a plain NULL client),
 *     crypto (a CURVE message did not decrypt: a wrong server key, a forged or replayed
 *     command), protocol (any other ZMTP violation during the handshake, e.g. a malformed or
 *     over-limit command), auth (refused by the ZAP handler, also counted in
 *     vexfs_zmq_auth_refused_total), closed (the peer vanished or timed out mid-handshake);
 *     refusals are logged at most every 10 s, with how many were not logged;
 *   - for a connecting socket, a connection that dropped without libzmq retrying it within
 *     VX_SOCK_MON_GRACE_MS is reported as lost (vx_sock_mon_lost), so the owner can reopen
 *     the socket, and every dropped connection is counted (vx_sock_mon_disconnects), so the
 *     producers' link (vx_link.h) knows its unacknowledged batches went with it. A socket has
 *     one monitor only (libzmq replaces an earlier one), so this is the only one.
 * Sockets are recognised by their zsock_t pointer; the newest registration of a pointer wins,
 * so a closed socket whose address is reused by a new one does not confuse them. */
#ifndef VX_SOCK_MON_H
#define VX_SOCK_MON_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_metrics.h"

/* How long a dropped connection of a connecting socket may go without libzmq's reconnect
 * starting before it counts as lost. libzmq schedules its retry as soon as it sees the drop. */
#define VX_SOCK_MON_GRACE_MS 1500

typedef struct vx_sock_mon vx_sock_mon_t;

/* Starts the monitor thread. metrics may be NULL (nothing counted). Returns NULL with a
 * message in err. */
vx_sock_mon_t *vx_sock_mon_start(vx_metrics_t *metrics, char *err, size_t errlen);
/* Stops the thread. Every monitored socket must be closed before. */
void vx_sock_mon_stop(vx_sock_mon_t **m);

/* Monitors z (borrowed; called by the thread that owns z, before it binds or connects).
 * connecting: also watch for lost connections. drops: a bound socket whose dropped
 * connections are counted too (vx_sock_mon_disconnects). Returns 0 or -errno. */
int vx_sock_mon_attach(vx_sock_mon_t *m, zsock_t *z, bool connecting, bool drops);
/* Forgets z before its owner closes it (optional: a closed socket is forgotten anyway). */
void vx_sock_mon_detach(vx_sock_mon_t *m, const zsock_t *z);
/* Whether a connection of connecting socket z dropped and libzmq did not retry it. endpoint
 * (may be NULL) receives the endpoint of that connection. */
bool vx_sock_mon_lost(vx_sock_mon_t *m, const zsock_t *z, char *endpoint, size_t len);

/* Connections of connecting socket z that dropped so far (0 for a socket not watched as
 * connecting). A consumer that must act on every drop (vx_link resends what the connection
 * took) remembers the last figure and compares. */
uint64_t vx_sock_mon_disconnects(vx_sock_mon_t *m, const zsock_t *z);

/* Connections of connecting socket z whose handshake succeeded so far (0 for a socket not
 * watched as connecting): a subscriber that must not miss the first messages of a publisher
 * waits for one. */
uint64_t vx_sock_mon_handshakes(vx_sock_mon_t *m, const zsock_t *z);

/* Failed handshakes seen so far, all reasons (tests). */
uint64_t vx_sock_mon_failed(const vx_sock_mon_t *m);

#endif
