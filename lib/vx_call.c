/* SPDX-License-Identifier: Apache-2.0 */
/* Hand-off of calls to a loop thread. */
#include "vx_call.h"

#include <errno.h>

#include "vx_clock.h"
#include "vx_mem.h"

#define S_INBOX_HWM 10000

void
vx_cond_init_mono(pthread_cond_t *cv)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
}

int
vx_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, uint64_t deadline)
{
    struct timespec ts = vx_mono_timespec(deadline);
    return pthread_cond_timedwait(cv, mu, &ts);
}

void
vx_call_init(struct vx_call *c, void (*free_fn)(struct vx_call *c))
{
    atomic_init(&c->refs, 1);
    pthread_mutex_init(&c->mu, NULL);
    vx_cond_init_mono(&c->cv);
    c->done = false;
    atomic_init(&c->abandoned, false);
    c->free_fn = free_fn;
}

void
vx_call_unref(struct vx_call *c)
{
    if (atomic_fetch_sub(&c->refs, 1) == 1) {
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
        c->free_fn(c);
    }
}

int
vx_call_wait(struct vx_call *c, uint64_t deadline)
{
    pthread_mutex_lock(&c->mu);
    while (!c->done) {
        if (vx_cond_wait_until(&c->cv, &c->mu, deadline) == ETIMEDOUT) {
            break;
        }
    }
    bool done = c->done;
    if (!done) {
        atomic_store(&c->abandoned, true);
    }
    pthread_mutex_unlock(&c->mu);
    return done ? 0 : -ETIMEDOUT;
}

void
vx_call_done(struct vx_call *c)
{
    pthread_mutex_lock(&c->mu);
    c->done = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    vx_call_unref(c);
}

struct vx_inbox {
    zsock_t *push; /* guarded by mu: shared by sending threads */
    zsock_t *pull; /* the loop's */
    pthread_mutex_t mu;
    bool closed;   /* guarded by mu */
};

vx_inbox_t *
vx_inbox_new(const vx_socks_t *socks, const char *name)
{
    vx_inbox_t *in = vx_calloc(1, sizeof *in);
    if (vx_sock_pipe(socks, name, &in->push, &in->pull) < 0) {
        free(in);
        return NULL;
    }
    zsock_set_sndhwm(in->push, S_INBOX_HWM);
    zsock_set_rcvhwm(in->pull, S_INBOX_HWM);
    pthread_mutex_init(&in->mu, NULL);
    return in;
}

void
vx_inbox_destroy(vx_inbox_t **inp)
{
    if (!inp || !*inp) {
        return;
    }
    vx_inbox_t *in = *inp;
    /* Calls still queued hold a reference each: release them as undone. */
    struct vx_call *c;
    while ((c = vx_inbox_take(in))) {
        vx_call_unref(c);
    }
    zsock_destroy(&in->push);
    zsock_destroy(&in->pull);
    pthread_mutex_destroy(&in->mu);
    vx_free(inp);
}

int
vx_inbox_send(vx_inbox_t *in, struct vx_call *c)
{
    atomic_fetch_add(&c->refs, 1);
    pthread_mutex_lock(&in->mu);
    int rc = -ESHUTDOWN;
    if (!in->closed) {
        rc = zmq_send(zsock_resolve(in->push), &c, sizeof c, ZMQ_DONTWAIT) == (int)sizeof c
                 ? 0
                 : -EBUSY;
    }
    pthread_mutex_unlock(&in->mu);
    if (rc < 0) {
        atomic_fetch_sub(&c->refs, 1); /* the loop never saw it */
    }
    return rc;
}

zsock_t *
vx_inbox_sock(vx_inbox_t *in)
{
    return in->pull;
}

struct vx_call *
vx_inbox_take(vx_inbox_t *in)
{
    struct vx_call *c = NULL;
    if (zmq_recv(zsock_resolve(in->pull), &c, sizeof c, ZMQ_DONTWAIT) != (int)sizeof c) {
        return NULL;
    }
    return c;
}

void
vx_inbox_close(vx_inbox_t *in)
{
    pthread_mutex_lock(&in->mu);
    in->closed = true;
    pthread_mutex_unlock(&in->mu);
}
