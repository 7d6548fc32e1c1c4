/* SPDX-License-Identifier: Apache-2.0 */
/* The inputs and the loop: a Kafka consumer in a consumer group, or a ZeroMQ PULL socket.
 *
 * Commit strategy (Kafka). Each partition has its own engine, so a partition's windows only
 * ever hold that partition's events. The committed offset of a partition is the first offset
 * that an open window may still need (the oldest consumed event whose time is not before the
 * oldest open window), never simply the last consumed one; the commit's metadata carries the
 * engine's clock and the next offset ("clock=<ns>;pos=<offset>"). On revoke the instance
 * commits synchronously and drops the partition's open windows without emitting them. The
 * new owner reads the commit, restores the clock — so the windows the previous owner already
 * emitted stay closed — and replays from the committed offset, rebuilding exactly the open
 * windows; events below pos that fall into closed windows are counted as "replay", not "late".
 * Every final window is therefore emitted once across a rebalance. After a crash the last
 * periodic commit is used the same way: windows closed since then are emitted again, with
 * identical content (a partition replays in offset order), and can be deduplicated by
 * (query, partition, group, start_ns). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "an_config.h"
#include "an_server_priv.h"
#include "vx_clock.h"
#include "vx_log.h"
#include "vx_mem.h"
#include "vx_wire.h"

#define S_BATCH 1024 /* input messages processed per lock */

/* ---- offsets ------------------------------------------------------------------------------ */

static void
s_track(struct an_part *p, int64_t offset, uint64_t time)
{
    struct an_block *tail = p->b_n ? &p->blocks[(p->b_head + p->b_n - 1) % p->b_cap] : NULL;
    if (!tail || tail->n >= AN_BLOCK_EVENTS) {
        if (p->b_n == p->b_cap) {
            size_t cap = p->b_cap ? p->b_cap * 2 : 16;
            struct an_block *b = vx_calloc(cap, sizeof *b);
            for (size_t i = 0; i < p->b_n; i++) {
                b[i] = p->blocks[(p->b_head + i) % p->b_cap]; // NOLINT(clang-analyzer-core.NullDereference)
            }
            free(p->blocks);
            p->blocks = b;
            p->b_cap = cap;
            p->b_head = 0;
        }
        /* b_cap > 0 and blocks allocated here or before: the analyzer cannot follow the ring. */
        tail = &p->blocks[(p->b_head + p->b_n++) % p->b_cap]; // NOLINT(clang-analyzer-core.NullDereference)
        tail->first_offset = offset; // NOLINT(clang-analyzer-core.NullDereference)
        tail->max_time = 0;
        tail->n = 0;
    }
    tail->n++;
    tail->max_time = time > tail->max_time ? time : tail->max_time;
    p->next_offset = offset + 1;
}

/* The offset to commit: the start of the first block an open window may still need. */
static int64_t
s_safe_offset(struct an_part *p)
{
    uint64_t low = an_engine_low_time(p->eng);
    while (p->b_n && p->blocks[p->b_head].max_time < low) {
        p->b_head = (p->b_head + 1) % p->b_cap;
        p->b_n--;
    }
    return p->b_n ? p->blocks[p->b_head].first_offset : p->next_offset;
}

/* Adds the commit of partition p to list. */
static void
s_commit_add(an_server_t *s, rd_kafka_topic_partition_list_t *list, struct an_part *p)
{
    rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(list, s->topic, p->partition);
    tp->offset = s_safe_offset(p);
    char meta[96];
    int n = snprintf(meta, sizeof meta, "clock=%" PRIu64 ";pos=%" PRId64, an_engine_clock(p->eng),
                     p->next_offset);
    tp->metadata = vx_strndup(meta, (size_t)n); /* freed with the list */
    tp->metadata_size = (size_t)n;
}

/* Commits every partition with consumed messages (or only those in `only`). Lock held. */
static void
s_commit(an_server_t *s, const rd_kafka_topic_partition_list_t *only, bool sync)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < s->n_parts; i++) {
        struct an_part *p = s->parts[i];
        if (p->partition < 0 || p->next_offset < 0) {
            continue;
        }
        if (only && !rd_kafka_topic_partition_list_find(only, s->topic, p->partition)) {
            continue;
        }
        s_commit_add(s, list, p);
    }
    if (list->cnt > 0) {
        rd_kafka_resp_err_t err = rd_kafka_commit(s->rk, list, sync ? 0 : 1);
        if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
            vx_counter_add(s->c_commit_err, 1);
            vx_warn("AN-KAFKA-COMMIT", "commit failed: %s", rd_kafka_err2str(err));
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
}

