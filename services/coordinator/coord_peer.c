/* SPDX-License-Identifier: Apache-2.0 */
/* The authenticated raft transport (see coord_peer.h): listening and connecting, the handshake
 * on the wire, and the sealed relay between the network and libraft's end of a socketpair.
 *
 * A connection goes CONNECTING (outgoing TCP connect) or HELLO (accepted, waiting for the
 * hello), then REPLY / PROOF (the other handshake messages), then RELAY, then CLOSED. Closing
 * closes every handle the connection holds; it is freed when the last close callback ran, so
 * a write callback or a timer that fires meanwhile still finds it. */
#include "coord_peer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include "vx_clock.h"
#include "vx_log.h"
#include "vx_mem.h"

#define S_CHUNK (64 * 1024) /* bytes of libraft's stream per frame at most */
#define S_ABYTES crypto_secretstream_xchacha20poly1305_ABYTES
#define S_HEADER crypto_secretstream_xchacha20poly1305_HEADERBYTES
#define S_FRAME_MAX (1 + S_CHUNK + S_ABYTES) /* sealed bytes of one frame */
#define S_IN_CAP (4 + S_FRAME_MAX)           /* network bytes held unconsumed */
#define S_QUEUE_HIGH (8u << 20)              /* stop reading the source above this queue */
#define S_QUEUE_LOW (1u << 20)               /* and read again below this */
#define S_LOG_EVERY_NS (10 * VX_NS_PER_S)
#define S_PROOF_MSG (COORD_HS_PROOF_LEN + S_HEADER)

enum s_type {
    S_DATA = 0, /* bytes of libraft's stream */
    S_VIEW = 1, /* a view frame for the receiving node (coord_peer_send_view) */
};

enum s_state {
    S_CONNECTING,
    S_HELLO,
    S_REPLY,
    S_PROOF,
    S_RELAY,
    S_CLOSED,
};

enum s_reason {
    S_R_BAD_HANDSHAKE, /* bytes that are not this protocol's messages */
    S_R_UNKNOWN_KEY,   /* a static key that is not admitted */
    S_R_BAD_PROOF,     /* a mac that does not check: the key's secret half is not held */
    S_R_WRONG_NODE,    /* a hello meant for another raft id */
    S_R_TIMEOUT,       /* the handshake did not complete in time */
    S_R_BUSY,          /* too many handshakes at once */
    S_R_BAD_FRAME,     /* a frame that does not open, or bytes where none may come */
    S_R_CLOSED,        /* the peer closed during the handshake (it refused this node) */
    S_NR
};

static const char *const s_reason_names[S_NR] = {
    [S_R_BAD_HANDSHAKE] = "bad_handshake", [S_R_UNKNOWN_KEY] = "unknown_key",
    [S_R_BAD_PROOF] = "bad_proof",         [S_R_WRONG_NODE] = "wrong_node",
    [S_R_TIMEOUT] = "timeout",             [S_R_BUSY] = "busy",
    [S_R_BAD_FRAME] = "bad_frame",         [S_R_CLOSED] = "closed",
};

enum {
    S_IN = 0,
    S_OUT = 1,
};
static const char *const s_dir_names[2] = {"inbound", "outbound"};

struct s_peer;

struct s_conn {
    struct s_peer *p;
    struct s_conn *prev, *next;
    bool outbound;
    enum s_state state;
    struct raft_uv_connect *req; /* outgoing: libraft's request, answered once */
    uv_connect_t connect;
    uv_tcp_t tcp;
    uv_pipe_t local;             /* our end of the socketpair (RELAY) */
    uv_pipe_t *theirs;           /* libraft's end until handed over (raft_malloc) */
    uv_timer_t timer;
    unsigned open;               /* our handles not closed yet */
    bool tcp_open, local_open;
    bool handshaking;            /* an incoming one counted in p->handshaking */
    bool tcp_paused, local_paused;
    uint64_t peer_id;
    char peer_addr[COORD_HS_MAX_ADDR + 1];
    char remote[64];             /* the network address of the other end, for logs */
    struct coord_hs hs;
    crypto_secretstream_xchacha20poly1305_state ss;
    uint8_t *in;                 /* S_IN_CAP: network bytes not consumed yet */
    size_t in_len;
    uint8_t *chunk;              /* outgoing RELAY: a type byte, then what libraft wrote */
};

