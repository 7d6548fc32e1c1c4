/* SPDX-License-Identifier: Apache-2.0 */
/* The forwarder loop: input, translation, batching, delivery with retries, shutdown. */
#include "fwd_server.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fwd_config.h"
#include "vx_link.h"
#include "fwd_translate.h"
#include "vx_arena.h"
#include "vx_clock.h"
#include "vx_log.h"
#include "vx_mem.h"
#include "vx_wire.h"

#define S_INBUF (4 * FWD_RECORD_MAX)
#define S_REOPEN_MS 1000
#define S_IDLE_MS 200

static const char *const s_reasons[] = {FWD_R_TRUNCATED, FWD_R_CORRUPT, FWD_R_VERSION, FWD_R_OP,
                                        FWD_R_PATH};
#define S_N_REASONS (sizeof s_reasons / sizeof s_reasons[0])

struct fwd_server {
    /* settings */
    char *device;
    size_t batch_max;
    uint64_t delay_ns, shutdown_ns;
    /* input */
    int fd;
    bool eof;
    uint64_t next_open_ns;
    uint8_t *in;
    size_t in_len;
    uint64_t last_kseq;
    /* the batch being filled, in arena */
    vx_arena_t *arena;
    vx_event_t **events;
    size_t n;
    uint64_t open_ns;
    /* delivery */
    vx_link_t *link;
    char sender[300];
    uint64_t event_seq;
    bool paused; /* input not read: the link's buffer is full */
    /* observability */
    _Atomic bool input_open;
    vx_counter_t *translated, *rejected[S_N_REASONS], *kernel_lost, *shutdown_lost;
};

/* ---- input ---------------------------------------------------------------------------- */

static void
s_open_input(fwd_server_t *s, uint64_t now)
{
    struct stat st;
    int flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC;
    /* A FIFO opened for reading and writing never reports end of input when a writer goes
     * away: tests may write it in several runs. */
    if (stat(s->device, &st) == 0 && S_ISFIFO(st.st_mode)) {
        flags = O_RDWR | O_NONBLOCK | O_CLOEXEC;
    }
    s->fd = open(s->device, flags);
    if (s->fd < 0) {
        if (s->next_open_ns == 0) {
            vx_warn("FWD-OPEN", "%s: %s; retrying every %d ms", s->device, strerror(errno),
                    S_REOPEN_MS);
        }
        s->next_open_ns = now + S_REOPEN_MS * VX_NS_PER_MS;
        return;
    }
    vx_info("FWD-OPEN", "reading kernel records from %s", s->device);
    s->eof = false;
    atomic_store(&s->input_open, true);
}

static void
s_reject(fwd_server_t *s, const char *reason)
{
    for (size_t i = 0; i < S_N_REASONS; i++) {
        if (strcmp(s_reasons[i], reason) == 0) {
            vx_counter_add(s->rejected[i], 1);
        }
    }
    vx_debug("FWD-REJECT", "kernel record rejected: %s", reason);
}

static void s_close_batch(fwd_server_t *s, uint64_t now);

static void
s_add(fwd_server_t *s, const struct fwd_record *r, uint64_t now)
{
    if (s->last_kseq && r->h.seq > s->last_kseq + 1) {
        /* The module hands out a sequence to every record it meant to emit. */
        uint64_t lost = r->h.seq - s->last_kseq - 1;
        vx_counter_add(s->kernel_lost, lost);
        vx_warn("FWD-KERNEL-GAP", "%llu kernel records lost before seq %llu (ring full)",
                (unsigned long long)lost, (unsigned long long)r->h.seq);
    } else if (s->last_kseq && r->h.seq <= s->last_kseq) {
        vx_info("FWD-KERNEL-RESTART", "kernel sequence restarted at %llu (module reloaded)",
                (unsigned long long)r->h.seq);
    }
    s->last_kseq = r->h.seq;
    vx_event_t *e = NULL;
    const char *reason = NULL;
    int rc = fwd_record_translate(r, s->arena, &e, &reason);
    if (rc < 0) {
        s_reject(s, reason ? reason : FWD_R_CORRUPT);
        return;
    }
    e->producer_id = s->sender;
    e->sequence = ++s->event_seq;
    if (s->n == 0) {
        s->open_ns = now;
    }
    s->events[s->n++] = e;
    vx_counter_add(s->translated, 1);
    if (s->n >= s->batch_max) {
        s_close_batch(s, now);
    }
}

