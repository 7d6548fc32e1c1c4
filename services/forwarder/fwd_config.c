/* SPDX-License-Identifier: Apache-2.0 */
/* The event_forwarder section: every key vexfs-forwarder reads, with bounds and help. */
#include "fwd_config.h"

#include "vx_link.h"

static const struct vx_cfg_key s_keys[] = {
    {"device", VX_CFG_STRING, "/dev/vexfs_events", 0, 4096, false,
     "kernel record source: the module's device, its /proc/vexfs_events twin (needs "
     "CAP_AUDIT_READ; for containers), or a file or FIFO of the same bytes (--device "
     "overrides)",
     VX_CFG_AT(struct fwd_config, device)},
    {"ingest_endpoint", VX_CFG_STRING, "tcp://127.0.0.1:5550", 0, 1024, false,
     "propagation's ZeroMQ PULL endpoint (connected; reconnects by itself); used when "
     "ack_endpoint is empty",
     VX_CFG_AT(struct fwd_config, link.ingest_endpoint)},
    VX_LINK_CFG_KEYS(struct fwd_config, link),
    {"batch_max_events", VX_CFG_INT, "100", 1, 10000, false, "events per batch",
     VX_CFG_AT(struct fwd_config, batch_max_events)},
    {"batch_max_delay_ms", VX_CFG_INT, "5", 0, 60000, false,
     "longest a translated event waits for its batch to fill",
     VX_CFG_AT(struct fwd_config, batch_max_delay_ms)},
    {"buffer_max_batches", VX_CFG_INT, "1000", 1, 1000000, false,
     "batches held until propagation took them (acknowledged them, with ack_endpoint); when "
     "full, input is not read (the kernel ring then drops and counts)",
     VX_CFG_AT(struct fwd_config, link.buffer_max_batches)},
    {"producer_id", VX_CFG_STRING, "", 0, 256, false,
     "sender id of the batches and producer id of the events; empty: forwarder-<hostname>",
     VX_CFG_AT(struct fwd_config, producer_id)},
    {"retry_interval_ms", VX_CFG_INT, "2", 1, 60000, false,
     "how often a batch propagation did not take (its queue was full) is offered again; "
     "short, since a full queue is usually a brief backpressure",
     VX_CFG_AT(struct fwd_config, link.retry_interval_ms)},
    {"shutdown_timeout_ms", VX_CFG_INT, "5000", 0, 600000, false,
     "on SIGTERM, how long to keep delivering buffered batches; the rest count as dropped",
     VX_CFG_AT(struct fwd_config, shutdown_timeout_ms)},
    {"rest_bind", VX_CFG_STRING, "127.0.0.1", 0, 64, false, "address of the REST server",
     VX_CFG_AT(struct fwd_config, rest_bind)},
    {"rest_port", VX_CFG_INT, "8085", 0, 65535, false, "port of the REST server (0: any)",
     VX_CFG_AT(struct fwd_config, rest_port)},
};

const struct vx_cfg_section fwd_cfg_section =
    VX_CFG_SECTION(FWD_SECTION, s_keys, struct fwd_config, NULL);