struct s_peer {
    struct raft_uv_transport *t;
    uv_loop_t *loop;
    struct coord_peer_opts o;
    char bind[96];
    uint64_t id;
    const char *address;         /* raft's own, borrowed as libraft's transport does */
    uv_tcp_t listener;
    bool listener_open;
    raft_uv_accept_cb accept_cb;
    struct s_conn *conns;
    unsigned handshaking;
    bool closing;
    raft_uv_transport_close_cb close_cb;
    vx_counter_t *m_conn[2];
    vx_counter_t *m_refused[2][S_NR];
    uint64_t log_last_ns[S_NR];
    uint64_t log_quiet[S_NR];
};

struct s_write {
    uv_write_t req;
    struct s_conn *c;
    uint8_t data[];
};

static void s_process(struct s_conn *c);
static void cb_alloc_chunk(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void cb_read_local_out(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* ---- connections: life and death ------------------------------------------------------------ */

static void
s_maybe_closed(struct s_peer *p)
{
    if (p->closing && !p->listener_open && !p->conns && p->close_cb) {
        raft_uv_transport_close_cb cb = p->close_cb;
        p->close_cb = NULL;
        cb(p->t);
    }
}

static void
s_conn_free(struct s_conn *c)
{
    struct s_peer *p = c->p;
    if (c->prev) {
        c->prev->next = c->next;
    } else {
        p->conns = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    coord_hs_wipe(&c->hs);
    sodium_memzero(&c->ss, sizeof c->ss);
    free(c->in);
    free(c->chunk);
    free(c);
    s_maybe_closed(p);
}

static void
cb_handle_closed(uv_handle_t *h)
{
    struct s_conn *c = h->data;
    if (--c->open == 0) {
        s_conn_free(c);
    }
}

static void
cb_raft_end_closed(uv_handle_t *h)
{
    raft_free(h);
}

static struct s_conn *
s_conn_new(struct s_peer *p, bool outbound)
{
    struct s_conn *c = vx_calloc(1, sizeof *c);
    c->p = p;
    c->outbound = outbound;
    c->in = vx_malloc(S_IN_CAP);
    uv_timer_init(p->loop, &c->timer);
    c->timer.data = c;
    c->open = 1;
    uv_tcp_init(p->loop, &c->tcp);
    c->tcp.data = c;
    c->tcp_open = true;
    c->open++;
    c->next = p->conns;
    if (p->conns) {
        p->conns->prev = c;
    }
    p->conns = c;
    return c;
}

/* Closes everything the connection holds; an outgoing request still waiting is answered. */
static void
s_conn_close(struct s_conn *c)
{
    if (c->state == S_CLOSED) {
        return;
    }
    struct s_peer *p = c->p;
    c->state = S_CLOSED;
    if (c->handshaking) {
        c->handshaking = false;
        p->handshaking--;
    }
    uv_close((uv_handle_t *)&c->timer, cb_handle_closed);
    if (c->tcp_open) {
        c->tcp_open = false;
        uv_close((uv_handle_t *)&c->tcp, cb_handle_closed);
    }
    if (c->local_open) {
        c->local_open = false;
        uv_close((uv_handle_t *)&c->local, cb_handle_closed);
    }
    if (c->theirs) {
        uv_close((uv_handle_t *)c->theirs, cb_raft_end_closed);
        c->theirs = NULL;
    }
    if (c->req) {
        struct raft_uv_connect *req = c->req;
        c->req = NULL;
        req->cb(req, NULL, p->closing ? RAFT_CANCELED : RAFT_NOCONNECTION);
    }
}

/* Counts and logs a refusal (one line per reason every S_LOG_EVERY_NS) and closes. */
static void __attribute__((format(printf, 3, 4)))
s_refuse(struct s_conn *c, enum s_reason why, const char *fmt, ...)
{
    struct s_peer *p = c->p;
    int dir = c->outbound ? S_OUT : S_IN;
    vx_counter_add(p->m_refused[dir][why], 1);
    uint64_t now = vx_mono_ns();
    if (p->log_last_ns[why] == 0 || now - p->log_last_ns[why] >= S_LOG_EVERY_NS) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        char more[96] = "";
        if (p->log_quiet[why] > 0) {
            snprintf(more, sizeof more, " (and %" PRIu64 " more for this reason since the last "
                                        "line)",
                     p->log_quiet[why]);
        }
        vx_warn("COORD-PEER-REFUSED", "%s raft connection %s %s refused (%s): %s%s",
                s_dir_names[dir], c->outbound ? "to" : "from", c->remote, s_reason_names[why],
                msg, more);
        p->log_last_ns[why] = now;
        p->log_quiet[why] = 0;
    } else {
        p->log_quiet[why]++;
    }
    s_conn_close(c);
}

static void
cb_timeout(uv_timer_t *t)
{
    struct s_conn *c = t->data;
    if (c->state == S_CONNECTING) {
        s_conn_close(c); /* unreachable: not a refusal, libraft retries */
    } else if (c->state < S_RELAY) {
        s_refuse(c, S_R_TIMEOUT, "no complete handshake within %u ms",
                 c->p->o.handshake_timeout_ms);
    }
}

/* ---- writing ------------------------------------------------------------------------------ */

static void
cb_written_tcp(uv_write_t *req, int status)
{
    struct s_write *w = (struct s_write *)req;
    struct s_conn *c = w->c;
    free(w);
    if (status < 0) {
        s_conn_close(c);
        return;
    }
    if (c->local_paused && c->state == S_RELAY && c->tcp.write_queue_size < S_QUEUE_LOW) {
        c->local_paused = false;
        uv_read_start((uv_stream_t *)&c->local, cb_alloc_chunk, cb_read_local_out);
    }
}

/* Writes bytes as they are (handshake messages). */
static void
s_send_raw(struct s_conn *c, const void *data, size_t len)
{
    struct s_write *w = vx_malloc(sizeof *w + len);
    w->c = c;
    memcpy(w->data, data, len);
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, cb_written_tcp) != 0) {
        free(w);
        s_conn_close(c);
    }
}

