/* SPDX-License-Identifier: Apache-2.0 */
/* Admin HTTP server: microhttpd's epoll thread pool, the workers that run route handlers while
 * their connections are suspended, and the deadline every connection must meet.
 *
 * Why this shape: with a thread per connection, every slow client held a thread and a slot
 * until the idle timeout, which a client sending one byte a second never reaches, so a few
 * dozen of them starved /health. Here a few I/O threads multiplex every connection with epoll;
 * handlers, which may block, get their own bounded pool; and a reaper thread shuts down the
 * socket of any connection that has not delivered its request (or taken its answer) within
 * timeout_s, however busy it keeps the connection. */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vx_clock.h"
#include "vx_http_priv.h"
#include "vx_mem.h"

#define S_REAP_PERIOD_MS 100
#define S_FLUSH_MS 2000 /* longest a stop waits for answers already made to leave */
#define S_OPEN_NAME "vexfs_http_connections"
#define S_OPEN_HELP "Open REST connections."
#define S_WAITING_NAME "vexfs_http_requests_waiting"
#define S_WAITING_HELP "REST requests waiting for a handler worker."
#define S_EXPIRED_NAME "vexfs_http_connections_expired_total"
#define S_EXPIRED_HELP                                                                             \
    "REST connections shut down because a request (headers and body) or its answer took longer " \
    "than admin.request_timeout_s."

void
vx_http_conn_init(vx_http_t *h)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&h->pool.mu, NULL);
    pthread_cond_init(&h->pool.work, NULL);
    pthread_cond_init(&h->pool.idle, &ca);
    pthread_mutex_init(&h->conns.mu, NULL);
    pthread_cond_init(&h->conns.wake, &ca);
    pthread_condattr_destroy(&ca);
    if (h->metrics) {
        h->open_conns = vx_metrics_gauge(h->metrics, S_OPEN_NAME, S_OPEN_HELP, NULL);
        h->expired = vx_metrics_counter(h->metrics, S_EXPIRED_NAME, S_EXPIRED_HELP, NULL);
        h->waiting = vx_metrics_gauge(h->metrics, S_WAITING_NAME, S_WAITING_HELP, NULL);
    }
}

void
vx_http_conn_fini(vx_http_t *h)
{
    free(h->pool.threads);
    pthread_cond_destroy(&h->pool.work);
    pthread_cond_destroy(&h->pool.idle);
    pthread_mutex_destroy(&h->pool.mu);
    pthread_cond_destroy(&h->conns.wake);
    pthread_mutex_destroy(&h->conns.mu);
}

/* --- connection deadlines --------------------------------------------------------------- */

struct vx_http_conn *
vx_http_conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void
vx_http_conn_deadline(vx_http_t *h, struct MHD_Connection *conn, bool running)
{
    struct vx_http_conn *c = vx_http_conn_of(conn);
    if (c) {
        atomic_store(&c->deadline_ns,
                     running ? 0 : vx_mono_ns() + (uint64_t)h->timeout_s * VX_NS_PER_S);
    }
}

/* microhttpd tells us about every connection it accepts and closes. It closes the socket only
 * after the CLOSED notice, and the reaper shuts sockets down under the same lock that removes
 * them here, so it never touches a descriptor that was closed and reused. */
static void
cb_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
              enum MHD_ConnectionNotificationCode toe)
{
    vx_http_t *h = cls;
    struct vx_http_conns *cs = &h->conns;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct vx_http_conn *c = vx_calloc(1, sizeof *c);
        c->fd = ci ? ci->connect_fd : -1;
        atomic_init(&c->deadline_ns, vx_mono_ns() + (uint64_t)h->timeout_s * VX_NS_PER_S);
        pthread_mutex_lock(&cs->mu);
        c->next = cs->head;
        if (cs->head) {
            cs->head->prev = c;
        }
        cs->head = c;
        pthread_mutex_unlock(&cs->mu);
        *socket_context = c;
        if (h->open_conns) {
            vx_gauge_add(h->open_conns, 1);
        }
        return;
    }
    struct vx_http_conn *c = *socket_context;
    if (toe != MHD_CONNECTION_NOTIFY_CLOSED || !c) {
        return;
    }
    pthread_mutex_lock(&cs->mu);
    if (c->prev) {
        c->prev->next = c->next;
    } else {
        cs->head = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    pthread_mutex_unlock(&cs->mu);
    free(c);
    *socket_context = NULL;
    if (h->open_conns) {
        vx_gauge_add(h->open_conns, -1);
    }
}

