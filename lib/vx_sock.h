/* SPDX-License-Identifier: Apache-2.0 */
/* The socket factory: every ZeroMQ socket of every program of the suite is opened here.
 *
 * A program makes one vx_socks_t at start from its `transport` configuration section and
 * opens each socket from a spec (type, endpoint, bind or connect, the few options that differ
 * per socket). The factory applies what no socket may go without: high-water marks, linger,
 * and on every socket that receives from the network ZMQ_MAXMSGSIZE, so a frame larger than
 * the largest legal batch is refused by libzmq before it reaches memory.
 *
 *     struct vx_sock_spec spec = {.type = ZMQ_PULL, .endpoint = "tcp://127.0.0.1:5550",
 *                                 .bind = true};
 *     zsock_t *s = vx_sock_open(socks, &spec, bound, sizeof bound, err, sizeof err);
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

/* The transport section of every program: defaults for its sockets. */
struct vx_transport_config {
    int32_t hwm;              /* messages queued per socket and direction */
    int32_t linger_ms;        /* how long a closing socket may keep sending what is queued */
    int64_t max_message_bytes; /* largest frame a receiving socket accepts */
};
extern const struct vx_cfg_section vx_cfg_transport_section;

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
};

/* Makes the factory of a program. Returns NULL with a message in err. cfg is copied. */
vx_socks_t *vx_socks_new(const struct vx_transport_config *cfg, char *err, size_t errlen);
void vx_socks_destroy(vx_socks_t **s);

/* Opens, configures and binds or connects one socket. bound (may be NULL) receives the
 * endpoint actually bound or connected (a wildcard port resolved). Returns the socket (caller
 * owns; zsock_destroy) or NULL with a message naming the endpoint in err. */
zsock_t *vx_sock_open(const vx_socks_t *socks, const struct vx_sock_spec *spec, char *bound,
                      size_t boundlen, char *err, size_t errlen);

/* A connected pair of in-process sockets (PUSH → PULL) for handing messages from other threads
 * to a loop; name must be unique in the process. Returns 0 or -errno. */
int vx_sock_pipe(const vx_socks_t *socks, const char *name, zsock_t **push, zsock_t **pull);

#endif
