/* SPDX-License-Identifier: Apache-2.0 */
/* Routing's input: plain or acknowledged, with remembered senders (see rt_input.h). */
#include "rt_input.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "rt_config.h"
#include "vx_ackrx.h"
#include "vx_bgwrite.h"
#include "vx_clock.h"
#include "vx_log.h"
#include "vx_mem.h"
#include "vx_senders.h"

#define S_ACKS_MAX 4096 /* acknowledgements held: above propagation's largest window */

struct rt_input {
    struct rt_input_opts o;
    vx_senders_t *senders;
    vx_bgwrite_t *writer; /* fsyncs the senders file off the loop thread (state_dir set) */
    vx_acks_t *acks;  /* due acknowledgements: sent by rt_input_flush */
    bool unsynced;    /* the senders file was written without fsync since the last fsync */
    zmq_msg_t body;   /* the batch frame last received (acked mode) */
    bool have_body;
    uint8_t id[VX_ACK_ID_MAX];
    size_t id_len;
    uint64_t seq;     /* the sequence to acknowledge at rt_input_done; 0: none */
    uint64_t next_save_ns;
    uint64_t evicted_seen;
    vx_counter_t *dups, *dup_events, *acks_sent, *unacked, *evicted, *save_failed;
    vx_gauge_t *g_senders;
};

/* The outcome of a background write of the senders file (on the writer thread). */
static void
cb_saved(void *arg, int rc, uint64_t tag, const char *err)
{
    (void)tag;
    rt_input_t *in = arg;
    if (rc < 0) {
        vx_counter_add(in->save_failed, 1);
        vx_error("RT-INPUT-SENDERS", "not saved (resends after a restart may be routed "
                                     "again): %s",
                 err);
    }
}

rt_input_t *
rt_input_new(const struct rt_input_opts *o, vx_metrics_t *m, char *err, size_t errlen)
{
    rt_input_t *in = vx_calloc(1, sizeof *in);
    in->o = *o;
    if (!o->acked) {
        return in;
    }
    in->dups = vx_metrics_counter(m, "vexfs_routing_input_duplicates_total",
                                  "Input batches taken before (resends), acknowledged again and "
                                  "not routed.",
                                  NULL);
    in->dup_events = vx_metrics_counter(m, "vexfs_routing_input_duplicate_events_total",
                                        "Events in the input batches counted as duplicates.",
                                        NULL);
    in->acks_sent = vx_metrics_counter(m, "vexfs_routing_input_acks_total",
                                  "Acknowledgements sent to propagation (input_acked).", NULL);
    in->unacked = vx_metrics_counter(m, "vexfs_routing_input_unacknowledged_batches_total",
                                     "Input batches routed but never acknowledged: no sender or "
                                     "batch sequence.",
                                     NULL);
    in->evicted = vx_metrics_counter(m, "vexfs_routing_input_senders_evicted_total",
                                     "Senders forgotten to stay within senders_max.", NULL);
    in->save_failed = vx_metrics_counter(m, "vexfs_routing_input_senders_save_failures_total",
                                         "Failed writes of the senders file.", NULL);
    in->g_senders = vx_metrics_gauge(m, "vexfs_routing_input_senders",
                                     "Senders remembered (at most senders_max).", NULL);
    in->senders = vx_senders_new(o->senders_max);
    in->acks = vx_acks_new(S_ACKS_MAX);
    if (o->state_dir[0]) {
        char lerr[1024];
        char note[1024];
        int rc = vx_senders_load(in->senders, o->sealer, o->state_dir, lerr, sizeof lerr, note,
                                 sizeof note);
        if (note[0]) {
            vx_warn("RT-INPUT-SENDERS", "%s passed over (a crash of the machine?), %s read "
                                        "instead: %s",
                    VX_SENDERS_LIVE, VX_SENDERS_FILE, note);
        }
        if (rc < 0) {
            snprintf(err, errlen, RT_SECTION ".state_dir: %s", lerr);
            rt_input_destroy(&in);
            return NULL;
        }
        vx_info("RT-INPUT-SENDERS", "%zu senders remembered from %s",
                vx_senders_count(in->senders), o->state_dir);
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", o->state_dir, VX_SENDERS_FILE);
        in->writer = vx_bgwrite_new(path, o->sealer, cb_saved, in, lerr, sizeof lerr);
        if (!in->writer) {
            snprintf(err, errlen, RT_SECTION ".state_dir: %s", lerr);
            rt_input_destroy(&in);
            return NULL;
        }
    }
    vx_gauge_set(in->g_senders, (double)vx_senders_count(in->senders));
    return in;
}

