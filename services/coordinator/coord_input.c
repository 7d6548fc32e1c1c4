/* SPDX-License-Identifier: Apache-2.0 */
/* The ZeroMQ input of the leader, served inside the raft loop. */
#include "coord_input.h"

#include <czmq.h>
#include <string.h>

#include "coord_fsm.h"
#include "vx_ackin.h"
#include "vx_clock.h"
#include "vx_log.h"
#include "vx_mem.h"
#include "vx_rx.h"
#include "vx_wire.h"

#define S_MAX_INFLIGHT 1024
#define S_DRAIN_MAX 512
/* Outcomes of proposals not yet folded into `reached`: more than can be in flight. */
#define S_RING (2 * S_MAX_INFLIGHT)

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
    /* input_acked: the receiver of the attached socket (NULL while detached), and the epochs
     * its acknowledgements wait for (see coord_input.h). Proposals numbered up to gen_base
     * belong to an earlier receiver: their outcome no longer matters. */
    bool acked;
    vx_ackin_t *ackin;
    uint64_t proposed;   /* input proposals made, ever: the epoch of the last one */
    uint64_t reached;    /* every proposal up to this one was applied (or is gen_base's) */
    uint64_t gen_base;
    bool broken;         /* a proposal of this receiver failed: retake at the next turn */
    bool applied[S_RING]; /* applied[e % S_RING]: proposal e (> reached) applied */
    vx_counter_t *m_retakes;
};

/* Proposes one batch; returns its epoch (the count of input proposals so far). */
static uint64_t
s_propose(coord_input_t *in, const void *data, size_t len)
{
    struct coord_op *op = coord_op_new(COORD_OP_APPLY, 1); /* the loop's only: nobody waits */
    op->fire_and_forget = true;
    op->part_kind = COORD_ENTRY_EVENTS;
    op->part = vx_malloc(len ? len : 1);
    memcpy(op->part, data, len);
    op->part_len = len;
    op->input_epoch = ++in->proposed;
    coord_group_add(in->r, op);
    return op->input_epoch;
}

/* The receiver of an acknowledged input, for the socket being attached: made anew at every
 * attach, so batches the previous one took but never had applied are taken again. Its
 * senders record (only batches acknowledged) lives in data_dir. NULL with the reason logged. */
static vx_ackin_t *
s_ackin_new(coord_input_t *in)
{
    coord_raft_t *r = in->r;
    struct vx_ackin_opts o = {
        .acked = true,
        .senders_max = r->opts.input_senders_max ? r->opts.input_senders_max : 1024,
        .save_ms = r->opts.input_senders_save_ms > 0 ? r->opts.input_senders_save_ms : 1000,
        .state_dir = r->data_dir,
        .sealer = r->opts.sealer,
        .rx = in->rx,
        .drops = &r->m_input_drops,
        .prefix = "vexfs_coordinator_input",
        .where = "distributed_coordination.data_dir",
    };
    char err[1024];
    vx_ackin_t *a = vx_ackin_new(&o, r->metrics, err, sizeof err);
    if (!a) {
        vx_error("COORD-INPUT-SENDERS", "acknowledged input not attached: %s", err);
    }
    return a;
}

/* Forgets every proposal made so far: from now on only new ones count towards `reached`. */
static void
s_epochs_restart(coord_input_t *in)
{
    in->gen_base = in->proposed;
    in->reached = in->proposed;
    in->broken = false;
    memset(in->applied, 0, sizeof in->applied);
}

/* A proposal of the attached receiver failed (leadership lost, disk full): none after it may
 * be acknowledged before it, and it must be taken again when routing sends it again, so the
 * receiver is made anew (its queued acknowledgements dropped, its record of batches taken
 * reread from the batches acknowledged). Routing resends what stays unanswered. */
static void
s_retake(coord_input_t *in)
{
    if (!in->broken) {
        return;
    }
    s_epochs_restart(in);
    if (!in->ackin) {
        return;
    }
    vx_ackin_destroy(&in->ackin);
    vx_counter_add(in->m_retakes, 1);
    in->ackin = s_ackin_new(in);
    vx_warn("COORD-INPUT-RETAKE", "a proposal from the input failed: its batch and those after "
                                  "it are left unacknowledged, for routing to send again");
}

