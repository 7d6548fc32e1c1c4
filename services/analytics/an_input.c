/* SPDX-License-Identifier: Apache-2.0 */
/* The inputs and the loop: a Kafka consumer in a consumer group, or a ZeroMQ PULL socket.
 * Messages are taken in batches (up to AN_BATCH per wake-up) and processed under one lock:
 * decoded field by field (an_decode.c), windowed, their offsets tracked per run of a
 * partition and the counters updated once per batch. Offsets and commits: an_commit.c; replay:
 * an_input_replay.c. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "an_config.h"
#include "an_server_priv.h"
#include "vx_ackin.h"
#include "vx_clock.h"
#include "vx_kafka_conf.h"
#include "vx_log.h"
#include "vx_mem.h"
#include "vx_wire.h"

#define S_ZMQ_BATCH 1024 /* ZeroMQ messages processed per lock */
#define S_RES_BATCH 1024 /* results-topic records merged per call */

/* The Kafka security settings in words (no secret), for error messages; written at start
 * before any client exists. */
static char s_kafka_settings[1024];

static void
cb_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
             void *opaque)
{
    an_server_t *s = opaque;
    bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    pthread_mutex_lock(&s->lock);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        vx_counter_add(s->c_rebalance_assign, (uint64_t)parts->cnt);
        rd_kafka_resp_err_t cerr = rd_kafka_committed(rk, parts, 10000);
        if (cerr) {
            vx_warn("AN-KAFKA-COMMITTED", "reading committed offsets: %s", rd_kafka_err2str(cerr));
        }
        for (int i = 0; i < parts->cnt; i++) {
            an_commit_restore(s, &parts->elems[i]);
        }
        if (coop) {
            rd_kafka_error_destroy(rd_kafka_incremental_assign(rk, parts));
        } else {
            rd_kafka_assign(rk, parts);
        }
    } else {
        vx_counter_add(s->c_rebalance_revoke, (uint64_t)parts->cnt);
        an_server_sync_metrics(s);
        if (!rd_kafka_assignment_lost(rk)) {
            an_commit_sync(s, parts); /* the last chance to commit these partitions */
        }
        for (int i = 0; i < parts->cnt; i++) {
            for (size_t k = 0; k < s->replay.n_parts; k++) {
                if (s->replay.parts[k].partition == parts->elems[i].partition) {
                    s->replay.parts[k].gone = true;
                }
            }
            an_server_part_drop(s, parts->elems[i].partition);
            vx_info("AN-KAFKA-REVOKE", "partition %d revoked", (int)parts->elems[i].partition);
        }
        if (coop) {
            rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, parts));
        } else {
            rd_kafka_assign(rk, NULL);
        }
    }
    pthread_mutex_unlock(&s->lock);
}

static void
cb_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    an_server_t *s = opaque;
    if (vx_kafka_report_error(rk, rd_kafka_name(rk), s_kafka_settings, err, reason) ==
        VX_KAFKA_FATAL) {
        atomic_store(&s->fatal, true);
    }
}

/* The results topic's clients: their errors are said precisely, and change nothing else. */
static void
cb_error_report(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    vx_kafka_report_error(rk, rd_kafka_name(rk), s_kafka_settings, err, reason);
}

/* ---- events --------------------------------------------------------------------------------- */

/* What a batch adds to the counters and the latency histogram, applied once at its end. */
struct s_tally {
    uint64_t events, bad, slow, n_ingest;
    uint64_t t_prev; /* monotonic time the previous event was done */
};

/* The ingest latencies gathered so far: from propagation's acceptance (ingest_ns) to the
 * windows holding the event, the suite's end-to-end latency (both stamps are Unix time on
 * hosts that share a clock). Counted into local buckets, added to the histogram at once. */
static void
s_latency_flush(an_server_t *s, struct s_tally *t)
{
    if (t->n_ingest == 0) {
        return;
    }
    uint64_t counts[AN_LAT_BUCKETS] = {0};
    double sum = 0;
    uint64_t now = vx_wall_ns();
    for (uint64_t i = 0; i < t->n_ingest; i++) {
        if (now >= s->ingest[i]) {
            double v = (double)(now - s->ingest[i]) / (double)VX_NS_PER_S;
            counts[vx_histogram_bucket(s->h_ingest_latency, v)]++;
            sum += v;
        }
    }
    vx_histogram_add(s->h_ingest_latency, counts, sum);
    t->n_ingest = 0;
}