/* Seals plain (a type byte and its data) into one frame and writes it. */
static void
s_send_frame(struct s_conn *c, const uint8_t *plain, size_t plen)
{
    struct s_write *w = vx_malloc(sizeof *w + 4 + plen + S_ABYTES);
    w->c = c;
    unsigned long long clen = 0;
    crypto_secretstream_xchacha20poly1305_push(&c->ss, w->data + 4, &clen, plain, plen, NULL, 0,
                                               0);
    w->data[0] = (uint8_t)(clen >> 24);
    w->data[1] = (uint8_t)(clen >> 16);
    w->data[2] = (uint8_t)(clen >> 8);
    w->data[3] = (uint8_t)clen;
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)(4 + clen));
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, cb_written_tcp) != 0) {
        free(w);
        s_conn_close(c);
    }
}

/* ---- the relay ------------------------------------------------------------------------------ */

static void
cb_alloc_chunk(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct s_conn *c = h->data;
    *buf = uv_buf_init((char *)c->chunk + 1, S_CHUNK);
}

/* Outgoing: what libraft wrote goes out sealed. */
static void
cb_read_local_out(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct s_conn *c = s->data;
    if (nread == 0 || c->state != S_RELAY) {
        return;
    }
    if (nread < 0) {
        s_conn_close(c); /* libraft closed its end */
        return;
    }
    c->chunk[0] = S_DATA;
    s_send_frame(c, c->chunk, 1 + (size_t)nread);
    if (c->state == S_RELAY && c->tcp.write_queue_size > S_QUEUE_HIGH) {
        c->local_paused = true;
        uv_read_stop((uv_stream_t *)&c->local);
    }
}

