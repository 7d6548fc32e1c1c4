/* SPDX-License-Identifier: Apache-2.0 */
/* A client's life: making it from a configuration, the I/O thread that owns the acknowledged
 * link to propagation (lib/vx_link.c, the producers' own), closing, and its statistics.
 *
 * Threads. Emitting threads and the I/O thread share one mutex. Emitters pack their events
 * outside it, then, holding it, append them to the open batch and put full batches into the
 * link's buffer (which touches no socket). The I/O thread holds it while it seals a batch whose
 * delay ran out and pumps the link (acknowledgements, resends, sends within the window), and
 * releases it while it waits in zmq_poll on the link's sockets and an eventfd the emitters
 * write when there is something to send. Every ZeroMQ socket of the link is made, used and
 * closed by the I/O thread alone. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vc_priv.h"
#include "vx_call.h"
#include "vx_clock.h"
#include "vx_keys.h"
#include "vx_log.h"
#include "vx_mem.h"

static pthread_once_t s_once = PTHREAD_ONCE_INIT;

/* CZMQ installs SIGINT/SIGTERM handlers of its own when its first socket opens; a library must
 * leave the program's signals alone. CZMQ's own start is made here, on the caller's thread:
 * started lazily by two threads at once (our I/O thread and one of the program's), it can
 * abort on its own assertion. */
static void
cb_init_once(void)
{
    zsys_handler_set(NULL);
    zsys_init();
}

void
vc_client_wake(vexfs_client_t *c)
{
    uint64_t one = 1;
    ssize_t w = write(c->wake_fd, &one, sizeof one);
    (void)w; /* a full counter (never, in practice) still wakes the thread */
}

void
vc_client_seal_locked(vexfs_client_t *c)
{
    vx_link_put_batch(c->link, &c->cur, c->sender);
    vc_client_wake(c);
}

/* The I/O thread: see the file comment. Why a long function: it is the loop, and the loop's
 * start and end, whose order (link made and reported before anything else; abandoned counted
 * before the link goes) is the point. */