static void
s_tally_end(an_server_t *s, struct s_tally *t)
{
    s_latency_flush(s, t);
    if (t->events) {
        vx_counter_add(s->c_events, t->events);
    }
    if (t->bad) {
        vx_counter_add(s->c_decode, t->bad);
    }
    if (t->slow) {
        vx_counter_add(s->c_slow, t->slow);
    }
}

/* One decoded event through the partition's engine. An event is slow when more than
 * processing_latency_target_ns passed since the previous one was done (its decoding and
 * windowing): one clock read per event. */
static void
s_process(an_server_t *s, struct an_part *p, const vx_event_t *ev, struct s_tally *t)
{
    an_engine_process(p->eng, ev);
    uint64_t now = vx_mono_ns();
    t->slow += now - t->t_prev > s->latency_target_ns;
    t->t_prev = now;
    if (ev->ingest_ns) {
        if (t->n_ingest == AN_BATCH) {
            s_latency_flush(s, t);
        }
        s->ingest[t->n_ingest++] = ev->ingest_ns;
    }
}

/* Why per batch: a message costs the daemon little beyond what librdkafka spends on it only
 * if nothing else is paid per message. The batch's messages are decoded one at a time into
 * the same arena (reset per event: no allocation), offsets are tracked per run of one
 * partition, and counters, the latency histogram and the clock for idleness are updated once
 * per batch. Each message is destroyed as soon as it is done (takes ownership of msgs[0..n)):
 * a batch's messages fill more than a core's cache, and a second pass to destroy them loaded
 * every one again. Lock held. */
static void
s_kafka_batch(an_server_t *s, rd_kafka_message_t **msgs, ssize_t n)
{
    struct s_tally t = {.t_prev = vx_mono_ns()};
    uint64_t now = t.t_prev;
    bool replay = s->replay.state == AN_REPLAY_RUNNING;
    struct an_part *p = NULL;
    int32_t cur = INT32_MIN;
    int64_t first = -1, last = -1;
    uint32_t run = 0;
    uint64_t max_time = 0;
    for (ssize_t i = 0; i < n; i++) {
        if (i > 0) {
            rd_kafka_message_destroy(msgs[i - 1]); /* done with it, while it is in the cache */
        }
        const rd_kafka_message_t *m = msgs[i];
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                vx_warn("AN-KAFKA-CONSUME", "%s", rd_kafka_message_errstr(m));
            }
            continue;
        }
        if (m->partition != cur) {
            if (p && run) {
                an_part_consumed(p, first, last, run, max_time);
            }
            run = 0;
            max_time = 0;
            cur = m->partition;
            p = an_server_part_find(s, cur);
            if (p) {
                p->last_msg_ns = now;
                p->idle = false;
            }
        }
        if (!p) {
            continue; /* fetched before a revoke: the new owner reads it from the commit */
        }
        if (replay) {
            an_input_replay_count(s, m);
        }
        t.events++;
        first = run ? first : m->offset;
        last = m->offset;
        run++;
        vx_event_t ev;
        if (an_decoder_decode(s->dec, m->payload, m->len, &ev) < 0) {
            t.bad++;
            continue;
        }
        an_engine_set_replaying(p->eng, m->offset < p->replay_until);
        s_process(s, p, &ev, &t);
        max_time = ev.timestamp_ns > max_time ? ev.timestamp_ns : max_time;
    }
    if (n > 0) {
        rd_kafka_message_destroy(msgs[n - 1]);
    }
    if (p && run) {
        an_part_consumed(p, first, last, run, max_time);
    }
    s_tally_end(s, &t);
}

/* ---- idle partitions and the group's results ---------------------------------------------- */

/* Remembers the group's event time now; returns the one of idle_timeout_ms ago (0: none). */
static uint64_t
s_idle_delayed(an_server_t *s, uint64_t now, uint64_t target)
{
    uint64_t spacing = s->idle_timeout_ns / (AN_IDLE_HISTORY / 2);
    size_t last = (s->idle_head + s->idle_n - 1) % AN_IDLE_HISTORY;
    if (s->idle_n == 0 || now - s->idle_hist[last].at >= spacing) {
        if (s->idle_n == AN_IDLE_HISTORY) {
            s->idle_head = (s->idle_head + 1) % AN_IDLE_HISTORY;
            s->idle_n--;
        }
        size_t k = (s->idle_head + s->idle_n++) % AN_IDLE_HISTORY;
        s->idle_hist[k].at = now;
        s->idle_hist[k].target = target;
    }
    uint64_t out = 0;
    for (size_t i = 0; i < s->idle_n; i++) {
        size_t k = (s->idle_head + i) % AN_IDLE_HISTORY;
        if (now - s->idle_hist[k].at >= s->idle_timeout_ns) {
            out = s->idle_hist[k].target;
        }
    }
    return out;
}

