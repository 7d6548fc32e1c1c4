/* SPDX-License-Identifier: Apache-2.0 */
/* An acknowledged input: plain or acknowledged, with remembered senders (see vx_ackin.h). */
#include "vx_ackin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vx_ackrx.h"
#include "vx_bgwrite.h"
#include "vx_clock.h"
#include "vx_log.h"
#include "vx_mem.h"
#include "vx_senders.h"

/* What an acknowledgement waiting in the queue acknowledges, in the queue's order (the
 * vx_acks ring holds the connection and sequence; this the sender, for the saved record). */
struct s_due {
    char *sender;
    uint64_t seq;
    uint64_t epoch;
};

struct vx_ackin {
    struct vx_ackin_opts o;
    char state_dir[512];
    char prefix[96];
    char where[128];
    vx_senders_t *taken; /* batches taken: tells a resend from a new batch */
    vx_senders_t *acked; /* batches acknowledged: the saved record */
    vx_bgwrite_t *writer; /* fsyncs the senders file off the loop thread (state_dir set) */
    vx_acks_t *acks;     /* due acknowledgements, sent by vx_ackin_flush */
    struct s_due *due;   /* [VX_ACKIN_PENDING] ring parallel to acks */
    size_t due_head, due_n;
    bool unsynced;  /* the senders file was written without fsync since the last fsync */
    zmq_msg_t body; /* the batch frame last received (acked mode) */
    bool have_body;
    uint8_t id[VX_ACK_ID_MAX];
    size_t id_len;
    char sender[320]; /* of the batch last received */
    uint64_t seq;     /* the sequence to acknowledge at vx_ackin_done; 0: none */
    uint64_t next_save_ns;
    uint64_t evicted_seen;
    vx_counter_t *dups, *dup_events, *acks_sent, *unacked, *evicted, *save_failed;
    vx_gauge_t *g_senders;
};

static const char *
s_name(vx_ackin_t *in, const char *suffix, char *buf, size_t len)
{
    snprintf(buf, len, "%s_%s", in->prefix, suffix);
    return buf;
}

static void
s_metrics(vx_ackin_t *in, vx_metrics_t *m)
{
    char n[160];
    in->dups = vx_metrics_counter(m, s_name(in, "duplicates_total", n, sizeof n),
                                  "Input batches taken before (resends), acknowledged again and "
                                  "not handed on.",
                                  NULL);
    in->dup_events = vx_metrics_counter(m, s_name(in, "duplicate_events_total", n, sizeof n),
                                        "Events in the input batches counted as duplicates.",
                                        NULL);
    in->acks_sent = vx_metrics_counter(m, s_name(in, "acks_total", n, sizeof n),
                                       "Acknowledgements sent to the input's sender.", NULL);
    in->unacked = vx_metrics_counter(m, s_name(in, "unacknowledged_batches_total", n, sizeof n),
                                     "Input batches handed on but never acknowledged: no sender "
                                     "or batch sequence.",
                                     NULL);
    in->evicted = vx_metrics_counter(m, s_name(in, "senders_evicted_total", n, sizeof n),
                                     "Senders forgotten to stay within senders_max.", NULL);
    in->save_failed = vx_metrics_counter(m, s_name(in, "senders_save_failures_total", n,
                                                   sizeof n),
                                         "Failed writes of the senders file.", NULL);
    in->g_senders = vx_metrics_gauge(m, s_name(in, "senders", n, sizeof n),
                                     "Senders remembered (at most senders_max).", NULL);
}

/* The outcome of a background write of the senders file (on the writer thread). */
static void
cb_saved(void *arg, int rc, uint64_t tag, const char *err)
{
    (void)tag;
    vx_ackin_t *in = arg;
    if (rc < 0) {
        vx_counter_add(in->save_failed, 1);
        vx_error("VX-ACKIN-SENDERS", "not saved (resends after a restart may be handed on "
                                     "again): %s",
                 err);
    }
}