static void
cb_alloc_small(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct s_conn *c = h->data;
    /* Incoming: libraft never writes on an accepted stream; a read only tells its end closed. */
    *buf = uv_buf_init((char *)c->chunk, 64);
}

static void
cb_read_local_in(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct s_conn *c = s->data;
    if (nread < 0) {
        s_conn_close(c);
    }
}

static void
cb_alloc_in(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct s_conn *c = h->data;
    *buf = uv_buf_init((char *)c->in + c->in_len, (unsigned)(S_IN_CAP - c->in_len));
}

static void
cb_read_tcp(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct s_conn *c = s->data;
    if (nread == 0 || c->state == S_CLOSED) {
        return;
    }
    if (nread < 0) {
        if (c->state == S_REPLY) {
            s_refuse(c, S_R_CLOSED, "node %" PRIu64 " closed the connection during the handshake "
                                    "(it does not admit this node's key, or is not node %" PRIu64
                                    ")",
                     c->peer_id, c->peer_id);
        } else if (c->state < S_RELAY && c->in_len > 0) {
            s_refuse(c, S_R_BAD_HANDSHAKE, "closed with an incomplete handshake message");
        } else {
            s_conn_close(c);
        }
        return;
    }
    c->in_len += (size_t)nread;
    s_process(c);
}

static void
cb_written_local(uv_write_t *req, int status)
{
    struct s_write *w = (struct s_write *)req;
    struct s_conn *c = w->c;
    free(w);
    if (status < 0) {
        s_conn_close(c);
        return;
    }
    if (c->tcp_paused && c->state == S_RELAY && c->local.write_queue_size < S_QUEUE_LOW) {
        c->tcp_paused = false;
        uv_read_start((uv_stream_t *)&c->tcp, cb_alloc_in, cb_read_tcp);
    }
}

/* Incoming RELAY: opens one frame of len sealed bytes. Returns 0 or -EBADMSG. */
static int
s_open_frame(struct s_conn *c, const uint8_t *sealed, size_t len)
{
    struct s_write *w = vx_malloc(sizeof *w + len);
    w->c = c;
    unsigned long long mlen = 0;
    unsigned char tag = 0;
    if (crypto_secretstream_xchacha20poly1305_pull(&c->ss, w->data, &mlen, &tag, sealed, len,
                                                   NULL, 0) != 0 ||
        mlen < 1 || tag != 0) {
        free(w);
        return -EBADMSG;
    }
    if (w->data[0] == S_VIEW) {
        if (c->p->o.on_view && mlen - 1 <= COORD_PEER_VIEW_MAX) {
            c->p->o.on_view(c->p->o.view_arg, c->peer_id, w->data + 1, (size_t)mlen - 1);
        }
        free(w);
        return 0;
    }
    if (w->data[0] != S_DATA) {
        free(w);
        return -EBADMSG;
    }
    uv_buf_t b = uv_buf_init((char *)w->data + 1, (unsigned)(mlen - 1));
    if (uv_write(&w->req, (uv_stream_t *)&c->local, &b, 1, cb_written_local) != 0) {
        free(w);
        s_conn_close(c);
        return 0;
    }
    if (!c->tcp_paused && c->local.write_queue_size > S_QUEUE_HIGH) {
        c->tcp_paused = true;
        uv_read_stop((uv_stream_t *)&c->tcp);
    }
    return 0;
}

