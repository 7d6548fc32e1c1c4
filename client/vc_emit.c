/* SPDX-License-Identifier: Apache-2.0 */
/* Emitting: events into batches in the link's bounded buffer, and flushing.
 *
 * Slots. The buffer holds buffer_max_batches batches; the open batch (`cur`) counts as one
 * from its first event, so sealing it never needs room that is not there. An emit that finds
 * the buffer full waits on the client's condition (the I/O thread signals every batch that
 * finishes) up to its deadline, then fails with -ENOBUFS having taken nothing. A batch of
 * events is taken whole or not at all: it waits until every batch it will fill has room. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vc_priv.h"
#include "vx_call.h"
#include "vx_clock.h"
#include "vx_event.h"
#include "vx_mem.h"

/* Packed events waiting to be taken. */
struct s_packed {
    uint8_t **ev;
    size_t *len;
    size_t n;
};

static void
s_packed_fini(struct s_packed *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->ev[i]);
    }
    free(p->ev);
    free(p->len);
    *p = (struct s_packed){0};
}

static void
s_packed_add(struct s_packed *p, uint8_t *ev, size_t len, size_t cap)
{
    if (!p->ev) {
        p->ev = vx_calloc(cap ? cap : 1, sizeof *p->ev);
        p->len = vx_calloc(cap ? cap : 1, sizeof *p->len);
    }
    p->ev[p->n] = ev;
    p->len[p->n] = len;
    p->n++;
}

/* Whether an event of len bytes still fits the open batch. */
static bool
s_fits(const vexfs_client_t *c, size_t len)
{
    return c->cur.n < (size_t)c->cc.batch_max_events &&
           c->cur.len + len <= (size_t)c->cc.batch_max_bytes;
}

/* The batches p fills when appended to an empty open batch. */
static size_t
s_batches_needed(const vexfs_client_t *c, const struct s_packed *p)
{
    size_t batches = 0, events = 0, bytes = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (events == 0 || events >= (size_t)c->cc.batch_max_events ||
            bytes + p->len[i] > (size_t)c->cc.batch_max_bytes) {
            batches++;
            events = 0;
            bytes = 0;
        }
        events++;
        bytes += p->len[i];
    }
    return batches;
}

static void
s_append_locked(vexfs_client_t *c, const uint8_t *ev, size_t len)
{
    if (c->cur.n > 0 && !s_fits(c, len)) {
        vc_client_seal_locked(c);
    }
    vx_batchbuf_add(&c->cur, ev, len, NULL, 0);
    if (c->cur.n == 1) {
        c->cur_first_ns = vx_mono_ns();
        vc_client_wake(c); /* arms the thread's batch timer */
    }
    c->emitted++;
    if (c->cur.n >= (size_t)c->cc.batch_max_events) {
        vc_client_seal_locked(c);
    }
}

/* Takes p whole into the buffer (mu held, thread started), waiting for room up to deadline
 * (UINT64_MAX: without limit; 0: not at all). */
static int
s_take_locked(vexfs_client_t *c, const struct s_packed *p, uint64_t deadline, int timeout_ms)
{
    bool single_fits = p->n == 1 && c->cur.n > 0 && s_fits(c, p->len[0]);
    if (!single_fits) {
        /* A batch of events (or an event that opens a batch) starts from an empty open batch,
         * so the slots it needs are exactly those it fills. */
        size_t need = s_batches_needed(c, p);
        if (need > (size_t)c->cc.buffer_max_batches) {
            return vc_fail(-E2BIG,
                           "%zu events fill %zu batches, more than the buffer holds "
                           "(client.buffer_max_batches %d): they could never be taken; emit "
                           "them in parts",
                           p->n, need, c->cc.buffer_max_batches);
        }
        bool waited = false;
        for (;;) {
            if (c->cur.n > 0) {
                vc_client_seal_locked(c); /* its slot is already counted */
            }
            if (vx_link_room(c->link) >= need) {
                break;
            }
            if (!waited) {
                c->full_waits++;
                waited = true;
            }
            int w = 0;
            if (deadline == 0 || (deadline != UINT64_MAX && vx_mono_ns() >= deadline)) {
                w = ETIMEDOUT;
            } else if (deadline == UINT64_MAX) {
                pthread_cond_wait(&c->cv, &c->mu);
            } else {
                w = vx_cond_wait_until(&c->cv, &c->mu, deadline);
            }
            if (w == ETIMEDOUT && vx_link_room(c->link) < need) {
                c->full_timeouts++;
                struct vx_link_stats ls;
                vx_link_stats(c->link, &ls);
                return vc_fail(-ENOBUFS,
                               "the buffer is full: %zu batches held (%zu sent and not "
                               "acknowledged) after waiting %d ms; propagation at %s is away "
                               "or slower than the program emits; nothing was taken",
                               ls.held, ls.unacked, timeout_ms < 0 ? 0 : timeout_ms,
                               c->cc.ingest_endpoint);
            }
        }
    }
    for (size_t i = 0; i < p->n; i++) {
        s_append_locked(c, p->ev[i], p->len[i]);
    }
    return 0;
}

static uint64_t
s_deadline(int timeout_ms)
{
    return timeout_ms < 0 ? UINT64_MAX : timeout_ms == 0 ? 0 : vx_deadline_ms((uint64_t)timeout_ms);
}

