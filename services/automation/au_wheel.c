/* SPDX-License-Identifier: Apache-2.0 */
/* The timer wheel behind partial-match expiry (see au_wheel.h). */
#include "au_wheel.h"

#include <stddef.h>

#include "vx_mem.h"

struct au_wheel {
    uint64_t tick_ns;
    uint32_t n_slots;
    /* Ticks up to and including done are fully processed; the slot of the current tick is
     * scanned again on the next advance, since timers later in that tick are not yet due. */
    uint64_t done;
    uint64_t now_ns;
    uint64_t count;
    struct au_timer **slots;
    /* Per slot, a lower bound of the deadlines in it (exact after a scan, lowered by adds,
     * left as is by removals): a scan of a slot with nothing due costs one compare, which
     * matters because the current tick's slot is looked at on every advance. */
    uint64_t *min_ns;
};

au_wheel_t *
au_wheel_new(uint64_t tick_ns, uint32_t n_slots, uint64_t now_ns)
{
    if (tick_ns == 0 || n_slots == 0) {
        return NULL;
    }
    au_wheel_t *w = vx_calloc(1, sizeof *w);
    w->tick_ns = tick_ns;
    w->n_slots = n_slots;
    w->now_ns = now_ns;
    w->done = now_ns / tick_ns == 0 ? 0 : now_ns / tick_ns - 1;
    w->slots = vx_calloc(n_slots, sizeof *w->slots);
    w->min_ns = vx_malloc(n_slots * sizeof *w->min_ns);
    for (uint32_t i = 0; i < n_slots; i++) {
        w->min_ns[i] = UINT64_MAX;
    }
    return w;
}

void
au_wheel_destroy(au_wheel_t **w)
{
    if (w == NULL || *w == NULL) {
        return;
    }
    free((*w)->slots);
    free((*w)->min_ns);
    vx_free(w);
}

void
au_wheel_add(au_wheel_t *w, struct au_timer *t, uint64_t deadline_ns)
{
    au_wheel_del(w, t);
    uint64_t tick = deadline_ns / w->tick_ns;
    if (tick <= w->done) {
        tick = w->done + 1;
    }
    struct au_timer **slot = &w->slots[tick % w->n_slots];
    t->deadline_ns = deadline_ns;
    t->slot = (uint32_t)(tick % w->n_slots);
    t->prev = NULL;
    t->next = *slot;
    if (*slot != NULL) {
        (*slot)->prev = t;
    }
    *slot = t;
    if (deadline_ns < w->min_ns[t->slot]) {
        w->min_ns[t->slot] = deadline_ns;
    }
    t->armed = true;
    w->count++;
}

void
au_wheel_del(au_wheel_t *w, struct au_timer *t)
{
    if (!t->armed) {
        return;
    }
    if (t->prev != NULL) {
        t->prev->next = t->next;
    } else {
        w->slots[t->slot] = t->next;
    }
    if (t->next != NULL) {
        t->next->prev = t->prev;
    }
    t->next = t->prev = NULL;
    t->armed = false;
    w->count--;
}

/* Fires the due timers of one slot. The next pointer is read before fn runs: fn may re-add
 * its own timer (possibly into this slot, at its head) but touches no other. */
static void
s_slot_fire(au_wheel_t *w, uint32_t slot, uint64_t now_ns, au_wheel_fn *fn, void *arg)
{
    if (w->min_ns[slot] > now_ns) {
        return;
    }
    struct au_timer *t = w->slots[slot];
    while (t != NULL) {
        struct au_timer *next = t->next;
        if (t->deadline_ns <= now_ns) {
            au_wheel_del(w, t);
            fn(t, now_ns, arg);
        }
        t = next;
    }
    /* fn may have re-added timers here; the bound is recomputed from what is left. */
    uint64_t min = UINT64_MAX;
    for (t = w->slots[slot]; t != NULL; t = t->next) {
        if (t->deadline_ns < min) {
            min = t->deadline_ns;
        }
    }
    w->min_ns[slot] = min;
}

void
au_wheel_advance(au_wheel_t *w, uint64_t now_ns, au_wheel_fn *fn, void *arg)
{
    if (now_ns < w->now_ns) {
        now_ns = w->now_ns;
    }
    w->now_ns = now_ns;
    uint64_t target = now_ns / w->tick_ns;
    if (target < w->done + 1) {
        return;
    }
    if (target - w->done >= w->n_slots) {
        /* A jump of a whole turn or more: every slot once. */
        for (uint32_t i = 0; i < w->n_slots; i++) {
            s_slot_fire(w, i, now_ns, fn, arg);
        }
    } else {
        for (uint64_t tick = w->done + 1; tick <= target; tick++) {
            s_slot_fire(w, (uint32_t)(tick % w->n_slots), now_ns, fn, arg);
        }
    }
    w->done = target - 1;
}

uint64_t
au_wheel_count(const au_wheel_t *w)
{
    return w->count;
}