/* The handshake is done: a socketpair, our end relayed, libraft's end handed over. */
static void
s_handover(struct s_conn *c)
{
    struct s_peer *p = c->p;
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) {
        vx_warn("COORD-PEER", "socketpair: %s", strerror(errno));
        s_conn_close(c);
        return;
    }
    uv_pipe_init(p->loop, &c->local, 0);
    c->local.data = c;
    c->local_open = true;
    c->open++;
    c->theirs = raft_malloc(sizeof *c->theirs);
    if (!c->theirs) {
        vx_oom(sizeof *c->theirs);
    }
    uv_pipe_init(p->loop, c->theirs, 0);
    if (uv_pipe_open(&c->local, fds[0]) != 0 || uv_pipe_open(c->theirs, fds[1]) != 0) {
        s_conn_close(c);
        return;
    }
    c->chunk = vx_malloc(1 + S_CHUNK);
    c->state = S_RELAY;
    uv_timer_stop(&c->timer);
    if (c->handshaking) {
        c->handshaking = false;
        p->handshaking--;
    }
    coord_hs_wipe(&c->hs);
    int dir = c->outbound ? S_OUT : S_IN;
    vx_counter_add(p->m_conn[dir], 1);
    vx_debug("COORD-PEER", "%s raft connection %s node %" PRIu64 " (%s) authenticated",
             s_dir_names[dir], c->outbound ? "to" : "from", c->peer_id, c->remote);
    uv_pipe_t *theirs = c->theirs;
    c->theirs = NULL;
    if (c->outbound) {
        uv_read_start((uv_stream_t *)&c->local, cb_alloc_chunk, cb_read_local_out);
        struct raft_uv_connect *req = c->req;
        c->req = NULL;
        req->cb(req, (uv_stream_t *)theirs, 0);
    } else {
        uv_read_start((uv_stream_t *)&c->local, cb_alloc_small, cb_read_local_in);
        p->accept_cb(p->t, c->peer_id, c->peer_addr, (uv_stream_t *)theirs);
    }
}

/* ---- the handshake on the wire ----------------------------------------------------------- */

/* Server: the hello at c->in, complete. Returns bytes consumed, or 0 after refusing. */
static size_t
s_on_hello(struct s_conn *c, size_t size)
{
    struct s_peer *p = c->p;
    int rc = coord_hs_read_hello(&c->hs, c->in, size);
    if (rc == -EPROTO) {
        s_refuse(c, S_R_BAD_HANDSHAKE, "malformed hello");
        return 0;
    }
    c->peer_id = c->hs.client_id;
    snprintf(c->peer_addr, sizeof c->peer_addr, "%s", c->hs.client_addr);
    if (rc == -ENXIO) {
        s_refuse(c, S_R_WRONG_NODE, "node %" PRIu64 " (%s) means to reach another raft id than "
                                    "this node's %" PRIu64,
                 c->peer_id, c->peer_addr, p->id);
        return 0;
    }
    if (!coord_peer_keys_admitted(p->o.keys, c->hs.peer_s)) {
        char txt[VX_KEY_TXT] = "?";
        zmq_z85_encode(txt, c->hs.peer_s, COORD_HS_KEY);
        s_refuse(c, S_R_UNKNOWN_KEY, "node %" PRIu64 " (%s) presents key %s, which is "
                                     "not among the authorized/ keys raft_peer_keys admits",
                 c->peer_id, c->peer_addr, txt);
        return 0;
    }
    uint8_t reply[COORD_HS_REPLY_LEN];
    if (coord_hs_reply(&c->hs, reply) < 0) {
        s_refuse(c, S_R_BAD_HANDSHAKE, "node %" PRIu64 ": an ephemeral key DH refuses",
                 c->peer_id);
        return 0;
    }
    c->state = S_PROOF;
    s_send_raw(c, reply, sizeof reply);
    return c->state == S_CLOSED ? 0 : size;
}

