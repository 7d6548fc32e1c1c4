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

#endif