void
coord_input_finished(coord_input_t *in, uint64_t epoch, int status)
{
    if (epoch <= in->gen_base || epoch <= in->reached) {
        return;
    }
    if (status != 0) {
        in->broken = true;
        return;
    }
    in->applied[epoch % S_RING] = true;
    while (in->reached < in->proposed && in->applied[(in->reached + 1) % S_RING]) {
        in->reached++;
        in->applied[in->reached % S_RING] = false;
    }
}

void
coord_input_flush(coord_input_t *in)
{
    if (in->ackin && in->att) {
        vx_ackin_flush(in->ackin, in->att->sock, in->reached);
    }
}

/* One batch from the attached socket: 0 (proposed, or nothing to propose), -EAGAIN when
 * nothing waits, -EPROTO when the batch was refused (counted by the receive path). */
static int
s_take(coord_input_t *in, struct s_attached *a)
{
    struct vx_rx_batch b;
    if (!in->acked) {
        int rc = vx_rx_recv(in->rx, a->sock, &b, ZMQ_DONTWAIT);
        if (rc == 0 && b.n_events > 0) {
            s_propose(in, b.data, b.len);
        }
        return rc == -EPROTO || rc == 0 ? rc : -EAGAIN;
    }
    int rc = vx_ackin_recv(in->ackin, a->sock, &b);
    if (rc == -EALREADY) {
        return 0; /* a resend of a batch acknowledged: answered again */
    }
    if (rc < 0) {
        return rc == -EPROTO ? rc : -EAGAIN;
    }
    /* An empty batch is answered behind what was proposed before it. */
    vx_ackin_done(in->ackin, b.n_events > 0 ? s_propose(in, b.data, b.len) : in->proposed);
    return 0;
}

static void
s_drain(coord_input_t *in)
{
    struct s_attached *a = in->att;
    if (a && in->acked && !in->ackin) {
        /* Its receiver could not be made again (logged): nothing is read, routing waits. */
        uint64_t now = vx_mono_ns();
        if (now < in->next_attempt_ns || !(in->ackin = s_ackin_new(in))) {
            in->next_attempt_ns = now + VX_NS_PER_S;
            return;
        }
    }
    for (int i = 0; a && i < S_DRAIN_MAX && in->r->inflight < S_MAX_INFLIGHT; i++) {
        if (!(zsock_events(a->sock) & ZMQ_POLLIN)) {
            break;
        }
        int rc = s_take(in, a);
        if (rc == -EPROTO) {
            continue; /* counted by the receive path */
        }
        if (rc < 0) {
            break;
        }
    }
    coord_group_flush(in->r);
    s_retake(in);
    coord_input_flush(in);
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
    /* What this leader took and had not acknowledged is sent again by routing, to the next
     * leader (or to this node, which then takes it again). */
    vx_ackin_destroy(&in->ackin);
    s_epochs_restart(in);
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
    if (in->acked) {
        s_epochs_restart(in);
        in->ackin = s_ackin_new(in);
        if (!in->ackin) {
            in->next_attempt_ns = now + VX_NS_PER_S;
            return;
        }
    }
    zsock_t *s = vx_sock_open(in->socks, &in->keep.spec, NULL, 0, err, sizeof err);
    if (!s) {
        vx_warn("COORD-INPUT", "cannot attach input: %s", err);
        vx_ackin_destroy(&in->ackin);
        in->next_attempt_ns = now + VX_NS_PER_S;
        return;
    }
    s_watch(in, s);
    vx_info("COORD-INPUT", "input %s attached (leader%s)", in->ep,
            in->acked ? ", acknowledged" : "");
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
    if (in->ackin) {
        /* Its queued acknowledgements name connections of the closed socket. */
        vx_ackin_destroy(&in->ackin);
        s_epochs_restart(in);
        in->ackin = s_ackin_new(in);
    }
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
    in->acked = r->opts.input_acked;
    struct vx_sock_spec spec = {.type = in->acked ? ZMQ_ROUTER : ZMQ_PULL, .endpoint = endpoint,
                                .rcvhwm = 1000};
    if (in->acked) {
        spec.sndhwm = VX_SOCK_HWM_NONE; /* acknowledgements: one per batch, never dropped */
        in->m_retakes = vx_metrics_counter(r->metrics, "vexfs_coordinator_input_retakes_total",
                                           "Times a failed proposal from the acknowledged "
                                           "input left its batch and those after it "
                                           "unacknowledged, for routing to send again.",
                                           NULL);
    }
    vx_sock_keeper_init(&in->keep, socks, &spec);
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
    if (in->ackin) {
        vx_ackin_tick(in->ackin);
    }
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