/* Client: the reply at c->in. Returns bytes consumed, or 0 after refusing. */
static size_t
s_on_reply(struct s_conn *c)
{
    struct s_peer *p = c->p;
    int rc = coord_hs_read_reply(&c->hs, c->in);
    if (!coord_peer_keys_admitted(p->o.keys, c->hs.peer_s)) {
        char txt[VX_KEY_TXT] = "?";
        zmq_z85_encode(txt, c->hs.peer_s, COORD_HS_KEY);
        s_refuse(c, S_R_UNKNOWN_KEY, "the server at node %" PRIu64 "'s address presents key %s, "
                                     "which is not admitted",
                 c->peer_id, txt);
        return 0;
    }
    if (rc < 0) {
        s_refuse(c, rc == -EACCES ? S_R_BAD_PROOF : S_R_BAD_HANDSHAKE,
                 "the server at node %" PRIu64 "'s address does not prove it holds its key",
                 c->peer_id);
        return 0;
    }
    uint8_t msg[S_PROOF_MSG], key[COORD_HS_KEY];
    coord_hs_proof(&c->hs, msg);
    coord_hs_stream_key(&c->hs, key);
    crypto_secretstream_xchacha20poly1305_init_push(&c->ss, msg + COORD_HS_PROOF_LEN, key);
    sodium_memzero(key, sizeof key);
    s_send_raw(c, msg, sizeof msg);
    if (c->state == S_CLOSED) {
        return 0;
    }
    s_handover(c);
    return c->state == S_CLOSED ? 0 : COORD_HS_REPLY_LEN;
}

/* Server: the proof and stream header at c->in. Returns bytes consumed, or 0 after
 * refusing. */
static size_t
s_on_proof(struct s_conn *c)
{
    if (coord_hs_check_proof(&c->hs, c->in) < 0) {
        s_refuse(c, S_R_BAD_PROOF, "node %" PRIu64 " (%s) does not prove it holds the key it "
                                   "presents",
                 c->peer_id, c->peer_addr);
        return 0;
    }
    uint8_t key[COORD_HS_KEY];
    coord_hs_stream_key(&c->hs, key);
    int rc = crypto_secretstream_xchacha20poly1305_init_pull(&c->ss, c->in + COORD_HS_PROOF_LEN,
                                                             key);
    sodium_memzero(key, sizeof key);
    if (rc != 0) {
        s_refuse(c, S_R_BAD_HANDSHAKE, "node %" PRIu64 ": bad stream header", c->peer_id);
        return 0;
    }
    s_handover(c);
    return c->state == S_CLOSED ? 0 : S_PROOF_MSG;
}

/* Consumes what c->in holds, message by message, as far as the state allows. */
static void
s_process(struct s_conn *c)
{
    size_t off = 0;
    while (c->state != S_CLOSED) {
        const uint8_t *in = c->in + off;
        size_t have = c->in_len - off, used = 0;
        if (c->state == S_HELLO) {
            if (have < COORD_HS_HELLO_FIXED) {
                break;
            }
            size_t size = coord_hs_hello_size(in);
            if (size == 0) {
                s_refuse(c, S_R_BAD_HANDSHAKE, "not a raft peer hello");
                return;
            }
            if (have < size) {
                break;
            }
            if (off) { /* the hello is read in place */
                memmove(c->in, in, have);
                c->in_len = have;
                off = 0;
            }
            used = s_on_hello(c, size);
        } else if (c->state == S_REPLY) {
            if (have < COORD_HS_REPLY_LEN) {
                break;
            }
            used = s_on_reply(c);
        } else if (c->state == S_PROOF) {
            if (have < S_PROOF_MSG) {
                break;
            }
            used = s_on_proof(c);
        } else if (c->state == S_RELAY) {
            if (c->outbound) {
                if (have > 0) {
                    s_refuse(c, S_R_BAD_FRAME, "node %" PRIu64 " sent bytes on a one-way stream",
                             c->peer_id);
                    return;
                }
                break;
            }
            if (have < 4) {
                break;
            }
            size_t len = (size_t)in[0] << 24 | (size_t)in[1] << 16 | (size_t)in[2] << 8 | in[3];
            if (len < 1 + S_ABYTES || len > S_FRAME_MAX) {
                s_refuse(c, S_R_BAD_FRAME, "node %" PRIu64 ": a frame of %zu bytes", c->peer_id,
                         len);
                return;
            }
            if (have < 4 + len) {
                break;
            }
            if (s_open_frame(c, in + 4, len) < 0) {
                s_refuse(c, S_R_BAD_FRAME, "node %" PRIu64 ": a frame that does not open "
                                           "(changed, replayed or out of order)",
                         c->peer_id);
                return;
            }
            used = 4 + len;
        } else {
            break;
        }
        if (used == 0) {
            return; /* refused and closed */
        }
        off += used;
    }
    if (c->state != S_CLOSED && off > 0) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
}

