/* SPDX-License-Identifier: Apache-2.0 */
/* vexfs-fuse's loop (see fu_server.h). */
#include "fu_server.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fu_emit.h"
#include "fu_fs.h"
#include "vx_daemon.h"
#include "vx_log.h"
#include "vx_mem.h"

struct fu_server {
    struct fu_fs fs;
    struct fuse *fuse;
    struct fuse_args args;
    sigset_t waitmask;
    atomic_bool mounted;
};

fu_server_t *
fu_server_new(const struct fu_config *cfg, const vx_socks_t *socks, vx_metrics_t *metrics,
              const char *source, const char *mountpoint, char *err, size_t errlen)
{
    fu_server_t *s = vx_calloc(1, sizeof *s);
    s->fs.src_fd = -1;
    s->args = (struct fuse_args)FUSE_ARGS_INIT(0, NULL);
    s->fs.src_fd = open(source, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (s->fs.src_fd < 0) {
        snprintf(err, errlen, "%s: %s", source, strerror(errno));
        goto fail;
    }
    if (!realpath(mountpoint, s->fs.mount_abs)) {
        snprintf(err, errlen, "%s: %s", mountpoint, strerror(errno));
        goto fail;
    }
    s->fs.capture_reads = cfg->capture_reads;

    vx_daemon_block_stops(&s->waitmask);

    s->fs.emit = fu_emit_new(&cfg->emit, socks, VEXFS__V1__BOUNDARY__FUSE, "fuse", metrics, err,
                             errlen);
    if (!s->fs.emit) {
        goto fail;
    }
    char opts[64];
    snprintf(opts, sizeof opts, "fsname=vexfs,subtype=vexfs,default_permissions%s",
             geteuid() == 0 ? ",allow_other" : "");
    if (fuse_opt_add_arg(&s->args, "vexfs-fuse") < 0 || fuse_opt_add_arg(&s->args, "-o") < 0 ||
        fuse_opt_add_arg(&s->args, opts) < 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    s->fuse = fuse_new(&s->args, &fu_fs_ops, sizeof fu_fs_ops, &s->fs);
    if (!s->fuse) {
        snprintf(err, errlen, "fuse_new failed (see the message above)");
        goto fail;
    }
    if (fuse_mount(s->fuse, s->fs.mount_abs) != 0) {
        snprintf(err, errlen,
                 "cannot mount at %s (is /dev/fuse there and fusermount3 installed?)",
                 s->fs.mount_abs);
        fuse_destroy(s->fuse);
        s->fuse = NULL;
        goto fail;
    }
    atomic_store(&s->mounted, true);
    vx_info("FU-MOUNT", "%s mounted at %s; sender %s", source, s->fs.mount_abs,
            fu_emit_sender(s->fs.emit));
    return s;
fail:
    fu_server_destroy(&s);
    return NULL;
}

void
fu_server_destroy(fu_server_t **sp)
{
    if (!sp || !*sp) {
        return;
    }
    fu_server_t *s = *sp;
    atomic_store(&s->mounted, false);
    if (s->fuse) {
        fuse_unmount(s->fuse);
        fuse_destroy(s->fuse);
    }
    /* After the unmount no operation can be added: what is queued is delivered now. */
    fu_emit_destroy(&s->fs.emit);
    fuse_opt_free_args(&s->args);
    if (s->fs.src_fd >= 0) {
        close(s->fs.src_fd);
    }
    vx_free(sp);
}

int
fu_server_run(fu_server_t *s, volatile sig_atomic_t *stop)
{
    struct fuse_session *se = fuse_get_session(s->fuse);
    struct fuse_buf buf = {0};
    int rc = 0;
    while (!*stop && !fuse_session_exited(se)) {
        struct pollfd p = {fuse_session_fd(se), POLLIN, 0};
        if (ppoll(&p, 1, NULL, &s->waitmask) < 0) {
            if (errno == EINTR) {
                vx_daemon_reload = 0; /* nothing of this program reloads */
                continue;
            }
            vx_error("FU-POLL", "poll on /dev/fuse: %s", strerror(errno));
            rc = -EIO;
            break;
        }
        int n = fuse_session_receive_buf(se, &buf);
        if (n == -EINTR || n == -EAGAIN) {
            continue;
        }
        if (n <= 0) {
            if (n < 0) {
                vx_error("FU-RECEIVE", "reading /dev/fuse: %s", strerror(-n));
                rc = -EIO;
            } else {
                vx_info("FU-UNMOUNTED", "the filesystem was unmounted");
            }
            break;
        }
        fuse_session_process_buf(se, &buf);
    }
    free(buf.mem);
    atomic_store(&s->mounted, false);
    return rc;
}

bool
fu_server_ready(void *arg, json_t *detail)
{
    fu_server_t *s = arg;
    bool m = atomic_load(&s->mounted);
    json_object_set_new(detail, "mount", json_string(m ? "mounted" : "not mounted"));
    return m;
}