/* Restores what the previous owner of a partition committed (see the file comment). */
static void
s_restore(an_server_t *s, const rd_kafka_topic_partition_t *tp)
{
    struct an_part *p = an_server_part(s, tp->partition);
    uint64_t clock = 0;
    int64_t pos = -1;
    if (tp->metadata && tp->metadata_size && tp->metadata_size < 96) {
        char meta[96];
        memcpy(meta, tp->metadata, tp->metadata_size);
        meta[tp->metadata_size] = '\0';
        /* "clock=<u64>;pos=<i64>", as written by this file's commits. */
        char *end = NULL;
        bool ok = strncmp(meta, "clock=", 6) == 0;
        if (ok) {
            errno = 0;
            clock = strtoull(meta + 6, &end, 10);
            ok = errno == 0 && end != meta + 6 && strncmp(end, ";pos=", 5) == 0;
        }
        if (ok) {
            const char *ps = end + 5;
            errno = 0;
            pos = strtoll(ps, &end, 10);
            ok = errno == 0 && end != ps && *end == '\0';
        }
        if (!ok) {
            clock = 0;
            pos = -1;
        }
    }
    an_engine_set_clock(p->eng, clock);
    p->replay_until = pos;
    if (pos < 0) {
        vx_info("AN-KAFKA-ASSIGN", "partition %d: no commit, from auto.offset.reset",
                (int)tp->partition);
    } else {
        vx_info("AN-KAFKA-ASSIGN",
                "partition %d from offset %" PRId64 " (clock %" PRIu64 ", replaying to %" PRId64
                ")",
                (int)tp->partition, tp->offset, clock, pos);
    }
}

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
            s_restore(s, &parts->elems[i]);
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
            s_commit(s, parts, true); /* the last chance to commit these partitions */
        }
        for (int i = 0; i < parts->cnt; i++) {
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
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_fatal_error(rk, buf, sizeof buf);
        vx_error("AN-KAFKA-FATAL", "%s", buf);
        atomic_store(&s->fatal, true);
        return;
    }
    vx_warn("AN-KAFKA-ERROR", "%s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* ---- events --------------------------------------------------------------------------------- */

static void
s_process(an_server_t *s, struct an_part *p, const vx_event_t *ev)
{
    uint64_t t0 = vx_mono_ns();
    an_engine_process(p->eng, ev);
    if (vx_mono_ns() - t0 > s->latency_target_ns) {
        vx_counter_add(s->c_slow, 1);
    }
    /* From propagation's acceptance to the windows holding the event: the suite's end-to-end
     * latency (both stamps are Unix time on hosts that share a clock). */
    uint64_t now = vx_wall_ns();
    if (ev->ingest_ns && now >= ev->ingest_ns) {
        vx_histogram_observe(s->h_ingest_latency, (double)(now - ev->ingest_ns) / 1e9);
    }
}

static void
s_kafka_message(an_server_t *s, rd_kafka_message_t *m)
{
    if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            vx_warn("AN-KAFKA-CONSUME", "%s", rd_kafka_message_errstr(m));
        }
        return;
    }
    struct an_part *p = an_server_part_find(s, m->partition);
    if (!p) {
        /* Fetched before a revoke: the partition's new owner reads it from the commit. */
        return;
    }
    vx_arena_reset(s->arena);
    vx_event_t *ev = vexfs__v1__event__unpack(vx_arena_pb(s->arena), m->len, m->payload);
    vx_counter_add(s->c_events, 1);
    if (!ev) {
        vx_counter_add(s->c_decode, 1);
        s_track(p, m->offset, 0);
        return;
    }
    an_engine_set_replaying(p->eng, m->offset < p->replay_until);
    s_process(s, p, ev);
    s_track(p, m->offset, ev->timestamp_ns);
}

static int
s_run_kafka(an_server_t *s, volatile sig_atomic_t *stop)
{
    uint64_t next_commit = vx_mono_ns() + (uint64_t)s->commit_interval_ms * VX_NS_PER_MS;
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(s->rk);
    rd_kafka_message_t *msgs[S_BATCH];
    while (!*stop && !atomic_load(&s->fatal)) {
        /* The consumer queue also carries rebalances: the callback runs inside this call, on
         * this thread, before the messages of the new assignment are returned. */
        ssize_t n = rd_kafka_consume_batch_queue(q, 100, msgs, S_BATCH);
        pthread_mutex_lock(&s->lock);
        for (ssize_t i = 0; i < n; i++) {
            s_kafka_message(s, msgs[i]);
            rd_kafka_message_destroy(msgs[i]);
        }
        /* Counters move with the results, under the same lock: a reader sees both or neither. */
        an_server_sync_metrics(s);
        if (vx_mono_ns() >= next_commit) {
            s_commit(s, NULL, false);
            next_commit = vx_mono_ns() + (uint64_t)s->commit_interval_ms * VX_NS_PER_MS;
        }
        pthread_mutex_unlock(&s->lock);
    }
    rd_kafka_queue_destroy(q);
    return atomic_load(&s->fatal) ? -EIO : 0;
}