/* Writes the senders file. Not sync: in place, every loop turn that acknowledges (survives a
 * kill -9). Sync: the fsynced copy (survives a crash of the machine), handed to the writer
 * thread, since an fsync can hold a loop for tens of milliseconds; final: written at stop,
 * synchronously. A failure is counted and logged, the acknowledgements still go (delivery
 * stays at least once; only duplicate counting after a restart suffers). */
static void
s_save(rt_input_t *in, bool sync, bool final)
{
    char err[1024];
    int rc = 0;
    if (!sync) {
        rc = vx_senders_save_live(in->senders, in->o.sealer, in->o.state_dir, err, sizeof err);
    } else {
        size_t len = 0;
        char *text = vx_senders_snapshot(in->senders, &len);
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
s_queue_ack(rt_input_t *in, zsock_t *sock, uint64_t seq)
{
    if (vx_acks_full(in->acks)) {
        rt_input_flush(in, sock);
    }
    vx_acks_push(in->acks, in->id, in->id_len, seq, 0);
}

static void
s_release_body(rt_input_t *in)
{
    if (in->have_body) {
        zmq_msg_close(&in->body);
        in->have_body = false;
    }
}

void
rt_input_destroy(rt_input_t **inp)
{
    rt_input_t *in = *inp;
    if (!in) {
        return;
    }
    if (in->writer) {
        s_save(in, true, true); /* also when a handed-over copy may still wait unwritten */
    }
    vx_bgwrite_destroy(&in->writer);
    s_release_body(in);
    vx_senders_destroy(&in->senders);
    vx_acks_destroy(&in->acks);
    vx_free(inp);
}

int
rt_input_socket_type(const rt_input_t *in)
{
    return in->o.acked ? ZMQ_ROUTER : ZMQ_PULL;
}

int
rt_input_recv(rt_input_t *in, zsock_t *sock, struct vx_rx_batch *out)
{
    in->seq = 0;
    if (!in->o.acked) {
        return vx_rx_recv(in->o.rx, sock, out, ZMQ_DONTWAIT);
    }
    s_release_body(in);
    int rc = vx_acks_recv(sock, in->id, &in->id_len, &in->body);
    if (rc == -EAGAIN) {
        return rc;
    }
    if (rc < 0) {
        vx_drops_add(in->o.drops, VX_DROP_BAD_FRAME, 1); /* as the plain input counts it */
        vx_debug("RT-INPUT-FRAME", "message without exactly topic + batch frames dropped");
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
    struct vx_senders_result r = vx_senders_observe(in->senders, out->sender, out->batch_seq);
    if (r.duplicate) {
        vx_counter_add(in->dups, 1);
        vx_counter_add(in->dup_events, out->n_events);
        s_queue_ack(in, sock, out->batch_seq);
        return -EALREADY;
    }
    if (r.missing) {
        vx_counter_add(in->o.gaps, r.missing);
        out->seq.missing = r.missing;
    }
    if (r.new_sender) {
        vx_gauge_set(in->g_senders, (double)vx_senders_count(in->senders));
        uint64_t ev = vx_senders_evicted(in->senders);
        if (ev > in->evicted_seen) {
            vx_counter_add(in->evicted, ev - in->evicted_seen);
            in->evicted_seen = ev;
        }
    }
    in->seq = out->batch_seq;
    return 0;
}

void
rt_input_done(rt_input_t *in, zsock_t *sock)
{
    if (!in->o.acked || in->seq == 0) {
        return;
    }
    s_queue_ack(in, sock, in->seq);
    in->seq = 0;
}

size_t
rt_input_pending(const rt_input_t *in)
{
    return in->acks ? vx_acks_pending(in->acks) : 0;
}

void
rt_input_flush(rt_input_t *in, zsock_t *sock)
{
    if (!in->o.acked || vx_acks_pending(in->acks) == 0) {
        return;
    }
    /* The record first: an acknowledged batch is then known as taken after a kill -9, so its
     * resend is counted as a duplicate and the next new batch shows no false gap. */
    if (in->o.state_dir[0] && vx_senders_dirty(in->senders)) {
        s_save(in, false, false);
    }
    size_t n = vx_acks_release(in->acks, UINT64_MAX, sock);
    vx_counter_add(in->acks_sent, n);
}

void
rt_input_tick(rt_input_t *in)
{
    if (!in->writer || !(in->unsynced || vx_senders_dirty(in->senders))) {
        return;
    }
    uint64_t now = vx_mono_ns();
    if (now < in->next_save_ns) {
        return;
    }
    s_save(in, true, false);
}