/* Moves the clock of every idle owned partition up to the group's event time, so the windows
 * an idle partition holds close instead of waiting for its next event.
 *
 * A partition is idle when it delivered nothing for idle_timeout_ms and the consumer holds no
 * backlog of it (its position is at the partition's end as last fetched). The group's event
 * time is the lowest clock of the group's active partitions (this instance's and, from the
 * results topic, the others'), or, when every partition is idle (nothing is in flight), the
 * highest clock. Idle partitions follow the value it had idle_timeout_ms ago, not the current
 * one: a busy partition can race through seconds of event time in milliseconds while it
 * catches up, and an idle partition's next events, produced meanwhile, must not become late.
 * Lock held. */
static void
s_idle(an_server_t *s)
{
    if (!s->idle_timeout_ns || !s->rk) {
        return;
    }
    uint64_t now = vx_mono_ns(), low = 0, high = 0;
    bool active = false, any_idle = false;
    int32_t *own = vx_calloc(s->n_parts ? s->n_parts : 1, sizeof *own);
    size_t n_own = 0;
    for (size_t i = 0; i < s->n_parts; i++) {
        struct an_part *p = s->parts[i];
        if (p->partition < 0) {
            continue;
        }
        own[n_own++] = p->partition;
        p->idle = now - p->last_msg_ns > s->idle_timeout_ns;
        if (p->idle) {
            /* Idle only when known to be caught up: the partition's end, as last fetched, is
             * known and reached. Before its first fetch, or with a backlog, it is only slow. */
            int64_t lo = -1, hi = -1;
            bool known = rd_kafka_get_watermark_offsets(s->rk, s->topic, p->partition, &lo,
                                                        &hi) == 0 &&
                         hi >= 0;
            int64_t pos = p->next_offset >= 0    ? p->next_offset
                          : p->start_offset >= 0 ? p->start_offset
                          : known                ? lo
                                                 : -1;
            p->idle = known && pos >= 0 && pos >= hi;
        }
        any_idle |= p->idle;
        uint64_t c = an_engine_clock(p->eng);
        high = c > high ? c : high;
        if (!p->idle && (!active || c < low)) {
            low = c;
            active = true;
        }
    }
    if (s->merge) {
        an_merge_clocks(s->merge, own, n_own, &low, &active, &high);
    }
    free(own);
    uint64_t target = s_idle_delayed(s, now, active ? low : high);
    if (!any_idle || target == 0) {
        return;
    }
    for (size_t i = 0; i < s->n_parts; i++) {
        struct an_part *p = s->parts[i];
        if (p->partition >= 0 && p->idle && an_engine_clock(p->eng) < target) {
            vx_debug("AN-IDLE", "partition %d idle: clock %llu -> %llu", (int)p->partition,
                     (unsigned long long)an_engine_clock(p->eng), (unsigned long long)target);
            an_engine_advance(p->eng, target);
            vx_counter_add(s->c_idle, 1);
        }
    }
}

/* Merges what the results topic holds that is new. Lock held. */
static void
s_results_read(an_server_t *s)
{
    if (!s->res_q) {
        return;
    }
    rd_kafka_poll(s->rk_out, 0); /* delivery reports */
    rd_kafka_message_t *msgs[S_RES_BATCH];
    for (int round = 0; round < 8; round++) {
        ssize_t n = rd_kafka_consume_batch_queue(s->res_q, 0, msgs, S_RES_BATCH);
        for (ssize_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = msgs[i];
            if (!m->err) {
                int rc = an_merge_apply(s->merge, m->payload, m->len);
                vx_counter_add(rc < 0 ? s->c_res_bad : s->c_res_in, rc == 1 ? 0 : 1);
            } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                vx_warn("AN-RESULTS-CONSUME", "%s", rd_kafka_message_errstr(m));
            }
            rd_kafka_message_destroy(m);
        }
        if (n < S_RES_BATCH) {
            break;
        }
    }
    uint64_t ev = an_merge_evicted(s->merge);
    vx_counter_add(s->c_merge_evicted, ev - s->merge_evicted_published);
    s->merge_evicted_published = ev;
}