/* Starts the link if needed and takes p. */
static int
s_emit_packed(vexfs_client_t *c, const struct s_packed *p, int timeout_ms)
{
    uint64_t deadline = s_deadline(timeout_ms);
    pthread_mutex_lock(&c->mu);
    int rc = vc_client_start_locked(c);
    if (rc == 0) {
        rc = s_take_locked(c, p, deadline, timeout_ms);
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static int
s_refused(vexfs_client_t *c, size_t n)
{
    pthread_mutex_lock(&c->mu);
    c->refused += n;
    pthread_mutex_unlock(&c->mu);
    return -EINVAL;
}

int
vexfs_client_emit(vexfs_client_t *c, const struct vexfs_event *ev, int timeout_ms)
{
    return vexfs_client_emit_batch(c, ev, 1, timeout_ms);
}

int
vexfs_client_emit_batch(vexfs_client_t *c, const struct vexfs_event *events, size_t n,
                        int timeout_ms)
{
    if (!c || (n && !events)) {
        return vc_fail(-EINVAL, "vexfs_client_emit: no client or no events given");
    }
    if (n == 0) {
        return 0;
    }
    /* The events are laid out with the caller's struct size: an older header's is smaller, a
     * newer one's larger (fields are only ever appended). */
    size_t stride = events[0].size;
    if (stride < offsetof(struct vexfs_event, custom_type) || stride > 16 * sizeof *events) {
        vc_fail(-EINVAL, "%sthe event's size is not set: initialise it with VEXFS_EVENT_INIT",
                n == 1 ? "" : "events[0]: ");
        return s_refused(c, n);
    }
    struct s_packed p = {0};
    char err[900];
    for (size_t i = 0; i < n; i++) {
        const struct vexfs_event *ev =
            (const struct vexfs_event *)((const char *)events + i * stride);
        uint8_t *buf = NULL;
        size_t len = 0;
        if (vc_event_pack(ev, &buf, &len, err, sizeof err) < 0) {
            s_packed_fini(&p);
            if (n == 1) {
                vc_fail(-EINVAL, "%s", err);
            } else {
                vc_fail(-EINVAL, "events[%zu]: %s", i, err);
            }
            return s_refused(c, n);
        }
        s_packed_add(&p, buf, len, n);
    }
    int rc = s_emit_packed(c, &p, timeout_ms);
    s_packed_fini(&p);
    return rc;
}

int
vexfs_client_emit_json(vexfs_client_t *c, const char *json, int timeout_ms)
{
    if (!c || !json) {
        return vc_fail(-EINVAL, "vexfs_client_emit_json: no client or no text given");
    }
    json_error_t je;
    json_t *doc = json_loads(json, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        vc_fail(-EINVAL, "invalid JSON at line %d, column %d: %s", je.line, je.column,
                vx_json_error_text(&je));
        return s_refused(c, 1);
    }
    bool many = json_is_array(doc);
    if (!many && !json_is_object(doc)) {
        json_decref(doc);
        vc_fail(-EINVAL, "expected an event (a JSON object) or an array of events");
        return s_refused(c, 1);
    }
    size_t n = many ? json_array_size(doc) : 1;
    struct s_packed p = {0};
    char err[900];
    for (size_t i = 0; i < n; i++) {
        uint8_t *buf = NULL;
        size_t len = 0;
        if (vc_event_pack_json(many ? json_array_get(doc, i) : doc, &buf, &len, err, sizeof err) <
            0) {
            s_packed_fini(&p);
            json_decref(doc);
            if (many) {
                vc_fail(-EINVAL, "events[%zu]: %s", i, err);
            } else {
                vc_fail(-EINVAL, "%s", err);
            }
            return s_refused(c, n);
        }
        s_packed_add(&p, buf, len, n);
    }
    json_decref(doc);
    int rc = n ? s_emit_packed(c, &p, timeout_ms) : 0;
    s_packed_fini(&p);
    return rc < 0 ? rc : (int)n;
}

int
vexfs_client_flush(vexfs_client_t *c, int timeout_ms)
{
    if (!c) {
        return vc_fail(-EINVAL, "vexfs_client_flush: no client given");
    }
    uint64_t deadline = s_deadline(timeout_ms);
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    while (c->starting) {
        pthread_cond_wait(&c->cv, &c->mu);
    }
    if (!c->started) {
        pthread_mutex_unlock(&c->mu);
        return 0; /* nothing was ever emitted */
    }
    if (c->cur.n > 0) {
        vc_client_seal_locked(c);
    }
    struct vx_link_stats ls;
    vx_link_stats(c->link, &ls);
    const uint64_t target = ls.put_batches;
    while (ls.done_batches < target) {
        int w = 0;
        if (deadline == 0 || (deadline != UINT64_MAX && vx_mono_ns() >= deadline)) {
            w = ETIMEDOUT;
        } else if (deadline == UINT64_MAX) {
            pthread_cond_wait(&c->cv, &c->mu);
        } else {
            w = vx_cond_wait_until(&c->cv, &c->mu, deadline);
        }
        vx_link_stats(c->link, &ls);
        if (w == ETIMEDOUT && ls.done_batches < target) {
            unsigned long long left = target - ls.done_batches;
            rc = vc_fail(-ETIMEDOUT,
                         "%llu batch%s not acknowledged after %d ms (%zu sent and unanswered) by "
                         "propagation at %s; %s buffered and still delivered: flush again",
                         left, left == 1 ? "" : "es", timeout_ms, ls.unacked,
                         c->cc.ingest_endpoint, left == 1 ? "it stays" : "they stay");
            break;
        }
    }
    if (rc == 0 && ls.dropped_events > c->lost_reported) {
        rc = vc_fail(-EIO, "%llu events were given up: ZeroMQ refused to send them (see the "
                           "library's log lines)",
                     (unsigned long long)(ls.dropped_events - c->lost_reported));
        c->lost_reported = ls.dropped_events;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}