/* ---- the raft_uv_transport interface ---------------------------------------------------- */

static int
s_parse_addr(const char *address, struct sockaddr_in *out)
{
    char host[64];
    const char *colon = strrchr(address, ':');
    if (!colon || (size_t)(colon - address) >= sizeof host) {
        return -EINVAL;
    }
    memcpy(host, address, (size_t)(colon - address));
    host[colon - address] = '\0';
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 1 || port > 65535 || uv_ip4_addr(host, (int)port, out) != 0) {
        return -EINVAL;
    }
    return 0;
}

static int
cb_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
    struct s_peer *p = t->impl;
    p->id = id;
    p->address = address;
    uv_tcp_init(p->loop, &p->listener);
    p->listener.data = p;
    p->listener_open = true;
    return 0;
}

static void
cb_incoming(uv_stream_t *server, int status)
{
    struct s_peer *p = server->data;
    if (status < 0 || p->closing) {
        return;
    }
    struct s_conn *c = s_conn_new(p, false);
    snprintf(c->remote, sizeof c->remote, "?");
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        s_conn_close(c);
        return;
    }
    struct sockaddr_storage ss;
    int slen = sizeof ss;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &slen) == 0 &&
        ss.ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)&ss;
        char ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof ip);
        snprintf(c->remote, sizeof c->remote, "%s:%u", ip, (unsigned)ntohs(sin->sin_port));
    }
    if (p->handshaking >= COORD_PEER_MAX_HANDSHAKES) {
        s_refuse(c, S_R_BUSY, "%u handshakes already under way", p->handshaking);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    c->handshaking = true;
    p->handshaking++;
    coord_hs_server_init(&c->hs, p->o.keys->sk, p->o.keys->pk, p->id);
    c->state = S_HELLO;
    uv_timer_start(&c->timer, cb_timeout, p->o.handshake_timeout_ms, 0);
    uv_read_start((uv_stream_t *)&c->tcp, cb_alloc_in, cb_read_tcp);
}

static int
cb_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
    struct s_peer *p = t->impl;
    p->accept_cb = cb;
    struct sockaddr_in addr;
    const char *at = p->bind[0] ? p->bind : p->address;
    if (s_parse_addr(at, &addr) < 0) {
        snprintf(t->errmsg, sizeof t->errmsg, "raft address %s: expected an IPv4 ip:port", at);
        return RAFT_INVALID;
    }
    int rv = uv_tcp_bind(&p->listener, (const struct sockaddr *)&addr, 0);
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)&p->listener, 128, cb_incoming);
    }
    if (rv != 0) {
        snprintf(t->errmsg, sizeof t->errmsg, "listen on %s: %s", at, uv_strerror(rv));
        return RAFT_IOERR;
    }
    return 0;
}

