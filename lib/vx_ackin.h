/* SPDX-License-Identifier: Apache-2.0 */
/* An acknowledged input: the receiving end of a vx_link (vx_link.h), shared by every daemon
 * that reads batches over one (routing's input from propagation; the coordinator's,
 * automation's and analytics' inputs from routing's acknowledged boundaries).
 *
 * - Plain (opts.acked false): a PULL; batches are read through the receive path (vx_rx) and
 *   nothing is answered.
 *
 * - Acknowledged (opts.acked true): a ROUTER connected to the sender's bound DEALER. Each batch
 *   is answered with "ack" + its sequence (vx_ackrx.h) once the receiver called
 *   vx_ackin_done for it and the epoch it was given there was reached (vx_ackin_flush's
 *   `reached`): a receiver whose hand-off is complete at once passes 0 and UINT64_MAX; routing
 *   passes the checkpoints of its own acknowledged outputs, so its input is answered only
 *   once every acknowledged boundary answered routing. A batch whose (sender, batch sequence)
 *   was taken before (a resend after a timeout, a lost connection or a restart) is
 *   acknowledged again and not handed on: counted in <prefix>_duplicates_total and
 *   <prefix>_duplicate_events_total.
 *
 *   Two records of the senders (vx_senders.h, at most senders_max each): one of the batches
 *   taken (it tells a resend from a new batch while the receiver runs) and one of the batches
 *   acknowledged, which is the one saved: over <state_dir>/senders.live in place (sealed; one
 *   pwrite per flush, no fsync) before the acknowledgements of that flush leave, and to the
 *   fsynced <state_dir>/senders.json every save_ms while it changes (by a writer thread,
 *   vx_bgwrite, so the loop never waits for the disk) and at destroy. So a
 *   receiver restarted after kill -9 knows every batch it acknowledged (their resends are
 *   duplicates; a gap it counts is real), and a batch taken but not yet acknowledged at the
 *   kill is taken again when resent (at least once, never lost). After a crash of the
 *   machine the record may miss the last save_ms.
 *
 * At most VX_ACKIN_PENDING acknowledgements wait; while that many do, vx_ackin_recv reads
 * nothing (the ROUTER's high-water mark then makes the sender wait) and vx_ackin_full says so.
 *
 * One thread owns a vx_ackin_t; the socket stays its caller's. */
#ifndef VX_ACKIN_H
#define VX_ACKIN_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_drop.h"
#include "vx_metrics.h"
#include "vx_rx.h"
#include "vx_seal.h"

#define VX_ACKIN_PENDING 4096 /* above the largest window a shipped sender uses */

struct vx_ackin_opts {
    bool acked;
    size_t senders_max;
    int save_ms;
    const char *state_dir;     /* borrowed; "" or NULL: senders not saved */
    const vx_sealer_t *sealer; /* borrowed; NULL: plaintext */
    vx_rx_t *rx;               /* borrowed: the receive path (framing, decoding, drops) */
    vx_counter_t *gaps;        /* borrowed: missing batches counted here in acked mode */
    struct vx_drops *drops;    /* borrowed: bad_frame of the ROUTER's messages (may be NULL) */
    const char *prefix;        /* metric prefix, e.g. "vexfs_routing_input" (static) */
    const char *where;         /* the config key named in errors, e.g. "event_routing.state_dir" */
};

typedef struct vx_ackin vx_ackin_t;

/* Loads the saved senders (acked mode). Returns NULL with a message in err. */
vx_ackin_t *vx_ackin_new(const struct vx_ackin_opts *o, vx_metrics_t *metrics, char *err,
                         size_t errlen);
/* Saves the acknowledged senders a last time (acked mode) and frees. Accepts NULL. */
void vx_ackin_destroy(vx_ackin_t **in);

/* The socket type of the input: ZMQ_ROUTER (acked) or ZMQ_PULL. */
int vx_ackin_socket_type(const vx_ackin_t *in);
bool vx_ackin_acked(const vx_ackin_t *in);

/* Receives one batch from sock without waiting. Returns 0 with *out filled (borrowed until the
 * next call; hand it on, then call vx_ackin_done), -EAGAIN or -EINTR when nothing came (or
 * vx_ackin_full), -EPROTO when a message was dropped (counted), or -EALREADY when it was a
 * duplicate (its acknowledgement queued and counted: nothing to hand on). */
int vx_ackin_recv(vx_ackin_t *in, zsock_t *sock, struct vx_rx_batch *out);

/* The batch last returned by vx_ackin_recv was handed on; its acknowledgement is due once
 * the epoch passed to vx_ackin_flush reaches `epoch`. */
void vx_ackin_done(vx_ackin_t *in, uint64_t epoch);

/* Acknowledgements queued and not yet sent. */
size_t vx_ackin_pending(const vx_ackin_t *in);
/* True while VX_ACKIN_PENDING acknowledgements wait (nothing is read meanwhile). */
bool vx_ackin_full(const vx_ackin_t *in);

/* Sends, in order, the queued acknowledgements whose epoch <= reached, after writing
 * senders.live with them when the record changed. */
void vx_ackin_flush(vx_ackin_t *in, zsock_t *sock, uint64_t reached);

/* Writes the fsynced senders file when save_ms passed and the record changed. */
void vx_ackin_tick(vx_ackin_t *in);

#endif
