/* SPDX-License-Identifier: Apache-2.0 */
/* Routing's input from propagation: the batches the loop routes, read in one of two ways.
 *
 * - Plain (input_acked false): a PULL connected to propagation's PUSH output; a batch in
 *   ZeroMQ or TCP when either side is killed is lost, seen only as a sequence gap.
 *
 * - Acknowledged (input_acked true): a ROUTER connected to propagation's output_endpoint, where
 *   propagation (output_acked true) binds the DEALER of a vx_link (vx_link.h; the receiving
 *   side is vx_ackrx.h). Several routing instances may connect to one propagation: its DEALER
 *   hands each batch to the next connected routing with room, so they share the load as they
 *   do with PUSH/PULL. Each batch is answered with "ack" + its sequence once the loop routed
 *   it (rt_input_done): decided, and taken by its outputs (handed to ZeroMQ or the Kafka
 *   producer, or queued for a consumer that cannot take it yet; none left in a batch under
 *   construction), dropped and counted by a filter, or sent nowhere. What a boundary's queue
 *   or ZeroMQ still holds for a consumer dies with a kill -9 of routing: the hop to the
 *   boundaries is not acknowledged. A batch whose (sender,
 *   batch sequence) was taken before (a resend after a timeout, a lost connection or a routing
 *   restart) is acknowledged again and not routed: counted in
 *   vexfs_routing_input_duplicates_total. Which sequences of which senders were taken is kept
 *   by a vx_senders (vx_senders.h), at most senders_max senders, and written over
 *   <state_dir>/senders.live in place (sealed like the rules state; one pwrite per loop turn,
 *   no fsync) before the acknowledgements of that turn leave, and to the fsynced
 *   <state_dir>/senders.json every senders_save_ms while it changes and at stop, so a routing restarted after kill -9 knows every batch it
 *   acknowledged: their resends are counted as duplicates, and a sequence gap it counts in
 *   vexfs_sequence_gaps_total{link="propagation"} is a real one. Batches routed but not yet
 *   acknowledged at a kill -9 are resent and routed again (at least once, never lost). After
 *   a crash of the machine, the file may miss the last senders_save_ms.
 *
 * One thread (the routing loop) owns this; the socket stays rt_server's (it reopens it). */
#ifndef RT_INPUT_H
#define RT_INPUT_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>

#include "vx_drop.h"
#include "vx_metrics.h"
#include "vx_rx.h"
#include "vx_seal.h"

struct rt_input_opts {
    bool acked;
    size_t senders_max;
    int save_ms;
    const char *state_dir;     /* borrowed; "" : senders not saved */
    const vx_sealer_t *sealer; /* borrowed; NULL: plaintext */
    vx_rx_t *rx;               /* borrowed: the receive path (framing, decoding, drops) */
    vx_counter_t *gaps;        /* borrowed: counted here in acked mode */
    struct vx_drops *drops;    /* borrowed: bad_frame of the ROUTER's messages */
};

typedef struct rt_input rt_input_t;

/* Loads the saved senders (acked mode). Returns NULL with a message in err. */
rt_input_t *rt_input_new(const struct rt_input_opts *o, vx_metrics_t *metrics, char *err,
                         size_t errlen);
/* Saves the senders a last time (acked mode) and frees. */
void rt_input_destroy(rt_input_t **in);

/* The socket type of the input: ZMQ_ROUTER (acked) or ZMQ_PULL. */
int rt_input_socket_type(const rt_input_t *in);

/* Receives one batch from sock without waiting. Returns 0 with *out filled (borrowed until the
 * next call; route it, then call rt_input_done), -EAGAIN or -EINTR when nothing came, -EPROTO
 * when a message was dropped (counted), or -EALREADY when it was a duplicate (acknowledged
 * again and counted: nothing to route). */
int rt_input_recv(rt_input_t *in, zsock_t *sock, struct vx_rx_batch *out);

/* The batch last returned by rt_input_recv was handed on: its acknowledgement is due. */
void rt_input_done(rt_input_t *in, zsock_t *sock);

/* Acknowledgements due and not yet sent. */
size_t rt_input_pending(const rt_input_t *in);

/* Sends the due acknowledgements, after writing senders.live when the record changed. The
 * loop calls it once per turn, after the batches it read were routed and no event is left in
 * an output's batch under construction. */
void rt_input_flush(rt_input_t *in, zsock_t *sock);

/* Writes senders.json (fsynced) when the record changed and senders_save_ms passed. */
void rt_input_tick(rt_input_t *in);

#endif
