/* SPDX-License-Identifier: Apache-2.0 */
/* The factory's socket monitor (see vx_sock_mon.h). */
#include "vx_sock_mon.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "vx_clock.h"
#include "vx_log.h"
#include "vx_mem.h"

#define S_POLL_MS 100
#define S_LOG_EVERY_NS (10 * VX_NS_PER_S)
#define S_SLOTS 8          /* endpoints of one connecting socket watched for a lost link */
#define S_ADDR_MAX 256

enum s_reason { S_NOT_CURVE, S_CRYPTO, S_PROTOCOL, S_AUTH, S_CLOSED, S_REASONS };
static const char *const s_reason_name[S_REASONS] = {"not_curve", "crypto", "protocol", "auth",
                                                     "closed"};

struct s_slot {
    char addr[S_ADDR_MAX];
    uint64_t lost_ns; /* when its connection dropped and no retry followed yet; 0: fine */
};

struct s_entry {
    uint64_t id;           /* registration order: the newest of one pointer wins */
    const zsock_t *key;    /* the monitored socket (never dereferenced); NULL once detached */
    zsock_t *pair;         /* the monitor thread's end of the monitor (owned by the thread) */
    bool connecting;
    bool drops;            /* a bound socket whose dropped connections are counted too */
    uint64_t disconnects;  /* connections of a connecting (or drops) socket that dropped */
    uint64_t handshakes;   /* connections of a connecting socket whose handshake succeeded */
    struct s_slot slot[S_SLOTS];
};

struct vx_sock_mon {
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t mu;        /* guards entries and the log state */
    struct s_entry *entries;
    size_t n, cap;
    bool changed;              /* entries added or removed since the thread built its poll set */
    uint64_t next_id;
    atomic_uint_fast64_t failed;
    vx_counter_t *c_failed[S_REASONS];
    uint64_t last_log_ns, unlogged;
};

static enum s_reason
s_reason_of(uint16_t event, uint32_t value)
{
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
        return S_AUTH;
    }
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
        return S_CLOSED;
    }
    if (value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
        return S_NOT_CURVE;
    }
    if (value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC) {
        return S_CRYPTO;
    }
    return S_PROTOCOL;
}

/* Counts a failed handshake and logs it, rate-limited. Called with mu held. */
static void
s_failed(vx_sock_mon_t *m, uint16_t event, uint32_t value, const char *addr)
{
    enum s_reason r = s_reason_of(event, value);
    atomic_fetch_add(&m->failed, 1);
    if (m->c_failed[r]) {
        vx_counter_add(m->c_failed[r], 1);
    }
    uint64_t now = vx_mono_ns();
    if (now - m->last_log_ns >= S_LOG_EVERY_NS) {
        vx_warn("VX-SOCK-HANDSHAKE",
                "refused a ZeroMQ handshake on %s: %s (event 0x%x, value 0x%x); %llu more "
                "refused since the last report",
                addr, s_reason_name[r], (unsigned)event, (unsigned)value,
                (unsigned long long)m->unlogged);
        m->last_log_ns = now;
        m->unlogged = 0;
    } else {
        m->unlogged++;
    }
}

static struct s_slot *
s_slot(struct s_entry *e, const char *addr)
{
    struct s_slot *free_slot = NULL;
    for (size_t i = 0; i < S_SLOTS; i++) {
        if (strcmp(e->slot[i].addr, addr) == 0) {
            return &e->slot[i];
        }
        if (!free_slot && !e->slot[i].addr[0]) {
            free_slot = &e->slot[i];
        }
    }
    if (free_slot) {
        snprintf(free_slot->addr, sizeof free_slot->addr, "%s", addr);
    }
    return free_slot;
}

/* One event of entry e (mu held). Returns false when the monitor stopped (socket closed). */
static bool
s_event(vx_sock_mon_t *m, struct s_entry *e, uint16_t event, uint32_t value, const char *addr)
{
    switch (event) {
    case ZMQ_EVENT_MONITOR_STOPPED:
        return false;
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        s_failed(m, event, value, addr);
        return true;
    case ZMQ_EVENT_DISCONNECTED: {
        if (e->connecting || e->drops) {
            e->disconnects++;
        }
        struct s_slot *s = e->connecting ? s_slot(e, addr) : NULL;
        if (s && !s->lost_ns) {
            s->lost_ns = vx_mono_ns();
        }
        return true;
    }
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        if (e->connecting) {
            e->handshakes++;
        }
        /* fall through */
    case ZMQ_EVENT_CONNECTED:
    case ZMQ_EVENT_CONNECT_DELAYED:
    case ZMQ_EVENT_CONNECT_RETRIED: {
        struct s_slot *s = e->connecting ? s_slot(e, addr) : NULL;
        if (s) {
            s->lost_ns = 0;
        }
        return true;
    }
    default:
        return true;
    }
}