/* Shuts down the socket of every connection past its deadline, every S_REAP_PERIOD_MS; microhttpd
 * then sees the end of the stream and closes the connection itself. */
static void *
s_reaper(void *arg)
{
    vx_http_t *h = arg;
    struct vx_http_conns *cs = &h->conns;
    pthread_mutex_lock(&cs->mu);
    while (!cs->stop) {
        uint64_t now = vx_mono_ns();
        for (struct vx_http_conn *c = cs->head; c; c = c->next) {
            uint64_t d = atomic_load(&c->deadline_ns);
            if (d && now >= d && !c->expired && c->fd >= 0) {
                if (h->expired) { /* counted first: whoever sees the close sees the count */
                    vx_counter_add(h->expired, 1);
                }
                c->expired = true;
                shutdown(c->fd, SHUT_RDWR);
            }
        }
        struct timespec ts = vx_mono_timespec(vx_deadline_ms(S_REAP_PERIOD_MS));
        pthread_cond_timedwait(&cs->wake, &cs->mu, &ts);
    }
    pthread_mutex_unlock(&cs->mu);
    return NULL;
}

/* --- handler workers -------------------------------------------------------------------- */

bool
vx_http_pool_submit(struct vx_http_req *req)
{
    struct vx_http_pool *p = &req->h->pool;
    pthread_mutex_lock(&p->mu);
    if (p->stopping) {
        pthread_mutex_unlock(&p->mu);
        return false;
    }
    p->pending++;
    p->unsent++;
    req->state = VX_HTTP_REQ_QUEUED;
    pthread_mutex_unlock(&p->mu);
    /* Suspended before it is queued: the worker may resume it at once. microhttpd's own lock is
     * never taken under ours. */
    MHD_suspend_connection(req->conn);
    pthread_mutex_lock(&p->mu);
    req->next = NULL;
    if (p->tail) {
        p->tail->next = req;
    } else {
        p->head = req;
    }
    p->tail = req;
    if (req->h->waiting) {
        vx_gauge_add(req->h->waiting, 1);
    }
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
    return true;
}

void
vx_http_pool_sent(vx_http_t *h)
{
    struct vx_http_pool *p = &h->pool;
    pthread_mutex_lock(&p->mu);
    if (p->unsent > 0 && --p->unsent == 0) {
        pthread_cond_broadcast(&p->idle);
    }
    pthread_mutex_unlock(&p->mu);
}

/* Runs queued requests; once the server stops, answers those still queued with 503 instead,
 * and exits when no request is pending (one counted by submit may still be on its way in). */
static void *
s_worker(void *arg)
{
    vx_http_t *h = arg;
    struct vx_http_pool *p = &h->pool;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->head && !(p->stopping && p->pending == 0)) {
            pthread_cond_wait(&p->work, &p->mu);
        }
        struct vx_http_req *req = p->head;
        if (!req) {
            break;
        }
        p->head = req->next;
        p->tail = p->head ? p->tail : NULL;
        if (h->waiting) {
            vx_gauge_add(h->waiting, -1);
        }
        bool stopping = p->stopping;
        pthread_mutex_unlock(&p->mu);
        if (stopping) {
            vx_http_error(&req->resp, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting_down",
                          "the server stopped before this request ran");
        } else {
            vx_http_req_run(req);
        }
        req->state = VX_HTTP_REQ_DONE;
        MHD_resume_connection(req->conn); /* req belongs to microhttpd's thread from here */
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0) {
            pthread_cond_broadcast(&p->idle);
            pthread_cond_broadcast(&p->work);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Stops the workers (after every pending request was answered) and the reaper. With
 * flush_ms, then waits up to that long for the I/O threads to send those answers, so a request
 * that ran is not cut off by the stop that follows. */
static void
s_threads_stop(vx_http_t *h, unsigned flush_ms)
{
    struct vx_http_pool *p = &h->pool;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->n_threads; i++) {
        pthread_join(p->threads[i], NULL);
    }
    p->n_threads = 0;
    struct timespec until = vx_mono_timespec(vx_deadline_ms((uint64_t)flush_ms));
    pthread_mutex_lock(&p->mu);
    while (flush_ms && p->unsent > 0 &&
           pthread_cond_timedwait(&p->idle, &p->mu, &until) != ETIMEDOUT) {
    }
    pthread_mutex_unlock(&p->mu);
    struct vx_http_conns *cs = &h->conns;
    if (cs->running) {
        pthread_mutex_lock(&cs->mu);
        cs->stop = true;
        pthread_cond_signal(&cs->wake);
        pthread_mutex_unlock(&cs->mu);
        pthread_join(cs->reaper, NULL);
        cs->running = false;
    }
}