static int
s_run_zmq(an_server_t *s, volatile sig_atomic_t *stop)
{
    while (!*stop) {
        struct vx_wire_msg msg;
        int rc = vx_wire_recv(s->pull, &msg, 0); /* waits up to the 100 ms receive timeout */
        pthread_mutex_lock(&s->lock);
        for (int n = 0; rc == 0; n++) {
            vx_arena_reset(s->arena);
            vx_batch_t *b =
                vx_wire_decode(zmq_msg_data(&msg.body), zmq_msg_size(&msg.body), s->arena);
            vx_wire_msg_fini(&msg);
            if (!b) {
                vx_counter_add(s->c_decode, 1);
            } else {
                struct an_part *p = an_server_part(s, -1);
                vx_counter_add(s->c_events, b->n_events);
                for (size_t i = 0; i < b->n_events; i++) {
                    s_process(s, p, b->events[i]);
                }
            }
            /* more without waiting, up to a batch per lock; the rest on the next round */
            rc = n + 1 < S_BATCH ? vx_wire_recv(s->pull, &msg, ZMQ_DONTWAIT) : -EAGAIN;
        }
        if (rc == -EPROTO) {
            vx_counter_add(s->c_decode, 1);
        }
        an_server_sync_metrics(s);
        pthread_mutex_unlock(&s->lock);
    }
    return 0;
}

int
an_server_run(an_server_t *s, volatile sig_atomic_t *stop)
{
    int rc = s->rk ? s_run_kafka(s, stop) : s_run_zmq(s, stop);
    pthread_mutex_lock(&s->lock);
    an_server_sync_metrics(s);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* ---- setup ---------------------------------------------------------------------------------- */

static int
s_set(rd_kafka_conf_t *c, const char *k, const char *v, char *err, size_t errlen)
{
    char e[512];
    if (rd_kafka_conf_set(c, k, v, e, sizeof e) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "kafka %s=%s: %s", k, v, e);
        return -EINVAL;
    }
    return 0;
}

static int
s_open_kafka(an_server_t *s, const vx_config_t *cfg, char *err, size_t errlen)
{
    bool rt = vx_config_bool(cfg, AN_SECTION, "enable_real_time_processing");
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    const char *kv[][2] = {
        {"bootstrap.servers", vx_config_str(cfg, AN_SECTION, "kafka_brokers")},
        {"group.id", vx_config_str(cfg, AN_SECTION, "group_id")},
        {"enable.auto.commit", "false"},
        {"auto.offset.reset", "earliest"},
        {"partition.assignment.strategy", "cooperative-sticky"},
        {"session.timeout.ms", "10000"},
        {"heartbeat.interval.ms", "1000"},
        {"fetch.wait.max.ms", rt ? "10" : "500"},
        {"fetch.min.bytes", rt ? "1" : "65536"},
        /* Prefetch deep enough that the loop never waits for a fetch round trip; the bytes
         * limit (one consumer queue for all partitions) bounds the memory it takes. */
        {"max.partition.fetch.bytes", "8388608"},
        {"queued.min.messages", "1000000"},
        {"queued.max.messages.kbytes", "65536"},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
        if (s_set(c, kv[i][0], kv[i][1], err, errlen) < 0) {
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

int
an_input_open(an_server_t *s, const vx_config_t *cfg, char *err, size_t errlen)
{
    if (*vx_config_str(cfg, AN_SECTION, "kafka_brokers")) {
        int rc = s_open_kafka(s, cfg, err, errlen);
        if (rc < 0) {
            return rc;
        }
    } else {
        const char *ep = vx_config_str(cfg, AN_SECTION, "input_endpoint");
        s->pull = zsock_new(ZMQ_PULL);
        zsock_set_rcvhwm(s->pull, 1000);
        if (!s->pull || zsock_attach(s->pull, ep, true) < 0) {
            snprintf(err, errlen, "input_endpoint %s: %s", ep, zmq_strerror(zmq_errno()));
            return -EINVAL;
        }
        zsock_set_rcvtimeo(s->pull, 100);
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
    zsock_destroy(&s->pull);
}