vx_ackin_t *
vx_ackin_new(const struct vx_ackin_opts *o, vx_metrics_t *m, char *err, size_t errlen)
{
    vx_ackin_t *in = vx_calloc(1, sizeof *in);
    in->o = *o;
    snprintf(in->state_dir, sizeof in->state_dir, "%s", o->state_dir ? o->state_dir : "");
    snprintf(in->prefix, sizeof in->prefix, "%s", o->prefix ? o->prefix : "vexfs_input");
    snprintf(in->where, sizeof in->where, "%s", o->where ? o->where : "state_dir");
    in->o.state_dir = in->state_dir;
    if (!o->acked) {
        return in;
    }
    s_metrics(in, m);
    in->taken = vx_senders_new(o->senders_max);
    in->acked = vx_senders_new(o->senders_max);
    in->acks = vx_acks_new(VX_ACKIN_PENDING);
    in->due = vx_calloc(VX_ACKIN_PENDING, sizeof *in->due);
    if (in->state_dir[0]) {
        char lerr[1024];
        char note[1024];
        int rc = vx_senders_load(in->acked, o->sealer, in->state_dir, lerr, sizeof lerr, note,
                                 sizeof note);
        if (rc == 0) {
            rc = vx_senders_load(in->taken, o->sealer, in->state_dir, lerr, sizeof lerr, NULL,
                                 0);
        }
        if (note[0]) {
            vx_warn("VX-ACKIN-SENDERS", "%s passed over (a crash of the machine?), %s read "
                                        "instead: %s",
                    VX_SENDERS_LIVE, VX_SENDERS_FILE, note);
        }
        if (rc < 0) {
            snprintf(err, errlen, "%s: %s", in->where, lerr);
            vx_ackin_destroy(&in);
            return NULL;
        }
        vx_info("VX-ACKIN-SENDERS", "%zu senders remembered from %s",
                vx_senders_count(in->acked), in->state_dir);
        char path[sizeof in->state_dir + 32];
        snprintf(path, sizeof path, "%s/%s", in->state_dir, VX_SENDERS_FILE);
        in->writer = vx_bgwrite_new(path, o->sealer, cb_saved, in, lerr, sizeof lerr);
        if (!in->writer) {
            snprintf(err, errlen, "%s: %s", in->where, lerr);
            vx_ackin_destroy(&in);
            return NULL;
        }
    }
    vx_gauge_set(in->g_senders, (double)vx_senders_count(in->taken));
    return in;
}

/* Writes the acknowledged record. Not sync: in place, every flush that acknowledges (survives
 * a kill -9). Sync: the fsynced copy (survives a crash of the machine), handed to the writer
 * thread, since an fsync can hold a loop for tens of milliseconds; final: written at stop,
 * synchronously. A failure is counted and logged, the acknowledgements still go (delivery
 * stays at least once; only duplicate counting after a restart suffers). */
static void
s_save(vx_ackin_t *in, bool sync, bool final)
{
    char err[1024];
    int rc = 0;
    if (!sync) {
        rc = vx_senders_save_live(in->acked, in->o.sealer, in->state_dir, err, sizeof err);
    } else {
        size_t len = 0;
        char *text = vx_senders_snapshot(in->acked, &len);
        if (!text) {
            rc = -ENOMEM;
            snprintf(err, sizeof err, "%s: cannot encode the record", VX_SENDERS_FILE);
        } else if (final) {
            rc = vx_bgwrite_finish(in->writer, text, len, err, sizeof err);
            free(text);
        } else {
            vx_bgwrite_put(in->writer, text, len, 0);
        }
    }
    if (rc < 0) {
        cb_saved(in, rc, 0, err);
        return;
    }
    in->unsynced = !sync;
    if (sync) {
        in->next_save_ns = vx_mono_ns() + (uint64_t)in->o.save_ms * VX_NS_PER_MS;
    }
}

static void
s_queue_ack(vx_ackin_t *in, uint64_t seq, uint64_t epoch)
{
    /* vx_ackin_recv reads nothing while the queue is full, so there is room. */
    vx_acks_push(in->acks, in->id, in->id_len, seq, epoch);
    struct s_due *d = &in->due[(in->due_head + in->due_n) % VX_ACKIN_PENDING];
    d->sender = vx_strdup(in->sender);
    d->seq = seq;
    d->epoch = epoch;
    in->due_n++;
}

static void
s_release_body(vx_ackin_t *in)
{
    if (in->have_body) {
        zmq_msg_close(&in->body);
        in->have_body = false;
    }
}

void
vx_ackin_destroy(vx_ackin_t **inp)
{
    vx_ackin_t *in = *inp;
    if (!in) {
        return;
    }
    if (in->writer) {
        s_save(in, true, true); /* also when a handed-over copy may still wait unwritten */
    }
    vx_bgwrite_destroy(&in->writer);
    s_release_body(in);
    for (size_t i = 0; in->due && i < in->due_n; i++) {
        free(in->due[(in->due_head + i) % VX_ACKIN_PENDING].sender);
    }
    free(in->due);
    vx_senders_destroy(&in->taken);
    vx_senders_destroy(&in->acked);
    vx_acks_destroy(&in->acks);
    vx_free(inp);
}

