/* SPDX-License-Identifier: Apache-2.0 */
/* vexfs-fuse: a passthrough FUSE filesystem that reports its operations to propagation. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fu_config.h"
#include "fu_emit.h"
#include "fu_fs.h"
#include "vx_daemon.h"
#include "vx_log.h"

static const struct vx_cfg_section *const s_sections[] = {
    &fu_cfg_section,
    &vx_cfg_transport_section,
    &vx_cfg_admin_section,
    &vx_cfg_logging_section,
};

static atomic_bool s_mounted;

static bool
cb_ready(void *arg, json_t *detail)
{
    (void)arg;
    bool m = atomic_load(&s_mounted);
    json_object_set_new(detail, "mount", json_string(m ? "mounted" : "not mounted"));
    return m;
}

/* Takes the positional arguments (SOURCE MOUNTPOINT) out of argv, leaving the options for
 * the common parser. Returns how many there were (at most 2 kept in pos). */
static int
s_take_positional(int *argc, char **argv, const char *pos[2])
{
    int out = 1, n = 0;
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < *argc) {
            argv[out++] = argv[i++];
            argv[out++] = argv[i];
        } else if (argv[i][0] == '-') {
            argv[out++] = argv[i];
        } else {
            if (n < 2) {
                pos[n] = argv[i];
            }
            n++;
        }
    }
    *argc = out;
    argv[out] = NULL;
    return n;
}

/* Serves FUSE requests until SIGTERM/SIGINT or an unmount. The stop signals stay blocked
 * except inside ppoll, so a signal can never slip in between the check and the wait. */
static void
s_serve(struct fuse_session *se, const sigset_t *waitmask)
{
    struct fuse_buf buf = {0};
    while (!vx_daemon_stop && !fuse_session_exited(se)) {
        struct pollfd p = {fuse_session_fd(se), POLLIN, 0};
        int rc = ppoll(&p, 1, NULL, waitmask);
        if (rc < 0) {
            if (errno == EINTR) {
                vx_daemon_reload = 0; /* nothing of this program reloads */
                continue;
            }
            vx_error("FU-POLL", "poll on /dev/fuse: %s", strerror(errno));
            break;
        }
        int n = fuse_session_receive_buf(se, &buf);
        if (n == -EINTR || n == -EAGAIN) {
            continue;
        }
        if (n <= 0) {
            if (n < 0) {
                vx_error("FU-RECEIVE", "reading /dev/fuse: %s", strerror(-n));
            } else {
                vx_info("FU-UNMOUNTED", "the filesystem was unmounted");
            }
            break;
        }
        fuse_session_process_buf(se, &buf);
    }
    free(buf.mem);
}

int
main(int argc, char **argv)
{
    struct vx_daemon d = {
        .name = "vexfs-fuse",
        .summary = "Usage: vexfs-fuse SOURCE MOUNTPOINT [--config FILE]\n"
                   "Mounts SOURCE at MOUNTPOINT as a passthrough FUSE filesystem and pushes an\n"
                   "event (source fuse) for every create, write burst, unlink, rename, mkdir,\n"
                   "rmdir, chmod, chown and truncate served (reads with capture_reads) to\n"
                   "propagation in batches. SIGTERM unmounts and exits.",
        .section = FU_SECTION,
        .sections = s_sections,
        .n_sections = sizeof s_sections / sizeof s_sections[0],
    };
    const char *pos[2] = {NULL, NULL};
    int npos = s_take_positional(&argc, argv, pos);
    int code;
    if (vx_daemon_init(&d, argc, argv, &code) < 0) {
        vx_daemon_fini(&d);
        return code;
    }
    int rc = 2;
    struct fu_fs fs = {.src_fd = -1};
    fu_emit_t *emit = NULL;
    struct fuse *f = NULL;
    struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
    if (npos != 2) {
        vx_error("FU-ARGS", "expected SOURCE and MOUNTPOINT (see --help), got %d arguments",
                 npos);
        goto out;
    }
    fs.src_fd = open(pos[0], O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fs.src_fd < 0) {
        vx_error("FU-SOURCE", "%s: %s", pos[0], strerror(errno));
        goto out;
    }
    if (!realpath(pos[1], fs.mount_abs)) {
        vx_error("FU-MOUNTPOINT", "%s: %s", pos[1], strerror(errno));
        goto out;
    }
    struct fu_config cfg;
    if (vx_config_bind(d.cfg, &fu_cfg_section, &cfg) < 0) {
        vx_error("FU-START", "the configuration does not fit its table");
        goto out;
    }
    fs.capture_reads = cfg.capture_reads;
    rc = 1;

    /* Threads started from here on (emitter, REST) inherit the blocked stop signals; only
     * the FUSE loop takes them, in ppoll. */
    sigset_t stops, waitmask;
    sigemptyset(&stops);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGINT);
    sigaddset(&stops, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stops, &waitmask);
    sigdelset(&waitmask, SIGTERM);
    sigdelset(&waitmask, SIGINT);
    sigdelset(&waitmask, SIGHUP);

    char err[1024];
    emit = fu_emit_new(&cfg.emit, d.socks, VEXFS__V1__BOUNDARY__FUSE, "fuse", d.metrics, err,
                       sizeof err);
    if (!emit) {
        vx_error("FU-START", "%s", err);
        goto out;
    }
    fs.emit = emit;
    char opts[64];
    snprintf(opts, sizeof opts, "fsname=vexfs,subtype=vexfs,default_permissions%s",
             geteuid() == 0 ? ",allow_other" : "");
    if (fuse_opt_add_arg(&args, "vexfs-fuse") < 0 || fuse_opt_add_arg(&args, "-o") < 0 ||
        fuse_opt_add_arg(&args, opts) < 0) {
        vx_error("FU-START", "out of memory");
        goto out;
    }
    f = fuse_new(&args, &fu_fs_ops, sizeof fu_fs_ops, &fs);
    if (!f) {
        vx_error("FU-START", "fuse_new failed (see the message above)");
        goto out;
    }
    if (fuse_mount(f, fs.mount_abs) != 0) {
        vx_error("FU-MOUNT", "cannot mount at %s (is /dev/fuse there and fusermount3 installed?)",
                 fs.mount_abs);
        fuse_destroy(f);
        f = NULL;
        goto out;
    }
    atomic_store(&s_mounted, true);
    vx_info("FU-MOUNT", "%s mounted at %s; sender %s", pos[0], fs.mount_abs,
            fu_emit_sender(emit));
    vx_http_set_ready(d.http, cb_ready, NULL);
    vx_daemon_config_routes(&d, NULL, NULL);
    if (vx_daemon_serve(&d) == 0) {
        s_serve(fuse_get_session(f), &waitmask);
        rc = 0;
    }
    atomic_store(&s_mounted, false);
    fuse_unmount(f);
    fuse_destroy(f);
    f = NULL;
out:
    if (d.http) {
        vx_http_stop(d.http);
    }
    /* After the unmount no operation can be added: what is queued is delivered now. */
    fu_emit_destroy(&emit);
    fuse_opt_free_args(&args);
    if (fs.src_fd >= 0) {
        close(fs.src_fd);
    }
    vx_daemon_fini(&d);
    vx_info("FU-EXIT", "exit %d", rc);
    return rc;
}
