/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: a message a tap subscriber of libvexfs receives (client/vc_tap.c): batch bytes
 * through the suite's receive path (vx_rx, decoding into its bounded arena) and every event
 * into the JSON line the program gets.
 * fuzz-sources: lib/vx_rx.c lib/vx_wire_fast.c lib/vx_drop.c lib/vx_metrics.c
 *
 * A batch the receive path accepts must render, event by event, to JSON text that parses
 * again; one it refuses is counted under a reason. Any broken promise aborts. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "vx_drop.h"
#include "vx_event.h"
#include "vx_log.h"
#include "vx_metrics.h"
#include "vx_rx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static vx_rx_t *s_rx;
static vx_metrics_t *s_metrics;
static struct vx_drops s_drops;

static uint64_t
s_dropped(void)
{
    uint64_t n = 0;
    for (int r = 0; r < VX_DROP_N; r++) {
        n += vx_drops_value(&s_drops, (enum vx_drop_reason)r);
    }
    return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!s_rx) {
        vx_log_init("fuzz", VX_LOG_ERROR);
        s_metrics = vx_metrics_new();
        vx_drops_init(&s_drops, s_metrics, "fuzz_dropped_total", "fuzz", VX_DROP_MASK_RX);
        struct vx_rx_opts o = {.decode = true, .any_topic = true, .arena_limit = 4u << 20};
        struct vx_rx_counters c = {.drops = &s_drops};
        s_rx = vx_rx_new("tap", &o, &c);
    }
    uint64_t before = s_dropped();
    struct vx_rx_batch in;
    if (vx_rx_bytes(s_rx, data, size, true, NULL, &in) < 0) {
        if (s_dropped() == before) {
            abort(); /* refused without being counted */
        }
        return 0;
    }
    for (size_t i = 0; i < in.batch->n_events; i++) {
        json_t *o = vx_event_to_json(in.batch->events[i]);
        char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_t *again = line ? json_loads(line, 0, NULL) : NULL;
        if (!again) {
            abort();
        }
        json_decref(again);
        free(line);
        json_decref(o);
    }
    return 0;
}
