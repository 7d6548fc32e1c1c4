/* SPDX-License-Identifier: Apache-2.0 */
/* The socket factory. */
#include "vx_sock.h"

#include <errno.h>
#include <string.h>

#include "vx_mem.h"
#include "vx_wire.h"

static const struct vx_cfg_key s_keys[] = {
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
};
const struct vx_cfg_section vx_cfg_transport_section =
    VX_CFG_SECTION("transport", s_keys, struct vx_transport_config, NULL);

struct vx_socks {
    struct vx_transport_config cfg;
};

vx_socks_t *
vx_socks_new(const struct vx_transport_config *cfg, char *err, size_t errlen)
{
    if (cfg->hwm < 1 || cfg->max_message_bytes < 1024) {
        snprintf(err, errlen, "transport: hwm and max_message_bytes must be positive");
        return NULL;
    }
    vx_socks_t *s = vx_calloc(1, sizeof *s);
    s->cfg = *cfg;
    return s;
}

void
vx_socks_destroy(vx_socks_t **s)
{
    vx_free(s);
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

zsock_t *
vx_sock_open(const vx_socks_t *socks, const struct vx_sock_spec *spec, char *bound,
             size_t boundlen, char *err, size_t errlen)
{
    if (!spec->endpoint || !spec->endpoint[0]) {
        snprintf(err, errlen, "no endpoint given");
        return NULL;
    }
    zsock_t *z = zsock_new(spec->type);
    if (!z) {
        snprintf(err, errlen, "%s: cannot create a ZeroMQ socket: %s", spec->endpoint,
                 zmq_strerror(zmq_errno()));
        return NULL;
    }
    zsock_set_sndhwm(z, s_hwm(socks, spec->sndhwm));
    zsock_set_rcvhwm(z, s_hwm(socks, spec->rcvhwm));
    zsock_set_linger(z, spec->linger_ms > 0 ? spec->linger_ms : socks->cfg.linger_ms);
    if (s_receives(spec->type)) {
        zsock_set_maxmsgsize(z, (int)socks->cfg.max_message_bytes);
    }
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
