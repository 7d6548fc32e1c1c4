/* SPDX-License-Identifier: Apache-2.0 */
/* Clock helpers: wall time for event stamps, monotonic time for durations and windows. */
#ifndef VX_CLOCK_H
#define VX_CLOCK_H

#include <stdint.h>
#include <time.h>

#define VX_NS_PER_US 1000ULL
#define VX_NS_PER_MS 1000000ULL
#define VX_NS_PER_S 1000000000ULL

/* Unix time in nanoseconds (CLOCK_REALTIME): for stamps that leave the process. */
static inline uint64_t
vx_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * VX_NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* Monotonic nanoseconds: never jumps; for latencies, timeouts and windows. */
static inline uint64_t
vx_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * VX_NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* The monotonic time ms milliseconds from now: a deadline for vx_ms_until and
 * vx_cond_wait_until (vx_call.h). */
static inline uint64_t
vx_deadline_ms(uint64_t ms)
{
    return vx_mono_ns() + ms * VX_NS_PER_MS;
}

/* Milliseconds left until deadline (monotonic ns), rounded up, 0 when past: a poll timeout. */
static inline long
vx_ms_until(uint64_t deadline)
{
    uint64_t now = vx_mono_ns();
    return now >= deadline ? 0 : (long)((deadline - now + VX_NS_PER_MS - 1) / VX_NS_PER_MS);
}

/* A monotonic time as a timespec, for pthread_cond_timedwait on a CLOCK_MONOTONIC condition. */
static inline struct timespec
vx_mono_timespec(uint64_t mono_ns)
{
    struct timespec ts = {(time_t)(mono_ns / VX_NS_PER_S), (long)(mono_ns % VX_NS_PER_S)};
    return ts;
}

#endif