int
vx_ackin_socket_type(const vx_ackin_t *in)
{
    return in->o.acked ? ZMQ_ROUTER : ZMQ_PULL;
}

bool
vx_ackin_acked(const vx_ackin_t *in)
{
    return in->o.acked;
}

bool
vx_ackin_full(const vx_ackin_t *in)
{
    return in->acks && vx_acks_full(in->acks);
}

int
vx_ackin_recv(vx_ackin_t *in, zsock_t *sock, struct vx_rx_batch *out)
{
    in->seq = 0;
    if (!in->o.acked) {
        return vx_rx_recv(in->o.rx, sock, out, ZMQ_DONTWAIT);
    }
    if (vx_acks_full(in->acks)) {
        return -EAGAIN;
    }
    s_release_body(in);
    int rc = vx_acks_recv(sock, in->id, &in->id_len, &in->body);
    if (rc == -EAGAIN) {
        return rc;
    }
    if (rc < 0) {
        if (in->o.drops) {
            vx_drops_add(in->o.drops, VX_DROP_BAD_FRAME, 1); /* as a plain input counts it */
        }
        vx_debug("VX-ACKIN-FRAME", "message without exactly topic + batch frames dropped");
        return -EPROTO;
    }
    in->have_body = true;
    rc = vx_rx_bytes(in->o.rx, zmq_msg_data(&in->body), zmq_msg_size(&in->body), false,
                     vx_rx_msg_peer(&in->body), out);
    if (rc < 0) {
        return rc; /* undecodable: counted by vx_rx and never acknowledged */
    }
    if (!out->sender[0] || out->batch_seq == 0) {
        vx_counter_add(in->unacked, 1);
        return 0;
    }
    snprintf(in->sender, sizeof in->sender, "%s", out->sender);
    struct vx_senders_result r = vx_senders_observe(in->taken, out->sender, out->batch_seq);
    if (r.duplicate) {
        vx_counter_add(in->dups, 1);
        vx_counter_add(in->dup_events, out->n_events);
        s_queue_ack(in, out->batch_seq, 0);
        return -EALREADY;
    }
    if (r.missing && in->o.gaps) {
        vx_counter_add(in->o.gaps, r.missing);
        out->seq.missing = r.missing;
    }
    if (r.new_sender) {
        vx_gauge_set(in->g_senders, (double)vx_senders_count(in->taken));
        uint64_t ev = vx_senders_evicted(in->taken);
        if (ev > in->evicted_seen) {
            vx_counter_add(in->evicted, ev - in->evicted_seen);
            in->evicted_seen = ev;
        }
    }
    in->seq = out->batch_seq;
    return 0;
}

void
vx_ackin_done(vx_ackin_t *in, uint64_t epoch)
{
    if (!in->o.acked || in->seq == 0) {
        return;
    }
    s_queue_ack(in, in->seq, epoch);
    in->seq = 0;
}

size_t
vx_ackin_pending(const vx_ackin_t *in)
{
    return in->acks ? vx_acks_pending(in->acks) : 0;
}

void
vx_ackin_flush(vx_ackin_t *in, zsock_t *sock, uint64_t reached)
{
    if (!in->o.acked || in->due_n == 0) {
        return;
    }
    /* The record first: an acknowledged batch is then known as taken after a kill -9, so its
     * resend is counted as a duplicate and the next new batch shows no false gap. Only what
     * is acknowledged now goes into it: a batch taken but not yet acknowledged is taken again
     * when it comes back. */
    size_t n = 0;
    while (n < in->due_n) {
        struct s_due *d = &in->due[(in->due_head + n) % VX_ACKIN_PENDING];
        if (d->epoch > reached) {
            break;
        }
        vx_senders_observe(in->acked, d->sender, d->seq);
        n++;
    }
    if (n == 0) {
        return;
    }
    if (in->state_dir[0] && vx_senders_dirty(in->acked)) {
        s_save(in, false, false);
    }
    size_t sent = vx_acks_release(in->acks, reached, sock);
    for (size_t i = 0; i < n; i++) {
        struct s_due *d = &in->due[in->due_head];
        free(d->sender);
        d->sender = NULL;
        in->due_head = (in->due_head + 1) % VX_ACKIN_PENDING;
        in->due_n--;
    }
    vx_counter_add(in->acks_sent, sent);
}

void
vx_ackin_tick(vx_ackin_t *in)
{
    if (!in->writer || !(in->unsynced || vx_senders_dirty(in->acked))) {
        return;
    }
    uint64_t now = vx_mono_ns();
    if (now < in->next_save_ns) {
        return;
    }
    s_save(in, true, false);
}