static void *
s_io_main(void *arg)
{
    vexfs_client_t *c = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* the program's signals go to its own threads */

    struct vx_link_config lc = {
        .ingest_endpoint = "",
        .ack_endpoint = c->cc.ingest_endpoint,
        .ack_window_batches = c->cc.ack_window_batches,
        .ack_timeout_ms = c->cc.ack_timeout_ms,
        .buffer_max_batches = c->cc.buffer_max_batches,
        .retry_interval_ms = c->cc.retry_interval_ms,
    };
    char err[sizeof c->start_err - 64];
    pthread_mutex_lock(&c->mu);
    c->link = vx_link_new(&lc, c->socks, "vexfs_client",
                          "Events given up: ZeroMQ refused to send them.", c->metrics, err,
                          sizeof err);
    if (!c->link) {
        c->start_rc = -EIO;
        snprintf(c->start_err, sizeof c->start_err, "client.ingest_endpoint: %s", err);
    }
    c->starting = false;
    c->started = c->link != NULL;
    pthread_cond_broadcast(&c->cv);
    if (!c->link) {
        pthread_mutex_unlock(&c->mu);
        return NULL;
    }
    const uint64_t delay = (uint64_t)c->cc.batch_max_delay_ms * VX_NS_PER_MS;
    uint64_t done_seen = 0;
    while (!c->stop) {
        uint64_t now = vx_mono_ns();
        if (c->cur.n > 0 && now - c->cur_first_ns >= delay) {
            vc_client_seal_locked(c);
        }
        vx_link_pump(c->link, now);
        struct vx_link_stats ls;
        vx_link_stats(c->link, &ls);
        if (ls.done_batches != done_seen) {
            done_seen = ls.done_batches;
            pthread_cond_broadcast(&c->cv); /* room for emitters, progress for flushes */
        }
        uint64_t wake = vx_link_wake_ns(c->link);
        if (c->cur.n > 0 && c->cur_first_ns + delay < wake) {
            wake = c->cur_first_ns + delay;
        }
        zmq_pollitem_t items[3];
        size_t n = vx_link_pollitems(c->link, items);
        items[n++] = (zmq_pollitem_t){NULL, c->wake_fd, ZMQ_POLLIN, 0};
        pthread_mutex_unlock(&c->mu);
        long timeout = wake == UINT64_MAX ? -1 : vx_ms_until(wake);
        zmq_poll(items, (int)n, timeout);
        if (items[n - 1].revents & ZMQ_POLLIN) {
            uint64_t v;
            ssize_t r = read(c->wake_fd, &v, sizeof v);
            (void)r;
        }
        pthread_mutex_lock(&c->mu);
    }
    c->abandoned = vx_link_abandon(c->link) + c->cur.n;
    vx_batchbuf_fini(&c->cur);
    vx_link_destroy(&c->link);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* Gives the factory explicitly configured key files (the default layout is loaded by the
 * factory itself when the first socket needs it). */
static int
s_explicit_keys(vexfs_client_t *c)
{
    if (!vx_socks_curve(c->socks) ||
        (!c->cc.secret_key_file[0] && !c->cc.server_key_file[0])) {
        return 0;
    }
    char path[4400], err[4600];
    struct vx_keypair pair;
    char server[VX_KEY_TXT];
    if (c->cc.secret_key_file[0]) {
        snprintf(path, sizeof path, "%s", c->cc.secret_key_file);
    } else {
        snprintf(path, sizeof path, "%s/%s.key", c->sec.keys_dir,
                 c->sec.identity[0] ? c->sec.identity : "client");
    }
    if (vx_keys_load_secret(path, &pair, err, sizeof err) < 0) {
        return vc_fail(-EACCES, "security.curve is required: %s", err);
    }
    if (c->cc.server_key_file[0]) {
        snprintf(path, sizeof path, "%s", c->cc.server_key_file);
    } else {
        snprintf(path, sizeof path, "%s/server.pub", c->sec.keys_dir);
    }
    if (vx_keys_load_public(path, server, err, sizeof err) < 0) {
        return vc_fail(-EACCES, "security.curve is required: %s", err);
    }
    vx_socks_set_client_keys(c->socks, &pair, server);
    return 0;
}

int
vc_client_start_locked(vexfs_client_t *c)
{
    while (c->starting) {
        pthread_cond_wait(&c->cv, &c->mu);
    }
    if (c->started) {
        return 0;
    }
    if (!c->cc.ingest_endpoint[0]) {
        return vc_fail(-ENOTCONN, "emitting is off: client.ingest_endpoint is empty");
    }
    c->starting = true;
    c->start_rc = 0;
    c->start_err[0] = '\0';
    int rc = pthread_create(&c->thread, NULL, s_io_main, c);
    if (rc != 0) {
        c->starting = false;
        pthread_cond_broadcast(&c->cv);
        return vc_fail(-rc, "cannot start the client's thread: %s", strerror(rc));
    }
    while (c->starting) {
        pthread_cond_wait(&c->cv, &c->mu);
    }
    if (!c->started) {
        /* The thread reported and ended: reap it, so a later emit may try again. Another
         * thread may start a new one meanwhile: keep what belongs to this attempt. */
        pthread_t t = c->thread;
        int failed = c->start_rc;
        char why[sizeof c->start_err];
        snprintf(why, sizeof why, "%s", c->start_err);
        pthread_mutex_unlock(&c->mu);
        pthread_join(t, NULL);
        pthread_mutex_lock(&c->mu);
        return vc_fail(failed, "%s", why);
    }
    return 0;
}

int
vexfs_client_connect(vexfs_client_t *c)
{
    if (!c) {
        return vc_fail(-EINVAL, "vexfs_client_connect: no client given");
    }
    pthread_mutex_lock(&c->mu);
    int rc = vc_client_start_locked(c);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static void
s_free(vexfs_client_t *c)
{
    vc_http_fini(&c->http);
    vx_socks_destroy(&c->socks);
    vx_metrics_destroy(&c->metrics);
    vx_config_destroy(&c->cfg);
    if (c->wake_fd >= 0) {
        close(c->wake_fd);
    }
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static void
s_log_level(const char *name)
{
    enum vx_log_level lvl = VX_LOG_WARN;
    if (strcmp(name, "off") == 0) {
        vx_log_init("libvexfs", VX_LOG_ERROR);
        vx_log_threshold = VX_LOG_ERROR + 1;
        return;
    }
    vx_log_level_parse(name, &lvl); /* checked with the configuration */
    vx_log_init("libvexfs", lvl);
}

vexfs_client_t *
vexfs_client_new(const vexfs_config_t *cfg)
{
    if (!cfg) {
        vc_fail(-EINVAL, "vexfs_client_new: no configuration given");
        return NULL;
    }
    pthread_once(&s_once, cb_init_once);
    vexfs_client_t *c = vx_calloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    vx_cond_init_mono(&c->cv);
    c->wake_fd = -1;
    if (vc_config_build(cfg, &c->cfg) < 0 || vx_config_bind(c->cfg, &vc_cfg_section, &c->cc) < 0 ||
        vx_config_bind(c->cfg, &vx_cfg_security_section, &c->sec) < 0 ||
        vx_config_bind(c->cfg, &vx_cfg_transport_section, &c->tc) < 0) {
        goto fail;
    }
    s_log_level(c->cc.log_level);
    c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (c->wake_fd < 0) {
        vc_fail(-errno, "cannot make an eventfd: %s", strerror(errno));
        goto fail;
    }
    char err[1024];
    c->socks = vx_socks_new(&c->tc, &c->sec, "client", NULL, err, sizeof err);
    if (!c->socks) {
        vc_fail(-EINVAL, "%s", err);
        goto fail;
    }
    c->metrics = vx_metrics_new();
    if (c->cc.producer_id[0]) {
        snprintf(c->sender, sizeof c->sender, "%s", c->cc.producer_id);
    } else {
        char host[256] = "localhost";
        gethostname(host, sizeof host - 1);
        snprintf(c->sender, sizeof c->sender, "client-%s-%d", host, (int)getpid());
    }
    if (s_explicit_keys(c) < 0 || vc_http_init(&c->http, &c->cc, &c->sec) < 0) {
        goto fail;
    }
    return c;
fail:
    s_free(c);
    return NULL;
}

int
vexfs_client_close(vexfs_client_t **cp, int timeout_ms, uint64_t *abandoned)
{
    if (abandoned) {
        *abandoned = 0;
    }
    if (!cp || !*cp) {
        return 0;
    }
    vexfs_client_t *c = *cp;
    *cp = NULL;
    pthread_mutex_lock(&c->mu);
    bool running = c->started;
    pthread_mutex_unlock(&c->mu);
    if (running) {
        if (timeout_ms != 0) {
            vexfs_client_flush(c, timeout_ms);
        }
        pthread_mutex_lock(&c->mu);
        c->stop = true;
        pthread_mutex_unlock(&c->mu);
        vc_client_wake(c);
        pthread_join(c->thread, NULL);
    }
    uint64_t lost = c->abandoned;
    s_free(c);
    if (abandoned) {
        *abandoned = lost;
    }
    if (lost) {
        return vc_fail(-ETIMEDOUT, "%llu emitted events were not acknowledged in time and were "
                                   "given up", (unsigned long long)lost);
    }
    return 0;
}

int
vexfs_client_stats(vexfs_client_t *c, struct vexfs_stats *out)
{
    if (!c || !out || out->size == 0) {
        return vc_fail(-EINVAL, "vexfs_client_stats: initialise the struct with VEXFS_STATS_INIT");
    }
    struct vexfs_stats s = {.size = sizeof s};
    struct vx_link_stats ls = {0};
    pthread_mutex_lock(&c->mu);
    if (c->link) {
        vx_link_stats(c->link, &ls);
    }
    s.emitted_events = c->emitted;
    s.refused_events = c->refused;
    s.full_waits = c->full_waits;
    s.full_timeouts = c->full_timeouts;
    pthread_mutex_unlock(&c->mu);
    s.acked_events = ls.acked_events;
    s.resent_events = ls.resent_events;
    s.lost_events = ls.dropped_events;
    s.batches_sent = ls.sent_batches;
    s.link_resets = ls.resets;
    s.buffered_batches = ls.held;
    s.unacked_batches = ls.unacked;
    size_t n = out->size < sizeof s ? out->size : sizeof s;
    memcpy(out, &s, n);
    out->size = n;
    return 0;
}