/* Reads every event queued on entry i's monitor; removes the entry when its socket closed.
 * Called with mu held. */
static void
s_drain(vx_sock_mon_t *m, size_t i)
{
    for (;;) {
        zmsg_t *msg = zmsg_recv_nowait(m->entries[i].pair);
        if (!msg) {
            return;
        }
        zframe_t *f = zmsg_first(msg);
        zframe_t *a = zmsg_next(msg);
        bool alive = true;
        if (f && zframe_size(f) == 6) {
            uint16_t event;
            uint32_t value;
            memcpy(&event, zframe_data(f), 2);
            memcpy(&value, zframe_data(f) + 2, 4);
            char addr[S_ADDR_MAX] = "";
            if (a) {
                size_t l = zframe_size(a) < sizeof addr - 1 ? zframe_size(a) : sizeof addr - 1;
                memcpy(addr, zframe_data(a), l);
                addr[l] = '\0';
            }
            alive = s_event(m, &m->entries[i], event, value, addr);
        }
        zmsg_destroy(&msg);
        if (!alive) {
            zsock_destroy(&m->entries[i].pair);
            m->entries[i] = m->entries[--m->n];
            m->changed = true;
            return;
        }
    }
}

/* The thread: polls every monitor's socket, rebuilding the poll set when entries changed. It
 * must keep reading: libzmq's I/O threads send monitor events without DONTWAIT. */
static void *
s_main(void *arg)
{
    vx_sock_mon_t *m = arg;
    zmq_pollitem_t *items = NULL;
    uint64_t *ids = NULL;
    size_t n = 0;
    while (!atomic_load(&m->stop)) {
        pthread_mutex_lock(&m->mu);
        if (m->changed) {
            n = m->n;
            items = vx_realloc(items, (n ? n : 1) * sizeof *items);
            ids = vx_realloc(ids, (n ? n : 1) * sizeof *ids);
            for (size_t i = 0; i < n; i++) {
                items[i] = (zmq_pollitem_t){zsock_resolve(m->entries[i].pair), 0, ZMQ_POLLIN, 0};
                ids[i] = m->entries[i].id;
            }
            m->changed = false;
        }
        pthread_mutex_unlock(&m->mu);
        int rc = zmq_poll(items, (int)n, S_POLL_MS);
        if (rc <= 0) {
            continue;
        }
        pthread_mutex_lock(&m->mu);
        for (size_t k = 0; k < n; k++) {
            if (!(items[k].revents & ZMQ_POLLIN)) {
                continue;
            }
            for (size_t i = 0; i < m->n; i++) {
                if (m->entries[i].id == ids[k]) {
                    s_drain(m, i);
                    break;
                }
            }
        }
        pthread_mutex_unlock(&m->mu);
    }
    free(items);
    free(ids);
    return NULL;
}