/* Frames and translates what the input buffer holds; at_end: nothing more will come. */
static void
s_consume(fwd_server_t *s, uint64_t now, bool at_end)
{
    size_t off = 0;
    while (off < s->in_len) {
        struct fwd_record r;
        size_t used = 0;
        const char *reason = NULL;
        int rc = fwd_record_parse(s->in + off, s->in_len - off, &r, &used, &reason);
        if (rc == -EAGAIN) {
            if (at_end) {
                s_reject(s, FWD_R_TRUNCATED);
                off = s->in_len;
            }
            break;
        }
        if (rc < 0) {
            s_reject(s, reason);
        } else {
            s_add(s, &r, now);
        }
        off += used;
    }
    memmove(s->in, s->in + off, s->in_len - off);
    s->in_len -= off;
}

static void
s_read_input(fwd_server_t *s, uint64_t now)
{
    ssize_t n = read(s->fd, s->in + s->in_len, S_INBUF - s->in_len);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) {
            return;
        }
        vx_error("FWD-READ", "%s: %s; reopening", s->device, strerror(errno));
        close(s->fd);
        s->fd = -1;
        atomic_store(&s->input_open, false);
        s->next_open_ns = now + S_REOPEN_MS * VX_NS_PER_MS;
        return;
    }
    if (n == 0) {
        s->eof = true; /* a regular file read to its end */
        s_consume(s, now, true);
        vx_info("FWD-EOF", "%s: end of input", s->device);
        return;
    }
    s->in_len += (size_t)n;
    s_consume(s, now, false);
}

/* ---- delivery ------------------------------------------------------------------------- */

static void
s_close_batch(fwd_server_t *s, uint64_t now)
{
    (void)now;
    if (s->n == 0) {
        return;
    }
    /* The loop stops reading before the buffer is full, so there is always room here. */
    vx_link_put(s->link, s->events, s->n, s->sender);
    s->n = 0;
    vx_arena_reset(s->arena);
}

/* ---- life cycle ----------------------------------------------------------------------- */

fwd_server_t *
fwd_server_new(const struct fwd_config *cfg, const vx_socks_t *socks, const char *device,
               vx_metrics_t *m, char *err, size_t errlen)
{
    fwd_server_t *s = vx_calloc(1, sizeof *s);
    s->fd = -1;
    s->device = vx_strdup(device ? device : cfg->device);
    s->batch_max = (size_t)cfg->batch_max_events;
    s->delay_ns = (uint64_t)cfg->batch_max_delay_ms * VX_NS_PER_MS;
    s->shutdown_ns = (uint64_t)cfg->shutdown_timeout_ms * VX_NS_PER_MS;
    s->in = vx_malloc(S_INBUF);
    s->arena = vx_arena_new(64 * 1024, 0);
    s->events = vx_calloc(s->batch_max, sizeof *s->events);

    const char *id = cfg->producer_id;
    if (id[0]) {
        snprintf(s->sender, sizeof s->sender, "%s", id);
    } else {
        char host[256] = "";
        if (gethostname(host, sizeof host - 1) < 0 || !host[0]) {
            snprintf(host, sizeof host, "unknown");
        }
        snprintf(s->sender, sizeof s->sender, "forwarder-%s", host);
    }

    s->translated = vx_metrics_counter(m, "vexfs_forwarder_records_total",
                                       "Kernel records translated into events.", NULL);
    for (size_t i = 0; i < S_N_REASONS; i++) {
        s->rejected[i] = vx_metrics_counter(m, "vexfs_forwarder_records_rejected_total",
                                            "Kernel records rejected, by reason.", "reason",
                                            s_reasons[i], NULL);
    }
    const char *dh = "Events lost, by where and why.";
    s->kernel_lost = vx_metrics_counter(m, "vexfs_forwarder_events_dropped_total", dh, "reason",
                                        "kernel_ring_full", NULL);
    s->shutdown_lost = vx_metrics_counter(m, "vexfs_forwarder_events_dropped_total", dh, "reason",
                                          "shutdown", NULL);
    s->link = vx_link_new(&cfg->link, socks, "vexfs_forwarder", dh, m, err, errlen);
    if (!s->link) {
        fwd_server_destroy(&s);
        return NULL;
    }
    return s;
}

