/* SPDX-License-Identifier: Apache-2.0 */
/* Kafka offsets and commits of the input, and the results topic's producer they wait for.
 *
 * Commit strategy. Each partition has its own engine, so a partition's windows only ever hold
 * that partition's events. The committed offset of a partition is the first offset that an
 * open window may still need (the oldest consumed event whose time is not before the oldest
 * open window), never simply the last consumed one; the commit's metadata carries the
 * engine's clock and the next offset ("clock=<ns>;pos=<offset>"). On revoke the instance
 * commits synchronously and drops the partition's open windows without emitting them. The
 * new owner reads the commit, restores the clock — so the windows the previous owner already
 * emitted stay closed — and replays from the committed offset, rebuilding exactly the open
 * windows; events below pos that fall into closed windows are counted as "replay", not "late".
 * Every final window is therefore emitted once across a rebalance. After a crash the last
 * periodic commit is used the same way: windows closed since then are emitted again, with
 * identical content (a partition replays in offset order), and can be deduplicated by
 * (query, partition, group, start_ns).
 *
 * Offsets are committed only past events whose final windows are delivered to the results
 * topic. The periodic commit does not wait for that on the loop: it takes the offsets and
 * clocks of the moment with the number of records produced so far, and the commit is sent
 * once the delivery reports of all those records have arrived (AN_COMMITS_PENDING may wait
 * at once; a newer one that is ready supersedes older ones). A revoke commits synchronously
 * after flushing the producer, as before. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "an_server_priv.h"
#include "vx_log.h"
#include "vx_mem.h"

/* ---- offsets ------------------------------------------------------------------------------ */

void
an_part_consumed(struct an_part *p, int64_t first, int64_t last, uint32_t n, uint64_t max_time)
{
    an_offsets_track(&p->offsets, first, n, max_time);
    p->next_offset = last + 1;
}

/* The offset to commit: the start of the first block an open window may still need. */
static int64_t
s_safe_offset(struct an_part *p)
{
    return an_offsets_safe(&p->offsets, an_engine_low_time(p->eng), p->next_offset);
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

/* The commits of every partition with consumed messages (or only those in `only`); NULL when
 * there is none. Caller owns the list. */
static rd_kafka_topic_partition_list_t *
s_commit_list(an_server_t *s, const rd_kafka_topic_partition_list_t *only)
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
    if (list->cnt == 0) {
        rd_kafka_topic_partition_list_destroy(list);
        return NULL;
    }
    return list;
}

/* ---- the results topic's producer ------------------------------------------------------------ */

/* A delivery report (success or failure) for the record whose slot in the ring is `slot`:
 * moves res_done over every record whose report has arrived, in order. Fewer than
 * AN_RES_RING records are ever outstanding, so a slot names one record. */
static void
s_delivered(an_server_t *s, const void *slot)
{
    const uint8_t *at = slot;
    if (!at || at < s->res_ring || at >= s->res_ring + AN_RES_RING) {
        return; /* not one of ours */
    }
    s->res_ring[at - s->res_ring] = 1;
    while (s->res_done < s->res_seq && s->res_ring[(s->res_done + 1) % AN_RES_RING]) {
        s->res_ring[(s->res_done + 1) % AN_RES_RING] = 0;
        s->res_done++;
    }
}

static void
cb_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    an_server_t *s = opaque;
    if (m->err) {
        vx_counter_add(s->c_res_out_err, 1);
        vx_warn("AN-RESULTS-DELIVERY", "%s", rd_kafka_err2str(m->err));
    }
    s_delivered(s, m->_private);
}

void
an_commit_producer_conf(rd_kafka_conf_t *c)
{
    rd_kafka_conf_set_dr_msg_cb(c, cb_delivery);
}

/* Produces one record, numbered for the delivery tracking (its slot in the ring travels as
 * librdkafka's message opaque); waits (serving delivery reports)
 * while the producer's queue or the tracking ring is full, at most about a second. */
