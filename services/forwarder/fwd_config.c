/* SPDX-License-Identifier: Apache-2.0 */
/* The event_forwarder section: every key vexfs-forwarder reads, with bounds and help. */
/* Rows not yet bound to a struct (VX_CFG_AT) leave offset and size zero. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include "fwd_config.h"

#include "fwd_link.h"

static const struct vx_cfg_key s_keys[] = {
    {"device", VX_CFG_STRING, "/dev/vexfs_events", 0, 4096, false,
     "kernel record source: the module's device, or a file or FIFO of the same bytes "
     "(--device overrides)"},
    {"ingest_endpoint", VX_CFG_STRING, "tcp://127.0.0.1:5550", 0, 1024, false,
     "propagation's ZeroMQ PULL endpoint (connected; reconnects by itself); used when "
     "ack_endpoint is empty"},
    FWD_LINK_CFG_KEYS,
    {"batch_max_events", VX_CFG_INT, "100", 1, 10000, false, "events per batch"},
    {"batch_max_delay_ms", VX_CFG_INT, "5", 0, 60000, false,
     "longest a translated event waits for its batch to fill"},
    {"buffer_max_batches", VX_CFG_INT, "1000", 1, 1000000, false,
     "batches held until propagation took them (acknowledged them, with ack_endpoint); when "
     "full, input is not read (the kernel ring then drops and counts)"},
    {"producer_id", VX_CFG_STRING, "", 0, 256, false,
     "sender id of the batches and producer id of the events; empty: forwarder-<hostname>"},
    {"retry_interval_ms", VX_CFG_INT, "2", 1, 60000, false,
     "how often a batch propagation did not take (its queue was full) is offered again; "
     "short, since a full queue is usually a brief backpressure"},
    {"shutdown_timeout_ms", VX_CFG_INT, "5000", 0, 600000, false,
     "on SIGTERM, how long to keep delivering buffered batches; the rest count as dropped"},
    {"rest_bind", VX_CFG_STRING, "127.0.0.1", 0, 64, false, "address of the REST server"},
    {"rest_port", VX_CFG_INT, "8085", 0, 65535, false, "port of the REST server (0: any)"},
};

const struct vx_cfg_section fwd_cfg_section = {FWD_SECTION, s_keys,
                                               sizeof s_keys / sizeof s_keys[0]};
