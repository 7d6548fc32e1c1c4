/* SPDX-License-Identifier: Apache-2.0 */
/* vexfs-watch: file activity under directories, seen from userspace, to propagation. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fuse/fu_emit.h"
#include "vx_daemon.h"
#include "vx_log.h"
#include "wt_config.h"
#include "wt_watch.h"

static const struct vx_cfg_section *const s_sections[] = {
    &wt_cfg_section,
    &vx_cfg_transport_section,
    &vx_cfg_admin_section,
    &vx_cfg_logging_section,
};

static atomic_bool s_watching;
static const char *s_mode = "";

static bool
cb_ready(void *arg, json_t *detail)
{
    (void)arg;
    bool on = atomic_load(&s_watching);
    json_object_set_new(detail, "watch", json_string(on ? s_mode : "not watching"));
    return on;
}

/* Takes the directories out of argv, leaving the options for the common parser. */
static size_t
s_take_dirs(int *argc, char **argv, char **dirs)
{
    int out = 1;
    size_t n = 0;
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < *argc) {
            argv[out++] = argv[i++];
            argv[out++] = argv[i];
        } else if (argv[i][0] == '-') {
            argv[out++] = argv[i];
        } else {
            dirs[n++] = argv[i];
        }
    }
    *argc = out;
    argv[out] = NULL;
    return n;
}

int
main(int argc, char **argv)
{
    struct vx_daemon d = {
        .name = "vexfs-watch",
        .summary = "Usage: vexfs-watch DIR... [--config FILE]\n"
                   "Watches the trees under each DIR from userspace (fanotify where permitted,\n"
                   "else recursive inotify) and pushes an event (source userspace_api) for every\n"
                   "create, write (on close), delete, rename, mkdir, rmdir and attribute change to\n"
                   "propagation in batches: for machines where vexfs_events.ko cannot be loaded.",
        .section = WT_SECTION,
        .sections = s_sections,
        .n_sections = sizeof s_sections / sizeof s_sections[0],
    };
    char **dirs = calloc((size_t)argc + 1, sizeof *dirs);
    if (!dirs) {
        return 1;
    }
    size_t n = s_take_dirs(&argc, argv, dirs);
    int code;
    if (vx_daemon_init(&d, argc, argv, &code) < 0) {
        vx_daemon_fini(&d);
        free(dirs);
        return code;
    }
    int rc = 2;
    fu_emit_t *emit = NULL;
    wt_watch_t *w = NULL;
    char err[1024];
    if (n == 0) {
        vx_error("WT-ARGS", "expected at least one directory (see --help)");
        goto out;
    }
    /* Threads started from here on (emitter, REST) inherit the blocked stop signals; the
     * loop takes them in ppoll only, so none slips in between the check and the wait. */
    sigset_t stops, waitmask;
    sigemptyset(&stops);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGINT);
    sigaddset(&stops, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stops, &waitmask);
    sigdelset(&waitmask, SIGTERM);
    sigdelset(&waitmask, SIGINT);
    sigdelset(&waitmask, SIGHUP);

    rc = 1;
    struct wt_config cfg;
    if (vx_config_bind(d.cfg, &wt_cfg_section, &cfg) < 0) {
        vx_error("WT-START", "the configuration does not fit its table");
        goto out;
    }
    emit = fu_emit_new(&cfg.emit, d.socks, VEXFS__V1__BOUNDARY__USERSPACE_API, "watch",
                       d.metrics, err, sizeof err);
    if (!emit) {
        vx_error("WT-START", "%s", err);
        goto out;
    }
    if (wt_watch_new(&w, cfg.mode, dirs, n, cfg.rename_pair_ms, emit, err, sizeof err) < 0) {
        vx_error("WT-START", "%s", err);
        rc = 2;
        goto out;
    }
    s_mode = wt_watch_mode(w);
    atomic_store(&s_watching, true);
    vx_info("WT-RUN", "watching %zu directories with %s; sender %s", n, s_mode,
            fu_emit_sender(emit));
    vx_http_set_ready(d.http, cb_ready, NULL);
    vx_daemon_config_routes(&d, NULL, NULL);
    if (vx_daemon_serve(&d) < 0) {
        goto out;
    }
    rc = 0;
    while (!vx_daemon_stop) {
        struct pollfd p = {wt_watch_fd(w), POLLIN, 0};
        int ms = wt_watch_timeout_ms(w);
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        int prc = ppoll(&p, 1, ms < 0 ? NULL : &ts, &waitmask);
        if (prc < 0 && errno != EINTR) {
            vx_error("WT-POLL", "poll: %s", strerror(errno));
            rc = 1;
            break;
        }
        vx_daemon_reload = 0; /* nothing of this program reloads */
        if (wt_watch_handle(w) < 0) {
            vx_error("WT-READ", "reading %s events failed", s_mode);
            rc = 1;
            break;
        }
    }
    atomic_store(&s_watching, false);
out:
    if (d.http) {
        vx_http_stop(d.http);
    }
    wt_watch_destroy(&w);
    /* After the watches are gone no event can be added: what is queued is delivered now. */
    fu_emit_destroy(&emit);
    vx_daemon_fini(&d);
    free(dirs);
    vx_info("WT-EXIT", "exit %d", rc);
    return rc;
}