/* Takes what the consumer queue holds now, up to AN_BATCH messages; when it is empty, waits
 * (at most 100 ms) for librdkafka to signal that something arrived, then takes that.
 * rd_kafka_consume_batch_queue with a timeout would wait for a full batch, holding a lone
 * event back for the whole timeout at low rates. */
static ssize_t
s_consume(rd_kafka_queue_t *q, int wake_fd, rd_kafka_message_t **msgs)
{
    ssize_t n = rd_kafka_consume_batch_queue(q, 0, msgs, AN_BATCH);
    if (n != 0) {
        return n;
    }
    struct pollfd pfd = {.fd = wake_fd, .events = POLLIN};
    if (poll(&pfd, 1, 100) > 0) {
        char buf[64];
        while (read(wake_fd, buf, sizeof buf) > 0) {
        }
    }
    return rd_kafka_consume_batch_queue(q, 0, msgs, AN_BATCH);
}

static int
s_run_kafka(an_server_t *s, volatile sig_atomic_t *stop)
{
    uint64_t next_commit = vx_mono_ns() + (uint64_t)s->commit_interval_ms * VX_NS_PER_MS;
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(s->rk);
    int wake[2];
    if (pipe2(wake, O_NONBLOCK | O_CLOEXEC) < 0) {
        vx_error("AN-KAFKA-WAKE", "pipe: %s", strerror(errno));
        rd_kafka_queue_destroy(q);
        return -errno;
    }
    /* librdkafka writes a byte to wake[1] when a message or event lands in the empty queue. */
    rd_kafka_queue_io_event_enable(q, wake[1], "1", 1);
    while (!*stop && !atomic_load(&s->fatal)) {
        /* The consumer queue also carries rebalances: the callback runs inside this call, on
         * this thread, before the messages of the new assignment are returned. */
        an_input_replay_throttle(s);
        ssize_t n = s_consume(q, wake[0], s->msgs);
        pthread_mutex_lock(&s->lock);
        s_kafka_batch(s, s->msgs, n); /* destroys the messages */
        if (s->replay.state == AN_REPLAY_PENDING) {
            an_input_replay_begin(s);
        }
        if (s->replay.state == AN_REPLAY_RUNNING) {
            an_input_replay_check(s);
        }
        s_idle(s);
        s_results_read(s); /* also serves the results producer's delivery reports */
        /* Counters move with the results, under the same lock: a reader sees both or neither. */
        an_server_sync_metrics(s);
        if (vx_mono_ns() >= next_commit) {
            an_commit_start(s);
            next_commit = vx_mono_ns() + (uint64_t)s->commit_interval_ms * VX_NS_PER_MS;
        } else {
            an_commit_ready(s);
        }
        pthread_mutex_unlock(&s->lock);
    }
    rd_kafka_queue_io_event_enable(q, -1, NULL, 0);
    rd_kafka_queue_destroy(q);
    close(wake[0]);
    close(wake[1]);
    return atomic_load(&s->fatal) ? -EIO : 0;
}

/* libzmq 4.3 ends a connecting input's connection for good when routing's side breaks the
 * protocol (an over-limit frame) and never reconnects it: the socket monitor reports it
 * (vx_sock.h) and the input is opened again, so one bad frame cannot cut analytics from
 * routing. A bound input is never given up (its peers reconnect), so this finds nothing. */
static void
s_pull_check(an_server_t *s)
{
    char ep[256] = "", err[512];
    int rc = vx_sock_keeper_check(&s->pull_keep, &s->pull, vx_mono_ns(), ep, sizeof ep, err,
                                  sizeof err);
    if (rc < 0) {
        vx_error("AN-INPUT-REOPEN", "the input's connection to %s was lost and it cannot be "
                                    "opened again (next try in %d ms): %s",
                 ep, VX_SOCK_KEEPER_CHECK_MS, err);
    } else if (rc > 0) {
        vx_warn("AN-INPUT-REOPEN", "the input's connection to %s was ended by a protocol error "
                                   "and libzmq does not reconnect it: input socket opened again",
                ep);
    }
}

/* One batch from the ZeroMQ input (wait: up to the socket's 100 ms), through vx_ackin when
 * acknowledged: a resend is answered again there and skipped here. */
