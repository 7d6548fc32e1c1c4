/* SPDX-License-Identifier: Apache-2.0 */
/* The soak's producer: a steady rate of events over the acknowledged link producers use
 * (vx_link with propagation's ingest_acked_endpoint), so "acknowledged" means what it means for
 * vexfs-watch or libvexfs. One thread owns the link; the others read a snapshot of its
 * counters under a lock. */
#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "soak.h"
#include "vx_clock.h"
#include "vx_link.h"
#include "vx_metrics.h"
#include "vx_sock.h"
#include "vx_test.h"

#define S_MAX_BATCH 1000
#define S_PATHS 1000

struct soak_load {
    pthread_t thread;
    atomic_bool stop, paused;
    const struct sh_suite *suite;
    struct soak_opts opts;
    uint64_t tag, max_events;
    pthread_mutex_t lock;
    struct soak_load_stats st; /* under lock */
    uint64_t t0_ns, t_end_ns;
};

/* One batch's events, reused for every batch: the link packs them at once. */
struct s_slot {
    vx_event_t ev;
    Vexfs__V1__Event__ContentEntry ce;
    Vexfs__V1__Event__ContentEntry *cp[1];
    uint8_t id[16];
    char path[48];
    char n[24];
};

static void
s_fill(struct s_slot *e, uint64_t tag, uint64_t n)
{
    vexfs__v1__event__init(&e->ev);
    vexfs__v1__event__content_entry__init(&e->ce);
    memcpy(e->id, &tag, 8);
    memcpy(e->id + 8, &n, 8);
    snprintf(e->path, sizeof e->path, "/soak/f%03" PRIu64 ".dat", n % S_PATHS);
    snprintf(e->n, sizeof e->n, "%" PRIu64, n);
    /* Content differs per event: propagation's deduplication hashes content, not ids. */
    e->ce.key = (char *)"n";
    e->ce.value = e->n;
    e->cp[0] = &e->ce;
    e->ev.id.data = e->id;
    e->ev.id.len = 16;
    e->ev.type = VEXFS__V1__EVENT_TYPE__FILESYSTEM_WRITE;
    e->ev.path = e->path;
    e->ev.content = e->cp;
    e->ev.n_content = 1;
}

static void
s_snapshot(struct soak_load *l, vx_link_t *link, uint64_t put_events)
{
    struct vx_link_stats ls;
    vx_link_stats(link, &ls);
    pthread_mutex_lock(&l->lock);
    l->st.sent = put_events;
    l->st.acked = ls.acked_events;
    l->st.resent = ls.resent_events;
    l->st.dropped = ls.dropped_events;
    l->st.held_batches = ls.held;
    l->st.resets = ls.resets;
    l->st.acked_upto = ls.done_batches * (uint64_t)l->opts.batch;
    uint64_t end = l->t_end_ns ? l->t_end_ns : vx_mono_ns();
    l->st.elapsed_s = (double)(end - l->t0_ns) / 1e9;
    pthread_mutex_unlock(&l->lock);
}

/* The producer thread. Why this shape: the link must be pumped every turn (acknowledgements,
 * resends after a timeout or reconnection) whether or not a batch is due, so the loop polls the
 * link's sockets until the earlier of its own wake time and the next batch's due time. When the
 * link's buffer is full (propagation down or slow) the schedule slips; a backlog of more than a
 * second is given up (those events are never sent, so they are not expected anywhere) rather
 * than sent in a burst that would measure the burst instead of the steady rate. */
