/* SPDX-License-Identifier: Apache-2.0 */
/* The ZAP handler (ZeroMQ's authentication protocol, RFC 27): decides which CURVE clients a
 * process's bound sockets admit.
 *
 * Without a ZAP handler a CURVE server admits any client that knows the server's public key,
 * so every process that binds CURVE sockets runs one. It admits a client whose public key is
 * in the keyring and names it: the name becomes the User-Id property of every message that
 * client sends (zmq_msg_gets(msg, "User-Id")), which is how a receiver knows who sent a batch.
 * Every other request is refused and counted; the client's messages never arrive (ZeroMQ
 * closes its connection after the handshake). One handler per process, on its own thread. */
#ifndef VX_ZAP_H
#define VX_ZAP_H

#include <stdint.h>

#include "vx_keys.h"
#include "vx_metrics.h"

typedef struct vx_zap vx_zap_t;

/* Starts the handler with ring (ownership taken). metrics may be NULL; else refusals are
 * counted in vexfs_zmq_auth_refused_total{reason} and admissions in
 * vexfs_zmq_auth_admitted_total. Returns NULL with a message in err (another handler already
 * runs in this process, or the thread could not start). */
vx_zap_t *vx_zap_start(vx_keyring_t *ring, vx_metrics_t *metrics, char *err, size_t errlen);
/* Stops the thread. Sockets bound with CURVE must be closed first. */
void vx_zap_stop(vx_zap_t **z);

/* Requests refused and admitted so far. */
uint64_t vx_zap_refused(const vx_zap_t *z);
uint64_t vx_zap_admitted(const vx_zap_t *z);

#endif
