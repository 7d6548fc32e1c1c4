/* SPDX-License-Identifier: Apache-2.0 */
/* The ZeroMQ input of the leader, served inside the raft loop. */
#include "coord_input.h"

#include <czmq.h>
#include <string.h>

#include "coord_fsm.h"
#include "vx_clock.h"
#include "vx_log.h"
#include "vx_mem.h"
#include "vx_rx.h"
#include "vx_wire.h"

#define S_MAX_INFLIGHT 1024
#define S_DRAIN_MAX 512

/* The poll handle and the socket it watches go together: the socket is destroyed only after
 * libuv has closed the handle. */
struct s_attached {
    uv_poll_t poll;
    zsock_t *sock;
    coord_input_t *in;
};

struct coord_input {
    coord_raft_t *r;
    const vx_socks_t *socks;
    char ep[1024];
    struct s_attached *att;
    vx_rx_t *rx;
    uint64_t next_attempt_ns;
    struct vx_sock_keeper keep; /* the attached socket's spec; finds its lost connections */
};

static void
s_propose(coord_input_t *in, const void *data, size_t len)
{
    struct coord_op *op = coord_op_new(COORD_OP_APPLY, 1); /* the loop's only: nobody waits */
    op->fire_and_forget = true;
    op->part_kind = COORD_ENTRY_EVENTS;
    op->part = vx_malloc(len ? len : 1);
    memcpy(op->part, data, len);
    op->part_len = len;
    coord_group_add(in->r, op);
}

static void
s_drain(coord_input_t *in)
{
    struct s_attached *a = in->att;
    for (int i = 0; a && i < S_DRAIN_MAX && in->r->inflight < S_MAX_INFLIGHT; i++) {
        if (!(zsock_events(a->sock) & ZMQ_POLLIN)) {
            break;
        }
        struct vx_rx_batch b;
        int rc = vx_rx_recv(in->rx, a->sock, &b, ZMQ_DONTWAIT);
        if (rc == -EPROTO) {
            continue; /* counted by the receive path */
        }
        if (rc < 0) {
            break;
        }
        if (b.n_events > 0) {
            s_propose(in, b.data, b.len);
        }
    }
    coord_group_flush(in->r);
}

static void
cb_poll(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    struct s_attached *a = p->data;
    s_drain(a->in);
}

static void
cb_poll_closed(uv_handle_t *h)
{
    struct s_attached *a = h->data;
    zsock_destroy(&a->sock);
    free(a);
}

static void
s_detach(coord_input_t *in)
{
    if (!in->att) {
        return;
    }
    uv_poll_stop(&in->att->poll);
    uv_close((uv_handle_t *)&in->att->poll, cb_poll_closed);
    in->att = NULL;
    vx_info("COORD-INPUT", "input %s detached (not the leader)", in->ep);
}

/* Serves socket z (owned from now on) from the raft loop. */
static void
s_watch(coord_input_t *in, zsock_t *z)
{
    struct s_attached *a = vx_calloc(1, sizeof *a);
    a->sock = z;
    a->in = in;
    uv_poll_init(&in->r->loop, &a->poll, zsock_fd(z));
    a->poll.data = a;
    uv_poll_start(&a->poll, UV_READABLE, cb_poll);
    in->att = a;
}

static void
s_attach(coord_input_t *in)
{
    uint64_t now = vx_mono_ns();
    if (now < in->next_attempt_ns) {
        return;
    }
    char err[512];
    zsock_t *s = vx_sock_open(in->socks, &in->keep.spec, NULL, 0, err, sizeof err);
    if (!s) {
        vx_warn("COORD-INPUT", "cannot attach input: %s", err);
        in->next_attempt_ns = now + VX_NS_PER_S;
        return;
    }
    s_watch(in, s);
    vx_info("COORD-INPUT", "input %s attached (leader)", in->ep);
}

/* libzmq 4.3 ends the input's connection for good when routing's side breaks the protocol (an
 * over-limit frame) and never reconnects it: the socket monitor reports it (vx_sock.h) and the
 * input is opened again, so one bad frame cannot cut the leader from routing. The old socket's
 * poll handle is stopped before the socket closes; it is released when libuv closes it. */
static void
s_check_lost(coord_input_t *in)
{
    char ep[256] = "", err[512];
    struct s_attached *a = in->att;
    if (!a || !vx_sock_keeper_lost(&in->keep, a->sock, vx_mono_ns(), ep, sizeof ep)) {
        return;
    }
    uv_poll_stop(&a->poll);
    zsock_t *z = a->sock;
    if (vx_sock_reopen(in->socks, &z, &in->keep.spec, err, sizeof err) < 0) {
        uv_poll_start(&a->poll, UV_READABLE, cb_poll);
        vx_error("COORD-INPUT-REOPEN", "the input's connection to %s was lost and it cannot be "
                                       "opened again (next try in %d ms): %s",
                 ep, VX_SOCK_KEEPER_CHECK_MS, err);
        return;
    }
    a->sock = NULL; /* closed by vx_sock_reopen */
    uv_close((uv_handle_t *)&a->poll, cb_poll_closed);
    s_watch(in, z);
    vx_warn("COORD-INPUT-REOPEN", "the input's connection to %s was ended by a protocol error "
                                  "and libzmq does not reconnect it: input socket opened again",
            ep);
}

coord_input_t *
coord_input_new(coord_raft_t *r, const vx_socks_t *socks, const char *endpoint)
{
    coord_input_t *in = vx_calloc(1, sizeof *in);
    in->r = r;
    in->socks = socks;
    snprintf(in->ep, sizeof in->ep, "%s", endpoint);
    vx_sock_keeper_init(&in->keep, socks,
                        &(struct vx_sock_spec){.type = ZMQ_PULL, .endpoint = endpoint,
                                               .rcvhwm = 1000});
    /* Decoded only to check: the batch is proposed as the bytes it arrived in. */
    struct vx_rx_opts o = {.decode = true};
    struct vx_rx_counters c = {.drops = &r->m_input_drops, .batches = r->m_input_batches,
                               .events = r->m_input_events};
    in->rx = vx_rx_new("coordinator input", &o, &c);
    return in;
}

void
coord_input_update(coord_input_t *in, bool leader)
{
    if (leader && !in->att) {
        s_attach(in);
    } else if (!leader && in->att) {
        s_detach(in);
    } else if (in->att) {
        s_check_lost(in);
    }
    s_drain(in);
}

void
coord_input_destroy(coord_input_t **inp)
{
    if (!inp || !*inp) {
        return;
    }
    s_detach(*inp);
    vx_rx_destroy(&(*inp)->rx);
    vx_free(inp);
}