static void *
s_main(void *arg)
{
    struct soak_load *l = arg;
    char err[512], ingest[64], acked[64];
    snprintf(ingest, sizeof ingest, "tcp://127.0.0.1:%u", l->suite->ingest);
    snprintf(acked, sizeof acked, "tcp://127.0.0.1:%u", l->suite->ingest_acked);
    struct vx_transport_config tc = {1000, 0, 64 * 1024 * 1024 + 4096, 0};
    struct vx_security_config sc = {"required", vt_keys_dir(), "ctl", "required", vt_tls_dir(),
                                    false, "", "", "", false};
    vx_socks_t *socks = vx_socks_new(&tc, &sc, "ctl", NULL, err, sizeof err);
    if (!socks) {
        fprintf(stderr, "soak load: socket factory: %s\n", err);
        exit(2);
    }
    vx_metrics_t *m = vx_metrics_new();
    struct vx_link_config lc = {.ingest_endpoint = ingest,
                                .ack_endpoint = acked,
                                .ack_window_batches = 64,
                                .ack_timeout_ms = 2000,
                                .buffer_max_batches = 4096,
                                .retry_interval_ms = 100};
    vx_link_t *link = vx_link_new(&lc, socks, "vexfs_soak", "events the soak gave up on", m, err,
                                  sizeof err);
    if (!link) {
        fprintf(stderr, "soak load: link: %s\n", err);
        exit(2);
    }
    struct s_slot *slots = calloc((size_t)l->opts.batch, sizeof *slots);
    vx_event_t **evs = calloc((size_t)l->opts.batch, sizeof *evs);
    if (!slots || !evs) {
        abort();
    }
    char sender[64];
    snprintf(sender, sizeof sender, "soak-%016" PRIx64, l->tag);
    uint64_t interval_ns = (uint64_t)l->opts.batch * 1000000000ull / (uint64_t)l->opts.rate;
    uint64_t next = 0, due = vx_mono_ns(), snap = 0;
    l->t0_ns = due;
    while (!atomic_load(&l->stop)) {
        uint64_t now = vx_mono_ns();
        bool paused = atomic_load(&l->paused);
        if (paused && !l->t_end_ns) {
            l->t_end_ns = now;
        }
        if (!paused && now > due + 1000000000ull) {
            due = now; /* a backlog of more than a second is given up, see above */
        }
        while (!paused && now >= due && vx_link_room(link) > 0 &&
               next + (uint64_t)l->opts.batch <= l->max_events) {
            for (int i = 0; i < l->opts.batch; i++) {
                s_fill(&slots[i], l->tag, next + (uint64_t)i);
                evs[i] = &slots[i].ev;
            }
            vx_link_put(link, evs, (size_t)l->opts.batch, sender);
            next += (uint64_t)l->opts.batch;
            due += interval_ns;
        }
        vx_link_pump(link, now);
        if (now >= snap) {
            s_snapshot(l, link, next);
            snap = now + 50000000ull;
        }
        zmq_pollitem_t items[2];
        size_t n = vx_link_pollitems(link, items);
        uint64_t wake = vx_link_wake_ns(link);
        if (!paused && due < wake) {
            wake = due;
        }
        long ms = wake <= now ? 0 : (long)((wake - now) / 1000000ull);
        zmq_poll(items, (int)n, ms > 5 ? 5 : ms);
    }
    s_snapshot(l, link, next);
    vx_link_destroy(&link);
    vx_metrics_destroy(&m);
    vx_socks_destroy(&socks);
    free(slots);
    free(evs);
    return NULL;
}

struct soak_load *
soak_load_start(const struct sh_suite *s, const struct soak_opts *o, uint64_t tag,
                uint64_t max_events)
{
    struct soak_load *l = calloc(1, sizeof *l);
    if (!l) {
        abort();
    }
    l->suite = s;
    l->opts = *o;
    if (l->opts.batch < 1 || l->opts.batch > S_MAX_BATCH) {
        l->opts.batch = 100;
    }
    l->tag = tag;
    l->max_events = max_events;
    pthread_mutex_init(&l->lock, NULL);
    atomic_init(&l->stop, false);
    atomic_init(&l->paused, false);
    if (pthread_create(&l->thread, NULL, s_main, l) != 0) {
        abort();
    }
    return l;
}

void
soak_load_pause(struct soak_load *l)
{
    atomic_store(&l->paused, true);
}

void
soak_load_stats(struct soak_load *l, struct soak_load_stats *out)
{
    pthread_mutex_lock(&l->lock);
    *out = l->st;
    pthread_mutex_unlock(&l->lock);
}

void
soak_load_stop(struct soak_load **lp)
{
    struct soak_load *l = *lp;
    if (!l) {
        return;
    }
    atomic_store(&l->stop, true);
    pthread_join(l->thread, NULL);
    pthread_mutex_destroy(&l->lock);
    free(l);
    *lp = NULL;
}
