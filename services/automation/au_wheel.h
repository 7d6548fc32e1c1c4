/* SPDX-License-Identifier: Apache-2.0 */
/* A hashed timer wheel for the expiry of partial matches: adding, removing and advancing cost
 * O(1) per timer and per tick, so expiry never scans every partial match.
 *
 * Timers are intrusive (struct au_timer lives inside its owner). A timer is due when
 * now_ns >= deadline_ns. Deadlines beyond one turn of the wheel stay in their slot and are
 * skipped until due, so any deadline is allowed. Not thread-safe: one owner. */
#ifndef AU_WHEEL_H
#define AU_WHEEL_H

#include <stdbool.h>
#include <stdint.h>

struct au_timer {
    struct au_timer *next;
    struct au_timer *prev;
    uint64_t deadline_ns;
    uint32_t slot;
    bool armed;
};

typedef struct au_wheel au_wheel_t;

/* Called for each due timer, already removed from the wheel. It may re-add t and must not
 * remove any other timer. */
typedef void(au_wheel_fn)(struct au_timer *t, uint64_t now_ns, void *arg);

/* tick_ns > 0 is the slot width, n_slots > 0 the number of slots; now_ns the start time.
 * Caller owns the result. */
au_wheel_t *au_wheel_new(uint64_t tick_ns, uint32_t n_slots, uint64_t now_ns);
/* Accepts NULL; sets *w to NULL. Timers still armed are left as they are (their owners free
 * them). */
void au_wheel_destroy(au_wheel_t **w);

/* Arms t (re-arms it when already armed) to fire at deadline_ns. */
void au_wheel_add(au_wheel_t *w, struct au_timer *t, uint64_t deadline_ns);
/* Disarms t; a no-op when it is not armed. */
void au_wheel_del(au_wheel_t *w, struct au_timer *t);
/* Moves the wheel to now_ns and calls fn for every timer due by then. Time never goes back:
 * an earlier now_ns than a previous call is treated as that call's time. */
void au_wheel_advance(au_wheel_t *w, uint64_t now_ns, au_wheel_fn *fn, void *arg);
/* Number of armed timers. */
uint64_t au_wheel_count(const au_wheel_t *w);

#endif
