/* SPDX-License-Identifier: Apache-2.0 */
/* vexfs-watch's loop (see wt_server.h). */
#include "wt_server.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "../fuse/fu_emit.h"
#include "vx_daemon.h"
#include "vx_log.h"
#include "vx_mem.h"
#include "wt_watch.h"

struct wt_server {
    fu_emit_t *emit;
    wt_watch_t *w;
    sigset_t waitmask;
    atomic_bool watching;
};

wt_server_t *
wt_server_new(const struct wt_config *cfg, const vx_socks_t *socks, vx_metrics_t *metrics,
              char *const *dirs, size_t n, bool *usage, char *err, size_t errlen)
{
    wt_server_t *s = vx_calloc(1, sizeof *s);
    *usage = false;
    vx_daemon_block_stops(&s->waitmask);
    s->emit = fu_emit_new(&cfg->emit, socks, VEXFS__V1__BOUNDARY__USERSPACE_API, "watch",
                          metrics, err, errlen);
    if (!s->emit) {
        goto fail;
    }
    if (wt_watch_new(&s->w, cfg->mode, dirs, n, cfg->rename_pair_ms, s->emit, err, errlen) < 0) {
        *usage = true;
        goto fail;
    }
    atomic_store(&s->watching, true);
    vx_info("WT-RUN", "watching %zu directories with %s; sender %s", n, wt_watch_mode(s->w),
            fu_emit_sender(s->emit));
    return s;
fail:
    wt_server_destroy(&s);
    return NULL;
}

void
wt_server_destroy(wt_server_t **sp)
{
    if (!sp || !*sp) {
        return;
    }
    wt_server_t *s = *sp;
    atomic_store(&s->watching, false);
    wt_watch_destroy(&s->w);
    /* After the watches are gone no event can be added: what is queued is delivered now. */
    fu_emit_destroy(&s->emit);
    vx_free(sp);
}

int
wt_server_run(wt_server_t *s, volatile sig_atomic_t *stop)
{
    int rc = 0;
    while (!*stop) {
        struct pollfd p = {wt_watch_fd(s->w), POLLIN, 0};
        int ms = wt_watch_timeout_ms(s->w);
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        if (ppoll(&p, 1, ms < 0 ? NULL : &ts, &s->waitmask) < 0 && errno != EINTR) {
            vx_error("WT-POLL", "poll: %s", strerror(errno));
            rc = -EIO;
            break;
        }
        vx_daemon_reload = 0; /* nothing of this program reloads */
        if (wt_watch_handle(s->w) < 0) {
            vx_error("WT-READ", "reading %s events failed", wt_watch_mode(s->w));
            rc = -EIO;
            break;
        }
    }
    atomic_store(&s->watching, false);
    return rc;
}

bool
wt_server_ready(void *arg, json_t *detail)
{
    wt_server_t *s = arg;
    bool on = atomic_load(&s->watching);
    json_object_set_new(detail, "watch", json_string(on ? wt_watch_mode(s->w) : "not watching"));
    return on;
}
