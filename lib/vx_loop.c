/* SPDX-License-Identifier: Apache-2.0 */
/* A small reactor over zmq_poll. */
#include "vx_loop.h"

#include <errno.h>

#include "vx_mem.h"

struct s_reader {
    zsock_t *sock;
    vx_loop_fn *fn;
    void *arg;
    bool used;
    bool on;
};

struct vx_loop {
    struct s_reader r[VX_LOOP_MAX_READERS];
    zmq_pollitem_t items[VX_LOOP_MAX_READERS];
    int map[VX_LOOP_MAX_READERS]; /* item index -> reader */
};

vx_loop_t *
vx_loop_new(void)
{
    return vx_calloc(1, sizeof(vx_loop_t));
}

void
vx_loop_destroy(vx_loop_t **l)
{
    vx_free(l);
}

int
vx_loop_reader(vx_loop_t *l, zsock_t *sock, vx_loop_fn *fn, void *arg)
{
    for (int i = 0; i < VX_LOOP_MAX_READERS; i++) {
        if (!l->r[i].used) {
            l->r[i] = (struct s_reader){sock, fn, arg, true, true};
            return i;
        }
    }
    return -ENOSPC;
}

void
vx_loop_enable(vx_loop_t *l, int handle, bool on)
{
    if (handle >= 0 && handle < VX_LOOP_MAX_READERS) {
        l->r[handle].on = on;
    }
}

void
vx_loop_remove(vx_loop_t *l, int handle)
{
    if (handle >= 0 && handle < VX_LOOP_MAX_READERS) {
        l->r[handle] = (struct s_reader){0};
    }
}

int
vx_loop_wait(vx_loop_t *l, long timeout_ms)
{
    int n = 0;
    for (int i = 0; i < VX_LOOP_MAX_READERS; i++) {
        if (l->r[i].used && l->r[i].on) {
            l->items[n] = (zmq_pollitem_t){zsock_resolve(l->r[i].sock), 0, ZMQ_POLLIN, 0};
            l->map[n++] = i;
        }
    }
    int rc = zmq_poll(l->items, n, timeout_ms);
    if (rc < 0) {
        return -zmq_errno();
    }
    int ran = 0;
    for (int k = 0; k < n && rc > 0; k++) {
        if (l->items[k].revents & ZMQ_POLLIN) {
            struct s_reader *r = &l->r[l->map[k]];
            if (r->used && r->on) { /* an earlier handler may have disabled or removed it */
                r->fn(r->arg);
                ran++;
            }
        }
    }
    return ran;
}
