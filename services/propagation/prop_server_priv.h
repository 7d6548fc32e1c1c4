/* SPDX-License-Identifier: Apache-2.0 */
/* Propagation's server state, shared by prop_server.c (the loop, its inputs, start and stop),
 * prop_output.c (the output batch, its send to routing and the Kafka journal) and
 * prop_server_rest.c (the REST threads' side); see prop_server.h. */
#ifndef PROP_SERVER_PRIV_H
#define PROP_SERVER_PRIV_H

#include <czmq.h>
#include <stdatomic.h>

#include "prop_dedup.h"
#include "prop_dedup_store.h"
#include "prop_identity.h"
#include "prop_server.h"
#include "prop_stamp.h"
#include "vx_ackrx.h"
#include "vx_call.h"
#include "vx_drop.h"
#include "vx_kafka.h"
#include "vx_link.h"
#include "vx_loop.h"
#include "vx_rx.h"
#include "vx_wire.h"

#define PROP_OUT_CAP 10000 /* largest batch_max_events */
#define PROP_LAT_BUCKETS 24 /* finite bounds of the latency histogram */

/* The reasons propagation drops events for, shown from the start. */
#define PROP_DROP_MASK                                                                                \
    (VX_DROP_MASK_EVENT | VX_DROP_MASK_RX | VX_DROP_BIT(VX_DROP_DUPLICATE) |                       \
     VX_DROP_BIT(VX_DROP_SHUTDOWN) | VX_DROP_BIT(VX_DROP_KAFKA_FAILED) |                           \
     VX_DROP_BIT(VX_DROP_BUSY) | VX_DROP_BIT(VX_DROP_IDENTITY) | VX_DROP_BIT(VX_DROP_SEND_FAILED))


/* A REST submission travelling to the loop and back. */
struct prop_submit {
    struct vx_call call;
    bool durable;
    void *packed;
    size_t len;
    /* written by the loop thread before the call is done */
    int pending; /* Kafka acknowledgements still awaited */
    int status;
    char message[256];
    size_t accepted;
    size_t duplicates;
    json_t *ids;
};

/* The output batch under construction and what the loop must remember of each event in it. */
struct prop_out {
    struct vx_batchbuf b;
    size_t rec_off[PROP_OUT_CAP];  /* where each packed Event starts in b.buf */
    size_t rec_len[PROP_OUT_CAP];
    uint64_t recv_ns[PROP_OUT_CAP];
    uint64_t hash[PROP_OUT_CAP]; /* content hash recorded in the dedup window, 0: none */
    struct prop_submit *req[PROP_OUT_CAP];
    struct vx_ack *ack[PROP_OUT_CAP]; /* the acknowledged-ingest batch of each event, or NULL */
    uint64_t oldest_ns; /* monotonic time the first event of this batch was accepted */
};

struct prop_server {
    struct prop_config cfg;
    struct prop_live live;
    char producer_id[300];
    size_t producer_id_len;
    volatile sig_atomic_t *stop; /* set by prop_server_run */

    vx_loop_t *loop;
    zsock_t *ingest;
    zsock_t *acked; /* ROUTER of the acknowledged ingest, or NULL (vx_ackrx.h) */
    int acked_reader;
    zsock_t *output;
    vx_link_t *link; /* output_acked: the acknowledged output in place of `output` */
    char link_sender[340]; /* the output batches' sender: producer id and start time */
    zsock_t *tap;
    vx_inbox_t *rest;
    char ingest_ep[256], acked_ep[256], output_ep[256], tap_ep[256];
    vx_acks_t *acks;
    uint64_t published_epoch; /* successful publishes so far (output_acked: put in the link) */
    bool acks_broken;         /* a publish failed (shutdown): acknowledge nothing more */

    vx_kafka_t *kafka;
    bool kafka_enabled;      /* constant after new: REST threads read it */
    atomic_bool kafka_fatal; /* mirrored by the loop: REST threads never touch kafka */

    prop_dedup_t *dedup;
    prop_dedup_store_t *dedup_store; /* NULL without state_dir */
    uint64_t dedup_saved_ns;         /* monotonic time of the last checkpoint */
    uint64_t dedup_saved_input;      /* events received at the last checkpoint */
    prop_identities_t *identities;
    uint64_t identity_logged_ns;
    uint64_t identity_unlogged;
    vx_rx_t *rx_zmq;  /* the PULL ingest and the acknowledged ROUTER */
    vx_rx_t *rx_rest; /* REST submissions (already validated, never sequence-tracked) */
    struct prop_stamper stamper;
    struct prop_out *out;
    uint64_t out_batch_seq;
    uint8_t *scratch; /* re-encoding of events whose unknown fields are stripped */
    size_t scratch_cap;
    uint64_t shutdown_deadline; /* monotonic; 0 while running */
    atomic_bool running;

    /* metrics */
    struct vx_drops drops;
    struct vx_drops lost_routing, lost_kafka; /* vexfs_events_lost_total of the two hops */
    vx_counter_t *received_zmq, *received_rest, *processed, *deduplicated, *slow;
    vx_counter_t *seq_gaps, *batches_in, *batches_out, *tap_dropped;
    vx_counter_t *kafka_delivered, *kafka_failed;
    vx_counter_t *acks_sent, *replayed, *ack_unsent;
    vx_gauge_t *acks_pending;
    vx_histogram_t *latency;
    vx_gauge_t *dedup_entries, *dedup_evictions, *kafka_inflight;
};

/* Whether a stop was asked for (the signal handler's flag). */
bool prop_server_stopping(const prop_server_t *s);

/* Publishes the output batch: to routing (waiting for it), to the tap (never waiting), then
 * journals each event and accounts latency. */
void prop_output_flush(prop_server_t *s);
/* Appends one accepted event: its bytes as received (span of the batch being read, or
 * re-encoded without unknown fields) and its stamp (wall time, source, tenant, id). */
void prop_output_append(prop_server_t *s, const vx_event_t *e, struct vx_span span, uint64_t wall,
                        int source, const char *tenant, uint8_t id[VX_EVENT_ID_LEN]);
/* The Kafka producer's delivery report (vx_kafka.h): opaque is the submission or the
 * acknowledged batch the journaled event belongs to. */
void prop_output_cb_delivery(void *opaque, int err, const char *errstr, void *arg);
/* Frees a REST submission (the vx_call's free function). */
void prop_submit_cb_free(struct vx_call *c);

#endif /* PROP_SERVER_PRIV_H */