static void
cb_connected(uv_connect_t *req, int status)
{
    struct s_conn *c = req->data;
    struct s_peer *p = c->p;
    if (c->state != S_CONNECTING) {
        return; /* closed meanwhile */
    }
    if (status != 0) {
        s_conn_close(c); /* unreachable: libraft retries after connect_retry_ms */
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    coord_hs_client_init(&c->hs, p->o.keys->sk, p->o.keys->pk, p->id, p->address, c->peer_id);
    uint8_t hello[COORD_HS_HELLO_MAX];
    size_t n = coord_hs_hello(&c->hs, hello);
    c->state = S_REPLY;
    s_send_raw(c, hello, n);
    if (c->state == S_REPLY) {
        uv_read_start((uv_stream_t *)&c->tcp, cb_alloc_in, cb_read_tcp);
    }
}

static int
cb_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
           const char *address, raft_uv_connect_cb cb)
{
    struct s_peer *p = t->impl;
    struct sockaddr_in addr;
    if (p->closing) {
        return RAFT_CANCELED;
    }
    if (s_parse_addr(address, &addr) < 0) {
        snprintf(t->errmsg, sizeof t->errmsg, "raft address %s: expected an IPv4 ip:port",
                 address);
        return RAFT_NOCONNECTION;
    }
    struct s_conn *c = s_conn_new(p, true);
    c->peer_id = id;
    snprintf(c->peer_addr, sizeof c->peer_addr, "%s", address);
    snprintf(c->remote, sizeof c->remote, "%s", address);
    c->connect.data = c;
    c->state = S_CONNECTING;
    int rv = uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&addr, cb_connected);
    if (rv != 0) {
        snprintf(t->errmsg, sizeof t->errmsg, "connect to %s: %s", address, uv_strerror(rv));
        s_conn_close(c); /* req not taken yet: libraft gets the error from the return */
        return RAFT_NOCONNECTION;
    }
    req->cb = cb;
    c->req = req;
    uv_timer_start(&c->timer, cb_timeout, p->o.handshake_timeout_ms, 0);
    return 0;
}

static void
cb_listener_closed(uv_handle_t *h)
{
    struct s_peer *p = h->data;
    p->listener_open = false;
    s_maybe_closed(p);
}

static void
cb_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
    struct s_peer *p = t->impl;
    p->closing = true;
    p->close_cb = cb;
    for (struct s_conn *c = p->conns; c; c = c->next) {
        s_conn_close(c);
    }
    if (p->listener_open) {
        uv_close((uv_handle_t *)&p->listener, cb_listener_closed);
    } else {
        s_maybe_closed(p);
    }
}

int
coord_peer_init(struct raft_uv_transport *t, uv_loop_t *loop, const struct coord_peer_opts *opts)
{
    void *data = t->data;
    memset(t, 0, sizeof *t);
    t->data = data;
    if (sodium_init() < 0) {
        snprintf(t->errmsg, sizeof t->errmsg, "libsodium could not start");
        return RAFT_INVALID;
    }
    struct s_peer *p = vx_calloc(1, sizeof *p);
    p->t = t;
    p->loop = loop;
    p->o = *opts;
    snprintf(p->bind, sizeof p->bind, "%s", opts->bind_address ? opts->bind_address : "");
    p->o.bind_address = p->bind;
    for (int d = 0; d < 2; d++) {
        p->m_conn[d] = vx_metrics_counter(opts->metrics, "vexfs_raft_peer_connections_total",
                                          "Raft peer connections that completed the "
                                          "authenticated handshake, by direction.",
                                          "direction", s_dir_names[d], NULL);
        for (int r = 0; r < S_NR; r++) {
            p->m_refused[d][r] = vx_metrics_counter(
                opts->metrics, "vexfs_raft_peer_refused_total",
                "Raft peer connections refused, by direction and reason.", "direction",
                s_dir_names[d], "reason", s_reason_names[r], NULL);
        }
    }
    t->impl = p;
    t->init = cb_init;
    t->listen = cb_listen;
    t->connect = cb_connect;
    t->close = cb_close;
    return 0;
}

void
coord_peer_fini(struct raft_uv_transport *t)
{
    struct s_peer *p = t->impl;
    free(p);
    t->impl = NULL;
}

void
coord_peer_send_view(struct raft_uv_transport *t, const void *data, size_t len)
{
    struct s_peer *p = t->impl;
    if (!p || p->closing || len > COORD_PEER_VIEW_MAX) {
        return;
    }
    uint8_t *plain = NULL;
    for (struct s_conn *c = p->conns; c; c = c->next) {
        if (!c->outbound || c->state != S_RELAY || c->tcp.write_queue_size > S_QUEUE_LOW) {
            continue;
        }
        if (!plain) {
            plain = vx_malloc(1 + len);
            plain[0] = S_VIEW;
            memcpy(plain + 1, data, len);
        }
        s_send_frame(c, plain, 1 + len);
    }
    free(plain);
}