void
fwd_server_destroy(fwd_server_t **sp)
{
    fwd_server_t *s = *sp;
    if (!s) {
        return;
    }
    vx_link_destroy(&s->link);
    if (s->fd >= 0) {
        close(s->fd);
    }
    free(s->in);
    free(s->events);
    free(s->device);
    vx_arena_destroy(&s->arena);
    free(s);
    *sp = NULL;
}

bool
fwd_server_ready(fwd_server_t *s, json_t *detail)
{
    bool open = atomic_load(&s->input_open);
    json_object_set_new(detail, "input", json_string(open ? "open" : "not open"));
    return open;
}

static int
s_timeout_ms(const fwd_server_t *s, uint64_t now)
{
    uint64_t wake = now + S_IDLE_MS * VX_NS_PER_MS;
    if (s->n > 0 && s->open_ns + s->delay_ns < wake) {
        wake = s->open_ns + s->delay_ns;
    }
    uint64_t link = vx_link_wake_ns(s->link);
    if (link < wake) {
        wake = link;
    }
    if (s->fd < 0 && s->next_open_ns < wake) {
        wake = s->next_open_ns;
    }
    return wake <= now ? 0 : (int)((wake - now + VX_NS_PER_MS - 1) / VX_NS_PER_MS);
}

int
fwd_server_run(fwd_server_t *s, volatile sig_atomic_t *stop)
{
    vx_info("FWD-RUN", "sender %s: %s -> propagation", s->sender, s->device);
    /* Room for every batch the input can close in one read, so vx_link_put never lacks it. */
    size_t reserve = S_INBUF / 16 / s->batch_max + 2;
    while (!*stop) {
        uint64_t now = vx_mono_ns();
        if (s->fd < 0 && now >= s->next_open_ns) {
            s_open_input(s, now);
        }
        bool room = vx_link_room(s->link) > reserve;
        if (!room && !s->paused) {
            vx_link_count_backpressure(s->link);
        }
        s->paused = !room;
        zmq_pollitem_t items[3];
        size_t n_items = 0;
        bool reading = s->fd >= 0 && !s->eof && room;
        if (reading) {
            items[n_items++] = (zmq_pollitem_t){NULL, s->fd, ZMQ_POLLIN, 0};
        }
        n_items += vx_link_pollitems(s->link, items + n_items);
        int rc = zmq_poll(items, (int)n_items, s_timeout_ms(s, now));
        now = vx_mono_ns();
        if (rc > 0 && reading && (items[0].revents & (ZMQ_POLLIN | ZMQ_POLLERR))) {
            s_read_input(s, now);
        }
        if (s->n > 0 && now >= s->open_ns + s->delay_ns) {
            s_close_batch(s, now);
        }
        vx_link_pump(s->link, now);
    }

    vx_info("FWD-STOP", "stopping: delivering %zu buffered batches",
            vx_link_held(s->link) + (s->n > 0));
    s_close_batch(s, vx_mono_ns());
    uint64_t deadline = vx_mono_ns() + s->shutdown_ns;
    for (;;) {
        uint64_t now = vx_mono_ns();
        vx_link_pump(s->link, now);
        if (vx_link_held(s->link) == 0 || now >= deadline) {
            break;
        }
        zmq_pollitem_t items[2];
        size_t n_items = vx_link_pollitems(s->link, items);
        zmq_poll(items, (int)n_items, 10);
    }
    if (vx_link_held(s->link) > 0) {
        size_t held = vx_link_held(s->link);
        size_t lost = vx_link_abandon(s->link);
        vx_counter_add(s->shutdown_lost, lost);
        vx_warn("FWD-STOP-DROP", "%zu events in %zu batches not delivered before the timeout",
                lost, held);
        return -ETIMEDOUT;
    }
    return 0;
}