static int
s_zmq_recv(an_server_t *s, struct vx_rx_batch *in, bool wait)
{
    if (!vx_ackin_acked(s->ackin)) {
        return vx_rx_recv(s->rx, s->pull, in, wait ? 0 : ZMQ_DONTWAIT);
    }
    if (wait) {
        zmq_pollitem_t it = {zsock_resolve(s->pull), 0, ZMQ_POLLIN, 0};
        zmq_poll(&it, 1, 100);
    }
    int rc;
    do {
        rc = vx_ackin_recv(s->ackin, s->pull, in);
    } while (rc == -EALREADY);
    return rc;
}

static int
s_run_zmq(an_server_t *s, volatile sig_atomic_t *stop)
{
    while (!*stop) {
        s_pull_check(s);
        /* The suite's receive path (framing, bounded decoding, routing's sequence): a batch
         * it refuses counts as one decode drop. */
        struct vx_rx_batch in;
        int rc = s_zmq_recv(s, &in, true);
        pthread_mutex_lock(&s->lock);
        for (int n = 0; rc == 0 || rc == -EPROTO; n++) {
            if (rc == -EPROTO) {
                vx_counter_add(s->c_decode, 1);
            } else {
                struct an_part *p = an_server_part(s, -1);
                struct s_tally t = {.events = in.batch->n_events, .t_prev = vx_mono_ns()};
                for (size_t i = 0; i < in.batch->n_events; i++) {
                    s_process(s, p, in.batch->events[i], &t);
                }
                s_tally_end(s, &t);
                /* In the windows: handed on (they are not durable across a restart). */
                vx_ackin_done(s->ackin, 0);
            }
            /* more without waiting, up to a batch per lock; the rest on the next round */
            rc = n + 1 < S_ZMQ_BATCH ? s_zmq_recv(s, &in, false) : -EAGAIN;
        }
        vx_ackin_flush(s->ackin, s->pull, UINT64_MAX);
        vx_ackin_tick(s->ackin);
        an_server_sync_metrics(s);
        pthread_mutex_unlock(&s->lock);
    }
    return 0;
}

int
an_input_run(an_server_t *s, volatile sig_atomic_t *stop)
{
    return s->rk ? s_run_kafka(s, stop) : s_run_zmq(s, stop);
}

/* ---- setup ---------------------------------------------------------------------------------- */

static int
s_set(rd_kafka_conf_t *c, const char *k, const char *v, char *err, size_t errlen)
{
    return vx_kafka_conf_set(c, k, v, err, errlen);
}

/* A client configuration for kafka_brokers with the kafka_security section applied (its
 * defaults when the program does not list it). NULL with the reason in err. */
static rd_kafka_conf_t *
s_conf_new(const struct an_config *cfg, char *err, size_t errlen)
{
    const struct vx_kafka_security_config *sec = cfg->kafka_security;
    if (sec) {
        vx_kafka_security_describe(sec, s_kafka_settings, sizeof s_kafka_settings);
    }
    return vx_kafka_conf_new(cfg->kafka_brokers, sec, err, errlen);
}

/* Why: librdkafka reads each fetch response (up to max.partition.fetch.bytes per partition)
 * into a buffer of its own, on its broker threads. With glibc's default thresholds those
 * buffers are mmap'd or carved from a per-thread heap that is trimmed as soon as they are
 * freed, so every fetch lands on fresh pages the kernel must zero first: measured with perf,
 * that page clearing was a sixth of the daemon's CPU per event from a plaintext listener
 * (little over TLS, whose records are read in small pieces). Buffers below 32 MiB come from
 * the heaps, and a heap keeps up to 256 MiB of free memory before giving it back, so a fetch
 * reuses the pages of the previous one. Memory stays bounded: what is kept free is at most
 * what the fetch queue held at its peak (queued.max.messages.kbytes). */
static void
s_malloc_tune(void)
{
    if (mallopt(M_MMAP_THRESHOLD, 32 << 20) != 1 || mallopt(M_TRIM_THRESHOLD, 256 << 20) != 1) {
        /* another allocator (a sanitizer's) answers for glibc's: nothing to tune */
        vx_debug("AN-MALLOC", "mallopt refused: fetch buffers may use fresh pages");
    }
}