static int
s_threads_start(vx_http_t *h)
{
    struct vx_http_pool *p = &h->pool;
    p->stopping = false;
    p->threads = vx_realloc(p->threads, h->n_workers * sizeof *p->threads);
    for (unsigned i = 0; i < h->n_workers; i++) {
        int rc = pthread_create(&p->threads[i], NULL, s_worker, h);
        if (rc != 0) {
            s_threads_stop(h, 0);
            return -rc;
        }
        p->n_threads++;
    }
    h->conns.stop = false;
    int rc = pthread_create(&h->conns.reaper, NULL, s_reaper, h);
    if (rc != 0) {
        s_threads_stop(h, 0);
        return -rc;
    }
    h->conns.running = true;
    return 0;
}

/* --- start and stop --------------------------------------------------------------------- */

/* microhttpd reports a failed start without a reason; binding a probe socket the same way
 * recovers it (EADDRINUSE, EADDRNOTAVAIL, EACCES). */
static int
s_start_errno(const vx_http_t *h)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int rc = bind(fd, (const struct sockaddr *)&h->addr, sizeof h->addr) < 0 ? -errno : -EIO;
    close(fd);
    return rc;
}

/* Every connection is a descriptor: lift the soft limit towards the hard one when the
 * connection limit (plus room for the rest of the daemon) would not fit. */
static void
s_fd_room(const vx_http_t *h)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)h->conn_limit + 256;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = need < rl.rlim_max ? need : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int
vx_http_start(vx_http_t *h)
{
    if (h->daemon) {
        return -EALREADY;
    }
    json_object_seed(0); /* seed jansson's hashing once, before handler threads build objects */
    s_fd_room(h);
    /* The authority is given whenever there is one, so microhttpd asks every client for its
     * certificate; whether one is required is our decision (vx_http_auth.c). */
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key},
        {h->tls_trust ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0, h->tls_trust},
        {MHD_OPTION_END, 0, NULL},
    };
    unsigned flags = MHD_USE_EPOLL | MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME;
    if (h->tls_cert) {
        flags |= MHD_USE_TLS;
    } else {
        tls[0].option = MHD_OPTION_END;
    }
    /* The server's threads (ours and microhttpd's inherit this mask) never take the stop and
     * reload signals: they belong to the daemon's loop, which may wait for them in ppoll. */
    sigset_t stops, old;
    sigemptyset(&stops);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGINT);
    sigaddset(&stops, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stops, &old);
    int rc = s_threads_start(h);
    if (rc < 0) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return rc;
    }
    h->daemon = MHD_start_daemon(
        flags, ntohs(h->addr.sin_port), NULL, NULL, cb_http_access, h, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&h->addr, MHD_OPTION_THREAD_POOL_SIZE, h->io_threads,
        MHD_OPTION_CONNECTION_LIMIT, h->conn_limit, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        h->conn_limit_per_ip, MHD_OPTION_CONNECTION_TIMEOUT, h->timeout_s,
        MHD_OPTION_NOTIFY_COMPLETED, cb_http_completed, h, MHD_OPTION_NOTIFY_CONNECTION,
        cb_connection, h, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!h->daemon) {
        s_threads_stop(h, 0);
        return s_start_errno(h);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (info && info->port) {
        h->port = info->port;
    }
    h->started_ns = vx_mono_ns();
    return 0;
}

void
vx_http_stop(vx_http_t *h)
{
    if (!h || !h->daemon) {
        return;
    }
    /* Workers first: microhttpd must not be stopped with a connection still suspended. New
     * requests meanwhile are answered 503 by the I/O threads. */
    s_threads_stop(h, S_FLUSH_MS);
    MHD_stop_daemon(h->daemon);
    h->daemon = NULL;
}