static void
s_produce(an_server_t *s, const char *key, size_t klen, const char *val)
{
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__QUEUE_FULL;
    for (int tries = 0; tries <= 100; tries++) {
        if (s->res_seq - s->res_done < AN_RES_RING - 1) {
            err = rd_kafka_producev(
                s->rk_out, RD_KAFKA_V_TOPIC(s->results_topic), RD_KAFKA_V_KEY(key, klen),
                RD_KAFKA_V_VALUE((void *)val, strlen(val)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_OPAQUE(&s->res_ring[(s->res_seq + 1) % AN_RES_RING]), RD_KAFKA_V_END);
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                break;
            }
        }
        rd_kafka_poll(s->rk_out, 10);
    }
    if (err) {
        vx_counter_add(s->c_res_out_err, 1);
        vx_warn("AN-RESULTS-PRODUCE", "%s: %s", s->results_topic, rd_kafka_err2str(err));
        return;
    }
    s->res_seq++;
}

void
an_input_publish(an_server_t *s, const struct an_result *r)
{
    if (!s->rk_out) {
        return;
    }
    size_t klen;
    char *key = an_merge_key(s->group_id, r, &klen);
    char *val = an_merge_value(s->group_id, r);
    s_produce(s, key, klen, val);
    vx_counter_add(s->c_res_out, 1);
    free(key);
    free(val);
}

/* Publishes the clock of every owned partition (or only those in `only`). */
static void
s_watermarks(an_server_t *s, const rd_kafka_topic_partition_list_t *only)
{
    for (size_t i = 0; i < s->n_parts; i++) {
        struct an_part *p = s->parts[i];
        if (p->partition < 0 || an_engine_clock(p->eng) == 0 ||
            (only && !rd_kafka_topic_partition_list_find(only, s->topic, p->partition))) {
            continue;
        }
        size_t klen;
        char *key = an_merge_wm_key(s->group_id, p->partition, &klen);
        char *val = an_merge_wm_value(s->group_id, p->partition, an_engine_clock(p->eng), p->idle);
        s_produce(s, key, klen, val);
        free(key);
        free(val);
    }
}

/* ---- commits ------------------------------------------------------------------------------------ */

static void
s_commit_send(an_server_t *s, rd_kafka_topic_partition_list_t *list, bool sync)
{
    rd_kafka_resp_err_t err = rd_kafka_commit(s->rk, list, sync ? 0 : 1);
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        vx_counter_add(s->c_commit_err, 1);
        vx_warn("AN-KAFKA-COMMIT", "commit failed: %s", rd_kafka_err2str(err));
    }
}

static void
s_pending_drop(an_server_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        rd_kafka_topic_partition_list_destroy(s->pending[i].list);
    }
    memmove(s->pending, s->pending + n, (s->n_pending - n) * sizeof *s->pending);
    s->n_pending -= n;
}

void
an_commit_sync(an_server_t *s, const rd_kafka_topic_partition_list_t *only)
{
    /* Commits taken earlier must not land after this one (they would move offsets back). */
    s_pending_drop(s, s->n_pending);
    if (s->rk_out) {
        s_watermarks(s, only);
        if (rd_kafka_flush(s->rk_out, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            vx_counter_add(s->c_res_out_err, 1);
            vx_warn("AN-RESULTS-FLUSH", "results not delivered in 10 s: offsets not committed");
            return;
        }
    }
    rd_kafka_topic_partition_list_t *list = s_commit_list(s, only);
    if (list) {
        s_commit_send(s, list, true);
        rd_kafka_topic_partition_list_destroy(list);
    }
}

void
an_commit_start(an_server_t *s)
{
    if (s->n_pending == AN_COMMITS_PENDING) {
        vx_warn("AN-RESULTS-SLOW", "results topic deliveries are behind: commit postponed");
        return;
    }
    if (s->rk_out) {
        s_watermarks(s, NULL);
    }
    rd_kafka_topic_partition_list_t *list = s_commit_list(s, NULL);
    if (list) {
        s->pending[s->n_pending++] = (struct an_pending_commit){list, s->res_seq};
    }
    an_commit_ready(s);
}

void
an_commit_ready(an_server_t *s)
{
    size_t ready = 0;
    while (ready < s->n_pending && s->pending[ready].need <= s->res_done) {
        ready++;
    }
    if (ready == 0) {
        return;
    }
    s_commit_send(s, s->pending[ready - 1].list, false);
    s_pending_drop(s, ready);
}

void
an_commit_fini(an_server_t *s)
{
    s_pending_drop(s, s->n_pending);
}

/* ---- what a previous owner committed ------------------------------------------------------------- */

void
an_commit_restore(an_server_t *s, const rd_kafka_topic_partition_t *tp)
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
    p->start_offset = tp->offset;
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