static int
s_open_kafka(an_server_t *s, const struct an_config *cfg, char *err, size_t errlen)
{
    s_malloc_tune();
    bool rt = cfg->enable_real_time_processing;
    rd_kafka_conf_t *c = s_conf_new(cfg, err, errlen);
    if (!c) {
        return -EINVAL;
    }
    const char *kv[][2] = {
        {"group.id", cfg->group_id},
        {"enable.auto.commit", "false"},
        {"auto.offset.reset", "earliest"},
        {"partition.assignment.strategy", "cooperative-sticky"},
        {"session.timeout.ms", "10000"},
        {"heartbeat.interval.ms", "1000"},
        /* A topic that does not exist yet when the group subscribes (routing creates it with
         * its first event) is found at the next metadata refresh: 10 s, not the default 5
         * minutes of a fresh deployment without windows. */
        {"topic.metadata.refresh.interval.ms", "10000"},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
        if (s_set(c, kv[i][0], kv[i][1], err, errlen) < 0) {
            rd_kafka_conf_destroy(c);
            return -EINVAL;
        }
    }
    size_t nf;
    const struct an_kafka_kv *fetch = an_kafka_fetch_conf(rt, &nf);
    for (size_t i = 0; i < nf; i++) {
        if (s_set(c, fetch[i].key, fetch[i].value, err, errlen) < 0) {
            rd_kafka_conf_destroy(c);
            return -EINVAL;
        }
    }
    rd_kafka_conf_set_opaque(c, s);
    rd_kafka_conf_set_rebalance_cb(c, cb_rebalance);
    rd_kafka_conf_set_error_cb(c, cb_error);
    char e[512];
    s->rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, e, sizeof e);
    if (!s->rk) {
        rd_kafka_conf_destroy(c);
        snprintf(err, errlen, "kafka consumer: %s", e);
        return -EINVAL;
    }
    rd_kafka_poll_set_consumer(s->rk);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, s->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t kerr = rd_kafka_subscribe(s->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (kerr) {
        snprintf(err, errlen, "kafka subscribe %s: %s", s->topic, rd_kafka_err2str(kerr));
        return -EINVAL;
    }
    return 0;
}

