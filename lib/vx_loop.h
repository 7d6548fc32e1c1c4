/* SPDX-License-Identifier: Apache-2.0 */
/* The loop idiom of the suite's ZeroMQ daemons: one thread owns its sockets, waits on them with
 * a timeout that its own deadlines set, runs the handler of each readable socket, then does its
 * timed work:
 *
 *     while (!*stop) {
 *         vx_loop_wait(loop, vx_ms_until(next_deadline));   // handlers run inside
 *         ...flush what is due, poll Kafka, update gauges...
 *     }
 *
 * A handler drains its socket without blocking (ZeroMQ's readiness is edge-like: read until
 * EAGAIN or a per-turn budget). The coordinator is the one exception: libraft owns a libuv loop
 * there, and its sockets are polled with uv_poll on their ZMQ_FD. */
#ifndef VX_LOOP_H
#define VX_LOOP_H

#include <czmq.h>
#include <stdbool.h>

typedef struct vx_loop vx_loop_t;
typedef void(vx_loop_fn)(void *arg);

#define VX_LOOP_MAX_READERS 16

vx_loop_t *vx_loop_new(void);
void vx_loop_destroy(vx_loop_t **l);

/* Adds a socket (borrowed: it must outlive its registration) and its handler. Returns a
 * handle >= 0, or -ENOSPC past VX_LOOP_MAX_READERS. */
int vx_loop_reader(vx_loop_t *l, zsock_t *sock, vx_loop_fn *fn, void *arg);
/* Stops or resumes watching a reader (e.g. while a window of acknowledgements is full). */
void vx_loop_enable(vx_loop_t *l, int handle, bool on);
/* Forgets a reader before its socket is destroyed. */
void vx_loop_remove(vx_loop_t *l, int handle);

/* Waits up to timeout_ms (0: just looks; -1: until something is readable) and runs the
 * handler of every readable reader once. Returns how many ran (0 on timeout), or -errno
 * (-EINTR when a signal interrupted the wait: the caller checks its stop flag). */
int vx_loop_wait(vx_loop_t *l, long timeout_ms);

#endif
