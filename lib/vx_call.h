/* SPDX-License-Identifier: Apache-2.0 */
/* Handing work from other threads (REST handlers, watchers) to a daemon's loop, and waiting
 * for its answer up to a deadline: the one hand-off of the suite.
 *
 * The request embeds a struct vx_call. The sender and the loop each hold a reference; the
 * last to let go frees the request through free_fn, so a sender that gives up at its deadline
 * never leaves the loop with a dangling pointer:
 *
 *     struct req { struct vx_call call; ...inputs and outputs... };
 *     vx_call_init(&r->call, cb_req_free);
 *     if (vx_inbox_send(inbox, &r->call) < 0) ...         // refused: closed or full
 *     int rc = vx_call_wait(&r->call, vx_deadline_ms(timeout_ms));   // 0 or -ETIMEDOUT
 *     ... read the outputs when rc == 0 ...
 *     vx_call_unref(&r->call);
 *
 *     // the loop, when vx_inbox_sock() is readable:
 *     struct vx_call *c;
 *     while ((c = vx_inbox_take(inbox))) { ...work...; vx_call_done(c); }
 */
#ifndef VX_CALL_H
#define VX_CALL_H

#include <czmq.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vx_sock.h"

struct vx_call {
    atomic_int refs;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;                          /* guarded by mu */
    atomic_bool abandoned;              /* the sender stopped waiting: the loop may skip work */
    void (*free_fn)(struct vx_call *c); /* frees the request that embeds this call */
};

/* One reference (the sender's). free_fn runs when the last reference goes. */
void vx_call_init(struct vx_call *c, void (*free_fn)(struct vx_call *c));
/* Waits until the loop marked the call done or deadline (monotonic ns) passed. Returns 0 or
 * -ETIMEDOUT (the call is then marked abandoned; the loop may still complete it). */
int vx_call_wait(struct vx_call *c, uint64_t deadline);
/* Loop side: marks the call done, wakes the sender and drops the loop's reference. */
void vx_call_done(struct vx_call *c);
/* Drops one reference. */
void vx_call_unref(struct vx_call *c);

/* A loop's inbox: an in-process socket carrying call pointers, and a closed flag. */
typedef struct vx_inbox vx_inbox_t;

/* name: unique in the process (an inproc endpoint). Returns NULL when the sockets cannot be
 * made. */
vx_inbox_t *vx_inbox_new(const vx_socks_t *socks, const char *name);
void vx_inbox_destroy(vx_inbox_t **in);
/* Any thread: queues the call and gives the loop a reference. Returns 0, -ESHUTDOWN after
 * vx_inbox_close, or -EBUSY when the inbox is full (the call stays the sender's alone). */
int vx_inbox_send(vx_inbox_t *in, struct vx_call *c);
/* The socket the loop polls for readability. */
zsock_t *vx_inbox_sock(vx_inbox_t *in);
/* Loop side: the next call without waiting, or NULL. */
struct vx_call *vx_inbox_take(vx_inbox_t *in);
/* Refuses further sends (-ESHUTDOWN); calls already queued can still be taken. */
void vx_inbox_close(vx_inbox_t *in);

/* Condition variables on the monotonic clock, for waits with deadlines. */
void vx_cond_init_mono(pthread_cond_t *cv);
/* Waits on cv until signalled or deadline (monotonic ns). Returns 0 or ETIMEDOUT. */
int vx_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, uint64_t deadline);

#endif