vx_sock_mon_t *
vx_sock_mon_start(vx_metrics_t *metrics, char *err, size_t errlen)
{
    vx_sock_mon_t *m = vx_calloc(1, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
    m->changed = true;
    if (metrics) {
        const char *h = "ZeroMQ handshakes that failed, by reason (not_curve: another security "
                        "mechanism; crypto: a CURVE message that does not decrypt; protocol: "
                        "another ZMTP violation; auth: refused by the ZAP handler; closed: the "
                        "peer left mid-handshake).";
        for (int r = 0; r < S_REASONS; r++) {
            m->c_failed[r] = vx_metrics_counter(metrics, "vexfs_zmq_handshake_failed_total", h,
                                                "reason", s_reason_name[r], NULL);
        }
    }
    if (pthread_create(&m->thread, NULL, s_main, m) != 0) {
        snprintf(err, errlen, "cannot start the ZeroMQ socket monitor thread");
        pthread_mutex_destroy(&m->mu);
        free(m);
        return NULL;
    }
    return m;
}

void
vx_sock_mon_stop(vx_sock_mon_t **mp)
{
    if (!mp || !*mp) {
        return;
    }
    vx_sock_mon_t *m = *mp;
    atomic_store(&m->stop, true);
    pthread_join(m->thread, NULL);
    for (size_t i = 0; i < m->n; i++) {
        zsock_destroy(&m->entries[i].pair);
    }
    free(m->entries);
    pthread_mutex_destroy(&m->mu);
    vx_free(mp);
}

int
vx_sock_mon_attach(vx_sock_mon_t *m, zsock_t *z, bool connecting, bool drops)
{
    static atomic_ulong s_seq;
    char ep[96];
    /* A fresh name every time: a closed monitor's endpoint stays taken until libzmq reaps it.
     * The counter's address keeps apart two copies of this file in one process (a program that
     * links lib/ and loads libvexfs, which has its own), which share libzmq's context. */
    snprintf(ep, sizeof ep, "inproc://vx-sock-mon-%p-%lu", (void *)&s_seq,
             atomic_fetch_add(&s_seq, 1));
    int events = ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                 ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_MONITOR_STOPPED;
    if (!connecting && drops) {
        events |= ZMQ_EVENT_DISCONNECTED; /* a bound sender's receivers leaving (vx_link) */
    }
    if (connecting) {
        events |= ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_CONNECTED | ZMQ_EVENT_CONNECT_DELAYED |
                  ZMQ_EVENT_CONNECT_RETRIED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED;
    }
    if (zmq_socket_monitor(zsock_resolve(z), ep, events) < 0) {
        return -zmq_errno();
    }
    /* Connected here, before z binds or connects, so no event is sent to an absent reader;
     * the thread takes the socket over under the lock (a full memory barrier, which is what
     * libzmq asks of a socket that changes threads). */
    zsock_t *pair = zsock_new(ZMQ_PAIR);
    if (!pair || zsock_connect(pair, "%s", ep) < 0) {
        int rc = -zmq_errno();
        zsock_destroy(&pair);
        zmq_socket_monitor(zsock_resolve(z), NULL, 0);
        return rc < 0 ? rc : -EIO;
    }
    pthread_mutex_lock(&m->mu);
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 16;
        m->entries = vx_realloc(m->entries, m->cap * sizeof *m->entries);
    }
    m->entries[m->n++] = (struct s_entry){.id = ++m->next_id, .key = z, .pair = pair,
                                          .connecting = connecting, .drops = drops};
    m->changed = true;
    pthread_mutex_unlock(&m->mu);
    return 0;
}

/* The newest live entry of z (mu held). */
static struct s_entry *
s_find(vx_sock_mon_t *m, const zsock_t *z)
{
    struct s_entry *best = NULL;
    for (size_t i = 0; i < m->n; i++) {
        if (m->entries[i].key == z && (!best || m->entries[i].id > best->id)) {
            best = &m->entries[i];
        }
    }
    return best;
}

void
vx_sock_mon_detach(vx_sock_mon_t *m, const zsock_t *z)
{
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n; i++) {
        if (m->entries[i].key == z) {
            m->entries[i].key = NULL;
        }
    }
    pthread_mutex_unlock(&m->mu);
}

bool
vx_sock_mon_lost(vx_sock_mon_t *m, const zsock_t *z, char *endpoint, size_t len)
{
    bool lost = false;
    uint64_t now = vx_mono_ns();
    pthread_mutex_lock(&m->mu);
    struct s_entry *e = s_find(m, z);
    for (size_t i = 0; e && i < S_SLOTS && !lost; i++) {
        uint64_t t = e->slot[i].lost_ns;
        if (t && now - t >= (uint64_t)VX_SOCK_MON_GRACE_MS * VX_NS_PER_MS) {
            lost = true;
            if (endpoint && len) {
                snprintf(endpoint, len, "%s", e->slot[i].addr);
            }
        }
    }
    pthread_mutex_unlock(&m->mu);
    return lost;
}

/* One of z's counters (handshakes or disconnects), 0 for a socket not monitored. */
static uint64_t
s_count(vx_sock_mon_t *m, const zsock_t *z, bool handshakes)
{
    pthread_mutex_lock(&m->mu);
    struct s_entry *e = s_find(m, z);
    uint64_t n = e ? (handshakes ? e->handshakes : e->disconnects) : 0;
    pthread_mutex_unlock(&m->mu);
    return n;
}

uint64_t
vx_sock_mon_disconnects(vx_sock_mon_t *m, const zsock_t *z)
{
    return s_count(m, z, false);
}

uint64_t
vx_sock_mon_handshakes(vx_sock_mon_t *m, const zsock_t *z)
{
    return s_count(m, z, true);
}


uint64_t
vx_sock_mon_failed(const vx_sock_mon_t *m)
{
    return atomic_load(&m->failed);
}