/* The producer of the results topic and a reader of all its partitions from the start. */
static int
s_open_results(an_server_t *s, const struct an_config *cfg, char *err, size_t errlen)
{
    rd_kafka_conf_t *c = s_conf_new(cfg, err, errlen);
    if (!c) {
        return -EINVAL;
    }
    if (s_set(c, "enable.idempotence", "true", err, errlen) < 0 ||
        s_set(c, "linger.ms", "5", err, errlen) < 0 ||
        /* fewer than AN_RES_RING records await their delivery report at any time */
        s_set(c, "queue.buffering.max.messages", "100000", err, errlen) < 0) {
        rd_kafka_conf_destroy(c);
        return -EINVAL;
    }
    rd_kafka_conf_set_opaque(c, s);
    an_commit_producer_conf(c);
    rd_kafka_conf_set_error_cb(c, cb_error_report);
    char e[512];
    s->rk_out = rd_kafka_new(RD_KAFKA_PRODUCER, c, e, sizeof e);
    if (!s->rk_out) {
        rd_kafka_conf_destroy(c);
        snprintf(err, errlen, "kafka producer: %s", e);
        return -EINVAL;
    }
    /* The producer's metadata request creates the topic where the broker allows it. */
    rd_kafka_topic_t *t = rd_kafka_topic_new(s->rk_out, s->results_topic, NULL);
    int n = 0;
    for (int tries = 0; tries < 60 && n == 0; tries++) {
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(s->rk_out, 0, t, &md, 5000) == 0) {
            if (md->topic_cnt == 1 && md->topics[0].err == 0) {
                n = md->topics[0].partition_cnt;
            }
            rd_kafka_metadata_destroy(md);
        }
        if (n == 0) {
            usleep(500000);
        }
    }
    rd_kafka_topic_destroy(t);
    if (n == 0) {
        snprintf(err, errlen, "results_topic %s: no partitions after 30 s (create it)",
                 s->results_topic);
        return -EINVAL;
    }
    /* librdkafka wants a group for assign(); this one never subscribes nor commits. */
    char rgroup[400];
    snprintf(rgroup, sizeof rgroup, "%s.results-reader.%ld", s->group_id, (long)getpid());
    c = s_conf_new(cfg, err, errlen);
    if (!c) {
        return -EINVAL;
    }
    if (s_set(c, "group.id", rgroup, err, errlen) < 0 ||
        s_set(c, "enable.auto.commit", "false", err, errlen) < 0 ||
        s_set(c, "enable.partition.eof", "false", err, errlen) < 0 ||
        s_set(c, "fetch.wait.max.ms", "50", err, errlen) < 0) {
        rd_kafka_conf_destroy(c);
        return -EINVAL;
    }
    rd_kafka_conf_set_error_cb(c, cb_error_report);
    s->rk_res = rd_kafka_new(RD_KAFKA_CONSUMER, c, e, sizeof e);
    if (!s->rk_res) {
        rd_kafka_conf_destroy(c);
        snprintf(err, errlen, "kafka results reader: %s", e);
        return -EINVAL;
    }
    rd_kafka_poll_set_consumer(s->rk_res);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++) {
        rd_kafka_topic_partition_list_add(list, s->results_topic, i)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_resp_err_t kerr = rd_kafka_assign(s->rk_res, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (kerr) {
        snprintf(err, errlen, "results_topic %s: %s", s->results_topic, rd_kafka_err2str(kerr));
        return -EINVAL;
    }
    s->res_q = rd_kafka_queue_get_consumer(s->rk_res);
    vx_info("AN-RESULTS", "results topic %s, %d partitions", s->results_topic, n);
    return 0;
}

int
an_input_open(an_server_t *s, const struct an_config *cfg, char *err, size_t errlen)
{
    if (*cfg->kafka_brokers) {
        int rc = s->merge ? s_open_results(s, cfg, err, errlen) : 0;
        if (rc < 0) {
            return rc;
        }
        rc = s_open_kafka(s, cfg, err, errlen);
        if (rc < 0) {
            return rc;
        }
    } else {
        struct vx_sock_spec in = {.type = cfg->input_acked ? ZMQ_ROUTER : ZMQ_PULL,
                                  .endpoint = cfg->input_endpoint,
                                  .bind = true, .rcvhwm = 1000, .rcvtimeo_ms = 100};
        if (cfg->input_acked) {
            in.sndhwm = VX_SOCK_HWM_NONE; /* acknowledgements: one per batch, never dropped */
        }
        char serr[512];
        s->pull = vx_sock_open(s->socks, &in, NULL, 0, serr, sizeof serr);
        if (!s->pull) {
            snprintf(err, errlen, "input_endpoint: %s", serr);
            return -EINVAL;
        }
        vx_sock_keeper_init(&s->pull_keep, s->socks, &in);
        struct vx_rx_opts ro = {.max_events = 100000, .decode = true, .arena_limit = 64u << 20};
        struct vx_rx_counters rc = {.gaps = cfg->input_acked ? NULL : s->c_gaps};
        s->rx = vx_rx_new("input", &ro, &rc);
        struct vx_ackin_opts io = {
            .acked = cfg->input_acked,
            .senders_max = (size_t)cfg->input_senders_max,
            .save_ms = cfg->input_senders_save_ms,
            .state_dir = s->state_dir ? s->state_dir : "",
            .sealer = s->sealer,
            .rx = s->rx,
            .gaps = s->c_gaps,
            .prefix = "vexfs_analytics_input",
            .where = AN_SECTION ".state_dir",
        };
        s->ackin = vx_ackin_new(&io, s->metrics, err, errlen);
        if (!s->ackin) {
            return -EINVAL;
        }
    }
    atomic_store(&s->ready, true);
    return 0;
}

void
an_input_close(an_server_t *s)
{
    if (s->rk) {
        /* Leaving the group revokes every partition: cb_rebalance commits them. */
        rd_kafka_resp_err_t err = rd_kafka_consumer_close(s->rk);
        if (err) {
            vx_warn("AN-KAFKA-CLOSE", "leaving the group: %s", rd_kafka_err2str(err));
        }
        rd_kafka_destroy(s->rk);
        s->rk = NULL;
    }
    if (s->rk_out) {
        if (rd_kafka_flush(s->rk_out, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            vx_warn("AN-RESULTS-FLUSH", "results not all delivered at exit");
        }
        rd_kafka_destroy(s->rk_out);
        s->rk_out = NULL;
    }
    if (s->res_q) {
        rd_kafka_queue_destroy(s->res_q);
        s->res_q = NULL;
    }
    if (s->rk_res) {
        rd_kafka_consumer_close(s->rk_res);
        rd_kafka_destroy(s->rk_res);
        s->rk_res = NULL;
    }
    vx_ackin_destroy(&s->ackin);
    zsock_destroy(&s->pull);
}
